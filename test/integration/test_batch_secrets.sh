#!/usr/bin/env bash
# Issue 11 §1 (batches): no password of a batch is left anywhere on disk, and no row is done
# without its card image.
# - Without batch.pin_letter_recipient, a file with a row without passwords is refused (400,
#   rows[N].passwords) and nothing is recorded; batch keys and card ids starting with '.' (they
#   name files) are refused at submission.
# - With a recipient: a batch of rows with the holders' passwords and rows without (generated
#   ones). Each generated password is in a PIN letter that `openssl cms -decrypt` opens with the
#   recipient's key and that opens the card image; no letter for holder-chosen passwords. Then
#   `grep -r -a` over the whole data directory — the registry, its WAL (while jpkid still runs:
#   the WAL is truncated after a batch) and the card files — finds none of the passwords, nor
#   does `strings jpki.db`; nor does the service log.
# - The card-image directory read-only while serving (a read-only tmpfs over DATA_DIR/cards):
#   the rows fail (code io, field card_image) and no certificate was issued for them.
. "$(dirname "$0")/lib.sh"
it_setup
it_start
TOKEN=$(cat "$DATA/admin.token")

post() { # FILE: POST /v1/batches; sets ST and RB
  ST=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "@$1" "$URL/v1/batches")
  RB=$(cat "$T/resp")
}
wait_done() { # ID: polls until the batch is done (20 s at most)
  for _ in $(seq 1 200); do
    RB=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/batches/$1")
    [ "$(jf .state)" = done ] && return 0
    sleep 0.1
  done
  return 1
}
# row KEY CARD [SIGN AUTH]: one row (person P-CARD), with the holder's passwords when given.
row() {
  local pw=
  [ $# -ge 4 ] && pw=$(printf ', "passwords": {"sign": "%s", "auth": "%s"}' "$3" "$4")
  printf '{"key": "%s", "person": {"id": "P-%s", "name": "試験 %s", "address": "東京都港区1-1", "birth_date": "1970-03-0%s", "gender": "female"}, "card": {"id": "%s", "type": "mynumber", "expiry": "2034-01-31"}, "certificates": "both"%s}' \
    "$1" "$2" "$2" "$((${#2} % 9 + 1))" "$2" "$pw"
}
batch() { # KEY ROW...: a batch file
  local key=$1
  shift
  printf '{"batch": "%s", "rows": [%s]}' "$key" "$(IFS=,; echo "$*")"
}

# ---- no recipient: generated passwords have nowhere to go ----------------------------------
batch sec-0 "$(row r1 S0-1 QWERTY7890 5831)" "$(row r2 S0-2)" >"$T/b0.json"
post "$T/b0.json"
assert_eq "no recipient, a row without passwords: 400 naming the row" "400 invalid rows[1].passwords" \
  "$ST $(jf .error.code) $(jf .error.field)"
assert_contains "…saying why" "batch.pin_letter_recipient" "$(jf .error.message)"
assert_eq "…nothing recorded" 0 "$(sqlite3 "$DB" 'SELECT count(*) FROM batches')"
batch .sec "$(row r1 S0-3 QWERTY7890 5831)" >"$T/dot.json"
post "$T/dot.json"
assert_eq "a batch key starting with '.': 400 naming it" "400 invalid batch" \
  "$ST $(jf .error.code) $(jf .error.field)"
batch sec-dot "$(row r1 .. QWERTY7890 5831)" "$(row r2 .S0-4 QWERTY7890 5831)" "$(row r3 S0-5 QWERTY7890 5831)" >"$T/dot2.json"
post "$T/dot2.json"
assert_eq "card ids '..' and '.S0-4': 202 with two problems" "202 1 rows[0].card.id|rows[1].card.id" \
  "$ST $(jf .accepted) $(jf '[.problems[].field]|join("|")')"
DOTID=$(jf .id)
wait_done "$DOTID" || fail "the batch with dot ids not done"
assert_eq "…those rows failed, the good one done" "1 2" "$(jf '"\(.done) \(.failed)"')"
assert_eq "…no hidden image file, no image outside the batch's directory" \
  "$DATA/cards/sec-dot/S0-5.card" "$(find "$DATA/cards" -type f | sort | paste -sd' ')"
jpkid_stop

# ---- a recipient: holders' passwords and generated ones -------------------------------------
pin_recipient
jpkid_start || exit 1
# Passwords that occur nowhere else: sign passwords of 12+ characters; 4-digit PINs are looked
# for in the forms a copy would take ("auth":"NNNN" in a stored request, auth: NNNN in a letter
# or mailer), since 4 digits alone turn up in any binary file.
HOLDER=(HLDRSIGNA1B2 7315 HLDRSIGNC3D4 8426 HLDRSIGNE5F6 9537)
batch sec-1 "$(row r1 S1-1 "${HOLDER[0]}" "${HOLDER[1]}")" "$(row r2 S1-2)" \
  "$(row r3 S1-3 "${HOLDER[2]}" "${HOLDER[3]}")" "$(row r4 S1-4)" \
  "$(row r5 S1-5 "${HOLDER[4]}" "${HOLDER[5]}")" "$(row r6 S1-6)" >"$T/b1.json"
post "$T/b1.json"
assert_eq "batch of 6 rows, 3 without passwords: 202" "202 6" "$ST $(jf .accepted)"
ID=$(jf .id)
wait_done "$ID" || fail "batch sec-1 not done"
assert_eq "…6 done" "6 0" "$(jf '"\(.done) \(.failed)"')"

SECRETS=()
for i in 0 2 4; do SECRETS+=("${HOLDER[$i]}"); done
PINS=("${HOLDER[1]}" "${HOLDER[3]}" "${HOLDER[5]}")
for c in S1-1 S1-3 S1-5; do
  check_fails "$c: no PIN letter for the holder's own passwords" test -e "$DATA/cards/sec-1/$c.pin.p7m"
done
check "S1-1's image opens with the holder's password" \
  "$JPKI_BUILD_DIR/jpki_cardtool" unlock "$DATA/cards/sec-1/S1-1.card" sign "${HOLDER[0]}"
for c in S1-2 S1-4 S1-6; do
  L=$DATA/cards/sec-1/$c.pin.p7m
  assert_eq "$c: a PIN letter, 0600" 600 "$(stat -c %a "$L" 2>/dev/null)"
  openssl cms -decrypt -inform DER -in "$L" -recip "$T/pin.pem" -inkey "$T/pin.key" \
    -out "$T/$c.txt" 2>"$T/cms.err" || sed 's/^/    /' "$T/cms.err"
  s=$(awk '$1=="sign:" {print $2}' "$T/$c.txt")
  a=$(awk '$1=="auth:" {print $2}' "$T/$c.txt")
  check "$c: openssl cms -decrypt opens the letter: a 12-character password and a 4-digit PIN" \
    grep -Eqx '[A-Z0-9]{12} [0-9]{4}' <<<"$s $a"
  check "…that open the card image" bash -c \
    "'$JPKI_BUILD_DIR/jpki_cardtool' unlock '$DATA/cards/sec-1/$c.card' sign '$s' &&
     '$JPKI_BUILD_DIR/jpki_cardtool' unlock '$DATA/cards/sec-1/$c.card' auth '$a'"
  SECRETS+=("$s")
  PINS+=("$a")
done
check "the search is not vacuous: the batch file holds a holder's password" \
  grep -q -a -F "${HOLDER[0]}" "$T/b1.json"

# copies_left: every file of the data directory holding one of the passwords (grep -r -a).
copies_left() {
  local p
  for p in "${SECRETS[@]}"; do grep -r -a -l -F -- "$p" "$DATA"; done
  for p in "${PINS[@]}"; do
    grep -r -a -l -e "\"auth\":\"$p\"" -e "auth: $p" -e "\"auth\": \"$p\"" "$DATA"
  done
}
found=
for _ in $(seq 1 50); do # the WAL is truncated just after the batch's last row
  found=$(copies_left | sort -u | paste -sd' ')
  [ -z "$found" ] && break
  sleep 0.2
done
assert_eq "jpkid running: no password in any file of the data directory (registry, WAL, cards)" "" "$found"
for p in "${SECRETS[@]}"; do
  n=$(strings -a "$DB" "$DB-wal" 2>/dev/null | grep -c -F -- "$p")
  [ "$n" = 0 ] || fail "strings jpki.db finds $p $n times"
done
pass "strings jpki.db jpki.db-wal | grep -c PASSWORD: 0 for each password"
assert_eq "the request column of the done rows is cleared" 0 \
  "$(sqlite3 "$DB" "SELECT count(*) FROM batch_rows WHERE request IS NOT NULL")"
jpkid_stop
assert_eq "jpkid stopped: still no password in the data directory" "" \
  "$(copies_left | sort -u | paste -sd' ')"
leaked=
for p in "${SECRETS[@]}"; do grep -q -a -F -- "$p" "$T/jpkid.log" && leaked+=" $p"; done
assert_eq "…nor in the service log" "" "$leaked"

# ---- the card images cannot be written -------------------------------------------------------
if mount -t tmpfs -o ro,size=1m,mode=0700 tmpfs "$DATA/cards" 2>"$T/mount.err"; then
  trap 'jpkid_stop; umount "$DATA/cards" 2>/dev/null; it_cleanup' EXIT
  jpkid_start || exit 1
  batch sec-ro "$(row r1 S2-1 QWERTY7890 5831)" "$(row r2 S2-2)" >"$T/b2.json"
  post "$T/b2.json"
  assert_eq "images unwritable: batch accepted" 202 "$ST"
  RID=$(jf .id)
  wait_done "$RID" || fail "batch sec-ro not done"
  assert_eq "…both rows failed, none done" "0 2" "$(jf '"\(.done) \(.failed)"')"
  RB=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/batches/$RID")
  assert_eq "…as io errors of the card image" "io card_image|io card_image" \
    "$(jf '[.rows[].error|"\(.code) \(.field)"]|join("|")')"
  assert_contains "…saying nothing was issued" "nothing was issued" "$(jf '.rows[0].error.message')"
  assert_eq "…and no certificate was issued for them" 0 \
    "$(sqlite3 "$DB" "SELECT count(*) FROM certificates WHERE card_id IN ('S2-1','S2-2')")"
  assert_contains "the log has the cause" "Read-only file system" "$(cat "$T/jpkid.log")"
  jpkid_stop
  umount "$DATA/cards"
  check "the earlier images are still there" test -s "$DATA/cards/sec-1/S1-2.card"
else
  echo "skip - cannot mount a read-only tmpfs ($(cat "$T/mount.err")): needs root"
fi
jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" \
  "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
