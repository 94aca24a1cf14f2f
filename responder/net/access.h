/*
 * access: who may ask the public endpoints (relying-party access control, DESIGN §9's
 * "only registered verifiers may query status" in its first form).
 *
 * Per endpoint group, a configuration choice (config.h enum access_mode): access.ocsp and
 * access.crl are `open` (anyone, the default) or `client_cert` (only a relying party that
 * presents, over HTTPS, a client certificate chaining to tls.relying_party_ca — see
 * server_request_is_relying_party). What a refusal looks like is the group's business: OCSP
 * answers the OCSP status unauthorized (RFC 6960 §2.3, HTTP 200), the CRLs 403 JSON. The CA
 * certificates and fingerprints stay open (they are how anyone checks the roots); the
 * operator API always requires an operator credential (api.h), whatever these say.
 *
 * Pure apart from asking the server about the request's TLS peer; no state of its own.
 */
#ifndef JPKI_ACCESS_H
#define JPKI_ACCESS_H

#include <stdbool.h>

#include "config/config.h"
#include "responder/net/server.h"

/* True when `sr` may be answered under `mode`: always when open; with client_cert only over
 * HTTPS with a verified relying-party certificate. From the request's loop. */
bool access_is_allowed(enum access_mode mode, const struct server_request *sr);

/* The decision itself, for tests: open, or a relying party over TLS. */
bool access_decide(enum access_mode mode, bool tls, bool relying_party);

#endif
