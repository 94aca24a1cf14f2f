/*
 * metrics: see metrics.h.
 *
 * One static struct holds every series; one table (`families`) says how each family is named,
 * typed, labelled and where its slots live, and metrics_render walks that table. Adding a
 * family is a new member and a new table row; nothing is registered at run time.
 *
 * Hot-path cost: an OCSP request touches about five relaxed atomic adds (request counter,
 * duration bucket and sum, response counter, pre-signed hit). Histograms keep per-bucket
 * (non-cumulative) counts and an integer sum in microseconds; the rendered _count is the sum of
 * the buckets read, so _count always equals the +Inf bucket even while requests are counted.
 */
#include "responder/monitor/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/model.h"
#include "base/jclock.h"

/* --- label vocabularies: the position of a name is its slot index ----------------------- */

struct label_dim {
    const char *name;
    const char *const *values;
    size_t count;
};

static const char *const endpoint_names[METRICS_EP_COUNT] = {
    "ocsp", "crl", "ca", "fingerprints", "healthz", "readyz", "metrics", "api", "batch", "other",
};

/* HTTP status codes the service answers; anything else is "other" (the last slot). */
static const int known_codes[] = {200, 201, 202, 204, 304, 400, 401, 403, 404,
                                  405, 409, 413, 414, 429, 500, 503};
#define KNOWN_CODE_COUNT (sizeof(known_codes) / sizeof(known_codes[0]))
#define CODE_COUNT (KNOWN_CODE_COUNT + 1)
static const char *const code_names[CODE_COUNT] = {
    "200", "201", "202", "204", "304", "400", "401", "403", "404",   "405",
    "409", "413", "414", "429", "500", "503", "other",
};

/* OCSP requests may name no CA we serve: a third slot after the CA_KIND_COUNT kinds. */
#define OCSP_CA_COUNT (CA_KIND_COUNT + 1)
static const char *const ca_names[OCSP_CA_COUNT] = {"sign", "auth", "none"};

static const char *const ocsp_status_names[METRICS_OCSP_STATUS_COUNT] = {
    "good", "revoked", "unknown", "malformed", "unauthorized", "internal_error", "try_later",
};

/* RFC 5280 §5.3.1 names of the reasons jpki uses (ca/model.h), in slot order. */
static const int reason_codes[] = {
    REASON_UNSPECIFIED, REASON_KEY_COMPROMISE,         REASON_AFFILIATION_CHANGED,
    REASON_SUPERSEDED,  REASON_CESSATION_OF_OPERATION, REASON_CERTIFICATE_HOLD,
};
#define REASON_COUNT (sizeof(reason_codes) / sizeof(reason_codes[0]))
static const char *const reason_names[REASON_COUNT] = {
    "unspecified", "keyCompromise",        "affiliationChanged",
    "superseded",  "cessationOfOperation", "certificateHold",
};

enum { ROWS_DONE = 0, ROWS_FAILED, ROWS_PENDING, ROWS_COUNT };
static const char *const row_state_names[ROWS_COUNT] = {"done", "failed", "pending"};

enum { OUTCOME_OK = 0, OUTCOME_FAILED, OUTCOME_COUNT };
static const char *const outcome_names[OUTCOME_COUNT] = {"ok", "failed"};

static const struct label_dim dim_endpoint = {"endpoint", endpoint_names, METRICS_EP_COUNT};
static const struct label_dim dim_code = {"code", code_names, CODE_COUNT};
static const struct label_dim dim_ca = {"ca", ca_names, CA_KIND_COUNT};
static const struct label_dim dim_ocsp_ca = {"ca", ca_names, OCSP_CA_COUNT};
static const struct label_dim dim_ocsp_status = {"status", ocsp_status_names,
                                                 METRICS_OCSP_STATUS_COUNT};
static const struct label_dim dim_reason = {"reason", reason_names, REASON_COUNT};
static const struct label_dim dim_row_state = {"state", row_state_names, ROWS_COUNT};
static const struct label_dim dim_outcome = {"outcome", outcome_names, OUTCOME_COUNT};

