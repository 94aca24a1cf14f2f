/*
 * rpmeter: see rpmeter.h. A loop's record is a copy into its buffer; everything else (days,
 * months, sums, distinct serials, the audit rows) is worked out by the flush, on a worker.
 */
#include "responder/rp/rpmeter.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/jclock.h"
#include "ca/rp.h"
#include "ca/statusq.h"

struct event {
    int64_t at;
    int64_t pk;
    char id[JPKI_ID_MAX + 1];
    char serial[JPKI_SERIAL_HEX_MAX + 1];
    int8_t ca;
    uint8_t what;   /* enum rp_what */
    uint8_t status; /* enum rpmeter_status */
};

struct loop_buf {
    pthread_mutex_t lock;
    struct event *events;
    size_t count, cap;
};

/* A party's answers since start, for /metrics. */
struct party_total {
    char id[JPKI_ID_MAX + 1];
    uint64_t answers[2]; /* by enum rp_what */
};

struct rpmeter {
    int loops;
    struct loop_buf *bufs;
    struct statusq *audit;
    atomic_ullong lost; /* events dropped (buffer full) or whose write failed */
    pthread_mutex_t totals_lock;
    struct party_total *totals;
    size_t total_count, total_cap;
};

static const char *const status_names[RPMETER_STATUSES] = {
    "good", "revoked", "unknown", "unauthorized", "malformed", "tryLater", "internalError", "crl",
};

struct rpmeter *rpmeter_new(int loops, const char *audit_dir, struct jerr *err)
{
    struct rpmeter *m = calloc(1, sizeof(*m));
    if (m == NULL || loops < 1 || (m->bufs = calloc((size_t)loops, sizeof(*m->bufs))) == NULL) {
        free(m);
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    m->loops = loops;
    for (int i = 0; i < loops; i++)
        pthread_mutex_init(&m->bufs[i].lock, NULL);
    pthread_mutex_init(&m->totals_lock, NULL);
    atomic_init(&m->lost, 0);
    if ((m->audit = statusq_open(audit_dir, err)) == NULL) {
        rpmeter_free(m);
        return NULL;
    }
    return m;
}

void rpmeter_free(struct rpmeter *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < m->loops; i++) {
        free(m->bufs[i].events);
        pthread_mutex_destroy(&m->bufs[i].lock);
    }
    free(m->bufs);
    statusq_close(m->audit);
    free(m->totals);
    pthread_mutex_destroy(&m->totals_lock);
    free(m);
}

void rpmeter_record(struct rpmeter *m, int loop, const struct rpgate_who *who, int ca,
                    enum rp_what what, const char *serial, enum rpmeter_status status)
{
    if (m == NULL || who == NULL || who->pk == 0 || loop < 0 || loop >= m->loops ||
        (unsigned)status >= RPMETER_STATUSES)
        return;
    struct loop_buf *b = &m->bufs[loop];
    pthread_mutex_lock(&b->lock);
    if (b->count == b->cap) {
        size_t cap = b->cap == 0 ? 1024 : 2 * b->cap;
        struct event *more =
            cap <= RPMETER_LOOP_MAX_EVENTS ? realloc(b->events, cap * sizeof(*more)) : NULL;
        if (more == NULL) {
            pthread_mutex_unlock(&b->lock);
            atomic_fetch_add(&m->lost, 1);
            return;
        }
        b->events = more;
        b->cap = cap;
    }
    struct event *e = &b->events[b->count++];
    e->at = (int64_t)jclock_now();
    e->pk = who->pk;
    memcpy(e->id, who->id, sizeof(e->id));
    snprintf(e->serial, sizeof(e->serial), "%s", serial != NULL ? serial : "");
    e->ca = (int8_t)ca;
    e->what = (uint8_t)what;
    e->status = (uint8_t)status;
    pthread_mutex_unlock(&b->lock);
}

