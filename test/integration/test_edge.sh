#!/usr/bin/env bash
# The network edge against the real jpkid (issue "One client cannot take the service down"):
# strict HTTP framing, body caps applied before the body is read (public and operator
# listeners), the per-address connection cap and the request deadline against a trickle.
. "$(dirname "$0")/lib.sh"
it_setup
it_init || exit 1
jpkid_start --set limits.connections_per_address=40 --set limits.header_timeout_ms=1500 \
  --set service.loops=2 || exit 1

# ---- framing: each variant 400 + closed, and the request smuggled behind it never answered ----
cat >"$T/framing.py" <<'EOF'
import socket, sys
port = int(sys.argv[1])
smuggled = b"GET /ca/sign.cer HTTP/1.1\r\nHost: x\r\n\r\n"
n = len(smuggled)
variants = {
    "two Content-Length (0, n)": b"POST /v1/holder/revoke HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: %d\r\n\r\n" % n,
    "two equal Content-Length": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n" % (n, n),
    "Content-Length +n": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: +%d\r\n\r\n" % n,
    "Content-Length list": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: %d, %d\r\n\r\n" % (n, n),
    "HEAD with a body": b"HEAD /ca/sign.cer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n,
    "TRACE with a body": b"TRACE /ca/sign.cer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n,
    "space before the colon": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n",
    "CL.TE": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "TE.CL": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    "TE not chunked": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "two TE headers": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "TE in HTTP/1.0": b"POST /ocsp HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "tab in a field name": b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length\t: 0\r\n\r\n",
}
for name, head in variants.items():
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(head + smuggled)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        closed = "closed"
    except socket.timeout:
        closed = "open"
    s.close()
    status = data.split(b"\r\n")[0].split(b" ")[1:2]
    answers = sum(1 for line in data.split(b"\r\n") if line.startswith(b"HTTP/1."))
    print("%s|%s %d %s" % (name, b"".join(status).decode(errors="replace"), answers, closed))
EOF
while IFS='|' read -r name got; do
  assert_eq "framing, $name: one 400, connection closed" "400 1 closed" "$got"
done < <($PY "$T/framing.py" "$PORT")
assert_eq "a well-framed request still passes" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ca/sign.cer")"

# ---- anonymous bodies: refused from Content-Length, before the body is read ----
rss() { awk '/VmRSS/ {print int($2/1024)}' /proc/"$JPKID_PID"/status; }
idle=$(rss)
cat >"$T/bodies.py" <<'EOF'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
socks, refused = [], 0
for i in range(100):  # from five addresses: each stays under limits.connections_per_address
    s = socket.create_connection(("127.0.0.1", port), timeout=3,
                                 source_address=("127.0.0.%d" % (20 + i % 5), 0))
    s.sendall(b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
              b"Content-Length: 16777216\r\n\r\n")
    socks.append(s)
chunk = b"\0" * 65536
peak = 0
for rnd in range(16):  # up to 1 MiB each, while the service's memory is watched
    for s in socks:
        try:
            s.send(chunk)
        except OSError:
            pass
    rss = int(open("/proc/%s/status" % pid).read().split("VmRSS:")[1].split()[0]) // 1024
    peak = max(peak, rss)
for s in socks:
    try:
        s.settimeout(2)
        if s.recv(100).startswith(b"HTTP/1.1 413"):
            refused += 1
    except OSError:
        refused += 1  # reset after the 413: refused as well
    s.close()
print(peak, refused)
EOF
read -r peak refused < <($PY "$T/bodies.py" "$PORT" "$JPKID_PID")
check "100 concurrent 16 MiB POSTs to /ocsp: peak RSS ${peak} MB under 2 x idle (${idle} MB)" \
  test "$peak" -lt $((2 * idle))
assert_eq "…each refused (413)" 100 "$refused"
assert_eq "…and the service still answers" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")"

# ---- a trickle from one address: another keeps getting OCSP answers within 100 ms ----
drv person-add p1 "Edge Test" "Tokyo" 1990-01-02 male >/dev/null
drv card-add c1 p1 mynumber 2035-01-31 >/dev/null
mkdir -p "$T/out"
SERIAL=$(drv issue c1 auth "$T/out" | awk '$2 == "auth" {print $3}')
openssl ocsp -issuer "$DATA/certs/auth-ca.pem" -serial "0x$SERIAL" -no_nonce -reqout "$T/one.der" >/dev/null 2>&1
cat >"$T/trickle.py" <<'EOF'
import socket, sys, threading, time, urllib.request
port, url, req = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
socks = []
for i in range(400):  # ten times limits.connections_per_address
    try:
        s = socket.socket()
        s.bind(("127.0.0.9", 0))
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        socks.append(s)
    except OSError:
        pass
