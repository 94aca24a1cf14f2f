/*
 * ctl_args: jpkictl's command line grammar — the shape of a subcommand (its words, positional
 * arguments and options), parsing argv against it, and the help text built from the same
 * description, so that a subcommand's parser and its --help never disagree.
 *
 * Grammar: `jpkictl [GLOBAL…] GROUP [NAME] [ARG | --opt VALUE | --opt=VALUE | -o VALUE | --flag]…`
 * Global options (--url, --token-file, --cacert, --json, --help) are accepted before the
 * command and anywhere among its arguments. `--` ends the options. An option given twice, an
 * unknown option, a missing value, a missing required option and a wrong number of positional
 * arguments are usage errors (jerr JERR_INVALID, field the option at fault, e.g. "--name").
 * --help anywhere skips the checks of required options and positional counts.
 *
 * Pure: no I/O except the help writers, which print to the stream they are given.
 */
#ifndef JPKI_CTL_ARGS_H
#define JPKI_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/jerr.h"

/* Options of one command (its own list) and positional arguments, at most. */
#define CTL_ARGS_MAX_OPTS 16
#define CTL_ARGS_MAX_POS 4

struct ctl;
struct ctl_args;

/* One option. A NULL metavar makes it a flag (its value is "" when given). */
struct ctl_opt {
    const char *name; /* long name without the dashes: "birth-date" */
    char short_name;  /* 'o' for -o, or 0 */
    const char *metavar;
    bool required;
    const char *help;
};

/* A subcommand: `group name` ("card hold") or a one-word command (`name` NULL: "ocsp"). */
struct ctl_cmd {
    const char *group;
    const char *name;
    const char *pos_synopsis; /* "ID", "CERT.pem", or NULL for none */
    size_t min_pos, max_pos;
    const struct ctl_opt *opts; /* terminated by an entry with a NULL name; NULL for none */
    const char *summary;        /* one line for the listings */
    const char *details;        /* a paragraph for --help, or NULL */
    /* Runs the command; returns the process exit status (enum ctl_exit, ctl.h). */
    int (*run)(struct ctl *ctl, const struct ctl_args *args);
};

/* What a parse found. Values point into argv. */
struct ctl_args {
    const struct ctl_cmd *cmd; /* NULL while only the global options are parsed */
    const char *pos[CTL_ARGS_MAX_POS];
    size_t pos_count;
    const char *values[CTL_ARGS_MAX_OPTS];        /* per option of cmd->opts; NULL when absent */
    const char *global_values[CTL_ARGS_MAX_OPTS]; /* per option of ctl_args_global_opts */
    bool help;
};

/* The global options (NULL-name-terminated). */
extern const struct ctl_opt ctl_args_global_opts[];

/* Parses the global options at the start of argv[first..argc) and stops at the first word that
 * is not an option. Sets *next to that word's index (argc when none). Returns 0, or -1 with err.
 * `out` is cleared first. */
int ctl_args_parse_globals(int argc, char **argv, int first, struct ctl_args *out, int *next,
                           struct jerr *err);

/* Finds the command named by argv[first] (and argv[first + 1] for a group of subcommands) in
 * `table` (n entries). Sets *next to the index after the command words. Returns the command,
 * or NULL with err: unknown command (field "command"), a group without its subcommand or with
 * an unknown one (field "subcommand"). When argv[first + 1] is --help or -h for a group, the
 * error field is "help" (the caller prints the group's listing). */
const struct ctl_cmd *ctl_args_find(const struct ctl_cmd *table, size_t n, int argc, char **argv,
                                    int first, int *next, struct jerr *err);

/* Parses argv[first..argc) as arguments of `cmd` into `out`, keeping the global values already
 * in it. Returns 0, or -1 with err (JERR_INVALID, field the option or "ARGS"). */
int ctl_args_parse(const struct ctl_cmd *cmd, int argc, char **argv, int first,
                   struct ctl_args *out, struct jerr *err);

/* The value of option `name` (the command's or a global one): NULL when absent, "" for a flag
 * that is present. */
const char *ctl_args_get(const struct ctl_args *args, const char *name);
bool ctl_args_has(const struct ctl_args *args, const char *name);

/* Reads a decimal integer in [min, max] (digits only, an optional leading '-'). Returns 0, or
 * -1 when `s` is not one. */
int ctl_args_number(const char *s, long min, long max, long *out);

/* "card hold" / "ocsp" into buf. Returns buf. */
char *ctl_args_cmd_name(const struct ctl_cmd *cmd, char *buf, size_t size);

/* Help of one command: usage line, summary, details, options, global options. */
void ctl_args_help(const struct ctl_cmd *cmd, FILE *out);

/* Listing of every command of `table` (group NULL) or of one group. */
void ctl_args_list(const struct ctl_cmd *table, size_t n, const char *group, FILE *out);

/* True when `group` names some command of the table. */
bool ctl_args_is_group(const struct ctl_cmd *table, size_t n, const char *group);

#endif
