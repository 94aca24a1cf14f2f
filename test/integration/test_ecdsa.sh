#!/usr/bin/env bash
# Issue 14 (DESIGN §11): ECDSA CAs. A P-521 signing CA beside a P-384 authentication CA — init,
# the profiles per algorithm (ecdsa-with-SHA512/SHA384, namedCurve SPKI as RFC 5480 says, EC
# key usages), issuance onto a card image, OCSP with and without a nonce, a CRL — checked by
# openssl, GnuTLS certtool and Python cryptography; supplied keys (CSR) checked for curve and
# proof of possession; subscriber.validity_years and validity_years_minor by the holder's age.
# The whole revocation and holder suites run on P-384 as integration.*.p384 (CMakeLists.txt).
. "$(dirname "$0")/lib.sh"
it_setup

# --- init: an unknown algorithm is refused before anything is written ---
check_fails "init with ecdsa-p256 is refused" "$JPKID" init --set "data_dir=$T/bad" \
  --set ca.sign.key_algorithm=ecdsa-p256
assert_contains "…naming the key and the choices" \
  "ca.sign.key_algorithm: expected rsa, rsa2048, rsa3072, ecdsa-p384 or ecdsa-p521" "$(cat "$T/check.out")"
check "…nothing created" test ! -e "$T/bad"

SETS+=(--set subscriber.validity_years=10 --set subscriber.validity_years_minor=5)
it_init --set ca.sign.key_algorithm=ecdsa-p521 --set ca.auth.key_algorithm=ecdsa-p384 || exit 1
jpkid_start --set crl.after_change_s=1 || exit 1
TOKEN=$(cat "$DATA/admin.token")
SIGN_CA=$DATA/certs/sign-ca.pem
AUTH_CA=$DATA/certs/auth-ca.pem

# cert_has PEM SIGALG CURVE: the certificate is signed with SIGALG and holds a key on CURVE,
# named by its OID in the SubjectPublicKeyInfo (RFC 5480 §2.1.1: never explicit parameters).
cert_has() {
  local text spki
  text=$(openssl x509 -in "$1" -noout -text)
  spki=$(openssl x509 -in "$1" -noout -pubkey | openssl asn1parse)
  assert_contains "$(basename "$1"): signed with $2" "Signature Algorithm: $2" "$text"
  assert_contains "…key on $3 (id-ecPublicKey)" "OBJECT            :id-ecPublicKey" "$spki"
  assert_contains "…named by its OID" "OBJECT            :$3" "$spki"
  assert_not_contains "…no explicit curve parameters" "prime-field" "$spki"
}
cert_has "$SIGN_CA" ecdsa-with-SHA512 secp521r1
cert_has "$AUTH_CA" ecdsa-with-SHA384 secp384r1
cert_has "$DATA/certs/sign-ocsp.pem" ecdsa-with-SHA512 secp521r1
cert_has "$DATA/certs/auth-ocsp.pem" ecdsa-with-SHA384 secp384r1
assert_contains "the P-521 root: keyCertSign, cRLSign" "Certificate Sign, CRL Sign" \
  "$(openssl x509 -in "$SIGN_CA" -noout -ext keyUsage)"
check "the P-521 root verifies (x509_strict)" openssl verify -x509_strict -CAfile "$SIGN_CA" "$SIGN_CA"
check "…its OCSP signer too" openssl verify -x509_strict -purpose ocsphelper -CAfile "$SIGN_CA" \
  "$DATA/certs/sign-ocsp.pem"

