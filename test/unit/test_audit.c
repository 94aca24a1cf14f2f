/*
 * test_audit: the audit hash (ca/audit.c) and the hash chain as the registry keeps and checks
 * it (store_audit_append / store_audit_verify), including rows edited, deleted and relinked
 * behind the store's back through a raw SQLite connection.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "ca/audit.h"
#include "ca/store.h"
#include "config/jclock.h"
#include "testutil.h"

#define NOW ((int64_t)1700000000)
#define ROWS 6

static const unsigned char zeros[AUDIT_HASH_LEN];

static struct audit_entry make_entry(int i)
{
    struct audit_entry e;
    memset(&e, 0, sizeof(e));
    e.seq = i;
    e.at = NOW + i;
    snprintf(e.actor, sizeof(e.actor), "operator-%d", i % 2);
    snprintf(e.action, sizeof(e.action), "cert.revoke");
    snprintf(e.target, sizeof(e.target), "SERIAL%02d", i);
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    snprintf(e.detail, sizeof(e.detail), "ca=sign reason=keyCompromise n=%d", i);
    return e;
}

/* ---- audit_hash ---------------------------------------------------------------------- */

START_TEST(test_hash_deterministic)
{
    struct audit_entry e = make_entry(1);
    unsigned char h1[AUDIT_HASH_LEN], h2[AUDIT_HASH_LEN];

    ck_assert_int_eq(audit_hash(&e, zeros, h1), 0);
    ck_assert_int_eq(audit_hash(&e, zeros, h2), 0);
    ck_assert_mem_eq(h1, h2, AUDIT_HASH_LEN);
    ck_assert_int_ne(memcmp(h1, zeros, AUDIT_HASH_LEN), 0);

    /* Bytes after the NUL of a field are not part of it. */
    struct audit_entry dirty = e;
    memset(dirty.detail + strlen(dirty.detail) + 1, 'x', 10);
    ck_assert_int_eq(audit_hash(&dirty, zeros, h2), 0);
    ck_assert_mem_eq(h1, h2, AUDIT_HASH_LEN);
}
END_TEST

/* Each field, and the previous hash, changes the result. */
START_TEST(test_hash_each_field)
{
    struct audit_entry base = make_entry(3);
    unsigned char ref[AUDIT_HASH_LEN], h[AUDIT_HASH_LEN];
    unsigned char prev[AUDIT_HASH_LEN];

    ck_assert_int_eq(audit_hash(&base, zeros, ref), 0);
    for (int field = 0; field < 7; field++) {
        struct audit_entry e = base;
        switch (field) {
        case 0:
            e.seq++;
            break;
        case 1:
            e.at++;
            break;
        case 2:
            e.actor[0] ^= 1;
            break;
        case 3:
            e.action[0] ^= 1;
            break;
        case 4:
            e.target[0] ^= 1;
            break;
        case 5:
            e.outcome[0] ^= 1;
            break;
        case 6:
            e.detail[strlen(e.detail) - 1] ^= 1;
            break;
        }
        ck_assert_int_eq(audit_hash(&e, zeros, h), 0);
        ck_assert_msg(memcmp(h, ref, AUDIT_HASH_LEN) != 0, "field %d not hashed", field);
    }
    memset(prev, 0, sizeof(prev));
    prev[AUDIT_HASH_LEN - 1] = 1;
    ck_assert_int_eq(audit_hash(&base, prev, h), 0);
    ck_assert_int_ne(memcmp(h, ref, AUDIT_HASH_LEN), 0);
}
END_TEST

