/*
 * batch_exec: the work of a batch (DESIGN §6, docs/BATCH.md) — recording a parsed batch file in
 * the registry, and carrying out one row at a time: register the person if absent, the card if
 * absent, issue the certificates. No scheduling here (responder/batch/batchrun.h) and no HTTP
 * (responder/batch/batch_api.h):
 * plain functions over an instance and one registry connection, so that tests drive them
 * row by row against a real registry.
 *
 * Exactly once. A row is issued in the issuance's own transaction, whose before_commit hook
 * (lifecycle.h) moves the row from pending to done with its serials: the certificates and the
 * row's mark are durable together or not at all.
 *
 * Never done without its image. The row's card image (and, for generated passwords, its PIN
 * letter, ca/pinletter.h) is written and fsync'd to temp files before the transaction opens
 * (the before_begin hook: scrypt and fsyncs outside the write lock) and renamed into
 * DATA_DIR/cards/<batch>/ in before_commit, after the row is found still pending: a crash
 * leaves either a done row with its image or a pending row, and a failure to write fails the
 * row with nothing issued. So a crash can never leave an issued row
 * pending, and a run of a row that is no longer pending (a second job, a re-run after a
 * commit) is rolled back by that hook and issues nothing. Registering the person and the card
 * are events of their own; a re-run finds them and goes on.
 *
 * Several workers on one batch (DESIGN §8). The rows of a file are independent (one card, one
 * row: ca/batch.h), so several steps of one batch may run at once: each step claims its row
 * (store_batch_claim_next, one statement) for BATCH_EXEC_CLAIM_S, so two steps never work on
 * the same row. A claim only spares duplicate work — exactly-once is the hook's — so a claim
 * left by a crashed process is simply given back at the next start (batchrun.h), or lapses.
 * Two rows of one person may register it at the same moment: the loser of the insert finds
 * the winner's (ensure_person).
 *
 * Idempotent submission. A batch is known by its key. The registry keeps a SHA-256 of the
 * file's canonical rows (each good row's key, person, card and certificates, each problem's
 * row, field and message, in file order; the passwords are left out); submitting the same key
 * again with the same digest finds the first batch, with another digest is a conflict. So the
 * same rows in YAML or in JSON, or re-indented, are the same batch.
 *
 * Personal data: a row's person and card are kept (as JSON) only while the row is pending; the
 * row's error message may name ids and which facts differ, never their values. Nothing here
 * logs. A row's passwords (the holder's) ride with its pending request and are cleared with
 * it; generated passwords leave only in the sealed PIN letter, and a row needing one fails
 * (refused, field "passwords") when no batch.pin_letter_recipient is configured.
 */
#ifndef JPKI_BATCH_EXEC_H
#define JPKI_BATCH_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/batch.h"
#include "ca/lifecycle.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jerr.h"

/* SHA-256 of the canonical rows of a parsed file (see above) as lower-case hex. */
int batch_exec_digest(const struct batch *b, const struct batch_problem *problems,
                      size_t problem_count, char out[STORE_BATCH_DIGEST_HEX + 1], struct jerr *err);

/* Records a parsed file in one transaction, ended with ctx's before_commit (whose `result` is
 * the new struct batch_rec *): looks up its key; when that batch exists with the same digest,
 * *existing is true and *out is it (nothing written, the hook not run); with another digest,
 * JERR_CONFLICT (field "batch"); else inserts the batch (submitted by ctx->actor), a pending row
 * per good row and an invalid row per problem, and *out is the new batch. Returns 0 or -1
 * (nothing recorded). */
int batch_exec_submit(struct lifecycle_ctx *ctx, const struct batch *b,
                      const struct batch_problem *problems, size_t problem_count,
                      struct batch_rec *out, bool *existing, struct jerr *err);

enum batch_exec_outcome {
    BATCH_EXEC_ROW_DONE = 0, /* the row was issued */
    BATCH_EXEC_ROW_FAILED,   /* the row failed (its error is recorded) */
    BATCH_EXEC_ROW_SKIPPED,  /* the row was no longer pending: nothing done */
    BATCH_EXEC_FINISHED,     /* no row pending: the batch is now marked finished */
    BATCH_EXEC_IDLE,         /* the batch was finished already */
    BATCH_EXEC_WAITING,      /* every pending row is claimed by another step: nothing done */
};

/* Seconds a step's claim on its row lasts: far above what a row takes (two key generations,
 * three short transactions), so that it lapses only when its step is gone. */
#define BATCH_EXEC_CLAIM_S 60

struct batch_exec_result {
    enum batch_exec_outcome outcome;
    int64_t row;                   /* the row worked on (0 for FINISHED / IDLE) */
    struct batch_row_rec rec;      /* ROW_DONE / ROW_FAILED: the row as recorded */
    size_t issued[CA_KIND_COUNT];  /* certificates issued, by CA */
    struct serial_list superseded; /* certificates the issuance revoked `superseded` */
    struct batch_rec batch;        /* FINISHED / IDLE: the batch as finished */
    /* An internal failure recorded as the row's error: its detail for the service log (never
     * personal data: a registry or crypto message), "" otherwise. */
    char internal[256];
};
/* Frees what a result holds (the superseded list) and empties it. */
void batch_exec_result_free(struct batch_exec_result *r);

/* Works on batch `batch_id`: claims the lowest pending row no other step has claimed and
 * carries it out (batch_exec_row); when every pending row is claimed, WAITING; when none is
 * left, marks the batch finished with an audit row ("batch.finish"). Returns 0 with *out
 * filled, or -1 with err when the registry cannot be used now (JERR_UNAVAILABLE and the like:
 * the row stays pending, its claim given back, for a later try) or there is no such batch
 * (JERR_NOT_FOUND). */
int batch_exec_step(struct pki *pki, struct store *st, int64_t batch_id,
                    struct batch_exec_result *out, struct jerr *err);

/* Carries out row `row` (read as pending, its `request` as stored) of batch `b`, acting as
 * b->submitted_by. A refusal (invalid, not found, refused, conflict) or an internal failure
 * fails the row with that error; a row found no longer pending is left alone (SKIPPED).
 * Returns -1 (row left pending) only when the registry is unavailable. */
int batch_exec_row(struct pki *pki, struct store *st, const struct batch_rec *b,
                   const struct batch_row_rec *row, const char *request,
                   struct batch_exec_result *out, struct jerr *err);

/* Removes the staged files a crash left in batch `batch_key`'s card directory (temp files of
 * images and letters never published; they hold only what an image or a letter holds). Only
 * while no row of the batch runs: at start, before the batch resumes. *removed counts them.
 * A missing directory is fine. Returns 0 or -1. */
int batch_exec_sweep(struct pki *pki, const char *batch_key, int64_t *removed, struct jerr *err);

#endif