bool rpmeter_is_pending(struct rpmeter *m)
{
    bool pending = false;
    for (int i = 0; i < m->loops && !pending; i++) {
        pthread_mutex_lock(&m->bufs[i].lock);
        pending = m->bufs[i].count > 0;
        pthread_mutex_unlock(&m->bufs[i].lock);
    }
    return pending;
}

/* ---- the flush ---- */

/* Is this answer a billed call: a certificate status, or a CRL? */
static bool is_billed(const struct event *e)
{
    return e->ca >= 0 && e->ca < CA_KIND_COUNT &&
           (e->status == RPMETER_GOOD || e->status == RPMETER_REVOKED ||
            e->status == RPMETER_UNKNOWN || e->status == RPMETER_CRL);
}

static int count_cmp(const void *a, const void *b)
{
    const struct rp_usage_count *x = a, *y = b;
    if (x->party != y->party)
        return x->party < y->party ? -1 : 1;
    int c = strcmp(x->day, y->day);
    if (c != 0)
        return c;
    if (x->ca != y->ca)
        return x->ca - y->ca;
    return (int)x->what - (int)y->what;
}

static int seen_cmp(const void *a, const void *b)
{
    const struct rp_cert_seen *x = a, *y = b;
    if (x->party != y->party)
        return x->party < y->party ? -1 : 1;
    int c = strcmp(x->month, y->month);
    if (c != 0)
        return c;
    if (x->ca != y->ca)
        return x->ca - y->ca;
    return strcmp(x->serial, y->serial);
}

static void add_total(struct rpmeter *m, const struct event *e)
{
    size_t i;
    for (i = 0; i < m->total_count; i++)
        if (strcmp(m->totals[i].id, e->id) == 0)
            break;
    if (i == m->total_count) {
        if (m->total_count == m->total_cap) {
            size_t cap = m->total_cap == 0 ? 16 : 2 * m->total_cap;
            struct party_total *more = realloc(m->totals, cap * sizeof(*more));
            if (more == NULL)
                return;
            m->totals = more;
            m->total_cap = cap;
        }
        memset(&m->totals[i], 0, sizeof(m->totals[i]));
        memcpy(m->totals[i].id, e->id, sizeof(e->id));
        m->total_count++;
    }
    m->totals[i].answers[e->what == RP_WHAT_CRL ? 1 : 0]++;
}

/* Takes every loop's events into one array (*out, *count; the caller frees it). */
static int take_events(struct rpmeter *m, struct event **out, size_t *count)
{
    size_t total = 0, at = 0;
    struct event *all = NULL;
    struct loop_buf taken[m->loops];

    for (int i = 0; i < m->loops; i++) {
        pthread_mutex_lock(&m->bufs[i].lock);
        taken[i] = m->bufs[i];
        m->bufs[i].events = NULL;
        m->bufs[i].count = m->bufs[i].cap = 0;
        pthread_mutex_unlock(&m->bufs[i].lock);
        total += taken[i].count;
    }
    if (total > 0 && (all = malloc(total * sizeof(*all))) == NULL)
        atomic_fetch_add(&m->lost, total);
    for (int i = 0; i < m->loops; i++) {
        if (all != NULL && taken[i].count > 0)
            memcpy(all + at, taken[i].events, taken[i].count * sizeof(*all));
        at += taken[i].count;
        free(taken[i].events);
    }
    *out = all;
    *count = all != NULL ? total : 0;
    return 0;
}

