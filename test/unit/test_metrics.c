/*
 * test_metrics: the metrics registry and its Prometheus text rendering.
 *
 * Values are read back only through metrics_render, the way Prometheus reads them. Besides the
 * Check suite, `test_metrics --dump FILE` writes a rendering with every family touched, for
 * running test/integration/check_metrics.py by hand.
 */
#include "responder/monitor/metrics.h"

#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ca/model.h"
#include "base/jclock.h"
#include "testutil.h"

static char *render(void)
{
    struct jerr err = {0};
    size_t len = 0;
    char *text = metrics_render(&len, &err);
    ck_assert_msg(text != NULL, "metrics_render: %s", err.msg);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_int_eq(err.code, JERR_NONE);
    return text;
}

/* True when `line` (without newline) is one whole line of `text`. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    }
    return false;
}

/* True when some line of `text` starts with `prefix`. */
static bool has_line_prefix(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p += n) {
        if (p == text || p[-1] == '\n')
            return true;
    }
    return false;
}

/* Check cannot carry a message of a whole rendering: on failure the text goes to stderr and the
 * message names the line. */
#define assert_line(text, line)                                                                    \
    do {                                                                                           \
        if (!has_line(text, line))                                                                 \
            fprintf(stderr, "%s", text);                                                           \
        ck_assert_msg(has_line(text, line), "missing line: %s", line);                             \
    } while (0)
#define assert_no_series(text, prefix)                                                             \
    do {                                                                                           \
        if (has_line_prefix(text, prefix))                                                         \
            fprintf(stderr, "%s", text);                                                           \
        ck_assert_msg(!has_line_prefix(text, prefix), "unexpected series %s", prefix);             \
    } while (0)

/* Asserts got == want, naming the first line that differs. */
static void assert_text_eq(const char *got, const char *want)
{
    size_t i = 0, line_start = 0;
    while (got[i] != '\0' && got[i] == want[i]) {
        if (got[i] == '\n')
            line_start = i + 1;
        i++;
    }
    if (got[i] == want[i])
        return;
    fprintf(stderr, "%s", got);
    ck_abort_msg("texts differ at byte %zu, line starting \"%.80s\" (expected \"%.80s\")", i,
                 got + line_start, want + line_start);
}

static void setup(void)
{
    metrics_reset();
    jclock_set(0);
}

/* --- the untouched registry: the exact text ------------------------------------------- */

static const char fresh_text[] =
    "# HELP jpki_up 1 while the service runs.\n"
    "# TYPE jpki_up gauge\n"
    "jpki_up 1\n"
    "# HELP jpki_process_start_time_seconds Start time of the process since the Unix epoch in "
    "seconds.\n"
    "# TYPE jpki_process_start_time_seconds gauge\n"
    "jpki_process_start_time_seconds 0\n"
    "# HELP jpki_http_requests_total HTTP requests answered, by endpoint and status code.\n"
    "# TYPE jpki_http_requests_total counter\n"
    "# HELP jpki_http_request_duration_seconds Time from request to answer, by endpoint.\n"
    "# TYPE jpki_http_request_duration_seconds histogram\n"
    "# HELP jpki_ocsp_responses_total OCSP responses sent, by CA and certificate or response "
    "status.\n"
    "# TYPE jpki_ocsp_responses_total counter\n"
    "# HELP jpki_ocsp_presigned_hits_total OCSP requests answered with a pre-signed response.\n"
    "# TYPE jpki_ocsp_presigned_hits_total counter\n"
    "# HELP jpki_ocsp_presigned_misses_total OCSP requests for which no pre-signed response was "
    "ready.\n"
    "# TYPE jpki_ocsp_presigned_misses_total counter\n"
    "# HELP jpki_ocsp_fresh_signatures_total OCSP responses signed on demand (nonce or "
    "pre-signed miss).\n"
    "# TYPE jpki_ocsp_fresh_signatures_total counter\n"
    "# HELP jpki_crl_number CRL number of the last published CRL.\n"
    "# TYPE jpki_crl_number gauge\n"
    "# HELP jpki_crl_age_seconds Seconds since the thisUpdate of the last published CRL.\n"
    "# TYPE jpki_crl_age_seconds gauge\n"
    "# HELP jpki_crl_size_bytes DER size of the last published CRL.\n"
    "# TYPE jpki_crl_size_bytes gauge\n"
    "# HELP jpki_crl_entries Revoked entries in the last published CRL.\n"
    "# TYPE jpki_crl_entries gauge\n"
    "# HELP jpki_batch_rows Batch rows by state.\n"
    "# TYPE jpki_batch_rows gauge\n"
    "jpki_batch_rows{state=\"done\"} 0\n"
    "jpki_batch_rows{state=\"failed\"} 0\n"
    "jpki_batch_rows{state=\"pending\"} 0\n"
    "# HELP jpki_batches_total Batches finished, by outcome.\n"
    "# TYPE jpki_batches_total counter\n"
    "# HELP jpki_worker_queue_depth Jobs queued for the worker pool and not yet started.\n"
    "# TYPE jpki_worker_queue_depth gauge\n"
    "jpki_worker_queue_depth 0\n"
    "# HELP jpki_certificates_issued_total Certificates issued, by CA.\n"
    "# TYPE jpki_certificates_issued_total counter\n"
    "# HELP jpki_certificates_revoked_total Certificates revoked or put on hold, by CA and RFC "
    "5280 reason.\n"
    "# TYPE jpki_certificates_revoked_total counter\n"
    "# HELP jpki_audit_rows_total Audit log rows written (ok) or that failed to be written.\n"
    "# TYPE jpki_audit_rows_total counter\n"
    "# HELP jpki_publish_redis_connected 1 while the publisher to Redis (publish.redis) is "
    "connected and authenticated.\n"
    "# TYPE jpki_publish_redis_connected gauge\n"
    "jpki_publish_redis_connected 0\n"
    "# HELP jpki_publish_redis_queue_depth Serials whose OCSP responses the registry holds and "
    "Redis does not yet.\n"
    "# TYPE jpki_publish_redis_queue_depth gauge\n"
    "jpki_publish_redis_queue_depth 0\n"
    "# HELP jpki_publish_redis_lag_milliseconds Age of the oldest serial still queued for Redis "
    "(0 when none).\n"
    "# TYPE jpki_publish_redis_lag_milliseconds gauge\n"
    "jpki_publish_redis_lag_milliseconds 0\n"
    "# HELP jpki_publish_redis_errors_total Failed connections and writes to Redis.\n"
    "# TYPE jpki_publish_redis_errors_total counter\n"
    "# HELP jpki_publish_redis_responses_total Pre-signed OCSP responses written to Redis.\n"
    "# TYPE jpki_publish_redis_responses_total counter\n"
    "# HELP jpki_publish_redis_revocation_seconds From a status change accepted by the API to "
    "its response written to Redis.\n"
    "# TYPE jpki_publish_redis_revocation_seconds histogram\n";

