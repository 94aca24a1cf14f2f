#!/usr/bin/env bash
# Issue 13, CA side: a whole instance on keystore.backend pkcs11, its keys in a real SoftHSM2
# token. Refusals first (wrong PIN, absent token, locked PIN: one sentence naming module, token and CKR
# code, nothing written); then init (keys in the token, never extractable, no private key on
# disk), issuance of both kinds, OCSP with and without nonce, revocation, CRLs, the holder's
# online revocation — checked by openssl, GnuTLS certtool and Python cryptography; then the
# token's directory taken away while serving (OCSP tryLater, 503 on the API, /readyz names the
# key check, nothing half-written) and put back (the service heals by itself).
. "$(dirname "$0")/lib.sh"
it_setup
[ -n "${HSM_MODULE:-}" ] || it_pkcs11_backend # the token jpki-ca under $T/tokens, the keystore.pkcs11 settings in SETS
MOD=$HSM_MODULE

# --- refusals before anything is written ---
JPKI_HSM_PIN=654321 "$JPKID" init "${SETS[@]}" >"$T/out" 2>&1
assert_eq "init with a wrong PIN: exit 1" 1 $?
assert_contains "…one sentence: module, token, CKR code" \
  "PKCS#11 module $MOD, token \"jpki-ca\": C_Login failed: CKR_PIN_INCORRECT" "$(cat "$T/out")"
check_fails "…nothing written" ls "$DATA/jpki.db" "$DATA/keys" "$DATA/certs" "$DATA/token"
"$JPKID" init "${SETS[@]}" --set keystore.pkcs11.token=nowhere >"$T/out" 2>&1
assert_eq "init with an absent token: exit 1" 1 $?
assert_contains "…names it" "token \"nowhere\": no token with this label is present (CKR_TOKEN_NOT_PRESENT)" \
  "$(cat "$T/out")"
check_fails "…nothing written" ls "$DATA/jpki.db" "$DATA/keys" "$DATA/certs" "$DATA/token"

# A locked user PIN: SoftHSM2 never locks one (it counts no wrong PINs), so the flag it reports
# is set in its token file (softhsm_pin_locked.py); jpki must refuse without trying the PIN.
softhsm2-util --init-token --free --label jpki-locked --pin 123456 --so-pin 12345678 >/dev/null &&
  $PY "$JPKI_SOURCE_DIR/test/integration/softhsm_pin_locked.py" "$T/tokens" jpki-locked
check "pkcs11-tool sees the PIN locked" bash -c "pkcs11-tool --module '$MOD' -L | grep -q 'user PIN locked'"
"$JPKID" init "${SETS[@]}" --set keystore.pkcs11.token=jpki-locked >"$T/out" 2>&1
assert_eq "init on a token whose PIN is locked: exit 1" 1 $?
assert_contains "…one sentence: module, token, CKR code" \
  "PKCS#11 module $MOD, token \"jpki-locked\": C_Login failed: CKR_PIN_LOCKED" "$(cat "$T/out")"
check_fails "…nothing written" ls "$DATA/jpki.db" "$DATA/keys" "$DATA/certs" "$DATA/token"

# --- init: keys in the token, none on disk ---
it_init || exit 1
for k in sign-ca auth-ca sign-ocsp auth-ocsp audit; do
  assert_contains "$k recorded as a pkcs11: URI" "pkcs11:" "$(cat "$DATA/token/$k.uri")"
  check_fails "…no key file for $k" test -e "$DATA/keys/$k.key"
done
check_fails "grep -r 'PRIVATE KEY' DATA_DIR finds nothing" grep -rlE 'PRIVATE KEY' "$DATA"
objs=$(pkcs11-tool --module "$MOD" --token-label jpki-ca --login --pin 123456 --list-objects \
  --type privkey 2>/dev/null)
assert_eq "pkcs11-tool lists the five private keys" 5 "$(grep -c 'Private Key Object' <<<"$objs")"
assert_eq "…every one never extractable" 5 "$(grep -c 'never extractable' <<<"$objs")"
assert_eq "…and sensitive" 5 "$(grep -c 'Access:.*sensitive' <<<"$objs")"
assert_eq "…none extractable" 0 "$(grep 'Access:' <<<"$objs" | sed 's/never extractable//g' | grep -c extractable)"
assert_contains "…labelled by CA, purpose and generation" "label:      jpki sign-ca g1" "$objs"

