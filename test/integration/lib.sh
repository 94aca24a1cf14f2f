# Shared helpers of the integration tests (sourced). Each test script:
#   . "$(dirname "$0")/lib.sh"; it_setup; ...checks...; it_finish
# JPKI_BUILD_DIR (set by ctest) points at the build; a temporary instance lives in $T.
set -uo pipefail

JPKI_SOURCE_DIR=${JPKI_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
JPKI_BUILD_DIR=${JPKI_BUILD_DIR:-$JPKI_SOURCE_DIR/build}
JPKID=$JPKI_BUILD_DIR/jpkid
JPKICTL=$JPKI_BUILD_DIR/jpkictl
TESTDRV=$JPKI_BUILD_DIR/jpki_testdrv
PY=python3 # the Python with `cryptography` (tests name it explicitly)
export JPKI_CONFIG=$JPKI_SOURCE_DIR/config/jpki.example.yaml
export JPKI_CA_PASSPHRASE=integration-test-passphrase

it_passed=0
it_failed=0
it_failures=() # the failed checks, repeated at the end where a truncated CI log still shows them
it_finished=
JPKID_PID=

pass() { it_passed=$((it_passed + 1)); echo "ok - $*"; }
fail() {
  it_failed=$((it_failed + 1))
  it_failures+=("$*")
  echo "FAIL - $*"
}

# check DESCRIPTION COMMAND...: passes when the command exits 0.
check() {
  local what=$1
  shift
  if "$@" >"$T/check.out" 2>&1; then pass "$what"; else
    fail "$what"; sed 's/^/    /' "$T/check.out" | head -20
  fi
}
# check_fails DESCRIPTION COMMAND...: passes when the command exits non-zero.
check_fails() {
  local what=$1
  shift
  if "$@" >"$T/check.out" 2>&1; then
    fail "$what (command succeeded)"
  else pass "$what"; fi
}
assert_eq() { # DESCRIPTION EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}
assert_contains() { # DESCRIPTION NEEDLE HAYSTACK
  if [[ "$3" == *"$2"* ]]; then pass "$1"; else
    fail "$1: '$2' not in:"
    printf '%s\n' "$3" | head -20 | sed 's/^/    /'
  fi
}
assert_not_contains() {
  if [[ "$3" != *"$2"* ]]; then pass "$1"; else fail "$1: '$2' unexpectedly present"; fi
}

it_setup() {
  T=$(mktemp -d "${TMPDIR:-/tmp}/jpki-it-XXXXXX")
  DATA=$T/data
  SETS=(--set "data_dir=$DATA")
  trap it_cleanup EXIT
}

it_cleanup() {
  [ -z "$it_finished" ] && { echo "the test ended before its end, after $it_passed checks"; it_report; }
  jpkid_stop
  [ -n "${T:-}" ] && rm -rf "$T"
}

it_init() { # creates the instance quietly
  "$JPKID" init "${SETS[@]}" "$@" >"$T/init.out" 2>&1 || { cat "$T/init.out"; return 1; }
}

drv() { "$TESTDRV" "${SETS[@]}" "$@"; }

# jpkid_start [extra --set ...]: serves on a free loopback port; sets URL. With
# --set listen.operator_http=127.0.0.1:0 among them, OPURL is the operator API's listener.
jpkid_start() {
  local op_file=
  [[ " $* " == *" listen.operator_http="* ]] && op_file=$DATA/run/operator_http.port
  rm -f "$DATA/run/http.port" "$DATA/run/operator_http.port"
  "$JPKID" serve "${SETS[@]}" --set listen.http=127.0.0.1:0 "$@" >>"$T/jpkid.log" 2>&1 &
  JPKID_PID=$!
  for _ in $(seq 1 100); do
    if [ -s "$DATA/run/http.port" ] && { [ -z "$op_file" ] || [ -s "$op_file" ]; }; then
      PORT=$(cat "$DATA/run/http.port")
      URL=http://127.0.0.1:$PORT
      OPURL=$URL
      [ -n "$op_file" ] && OPURL=http://127.0.0.1:$(cat "$op_file")
      if curl -fsS "$URL/healthz" >/dev/null 2>&1; then return 0; fi
    fi
    if ! kill -0 "$JPKID_PID" 2>/dev/null; then
      echo "jpkid exited:"; cat "$T/jpkid.log"; return 1
    fi
    sleep 0.1
  done
  echo "jpkid did not come up"; cat "$T/jpkid.log"; return 1
}

jpkid_stop() {
  if [ -n "${JPKID_PID:-}" ] && kill -0 "$JPKID_PID" 2>/dev/null; then
    kill -TERM "$JPKID_PID"
    for _ in $(seq 1 50); do kill -0 "$JPKID_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$JPKID_PID" 2>/dev/null
    wait "$JPKID_PID" 2>/dev/null
  fi
  JPKID_PID=
}

# it_report: the failed checks again, and the end of jpkid's log when something failed.
it_report() {
  [ "$it_failed" -eq 0 ] && return 0
  echo "failed checks:"
  printf '  FAIL - %s\n' "${it_failures[@]}"
  if [ -s "${T:-}/jpkid.log" ]; then
    echo "last lines of jpkid's log:"
    tail -n 15 "$T/jpkid.log" | sed 's/^/    /'
  fi
}

it_finish() {
  it_finished=1
  it_report
  echo "$it_passed passed, $it_failed failed"
  [ "$it_failed" -eq 0 ]
}
