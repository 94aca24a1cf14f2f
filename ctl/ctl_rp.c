/*
 * ctl_rp: see ctl_rp.h. Everything from the network is parsed by OpenSSL (d2i_* with all input
 * consumed) and verified before a word of it is printed as a verdict; what fails to verify is
 * an error, never a status.
 */
#include "ctl/ctl_rp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/pki.h"
#include "base/fsutil.h"
#include "ctl/ctl_out.h"

const char *ctl_rp_reason_name(int reason)
{
    /* RFC 5280 §5.3.1; value 7 is not used */
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
    };
    if (reason == -1)
        return "unspecified";
    if (reason < 0 || (size_t)reason >= sizeof(names) / sizeof(names[0]) || names[reason] == NULL)
        return "unknown";
    return names[reason];
}

/* OpenSSL's error queue as one line (drained). */
static const char *openssl_why(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, size, "no detail");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

const char *ctl_rp_time_text(const ASN1_TIME *t, char *buf, size_t size)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "-");
    return buf;
}

/* A certificate from `len` bytes: PEM, else DER that is the certificate and nothing more.
 * NULL otherwise, OpenSSL's error queue saying why. */
static X509 *cert_decode(const unsigned char *data, size_t len)
{
    X509 *cert = NULL;
    BIO *bio = len <= INT32_MAX ? BIO_new_mem_buf(data, (int)len) : NULL;
    if (bio != NULL)
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (cert != NULL)
        return cert;
    const unsigned char *p = data;
    cert = d2i_X509(NULL, &p, (long)len);
    if (cert != NULL && p != data + len) { /* all of the input must be the certificate */
        X509_free(cert);
        cert = NULL;
    }
    return cert;
}

int ctl_rp_load_cert(struct ctl *ctl, const char *what, const char *path, X509 **out)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct jerr err = {0};
    char why[256];

    *out = NULL;
    if (fsutil_read_file(path, CTL_RP_CERT_FILE_MAX, &data, &len, &err) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: %s", what, err.msg);
    *out = cert_decode(data, len);
    free(data);
    if (*out == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: %s holds no certificate (PEM or DER): %s", what,
                        path, openssl_why(why, sizeof(why)));
    return CTL_EXIT_OK;
}

/* GETs a public path into *reply; anything but 200 is printed in words. Returns an exit code. */
static int get_public(struct ctl *ctl, const char *path, struct ctl_http_reply *reply)
{
    char line[CTL_OUT_LINE_MAX];
    int rc = ctl_request(ctl, "GET", path, false, NULL, NULL, 0, reply);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (reply->status != 200) {
        ctl_out_api_error(line, sizeof(line), ctl->cmd_name, reply->status, reply->body,
                          reply->len);
        fprintf(ctl->err, "%s (GET %s)\n", line, path);
        ctl_http_reply_free(reply);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

char *ctl_rp_name_text(const X509_NAME *name)
{
    const unsigned long flags = (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) |
                                XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS;
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL, *data = NULL;
    long len;
    if (bio != NULL && X509_NAME_print_ex(bio, name, 0, flags) >= 0 &&
        (len = BIO_get_mem_data(bio, &data)) >= 0 && (text = malloc((size_t)len + 1)) != NULL) {
        memcpy(text, data, (size_t)len);
        text[len] = '\0';
    }
    BIO_free(bio);
    ERR_clear_error();
    return text;
}

void ctl_rp_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t size)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    snprintf(buf, size, "%s", hex != NULL ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

/* ---- ocsp ---- */

/* The request into *req (the caller's to free, whatever the result): one CertID of `md`
 * (*id, borrowed from the request), with a fresh nonce unless asked not to, and its DER
 * (*der, OPENSSL_free). Returns an exit code. */
static int ocsp_build(struct ctl *ctl, X509 *cert, X509 *issuer, const EVP_MD *md, bool nonce,
                      OCSP_REQUEST **req, OCSP_CERTID **id, unsigned char **der, int *der_len)
{
    OCSP_CERTID *certid = NULL;
    OCSP_ONEREQ *one = NULL;
    char why[256];

    *der = NULL;
    if ((*req = OCSP_REQUEST_new()) == NULL ||
        (certid = OCSP_cert_to_id(md, cert, issuer)) == NULL ||
        (one = OCSP_request_add0_id(*req, certid)) == NULL) {
        OCSP_CERTID_free(certid); /* not taken by the request */
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot build the OCSP request: %s",
                        openssl_why(why, sizeof(why)));
    }
    *id = OCSP_onereq_get0_id(one);
    /* RFC 9654 §2.1: a nonce of 32 octets at most; OpenSSL's default is 16 random octets */
    if (nonce && OCSP_request_add1_nonce(*req, NULL, -1) != 1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot add the nonce: %s",
                        openssl_why(why, sizeof(why)));
    if ((*der_len = i2d_OCSP_REQUEST(*req, der)) <= 0) {
        *der = NULL;
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot encode the OCSP request: %s",
                        openssl_why(why, sizeof(why)));
    }
    return CTL_EXIT_OK;
}

