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
# where the audit key rests: an encrypted file, or a token key named by its pkcs11: URI
AUDIT_KEY=$DATA/keys/audit.key
if [ "${JPKI_TEST_BACKEND:-file}" = pkcs11 ]; then
  AUDIT_KEY=$DATA/token/audit.uri
  assert_contains "the audit key rests in the token" "pkcs11:" "$(cat "$AUDIT_KEY")"
  check_fails "…no audit.key file" test -e "$DATA/keys/audit.key"
else
  assert_eq "the audit key rests encrypted, 0600" "600 ENCRYPTED" \
    "$(stat -c %a "$AUDIT_KEY") $(sed -n '1s/-----BEGIN \(ENCRYPTED\).*/\1/p' "$AUDIT_KEY")"
fi

jpkid_start --set audit.checkpoint_s=1 || exit 1
ADMIN=$(cat "$DATA/admin.token")
api() { curl -s -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' "$@"; }
for i in 1 2 3; do
  api -X POST "$URL/v1/persons" -d "{\"id\":\"p$i\",\"name\":\"試験 $i\",\"address\":\"東京都千代田区1-$i\",\"birth_date\":\"1990-01-0$i\",\"gender\":\"female\"}" >/dev/null
done
# Polled (5 s at most) rather than slept: the second checkpoint comes a second after the rows.
for _ in $(seq 1 50); do
  n=$(sqlite3 "$DB" "SELECT count(*) FROM audit_checkpoints")
  [ "$n" -ge 2 ] && break
  sleep 0.1
done
[ "$n" -ge 2 ] && pass "a checkpoint was signed while serving ($n in all)" ||
  fail "no checkpoint while serving with audit.checkpoint_s=1 ($n)"
api -X POST "$URL/v1/persons" -d '{"id":"p4","name":"試験 4","address":"東京都港区1-4","birth_date":"1980-02-03","gender":"male"}' >/dev/null

# ---- auditors read the log and its checkpoint (GET /v1/audit, /v1/audit/checkpoint) ----------
AUD=$(api -X POST "$URL/v1/operators" -d '{"name":"aud","role":"auditor"}' | jq -r .token)
OPT=$(api -X POST "$URL/v1/operators" -d '{"name":"op","role":"operator"}' | jq -r .token)
get() { # TOKEN PATH -> status; body in $T/resp
  curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $1" "$URL$2"
}
assert_eq "GET /v1/audit (auditor): 200" 200 "$(get "$AUD" "/v1/audit?after=0&limit=3")"
assert_eq "…three rows from the first, the next page after 3" "1 2 3 3" \
  "$(jq -r '[.rows[].seq] + [.next_after] | join(" ")' "$T/resp")"
assert_eq "…row 1 is init's, chained to zeros" "jpkid-init instance.init $(printf '0%.0s' $(seq 64))" \
  "$(jq -r '.rows[0] | "\(.actor) \(.action) \(.prev_hash)"' "$T/resp")"
assert_eq "…each row's hash is the registry's" "$(sqlite3 "$DB" "SELECT lower(hex(hash)) FROM events WHERE seq = 2")" \
  "$(jq -r '.rows[1].hash' "$T/resp")"
assert_eq "…no personal data in the rows" 0 "$(grep -c '試験' "$T/resp")"
get "$AUD" "/v1/audit?after=1000000" >/dev/null
assert_eq "…past the end: no rows, no next page" "0 null" "$(jq -r '"\(.rows | length) \(.next_after)"' "$T/resp")"
assert_eq "GET /v1/audit (admin): 200" 200 "$(get "$ADMIN" /v1/audit)"
assert_eq "GET /v1/audit (operator): 403" 403 "$(get "$OPT" /v1/audit)"
assert_eq "GET /v1/audit without a credential: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/audit")"
assert_eq "limit=0: 400 field limit" "400 limit" "$(get "$AUD" "/v1/audit?limit=0") $(jq -r .error.field "$T/resp")"
assert_eq "limit=1001: 400 field limit" "400 limit" "$(get "$AUD" "/v1/audit?limit=1001") $(jq -r .error.field "$T/resp")"
assert_eq "after=-1: 400 field after" "400 after" "$(get "$AUD" "/v1/audit?after=-1") $(jq -r .error.field "$T/resp")"
assert_eq "an unknown parameter: 400 naming it" "400 seq" "$(get "$AUD" "/v1/audit?seq=1") $(jq -r .error.field "$T/resp")"
assert_eq "GET /v1/audit/checkpoint (auditor): 200" 200 "$(get "$AUD" /v1/audit/checkpoint)"
assert_eq "…the key init printed" "$FP" "$(jq -r .audit_key_sha256 "$T/resp")"
jq -r .checkpoint "$T/resp" >"$T/api-cp.pem"
assert_contains "…the checkpoint as PEM" "BEGIN JPKI AUDIT CHECKPOINT" "$(cat "$T/api-cp.pem")"
assert_eq "…its rows are in the registry" 1 \
  "$(sqlite3 "$DB" "SELECT count(*) FROM audit_checkpoints WHERE rows = $(jq -r .rows "$T/resp")")"
