/*
 * pubqueue: see pubqueue.h.
 */
#include "ca/pubqueue.h"

int pubqueue_clear(struct store *st, const struct pubqueue_done *done, size_t n, struct jerr *err)
{
    if (n == 0)
        return 0;
    if (store_begin(st, err) == -1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (store_pub_clear(st, done[i].serial, done[i].seq, err) == -1) {
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

int pubqueue_seed(struct store *st, int64_t now, int64_t now_ms, int64_t *queued, struct jerr *err)
{
    if (store_begin(st, err) == -1)
        return -1;
    if (store_pub_seed(st, now, now_ms, queued, err) == -1 || store_commit(st, err) == -1) {
        store_rollback(st);
        return -1;
    }
    return 0;
}
