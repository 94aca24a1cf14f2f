/*
 * jpki_keygenrate: the machine's RSA key generation rate on all cores, for the issuance
 * benchmark (scripts/bench/issue, DESIGN §8): THREADS threads call keygen_rsa (the function
 * the issuance path uses, keystore/keygen.h) back to back for SECONDS, and the keys finished
 * in that time are counted. `openssl speed` has no key generation test in OpenSSL 3.0.
 *
 *   jpki_keygenrate SECONDS [THREADS (default: online cores)] [BITS (default 2048)]
 *
 * Prints "keygen threads=T bits=B keys=N seconds=S rate=R cpu=C per_cpu_s=P": R in keys per
 * second of wall-clock time, C the CPU seconds the process used (getrusage), P keys per
 * CPU-second — a figure that other work on a shared machine disturbs less than R.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ratetool.h"
#include "keystore/keygen.h"

#define KEYGEN_MAX_THREADS 256

struct keygen_run {
    int bits;
    double deadline;
    atomic_long keys;
    atomic_int failed;
};

static void *keygen_thread(void *arg)
{
    struct keygen_run *run = arg;
    while (ratetool_mono_s() < run->deadline) {
        struct jerr err = {0};
        EVP_PKEY *key = keygen_rsa(run->bits, &err);
        if (key == NULL) {
            atomic_store(&run->failed, 1);
            break;
        }
        /* Only keys finished before the deadline count. */
        if (ratetool_mono_s() <= run->deadline)
            atomic_fetch_add(&run->keys, 1);
        EVP_PKEY_free(key);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t tids[KEYGEN_MAX_THREADS];
    struct keygen_run run = {.bits = 2048};
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    double seconds;

    if (argc < 2 || argc > 4 || (seconds = atof(argv[1])) <= 0) {
        fprintf(stderr, "usage: jpki_keygenrate SECONDS [THREADS] [BITS]\n");
        return 2;
    }
    if (argc > 2)
        threads = atol(argv[2]);
    if (argc > 3)
        run.bits = atoi(argv[3]);
    if (threads < 1 || threads > KEYGEN_MAX_THREADS) {
        fprintf(stderr, "jpki_keygenrate: THREADS must be 1..%d\n", KEYGEN_MAX_THREADS);
        return 2;
    }
    double start = ratetool_mono_s();
    run.deadline = start + seconds;
    for (long i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, keygen_thread, &run) != 0) {
            fprintf(stderr, "jpki_keygenrate: cannot start thread %ld\n", i);
            return 1;
        }
    }
    for (long i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    if (atomic_load(&run.failed)) {
        fprintf(stderr, "jpki_keygenrate: key generation failed\n");
        return 1;
    }
    long keys = atomic_load(&run.keys);
    struct rusage ru;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    printf("keygen threads=%ld bits=%d keys=%ld seconds=%.2f rate=%.2f cpu=%.2f per_cpu_s=%.2f\n",
           threads, run.bits, keys, seconds, (double)keys / seconds, cpu,
           cpu > 0 ? (double)keys / cpu : 0.0);
    return 0;
}
