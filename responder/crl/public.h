/*
 * public: the endpoints anyone may call (DESIGN §5, §6) — the CA roots and their fingerprints,
 * the CRLs, and /healthz:
 *
 *   GET|HEAD /ca/sign.cer, /ca/auth.cer        DER root (application/pkix-cert)
 *   GET|HEAD /ca/fingerprints                  {"sign":{"sha256":"AB:…","subject":"C=JP,
 * …"},"auth":{…}} GET|HEAD /crl/sign.crl, /crl/auth.crl      complete CRLs (application/pkix-crl)
 *   GET|HEAD /crl/{sign,auth}/{n}.crl          partition CRLs, when the CA has more than one
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

/* Seconds a loop serves a CRL snapshot before asking whether the file changed. */
#define PUBLIC_CRL_RECHECK_S 1
/* max-age of the roots and fingerprints (they change only with a new instance). */
#define PUBLIC_ROOT_MAX_AGE_S 86400

/* Prepares the endpoints of `pki` (borrowed; it must outlive the result) for a server of
 * `loop_count` loops. Returns NULL with err filled. */
struct public *public_new(const struct pki *pki, int loop_count, struct jerr *err);

/* Registers the routes on `srv` (before server_start). Returns 0 or -1. */
int public_register(struct public *pub, struct server *srv, struct jerr *err);

/* The publisher wrote new CRL files: every loop re-checks on its next CRL request. Thread-safe. */
void public_crl_changed(struct public *pub);

/* The publisher's next publication (wall time; 0 = unknown): no cache is told to keep a CRL
 * beyond it. Thread-safe. */
void public_crl_set_next_publication(struct public *pub, time_t at);

/* The relying parties' gate and meter (responder/rp/): access.crl registered serves only
 * active parties, of a kind allowed the CA; every CRL sent to a party is metered. Borrowed;
 * before the server starts. */
struct rpgate;
struct rpmeter;
void public_set_relying_parties(struct public *pub, struct rpgate *gate, struct rpmeter *meter);

/* Frees after server_free (answers in flight may still use it until then). NULL is a no-op. */
void public_free(struct public *pub);

/* The CRL file behind a public path below "/crl/" ("sign.crl", "auth/3.crl"): sets *ca and
 * *partition (-1 = complete). `partitions` is each CA's partition count: partition paths exist
 * only for a CA with more than one. Returns 0, or -1 when the path names no CRL. */
int public_crl_parse(const char *rest, const int partitions[CA_KIND_COUNT], enum ca_kind *ca,
                     int *partition);

#endif