/* --- histogram -------------------------------------------------------------------------- */

/* Upper bounds in microseconds (integers, so an observation of exactly 1 ms lands in
 * le="0.001" without floating-point doubt), and as the exposition writes them. */
static const uint64_t bucket_bounds_us[] = {500,   1000,   2500,   5000,   10000,   25000,
                                            50000, 100000, 250000, 500000, 1000000, 2500000};
#define FINITE_BUCKET_COUNT (sizeof(bucket_bounds_us) / sizeof(bucket_bounds_us[0]))
#define BUCKET_COUNT (FINITE_BUCKET_COUNT + 1) /* + the +Inf bucket */
static const char *const bucket_le[BUCKET_COUNT] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "+Inf",
};

/* Longest duration kept in the sum: a day. Larger (or infinite) observations are clamped so
 * the microsecond sum cannot overflow in practice. */
#define DURATION_MAX_US ((uint64_t)86400 * 1000000)

struct histogram {
    _Atomic uint64_t buckets[BUCKET_COUNT]; /* per bucket, not cumulative */
    _Atomic uint64_t sum_us;
};

/* --- the state -------------------------------------------------------------------------- */

struct crl_gauges {
    _Atomic bool published;
    _Atomic int64_t number;
    _Atomic int64_t this_update;
    _Atomic int64_t bytes;
    _Atomic int64_t entries;
};

static struct metrics_state {
    _Atomic uint64_t http_requests[METRICS_EP_COUNT * CODE_COUNT];
    struct histogram http_duration[METRICS_EP_COUNT];
    _Atomic uint64_t ocsp_responses[OCSP_CA_COUNT * METRICS_OCSP_STATUS_COUNT];
    _Atomic uint64_t presigned_hits[CA_KIND_COUNT];
    _Atomic uint64_t presigned_misses[CA_KIND_COUNT];
    _Atomic uint64_t fresh_signatures[CA_KIND_COUNT];
    struct crl_gauges crl[CA_KIND_COUNT];
    _Atomic int64_t batch_rows[ROWS_COUNT];
    _Atomic uint64_t batches[OUTCOME_COUNT];
    _Atomic int64_t queue_depth;
    _Atomic uint64_t issued[CA_KIND_COUNT];
    _Atomic uint64_t revoked[CA_KIND_COUNT * REASON_COUNT];
    _Atomic uint64_t audit_rows[OUTCOME_COUNT];
    _Atomic int64_t start_time;
    /* publish.redis (DESIGN §13) */
    _Atomic int64_t redis_connected;
    _Atomic int64_t redis_queue_depth;
    _Atomic int64_t redis_lag_ms;
    _Atomic uint64_t redis_errors;
    _Atomic uint64_t redis_written;
    struct histogram redis_revocation;
} state;

/* --- the family table ------------------------------------------------------------------- */

enum family_type { FAMILY_COUNTER, FAMILY_GAUGE, FAMILY_HISTOGRAM };

/* A gauge whose value is computed at render time; returns false to leave the series out. */
typedef bool gauge_fn(size_t slot, int64_t *value);

struct family {
    const char *name;
    const char *help;
    enum family_type type;
    const struct label_dim *dims[2]; /* NULL when unused; slot = i0 * dims[1]->count + i1 */
    _Atomic uint64_t *counters;      /* FAMILY_COUNTER: series shown when non-zero */
    _Atomic int64_t *gauges;         /* FAMILY_GAUGE: every series shown */
    gauge_fn *gauge;                 /* FAMILY_GAUGE alternative to `gauges` */
    struct histogram *histograms;    /* FAMILY_HISTOGRAM: series shown when non-empty */
};

static bool crl_number_value(size_t slot, int64_t *value);
static bool crl_age_value(size_t slot, int64_t *value);
static bool crl_bytes_value(size_t slot, int64_t *value);
static bool crl_entries_value(size_t slot, int64_t *value);
static bool up_value(size_t slot, int64_t *value);

