/*
 * test_ctl: the pure parts of jpkictl — the command grammar against the real command table
 * (missing required options and arguments name what is missing, unknown and repeated options,
 * globals anywhere, --help skipping the checks), the progress bar's exact text, the batch
 * counts and summary, API errors in words, sanitizing of outside text, URL/token/path checks,
 * and the exit codes of a call that cannot reach the service.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "ctl/ctl.h"
#include "ctl/ctl_args.h"
#include "ctl/ctl_batch.h"
#include "ctl/ctl_cmds.h"
#include "ctl/ctl_http.h"
#include "ctl/ctl_ops.h"
#include "ctl/ctl_out.h"
#include "ctl/ctl_rp.h"
#include "ctl/ctl_window.h"
#include "testutil.h"

/* Finds the command of argv[1..] and parses the rest, as jpkictl's main does. */
static int parse_line(int argc, char **argv, struct ctl_args *args, struct jerr *err)
{
    int next = 1;
    const struct ctl_cmd *cmd;
    if (ctl_args_parse_globals(argc, argv, 1, args, &next, err) == -1)
        return -1;
    cmd = ctl_args_find(ctl_cmds, ctl_cmds_count, argc, argv, next, &next, err);
    if (cmd == NULL)
        return -1;
    return ctl_args_parse(cmd, argc, argv, next, args, err);
}

/* argv of "jpkictl" and the NULL-terminated words of `ap` (at most 30). Returns argc. */
static int words_argv(char *argv[32], va_list ap)
{
    int argc = 0;
    argv[argc++] = "jpkictl";
    for (char *w = va_arg(ap, char *); w != NULL && argc < 31; w = va_arg(ap, char *))
        argv[argc++] = w;
    argv[argc] = NULL;
    return argc;
}

/* parse_line over the NULL-terminated words after "jpkictl". */
static int parse_words(struct ctl_args *args, struct jerr *err, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, err);
    int argc = words_argv(argv, ap);
    va_end(ap);
    return parse_line(argc, argv, args, err);
}

#define PARSE(args, err, ...) parse_words((args), (err), __VA_ARGS__, (char *)NULL)

/* Parsing the words after "jpkictl" is refused with exactly the message `want`. */
static void parse_refused(const char *want, ...)
{
    struct ctl_args args;
    struct jerr err = {0};
    char *argv[32];
    va_list ap;
    va_start(ap, want);
    int argc = words_argv(argv, ap);
    va_end(ap);
    ck_assert_int_eq(parse_line(argc, argv, &args, &err), -1);
    ck_assert_str_eq(err.msg, want);
}

#define PARSE_REFUSED(want, ...) parse_refused((want), __VA_ARGS__, (char *)NULL)

/* ---- argument parsing ---- */

START_TEST(test_person_add_complete)
{
    struct ctl_args a;
    struct jerr err = {0};
    ck_assert_int_eq(PARSE(&a, &err, "person", "add", "--id", "p1", "--name=山田 花子", "--address",
                           "東京都", "--birth-date", "1990-01-02", "--gender", "female"),
                     0);
    ck_assert_ptr_nonnull(a.cmd);
    ck_assert_str_eq(a.cmd->group, "person");
    ck_assert_str_eq(a.cmd->name, "add");
    ck_assert_str_eq(ctl_args_get(&a, "id"), "p1");
    ck_assert_str_eq(ctl_args_get(&a, "name"), "山田 花子");
    ck_assert_str_eq(ctl_args_get(&a, "birth-date"), "1990-01-02");
    ck_assert_str_eq(ctl_args_get(&a, "gender"), "female");
    ck_assert_ptr_null(ctl_args_get(&a, "url"));
    ck_assert(!ctl_args_has(&a, "json"));
    ck_assert(!a.help);
    ck_assert_uint_eq(a.pos_count, 0);
}
END_TEST

START_TEST(test_missing_required_option_named)
{
    struct ctl_args a;
    struct jerr err = {0};
    ck_assert_int_eq(PARSE(&a, &err, "person", "add", "--id", "p1", "--address", "x",
                           "--birth-date", "1990-01-02", "--gender", "male"),
                     -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "option");
    ck_assert_str_eq(err.msg, "missing required option --name");

    PARSE_REFUSED("missing required option --certs", "card", "issue", "c1", "--out", "/tmp/x");

    PARSE_REFUSED("missing required option --reason", "cert", "revoke", "0A");

    /* optional: the issuer served by the service, the days 90 (docs/API.md) */
    jerr_clear(&err);
    ck_assert_int_eq(PARSE(&a, &err, "ocsp", "cert.pem"), 0);
    ck_assert_ptr_null(ctl_args_get(&a, "issuer"));
    ck_assert(!ctl_args_has(&a, "nonce"));
    ck_assert_int_eq(PARSE(&a, &err, "cert", "expiring"), 0);

    PARSE_REFUSED("missing required option --role", "operator", "add", "--name", "alice");

    PARSE_REFUSED("missing required option --expiry", "card", "add", "--id", "c1", "--person", "p1",
                  "--type", "mynumber");
}
END_TEST

