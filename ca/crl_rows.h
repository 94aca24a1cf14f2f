/*
 * crl_rows: the registry's CRL rows (store_crl_foreach), read by a thread of their own and
 * handed over in batches, so that reading SQLite and DER-encoding the entries run on two
 * cores at once (DESIGN §8: a CRL of 1 M entries ≥ 10 × faster than `openssl ca -gencrl`).
 * Memory is bounded: a few batches of fixed size, whatever the number of rows.
 *
 *   struct crl_rows *rows = crl_rows_start(st, ca, partition, now, err);
 *   while ((n = crl_rows_next(rows, &batch, err)) > 0) ...use batch[0..n)...
 *   crl_rows_finish(rows);   // also after an error, or to stop early
 *
 * The store connection belongs to the reader thread until crl_rows_finish returns.
 */
#ifndef JPKI_CA_CRL_ROWS_H
#define JPKI_CA_CRL_ROWS_H

#include <stdint.h>

#include "ca/store.h"
#include "base/jerr.h"

struct crl_rows;

/* Starts reading the rows store_crl_foreach(st, ca, partition, now) would give. Returns NULL
 * with err filled when the thread cannot start. */
struct crl_rows *crl_rows_start(struct store *st, enum ca_kind ca, int partition, int64_t now,
                                struct jerr *err);

/* The same for the rows of a delta CRL: store_crl_delta_foreach(st, ca, since_seq, now). */
struct crl_rows *crl_rows_start_delta(struct store *st, enum ca_kind ca, int64_t since_seq,
                                      int64_t now, struct jerr *err);

/* The next batch of rows: returns how many (*batch points at them until the next call), 0 at
 * the end, or -1 with err filled when reading failed. */
long crl_rows_next(struct crl_rows *r, const struct crl_entry_rec **batch, struct jerr *err);

/* Stops the reader (unread rows are dropped), waits for it and frees everything. NULL is a
 * no-op. */
void crl_rows_finish(struct crl_rows *r);

#endif
