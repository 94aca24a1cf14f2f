#!/usr/bin/env bash
# Issue 3 acceptance: the real jpkid serving OCSP and CRLs to real clients — openssl ocsp,
# curl (GET form), openssl crl / verify -crl_check, Python cryptography, GnuTLS ocsptool,
# NSS crlutil / vfychain —
# through good, revoked, held, released and unknown, and a basic-info change seen in OCSP
# within 1 s; then malformed requests, each answered malformedRequest with the service healthy.
. "$(dirname "$0")/lib.sh"
it_setup
it_start

mkdir -p "$T/out"
drv person-add p1 "鈴木 一郎" "北海道札幌市中央区北1条西2丁目" 1985-07-07 male >/dev/null
drv card-add c1 p1 mynumber 2036-01-31 >/dev/null
out=$(drv issue c1 both "$T/out")
SIGN=$(awk '$2=="sign" {print $3}' <<<"$out")
AUTH=$(awk '$2=="auth" {print $3}' <<<"$out")
SIGN_PEM=$T/out/$SIGN.pem
AUTH_PEM=$T/out/$AUTH.pem
it_keyalg_check_cert "$SIGN_PEM"
it_keyalg_check_cert "$DATA/certs/auth-ocsp.pem"

# ocsp_status ISSUER CERT [extra openssl ocsp options]: prints the status line for CERT.
ocsp_query() {
  local issuer=$1 cert=$2
  shift 2
  openssl ocsp -issuer "$issuer" -cert "$cert" -url "$URL/ocsp" -CAfile "$issuer" \
    -resp_text "$@" 2>&1
}
ocsp_status() { ocsp_query "$@" | awk -v c="$2" '$1 == c":" {print $2; exit}'; }
# wait_status ISSUER CERT WANT: polls until OCSP answers WANT; prints the milliseconds taken.
wait_status() {
  local start now
  start=$(date +%s%N)
  for _ in $(seq 1 60); do
    if [ "$(ocsp_status "$1" "$2" -no_nonce)" = "$3" ]; then
      now=$(date +%s%N)
      echo $(((now - start) / 1000000))
      return 0
    fi
    sleep 0.05
  done
  echo 99999
  return 1
}

# good, with a nonce (fresh signature) and without (pre-signed)
out=$(ocsp_query "$SIGN_CA" "$SIGN_PEM")
assert_contains "openssl ocsp verifies the response (nonce)" "Response verify OK" "$out"
assert_contains "signing cert is good" "$SIGN_PEM: good" "$out"
assert_not_contains "nonce is echoed" "WARNING: no nonce in response" "$out"
out=$(ocsp_query "$AUTH_CA" "$AUTH_PEM" -no_nonce -respout "$T/auth-good.der")
assert_contains "auth cert is good (pre-signed)" "$AUTH_PEM: good" "$out"
assert_contains "pre-signed response verifies" "Response verify OK" "$out"
assert_contains "responder ID by key" "Responder Id: " "$(openssl ocsp -respin "$T/auth-good.der" -resp_text -noverify | grep 'Responder Id')"
check "Python cryptography loads the good response" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" ocsp "$T/auth-good.der" \
  "$AUTH_CA" "$DATA/certs/auth-ocsp.pem" good
check "GnuTLS ocsptool verifies the response against the signer" \
  ocsptool -e --load-signer="$DATA/certs/auth-ocsp.pem" --infile "$T/auth-good.der"

# SHA-256 CertID (openssl ocsp takes the digest option before -cert): signed on the first
# request, then answered from the pre-signed response; both echo the SHA-256 CertID.
for round in first second; do
  out=$(openssl ocsp -issuer "$SIGN_CA" -sha256 -cert "$SIGN_PEM" -url "$URL/ocsp" \
    -CAfile "$SIGN_CA" -no_nonce -resp_text 2>&1)
  assert_contains "SHA-256 CertID answered ($round)" "$SIGN_PEM: good" "$out"
  assert_contains "SHA-256 CertID echoed ($round)" "Hash Algorithm: sha256" "$out"
  assert_contains "SHA-256 response verifies ($round)" "Response verify OK" "$out"