START_TEST(test_fresh_render_exact)
{
    struct jerr err = {0};
    char *text = metrics_render(NULL, &err); /* len may be NULL */
    ck_assert_ptr_nonnull(text);
    assert_text_eq(text, fresh_text);
    free(text);
}
END_TEST

/* Touches every family (the same data --dump writes). */
static void touch_everything(void)
{
    metrics_http(METRICS_EP_OCSP, 200, 0.0007);
    metrics_http(METRICS_EP_OCSP, 200, 0.003);
    metrics_http(METRICS_EP_CRL, 404, 0.0001);
    metrics_http(METRICS_EP_API, 409, 0.2);
    metrics_http(METRICS_EP_METRICS, 418, 0.0002);
    metrics_ocsp(CA_SIGN, METRICS_OCSP_GOOD);
    metrics_ocsp(CA_AUTH, METRICS_OCSP_REVOKED);
    metrics_ocsp(METRICS_CA_NONE, METRICS_OCSP_MALFORMED);
    metrics_presigned(CA_SIGN, true);
    metrics_presigned(CA_AUTH, false);
    metrics_fresh_signature(CA_AUTH);
    metrics_crl(CA_SIGN, 42, jclock_now() - 30, 1238, 7);
    metrics_crl(CA_AUTH, 9, jclock_now() - 5, 880, 2);
    metrics_batch_rows(5, 1, 94);
    metrics_batch_finished(true);
    metrics_batch_finished(false);
    metrics_queue_depth(3);
    metrics_issued(CA_SIGN);
    metrics_issued(CA_AUTH);
    metrics_revoked(CA_SIGN, REASON_KEY_COMPROMISE);
    metrics_revoked(CA_AUTH, REASON_CERTIFICATE_HOLD);
    metrics_audit(true);
    metrics_audit(false);
    metrics_publish_redis(true, 12, 340);
    metrics_publish_redis_error();
    metrics_publish_redis_written(4);
    metrics_publish_redis_revocation(0.02);
}

START_TEST(test_reset_and_init)
{
    touch_everything();
    metrics_reset();
    char *text = render();
    assert_text_eq(text, fresh_text);
    free(text);

    touch_everything();
    time_t before = time(NULL);
    metrics_init();
    time_t after = time(NULL);
    text = render();
    long long start = -1;
    const char *p = strstr(text, "\njpki_process_start_time_seconds ");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "\njpki_process_start_time_seconds %lld\n", &start), 1);
    ck_assert_int_ge(start, (long long)before);
    ck_assert_int_le(start, (long long)after);
    /* init zeroes the rest: no counter series, no CRL gauges. */
    assert_no_series(text, "jpki_http_requests_total{");
    assert_no_series(text, "jpki_crl_number{");
    assert_line(text, "jpki_worker_queue_depth 0");
    free(text);
}
END_TEST

/* --- counters --------------------------------------------------------------------------- */

