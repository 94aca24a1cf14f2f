#!/usr/bin/env bash
# Issue 15 (DESIGN §12): relying parties as the real scheme serves them. With access.ocsp and
# access.crl registered: a party registered through /v1/relying-parties gets a bearer token and
# a client certificate of jpki's relying-party CA; with either, over HTTPS, it is answered, only
# about the CA its kind allows; suspended it is refused within a second, resumed it is answered
# again; deleted, its certificate fails the TLS handshake and is on /crl/rp.crl. Every answer is
# metered exactly (500 OCSP calls over one keep-alive connection) and in the status-query audit;
# /metrics counts per party. Refusals of the registry's API name their field.
. "$(dirname "$0")/lib.sh"
it_setup
tls_server "$T/tls"
it_start --set listen.https=127.0.0.1:0 --set "tls.cert=$T/tls/server.pem" \
  --set "tls.key=$T/tls/server.key" --set access.ocsp=registered --set access.crl=registered
SURL=https://127.0.0.1:$(cat "$DATA/run/https.port")
TOKEN=$ADMIN

# A holder with both certificates; one OCSP request for each.
call POST /v1/persons '{"id":"p1","name":"RP Test","address":"Tokyo","birth_date":"1990-01-02","gender":"male"}'
call POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2035-01-31"}'
expect_status "setup: issue both certificates" 201 POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":{"sign":"QWERTY7890","auth":"5831"}}'
SIGN_SERIAL=$(jf '.certificates[] | select(.ca=="sign") | .serial')
jf '.certificates[] | select(.ca=="auth") | .pem' >"$T/holder-auth.pem"
AUTH_SERIAL=$(jf '.certificates[] | select(.ca=="auth") | .serial')
openssl ocsp -issuer "$AUTH_CA" -serial "0x$AUTH_SERIAL" -no_nonce -reqout "$T/auth.der" >/dev/null 2>&1
openssl ocsp -issuer "$SIGN_CA" -serial "0x$SIGN_SERIAL" -no_nonce -reqout "$T/sign.der" >/dev/null 2>&1

# ocsp REQ [curl args...]: "RESPONSE-STATUS CERT-STATUS" as python3 cryptography names them
# (read by openssl, lighter to start; python3 reads one below), "tls-error" when the handshake
# failed.
ocsp() {
  local req=$1
  shift
  curl -s --cacert "$T/tls/server.pem" "$@" -H 'Content-Type: application/ocsp-request' \
    --data-binary "@$T/$req.der" -o "$T/resp.der" "$SURL/ocsp" || { echo tls-error; return; }
  local text rs cs
  text=$(openssl ocsp -respin "$T/resp.der" -resp_text -noverify 2>/dev/null)
  rs=$(sed -n 's/^ *\(OCSP Response Status\|Responder Error\): \([a-zA-Z]*\).*/\2/p' <<<"$text")
  cs=$(sed -n 's/^ *Cert Status: \([a-z]*\).*/\1/p' <<<"$text" | head -1)
  echo "${rs^^} ${cs^^}" | sed 's/ $/ -/'
}
assert_eq "no credential: unauthorized" "UNAUTHORIZED -" "$(ocsp auth)"
assert_eq "a wrong bearer token: unauthorized" "UNAUTHORIZED -" "$(ocsp auth -H 'Authorization: Bearer nope')"

# ---- the registry's API ---------------------------------------------------------------------
expect "kind must be one of three" 400 kind POST /v1/relying-parties \
  '{"id":"x","name":"X","kind":"bank","contact":"c"}'
expect "id is required" 400 id POST /v1/relying-parties '{"name":"X","kind":"platform","contact":"c"}'
expect "an unknown member" 400 extra POST /v1/relying-parties \
  '{"id":"x","name":"X","kind":"platform","contact":"c","extra":1}'
expect "a CSR that is none" 400 csr POST /v1/relying-parties \
  '{"id":"x","name":"X","kind":"platform","contact":"c","csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}'
expect_status "register rp-auth (authentication)" 201 POST /v1/relying-parties \
  '{"id":"rp-auth","name":"Login service","kind":"authentication","contact":"ops@example.jp"}'
AUTH_TOKEN=$(jf .token)
jf .certificate >"$T/rp-auth.pem"
jf .key >"$T/rp-auth.key"
assert_eq "…its state" "active authentication" "$(jf '.state + " " + .kind')"
expect "the same id again: 409" 409 id POST /v1/relying-parties \
  '{"id":"rp-auth","name":"Again","kind":"platform","contact":"c"}'
