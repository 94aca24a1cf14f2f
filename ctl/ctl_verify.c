/*
 * ctl_verify: see ctl_verify.h. The CMS is parsed by OpenSSL (d2i with all input consumed, or
 * PEM) and checked in two separate steps so that the reason is precise: first the signature
 * over the content with the signer's own key (CMS_verify without certificate verification),
 * then the signer certificate's chain to the trusted root (X509_verify_cert, time left to the
 * validity step, which uses the one clock). Nothing about the signer is printed unless all holds.
 */
#include "ctl/ctl_verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h> /* before cms.h: it declares the CMS PEM functions with pem.h's macros */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509_vfy.h>

#include "base/fsutil.h"
#include "base/jclock.h"
#include "ctl/ctl_out.h"

enum ctl_verify_verdict ctl_verify_judge(const struct ctl_verify_findings *f)
{
    if (!f->well_formed)
        return CTL_VERIFY_MALFORMED;
    /* a signature that does not cover the content says nothing about anyone */
    if (!f->signature_ok)
        return CTL_VERIFY_BAD_SIGNATURE;
    /* RFC 5280 §6.1: only a certificate that chains to the trusted root names a holder */
    if (!f->chain_ok)
        return CTL_VERIFY_UNKNOWN_ISSUER;
    /* RFC 5280 §6.1.3 (a)(2): the validity period, at the time of verification */
    if (f->validity == CTL_CARD_NOT_YET_VALID)
        return CTL_VERIFY_NOT_YET_VALID;
    if (f->validity == CTL_CARD_EXPIRED)
        return CTL_VERIFY_EXPIRED;
    /* RFC 5280 §6.3 / RFC 6960 §2.2: the revocation status; a hold is certificateHold */
    if (!f->status_known)
        return CTL_VERIFY_NO_STATUS;
    if (f->status.status == V_OCSP_CERTSTATUS_REVOKED)
        return f->status.reason == OCSP_REVOKED_STATUS_CERTIFICATEHOLD ? CTL_VERIFY_ON_HOLD
                                                                       : CTL_VERIFY_REVOKED;
    if (f->status.status != V_OCSP_CERTSTATUS_GOOD)
        return CTL_VERIFY_UNKNOWN_CERT;
    return CTL_VERIFY_VALID;
}

const char *ctl_verify_verdict_name(enum ctl_verify_verdict v)
{
    switch (v) {
    case CTL_VERIFY_VALID:
        return "valid";
    case CTL_VERIFY_MALFORMED:
        return "malformed";
    case CTL_VERIFY_BAD_SIGNATURE:
        return "bad signature";
    case CTL_VERIFY_UNKNOWN_ISSUER:
        return "unknown issuer";
    case CTL_VERIFY_NOT_YET_VALID:
        return "not yet valid";
    case CTL_VERIFY_EXPIRED:
        return "expired";
    case CTL_VERIFY_REVOKED:
        return "revoked";
    case CTL_VERIFY_ON_HOLD:
        return "on hold";
    case CTL_VERIFY_UNKNOWN_CERT:
        return "unknown certificate";
    case CTL_VERIFY_NO_STATUS:
        return "no status";
    }
    return "?";
}

void ctl_verify_reason(const struct ctl_verify_findings *f, enum ctl_verify_verdict v,
                       const char *not_after, char *out, size_t size)
{
    const char *name = ctl_verify_verdict_name(v);
    switch (v) {
    case CTL_VERIFY_VALID:
        snprintf(out, size,
                 "valid: the signature, the certificate's chain to the signing root, "
                 "its validity and its status (good, %s) all hold",
                 f->status.source);
        break;
    case CTL_VERIFY_MALFORMED:
        snprintf(out, size,
                 "%s: not one detached CMS signature with one signer and its "
                 "certificate",
                 name);
        break;
    case CTL_VERIFY_BAD_SIGNATURE:
        snprintf(out, size,
                 "%s: the signature does not match the content (the file was "
                 "altered, or it is not the file that was signed)",
                 name);
        break;
    case CTL_VERIFY_UNKNOWN_ISSUER:
        snprintf(out, size, "%s: the signer's certificate does not chain to the signing CA root",
                 name);
        break;
    case CTL_VERIFY_NOT_YET_VALID:
        snprintf(out, size, "%s: the signer's certificate is not valid yet", name);
        break;
    case CTL_VERIFY_EXPIRED:
        snprintf(out, size, "%s: the signer's certificate expired on %s", name, not_after);
        break;
    case CTL_VERIFY_REVOKED:
        snprintf(out, size, "%s: the signer's certificate was revoked on %s (%s) [%s]", name,
                 f->status.revoked_at, ctl_rp_reason_name(f->status.reason), f->status.source);
        break;
    case CTL_VERIFY_ON_HOLD:
        snprintf(out, size, "%s: the signer's certificate is on hold since %s [%s]", name,
                 f->status.revoked_at, f->status.source);
        break;
    case CTL_VERIFY_UNKNOWN_CERT:
        snprintf(out, size, "%s: the responder does not know the signer's certificate [%s]", name,
                 f->status.source);
        break;
    case CTL_VERIFY_NO_STATUS:
        snprintf(out, size,
                 "%s: neither OCSP nor the CRL gave a verified answer about the "
                 "signer's certificate",
                 name);
        break;
    }
}

