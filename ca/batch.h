/*
 * batch: parses a batch file of issuance rows (DESIGN §6) — YAML or JSON — into validated
 * rows. It only parses: registering, issuing, idempotency and progress belong to the batch
 * runner. The rows are read through ca/recjson.h, so a row's person and card are checked
 * exactly as the operator API checks them; YAML is first turned into the same JSON values.
 *
 * Format (docs/BATCH.md has full examples):
 *
 *   batch: "2026-11-25-chiyoda-001"   # the batch key: resubmitting it issues nothing twice
 *   rows:
 *     - key: "r1"                     # row key, unique within the batch
 *       person: {id, name, address, birth_date, gender}
 *       card: {id, type, expiry, prefecture?, municipality?}   # person_id is person.id
 *       certificates: both            # sign | auth | both | [sign, auth]
 *       passwords: {sign: "ABC123", auth: "1234"}   # optional initial card passwords
 *
 * The same in JSON: {"batch": "...", "rows": [{"key": "r1", "person": {...}, ...}]}.
 *
 * The file is judged in two steps:
 *  - as a whole: over JPKI_HTTP_MAX_BATCH_BODY_BYTES, a YAML/JSON syntax error (the message
 *    gives the line), a top level that is not a mapping, an unknown top-level key, a missing
 *    or invalid batch key, no rows or more than JPKI_BATCH_MAX_ROWS → the file is refused;
 *  - row by row: each bad row becomes one batch_problem (its first fault) and is left out;
 *    the good rows are returned. Repeated row keys and card ids are problems of the later
 *    row; so is a person id whose facts differ from an earlier row's.
 * Field paths index rows from 0 as in the file's list ("rows[0].person.name" is row 1).
 *
 * YAML subset: one document; mappings (keys unique), sequences and scalars only — no anchors,
 * aliases or tags. Plain (unquoted) scalars that are YAML 1.2 core-schema null, booleans or
 * integers become JSON null / true / false / numbers, everything else a string: so an all-digit
 * id or PIN must be quoted ("1234"), just as in JSON.
 */
#ifndef JPKI_CA_BATCH_H
#define JPKI_CA_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "ca/model.h"
#include "base/jerr.h"
#include "base/limits.h"

enum batch_format {
    BATCH_AUTO = 0, /* JSON if the first non-whitespace byte is '{', else YAML */
    BATCH_YAML,
    BATCH_JSON,
};

/* Signing password 6..16 of A-Z0-9; authentication PIN exactly 4 digits (DESIGN §1). */
#define BATCH_SIGN_PASSWORD_MIN 6
#define BATCH_SIGN_PASSWORD_MAX 16
#define BATCH_AUTH_PIN_LEN 4

struct batch_row {
    size_t index;              /* 0-based position in the file's rows (row number - 1) */
    char key[JPKI_ID_MAX + 1]; /* row key */
    struct person person;      /* checked by model_check_person */
    struct card card;          /* checked by model_check_card; person_id = person.id */
    int which;                 /* ISSUE_SIGN / ISSUE_AUTH / ISSUE_BOTH (ca/lifecycle.h) */
    bool has_passwords;
    char sign_password[BATCH_SIGN_PASSWORD_MAX + 1]; /* secret: wiped by batch_free */
    char auth_password[BATCH_AUTH_PIN_LEN + 1];      /* secret: wiped by batch_free */
};

struct batch {
    char key[JPKI_ID_MAX + 1]; /* the batch key */
    struct batch_row *rows;    /* the good rows, in file order */
    size_t count;
};

struct batch_problem {
    size_t row;     /* 1-based row number; 0 = the file as a whole */
    char field[96]; /* e.g. "rows[3].person.birth_date" */
    char msg[256];  /* for the operator; never contains a password */
};

/* Parses `data` (len bytes, not necessarily NUL-terminated). Returns -1 with err
 * (JERR_INVALID, or JERR_TOO_LARGE for the size and row caps) when the file as a whole is
 * refused; otherwise 0 with the good rows in *out and one problem per bad row, in row order,
 * in *problems (a malloc'd array the caller frees with batch_problems_free; NULL when
 * *problem_count is 0). *out and the problem outputs are emptied first, so they are safe to
 * free whatever the result. The caller frees *out with batch_free. */
int batch_parse(const char *data, size_t len, enum batch_format fmt, struct batch *out,
                struct batch_problem **problems, size_t *problem_count, struct jerr *err);

/* Wipes the passwords and frees the rows; leaves *b empty. Accepts NULL. */
void batch_free(struct batch *b);

void batch_problems_free(struct batch_problem *problems);

#endif
