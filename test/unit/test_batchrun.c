/*
 * Batches against a real instance (pki_init in a temp directory): recording a file
 * (batch_exec_submit: rows, problems, the digest, re-submission and conflict, one transaction
 * with the caller's hook), carrying rows out
 * (batch_exec_step / batch_exec_row: person and card registered or found, certificates issued
 * and the row marked done inside the issuance's transaction), exactly once (a re-run after the
 * commit, a row finished by someone else before the commit, a restart with rows pending), the
 * refusals recorded as failed rows, row claims (a step takes a row no other step holds), and the
 * runner (batchrun) taking batches to the end on a real worker pool without exceeding its job
 * limit, with several jobs on one batch.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "ca/batch.h"
#include "ca/cardissue.h"
#include "ca/lifecycle.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "keystore/card.h"
#include "responder/batch/batch_api.h"
#include "ca/batch_exec.h"
#include "responder/batch/batchrun.h"
#include "responder/net/workers.h"
#include "testinst.h"
#include "testutil.h"

#define PASS "correct horse battery staple"

static char *dir;
static struct jpki_config *cfg;

static void instance_setup(void)
{
    struct jerr err = {0};
    char yaml[8192];
    dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
    char cert[PATH_MAX], key[PATH_MAX];
    snprintf(cert, sizeof(cert), "%s/pin.pem", dir);
    snprintf(key, sizeof(key), "%s/pin.key", dir);
    ck_assert_int_eq(testutil_self_signed(cert, key, true), 0);
    snprintf(yaml, sizeof(yaml), "data_dir: %s/inst\nbatch: {pin_letter_recipient: %s}\n", dir,
             cert);
    cfg = config_load_string("test.yaml", yaml, strlen(yaml), NULL, 0, &err);
    ck_assert_msg(cfg != NULL, "config: %s", err.msg);
    struct pki_init_result res;
    ck_assert_msg(pki_init(cfg, PASS, &res, &err) == 0, "init: %s", err.msg);
}

static void instance_teardown(void)
{
    config_free(cfg);
    testutil_rmtree(dir);
    free(dir);
}

struct fixture {
    struct pki *pki;
    struct store *st;
};

static void fx_open(struct fixture *fx)
{
    struct jerr err = {0};
    jclock_set(0);
    fx->pki = pki_open(cfg, PASS, &err);
    ck_assert_msg(fx->pki != NULL, "open: %s", err.msg);
    fx->st = pki_store_open(fx->pki, &err);
    ck_assert_msg(fx->st != NULL, "store: %s", err.msg);
}

static void fx_close(struct fixture *fx)
{
    store_close(fx->st);
    pki_free(fx->pki);
}

/* The instance opened for each test of the "batches" case (a checked fixture). */
static struct fixture fix;

static void fix_setup(void)
{
    fx_open(&fix);
}

static void fix_teardown(void)
{
    fx_close(&fix);
}

/* ---- building files ---- */

/* One YAML row: person P with `name`, card C of `type`, certificates `which`. */
static void yaml_row(char *buf, size_t size, const char *key, const char *person, const char *name,
                     const char *birth, const char *card, const char *type, const char *which)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len,
             "  - key: \"%s\"\n"
             "    person: {id: \"%s\", name: \"%s\", address: \"東京都千代田区\", "
             "birth_date: \"%s\", gender: female}\n"
             "    card: {id: \"%s\", type: %s, expiry: \"2034-01-02\", prefecture: 東京都}\n"
             "    certificates: %s\n",
             key, person, name, birth, card, type, which);
}

/* The submitter "clerk" of the batches recorded here, with no hook of its own. */
static struct lifecycle_ctx clerk(struct fixture *fx)
{
    struct lifecycle_ctx ctx = {.pki = fx->pki, .st = fx->st, .actor = "clerk"};
    return ctx;
}

/* Registers person `id` (as the clerk, before any batch names it). */
static void add_person(struct fixture *fx, const char *id, const char *name, const char *birth)
{
    struct jerr err = {0};
    struct lifecycle_ctx ctx = clerk(fx);
    struct person p = testutil_person(id, name, "東京都千代田区", birth, GENDER_FEMALE);
    ck_assert_msg(lifecycle_person_register(&ctx, &p, &err) == 0, "%s", err.msg);
}

/* Registers My Number card `id` of `person`, expiring 2034-01-02. */
static void add_card(struct fixture *fx, const char *id, const char *person)
{
    struct jerr err = {0};
    struct lifecycle_ctx ctx = clerk(fx);
    struct card c = {.type = CARD_MYNUMBER};
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.person_id, sizeof(c.person_id), "%s", person);
    snprintf(c.expiry, sizeof(c.expiry), "2034-01-02");
    ck_assert_msg(lifecycle_card_register(&ctx, &c, NULL, &err) == 0, "%s", err.msg);
}

/* Parses and records `text`; asserts success. */
static struct batch_rec record(struct fixture *fx, const char *text, bool *existing,
                               size_t *problem_count)
{
    struct jerr err = {0};
    struct batch b = {0};
    struct batch_problem *problems = NULL;
    struct batch_rec rec;
    ck_assert_msg(batch_parse(text, strlen(text), BATCH_AUTO, &b, &problems, problem_count, &err) ==
                      0,
                  "parse: %s", err.msg);
    struct lifecycle_ctx ctx = clerk(fx);
    ck_assert_msg(batch_exec_submit(&ctx, &b, problems, *problem_count, &rec, existing, &err) == 0,
                  "submit: %s", err.msg);
    batch_free(&b);
    batch_problems_free(problems);
    return rec;
}

/* Records batch `key` of `rows` generated rows r1.., each a new person <prefix>-p<i> (named
 * A, B, ..., born 1990-01-02) with My Number card <prefix>-c<i> and certificates `which`. */
static struct batch_rec fx_batch(struct fixture *fx, const char *key, const char *prefix,
                                 int rows, const char *which)
{
    char text[8192];
    bool existing;
    size_t np;
    snprintf(text, sizeof(text), "batch: \"%s\"\nrows:\n", key);
    for (int i = 1; i <= rows; i++) {
        char row[16], person[32], name[2] = {(char)('A' + i - 1), 0}, card[32];
        snprintf(row, sizeof(row), "r%d", i);
        snprintf(person, sizeof(person), "%s-p%d", prefix, i);
        snprintf(card, sizeof(card), "%s-c%d", prefix, i);
        yaml_row(text, sizeof(text), row, person, name, "1990-01-02", card, "mynumber", which);
    }
    return record(fx, text, &existing, &np);
}

