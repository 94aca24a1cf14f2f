/*
 * jclock: the one clock of jpki. Every dated rule (validity, expiry, Juki end date, CRL
 * thisUpdate) asks jclock_now(), so tests can set the time. A process-wide setting, made in
 * main or in a test, never on a hot path.
 */
#ifndef JPKI_JCLOCK_H
#define JPKI_JCLOCK_H

#include <stdbool.h>
#include <time.h>

#include <openssl/asn1.h>

/* Current time in seconds since the epoch (UTC), honouring jclock_set. */
time_t jclock_now(void);

/* Pins the clock to `t` (0 returns to the real clock). */
void jclock_set(time_t t);

/* Test builds only (CMake option JPKI_TEST_CLOCK, which scripts/test turns on): pins the clock
 * to JPKI_FAKE_NOW from the environment (seconds since the epoch, or YYYY-MM-DDTHH:MM:SSZ).
 * Returns 0 (pinned, or the variable unset or empty), -1 when it is not a time, and 1 when it
 * is set in a build without JPKI_TEST_CLOCK: there it is ignored, unparsed, and the clock stays
 * the real one, so that whoever sets a released service's environment cannot move its dates. */
int jclock_init_from_env(void);

/* Parses "YYYY-MM-DD" (a real calendar day) into y/m/d. Returns 0 or -1. */
int jclock_parse_date(const char *s, int *y, int *m, int *d);

/* Seconds since the epoch of y-m-d hh:mm:ss UTC (timegm). */
time_t jclock_utc(int y, int m, int d, int hh, int mm, int ss);

/* An X.509 time (UTCTime or GeneralizedTime) as seconds since the epoch into *out. Returns 0,
 * or -1 (out untouched) when t is NULL or no valid time. */
int jclock_from_asn1(const ASN1_TIME *t, time_t *out);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). Returns buf. */
char *jclock_format(time_t t, char *buf, size_t size);

/* The monotonic clock (CLOCK_MONOTONIC), for durations, timeouts and retry times: never moved
 * by jclock_set or by changes of the wall clock. */
time_t jclock_mono_s(void);
long long jclock_mono_ms(void);
/* Seconds from `start` (taken with clock_gettime(CLOCK_MONOTONIC, ...)) to now. */
double jclock_seconds_since(const struct timespec *start);

#endif
