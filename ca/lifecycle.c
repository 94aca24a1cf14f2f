/*
 * lifecycle: the events of DESIGN §4, each one registry transaction (see lifecycle.h).
 *
 * Shape of every event: validate ids, open the transaction (BEGIN IMMEDIATE, so the state the
 * rules see cannot change under us), read fresh state, ask rules.c, apply the changes, append
 * one audit row per certificate touched and one for the event, commit. A refusal rolls back
 * and is audited in its own transaction. Issuance does its slow part (key generation,
 * signing) before the transaction and checks the rules both before and inside it.
 */
#include "ca/lifecycle.h"
#include "ca/linkage.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>

#include "ca/profile.h"
#include "ca/rules.h"
#include "ca/validity.h"
#include "base/jclock.h"
#include "keystore/keygen.h"

/* Attempts at a fresh random serial before giving up: a collision of 126 random bits is not
 * expected in the lifetime of the universe, so a second failure means a broken CSPRNG. */
#define LIFECYCLE_SERIAL_TRIES 4

typedef bool (*cert_rule_fn)(const struct cert_rec *c, enum cert_status *status, int *reason);

void serial_list_free(struct serial_list *l)
{
    if (l == NULL)
        return;
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int serial_list_push(struct serial_list *l, const char *serial, struct jerr *err)
{
    if (l == NULL)
        return 0;
    void *grown = realloc(l->items, (l->count + 1) * sizeof(*l->items));
    if (grown == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    l->items = grown;
    snprintf(l->items[l->count++], sizeof(l->items[0]), "%s", serial);
    return 0;
}

void issue_result_free(struct issue_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->certs[i].der);
        EVP_PKEY_free(r->certs[i].key); /* OpenSSL clears private key material on free */
    }
    serial_list_free(&r->superseded);
    memset(r, 0, sizeof(*r));
}

/* Appends an audit row; `detail` is printf-style and must never carry personal data. */
static int audit(struct lifecycle_ctx *ctx, const char *action, const char *target,
                 const char *outcome, struct jerr *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int audit(struct lifecycle_ctx *ctx, const char *action, const char *target,
                 const char *outcome, struct jerr *err, const char *fmt, ...)
{
    struct audit_entry e = {.at = jclock_now()};
    snprintf(e.actor, sizeof(e.actor), "%s", ctx->actor != NULL ? ctx->actor : "system");
    snprintf(e.action, sizeof(e.action), "%s", action);
    snprintf(e.target, sizeof(e.target), "%s", target);
    snprintf(e.outcome, sizeof(e.outcome), "%s", outcome);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.detail, sizeof(e.detail), fmt, ap);
    va_end(ap);
    return store_audit_append(ctx->st, &e, err);
}

/* Ends an event: commits with its audit row (and the caller's before_commit hook) when it
 * succeeded, else rolls back and records the refusal (or error) in a transaction of its own.
 * Returns rc. */
static int event_end_with(struct lifecycle_ctx *ctx, int rc, const char *action, const char *target,
                          const void *result, struct jerr *err)
{
    if (rc == 0) {
        if (audit(ctx, action, target, "ok", err, "-") == 0 &&
            (ctx->before_commit == NULL ||
             ctx->before_commit(ctx->before_commit_arg, ctx->st, result, err) == 0) &&
            store_commit(ctx->st, err) == 0)
            return 0;
        rc = -1;
    }
    store_rollback(ctx->st);
    const char *outcome =
        err != NULL && (err->code == JERR_REFUSED || err->code == JERR_NOT_FOUND ||
                        err->code == JERR_INVALID || err->code == JERR_CONFLICT)
            ? "refused"
            : "error";
    struct jerr ignored = {0}; /* the first error stays the caller's */
    audit(ctx, action, target, outcome, &ignored, "code=%s field=%s",
          jerr_code_name(err != NULL ? err->code : JERR_INTERNAL), err != NULL ? err->field : "");
    return -1;
}

static int event_end(struct lifecycle_ctx *ctx, int rc, const char *action, const char *target,
                     struct jerr *err)
{
    return event_end_with(ctx, rc, action, target, NULL, err);
}

