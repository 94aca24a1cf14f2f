/*
 * ca/operator.c against a real instance: who an operator is (the configuration, the first
 * administrator, the registry), and the writes — create, disable, rotate — each one transaction
 * with the caller's before_commit row: a refusal or a failed hook leaves neither the change nor
 * a row.
 */
#include <stdio.h>
#include <string.h>

#include "ca/operator.h"
#include "testinst.h"

static struct testutil_instance inst;
static struct config_operator configured[] = {{"filed", ROLE_OPERATOR, NULL}};

#define DIGEST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIGEST_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DIGEST_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define DIGEST_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

static void instance_setup(void)
{
    testutil_instance_create(&inst);
    /* One operator of the configuration file: looked up, never changed here. */
    inst.cfg->operators = configured;
    inst.cfg->operator_count = 1;
}

static void instance_teardown(void)
{
    inst.cfg->operators = NULL;
    inst.cfg->operator_count = 0;
    testutil_instance_destroy(&inst);
}

/* The caller's hook: appends its own row ("api.call"), or fails when `fail`. */
struct hook {
    int calls;
    bool fail;
};

static int hook_row(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct hook *h = arg;
    (void)result;
    h->calls++;
    if (h->fail)
        return jerr_set(err, JERR_UNAVAILABLE, NULL, "hook refused");
    struct audit_entry e = {.at = 1};
    snprintf(e.actor, sizeof(e.actor), "tester");
    snprintf(e.action, sizeof(e.action), "api.call");
    snprintf(e.target, sizeof(e.target), "-");
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    snprintf(e.detail, sizeof(e.detail), "-");
    return store_audit_append(st, &e, err);
}

static int64_t audit_rows(struct testutil_fixture *fx)
{
    struct jerr err = {0};
    int64_t rows = 0;
    unsigned char head[64];
    ck_assert_msg(store_audit_head(fx->st, &rows, head, &err) == 0, "%s", err.msg);
    return rows;
}

static struct operator_rec op_named(const char *name, enum operator_role role, const char *hex)
{
    struct operator_rec op;
    memset(&op, 0, sizeof(op));
    snprintf(op.name, sizeof(op.name), "%s", name);
    op.role = role;
    snprintf(op.token_sha256, sizeof(op.token_sha256), "%s", hex);
    return op;
}