int rpmeter_flush(struct rpmeter *m, struct store *st, struct jerr *err)
{
    struct event *ev = NULL;
    size_t n = 0, nc = 0, ns = 0;
    struct rp_usage_count *counts = NULL;
    struct rp_cert_seen *seen = NULL;
    struct statusq_row *rows = NULL;
    int ret = -1;

    take_events(m, &ev, &n);
    if (n == 0)
        return 0;
    counts = calloc(n, sizeof(*counts));
    seen = calloc(n, sizeof(*seen));
    rows = calloc(n, sizeof(*rows));
    if (counts == NULL || seen == NULL || rows == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        atomic_fetch_add(&m->lost, n);
        goto out;
    }
    pthread_mutex_lock(&m->totals_lock);
    for (size_t i = 0; i < n; i++) {
        const struct event *e = &ev[i];
        time_t t = (time_t)e->at;
        struct tm tm;
        struct statusq_row *r = &rows[i];
        r->at = e->at;
        memcpy(r->party, e->id, sizeof(r->party));
        r->ca = e->ca;
        memcpy(r->serial, e->serial, sizeof(r->serial));
        snprintf(r->status, sizeof(r->status), "%s", status_names[e->status]);
        if (!is_billed(e) || gmtime_r(&t, &tm) == NULL)
            continue;
        add_total(m, e);
        struct rp_usage_count *c = &counts[nc++];
        c->party = e->pk;
        strftime(c->day, sizeof(c->day), "%Y-%m-%d", &tm);
        c->ca = e->ca;
        c->what = (enum rp_what)e->what;
        c->calls = 1;
        if (e->what == RP_WHAT_OCSP && e->serial[0] != '\0') {
            struct rp_cert_seen *s = &seen[ns++];
            s->party = e->pk;
            strftime(s->month, sizeof(s->month), "%Y-%m", &tm);
            s->ca = e->ca;
            memcpy(s->serial, e->serial, sizeof(s->serial));
        }
    }
    pthread_mutex_unlock(&m->totals_lock);
    /* Sum the calls of one (party, day, CA, kind); keep each certificate once. */
    if (nc > 1)
        qsort(counts, nc, sizeof(*counts), count_cmp);
    size_t k = 0;
    for (size_t i = 0; i < nc; i++) {
        if (k > 0 && count_cmp(&counts[k - 1], &counts[i]) == 0)
            counts[k - 1].calls += counts[i].calls;
        else
            counts[k++] = counts[i];
    }
    nc = k;
    if (ns > 1)
        qsort(seen, ns, sizeof(*seen), seen_cmp);
    k = 0;
    for (size_t i = 0; i < ns; i++)
        if (k == 0 || seen_cmp(&seen[k - 1], &seen[i]) != 0)
            seen[k++] = seen[i];
    ns = k;
    /* Both writes are tried: a failing audit file must not cost the billing, nor the other
     * way round. The first error is reported. */
    struct jerr audit_err = {0};
    int usage_rc = rp_usage_record(st, counts, nc, seen, ns, err);
    int audit_rc = statusq_append(m->audit, rows, n, &audit_err);
    if (usage_rc == -1 || audit_rc == -1)
        atomic_fetch_add(&m->lost, n);
    if (usage_rc == 0 && audit_rc == -1)
        *err = audit_err;
    ret = usage_rc == 0 && audit_rc == 0 ? 0 : -1;
out:
    free(ev);
    free(counts);
    free(seen);
    free(rows);
    return ret;
}

char *rpmeter_metrics_text(void *arg)
{
    struct rpmeter *m = arg;
    static const char *const what_names[2] = {"ocsp", "crl"};
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        return NULL;
    fprintf(f, "# HELP jpki_rp_answers_total Answers given to registered relying parties (as "
               "metered: OCSP statuses and CRLs), by party id.\n"
               "# TYPE jpki_rp_answers_total counter\n");
    pthread_mutex_lock(&m->totals_lock);
    /* Party ids are [A-Za-z0-9._-] (model_check_id): nothing to escape in a label value. */
    for (size_t i = 0; i < m->total_count; i++)
        for (int w = 0; w < 2; w++)
            if (m->totals[i].answers[w] > 0)
                fprintf(f, "jpki_rp_answers_total{party=\"%s\",what=\"%s\"} %" PRIu64 "\n",
                        m->totals[i].id, what_names[w], m->totals[i].answers[w]);
    pthread_mutex_unlock(&m->totals_lock);
    fprintf(f,
            "# HELP jpki_rp_meter_lost_total Metered answers lost (buffer full or a failed "
            "write).\n# TYPE jpki_rp_meter_lost_total counter\njpki_rp_meter_lost_total %llu\n",
            (unsigned long long)atomic_load(&m->lost));
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
