#!/usr/bin/env bash
# Delta CRLs (RFC 5280 §5.2.4, issue 15) on the real jpkid, checked with openssl and Python
# `cryptography`:
#   - the complete CRL names /crl/<ca>-delta.crl in a non-critical freshestCRL (§5.2.6);
#   - the delta carries a critical deltaCRLIndicator naming the oldest valid complete CRL, a
#     number above every complete CRL (one series), the certificates revoked since and the
#     ones released from hold (removeFromCRL);
#   - `openssl verify -crl_check -use_deltas` with the old complete CRL and the delta rejects a
#     certificate revoked after that complete CRL, and accepts one released from hold;
#   - served with ETag = SHA-256 of the body, max-age, 304 on If-None-Match;
#   - the running service publishes a new delta soon after a change (crl.after_change_s), and
#     `jpkid crl` one after the complete CRL; crl.delta_period_s=0 turns them off.
. "$(dirname "$0")/lib.sh"
it_setup
it_start --set crl.after_change_s=1
TOKEN=$ADMIN

issue_auth() { # N: a person, a card and its authentication certificate; prints the serial
  call POST /v1/persons "{\"id\":\"p$1\",\"name\":\"Delta Test\",\"address\":\"Tokyo\",\"birth_date\":\"1990-01-02\",\"gender\":\"male\"}"
  call POST /v1/cards "{\"id\":\"c$1\",\"person_id\":\"p$1\",\"type\":\"mynumber\",\"expiry\":\"2034-01-31\"}"
  call POST "/v1/cards/c$1/issue" '{"certificates":"auth","passwords":{"auth":"5831"}}'
  local serial
  serial=$(jf '.certificates[0].serial')
  jf '.certificates[0].pem' >"$T/$serial.pem"
  echo "$serial"
}
A=$(issue_auth 1) # revoked after the first CRL
B=$(issue_auth 2) # stays good
C=$(issue_auth 3) # held, released after it
E=$(issue_auth 4) # revoked, then looked for in a delta of the running service
call POST /v1/cards/c3/hold '{}'
assert_eq "hold $C" 200 "$ST"

