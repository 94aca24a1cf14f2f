#!/usr/bin/env bash
# Issue 7.2 acceptance: a full disk under the registry. DATA_DIR lives on a small tmpfs (as
# root, file modes would not stop a write: only a real ENOSPC is honest); it is filled with a
# dd file while jpkid serves. Then every write call is a clear 503 {"error":{"code":
# "unavailable"}}, nothing is half-applied, /readyz is 503 naming the registry check, /healthz
# stays 200, and OCSP and the CRLs keep answering from what the service has (good, revoked,
# unknown; pre-signed and with a nonce). Once the file is deleted the service recovers by
# itself: writes succeed again, /readyz is 200, the audit chain verifies.
# Then a read-only registry: DATA_DIR on a loop-mounted ext4 (errors=remount-ro) that the
# kernel turns read-only after an error (sysfs trigger_fs_error: ext4's own path, no shim).
# Writes are 503 unavailable, OCSP answers, /readyz names the registry; the service stops
# cleanly, and once the filesystem is mounted read-write again it starts with everything
# acknowledged before and nothing of the refused calls.
. "$(dirname "$0")/lib.sh"
it_setup

MNT=$T/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=16m,mode=0700 tmpfs "$MNT" 2>"$T/mount.err"; then
  echo "skip - cannot mount a tmpfs here ($(cat "$T/mount.err")): the disk-full test needs root"
  exit 0
fi
LOOP=
umount_mnt() {
  jpkid_stop
  if [ -n "$LOOP" ]; then
    umount "$T/ext4" 2>/dev/null
    losetup -d "$LOOP" 2>/dev/null
  fi
  umount "$MNT" 2>/dev/null
  it_cleanup
}
trap umount_mnt EXIT
DATA=$MNT/data
SETS=(--set "data_dir=$DATA")
it_start
TOKEN=$(cat "$DATA/admin.token")

person() { printf '{"id":"%s","name":"Full Disk","address":"Tokyo","birth_date":"1990-01-02","gender":"male"}' "$1"; }
ocsp() { # CA SERIAL [nonce]: the status word
  local extra=-no_nonce
  [ "${3:-}" = nonce ] && extra=
  openssl ocsp -issuer "$DATA/certs/$1-ca.pem" -serial "0x$2" -url "$URL/ocsp" \
    -CAfile "$DATA/certs/$1-ca.pem" $extra 2>&1 | awk -v s="0x$2:" '$1 == s {print $2; exit}'
}

call POST /v1/persons "$(person p1)"
call POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2035-01-31"}'
expect_status "before: issue both 201" 201 POST /v1/cards/c1/issue '{"certificates":"both"}'
SIGN=$(jf '.certificates[0].serial')
AUTH=$(jf '.certificates[1].serial')
# Other persons' cards: a second My Number card of p1 would return c1 (DESIGN §4).
call POST /v1/persons "$(person p12)"
call POST /v1/cards '{"id":"c2","person_id":"p12","type":"mynumber","expiry":"2035-01-31"}'
call POST /v1/cards/c2/issue '{"certificates":"auth"}'
GONE=$(jf '.certificates[0].serial')
expect_status "before: revoke 200" 200 POST "/v1/certificates/$GONE/revoke" '{"reason":"keyCompromise"}'
# One certificate never asked for over OCSP before the disk fills: a cache miss then.
call POST /v1/persons "$(person p13)"
call POST /v1/cards '{"id":"c3","person_id":"p13","type":"mynumber","expiry":"2035-01-31"}'
call POST /v1/cards/c3/issue '{"certificates":"auth"}'
COLD=$(jf '.certificates[0].serial')
assert_eq "before: OCSP good" good "$(ocsp auth "$AUTH")"
assert_eq "before: OCSP revoked" revoked "$(ocsp auth "$GONE")"
certs_before=$(sqlite3 "$DB" 'SELECT count(*) FROM certificates')
events_before=$(sqlite3 "$DB" 'SELECT count(*) FROM events')

# ---- the disk fills ----
dd if=/dev/zero of="$MNT/fill" bs=64k >/dev/null 2>&1
assert_eq "the tmpfs is full" 0 "$(df --output=avail "$MNT" | tail -1 | tr -d ' ')"

expect_unavailable() { # DESCRIPTION METHOD PATH [BODY]
  local what=$1
  shift
  call "$@"
  assert_eq "$what: 503 unavailable" "503 unavailable" "$ST $(jf .error.code)"
}
expect_unavailable "disk full: register a person" POST /v1/persons "$(person p2)"
expect_unavailable "disk full: issue" POST /v1/cards/c1/issue '{"certificates":"auth"}'
expect_unavailable "disk full: revoke" POST "/v1/certificates/$SIGN/revoke" '{"reason":"keyCompromise"}'
expect_unavailable "disk full: hold" POST /v1/cards/c1/hold '{}'
expect_unavailable "disk full: basic-info change" PUT /v1/persons/p1/basic-info \
  '{"name":"Full Disk","address":"Osaka","birth_date":"1990-01-02","gender":"male"}'
