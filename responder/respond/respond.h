/*
 * respond: `jpkid respond` (DESIGN §13) — a stateless responder. It holds no CA key and no
 * registry (data_dir is never opened, no lock taken): it answers /ocsp (POST, GET), /crl/…,
 * /ca/… from the Redis a CA node publishes to, through serve's server, OCSP endpoints and
 * in-memory cache (server.h, ocsp_http.h over the redissrc.h source, presign.h), plus
 * /healthz, /readyz (redis reachable and a CA set known; each failing check named, 503) and
 * /metrics (serve's metrics and the responder's own: rejected values, Redis up, publication
 * age; public, as there are no operator credentials here).
 *
 * Threads: the caller's thread runs the control loop (signals and the stop, as serve); the
 * server's loops; the workers (cache misses: one Redis connection each); the subscriber
 * (redissub.h). Stop on SIGTERM/SIGINT as serve: listeners closed, SERVICE_GRACE_S for requests
 * in flight.
 */
#ifndef JPKI_RESPOND_H
#define JPKI_RESPOND_H

#include "config/config.h"
#include "base/jerr.h"

/* Runs until a clean stop (0) or fails to start (-1, err filled). */
int respond_run(const struct jpki_config *cfg, struct jerr *err);

#endif
