#!/usr/bin/env bash
# jpkid respond (DESIGN §13, issue 16): two stateless responders on a Sentinel-watched Redis
# primary + replica that one jpkid serve publishes to. One setup for every subtest (they are
# heavy): answers verify; a revocation reaches both responders; bad values in Redis are never
# served; a responder killed -9 leaves the other answering; a failover of the primary is
# followed without restart; with Redis down cached answers go on, uncached ones are tryLater,
# /readyz names redis, and everything recovers by itself.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/respond_lib.sh"
respond_need_publisher
it_setup
trap 'respond_stop_all; jpkid_stop; rnode_stop_all; rm -rf "$T"' EXIT
export JPKI_CONFIG=$JPKI_SOURCE_DIR/config/jpki.example.yaml JPKI_CA_PASSPHRASE=respond-test

# ---- Redis: a primary, a replica, one sentinel ----
RP=$(free_port) RR=$(free_port) SP=$(free_port) A_PORT=$(free_port) B_PORT=$(free_port)
rnode_start primary "$RP" --save 60 1 --repl-diskless-sync-delay 0 || exit 1
rnode_start replica "$RR" --replicaof 127.0.0.1 "$RP" --save 60 1 || exit 1
cat >"$T/sentinel.conf" <<CONF
port $SP
bind 127.0.0.1
dir $T
sentinel monitor jpki 127.0.0.1 $RP 1
sentinel down-after-milliseconds jpki 1000
sentinel failover-timeout jpki 4000
CONF
start_sentinel() {
  redis-sentinel "$T/sentinel.conf" >>"$T/sentinel.log" 2>&1 &
  RNODE_PID[sentinel]=$!
  wait_for "sentinel" 10 sh -c "redis-cli -p $SP ping | grep -q PONG"
}
start_sentinel || exit 1
wait_for "the replica in sync" 20 \
  sh -c "redis-cli -p $RR info replication | grep -q master_link_status:up" || exit 1
wait_for "the sentinel sees the replica" 20 \
  sh -c "redis-cli -p $SP sentinel replicas jpki | grep -q $RR" || exit 1

# ---- the CA node, publishing to the primary ----
it_start --set "publish.redis.url=redis://127.0.0.1:$RP/0"
RS=(--set respond.redis.sentinel.addresses=127.0.0.1:$SP --set respond.redis.sentinel.master=jpki)
respond_start a "$A_PORT" "${RS[@]}" || exit 1
respond_start b "$B_PORT" "${RS[@]}" || exit 1
A=http://127.0.0.1:$A_PORT B=http://127.0.0.1:$B_PORT
check "a responder never touches its data_dir" test ! -e "$T/respond-data"

TOKEN=$ADMIN
S1=$(respond_issue 1) S2=$(respond_issue 2) S3=$(respond_issue 3) S4=$(respond_issue 4)
CA=$AUTH_CA

# ---- answers ----
wait_for "both responders ready" 10 sh -c "curl -fs $A/readyz && curl -fs $B/readyz"
assert_eq "responder a answers good, verified" good "$(ocsp_word "$A" "$CA" "$T/c1.pem" -no_nonce)"
assert_eq "responder b answers good, verified" good "$(ocsp_word "$B" "$CA" "$T/c1.pem" -no_nonce)"
out=$(openssl ocsp -issuer "$CA" -cert "$T/c1.pem" -url "$A/ocsp" -CAfile "$CA" 2>&1)
assert_contains "a nonce request is answered from the pre-signed response, without the nonce" \
  "WARNING: no nonce in response" "$out"
assert_eq "a SHA-256 CertID is answered too" good \
  "$(ocsp_word "$B" "$CA" "$T/c1.pem" -no_nonce -sha256)"
