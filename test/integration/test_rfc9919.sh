#!/usr/bin/env bash
# RFC 9919 (the lightweight OCSP profile, replacing RFC 5019) — the points docs/CONFORMANCE.md
# records that test_revocation.sh and test_freshness.sh do not check already:
#   - §2.2.1: a pre-signed response carries no responseExtensions; ResponderID byKey; one
#     SingleResponse, its CertID with the request's hash algorithm (SHA-256 and SHA-1);
#     thisUpdate <= producedAt <= now < nextUpdate (§2.2.4);
#   - §2.2.1: a responder that cannot answer a nonce returns the most complete response it can:
#     with ocsp.max_inflight_signs=1 and nonce requests at once, every answer is successful
#     (the pre-signed one without nonce, never tryLater, when no signing slot is free);
#   - §2.1.2: a signed request is answered (its signature is not needed);
#   - §5 / RFC 6960 A.1: GET with the base64 percent-encoded, or raw (`/`, `+`, `=` as they
#     are), is the same answer; ETag = SHA-256 of the body.
. "$(dirname "$0")/lib.sh"
it_setup
it_start --set ocsp.max_inflight_signs=1
TOKEN=$ADMIN
call POST /v1/persons '{"id":"p1","name":"RFC Test","address":"Tokyo","birth_date":"1990-01-02","gender":"male"}'
call POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2034-01-31"}'
call POST /v1/cards/c1/issue '{"certificates":"auth","passwords":{"auth":"5831"}}'
assert_eq "issue an authentication certificate" 201 "$ST"
jf '.certificates[0].pem' >"$T/auth.pem"

# Pre-signed answers, SHA-1 and SHA-256 CertIDs (the SHA-256 one is kept after its first).
for md in sha1 sha256; do
  openssl ocsp -issuer "$AUTH_CA" -"$md" -cert "$T/auth.pem" -no_nonce -reqout "$T/$md.req" >/dev/null 2>&1
  for round in 1 2; do
    curl -sf -H 'Content-Type: application/ocsp-request' --data-binary @"$T/$md.req" \
      "$URL/ocsp" -o "$T/$md.resp"
  done
done
check "python cryptography: the profile of the pre-signed responses (§2.2)" \
  "$PY" - "$T/sha1.resp" "$T/sha256.resp" "$AUTH_CA" <<'EOF'
import sys, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
ca = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
now = datetime.datetime.now(datetime.timezone.utc)
for path, md in ((sys.argv[1], hashes.SHA1), (sys.argv[2], hashes.SHA256)):
    r = ocsp.load_der_ocsp_response(open(path, "rb").read())
    assert r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert isinstance(r.hash_algorithm, md), (path, r.hash_algorithm)   # the request's
    assert r.responder_key_hash is not None and r.responder_name is None  # byKey
    assert len(list(r.responses)) == 1
    assert len(r.extensions) == 0, list(r.extensions)                    # no responseExtensions
    assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
    tu, nu, pa = r.this_update_utc, r.next_update_utc, r.produced_at_utc
    assert nu is not None and tu <= pa <= now + datetime.timedelta(seconds=5) < nu, (tu, pa, nu)
    # the delegated signer is in certs, issued by the CA, with id-pkix-ocsp-nocheck
    signer = r.certificates[0]
    assert signer.issuer == ca.subject
    signer.extensions.get_extension_for_class(x509.OCSPNoCheck)
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku
EOF

# Nonce requests beyond the signing slots: the most complete answer, never tryLater.
"$PY" - "$T" "$AUTH_CA" <<'EOF'
import os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
t = sys.argv[1]
ca = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
cert = x509.load_pem_x509_certificate(open(f"{t}/auth.pem", "rb").read())
for i in range(1, 25):
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, ca, hashes.SHA1()) \
        .add_extension(x509.OCSPNonce(os.urandom(16)), critical=False).build()
    open(f"{t}/n{i}.req", "wb").write(req.public_bytes(serialization.Encoding.DER))
EOF
seq 1 24 | xargs -P 24 -I{} curl -s -H 'Content-Type: application/ocsp-request' \
  --data-binary @"$T/n{}.req" "$URL/ocsp" -o "$T/n{}.resp"
check "24 nonce requests at once with one signing slot: all successful, nonce or not" \
  "$PY" - "$T" <<'EOF'
import sys
from cryptography import x509
from cryptography.x509 import ocsp
t = sys.argv[1]
with_nonce = 0
for i in range(1, 25):
    r = ocsp.load_der_ocsp_response(open(f"{t}/n{i}.resp", "rb").read())
    assert r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, (i, r.response_status)
    req = ocsp.load_der_ocsp_request(open(f"{t}/n{i}.req", "rb").read())
    want = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    try:
        got = r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        assert got == want, i
        with_nonce += 1
    except x509.ExtensionNotFound:
        pass
print("answered with their nonce:", with_nonce, "of 24")
EOF

# A signed request (RFC 9919 §2.1.2: clients SHOULD NOT sign; responders MAY ignore it).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/req.key" -out "$T/req.pem" -subj /CN=requestor \
  -days 1 >/dev/null 2>&1
openssl ocsp -issuer "$AUTH_CA" -cert "$T/auth.pem" -no_nonce -signer "$T/req.pem" \
  -signkey "$T/req.key" -reqout "$T/signed.req" >/dev/null 2>&1
curl -sf -H 'Content-Type: application/ocsp-request' --data-binary @"$T/signed.req" "$URL/ocsp" \
  -o "$T/signed.resp"
assert_contains "a signed request is answered good" "$T/auth.pem: good" \
  "$(openssl ocsp -issuer "$AUTH_CA" -cert "$T/auth.pem" -respin "$T/signed.resp" -CAfile "$AUTH_CA" 2>&1)"

# GET: the base64 percent-encoded or raw, one answer; its ETag is the SHA-256 of the body.
# A serial whose request base64 has '/' or '+': search the SHA-256 and SHA-1 forms.
raw=$(base64 -w0 "$T/sha256.req")
enc=$($PY -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$raw")
curl -s -D "$T/get1.hdrs" -o "$T/get1.resp" "$URL/ocsp/$enc"
curl -s --path-as-is -o "$T/get2.resp" "$URL/ocsp/$raw"
check "GET, percent-encoded: the pre-signed answer" cmp "$T/get1.resp" "$T/sha256.resp"
check "GET, raw base64 ($(tr -dc '/+=' <<<"$raw" | wc -c) of / + = unencoded): the same" \
  cmp "$T/get2.resp" "$T/sha256.resp"
etag=$(tr -d '\r' <"$T/get1.hdrs" | sed -n 's/^etag: *//Ip')
assert_eq "GET ETag = SHA-256 of the body" "\"$(sha256sum "$T/get1.resp" | cut -d' ' -f1)\"" "$etag"
it_finish