/* Verifies the answer into *bs (the caller's to free, whatever the result). Returns an exit
 * code. */
static int ocsp_check(struct ctl *ctl, const struct ctl_http_reply *reply, OCSP_REQUEST *req,
                      X509 *issuer, bool nonce, OCSP_BASICRESP **bs)
{
    const unsigned char *p = (const unsigned char *)reply->body;
    OCSP_RESPONSE *resp = NULL;
    X509_STORE *store = NULL;
    char why[256];
    int rc = CTL_EXIT_FAILED, status;

    *bs = NULL;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)reply->len);
    if (resp == NULL || p != (const unsigned char *)reply->body + reply->len) {
        ctl_fail(ctl, rc, "the answer is not one DER OCSP response");
        goto out;
    }
    /* RFC 6960 §4.2.1: only "successful" carries a responseBytes */
    if ((status = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        ctl_fail(ctl, rc, "the responder answered %s", OCSP_response_status_str(status));
        goto out;
    }
    if ((*bs = OCSP_response_get1_basic(resp)) == NULL) {
        ctl_fail(ctl, rc, "the response is not a basic OCSP response");
        goto out;
    }
    if ((store = X509_STORE_new()) == NULL || X509_STORE_add_cert(store, issuer) != 1) {
        ctl_fail(ctl, rc, "out of memory");
        goto out;
    }
    /* RFC 6960 §3.2: the signature must be the issuer's or its authorised responder's */
    if (OCSP_basic_verify(*bs, NULL, store, 0) != 1) {
        ctl_fail(ctl, rc, "the response does not verify under the issuer: %s",
                 openssl_why(why, sizeof(why)));
        goto out;
    }
    if (nonce) {
        /* RFC 9654 §2.1: the response must echo the request's nonce */
        int n = OCSP_check_nonce(req, *bs);
        if (n != 1) {
            ctl_fail(ctl, rc, "%s",
                     n == 0 ? "the response's nonce differs from the request's"
                            : "the response does not echo the nonce");
            goto out;
        }
    }
    rc = CTL_EXIT_OK;
out:
    X509_STORE_free(store);
    OCSP_RESPONSE_free(resp);
    return rc;
}

int ctl_rp_ocsp_status(struct ctl *ctl, X509 *cert, X509 *issuer, const EVP_MD *md, bool nonce,
                       struct ctl_rp_status *st)
{
    OCSP_REQUEST *req = NULL;
    OCSP_CERTID *id = NULL;
    OCSP_BASICRESP *bs = NULL;
    unsigned char *der = NULL;
    int der_len = 0, status = -1, reason = -1, rc;
    ASN1_GENERALIZEDTIME *revoked_at = NULL, *this_upd = NULL, *next_upd = NULL;
    struct ctl_http_reply reply = {0};
    char line[CTL_OUT_LINE_MAX], serial[2 * 20 + 8], t_this[32], t_next[32];

