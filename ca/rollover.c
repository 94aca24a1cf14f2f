/*
 * rollover: see rollover.h. Builds with ca/profile (root, links, OCSP signer), keeps keys
 * through keystore/signer.h, records through ca/store.h and publishes through ca/crl.h.
 */
#include "ca/rollover.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/crl.h"
#include "ca/profile.h"
#include "base/jclock.h"

/* What a ceremony wrote, to undo on failure. */
struct undo {
    struct signer_store *keys;
    const struct jpki_config *cfg;
    const char *key_names[2];
    int nkeys;
    char files[6][128];
    int nfiles;
};

/* Removes what the ceremony wrote; names in `left` (size bytes) the keys it could not remove
 * (a token that went away meanwhile), "" when none. */
static void undo_all(struct undo *u, char *left, size_t size)
{
    char path[PATH_MAX];
    left[0] = '\0';
    for (int i = 0; i < u->nkeys; i++) {
        struct jerr why = {0};
        if (signer_store_discard(u->keys, u->key_names[i], &why) == -1)
            snprintf(left + strlen(left), size - strlen(left), "; key %s left behind: %s",
                     u->key_names[i], why.msg);
    }
    for (int i = 0; i < u->nfiles; i++)
        if (config_path(u->cfg, u->files[i], path, sizeof(path)) != NULL)
            unlink(path);
}

/* The one sentence an operator reads when a ceremony failed at `stage` (what it was storing):
 * which generation was not made, what could not be stored, why, and what was left. */
static void say_not_made(struct jerr *err, enum ca_kind ca, int number, const char *stage,
                         const char *left)
{
    char cause[sizeof(err->msg)];
    snprintf(cause, sizeof(cause), "%s", err->msg);
    snprintf(err->msg, sizeof(err->msg),
             "the %s CA's generation %d was not made: could not store %s: %s%s",
             ca_kind_name(ca), number, stage, cause,
             left[0] != '\0' ? left : "; nothing of it was kept");
}

static int write_cert(struct undo *u, X509 *cert, const char *rel, struct jerr *err)
{
    if (pki_cert_write(u->cfg, cert, rel, err) == -1)
        return -1;
    snprintf(u->files[u->nfiles++], sizeof(u->files[0]), "%s", rel);
    return 0;
}

int rollover_algorithm_parse(const struct jpki_config *cfg, enum ca_kind ca, const char *text,
                             struct keyalg *out, struct jerr *err)
{
    if (text == NULL || text[0] == '\0')
        return pki_config_keyalg(cfg, ca, out, err);
    return keyalg_parse(text, cfg->ca[ca].key_bits, "algorithm", out, err);
}

/* "YYYY-MM-DDTHH:MM:SSZ" of an ASN1_TIME. */
static void time_text(const ASN1_TIME *t, char *out, size_t size)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "?");
}

static int name_text(const X509_NAME *name, char *out, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int len = -1;
    if (bio != NULL && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
        len = BIO_read(bio, out, (int)size - 1);
    BIO_free(bio);
    out[len > 0 ? len : 0] = '\0';
    return len > 0 ? 0 : -1;
}

/* Refuses what must not start: a full registry of generations, the same algorithm and subject
 * again within ROLLOVER_REPEAT_S. */
static int check_repeat(struct store *st, const struct pki_gen *old, const char *algorithm,
                        const X509_NAME *subject, time_t now, struct jerr *err)
{
    struct ca_gen_rec *recs = NULL;
    size_t n = 0;
    int rc = 0;

    if (old->number >= PKI_GENERATIONS_MAX)
        return jerr_set(err, JERR_CONFLICT, "generation", "the %s CA has %d generations already",
                        ca_kind_name(old->ca), old->number);
    if (store_gen_list(st, old->ca, &recs, &n, err) == -1)
        return -1;
    const struct ca_gen_rec *last = n > 0 ? &recs[n - 1] : NULL;
    if (last != NULL && last->generation == old->number &&
        now - last->created_at < ROLLOVER_REPEAT_S && strcmp(old->algorithm, algorithm) == 0 &&
        X509_NAME_cmp(X509_get_subject_name(old->root), subject) == 0)
        rc = jerr_set(err, JERR_CONFLICT, "generation",
                      "the %s CA rolled over to generation %d with the same algorithm (%s) and "
                      "subject %lld s ago; refusing a repeated rollover (wait %d s or change "
                      "them)",
                      ca_kind_name(old->ca), old->number, algorithm,
                      (long long)(now - last->created_at), ROLLOVER_REPEAT_S);
    free(recs);
    return rc;
}

/* Refuses a key name the store holds already (a file, a token reference, a token object of
 * generation 1 of the name): the ceremony removes its keys when it fails, and must never
 * remove one it did not make. */
static int check_new_key(struct signer_store *keys, const char *name, struct jerr *err)
{
    if (signer_store_has(keys, name))
        return jerr_set(err, JERR_CONFLICT, "generation",
                        "key %s exists already (left by an interrupted ceremony?); refusing to "
                        "replace it",
                        name);
    return signer_store_check_new(keys, name, err);
}

/* Makes the link certificate issuer→subject, signed with the issuer's key, valid until the
 * older root ends. */
static X509 *make_link(X509 *issuer_root, const struct signer *issuer_key, X509 *subject_root,
                       time_t now, struct jerr *err)
{
    X509 *older = X509_cmp(issuer_root, subject_root) != 0 &&
                          ASN1_TIME_compare(X509_get0_notAfter(issuer_root),
                                            X509_get0_notAfter(subject_root)) < 0
                      ? issuer_root
                      : subject_root;
    time_t not_after;
    if (jclock_from_asn1(X509_get0_notAfter(older), &not_after) == -1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "root notAfter");
        return NULL;
    }
    X509 *link = profile_link(issuer_root, subject_root, now, not_after, err);
    if (link != NULL && signer_sign_cert(issuer_key, link, err) == -1) {
        X509_free(link);
        link = NULL;
    }
    return link;
}