START_TEST(test_positional_arguments)
{
    struct ctl_args a;
    struct jerr err = {0};
    ck_assert_int_eq(PARSE(&a, &err, "card", "hold"), -1);
    ck_assert_str_eq(err.field, "ARGS");
    ck_assert_str_eq(err.msg, "missing argument ID");

    jerr_clear(&err);
    ck_assert_int_eq(PARSE(&a, &err, "card", "hold", "c1", "c2"), -1);
    ck_assert_str_eq(err.field, "ARGS");
    ck_assert_str_eq(err.msg, "too many arguments (ID)");

    PARSE_REFUSED("too many arguments (none expected)", "person", "add", "extra", "--id", "p");

    PARSE_REFUSED("missing argument sign|auth", "crl", "fetch");

    jerr_clear(&err);
    ck_assert_int_eq(PARSE(&a, &err, "card", "hold", "c1"), 0);
    ck_assert_uint_eq(a.pos_count, 1);
    ck_assert_str_eq(a.pos[0], "c1");

    /* after "--" a leading dash is an argument, not an option */
    jerr_clear(&err);
    ck_assert_int_eq(PARSE(&a, &err, "card", "show", "--", "-c1"), 0);
    ck_assert_str_eq(a.pos[0], "-c1");
}
END_TEST

START_TEST(test_option_forms_and_refusals)
{
    struct ctl_args a;
    struct jerr err = {0};

    /* -o short form, flag, inline value */
    ck_assert_int_eq(
        PARSE(&a, &err, "crl", "fetch", "sign", "-o", "x.crl", "--list", "--partition=2"), 0);
    ck_assert_str_eq(ctl_args_get(&a, "out"), "x.crl");
    ck_assert_str_eq(ctl_args_get(&a, "list"), "");
    ck_assert(ctl_args_has(&a, "list"));
    ck_assert_str_eq(ctl_args_get(&a, "partition"), "2");
    ck_assert_ptr_null(ctl_args_get(&a, "ca"));

    jerr_clear(&err);
    ck_assert_int_eq(PARSE(&a, &err, "card", "hold", "c1", "--bogus"), -1);
    ck_assert_str_eq(err.field, "option");
    ck_assert_str_eq(err.msg, "unknown option --bogus");

    PARSE_REFUSED("option --reason given twice", "cert", "revoke", "0A", "--reason", "a",
                  "--reason", "b");

    PARSE_REFUSED("option --reason needs a value (REASON)", "cert", "revoke", "0A", "--reason");

    PARSE_REFUSED("option --list takes no value", "crl", "fetch", "sign", "--list=yes");

    /* an option of another command is unknown here */
    PARSE_REFUSED("unknown option --reason", "card", "hold", "c1", "--reason", "x");

    /* control bytes of an unknown option are escaped in the message */
    PARSE_REFUSED("unknown option --a\\x1b[2J", "card", "hold", "c1", "--a\x1b[2J");
}
END_TEST

START_TEST(test_global_options_anywhere)
{
    struct ctl_args a;
    struct jerr err = {0};
    ck_assert_int_eq(
        PARSE(&a, &err, "--url", "http://h:1", "card", "hold", "c1", "--json", "--token-file=/t"),
        0);
    ck_assert_str_eq(ctl_args_get(&a, "url"), "http://h:1");
    ck_assert_str_eq(ctl_args_get(&a, "token-file"), "/t");
    ck_assert(ctl_args_has(&a, "json"));

    PARSE_REFUSED("option --url given twice", "--url", "http://a", "card", "hold", "c1", "--url",
                  "x");

    PARSE_REFUSED("unknown option --nosuch", "--nosuch", "card", "hold", "c1");
}
END_TEST

START_TEST(test_help_skips_checks)
{
    struct ctl_args a;
    struct jerr err = {0};
    ck_assert_int_eq(PARSE(&a, &err, "person", "add", "--help"), 0);
    ck_assert(a.help);
    ck_assert_int_eq(PARSE(&a, &err, "card", "hold", "-h"), 0);
    ck_assert(a.help);
    ck_assert_int_eq(PARSE(&a, &err, "--help", "ocsp"), 0);
    ck_assert(a.help);
    ck_assert_str_eq(a.cmd->group, "ocsp");
}
END_TEST

