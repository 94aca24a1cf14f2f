/*
 * cliargs: the `-c FILE` / `--set key=value` command line of jpkid and the test drivers, and
 * the configuration and CA state it opens (see cliargs.h).
 */
#include "responder/cliargs.h"

#include <stdlib.h>
#include <string.h>

int cliargs_parse(int argc, char **argv, int first, struct cliargs *out, struct jerr *err)
{
    memset(out, 0, sizeof(*out));
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (++i >= argc)
                return jerr_set(err, JERR_INVALID, "-c", "%s needs a file", a);
            out->config_path = argv[i];
        } else if (strcmp(a, "--set") == 0) {
            if (++i >= argc)
                return jerr_set(err, JERR_INVALID, "--set", "--set needs key.path=value");
            if (out->set_count == CLIARGS_MAX_SETS)
                return jerr_set(err, JERR_INVALID, "--set", "more than %d --set options",
                                CLIARGS_MAX_SETS);
            out->sets[out->set_count++] = argv[i];
        } else if (strncmp(a, "--set=", 6) == 0) {
            if (out->set_count == CLIARGS_MAX_SETS)
                return jerr_set(err, JERR_INVALID, "--set", "more than %d --set options",
                                CLIARGS_MAX_SETS);
            out->sets[out->set_count++] = a + 6;
        } else if (strcmp(a, "--verify") == 0) {
            out->verify = 1;
        } else if (strcmp(a, "--against") == 0) {
            if (++i >= argc)
                return jerr_set(err, JERR_INVALID, "--against", "--against needs a file");
            out->against = argv[i];
        } else if (strcmp(a, "--ca") == 0 || strcmp(a, "--algorithm") == 0 ||
                   strcmp(a, "--subject") == 0) {
            if (++i >= argc)
                return jerr_set(err, JERR_INVALID, a, "%s needs a value", a);
            *(a[2] == 'c' ? &out->ca : a[2] == 'a' ? &out->algorithm : &out->subject) = argv[i];
        } else if (strcmp(a, "--validity-years") == 0 ||
                   strcmp(a, "--validity-years-minor") == 0) {
            if (++i >= argc)
                return jerr_set(err, JERR_INVALID, a, "%s needs a number of years", a);
            *(a[16] == '\0' ? &out->validity_years : &out->validity_years_minor) = argv[i];
        } else if (strcmp(a, "--same-subject") == 0) {
            out->same_subject = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            out->help = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return jerr_set(err, JERR_INVALID, a, "unknown option %s", a);
        } else {
            if (out->positional_count == CLIARGS_MAX_POSITIONAL)
                return jerr_set(err, JERR_INVALID, a, "too many arguments");
            out->positional[out->positional_count++] = a;
        }
    }
    if (out->config_path == NULL) {
        const char *env = getenv("JPKI_CONFIG");
        if (env != NULL && *env != '\0')
            out->config_path = env;
    }
    return 0;
}

struct jpki_config *cliargs_load_config(const struct cliargs *args, struct jerr *err)
{
    if (args->config_path == NULL) {
        jerr_set(err, JERR_CONFIG, "-c", "no configuration: give -c FILE or set JPKI_CONFIG");
        return NULL;
    }
    return config_load(args->config_path, args->sets, args->set_count, err);
}

struct pki *cliargs_open_pki(const struct cliargs *args, enum pki_keys keys,
                             struct jpki_config **cfg_out, struct jerr *err)
{
    struct pki *pki = NULL;
    char *pass = NULL;
    struct jpki_config *cfg = cliargs_load_config(args, err);
    if (cfg == NULL)
        return NULL;
    pass = config_read_passphrase(cfg, err);
    if (pass != NULL)
        pki = pki_open_keys(cfg, pass, keys, err);
    config_passphrase_free(pass);
    if (pki == NULL) {
        config_free(cfg);
        return NULL;
    }
    *cfg_out = cfg;
    return pki;
}
