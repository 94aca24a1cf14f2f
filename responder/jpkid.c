/*
 * jpkid: the CA service program (DESIGN §2).
 *
 *   jpkid init         -c FILE [--set k=v ...]   key ceremony: both CAs, OCSP signers, registry
 *   jpkid serve        -c FILE [--set k=v ...]   the HTTP(S) service
 *   jpkid respond      -c FILE [--set k=v ...]   a stateless responder on Redis (DESIGN §13)
 *   jpkid crl          -c FILE [--set k=v ...] [--verify]   publish both CAs' CRLs now
 *   jpkid audit-verify -c FILE [--set k=v ...] [--against CHECKPOINT]   the audit hash chain
 *                                                and its signed checkpoints
 *   jpkid rollover     -c FILE [--set k=v ...] --ca sign|auth [--algorithm A]
 *                      [--same-subject | --subject DN] [--validity-years N]
 *                      [--validity-years-minor M]   a CA's next generation (DESIGN §11)
 *
 * Only main prints and exits; everything below returns errors in a struct jerr.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ca/checkpoint.h"
#include "ca/crl.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "config/config.h"
#include "base/datalock.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "ca/rollover.h"
#include "responder/adminsock.h"
#include "responder/cliargs.h"
#include "responder/monitor/metrics.h"
#include "responder/publish/redispub.h"
#include "responder/respond/respond.h"
#include "responder/service.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: jpkid COMMAND [-c FILE] [--set key.path=value ...]\n"
            "\n"
            "commands:\n"
            "  init          create both CAs (keys, roots, OCSP signers), the registry and the\n"
            "                first administrator token; refuses an existing instance\n"
            "  serve         run the service (OCSP, CRLs, CA certificates, operator API)\n"
            "  respond       a stateless responder: OCSP, CRLs and CA certificates answered\n"
            "                from the Redis a CA node publishes to (respond.redis); no key,\n"
            "                no registry, no data directory\n"
            "  crl           publish both CAs' CRLs now and exit (each file is read back and\n"
            "                compared with what was signed; --verify also parses every entry);\n"
            "                a running service is told to serve the new files at once\n"
            "  audit-verify  check the audit log's hash chain and its signed checkpoints; exit 1\n"
            "                at the first broken row, bad signature or row missing under a\n"
            "                checkpoint (--against FILE: also a checkpoint saved elsewhere, by\n"
            "                jpkictl audit checkpoint --out FILE)\n"
            "  rollover      --ca sign|auth [--algorithm rsa2048|rsa3072|ecdsa-p384|ecdsa-p521]\n"
            "                [--same-subject | --subject DN] [--validity-years N]\n"
            "                [--validity-years-minor M]: the CA's next generation (new key,\n"
            "                root, link certificates both ways, OCSP signer; the subscriber\n"
            "                validity it issues for, 1..10 years and under 18, default the\n"
            "                configuration's); a running jpkid serve performs it and issues\n"
            "                from the new generation at once\n"
            "\n"
            "serve and init own the data directory (DATA_DIR/jpkid.lock): a second one refuses,\n"
            "naming the PID of the first.\n"
            "\n"
            "-c FILE defaults to $JPKI_CONFIG; the CA key passphrase comes from the variable or\n"
            "file the configuration names (ca_passphrase.env / ca_passphrase.file).\n");
}

static int fail(const char *cmd, const struct jerr *err)
{
    fprintf(stderr, "jpkid %s: %s\n", cmd, err->msg);
    return 1;
}

static int cmd_init(const struct cliargs *args)
{
    struct jerr err = {0};
    struct pki_init_result res;
    char *pass = NULL;
    struct datalock *lock = NULL;
    int rc = 1;
    struct jpki_config *cfg = cliargs_load_config(args, &err);
    if (cfg == NULL)
        return fail("init", &err);
    pass = config_read_passphrase(cfg, &err);
    /* One process owns a data directory (DESIGN §2): two inits, or an init beside a running
     * service, must not write the same files. */
    if (pass == NULL || fsutil_mkdirs(cfg->data_dir, 0755, &err) == -1 ||
        (lock = datalock_own(cfg->data_dir, "init", &err)) == NULL ||
        pki_init(cfg, pass, &res, &err) == -1) {
        fail("init", &err);
        goto out;
    }
    printf("jpki instance created in %s\n", cfg->data_dir);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        printf("%s CA root SHA-256 fingerprint: %s\n", ca_kind_name((enum ca_kind)ca),
               res.fingerprint[ca]);
    printf("audit key SHA-256 fingerprint: %s\n", res.audit_fingerprint);
    printf("first administrator token: %s (mode 0600; it can create operator credentials)\n",
           res.admin_token_path);
    rc = 0;