START_TEST(create_is_one_transaction_with_the_callers_row)
{
    struct testutil_fixture fx;
    struct hook h = {0};
    struct jerr err = {0};
    struct operator_rec got;
    testutil_fx_open(&fx, &inst);
    fx.ctx.before_commit = hook_row;
    fx.ctx.before_commit_arg = &h;

    int64_t before = audit_rows(&fx);
    struct operator_rec op = op_named("clerk1", ROLE_BATCH, DIGEST_A);
    ck_assert_msg(operator_create(&fx.ctx, &op, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(h.calls, 1);
    ck_assert_int_eq(audit_rows(&fx), before + 1);
    ck_assert_int_eq(store_operator_get(fx.st, "clerk1", &got, &err), 0);
    ck_assert_str_eq(got.created_by, "tester"); /* the ctx's actor, whatever op said */
    ck_assert_int_eq(got.role, ROLE_BATCH);
    ck_assert_str_eq(got.token_sha256, DIGEST_A);

    /* Taken names: the first administrator's, the file's, one in the table. No hook, no row. */
    const char *taken[] = {OPERATOR_ADMIN_NAME, "filed", "clerk1"};
    for (size_t i = 0; i < 3; i++) {
        jerr_clear(&err);
        op = op_named(taken[i], ROLE_OPERATOR, DIGEST_B);
        ck_assert_int_eq(operator_create(&fx.ctx, &op, &err), -1);
        ck_assert_int_eq(err.code, JERR_CONFLICT);
        ck_assert_str_eq(err.field, "name");
    }
    ck_assert_int_eq(h.calls, 1);
    ck_assert_int_eq(audit_rows(&fx), before + 1);

    /* The hook fails: the operator is not recorded either. */
    jerr_clear(&err);
    h.fail = true;
    op = op_named("clerk2", ROLE_OPERATOR, DIGEST_C);
    ck_assert_int_eq(operator_create(&fx.ctx, &op, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    jerr_clear(&err);
    ck_assert_int_eq(store_operator_get(fx.st, "clerk2", &got, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_int_eq(audit_rows(&fx), before + 1);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(disable_and_rotate_refuse_what_they_may_not_change)
{
    struct testutil_fixture fx;
    struct hook h = {0};
    struct jerr err = {0};
    enum operator_role role;
    testutil_fx_open(&fx, &inst);
    struct operator_rec op = op_named("tester", ROLE_ADMIN, DIGEST_B);
    ck_assert_msg(operator_create(&fx.ctx, &op, &err) == 0, "%s", err.msg);
    fx.ctx.before_commit = hook_row;
    fx.ctx.before_commit_arg = &h;
    int64_t before = audit_rows(&fx);

    struct {
        const char *name;
        int code;
    } refused[] = {{"filed", JERR_CONFLICT}, {"tester", JERR_CONFLICT}, {"nobody", JERR_NOT_FOUND}};
    for (size_t i = 0; i < 3; i++) {
        jerr_clear(&err);
        ck_assert_int_eq(operator_disable(&fx.ctx, refused[i].name, &role, &err), -1);
        ck_assert_int_eq(err.code, refused[i].code);
        ck_assert_str_eq(err.field, "name");
        jerr_clear(&err);
        ck_assert_int_eq(operator_rotate_token(&fx.ctx, refused[i].name, DIGEST_C, &role, &err),
                         -1);
        ck_assert_int_eq(err.code, refused[i].code);
    }
    ck_assert_int_eq(h.calls, 0);
    ck_assert_int_eq(audit_rows(&fx), before);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(rotate_and_disable_write_with_the_callers_row)
{
    struct testutil_fixture fx;
    struct hook h = {0};
    struct jerr err = {0};
    struct operator_rec got;
    enum operator_role role;
    bool disabled;
    testutil_fx_open(&fx, &inst);
    struct operator_rec op = op_named("clerk3", ROLE_OPERATOR, DIGEST_D);
    ck_assert_msg(operator_create(&fx.ctx, &op, &err) == 0, "%s", err.msg);
    fx.ctx.before_commit = hook_row;
    fx.ctx.before_commit_arg = &h;
    int64_t before = audit_rows(&fx);

    /* A failed hook keeps the old token. */
    h.fail = true;
    ck_assert_int_eq(operator_rotate_token(&fx.ctx, "clerk3", DIGEST_E, &role, &err), -1);
    jerr_clear(&err);
    ck_assert_int_eq(store_operator_get(fx.st, "clerk3", &got, &err), 0);
    ck_assert_str_eq(got.token_sha256, DIGEST_D);
    ck_assert_int_eq(audit_rows(&fx), before);

    h.fail = false;
    ck_assert_msg(operator_rotate_token(&fx.ctx, "clerk3", DIGEST_E, &role, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(role, ROLE_OPERATOR);
    ck_assert_int_eq(store_operator_get(fx.st, "clerk3", &got, &err), 0);
    ck_assert_str_eq(got.token_sha256, DIGEST_E);
    ck_assert_int_eq(audit_rows(&fx), before + 1);

    ck_assert_msg(operator_disable(&fx.ctx, "clerk3", &role, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(store_operator_get(fx.st, "clerk3", &got, &err), 0);
    ck_assert(got.disabled);
    ck_assert_int_eq(audit_rows(&fx), before + 2);
    /* Disabled already: nothing written, the hook not run (the caller audits on its own). */
    ck_assert_int_eq(operator_disable(&fx.ctx, "clerk3", &role, &err), 0);
    ck_assert_int_eq(h.calls, 3);
    ck_assert_int_eq(audit_rows(&fx), before + 2);
    /* A new token for a disabled operator would do nothing. */
    ck_assert_int_eq(operator_rotate_token(&fx.ctx, "clerk3", DIGEST_B, &role, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    jerr_clear(&err);

    /* The first administrator's token is the registry setting. */
    ck_assert_msg(operator_rotate_token(&fx.ctx, OPERATOR_ADMIN_NAME, DIGEST_B, &role, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(role, ROLE_ADMIN);
    char hex[80];
    ck_assert_int_eq(store_meta_get(fx.st, OPERATOR_ADMIN_TOKEN_KEY, hex, sizeof(hex), &err), 0);
    ck_assert_str_eq(hex, DIGEST_B);
    ck_assert_int_eq(
        operator_lookup(pki_config(fx.pki), fx.st, OPERATOR_ADMIN_NAME, &role, &disabled, &err), 0);
    ck_assert(!disabled);
    ck_assert_msg(operator_disable(&fx.ctx, OPERATOR_ADMIN_NAME, &role, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(store_meta_get(fx.st, OPERATOR_ADMIN_TOKEN_KEY, hex, sizeof(hex), &err), 0);
    ck_assert_str_eq(hex, OPERATOR_ADMIN_DISABLED);
    ck_assert_int_eq(
        operator_lookup(pki_config(fx.pki), fx.st, OPERATOR_ADMIN_NAME, &role, &disabled, &err), 0);
    ck_assert(disabled);
    ck_assert_int_eq(audit_rows(&fx), before + 4);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(role_masks)
{
    ck_assert(operator_role_is_allowed(ROLE_OPERATOR, OPERATOR_ROLES_LIFECYCLE));
    ck_assert(!operator_role_is_allowed(ROLE_BATCH, OPERATOR_ROLES_LIFECYCLE));
    ck_assert(operator_role_is_allowed(ROLE_BATCH, OPERATOR_ROLES_BATCH));
    ck_assert(operator_role_is_allowed(ROLE_AUDITOR, OPERATOR_ROLES_ANY));
    ck_assert(!operator_role_is_allowed(ROLE_AUDITOR, OPERATOR_ROLES_BATCH));
    ck_assert(!operator_role_is_allowed((enum operator_role)99, OPERATOR_ROLES_ANY));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator");
    TCase *tc = tcase_create("registry");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, instance_setup, instance_teardown);
    tcase_add_test(tc, create_is_one_transaction_with_the_callers_row);
    tcase_add_test(tc, disable_and_rotate_refuse_what_they_may_not_change);
    tcase_add_test(tc, rotate_and_disable_write_with_the_callers_row);
    tcase_add_test(tc, role_masks);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
