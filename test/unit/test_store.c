/*
 * test_store: the registry (ca/store.c) against real SQLite files in a temporary directory.
 * Settings of the store's own connection are read through that very connection, caught with
 * sqlite3_auto_extension; tampering and cross-checks use a second, raw connection.
 */
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sqlite3.h>

#include "ca/store.h"
#include "base/jclock.h"
#include "testinst.h"

#define NOW ((int64_t)1700000000)
#define DAY ((int64_t)86400)

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

/* ---- helpers ------------------------------------------------------------------------- */

static sqlite3 *raw_open(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(const char *sql)
{
    sqlite3 *db = raw_open();
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg != NULL ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void raw_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

static struct person make_person(const char *id)
{
    struct person p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "%s", id);
    snprintf(p.name, sizeof(p.name), "山田 太郎");
    snprintf(p.address, sizeof(p.address), "東京都千代田区1-1");
    snprintf(p.birth_date, sizeof(p.birth_date), "1980-04-01");
    p.gender = GENDER_MALE;
    p.deceased = false;
    return p;
}

static struct card make_card(const char *id, const char *person_id)
{
    return testutil_card(id, person_id, CARD_MYNUMBER, "2030-12-31", CARD_ACTIVE, "東京都",
                         "千代田区");
}

static struct cert_rec make_cert(const char *serial, enum ca_kind ca, const char *card_id,
                                 const char *person_id, int partition, int64_t not_after,
                                 int64_t issued_at)
{
    struct cert_rec r = testutil_cert_rec(serial, ca, card_id, person_id, issued_at, not_after);
    r.partition = partition;
    return r;
}

static const unsigned char fake_der[] = {0x30, 0x03, 0x02, 0x01, 0x05};

/* Asserts that a call returned -1 with `code` naming `field`, then clears err. */
static void refused(int rc, struct jerr *err, int code, const char *field)
{
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err->code, code);
    ck_assert_str_eq(err->field, field);
    jerr_clear(err);
}

/* Stores fake_der as the response of (serial, certid_hash), this update NOW. */
static void put_fake(const char *serial, int certid_hash, enum ca_kind ca, int64_t next_update)
{
    struct jerr err = {0};
    ck_assert_msg(store_ocsp_put(st, serial, certid_hash, ca, fake_der, sizeof(fake_der), NOW,
                                 next_update, &err) == 0,
                  "%s", err.msg);
}

/* Whether the stored response of (serial, certid_hash) is stale (it must exist). */
static bool ocsp_is_stale(const char *serial, int certid_hash)
{
    struct jerr err = {0};
    unsigned char *der = NULL;
    size_t der_len = 0;
    bool stale = false;
    ck_assert_msg(store_ocsp_get(st, serial, certid_hash, &der, &der_len, NULL, &stale, &err) == 0,
                  "%s", err.msg);
    free(der);
    return stale;
}

static void add_person_card(const char *person_id, const char *card_id)
{
    struct jerr err = {0};
    struct person p = make_person(person_id);
    struct card c = make_card(card_id, person_id);
    ck_assert_msg(store_person_insert(st, &p, &err) == 0, "%s", err.msg);
    ck_assert_msg(store_card_insert(st, &c, &err) == 0, "%s", err.msg);
}

static void add_cert(const struct cert_rec *r)
{
    struct jerr err = {0};
    ck_assert_msg(store_cert_insert(st, r, fake_der, sizeof(fake_der), &err) == 0, "%s", err.msg);
}

/* A certificate of card C1 / person P1 (which the caller added). */
static void add_simple_cert(const char *serial, enum ca_kind ca, int partition, int64_t not_after)
{
    struct cert_rec r = make_cert(serial, ca, "C1", "P1", partition, not_after, NOW - DAY);
    add_cert(&r);
}

static void set_status(const char *serial, enum cert_status status, int reason, int64_t at,
                       int64_t invalidity)
{
    struct jerr err = {0};
    ck_assert_msg(store_cert_set_status(st, serial, status, reason, at, invalidity, &err) == 0,
                  "%s", err.msg);
}

/* ---- open, migrations, settings ------------------------------------------------------ */

/* Catches every connection opened in this process so the test can ask the store's own
 * connection for its settings. */
static sqlite3 *last_db;
static int catch_connection(sqlite3 *db, const char **errmsg, const void *api)
{
    (void)errmsg;
    (void)api;
    last_db = db;
    return SQLITE_OK;
}

