/*
 * fuzz_batch: a batch file (DESIGN §6, docs/BATCH.md) through batch_parse with BATCH_AUTO, so
 * both the YAML (libyaml) and the JSON (Jansson) door are reached. A file refused as a whole
 * leaves the outputs empty; an accepted one gives rows and problems in file order, each row
 * checked as the API checks it. Seeds: the examples of docs/BATCH.md and broken variants.
 */
#include <string.h>

#include "ca/batch.h"
#include "ca/lifecycle.h"
#include "ca/model.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct batch b;
    struct batch_problem *problems = (struct batch_problem *)&b; /* must be emptied */
    size_t problem_count = 12345;
    struct jerr err = {0};

    memset(&b, 0x5A, sizeof(b));
    if (batch_parse((const char *)data, size, BATCH_AUTO, &b, &problems, &problem_count, &err) ==
        -1) {
        FUZZ_CHECK(err.code == JERR_INVALID || err.code == JERR_TOO_LARGE ||
                   err.code == JERR_INTERNAL);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        /* "*out and the problem outputs are emptied first, so they are safe to free". */
        FUZZ_CHECK(b.rows == NULL && b.count == 0);
        FUZZ_CHECK(problems == NULL && problem_count == 0);
        batch_free(&b);
        batch_problems_free(problems);
        return 0;
    }
    FUZZ_CHECK(err.code == JERR_NONE);
    FUZZ_CHECK(b.count + problem_count >= 1 && b.count + problem_count <= JPKI_BATCH_MAX_ROWS);
    FUZZ_CHECK((problem_count == 0) == (problems == NULL));
    FUZZ_CHECK((b.count == 0) || b.rows != NULL);
    FUZZ_CHECK(memchr(b.key, '\0', sizeof(b.key)) != NULL && b.key[0] != '\0');
    for (size_t i = 0; i < b.count; i++) {
        const struct batch_row *r = &b.rows[i];
        struct jerr check = {0};
        FUZZ_CHECK(i == 0 || r->index > b.rows[i - 1].index);
        FUZZ_CHECK(r->key[0] != '\0' && memchr(r->key, '\0', sizeof(r->key)) != NULL);
        FUZZ_CHECK(model_check_person(&r->person, &check) == 0);
        FUZZ_CHECK(model_check_card(&r->card, &check) == 0);
        FUZZ_CHECK(strcmp(r->card.person_id, r->person.id) == 0);
        FUZZ_CHECK(r->which == ISSUE_SIGN || r->which == ISSUE_AUTH || r->which == ISSUE_BOTH);
        if (r->has_passwords) {
            size_t sign_len = strnlen(r->sign_password, sizeof(r->sign_password));
            FUZZ_CHECK(sign_len >= BATCH_SIGN_PASSWORD_MIN && sign_len <= BATCH_SIGN_PASSWORD_MAX);
            FUZZ_CHECK(strspn(r->sign_password, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
                       sign_len);
            FUZZ_CHECK(strlen(r->auth_password) == BATCH_AUTH_PIN_LEN &&
                       strspn(r->auth_password, "0123456789") == BATCH_AUTH_PIN_LEN);
        }
    }
    for (size_t i = 0; i < problem_count; i++) {
        const struct batch_problem *pr = &problems[i];
        FUZZ_CHECK(pr->row >= 1 && (i == 0 || pr->row > problems[i - 1].row));
        FUZZ_CHECK(memchr(pr->field, '\0', sizeof(pr->field)) != NULL);
        FUZZ_CHECK(memchr(pr->msg, '\0', sizeof(pr->msg)) != NULL && pr->msg[0] != '\0');
    }
    /* A good row and a bad row never share a row number. */
    for (size_t i = 0, j = 0; i < b.count && j < problem_count;) {
        FUZZ_CHECK(b.rows[i].index + 1 != problems[j].row);
        if (b.rows[i].index + 1 < problems[j].row)
            i++;
        else
            j++;
    }
    batch_free(&b);
    FUZZ_CHECK(b.rows == NULL && b.count == 0);
    batch_problems_free(problems);
    return 0;
}
