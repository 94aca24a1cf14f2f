"""The request load of test_valgrind.sh: N rounds of every kind of request jpkid serves.

usage: vg_load.py URL HTTPS_URL DATA_DIR TLS_DIR N

Each round registers a person and a card, issues both certificates for supplied keys, looks
them up, asks OCSP (POST with a nonce and pre-signed, GET, per-CA paths, an unknown serial, a
malformed body), revokes the authentication certificate through the holder's signed request
(and replays it: 409),
holds, releases, revokes the signing certificate, creates an operator and uses its token,
sends malformed API calls (400), refusals (404, 409), unauthenticated calls (401), fetches
CRLs, roots, fingerprints, /metrics, /readyz, /healthz, makes calls over TLS (bearer token,
operator client certificate, a stranger's certificate, none), and abandons connections half
way (a partial request, a TCP connection closed before the TLS handshake, a handshake without a
request). Some requests share a keep-alive connection, others open their own, so that both
per-request and per-connection state is exercised.

Every answer's status (and, for OCSP, the certificate status) is checked exactly; the script
prints "requests=K" and exits 1 listing the mismatches when any answer was not the expected
one — a load that silently hit error paths would not test what it claims.
"""
import base64
import datetime
import http.client
import json
import os
import secrets
import socket
import ssl
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

MALFORMED_OCSP = bytes.fromhex("30030a0101")  # OCSPResponse malformedRequest (RFC 6960 §4.2.1)


