/*
 * ctl_card: see ctl_card.h. The card image is the only place a private key comes from
 * (card_image_unlock_key, which counts the try on disk before answering); ctl_card_unlock hands
 * it to ctl_sign for one signature. Everything about status comes from ctl_rp (OCSP with the
 * CRL as fallback), trusting the roots stored in the card. Outside text (certificate fields,
 * the service's answers) is sanitized before it is printed.
 */
#include "ctl/ctl_card.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "ca/rules.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "keystore/card.h"
#include "keystore/cardtoken.h"
#include "ctl/ctl_card_print.h"
#include "ctl/ctl_holdcard.h"
#include "ctl/ctl_http.h"
#include "ctl/ctl_ops.h"
#include "ctl/ctl_out.h"
#include "ctl/ctl_prompt.h"
#include "ctl/ctl_rp.h"

/* ---- the card image and its passwords ---- */

bool ctl_card_arg_is_image(const char *arg)
{
    struct stat st;
    size_t n = strlen(arg), ext = strlen(CTL_CARD_IMAGE_SUFFIX);
    /* a card id is [A-Za-z0-9._-] only (API.md), so a '/' can only be a path */
    if (strchr(arg, '/') != NULL)
        return true;
    /* the name jpkictl gives an image: a missing "c1.card" is a missing file, not a card id */
    if (n > ext && strcmp(arg + n - ext, CTL_CARD_IMAGE_SUFFIX) == 0)
        return true;
    return stat(arg, &st) == 0 && S_ISREG(st.st_mode);
}

int ctl_card_show_any(struct ctl *ctl, const struct ctl_args *args)
{
    if (ctl_holdcard_is_token(args) || args->pos_count != 1)
        return ctl_card_show(ctl, args); /* a token, or the usage error that names both forms */
    if (args->pos_count == 1 && ctl_card_arg_is_image(args->pos[0]))
        return ctl_card_show(ctl, args);
    return ctl_ops_card_show(ctl, args);
}

int ctl_card_load_image(struct ctl *ctl, const char *path, struct card_image **out)
{
    struct jerr err = {0};
    char p[256];
    size_t n = strlen(path);
    *out = card_image_load(path, &err);
    if (*out == NULL && err.code == JERR_NOT_FOUND)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: no such card image file",
                        ctl_out_shown(path, p, sizeof(p)));
    if (*out == NULL) {
        /* fsutil's messages start with the path already: name it once */
        const char *why = err.msg;
        if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2;
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: %s", ctl_out_shown(path, p, sizeof(p)), why);
    }
    return CTL_EXIT_OK;
}

int ctl_card_parse_slot(struct ctl *ctl, const struct ctl_args *args, enum ca_kind *slot)
{
    const char *s = ctl_args_get(args, "slot");
    if (s == NULL || ca_kind_parse(s, slot) == -1)
        return ctl_usage(ctl, "--slot must be sign or auth");
    return CTL_EXIT_OK;
}

const char *ctl_card_slot_words(enum ca_kind slot)
{
    return slot == CA_SIGN ? "signing" : "authentication";
}

int ctl_card_unlock(struct ctl *ctl, const struct ctl_args *args, struct card_image *ci,
                    const char *path, enum ca_kind slot, EVP_PKEY **key)
{
    char password[CTL_PASSWORD_MAX + 1], prompt[96];
    struct jerr err = {0};
    int rc;

    *key = NULL;
    if (card_image_get0_cert(ci, slot) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the card holds no %s certificate",
                        ctl_card_slot_words(slot));
    if (card_image_is_locked(ci, slot))
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "the %s password is locked after too many wrong tries; it must be reset "
                        "at the municipal window",
                        ctl_card_slot_words(slot));
    snprintf(prompt, sizeof(prompt),
             "%s password (%d tries left): ", slot == CA_SIGN ? "Signing" : "Authentication",
             card_image_tries_left(ci, slot));
    /* --pin-file is the same option under the name a token's PIN has */
    const char *opt = ctl_args_has(args, "pin-file") ? "pin-file" : "password-file";
    if ((rc = ctl_prompt_password(ctl, opt, ctl_args_get(args, opt), CTL_CARD_ENV_PASSWORD, prompt,
                                  password)) != CTL_EXIT_OK)
        goto out;
    *key = card_image_unlock_key(ci, path, slot, password, &err);
    if (*key == NULL)
        rc = ctl_holdcard_refusal(ctl, slot, &err);
