/*
 * test_ocsp_answer: the signing side of the OCSP responder (responder/ocsp/ocsp_answer.h), its
 * refresher (responder/ocsp/ocsp_refresh.h) and the pure helpers of the endpoint
 * (responder/ocsp/ocsp_http.h), over a real instance (pki_init once per test case, in the parent;
 * each test opens it and uses its own serials).
 *
 * Responses are read back by OpenSSL's client side: OCSP_basic_verify against the CA root,
 * OCSP_resp_find_status, OCSP_check_nonce.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "ca/ocsp.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jclock.h"
#include "responder/ocsp/ocsp_answer.h"
#include "responder/ocsp/ocsp_http.h"
#include "responder/ocsp/ocsp_refresh.h"
#include "responder/ocsp/presign.h"
#include "responder/net/workers.h"
#include "testinst.h"

#define PASS "correct horse battery staple"
#define DAY 86400

static char *inst_dir;
static char inst_yaml[8192];

static struct jpki_config *load_cfg(void)
{
    struct jerr err = {0};
    struct jpki_config *cfg =
        config_load_string("test.yaml", inst_yaml, strlen(inst_yaml), NULL, 0, &err);
    ck_assert_msg(cfg != NULL, "config: %s", err.msg);
    return cfg;
}

/* Unchecked fixture (the parent, before the tests fork): one instance with one holder. */
static void instance_create(void)
{
    struct jerr err = {0};
    struct pki_init_result res;
    inst_dir = testutil_mkdtemp();
    snprintf(inst_yaml, sizeof(inst_yaml),
             "data_dir: %s/inst\n"
             "public_url: http://ocsp.example.test\n",
             inst_dir);
    struct jpki_config *cfg =
        config_load_string("test.yaml", inst_yaml, strlen(inst_yaml), NULL, 0, &err);
    if (cfg == NULL || pki_init(cfg, PASS, &res, &err) == -1) {
        fprintf(stderr, "instance: %s\n", err.msg);
        exit(EXIT_FAILURE);
    }
    struct pki *pki = pki_open(cfg, PASS, &err);
    struct store *st = pki != NULL ? pki_store_open(pki, &err) : NULL;
    struct person p = testutil_person("p-1", "山田 花子", "東京都千代田区霞が関2-1-2", "1980-04-01",
                                      GENDER_FEMALE);
    struct card c = {.id = "card-1",
                     .person_id = "p-1",
                     .type = CARD_MYNUMBER,
                     .expiry = "2034-12-31",
                     .state = CARD_ACTIVE};
    if (st == NULL || store_person_insert(st, &p, &err) == -1 ||
        store_card_insert(st, &c, &err) == -1) {
        fprintf(stderr, "instance: %s\n", err.msg);
        exit(EXIT_FAILURE);
    }
    store_close(st);
    pki_free(pki);
    config_free(cfg);
}

static void instance_destroy(void)
{
    testutil_rmtree(inst_dir);
    free(inst_dir);
}

struct fixture {
    struct jpki_config *cfg;
    struct pki *pki;
    struct store *st;
    struct ocsp_answer *a;
};

static void fx_open(struct fixture *fx)
{
    struct jerr err = {0};
    fx->cfg = load_cfg();
    fx->pki = pki_open(fx->cfg, PASS, &err);
    ck_assert_msg(fx->pki != NULL, "open: %s", err.msg);
    fx->st = pki_store_open(fx->pki, &err);
    ck_assert_msg(fx->st != NULL, "%s", err.msg);
    fx->a = ocsp_answer_new(fx->pki, 64, &err);
    ck_assert_msg(fx->a != NULL, "%s", err.msg);
}

static void fx_close(struct fixture *fx)
{
    ocsp_answer_free(fx->a);
    store_close(fx->st);
    pki_free(fx->pki);
    config_free(fx->cfg);
}

/* The "answers" tests' instance, opened around each of them (a checked fixture). */
static struct fixture fix;
static void answers_setup(void)
{
    fx_open(&fix);
}
static void answers_teardown(void)
{
    fx_close(&fix);
}

/* A registry row; the DER is a stand-in (the responder never reads it). */
static void add_cert(struct store *st, const char *serial, enum ca_kind ca, enum cert_status status,
                     int reason, int64_t at)
{
    time_t now = jclock_now();
    struct cert_rec rec =
        testutil_cert_rec(serial, ca, "card-1", "p-1", now - DAY, now + 365 * DAY);
    rec.status = status;
    rec.reason = reason;
    rec.status_changed_at = at;
    testutil_cert_insert(st, &rec);
}

static void set_status(struct store *st, const char *serial, enum cert_status status, int reason,
                       int64_t at)
{
    struct jerr err = {0};
    ck_assert_msg(store_cert_set_status(st, serial, status, reason, at, 0, &err) == 0, "%s",
                  err.msg);
}

/* A request of one CertID as OpenSSL sends it (NULL hash parameters). */
static void one_req(struct ocsp_request *r, const struct pki *pki, enum ca_kind issuer,
                    const char *serial, int hash)
{
    struct jerr err = {0};
    memset(r, 0, sizeof(*r));
    ck_assert_msg(
        ocsp_certid_for_serial(pki_get0_root(pki, issuer), serial, hash, &r->ids[0], &err) == 0,
        "%s", err.msg);
    r->count = 1;
}

static void add_id(struct ocsp_request *r, const struct pki *pki, enum ca_kind issuer,
                   const char *serial, int hash)
{
    struct jerr err = {0};
    ck_assert_msg(ocsp_certid_for_serial(pki_get0_root(pki, issuer), serial, hash,
                                         &r->ids[r->count], &err) == 0,
                  "%s", err.msg);
    r->count++;
}

struct seen {
    int status, reason;
    time_t revoked_at, this_update, next_update;
};

/* Reads response `der`: successful, verified against `ca`'s root, signed by its OCSP
 * signer; the answer for (serial, hash) into *out. With `nonce`, the nonce must be echoed
 * (checked as OpenSSL's client does). */