static const struct family families[] = {
    {"jpki_up", "1 while the service runs.", FAMILY_GAUGE, {NULL, NULL}, .gauge = up_value},
    {"jpki_process_start_time_seconds",
     "Start time of the process since the Unix epoch in seconds.",
     FAMILY_GAUGE,
     {NULL, NULL},
     .gauges = &state.start_time},
    {"jpki_http_requests_total",
     "HTTP requests answered, by endpoint and status code.",
     FAMILY_COUNTER,
     {&dim_endpoint, &dim_code},
     .counters = state.http_requests},
    {"jpki_http_request_duration_seconds",
     "Time from request to answer, by endpoint.",
     FAMILY_HISTOGRAM,
     {&dim_endpoint, NULL},
     .histograms = state.http_duration},
    {"jpki_ocsp_responses_total",
     "OCSP responses sent, by CA and certificate or response status.",
     FAMILY_COUNTER,
     {&dim_ocsp_ca, &dim_ocsp_status},
     .counters = state.ocsp_responses},
    {"jpki_ocsp_presigned_hits_total",
     "OCSP requests answered with a pre-signed response.",
     FAMILY_COUNTER,
     {&dim_ca, NULL},
     .counters = state.presigned_hits},
    {"jpki_ocsp_presigned_misses_total",
     "OCSP requests for which no pre-signed response was ready.",
     FAMILY_COUNTER,
     {&dim_ca, NULL},
     .counters = state.presigned_misses},
    {"jpki_ocsp_fresh_signatures_total",
     "OCSP responses signed on demand (nonce or pre-signed miss).",
     FAMILY_COUNTER,
     {&dim_ca, NULL},
     .counters = state.fresh_signatures},
    {"jpki_crl_number",
     "CRL number of the last published CRL.",
     FAMILY_GAUGE,
     {&dim_ca, NULL},
     .gauge = crl_number_value},
    {"jpki_crl_age_seconds",
     "Seconds since the thisUpdate of the last published CRL.",
     FAMILY_GAUGE,
     {&dim_ca, NULL},
     .gauge = crl_age_value},
    {"jpki_crl_size_bytes",
     "DER size of the last published CRL.",
     FAMILY_GAUGE,
     {&dim_ca, NULL},
     .gauge = crl_bytes_value},
    {"jpki_crl_entries",
     "Revoked entries in the last published CRL.",
     FAMILY_GAUGE,
     {&dim_ca, NULL},
     .gauge = crl_entries_value},
    {"jpki_batch_rows",
     "Batch rows by state.",
     FAMILY_GAUGE,
     {&dim_row_state, NULL},
     .gauges = state.batch_rows},
    {"jpki_batches_total",
     "Batches finished, by outcome.",
     FAMILY_COUNTER,
     {&dim_outcome, NULL},
     .counters = state.batches},
    {"jpki_worker_queue_depth",
     "Jobs queued for the worker pool and not yet started.",
     FAMILY_GAUGE,
     {NULL, NULL},
     .gauges = &state.queue_depth},
    {"jpki_certificates_issued_total",
     "Certificates issued, by CA.",
     FAMILY_COUNTER,
     {&dim_ca, NULL},
     .counters = state.issued},
    {"jpki_certificates_revoked_total",
     "Certificates revoked or put on hold, by CA and RFC 5280 reason.",
     FAMILY_COUNTER,
     {&dim_ca, &dim_reason},
     .counters = state.revoked},
    {"jpki_audit_rows_total",
     "Audit log rows written (ok) or that failed to be written.",
     FAMILY_COUNTER,
     {&dim_outcome, NULL},
     .counters = state.audit_rows},
    {"jpki_publish_redis_connected",
     "1 while the publisher to Redis (publish.redis) is connected and authenticated.",
     FAMILY_GAUGE,
     {NULL, NULL},
     .gauges = &state.redis_connected},
    {"jpki_publish_redis_queue_depth",
     "Serials whose OCSP responses the registry holds and Redis does not yet.",
     FAMILY_GAUGE,
     {NULL, NULL},
     .gauges = &state.redis_queue_depth},
    {"jpki_publish_redis_lag_milliseconds",
     "Age of the oldest serial still queued for Redis (0 when none).",
     FAMILY_GAUGE,
     {NULL, NULL},
     .gauges = &state.redis_lag_ms},
    {"jpki_publish_redis_errors_total",
     "Failed connections and writes to Redis.",
     FAMILY_COUNTER,
     {NULL, NULL},
     .counters = &state.redis_errors},
    {"jpki_publish_redis_responses_total",
     "Pre-signed OCSP responses written to Redis.",
     FAMILY_COUNTER,
     {NULL, NULL},
     .counters = &state.redis_written},
    {"jpki_publish_redis_revocation_seconds",
     "From a status change accepted by the API to its response written to Redis.",
     FAMILY_HISTOGRAM,
     {NULL, NULL},
     .histograms = &state.redis_revocation},
};
#define FAMILY_COUNT (sizeof(families) / sizeof(families[0]))

