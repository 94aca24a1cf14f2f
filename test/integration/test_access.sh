#!/usr/bin/env bash
# Issue 7.3 acceptance, in the form of issue 15: who may ask. With access.ocsp and access.crl
# set to registered, only registered relying parties presenting (over HTTPS) their client
# certificate of jpki's relying-party CA get OCSP answers and CRLs: without a certificate, over
# plain HTTP, with a certificate of another CA, or with an operator's certificate, OCSP answers
# the status unauthorized (HTTP 200, the 5-byte error response) and the CRLs 403 JSON. CA certificates stay open. A relying
# party's certificate is no operator credential. Then the role matrix of the operator API:
# anonymous / auditor / operator / batch against public / lookups / lifecycle / batches, by
# token and by operator certificate.
. "$(dirname "$0")/lib.sh"
it_setup

tls_server "$T/tls"
for ca in opca:operator other:elsewhere; do
  tls_ca "$T/tls" "${ca%%:*}" "/O=Test/CN=${ca#*:} CA"
done
# cn:ou:issuing CA
for who in tls-op:operator:opca tls-aud:auditor:opca tls-bat:batch:opca \
  stranger:verifier:other; do
  IFS=: read -r cn ou ca <<<"$who"
  tls_client "$T/tls" "$cn" "/O=Test/OU=$ou/CN=$cn" "$ca"
done

it_init || exit 1
TLS_SETS=(--set listen.https=127.0.0.1:0 --set "tls.cert=$T/tls/server.pem"
  --set "tls.key=$T/tls/server.key" --set "tls.operator_ca=$T/tls/opca.pem")

# Refused configurations: the first form (client_cert, tls.relying_party_ca), and registered
# without HTTPS.
check_fails "access.ocsp=client_cert: serve refuses, naming registered" \
  "$JPKID" serve "${SETS[@]}" "${TLS_SETS[@]}" --set access.ocsp=client_cert
assert_contains "…naming the key" "access.ocsp: client_cert was replaced by registered" \
  "$(cat "$T/check.out")"
check_fails "access.crl=registered without listen.https: serve refuses" \
  "$JPKID" serve "${SETS[@]}" --set access.crl=registered
assert_contains "…naming the key" "access.crl: registered needs listen.https" "$(cat "$T/check.out")"
check_fails "tls.relying_party_ca: serve refuses" \
  "$JPKID" serve "${SETS[@]}" "${TLS_SETS[@]}" --set "tls.relying_party_ca=$T/tls/other.pem"
assert_contains "…naming the key" "tls.relying_party_ca: removed" "$(cat "$T/check.out")"

jpkid_start "${TLS_SETS[@]}" --set access.ocsp=registered --set access.crl=registered || exit 1
HTTPS=https://127.0.0.1:$(cat "$DATA/run/https.port")
ADMIN=$(cat "$DATA/admin.token")
# rp1: a platform party (both CAs), its certificate and key from the registration answer.
curl -s -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"id":"rp1","name":"Verifier","kind":"platform","contact":"ops@example.jp"}' \
  "$URL/v1/relying-parties" >"$T/rp1.json"
jq -r .certificate "$T/rp1.json" >"$T/tls/rp1.pem"
jq -r .key "$T/rp1.json" >"$T/tls/rp1.key"

