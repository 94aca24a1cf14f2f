/*
 * crl_read: see crl_read.h.
 *
 * One reader, two sources. A struct crl_reader is a window buf[start, end) over the CRL: for
 * a file (crl_verify_file) a buffer of our own refilled by read(2), for a caller's head
 * (crl_read_times) the caller's bytes themselves, never refilled. Every element's tag and
 * length are read by ASN1_get_object told how many bytes the window holds, and an element's
 * value is decoded by d2i_* only once the whole element is inside the window — so no read
 * reaches past the window whatever the input, which the fuzz target fuzz_crl_header checks by
 * placing the head before a PROT_NONE page. Bytes leave the window through reader_consume,
 * which also feeds the file hash and, while the TBS is read, the signature check.
 *
 * read_head walks the common part, RFC 5280 §5.1 up to nextUpdate, for both callers; strict
 * (verifying) mode adds what a published jpki CRL must have: v2, the root's issuer name, a
 * nextUpdate, and the signature check started before the first TBS byte is consumed.
 */
#include "ca/crl_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "base/jclock.h"

/* The file window of crl_verify_file: large, so that reads are few; an element (one entry,
 * the extensions) larger than it is refused. */
#define CRL_READ_WINDOW_BYTES (1024 * 1024)
/* Identifier and length octets of any element we accept fit in this (tag, 0x84 + 4 octets). */
#define CRL_READ_PEEK_BYTES 16
/* The TBS head peeked for the signature algorithm before the TBS is consumed (version and
 * AlgorithmIdentifier sit well inside it). */
#define CRL_READ_ALG_PEEK_BYTES 4096

struct crl_reader {
    int fd;                   /* -1: the caller's bytes are all there is */
    unsigned char *own;       /* the file window (fd != -1), CRL_READ_WINDOW_BYTES */
    const unsigned char *buf; /* valid bytes buf[start, end) */
    size_t start, end;
    size_t window;          /* most bytes buf can hold */
    uint64_t offset;        /* CRL offset of buf[start] */
    uint64_t size;          /* CRL size */
    EVP_MD_CTX *file_hash;  /* NULL: not hashed */
    EVP_MD_CTX *tbs_verify; /* while set, consumed bytes are TBS bytes */
    const char *name;       /* the path, or "CRL": starts every message */
    const char *field;      /* the field of a structural error: "path" or "crl" */
};

/* One element: identifier and length octets (hdr bytes) and content (len bytes). */
struct tlv {
    int tag;
    int xclass;
    bool constructed;
    size_t hdr;
    uint64_t len;
};

/* What read_head found. */
struct crl_head {
    uint64_t tbs_end;       /* CRL offset just past the tbsCertList */
    unsigned char *tbs_alg; /* strict mode: DER of the TBS's AlgorithmIdentifier (OPENSSL_free) */
    size_t tbs_alg_len;
    time_t this_update;
    time_t next_update; /* 0: absent */
};

static void reader_release(struct crl_reader *r)
{
    if (r->fd != -1)
        close(r->fd);
    OPENSSL_free(r->own);
    EVP_MD_CTX_free(r->file_hash);
    EVP_MD_CTX_free(r->tbs_verify);
}

/* Makes at least `need` bytes available in the window (else -1: the file ended, or a head
 * given by the caller does not hold them). */
