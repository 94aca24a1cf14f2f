#!/usr/bin/env bash
# Issue 5 acceptance, service side: the card image an issuance returns (passwords given or
# generated), read back by a card tool; no private key byte in the registry; the window's
# password reset clearing a lock, and its refusals; the holder's online revocation request
# made with `openssl cms -sign` from the key on the card — revoked in OCSP, a receipt that
# verifies with openssl, a replay refused, another card's key refused — with the exact status
# and error field of every refusal, and the audit rows without passwords.
. "$(dirname "$0")/lib.sh"
it_setup

CARDTOOL=$JPKI_BUILD_DIR/jpki_cardtool
it_start

# holder FILE: POSTs a request file to /v1/holder/revoke with no credential.
holder() {
  ST=$(curl -s -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/pkcs7-mime' \
    --data-binary "@$1" "$URL/v1/holder/revoke")
  RB=$(cat "$T/resp")
}
# image FILE: writes the answer's card_image (base64) to FILE, mode 0600.
image() { jf .card_image | base64 -d >"$1" && chmod 600 "$1"; }
ocsp_status() { # CA-PEM CERT-PEM
  openssl ocsp -issuer "$1" -cert "$2" -url "$URL/ocsp" -CAfile "$1" -no_nonce 2>&1 |
    awk -v c="$2" '$1 == c":" {print $2; exit}'
}
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# request OUT SERIAL REASON KEY CERT [TIME] [REQUEST_ID]: a signed revocation request.
request() {
  local out=$1 serial=$2 reason=$3 key=$4 cert=$5 time=${6:-$(now)} rid=${7:-$(openssl rand -hex 16)}
  printf '{"serial":"%s","reason":"%s","request_id":"%s","time":"%s"}' "$serial" "$reason" \
    "$rid" "$time" >"$out.json"
  openssl cms -sign -signer "$cert" -inkey "$key" -binary -outform DER -nodetach -md sha256 \
    -in "$out.json" -out "$out"
}

TOKEN=$ADMIN
for p in p1 p2 p3; do
  call POST /v1/persons "{\"id\":\"$p\",\"name\":\"山田 花子\",\"address\":\"東京都千代田区霞が関2-1-2\",\"birth_date\":\"1990-01-02\",\"gender\":\"female\"}"
done
for c in 1 2 3; do
  call POST /v1/cards "{\"id\":\"c$c\",\"person_id\":\"p$c\",\"type\":\"mynumber\",\"expiry\":\"2035-06-30\"}"
done
assert_eq "three cards registered" 201 "$ST"

# ---------------------------------------------------------------------------------------------
# Issuance with passwords: the card image
call POST /v1/cards/c1/issue '{"certificates":"both","passwords":{"sign":"ABC123","auth":"2580"}}'
assert_eq "issue with passwords: 201" 201 "$ST"
SIGN1=$(jf '.certificates[] | select(.ca=="sign") | .serial')
AUTH1=$(jf '.certificates[] | select(.ca=="auth") | .serial')
assert_eq "…card_image_slots" "sign,auth" "$(jf '.card_image_slots | join(",")')"
assert_eq "…no initial_passwords when both are given" null "$(jf .initial_passwords)"
assert_eq "…no notice" null "$(jf .card_image_notice)"
image "$T/c1.card"
check "card_image is base64 of a card image" test -s "$T/c1.card"
INFO=$("$CARDTOOL" info "$T/c1.card" 2>&1)
assert_contains "…of card c1" "card c1" "$INFO"
assert_contains "…with the card's expiry" "expiry 2035-06-30" "$INFO"
assert_contains "…the signing certificate issued" "slot sign $SIGN1 tries_left 5" "$INFO"
assert_contains "…the authentication certificate issued" "slot auth $AUTH1 tries_left 3" "$INFO"
check "the signing password unlocks the signing key" "$CARDTOOL" unlock "$T/c1.card" sign ABC123
check "the PIN unlocks the authentication key" "$CARDTOOL" unlock "$T/c1.card" auth 2580
"$CARDTOOL" export "$T/c1.card" sign ABC123 "$T/c1-sign.key" "$T/c1-sign.pem" >/dev/null 2>&1
"$CARDTOOL" export "$T/c1.card" auth 2580 "$T/c1-auth.key" "$T/c1-auth.pem" >/dev/null 2>&1
assert_eq "the exported key is the certificate's" \
  "$(openssl x509 -in "$T/c1-sign.pem" -noout -pubkey)" "$(openssl pkey -in "$T/c1-sign.key" -pubout)"
check "the signing certificate on the card verifies to the signing root" \
  openssl verify -x509_strict -CAfile "$SIGN_CA" "$T/c1-sign.pem"
check "no private key byte of the signing key in the registry" \
  $PY "$JPKI_SOURCE_DIR/test/integration/key_absent.py" "$T/c1-sign.key" "$DB"*
check "…nor of the authentication key" \
  $PY "$JPKI_SOURCE_DIR/test/integration/key_absent.py" "$T/c1-auth.key" "$DB"*
check "…nor anywhere under the data directory" \
  $PY "$JPKI_SOURCE_DIR/test/integration/key_absent.py" "$T/c1-sign.key" \
  $(find "$DATA" -type f)
openssl pkey -in "$T/c1-sign.key" -outform DER -out "$T/c1-sign.der"
check_fails "the key check finds a key where there is one (control)" \
  $PY "$JPKI_SOURCE_DIR/test/integration/key_absent.py" "$T/c1-sign.key" "$T/c1-sign.der"

# Issuance without passwords: generated, reported once.
call POST /v1/cards/c2/issue '{"certificates":"both"}'
assert_eq "issue without passwords: 201" 201 "$ST"
SIGN2=$(jf '.certificates[] | select(.ca=="sign") | .serial')
PW2_SIGN=$(jf .initial_passwords.sign)
PW2_AUTH=$(jf .initial_passwords.auth)
check "…a generated signing password: 12 of A-Z0-9" grep -qE '^[A-Z0-9]{12}$' <<<"$PW2_SIGN"
check "…a generated PIN: 4 digits" grep -qE '^[0-9]{4}$' <<<"$PW2_AUTH"
image "$T/c2.card"
check "…which unlock the image" "$CARDTOOL" unlock "$T/c2.card" sign "$PW2_SIGN"
check "…both" "$CARDTOOL" unlock "$T/c2.card" auth "$PW2_AUTH"
"$CARDTOOL" export "$T/c2.card" sign "$PW2_SIGN" "$T/c2-sign.key" "$T/c2-sign.pem" >/dev/null 2>&1
call GET /v1/cards/c2
assert_eq "the passwords are not in a later answer" "" \
  "$(grep -F -e "$PW2_SIGN" <<<"$RB")"
check_fails "…nor in the registry" grep -qF -e "$PW2_SIGN" "$DB" "$DB-wal"
check_fails "…nor in the log" grep -qF -e "$PW2_SIGN" "$T/jpkid.log"

# A supplied public key: that slot is not written.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/own.key" 2>/dev/null
openssl req -new -key "$T/own.key" -subj /CN=holder -out "$T/own.pub"
call POST /v1/cards/c3/issue \
  "$(jq -cn --rawfile k "$T/own.pub" '{certificates:"both", public_keys:{auth:$k}, passwords:{sign:"SIGN2035"}}')"
assert_eq "issue with a supplied auth key: 201" 201 "$ST"
assert_eq "…the image holds the sign slot only" sign "$(jf '.card_image_slots | join(",")')"
assert_contains "…and says why" "The auth slot is not written: its public key was supplied" \
  "$(jf .card_image_notice)"
image "$T/c3.card"
assert_contains "…the auth slot is empty" "slot auth empty" "$("$CARDTOOL" info "$T/c3.card")"
call POST /v1/cards/c3/issue "$(jq -cn --rawfile k "$T/own.pub" '{certificates:"auth", public_keys:{auth:$k}}')"
assert_eq "every key supplied: 201" 201 "$ST"
assert_eq "…card_image null" null "$(jf .card_image)"

# Refusals (nothing issued).
before=$(sqlite3 "$DB" "SELECT count(*) FROM certificates")
expect "signing password in lower case" 400 passwords.sign POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":{"sign":"abc123"}}'
assert_not_contains "…the message does not repeat it" abc123 "$(jf .error.message)"
expect "signing password too short" 400 passwords.sign POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":{"sign":"ABC12"}}'
expect "PIN of 5 digits" 400 passwords.auth POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":{"auth":"12345"}}'
expect "empty PIN (not a request to generate one)" 400 passwords.auth POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":{"auth":""}}'
expect "PIN not a string" 400 passwords.auth POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":{"auth":2580}}'
expect "password of a slot not requested" 400 passwords.sign POST /v1/cards/c1/issue \
  '{"certificates":"auth","passwords":{"sign":"ABC123"}}'
expect "password of a slot whose key is supplied" 400 passwords.auth POST /v1/cards/c1/issue \
  "$(jq -cn --rawfile k "$T/own.pub" '{certificates:"auth", public_keys:{auth:$k}, passwords:{auth:"2580"}}')"
expect "unknown slot" 400 passwords.pin POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":{"pin":"2580"}}'
expect "passwords not an object" 400 passwords POST /v1/cards/c1/issue \
  '{"certificates":"both","passwords":"ABC123"}'
assert_eq "…nothing issued by the refusals" "$before" \
  "$(sqlite3 "$DB" "SELECT count(*) FROM certificates")"

# ---------------------------------------------------------------------------------------------
# Password reset at the window
for _ in 1 2 3; do "$CARDTOOL" unlock "$T/c1.card" auth 0000 >/dev/null 2>&1; done
"$CARDTOOL" unlock "$T/c1.card" auth 2580 >/dev/null 2>&1
assert_eq "three wrong PINs lock the slot: the right one answers 'locked' (6)" 6 "$?"
assert_contains "…card tool shows it" "tries_left 0 locked" "$("$CARDTOOL" info "$T/c1.card")"
reset_body() { # SLOT NEW IMAGE-FILE
  jq -cn --arg s "$1" --arg p "$2" --rawfile i <(base64 -w0 "$3") \
    '{slot:$s, new_password:$p, card_image:$i}'
}
reset_body auth 5831 "$T/c1.card" >"$T/reset.json"
call POST /v1/cards/c1/reset-password "@$T/reset.json"
assert_eq "reset-password: 200" 200 "$ST"
assert_eq "…answers card, slot, tries left" "c1 auth 3" "$(jf '[.card_id,.slot,.tries_left]|join(" ")')"
image "$T/c1b.card"
assert_contains "…the lock is cleared" "slot auth $AUTH1 tries_left 3" "$("$CARDTOOL" info "$T/c1b.card")"
check "…the new PIN unlocks" "$CARDTOOL" unlock "$T/c1b.card" auth 5831
"$CARDTOOL" unlock "$T/c1b.card" auth 2580 >/dev/null 2>&1
assert_eq "…the old PIN is wrong now (5)" 5 "$?"
check "…the signing slot is untouched" "$CARDTOOL" unlock "$T/c1b.card" sign ABC123
assert_eq "the reset is audited with the slot" 1 \
  "$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE action='card.password_reset' AND target='c1' AND detail='slot=auth' AND actor='admin'")"
