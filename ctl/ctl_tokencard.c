/*
 * ctl_tokencard: see ctl_tokencard.h. Every PKCS#11 call is keystore/cardtoken's; this file
 * reads the PINs, talks to the service and says what happened. Order of an issuance onto a
 * token: everything local is checked and every key generated (so a wrong PIN or a full token
 * costs nothing at the service), then one API call, then the certificates and roots are
 * written; if that fails the certificates just issued are revoked, as for an image that cannot
 * be written (ctl_window_revoke_issued).
 */
#include "ctl/ctl_tokencard.h"

#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "keystore/cardtoken.h"
#include "ctl/ctl_card.h"
#include "ctl/ctl_holdcard.h"
#include "ctl/ctl_out.h"
#include "ctl/ctl_prompt.h"
#include "ctl/ctl_rp.h"
#include "ctl/ctl_window.h"

/* The PINs of the slots in `slots` (bits 1 << ca): from --passwords-file (JSON {"sign": …,
 * "auth": …}), else asked on the terminal — twice and checked by the card's rule when `new`.
 * pins[ca] (CTL_PASSWORD_MAX + 1 each) are the caller's to wipe. Returns an exit code. */
static int read_pins(struct ctl *ctl, const struct ctl_args *args, unsigned slots, bool new,
                     char pins[CA_KIND_COUNT][CTL_PASSWORD_MAX + 1])
{
    const char *file = ctl_args_get(args, "passwords-file");
    json_t *o = NULL;
    int rc = CTL_EXIT_OK;

    memset(pins, 0, CA_KIND_COUNT * (CTL_PASSWORD_MAX + 1));
    if (file != NULL && (rc = ctl_window_passwords_file(ctl, file, &o)) != CTL_EXIT_OK)
        return rc;
    for (int ca = 0; ca < CA_KIND_COUNT && rc == CTL_EXIT_OK; ca++) {
        enum ca_kind slot = (enum ca_kind)ca;
        if (!(slots & (1u << ca)))
            continue;
        if (o != NULL) {
            const char *v = json_string_value(json_object_get(o, ca_kind_name(slot)));
            if (v == NULL || strlen(v) > CTL_PASSWORD_MAX)
                rc = ctl_fail(ctl, CTL_EXIT_FAILED, "--passwords-file: no \"%s\" password",
                              ca_kind_name(slot));
            else
                memcpy(pins[ca], v, strlen(v) + 1);
        } else if (new) {
            rc = ctl_prompt_new_password(ctl, slot, "passwords-file", NULL, NULL, NULL, false,
                                         pins[ca]);
        } else {
            char prompt[96];
            snprintf(prompt, sizeof(prompt), "%s of the token: ",
                     slot == CA_SIGN ? "Signing password" : "Authentication PIN");
            rc = ctl_prompt_password(ctl, "passwords-file", NULL, NULL, prompt, pins[ca]);
        }
    }
    json_decref(o); /* holds the PINs: Jansson's copy is freed, not cleansed */
    if (rc != CTL_EXIT_OK)
        OPENSSL_cleanse(pins, CA_KIND_COUNT * (CTL_PASSWORD_MAX + 1));
    return rc;
}

