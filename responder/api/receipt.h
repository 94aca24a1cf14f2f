/*
 * receipt: the signed acknowledgements of revocations (guide 4(5): 電子証明書失効申請等受理通知書
 * at the window, the receipt of the online request). One shape for both, so that one check
 * fits every receipt (docs/CARD.md "Online revocation", docs/API.md "Receipts"):
 *
 *   { ...the receipt's fields..., "receipt": the compact JSON text of exactly those fields,
 *     "signature": base64 of the signature over the text's bytes, "signature_algorithm",
 *     "signer_certificate": PEM of the CA's delegated OCSP signer }
 *
 * The signer is the OCSP signer of one CA (signer_sign_bytes: PKCS #1 v1.5 with SHA-256); a
 * relying party checks its chain to that CA's root. Nothing here is stored: the receipt is the
 * holder's to keep.
 */
#ifndef JPKI_RECEIPT_H
#define JPKI_RECEIPT_H

#include <jansson.h>

#include "ca/lifecycle.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jerr.h"

/* The title of a window receipt (guide 4(5)A). */
#define RECEIPT_WINDOW_TITLE "電子証明書失効申請等受理通知書"

/* A fresh random receipt id (STORE_RECEIPT_ID_HEX lower-case hex digits). Returns 0 or -1. */
int receipt_id_new(char out[STORE_RECEIPT_ID_HEX + 1], struct jerr *err);

/* The signed receipt of `fields` (an object whose members are written in insertion order) by
 * the OCSP signer of `ca`, shaped as above. Returns a new object, or NULL with err. */
json_t *receipt_new(const struct pki *pki, enum ca_kind ca, const json_t *fields, struct jerr *err);

/* The window's receipt of an operator's revocation event (`event` "cert.revoke",
 * "card.return", "person.death" on `target`, by `operator`): {receipt_id, title, event,
 * target, operator, accepted_at, revoked: [{serial, ca, status, reason, revoked_at}]} with the
 * certificates in `revoked` as the registry has them now, signed by the signing CA's OCSP
 * signer unless every revoked certificate is an authentication one. Returns a new object, or
 * NULL with err. */
json_t *receipt_window_new(const struct pki *pki, struct store *st, const char *event,
                           const char *target, const char *operator_name,
                           const struct serial_list *revoked, struct jerr *err);

#endif