check_fails "…and no password in the audit log" \
  grep -q -e 5831 <<<"$(sqlite3 "$DB" "SELECT detail FROM events")"

reset_body auth 5831 "$T/c1b.card" >"$T/reset.json"
expect "reset with another card's id" 400 card_image POST /v1/cards/c2/reset-password "@$T/reset.json"
assert_contains "…says whose image it is" "belongs to card c1, not to card c2" "$(jf .error.message)"
cp "$T/c1b.card" "$T/tampered.card"
printf '\x55' | dd of="$T/tampered.card" bs=1 seek=2000 conv=notrunc 2>/dev/null
reset_body auth 5831 "$T/tampered.card" >"$T/reset.json"
expect "reset of a tampered image" 400 card_image POST /v1/cards/c1/reset-password "@$T/reset.json"
assert_contains "…says so" "damaged or has been tampered with" "$(jf .error.message)"
expect "card_image not base64" 400 card_image POST /v1/cards/c1/reset-password \
  '{"slot":"auth","new_password":"5831","card_image":"!!!"}'
reset_body auth 58310 "$T/c1b.card" >"$T/reset.json"
expect "new PIN of 5 digits" 400 new_password POST /v1/cards/c1/reset-password "@$T/reset.json"
reset_body pin 5831 "$T/c1b.card" >"$T/reset.json"
expect "unknown slot" 400 slot POST /v1/cards/c1/reset-password "@$T/reset.json"
reset_body sign ABC123 "$T/c3.card" >"$T/reset.json"
call POST /v1/cards/c3/reset-password "@$T/reset.json"
assert_eq "reset of c3's signing slot: 200" 200 "$ST"
reset_body auth 2580 "$T/c3.card" >"$T/reset.json"
expect "reset of an empty slot" 400 slot POST /v1/cards/c3/reset-password "@$T/reset.json"
call POST /v1/operators '{"name":"aud","role":"auditor"}'
AUDITOR=$(jf .token)
TOKEN=$AUDITOR
reset_body auth 5831 "$T/c1b.card" >"$T/reset.json"
expect "an auditor may not reset" 403 null POST /v1/cards/c1/reset-password "@$T/reset.json"
TOKEN=
expect "nor anyone without a credential" 401 authorization POST /v1/cards/c1/reset-password "@$T/reset.json"
TOKEN=$ADMIN

