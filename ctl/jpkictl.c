/*
 * jpkictl: the client of jpkid (DESIGN §2) — operators over the /v1 API, relying parties over
 * the public endpoints. The commands are the rows of ctl_cmds.c; this file only finds the
 * command, parses its arguments, prints help and usage errors, and exits with the command's
 * status:
 *
 *   0 ok   1 refused by the service or a failed check   2 usage   3 service unreachable
 *
 * The service comes from --url or JPKI_URL, the operator token from --token-file or
 * JPKI_TOKEN_FILE.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl/ctl.h"
#include "ctl/ctl_args.h"
#include "ctl/ctl_cmds.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: jpkictl [--url URL] [--token-file FILE] [--json] COMMAND [ARGS]\n"
                 "\n"
                 "commands:\n");
    ctl_args_list(ctl_cmds, ctl_cmds_count, NULL, out);
    fprintf(out, "\n"
                 "The service is --url or $JPKI_URL; operator commands read their token from\n"
                 "--token-file or $JPKI_TOKEN_FILE. 'jpkictl COMMAND --help' describes a command.\n"
                 "Exit status: 0 ok, 1 refused or a failed check, 2 usage error, 3 service\n"
                 "unreachable.\n");
}

/* A usage error before the command is known. */
static int usage_error(const char *what, const char *msg)
{
    fprintf(stderr, "jpkictl: %s%s%s\nTry 'jpkictl%s%s --help'.\n", what != NULL ? what : "",
            what != NULL ? ": " : "", msg, what != NULL ? " " : "", what != NULL ? what : "");
    return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct ctl_args args;
    struct jerr err = {0};
    struct ctl ctl;
    const struct ctl_cmd *cmd;
    char name[64];
    int next = 1, rc;

    if (ctl_args_parse_globals(argc, argv, 1, &args, &next, &err) == -1)
        return usage_error(NULL, err.msg);
    if (next >= argc) {
        if (args.help) {
            usage(stdout);
            return CTL_EXIT_OK;
        }
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    cmd = ctl_args_find(ctl_cmds, ctl_cmds_count, argc, argv, next, &next, &err);
    if (cmd == NULL) {
        if (strcmp(err.field, "help") == 0 || args.help) {
            if (!ctl_args_is_group(ctl_cmds, ctl_cmds_count, argv[next])) {
                usage(stdout);
                return CTL_EXIT_OK;
            }
            printf("usage: jpkictl %s SUBCOMMAND [ARGS]\n\nsubcommands:\n", argv[next]);
            ctl_args_list(ctl_cmds, ctl_cmds_count, argv[next], stdout);
            return CTL_EXIT_OK;
        }
        return usage_error(strcmp(err.field, "command") == 0 ? NULL : argv[next], err.msg);
    }
    ctl_args_cmd_name(cmd, name, sizeof(name));
    if (ctl_args_parse(cmd, argc, argv, next, &args, &err) == -1) {
        /* --help wins over any other mistake on the line */
        for (int i = next; i < argc && strcmp(argv[i], "--") != 0; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                ctl_args_help(cmd, stdout);
                return CTL_EXIT_OK;
            }
        return usage_error(name, err.msg);
    }
    if (args.help) {
        ctl_args_help(cmd, stdout);
        return CTL_EXIT_OK;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "jpkictl: cannot start libcurl\n");
        return CTL_EXIT_FAILED;
    }
    ctl_init(&ctl, &args, stdout, stderr);
    rc = cmd->run(&ctl, &args);
    ctl_cleanup(&ctl);
    curl_global_cleanup();
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "jpkictl: %s: cannot write the output\n", name);
        rc = CTL_EXIT_FAILED;
    }
    return rc;
}
