#!/usr/bin/env python3
"""Small HTTP clients of the benchmarks (scripts/bench/issue, scripts/bench/freshness).

  client.py batch URL TOKEN TAG CARDS
      Submits one batch of CARDS rows (a person, a mynumber card, certificates "both" each;
      ids TAG-p-NNNNNN / TAG-c-NNNNNN) to POST /v1/batches, polls GET /v1/batches/{id} every
      0.1 s until it is done, and prints
      "BATCH seconds=S cards=N done=D failed=F certificates=C" (S: from just before the POST
      to the first poll that saw the batch done).

  client.py issue URL TOKEN PREFIX CARDS CSR_PEM
      Registers CARDS persons and cards through the API (PREFIX-p-N, PREFIX-c-N) and issues a
      signing certificate onto each, certifying the key of the PKCS#10 request CSR_PEM (the
      service takes a key only with its proof of possession); prints the
      serials, one a line.

  client.py freshness URL TOKEN ISSUER_PEM SAMPLES OUT_CSV SERIAL...
      For each serial (good certificates of the sign CA, PEMs fetched from the API): asks OCSP
      until it answers good (so the answer is pre-signed and cached), calls POST
      /v1/certificates/{serial}/revoke, and from the moment that call returns asks OCSP (POST,
      the same keep-alive connection, back to back) until the answer is revoked. Writes one
      line per sample (milliseconds, polls) to OUT_CSV and prints
      "FRESH samples=N p50_ms=.. p99_ms=.. max_ms=.. mean_polls=..".
      With FRESH_REVOKE_CMD set, the revocation is that command run with the serial and the
      reason appended (e.g. jpki_testdrv ... revoke), timed from its exit, instead of the API.
      Meanwhile a second connection polls GET /crl/sign.crl every 50 ms (If-None-Match, so an
      unchanged CRL costs a 304) and notes, per serial, when a CRL listing it first arrived;
      after the last sample it waits for every serial (at most FRESH_CRL_WAIT_S, default 300)
      and adds "crl_p50_ms=.. crl_p99_ms=.. crl_max_ms=.." (from the same revocation return).

  client.py fanout URL TOKEN ISSUER_PEM SAMPLES OCSP_URL[,OCSP_URL...] SERIAL...
      jpkid respond (scripts/bench/scaleout): for each serial, waits until every responder
      answers good, revokes it through the API at URL, then polls every responder (one thread
      each, POST, keep-alive, back to back) until each answers revoked; a sample is the time
      from the revocation's return to the last responder's revoked. Prints
      "FANOUT samples=N p50_ms=.. p99_ms=.. max_ms=..".

  client.py redisfill ISSUER_PEM SIGNER_PEM SIGNER_KEY TOP COUNT REDIS_PORT [PREFIX]
      Signs COUNT good OCSP responses (SHA-1 CertIDs of ISSUER_PEM, serials TOP 00*7
      BE64(i+1) as jpki_benchload makes them) with the delegated signer and writes them to
      Redis as a CA node publishes them (docs/ARCHITECTURE.md "Redis keys": P ocsp:IKH:SERIAL
      and P issued:IKH), through redis-cli --pipe: Redis-side cache misses for the benchmark.

Standard library and `cryptography` only (the python3 on PATH has it).
"""
import http.client
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def call(conn, method, path, token=None, body=None, ctype="application/json"):
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        headers["Content-Type"] = ctype
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def cmd_batch(url, token, tag, cards):
    cards = int(cards)
    rows = []
    for i in range(cards):
        rows.append({
            "key": "r%06d" % i,
            "person": {"id": "%s-p-%06d" % (tag, i), "name": "Bench Person %d" % i,
                       "address": "Tokyo", "birth_date": "1980-01-01", "gender": "unstated"},
            "card": {"id": "%s-c-%06d" % (tag, i), "type": "mynumber", "expiry": "2034-12-31"},
            "certificates": "both",
            # The holder's passwords: a row without them needs batch.pin_letter_recipient.
            "passwords": {"sign": "BENCH%06d" % i, "auth": "5831"},
        })
    body = json.dumps({"batch": "bench-" + tag, "rows": rows}).encode()
    conn = connect(url)
    t0 = time.monotonic()
    status, data = call(conn, "POST", "/v1/batches", token, body)
    if status != 202:
        sys.exit("POST /v1/batches answered %d: %s" % (status, data[:300]))
    bid = json.loads(data)["id"]
    while True:
        status, data = call(conn, "GET", "/v1/batches/%d?limit=1" % bid, token)
        if status != 200:
            sys.exit("GET /v1/batches/%d answered %d: %s" % (bid, status, data[:300]))
        b = json.loads(data)
        if b["state"] == "done":
            break
        if time.monotonic() - t0 > 3600:
            sys.exit("batch not done after an hour: %s" % data[:300])
        time.sleep(0.1)
    secs = time.monotonic() - t0
    print("BATCH seconds=%.3f cards=%d done=%d failed=%d certificates=%d"
          % (secs, cards, b["done"], b["failed"], 2 * b["done"]))


