/*
 * ctl_holdcard: the card a holder's command works on — a card image file (keystore/card.h, the
 * default: the positional IMAGE) or a PKCS#11 token (keystore/cardtoken.h: --pkcs11 MODULE
 * --token LABEL). The card commands (ctl_card.c, ctl_sign.c) read certificates and roots and
 * get the signing key through here, and never ask which of the two it is, except to print
 * what only one has (an image's id, expiry and counters; a token's PIN state).
 *
 * PINs and passwords come from --pin-file (or its older name --password-file), else
 * $JPKI_CARD_PASSWORD, else the terminal without echo (ctl_prompt.h). An image counts the try
 * on disk before it answers; a token counts it itself (docs/CARD.md "Lockout is the token's").
 */
#ifndef JPKI_CTL_HOLDCARD_H
#define JPKI_CTL_HOLDCARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "ctl/ctl.h"
#include "ctl/ctl_args.h"

struct card_image;
struct cardtoken;

struct ctl_holdcard {
    struct card_image *ci; /* an image, or NULL */
    const char *path;      /* the image's path (argv) */
    struct cardtoken *ct;  /* a token, or NULL */
    size_t next_pos;       /* the index of the command's first positional after the card */
};

/* The options of a token, for a command's option table. */
#define CTL_HOLDCARD_TOKEN_OPTS                                                                    \
    {"pkcs11", 0, "MODULE", false, "a card on a PKCS#11 token: the module (.so)"},                 \
    {                                                                                              \
        "token", 0, "LABEL", false, "the card's label (its tokens: \"LABEL (… PIN)\")"           \
    }

/* True when --pkcs11 or --token is given. */
bool ctl_holdcard_is_token(const struct ctl_args *args);

/* The module and card label of a token command into *module and *label: both must be given
 * (a usage error otherwise). Returns an exit code. */
int ctl_holdcard_token_args(struct ctl *ctl, const struct ctl_args *args, const char **module,
                            const char **label);

/* Opens the card a command names. `image_pos` is the number of positionals the command takes
 * with an image (IMAGE first): with a token, IMAGE is left out, so one fewer is expected (a
 * usage error otherwise, naming both forms). Returns an exit code; on CTL_EXIT_OK `hc` is to be
 * closed with ctl_holdcard_close. */
int ctl_holdcard_open(struct ctl *ctl, const struct ctl_args *args, size_t image_pos,
                      struct ctl_holdcard *hc);

/* Opens a token card (ctl_holdcard_token_args, then cardtoken_open) into *out; the module's
 * sentence on failure. Returns an exit code. */
int ctl_holdcard_open_token(struct ctl *ctl, const struct ctl_args *args, struct cardtoken **out);

void ctl_holdcard_close(struct ctl_holdcard *hc);

/* The slot's certificate and a CA's root (borrowed; NULL when the card has none). */
X509 *ctl_holdcard_cert(const struct ctl_holdcard *hc, enum ca_kind slot);
X509 *ctl_holdcard_root(const struct ctl_holdcard *hc, enum ca_kind ca);

/* "card ID  expiry DATE" or "token LABEL (PKCS#11)" and a newline, sanitized. */
void ctl_holdcard_print_header(FILE *f, const struct ctl_holdcard *hc);

/* The slot's password line: an image's tries left, or what the token reports of its PIN. */
void ctl_holdcard_print_pin(FILE *f, const struct ctl_holdcard *hc, enum ca_kind slot);

/* Logs in to the token of `slot` with the PIN from --pin-file / --password-file /
 * $JPKI_CARD_PASSWORD / the terminal (prompt names the slot). Returns an exit code. */
int ctl_holdcard_token_login(struct ctl *ctl, const struct ctl_args *args, struct cardtoken *ct,
                             enum ca_kind slot);

/* The slot's private key: an image's unlocked with its password (ctl_card_unlock), a token's
 * after its PIN (the key stays on the token and signs there). Returns an exit code; *key is the
 * caller's, to be freed before ctl_holdcard_close. */
int ctl_holdcard_key(struct ctl *ctl, const struct ctl_args *args, struct ctl_holdcard *hc,
                     enum ca_kind slot, EVP_PKEY **key);

/* The refusal of a card (wrong PIN or password, locked, empty slot) in words with what to do,
 * printed; returns CTL_EXIT_FAILED. */
int ctl_holdcard_refusal(struct ctl *ctl, enum ca_kind slot, const struct jerr *err);

#endif
