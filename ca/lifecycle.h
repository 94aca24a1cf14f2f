/*
 * lifecycle: carries out the events of DESIGN §4. Each event is one registry transaction —
 * the rule check (rules.h) against fresh state, the registry change, the audit row — and
 * nothing is reported done before it commits. Slow work (key generation, signing) happens
 * before the transaction opens; the rules are checked again inside it.
 *
 * Every call takes a struct lifecycle_ctx: the instance, this thread's registry connection,
 * and who acts (the operator's name, for the audit row). Refusals are audited too.
 */
#ifndef JPKI_LIFECYCLE_H
#define JPKI_LIFECYCLE_H

#include <stddef.h>
#include <openssl/evp.h>

#include "ca/model.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jerr.h"

struct lifecycle_ctx {
    struct pki *pki;
    struct store *st;
    const char *actor;
    /* Optional: runs inside a successful event's transaction just before it commits, so that a
     * caller's own record (a batch row marked done with its serials) is durable together with
     * the event or not at all. `result` is the event's result (struct issue_result * for
     * lifecycle_issue, NULL otherwise). A failure rolls the whole event back. */
    int (*before_commit)(void *arg, struct store *st, const void *result, struct jerr *err);
    void *before_commit_arg;
    /* Optional, lifecycle_issue only: runs once the keys are generated and the certificates
     * signed, before the transaction opens, with the struct issue_result * — for slow work on
     * the result that must not hold the registry's write lock (the batch runner builds and
     * fsyncs a card image here, and publishes it in before_commit). A failure ends the event:
     * nothing is issued. */
    int (*before_begin)(void *arg, struct store *st, const void *result, struct jerr *err);
    void *before_begin_arg;
};

/* A list of serials an event changed. */
struct serial_list {
    char (*items)[JPKI_SERIAL_HEX_MAX + 1];
    size_t count;
};
void serial_list_free(struct serial_list *l);

int lifecycle_person_register(struct lifecycle_ctx *ctx, const struct person *p,
                              struct jerr *err);
/* What registering a card did to the person's other cards (DESIGN §4: one active My Number
 * card per person; guide 3(1): the Juki card is returned when a My Number card is given). */
struct card_register_result {
    struct card_list returned;     /* the person's cards it returned, as they were before */
    struct serial_list revoked;    /* certificates of a returned Juki card: cessationOfOperation */
    struct serial_list superseded; /* certificates of a replaced My Number card: superseded */
};
void card_register_result_free(struct card_register_result *r);

/* Registers card `c` (active). Its expiry may be neither past nor more than
 * RULES_CARD_EXPIRY_MAX_YEARS ahead (JERR_INVALID "expiry"). A My Number card returns, in the
 * same transaction, every other card of the person not yet returned, revoking their
 * certificates; `out` (may be NULL) says which. */
int lifecycle_card_register(struct lifecycle_ctx *ctx, const struct card *c,
                            struct card_register_result *out, struct jerr *err);

enum issue_which { ISSUE_SIGN = 1, ISSUE_AUTH = 2, ISSUE_BOTH = 3 };

struct issued_cert {
    struct cert_rec rec;
    unsigned char *der;  /* the certificate */
    size_t der_len;
    EVP_PKEY *key;       /* the generated subscriber key pair (NULL when the public key was
                            supplied): for the card image only, never stored */
};

struct issue_result {
    struct issued_cert certs[CA_KIND_COUNT];
    size_t count;
    struct serial_list superseded; /* good certificates this issuance revoked `superseded` */
};
void issue_result_free(struct issue_result *r); /* wipes and frees the keys too */

/* Issues the certificates `which` asks for onto `card_id`. When pubkeys[ca] is non-NULL that
 * public key is certified (not taken over), else a key pair is generated. A signing
 * certificate issued alone ends no later than the card's good authentication certificate
 * (rules_sign_alone_not_after). The signing subject's L= values are the card's prefecture and
 * municipality. */
int lifecycle_issue(struct lifecycle_ctx *ctx, const char *card_id, int which,
                    EVP_PKEY *const pubkeys[CA_KIND_COUNT], struct issue_result *out,
                    struct jerr *err);

/* The place names of the signing subject (L=, DESIGN §3): "" leaves one out. */
struct place_names {
    char prefecture[JPKI_PLACE_MAX + 1];
    char municipality[JPKI_PLACE_MAX + 1];
};

/* Basic-info change: `p` carries the person's id and new facts. `revoked` lists the signing
 * certificates revoked affiliationChanged (empty when none of the four facts changed).
 * `places` (may be NULL) are the place names of the person's current address: they replace
 * those of every card of the person not yet returned. When the address changes and no
 * `places` are given, those cards' place names are cleared, so that no later signing
 * certificate carries the old municipality. */
int lifecycle_basic_info_change(struct lifecycle_ctx *ctx, const struct person *p,
                                const struct place_names *places, struct serial_list *revoked,
                                struct jerr *err);

/* Sets the place names of card `card_id` (PATCH /v1/cards/{id}); refused for a returned card.
 * The card as it is now goes to *out. Certificates already issued keep theirs. */
int lifecycle_card_set_places(struct lifecycle_ctx *ctx, const char *card_id,
                              const struct place_names *places, struct card *out, struct jerr *err);

int lifecycle_hold(struct lifecycle_ctx *ctx, const char *card_id, struct serial_list *held,
                   struct jerr *err);

/* Release: authentication certificates back to good (`released`); signing certificates stay
 * held (`still_held`) and must be revoked and re-issued. */
int lifecycle_release(struct lifecycle_ctx *ctx, const char *card_id,
                      struct serial_list *released, struct serial_list *still_held,
                      struct jerr *err);

int lifecycle_revoke(struct lifecycle_ctx *ctx, const char *serial, int reason,
                     struct jerr *err);
int lifecycle_card_return(struct lifecycle_ctx *ctx, const char *card_id,
                          struct serial_list *revoked, struct jerr *err);
/* A death: every certificate of the person revoked cessationOfOperation, and every card of the
 * person not yet returned leaves `active` (returned). */
int lifecycle_death(struct lifecycle_ctx *ctx, const char *person_id,
                    struct serial_list *revoked, struct jerr *err);

#endif
