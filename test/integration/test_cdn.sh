#!/usr/bin/env bash
# The CDN tier (DESIGN §13, issue 16): nginx with proxy_cache in front of two jpkid respond
# processes on one Redis that jpkid serve publishes to. (a) CRL and OCSP GET answers are cache
# hits with their headers intact; (b) a revocation shows through the cache within the max-age
# the headers promise and no later; (c) an expired entry is revalidated with a 304 and a client's
# If-None-Match gets one; (d) with both origins down the cache serves on (stale-if-error, which
# the responders send) within nextUpdate. max-age is 1 s here (http.*_max_age_s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/respond_lib.sh"
command -v nginx >/dev/null || { echo "nginx missing (scripts/setup installs nginx-light)"; exit 1; }
respond_need_publisher
it_setup
trap 'kill "$(cat "$T/nginx.pid" 2>/dev/null)" 2>/dev/null; respond_stop_all; jpkid_stop; rnode_stop_all; rm -rf "$T"' EXIT
export JPKI_CONFIG=$JPKI_SOURCE_DIR/config/jpki.example.yaml JPKI_CA_PASSPHRASE=cdn-test
MAX_AGE=1

RP=$(free_port) A_PORT=$(free_port) B_PORT=$(free_port) NP=$(free_port)
rnode_start redis "$RP" || exit 1
it_start --set "publish.redis.url=redis://127.0.0.1:$RP/0"
RS=(--set "respond.redis.url=redis://127.0.0.1:$RP/0" --set "http.ocsp_max_age_s=$MAX_AGE"
  --set "http.crl_max_age_s=$MAX_AGE")
respond_start a "$A_PORT" "${RS[@]}" || exit 1
respond_start b "$B_PORT" "${RS[@]}" || exit 1

# ---- nginx as the CDN: its own prefix, temp dirs and pid file, loopback only ----
mkdir -p "$T/nginx/tmp" "$T/nginx/cache"
# The workers run as the test's user (as root, nginx would switch them to nobody, who cannot
# enter $T).
NGINX_USER=
[ "$(id -u)" = 0 ] && NGINX_USER="user root root;"
cat >"$T/nginx/nginx.conf" <<CONF
$NGINX_USER
pid $T/nginx.pid;
error_log $T/nginx/error.log warn;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log $T/nginx/access.log;
  client_body_temp_path $T/nginx/tmp/body;
  proxy_temp_path $T/nginx/tmp/proxy;
  fastcgi_temp_path $T/nginx/tmp/fastcgi;
  uwsgi_temp_path $T/nginx/tmp/uwsgi;
  scgi_temp_path $T/nginx/tmp/scgi;
  proxy_cache_path $T/nginx/cache levels=1:2 keys_zone=jpki:1m max_size=64m inactive=1d
                   use_temp_path=off;
  upstream responders {
    server 127.0.0.1:$A_PORT max_fails=1 fail_timeout=1s;
    server 127.0.0.1:$B_PORT max_fails=1 fail_timeout=1s;
  }
  server {
    listen 127.0.0.1:$NP;
    location / {
      proxy_pass http://responders;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache jpki;
      # Freshness from the origin's Cache-Control (max-age, stale-if-error): nothing set here.
      proxy_cache_revalidate on;
      proxy_next_upstream error timeout;
      add_header X-Cache-Status \$upstream_cache_status always;
    }
  }
}
CONF
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon on;' 2>"$T/nginx/start.log" ||
  { cat "$T/nginx/start.log"; exit 1; }
CDN=http://127.0.0.1:$NP
wait_for "nginx" 10 curl -fs "$CDN/healthz" || exit 1

TOKEN=$ADMIN
SERIAL=$(respond_issue 1)
wait_for "responders ready" 10 sh -c "curl -fs http://127.0.0.1:$A_PORT/readyz"