api() { # TOKEN METHOD PATH [BODY] -> prints the status
  local args=(-s -o "$T/resp" -w '%{http_code}' -X "$2")
  [ -n "$1" ] && args+=(-H "Authorization: Bearer $1")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}" "$URL$3"
}
api "$ADMIN" POST /v1/persons '{"id":"p1","name":"Access Test","address":"Tokyo","birth_date":"1990-01-02","gender":"male"}' >/dev/null
api "$ADMIN" POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2035-01-31"}' >/dev/null
assert_eq "setup: issue an auth certificate" 201 "$(api "$ADMIN" POST /v1/cards/c1/issue '{"certificates":"auth"}')"
SERIAL=$(jq -r '.certificates[0].serial' "$T/resp")
AUTH_CA=$DATA/certs/auth-ca.pem
openssl ocsp -issuer "$AUTH_CA" -serial "0x$SERIAL" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
GET_PATH=/ocsp/$(base64 -w0 "$T/req.der" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')

# ocsp_as WHO BASE [GET]: POSTs (or GETs) the request as WHO (a client certificate name, or
# "none"); prints "HTTP-status response-status cert-status" ("tls-error" when no answer).
ocsp_as() {
  local who=$1 base=$2 args=(-s -o "$T/oresp.der" -w '%{http_code}' --cacert "$T/tls/server.pem")
  [ "$who" != none ] && args+=(--cert "$T/tls/$who.pem" --key "$T/tls/$who.key")
  local st
  if [ "${3:-}" = GET ]; then
    st=$(curl "${args[@]}" "$base$GET_PATH") || { echo tls-error; return; }
  else
    st=$(curl "${args[@]}" -H 'Content-Type: application/ocsp-request' \
      --data-binary "@$T/req.der" "$base/ocsp") || { echo tls-error; return; }
  fi
  local text rs cs
  text=$(openssl ocsp -respin "$T/oresp.der" -resp_text -noverify 2>/dev/null)
  rs=$(sed -n 's/^ *\(OCSP Response Status\|Responder Error\): \([a-zA-Z]*\).*/\2/p' <<<"$text")
  cs=$(sed -n 's/^ *Cert Status: \([a-z]*\).*/\1/p' <<<"$text" | head -1)
  echo "$st ${rs:-?} ${cs:--} $(stat -c %s "$T/oresp.der")"
}
out=$(ocsp_as rp1 "$HTTPS")
assert_eq "OCSP with the relying party's certificate: good" "200 successful good" "${out% *}"
out=$(ocsp_as rp1 "$HTTPS" GET)
assert_eq "…and by GET" "200 successful good" "${out% *}"
assert_eq "OCSP over HTTPS without a certificate: unauthorized, 5 bytes" "200 unauthorized - 5" \
  "$(ocsp_as none "$HTTPS")"
assert_eq "…the exact bytes (RFC 6960 §4.2.1: status 6)" "3003 0a01 06" \
  "$(xxd -p "$T/oresp.der" | sed 's/^\(....\)\(....\)\(..\)$/\1 \2 \3/')"
assert_eq "OCSP over plain HTTP: unauthorized" "200 unauthorized - 5" "$(ocsp_as none "$URL")"
assert_eq "…by GET too" "200 unauthorized - 5" "$(ocsp_as none "$URL" GET)"
out=$(ocsp_as stranger "$HTTPS")
assert_eq "OCSP with a certificate of another CA: unauthorized" "200 unauthorized - 5" "$out"
assert_eq "OCSP with an operator's certificate (not a relying party): unauthorized" \
  "200 unauthorized - 5" "$(ocsp_as tls-op "$HTTPS")"
out=$(ocsp_as rp1 "$HTTPS" | cut -d' ' -f1-3)
assert_eq "the service still answers the relying party afterwards" "200 successful good" "$out"

crl_as() { # WHO BASE -> "status code"
  local who=$1 args=(-s -o "$T/crl.out" -w '%{http_code}' --cacert "$T/tls/server.pem")
  [ "$who" != none ] && args+=(--cert "$T/tls/$who.pem" --key "$T/tls/$who.key")
  local st
  st=$(curl "${args[@]}" "$2/crl/auth.crl") || { echo tls-error; return; }
  if [ "$st" = 200 ]; then echo "$st"; else echo "$st $(jq -r .error.code "$T/crl.out" 2>/dev/null)"; fi
}
assert_eq "CRL with the relying party's certificate: 200" 200 "$(crl_as rp1 "$HTTPS")"
check "…it parses and verifies under the root" \
  openssl crl -inform DER -in "$T/crl.out" -CAfile "$AUTH_CA" -noout
assert_eq "CRL over HTTPS without a certificate: 403 forbidden" "403 forbidden" "$(crl_as none "$HTTPS")"
assert_eq "CRL over plain HTTP: 403 forbidden" "403 forbidden" "$(crl_as none "$URL")"
assert_eq "CRL with another CA's certificate: 403" "403 forbidden" "$(crl_as stranger "$HTTPS")"
assert_eq "CRL with an operator's certificate: 403" "403 forbidden" "$(crl_as tls-op "$HTTPS")"
assert_eq "CA certificate stays open over plain HTTP" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ca/auth.cer")"
assert_eq "fingerprints stay open" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ca/fingerprints")"
assert_eq "/healthz stays open" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")"
st=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$T/tls/server.pem" --cert "$T/tls/rp1.pem" \
  --key "$T/tls/rp1.key" "$HTTPS/v1/cards/c1")
assert_eq "a relying party's certificate is no operator credential: 401" \
  "401 unauthenticated" "$st $(jq -r .error.code "$T/resp")"

# ---- the role matrix ------------------------------------------------------------------------
declare -A TOK
for who in aud:auditor op:operator bat:batch; do
  api "$ADMIN" POST /v1/operators "{\"name\":\"${who%%:*}\",\"role\":\"${who#*:}\"}" >/dev/null
  TOK[${who#*:}]=$(jq -r .token "$T/resp")
done
TOK[anonymous]=
# request GROUP TOKEN N: one call of the group (N makes its ids new); prints the status.
request() {
  local n=$3
  case $1 in
  public) curl -s -o /dev/null -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$URL/ca/fingerprints" ;;
  lookups) api "$2" GET /v1/cards/c1 ;;
  lifecycle) api "$2" POST /v1/persons "{\"id\":\"m$n\",\"name\":\"M\",\"address\":\"Tokyo\",\"birth_date\":\"1990-01-02\",\"gender\":\"male\"}" ;;
  batches) api "$2" POST /v1/batches "{\"batch\":\"m$n\",\"rows\":[{\"key\":\"r1\",\"person\":{\"id\":\"bm$n\",\"name\":\"B\",\"address\":\"Osaka\",\"birth_date\":\"1980-01-01\",\"gender\":\"female\"},\"card\":{\"id\":\"bcm$n\",\"type\":\"mynumber\",\"expiry\":\"2035-01-31\"},\"certificates\":\"auth\",\"passwords\":{\"sign\":\"QWERTY7890\",\"auth\":\"5831\"}}]}" ;;
  esac
}
# expected: role -> public lookups lifecycle batches
declare -A EXPECT=(
  [anonymous]="200 401 401 401"
  [auditor]="200 200 403 403"
  [operator]="200 200 201 202"
  [batch]="200 200 403 202"
)
for role in anonymous auditor operator batch; do
  got=
  for group in public lookups lifecycle batches; do
    got="$got $(request $group "${TOK[$role]}" "$role")"
  done
  assert_eq "role matrix by token: $role (public lookups lifecycle batches)" "${EXPECT[$role]}" "${got# }"
