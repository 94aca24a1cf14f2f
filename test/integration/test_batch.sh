#!/usr/bin/env bash
# Issue 4 acceptance: batches in the real jpkid (docs/API.md, docs/BATCH.md) — a YAML file of
# 50 rows with 3 bad ones (202 with the 3 problems, exact rows and fields; the 47 others
# issued, once each); OCSP answering while the batch runs; resubmission issuing nothing twice
# (200), the same key with other rows (409); a JSON batch; paging of the rows; the refusals
# (malformed file 400 with nothing recorded, roles, unknown batch, bad query, body cap); a
# kill -9 in the middle of a batch, resumed at the next start (with several jobs on the batch)
# with every row exactly once and the audit chain intact; no personal data in the audit log.
. "$(dirname "$0")/lib.sh"
it_setup
# Rows without passwords get generated ones, sent only as PIN letters to this recipient.
pin_recipient
it_start

sql() { sqlite3 "$DB" "$1"; }
# wait_state ID JQ-CONDITION SECONDS: polls GET /v1/batches/ID until the condition holds.
wait_for() {
  local id=$1 cond=$2 secs=$3
  for _ in $(seq 1 $((secs * 10))); do
    call GET "/v1/batches/$id?limit=1"
    [ "$(jf "$cond")" = true ] && return 0
    sleep 0.1
  done
  return 1
}

# gen_yaml KEY ROWS PREFIX [BAD]: a batch file of ROWS rows, each registering person
# PREFIX-P-n with card PREFIX-C-n and asking for an auth certificate. With BAD, rows 17, 33
# and 50 are broken the ways docs/BATCH.md shows. (Every row costs a key generation: the
# batches are as small as what they prove allows.)
gen_yaml() {
  local key=$1 n=$2 prefix=$3 bad=${4:-}
  echo "batch: \"$key\""
  echo "rows:"
  for i in $(seq 1 "$n"); do
    local birth="1980-01-$(printf '%02d' $((i % 28 + 1)))" gender=female type="type: mynumber, "
    if [ -n "$bad" ]; then
      [ "$i" = 17 ] && birth=1980-02-30
      [ "$i" = 33 ] && type=""
      [ "$i" = 50 ] && gender=other
    fi
    printf '  - key: "r%d"\n' "$i"
    printf '    person: {id: "%s-P-%d", name: "試験 花子%d", address: "東京都千代田区霞が関%d", birth_date: "%s", gender: %s}\n' \
      "$prefix" "$i" "$i" "$i" "$birth" "$gender"
    printf '    card: {id: "%s-C-%d", %sexpiry: "2034-01-02"}\n' "$prefix" "$i" "$type"
    printf '    certificates: auth\n'
  done
}

TOKEN=$ADMIN

