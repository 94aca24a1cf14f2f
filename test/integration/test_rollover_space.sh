#!/usr/bin/env bash
# Issue 14, "a token without space": a rollover whose key store cannot take the new keys is
# refused with one sentence naming what could not be stored, and leaves nothing of itself (no
# generation row, no key file, no token object, no certificate file); the old generation still
# issues and OCSP still answers; a later rollover with space succeeds (the names are free).
#   - file backend: DATA/keys on a full tmpfs (a real ENOSPC: as root, file modes would not
#     stop a write) with one page free: the CA key is written, the OCSP signer's key fails, and
#     the CA key, root and links are removed again (no space at all: the service case below);
#   - PKCS#11 backend: the SoftHSM2 token's directory on a full tmpfs (C_GenerateKeyPair
#     fails), with no space and with room for one key pair (its objects are destroyed again);
#   - the registry refusing the row after every key and file was made (a trigger standing for a
#     full registry: the offline command opens the registry first, so a full disk under it
#     fails before the ceremony): both keys and all files removed, on the token too;
#   - the admin-socket path: a running service whose keys directory is full; space is then
#     made under it and the same service rolls over.
# The tmpfs lives in a private mount namespace of the one command (unshare -m; unprivileged,
# a user namespace), so nothing is mounted outside it and nothing needs unmounting.
# The CAs are P-384 (a key pair is made in milliseconds, on the token too: the test stays short).
. "$(dirname "$0")/lib.sh"
export JPKI_TEST_KEYALG=ecdsa-p384
it_setup

if unshare -m true 2>/dev/null; then NS=(unshare -m)
elif unshare -Urm true 2>/dev/null; then NS=(unshare -Urm)
else
  echo "skip - no private mount namespace here (unshare -m / -Urm): the full-store tests need one"
  it_finished=1
  exit 0
fi

# full_run DIR FREE_PAGES COMMAND...: runs COMMAND where DIR is a tmpfs holding a copy of DIR
# with FREE_PAGES 4 KiB pages free; the tmpfs's listing afterwards (the filler left out) in
# $T/full.ls. Returns COMMAND's status.
full_run() {
  local dir=$1 free=$2
  shift 2
  rm -rf "$T/full.save" && cp -a "$dir" "$T/full.save"
  "${NS[@]}" bash -c '
    dir=$1 save=$2 free=$3 listing=$4
    shift 4
    mount -t tmpfs -o size=1m,mode=0700 tmpfs "$dir" && cp -a "$save/." "$dir/" || exit 97
    [ "$free" -gt 0 ] && dd if=/dev/zero of="$dir/.reserve" bs=4096 count="$free" 2>/dev/null
    dd if=/dev/zero of="$dir/.fill" bs=4096 2>/dev/null
    rm -f "$dir/.reserve"
    "$@"
    rc=$?
    rm -f "$dir/.fill"
    ls -A "$dir" | tr "\\n" " " >"$listing"
    exit $rc' full_run "$dir" "$T/full.save" "$free" "$T/full.ls" "$@"
}
roll() { "$JPKID" rollover "${SETS[@]}" --ca sign --algorithm ecdsa-p384 >"$T/roll.out" 2>&1; }
full_roll() { # DIR FREE_PAGES: roll under full_run
  full_run "$1" "$2" "$JPKID" rollover "${SETS[@]}" --ca sign --algorithm ecdsa-p384 >"$T/roll.out" 2>&1
}
listing() { ls -A "$@" | tr '\n' ' '; }
gens() { sqlite3 "$DB" 'SELECT count(*) FROM ca_generations'; }
# refused WHAT STATUS STAGE CAUSE: the rollover's exit status and its one sentence.
refused() {
  assert_eq "$1: rollover exits 1" "1" "$2"
  assert_eq "…one line" 1 "$(wc -l <"$T/roll.out")"
  assert_contains "…naming what could not be stored" \
    "the sign CA's generation 2 was not made: could not store $3: " "$(cat "$T/roll.out")"
  assert_contains "…and why" "$4" "$(cat "$T/roll.out")"
  assert_contains "…and that nothing was kept" "; nothing of it was kept" "$(cat "$T/roll.out")"
  assert_eq "…no generation recorded" 2 "$(gens)"
  assert_eq "…no certificate file left" "$CERTS" "$(ls "$DATA/certs")"
}
person() {
  call POST /v1/persons "{\"id\":\"$1\",\"name\":\"満杯 花子\",\"address\":\"東京都港区1-1\",\"birth_date\":\"1985-03-04\",\"gender\":\"female\"}"
  call POST /v1/cards "{\"id\":\"$2\",\"person_id\":\"$1\",\"type\":\"mynumber\",\"expiry\":\"2034-01-31\"}"
}
# issues_on WHAT CARD GENERATION: a signing certificate issued onto CARD by that generation,
# and OCSP answering good for it, verified against that generation's root.
issues_on() {
  call POST "/v1/cards/$2/issue" '{"certificates":"sign","passwords":{"sign":"QWERTY7890"}}'
  assert_eq "$1: issued by generation $3" "201 $3" "$ST $(jf '.certificates[0].generation')"
  jf '.certificates[0].pem' >"$T/cert.pem"
  curl -fsS "$URL/ca/sign/$3.cer" | openssl x509 -inform DER -out "$T/root.pem"
  local o
  o=$(openssl ocsp -issuer "$T/root.pem" -cert "$T/cert.pem" -url "$URL/ocsp" -CAfile "$T/root.pem" -no_nonce 2>&1)
  assert_contains "…OCSP answers good, verified" "Response verify OK" "$o"
  assert_contains "…good" ": good" "$o"
}