assert_eq "GET /v1/audit/checkpoint (operator): 403" 403 "$(get "$OPT" /v1/audit/checkpoint)"

# jpkictl, as an auditor: the chain recomputed on the client against the signed checkpoint.
export JPKI_URL=$URL
printf '%s\n' "$AUD" >"$T/aud.token"
export JPKI_TOKEN_FILE=$T/aud.token
check "jpkictl audit verify --key-sha256 (init's fingerprint)" "$JPKICTL" audit verify --key-sha256 "$FP"
assert_contains "…recomputed" "audit log verified: rows 1.." "$(cat "$T/check.out")"
check "jpkictl audit verify (not pinned) passes" "$JPKICTL" audit verify
assert_contains "…with a warning" "not pinned" "$(cat "$T/check.out")"
check_fails "jpkictl audit verify with another pinned key fails" "$JPKICTL" audit verify \
  --key-sha256 "$(printf 'AB:%.0s' $(seq 31))AB"
check "jpkictl audit checkpoint --out" "$JPKICTL" audit checkpoint --out "$T/ctl-cp.pem"
assert_contains "…says where it is saved" "saved to $T/ctl-cp.pem" "$(cat "$T/check.out")"
check "jpkictl audit show --limit 2" "$JPKICTL" audit show --limit 2
assert_contains "…row 1" "1 " "$(head -1 "$T/check.out")"
assert_contains "…and where the next page starts" "more: --after 2" "$(cat "$T/check.out")"
unset JPKI_TOKEN_FILE
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
check "audit-verify --against the PEM jpkictl saved" "$JPKID" audit-verify "${SETS[@]}" --against "$T/ctl-cp.pem"
cp "$DB" "$T/pristine.db"
# pristine: the registry as saved above, without the write-ahead log a killed jpkid left
# (replayed onto the copy, it makes a malformed database).
pristine() { rm -f "$DB-wal" "$DB-shm"; cp "$T/pristine.db" "$DB"; }

# 1. The newest row deleted: the chain alone cannot tell, the final checkpoint can.
sqlite3 "$DB" "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events);"
check_fails "audit-verify fails after the newest row was deleted" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…saying rows were deleted" "rows were deleted" "$(cat "$T/check.out")"
# The same deletion seen by an auditor through the API (the service serves the truncated
# registry; its newest stored checkpoint still covers the deleted row).
sqlite3 "$DB" "DELETE FROM audit_checkpoints WHERE id <> (SELECT max(id) FROM audit_checkpoints)"
jpkid_start --set audit.checkpoint_s=86400 || exit 1
check_fails "jpkictl audit verify fails on the truncated log" env JPKI_TOKEN_FILE="$T/aud.token" \
  JPKI_URL="$URL" "$JPKICTL" audit verify --key-sha256 "$FP"
assert_contains "…against the signed checkpoint" "checkpoint" "$(cat "$T/check.out")"
assert_contains "the service refused to sign over the shorter log" "no checkpoint signed" "$(cat "$T/jpkid.log")"
kill -KILL "$JPKID_PID"; wait "$JPKID_PID" 2>/dev/null; JPKID_PID=

# 2. Row 3's actor changed and every later hash recomputed: the signed head no longer matches.
pristine
check "…(an independent rewrite keeps the chain intact)" $PY "$PYCHECK/audit_rewrite.py" "$DB" 3 innocent
assert_eq "…the row now names another actor" innocent "$(sqlite3 "$DB" "SELECT actor FROM events WHERE seq = 3")"
check_fails "audit-verify fails after a rewritten chain" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…saying it was rewritten" "the log was rewritten" "$(cat "$T/check.out")"

# 3. The registry's checkpoints after init's removed too, then the newest row: only the
#    auditor's saved checkpoint sees it.
pristine
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
pristine

# 4. An instance made before checkpoints: no audit key, no checkpoints. audit-verify checks the
#    chain alone; the next start creates the key (encrypted like the CA keys) and signs.
rm -f "$AUDIT_KEY" "$DATA/certs/audit-key.pem"
if [ "${JPKI_TEST_BACKEND:-file}" = pkcs11 ]; then # and the key pair out of the token
  for type in privkey pubkey; do
    pkcs11-tool --module "$HSM_MODULE" --token-label jpki-ca --login --pin "$JPKI_HSM_PIN" \
      --delete-object --type $type --label "jpki audit g1" >/dev/null 2>&1
  done
fi
sqlite3 "$DB" "DELETE FROM audit_checkpoints"
check "audit-verify of an instance without an audit key" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…says truncation is not detectable" "no audit key yet" "$(cat "$T/check.out")"
jpkid_start || exit 1
jpkid_stop
[ -s "$AUDIT_KEY" ] && pass "the first start created the audit key" || fail "no audit key after the start"
check "audit-verify after the migration" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…with checkpoints" "signed checkpoint(s) verified" "$(cat "$T/check.out")"

it_finish
