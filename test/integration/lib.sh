# Shared helpers of the integration tests (sourced). Each test script:
#   . "$(dirname "$0")/lib.sh"; it_setup; ...checks...; it_finish
# JPKI_BUILD_DIR (set by ctest) points at the build; a temporary instance lives in $T.
set -uo pipefail

JPKI_SOURCE_DIR=${JPKI_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
JPKI_BUILD_DIR=${JPKI_BUILD_DIR:-$JPKI_SOURCE_DIR/build}
JPKID=$JPKI_BUILD_DIR/jpkid
JPKICTL=$JPKI_BUILD_DIR/jpkictl
TESTDRV=$JPKI_BUILD_DIR/jpki_testdrv
# The Python with `cryptography` (tests name it explicitly): python3 on PATH, resolved once to
# the interpreter it runs, which also goes first on PATH for the tests' python3 scripts. Where
# python3 is a pyenv shim, every call through it first runs a bash script and `pyenv exec`
# (~0.1 s of CPU, more than Python's own start), and the tests call Python hundreds of times.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=python3
[[ $PY == /* ]] && PATH=${PY%/*}:$PATH
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
  if [ "${JPKI_TEST_BACKEND:-file}" = pkcs11 ]; then it_pkcs11_backend; fi
}

it_cleanup() {
  [ -z "$it_finished" ] && { echo "the test ended before its end, after $it_passed checks"; it_report; }
  jpkid_stop
  [ -n "${T:-}" ] && rm -rf "$T"
}

# it_init [ARGS...]: creates the instance quietly (CAs of JPKI_TEST_KEYALG when set:
# it_keyalg_sets). `jpkid init` spends most of its time generating RSA keys (~1.5 s of CPU, several
# under ASan), and most tests make the same instance, so a fresh one is kept as a template under
# the build directory, named by everything init depends on (the jpkid binary, the settings
# without data_dir, the configuration's text, the JPKI_* environment), and later tests get a copy
# of it: the same keys in a directory of their own. A template serves for two minutes (so CRLs
# and roots made at init stay as fresh as the tests expect), then the next test makes a new one.
# The pkcs11 backend (keys in this test's own token, however it was chosen: JPKI_TEST_BACKEND or
# it_pkcs11_backend) and JPKI_TEST_FRESH_INIT=1 always run jpkid init.
it_init() {
  local ka=() args key tpl
  mapfile -t ka < <(it_keyalg_sets)
  args=("${SETS[@]}" "${ka[@]}" "$@")
  if [ "${JPKI_TEST_BACKEND:-file}" != file ] || [ -n "${JPKI_TEST_FRESH_INIT:-}" ] ||
    [[ " ${args[*]} " == *" keystore.backend=pkcs11 "* ]]; then
    "$JPKID" init "${args[@]}" >"$T/init.out" 2>&1 || { cat "$T/init.out"; return 1; }
    return 0
  fi
  key=$({
    stat -c '%s %Y' "$JPKID"
    printf '%s\n' "${args[@]//"$DATA"/DATA}"
    cat "$JPKI_CONFIG"
    env | grep '^JPKI_' | grep -v '^JPKI_CONFIG=' | sort
  } | sha256sum | cut -c1-24)
  tpl=$JPKI_BUILD_DIR/it-templates/$key
  mkdir -p "$JPKI_BUILD_DIR/it-templates" "$DATA" || return 1
  (
    flock 9
    if [ -z "$(find "$tpl/made" -mmin -2 2>/dev/null)" ]; then
      rm -rf "$tpl" && mkdir -p "$tpl" || exit 1
      "$JPKID" init "${args[@]//"$DATA"/"$tpl/data"}" >"$tpl/init.out" 2>&1 || exit 1
      touch "$tpl/made"
    fi
    cp -a "$tpl/data/." "$DATA/" && cp "$tpl/init.out" "$T/init.out"
  ) 9>"$JPKI_BUILD_DIR/it-templates/$key.lock" || {
    cat "$tpl/init.out" 2>/dev/null
    return 1
  }
}

drv() { "$TESTDRV" "${SETS[@]}" "$@"; }

# it_start [jpkid_start ARGS...]: it_init, then jpkid_start; the test ends if either fails.
# Sets ADMIN (the first administrator's token), DB (the registry), SIGN_CA and AUTH_CA (the
# roots, PEM).
it_start() {
  it_init || exit 1
  jpkid_start "$@" || exit 1
  ADMIN=$(cat "$DATA/admin.token")
  DB=$DATA/jpki.db
  SIGN_CA=$DATA/certs/sign-ca.pem
  AUTH_CA=$DATA/certs/auth-ca.pem
}

# config_with_alice: JPKI_CONFIG becomes a copy of the example with one configured operator,
# alice (role operator, token "test": the example's hash).
config_with_alice() {
  sed 's/^operators: \[\]$/operators:\n  - name: alice\n    role: operator\n    token_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/' \
    "$JPKI_CONFIG" >"$T/jpki.yaml"
  export JPKI_CONFIG=$T/jpki.yaml
}

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

# ---- the operator API ---------------------------------------------------------------------
# api_call METHOD PATH [BODY [CONTENT-TYPE]]: one request to $URL with $TOKEN (no credential
# when empty). BODY is the text, or @FILE; CONTENT-TYPE defaults to application/json. Sets ST
# (the status), RB (the body) and RH (the headers). call is the same unless a test redefines it
# around api_call (expect uses call).
call() { api_call "$@"; }
api_call() {
  local args=(-s -o "$T/resp" -D "$T/hdrs" -w '%{http_code}' -X "$1")
  [ -n "${TOKEN:-}" ] && args+=(-H "Authorization: Bearer $TOKEN")
  [ $# -ge 3 ] && args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3")
  ST=$(curl "${args[@]}" "$URL$2")
  RB=$(cat "$T/resp")
  RH=$(cat "$T/hdrs")
}
jf() { jq -r "$1" <<<"$RB" 2>/dev/null; } # JQ-FILTER: applied to RB
# expect DESCRIPTION STATUS FIELD METHOD PATH [BODY]: asserts the status and the error field
# ("null" when the error names none).
expect() {
  local what=$1 status=$2 field=$3
  shift 3
  call "$@"
  assert_eq "$what: status $status" "$status" "$ST"
  assert_eq "$what: error field" "$field" "$(jf '.error.field')"
}
# ctl ARGS...: runs jpkictl with no terminal; stdout in OUT, stderr in ERR, the status in RC.
ctl() {
  "$JPKICTL" "$@" </dev/null >"$T/ctl.out" 2>"$T/ctl.err"
  RC=$?
  OUT=$(cat "$T/ctl.out")
  ERR=$(cat "$T/ctl.err")
  ALL_OUTPUT+="$OUT$ERR" # every run's output, for the checks that a secret never appears
  # DEBUG_CTL=1: every failing run's error stream, to see why (sanitizer reports included)
  if [ -n "${DEBUG_CTL:-}" ] && [ "$RC" != 0 ]; then echo "DEBUG rc=$RC: $ERR" >&2; fi
}

# batch_row KEY PERSON-ID NAME ADDRESS BIRTH-DATE GENDER CARD-ID [PASSWORDS]: one row of a
# YAML batch file (docs/BATCH.md) asking for an auth certificate on a My Number card;
# PASSWORDS "SIGN AUTH" are the holder's (none: the service generates them).
batch_row() {
  echo "  - key: $1"
  echo "    person: {id: $2, name: \"$3\", address: \"$4\", birth_date: \"$5\", gender: $6}"
  echo "    card: {id: $7, type: mynumber, expiry: \"2034-01-31\"}"
  echo "    certificates: auth"
  if [ -n "${8:-}" ]; then
    local pw
    read -r -a pw <<<"$8"
    echo "    passwords: {sign: \"${pw[0]}\", auth: \"${pw[1]}\"}"
  fi
}

# pin_recipient: a PIN-letter recipient ($T/pin.pem, its key $T/pin.key) for the batch rows
# without passwords, set as batch.pin_letter_recipient.
pin_recipient() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/pin.key" -out "$T/pin.pem" \
    -subj "/CN=PIN letters" -days 2 2>/dev/null
  SETS+=(--set "batch.pin_letter_recipient=$T/pin.pem")
}

# ---- TLS material (openssl) -----------------------------------------------------------------
# tls_server DIR: a server certificate for 127.0.0.1, DIR/server.pem and DIR/server.key.
tls_server() {
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/server.key" -out "$1/server.pem" \
    -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
  chmod 600 "$1/server.key"
}
# tls_ca DIR NAME SUBJECT: a self-signed CA, DIR/NAME.pem and DIR/NAME.key.
tls_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/$2.key" -out "$1/$2.pem" -days 2 \
    -subj "$3" 2>/dev/null
  chmod 600 "$1/$2.key"
}
# tls_client DIR NAME SUBJECT CA: a certificate issued by the CA DIR/CA.pem, DIR/NAME.pem and
# DIR/NAME.key.
tls_client() {
  openssl req -newkey rsa:2048 -nodes -keyout "$1/$2.key" -out "$1/$2.csr" -subj "$3" 2>/dev/null
  openssl x509 -req -in "$1/$2.csr" -CA "$1/$4.pem" -CAkey "$1/$4.key" -CAcreateserial \
    -out "$1/$2.pem" -days 2 2>/dev/null
  chmod 600 "$1/$2.key"
}

# ---- shared by test_api.sh and test_issue.sh (issue 12 duplicate scan) ----
# audit_edit_caught DESCRIPTION DB SEQ SET-CLAUSE: edits audit row SEQ of the SQLite file DB
# (UPDATE events SET SET-CLAUSE) and asserts that jpkid audit-verify fails naming that row.
audit_edit_caught() {
  sqlite3 "$2" "UPDATE events SET $4 WHERE seq = $3"
  check_fails "$1" "$JPKID" audit-verify "${SETS[@]}"
  assert_contains "…naming row $3" "row $3" "$(cat "$T/check.out")"
}
# expect_status DESCRIPTION STATUS METHOD PATH [BODY [CONTENT-TYPE]]: calls the API and asserts
# the HTTP status (ST, RB and RH are set as by call).
expect_status() {
  local what=$1 status=$2
  shift 2
  call "$@"
  assert_eq "$what" "$status" "$ST"
}
# it_pkcs11_backend: the instance keeps its keys in a throwaway SoftHSM2 token (keystore.backend
# pkcs11): the token "jpki-ca" (user PIN 123456, in $JPKI_HSM_PIN) under $T/tokens with its own
# SOFTHSM2_CONF, and SETS carries the keystore.pkcs11 settings. it_setup calls it when
# JPKI_TEST_BACKEND=pkcs11 (the ctest variants *.pkcs11); test_hsm.sh calls it itself. Sets
# HSM_MODULE (the module's path).
it_pkcs11_backend() {
  HSM_MODULE=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
    2>/dev/null | head -1)
  [ -n "$HSM_MODULE" ] || { echo "softhsm2 missing (scripts/setup)"; exit 1; }
  mkdir -p "$T/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$T/tokens" >"$T/softhsm2.conf"
  export SOFTHSM2_CONF=$T/softhsm2.conf JPKI_HSM_PIN=123456
  softhsm2-util --init-token --free --label jpki-ca --pin 123456 --so-pin 12345678 >/dev/null ||
    { echo "cannot create a SoftHSM2 token"; exit 1; }
  SETS+=(--set keystore.backend=pkcs11 --set "keystore.pkcs11.module=$HSM_MODULE"
    --set keystore.pkcs11.token=jpki-ca --set keystore.pkcs11.pin.env=JPKI_HSM_PIN
    --set keystore.pkcs11.sessions=4)
}

# JPKI_TEST_KEYALG=ecdsa-p384 (or any ca.<ca>.key_algorithm name): the --set lines, one a line,
# that make both CAs of the instance it_init creates of that algorithm (DESIGN §11). Unset:
# none (the configuration's rsa). CMake registers the *.p384 variants of the core tests with it.
it_keyalg_sets() {
  [ -n "${JPKI_TEST_KEYALG:-}" ] || return 0
  printf '%s\n' --set "ca.sign.key_algorithm=$JPKI_TEST_KEYALG" \
    --set "ca.auth.key_algorithm=$JPKI_TEST_KEYALG"
}
# it_keyalg_digest: the digest the instance's signatures use under JPKI_TEST_KEYALG, as openssl
# names it (sha256 for RSA, sha384 for ecdsa-p384, sha512 for ecdsa-p521).
it_keyalg_digest() {
  case "${JPKI_TEST_KEYALG:-rsa}" in
    ecdsa-p384) echo sha384 ;; ecdsa-p521) echo sha512 ;; *) echo sha256 ;;
  esac
}
# it_keyalg_check_cert CERT.pem: checks CERT is signed and keyed as JPKI_TEST_KEYALG says
# (ecdsa-with-SHA384 and a named P-384 key, ...), so that a variant never passes as RSA.
it_keyalg_check_cert() {
  local text sig key
  text=$(openssl x509 -in "$1" -noout -text)
  case "${JPKI_TEST_KEYALG:-rsa}" in
    ecdsa-p384) sig=ecdsa-with-SHA384 key="NIST CURVE: P-384" ;;
    ecdsa-p521) sig=ecdsa-with-SHA512 key="NIST CURVE: P-521" ;;
    *) sig=sha256WithRSAEncryption key="rsaEncryption" ;;
  esac
  assert_contains "$(basename "$1") is signed with $sig" "Signature Algorithm: $sig" "$text"
  assert_contains "…and holds a key of ${JPKI_TEST_KEYALG:-rsa} ($key)" "$key" "$text"
}

# ---- Redis (DESIGN §13) ---------------------------------------------------------------------
# SYSPY: Debian's Python, which has python3-redis and python3-cryptography (scripts/setup).
SYSPY=/usr/bin/python3
# redis_start [ARGS...]: a redis-server of the test's own on a free loopback port, in $T/redis,
# without persistence (ARGS added, e.g. --requirepass X); sets REDIS_PORT (kept across a
# restart) and REDIS_PID. Returns 1 when it does not answer PING within 10 s.
redis_start() {
  mkdir -p "$T/redis"
  [ -n "${REDIS_PORT:-}" ] ||
    REDIS_PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T/redis" \
    "$@" >>"$T/redis/log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" --no-auth-warning ${REDIS_PASSWORD:+-a "$REDIS_PASSWORD"} ping \
      2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  echo "redis-server did not come up:"; tail -5 "$T/redis/log"; return 1
}
# redis_stop: stops the test's redis-server (by its PID) and waits for it.
redis_stop() {
  [ -n "${REDIS_PID:-}" ] || return 0
  kill -TERM "$REDIS_PID" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
}
# rcli ARGS...: redis-cli on the test's Redis (with REDIS_PASSWORD when set).
rcli() { redis-cli -p "$REDIS_PORT" --no-auth-warning ${REDIS_PASSWORD:+-a "$REDIS_PASSWORD"} "$@"; }

# rp_load URL N CACERT REQ [curl credential args...]: N OCSP requests (REQ: a DER file) to
# URL/ocsp over one keep-alive connection (relying-party metering tests).
rp_load() {
  local url=$1 n=$2 cacert=$3 req=$4
  shift 4
  for _ in $(seq "$n"); do printf 'url = "%s/ocsp"\noutput = "/dev/null"\n' "$url"; done >"$T/load.cfg"
  curl -s --cacert "$cacert" "$@" -H 'Content-Type: application/ocsp-request' \
    --data-binary "@$req" -K "$T/load.cfg"
}
# rp_usage_wait PARTY JQ EXPECTED: polls the party's usage this month (5 s: meters flush every
# second) until JQ of it is EXPECTED; USAGE is the last value, RB the last answer.
rp_usage_wait() {
  USAGE=
  for _ in $(seq 50); do
    call GET "/v1/relying-parties/$1/usage?month=$(date -u +%Y-%m)"
    USAGE=$(jf "$2")
    [ "$USAGE" = "$3" ] && return 0
    sleep 0.1
  done
  return 1
}
