#!/usr/bin/env bash
# Issue 17, bounded anonymous work, against the real jpkid:
#   - refused logins (401) cost the audit log one row per address and minute: 200 bad tokens
#     from one address leave its first refusal's row and one row counting them all (written
#     once the minute is over, or at stop), while every authenticated call keeps its row;
#   - the client address: X-Forwarded-For / Forwarded believed only from limits.trusted_proxies
#     (the rightmost untrusted hop), a spoofed header from anyone else ignored;
#   - rate limits keyed on the credential for authenticated calls (operators behind one
#     address do not share a limit), on the address for anonymous calls and refused logins;
#   - limits.ocsp_signatures_per_minute: past it, a client's nonce requests get the pre-signed
#     answer without the nonce (checked with cryptography and openssl ocsp), or tryLater.
. "$(dirname "$0")/lib.sh"
it_setup
config_with_alice
it_init || exit 1
ADMIN=$(cat "$DATA/admin.token")
DB=$DATA/jpki.db
rows() { sqlite3 "$DB" "SELECT count(*) FROM events WHERE $1"; }
st() { curl -s -o "$T/resp" -D "$T/hdrs" -w '%{http_code}' "$@"; }

# ---- refused logins: one row per address and minute ------------------------------------------
jpkid_start || exit 1
admin_rows="outcome='ok' AND actor='admin' AND action LIKE '% /v1/persons%'"
ok0=$(rows "$admin_rows")
# 200 made-up tokens, one connection, as fast as the service answers.
codes=$(python3 - "$PORT" <<'PY'
import http.client, sys, collections
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
seen = collections.Counter()
for i in range(200):
    c.request("GET", "/v1/persons/p1", headers={"Authorization": "Bearer made-up-%d" % i})
    r = c.getresponse(); r.read(); seen[r.status] += 1
print(" ".join("%d:%d" % kv for kv in sorted(seen.items())))
PY
)
assert_eq "200 made-up tokens: 200 times 401" "401:200" "$codes"
single=$(rows "actor='anonymous' AND detail LIKE 'status=401 %' AND action <> 'auth.refused'")
check "…audited on their own: the first of each minute only ($single rows)" test "$single" -ge 1 -a "$single" -le 2
assert_eq "…naming the client address" "$single" \
  "$(rows "actor='anonymous' AND detail LIKE 'status=401 %client=127.0.0.1' AND action <> 'auth.refused'")"
st -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"id":"p1","name":"Taro","address":"Tokyo","birth_date":"1980-01-01","gender":"male"}' \
  "$URL/v1/persons" >/dev/null