START_TEST(test_find_commands)
{
    struct jerr err = {0};
    int next = 0;
    char *line1[] = {"jpkictl", "ocsp", "x.pem"};
    const struct ctl_cmd *c = ctl_args_find(ctl_cmds, ctl_cmds_count, 3, line1, 1, &next, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(c->name);
    ck_assert_int_eq(next, 2);

    char *line2[] = {"jpkictl", "card", "release", "c1"};
    c = ctl_args_find(ctl_cmds, ctl_cmds_count, 4, line2, 1, &next, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c->name, "release");
    ck_assert_int_eq(next, 3);

    /* command lines the table refuses: the field and the message each names */
    static const struct {
        int argc;
        char *argv[3];
        const char *field, *msg; /* msg NULL: not compared */
    } refused[] = {
        {2, {"jpkictl", "nosuch"}, "command", "unknown command 'nosuch'"},
        {3, {"jpkictl", "card", "burn"}, "subcommand", "unknown subcommand 'burn'"},
        {2, {"jpkictl", "card"}, "subcommand", "missing subcommand"},
        {3, {"jpkictl", "card", "--help"}, "help", NULL},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        jerr_clear(&err);
        char *argv[3];
        memcpy(argv, refused[i].argv, sizeof(argv));
        ck_assert_ptr_null(
            ctl_args_find(ctl_cmds, ctl_cmds_count, refused[i].argc, argv, 1, &next, &err));
        ck_assert_str_eq(err.field, refused[i].field);
        if (refused[i].msg != NULL)
            ck_assert_str_eq(err.msg, refused[i].msg);
    }

    jerr_clear(&err);
    char *line7[] = {"jpkictl", "--url", "http://x", "card", "show", "c1"};
    struct ctl_args a;
    ck_assert_int_eq(ctl_args_parse_globals(6, line7, 1, &a, &next, &err), 0);
    ck_assert_int_eq(next, 3);
    ck_assert_str_eq(ctl_args_get(&a, "url"), "http://x");
}
END_TEST

/* Every row of the table: unique words, a runner, options that fit, a help text that shows
 * each option and marks the required ones. */
START_TEST(test_table_and_help)
{
    const char *expected[] = {
        "person add", "person show", "person change", "person death", "card add", "card show",
        "card issue",
        /* a blank card on a PKCS#11 token (ctl_tokencard.h) */
        "card init-token",
        /* the window's reset of a card password (ctl_window.h) */
        "card reset-password", "card hold", "card release", "card return",
        /* the card holder's commands (ctl_card.h) */
        "card check", "card passwd", "card sign", "card revoke", "card export", "card fingerprints",
        "cert show", "cert revoke", "cert expiring", "operator add",
        /* operator credentials and the audit log (ctl_operators.h, ctl_audit.h) */
        "operator list", "operator disable", "operator rotate", "audit show", "audit checkpoint",
        "audit verify", "batch submit", "batch show", "ocsp", "crl fetch", "fingerprints",
        /* the relying party's (ctl_verify.h) */
        "verify"};
    size_t n = sizeof(expected) / sizeof(expected[0]);
    ck_assert_uint_eq(ctl_cmds_count, n);
    for (size_t i = 0; i < ctl_cmds_count; i++) {
        char name[64], *text = NULL, usage[96];
        size_t len = 0;
        const struct ctl_cmd *c = &ctl_cmds[i];
        ctl_args_cmd_name(c, name, sizeof(name));
        ck_assert_str_eq(name, expected[i]);
        ck_assert_ptr_nonnull(c->run);
        ck_assert_ptr_nonnull(c->summary);
        ck_assert_uint_le(c->max_pos, CTL_ARGS_MAX_POS);
        FILE *f = open_memstream(&text, &len);
        ck_assert_ptr_nonnull(f);
        ctl_args_help(c, f);
        fclose(f);
        snprintf(usage, sizeof(usage), "usage: jpkictl %s", name);
        ck_assert_msg(strncmp(text, usage, strlen(usage)) == 0, "%s", text);
        for (size_t k = 0; c->opts != NULL && c->opts[k].name != NULL; k++) {
            char opt[64];
            ck_assert_uint_lt(k, CTL_ARGS_MAX_OPTS);
            snprintf(opt, sizeof(opt), "--%s", c->opts[k].name);
            ck_assert_msg(strstr(text, opt) != NULL, "%s lacks %s", name, opt);
        }
        ck_assert_ptr_nonnull(strstr(text, "--token-file FILE"));
        free(text);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctl_args_help(&ctl_cmds[0], f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "usage: jpkictl person add --id ID --name NAME --address "
                                       "ADDRESS --birth-date DATE --gender GENDER\n"));
    ck_assert_ptr_nonnull(strstr(text, "      --name NAME              full name (UTF-8) "
                                       "(required)\n"));
    free(text);

    text = NULL;
    f = open_memstream(&text, &len);
    ctl_args_list(ctl_cmds, ctl_cmds_count, "cert", f);
    fclose(f);
    ck_assert_str_eq(text, "  cert show SERIAL                 a certificate with its history\n"
                           "  cert revoke SERIAL               revoke a certificate\n"
                           "  cert expiring                    good certificates expiring soon\n");
    free(text);
}
END_TEST

START_TEST(test_number)
{
    long v = -7;
    ck_assert_int_eq(ctl_args_number("90", 0, 100, &v), 0);
    ck_assert_int_eq(v, 90);
    ck_assert_int_eq(ctl_args_number("0", 0, 100, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(ctl_args_number("101", 0, 100, &v), -1);
    ck_assert_int_eq(ctl_args_number("-1", 0, 100, &v), -1);
    ck_assert_int_eq(ctl_args_number("9x", 0, 100, &v), -1);
    ck_assert_int_eq(ctl_args_number("", 0, 100, &v), -1);
    ck_assert_int_eq(ctl_args_number("99999999999999999999", 0, 100, &v), -1);
    ck_assert_int_eq(v, 0);
}
END_TEST

/* ---- progress bar and batch summary ---- */

/* ctl_batch_bar(buf, size, finished, failed, total, width) for each row, into a roomy buffer. */
static const struct {
    long finished, failed, total;
    int width;
    const char *want;
} bar_cases[] = {
    {0, 0, 200, 10, "[----------] 0/200 finished: 0 done, 0 failed"},
    {100, 2, 200, 10, "[#####-----] 100/200 finished: 98 done, 2 failed"},
    {200, 3, 200, 10, "[##########] 200/200 finished: 197 done, 3 failed"},
    /* floor(14 * 123 / 200) = 8 cells */
    {123, 3, 200, 14, "[########------] 123/200 finished: 120 done, 3 failed"},
    /* one row short of the end is not a full bar */
    {199, 0, 200, 20, "[###################-] 199/200 finished: 199 done, 0 failed"},
    {1, 0, 3, 3, "[#--] 1/3 finished: 1 done, 0 failed"},
    /* width 40, half */
    {50, 0, 100, 40,
     "[####################--------------------] 50/100 finished: 50 done, 0 failed"},
    /* edges: nothing to do is a full bar; more finished than total; widths below 1 are 1 */
    {0, 0, 0, 5, "[#####] 0/0 finished: 0 done, 0 failed"},
    {7, 0, 5, 5, "[#####] 7/5 finished: 7 done, 0 failed"},
    {1, 0, 2, 0, "[-] 1/2 finished: 1 done, 0 failed"},
    {2, 0, 2, -4, "[#] 2/2 finished: 2 done, 0 failed"},
};

START_TEST(test_bar)
{
    for (size_t i = 0; i < sizeof(bar_cases) / sizeof(bar_cases[0]); i++) {
        char buf[128];
        ctl_batch_bar(buf, sizeof(buf), bar_cases[i].finished, bar_cases[i].failed,
                      bar_cases[i].total, bar_cases[i].width);
        ck_assert_msg(strcmp(buf, bar_cases[i].want) == 0, "case %zu: \"%s\"", i, buf);
    }
}
END_TEST

START_TEST(test_bar_truncated)
{
    char tiny[8];
    ctl_batch_bar(tiny, sizeof(tiny), 5, 0, 10, 10);
    ck_assert_str_eq(tiny, "[#####-");
    ck_assert_uint_eq(strlen(tiny), sizeof(tiny) - 1);
}
END_TEST

START_TEST(test_batch_counts)
{
    struct ctl_batch_counts c;
    json_t *p = json_pack("{s:s, s:i, s:i, s:i, s:i}", "state", "running", "total", 200, "done",
                          120, "failed", 3, "pending", 77);
    ck_assert_int_eq(ctl_batch_counts(p, &c), 0);
    ck_assert_int_eq(c.total, 200);
    ck_assert_int_eq(c.finished, 123);
    ck_assert_int_eq(c.failed, 3);
    ck_assert(!c.done);
    json_decref(p);

    p = json_pack("{s:s, s:i, s:i, s:i}", "state", "done", "total", 5, "done", 4, "failed", 1);
    ck_assert_int_eq(ctl_batch_counts(p, &c), 0);
    ck_assert_int_eq(c.finished, 5);
    ck_assert(c.done);
    json_decref(p);

    p = json_pack("{s:s, s:i, s:i}", "state", "done", "done", 4, "failed", 1);
    ck_assert_int_eq(ctl_batch_counts(p, &c), -1);
    json_decref(p);
    p = json_pack("{s:i, s:s, s:i}", "total", 4, "failed", "1", "done", 1);
    ck_assert_int_eq(ctl_batch_counts(p, &c), -1);
    json_decref(p);
    p = json_pack("{s:i, s:i, s:i}", "total", 4, "failed", -1, "done", 1);
    ck_assert_int_eq(ctl_batch_counts(p, &c), -1);
    json_decref(p);
}
END_TEST

START_TEST(test_batch_content_type)
{
    ck_assert_str_eq(ctl_batch_content_type("rows.json", "batch: x", 8), "application/json");
    ck_assert_str_eq(ctl_batch_content_type("rows.YML", "{}", 2), "application/yaml");
    ck_assert_str_eq(ctl_batch_content_type("d/rows.yaml", "{}", 2), "application/yaml");
    ck_assert_str_eq(ctl_batch_content_type("rows", "  \n {\"batch\":1}", 14), "application/json");
    ck_assert_str_eq(ctl_batch_content_type("rows.txt", "batch: x", 8), "application/yaml");
    ck_assert_str_eq(ctl_batch_content_type("a.json/rows", "batch: x", 8), "application/yaml");
    ck_assert_str_eq(ctl_batch_content_type("rows", "", 0), "application/yaml");
}
END_TEST

/* ctl_batch_summary(sub, prog)'s text (the caller frees it), which returns `failed`. */
static char *batch_summary(json_t *sub, json_t *prog, size_t failed)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(ctl_batch_summary(f, sub, prog), failed);
    fclose(f);
    return text;
}

START_TEST(test_batch_summary)
{
    json_error_t jerror;
    json_t *sub = json_loads(
        "{\"id\":7,\"key\":\"k1\",\"total\":4,\"accepted\":3,\"problems\":"
        "[{\"row\":2,\"field\":\"rows[1].person.birth_date\",\"message\":\"rows[1].person."
        "birth_date: not a calendar day\"},{\"row\":5,\"field\":\"rows[4].key\","
        "\"message\":\"used again\"}]}",
        0, &jerror);
    json_t *prog = json_loads(
        "{\"id\":7,\"key\":\"k1\",\"state\":\"done\",\"total\":3,\"done\":2,\"failed\":1,"
        "\"pending\":0,\"rows\":[{\"row\":1,\"key\":\"r1\",\"state\":\"done\",\"serials\":[\"0A\"],"
        "\"error\":null},{\"row\":3,\"key\":\"r3\",\"state\":\"failed\",\"serials\":null,"
        "\"error\":{\"code\":\"refused\",\"message\":\"card C-3 is a juki card\",\"field\":"
        "\"card\"}},{\"row\":4,\"key\":\"r4\",\"state\":\"done\",\"serials\":[],\"error\":null}]}",
        0, &jerror);
    ck_assert_ptr_nonnull(sub);
    ck_assert_ptr_nonnull(prog);
    char *text = batch_summary(sub, prog, 3);
    ck_assert_str_eq(text, "batch k1 (id 7): 3 rows, 2 done, 1 failed, 2 refused at submission\n"
                           "  row 2: rows[1].person.birth_date: not a calendar day\n"
                           "  row 5: used again (field: rows[4].key)\n"
                           "  row 3 (key r3): refused: card C-3 is a juki card (field: card)\n");
    free(text);

    /* a row refused at submission is also a failed row of the progress: listed once */
    json_array_append_new(json_object_get(prog, "rows"),
                          json_pack("{s:i, s:n, s:s, s:n, s:{s:s, s:s, s:s}}", "row", 5, "key",
                                    "state", "failed", "serials", "error", "code", "invalid",
                                    "message", "used again", "field", "rows[4].key"));
    text = batch_summary(sub, prog, 3);
    ck_assert_ptr_null(strstr(text, "row 5 (key"));
    free(text);
    json_array_remove(json_object_get(prog, "rows"), 3);

    /* all rows good: nothing listed */
    json_object_set_new(sub, "problems", json_array());
    json_array_remove(json_object_get(prog, "rows"), 1);
    text = batch_summary(sub, prog, 0);
    ck_assert_str_eq(text, "batch k1 (id 7): 3 rows, 2 done, 1 failed, 0 refused at submission\n");
    free(text);
    /* batch show: no submission answer */
    text = batch_summary(NULL, prog, 0);
    ck_assert_str_eq(text, "batch k1 (id 7): 3 rows, 2 done, 1 failed\n");
    free(text);
    json_decref(sub);
    json_decref(prog);
}
END_TEST

/* ---- API errors in words, sanitizing ---- */

/* ctl_out_api_error's line for `cmd`, `status` and the answer `body` (NULL: none) is `want`. */
static void api_error_is(const char *cmd, long status, const char *body, const char *want)
{
    char line[CTL_OUT_LINE_MAX];
    ctl_out_api_error(line, sizeof(line), cmd, status, body, body != NULL ? strlen(body) : 0);
    ck_assert_str_eq(line, want);
}

START_TEST(test_api_error_words)
{
    api_error_is("card hold", 409,
                 "{\"error\": {\"code\": \"refused\", \"message\": \"card c1 is already on "
                 "hold\", \"field\": \"card\"}}",
                 "jpkictl: card hold: 409 refused: card c1 is already on hold "
                 "(field: card)");

    api_error_is("card show", 404,
                 "{\"error\":{\"code\":\"not_found\",\"message\":\"no card x\",\"field\":null}}",
                 "jpkictl: card show: 404 not_found: no card x");

    api_error_is("person add", 400,
                 "{\"error\":{\"code\":\"invalid\",\"message\":\"m\",\"field\":\"\"}}",
                 "jpkictl: person add: 400 invalid: m");

    /* not our JSON error: the status in words */
    api_error_is("ocsp", 400, "<html>Bad Request</html>", "jpkictl: ocsp: 400 Bad Request");
    api_error_is("ocsp", 503, "{\"error\":\"nope\"}", "jpkictl: ocsp: 503 Service Unavailable");
    api_error_is("card show", 500, "{\"error\":{\"code\":\"x\"}}",
                 "jpkictl: card show: 500 Internal Server Error");
    api_error_is("card show", 502, NULL, "jpkictl: card show: 502 Error");

    /* terminal escapes from the network never reach the terminal */
    api_error_is("card hold", 409,
                 "{\"error\":{\"code\":\"refused\",\"message\":\"a\\u001b[2Jb\\u0085\","
                 "\"field\":\"c\\nd\"}}",
                 "jpkictl: card hold: 409 refused: a\\x1B[2Jb\\xC2\\x85 (field: "
                 "c\\x0Ad)");

    /* UTF-8 text of the service passes unchanged */
    api_error_is("person add", 400,
                 "{\"error\":{\"code\":\"invalid\",\"message\":\"name: 山田 is too long\","
                 "\"field\":\"name\"}}",
                 "jpkictl: person add: 400 invalid: name: 山田 is too long "
                 "(field: name)");
}
END_TEST

/* ctl_out_sanitize(out, room, in, len): a literal and its length, NULs included. */
#define LIT(s) s, sizeof(s) - 1
static const struct {
    const char *in;
    size_t len, room;
    const char *want;
} sanitize_cases[] = {
    {LIT("plain"), 64, "plain"},
    {LIT("東京\\"), 64, "東京\\\\"},
    {LIT("a\xff"
         "b"),
     64, "a\\xFFb"},
    /* overlong '/', a surrogate, above U+10FFFF, a cut sequence */
    {LIT("\xc0\xaf"), 64, "\\xC0\\xAF"},
    {LIT("\xed\xa0\x80"), 64, "\\xED\\xA0\\x80"},
    {LIT("\xf4\x90\x80\x80"), 64, "\\xF4\\x90\\x80\\x80"},
    {LIT("\xe6\x9d"), 64, "\\xE6\\x9D"},
    {LIT("\x7f\t"), 64, "\\x7F\\x09"},
    /* an embedded NUL counts as a byte to escape */
    {LIT("a\0b"), 64, "a\\x00b"},
    /* cut on a character boundary: 7 bytes of room take two kanji (6), not a third's half */
    {LIT("東京都"), 8, "東京"},
    {LIT("\x01\x02"), 4, ""},
};
#undef LIT

START_TEST(test_sanitize)
{
    for (size_t i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]); i++) {
        char out[64];
        ck_assert_uint_le(sanitize_cases[i].room, sizeof(out));
        ctl_out_sanitize(out, sanitize_cases[i].room, sanitize_cases[i].in, sanitize_cases[i].len);
        ck_assert_msg(strcmp(out, sanitize_cases[i].want) == 0, "case %zu: \"%s\"", i, out);
    }

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctl_out_put(f, "x\x1b]0;title\x07y");
    ctl_out_put(f, NULL);
    fclose(f);
    ck_assert_str_eq(text, "x\\x1B]0;title\\x07y-");
    free(text);
}
END_TEST