/* Length prefixes: moving a byte across a field boundary changes the hash. */
START_TEST(test_hash_field_boundaries)
{
    struct audit_entry a = make_entry(1), b = make_entry(1);
    unsigned char ha[AUDIT_HASH_LEN], hb[AUDIT_HASH_LEN];

    snprintf(a.action, sizeof(a.action), "ab");
    snprintf(a.target, sizeof(a.target), "c");
    snprintf(b.action, sizeof(b.action), "a");
    snprintf(b.target, sizeof(b.target), "bc");
    ck_assert_int_eq(audit_hash(&a, zeros, ha), 0);
    ck_assert_int_eq(audit_hash(&b, zeros, hb), 0);
    ck_assert_int_ne(memcmp(ha, hb, AUDIT_HASH_LEN), 0);

    /* Empty fields hash too, distinctly from absent ones moved around. */
    snprintf(a.detail, sizeof(a.detail), "%s", "");
    ck_assert_int_eq(audit_hash(&a, zeros, ha), 0);
}
END_TEST

START_TEST(test_hash_refuses_unterminated)
{
    struct audit_entry e = make_entry(1);
    unsigned char h[AUDIT_HASH_LEN];
    unsigned char untouched[AUDIT_HASH_LEN];

    memset(h, 0xAA, sizeof(h));
    memcpy(untouched, h, sizeof(h));
    memset(e.outcome, 'o', sizeof(e.outcome)); /* no NUL */
    ck_assert_int_eq(audit_hash(&e, zeros, h), -1);
    ck_assert_mem_eq(h, untouched, AUDIT_HASH_LEN); /* output written only on success */
    ck_assert_int_eq(audit_hash(NULL, zeros, h), -1);
}
END_TEST

/* A known answer, so the on-disk format cannot drift silently: SHA-256 over 32 zero bytes
 * then, length-prefixed (4 bytes big-endian), seq=1 and at=2 as 8-byte big-endian integers
 * and the texts "a", "b", "c", "ok", "" — computed independently with Python's hashlib. */