START_TEST(test_http_requests)
{
    metrics_http(METRICS_EP_OCSP, 200, 0.001);
    metrics_http(METRICS_EP_OCSP, 200, 0.001);
    metrics_http(METRICS_EP_OCSP, 503, 0.001);
    metrics_http(METRICS_EP_CRL, 304, 0.001);
    metrics_http(METRICS_EP_API, 429, 0.001);
    /* Codes outside the fixed set and endpoints out of range count as "other". */
    metrics_http(METRICS_EP_HEALTHZ, 418, 0.001);
    metrics_http(METRICS_EP_HEALTHZ, 0, 0.001);
    metrics_http(METRICS_EP_HEALTHZ, -200, 0.001);
    metrics_http((enum metrics_endpoint)99, 200, 0.001);
    metrics_http((enum metrics_endpoint) - 1, 204, 0.001);

    char *text = render();
    assert_line(text, "jpki_http_requests_total{endpoint=\"ocsp\",code=\"200\"} 2");
    assert_line(text, "jpki_http_requests_total{endpoint=\"ocsp\",code=\"503\"} 1");
    assert_line(text, "jpki_http_requests_total{endpoint=\"crl\",code=\"304\"} 1");
    assert_line(text, "jpki_http_requests_total{endpoint=\"api\",code=\"429\"} 1");
    assert_line(text, "jpki_http_requests_total{endpoint=\"healthz\",code=\"other\"} 3");
    assert_line(text, "jpki_http_requests_total{endpoint=\"other\",code=\"200\"} 1");
    assert_line(text, "jpki_http_requests_total{endpoint=\"other\",code=\"204\"} 1");
    /* Only touched series: 7 lines in all. */
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "\njpki_http_requests_total{")) != NULL; p++)
        lines++;
    ck_assert_int_eq(lines, 7);
    assert_no_series(text, "jpki_http_requests_total{endpoint=\"ocsp\",code=\"404\"}");
    free(text);
}
END_TEST

START_TEST(test_every_known_code)
{
    static const int codes[] = {200, 204, 304, 400, 401, 403, 404,
                                405, 409, 413, 414, 429, 500, 503};
    char line[128];

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        for (size_t k = 0; k <= i; k++)
            metrics_http(METRICS_EP_BATCH, codes[i], 0);
    char *text = render();
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        snprintf(line, sizeof(line), "jpki_http_requests_total{endpoint=\"batch\",code=\"%d\"} %zu",
                 codes[i], i + 1);
        assert_line(text, line);
    }
    assert_no_series(text, "jpki_http_requests_total{endpoint=\"batch\",code=\"other\"}");
    free(text);
}
END_TEST

START_TEST(test_endpoint_names)
{
    static const char *const want[METRICS_EP_COUNT] = {
        "ocsp",   "crl",     "ca",  "fingerprints", "healthz",
        "readyz", "metrics", "api", "batch",        "other",
    };
    char line[128];

    for (int e = 0; e < METRICS_EP_COUNT; e++) {
        ck_assert_str_eq(metrics_endpoint_name((enum metrics_endpoint)e), want[e]);
        metrics_http((enum metrics_endpoint)e, 200, 0);
    }
    ck_assert_str_eq(metrics_endpoint_name((enum metrics_endpoint)METRICS_EP_COUNT), "other");
    ck_assert_str_eq(metrics_endpoint_name((enum metrics_endpoint) - 3), "other");
    char *text = render();
    for (int e = 0; e < METRICS_EP_COUNT; e++) {
        snprintf(line, sizeof(line), "jpki_http_requests_total{endpoint=\"%s\",code=\"200\"} 1",
                 want[e]);
        assert_line(text, line);
    }
    free(text);
}
END_TEST

START_TEST(test_ocsp_counters)
{
    metrics_ocsp(CA_SIGN, METRICS_OCSP_GOOD);
    metrics_ocsp(CA_SIGN, METRICS_OCSP_GOOD);
    metrics_ocsp(CA_SIGN, METRICS_OCSP_REVOKED);
    metrics_ocsp(CA_AUTH, METRICS_OCSP_UNKNOWN);
    metrics_ocsp(CA_AUTH, METRICS_OCSP_TRY_LATER);
    metrics_ocsp(CA_AUTH, METRICS_OCSP_INTERNAL_ERROR);
    metrics_ocsp(METRICS_CA_NONE, METRICS_OCSP_MALFORMED);
    metrics_ocsp(METRICS_CA_NONE, METRICS_OCSP_UNAUTHORIZED);
    metrics_ocsp(7, METRICS_OCSP_UNAUTHORIZED); /* not a CA: "none" */
    /* Out-of-range statuses are ignored. */
    metrics_ocsp(CA_SIGN, (enum metrics_ocsp_status)METRICS_OCSP_STATUS_COUNT);
    metrics_ocsp(CA_SIGN, (enum metrics_ocsp_status) - 1);

    metrics_presigned(CA_SIGN, true);
    metrics_presigned(CA_SIGN, true);
    metrics_presigned(CA_SIGN, false);
    metrics_presigned(CA_AUTH, false);
    metrics_presigned((enum ca_kind)2, true); /* ignored */
    metrics_fresh_signature(CA_AUTH);
    metrics_fresh_signature(CA_AUTH);
    metrics_fresh_signature((enum ca_kind) - 1); /* ignored */

    char *text = render();
    assert_line(text, "jpki_ocsp_responses_total{ca=\"sign\",status=\"good\"} 2");
    assert_line(text, "jpki_ocsp_responses_total{ca=\"sign\",status=\"revoked\"} 1");
    assert_line(text, "jpki_ocsp_responses_total{ca=\"auth\",status=\"unknown\"} 1");
    assert_line(text, "jpki_ocsp_responses_total{ca=\"auth\",status=\"try_later\"} 1");
    assert_line(text, "jpki_ocsp_responses_total{ca=\"auth\",status=\"internal_error\"} 1");
    assert_line(text, "jpki_ocsp_responses_total{ca=\"none\",status=\"malformed\"} 1");
    assert_line(text, "jpki_ocsp_responses_total{ca=\"none\",status=\"unauthorized\"} 2");
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "\njpki_ocsp_responses_total{")) != NULL; p++)
        lines++;
    ck_assert_int_eq(lines, 7);
    assert_line(text, "jpki_ocsp_presigned_hits_total{ca=\"sign\"} 2");
    assert_line(text, "jpki_ocsp_presigned_misses_total{ca=\"sign\"} 1");
    assert_line(text, "jpki_ocsp_presigned_misses_total{ca=\"auth\"} 1");
    assert_no_series(text, "jpki_ocsp_presigned_hits_total{ca=\"auth\"}");
    assert_line(text, "jpki_ocsp_fresh_signatures_total{ca=\"auth\"} 2");
    assert_no_series(text, "jpki_ocsp_fresh_signatures_total{ca=\"sign\"}");
    free(text);
}
END_TEST

