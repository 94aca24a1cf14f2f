#!/usr/bin/env bash
# Issue 11 §2: an audit log an insider cannot rewrite. Signed checkpoints — written by init,
# every audit.checkpoint_s while serving and at a clean stop — make jpkid audit-verify fail when
# the newest row is deleted, when a row is changed and every later hash recomputed (the chain
# alone is fooled by both), and, with --against, when the registry's own checkpoints were
# removed as well. An instance made before checkpoints gets its audit key at its next start.
. "$(dirname "$0")/lib.sh"
it_setup
it_init || exit 1
DB=$DATA/jpki.db
PYCHECK=$JPKI_SOURCE_DIR/test/integration

assert_contains "init prints the audit key fingerprint" "audit key SHA-256 fingerprint:" \
  "$(cat "$T/init.out")"
FP=$(sed -n 's/^audit key SHA-256 fingerprint: //p' "$T/init.out")
check "audit-verify after init" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…one checkpoint, written by init" "1 signed checkpoint(s) verified" \
  "$(cat "$T/check.out")"
assert_contains "…the key init printed" "$FP" "$(cat "$T/check.out")"
assert_eq "the audit key rests encrypted, 0600" "600 ENCRYPTED" \
  "$(stat -c %a "$DATA/keys/audit.key") $(sed -n '1s/-----BEGIN \(ENCRYPTED\).*/\1/p' "$DATA/keys/audit.key")"

jpkid_start --set audit.checkpoint_s=1 || exit 1
ADMIN=$(cat "$DATA/admin.token")
api() { curl -s -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' "$@"; }
for i in 1 2 3; do
  api -X POST "$URL/v1/persons" -d "{\"id\":\"p$i\",\"name\":\"試験 $i\",\"address\":\"東京都千代田区1-$i\",\"birth_date\":\"1990-01-0$i\",\"gender\":\"female\"}" >/dev/null
done
sleep 2.5
n=$(sqlite3 "$DB" "SELECT count(*) FROM audit_checkpoints")
[ "$n" -ge 2 ] && pass "a checkpoint was signed while serving ($n in all)" ||
  fail "no checkpoint while serving with audit.checkpoint_s=1 ($n)"
api -X POST "$URL/v1/persons" -d '{"id":"p4","name":"試験 4","address":"東京都港区1-4","birth_date":"1980-02-03","gender":"male"}' >/dev/null
jpkid_stop
assert_eq "the clean stop signed the final checkpoint: it covers the newest row" \
  "$(sqlite3 "$DB" "SELECT max(seq) FROM events")" \
  "$(sqlite3 "$DB" "SELECT max(rows) FROM audit_checkpoints")"
check "audit-verify after the stop" "$JPKID" audit-verify "${SETS[@]}"
assert_not_contains "…no unsigned rows left" "not signed yet" "$(cat "$T/check.out")"
# The checkpoint an auditor keeps elsewhere (jpkictl audit checkpoint --out saves the same).
sqlite3 "$DB" "SELECT hex(der) FROM audit_checkpoints ORDER BY rows DESC, id DESC LIMIT 1" |
  xxd -r -p >"$T/saved.der"
check "audit-verify --against the saved checkpoint" "$JPKID" audit-verify "${SETS[@]}" --against "$T/saved.der"
cp "$DB" "$T/pristine.db"

# 1. The newest row deleted: the chain alone cannot tell, the final checkpoint can.
sqlite3 "$DB" "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events);"
check_fails "audit-verify fails after the newest row was deleted" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…saying rows were deleted" "rows were deleted" "$(cat "$T/check.out")"

# 2. Row 3's actor changed and every later hash recomputed: the signed head no longer matches.
cp "$T/pristine.db" "$DB"
check "…(an independent rewrite keeps the chain intact)" $PY "$PYCHECK/audit_rewrite.py" "$DB" 3 innocent
assert_eq "…the row now names another actor" innocent "$(sqlite3 "$DB" "SELECT actor FROM events WHERE seq = 3")"
check_fails "audit-verify fails after a rewritten chain" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…saying it was rewritten" "the log was rewritten" "$(cat "$T/check.out")"

# 3. The registry's checkpoints after init's removed too, then the newest row: only the
#    auditor's saved checkpoint sees it.
cp "$T/pristine.db" "$DB"
sqlite3 "$DB" "DELETE FROM audit_checkpoints WHERE rows > 1; DELETE FROM events WHERE seq = (SELECT max(seq) FROM events);"
check "…(the registry alone is fooled)" "$JPKID" audit-verify "${SETS[@]}"
check_fails "audit-verify --against catches it" "$JPKID" audit-verify "${SETS[@]}" --against "$T/saved.der"
assert_contains "…naming the deletion" "rows were deleted" "$(cat "$T/check.out")"
# Every checkpoint removed: an instance with an audit key always has init's.
sqlite3 "$DB" "DELETE FROM audit_checkpoints"
check_fails "audit-verify fails when every checkpoint was removed" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…saying so" "checkpoints were removed" "$(cat "$T/check.out")"
# A checkpoint file that is not one, and one signed by another key.
echo hello >"$T/bad.pem"
check_fails "audit-verify --against refuses a file that is not a checkpoint" "$JPKID" audit-verify "${SETS[@]}" --against "$T/bad.pem"
assert_contains "…naming the format" "not a checkpoint file" "$(cat "$T/check.out")"
cp "$T/pristine.db" "$DB"

# 4. An instance made before checkpoints: no audit key, no checkpoints. audit-verify checks the
#    chain alone; the next start creates the key (encrypted like the CA keys) and signs.
rm -f "$DATA/keys/audit.key" "$DATA/certs/audit-key.pem"
sqlite3 "$DB" "DELETE FROM audit_checkpoints"
check "audit-verify of an instance without an audit key" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…says truncation is not detectable" "no audit key yet" "$(cat "$T/check.out")"
jpkid_start || exit 1
jpkid_stop
[ -s "$DATA/keys/audit.key" ] && pass "the first start created the audit key" || fail "no audit key after the start"
check "audit-verify after the migration" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…with checkpoints" "signed checkpoint(s) verified" "$(cat "$T/check.out")"

it_finish
