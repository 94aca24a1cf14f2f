#!/usr/bin/env bash
# Registered relying parties on a stateless responder (issues 15 + 16; DESIGN §12 on §13): one
# jpkid serve publishing to a redis-server, one jpkid respond with access.ocsp|crl registered
# over HTTPS. A party registered on the CA node is answered by the responder with its bearer
# token and with its client certificate; nobody else is (OCSP unauthorized, CRL 403), nor a
# party about a CA its kind does not allow; a suspension on the CA node is refused by the
# responder within a second (measured), a deleted party's certificate fails the handshake; the
# responder's answers are in the CA node's usage and status-query audit; with Redis silent (a
# partition) the responder fails closed within ~3 s and recovers by itself.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/respond_lib.sh"
respond_need_publisher
it_setup
trap 'respond_stop_all; jpkid_stop; rnode_stop_all; rm -rf "$T"' EXIT
# What this test is about is not the keys: ECDSA CAs and TLS key, made in a fraction of the
# time of RSA ones (the CI budget).
export JPKI_TEST_KEYALG=${JPKI_TEST_KEYALG:-ecdsa-p384}
mkdir -p "$T/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/tls/server.key" \
  -out "$T/tls/server.pem" -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null

RPORT=$(free_port) HTTP_PORT=$(free_port) HTTPS_PORT=$(free_port)
rnode_start redis "$RPORT" || exit 1
it_start --set "publish.redis.url=redis://127.0.0.1:$RPORT/0"
TOKEN=$ADMIN

# A holder with an authentication certificate (the responder answers it from Redis).
call POST /v1/persons '{"id":"p1","name":"応答 試験","address":"東京都1-1","birth_date":"1990-03-04","gender":"female"}' >/dev/null
call POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2034-01-31"}' >/dev/null
call POST /v1/cards/c1/issue '{"certificates":"auth","passwords":{"auth":"5831"}}'
SERIAL=$(jf '.certificates[0].serial')
jf '.certificates[0].pem' >"$T/holder.pem"
openssl ocsp -issuer "$AUTH_CA" -cert "$T/holder.pem" -no_nonce -reqout "$T/auth.der" >/dev/null 2>&1

# Parties: rp-auth (authentication) for answers and metering, rp-sign (signature) for the kind,
# rp-gone (platform) to suspend and delete.
register() { # ID KIND: writes $T/ID.pem, $T/ID.key, $T/ID.token
  call POST /v1/relying-parties "{\"id\":\"$1\",\"name\":\"$1\",\"kind\":\"$2\",\"contact\":\"c\"}"
  jf .certificate >"$T/$1.pem"
  jf .key >"$T/$1.key"
  jf .token >"$T/$1.token"
}
register rp-auth authentication
register rp-sign signature
register rp-gone platform
curl -fs "$URL/ca/rp.pem" -o "$T/rp-ca.pem"

respond_start r "$HTTP_PORT" --set "respond.redis.url=redis://127.0.0.1:$RPORT/0" \
  --set "listen.https=127.0.0.1:$HTTPS_PORT" --set "tls.cert=$T/tls/server.pem" \
  --set "tls.key=$T/tls/server.key" --set access.ocsp=registered --set access.crl=registered \
  --set "respond.relying_party_ca=$T/rp-ca.pem" || exit 1
R=http://127.0.0.1:$HTTP_PORT RS=https://127.0.0.1:$HTTPS_PORT
wait_for "the responder ready (Redis, CAs, parties)" 10 curl -fs "$R/readyz" || cat "$T/r.log"

# ocsp [curl args...]: the responder's OCSP status word over HTTPS ("tls-error": handshake).
ocsp() {
  curl -s --cacert "$T/tls/server.pem" "$@" -H 'Content-Type: application/ocsp-request' \
    --data-binary "@$T/auth.der" -o "$T/resp.der" "${OCSP_AT:-$RS}/ocsp" || { echo tls-error; return; }
  local text
  text=$(openssl ocsp -respin "$T/resp.der" -resp_text -noverify 2>/dev/null)
  case $text in
    *"Cert Status: good"*) echo good ;;
    *"Cert Status: revoked"*) echo revoked ;;
    *) sed -n 's/^ *\(OCSP Response Status\|Responder Error\): \([a-zA-Z]*\).*/\2/p' <<<"$text" ;;
  esac
}
# as_party bearer|mtls PARTY: the curl arguments of that credential, in CRED
as_party() {
  if [ "$1" = bearer ]; then CRED=(-H "Authorization: Bearer $(cat "$T/$2.token")")
  else CRED=(--cert "$T/$2.pem" --key "$T/$2.key"); fi
}
by() { as_party "$1" "$2"; ocsp "${CRED[@]}"; } # bearer|mtls PARTY: its OCSP word

# ---- who is answered ----
assert_eq "no credential: unauthorized" unauthorized "$(ocsp)"
as_party bearer rp-auth
assert_eq "plain HTTP, even with a token: unauthorized" unauthorized "$(OCSP_AT=$R ocsp "${CRED[@]}")"
assert_eq "an unregistered token: unauthorized" unauthorized "$(ocsp -H 'Authorization: Bearer 00ff')"
assert_eq "rp-auth by bearer token: good" good "$(by bearer rp-auth)"
assert_eq "rp-auth by client certificate (mTLS): good" good "$(by mtls rp-auth)"
assert_eq "rp-sign about an authentication certificate: unauthorized (kind)" unauthorized \
  "$(by bearer rp-sign)"
out=$(openssl ocsp -issuer "$AUTH_CA" -cert "$T/holder.pem" -url "$RS/ocsp" -CAfile "$AUTH_CA" \
  -header "Authorization=Bearer $(cat "$T/rp-auth.token")" -no_nonce 2>&1 </dev/null)
