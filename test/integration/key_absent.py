"""Exit 0 when none of the private parts of KEY.pem occur in any of FILES; 1 (naming the file
and the form found) otherwise.  usage: key_absent.py KEY.pem FILE...

Looked for: d, p and q as big-endian bytes; the key's DER (PKCS#8 and traditional); the
base64 of each of these (the body of a PEM, a base64 of the DER) from every starting offset
modulo 3, so that a copy inside a longer base64 text is found too, in the standard and the
URL-safe alphabet; and their hex, upper and lower case.

Each file is searched as it is and as text with its layout removed: line breaks and other
white space (PEM and MIME wrap base64 at 64 or 76 columns; YAML indents it), the escapes a
JSON string puts in a PEM (\\n, \\r, \\t, \\/) and those of jpkid's log (\\x0a, \\x0d);
for hex also the colons of a dump such as `openssl pkey -text` ("00:c3:5e:..." over
indented lines)."""
import base64
import re
import sys

from cryptography.hazmat.primitives import serialization

key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
nums = key.private_numbers()
raw = [n.to_bytes((n.bit_length() + 7) // 8, "big") for n in (nums.d, nums.p, nums.q)]
ders = [key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        for fmt in (serialization.PrivateFormat.PKCS8,
                    serialization.PrivateFormat.TraditionalOpenSSL)]

needles = []  # (form, bytes, where): where is "text" (as is or without layout) or "hex"
for r in raw:
    needles.append(("raw", r, "text"))
    needles.append(("hex", r.hex().encode(), "hex"))
    needles.append(("HEX", r.hex().upper().encode(), "hex"))
for der in ders:
    needles.append(("DER", der[:200], "text"))
# 48 characters of base64 from each alignment: a run only a copy of the key can contain.
for secret in raw + ders:
    for shift in range(3):
        b64 = base64.b64encode(secret[shift:])[8:56]
        needles.append(("base64", b64, "text"))
        needles.append(("base64url", b64.translate(bytes.maketrans(b"+/", b"-_")), "text"))

LAYOUT = re.compile(rb"\s+|\\[nrt]|\\x0[ad]")


def variants(data):
    """The file's bytes, then as text without layout, then that without hex-dump colons."""
    flat = LAYOUT.sub(b"", data.replace(b"\\/", b"/"))
    return {"text": (data, flat), "hex": (data, flat, flat.replace(b":", b""))}


for path in sys.argv[2:]:
    forms = variants(open(path, "rb").read())
    for form, needle, where in needles:
        if any(needle in v for v in forms[where]):
            print(f"private key material found in {path} ({form})")
            sys.exit(1)
sys.exit(0)
