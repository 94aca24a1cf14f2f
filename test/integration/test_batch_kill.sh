#!/usr/bin/env bash
# Issue 11 §1: a batch row is done only with its card image on disk. A batch of 18 cards (auth,
# or both certificates for every third; half the rows with the holders' passwords, half with
# generated ones sent as PIN letters) is interrupted by 6 kill -9 at random moments while rows
# are in flight, jpkid restarting after each. After
# every kill: each done row's image exists, parses and holds the row's certificates, and no good
# certificate of the batch's cards lacks its image. At the end every row is done once and every
# image opens with its password (the holder's, or the one in its letter).
. "$(dirname "$0")/lib.sh"
it_setup
pin_recipient
it_start
TOKEN=$(cat "$DATA/admin.token")
CARDTOOL=$JPKI_BUILD_DIR/jpki_cardtool
ROWS=18
KILLS=6

{
  echo '{"batch": "kill-1", "rows": ['
  for i in $(seq 1 $ROWS); do
    pw=
    [ $((i % 2)) = 0 ] && pw=', "passwords": {"sign": "HOLDER'"$i"'PW", "auth": "5831"}'
    certs=auth
    [ $((i % 3)) = 0 ] && certs=both
    [ "$i" -gt 1 ] && echo ,
    printf '{"key": "r%d", "person": {"id": "KP-%d", "name": "試験 %d", "address": "東京都港区%d", "birth_date": "1970-03-05", "gender": "male"}, "card": {"id": "KC-%d", "type": "mynumber", "expiry": "2034-01-31"}, "certificates": "%s"%s}' \
      "$i" "$i" "$i" "$i" "$i" "$certs" "$pw"
  done
  echo ']}'
} >"$T/kill.json"
ST=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary "@$T/kill.json" "$URL/v1/batches")
assert_eq "batch of $ROWS cards (file of $(stat -c %s "$T/kill.json") bytes): 202" 202 "$ST"
ID=$(jq -r .id "$T/resp")

# images_hold_up: every done row's image holds the row's serials; every good certificate of the
# batch's cards is on its card's image. Prints what is missing.
images_hold_up() {
  local key serials card serial
  sqlite3 "$DB" "SELECT key, serials FROM batch_rows WHERE batch_id=$ID AND state=1" |
    while IFS='|' read -r key serials; do
      card=KC-${key#r}
      if ! "$CARDTOOL" info "$DATA/cards/kill-1/$card.card" >"$T/info" 2>&1; then
        echo "row $key done, image $card.card missing or unreadable"; continue
      fi
      for serial in ${serials//,/ }; do
        grep -q "$serial" "$T/info" || echo "row $key: $serial not on its image"
      done
    done
  sqlite3 "$DB" "SELECT card_id, serial FROM certificates WHERE card_id LIKE 'KC-%' AND status=0" |
    while IFS='|' read -r card serial; do
      "$CARDTOOL" info "$DATA/cards/kill-1/$card.card" 2>/dev/null | grep -q "$serial" ||
        echo "good certificate $serial of $card without its image"
    done
}

bad=
seen=0
for k in $(seq 1 $KILLS); do
  # A random moment while rows are in flight: once a row more is done in this run (however
  # slow the machine), 0 .. 0.6 s later.
  for _ in $(seq 1 300); do
    now=$(sqlite3 "$DB" "SELECT done_rows FROM batches WHERE id=$ID" 2>/dev/null)
    [ "${now:-0}" -gt "$seen" ] && break
    sleep 0.05
  done
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.6 * r / 32768 }')"
  kill -KILL "$JPKID_PID"
  wait "$JPKID_PID" 2>/dev/null
  JPKID_PID=
  seen=$(sqlite3 "$DB" "SELECT done_rows FROM batches WHERE id=$ID")
  missing=$(images_hold_up)
  [ -n "$missing" ] && bad+="kill $k ($seen done): $missing; "
  echo "# kill $k: $seen of $ROWS rows done"
  jpkid_start || exit 1
done
assert_eq "after each of $KILLS kill -9: every done row has its image, every good certificate too" "" "$bad"
[ "$seen" -ge "$KILLS" ] && [ "$seen" -lt "$ROWS" ] &&
  pass "the kills landed while the batch ran ($seen of $ROWS done at the last)" ||
  fail "the kills did not land while the batch ran ($seen of $ROWS done at the last)"

for _ in $(seq 1 600); do
  st=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/batches/$ID" | jq -r '"\(.state) \(.done) \(.failed)"')
  [ "${st%% *}" = done ] && break
  sleep 0.1
done
assert_eq "resumed to the end: all done, none failed" "done $ROWS 0" "$st"
assert_eq "…and the images hold up" "" "$(images_hold_up)"
assert_eq "no staged file of a killed process left (removed at resumption)" "" \
  "$(find "$DATA/cards" -name '*.tmp-*')"
assert_eq "every card has its certificates, once" "$ROWS $((ROWS + ROWS / 3))" \
  "$(sqlite3 "$DB" "SELECT count(DISTINCT card_id) || ' ' || count(*) FROM certificates WHERE card_id LIKE 'KC-%'")"
opened=0
for i in $(seq 1 $ROWS); do
  img=$DATA/cards/kill-1/KC-$i.card
  if [ $((i % 2)) = 0 ]; then s=HOLDER${i}PW; a=5831; else
    openssl cms -decrypt -inform DER -in "$DATA/cards/kill-1/KC-$i.pin.p7m" -recip "$T/pin.pem" \
      -inkey "$T/pin.key" -out "$T/letter" 2>/dev/null
    s=$(awk '$1=="sign:" {print $2}' "$T/letter" 2>/dev/null)
    a=$(awk '$1=="auth:" {print $2}' "$T/letter" 2>/dev/null)
  fi
  { [ $((i % 3)) != 0 ] || "$CARDTOOL" unlock "$img" sign "$s" >/dev/null 2>&1; } &&
    "$CARDTOOL" unlock "$img" auth "$a" >/dev/null 2>&1 && opened=$((opened + 1))
done
assert_eq "every image opens with its passwords (the holder's or its letter's)" "$ROWS" "$opened"
jpkid_stop
check "audit chain intact" "$JPKID" audit-verify "${SETS[@]}"
jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" \
  "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
