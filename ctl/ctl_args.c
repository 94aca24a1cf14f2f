/*
 * ctl_args: see ctl_args.h. Hand-rolled rather than getopt_long: getopt keeps global state,
 * permutes argv and prints its own messages, and the grammar here (two command words, options
 * per command, globals anywhere) is small enough to say directly.
 */
#include "ctl/ctl_args.h"

#include <string.h>

const struct ctl_opt ctl_args_global_opts[] = {
    {"url", 0, "URL", false, "the service (default $JPKI_URL), e.g. http://127.0.0.1:8080"},
    {"token-file", 0, "FILE", false, "the operator token (default $JPKI_TOKEN_FILE)"},
    {"cacert", 0, "FILE", false, "CA certificates to verify an https:// service with"},
    {"cert", 0, "FILE", false, "a TLS client certificate, PEM (default $JPKI_CLIENT_CERT)"},
    {"key", 0, "FILE", false, "its key, PEM (default $JPKI_CLIENT_KEY)"},
    {"rp-token-file", 0, "FILE", false,
     "a relying party's bearer token, for ocsp/crl/verify/check (default $JPKI_RP_TOKEN_FILE)"},
    {"json", 0, NULL, false, "print the service's JSON answers as they are"},
    {"help", 'h', NULL, false, "show this help"},
    {NULL, 0, NULL, false, NULL},
};

static size_t opt_count(const struct ctl_opt *opts)
{
    size_t n = 0;
    while (opts != NULL && opts[n].name != NULL)
        n++;
    return n;
}

/* Index of the option named by `arg` (without its dashes, up to `len` bytes) in `opts`, or -1. */
static int opt_find_long(const struct ctl_opt *opts, const char *arg, size_t len)
{
    for (size_t i = 0; opts != NULL && opts[i].name != NULL; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0)
            return (int)i;
    return -1;
}

static int opt_find_short(const struct ctl_opt *opts, char c)
{
    for (size_t i = 0; opts != NULL && opts[i].name != NULL; i++)
        if (opts[i].short_name != 0 && opts[i].short_name == c)
            return (int)i;
    return -1;
}

/* Names an argument in a message without letting control bytes through. */
static void arg_quote(char *out, size_t size, const char *arg)
{
    jerr_escape(out, size, arg, strlen(arg));
}

/* Reads the option at argv[*i] ("--name", "--name=v", "-o", "-o v") against the command's
 * options (may be NULL) and the globals; stores its value and advances *i past it. */
static int parse_option(const struct ctl_opt *opts, int argc, char **argv, int *i,
                        struct ctl_args *out, struct jerr *err)
{
    const char *arg = argv[*i];
    const char *inline_value = NULL;
    const struct ctl_opt *set = NULL;
    const char **slot = NULL;
    char shown[80];
    int idx;

    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        inline_value = eq != NULL ? eq + 1 : NULL;
        if ((idx = opt_find_long(opts, name, len)) != -1) {
            set = opts;
            slot = &out->values[idx];
        } else if ((idx = opt_find_long(ctl_args_global_opts, name, len)) != -1) {
            set = ctl_args_global_opts;
            slot = &out->global_values[idx];
        }
    } else if (arg[1] != '\0' && arg[2] == '\0') {
        if ((idx = opt_find_short(opts, arg[1])) != -1) {
            set = opts;
            slot = &out->values[idx];
        } else if ((idx = opt_find_short(ctl_args_global_opts, arg[1])) != -1) {
            set = ctl_args_global_opts;
            slot = &out->global_values[idx];
        }
    } else {
        idx = -1;
    }
    if (set == NULL) {
        arg_quote(shown, sizeof(shown), arg);
        return jerr_set(err, JERR_INVALID, "option", "unknown option %s", shown);
    }
    const struct ctl_opt *opt = &set[idx];
    if (*slot != NULL)
        return jerr_set(err, JERR_INVALID, "option", "option --%s given twice", opt->name);
    if (opt->metavar == NULL) {
        if (inline_value != NULL)
            return jerr_set(err, JERR_INVALID, "option", "option --%s takes no value", opt->name);
        *slot = "";
        *i += 1;
        return 0;
    }
    if (inline_value != NULL) {
        *slot = inline_value;
        *i += 1;
        return 0;
    }
    if (*i + 1 >= argc)
        return jerr_set(err, JERR_INVALID, "option", "option --%s needs a value (%s)", opt->name,
                        opt->metavar);
    *slot = argv[*i + 1];
    *i += 2;
    return 0;
}