done
# several CertIDs in one request (both on the same issuer: issue a second signing cert holder)
drv person-add p2 "佐藤 次郎" "沖縄県那覇市泉崎1-2-2" 1970-03-03 male >/dev/null
drv card-add c2 p2 mynumber 2036-01-31 >/dev/null
out=$(drv issue c2 both "$T/out")
SIGN2=$(awk '$2=="sign" {print $3}' <<<"$out")
AUTH2=$(awk '$2=="auth" {print $3}' <<<"$out")
out=$(openssl ocsp -issuer "$SIGN_CA" -cert "$SIGN_PEM" -cert "$T/out/$SIGN2.pem" \
  -url "$URL/ocsp" -CAfile "$SIGN_CA" 2>&1)
assert_contains "two CertIDs: first good" "$SIGN_PEM: good" "$out"
assert_contains "two CertIDs: second good" "$T/out/$SIGN2.pem: good" "$out"

# unknown: a serial never issued
out=$(openssl ocsp -issuer "$SIGN_CA" -serial 0x7ABCDEF0123456789ABCDEF012345678 \
  -url "$URL/ocsp" -CAfile "$SIGN_CA" -no_nonce 2>&1)
assert_contains "never-issued serial is unknown" ": unknown" "$out"
# the auth cert asked under the signing CA: unknown, never good
out=$(openssl ocsp -issuer "$SIGN_CA" -serial "0x$AUTH" -url "$URL/ocsp" -CAfile "$SIGN_CA" 2>&1)
assert_contains "a serial of the other CA is unknown" ": unknown" "$out"
# …also without a nonce, though the auth CA's response for that serial is pre-signed by now
out=$(openssl ocsp -issuer "$SIGN_CA" -serial "0x$AUTH" -url "$URL/ocsp" -CAfile "$SIGN_CA" \
  -no_nonce 2>&1)
assert_contains "a serial of the other CA is unknown (no nonce)" ": unknown" "$out"

# revoked (keyCompromise) within 1 s of the event
drv revoke "$AUTH2" keyCompromise >/dev/null
ms=$(wait_status "$AUTH_CA" "$T/out/$AUTH2.pem" revoked)
check "revocation visible in OCSP within 1 s (${ms} ms)" test "$ms" -lt 1000
out=$(ocsp_query "$AUTH_CA" "$T/out/$AUTH2.pem" -no_nonce -respout "$T/revoked.der")
assert_contains "revocation reason" "Reason: keyCompromise" "$out"
assert_contains "revocation time" "Revocation Time:" "$out"
check "Python reads the revoked response" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" ocsp "$T/revoked.der" \
  "$AUTH_CA" "$DATA/certs/auth-ocsp.pem" revoked key_compromise

# basic-info change: signing revoked (affiliationChanged) within 1 s, auth stays good
drv change-info p1 "鈴木 一郎" "北海道旭川市1条通" 1985-07-07 male >/dev/null
ms=$(wait_status "$SIGN_CA" "$SIGN_PEM" revoked)
check "basic-info change revokes the signing cert in OCSP within 1 s (${ms} ms)" test "$ms" -lt 1000
assert_contains "…with reason affiliationChanged" "Reason: affiliationChanged" \
  "$(ocsp_query "$SIGN_CA" "$SIGN_PEM" -no_nonce)"
assert_eq "…while the auth cert stays good" good "$(ocsp_status "$AUTH_CA" "$AUTH_PEM" -no_nonce)"

# hold → certificateHold; release → auth good again, signing still held
drv hold c2 >/dev/null
ms=$(wait_status "$SIGN_CA" "$T/out/$SIGN2.pem" revoked)
check "hold visible within 1 s (${ms} ms)" test "$ms" -lt 1000
assert_contains "held cert answers certificateHold" "Reason: certificateHold" \
  "$(ocsp_query "$SIGN_CA" "$T/out/$SIGN2.pem" -no_nonce)"
