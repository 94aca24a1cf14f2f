/*
 * statusq: the per-query audit trail of registered relying parties (DESIGN §12) — one row per
 * OCSP answer or CRL download given to a party: time, party id, CA, serial asked about (OCSP),
 * answer status. Ids only: never a name, an address or any other personal data.
 *
 * Append-only and rotated by month: each month (UTC) is its own SQLite file,
 * DATA_DIR/audit/status-queries-YYYY-MM.db, whose table refuses UPDATE and DELETE (triggers);
 * an old month is archived or removed as a file, never edited. A file of its own rather than
 * the registry: the trail is written in batches of thousands of rows a second, and must not
 * hold the registry's write lock (issuance and revocation wait on it) nor its synchronous=FULL
 * commits; WAL with synchronous=NORMAL (a power cut may lose the last batch, as a kill -9
 * loses the batch not yet flushed: the docs state the bound).
 *
 * One writer (rpmeter's flush, on one worker at a time); readers open the month they read.
 */
#ifndef JPKI_STATUSQ_H
#define JPKI_STATUSQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/jerr.h"
#include "base/limits.h"

#define STATUSQ_DIR "audit"
#define STATUSQ_STATUS_MAX 15

struct statusq;

struct statusq_row {
    int64_t seq; /* set when read */
    int64_t at;  /* seconds since the epoch */
    char party[JPKI_ID_MAX + 1];
    int ca;                               /* enum ca_kind */
    char serial[JPKI_SERIAL_HEX_MAX + 1]; /* "" for a CRL download */
    char status[STATUSQ_STATUS_MAX + 1];  /* good, revoked, unknown, unauthorized, crl, ... */
};

/* The writer of the trail under `dir` (created 0750 if missing). NULL with err. */
struct statusq *statusq_open(const char *dir, struct jerr *err);
void statusq_close(struct statusq *q); /* NULL is a no-op */

/* Appends rows[0..n), each to the file of its month, one transaction per month. Returns 0 or
 * -1 (that month's rows not kept). */
int statusq_append(struct statusq *q, const struct statusq_row *rows, size_t n, struct jerr *err);

/* The same, once per mark: `mark` (a Redis stream id "MS-SEQ", jpkid respond's usage folded by
 * the CA node, responder/publish/rppub.h) is kept in each month's file in the transaction of
 * its rows, and rows of a mark not newer than the file's are skipped — a fold repeated after a
 * crash writes no row twice. */
int statusq_append_marked(struct statusq *q, const struct statusq_row *rows, size_t n,
                          const char *mark, struct jerr *err);
/* True when stream id `mark` comes after `last` (NULL or "" : nothing yet); false for a mark
 * that is no stream id. */
bool statusq_mark_newer(const char *mark, const char *last);

/* Rows of `month` ("YYYY-MM") under `dir`, oldest first, of party `party` and/or serial
 * `serial` (NULL = any), with seq > after, at most `limit`; each through cb (0 to go on). A
 * month without a file has no rows. Returns 0 or -1. */
typedef int (*statusq_cb)(void *ctx, const struct statusq_row *row);
int statusq_search(const char *dir, const char *month, const char *party, const char *serial,
                   int64_t after, size_t limit, statusq_cb cb, void *ctx, struct jerr *err);

/* "YYYY-MM" of `at` (UTC) into out[8]. */
void statusq_month(int64_t at, char out[8]);

#endif
