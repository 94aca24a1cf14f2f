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
#   - the running service publishes a new delta soon after a revocation (crl.after_change_s).
. "$(dirname "$0")/lib.sh"
it_setup
it_init || exit 1
jpkid_start --set crl.after_change_s=1 || exit 1
TOKEN=$(cat "$DATA/admin.token")
AUTH_CA=$DATA/certs/auth-ca.pem
mkdir -p "$T/out"

for i in 1 2 3 4; do
  drv person-add "p$i" "試験 太郎$i" "東京都千代田区霞が関$i" 1980-01-0"$i" male >/dev/null
  drv card-add "c$i" "p$i" mynumber 2036-01-31 >/dev/null
done
A=$(drv issue c1 auth "$T/out" | awk '$2=="auth" {print $3}') # revoked after the first CRL
B=$(drv issue c2 auth "$T/out" | awk '$2=="auth" {print $3}') # stays good
C=$(drv issue c3 auth "$T/out" | awk '$2=="auth" {print $3}') # held, released after it
E=$(drv issue c4 auth "$T/out" | awk '$2=="auth" {print $3}') # revoked by the API, served
drv hold c3 >/dev/null
check "jpkid crl publishes the complete and delta CRLs" "$JPKID" crl "${SETS[@]}"
assert_contains "…and says so" "auth delta CRL #" "$(cat "$T/check.out")"

fetch() { # PATH FILE: the served CRL (DER) and its PEM beside it
  curl -sf -D "$2.hdrs" -o "$2" "$URL$1" && openssl crl -inform DER -in "$2" -out "$2.pem"
}
check "the complete auth CRL is served" fetch /crl/auth.crl "$T/full1.crl"
txt=$(openssl crl -inform DER -in "$T/full1.crl" -noout -text)
assert_contains "it names the delta in a freshestCRL" "Freshest CRL" "$txt"
assert_contains "…at /crl/auth-delta.crl" "URI:http://127.0.0.1:8080/crl/auth-delta.crl" "$txt"
assert_not_contains "…non-critical" "Freshest CRL: critical" "$txt"

drv revoke "$A" keyCompromise >/dev/null
drv release c3 >/dev/null
check "jpkid crl publishes again" "$JPKID" crl "${SETS[@]}"
check "the delta is served at /crl/auth-delta.crl" fetch /crl/auth-delta.crl "$T/delta.crl"
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
# based on the oldest complete CRL still valid (the service's first, or full1); one series
assert 1 <= ind.value.crl_number <= num(full1), (ind.value.crl_number, num(full1))
assert num(delta) > num(full2) > num(full1), (num(delta), num(full2))
fresh = full2.extensions.get_extension_for_class(x509.FreshestCRL)
assert not fresh.critical
uris = [n.value for dp in fresh.value for n in dp.full_name]
assert uris == ["http://127.0.0.1:8080/crl/auth-delta.crl"], uris
reason = lambda e: e.extensions.get_extension_for_class(x509.CRLReason).value.reason
assert reason(delta.get_revoked_certificate_by_serial_number(a)) == x509.ReasonFlags.key_compromise
assert reason(delta.get_revoked_certificate_by_serial_number(c)) == x509.ReasonFlags.remove_from_crl
assert len(list(delta)) == 2
EOF

# The verifier holds the first complete CRL only, and refreshes the delta.
check "openssl verify -crl_check with the old complete CRL alone still accepts $A" \
  openssl verify -crl_check -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" "$T/out/$A.pem"
check_fails "openssl verify -crl_check -use_deltas with the delta rejects $A" \
  openssl verify -crl_check -use_deltas -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" \
  -CRLfile "$T/delta.crl.pem" "$T/out/$A.pem"
assert_contains "…as revoked" "certificate revoked" "$(cat "$T/check.out")"
check_fails "the old complete CRL rejects the held $C" \
  openssl verify -crl_check -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" "$T/out/$C.pem"
check "…and with the delta (removeFromCRL) it is accepted" \
  openssl verify -crl_check -use_deltas -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" \
  -CRLfile "$T/delta.crl.pem" "$T/out/$C.pem"
check "…and $B stays good with both" \
  openssl verify -crl_check -use_deltas -CAfile "$AUTH_CA" -CRLfile "$T/full1.crl.pem" \
  -CRLfile "$T/delta.crl.pem" "$T/out/$B.pem"

# HTTP caching as for the complete CRL (DESIGN §9).
hdrs=$(tr -d '\r' <"$T/delta.crl.hdrs")
etag=$(sed -n 's/^etag: *//Ip' <<<"$hdrs")
assert_eq "ETag = SHA-256 of the delta" "\"$(sha256sum "$T/delta.crl" | cut -d' ' -f1)\"" "$etag"
assert_contains "Content-Type application/pkix-crl" "application/pkix-crl" "$hdrs"
max_age=$(sed -n 's/^cache-control:.*max-age=\([0-9]*\).*/\1/Ip' <<<"$hdrs")
check "max-age within http.crl_max_age_s (300): $max_age" test "${max_age:-999}" -le 300
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/crl/auth-delta.crl")
assert_eq "304 on If-None-Match" 304 "$code"
assert_eq "the signing CA has its delta too" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/crl/sign-delta.crl")"
assert_eq "no delta of a partition" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/crl/auth/0-delta.crl")"

# The running service: a revocation through the API is in the served delta soon after.
call POST "/v1/certificates/$E/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke $E through the API" 200 "$ST"
seen=
for _ in $(seq 1 150); do
  if curl -sf -o "$T/now.crl" "$URL/crl/auth-delta.crl" &&
    openssl crl -inform DER -in "$T/now.crl" -noout -text | grep -q "Serial Number: $E"; then
    seen=1
    break
  fi
  sleep 0.2
done
assert_eq "the service publishes a delta listing $E after the change" 1 "$seen"

# Off: no delta, no freshestCRL.
jpkid_stop
check "jpkid crl with crl.delta_period_s=0" "$JPKID" crl "${SETS[@]}" --set crl.delta_period_s=0
assert_not_contains "…publishes no delta" "delta" "$(cat "$T/check.out")"
jpkid_start --set crl.delta_period_s=0 || exit 1
assert_eq "…and serves none" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/crl/auth-delta.crl")"
check "the complete CRL is served" fetch /crl/auth.crl "$T/full3.crl"
assert_not_contains "…without a freshestCRL" "Freshest CRL" \
  "$(openssl crl -inform DER -in "$T/full3.crl" -noout -text)"
it_finish
