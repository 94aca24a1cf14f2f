#!/usr/bin/env bash
# The public endpoints of the real jpkid with curl and openssl (DESIGN §5, §6): CA roots and
# fingerprints checked against the files, CRLs published at start and served with ETag,
# Last-Modified, max-age and stale-if-error, 304s, HEAD, the exact refusals (404, 405, 413, 414, 400 — JSON
# bodies for ours), and a clean stop on SIGTERM.
. "$(dirname "$0")/lib.sh"
it_setup
it_start

# fetch METHOD PATH [curl options]: body in $T/body, headers in $T/headers; prints the status.
fetch() {
  local method=$1 path=$2
  shift 2
  rm -f "$T/body" # curl writes no file for an empty body
  curl -s -X "$method" -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$URL$path"
}
# hdr NAME: the value of a response header of the last fetch.
hdr() { awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' \
  'tolower($1) == n {sub(/\r$/, "", $2); print $2; exit}' "$T/headers"; }
# head_fetch PATH [curl options]: a HEAD request (curl -I), headers in $T/headers.
head_fetch() {
  local path=$1
  shift
  curl -s -I -o /dev/null -D "$T/headers" -w '%{http_code}' "$@" "$URL$path"
}

# --- health, roots, fingerprints ---
assert_eq "healthz" 200 "$(fetch GET /healthz)"
assert_eq "healthz body" '{"status":"ok"}' "$(cat "$T/body")"

for ca in sign auth; do
  pem=$DATA/certs/$ca-ca.pem
  assert_eq "$ca root: 200" 200 "$(fetch GET "/ca/$ca.cer")"
  assert_eq "$ca root: content type" application/pkix-cert "$(hdr Content-Type)"
  openssl x509 -in "$pem" -outform DER -out "$T/$ca-ca.der"
  check "$ca root: the bytes of the root file" cmp "$T/body" "$T/$ca-ca.der"
  etag=$(hdr ETag)
  assert_eq "$ca root: ETag is the SHA-256" "\"$(sha256sum "$T/$ca-ca.der" | cut -d' ' -f1)\"" "$etag"
  assert_eq "$ca root: 304 on If-None-Match" 304 "$(fetch GET "/ca/$ca.cer" -H "If-None-Match: $etag")"
done

assert_eq "fingerprints: 200" 200 "$(fetch GET /ca/fingerprints)"
assert_eq "fingerprints: JSON" application/json "$(hdr Content-Type)"
for ca in sign auth; do
  want=$(openssl x509 -in "$DATA/certs/$ca-ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
  got=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]['sha256'])" \
    "$T/body" "$ca")
  assert_eq "fingerprints: $ca sha256 matches openssl" "$want" "$got"
done
subject=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['sign']['subject'])" "$T/body")
assert_contains "fingerprints: sign subject" "C=JP, O=JPKI, OU=JPKI for digital signature" "$subject"

# --- CRLs: published at start ---
status=0
for _ in $(seq 1 100); do
  status=$(fetch GET /crl/sign.crl)
  [ "$status" = 200 ] && break
  sleep 0.1
done
assert_eq "sign CRL published at start and served" 200 "$status"
assert_eq "CRL content type" application/pkix-crl "$(hdr Content-Type)"
check "CRL bytes are the published file" cmp "$T/body" "$DATA/crl/sign.crl"
check "openssl verifies the served CRL" \
  openssl crl -inform DER -in "$T/body" -CAfile "$SIGN_CA" -noout
