/*
 * linkage: 新旧紐付け (DESIGN §12, issue 15) — which certificate superseded which when a holder's
 * certificate was re-issued (renewal onto the same card, or a new card), followed from any
 * old serial to the current one; and the holders' consents to a party learning their basic
 * information. The links are written by lifecycle_issue in the issuance's own transaction
 * (linkage_record_issue); the registry's history before that was backfilled (migration 8).
 */
#ifndef JPKI_CA_LINKAGE_H
#define JPKI_CA_LINKAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "ca/lifecycle.h"
#include "ca/model.h"
#include "ca/store.h"
#include "base/jerr.h"
#include "base/limits.h"

/* Links followed at most from one serial (a holder renews every five years). */
#define LINKAGE_MAX_HOPS 64

/* The chain from one certificate to the current one. */
struct linkage {
    struct cert_rec cert;    /* the certificate asked about */
    size_t count;            /* certificates in chain[] after it, 0 = none superseded it */
    struct cert_rec chain[LINKAGE_MAX_HOPS]; /* its successors, oldest first */
};

/* Inside lifecycle_issue's transaction: `issued` (just inserted) supersedes the newest earlier
 * certificate of the same holder and CA that has no successor yet. Returns 0 or -1. */
int linkage_record_issue(struct store *st, const struct cert_rec *issued, struct jerr *err);

/* Every CA, for linkage_follow's `ca_mask` (bit 1 << ca). */
#define LINKAGE_ANY_CA ((1u << CA_KIND_COUNT) - 1)

/* Reads the chain of `serial`, a certificate of a CA in `ca_mask`: JERR_NOT_FOUND "serial"
 * when it was never issued and, in the same words, when it is another CA's (a party that may
 * not ask about that CA does not learn that the serial exists: docs/API.md). Returns 0 or
 * -1. */
int linkage_follow(struct store *st, const char *serial, unsigned ca_mask, struct linkage *out,
                   struct jerr *err);

/* The current certificate of a chain: the last successor, or the certificate itself. */
const struct cert_rec *linkage_current(const struct linkage *l);

/* Records the consent of person `person_id` to `party` (an id) learning its basic information,
 * in one transaction ended by ctx's before_commit. JERR_NOT_FOUND "id" for an unknown person. */
int linkage_consent(struct lifecycle_ctx *ctx, const char *person_id, const char *party,
                    struct jerr *err);

/* The current four facts of the holder of the signing certificate `serial` for `party`:
 * refused (JERR_FORBIDDEN "consent") without the holder's consent to that party, JERR_INVALID
 * "serial" for an authentication certificate (it carries no basic information, and a party
 * never learns it through one). */
int linkage_basic_info(struct store *st, const char *serial, const char *party,
                       struct person *out, struct jerr *err);

#endif
