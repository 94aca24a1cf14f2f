/*
 * ratelimit: calls per client and minute (limits.api_per_minute, limits.holder_per_minute),
 * shared by every event loop without a lock.
 *
 * DESIGN
 * - A token bucket per client, kept as one number: its "theoretical arrival time" (the
 *   generic cell rate algorithm, GCRA, which is a token bucket in another form). A limit of R
 *   calls a minute spaces calls T = 60 s / R apart and lets a full minute's allowance (R calls)
 *   come at once; a call is refused when the client is more than R - 1 calls ahead of that
 *   pace, and told when the next one will be admitted (Retry-After, RFC 9110 §10.2.3).
 * - The state of a client is one 64-bit word updated by compare-and-swap, in a fixed table of
 *   slots probed from the hash of the client's key (an address, a credential): no lock, no
 *   allocation on the hot path, memory fixed at creation. The hash is keyed with a random
 *   secret per table, so that nobody can aim collisions at someone else's slot.
 * - When every slot of a probe window is taken, the one that was idle longest is taken over:
 *   a slot whose time has passed holds nothing (a full bucket), so this only forgives a debt
 *   when a flood of distinct clients overfills the table. Two threads racing on a take-over
 *   may misattribute one call. When contention keeps a thread from claiming a slot at all,
 *   the call is admitted: the limiter never refuses what it could not count.
 * - The clock is the caller's (microseconds, monotonic): tests drive it by hand.
 *
 * Thread-safe: ratelimit_admit may run on any number of threads at once.
 */
#ifndef JPKI_RATELIMIT_H
#define JPKI_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/jerr.h"

/* Slots of a table (a power of two): clients tracked at once, ~16 bytes each. */
#define RATELIMIT_SLOTS 16384
/* Slots looked at for one client before one is taken over. */
#define RATELIMIT_PROBE 8
/* Longest key (a credential is hashed by the caller if longer). */
#define RATELIMIT_KEY_MAX 512

struct ratelimit;

/* A limiter of `per_minute` calls a minute per client (1..1000000), with `slots` slots (a
 * power of two, 0 = RATELIMIT_SLOTS). Returns NULL with err filled. */
struct ratelimit *ratelimit_new(int per_minute, size_t slots, struct jerr *err);

/* NULL is a no-op. */
void ratelimit_free(struct ratelimit *rl);

/* Charges one call of the client `key` (1..RATELIMIT_KEY_MAX bytes) at `now_us`. Returns true
 * when it is admitted; false when it is over the limit, with *retry_after_s (≥ 1) the seconds
 * until one more would be admitted. A NULL limiter (no limit configured) admits everything. */
bool ratelimit_admit(struct ratelimit *rl, const void *key, size_t key_len, uint64_t now_us,
                     int *retry_after_s);

/* True when one more call of `key` would be refused at `now_us` (with *retry_after_s as
 * ratelimit_admit gives it), without charging anything. False for a NULL limiter. */
bool ratelimit_is_over(struct ratelimit *rl, const void *key, size_t key_len, uint64_t now_us,
                       int *retry_after_s);

/* The monotonic clock in microseconds, for callers of ratelimit_admit. */
uint64_t ratelimit_now_us(void);

/* Bytes of a client address key (a family tag and at most 16 address bytes). */
#define RATELIMIT_ADDR_KEY_MAX 17

/* The key of a client address, written into out (RATELIMIT_ADDR_KEY_MAX bytes): an IPv4
 * address whole (IPv4-mapped IPv6 addresses count as IPv4), an IPv6 address by its /64 prefix —
 * the block one subscriber is usually given, so that a client cannot step around its limit by
 * changing the low bits. Returns the length, or 0 for another family (or NULL). */
size_t ratelimit_addr_key(const struct sockaddr *sa, unsigned char out[RATELIMIT_ADDR_KEY_MAX]);

#endif