START_TEST(test_error_obj_and_list)
{
    char out[256];
    json_t *e = json_pack("{s:s, s:s, s:s}", "code", "invalid", "message", "bad", "field", "f");
    ctl_out_error_obj(out, sizeof(out), e);
    ck_assert_str_eq(out, "invalid: bad (field: f)");
    json_decref(e);
    ctl_out_error_obj(out, sizeof(out), NULL);
    ck_assert_str_eq(out, "(no error description)");

    json_t *o = json_pack("{s:[s,s], s:[]}", "held", "0A", "0B", "none");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctl_out_list(f, o, "held");
    fputc('|', f);
    ctl_out_list(f, o, "none");
    fputc('|', f);
    ctl_out_list(f, o, "absent");
    fclose(f);
    ck_assert_str_eq(text, "0A, 0B|none|none");
    free(text);
    json_decref(o);
}
END_TEST

/* ---- URLs, paths, tokens, serials, reasons ---- */

START_TEST(test_url_and_path)
{
    struct jerr err = {0};
    ck_assert_int_eq(ctl_http_check_url("http://127.0.0.1:8080", &err), 0);
    ck_assert_int_eq(ctl_http_check_url("https://jpki.example/", &err), 0);
    ck_assert_int_eq(ctl_http_check_url("ftp://x", &err), -1);
    ck_assert_str_eq(err.field, "--url");
    ck_assert_str_eq(err.msg, "the service URL must start with http:// or https://");
    jerr_clear(&err);
    ck_assert_int_eq(ctl_http_check_url("http://", &err), -1);
    ck_assert_str_eq(err.msg, "the service URL names no host");
    jerr_clear(&err);
    ck_assert_int_eq(ctl_http_check_url("http://a b", &err), -1);
    jerr_clear(&err);
    ck_assert_int_eq(ctl_http_check_url("http://a\r\nX: y", &err), -1);

    char *e = ctl_http_escape("a b/c?d%é~.-_");
    ck_assert_str_eq(e, "a%20b%2Fc%3Fd%25%C3%A9~.-_");
    free(e);

    char path[CTL_PATH_MAX];
    ck_assert_int_eq(ctl_path(path, sizeof(path), "/v1/cards/", "c/1", "/hold"), 0);
    ck_assert_str_eq(path, "/v1/cards/c%2F1/hold");
    ck_assert_int_eq(ctl_path(path, 16, "/v1/cards/", "abcdefgh", NULL), -1);

    struct ctl_http *h = ctl_http_new("http://127.0.0.1:9//", NULL, &err);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(ctl_http_base_url(h), "http://127.0.0.1:9");
    ctl_http_free(h);
    ctl_http_free(NULL);
}
END_TEST

