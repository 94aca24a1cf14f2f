/*
 * service: `jpkid serve` (DESIGN §6) — wires the worker pool, the HTTP(S) server and its
 * endpoints, the background duties and the signals, and runs until told to stop.
 *
 * Threads: the caller's thread runs a control loop (signals, the CRL timer); `loops` HTTP loop
 * threads serve requests (server.h); `workers` threads do everything slow (workers.h). The
 * control loop never serves HTTP; it only schedules work and orchestrates the stop.
 *
 * Background duties run on workers, driven by the control loop's timers (crlsched.h): CRLs are
 * published at start when missing or stale (a status change since the last one, or older than
 * crl.period_s), then every crl.period_s, and crl.after_change_s after a status change (one
 * publication for the changes within that window; a change is heard from the OCSP side:
 * ocsp_http_set_status_listener); a failed publication is retried with a growing delay and
 * makes /readyz fail until one succeeds. The public endpoints are told to re-read the files,
 * and when the next publication is due (their max-age).
 * SIGUSR1 tells them too: `jpkid crl` sends it after publishing, so that the next request gets
 * the new files.
 *
 * Stop (SIGTERM or SIGINT): the listeners close, requests in flight get SERVICE_GRACE_S to
 * finish (a second signal cuts it short), the loops stop, queued jobs finish, the workers are
 * joined, and service_run returns 0. SIGPIPE is ignored.
 *
 * Log lines (responder/net/log.h): the bound addresses at start ("listening http=127.0.0.1:8080 …"),
 * the stop, each publication and each error. For scripts and tests, the bound ports are also
 * written to DATA_DIR/run/http.port and DATA_DIR/run/https.port (one decimal line each, removed
 * at stop), so that an instance started on port 0 can be found.
 */
#ifndef JPKI_SERVICE_H
#define JPKI_SERVICE_H

#include "ca/pki.h"
#include "config/config.h"
#include "base/jerr.h"

/* How long requests in flight may take to finish once a stop is asked. */
#define SERVICE_GRACE_S 5

/* Runs the service of `pki` (opened from `cfg`; both stay the caller's) until a clean stop.
 * Returns 0 after SIGTERM/SIGINT, or -1 with err filled when it cannot start (bad listen
 * address, port in use, TLS files, …). */
int service_run(const struct jpki_config *cfg, struct pki *pki, struct jerr *err);

#endif
