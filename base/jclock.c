/*
 * jclock: see jclock.h. The pinned time is process-wide and set only from main or tests; the
 * environment can pin it only in a build configured with JPKI_TEST_CLOCK (the test builds of
 * scripts/test), never in a release build.
 */
#include "base/jclock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static time_t pinned_now;

time_t jclock_now(void)
{
    return pinned_now != 0 ? pinned_now : time(NULL);
}

void jclock_set(time_t t)
{
    pinned_now = t;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int jclock_parse_date(const char *s, int *y, int *m, int *d)
{
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int yy = atoi(s), mm = atoi(s + 5), dd = atoi(s + 8);
    if (yy < 1 || mm < 1 || mm > 12 || dd < 1 || dd > days_in_month(yy, mm))
        return -1;
    *y = yy;
    *m = mm;
    *d = dd;
    return 0;
}

time_t jclock_utc(int y, int m, int d, int hh, int mm, int ss)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return timegm(&tm);
}

int jclock_from_asn1(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

char *jclock_format(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "?");
    return buf;
}

int jclock_init_from_env(void)
{
    const char *v = getenv("JPKI_FAKE_NOW");
    if (v == NULL || *v == '\0')
        return 0;
#ifndef JPKI_TEST_CLOCK
    /* A release build has no settable clock (issue 11 §3, STYLE): whoever can set a service's
     * environment must not back- or forward-date its certificates, CRLs and OCSP answers. */
    return 1;
#else
    int y, mo, d, hh, mi, ss;
    char date[11];
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &hh, &mi, &ss) == 6) {
        snprintf(date, sizeof(date), "%04d-%02d-%02d", y, mo, d);
        if (jclock_parse_date(date, &y, &mo, &d) == -1 || hh > 23 || mi > 59 || ss > 59)
            return -1;
        jclock_set(jclock_utc(y, mo, d, hh, mi, ss));
        return 0;
    }
    char *end;
    long long secs = strtoll(v, &end, 10);
    if (*end != '\0' || secs <= 0)
        return -1;
    jclock_set((time_t)secs);
    return 0;
#endif
}

time_t jclock_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

long long jclock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double jclock_seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}