class Load:
    def __init__(self, url, https_url, data, tls):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.https_port = urllib.parse.urlsplit(https_url).port
        self.data, self.tls = data, tls
        self.token = open(os.path.join(data, "admin.token")).read().strip()
        self.keep = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.requests = 0
        self.headers = None  # of the last answer
        self.problems = []
        self.issuer = {ca: x509.load_pem_x509_certificate(
            open(os.path.join(data, "certs", f"{ca}-ca.pem"), "rb").read())
            for ca in ("sign", "auth")}
        # The holder's keys, supplied at issuance (key generation in jpkid would dominate the
        # run under valgrind); the signing key also signs the online revocation requests.
        self.key = {ca: rsa.generate_private_key(public_exponent=65537, key_size=2048)
                    for ca in ("sign", "auth")}
        # each key goes in a PKCS#10 request signed by it: the service's proof of possession
        self.pub = {ca: x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holder")])).sign(
            k, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
            for ca, k in self.key.items()}

    # --- plumbing -------------------------------------------------------------------------
    def expect(self, what, want, got):
        if want != got:
            self.problems.append(f"{what}: expected {want!r}, got {got!r}")

    def request(self, method, path, body=None, token=True, conn=None, ctype=None,
                headers=None):
        """One request; answers (status, body bytes). conn None: the keep-alive connection;
        "new": a connection of its own, closed after the answer; else that connection."""
        hdrs = dict(headers or {})
        if token is True:
            hdrs["Authorization"] = f"Bearer {self.token}"
        elif token:
            hdrs["Authorization"] = f"Bearer {token}"
        if body is not None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            hdrs["Content-Type"] = ctype or "application/json"
        own = conn == "new"
        c = http.client.HTTPConnection(self.host, self.port, timeout=60) if own else (
            conn or self.keep)
        self.requests += 1
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            self.headers = r.headers
            return r.status, data
        except (OSError, http.client.HTTPException) as e:
            self.problems.append(f"{method} {path}: {type(e).__name__}: {e}")
            c.close()
            return None, b""
        finally:
            if own:
                c.close()

    def call(self, what, want, method, path, body=None, **kw):
        st, data = self.request(method, path, body, **kw)
        self.expect(f"{what} ({method} {path})", want, st)
        try:
            return json.loads(data) if data else None
        except ValueError:
            return None

    def tls_conn(self, cert=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tls, "server.pem"))
        if cert:
            ctx.load_cert_chain(os.path.join(self.tls, f"{cert}.pem"),
                                os.path.join(self.tls, f"{cert}.key"))
        return http.client.HTTPSConnection(self.host, self.https_port, context=ctx, timeout=60)

    # --- OCSP -----------------------------------------------------------------------------
    def ocsp_req(self, cert, ca, nonce=None, serial=None):
        b = ocsp.OCSPRequestBuilder()
        if serial is None:
            b = b.add_certificate(cert, self.issuer[ca], hashes.SHA1())
        else:  # a serial never issued, under this CA's names
            iss = self.issuer[ca]
            h = hashes.Hash(hashes.SHA1())
            h.update(iss.subject.public_bytes())
            name_hash = h.finalize()
            spki = iss.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.PKCS1)
            h = hashes.Hash(hashes.SHA1())
            h.update(spki)
            b = b.add_certificate_by_hash(name_hash, h.finalize(), serial, hashes.SHA1())
        if nonce:
            b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
        return b.build().public_bytes(serialization.Encoding.DER)

    def ocsp_check(self, what, st, data, status, nonce=None):
        self.expect(f"{what}: HTTP", 200, st)
        try:
            resp = ocsp.load_der_ocsp_response(data)
            self.expect(f"{what}: response status", ocsp.OCSPResponseStatus.SUCCESSFUL,
                        resp.response_status)
            if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                return
            self.expect(f"{what}: certificate status", status,
                        resp.certificate_status.name.lower())
            if nonce is not None:
                got = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
                self.expect(f"{what}: nonce echoed", nonce, got)
        except (ValueError, x509.ExtensionNotFound) as e:
            self.problems.append(f"{what}: {type(e).__name__}: {e}")

    def ocsp_post(self, what, cert, ca, status, path="/ocsp", nonce=True, serial=None):
        n = secrets.token_bytes(16) if nonce else None
        st, data = self.request("POST", path, self.ocsp_req(cert, ca, n, serial), token=False,
                                ctype="application/ocsp-request")
        self.ocsp_check(what, st, data, status, n)

    def ocsp_get(self, what, cert, ca, status, prefix="/ocsp", nonce=False):
        n = secrets.token_bytes(16) if nonce else None
        b64 = urllib.parse.quote(base64.b64encode(self.ocsp_req(cert, ca, n)).decode(), safe="")
        st, data = self.request("GET", f"{prefix}/{b64}", token=False, conn="new")
        self.ocsp_check(what, st, data, status, n)

    # --- the holder's online revocation (docs/CARD.md) -------------------------------------
    def holder_revoke(self, what, sign_cert, serial):
        doc = json.dumps({"serial": serial, "reason": "cessationOfOperation",
                          "request_id": secrets.token_hex(16),
                          "time": datetime.datetime.now(datetime.timezone.utc)
                          .strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
        der = (pkcs7.PKCS7SignatureBuilder().set_data(doc)
               .add_signer(sign_cert, self.key["sign"], hashes.SHA256())
               .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
        rb = self.call(what, 200, "POST", "/v1/holder/revoke", der, token=False,
                       ctype="application/pkcs7-mime")
        self.expect(f"{what}: status", "revoked", (rb or {}).get("status"))
        self.call(f"{what}: replayed", 409, "POST", "/v1/holder/revoke", der, token=False,
                  ctype="application/pkcs7-mime")

    # --- connections abandoned half way ----------------------------------------------------
    def abandon(self):
        s = socket.create_connection((self.host, self.port), timeout=10)
        s.sendall(b"POST /v1/persons HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                  b"Content-Type: application/json\r\n\r\n{\"id\":")
        s.close()
        socket.create_connection((self.host, self.https_port), timeout=10).close()
        ctx = ssl.create_default_context(cafile=os.path.join(self.tls, "server.pem"))
        raw = socket.create_connection((self.host, self.https_port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname=self.host) as t:
            t.sendall(b"GET /v1/persons/x HTTP/1.1\r\nHost: x\r\n")  # never finished
        self.requests += 3

    # --- one round --------------------------------------------------------------------------
    def round(self, i):
        p, c = f"p{i}", f"c{i}"
        self.call("register person", 201, "POST", "/v1/persons",
                  {"id": p, "name": "山田 花子", "address": "東京都千代田区霞が関2-1-2",
                   "birth_date": "1990-01-02", "gender": "female"})
        self.call("register card", 201, "POST", "/v1/cards",
                  {"id": c, "person_id": p, "type": "mynumber", "expiry": "2035-06-30",
                   "prefecture": "東京都", "municipality": "千代田区"})
        rb = self.call("issue both (supplied keys)", 201, "POST", f"/v1/cards/{c}/issue",
                       {"certificates": "both",
                        "public_keys": {"sign": self.pub["sign"], "auth": self.pub["auth"]}})
        try:
            certs = {x["ca"]: x for x in rb["certificates"]}
            sign, auth = certs["sign"]["serial"], certs["auth"]["serial"]
            pem = {ca: x509.load_pem_x509_certificate(certs[ca]["pem"].encode())
                   for ca in ("sign", "auth")}
        except (TypeError, KeyError, ValueError) as e:
            self.problems.append(f"round {i}: no certificates issued ({e}); round abandoned")
            return None
        self.call("person lookup", 200, "GET", f"/v1/persons/{p}")
        self.call("card lookup", 200, "GET", f"/v1/cards/{c}")
        rb = self.call("certificate lookup", 200, "GET", f"/v1/certificates/{auth}")
        self.expect("certificate lookup: status", "good", (rb or {}).get("status"))
        self.call("expiring list", 200, "GET",
                  "/v1/certificates?expiring_within_days=3650&limit=5")

        self.ocsp_post("OCSP POST with nonce (auth)", pem["auth"], "auth", "good")
        self.ocsp_post("OCSP POST pre-signed (auth)", pem["auth"], "auth", "good", nonce=False)
        self.ocsp_post("OCSP POST /ocsp/sign with nonce", pem["sign"], "sign", "good",
                       path="/ocsp/sign")
        self.ocsp_get("OCSP GET pre-signed (sign)", pem["sign"], "sign", "good")
        self.ocsp_get("OCSP GET /ocsp/auth", pem["auth"], "auth", "good", prefix="/ocsp/auth")
        self.ocsp_get("OCSP GET with nonce (auth)", pem["auth"], "auth", "good", nonce=True)
        self.ocsp_post("OCSP unknown serial", None, "sign", "unknown", nonce=False,
                       serial=secrets.randbits(120) | 1 << 121)
        st, data = self.request("POST", "/ocsp", secrets.token_bytes(64), token=False,
                                ctype="application/ocsp-request")
        self.expect("OCSP random bytes: HTTP", 200, st)
        self.expect("OCSP random bytes: malformedRequest", MALFORMED_OCSP, data)

        self.holder_revoke("holder revokes auth", pem["sign"], auth)
        rb = self.call("hold", 200, "POST", f"/v1/cards/{c}/hold", "{}")
        self.expect("hold: held", [sign], (rb or {}).get("held"))
        rb = self.call("release", 200, "POST", f"/v1/cards/{c}/release", "{}")
        self.expect("release: still held", [sign], (rb or {}).get("still_held"))
        rb = self.call("revoke sign", 200, "POST", f"/v1/certificates/{sign}/revoke",
                       {"reason": "keyCompromise"})
        self.expect("revoke: reason", "keyCompromise", (rb or {}).get("reason"))
        rb = self.call("create operator", 201, "POST", "/v1/operators",
                       {"name": f"op{i}", "role": "auditor"})
        self.call("created operator looks up", 200, "GET", f"/v1/certificates/{sign}",
                  token=(rb or {}).get("token", "none"))
        self.call("auditor may not hold", 403, "POST", f"/v1/cards/{c}/hold", "{}",
                  token=(rb or {}).get("token", "none"))

        # refusals
        self.call("bad JSON", 400, "POST", "/v1/persons", '{"id":')
        self.call("unknown field", 400, "POST", "/v1/persons",
                  {"id": "px", "name": "a", "address": "b", "birth_date": "1990-01-02",
                   "gender": "male", "nickname": "x"})
        self.call("bad date", 400, "POST", "/v1/persons",
                  {"id": "px", "name": "a", "address": "b", "birth_date": "2023-02-29",
                   "gender": "male"})
        self.call("serial not hex", 400, "GET", "/v1/certificates/XYZ")
        self.call("bad query", 400, "GET", "/v1/certificates?expiring_within_days=ten")
        self.call("unknown card", 404, "GET", "/v1/cards/nosuch")
        self.call("unknown route", 404, "GET", "/v1/nowhere")
        self.call("revoke again", 409, "POST", f"/v1/certificates/{sign}/revoke",
                  {"reason": "unspecified"})
        self.call("duplicate person", 409, "POST", "/v1/persons",
                  {"id": p, "name": "a", "address": "b", "birth_date": "1990-01-02",
                   "gender": "male"})
        self.call("no credential", 401, "GET", f"/v1/persons/{p}", token=False, conn="new")
        self.call("unknown token", 401, "GET", f"/v1/persons/{p}", token="not-a-token")
        self.call("holder revoke of garbage", 400, "POST", "/v1/holder/revoke",
                  secrets.token_bytes(100), token=False, ctype="application/pkcs7-mime")

        # public endpoints
        for path, conn in (("/crl/sign.crl", "new"), ("/crl/auth.crl", None),
                           ("/ca/sign.cer", None), ("/ca/auth.cer", None)):
            st, data = self.request("GET", path, token=False, conn=conn)
            self.expect(f"GET {path}", (200, 0x30), (st, data[:1][0] if data else None))
            if path == "/crl/sign.crl" and st == 200:  # revalidation (RFC 9110 §13.1.2)
                etag = self.headers.get("ETag", "none")
                st, _ = self.request("GET", path, token=False, headers={"If-None-Match": etag})
                self.expect(f"GET {path} If-None-Match", 304, st)
        rb = self.call("fingerprints", 200, "GET", "/ca/fingerprints", token=False)
        self.expect("fingerprints: both CAs", ["auth", "sign"], sorted(rb or {}))
        st, data = self.request("GET", "/metrics", token=False)
        self.expect("GET /metrics", (200, True), (st, b"jpki_http_requests_total" in data))
        rb = self.call("readyz", 200, "GET", "/readyz", token=False)
        self.expect("readyz: ready", "ready", (rb or {}).get("status"))
        self.call("healthz", 200, "GET", "/healthz", token=False)

        # TLS: a new connection per call. The certificate's CN must name a registered operator
        # (issue 11 §2: the role is the registry's); registered in the first round.
        st, _ = self.request("POST", "/v1/operators", {"name": "tls-op", "role": "operator"})
        self.expect("register the certificate's operator", True, st in (201, 409))
        for what, cert, token, want, path in (
                ("TLS bearer token", None, True, 200, f"/v1/persons/{p}"),
                ("TLS operator certificate", "tls-op", False, 200, f"/v1/cards/{c}"),
                ("TLS stranger's certificate", "tls-stranger", False, 401, f"/v1/cards/{c}"),
                ("TLS without credential", None, False, 401, f"/v1/cards/{c}")):
            conn = self.tls_conn(cert)
            try:
                self.call(what, want, "GET", path, token=token, conn=conn)
            finally:
                conn.close()
        self.abandon()
        return pem["auth"]


def main():
    url, https_url, data, tls, n = sys.argv[1:6]
    load = Load(url, https_url, data, tls)
    last = None
    for i in range(int(n)):
        last = load.round(i) or last
    # The last holder revocation reached the pre-signed OCSP answers (DESIGN §8: within 1 s;
    # allow 10 s under valgrind).
    if last is not None:
        for _ in range(100):
            st, body = load.request("POST", "/ocsp", load.ocsp_req(last, "auth"), token=False,
                                    ctype="application/ocsp-request")
            try:
                if ocsp.load_der_ocsp_response(body).certificate_status.name == "REVOKED":
                    break
            except ValueError:
                pass
            time.sleep(0.1)
        else:
            load.problems.append("the last holder revocation never reached OCSP (10 s)")
    load.keep.close()
    print(f"requests={load.requests}")
    for p in load.problems[:30]:
        print("mismatch:", p)
    if len(load.problems) > 30:
        print(f"... and {len(load.problems) - 30} more")
    sys.exit(1 if load.problems else 0)


if __name__ == "__main__":
    main()