static bool is_option(const char *arg)
{
    return arg[0] == '-' && arg[1] != '\0';
}

int ctl_args_parse_globals(int argc, char **argv, int first, struct ctl_args *out, int *next,
                           struct jerr *err)
{
    int i = first;
    memset(out, 0, sizeof(*out));
    while (i < argc && is_option(argv[i]) && strcmp(argv[i], "--") != 0)
        if (parse_option(NULL, argc, argv, &i, out, err) == -1)
            return -1;
    out->help = out->global_values[opt_find_long(ctl_args_global_opts, "help", 4)] != NULL;
    *next = i;
    return 0;
}

bool ctl_args_is_group(const struct ctl_cmd *table, size_t n, const char *group)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].group, group) == 0)
            return true;
    return false;
}

const struct ctl_cmd *ctl_args_find(const struct ctl_cmd *table, size_t n, int argc, char **argv,
                                    int first, int *next, struct jerr *err)
{
    char shown[80];
    if (first >= argc)
        return jerr_set(err, JERR_INVALID, "command", "no command given"), NULL;
    const char *group = argv[first];
    if (!ctl_args_is_group(table, n, group)) {
        arg_quote(shown, sizeof(shown), group);
        return jerr_set(err, JERR_INVALID, "command", "unknown command '%s'", shown), NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (table[i].name == NULL && strcmp(table[i].group, group) == 0) {
            *next = first + 1;
            return &table[i];
        }
    if (first + 1 >= argc || is_option(argv[first + 1])) {
        if (first + 1 < argc &&
            (strcmp(argv[first + 1], "--help") == 0 || strcmp(argv[first + 1], "-h") == 0))
            return jerr_set(err, JERR_INVALID, "help", "help of %s", group), NULL;
        return jerr_set(err, JERR_INVALID, "subcommand", "missing subcommand"), NULL;
    }
    const char *name = argv[first + 1];
    for (size_t i = 0; i < n; i++)
        if (table[i].name != NULL && strcmp(table[i].group, group) == 0 &&
            strcmp(table[i].name, name) == 0) {
            *next = first + 2;
            return &table[i];
        }
    arg_quote(shown, sizeof(shown), name);
    return jerr_set(err, JERR_INVALID, "subcommand", "unknown subcommand '%s'", shown), NULL;
}

int ctl_args_parse(const struct ctl_cmd *cmd, int argc, char **argv, int first,
                   struct ctl_args *out, struct jerr *err)
{
    size_t nopts = opt_count(cmd->opts);
    bool options_done = false;
    int i = first;

    if (nopts > CTL_ARGS_MAX_OPTS)
        return jerr_set(err, JERR_INTERNAL, NULL, "command with too many options");
    out->cmd = cmd;
    while (i < argc) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            i++;
        } else if (!options_done && is_option(arg)) {
            if (parse_option(cmd->opts, argc, argv, &i, out, err) == -1)
                return -1;
        } else {
            if (out->pos_count >= CTL_ARGS_MAX_POS || out->pos_count >= cmd->max_pos)
                return jerr_set(err, JERR_INVALID, "ARGS", "too many arguments (%s)",
                                cmd->pos_synopsis != NULL ? cmd->pos_synopsis : "none expected");
            out->pos[out->pos_count++] = arg;
            i++;
        }
    }
    out->help = ctl_args_has(out, "help");
    if (out->help)
        return 0;
    if (out->pos_count < cmd->min_pos)
        return jerr_set(err, JERR_INVALID, "ARGS", "missing argument %s", cmd->pos_synopsis);
    for (size_t k = 0; k < nopts; k++)
        if (cmd->opts[k].required && out->values[k] == NULL)
            return jerr_set(err, JERR_INVALID, "option", "missing required option --%s",
                            cmd->opts[k].name);
    return 0;
}

