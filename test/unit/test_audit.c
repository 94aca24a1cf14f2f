/*
 * test_audit: the audit hash (ca/audit.c) and the hash chain as the registry keeps and checks
 * it (store_audit_append / store_audit_verify), including rows edited, deleted and relinked
 * behind the store's back through a raw SQLite connection; the signed checkpoints
 * (ca/checkpoint.c) and what they catch that the chain alone cannot: the newest rows cut off,
 * a row changed and every later hash recomputed, checkpoints removed (--against).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "ca/audit.h"
#include "ca/checkpoint.h"
#include "ca/store.h"
#include "keystore/signer.h"
#include "base/jclock.h"
#include "testinst.h"

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

static struct testutil_registry reg;
static const char *path; /* reg's, for the tampering behind the store's back */
static struct store *st;

static void setup(void)
{
    struct jerr err = {0};

    testutil_registry_open(&reg, (time_t)NOW);
    path = reg.path;
    st = reg.st;
    for (int i = 1; i <= ROWS; i++) {
        struct audit_entry e = make_entry(i);
        e.seq = 0; /* assigned by the store */
        ck_assert_msg(store_audit_append(st, &e, &err) == 0, "%s", err.msg);
    }
}

static void teardown(void)
{
    reg.st = st; /* a test may have reopened it */
    testutil_registry_close(&reg);
    st = NULL;
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

    snprintf(other, sizeof(other), "%s/empty.db", reg.dir);
    struct store *empty = store_open(other, true, &err);
    ck_assert_msg(empty != NULL, "%s", err.msg);
    ck_assert_int_eq(store_audit_verify(empty, &bad, &rows, &err), 0);
    ck_assert_int_eq(rows, 0);
    ck_assert_int_eq(bad, 0);
    store_close(empty);
}
END_TEST

/* One tampering each, behind the store's back: the row verification stops at, how many rows
 * before it verified, and what it says. */
static const struct {
    const char *sql;
    int64_t bad, rows;
    const char *what;
} tamperings[] = {
    {"UPDATE events SET detail = 'ca=sign reason=unspecified n=3' WHERE seq = 3", 3, 2,
     "hash mismatch"},
    {"UPDATE events SET at = at - 3600 WHERE seq = 5", 5, 4, "hash mismatch"},
    {"UPDATE events SET actor = 'someone-else' WHERE seq = 1", 1, 0, "hash mismatch"},
    /* An edit that also recomputes that row's hash still breaks the next row's link. */
    {"UPDATE events SET hash = zeroblob(32) WHERE seq = 2", 2, 1, "hash mismatch"},
    {"DELETE FROM events WHERE seq = 4", 5, 3, "gap in seq"},
    {"DELETE FROM events WHERE seq = 1", 2, 0, "gap in seq"},
    {"UPDATE events SET prev_hash = zeroblob(32) WHERE seq = 3", 3, 2, "wrong previous hash"},
};

