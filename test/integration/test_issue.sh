#!/usr/bin/env bash
# Issue 2 acceptance: init, key files, issued certificates checked by three independent
# parsers (openssl verify -x509_strict, GnuTLS certtool, Python cryptography), lifecycle
# refusals through the test driver, audit chain verification and tamper detection.
. "$(dirname "$0")/lib.sh"
it_setup

out=$("$JPKID" init "${SETS[@]}" 2>&1)
check "jpkid init succeeds" test $? -eq 0
assert_contains "init prints the sign fingerprint" "sign CA root SHA-256 fingerprint:" "$out"
assert_contains "init prints the token path" "$DATA/admin.token" "$out"
fp=$(openssl x509 -in "$DATA/certs/sign-ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
assert_contains "printed fingerprint matches openssl's" "$fp" "$out"
assert_eq "admin.token is 0600" 600 "$(stat -c %a "$DATA/admin.token")"
for k in sign-ca auth-ca sign-ocsp auth-ocsp; do
  if [ "${JPKI_TEST_BACKEND:-file}" = pkcs11 ]; then # the key is in the token (DESIGN §10)
    assert_contains "$k is a token key" "pkcs11:" "$(cat "$DATA/token/$k.uri")"
    check_fails "…no $k.key file" test -e "$DATA/keys/$k.key"
    continue
  fi
  assert_eq "$k.key is 0600" 600 "$(stat -c %a "$DATA/keys/$k.key")"
  assert_eq "$k.key is encrypted PKCS#8" "-----BEGIN ENCRYPTED PRIVATE KEY-----" \
    "$(head -1 "$DATA/keys/$k.key")"
done
check_fails "a second init is refused" "$JPKID" init "${SETS[@]}"
assert_contains "…saying the instance exists" "already holds an instance" "$(cat "$T/check.out")"
if [ "${JPKI_TEST_BACKEND:-file}" = pkcs11 ]; then
  JPKI_HSM_PIN=000000 check_fails "wrong token PIN refused" "$JPKID" crl "${SETS[@]}"
  assert_contains "…with a clear message" "C_Login failed: CKR_PIN_INCORRECT" "$(cat "$T/check.out")"
else
  JPKI_CA_PASSPHRASE=wrong check_fails "wrong passphrase refused" "$JPKID" crl "${SETS[@]}"
  assert_contains "…with a clear message" "wrong passphrase" "$(cat "$T/check.out")"
fi
check_fails "bad --set refused" "$JPKID" init --set data_dir=$T/other --set ca.sign.key_bits=1024
assert_contains "…naming the key" "ca.sign.key_bits" "$(cat "$T/check.out")"
check_fails "unknown key refused" "$JPKID" init --set data_dir=$T/other --set nosuch.key=1
[ -e "$T/other/jpki.db" ] && fail "nothing created on a bad config" || pass "nothing created on a bad config"

# Roots per DESIGN §3.
for ca in sign auth; do
  txt=$(openssl x509 -in "$DATA/certs/$ca-ca.pem" -noout -text)
  assert_contains "$ca root is a CA" "CA:TRUE" "$txt"
  assert_contains "$ca root key usage" "Certificate Sign, CRL Sign" "$txt"
  check "$ca root verifies against itself (x509_strict)" \
    openssl verify -x509_strict -CAfile "$DATA/certs/$ca-ca.pem" "$DATA/certs/$ca-ca.pem"
  check "$ca OCSP signer verifies" openssl verify -x509_strict -purpose ocsphelper \
    -CAfile "$DATA/certs/$ca-ca.pem" "$DATA/certs/$ca-ocsp.pem"
done
assert_contains "sign root subject" "O=JPKI, OU=JPKI for digital signature" \
  "$(openssl x509 -in "$DATA/certs/sign-ca.pem" -noout -subject -nameopt sep_comma_plus_space)"

# Issue both certificates onto a card.
NAME="山田 花子"; ADDRESS="東京都千代田区霞が関2-1-2"
mkdir -p "$T/out"
check "person registered" drv person-add p1 "$NAME" "$ADDRESS" 1990-01-02 female
check "card registered" drv card-add c1 p1 mynumber 2035-06-30 Tokyo-to Chiyoda-ku
issued=$(drv issue c1 both "$T/out")
sign=$(awk '$1=="issued" && $2=="sign" {print $3}' <<<"$issued")
auth=$(awk '$1=="issued" && $2=="auth" {print $3}' <<<"$issued")
check "both certificates issued" test -n "$sign" -a -n "$auth"
for pair in "sign:$sign" "auth:$auth"; do
  ca=${pair%%:*}; serial=${pair#*:}
  pem=$T/out/$serial.pem
  check "$ca cert verifies with openssl -x509_strict" \
    openssl verify -x509_strict -CAfile "$DATA/certs/$ca-ca.pem" "$pem"
  check "$ca cert parsed by GnuTLS certtool" certtool -i --infile "$pem"
  if [ "$ca" = sign ]; then
    check "$ca cert profile and four facts read back by Python cryptography" \
      $PY "$JPKI_SOURCE_DIR/test/integration/check_cert.py" "$pem" "$DATA/certs/sign-ca.pem" \
      sign "$NAME" "$ADDRESS" 419900102 2
  else
    check "$ca cert profile by Python cryptography (no personal data)" \
      $PY "$JPKI_SOURCE_DIR/test/integration/check_cert.py" "$pem" "$DATA/certs/auth-ca.pem" auth
    check_fails "auth cert carries no name" grep -q "$NAME" <(openssl x509 -in "$pem" -noout -text)
  fi
  check "the registry files hold no byte string of the $ca private key" \
    $PY "$JPKI_SOURCE_DIR/test/integration/key_absent.py" "$T/out/$serial.key" "$DATA"/jpki.db*
done
check_fails "the sign cert does not verify under the auth root" \
  openssl verify -x509_strict -CAfile "$DATA/certs/auth-ca.pem" "$T/out/$sign.pem"

# Lifecycle through the driver: change of address revokes the signing certificate only.
out=$(drv change-info p1 "$NAME" "大阪府大阪市北区1-1" 1990-01-02 female)
assert_eq "address change revokes the signing certificate" "revoked $sign" "$out"
st=$(sqlite3 "$DATA/jpki.db" "SELECT status, reason FROM certificates WHERE serial='$auth'")
assert_eq "authentication certificate untouched" "0|" "$st"
drv hold c1 >/dev/null
drv issue c1 auth "$T/out" >/dev/null 2>"$T/err"
assert_eq "issuing onto a held card is refused (exit 3)" 3 $?
assert_contains "…with the reason" "suspended" "$(cat "$T/err")"
drv card-add c2 p1 juki 2030-01-01
drv issue c2 both "$T/out" >/dev/null 2>"$T/err"
assert_eq "issuing onto a Juki card is refused" 3 $?
drv issue nosuch both "$T/out" >/dev/null 2>&1
assert_eq "unknown card is not found (exit 4)" 4 $?

# Audit chain: intact, then tampered.
check "audit-verify passes" "$JPKID" audit-verify "${SETS[@]}"
assert_contains "…counting rows" "audit chain intact" "$(cat "$T/check.out")"
seq=$(sqlite3 "$DATA/jpki.db" "SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET 3")
audit_edit_caught "audit-verify detects an edited row" "$DATA/jpki.db" "$seq" "detail = detail || ' '"

it_finish