    memset(st, 0, sizeof(*st));
    st->status = -1;
    st->reason = -1;
    ctl_rp_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
    if ((rc = ocsp_build(ctl, cert, issuer, md, nonce, &req, &id, &der, &der_len)) != CTL_EXIT_OK)
        goto out;
    if ((rc = ctl_request(ctl, "POST", "/ocsp", false, "application/ocsp-request", der,
                          (size_t)der_len, &reply)) != CTL_EXIT_OK)
        goto out;
    if (reply.status != 200) {
        ctl_out_api_error(line, sizeof(line), ctl->cmd_name, reply.status, reply.body, reply.len);
        fprintf(ctl->err, "%s\n", line);
        rc = CTL_EXIT_FAILED;
        goto out;
    }
    if ((rc = ocsp_check(ctl, &reply, req, issuer, nonce, &bs)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (OCSP_resp_find_status(bs, id, &status, &reason, &revoked_at, &this_upd, &next_upd) != 1) {
        ctl_fail(ctl, rc, "the response holds no status for certificate %s", serial);
        goto out;
    }
    /* RFC 6960 §4.2.2.1 / RFC 5019 §4: a response outside thisUpdate..nextUpdate is stale */
    if (OCSP_check_validity(this_upd, next_upd, CTL_RP_OCSP_SKEW_S, -1) != 1) {
        ctl_fail(ctl, rc, "the response is outside its validity (thisUpdate %s, nextUpdate %s)",
                 ctl_rp_time_text(this_upd, t_this, sizeof(t_this)),
                 ctl_rp_time_text(next_upd, t_next, sizeof(t_next)));
        ERR_clear_error();
        goto out;
    }
    st->status = status;
    st->reason = status == V_OCSP_CERTSTATUS_REVOKED ? reason : -1;
    snprintf(st->source, sizeof(st->source), "OCSP");
    ctl_rp_time_text(this_upd, st->this_update, sizeof(st->this_update));
    ctl_rp_time_text(next_upd, st->next_update, sizeof(st->next_update));
    ctl_rp_time_text(revoked_at, st->revoked_at, sizeof(st->revoked_at));
    rc = CTL_EXIT_OK;
out:
    ctl_http_reply_free(&reply);
    OPENSSL_free(der);
    OCSP_BASICRESP_free(bs);
    OCSP_REQUEST_free(req);
    return rc;
}

int ctl_rp_ocsp(struct ctl *ctl, const struct ctl_args *args)
{
    X509 *cert = NULL, *issuer = NULL;
    struct ctl_rp_status st;
    int rc;
    const char *hash = ctl_args_get(args, "hash");
    const EVP_MD *md;
    /* RFC 5019 §2.1: no nonce by default, so a pre-signed answer (the cheap, cacheable one)
     * will do; --nonce asks for a fresh one (RFC 9654) */
    bool nonce = ctl_args_has(args, "nonce");
    const char *issuer_file = ctl_args_get(args, "issuer"), *ca_name = NULL;
    char serial[2 * 20 + 8];

    if (hash == NULL || strcmp(hash, "sha1") == 0)
        md = EVP_sha1(); /* RFC 5019 §2.1.1: SHA-1 CertIDs are what every responder takes */
    else if (strcmp(hash, "sha256") == 0)
        md = EVP_sha256();
    else
        return ctl_usage(ctl, "--hash must be sha1 or sha256");
    if ((rc = ctl_rp_load_cert(ctl, "CERT", args->pos[0], &cert)) != CTL_EXIT_OK)
        goto out;
    if (issuer_file != NULL)
        rc = ctl_rp_load_cert(ctl, "--issuer", issuer_file, &issuer);
    else
        rc = ctl_rp_served_issuer(ctl, cert, &issuer, &ca_name);
    if (rc != CTL_EXIT_OK)
        goto out;
    ctl_rp_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
    if ((rc = ctl_rp_ocsp_status(ctl, cert, issuer, md, nonce, &st)) != CTL_EXIT_OK)
        goto out;
    if (ctl->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "serial", serial, "status",
                              OCSP_cert_status_str(st.status), "this_update", st.this_update,
                              "next_update", st.next_update);
        if (o != NULL && st.status == V_OCSP_CERTSTATUS_REVOKED) {
            json_object_set_new(o, "revocation_time", json_string(st.revoked_at));
            json_object_set_new(o, "reason", json_string(ctl_rp_reason_name(st.reason)));
        }
        ctl_out_json_line(ctl->out, o);
        json_decref(o);
    } else {
        if (st.status == V_OCSP_CERTSTATUS_REVOKED)
            fprintf(ctl->out, "revoked (%s, %s)\n", st.revoked_at, ctl_rp_reason_name(st.reason));
        else
            fprintf(ctl->out, "%s\n", OCSP_cert_status_str(st.status));
        fprintf(ctl->out, "  serial:      %s\n  this update: %s\n  next update: %s\n", serial,
                st.this_update, st.next_update);
        fprintf(ctl->out, "  nonce:       %s\n",
                nonce ? "sent and echoed" : "none (a pre-signed answer will do)");
        if (ca_name != NULL)
            fprintf(ctl->out, "  issuer:      the %s CA the service serves (fingerprint checked)\n",
                    ca_name);
    }
    rc = st.status == V_OCSP_CERTSTATUS_GOOD ? CTL_EXIT_OK : CTL_EXIT_FAILED;
out:
    X509_free(issuer);
    X509_free(cert);
    return rc;
}

/* ---- crl fetch ---- */

/* The CRL's entries, one a line (or into a JSON array). */
static void crl_entries(struct ctl *ctl, const STACK_OF(X509_REVOKED) * revoked, json_t *arr)
{
    char serial[2 * 20 + 8], when[32];
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); i++) {
        const X509_REVOKED *r = sk_X509_REVOKED_value(revoked, i);
        ASN1_ENUMERATED *code = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
        int reason = code != NULL ? (int)ASN1_ENUMERATED_get(code) : -1;
        ASN1_ENUMERATED_free(code);
        ctl_rp_serial_hex(X509_REVOKED_get0_serialNumber(r), serial, sizeof(serial));
        ctl_rp_time_text(X509_REVOKED_get0_revocationDate(r), when, sizeof(when));
        if (arr != NULL)
            json_array_append_new(arr,
                                  json_pack("{s:s, s:s, s:s}", "serial", serial, "revocation_date",
                                            when, "reason", ctl_rp_reason_name(reason)));
        else
            fprintf(ctl->out, "  %s  %s  %s\n", serial, when, ctl_rp_reason_name(reason));
    }
    ERR_clear_error();
}