def cmd_issue(url, token, prefix, cards, pubkey_pem):
    with open(pubkey_pem) as f:
        pub = f.read()
    conn = connect(url)
    for i in range(int(cards)):
        pid, cid = "%s-p-%06d" % (prefix, i), "%s-c-%06d" % (prefix, i)
        for path, body, want in (
                ("/v1/persons", {"id": pid, "name": "Bench Person %d" % i, "address": "Tokyo",
                                 "birth_date": "1980-01-01", "gender": "unstated"}, 201),
                ("/v1/cards", {"id": cid, "person_id": pid, "type": "mynumber",
                               "expiry": "2034-12-31"}, 201),
                ("/v1/cards/%s/issue" % cid, {"certificates": "sign",
                                              "public_keys": {"sign": pub}}, 201)):
            status, data = call(conn, "POST", path, token, json.dumps(body).encode())
            if status != want:
                sys.exit("POST %s answered %d: %s" % (path, status, data[:300]))
        print(json.loads(data)["certificates"][0]["serial"])


def ocsp_status(conn, req_der):
    status, data = call(conn, "POST", "/ocsp", body=req_der, ctype="application/ocsp-request")
    if status != 200:
        raise RuntimeError("OCSP answered HTTP %d" % status)
    resp = ocsp.load_der_ocsp_response(data)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return resp.response_status.name
    return resp.certificate_status.name  # GOOD / REVOKED / UNKNOWN