START_TEST(test_token_file)
{
    char *dir = testutil_mkdtemp(), path[512];
    struct jerr err = {0};
    struct ctl_http *h = ctl_http_new("http://127.0.0.1:9", NULL, &err);
    ck_assert_ptr_nonnull(h);
    ck_assert(!ctl_http_has_token(h));

    snprintf(path, sizeof(path), "%s/empty", dir);
    ck_assert_int_eq(testutil_write_file(path, "\n", 1), 0);
    ck_assert_int_eq(ctl_http_load_token(h, path, &err), -1);
    ck_assert_str_eq(err.field, "--token-file");
    ck_assert(!ctl_http_has_token(h));

    jerr_clear(&err);
    snprintf(path, sizeof(path), "%s/ctl", dir);
    ck_assert_int_eq(testutil_write_file(path,
                                         "ab\x01"
                                         "cd\n",
                                         6),
                     0);
    ck_assert_int_eq(ctl_http_load_token(h, path, &err), -1);
    ck_assert_str_eq(err.msg, "the token holds a byte that is not printable ASCII");

    jerr_clear(&err);
    snprintf(path, sizeof(path), "%s/missing", dir);
    ck_assert_int_eq(ctl_http_load_token(h, path, &err), -1);
    ck_assert_str_eq(err.field, "--token-file");

    jerr_clear(&err);
    snprintf(path, sizeof(path), "%s/good", dir);
    ck_assert_int_eq(testutil_write_file(path, "  0123abcd \r\nsecond line\n", 25), 0);
    ck_assert_int_eq(ctl_http_load_token(h, path, &err), 0);
    ck_assert(ctl_http_has_token(h));

    ctl_http_free(h);
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_serial_and_reason)
{
    ck_assert(ctl_ops_is_serial("49ABC20F97690BBE643B7CAD9C7A3B0A"));
    ck_assert(ctl_ops_is_serial("0a"));
    ck_assert(!ctl_ops_is_serial(""));
    ck_assert(!ctl_ops_is_serial(NULL));
    ck_assert(!ctl_ops_is_serial("../x"));
    ck_assert(!ctl_ops_is_serial("0G"));
    ck_assert(!ctl_ops_is_serial("00112233445566778899001122334455667788990"));

    ck_assert_str_eq(ctl_rp_reason_name(6), "certificateHold");
    ck_assert_str_eq(ctl_rp_reason_name(1), "keyCompromise");
    ck_assert_str_eq(ctl_rp_reason_name(5), "cessationOfOperation");
    ck_assert_str_eq(ctl_rp_reason_name(10), "aACompromise");
    ck_assert_str_eq(ctl_rp_reason_name(-1), "unspecified");
    ck_assert_str_eq(ctl_rp_reason_name(7), "unknown");
    ck_assert_str_eq(ctl_rp_reason_name(11), "unknown");
}
END_TEST