/* Moves one certificate to a new status inside the open transaction, with its audit row. */
static int cert_change(struct lifecycle_ctx *ctx, const struct cert_rec *c, enum cert_status status,
                       int reason, const char *action, struct jerr *err)
{
    int64_t now = jclock_now();
    if (store_cert_set_status(ctx->st, c->serial, status, reason, now, 0, err) == -1)
        return -1;
    return audit(ctx, action, c->serial, "ok", err, "ca=%s card=%s status=%s reason=%s",
                 ca_kind_name(c->ca), c->card_id, cert_status_name(status),
                 reason == REASON_NONE ? "-" : crl_reason_name(reason));
}

/* Applies `rule` to every certificate in `certs`; the changed serials go to `changed`. */
static int apply_rule(struct lifecycle_ctx *ctx, const struct cert_list *certs, cert_rule_fn rule,
                      const char *action, struct serial_list *changed, struct jerr *err)
{
    for (size_t i = 0; i < certs->count; i++) {
        enum cert_status status;
        int reason;
        if (!rule(&certs->items[i], &status, &reason))
            continue;
        if (cert_change(ctx, &certs->items[i], status, reason, action, err) == -1 ||
            serial_list_push(changed, certs->items[i].serial, err) == -1)
            return -1;
    }
    return 0;
}

int lifecycle_person_register(struct lifecycle_ctx *ctx, const struct person *p, struct jerr *err)
{
    if (model_check_person(p, err) == -1)
        return -1;
    if (store_begin(ctx->st, err) == -1)
        return -1;
    int rc = store_person_insert(ctx->st, p, err);
    return event_end(ctx, rc, "person.register", p->id, err);
}

void card_register_result_free(struct card_register_result *r)
{
    if (r == NULL)
        return;
    card_list_free(&r->returned);
    serial_list_free(&r->revoked);
    serial_list_free(&r->superseded);
}