START_TEST(test_lifecycle_counters)
{
    metrics_issued(CA_SIGN);
    metrics_issued(CA_SIGN);
    metrics_issued(CA_AUTH);
    metrics_issued((enum ca_kind)5); /* ignored */
    metrics_revoked(CA_SIGN, REASON_UNSPECIFIED);
    metrics_revoked(CA_SIGN, REASON_KEY_COMPROMISE);
    metrics_revoked(CA_SIGN, REASON_KEY_COMPROMISE);
    metrics_revoked(CA_SIGN, REASON_AFFILIATION_CHANGED);
    metrics_revoked(CA_AUTH, REASON_SUPERSEDED);
    metrics_revoked(CA_AUTH, REASON_CESSATION_OF_OPERATION);
    metrics_revoked(CA_AUTH, REASON_CERTIFICATE_HOLD);
    /* Reasons jpki never uses, and bad CAs, are ignored. */
    metrics_revoked(CA_SIGN, REASON_NONE);
    metrics_revoked(CA_SIGN, 2); /* cACompromise */
    metrics_revoked(CA_SIGN, 8); /* removeFromCRL */
    metrics_revoked((enum ca_kind)2, REASON_KEY_COMPROMISE);
    metrics_audit(true);
    metrics_audit(true);
    metrics_audit(false);
    metrics_batch_finished(true);
    metrics_batch_finished(false);
    metrics_batch_finished(false);

    char *text = render();
    assert_line(text, "jpki_certificates_issued_total{ca=\"sign\"} 2");
    assert_line(text, "jpki_certificates_issued_total{ca=\"auth\"} 1");
    assert_line(text, "jpki_certificates_revoked_total{ca=\"sign\",reason=\"unspecified\"} 1");
    assert_line(text, "jpki_certificates_revoked_total{ca=\"sign\",reason=\"keyCompromise\"} 2");
    assert_line(text,
                "jpki_certificates_revoked_total{ca=\"sign\",reason=\"affiliationChanged\"} 1");
    assert_line(text, "jpki_certificates_revoked_total{ca=\"auth\",reason=\"superseded\"} 1");
    assert_line(text,
                "jpki_certificates_revoked_total{ca=\"auth\",reason=\"cessationOfOperation\"} 1");
    assert_line(text, "jpki_certificates_revoked_total{ca=\"auth\",reason=\"certificateHold\"} 1");
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "\njpki_certificates_revoked_total{")) != NULL; p++)
        lines++;
    ck_assert_int_eq(lines, 6);
    assert_line(text, "jpki_audit_rows_total{outcome=\"ok\"} 2");
    assert_line(text, "jpki_audit_rows_total{outcome=\"failed\"} 1");
    assert_line(text, "jpki_batches_total{outcome=\"ok\"} 1");
    assert_line(text, "jpki_batches_total{outcome=\"failed\"} 2");
    free(text);
}
END_TEST

/* --- gauges ----------------------------------------------------------------------------- */

START_TEST(test_gauges)
{
    metrics_batch_rows(5, 1, 94);
    metrics_queue_depth(12);
    char *text = render();
    assert_line(text, "jpki_batch_rows{state=\"done\"} 5");
    assert_line(text, "jpki_batch_rows{state=\"failed\"} 1");
    assert_line(text, "jpki_batch_rows{state=\"pending\"} 94");
    assert_line(text, "jpki_worker_queue_depth 12");
    free(text);

    /* Gauges are set, not added, and may go down (or negative). */
    metrics_batch_rows(100, 0, 0);
    metrics_queue_depth(-1);
    text = render();
    assert_line(text, "jpki_batch_rows{state=\"done\"} 100");
    assert_line(text, "jpki_batch_rows{state=\"failed\"} 0");
    assert_line(text, "jpki_batch_rows{state=\"pending\"} 0");
    assert_line(text, "jpki_worker_queue_depth -1");
    assert_line(text, "jpki_up 1");
    free(text);
}
END_TEST

