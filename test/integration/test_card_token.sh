#!/usr/bin/env bash
# Issue 13, holder side: a card is a PKCS#11 token. A SoftHSM2 module (real, no mock) under a
# temporary SOFTHSM2_CONF plays a My Number card in the layout OpenSC's JPKI driver shows (two
# tokens, one per PIN). jpkictl initialises the blank card (the PIN rules enforced), issues
# onto it (key pairs generated ON the token, sent as CSRs signed by the token keys), writes the
# certificates and roots back; the holder shows, checks, exports, signs (jpkictl verify VALID
# with OCSP, openssl cms agrees), changes a PIN, revokes online (verify NOT VALID after).
# pkcs11-tool shows the keys sensitive and never extractable; no private key is on disk
# outside the token directory.
. "$(dirname "$0")/lib.sh"
it_setup
MOD=${JPKI_TEST_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -r "$MOD" ]; then
  echo "no PKCS#11 module at $MOD (scripts/setup installs softhsm2)"
  exit 1
fi
mkdir -p "$T/tokens" "$T/work"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$T/tokens" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf
it_init || exit 1
grep -rl 'PRIVATE KEY' "$T" --exclude-dir=tokens | sort >"$T/keys-before.tmp"
mv "$T/keys-before.tmp" "$T/keys-before"
jpkid_start || exit 1
export JPKI_URL=$URL
export JPKI_TOKEN_FILE=$DATA/admin.token
unset JPKI_CARD_PASSWORD JPKI_CARD_NEW_PASSWORD
TOKEN=$(cat "$DATA/admin.token")
CARD=(--pkcs11 "$MOD" --token c1)
NAME="山田 花子"

ALL_OUTPUT=
p11tool() { pkcs11-tool --module "$MOD" "$@" 2>/dev/null; }