# ---------------------------------------------------------------------------------------------
# Online revocation by the holder (no operator credential)
"$CARDTOOL" export "$T/c1b.card" sign ABC123 "$T/s1.key" "$T/s1.pem" >/dev/null 2>&1
assert_eq "OCSP: c1's authentication certificate is good" good "$(ocsp_status "$AUTH_CA" "$T/c1-auth.pem")"
request "$T/r1.der" "$AUTH1" cessationOfOperation "$T/s1.key" "$T/s1.pem"
holder "$T/r1.der"
assert_eq "holder revokes his authentication certificate: 200" 200 "$ST"
assert_eq "…receipt fields" "$AUTH1 revoked cessationOfOperation" "$(jf '[.serial,.status,.reason]|join(" ")')"
assert_eq "…echoes the request id" "$(jq -r .request_id "$T/r1.der.json")" "$(jf .request_id)"
check "…a 32-hex receipt id" grep -qE '^[0-9a-f]{32}$' <<<"$(jf .receipt_id)"
printf '%s' "$(jf .receipt)" >"$T/receipt.txt"
jf .signature | base64 -d >"$T/receipt.sig"
jf .signer_certificate >"$T/receipt-signer.pem"
assert_eq "…the signed receipt carries the same fields" \
  "$(jf '[.receipt_id,.serial,.status,.reason,.revoked_at,.request_id]|join(" ")')" \
  "$(jq -r '[.receipt_id,.serial,.status,.reason,.revoked_at,.request_id]|join(" ")' "$T/receipt.txt")"
