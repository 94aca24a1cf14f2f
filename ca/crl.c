/*
 * crl: see crl.h.
 *
 * A CRL of millions of entries is built with flat memory (DESIGN §5, §8):
 *   1. the registry rows, read by a thread of their own (crl_rows.h), are DER-encoded one at
 *      a time — serial and revocationDate as ASN1_STRINGs over reused buffers, extensions
 *      cached per reason — into an anonymous temp file beside the target, while their
 *      lengths are summed;
 *   2. the final temp file is written front to back: the CertificateList and TBSCertList
 *      headers (their lengths are known now, and so is the signature's size before signing),
 *      the fixed TBS fields, the entries copied from pass 1, the CRL extensions — every TBS
 *      byte also goes to the signer's stream — then signatureAlgorithm and the signature;
 *   3. after fsync, the file is read back: the TBS bytes on disk must verify under the root's
 *      key and the rest must be what was written (verify_written).
 * It never builds an X509_CRL holding the entries, and never writes ASN.1 by hand: values are
 * encoded by i2d_*, the few SEQUENCE / [0] headers by ASN1_put_object. Publishing is atomic:
 * temp file, fsync, read back, rename, fsync of the directory; every failure path removes its
 * temp files.
 */
#include "ca/crl.h"

#include "ca/crl_rows.h"
#include "base/datalock.h"
#include "base/fsutil.h"
#include "base/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* stdio buffer of each file and chunk of the entry copy: large, so that writes are few. */
#define CRL_IO_BUFFER_BYTES (1024 * 1024)
/* One encoded entry: serial (≤ 20 octets, RFC 5280 §4.1.2.2), a Time, reasonCode and
 * invalidityDate stay far below this. */
#define CRL_ENTRY_MAX_BYTES 256
/* CRLReason values of RFC 5280 §5.3.1 (7 is not used). */
#define CRL_REASON_MAX 10

/* Pass 1: state reused for every entry, so that an entry allocates nothing (except one
 * extension when it has an invalidityDate). */
struct entry_encoder {
    FILE *f;
    /* The entry's serial and revocationDate: ASN1_STRINGs (a public struct) over buffers of
     * our own, which i2d encodes like any other; no allocation per entry. */
    ASN1_INTEGER serial;
    unsigned char serial_octets[JPKI_SERIAL_HEX_MAX / 2];
    ASN1_TIME utc_time;
    unsigned char utc_text[13];
    ASN1_TIME *general_time; /* before 1950 or from 2050: made by ASN1_TIME_set */
    ASN1_GENERALIZEDTIME *invalidity;
    X509_EXTENSIONS *exts;
    X509_EXTENSION *reason_ext[CRL_REASON_MAX + 1]; /* made on first use */
    /* crlEntryExtensions DER of an entry with this reason and no invalidityDate */
    unsigned char reason_exts_der[CRL_REASON_MAX + 1][32];
    int reason_exts_len[CRL_REASON_MAX + 1]; /* 0 = not made yet */
    size_t count;
    uint64_t bytes;
    struct jerr *err;
};

/* Pass 2: every byte of the file goes through writer_put, which feeds it to the signature
 * while `tbs` is set. */
struct crl_writer {
    FILE *f;
    struct signer_stream *tbs;
    uint64_t written;
};

static void entry_encoder_release(struct entry_encoder *enc)
{
    ASN1_TIME_free(enc->general_time);
    ASN1_GENERALIZEDTIME_free(enc->invalidity);
    sk_X509_EXTENSION_free(enc->exts); /* borrows reason_ext[] only */
    for (int i = 0; i <= CRL_REASON_MAX; i++)
        X509_EXTENSION_free(enc->reason_ext[i]);
}

/* RFC 5280 §5.3.1: reasonCode; the reasons jpki writes, and the other defined values. */
static bool reason_is_valid(int reason)
{
    return reason >= REASON_UNSPECIFIED && reason <= CRL_REASON_MAX && reason != 7;
}

/* The reasonCode extension of `reason` (1..10), made once and kept. */
static X509_EXTENSION *reason_ext(struct entry_encoder *enc, int reason)
{
    if (enc->reason_ext[reason] != NULL)
        return enc->reason_ext[reason];
    ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
    if (code == NULL || ASN1_ENUMERATED_set(code, reason) != 1) {
        ASN1_ENUMERATED_free(code);
        jerr_openssl(enc->err, JERR_CRYPTO, NULL, "cannot encode reasonCode %d", reason);
        return NULL;
    }
    /* RFC 5280 §5.3.1: reasonCode is non-critical. */
    enc->reason_ext[reason] = X509V3_EXT_i2d(NID_crl_reason, 0, code);
    ASN1_ENUMERATED_free(code);
    if (enc->reason_ext[reason] == NULL)
        jerr_openssl(enc->err, JERR_CRYPTO, NULL, "cannot encode reasonCode %d", reason);
    return enc->reason_ext[reason];
}

/* Encodes the crlEntryExtensions of an entry into out (size), *len = 0 when it has none. */
static int encode_entry_exts(struct entry_encoder *enc, int reason, int64_t invalidity_date,
                             unsigned char *out, size_t size, int *len)
{
    X509_EXTENSION *inval_ext = NULL;
    int ret = -1;

    *len = 0;
    /* RFC 5280 §5.3.1: the reason code unspecified SHOULD NOT be used: leave it out. */
    bool has_reason = reason != REASON_UNSPECIFIED;
    if (!has_reason && invalidity_date == 0)
        return 0;
    if (invalidity_date == 0 && enc->reason_exts_len[reason] > 0) {
        memcpy(out, enc->reason_exts_der[reason], (size_t)enc->reason_exts_len[reason]);
        *len = enc->reason_exts_len[reason];
        return 0;
    }

    sk_X509_EXTENSION_zero(enc->exts);
    if (has_reason) {
        X509_EXTENSION *ext = reason_ext(enc, reason);
        if (ext == NULL)
            goto out;
        if (sk_X509_EXTENSION_push(enc->exts, ext) <= 0) {
            jerr_openssl(enc->err, JERR_INTERNAL, NULL, "out of memory");
            goto out;
        }
    }
    if (invalidity_date != 0) {
        /* RFC 5280 §5.3.2: invalidityDate is a GeneralizedTime, non-critical. */
        if (ASN1_GENERALIZEDTIME_adj(enc->invalidity, (time_t)invalidity_date, 0, 0) == NULL) {
            jerr_openssl(enc->err, JERR_CRYPTO, NULL, "cannot encode invalidityDate %lld",
                         (long long)invalidity_date);
            goto out;
        }
        inval_ext = X509V3_EXT_i2d(NID_invalidity_date, 0, enc->invalidity);
        if (inval_ext == NULL || sk_X509_EXTENSION_push(enc->exts, inval_ext) <= 0) {
            jerr_openssl(enc->err, JERR_CRYPTO, NULL, "cannot encode invalidityDate");
            goto out;
        }
    }
    int n = i2d_X509_EXTENSIONS(enc->exts, NULL);
    if (n <= 0 || (size_t)n > size) {
        jerr_openssl(enc->err, JERR_CRYPTO, NULL, "cannot encode entry extensions");
        goto out;
    }
    unsigned char *p = out;
    if (i2d_X509_EXTENSIONS(enc->exts, &p) != n) {
        jerr_openssl(enc->err, JERR_CRYPTO, NULL, "cannot encode entry extensions");
        goto out;
    }
    *len = n;
    if (invalidity_date == 0 && (size_t)n <= sizeof(enc->reason_exts_der[reason])) {
        memcpy(enc->reason_exts_der[reason], out, (size_t)n);
        enc->reason_exts_len[reason] = n;
    }
    ret = 0;
out:
    sk_X509_EXTENSION_zero(enc->exts);
    X509_EXTENSION_free(inval_ext);
    return ret;
}

