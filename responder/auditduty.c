/*
 * auditduty: see auditduty.h. One job at a time: a period that finds the previous checkpoint
 * still being signed is skipped (the next one covers its rows).
 */
#include "responder/auditduty.h"

#include <stdbool.h>
#include <stdlib.h>

#include "ca/checkpoint.h"
#include "responder/net/log.h"

struct auditduty {
    struct pki *pki;
    struct workers_loop *work;
    struct event *timer, *first;
    bool running;
    bool stopped;
    struct jerr err; /* the job's, read back on the loop */
    bool written;
};

static void checkpoint_job(struct worker *self, void *arg)
{
    struct auditduty *ad = arg;
    struct store *st;

    jerr_clear(&ad->err);
    ad->written = false;
    if ((st = workers_store(self, &ad->err)) == NULL)
        return;
    checkpoint_write(st, pki_get0_audit_signer(ad->pki), true, &ad->written, &ad->err);
}

static void checkpoint_done(void *arg)
{
    struct auditduty *ad = arg;

    ad->running = false;
    if (jerr_is_set(&ad->err))
        log_error("audit checkpoint: %s", ad->err.msg);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct auditduty *ad = arg;
    struct jerr err = {0};
    (void)fd;
    (void)what;

    if (ad->stopped || ad->running)
        return;
    if (workers_submit(ad->work, checkpoint_job, checkpoint_done, ad, &err) == -1) {
        log_error("audit checkpoint: %s", err.msg);
        return;
    }
    ad->running = true;
}

struct auditduty *auditduty_new(struct pki *pki, struct event_base *control,
                                struct workers_loop *work, struct jerr *err)
{
    struct auditduty *ad = calloc(1, sizeof(*ad));
    const struct jpki_config *cfg = pki_config(pki);

    if (ad == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    ad->pki = pki;
    ad->work = work;
    if (pki_get0_audit_signer(pki) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "audit checkpoints need the audit key");
        goto fail;
    }
    ad->timer = event_new(control, -1, EV_PERSIST, tick_cb, ad);
    ad->first = evtimer_new(control, tick_cb, ad);
    struct timeval now = {0, 0}, period = {cfg->audit_checkpoint_s, 0};
    if (ad->timer == NULL || ad->first == NULL || event_add(ad->first, &now) == -1 ||
        event_add(ad->timer, &period) == -1) {
        jerr_set(err, JERR_INTERNAL, NULL, "audit checkpoints: event_new failed");
        goto fail;
    }
    return ad;
fail:
    auditduty_free(ad);
    return NULL;
}

void auditduty_stop(struct auditduty *ad)
{
    if (ad == NULL)
        return;
    ad->stopped = true;
    event_del(ad->timer);
    event_del(ad->first);
}

int auditduty_final(const struct pki *pki, struct jerr *err)
{
    bool written = false;
    struct store *st = pki_store_open(pki, err);
    int rc = -1;

    if (st == NULL)
        return -1;
    rc = checkpoint_write(st, pki_get0_audit_signer(pki), true, &written, err);
    store_close(st);
    return rc;
}

void auditduty_free(struct auditduty *ad)
{
    if (ad == NULL)
        return;
    if (ad->timer != NULL)
        event_free(ad->timer);
    if (ad->first != NULL)
        event_free(ad->first);
    free(ad);
}