openssl x509 -in "$T/receipt-signer.pem" -noout -pubkey >"$T/receipt-signer.pub"
check "…its signature verifies with openssl (the OCSP signer's key)" \
  openssl dgst -sha256 -verify "$T/receipt-signer.pub" -signature "$T/receipt.sig" "$T/receipt.txt"
check "…and the signer is the authentication CA's OCSP signer" \
  openssl verify -CAfile "$AUTH_CA" "$T/receipt-signer.pem"
printf '%s ' "$(cat "$T/receipt.txt")" >"$T/receipt-edited.txt"
check_fails "…an edited receipt does not verify" \
  openssl dgst -sha256 -verify "$T/receipt-signer.pub" -signature "$T/receipt.sig" "$T/receipt-edited.txt"
assert_eq "OCSP: revoked at once" revoked "$(ocsp_status "$AUTH_CA" "$T/c1-auth.pem")"
TOKEN=$ADMIN
call GET "/v1/certificates/$AUTH1"
assert_eq "registry: revoked cessationOfOperation" "revoked cessationOfOperation" "$(jf '[.status,.reason]|join(" ")')"
assert_contains "…history names the holder's key" "holder:$SIGN1" "$(jf '.history[].actor')"

holder "$T/r1.der"
assert_eq "the same request again: 409" 409 "$ST"
assert_eq "…field request_id" request_id "$(jf .error.field)"
assert_contains "…replayed request" "replayed request" "$(jf .error.message)"
assert_eq "…one request row" 1 "$(sqlite3 "$DB" "SELECT count(*) FROM holder_requests")"

