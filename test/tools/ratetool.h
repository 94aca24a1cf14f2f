/*
 * ratetool: the two clocks of the rate tools of scripts/bench (jpki_signrate, jpki_p11rate,
 * jpki_keygenrate): wall-clock seconds for the rate, and the process's CPU seconds for the cost
 * per operation, which other load on the machine leaves alone where it moves the rate.
 */
#ifndef JPKI_RATETOOL_H
#define JPKI_RATETOOL_H

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

/* Monotonic wall-clock seconds. */
static inline double ratetool_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds (user + system) the process has used so far. */
static inline double ratetool_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* The most threads ratetool_run starts. */
#define RATETOOL_MAX_THREADS 64

struct ratetool_times {
    double wall_s; /* from the start of the threads to the last one's end */
    double cpu_s;  /* the process's CPU seconds meanwhile */
};

/* Sets *deadline (which `fn` reads) to now + `seconds`, runs `threads` (1..RATETOOL_MAX_THREADS)
 * threads of fn(arg) and waits for them. Returns how many started (fewer: a failure). */
static inline long ratetool_run(void *(*fn)(void *), void *arg, long threads, double seconds,
                                double *deadline, struct ratetool_times *t)
{
    pthread_t tids[RATETOOL_MAX_THREADS];
    double start = ratetool_mono_s(), cpu_start = ratetool_cpu_s();
    long started = 0;
    *deadline = start + seconds;
    for (; started < threads && started < RATETOOL_MAX_THREADS; started++)
        if (pthread_create(&tids[started], NULL, fn, arg) != 0)
            break;
    for (long i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    t->wall_s = ratetool_mono_s() - start;
    t->cpu_s = ratetool_cpu_s() - cpu_start;
    return started;
}

#endif
