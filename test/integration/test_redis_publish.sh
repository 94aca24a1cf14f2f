#!/usr/bin/env bash
# The CA node publishes to Redis (issue 16, DESIGN §13; keys: docs/ARCHITECTURE.md "Redis
# keys"), on the real jpkid and a real redis-server of the test's own (loopback, no
# persistence, a password), read with python3-redis and checked with python3-cryptography:
#   - refused at start: a publish.redis.url that does not parse (or carries a password, or is
#     not redis://), tls: true with a CA file that is not there, a password file that cannot be read — each naming its key;
#   - a wrong password does not stop the CA: /readyz fails "redis" naming the refused AUTH;
#   - issuance: once the call returns, both CertID forms' responses are in Redis (right DER,
#     signed, good, TTL = nextUpdate + 300 s), the serial in both issued sets; the roots in
#     `cas`; every file under /ca/ and /crl/ with the body, ETag and type `serve` sends;
#   - revocation: the key says revoked within a second, a `changes` message names it, and
#     the CRL republished after the change reaches Redis with its new ETag;
#   - Redis stopped: issuance and revocation succeed, /readyz names redis, /metrics shows the
#     queue; Redis restarted empty: everything is there again (the node seeds it);
#   - 1,000 revocations (one death) with Redis frozen (SIGSTOP) in the middle: after SIGCONT
#     every one is revoked in Redis, from the registry's queue.
. "$(dirname "$0")/lib.sh"
it_setup
trap 'redis_stop; it_cleanup' EXIT
it_init || exit 1
SIGN_CA=$DATA/certs/sign-ca.pem
AUTH_CA=$DATA/certs/auth-ca.pem
DB=$DATA/jpki.db
REDIS_PASSWORD=s3cret-redis-pw
redis_start --requirepass "$REDIS_PASSWORD" || exit 1
RURL=redis://127.0.0.1:$REDIS_PORT/0
PUB=(--set "publish.redis.url=$RURL" --set publish.redis.password.env=JPKI_TEST_REDIS_PW)
rcheck() { "$SYSPY" "$JPKI_SOURCE_DIR/test/integration/redis_check.py" "$REDIS_PORT" \
  "$REDIS_PASSWORD" jpki: "$@"; }