static int card_list_push(struct card_list *l, const struct card *c, struct jerr *err)
{
    void *grown = realloc(l->items, (l->count + 1) * sizeof(*l->items));
    if (grown == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    l->items = grown;
    l->items[l->count++] = *c;
    return 0;
}

/* Returns `card` inside the open transaction: its certificates moved by `rule` (changed
 * serials to `changed`), its state returned, an audit row saying why. */
static int card_return_in_tx(struct lifecycle_ctx *ctx, const struct card *card, cert_rule_fn rule,
                             const char *why, struct serial_list *changed, struct jerr *err)
{
    struct cert_list certs = {0};
    int rc = store_certs_of_card(ctx->st, card->id, &certs, err);
    if (rc == 0)
        rc = apply_rule(ctx, &certs, rule, "cert.revoke", changed, err);
    if (rc == 0)
        rc = store_card_set_state(ctx->st, card->id, CARD_RETURNED, err);
    if (rc == 0)
        rc = audit(ctx, "card.return", card->id, "ok", err, "by=%s", why);
    cert_list_free(&certs);
    return rc;
}

/* Reads `person_id` into *p in the open transaction, refusing a person recorded as deceased:
 * a dead person gets no new card and no change of the basic facts. */
static int living_person_get(struct lifecycle_ctx *ctx, const char *person_id, struct person *p,
                             struct jerr *err)
{
    if (store_person_get(ctx->st, person_id, p, err) == -1)
        return -1;
    if (p->deceased)
        return jerr_set(err, JERR_REFUSED, "person_id", "person %s is recorded as deceased",
                        person_id);
    return 0;
}

/* DESIGN §4 / guide 3(1): a new My Number card returns the person's Juki card (its
 * certificates end) and replaces an older My Number card (its certificates superseded). */
static int card_register_effects(struct lifecycle_ctx *ctx, const struct card *c,
                                 struct card_register_result *out, struct jerr *err)
{
    struct card_list cards = {0};
    int rc = store_cards_of_person(ctx->st, c->person_id, &cards, err);
    for (size_t i = 0; rc == 0 && i < cards.count; i++) {
        const struct card *other = &cards.items[i];
        int reason;
        if (strcmp(other->id, c->id) == 0 || !rules_on_new_mynumber_card(other, &reason))
            continue;
        bool juki = reason == REASON_CESSATION_OF_OPERATION;
        rc = card_return_in_tx(ctx, other, juki ? rules_on_card_return : rules_on_card_superseded,
                               "card.register", juki ? &out->revoked : &out->superseded, err);
        if (rc == 0)
            rc = card_list_push(&out->returned, other, err);
    }
    card_list_free(&cards);
    return rc;
}

int lifecycle_card_register(struct lifecycle_ctx *ctx, const struct card *c,
                            struct card_register_result *out, struct jerr *err)
{
    struct person p;
    struct card_register_result res = {0};
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (model_check_card(c, err) == -1 ||
        rules_check_card_expiry(c->expiry, jclock_now(), err) == -1)
        return -1;
    if (store_begin(ctx->st, err) == -1)
        return -1;
    int rc = living_person_get(ctx, c->person_id, &p, err);
    if (rc == 0) {
        struct card fresh = *c;
        fresh.state = CARD_ACTIVE;
        rc = store_card_insert(ctx->st, &fresh, err);
    }
    if (rc == 0 && c->type == CARD_MYNUMBER)
        rc = card_register_effects(ctx, c, &res, err);
    rc = event_end(ctx, rc, "card.register", c->id, err);
    if (rc == 0 && out != NULL)
        *out = res;
    else
        card_register_result_free(&res);
    return rc;
}

static struct rules_policy policy_of(const struct pki *pki)
{
    struct rules_policy pol = {.juki_issuance_end =
                                   validity_card_end(pki_config(pki)->juki_issuance_end)};
    return pol;
}

/* Reads the card and its holder and checks that `which` may be issued now. */
static int issue_check(struct lifecycle_ctx *ctx, const char *card_id, int which, struct card *card,
                       struct person *person, struct jerr *err)
{
    struct rules_policy pol = policy_of(ctx->pki);
    if (store_card_get(ctx->st, card_id, card, err) == -1 ||
        store_person_get(ctx->st, card->person_id, person, err) == -1)
        return -1;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if ((which & (1 << ca)) &&
            rules_check_issue(&pol, person, card, (enum ca_kind)ca, jclock_now(), err) == -1)
            return -1;
    return 0;
}

/* Builds and signs one certificate (outside the transaction): fills `out` (DER, record). */
static int issue_build(struct lifecycle_ctx *ctx, enum ca_kind ca, const struct card *card,
                       const struct person *person, EVP_PKEY *pub, time_t auth_not_after,
                       struct issued_cert *out, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(ctx->pki);
    const struct config_ca *cc = &cfg->ca[ca];
    unsigned char serial[JPKI_SERIAL_BYTES];
    char serial_hex[JPKI_SERIAL_BYTES * 2 + 1], crl_url[2048];
    time_t now = jclock_now(), not_before, not_after;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    int rc = -1, tries = 0;

    do {
        if (++tries > LIFECYCLE_SERIAL_TRIES) {
            jerr_set(err, JERR_INTERNAL, "serial", "no unused serial after %d tries", tries - 1);
            goto out;
        }
        if (profile_random_serial(serial, serial_hex, err) == -1)
            goto out;
    } while (store_serial_exists(ctx->st, serial_hex));

    /* DESIGN §11: the newest generation issues; the one read here signs, whatever a rollover
     * does meanwhile. */
    const struct pki_gen *gen = pki_newest(ctx->pki, ca);
    /* DESIGN §11: the issuing generation's validity (the next card's: 10 years), the holder's
     * age on the day of issuance choosing the years (under 18: the generation's minor years);
     * Juki cards keep their own. Capped to the card below. */
    int gen_years, gen_years_minor;
    pki_gen_validity(ctx->pki, gen, &gen_years, &gen_years_minor, NULL);
    int years = card->type == CARD_JUKI
                    ? cfg->juki_validity_years
                    : validity_subscriber_years(person->birth_date, now, gen_years,
                                                gen_years_minor, err);
    if (years == -1)
        goto out;
    if (validity_compute(now, years, cfg->cap_to_card_expiry, card->expiry, &not_before, &not_after,
                         err) == -1)
        goto out;
    if (ca == CA_SIGN)
        not_after = rules_sign_alone_not_after(not_after, auth_not_after, now);
    /* DESIGN §5: the partition is chosen at issuance and never moves. */
    int partition =
        (int)(((unsigned)serial[1] << 8 | serial[2]) % (unsigned)pki_crl_partitions(ctx->pki, ca));
    if (pki_gen_crl_url(ctx->pki, ca, gen->number, partition, crl_url, sizeof(crl_url)) == NULL) {
        jerr_set(err, JERR_CONFIG, "crl_url", "CRL URL too long");
        goto out;
    }
    struct profile_subscriber ps = {
        .ca = ca,
        .serial_hex = serial_hex,
        .cn = serial_hex, /* opaque: never personal data (DESIGN §3) */
        .person = ca == CA_SIGN ? person : NULL,
        .prefecture = card->prefecture[0] != '\0' ? card->prefecture : NULL,
        .municipality = card->municipality[0] != '\0' ? card->municipality : NULL,
        .not_before = not_before,
        .not_after = not_after,
        .crl_url = crl_url,
        .ocsp_url = cc->ocsp_url,
        .policy_oid = cc->policy_oid,
        .key_encoding_only = true, /* only signed and encoded here */
    };
    cert = profile_subscriber(&ps, gen->root, pub, err);
    if (cert == NULL || signer_sign_cert(gen->ca_signer, cert, err) == -1)
        goto out;
    int len = i2d_X509(cert, &der);
    if (len <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "encoding the certificate");
        goto out;
    }

    struct cert_rec *r = &out->rec;
    memset(r, 0, sizeof(*r));
    snprintf(r->serial, sizeof(r->serial), "%s", serial_hex);
    r->ca = ca;
    snprintf(r->card_id, sizeof(r->card_id), "%s", card->id);
    snprintf(r->person_id, sizeof(r->person_id), "%s", card->person_id);
    snprintf(r->subject_cn, sizeof(r->subject_cn), "%s", serial_hex);
    r->not_before = not_before;
    r->not_after = not_after;
    r->status = CERT_GOOD;
    r->reason = REASON_NONE;
    r->partition = partition;
    r->generation = gen->number;
    r->issued_at = now;
    out->der = der;
    out->der_len = (size_t)len;
    der = NULL;
    rc = 0;
out:
    OPENSSL_free(der);
    X509_free(cert);
    return rc;
}