START_TEST(test_crl_gauges)
{
    time_t now = jclock_utc(2026, 1, 2, 3, 4, 5);
    jclock_set(now);

    metrics_crl(CA_SIGN, 41, now - 600, 49000000, 1000000);
    metrics_crl((enum ca_kind)2, 1, now, 1, 1); /* ignored */
    char *text = render();
    assert_line(text, "jpki_crl_number{ca=\"sign\"} 41");
    assert_line(text, "jpki_crl_age_seconds{ca=\"sign\"} 600");
    assert_line(text, "jpki_crl_size_bytes{ca=\"sign\"} 49000000");
    assert_line(text, "jpki_crl_entries{ca=\"sign\"} 1000000");
    /* No CRL recorded for auth: no series rather than a 56-year age. */
    assert_no_series(text, "jpki_crl_number{ca=\"auth\"}");
    assert_no_series(text, "jpki_crl_age_seconds{ca=\"auth\"}");
    assert_no_series(text, "jpki_crl_size_bytes{ca=\"auth\"}");
    assert_no_series(text, "jpki_crl_entries{ca=\"auth\"}");
    free(text);

    /* Age grows with the clock; a new CRL replaces every value. */
    jclock_set(now + 100);
    text = render();
    assert_line(text, "jpki_crl_age_seconds{ca=\"sign\"} 700");
    free(text);
    metrics_crl(CA_SIGN, 42, now + 90, 1238, 0);
    metrics_crl(CA_AUTH, 7, now + 100, 880, 3);
    text = render();
    assert_line(text, "jpki_crl_number{ca=\"sign\"} 42");
    assert_line(text, "jpki_crl_age_seconds{ca=\"sign\"} 10");
    assert_line(text, "jpki_crl_size_bytes{ca=\"sign\"} 1238");
    assert_line(text, "jpki_crl_entries{ca=\"sign\"} 0");
    assert_line(text, "jpki_crl_number{ca=\"auth\"} 7");
    assert_line(text, "jpki_crl_age_seconds{ca=\"auth\"} 0");
    assert_line(text, "jpki_crl_size_bytes{ca=\"auth\"} 880");
    assert_line(text, "jpki_crl_entries{ca=\"auth\"} 3");
    free(text);
}
END_TEST

/* --- histogram -------------------------------------------------------------------------- */

START_TEST(test_histogram_buckets)
{
    metrics_http(METRICS_EP_OCSP, 200, 0.0005); /* exactly on a bound: le="0.0005" */
    metrics_http(METRICS_EP_OCSP, 200, 0.0007); /* le="0.001" */
    metrics_http(METRICS_EP_OCSP, 200, 0.001);  /* le="0.001" */
    metrics_http(METRICS_EP_OCSP, 200, 0.003);  /* le="0.005" */
    metrics_http(METRICS_EP_OCSP, 404, 0.3);    /* le="0.5", any code */
    metrics_http(METRICS_EP_OCSP, 200, 2.5);    /* le="2.5" */
    metrics_http(METRICS_EP_OCSP, 200, 3.0);    /* +Inf only */
    metrics_http(METRICS_EP_OCSP, 200, -1.0);   /* counted as 0 */
    metrics_http(METRICS_EP_OCSP, 200, NAN);    /* counted as 0 */

    static const char want[] =
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.0005\"} 3\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.001\"} 5\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.0025\"} 5\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.005\"} 6\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.01\"} 6\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.025\"} 6\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.05\"} 6\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.1\"} 6\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.25\"} 6\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.5\"} 7\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"1\"} 7\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"2.5\"} 8\n"
        "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"+Inf\"} 9\n"
        "jpki_http_request_duration_seconds_sum{endpoint=\"ocsp\"} 5.805200\n"
        "jpki_http_request_duration_seconds_count{endpoint=\"ocsp\"} 9\n";
    char *text = render();
    if (strstr(text, want) == NULL)
        fprintf(stderr, "%s", text);
    ck_assert_msg(strstr(text, want) != NULL, "histogram block not found");
    /* Untouched endpoints have no histogram series. */
    assert_no_series(text, "jpki_http_request_duration_seconds_bucket{endpoint=\"crl\"");
    assert_no_series(text, "jpki_http_request_duration_seconds_count{endpoint=\"crl\"");
    free(text);
}
END_TEST