/* The DER certificate served at `path`. */
static int get_cert(struct ctl *ctl, const char *path, X509 **out)
{
    struct ctl_http_reply reply = {0};
    int rc;
    *out = NULL;
    if ((rc = get_public(ctl, path, &reply)) != CTL_EXIT_OK)
        return rc;
    const unsigned char *p = (const unsigned char *)reply.body;
    *out = d2i_X509(NULL, &p, (long)reply.len);
    if (*out == NULL || p != (const unsigned char *)reply.body + reply.len) {
        X509_free(*out);
        *out = NULL;
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "GET %s: not one DER certificate", path);
    }
    ctl_http_reply_free(&reply);
    ERR_clear_error();
    return rc;
}

int ctl_rp_ca_cert(struct ctl *ctl, const char *ca, const char *local, X509 **out)
{
    char path[32];
    *out = NULL;
    if (local != NULL)
        return ctl_rp_load_cert(ctl, "--ca", local, out);
    snprintf(path, sizeof(path), "/ca/%s.cer", ca);
    return get_cert(ctl, path, out);
}

bool ctl_rp_fingerprint_served(const json_t *served, const char *ca, const char *fp)
{
    const json_t *entry = json_object_get(served, ca);
    const char *newest = ctl_out_str(entry, "sha256");
    const json_t *gens = json_object_get(entry, "generations");
    if (newest != NULL && strcasecmp(newest, fp) == 0)
        return true;
    for (size_t i = 0; i < json_array_size(gens); i++) {
        const char *theirs = ctl_out_str(json_array_get(gens, i), "sha256");
        if (theirs != NULL && strcasecmp(theirs, fp) == 0)
            return true;
    }
    return false;
}