expect_unavailable "disk full: batch" POST /v1/batches \
  '{"batch":"full-1","rows":[{"key":"r1","person":{"id":"p5","name":"x","address":"y","birth_date":"1990-01-02","gender":"male"},"card":{"id":"c5","type":"mynumber","expiry":"2035-01-31"},"certificates":"auth","passwords":{"sign":"QWERTY7890","auth":"5831"}}]}'
# A read cannot be audited either (every call leaves a row): refused the same way.
expect_unavailable "disk full: a lookup (its audit row cannot be written)" GET /v1/cards/c1
assert_eq "…the message says retry later" "audit log unavailable, retry later" "$(jf .error.message)"

ST=$(curl -s -o "$T/ready" -w '%{http_code}' "$URL/readyz")
assert_eq "disk full: /readyz 503" 503 "$ST"
assert_eq "…not_ready" not_ready "$(jq -r .status "$T/ready")"
assert_contains "…the registry check names the cause" "full" "$(jq -r .checks.registry "$T/ready")"
assert_eq "…the other checks still pass" "ok ok ok" \
  "$(jq -r '[.checks.keys, .checks."crl.sign", .checks."crl.auth"]|join(" ")' "$T/ready")"
assert_eq "disk full: /healthz 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")"

assert_eq "disk full: OCSP good (pre-signed)" good "$(ocsp auth "$AUTH")"
assert_eq "disk full: OCSP good with a nonce (signed now)" good "$(ocsp sign "$SIGN" nonce)"
assert_eq "disk full: OCSP revoked" revoked "$(ocsp auth "$GONE")"
assert_eq "disk full: OCSP of a certificate not asked for before (a miss, signed now)" good \
  "$(ocsp auth "$COLD")"
assert_eq "disk full: OCSP unknown for a serial never issued" unknown \
  "$(ocsp auth 0123456789ABCDEF0123456789ABCDEF)"
assert_eq "disk full: the sign CRL is served" 200 \
  "$(curl -s -o "$T/sign.crl" -w '%{http_code}' "$URL/crl/sign.crl")"
check "…and parses" openssl crl -inform DER -in "$T/sign.crl" -noout
assert_eq "nothing was written meanwhile (certificates)" "$certs_before" \
  "$(sqlite3 "$DB" 'SELECT count(*) FROM certificates' 2>&1)"
assert_eq "…nor the person" 0 "$(sqlite3 "$DB" "SELECT count(*) FROM persons WHERE id='p2'" 2>&1)"
assert_eq "…the certificate refused a revocation is still good" 0 \
  "$(sqlite3 "$DB" "SELECT status FROM certificates WHERE serial='$SIGN'" 2>&1)"

# ---- space returns: the service recovers by itself ----
rm -f "$MNT/fill"
ok_after=
for _ in $(seq 1 50); do
  call POST /v1/persons "$(person p2)"
  if [ "$ST" = 201 ]; then ok_after=1; break; fi
  sleep 0.1
