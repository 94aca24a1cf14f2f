#!/usr/bin/env bash
# key_absent.py, the check that no copy of a private key is left where it must not be
# (test_card_service, test_issue), finds the key in every encoding a copy could take: raw
# numbers, DER, PEM, base64 of the DER on one line or wrapped at 64/76 columns, indented in
# YAML, inside a JSON string (escaped line breaks and slashes), URL-safe base64, and a hex dump
# with colons (openssl pkey -text). Files without the key — its public half, another key —
# pass. No jpkid: seconds.
. "$(dirname "$0")/lib.sh"
it_setup
KA="$JPKI_SOURCE_DIR/test/integration/key_absent.py"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/key.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -outform DER -out "$T/key.der"
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
openssl pkey -in "$T/key.pem" -noout -text >"$T/key.txt"

$PY - "$T" <<'PYEOF'
import base64, json, sys
t = sys.argv[1]
der = open(f"{t}/key.der", "rb").read()
b64 = base64.b64encode(der).decode()
# Wrapped at 32 columns: shorter than the 48-character runs looked for, so each of these
# copies is found only once its layout is taken away.
lines = [b64[i:i + 32] for i in range(0, len(b64), 32)]
pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"
def put(name, text):
    open(f"{t}/{name}", "w").write(text)
put("b64-line", "x=" + b64 + "\n")
put("b64-76", "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)))
put("b64-32", "\n".join(lines))
put("yaml", "key: |\n" + "".join("    " + l + "\n" for l in pem.splitlines()))
put("json", json.dumps({"key": pem}))
put("json-slash", json.dumps({"key": pem}).replace("/", "\\/"))
put("b64url", base64.urlsafe_b64encode(der).decode().rstrip("="))
put("pem-in-log", "2026-01-01T00:00:00Z INFO " + pem.replace("\n", "\\x0a"))
PYEOF

check_fails "a PEM copy is found" $PY "$KA" "$T/key.pem" "$T/key.pem"
check_fails "the DER is found" $PY "$KA" "$T/key.pem" "$T/key.der"
check_fails "base64 of the DER on one line is found" $PY "$KA" "$T/key.pem" "$T/b64-line"
check_fails "base64 of the DER at 76 columns (CRLF) is found" $PY "$KA" "$T/key.pem" "$T/b64-76"
check_fails "base64 of the DER at 32 columns is found" $PY "$KA" "$T/key.pem" "$T/b64-32"
check_fails "a PEM indented in YAML is found" $PY "$KA" "$T/key.pem" "$T/yaml"
check_fails "a PEM in a JSON string is found" $PY "$KA" "$T/key.pem" "$T/json"
check_fails "…also with escaped slashes" $PY "$KA" "$T/key.pem" "$T/json-slash"
check_fails "URL-safe base64 of the DER is found" $PY "$KA" "$T/key.pem" "$T/b64url"
check_fails "a colon hex dump (openssl pkey -text) is found" $PY "$KA" "$T/key.pem" "$T/key.txt"
check_fails "a PEM in an escaped log line is found" $PY "$KA" "$T/key.pem" "$T/pem-in-log"
check "the public key alone passes" $PY "$KA" "$T/key.pem" "$T/pub.pem"
check "another key passes" $PY "$KA" "$T/key.pem" "$T/other.pem"
assert_contains "the form found is named" "(base64)" "$($PY "$KA" "$T/key.pem" "$T/b64-32")"
it_finish
