/*
 * ldappub: see ldappub.h. One thread; `lock` guards the counters it shares with
 * ldappub_notify. A round connects, binds, writes both CAs' entries and unbinds: publications
 * are minutes apart, so a connection kept open would mostly be one the directory has dropped.
 */
#include "responder/crl/ldappub.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LDAP_DEPRECATED 0
#include <ldap.h>
#include <openssl/crypto.h>

#include "ca/crl.h"
#include "ca/model.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "responder/monitor/metrics.h"
#include "responder/net/log.h"

struct ldappub {
    const struct jpki_config *cfg;
    struct monitor *monitor;
    char *password; /* NULL = anonymous */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;                /* guarded by lock */
    unsigned long wanted;     /* notifications so far (guarded by lock) */
    time_t behind_since;      /* the oldest notification not yet written, 0 = none (lock) */
};

/* The CRL files of one CA as the directory gets them. */
struct ca_files {
    unsigned char *data[3];
    size_t len[3];
};

static const char *const ATTRS[3] = {"certificateRevocationList;binary",
                                     "authorityRevocationList;binary",
                                     "deltaRevocationList;binary"};
static const int FILES[3] = {-1, CRL_ARL, CRL_DELTA};

static void ca_files_release(struct ca_files *f)
{
    for (int i = 0; i < 3; i++)
        free(f->data[i]);
    memset(f, 0, sizeof(*f));
}

/* Reads the files of `ca`; a missing ARL or delta is left out, a missing complete CRL is
 * JERR_NOT_FOUND (nothing published yet). */
static int ca_files_read(const struct jpki_config *cfg, enum ca_kind ca, struct ca_files *f,
                         struct jerr *err)
{
    char path[PATH_MAX];
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < 3; i++) {
        if (FILES[i] == CRL_DELTA && cfg->crl_delta_period_s == 0)
            continue;
        if (crl_path(cfg, ca, FILES[i], path, sizeof(path)) == NULL)
            return jerr_set(err, JERR_CONFIG, "data_dir", "CRL path too long");
        struct jerr read_err = {0};
        if (fsutil_read_file(path, LDAPPUB_MAX_CRL_BYTES, &f->data[i], &f->len[i], &read_err) ==
            -1) {
            if (read_err.code == JERR_NOT_FOUND && i > 0)
                continue;
            *err = read_err;
            return -1;
        }
    }
    return 0;
}

static int ldap_fail(struct jerr *err, int rc, const char *what, const char *dn)
{
    return jerr_set(err, JERR_UNAVAILABLE, "publish.ldap", "%s%s%s: %s", what,
                    dn != NULL ? " " : "", dn != NULL ? dn : "", ldap_err2string(rc));
}

/* Replaces the CRL attributes of the CA's entry, adding the entry when it is missing. */
static int write_entry(LDAP *ld, const char *dn, const char *cn, struct ca_files *f,
                       struct jerr *err)
{
    struct berval values[3];
    struct berval *value_lists[3][2];
    LDAPMod mods[5];
    LDAPMod *list[6];
    size_t n = 0;
    char *oc_values[] = {"cRLDistributionPoint", NULL};
    char *cn_values[] = {(char *)cn, NULL};

    for (int i = 0; i < 3; i++) {
        if (f->data[i] == NULL)
            continue;
        values[i] = (struct berval){.bv_len = (ber_len_t)f->len[i], .bv_val = (char *)f->data[i]};
        value_lists[i][0] = &values[i];
        value_lists[i][1] = NULL;
        mods[n] = (LDAPMod){.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES,
                            .mod_type = (char *)ATTRS[i],
                            .mod_vals.modv_bvals = value_lists[i]};
        list[n] = &mods[n];
        n++;
    }
    list[n] = NULL;
    int rc = ldap_modify_ext_s(ld, dn, list, NULL, NULL);
    if (rc == LDAP_SUCCESS)
        return 0;
    if (rc != LDAP_NO_SUCH_OBJECT)
        return ldap_fail(err, rc, "modify", dn);
    /* The first publication to this directory: the entry, with the same values. */
    for (size_t i = 0; i < n; i++)
        mods[i].mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
    mods[n] = (LDAPMod){.mod_op = LDAP_MOD_ADD, .mod_type = "objectClass",
                        .mod_vals.modv_strvals = oc_values};
    mods[n + 1] = (LDAPMod){.mod_op = LDAP_MOD_ADD, .mod_type = "cn",
                            .mod_vals.modv_strvals = cn_values};
    list[n] = &mods[n];
    list[n + 1] = &mods[n + 1];
    list[n + 2] = NULL;
    rc = ldap_add_ext_s(ld, dn, list, NULL, NULL);
    return rc == LDAP_SUCCESS ? 0 : ldap_fail(err, rc, "add", dn);
}