static struct batch_row_rec row_of(struct fixture *fx, int64_t batch_id, int64_t row)
{
    struct jerr err = {0};
    struct batch_row_rec r;
    ck_assert_msg(store_batch_row_get(fx->st, batch_id, row, &r, &err) == 0, "%s", err.msg);
    return r;
}

static size_t certs_on(struct fixture *fx, const char *card_id)
{
    struct jerr err = {0};
    struct cert_list l = {0};
    ck_assert_int_eq(store_certs_of_card(fx->st, card_id, &l, &err), 0);
    size_t n = l.count;
    cert_list_free(&l);
    return n;
}

/* The serials of a card's certificates joined as the batch row keeps them. */
static void serials_on(struct fixture *fx, const char *card_id, char *out, size_t size)
{
    struct jerr err = {0};
    struct cert_list l = {0};
    ck_assert_int_eq(store_certs_of_card(fx->st, card_id, &l, &err), 0);
    out[0] = '\0';
    for (size_t i = 0; i < l.count; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i > 0 ? "," : "",
                 l.items[i].serial);
    cert_list_free(&l);
}

static struct batch_exec_result step(struct fixture *fx, int64_t batch_id)
{
    struct jerr err = {0};
    struct batch_exec_result res;
    ck_assert_msg(batch_exec_step(fx->pki, fx->st, batch_id, &res, &err) == 0, "step: %s", err.msg);
    return res;
}

/* A whole file (asserted present). */
static unsigned char *slurp(const char *path, size_t *len)
{
    struct jerr err = {0};
    unsigned char *data = NULL;
    ck_assert_msg(fsutil_read_file(path, 1 << 20, &data, len, &err) == 0, "%s", err.msg);
    return data;
}

/* Opens a PIN letter with the recipient's key as `openssl cms -decrypt` would: its text. */
static char *letter_open(const char *path)
{
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    size_t len = 0;
    unsigned char *der = slurp(path, &len);
    const unsigned char *p = der;
    snprintf(cert_path, sizeof(cert_path), "%s/pin.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/pin.key", dir);
    FILE *f = fopen(key_path, "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    f = fopen(cert_path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(cms);
    ck_assert(p == der + len);
    ck_assert_int_eq(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_enveloped);
    BIO *out = BIO_new(BIO_s_mem());
    ck_assert_int_eq(CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY), 1);
    char *text = calloc(1, 1024);
    ck_assert_int_gt(BIO_read(out, text, 1023), 0);
    BIO_free(out);
    CMS_ContentInfo_free(cms);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(der);
    return text;
}

/* The value of "name: value" in a letter's text ("" when absent). */
static void letter_value(const char *text, const char *name, char *out, size_t size)
{
    char needle[32];
    snprintf(needle, sizeof(needle), "\n%s: ", name);
    const char *at = strstr(text, needle);
    out[0] = '\0';
    if (at != NULL)
        snprintf(out, size, "%.*s", (int)strcspn(at + strlen(needle), "\n"), at + strlen(needle));
}

/* Does the slot of the image at `path` open with `password`? */
static bool image_opens(const char *path, enum ca_kind slot, const char *password)
{
    struct jerr err = {0};
    struct card_image *ci = card_image_load(path, &err);
    ck_assert_msg(ci != NULL, "%s: %s", path, err.msg);
    EVP_PKEY *key = card_image_unlock_key(ci, path, slot, password, &err);
    bool ok = key != NULL;
    EVP_PKEY_free(key);
    card_image_free(ci);
    return ok;
}

