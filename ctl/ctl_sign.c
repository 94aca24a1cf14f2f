/*
 * ctl_sign: see ctl_sign.h. CMS through OpenSSL (CMS_sign with one explicit SHA-256 signer); the
 * receipt's signature is checked against the OCSP signer that the card's own root issued.
 */
#include "ctl/ctl_sign.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/pem.h> /* before cms.h: it declares the CMS PEM functions with pem.h's macros */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/b64.h"
#include "base/fsutil.h"
#include "base/hex.h"
#include "base/jclock.h"
#include "ctl/ctl_card.h"
#include "ctl/ctl_holdcard.h"
#include "ctl/ctl_card_print.h"
#include "ctl/ctl_http.h"
#include "ctl/ctl_out.h"
#include "ctl/ctl_rp.h"
#include "keystore/keyalg.h"

/* A CMS we write (a signature, a revocation request), at most. */
#define CTL_CARD_CMS_MAX (256 * 1024)

/* Refuses a certificate that is not valid now, and warns (guide 4(12)) when it soon ends. */
static int usable_now(struct ctl *ctl, X509 *cert, enum ca_kind slot)
{
    time_t nb, na, now = jclock_now();
    char until[32];
    if (ctl_card_cert_times(cert, &nb, &na) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the %s certificate's validity is unreadable",
                        ctl_card_slot_words(slot));
    ctl_rp_time_text(X509_get0_notAfter(cert), until, sizeof(until));
    switch (ctl_card_validity_at(nb, na, now)) {
    case CTL_CARD_EXPIRED:
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "the %s certificate expired on %s: nothing signed with it would be "
                        "accepted; a new one is issued at the municipal window",
                        ctl_card_slot_words(slot), until);
    case CTL_CARD_NOT_YET_VALID:
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the %s certificate is not valid yet",
                        ctl_card_slot_words(slot));
    case CTL_CARD_EXPIRING:
        fprintf(ctl->err,
                "jpkictl: %s: warning: the %s certificate expires on %s (%ld days, less than %d "
                "months): renew it at the municipal window\n",
                ctl->cmd_name, ctl_card_slot_words(slot), until, ctl_card_days_left(na, now),
                CTL_CARD_WARN_MONTHS);
        break;
    case CTL_CARD_VALID:
        break;
    }
    return CTL_EXIT_OK;
}

/* CMS SignedData (RFC 5652 §5) by `key`/`cert` over `content`, the key's digest (SHA-256 for
 * RSA, RFC 5754 §2.2; SHA-384/512 for P-384/P-521, RFC 5753 §2.1.1), the signer certificate
 * included, signed attributes (contentType, messageDigest, signingTime). `flags` adds
 * CMS_DETACHED for a detached signature. Encoded as DER, or PEM when `pem`, into a malloc'd
 * buffer. Returns an exit code. */
static int cms_make(struct ctl *ctl, X509 *cert, EVP_PKEY *key, BIO *content, unsigned int flags,
                    bool pem, unsigned char **out, size_t *out_len)
{
    CMS_ContentInfo *cms = NULL;
    BIO *mem = NULL;
    char *data = NULL;
    long len;
    int rc = CTL_EXIT_FAILED;
    char why[256];

    *out = NULL;
    flags |= CMS_BINARY | CMS_NOSMIMECAP;
    /* CMS_PARTIAL, then one signer with an explicit digest, then CMS_final */
    const char *digest = keyalg_key_digest(X509_get0_pubkey(cert));
    if (digest == NULL) {
        rc = ctl_fail(ctl, rc, "the card's certificate holds a key of no supported algorithm");
        goto out;
    }
    if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL)) == NULL ||
        CMS_add1_signer(cms, cert, key, EVP_get_digestbyname(digest), flags) == NULL ||
        CMS_final(cms, content, NULL, flags) != 1) {
        unsigned long e = ERR_get_error();
        ERR_error_string_n(e, why, sizeof(why));
        ctl_fail(ctl, rc, "cannot sign: %s", e != 0 ? why : "no detail");
        goto out;
    }
    if ((mem = BIO_new(BIO_s_mem())) == NULL ||
        (pem ? PEM_write_bio_CMS(mem, cms) : i2d_CMS_bio(mem, cms)) != 1 ||
        (len = BIO_get_mem_data(mem, &data)) <= 0 || len > CTL_CARD_CMS_MAX ||
        (*out = malloc((size_t)len)) == NULL) {
        ctl_fail(ctl, rc, "cannot encode the signature");
        goto out;
    }
    memcpy(*out, data, (size_t)len);
    *out_len = (size_t)len;
    rc = CTL_EXIT_OK;