/* Reopens st catching its connection in last_db. */
static void reopen_caught(void)
{
    struct jerr err = {0};
    store_close(st);
    last_db = NULL;
    ck_assert_int_eq(sqlite3_auto_extension((void (*)(void))catch_connection), SQLITE_OK);
    st = store_open(path, false, &err);
    sqlite3_cancel_auto_extension((void (*)(void))catch_connection);
    ck_assert_msg(st != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(last_db);
}

/* Migration 12: each generation's subscriber validity; NULL (0) for those recorded before
 * and for generation 1, which follow the configuration. */
START_TEST(test_generation_validity)
{
    struct jerr err = {0};
    struct ca_gen_rec *recs = NULL, g = {.ca = CA_SIGN, .generation = 2, .created_at = NOW,
                                         .validity_years = 10, .validity_years_minor = 5};
    size_t n = 0;

    snprintf(g.algorithm, sizeof(g.algorithm), "ecdsa-p384");
    snprintf(g.ca_key, sizeof(g.ca_key), "sign-ca-g2");
    snprintf(g.ocsp_key, sizeof(g.ocsp_key), "sign-ocsp-g2");
    snprintf(g.root_file, sizeof(g.root_file), "certs/sign-ca-g2.pem");
    snprintf(g.ocsp_file, sizeof(g.ocsp_file), "certs/sign-ocsp-g2.pem");
    ck_assert_msg(store_gen_insert(st, &g, &err) == 0, "%s", err.msg);
    g.generation = 3;
    g.validity_years = 11;
    ck_assert_int_eq(store_gen_insert(st, &g, &err), -1);
    ck_assert_str_eq(err.field, "validity_years");
    jerr_clear(&err);
    g.validity_years = g.validity_years_minor = 0; /* the configuration's */
    ck_assert_msg(store_gen_insert(st, &g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(store_gen_list(st, CA_SIGN, &recs, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(recs[0].validity_years, 0); /* migration 11's generation 1 */
    ck_assert_int_eq(recs[0].validity_years_minor, 0);
    ck_assert_int_eq(recs[1].validity_years, 10);
    ck_assert_int_eq(recs[1].validity_years_minor, 5);
    ck_assert_int_eq(recs[2].validity_years, 0);
    free(recs);
    /* NULL in the registry, not 0 (the CHECK allows 1..10 or NULL). */
    sqlite3 *db = raw_open();
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM ca_generations WHERE "
                                        "validity_years IS NULL AND validity_years_minor IS NULL",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 3); /* both CAs' generation 1, sign's 3 */
    sqlite3_finalize(q);
    ck_assert_int_ne(sqlite3_exec(db, "UPDATE ca_generations SET validity_years = 0", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_open_create_reopen)
{
    struct jerr err = {0};
    struct stat sb;

    ck_assert_int_eq(store_schema_version(st), store_schema_latest());
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600); /* personal data: owner only */
    store_close(st);

    st = store_open(path, false, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    ck_assert_int_eq(store_schema_version(st), store_schema_latest());
    store_close(st);
    st = store_open(path, true, &err); /* create on an existing registry changes nothing */
    ck_assert_msg(st != NULL, "%s", err.msg);
    ck_assert_int_eq(store_schema_version(st), store_schema_latest());

    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM schema_version"), store_schema_latest());
    ck_assert_int_eq(raw_int(db, "SELECT max(version) FROM schema_version"), store_schema_latest());
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM crl_state"), 2);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_open_missing_without_create)
{
    struct jerr err = {0};
    char missing[4096 + 32];
    struct stat sb;

    snprintf(missing, sizeof(missing), "%s/nope.db", dir);
    ck_assert_ptr_null(store_open(missing, false, &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "path");
    ck_assert_int_eq(stat(missing, &sb), -1); /* and nothing was created */
}
END_TEST

START_TEST(test_open_refuses_newer_schema)
{
    struct jerr err = {0};

    store_close(st);
    st = NULL;
    raw_exec("INSERT INTO schema_version(version, applied_at) VALUES (99, 0)");
    ck_assert_ptr_null(store_open(path, false, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "schema_version");
    ck_assert_ptr_nonnull(strstr(err.msg, "99"));
}
END_TEST

START_TEST(test_open_not_a_database)
{
    struct jerr err = {0};
    char junk[4096 + 32];

    snprintf(junk, sizeof(junk), "%s/junk.db", dir);
    ck_assert_int_eq(testutil_write_file(junk, "this is not sqlite, not at all, no........", 42),
                     0);
    ck_assert_ptr_null(store_open(junk, false, &err));
    ck_assert_int_eq(err.code, JERR_IO);
}
END_TEST

START_TEST(test_connection_settings)
{
    char mode[32];

    reopen_caught();

    /* The store's own connection. */
    raw_text(last_db, "PRAGMA journal_mode", mode, sizeof(mode));
    ck_assert_str_eq(mode, "wal");
    ck_assert_int_eq(raw_int(last_db, "PRAGMA synchronous"), 2); /* FULL */
    ck_assert_int_eq(raw_int(last_db, "PRAGMA foreign_keys"), 1);
    /* Waiting for the write lock is the store's own busy handler (busy_wait, bounded at 10 s,
     * test_busy_waits_for_the_writer), which SQLite's busy_timeout setting does not show. */
    ck_assert_int_eq(raw_int(last_db, "PRAGMA busy_timeout"), 0);

    /* WAL is a property of the file: a second connection sees it too. */
    sqlite3 *db = raw_open();
    raw_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
    ck_assert_str_eq(mode, "wal");
    sqlite3_close(db);
}
END_TEST

/* ---- meta ---------------------------------------------------------------------------- */

START_TEST(test_meta)
{
    struct jerr err = {0};
    char value[16];

    refused(store_meta_get(st, "crl_partitions.sign", value, sizeof(value), &err), &err,
            JERR_NOT_FOUND, "key");
    ck_assert_int_eq(store_meta_set(st, "crl_partitions.sign", "4", &err), 0);
    ck_assert_int_eq(store_meta_get(st, "crl_partitions.sign", value, sizeof(value), &err), 0);
    ck_assert_str_eq(value, "4");
    ck_assert_int_eq(store_meta_set(st, "crl_partitions.sign", "8", &err), 0);
    ck_assert_int_eq(store_meta_get(st, "crl_partitions.sign", value, sizeof(value), &err), 0);
    ck_assert_str_eq(value, "8");

    ck_assert_int_eq(store_meta_set(st, "long", "0123456789abcdef", &err), 0);
    ck_assert_int_eq(store_meta_get(st, "long", value, sizeof(value), &err), -1);
    ck_assert_int_eq(err.code, JERR_TOO_LARGE);
}
END_TEST

/* ---- persons and cards --------------------------------------------------------------- */

/* A lookup that finds nothing says what it looked for, in the field it came from; a key with
 * outside bytes is escaped in the message. */
START_TEST(test_lookups_name_what_is_missing)
{
    struct jerr err = {0};
    struct person p;
    struct card c;
    struct cert_rec r;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char value[64];

    ck_assert_int_eq(store_person_get(st, "P404", &p, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "person_id");
    ck_assert_str_eq(err.msg, "no person P404");
    jerr_clear(&err);
    ck_assert_int_eq(store_card_get(st, "C\n1", &c, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "card_id");
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_ptr_nonnull(strstr(err.msg, "no card C"));
    jerr_clear(&err);
    ck_assert_int_eq(store_cert_get(st, "0A0B", &r, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "serial");
    ck_assert_str_eq(err.msg, "no certificate 0A0B");
    jerr_clear(&err);
    ck_assert_int_eq(store_cert_get_der(st, "0A0C", &der, &der_len, &err), -1);
    ck_assert_str_eq(err.msg, "no certificate 0A0C");
    ck_assert_ptr_null(der);
    jerr_clear(&err);
    ck_assert_int_eq(store_ocsp_get(st, "0A0D", 0, &der, &der_len, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.msg, "no OCSP response for 0A0D");
    jerr_clear(&err);
    ck_assert_int_eq(store_meta_get(st, "no.such.setting", value, sizeof(value), &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "key");
    ck_assert_str_eq(err.msg, "no registry setting no.such.setting");
}
END_TEST

START_TEST(test_person_crud)
{
    struct jerr err = {0};
    struct person p = make_person("P1"), got;

    ck_assert_int_eq(store_person_insert(st, &p, &err), 0);
    ck_assert_int_eq(store_person_get(st, "P1", &got, &err), 0);
    testutil_assert_person(&got, &p); /* P1, born 1980-04-01, male, alive */

    refused(store_person_insert(st, &p, &err), &err, JERR_CONFLICT, "id");
    snprintf(p.address, sizeof(p.address), "大阪府大阪市2-2");
    p.gender = GENDER_UNSTATED;
    p.deceased = true;
    ck_assert_int_eq(store_person_update(st, &p, &err), 0);
    ck_assert_int_eq(store_person_get(st, "P1", &got, &err), 0);
    testutil_assert_person(&got, &p); /* now in 大阪府大阪市2-2, unstated, deceased */

    refused(store_person_get(st, "P2", &got, &err), &err, JERR_NOT_FOUND, "person_id");
    struct person other = make_person("P2");
    refused(store_person_update(st, &other, &err), &err, JERR_NOT_FOUND, "person_id");
    other.gender = (enum gender)7;
    refused(store_person_insert(st, &other, &err), &err, JERR_INVALID, "gender");
}
END_TEST

START_TEST(test_card_crud)
{
    struct jerr err = {0};
    struct person p = make_person("P1");
    struct card c = make_card("C1", "P1"), got;

    ck_assert_int_eq(store_person_insert(st, &p, &err), 0);
    ck_assert_int_eq(store_card_insert(st, &c, &err), 0);
    ck_assert_int_eq(store_card_get(st, "C1", &got, &err), 0);
    testutil_assert_card(&got, &c); /* C1 of P1, My Number, 2030-12-31, active, 東京都 千代田区 */

    refused(store_card_insert(st, &c, &err), &err, JERR_CONFLICT, "id");

    /* Foreign key: a card for a person the registry does not know. */
    jerr_clear(&err);
    struct card orphan = make_card("C2", "NOBODY");
    refused(store_card_insert(st, &orphan, &err), &err, JERR_NOT_FOUND, "person_id");
    refused(store_card_get(st, "C2", &got, &err), &err, JERR_NOT_FOUND, "card_id");
    struct card juki = make_card("J1", "P1");
    juki.type = CARD_JUKI;
    juki.prefecture[0] = '\0';
    juki.municipality[0] = '\0';
    ck_assert_int_eq(store_card_insert(st, &juki, &err), 0);
    ck_assert_int_eq(store_card_get(st, "J1", &got, &err), 0);
    ck_assert_int_eq(got.type, CARD_JUKI);
    ck_assert_str_eq(got.prefecture, "");

    ck_assert_int_eq(store_card_set_state(st, "C1", CARD_SUSPENDED, &err), 0);
    ck_assert_int_eq(store_card_get(st, "C1", &got, &err), 0);
    ck_assert_int_eq(got.state, CARD_SUSPENDED);
    ck_assert_int_eq(store_card_set_state(st, "C1", CARD_RETURNED, &err), 0);
    ck_assert_int_eq(store_card_get(st, "C1", &got, &err), 0);
    ck_assert_int_eq(got.state, CARD_RETURNED);

    refused(store_card_set_state(st, "C9", CARD_ACTIVE, &err), &err, JERR_NOT_FOUND, "card_id");
    refused(store_card_set_state(st, "C1", (enum card_state)9, &err), &err, JERR_INVALID, "state");
}
END_TEST

/* ---- certificates -------------------------------------------------------------------- */

START_TEST(test_cert_crud)
{
    struct jerr err = {0};
    struct cert_rec r, got;
    unsigned char *der = NULL;
    size_t der_len = 0;

    add_person_card("P1", "C1");
    r = make_cert("0A1B2C", CA_SIGN, "C1", "P1", 3, NOW + 365 * DAY, NOW);
    add_cert(&r);
    ck_assert_int_eq(store_cert_get(st, "0A1B2C", &got, &err), 0);
    ck_assert_str_eq(got.serial, "0A1B2C");
    ck_assert_int_eq(got.ca, CA_SIGN);
    ck_assert_str_eq(got.card_id, "C1");
    ck_assert_str_eq(got.person_id, "P1");
    ck_assert_str_eq(got.subject_cn, "CN-0A1B2C");
    ck_assert_int_eq(got.not_before, NOW);
    ck_assert_int_eq(got.not_after, NOW + 365 * DAY);
    ck_assert_int_eq(got.status, CERT_GOOD);
    ck_assert_int_eq(got.reason, REASON_NONE);
    ck_assert_int_eq(got.status_changed_at, 0);
    ck_assert_int_eq(got.invalidity_date, 0);
    ck_assert_int_eq(got.partition, 3);
    ck_assert_int_eq(got.issued_at, NOW);

    ck_assert_int_eq(store_cert_get_der(st, "0A1B2C", &der, &der_len, &err), 0);
    ck_assert_uint_eq(der_len, sizeof(fake_der));
    ck_assert_mem_eq(der, fake_der, sizeof(fake_der));
    free(der);

    ck_assert(store_serial_exists(st, "0A1B2C"));
    ck_assert(!store_serial_exists(st, "0A1B2D"));

    /* Reused serial. */
    struct cert_rec dup = make_cert("0A1B2C", CA_AUTH, "C1", "P1", 0, NOW + DAY, NOW);
    refused(store_cert_insert(st, &dup, fake_der, sizeof(fake_der), &err), &err, JERR_CONFLICT,
            "serial");

    /* Unknown card, unknown person. */
    jerr_clear(&err);
    struct cert_rec nocard = make_cert("01", CA_SIGN, "C9", "P1", 0, NOW + DAY, NOW);
    refused(store_cert_insert(st, &nocard, fake_der, sizeof(fake_der), &err), &err, JERR_NOT_FOUND,
            "card_id");
    struct cert_rec noperson = make_cert("02", CA_SIGN, "C1", "P9", 0, NOW + DAY, NOW);
    refused(store_cert_insert(st, &noperson, fake_der, sizeof(fake_der), &err), &err,
            JERR_NOT_FOUND, "person_id");
    ck_assert(!store_serial_exists(st, "01"));
    ck_assert(!store_serial_exists(st, "02"));

    /* No DER, bad CA, a good certificate with a reason. */
    jerr_clear(&err);
    struct cert_rec ok = make_cert("03", CA_SIGN, "C1", "P1", 0, NOW + DAY, NOW);
    refused(store_cert_insert(st, &ok, NULL, 0, &err), &err, JERR_INVALID, "der");
    ok.ca = (enum ca_kind)5;
    refused(store_cert_insert(st, &ok, fake_der, sizeof(fake_der), &err), &err, JERR_INVALID, "ca");
    ok.ca = CA_SIGN;
    ok.reason = REASON_KEY_COMPROMISE;
    refused(store_cert_insert(st, &ok, fake_der, sizeof(fake_der), &err), &err, JERR_INVALID,
            "reason");
    refused(store_cert_get(st, "FFFF", &got, &err), &err, JERR_NOT_FOUND, "serial");
    refused(store_cert_get_der(st, "FFFF", &der, &der_len, &err), &err, JERR_NOT_FOUND, "serial");
}
END_TEST

START_TEST(test_set_status_roundtrip)
{
    struct jerr err = {0};
    struct cert_rec got;

    add_person_card("P1", "C1");
    add_simple_cert("AA", CA_SIGN, 0, NOW + DAY);
    set_status("AA", CERT_REVOKED, REASON_KEY_COMPROMISE, NOW + 10, NOW - 50);
    ck_assert_int_eq(store_cert_get(st, "AA", &got, &err), 0);
    ck_assert_int_eq(got.status, CERT_REVOKED);
    ck_assert_int_eq(got.reason, REASON_KEY_COMPROMISE);
    ck_assert_int_eq(got.status_changed_at, NOW + 10);
    ck_assert_int_eq(got.invalidity_date, NOW - 50);

    refused(store_cert_set_status(st, "BB", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0, &err), &err,
            JERR_NOT_FOUND, "serial");
    refused(store_cert_set_status(st, "AA", CERT_GOOD, REASON_UNSPECIFIED, NOW, 0, &err), &err,
            JERR_INVALID, "reason");
    refused(store_cert_set_status(st, "AA", CERT_REVOKED, REASON_NONE, NOW, 0, &err), &err,
            JERR_INVALID, "reason");
    /* The refused calls changed nothing. */
    ck_assert_int_eq(store_cert_get(st, "AA", &got, &err), 0);
    ck_assert_int_eq(got.reason, REASON_KEY_COMPROMISE);
}
END_TEST

/* ---- transactions -------------------------------------------------------------------- */

START_TEST(test_transaction_rollback)
{
    struct jerr err = {0};
    struct person p = make_person("P1"), got;
    struct card c = make_card("C1", "P1");
    struct card gotc;

    store_rollback(st); /* no-op outside a transaction */
    ck_assert_int_eq(store_begin(st, &err), 0);
    ck_assert_int_eq(store_begin(st, &err), -1); /* no nesting */
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    jerr_clear(&err);
    ck_assert_int_eq(store_person_insert(st, &p, &err), 0);
    ck_assert_int_eq(store_card_insert(st, &c, &err), 0);
    struct audit_entry e = {.at = NOW};
    snprintf(e.actor, sizeof(e.actor), "op");
    snprintf(e.action, sizeof(e.action), "person.register");
    snprintf(e.target, sizeof(e.target), "P1");
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    ck_assert_int_eq(store_audit_append(st, &e, &err), 0);
    store_rollback(st);

    ck_assert_int_eq(store_person_get(st, "P1", &got, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);
    ck_assert_int_eq(store_card_get(st, "C1", &gotc, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM events"), 0);
    sqlite3_close(db);

    /* Commit makes it durable and visible to another connection. */
    jerr_clear(&err);
    ck_assert_int_eq(store_commit(st, &err), -1); /* nothing to commit */
    jerr_clear(&err);
    ck_assert_int_eq(store_begin(st, &err), 0);
    ck_assert_int_eq(store_person_insert(st, &p, &err), 0);
    ck_assert_int_eq(store_commit(st, &err), 0);
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM persons WHERE id = 'P1'"), 1);
    sqlite3_close(db);
}
END_TEST

/* Ends a write transaction after a while, from another thread. */
struct later_end {
    struct store *store; /* this process's store, or NULL for `db` */
    sqlite3 *db;
    bool ended;
};

static void *end_later(void *arg)
{
    struct later_end *l = arg;
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    l->ended = true; /* before the lock is free: whoever takes it next sees this */
    if (l->store != NULL)
        store_rollback(l->store);
    else
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

/* A writer finding the write lock taken waits (store.c busy_wait) and takes it once the
 * holder's transaction ends: at once when the holder is a store of this process (it wakes
 * the waiters), by polling when it is another connection (another process). */
START_TEST(test_busy_waits_for_the_writer)
{
    struct jerr err = {0};
    pthread_t t;

    struct store *other = store_open(path, false, &err);
    ck_assert_msg(other != NULL, "%s", err.msg);
    ck_assert_int_eq(store_begin(other, &err), 0);
    struct later_end l1 = {.store = other};
    ck_assert_int_eq(pthread_create(&t, NULL, end_later, &l1), 0);
    ck_assert_msg(store_begin(st, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert(l1.ended);
    store_rollback(st);
    store_close(other);

    sqlite3 *db = raw_open();
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct later_end l2 = {.db = db};
    ck_assert_int_eq(pthread_create(&t, NULL, end_later, &l2), 0);
    ck_assert_msg(store_begin(st, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert(l2.ended);
    struct person p = make_person("P-WAIT");
    ck_assert_int_eq(store_person_insert(st, &p, &err), 0);
    ck_assert_int_eq(store_commit(st, &err), 0);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_busy_is_unavailable)
{
    struct jerr err = {0};
    struct person p = make_person("P1");

    reopen_caught();
    sqlite3_busy_timeout(last_db, 50); /* the store waits 10 s; the test need not */
    struct store *other = store_open(path, false, &err);
    ck_assert_msg(other != NULL, "%s", err.msg);
    ck_assert_int_eq(store_begin(other, &err), 0);

    ck_assert_int_eq(store_begin(st, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.msg, "locked"));
    jerr_clear(&err);
    ck_assert_int_eq(store_person_insert(st, &p, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);

    store_rollback(other);
    store_close(other);
    jerr_clear(&err);
    ck_assert_int_eq(store_begin(st, &err), 0);
    ck_assert_int_eq(store_person_insert(st, &p, &err), 0);
    ck_assert_int_eq(store_commit(st, &err), 0);
}
END_TEST

START_TEST(test_readonly_is_unavailable)
{
    struct jerr err = {0};
    struct person p = make_person("P1");
    int64_t n = 0;

    reopen_caught();
    ck_assert_int_eq(sqlite3_exec(last_db, "PRAGMA query_only=1", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(store_person_insert(st, &p, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_str_eq(err.field, "id");
    ck_assert_ptr_nonnull(strstr(err.msg, "readonly"));
    /* A helper that opens its own transaction leaves none open behind it. */
    jerr_clear(&err);
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, -1, &n, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_int_ne(sqlite3_get_autocommit(last_db), 0);
}
END_TEST

/* ---- status changes mark OCSP and CRL stale ------------------------------------------ */

START_TEST(test_set_status_marks_stale)
{
    struct jerr err = {0};
    unsigned char *der = NULL;
    size_t der_len = 0;
    int64_t next_update = 0;
    bool stale = true;

    add_person_card("P1", "C1");
    add_simple_cert("AA", CA_SIGN, 0, NOW + DAY);
    add_simple_cert("BB", CA_SIGN, 0, NOW + DAY);
    put_fake("AA", 0, CA_SIGN, NOW + 3600);
    put_fake("AA", 1, CA_SIGN, NOW + 3600);
    put_fake("BB", 0, CA_SIGN, NOW + 3600);
    ck_assert(!store_crl_is_stale(st, CA_SIGN));
    ck_assert(!store_crl_is_stale(st, CA_AUTH));

    /* Inside a transaction that is rolled back: nothing changes. */
    ck_assert_int_eq(store_begin(st, &err), 0);
    set_status("AA", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0);
    ck_assert(store_crl_is_stale(st, CA_SIGN)); /* visible inside the transaction */
    store_rollback(st);
    ck_assert(!store_crl_is_stale(st, CA_SIGN));
    ck_assert(!ocsp_is_stale("AA", 0));

    /* Committed. */
    ck_assert_int_eq(store_begin(st, &err), 0);
    set_status("AA", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0);
    ck_assert_int_eq(store_commit(st, &err), 0);
    ck_assert(store_crl_is_stale(st, CA_SIGN));
    ck_assert(!store_crl_is_stale(st, CA_AUTH));
    for (int h = 0; h < 2; h++) {
        ck_assert(ocsp_is_stale("AA", h));
    }
    ck_assert_int_eq(store_ocsp_get(st, "BB", 0, &der, &der_len, &next_update, &stale, &err), 0);
    ck_assert(!stale); /* the other certificate's response is untouched */
    free(der);

    /* Another connection sees the stale mark (it lives in the registry). */
    struct store *other = store_open(path, false, &err);
    ck_assert_msg(other != NULL, "%s", err.msg);
    ck_assert(store_crl_is_stale(other, CA_SIGN));
    store_close(other);
}
END_TEST

/* ---- CRL streaming ------------------------------------------------------------------- */

struct crl_seen {
    int count;
    char serial[16][JPKI_SERIAL_HEX_MAX + 1];
    int64_t revoked_at[16];
    int reason[16];
    int64_t invalidity[16];
    int stop_after; /* 0 = never */
};

static int crl_collect(void *ctx, const struct crl_entry_rec *e)
{
    struct crl_seen *seen = ctx;
    if (seen->count >= 16)
        return -1;
    snprintf(seen->serial[seen->count], sizeof(seen->serial[0]), "%s", e->serial);
    seen->revoked_at[seen->count] = e->revoked_at;
    seen->reason[seen->count] = e->reason;
    seen->invalidity[seen->count] = e->invalidity_date;
    seen->count++;
    return seen->stop_after != 0 && seen->count >= seen->stop_after ? -1 : 0;
}

static int crl_find(const struct crl_seen *seen, const char *serial)
{
    for (int i = 0; i < seen->count; i++)
        if (strcmp(seen->serial[i], serial) == 0)
            return i;
    return -1;
}

START_TEST(test_crl_foreach)
{
    struct jerr err = {0};
    struct crl_seen seen;

    add_person_card("P1", "C1");
    add_simple_cert("A1", CA_SIGN, 0, NOW + DAY); /* revoked keyCompromise */
    add_simple_cert("A2", CA_SIGN, 0, NOW + DAY); /* held */
    add_simple_cert("A3", CA_SIGN, 0, NOW + DAY); /* good */
    add_simple_cert("A4", CA_SIGN, 0, NOW - 1);   /* revoked, expired: dropped */
    add_simple_cert("A5", CA_SIGN, 1, NOW + DAY); /* revoked, other partition */
    add_simple_cert("A6", CA_SIGN, 0, NOW);       /* revoked, expires this very second */
    add_simple_cert("A7", CA_SIGN, 0, NOW + DAY); /* held then released: good again */
    add_simple_cert("B1", CA_AUTH, 0, NOW + DAY); /* revoked, other CA */
    set_status("A1", CERT_REVOKED, REASON_KEY_COMPROMISE, NOW - 100, NOW - 200);
    set_status("A2", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW - 90, 0);
    set_status("A4", CERT_REVOKED, REASON_SUPERSEDED, NOW - 80, 0);
    set_status("A5", CERT_REVOKED, REASON_AFFILIATION_CHANGED, NOW - 70, 0);
    set_status("A6", CERT_REVOKED, REASON_CESSATION_OF_OPERATION, NOW - 60, 0);
    set_status("A7", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW - 50, 0);
    set_status("A7", CERT_GOOD, REASON_NONE, NOW - 40, 0);
    set_status("B1", CERT_REVOKED, REASON_UNSPECIFIED, NOW - 30, 0);

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, 0, NOW, crl_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 3);
    int i = crl_find(&seen, "A1");
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(seen.reason[i], REASON_KEY_COMPROMISE);
    ck_assert_int_eq(seen.revoked_at[i], NOW - 100);
    ck_assert_int_eq(seen.invalidity[i], NOW - 200);
    i = crl_find(&seen, "A2");
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(seen.reason[i], REASON_CERTIFICATE_HOLD);
    ck_assert_int_eq(seen.revoked_at[i], NOW - 90);
    ck_assert_int_eq(seen.invalidity[i], 0);
    i = crl_find(&seen, "A6"); /* RFC 5280 §4.1.2.5: notAfter is inclusive */
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(seen.reason[i], REASON_CESSATION_OF_OPERATION);

    /* One second later A6 has expired. */
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, 0, NOW + 1, crl_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 2);
    ck_assert_int_eq(crl_find(&seen, "A6"), -1);

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, 1, NOW, crl_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 1);
    ck_assert_str_eq(seen.serial[0], "A5");
    ck_assert_int_eq(seen.reason[0], REASON_AFFILIATION_CHANGED);

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, -1, NOW, crl_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 4);
    ck_assert_int_ge(crl_find(&seen, "A5"), 0);
    ck_assert_int_eq(crl_find(&seen, "A3"), -1);
    ck_assert_int_eq(crl_find(&seen, "A4"), -1);
    ck_assert_int_eq(crl_find(&seen, "A7"), -1);
    ck_assert_int_eq(crl_find(&seen, "B1"), -1);

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_crl_foreach(st, CA_AUTH, -1, NOW, crl_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 1);
    ck_assert_str_eq(seen.serial[0], "B1");
    ck_assert_int_eq(seen.reason[0], REASON_UNSPECIFIED);

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_crl_foreach(st, CA_AUTH, 3, NOW, crl_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 0);

    /* The consumer stops the stream. */
    memset(&seen, 0, sizeof(seen));
    seen.stop_after = 1;
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, -1, NOW, crl_collect, &seen, &err), -1);
    ck_assert_int_eq(seen.count, 1);
    ck_assert_int_ne(err.code, JERR_NONE);
    /* ...and the statement is usable again afterwards. */
    jerr_clear(&err);
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, -1, NOW, crl_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 4);

    jerr_clear(&err);
    refused(store_crl_foreach(st, CA_SIGN, -STORE_CA_GENERATIONS_MAX - 1, NOW, crl_collect, &seen,
                              &err),
            &err, JERR_INVALID, "partition");
}
END_TEST

/* The streaming query must use the partial index (DESIGN §5: no scan of the good ones). */
START_TEST(test_crl_query_plan)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *s = NULL;
    char plan[512] = "";

    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "EXPLAIN QUERY PLAN SELECT serial, status_changed_at, "
                                        "reason, invalidity_date FROM certificates WHERE ca = "
                                        "?1 AND partition = ?3 AND status != 0 AND not_after "
                                        ">= ?2",
                                        -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t len = strlen(plan);
        snprintf(plan + len, sizeof(plan) - len, "%s;", (const char *)sqlite3_column_text(s, 3));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    ck_assert_msg(strstr(plan, "USING INDEX certs_crl") != NULL, "%s", plan);
}
END_TEST

/* ---- CRL numbers and publication ----------------------------------------------------- */

START_TEST(test_crl_numbers)
{
    struct jerr err = {0};
    int64_t n = 0;

    for (int64_t want = 1; want <= 3; want++) {
        ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, -1, &n, &err), 0);
        ck_assert_int_eq(n, want);
    }
    /* Each (ca, partition) has its own sequence. */
    ck_assert_int_eq(store_crl_number_next(st, CA_AUTH, -1, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, 0, &n, &err), 0);
    ck_assert_int_eq(n, 1);

    /* Durable: survives reopening. */
    store_close(st);
    st = store_open(path, false, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, -1, &n, &err), 0);
    ck_assert_int_eq(n, 4);

    /* Also inside the caller's transaction. */
    ck_assert_int_eq(store_begin(st, &err), 0);
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, -1, &n, &err), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(store_commit(st, &err), 0);
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, -1, &n, &err), 0);
    ck_assert_int_eq(n, 6);

    n = 77;
    refused(store_crl_number_next(st, (enum ca_kind)4, -1, &n, &err), &err, JERR_INVALID, "ca");
    ck_assert_int_eq(n, 77); /* untouched on failure */
}
END_TEST

static int crl_ignore(void *ctx, const struct crl_entry_rec *e)
{
    (void)ctx;
    (void)e;
    return 0;
}

/* Builds (number, stream) and records the complete CRL of `ca`. */
static void publish_complete(struct store *s, enum ca_kind ca)
{
    struct jerr err = {0};
    int64_t n = 0;
    ck_assert_int_eq(store_crl_number_next(s, ca, -1, &n, &err), 0);
    ck_assert_int_eq(store_crl_foreach(s, ca, -1, NOW, crl_ignore, NULL, &err), 0);
    ck_assert_msg(store_crl_published(s, ca, -1, n, NOW, NOW + DAY, 1234, &err) == 0, "%s",
                  err.msg);
}

START_TEST(test_crl_published_clears_stale)
{
    struct jerr err = {0};
    int64_t n = 0;

    add_person_card("P1", "C1");
    add_simple_cert("A1", CA_SIGN, 0, NOW + DAY);
    add_simple_cert("A2", CA_SIGN, 0, NOW + DAY);
    add_simple_cert("A3", CA_SIGN, 1, NOW + DAY);

    set_status("A1", CERT_REVOKED, REASON_UNSPECIFIED, NOW, 0);
    ck_assert(store_crl_is_stale(st, CA_SIGN));
    publish_complete(st, CA_SIGN);
    ck_assert(!store_crl_is_stale(st, CA_SIGN));

    /* Same second, second change: still detected (a counter, not a timestamp). */
    set_status("A2", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0);
    ck_assert(store_crl_is_stale(st, CA_SIGN));

    /* A change made by another connection while this one builds the CRL: after its rows
     * were read, so the published CRL does not cover it and the CA stays stale. */
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, -1, &n, &err), 0);
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, -1, NOW, crl_ignore, NULL, &err), 0);
    struct store *other = store_open(path, false, &err);
    ck_assert_msg(other != NULL, "%s", err.msg);
    ck_assert_int_eq(store_cert_set_status(other, "A2", CERT_GOOD, REASON_NONE, NOW, 0, &err), 0);
    ck_assert_int_eq(store_crl_published(st, CA_SIGN, -1, n, NOW, NOW + DAY, 100, &err), 0);
    ck_assert(store_crl_is_stale(st, CA_SIGN));
    ck_assert(store_crl_is_stale(other, CA_SIGN));
    publish_complete(st, CA_SIGN);
    ck_assert(!store_crl_is_stale(st, CA_SIGN));
    ck_assert(!store_crl_is_stale(other, CA_SIGN));
    store_close(other);

    /* With several partitions a partition CRL does not cover everything. */
    ck_assert_int_eq(store_meta_set(st, "crl_partitions.sign", "2", &err), 0);
    set_status("A3", CERT_REVOKED, REASON_UNSPECIFIED, NOW, 0);
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, 1, &n, &err), 0);
    ck_assert_int_eq(store_crl_published(st, CA_SIGN, 1, n, NOW, NOW + DAY, 100, &err), 0);
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, 0, &n, &err), 0);
    ck_assert_int_eq(store_crl_published(st, CA_SIGN, 0, n, NOW, NOW + DAY, 100, &err), 0);
    ck_assert(store_crl_is_stale(st, CA_SIGN));
    publish_complete(st, CA_SIGN);
    ck_assert(!store_crl_is_stale(st, CA_SIGN));

    /* With one partition, partition 0 is the whole CRL. */
    ck_assert_int_eq(store_meta_set(st, "crl_partitions.sign", "1", &err), 0);
    set_status("A3", CERT_REVOKED, REASON_KEY_COMPROMISE, NOW, 0);
    ck_assert(store_crl_is_stale(st, CA_SIGN));
    ck_assert_int_eq(store_crl_number_next(st, CA_SIGN, 0, &n, &err), 0);
    ck_assert_int_eq(store_crl_foreach(st, CA_SIGN, 0, NOW, crl_ignore, NULL, &err), 0);
    ck_assert_int_eq(store_crl_published(st, CA_SIGN, 0, n, NOW, NOW + DAY, 100, &err), 0);
    ck_assert(!store_crl_is_stale(st, CA_SIGN));

    /* Publishing never touches the other CA's mark, and a number is recorded once. */
    ck_assert(!store_crl_is_stale(st, CA_AUTH));
    refused(store_crl_published(st, CA_SIGN, 0, n, NOW, NOW + DAY, 100, &err), &err, JERR_CONFLICT,
            "number");

    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM crls WHERE ca = 0"), 7);
    ck_assert_int_eq(raw_int(db, "SELECT size FROM crls WHERE ca = 0 AND partition = -1 AND "
                                 "number = 1"),
                     1234);
    sqlite3_close(db);
}
END_TEST

/* ---- OCSP ---------------------------------------------------------------------------- */

START_TEST(test_ocsp_put_get)
{
    struct jerr err = {0};
    unsigned char *der = NULL;
    size_t der_len = 0;
    int64_t next_update = 0;
    bool stale = true;
    const unsigned char other_der[] = {0x30, 0x00};

    add_person_card("P1", "C1");
    add_simple_cert("AA", CA_SIGN, 0, NOW + DAY);

    refused(store_ocsp_get(st, "AA", 0, &der, &der_len, &next_update, &stale, &err), &err,
            JERR_NOT_FOUND, "serial");
    refused(store_ocsp_put(st, "ZZ", 0, CA_SIGN, fake_der, sizeof(fake_der), NOW, NOW + 3600, &err),
            &err, JERR_NOT_FOUND, "serial");
    refused(store_ocsp_put(st, "AA", 2, CA_SIGN, fake_der, sizeof(fake_der), NOW, NOW + 3600, &err),
            &err, JERR_INVALID, "certid_hash");
    put_fake("AA", 0, CA_SIGN, NOW + 3600);
    ck_assert_int_eq(store_ocsp_get(st, "AA", 0, &der, &der_len, &next_update, &stale, &err), 0);
    ck_assert_uint_eq(der_len, sizeof(fake_der));
    ck_assert_mem_eq(der, fake_der, sizeof(fake_der));
    ck_assert_int_eq(next_update, NOW + 3600);
    ck_assert(!stale);
    free(der);
    der = NULL;

    /* The SHA-256 CertID response is a separate row. */
    ck_assert_int_eq(store_ocsp_get(st, "AA", 1, &der, &der_len, &next_update, &stale, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);

    /* Overwrite after a status change: fresh again. */
    jerr_clear(&err);
    set_status("AA", CERT_REVOKED, REASON_KEY_COMPROMISE, NOW, 0);
    ck_assert(ocsp_is_stale("AA", 0));
    ck_assert_int_eq(store_ocsp_put(st, "AA", 0, CA_SIGN, other_der, sizeof(other_der), NOW + 5,
                                    NOW + 7200, &err),
                     0);
    ck_assert_int_eq(store_ocsp_get(st, "AA", 0, &der, &der_len, &next_update, &stale, &err), 0);
    ck_assert_uint_eq(der_len, sizeof(other_der));
    ck_assert_mem_eq(der, other_der, sizeof(other_der));
    ck_assert_int_eq(next_update, NOW + 7200);
    ck_assert(!stale);
    free(der);
}
END_TEST

START_TEST(test_ocsp_put_signed_race)
{
    struct jerr err = {0};
    struct cert_rec before;
    bool current = false;

    add_person_card("P1", "C1");
    add_simple_cert("AA", CA_SIGN, 0, NOW + DAY);

    /* Signed from the current record: fresh. */
    ck_assert_int_eq(store_cert_get(st, "AA", &before, &err), 0);
    ck_assert_int_eq(store_ocsp_put_signed(st, &before, 0, fake_der, sizeof(fake_der), NOW,
                                           NOW + 3600, &current, &err),
                     0);
    ck_assert(current);
    ck_assert(!ocsp_is_stale("AA", 0));

    /* The status changes while the responder signs from the old record: stored stale. */
    set_status("AA", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW + 1, 0);
    ck_assert_int_eq(store_ocsp_put_signed(st, &before, 0, fake_der, sizeof(fake_der), NOW,
                                           NOW + 3600, &current, &err),
                     0);
    ck_assert(!current);
    ck_assert(ocsp_is_stale("AA", 0));

    /* Re-signed from the new record: fresh. */
    struct cert_rec after;
    ck_assert_int_eq(store_cert_get(st, "AA", &after, &err), 0);
    ck_assert_int_eq(store_ocsp_put_signed(st, &after, 0, fake_der, sizeof(fake_der), NOW,
                                           NOW + 3600, &current, &err),
                     0);
    ck_assert(current);

    struct cert_rec unknown = after;
    snprintf(unknown.serial, sizeof(unknown.serial), "DEAD");
    refused(store_ocsp_put_signed(st, &unknown, 0, fake_der, sizeof(fake_der), NOW, NOW + 3600,
                                  &current, &err),
            &err, JERR_NOT_FOUND, "serial");
}
END_TEST

/* ---- OCSP change tracking (migration 5) ---------------------------------------------- */

struct due_seen {
    int count;
    char serial[16][JPKI_SERIAL_HEX_MAX + 1];
    enum ca_kind ca[16];
    int64_t not_after[16];
    int64_t seq[16];
    int64_t next_update[16];
};

static int due_collect(void *ctx, const struct store_ocsp_due *d)
{
    struct due_seen *seen = ctx;
    if (seen->count >= 16)
        return -1;
    snprintf(seen->serial[seen->count], sizeof(seen->serial[0]), "%s", d->serial);
    seen->ca[seen->count] = d->ca;
    seen->not_after[seen->count] = d->not_after;
    seen->seq[seen->count] = d->changed_seq;
    seen->next_update[seen->count] = d->next_update;
    seen->count++;
    return 0;
}

static void marks(int64_t after, size_t limit, struct due_seen *seen)
{
    struct jerr err = {0};
    memset(seen, 0, sizeof(*seen));
    ck_assert_msg(store_ocsp_foreach_dirty(st, after, limit, due_collect, seen, &err) == 0, "%s",
                  err.msg);
}

static void ageing(int64_t refresh_by, int64_t after_next, const char *after_serial, size_t limit,
                   struct due_seen *seen)
{
    struct jerr err = {0};
    memset(seen, 0, sizeof(*seen));
    ck_assert_msg(store_ocsp_foreach_ageing(st, refresh_by, after_next, after_serial, limit,
                                            due_collect, seen, &err) == 0,
                  "%s", err.msg);
}

START_TEST(test_ocsp_marks)
{
    struct jerr err = {0};
    struct due_seen seen;
    bool cleared = true;

    add_person_card("P1", "C1");
    add_simple_cert("A1", CA_SIGN, 0, NOW + DAY);
    add_simple_cert("A2", CA_AUTH, 0, NOW + 2 * DAY);
    add_simple_cert("A3", CA_SIGN, 0, NOW + 3 * DAY);

    /* Each insertion marked its serial, in order, with its CA and notAfter. */
    marks(0, 100, &seen);
    ck_assert_int_eq(seen.count, 3);
    ck_assert_str_eq(seen.serial[0], "A1");
    ck_assert_str_eq(seen.serial[1], "A2");
    ck_assert_str_eq(seen.serial[2], "A3");
    ck_assert_int_eq(seen.ca[1], CA_AUTH);
    ck_assert_int_eq(seen.not_after[1], NOW + 2 * DAY);
    ck_assert_int_eq(seen.next_update[1], 0);
    ck_assert_int_gt(seen.seq[0], 0);
    ck_assert_int_gt(seen.seq[1], seen.seq[0]);
    ck_assert_int_gt(seen.seq[2], seen.seq[1]);
    int64_t a1 = seen.seq[0], a2 = seen.seq[1], a3 = seen.seq[2];

    /* Paging: at most `limit`, resuming after a mark. */
    marks(0, 2, &seen);
    ck_assert_int_eq(seen.count, 2);
    marks(a2, 2, &seen);
    ck_assert_int_eq(seen.count, 1);
    ck_assert_str_eq(seen.serial[0], "A3");

    /* Clearing needs the current mark. */
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A1", a1, &cleared, &err), 0);
    ck_assert(cleared);
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A1", a1, &cleared, &err), 0);
    ck_assert(!cleared);
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A2", a3, &cleared, &err), 0);
    ck_assert(!cleared);
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A3", a2, NULL, &err), 0);
    marks(0, 100, &seen);
    ck_assert_int_eq(seen.count, 2);
    ck_assert_str_eq(seen.serial[0], "A2");
    ck_assert_str_eq(seen.serial[1], "A3");

    /* A status change marks again, with a mark newer than any before (never reused, even
     * after the newest mark was cleared). */
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A3", a3, &cleared, &err), 0);
    ck_assert(cleared);
    set_status("A1", CERT_REVOKED, REASON_KEY_COMPROMISE, NOW, 0);
    set_status("A2", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0);
    marks(0, 100, &seen);
    ck_assert_int_eq(seen.count, 2);
    ck_assert_str_eq(seen.serial[0], "A1");
    ck_assert_int_gt(seen.seq[0], a3);
    ck_assert_str_eq(seen.serial[1], "A2"); /* re-marked: its old mark is gone */
    ck_assert_int_gt(seen.seq[1], seen.seq[0]);
    /* The old mark of A2 no longer clears anything. */
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A2", a2, &cleared, &err), 0);
    ck_assert(!cleared);

    /* A change that is rolled back leaves no mark; a refused insertion neither. */
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A1", seen.seq[0], &cleared, &err), 0);
    ck_assert_int_eq(store_ocsp_dirty_clear(st, "A2", seen.seq[1], &cleared, &err), 0);
    ck_assert_int_eq(store_begin(st, &err), 0);
    set_status("A3", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0);
    store_rollback(st);
    struct cert_rec dup = make_cert("A1", CA_SIGN, "C1", "P1", 0, NOW + DAY, NOW);
    ck_assert_int_eq(store_cert_insert(st, &dup, fake_der, sizeof(fake_der), &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    struct cert_rec orphan = make_cert("A9", CA_SIGN, "NOCARD", "P1", 0, NOW + DAY, NOW);
    jerr_clear(&err);
    ck_assert_int_eq(store_cert_insert(st, &orphan, fake_der, sizeof(fake_der), &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    marks(0, 100, &seen);
    ck_assert_int_eq(seen.count, 0);

    /* Refusals. */
    jerr_clear(&err);
    refused(store_ocsp_dirty_clear(st, NULL, 1, &cleared, &err), &err, JERR_INVALID, "serial");
    ck_assert(!cleared);
    jerr_clear(&err);
    ck_assert_int_eq(store_ocsp_foreach_dirty(st, 0, 100, due_collect, &seen, &err), 0);
    add_simple_cert("A4", CA_SIGN, 0, NOW + DAY);
    memset(&seen, 0, sizeof(seen));
    seen.count = 16; /* a consumer that stops */
    ck_assert_int_eq(store_ocsp_foreach_dirty(st, 0, 100, due_collect, &seen, &err), -1);
    ck_assert_int_eq(err.code, JERR_INTERNAL);
}
END_TEST

START_TEST(test_ocsp_ageing_and_delete)
{
    struct jerr err = {0};
    struct due_seen seen;
    unsigned char *der = NULL;
    size_t len = 0;

    add_person_card("P1", "C1");
    add_simple_cert("A1", CA_SIGN, 0, NOW + DAY);
    add_simple_cert("A2", CA_SIGN, 0, NOW + DAY);
    add_simple_cert("A3", CA_AUTH, 0, NOW + DAY);
    add_simple_cert("A4", CA_SIGN, 0, NOW - 10); /* expired */
    put_fake("A1", 0, CA_SIGN, NOW + 100);
    put_fake("A2", 0, CA_SIGN, NOW + 7200);
    put_fake("A3", 0, CA_AUTH, NOW + 50);
    put_fake("A3", 1, CA_AUTH, NOW + 60);
    ck_assert_int_eq(
        store_ocsp_put(st, "A4", 0, CA_SIGN, fake_der, sizeof(fake_der), NOW, NOW - 5, &err), 0);

    /* nextUpdate before refresh_by, oldest first, each with its certificate's notAfter; a
     * stale response ages like any other. */
    set_status("A1", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0);
    ageing(NOW + 1800, 0, "", 100, &seen);
    ck_assert_int_eq(seen.count, 4);
    ck_assert_str_eq(seen.serial[0], "A4");
    ck_assert_int_eq(seen.next_update[0], NOW - 5);
    ck_assert_int_eq(seen.not_after[0], NOW - 10);
    ck_assert_str_eq(seen.serial[1], "A3");
    ck_assert_int_eq(seen.next_update[1], NOW + 50);
    ck_assert_int_eq(seen.ca[1], CA_AUTH);
    ck_assert_int_eq(seen.seq[1], 0);
    ck_assert_str_eq(seen.serial[2], "A3");
    ck_assert_int_eq(seen.next_update[2], NOW + 60);
    ck_assert_str_eq(seen.serial[3], "A1");
    /* refresh_by is exclusive. */
    ageing(NOW + 100, 0, "", 100, &seen);
    ck_assert_int_eq(seen.count, 3);

    /* Paging from a (nextUpdate, serial) position. */
    ageing(NOW + 1800, 0, "", 2, &seen);
    ck_assert_int_eq(seen.count, 2);
    ck_assert_int_eq(seen.next_update[1], NOW + 50);
    ageing(NOW + 1800, NOW + 50, "A3", 2, &seen);
    ck_assert_int_eq(seen.count, 2);
    ck_assert_int_eq(seen.next_update[0], NOW + 60);
    ck_assert_str_eq(seen.serial[1], "A1");
    ageing(NOW + 1800, NOW + 100, "A1", 2, &seen);
    ck_assert_int_eq(seen.count, 0);

    /* Re-signed (nextUpdate moved on): no longer ageing. Deleted: gone, both hashes. */
    put_fake("A1", 0, CA_SIGN, NOW + 9000);
    ck_assert_int_eq(store_ocsp_delete(st, "A3", &err), 0);
    ck_assert_int_eq(store_ocsp_delete(st, "A3", &err), 0); /* none left: not an error */
    ck_assert_int_eq(store_ocsp_get(st, "A3", 1, &der, &len, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ageing(NOW + 1800, 0, "", 100, &seen);
    ck_assert_int_eq(seen.count, 1);
    ck_assert_str_eq(seen.serial[0], "A4");

    jerr_clear(&err);
    ck_assert_int_eq(store_ocsp_delete(st, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    jerr_clear(&err);
    char longer[JPKI_SERIAL_HEX_MAX + 2];
    memset(longer, 'A', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    refused(store_ocsp_foreach_ageing(st, NOW, 0, longer, 10, due_collect, &seen, &err), &err,
            JERR_TOO_LARGE, "after_serial");
}
END_TEST

/* Migration 5 on a registry of schema 4: the certificates without a fresh SHA-1 response (none
 * at all, only SHA-256, or a stale one) are marked once; the others are not. */
START_TEST(test_ocsp_marks_backfilled_by_migration)
{
    struct jerr err = {0};
    struct due_seen seen;

    add_person_card("P1", "C1");
    add_simple_cert("B1", CA_SIGN, 0, NOW + DAY); /* no response */
    add_simple_cert("B2", CA_AUTH, 0, NOW + DAY); /* fresh SHA-1 */
    add_simple_cert("B3", CA_SIGN, 0, NOW + DAY); /* stale SHA-1 */
    add_simple_cert("B4", CA_SIGN, 0, NOW + DAY); /* SHA-256 only */
    add_simple_cert("B5", CA_SIGN, 0, NOW + DAY); /* fresh SHA-1, stale SHA-256 */
    const char *put[][2] = {{"B2", "0"}, {"B3", "0"}, {"B4", "1"}, {"B5", "0"}, {"B5", "1"}};
    for (size_t i = 0; i < sizeof(put) / sizeof(put[0]); i++)
        ck_assert_int_eq(store_ocsp_put(st, put[i][0], put[i][1][0] - '0',
                                        put[i][0][1] == '2' ? CA_AUTH : CA_SIGN, fake_der,
                                        sizeof(fake_der), NOW, NOW + DAY, &err),
                         0);
    store_close(st);
    st = NULL;
    /* Back to schema 4, as a registry written by the previous version would be. */
    raw_exec("UPDATE ocsp_responses SET stale = 1 WHERE serial = 'B3' OR (serial = 'B5' AND "
             "certid_hash = 1);"
             "DROP TABLE ocsp_dirty; DROP INDEX ocsp_responses_ageing;"
             "ALTER TABLE batch_rows DROP COLUMN claimed_until;"
             "DROP TABLE audit_checkpoints; DROP TABLE publish_queue;"
             "DROP TABLE ca_generations; DROP INDEX certs_crl;"
             "ALTER TABLE certificates DROP COLUMN generation;"
             "CREATE INDEX certs_crl ON certificates(ca, partition, not_after, serial, "
             "status_changed_at, reason, invalidity_date) WHERE status != 0;"
             "DROP TABLE rp_usage_certs; DROP TABLE rp_usage_daily; DROP TABLE relying_parties;"
             "DROP TABLE cert_links; DROP TABLE consents;" /* migration 9 */
             /* migration 8 */
             "DROP INDEX certs_crl_delta; ALTER TABLE certificates DROP COLUMN crl_seq;"
             "DROP INDEX crls_delta_base; ALTER TABLE crls DROP COLUMN covers_seq;"
             "ALTER TABLE crls DROP COLUMN base_number;"
             "DELETE FROM schema_version WHERE version >= 5;");

    st = store_open(path, false, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    ck_assert_int_eq(store_schema_version(st), store_schema_latest());
    marks(0, 100, &seen);
    ck_assert_int_eq(seen.count, 4);
    ck_assert_str_eq(seen.serial[0], "B1");
    ck_assert_str_eq(seen.serial[1], "B3");
    ck_assert_str_eq(seen.serial[2], "B4");
    ck_assert_str_eq(seen.serial[3], "B5");
    /* The marks continue after the backfill's. */
    add_simple_cert("B6", CA_SIGN, 0, NOW + DAY);
    marks(seen.seq[3], 100, &seen);
    ck_assert_int_eq(seen.count, 1);
    ck_assert_str_eq(seen.serial[0], "B6");
}
END_TEST

/* The statement of the store's connection whose SQL contains `needle`. */
static sqlite3_stmt *cached_stmt(const char *needle)
{
    for (sqlite3_stmt *s = sqlite3_next_stmt(last_db, NULL); s != NULL;
         s = sqlite3_next_stmt(last_db, s))
        if (strstr(sqlite3_sql(s), needle) != NULL)
            return s;
    ck_abort_msg("no statement with %s", needle);
    return NULL;
}

/* That statement, after a pass that read an index only: no full scan, no sort, few steps
 * (the counters are reset for the next pass). */
static sqlite3_stmt *indexed_pass(const char *needle, const char *what)
{
    sqlite3_stmt *s = cached_stmt(needle);
    int steps = sqlite3_stmt_status(s, SQLITE_STMTSTATUS_VM_STEP, 1);

    ck_assert_int_eq(sqlite3_stmt_status(s, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1), 0);
    ck_assert_int_eq(sqlite3_stmt_status(s, SQLITE_STMTSTATUS_SORT, 1), 0);
    ck_assert_msg(steps < 500, "%s: %d VM steps", what, steps);
    return s;
}

/* The query plan of that statement, as "detail;detail;...". */
static void plan_of(sqlite3_stmt *stmt, char *plan, size_t size)
{
    char sql[2048];
    sqlite3_stmt *s = NULL;
    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", sqlite3_sql(stmt));
    ck_assert_int_eq(sqlite3_prepare_v2(last_db, sql, -1, &s, NULL), SQLITE_OK);
    plan[0] = '\0';
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t len = strlen(plan);
        snprintf(plan + len, size - len, "%s;", (const char *)sqlite3_column_text(s, 3));
    }
    sqlite3_finalize(s);
}

#define SCALE_CERTS 200000

/* DESIGN §8 at scale: with 200 000 certificates (and their responses), a refresher pass reads
 * the marked rows and the ageing rows only — the statements' own counters say how many rows
 * they stepped through, and their plans name the indexes. */
START_TEST(test_ocsp_due_at_scale)
{
    struct jerr err = {0};
    struct due_seen seen;
    char serial[JPKI_SERIAL_HEX_MAX + 1];

    add_person_card("P1", "C1");
    ck_assert_int_eq(store_begin(st, &err), 0);
    for (int i = 0; i < SCALE_CERTS; i++) {
        snprintf(serial, sizeof(serial), "7%031X", i);
        add_simple_cert(serial, i % 2 ? CA_AUTH : CA_SIGN, 0, NOW + 400 * DAY);
        /* Fresh responses, none ageing before NOW + DAY but three. */
        int64_t next = i % 50000 == 7 ? NOW + 600 : NOW + 2 * DAY + i % 3600;
        ck_assert_int_eq(store_ocsp_put(st, serial, 0, i % 2 ? CA_AUTH : CA_SIGN, fake_der,
                                        sizeof(fake_der), NOW, next, &err),
                         0);
    }
    ck_assert_msg(store_commit(st, &err) == 0, "%s", err.msg);
    /* Every insertion was marked: the refresher would sign them all. Say it did. */
    raw_exec("DELETE FROM ocsp_dirty");

    reopen_caught();
    set_status("7000000000000000000000000000A001", CERT_REVOKED, REASON_KEY_COMPROMISE, NOW, 0);
    set_status("70000000000000000000000000000005", CERT_HOLD, REASON_CERTIFICATE_HOLD, NOW, 0);
    set_status("70000000000000000000000000030D3F", CERT_REVOKED, REASON_SUPERSEDED, NOW, 0);

    marks(0, 64, &seen);
    ck_assert_int_eq(seen.count, 3);
    ck_assert_str_eq(seen.serial[0], "7000000000000000000000000000A001");
    ck_assert_str_eq(seen.serial[2], "70000000000000000000000000030D3F");
    /* A walk over the certificates would take over SCALE_CERTS steps. */
    sqlite3_stmt *dirty = indexed_pass("FROM ocsp_dirty d", "marks pass");

    ageing(NOW + DAY, 0, "", 64, &seen);
    ck_assert_int_eq(seen.count, 4); /* i = 7, 50007, 100007, 150007 */
    ck_assert_str_eq(seen.serial[0], "70000000000000000000000000000007");
    sqlite3_stmt *aged = indexed_pass("FROM ocsp_responses o", "ageing pass");

    char plan[1024];
    plan_of(dirty, plan, sizeof(plan));
    ck_assert_msg(strstr(plan, "SEARCH d USING INTEGER PRIMARY KEY") != NULL, "%s", plan);
    ck_assert_msg(strstr(plan, "SEARCH c USING INDEX sqlite_autoindex_certificates_1") != NULL,
                  "%s", plan);
    ck_assert_msg(strstr(plan, "SCAN") == NULL && strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
    plan_of(aged, plan, sizeof(plan));
    ck_assert_msg(strstr(plan, "SEARCH o USING INDEX ocsp_responses_ageing") != NULL, "%s", plan);
    ck_assert_msg(strstr(plan, "SEARCH c USING INDEX sqlite_autoindex_certificates_1") != NULL,
                  "%s", plan);
    ck_assert_msg(strstr(plan, "SCAN") == NULL && strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
}
END_TEST

/* ---- batch row claims (migration 5) ------------------------------------------------- */

/* A running batch `key` of `rows` pending rows whose requests are "req-<row>". */
static int64_t add_batch(const char *key, int rows)
{
    struct jerr err = {0};
    struct batch_rec b;
    memset(&b, 0, sizeof(b));
    snprintf(b.key, sizeof(b.key), "%s", key);
    snprintf(b.digest, sizeof(b.digest), "%064d", 0);
    snprintf(b.submitted_by, sizeof(b.submitted_by), "clerk");
    b.total = rows;
    b.accepted = rows;
    ck_assert_msg(store_batch_insert(st, &b, &err) == 0, "%s", err.msg);
    for (int i = 1; i <= rows; i++) {
        struct batch_row_rec r;
        char request[32];
        memset(&r, 0, sizeof(r));
        r.row = i;
        snprintf(r.key, sizeof(r.key), "k%d", i);
        r.state = BATCH_ROW_PENDING;
        snprintf(request, sizeof(request), "req-%d", i);
        ck_assert_msg(store_batch_row_insert(st, b.id, &r, request, &err) == 0, "%s", err.msg);
    }
    return b.id;
}

/* Claims the next row of `batch_id` at `now` for 60 s: its number, or 0 when none. */
static int64_t claim(int64_t batch_id, int64_t now)
{
    struct jerr err = {0};
    struct batch_row_rec r;
    char *request = NULL;
    char want[32];
    if (store_batch_claim_next(st, batch_id, now, now + 60, &r, &request, &err) == -1) {
        ck_assert_int_eq(err.code, JERR_NOT_FOUND);
        ck_assert_str_eq(err.field, "row");
        return 0;
    }
    snprintf(want, sizeof(want), "req-%lld", (long long)r.row);
    ck_assert_str_eq(request, want);
    ck_assert_int_eq(r.state, BATCH_ROW_PENDING);
    free(request);
    return r.row;
}

START_TEST(test_batch_claims)
{
    struct jerr err = {0};
    struct batch_row_rec r;
    char *request = NULL;
    int64_t released = -1;
    bool changed = false;

    int64_t a = add_batch("claims-a", 3);
    int64_t b = add_batch("claims-b", 1);

    /* Lowest row first, each row once. */
    ck_assert_int_eq(claim(a, NOW), 1);
    ck_assert_int_eq(claim(a, NOW), 2);
    ck_assert_int_eq(claim(a, NOW), 3);
    ck_assert_int_eq(claim(a, NOW), 0);
    ck_assert_int_eq(claim(b, NOW), 1); /* another batch's rows are its own */
    /* Claimed rows are still pending. */
    ck_assert_int_eq(store_batch_next_pending(st, a, &r, &request, &err), 0);
    ck_assert_int_eq(r.row, 1);
    free(request);

    /* A row given back is claimed again; a claim lapses at its end (not at it). */
    ck_assert_int_eq(store_batch_row_unclaim(st, a, 2, &err), 0);
    ck_assert_int_eq(claim(a, NOW), 2);
    ck_assert_int_eq(claim(a, NOW + 60), 0);
    ck_assert_int_eq(claim(a, NOW + 61), 1);

    /* Finishing a row clears its claim; giving back the others (as at a start) counts the
     * pending rows only, of that batch only. */
    struct batch_row_rec done;
    memset(&done, 0, sizeof(done));
    done.state = BATCH_ROW_DONE;
    snprintf(done.serials, sizeof(done.serials), "AB");
    ck_assert_int_eq(store_batch_row_finish(st, a, 3, &done, &changed, &err), 0);
    ck_assert(changed);
    ck_assert_int_eq(store_batch_claims_release(st, a, &released, &err), 0);
    ck_assert_int_eq(released, 2);
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM batch_rows WHERE claimed_until IS NOT NULL"),
                     1); /* batch b's row */
    sqlite3_close(db);
    ck_assert_int_eq(claim(a, NOW), 1);
    ck_assert_int_eq(claim(a, NOW), 2);
    ck_assert_int_eq(claim(a, NOW), 0); /* row 3 is done: never claimed again */
    ck_assert_int_eq(store_batch_claims_release(st, b, NULL, &err), 0);
    ck_assert_int_eq(claim(b, NOW), 1);

    /* An unknown batch has nothing to claim. */
    ck_assert_int_eq(claim(999, NOW), 0);
}
END_TEST

/* Two connections claiming at once never get the same row. */
struct claimer {
    const char *path;
    int64_t batch_id;
    int64_t rows[64];
    int count;
    int failures;
};

static void *claim_thread(void *arg)
{
    struct claimer *c = arg;
    struct jerr err = {0};
    struct store *own = store_open(c->path, false, &err);
    if (own == NULL) {
        c->failures++;
        return NULL;
    }
    for (;;) {
        struct batch_row_rec r;
        char *request = NULL;
        jerr_clear(&err);
        if (store_batch_claim_next(own, c->batch_id, NOW, NOW + 60, &r, &request, &err) == -1) {
            if (err.code != JERR_NOT_FOUND)
                c->failures++;
            break;
        }
        free(request);
        if (c->count < 64)
            c->rows[c->count++] = r.row;
    }
    store_close(own);
    return NULL;
}

START_TEST(test_batch_claims_concurrent)
{
    int64_t id = add_batch("claims-race", 60);
    struct claimer c[3];
    pthread_t t[3];
    int seen[61] = {0};

    for (int i = 0; i < 3; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        c[i].path = path;
        c[i].batch_id = id;
        ck_assert_int_eq(pthread_create(&t[i], NULL, claim_thread, &c[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(c[i].failures, 0);
        for (int k = 0; k < c[i].count; k++)
            seen[c[i].rows[k]]++;
        total += c[i].count;
    }
    ck_assert_int_eq(total, 60);
    for (int row = 1; row <= 60; row++)
        ck_assert_msg(seen[row] == 1, "row %d claimed %d times", row, seen[row]);
}
END_TEST

/* ---- listings ------------------------------------------------------------------------ */

START_TEST(test_certs_of_card_and_person)
{
    struct jerr err = {0};
    struct cert_list list = {0};

    add_person_card("P1", "C1");
    add_person_card("P2", "C2");
    struct card c3 = make_card("C3", "P1");
    ck_assert_int_eq(store_card_insert(st, &c3, &err), 0);

    struct cert_rec r1 = make_cert("10", CA_SIGN, "C1", "P1", 0, NOW + DAY, NOW + 200);
    struct cert_rec r2 = make_cert("05", CA_AUTH, "C1", "P1", 0, NOW + DAY, NOW + 100);
    struct cert_rec r3 = make_cert("01", CA_AUTH, "C1", "P1", 0, NOW + DAY, NOW + 200);
    struct cert_rec r4 = make_cert("20", CA_SIGN, "C3", "P1", 0, NOW + DAY, NOW + 150);
    struct cert_rec r5 = make_cert("30", CA_SIGN, "C2", "P2", 0, NOW + DAY, NOW);
    add_cert(&r1);
    add_cert(&r2);
    add_cert(&r3);
    add_cert(&r4);
    add_cert(&r5);

    /* Oldest first; same second in insertion order. */
    ck_assert_int_eq(store_certs_of_card(st, "C1", &list, &err), 0);
    ck_assert_uint_eq(list.count, 3);
    ck_assert_str_eq(list.items[0].serial, "05");
    ck_assert_str_eq(list.items[1].serial, "10");
    ck_assert_str_eq(list.items[2].serial, "01");
    ck_assert_int_eq(list.items[0].ca, CA_AUTH);
    cert_list_free(&list);
    ck_assert_ptr_null(list.items);
    ck_assert_uint_eq(list.count, 0);

    ck_assert_int_eq(store_certs_of_person(st, "P1", &list, &err), 0);
    ck_assert_uint_eq(list.count, 4);
    ck_assert_str_eq(list.items[0].serial, "05");
    ck_assert_str_eq(list.items[1].serial, "20");
    ck_assert_str_eq(list.items[2].serial, "10");
    ck_assert_str_eq(list.items[3].serial, "01");
    cert_list_free(&list);

    ck_assert_int_eq(store_certs_of_card(st, "NONE", &list, &err), 0);
    ck_assert_uint_eq(list.count, 0);
    cert_list_free(&list);
    cert_list_free(NULL);
}
END_TEST

START_TEST(test_many_certs_list_grows)
{
    struct jerr err = {0};
    struct cert_list list = {0};
    char serial[16];

    add_person_card("P1", "C1");
    ck_assert_int_eq(store_begin(st, &err), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(serial, sizeof(serial), "%04X", i);
        struct cert_rec r = make_cert(serial, CA_SIGN, "C1", "P1", 0, NOW + DAY, NOW + i);
        add_cert(&r);
    }
    ck_assert_int_eq(store_commit(st, &err), 0);
    ck_assert_int_eq(store_certs_of_card(st, "C1", &list, &err), 0);
    ck_assert_uint_eq(list.count, 100);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(list.items[i].issued_at, NOW + i);
    cert_list_free(&list);
}
END_TEST

START_TEST(test_certs_expiring)
{
    struct jerr err = {0};
    struct cert_list list = {0};

    add_person_card("P1", "C1");
    add_simple_cert("E1", CA_SIGN, 0, NOW + 10 * DAY);
    add_simple_cert("E2", CA_AUTH, 0, NOW + 2 * DAY);
    add_simple_cert("E3", CA_SIGN, 0, NOW + 30 * DAY); /* == to: outside [from, to) */
    add_simple_cert("E4", CA_SIGN, 0, NOW + 5 * DAY);  /* revoked: not listed */
    add_simple_cert("E5", CA_SIGN, 0, NOW);            /* == from: inside */
    add_simple_cert("E6", CA_SIGN, 0, NOW - 1);        /* before from */
    set_status("E4", CERT_REVOKED, REASON_UNSPECIFIED, NOW, 0);

    ck_assert_int_eq(store_certs_expiring(st, NOW, NOW + 30 * DAY, 10, &list, &err), 0);
    ck_assert_uint_eq(list.count, 3);
    ck_assert_str_eq(list.items[0].serial, "E5");
    ck_assert_str_eq(list.items[1].serial, "E2");
    ck_assert_str_eq(list.items[2].serial, "E1");
    cert_list_free(&list);

    ck_assert_int_eq(store_certs_expiring(st, NOW, NOW + 30 * DAY, 2, &list, &err), 0);
    ck_assert_uint_eq(list.count, 2);
    ck_assert_str_eq(list.items[1].serial, "E2");
    cert_list_free(&list);

    ck_assert_int_eq(store_certs_expiring(st, NOW, NOW + 30 * DAY, 0, &list, &err), 0);
    ck_assert_uint_eq(list.count, 0);
    cert_list_free(&list);
}
END_TEST

/* ---- audit through the store (chain tampering is in test_audit) ---------------------- */

struct audit_seen {
    int count;
    int64_t seq[8];
    char action[8][48];
};

static int audit_collect(void *ctx, const struct audit_entry *e)
{
    struct audit_seen *seen = ctx;
    if (seen->count >= 8)
        return -1;
    seen->seq[seen->count] = e->seq;
    snprintf(seen->action[seen->count], sizeof(seen->action[0]), "%s", e->action);
    seen->count++;
    return 0;
}

START_TEST(test_audit_foreach_target)
{
    struct jerr err = {0};
    struct audit_seen seen = {0};
    const char *targets[] = {"P1", "C1", "P1", "AA", "P1"};

    for (int i = 0; i < 5; i++) {
        struct audit_entry e = {.at = NOW + i};
        snprintf(e.actor, sizeof(e.actor), "op");
        snprintf(e.action, sizeof(e.action), "act%d", i);
        snprintf(e.target, sizeof(e.target), "%s", targets[i]);
        snprintf(e.outcome, sizeof(e.outcome), "ok");
        ck_assert_int_eq(store_audit_append(st, &e, &err), 0);
    }
    ck_assert_int_eq(store_audit_foreach_target(st, "P1", audit_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 3);
    ck_assert_int_eq(seen.seq[0], 1);
    ck_assert_str_eq(seen.action[0], "act0");
    ck_assert_int_eq(seen.seq[1], 3);
    ck_assert_int_eq(seen.seq[2], 5);
    ck_assert_str_eq(seen.action[2], "act4");

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(store_audit_foreach_target(st, "nobody", audit_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.count, 0);
}
END_TEST

/* ---- statement cache (ca/store.c) ------------------------------------------------------- */

struct reentry {
    int calls;
    int same_rc; /* the same listing, from inside its own callback */
    struct jerr same_err;
    int other_rc; /* another repository's statement, from inside it */
    struct person other;
};

static int reenter(void *ctx, const struct audit_entry *e)
{
    struct reentry *r = ctx;
    struct jerr err = {0};

    r->calls++;
    r->same_rc = store_audit_foreach_target(st, e->target, reenter, r, &r->same_err);
    r->other_rc = store_person_get(st, e->target, &r->other, &err);
    return 0;
}

/* A statement is cached per connection by its SQL text: a listing whose callback re-enters
 * the very same query is refused (it would be reset under its caller), while the statements
 * of the other repositories are separate and run inside it. */
START_TEST(test_statement_reentry)
{
    struct jerr err = {0};
    struct reentry r = {0};
    struct audit_entry e = {.at = NOW};

    add_person_card("P1", "C1");
    snprintf(e.actor, sizeof(e.actor), "op");
    snprintf(e.action, sizeof(e.action), "person.register");
    snprintf(e.target, sizeof(e.target), "P1");
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    ck_assert_int_eq(store_audit_append(st, &e, &err), 0);

    ck_assert_int_eq(store_audit_foreach_target(st, "P1", reenter, &r, &err), 0);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.same_rc, -1);
    ck_assert_int_eq(r.same_err.code, JERR_INTERNAL);
    ck_assert_ptr_nonnull(strstr(r.same_err.msg, "re-entered"));
    ck_assert_int_eq(r.other_rc, 0);
    ck_assert_str_eq(r.other.id, "P1");
    /* The refused call left the statement alone: the same listing runs again afterwards. */
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(store_audit_foreach_target(st, "P1", reenter, &r, &err), 0);
    ck_assert_int_eq(r.calls, 1);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_open_create_reopen);
    tcase_add_test(tc, test_open_missing_without_create);
    tcase_add_test(tc, test_open_refuses_newer_schema);
    tcase_add_test(tc, test_open_not_a_database);
    tcase_add_test(tc, test_connection_settings);
    tcase_add_test(tc, test_meta);
    tcase_add_test(tc, test_lookups_name_what_is_missing);
    tcase_add_test(tc, test_person_crud);
    tcase_add_test(tc, test_card_crud);
    tcase_add_test(tc, test_cert_crud);
    tcase_add_test(tc, test_set_status_roundtrip);
    tcase_add_test(tc, test_transaction_rollback);
    tcase_add_test(tc, test_busy_is_unavailable);
    tcase_add_test(tc, test_busy_waits_for_the_writer);
    tcase_add_test(tc, test_readonly_is_unavailable);
    tcase_add_test(tc, test_set_status_marks_stale);
    tcase_add_test(tc, test_crl_foreach);
    tcase_add_test(tc, test_crl_query_plan);
    tcase_add_test(tc, test_crl_numbers);
    tcase_add_test(tc, test_crl_published_clears_stale);
    tcase_add_test(tc, test_ocsp_put_get);
    tcase_add_test(tc, test_ocsp_put_signed_race);
    tcase_add_test(tc, test_ocsp_marks);
    tcase_add_test(tc, test_ocsp_ageing_and_delete);
    tcase_add_test(tc, test_ocsp_marks_backfilled_by_migration);
    tcase_add_test(tc, test_batch_claims);
    tcase_add_test(tc, test_batch_claims_concurrent);
    tcase_add_test(tc, test_certs_of_card_and_person);
    tcase_add_test(tc, test_many_certs_list_grows);
    tcase_add_test(tc, test_certs_expiring);
    tcase_add_test(tc, test_audit_foreach_target);
    tcase_add_test(tc, test_statement_reentry);
    tcase_add_test(tc, test_generation_validity);
    suite_add_tcase(s, tc);
    tc = tcase_create("scale");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ocsp_due_at_scale);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(store_suite());
}