out:
    datalock_release(lock);
    config_passphrase_free(pass);
    config_free(cfg);
    return rc;
}

/* A running service serves the new CRLs at once when told (SIGUSR1, service.h); without it,
 * at its next check of the files. Only a `jpkid serve` holding the data directory is told. */
static void tell_service(const struct jpki_config *cfg)
{
    pid_t pid;
    char command[32];
    if (datalock_owner(cfg->data_dir, &pid, command, sizeof(command)) != 1 || pid <= 0 ||
        strcmp(command, "serve") != 0)
        return;
    if (kill(pid, SIGUSR1) == 0)
        printf("jpkid serve (PID %ld) told to serve the new CRLs\n", (long)pid);
    else
        fprintf(stderr, "jpkid crl: cannot tell jpkid serve (PID %ld) about the new CRLs: %s\n",
                (long)pid, strerror(errno));
}

static int cmd_crl(const struct cliargs *args)
{
    struct jerr err = {0};
    struct jpki_config *cfg = NULL;
    struct store *st = NULL;
    int rc = 1;
    /* Only the CA keys: a CRL needs no OCSP signer and no card key. */
    struct pki *pki = cliargs_open_pki(args, PKI_KEYS_CA, &cfg, &err);
    if (pki == NULL)
        return fail("crl", &err);
    st = pki_store_open(pki, &err);
    if (st == NULL)
        goto out;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        struct crl_info info;
        char path[PATH_MAX];
        /* How long publishing took — what the running service spends per CRL, its keys
         * already decrypted — is said beside the count (scripts/bench/crl reports both). */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (crl_publish(pki, st, (enum ca_kind)ca, jclock_now(), &info, &err) == -1)
            goto out;
        double seconds = jclock_seconds_since(&t0);
        /* --verify: an auditor's check of the published file, structure and every entry. */
        if (args->verify &&
            (crl_path(cfg, (enum ca_kind)ca, -1, path, sizeof(path)) == NULL ||
             crl_verify_file(path, pki_gen(pki, (enum ca_kind)ca, 1)->root, &info, &err) == -1))
            goto out;
        printf("%s CRL #%lld published: %zu entries, %zu bytes in %.3f s\n",
               ca_kind_name((enum ca_kind)ca), (long long)info.number, info.entries,
               info.der_size, seconds);
        /* RFC 5280 §5.2.4: the delta follows, numbered after the complete CRL. */
        if (cfg->crl_delta_period_s > 0) {
            if (crl_publish_delta(pki, st, (enum ca_kind)ca, jclock_now(), &info, &err) == -1)
                goto out;
            printf("%s delta CRL #%lld published: %zu entries, %zu bytes\n",
                   ca_kind_name((enum ca_kind)ca), (long long)info.number, info.entries,
                   info.der_size);
        }
    }
    tell_service(cfg);
    rc = 0;
out:
    if (rc != 0)
        fail("crl", &err);
    store_close(st);
    pki_free(pki);
    config_free(cfg);
    return rc;
}

