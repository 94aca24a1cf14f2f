/*
 * jpki_benchload: fills a registry quickly for the benchmarks (scripts/bench/), through the
 * store API (ca/store.h) with large transactions. Not installed; never used by operators. The
 * rows bypass the lifecycle engine (no audit rows, no key, a stand-in DER, as
 * test/unit/test_crl.c does): issuing millions of certificates through the real path would
 * take hours, and what the benchmarks measure (CRL streaming, OCSP registry lookups) reads only
 * the rows.
 *
 *   jpki_benchload -c CFG [--set k=v] certs COUNT good|revoked TOP TEMPLATE|- INDEX|-
 *       COUNT certificate rows of the sign CA on card "bench-c" of person "bench-p" (both
 *       created when absent). Serial i (0-based) is the 16 bytes TOP 00*7 BE64(i+1) in upper
 *       hex (TOP: one hex byte, 01..FF). Revoked rows cycle over the reasons keyCompromise,
 *       affiliationChanged, superseded, cessationOfOperation, revoked during the day before
 *       midnight UTC of today. TEMPLATE: a DER OCSP response of one real certificate of the
 *       sign CA; each row then gets a pre-signed SHA-1 response row (store_ocsp_put): the
 *       template with its CertID serial replaced (same length, so the DER stays well formed;
 *       the signature no longer verifies — the benchmark client does not check it, the
 *       responder never re-checks a stored response's signature), and the refresher's mark
 *       that store_cert_insert set is cleared, as the refresher does once it has signed a
 *       certificate's responses (so jpkid does not sign them all again). INDEX: writes an OpenSSL
 *       `ca`/`ocsp` index.txt with the same rows (serials, expiry, revocation time, reason).
 *   jpki_benchload ... cards COUNT PREFIX
 *       COUNT persons PREFIX-p-NNNNNN with one active mynumber card PREFIX-c-NNNNNN each.
 *
 * Prints what it inserted and the time it took. Exit status 0, or 1 with a message.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/ocsp.h>

#include "ca/store.h"
#include "config/config.h"
#include "base/jclock.h"
#include "responder/cliargs.h"

#define BENCH_COMMIT_EVERY 100000
#define BENCH_SERIAL_BYTES 16
#define BENCH_DAY 86400

static const int bench_reasons[] = {REASON_KEY_COMPROMISE, REASON_AFFILIATION_CHANGED,
                                    REASON_SUPERSEDED, REASON_CESSATION_OF_OPERATION};
static const char *const bench_reason_names[] = {"keyCompromise", "affiliationChanged",
                                                 "superseded", "cessationOfOperation"};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The 16 serial bytes of row i. */
static void serial_bytes(unsigned top, uint64_t i, unsigned char out[BENCH_SERIAL_BYTES])
{
    memset(out, 0, BENCH_SERIAL_BYTES);
    out[0] = (unsigned char)top;
    for (int k = 0; k < 8; k++)
        out[BENCH_SERIAL_BYTES - 1 - k] = (unsigned char)((i + 1) >> (8 * k));
}

static void serial_hex(const unsigned char b[BENCH_SERIAL_BYTES], char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (int k = 0; k < BENCH_SERIAL_BYTES; k++) {
        out[2 * k] = digits[b[k] >> 4];
        out[2 * k + 1] = digits[b[k] & 15];
    }
    out[2 * BENCH_SERIAL_BYTES] = '\0';
}