static void read_answer(const unsigned char *der, size_t len, const struct pki *pki,
                        enum ca_kind ca, const char *serial, int hash, struct seen *out,
                        const struct ocsp_request *nonce_req)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(resp);
    ck_assert_int_eq(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    ck_assert_ptr_nonnull(bs);
    X509_STORE *trust = X509_STORE_new();
    ck_assert_int_eq(X509_STORE_add_cert(trust, pki_get0_root(pki, ca)), 1);
    ck_assert_int_eq(OCSP_basic_verify(bs, NULL, trust, 0), 1);
    /* The delegated signer's certificate is included, and it is the one that signed. */
    const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);
    ck_assert_int_eq(sk_X509_num(certs), 1);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), pki_get0_ocsp_cert(pki, ca)), 0);

    BIGNUM *bn = NULL;
    ck_assert_int_gt(BN_hex2bn(&bn, serial), 0);
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    X509 *root = pki_get0_root(pki, ca);
    OCSP_CERTID *cid =
        OCSP_cert_id_new(hash == OCSP_CERTID_SHA1 ? EVP_sha1() : EVP_sha256(),
                         X509_get_subject_name(root), X509_get0_pubkey_bitstr(root), ai);
    ck_assert_ptr_nonnull(cid);
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    memset(out, 0, sizeof(*out));
    ck_assert_int_eq(
        OCSP_resp_find_status(bs, cid, &out->status, &out->reason, &rev, &thisupd, &nextupd), 1);
    ck_assert_int_eq(OCSP_check_validity(thisupd, nextupd, 300, -1), 1);
    struct tm tm;
    ck_assert_int_eq(ASN1_TIME_to_tm(thisupd, &tm), 1);
    out->this_update = timegm(&tm);
    ck_assert_int_eq(ASN1_TIME_to_tm(nextupd, &tm), 1);
    out->next_update = timegm(&tm);
    if (rev != NULL) {
        ck_assert_int_eq(ASN1_TIME_to_tm(rev, &tm), 1);
        out->revoked_at = timegm(&tm);
    }
    if (nonce_req != NULL) {
        OCSP_REQUEST *req = OCSP_REQUEST_new();
        ck_assert_ptr_nonnull(OCSP_request_add1_nonce(req, (unsigned char *)nonce_req->nonce,
                                                      (int)nonce_req->nonce_len) == 1
                                  ? req
                                  : NULL);
        ck_assert_int_eq(OCSP_check_nonce(req, bs), 1);
        OCSP_REQUEST_free(req);
    } else {
        ck_assert_int_lt(OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, -1), 0);
    }
    OCSP_CERTID_free(cid);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    X509_STORE_free(trust);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
}

static void read_blob(const struct presign_blob *b, const struct pki *pki, enum ca_kind ca,
                      const char *serial, int hash, struct seen *out)
{
    size_t len;
    const unsigned char *der = presign_blob_der(b, &len);
    read_answer(der, len, pki, ca, serial, hash, out, NULL);
    ck_assert_int_eq(presign_blob_this_update(b), out->this_update);
    ck_assert_int_eq(presign_blob_next_update(b), out->next_update);
    ck_assert_int_eq(presign_blob_cert_status(b), out->status);
}

static struct presign_blob *cached(struct fixture *fx, enum ca_kind ca, const char *serial,
                                   int hash)
{
    struct presign_key k;
    struct ocsp_certid id;
    struct jerr err = {0};
    /* The key of a CertID naming the CA's root (its issuer key hash is part of the key). */
    ck_assert_int_eq(ocsp_certid_for_serial(pki_get0_root(fx->pki, ca), serial, hash, &id, &err),
                     0);
    ocsp_answer_key(&id, ca, &k);
    return presign_get(ocsp_answer_cache(fx->a), &k);
}

/* Asks the fixture's answerer for one certificate (serial under CA, certID hash HASH) and
 * asserts that it answers; reads the answer into SEEN unless it is NULL. Returns the answer
 * (caller unrefs). */