# ---------------------------------------------------------------------------------------------
# Malformed files: 400, nothing recorded
printf 'batch: "x"\nrows:\n\t- key: a\n' >"$T/tab.yaml"
call POST /v1/batches "@$T/tab.yaml" application/yaml
assert_eq "YAML syntax error: 400" 400 "$ST"
assert_eq "…code invalid, field file" "invalid file" "$(jf '"\(.error.code) \(.error.field)"')"
assert_contains "…message names the line" "line 3" "$(jf .error.message)"
printf '{"batch":"x","rows":[' >"$T/cut.json"
call POST /v1/batches "@$T/cut.json" application/json
assert_eq "truncated JSON: 400" 400 "$ST"
printf 'batch: "x"\nrows: []\n' >"$T/norows.yaml"
call POST /v1/batches "@$T/norows.yaml" text/yaml
assert_eq "no rows: 400" 400 "$ST"
gen_yaml "x-yaml" 1 X >"$T/x.yaml"
call POST /v1/batches "@$T/x.yaml" application/json
assert_eq "YAML sent as application/json: 400 (the type decides)" 400 "$ST"
assert_eq "nothing recorded for refused files" 0 "$(sql 'SELECT count(*) FROM batches')"
head -c $((16 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/huge.yaml"
call POST /v1/batches "@$T/huge.yaml" application/yaml
assert_eq "body over 16 MiB: 413" 413 "$ST"

# ---------------------------------------------------------------------------------------------
# 50 rows, 3 of them bad
gen_yaml "it-50" 50 A bad >"$T/b50.yaml"
call POST /v1/batches "@$T/b50.yaml" application/yaml
assert_eq "batch of 50 with 3 bad rows: 202" 202 "$ST"
ID=$(jf .id)
assert_eq "…key, total, accepted" "it-50 50 47" "$(jf '"\(.key) \(.total) \(.accepted)"')"
assert_eq "…3 problems with their rows and fields" \
  "17 rows[16].person.birth_date|33 rows[32].card.type|50 rows[49].person.gender" \
  "$(jf '[.problems[]|"\(.row) \(.field)"]|join("|")')"
assert_eq "…the messages" \
  'rows[16].person.birth_date: "1980-02-30" is not a calendar day YYYY-MM-DD|rows[32].card.type: required' \
  "$(jf '[.problems[0,1].message]|join("|")')"
assert_eq "submission audited with the batch id" 1 \
  "$(sql "SELECT count(*) FROM events WHERE action='POST /v1/batches' AND target='$ID' AND outcome='ok' AND detail='status=202 via=token'")"

# OCSP answers while the batch runs: the first row's certificate, with openssl ocsp.
# Rows run in parallel: wait for row 1 itself, not for any row.
for _ in $(seq 1 600); do
  call GET "/v1/batches/$ID?limit=1"
  [ "$(jf '.rows[0].state')" = done ] && break
  sleep 0.1
done
SERIAL=$(jf '.rows[0].serials[0]')
assert_eq "row 1 done with one serial" "1 r1 done 1" \
  "$(jf '"\(.rows[0].row) \(.rows[0].key) \(.rows[0].state) \(.rows[0].serials|length)"')"
call GET "/v1/certificates/$SERIAL"
jf .pem >"$T/first.pem"
ocsp_out=$(openssl ocsp -issuer "$AUTH_CA" -cert "$T/first.pem" -url "$URL/ocsp" -CAfile "$AUTH_CA" \
  -timeout 5 2>&1)
call GET "/v1/batches/$ID?limit=1"
state_after=$(jf .state)
pending_after=$(jf .pending)
assert_contains "OCSP answers good during the batch" "$T/first.pem: good" "$ocsp_out"
assert_eq "…while the batch was still running" running "$state_after"
assert_eq "progress adds up while running" 50 "$(jf '.done + .failed + .pending')"
[ "$pending_after" -gt 0 ] && pass "…rows still pending ($pending_after)" || fail "no row pending"

wait_for "$ID" '.state == "done"' 240 || fail "batch not done within 240 s"
call GET "/v1/batches/$ID"
assert_eq "done: 47 done, 3 failed, 0 pending" "done 50 47 3 0" \
  "$(jf '"\(.state) \(.total) \(.done) \(.failed) \(.pending)"')"
assert_eq "…all 50 rows in one page" 50 "$(jf '.rows|length')"
assert_eq "…bad rows failed with invalid, key unknown" \
  "17 null invalid rows[16].person.birth_date|33 null invalid rows[32].card.type|50 null invalid rows[49].person.gender" \
  "$(jf '[.rows[]|select(.state=="failed")|"\(.row) \(.key) \(.error.code) \(.error.field)"]|join("|")')"
assert_eq "…good rows have one serial and no error" 47 \
  "$(jf '[.rows[]|select(.state=="done" and (.serials|length)==1 and .error==null)]|length')"
assert_eq "registry: 47 certificates for the batch's cards" 47 \
  "$(sql "SELECT count(*) FROM certificates WHERE card_id LIKE 'A-C-%'")"
assert_eq "…one per card" 0 \
  "$(sql "SELECT count(*) FROM (SELECT card_id FROM certificates WHERE card_id LIKE 'A-C-%' GROUP BY card_id HAVING count(*) != 1)")"
assert_eq "…none for the bad rows' cards" 0 \
  "$(sql "SELECT count(*) FROM certificates WHERE card_id IN ('A-C-17','A-C-33','A-C-50')")"
assert_eq "…row serials are the registry's" 47 \
  "$(jf '.rows[]|select(.state=="done")|.serials[0]' | while read -r s; do sql "SELECT card_id FROM certificates WHERE serial='$s'"; done | sort -u | wc -l)"
assert_eq "finished rows keep no request (personal data)" 0 \
  "$(sql "SELECT count(*) FROM batch_rows WHERE batch_id=$ID AND request IS NOT NULL")"
assert_eq "…nor any claim" 0 "$(sql "SELECT count(*) FROM batch_rows WHERE batch_id=$ID AND claimed_until IS NOT NULL")"
assert_eq "finish audited" 1 \
  "$(sql "SELECT count(*) FROM events WHERE action='batch.finish' AND target='$ID' AND detail='key=it-50 total=50 done=47 failed=3'")"

# Paging
call GET "/v1/batches/$ID?offset=40&limit=5"
assert_eq "paging: rows 41..45" "41 42 43 44 45" "$(jf '[.rows[].row]|join(" ")')"
assert_eq "…offset and limit echoed" "40 5" "$(jf '"\(.offset) \(.limit)"')"
call GET "/v1/batches/$ID?offset=50"
assert_eq "…past the end: empty page, counts still there" "0 50" "$(jf '"\(.rows|length) \(.total)"')"
call GET "/v1/batches/$ID?limit=0"
assert_eq "limit 0: 400 field limit" "400 limit" "$ST $(jf .error.field)"
call GET "/v1/batches/$ID?limit=1001"
assert_eq "limit 1001: 400" 400 "$ST"
call GET "/v1/batches/$ID?page=2"
assert_eq "unknown parameter: 400 field page" "400 page" "$ST $(jf .error.field)"
call GET /v1/batches/999999
assert_eq "unknown batch: 404 field batch_id" "404 batch_id" "$ST $(jf .error.field)"
call GET /v1/batches/abc
assert_eq "non-numeric batch id: 404" 404 "$ST"
call GET /v1/batches/a%2Fb
assert_eq "id with %2F: 400 field id" "400 id" "$ST $(jf .error.field)"

# ---------------------------------------------------------------------------------------------
# Resubmission: the same file again issues nothing; the same key with other rows is refused
before=$(sql "SELECT count(*) FROM certificates")
call POST /v1/batches "@$T/b50.yaml" application/yaml
assert_eq "same file again: 200" 200 "$ST"
assert_eq "…the same batch, as it stands" "$ID done 47 3" "$(jf '"\(.id) \(.state) \(.done) \(.failed)"')"
assert_eq "…with its problems" 3 "$(jf '.problems|length')"
sleep 1
assert_eq "…no certificate issued twice" "$before" "$(sql "SELECT count(*) FROM certificates")"
assert_eq "…one batch of that key" 1 "$(sql "SELECT count(*) FROM batches WHERE key='it-50'")"
sed 's/certificates: auth/certificates: both/' "$T/b50.yaml" >"$T/b50-both.yaml"
call POST /v1/batches "@$T/b50-both.yaml" application/yaml
assert_eq "same key, other rows: 409 conflict field batch" "409 conflict batch" \
  "$ST $(jf .error.code) $(jf .error.field)"
assert_eq "…nothing issued" "$before" "$(sql "SELECT count(*) FROM certificates")"

# ---------------------------------------------------------------------------------------------
# A JSON batch (sniffed: curl's default form type), and the same rows again as YAML. Two
# persons: a second My Number card of one person would return the first (DESIGN §4).
cat >"$T/j.json" <<'EOF'
{"batch": "it-json", "rows": [
  {"key": "j1", "person": {"id": "J-P-1", "name": "鈴木 一郎", "address": "大阪府大阪市北区中之島1-3-20",
   "birth_date": "1975-12-31", "gender": "unstated"},
   "card": {"id": "J-C-1", "type": "mynumber", "expiry": "2031-05-05", "prefecture": "大阪府", "municipality": "大阪市"},
   "certificates": "both", "passwords": {"sign": "QWERTY7890", "auth": "5831"}},
  {"key": "j2", "person": {"id": "J-P-2", "name": "鈴木 一郎", "address": "大阪府大阪市北区中之島1-3-20",
   "birth_date": "1975-12-31", "gender": "unstated"},
   "card": {"id": "J-C-2", "type": "mynumber", "expiry": "2031-05-05"},
   "certificates": ["sign"]}
]}
EOF
ST=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" --data-binary "@$T/j.json" "$URL/v1/batches")
RB=$(cat "$T/resp")
assert_eq "JSON batch (form type, sniffed): 202" "202 2 2 0" "$ST $(jf .total) $(jf .accepted) $(jf '.problems|length')"
JID=$(jf .id)
wait_for "$JID" '.state == "done"' 60 || fail "JSON batch not done"
call GET "/v1/batches/$JID"
assert_eq "…both rows done: 2 + 1 serials" "done 2|1" \
  "$(jf '"\(.state) \([.rows[].serials|length]|join("|"))"')"
assert_eq "…J-C-1 has sign and auth, J-C-2 sign" "J-C-1:0,1|J-C-2:0" \
  "$(sql "SELECT card_id || ':' || group_concat(ca, ',') FROM (SELECT card_id, ca FROM certificates WHERE card_id LIKE 'J-C-%' ORDER BY card_id, ca) GROUP BY card_id ORDER BY card_id" | paste -sd'|')"
# Card images: one per card under DATA_DIR/cards/<batch>/; a PIN letter beside it only when the
# service generated the passwords, sealed to the recipient (CMS EnvelopedData).
IMG=$DATA/cards/it-json/J-C-1.card
assert_eq "card image written for J-C-1 (0600)" 600 "$(stat -c %a "$IMG" 2>/dev/null)"
check "the image's signing slot opens with the password given in the file" \
  "$JPKI_BUILD_DIR/jpki_cardtool" unlock "$IMG" sign QWERTY7890
check "the image's auth slot opens with the PIN given in the file" \
  "$JPKI_BUILD_DIR/jpki_cardtool" unlock "$IMG" auth 5831
check_fails "no PIN letter for passwords the holder chose" test -e "$DATA/cards/it-json/J-C-1.pin.p7m"
LETTER=$DATA/cards/it-json/J-C-2.pin.p7m
assert_eq "J-C-2 had no password in the file: a PIN letter (0600)" 600 "$(stat -c %a "$LETTER" 2>/dev/null)"
openssl cms -decrypt -inform DER -in "$LETTER" -recip "$T/pin.pem" -inkey "$T/pin.key" \
  -out "$T/letter.txt" 2>"$T/cms.err"
GEN=$(awk '$1=="sign:" {print $2}' "$T/letter.txt" 2>/dev/null)
check "the letter opens with the recipient's key (openssl cms) and holds a generated password" \
  grep -Eqx '[A-Z0-9]{12}' <<<"$GEN"
assert_contains "…naming the card" "card: J-C-2" "$(cat "$T/letter.txt")"
check "…which opens J-C-2's signing slot" \
  "$JPKI_BUILD_DIR/jpki_cardtool" unlock "$DATA/cards/it-json/J-C-2.card" sign "$GEN"
assert_eq "no clear-text password file in the data directory" "" \
  "$(find "$DATA" -name '*.passwords')"

cat >"$T/j.yaml" <<'EOF'
batch: it-json
rows:
  - key: j1
    person: {id: J-P-1, name: 鈴木 一郎, address: 大阪府大阪市北区中之島1-3-20, birth_date: 1975-12-31, gender: unstated}
    card: {id: J-C-1, type: mynumber, expiry: 2031-05-05, prefecture: 大阪府, municipality: 大阪市}
    certificates: [sign, auth]
  - key: j2
    person: {id: J-P-2, name: 鈴木 一郎, address: 大阪府大阪市北区中之島1-3-20, birth_date: 1975-12-31, gender: unstated}
    card: {id: J-C-2, type: mynumber, expiry: 2031-05-05}
    certificates: sign
EOF
call POST /v1/batches "@$T/j.yaml" application/x-yaml
assert_eq "the same rows as YAML: 200, the same batch" "200 $JID" "$ST $(jf .id)"
assert_eq "…still 3 certificates on J-C-*" 3 "$(sql "SELECT count(*) FROM certificates WHERE card_id LIKE 'J-C-%'")"

# ---------------------------------------------------------------------------------------------
# Roles: batch may submit and read; auditor may read only
call POST /v1/operators '{"name":"bob","role":"batch"}'
BOB=$(jf .token)
call POST /v1/operators '{"name":"audrey","role":"auditor"}'
AUDREY=$(jf .token)
gen_yaml "it-bob" 2 B >"$T/bob.yaml"
TOKEN=$AUDREY
call POST /v1/batches "@$T/bob.yaml" application/yaml
assert_eq "auditor submits: 403" "403 forbidden" "$ST $(jf .error.code)"
call GET "/v1/batches/$JID"
assert_eq "auditor reads progress: 200" 200 "$ST"
TOKEN=$BOB
call POST /v1/batches "@$T/bob.yaml" application/yaml
assert_eq "batch role submits: 202" 202 "$ST"
BID=$(jf .id)
wait_for "$BID" '.state == "done"' 60 || fail "bob's batch not done"
assert_eq "…rows issued as bob" 2 \
  "$(sql "SELECT count(*) FROM events WHERE action='card.issue' AND actor='bob' AND outcome='ok'")"
TOKEN=
call GET "/v1/batches/$BID"
assert_eq "no credential: 401" 401 "$ST"
TOKEN=$ADMIN

# ---------------------------------------------------------------------------------------------
# kill -9 in the middle of a batch; the next start resumes it, every row exactly once
gen_yaml "it-kill" 60 K >"$T/kill.yaml"
call POST /v1/batches "@$T/kill.yaml" application/yaml
assert_eq "batch of 60: 202" 202 "$ST"
KID=$(jf .id)
wait_for "$KID" '.done >= 5' 120 || fail "5 rows not done within 120 s"
kill -KILL "$JPKID_PID"
wait "$JPKID_PID" 2>/dev/null
JPKID_PID=
done_at_kill=$(sql "SELECT done_rows FROM batches WHERE id=$KID")
[ "$done_at_kill" -ge 5 ] && [ "$done_at_kill" -lt 60 ] &&
  pass "killed with $done_at_kill of 60 rows done" || fail "killed at $done_at_kill rows"
assert_eq "…the registry agrees with itself at the kill" \
  "$(sql "SELECT count(*) FROM batch_rows WHERE batch_id=$KID AND state=1")" "$done_at_kill"
assert_eq "…no issued-but-pending row" 0 \
  "$(sql "SELECT count(*) FROM batch_rows r WHERE batch_id=$KID AND state=0 AND EXISTS (SELECT 1 FROM certificates c WHERE c.card_id='K-C-' || substr(r.key, 2))")"
claimed_at_kill=$(sql "SELECT count(*) FROM batch_rows WHERE batch_id=$KID AND claimed_until IS NOT NULL")
# Default workers = cores + 1, and a batch runs on all but one: at most `nproc` rows in flight.
[ "$claimed_at_kill" -le "$(nproc)" ] && pass "…at most the rows in progress claimed at the kill ($claimed_at_kill)" ||
  fail "$claimed_at_kill rows claimed at the kill"
# The restart with 3 workers: 2 jobs on the batch at once (DESIGN §8), one worker left for OCSP.
jpkid_start --set service.workers=3 || exit 1
wait_for "$KID" '.state == "done"' 240 || fail "resumed batch not done within 240 s"
assert_contains "resumed at start, the dead process's claims given back" \
  "resuming 1 running batch ($claimed_at_kill row claim" "$(cat "$T/jpkid.log")"
assert_eq "…no row left claimed" 0 "$(sql "SELECT count(*) FROM batch_rows WHERE claimed_until IS NOT NULL")"
call GET "/v1/batches/$KID"
assert_eq "after the restart: 60 done, 0 failed" "done 60 0 0" \
  "$(jf '"\(.state) \(.done) \(.failed) \(.pending)"')"
assert_eq "every card has exactly the certificate its row asked for" "60 60" \
  "$(sql "SELECT count(DISTINCT card_id) || ' ' || count(*) FROM certificates WHERE card_id LIKE 'K-C-%'")"
assert_eq "…no card with duplicates" 0 \
  "$(sql "SELECT count(*) FROM (SELECT card_id FROM certificates WHERE card_id LIKE 'K-C-%' GROUP BY card_id HAVING count(*) > 1)")"
assert_eq "…every person once" 60 "$(sql "SELECT count(*) FROM persons WHERE id LIKE 'K-P-%'")"
assert_eq "…row serials match the registry" 60 \
  "$(sql "SELECT count(*) FROM batch_rows r JOIN certificates c ON c.serial = r.serials WHERE r.batch_id=$KID")"
check "audit-verify intact after kill -9 and resume" "$JPKID" audit-verify "${SETS[@]}"

# ---------------------------------------------------------------------------------------------
# Metrics and the audit log
if [ "$(curl -s -o "$T/metrics" -w '%{http_code}' "$URL/metrics")" = 404 ]; then
  echo "# /metrics absent in this build: batch metrics not tested"
else
  metrics=$(cat "$T/metrics")
  assert_contains "jpki_batch_rows done counts every batch's issued rows" \
    "jpki_batch_rows{state=\"done\"} $(sql 'SELECT sum(done_rows) FROM batches')" "$metrics"
  assert_contains "…pending 0" 'jpki_batch_rows{state="pending"} 0' "$metrics"
fi
assert_eq "no personal data in the audit log" 0 \
  "$(sql "SELECT count(*) FROM events WHERE detail LIKE '%試験%' OR detail LIKE '%東京都%' OR detail LIKE '%鈴木%' OR target LIKE '%試験%'")"

it_finish