/* Sets enc->serial from the registry's hex serial: positive, at most 20 octets (RFC 5280
 * §4.1.2.2). The octets are the INTEGER's magnitude, leading zeros dropped; i2d adds the
 * sign octet where the top bit is set. */
static int set_serial(struct entry_encoder *enc, const char *hex)
{
    char shown[3 * 64];
    size_t len = strnlen(hex, JPKI_SERIAL_HEX_MAX + 1);
    bool ok = len >= 1 && len <= JPKI_SERIAL_HEX_MAX;
    size_t n = 0;
    /* digit pairs from the right, into octets from the left of a full-size buffer */
    unsigned char *octets = enc->serial_octets;
    size_t octet_count = (len + 1) / 2;
    for (size_t i = 0; ok && i < octet_count; i++) {
        size_t low = len - 1 - 2 * i; /* the pair's low digit */
        int lo = OPENSSL_hexchar2int((unsigned char)hex[low]);
        int hi = low > 0 ? OPENSSL_hexchar2int((unsigned char)hex[low - 1]) : 0;
        ok = lo >= 0 && hi >= 0;
        octets[octet_count - 1 - i] = (unsigned char)(hi << 4 | lo);
    }
    size_t skip = 0;
    while (ok && skip < octet_count && octets[skip] == 0)
        skip++;
    n = octet_count - skip;
    if (!ok || n == 0) { /* not hex, or zero */
        jerr_escape(shown, sizeof(shown), hex, len);
        return jerr_set(enc->err, JERR_INTERNAL, "serial",
                        "registry holds an invalid serial \"%s\"", shown);
    }
    enc->serial.type = V_ASN1_INTEGER;
    enc->serial.data = octets + skip;
    enc->serial.length = (int)n;
    enc->serial.flags = 0;
    return 0;
}

/* Days since 1970-01-01 to the civil date (proleptic Gregorian; H. Hinnant's algorithm). */
static void civil_from_days(int64_t days, int *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(yoe + era * 400 + (*month <= 2));
}

/* The revocationDate of `t` as ASN1_TIME_set makes it — UTCTime YYMMDDHHMMSSZ for 1950
 * through 2049, GeneralizedTime otherwise (RFC 5280 §5.1.2.4) — but formatted here for the
 * UTCTime years, without gmtime's lock and the printf that dominate ASN1_TIME_set over
 * millions of entries. NULL when OpenSSL fails. */
static const ASN1_TIME *entry_time(struct entry_encoder *enc, time_t t)
{
    /* 1950-01-01 and 2050-01-01 00:00:00 UTC */
    if (t < (time_t)-631152000 || t >= (time_t)2524608000) {
        ASN1_TIME *at = ASN1_TIME_set(enc->general_time, t);
        if (at != NULL)
            enc->general_time = at;
        return at;
    }
    int64_t secs = (int64_t)t;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t in_day = secs - days * 86400;
    int year, month, day;
    civil_from_days(days, &year, &month, &day);
    int fields[6] = {year % 100,        month, day, (int)(in_day / 3600), (int)(in_day / 60 % 60),
                     (int)(in_day % 60)};
    unsigned char *text = enc->utc_text;
    for (int i = 0; i < 6; i++) {
        text[2 * i] = (unsigned char)('0' + fields[i] / 10);
        text[2 * i + 1] = (unsigned char)('0' + fields[i] % 10);
    }
    text[12] = 'Z';
    enc->utc_time.type = V_ASN1_UTCTIME;
    enc->utc_time.data = text;
    enc->utc_time.length = (int)sizeof(enc->utc_text);
    enc->utc_time.flags = 0;
    return &enc->utc_time;
}

/* Encodes one revokedCertificates entry (RFC 5280 §5.1.2.6) and appends it to
 * the pass-1 file. */
static int encode_entry(struct entry_encoder *enc, const struct crl_entry_rec *entry)
{
    unsigned char exts[CRL_ENTRY_MAX_BYTES];
    unsigned char der[CRL_ENTRY_MAX_BYTES];
    int exts_len = 0;

    if (set_serial(enc, entry->serial) == -1) /* validates it for the messages below */
        return -1;
    if (!reason_is_valid(entry->reason))
        return jerr_set(enc->err, JERR_INTERNAL, "reason",
                        "registry entry %s has reason %d, not a CRLReason", entry->serial,
                        entry->reason);
    /* RFC 5280 §5.1.2.6: revocationDate as in §5.1.2.4 (ASN1_TIME_set picks UTCTime
     * through 2049, GeneralizedTime from 2050). */
    const ASN1_TIME *revoked_at = entry_time(enc, (time_t)entry->revoked_at);
    if (revoked_at == NULL)
        return jerr_openssl(enc->err, JERR_CRYPTO, "revoked_at",
                            "cannot encode revocationDate of %s", entry->serial);
    if (encode_entry_exts(enc, entry->reason, entry->invalidity_date, exts, sizeof(exts),
                          &exts_len) == -1)
        return -1;

    /* The body first (serial and time by i2d, straight into a buffer), then the SEQUENCE
     * header in front of it once its length is known. */
    unsigned char body[CRL_ENTRY_MAX_BYTES];
    unsigned char *p = body;
    int serial_len = i2d_ASN1_INTEGER(&enc->serial, &p);
    int time_len = serial_len > 0 ? i2d_ASN1_TIME(revoked_at, &p) : -1;
    if (serial_len <= 0 || time_len <= 0)
        return jerr_openssl(enc->err, JERR_CRYPTO, NULL, "cannot encode entry %s", entry->serial);
    int body_len = serial_len + time_len + exts_len;
    int total = ASN1_object_size(1, body_len, V_ASN1_SEQUENCE);
    if (total <= 0 || (size_t)total > sizeof(der))
        return jerr_set(enc->err, JERR_INTERNAL, NULL, "entry %s does not fit (%d bytes)",
                        entry->serial, total);
    p = der;
    ASN1_put_object(&p, 1, body_len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, body, (size_t)(serial_len + time_len));
    p += serial_len + time_len;
    memcpy(p, exts, (size_t)exts_len);
    p += exts_len;
    if (p - der != total)
        return jerr_set(enc->err, JERR_INTERNAL, NULL, "entry %s: encoded %td bytes, not %d",
                        entry->serial, p - der, total);
    if (fwrite(der, 1, (size_t)total, enc->f) != (size_t)total)
        return jerr_set(enc->err, JERR_IO, NULL, "cannot write CRL entries: %s", strerror(errno));
    enc->count++;
    enc->bytes += (uint64_t)total;
    return 0;
}

