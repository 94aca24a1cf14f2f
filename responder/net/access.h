/*
 * access: who may ask the public endpoints (DESIGN §12: only registered verifiers may query
 * status, when so configured).
 *
 * Per endpoint group, a configuration choice (config.h enum access_mode): access.ocsp and
 * access.crl are `open` (anyone, the default) or `registered` (only an active relying party of
 * the registry, over HTTPS, named by its client certificate or its bearer token — see
 * responder/rp/rpgate.h). Under either mode a party that names itself is identified, so that
 * its answers are metered. What a refusal looks like is the group's business: OCSP answers the
 * OCSP status unauthorized (RFC 6960 §2.3, HTTP 200), the CRLs 403 JSON. Which CA a party may
 * ask about (its kind) is checked by the group once it knows the CA (access_admit_ca). The CA
 * certificates and fingerprints stay open; the operator API always requires an operator
 * credential (api.h), whatever these say.
 */
#ifndef JPKI_ACCESS_H
#define JPKI_ACCESS_H

#include <stdbool.h>

#include "config/config.h"
#include "responder/net/server.h"
#include "responder/rp/rpgate.h"

/* True when `sr` may be answered under `mode`; *who is the party that sent it (pk 0 for
 * nobody: anonymous under open). `gate` may be NULL under open. From the request's loop. */
bool access_admit(enum access_mode mode, struct rpgate *gate, const struct server_request *sr,
                  struct rpgate_who *who);

/* DESIGN §12, once the CA asked about is known: true when *who may be answered about `ca`
 * under `mode`. A party whose kind does not allow that CA (rp_kind_allows) is refused under
 * registered, and under open answered as anybody: who->pk becomes 0 (not metered). Nobody
 * (pk 0) passes. Shared by OCSP and both CRL servers (serve's and a responder's). */
bool access_admit_ca(enum access_mode mode, enum ca_kind ca, struct rpgate_who *who);

/* The decision itself, for tests: open, or a verdict of the gate naming an active party. */
bool access_decide(enum access_mode mode, enum rpgate_verdict verdict);

#endif
