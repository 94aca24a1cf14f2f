/*
 * ocsp_cache: see ocsp_cache.h. A failure of one answer does not stop the others: the batch
 * commits what the registry took, and the failed serials keep their marks for the next pass.
 */
#include "ca/ocsp_cache.h"

#include <stdio.h>

/* Clears the marks of the serials done, inside ocsp_cache_store's transaction. */
static int clear_marks(struct store *st, const struct ocsp_cache_mark *marks, size_t mark_count,
                       size_t *cleared, struct jerr *err)
{
    for (size_t i = 0; i < mark_count; i++) {
        bool done = false;
        if (marks[i].seq <= 0 || marks[i].failed)
            continue;
        if (store_ocsp_dirty_clear(st, marks[i].serial, marks[i].seq, &done, err) == -1)
            return -1;
        if (done)
            (*cleared)++;
    }
    return 0;
}

static void all_failed(struct ocsp_cache_answer *answers, size_t count)
{
    for (size_t i = 0; i < count; i++)
        answers[i].state = OCSP_CACHE_FAILED;
}

int ocsp_cache_store(struct store *st, struct ocsp_cache_answer *answers, size_t count,
                     struct ocsp_cache_mark *marks, size_t mark_count, int64_t now, size_t *cleared,
                     struct jerr *err)
{
    int ret = 0;
    size_t cleared_now = 0;

    if (store_begin(st, err) == -1) {
        all_failed(answers, count);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        struct ocsp_cache_answer *a = &answers[i];
        bool current = false;
        struct jerr e = {0};
        if (store_ocsp_put_signed(st, a->rec, a->certid_hash, a->der, a->der_len, now,
                                  a->next_update, &current, &e) == 0) {
            a->state = current ? OCSP_CACHE_CURRENT : OCSP_CACHE_OUTDATED;
        } else if (e.code == JERR_NOT_FOUND) {
            a->state = OCSP_CACHE_OUTDATED; /* deleted meanwhile: nothing to answer */
        } else {
            a->state = OCSP_CACHE_FAILED;
            if (a->mark < mark_count)
                marks[a->mark].failed = true;
            jerr_set(err, e.code, e.field, "%s", e.msg);
            ret = -1;
        }
    }
    if (clear_marks(st, marks, mark_count, &cleared_now, err) == -1) {
        cleared_now = 0;
        ret = -1;
    }
    if (store_commit(st, err) == -1) {
        store_rollback(st);
        all_failed(answers, count);
        cleared_now = 0;
        ret = -1;
    }
    *cleared += cleared_now;
    return ret;
}

int ocsp_cache_drop(struct store *st, const char (*serials)[JPKI_SERIAL_HEX_MAX + 1], size_t n,
                    struct jerr *err)
{
    if (store_begin(st, err) == -1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (store_ocsp_delete(st, serials[i], err) == -1) {
            store_rollback(st);
            return -1;
        }
    }
    if (store_commit(st, err) == -1) {
        store_rollback(st);
        return -1;
    }
    return 0;
}
