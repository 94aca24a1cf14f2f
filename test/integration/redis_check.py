"""Reads what jpkid published to Redis (DESIGN §13, docs/ARCHITECTURE.md "Redis keys") with
python3-redis and checks it with python3-cryptography. Run by Debian's /usr/bin/python3.

  redis_check.py PORT PASSWORD|- PREFIX CA_PEM status SERIAL...
      per serial: "SERIAL STATUS TTL" for the SHA-1 and SHA-256 CertID keys of the CA
      (STATUS good/revoked/unknown, or "missing"); each present response is checked: the
      right CertID (issuer key hash, serial), signed by the certificate it carries, which
      the CA issued; and the serial in both issued sets ("notissued" otherwise).
  redis_check.py PORT PASSWORD|- PREFIX CA_PEM count-revoked SERIAL_FILE
      how many serials of the file (one per line) have a revoked SHA-1 response, checked as
      above; prints "REVOKED/TOTAL".
  redis_check.py PORT PASSWORD|- PREFIX CA_PEM files BASE_URL PATH...
      each PATH as `serve` sends it (GET BASE_URL+PATH) against P file:PATH: body, etag (the
      ETag header), type (Content-Type); and the roots in P cas; prints "ok" or what differs.
"""
import hashlib
import sys
import urllib.request

import redis
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp


def key_hashes(ca):
    # issuerKeyHash: over the subjectPublicKey BIT STRING's value (RFC 6960 §4.1.1), for an
    # RSA key its RSAPublicKey DER
    key = ca.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.PKCS1)
    return {"sha1": hashlib.sha1(key).hexdigest(), "sha256": hashlib.sha256(key).hexdigest()}


def check(der, ca, serial, ikh, algo):
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    hex_serial = "%X" % resp.serial_number
    hex_serial = "0" * (len(hex_serial) % 2) + hex_serial  # whole octets, as the registry
    assert hex_serial == serial, "wrong serial"
    assert resp.issuer_key_hash.hex() == ikh, "wrong issuer key hash"
    assert resp.hash_algorithm.name == algo
    signer = resp.certificates[0]
    signer.public_key().verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(),
                               resp.signature_hash_algorithm)
    ca.public_key().verify(signer.signature, signer.tbs_certificate_bytes, padding.PKCS1v15(),
                           signer.signature_hash_algorithm)
    return resp.certificate_status.name.lower()


def main():
    port, password, prefix, ca_pem, mode = sys.argv[1:6]
    r = redis.Redis(host="127.0.0.1", port=int(port), password=None if password == "-" else password)
    ca = x509.load_pem_x509_certificate(open(ca_pem, "rb").read())
    ikhs = key_hashes(ca)
    if mode == "status":
        for serial in sys.argv[6:]:
            out = [serial]
            for algo in ("sha1", "sha256"):
                key = "%socsp:%s:%s" % (prefix, ikhs[algo], serial)
                der = r.get(key)
                if not r.sismember("%sissued:%s" % (prefix, ikhs[algo]), serial):
                    out.append("notissued")
                out.append("missing" if der is None else check(der, ca, serial, ikhs[algo], algo))
                out.append(str(r.ttl(key)))
            print(" ".join(out))
    elif mode == "count-revoked":
        serials = [s.strip() for s in open(sys.argv[6]) if s.strip()]
        keys = ["%socsp:%s:%s" % (prefix, ikhs["sha1"], s) for s in serials]
        revoked = 0
        for serial, der in zip(serials, r.mget(keys)):
            if der is not None and check(der, ca, serial, ikhs["sha1"], "sha1") == "revoked":
                revoked += 1
        print("%d/%d" % (revoked, len(serials)))
    elif mode == "files":
        base, bad = sys.argv[6], []
        for path in sys.argv[7:]:
            with urllib.request.urlopen(base + path) as answer:
                body, etag, ctype = answer.read(), answer.headers["ETag"], answer.headers["Content-Type"]
            h = r.hgetall(prefix + "file:" + path)
            if h.get(b"body") != body:
                bad.append(path + " body")
            if h.get(b"etag", b"").decode() != etag:
                bad.append("%s etag %r != %r" % (path, h.get(b"etag"), etag))
            if h.get(b"type", b"").decode() != ctype:
                bad.append("%s type %r != %r" % (path, h.get(b"type"), ctype))
            if path.startswith("/ca/") and path.endswith(".cer"):
                name = path[len("/ca/"):-len(".cer")] + "/1"
                if r.hget(prefix + "cas", name) != body:
                    bad.append("cas " + name)
        print("ok" if not bad else "; ".join(bad))


main()