/* ---- exit codes of calls that never reach the API ---- */

/* Runs `cmd` with argv, the streams captured. */
static int run_cmd(char **argv, int argc, char **out_text, char **err_text)
{
    struct ctl_args a;
    struct jerr err = {0};
    struct ctl ctl;
    size_t lo = 0, le = 0;
    int rc;
    ck_assert_int_eq(parse_line(argc, argv, &a, &err), 0);
    FILE *out = open_memstream(out_text, &lo), *errf = open_memstream(err_text, &le);
    ctl_init(&ctl, &a, out, errf);
    rc = a.cmd->run(&ctl, &a);
    ctl_cleanup(&ctl);
    fclose(out);
    fclose(errf);
    return rc;
}

/* Runs argv; asserts the usage exit, nothing on stdout and exactly `want` on stderr. */
static void expect_usage(char **argv, int argc, const char *want)
{
    char *out = NULL, *errs = NULL;
    ck_assert_int_eq(run_cmd(argv, argc, &out, &errs), CTL_EXIT_USAGE);
    ck_assert_str_eq(errs, want);
    ck_assert_str_eq(out, "");
    free(out);
    free(errs);
}

START_TEST(test_exit_codes)
{
    char *out = NULL, *errs = NULL;
    unsetenv("JPKI_URL");
    unsetenv("JPKI_TOKEN_FILE");

    char *a1[] = {"jpkictl", "card", "hold", "c1"};
    expect_usage(a1, 4,
                 "jpkictl: card hold: no service URL: give --url or set JPKI_URL\n"
                 "Try 'jpkictl card hold --help'.\n");

    char *a2[] = {"jpkictl", "--url", "http://127.0.0.1:1", "card", "hold", "c1"};
    expect_usage(a2, 6,
                 "jpkictl: card hold: no operator token: give --token-file or set "
                 "JPKI_TOKEN_FILE\nTry 'jpkictl card hold --help'.\n");

    /* the environment stands in for the options */
    setenv("JPKI_URL", "ftp://127.0.0.1:1", 1);
    char *a3[] = {"jpkictl", "fingerprints"};
    expect_usage(a3, 2,
                 "jpkictl: fingerprints: the service URL must start with http:// or "
                 "https://\nTry 'jpkictl fingerprints --help'.\n");

    /* nothing listens on port 1: a transport failure, exit 3 */
    setenv("JPKI_URL", "http://127.0.0.1:1", 1);
    ck_assert_int_eq(run_cmd(a3, 2, &out, &errs), CTL_EXIT_TRANSPORT);
    ck_assert_msg(strncmp(errs, "jpkictl: fingerprints: http://127.0.0.1:1: ", 43) == 0, "%s",
                  errs);
    ck_assert_str_eq(out, "");
    free(out);
    free(errs);

    char *a4[] = {"jpkictl", "cert", "revoke", "../../x", "--reason", "keyCompromise"};
    expect_usage(a4, 6,
                 "jpkictl: cert revoke: SERIAL must be 1 to 40 hex digits\n"
                 "Try 'jpkictl cert revoke --help'.\n");

    char *a5[] = {"jpkictl", "cert", "expiring", "--days", "ninety"};
    expect_usage(a5, 5,
                 "jpkictl: cert expiring: --days must be a number of days from 0 to "
                 "36500\nTry 'jpkictl cert expiring --help'.\n");

    char *a6[] = {"jpkictl", "crl", "fetch", "root"};
    expect_usage(a6, 4,
                 "jpkictl: crl fetch: the CA is sign or auth\n"
                 "Try 'jpkictl crl fetch --help'.\n");

    char *a7[] = {"jpkictl", "person", "change", "p1"};
    expect_usage(a7, 4,
                 "jpkictl: person change: give at least one of --name, --address, "
                 "--birth-date, --gender\nTry 'jpkictl person change --help'.\n");

    /* a certificate file that is not one: a failed check (1), before any request */
    char *a8[] = {"jpkictl", "ocsp", "/nonexistent/c.pem", "--issuer", "/nonexistent/i.pem"};
    ck_assert_int_eq(run_cmd(a8, 5, &out, &errs), CTL_EXIT_FAILED);
    ck_assert_ptr_nonnull(strstr(errs, "jpkictl: ocsp: CERT: "));
    free(out);
    free(errs);
    unsetenv("JPKI_URL");
}
END_TEST

