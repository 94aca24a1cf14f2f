# Shared helpers of the benchmarks (sourced by scripts/bench/<name>). DESIGN §8.
#
# Each benchmark: bench_begin NAME "$@" (parses --smoke, installs what is missing, builds the
# release build, makes a temporary directory, arms the cleanup), then starts its servers with
# bench_spawn (every process it starts is tracked by PID and stopped at exit, whatever happens),
# measures jpki and its peer back to back, and prints one table with bench_table_*.
#
# Environment:
#   JPKI_BENCH_BUILD   build directory (default: <source>/build-bench, a Release build)
#   JPKI_BENCH_TMP     where the temporary directory goes (default: $TMPDIR or /tmp)
#   JPKI_BENCH_KEEP=1  keep the temporary directory (its path is printed)
#   JPKI_BENCH_NOBUILD=1  use the build directory as it is
#   JPKI_BENCH_EXTRA_SET=key=value  one more --set for every jpkid the benchmark serves (to
#                      measure a setting, e.g. service.workers=8; the tables do not say it)
set -uo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_LIB=$BENCH_SRC/scripts/bench
BENCH_BUILD=${JPKI_BENCH_BUILD:-$BENCH_SRC/build-bench}
JPKID=$BENCH_BUILD/jpkid
TESTDRV=$BENCH_BUILD/jpki_testdrv
BENCHLOAD=$BENCH_BUILD/jpki_benchload
KEYGENRATE=$BENCH_BUILD/jpki_keygenrate
export JPKI_CONFIG=$BENCH_SRC/config/jpki.example.yaml
export JPKI_CA_PASSPHRASE=${JPKI_CA_PASSPHRASE:-bench-passphrase}
NPROC=$(nproc 2>/dev/null || echo 2)
# python3 (the benchmarks' arithmetic, clients and helpers) resolved once to the interpreter it
# runs, first on PATH: where python3 is a pyenv shim, each of the hundred calls of a run would
# first go through a bash script and `pyenv exec` (~1 s each on a loaded machine).
BENCH_PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || BENCH_PY=python3
[[ $BENCH_PY == /* ]] && PATH=${BENCH_PY%/*}:$PATH
SMOKE=0
BENCH_PIDS=()
BENCH_NETNS_NOTE=
T=

bench_log() { echo "[$BENCH_NAME $(date +%H:%M:%S)] $*" >&2; }
bench_die() {
  echo "[$BENCH_NAME] FAILED: $*" >&2
  exit 1
}

# Debian packages the benchmarks need (idempotent; quiet when all are there).
bench_install() {
  local packages=(wrk nginx-light gnuplot-nox time openssl curl python3 iproute2 sqlite3 xxd)
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  bench_log "installing ${missing[*]}"
  local sudo=
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null &&
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    bench_die "apt-get install ${missing[*]}"
  # Where an init system runs, the nginx package starts its own service on port 80; the
  # benchmarks never use it: they run their own nginx on a free loopback port.
}

# A Release build (-O3). Warnings are not errors here: gcc -O3 sees false positives the
# test builds (RelWithDebInfo, Debug) do not, and a benchmark must not stop on them.
bench_build() {
  [ "${JPKI_BENCH_NOBUILD:-0}" = 1 ] && return 0
  bench_log "building the release build in $BENCH_BUILD"
  cmake -S "$BENCH_SRC" -B "$BENCH_BUILD" -DCMAKE_BUILD_TYPE=Release -DJPKI_WERROR=OFF \
    >/dev/null || bench_die "cmake configure"
  cmake --build "$BENCH_BUILD" -j "$NPROC" --target jpkid jpki_testdrv jpki_benchload \
    jpki_keygenrate >"$BENCH_BUILD/bench-build.log" 2>&1 ||
    { tail -30 "$BENCH_BUILD/bench-build.log" >&2; bench_die "build (log: $BENCH_BUILD/bench-build.log)"; }
}

bench_usage() {
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

# bench_begin NAME "$@": arguments, packages, build, temporary directory, cleanup. With
# BENCH_WANT_NETNS=1 the script goes on in a network namespace of its own (bench_enter_netns).
bench_begin() {
  BENCH_NAME=$1
  shift
  local orig=("$@")
  while [ $# -gt 0 ]; do
    case $1 in
    --smoke) SMOKE=1 ;;
    -h | --help) bench_usage 0 ;;
    *) echo "$BENCH_NAME: unknown argument $1" >&2; bench_usage 2 ;;
    esac
    shift
  done
  if [ "${BENCH_IN_NETNS:-0}" != 1 ]; then
    bench_install
    bench_build
  fi
  [ "${BENCH_WANT_NETNS:-0}" = 1 ] && bench_enter_netns "${orig[@]}"
  for f in "$JPKID" "$TESTDRV" "$BENCHLOAD" "$KEYGENRATE"; do
    [ -x "$f" ] || bench_die "$f missing (build first)"
  done
  T=$(mktemp -d "${JPKI_BENCH_TMP:-${TMPDIR:-/tmp}}/jpki-bench-$BENCH_NAME-XXXXXX")
  chmod 755 "$T"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  bench_log "mode: $([ $SMOKE = 1 ] && echo smoke || echo full); temporary directory $T"
}

# Runs the rest of the script in a new network namespace of its own (loopback only, up):
# `openssl ocsp -port` binds every address (OpenSSL 3.0 takes a port number only), so the
# benchmark that runs it runs where nothing but loopback exists; the servers compared share
# the namespace, so none has an advantage. Falls back to the current namespace (and says so)
# when unshare is not permitted.
bench_enter_netns() {
  [ "${BENCH_IN_NETNS:-0}" = 1 ] && return 0
  if unshare -n true 2>/dev/null && command -v ip >/dev/null; then
    BENCH_IN_NETNS=1 exec unshare -n bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
  fi
  bench_log "unshare -n is not permitted: running in the current network namespace"
  BENCH_NETNS_NOTE="(no private network namespace: openssl ocsp listened on every address)"
}

bench_cleanup() {
  local rc=$?
  local i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    bench_stop "${BENCH_PIDS[$i]}"
  done
  if [ -n "$T" ] && [ -d "$T" ]; then
    # Decrypted keys of the peers live only in $T; wipe them even when keeping the directory.
    find "$T" -name '*.peer-key.pem' -exec shred -u {} + 2>/dev/null
    if [ "${JPKI_BENCH_KEEP:-0}" = 1 ]; then
      echo "[$BENCH_NAME] kept $T" >&2
    else
      rm -rf "$T"
    fi
  fi
  exit $rc
}

# bench_spawn LOGFILE COMMAND...: starts COMMAND in the background, tracked; sets BENCH_LAST_PID.
bench_spawn() {
  local log=$1
  shift
  "$@" >>"$log" 2>&1 &
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
}

# Forgets a PID once its process is gone (so that a reused PID is never signalled).
bench_untrack() {
  local i
  for i in "${!BENCH_PIDS[@]}"; do
    [ "${BENCH_PIDS[$i]}" = "$1" ] && unset 'BENCH_PIDS[i]'
  done
  BENCH_PIDS=("${BENCH_PIDS[@]}")
}

# bench_stop PID: stops a process started here, and its children (openssl ocsp -multi forks
# its workers, nginx its worker processes): continued if stopped, TERM, then KILL after 15 s.
bench_stop() {
  local pid=$1 kids k
  kill -0 "$pid" 2>/dev/null || { bench_untrack "$pid"; return 0; }
  kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
  kill -CONT "$pid" $kids 2>/dev/null
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  for k in $kids; do
    kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null
  done
  wait "$pid" 2>/dev/null
  bench_untrack "$pid"
  return 0
}

# bench_kill PID: KILL at once a process started here and its children.
bench_kill() {
  local pid=$1 kids
  kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
  kill -KILL "$pid" $kids 2>/dev/null
  wait "$pid" 2>/dev/null
  bench_untrack "$pid"
  return 0
}

# bench_pause PID / bench_resume PID: SIGSTOP / SIGCONT a server and its children, so that an
# idle server takes no CPU (jpkid's background refresher, say) while its peer is measured.
bench_pause() {
  local pid=$1
  kill -STOP "$pid" $(pgrep -P "$pid" 2>/dev/null) 2>/dev/null
}
bench_resume() {
  local pid=$1
  kill -CONT "$pid" $(pgrep -P "$pid" 2>/dev/null) 2>/dev/null
  sleep 0.2
}

bench_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_wait_http URL [SECONDS]: until URL answers (any status).
bench_wait_http() {
  local url=$1 secs=${2:-20} i
  for ((i = 0; i < secs * 10; i++)); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

# bench_wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT (no request sent:
# one malformed request makes `openssl ocsp -multi` of OpenSSL 3.0 stop accepting).
# (Not for openssl ocsp: a connection closed before its request line leaves an OpenSSL 3.0
# responder process stuck, spinning: openssl/openssl#31129, #23934. Wait for its ACCEPT line.)
bench_wait_port() {
  local port=$1 secs=${2:-20} i
  for ((i = 0; i < secs * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ---- jpki instances ----

# jpki_init DATA_DIR [--set k=v ...]: a new instance (both CAs, registry, admin token); e.g.
# --set ca.sign.key_algorithm=ecdsa-p384 for ECDSA CAs (jpki_keyalg_sets).
jpki_init() {
  local data=$1
  shift
  "$JPKID" init --set "data_dir=$data" "$@" >"$data.init.log" 2>&1 ||
    { cat "$data.init.log" >&2; bench_die "jpkid init"; }
}

# The operator API's abuse limit (limits.api_per_minute, default 3000 per client and
# credential) would throttle a benchmark client that is one address with one token: it is
# raised to its maximum (0 would switch it off) where the configuration has it.
JPKI_SERVE_SETS=()
grep -q '^ *api_per_minute:' "$JPKI_CONFIG" && JPKI_SERVE_SETS+=(--set limits.api_per_minute=1000000)
# The same for the OCSP signature budget (limits.ocsp_signatures_per_minute, default 600 per
# client address): the nonce and cache-miss benchmarks measure signing, so it is off.
grep -q '^ *ocsp_signatures_per_minute:' "$JPKI_CONFIG" &&
  JPKI_SERVE_SETS+=(--set limits.ocsp_signatures_per_minute=0)
[ -n "${JPKI_BENCH_EXTRA_SET:-}" ] && JPKI_SERVE_SETS+=(--set "$JPKI_BENCH_EXTRA_SET")

# jpki_start DATA_DIR [--set k=v ...]: serves HTTP on a free loopback port; sets JPKI_PID and
# JPKI_URL. With --set listen.operator_http=127.0.0.1:0 among the arguments (batch files are
# larger than the public listener's body cap) JPKI_OPERATOR_URL is the operator API's listener;
# else it is JPKI_URL.
jpki_start() {
  local data=$1
  shift
  local op_file=
  [[ " $* " == *" listen.operator_http="* ]] && op_file=$data/run/operator_http.port
  rm -f "$data/run/http.port" "$data/run/operator_http.port"
  bench_spawn "$data.serve.log" "$JPKID" serve --set "data_dir=$data" \
    --set listen.http=127.0.0.1:0 "${JPKI_SERVE_SETS[@]}" "$@"
  JPKI_PID=$BENCH_LAST_PID
  local i
  for ((i = 0; i < 600; i++)); do
    if [ -s "$data/run/http.port" ] && { [ -z "$op_file" ] || [ -s "$op_file" ]; }; then
      JPKI_URL=http://127.0.0.1:$(cat "$data/run/http.port")
      JPKI_OPERATOR_URL=$JPKI_URL
      [ -n "$op_file" ] && JPKI_OPERATOR_URL=http://127.0.0.1:$(cat "$op_file")
      curl -fs -o /dev/null --max-time 1 "$JPKI_URL/healthz" && return 0
    fi
    kill -0 "$JPKI_PID" 2>/dev/null || { tail -20 "$data.serve.log" >&2; bench_die "jpkid exited"; }
    sleep 0.1
  done
  bench_die "jpkid did not come up"
}

# jpki_keyalg_sets ALG: the --set arguments, one a line, for an instance whose two CAs are ALG
# (a ca.<ca>.key_algorithm name: rsa, ecdsa-p384, ...).
jpki_keyalg_sets() {
  printf '%s\n' --set "ca.sign.key_algorithm=$1" --set "ca.auth.key_algorithm=$1"
}

jpki_stop() {
  [ -n "${JPKI_PID:-}" ] && bench_stop "$JPKI_PID"
  JPKI_PID=
}

# jpki_issue_one DATA_DIR OUTDIR: a person, a card and its two certificates through the
# real issuance path; sets SIGN_SERIAL and SIGN_CERT (PEM).
jpki_issue_one() {
  local data=$1 out=$2
  mkdir -p "$out"
  "$TESTDRV" --set "data_dir=$data" person-add bench-p1 "Yamada Taro" "Tokyo" 1980-01-01 male \
    >/dev/null || bench_die "person-add"
  "$TESTDRV" --set "data_dir=$data" card-add bench-c1 bench-p1 mynumber 2034-12-31 >/dev/null ||
    bench_die "card-add"
  SIGN_SERIAL=$("$TESTDRV" --set "data_dir=$data" issue bench-c1 both "$out" | awk '$2 == "sign" {print $3}')
  [ -n "$SIGN_SERIAL" ] || bench_die "issue"
  SIGN_CERT=$out/$SIGN_SERIAL.pem
}

# A decrypted copy of a CA-side key for a peer only (openssl ocsp / openssl ca), mode 0600,
# named *.peer-key.pem so that the cleanup shreds it.
bench_peer_key() { # ENCRYPTED_KEY OUT
  (umask 077 && openssl pkey -in "$1" -passin env:JPKI_CA_PASSPHRASE -out "$2") ||
    bench_die "cannot decrypt $1"
}

# ---- nginx, the static-file peer ----

# nginx_start DIR RESPONSE_FILE: nginx serving RESPONSE_FILE for any GET or POST on a free
# loopback port, worker processes = cores, as user nobody; sets NGINX_PID and NGINX_URL.
nginx_start() {
  local dir=$1 resp=$2 port
  mkdir -p "$dir/www"
  cp "$resp" "$dir/www/resp.der"
  chmod 755 "$dir" "$dir/www"
  chmod 644 "$dir/www/resp.der"
  port=$(bench_free_port)
  local user_line=
  [ "$(id -u)" -eq 0 ] && user_line="user nobody nogroup;"
  cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes $NPROC;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$port reuseport;
    root $dir/www;
    location / {
      default_type application/ocsp-response;
      try_files /resp.der =404;
      # The static module answers POST with 405; serve the same file instead.
      error_page 405 =200 /resp.der;
    }
  }
}
EOF
  local nginx_bin
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  bench_spawn "$dir/nginx.out" "$nginx_bin" -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;'
  NGINX_PID=$BENCH_LAST_PID
  NGINX_URL=http://127.0.0.1:$port
  bench_wait_http "$NGINX_URL/" || { cat "$dir/error.log" "$dir/nginx.out" >&2; bench_die "nginx did not come up"; }
}

# ---- wrk ----

# bench_wrk_script OUT PART...: a wrk script made of lua/common.lua and the given parts.
bench_wrk_script() {
  local out=$1
  shift
  cat "$BENCH_LIB/lua/common.lua" >"$out"
  local p
  for p in "$@"; do cat "$BENCH_LIB/lua/$p.lua" >>"$out"; done
}

# bench_wrk TAG WRK_ARGS...: runs wrk (bounded by timeout), keeps its output in $T/wrk-TAG.out
# and sets the associative array W from the script's "BENCH k=v ..." line, plus W[client_cpu_s],
# the CPU seconds (user + system) wrk itself used: on this machine the client shares the cores
# with the server it measures.
declare -A W
bench_wrk() {
  local tag=$1
  shift
  local out=$T/wrk-$tag.out
  /usr/bin/time -f '%U %S' -o "$out.cpu" timeout -k 5 300 wrk "$@" >"$out" 2>&1
  W=()
  local kv
  for kv in $(grep '^BENCH ' "$out" | tail -1 | cut -d' ' -f2-); do
    W[${kv%%=*}]=${kv#*=}
  done
  W[client_cpu_s]=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ {s = $1 + $2} END {print s + 0}' "$out.cpu")
  if [ -z "${W[rps]:-}" ]; then
    cat "$out" >&2
    bench_die "wrk $tag gave no result"
  fi
}

# ---- arithmetic and tables ----

# urlencode: stdin, percent-encoded for a URL path segment (an OCSP GET request).
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))'; }
# ocsp_status FILE: the cert status of a one-answer OCSP response ("good", ...).
ocsp_status() { openssl ocsp -respin "$1" -resp_text -noverify 2>/dev/null | awk '/Cert Status:/ {print $3; exit}'; }
calc() { python3 -c "import sys; print($*)"; }
# ratio A B: A/B with 2 decimals ("-" when B is 0 or missing).
ratio() { python3 -c "import sys; a, b = '$1', '$2'
try: print('%.2f' % (float(a) / float(b)))
except Exception: print('-')"; }
# median of the arguments.
median() { python3 -c "import statistics, sys; print('%.2f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
# pair_ratio "A1 A2 ..." "B1 B2 ...": the median of Ai/Bi (runs made back to back, round by
# round: the ratio within a round is what the machine's changing load disturbs least).
pair_ratio() {
  python3 -c "import statistics, sys
a, b = sys.argv[1].split(), sys.argv[2].split()
try: print('%.2f' % statistics.median(float(x) / float(y) for x, y in zip(a, b)))
except Exception: print('-')" "$1" "$2"
}
fmt0() { python3 -c "print(f'{float(\"$1\"):,.0f}')"; }
met() { # met VALUE TARGET (>=) -> yes/no
  python3 -c "print('met' if float('$1') >= float('$2') else 'MISSED')" 2>/dev/null || echo "-"
}
met_below() { # met_below VALUE LIMIT (<)
  python3 -c "print('met' if float('$1') < float('$2') else 'MISSED')" 2>/dev/null || echo "-"
}

# Markdown table: bench_table_head "col|col|..."; bench_table_row "v|v|...".
bench_table_head() {
  echo
  echo "| ${1//|/ | } |"
  local n
  n=$(awk -F'|' '{print NF}' <<<"$1")
  printf '|'
  for ((i = 0; i < n; i++)); do printf -- '---|'; done
  echo
}
bench_table_row() { echo "| ${1//|/ | } |"; }

bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# One line on the machine, for the record.
bench_machine() {
  local cpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  echo "machine: $NPROC cores ($cpu), $(openssl version | cut -d' ' -f1-2), load average $(bench_loadavg)"
}

# Peak RSS (MB) and wall seconds of a command: bench_time OUTFILE COMMAND... (status kept).
bench_time() {
  local out=$1
  shift
  /usr/bin/time -v -o "$out" "$@"
}
time_wall_s() { # from /usr/bin/time -v output
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$1"
}
time_rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.0f\n", $2 / 1024}' "$1"; }

# CPU seconds (user + system) a process has used so far.
proc_cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}