out=$(openssl ocsp -issuer "$CA" -serial 0x0BADBADBAD -url "$A/ocsp" -no_nonce 2>&1)
assert_contains "a serial never issued is unauthorized (no authoritative record)" unauthorized "$out"
check "CRLs come from Redis with their ETag" sh -c "curl -fsI $A/crl/auth.crl | grep -qi '^etag: \"'"
curl -fs "$B/ca/auth.cer" | openssl x509 -inform DER -noout 2>/dev/null
check "the CA certificate comes from Redis" test "${PIPESTATUS[0]}" = 0

# ---- revocation: both responders within a second (measured; the check allows 5 s) ----
call POST "/v1/certificates/$S1/revoke" '{"reason":"keyCompromise"}' >/dev/null
t0=$(date +%s.%N)
both_revoked() {
  [ "$(ocsp_word "$A" "$CA" "$T/c1.pem" -no_nonce)" = revoked ] &&
    [ "$(ocsp_word "$B" "$CA" "$T/c1.pem" -no_nonce)" = revoked ]
}
wait_for "revoked on both responders" 5 both_revoked
check "a revocation reaches both responders" both_revoked
echo "# revocation → both responders: $($PY -c "import time; print(round(time.time()-$t0,3))") s"

# ---- bad values in Redis are never served, counted, and the responder stays up ----
key_of() { redis-cli -p "$RP" --scan --pattern "jpki:ocsp:*:$1" | awk 'length($0) < 95' | head -1; }
K2=$(key_of "$S2") K3=$(key_of "$S3")
bad() { # DESCRIPTION REASON: c2's answer must be tryLater and counted under REASON
  redis-cli -p "$RP" publish jpki:changes "$K2" >/dev/null
  local before after
  before=$(curl -s "$A/metrics" | awk -v r="reason=\"$2\"}" 'index($0, r) {print $2}')
  assert_eq "$1: not served" trylater "$(ocsp_word "$A" "$CA" "$T/c2.pem" -no_nonce)"
  after=$(curl -s "$A/metrics" | awk -v r="reason=\"$2\"}" 'index($0, r) {print $2}')
  check "$1: counted ($2)" test "$after" -gt "$before"
}
redis-cli -p "$RP" set "$K2" garbage >/dev/null
bad "garbage" der
redis-cli -p "$RP" get "$K3" | head -c -1 | redis-cli -p "$RP" -x set "$K2" >/dev/null
bad "another serial's answer" certid
head -c 2000000 /dev/zero | redis-cli -p "$RP" -x set "$K2" >/dev/null
bad "an oversized value" oversized
check "the responder stays up" curl -fs "$A/healthz"

# ---- a Redis that answers garbage (protocol level): never served, counted, still up ----
GP=$(free_port) C_PORT=$(free_port) C=http://127.0.0.1:$C_PORT
$PY "$JPKI_SOURCE_DIR/test/integration/redis_garbage.py" "$GP" "$RP" "$T/garbage.mode" "ocsp:" \
  >>"$T/garbage.log" 2>&1 &
