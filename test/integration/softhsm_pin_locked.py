"""softhsm_pin_locked.py TOKENDIR LABEL: makes SoftHSM2 report the user PIN of the token LABEL
locked (CKF_USER_PIN_LOCKED in C_GetTokenInfo), which SoftHSM2 itself never does: it counts no
wrong PINs (2.6.1, Token::loginUser sets CKF_USER_PIN_COUNT_LOW and nothing else). The token's
flags live in its token.object file, an attribute list of (type, kind, value) in big-endian
(SoftHSM2's OSToken: CKA_OS_TOKENLABEL 0x80005349 a 32-byte string, CKA_OS_TOKENFLAGS
0x8000534B an unsigned long); the flag is set there, with SoftHSM2 stopped or between two of its
processes (it re-reads the file when its generation changes, and a new process reads it anew).
"""
import glob
import os
import struct
import sys

CKA_OS_TOKENLABEL = 0x80005349
CKA_OS_TOKENFLAGS = 0x8000534B
KIND_ULONG, KIND_BYTES = 2, 3
CKF_USER_PIN_LOCKED = 0x00040000

tokendir, label = sys.argv[1], sys.argv[2]
want = label.encode().ljust(32, b" ")
for path in glob.glob(os.path.join(tokendir, "*", "token.object")):
    data = bytearray(open(path, "rb").read())
    at = data.find(struct.pack(">QQQ", CKA_OS_TOKENLABEL, KIND_BYTES, 32))
    if at < 0 or bytes(data[at + 24:at + 56]) != want:
        continue
    at = data.find(struct.pack(">QQ", CKA_OS_TOKENFLAGS, KIND_ULONG))
    if at < 0:
        sys.exit("%s: no token flags attribute" % path)
    (flags,) = struct.unpack(">Q", data[at + 16:at + 24])
    data[at + 16:at + 24] = struct.pack(">Q", flags | CKF_USER_PIN_LOCKED)
    with open(path, "wb") as f:
        f.write(data)
    sys.exit(0)
sys.exit("no SoftHSM2 token labelled %r under %s" % (label, tokendir))
