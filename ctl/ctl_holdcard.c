/*
 * ctl_holdcard: see ctl_holdcard.h. An image is loaded whole (ctl_card_load_image); a token is
 * opened through keystore/cardtoken, which alone speaks PKCS#11. A PIN read here lives in a
 * stack buffer for the login and is wiped at once.
 */
#include "ctl/ctl_holdcard.h"

#include <string.h>

#include <openssl/crypto.h>

#include "keystore/card.h"
#include "keystore/cardtoken.h"
#include "ctl/ctl_card.h"
#include "ctl/ctl_out.h"
#include "ctl/ctl_prompt.h"

bool ctl_holdcard_is_token(const struct ctl_args *args)
{
    return ctl_args_has(args, "pkcs11") || ctl_args_has(args, "token");
}

int ctl_holdcard_token_args(struct ctl *ctl, const struct ctl_args *args, const char **module,
                            const char **label)
{
    *module = ctl_args_get(args, "pkcs11");
    *label = ctl_args_get(args, "token");
    if (*module == NULL || (*module)[0] == '\0' || *label == NULL || (*label)[0] == '\0')
        return ctl_usage(ctl, "a card on a token needs both --pkcs11 MODULE and --token LABEL");
    return CTL_EXIT_OK;
}

int ctl_holdcard_open_token(struct ctl *ctl, const struct ctl_args *args, struct cardtoken **out)
{
    const char *module, *label;
    struct jerr err = {0};
    int rc;

    *out = NULL;
    if ((rc = ctl_holdcard_token_args(ctl, args, &module, &label)) != CTL_EXIT_OK)
        return rc;
    if ((*out = cardtoken_open(module, label, &err)) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
    return CTL_EXIT_OK;
}

int ctl_holdcard_open(struct ctl *ctl, const struct ctl_args *args, size_t image_pos,
                      struct ctl_holdcard *hc)
{
    memset(hc, 0, sizeof(*hc));
    if (ctl_holdcard_is_token(args)) {
        if (args->pos_count != image_pos - 1)
            return ctl_usage(ctl, "give a card image or --pkcs11 MODULE --token LABEL, not both");
        hc->next_pos = 0;
        return ctl_holdcard_open_token(ctl, args, &hc->ct);
    }
    if (args->pos_count != image_pos)
        return ctl_usage(ctl, "give the card: a card image file, or --pkcs11 MODULE --token "
                              "LABEL");
    hc->path = args->pos[0];
    hc->next_pos = 1;
    return ctl_card_load_image(ctl, hc->path, &hc->ci);
}

void ctl_holdcard_close(struct ctl_holdcard *hc)
{
    card_image_free(hc->ci);
    cardtoken_free(hc->ct);
    hc->ci = NULL;
    hc->ct = NULL;
}

X509 *ctl_holdcard_cert(const struct ctl_holdcard *hc, enum ca_kind slot)
{
    return hc->ct != NULL ? cardtoken_get0_cert(hc->ct, slot) : card_image_get0_cert(hc->ci, slot);
}

X509 *ctl_holdcard_root(const struct ctl_holdcard *hc, enum ca_kind ca)
{
    return hc->ct != NULL ? cardtoken_get0_root(hc->ct, ca) : card_image_get0_root(hc->ci, ca);
}

void ctl_holdcard_print_header(FILE *f, const struct ctl_holdcard *hc)
{
    if (hc->ct != NULL) {
        fputs("token ", f);
        ctl_out_put(f, cardtoken_label(hc->ct));
        fputs(" (PKCS#11)\n", f);
        return;
    }
    fputs("card ", f);
    ctl_out_put(f, card_image_id(hc->ci));
    fprintf(f, "  expiry %s\n", card_image_expiry(hc->ci));
}

void ctl_holdcard_print_pin(FILE *f, const struct ctl_holdcard *hc, enum ca_kind slot)
{
    char line[200];
    int max = slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES;
    if (hc->ct != NULL) {
        unsigned st = cardtoken_pin_state(hc->ct, slot);
        /* the token keeps the count (a real card 5 / 3; SoftHSM2 none): only its flags show */
        if (st & CARDTOKEN_PIN_LOCKED)
            snprintf(line, sizeof(line), "LOCKED by the token: have it reset at the window");
        else if (st & CARDTOKEN_PIN_FINAL_TRY)
            snprintf(line, sizeof(line), "1 try left before the token locks it");
        else if (st & CARDTOKEN_PIN_COUNT_LOW)
            snprintf(line, sizeof(line), "wrong tries recorded; few left (counted by the token)");
        else
            snprintf(line, sizeof(line), "wrong tries counted by the token, none reported");
    } else if (card_image_is_locked(hc->ci, slot)) {
        snprintf(line, sizeof(line),
                 "LOCKED after %d wrong tries: have it reset at the municipal window", max);
    } else {
        snprintf(line, sizeof(line), "%d of %d tries left", card_image_tries_left(hc->ci, slot),
                 max);
    }
    fprintf(f, "  %-13s %s\n", "password:", line);
}

int ctl_holdcard_refusal(struct ctl *ctl, enum ca_kind slot, const struct jerr *err)
{
    if (err->code == JERR_FORBIDDEN && strcmp(err->field, "password") == 0)
        /* RULE guide 4(8): a locked password is reset at the municipal window */
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "%s; the %s password must be reset at the municipal window", err->msg,
                        ctl_card_slot_words(slot));
    if (err->code == JERR_NOT_FOUND && strcmp(err->field, "slot") == 0)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the card holds no %s certificate",
                        ctl_card_slot_words(slot));
    return ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err->msg);
}

int ctl_holdcard_token_login(struct ctl *ctl, const struct ctl_args *args, struct cardtoken *ct,
                             enum ca_kind slot)
{
    char pin[CTL_PASSWORD_MAX + 1], prompt[160];
    const char *file = ctl_args_get(args, "pin-file");
    const char *opt = "pin-file";
    struct jerr err = {0};
    int rc;

    if (file == NULL && (file = ctl_args_get(args, "password-file")) != NULL)
        opt = "password-file";
    snprintf(prompt, sizeof(prompt),
             "%s of token \"%s\": ", slot == CA_SIGN ? "Signing password" : "Authentication PIN",
             cardtoken_label(ct));
    if ((rc = ctl_prompt_password(ctl, opt, file, CTL_CARD_ENV_PASSWORD, prompt, pin)) !=
        CTL_EXIT_OK)
        goto out;
    if (cardtoken_login(ct, slot, pin, &err) == -1)
        rc = ctl_holdcard_refusal(ctl, slot, &err);
out:
    OPENSSL_cleanse(pin, sizeof(pin));
    return rc;
}

int ctl_holdcard_key(struct ctl *ctl, const struct ctl_args *args, struct ctl_holdcard *hc,
                     enum ca_kind slot, EVP_PKEY **key)
{
    struct jerr err = {0};
    int rc;

    *key = NULL;
    if (hc->ct == NULL)
        return ctl_card_unlock(ctl, args, hc->ci, hc->path, slot, key);
    if (!cardtoken_is_logged_in(hc->ct, slot) &&
        (rc = ctl_holdcard_token_login(ctl, args, hc->ct, slot)) != CTL_EXIT_OK)
        return rc;
    if ((*key = cardtoken_get_key(hc->ct, slot, &err)) == NULL)
        return ctl_holdcard_refusal(ctl, slot, &err);
    return CTL_EXIT_OK;
}
