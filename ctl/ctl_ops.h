/*
 * ctl_ops: jpkictl's operator commands — one function per call of the operator API
 * (docs/API.md): persons, cards and the card lifecycle, certificates (issuance, which writes a
 * card image, is ctl_window's; operator credentials are ctl_operators').
 * Each builds the request from its arguments, sends it through ctl_api, and prints the answer
 * for a person (or, with --json, as it came). Each returns the process exit status (ctl.h).
 *
 * The answers carry personal data (name, address, birth date, gender): they go to the output
 * stream only, sanitized; the error stream gets ids and the service's own words.
 */
#ifndef JPKI_CTL_OPS_H
#define JPKI_CTL_OPS_H

#include "ctl/ctl.h"

int ctl_ops_person_add(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_person_show(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_person_change(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_person_death(struct ctl *ctl, const struct ctl_args *args);

int ctl_ops_card_add(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_card_show(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_card_hold(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_card_release(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_card_return(struct ctl *ctl, const struct ctl_args *args);

int ctl_ops_cert_show(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_cert_revoke(struct ctl *ctl, const struct ctl_args *args);
int ctl_ops_cert_expiring(struct ctl *ctl, const struct ctl_args *args);

/* The notice printed after a release that leaves a signing certificate on hold (DESIGN §4:
 * it must be revoked and re-issued), followed by the commands that do it. */
#define CTL_OPS_RELEASE_NOTICE                                                                     \
    "the signing certificate stays on hold: revoke it with 'jpkictl cert revoke' and issue a "     \
    "new one with 'jpkictl card issue':"

/* True when `s` is a certificate serial as the service writes it: 1..JPKI_SERIAL_HEX_MAX hex
 * digits. Serials from answers must pass this before they name a file. */
bool ctl_ops_is_serial(const char *s);

#endif