/* Pass 1 over the registry's rows, read by a thread of their own (crl_rows.h). */
static int encode_entries(struct store *st, enum ca_kind ca, const struct crl_scope *scope,
                          time_t this_update, struct entry_encoder *enc, struct jerr *err)
{
    if (scope->authority)
        return 0; /* see crl_publish_arl: no revoked CA certificate to list */
    struct crl_rows *rows =
        scope->delta_base > 0
            ? crl_rows_start_delta(st, ca, scope->delta_base_seq, (int64_t)this_update, err)
            : crl_rows_start(st, ca, scope->partition, (int64_t)this_update, err);
    if (rows == NULL)
        return -1;
    const struct crl_entry_rec *batch = NULL;
    long n;
    int ret = 0;
    while (ret == 0 && (n = crl_rows_next(rows, &batch, err)) != 0) {
        if (n < 0) {
            ret = -1;
            break;
        }
        for (long i = 0; i < n && ret == 0; i++)
            ret = encode_entry(enc, &batch[i]);
    }
    crl_rows_finish(rows);
    return ret;
}

static int writer_put(struct crl_writer *w, const void *data, size_t len, struct jerr *err)
{
    if (len == 0)
        return 0;
    if (fwrite(data, 1, len, w->f) != len)
        return jerr_set(err, JERR_IO, NULL, "cannot write CRL: %s", strerror(errno));
    if (w->tbs != NULL && signer_stream_update(w->tbs, data, len, err) == -1)
        return -1;
    w->written += len;
    return 0;
}

/* The identifier and length octets of a constructed value of `length` content bytes. */
struct der_header {
    unsigned char bytes[16];
    size_t len;
};

/* Writes the header of a constructed value of `length` content bytes; *out (may be NULL)
 * gets a copy. */
static int writer_put_header(struct crl_writer *w, int length, int tag, int xclass,
                             struct der_header *out, struct jerr *err)
{
    struct der_header h;
    unsigned char *p = h.bytes;
    int total = ASN1_object_size(1, length, tag);
    if (total < 0 || total - length > (int)sizeof(h.bytes))
        return jerr_set(err, JERR_TOO_LARGE, NULL, "CRL too large (%d content bytes)", length);
    ASN1_put_object(&p, 1, length, tag, xclass);
    h.len = (size_t)(p - h.bytes);
    if (out != NULL)
        *out = h;
    return writer_put(w, h.bytes, h.len, err);
}

/* The size of a constructed value of `length` content bytes, header included; -1 when it
 * would not fit an int (OpenSSL's length type). */
static int64_t constructed_size(int64_t length, int tag)
{
    if (length < 0 || length > INT_MAX)
        return -1;
    return ASN1_object_size(1, (int)length, tag);
}

/* The DER pieces of the TBSCertList that do not depend on the entries. Each is OPENSSL_malloc'd
 * (by i2d) except alg, which the signer owns. */
struct tbs_fixed {
    unsigned char *version, *issuer, *this_update, *next_update, *exts;
    int version_len, issuer_len, this_update_len, next_update_len, exts_len;
    const unsigned char *alg;
    size_t alg_len;
};

static void tbs_fixed_release(struct tbs_fixed *t)
{
    OPENSSL_free(t->version);
    OPENSSL_free(t->issuer);
    OPENSSL_free(t->this_update);
    OPENSSL_free(t->next_update);
    OPENSSL_free(t->exts);
}

static int encode_time(time_t t, unsigned char **der, int *len, const char *field, struct jerr *err)
{
    /* RFC 5280 §5.1.2.4/5: UTCTime through 2049, GeneralizedTime from 2050 — what
     * ASN1_TIME_set chooses. */
    ASN1_TIME *at = ASN1_TIME_set(NULL, t);
    *len = at != NULL ? i2d_ASN1_TIME(at, der) : -1;
    ASN1_TIME_free(at);
    if (*len <= 0)
        return jerr_openssl(err, JERR_CRYPTO, field, "cannot encode %s", field);
    return 0;
}

/* A DistributionPointName whose fullName is the one URI `url` (RFC 5280 §4.2.1.13), or NULL. */
static DIST_POINT_NAME *fullname_point(const char *url)
{
    DIST_POINT_NAME *name = DIST_POINT_NAME_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *uri = ASN1_IA5STRING_new();

    if (name == NULL || gn == NULL || uri == NULL ||
        ASN1_STRING_set(uri, url, (int)strlen(url)) != 1)
        goto fail;
    GENERAL_NAME_set0_value(gn, GEN_URI, uri);
    uri = NULL; /* owned by gn */
    name->type = 0; /* fullName */
    name->name.fullname = GENERAL_NAMES_new();
    if (name->name.fullname == NULL || sk_GENERAL_NAME_push(name->name.fullname, gn) <= 0)
        goto fail;
    return name;
fail:
    ASN1_IA5STRING_free(uri);
    GENERAL_NAME_free(gn);
    DIST_POINT_NAME_free(name);
    return NULL;
}

/* A critical issuingDistributionPoint naming `url` as its distributionPoint fullName
 * (RFC 5280 §5.2.5); with url NULL, an ARL's: onlyContainsCACerts TRUE and nothing else. */
static X509_EXTENSION *idp_ext(const char *url, struct jerr *err)
{
    ISSUING_DIST_POINT *idp = ISSUING_DIST_POINT_new();
    X509_EXTENSION *ext = NULL;

    if (idp != NULL && url == NULL)
        idp->onlyCA = 0xFF; /* DER TRUE */
    else if (idp != NULL)
        idp->distpoint = fullname_point(url);
    if (idp != NULL && (url == NULL || idp->distpoint != NULL))
        ext = X509V3_EXT_i2d(NID_issuing_distribution_point, 1, idp);
    if (ext == NULL)
        jerr_openssl(err, JERR_CRYPTO, "idp_url", "cannot encode issuingDistributionPoint");
    ISSUING_DIST_POINT_free(idp);
    return ext;
}

/* A non-critical freshestCRL naming `url` (RFC 5280 §5.2.6: the syntax of
 * cRLDistributionPoints, one distributionPoint with a fullName). */
static X509_EXTENSION *freshest_ext(const char *url, struct jerr *err)
{
    CRL_DIST_POINTS *points = sk_DIST_POINT_new_null();
    DIST_POINT *point = DIST_POINT_new();
    X509_EXTENSION *ext = NULL;

    if (points != NULL && point != NULL && (point->distpoint = fullname_point(url)) != NULL &&
        sk_DIST_POINT_push(points, point) > 0) {
        point = NULL; /* owned by points */
        /* RFC 5280 §5.2.6: MUST be marked as non-critical. */
        ext = X509V3_EXT_i2d(NID_freshest_crl, 0, points);
    }
    if (ext == NULL)
        jerr_openssl(err, JERR_CRYPTO, "freshest_url", "cannot encode freshestCRL");
    DIST_POINT_free(point);
    sk_DIST_POINT_pop_free(points, DIST_POINT_free);
    return ext;
}

