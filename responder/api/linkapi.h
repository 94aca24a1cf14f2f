/*
 * linkapi: the linkage endpoints (新旧紐付け, DESIGN §12, docs/API.md "Linkage"):
 *
 *   GET  /v1/linkage/{serial}               the chain from a certificate to the one that
 *                                           superseded it at re-issuance, and so on to the
 *                                           current one: serials and statuses only
 *   POST /v1/persons/{id}/consents          {"party":ID}: the holder consents to that party
 *                                           learning its basic information
 *   GET  /v1/linkage/{serial}/basic-info?party=ID
 *                                           the current four facts of the holder of a signing
 *                                           certificate, for a party the holder consented to
 *
 * Until the relying-party registry (issue 15, helper "rp") is on main, the callers are
 * operators (any role reads the chain; admin/operator record consents and read basic
 * information, naming the party they act for); then a registered party of the right kind
 * calls them with its own credential. Every call is audited by the api frame (ids only).
 */
#ifndef JPKI_LINKAPI_H
#define JPKI_LINKAPI_H

#include "base/jerr.h"
#include "responder/api/api.h"

int linkapi_add_endpoints(struct api *api, struct jerr *err);

#endif
