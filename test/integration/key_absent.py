"""Exit 0 when none of the private parts of KEY.pem (d, p, q, as big-endian bytes) occur in
any of FILES; 1 (naming the file) otherwise.  usage: key_absent.py KEY.pem FILE..."""
import sys

from cryptography.hazmat.primitives import serialization

key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
nums = key.private_numbers()
secrets = [n.to_bytes((n.bit_length() + 7) // 8, "big") for n in (nums.d, nums.p, nums.q)]
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    for s in secrets:
        if s in data:
            print(f"private key material found in {path}")
            sys.exit(1)
sys.exit(0)