/* crlExtensions [0] EXPLICIT Extensions: authorityKeyIdentifier (RFC 5280 §5.2.1, the root's
 * key identifier), cRLNumber (§5.2.3), issuingDistributionPoint (§5.2.5) when the scope has an
 * IDP URL, deltaCRLIndicator (§5.2.4) on a delta, freshestCRL (§5.2.6) when it names one. */
static int encode_crl_exts(X509 *root, int64_t number, const struct crl_scope *scope,
                           struct tbs_fixed *t, struct jerr *err)
{
    const char *idp_url = scope->idp_url;
    ASN1_INTEGER *base = NULL;
    X509_EXTENSION *freshest = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    AUTHORITY_KEYID *akid = NULL;
    ASN1_INTEGER *crl_number = NULL;
    X509_EXTENSION *idp = NULL;
    unsigned char *list = NULL;
    int ret = -1;

    akid = AUTHORITY_KEYID_new();
    if (akid == NULL)
        goto crypto;
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(root);
    if (ski != NULL) {
        akid->keyid = ASN1_OCTET_STRING_dup(ski);
    } else {
        /* RFC 5280 §4.2.1.2 (1): SHA-1 of the subjectPublicKey, as OpenSSL derives an SKI. */
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        if (X509_pubkey_digest(root, EVP_sha1(), md, &md_len) != 1)
            goto crypto;
        akid->keyid = ASN1_OCTET_STRING_new();
        if (akid->keyid != NULL && ASN1_OCTET_STRING_set(akid->keyid, md, (int)md_len) != 1)
            goto crypto;
    }
    if (akid->keyid == NULL)
        goto crypto;
    if (X509V3_add1_i2d(&exts, NID_authority_key_identifier, akid, 0, X509V3_ADD_APPEND) != 1)
        goto crypto;

    crl_number = ASN1_INTEGER_new();
    if (crl_number == NULL || ASN1_INTEGER_set_int64(crl_number, number) != 1)
        goto crypto;
    if (X509V3_add1_i2d(&exts, NID_crl_number, crl_number, 0, X509V3_ADD_APPEND) != 1)
        goto crypto;

    if (idp_url != NULL || scope->authority) {
        idp = idp_ext(scope->authority ? NULL : idp_url, err);
        if (idp == NULL)
            goto out;
        if (X509v3_add_ext(&exts, idp, -1) == NULL)
            goto crypto;
    }
    if (scope->delta_base > 0) {
        /* RFC 5280 §5.2.4: critical, naming the complete CRL the delta updates. */
        base = ASN1_INTEGER_new();
        if (base == NULL || ASN1_INTEGER_set_int64(base, scope->delta_base) != 1 ||
            X509V3_add1_i2d(&exts, NID_delta_crl, base, 1, X509V3_ADD_APPEND) != 1)
            goto crypto;
    }
    if (scope->freshest_url != NULL) {
        freshest = freshest_ext(scope->freshest_url, err);
        if (freshest == NULL)
            goto out;
        if (X509v3_add_ext(&exts, freshest, -1) == NULL)
            goto crypto;
    }

    int list_len = i2d_X509_EXTENSIONS(exts, &list);
    if (list_len <= 0)
        goto crypto;
    int64_t total = constructed_size(list_len, 0);
    if (total <= 0)
        goto crypto;
    t->exts = OPENSSL_malloc((size_t)total);
    if (t->exts == NULL)
        goto crypto;
    unsigned char *p = t->exts;
    ASN1_put_object(&p, 1, list_len, 0, V_ASN1_CONTEXT_SPECIFIC);
    memcpy(p, list, (size_t)list_len);
    t->exts_len = (int)total;
    ret = 0;
    goto out;
crypto:
    jerr_openssl(err, JERR_CRYPTO, NULL, "cannot encode CRL extensions");
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    AUTHORITY_KEYID_free(akid);
    ASN1_INTEGER_free(crl_number);
    X509_EXTENSION_free(idp);
    X509_EXTENSION_free(freshest);
    ASN1_INTEGER_free(base);
    OPENSSL_free(list);
    return ret;
}

static int encode_tbs_fixed(X509 *root, const struct signer *signer, int64_t number,
                            time_t this_update, time_t next_update,
                            const struct crl_scope *scope, struct tbs_fixed *t, struct jerr *err)
{
    /* RFC 5280 §5.1.2.1: version v2 (INTEGER 1), required since extensions are present. */
    ASN1_INTEGER *version = ASN1_INTEGER_new();
    if (version == NULL || ASN1_INTEGER_set(version, 1) != 1 ||
        (t->version_len = i2d_ASN1_INTEGER(version, &t->version)) <= 0) {
        ASN1_INTEGER_free(version);
        return jerr_openssl(err, JERR_CRYPTO, NULL, "cannot encode CRL version");
    }
    ASN1_INTEGER_free(version);

    /* RFC 5280 §5.1.2.2: the same AlgorithmIdentifier as signatureAlgorithm. */
    if (signer_algorithm_der(signer, &t->alg, &t->alg_len, err) == -1)
        return -1;
    if (t->alg_len == 0 || t->alg_len > INT_MAX / 4)
        return jerr_set(err, JERR_INTERNAL, NULL, "signer algorithm has %zu bytes", t->alg_len);

    /* RFC 5280 §5.1.2.3: the issuer is the root's subject, byte for byte. */
    t->issuer_len = i2d_X509_NAME(X509_get_subject_name(root), &t->issuer);
    if (t->issuer_len <= 0)
        return jerr_openssl(err, JERR_CRYPTO, "issuer", "cannot encode issuer name");

    if (encode_time(this_update, &t->this_update, &t->this_update_len, "this_update", err) == -1 ||
        encode_time(next_update, &t->next_update, &t->next_update_len, "next_update", err) == -1)
        return -1;
    return encode_crl_exts(root, number, scope, t, err);
}

/* The signature BIT STRING as OpenSSL encodes it: all `len` octets kept, 0 unused bits
 * (without ASN1_STRING_FLAG_BITS_LEFT, i2d would drop trailing zero octets). Returns its DER
 * length or -1; *der (when der != NULL) is OPENSSL_malloc'd. */
static int encode_signature(const unsigned char *sig, size_t len, unsigned char **der)
{
    ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
    int n = -1;
    if (bits == NULL || len > INT_MAX / 2)
        goto out;
    if (sig != NULL) {
        if (ASN1_BIT_STRING_set(bits, (unsigned char *)sig, (int)len) != 1)
            goto out;
    } else {
        /* only the length is wanted: any octets of that size */
        unsigned char *zeros = OPENSSL_zalloc(len > 0 ? len : 1);
        if (zeros == NULL)
            goto out;
        ASN1_STRING_set0(bits, zeros, (int)len);
    }
    bits->flags &= ~0x07L;
    bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    n = i2d_ASN1_BIT_STRING(bits, der);
out:
    ASN1_BIT_STRING_free(bits);
    return n;
}