done

# The same through operator certificates over HTTPS. The role is the registry's operator named
# by the CN (issue 11 §2), not the certificate's OU: register them first.
for who in tls-aud:auditor tls-op:operator tls-bat:batch; do
  api "$ADMIN" POST /v1/operators "{\"name\":\"${who%%:*}\",\"role\":\"${who#*:}\"}" >/dev/null
done
certcall() { # WHO METHOD PATH [BODY]
  local args=(-s -o "$T/resp" -w '%{http_code}' --cacert "$T/tls/server.pem" -X "$2"
    --cert "$T/tls/$1.pem" --key "$T/tls/$1.key")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}" "$HTTPS$3"
}
for who in tls-aud:auditor:"200 403" tls-op:operator:"200 201" tls-bat:batch:"200 403"; do
  IFS=: read -r cn role want <<<"$who"
  got="$(certcall "$cn" GET /v1/cards/c1) $(certcall "$cn" POST /v1/persons \
    "{\"id\":\"t-$cn\",\"name\":\"T\",\"address\":\"Tokyo\",\"birth_date\":\"1990-01-02\",\"gender\":\"male\"}")"
  assert_eq "role matrix by certificate: $role (lookups lifecycle)" "$want" "$got"
done
st=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$T/tls/server.pem" \
  --cert "$T/tls/stranger.pem" --key "$T/tls/stranger.key" "$HTTPS/v1/cards/c1")
assert_eq "an operator-looking certificate of another CA: 401" 401 "$st"
jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" \
  "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