int ctl_rp_served_issuer(struct ctl *ctl, X509 *cert, X509 **out, const char **ca_name)
{
    static const char *const cas[] = {"sign", "auth"};
    struct ctl_http_reply reply = {0};
    json_t *served = NULL;
    X509 *issuer = NULL;
    const char *name = NULL, *theirs = NULL;
    char fp[96];
    struct jerr err = {0};
    int rc;

    *out = NULL;
    if ((rc = get_public(ctl, "/ca/fingerprints", &reply)) != CTL_EXIT_OK)
        return rc;
    served = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    /* DESIGN §11: every generation of each CA, the newest first (a service from before
     * generations lists none: its one root at /ca/<ca>.cer). */
    for (size_t i = 0; i < 2 && issuer == NULL; i++) {
        const json_t *entry = json_object_get(served, cas[i]);
        const json_t *gens = json_object_get(entry, "generations");
        size_t n = json_array_size(gens) > 0 ? json_array_size(gens) : 1;
        for (size_t k = n; k-- > 0 && issuer == NULL;) {
            const json_t *gen = json_array_get(gens, k);
            char path[64];
            const char *url = ctl_out_str(gen, "url");
            if (url != NULL && strlen(url) < sizeof(path))
                snprintf(path, sizeof(path), "%s", url);
            else
                snprintf(path, sizeof(path), "/ca/%s.cer", cas[i]);
            X509 *c = NULL;
            if ((rc = get_cert(ctl, path, &c)) != CTL_EXIT_OK)
                goto out;
            /* RFC 5280 §6.1.3 (a): the issuer's name, key identifier and signature */
            if (X509_check_issued(c, cert) == X509_V_OK) {
                issuer = c;
                name = cas[i];
                theirs = ctl_out_str(gen != NULL ? gen : entry, "sha256");
            } else {
                X509_free(c);
            }
        }
    }
    ERR_clear_error();
    if (issuer == NULL) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                      "CERT was issued by no CA generation the service serves (/ca/fingerprints): "
                      "give --issuer FILE");
        goto out;
    }
    if (pki_fingerprint(issuer, fp, &err) == -1 || theirs == NULL || strcasecmp(theirs, fp) != 0) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                      "the %s CA certificate served does not match the fingerprint at "
                      "/ca/fingerprints: not used",
                      name);
        goto out;
    }
    *out = issuer;
    issuer = NULL;
    *ca_name = name;
out:
    X509_free(issuer);
    json_decref(served);
    ctl_http_reply_free(&reply);
    return rc;
}

/* GETs the CRL at `path` into *reply and decodes it into *crl_out, verified with `ca_cert`
 * (issuer name and signature; nextUpdate is the caller's to judge). Returns an exit code. */
static int crl_get_verified(struct ctl *ctl, const char *path, X509 *ca_cert,
                            struct ctl_http_reply *reply, X509_CRL **crl_out)
{
    X509_CRL *crl = NULL;
    char why[256];
    int rc;

    *crl_out = NULL;
    if ((rc = get_public(ctl, path, reply)) != CTL_EXIT_OK)
        return rc;
    rc = CTL_EXIT_FAILED;
    const unsigned char *p = (const unsigned char *)reply->body;
    crl = d2i_X509_CRL(NULL, &p, (long)reply->len);
    if (crl == NULL || p != (const unsigned char *)reply->body + reply->len) {
        ctl_fail(ctl, rc, "GET %s: not one DER CRL", path);
        goto out;
    }
    /* RFC 5280 §6.3.3 (b)(f): the CRL's issuer is the CA and its signature verifies */
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca_cert)) != 0) {
        ctl_fail(ctl, rc, "the CRL's issuer is not the CA certificate's subject");
        goto out;
    }
    if (X509_CRL_verify(crl, X509_get0_pubkey(ca_cert)) != 1) {
        ctl_fail(ctl, rc, "the CRL's signature does not verify with the CA certificate: %s",
                 openssl_why(why, sizeof(why)));
        goto out;
    }
    *crl_out = crl;
    crl = NULL;
    rc = CTL_EXIT_OK;