/* Copies the pass-1 entries into the CRL through the writer. */
static int copy_entries(FILE *from, struct crl_writer *w, uint64_t expected, struct jerr *err)
{
    unsigned char *chunk = OPENSSL_malloc(CRL_IO_BUFFER_BYTES);
    uint64_t copied = 0;
    int ret = -1;

    if (chunk == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (fflush(from) != 0 || fseeko(from, 0, SEEK_SET) != 0) {
        jerr_set(err, JERR_IO, NULL, "cannot rewind CRL entries: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        size_t n = fread(chunk, 1, CRL_IO_BUFFER_BYTES, from);
        if (n > 0 && writer_put(w, chunk, n, err) == -1)
            goto out;
        copied += n;
        if (n < CRL_IO_BUFFER_BYTES)
            break;
    }
    if (ferror(from) || copied != expected) {
        jerr_set(err, JERR_IO, NULL, "CRL entries: read %llu bytes of %llu",
                 (unsigned long long)copied, (unsigned long long)expected);
        goto out;
    }
    ret = 0;
out:
    OPENSSL_free(chunk);
    return ret;
}

/* What a written CRL must read back as: `size` bytes; [0, tbs_start) equal to `head` (the
 * CertificateList header), [tbs_end, size) equal to `tail` (signatureAlgorithm and
 * signatureValue), and between them a TBSCertList that `sig` verifies under the root's key. */
struct written_crl {
    uint64_t size, tbs_start, tbs_end;
    const unsigned char *head, *tail;
    const unsigned char *sig;
    size_t sig_len;
};

/* The part of [pos, pos + n) that lies in [lo, hi), as an offset into it and a length. */
static size_t overlap(uint64_t pos, size_t n, uint64_t lo, uint64_t hi, size_t *from)
{
    uint64_t start = pos > lo ? pos : lo;
    uint64_t end = pos + n < hi ? pos + n : hi;
    *from = (size_t)(start - pos);
    return end > start ? (size_t)(end - start) : 0;
}

/* Reads the written file back before it is published and checks it is `wc`: what reached the
 * disk is what was signed, and the signature verifies under the root's key — a signature
 * spoiled by a fault (OpenSSL reports success for RSA signatures computed while an allocation
 * failed) must never reach relying parties, who would all fail closed. The SHA-256 of the
 * file (its ETag) is taken on the way. The entries' structure is OpenSSL's encoding; parsing
 * them all again is crl_verify_file's job (jpkid crl --verify), at the cost of a build. */
static int verify_written(FILE *f, const char *path, X509 *root, const struct written_crl *wc,
                          unsigned char sha256[32], struct jerr *err)
{
    unsigned char *chunk = OPENSSL_malloc(CRL_IO_BUFFER_BYTES);
    EVP_MD_CTX *file_hash = EVP_MD_CTX_new();
    EVP_MD_CTX *tbs_verify = EVP_MD_CTX_new();
    uint64_t pos = 0;
    bool same = true;
    int ret = -1;
    EVP_PKEY *root_key = X509_get0_pubkey(root);
    const char *digest = root_key != NULL ? keyalg_key_digest(root_key) : NULL;

    if (chunk == NULL || file_hash == NULL || tbs_verify == NULL || digest == NULL ||
        EVP_DigestInit_ex(file_hash, EVP_sha256(), NULL) != 1 ||
        EVP_DigestVerifyInit_ex(tbs_verify, NULL, digest, NULL, NULL, root_key, NULL) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot check the CRL");
        goto out;
    }
    int fd = fileno(f);
    for (;;) {
        ssize_t got = pread(fd, chunk, CRL_IO_BUFFER_BYTES, (off_t)pos);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            jerr_set(err, JERR_IO, "path", "cannot read back %s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        size_t n = (size_t)got, from = 0, len;
        if (EVP_DigestUpdate(file_hash, chunk, n) != 1) {
            jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash CRL");
            goto out;
        }
        if ((len = overlap(pos, n, 0, wc->tbs_start, &from)) > 0)
            same = same && memcmp(chunk + from, wc->head + (pos + from), len) == 0;
        if ((len = overlap(pos, n, wc->tbs_start, wc->tbs_end, &from)) > 0 &&
            EVP_DigestVerifyUpdate(tbs_verify, chunk + from, len) != 1) {
            jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash CRL");
            goto out;
        }
        if ((len = overlap(pos, n, wc->tbs_end, wc->size, &from)) > 0)
            same = same && memcmp(chunk + from, wc->tail + (pos + from - wc->tbs_end), len) == 0;
        pos += n;
    }
    if (pos != wc->size || !same) {
        jerr_set(err, JERR_IO, "path",
                 "%s reads back differently from what was written (%llu bytes of %llu)", path,
                 (unsigned long long)pos, (unsigned long long)wc->size);
        goto out;
    }
    if (EVP_DigestVerifyFinal(tbs_verify, wc->sig, wc->sig_len) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "signature", "the new CRL's signature does not verify");
        goto out;
    }
    if (EVP_DigestFinal_ex(file_hash, sha256, NULL) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash CRL");
        goto out;
    }
    ret = 0;
out:
    EVP_MD_CTX_free(file_hash);
    EVP_MD_CTX_free(tbs_verify);
    OPENSSL_free(chunk);
    return ret;
}

/* Opens a new temp file next to `path` ("<path><suffix>XXXXXX") with a large buffer.
 * *buffer must be freed after fclose. */
static FILE *open_temp(const char *path, const char *suffix, char *tmp, size_t tmp_size,
                       char **buffer, struct jerr *err)
{
    int n = snprintf(tmp, tmp_size, "%s%sXXXXXX", path, suffix);
    if (n < 0 || (size_t)n >= tmp_size) {
        jerr_set(err, JERR_IO, "path", "CRL path too long");
        return NULL;
    }
    int fd = mkstemp(tmp);
    if (fd == -1) {
        jerr_set(err, JERR_IO, "path", "cannot create %s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        return NULL;
    }
    FILE *f = fdopen(fd, "w+b");
    *buffer = OPENSSL_malloc(CRL_IO_BUFFER_BYTES);
    if (f == NULL || *buffer == NULL || setvbuf(f, *buffer, _IOFBF, CRL_IO_BUFFER_BYTES) != 0) {
        jerr_set(err, JERR_IO, "path", "cannot open %s", tmp);
        if (f != NULL)
            fclose(f);
        else
            close(fd);
        unlink(tmp);
        tmp[0] = '\0';
        OPENSSL_free(*buffer);
        *buffer = NULL;
        return NULL;
    }
    return f;
}

/* A URL for the IDP: IA5String (RFC 5280 §4.2.1.6), printable ASCII without spaces. */
static bool url_is_valid(const char *url)
{
    if (url[0] == '\0')
        return false;
    for (const char *c = url; *c != '\0'; c++)
        if (*c <= 0x20 || *c >= 0x7f)
            return false;
    return true;
}

int crl_build(struct store *st, X509 *root, const struct signer *signer, enum ca_kind ca,
              int partition, const char *idp_url, int64_t number, time_t this_update,
              time_t next_update, const char *out_path, struct crl_info *info, struct jerr *err)
{
    const struct crl_scope scope = {.partition = partition, .idp_url = idp_url};
    return crl_build_scoped(st, root, signer, ca, &scope, number, this_update, next_update,
                            out_path, info, err);
}

int crl_build_scoped(struct store *st, X509 *root, const struct signer *signer, enum ca_kind ca,
                     const struct crl_scope *scope, int64_t number, time_t this_update,
                     time_t next_update, const char *out_path, struct crl_info *info,
                     struct jerr *err)
{
    struct entry_encoder enc;
    struct tbs_fixed t;
    struct crl_writer w;
    char entries_path[PATH_MAX] = "";
    char tmp_path[PATH_MAX] = "";
    char *entries_buf = NULL, *out_buf = NULL;
    FILE *entries = NULL;
    unsigned char *sig = NULL, *sig_der = NULL, *tail = NULL;
    struct der_header head;
    size_t sig_len = 0;
    unsigned char file_sha256[32];
    int ret = -1;

    memset(&enc, 0, sizeof(enc));
    memset(&t, 0, sizeof(t));
    memset(&w, 0, sizeof(w));
    ERR_clear_error(); /* messages must name our failures, not leftovers */

    if (st == NULL || root == NULL || signer == NULL || scope == NULL || out_path == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "crl_build: missing argument");
        goto out;
    }
    if (scope->partition < -STORE_CA_GENERATIONS_MAX &&
        !(scope->authority && scope->partition == CRL_ARL)) {
        jerr_set(err, JERR_INVALID, "partition", "invalid CRL partition %d", scope->partition);
        goto out;
    }
    /* RFC 5280 §5.2.4: a delta has the scope of its complete CRL (here: the whole CA, no
     * IDP), a higher number than its base from the same series, and names no delta itself. */
    if (scope->delta_base != 0 &&
        (scope->delta_base < 0 || scope->delta_base >= number || scope->partition != -1 ||
         scope->idp_url != NULL || scope->freshest_url != NULL || scope->delta_base_seq < 0)) {
        jerr_set(err, JERR_INVALID, "delta_base", "invalid delta CRL base %lld for number %lld",
                 (long long)scope->delta_base, (long long)number);
        goto out;
    }
    /* RFC 5280 §5.2.3: a non-negative integer of at most 20 octets. */
    if (number < 0) {
        jerr_set(err, JERR_INVALID, "number", "invalid CRL number %lld", (long long)number);
        goto out;
    }
    if (next_update <= this_update) {
        jerr_set(err, JERR_INVALID, "next_update", "nextUpdate must be after thisUpdate");
        goto out;
    }
    if (scope->idp_url != NULL && !url_is_valid(scope->idp_url)) {
        /* RFC 5280 §5.2.5: an empty IDP is forbidden; a URI is an IA5String. */
        jerr_set(err, JERR_INVALID, "idp_url", "invalid distribution point URL");
        goto out;
    }
    if (scope->freshest_url != NULL && !url_is_valid(scope->freshest_url)) {
        jerr_set(err, JERR_INVALID, "freshest_url", "invalid delta CRL URL");
        goto out;
    }
    if (!signer_matches_cert(signer, root)) {
        jerr_set(err, JERR_INVALID, "signer", "the signer's key is not the root's");
        goto out;
    }
    if (encode_tbs_fixed(root, signer, number, this_update, next_update, scope, &t, err) == -1)
        goto out;

    /* Pass 1: the entries, into an anonymous file next to the target (same file system,
     * never in memory, gone even if we crash). */
    enc.err = err;
    enc.invalidity = ASN1_GENERALIZEDTIME_new();
    enc.exts = sk_X509_EXTENSION_new_null();
    if (enc.invalidity == NULL || enc.exts == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    entries =
        open_temp(out_path, ".entries-", entries_path, sizeof(entries_path), &entries_buf, err);
    if (entries == NULL)
        goto out;
    unlink(entries_path);
    entries_path[0] = '\0';
    enc.f = entries;
    if (encode_entries(st, ca, scope, this_update, &enc, err) == -1)
        goto out;
    if (fflush(entries) != 0 || ferror(entries)) {
        jerr_set(err, JERR_IO, NULL, "cannot write CRL entries: %s", strerror(errno));
        goto out;
    }

    /* The sizes of everything, known before a byte is written (the signature's size is
     * signer_signature_size: the modulus size, or the longest ECDSA signature, which the
     * stream always makes). */
    int64_t revoked_size = 0;
    if (enc.count > 0) {
        /* RFC 5280 §5.1.2.6: when there are no revoked certificates, the list is absent. */
        revoked_size = constructed_size((int64_t)enc.bytes, V_ASN1_SEQUENCE);
        if (revoked_size < 0) {
            jerr_set(err, JERR_TOO_LARGE, NULL, "CRL of %zu entries too large", enc.count);
            goto out;
        }
    }
    int64_t tbs_content = (int64_t)t.version_len + (int64_t)t.alg_len + t.issuer_len +
                          t.this_update_len + t.next_update_len + revoked_size + t.exts_len;
    int64_t tbs_size = constructed_size(tbs_content, V_ASN1_SEQUENCE);
    int sig_der_len = encode_signature(NULL, signer_signature_size(signer), NULL);
    if (tbs_size < 0 || sig_der_len <= 0) {
        jerr_set(err, JERR_TOO_LARGE, NULL, "CRL of %zu entries too large", enc.count);
        goto out;
    }
    int64_t crl_content = tbs_size + (int64_t)t.alg_len + sig_der_len;
    int64_t crl_size = constructed_size(crl_content, V_ASN1_SEQUENCE);
    if (crl_size < 0) {
        jerr_set(err, JERR_TOO_LARGE, NULL, "CRL of %zu entries too large", enc.count);
        goto out;
    }

    /* Pass 2: the CRL, front to back. */
    w.f = open_temp(out_path, ".tmp-", tmp_path, sizeof(tmp_path), &out_buf, err);
    if (w.f == NULL)
        goto out;
    if (fchmod(fileno(w.f), 0644) != 0) {
        jerr_set(err, JERR_IO, "path", "cannot chmod %s: %s", tmp_path, strerror(errno));
        goto out;
    }
    /* RFC 5280 §5.1: CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm,
     * signatureValue } */
    if (writer_put_header(&w, (int)crl_content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &head, err) ==
        -1)
        goto out;
    uint64_t tbs_start = w.written;
    w.tbs = signer_stream_begin(signer, err);
    if (w.tbs == NULL)
        goto out;
    if (writer_put_header(&w, (int)tbs_content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, NULL, err) ==
            -1 ||
        writer_put(&w, t.version, (size_t)t.version_len, err) == -1 ||
        writer_put(&w, t.alg, t.alg_len, err) == -1 ||
        writer_put(&w, t.issuer, (size_t)t.issuer_len, err) == -1 ||
        writer_put(&w, t.this_update, (size_t)t.this_update_len, err) == -1 ||
        writer_put(&w, t.next_update, (size_t)t.next_update_len, err) == -1)
        goto out;
    if (enc.count > 0) {
        if (writer_put_header(&w, (int)enc.bytes, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, NULL, err) ==
                -1 ||
            copy_entries(entries, &w, enc.bytes, err) == -1)
            goto out;
    }
    if (writer_put(&w, t.exts, (size_t)t.exts_len, err) == -1)
        goto out;
    uint64_t tbs_end = w.written;
    struct signer_stream *tbs = w.tbs;
    w.tbs = NULL; /* signer_stream_final frees it */
    if (signer_stream_final(tbs, &sig, &sig_len, err) == -1)
        goto out;
    if (sig_len != signer_signature_size(signer)) {
        jerr_set(err, JERR_CRYPTO, NULL, "signature has %zu bytes, expected %zu", sig_len,
                 signer_signature_size(signer));
        goto out;
    }
    if (encode_signature(sig, sig_len, &sig_der) != sig_der_len) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot encode the CRL signature");
        goto out;
    }
    /* signatureAlgorithm and signatureValue, kept whole for the read-back */
    size_t tail_len = t.alg_len + (size_t)sig_der_len;
    if ((tail = OPENSSL_malloc(tail_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    memcpy(tail, t.alg, t.alg_len);
    memcpy(tail + t.alg_len, sig_der, (size_t)sig_der_len);
    if (writer_put(&w, tail, tail_len, err) == -1)
        goto out;
    if (w.written != (uint64_t)crl_size) {
        jerr_set(err, JERR_INTERNAL, NULL, "CRL: wrote %llu bytes, computed %lld",
                 (unsigned long long)w.written, (long long)crl_size);
        goto out;
    }

    /* DESIGN §5: durable, then visible in one step. */
    if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) {
        jerr_set(err, JERR_IO, "path", "cannot write %s: %s", tmp_path, strerror(errno));
        goto out;
    }
    struct written_crl written = {.size = w.written,
                                  .tbs_start = tbs_start,
                                  .tbs_end = tbs_end,
                                  .head = head.bytes,
                                  .tail = tail,
                                  .sig = sig,
                                  .sig_len = sig_len};
    if (verify_written(w.f, tmp_path, root, &written, file_sha256, err) == -1)
        goto out;
    FILE *done = w.f;
    w.f = NULL;
    if (fclose(done) != 0) {
        jerr_set(err, JERR_IO, "path", "cannot close %s: %s", tmp_path, strerror(errno));
        goto out;
    }
    int published = fsutil_publish(tmp_path, out_path, err);
    tmp_path[0] = '\0'; /* renamed, or removed by fsutil_publish */
    if (published == -1)
        goto out;

    if (info != NULL) {
        info->number = number;
        info->this_update = this_update;
        info->next_update = next_update;
        info->entries = enc.count;
        info->der_size = (size_t)w.written;
        memcpy(info->sha256, file_sha256, sizeof(info->sha256));
    }
    ret = 0;
out:
    signer_stream_free(w.tbs);
    if (w.f != NULL)
        fclose(w.f);
    if (tmp_path[0] != '\0')
        unlink(tmp_path);
    if (entries != NULL)
        fclose(entries);
    if (entries_path[0] != '\0')
        unlink(entries_path);
    OPENSSL_free(entries_buf);
    OPENSSL_free(out_buf);
    OPENSSL_free(sig);
    OPENSSL_free(sig_der);
    OPENSSL_free(tail);
    entry_encoder_release(&enc);
    tbs_fixed_release(&t);
    return ret;
}

char *crl_path(const struct jpki_config *cfg, enum ca_kind ca, int partition, char *buf,
               size_t size)
{
    char rel[64];
    if (partition == CRL_DELTA)
        snprintf(rel, sizeof(rel), "crl/%s-delta.crl", ca_kind_name(ca));
    else if (partition == CRL_ARL)
        snprintf(rel, sizeof(rel), "crl/%s-arl.crl", ca_kind_name(ca));
    else if (partition < -1) /* the complete CRL of a later generation (store.h, CRL scopes) */
        snprintf(rel, sizeof(rel), "crl/%s/g%d.crl", ca_kind_name(ca), -partition);
    else if (partition < 0)
        snprintf(rel, sizeof(rel), "crl/%s.crl", ca_kind_name(ca));
    else
        snprintf(rel, sizeof(rel), "crl/%s/%d.crl", ca_kind_name(ca), partition);
    return config_path(cfg, rel, buf, size);
}

/* Builds, publishes and records one CRL of `ca` (partition -1 = the complete CRL, CRL_ARL
 * the ARL). */
static int publish_one(const struct pki *pki, struct store *st, enum ca_kind ca,
                       const struct crl_scope *scope, time_t now, time_t next_update,
                       struct crl_info *out, struct jerr *err)
{
    int partition = scope->partition;
    char path[PATH_MAX];
    struct crl_info info;
    int64_t number = 0;

    if (crl_path(pki_config(pki), ca, partition, path, sizeof(path)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "CRL path too long");
    if (store_crl_number_next(st, ca, partition, &number, err) == -1)
        return -1;
    /* Partitions, the delta and the ARL are generation 1's; a complete CRL's scope names its
     * generation. */
    int g = partition < -1 && partition >= -STORE_CA_GENERATIONS_MAX ? -partition : 1;
    const struct pki_gen *gen = pki_gen(pki, ca, g);
    if (gen == NULL)
        return jerr_set(err, JERR_INTERNAL, "generation", "no generation %d of the %s CA", g,
                        ca_kind_name(ca));
    if (crl_build_scoped(st, gen->root, gen->ca_signer, ca, scope, number, now, next_update,
                         path, &info, err) == -1)
        return -1;
    if (store_crl_published(st, ca, partition, number, (int64_t)now, (int64_t)next_update,
                            info.der_size, err) == -1)
        return -1;
    if (out != NULL)
        *out = info;
    return 0;
}

/* The complete CRLs of the CA's generations after the first (DESIGN §11), each
 * crl/<ca>/g<n>.crl in its own number series. A generation that no longer issues is published
 * until its last certificate has expired, once more after that, and then retired. (Generation
 * 1's CRL, the CA's complete CRL since before generations, is always published: the CA's
 * stale mark follows it.) */
static int publish_generations(const struct pki *pki, struct store *st, enum ca_kind ca,
                               time_t now, time_t next_update, struct jerr *err)
{
    struct ca_gen_rec *recs = NULL;
    size_t n = 0;
    char dir[PATH_MAX], rel[64];
    int count = pki_gen_count(pki, ca), ret = -1;

    if (count < 2)
        return 0;
    if (store_gen_list(st, ca, &recs, &n, err) == -1)
        return -1;
    snprintf(rel, sizeof(rel), "crl/%s", ca_kind_name(ca));
    if (config_path(pki_config(pki), rel, dir, sizeof(dir)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "CRL path too long");
        goto out;
    }
    if (fsutil_mkdirs(dir, 0755, err) == -1)
        goto out;
    for (size_t i = 1; i < n && (int)i < count; i++) {
        int g = recs[i].generation;
        bool live = true;
        if (recs[i].state == CA_GEN_RETIRED)
            continue;
        if (recs[i].state == CA_GEN_ISSUING_STOPPED &&
            store_gen_has_live(st, ca, g, (int64_t)now, &live, err) == -1)
            goto out;
        const struct crl_scope scope = {.partition = STORE_CRL_GENERATION(g)};
        if (publish_one(pki, st, ca, &scope, now, next_update, NULL, err) == -1)
            goto out;
        if (!live && store_gen_retire(st, ca, g, (int64_t)now, err) == -1)
            goto out;
    }
    ret = 0;
out:
    free(recs);
    return ret;
}

/* crl_publish under the publication lock. */
static int publish_locked(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                          struct crl_info *complete, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(pki);
    char dir[PATH_MAX], rel[64], url[4096];
    int partitions = pki_crl_partitions(pki, ca);

    if (partitions < 1)
        return jerr_set(err, JERR_CONFIG, "crl.partitions", "CA %s has %d CRL partitions",
                        ca_kind_name(ca), partitions);
    if (cfg->crl_next_update_s <= 0)
        return jerr_set(err, JERR_CONFIG, "crl_next_update_s", "must be positive");
    time_t next_update = now + (time_t)cfg->crl_next_update_s;

    if (config_path(cfg, "crl", dir, sizeof(dir)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "CRL path too long");
    if (fsutil_mkdirs(dir, 0755, err) == -1)
        return -1;

    if (partitions > 1) {
        snprintf(rel, sizeof(rel), "crl/%s", ca_kind_name(ca));
        if (config_path(cfg, rel, dir, sizeof(dir)) == NULL)
            return jerr_set(err, JERR_CONFIG, "data_dir", "CRL path too long");
        if (fsutil_mkdirs(dir, 0755, err) == -1)
            return -1;
        for (int n = 0; n < partitions; n++) {
            /* DESIGN §5: each partition CRL carries a critical IDP naming its URL, the
             * URL written into its certificates' CDP. */
            if (pki_crl_url(pki, ca, n, url, sizeof(url)) == NULL)
                return jerr_set(err, JERR_CONFIG, "crl_url", "CRL URL too long");
            const struct crl_scope part = {.partition = n, .idp_url = url};
            if (publish_one(pki, st, ca, &part, now, next_update, NULL, err) == -1)
                return -1;
        }
    }

    if (publish_generations(pki, st, ca, now, next_update, err) == -1)
        return -1;

    /* The complete CRL covers every certificate of the CA and carries no IDP: RFC 5280
     * §5.2.5 forbids an empty one, and a CRL without IDP has full scope (§6.3.3 (b)(2) checks
     * the scope only when an IDP is present), so it answers for every certificate's CDP —
     * with one partition that CDP is this very URL. NSS refuses any CRL with a critical IDP
     * (SEC_ERROR_CRL_UNKNOWN_CRITICAL_EXTENSION): a one-partition CA stays loadable there. */
    /* With delta CRLs (crl.delta_period_s > 0), it names the delta in its freshestCRL
     * (RFC 5280 §5.2.6); partition CRLs do not: a delta has the scope of its base (§5.2.4),
     * and there is one delta, of the complete CRL. */
    struct crl_scope complete_scope = {.partition = -1};
    if (cfg->crl_delta_period_s > 0) {
        if (crl_delta_url(cfg->ca[ca].crl_url, url, sizeof(url)) == NULL)
            return jerr_set(err, JERR_CONFIG, "crl_url", "CRL URL too long");
        complete_scope.freshest_url = url;
    }
    return publish_one(pki, st, ca, &complete_scope, now, next_update, complete, err);
}

char *crl_delta_url(const char *crl_url, char *out, size_t size)
{
    size_t len = strlen(crl_url);
    const char *suffix = ".crl";
    size_t keep = len >= 4 && strcmp(crl_url + len - 4, suffix) == 0 ? len - 4 : len;
    int n = snprintf(out, size, "%.*s-delta.crl", (int)keep, crl_url);
    return n < 0 || (size_t)n >= size ? NULL : out;
}

/* crl_publish_delta under the publication lock. */
static int publish_delta_locked(const struct pki *pki, struct store *st, enum ca_kind ca,
                                time_t now, struct crl_info *out, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(pki);
    char path[PATH_MAX];
    struct crl_info info;
    int64_t base = 0, base_seq = 0, number = 0;

    if (cfg->crl_delta_period_s <= 0)
        return jerr_set(err, JERR_CONFIG, "crl.delta_period_s", "delta CRLs are off");
    if (crl_path(cfg, ca, CRL_DELTA, path, sizeof(path)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "CRL path too long");
    if (store_crl_delta_base(st, ca, (int64_t)now, &base, &base_seq, err) == -1)
        return -1;
    /* RFC 5280 §5.2.4: "complete CRLs and delta CRLs issued for the same scope MUST share one
     * numbering sequence" — the complete CRL's (partition -1). */
    if (store_crl_number_next(st, ca, -1, &number, err) == -1)
        return -1;
    /* The next delta is due one period from now; the second period is the margin for a
     * publication that fails or a restart. Never longer than a complete CRL's. */
    long validity = 2L * cfg->crl_delta_period_s;
    if (validity > cfg->crl_next_update_s)
        validity = cfg->crl_next_update_s;
    time_t next_update = now + (time_t)validity;
    const struct crl_scope scope = {.partition = -1, .delta_base = base,
                                    .delta_base_seq = base_seq};
    int rc = crl_build_scoped(st, pki_get0_root(pki, ca), pki_get0_ca_signer(pki, ca), ca, &scope,
                              number, now, next_update, path, &info, err);
    if (rc == 0)
        rc = store_crl_delta_published(st, ca, number, base, (int64_t)now, (int64_t)next_update,
                                       info.der_size, err);
    if (rc == 0 && out != NULL)
        *out = info;
    return rc;
}

/* crl_publish_arl under the publication lock. */
static int publish_arl_locked(const struct pki *pki, struct store *st, enum ca_kind ca,
                              time_t now, struct crl_info *arl, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(pki);
    const struct crl_scope scope = {.partition = CRL_ARL, .authority = true};
    if (cfg->crl_next_update_s <= 0)
        return jerr_set(err, JERR_CONFIG, "crl_next_update_s", "must be positive");
    return publish_one(pki, st, ca, &scope, now, now + (time_t)cfg->crl_next_update_s, arl, err);
}

typedef int publish_fn(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                       struct crl_info *info, struct jerr *err);

/* One publisher at a time, across processes (the service's CRL duty, `jpkid crl`): the CRL
 * numbers are taken in the order the files are renamed, so the served file never goes back
 * to a lower number. */
static int under_lock(publish_fn *publish, const struct pki *pki, struct store *st,
                      enum ca_kind ca, time_t now, struct crl_info *info, struct jerr *err)
{
    struct datalock *lock = datalock_publication(pki_config(pki)->data_dir, err);
    if (lock == NULL)
        return -1;
    int rc = publish(pki, st, ca, now, info, err);
    datalock_release(lock);
    return rc;
}

int crl_publish_arl(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                    struct crl_info *arl, struct jerr *err)
{
    return under_lock(publish_arl_locked, pki, st, ca, now, arl, err);
}

int crl_publish_delta(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                      struct crl_info *delta, struct jerr *err)
{
    return under_lock(publish_delta_locked, pki, st, ca, now, delta, err);
}

int crl_publish(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                struct crl_info *complete, struct jerr *err)
{
    return under_lock(publish_locked, pki, st, ca, now, complete, err);
}