# poll SECONDS COMMAND...: runs the command every 0.05 s until it succeeds; prints the seconds
# it took (two decimals), or "never".
poll() {
  local limit=$1 start=$(date +%s%N)
  shift
  while :; do
    if "$@" >/dev/null 2>&1; then
      echo $((($(date +%s%N) - start) / 10000000)) | sed -E 's/^([0-9])$/0\1/; s/(..)$/.\1/; s/^\./0./'
      return 0
    fi
    [ $((($(date +%s%N) - start) / 1000000000)) -ge "$limit" ] && { echo never; return 1; }
    sleep 0.05
  done
}
readyz_redis() { curl -s "$URL/readyz" | jq -r '.checks.redis'; }
metric() { curl -s "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# ---- refused at start ----
refused() { # DESCRIPTION FIELD --set ...: serve exits non-zero, naming FIELD
  local what=$1 field=$2
  shift 2
  JPKI_TEST_REDIS_PW=$REDIS_PASSWORD timeout 60 "$JPKID" serve "${SETS[@]}" \
    --set listen.http=127.0.0.1:0 "$@" >"$T/refused.out" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then pass "$what: refused at start"; else
    fail "$what: not refused (exit $rc)"; fi
  assert_contains "$what: the message names $field" "$field" "$(cat "$T/refused.out")"
}
refused "a path that is no database" publish.redis.url \
  --set "publish.redis.url=redis://127.0.0.1:$REDIS_PORT/x"
refused "a password in the URL" publish.redis.url \
  --set "publish.redis.url=redis://:pw@127.0.0.1:$REDIS_PORT/0"
refused "not redis://" publish.redis.url --set "publish.redis.url=http://127.0.0.1:$REDIS_PORT/0"
refused "tls: true with a CA file that is not there" publish.redis.tls_ca \
  --set "publish.redis.url=$RURL" --set publish.redis.tls=true --set "publish.redis.tls_ca=$T/no-ca.pem"
refused "a password file that is not there" publish.redis.password.file \
  --set "publish.redis.url=$RURL" --set "publish.redis.password.file=$T/no-such-file"

# ---- a Redis that answers garbage: running, not ready, /readyz names it ----
GP=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo malformed >"$T/garbage.mode"
$PY "$JPKI_SOURCE_DIR/test/integration/redis_garbage.py" "$GP" "$REDIS_PORT" "$T/garbage.mode" \
  "*" >>"$T/garbage.log" 2>&1 &
GARBAGE_PID=$!
trap 'kill $GARBAGE_PID 2>/dev/null; redis_stop; it_cleanup' EXIT
JPKI_TEST_REDIS_PW=$REDIS_PASSWORD jpkid_start --set "publish.redis.url=redis://127.0.0.1:$GP/0" \
  --set publish.redis.password.env=JPKI_TEST_REDIS_PW || exit 1
for mode in malformed:Protocol truncated:closed oversized:unavailable; do
  echo "${mode%%:*}" >"$T/garbage.mode"
  poll 15 bash -c "curl -s '$URL/readyz' | jq -r .checks.redis | grep -q '${mode#*:}'" >/dev/null
  assert_contains "a Redis answering ${mode%%:*} replies: /readyz names it" "${mode#*:}" \
    "$(readyz_redis)"
  assert_eq "a Redis answering ${mode%%:*} replies: /readyz 503" 503 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")"
  check "a Redis answering ${mode%%:*} replies: the CA node stays up" curl -fs "$URL/healthz"
done
jpkid_stop
kill $GARBAGE_PID 2>/dev/null

# ---- a wrong password: running, not ready; right again: ready, by itself ----
# 1,000 certificates for the last part, loaded without the service; the Redis is marked as
# already seeded so that they go to Redis only when they change (that part tests the queue).
"$JPKI_BUILD_DIR/jpki_benchload" "${SETS[@]}" certs 1000 good 01 - - >"$T/benchload.out" 2>&1 ||
  { cat "$T/benchload.out"; exit 1; }
# As if their first responses had been signed long ago: only the revocation signs them.
sqlite3 "$DB" 'DELETE FROM ocsp_dirty'
rcli HSET jpki:meta seeded 1 >/dev/null
rcli CONFIG SET requirepass another-password >/dev/null
export JPKI_TEST_REDIS_PW=$REDIS_PASSWORD
jpkid_start "${PUB[@]}" --set crl.after_change_s=1 || exit 1
TOKEN=$(cat "$DATA/admin.token")
poll 10 bash -c "curl -s '$URL/readyz' | jq -r .checks.redis | grep -q AUTH" >/dev/null
assert_contains "wrong password: /readyz names the refused AUTH" "AUTH refused" "$(readyz_redis)"
assert_eq "wrong password: /readyz 503" 503 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")"
REDIS_PASSWORD=another-password rcli CONFIG SET requirepass "$REDIS_PASSWORD" >/dev/null
poll 10 bash -c "[ \"\$(curl -s '$URL/readyz' | jq -r .checks.redis)\" = ok ]" >/dev/null
assert_eq "the right password again: /readyz redis ok, without a restart" ok "$(readyz_redis)"

issue_auth() { # CARD: a new person and card, an auth certificate; SERIAL = its serial
  call POST /v1/persons "{\"id\":\"p-$1\",\"name\":\"Redis Test\",\"address\":\"Tokyo\",\"birth_date\":\"1990-01-02\",\"gender\":\"male\"}"
  call POST /v1/cards "{\"id\":\"$1\",\"person_id\":\"p-$1\",\"type\":\"mynumber\",\"expiry\":\"2034-01-31\"}"
  call POST "/v1/cards/$1/issue" '{"certificates":"auth","passwords":{"auth":"5831"}}'
  SERIAL=$(jf '.certificates[0].serial')
}
both() { # SERIAL STATUS: both CertID forms' responses in Redis have STATUS, the serial issued
  rcheck "$AUTH_CA" status "$1" | grep -qE "^$1 $2 [0-9]+ $2 [0-9]+\$"
}
issue_auth c1
S1=$SERIAL
assert_eq "issue" 201 "$ST"
t=$(poll 5 both "$S1" good)
check "after the issuance returned, both responses are good in Redis (${t}s)" both "$S1" good
out=$(rcheck "$AUTH_CA" status "$S1")
ttl=$(awk '{print $3}' <<<"$out")
check "the TTL is the response's validity + 300 s ($ttl s)" test "$ttl" -gt 86000 -a "$ttl" -le 86700
assert_eq "the serial is in both issued sets" 0 "$(grep -c notissued <<<"$out")"
assert_eq "the roots in cas; /ca/ and /crl/ files as serve sends them" ok \
  "$(rcheck "$AUTH_CA" files "$URL" /ca/sign.cer /ca/auth.cer /ca/fingerprints /crl/sign.crl /crl/auth.crl)"
assert_contains "meta published_ms" published_ms "$(rcli HKEYS jpki:meta)"

# revocation: the key, a changes message, the CRL
rcli SUBSCRIBE jpki:changes >"$T/changes.out" 2>&1 &
SUB_PID=$!
poll 5 grep -q '^1$' "$T/changes.out" >/dev/null
crl_etag() { curl -sI "$URL/crl/auth.crl" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" {print $2}'; }
etag_before=$(crl_etag)
call POST "/v1/certificates/$S1/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke" 200 "$ST"
t=$(poll 5 both "$S1" revoked)
check "revoked in Redis (seen after ${t}s)" test "$t" != never
# The service's own timing, from the API's acceptance to Redis's acknowledgement.
assert_eq "…within a second of the revocation (jpki_publish_redis_revocation_seconds)" 1 \
  "$(metric 'jpki_publish_redis_revocation_seconds_bucket{le="1"}')"
IKH=$(rcli --scan --pattern "jpki:ocsp:*:$S1" | awk -F: 'length($3) == 40 {print $3}')
t=$(poll 5 grep -q "jpki:ocsp:$IKH:$S1" "$T/changes.out")
check "a changes message names the key (${t}s)" grep -q "jpki:ocsp:$IKH:$S1" "$T/changes.out"
kill "$SUB_PID" 2>/dev/null
wait "$SUB_PID" 2>/dev/null
redis_etag() { rcli HGET jpki:file:/crl/auth.crl etag; }
t=$(poll 10 bash -c "[ \"\$(curl -sI '$URL/crl/auth.crl' | tr -d '\r' | awk -F': ' 'tolower(\$1) == \"etag\" {print \$2}')\" != '$etag_before' ]")
check "the CRL is republished after the change (${t}s)" test "$(crl_etag)" != "$etag_before"
t=$(poll 5 bash -c "[ \"\$(redis-cli -p $REDIS_PORT --no-auth-warning -a $REDIS_PASSWORD HGET jpki:file:/crl/auth.crl etag)\" = '$(crl_etag)' ]")
assert_eq "…and reaches Redis with the ETag serve sends (${t}s)" "$(crl_etag)" "$(redis_etag)"

# ---- Redis stopped ----
redis_stop
issue_auth c2
S2=$SERIAL
assert_eq "Redis stopped: issuance succeeds" 201 "$ST"
call POST "/v1/certificates/$S2/revoke" '{"reason":"affiliationChanged"}'
assert_eq "Redis stopped: revocation succeeds" 200 "$ST"
poll 10 bash -c "curl -s '$URL/readyz' | jq -r .checks.redis | grep -q 'cannot connect'" >/dev/null
assert_contains "Redis stopped: /readyz names redis" "cannot connect" "$(readyz_redis)"
poll 5 bash -c "[ \"\$(curl -s '$URL/metrics' | awk '\$1 == \"jpki_publish_redis_queue_depth\" {print \$2}')\" -ge 1 ]" >/dev/null
depth=$(metric jpki_publish_redis_queue_depth)
check "Redis stopped: /metrics shows the queue ($depth)" test "${depth:-0}" -ge 1
check "Redis stopped: /metrics shows the errors" test "$(metric jpki_publish_redis_errors_total)" -ge 1
redis_start --requirepass "$REDIS_PASSWORD" || exit 1
t=$(poll 15 both "$S2" revoked)
check "Redis restarted empty: the revocation made meanwhile is there (${t}s)" test "$t" != never
out=$(rcheck "$AUTH_CA" status "$S1"; rcheck "$AUTH_CA" files "$URL" /ca/auth.cer /crl/auth.crl)
assert_contains "…and the one from before (seeded again)" "$S1 revoked" "$out"
assert_contains "…and the files" ok "$out"
poll 5 bash -c "[ \"\$(curl -s '$URL/readyz' | jq -r .checks.redis)\" = ok ]" >/dev/null
assert_eq "…and /readyz redis is ok again" ok "$(readyz_redis)"

# ---- 1,000 revocations with Redis frozen in the middle ----
$PY -c 'for i in range(1000): print("01" + "00" * 7 + "%016X" % (i + 1))' >"$T/bulk.serials"
call POST /v1/persons/bench-p/death '{}'
assert_eq "death of the person holding 1,000 certificates" 200 "$ST"
poll 30 bash -c "[ \"\$(curl -s '$URL/metrics' | awk '\$1 == \"jpki_publish_redis_responses_total\" {print \$2}')\" -ge 100 ]" >/dev/null
kill -STOP "$REDIS_PID"
t=$(poll 120 bash -c "[ \"\$(sqlite3 '$DB' 'SELECT count(*) FROM ocsp_dirty')\" = 0 ]")
check "every revoked response signed while Redis is frozen (${t}s)" test "$t" != never
poll 15 bash -c "[ \"\$(curl -s '$URL/readyz' | jq -r .checks.redis)\" != ok ]" >/dev/null
assert_not_contains "Redis frozen: /readyz fails redis" '"redis":"ok"' "$(curl -s "$URL/readyz")"
depth=$(sqlite3 "$DB" 'SELECT count(*) FROM publish_queue')
check "Redis frozen: the rest waits in the registry's queue ($depth)" test "$depth" -ge 1
kill -CONT "$REDIS_PID"
t=$(poll 60 bash -c "[ \"\$(\"$SYSPY\" '$JPKI_SOURCE_DIR/test/integration/redis_check.py' $REDIS_PORT $REDIS_PASSWORD jpki: '$SIGN_CA' count-revoked '$T/bulk.serials')\" = 1000/1000 ]")
assert_eq "after Redis returns, every one of the 1,000 is revoked in Redis (${t}s)" 1000/1000 \
  "$(rcheck "$SIGN_CA" count-revoked "$T/bulk.serials")"
assert_eq "…and the queue is empty" 0 "$(sqlite3 "$DB" 'SELECT count(*) FROM publish_queue')"
check "the revocations' way to Redis is on /metrics" test \
  "$(metric jpki_publish_redis_revocation_seconds_count)" -ge 1000

it_finish
