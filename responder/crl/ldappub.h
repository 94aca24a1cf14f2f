/*
 * ldappub: publication of the CRLs to an LDAPv3 directory (publish.ldap; the JPKI technical
 * standard allows CRLs over HTTP or LDAPv3), through OpenLDAP's libldap, on a thread of its
 * own — off the HTTP publication path: a directory that is down or slow never delays a CRL
 * served over HTTP.
 *
 * After each publication (ldappub_notify) the thread writes, for each CA, to the entry
 * cn=<ca>,<base_dn> (objectClass cRLDistributionPoint, RFC 4523 §3.3; added when missing):
 *   certificateRevocationList;binary  the complete CRL (DATA_DIR/crl/<ca>.crl)
 *   authorityRevocationList;binary    the ARL (DATA_DIR/crl/<ca>-arl.crl, ca/crl.h)
 *   deltaRevocationList;binary        the delta CRL, with delta CRLs on
 * reading the files as published (never re-signing anything). A failure is retried with
 * backoff (LDAPPUB_RETRY_MIN_S doubling up to LDAPPUB_RETRY_MAX_S) until one round succeeds;
 * publications meanwhile coalesce, and the round that succeeds writes the newest files. The lag
 * (how long the directory has been behind the files) goes to /metrics (jpki_ldap_lag_seconds)
 * and /readyz (check "ldap"), and a failure to the log.
 */
#ifndef JPKI_LDAPPUB_H
#define JPKI_LDAPPUB_H

#include "base/jerr.h"
#include "config/config.h"
#include "responder/monitor/monitor.h"

#define LDAPPUB_RETRY_MIN_S 1
#define LDAPPUB_RETRY_MAX_S 60
/* Network and operation timeout of one LDAP call. */
#define LDAPPUB_TIMEOUT_S 10
/* The largest CRL file sent (a complete CRL of millions of entries is tens of MB). */
#define LDAPPUB_MAX_CRL_BYTES ((size_t)1 << 30)

struct ldappub;

/* The publisher of `cfg`'s CRLs (publish.ldap.url set), reporting to `monitor` (both borrowed,
 * outliving it). Reads the bind password now. Returns NULL with err filled. */
struct ldappub *ldappub_new(const struct jpki_config *cfg, struct monitor *monitor,
                            struct jerr *err);

/* Starts the thread; it writes the files already published at once. Returns 0 or -1. */
int ldappub_start(struct ldappub *lp, struct jerr *err);

/* New CRL files were published: write them to the directory. Thread-safe, never blocks. */
void ldappub_notify(struct ldappub *lp);

/* Stops the thread (a call under way ends within LDAPPUB_TIMEOUT_S), wipes the password and
 * frees. NULL is a no-op. */
void ldappub_free(struct ldappub *lp);

#endif