static struct presign_blob *ask(enum ca_kind ca, const char *serial, int hash,
                                struct ocsp_answer_outcome *how, struct seen *seen)
{
    struct ocsp_request r;
    struct jerr err = {0};
    one_req(&r, fix.pki, ca, serial, hash);
    struct presign_blob *b = ocsp_answer_request(fix.a, fix.st, &r, ca, how, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    if (seen != NULL)
        read_blob(b, fix.pki, ca, serial, hash, seen);
    return b;
}

/* The registry row of (serial, hash): 1 fresh, 0 stale, -1 none. */
static int row_state(struct store *st, const char *serial, int hash, unsigned char **der,
                     size_t *len)
{
    struct jerr err = {0};
    unsigned char *d = NULL;
    size_t l = 0;
    bool stale = true;
    int64_t next = 0;
    if (store_ocsp_get(st, serial, hash, &d, &l, &next, &stale, &err) == -1) {
        ck_assert_int_eq(err.code, JERR_NOT_FOUND);
        return -1;
    }
    if (der != NULL) {
        *der = d;
        *len = l;
    } else {
        free(d);
    }
    return stale ? 0 : 1;
}

/* The refresher's view of one serial (ca/store.h, migration 5). */
struct due_probe {
    const char *serial;
    int64_t seq; /* its mark, 0 when unmarked */
    bool ageing; /* one of its responses is ageing */
};

static int probe_mark_cb(void *ctx, const struct store_ocsp_due *d)
{
    struct due_probe *p = ctx;
    if (strcmp(d->serial, p->serial) == 0)
        p->seq = d->changed_seq;
    return 0;
}

static int probe_ageing_cb(void *ctx, const struct store_ocsp_due *d)
{
    struct due_probe *p = ctx;
    if (strcmp(d->serial, p->serial) == 0)
        p->ageing = true;
    return 0;
}

/* The mark of `serial` (0 when it has none). */
static int64_t mark_of(struct store *st, const char *serial)
{
    struct due_probe p = {serial, 0, false};
    struct jerr err = {0};
    ck_assert_msg(store_ocsp_foreach_dirty(st, 0, 1000, probe_mark_cb, &p, &err) == 0, "%s",
                  err.msg);
    return p.seq;
}

static bool is_ageing(struct store *st, const char *serial, time_t refresh_by)
{
    struct due_probe p = {serial, 0, false};
    struct jerr err = {0};
    ck_assert_msg(
        store_ocsp_foreach_ageing(st, refresh_by, 0, "", 1000, probe_ageing_cb, &p, &err) == 0,
        "%s", err.msg);
    return p.ageing;
}

/* Pre-signs `serial` as the refresher's marks pass does: with its mark, cleared once done. */
static int presign_marked(struct fixture *fx, const char *serial,
                          struct ocsp_answer_presign_stats *stats, struct jerr *err)
{
    const char *serials[] = {serial};
    int64_t seqs[] = {mark_of(fx->st, serial)};
    return ocsp_answer_presign(fx->a, fx->st, serials, seqs, 1, stats, err);
}

/* ---- pure ---- */

START_TEST(test_pick_ca)
{
    struct ocsp_request r;
    struct ocsp_issuer issuers[2];
    struct jerr err = {0};
    enum ca_kind ca = CA_AUTH;
    fx_open(&fix);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(
            ocsp_issuer_init(&issuers[i], (enum ca_kind)i, pki_get0_root(fix.pki, i), &err), 0);

    one_req(&r, fix.pki, CA_SIGN, "0A01", OCSP_CERTID_SHA1);
    ck_assert_int_eq(ocsp_answer_pick_ca(issuers, 2, &r, -1, &ca), 0);
    ck_assert_int_eq(ca, CA_SIGN);
    ck_assert_int_eq(ocsp_answer_pick_ca(issuers, 2, &r, CA_SIGN, &ca), 0);
    ck_assert_int_eq(ocsp_answer_pick_ca(issuers, 2, &r, CA_AUTH, &ca), -1); /* per-CA path */
    /* SHA-256 CertIDs match by their own hashes. */
    one_req(&r, fix.pki, CA_AUTH, "0A01", OCSP_CERTID_SHA256);
    ck_assert_int_eq(ocsp_answer_route_ca(fix.a, &r, -1, &ca), 0);
    ck_assert_int_eq(ca, CA_AUTH);
    /* Several CertIDs of one CA: that CA; of two: refused as a whole. */
    add_id(&r, fix.pki, CA_AUTH, "0A02", OCSP_CERTID_SHA1);
    ck_assert_int_eq(ocsp_answer_route_ca(fix.a, &r, -1, &ca), 0);
    ck_assert_int_eq(ca, CA_AUTH);
    add_id(&r, fix.pki, CA_SIGN, "0A03", OCSP_CERTID_SHA1);
    ck_assert_int_eq(ocsp_answer_route_ca(fix.a, &r, -1, &ca), -1);
    /* A foreign issuer: the key hash of ours with another name hash, and vice versa. */
    one_req(&r, fix.pki, CA_SIGN, "0A01", OCSP_CERTID_SHA1);
    r.ids[0].name_hash[0] ^= 1;
    ck_assert_int_eq(ocsp_answer_route_ca(fix.a, &r, -1, &ca), -1);
    one_req(&r, fix.pki, CA_SIGN, "0A01", OCSP_CERTID_SHA1);
    r.ids[0].key_hash[19] ^= 1;
    ck_assert_int_eq(ocsp_answer_route_ca(fix.a, &r, -1, &ca), -1);
    /* A foreign CertID after one of ours. */
    one_req(&r, fix.pki, CA_SIGN, "0A01", OCSP_CERTID_SHA1);
    add_id(&r, fix.pki, CA_SIGN, "0A02", OCSP_CERTID_SHA1);
    r.ids[1].key_hash[0] ^= 1;
    ck_assert_int_eq(ocsp_answer_route_ca(fix.a, &r, -1, &ca), -1);
    r.count = 0;
    ck_assert_int_eq(ocsp_answer_route_ca(fix.a, &r, -1, &ca), -1);
    fx_close(&fix);
}
END_TEST

START_TEST(test_is_cacheable)
{
    struct ocsp_request r;
    fx_open(&fix);
    one_req(&r, fix.pki, CA_SIGN, "0B01", OCSP_CERTID_SHA1);
    ck_assert(ocsp_answer_is_cacheable(&r));
    one_req(&r, fix.pki, CA_SIGN, "0B01", OCSP_CERTID_SHA256);
    ck_assert(ocsp_answer_is_cacheable(&r));
    r.has_nonce = true;
    r.nonce_len = 8;
    ck_assert(!ocsp_answer_is_cacheable(&r)); /* a nonce is answered fresh */
    one_req(&r, fix.pki, CA_SIGN, "0B01", OCSP_CERTID_SHA1);
    r.ids[0].params_null = false;
    ck_assert(!ocsp_answer_is_cacheable(&r)); /* absent parameters: echoed exactly, fresh */
    one_req(&r, fix.pki, CA_SIGN, "0B01", OCSP_CERTID_SHA1);
    r.ids[0].serial_ok = false;
    ck_assert(!ocsp_answer_is_cacheable(&r));
    one_req(&r, fix.pki, CA_SIGN, "0B01", OCSP_CERTID_SHA1);
    add_id(&r, fix.pki, CA_SIGN, "0B02", OCSP_CERTID_SHA1);
    ck_assert(!ocsp_answer_is_cacheable(&r));

    struct presign_key k;
    one_req(&r, fix.pki, CA_AUTH, "0B01", OCSP_CERTID_SHA256);
    ocsp_answer_key(&r.ids[0], CA_AUTH, &k);
    ck_assert_int_eq(k.ca, CA_AUTH);
    ck_assert_int_eq(k.certid_hash, OCSP_CERTID_SHA256);
    ck_assert_str_eq(k.serial, "0B01");
    fx_close(&fix);
}
END_TEST

START_TEST(test_http_helpers)
{
    ck_assert(ocsp_http_is_request_type("application/ocsp-request"));
    ck_assert(ocsp_http_is_request_type("Application/OCSP-Request"));
    ck_assert(ocsp_http_is_request_type(" application/ocsp-request ; charset=binary"));
    ck_assert(!ocsp_http_is_request_type(NULL));
    ck_assert(!ocsp_http_is_request_type(""));
    ck_assert(!ocsp_http_is_request_type("text/plain"));
    ck_assert(!ocsp_http_is_request_type("application/ocsp-requestx"));
    ck_assert(!ocsp_http_is_request_type("application/ocsp-response"));
    ck_assert(!ocsp_http_is_request_type("application/x-www-form-urlencoded"));

    int ca;
    const char *comp;
    ocsp_http_split_path("", &ca, &comp);
    ck_assert_int_eq(ca, -1);
    ck_assert_str_eq(comp, "");
    ocsp_http_split_path("MEIwQDA%2B", &ca, &comp);
    ck_assert_int_eq(ca, -1);
    ck_assert_str_eq(comp, "MEIwQDA%2B");
    ocsp_http_split_path("sign", &ca, &comp);
    ck_assert_int_eq(ca, CA_SIGN);
    ck_assert_str_eq(comp, "");
    ocsp_http_split_path("auth/", &ca, &comp);
    ck_assert_int_eq(ca, CA_AUTH);
    ck_assert_str_eq(comp, "");
    ocsp_http_split_path("auth/MEIw/QDA=", &ca, &comp);
    ck_assert_int_eq(ca, CA_AUTH);
    ck_assert_str_eq(comp, "MEIw/QDA=");
    ocsp_http_split_path("signx/MEIw", &ca, &comp); /* not a CA name: the general form */
    ck_assert_int_eq(ca, -1);
    ck_assert_str_eq(comp, "signx/MEIw");

    /* GET caching (RFC 9919 §6.2, RFC 5861 §4): max-age at most the cap and never past
     * nextUpdate; a cache may serve the answer on our errors until nextUpdate, not beyond. */
    char cc[96];
    const time_t t = 1800000000;
    ocsp_http_cache_control(cc, sizeof(cc), t + 86400, t, 300);
    ck_assert_str_eq(cc, "max-age=300, public, no-transform, stale-if-error=86100");
    ocsp_http_cache_control(cc, sizeof(cc), t + 200, t, 300);
    ck_assert_str_eq(cc, "max-age=200, public, no-transform, stale-if-error=0");
    ocsp_http_cache_control(cc, sizeof(cc), t - 5, t, 300);
    ck_assert_str_eq(cc, "max-age=0, public, no-transform, stale-if-error=0");
    ocsp_http_cache_control(cc, sizeof(cc), t + 604800, t, 604800);
    ck_assert_str_eq(cc, "max-age=604800, public, no-transform, stale-if-error=0");
    ocsp_http_cache_control(cc, sizeof(cc), t + 86400, t, 0);
    ck_assert_str_eq(cc, "max-age=0, public, no-transform, stale-if-error=86400");
}
END_TEST

/* ---- answers ---- */

#define S_GOOD "5A000000000000000000000000000001"

START_TEST(test_good_signed_stored_cached)
{
    struct ocsp_answer_outcome how;
    struct seen seen;
    add_cert(fix.st, S_GOOD, CA_SIGN, CERT_GOOD, REASON_NONE, 0);
    ck_assert_ptr_null(cached(&fix, CA_SIGN, S_GOOD, OCSP_CERTID_SHA1));

    time_t before = jclock_now();
    struct presign_blob *b = ask(CA_SIGN, S_GOOD, OCSP_CERTID_SHA1, &how, &seen);
    ck_assert(how.signed_now);
    ck_assert(!how.from_registry);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_GOOD);
    ck_assert_int_ge(seen.this_update, before);
    ck_assert_int_eq(seen.next_update - seen.this_update, fix.cfg->ocsp_validity_s);

