/*
 * ctl_audit: jpkictl audit show|checkpoint|verify — what an auditor reads of the audit log
 * (GET /v1/audit, GET /v1/audit/checkpoint; docs/API.md "Audit").
 *
 * verify trusts nothing the service computed: it checks the newest checkpoint's signature with
 * the audit public key (whose SHA-256 must be the one given with --key-sha256 or
 * $JPKI_AUDIT_KEY_SHA256, as jpkid init printed it; without one it says the key was not
 * pinned), then fetches the rows from the first and recomputes the hash chain (ca/audit.h) up
 * to the checkpoint's row, whose hash must be the signed head. checkpoint --out saves the
 * checkpoint (PEM) for `jpkid audit-verify --against` later.
 */
#ifndef JPKI_CTL_AUDIT_H
#define JPKI_CTL_AUDIT_H

#include "ctl/ctl.h"

int ctl_audit_show(struct ctl *ctl, const struct ctl_args *args);
int ctl_audit_checkpoint(struct ctl *ctl, const struct ctl_args *args);
int ctl_audit_verify(struct ctl *ctl, const struct ctl_args *args);

#endif