class CrlWatch(threading.Thread):
    """Polls the served sign CRL; for each serial expected, the ms from its revocation's return
    (t0) to the arrival of the first CRL listing it."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.conn = connect(url)
        self.lock = threading.Lock()
        self.pending = {}  # serial number (int) -> t0
        self.ms = {}       # serial number (int) -> ms
        self.stop = False
        self.error = None

    def expect(self, serial_hex, t0):
        with self.lock:
            self.pending[int(serial_hex, 16)] = t0

    def run(self):
        etag = None
        try:
            while not self.stop:
                headers = {"If-None-Match": etag} if etag else {}
                try:
                    self.conn.request("GET", "/crl/sign.crl", headers=headers)
                    resp = self.conn.getresponse()
                    body = resp.read()
                except (http.client.HTTPException, OSError):
                    self.conn.close()  # the server closed the keep-alive connection: again
                    continue
                now = time.monotonic()
                if resp.status == 200:
                    etag = resp.getheader("ETag")
                    listed = {r.serial_number for r in x509.load_der_x509_crl(body)}
                    with self.lock:
                        for sn in [sn for sn in self.pending if sn in listed]:
                            self.ms[sn] = (now - self.pending.pop(sn)) * 1000
                elif resp.status != 304:
                    raise RuntimeError("GET /crl/sign.crl answered %d" % resp.status)
                time.sleep(0.05)
        except Exception as e:  # reported by the main thread
            self.error = e

    def wait(self, timeout_s):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and self.error is None:
            with self.lock:
                if not self.pending:
                    break
            time.sleep(0.1)
        self.stop = True
        self.join(5)
        if self.error is not None:
            sys.exit("CRL watch: %s" % self.error)
        with self.lock:
            if self.pending:
                sys.exit("%d revocations not in the served CRL %d s after the last sample"
                         % (len(self.pending), timeout_s))
            return list(self.ms.values())


def ocsp_request_of(api, token, issuer, serial):
    """The DER OCSP request (SHA-1 CertID, no nonce) of certificate `serial`, fetched from the API."""
    status, data = call(api, "GET", "/v1/certificates/" + serial, token)
    if status != 200:
        sys.exit("GET /v1/certificates/%s answered %d" % (serial, status))
    cert = x509.load_pem_x509_certificate(json.loads(data)["pem"].encode())
    return (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
            .public_bytes(serialization.Encoding.DER))


def percentile(values, p):
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))]


def cmd_freshness(url, token, issuer_pem, samples, out_csv, *serials):
    with open(issuer_pem, "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    api = connect(url)
    oc = connect(url)
    samples = int(samples)
    lines, ms, polls_all = [], [], []
    crl = CrlWatch(url)
    crl.start()
    for serial in serials[:samples]:
        req = ocsp_request_of(api, token, issuer, serial)
        for _ in range(1000):
            if ocsp_status(oc, req) == "GOOD":
                break
            time.sleep(0.01)
        else:
            sys.exit("%s never answered good" % serial)
        ocsp_status(oc, req)  # now from the cache
        revoke_cmd = os.environ.get("FRESH_REVOKE_CMD")
        if revoke_cmd:
            subprocess.run(shlex.split(revoke_cmd) + [serial, "keyCompromise"], check=True,
                           stdout=subprocess.DEVNULL)
            t0 = time.monotonic()
            crl.expect(serial, t0)
        else:
            status, data = call(api, "POST", "/v1/certificates/%s/revoke" % serial, token,
                                json.dumps({"reason": "keyCompromise"}).encode())
            t0 = time.monotonic()
            crl.expect(serial, t0)
            if status != 200:
                sys.exit("revoke %s answered %d: %s" % (serial, status, data[:300]))
        polls = 0
        while True:
            polls += 1
            st = ocsp_status(oc, req)
            if st == "REVOKED":
                break
            if time.monotonic() - t0 > 30:
                sys.exit("%s: OCSP still answers %s 30 s after the revocation" % (serial, st))
        dt = (time.monotonic() - t0) * 1000
        ms.append(dt)
        polls_all.append(polls)
        lines.append("%s,%.3f,%d\n" % (serial, dt, polls))
    crl_ms = crl.wait(float(os.environ.get("FRESH_CRL_WAIT_S", "300")))
    with open(out_csv, "w") as f:
        f.write("serial,ms,polls\n")
        f.writelines(lines)
    print("FRESH samples=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_polls=%.1f "
          "crl_p50_ms=%.1f crl_p99_ms=%.1f crl_max_ms=%.1f"
          % (len(ms), statistics.median(ms), percentile(ms, 99), max(ms),
             statistics.mean(polls_all), statistics.median(crl_ms), percentile(crl_ms, 99),
             max(crl_ms)))


def cmd_fanout(url, token, issuer_pem, samples, ocsp_urls, *serials):
    with open(issuer_pem, "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    api = connect(url)
    responders = ocsp_urls.split(",")
    ms = []
    for serial in serials[:int(samples)]:
        req = ocsp_request_of(api, token, issuer, serial)
        conns = [connect(u) for u in responders]
        for c in conns:
            for _ in range(1000):
                if ocsp_status(c, req) == "GOOD":
                    break
                time.sleep(0.01)
            else:
                sys.exit("%s never answered good" % serial)
        done = [None] * len(conns)
        start = threading.Event()

        def poll(i):
            start.wait()
            while True:
                if ocsp_status(conns[i], req) == "REVOKED":
                    done[i] = time.monotonic()
                    return
                if time.monotonic() - t0 > 30:
                    return

        threads = [threading.Thread(target=poll, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        status, data = call(api, "POST", "/v1/certificates/%s/revoke" % serial, token,
                            json.dumps({"reason": "keyCompromise"}).encode())
        t0 = time.monotonic()
        start.set()
        for t in threads:
            t.join()
        if status != 200 or None in done:
            sys.exit("%s: revoke answered %d, responders revoked: %s" % (serial, status, done))
        ms.append((max(done) - t0) * 1000)
    print("FANOUT samples=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f"
          % (len(ms), statistics.median(ms), percentile(ms, 99), max(ms)))


def resp_command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def cmd_redisfill(issuer_pem, signer_pem, signer_key, top, count, port, prefix="jpki:"):
    import datetime
    import hashlib
    from cryptography.hazmat.primitives.asymmetric import ec
    with open(issuer_pem, "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    with open(signer_pem, "rb") as f:
        signer = x509.load_pem_x509_certificate(f.read())
    with open(signer_key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    pub = issuer.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        bits = pub.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    else:
        bits = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    name_hash = hashlib.sha1(issuer.subject.public_bytes()).digest()
    key_hash = hashlib.sha1(bits).digest()
    ikh = key_hash.hex()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cmds = []
    for i in range(int(count)):
        serial = int.from_bytes(bytes([int(top, 16)]) + bytes(7) + (i + 1).to_bytes(8, "big"), "big")
        der = (ocsp.OCSPResponseBuilder()
               .add_response_by_hash(name_hash, key_hash, serial, hashes.SHA1(),
                                     ocsp.OCSPCertStatus.GOOD, now,
                                     now + datetime.timedelta(days=1), None, None)
               .responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
               .certificates([signer])
               .sign(key, hashes.SHA256())
               .public_bytes(serialization.Encoding.DER))
        text = "%032X" % serial
        cmds.append(resp_command("SET", "%socsp:%s:%s" % (prefix, ikh, text), der, "EX", "90000"))
        cmds.append(resp_command("SADD", "%sissued:%s" % (prefix, ikh), text))
    subprocess.run(["redis-cli", "-p", port, "--pipe"], input=b"".join(cmds), check=True,
                   stdout=subprocess.DEVNULL)
    print("REDISFILL count=%s ikh=%s" % (count, ikh))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "batch" and len(args) == 4:
        cmd_batch(*args)
    elif cmd == "issue" and len(args) == 5:
        cmd_issue(*args)
    elif cmd == "freshness" and len(args) >= 6:
        cmd_freshness(*args)
    elif cmd == "fanout" and len(args) >= 6:
        cmd_fanout(*args)
    elif cmd == "redisfill" and len(args) in (6, 7):
        cmd_redisfill(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
