"""Writes a CRL (PEM) of the operator CA for test_operators.sh, with Python `cryptography` (an
independent issuer of what jpkid reads as tls.operator_crl).

usage: make_crl.py CA_CERT CA_KEY OUT NEXT_UPDATE_HOURS [SERIAL_HEX ...]
A negative NEXT_UPDATE_HOURS makes a CRL that is already past its nextUpdate."""
import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


def main() -> None:
    ca = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
    key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), password=None)
    hours = int(sys.argv[4])
    now = datetime.datetime.now(datetime.timezone.utc)
    this_update = now - datetime.timedelta(hours=2) if hours < 0 else now - datetime.timedelta(minutes=5)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca.subject)
               .last_update(this_update)
               .next_update(now + datetime.timedelta(hours=hours)))
    for serial in sys.argv[5:]:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(serial, 16))
            .revocation_date(this_update).build())
    crl = builder.sign(key, hashes.SHA256())
    open(sys.argv[3], "wb").write(crl.public_bytes(serialization.Encoding.PEM))


main()
