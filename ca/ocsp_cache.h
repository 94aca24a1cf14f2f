/*
 * ocsp_cache: the registry's writes of pre-signed OCSP responses (DESIGN §5, §8) — storing a
 * batch of freshly signed answers with the refresher's marks they settle, and dropping the
 * answers of expired certificates — each batch one transaction (one sync, not one per answer).
 * Signing is the caller's (ca/ocsp.h), before the transaction opens: writers never wait for it.
 */
#ifndef JPKI_OCSP_CACHE_H
#define JPKI_OCSP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/store.h"
#include "base/jerr.h"

/* What became of one answer offered to ocsp_cache_store. */
enum ocsp_cache_state {
    OCSP_CACHE_PENDING = 0, /* not stored yet */
    OCSP_CACHE_CURRENT,     /* stored, and the registry's status is still the one signed */
    OCSP_CACHE_OUTDATED,    /* the status changed meanwhile (or the certificate is gone) */
    OCSP_CACHE_FAILED,      /* the registry could not take it */
};

/* One signed answer to store. */
struct ocsp_cache_answer {
    const struct cert_rec *rec; /* the certificate as signed */
    int certid_hash;            /* OCSP_CERTID_* */
    const unsigned char *der;
    size_t der_len;
    int64_t next_update;
    size_t mark;                 /* its serial's index in the marks */
    enum ocsp_cache_state state; /* set by ocsp_cache_store */
};

/* The refresher's mark of one serial (store_ocsp_dirty_clear): cleared once its answers are
 * stored, kept when one of them failed. */
struct ocsp_cache_mark {
    const char *serial;
    int64_t seq; /* the mark's changed_seq; <= 0: none to clear */
    bool failed; /* in: the serial failed before; out: also when one of its answers failed */
};

/* Stores answers[0..count) (signed at `now`) and clears the marks of the serials done (marks may
 * be NULL when mark_count is 0), in one transaction; sets each answer's state and adds the
 * marks cleared to *cleared. An answer whose row the registry no longer has is OUTDATED; one
 * stored stale (outdated) still clears its mark: the change that outdated it marked the serial
 * again. Returns 0, or -1 with err (the first failure): the answers not stored are FAILED, and
 * when the transaction itself failed all of them are and no mark is cleared. */
int ocsp_cache_store(struct store *st, struct ocsp_cache_answer *answers, size_t count,
                     struct ocsp_cache_mark *marks, size_t mark_count, int64_t now, size_t *cleared,
                     struct jerr *err);

/* Deletes the stored answers of serials[0..n) (expired certificates), all in one transaction or
 * none. Returns 0, or -1 with err (nothing deleted). */
int ocsp_cache_drop(struct store *st, const char (*serials)[JPKI_SERIAL_HEX_MAX + 1], size_t n,
                    struct jerr *err);

#endif
