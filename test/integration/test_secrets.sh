#!/usr/bin/env bash
# Issue 7.5 acceptance: secrets and personal data stay out of logs and the audit table.
#   - a full flow with a distinctive person (Japanese name, address, birth date): register,
#     issue with card passwords, basic-info change, hold, release, revoke, the holder's online
#     revocation, a batch (with a refused and a malformed row carrying the same facts), bad
#     requests carrying them, a lookup; then the whole jpkid log and the audit table (actor,
#     action, target, detail) hold none of them, raw or escaped (\xNN), nor the card
#     passwords, nor the administrator token;
#   - no key material in the log: no PEM marker, no line of the CA key files, no bytes of the
#     card-administration key file (hex or base64);
#   - core dumps are off for jpkid (/proc/PID/limits: core file size 0);
#   - key files looser than 0600 are refused at start, the message naming the file and mode.
. "$(dirname "$0")/lib.sh"
it_setup
it_start
export JPKI_URL=$URL
TOKEN=$(cat "$DATA/admin.token")

NAME="鵜飼野 椿之丞"
FAMILY="鵜飼野"
ADDRESS="岐阜県岐阜市長良鵜飼屋字鵜匠町8番地の17"
NEW_ADDRESS="愛知県犬山市字北古券1番地の71"
BIRTH="1937-11-23"
NAME2="鵜飼野 菖蒲"
BIRTH2="1941-02-19"
PASS_SIGN="QZ7K4W9P"
PASS_AUTH="8061"

person() { # ID NAME ADDRESS BIRTH
  printf '{"id":"%s","name":"%s","address":"%s","birth_date":"%s","gender":"female"}' "$@"
}

# ---- the flow -------------------------------------------------------------------------------
expect_status "register the person" 201 POST /v1/persons "$(person p1 "$NAME" "$ADDRESS" "$BIRTH")"
expect_status "register the card" 201 POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2035-06-30","prefecture":"岐阜県","municipality":"岐阜市"}'
expect_status "issue both with card passwords" 201 POST /v1/cards/c1/issue "{\"certificates\":\"both\",\"passwords\":{\"sign\":\"$PASS_SIGN\",\"auth\":\"$PASS_AUTH\"}}"
SIGN=$(jf '.certificates[] | select(.ca == "sign") | .serial')
jf .card_image | base64 -d >"$T/c1.card"
chmod 600 "$T/c1.card"
expect_status "bad card passwords: 400" 400 POST /v1/cards/c1/issue '{"certificates":"both","passwords":{"sign":"bad","auth":"12"}}'
# The holder's online revocation of the auth certificate (signed with the card's signing key),
# once with a wrong password first.
JPKI_CARD_PASSWORD=WRONG9 "$JPKICTL" card revoke "$T/c1.card" --slot auth >/dev/null 2>&1
(cd "$T" && JPKI_CARD_PASSWORD=$PASS_SIGN "$JPKICTL" card revoke "$T/c1.card" --slot auth \
  --reason keyCompromise >"$T/holder.out" 2>&1)
assert_eq "the holder's online revocation" 0 "$?"
expect_status "a new auth certificate" 201 POST /v1/cards/c1/issue '{"certificates":"auth"}'
expect_status "basic-info change" 200 PUT /v1/persons/p1/basic-info "$(person p1 "$NAME" "$NEW_ADDRESS" "$BIRTH" | jq -c 'del(.id)')"
expect_status "re-issue sign" 201 POST /v1/cards/c1/issue '{"certificates":"sign"}'
expect_status "hold" 200 POST /v1/cards/c1/hold '{}'
expect_status "release" 200 POST /v1/cards/c1/release '{}'
NEWSIGN=$(jf '.still_held[0]')
expect_status "revoke" 200 POST "/v1/certificates/$NEWSIGN/revoke" '{"reason":"keyCompromise"}'
expect_status "lookup" 200 GET /v1/persons/p1
# Bad requests carrying the facts: a date that is no date, an unknown field, a duplicate.
expect_status "bad birth date: 400" 400 POST /v1/persons "$(person p2 "$NAME" "$ADDRESS" "$BIRTH" | sed "s/$BIRTH/1937-11-31/")"
expect_status "a field named after the person: 400" 400 POST /v1/persons "$(person p2 "$NAME" "$ADDRESS" "$BIRTH" | sed "s/}$/,\"$FAMILY\":\"$NAME\"}/")"
expect_status "duplicate person: 409" 409 POST /v1/persons "$(person p1 "$NAME" "$ADDRESS" "$BIRTH")"
expect_status "the name as an id in the path: 400" 400 GET "/v1/persons/$(jq -rn --arg n "$NAME" '$n|@uri')"
expect_status "truncated JSON carrying the facts: 400" 400 POST /v1/persons "{\"id\":\"p3\",\"name\":\"$NAME\",\"address\":\"$ADDRESS\",\"birth_date\":\"$BIRTH\""
# A batch: one good row, one refused (p1 again with other facts), one malformed.
{
  echo "batch: secrets-1"
  echo "rows:"
  batch_row r1 p4 "$NAME2" "$ADDRESS" "$BIRTH2" female c4 "QWERTY7890 5831"
  batch_row r2 p1 "$NAME2" "$ADDRESS" "$BIRTH2" female c5 "QWERTY7890 5831"
  batch_row r3 p6 "$NAME" "$ADDRESS" "$BIRTH2-x" female c6
} >"$T/batch.yaml"
batch: secrets-1
rows:
  - key: r1
    person: {id: p4, name: "$NAME2", address: "$ADDRESS", birth_date: "$BIRTH2", gender: female}
    card: {id: c4, type: mynumber, expiry: "2034-01-31"}
    certificates: auth
    passwords: {sign: "QWERTY7890", auth: "5831"}
  - key: r2
    person: {id: p1, name: "$NAME2", address: "$ADDRESS", birth_date: "$BIRTH2", gender: female}
    card: {id: c5, type: mynumber, expiry: "2034-01-31"}
    certificates: auth
    passwords: {sign: "QWERTY7890", auth: "5831"}
  - key: r3
    person: {id: p6, name: "$NAME", address: "$ADDRESS", birth_date: "$BIRTH2-x", gender: female}
    card: {id: c6, type: mynumber, expiry: "2034-01-31"}
    certificates: auth