/* ---- the window's card issue (ctl_window.h) ---- */

START_TEST(test_window_which_and_letter)
{
    ck_assert_int_eq(ctl_window_which("sign"), 1 << CA_SIGN);
    ck_assert_int_eq(ctl_window_which("auth"), 1 << CA_AUTH);
    ck_assert_int_eq(ctl_window_which("both"), (1 << CA_SIGN) | (1 << CA_AUTH));
    ck_assert_int_eq(ctl_window_which("all"), -1);
    ck_assert_int_eq(ctl_window_which(NULL), -1);

    json_t *pw = json_pack("{s:s, s:s}", "sign", "K7Q2ZP0MX4RB", "auth", "5829");
    char *letter = ctl_window_pin_letter("c1", pw);
    ck_assert_ptr_nonnull(letter);
    ck_assert_ptr_nonnull(strstr(letter, "Card c1: initial passwords\n"));
    ck_assert_ptr_nonnull(strstr(letter, "  signing password:   K7Q2ZP0MX4RB\n"));
    ck_assert_ptr_nonnull(strstr(letter, "  authentication PIN: 5829\n"));
    free(letter);
    json_decref(pw);
    /* only the generated ones; none: no letter */
    pw = json_pack("{s:s}", "auth", "5829");
    letter = ctl_window_pin_letter("c1", pw);
    ck_assert_ptr_null(strstr(letter, "signing"));
    free(letter);
    json_decref(pw);
    pw = json_object();
    ck_assert_ptr_null(ctl_window_pin_letter("c1", pw));
    ck_assert_ptr_null(ctl_window_pin_letter("c1", NULL));
    json_decref(pw);
}
END_TEST

