/*
 * store_meta: the registry's settings (table meta, key/value), e.g. "crl_partitions.sign",
 * written at instance creation and read by the engines.
 */
#include "ca/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

static const char SQL_META_SET[] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
static const char SQL_META_GET[] = "SELECT value FROM meta WHERE key = ?1";

#define META_VALUE_MAX 4096

int store_meta_set(struct store *st, const char *key, const char *value, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_META_SET, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, key, STORE_META_KEY_MAX, "key", err) == -1 ||
        store_bind_str(s, 2, value, META_VALUE_MAX, "value", err) == -1)
        goto out;
    ret = store_step_done(st, s, "key", "meta", err);
out:
    store_stmt_done(s);
    return ret;
}

int store_meta_get(struct store *st, const char *key, char *out, size_t size, struct jerr *err)
{
    sqlite3_stmt *s = store_lookup(st, SQL_META_GET, key, STORE_META_KEY_MAX, "key",
                                   "registry setting", "meta", err);
    char buf[STORE_META_KEY_MAX * 4 + 1];
    int ret;

    if (s == NULL)
        return -1;
    if ((size_t)sqlite3_column_bytes(s, 0) >= size)
        ret = jerr_set(err, JERR_TOO_LARGE, "key", "registry setting %s does not fit",
                       store_esc(buf, sizeof(buf), key));
    else
        ret = store_col_copy(s, 0, out, size, "key", err);
    store_stmt_done(s);
    return ret;
}