int rollover_run(struct pki *pki, const struct rollover_request *req, struct rollover_result *out,
                 struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(pki);
    const struct pki_gen *old = NULL;
    struct signer_store *keys = pki_keystore(pki);
    struct pki_gen *g = NULL;
    struct store *st = NULL;
    X509_NAME *subject = NULL;
    EVP_PKEY *pub = NULL;
    struct pki_gen_names names;
    struct undo u = {.keys = keys, .cfg = cfg};
    struct keyalg alg;
    char rel[128], path[PATH_MAX];
    int rc = -1;
    bool in_tx = false, added = false;
    const char *stage = NULL; /* what the ceremony is storing, once it has begun to */
    time_t now = jclock_now();

    memset(out, 0, sizeof(*out));
    if (req->ca != CA_SIGN && req->ca != CA_AUTH)
        return jerr_set(err, JERR_INVALID, "ca", "unknown CA (sign or auth)");
    if ((old = pki_newest(pki, req->ca)) == NULL || old->ocsp_signer == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "the %s CA is not loaded with its keys",
                        ca_kind_name(req->ca));
    if (rollover_algorithm_parse(cfg, req->ca, req->algorithm, &alg, err) == -1)
        return -1;
    if (req->validity_years < 0 || req->validity_years > ROLLOVER_VALIDITY_YEARS_MAX)
        return jerr_set(err, JERR_INVALID, "validity_years", "validity of %d years is out of 1..%d",
                        req->validity_years, ROLLOVER_VALIDITY_YEARS_MAX);
    if (req->validity_years_minor < 0 || req->validity_years_minor > ROLLOVER_VALIDITY_YEARS_MAX)
        return jerr_set(err, JERR_INVALID, "validity_years_minor",
                        "validity of %d years under 18 is out of 1..%d", req->validity_years_minor,
                        ROLLOVER_VALIDITY_YEARS_MAX);
    subject = req->subject[0] != '\0' ? profile_parse_name(req->subject, err)
                                      : X509_NAME_dup(X509_get_subject_name(old->root));
    if (subject == NULL) {
        if (req->subject[0] == '\0')
            jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return -1;
    }
    if ((st = pki_store_open(pki, err)) == NULL)
        goto out;

    if ((g = calloc(1, sizeof(*g))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    g->ca = req->ca;
    g->number = old->number + 1;
    /* DESIGN §11: recorded, so that a later change of the configuration leaves it alone. */
    g->validity_years =
        req->validity_years > 0 ? req->validity_years : cfg->subscriber_validity_years;
    g->validity_years_minor = req->validity_years_minor > 0 ? req->validity_years_minor
                                                             : cfg->subscriber_validity_years_minor;
    pki_gen_names(g->ca, g->number, &names);
    keyalg_name(&alg, g->algorithm, sizeof(g->algorithm));
    if (check_repeat(st, old, g->algorithm, subject, now, err) == -1 ||
        check_new_key(keys, names.ca_key, err) == -1 ||
        check_new_key(keys, names.ocsp_key, err) == -1)
        goto out;

    /* The key and its root. */
    stage = "its CA key";
    if ((g->ca_signer = signer_store_create(keys, names.ca_key, &alg, false, err)) ==
        NULL)
        goto out;
    u.key_names[u.nkeys++] = names.ca_key;
    stage = "its root certificate";
    if ((pub = signer_get1_public_key(g->ca_signer)) == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "CA public key");
        goto out;
    }
    pki_key_algorithm_name(pub, g->algorithm, sizeof(g->algorithm));
    if ((g->root = profile_root_named(&cfg->ca[g->ca], subject, pub, now, err)) == NULL ||
        signer_sign_cert(g->ca_signer, g->root, err) == -1 ||
        write_cert(&u, g->root, names.root_file, err) == -1)
        goto out;

    /* The links, both ways (RFC 4210 §4.4). */
    stage = "its link certificates";
    if ((g->link_from_prev = make_link(old->root, old->ca_signer, g->root, now, err)) == NULL ||
        (g->link_to_prev = make_link(g->root, g->ca_signer, old->root, now, err)) == NULL)
        goto out;
    pki_link_file(g->ca, old->number, g->number, rel, sizeof(rel));
    if (write_cert(&u, g->link_from_prev, rel, err) == -1)
        goto out;
    pki_link_file(g->ca, g->number, old->number, rel, sizeof(rel));
    if (write_cert(&u, g->link_to_prev, rel, err) == -1)
        goto out;

    /* The OCSP signer of the new generation. Its key is undone from here on: whatever part
     * of it was made (check_new_key saw none before). */
    stage = "its OCSP signer";
    u.key_names[u.nkeys++] = names.ocsp_key;
    if (config_path(cfg, names.ocsp_file, path, sizeof(path)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        goto out;
    }
    if (pki_ocsp_signer_create(cfg, keys, g->ca, names.ocsp_key, path, &alg, g->root,
                               g->ca_signer, false, err) == -1)
        goto out;
    snprintf(u.files[u.nfiles++], sizeof(u.files[0]), "%s", names.ocsp_file);
    if ((g->ocsp_signer = signer_store_load(keys, names.ocsp_key, err)) == NULL)
        goto out;
    BIO *bio = BIO_new_file(path, "r");
    g->ocsp_cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (g->ocsp_cert == NULL) {
        jerr_openssl(err, JERR_IO, NULL, "%s: cannot read back", names.ocsp_file);
        goto out;
    }
    if (pki_gen_complete(g, err) == -1 || pki_fingerprint(g->root, out->fingerprint, err) == -1)
        goto out;

    /* Recorded in one transaction: the generation (older ones stop issuing) and the audit
     * row; then visible to this process. */
    struct ca_gen_rec rec = {.ca = g->ca, .generation = g->number, .created_at = now};
    snprintf(rec.algorithm, sizeof(rec.algorithm), "%s", g->algorithm);
    snprintf(rec.ca_key, sizeof(rec.ca_key), "%s", names.ca_key);
    snprintf(rec.ocsp_key, sizeof(rec.ocsp_key), "%s", names.ocsp_key);
    snprintf(rec.root_file, sizeof(rec.root_file), "%s", names.root_file);
    snprintf(rec.ocsp_file, sizeof(rec.ocsp_file), "%s", names.ocsp_file);
    rec.validity_years = g->validity_years;
    rec.validity_years_minor = g->validity_years_minor;
    struct audit_entry e = {.at = now};
    snprintf(e.actor, sizeof(e.actor), "%s", req->actor[0] != '\0' ? req->actor : "jpkid");
    snprintf(e.action, sizeof(e.action), "ca.rollover");
    snprintf(e.target, sizeof(e.target), "ca/%s/%d", ca_kind_name(g->ca), g->number);
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    snprintf(e.detail, sizeof(e.detail),
             "from=%d algorithm=%s validity_years=%d validity_years_minor=%d root_sha256=%s",
             old->number, g->algorithm, g->validity_years, g->validity_years_minor,
             out->fingerprint);
    stage = "it in the registry";
    if (store_begin(st, err) == -1)
        goto out;
    in_tx = true;
    if (store_gen_insert(st, &rec, err) == -1 || store_audit_append(st, &e, err) == -1 ||
        store_commit(st, err) == -1)
        goto out;
    in_tx = false;
    out->generation = g->number;
    out->validity_years = g->validity_years;
    out->validity_years_minor = g->validity_years_minor;
    snprintf(out->algorithm, sizeof(out->algorithm), "%s", g->algorithm);
    name_text(X509_get_subject_name(g->root), out->subject, sizeof(out->subject));
    time_text(X509_get0_notAfter(g->root), out->not_after, sizeof(out->not_after));
    if (pki_add_generation(pki, g, err) == -1)
        goto out; /* recorded: the next start loads it */
    added = true;
    g = NULL;
    rc = 0;

    /* Its first CRL, so that its CDP answers at once. */
    struct jerr crl_err = {0};
    if (crl_publish(pki, st, req->ca, jclock_now(), NULL, &crl_err) == -1)
        snprintf(out->warning, sizeof(out->warning), "first CRL not published: %s",
                 crl_err.msg);
out:
    if (in_tx)
        store_rollback(st);
    store_close(st);
    EVP_PKEY_free(pub);
    X509_NAME_free(subject);
    if (rc == -1 && out->generation == 0 && stage != NULL) {
        char left[512];
        int number = g->number;
        enum ca_kind ca = g->ca;
        pki_gen_free(g); /* its signers let go of the keys before these are removed */
        g = NULL;
        undo_all(&u, left, sizeof(left));
        say_not_made(err, ca, number, stage, left);
    }
    (void)added;
    pki_gen_free(g);
    return rc;
}