drv release c2 >/dev/null
# AUTH2 was revoked above; issue a fresh auth cert on c3 to exercise release.
# Other persons' cards: a second My Number card of p2 would return c2 (DESIGN §4).
drv person-add p3 "佐藤 三郎" "沖縄県那覇市泉崎1-2-3" 1971-04-04 male >/dev/null
drv card-add c3 p3 mynumber 2036-01-31 >/dev/null
out=$(drv issue c3 auth "$T/out"); AUTH3=$(awk '$2=="auth" {print $3}' <<<"$out")
drv hold c3 >/dev/null
wait_status "$AUTH_CA" "$T/out/$AUTH3.pem" revoked >/dev/null
drv release c3 >/dev/null
ms=$(wait_status "$AUTH_CA" "$T/out/$AUTH3.pem" good)
check "released auth cert is good again within 1 s (${ms} ms)" test "$ms" -lt 1000
assert_contains "released signing cert stays on hold" "Reason: certificateHold" \
  "$(ocsp_query "$SIGN_CA" "$T/out/$SIGN2.pem" -no_nonce)"

# The refresher works from the registry's own marks (ca/store.h, migration 5): every status
# change above, made by another process, was marked in its transaction; once the refresher
# caught up none is left, and every certificate whose status changed has a fresh SHA-1
# response. A new good certificate is not marked (DESIGN §5, docs/DESIGN-NOTES.md): its first
# request signs it (good at once, never unknown) and stores it.
sql() { sqlite3 "$DB" "$1"; }
for _ in $(seq 1 50); do [ "$(sql 'SELECT count(*) FROM ocsp_dirty')" = 0 ] && break; sleep 0.1; done
assert_eq "no refresher mark left once the changes are answered" 0 "$(sql 'SELECT count(*) FROM ocsp_dirty')"
FRESH1="EXISTS (SELECT 1 FROM ocsp_responses o WHERE o.serial = c.serial AND o.certid_hash = 0 AND o.stale = 0)"
assert_eq "…every changed certificate has a fresh SHA-1 response" 0 \
  "$(sql "SELECT count(*) FROM certificates c WHERE (c.status != 0 OR c.status_changed_at IS NOT NULL) AND NOT $FRESH1")"
drv person-add p4 "佐藤 四郎" "沖縄県那覇市泉崎1-2-4" 1972-05-05 male >/dev/null
drv card-add c4 p4 mynumber 2036-01-31 >/dev/null
out=$(drv issue c4 auth "$T/out"); AUTH4=$(awk '$2=="auth" {print $3}' <<<"$out")
assert_eq "a new good certificate is not marked for pre-signing" 0 \
  "$(sql "SELECT count(*) FROM ocsp_dirty WHERE serial = '$AUTH4'")"
assert_eq "…and has no response before it is asked" 0 \
  "$(sql "SELECT count(*) FROM ocsp_responses WHERE serial = '$AUTH4'")"
assert_eq "…its first request answers good" good "$(ocsp_status "$AUTH_CA" "$T/out/$AUTH4.pem" -no_nonce)"
assert_eq "…and stores the response it signed" 1 \
  "$(sql "SELECT count(*) FROM certificates c WHERE c.serial = '$AUTH4' AND $FRESH1")"

# GET form (RFC 6960 A.1) with curl, and its caching headers (RFC 9919 §6)
openssl ocsp -issuer "$AUTH_CA" -cert "$AUTH_PEM" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
b64=$($PY -c 'import base64,sys,urllib.parse; print(urllib.parse.quote(base64.b64encode(open(sys.argv[1],"rb").read()).decode(), safe=""))' "$T/req.der")
hdr=$(curl -sS -D - -o "$T/get.der" "$URL/ocsp/$b64")
assert_contains "GET answers 200" "HTTP/1.1 200" "$hdr"
assert_contains "GET content type" "application/ocsp-response" "$hdr"
assert_contains "GET Cache-Control (http.ocsp_max_age_s, stale-if-error)" \
  "max-age=300, public, no-transform, stale-if-error=" "$hdr"
assert_contains "GET ETag" "ETag:" "$hdr"
assert_contains "GET Last-Modified" "Last-Modified:" "$hdr"
assert_contains "GET Expires" "Expires:" "$hdr"
assert_contains "GET response is good" "$AUTH_PEM: good" \
  "$(openssl ocsp -respin "$T/get.der" -issuer "$AUTH_CA" -cert "$AUTH_PEM" -CAfile "$AUTH_CA" 2>&1)"