out:
    X509_CRL_free(crl);
    ERR_clear_error();
    return rc;
}

int ctl_rp_crl_status(struct ctl *ctl, const char *ca, X509 *cert, X509 *issuer,
                      struct ctl_rp_status *st)
{
    struct ctl_http_reply reply = {0};
    X509_CRL *crl = NULL;
    X509_REVOKED *entry = NULL;
    ASN1_ENUMERATED *code = NULL;
    char path[64];
    int rc;

    memset(st, 0, sizeof(*st));
    st->status = -1;
    st->reason = -1;
    snprintf(path, sizeof(path), "/crl/%s.crl", ca);
    if ((rc = crl_get_verified(ctl, path, issuer, &reply, &crl)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    ctl_rp_time_text(X509_CRL_get0_lastUpdate(crl), st->this_update, sizeof(st->this_update));
    ctl_rp_time_text(X509_CRL_get0_nextUpdate(crl), st->next_update, sizeof(st->next_update));
    /* RFC 5280 §6.3.3 (a)(2): a CRL past its nextUpdate must not be relied on */
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (next == NULL || X509_cmp_current_time(next) <= 0) {
        ctl_fail(ctl, rc, "the CRL is past its nextUpdate (%s)", st->next_update);
        goto out;
    }
    /* RFC 5280 §6.3.3 (i)(j): the serial on the CRL means revoked (or held), absent good;
     * 2 is a removeFromCRL entry of a delta CRL, i.e. no longer revoked */
    int found = X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(cert));
    if (found == 1 && entry != NULL) {
        code = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
        st->status = V_OCSP_CERTSTATUS_REVOKED;
        st->reason = code != NULL ? (int)ASN1_ENUMERATED_get(code) : -1;
        ctl_rp_time_text(X509_REVOKED_get0_revocationDate(entry), st->revoked_at,
                         sizeof(st->revoked_at));
    } else {
        st->status = V_OCSP_CERTSTATUS_GOOD;
        snprintf(st->revoked_at, sizeof(st->revoked_at), "-");
    }
    snprintf(st->source, sizeof(st->source), "CRL");
    rc = CTL_EXIT_OK;
out:
    ASN1_ENUMERATED_free(code);
    X509_CRL_free(crl);
    ctl_http_reply_free(&reply);
    ERR_clear_error();
    return rc;
}

int ctl_rp_crl_fetch(struct ctl *ctl, const struct ctl_args *args)
{
    const char *ca = args->pos[0], *out_file = ctl_args_get(args, "out");
    struct ctl_http_reply reply = {0};
    X509 *ca_cert = NULL;
    X509_CRL *crl = NULL;
    ASN1_INTEGER *number = NULL;
    BIGNUM *bn = NULL;
    char *number_dec = NULL, *issuer = NULL;
    json_t *summary = NULL, *entries = NULL;
    char path[64], t_this[32], t_next[32], fp[96];
    long partition = -1;
    struct jerr err = {0};
    int rc;

    if (strcmp(ca, "sign") != 0 && strcmp(ca, "auth") != 0)
        return ctl_usage(ctl, "the CA is sign or auth");
    if (ctl_args_has(args, "partition") &&
        ctl_args_number(ctl_args_get(args, "partition"), 0, 1000000, &partition) == -1)
        return ctl_usage(ctl, "--partition must be a partition number (0, 1, …)");
    if (partition >= 0)
        snprintf(path, sizeof(path), "/crl/%s/%ld.crl", ca, partition);
    else
        snprintf(path, sizeof(path), "/crl/%s.crl", ca);
    if ((rc = ctl_rp_ca_cert(ctl, ca, ctl_args_get(args, "ca"), &ca_cert)) != CTL_EXIT_OK)
        goto out;
    if ((rc = crl_get_verified(ctl, path, ca_cert, &reply, &crl)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    /* RFC 5280 §5.2.3: the CRL number */
    number = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    if (number != NULL && (bn = ASN1_INTEGER_to_BN(number, NULL)) != NULL)
        number_dec = BN_bn2dec(bn);
    issuer = ctl_rp_name_text(X509_CRL_get_issuer(crl));
    ERR_clear_error();
    ctl_rp_time_text(X509_CRL_get0_lastUpdate(crl), t_this, sizeof(t_this));
    ctl_rp_time_text(X509_CRL_get0_nextUpdate(crl), t_next, sizeof(t_next));
    if (pki_fingerprint(ca_cert, fp, &err) == -1)
        snprintf(fp, sizeof(fp), "?");
    const STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
    int count = sk_X509_REVOKED_num(revoked);
    if (count < 0)
        count = 0;
    if (ctl->json) {
        summary = json_pack("{s:s, s:s?, s:s, s:s, s:i, s:s}", "ca", ca, "number", number_dec,
                            "this_update", t_this, "next_update", t_next, "entries", count,
                            "ca_sha256", fp);
        if (summary != NULL && ctl_args_has(args, "list") && (entries = json_array()) != NULL) {
            crl_entries(ctl, revoked, entries);
            json_object_set(summary, "revoked", entries);
        }
        ctl_out_json_line(ctl->out, summary);
    } else {
        fprintf(ctl->out, "CRL %s%s verified with the CA certificate %s\n", path,
                ctl_args_has(args, "ca") ? "" : " (served by the service)", fp);
        fputs("  issuer:      ", ctl->out);
        ctl_out_put(ctl->out, issuer);
        fprintf(ctl->out,
                "\n  number:      %s\n  this update: %s\n  next update: %s\n"
                "  entries:     %d\n",
                number_dec != NULL ? number_dec : "-", t_this, t_next, count);
        if (ctl_args_has(args, "list"))
            crl_entries(ctl, revoked, NULL);
    }
    /* RFC 5280 §6.3.3 (a)(2): a CRL past its nextUpdate must not be relied on */
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (next == NULL || X509_cmp_current_time(next) <= 0) {
        ctl_fail(ctl, rc, "the CRL is past its nextUpdate (%s)", t_next);
        goto out;
    }
    if (out_file != NULL &&
        fsutil_write_atomic(out_file, reply.body, reply.len, 0644, false, &err) == -1) {
        ctl_fail(ctl, rc, "cannot write %s: %s", out_file, err.msg);
        goto out;
    }
    rc = CTL_EXIT_OK;
out:
    json_decref(entries);
    json_decref(summary);
    free(issuer);
    OPENSSL_free(number_dec);
    BN_free(bn);
    ASN1_INTEGER_free(number);
    X509_CRL_free(crl);
    X509_free(ca_cert);
    ctl_http_reply_free(&reply);
    return rc;
}

int ctl_rp_cert_status(struct ctl *ctl, const char *ca, X509 *cert, X509 *issuer,
                       struct ctl_rp_status *st)
{
    int rc = ctl_rp_ocsp_status(ctl, cert, issuer, EVP_sha1(), true, st);
    if (rc == CTL_EXIT_OK || rc == CTL_EXIT_USAGE) /* usage: no service to ask at all */
        return rc;
    /* RFC 5280 §6.3 / RFC 6960 §1: the CRL carries the same statuses; a relying party without
     * an OCSP answer falls back to it */
    fprintf(ctl->err, "jpkictl: %s: no OCSP answer; checking the %s CRL instead\n", ctl->cmd_name,
            ca);
    int crl_rc = ctl_rp_crl_status(ctl, ca, cert, issuer, st);
    if (crl_rc == CTL_EXIT_OK)
        return crl_rc;
    /* both unreachable is a transport failure; anything else is a failed check */
    return rc == CTL_EXIT_TRANSPORT && crl_rc == CTL_EXIT_TRANSPORT ? CTL_EXIT_TRANSPORT
                                                                    : CTL_EXIT_FAILED;
}

/* ---- fingerprints ---- */

int ctl_rp_fingerprints(struct ctl *ctl, const struct ctl_args *args)
{
    static const char *const cas[] = {"sign", "auth"};
    struct ctl_http_reply reply = {0};
    json_t *root = NULL;
    int rc;

    if ((rc = get_public(ctl, "/ca/fingerprints", &reply)) != CTL_EXIT_OK)
        return rc;
    root = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the answer is not a JSON object");
        goto out;
    }
    if (ctl->json) {
        fwrite(reply.body, 1, reply.len, ctl->out);
        fputc('\n', ctl->out);
    }
    for (size_t i = 0; i < 2; i++) {
        const json_t *entry = json_object_get(root, cas[i]);
        const char *served = ctl_out_str(entry, "sha256");
        const char *local_path = ctl_args_get(args, cas[i]);
        const json_t *gens = json_object_get(entry, "generations");
        if (!ctl->json) {
            fprintf(ctl->out, "%s  SHA-256 ", cas[i]);
            ctl_out_put(ctl->out, served);
            fputs("\n      subject ", ctl->out);
            ctl_out_put(ctl->out, ctl_out_str(entry, "subject"));
            fputc('\n', ctl->out);
            /* DESIGN §11: every generation still served, the issuing one marked, each with
             * the subscriber validity it issues (or issued) for */
            for (size_t k = 0; k < json_array_size(gens); k++) {
                const json_t *g = json_array_get(gens, k);
                if (json_array_size(gens) > 1) {
                    fprintf(ctl->out, "      generation %lld%s ",
                            (long long)json_integer_value(json_object_get(g, "generation")),
                            json_is_true(json_object_get(g, "issuing")) ? " (issuing)" : "");
                    ctl_out_put(ctl->out, ctl_out_str(g, "algorithm"));
                    fputs(" until ", ctl->out);
                    ctl_out_put(ctl->out, ctl_out_str(g, "not_after"));
                    fputs(" SHA-256 ", ctl->out);
                    ctl_out_put(ctl->out, ctl_out_str(g, "sha256"));
                    fputc('\n', ctl->out);
                }
                const json_t *v = json_object_get(g, "subscriber_validity");
                if (!json_is_object(v))
                    continue;
                fprintf(ctl->out, "        subscribers %lld years (%lld under 18), from the ",
                        (long long)json_integer_value(json_object_get(v, "years")),
                        (long long)json_integer_value(json_object_get(v, "years_minor")));
                ctl_out_put(ctl->out, ctl_out_str(v, "from"));
                fputc('\n', ctl->out);
            }
        }
        if (local_path == NULL)
            continue;
        X509 *local = NULL;
        char fp[96];
        struct jerr err = {0};
        int lrc = ctl_rp_load_cert(ctl, cas[i], local_path, &local);
        if (lrc == CTL_EXIT_OK && pki_fingerprint(local, fp, &err) == -1)
            lrc = ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
        X509_free(local);
        if (lrc != CTL_EXIT_OK) {
            rc = lrc;
            continue;
        }
        if (ctl_rp_fingerprint_served(root, cas[i], fp)) {
            fprintf(ctl->json ? ctl->err : ctl->out, "%s: matches ", cas[i]);
            ctl_out_put(ctl->json ? ctl->err : ctl->out, local_path);
            fputc('\n', ctl->json ? ctl->err : ctl->out);
        } else {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "%s: MISMATCH: %s has SHA-256 %s", cas[i],
                          local_path, fp);
        }
    }
out:
    json_decref(root);
    ctl_http_reply_free(&reply);
    return rc;
}