# a party that sends its own key, as a PKCS#10 request
openssl req -newkey rsa:2048 -nodes -keyout "$T/rp-sign.key" -subj /CN=ignored -out "$T/rp-sign.csr" 2>/dev/null
expect_status "register rp-sign (signature) with its own CSR" 201 POST /v1/relying-parties \
  "$(jq -n --rawfile csr "$T/rp-sign.csr" '{id:"rp-sign",name:"e-Tax",kind:"signature",contact:"c",csr:$csr}')"
assert_eq "…no key handed out for a CSR" null "$(jf .key)"
jf .certificate >"$T/rp-sign.pem"
SIGN_RP_TOKEN=$(jf .token)
curl -s "$URL/ca/rp.pem" -o "$T/rp-ca.pem"
check "the party's certificate verifies under /ca/rp.pem (clientAuth)" \
  openssl verify -purpose sslclient -CAfile "$T/rp-ca.pem" "$T/rp-sign.pem"
TOKEN='' expect_status "registering needs an operator: 401" 401 POST /v1/relying-parties '{}'
call POST /v1/operators '{"name":"aud","role":"auditor"}'
AUD=$(jf .token)
TOKEN=$AUD expect_status "…an auditor may not: 403" 403 POST /v1/relying-parties \
  '{"id":"y","name":"Y","kind":"platform","contact":"c"}'
TOKEN=$AUD expect_status "…but may list" 200 GET /v1/relying-parties
assert_eq "…two parties, no token or key in the listing" "rp-auth rp-sign null" \
  "$(jf '[.relying_parties[].id] | join(" ")') $(jf '.relying_parties[0].token')"
expect "an unknown party: 404" 404 id GET /v1/relying-parties/nobody

# ---- credentials, kinds ---------------------------------------------------------------------
AUTH_CERT=(--cert "$T/rp-auth.pem" --key "$T/rp-auth.key")
assert_eq "rp-auth by certificate (mTLS): good" "SUCCESSFUL GOOD" "$(ocsp auth "${AUTH_CERT[@]}")"
assert_eq "rp-auth by bearer token: good" "SUCCESSFUL GOOD" \
  "$(ocsp auth -H "Authorization: Bearer $AUTH_TOKEN")"
assert_eq "…as python3 cryptography reads it" "SUCCESSFUL GOOD" "$(python3 -c 'import sys
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(open(sys.argv[1], "rb").read())
print(r.response_status.name, r.certificate_status.name)' "$T/resp.der")"
assert_eq "rp-auth about a signing certificate: unauthorized (kind)" "UNAUTHORIZED -" \
  "$(ocsp sign "${AUTH_CERT[@]}")"
assert_eq "rp-sign about a signing certificate: good" "SUCCESSFUL GOOD" \
  "$(ocsp sign --cert "$T/rp-sign.pem" --key "$T/rp-sign.key")"
assert_eq "rp-sign about an auth certificate: unauthorized" "UNAUTHORIZED -" \
  "$(ocsp auth -H "Authorization: Bearer $SIGN_RP_TOKEN")"
# openssl ocsp has no client-certificate option; the bearer over its -header is the way
out=$(openssl ocsp -issuer "$AUTH_CA" -serial "0x$AUTH_SERIAL" -url "$SURL/ocsp" -CAfile "$AUTH_CA" \
  -header "Authorization=Bearer $AUTH_TOKEN" -no_nonce 2>&1 </dev/null)
assert_contains "openssl ocsp over HTTPS with the bearer token: good" "0x$AUTH_SERIAL: good" "$out"
crl() { curl -s --cacert "$T/tls/server.pem" -o "$T/crl.out" -w '%{http_code}' "$@"; }
assert_eq "CRL without credential: 403" 403 "$(crl "$SURL/crl/auth.crl")"
assert_eq "CRL of the auth CA for rp-auth: 200" 200 "$(crl "${AUTH_CERT[@]}" "$SURL/crl/auth.crl")"
assert_eq "CRL of the sign CA for rp-auth: 403 (kind)" 403 "$(crl "${AUTH_CERT[@]}" "$SURL/crl/sign.crl")"

# ---- metering: 500 calls over one keep-alive connection, counted exactly --------------------
MONTH=$(date -u +%Y-%m)
rp_load "$SURL" 500 "$T/tls/server.pem" "$T/auth.der" "${AUTH_CERT[@]}"
rp_usage_wait rp-auth '"\(.calls.ocsp) \(.calls.crl) \(.distinct_certificates.auth) \(.distinct_certificates.sign)"' \
  "503 1 1 0"