    /* Stored fresh in the registry, the same bytes, and cached. */
    unsigned char *row = NULL;
    size_t row_len = 0, len;
    ck_assert_int_eq(row_state(fix.st, S_GOOD, OCSP_CERTID_SHA1, &row, &row_len), 1);
    const unsigned char *der = presign_blob_der(b, &len);
    ck_assert_uint_eq(row_len, len);
    ck_assert_mem_eq(row, der, len);
    free(row);
    struct presign_blob *c = cached(&fix, CA_SIGN, S_GOOD, OCSP_CERTID_SHA1);
    ck_assert_ptr_eq(c, b);
    presign_blob_unref(c);
    presign_blob_unref(b);

    /* Not asked under the other CA's name or hash. */
    ck_assert_ptr_null(cached(&fix, CA_AUTH, S_GOOD, OCSP_CERTID_SHA1));
    ck_assert_ptr_null(cached(&fix, CA_SIGN, S_GOOD, OCSP_CERTID_SHA256));
    ck_assert_int_eq(row_state(fix.st, S_GOOD, OCSP_CERTID_SHA256, NULL, NULL), -1);

    /* Another responder process (an empty cache) answers from the registry, unsigned. */
    ocsp_answer_forget(fix.a, S_GOOD);
    ck_assert_ptr_null(cached(&fix, CA_SIGN, S_GOOD, OCSP_CERTID_SHA1));
    struct presign_blob *b2 = ask(CA_SIGN, S_GOOD, OCSP_CERTID_SHA1, &how, NULL);
    ck_assert(!how.signed_now);
    ck_assert(how.from_registry);
    const unsigned char *der2 = presign_blob_der(b2, &len);
    ck_assert_int_eq(row_state(fix.st, S_GOOD, OCSP_CERTID_SHA1, &row, &row_len), 1);
    ck_assert_uint_eq(len, row_len);
    ck_assert_mem_eq(der2, row, len);
    free(row);
    read_blob(b2, fix.pki, CA_SIGN, S_GOOD, OCSP_CERTID_SHA1, &seen);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_GOOD);
    c = cached(&fix, CA_SIGN, S_GOOD, OCSP_CERTID_SHA1);
    ck_assert_ptr_eq(c, b2);
    presign_blob_unref(c);
    presign_blob_unref(b2);
}
END_TEST

#define S_REVOKED "5B000000000000000000000000000002"
#define S_HELD "5B000000000000000000000000000003"

START_TEST(test_revoked_and_held)
{
    struct ocsp_answer_outcome how;
    struct seen seen;
    time_t at = jclock_now() - 3600;
    add_cert(fix.st, S_REVOKED, CA_AUTH, CERT_REVOKED, REASON_KEY_COMPROMISE, at);
    add_cert(fix.st, S_HELD, CA_AUTH, CERT_HOLD, REASON_CERTIFICATE_HOLD, at + 60);

    struct presign_blob *b = ask(CA_AUTH, S_REVOKED, OCSP_CERTID_SHA256, &how, &seen);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_REVOKED);
    ck_assert_int_eq(seen.reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    ck_assert_int_eq(seen.revoked_at, at);
    ck_assert_int_eq(row_state(fix.st, S_REVOKED, OCSP_CERTID_SHA256, NULL, NULL), 1);
    presign_blob_unref(b);

    b = ask(CA_AUTH, S_HELD, OCSP_CERTID_SHA1, &how, &seen);
    /* RFC 6960 §2.2: a hold is revoked with reason certificateHold. */
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_REVOKED);
    ck_assert_int_eq(seen.reason, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
    ck_assert_int_eq(seen.revoked_at, at + 60);
    presign_blob_unref(b);
}
END_TEST

#define S_AUTHONLY "5C000000000000000000000000000004"
#define S_NEVER "5C0000000000000000000000000000FF"