/* The notAfter of the card's good authentication certificate that ends last, 0 when none:
 * what a signing certificate issued alone must not outlive (rules_sign_alone_not_after). */
static int card_auth_not_after(struct lifecycle_ctx *ctx, const char *card_id, time_t *out,
                               struct jerr *err)
{
    struct cert_list certs = {0};
    *out = 0;
    if (store_certs_of_card(ctx->st, card_id, &certs, err) == -1)
        return -1;
    for (size_t i = 0; i < certs.count; i++)
        if (certs.items[i].ca == CA_AUTH && certs.items[i].status == CERT_GOOD &&
            (time_t)certs.items[i].not_after > *out)
            *out = (time_t)certs.items[i].not_after;
    cert_list_free(&certs);
    return 0;
}

/* A held or good certificate of the same CA on the card is superseded by the new one. */
static int supersede(struct lifecycle_ctx *ctx, const struct card *card, int which,
                     struct serial_list *superseded, struct jerr *err)
{
    struct cert_list certs = {0};
    int rc = store_certs_of_card(ctx->st, card->id, &certs, err);
    for (size_t i = 0; rc == 0 && i < certs.count; i++) {
        const struct cert_rec *c = &certs.items[i];
        enum cert_status status;
        int reason;
        if (!(which & (1 << c->ca)) || !rules_on_supersede(c, c->ca, &status, &reason))
            continue;
        rc = cert_change(ctx, c, status, reason, "cert.supersede", err);
        if (rc == 0)
            rc = serial_list_push(superseded, c->serial, err);
    }
    cert_list_free(&certs);
    return rc;
}