assert_eq "usage of rp-auth: 3 + 500 OCSP answers, 1 CRL, 1 distinct certificate" "503 1 1 0" "$USAGE"
assert_eq "…by day and CA" 503 "$(jf ".calls_by_day[\"$(date -u +%F)\"].auth.ocsp")"
expect "usage: a bad month" 400 month GET "/v1/relying-parties/rp-auth/usage?month=2026-13"
metrics=$(curl -s "$URL/metrics")
assert_contains "/metrics counts per party id" 'jpki_rp_answers_total{party="rp-auth",what="ocsp"} 503' "$metrics"
TOKEN=$AUD call GET "/v1/audit/status-queries?party=rp-sign&serial=$SIGN_SERIAL"
assert_eq "the status-query audit: rp-sign's one query" "1 good sign" \
  "$(jf '"\(.rows | length) \(.rows[0].status) \(.rows[0].ca)"')"
TOKEN=$AUD call GET "/v1/audit/status-queries?party=rp-auth&limit=1000"
assert_eq "…rp-auth's, the kind refusal included" "505 1" \
  "$(jf '"\(.rows | length) \([.rows[] | select(.status == "unauthorized")] | length)"')"
assert_not_contains "…no personal data in the audit files" "RP Test" \
  "$(strings "$DATA"/audit/status-queries-*.db)"

# ---- jpkictl: the registry, and a party's credentials on ocsp and crl fetch ----------------
echo "$ADMIN" >"$T/admin.token"
export JPKI_URL=$URL JPKI_TOKEN_FILE=$T/admin.token
ctl rp add rp-ctl --name "CLI party" --kind platform --contact c --cert-out "$T/ctl.pem" \
  --key-out "$T/ctl.key" --token-out "$T/ctl.token"
assert_eq "jpkictl rp add" "0" "$RC"
check "…the key file is 0600" test "$(stat -c %a "$T/ctl.key")" = 600
ctl rp add rp-ctl --name X --kind platform --contact c
assert_contains "…the same id again: refused, naming the field" "id" "$ERR"
ctl rp add rp-x --name X --kind bank --contact c
assert_eq "…a bad kind: exit 1" "1" "$RC"
ctl --url "$SURL" --cacert "$T/tls/server.pem" ocsp "$T/holder-auth.pem"
assert_eq "jpkictl ocsp over HTTPS without credentials: refused" "1" "$RC"
ctl --url "$SURL" --cacert "$T/tls/server.pem" --cert "$T/ctl.pem" --key "$T/ctl.key" \
  ocsp "$T/holder-auth.pem"
assert_contains "jpkictl ocsp --cert/--key: good" "good" "$OUT"
JPKI_CLIENT_CERT=$T/ctl.pem JPKI_CLIENT_KEY=$T/ctl.key ctl --url "$SURL" \
  --cacert "$T/tls/server.pem" crl fetch auth
assert_eq "jpkictl crl fetch with JPKI_CLIENT_CERT/KEY" "0" "$RC"
ctl --url "$SURL" --cacert "$T/tls/server.pem" --rp-token-file "$T/ctl.token" ocsp "$T/holder-auth.pem"
assert_contains "jpkictl ocsp --rp-token-file: good" "good" "$OUT"
ctl --url "$SURL" --cacert "$T/tls/server.pem" --cert "$T/ctl.pem" ocsp "$T/holder-auth.pem"
assert_contains "--cert without --key: a usage error naming --key" "--key" "$ERR"
for _ in $(seq 50); do
  ctl rp usage rp-ctl --month "$MONTH"
  [[ "$OUT" == *"OCSP calls:         2"* ]] && break
  sleep 0.1
done
assert_contains "jpkictl rp usage: 2 OCSP calls" "OCSP calls:         2" "$OUT"
assert_contains "…1 CRL download" "CRL downloads:      1" "$OUT"
# verify and card check as a party (the card's OCSP asked over HTTPS with its credential)
call POST /v1/persons '{"id":"p9","name":"RP Nine","address":"Tokyo","birth_date":"1990-01-02","gender":"male"}'
call POST /v1/cards '{"id":"c9","person_id":"p9","type":"mynumber","expiry":"2035-01-31"}'
printf '{"sign":"QWERTY7890","auth":"5829"}' >"$T/chosen.json"
ctl card issue c9 --certs both --out "$T/o9" --passwords-file "$T/chosen.json"
assert_eq "setup: jpkictl card issue" 0 "$RC"
ctl --url "$SURL" --cacert "$T/tls/server.pem" card check "$T/o9/c9.card"
assert_eq "jpkictl card check without credentials: refused" 1 "$RC"
ctl --url "$SURL" --cacert "$T/tls/server.pem" --cert "$T/ctl.pem" --key "$T/ctl.key" card check "$T/o9/c9.card"
assert_contains "jpkictl card check --cert/--key: all good" "all good" "$OUT"
printf 'QWERTY7890\n' >"$T/pw.txt"
echo document >"$T/doc.txt"
ctl card sign "$T/o9/c9.card" "$T/doc.txt" -o "$T/doc.p7s" --password-file "$T/pw.txt"
assert_eq "setup: jpkictl card sign" 0 "$RC"
ctl --url "$SURL" --cacert "$T/tls/server.pem" verify "$T/doc.txt" "$T/doc.p7s"
assert_eq "jpkictl verify without credentials: not VALID" 1 "$RC"
ctl --url "$SURL" --cacert "$T/tls/server.pem" --rp-token-file "$T/ctl.token" verify "$T/doc.txt" "$T/doc.p7s"
assert_contains "jpkictl verify --rp-token-file: VALID" "VALID: $T/doc.txt" "$OUT"
JPKI_CLIENT_CERT=$T/ctl.pem JPKI_CLIENT_KEY=$T/ctl.key ctl --url "$SURL" --cacert "$T/tls/server.pem" \
  verify "$T/doc.txt" "$T/doc.p7s"
