#!/usr/bin/env bash
# Redis over TLS (publish.redis.tls, respond.redis.tls; responder/redis/redistls.h): a real
# redis-server and redis-sentinel on TLS ports only, asking for client certificates. The CA
# node publishes through TLS, a responder finds the primary through the sentinel over TLS and
# answers from it, a revocation reaches it; a server certificate of another CA and a missing
# client certificate are refused (not ready, the reason on /readyz); unusable TLS files stop
# jpkid at start naming the key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/respond_lib.sh"
respond_need_publisher
it_setup
trap 'respond_stop_all; jpkid_stop; rnode_stop_all; rm -rf "$T"' EXIT
export JPKI_CONFIG=$JPKI_SOURCE_DIR/config/jpki.example.yaml JPKI_CA_PASSPHRASE=redis-tls-test

# ---- certificates: a CA for Redis, the server's (IP 127.0.0.1), a client's; another CA ----
K=$T/tls
mkdir -p "$K"
mkca() { # NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/$1.key" \
    -out "$K/$1.pem" -days 2 -subj "/CN=$1" 2>/dev/null
}
mkcert() { # NAME CA EXT
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/$1.key" \
    -out "$K/$1.csr" -subj "/CN=$1" 2>/dev/null &&
    openssl x509 -req -in "$K/$1.csr" -CA "$K/$2.pem" -CAkey "$K/$2.key" -CAcreateserial \
      -days 2 -extfile <(printf '%s\n' "$3") -out "$K/$1.pem" 2>/dev/null
}
mkca redis-ca && mkca other-ca &&
  mkcert server redis-ca "subjectAltName=IP:127.0.0.1" &&
  mkcert client redis-ca "extendedKeyUsage=clientAuth" || { echo "openssl failed"; exit 1; }

# ---- Redis and a sentinel, TLS only ----
TP=$(free_port) SP=$(free_port) A_PORT=$(free_port) B_PORT=$(free_port) C_PORT=$(free_port)
TLS_FILES=(--tls-cert-file "$K/server.pem" --tls-key-file "$K/server.key"
  --tls-ca-cert-file "$K/redis-ca.pem" --tls-auth-clients yes)
rcli() { redis-cli --tls --cacert "$K/redis-ca.pem" --cert "$K/client.pem" --key "$K/client.key" "$@"; }
rping() { rcli -p "$1" ping 2>/dev/null | grep -q PONG; }
mkdir -p "$T/redis"
redis-server --port 0 --tls-port "$TP" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$T/redis" "${TLS_FILES[@]}" >>"$T/redis/log" 2>&1 &
RNODE_PID[primary]=$!
wait_for "redis over TLS" 10 rping "$TP" || { cat "$T/redis/log"; exit 1; }
check "the primary has no plaintext port" sh -c "! redis-cli -p $TP ping 2>/dev/null | grep -q PONG"
cat >"$T/sentinel.conf" <<CONF
port 0
tls-port $SP
bind 127.0.0.1
dir $T
tls-cert-file $K/server.pem
tls-key-file $K/server.key
tls-ca-cert-file $K/redis-ca.pem
tls-auth-clients yes
tls-replication yes
sentinel monitor jpki 127.0.0.1 $TP 1
CONF
redis-sentinel "$T/sentinel.conf" >>"$T/sentinel.log" 2>&1 &
RNODE_PID[sentinel]=$!
wait_for "sentinel over TLS" 10 rping "$SP" || { cat "$T/sentinel.log"; exit 1; }

# ---- the CA node publishes over TLS ----
PUB=(--set "publish.redis.url=redis://127.0.0.1:$TP/0" --set publish.redis.tls=true
  --set "publish.redis.tls_ca=$K/redis-ca.pem" --set "publish.redis.tls_cert=$K/client.pem"
  --set "publish.redis.tls_key=$K/client.key")
it_start "${PUB[@]}"
TOKEN=$ADMIN
S1=$(respond_issue 1)
published() { [ -n "$(rcli -p "$TP" --scan --pattern "jpki:ocsp:*:$S1")" ]; }
wait_for "the answer published over TLS" 10 published
check "the CA node published the answer over TLS" published
wait_for "the CA node ready" 10 curl -fs "$URL/readyz"
check "the CA node is ready (its Redis reachable over TLS)" curl -fs "$URL/readyz"

