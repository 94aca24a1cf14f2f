/*
 * refusals: the refused logins (401) of the operator API, counted per client address and
 * minute, so that a client sending bad credentials as fast as it can (thousands a minute)
 * costs the audit log one row per address and minute, not one per attempt (issue 17).
 *
 * The first refusal of an address in a minute is audited on its own as before (the caller
 * writes its full row at once); the others are only counted here, and once the minute is over
 * (or at shutdown) the caller writes one row per address: "n refused in that minute". The
 * table is bounded (REFUSALS_CAPACITY addresses a minute): refusals from further addresses
 * are counted together under REFUSALS_OTHER, and get no row of their own.
 *
 * Thread-safe (one mutex: only refused calls and the flush take it, never an accepted call).
 */
#ifndef JPKI_REFUSALS_H
#define JPKI_REFUSALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/jerr.h"
#include "responder/net/clientaddr.h"

/* Addresses counted at once (a power of two). */
#define REFUSALS_CAPACITY 4096
/* The address of the tally of refusals that found the table full. */
#define REFUSALS_OTHER "(other addresses)"

struct refusals;

/* One address's refusals of one minute. */
struct refusal_tally {
    char addr[CLIENTADDR_TEXT_MAX]; /* or REFUSALS_OTHER */
    int64_t minute;                 /* seconds since the epoch / 60 */
    uint64_t count;                 /* every refusal of that minute, the first included */
};

/* An empty table of `capacity` addresses (a power of two; 0 = REFUSALS_CAPACITY). NULL with
 * err on failure. */
struct refusals *refusals_new(size_t capacity, struct jerr *err);
/* NULL is a no-op (counts not taken are lost: take them first). */
void refusals_free(struct refusals *r);

/* Counts one refusal of `addr` in `minute`. Returns true when it is the first of that address
 * in that minute: the caller audits it on its own. False: counted only (also when the table
 * is full: counted under REFUSALS_OTHER). */
bool refusals_count(struct refusals *r, const char *addr, int64_t minute);

/* True when some tally of a minute before `minute` waits to be taken (cheap, no lock). */
bool refusals_are_due(struct refusals *r, int64_t minute);

/* Removes the tallies of minutes before `minute` (INT64_MAX: all) and writes those that
 * counted more than their first refusal (and every REFUSALS_OTHER one) into out[0..max). Returns
 * how many were written; a table holding more than `max` of them keeps the rest for the next call.
 */
size_t refusals_take(struct refusals *r, int64_t minute, struct refusal_tally *out, size_t max);

#endif