static int reader_fill(struct crl_reader *r, size_t need, struct jerr *err)
{
    if (r->end - r->start >= need)
        return 0;
    if (r->fd == -1)
        return jerr_set(err, JERR_INVALID, r->field,
                        "%s: truncated, or its header is longer than "
                        "the %zu bytes read",
                        r->name, r->window);
    if (need > r->window)
        return jerr_set(err, JERR_INVALID, r->field, "%s: element of %zu bytes is too large",
                        r->name, need);
    memmove(r->own, r->own + r->start, r->end - r->start);
    r->end -= r->start;
    r->start = 0;
    while (r->end < need) {
        ssize_t n = read(r->fd, r->own + r->end, r->window - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return jerr_set(err, JERR_IO, r->field, "cannot read %s: %s", r->name, strerror(errno));
        if (n == 0)
            return jerr_set(err, JERR_INVALID, r->field, "%s: truncated CRL", r->name);
        r->end += (size_t)n;
    }
    return 0;
}

/* Makes the next element's identifier and length octets available, as far as the CRL and the
 * window go; -1 when not one byte is left. */
static int reader_peek(struct crl_reader *r, struct jerr *err)
{
    uint64_t left = r->size - r->offset;
    size_t need = (size_t)(left < CRL_READ_PEEK_BYTES ? left : CRL_READ_PEEK_BYTES);
    if (r->fd == -1 && need > r->end - r->start)
        need = r->end - r->start;
    if (need == 0)
        return jerr_set(err, JERR_INVALID, r->field, "%s: truncated CRL", r->name);
    return reader_fill(r, need, err);
}

static int reader_consume(struct crl_reader *r, size_t n, struct jerr *err)
{
    const unsigned char *p = r->buf + r->start;
    if (r->file_hash != NULL && EVP_DigestUpdate(r->file_hash, p, n) != 1)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash %s", r->name);
    if (r->tbs_verify != NULL && EVP_DigestVerifyUpdate(r->tbs_verify, p, n) != 1)
        return jerr_openssl(err, JERR_CRYPTO, "signature", "cannot hash %s", r->name);
    r->start += n;
    r->offset += n;
    return 0;
}

/* Parses the identifier and length octets at p (avail bytes readable) with ASN1_get_object,
 * which reads no further than avail. The content may lie beyond avail. Definite lengths only
 * (DER, X.690 §10.1). */
static int parse_tlv(const unsigned char *p, size_t avail, struct tlv *out)
{
    const unsigned char *q = p;
    long len = 0;
    int tag = 0, xclass = 0;
    if (avail == 0 || avail > LONG_MAX)
        return -1;
    int ret = ASN1_get_object(&q, &len, &tag, &xclass, (long)avail);
    ERR_clear_error(); /* content beyond avail is reported as an error: checked by the caller */
    /* 0x80 with q advanced only says the content runs past avail; q == p: no header. */
    if (q == p || (ret & 0x01) != 0 || len < 0)
        return -1;
    out->tag = tag;
    out->xclass = xclass;
    out->constructed = (ret & V_ASN1_CONSTRUCTED) != 0;
    out->hdr = (size_t)(q - p);
    out->len = (uint64_t)len;
    return 0;
}

/* The header of the next element, which must end within `limit` bytes of here, or -1 (err
 * untouched) when there is none. */
static int reader_next(struct crl_reader *r, uint64_t limit, struct tlv *out)
{
    struct jerr ignored = {0};
    if (limit == 0 || reader_peek(r, &ignored) == -1)
        return -1;
    size_t avail = r->end - r->start;
    if ((uint64_t)avail > limit)
        avail = (size_t)limit;
    if (parse_tlv(r->buf + r->start, avail, out) == -1 || out->len > limit - out->hdr)
        return -1;
    return 0;
}

/* Reads the header of the next element, which must end within `limit` bytes of here and be
 * (tag, xclass, constructed). */
static int reader_header(struct crl_reader *r, uint64_t limit, int tag, int xclass,
                         bool constructed, struct tlv *out, const char *what, struct jerr *err)
{
    if (limit == 0 || reader_peek(r, err) == -1)
        return jerr_set(err, JERR_INVALID, r->field, "%s: truncated at %s", r->name, what);
    size_t avail = r->end - r->start;
    if ((uint64_t)avail > limit)
        avail = (size_t)limit;
    if (parse_tlv(r->buf + r->start, avail, out) == -1 || out->tag != tag ||
        out->xclass != xclass || out->constructed != constructed)
        return jerr_set(err, JERR_INVALID, r->field, "%s: bad %s at offset %llu", r->name, what,
                        (unsigned long long)r->offset);
    if (out->len > limit - out->hdr)
        return jerr_set(err, JERR_INVALID, r->field, "%s: %s overruns its container", r->name,
                        what);
    return 0;
}

/* Reads a whole element into the window; *der points at it until the next read. */
static int reader_element(struct crl_reader *r, uint64_t limit, int tag, int xclass,
                          bool constructed, const unsigned char **der, size_t *der_len,
                          const char *what, struct jerr *err)
{
    struct tlv t = {0};
    if (reader_header(r, limit, tag, xclass, constructed, &t, what, err) == -1)
        return -1;
    if (t.len > r->window || reader_fill(r, t.hdr + (size_t)t.len, err) == -1)
        return jerr_set(err, JERR_INVALID, r->field, "%s: %s too large or truncated", r->name,
                        what);
    *der = r->buf + r->start;
    *der_len = t.hdr + (size_t)t.len;
    return 0;
}

static bool tlv_is_time(const struct tlv *t)
{
    return t->xclass == V_ASN1_UNIVERSAL && !t->constructed &&
           (t->tag == V_ASN1_UTCTIME || t->tag == V_ASN1_GENERALIZEDTIME);
}

/* Reads a Time (RFC 5280 §5.1.2.4) into *out; `field` names it in errors. */
static int reader_time(struct crl_reader *r, uint64_t limit, time_t *out, const char *field,
                       struct jerr *err)
{
    const unsigned char *der = NULL;
    size_t len = 0;
    struct tlv t = {0};
    time_t v = (time_t)-1;

    /* A header that does not parse (or is cut short) is reported by reader_element. */
    bool seen = limit > 0 && reader_next(r, limit, &t) == 0;
    if (limit == 0 || (seen && !tlv_is_time(&t)))
        return jerr_set(err, JERR_INVALID, field, "%s: %s missing", r->name, field);
    if (reader_element(r, limit, seen ? t.tag : V_ASN1_UTCTIME, V_ASN1_UNIVERSAL, false, &der, &len,
                       field, err) == -1)
        return -1;
    const unsigned char *p = der;
    ASN1_TIME *at = d2i_ASN1_TIME(NULL, &p, (long)len);
    if (at != NULL && p == der + len)
        jclock_from_asn1(at, &v);
    ASN1_TIME_free(at);
    if (v == (time_t)-1)
        return jerr_openssl(err, JERR_INVALID, field, "%s: bad %s", r->name, field);
    *out = v;
    return reader_consume(r, len, err);
}

/* Peeks at the TBSCertList's signature AlgorithmIdentifier (RFC 5280 §5.1.2.2) to start the
 * signature check before any TBS byte is consumed; *alg is OPENSSL_malloc'd DER. */
static int peek_tbs_algorithm(struct crl_reader *r, unsigned char **alg, size_t *alg_len,
                              struct jerr *err)
{
    struct tlv tbs, version, algo;
    size_t avail = r->end - r->start;
    const unsigned char *p = r->buf + r->start;
    if (parse_tlv(p, avail, &tbs) == -1 || tbs.hdr >= avail ||
        parse_tlv(p + tbs.hdr, avail - tbs.hdr, &version) == -1 || version.tag != V_ASN1_INTEGER ||
        version.xclass != V_ASN1_UNIVERSAL || tbs.hdr + version.hdr + version.len >= avail)
        /* RFC 5280 §5.1.2.1: the version field is present in v2 CRLs. */
        return jerr_set(err, JERR_INVALID, "version", "%s: not a v2 CRL", r->name);
    size_t at = tbs.hdr + version.hdr + (size_t)version.len;
    if (parse_tlv(p + at, avail - at, &algo) == -1 || algo.tag != V_ASN1_SEQUENCE ||
        algo.hdr + algo.len > avail - at)
        return jerr_set(err, JERR_INVALID, r->field, "%s: bad signature algorithm", r->name);
    *alg_len = algo.hdr + (size_t)algo.len;
    *alg = OPENSSL_memdup(p + at, *alg_len);
    if (*alg == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    return 0;
}

/* Starts EVP_DigestVerify with the root's key and the digest the algorithm names. */
static EVP_MD_CTX *verify_begin(const unsigned char *alg_der, size_t alg_len, X509 *root,
                                const char *name, struct jerr *err)
{
    const unsigned char *p = alg_der;
    X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, (long)alg_len);
    EVP_MD_CTX *ctx = NULL;
    int md_nid = NID_undef;
    const EVP_MD *md = NULL;

    if (alg == NULL || p != alg_der + alg_len ||
        OBJ_find_sigid_algs(OBJ_obj2nid(alg->algorithm), &md_nid, NULL) != 1 ||
        (md = EVP_get_digestbynid(md_nid)) == NULL) {
        jerr_openssl(err, JERR_INVALID, "signature", "%s: unsupported signature algorithm", name);
        goto out;
    }
    EVP_PKEY *key = X509_get0_pubkey(root);
    ctx = EVP_MD_CTX_new();
    if (key == NULL || ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "signature", "%s: cannot check the signature", name);
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
out:
    X509_ALGOR_free(alg);
    return ctx;
}

/* RFC 5280 §5.1.2.1: version, v2 (INTEGER 1). Optional (v1) unless strict. */
static int read_version(struct crl_reader *r, uint64_t limit, bool strict, struct jerr *err)
{
    const unsigned char *der = NULL;
    size_t len = 0;
    struct tlv t = {0};
    int64_t v = -1;

    if (!strict && (reader_next(r, limit, &t) == -1 || t.tag != V_ASN1_INTEGER ||
                    t.xclass != V_ASN1_UNIVERSAL || t.constructed))
        return 0; /* absent: v1, whose next element is the signature algorithm */
    if (reader_element(r, limit, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, false, &der, &len, "version",
                       err) == -1)
        return -1;
    if (strict) {
        const unsigned char *p = der;
        ASN1_INTEGER *version = d2i_ASN1_INTEGER(NULL, &p, (long)len);
        bool v2 =
            version != NULL && p == der + len && ASN1_INTEGER_get_int64(&v, version) == 1 && v == 1;
        ASN1_INTEGER_free(version);
        ERR_clear_error();
        if (!v2)
            return jerr_set(err, JERR_INVALID, "version", "%s: not a v2 CRL", r->name);
    }
    return reader_consume(r, len, err);
}

/* RFC 5280 §5.1.2.3: the issuer; strict: the root's subject. */
static int read_issuer(struct crl_reader *r, uint64_t limit, X509 *root, struct jerr *err)
{
    const unsigned char *der = NULL;
    size_t len = 0;
    if (reader_element(r, limit, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &der, &len, "issuer",
                       err) == -1)
        return -1;
    if (root != NULL) {
        const unsigned char *p = der;
        X509_NAME *issuer = d2i_X509_NAME(NULL, &p, (long)len);
        bool decoded = issuer != NULL && p == der + len;
        int cmp = decoded ? X509_NAME_cmp(issuer, X509_get_subject_name(root)) : -1;
        X509_NAME_free(issuer);
        if (!decoded)
            return jerr_openssl(err, JERR_INVALID, "issuer", "%s: bad issuer name", r->name);
        if (cmp != 0)
            return jerr_set(err, JERR_INVALID, "issuer", "%s: issuer is not the root's subject",
                            r->name);
    }
    return reader_consume(r, len, err);
}

/* The CertificateList and TBSCertList headers, then the TBS up to nextUpdate (RFC 5280 §5.1).
 * With `root` (strict): v2, issuer = root's subject, nextUpdate required, and the signature
 * check started with root's key before the first TBS byte is consumed. */
static int read_head(struct crl_reader *r, X509 *root, struct crl_head *h, struct jerr *err)
{
    struct tlv crl, tbs, t;
    const unsigned char *der = NULL;
    size_t len = 0;
    bool strict = root != NULL;

    /* RFC 5280 §5.1: CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm,
     * signatureValue }, the whole file. */
    if (reader_header(r, r->size, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &crl, "CertificateList",
                      err) == -1)
        return -1;
    if (crl.hdr + crl.len != r->size)
        return jerr_set(err, JERR_INVALID, r->field, "%s: %llu bytes after the CRL", r->name,
                        (unsigned long long)(r->size - crl.hdr - crl.len));
    if (reader_consume(r, crl.hdr, err) == -1)
        return -1;
    if (reader_header(r, crl.len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &tbs, "tbsCertList",
                      err) == -1)
        return -1;
    h->tbs_end = r->offset + tbs.hdr + tbs.len;
    if (strict) {
        size_t head =
            (size_t)(tbs.hdr + tbs.len < CRL_READ_ALG_PEEK_BYTES ? tbs.hdr + tbs.len
                                                                 : CRL_READ_ALG_PEEK_BYTES);
        if (reader_fill(r, head, err) == -1 ||
            peek_tbs_algorithm(r, &h->tbs_alg, &h->tbs_alg_len, err) == -1)
            return -1;
        if ((r->tbs_verify = verify_begin(h->tbs_alg, h->tbs_alg_len, root, r->name, err)) == NULL)
            return -1;
    }
    if (reader_consume(r, tbs.hdr, err) == -1 ||
        read_version(r, h->tbs_end - r->offset, strict, err) == -1)
        return -1;
    /* RFC 5280 §5.1.2.2: signature AlgorithmIdentifier (strict: peeked above, the same bytes). */
    if (reader_element(r, h->tbs_end - r->offset, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &der,
                       &len, "signature algorithm", err) == -1 ||
        reader_consume(r, len, err) == -1 ||
        read_issuer(r, h->tbs_end - r->offset, root, err) == -1)
        return -1;
    /* RFC 5280 §5.1.2.4/5: thisUpdate, and nextUpdate, which conforming CAs include (strict:
     * required; otherwise present when the next element is a Time). */
    if (reader_time(r, h->tbs_end - r->offset, &h->this_update, "this_update", err) == -1)
        return -1;
    h->next_update = 0;
    if (strict)
        return reader_time(r, h->tbs_end - r->offset, &h->next_update, "next_update", err);
    if (r->offset == h->tbs_end)
        return 0;
    /* Absent only when the next element is seen and is no Time: a head that ends here says
     * nothing about nextUpdate, so it is an error, not "no nextUpdate". */
    if (reader_next(r, h->tbs_end - r->offset, &t) == -1)
        return jerr_set(err, JERR_INVALID, r->field,
                        "%s: truncated or bad element after "
                        "thisUpdate at offset %llu",
                        r->name, (unsigned long long)r->offset);
    if (!tlv_is_time(&t))
        return 0;
    return reader_time(r, h->tbs_end - r->offset, &h->next_update, "next_update", err);
}

int crl_read_times(const unsigned char *head, size_t head_len, size_t total_len,
                   time_t *this_update, time_t *next_update, struct jerr *err)
{
    struct crl_reader r = {.fd = -1, .name = "CRL", .field = "crl"};
    struct crl_head h = {0};

    if (head == NULL || head_len == 0 || head_len > total_len || head_len > LONG_MAX)
        return jerr_set(err, JERR_INVALID, "crl", "empty or oversized CRL");
    r.buf = head;
    r.end = head_len;
    r.window = head_len;
    r.size = total_len;
    if (read_head(&r, NULL, &h, err) == -1)
        return -1;
    *this_update = h.this_update;
    *next_update = h.next_update;
    return 0;
}

/* ---- the rest of a verified CRL: entries, extensions, signature ---- */

/* Reads the entries of revokedCertificates (`len` bytes), one X509_REVOKED at a time. */
static int reader_entries(struct crl_reader *r, uint64_t len, size_t *count, struct jerr *err)
{
    uint64_t end = r->offset + len;
    while (r->offset < end) {
        const unsigned char *der = NULL;
        size_t der_len = 0;
        if (reader_element(r, end - r->offset, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &der,
                           &der_len, "revoked certificate", err) == -1)
            return -1;
        const unsigned char *p = der;
        X509_REVOKED *rev = d2i_X509_REVOKED(NULL, &p, (long)der_len);
        bool ok = rev != NULL && p == der + der_len;
        X509_REVOKED_free(rev);
        if (!ok)
            return jerr_openssl(err, JERR_INVALID, r->field, "%s: bad entry %zu", r->name,
                                *count + 1);
        if (reader_consume(r, der_len, err) == -1)
            return -1;
        (*count)++;
    }
    return 0;
}

/* crlExtensions [0] EXPLICIT Extensions: the cRLNumber (RFC 5280 §5.2.3) is required. */
static int reader_crl_exts(struct crl_reader *r, uint64_t limit, int64_t *number, struct jerr *err)
{
    const unsigned char *der = NULL;
    size_t len = 0;
    X509_EXTENSIONS *exts = NULL;
    ASN1_INTEGER *n = NULL;
    struct tlv t = {0};
    int crit = 0, ret = -1;

    if (reader_element(r, limit, 0, V_ASN1_CONTEXT_SPECIFIC, true, &der, &len, "crlExtensions",
                       err) == -1)
        goto out;
    if (parse_tlv(der, len, &t) == -1) {
        jerr_set(err, JERR_INVALID, r->field, "%s: bad crlExtensions", r->name);
        goto out;
    }
    const unsigned char *p = der + t.hdr;
    exts = d2i_X509_EXTENSIONS(NULL, &p, (long)t.len);
    if (exts == NULL || p != der + len) {
        jerr_openssl(err, JERR_INVALID, r->field, "%s: bad crlExtensions", r->name);
        goto out;
    }
    n = X509V3_get_d2i(exts, NID_crl_number, &crit, NULL);
    if (n == NULL || crit != 0 || ASN1_INTEGER_get_int64(number, n) != 1 || *number < 0) {
        jerr_openssl(err, JERR_INVALID, "number", "%s: no usable cRLNumber", r->name);
        goto out;
    }
    ret = reader_consume(r, len, err);
out:
    ERR_clear_error();
    ASN1_INTEGER_free(n);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return ret;
}

/* From the end of the header to the end of the TBS: revokedCertificates and crlExtensions. */
static int read_tbs_rest(struct crl_reader *r, uint64_t tbs_end, struct crl_info *info,
                         struct jerr *err)
{
    struct tlv t = {0};

    /* RFC 5280 §5.1.2.6: revokedCertificates, absent when empty. */
    if (reader_next(r, tbs_end - r->offset, &t) == 0 && t.tag == V_ASN1_SEQUENCE &&
        t.xclass == V_ASN1_UNIVERSAL) {
        if (reader_header(r, tbs_end - r->offset, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &t,
                          "revokedCertificates", err) == -1 ||
            reader_consume(r, t.hdr, err) == -1 ||
            reader_entries(r, t.len, &info->entries, err) == -1)
            return -1;
        if (info->entries == 0)
            return jerr_set(err, JERR_INVALID, r->field, "%s: empty revokedCertificates", r->name);
    }
    if (r->offset == tbs_end)
        return jerr_set(err, JERR_INVALID, "number", "%s: no crlExtensions, so no cRLNumber",
                        r->name);
    if (reader_crl_exts(r, tbs_end - r->offset, &info->number, err) == -1)
        return -1;
    if (r->offset != tbs_end)
        return jerr_set(err, JERR_INVALID, r->field, "%s: unexpected data in tbsCertList", r->name);
    return 0;
}

/* signatureAlgorithm and signatureValue, after the TBS (RFC 5280 §5.1.1.2, §5.1.1.3). */
static int read_signature(struct crl_reader *r, const struct crl_head *h, struct jerr *err)
{
    EVP_MD_CTX *verify = r->tbs_verify;
    ASN1_BIT_STRING *sig = NULL;
    const unsigned char *der = NULL;
    size_t len = 0;
    int ret = -1;

    r->tbs_verify = NULL; /* the rest is not signed */
    /* RFC 5280 §5.1.1.2: signatureAlgorithm equals the TBS's signature field. */
    if (reader_element(r, r->size - r->offset, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &der, &len,
                       "signatureAlgorithm", err) == -1 ||
        len != h->tbs_alg_len || memcmp(der, h->tbs_alg, len) != 0) {
        jerr_set(err, JERR_INVALID, "signature", "%s: signature algorithms differ", r->name);
        goto out;
    }
    if (reader_consume(r, len, err) == -1 ||
        reader_element(r, r->size - r->offset, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL, false, &der,
                       &len, "signatureValue", err) == -1)
        goto out;
    const unsigned char *p = der;
    sig = d2i_ASN1_BIT_STRING(NULL, &p, (long)len);
    if (sig == NULL || p != der + len || (sig->flags & 0x07) != 0 ||
        EVP_DigestVerifyFinal(verify, sig->data, (size_t)sig->length) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "signature", "%s: signature does not verify", r->name);
        goto out;
    }
    ret = reader_consume(r, len, err);
out:
    EVP_MD_CTX_free(verify);
    ASN1_BIT_STRING_free(sig);
    return ret;
}

