/*
 * cliargs: the invocation contract shared by jpkid and the test drivers (DESIGN §2):
 * `-c FILE` (default $JPKI_CONFIG), any number of `--set key.path=value`, and positional
 * arguments left for the subcommand.
 */
#ifndef JPKI_CLIARGS_H
#define JPKI_CLIARGS_H

#include <stddef.h>

#include "ca/pki.h"
#include "config/config.h"
#include "base/jerr.h"

#define CLIARGS_MAX_SETS 64
#define CLIARGS_MAX_POSITIONAL 32

struct cliargs {
    const char *config_path;
    const char *sets[CLIARGS_MAX_SETS];
    size_t set_count;
    const char *positional[CLIARGS_MAX_POSITIONAL];
    size_t positional_count;
    int help;
    int verify; /* --verify (jpkid crl): parse every published CRL back, entry by entry */
    const char *against; /* --against FILE (jpkid audit-verify): a checkpoint kept elsewhere */
    /* jpkid rollover: --ca sign|auth, --algorithm NAME, --subject DN | --same-subject,
     * --validity-years N, --validity-years-minor M (checked by the command) */
    const char *ca, *algorithm, *subject, *validity_years, *validity_years_minor;
    int same_subject;
};

/* Parses argv[first..argc). Returns 0, or -1 with err (unknown option, missing value, too
 * many). A missing -c falls back to $JPKI_CONFIG; neither is an error here (see load). */
int cliargs_parse(int argc, char **argv, int first, struct cliargs *out, struct jerr *err);

/* Loads the configuration named by the arguments (JERR_CONFIG when none is named). */
struct jpki_config *cliargs_load_config(const struct cliargs *args, struct jerr *err);

/* Loads the configuration, reads the passphrase and opens the instance with `keys`
 * (pki_open_keys); on success *cfg_out and the returned pki are the caller's (free pki first,
 * then the config). */
struct pki *cliargs_open_pki(const struct cliargs *args, enum pki_keys keys,
                             struct jpki_config **cfg_out, struct jerr *err);

#endif