# ---- file backend, no service running ----
it_init || exit 1
DB=$DATA/jpki.db
TOKEN=$(cat "$DATA/admin.token")
CERTS=$(ls "$DATA/certs")
KEYS=$(listing "$DATA/keys")
full_roll "$DATA/keys" 1
refused "room for the CA key only" $? "its OCSP signer" "No space left on device"
assert_eq "…the CA key written before removed again" "$KEYS" "$(cat "$T/full.ls")"
sqlite3 "$DB" "CREATE TRIGGER full_registry BEFORE INSERT ON ca_generations BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
roll
refused "the registry refusing the row" $? "it in the registry" "database or disk is full"
assert_eq "…both keys removed" "$KEYS" "$(listing "$DATA/keys")"
sqlite3 "$DB" "DROP TRIGGER full_registry"

# ---- file backend, the running service's keys directory full (admin socket) ----
REAL_JPKID=$JPKID
# The service in a namespace of its own, keys on a full tmpfs; the test reaches that tmpfs
# through /proc/PID/root (the process's view of the mounts).
printf '#!/bin/bash\nexec %s bash -c %q "$@"\n' "${NS[*]}" '
  d=$1; shift
  cp -a "$d/keys" "$d/keys.save" && mount -t tmpfs -o size=1m,mode=0700 tmpfs "$d/keys" &&
    cp -a "$d/keys.save/." "$d/keys/" && rm -rf "$d/keys.save" || exit 97
  dd if=/dev/zero of="$d/keys/.fill" bs=4096 2>/dev/null
  exec "$@"' >"$T/jpkid-full"
sed -i "s|\"\$@\"\$|full \"$DATA\" \"$REAL_JPKID\" \"\$@\"|" "$T/jpkid-full"
chmod +x "$T/jpkid-full"
JPKID=$T/jpkid-full jpkid_start || exit 1
SVC_KEYS=/proc/$JPKID_PID/root$DATA/keys
roll
refused "the service's keys directory full (admin socket)" $? "its CA key" "No space left on device"
assert_eq "…no key file left in the service's keys directory" ".fill $KEYS" "$(listing "$SVC_KEYS")"
assert_contains "…the service logged the refusal" "rollover of the sign CA refused" "$(cat "$T/jpkid.log")"
person p2 c2
issues_on "the old generation still issues" c2 1
rm -f "$SVC_KEYS/.fill"
roll
assert_eq "space made: the same service rolls over" 0 $?
assert_contains "…to generation 2" "generation 2 (ecdsa-p384) made by the running jpkid serve" "$(cat "$T/roll.out")"
person p3 c3
issues_on "…which issues" c3 2
jpkid_stop

# ---- PKCS#11 backend (SoftHSM2), no service running ----
DATA=$T/data-p11
SETS=(--set "data_dir=$DATA")
it_pkcs11_backend
JPKI_TEST_FRESH_INIT=1 it_init || exit 1 # never a template: its keys are in another token
DB=$DATA/jpki.db
CERTS=$(ls "$DATA/certs")
TOKDIR=$(ls -d "$T"/tokens/*/)
TOKDIR=${TOKDIR%/}
OBJS=$(listing "$TOKDIR")
REFS=$(ls "$DATA/token")
full_roll "$TOKDIR" 0
refused "token without space" $? "its CA key" "C_GenerateKeyPair failed"
assert_eq "…no token object left" "$OBJS" "$(cat "$T/full.ls")"
assert_eq "…no key reference left" "$REFS" "$(ls "$DATA/token")"
full_roll "$TOKDIR" 2
refused "token with room for one key pair" $? "its OCSP signer" "C_GenerateKeyPair failed"
assert_eq "…the CA key's objects destroyed again" "$OBJS" "$(cat "$T/full.ls")"
assert_eq "…its reference removed" "$REFS" "$(ls "$DATA/token")"
sqlite3 "$DB" "CREATE TRIGGER full_registry BEFORE INSERT ON ca_generations BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
roll
refused "token: the registry refusing the row" $? "it in the registry" "database or disk is full"
assert_eq "…both key pairs destroyed in the token" "$OBJS" "$(listing "$TOKDIR")"
assert_eq "…their references removed" "$REFS" "$(ls "$DATA/token")"
sqlite3 "$DB" "DROP TRIGGER full_registry"
# The old generation's key pairs are intact: the ceremony signs the link with the old key.
roll
assert_eq "token: a later rollover with space succeeds (the labels are free)" 0 $?
assert_contains "…generation 2 made" "generation 2 (ecdsa-p384) made; it issues from now" "$(cat "$T/roll.out")"
assert_eq "…recorded" 3 "$(gens)"
check "…its link 1-2 verifies under the old root (signed by the old token key)" \
  openssl verify -x509_strict -partial_chain -CAfile "$DATA/certs/sign-ca.pem" "$DATA/certs/sign-link-1-2.pem"

it_finish