request "$T/r1b.der" "$AUTH1" keyCompromise "$T/s1.key" "$T/s1.pem"
holder "$T/r1b.der"
assert_eq "a new request for the revoked certificate: 409 refused serial" "409 refused serial" \
  "$ST $(jf .error.code) $(jf .error.field)"
assert_eq "…rolled back with it: still one request row" 1 \
  "$(sqlite3 "$DB" "SELECT count(*) FROM holder_requests")"

SIGN1_PEM=$T/s1.pem
request "$T/r2.der" "$SIGN1" keyCompromise "$T/c2-sign.key" "$T/c2-sign.pem"
holder "$T/r2.der"
assert_eq "another card's key for c1's serial: 403" 403 "$ST"
assert_eq "…field serial" serial "$(jf .error.field)"
assert_eq "OCSP: c1's signing certificate still good" good "$(ocsp_status "$SIGN_CA" "$SIGN1_PEM")"

"$CARDTOOL" export "$T/c1b.card" auth 5831 "$T/a1.key" "$T/a1.pem" >/dev/null 2>&1
request "$T/r3.der" "$SIGN1" keyCompromise "$T/a1.key" "$T/a1.pem"
holder "$T/r3.der"
assert_eq "signed with the authentication key: 403" 403 "$ST"
assert_eq "…field signer" signer "$(jf .error.field)"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/self.key" -out "$T/self.pem" -days 1 \
  -subj "/CN=me" 2>/dev/null
request "$T/r4.der" "$SIGN1" keyCompromise "$T/self.key" "$T/self.pem"
holder "$T/r4.der"
assert_eq "signed by a certificate not ours: 403 signer" "403 signer" "$ST $(jf .error.field)"

request "$T/r5.der" "$SIGN1" keyCompromise "$T/s1.key" "$T/s1.pem" "2020-01-01T00:00:00Z"
holder "$T/r5.der"
assert_eq "a stale request: 403 time" "403 time" "$ST $(jf .error.field)"

request "$T/r6.der" "$SIGN1" keyCompromise "$T/s1.key" "$T/s1.pem"
cp "$T/r6.der" "$T/r6-bad.der"
python3 - "$T/r6-bad.der" <<'EOF'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
i = d.find(b"keyCompromise")
d[i] ^= 0x20  # "KeyCompromise": the signed document changed
open(p, "wb").write(d)
EOF
holder "$T/r6-bad.der"
assert_eq "altered document: 403 signature" "403 signature" "$ST $(jf .error.field)"
head -c 200 "$T/r6.der" >"$T/r6-short.der"
holder "$T/r6-short.der"
assert_eq "truncated request: 400 request" "400 request" "$ST $(jf .error.field)"
printf 'hello' >"$T/garbage.der"
holder "$T/garbage.der"
assert_eq "garbage: 400 request" "400 request" "$ST $(jf .error.field)"
head -c 17000 /dev/zero >"$T/big.der"
holder "$T/big.der"
assert_eq "over 16 KiB: 413" 413 "$ST"
printf '{"serial":"%s","reason":"superseded","request_id":"%s","time":"%s"}' "$SIGN1" \
  "$(openssl rand -hex 16)" "$(now)" >"$T/r7.json"
openssl cms -sign -signer "$T/s1.pem" -inkey "$T/s1.key" -binary -outform DER -nodetach \
  -in "$T/r7.json" -out "$T/r7.der"
holder "$T/r7.der"
assert_eq "a reason a holder may not give: 400 reason" "400 reason" "$ST $(jf .error.field)"
ST=$(curl -s -o "$T/resp" -w '%{http_code}' "$URL/v1/holder/revoke")
assert_eq "GET: 405 without any credential" 405 "$ST"
assert_eq "OCSP: after all those refusals c1's signing certificate is good" good \
  "$(ocsp_status "$SIGN_CA" "$SIGN1_PEM")"