# CRLs
check "jpkid crl publishes both CRLs" "$JPKID" crl "${SETS[@]}"
assert_contains "…saying what it published" "sign CRL #" "$(cat "$T/check.out")"
check "jpkid crl --verify publishes and parses them back" "$JPKID" crl --verify "${SETS[@]}"
assert_contains "…the sign CRL read back: 2 entries" "published: 2 entries" "$(grep "^sign CRL" "$T/check.out")"
for ca in sign auth; do
  curl -sS -o "$T/$ca.crl" "$URL/crl/$ca.crl"
  check "$ca CRL verifies (openssl crl -CAfile)" \
    openssl crl -inform DER -in "$T/$ca.crl" -CAfile "$DATA/certs/$ca-ca.pem" -noout
  openssl crl -inform DER -in "$T/$ca.crl" -out "$T/$ca-crl.pem"
done
# sign: SIGN revoked (affiliationChanged), SIGN2 held; auth: AUTH2 revoked (AUTH3 released)
check "Python loads the sign CRL (2 entries)" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" crl "$T/sign.crl" "$SIGN_CA" 2
check "Python loads the auth CRL (1 entry)" \
  $PY "$JPKI_SOURCE_DIR/test/integration/check_revocation.py" crl "$T/auth.crl" "$AUTH_CA" 1
crltxt=$(openssl crl -inform DER -in "$T/sign.crl" -noout -text)
assert_contains "CRL entry reason affiliationChanged" "Affiliation Changed" "$crltxt"
assert_contains "CRL entry reason certificateHold" "Certificate Hold" "$crltxt"
# One partition: the complete CRL is what the certificates' CDP names; no IDP (NSS refuses a
# critical one, RFC 5280 allows a complete CRL without it).
assert_not_contains "the complete CRL has no issuingDistributionPoint" "Issuing Distribution Point" "$crltxt"
assert_contains "…and the certificates' CDP names it" "URI:http://127.0.0.1:8080/crl/sign.crl" \
  "$(openssl x509 -in "$SIGN_PEM" -noout -ext crlDistributionPoints)"
check_fails "openssl verify -crl_check rejects the revoked signing cert" \
  openssl verify -crl_check -CAfile "$SIGN_CA" -CRLfile "$T/sign-crl.pem" "$SIGN_PEM"
assert_contains "…saying it is revoked" "certificate revoked" "$(cat "$T/check.out")"
check "openssl verify -crl_check accepts the good auth cert" \
  openssl verify -crl_check -CAfile "$AUTH_CA" -CRLfile "$T/auth-crl.pem" "$AUTH_PEM"
check "the released auth cert is not on the CRL" \
  openssl verify -crl_check -CAfile "$AUTH_CA" -CRLfile "$T/auth-crl.pem" "$T/out/$AUTH3.pem"
# GnuTLS certtool: the certificate chains to its root, the CRL's signature holds under it
check "GnuTLS certtool verifies the auth cert against its root" \
  certtool --verify --load-ca-certificate "$AUTH_CA" --infile "$AUTH_PEM"
check "GnuTLS certtool verifies the sign CRL's signature" \
  certtool --verify-crl --load-ca-certificate "$SIGN_CA" --infile "$T/sign-crl.pem"
# NSS (certutil, crlutil, vfychain), the verifier of Firefox, Thunderbird and LibreOffice on
# Linux: both CRLs import into a fresh NSS database, signature checked (a critical IDP was
# refused: SEC_ERROR_CRL_UNKNOWN_CRITICAL_EXTENSION), and vfychain judges certificates by them
# alone (leaf CRL check, fetching nothing).
out=$(drv issue c4 sign "$T/out"); SIGN4=$(awk '$2=="sign" {print $3}' <<<"$out")
NSS=$T/nss
mkdir -p "$NSS"
check "NSS: a fresh database" certutil -N -d "sql:$NSS" --empty-password
for ca in sign auth; do
  check "NSS: the $ca root imported as a trusted CA" \
    certutil -A -d "sql:$NSS" -n "jpki-$ca" -t C,C,C -i "$DATA/certs/$ca-ca.pem"
done
nss_verify() { vfychain -d "sql:$NSS" -pp -g leaf -m crl -s forbidFetching -u 4 -a "$1"; }
check "NSS: before the CRL is imported the revoked auth cert still passes (control)" \
  nss_verify "$T/out/$AUTH2.pem"
for ca in sign auth; do
  check "NSS crlutil imports the $ca CRL" crlutil -I -d "sql:$NSS" -i "$T/$ca.crl"
