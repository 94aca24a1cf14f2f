/*
 * crlsched: see crlsched.h. Plain arithmetic on the struct; the caller's thread only.
 */
#include "responder/crl/crlsched.h"

void crlsched_init(struct crlsched *s, int period_s, int after_change_s, time_t now)
{
    s->period_s = period_s;
    s->after_change_s = after_change_s;
    s->periodic_at = now + period_s;
    s->soon_at = 0;
    s->retry_s = 0;
    s->publish_s = 1; /* a guess until one is measured: few take longer */
}

/* Arms the soon publication at `at` unless one is armed no later: the delay, or -1. */
static long soon_arm(struct crlsched *s, time_t at, time_t now)
{
    if (s->soon_at != 0 && s->soon_at <= at)
        return -1;
    s->soon_at = at;
    return at > now ? (long)(at - now) : 0;
}

long crlsched_changed(struct crlsched *s, time_t now)
{
    if (s->after_change_s <= 0)
        return -1;
    int lead_s = s->after_change_s - s->publish_s;
    return soon_arm(s, now + (lead_s > 0 ? lead_s : 0), now);
}

void crlsched_periodic_fired(struct crlsched *s, time_t now)
{
    s->periodic_at = now + s->period_s;
}

void crlsched_soon_fired(struct crlsched *s)
{
    s->soon_at = 0;
}

long crlsched_published(struct crlsched *s, bool ok, time_t now, long long took_ms)
{
    if (took_ms >= 0)
        s->publish_s = took_ms > 1000 ? (int)((took_ms + 999) / 1000) : 1;
    if (ok) {
        s->retry_s = 0;
        return -1;
    }
    if (s->retry_s == 0)
        s->retry_s = CRLSCHED_RETRY_MIN_S;
    else if ((s->retry_s *= 2) > CRLSCHED_RETRY_MAX_S)
        s->retry_s = CRLSCHED_RETRY_MAX_S;
    return soon_arm(s, now + s->retry_s, now);
}

time_t crlsched_next(const struct crlsched *s)
{
    if (s->soon_at != 0 && s->soon_at < s->periodic_at)
        return s->soon_at;
    return s->periodic_at;
}

long crlsched_max_age(time_t next_publication, time_t next_update, long cap_s, time_t now)
{
    long age = cap_s;
    if (next_publication != 0 && next_publication - now < age)
        age = (long)(next_publication - now);
    if (next_update != 0 && next_update - now < age)
        age = (long)(next_update - now);
    return age > 0 ? age : 0;
}
