/*
 * rpduty: see rpduty.h.
 */
#include "responder/rp/rpduty.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/fsutil.h"
#include "base/jclock.h"
#include "ca/crl_read.h"
#include "ca/rp.h"
#include "ca/rpca.h"
#include "ca/statusq.h"
#include "responder/api/rpapi.h"
#include "responder/monitor/metrics.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/publish/redispub.h"
#include "responder/rp/rpgate.h"
#include "responder/rp/rpmeter.h"

/* The relying-party CA's files are small: a certificate, a CRL of deleted parties. */
#define RPDUTY_FILE_MAX (4 * 1024 * 1024)

struct rpduty {
    struct pki *pki;
    struct rpgate *gate;
    struct rpmeter *meter;
    struct rpapi *api;
    struct workers_loop *work;
    struct event *timer;
    bool flushing;
};

struct rpduty *rpduty_new(struct pki *pki, struct jerr *err)
{
    char dir[PATH_MAX];
    struct rpduty *d = calloc(1, sizeof(*d));
    struct store *st = NULL;
    if (d == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    d->pki = pki;
    if (config_path(pki_config(pki), STATUSQ_DIR, dir, sizeof(dir)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        goto fail;
    }
    if ((st = pki_store_open(pki, err)) == NULL || (d->gate = rpgate_new(pki, st, err)) == NULL ||
        (d->api = rpapi_new(d->gate, dir, err)) == NULL)
        goto fail;
    store_close(st);
    return d;
fail:
    store_close(st);
    rpduty_free(d);
    return NULL;
}

void rpduty_free(struct rpduty *d)
{
    if (d == NULL)
        return;
    metrics_set_section(NULL, NULL);
    if (d->timer != NULL)
        event_free(d->timer);
    rpapi_free(d->api);
    rpmeter_free(d->meter);
    rpgate_free(d->gate);
    free(d);
}

void rpduty_server_options(struct rpduty *d, struct server_options *opt)
{
    struct rpca *ca = pki_get0_rpca(d->pki);
    if (ca == NULL)
        return;
    opt->tls_relying_party_ca = rpca_cert_path(ca);
    opt->cert_refused = rpgate_cert_is_refused;
    opt->cert_refused_arg = d->gate;
}

/* ---- /ca/rp.pem and /crl/rp.crl: read on a worker (they change only on a deletion) ---- */

/* Served with the headers of every other /ca/ and /crl/ file (public.h, and what a responder
 * sends for the same files from Redis): ETag the SHA-256 of the bytes, Last-Modified the CRL's
 * thisUpdate or the certificate's notBefore, a CRL kept by caches at most http.crl_max_age_s
 * and never past its nextUpdate, a 304 to a client whose copy is current. */
struct file_job {
    struct evhttp_request *req;
    const struct jpki_config *cfg;
    bool crl;
    const char *path;
    unsigned char *data;
    size_t len;
    char etag[HTTP_ETAG_MAX];
    time_t last_modified, expires; /* a certificate: its notBefore and notAfter */
    struct jerr err;
};

static void file_run(struct worker *self, void *arg)
{
    struct file_job *j = arg;
    unsigned char md[32];
    (void)self;
    if (fsutil_read_file(j->path, RPDUTY_FILE_MAX, &j->data, &j->len, &j->err) == -1)
        return;
    if (j->crl &&
        crl_read_times(j->data, j->len, j->len, &j->last_modified, &j->expires, &j->err) == -1) {
        free(j->data);
        j->data = NULL;
        return;
    }
    EVP_Digest(j->data, j->len, md, NULL, EVP_sha256(), NULL);
    http_etag_sha256(md, j->etag);
}

static void file_done(void *arg)
{
    struct file_job *j = arg;
    time_t now = jclock_now();
    long max_age = public_file_max_age(j->cfg, j->crl, j->expires, now);
    if (j->data == NULL)
        http_send_jerr(j->req, &j->err);
    else if (!http_answer_if_not_modified(j->req, j->etag, j->last_modified, max_age,
                                          http_stale_if_error(j->expires, now, max_age)))
        http_send_bytes(j->req, 200, j->crl ? "application/pkix-crl" : "application/x-pem-file",
                        j->data, j->len);
    free(j->data);
    free(j);
}

static void file_handler(const struct server_request *sr, void *arg)
{
    struct rpduty *d = arg;
    struct rpca *ca = pki_get0_rpca(d->pki);
    struct jerr err = {0};
    struct file_job *j = calloc(1, sizeof(*j));
    if (j == NULL || ca == NULL) {
        free(j);
        jerr_set(&err, JERR_UNAVAILABLE, NULL, "unavailable");
        http_send_jerr(sr->req, &err);
        return;
    }
    j->req = sr->req;
    j->cfg = pki_config(d->pki);
    j->crl = strcmp(sr->path, "/crl/rp.crl") == 0;
    j->path = j->crl ? rpca_crl_path(ca) : rpca_cert_path(ca);
    if (!j->crl) {
        X509 *cert = rpca_get0_cert(ca);
        jclock_from_asn1(X509_get0_notBefore(cert), &j->last_modified);
        jclock_from_asn1(X509_get0_notAfter(cert), &j->expires);
    }
    if (server_submit(sr, file_run, file_done, j, &err) == -1) {
        free(j);
        http_send_jerr(sr->req, &err);
    }
}

int rpduty_attach(struct rpduty *d, struct server *srv, struct api *api, struct ocsp_http *ocsp,
                  struct public *pub, struct jerr *err)
{
    char dir[PATH_MAX];
    const unsigned get = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD;
    const struct server_route routes[] = {
        {"/ca/rp.pem", false, get, 0, file_handler, d, SERVER_PUBLIC},
        {"/crl/rp.crl", false, get, 0, file_handler, d, SERVER_PUBLIC},
    };
    config_path(pki_config(d->pki), STATUSQ_DIR, dir, sizeof(dir));
    if (rpgate_set_loops(d->gate, server_loop_count(srv), err) == -1 ||
        (d->meter = rpmeter_new(server_loop_count(srv), dir, err)) == NULL ||
        rpapi_add_endpoints(api, d->api, err) == -1)
        return -1;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (server_add_route(srv, &routes[i], err) == -1)
            return -1;
    api_set_relying_parties(api, d->gate); /* linkage (linkapi.h) */
    ocsp_http_set_relying_parties(ocsp, d->gate, d->meter);
    public_set_relying_parties(pub, d->gate, d->meter);
    metrics_set_section(rpmeter_metrics_text, d->meter);
    return 0;
}

void rpduty_set_publisher(struct rpduty *d, struct redispub *pub)
{
    rpapi_set_changed_listener(d->api, redispub_parties_changed, pub);
    redispub_set_meter(pub, d->meter);
}

/* ---- the flush ---- */

static void flush_job(struct worker *self, void *arg)
{
    struct rpduty *d = arg;
    struct jerr err = {0};
    struct store *st = workers_store(self, &err);
    if (st == NULL || rpmeter_flush(d->meter, st, &err) == -1)
        log_error("relying-party metering: %s", err.msg);
    struct rpca *ca = pki_get0_rpca(d->pki);
    struct jerr crl_err = {0};
    if (st != NULL && ca != NULL && rpca_crl_is_due(ca) &&
        rp_crl_publish(d->pki, st, &crl_err) == -1)
        log_error("relying-party CRL: %s", crl_err.msg);
}

static void flush_done(void *arg)
{
    struct rpduty *d = arg;
    d->flushing = false;
}

static void flush_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpduty *d = arg;
    struct jerr err = {0};
    (void)fd;
    (void)what;
    if (d->flushing)
        return;
    if (workers_submit(d->work, flush_job, flush_done, d, &err) == 0)
        d->flushing = true;
}

int rpduty_start(struct rpduty *d, struct event_base *control, struct workers_loop *work,
                 struct jerr *err)
{
    struct timeval period = {RPMETER_FLUSH_MS / 1000, (RPMETER_FLUSH_MS % 1000) * 1000};
    d->work = work;
    d->timer = event_new(control, -1, EV_PERSIST, flush_timer_cb, d);
    if (d->timer == NULL || event_add(d->timer, &period) == -1)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_new failed");
    return 0;
}

void rpduty_final(struct rpduty *d)
{
    struct jerr err = {0};
    if (d == NULL || d->meter == NULL)
        return;
    if (d->timer != NULL)
        event_del(d->timer);
    if (!rpmeter_is_pending(d->meter))
        return;
    struct store *st = pki_store_open(d->pki, &err);
    if (st == NULL || rpmeter_flush(d->meter, st, &err) == -1)
        log_error("relying-party metering at stop: %s", err.msg);
    store_close(st);
}