"$JPKID" init "${SETS[@]}" --set "data_dir=$T/second" >"$T/out" 2>&1
assert_eq "a second instance on the same token is refused: exit 1" 1 $?
assert_contains "…naming the key already there" \
  "token \"jpki-ca\": already holds a key labelled \"jpki sign-ca g1\"" "$(cat "$T/out")"
check_fails "…nothing written" ls "$T/second/jpki.db" "$T/second/keys" "$T/second/certs" "$T/second/token"

# --- serving ---
JPKI_HSM_PIN=000000 "$JPKID" serve "${SETS[@]}" --set listen.http=127.0.0.1:0 >"$T/out" 2>&1
assert_eq "serve with a wrong PIN refuses to start: exit 1" 1 $?
assert_contains "…in one sentence" "C_Login failed: CKR_PIN_INCORRECT" "$(cat "$T/out")"
jpkid_start --set crl.after_change_s=1 || exit 1
TOKEN=$(cat "$DATA/admin.token")
SIGN_CA=$DATA/certs/sign-ca.pem
AUTH_CA=$DATA/certs/auth-ca.pem
export JPKI_URL=$URL JPKI_TOKEN_FILE=$DATA/admin.token
call() { # METHOD PATH [BODY]: status in ST, body in RB
  local args=(-s -o "$T/resp" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  ST=$(curl "${args[@]}" "$URL$2")
  RB=$(cat "$T/resp")
}
issue() { # ID PERSON: both certificates onto a card image $T/ID.card, PEMs $T/ID-{sign,auth}.pem
  call POST /v1/persons "{\"id\":\"$2\",\"name\":\"試験 花子\",\"address\":\"東京都千代田区1-1\",\"birth_date\":\"1990-03-04\",\"gender\":\"female\"}"
  call POST /v1/cards "{\"id\":\"$1\",\"person_id\":\"$2\",\"type\":\"mynumber\",\"expiry\":\"2034-01-31\"}"
  call POST "/v1/cards/$1/issue" '{"certificates":"both","passwords":{"sign":"QWERTY7890","auth":"5831"}}'
  [ "$ST" = 201 ] || return 1
  (umask 077 && jq -r .card_image <<<"$RB" | base64 -d >"$T/$1.card")
  for ca in sign auth; do
    jq -r ".certificates[] | select(.ca == \"$ca\") | .pem" <<<"$RB" >"$T/$1-$ca.pem"
  done
}
check "both kinds issued through the API (CA keys in the token)" issue c1 p1
for ca in sign auth; do
  pem=$T/c1-$ca.pem
  check "$ca certificate: openssl verify -x509_strict" \
    openssl verify -x509_strict -CAfile "$DATA/certs/$ca-ca.pem" "$pem"
  check "…GnuTLS certtool verifies it against the root" \
    certtool --verify --load-ca-certificate "$DATA/certs/$ca-ca.pem" --infile "$pem"
  facts=()
  [ "$ca" = sign ] && facts=("試験 花子" "東京都千代田区1-1" 419900304 2)
  check "…Python cryptography reads its profile" \
    $PY "$JPKI_SOURCE_DIR/test/integration/check_cert.py" "$pem" "$DATA/certs/$ca-ca.pem" "$ca" \
    "${facts[@]}"
  out=$(openssl ocsp -issuer "$DATA/certs/$ca-ca.pem" -cert "$pem" -url "$URL/ocsp" \
    -CAfile "$DATA/certs/$ca-ca.pem" 2>&1)
  assert_contains "$ca OCSP with a nonce (signed by the token now): good" "$pem: good" "$out"
  assert_contains "…verifies" "Response verify OK" "$out"
  out=$(openssl ocsp -issuer "$DATA/certs/$ca-ca.pem" -cert "$pem" -url "$URL/ocsp" \
    -CAfile "$DATA/certs/$ca-ca.pem" -no_nonce -respout "$T/$ca.ocsp" 2>&1)
  assert_contains "$ca OCSP without a nonce (pre-signed): good" "$pem: good" "$out"
  check "…Python cryptography checks it" $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" \
    ocsp "$T/$ca.ocsp" "$DATA/certs/$ca-ca.pem" "$DATA/certs/$ca-ocsp.pem" good
done

# revocation by the operator, then the CRL
SERIAL=$(openssl x509 -in "$T/c1-sign.pem" -noout -serial | cut -d= -f2)
call POST "/v1/certificates/$SERIAL/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke through the API: 200" 200 "$ST"
for _ in $(seq 1 40); do
  out=$(openssl ocsp -issuer "$SIGN_CA" -cert "$T/c1-sign.pem" -url "$URL/ocsp" -CAfile "$SIGN_CA" 2>&1)
  [[ "$out" == *"$T/c1-sign.pem: revoked"* ]] && break
  sleep 0.1
done
assert_contains "OCSP says revoked" "$T/c1-sign.pem: revoked" "$out"
for _ in $(seq 1 40); do
  curl -fs "$URL/crl/sign.crl" -o "$T/sign.crl"
  openssl crl -inform DER -in "$T/sign.crl" -noout -text 2>/dev/null | grep -qi "$SERIAL" && break
  sleep 0.25
done
assert_contains "the sign CRL signed by the token verifies" "verify OK" \
  "$(openssl crl -inform DER -in "$T/sign.crl" -CAfile "$SIGN_CA" -noout 2>&1)"
check "…and lists the serial (Python cryptography)" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" crl "$T/sign.crl" "$SIGN_CA" 1

# the holder's online revocation (receipt signed by the OCSP signer in the token)
check "a second card" issue c2 p2
(cd "$T" && JPKI_CARD_PASSWORD=QWERTY7890 "$JPKICTL" card revoke "$T/c2.card" --slot auth \
  --reason keyCompromise >"$T/ctl.out" 2>"$T/ctl.err")
rc=$?
assert_eq "holder online revocation: exit 0" 0 "$rc"
[ "$rc" = 0 ] || sed 's/^/    /' "$T/ctl.err"
assert_contains "…the receipt's signature verified under the root in the card" \
  "signature:    verified" "$(cat "$T/ctl.out")"

# --- the token goes away while serving ---
call GET /readyz
assert_eq "/readyz: 200 with the token" 200 "$ST"
COUNT_BEFORE=$(sqlite3 "$DATA/jpki.db" "SELECT count(*) FROM certificates")
mv "$T/tokens" "$T/tokens.away"
out=$(openssl ocsp -issuer "$AUTH_CA" -cert "$T/c1-auth.pem" -url "$URL/ocsp" -CAfile "$AUTH_CA" 2>&1)
assert_contains "token away: OCSP with a nonce answers tryLater" "trylater" "$out"
out=$(openssl ocsp -issuer "$AUTH_CA" -cert "$T/c1-auth.pem" -url "$URL/ocsp" -CAfile "$AUTH_CA" -no_nonce 2>&1)
assert_contains "…a pre-signed answer still serves" "$T/c1-auth.pem: good" "$out"
call GET /readyz
assert_eq "…/readyz: 503" 503 "$ST"
assert_contains "…names the key check with module, token and CKR code" \
  "PKCS#11 module $MOD, token \\\"jpki-ca\\\": " "$(jq -c .checks.keys <<<"$RB")"
assert_eq "…the key check is the one failing" not_ready "$(jq -r .status <<<"$RB")"
check_fails "…issuance fails" issue c3 p3
assert_eq "…with 503" 503 "$ST"
assert_eq "…nothing half-written: no new certificate row" "$COUNT_BEFORE" \
  "$(sqlite3 "$DATA/jpki.db" "SELECT count(*) FROM certificates")"
mv "$T/tokens.away" "$T/tokens"
for _ in $(seq 1 50); do
  call GET /readyz
  [ "$ST" = 200 ] && break
  sleep 0.2
done
assert_eq "token back: /readyz 200 again, by itself" 200 "$ST"
out=$(openssl ocsp -issuer "$AUTH_CA" -cert "$T/c1-auth.pem" -url "$URL/ocsp" -CAfile "$AUTH_CA" 2>&1)
assert_contains "…OCSP with a nonce signed again" "$T/c1-auth.pem: good" "$out"
assert_contains "…verifies" "Response verify OK" "$out"
check "…issuance works again" issue c4 p4
check "…and the new certificate verifies" \
  openssl verify -x509_strict -CAfile "$SIGN_CA" "$T/c4-sign.pem"
check_fails "still no private key on disk" grep -rlE 'PRIVATE KEY' "$DATA"
it_finish