# ---- a responder finds the primary through the sentinel, both over TLS ----
RTLS=(--set respond.redis.tls=true --set "respond.redis.tls_ca=$K/redis-ca.pem"
  --set "respond.redis.tls_cert=$K/client.pem" --set "respond.redis.tls_key=$K/client.key")
respond_start a "$A_PORT" --set "respond.redis.sentinel.addresses=127.0.0.1:$SP" \
  --set respond.redis.sentinel.master=jpki "${RTLS[@]}" || exit 1
A=http://127.0.0.1:$A_PORT
wait_for "responder a ready" 10 curl -fs "$A/readyz"
assert_eq "responder a answers good over TLS Redis, verified" good \
  "$(ocsp_word "$A" "$AUTH_CA" "$T/c1.pem" -no_nonce)"
call POST "/v1/certificates/$S1/revoke" '{"reason":"keyCompromise"}' >/dev/null
a_revoked() { [ "$(ocsp_word "$A" "$AUTH_CA" "$T/c1.pem" -no_nonce)" = revoked ]; }
wait_for "revoked on responder a" 5 a_revoked
check "a revocation reaches the responder through TLS Redis" a_revoked

# ---- refusals: another CA's server certificate, no client certificate ----
not_ready() { # URL NEEDLE: not ready, and /readyz says NEEDLE
  local body
  body=$(curl -s "$1/readyz")
  [[ $body != *'"status":"ready"'* && $body == *"$2"* ]]
}
respond_start b "$B_PORT" --set "respond.redis.url=redis://127.0.0.1:$TP/0" \
  --set respond.redis.tls=true --set "respond.redis.tls_ca=$K/other-ca.pem" \
  --set "respond.redis.tls_cert=$K/client.pem" --set "respond.redis.tls_key=$K/client.key" || exit 1
B=http://127.0.0.1:$B_PORT
wait_for "b names the refused certificate" 10 not_ready "$B" "certificate verify failed"
check "a server certificate of another CA: not ready, 'certificate verify failed' on /readyz" \
  not_ready "$B" "certificate verify failed"
respond_start c "$C_PORT" --set "respond.redis.url=redis://127.0.0.1:$TP/0" \
  --set respond.redis.tls=true --set "respond.redis.tls_ca=$K/redis-ca.pem" || exit 1
C=http://127.0.0.1:$C_PORT
wait_for "c names redis" 10 not_ready "$C" '"redis":"'
check "no client certificate where Redis asks for one: not ready, redis named" \
  not_ready "$C" '"redis":"'
wait_for "c logs the TLS alert" 10 grep -q "alert certificate required" "$T/c.log"
check "…and its log has the TLS alert Redis sent" grep -q "alert certificate required" "$T/c.log"
check "…and never ready while Redis refuses it" sh -c "! curl -fs $C/readyz"

# ---- unusable TLS files stop jpkid at start, naming the key ----
start_fails() { # DESCRIPTION NEEDLE ARGS...: jpkid respond exits non-zero saying NEEDLE
  local what=$1 needle=$2 out rc; shift 2
  out=$(timeout 10 "$JPKID" respond --set listen.http=127.0.0.1:0 --set "data_dir=$T/respond-data" \
    --set "respond.redis.url=redis://127.0.0.1:$TP/0" --set respond.redis.tls=true "$@" 2>&1)
  rc=$?
  check "$what: exits non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
  assert_contains "$what: names the key" "$needle" "$out"
}
start_fails "a CA file that does not exist" respond.redis.tls_ca \
  --set "respond.redis.tls_ca=$T/nope.pem"
start_fails "a client certificate without its key" respond.redis.tls_key \
  --set "respond.redis.tls_cert=$K/client.pem"
start_fails "a key that is not the certificate's" respond.redis.tls_key \
  --set "respond.redis.tls_cert=$K/client.pem" --set "respond.redis.tls_key=$K/server.key"

it_finish
