/*
 * ctl_verify: `jpkictl verify FILE SIG` — what a relying party (an agency receiving an
 * electronic application, DESIGN §1) does with a detached CMS signature made by a card's
 * signing key (`card sign`): the signature over FILE, the signer certificate's chain to the
 * signing CA root (--issuer FILE, else the root the service serves at /ca/sign.cer), its
 * validity period, and its status through OCSP (the CRL when OCSP gives no answer). The
 * signer's four facts are printed only when every check holds; otherwise the first reason that
 * fails, in words. Exit 0 only for a valid signature.
 *
 * The judgement is a pure function over what was found (ctl_verify_judge), so its order is
 * tested without a service.
 */
#ifndef JPKI_CTL_VERIFY_H
#define JPKI_CTL_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl/ctl.h"
#include "ctl/ctl_card_print.h"
#include "ctl/ctl_rp.h"

/* A signature file (DER or PEM CMS), at most. */
#define CTL_VERIFY_SIG_MAX (1024 * 1024)

enum ctl_verify_verdict {
    CTL_VERIFY_VALID = 0,
    CTL_VERIFY_MALFORMED,      /* not one CMS SignedData with one signer and its certificate */
    CTL_VERIFY_BAD_SIGNATURE,  /* the signature does not verify over the content: altered */
    CTL_VERIFY_UNKNOWN_ISSUER, /* the signer certificate does not chain to the signing root */
    CTL_VERIFY_NOT_YET_VALID,
    CTL_VERIFY_EXPIRED,
    CTL_VERIFY_REVOKED,
    CTL_VERIFY_ON_HOLD,
    CTL_VERIFY_UNKNOWN_CERT, /* the responder never issued it */
    CTL_VERIFY_NO_STATUS,    /* neither OCSP nor the CRL gave a verified answer */
};

/* What the checks found, in the order they run; a later field is meaningful only when the
 * earlier ones passed. */
struct ctl_verify_findings {
    bool well_formed;
    bool signature_ok;
    bool chain_ok;
    enum ctl_card_validity validity; /* at the time of verification */
    bool status_known;
    struct ctl_rp_status status;
};

/* The verdict: the first check that fails, in the order malformed, bad signature, unknown
 * issuer, not yet valid / expired, then the status (revoked, on hold, unknown, none); VALID
 * when all hold (a certificate with less than 3 months left is still valid). */
enum ctl_verify_verdict ctl_verify_judge(const struct ctl_verify_findings *f);

/* Short stable name of a verdict: "valid", "malformed", "bad signature", "unknown issuer",
 * "not yet valid", "expired", "revoked", "on hold", "unknown certificate", "no status". */
const char *ctl_verify_verdict_name(enum ctl_verify_verdict v);

/* The verdict in words, for the holder of the file: "revoked: the signer's certificate was
 * revoked on T (affiliationChanged)". `not_after` is the certificate's notAfter as text. */
void ctl_verify_reason(const struct ctl_verify_findings *f, enum ctl_verify_verdict v,
                       const char *not_after, char *out, size_t size);

int ctl_verify(struct ctl *ctl, const struct ctl_args *args);

#endif