static size_t family_slots(const struct family *f)
{
    size_t n = 1;
    for (size_t d = 0; d < 2; d++)
        if (f->dims[d] != NULL)
            n *= f->dims[d]->count;
    return n;
}

/* --- recording -------------------------------------------------------------------------- */

static void counter_add(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void gauge_set(_Atomic int64_t *g, int64_t v)
{
    atomic_store_explicit(g, v, memory_order_relaxed);
}

static bool ca_is_valid(enum ca_kind ca)
{
    return (int)ca >= 0 && (int)ca < CA_KIND_COUNT;
}

static size_t code_slot(int status_code)
{
    for (size_t i = 0; i < KNOWN_CODE_COUNT; i++)
        if (known_codes[i] == status_code)
            return i;
    return KNOWN_CODE_COUNT; /* "other" */
}

static uint64_t duration_us(double seconds)
{
    /* !(x > 0) also catches NaN. */
    if (!(seconds > 0))
        return 0;
    if (seconds >= (double)DURATION_MAX_US / 1e6)
        return DURATION_MAX_US;
    return (uint64_t)llround(seconds * 1e6);
}

static void histogram_observe(struct histogram *h, uint64_t us)
{
    size_t b = 0;
    while (b < FINITE_BUCKET_COUNT && us > bucket_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void metrics_http(enum metrics_endpoint ep, int status_code, double seconds)
{
    size_t e = ((int)ep >= 0 && (int)ep < METRICS_EP_COUNT) ? (size_t)ep : METRICS_EP_OTHER;
    counter_add(&state.http_requests[e * CODE_COUNT + code_slot(status_code)]);
    histogram_observe(&state.http_duration[e], duration_us(seconds));
}

void metrics_ocsp(int ca, enum metrics_ocsp_status st)
{
    if ((int)st < 0 || (int)st >= METRICS_OCSP_STATUS_COUNT)
        return;
    size_t c = (ca >= 0 && ca < CA_KIND_COUNT) ? (size_t)ca : CA_KIND_COUNT; /* "none" */
    counter_add(&state.ocsp_responses[c * METRICS_OCSP_STATUS_COUNT + (size_t)st]);
}

void metrics_presigned(enum ca_kind ca, bool hit)
{
    if (!ca_is_valid(ca))
        return;
    counter_add(hit ? &state.presigned_hits[ca] : &state.presigned_misses[ca]);
}

void metrics_fresh_signature(enum ca_kind ca)
{
    if (ca_is_valid(ca))
        counter_add(&state.fresh_signatures[ca]);
}

static int64_t size_to_gauge(size_t v)
{
    return v > (size_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

void metrics_crl(enum ca_kind ca, int64_t number, time_t this_update, size_t bytes, size_t entries)
{
    if (!ca_is_valid(ca))
        return;
    struct crl_gauges *g = &state.crl[ca];
    gauge_set(&g->number, number);
    gauge_set(&g->this_update, (int64_t)this_update);
    gauge_set(&g->bytes, size_to_gauge(bytes));
    gauge_set(&g->entries, size_to_gauge(entries));
    /* Release after the values, so a render that sees `published` sees this CRL's values
     * (or a later one's). */
    atomic_store_explicit(&g->published, true, memory_order_release);
}

void metrics_batch_rows(int64_t done, int64_t failed, int64_t pending)
{
    gauge_set(&state.batch_rows[ROWS_DONE], done);
    gauge_set(&state.batch_rows[ROWS_FAILED], failed);
    gauge_set(&state.batch_rows[ROWS_PENDING], pending);
}

void metrics_batch_finished(bool ok)
{
    counter_add(&state.batches[ok ? OUTCOME_OK : OUTCOME_FAILED]);
}

void metrics_queue_depth(int64_t depth)
{
    gauge_set(&state.queue_depth, depth);
}

void metrics_issued(enum ca_kind ca)
{
    if (ca_is_valid(ca))
        counter_add(&state.issued[ca]);
}

void metrics_revoked(enum ca_kind ca, int reason)
{
    if (!ca_is_valid(ca))
        return;
    for (size_t r = 0; r < REASON_COUNT; r++) {
        if (reason_codes[r] == reason) {
            counter_add(&state.revoked[(size_t)ca * REASON_COUNT + r]);
            return;
        }
    }
}

void metrics_publish_redis(bool connected, int64_t queue_depth, int64_t lag_ms)
{
    gauge_set(&state.redis_connected, connected ? 1 : 0);
    gauge_set(&state.redis_queue_depth, queue_depth);
    gauge_set(&state.redis_lag_ms, lag_ms);
}

void metrics_publish_redis_connected(bool connected)
{
    gauge_set(&state.redis_connected, connected ? 1 : 0);
}

void metrics_publish_redis_error(void)
{
    counter_add(&state.redis_errors);
}

void metrics_publish_redis_written(size_t responses)
{
    atomic_fetch_add_explicit(&state.redis_written, responses, memory_order_relaxed);
}

void metrics_publish_redis_revocation(double seconds)
{
    histogram_observe(&state.redis_revocation, duration_us(seconds));
}

void metrics_audit(bool ok)
{
    counter_add(&state.audit_rows[ok ? OUTCOME_OK : OUTCOME_FAILED]);
}

static void zero_counters(_Atomic uint64_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&c[i], 0, memory_order_relaxed);
}

static void zero_gauges(_Atomic int64_t *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&g[i], 0, memory_order_relaxed);
}

void metrics_reset(void)
{
    zero_counters(state.http_requests, METRICS_EP_COUNT * CODE_COUNT);
    for (size_t e = 0; e < METRICS_EP_COUNT; e++) {
        zero_counters(state.http_duration[e].buckets, BUCKET_COUNT);
        atomic_store_explicit(&state.http_duration[e].sum_us, 0, memory_order_relaxed);
    }
    zero_counters(state.ocsp_responses, OCSP_CA_COUNT * METRICS_OCSP_STATUS_COUNT);
    zero_counters(state.presigned_hits, CA_KIND_COUNT);
    zero_counters(state.presigned_misses, CA_KIND_COUNT);
    zero_counters(state.fresh_signatures, CA_KIND_COUNT);
    for (size_t c = 0; c < CA_KIND_COUNT; c++) {
        struct crl_gauges *g = &state.crl[c];
        atomic_store_explicit(&g->published, false, memory_order_relaxed);
        zero_gauges(&g->number, 1);
        zero_gauges(&g->this_update, 1);
        zero_gauges(&g->bytes, 1);
        zero_gauges(&g->entries, 1);
    }
    zero_gauges(state.batch_rows, ROWS_COUNT);
    zero_counters(state.batches, OUTCOME_COUNT);
    zero_gauges(&state.queue_depth, 1);
    zero_counters(state.issued, CA_KIND_COUNT);
    zero_counters(state.revoked, CA_KIND_COUNT * REASON_COUNT);
    zero_counters(state.audit_rows, OUTCOME_COUNT);
    zero_gauges(&state.start_time, 1);
    zero_gauges(&state.redis_connected, 1);
    zero_gauges(&state.redis_queue_depth, 1);
    zero_gauges(&state.redis_lag_ms, 1);
    zero_counters(&state.redis_errors, 1);
    zero_counters(&state.redis_written, 1);
    zero_counters(state.redis_revocation.buckets, BUCKET_COUNT);
    atomic_store_explicit(&state.redis_revocation.sum_us, 0, memory_order_relaxed);
}

void metrics_init(void)
{
    metrics_reset();
    /* Real time, not jclock: a pinned test clock must not move the process start. */
    gauge_set(&state.start_time, (int64_t)time(NULL));
}

const char *metrics_endpoint_name(enum metrics_endpoint ep)
{
    if ((int)ep < 0 || (int)ep >= METRICS_EP_COUNT)
        return endpoint_names[METRICS_EP_OTHER];
    return endpoint_names[ep];
}

/* --- computed gauges -------------------------------------------------------------------- */

static const struct crl_gauges *published_crl(size_t slot)
{
    const struct crl_gauges *g = &state.crl[slot];
    return atomic_load_explicit(&g->published, memory_order_acquire) ? g : NULL;
}

static bool crl_number_value(size_t slot, int64_t *value)
{
    const struct crl_gauges *g = published_crl(slot);
    if (g != NULL)
        *value = atomic_load_explicit(&g->number, memory_order_relaxed);
    return g != NULL;
}

static bool crl_age_value(size_t slot, int64_t *value)
{
    const struct crl_gauges *g = published_crl(slot);
    if (g != NULL)
        *value =
            (int64_t)jclock_now() - atomic_load_explicit(&g->this_update, memory_order_relaxed);
    return g != NULL;
}

static bool crl_bytes_value(size_t slot, int64_t *value)
{
    const struct crl_gauges *g = published_crl(slot);
    if (g != NULL)
        *value = atomic_load_explicit(&g->bytes, memory_order_relaxed);
    return g != NULL;
}

static bool crl_entries_value(size_t slot, int64_t *value)
{
    const struct crl_gauges *g = published_crl(slot);
    if (g != NULL)
        *value = atomic_load_explicit(&g->entries, memory_order_relaxed);
    return g != NULL;
}

static bool up_value(size_t slot, int64_t *value)
{
    *value = 1;
    return true;
}

/* --- rendering -------------------------------------------------------------------------- */

/* A growable text; `failed` latches the first allocation failure so appends need no checks. */
struct text {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

static bool text_reserve(struct text *t, size_t more)
{
    if (t->failed)
        return false;
    if (t->cap - t->len > more)
        return true;
    size_t cap = t->cap == 0 ? 4096 : t->cap;
    while (cap - t->len <= more) {
        if (cap > SIZE_MAX / 2) {
            t->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(t->buf, cap);
    if (p == NULL) {
        t->failed = true;
        return false;
    }
    t->buf = p;
    t->cap = cap;
    return true;
}

static void text_put(struct text *t, const char *s, size_t n)
{
    if (!text_reserve(t, n))
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void text_puts(struct text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
    char line[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Only numbers go through here; they always fit. */
    if (n < 0 || (size_t)n >= sizeof(line)) {
        t->failed = true;
        return;
    }
    text_put(t, line, (size_t)n);
}

/* Exposition format 0.0.4: backslash and newline are escaped in HELP text and label values,
 * the double quote in label values only. Returns the letter after the backslash, or 0 when `c`
 * stays as it is. */
static char escape_letter(char c, bool in_label)
{
    if (c == '\\')
        return '\\';
    if (c == '\n')
        return 'n';
    if (in_label && c == '"')
        return '"';
    return 0;
}

static void text_put_escaped(struct text *t, const char *s, bool in_label)
{
    for (; *s != '\0'; s++) {
        char esc[2] = {'\\', escape_letter(*s, in_label)};
        if (esc[1] != 0)
            text_put(t, esc, 2);
        else
            text_put(t, s, 1);
    }
}

int metrics_escape_label_value(const char *in, char *out, size_t out_size)
{
    size_t o = 0;

    for (; *in != '\0'; in++) {
        char esc = escape_letter(*in, true);
        size_t need = esc != 0 ? 2 : 1;
        if (out_size - o <= need) /* keep room for the NUL */
            goto too_small;
        if (esc != 0) {
            out[o++] = '\\';
            out[o++] = esc;
        } else {
            out[o++] = *in;
        }
    }
    if (o >= out_size)
        goto too_small;
    out[o] = '\0';
    return 0;
too_small:
    if (out_size > 0)
        out[0] = '\0';
    return -1;
}

/* `name{d0="v0",d1="v1",le="x"}` (braces left out when there is no label). */
static void put_series(struct text *t, const char *name, const char *suffix, const struct family *f,
                       size_t slot, const char *le)
{
    size_t idx[2] = {0, 0};
    bool first = true;

    text_puts(t, name);
    text_puts(t, suffix);
    if (f->dims[1] != NULL) {
        idx[0] = slot / f->dims[1]->count;
        idx[1] = slot % f->dims[1]->count;
    } else {
        idx[0] = slot;
    }
    for (size_t d = 0; d < 2; d++) {
        if (f->dims[d] == NULL)
            continue;
        text_puts(t, first ? "{" : ",");
        first = false;
        text_puts(t, f->dims[d]->name);
        text_puts(t, "=\"");
        text_put_escaped(t, f->dims[d]->values[idx[d]], true);
        text_puts(t, "\"");
    }
    if (le != NULL) {
        text_puts(t, first ? "{" : ",");
        first = false;
        text_puts(t, "le=\"");
        text_put_escaped(t, le, true);
        text_puts(t, "\"");
    }
    if (!first)
        text_puts(t, "}");
}

static void render_histogram(struct text *t, const struct family *f, size_t slot)
{
    const struct histogram *h = &f->histograms[slot];
    uint64_t counts[BUCKET_COUNT], total = 0;

    for (size_t b = 0; b < BUCKET_COUNT; b++) {
        counts[b] = atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
        total += counts[b];
    }
    if (total == 0)
        return;
    uint64_t sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < BUCKET_COUNT; b++) {
        cumulative += counts[b];
        put_series(t, f->name, "_bucket", f, slot, bucket_le[b]);
        text_printf(t, " %" PRIu64 "\n", cumulative);
    }
    put_series(t, f->name, "_sum", f, slot, NULL);
    text_printf(t, " %" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000, sum_us % 1000000);
    put_series(t, f->name, "_count", f, slot, NULL);
    text_printf(t, " %" PRIu64 "\n", total);
}

static void render_family(struct text *t, const struct family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};

    text_puts(t, "# HELP ");
    text_puts(t, f->name);
    text_puts(t, " ");
    text_put_escaped(t, f->help, false);
    text_puts(t, "\n# TYPE ");
    text_puts(t, f->name);
    text_puts(t, " ");
    text_puts(t, type_names[f->type]);
    text_puts(t, "\n");

    size_t slots = family_slots(f);
    for (size_t s = 0; s < slots; s++) {
        switch (f->type) {
        case FAMILY_COUNTER: {
            uint64_t v = atomic_load_explicit(&f->counters[s], memory_order_relaxed);
            if (v == 0)
                break;
            put_series(t, f->name, "", f, s, NULL);
            text_printf(t, " %" PRIu64 "\n", v);
            break;
        }
        case FAMILY_GAUGE: {
            int64_t v = 0;
            if (f->gauge != NULL) {
                if (!f->gauge(s, &v))
                    break;
            } else {
                v = atomic_load_explicit(&f->gauges[s], memory_order_relaxed);
            }
            put_series(t, f->name, "", f, s, NULL);
            text_printf(t, " %" PRId64 "\n", v);
            break;
        }
        case FAMILY_HISTOGRAM:
            render_histogram(t, f, s);
            break;
        }
    }
}

char *metrics_render(size_t *len, struct jerr *err)
{
    struct text t = {0};
    char *out = NULL;

    for (size_t i = 0; i < FAMILY_COUNT; i++)
        render_family(&t, &families[i]);
    if (t.failed || t.buf == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory rendering metrics");
        goto out;
    }
    out = t.buf;
    t.buf = NULL;
    if (len != NULL)
        *len = t.len;
out:
    free(t.buf);
    return out;
}
