/*
 * rpduty: the relying parties inside jpkid serve (DESIGN §12) — it owns the gate (rpgate.h),
 * the meter (rpmeter.h) and the API's state (rpapi.h), hands them to the OCSP and CRL
 * endpoints, serves the relying-party CA's certificate (/ca/rp.pem) and CRL (/crl/rp.crl),
 * flushes the meter every RPMETER_FLUSH_MS on a worker (and once more at the stop), and
 * publishes the relying-party CRL again when it ages (rpca_crl_is_due).
 *
 * Order (service.c): rpduty_new → rpduty_server_options (before server_new) → rpduty_attach
 * (before api_register and server_start) → rpduty_start (the control loop) … serving …
 * rpduty_final (after workers_shutdown) → rpduty_free (after server_free and api_free).
 */
#ifndef JPKI_RPDUTY_H
#define JPKI_RPDUTY_H

#include "base/jerr.h"
#include "ca/pki.h"
#include "responder/api/api.h"
#include "responder/crl/public.h"
#include "responder/net/server.h"
#include "responder/net/workers.h"
#include "responder/ocsp/ocsp_http.h"

struct rpduty;
struct event_base;

struct rpduty *rpduty_new(struct pki *pki, struct jerr *err);
void rpduty_free(struct rpduty *d); /* NULL is a no-op */

/* The TLS options: client certificates of the relying-party CA are requested and verified,
 * deleted parties' refused in the handshake. */
void rpduty_server_options(struct rpduty *d, struct server_options *opt);

/* Gives the gate and meter to the endpoints and adds the API's endpoints and the CA's routes.
 * Returns 0 or -1. */
int rpduty_attach(struct rpduty *d, struct server *srv, struct api *api, struct ocsp_http *ocsp,
                  struct public *pub, struct jerr *err);

/* With publish.redis (after rpduty_attach): each change of the parties kicks the publisher,
 * and the publisher folds the responders' usage with this node's meter. */
struct redispub;
void rpduty_set_publisher(struct rpduty *d, struct redispub *pub);

/* Starts the flush timer on the control loop. Returns 0 or -1. */
int rpduty_start(struct rpduty *d, struct event_base *control, struct workers_loop *work,
                 struct jerr *err);

/* Stops the timer and flushes what is left (the workers have stopped: on its own registry
 * connection). */
void rpduty_final(struct rpduty *d);

#endif