/* Files of `dir_path` whose name contains `part`. */
static int files_containing(const char *dir_path, const char *part)
{
    DIR *d = opendir(dir_path);
    int n = 0;
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static int audit_last(void *arg, const struct audit_entry *e)
{
    *(struct audit_entry *)arg = *e;
    return 0;
}

struct running_ids {
    int64_t ids[8];
    int n;
};

static int collect(void *arg, const struct batch_rec *b)
{
    struct running_ids *r = arg;
    if (r->n < 8)
        r->ids[r->n++] = b->id;
    return 0;
}

/* ---- recording ---- */

START_TEST(create_records_good_rows_pending_and_problems_failed)
{
    char text[4096] = "batch: \"t-create\"\nrows:\n";
    bool existing = true;
    size_t np = 0;
    yaml_row(text, sizeof(text), "r1", "cr-p1", "A", "1990-01-02", "cr-c1", "mynumber", "auth");
    yaml_row(text, sizeof(text), "r2", "cr-p2", "B", "1990-02-30", "cr-c2", "mynumber", "auth");
    yaml_row(text, sizeof(text), "r3", "cr-p3", "C", "1990-01-03", "cr-c3", "mynumber", "sign");
    struct batch_rec rec = record(&fix, text, &existing, &np);
    ck_assert(!existing);
    ck_assert_int_eq(np, 1);
    ck_assert_int_gt(rec.id, 0);
    ck_assert_str_eq(rec.key, "t-create");
    ck_assert_str_eq(rec.submitted_by, "clerk");
    ck_assert_int_eq(rec.total, 3);
    ck_assert_int_eq(rec.accepted, 2);
    ck_assert_int_eq(rec.done_rows, 0);
    ck_assert_int_eq(rec.failed_rows, 1); /* the bad row counts as failed */
    ck_assert(!rec.finished);
    ck_assert_int_eq(strlen(rec.digest), 64);

    struct batch_row_rec r1 = row_of(&fix, rec.id, 1), r2 = row_of(&fix, rec.id, 2),
                         r3 = row_of(&fix, rec.id, 3);
    ck_assert_int_eq(r1.state, BATCH_ROW_PENDING);
    ck_assert_str_eq(r1.key, "r1");
    ck_assert_int_eq(r2.state, BATCH_ROW_INVALID);
    ck_assert_str_eq(r2.key, "");
    ck_assert_str_eq(r2.error_code, "invalid");
    ck_assert_str_eq(r2.error_field, "rows[1].person.birth_date");
    ck_assert_str_eq(r2.error_message,
                     "rows[1].person.birth_date: \"1990-02-30\" is not a calendar day YYYY-MM-DD");
    ck_assert_int_eq(r3.state, BATCH_ROW_PENDING);
    ck_assert_str_eq(r3.key, "r3");
    /* nothing registered yet: the runner does that */
    struct person p;
    struct jerr err = {0};
    ck_assert_int_eq(store_person_get(fix.st, "cr-p1", &p, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
}
END_TEST

START_TEST(resubmission_finds_the_batch_and_other_rows_conflict)
{
    struct jerr err = {0};
    char yaml[4096] = "batch: \"t-again\"\nrows:\n";
    bool existing = true;
    size_t np = 0;
    yaml_row(yaml, sizeof(yaml), "r1", "ag-p1", "A", "1990-01-02", "ag-c1", "mynumber", "auth");
    struct batch_rec first = record(&fix, yaml, &existing, &np);
    ck_assert(!existing);

    /* The same rows in JSON: the same batch, nothing new recorded. */
    const char *json =
        "{\"batch\":\"t-again\",\"rows\":[{\"key\":\"r1\",\"person\":{\"id\":\"ag-p1\","
        "\"name\":\"A\",\"address\":\"東京都千代田区\",\"birth_date\":\"1990-01-02\","
        "\"gender\":\"female\"},\"card\":{\"id\":\"ag-c1\",\"type\":\"mynumber\","
        "\"expiry\":\"2034-01-02\",\"prefecture\":\"東京都\"},\"certificates\":[\"auth\"]}]}";
    struct batch_rec again = record(&fix, json, &existing, &np);
    ck_assert(existing);
    ck_assert_int_eq(again.id, first.id);
    ck_assert_str_eq(again.digest, first.digest);
    ck_assert_int_eq(again.total, 1);

    /* The same key with another row: 409 conflict, field "batch"; nothing written. */
    char other[4096] = "batch: \"t-again\"\nrows:\n";
    yaml_row(other, sizeof(other), "r1", "ag-p1", "A", "1990-01-02", "ag-c1", "mynumber", "both");
    struct batch b = {0};
    struct batch_problem *problems = NULL;
    struct batch_rec rec;
    ck_assert_int_eq(batch_parse(other, strlen(other), BATCH_AUTO, &b, &problems, &np, &err), 0);
    struct lifecycle_ctx ctx = clerk(&fix);
    ck_assert_int_eq(batch_exec_submit(&ctx, &b, problems, np, &rec, &existing, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "batch");
    ck_assert_ptr_nonnull(strstr(err.msg, "submitted before"));
    batch_free(&b);
    batch_problems_free(problems);
    jerr_clear(&err);
    ck_assert_int_eq(store_batch_get_by_key(fix.st, "t-again", &rec, &err), 0);
    ck_assert_str_eq(rec.digest, first.digest);
    ck_assert_int_eq(rec.total, 1);
}
END_TEST

START_TEST(digest_is_of_the_rows_not_of_the_text_nor_the_passwords)
{
    struct jerr err = {0};
    char d[4][STORE_BATCH_DIGEST_HEX + 1];
    const char *files[4] = {
        "batch: k\nrows:\n  - {key: a, person: {id: p, name: n, address: x, birth_date: "
        "\"1990-01-02\", gender: male}, card: {id: c, type: mynumber, expiry: \"2034-01-02\"}, "
        "certificates: both, passwords: {sign: \"ABC123\", auth: \"5831\"}}\n",
        /* re-indented, block style, other passwords */
        "batch: \"k\"\nrows:\n- key: \"a\"\n  person:\n    id: p\n    name: n\n    address: x\n"
        "    birth_date: 1990-01-02\n    gender: male\n  card: {id: c, type: mynumber, "
        "expiry: 2034-01-02}\n  certificates: [sign, auth]\n  passwords: {sign: \"ZZZ999\", "
        "auth: \"9990\"}\n",
        /* another name */
        "batch: k\nrows:\n  - {key: a, person: {id: p, name: m, address: x, birth_date: "
        "\"1990-01-02\", gender: male}, card: {id: c, type: mynumber, expiry: \"2034-01-02\"}, "
        "certificates: both}\n",
        /* another batch key */
        "batch: k2\nrows:\n  - {key: a, person: {id: p, name: n, address: x, birth_date: "
        "\"1990-01-02\", gender: male}, card: {id: c, type: mynumber, expiry: \"2034-01-02\"}, "
        "certificates: both}\n",
    };
    for (int i = 0; i < 4; i++) {
        struct batch b = {0};
        struct batch_problem *problems = NULL;
        size_t np = 0;
        ck_assert_msg(
            batch_parse(files[i], strlen(files[i]), BATCH_AUTO, &b, &problems, &np, &err) == 0,
            "%d: %s", i, err.msg);
        ck_assert_int_eq(b.count, 1);
        ck_assert_int_eq(batch_exec_digest(&b, problems, np, d[i], &err), 0);
        batch_free(&b);
        batch_problems_free(problems);
    }
    ck_assert_str_eq(d[0], d[1]);
    ck_assert_str_ne(d[0], d[2]);
    ck_assert_str_ne(d[0], d[3]);
    ck_assert_int_eq(strspn(d[0], "0123456789abcdef"), 64);
}
END_TEST

START_TEST(content_types_choose_the_format)
{
    ck_assert_int_eq(batch_api_format("application/json"), BATCH_JSON);
    ck_assert_int_eq(batch_api_format("Application/JSON; charset=utf-8"), BATCH_JSON);
    ck_assert_int_eq(batch_api_format("application/yaml"), BATCH_YAML);
    ck_assert_int_eq(batch_api_format("application/x-yaml"), BATCH_YAML);
    ck_assert_int_eq(batch_api_format("text/yaml;charset=utf-8"), BATCH_YAML);
    ck_assert_int_eq(batch_api_format("application/x-www-form-urlencoded"), BATCH_AUTO);
    ck_assert_int_eq(batch_api_format("application/jsonx"), BATCH_AUTO);
    ck_assert_int_eq(batch_api_format(NULL), BATCH_AUTO);
}
END_TEST

/* ---- rows ---- */

START_TEST(steps_issue_mark_done_and_finish)
{
    struct jerr err = {0};
    char text[4096] = "batch: \"t-steps\"\nrows:\n";
    char serials[256];
    bool existing;
    size_t np;
    yaml_row(text, sizeof(text), "r1", "st-p1", "A", "1990-01-02", "st-c1", "mynumber", "both");
    yaml_row(text, sizeof(text), "r2", "st-p2", "B", "1990-13-02", "st-c2", "mynumber", "auth");
    yaml_row(text, sizeof(text), "r3", "st-p1", "A", "1990-01-02", "st-c3", "mynumber", "auth");
    struct batch_rec rec = record(&fix, text, &existing, &np);

    struct batch_exec_result res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_DONE);
    ck_assert_int_eq(res.row, 1);
    ck_assert_int_eq(res.issued[CA_SIGN], 1);
    ck_assert_int_eq(res.issued[CA_AUTH], 1);
    ck_assert_int_eq(res.superseded.count, 0);
    batch_exec_result_free(&res);
    /* the row's serials are the card's certificates, marked in the issuance's transaction */
    struct batch_row_rec r1 = row_of(&fix, rec.id, 1);
    ck_assert_int_eq(r1.state, BATCH_ROW_DONE);
    serials_on(&fix, "st-c1", serials, sizeof(serials));
    ck_assert_str_eq(r1.serials, serials);
    ck_assert_int_eq(strlen(r1.serials), 2 * 32 + 1);
    ck_assert_str_eq(r1.error_code, "");
    ck_assert_int_gt(r1.finished_at, 0);
    struct person p;
    ck_assert_int_eq(store_person_get(fix.st, "st-p1", &p, &err), 0);
    ck_assert_str_eq(p.name, "A");

    /* row 2 was refused at submission: the next step takes row 3 (same person, 2nd card) */
    res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_DONE);
    ck_assert_int_eq(res.row, 3);
    ck_assert_int_eq(res.issued[CA_SIGN], 0);
    ck_assert_int_eq(res.issued[CA_AUTH], 1);
    batch_exec_result_free(&res);
    ck_assert_int_eq(certs_on(&fix, "st-c3"), 1);

    res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_FINISHED);
    ck_assert(res.batch.finished);
    ck_assert_int_eq(res.batch.done_rows, 2);
    ck_assert_int_eq(res.batch.failed_rows, 1);
    ck_assert_int_gt(res.batch.finished_at, 0);
    batch_exec_result_free(&res);
    res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_IDLE);
    batch_exec_result_free(&res);

    /* the finish is audited under the batch id, with counts only */
    struct audit_entry last;
    char target[32];
    snprintf(target, sizeof(target), "%lld", (long long)rec.id);
    memset(&last, 0, sizeof(last));
    ck_assert_int_eq(store_audit_foreach_target(fix.st, target, audit_last, &last, &err), 0);
    ck_assert_str_eq(last.action, "batch.finish");
    ck_assert_str_eq(last.actor, "clerk");
    ck_assert_str_eq(last.detail, "key=t-steps total=3 done=2 failed=1");

    int64_t done, failed, pending;
    ck_assert_int_eq(store_batch_row_totals(fix.st, &done, &failed, &pending, &err), 0);
    ck_assert_int_ge(done, 2);
    ck_assert_int_ge(failed, 1);

    /* unknown batch */
    jerr_clear(&err);
    ck_assert_int_eq(batch_exec_step(fix.pki, fix.st, 999999, &res, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "batch_id");
}
END_TEST

START_TEST(rerun_after_commit_issues_nothing)
{
    struct jerr err = {0};
    char *request = NULL;
    struct batch_rec rec = fx_batch(&fix, "t-rerun", "rr", 1, "auth");
    struct batch_row_rec pending;
    ck_assert_int_eq(store_batch_next_pending(fix.st, rec.id, &pending, &request, &err), 0);
    ck_assert_int_eq(pending.row, 1);

    struct batch_exec_result res;
    ck_assert_int_eq(batch_exec_row(fix.pki, fix.st, &rec, &pending, request, &res, &err), 0);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_DONE);
    batch_exec_result_free(&res);
    struct batch_row_rec done = row_of(&fix, rec.id, 1);
    ck_assert_int_eq(certs_on(&fix, "rr-c1"), 1);
    char image[PATH_MAX];
    snprintf(image, sizeof(image), "%s/inst/cards/t-rerun/rr-c1.card", dir);
    size_t image_len = 0;
    unsigned char *image_before = slurp(image, &image_len);

    /* The same row again, as a second job that had read it pending before the commit. */
    ck_assert_int_eq(batch_exec_row(fix.pki, fix.st, &rec, &pending, request, &res, &err), 0);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_SKIPPED);
    ck_assert_int_eq(res.issued[CA_AUTH], 0);
    batch_exec_result_free(&res);
    ck_assert_int_eq(certs_on(&fix, "rr-c1"), 1); /* nothing issued twice */
    /* …and the image of the run that did the row is the one on disk, byte for byte */
    size_t image_len_after = 0;
    unsigned char *image_after = slurp(image, &image_len_after);
    ck_assert(image_len_after == image_len && memcmp(image_before, image_after, image_len) == 0);
    free(image_before);
    free(image_after);
    struct batch_row_rec after = row_of(&fix, rec.id, 1);
    ck_assert_int_eq(after.state, BATCH_ROW_DONE);
    ck_assert_str_eq(after.serials, done.serials);
    struct batch_rec b;
    ck_assert_int_eq(store_batch_get(fix.st, rec.id, &b, &err), 0);
    ck_assert_int_eq(b.done_rows, 1); /* counted once */
    ck_assert_int_eq(b.failed_rows, 0);
    /* and the request (personal data) is gone once the row is done */
    jerr_clear(&err);
    char *again = NULL;
    ck_assert_int_eq(store_batch_next_pending(fix.st, rec.id, &pending, &again, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    free(request);
}
END_TEST

START_TEST(hook_rolls_the_issuance_back_when_the_row_is_no_longer_pending)
{
    struct jerr err = {0};
    char *request = NULL;
    bool changed = false;
    struct batch_rec rec = fx_batch(&fix, "t-hook", "hk", 1, "both");
    struct batch_row_rec pending;
    ck_assert_int_eq(store_batch_next_pending(fix.st, rec.id, &pending, &request, &err), 0);

    /* Someone finishes the row between our read and our commit. */
    struct batch_row_rec other;
    memset(&other, 0, sizeof(other));
    other.state = BATCH_ROW_FAILED;
    snprintf(other.error_code, sizeof(other.error_code), "refused");
    ck_assert_int_eq(store_batch_row_finish(fix.st, rec.id, 1, &other, &changed, &err), 0);
    ck_assert(changed);
    /* finishing it twice changes nothing */
    ck_assert_int_eq(store_batch_row_finish(fix.st, rec.id, 1, &other, &changed, &err), 0);
    ck_assert(!changed);

    struct batch_exec_result res;
    ck_assert_int_eq(batch_exec_row(fix.pki, fix.st, &rec, &pending, request, &res, &err), 0);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_SKIPPED);
    batch_exec_result_free(&res);
    /* the certificates were signed, then rolled back with the mark: none is in the registry */
    ck_assert_int_eq(certs_on(&fix, "hk-c1"), 0);
    struct batch_row_rec r = row_of(&fix, rec.id, 1);
    ck_assert_int_eq(r.state, BATCH_ROW_FAILED);
    ck_assert_str_eq(r.serials, "");
    struct batch_rec b;
    ck_assert_int_eq(store_batch_get(fix.st, rec.id, &b, &err), 0);
    ck_assert_int_eq(b.done_rows, 0);
    ck_assert_int_eq(b.failed_rows, 1);
    free(request);
}
END_TEST

