/*
 * audit: the hash chain of the audit log. Pure: the store calls it on append and on verify.
 * hash(row) = SHA-256(prev_hash || each field length-prefixed), so editing any field of any row,
 * deleting a row or reordering rows breaks the chain at that row.
 */
#ifndef JPKI_AUDIT_H
#define JPKI_AUDIT_H

#include "ca/store.h"

#define AUDIT_HASH_LEN 32

/* Computes the hash of `e` chained to `prev` (all zero for the first row). Returns 0 or -1. */
int audit_hash(const struct audit_entry *e, const unsigned char prev[AUDIT_HASH_LEN],
               unsigned char out[AUDIT_HASH_LEN]);

#endif