done
assert_eq "NSS lists both CRLs" 2 "$(crlutil -L -d "sql:$NSS" | grep -c 'jpki-')"
check "NSS vfychain accepts the good auth cert" nss_verify "$AUTH_PEM"
check "NSS vfychain accepts the released auth cert" nss_verify "$T/out/$AUTH3.pem"
check "NSS vfychain accepts a good signing cert" nss_verify "$T/out/$SIGN4.pem"
for c in "revoked auth:$AUTH2" "revoked signing:$SIGN" "held signing:$SIGN2"; do
  check_fails "NSS vfychain rejects the ${c%%:*} cert" nss_verify "$T/out/${c#*:}.pem"
  assert_contains "…as revoked" "Peer's Certificate has been revoked" "$(cat "$T/check.out")"
done
hdr=$(curl -sS -D - -o /dev/null "$URL/crl/sign.crl")
etag=$(awk -F': ' 'tolower($1)=="etag" {print $2}' <<<"$hdr" | tr -d '\r')
lm=$(awk -F': ' 'tolower($1)=="last-modified" {print $2}' <<<"$hdr" | tr -d '\r')
assert_contains "CRL Cache-Control max-age" "max-age=" "$hdr"
assert_eq "CRL 304 on If-None-Match" 304 \
  "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/crl/sign.crl")"
assert_eq "CRL 304 on If-Modified-Since" 304 \
  "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lm" "$URL/crl/sign.crl")"

# Malformed requests: each gets an OCSP malformedRequest (30 03 0A 01 01) and the service lives.
post() { # BODY_FILE [content-type]
  curl -sS -o "$T/resp.der" -w '%{http_code}' -H "Content-Type: ${2:-application/ocsp-request}" \
    --data-binary @"$1" "$URL/ocsp"
}
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
is_malformed() { [ "$(hexof "$T/resp.der")" = "30030a0101" ]; }
malformed() { # NAME BODY_FILE [content-type]
  local code
  code=$(post "$2" "${3:-}")
  if [ "$code" = 200 ] && is_malformed; then pass "malformed: $1"; else
    fail "malformed: $1 (HTTP $code, $(hexof "$T/resp.der" | head -c 40))"; fi
}
: >"$T/m-empty"; malformed "empty body" "$T/m-empty"
head -c 200 /dev/urandom >"$T/m-random"; malformed "random bytes" "$T/m-random"
head -c 30 "$T/req.der" >"$T/m-trunc"; malformed "truncated DER" "$T/m-trunc"
cat "$T/req.der" <(printf 'xx') >"$T/m-trailing"; malformed "trailing garbage" "$T/m-trailing"
malformed "wrong content type" "$T/req.der" "text/plain"
printf '\x30\x00' >"$T/m-emptyseq"; malformed "empty SEQUENCE" "$T/m-emptyseq"
printf '\x30\x80\x00\x00' >"$T/m-indef"; malformed "indefinite length (BER)" "$T/m-indef"
$PY - "$T" <<'PYEOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
t = sys.argv[1]
req = open(f"{t}/req.der", "rb").read()
# A request claiming an MD5 CertID: swap the SHA-1 OID for MD5's in the DER.
sha1 = bytes.fromhex("06052b0e03021a")
md5 = bytes.fromhex("06082a864886f70d0205")
bad = req.replace(sha1, md5)
# lengths grow by 3: re-encode by hand is forbidden in the product, fine in a test fixture
open(f"{t}/m-md5", "wb").write(bad)
open(f"{t}/m-big", "wb").write(b"\x30\x82\x27\x10" + b"\x00" * 10000)
PYEOF
malformed "MD5 CertID (broken lengths)" "$T/m-md5"
malformed "oversized request (10 kB)" "$T/m-big"
# nonces of 0 and 33 octets (RFC 9654: 1..32), built with Python cryptography
$PY - "$T" "$AUTH_PEM" "$AUTH_CA" <<'PYEOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
t, cert_path, issuer_path = sys.argv[1:4]
cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
issuer = x509.load_pem_x509_certificate(open(issuer_path, "rb").read())
for n in (0, 33):
    req = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
           .add_extension(x509.OCSPNonce(b"\x5a" * n), critical=False).build())
    open(f"{t}/m-nonce{n}", "wb").write(req.public_bytes(serialization.Encoding.DER))
