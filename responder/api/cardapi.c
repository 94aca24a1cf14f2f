/*
 * cardapi: see cardapi.h. The card work itself (images, passwords, the administration key) is
 * ca/cardissue.c's, the password reset's transaction ca/cardreset.c's; this file maps requests
 * and answers to JSON.
 */
#include "responder/api/cardapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/b64.h"
#include "ca/cardreset.h"
#include "ca/recjson.h"

/* RFC 4648 §4 base64 of the string `v` of member `name` (line breaks tolerated) into *out
 * (OPENSSL_clear_free). */
static int base64_value(const json_t *v, const char *name, unsigned char **out, size_t *out_len,
                        struct jerr *err)
{
    if (v == NULL || !json_is_string(v))
        return jerr_set(err, JERR_INVALID, name, "%s: required, the image as base64 text", name);
    size_t len = json_string_length(v);
    if (len == 0 || len > JPKI_HTTP_MAX_API_BODY_BYTES)
        return jerr_set(err, JERR_INVALID, name, "%s: empty or too long", name);
    int rc = b64_decode(json_string_value(v), len, out, out_len);
    if (rc == -2)
        return api_oom(err);
    if (rc == -1)
        return jerr_set(err, JERR_INVALID, name, "%s: not base64", name);
    return 0;
}

/* ---- the issuance's image ---- */

/* The optional current image of a re-issue: decoded, checked, kept in ci->base. */
static int issue_current_image(struct cardapi_issue *ci, const json_t *v, struct jerr *err)
{
    unsigned char *raw = NULL;
    size_t raw_len = 0;

    if (v == NULL || json_is_null(v))
        return 0;
    if (ci->supplied != 0)
        return jerr_set(err, JERR_INVALID, "card_image",
                        "card_image: cannot be combined with public_keys (a supplied key has no "
                        "private key to write on the card)");
    if (base64_value(v, "card_image", &raw, &raw_len, err) == -1)
        return -1;
    ci->kept = ((1u << CA_KIND_COUNT) - 1) & ~ci->slots;
    ci->base = cardissue_image_current(ci->call->st, ci->call->id, raw, raw_len, ci->kept, err);
    OPENSSL_clear_free(raw, raw_len);
    if (ci->base == NULL)
        return -1;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (card_image_get0_cert(ci->base, (enum ca_kind)ca) == NULL)
            ci->kept &= ~(1u << (unsigned)ca);
    return 0;
}

int cardapi_issue_begin(struct cardapi_issue *ci, struct api_call *call, const json_t *passwords,
                        const json_t *current, int which, EVP_PKEY *const keys[CA_KIND_COUNT],
                        struct jerr *err)
{
    static const char *const allowed[] = {"sign", "auth", NULL};

    memset(ci, 0, sizeof(*ci));
    ci->call = call;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (!(which & (1 << ca)))
            continue;
        if (keys[ca] != NULL)
            ci->supplied |= 1u << (unsigned)ca;
        else
            ci->slots |= 1u << (unsigned)ca;
    }
    if (passwords != NULL && !json_is_null(passwords)) {
        if (!json_is_object(passwords))
            return jerr_set(err, JERR_INVALID, "passwords",
                            "passwords: must be an object {\"sign\": \"...\", \"auth\": \"...\"}");
        if (recjson_only_fields(passwords, "passwords.", allowed, err) == -1)
            return -1;
        for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
            const char *name = ca_kind_name((enum ca_kind)ca);
            if (recjson_string(passwords, "passwords.", name, false, ci->pw.value[ca],
                               sizeof(ci->pw.value[ca]), err) == -1)
                return -1;
            /* "" is a password outside the rule, not a request to generate one. */
            const json_t *v = json_object_get(passwords, name);
            struct jerr rule = {0};
            if (json_is_string(v) && ci->pw.value[ca][0] == '\0' &&
                card_image_check_password((enum ca_kind)ca, "", &rule) == -1)
                return jerr_set(err, JERR_INVALID,
                                ca == CA_SIGN ? "passwords.sign" : "passwords.auth",
                                "passwords.%s: %s", name, rule.msg);
        }
    }
    /* RULE guide 4(7): the holder's birth date is what a guesser tries first. */
    struct card card;
    struct person holder;
    if (store_card_get(call->st, call->id, &card, err) == -1 ||
        store_person_get(call->st, card.person_id, &holder, err) == -1 ||
        cardissue_passwords_fill(&ci->pw, ci->slots, holder.birth_date, "passwords.", err) == -1)
        return -1;
    return issue_current_image(ci, current, err);
}

/* Inside the issuance's transaction: the image first, then the API's audit row. */
static int issue_before_commit(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct cardapi_issue *ci = arg;
    const struct issue_result *res = result;

    if (ci->slots != 0 && ci->base != NULL) {
        /* a re-issue: the new slots into the holder's image, the other slot kept */
        if (cardissue_image_update(ci->call->pki, ci->base, res, &ci->pw, err) == -1 ||
            cardissue_image_encode(ci->call->pki, ci->base, &ci->image, &ci->image_len, err) == -1)
            return -1;
    } else if (ci->slots != 0 && cardissue_image_bytes(ci->call->pki, st, res, &ci->pw, &ci->image,
                                                       &ci->image_len, err) == -1) {
        return -1;
    }
    return ci->next != NULL ? ci->next(ci->next_arg, st, result, err) : 0;
}

