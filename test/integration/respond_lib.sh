# respond_lib.sh: what test_respond.sh and test_cdn.sh share (DESIGN §13), sourced after lib.sh:
# Redis servers and jpkid respond processes of the test's own on free loopback ports in $T, and
# OCSP answers as one word.

# The responders read what `jpkid serve` publishes (publish.redis, the CA node's side of issue
# 16): a build without it cannot run these tests (they say so and pass).
respond_need_publisher() {
  grep -q "publish.redis.url" "$JPKID" && return 0
  echo "SKIP: this jpkid has no publish.redis (the CA node's publisher); nothing to respond from"
  exit 0
}

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.1 s; 1 when it never passed.
wait_for() {
  local what=$1 n=$(($2 * 10)); shift 2
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $what"; return 1
}

# rnode_start NAME PORT [ARGS...]: redis-server NAME on PORT, data in $T/NAME (ARGS added,
# e.g. --replicaof); RNODE_PID[NAME] is its PID.
declare -A RNODE_PID
rnode_start() {
  local name=$1 port=$2; shift 2
  mkdir -p "$T/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$T/$name" "$@" \
    >>"$T/$name/log" 2>&1 &
  RNODE_PID[$name]=$!
  wait_for "redis $name" 10 sh -c "redis-cli -p $port ping | grep -q PONG"
}
# stop_pid PID [SIGNAL]: sends SIGNAL (TERM: a clean stop; KILL: a crash), waits at most 5 s,
# then KILL.
stop_pid() {
  [ -n "$1" ] || return 0
  kill "-${2:-TERM}" "$1" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
# rnode_stop NAME [SIGNAL]: stops it and waits.
rnode_stop() { stop_pid "${RNODE_PID[$1]:-}" "${2:-TERM}"; RNODE_PID[$1]=; }
rnode_stop_all() { for n in "${!RNODE_PID[@]}"; do rnode_stop "$n"; done; }

# respond_start NAME PORT [--set ...]: jpkid respond NAME on PORT (log $T/NAME.log);
# RESPOND_PID[NAME] is its PID. Waits for /healthz.
declare -A RESPOND_PID
respond_start() {
  local name=$1 port=$2; shift 2
  "$JPKID" respond --set "listen.http=127.0.0.1:$port" --set "data_dir=$T/respond-data" --set service.loops=1 \
    --set service.workers=2 "$@" >>"$T/$name.log" 2>&1 &
  RESPOND_PID[$name]=$!
  wait_for "jpkid respond $name" 10 curl -fs "http://127.0.0.1:$port/healthz" ||
    { tail -5 "$T/$name.log"; return 1; }
}
respond_stop() { stop_pid "${RESPOND_PID[$1]:-}" "${2:-TERM}"; RESPOND_PID[$1]=; }
respond_stop_all() { for n in "${!RESPOND_PID[@]}"; do respond_stop "$n"; done; }

# respond_issue N: through the API ($TOKEN), person pN with card cN and its authentication
# certificate; writes $T/cN.pem and prints the serial.
respond_issue() {
  call POST /v1/persons "{\"id\":\"p$1\",\"name\":\"試験 $1\",\"address\":\"東京都1-$1\",\"birth_date\":\"1990-03-04\",\"gender\":\"female\"}" >/dev/null
  call POST /v1/cards "{\"id\":\"c$1\",\"person_id\":\"p$1\",\"type\":\"mynumber\",\"expiry\":\"2034-01-31\"}" >/dev/null
  call POST "/v1/cards/c$1/issue" '{"certificates":"auth","passwords":{"auth":"5831"}}'
  jq -r '.certificates[0].pem' <<<"$RB" >"$T/c$1.pem"
  jq -r '.certificates[0].serial' <<<"$RB"
}

# ocsp_word URL ISSUER CERT [openssl ocsp options...]: "good", "revoked", "trylater",
# "unauthorized", … — the status the responder at URL gives, its signature checked against
# ISSUER ("unverified" when it does not verify).
ocsp_word() {
  local url=$1 issuer=$2 cert=$3; shift 3
  local out
  # The options come first: a digest (-sha256) applies to the -cert after it.
  out=$(openssl ocsp "$@" -issuer "$issuer" -cert "$cert" -url "$url/ocsp" -CAfile "$issuer" \
    -timeout 5 2>&1)
  case $out in
    *"Responder Error: "*) sed -n 's/.*Responder Error: \([a-zA-Z]*\).*/\1/p' <<<"$out" | head -1 ;;
    *"Response verify OK"*) awk -v c="$cert:" '$1 == c {print $2; exit}' <<<"$out" ;;
    *) echo unverified ;;
  esac
}