int lifecycle_issue(struct lifecycle_ctx *ctx, const char *card_id, int which,
                    EVP_PKEY *const pubkeys[CA_KIND_COUNT], struct issue_result *out,
                    struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(ctx->pki);
    struct card card;
    struct person person;
    struct issue_result res = {0};
    time_t auth_not_after = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (model_check_id("card_id", card_id, err) == -1)
        return -1;
    if (which < ISSUE_SIGN || which > ISSUE_BOTH)
        return jerr_set(err, JERR_INVALID, "certificates", "must be sign, auth or both");

    /* Before the transaction: refuse early, generate keys and sign (slow). */
    if (issue_check(ctx, card_id, which, &card, &person, err) == -1)
        return event_end(ctx, -1, "card.issue", card_id, err);
    /* Guide 3(1): only a signing certificate issued without the authentication one. */
    if (which == ISSUE_SIGN && card_auth_not_after(ctx, card_id, &auth_not_after, err) == -1)
        return -1;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (!(which & (1 << ca)))
            continue;
        struct issued_cert *ic = &res.certs[res.count];
        EVP_PKEY *pub = pubkeys != NULL ? pubkeys[ca] : NULL;
        /* DESIGN §11: a card holds one algorithm, its CA's — the CA's curve on an ECDSA CA,
         * RSA of subscriber.key_bits (or larger, when supplied) on an RSA CA. */
        struct keyalg ca_alg = signer_keyalg(pki_get0_ca_signer(ctx->pki, (enum ca_kind)ca));
        struct keyalg want = keyalg_for_subscriber(&ca_alg, cfg->subscriber_key_bits);
        if (pub == NULL) {
            ic->key = keygen_generate(&want, err);
            if (ic->key == NULL)
                goto out;
            pub = ic->key;
        } else {
            char field[32];
            snprintf(field, sizeof(field), "public_keys.%s", ca_kind_name((enum ca_kind)ca));
            if (keyalg_check_key(pub, &want, field, err) == -1)
                goto out;
        }
        res.count++;
        if (issue_build(ctx, (enum ca_kind)ca, &card, &person, pub, auth_not_after, ic, err) == -1)
            goto out;
    }
    if (ctx->before_begin != NULL &&
        ctx->before_begin(ctx->before_begin_arg, ctx->st, &res, err) == -1) {
        event_end(ctx, -1, "card.issue", card_id, err); /* audited; nothing was opened */
        goto out;
    }

    /* The transaction: check again against fresh state, supersede, insert, audit. */
    if (store_begin(ctx->st, err) == -1)
        goto out;
    rc = issue_check(ctx, card_id, which, &card, &person, err);
    if (rc == 0)
        rc = supersede(ctx, &card, which, &res.superseded, err);
    for (size_t i = 0; rc == 0 && i < res.count; i++) {
        const struct issued_cert *ic = &res.certs[i];
        /* Not marked for pre-signing: the first OCSP request signs it (store.h). */
        rc = store_cert_insert_issued(ctx->st, &ic->rec, ic->der, ic->der_len, err);
        /* 新旧紐付け: it supersedes the holder's previous certificate of that CA. */
        if (rc == 0)
            rc = linkage_record_issue(ctx->st, &ic->rec, err);
        if (rc == 0)
            rc = audit(ctx, "cert.issue", ic->rec.serial, "ok", err, "ca=%s card=%s partition=%d",
                       ca_kind_name(ic->rec.ca), card_id, ic->rec.partition);
    }
    rc = event_end_with(ctx, rc, "card.issue", card_id, &res, err);
out:
    if (rc == 0)
        *out = res;
    else
        issue_result_free(&res);
    return rc;
}

/* Runs an event over the certificates of one card: check the card, apply `rule`, set the
 * card's new state (or leave it when new_state < 0). */
static int card_event(struct lifecycle_ctx *ctx, const char *card_id, const char *action,
                      const char *cert_action, int (*check)(const struct card *, struct jerr *),
                      cert_rule_fn rule, int new_state, struct serial_list *changed,
                      struct cert_list *certs_out, struct jerr *err)
{
    struct card card;
    struct cert_list certs = {0};
    if (model_check_id("card_id", card_id, err) == -1)
        return -1;
    if (store_begin(ctx->st, err) == -1)
        return -1;
    int rc = store_card_get(ctx->st, card_id, &card, err);
    if (rc == 0)
        rc = check(&card, err);
    if (rc == 0)
        rc = store_certs_of_card(ctx->st, card_id, &certs, err);
    if (rc == 0)
        rc = apply_rule(ctx, &certs, rule, cert_action, changed, err);
    if (rc == 0 && new_state >= 0)
        rc = store_card_set_state(ctx->st, card_id, (enum card_state)new_state, err);
    rc = event_end(ctx, rc, action, card_id, err);
    if (rc == 0 && certs_out != NULL)
        *certs_out = certs;
    else
        cert_list_free(&certs);
    return rc;
}

