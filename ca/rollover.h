/*
 * rollover: the key ceremony that gives a CA its next generation (DESIGN §11, RFC 4210 §4.4).
 *
 * One call makes, for CA `ca` whose newest generation is n: a new CA key n+1 (in the key
 * store: file or token), its self-signed root (by default under the subject of root n, as
 * JPKI's 2015 and 2023 roots share theirs), the link certificates n-(n+1) (key n certifies
 * root n+1: a trust anchor on root n reaches generation n+1) and (n+1)-n (the reverse), each
 * valid until the older of the two roots ends, and a new OCSP signer; it records the
 * generation and an audit row in one registry transaction, makes the generation visible to
 * the running process (pki_add_generation) and publishes its first CRL. The newest generation
 * issues from then on; the older ones stop issuing and keep answering (ca/crl.h). On any
 * failure before the commit (a full disk or token, a registry that refuses the row), the files,
 * keys and token objects it made are removed: nothing is half-recorded, and the next ceremony
 * finds the names free.
 */
#ifndef JPKI_ROLLOVER_H
#define JPKI_ROLLOVER_H

#include "ca/pki.h"
#include "base/jerr.h"

/* Two rollovers of one CA with the same algorithm and subject closer than this are refused as
 * a repeated command. */
#define ROLLOVER_REPEAT_S 60

/* The longest subscriber validity a generation may record (as subscriber.validity_years). */
#define ROLLOVER_VALIDITY_YEARS_MAX 10

struct rollover_request {
    enum ca_kind ca;
    char algorithm[32]; /* rollover_algorithm_parse's input; "" = the CA's configured one */
    char subject[512];  /* "" = the subject of the newest root */
    char actor[64];     /* who asked, for the audit row */
    /* The subscriber validity the generation issues for (DESIGN §11: the next card's, 10 and
     * 5 under 18), 1..ROLLOVER_VALIDITY_YEARS_MAX; 0 = the configuration's
     * subscriber.validity_years / validity_years_minor now. Recorded with the generation. */
    int validity_years, validity_years_minor;
};

struct rollover_result {
    int generation;
    char algorithm[32];
    char fingerprint[96]; /* SHA-256 of the new root */
    char subject[512];
    char not_after[32];   /* the new root's, "YYYY-MM-DDTHH:MM:SSZ" */
    int validity_years, validity_years_minor; /* as recorded */
    char warning[256];    /* set when the ceremony succeeded but its first CRL did not publish */
};

/* The key spec of an --algorithm (keystore/keyalg.h's names: rsa, rsa2048, rsa3072,
 * ecdsa-p384, ecdsa-p521; "" = the CA's configured ca.<ca>.key_algorithm). JERR_INVALID
 * (field "algorithm") naming the accepted ones otherwise. Returns 0 or -1. */
int rollover_algorithm_parse(const struct jpki_config *cfg, enum ca_kind ca, const char *text,
                             struct keyalg *out, struct jerr *err);

/* The ceremony (see above). Refused: JERR_INVALID for a bad algorithm, subject or validity
 * (field "validity_years" / "validity_years_minor");
 * JERR_CONFLICT for a repeat within ROLLOVER_REPEAT_S, a CA at PKI_GENERATIONS_MAX or a key
 * name already taken; once it has begun to store, the cause's code with one sentence "the
 * <ca> CA's generation <n> was not made: could not store <its CA key | its root certificate |
 * its link certificates | its OCSP signer | it in the registry>: <cause>; nothing of it was
 * kept". One ceremony at
 * a time per process (the caller serializes). Returns 0 with *out, or -1 with err. */
int rollover_run(struct pki *pki, const struct rollover_request *req, struct rollover_result *out,
                 struct jerr *err);

#endif