START_TEST(pending_rows_resume_after_a_restart_exactly_once)
{
    struct jerr err = {0};
    struct batch_rec rec = fx_batch(&fix, "t-resume", "rs", 3, "auth");
    struct batch_exec_result res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_DONE);
    batch_exec_result_free(&res);
    /* A crash inside row 2, after its person and card were registered, before the issuance
     * committed: those two events are there, the row is pending. */
    add_person(&fix, "rs-p2", "B", "1990-01-02");
    add_card(&fix, "rs-c2", "rs-p2");
    fx_close(&fix);

    /* The restart: a new process reads the running batches and goes on. */
    fx_open(&fix);
    struct running_ids running = {.n = 0};
    ck_assert_int_eq(store_batches_running(fix.st, collect, &running, &err), 0);
    bool listed = false;
    for (int i = 0; i < running.n; i++)
        listed = listed || running.ids[i] == rec.id;
    ck_assert(listed);
    int rows = 0;
    for (;;) {
        res = step(&fix, rec.id);
        enum batch_exec_outcome o = res.outcome;
        batch_exec_result_free(&res);
        if (o == BATCH_EXEC_FINISHED)
            break;
        ck_assert_int_eq(o, BATCH_EXEC_ROW_DONE);
        ck_assert_int_lt(++rows, 3);
    }
    ck_assert_int_eq(rows, 2);
    ck_assert_int_eq(certs_on(&fix, "rs-c1"), 1);
    ck_assert_int_eq(certs_on(&fix, "rs-c2"), 1);
    ck_assert_int_eq(certs_on(&fix, "rs-c3"), 1);
    struct batch_rec b;
    ck_assert_int_eq(store_batch_get(fix.st, rec.id, &b, &err), 0);
    ck_assert(b.finished);
    ck_assert_int_eq(b.done_rows, 3);
    running.n = 0;
    ck_assert_int_eq(store_batches_running(fix.st, collect, &running, &err), 0);
    for (int i = 0; i < running.n; i++)
        ck_assert_int_ne(running.ids[i], rec.id);
}
END_TEST

