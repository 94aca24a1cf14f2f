"""The load client and the checker of test_crash.sh (crash safety: nothing lost, nothing doubled).

usage:
  crash_load.py setup DATA_DIR TOKEN_FILE CARDS
      registers persons cp0.. and cards cc0.. (CARDS of each) through the API
  crash_load.py load DATA_DIR TOKEN_FILE CARDS LOG STOP_FILE
      runs issuance, revocation and batch submission from three threads until STOP_FILE
      exists; every call the API acknowledged (2xx) is appended to LOG as one JSON line.
      The service is found anew before each call (DATA_DIR/run/http.port), so that it may be
      killed and restarted under the client at any time.
  crash_load.py check DATA_DIR TOKEN_FILE LOG CRL_DIR
      after the last restart: waits for the acknowledged batches to finish, then checks that
      every acknowledged issuance and revocation holds in the registry, in OCSP and in the
      CRLs (CRL_DIR/{sign,auth}.crl, published after the run). Prints one line per check,
      "ok - ..." or "FAIL - ..."; exits 1 when one failed.

Only the standard library and `cryptography`.
"""
import http.client
import json
import os
import random
import sqlite3
import sys
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

TIMEOUT_S = 5


def port_of(data_dir):
    try:
        with open(os.path.join(data_dir, "run", "http.port")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def call(data_dir, token, method, path, body=None, content_type="application/json"):
    """One call; returns (status, parsed JSON or None), or (None, None) when it did not get an
    answer (no service, connection refused or cut, timeout)."""
    port = port_of(data_dir)
    if port is None:
        return None, None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        headers = {"Authorization": "Bearer " + token}
        if body is not None:
            headers["Content-Type"] = content_type
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return resp.status, doc
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


class Log:
    """Appends acknowledged calls, one JSON line each, flushed at once."""

    def __init__(self, path):
        self.f = open(path, "a")
        self.lock = threading.Lock()

    def add(self, **rec):
        with self.lock:
            self.f.write(json.dumps(rec) + "\n")
            self.f.flush()


def setup(data_dir, token, cards):
    for i in range(cards):
        person = {"id": f"cp{i}", "name": f"Crash Person {i}", "address": "Tokyo",
                  "birth_date": "1980-01-01", "gender": "unstated"}
        st, _ = call(data_dir, token, "POST", "/v1/persons", json.dumps(person))
        assert st == 201, f"person {i}: {st}"
        card = {"id": f"cc{i}", "person_id": f"cp{i}", "type": "mynumber",
                "expiry": "2036-01-31"}
        st, _ = call(data_dir, token, "POST", "/v1/cards", json.dumps(card))
        assert st == 201, f"card {i}: {st}"


def load(data_dir, token, cards, log_path, stop_file):
    log = Log(log_path)
    issued = []  # acknowledged serials that may still be revoked
    issued_lock = threading.Lock()
    rnd = random.Random(os.getpid())

    def stopping():
        return os.path.exists(stop_file)

    def pause():
        time.sleep(0.05)

    def issuer():
        n = 0
        while not stopping():
            card = f"cc{n % cards}"
            which = "both" if n % 4 == 0 else "auth"
            n += 1
            st, doc = call(data_dir, token, "POST", f"/v1/cards/{card}/issue",
                           json.dumps({"certificates": which}))
            if st == 201:
                certs = [(c["serial"], c["ca"]) for c in doc["certificates"]]
                log.add(op="issue", card=card, certs=certs, superseded=doc["superseded"])
                with issued_lock:
                    issued.extend(s for s, _ in certs)
            elif st is None:
                pause()

    def revoker():
        while not stopping():
            with issued_lock:
                serial = issued.pop(rnd.randrange(len(issued))) if issued else None
            if serial is None:
                pause()
                continue
            st, doc = call(data_dir, token, "POST", f"/v1/certificates/{serial}/revoke",
                           json.dumps({"reason": "keyCompromise"}))
            if st == 200:
                assert doc["status"] == "revoked", doc
                log.add(op="revoke", serial=serial)
            elif st is None:
                # Not acknowledged: it may or may not have happened. Try again later.
                with issued_lock:
                    issued.append(serial)
                pause()
            else:
                log.add(op="revoke_refused", serial=serial, status=st,
                        code=(doc or {}).get("error", {}).get("code"))

    def batcher():
        k = 0
        pending = []  # acknowledged batches not yet seen done, oldest first
        while not stopping():
            # At most two batches in the queue: batches are acknowledged much faster than
            # their rows are issued (a card key each), and a backlog would only make the
            # check after the run wait (past its deadline on a loaded ASan build), not put
            # more of the crashes inside a batch.
            if len(pending) >= 2:
                st, doc = call(data_dir, token, "GET", f"/v1/batches/{pending[0]}")
                if st == 200 and doc["state"] == "done":
                    pending.pop(0)
                elif st is None:
                    pause()
                else:
                    time.sleep(0.2)
                continue
            key = f"crash-b{k}"
            rows = []
            for r in range(3):
                rows.append({"key": f"r{r}",
                             "person": {"id": f"bp{k}-{r}", "name": f"Batch {k} {r}",
                                        "address": "Osaka", "birth_date": "1975-05-05",
                                        "gender": "unstated"},
                             "card": {"id": f"bc{k}-{r}", "type": "mynumber",
                                      "expiry": "2035-03-31"},
                             "certificates": "auth",
                             "passwords": {"sign": "QWERTY7890", "auth": "5831"}})
            body = json.dumps({"batch": key, "rows": rows})
            st, doc = call(data_dir, token, "POST", "/v1/batches", body)
            if st in (200, 202):
                log.add(op="batch", key=key, id=doc["id"], status=st,
                        cards=[f"bc{k}-{r}" for r in range(3)])
                pending.append(doc["id"])
                k += 1  # the next batch only once this one is acknowledged
                time.sleep(0.3)
            elif st is None:
                pause()  # resubmitted with the same key: it must be idempotent
            else:
                log.add(op="batch_refused", key=key, status=st, doc=doc)
                k += 1

    threads = [threading.Thread(target=f) for f in (issuer, revoker, batcher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---- check ----------------------------------------------------------------------------------

failed = 0


def ok(cond, what):
    global failed
    if cond:
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"FAIL - {what}")


def ocsp_status(data_dir, issuer, serial_hex):
    """(status name, reason name or None) from the running service, or (error text, None)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        issuer["name_hash"], issuer["key_hash"], int(serial_hex, 16), hashes.SHA1())
    der = builder.build().public_bytes(serialization.Encoding.DER)
    port = port_of(data_dir)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("POST", "/ocsp", body=der,
                     headers={"Content-Type": "application/ocsp-request"})
        resp = ocsp.load_der_ocsp_response(conn.getresponse().read())
    finally:
        conn.close()
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return resp.response_status.name, None
    reason = resp.revocation_reason.name if resp.revocation_reason is not None else None
    return resp.certificate_status.name.lower(), reason


def issuer_info(pem_path):
    cert = x509.load_pem_x509_certificate(open(pem_path, "rb").read())
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(cert.subject.public_bytes())
    key_bits = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.PKCS1)
    key_hash = hashes.Hash(hashes.SHA1())
    key_hash.update(key_bits)
    return {"cert": cert, "name_hash": name_hash.finalize(), "key_hash": key_hash.finalize()}


def check(data_dir, token, log_path, crl_dir):
    recs = [json.loads(line) for line in open(log_path) if line.strip()]
    issues = [r for r in recs if r["op"] == "issue"]
    revokes = [r for r in recs if r["op"] == "revoke"]
    batches = [r for r in recs if r["op"] == "batch"]
    ok(len(issues) >= 5 and len(revokes) >= 3 and len(batches) >= 2,
       f"the load got acknowledgements: {len(issues)} issuances, {len(revokes)} revocations, "
       f"{len(batches)} batches")
    ok(not [r for r in recs if r["op"] == "batch_refused"],
       "no batch submission refused (a resubmission after a crash is idempotent)")
    odd = [r for r in recs if r["op"] == "revoke_refused" and r["code"] != "refused"]
    ok(not odd, f"a repeated revocation is refused as a lifecycle refusal, nothing else: {odd[:3]}")

    # The acknowledged batches finish after the restart, each row done exactly once.
    deadline = time.time() + 60
    states = {}
    for b in batches:
        while time.time() < deadline:
            st, doc = call(data_dir, token, "GET", f"/v1/batches/{b['id']}")
            if st == 200 and doc["state"] == "done":
                break
            time.sleep(0.2)
        states[b["key"]] = doc if st == 200 else None
    unfinished = [k for k, d in states.items() if d is None or d["state"] != "done"]
    ok(not unfinished, f"every acknowledged batch finished after the restart ({unfinished})")
    bad_rows = [k for k, d in states.items()
                if d is not None and (d["done"] != 3 or d["failed"] != 0)]
    ok(not bad_rows, f"every row of every acknowledged batch done, none failed ({bad_rows})")

    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'jpki.db')}?mode=ro", uri=True)
    q = lambda sql, *a: db.execute(sql, a).fetchall()

    batch_serials = []
    for b in batches:
        d = states.get(b["key"])
        for row in (d or {}).get("rows", []):
            batch_serials.extend(row["serials"] or [])
    cards = [c for b in batches for c in b["cards"]]
    twice = [(c, n) for c in cards
             for n in [q("SELECT count(*) FROM certificates WHERE card_id = ?", c)[0][0]] if n != 1]
    ok(not twice, f"each of the {len(cards)} batch cards got exactly one certificate ({twice[:3]})")

    # Every acknowledged certificate is in the registry, with the CA the API named.
    acked = {}
    for r in issues:
        for serial, ca in r["certs"]:
            acked[serial] = ca
    ca_num = {"sign": 0, "auth": 1}
    missing = [s for s, ca in acked.items()
               if q("SELECT ca FROM certificates WHERE serial = ?", s) != [(ca_num[ca],)]]
    ok(not missing, f"all {len(acked)} acknowledged certificates are in the registry ({missing[:3]})")
    missing = [s for s in batch_serials
               if q("SELECT count(*) FROM certificates WHERE serial = ?", s)[0][0] != 1]
    ok(not missing and batch_serials,
       f"all {len(batch_serials)} batch serials are in the registry ({missing[:3]})")

    # Nothing doubled: a serial once (it is the primary key; across CAs too), and at most one
    # good certificate per card and CA (an issuance applied twice would leave two).
    dup = q("SELECT serial FROM certificates GROUP BY lower(serial) HAVING count(*) > 1")
    ok(not dup, f"no serial used twice ({dup[:3]})")
    two_good = q("SELECT card_id, ca FROM certificates WHERE status = 0 "
                 "GROUP BY card_id, ca HAVING count(*) > 1")
    ok(not two_good, f"at most one good certificate per card and CA ({two_good[:3]})")

    # OCSP: every acknowledged certificate answers good or revoked (never unknown), every
    # acknowledged revocation revoked.
    issuers = {ca: issuer_info(os.path.join(data_dir, "certs", f"{ca}-ca.pem"))
               for ca in ("sign", "auth")}
    revoked_acked = {r["serial"] for r in revokes}
    wrong = []
    for serial, ca in acked.items():
        status, reason = ocsp_status(data_dir, issuers[ca], serial)
        if status not in ("good", "revoked") or (serial in revoked_acked and status != "revoked"):
            wrong.append((serial, status))
    ok(not wrong, f"OCSP: every acknowledged certificate good or revoked, every acknowledged "
                  f"revocation revoked ({wrong[:3]})")
    wrong = [s for s in revoked_acked
             if ocsp_status(data_dir, issuers[acked[s]], s) != ("revoked", "key_compromise")]
    ok(not wrong, f"OCSP: the {len(revoked_acked)} revocations carry keyCompromise ({wrong[:3]})")
    wrong = [s for s in batch_serials if ocsp_status(data_dir, issuers["auth"], s)[0] != "good"]
    ok(not wrong, f"OCSP: the batch certificates are good ({wrong[:3]})")
    db_revoked = {s for (s,) in q("SELECT serial FROM certificates WHERE status = 2")}
    ok(revoked_acked <= db_revoked, "registry: every acknowledged revocation is revoked")

    # The CRLs published after the run list every revocation, with its reason.
    in_crl = {}
    for ca in ("sign", "auth"):
        crl = x509.load_der_x509_crl(open(os.path.join(crl_dir, f"{ca}.crl"), "rb").read())
        ok(crl.is_signature_valid(issuers[ca]["cert"].public_key()), f"{ca} CRL signature")
        for entry in crl:
            in_crl[format(entry.serial_number, "X").rjust(32, "0")] = entry
    missing = [s for s in revoked_acked if s.upper().rjust(32, "0") not in in_crl]
    ok(not missing, f"CRL: all {len(revoked_acked)} acknowledged revocations listed ({missing[:3]})")
    all_revoked = {s.upper().rjust(32, "0") for s in db_revoked}
    ok(set(in_crl) == all_revoked,
       f"CRL: exactly the registry's revoked certificates ({len(in_crl)} vs {len(all_revoked)})")
    sys.exit(1 if failed else 0)


def main():
    cmd = sys.argv[1]
    data_dir = sys.argv[2]
    token = open(sys.argv[3]).read().strip()
    if cmd == "setup":
        setup(data_dir, token, int(sys.argv[4]))
    elif cmd == "load":
        load(data_dir, token, int(sys.argv[4]), sys.argv[5], sys.argv[6])
    elif cmd == "check":
        check(data_dir, token, sys.argv[4], sys.argv[5])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