# --- issuance onto a card image: an adult (10 years) and a minor (5 years) ---
today=$(date -u +%F)
adult_birth=$(date -u -d "$today - 30 years" +%F)
minor_birth=$(date -u -d "$today - 17 years" +%F) # 17 today: a minor for months to come
expiry=$(date -u -d "$today + 11 years" +%F)
mkdir -p "$T/out"
# person_card ID BIRTH: a person and a My Number card (c<ID>) through the operator API
person_card() {
  call POST /v1/persons "{\"id\":\"p$1\",\"name\":\"山田 花子\",\"address\":\"東京都千代田区霞が関2-1-2\",\"birth_date\":\"$2\",\"gender\":\"female\"}"
  assert_eq "person p$1 registered" 201 "$ST"
  call POST /v1/cards "{\"id\":\"c$1\",\"person_id\":\"p$1\",\"type\":\"mynumber\",\"expiry\":\"$expiry\"}"
  assert_eq "card c$1 registered" 201 "$ST"
}
# issued CA FILE: the certificate of CA in the last answer, into FILE
issued() { jf ".certificates[] | select(.ca == \"$1\") | .pem" >"$2"; }
person_card 1 "$adult_birth"
person_card 2 "$minor_birth"
person_card 3 "$adult_birth"
expect_status "issue both onto c1: 201" 201 POST /v1/cards/c1/issue '{"certificates":"both"}'
SIGN_PEM=$T/out/sign.pem AUTH_PEM=$T/out/auth.pem MINOR_PEM=$T/out/minor.pem
issued sign "$SIGN_PEM"
issued auth "$AUTH_PEM"
expect_status "issue auth onto the minor's c2: 201" 201 POST /v1/cards/c2/issue '{"certificates":"auth"}'
issued auth "$MINOR_PEM"
cert_has "$SIGN_PEM" ecdsa-with-SHA512 secp521r1
cert_has "$AUTH_PEM" ecdsa-with-SHA384 secp384r1
assert_eq "signing cert: digitalSignature, nonRepudiation" \
  "Digital Signature, Non Repudiation" "$(openssl x509 -in "$SIGN_PEM" -noout -ext keyUsage | sed -n 2p | xargs)"
assert_eq "auth cert: digitalSignature only (no keyEncipherment for EC)" "Digital Signature" \
  "$(openssl x509 -in "$AUTH_PEM" -noout -ext keyUsage | sed -n 2p | xargs)"
for pem in "$SIGN_PEM:$SIGN_CA" "$AUTH_PEM:$AUTH_CA"; do
  check "$(basename "${pem%%:*}") verifies with openssl -x509_strict" \
    openssl verify -x509_strict -CAfile "${pem#*:}" "${pem%%:*}"
  check "…with GnuTLS certtool" \
    certtool --verify --load-ca-certificate "${pem#*:}" --infile "${pem%%:*}"
done
CHECK_CERT_MAX_YEARS=10 check "the P-521 signing cert's profile and facts read by Python cryptography" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_cert.py" "$SIGN_PEM" "$SIGN_CA" sign "山田 花子" \
  "東京都千代田区霞が関2-1-2" "4${adult_birth//-/}" 2
not_after_year() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%Y; }
year=$(date -u +%Y)
assert_eq "an adult's certificate: subscriber.validity_years (10)" "$((year + 10))" "$(not_after_year "$AUTH_PEM")"
assert_eq "a minor's: subscriber.validity_years_minor (5)" "$((year + 5))" "$(not_after_year "$MINOR_PEM")"

# --- OCSP with and without a nonce, on each curve ---
ocsp() { openssl ocsp -issuer "$1" -cert "$2" -url "$URL/ocsp" -CAfile "$1" "${@:3}" 2>&1; }
out=$(ocsp "$SIGN_CA" "$SIGN_PEM")
assert_contains "P-521 OCSP with a nonce verifies" "Response verify OK" "$out"
assert_contains "…good" "$SIGN_PEM: good" "$out"
out=$(ocsp "$AUTH_CA" "$AUTH_PEM" -no_nonce -respout "$T/auth.der")
assert_contains "P-384 pre-signed OCSP verifies" "Response verify OK" "$out"
assert_contains "…signed ecdsa-with-SHA384" "Signature Algorithm: ecdsa-with-SHA384" \
  "$(openssl ocsp -respin "$T/auth.der" -resp_text -noverify)"
check "Python cryptography verifies the P-384 answer" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" ocsp "$T/auth.der" "$AUTH_CA" \
  "$DATA/certs/auth-ocsp.pem" good

# --- revoke; the P-521 CRL (ECDSA signatures vary in length: the streamed one must not) ---
serial=$(openssl x509 -in "$SIGN_PEM" -noout -serial | cut -d= -f2)
call POST "/v1/certificates/$serial/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke the P-521 signing cert: 200" 200 "$ST"
for _ in $(seq 1 100); do
  out=$(ocsp "$SIGN_CA" "$SIGN_PEM" -no_nonce)
  [[ "$out" == *"$SIGN_PEM: revoked"* ]] && break
  sleep 0.1