START_TEST(person_with_other_facts_fails_the_row)
{
    struct jerr err = {0};
    char text[4096] = "batch: \"t-facts\"\nrows:\n";
    bool existing;
    size_t np;
    /* registered before with another name and birth date */
    add_person(&fix, "pf-p1", "Old Name", "1980-05-05");

    yaml_row(text, sizeof(text), "r1", "pf-p1", "New Name", "1990-01-02", "pf-c1", "mynumber",
             "auth");
    struct batch_rec rec = record(&fix, text, &existing, &np);
    struct batch_exec_result res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_FAILED);
    ck_assert_int_eq(res.row, 1);
    ck_assert_str_eq(res.internal, "");
    batch_exec_result_free(&res);
    struct batch_row_rec r = row_of(&fix, rec.id, 1);
    ck_assert_int_eq(r.state, BATCH_ROW_FAILED);
    ck_assert_str_eq(r.error_code, "refused");
    ck_assert_str_eq(r.error_field, "person");
    ck_assert_ptr_nonnull(strstr(r.error_message, "pf-p1 is registered with other basic facts "
                                                  "(name, birth_date)"));
    /* which facts differ, never their values */
    ck_assert_ptr_null(strstr(r.error_message, "Name"));
    ck_assert_ptr_null(strstr(r.error_message, "1980"));
    ck_assert_str_eq(r.serials, "");
    /* nothing else happened: the person unchanged, no card, no certificate */
    struct person now;
    ck_assert_int_eq(store_person_get(fix.st, "pf-p1", &now, &err), 0);
    ck_assert_str_eq(now.name, "Old Name");
    struct card c;
    ck_assert_int_eq(store_card_get(fix.st, "pf-c1", &c, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_int_eq(certs_on(&fix, "pf-c1"), 0);
}
END_TEST

START_TEST(existing_person_and_card_are_used_other_owners_card_fails)
{
    char text[4096] = "batch: \"t-owner\"\nrows:\n";
    bool existing;
    size_t np;
    add_person(&fix, "ow-p1", "A", "1990-01-02");
    add_person(&fix, "ow-p9", "A", "1990-01-02");
    add_card(&fix, "ow-c1", "ow-p1");
    add_card(&fix, "ow-c9", "ow-p9");

    yaml_row(text, sizeof(text), "mine", "ow-p1", "A", "1990-01-02", "ow-c1", "mynumber", "auth");
    yaml_row(text, sizeof(text), "theirs", "ow-p1", "A", "1990-01-02", "ow-c9", "mynumber", "auth");
    yaml_row(text, sizeof(text), "juki", "ow-p1", "A", "1990-01-02", "ow-cj", "juki", "auth");
    struct batch_rec rec = record(&fix, text, &existing, &np);
    for (int i = 0; i < 3; i++) {
        struct batch_exec_result res = step(&fix, rec.id);
        ck_assert_int_eq(res.outcome, i == 0 ? BATCH_EXEC_ROW_DONE : BATCH_EXEC_ROW_FAILED);
        batch_exec_result_free(&res);
    }
    ck_assert_int_eq(row_of(&fix, rec.id, 1).state, BATCH_ROW_DONE);
    ck_assert_int_eq(certs_on(&fix, "ow-c1"), 1);
    struct batch_row_rec theirs = row_of(&fix, rec.id, 2);
    ck_assert_str_eq(theirs.key, "theirs");
    ck_assert_str_eq(theirs.error_code, "refused");
    ck_assert_str_eq(theirs.error_field, "card");
    ck_assert_str_eq(theirs.error_message, "card ow-c9 is registered to another person");
    ck_assert_int_eq(certs_on(&fix, "ow-c9"), 0);
    /* a lifecycle refusal is the row's error as the engine gave it */
    struct batch_row_rec juki = row_of(&fix, rec.id, 3);
    ck_assert_str_eq(juki.error_code, "refused");
    ck_assert_str_eq(juki.error_field, "card");
    ck_assert_ptr_nonnull(strstr(juki.error_message, "Juki"));
    ck_assert_int_eq(certs_on(&fix, "ow-cj"), 0);
}
END_TEST

/* ---- the runner ---- */

struct run_watch {
    struct batchrun *br;
    struct event *timer;
    int max_seen;
    int ticks;
};

static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run_watch *w = arg;
    (void)fd;
    (void)what;
    int n = batchrun_inflight(w->br);
    if (n > w->max_seen)
        w->max_seen = n;
    if ((batchrun_active(w->br) == 0 && n == 0) || ++w->ticks > 60000)
        event_base_loopbreak(event_get_base(w->timer));
}