START_TEST(test_histogram_clamps_huge)
{
    metrics_http(METRICS_EP_API, 200, INFINITY);
    metrics_http(METRICS_EP_API, 200, 1e300);
    char *text = render();
    assert_line(text, "jpki_http_request_duration_seconds_bucket{endpoint=\"api\",le=\"2.5\"} 0");
    assert_line(text, "jpki_http_request_duration_seconds_bucket{endpoint=\"api\",le=\"+Inf\"} 2");
    /* Each clamped to a day. */
    assert_line(text, "jpki_http_request_duration_seconds_sum{endpoint=\"api\"} 172800.000000");
    assert_line(text, "jpki_http_request_duration_seconds_count{endpoint=\"api\"} 2");
    free(text);
}
END_TEST

/* --- concurrency ------------------------------------------------------------------------ */

#define THREADS 4
#define PER_THREAD 250000

static pthread_barrier_t start_line;

static void *hammer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line); /* all at once, so the increments really contend */
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_http(METRICS_EP_OCSP, 200, 0.001);
        metrics_ocsp(CA_SIGN, METRICS_OCSP_GOOD);
        metrics_presigned(CA_AUTH, true);
        metrics_revoked(CA_SIGN, REASON_KEY_COMPROMISE);
    }
    return NULL;
}

START_TEST(test_concurrent_increments)
{
    pthread_t th[THREADS];

    ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, NULL), 0);
    /* Rendering while the counters move must be safe (and is checked by TSan/ASan builds). */
    for (int i = 0; i < 5; i++)
        free(render());
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start_line);

    char *text = render();
    assert_line(text, "jpki_http_requests_total{endpoint=\"ocsp\",code=\"200\"} 1000000");
    assert_line(text, "jpki_ocsp_responses_total{ca=\"sign\",status=\"good\"} 1000000");
    assert_line(text, "jpki_ocsp_presigned_hits_total{ca=\"auth\"} 1000000");
    assert_line(text,
                "jpki_certificates_revoked_total{ca=\"sign\",reason=\"keyCompromise\"} 1000000");
    assert_line(text,
                "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.0005\"} 0");
    assert_line(
        text, "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"0.001\"} 1000000");
    assert_line(text,
                "jpki_http_request_duration_seconds_bucket{endpoint=\"ocsp\",le=\"+Inf\"} 1000000");
    assert_line(text, "jpki_http_request_duration_seconds_sum{endpoint=\"ocsp\"} 1000.000000");
    assert_line(text, "jpki_http_request_duration_seconds_count{endpoint=\"ocsp\"} 1000000");
    free(text);
}
END_TEST

/* --- the exposition grammar ------------------------------------------------------------- */

#define NAME_RE "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LABEL_RE "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\""
#define VALUE_RE "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|-Inf|NaN)"

static const char help_re[] = "^# HELP (" NAME_RE ") ([^\\\\]|\\\\[\\\\n])*$";
static const char type_re[] = "^# TYPE (" NAME_RE ") (counter|gauge|histogram|summary|untyped)$";
static const char sample_re[] = "^(" NAME_RE ")(\\{" LABEL_RE "(," LABEL_RE ")*\\})? " VALUE_RE "$";

static bool family_owns(const char *family, const char *type, const char *sample)
{
    size_t n = strlen(family);
    if (n == 0 || strncmp(sample, family, n) != 0)
        return false;
    if (strcmp(type, "histogram") == 0)
        return strcmp(sample + n, "_bucket") == 0 || strcmp(sample + n, "_sum") == 0 ||
               strcmp(sample + n, "_count") == 0;
    return sample[n] == '\0';
}

static void copy_match(char *out, size_t size, const char *line, const regmatch_t *m)
{
    snprintf(out, size, "%.*s", (int)(m->rm_eo - m->rm_so), line + m->rm_so);
}

/* Checks every line of `text` against the 0.0.4 grammar, and that each sample belongs to the
 * family of the TYPE line before it, each HELP is followed by its TYPE and no family repeats.
 * Returns the number of sample lines, or -1 with the first fault in `why`. */
static int grammar_check(const char *text, char *why, size_t why_size)
{
    regex_t help, type, sample;
    regmatch_t mt[3];
    char family[128] = "", family_type[16] = "", pending_help[128] = "", seen[64][128];
    int samples = 0, families = 0, rc = -1;

    ck_assert_int_eq(regcomp(&help, help_re, REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&type, type_re, REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&sample, sample_re, REG_EXTENDED), 0);
    char *copy = strdup(text), *save = NULL;
    ck_assert_ptr_nonnull(copy);

    snprintf(why, why_size, "text does not end in a newline");
    if (text[0] == '\0' || text[strlen(text) - 1] != '\n')
        goto out;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        snprintf(why, why_size, "line: '%s'", line);
        if (regexec(&help, line, 2, mt, 0) == 0) {
            if (pending_help[0] != '\0')
                goto out; /* HELP without its TYPE */
            copy_match(pending_help, sizeof(pending_help), line, &mt[1]);
        } else if (regexec(&type, line, 3, mt, 0) == 0) {
            copy_match(family, sizeof(family), line, &mt[1]);
            copy_match(family_type, sizeof(family_type), line, &mt[2]);
            if (strcmp(pending_help, family) != 0 || families == 64)
                goto out; /* TYPE without (or after another family's) HELP */
            pending_help[0] = '\0';
            for (int i = 0; i < families; i++)
                if (strcmp(seen[i], family) == 0)
                    goto out; /* family repeated */
            snprintf(seen[families++], sizeof(seen[0]), "%s", family);
        } else if (regexec(&sample, line, 2, mt, 0) == 0) {
            char name[128];
            copy_match(name, sizeof(name), line, &mt[1]);
            if (pending_help[0] != '\0' || !family_owns(family, family_type, name))
                goto out; /* sample outside its family */
            samples++;
        } else {
            goto out; /* not in the grammar */
        }
    }
    snprintf(why, why_size, "trailing HELP without TYPE");
    if (pending_help[0] != '\0')
        goto out;
    why[0] = '\0';
    rc = samples;
