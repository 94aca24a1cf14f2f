/*
 * ctl_tokencard: the window's side of a card on a PKCS#11 token (docs/CARD.md "A card on a
 * PKCS#11 token"): making a blank card and issuing onto it.
 *
 *   card init-token --pkcs11 M --token L --so-pin-file F --passwords-file P
 *        two uninitialised tokens of M become the card L, one per PIN, with the card's PIN
 *        rules enforced (keystore/cardtoken.h, cardtoken_init_card)
 *   card issue ID --certs WHICH --pkcs11 M --token L [--passwords-file P]
 *        the key pairs generated on the token, sent as CSRs the token keys signed (the service's
 *        proof of possession, public_keys of POST /v1/cards/{id}/issue), the certificates and
 *        the roots the service serves (checked against /ca/fingerprints) written back
 *
 * Each returns the process exit status (ctl.h). PINs are wiped after use and never printed.
 */
#ifndef JPKI_CTL_TOKENCARD_H
#define JPKI_CTL_TOKENCARD_H

#include "ctl/ctl.h"
#include "ctl/ctl_args.h"

int ctl_tokencard_init(struct ctl *ctl, const struct ctl_args *args);

/* `card issue` with --pkcs11/--token (ctl_window_card_issue hands it over). */
int ctl_tokencard_issue(struct ctl *ctl, const struct ctl_args *args);

#endif
