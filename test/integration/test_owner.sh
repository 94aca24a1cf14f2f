#!/usr/bin/env bash
# Issue 11 §3: a CA's data directory and a CA's clock have one owner.
#  - A second `jpkid serve` (or an `init`) on a running service's data directory refuses, with
#    a sentence naming the PID that holds it, and the first one is undisturbed.
#  - `jpkid crl` while the service runs publishes under the publication lock and tells the
#    service, which serves the new CRL at once (openssl crl: the CRL number went up, the new
#    revocation is in it); two `jpkid crl` at once both succeed, the highest number last.
#  - JPKI_FAKE_NOW moves the clock only in a test build (JPKI_TEST_CLOCK, set by ctest from the
#    CMake option); a build without the option ignores it, and says so.
. "$(dirname "$0")/lib.sh"
it_setup
it_init || exit 1
# One event loop: a loop that already holds the CRL would serve its copy until told.
jpkid_start --set service.loops=1 || exit 1

crl_number() { # FILE: the cRLNumber in decimal
  local hex
  hex=$(openssl crl -inform DER -in "$1" -noout -crlnumber | sed -n 's/^crlNumber=0x//p')
  [ -n "$hex" ] && echo $((16#$hex))
}
served_crl() { # FILE: fetches the served sign CRL; fails unless 200
  [ "$(curl -sS -o "$1" -w '%{http_code}' "$URL/crl/sign.crl")" = 200 ]
}

# ---- one owner ----
assert_eq "the lock file names the service" "$JPKID_PID serve" "$(cat "$DATA/jpkid.lock")"
timeout 30 "$JPKID" serve "${SETS[@]}" --set listen.http=127.0.0.1:0 >"$T/second.out" 2>&1
assert_eq "a second serve on the same data directory exits 1" 1 "$?"
assert_contains "…naming the PID that holds it" "is in use by jpkid serve (PID $JPKID_PID" \
  "$(cat "$T/second.out")"
assert_not_contains "…before listening or publishing anything" "listening" "$(cat "$T/second.out")"
timeout 30 "$JPKID" init "${SETS[@]}" >"$T/init2.out" 2>&1
assert_eq "an init on the running service's data directory exits 1" 1 "$?"
assert_contains "…naming the PID" "in use by jpkid serve (PID $JPKID_PID" "$(cat "$T/init2.out")"
assert_eq "the first service still answers" 200 \
  "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/healthz")"
assert_eq "…and still owns the directory" "$JPKID_PID serve" "$(cat "$DATA/jpkid.lock")"

# ---- jpkid crl while the service runs ----
for _ in $(seq 1 50); do served_crl "$T/before.crl" && break; sleep 0.1; done
before=$(crl_number "$T/before.crl")
check "the service serves its CRL (number $before)" test -n "$before"
mkdir -p "$T/out"
drv person-add p1 "鈴木 一郎" "北海道札幌市中央区北1条西2丁目" 1985-07-07 male >/dev/null
drv card-add c1 p1 mynumber 2036-01-31 >/dev/null
SIGN=$(drv issue c1 sign "$T/out" | awk '$2=="sign" {print $3}')
drv revoke "$SIGN" keyCompromise >/dev/null
served_crl "$T/before2.crl" # this loop has just checked its copy
check "jpkid crl while the service runs" "$JPKID" crl "${SETS[@]}"
out=$(cat "$T/check.out")
assert_contains "…tells the service" "jpkid serve (PID $JPKID_PID) told to serve the new CRLs" "$out"
published=$(sed -n 's/^sign CRL #\([0-9]*\) published.*/\1/p' <<<"$out")
served_crl "$T/after.crl"
after=$(crl_number "$T/after.crl")
assert_eq "the next request gets the new CRL (number $published)" "$published" "$after"
assert_contains "…with the new revocation" "Serial Number: $SIGN" \
  "$(openssl crl -inform DER -in "$T/after.crl" -noout -text)"
check "…signed by the CA" openssl crl -inform DER -in "$T/after.crl" \
  -CAfile "$DATA/certs/sign-ca.pem" -noout
assert_contains "the service logged it" "CRLs published by another process" "$(cat "$T/jpkid.log")"

# Two publishers at once: the publication lock orders them, the file ends with the highest.
"$JPKID" crl "${SETS[@]}" >"$T/crl1.out" 2>&1 &
p1=$!
"$JPKID" crl "${SETS[@]}" >"$T/crl2.out" 2>&1
rc2=$?
wait "$p1"
rc1=$?
assert_eq "two jpkid crl at once both succeed" "0 0" "$rc1 $rc2"
n1=$(sed -n 's/^sign CRL #\([0-9]*\) published.*/\1/p' "$T/crl1.out")
n2=$(sed -n 's/^sign CRL #\([0-9]*\) published.*/\1/p' "$T/crl2.out")
high=$((n1 > n2 ? n1 : n2))
# (each publication also takes a number for its delta CRL from the same series, RFC 5280 §5.2.4)
low=$((n1 < n2 ? n1 : n2))
assert_eq "…with two distinct numbers after $published" "yes" \
  "$([ "$low" -gt "$published" ] && [ "$high" -gt "$low" ] && echo yes || echo "no: $n1 $n2")"
assert_eq "…and the file holds the highest" "$high" "$(crl_number "$DATA/crl/sign.crl")"
served_crl "$T/last.crl"
assert_eq "…which the service serves" "$high" "$(crl_number "$T/last.crl")"

# ---- the clock ----
JPKI_FAKE_NOW=2035-01-01T00:00:00Z "$JPKID" crl "${SETS[@]}" >"$T/fake.out" 2>&1
assert_eq "jpkid crl with JPKI_FAKE_NOW set exits 0" 0 "$?"
served_crl "$T/fake.crl"
year=$(openssl crl -inform DER -in "$T/fake.crl" -noout -lastupdate | grep -o '20[0-9][0-9]')
if [ "${JPKI_TEST_CLOCK:-0}" = 1 ]; then
  assert_eq "test build (JPKI_TEST_CLOCK): the CRL is dated by JPKI_FAKE_NOW" 2035 "$year"
else
  assert_eq "build without JPKI_TEST_CLOCK: JPKI_FAKE_NOW ignored, the CRL dated today" \
    "$(date -u +%Y)" "$year"
  assert_contains "…and jpkid says so" "JPKI_FAKE_NOW ignored" "$(cat "$T/fake.out")"
fi

# ---- after the stop ----
jpkid_stop
assert_eq "a stopped service leaves the lock file empty" "" "$(cat "$DATA/jpkid.lock")"
check "jpkid crl without a service tells nobody" "$JPKID" crl "${SETS[@]}"
assert_not_contains "…and says nothing of a service" "told" "$(cat "$T/check.out")"
assert_eq "no sanitizer report in the jpkid log" "" \
  "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
