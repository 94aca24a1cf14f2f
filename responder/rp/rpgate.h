/*
 * rpgate: who is asking, among the registered relying parties (DESIGN §12) — the in-memory
 * view of the registry's parties that every loop consults on each OCSP and CRL request, and
 * that the TLS layer consults on each handshake.
 *
 * A request names its party by one of two credentials, over HTTPS only:
 *  - a TLS client certificate of jpki's relying-party CA (ca/rpca.h) that the handshake
 *    verified (server_request_relying_party_cert), found by its serial;
 *  - "Authorization: Bearer <token>", found by the token's SHA-256.
 * The view holds the active and suspended parties (kind, id, registry key); a deleted party is
 * not in it, so its credentials name nobody, and its certificate fails the handshake
 * (rpgate_cert_is_refused, installed with tls_set_refusal).
 *
 * CONCURRENCY: the view is an immutable snapshot with a reference count. rpgate_reload (on a
 * worker, after each change of the registry's parties: the API calls it) builds a new one and
 * publishes it with a generation number. A loop keeps its own reference and compares one
 * atomic generation per request; only when it changed does it take the lock to move to the
 * new snapshot. So a suspension is seen by every loop at its next request, and the hot path
 * takes no lock and reads no registry.
 *
 * For other modules (linkage, issue 15: crl15): rpgate_identify gives the party of a request
 * and rp_kind_allows (ca/rp.h) what it may ask about.
 *
 * WHERE THE VIEW COMES FROM is a seam (rpgate_source_fn): the registry on jpkid serve
 * (rpgate_new, rpgate_reload), the CA node's copy in Redis on jpkid respond
 * (responder/respond/rpview.h: rpgate_new_from, rpgate_reload_from). The decision — who a
 * credential names, suspended or not, what the TLS layer refuses — is this file's on both.
 * A view that can go out of date (the responder's, while Redis is unreachable) has a freshness
 * test (rpgate_set_freshness): while it fails, every credential gets RPGATE_STALE, which no
 * `registered` access admits (fail closed, docs/OPERATIONS.md).
 */
#ifndef JPKI_RPGATE_H
#define JPKI_RPGATE_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "base/limits.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "responder/net/server.h"

struct rpgate;

/* A registered party as a request's credential names it. */
struct rpgate_who {
    int64_t pk; /* the registry's key of the party; 0 = nobody */
    enum rp_kind kind;
    bool suspended;
    bool by_cert; /* named by its client certificate (else by its token) */
    char id[JPKI_ID_MAX + 1];
};

enum rpgate_verdict {
    RPGATE_PARTY = 0,      /* *who is an active party */
    RPGATE_NO_CREDENTIAL,  /* plain HTTP, or neither a relying-party certificate nor a token */
    RPGATE_UNKNOWN,        /* a credential that names no party (wrong token, deleted party) */
    RPGATE_SUSPENDED,      /* *who is a suspended party */
    RPGATE_BAD_CREDENTIAL, /* an Authorization header that is no bearer token */
    RPGATE_STALE,          /* a credential, but the view cannot be proved current now */
};

/* Hands every party (deleted ones too: they are left out) to cb(ctx, rp); returns 0 or -1
 * with err (the view is then not replaced). */
typedef int rpgate_source_fn(void *src, store_rp_cb cb, void *ctx, struct jerr *err);

/* The gate, with the view read from `st` now. The relying-party CA (pki_get0_rpca) is
 * borrowed. NULL with err. */
struct rpgate *rpgate_new(struct pki *pki, struct store *st, struct jerr *err);
/* Makes room for `loops` event loops (server_loop_count), before the server starts: a request
 * on a loop beyond them names nobody. Returns 0 or -1. */
/* The same from another source; `rpca_cert` (borrowed, may be NULL: no certificate is then
 * judged by the TLS hook) is the relying-party CA. */
struct rpgate *rpgate_new_from(X509 *rpca_cert, rpgate_source_fn *source, void *src,
                               struct jerr *err);
int rpgate_reload_from(struct rpgate *g, rpgate_source_fn *source, void *src, struct jerr *err);
/* fresh(arg) is asked on each identification (from the loops: quick, thread-safe); false makes
 * it RPGATE_STALE. Set before the server starts. */
void rpgate_set_freshness(struct rpgate *g, bool (*fresh)(void *arg), void *arg);
int rpgate_set_loops(struct rpgate *g, int loops, struct jerr *err);
void rpgate_free(struct rpgate *g); /* after the loops stopped; NULL is a no-op */

/* Reads the parties from `st` and publishes the new view. On a worker. Returns 0 or -1 (the
 * old view stays). */
int rpgate_reload(struct rpgate *g, struct store *st, struct jerr *err);

/* Who sent `sr` (on its loop). *who is filled for RPGATE_PARTY and RPGATE_SUSPENDED. */
enum rpgate_verdict rpgate_identify(struct rpgate *g, const struct server_request *sr,
                                    struct rpgate_who *who);

/* For tls_set_refusal: true for a certificate issued by the relying-party CA that is not the
 * certificate of a current (active or suspended) party. Thread-safe. */
bool rpgate_cert_is_refused(X509 *cert, void *gate);

/* Parties in the current view (for tests and /metrics). */
size_t rpgate_party_count(struct rpgate *g);

#endif
