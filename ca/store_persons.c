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
    ret = store_step_write(st, s, "id", "insert person", err);
    if (ret > 0)
        ret = store_is_unique_violation(ret)
                  ? jerr_set(err, JERR_CONFLICT, "id", "person %s already exists",
                             store_esc(buf, sizeof(buf), p->id))
                  : store_fail(st, ret, err, "id", "insert person");
out:
    store_stmt_done(s);
    return ret;
}

int store_person_get(struct store *st, const char *id, struct person *out, struct jerr *err)
{
    sqlite3_stmt *s =
        store_lookup(st, SQL_PERSON_GET, id, JPKI_ID_MAX, "person_id", "person", "get person", err);
    struct person p;
    int ret = -1;

    if (s == NULL)
        return -1;
    memset(&p, 0, sizeof(p));
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
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_person(s, p, err) == -1)
        goto out;
    ret = store_step_changed(st, s, "person_id", "person", p->id, "update person", err);
out:
    store_stmt_done(s);
    return ret;
}

/* ---- cards ----------------------------------------------------------------------------- */

static int card_state_check(enum card_state state, struct jerr *err)
{
    if (state < CARD_ACTIVE || state > CARD_RETURNED)
        return jerr_set(err, JERR_INVALID, "state", "unknown card state %d", (int)state);
    return 0;
}

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
    if (card_state_check(c->state, err) == -1)
        goto out;
    sqlite3_bind_int(s, 3, (int)c->type);
    sqlite3_bind_int(s, 5, (int)c->state);
    sqlite3_bind_int64(s, 8, (int64_t)jclock_now());
    ret = store_step_write(st, s, "id", "insert card", err);
    if (store_is_unique_violation(ret))
        ret = jerr_set(err, JERR_CONFLICT, "id", "card %s already exists",
                       store_esc(buf, sizeof(buf), c->id));
    else if (ret == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = jerr_set(err, JERR_NOT_FOUND, "person_id", "no person %s",
                       store_esc(buf, sizeof(buf), c->person_id));
    else if (ret > 0)
        ret = store_fail(st, ret, err, "id", "insert card");
out:
    store_stmt_done(s);
    return ret;
}

/* Reads a card (id, person_id, type, expiry, state, prefecture, municipality). */
static int card_from_row(sqlite3_stmt *s, void *out, struct jerr *err)
{
    struct card c;

    memset(&c, 0, sizeof(c));
    if (store_col_copy(s, 0, c.id, sizeof(c.id), "id", err) == -1 ||
        store_col_copy(s, 1, c.person_id, sizeof(c.person_id), "person_id", err) == -1 ||
        store_col_copy(s, 3, c.expiry, sizeof(c.expiry), "expiry", err) == -1 ||
        store_col_copy(s, 5, c.prefecture, sizeof(c.prefecture), "prefecture", err) == -1 ||
        store_col_copy(s, 6, c.municipality, sizeof(c.municipality), "municipality", err) == -1)
        return -1;
    c.type = (enum card_type)sqlite3_column_int(s, 2);
    c.state = (enum card_state)sqlite3_column_int(s, 4);
    *(struct card *)out = c;
    return 0;
}

int store_card_get(struct store *st, const char *id, struct card *out, struct jerr *err)
{
    sqlite3_stmt *s =
        store_lookup(st, SQL_CARD_GET, id, JPKI_ID_MAX, "card_id", "card", "get card", err);
    int ret;

    if (s == NULL)
        return -1;
    ret = card_from_row(s, out, err);
    store_stmt_done(s);
    return ret;
}

int store_card_set_state(struct store *st, const char *id, enum card_state state, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CARD_SET_STATE, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (card_state_check(state, err) == -1 ||
        store_bind_str(s, 1, id, JPKI_ID_MAX, "card_id", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, (int)state);
    ret = store_step_changed(st, s, "card_id", "card", id, "set card state", err);
out:
    store_stmt_done(s);
    return ret;
}

int store_card_set_places(struct store *st, const struct card *c, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CARD_SET_PLACES, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_fixed(s, 1, c->id, sizeof(c->id), "card_id", err) == -1 ||
        store_bind_fixed(s, 2, c->prefecture, sizeof(c->prefecture), "prefecture", err) == -1 ||
        store_bind_fixed(s, 3, c->municipality, sizeof(c->municipality), "municipality", err) == -1)
        goto out;
    ret = store_step_changed(st, s, "card_id", "card", c->id, "set card places", err);
out:
    store_stmt_done(s);
    return ret;
}

bool store_card_exists(struct store *st, const char *id)
{
    return store_exists(st, SQL_CARD_EXISTS, id);
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
    void *items = NULL;
    size_t count = 0;
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, person_id, JPKI_ID_MAX, "person_id", err) == -1 ||
        store_collect(st, s, card_from_row, sizeof(struct card), &items, &count, "person_id",
                      "list cards", err) == -1)
        goto out;
    out->items = items;
    out->count = count;
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}