RNODE_PID[garbage]=$!
wait_for "the garbage proxy" 10 sh -c "redis-cli -p $GP ping | grep -q PONG" || exit 1
respond_start c "$C_PORT" --set "respond.redis.url=redis://127.0.0.1:$GP/0" || exit 1
wait_for "responder c ready" 10 curl -fs "$C/readyz"
reject_count() { curl -s "$C/metrics" | awk -v r="reason=\"$1\"}" 'index($0, r) {print $2}'; }
garbage() { # MODE [REASON]: c3's answer is never served, the reply is counted, c stays up
  echo "$1" >"$T/garbage.mode"
  local reason=${2:-protocol} word
  local before=$(reject_count "$reason")
  counted() {
    word=$(ocsp_word "$C" "$CA" "$T/c3.pem" -no_nonce)
    [ "$word" = trylater ] || echo "served: $word" >>"$T/garbage.served"
    [ "$(reject_count "$reason")" -gt "$before" ]
  }
  wait_for "a reply ($1) counted" 10 counted
  check "a reply ($1): counted ($reason)" test "$(reject_count "$reason")" -gt "$before"
  check "a reply ($1): answered tryLater, never served" test ! -e "$T/garbage.served"
  check "a reply ($1): the responder stays up" curl -fs "$C/healthz"
}
peak_kb() { awk '/^VmHWM:/ {print $2}' "/proc/${RESPOND_PID[c]}/status"; }
garbage malformed
garbage truncated
garbage oversized
# A gibibyte sent whole: dropped once a value's bound (1 MiB and a little) has come, so the
# responder's peak memory barely moves (without the bound hiredis would buffer all of it).
peak_before=$(peak_kb)
garbage flood oversized
peak_growth_mb=$((($(peak_kb) - peak_before) / 1024))
echo "# responder peak RSS grew by $peak_growth_mb MB under a 1 GiB reply"
check "a 1 GiB reply: the responder's peak memory grew by < 64 MB" test "$peak_growth_mb" -lt 64
echo pass >"$T/garbage.mode"
c_good() { [ "$(ocsp_word "$C" "$CA" "$T/c3.pem" -no_nonce)" = good ]; }
wait_for "c answers again once Redis does" 10 c_good
check "after the garbage, c answers from Redis again" c_good
respond_stop c
rnode_stop garbage

# ---- kill -9 one responder under load: the other keeps answering ----
( for i in $(seq 1 30); do ocsp_word "$B" "$CA" "$T/c4.pem" -no_nonce; done >"$T/load.out" ) &
LOAD=$!
respond_stop a KILL
wait "$LOAD"
assert_eq "responder b answered every request while a was killed" 30 "$(grep -c '^good$' "$T/load.out")"

# ---- failover of the primary: the responders follow without restart ----
respond_start a "$A_PORT" "${RS[@]}" || exit 1
redis-cli -p "$RP" wait 1 5000 >/dev/null # everything published is on the replica
rnode_stop primary KILL
wait_for "the sentinel promotes the replica" 30 \
  sh -c "redis-cli -p $SP sentinel get-master-addr-by-name jpki | grep -q $RR"
wait_for "responders ready again" 15 sh -c "curl -fs $A/readyz && curl -fs $B/readyz"
assert_eq "after the failover a answers an uncached CertID" good \
  "$(ocsp_word "$A" "$CA" "$T/c4.pem" -no_nonce -sha256)"
assert_eq "after the failover b still says revoked" revoked \
  "$(ocsp_word "$B" "$CA" "$T/c1.pem" -no_nonce)"
check "b's log names the new primary" grep -q "subscribed to jpki:changes at 127.0.0.1:$RR" "$T/b.log"

# ---- Redis down: cached answers go on, uncached ones are tryLater, /readyz names redis ----
assert_eq "c4 answered (and cached) on b" good "$(ocsp_word "$B" "$CA" "$T/c4.pem" -no_nonce)"
redis-cli -p "$RR" save >/dev/null
rnode_stop sentinel
rnode_stop replica
assert_eq "Redis down: a cached answer goes on" good "$(ocsp_word "$B" "$CA" "$T/c4.pem" -no_nonce)"
assert_eq "Redis down: an uncached one is tryLater" trylater \
  "$(ocsp_word "$B" "$CA" "$T/c3.pem" -no_nonce)"
ready=$(curl -s "$B/readyz")
assert_contains "Redis down: /readyz names redis" '"redis":"' "$ready"
assert_not_contains "Redis down: /readyz is not ready" '"status":"ready"' "$ready"
rnode_start replica "$RR" --save 60 1 || exit 1  # the primary now, its data back from disk
start_sentinel || exit 1
wait_for "b recovers by itself" 20 curl -fs "$B/readyz"
assert_eq "after recovery an uncached answer comes from Redis" good \
  "$(ocsp_word "$B" "$CA" "$T/c3.pem" -no_nonce)"
check "the responders are still the same processes" kill -0 "${RESPOND_PID[b]}"

it_finish