static struct store *open_store(void *arg, struct jerr *err)
{
    return pki_store_open(arg, err);
}

/* A batch runner with its own event loop and a pool of workers, and the watch that ends the
 * loop once no batch is active and no job in flight. */
struct runner {
    struct event_base *base;
    struct workers *w;
    struct workers_loop *loop;
    struct batchrun *br;
    struct run_watch watch;
};

static void runner_start(struct runner *run, struct fixture *fx, int workers)
{
    struct jerr err = {0};
    memset(run, 0, sizeof(*run));
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    run->base = event_base_new();
    ck_assert_ptr_nonnull(run->base);
    struct workers_store_ops ops = {open_store, store_close, fx->pki};
    run->w = workers_new(workers, 0, &ops, &err);
    ck_assert_ptr_nonnull(run->w);
    run->loop = workers_attach(run->w, run->base, &err);
    ck_assert_ptr_nonnull(run->loop);
    run->br = batchrun_new(fx->pki, run->w, &err);
    ck_assert_ptr_nonnull(run->br);
    ck_assert_int_eq(batchrun_start(run->br, run->base, run->loop, &err), 0);
    run->watch.br = run->br;
}

/* Runs the loop until the watch breaks it (every batch finished, or 60000 ticks). */
static void runner_wait(struct runner *run)
{
    run->watch.timer = event_new(run->base, -1, EV_PERSIST, watch_cb, &run->watch);
    struct timeval ms = {0, 1000};
    event_add(run->watch.timer, &ms);
    event_base_dispatch(run->base);
}

static void runner_free(struct runner *run)
{
    workers_shutdown(run->w);
    workers_detach(run->loop);
    if (run->watch.timer != NULL)
        event_free(run->watch.timer);
    batchrun_free(run->br);
    event_base_free(run->base);
    workers_free(run->w);
}

START_TEST(runner_takes_batches_to_the_end_within_its_job_limit)
{
    struct jerr err = {0};
    /* a: recorded before the start (as if by an earlier run): found by the resume job */
    struct batch_rec ra = fx_batch(&fix, "t-run-a", "ra", 2, "auth");

    struct runner run;
    runner_start(&run, &fix, 2);
    struct batchrun *br = run.br;
    /* b: submitted while running */
    struct batch_rec rb = fx_batch(&fix, "t-run-b", "rb", 2, "auth");
    batchrun_kick(br, rb.id);

    runner_wait(&run); /* until the watch sees both batches finished */
    ck_assert_int_eq(batchrun_active(br), 0);
    ck_assert_int_eq(batchrun_inflight(br), 0);
    ck_assert_int_eq(run.watch.max_seen, BATCHRUN_MAX_JOBS(2)); /* one worker left for OCSP */

    struct batch_rec got;
    ck_assert_int_eq(store_batch_get(fix.st, ra.id, &got, &err), 0);
    ck_assert(got.finished);
    ck_assert_int_eq(got.done_rows, 2);
    ck_assert_int_eq(store_batch_get(fix.st, rb.id, &got, &err), 0);
    ck_assert(got.finished);
    ck_assert_int_eq(got.done_rows, 2);
    ck_assert_int_eq(certs_on(&fix, "ra-c1") + certs_on(&fix, "ra-c2") + certs_on(&fix, "rb-c1") +
                         certs_on(&fix, "rb-c2"),
                     4);

    /* after stop nothing is queued: a kicked batch waits for the next start */
    batchrun_stop(br);
    struct batch_rec rc = fx_batch(&fix, "t-run-c", "rc", 1, "auth");
    batchrun_kick(br, rc.id);
    ck_assert_int_eq(batchrun_inflight(br), 0);
    ck_assert_int_eq(batchrun_active(br), 1);

    runner_free(&run);
    ck_assert_int_eq(certs_on(&fix, "rc-c1"), 0);
}
END_TEST

/* Claims (DESIGN §8: several steps on one batch): a step takes a row no other step holds;
 * with every pending row held it waits (nothing issued, the batch not finished); a claim
 * lapses after BATCH_EXEC_CLAIM_S and can be given back. */
START_TEST(steps_take_unclaimed_rows_and_wait_for_claimed_ones)
{
    struct jerr err = {0};
    char *request = NULL;
    struct batch_rec rec = fx_batch(&fix, "t-claims", "cl", 2, "auth");
    time_t t0 = jclock_now();
    jclock_set(t0);

    /* Another step holds row 1: this one takes row 2. */
    struct batch_row_rec held;
    ck_assert_int_eq(
        store_batch_claim_next(fix.st, rec.id, t0, t0 + BATCH_EXEC_CLAIM_S, &held, &request, &err),
        0);
    free(request);
    ck_assert_int_eq(held.row, 1);
    struct batch_exec_result res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_DONE);
    ck_assert_int_eq(res.row, 2);
    batch_exec_result_free(&res);

    /* Only row 1 is pending, and it is held: wait — nothing issued, not finished. */
    res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_WAITING);
    ck_assert_int_eq(res.row, 0);
    ck_assert_int_eq(res.issued[CA_AUTH], 0);
    batch_exec_result_free(&res);
    ck_assert_int_eq(certs_on(&fix, "cl-c1"), 0);
    struct batch_rec b;
    ck_assert_int_eq(store_batch_get(fix.st, rec.id, &b, &err), 0);
    ck_assert(!b.finished);
    ck_assert_int_eq(b.done_rows, 1);

    /* Still held at the claim's last second; taken over once it lapsed. */
    jclock_set(t0 + BATCH_EXEC_CLAIM_S);
    res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_WAITING);
    batch_exec_result_free(&res);
    jclock_set(t0 + BATCH_EXEC_CLAIM_S + 1);
    res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_DONE);
    ck_assert_int_eq(res.row, 1);
    batch_exec_result_free(&res);
    ck_assert_int_eq(certs_on(&fix, "cl-c1"), 1);
    res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_FINISHED);
    ck_assert_int_eq(res.batch.done_rows, 2);
    batch_exec_result_free(&res);
    jclock_set(0);
}
END_TEST