int ctl_tokencard_init(struct ctl *ctl, const struct ctl_args *args)
{
    char pins[CA_KIND_COUNT][CTL_PASSWORD_MAX + 1], so_pin[CTL_PASSWORD_MAX + 1] = "";
    const char *module, *label;
    struct jerr err = {0};
    int rc;

    if ((rc = ctl_holdcard_token_args(ctl, args, &module, &label)) != CTL_EXIT_OK)
        return rc;
    if ((rc = ctl_prompt_password(ctl, "so-pin-file", ctl_args_get(args, "so-pin-file"), NULL,
                                  "Security officer PIN: ", so_pin)) != CTL_EXIT_OK)
        return rc;
    if ((rc = read_pins(ctl, args, (1u << CA_SIGN) | (1u << CA_AUTH), true, pins)) != CTL_EXIT_OK)
        goto out;
    /* cardtoken_init_card checks the card's rules again, before anything is written */
    if (cardtoken_init_card(module, label, so_pin, pins[CA_SIGN], pins[CA_AUTH], &err) == -1) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "%s%s",
                      strcmp(err.field, "password") == 0 ? "the card's PIN rule: " : "", err.msg);
        goto out;
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        char token_label[CARDTOKEN_LABEL_BYTES + 1];
        cardtoken_token_label(label, (enum ca_kind)ca, token_label);
        fputs("token ", ctl->out);
        ctl_out_put(ctl->out, token_label);
        fprintf(ctl->out, ": initialised, the %s PIN set\n",
                ca == CA_SIGN ? "signing" : "authentication");
    }
    rc = CTL_EXIT_OK;
out:
    OPENSSL_cleanse(pins, sizeof(pins));
    OPENSSL_cleanse(so_pin, sizeof(so_pin));
    return rc;
}

/* The PEM of a request. */
static json_t *csr_pem(X509_REQ *csr)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    json_t *s = NULL;
    if (mem != NULL && PEM_write_bio_X509_REQ(mem, csr) == 1 &&
        (len = BIO_get_mem_data(mem, &data)) > 0)
        s = json_stringn(data, (size_t)len);
    BIO_free(mem);
    ERR_clear_error();
    return s;
}

/* Writes one issued certificate of the answer (`c`: {"ca", "pem", …}) onto its slot's token,
 * and the root the service serves for it (its issuer, fingerprint checked) beside it. Returns
 * an exit code. */
