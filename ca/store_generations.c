/*
 * store_generations: the CA generations (table ca_generations, DESIGN §11): which keys,
 * roots and OCSP signers a CA has had, and which of them still serve. ca/pki.c reads and
 * writes them; a certificate's own generation is a column of certificates (store_certs.c).
 */
#include "ca/store_int.h"

#include <stdlib.h>
#include <string.h>

#define GEN_COLUMNS                                                                                \
    "ca, generation, algorithm, ca_key, ocsp_key, root_file, ocsp_file, state, created_at, "       \
    "retired_at, validity_years, validity_years_minor"

static const char SQL_GEN_LIST[] =
    "SELECT " GEN_COLUMNS " FROM ca_generations WHERE ca = ?1 ORDER BY generation";
static const char SQL_GEN_INSERT[] = "INSERT INTO ca_generations(" GEN_COLUMNS
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, NULL, ?9, ?10)";
static const char SQL_GEN_STOP_OLDER[] =
    "UPDATE ca_generations SET state = 1 WHERE ca = ?1 AND generation < ?2 AND state = 0";
static const char SQL_GEN_SET_ALGORITHM[] =
    "UPDATE ca_generations SET algorithm = ?3 WHERE ca = ?1 AND generation = ?2 AND "
    "algorithm = ''";
static const char SQL_GEN_RETIRE[] = "UPDATE ca_generations SET state = 2, retired_at = ?3 "
                                     "WHERE ca = ?1 AND generation = ?2 AND state != 2";
static const char SQL_GEN_HAS_LIVE[] =
    "SELECT EXISTS (SELECT 1 FROM certificates WHERE ca = ?1 AND generation = ?2 AND "
    "not_after >= ?3)";

static int gen_from_row(sqlite3_stmt *s, void *out, struct jerr *err)
{
    struct ca_gen_rec g;

    memset(&g, 0, sizeof(g));
    g.ca = (enum ca_kind)sqlite3_column_int(s, 0);
    g.generation = sqlite3_column_int(s, 1);
    if (store_col_copy(s, 2, g.algorithm, sizeof(g.algorithm), "algorithm", err) == -1 ||
        store_col_copy(s, 3, g.ca_key, sizeof(g.ca_key), "ca_key", err) == -1 ||
        store_col_copy(s, 4, g.ocsp_key, sizeof(g.ocsp_key), "ocsp_key", err) == -1 ||
        store_col_copy(s, 5, g.root_file, sizeof(g.root_file), "root_file", err) == -1 ||
        store_col_copy(s, 6, g.ocsp_file, sizeof(g.ocsp_file), "ocsp_file", err) == -1)
        return -1;
    g.state = (enum ca_gen_state)sqlite3_column_int(s, 7);
    g.created_at = sqlite3_column_int64(s, 8);
    g.retired_at = store_col_int_or(s, 9, 0);
    g.validity_years = (int)store_col_int_or(s, 10, 0);
    g.validity_years_minor = (int)store_col_int_or(s, 11, 0);
    *(struct ca_gen_rec *)out = g;
    return 0;
}

int store_gen_list(struct store *st, enum ca_kind ca, struct ca_gen_rec **out, size_t *n,
                   struct jerr *err)
{
    sqlite3_stmt *s;
    void *items = NULL;
    int ret;

    if (store_ca_check(ca, err) == -1 || (s = store_stmt(st, SQL_GEN_LIST, err)) == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    ret = store_collect(st, s, gen_from_row, sizeof(struct ca_gen_rec), &items, n, "ca",
                        "CA generations", err);
    store_stmt_done(s);
    if (ret == 0)
        *out = items;
    return ret;
}

int store_gen_insert(struct store *st, const struct ca_gen_rec *rec, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    bool own = false;
    int ret = -1, rc;

    if (store_ca_check(rec->ca, err) == -1)
        return -1;
    if (rec->generation < 2 || rec->generation > STORE_CA_GENERATIONS_MAX)
        return jerr_set(err, JERR_INVALID, "generation", "generation %d out of 2..%d",
                        rec->generation, STORE_CA_GENERATIONS_MAX);
    /* migration 12's CHECK, said first in words */
    if (rec->validity_years < 0 || rec->validity_years > 10 || rec->validity_years_minor < 0 ||
        rec->validity_years_minor > 10)
        return jerr_set(err, JERR_INVALID, "validity_years",
                        "subscriber validity of %d years (%d under 18) is out of 1..10",
                        rec->validity_years, rec->validity_years_minor);
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_GEN_INSERT, err)) == NULL)
        goto out;
    sqlite3_bind_int(s, 1, (int)rec->ca);
    sqlite3_bind_int(s, 2, rec->generation);
    if (store_bind_str(s, 3, rec->algorithm, sizeof(rec->algorithm) - 1, "algorithm", err) == -1 ||
        store_bind_str(s, 4, rec->ca_key, sizeof(rec->ca_key) - 1, "ca_key", err) == -1 ||
        store_bind_str(s, 5, rec->ocsp_key, sizeof(rec->ocsp_key) - 1, "ocsp_key", err) == -1 ||
        store_bind_str(s, 6, rec->root_file, sizeof(rec->root_file) - 1, "root_file", err) == -1 ||
        store_bind_str(s, 7, rec->ocsp_file, sizeof(rec->ocsp_file) - 1, "ocsp_file", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 8, rec->created_at);
    store_bind_int_or_null(s, 9, rec->validity_years, 0);
    store_bind_int_or_null(s, 10, rec->validity_years_minor, 0);
    rc = store_step_write(st, s, "generation", "record CA generation", err);
    if (store_is_unique_violation(rc))
        rc = jerr_set(err, JERR_CONFLICT, "generation", "the %s CA already has a generation %d",
                      rec->ca == CA_SIGN ? "sign" : "auth", rec->generation);
    else if (rc > 0)
        rc = store_fail(st, rc, err, "generation", "record CA generation");
    if (rc != 0)
        goto out;
    ret = store_run(st, SQL_GEN_STOP_OLDER, (const int64_t[]){rec->ca, rec->generation}, 2, NULL,
                    "generation", "stop older generations", err);
out:
    store_stmt_done(s);
    return store_own_tx_end(st, own, ret, err);
}

int store_gen_set_algorithm(struct store *st, enum ca_kind ca, int generation,
                            const char *algorithm, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_GEN_SET_ALGORITHM, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int(s, 2, generation);
    if (store_bind_str(s, 3, algorithm, 31, "algorithm", err) == 0)
        ret = store_step_done(st, s, "algorithm", "CA generation algorithm", err);
    store_stmt_done(s);
    return ret;
}

int store_gen_retire(struct store *st, enum ca_kind ca, int generation, int64_t at,
                     struct jerr *err)
{
    return store_run(st, SQL_GEN_RETIRE, (const int64_t[]){ca, generation, at}, 3, NULL,
                     "generation", "retire CA generation", err);
}

int store_gen_has_live(struct store *st, enum ca_kind ca, int generation, int64_t now,
                       bool *live, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_GEN_HAS_LIVE, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int(s, 2, generation);
    sqlite3_bind_int64(s, 3, now);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *live = sqlite3_column_int(s, 0) != 0;
        ret = 0;
    } else {
        store_fail_last(st, err, "generation", "live certificates of a generation");
    }
    store_stmt_done(s);
    return ret;
}