done
assert_contains "OCSP says revoked" "$SIGN_PEM: revoked" "$out"
for _ in $(seq 1 150); do # the CRL duty publishes within crl.after_change_s (1 s here)
  curl -fsS "$URL/crl/sign.crl" -o "$T/sign.crl" &&
    [ "$(openssl crl -inform DER -in "$T/sign.crl" -noout -text | grep -c 'Serial Number:')" = 1 ] && break
  sleep 0.1
done
openssl crl -inform DER -in "$T/sign.crl" -out "$T/sign-crl.pem"
check "openssl crl verifies the P-521 CRL" openssl crl -inform DER -in "$T/sign.crl" -CAfile "$SIGN_CA" -noout
check_fails "openssl verify -crl_check rejects the revoked cert" \
  openssl verify -crl_check -CAfile "$SIGN_CA" -CRLfile "$T/sign-crl.pem" "$SIGN_PEM"
assert_contains "…as revoked" "certificate revoked" "$(cat "$T/check.out")"
check "GnuTLS certtool verifies the P-521 CRL" \
  certtool --verify-crl --load-ca-certificate "$SIGN_CA" --infile "$T/sign-crl.pem"
check "Python cryptography verifies the P-521 CRL (1 entry)" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" crl "$T/sign.crl" "$SIGN_CA" 1

# --- supplied keys: the CA's curve, with proof of possession ---
csr() { # CURVE NAME: a key on CURVE and its request
  openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$1" -pkeyopt ec_param_enc:named_curve \
    -out "$T/$2.key" 2>/dev/null
  openssl req -new -key "$T/$2.key" -subj /CN=holder -sha384 -out "$T/$2.csr"
}
csr P-521 p521
body=$(jq -cn --rawfile k "$T/p521.csr" '{certificates:"auth", public_keys:{auth:$k}}')
expect "a P-521 key for the P-384 auth CA" 400 public_keys.auth POST /v1/cards/c3/issue "$body"
assert_contains "…naming both" "key is ECDSA P-521; this CA needs ECDSA P-384" "$(jf .error.message)"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null
openssl req -new -key "$T/rsa.key" -subj /CN=holder -out "$T/rsa.csr"
body=$(jq -cn --rawfile k "$T/rsa.csr" '{certificates:"auth", public_keys:{auth:$k}}')
expect "an RSA key for the P-384 auth CA" 400 public_keys.auth POST /v1/cards/c3/issue "$body"
csr P-256 p256
body=$(jq -cn --rawfile k "$T/p256.csr" '{certificates:"auth", public_keys:{auth:$k}}')
expect "a P-256 key" 400 public_keys.auth POST /v1/cards/c3/issue "$body"
csr P-384 p384
openssl req -in "$T/p384.csr" -outform DER |
  python3 -c 'import sys; d = bytearray(sys.stdin.buffer.read()); d[-2] ^= 1; sys.stdout.buffer.write(d)' |
  openssl req -inform DER -out "$T/forged.csr" 2>/dev/null
body=$(jq -cn --rawfile k "$T/forged.csr" '{certificates:"auth", public_keys:{auth:$k}}')
expect "a P-384 request whose signature is not its key's" 400 public_keys.auth POST /v1/cards/c3/issue "$body"
body=$(jq -cn --rawfile k "$T/p384.csr" '{certificates:"auth", public_keys:{auth:$k}}')
expect_status "a P-384 key with proof of possession: 201" 201 POST /v1/cards/c3/issue "$body"
jf '.certificates[0].pem' >"$T/own.pem"
assert_eq "…the certificate carries that key" \
  "$(openssl pkey -in "$T/p384.key" -pubout -outform DER | sha256sum)" \
  "$(openssl x509 -in "$T/own.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)"
cert_has "$T/own.pem" ecdsa-with-SHA384 secp384r1

# --- offline: jpkid crl publishes both ECDSA CRLs (streamed, signature of the announced size)
# and --verify parses every entry back ---
jpkid_stop
for _ in 1 2 3; do
  check "jpkid crl --verify (P-521 and P-384)" "$JPKID" crl "${SETS[@]}" --verify
done

it_finish