out:
    free(copy);
    regfree(&help);
    regfree(&type);
    regfree(&sample);
    return rc;
}

/* Asserts `text` is in the grammar with the 24 jpki families; returns the sample count. */
static int check_grammar(const char *text)
{
    char why[512];
    int samples = grammar_check(text, why, sizeof(why));
    ck_assert_msg(samples >= 0, "exposition grammar: %s", why);
    int families = 0;
    for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++)
        families++;
    ck_assert_int_eq(families, 24);
    return samples;
}

START_TEST(test_grammar_every_line)
{
    jclock_set(jclock_utc(2026, 1, 2, 3, 4, 5));
    ck_assert_int_eq(check_grammar(fresh_text), 9);

    touch_everything();
    char *text = render();
    /* 9 gauges always there, 8 CRL gauges, 4 HTTP counters, 5 histograms x 15 lines, 3 OCSP
     * responses, 3 pre-signed/fresh, 2 batches, 2 issued, 2 revoked, 2 audit, 2 Redis. */
    ck_assert_int_eq(check_grammar(text), 9 + 8 + 4 + 5 * 15 + 3 + 3 + 2 + 2 + 2 + 2 + 2);
    free(text);

    /* The checker itself refuses what it should, so the checks above mean something. */
    static const char *const bad[] = {
        "jpki_up 1\n",                                       /* sample before any TYPE */
        "# HELP jpki_up u\n# TYPE jpki_up gauge\njpki_up\n", /* no value */
        "# HELP jpki_up u\n# TYPE jpki_up gauge\njpki_up{a=\"x\"\"} 1\n",  /* bare quote */
        "# HELP jpki_up u\n# TYPE jpki_up gauge\njpki_up{a=\"x\\t\"} 1\n", /* bad escape */
        "# HELP jpki_up u\n# TYPE jpki_up gauge\njpki_up one\n",           /* not a number */
        "# HELP jpki_up u\n# TYPE jpki_up gauge\njpki_upx 1\n",            /* other family */
        "# HELP jpki_up u\n# TYPE jpki_up gauge\n# HELP jpki_up u\n# TYPE jpki_up gauge\n",
        "# HELP jpki_up u\n# TYPE jpki_up gaugex\n",         /* unknown type */
        "# HELP jpki_up u\n",                                /* HELP alone */
        "# HELP jpki_up u\n# TYPE jpki_up gauge\njpki_up 1", /* no final \n */
        "# HELP h u\n# TYPE h histogram\nh 1\n",             /* histogram sample without suffix */
    };
    char why[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(grammar_check(bad[i], why, sizeof(why)) == -1, "accepted: %s", bad[i]);
}
END_TEST

/* --- label escaping --------------------------------------------------------------------- */

START_TEST(test_escape_label_value)
{
    char out[64];

    ck_assert_int_eq(metrics_escape_label_value("sign", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "sign");
    ck_assert_int_eq(metrics_escape_label_value("", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(metrics_escape_label_value("a\\b\"c\nd", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "a\\\\b\\\"c\\nd");
    /* Other bytes (tab, UTF-8) pass unchanged: the format escapes only these three. */
    ck_assert_int_eq(metrics_escape_label_value("t\tq\xe6\x97\xa5", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "t\tq\xe6\x97\xa5");

    /* Exactly fitting, and one byte short (including when the cut falls inside an escape). */
    char small[5];
    ck_assert_int_eq(metrics_escape_label_value("abcd", small, sizeof(small)), 0);
    ck_assert_str_eq(small, "abcd");
    ck_assert_int_eq(metrics_escape_label_value("abcde", small, sizeof(small)), -1);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(metrics_escape_label_value("ab\"", small, sizeof(small)), 0);
    ck_assert_str_eq(small, "ab\\\"");
    ck_assert_int_eq(metrics_escape_label_value("abc\"", small, sizeof(small)), -1);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(metrics_escape_label_value("", small, 0), -1);
    ck_assert_int_eq(metrics_escape_label_value("", small, 1), 0);
    ck_assert_str_eq(small, "");

    /* An escaped value satisfies the label grammar the renderer's output is checked with. */
    regex_t re;
    char line[128];
    ck_assert_int_eq(regcomp(&re, sample_re, REG_EXTENDED), 0);
    ck_assert_int_eq(metrics_escape_label_value("x\"} 1\nevil 2", out, sizeof(out)), 0);
    snprintf(line, sizeof(line), "jpki_x{a=\"%s\"} 1", out);
    ck_assert_int_eq(regexec(&re, line, 0, NULL, 0), 0);
    snprintf(line, sizeof(line), "jpki_x{a=\"%s\"} 1", "x\"} 1");
    ck_assert_int_ne(regexec(&re, line, 0, NULL, 0), 0);
    regfree(&re);
}
END_TEST

/* --- the reference parser --------------------------------------------------------------- */

static int run_checker(const char *path, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/test/integration/check_metrics.py %s %s",
             testutil_source_dir(), path, args);
    int rc = system(cmd);
    ck_assert_msg(rc != -1 && WIFEXITED(rc), "cannot run: %s", cmd);
    return WEXITSTATUS(rc);
}

START_TEST(test_prometheus_client_parses)
{
    char *dir = testutil_mkdtemp();
    char path[512], bad[512];
    snprintf(path, sizeof(path), "%s/metrics.txt", dir);
    snprintf(bad, sizeof(bad), "%s/bad.txt", dir);

    jclock_set(jclock_utc(2026, 1, 2, 3, 4, 5));
    touch_everything();
    size_t len = 0;
    struct jerr err = {0};
    char *text = metrics_render(&len, &err);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(testutil_write_file(path, text, len), 0);
    free(text);

    ck_assert_msg(run_checker("", "2>/dev/null") == 2, "no argument: usage");
    ck_assert_int_eq(run_checker(path, ""), 0);
    ck_assert_int_eq(run_checker(path, "jpki_up jpki_process_start_time_seconds "
                                       "jpki_http_requests_total "
                                       "jpki_http_request_duration_seconds "
                                       "jpki_ocsp_responses_total jpki_crl_age_seconds "
                                       "jpki_certificates_revoked_total jpki_audit_rows_total"),
                     0);
    ck_assert_int_eq(run_checker(path,
                                 "'jpki_http_requests_total{endpoint=\"ocsp\",code=\"200\"}==2' "
                                 "'jpki_http_request_duration_seconds_count{endpoint=\"ocsp\"}>=2' "
                                 "'jpki_crl_age_seconds{ca=\"sign\"}==30' 'jpki_up==1'"),
                     0);
    /* Refusals: a missing family, a missing series, a wrong value. */
    ck_assert_int_eq(run_checker(path, "jpki_nonexistent_total 2>/dev/null"), 1);
    ck_assert_int_eq(
        run_checker(path, "'jpki_http_requests_total{endpoint=\"crl\",code=\"200\"}' 2>/dev/null"),
        1);
    ck_assert_int_eq(run_checker(path, "'jpki_up==2' 2>/dev/null"), 1);
    ck_assert_int_eq(run_checker("/nonexistent/metrics.txt", "2>/dev/null"), 1);

    /* Refusals of the text itself. */
    static const char *const broken[] = {
        "# TYPE jpki_up gauge\njpki_up one\n",      /* not a number */
        "# TYPE jpki_up gauge\njpki_up{a=\"x} 1\n", /* unterminated label */
        "jpki_stray 1\n",                           /* sample outside a family */
        /* a family declared twice */
        "# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 1\n# TYPE a_total counter\n",
        "# TYPE jpki_up gauge\njpki_up 1\njpki_up 2\n", /* series repeated */
        /* buckets not cumulative */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",    /* no +Inf */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", /* _count */
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        ck_assert_int_eq(testutil_write_file(bad, broken[i], strlen(broken[i])), 0);
        ck_assert_msg(run_checker(bad, "2>/dev/null") == 1, "accepted: %s", broken[i]);
    }

    testutil_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fresh_render_exact);
    tcase_add_test(tc, test_reset_and_init);
    tcase_add_test(tc, test_http_requests);
    tcase_add_test(tc, test_every_known_code);
    tcase_add_test(tc, test_endpoint_names);
    tcase_add_test(tc, test_ocsp_counters);
    tcase_add_test(tc, test_lifecycle_counters);
    tcase_add_test(tc, test_gauges);
    tcase_add_test(tc, test_crl_gauges);
    tcase_add_test(tc, test_histogram_buckets);
    tcase_add_test(tc, test_histogram_clamps_huge);
    tcase_add_test(tc, test_concurrent_increments);
    tcase_add_test(tc, test_grammar_every_line);
    tcase_add_test(tc, test_escape_label_value);
    tcase_add_test(tc, test_prometheus_client_parses);
    suite_add_tcase(s, tc);
    return s;
}

/* `test_metrics --dump FILE`: writes the rendering of touch_everything() to FILE. */
static int dump(const char *path)
{
    struct jerr err = {0};
    size_t len = 0;

    metrics_init();
    touch_everything();
    char *text = metrics_render(&len, &err);
    if (text == NULL) {
        fprintf(stderr, "test_metrics: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    int rc = testutil_write_file(path, text, len);
    free(text);
    if (rc == -1) {
        fprintf(stderr, "test_metrics: cannot write %s\n", path);
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--dump") == 0)
        return dump(argv[2]);
    return testutil_run(metrics_suite());
}
