/*
 * cardapi: the card image in the operator API (docs/API.md, docs/CARD.md) — what an issuance
 * returns (POST /v1/cards/{id}/issue: optional "passwords" in, "card_image" out) and the
 * municipal window's password reset (POST /v1/cards/{id}/reset-password).
 *
 * The image of an issuance is built inside the issuance's own transaction (a before_commit
 * hook placed before the API's audit hook): the certificates commit only with their keys
 * written onto an image, so a failure leaves nothing issued whose private key is lost. The
 * generated key pairs are freed (wiped) with the issue result; neither the registry nor the
 * service keeps them. Passwords — given or generated — are never logged, audited or stored;
 * generated ones appear once, in the answer ("initial_passwords").
 *
 * Not wiped: the copies of the request body and of the answer text that the API frame (api.c)
 * and Jansson hold until the call ends; they are freed, not cleansed.
 */
#ifndef JPKI_CARDAPI_H
#define JPKI_CARDAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "ca/cardissue.h"
#include "ca/lifecycle.h"
#include "base/jerr.h"
#include "responder/api/api.h"

/* The state of one issuance's card image (ops.c's card_issue holds it on its stack). */
struct cardapi_issue {
    struct api_call *call;
    unsigned slots;                /* slots the image holds: generated key pairs (1 << ca) */
    unsigned supplied;             /* requested certificates whose public key was supplied */
    struct cardissue_passwords pw; /* SECRET: wiped by cardapi_issue_end */
    struct card_image *base;       /* the holder's current image to update, or NULL: a new one */
    unsigned kept;                 /* slots of `base` kept as they were (1 << ca) */
    unsigned char *image;          /* the image's bytes, built before the commit */
    size_t image_len;
    /* The hook this one runs after building the image (the API's audit hook). */
    int (*next)(void *arg, struct store *st, const void *result, struct jerr *err);
    void *next_arg;
};

/* Reads the optional "passwords" member of an issue request ({"sign": "...", "auth": "..."},
 * exactly those strings) for the certificates `which` asks for, keys[ca] being the supplied
 * public keys (NULL: generated). A password outside the card's rule, or given for a slot that
 * is not written (not requested, or its key supplied), or one easy to guess (the holder's
 * birth date, a repeated digit, a straight run: rules_check_password) is JERR_INVALID
 * "passwords.sign" / "passwords.auth"; missing ones are generated. `current` is the optional
 * "card_image" member (base64 of the holder's image): the new slots are then written into it
 * and its other slot kept (cardissue_image_current checks it; JERR_INVALID "card_image", also
 * when a public key is supplied). Before any key generation. Returns 0 or -1; call
 * cardapi_issue_end in both cases. */
int cardapi_issue_begin(struct cardapi_issue *ci, struct api_call *call, const json_t *passwords,
                        const json_t *current, int which, EVP_PKEY *const keys[CA_KIND_COUNT],
                        struct jerr *err);

/* Makes `ctx` (from api_lifecycle_ctx) build the image inside the issuance's transaction, then
 * run its own hook. `ci` must outlive the lifecycle call. */
void cardapi_issue_hook(struct cardapi_issue *ci, struct lifecycle_ctx *ctx);

/* Adds to the issuance's answer: "card_image" (base64 of the image, or null when every key was
 * supplied), "card_image_slots" (["sign","auth"]: the slots written now), "card_image_kept"
 * (the slots of the sent image kept as they were), "initial_passwords" (only the generated
 * ones, only here) and, when a slot is not written, "card_image_notice". Returns 0 or -1. */
int cardapi_issue_answer(struct cardapi_issue *ci, json_t *answer, struct jerr *err);

/* Wipes the passwords and frees the image bytes and the current image. */
void cardapi_issue_end(struct cardapi_issue *ci);

/* The window's endpoint (POST /v1/cards/{id}/reset-password). Returns 0 or -1. */
int cardapi_add_endpoints(struct api *api, struct jerr *err);

#endif