/* Reads the --against file: a checkpoint an auditor saved outside the registry. */
static int read_against(const char *path, unsigned char **der, size_t *der_len, struct jerr *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;

    if (fsutil_read_file(path, 4 * CHECKPOINT_DER_MAX, &data, &len, err) == -1)
        return -1;
    rc = checkpoint_decode_file(data, len, der, der_len, err);
    free(data);
    return rc;
}

static int cmd_audit_verify(const struct cliargs *args)
{
    struct jerr err = {0}, key_err = {0};
    struct store *st = NULL;
    EVP_PKEY *pub = NULL;
    struct checkpoint_report rep = {0};
    unsigned char *against = NULL;
    size_t against_len = 0;
    char path[PATH_MAX], fp[96];
    int64_t bad_seq = 0, rows = 0;
    int rc = 1;
    /* Auditors need no passphrase: the registry and the audit public key are enough. */
    struct jpki_config *cfg = cliargs_load_config(args, &err);
    if (cfg == NULL)
        return fail("audit-verify", &err);
    if (args->against != NULL && read_against(args->against, &against, &against_len, &err) == -1)
        goto out;
    config_path(cfg, "jpki.db", path, sizeof(path));
    st = store_open(path, false, &err);
    if (st == NULL)
        goto out;
    pub = pki_audit_public_key(cfg, &key_err);
    if (pub == NULL) {
        if (key_err.code != JERR_NOT_FOUND || against != NULL) {
            err = key_err;
            goto out;
        }
        /* An instance that has never served since checkpoints exist: the chain alone. */
        if (store_audit_verify(st, &bad_seq, &rows, &err) == -1)
            goto out;
        printf("audit chain intact: %lld rows (no audit key yet: no checkpoint to check "
               "against; truncation is not detectable)\n",
               (long long)rows);
        rc = 0;
        goto out;
    }
    if (checkpoint_verify_registry(st, pub, against, against_len, &rep, &err) == -1 ||
        checkpoint_key_fingerprint(pub, fp, &err) == -1)
        goto out;
    /* pki_init writes the first checkpoint: an instance with an audit key and none at all
     * had its checkpoints removed. */
    if (rep.checkpoints == 0) {
        jerr_set(&err, JERR_IO, "checkpoint",
                 "the registry holds no audit checkpoint although the instance has an audit "
                 "key: the checkpoints were removed");
        goto out;
    }
    char when[32];
    time_t t = (time_t)rep.covered_at;
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    printf("audit chain intact: %lld rows; %zu signed checkpoint(s) verified, the newest covers "
           "%lld rows (signed %s)%s\n",
           (long long)rep.rows, rep.checkpoints, (long long)rep.covered_rows, when,
           args->against != NULL ? ", including the one given with --against" : "");
    if (rep.rows > rep.covered_rows)
        printf("%lld row(s) after the newest checkpoint are not signed yet\n",
               (long long)(rep.rows - rep.covered_rows));
    printf("audit key SHA-256 fingerprint: %s\n", fp);
    rc = 0;
out:
    if (rc != 0 && (bad_seq > 0 || rep.bad_seq > 0))
        fprintf(stderr, "jpkid audit-verify: audit chain broken at row %lld: %s\n",
                (long long)(bad_seq > 0 ? bad_seq : rep.bad_seq), err.msg);
    else if (rc != 0)
        fprintf(stderr, "jpkid audit-verify: %s\n", err.msg);
    free(against);
    EVP_PKEY_free(pub);
    store_close(st);
    config_free(cfg);
    return rc;
}