static int store_issued(struct ctl *ctl, struct cardtoken *ct, const json_t *c)
{
    const char *pem = ctl_out_str(c, "pem"), *ca = ctl_out_str(c, "ca"), *ca_name = NULL;
    struct jerr err = {0};
    enum ca_kind slot;
    X509 *cert = NULL, *root = NULL;
    BIO *bio = NULL;
    int rc = CTL_EXIT_FAILED;

    if (pem == NULL || ca == NULL || ca_kind_parse(ca, &slot) == -1 ||
        (bio = BIO_new_mem_buf(pem, -1)) == NULL ||
        (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
        ERR_clear_error();
        ctl_fail(ctl, rc, "the answer holds a certificate that does not decode");
        goto out;
    }
    if ((rc = ctl_rp_served_issuer(ctl, cert, &root, &ca_name)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (strcmp(ca_name, ca) != 0) {
        ctl_fail(ctl, rc, "the %s certificate is issued by the %s CA", ca, ca_name);
        goto out;
    }
    if (cardtoken_store_cert(ct, slot, cert, &err) == -1 ||
        cardtoken_store_root(ct, slot, root, &err) == -1) {
        ctl_fail(ctl, rc, "%s", err.msg);
        goto out;
    }
    rc = CTL_EXIT_OK;
out:
    X509_free(root);
    X509_free(cert);
    BIO_free(bio);
    return rc;
}

/* The key spec the token generates for `slot`: the one its CA certifies (keyalg_for_subscriber
 * of the key of the root the service serves: an ECDSA CA's curve, else RSA-2048). Returns an
 * exit code. */
static int slot_keyalg(struct ctl *ctl, enum ca_kind slot, struct keyalg *out)
{
    X509 *root = NULL;
    struct keyalg ca_alg;
    struct jerr err = {0};
    int rc = ctl_rp_ca_cert(ctl, ca_kind_name(slot), NULL, &root);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (keyalg_of_key(X509_get0_pubkey(root), "ca", &ca_alg, &err) == -1)
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the %s CA's root: %s", ca_kind_name(slot), err.msg);
    else
        *out = keyalg_for_subscriber(&ca_alg, CARDTOKEN_KEY_BITS);
    X509_free(root);
    return rc;
}

int ctl_tokencard_issue(struct ctl *ctl, const struct ctl_args *args)
{
    static const char *const image_only[] = {"sign-csr", "auth-csr", "pin-letter", "out"};
    char pins[CA_KIND_COUNT][CTL_PASSWORD_MAX + 1], path[CTL_PATH_MAX];
    const char *card_id = args->pos[0];
    struct cardtoken *ct = NULL;
    json_t *body = NULL, *keys = NULL, *answer = NULL;
    struct jerr err = {0};
    int which = ctl_window_which(ctl_args_get(args, "certs")), rc;

    memset(pins, 0, sizeof(pins));
    if (which == -1)
        return ctl_usage(ctl, "--certs must be sign, auth or both");
    for (size_t i = 0; i < sizeof(image_only) / sizeof(image_only[0]); i++)
        if (ctl_args_has(args, image_only[i]))
            return ctl_usage(ctl,
                             "--%s is for a card image: onto a token the keys are generated "
                             "there and the certificates written there",
                             image_only[i]);
    if (ctl_path(path, sizeof(path), "/v1/cards/", card_id, "/issue") == -1)
        return ctl_usage(ctl, "the id is too long");
    if ((rc = ctl_holdcard_open_token(ctl, args, &ct)) != CTL_EXIT_OK)
        goto out;
    if ((rc = read_pins(ctl, args, (unsigned)which, false, pins)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if ((body = json_pack("{s:s}", "certificates", ctl_args_get(args, "certs"))) == NULL ||
        (keys = json_object()) == NULL) {
        ctl_fail(ctl, rc, "out of memory");
        goto out;
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        enum ca_kind slot = (enum ca_kind)ca;
        X509_REQ *csr = NULL;
        struct keyalg alg;
        if (!(which & (1 << ca)))
            continue;
        if ((rc = slot_keyalg(ctl, slot, &alg)) != CTL_EXIT_OK)
            goto out;
        rc = CTL_EXIT_FAILED;
        /* the token generates the pair; its public key leaves only inside a CSR it signed */
        if (cardtoken_login(ct, slot, pins[ca], &err) == -1 ||
            cardtoken_generate(ct, slot, &alg, card_id, &csr, &err) == -1) {
            ctl_holdcard_refusal(ctl, slot, &err);
            goto out;
        }
        int set = json_object_set_new(keys, ca_kind_name(slot), csr_pem(csr));
        X509_REQ_free(csr);
        if (set == -1) {
            ctl_fail(ctl, rc, "cannot encode the certificate request");
            goto out;
        }
    }
    if (json_object_set(body, "public_keys", keys) == -1) {
        ctl_fail(ctl, rc, "out of memory");
        goto out;
    }
    if ((rc = ctl_api(ctl, "POST", path, body, &answer)) != CTL_EXIT_OK)
        goto out;
    FILE *f = ctl->json ? ctl->err : ctl->out; /* --json keeps the output pure JSON */
    const json_t *certs = json_object_get(answer, "certificates"), *c;
    size_t i;
    json_array_foreach(certs, i, c)
    {
        if ((rc = store_issued(ctl, ct, c)) != CTL_EXIT_OK) {
            ctl_fail(ctl, rc,
                     "the certificates were issued, but cannot be written onto the token: "
                     "they are revoked");
            ctl_window_revoke_issued(ctl, certs);
            goto out;
        }
        ctl_window_print_issued(f, c);
    }
    fputs("superseded: ", f);
    ctl_out_list(f, answer, "superseded");
    fputs("\nwritten onto the token ", f);
    ctl_out_put(f, cardtoken_label(ct));
    fputs(": the keys (generated there, never out of it), the certificates and the roots\n", f);
    rc = CTL_EXIT_OK;
out:
    OPENSSL_cleanse(pins, sizeof(pins));
    json_decref(answer);
    json_decref(keys);
    json_decref(body);
    cardtoken_free(ct);
    return rc;
}