/* With a pool of 3 workers the runner works on one batch with 2 jobs at once (one worker
 * left for OCSP), each row exactly once; a claim left by a process that died (kill -9) is
 * given back at the start instead of holding its row for BATCH_EXEC_CLAIM_S. */
START_TEST(runner_runs_rows_of_one_batch_in_parallel)
{
    struct jerr err = {0};
    char *request = NULL;
    enum { ROWS = 8 };
    /* One person per row: a second My Number card would return the first (DESIGN §4). */
    struct batch_rec rec = fx_batch(&fix, "t-par", "pa", ROWS, "auth");
    struct batch_row_rec dead;
    int64_t now = jclock_now();
    ck_assert_int_eq(store_batch_claim_next(fix.st, rec.id, now, now + 3600, &dead, &request, &err),
                     0);
    free(request);

    struct runner run;
    runner_start(&run, &fix, 3);
    struct batchrun *br = run.br;
    /* Kicked as a submission would: still no job before the resume gave the claim back (else
     * row 1 would wait an hour and the watch would give up). */
    batchrun_kick(br, rec.id);

    runner_wait(&run);
    ck_assert_int_eq(batchrun_active(br), 0);
    ck_assert_int_eq(batchrun_inflight(br), 0);
    ck_assert_int_eq(run.watch.max_seen, BATCHRUN_MAX_JOBS(3));
    ck_assert_int_eq(BATCHRUN_MAX_JOBS(3), 2);

    struct batch_rec got;
    ck_assert_int_eq(store_batch_get(fix.st, rec.id, &got, &err), 0);
    ck_assert(got.finished);
    ck_assert_int_eq(got.done_rows, ROWS);
    ck_assert_int_eq(got.failed_rows, 0);
    for (int i = 1; i <= ROWS; i++) {
        char card[16];
        snprintf(card, sizeof(card), "pa-c%d", i);
        ck_assert_msg(certs_on(&fix, card) == 1, "%s: %zu certificates", card, certs_on(&fix, card));
        struct batch_row_rec r = row_of(&fix, rec.id, i);
        ck_assert_int_eq(r.state, BATCH_ROW_DONE);
        ck_assert_int_eq(strlen(r.serials), 32);
    }
    /* Persons shared by two rows were registered once. */
    struct person p;
    ck_assert_int_eq(store_person_get(fix.st, "pa-p4", &p, &err), 0);

    batchrun_stop(br);
    runner_free(&run);
}
END_TEST

/* ---- card images and PIN letters ---- */

START_TEST(generated_passwords_leave_only_in_a_sealed_pin_letter)
{
    char text[4096] = "batch: \"t-letter\"\nrows:\n";
    char path[PATH_MAX], letter[PATH_MAX], sign[32], auth[32], value[80];
    struct stat sb;
    bool existing;
    size_t np;
    yaml_row(text, sizeof(text), "r1", "lt-p1", "A", "1990-01-02", "lt-c1", "mynumber", "both");
    yaml_row(text, sizeof(text), "r2", "lt-p2", "B", "1990-01-03", "lt-c2", "mynumber", "auth");
    snprintf(text + strlen(text), sizeof(text) - strlen(text),
             "    passwords: {sign: \"QWERTY7890\", auth: \"5831\"}\n");
    struct batch_rec rec = record(&fix, text, &existing, &np);
    for (int i = 0; i < 2; i++) {
        struct batch_exec_result res = step(&fix, rec.id);
        ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_DONE);
        batch_exec_result_free(&res);
    }

    /* Row 1 had no passwords: generated, and sent only in the letter, sealed to the recipient. */
    snprintf(path, sizeof(path), "%s/inst/cards/t-letter/lt-c1.card", dir);
    snprintf(letter, sizeof(letter), "%s/inst/cards/t-letter/lt-c1.pin.p7m", dir);
    ck_assert_int_eq(stat(letter, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    char *plain = letter_open(letter);
    letter_value(plain, "card", value, sizeof(value));
    ck_assert_str_eq(value, "lt-c1");
    letter_value(plain, "batch", value, sizeof(value));
    ck_assert_str_eq(value, "t-letter");
    letter_value(plain, "row", value, sizeof(value));
    ck_assert_str_eq(value, "r1");
    letter_value(plain, "sign", sign, sizeof(sign));
    letter_value(plain, "auth", auth, sizeof(auth));
    ck_assert_int_eq(strlen(sign), CARDISSUE_SIGN_PASSWORD_GENERATED);
    ck_assert_int_eq(strlen(auth), 4);
    ck_assert(image_opens(path, CA_SIGN, sign));
    ck_assert(image_opens(path, CA_AUTH, auth));
    /* the letter's bytes do not hold the passwords in clear */
    size_t len = 0;
    unsigned char *der = slurp(letter, &len);
    for (size_t i = 0; i + strlen(sign) <= len; i++)
        ck_assert(memcmp(der + i, sign, strlen(sign)) != 0);
    free(der);
    free(plain);

    /* Row 2 carried the holder's passwords: they open its image, and no letter is written. */
    snprintf(path, sizeof(path), "%s/inst/cards/t-letter/lt-c2.card", dir);
    ck_assert(image_opens(path, CA_AUTH, "5831"));
    snprintf(letter, sizeof(letter), "%s/inst/cards/t-letter/lt-c2.pin.p7m", dir);
    ck_assert(!fsutil_exists(letter));
    /* Nothing else in the directory: no clear-text mailer, no temp file left. */
    snprintf(path, sizeof(path), "%s/inst/cards/t-letter", dir);
    ck_assert_int_eq(files_containing(path, ".passwords"), 0);
    ck_assert_int_eq(files_containing(path, ".tmp-"), 0);
    ck_assert_int_eq(files_containing(path, "lt-c"), 3);
}
END_TEST

START_TEST(row_whose_image_cannot_be_written_fails_and_issues_nothing)
{
    char path[PATH_MAX];
    /* The batch's image directory cannot be made: a file stands in its place. */
    snprintf(path, sizeof(path), "%s/inst/cards", dir);
    struct jerr err = {0};
    ck_assert_int_eq(fsutil_mkdirs(path, 0700, &err), 0);
    snprintf(path, sizeof(path), "%s/inst/cards/t-nodisk", dir);
    ck_assert_int_eq(testutil_write_file(path, "x", 1), 0);
    struct batch_rec rec = fx_batch(&fix, "t-nodisk", "nd", 1, "both");

    struct batch_exec_result res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_FAILED);
    ck_assert_int_eq(res.issued[CA_SIGN] + res.issued[CA_AUTH], 0);
    ck_assert_ptr_nonnull(strstr(res.internal, "t-nodisk"));
    batch_exec_result_free(&res);
    struct batch_row_rec r = row_of(&fix, rec.id, 1);
    ck_assert_int_eq(r.state, BATCH_ROW_FAILED);
    ck_assert_str_eq(r.error_code, "io");
    ck_assert_str_eq(r.error_field, "card_image");
    ck_assert_ptr_nonnull(strstr(r.error_message, "nothing was issued"));
    /* the issuance never committed: no certificate exists without its image */
    ck_assert_int_eq(certs_on(&fix, "nd-c1"), 0);
}
END_TEST