for _ in 1 2 3; do st -H "Authorization: Bearer $ADMIN" "$URL/v1/persons/p1" >/dev/null; done
assert_eq "authenticated calls keep one row each, at once" $((ok0 + 4)) "$(rows "$admin_rows")"
jpkid_stop # the counts still held are audited at stop
tallies=$(sqlite3 "$DB" "SELECT count(*), coalesce(sum(CAST(substr(detail, 18, instr(detail, ' minute=') - 18) AS INTEGER)), 0)
  FROM events WHERE action='auth.refused' AND target='127.0.0.1' AND outcome='refused'")
n_tally=${tallies%|*}
sum_tally=${tallies#*|}
check "…then one counting row per minute ($n_tally)" test "$n_tally" -ge 1 -a "$n_tally" -le "$single"
# Every refusal is accounted for: a minute's count includes its first; a minute with a single
# refusal has only that one's row.
assert_eq "…their counts add up to the 200 refusals" 200 $((sum_tally + single - n_tally))
assert_contains "…saying how many" "status=401 count=" \
  "$(sqlite3 "$DB" "SELECT detail FROM events WHERE action='auth.refused' LIMIT 1")"
check "at most a few audit rows for 200 refusals" test $((single + n_tally)) -le 4
check "the audit chain verifies" "$JPKID" audit-verify "${SETS[@]}"

# ---- the client address behind trusted proxies ------------------------------------------------
# 127.0.0.1 is the proxy; api_per_minute=3 makes the bucket visible.
jpkid_start --set limits.trusted_proxies="127.0.0.1, 10.0.0.0/8" --set limits.api_per_minute=3 || exit 1
xff() { st --interface 127.0.0.1 -H "X-Forwarded-For: $1" "${@:2}" "$URL/v1/cards/c1"; }
got="$(xff 203.0.113.1) $(xff 203.0.113.1) $(xff 203.0.113.1) $(xff 203.0.113.1)"
assert_eq "behind the proxy, client 203.0.113.1: three 401, then 429" "401 401 401 429" "$got"
assert_eq "…another client behind the same proxy is not limited" 401 "$(xff 203.0.113.2)"
assert_eq "…a lie prepended by the client changes nothing (rightmost untrusted)" 429 \
  "$(xff "203.0.113.2, 203.0.113.1")"
assert_eq "…chained through another trusted proxy" 429 "$(xff "203.0.113.1, 10.1.2.3")"
assert_eq "…the 401 row names the forwarded client" 1 \
  "$(rows "detail LIKE 'status=401 %client=203.0.113.2'")"
# A peer that is not a trusted proxy: its header is ignored, whatever it says.
spoof() { st --interface 127.0.0.2 -H "X-Forwarded-For: $1" "$URL/v1/cards/c1"; }
got="$(spoof 198.51.100.1) $(spoof 198.51.100.2) $(spoof 198.51.100.3) $(spoof 198.51.100.4)"
assert_eq "untrusted peer rotating X-Forwarded-For: still one client, 429 at the fourth" \
  "401 401 401 429" "$got"
assert_eq "…the rows name the peer, not the header" 0 "$(rows "detail LIKE '%client=198.51.100.%'")"
# Credentials are limited per credential: two operators behind the same address.
got=
for _ in 1 2 3 4; do got="$got $(st --interface 127.0.0.3 -H "Authorization: Bearer $ADMIN" "$URL/v1/cards/c1")"; done
assert_eq "admin from 127.0.0.3: three calls, then 429" " 404 404 404 429" "$got"
assert_eq "…alice from the same address is not limited by them" 404 \
  "$(st --interface 127.0.0.3 -H "Authorization: Bearer test" "$URL/v1/cards/c1")"
# Refused credentials are charged to the address: made-up tokens run into its limit, and an
# address over it waits whatever credential it presents.
got=
for i in 1 2 3 4; do got="$got $(st --interface 127.0.0.4 -H "Authorization: Bearer guess-$i" "$URL/v1/cards/c1")"; done
assert_eq "made-up tokens from 127.0.0.4: three 401, then 429" " 401 401 401 429" "$got"
assert_eq "…and then alice's token from there waits too" 429 \
  "$(st --interface 127.0.0.4 -H "Authorization: Bearer test" "$URL/v1/cards/c1")"
jpkid_stop
# Forwarded (RFC 7239) when configured so; X-Forwarded-For is then ignored.
jpkid_start --set limits.trusted_proxies=127.0.0.1 --set limits.forwarded_header=forwarded \
  --set limits.api_per_minute=3 || exit 1
fwd() { st --interface 127.0.0.1 -H "Forwarded: $1" "$URL/v1/cards/c1"; }
got="$(fwd 'for=192.0.2.60') $(fwd 'for="192.0.2.60:4711";proto=http') $(fwd 'for=192.0.2.60') $(fwd 'for=192.0.2.60')"
assert_eq "Forwarded for=192.0.2.60: three 401, then 429" "401 401 401 429" "$got"
assert_eq "…for=\"[2001:db8::7]\" is another client" 401 "$(fwd 'for="[2001:db8::7]"')"
assert_eq "…its row names it" 1 "$(rows "detail LIKE 'status=401 %client=2001:db8::7'")"
jpkid_stop
# ---- the OCSP signature budget ----------------------------------------------------------------
AUTH_CA=$DATA/certs/auth-ca.pem
drv person-add p9 "Budget Test" "Tokyo" 1990-01-02 male >/dev/null
drv card-add c9 p9 mynumber 2035-01-31 >/dev/null
mkdir -p "$T/out"
SERIAL=$(drv issue c9 auth "$T/out" | awk '$2 == "auth" {print $3}')
openssl ocsp -issuer "$AUTH_CA" -serial "0x$SERIAL" -reqout "$T/nonce.der" >/dev/null 2>&1
openssl ocsp -issuer "$AUTH_CA" -serial "0x$SERIAL" -no_nonce -reqout "$T/plain.der" >/dev/null 2>&1
openssl ocsp -issuer "$AUTH_CA" -serial 0x0123456789ABCDEF -reqout "$T/unknown.der" >/dev/null 2>&1
jpkid_start --set limits.ocsp_signatures_per_minute=3 || exit 1
# ask FROM REQ OUT: POSTs REQ from address FROM.
ask() {
  curl -s --interface "$1" -H 'Content-Type: application/ocsp-request' --data-binary "@$2" \
    -o "$3" "$URL/ocsp"
}
# nonce_of RESP: "good nonce=<hex>|none" after checking the signature with cryptography.
nonce_of() {
  $PY - "$1" "$AUTH_CA" "$DATA/certs/auth-ocsp.pem" <<'PY'
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(open(sys.argv[1], "rb").read())
if r.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
    print(r.response_status.name.lower()); sys.exit(0)
issuer = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
signer = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
signer.verify_directly_issued_by(issuer)
signer.public_key().verify(r.signature, r.tbs_response_bytes, padding.PKCS1v15(),
                           r.signature_hash_algorithm)
try:
    n = r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce.hex()
except x509.ExtensionNotFound:
    n = "none"
print(r.certificate_status.name.lower(), "nonce=" + n)
PY
}
ask 127.0.0.9 "$T/plain.der" "$T/presigned.der" # another client warms the cache
want=$(openssl ocsp -reqin "$T/nonce.der" -req_text | awk '/OCSP Nonce/ {getline; gsub(/ /, ""); print tolower(substr($0, 5))}')
got=
for i in 1 2 3; do ask 127.0.0.1 "$T/nonce.der" "$T/r$i.der"; got="$got $(nonce_of "$T/r$i.der")"; done
assert_eq "signatures_per_minute=3: three nonce requests signed afresh, nonce echoed" \
  " good nonce=$want good nonce=$want good nonce=$want" "$got"
ask 127.0.0.1 "$T/nonce.der" "$T/r4.der"
assert_eq "…the fourth: the pre-signed answer, correctly signed, without the nonce" \
  "good nonce=none" "$(nonce_of "$T/r4.der")"
check "…byte for byte the pre-signed response" cmp "$T/r4.der" "$T/presigned.der"
out=$(openssl ocsp -issuer "$AUTH_CA" -serial "0x$SERIAL" -url "$URL/ocsp" -CAfile "$AUTH_CA" 2>&1)
assert_contains "…openssl ocsp verifies it" "Response verify OK" "$out"
assert_contains "…and notes the missing nonce" "WARNING: no nonce in response" "$out"
assert_eq "…a serial with nothing pre-signed (never issued): tryLater" try_later \
  "$(ask 127.0.0.1 "$T/unknown.der" "$T/u.der"; nonce_of "$T/u.der")"
same=0
for i in $(seq 1 20); do ask 127.0.0.1 "$T/plain.der" "$T/p.der"; cmp -s "$T/p.der" "$T/presigned.der" && same=$((same + 1)); done
assert_eq "…pre-signed answers are never limited (20 more, each the pre-signed response)" 20 "$same"
ask 127.0.0.2 "$T/nonce.der" "$T/other.der"
assert_eq "another client still gets its nonce" "good nonce=$want" "$(nonce_of "$T/other.der")"
jpkid_stop

# A bad trusted_proxies entry stops jpkid at start, naming the key.
check_fails "limits.trusted_proxies=proxy.example: jpkid refuses to start" \
  "$JPKID" serve "${SETS[@]}" --set listen.http=127.0.0.1:0 --set limits.trusted_proxies=proxy.example
assert_contains "…naming the key and the entry" 'limits.trusted_proxies: "proxy.example"' "$(cat "$T/check.out")"
assert_not_contains "jpkid stopped each time without a sanitizer report" "Sanitizer" "$(cat "$T/jpkid.log")"
it_finish