/* The CMS of a DER or PEM file: exactly one object (DER: all input consumed). NULL if not. */
static CMS_ContentInfo *cms_parse(const unsigned char *data, size_t len)
{
    const unsigned char *p = data;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    if (cms != NULL && p != data + len) {
        CMS_ContentInfo_free(cms);
        cms = NULL;
    }
    if (cms == NULL) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio != NULL)
            cms = PEM_read_bio_CMS(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    ERR_clear_error();
    return cms;
}

/* RFC 5652 §5: a SignedData, detached (§5.2 eContent absent), with one SignerInfo whose
 * certificate is in the CMS. Sets *signer (borrowed from cms). Returns 0, or -1 with `why`. */
static int cms_shape(CMS_ContentInfo *cms, X509 **signer, const char **why)
{
    STACK_OF(CMS_SignerInfo) * sis;
    *signer = NULL;
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        *why = "it is not a CMS SignedData";
        return -1;
    }
    if (CMS_is_detached(cms) != 1) {
        *why = "it carries its content: a detached signature is expected";
        return -1;
    }
    sis = CMS_get0_SignerInfos(cms);
    if (sk_CMS_SignerInfo_num(sis) != 1) {
        *why = "it does not have exactly one signer";
        return -1;
    }
    /* finds each signer's certificate among the certificates the CMS carries */
    if (CMS_set1_signers_certs(cms, NULL, 0) < 0) {
        ERR_clear_error();
        *why = "its certificates do not decode";
        return -1;
    }
    CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(sis, 0), NULL, signer, NULL, NULL);
    if (*signer == NULL) {
        *why = "it does not include the signer's certificate";
        return -1;
    }
    return 0;
}

/* Does the signature verify over the content of `file` with the signer's key? */
static int signature_verifies(struct ctl *ctl, CMS_ContentInfo *cms, const char *file, bool *ok)
{
    BIO *content = BIO_new_file(file, "rb");
    char p[256];
    *ok = false;
    if (content == NULL) {
        ERR_clear_error();
        ctl_out_sanitize(p, sizeof(p), file, strlen(file));
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot read %s: %s", p, strerror(errno));
    }
    /* RFC 5652 §5.6: message digest and signature over the signed attributes; the chain is
     * the next step's */
    *ok = CMS_verify(cms, NULL, NULL, content, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1;
    ERR_clear_error();
    BIO_free(content);
    return CTL_EXIT_OK;
}

/* Does `signer` chain to `root` (with the CMS's other certificates as intermediates)? */
static bool chains_to(X509 *signer, X509 *root, CMS_ContentInfo *cms)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = CMS_get1_certs(cms);
    bool ok = false;
    if (store != NULL && ctx != NULL && X509_STORE_add_cert(store, root) == 1 &&
        X509_STORE_CTX_init(ctx, store, signer, untrusted) == 1) {
        /* the validity period is judged separately, with jclock, so the reason is precise */
        X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_NO_CHECK_TIME);
        ok = X509_verify_cert(ctx) == 1;
    }
    ERR_clear_error();
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

/* The signingTime signed attribute (RFC 5652 §11.3) as text, or "-". */
static void signing_time(CMS_ContentInfo *cms, char *out, size_t size)
{
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
    int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    X509_ATTRIBUTE *attr = i >= 0 ? CMS_signed_get_attr(si, i) : NULL;
    ASN1_TYPE *t = attr != NULL ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
    const ASN1_TIME *when = NULL;
    if (t != NULL && (t->type == V_ASN1_UTCTIME || t->type == V_ASN1_GENERALIZEDTIME))
        when = (const ASN1_TIME *)t->value.asn1_string;
    ctl_rp_time_text(when, out, size);
}

static void print_valid(struct ctl *ctl, X509 *signer, const struct ctl_card_facts *facts,
                        const struct ctl_verify_findings *f, const char *file,
                        const char *signed_at)
{
    char serial[2 * 20 + 8], until[32], p[256];
    ctl_rp_serial_hex(X509_get0_serialNumber(signer), serial, sizeof(serial));
    ctl_rp_time_text(X509_get0_notAfter(signer), until, sizeof(until));
    ctl_out_sanitize(p, sizeof(p), file, strlen(file));
    if (ctl->json) {
        json_t *o = json_pack(
            "{s:b, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s}", "valid", 1, "verdict",
            "valid", "serial", serial, "signer", "name", facts->name, "address", facts->address,
            "birth_date", facts->birth_date, "gender", facts->gender, "not_after", until, "status",
            "good", "status_source", f->status.source, "signing_time", signed_at);
        ctl_out_json_line(ctl->out, o);
        json_decref(o);
        return;
    }
    fprintf(ctl->out, "VALID: %s was signed by\n", p);
    ctl_card_print_facts(ctl->out, facts);
    fprintf(ctl->out, "  %-13s %s (signing CA), valid until %s\n", "certificate:", serial, until);
    fprintf(ctl->out, "  %-13s good (%s, this update %s)\n", "status:", f->status.source,
            f->status.this_update);
    fprintf(ctl->out, "  %-13s %s (the signer's own clock)\n", "signed at:", signed_at);
}

