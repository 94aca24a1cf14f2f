/*
 * crlcache: the published CRL files as the service serves them (DESIGN §5) — immutable,
 * reference-counted snapshots shared by every event loop (STYLE "readers get immutable
 * snapshots"), loaded on worker threads, never on a loop.
 *
 * A snapshot holds the file open and mapped (an evbuffer file segment: answers reference the
 * pages, nothing is copied per request, and a file the publisher replaces by rename stays
 * whole for the answers still using it), its SHA-256 (the ETag), and thisUpdate/nextUpdate
 * read from the CRL's header by crl_read_times (ca/crl_read.h). Only the header is decoded — a
 * CRL of millions of entries is never turned into OpenSSL objects here.
 *
 * struct crlcache is the shared table behind the loops: one slot per served file, each with
 * the current snapshot; crlcache_get (on a worker) returns it, reloading it when the file
 * changed (device, inode, size or mtime differ). Loops keep their own reference and ask again
 * at most once a second, or when told that the publisher wrote new files.
 */
#ifndef JPKI_CRLCACHE_H
#define JPKI_CRLCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "base/jerr.h"

struct evbuffer;
struct crlcache;
struct crlcache_snapshot;

/* How much of a CRL's beginning is read to find thisUpdate/nextUpdate (version, signature
 * algorithm, issuer name and the two times sit well inside it). */
#define CRLCACHE_HEAD_BYTES (64 * 1024)

/* Reads `path` into a new snapshot (reference count 1). JERR_NOT_FOUND when the file is
 * missing, JERR_INVALID when it is not a DER CRL whose header gives thisUpdate. libevent must be
 * thread-enabled already (evthread_use_pthreads). */
struct crlcache_snapshot *crlcache_load(const char *path, struct jerr *err);

/* Takes / drops a reference; the last drop frees it. Thread-safe. unref(NULL) is a no-op. */
void crlcache_snapshot_ref(struct crlcache_snapshot *snap);
void crlcache_snapshot_unref(struct crlcache_snapshot *snap);

/* The quoted hex SHA-256 of the file ("\"…\""). */
const char *crlcache_etag(const struct crlcache_snapshot *snap);
time_t crlcache_this_update(const struct crlcache_snapshot *snap);
/* 0 when the CRL has no nextUpdate. */
time_t crlcache_next_update(const struct crlcache_snapshot *snap);
/* The file's modification time. */
time_t crlcache_mtime(const struct crlcache_snapshot *snap);
size_t crlcache_size(const struct crlcache_snapshot *snap);

/* True when `st` (from stat of the path) is still the file of the snapshot. */
bool crlcache_is_current(const struct crlcache_snapshot *snap, const struct stat *st);

/* Appends the CRL's bytes to `out` by reference (no copy). Returns 0 or -1. */
int crlcache_add_body(const struct crlcache_snapshot *snap, struct evbuffer *out, struct jerr *err);

/* thisUpdate and nextUpdate of the CRL file at `path`, read from its head only (cheap at any
 * size). Returns 0, or -1 with err (JERR_NOT_FOUND when missing, JERR_INVALID when damaged). */
int crlcache_file_times(const char *path, time_t *this_update, time_t *next_update,
                        struct jerr *err);

/* A table of `slots` files. Returns NULL with err filled. */
struct crlcache *crlcache_new(size_t slots, struct jerr *err);
void crlcache_free(struct crlcache *cache);

/* On a worker: the current snapshot of slot `slot`, whose file is `path` (always the same path
 * for a slot), as a new reference the caller drops. Reloads when the file changed;
 * JERR_NOT_FOUND (and the slot emptied) when it is gone. Thread-safe. */
struct crlcache_snapshot *crlcache_get(struct crlcache *cache, size_t slot, const char *path,
                                       struct jerr *err);

#endif