out:
    ERR_clear_error();
    BIO_free(mem);
    CMS_ContentInfo_free(cms);
    return rc;
}

/* Opens the card of a signing command; a token is logged in to at once with the signing PIN:
 * a real card shows its signing certificate only then (docs/CARD.md). */
static int open_signing_card(struct ctl *ctl, const struct ctl_args *args, size_t image_pos,
                             struct ctl_holdcard *hc)
{
    int rc = ctl_holdcard_open(ctl, args, image_pos, hc);
    if (rc == CTL_EXIT_OK && hc->ct != NULL)
        rc = ctl_holdcard_token_login(ctl, args, hc->ct, CA_SIGN);
    return rc;
}

int ctl_card_sign(struct ctl *ctl, const struct ctl_args *args)
{
    const char *file;
    const char *out_path = ctl_args_get(args, "out");
    bool pem = ctl_args_has(args, "pem");
    struct ctl_holdcard hc;
    EVP_PKEY *key = NULL;
    BIO *content = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    char *default_out = NULL, p[256];
    struct jerr err = {0};
    int rc;

    if ((rc = open_signing_card(ctl, args, 2, &hc)) != CTL_EXIT_OK)
        goto out;
    file = args->pos[hc.next_pos];
    X509 *cert = ctl_holdcard_cert(&hc, CA_SIGN);
    if (cert == NULL) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the card holds no signing certificate");
        goto out;
    }
    if ((rc = usable_now(ctl, cert, CA_SIGN)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if ((content = BIO_new_file(file, "rb")) == NULL) {
        ERR_clear_error();
        ctl_fail(ctl, rc, "cannot read %s: %s", ctl_out_shown(file, p, sizeof(p)), strerror(errno));
        goto out;
    }
    if (out_path == NULL) {
        size_t n = strlen(file) + sizeof(".p7s");
        if ((default_out = malloc(n)) == NULL) {
            ctl_fail(ctl, rc, "out of memory");
            goto out;
        }
        snprintf(default_out, n, "%s.p7s", file);
        out_path = default_out;
    }
    if ((rc = ctl_holdcard_key(ctl, args, &hc, CA_SIGN, &key)) != CTL_EXIT_OK)
        goto out;
    if ((rc = cms_make(ctl, cert, key, content, CMS_DETACHED, pem, &sig, &sig_len)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (strcmp(out_path, "-") == 0) {
        if (fwrite(sig, 1, sig_len, ctl->out) != sig_len) {
            ctl_fail(ctl, rc, "cannot write the output");
            goto out;
        }
    } else {
        if (fsutil_write_atomic(out_path, sig, sig_len, 0644, false, &err) == -1) {
            ctl_fail(ctl, rc, "cannot write %s: %s", ctl_out_shown(out_path, p, sizeof(p)),
                     err.msg);
            goto out;
        }
        fprintf(ctl->out, "signed %s\n  signature (CMS, %s, detached): %s\n",
                ctl_out_shown(file, p, sizeof(p)), pem ? "PEM" : "DER", out_path);
    }
    rc = CTL_EXIT_OK;
out:
    free(sig);
    free(default_out);
    BIO_free(content);
    EVP_PKEY_free(key);
    ctl_holdcard_close(&hc);
    return rc;
}

/* ---- online revocation (guide 4(5)B) ---- */

/* Checks the service's receipt (responder/api/holder.c): "receipt" is the signed JSON text, signed
 * ("signature", with "signature_algorithm" the signer key's: sha256WithRSAEncryption,
 * ecdsa-with-SHA384 or -SHA512) by "signer_certificate", the OCSP signer that `root`
 * (the card's root of the revoked certificate's CA) issued for OCSP signing (RFC 6960
 * §4.2.2.2); the text names our serial and request id. Sets *inner (a new reference) to the
 * parsed text. Returns 0, or -1 with *why. */
static int receipt_verify(const json_t *answer, X509 *root, const char *serial,
                          const char *request_id, json_t **inner, const char **why)
{
    const char *text = ctl_out_str(answer, "receipt");
    const char *sig_b64 = ctl_out_str(answer, "signature");
    const char *pem = ctl_out_str(answer, "signer_certificate");
    const char *alg = ctl_out_str(answer, "signature_algorithm");
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    BIO *bio = NULL;
    X509 *signer = NULL;
    EVP_MD_CTX *md = NULL;
    json_t *doc = NULL;
    int rc = -1;

    *inner = NULL;
    if (text == NULL || sig_b64 == NULL || pem == NULL) {
        *why = "the answer carries no signed receipt";
        goto out;
    }
    struct keyalg spec;
    if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
        (signer = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
        *why = "the receipt's signer certificate does not decode";
        goto out;
    }
    if (keyalg_of_key(X509_get0_pubkey(signer), NULL, &spec, NULL) == -1 ||
        (alg != NULL && strcmp(alg, keyalg_signature_name(&spec)) != 0)) {
        *why = "the receipt is signed with an algorithm this client does not check";
        goto out;
    }
    /* the signer must be the CA's own delegated OCSP signer: issued by the root in the card */
    if (X509_NAME_cmp(X509_get_issuer_name(signer), X509_get_subject_name(root)) != 0 ||
        X509_verify(signer, X509_get0_pubkey(root)) != 1 ||
        (X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN) == 0) {
        *why = "the receipt's signer is not the CA's OCSP signer under the root in the card";
        goto out;
    }
    if (b64_decode(sig_b64, strlen(sig_b64), &sig, &sig_len) != 0) {
        *why = "the receipt's signature is not base64";
        goto out;
    }
    if ((md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestVerifyInit_ex(md, NULL, keyalg_digest(&spec), NULL, NULL,
                                X509_get0_pubkey(signer), NULL) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)text, strlen(text)) != 1) {
        *why = "the receipt's signature does not verify";
        goto out;
    }
    doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    const char *their_serial = ctl_out_str(doc, "serial");
    const char *their_id = ctl_out_str(doc, "request_id");
    if (!json_is_object(doc) || their_serial == NULL || strcasecmp(their_serial, serial) != 0 ||
        their_id == NULL || strcasecmp(their_id, request_id) != 0) {
        *why = "the signed receipt is not for this request";
        goto out;
    }
    *inner = doc;
    doc = NULL;
    rc = 0;
out:
    ERR_clear_error();
    json_decref(doc);
    EVP_MD_CTX_free(md);
    X509_free(signer);
    BIO_free(bio);
    OPENSSL_free(sig);
    return rc;
}

/* The request document (holderreq.h): serial, reason, a fresh random request id, the time. */
static json_t *revoke_document(const char *serial, const char *reason, char request_id[33])
{
    unsigned char raw[16];
    char now[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ERR_clear_error();
        return NULL;
    }
    hex_encode(raw, sizeof(raw), request_id);
    jclock_format(jclock_now(), now, sizeof(now));
    return json_pack("{s:s, s:s, s:s, s:s}", "serial", serial, "reason", reason, "request_id",
                     request_id, "time", now);
}

int ctl_card_revoke(struct ctl *ctl, const struct ctl_args *args)
{
    static const char *const reasons[] = {"keyCompromise", "cessationOfOperation", "unspecified"};
    const char *reason = ctl_args_get(args, "reason");
    const char *receipt_path = ctl_args_get(args, "receipt");
    const char *save_request = ctl_args_get(args, "save-request");
    struct ctl_holdcard hc = {0};
    struct ctl_http_reply reply = {0};
    EVP_PKEY *key = NULL;
    BIO *content = NULL;
    json_t *doc = NULL, *answer = NULL, *inner = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char *text = NULL, serial[2 * 20 + 8], request_id[33], default_receipt[96], p[256];
    char line[CTL_OUT_LINE_MAX];
    enum ca_kind slot = CA_SIGN;
    const char *why = NULL;
    struct jerr err = {0};
    bool known = false;
    int rc;

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        known = known || strcmp(reason, reasons[i]) == 0;
    if (!known)
        return ctl_usage(ctl, "--reason must be keyCompromise, cessationOfOperation or "
                              "unspecified");
    if (ctl_args_has(args, "slot") && (rc = ctl_card_parse_slot(ctl, args, &slot)) != CTL_EXIT_OK)
        return rc;
    if (ctl->url == NULL || ctl->url[0] == '\0')
        return ctl_usage(ctl, "no service URL: give --url or set JPKI_URL");
    if ((rc = open_signing_card(ctl, args, 1, &hc)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    X509 *signing = ctl_holdcard_cert(&hc, CA_SIGN), *target = ctl_holdcard_cert(&hc, slot);
    if (signing == NULL) {
        /* guide 4(5)B: the request is signed with the signing key; without it, the window */
        ctl_fail(ctl, rc,
                 "the card holds no signing certificate: an online request cannot be "
                 "signed; revoke at the municipal window");
        goto out;
    }
    if (target == NULL) {
        ctl_fail(ctl, rc, "the card holds no %s certificate", ctl_card_slot_words(slot));
        goto out;
    }
    if ((rc = usable_now(ctl, signing, CA_SIGN)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    ctl_rp_serial_hex(X509_get0_serialNumber(target), serial, sizeof(serial));
    if ((doc = revoke_document(serial, reason, request_id)) == NULL ||
        (text = json_dumps(doc, JSON_COMPACT)) == NULL ||
        (content = BIO_new_mem_buf(text, (int)strlen(text))) == NULL) {
        ctl_fail(ctl, rc, "cannot build the request");
        goto out;
    }
    if ((rc = ctl_holdcard_key(ctl, args, &hc, CA_SIGN, &key)) != CTL_EXIT_OK)
        goto out;
    /* holderreq.h: attached content, the signer certificate included, SHA-256, DER */
    if ((rc = cms_make(ctl, signing, key, content, 0, false, &der, &der_len)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (save_request != NULL &&
        fsutil_write_atomic(save_request, der, der_len, 0600, false, &err) == -1) {
        ctl_fail(ctl, rc, "cannot write %s: %s", ctl_out_shown(save_request, p, sizeof(p)),
                 err.msg);
        goto out;
    }
    if ((rc = ctl_request(ctl, "POST", "/v1/holder/revoke", false, "application/cms", der, der_len,
                          &reply)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (reply.status != 200) {
        ctl_out_api_error(line, sizeof(line), ctl->cmd_name, reply.status, reply.body, reply.len);
        fprintf(ctl->err, "%s\n", line);
        goto out;
    }
    if (reply.len <= CTL_CARD_RECEIPT_MAX) /* json_is_object evaluates its argument twice */
        answer = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(answer)) {
        ctl_fail(ctl, rc, "the answer is not a JSON receipt");
        goto out;
    }
    if (receipt_path == NULL) {
        snprintf(default_receipt, sizeof(default_receipt), "revocation-receipt-%s.json", serial);
        receipt_path = default_receipt;
    }
    /* the answer is kept as it came, whatever its check says: it is what the service said */
    if (fsutil_write_atomic(receipt_path, reply.body, reply.len, 0600, false, &err) == -1) {
        ctl_fail(ctl, rc,
                 "the certificate was revoked, but the receipt cannot be written to %s: "
                 "%s",
                 ctl_out_shown(receipt_path, p, sizeof(p)), err.msg);
        goto out;
    }
    if (receipt_verify(answer, ctl_holdcard_root(&hc, slot), serial, request_id, &inner, &why) ==
        -1) {
        ctl_fail(ctl, rc,
                 "the service accepted the request, but its receipt does not check: %s "
                 "(saved as it came to %s)",
                 why, ctl_out_shown(receipt_path, p, sizeof(p)));
        goto out;
    }
    ctl_card_print_receipt(ctl->out, inner);
    fprintf(ctl->out,
            "  %-13s verified: signed by the CA's OCSP signer under the root in the "
            "card\n  %-13s %s\n",
            "signature:", "saved to:", ctl_out_shown(receipt_path, p, sizeof(p)));
    rc = CTL_EXIT_OK;
out:
    json_decref(inner);
    json_decref(answer);
    ctl_http_reply_free(&reply);
    free(der);
    BIO_free(content);
    free(text);
    json_decref(doc);
    EVP_PKEY_free(key);
    ctl_holdcard_close(&hc);
    return rc;
}
