/*
 * jpki_signrate: signatures per second through the signer module, on whichever key backend
 * the configuration names (keystore.backend file | pkcs11), for scripts/bench/hsm (issue 13):
 * THREADS threads call signer_sign_bytes (what CRLs and OCSP use: SHA-256 RSASSA-PKCS1-v1_5,
 * or ECDSA with the curve's digest when ca.sign.key_algorithm names one) on one key back to
 * back for SECONDS. The key is made for the run: a file-backend key in
 * memory, or a new key in the token (label "jpki bench-<pid> g1", left in the throwaway token).
 *
 *   jpki_signrate SECONDS THREADS [--set key=value ...]
 *
 * Prints "sign backend=B threads=T sessions=S signatures=N seconds=X cpu_s=C per_cpu_s=P rate=R"
 * (R per second of wall-clock time; C the CPU seconds the signing took, P = N / C: the cost
 * side, which other load on the machine leaves alone). The passphrase comes from the configuration
 * (ca_passphrase), the PIN from keystore.pkcs11.pin.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ratetool.h"
#include "config/config.h"
#include "keystore/signer.h"

#define SIGNRATE_MAX_THREADS RATETOOL_MAX_THREADS
#define SIGNRATE_MAX_SETS 32

struct signrate_run {
    const struct signer *signer;
    double deadline;
    atomic_long signatures;
    atomic_int failed;
};

static void *sign_thread(void *arg)
{
    struct signrate_run *run = arg;
    unsigned char tbs[64];
    memset(tbs, 0x5a, sizeof(tbs));
    while (ratetool_mono_s() < run->deadline) {
        struct jerr err = {0};
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        if (signer_sign_bytes(run->signer, tbs, sizeof(tbs), &sig, &sig_len, &err) == -1) {
            fprintf(stderr, "jpki_signrate: %s\n", err.msg);
            atomic_store(&run->failed, 1);
            break;
        }
        OPENSSL_free(sig);
        if (ratetool_mono_s() <= run->deadline)
            atomic_fetch_add(&run->signatures, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *sets[SIGNRATE_MAX_SETS];
    size_t nsets = 0;
    struct signrate_run run = {0};
    struct jerr err = {0};
    double seconds;
    long threads;

    if (argc < 3 || (seconds = atof(argv[1])) <= 0 || (threads = atol(argv[2])) < 1 ||
        threads > SIGNRATE_MAX_THREADS) {
        fprintf(stderr, "usage: jpki_signrate SECONDS THREADS(1..%d) [--set key=value ...]\n",
                SIGNRATE_MAX_THREADS);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--set") != 0 || i + 1 >= argc || nsets == SIGNRATE_MAX_SETS) {
            fprintf(stderr, "jpki_signrate: expected --set key=value\n");
            return 2;
        }
        sets[nsets++] = argv[++i];
    }
    const char *path = getenv("JPKI_CONFIG");
    struct jpki_config *cfg = path != NULL ? config_load(path, sets, nsets, &err)
                                           : config_load_string("-", "{}", 2, sets, nsets, &err);
    char *pass = cfg != NULL ? config_read_passphrase(cfg, &err) : NULL;
    struct signer_store *st = pass != NULL ? signer_store_open(cfg, pass, &err) : NULL;
    struct signer *signer = NULL;
    struct keyalg alg; /* ca.sign.key_algorithm: the bench signs as that CA would */
    if (st != NULL && keyalg_parse(cfg->ca[CA_SIGN].key_algorithm, cfg->ca[CA_SIGN].key_bits,
                                   "ca.sign.key_algorithm", &alg, &err) == 0) {
        if (config_keystore_is_pkcs11(cfg)) {
            char name[64];
            snprintf(name, sizeof(name), "bench-%d", (int)getpid());
            signer = signer_store_create(st, name, &alg, false, &err);
        } else {
            signer = signer_generate(&alg, &err); /* the file backend signs in memory */
        }
    }
    if (signer == NULL) {
        fprintf(stderr, "jpki_signrate: %s\n", err.msg);
        return 1;
    }
    run.signer = signer;
    struct ratetool_times times;
    long started = ratetool_run(sign_thread, &run, threads, seconds, &run.deadline, &times);
    double elapsed = times.wall_s, cpu = times.cpu_s;
    long n = atomic_load(&run.signatures);
    printf("sign backend=%s threads=%ld sessions=%d signatures=%ld seconds=%.2f cpu_s=%.2f "
           "per_cpu_s=%.1f rate=%.1f\n",
           cfg->keystore_backend, threads, cfg->p11_sessions, n, elapsed, cpu,
           cpu > 0 ? (double)n / cpu : 0.0, (double)n / elapsed);
    int rc = atomic_load(&run.failed) || started < threads ? 1 : 0;
    signer_free(signer);
    signer_store_free(st);
    config_passphrase_free(pass);
    config_free(cfg);
    return rc;
}