out:
    OPENSSL_cleanse(password, sizeof(password));
    return rc;
}

/* ---- commands ---- */

/* The roots of `hc` in CA order. */
static void card_roots(const struct ctl_holdcard *hc, X509 *roots[CA_KIND_COUNT])
{
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        roots[ca] = ctl_holdcard_root(hc, (enum ca_kind)ca);
}

int ctl_card_show(struct ctl *ctl, const struct ctl_args *args)
{
    struct ctl_holdcard hc;
    X509 *roots[CA_KIND_COUNT];
    time_t now = jclock_now();
    int rc;

    if ((rc = ctl_holdcard_open(ctl, args, 1, &hc)) != CTL_EXIT_OK)
        goto out;
    /* a real card shows its signing certificate only after the signing PIN (docs/CARD.md) */
    if (hc.ct != NULL && (ctl_args_has(args, "pin-file") || ctl_args_has(args, "password-file")) &&
        (rc = ctl_holdcard_token_login(ctl, args, hc.ct, CA_SIGN)) != CTL_EXIT_OK)
        goto out;
    ctl_holdcard_print_header(ctl->out, &hc);
    for (int s = CA_SIGN; s <= CA_AUTH; s++) {
        enum ca_kind slot = (enum ca_kind)s;
        X509 *cert = ctl_holdcard_cert(&hc, slot);
        fprintf(ctl->out, "%s certificate (%s slot)\n", ctl_card_slot_words(slot),
                ca_kind_name(slot));
        if (cert == NULL) {
            fputs("  (none: the slot is empty)\n", ctl->out);
            continue;
        }
        ctl_card_print_cert(ctl->out, cert, slot, now);
        ctl_holdcard_print_pin(ctl->out, &hc, slot);
    }
    card_roots(&hc, roots);
    ctl_card_print_roots(ctl->out, roots);
out:
    ctl_holdcard_close(&hc);
    return rc;
}

int ctl_card_fingerprints(struct ctl *ctl, const struct ctl_args *args)
{
    struct ctl_holdcard hc;
    struct ctl_http_reply reply = {0};
    X509 *roots[CA_KIND_COUNT];
    json_t *served = NULL;
    int rc;

    if ((rc = ctl_holdcard_open(ctl, args, 1, &hc)) != CTL_EXIT_OK)
        goto out;
    card_roots(&hc, roots);
    ctl_card_print_roots(ctl->out, roots);
    if (!ctl_args_has(args, "compare"))
        goto out;
    if ((rc = ctl_request(ctl, "GET", "/ca/fingerprints", false, NULL, NULL, 0, &reply)) !=
        CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    /* json_is_object evaluates its argument twice: load first */
    if (reply.status == 200)
        served = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(served)) {
        ctl_fail(ctl, rc, "GET /ca/fingerprints answered %ld without the fingerprints",
                 reply.status);
        goto out;
    }
    rc = CTL_EXIT_OK;
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        char fp[96];
        const char *name = ca_kind_name((enum ca_kind)ca);
        const char *theirs = ctl_out_str(json_object_get(served, name), "sha256");
        if (roots[ca] != NULL)
            ctl_card_fingerprint(roots[ca], fp);
        if (roots[ca] != NULL && ctl_rp_fingerprint_served(served, name, fp)) {
            fprintf(ctl->out, "%s root: matches the fingerprint the service publishes\n", name);
        } else {
            fprintf(ctl->out, "%s root: MISMATCH: the service publishes ", name);
            ctl_out_put(ctl->out, theirs);
            fputc('\n', ctl->out);
            rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                          "the card's %s root is not the one the service "
                          "publishes",
                          name);
        }
    }