START_TEST(row_without_passwords_needs_a_recipient)
{
    struct jerr err = {0};
    char yaml[4096];
    struct batch_rec rec = fx_batch(&fix, "t-norecip", "nr", 1, "auth");
    /* The same instance run without batch.pin_letter_recipient (a batch recorded before the
     * recipient was removed from the configuration). */
    snprintf(yaml, sizeof(yaml), "data_dir: %s/inst\n", dir);
    struct jpki_config *bare = config_load_string("bare.yaml", yaml, strlen(yaml), NULL, 0, &err);
    ck_assert_msg(bare != NULL, "%s", err.msg);
    struct pki *pki = pki_open(bare, PASS, &err);
    ck_assert_msg(pki != NULL, "%s", err.msg);
    struct batch_exec_result res;
    ck_assert_msg(batch_exec_step(pki, fix.st, rec.id, &res, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_FAILED);
    batch_exec_result_free(&res);
    struct batch_row_rec r = row_of(&fix, rec.id, 1);
    ck_assert_str_eq(r.error_code, "refused");
    ck_assert_str_eq(r.error_field, "passwords");
    ck_assert_ptr_nonnull(strstr(r.error_message, "batch.pin_letter_recipient"));
    /* refused before any key was made or any person registered */
    ck_assert_int_eq(certs_on(&fix, "nr-c1"), 0);
    struct person p;
    jerr_clear(&err);
    ck_assert_int_eq(store_person_get(fix.st, "nr-p1", &p, &err), -1);
    pki_free(pki);
    config_free(bare);
}
END_TEST

START_TEST(row_whose_card_id_names_no_file_fails)
{
    struct jerr err = {0};
    char text[4096] = "batch: \"t-dot\"\nrows:\n";
    struct batch b = {0};
    struct batch_problem *problems = NULL;
    struct batch_rec rec;
    bool existing;
    size_t np = 0;
    /* A row recorded before ids were checked for it at submission (the parser refuses it now):
     * its card id ".x" names no file. */
    yaml_row(text, sizeof(text), "r1", "dt-p1", "A", "1990-01-02", "dt-c1", "mynumber", "auth");
    ck_assert_int_eq(batch_parse(text, strlen(text), BATCH_AUTO, &b, &problems, &np, &err), 0);
    snprintf(b.rows[0].card.id, sizeof(b.rows[0].card.id), ".x");
    struct lifecycle_ctx ctx = clerk(&fix);
    ck_assert_int_eq(batch_exec_submit(&ctx, &b, problems, np, &rec, &existing, &err), 0);
    batch_free(&b);
    batch_problems_free(problems);

    struct batch_exec_result res = step(&fix, rec.id);
    ck_assert_int_eq(res.outcome, BATCH_EXEC_ROW_FAILED);
    batch_exec_result_free(&res);
    struct batch_row_rec r = row_of(&fix, rec.id, 1);
    ck_assert_str_eq(r.error_field, "card_id");
    ck_assert_int_eq(certs_on(&fix, ".x"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batchrun");
    TCase *tc = tcase_create("batches");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, instance_setup, instance_teardown);
    tcase_add_checked_fixture(tc, fix_setup, fix_teardown);
    tcase_add_test(tc, create_records_good_rows_pending_and_problems_failed);
    tcase_add_test(tc, resubmission_finds_the_batch_and_other_rows_conflict);
    tcase_add_test(tc, steps_issue_mark_done_and_finish);
    tcase_add_test(tc, rerun_after_commit_issues_nothing);
    tcase_add_test(tc, hook_rolls_the_issuance_back_when_the_row_is_no_longer_pending);
    tcase_add_test(tc, pending_rows_resume_after_a_restart_exactly_once);
    tcase_add_test(tc, person_with_other_facts_fails_the_row);
    tcase_add_test(tc, existing_person_and_card_are_used_other_owners_card_fails);
    tcase_add_test(tc, steps_take_unclaimed_rows_and_wait_for_claimed_ones);
    tcase_add_test(tc, runner_takes_batches_to_the_end_within_its_job_limit);
    tcase_add_test(tc, runner_runs_rows_of_one_batch_in_parallel);
    tcase_add_test(tc, generated_passwords_leave_only_in_a_sealed_pin_letter);
    tcase_add_test(tc, row_whose_image_cannot_be_written_fails_and_issues_nothing);
    tcase_add_test(tc, row_whose_card_id_names_no_file_fails);
    tcase_add_test(tc, row_without_passwords_needs_a_recipient);
    suite_add_tcase(s, tc);
    TCase *text = tcase_create("text"); /* no instance needed */
    tcase_add_test(text, digest_is_of_the_rows_not_of_the_text_nor_the_passwords);
    tcase_add_test(text, content_types_choose_the_format);
    suite_add_tcase(s, text);
    return testutil_run(s);
}