const char *ctl_args_get(const struct ctl_args *args, const char *name)
{
    size_t len = strlen(name);
    int idx;
    if (args->cmd != NULL && (idx = opt_find_long(args->cmd->opts, name, len)) != -1)
        return args->values[idx];
    if ((idx = opt_find_long(ctl_args_global_opts, name, len)) != -1)
        return args->global_values[idx];
    return NULL;
}

bool ctl_args_has(const struct ctl_args *args, const char *name)
{
    return ctl_args_get(args, name) != NULL;
}

int ctl_args_number(const char *s, long min, long max, long *out)
{
    long v = 0;
    bool neg = s[0] == '-';
    const char *p = neg ? s + 1 : s;
    if (*p == '\0' || strlen(p) > 18)
        return -1;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (neg)
        v = -v;
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

char *ctl_args_cmd_name(const struct ctl_cmd *cmd, char *buf, size_t size)
{
    if (cmd->name != NULL)
        snprintf(buf, size, "%s %s", cmd->group, cmd->name);
    else
        snprintf(buf, size, "%s", cmd->group);
    return buf;
}

/* One option line of a help text: "  -o, --out FILE   help". */
static void help_opt(const struct ctl_opt *o, FILE *out)
{
    char left[64];
    const char *space = o->metavar != NULL ? " " : "";
    const char *metavar = o->metavar != NULL ? o->metavar : "";
    if (o->short_name != 0)
        snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name, space, metavar);
    else
        snprintf(left, sizeof(left), "    --%s%s%s", o->name, space, metavar);
    fprintf(out, "  %-28s %s%s\n", left, o->help, o->required ? " (required)" : "");
}

void ctl_args_help(const struct ctl_cmd *cmd, FILE *out)
{
    char name[64];
    ctl_args_cmd_name(cmd, name, sizeof(name));
    fprintf(out, "usage: jpkictl %s", name);
    if (cmd->pos_synopsis != NULL)
        fprintf(out, " %s", cmd->pos_synopsis);
    for (size_t i = 0; cmd->opts != NULL && cmd->opts[i].name != NULL; i++) {
        const struct ctl_opt *o = &cmd->opts[i];
        fprintf(out, " %s--%s%s%s%s", o->required ? "" : "[", o->name, o->metavar ? " " : "",
                o->metavar ? o->metavar : "", o->required ? "" : "]");
    }
    fprintf(out, "\n\n%s\n", cmd->summary);
    if (cmd->details != NULL)
        fprintf(out, "\n%s\n", cmd->details);
    if (cmd->opts != NULL && cmd->opts[0].name != NULL) {
        fprintf(out, "\noptions:\n");
        for (size_t i = 0; cmd->opts[i].name != NULL; i++)
            help_opt(&cmd->opts[i], out);
    }
    fprintf(out, "\nglobal options:\n");
    for (size_t i = 0; ctl_args_global_opts[i].name != NULL; i++)
        help_opt(&ctl_args_global_opts[i], out);
}

void ctl_args_list(const struct ctl_cmd *table, size_t n, const char *group, FILE *out)
{
    char name[64];
    for (size_t i = 0; i < n; i++) {
        if (group != NULL && strcmp(table[i].group, group) != 0)
            continue;
        ctl_args_cmd_name(&table[i], name, sizeof(name));
        char left[96];
        snprintf(left, sizeof(left), "%s%s%s", name, table[i].pos_synopsis ? " " : "",
                 table[i].pos_synopsis ? table[i].pos_synopsis : "");
        fprintf(out, "  %-32s %s\n", left, table[i].summary);
    }
}