stop = time.time() + 2.5
def trickle():
    while time.time() < stop:
        for s in socks:
            try:
                s.send(b"a")
            except OSError:
                pass
        time.sleep(0.2)
t = threading.Thread(target=trickle)
t.start()
worst, answered = 0.0, 0
while time.time() < stop:
    t0 = time.time()
    r = urllib.request.Request(url + "/ocsp", data=req,
                               headers={"Content-Type": "application/ocsp-request"})
    try:
        if urllib.request.urlopen(r, timeout=1).status == 200:
            answered += 1
    except OSError:
        pass
    worst = max(worst, time.time() - t0)
    time.sleep(0.05)
t.join()
# Still trickling past the 1.5 s deadline: every held connection has been closed by now.
alive = 0
for s in socks:
    try:
        s.send(b"a")
        s.settimeout(0.01)
        if s.recv(1) != b"":
            alive += 1
    except socket.timeout:
        alive += 1
    except OSError:
        pass
    s.close()
print(answered, int(worst * 1000), alive)
EOF
read -r answered worst alive < <($PY "$T/trickle.py" "$PORT" "$URL" "$T/one.der")
check "with 400 trickling connections from 127.0.0.9, 127.0.0.1 got $answered OCSP answers" \
  test "$answered" -ge 10
check "…each within 100 ms (slowest ${worst} ms)" test "$worst" -le 100
assert_eq "…and no trickling connection outlived the 1.5 s request deadline" 0 "$alive"
assert_contains "the per-address cap is logged" \
  "connections from one address over 40: new ones from it are closed" "$(cat "$T/jpkid.log")"
assert_contains "the deadline is logged" "a request did not arrive whole within its deadline" \
  "$(cat "$T/jpkid.log")"
jpkid_stop

# ---- the operator listener: /v1 there with the batch cap; the public one keeps the holder ----
jpkid_start --set listen.operator_http=127.0.0.1:0 || exit 1
ADMIN=$(cat "$DATA/admin.token")
check "the operator listener is not the public one" test "$OPURL" != "$URL"
assert_eq "/v1/persons is not on the public listener" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$URL/v1/persons/p1")"
assert_eq "…but on the operator listener" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$OPURL/v1/persons/p1")"
assert_eq "the holder's revocation stays public (a malformed request: 400, not 404)" 400 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/pkcs7-mime' \
    --data-binary 'junk' "$URL/v1/holder/revoke")"
assert_eq "OCSP is not on the operator listener" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/ocsp-request' \
    --data-binary "@$T/one.der" "$OPURL/ocsp")"
head -c 70000 /dev/zero | tr '\0' a | sed 's/^/{"id":"/; s/$/"}/' >"$T/big.json"
curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
  -H 'Content-Type: application/json' --data-binary "@$T/big.json" "$OPURL/v1/persons" >"$T/code"
assert_eq "a JSON body over 64 KiB on the operator listener: 413 too_large, field body" \
  "413 too_large body" "$(cat "$T/code") $(jq -r '.error.code + " " + .error.field' "$T/resp")"
# A batch file larger than the public cap: refused there, accepted on the operator listener.
$PY - "$T/big-batch.json" <<'EOF'
import json, sys
rows = [{"key": "r%d" % i,
         "person": {"id": "eb-%d" % i, "name": "Edge Batch %d" % i,
                    "address": "Tokyo Chiyoda 1-1-%d " % i + "x" * 700,
                    "birth_date": "1980-03-0%d" % (1 + i % 9), "gender": "male"},
         "card": {"id": "ebc-%d" % i, "type": "mynumber", "expiry": "2034-01-31"},
         "certificates": "sign",
         "passwords": {"sign": "QWERTY%04d" % i, "auth": "58%02d" % (i % 90 + 10)}}
        for i in range(100)]
json.dump({"batch": "edge-big", "rows": rows}, open(sys.argv[1], "w"))
EOF
size=$(stat -c %s "$T/big-batch.json")
check "the batch file is over 64 KiB ($size bytes)" test "$size" -gt 65536
assert_eq "…POSTed to the public listener: 413 before the body" 413 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' --data-binary "@$T/big-batch.json" "$URL/v1/batches")"
code=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
  -H 'Content-Type: application/json' --data-binary "@$T/big-batch.json" "$OPURL/v1/batches")
assert_eq "…to the operator listener: accepted ($(head -c 200 "$T/resp"))" 202 "$code"
jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" \
  "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
