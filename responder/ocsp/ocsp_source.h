/*
 * ocsp_source: where the OCSP endpoints (ocsp_http.h) find what the in-memory cache
 * (presign.h) does not hold — the seam between the one HTTP and cache implementation and the
 * two ways of knowing an answer (DESIGN §13):
 *   - the registry and the CA's delegated signers: `jpkid serve` (ocsp_answer.h; ocsp_http_new);
 *   - Redis, filled by a CA node: `jpkid respond` (respond/redissrc.h; ocsp_http_new_source),
 *     which holds no key: it never signs, so a nonce is left out (RFC 9654 §2.1 lets a
 *     responder do that; the client then judges the answer by its times).
 */
#ifndef JPKI_OCSP_SOURCE_H
#define JPKI_OCSP_SOURCE_H

#include <stdbool.h>

#include "ca/ocsp.h"
#include "base/jerr.h"
#include "responder/net/workers.h"
#include "responder/ocsp/ocsp_answer.h"
#include "responder/ocsp/presign.h"

/* route_ca's answer when the source cannot tell yet (e.g. no CA known: Redis unreachable since
 * the start): tryLater rather than unauthorized. */
#define OCSP_SOURCE_ROUTE_UNAVAILABLE (-2)

struct ocsp_source {
    /* The CA every CertID of `req` names (`only_ca` >= 0: only that one). On a loop, must not
     * block. Returns 0 with *ca, -1 (answer unauthorized) or OCSP_SOURCE_ROUTE_UNAVAILABLE. */
    int (*route_ca)(void *arg, const struct ocsp_request *req, int only_ca, enum ca_kind *ca);
    /* On worker `self`: the answer to `req` (all CertIDs naming `ca`); `presigned_only`: a
     * stored answer or nothing, never a new signature. Returns a blob reference the caller
     * drops, or NULL with err: JERR_UNAVAILABLE or JERR_NOT_FOUND (answer tryLater),
     * JERR_FORBIDDEN (unauthorized: no authoritative record, RFC 9919), else internalError. */
    struct presign_blob *(*answer)(void *arg, struct worker *self, const struct ocsp_request *req,
                                   enum ca_kind ca, bool presigned_only,
                                   struct ocsp_answer_outcome *how, struct jerr *err);
    void *arg;
    /* The cache the loops answer from (borrowed; the source keeps it true). */
    struct presign *cache;
    /* false: the source cannot sign (jpkid respond): nonces are left out and every request goes
     * to `answer` with presigned_only. */
    bool signs;
};

#endif
