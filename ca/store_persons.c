/*
 * store_persons: persons and their cards (tables persons, cards; DESIGN §4). Rows only: the
 * lifecycle rules that decide a change are in ca/lifecycle.c.
 */
#include "ca/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

static const char SQL_PERSON_INSERT[] =
    "INSERT INTO persons(id, name, address, birth_date, gender, deceased, "
    "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";
static const char SQL_PERSON_GET[] =
    "SELECT id, name, address, birth_date, gender, deceased FROM persons "
    "WHERE id = ?1";
static const char SQL_PERSON_UPDATE[] =
    "UPDATE persons SET name = ?2, address = ?3, birth_date = ?4, "
    "gender = ?5, deceased = ?6, updated_at = ?7 WHERE id = ?1";
static const char SQL_CARD_INSERT[] =
    "INSERT INTO cards(id, person_id, type, expiry, state, prefecture, "
    "municipality, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_CARD_GET[] =
    "SELECT id, person_id, type, expiry, state, prefecture, municipality "
    "FROM cards WHERE id = ?1";
static const char SQL_CARD_SET_STATE[] = "UPDATE cards SET state = ?2 WHERE id = ?1";
static const char SQL_CARD_EXISTS[] = "SELECT 1 FROM cards WHERE id = ?1";
static const char SQL_CARD_SET_PLACES[] =
    "UPDATE cards SET prefecture = ?2, municipality = ?3 WHERE id = ?1";
static const char SQL_CARDS_OF_PERSON[] =
    "SELECT id, person_id, type, expiry, state, prefecture, municipality "
    "FROM cards WHERE person_id = ?1 ORDER BY created_at, rowid";

/* ---- persons --------------------------------------------------------------------------- */

static int bind_person(sqlite3_stmt *s, const struct person *p, struct jerr *err)
{
    if (store_bind_fixed(s, 1, p->id, sizeof(p->id), "id", err) == -1 ||
        store_bind_fixed(s, 2, p->name, sizeof(p->name), "name", err) == -1 ||
        store_bind_fixed(s, 3, p->address, sizeof(p->address), "address", err) == -1 ||
        store_bind_fixed(s, 4, p->birth_date, sizeof(p->birth_date), "birth_date", err) == -1)
        return -1;
    if (p->gender < GENDER_MALE || p->gender > GENDER_UNSTATED)
        return jerr_set(err, JERR_INVALID, "gender", "unknown gender code %d", (int)p->gender);
    sqlite3_bind_int(s, 5, (int)p->gender);
    sqlite3_bind_int(s, 6, p->deceased ? 1 : 0);
    sqlite3_bind_int64(s, 7, (int64_t)jclock_now());
    return 0;
}

int store_person_insert(struct store *st, const struct person *p, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_PERSON_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_person(s, p, err) == -1)
        goto out;
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (store_is_unique_violation(rc))
            jerr_set(err, JERR_CONFLICT, "id", "person %s already exists",
                     store_esc(buf, sizeof(buf), p->id));
        else
            store_fail(st, rc, err, "id", "insert person");
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_person_get(struct store *st, const char *id, struct person *out, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_PERSON_GET, err);
    struct person p;
    int ret = -1;

    if (s == NULL)
        return -1;
    memset(&p, 0, sizeof(p));
    if (store_bind_str(s, 1, id, JPKI_ID_MAX, "person_id", err) == -1)
        goto out;
    if (store_step_key_row(st, s, "person_id", "person", id, "get person", err) == -1)
        goto out;
    if (store_col_copy(s, 0, p.id, sizeof(p.id), "id", err) == -1 ||
        store_col_copy(s, 1, p.name, sizeof(p.name), "name", err) == -1 ||
        store_col_copy(s, 2, p.address, sizeof(p.address), "address", err) == -1 ||
        store_col_copy(s, 3, p.birth_date, sizeof(p.birth_date), "birth_date", err) == -1)
        goto out;
    p.gender = (enum gender)sqlite3_column_int(s, 4);
    p.deceased = sqlite3_column_int(s, 5) != 0;
    *out = p;
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_person_update(struct store *st, const struct person *p, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_PERSON_UPDATE, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_person(s, p, err) == -1 ||
        store_step_done(st, s, "person_id", "update person", err) == -1)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        jerr_set(err, JERR_NOT_FOUND, "person_id", "no person %s",
                 store_esc(buf, sizeof(buf), p->id));
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

/* ---- cards ----------------------------------------------------------------------------- */