void cardapi_issue_hook(struct cardapi_issue *ci, struct lifecycle_ctx *ctx)
{
    ci->next = ctx->before_commit;
    ci->next_arg = ctx->before_commit_arg;
    ctx->before_commit = issue_before_commit;
    ctx->before_commit_arg = ci;
}

int cardapi_issue_answer(struct cardapi_issue *ci, json_t *answer, struct jerr *err)
{
    json_t *slots = json_array(), *kept = json_array(), *generated = json_object();
    char notice[256] = "";
    int rc = -1;

    if (slots == NULL || kept == NULL || generated == NULL)
        goto fail;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        const char *name = ca_kind_name((enum ca_kind)ca);
        if ((ci->slots & (1u << (unsigned)ca)) &&
            json_array_append_new(slots, json_string(name)) != 0)
            goto fail;
        if ((ci->kept & (1u << (unsigned)ca)) &&
            json_array_append_new(kept, json_string(name)) != 0)
            goto fail;
        if (ci->pw.generated[ca] &&
            json_object_set_new(generated, name, json_string(ci->pw.value[ca])) != 0)
            goto fail;
        if (ci->supplied & (1u << (unsigned)ca)) {
            size_t used = strlen(notice);
            snprintf(notice + used, sizeof(notice) - used,
                     "%sThe %s slot is not written: its public key was supplied, so the service "
                     "holds no private key for it.",
                     used > 0 ? " " : "", name);
        }
    }
    json_t *image = ci->image != NULL ? recjson_base64(ci->image, ci->image_len) : json_null();
    if (json_object_set_new(answer, "card_image", image) != 0 ||
        json_object_set(answer, "card_image_slots", slots) != 0 ||
        (ci->base != NULL && json_object_set(answer, "card_image_kept", kept) != 0))
        goto fail;
    /* Shown once, here; never logged or stored (docs/API.md). */
    if (json_object_size(generated) > 0 &&
        json_object_set(answer, "initial_passwords", generated) != 0)
        goto fail;
    if (notice[0] != '\0' &&
        json_object_set_new(answer, "card_image_notice", json_string(notice)) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    api_oom(err);
out:
    json_decref(slots);
    json_decref(kept);
    json_decref(generated);
    return rc;
}

void cardapi_issue_end(struct cardapi_issue *ci)
{
    cardissue_passwords_wipe(&ci->pw);
    card_image_free(ci->base);
    ci->base = NULL;
    if (ci->image != NULL)
        OPENSSL_clear_free(ci->image, ci->image_len);
    ci->image = NULL;
    ci->image_len = 0;
}

/* ---- the window's password reset (guide 4(8)) ---- */

/* The audit row of the reset itself: the card and the slot, never a password. */
static int card_reset_password(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"slot", "new_password", "card_image", NULL};
    char slot_text[8], password[CARDISSUE_PASSWORD_MAX + 1] = "";
    unsigned char *image = NULL, *reset = NULL;
    size_t image_len = 0, reset_len = 0;
    enum ca_kind slot;
    int rc = -1;

    if (recjson_only_fields(call->body, "", allowed, err) == -1 ||
        recjson_string(call->body, "", "slot", true, slot_text, sizeof(slot_text), err) == -1)
        goto out;
    if (ca_kind_parse(slot_text, &slot) == -1) {
        jerr_set(err, JERR_INVALID, "slot", "slot: must be sign or auth");
        goto out;
    }
    if (recjson_string(call->body, "", "new_password", true, password, sizeof(password), err) ==
            -1 ||
        base64_value(json_object_get(call->body, "card_image"), "card_image", &image, &image_len,
                     err) == -1)
        goto out;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (cardreset_password(&ctx, call->id, image, image_len, slot, password, &reset, &reset_len,
                           err) == -1)
        goto out;
    rc = api_answer(call,
                    json_pack("{s:s, s:s, s:i, s:o}", "card_id", call->id, "slot",
                              ca_kind_name(slot), "tries_left",
                              slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES,
                              "card_image", recjson_base64(reset, reset_len)),
                    err);
out:
    OPENSSL_cleanse(password, sizeof(password));
    OPENSSL_clear_free(image, image_len);
    if (reset != NULL)
        OPENSSL_cleanse(reset, reset_len);
    free(reset);
    return rc;
}

int cardapi_add_endpoints(struct api *api, struct jerr *err)
{
    const struct api_endpoint ep = {
        .method = EVHTTP_REQ_POST,
        .path = "/v1/cards/{id}/reset-password",
        .roles = OPERATOR_ROLES_LIFECYCLE,
        .body = API_BODY_JSON,
        .status = 200,
        .run = card_reset_password,
    };
    return api_add_endpoint(api, &ep, err);
}