fetch() { # PATH FILE: the served CRL (DER) and its PEM beside it
  curl -sf -D "$2.hdrs" -o "$2" "$URL$1" && openssl crl -inform DER -in "$2" -out "$2.pem"
}
lists() { # FILE SERIAL
  openssl crl -inform DER -in "$1" -noout -text | grep -q "Serial Number: $2"
}
poll_until() { # COMMAND...: until it succeeds (15 s at most)
  for _ in $(seq 1 150); do "$@" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
wait_crl() { # PATH FILE SERIAL: until the served CRL lists SERIAL
  for _ in $(seq 1 150); do
    fetch "$1" "$2" && lists "$2" "$3" && return 0
    sleep 0.1
  done
  return 1
}
check "the complete auth CRL lists the held $C soon" wait_crl /crl/auth.crl "$T/full1.crl" "$C"
txt=$(openssl crl -inform DER -in "$T/full1.crl" -noout -text)
assert_contains "it names the delta in a freshestCRL" "Freshest CRL" "$txt"
assert_contains "…at /crl/auth-delta.crl" "URI:http://127.0.0.1:8080/crl/auth-delta.crl" "$txt"
assert_not_contains "…non-critical" "Freshest CRL: critical" "$txt"

call POST "/v1/certificates/$A/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke $A" 200 "$ST"
call POST /v1/cards/c3/release '{}'
assert_eq "release $C" 200 "$ST"
# Both changes, in whichever deltas they come (a loaded machine may publish one between them).
delta_has_both() {
  fetch /crl/auth-delta.crl "$T/delta.crl" && lists "$T/delta.crl" "$A" &&
    openssl crl -inform DER -in "$T/delta.crl" -noout -text | grep -q "Remove From CRL"
}
check "the delta at /crl/auth-delta.crl lists $A and the release of $C soon" poll_until delta_has_both
check "the new complete CRL is served" fetch /crl/auth.crl "$T/full2.crl"
txt=$(openssl crl -inform DER -in "$T/delta.crl" -noout -text)
assert_contains "openssl crl: a critical Delta CRL Indicator" "X509v3 Delta CRL Indicator: critical" "$txt"
assert_contains "…listing the certificate revoked since" "Serial Number: $A" "$txt"
assert_contains "…and the one released from hold" "Remove From CRL" "$txt"
assert_not_contains "…and not the one that stayed good" "Serial Number: $B" "$txt"

check "python cryptography reads the indicator, the numbers and the freshestCRL" \
  "$PY" - "$T/full1.crl" "$T/full2.crl" "$T/delta.crl" "$AUTH_CA" "$A" "$C" <<'EOF'
import sys
from cryptography import x509
full1, full2, delta = (x509.load_der_x509_crl(open(p, "rb").read()) for p in sys.argv[1:4])
ca = x509.load_pem_x509_certificate(open(sys.argv[4], "rb").read())
a, c = (int(s, 16) for s in sys.argv[5:7])
num = lambda crl: crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
assert all(crl.is_signature_valid(ca.public_key()) for crl in (full1, full2, delta))
ind = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
assert ind.critical
# based on the oldest complete CRL still valid (the service's first); one series for both
assert ind.value.crl_number == 1 <= num(full1), (ind.value.crl_number, num(full1))
assert num(delta) > num(full1) and num(full2) > num(full1), (num(delta), num(full2))
fresh = full1.extensions.get_extension_for_class(x509.FreshestCRL)
assert not fresh.critical
uris = [n.value for dp in fresh.value for n in dp.full_name]
assert uris == ["http://127.0.0.1:8080/crl/auth-delta.crl"], uris
reason = lambda e: e.extensions.get_extension_for_class(x509.CRLReason).value.reason
assert reason(delta.get_revoked_certificate_by_serial_number(a)) == x509.ReasonFlags.key_compromise
assert reason(delta.get_revoked_certificate_by_serial_number(c)) == x509.ReasonFlags.remove_from_crl
# the hold of C came after the service's first CRL (the base): its release is what is left
assert len(list(delta)) == 2, len(list(delta))
EOF

# The verifier holds the first complete CRL only, and refreshes the delta.
check "openssl verify -crl_check with the old complete CRL alone still accepts $A" \
  openssl verify -crl_check -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" "$T/$A.pem"
check_fails "openssl verify -crl_check -use_deltas with the delta rejects $A" \
  openssl verify -crl_check -use_deltas -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" \
  -CRLfile "$T/delta.crl.pem" "$T/$A.pem"
assert_contains "…as revoked" "certificate revoked" "$(cat "$T/check.out")"
check_fails "the old complete CRL rejects the held $C" \
  openssl verify -crl_check -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" "$T/$C.pem"
check "…and with the delta (removeFromCRL) it is accepted" \
  openssl verify -crl_check -use_deltas -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" \
  -CRLfile "$T/delta.crl.pem" "$T/$C.pem"
check "…and $B stays good with both" \
  openssl verify -crl_check -use_deltas -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" \
  -CRLfile "$T/delta.crl.pem" "$T/$B.pem"

# HTTP caching as for the complete CRL (DESIGN §9).
hdrs=$(tr -d '\r' <"$T/delta.crl.hdrs")
etag=$(sed -n 's/^etag: *//Ip' <<<"$hdrs")
assert_eq "ETag = SHA-256 of the delta" "\"$(sha256sum "$T/delta.crl" | cut -d' ' -f1)\"" "$etag"
assert_contains "Content-Type application/pkix-crl" "application/pkix-crl" "$hdrs"
max_age=$(sed -n 's/^cache-control:.*max-age=\([0-9]*\).*/\1/Ip' <<<"$hdrs")
check "max-age within http.crl_max_age_s (300): $max_age" test "${max_age:-999}" -le 300
not_modified() { # the ETag now served, asked again at once (a publication may come between)
  local tag
  for _ in 1 2 3 4 5; do
    tag=$(curl -sI "$URL/crl/auth-delta.crl" | tr -d '\r' | sed -n 's/^etag: *//Ip')
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $tag" \
      "$URL/crl/auth-delta.crl")" = 304 ] && return 0
  done
  return 1
}
check "304 on If-None-Match" not_modified
assert_eq "the signing CA has its delta too" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/crl/sign-delta.crl")"
assert_eq "no delta of a partition" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/crl/auth/0-delta.crl")"

# The running service publishes deltas on its own: a revocation is in the next one soon.
call POST "/v1/certificates/$E/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke $E through the API" 200 "$ST"
check "the service publishes a delta listing $E after the change" \
  wait_crl /crl/auth-delta.crl "$T/now.crl" "$E"

# A registry whose complete CRLs predate delta CRLs (no covers_seq): the service publishes a
# complete CRL at once to base the delta on, rather than wait for the periodic one.
jpkid_stop
sqlite3 "$DB" "UPDATE crls SET covers_seq = NULL"
jpkid_start || exit 1
based_anew() {
  fetch /crl/auth-delta.crl "$T/after.crl" || return 1
  "$PY" - "$T/after.crl" "$T/now.crl" <<'EOF'
import sys
from cryptography import x509
after, before = (x509.load_der_x509_crl(open(p, "rb").read()) for p in sys.argv[1:3])
base = after.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number
n0 = before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
assert base > n0, (base, n0)
EOF
}
check "without a base, a complete CRL is published for the delta at start" poll_until based_anew

# Off: no delta, no freshestCRL.
jpkid_stop
check "jpkid crl publishes the complete and delta CRLs" "$JPKID" crl "${SETS[@]}"
assert_contains "…and says so" "auth delta CRL #" "$(cat "$T/check.out")"
check "jpkid crl with crl.delta_period_s=0" "$JPKID" crl "${SETS[@]}" --set crl.delta_period_s=0
assert_not_contains "…publishes no delta" "delta" "$(cat "$T/check.out")"
jpkid_start --set crl.delta_period_s=0 || exit 1
assert_eq "…and serves none" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/crl/auth-delta.crl")"
check "the complete CRL is served" fetch /crl/auth.crl "$T/full3.crl"
assert_not_contains "…without a freshestCRL" "Freshest CRL" \
  "$(openssl crl -inform DER -in "$T/full3.crl" -noout -text)"
it_finish