assert_contains "openssl ocsp with the bearer token: good, verified" "Response verify OK" "$out"
crl() { curl -s --cacert "$T/tls/server.pem" -o "$T/crl.out" -w '%{http_code}' "$@"; }
assert_eq "CRL without credential: 403" 403 "$(crl "$RS/crl/auth.crl")"
as_party mtls rp-auth
assert_eq "CRL of the auth CA for rp-auth (mTLS): 200" 200 "$(crl "${CRED[@]}" "$RS/crl/auth.crl")"
check "…a CRL" openssl crl -inform DER -in "$T/crl.out" -noout
check "the responder serves the relying-party CA, as the CA node does" \
  sh -c "curl -fs $R/ca/rp.pem | cmp -s - $T/rp-ca.pem"
assert_eq "…and its CRL, to anyone" 200 "$(crl "$RS/crl/rp.crl")"
etag_of() { curl -s --cacert "$T/tls/server.pem" -D - -o /dev/null "$1" | tr -d '\r' |
  awk 'tolower($1) == "etag:" {print $2}'; }
serve_etag=$(etag_of "$URL/crl/rp.crl")
assert_eq "…with the CA node's ETag" "$serve_etag" "$(etag_of "$RS/crl/rp.crl")"
check "…a real ETag" test -n "$serve_etag"
assert_eq "CRL of the sign CA for rp-auth: 403 (kind)" 403 "$(crl "${CRED[@]}" "$RS/crl/sign.crl")"

# 20 more answers to rp-auth over one keep-alive connection (23 OCSP, 1 CRL): folded on the CA
# node while the next section runs (the responder flushes every second, the CA node folds at
# its next round)
as_party bearer rp-auth
rp_load "$RS" 20 "$T/tls/server.pem" "$T/auth.der" "${CRED[@]}"

# ---- suspension on the CA node: refused by the responder within a second ----
says() { [ "$(by bearer "$1")" = "$2" ]; } # PARTY WORD
assert_eq "rp-gone answered before" good "$(by bearer rp-gone)"
call POST /v1/relying-parties/rp-gone/suspend
t0=$(date +%s%N)
wait_for "rp-gone refused by the responder" 5 says rp-gone unauthorized
ms=$((($(date +%s%N) - t0) / 1000000))
echo "suspension on the CA node → refused by the responder: ${ms} ms (target < 1000)"
check "a suspension reaches the responder (${ms} ms)" test "$ms" -lt 5000
call POST /v1/relying-parties/rp-gone/resume
wait_for "rp-gone answered again" 5 says rp-gone good
check "…answered again once resumed" says rp-gone good
call DELETE /v1/relying-parties/rp-gone
mtls_fails() { [ "$(by mtls rp-gone)" = tls-error ]; }
wait_for "a deleted party's certificate refused" 5 mtls_fails
check "a deleted party's certificate fails the handshake" mtls_fails
check "…and its token names nobody" says rp-gone unauthorized

# ---- metering and audit: the responder's answers on the CA node ----
rp_usage_wait rp-auth '"\(.calls.ocsp) \(.calls.crl) \(.distinct_certificates.auth)"' "23 1 1"
assert_eq "the CA node's usage of rp-auth counts the responder's answers" "23 1 1" "$USAGE"
echo "$ADMIN" >"$T/admin.token"
JPKI_URL=$URL JPKI_TOKEN_FILE=$T/admin.token ctl rp usage rp-auth --month "$(date -u +%Y-%m)"
assert_contains "…and so does jpkictl rp usage" "OCSP calls:         23" "$OUT"
assert_contains "the responder's /metrics counts its answers per party id" \
  'jpki_rp_answers_total{party="rp-auth",what="ocsp"} 23' "$(curl -s "$R/metrics")"
call GET "/v1/audit/status-queries?party=rp-auth&limit=1000"
assert_eq "the status-query audit has the responder's queries" "24 23 $SERIAL" \
  "$(jf '"\(.rows | length) \([.rows[] | select(.status == "good")] | length) \(.rows[0].serial)"')"
call GET "/v1/audit/status-queries?party=rp-sign"
assert_eq "…the kind refusal too" "1 unauthorized" "$(jf '"\(.rows | length) \(.rows[0].status)"')"
stream_empty() { [ "$(redis-cli -p "$RPORT" xlen jpki:rp:usage)" = 0 ]; }
wait_for "the stream folded" 5 stream_empty
check "what was folded left the stream" stream_empty
assert_not_contains "no token in Redis" "$(cat "$T/rp-auth.token")" \
  "$(redis-cli -p "$RPORT" hgetall jpki:rp:parties)"

# ---- Redis silent (a partition: no RST, no FIN): fail closed within ~3 s; recovery ----
kill -STOP "${RNODE_PID[redis]}"
t0=$(date +%s%N)
wait_for "parties refused while Redis is silent" 10 says rp-auth unauthorized
ms=$((($(date +%s%N) - t0) / 1000000))
echo "Redis silent → parties refused: ${ms} ms (PING after 1 s, unanswered 1 s, grace 1 s)"
check "with Redis silent the responder refuses parties after the grace (fail closed)" \
  says rp-auth unauthorized
assert_contains "…and /readyz names the relying parties" relying_parties "$(curl -s "$R/readyz")"
kill -CONT "${RNODE_PID[redis]}"
wait_for "answered again once Redis answers" 10 says rp-auth good
check "once Redis answers again, the view is loaded again and parties answered" says rp-auth good

respond_stop r
jpkid_stop
assert_eq "no sanitizer report in the logs" "" "$(grep -h -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log" "$T/r.log")"
it_finish
