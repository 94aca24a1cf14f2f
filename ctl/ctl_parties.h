/*
 * ctl_parties: the relying-party registry from jpkictl (docs/API.md "Relying parties";
 * DESIGN §12) — `rp add`, `rp list`, `rp show`, `rp suspend`, `rp resume`, `rp delete` and
 * `rp usage`. (The commands a relying party itself runs — ocsp, crl fetch, verify, card check —
 * are ctl_rp.h's; they present its credentials with the global --cert/--key or
 * --rp-token-file.)
 */
#ifndef JPKI_CTL_PARTIES_H
#define JPKI_CTL_PARTIES_H

#include "ctl/ctl.h"

int ctl_parties_add(struct ctl *ctl, const struct ctl_args *args);
int ctl_parties_list(struct ctl *ctl, const struct ctl_args *args);
int ctl_parties_show(struct ctl *ctl, const struct ctl_args *args);
int ctl_parties_suspend(struct ctl *ctl, const struct ctl_args *args);
int ctl_parties_resume(struct ctl *ctl, const struct ctl_args *args);
int ctl_parties_delete(struct ctl *ctl, const struct ctl_args *args);
int ctl_parties_usage(struct ctl *ctl, const struct ctl_args *args);

#endif