int crl_verify_file(const char *path, X509 *root, struct crl_info *out, struct jerr *err)
{
    struct crl_reader r = {.fd = -1, .name = path, .field = "path"};
    struct crl_head h = {0};
    struct crl_info info;
    struct stat sb;
    int ret = -1;

    memset(&info, 0, sizeof(info));
    ERR_clear_error(); /* messages must name our failures, not leftovers */
    r.fd = open(path, O_RDONLY);
    if (r.fd == -1 || fstat(r.fd, &sb) != 0) {
        jerr_set(err, JERR_IO, "path", "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    r.size = (uint64_t)sb.st_size;
    r.window = CRL_READ_WINDOW_BYTES;
    r.buf = r.own = OPENSSL_malloc(CRL_READ_WINDOW_BYTES);
    r.file_hash = EVP_MD_CTX_new();
    if (r.own == NULL || r.file_hash == NULL ||
        EVP_DigestInit_ex(r.file_hash, EVP_sha256(), NULL) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (read_head(&r, root, &h, err) == -1 || read_tbs_rest(&r, h.tbs_end, &info, err) == -1 ||
        read_signature(&r, &h, err) == -1)
        goto out;
    if (r.offset != r.size) {
        jerr_set(err, JERR_INVALID, "path", "%s: trailing bytes", path);
        goto out;
    }
    info.this_update = h.this_update;
    info.next_update = h.next_update;
    info.der_size = (size_t)r.size;
    if (EVP_DigestFinal_ex(r.file_hash, info.sha256, NULL) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash %s", path);
        goto out;
    }
    if (out != NULL)
        *out = info;
    ret = 0;
out:
    reader_release(&r);
    OPENSSL_free(h.tbs_alg);
    return ret;
}
