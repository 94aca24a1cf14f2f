/*
 * linkapi: the linkage endpoints (新旧紐付け, DESIGN §12, docs/API.md "Linkage"):
 *
 *   GET  /v1/linkage/{serial}               the chain from a certificate to the one that
 *                                           superseded it at re-issuance, and so on to the
 *                                           current one: serials and statuses only
 *   POST /v1/persons/{id}/consents          {"party":ID}: the holder consents to that party
 *                                           learning its basic information
 *   GET  /v1/linkage/{serial}/basic-info
 *                                           the current four facts of the holder of a signing
 *                                           certificate, for the calling party if the holder
 *                                           consented to it
 *
 * Callers (API_ROLES_RELYING_PARTY, DESIGN §12): a registered, active relying party with its
 * own credential over HTTPS. The chain only for certificates of a CA its kind allows
 * (rp_kind_allows: an authentication verifier never learns a signing serial); basic
 * information only for a platform operator party, with the holder's consent to that party.
 * Operators keep read access to the chain for support (any role); basic information is the
 * parties' consented channel only (operators have the registry's person endpoints). Consents
 * are recorded by admin/operator. Every call is audited by the api frame (ids only; a party
 * as actor "rp:ID").
 */
#ifndef JPKI_LINKAPI_H
#define JPKI_LINKAPI_H

#include "base/jerr.h"
#include "responder/api/api.h"

int linkapi_add_endpoints(struct api *api, struct jerr *err);

#endif