START_TEST(test_hash_known_answer)
{
    struct audit_entry e;
    unsigned char h[AUDIT_HASH_LEN];
    char hex[2 * AUDIT_HASH_LEN + 1];

    memset(&e, 0, sizeof(e));
    e.seq = 1;
    e.at = 2;
    snprintf(e.actor, sizeof(e.actor), "a");
    snprintf(e.action, sizeof(e.action), "b");
    snprintf(e.target, sizeof(e.target), "c");
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    ck_assert_int_eq(audit_hash(&e, zeros, h), 0);
    for (int i = 0; i < AUDIT_HASH_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    ck_assert_str_eq(hex, "cf6ad2f68fc2e6eed5682f947a51e8b64802c99ce54728710f08904ca6c6ffde");
}
END_TEST

/* ---- the chain in the registry ------------------------------------------------------- */

static char *dir;
static char path[4096];
static struct store *st;

static void setup(void)
{
    struct jerr err = {0};

    jclock_set((time_t)NOW);
    dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
    snprintf(path, sizeof(path), "%s/registry.db", dir);
    st = store_open(path, true, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    for (int i = 1; i <= ROWS; i++) {
        struct audit_entry e = make_entry(i);
        e.seq = 0; /* assigned by the store */
        ck_assert_msg(store_audit_append(st, &e, &err) == 0, "%s", err.msg);
    }
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    testutil_rmtree(dir);
    free(dir);
    dir = NULL;
    jclock_set(0);
}

/* Tampering happens behind the store's back, as an attacker with file access would. */
static void raw_exec(const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg != NULL ? msg : "");
    ck_assert_int_eq(sqlite3_changes(db), 1);
    sqlite3_free(msg);
    sqlite3_close(db);
}

static void verify_broken_at(int64_t want_bad, int64_t want_rows, const char *what)
{
    struct jerr err = {0};
    int64_t bad = -1, rows = -1;

    ck_assert_int_eq(store_audit_verify(st, &bad, &rows, &err), -1);
    ck_assert_int_eq(bad, want_bad);
    ck_assert_int_eq(rows, want_rows);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_msg(strstr(err.msg, what) != NULL, "message '%s' lacks '%s'", err.msg, what);
}

START_TEST(test_chain_intact)
{
    struct jerr err = {0};
    int64_t bad = -1, rows = -1;

    ck_assert_int_eq(store_audit_verify(st, &bad, &rows, &err), 0);
    ck_assert_int_eq(rows, ROWS);
    ck_assert_int_eq(bad, 0);

    /* The stored rows are exactly what audit_hash says, chained from 32 zero bytes. */
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    unsigned char prev[AUDIT_HASH_LEN] = {0};
    int64_t seq = 0;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT seq, prev_hash, hash FROM events ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        unsigned char h[AUDIT_HASH_LEN];
        struct audit_entry e = make_entry((int)++seq);
        ck_assert_int_eq(sqlite3_column_int64(s, 0), seq);
        ck_assert_int_eq(sqlite3_column_bytes(s, 1), AUDIT_HASH_LEN);
        ck_assert_mem_eq(sqlite3_column_blob(s, 1), prev, AUDIT_HASH_LEN);
        ck_assert_int_eq(audit_hash(&e, prev, h), 0);
        ck_assert_int_eq(sqlite3_column_bytes(s, 2), AUDIT_HASH_LEN);
        ck_assert_mem_eq(sqlite3_column_blob(s, 2), h, AUDIT_HASH_LEN);
        memcpy(prev, h, AUDIT_HASH_LEN);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    ck_assert_int_eq(seq, ROWS);
}
END_TEST

START_TEST(test_chain_empty)
{
    struct jerr err = {0};
    int64_t bad = -1, rows = -1;
    char other[4096 + 32];

    snprintf(other, sizeof(other), "%s/empty.db", dir);
    struct store *empty = store_open(other, true, &err);
    ck_assert_msg(empty != NULL, "%s", err.msg);
    ck_assert_int_eq(store_audit_verify(empty, &bad, &rows, &err), 0);
    ck_assert_int_eq(rows, 0);
    ck_assert_int_eq(bad, 0);
    store_close(empty);
}
END_TEST

START_TEST(test_edited_detail_detected)
{
    raw_exec("UPDATE events SET detail = 'ca=sign reason=unspecified n=3' WHERE seq = 3");
    verify_broken_at(3, 2, "hash mismatch");
}
END_TEST

START_TEST(test_edited_time_detected)
{
    raw_exec("UPDATE events SET at = at - 3600 WHERE seq = 5");
    verify_broken_at(5, 4, "hash mismatch");
}
END_TEST

START_TEST(test_edited_first_row_detected)
{
    raw_exec("UPDATE events SET actor = 'someone-else' WHERE seq = 1");
    verify_broken_at(1, 0, "hash mismatch");
}
END_TEST

/* An edit that also recomputes that row's hash still breaks the next row's link. */
START_TEST(test_rehashed_edit_detected)
{
    raw_exec("UPDATE events SET hash = zeroblob(32) WHERE seq = 2");
    verify_broken_at(2, 1, "hash mismatch");
}
END_TEST

START_TEST(test_deleted_row_detected)
{
    raw_exec("DELETE FROM events WHERE seq = 4");
    verify_broken_at(5, 3, "gap in seq");
}
END_TEST

START_TEST(test_deleted_first_row_detected)
{
    raw_exec("DELETE FROM events WHERE seq = 1");
    verify_broken_at(2, 0, "gap in seq");
}
END_TEST

START_TEST(test_changed_prev_hash_detected)
{
    raw_exec("UPDATE events SET prev_hash = zeroblob(32) WHERE seq = 3");
    verify_broken_at(3, 2, "wrong previous hash");
}
END_TEST

/* Deleting a row and renumbering the rest closes the gap, but not the chain. */
START_TEST(test_renumbered_rows_detected)
{
    raw_exec("DELETE FROM events WHERE seq = 6");
    raw_exec("UPDATE events SET seq = 6 WHERE seq = 5");
    raw_exec("UPDATE events SET seq = 5 WHERE seq = 4");
    raw_exec("UPDATE events SET seq = 4 WHERE seq = 3");
    raw_exec("UPDATE events SET seq = 3 WHERE seq = 2");
    raw_exec("DELETE FROM events WHERE seq = 1");
    raw_exec("UPDATE events SET seq = 1 WHERE seq = 3");
    /* Now seq 1 is the old row 2: its prev_hash is row 1's hash, not zeros. */
    verify_broken_at(1, 0, "wrong previous hash");
}
END_TEST

/* Appends continue the chain after a reopen and join a caller's transaction. */
START_TEST(test_append_continues_chain)
{
    struct jerr err = {0};
    int64_t bad = -1, rows = -1;
    struct audit_entry e = make_entry(7);

    store_close(st);
    st = store_open(path, false, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    ck_assert_int_eq(store_audit_append(st, &e, &err), 0);

    ck_assert_int_eq(store_begin(st, &err), 0);
    e = make_entry(8);
    ck_assert_int_eq(store_audit_append(st, &e, &err), 0);
    store_rollback(st); /* gone with the transaction: no gap left behind */

    ck_assert_int_eq(store_begin(st, &err), 0);
    e = make_entry(9);
    e.at = 0; /* stamped by the store */
    ck_assert_int_eq(store_audit_append(st, &e, &err), 0);
    ck_assert_int_eq(store_commit(st, &err), 0);

    ck_assert_int_eq(store_audit_verify(st, &bad, &rows, &err), 0);
    ck_assert_int_eq(rows, ROWS + 2);

    /* An unterminated field is refused and appends nothing. */
    e = make_entry(10);
    memset(e.action, 'x', sizeof(e.action));
    ck_assert_int_eq(store_audit_append(st, &e, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "action");
    jerr_clear(&err);
    ck_assert_int_eq(store_audit_verify(st, &bad, &rows, &err), 0);
    ck_assert_int_eq(rows, ROWS + 2);
}
END_TEST

static int last_at_cb(void *ctx, const struct audit_entry *e)
{
    *(int64_t *)ctx = e->at;
    return 0;
}

START_TEST(test_append_stamps_time)
{
    struct jerr err = {0};
    struct audit_entry e = make_entry(1);
    int64_t at = 0;

    snprintf(e.target, sizeof(e.target), "stamped");
    e.at = 0;
    jclock_set((time_t)(NOW + 999));
    ck_assert_int_eq(store_audit_append(st, &e, &err), 0);
    ck_assert_int_eq(store_audit_foreach_target(st, "stamped", last_at_cb, &at, &err), 0);
    ck_assert_int_eq(at, NOW + 999);
}
END_TEST

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *hash = tcase_create("hash");
    tcase_add_test(hash, test_hash_deterministic);
    tcase_add_test(hash, test_hash_each_field);
    tcase_add_test(hash, test_hash_field_boundaries);
    tcase_add_test(hash, test_hash_refuses_unterminated);
    tcase_add_test(hash, test_hash_known_answer);
    suite_add_tcase(s, hash);

    TCase *chain = tcase_create("chain");
    tcase_add_checked_fixture(chain, setup, teardown);
    tcase_add_test(chain, test_chain_intact);
    tcase_add_test(chain, test_chain_empty);
    tcase_add_test(chain, test_edited_detail_detected);
    tcase_add_test(chain, test_edited_time_detected);
    tcase_add_test(chain, test_edited_first_row_detected);
    tcase_add_test(chain, test_rehashed_edit_detected);
    tcase_add_test(chain, test_deleted_row_detected);
    tcase_add_test(chain, test_deleted_first_row_detected);
    tcase_add_test(chain, test_changed_prev_hash_detected);
    tcase_add_test(chain, test_renumbered_rows_detected);
    tcase_add_test(chain, test_append_continues_chain);
    tcase_add_test(chain, test_append_stamps_time);
    suite_add_tcase(s, chain);
    return s;
}

int main(void)
{
    return testutil_run(audit_suite());
}