static void print_rollover(const struct rollover_result *res, const char *ca, bool by_service)
{
    printf("%s CA: generation %d (%s) %s\n", ca, res->generation, res->algorithm,
           by_service ? "made by the running jpkid serve, issuing now" : "made; it issues from now");
    printf("root SHA-256 fingerprint: %s\n", res->fingerprint);
    printf("subject: %s\nvalid until: %s\n", res->subject, res->not_after);
    printf("subscriber validity: %d years (%d under 18)\n", res->validity_years,
           res->validity_years_minor);
    printf("published: /ca/%s/%d.cer, /ca/%s/links/%d-%d.cer, /ca/%s/links/%d-%d.cer, "
           "/crl/%s/g%d.crl\n",
           ca, res->generation, ca, res->generation - 1, res->generation, ca, res->generation,
           res->generation - 1, ca, res->generation);
    if (res->warning[0] != '\0')
        fprintf(stderr, "jpkid rollover: warning: %s\n", res->warning);
}

/* A --validity-years value: 1..ROLLOVER_VALIDITY_YEARS_MAX (NULL: 0, the configuration's). */
static int years_arg(const char *option, const char *text, int *out, struct jerr *err)
{
    char *end = NULL;
    *out = 0;
    if (text == NULL)
        return 0;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > ROLLOVER_VALIDITY_YEARS_MAX)
        return jerr_set(err, JERR_INVALID, option, "%s: a number of years from 1 to %d", option,
                        ROLLOVER_VALIDITY_YEARS_MAX);
    *out = (int)v;
    return 0;
}

/* The key ceremony of a CA's next generation (ca/rollover.h): handed to the running service
 * over its admin socket, or done here under the owner lock when none runs. */
static int cmd_rollover(const struct cliargs *args)
{
    struct jerr err = {0};
    struct rollover_request req;
    struct rollover_result res;
    struct datalock *lock = NULL;
    struct pki *pki = NULL;
    char *pass = NULL, command[32];
    struct keyalg alg;
    int rc = 1;
    pid_t pid = 0;

    memset(&req, 0, sizeof(req));
    struct jpki_config *cfg = cliargs_load_config(args, &err);
    if (cfg == NULL)
        return fail("rollover", &err);
    if (args->ca == NULL || ca_kind_parse(args->ca, &req.ca) == -1) {
        jerr_set(&err, JERR_INVALID, "--ca", "--ca sign or --ca auth is required");
        goto out;
    }
    if (args->same_subject && args->subject != NULL) {
        jerr_set(&err, JERR_INVALID, "--subject", "--same-subject and --subject exclude each other");
        goto out;
    }
    if ((args->algorithm != NULL && strlen(args->algorithm) >= sizeof(req.algorithm)) ||
        (args->subject != NULL && strlen(args->subject) >= sizeof(req.subject))) {
        jerr_set(&err, JERR_INVALID, args->subject != NULL ? "--subject" : "--algorithm",
                 "value too long");
        goto out;
    }
    if (years_arg("--validity-years", args->validity_years, &req.validity_years, &err) == -1 ||
        years_arg("--validity-years-minor", args->validity_years_minor, &req.validity_years_minor,
                  &err) == -1)
        goto out;
    snprintf(req.algorithm, sizeof(req.algorithm), "%s", args->algorithm ? args->algorithm : "");
    snprintf(req.subject, sizeof(req.subject), "%s", args->subject ? args->subject : "");
    /* A bad algorithm is refused here, before anyone is asked. */
    if (rollover_algorithm_parse(cfg, req.ca, req.algorithm, &alg, &err) == -1)
        goto out;
    /* The data directory has one owner: a running service performs the ceremony itself. */
    if (datalock_owner(cfg->data_dir, &pid, command, sizeof(command)) == 1 &&
        strcmp(command, "serve") == 0) {
        if (adminsock_rollover(cfg, &req, 600, &res, &err) == -1)
            goto out;
        print_rollover(&res, args->ca, true);
        rc = 0;
        goto out;
    }
    snprintf(req.actor, sizeof(req.actor), "jpkid-rollover uid=%u", (unsigned)getuid());
    if ((lock = datalock_own(cfg->data_dir, "rollover", &err)) == NULL ||
        (pass = config_read_passphrase(cfg, &err)) == NULL ||
        (pki = pki_open_keys(cfg, pass, PKI_KEYS_ALL, &err)) == NULL ||
        rollover_run(pki, &req, &res, &err) == -1)
        goto out;
    print_rollover(&res, args->ca, false);
    rc = 0;
out:
    if (rc != 0)
        fail("rollover", &err);
    config_passphrase_free(pass);
    pki_free(pki);
    datalock_release(lock);
    config_free(cfg);
    return rc;
}

