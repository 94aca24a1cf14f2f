/*
 * public: the endpoints anyone may call (DESIGN §5, §6) — the CA roots and their fingerprints,
 * the CRLs, and /healthz:
 *
 *   GET|HEAD /ca/sign.cer, /ca/auth.cer        the newest DER root (application/pkix-cert)
 *   GET|HEAD /ca/{ca}/{gen}.cer                the root of generation gen (DESIGN §11)
 *   GET|HEAD /ca/{ca}/links/{from}-{to}.cer    link certificate: a `from` anchor reaches `to`
 *   GET|HEAD /ca/fingerprints                  {"sign":{"sha256":"AB:…","subject":"C=JP, …",
 *                                              "generation":n,"generations":[{…}…]},"auth":{…}}
 *   GET|HEAD /crl/sign.crl, /crl/auth.crl      complete CRLs of generation 1 (application/pkix-crl)
 *   GET|HEAD /crl/{sign,auth}/{n}.crl          partition CRLs, when the CA has more than one
 *   GET|HEAD /crl/{sign,auth}-delta.crl        delta CRLs (RFC 5280 §5.2.4), unless
 *                                              crl.delta_period_s is 0
 *   GET|HEAD /crl/{sign,auth}/g{gen}.crl       the complete CRL of generation gen
 *   GET|HEAD /healthz                          {"status":"ok"}
 *
 * CRLs carry ETag (quoted hex SHA-256 of the bytes, computed once per file), Last-Modified
 * (thisUpdate), "Cache-Control: public, max-age=N, stale-if-error=S" (N the time until the
 * next publication, public_crl_set_next_publication, and until nextUpdate, at most
 * http.crl_max_age_s; S the rest of the time until nextUpdate), and are answered 304 on a
 * matching If-None-Match or an If-Modified-Since not older than Last-Modified (RFC 7232). The
 * roots and fingerprints are built once at start; the CRL files are served from crlcache
 * snapshots: each loop keeps its own reference and, at most once a second (or at once after
 * public_crl_changed), asks a worker whether the file changed. No file is read on a loop.
 */
#ifndef JPKI_PUBLIC_H
#define JPKI_PUBLIC_H

#include "ca/pki.h"
#include "base/jerr.h"
#include "responder/net/server.h"

struct public;
struct crlcache_snapshot;
struct evbuffer;

/* Seconds a loop serves a CRL snapshot before asking whether the file changed. */
#define PUBLIC_CRL_RECHECK_S 1
/* max-age of the roots and fingerprints (they change only with a new instance). */
#define PUBLIC_ROOT_MAX_AGE_S 86400

/* max-age of a /ca/ or /crl/ file served from a stored copy, outside the publication schedule
 * (a responder's files from Redis, the relying-party CA's files): a CRL (`crl`) at most
 * http.crl_max_age_s and never past its nextUpdate (`expires`); a CA certificate
 * PUBLIC_ROOT_MAX_AGE_S and never past its notAfter (`expires`, 0 = none). */
long public_file_max_age(const struct jpki_config *cfg, bool crl, time_t expires, time_t now);

/* Prepares the endpoints of `pki` (borrowed; it must outlive the result) for a server of
 * `loop_count` loops. Returns NULL with err filled. */
struct public *public_new(const struct pki *pki, int loop_count, struct jerr *err);

/* Registers the routes on `srv` (before server_start). Returns 0 or -1. */
int public_register(struct public *pub, struct server *srv, struct jerr *err);

/* A rollover added a generation to the pki: the roots, links and fingerprints are rebuilt and
 * served from now on. One caller at a time. Returns 0 or -1. */
int public_generations_changed(struct public *pub, struct jerr *err);

/* The publisher wrote new CRL files: every loop re-checks on its next CRL request. Thread-safe. */
void public_crl_changed(struct public *pub);

/* `fn(arg)` is called, from the thread of public_crl_changed, whenever it is (the Redis
 * publisher copies the new files). Quick and thread-safe. Before the server starts. */
void public_set_changed_listener(struct public *pub, void (*fn)(void *arg), void *arg);

/* The publisher's next publication (wall time; 0 = unknown): no cache is told to keep a CRL
 * beyond it. Thread-safe. */
void public_crl_set_next_publication(struct public *pub, time_t at);

/* The relying parties' gate and meter (responder/rp/): access.crl registered serves only
 * active parties, of a kind allowed the CA; every CRL sent to a party is metered. Borrowed;
 * before the server starts. */
struct rpgate;
struct rpmeter;
void public_set_relying_parties(struct public *pub, struct rpgate *gate, struct rpmeter *meter);


/* One public file as `serve` sends it (DESIGN §13: what the Redis publisher copies). */
struct public_file {
    char path[64];            /* the URL path: "/ca/sign.cer", "/crl/auth/3.crl" */
    const char *etag;         /* the ETag header value, quotes included */
    const char *content_type; /* the Content-Type */
    time_t last_modified;     /* a CRL's thisUpdate; a root's notBefore */
    time_t expires;           /* a CRL's nextUpdate; 0 = none */
    /* the bytes, through public_file_body */
    const void *data;
    size_t len;
    const struct crlcache_snapshot *snap;
};
typedef int (*public_file_cb)(void *ctx, const struct public_file *f);

/* Calls cb on every file served under /ca/ and /crl/ (the CRLs as they are on disk now; one
 * not yet published is left out); cb returns 0 to go on, -1 to stop. On a thread that may
 * block (a worker, the publisher): CRL files are read through the shared cache. Returns 0, or
 * -1 with err (cb's -1 without err filled by it, a CRL that cannot be read). */
int public_foreach_file(struct public *pub, public_file_cb cb, void *ctx, struct jerr *err);

/* Appends the bytes of `f` (valid only inside the callback) to `out`. Returns 0 or -1. */
int public_file_body(const struct public_file *f, struct evbuffer *out, struct jerr *err);
/* The same for the delta CRLs' next publication (the delta tick or any publication). */
void public_crl_set_next_delta(struct public *pub, time_t at);

/* Frees after server_free (answers in flight may still use it until then). NULL is a no-op. */
void public_free(struct public *pub);

/* The answer behind a public path below "/ca/" ("sign.cer", "sign/2.cer", "sign/links/1-2.cer",
 * "fingerprints") in `set`, or NULL when it names none. */
struct public_set;
struct public_blob;
const struct public_blob *public_ca_blob(const struct public_set *set, const char *rest);

/* The CRL file behind a public path below "/crl/" ("sign.crl", "auth/3.crl", "sign/g2.crl",
 * "auth-delta.crl"): sets *ca and *partition (-1 = complete; a CRL scope -g for "g<g>", store.h;
 * CRL_DELTA = the delta). `partitions` is each CA's partition count: partition paths exist
 * only for a CA with more than one. Returns 0, or -1 when the path names no CRL. */
int public_crl_parse(const char *rest, const int partitions[CA_KIND_COUNT], enum ca_kind *ca,
                     int *partition);

#endif