/* One round: every CA's files to the directory. 1 when there was nothing to write yet. */
static int write_all(struct ldappub *lp, struct jerr *err)
{
    const struct jpki_config *cfg = lp->cfg;
    struct ca_files files[CA_KIND_COUNT];
    LDAP *ld = NULL;
    int ret = -1;

    memset(files, 0, sizeof(files));
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (ca_files_read(cfg, (enum ca_kind)ca, &files[ca], err) == -1) {
            if (err->code == JERR_NOT_FOUND)
                ret = 1;
            goto out;
        }
    }
    int rc = ldap_initialize(&ld, cfg->ldap_url);
    if (rc != LDAP_SUCCESS) {
        ldap_fail(err, rc, "connect to", cfg->ldap_url);
        goto out;
    }
    int version = LDAP_VERSION3;
    int off = 0;
    struct timeval timeout = {LDAPPUB_TIMEOUT_S, 0};
    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &timeout) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &timeout) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_REFERRALS, &off) != LDAP_OPT_SUCCESS) {
        jerr_set(err, JERR_INTERNAL, "publish.ldap", "cannot set the LDAP options");
        goto out;
    }
    if (lp->password != NULL) {
        struct berval cred = {.bv_len = (ber_len_t)strlen(lp->password), .bv_val = lp->password};
        rc = ldap_sasl_bind_s(ld, cfg->ldap_bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            ldap_fail(err, rc, "bind as", cfg->ldap_bind_dn);
            goto out;
        }
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        const char *cn = ca_kind_name((enum ca_kind)ca);
        char dn[2048];
        int len = snprintf(dn, sizeof(dn), "cn=%s,%s", cn, cfg->ldap_base_dn);
        if (len < 0 || (size_t)len >= sizeof(dn)) {
            jerr_set(err, JERR_CONFIG, "publish.ldap.base_dn", "base DN too long");
            goto out;
        }
        if (write_entry(ld, dn, cn, &files[ca], err) == -1)
            goto out;
    }
    ret = 0;
out:
    if (ld != NULL)
        ldap_unbind_ext_s(ld, NULL, NULL);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        ca_files_release(&files[ca]);
    return ret;
}

/* Tells /readyz and /metrics how far behind the directory is (lock held). */
static void report_locked(struct ldappub *lp, const char *problem)
{
    monitor_ldap_state(lp->monitor, lp->behind_since, problem);
    metrics_ldap_behind(lp->behind_since);
}

static void *ldappub_main(void *arg)
{
    struct ldappub *lp = arg;
    unsigned long done = 0;
    int retry_s = 0;
    struct timespec retry_at = {0, 0};

    pthread_mutex_lock(&lp->lock);
    while (!lp->stop) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        bool due = lp->wanted != done &&
                   (retry_s == 0 || now.tv_sec > retry_at.tv_sec ||
                    (now.tv_sec == retry_at.tv_sec && now.tv_nsec >= retry_at.tv_nsec));
        if (!due) {
            if (lp->wanted != done)
                pthread_cond_timedwait(&lp->wake, &lp->lock, &retry_at);
            else
                pthread_cond_wait(&lp->wake, &lp->lock);
            continue;
        }
        unsigned long round = lp->wanted;
        pthread_mutex_unlock(&lp->lock);
        struct jerr err = {0};
        int rc = write_all(lp, &err);
        pthread_mutex_lock(&lp->lock);
        if (rc >= 0) {
            /* Written (or nothing published yet): caught up with `round`. */
            done = round;
            if (retry_s != 0)
                log_info("LDAP publication: %s caught up", lp->cfg->ldap_url);
            retry_s = 0;
            lp->behind_since = lp->wanted == done ? 0 : jclock_now();
            metrics_ldap_round(true);
            report_locked(lp, NULL);
            continue;
        }
        retry_s = retry_s == 0 ? LDAPPUB_RETRY_MIN_S : retry_s * 2;
        if (retry_s > LDAPPUB_RETRY_MAX_S)
            retry_s = LDAPPUB_RETRY_MAX_S;
        clock_gettime(CLOCK_MONOTONIC, &retry_at);
        retry_at.tv_sec += retry_s;
        log_error("LDAP publication: %s (again in %d s)", err.msg, retry_s);
        metrics_ldap_round(false);
        report_locked(lp, err.msg);
    }
    pthread_mutex_unlock(&lp->lock);
    return NULL;
}

struct ldappub *ldappub_new(const struct jpki_config *cfg, struct monitor *monitor,
                            struct jerr *err)
{
    struct ldappub *lp = calloc(1, sizeof(*lp));
    pthread_condattr_t attr;
    if (lp == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    lp->cfg = cfg;
    lp->monitor = monitor;
    if (cfg->ldap_bind_dn[0] != '\0' && (lp->password = config_read_ldap_password(cfg, err)) == NULL) {
        free(lp);
        return NULL;
    }
    pthread_mutex_init(&lp->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&lp->wake, &attr);
    pthread_condattr_destroy(&attr);
    /* The directory may be behind the files already published: write them at start. */
    lp->wanted = 1;
    lp->behind_since = jclock_now();
    return lp;
}

int ldappub_start(struct ldappub *lp, struct jerr *err)
{
    pthread_mutex_lock(&lp->lock);
    report_locked(lp, NULL);
    pthread_mutex_unlock(&lp->lock);
    if (pthread_create(&lp->thread, NULL, ldappub_main, lp) != 0)
        return jerr_set(err, JERR_INTERNAL, NULL, "cannot start the LDAP publisher");
    lp->started = true;
    return 0;
}

void ldappub_notify(struct ldappub *lp)
{
    if (lp == NULL)
        return;
    pthread_mutex_lock(&lp->lock);
    lp->wanted++;
    if (lp->behind_since == 0)
        lp->behind_since = jclock_now();
    metrics_ldap_behind(lp->behind_since);
    pthread_cond_signal(&lp->wake);
    pthread_mutex_unlock(&lp->lock);
}

void ldappub_free(struct ldappub *lp)
{
    if (lp == NULL)
        return;
    if (lp->started) {
        pthread_mutex_lock(&lp->lock);
        lp->stop = true;
        pthread_cond_signal(&lp->wake);
        pthread_mutex_unlock(&lp->lock);
        pthread_join(lp->thread, NULL);
    }
    pthread_cond_destroy(&lp->wake);
    pthread_mutex_destroy(&lp->lock);
    config_passphrase_free(lp->password);
    free(lp);
}
