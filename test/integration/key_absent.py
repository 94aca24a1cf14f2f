"""Exit 0 when none of the private parts of KEY.pem occur in any of FILES; 1 (naming the file
and the form found) otherwise.  usage: key_absent.py KEY.pem FILE...

Looked for: d, p and q as big-endian bytes; the key's DER (PKCS#8 and traditional); their
base64 as it appears in PEM, from every starting offset modulo 3 (so a copy inside a longer
base64 text is found too); and their hex, upper and lower case."""
import base64
import sys

from cryptography.hazmat.primitives import serialization

key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
nums = key.private_numbers()
raw = [n.to_bytes((n.bit_length() + 7) // 8, "big") for n in (nums.d, nums.p, nums.q)]
ders = [key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        for fmt in (serialization.PrivateFormat.PKCS8,
                    serialization.PrivateFormat.TraditionalOpenSSL)]

needles = []  # (form, bytes)
for r in raw:
    needles.append(("raw", r))
    needles.append(("hex", r.hex().encode()))
    needles.append(("HEX", r.hex().upper().encode()))
for der in ders:
    needles.append(("DER", der[:200]))
    # base64 of the private exponent's neighbourhood, from each alignment: 48 characters of
    # base64 that only a copy of the key can contain.
for secret in raw + ders:
    for shift in range(3):
        b64 = base64.b64encode(secret[shift:])
        needles.append(("base64", b64[8:56]))

for path in sys.argv[2:]:
    data = open(path, "rb").read()
    # PEM wraps base64 at 64 columns: look in the text with line breaks removed as well.
    flat = data.replace(b"\r", b"").replace(b"\n", b"")
    for form, needle in needles:
        if needle in data or needle in flat:
            print(f"private key material found in {path} ({form})")
            sys.exit(1)
sys.exit(0)
