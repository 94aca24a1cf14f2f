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
#include "ca/model.h"
#include "ca/rp.h"
#include "ca/statusq.h"

#define event rpmeter_event

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
    struct statusq *audit; /* NULL: none */
    pthread_mutex_t write_lock; /* rpmeter_write: the flush and the CA node's fold */
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
    pthread_mutex_init(&m->write_lock, NULL);
    atomic_init(&m->lost, 0);
    if (audit_dir != NULL && (m->audit = statusq_open(audit_dir, err)) == NULL) {
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
    pthread_mutex_destroy(&m->write_lock);
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

int rpmeter_flush_to(struct rpmeter *m, rpmeter_sink_fn *sink, void *arg, struct jerr *err)
{
    struct event *ev = NULL;
    size_t n = 0;
    take_events(m, &ev, &n);
    /* /metrics counts this process's own answers (not those a CA node folds in) */
    pthread_mutex_lock(&m->totals_lock);
    for (size_t i = 0; i < n; i++)
        if (is_billed(&ev[i]))
            add_total(m, &ev[i]);
    pthread_mutex_unlock(&m->totals_lock);
    int ret = n > 0 ? sink(arg, ev, n, err) : 0;
    if (ret == -1)
        atomic_fetch_add(&m->lost, n);
    free(ev);
    return ret;
}

struct write_to {
    struct rpmeter *m;
    struct store *st;
};

static int write_sink(void *arg, const struct event *ev, size_t n, struct jerr *err)
{
    struct write_to *w = arg;
    return rpmeter_write(w->m, w->st, ev, n, NULL, err);
}

int rpmeter_flush(struct rpmeter *m, struct store *st, struct jerr *err)
{
    return rpmeter_flush_to(m, write_sink, &(struct write_to){m, st}, err);
}

int rpmeter_write(struct rpmeter *m, struct store *st, const struct event *ev, size_t n,
                  const char *mark, struct jerr *err)
{
    size_t nc = 0, ns = 0;
    struct rp_usage_count *counts = NULL;
    struct rp_cert_seen *seen = NULL;
    struct statusq_row *rows = NULL;
    int ret = -1;

    if (n == 0)
        return 0;
    counts = calloc(n, sizeof(*counts));
    seen = calloc(n, sizeof(*seen));
    rows = calloc(n, sizeof(*rows));
    if (counts == NULL || seen == NULL || rows == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&m->write_lock);
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
    int usage_rc = rp_usage_record(st, counts, nc, seen, ns, mark, err);
    int audit_rc =
        m->audit != NULL ? statusq_append_marked(m->audit, rows, n, mark, &audit_err) : 0;
    pthread_mutex_unlock(&m->write_lock);
    if (usage_rc == 0 && audit_rc == -1)
        *err = audit_err;
    ret = usage_rc == 0 && audit_rc == 0 ? 0 : -1;
out:
    free(counts);
    free(seen);
    free(rows);
    return ret;
}

/* ---- the events as text (jpkid respond → Redis → the CA node) ---- */

char *rpmeter_events_encode(const struct event *ev, size_t n, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%lld %s %d %u %u %s\n", (long long)ev[i].at, ev[i].id, ev[i].ca, ev[i].what,
                ev[i].status, ev[i].serial[0] != '\0' ? ev[i].serial : "-");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static int decode_line(const char *line, struct event *e, struct jerr *err)
{
    char id[JPKI_ID_MAX + 2], serial[JPKI_SERIAL_HEX_MAX + 2];
    long long at;
    int ca, end = 0;
    unsigned what, status;
    struct jerr ignored = {0};
    memset(e, 0, sizeof(*e));
    if (sscanf(line, "%lld %65s %d %u %u %41s%n", &at, id, &ca, &what, &status, serial, &end) !=
            6 ||
        line[end] != '\0' || at <= 0 || ca < 0 || ca >= CA_KIND_COUNT || what > RP_WHAT_CRL ||
        status >= RPMETER_STATUSES || model_check_id("id", id, &ignored) == -1 ||
        (strcmp(serial, "-") != 0 && (strlen(serial) > JPKI_SERIAL_HEX_MAX ||
                                      strspn(serial, "0123456789ABCDEF") != strlen(serial))))
        return jerr_set(err, JERR_INVALID, "rp:usage", "not a metered answer: %.80s", line);
    e->at = at;
    snprintf(e->id, sizeof(e->id), "%s", id);
    if (strcmp(serial, "-") != 0)
        snprintf(e->serial, sizeof(e->serial), "%s", serial);
    e->ca = (int8_t)ca;
    e->what = (uint8_t)what;
    e->status = (uint8_t)status;
    return 0;
}

int rpmeter_events_decode(const char *text, size_t len, struct event **ev, size_t *n,
                          struct jerr *err)
{
    size_t lines = 0, count = 0;
    *ev = NULL;
    *n = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (lines == 0)
        return 0;
    struct event *out = calloc(lines, sizeof(*out));
    if (out == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    size_t start = 0;
    while (start < len && count < lines) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t llen = (size_t)(nl - (text + start));
        char line[160];
        if (llen >= sizeof(line) || memchr(text + start, '\0', llen) != NULL) {
            free(out);
            return jerr_set(err, JERR_INVALID, "rp:usage", "not a metered answer");
        }
        memcpy(line, text + start, llen);
        line[llen] = '\0';
        if (decode_line(line, &out[count], err) == -1) {
            free(out);
            return -1;
        }
        count++;
        start += llen + 1;
    }
    *ev = out;
    *n = count;
    return 0;
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