assert_contains "jpkictl verify with JPKI_CLIENT_CERT/KEY: VALID" "VALID: $T/doc.txt" "$OUT"
ctl rp suspend rp-ctl
assert_contains "jpkictl rp suspend" "suspended" "$OUT"
ctl rp list
assert_contains "jpkictl rp list" "suspended platform       rp-ctl" "$OUT"

# ---- suspend, resume, delete ----------------------------------------------------------------
expect_status "suspend rp-auth" 200 POST /v1/relying-parties/rp-auth/suspend
# The gate's view changes before the API answers: the very next request is refused (curl
# alone, timed: the 5-byte unauthorized response, RFC 6960 §4.2.1).
t0=$(date +%s%N)
got=$(curl -s --cacert "$T/tls/server.pem" "${AUTH_CERT[@]}" -H 'Content-Type: application/ocsp-request' \
  --data-binary "@$T/auth.der" "$SURL/ocsp" | xxd -p)
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "suspended: the next request is unauthorized" 30030a0106 "$got"
check "…within a second of the answer ($elapsed_ms ms)" test "$elapsed_ms" -lt 1000
assert_eq "…by token too" "UNAUTHORIZED -" "$(ocsp auth -H "Authorization: Bearer $AUTH_TOKEN")"
expect_status "resume rp-auth" 200 POST /v1/relying-parties/rp-auth/resume
assert_eq "resumed: good" "SUCCESSFUL GOOD" "$(ocsp auth "${AUTH_CERT[@]}")"
expect_status "delete rp-auth" 200 DELETE /v1/relying-parties/rp-auth
assert_eq "deleted: state" deleted "$(jf .state)"
assert_eq "deleted: its certificate fails the TLS handshake" tls-error "$(ocsp auth "${AUTH_CERT[@]}")"
assert_eq "…its token names nobody" "UNAUTHORIZED -" "$(ocsp auth -H "Authorization: Bearer $AUTH_TOKEN")"
curl -s "$URL/crl/rp.crl" -o "$T/rp.crl"
serial=$(openssl x509 -in "$T/rp-auth.pem" -noout -serial | cut -d= -f2)
check "/crl/rp.crl verifies under the relying-party CA" \
  openssl crl -inform DER -in "$T/rp.crl" -CAfile "$T/rp-ca.pem" -noout
assert_contains "…and lists the deleted party's certificate" "$serial" \
  "$(openssl crl -inform DER -in "$T/rp.crl" -noout -text)"
# served as every other CRL and CA file: ETag the SHA-256 of the bytes, Last-Modified, 304
for f in crl/rp.crl ca/rp.pem; do
  curl -s -D "$T/rp-file.hdrs" -o "$T/rp-file.body" "$URL/$f"
  etag=$(tr -d '\r' <"$T/rp-file.hdrs" | awk 'tolower($1) == "etag:" {print $2}')
  assert_eq "/$f: ETag is the SHA-256 of its bytes" \
    "\"$(sha256sum "$T/rp-file.body" | cut -c1-64)\"" "$(echo "$etag" | tr A-F a-f)"
  assert_contains "/$f: Last-Modified" "Last-Modified: " "$(cat "$T/rp-file.hdrs")"
  assert_contains "/$f: cacheable" "Cache-Control: public, max-age=" "$(cat "$T/rp-file.hdrs")"
  assert_eq "/$f: If-None-Match with that ETag: 304" 304 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/$f")"
  assert_eq "/$f: another ETag: 200" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "00"' "$URL/$f")"
done
expect "delete it again: 409" 409 id DELETE /v1/relying-parties/rp-auth
expect "resume a deleted party: 409" 409 id POST /v1/relying-parties/rp-auth/resume
call GET /v1/audit
assert_contains "every registry call is audited" "DELETE /v1/relying-parties/{id}" "$(jf '[.rows[].action] | join(",")')"
jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