int lifecycle_hold(struct lifecycle_ctx *ctx, const char *card_id, struct serial_list *held,
                   struct jerr *err)
{
    return card_event(ctx, card_id, "card.hold", "cert.hold", rules_check_hold, rules_on_hold,
                      CARD_SUSPENDED, held, NULL, err);
}

int lifecycle_release(struct lifecycle_ctx *ctx, const char *card_id, struct serial_list *released,
                      struct serial_list *still_held, struct jerr *err)
{
    struct cert_list certs = {0};
    if (card_event(ctx, card_id, "card.release", "cert.release", rules_check_release,
                   rules_on_release, CARD_ACTIVE, released, &certs, err) == -1)
        return -1;
    /* RULE guide 4(4): a held signing certificate stays held; it must be revoked and a new
     * one issued. `certs` is the state before the release. */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < certs.count; i++)
        if (certs.items[i].ca == CA_SIGN && certs.items[i].status == CERT_HOLD)
            rc = serial_list_push(still_held, certs.items[i].serial, err);
    cert_list_free(&certs);
    return rc;
}

int lifecycle_card_return(struct lifecycle_ctx *ctx, const char *card_id,
                          struct serial_list *revoked, struct jerr *err)
{
    return card_event(ctx, card_id, "card.return", "cert.revoke", rules_check_return,
                      rules_on_card_return, CARD_RETURNED, revoked, NULL, err);
}

int lifecycle_revoke(struct lifecycle_ctx *ctx, const char *serial, int reason, struct jerr *err)
{
    struct cert_rec c;
    if (store_begin(ctx->st, err) == -1)
        return -1;
    int rc = store_cert_get(ctx->st, serial, &c, err);
    if (rc == 0)
        rc = rules_check_revoke(&c, reason, err);
    if (rc == 0)
        rc = cert_change(ctx, &c, CERT_REVOKED, reason, "cert.revoke", err);
    return event_end(ctx, rc, "cert.revoke.request", serial, err);
}

/* Applies `rule` to every certificate of a person. */
static int person_certs_apply(struct lifecycle_ctx *ctx, const char *person_id, cert_rule_fn rule,
                              const char *cert_action, struct serial_list *changed,
                              struct jerr *err)
{
    struct cert_list certs = {0};
    int rc = store_certs_of_person(ctx->st, person_id, &certs, err);
    if (rc == 0)
        rc = apply_rule(ctx, &certs, rule, cert_action, changed, err);
    cert_list_free(&certs);
    return rc;
}

static int places_check(const struct place_names *places, struct jerr *err)
{
    if (memchr(places->prefecture, '\0', sizeof(places->prefecture)) == NULL ||
        memchr(places->municipality, '\0', sizeof(places->municipality)) == NULL)
        return jerr_set(err, JERR_INTERNAL, "places", "place names not terminated");
    if (places->prefecture[0] != '\0' &&
        model_check_text("prefecture", places->prefecture, JPKI_PLACE_MAX, err) == -1)
        return -1;
    if (places->municipality[0] != '\0' &&
        model_check_text("municipality", places->municipality, JPKI_PLACE_MAX, err) == -1)
        return -1;
    return 0;
}

/* Gives `card` the place names `places` inside the open transaction, with its audit row. */
static int card_places_in_tx(struct lifecycle_ctx *ctx, struct card *card,
                             const struct place_names *places, const char *why, struct jerr *err)
{
    snprintf(card->prefecture, sizeof(card->prefecture), "%s", places->prefecture);
    snprintf(card->municipality, sizeof(card->municipality), "%s", places->municipality);
    if (store_card_set_places(ctx->st, card, err) == -1)
        return -1;
    /* Place names are the address's: the row says only whether they are set. */
    return audit(ctx, "card.places", card->id, "ok", err, "by=%s places=%s", why,
                 places->prefecture[0] != '\0' || places->municipality[0] != '\0' ? "set"
                                                                                  : "cleared");
}

/* DESIGN §3: the signing subject names the place of the person's current address. After a
 * basic-info change the cards in use take the new place names, or lose the old ones. */
