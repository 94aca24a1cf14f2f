/*
 * holder: the card holder's endpoint of /v1 (DESIGN §6 "holders"; guide 4(5)B) —
 * POST /v1/holder/revoke, the online revocation request. It takes no operator credential: the
 * holder proves possession of the card's signing key by the request's CMS signature
 * (ca/holderreq.h parses and checks it). The revocation, the request id (replay protection)
 * and the API's audit row are one transaction; the answer is a receipt (receipt.h) signed by the
 * CA's delegated OCSP signer that the holder can keep as proof (docs/CARD.md "Online revocation").
 *
 * Before authentication the caps are tight: the body is at most HOLDERREQ_MAX_BYTES (413
 * beyond). Rate limiting per client is the API frame's hook (api.c rate_admit).
 */
#ifndef JPKI_HOLDER_H
#define JPKI_HOLDER_H

#include "base/jerr.h"
#include "responder/api/api.h"

/* The actor of the lifecycle rows a holder's request writes: "holder:<signer serial>". */
#define HOLDER_ACTOR_PREFIX "holder:"

/* Adds POST /v1/holder/revoke to `api`. Returns 0 or -1. */
int holder_add_endpoints(struct api *api, struct jerr *err);

#endif
