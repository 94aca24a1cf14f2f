/*
 * monitor: the monitoring endpoints (DESIGN §6) — /readyz (keys loaded, registry writable, both
 * CRLs within nextUpdate, OCSP signer certificates not near expiry; each failing check named
 * in the body, 503) and /metrics (Prometheus text, see metrics.h; without authentication when
 * service.metrics_public, else any operator's bearer token). /healthz is public.c's.
 * Both answers are computed on a worker: the readiness probe writes to the registry, at most
 * once per MONITOR_PROBE_REUSE_MS (probes meanwhile answer the last write's result).
 */
#ifndef JPKI_MONITOR_H
#define JPKI_MONITOR_H

#include "ca/pki.h"
#include "base/jerr.h"
#include "responder/net/server.h"
#include "responder/net/workers.h"

/* An OCSP signer certificate this close to its end makes /readyz fail. */
#define MONITOR_SIGNER_MIN_LEFT_S (7 * 86400)
/* The registry write of /readyz runs at most once this often; other probes reuse its result. */
#define MONITOR_PROBE_REUSE_MS 1000
/* A probe write still running after this long (a stuck disk) fails /readyz. */
#define MONITOR_PROBE_WAIT_MS 10000

struct monitor;

struct monitor *monitor_new(const struct pki *pki, struct workers *workers, struct jerr *err);
int monitor_register(struct monitor *m, struct server *srv, struct jerr *err);
/* The outcome of the service's last publication of `ca`'s CRLs: `failure` NULL when it
 * succeeded, else why it failed. /readyz fails ("crl.<ca>") from a failure until the next
 * success: the served CRL then misses the changes since. Thread-safe. */
void monitor_crl_published(struct monitor *m, enum ca_kind ca, const struct jerr *failure);
/* /readyz also checks the publication to Redis ("redis": unreachable, refused password,
 * failing writes). `redis` borrowed, outliving m. Before the server starts. */
struct redispub;
void monitor_set_publisher(struct monitor *m, struct redispub *redis);
void monitor_free(struct monitor *m);

#endif