# The holder revokes his signing certificate with its own key; then that key proves nothing.
holder "$T/r6.der"
assert_eq "holder revokes his signing certificate: 200" "200 revoked keyCompromise" \
  "$ST $(jf .status) $(jf .reason)"
assert_eq "OCSP: revoked" revoked "$(ocsp_status "$SIGN_CA" "$SIGN1_PEM")"
request "$T/r8.der" "$SIGN1" unspecified "$T/s1.key" "$T/s1.pem"
holder "$T/r8.der"
assert_eq "a request signed by the revoked key: 403 signer" "403 signer" "$ST $(jf .error.field)"

# ---------------------------------------------------------------------------------------------
# A re-issue of one slot into the holder's current image: the other slot kept as it was.
call POST /v1/persons '{"id":"p9","name":"山田 一郎","address":"大阪府大阪市北区1-1","birth_date":"1975-08-21","gender":"male"}'
call POST /v1/cards '{"id":"c9","person_id":"p9","type":"mynumber","expiry":"2035-06-30"}'
call POST /v1/cards/c9/issue '{"certificates":"both","passwords":{"sign":"QWERTY7890","auth":"5829"}}'
AUTH9=$(jf '.certificates[] | select(.ca=="auth") | .serial')
SIGN9=$(jf '.certificates[] | select(.ca=="sign") | .serial')
image "$T/c9.card"
call POST /v1/cards/c9/issue "$(jq -cn --rawfile i <(base64 -w0 "$T/c9.card") \
  '{certificates:"sign", passwords:{sign:"ZXCVBN4567"}, card_image:$i}')"
assert_eq "re-issue of sign with the current image: 201" 201 "$ST"
assert_eq "…the sign slot written, the auth slot kept" "sign auth" \
  "$(jf '"\(.card_image_slots | join(",")) \(.card_image_kept | join(","))"')"
NEW9=$(jf '.certificates[0].serial')
image "$T/c9b.card"
INFO=$("$CARDTOOL" info "$T/c9b.card" 2>&1)
assert_contains "…the image holds the new signing certificate" "slot sign $NEW9 tries_left 5" "$INFO"
assert_contains "…and still the authentication one" "slot auth $AUTH9 tries_left 3" "$INFO"
check "…whose PIN is unchanged" "$CARDTOOL" unlock "$T/c9b.card" auth 5829
check "…and the new signing password opens the new slot" "$CARDTOOL" unlock "$T/c9b.card" sign ZXCVBN4567
call GET "/v1/certificates/$SIGN9"
assert_eq "…the old signing certificate superseded" "revoked superseded" "$(jf '"\(.status) \(.reason)"')"
expect "re-issue with another card's image" 400 card_image POST /v1/cards/c9/issue \
  "$(jq -cn --rawfile i <(base64 -w0 "$T/c2.card") '{certificates:"sign", card_image:$i}')"
expect "re-issue with an image that is not one" 400 card_image POST /v1/cards/c9/issue \
  '{"certificates":"sign","card_image":"AAAA"}'
expect "re-issue with an image and a supplied key" 400 card_image POST /v1/cards/c9/issue \
  "$(jq -cn --rawfile i <(base64 -w0 "$T/c9b.card") --rawfile k "$T/own.pub" \
    '{certificates:"sign", public_keys:{sign:$k}, card_image:$i}')"

# Audit: every holder call, as anonymous; no password anywhere in the log.
assert_eq "holder calls audited as anonymous (2 ok)" 2 \
  "$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE actor='anonymous' AND action='POST /v1/holder/revoke' AND outcome='ok'")"
assert_eq "…and the refusals (12)" 12 \
  "$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE actor='anonymous' AND action='POST /v1/holder/revoke' AND outcome='refused'")"
for pw in ABC123 "$PW2_SIGN" SIGN2035; do
  check_fails "no password $pw in the events" grep -qF -e "$pw" <<<"$(sqlite3 "$DB" "SELECT * FROM events")"
done
jpkid_stop
check_fails "no sanitizer report in the service log (ASan builds)" \
  grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/jpkid.log"
check "audit-verify intact" "$JPKID" audit-verify "${SETS[@]}"

it_finish