EOF
ST=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/yaml' --data-binary "@$T/batch.yaml" "$URL/v1/batches")
assert_eq "batch submitted (one row malformed)" "202 1" "$ST $(jq '.problems|length' "$T/resp")"
BATCH=$(jq -r .id "$T/resp")
for _ in $(seq 1 100); do
  call GET "/v1/batches/$BATCH"
  [ "$(jf .state)" = done ] && break
  sleep 0.1
done
assert_eq "…done: one row issued, two failed (refused, malformed)" "done 1 2" \
  "$(jf '"\(.state) \(.done) \(.failed)"')"
printf 'batch: secrets-2\n"%s": "%s"\nrows: [{key: r1}]\n' "$NAME" "$ADDRESS" >"$T/bad.yaml"
ST=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  --data-binary "@$T/bad.yaml" "$URL/v1/batches")
assert_eq "a batch file that is no batch (the name as a key): 400" 400 "$ST"
call GET /v1/persons/p1
assert_contains "the API does answer the facts to its caller (the checks below are not vacuous)" \
  "$NAME $NEW_ADDRESS $BIRTH" "$(jf '"\(.person.name) \(.person.address) \(.person.birth_date)"')"
jpkid_stop

# ---- what must not be anywhere -----------------------------------------------------------
LOG=$T/jpkid.log
sqlite3 -separator ' | ' "$DB" 'SELECT actor, action, target, outcome, detail FROM events' >"$T/audit.txt"
check "the audit table has the flow's rows" test "$(wc -l <"$T/audit.txt")" -ge 20
check "the log has lines" test -s "$LOG"
escaped() { # the bytes of $1 as the log escapes them: \xNN (lower-case hex)
  printf '%s' "$1" | od -An -v -tx1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//; s/ /\\x/g; s/^/\\x/'
}
absent() { # DESCRIPTION NEEDLE: absent from the log and from the audit rows, raw and escaped
  local what=$1 needle=$2 esc
  esc=$(escaped "$needle")
  for f in "$LOG" "$T/audit.txt"; do
    if grep -qiF -- "$needle" "$f" || grep -qiF -- "$esc" "$f"; then
      fail "$what found in $(basename "$f"):"
      grep -iF -e "$needle" -e "$esc" "$f" | head -3 | sed 's/^/    /'
      return
    fi
  done
  pass "$what: absent from the log and the audit table"
}
absent "the name" "$NAME"
absent "the family name alone" "$FAMILY"
absent "the second person's name" "$NAME2"
absent "the address" "$ADDRESS"
absent "the new address" "$NEW_ADDRESS"
absent "the town part of the address" "鵜匠町"
absent "the birth date" "$BIRTH"
absent "the birth date (compact)" "${BIRTH//-/}"
absent "the invalid birth date sent" "1937-11-31"
absent "the second birth date" "$BIRTH2"
absent "the signing password" "$PASS_SIGN"
absent "the administrator token" "$TOKEN"
absent "a PEM marker" "-----BEGIN"
absent "\"PRIVATE KEY\"" "PRIVATE KEY"
for key in sign-ca auth-ca sign-ocsp auth-ocsp; do
  [ -f "$DATA/keys/$key.key" ] || continue
  line=$(sed -n 5p "$DATA/keys/$key.key")
  absent "a line of keys/$key.key" "$line"
done
ADMIN_KEY=$DATA/keys/card-admin.key
check "the card-administration key file exists" test -s "$ADMIN_KEY"
absent "the card-administration key file (hex)" "$(xxd -p -s 16 -l 24 "$ADMIN_KEY" | tr -d '\n')"
absent "the card-administration key file (base64)" "$(tail -c +17 "$ADMIN_KEY" | head -c 24 | base64)"

# ---- core dumps and key file modes --------------------------------------------------------
jpkid_start || exit 1
assert_eq "jpkid runs without core dumps (soft and hard limit 0)" "0 0" \
  "$(awk '/^Max core file size/ {print $5, $6}' "/proc/$JPKID_PID/limits")"
jpkid_stop
for key in keys/sign-ca.key keys/card-admin.key; do
  chmod 0644 "$DATA/$key"
  if "$JPKID" serve "${SETS[@]}" --set listen.http=127.0.0.1:0 >"$T/mode.out" 2>&1; then
    fail "$key at 0644: serve started"
  else
    pass "$key at 0644: serve refuses"
  fi
  assert_contains "…naming the file and its mode" "$key: mode 0644 is too open; must be 0600" \
    "$(cat "$T/mode.out")"
  chmod 0600 "$DATA/$key"
done
chmod 0640 "$DATA/keys/auth-ca.key"
check_fails "keys/auth-ca.key at 0640 (group-readable): serve refuses" \
  "$JPKID" serve "${SETS[@]}" --set listen.http=127.0.0.1:0
assert_contains "…naming the mode" "mode 0640 is too open" "$(cat "$T/check.out")"
chmod 0600 "$DATA/keys/auth-ca.key"
jpkid_start || exit 1
pass "back at 0600: serve starts"
jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" \
  "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
