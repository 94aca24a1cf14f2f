"""Reads a jpki subscriber certificate with Python's `cryptography` and checks its profile.

usage: check_cert.py CERT.pem ROOT.pem sign|auth [NAME ADDRESS BIRTH9 GENDER]
CHECK_CERT_MAX_YEARS (default 5): the longest validity expected (subscriber.validity_years).
Exit 0 when every check holds; prints what differs otherwise.
"""
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

OID_NAME = "1.2.392.200149.8.5.5.1"
OID_GENDER = "1.2.392.200149.8.5.5.3"
OID_BIRTH = "1.2.392.200149.8.5.5.4"
OID_ADDRESS = "1.2.392.200149.8.5.5.5"


def der_string(value: bytes) -> str:
    """The text of a DER UTF8String / PrintableString / IA5String (tag, short or long length)."""
    tag, length, i = value[0], value[1], 2
    if tag not in (0x0C, 0x13, 0x16):
        raise ValueError(f"unexpected string tag {tag:#x}")
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(value[2:2 + n], "big")
        i = 2 + n
    return value[i:i + length].decode("utf-8")


def main() -> int:
    cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
    root = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
    kind = sys.argv[3]
    problems = []

    def expect(what, cond):
        if not cond:
            problems.append(what)

    cert.verify_directly_issued_by(root)
    expect("version 3", cert.version == x509.Version.v3)
    expect("serial positive, 16 bytes", 0 < cert.serial_number < 2 ** 127)
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    years = int(os.environ.get("CHECK_CERT_MAX_YEARS", "5"))
    expect(f"validity at most {years} years (+1 day) ({days} days)", days <= years * 366 + 1)
    ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    expect("keyUsage critical", ku.critical)
    expect("digitalSignature", ku.value.digital_signature)
    expect("nonRepudiation only on signing", ku.value.content_commitment == (kind == "sign"))
    expect("no keyCertSign", not ku.value.key_cert_sign)
    if isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
        # an EC key signs; it enciphers nothing (RFC 5480 §3)
        expect("no keyEncipherment on an EC key", not ku.value.key_encipherment)
        expect("the issuer's curve", cert.public_key().curve.name == root.public_key().curve.name)
    cdp = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    expect("CDP URL", cdp[0].full_name[0].value.endswith(".crl"))
    aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    expect("AIA OCSP", aia[0].access_location.value.endswith("/ocsp"))
    pol = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES).value
    want_policy = "1.2.392.200149.8.5.1.1.20" if kind == "sign" else "1.2.392.200149.8.5.1.3.30"
    expect("policy OID", pol[0].policy_identifier.dotted_string == want_policy)
    aki = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    ski_root = root.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    expect("AKI = root SKI", aki.key_identifier == ski_root.digest)
    cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    expect("CN is opaque hex", all(c in "0123456789ABCDEF" for c in cn))

    sans = [e for e in cert.extensions if e.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME]
    if kind == "auth":
        expect("auth certificate has no SAN", not sans)
    else:
        name, address, birth, gender = sys.argv[4:8]
        values = {o.type_id.dotted_string: der_string(o.value)
                  for o in sans[0].value.get_values_for_type(x509.OtherName)}
        expect(f"name {values.get(OID_NAME)!r}", values.get(OID_NAME) == name)
        expect(f"address {values.get(OID_ADDRESS)!r}", values.get(OID_ADDRESS) == address)
        expect(f"birth {values.get(OID_BIRTH)!r}", values.get(OID_BIRTH) == birth)
        expect(f"gender {values.get(OID_GENDER)!r}", values.get(OID_GENDER) == gender)
    for p in problems:
        print("mismatch:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
