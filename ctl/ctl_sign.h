/*
 * ctl_sign: the card holder's signatures with the card's signing key — `card sign` (a detached
 * CMS SignedData over a file, guide 4(9)) and `card revoke` (the online revocation request,
 * guide 4(5)B, and the check of the service's signed receipt).
 *
 *   card sign IMAGE FILE         a detached CMS SignedData (RFC 5652, SHA-256) over FILE with the
 *                                signing key and certificate (guide 4(9))
 *   card revoke IMAGE --reason R the online revocation request, signed with the signing key
 *                                (guide 4(5)B), and its receipt
 *
 * Each command returns the process exit status (ctl.h). The key comes from ctl_card_unlock,
 * lives in memory for one signature and is freed.
 */
#ifndef JPKI_CTL_SIGN_H
#define JPKI_CTL_SIGN_H

#include "ctl/ctl.h"
#include "ctl/ctl_args.h"

/* A revocation receipt from the service, at most (bytes). */
#define CTL_CARD_RECEIPT_MAX (64 * 1024)

int ctl_card_sign(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_revoke(struct ctl *ctl, const struct ctl_args *args);

#endif