out:
    json_decref(served);
    ctl_http_reply_free(&reply);
    ctl_holdcard_close(&hc);
    return rc;
}

int ctl_card_export(struct ctl *ctl, const struct ctl_args *args)
{
    struct ctl_holdcard hc = {0};
    const char *out_path = ctl_args_get(args, "out");
    bool der = ctl_args_has(args, "der");
    enum ca_kind slot;
    BIO *mem = NULL;
    struct jerr err = {0};
    char *data = NULL, p[256];
    long len;
    int rc;

    if (der && ctl_args_has(args, "pem"))
        return ctl_usage(ctl, "give --der or --pem, not both");
    if ((rc = ctl_card_parse_slot(ctl, args, &slot)) != CTL_EXIT_OK)
        return rc;
    if (der && out_path == NULL && isatty(fileno(ctl->out)))
        return ctl_usage(ctl, "--der writes binary: give -o FILE");
    if ((rc = ctl_holdcard_open(ctl, args, 1, &hc)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    X509 *cert = ctl_holdcard_cert(&hc, slot);
    if (cert == NULL) {
        ctl_fail(ctl, rc, "the card holds no %s certificate", ctl_card_slot_words(slot));
        goto out;
    }
    if ((mem = BIO_new(BIO_s_mem())) == NULL ||
        (der ? i2d_X509_bio(mem, cert) : PEM_write_bio_X509(mem, cert)) != 1 ||
        (len = BIO_get_mem_data(mem, &data)) <= 0) {
        ctl_fail(ctl, rc, "cannot encode the certificate");
        goto out;
    }
    if (out_path == NULL || strcmp(out_path, "-") == 0) {
        if (fwrite(data, 1, (size_t)len, ctl->out) != (size_t)len) {
            ctl_fail(ctl, rc, "cannot write the output");
            goto out;
        }
    } else {
        if (fsutil_write_atomic(out_path, data, (size_t)len, 0644, false, &err) == -1) {
            ctl_fail(ctl, rc, "cannot write %s: %s", ctl_out_shown(out_path, p, sizeof(p)),
                     err.msg);
            goto out;
        }
        fprintf(ctl->err, "the %s certificate (%s) written to %s\n", ctl_card_slot_words(slot),
                der ? "DER" : "PEM", ctl_out_shown(out_path, p, sizeof(p)));
    }
    rc = CTL_EXIT_OK;
out:
    ERR_clear_error();
    BIO_free(mem);
    ctl_holdcard_close(&hc);
    return rc;
}

/* The holder's birth date "YYYY-MM-DD" as the card's signing certificate states it, into
 * `out`; NULL when the card holds no signing certificate (an authentication certificate
 * carries no personal data) or its birth date does not decode. */
static const char *holder_birth_date(const struct ctl_holdcard *hc, char out[11])
{
    struct ctl_card_facts facts;
    struct jerr ignored = {0};
    X509 *sign = ctl_holdcard_cert(hc, CA_SIGN);
    if (sign == NULL || ctl_card_read_facts(sign, &facts, &ignored) == -1 ||
        !facts.birth_date_decoded)
        return NULL;
    memcpy(out, facts.birth_date, 11);
    return out;
}

int ctl_card_passwd(struct ctl *ctl, const struct ctl_args *args)
{
    char old_pw[CTL_PASSWORD_MAX + 1], new_pw[CTL_PASSWORD_MAX + 1], prompt[128], birth[11];
    struct ctl_holdcard hc = {0};
    struct jerr err = {0};
    enum ca_kind slot;
    int rc;

    memset(old_pw, 0, sizeof(old_pw));
    memset(new_pw, 0, sizeof(new_pw));
    if ((rc = ctl_card_parse_slot(ctl, args, &slot)) != CTL_EXIT_OK)
        return rc;
    if ((rc = ctl_holdcard_open(ctl, args, 1, &hc)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (hc.ct != NULL) {
        /* a token's PIN is the token's: no certificate needed, the token counts the try */
        snprintf(prompt, sizeof(prompt), "Current %s password: ", ctl_card_slot_words(slot));
    } else if (card_image_get0_cert(hc.ci, slot) == NULL) {
        ctl_fail(ctl, rc, "the card holds no %s certificate", ctl_card_slot_words(slot));
        goto out;
    } else if (card_image_is_locked(hc.ci, slot)) {
        ctl_fail(ctl, rc,
                 "the %s password is locked after too many wrong tries; it must be reset at the "
                 "municipal window",
                 ctl_card_slot_words(slot));
        goto out;
    } else {
        snprintf(prompt, sizeof(prompt),
                 "Current %s password (%d tries left): ", ctl_card_slot_words(slot),
                 card_image_tries_left(hc.ci, slot));
    }
    if ((rc = ctl_prompt_password(ctl, "old-file", ctl_args_get(args, "old-file"),
                                  CTL_CARD_ENV_PASSWORD, prompt, old_pw)) != CTL_EXIT_OK)
        goto out;
    if ((rc = ctl_prompt_new_password(ctl, slot, "new-file", ctl_args_get(args, "new-file"),
                                      CTL_CARD_ENV_NEW_PASSWORD, NULL, false, new_pw)) !=
        CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    /* RULE guide 4(7): not the holder's birth date, one repeated digit or a straight run;
     * checked before the old password is tried, so a refused new one costs no try */
    if (rules_check_password(new_pw, holder_birth_date(&hc, birth), "the new password", &err) ==
        -1) {
        ctl_fail(ctl, rc, "%s", err.msg);
        goto out;
    }
    if ((hc.ct != NULL
             ? cardtoken_change_pin(hc.ct, slot, old_pw, new_pw, &err)
             : card_image_change_password(hc.ci, hc.path, slot, old_pw, new_pw, &err)) == -1) {
        ctl_holdcard_refusal(ctl, slot, &err);
        goto out;
    }
    fprintf(ctl->out, "the %s password of %s ", ctl_card_slot_words(slot),
            hc.ct != NULL ? "token" : "card");
    ctl_out_put(ctl->out, hc.ct != NULL ? cardtoken_label(hc.ct) : card_image_id(hc.ci));
    fputs(" was changed\n", ctl->out);
    rc = CTL_EXIT_OK;
out:
    OPENSSL_cleanse(old_pw, sizeof(old_pw));
    OPENSSL_cleanse(new_pw, sizeof(new_pw));
    ctl_holdcard_close(&hc);
    return rc;
}

int ctl_card_check(struct ctl *ctl, const struct ctl_args *args)
{
    struct ctl_holdcard hc;
    struct ctl_http_reply reply = {0};
    json_t *served = NULL;
    time_t now = jclock_now();
    bool all_good = true;
    int rc, transport = 0;

    if (ctl->url == NULL || ctl->url[0] == '\0')
        return ctl_usage(ctl, "no service URL: give --url or set JPKI_URL");
    if ((rc = ctl_holdcard_open(ctl, args, 1, &hc)) != CTL_EXIT_OK) {
        ctl_holdcard_close(&hc);
        return rc;
    }
    for (int s = CA_SIGN; s <= CA_AUTH; s++) {
        enum ca_kind slot = (enum ca_kind)s;
        const char *ca = ca_kind_name(slot);
        X509 *cert = ctl_holdcard_cert(&hc, slot);
        X509 *root = ctl_holdcard_root(&hc, slot);
        char serial[2 * 20 + 8], until[32], words[128];
        struct ctl_rp_status st;
        time_t nb, na;

        if (cert == NULL) {
            fprintf(ctl->out, "%s certificate: none (the slot is empty)\n", ca);
            continue;
        }
        ctl_rp_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
        ctl_rp_time_text(X509_get0_notAfter(cert), until, sizeof(until));
        fprintf(ctl->out, "%s certificate %s: ", ca, serial);
        /* RFC 5280 §6.1.3 (a)(1): the certificate is the root's (its signature verifies) */
        if (root == NULL || X509_verify(cert, X509_get0_pubkey(root)) != 1) {
            ERR_clear_error();
            fputs("NOT issued by the card's root\n", ctl->out);
            all_good = false;
            continue;
        }
        enum ctl_card_validity v = ctl_card_cert_times(cert, &nb, &na) == 0
                                       ? ctl_card_validity_at(nb, na, now)
                                       : CTL_CARD_EXPIRED;
        if (v == CTL_CARD_EXPIRED || v == CTL_CARD_NOT_YET_VALID) {
            /* an expired certificate leaves the CRL (DESIGN §4): its status is its expiry */
            fprintf(ctl->out, "%s %s\n", v == CTL_CARD_EXPIRED ? "expired on" : "not valid before",
                    v == CTL_CARD_EXPIRED ? until : "its notBefore");
            all_good = false;
            continue;
        }
        fflush(ctl->out);
        int src = ctl_rp_cert_status(ctl, ca, cert, root, &st);
        if (src != CTL_EXIT_OK) {
            fputs("status unknown (no verified OCSP answer or CRL)\n", ctl->out);
            if (src == CTL_EXIT_TRANSPORT)
                transport++;
            all_good = false;
            continue;
        }
        ctl_card_status_words(&st, words, sizeof(words));
        fprintf(ctl->out, "%s (%s)\n", words, st.source);
        if (st.status != V_OCSP_CERTSTATUS_GOOD)
            all_good = false;
        /* guide 4(12): renewal is advice for a good certificate; a revoked or held one is
         * already out of use, and its status line says what it is */
        if (v == CTL_CARD_EXPIRING && st.status == V_OCSP_CERTSTATUS_GOOD)
            fprintf(ctl->out,
                    "  WARNING: it expires on %s (%ld days, less than %d months): "
                    "renew it at the municipal window\n",
                    until, ctl_card_days_left(na, now), CTL_CARD_WARN_MONTHS);
    }
    /* guide 4(11): the roots in the card against the fingerprints the service publishes */
    rc = ctl_request(ctl, "GET", "/ca/fingerprints", false, NULL, NULL, 0, &reply);
    if (rc == CTL_EXIT_TRANSPORT)
        transport++;
    if (rc == CTL_EXIT_OK && reply.status == 200)
        served = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (rc == CTL_EXIT_OK && !json_is_object(served)) {
        json_decref(served);
        served = NULL;
        ctl_fail(ctl, CTL_EXIT_FAILED, "GET /ca/fingerprints answered %ld without fingerprints",
                 reply.status);
    }
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        char fp[96];
        const char *name = ca_kind_name((enum ca_kind)ca);
        const char *theirs = ctl_out_str(json_object_get(served, name), "sha256");
        X509 *root = ctl_holdcard_root(&hc, (enum ca_kind)ca);
        if (root == NULL) {
            fprintf(ctl->out, "%s root: none in the card\n", name);
            all_good = false;
            continue;
        }
        ctl_card_fingerprint(root, fp);
        fprintf(ctl->out, "%s root %s: ", name, fp);
        if (served == NULL) {
            fputs("not compared (no answer from the service)\n", ctl->out);
            all_good = false;
        } else if (ctl_rp_fingerprint_served(served, name, fp)) {
            fputs("matches the fingerprint the service publishes\n", ctl->out);
        } else {
            fputs("MISMATCH: the service publishes ", ctl->out);
            ctl_out_put(ctl->out, theirs);
            fputc('\n', ctl->out);
            all_good = false;
        }
    }
    if (all_good) {
        fputs("all good\n", ctl->out);
        rc = CTL_EXIT_OK;
    } else {
        fputs("NOT all good\n", ctl->out);
        /* unreachable everywhere is a transport failure; anything else a failed check */
        rc = transport > 0 && served == NULL ? CTL_EXIT_TRANSPORT : CTL_EXIT_FAILED;
    }
    json_decref(served);
    ctl_http_reply_free(&reply);
    ctl_holdcard_close(&hc);
    return rc;
}