# The GET form of one OCSP request (RFC 6960 Appendix A.1), the same URL every time.
openssl ocsp -issuer "$AUTH_CA" -cert "$T/c1.pem" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
OCSP_PATH=/ocsp/$($PY -c 'import base64,sys,urllib.parse; print(urllib.parse.quote(base64.b64encode(open(sys.argv[1],"rb").read()).decode(), safe=""))' "$T/req.der")
get() { # PATH [curl args]: headers in $T/h, body in $T/body
  local path=$1
  shift
  curl -s -D "$T/h" -o "$T/body" "$@" "$CDN$path"
}
hdr() { awk -v n="$1:" 'tolower($1) == tolower(n) {sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; exit}' "$T/h"; }
cert_status() { openssl ocsp -respin "$T/body" -resp_text -noverify 2>/dev/null | awk '/Cert Status:/ {print $3; exit}'; }

# ---- (a) hits from the cache, headers intact ----
for path in /crl/auth.crl "$OCSP_PATH"; do
  name=${path:0:5}
  get "$path"
  assert_eq "$name: first request goes to an origin" MISS "$(hdr X-Cache-Status)"
  etag=$(hdr ETag) lm=$(hdr Last-Modified) cc=$(hdr Cache-Control)
  get "$path"
  assert_eq "$name: second request is a cache hit" HIT "$(hdr X-Cache-Status)"
  assert_eq "$name: ETag intact" "$etag" "$(hdr ETag)"
  assert_eq "$name: Last-Modified intact" "$lm" "$(hdr Last-Modified)"
  assert_eq "$name: Cache-Control intact" "$cc" "$(hdr Cache-Control)"
  assert_contains "$name: max-age is the configured bound" "max-age=$MAX_AGE" "$cc"
  assert_contains "$name: stale-if-error for a CDN" "stale-if-error=" "$cc"
done
assert_eq "the cached OCSP answer says good" good "$(cert_status)"
check "the cached OCSP answer has Expires (nextUpdate)" test -n "$(hdr Expires)"

# ---- (c) 304: a client's If-None-Match, and the cache's own revalidation ----
get /crl/auth.crl
etag=$(hdr ETag)
get /crl/auth.crl -H "If-None-Match: $etag"
check "If-None-Match through the CDN: 304" grep -q "^HTTP/1.1 304" "$T/h"
sleep $((MAX_AGE + 1))
get /crl/auth.crl
assert_eq "an expired CRL entry is revalidated by a 304 from the origin" REVALIDATED \
  "$(hdr X-Cache-Status)"

# ---- (b) a revocation through the cache: within max-age at most, and no later ----
get "$OCSP_PATH" # cached good now (fresh for MAX_AGE)
call POST "/v1/certificates/$SERIAL/revoke" '{"reason":"keyCompromise"}' >/dev/null
t0=$(date +%s.%N)
wait_for "revoked through the CDN" $((MAX_AGE + 5)) sh -c \
  "curl -s '$CDN$OCSP_PATH' -o '$T/b.der' && openssl ocsp -respin '$T/b.der' -resp_text -noverify 2>/dev/null | grep -q 'Cert Status: revoked'"
dt=$($PY -c "import time; print(round(time.time()-$t0,3))")
echo "# revocation visible through the CDN after ${dt} s (max-age $MAX_AGE s)"
check "the revocation shows within max-age (+2 s: the cache counts whole seconds, we poll) " \
  $PY -c "import sys; sys.exit(0 if $dt <= $MAX_AGE + 2 else 1)"

# ---- (d) both origins down: the cache serves on within nextUpdate (stale-if-error) ----
get /crl/auth.crl
get "$OCSP_PATH"
respond_stop a
respond_stop b
sleep $((MAX_AGE + 1))
get /crl/auth.crl
assert_eq "origins down: the CRL is served stale" "200 STALE" \
  "$(head -1 "$T/h" | awk '{print $2}') $(hdr X-Cache-Status)"
get "$OCSP_PATH"
assert_eq "origins down: the OCSP answer is served stale" "200 STALE" \
  "$(head -1 "$T/h" | awk '{print $2}') $(hdr X-Cache-Status)"
assert_eq "origins down: and it is the revoked one" revoked "$(cert_status)"

it_finish