static int person_cards_places(struct lifecycle_ctx *ctx, const char *person_id,
                               const struct place_names *places, struct jerr *err)
{
    static const struct place_names none = {"", ""};
    struct card_list cards = {0};
    int rc = store_cards_of_person(ctx->st, person_id, &cards, err);
    for (size_t i = 0; rc == 0 && i < cards.count; i++)
        if (cards.items[i].state != CARD_RETURNED)
            rc = card_places_in_tx(ctx, &cards.items[i], places != NULL ? places : &none,
                                   "person.basic_info_change", err);
    card_list_free(&cards);
    return rc;
}

int lifecycle_card_set_places(struct lifecycle_ctx *ctx, const char *card_id,
                              const struct place_names *places, struct card *out, struct jerr *err)
{
    struct card card;
    if (model_check_id("card_id", card_id, err) == -1 || places_check(places, err) == -1)
        return -1;
    if (store_begin(ctx->st, err) == -1)
        return -1;
    int rc = store_card_get(ctx->st, card_id, &card, err);
    if (rc == 0 && card.state == CARD_RETURNED)
        rc = jerr_set(err, JERR_REFUSED, "card", "card %s has been returned: it cannot be changed",
                      card_id);
    if (rc == 0)
        rc = card_places_in_tx(ctx, &card, places, "card.update", err);
    rc = event_end(ctx, rc, "card.update", card_id, err);
    if (rc == 0 && out != NULL)
        *out = card;
    return rc;
}

int lifecycle_basic_info_change(struct lifecycle_ctx *ctx, const struct person *p,
                                const struct place_names *places, struct serial_list *revoked,
                                struct jerr *err)
{
    struct person old_p;
    if (model_check_person(p, err) == -1 || (places != NULL && places_check(places, err) == -1))
        return -1;
    if (store_begin(ctx->st, err) == -1)
        return -1;
    int rc = living_person_get(ctx, p->id, &old_p, err);
    if (rc == 0 && rules_basic_info_changed(&old_p, p))
        rc =
            person_certs_apply(ctx, p->id, rules_on_basic_info_change, "cert.revoke", revoked, err);
    if (rc == 0 && (places != NULL || strcmp(old_p.address, p->address) != 0))
        rc = person_cards_places(ctx, p->id, places, err);
    if (rc == 0) {
        struct person updated = *p;
        updated.deceased = old_p.deceased;
        rc = store_person_update(ctx->st, &updated, err);
    }
    return event_end(ctx, rc, "person.basic_info_change", p->id, err);
}

/* DESIGN §4 death: the person's cards leave `active` — returned, so that nothing can be held,
 * released or issued onto them. Their certificates are already revoked. */
static int death_cards(struct lifecycle_ctx *ctx, const char *person_id, struct jerr *err)
{
    struct card_list cards = {0};
    int rc = store_cards_of_person(ctx->st, person_id, &cards, err);
    for (size_t i = 0; rc == 0 && i < cards.count; i++) {
        if (cards.items[i].state == CARD_RETURNED)
            continue;
        rc = store_card_set_state(ctx->st, cards.items[i].id, CARD_RETURNED, err);
        if (rc == 0)
            rc = audit(ctx, "card.return", cards.items[i].id, "ok", err, "by=person.death");
    }
    card_list_free(&cards);
    return rc;
}

int lifecycle_death(struct lifecycle_ctx *ctx, const char *person_id, struct serial_list *revoked,
                    struct jerr *err)
{
    struct person p;
    if (model_check_id("person_id", person_id, err) == -1)
        return -1;
    if (store_begin(ctx->st, err) == -1)
        return -1;
    int rc = store_person_get(ctx->st, person_id, &p, err);
    if (rc == 0 && p.deceased)
        rc = jerr_set(err, JERR_REFUSED, "person_id", "person %s is already recorded as deceased",
                      person_id);
    if (rc == 0)
        rc = person_certs_apply(ctx, person_id, rules_on_death, "cert.revoke", revoked, err);
    if (rc == 0)
        rc = death_cards(ctx, person_id, err);
    if (rc == 0) {
        p.deceased = true;
        rc = store_person_update(ctx->st, &p, err);
    }
    return event_end(ctx, rc, "person.death", person_id, err);
}