etag=$(hdr ETag)
assert_eq "CRL ETag is the SHA-256" "\"$(sha256sum "$T/body" | cut -d' ' -f1)\"" "$etag"
last_update=$(openssl crl -inform DER -in "$T/body" -noout -lastupdate | cut -d= -f2)
next_update=$(openssl crl -inform DER -in "$T/body" -noout -nextupdate | cut -d= -f2)
want_lm=$(LC_ALL=C TZ=GMT date -d "$last_update" '+%a, %d %b %Y %H:%M:%S GMT')
assert_eq "Last-Modified is thisUpdate" "$want_lm" "$(hdr Last-Modified)"
cache=$(hdr Cache-Control)
stale=${cache##*stale-if-error=}
# max-age: http.crl_max_age_s (300; the next publication is an hour away); stale-if-error the
# rest until nextUpdate. The header was computed a moment before `left`: up to 2 s larger.
left=$(($(date -d "$next_update" +%s) - $(date +%s)))
if [[ "$cache" == "public, max-age=300, stale-if-error="* ]] && [ $((stale + 300)) -le $((left + 2)) ] &&
  [ $((stale + 300)) -ge $((left - 5)) ]; then
  pass "Cache-Control max-age is http.crl_max_age_s, stale-if-error up to nextUpdate ($cache)"
else fail "Cache-Control: '$cache', nextUpdate in $left s"; fi

assert_eq "304 on a matching If-None-Match" 304 "$(fetch GET /crl/sign.crl -H "If-None-Match: $etag")"
check_fails "304 has no body" test -s "$T/body"
assert_eq "304 keeps the ETag" "$etag" "$(hdr ETag)"
assert_eq "200 on another ETag" 200 "$(fetch GET /crl/sign.crl -H 'If-None-Match: "other"')"
assert_eq "304 on If-Modified-Since = Last-Modified" 304 \
  "$(fetch GET /crl/sign.crl -H "If-Modified-Since: $want_lm")"
older=$(LC_ALL=C TZ=GMT date -d "$last_update - 1 second" '+%a, %d %b %Y %H:%M:%S GMT')
assert_eq "200 on an older If-Modified-Since" 200 \
  "$(fetch GET /crl/sign.crl -H "If-Modified-Since: $older")"

assert_eq "HEAD auth CRL" 200 "$(head_fetch /crl/auth.crl)"
assert_eq "HEAD Content-Length is the file size" "$(stat -c %s "$DATA/crl/auth.crl")" \
  "$(hdr Content-Length)"
assert_eq "auth CRL" 200 "$(fetch GET /crl/auth.crl)"
check "openssl verifies the auth CRL" \
  openssl crl -inform DER -in "$T/body" -CAfile "$AUTH_CA" -noout

# --- refusals ---
assert_eq "unknown path: 404" 404 "$(fetch GET /nope)"
assert_eq "404 JSON body" '{"error":{"code":"not_found","message":"no such resource","field":null}}' \
  "$(cat "$T/body")"
assert_eq "no partition files with one partition: 404" 404 "$(fetch GET /crl/sign/0.crl)"
assert_eq "DELETE on a CRL: 405" 405 "$(fetch DELETE /crl/sign.crl)"
assert_eq "405 Allow" "GET, HEAD" "$(hdr Allow)"
assert_contains "405 JSON body" '"code":"method_not_allowed"' "$(cat "$T/body")"
long=$(head -c 4096 /dev/zero | tr '\0' a)
assert_eq "4097-byte target: 414" 414 "$(fetch GET "/$long")"
assert_contains "414 JSON body" '"code":"uri_too_long"' "$(cat "$T/body")"
assert_eq "4096-byte target: routed (404)" 404 "$(fetch GET "/${long:1}")"
head -c 20000 /dev/zero >"$T/big"
assert_eq "body over the public cap: 413" 413 \
  "$(fetch POST /crl/sign.crl --data-binary @"$T/big" -H 'Content-Type: application/octet-stream')"
pad=$(head -c 9000 /dev/zero | tr '\0' x)
assert_eq "header block over the cap: 400" 400 "$(fetch GET /healthz -H "X-Pad: $pad")"
assert_eq "still healthy after the refusals" 200 "$(fetch GET /healthz)"

# --- stop ---
kill -TERM "$JPKID_PID"
rc=1
for _ in $(seq 1 100); do
  if ! kill -0 "$JPKID_PID" 2>/dev/null; then
    wait "$JPKID_PID"
    rc=$?
    break
  fi
  sleep 0.1
done
JPKID_PID=
assert_eq "SIGTERM: jpkid exits 0" 0 "$rc"
assert_contains "log: listening" "INFO listening http=127.0.0.1:$PORT" "$(cat "$T/jpkid.log")"
assert_contains "log: stopped" "INFO stopped" "$(cat "$T/jpkid.log")"
check_fails "run file removed at stop" test -e "$DATA/run/http.port"
check_fails "port closed" curl -fsS "$URL/healthz"

it_finish