START_TEST(test_window_check_dir)
{
    char *dir = testutil_mkdtemp(), path[512];
    struct jerr err = {0};
    ck_assert_int_eq(ctl_window_check_dir(dir, 1024, &err), 0);
    /* more free space than any disk has */
    ck_assert_int_eq(ctl_window_check_dir(dir, LONG_MAX, &err), -1);
    ck_assert_str_eq(err.field, "--out");
    ck_assert_ptr_nonnull(strstr(err.msg, "KiB free"));
    jerr_clear(&err);
    snprintf(path, sizeof(path), "%s/file", dir);
    ck_assert_int_eq(testutil_write_file(path, "x", 1), 0);
    ck_assert_int_eq(ctl_window_check_dir(path, 1024, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a directory"));
    jerr_clear(&err);
    snprintf(path, sizeof(path), "%s/missing", dir);
    ck_assert_int_eq(ctl_window_check_dir(path, 1024, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

/* An issue whose image could not be kept is refused before any request: the service at port 1
 * would make any request a transport failure (exit 3). */
START_TEST(test_window_issue_refused_before_the_api)
{
    char *out = NULL, *errs = NULL, *dir = testutil_mkdtemp(), file[512], token[512];
    snprintf(token, sizeof(token), "%s/token", dir);
    ck_assert_int_eq(testutil_write_file(token, "0123abcd\n", 9), 0);
    setenv("JPKI_URL", "http://127.0.0.1:1", 1);
    setenv("JPKI_TOKEN_FILE", token, 1);

    char *a1[] = {"jpkictl", "card", "issue", "c1", "--certs", "auth"};
    ck_assert_int_eq(run_cmd(a1, 6, &out, &errs), CTL_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(errs, "--out DIR is required"));
    free(out);
    free(errs);

    snprintf(file, sizeof(file), "%s/file", dir);
    ck_assert_int_eq(testutil_write_file(file, "x", 1), 0);
    char *a2[] = {"jpkictl", "card", "issue", "c1", "--certs", "both", "--out", file};
    ck_assert_int_eq(run_cmd(a2, 8, &out, &errs), CTL_EXIT_FAILED);
    ck_assert_ptr_nonnull(strstr(errs, "nothing was issued"));
    free(out);
    free(errs);

    /* every key supplied as a CSR: no image, so no --out needed (the request is then sent) */
    char *a3[] = {"jpkictl", "card", "issue", "c1", "--certs", "sign", "--sign-csr", file};
    ck_assert_int_eq(run_cmd(a3, 8, &out, &errs), CTL_EXIT_TRANSPORT);
    free(out);
    free(errs);

    char *a4[] = {"jpkictl", "card", "issue", "c1", "--certs", "all", "--out", dir};
    ck_assert_int_eq(run_cmd(a4, 8, &out, &errs), CTL_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(errs, "--certs must be sign, auth or both"));
    free(out);
    free(errs);
    unsetenv("JPKI_URL");
    unsetenv("JPKI_TOKEN_FILE");
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *ctl_suite(void)
{
    Suite *s = suite_create("ctl");
    TCase *tc = tcase_create("args");
    tcase_add_test(tc, test_person_add_complete);
    tcase_add_test(tc, test_missing_required_option_named);
    tcase_add_test(tc, test_positional_arguments);
    tcase_add_test(tc, test_option_forms_and_refusals);
    tcase_add_test(tc, test_global_options_anywhere);
    tcase_add_test(tc, test_help_skips_checks);
    tcase_add_test(tc, test_find_commands);
    tcase_add_test(tc, test_table_and_help);
    tcase_add_test(tc, test_number);
    suite_add_tcase(s, tc);
    tc = tcase_create("batch");
    tcase_add_test(tc, test_bar);
    tcase_add_test(tc, test_bar_truncated);
    tcase_add_test(tc, test_batch_counts);
    tcase_add_test(tc, test_batch_content_type);
    tcase_add_test(tc, test_batch_summary);
    suite_add_tcase(s, tc);
    tc = tcase_create("window");
    tcase_add_test(tc, test_window_which_and_letter);
    tcase_add_test(tc, test_window_check_dir);
    tcase_add_test(tc, test_window_issue_refused_before_the_api);
    suite_add_tcase(s, tc);

    tc = tcase_create("out");
    tcase_add_test(tc, test_api_error_words);
    tcase_add_test(tc, test_sanitize);
    tcase_add_test(tc, test_error_obj_and_list);
    suite_add_tcase(s, tc);
    tc = tcase_create("http");
    tcase_add_test(tc, test_url_and_path);
    tcase_add_test(tc, test_token_file);
    tcase_add_test(tc, test_serial_and_reason);
    tcase_add_test(tc, test_exit_codes);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = testutil_run(ctl_suite());
    curl_global_cleanup();
    return rc;
}
