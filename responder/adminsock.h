/*
 * adminsock: the local admin socket of a running `jpkid serve` (DESIGN §2, §11). The data
 * directory has one owner (base/datalock.h); a command that must change the instance while
 * the service runs — `jpkid rollover` — hands its request to the owner over
 * DATA_DIR/admin.sock instead of writing beside it. The socket is a Unix stream socket, mode
 * 0600, in the data directory; the service also checks that the peer runs as its own user
 * (SO_PEERCRED). One request per connection, one JSON line each way, carrying only what the
 * ceremony needs:
 *
 *   → {"command":"rollover","ca":"sign","algorithm":"ecdsa-p384","subject":"",
 *      "validity_years":10,"validity_years_minor":5}       (0 or absent: the configuration's)
 *   ← {"ok":true,"generation":2,"algorithm":"ecdsa-p384","sha256":"AB:…","subject":"…",
 *      "not_after":"…","warning":"","validity_years":10,"validity_years_minor":5}
 *   ← {"ok":false,"code":"conflict","field":"generation","error":"…"}
 *
 * The service runs requests one at a time on a thread of their own (a ceremony makes keys:
 * seconds), never on an event loop.
 */
#ifndef JPKI_ADMINSOCK_H
#define JPKI_ADMINSOCK_H

#include "ca/pki.h"
#include "ca/rollover.h"
#include "base/jerr.h"

#define ADMINSOCK_FILE "admin.sock"

struct adminsock;

/* Called on the admin thread after a ceremony committed (the pki has the new generation). */
typedef void (*adminsock_done_fn)(void *arg, const struct rollover_result *res);

/* Listens on DATA_DIR/admin.sock (a stale file there is replaced: the caller owns the data
 * directory) and serves requests with `pki`. Returns NULL with err filled. */
struct adminsock *adminsock_start(const struct jpki_config *cfg, struct pki *pki,
                                  adminsock_done_fn done, void *done_arg, struct jerr *err);
/* Stops the thread (a ceremony under way finishes first) and removes the socket. NULL no-op. */
void adminsock_stop(struct adminsock *a);

/* The client side: sends `req` to the service owning cfg's data directory and waits for the
 * answer (up to `timeout_s`). Returns 0 with *res, or -1 with err: the service's own refusal
 * (its code, field and sentence), or JERR_UNAVAILABLE when it cannot be reached. */
int adminsock_rollover(const struct jpki_config *cfg, const struct rollover_request *req,
                       int timeout_s, struct rollover_result *res, struct jerr *err);

#endif