# a well-formed request with a CertID hash algorithm we do not accept (SHA-384)
req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA384()).build()
open(f"{t}/m-sha384", "wb").write(req.public_bytes(serialization.Encoding.DER))
PYEOF
malformed "SHA-384 CertID (unsupported hash)" "$T/m-sha384"
malformed "nonce of 0 octets" "$T/m-nonce0"
malformed "nonce of 33 octets" "$T/m-nonce33"
printf '\x04\x03abc' >"$T/m-octet"; malformed "OCTET STRING instead of SEQUENCE" "$T/m-octet"
printf '\x30\x03\x30\x01\x00' >"$T/m-nested"; malformed "TBSRequest of garbage" "$T/m-nested"
for bad in 'not-base64!!' '%zz' 'QUJD'; do
  code=$(curl -sS -o "$T/resp.der" -w '%{http_code}' "$URL/ocsp/$bad")
  if [ "$code" = 200 ] && is_malformed; then pass "malformed GET: $bad"; else
    fail "malformed GET: $bad (HTTP $code)"; fi
done
code=$(curl -sS -o /dev/null -w '%{http_code}' --data-binary @<(head -c 200000 /dev/zero) \
  -H 'Content-Type: application/ocsp-request' "$URL/ocsp")
assert_eq "a body over the HTTP cap is refused with 413" 413 "$code"

# a request for an issuer that is not ours: unauthorized (6)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -subj "/CN=Other CA" \
  -days 1 -out "$T/other.pem" >/dev/null 2>&1
openssl ocsp -issuer "$T/other.pem" -serial 0x1234 -no_nonce -reqout "$T/other.req" >/dev/null 2>&1
post "$T/other.req" >/dev/null
assert_eq "foreign issuer answered unauthorized" "30030a0106" "$(hexof "$T/resp.der")"

# Per-CA paths answer only their CA's CertIDs (POST and GET forms); CertIDs of both CAs in one
# request are refused as a whole: one response carries one signer (RFC 6960 §4.2.2.2).
out=$(openssl ocsp -issuer "$AUTH_CA" -cert "$AUTH_PEM" -url "$URL/ocsp/auth" -CAfile "$AUTH_CA" \
  -no_nonce 2>&1)
assert_contains "POST /ocsp/auth answers an auth cert" "$AUTH_PEM: good" "$out"
curl -sS -o "$T/resp.der" -H 'Content-Type: application/ocsp-request' --data-binary @"$T/req.der" \
  "$URL/ocsp/sign"
assert_eq "POST /ocsp/sign refuses an auth CertID (unauthorized)" "30030a0106" "$(hexof "$T/resp.der")"
curl -sS -o "$T/get-auth.der" "$URL/ocsp/auth/$b64"
assert_contains "GET /ocsp/auth/{base64} is good" "$AUTH_PEM: good" \
  "$(openssl ocsp -respin "$T/get-auth.der" -issuer "$AUTH_CA" -cert "$AUTH_PEM" -CAfile "$AUTH_CA" 2>&1)"
curl -sS -o "$T/resp.der" "$URL/ocsp/sign/$b64"
assert_eq "GET /ocsp/sign/{base64} of an auth CertID is unauthorized" "30030a0106" \
  "$(hexof "$T/resp.der")"
openssl ocsp -issuer "$SIGN_CA" -cert "$SIGN_PEM" -issuer "$AUTH_CA" -cert "$AUTH_PEM" -no_nonce \
  -reqout "$T/mixed.req" >/dev/null 2>&1
post "$T/mixed.req" >/dev/null
assert_eq "CertIDs of both CAs in one request: unauthorized" "30030a0106" "$(hexof "$T/resp.der")"
# GET revalidation (RFC 7232): the ETag of the pre-signed response gives a 304.
etag=$(curl -sS -D - -o /dev/null "$URL/ocsp/$b64" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
assert_eq "GET with If-None-Match of the current ETag: 304" 304 \
  "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/ocsp/$b64")"

assert_eq "service healthy after all that" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/healthz")"
assert_eq "and still answering" good "$(ocsp_status "$AUTH_CA" "$AUTH_PEM" -no_nonce)"
it_finish