START_TEST(test_tampering_detected)
{
    raw_exec(tamperings[_i].sql);
    verify_broken_at(tamperings[_i].bad, tamperings[_i].rows, tamperings[_i].what);
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

/* ---- checkpoints ------------------------------------------------------------------------ */

static struct signer *audit_key, *other_key; /* made once, in the parent (unchecked fixture) */

static void keys_setup(void)
{
    struct jerr err = {0};
    audit_key = signer_generate(TEST_RSA2048, &err);
    other_key = signer_generate(TEST_RSA2048, &err);
    ck_assert_msg(audit_key != NULL && other_key != NULL, "%s", err.msg);
}

static void keys_teardown(void)
{
    signer_free(audit_key);
    signer_free(other_key);
}

static void checkpoint_now(void)
{
    struct jerr err = {0};
    bool written = false;
    ck_assert_msg(checkpoint_write(st, audit_key, true, &written, &err) == 0, "%s", err.msg);
}

/* Verifies the registry with the audit key; returns 0/-1 and the error. */
static int verify_registry(const unsigned char *against, size_t against_len,
                           struct checkpoint_report *rep, struct jerr *err)
{
    EVP_PKEY *pub = signer_get1_public_key(audit_key);
    int rc = checkpoint_verify_registry(st, pub, against, against_len, rep, err);
    EVP_PKEY_free(pub);
    return rc;
}

static void expect_refused(const unsigned char *against, size_t against_len, const char *what)
{
    struct jerr err = {0};
    struct checkpoint_report rep;
    ck_assert_int_eq(verify_registry(against, against_len, &rep, &err), -1);
    ck_assert_msg(strstr(err.msg, what) != NULL, "message '%s' lacks '%s'", err.msg, what);
}

/* The insider's rewrite: row `seq`'s actor changed, and every hash from there recomputed, so
 * that the chain alone is intact again. */
static void rewrite_chain_from(int64_t seq)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL, *u = NULL;
    unsigned char prev[AUDIT_HASH_LEN] = {0};

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT seq, at, actor, action, target, outcome, "
                                        "detail, prev_hash FROM events ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "UPDATE events SET actor = ?2, prev_hash = ?3, "
                                        "hash = ?4 WHERE seq = ?1",
                                        -1, &u, NULL),
                     SQLITE_OK);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct audit_entry e;
        unsigned char h[AUDIT_HASH_LEN];
        memset(&e, 0, sizeof(e));
        e.seq = sqlite3_column_int64(s, 0);
        e.at = sqlite3_column_int64(s, 1);
        snprintf(e.actor, sizeof(e.actor), "%s",
                 e.seq == seq ? "innocent" : (const char *)sqlite3_column_text(s, 2));
        snprintf(e.action, sizeof(e.action), "%s", (const char *)sqlite3_column_text(s, 3));
        snprintf(e.target, sizeof(e.target), "%s", (const char *)sqlite3_column_text(s, 4));
        snprintf(e.outcome, sizeof(e.outcome), "%s", (const char *)sqlite3_column_text(s, 5));
        snprintf(e.detail, sizeof(e.detail), "%s", (const char *)sqlite3_column_text(s, 6));
        if (e.seq < seq) {
            ck_assert_int_eq(audit_hash(&e, prev, h), 0);
            memcpy(prev, h, AUDIT_HASH_LEN);
            continue;
        }
        ck_assert_int_eq(audit_hash(&e, prev, h), 0);
        sqlite3_bind_int64(u, 1, e.seq);
        sqlite3_bind_text(u, 2, e.actor, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(u, 3, prev, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
        sqlite3_bind_blob(u, 4, h, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
        ck_assert_int_eq(sqlite3_step(u), SQLITE_DONE);
        sqlite3_reset(u);
        memcpy(prev, h, AUDIT_HASH_LEN);
    }
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_finalize(s);
    sqlite3_finalize(u);
    sqlite3_close(db);
}

START_TEST(test_checkpoint_round_trip)
{
    struct jerr err = {0};
    unsigned char head[AUDIT_HASH_LEN], *der = NULL, *back = NULL;
    size_t der_len = 0, back_len = 0;
    struct checkpoint cp;
    EVP_PKEY *pub = signer_get1_public_key(audit_key);
    EVP_PKEY *other = signer_get1_public_key(other_key);

    memset(head, 0xab, sizeof(head));
    ck_assert_int_eq(checkpoint_sign(audit_key, 600, head, NOW + 5, &der, &der_len, &err), 0);
    ck_assert_msg(checkpoint_verify(der, der_len, pub, &cp, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cp.rows, 600);
    ck_assert_int_eq(cp.at, NOW + 5);
    ck_assert_mem_eq(cp.head, head, AUDIT_HASH_LEN);

    /* Another key: refused by the key id before the signature is even tried. */
    ck_assert_int_eq(checkpoint_verify(der, der_len, other, &cp, &err), -1);
    ck_assert_int_eq(err.code, JERR_CRYPTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "another key"));

    /* Every single-byte change of the DER is refused (malformed or a bad signature). */
    for (size_t i = 0; i < der_len; i++) {
        der[i] ^= 0x01;
        jerr_clear(&err);
        ck_assert_msg(checkpoint_verify(der, der_len, pub, &cp, &err) == -1,
                      "byte %zu changed, still verified", i);
        der[i] ^= 0x01;
    }
    /* Trailing bytes are refused. */
    unsigned char *longer = malloc(der_len + 1);
    memcpy(longer, der, der_len);
    longer[der_len] = 0;
    jerr_clear(&err);
    ck_assert_int_eq(checkpoint_verify(longer, der_len + 1, pub, &cp, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    free(longer);

    /* PEM and DER files decode to the same bytes. */
    char *pem = checkpoint_to_pem(der, der_len, &err);
    ck_assert_ptr_nonnull(pem);
    ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN " CHECKPOINT_PEM_LABEL "-----"));
    ck_assert_int_eq(
        checkpoint_decode_file((unsigned char *)pem, strlen(pem), &back, &back_len, &err), 0);
    ck_assert_uint_eq(back_len, der_len);
    ck_assert_mem_eq(back, der, der_len);
    free(back);
    back = NULL;
    ck_assert_int_eq(checkpoint_decode_file(der, der_len, &back, &back_len, &err), 0);
    ck_assert_mem_eq(back, der, der_len);
    free(back);
    jerr_clear(&err);
    ck_assert_int_eq(
        checkpoint_decode_file((const unsigned char *)"hello", 5, &back, &back_len, &err), -1);
    ck_assert_str_eq(err.field, "checkpoint");
    free(pem);
    free(der);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(other);
}
END_TEST

START_TEST(test_checkpoint_written_only_when_new)
{
    struct jerr err = {0};
    bool written = false;
    int64_t rows = 0;
    unsigned char *der = NULL;
    size_t der_len = 0;

    ck_assert_int_eq(checkpoint_write(st, audit_key, true, &written, &err), 0);
    ck_assert(written);
    ck_assert_int_eq(checkpoint_write(st, audit_key, true, &written, &err), 0);
    ck_assert(!written); /* nothing appended since */
    ck_assert_int_eq(checkpoint_write(st, audit_key, false, &written, &err), 0);
    ck_assert(written); /* forced */
    struct audit_entry e = make_entry(7);
    ck_assert_int_eq(store_audit_append(st, &e, &err), 0);
    ck_assert_int_eq(checkpoint_write(st, audit_key, true, &written, &err), 0);
    ck_assert(written);
    ck_assert_int_eq(store_checkpoint_last(st, &rows, &der, &der_len, &err), 0);
    ck_assert_int_eq(rows, ROWS + 1);
    free(der);

    struct checkpoint_report rep;
    ck_assert_msg(verify_registry(NULL, 0, &rep, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rep.rows, ROWS + 1);
    ck_assert_uint_eq(rep.checkpoints, 3);
    ck_assert_int_eq(rep.covered_rows, ROWS + 1);
}
END_TEST

/* The chain alone cannot see its newest row cut off; the checkpoint does. */
START_TEST(test_checkpoint_catches_truncation)
{
    struct jerr err = {0};
    int64_t bad = -1, rows = -1;

    checkpoint_now();
    raw_exec("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)");
    ck_assert_int_eq(store_audit_verify(st, &bad, &rows, &err), 0); /* the chain is fooled */
    expect_refused(NULL, 0, "the registry's log ends at row 5: rows were deleted");

    /* Nor is a new checkpoint signed over the shorter log. */
    bool written = true;
    jerr_clear(&err);
    ck_assert_int_eq(checkpoint_write(st, audit_key, true, &written, &err), -1);
    ck_assert(!written);
    ck_assert_ptr_nonnull(strstr(err.msg, "no checkpoint signed"));
}
END_TEST

/* Row 2's actor changed and every later hash recomputed: the chain holds, the signed head
 * does not. */
START_TEST(test_checkpoint_catches_rewrite)
{
    struct jerr err = {0};
    int64_t bad = -1, rows = -1;

    checkpoint_now();
    rewrite_chain_from(2);
    ck_assert_int_eq(store_audit_verify(st, &bad, &rows, &err), 0); /* the chain is fooled */
    ck_assert_int_eq(rows, ROWS);
    expect_refused(NULL, 0, "another hash: the log was rewritten");
}
END_TEST

/* A checkpoint kept outside the registry catches what follows the removal of the registry's
 * own checkpoints; one signed by another key is refused. */
START_TEST(test_checkpoint_against)
{
    struct jerr err = {0};
    unsigned char *saved = NULL, *forged = NULL, head[AUDIT_HASH_LEN];
    size_t saved_len = 0, forged_len = 0;
    int64_t rows = 0;
    struct checkpoint_report rep;

    checkpoint_now();
    ck_assert_int_eq(store_checkpoint_last(st, &rows, &saved, &saved_len, &err), 0);
    ck_assert_msg(verify_registry(saved, saved_len, &rep, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rep.checkpoints, 2);

    raw_exec("DELETE FROM audit_checkpoints");
    raw_exec("DELETE FROM events WHERE seq = 6");
    ck_assert_msg(verify_registry(NULL, 0, &rep, &err) == 0, "%s", err.msg); /* fooled */
    expect_refused(saved, saved_len, "covers 6 rows, but the registry's log ends at row 5");

    ck_assert_int_eq(store_audit_head(st, &rows, head, &err), 0);
    ck_assert_int_eq(checkpoint_sign(other_key, rows, head, NOW, &forged, &forged_len, &err), 0);
    expect_refused(forged, forged_len, "another key");
    free(saved);
    free(forged);
}
END_TEST

/* The table's columns must say what the DER says; a checkpoint row swapped for another
 * instance's DER is refused too. */
START_TEST(test_checkpoint_table_tamper)
{
    checkpoint_now();
    raw_exec("UPDATE audit_checkpoints SET rows = 5");
    expect_refused(NULL, 0, "audit checkpoint table altered");
}
END_TEST

START_TEST(test_checkpoint_bad_signature_in_table)
{
    checkpoint_now();
    /* The last byte of the DER is the signature's. */
    raw_exec("UPDATE audit_checkpoints SET der = substr(der, 1, length(der) - 1) || x'00'");
    expect_refused(NULL, 0, "bad signature");
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
    tcase_add_loop_test(chain, test_tampering_detected, 0,
                        (int)(sizeof(tamperings) / sizeof(tamperings[0])));
    tcase_add_test(chain, test_renumbered_rows_detected);
    tcase_add_test(chain, test_append_continues_chain);
    tcase_add_test(chain, test_append_stamps_time);
    suite_add_tcase(s, chain);

    TCase *cp = tcase_create("checkpoint");
    tcase_add_unchecked_fixture(cp, keys_setup, keys_teardown);
    tcase_add_checked_fixture(cp, setup, teardown);
    tcase_add_test(cp, test_checkpoint_round_trip);
    tcase_add_test(cp, test_checkpoint_written_only_when_new);
    tcase_add_test(cp, test_checkpoint_catches_truncation);
    tcase_add_test(cp, test_checkpoint_catches_rewrite);
    tcase_add_test(cp, test_checkpoint_against);
    tcase_add_test(cp, test_checkpoint_table_tamper);
    tcase_add_test(cp, test_checkpoint_bad_signature_in_table);
    suite_add_tcase(s, cp);
    return s;
}

int main(void)
{
    return testutil_run(audit_suite());
}