static int cmd_serve(const struct cliargs *args)
{
    struct jerr err = {0};
    struct datalock *lock = NULL;
    struct pki *pki = NULL;
    char *pass = NULL;
    int rc = 1;
    /* `jpkid crl` may send SIGUSR1 as soon as the lock names this process; until the service
     * handles it, it must not end the process (its default action). */
    signal(SIGUSR1, SIG_IGN);
    struct jpki_config *cfg = cliargs_load_config(args, &err);
    if (cfg == NULL)
        return fail("serve", &err);
    if (redispub_check_config(cfg, &err) == -1) { /* DESIGN §13: before any key is unlocked */
        config_free(cfg);
        return fail("serve", &err);
    }
    /* One process owns a data directory (DESIGN §2): the lock comes before anything in it is
     * read or written, and is held until the process ends. */
    if ((lock = datalock_own(cfg->data_dir, "serve", &err)) == NULL ||
        (pass = config_read_passphrase(cfg, &err)) == NULL ||
        (pki = pki_open_keys(cfg, pass, PKI_KEYS_ALL, &err)) == NULL) {
        fail("serve", &err);
        goto out;
    }
    config_passphrase_free(pass);
    pass = NULL;
    metrics_init();
    rc = service_run(cfg, pki, &err) == -1 ? fail("serve", &err) : 0;
out:
    config_passphrase_free(pass);
    pki_free(pki);
    datalock_release(lock);
    config_free(cfg);
    return rc;
}

/* No lock, no passphrase, no data directory: everything comes from Redis. */
static int cmd_respond(const struct cliargs *args)
{
    struct jerr err = {0};
    struct jpki_config *cfg = cliargs_load_config(args, &err);
    if (cfg == NULL)
        return fail("respond", &err);
    metrics_init();
    int rc = respond_run(cfg, &err) == -1 ? fail("respond", &err) : 0;
    config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    /* Keys live in this process: no core dumps (they would hold them in the clear). */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    struct cliargs args;
    struct jerr err = {0};
    if (cliargs_parse(argc, argv, 2, &args, &err) == -1) {
        fprintf(stderr, "jpkid %s: %s\n", cmd, err.msg);
        return 2;
    }
    if (args.help) {
        usage(stdout);
        return 0;
    }
    if (args.positional_count > 0) {
        fprintf(stderr, "jpkid %s: unexpected argument '%s'\n", cmd, args.positional[0]);
        return 2;
    }
    int fake_clock = jclock_init_from_env();
    if (fake_clock == -1) {
        fprintf(stderr, "jpkid: JPKI_FAKE_NOW is not a time\n");
        return 2;
    }
    if (fake_clock == 1)
        fprintf(stderr, "jpkid: JPKI_FAKE_NOW ignored: this build has no test clock "
                        "(JPKI_TEST_CLOCK is off); using the system clock\n");
    if (strcmp(cmd, "init") == 0)
        return cmd_init(&args);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&args);
    if (strcmp(cmd, "respond") == 0)
        return cmd_respond(&args);
    if (strcmp(cmd, "crl") == 0)
        return cmd_crl(&args);
    if (strcmp(cmd, "audit-verify") == 0)
        return cmd_audit_verify(&args);
    if (strcmp(cmd, "rollover") == 0)
        return cmd_rollover(&args);
    fprintf(stderr, "jpkid: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