printf 'so-pin-1\n' >"$T/so.pin"
printf '{"sign":"K7Q2ZP0M","auth":"5831"}' >"$T/pins.json"
printf 'K7Q2ZP0M\n' >"$T/sign.pin"
chmod 600 "$T"/*.pin "$T/pins.json"

# --- the blank card: jpkictl initialises it, the card's PIN rules first ---
printf '{"sign":"k7q2zp0m","auth":"5831"}' >"$T/bad-sign.json"
ctl card init-token "${CARD[@]}" --so-pin-file "$T/so.pin" --passwords-file "$T/bad-sign.json"
assert_eq "init-token with a lower-case signing password: exit 1" 1 "$RC"
assert_contains "…the rule, in words" "A-Z" "$ERR"
printf '{"sign":"K7Q2ZP0M","auth":"58311"}' >"$T/bad-auth.json"
ctl card init-token "${CARD[@]}" --so-pin-file "$T/so.pin" --passwords-file "$T/bad-auth.json"
assert_eq "init-token with a 5-digit PIN: exit 1" 1 "$RC"
assert_contains "…4 digits" "4 digits" "$ERR"
ctl card show "${CARD[@]}"
assert_eq "…nothing made by the refusals: no card c1 yet (exit 1)" 1 "$RC"
assert_contains "…naming the module and the token" "PKCS#11 module $MOD has no token \"c1 (Digital Signature PIN)\"" "$ERR"
ctl card init-token "${CARD[@]}" --so-pin-file "$T/so.pin" --passwords-file "$T/pins.json"
assert_eq "init-token: exit 0" 0 "$RC"
LIST=$(p11tool --list-token-slots)
assert_contains "…the signing PIN's token, labelled as OpenSC labels a card's" \
  "c1 (Digital Signature PIN)" "$LIST"
assert_contains "…the authentication PIN's token" "c1 (User Authentication PIN)" "$LIST"
ctl card init-token "${CARD[@]}" --so-pin-file "$T/so.pin" --passwords-file "$T/pins.json"
assert_eq "init-token of an existing card: exit 1" 1 "$RC"

# --- the window registers the card and issues onto the token ---
call POST /v1/persons "{\"id\":\"p1\",\"name\":\"$NAME\",\"address\":\"東京都千代田区霞が関2-1-2\",\"birth_date\":\"1990-01-02\",\"gender\":\"female\"}"
assert_eq "person p1 registered" 201 "$ST"
call POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2035-06-30","prefecture":"東京都","municipality":"千代田区"}'
assert_eq "card c1 registered" 201 "$ST"
ctl card issue c1 --certs both "${CARD[@]}" --passwords-file "$T/pins.json"
assert_eq "card issue onto the token: exit 0" 0 "$RC"
[ "$RC" = 0 ] || echo "    $ERR"
assert_contains "…written onto the token" "onto the token" "$OUT"
check "…no card image written" test ! -e "$T/work/c1.card"
call GET /v1/cards/c1
SIGN=$(jf '[.certificates[] | select(.ca == "sign" and .status == "good")][0].serial')
AUTH=$(jf '[.certificates[] | select(.ca == "auth" and .status == "good")][0].serial')
check "…the registry has a good certificate of each" test "$SIGN" != null -a "$AUTH" != null
ctl card issue c1 --certs sign "${CARD[@]}" --passwords-file "$T/pins.json"
assert_eq "a second issuance onto the same token: exit 1" 1 "$RC"
assert_contains "…a card is issued once" "issued once" "$ERR"

# --- the token's objects: the JPKI layout, keys sensitive and never extractable ---
OBJS=$(p11tool --token-label "c1 (Digital Signature PIN)" --login --pin K7Q2ZP0M --list-objects)
assert_contains "signing key, ID 02" "label:      Digital Signature Key
  ID:         02" "$OBJS"
assert_contains "…the private key sensitive, never extractable" \
  "Access:     sensitive, always sensitive, never extractable, local" "$OBJS"
assert_contains "…its certificate, ID 02" "label:      Digital Signature Certificate
  subject:" "$OBJS"
assert_contains "…the signing CA root, ID 04" "Digital Signature Certificate CA" "$OBJS"
OBJS=$(p11tool --token-label "c1 (User Authentication PIN)" --login --pin 5831 --list-objects)
assert_contains "authentication key, ID 01" "label:      User Authentication Key
  ID:         01" "$OBJS"
assert_contains "…never extractable" "never extractable" "$OBJS"
assert_contains "…the authentication CA root" "User Authentication Certificate CA" "$OBJS"
# the only private keys on disk are the CA's own (encrypted, DATA_DIR/keys): the holder's
# flow added none anywhere outside the token directory
check "no private key on disk outside the token directory, beyond the CA's own" \
  diff <(cat "$T/keys-before") <(grep -rl 'PRIVATE KEY' "$T" --exclude-dir=tokens | sort)
check "…nor a card image in the data directory" bash -c "! find '$DATA' -name '*.card' | grep -q ."

# --- card show / export / check ---
ctl card show "${CARD[@]}"
assert_eq "card show on the token: exit 0" 0 "$RC"
assert_contains "…the card" "token c1" "$OUT"
assert_contains "…the name" "name:         $NAME" "$OUT"
assert_contains "…the signing serial" "serial:       $SIGN" "$OUT"
assert_contains "…the authentication serial" "serial:       $AUTH" "$OUT"
assert_contains "…the lockout is the token's" "counted by the token" "$OUT"
call GET /ca/fingerprints
assert_contains "…the roots as the service publishes them" "sign  SHA-256 $(jf .sign.sha256)" "$OUT"
ctl card show "${CARD[@]}" --pin-file "$T/sign.pin"
assert_eq "card show --pin-file (the signing PIN first, as a real card needs): exit 0" 0 "$RC"
assert_contains "…the signing serial" "serial:       $SIGN" "$OUT"
ctl card fingerprints "${CARD[@]}" --compare
assert_eq "card fingerprints --compare on the token: exit 0" 0 "$RC"
assert_contains "…the roots written at issuance are the service's" \
  "auth root: matches the fingerprint the service publishes" "$OUT"
ctl card export "${CARD[@]}" --slot auth -o "$T/auth.pem"
assert_eq "card export --slot auth: exit 0" 0 "$RC"
assert_eq "…the registered certificate" "$AUTH" \
  "$(openssl x509 -in "$T/auth.pem" -noout -serial | cut -d= -f2)"
it_keyalg_check_cert "$T/auth.pem" # the key the token made is of the CA's algorithm
ctl card check "${CARD[@]}"
assert_eq "card check: exit 0" 0 "$RC"
assert_contains "…sign good through OCSP" "sign certificate $SIGN: good (OCSP)" "$OUT"
assert_contains "…auth good through OCSP" "auth certificate $AUTH: good (OCSP)" "$OUT"
assert_contains "…all good" "all good" "$OUT"

# --- sign on the token; the relying party verifies ---
printf 'application for a residence certificate\n' >"$T/app.txt"
ctl card sign "$T/app.txt" "${CARD[@]}" --pin-file "$T/wrong.pin" -o "$T/app.p7s"
assert_eq "card sign with an unreadable PIN file: exit 1" 1 "$RC"
printf 'ZZZ999\n' >"$T/wrong.pin"
ctl card sign "$T/app.txt" "${CARD[@]}" --pin-file "$T/wrong.pin" -o "$T/app.p7s"
assert_eq "card sign with a wrong PIN: exit 1" 1 "$RC"
assert_contains "…the token's answer" "CKR_PIN_INCORRECT" "$ERR"
check "…no signature written" test ! -e "$T/app.p7s"
ctl card sign "$T/app.txt" "${CARD[@]}" --pin-file "$T/sign.pin" -o "$T/app.p7s"
assert_eq "card sign on the token: exit 0" 0 "$RC"
check "openssl cms -verify accepts the token's signature" openssl cms -verify -binary \
  -inform DER -in "$T/app.p7s" -content "$T/app.txt" -CAfile "$DATA/certs/sign-ca.pem" -out /dev/null
ctl verify "$T/app.txt" "$T/app.p7s"
assert_eq "jpkictl verify: exit 0" 0 "$RC"
assert_contains "…VALID" "VALID: $T/app.txt was signed by" "$OUT"
assert_contains "…status from OCSP" "OCSP" "$OUT$ERR"

# --- the holder changes the authentication PIN on the token ---
printf '5831\n' >"$T/old.pin"
printf '123\n' >"$T/new.pin"
ctl card passwd "${CARD[@]}" --slot auth --old-file "$T/old.pin" --new-file "$T/new.pin"
assert_eq "card passwd with a new PIN outside the rule: exit 1" 1 "$RC"
printf '2468\n' >"$T/new.pin"
ctl card passwd "${CARD[@]}" --slot auth --old-file "$T/old.pin" --new-file "$T/new.pin"
assert_eq "card passwd --slot auth: exit 0" 0 "$RC"
check "…the token takes the new PIN" p11tool --token-label "c1 (User Authentication PIN)" \
  --login --pin 2468 --list-objects
check_fails "…and no longer the old one" p11tool --token-label "c1 (User Authentication PIN)" \
  --login --pin 5831 --list-objects --type privkey

# --- online revocation, signed on the token ---
(cd "$T/work" && "$JPKICTL" card revoke "${CARD[@]}" --reason keyCompromise \
  --pin-file "$T/sign.pin" >"$T/ctl.out" 2>"$T/ctl.err")
RC=$?
OUT=$(cat "$T/ctl.out")
ERR=$(cat "$T/ctl.err")
assert_eq "card revoke on the token: exit 0" 0 "$RC"
assert_contains "…the receipt checked" "verified: signed by the CA's OCSP signer" "$OUT"
check "…and saved" test -s "$T/work/revocation-receipt-$SIGN.json"
call GET "/v1/certificates/$SIGN"
assert_eq "the registry: revoked" revoked "$(jf .status)"
ctl verify "$T/app.txt" "$T/app.p7s"
assert_eq "jpkictl verify after the revocation: exit 1" 1 "$RC"
assert_contains "…NOT VALID: revoked (keyCompromise)" "NOT VALID: revoked:" "$OUT"
assert_contains "…the reason" "(keyCompromise)" "$OUT"

# --- a locked PIN: the token's say (SoftHSM2 counts none, so its flag is set in the file) ---
$PY "$JPKI_SOURCE_DIR/test/integration/softhsm_pin_locked.py" "$T/tokens" "c1 (Digital Signature PIN)"
ctl card show "${CARD[@]}" --pin-file "$T/sign.pin"
assert_eq "card show with the signing PIN on a token that has locked it: exit 1" 1 "$RC"
assert_contains "…slot locked, the token's code named" "CKR_PIN_LOCKED" "$ERR"
assert_contains "…the token named" "c1 (Digital Signature PIN)" "$ERR"

# --- the token options are checked ---
ctl card show "${CARD[@]}" "$T/x.card"
assert_eq "a token and an image at once: exit 2" 2 "$RC"
ctl card show --pkcs11 "$MOD"
assert_eq "--pkcs11 without --token: exit 2" 2 "$RC"
ctl card show --pkcs11 /nonexistent/module.so --token c1
assert_eq "a module that does not load: exit 1" 1 "$RC"
assert_contains "…named" "PKCS#11 module /nonexistent/module.so does not load" "$ERR"

assert_not_contains "no PIN on any stream" "K7Q2ZP0M" "$ALL_OUTPUT"
it_finish