START_TEST(test_unknown_is_never_cached)
{
    struct ocsp_request r;
    struct ocsp_answer_outcome how;
    struct jerr err = {0};
    struct seen seen;
    add_cert(fix.st, S_AUTHONLY, CA_AUTH, CERT_GOOD, REASON_NONE, 0);

    /* Never issued. */
    struct presign_blob *b = ask(CA_SIGN, S_NEVER, OCSP_CERTID_SHA1, &how, &seen);
    ck_assert(how.signed_now);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_UNKNOWN);
    ck_assert_ptr_null(presign_blob_key(b));
    ck_assert_ptr_null(cached(&fix, CA_SIGN, S_NEVER, OCSP_CERTID_SHA1));
    presign_blob_unref(b);

    /* A certificate of the auth CA asked under the signing CA: unknown, never good — even
     * with its own (auth) response pre-signed in the registry under the same serial. */
    const char *serials[] = {S_AUTHONLY};
    struct ocsp_answer_presign_stats stats;
    ck_assert_int_eq(ocsp_answer_presign(fix.a, fix.st, serials, NULL, 1, &stats, &err), 0);
    ck_assert_int_eq(row_state(fix.st, S_AUTHONLY, OCSP_CERTID_SHA1, NULL, NULL), 1);
    ocsp_answer_forget(fix.a, S_AUTHONLY);
    b = ask(CA_SIGN, S_AUTHONLY, OCSP_CERTID_SHA1, &how, &seen);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_UNKNOWN);
    ck_assert(!how.from_registry);
    ck_assert_ptr_null(cached(&fix, CA_SIGN, S_AUTHONLY, OCSP_CERTID_SHA1));
    /* The auth CA's own row is untouched and still answers under the auth CA. */
    ck_assert_int_eq(row_state(fix.st, S_AUTHONLY, OCSP_CERTID_SHA1, NULL, NULL), 1);
    presign_blob_unref(b);
    b = ask(CA_AUTH, S_AUTHONLY, OCSP_CERTID_SHA1, &how, &seen);
    ck_assert(how.from_registry);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_GOOD);
    presign_blob_unref(b);

    /* A serial that cannot be ours (serial_ok false): unknown. */
    one_req(&r, fix.pki, CA_AUTH, S_AUTHONLY, OCSP_CERTID_SHA1);
    r.ids[0].serial_ok = false;
    b = ocsp_answer_request(fix.a, fix.st, &r, CA_AUTH, &how, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_int_eq(presign_blob_cert_status(b), V_OCSP_CERTSTATUS_UNKNOWN);
    presign_blob_unref(b);
}
END_TEST

#define S_N1 "5D000000000000000000000000000005"
#define S_N2 "5D000000000000000000000000000006"

START_TEST(test_nonce_and_several_certids)
{
    struct ocsp_request r;
    struct ocsp_answer_outcome how;
    struct jerr err = {0};
    struct seen seen;
    add_cert(fix.st, S_N1, CA_SIGN, CERT_GOOD, REASON_NONE, 0);
    add_cert(fix.st, S_N2, CA_SIGN, CERT_REVOKED, REASON_AFFILIATION_CHANGED, jclock_now() - 10);

    one_req(&r, fix.pki, CA_SIGN, S_N1, OCSP_CERTID_SHA1);
    r.has_nonce = true;
    r.nonce_len = 16;
    memset(r.nonce, 0x5a, 16);
    struct presign_blob *b = ocsp_answer_request(fix.a, fix.st, &r, CA_SIGN, &how, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert(how.signed_now);
    size_t len;
    const unsigned char *der = presign_blob_der(b, &len);
    read_answer(der, len, fix.pki, CA_SIGN, S_N1, OCSP_CERTID_SHA1, &seen, &r);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_GOOD);
    /* Fresh for this request alone: neither cached nor stored. */
    ck_assert_ptr_null(presign_blob_key(b));
    ck_assert_ptr_null(cached(&fix, CA_SIGN, S_N1, OCSP_CERTID_SHA1));
    ck_assert_int_eq(row_state(fix.st, S_N1, OCSP_CERTID_SHA1, NULL, NULL), -1);
    presign_blob_unref(b);

    /* Three CertIDs (one never issued) answered together, without a nonce. */
    one_req(&r, fix.pki, CA_SIGN, S_N1, OCSP_CERTID_SHA1);
    add_id(&r, fix.pki, CA_SIGN, S_N2, OCSP_CERTID_SHA256);
    add_id(&r, fix.pki, CA_SIGN, S_NEVER, OCSP_CERTID_SHA1);
    b = ocsp_answer_request(fix.a, fix.st, &r, CA_SIGN, &how, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    der = presign_blob_der(b, &len);
    read_answer(der, len, fix.pki, CA_SIGN, S_N1, OCSP_CERTID_SHA1, &seen, NULL);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_GOOD);
    read_answer(der, len, fix.pki, CA_SIGN, S_N2, OCSP_CERTID_SHA256, &seen, NULL);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_REVOKED);
    ck_assert_int_eq(seen.reason, OCSP_REVOKED_STATUS_AFFILIATIONCHANGED);
    read_answer(der, len, fix.pki, CA_SIGN, S_NEVER, OCSP_CERTID_SHA1, &seen, NULL);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_UNKNOWN);
    /* A response counts as revoked when any of its answers is. */
    ck_assert_int_eq(presign_blob_cert_status(b), V_OCSP_CERTSTATUS_REVOKED);
    ck_assert_ptr_null(presign_blob_key(b));
    presign_blob_unref(b);
}
END_TEST

#define S_CHG "5E000000000000000000000000000007"

/* A status change (as another process makes it: the registry alone) leaves the cached answer
 * until the refresher's pass; the pass re-signs both hashes, stores them fresh and replaces
 * the cached ones. */
