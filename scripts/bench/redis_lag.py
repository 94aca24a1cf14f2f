"""Revocation -> Redis lag of a CA node publishing to Redis (scripts/bench/redispub). Run by
Debian's /usr/bin/python3 (python3-redis).

  redis_lag.py API_URL TOKEN REDIS_PORT PREFIX PERSON_PREFIX FIRST COUNT
      For persons PERSON_PREFIX-p-NNNNNN, NNNNNN = FIRST .. FIRST+COUNT-1, one after another:
      POST /v1/persons/{id}/death (revokes the person's certificates), then waits for the
      `P changes` message naming `P ocsp:IKH:SERIAL` (the SHA-1 CertID form) of each serial
      revoked, whichever CA issued it. The lag of
      a serial: from just before the call to that message (so it includes the call itself).
      Prints "LAG samples=N p50_ms=... p99_ms=... max_ms=... api_p50_ms=...".
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

import redis


def percentile(values, p):
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))]


def main():
    url, token, port, prefix, person_prefix, first, count = sys.argv[1:8]
    first, count = int(first), int(count)
    r = redis.Redis(host="127.0.0.1", port=int(port))
    sub = r.pubsub()
    sub.subscribe(prefix + "changes")
    seen, lock = {}, threading.Lock()

    def listen():
        for msg in sub.listen():
            if msg["type"] != "message":
                continue
            parts = msg["data"].decode()[len(prefix):].split(":")
            if len(parts) == 3 and parts[0] == "ocsp" and len(parts[1]) == 40:
                with lock:
                    seen.setdefault(parts[2], []).append(time.monotonic())

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(0.2)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    lags, api = [], []
    for i in range(first, first + count):
        t0 = time.monotonic()
        conn.request("POST", "/v1/persons/%s-p-%06d/death" % (person_prefix, i), b"{}", headers)
        resp = conn.getresponse()
        body = resp.read()
        t1 = time.monotonic()
        if resp.status != 200:
            sys.exit("death %d answered %d: %s" % (i, resp.status, body[:200]))
        api.append((t1 - t0) * 1000)
        for serial in json.loads(body)["revoked"]:
            while True:
                with lock:
                    # the first write after the call began (an earlier one is the issuance's)
                    at = next((t for t in seen.get(serial, []) if t >= t0), None)
                if at is not None:
                    lags.append((at - t0) * 1000)
                    break
                if time.monotonic() - t0 > 30:
                    sys.exit("%s not in Redis 30 s after its revocation" % serial)
                time.sleep(0.001)
    print("LAG samples=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f api_p50_ms=%.1f"
          % (len(lags), statistics.median(lags), percentile(lags, 99), max(lags),
             statistics.median(api)))


main()