int store_card_insert(struct store *st, const struct card *c, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CARD_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_fixed(s, 1, c->id, sizeof(c->id), "id", err) == -1 ||
        store_bind_fixed(s, 2, c->person_id, sizeof(c->person_id), "person_id", err) == -1 ||
        store_bind_fixed(s, 4, c->expiry, sizeof(c->expiry), "expiry", err) == -1 ||
        store_bind_fixed(s, 6, c->prefecture, sizeof(c->prefecture), "prefecture", err) == -1 ||
        store_bind_fixed(s, 7, c->municipality, sizeof(c->municipality), "municipality", err) == -1)
        goto out;
    if (c->type != CARD_MYNUMBER && c->type != CARD_JUKI) {
        jerr_set(err, JERR_INVALID, "type", "unknown card type %d", (int)c->type);
        goto out;
    }
    if (c->state < CARD_ACTIVE || c->state > CARD_RETURNED) {
        jerr_set(err, JERR_INVALID, "state", "unknown card state %d", (int)c->state);
        goto out;
    }
    sqlite3_bind_int(s, 3, (int)c->type);
    sqlite3_bind_int(s, 5, (int)c->state);
    sqlite3_bind_int64(s, 8, (int64_t)jclock_now());
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (store_is_unique_violation(rc))
            jerr_set(err, JERR_CONFLICT, "id", "card %s already exists",
                     store_esc(buf, sizeof(buf), c->id));
        else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            jerr_set(err, JERR_NOT_FOUND, "person_id", "no person %s",
                     store_esc(buf, sizeof(buf), c->person_id));
        else
            store_fail(st, rc, err, "id", "insert card");
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_card_get(struct store *st, const char *id, struct card *out, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CARD_GET, err);
    struct card c;
    int ret = -1;

    if (s == NULL)
        return -1;
    memset(&c, 0, sizeof(c));
    if (store_bind_str(s, 1, id, JPKI_ID_MAX, "card_id", err) == -1)
        goto out;
    if (store_step_key_row(st, s, "card_id", "card", id, "get card", err) == -1)
        goto out;
    if (store_col_copy(s, 0, c.id, sizeof(c.id), "id", err) == -1 ||
        store_col_copy(s, 1, c.person_id, sizeof(c.person_id), "person_id", err) == -1 ||
        store_col_copy(s, 3, c.expiry, sizeof(c.expiry), "expiry", err) == -1 ||
        store_col_copy(s, 5, c.prefecture, sizeof(c.prefecture), "prefecture", err) == -1 ||
        store_col_copy(s, 6, c.municipality, sizeof(c.municipality), "municipality", err) == -1)
        goto out;
    c.type = (enum card_type)sqlite3_column_int(s, 2);
    c.state = (enum card_state)sqlite3_column_int(s, 4);
    *out = c;
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_card_set_state(struct store *st, const char *id, enum card_state state, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CARD_SET_STATE, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (state < CARD_ACTIVE || state > CARD_RETURNED) {
        jerr_set(err, JERR_INVALID, "state", "unknown card state %d", (int)state);
        goto out;
    }
    if (store_bind_str(s, 1, id, JPKI_ID_MAX, "card_id", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, (int)state);
    if (store_step_done(st, s, "card_id", "set card state", err) == -1)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        jerr_set(err, JERR_NOT_FOUND, "card_id", "no card %s", store_esc(buf, sizeof(buf), id));
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_card_set_places(struct store *st, const struct card *c, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CARD_SET_PLACES, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_fixed(s, 1, c->id, sizeof(c->id), "card_id", err) == -1 ||
        store_bind_fixed(s, 2, c->prefecture, sizeof(c->prefecture), "prefecture", err) == -1 ||
        store_bind_fixed(s, 3, c->municipality, sizeof(c->municipality), "municipality", err) ==
            -1 ||
        store_step_done(st, s, "card_id", "set card places", err) == -1)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        jerr_set(err, JERR_NOT_FOUND, "card_id", "no card %s", store_esc(buf, sizeof(buf), c->id));
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

/* ---- cards of a person ----------------------------------------------------------------- */

void card_list_free(struct card_list *list)
{
    if (list == NULL)
        return;
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

int store_cards_of_person(struct store *st, const char *person_id, struct card_list *out,
                          struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CARDS_OF_PERSON, err);
    struct card_list list = {0};
    size_t cap = 0;
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, person_id, JPKI_ID_MAX, "person_id", err) == -1)
        goto out;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct card c;
        memset(&c, 0, sizeof(c));
        if (store_col_copy(s, 0, c.id, sizeof(c.id), "id", err) == -1 ||
            store_col_copy(s, 1, c.person_id, sizeof(c.person_id), "person_id", err) == -1 ||
            store_col_copy(s, 3, c.expiry, sizeof(c.expiry), "expiry", err) == -1 ||
            store_col_copy(s, 5, c.prefecture, sizeof(c.prefecture), "prefecture", err) == -1 ||
            store_col_copy(s, 6, c.municipality, sizeof(c.municipality), "municipality", err) == -1)
            goto out;
        c.type = (enum card_type)sqlite3_column_int(s, 2);
        c.state = (enum card_state)sqlite3_column_int(s, 4);
        if (list.count == cap) {
            size_t new_cap = cap == 0 ? 4 : cap * 2;
            struct card *grown;
            if (new_cap > SIZE_MAX / sizeof(*grown) ||
                (grown = realloc(list.items, new_cap * sizeof(*grown))) == NULL) {
                jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
                goto out;
            }
            list.items = grown;
            cap = new_cap;
        }
        list.items[list.count++] = c;
    }
    if (rc != SQLITE_DONE) {
        store_fail_last(st, err, "person_id", "list cards");
        goto out;
    }
    *out = list;
    list = (struct card_list){0};
    ret = 0;
out:
    card_list_free(&list);
    store_stmt_done(s);
    return ret;
}

bool store_card_exists(struct store *st, const char *id)
{
    return store_exists(st, SQL_CARD_EXISTS, id);
}
