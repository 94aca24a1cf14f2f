/*
 * pubqueue: the registry's writes of the Redis publisher (DESIGN §13) — clearing the entries
 * Redis now has, in one transaction per batch (one sync, not one per serial), and seeding the
 * queue with everything when Redis lost it. The queue itself is written by the writers of
 * the responses (ca/store.h "Publication"); reading it needs no engine (store_pub_foreach).
 */
#ifndef JPKI_PUBQUEUE_H
#define JPKI_PUBQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "ca/store.h"
#include "base/jerr.h"

/* One entry Redis acknowledged. */
struct pubqueue_done {
    char serial[JPKI_SERIAL_HEX_MAX + 1];
    int64_t seq;
};

/* Removes done[0..n) from the queue (each only if still at its seq), all in one transaction.
 * Returns 0, or -1 with err (nothing removed: published again next time, which is harmless). */
int pubqueue_clear(struct store *st, const struct pubqueue_done *done, size_t n, struct jerr *err);

/* Queues every certificate and marks for pre-signing those lacking fresh responses
 * (store_pub_seed), in one transaction. *queued (may be NULL) = entries queued. */
int pubqueue_seed(struct store *st, int64_t now, int64_t now_ms, int64_t *queued, struct jerr *err);

#endif