START_TEST(test_status_change_resigned)
{
    struct ocsp_answer_outcome how;
    struct ocsp_answer_presign_stats stats;
    struct jerr err = {0};
    struct seen seen;
    add_cert(fix.st, S_CHG, CA_AUTH, CERT_GOOD, REASON_NONE, 0);
    time_t now = jclock_now();
    /* A new certificate is marked for the refresher by its insertion. */
    int64_t mark = mark_of(fix.st, S_CHG);
    ck_assert_int_gt(mark, 0);
    const char *serials[] = {S_CHG};
    /* Without its mark, pre-signing leaves the mark alone. */
    ck_assert_msg(ocsp_answer_presign(fix.a, fix.st, serials, NULL, 1, &stats, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(stats.signed_count, 1);
    ck_assert_uint_eq(stats.cleared, 0);
    ck_assert_int_eq(mark_of(fix.st, S_CHG), mark);
    /* A mark that is not the current one is not cleared (a change re-marked the serial). */
    int64_t older[] = {mark - 1};
    ck_assert_msg(ocsp_answer_presign(fix.a, fix.st, serials, older, 1, &stats, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(stats.cleared, 0);
    ck_assert_int_eq(mark_of(fix.st, S_CHG), mark);
    ck_assert_msg(presign_marked(&fix, S_CHG, &stats, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(stats.signed_count, 1); /* SHA-1 only: nobody asked SHA-256 yet */
    ck_assert_uint_eq(stats.stored, 1);
    ck_assert_uint_eq(stats.cleared, 1);
    ck_assert_uint_eq(stats.outdated + stats.failed + stats.skipped, 0);
    ck_assert_int_eq(mark_of(fix.st, S_CHG), 0);
    ck_assert(!is_ageing(fix.st, S_CHG, now));
    struct presign_blob *sha1 = cached(&fix, CA_AUTH, S_CHG, OCSP_CERTID_SHA1);
    ck_assert_ptr_nonnull(sha1);
    read_blob(sha1, fix.pki, CA_AUTH, S_CHG, OCSP_CERTID_SHA1, &seen);
    ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_GOOD);
    presign_blob_unref(sha1);
    /* A SHA-256 asker: signed, stored and cached too. */
    struct presign_blob *b = ask(CA_AUTH, S_CHG, OCSP_CERTID_SHA256, &how, NULL);
    presign_blob_unref(b);

    set_status(fix.st, S_CHG, CERT_HOLD, REASON_CERTIFICATE_HOLD, now);
    ck_assert_int_eq(row_state(fix.st, S_CHG, OCSP_CERTID_SHA1, NULL, NULL), 0);
    ck_assert_int_eq(row_state(fix.st, S_CHG, OCSP_CERTID_SHA256, NULL, NULL), 0);
    /* The change marked the serial again, with a newer mark. */
    int64_t hold_mark = mark_of(fix.st, S_CHG);
    ck_assert_int_gt(hold_mark, mark);
    /* A request meanwhile is not answered from the stale row: it is signed from the record. */
    ocsp_answer_forget(fix.a, S_CHG);
    b = ask(CA_AUTH, S_CHG, OCSP_CERTID_SHA1, &how, NULL);
    ck_assert(how.signed_now);
    ck_assert_int_eq(presign_blob_cert_status(b), V_OCSP_CERTSTATUS_REVOKED);
    presign_blob_unref(b);

    /* Release (as the lifecycle does): the pass re-signs SHA-1 and SHA-256. */
    set_status(fix.st, S_CHG, CERT_GOOD, REASON_NONE, now + 1);
    ck_assert_int_gt(mark_of(fix.st, S_CHG), hold_mark);
    ck_assert_msg(presign_marked(&fix, S_CHG, &stats, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(stats.signed_count, 2);
    ck_assert_uint_eq(stats.stored, 2);
    ck_assert_uint_eq(stats.cleared, 1);
    ck_assert_int_eq(mark_of(fix.st, S_CHG), 0);
    ck_assert_int_eq(row_state(fix.st, S_CHG, OCSP_CERTID_SHA1, NULL, NULL), 1);
    ck_assert_int_eq(row_state(fix.st, S_CHG, OCSP_CERTID_SHA256, NULL, NULL), 1);
    for (int hash = OCSP_CERTID_SHA1; hash <= OCSP_CERTID_SHA256; hash++) {
        struct presign_blob *c = cached(&fix, CA_AUTH, S_CHG, hash);
        ck_assert_msg(c != NULL, "hash %d not cached", hash);
        read_blob(c, fix.pki, CA_AUTH, S_CHG, hash, &seen);
        ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_GOOD);
        presign_blob_unref(c);
    }

    /* Revocation: the cached answers stay until the pass, which replaces them. */
    set_status(fix.st, S_CHG, CERT_REVOKED, REASON_KEY_COMPROMISE, now + 2);
    struct presign_blob *old = cached(&fix, CA_AUTH, S_CHG, OCSP_CERTID_SHA1);
    ck_assert_int_eq(presign_blob_cert_status(old), V_OCSP_CERTSTATUS_GOOD);
    ck_assert_msg(ocsp_answer_presign(fix.a, fix.st, serials, NULL, 1, &stats, &err) == 0, "%s",
                  err.msg);
    for (int hash = OCSP_CERTID_SHA1; hash <= OCSP_CERTID_SHA256; hash++) {
        struct presign_blob *c = cached(&fix, CA_AUTH, S_CHG, hash);
        ck_assert_ptr_nonnull(c);
        ck_assert_ptr_ne(c, old);
        read_blob(c, fix.pki, CA_AUTH, S_CHG, hash, &seen);
        ck_assert_int_eq(seen.status, V_OCSP_CERTSTATUS_REVOKED);
        ck_assert_int_eq(seen.reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
        ck_assert_int_eq(seen.revoked_at, now + 2);
        presign_blob_unref(c);
    }
    /* The reader that held the old answer still holds it whole. */
    ck_assert_int_eq(presign_blob_refs(old), 1);
    presign_blob_unref(old);
}
END_TEST

#define S_GONE "5F000000000000000000000000000008"

START_TEST(test_presign_refusals)
{
    struct ocsp_answer_presign_stats stats;
    struct jerr err = {0};
    /* A serial the registry does not know is skipped, not an error. */
    const char *serials[] = {S_GONE};
    ck_assert_int_eq(ocsp_answer_presign(fix.a, fix.st, serials, NULL, 1, &stats, &err), 0);
    ck_assert_uint_eq(stats.signed_count, 0);
    ck_assert_ptr_null(cached(&fix, CA_SIGN, S_GONE, OCSP_CERTID_SHA1));
    /* More than a chunk at once is a caller bug. */
    const char *many[OCSP_ANSWER_PRESIGN_MAX + 1];
    for (int i = 0; i <= OCSP_ANSWER_PRESIGN_MAX; i++)
        many[i] = S_GONE;
    ck_assert_int_eq(
        ocsp_answer_presign(fix.a, fix.st, many, NULL, OCSP_ANSWER_PRESIGN_MAX + 1, &stats, &err),
        -1);
    ck_assert_int_eq(err.code, JERR_INTERNAL);
}
END_TEST

#define S_AGE "60000000000000000000000000000009"

/* Ageing: a response with less than ocsp_refresh_before_s left is due for the refresh-ahead
 * pass; one within OCSP_ANSWER_MIN_REMAINING_S of its end is not served from the registry. */
START_TEST(test_ageing)
{
    struct ocsp_answer_outcome how;
    struct ocsp_answer_presign_stats stats;
    struct jerr err = {0};
    time_t t0 = jclock_now();
    jclock_set(t0);
    add_cert(fix.st, S_AGE, CA_SIGN, CERT_GOOD, REASON_NONE, 0);
    const char *serials[] = {S_AGE};
    ck_assert_int_eq(ocsp_answer_presign(fix.a, fix.st, serials, NULL, 1, &stats, &err), 0);
    int validity = fix.cfg->ocsp_validity_s, before = fix.cfg->ocsp_refresh_before_s;
    ck_assert(!is_ageing(fix.st, S_AGE, t0 + before));
    jclock_set(t0 + validity - before + 10);
    ck_assert(is_ageing(fix.st, S_AGE, jclock_now() + before));
    ck_assert(!is_ageing(fix.st, S_AGE, jclock_now())); /* not past its nextUpdate yet */

    /* Near its end the row is not used; a new one is signed. */
    jclock_set(t0 + validity - OCSP_ANSWER_MIN_REMAINING_S + 1);
    ocsp_answer_forget(fix.a, S_AGE);
    struct presign_blob *b = ask(CA_SIGN, S_AGE, OCSP_CERTID_SHA1, &how, NULL);
    ck_assert(how.signed_now);
    ck_assert_int_eq(presign_blob_this_update(b), jclock_now());
    presign_blob_unref(b);
    jclock_set(0);
}
END_TEST

/* ---- the refresher, with a real worker pool and event loop ---- */

#define S_R1 "61000000000000000000000000000010"
#define S_R2 "61000000000000000000000000000011"
#define S_R3 "61000000000000000000000000000012"
#define S_R4 "61000000000000000000000000000013"

static struct store *open_store(void *arg, struct jerr *err)
{
    return pki_store_open(arg, err);
}

struct watch {
    struct fixture *fx;
    struct event_base *base;
    const char *serial;
    enum ca_kind ca;
    int want_status; /* V_OCSP_CERTSTATUS_* of the cached SHA-1 answer */
    struct timespec start;
    long waited_ms;
    bool met;
};

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct watch *w = arg;
    (void)fd;
    (void)what;
    struct presign_blob *b = cached(w->fx, w->ca, w->serial, OCSP_CERTID_SHA1);
    if (b != NULL && presign_blob_cert_status(b) == w->want_status) {
        w->met = true;
        w->waited_ms = ms_since(&w->start);
        event_base_loopbreak(w->base);
    } else if (ms_since(&w->start) > 5000) {
        event_base_loopbreak(w->base);
    }
    presign_blob_unref(b);
}

/* Runs `base` until the cached SHA-1 answer of `serial` has `status`; returns the ms taken,
 * or -1 after 5 s. */
static long wait_cached(struct fixture *fx, struct event_base *base, const char *serial,
                        enum ca_kind ca, int status)
{
    struct watch w = {fx, base, serial, ca, status, {0, 0}, 0, false};
    struct timeval every = {0, 10 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &w.start);
    struct event *ev = event_new(base, -1, EV_PERSIST, watch_cb, &w);
    ck_assert_ptr_nonnull(ev);
    event_add(ev, &every);
    event_base_dispatch(base);
    event_free(ev);
    return w.met ? w.waited_ms : -1;
}

struct pool {
    struct workers *w;
    struct event_base *base;
    struct workers_loop *wl;
    struct ocsp_refresh *r;
};

/* Runs `base` (its refresher timers and job completions) for `ms`. */
static void run_for(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Calls of the refresher's status listener (ocsp_refresh_set_listener), from its worker. */
static atomic_int listener_calls;

static void count_listener(void *arg)
{
    ck_assert_ptr_eq(arg, &listener_calls);
    atomic_fetch_add(&listener_calls, 1);
}

static void pool_start(struct pool *p, struct fixture *fx, int poll_ms)
{
    struct jerr err = {0};
    struct workers_store_ops ops = {open_store, store_close, fx->pki};
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    p->w = workers_new(2, 0, &ops, &err);
    ck_assert_msg(p->w != NULL, "%s", err.msg);
    p->base = event_base_new();
    ck_assert_ptr_nonnull(p->base);
    p->wl = workers_attach(p->w, p->base, &err);
    ck_assert_msg(p->wl != NULL, "%s", err.msg);
    p->r = ocsp_refresh_new(fx->a, fx->cfg, poll_ms, &err);
    ck_assert_msg(p->r != NULL, "%s", err.msg);
    ocsp_refresh_kick(p->r); /* before the start: a no-op */
    ocsp_refresh_set_listener(p->r, count_listener, &listener_calls);
    ck_assert_int_eq(ocsp_refresh_start(p->r, p->base, p->wl, &err), 0);
}

static void pool_stop(struct pool *p)
{
    workers_shutdown(p->w);
    workers_detach(p->wl);
    ocsp_refresh_free(p->r);
    event_base_free(p->base);
    workers_free(p->w);
}

START_TEST(test_refresher_polls_the_registry)
{
    struct pool p;
    add_cert(fix.st, S_R1, CA_SIGN, CERT_GOOD, REASON_NONE, 0);
    add_cert(fix.st, S_R2, CA_AUTH, CERT_GOOD, REASON_NONE, 0);
    pool_start(&p, &fix, 0);

    /* At start, what is missing is pre-signed (both CAs), stored and cached. */
    ck_assert_int_ge(wait_cached(&fix, p.base, S_R1, CA_SIGN, V_OCSP_CERTSTATUS_GOOD), 0);
    ck_assert_int_ge(wait_cached(&fix, p.base, S_R2, CA_AUTH, V_OCSP_CERTSTATUS_GOOD), 0);
    ck_assert_int_eq(row_state(fix.st, S_R1, OCSP_CERTID_SHA1, NULL, NULL), 1);
    ck_assert_int_eq(row_state(fix.st, S_R2, OCSP_CERTID_SHA1, NULL, NULL), 1);

    /* A change written to the registry alone (as another process does) is found by polling
     * and re-signed within the DESIGN §8 second — and told to the listener (the CRL
     * publisher), which has no poll of its own. */
    int heard = atomic_load(&listener_calls);
    set_status(fix.st, S_R1, CERT_REVOKED, REASON_KEY_COMPROMISE, jclock_now());
    long ms = wait_cached(&fix, p.base, S_R1, CA_SIGN, V_OCSP_CERTSTATUS_REVOKED);
    ck_assert_msg(ms >= 0 && ms < 1000, "change seen after %ld ms", ms);
    ck_assert_int_gt(atomic_load(&listener_calls), heard);
    set_status(fix.st, S_R1, CERT_GOOD, REASON_NONE, jclock_now());
    ms = wait_cached(&fix, p.base, S_R1, CA_SIGN, V_OCSP_CERTSTATUS_GOOD);
    ck_assert_msg(ms >= 0 && ms < 1000, "release seen after %ld ms", ms);
    ck_assert_int_eq(row_state(fix.st, S_R1, OCSP_CERTID_SHA1, NULL, NULL), 1);
    /* Nothing marked any more: the passes that find nothing tell nobody. */
    run_for(p.base, 300); /* the pass that cleared the mark may still be finishing */
    heard = atomic_load(&listener_calls);
    run_for(p.base, 3 * OCSP_REFRESH_POLL_MS);
    ck_assert_int_eq(atomic_load(&listener_calls), heard);
    pool_stop(&p);
}
END_TEST

/* With a poll period of a minute, only the kick can make the change visible in time. */
START_TEST(test_refresher_kick)
{
    struct pool p;
    add_cert(fix.st, S_R3, CA_SIGN, CERT_GOOD, REASON_NONE, 0);
    pool_start(&p, &fix, 60 * 1000);
    /* The first pass runs at start, whatever the period. */
    ck_assert_int_ge(wait_cached(&fix, p.base, S_R3, CA_SIGN, V_OCSP_CERTSTATUS_GOOD), 0);

    set_status(fix.st, S_R3, CERT_HOLD, REASON_CERTIFICATE_HOLD, jclock_now());
    ocsp_refresh_kick(p.r);
    long ms = wait_cached(&fix, p.base, S_R3, CA_SIGN, V_OCSP_CERTSTATUS_REVOKED);
    ck_assert_msg(ms >= 0 && ms < 2000, "kicked change seen after %ld ms", ms);
    pool_stop(&p);
}
END_TEST

/* Runs `sql` on the instance's registry through a connection of the test's own. */
static void registry_exec(const char *sql)
{
    char path[4200];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/inst/jpki.db", inst_dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(db);
}

static void stop_loop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Runs `base` for `ms` milliseconds. */
static void run_for_ms(struct event_base *base, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *ev = evtimer_new(base, stop_loop_cb, base);
    ck_assert_ptr_nonnull(ev);
    evtimer_add(ev, &tv);
    event_base_dispatch(base);
    event_free(ev);
}

/* While the responses cannot be stored (a full disk; here a trigger refuses them), the
 * refresher backs off instead of signing them again every period; it recovers at a kick. */
START_TEST(test_refresher_backs_off_while_storing_fails)
{
    struct pool p;
    registry_exec("CREATE TRIGGER refuse_ocsp BEFORE INSERT ON ocsp_responses "
                  "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;");
    add_cert(fix.st, S_R4, CA_SIGN, CERT_GOOD, REASON_NONE, 0);
    long long start_ms = jclock_mono_ms();
    pool_start(&p, &fix, 20);

    /* Every 20 ms, six jobs would take ~120 ms; backing off, they wait 20 + 40 + 80 + 160 +
     * 320 ms between them at least (a bound that a slow machine cannot break). */
    while (ocsp_refresh_jobs(p.r) < 6 && jclock_mono_ms() - start_ms < 20000)
        run_for_ms(p.base, 10);
    long long elapsed_ms = jclock_mono_ms() - start_ms;
    ck_assert_uint_ge(ocsp_refresh_jobs(p.r), 6);
    ck_assert_msg(elapsed_ms >= 600, "six failing jobs in %lld ms", elapsed_ms);
    ck_assert_int_ge(ocsp_refresh_backoff_ms(p.r), 320);
    ck_assert_int_le(ocsp_refresh_backoff_ms(p.r), OCSP_REFRESH_BACKOFF_MAX_MS);
    ck_assert_int_eq(row_state(fix.st, S_R4, OCSP_CERTID_SHA1, NULL, NULL), -1); /* none stored */

    registry_exec("DROP TRIGGER refuse_ocsp;");
    ocsp_refresh_kick(p.r);
    /* The kick runs a job at once (or right after the one running, which may still fail): the
     * response is stored and the backoff ends, long before its 640 ms would. */
    start_ms = jclock_mono_ms();
    while ((row_state(fix.st, S_R4, OCSP_CERTID_SHA1, NULL, NULL) != 1 ||
            ocsp_refresh_backoff_ms(p.r) != 0) &&
           jclock_mono_ms() - start_ms < 10000)
        run_for_ms(p.base, 10);
    ck_assert_int_eq(row_state(fix.st, S_R4, OCSP_CERTID_SHA1, NULL, NULL), 1);
    ck_assert_int_eq(ocsp_refresh_backoff_ms(p.r), 0);
    ck_assert_int_ge(wait_cached(&fix, p.base, S_R4, CA_SIGN, V_OCSP_CERTSTATUS_GOOD), 0);
    pool_stop(&p);
}
END_TEST

static Suite *ocsp_answer_suite(void)
{
    Suite *s = suite_create("ocsp_answer");
    TCase *tc = tcase_create("pure");
    tcase_add_unchecked_fixture(tc, instance_create, instance_destroy);
    tcase_add_test(tc, test_pick_ca);
    tcase_add_test(tc, test_is_cacheable);
    tcase_add_test(tc, test_http_helpers);
    suite_add_tcase(s, tc);
    tc = tcase_create("answers");
    tcase_add_checked_fixture(tc, answers_setup, answers_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, instance_create, instance_destroy);
    tcase_add_test(tc, test_good_signed_stored_cached);
    tcase_add_test(tc, test_revoked_and_held);
    tcase_add_test(tc, test_unknown_is_never_cached);
    tcase_add_test(tc, test_nonce_and_several_certids);
    tcase_add_test(tc, test_status_change_resigned);
    tcase_add_test(tc, test_presign_refusals);
    tcase_add_test(tc, test_ageing);
    tcase_add_test(tc, test_refresher_polls_the_registry);
    tcase_add_test(tc, test_refresher_kick);
    tcase_add_test(tc, test_refresher_backs_off_while_storing_fails);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(ocsp_answer_suite());
}
