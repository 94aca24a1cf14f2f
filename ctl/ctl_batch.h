/*
 * ctl_batch: jpkictl's batch commands (docs/BATCH.md, docs/API.md) — `batch submit FILE` sends a
 * YAML or JSON batch file, then follows GET /v1/batches/{id} until the batch is done, drawing a
 * progress bar on a terminal (one line redrawn) or printing a line per change otherwise, and
 * ends with a summary that lists every refused or failed row with its error; `batch show ID`
 * prints a batch's progress and rows.
 *
 * Counting: a row is finished when it is no longer pending (total - pending), failed rows
 * included; the bar fills with finished / total.
 */
#ifndef JPKI_CTL_BATCH_H
#define JPKI_CTL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "ctl/ctl.h"

/* Milliseconds between two progress reads. */
#define CTL_BATCH_POLL_MS 300
/* Cells of the bar, at most and at least (narrow terminals shrink it). */
#define CTL_BATCH_BAR_MAX 40
#define CTL_BATCH_BAR_MIN 10

struct ctl_batch_counts {
    long total, finished, failed;
    bool done; /* state "done" */
};

int ctl_batch_submit(struct ctl *ctl, const struct ctl_args *args);
int ctl_batch_show(struct ctl *ctl, const struct ctl_args *args);

/* "[#########-----] 123/200 finished: 120 done, 3 failed" (done and failed counted apart:
 * `finished` includes the failed rows): `width` cells (at least 1), filled
 * floor(width * finished / total) (clamped; all of them when total is 0). Always
 * NUL-terminated. */
void ctl_batch_bar(char *out, size_t size, long finished, long failed, long total, int width);

/* The counts of a progress answer ({"state","total","done","failed","pending",…}). finished is
 * total - pending when pending is given, else done + failed. Returns 0, or -1 when total is
 * missing or a count is not a non-negative integer. */
int ctl_batch_counts(const json_t *progress, struct ctl_batch_counts *out);

/* The Content-Type of a batch file: by the name (.json / .yaml / .yml), else as the parser
 * would read it (JSON when the first non-blank byte is '{', else YAML). */
const char *ctl_batch_content_type(const char *path, const char *data, size_t len);

/* Writes the summary: the totals, every problem of the submission ("row N: field: message")
 * and every failed row of the progress ("row N (key K): code: message (field: F)") that is not
 * one of those problems (the service keeps a row refused at submission as a failed row).
 * `submitted` (NULL: the refusals are not counted) and `progress` may be NULL. Returns the
 * number of rows listed. */
size_t ctl_batch_summary(FILE *f, const json_t *submitted, const json_t *progress);

#endif
