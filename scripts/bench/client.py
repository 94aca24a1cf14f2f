#!/usr/bin/env python3
"""Small HTTP clients of the benchmarks (scripts/bench/issue, scripts/bench/freshness).

  client.py batch URL TOKEN TAG CARDS
      Submits one batch of CARDS rows (a person, a mynumber card, certificates "both" each;
      ids TAG-p-NNNNNN / TAG-c-NNNNNN) to POST /v1/batches, polls GET /v1/batches/{id} every
      0.1 s until it is done, and prints
      "BATCH seconds=S cards=N done=D failed=F certificates=C" (S: from just before the POST
      to the first poll that saw the batch done).

  client.py issue URL TOKEN PREFIX CARDS PUBKEY_PEM
      Registers CARDS persons and cards through the API (PREFIX-p-N, PREFIX-c-N) and issues a
      signing certificate onto each, certifying the public key of PUBKEY_PEM; prints the
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

Standard library and `cryptography` only (the python3 on PATH has it).
"""
import http.client
import json
import os
import shlex
import statistics
import subprocess
import sys
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


def cmd_freshness(url, token, issuer_pem, samples, out_csv, *serials):
    with open(issuer_pem, "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    api = connect(url)
    oc = connect(url)
    samples = int(samples)
    lines, ms, polls_all = [], [], []
    for serial in serials[:samples]:
        status, data = call(api, "GET", "/v1/certificates/" + serial, token)
        if status != 200:
            sys.exit("GET /v1/certificates/%s answered %d" % (serial, status))
        cert = x509.load_pem_x509_certificate(json.loads(data)["pem"].encode())
        req = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
               .public_bytes(serialization.Encoding.DER))
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
        else:
            status, data = call(api, "POST", "/v1/certificates/%s/revoke" % serial, token,
                                json.dumps({"reason": "keyCompromise"}).encode())
            t0 = time.monotonic()
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
    with open(out_csv, "w") as f:
        f.write("serial,ms,polls\n")
        f.writelines(lines)
    ms_sorted = sorted(ms)

    def pct(p):
        k = max(0, min(len(ms_sorted) - 1, int(round(p / 100 * len(ms_sorted) + 0.5)) - 1))
        return ms_sorted[k]

    print("FRESH samples=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_polls=%.1f"
          % (len(ms), statistics.median(ms), pct(99), max(ms), statistics.mean(polls_all)))


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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