done
assert_eq "space back: register a person 201 (no restart)" 1 "$ok_after"
expect_status "space back: issue 201" 201 POST /v1/cards/c1/issue '{"certificates":"auth"}'
NEW_AUTH=$(jf '.certificates[0].serial')
expect_status "space back: revoke 200" 200 POST "/v1/certificates/$SIGN/revoke" '{"reason":"keyCompromise"}'
assert_eq "…OCSP answers the revocation" revoked "$(ocsp sign "$SIGN")"
assert_eq "…and the new certificate good" good "$(ocsp auth "$NEW_AUTH")"
ready=
for _ in $(seq 1 30); do
  if [ "$(curl -s -o "$T/ready" -w '%{http_code}' "$URL/readyz")" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
assert_eq "space back: /readyz 200" 1 "$ready"
check "events grew again" test "$(sqlite3 "$DB" 'SELECT count(*) FROM events')" -gt "$events_before"
jpkid_stop
check "audit chain verifies" "$JPKID" audit-verify "${SETS[@]}"
assert_eq "SQLite integrity check" ok "$(sqlite3 "$DB" 'PRAGMA integrity_check')"
assert_eq "jpkid logged the full registry" 1 \
  "$(grep -c -m1 'database or disk is full' "$T/jpkid.log")"

# ---- a registry gone read-only ----------------------------------------------------------------
if ! command -v losetup >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
  echo "skip - read-only registry: losetup or mkfs.ext4 missing"
else
  dd if=/dev/zero of="$MNT/ext4.img" bs=1M count=12 2>/dev/null
  mkfs.ext4 -q "$MNT/ext4.img"
  LOOP=$(losetup -f --show "$MNT/ext4.img")
  mkdir -p "$T/ext4"
  check "ext4 image mounted (errors=remount-ro)" mount -o errors=remount-ro "$LOOP" "$T/ext4"
  cp -a "$DATA" "$T/ext4/data"
  sync -f "$T/ext4/data" # on disk before the error: what is only in the page cache is lost
  DATA=$T/ext4/data
  SETS=(--set "data_dir=$DATA")
  DB=$DATA/jpki.db
  jpkid_start || exit 1
  expect_status "before: register a person 201" 201 POST /v1/persons "$(person p8)"
  # A probe that passes just before the error, and one just after it: the second must still
  # write (SQLite skips a row that does not change, and a probe value of whole seconds once
  # let it pass on a read-only disk).
  ST=$(curl -s -o "$T/ready" -w '%{http_code}' "$URL/readyz")
  assert_eq "before: /readyz 200" 200 "$ST"
  echo "jpki test" >"/sys/fs/ext4/$(basename "$LOOP")/trigger_fs_error"
  # /readyz reuses its registry write for a second (monitor.h MONITOR_PROBE_REUSE_MS): the
  # first probe after that must write again and fail.
  sleep 1.1
  ST=$(curl -s -o "$T/ready" -w '%{http_code}' "$URL/readyz")
  assert_eq "read-only: /readyz within a second 503, the registry check failing" "503 false" \
    "$ST $(jq -r '.checks.registry == "ok"' "$T/ready")"
  assert_contains "the kernel turned the filesystem read-only" "emergency_ro" \
    "$(awk -v d="$LOOP" '$1 == d {print $4}' /proc/mounts)"
  expect_unavailable "read-only: register a person" POST /v1/persons "$(person p9)"
  expect_unavailable "read-only: issue (key made by the service, into a card image)" \
    POST /v1/cards/c1/issue '{"certificates":"auth"}'
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/own.key" 2>/dev/null
  openssl req -new -key "$T/own.key" -subj /CN=holder -out "$T/own.pub"
  expect_unavailable "read-only: issue (public key supplied)" POST /v1/cards/c1/issue \
    "$(jq -cn --rawfile k "$T/own.pub" '{certificates:"auth", public_keys:{auth:$k}}')"
  expect_unavailable "read-only: revoke" POST "/v1/certificates/$NEW_AUTH/revoke" '{"reason":"keyCompromise"}'
  ST=$(curl -s -o "$T/ready" -w '%{http_code}' "$URL/readyz")
  assert_eq "read-only: /readyz 503, the registry check failing" "503 false" \
    "$ST $(jq -r '.checks.registry == "ok"' "$T/ready")"
  assert_eq "read-only: OCSP good" good "$(ocsp auth "$NEW_AUTH")"
  assert_eq "read-only: OCSP revoked" revoked "$(ocsp sign "$SIGN")"
  assert_eq "read-only: OCSP with a nonce" good "$(ocsp auth "$NEW_AUTH" nonce)"
  kill -TERM "$JPKID_PID"
  for _ in $(seq 1 50); do kill -0 "$JPKID_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$JPKID_PID"
  assert_eq "read-only: SIGTERM still stops jpkid cleanly" 0 "$?"
  JPKID_PID=
  umount "$T/ext4"
  e2fsck -fy "$LOOP" >/dev/null 2>&1
  check "the filesystem mounted read-write again" mount "$LOOP" "$T/ext4"
  jpkid_start || exit 1
  expect_status "after: the person acknowledged before is there" 200 GET /v1/persons/p8
  expect_status "…the refused one is not" 404 GET /v1/persons/p9
  call GET "/v1/certificates/$NEW_AUTH"
  assert_eq "…the refused revocation did not happen" good "$(jf .status)"
  expect_status "after: writes work again" 201 POST /v1/persons "$(person p9)"
  jpkid_stop
  check "after: audit chain verifies" "$JPKID" audit-verify "${SETS[@]}"
  assert_eq "after: SQLite integrity check" ok "$(sqlite3 "$DB" 'PRAGMA integrity_check')"
  # Mounted read-only on purpose: jpkid refuses to start, and says why.
  check "remounted read-only" mount -o remount,ro "$T/ext4"
  timeout 60 "$JPKID" serve "${SETS[@]}" --set listen.http=127.0.0.1:0 >"$T/ro-start.log" 2>&1
  assert_eq "read-only mount: jpkid serve exits 1" 1 "$?"
  assert_contains "…naming the read-only filesystem" "is on a read-only filesystem" \
    "$(cat "$T/ro-start.log")"
  mount -o remount,rw "$T/ext4"
fi
jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" \
  "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