int ctl_verify(struct ctl *ctl, const struct ctl_args *args)
{
    const char *file = args->pos[0], *sig_path = args->pos[1];
    const char *issuer_path = ctl_args_get(args, "issuer");
    struct ctl_verify_findings f;
    struct ctl_card_facts facts;
    unsigned char *data = NULL;
    size_t len = 0;
    CMS_ContentInfo *cms = NULL;
    X509 *root = NULL, *signer = NULL;
    struct jerr err = {0};
    const char *why = NULL;
    char until[32], reason[512], signed_at[32], p[256];
    int rc, status_rc = CTL_EXIT_OK;

    memset(&f, 0, sizeof(f));
    memset(&facts, 0, sizeof(facts));
    snprintf(until, sizeof(until), "-");
    if (fsutil_read_file(sig_path, CTL_VERIFY_SIG_MAX, &data, &len, &err) == -1) {
        ctl_out_sanitize(p, sizeof(p), sig_path, strlen(sig_path));
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: %s", p, err.msg);
    }
    if ((cms = cms_parse(data, len)) == NULL)
        why = "it is neither a DER nor a PEM CMS";
    else if (cms_shape(cms, &signer, &why) == 0)
        f.well_formed = true;
    /* the trust anchor: without it nothing can be judged. The signing CA's generation that
     * issued the signer's certificate (DESIGN §11: by its key identifier), else the newest. */
    const char *ca_name = NULL;
    if (issuer_path != NULL)
        rc = ctl_rp_load_cert(ctl, "--issuer", issuer_path, &root);
    else if (f.well_formed && ctl_rp_served_issuer(ctl, signer, &root, &ca_name) == CTL_EXIT_OK &&
             strcmp(ca_name, "sign") == 0)
        rc = CTL_EXIT_OK;
    else {
        X509_free(root);
        root = NULL;
        rc = ctl_rp_ca_cert(ctl, "sign", NULL, &root);
    }
    if (rc != CTL_EXIT_OK)
        goto out;
    if (f.well_formed) {
        if ((rc = signature_verifies(ctl, cms, file, &f.signature_ok)) != CTL_EXIT_OK)
            goto out;
        ctl_rp_time_text(X509_get0_notAfter(signer), until, sizeof(until));
    }
    if (f.signature_ok)
        f.chain_ok = chains_to(signer, root, cms);
    if (f.chain_ok) {
        time_t nb, na;
        f.validity = ctl_card_cert_times(signer, &nb, &na) == 0
                         ? ctl_card_validity_at(nb, na, jclock_now())
                         : CTL_CARD_EXPIRED;
        if (f.validity == CTL_CARD_VALID || f.validity == CTL_CARD_EXPIRING) {
            status_rc = ctl_rp_cert_status(ctl, "sign", signer, root, &f.status);
            f.status_known = status_rc == CTL_EXIT_OK;
        }
    }
    enum ctl_verify_verdict v = ctl_verify_judge(&f);
    /* the facts are read (and printed) only for a valid signature */
    if (v == CTL_VERIFY_VALID && ctl_card_read_facts(signer, &facts, &err) == -1) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "NOT VALID: the signer's certificate: %s", err.msg);
        goto out;
    }
    if (v == CTL_VERIFY_VALID) {
        signing_time(cms, signed_at, sizeof(signed_at));
        print_valid(ctl, signer, &facts, &f, file, signed_at);
        rc = CTL_EXIT_OK;
        goto out;
    }
    ctl_verify_reason(&f, v, until, reason, sizeof(reason));
    if (ctl->json) {
        json_t *o = json_pack("{s:b, s:s, s:s}", "valid", 0, "verdict", ctl_verify_verdict_name(v),
                              "reason", reason);
        if (o != NULL && (v == CTL_VERIFY_REVOKED || v == CTL_VERIFY_ON_HOLD)) {
            json_object_set_new(o, "since", json_string(f.status.revoked_at));
            json_object_set_new(o, "crl_reason", json_string(ctl_rp_reason_name(f.status.reason)));
        }
        ctl_out_json_line(ctl->out, o);
        json_decref(o);
    } else {
        fprintf(ctl->out, "NOT VALID: %s\n", reason);
    }
    if (why != NULL) {
        ctl_out_sanitize(p, sizeof(p), sig_path, strlen(sig_path));
        ctl_fail(ctl, CTL_EXIT_FAILED, "%s: %s", p, why);
    }
    /* no status because the service could not be asked: that exit code, not a verdict's */
    rc = v == CTL_VERIFY_NO_STATUS && status_rc != CTL_EXIT_FAILED ? status_rc : CTL_EXIT_FAILED;
out:
    OPENSSL_cleanse(&facts, sizeof(facts));
    CMS_ContentInfo_free(cms);
    X509_free(root);
    free(data);
    return rc;
}