/* YYMMDDHHMMSSZ (OpenSSL index.txt; years 1950..2049 as RFC 5280 UTCTime). */
static void index_time(int64_t t, char out[16])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(out, 16, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int ensure_holder(struct store *st, struct jerr *err)
{
    struct person p = {.id = "bench-p",
                       .name = "Bench Holder",
                       .address = "Tokyo",
                       .birth_date = "1980-01-01",
                       .gender = GENDER_UNSTATED};
    struct card c = {.id = "bench-c",
                     .person_id = "bench-p",
                     .type = CARD_MYNUMBER,
                     .expiry = "2099-12-31",
                     .state = CARD_ACTIVE};
    struct card found;
    struct jerr e = {0};
    if (store_card_get(st, "bench-c", &found, &e) == 0)
        return 0;
    if (store_person_insert(st, &p, err) == -1 || store_card_insert(st, &c, err) == -1)
        return -1;
    return 0;
}

/* The response template, with the offset of its CertID serial's 16 low bytes. */
struct bench_template {
    unsigned char *der;
    size_t len;
    size_t serial_at; /* offset of the 16 bytes to replace */
    bool padded;      /* the serial's content has a leading 00 (17 bytes) */
    int64_t this_update, next_update;
};

static int64_t gt_to_time(const ASN1_GENERALIZEDTIME *g)
{
    struct tm tm;
    if (g == NULL || ASN1_TIME_to_tm(g, &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

static int template_load(const char *path, struct bench_template *t, struct jerr *err)
{
    FILE *f = fopen(path, "rb");
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    unsigned char *content = NULL;
    int rc = -1;
    long size;

    memset(t, 0, sizeof(*t));
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (t->der = malloc((size_t)size)) == NULL ||
        fread(t->der, 1, (size_t)size, f) != (size_t)size) {
        jerr_set(err, JERR_IO, "template", "cannot read %s", path);
        goto out;
    }
    t->len = (size_t)size;
    const unsigned char *p = t->der;
    ASN1_INTEGER *serial = NULL;
    ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
    if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)t->len)) == NULL ||
        (bs = OCSP_response_get1_basic(resp)) == NULL || OCSP_resp_count(bs) != 1 ||
        OCSP_single_get0_status(OCSP_resp_get0(bs, 0), NULL, NULL, &thisupd, &nextupd) < 0 ||
        OCSP_id_get0_info(NULL, NULL, NULL, &serial,
                          (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(OCSP_resp_get0(bs, 0))) != 1) {
        jerr_openssl(err, JERR_INVALID, "template", "%s is not a one-answer OCSP response", path);
        goto out;
    }
    t->this_update = gt_to_time(thisupd);
    t->next_update = gt_to_time(nextupd);
    /* The serial's content octets, found exactly once after its tag and length. */
    /* DER content of a positive INTEGER: the magnitude, after a 00 when its top bit is set. */
    int mlen = ASN1_STRING_length(serial);
    const unsigned char *mag = ASN1_STRING_get0_data(serial);
    if (mlen != BENCH_SERIAL_BYTES || ASN1_STRING_type(serial) != V_ASN1_INTEGER) {
        jerr_set(err, JERR_INVALID, "template", "the template's serial is not 16 bytes");
        goto out;
    }
    t->padded = (mag[0] & 0x80) != 0;
    int clen = mlen + (t->padded ? 1 : 0);
    if ((content = calloc(1, (size_t)clen)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    memcpy(content + clen - mlen, mag, (size_t)mlen);
    size_t found = 0;
    for (size_t i = 2; i + (size_t)clen <= t->len; i++) {
        if (t->der[i - 2] == 0x02 && t->der[i - 1] == clen &&
            memcmp(t->der + i, content, (size_t)clen) == 0) {
            found++;
            t->serial_at = i + (size_t)clen - BENCH_SERIAL_BYTES;
        }
    }
    if (found != 1) {
        jerr_set(err, JERR_INVALID, "template", "serial found %zu times in the template", found);
        goto out;
    }
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    free(content);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    if (rc == -1) {
        free(t->der);
        t->der = NULL;
    }
    return rc;
}

/* The refresher's marks of the rows just inserted (store_ocsp_foreach_dirty), collected then
 * cleared: the cursor is not kept open while the table changes. */
struct bench_marks {
    char (*serial)[JPKI_SERIAL_HEX_MAX + 1];
    int64_t *seq;
    size_t count, cap;
    int64_t last_seq;
    char prefix[17]; /* TOP and 7 zero bytes in hex: the rows of this tool */
};

static int collect_mark(void *ctx, const struct store_ocsp_due *due)
{
    struct bench_marks *m = ctx;
    if (m->count == m->cap)
        return -1;
    snprintf(m->serial[m->count], sizeof(m->serial[0]), "%s", due->serial);
    m->seq[m->count++] = due->changed_seq;
    m->last_seq = due->changed_seq;
    return 0;
}

static int clear_marks(struct store *st, struct bench_marks *m, struct jerr *err)
{
    for (;;) {
        m->count = 0;
        if (store_ocsp_foreach_dirty(st, m->last_seq, m->cap, collect_mark, m, err) == -1)
            return -1;
        for (size_t i = 0; i < m->count; i++)
            if (strncmp(m->serial[i], m->prefix, 16) == 0 &&
                store_ocsp_dirty_clear(st, m->serial[i], m->seq[i], NULL, err) == -1)
                return -1;
        if (m->count < m->cap)
            return 0;
    }
}

static int cmd_certs(struct store *st, const char *const *a, struct jerr *err)
{
    char *end;
    uint64_t count = strtoull(a[0], &end, 10);
    bool revoked = strcmp(a[1], "revoked") == 0;
    unsigned long top = strtoul(a[2], NULL, 16);
    struct bench_template tpl = {0};
    bool with_tpl = strcmp(a[3], "-") != 0;
    FILE *index = NULL;
    unsigned char *resp = NULL;
    struct bench_marks marks = {.cap = BENCH_COMMIT_EVERY};
    int rc = -1;

    if (*end != '\0' || count == 0 || (!revoked && strcmp(a[1], "good") != 0) || top == 0 ||
        top > 0xFF)
        return jerr_set(err, JERR_INVALID, "certs",
                        "certs COUNT good|revoked TOP TEMPLATE|- INDEX|-");
    if (with_tpl && revoked)
        return jerr_set(err, JERR_INVALID, "certs", "a response template is for good rows only");
    if (with_tpl) {
        if (template_load(a[3], &tpl, err) == -1)
            return -1;
        if (tpl.padded != (top >= 0x80)) {
            jerr_set(err, JERR_INVALID, "top",
                     "TOP %02lX does not give the template's serial length", top);
            goto out;
        }
        if ((resp = malloc(tpl.len)) == NULL) {
            jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
            goto out;
        }
        memcpy(resp, tpl.der, tpl.len);
        snprintf(marks.prefix, sizeof(marks.prefix), "%02lX00000000000000", top);
        marks.serial = calloc(marks.cap, sizeof(marks.serial[0]));
        marks.seq = calloc(marks.cap, sizeof(marks.seq[0]));
        if (marks.serial == NULL || marks.seq == NULL) {
            jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
            goto out;
        }
    }
    if (strcmp(a[4], "-") != 0 && (index = fopen(a[4], "w")) == NULL) {
        jerr_set(err, JERR_IO, "index", "cannot write %s", a[4]);
        goto out;
    }

    int64_t now = jclock_now();
    int64_t midnight = now - now % BENCH_DAY;
    int64_t not_after = midnight + 4 * 365 * (int64_t)BENCH_DAY;
    char exp_txt[16];
    index_time(not_after, exp_txt);
    static const unsigned char fake_der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    double t0 = mono_now();
    if (store_begin(st, err) == -1 || ensure_holder(st, err) == -1)
        goto out;
    for (uint64_t i = 0; i < count; i++) {
        unsigned char sb[BENCH_SERIAL_BYTES];
        struct cert_rec rec = {0};
        serial_bytes((unsigned)top, i, sb);
        serial_hex(sb, rec.serial);
        rec.ca = CA_SIGN;
        snprintf(rec.card_id, sizeof(rec.card_id), "bench-c");
        snprintf(rec.person_id, sizeof(rec.person_id), "bench-p");
        snprintf(rec.subject_cn, sizeof(rec.subject_cn), "%s", rec.serial);
        rec.not_before = midnight - 30 * (int64_t)BENCH_DAY;
        rec.not_after = not_after;
        rec.issued_at = rec.not_before;
        rec.status = revoked ? CERT_REVOKED : CERT_GOOD;
        rec.reason = revoked ? bench_reasons[i % 4] : REASON_NONE;
        rec.status_changed_at = revoked ? midnight - BENCH_DAY + (int64_t)(i % BENCH_DAY) : 0;
        if (store_cert_insert(st, &rec, fake_der, sizeof(fake_der), err) == -1)
            goto out;
        if (with_tpl) {
            memcpy(resp + tpl.serial_at, sb, BENCH_SERIAL_BYTES);
            if (store_ocsp_put(st, rec.serial, 0, CA_SIGN, resp, tpl.len, tpl.this_update,
                               tpl.next_update, err) == -1)
                goto out;
        }
        if (index != NULL) {
            char rev_txt[16] = "";
            if (revoked)
                index_time(rec.status_changed_at, rev_txt);
            fprintf(index, "%c\t%s\t%s%s%s\t%s\tunknown\t/CN=%s\n", revoked ? 'R' : 'V', exp_txt,
                    rev_txt, revoked ? "," : "", revoked ? bench_reason_names[i % 4] : "",
                    rec.serial, rec.serial);
        }
        if ((i + 1) % BENCH_COMMIT_EVERY == 0 &&
            ((with_tpl && clear_marks(st, &marks, err) == -1) || store_commit(st, err) == -1 ||
             store_begin(st, err) == -1))
            goto out;
    }
    if ((with_tpl && clear_marks(st, &marks, err) == -1) || store_commit(st, err) == -1)
        goto out;
    if (index != NULL && fclose(index) != 0) {
        index = NULL;
        jerr_set(err, JERR_IO, "index", "cannot write %s", a[4]);
        goto out;
    }
    index = NULL;
    unsigned char first[BENCH_SERIAL_BYTES];
    char first_hex[2 * BENCH_SERIAL_BYTES + 1];
    serial_bytes((unsigned)top, 0, first);
    serial_hex(first, first_hex);
    printf("inserted %" PRIu64 " %s certificates%s (first serial %s) in %.1f s\n", count, a[1],
           with_tpl ? " with pre-signed responses" : "", first_hex, mono_now() - t0);
    rc = 0;
out:
    if (rc == -1)
        store_rollback(st);
    if (index != NULL)
        fclose(index);
    free(resp);
    free(tpl.der);
    free(marks.serial);
    free(marks.seq);
    return rc;
}

static int cmd_cards(struct store *st, const char *const *a, struct jerr *err)
{
    char *end;
    unsigned long count = strtoul(a[0], &end, 10);
    const char *prefix = a[1];
    int rc = -1;
    if (*end != '\0' || count == 0 || count > 999999 || strlen(prefix) > 40)
        return jerr_set(err, JERR_INVALID, "cards", "cards COUNT(1..999999) PREFIX(<=40)");
    double t0 = mono_now();
    if (store_begin(st, err) == -1)
        return -1;
    for (unsigned long i = 0; i < count; i++) {
        struct person p = {.gender = GENDER_UNSTATED};
        struct card c = {.type = CARD_MYNUMBER, .state = CARD_ACTIVE};
        snprintf(p.id, sizeof(p.id), "%s-p-%06lu", prefix, i);
        snprintf(p.name, sizeof(p.name), "Bench Person %lu", i);
        snprintf(p.address, sizeof(p.address), "Tokyo");
        snprintf(p.birth_date, sizeof(p.birth_date), "1980-01-01");
        snprintf(c.id, sizeof(c.id), "%s-c-%06lu", prefix, i);
        snprintf(c.person_id, sizeof(c.person_id), "%s", p.id);
        snprintf(c.expiry, sizeof(c.expiry), "2034-12-31");
        if (store_person_insert(st, &p, err) == -1 || store_card_insert(st, &c, err) == -1)
            goto out;
    }
    if (store_commit(st, err) == -1)
        goto out;
    printf("inserted %lu persons and cards %s-c-000000.. in %.1f s\n", count, prefix,
           mono_now() - t0);
    rc = 0;
out:
    if (rc == -1)
        store_rollback(st);
    return rc;
}

int main(int argc, char **argv)
{
    struct cliargs args;
    struct jerr err = {0};
    struct jpki_config *cfg = NULL;
    struct store *st = NULL;
    char path[PATH_MAX];
    int status = 1;

    if (cliargs_parse(argc, argv, 1, &args, &err) == -1 || args.positional_count == 0) {
        fprintf(stderr, "jpki_benchload: %s\n", err.msg[0] ? err.msg : "no command");
        return 2;
    }
    const char *cmd = args.positional[0];
    const char *const *a = args.positional + 1;
    size_t n = args.positional_count - 1;
    if ((cfg = cliargs_load_config(&args, &err)) == NULL ||
        config_path(cfg, "jpki.db", path, sizeof(path)) == NULL ||
        (st = store_open(path, false, &err)) == NULL)
        goto out;
    if (strcmp(cmd, "certs") == 0 && n == 5)
        status = cmd_certs(st, a, &err) == 0 ? 0 : 1;
    else if (strcmp(cmd, "cards") == 0 && n == 2)
        status = cmd_cards(st, a, &err) == 0 ? 0 : 1;
    else
        jerr_set(&err, JERR_INVALID, cmd, "unknown command or wrong arguments: %s", cmd);
out:
    if (status != 0)
        fprintf(stderr, "jpki_benchload: %s: %s\n", err.field, err.msg);
    store_close(st);
    config_free(cfg);
    return status;
}
