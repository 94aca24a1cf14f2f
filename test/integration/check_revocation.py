"""Loads OCSP responses and CRLs with Python's `cryptography` and checks them.

usage:
  check_revocation.py ocsp RESP.der ISSUER.pem SIGNER.pem STATUS [REASON]
      STATUS good|revoked|unknown; REASON a cryptography ReasonFlags name (e.g. key_compromise)
  check_revocation.py crl CRL.der ISSUER.pem COUNT
"""
import sys

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509 import ocsp


def load_pem(path):
    return x509.load_pem_x509_certificate(open(path, "rb").read())


def verify_signature(key, signature, data, hash_algorithm):
    """RSA PKCS#1 v1.5, or ECDSA (a P-384/P-521 instance) with the named hash."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hash_algorithm))
    else:
        key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)


def check_ocsp(resp_path, issuer_path, signer_path, status, reason=None):
    resp = ocsp.load_der_ocsp_response(open(resp_path, "rb").read())
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, resp.response_status
    signer = load_pem(signer_path)
    issuer = load_pem(issuer_path)
    # The delegated signer is included, issued by the CA, and signed the response.
    assert any(c == signer for c in resp.certificates), "signer certificate not included"
    signer.verify_directly_issued_by(issuer)
    verify_signature(signer.public_key(), resp.signature, resp.tbs_response_bytes,
                     resp.signature_hash_algorithm)
    assert resp.responder_key_hash is not None, "responderID is not by key"
    assert resp.next_update_utc is not None and resp.next_update_utc > resp.this_update_utc
    got = resp.certificate_status.name.lower()
    assert got == status, f"status {got} != {status}"
    if reason is not None:
        got_reason = resp.revocation_reason.name if resp.revocation_reason else None
        assert got_reason == reason, f"reason {got_reason} != {reason}"


def check_crl(crl_path, issuer_path, count):
    crl = x509.load_der_x509_crl(open(crl_path, "rb").read())
    issuer = load_pem(issuer_path)
    assert crl.is_signature_valid(issuer.public_key()), "CRL signature"
    assert crl.issuer == issuer.subject
    assert crl.next_update_utc > crl.last_update_utc
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number >= 1
    assert len(crl) == int(count), f"{len(crl)} entries, expected {count}"
    for entry in crl:
        entry.revocation_date_utc  # parses


if __name__ == "__main__":
    kind = sys.argv[1]
    try:
        if kind == "ocsp":
            check_ocsp(*sys.argv[2:])
        else:
            check_crl(*sys.argv[2:])
    except AssertionError as e:
        print("mismatch:", e)
        sys.exit(1)
