/*
 * Lifecycle events of DESIGN §4 against a real instance (pki_init in a temp directory): every
 * event and every refusal, with the exact statuses, reasons and fields.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ca/lifecycle.h"
#include "ca/profile.h"
#include "ca/validity.h"
#include "base/jclock.h"
#include "testinst.h"

static void add_person(struct testutil_fixture *fx, const char *id)
{
    struct jerr err = {0};
    struct person p =
        testutil_person(id, "山田 花子", "東京都千代田区霞が関2-1-2", "1990-01-02", GENDER_FEMALE);
    ck_assert_msg(lifecycle_person_register(&fx->ctx, &p, &err) == 0, "%s", err.msg);
}

static void add_card(struct testutil_fixture *fx, const char *id, const char *person,
                     enum card_type type, const char *expiry)
{
    struct jerr err = {0};
    struct card c = {.type = type};
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.person_id, sizeof(c.person_id), "%s", person);
    snprintf(c.expiry, sizeof(c.expiry), "%s", expiry);
    snprintf(c.prefecture, sizeof(c.prefecture), "Tokyo-to");
    snprintf(c.municipality, sizeof(c.municipality), "Chiyoda-ku");
    ck_assert_msg(lifecycle_card_register(&fx->ctx, &c, NULL, &err) == 0, "%s", err.msg);
}

/* Registers person P, card C (mynumber, expiring in 2035) and issues both. */
static void issue_both(struct testutil_fixture *fx, const char *person, const char *card,
                       struct issue_result *res)
{
    struct jerr err = {0};
    add_person(fx, person);
    add_card(fx, card, person, CARD_MYNUMBER, "2035-06-30");
    ck_assert_msg(lifecycle_issue(&fx->ctx, card, ISSUE_BOTH, NULL, res, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(res->count, 2);
}

static struct cert_rec cert_of(struct testutil_fixture *fx, const char *serial)
{
    struct jerr err = {0};
    struct cert_rec c;
    ck_assert_msg(store_cert_get(fx->st, serial, &c, &err) == 0, "%s", err.msg);
    return c;
}

static const char *serial_of(const struct issue_result *r, enum ca_kind ca)
{
    for (size_t i = 0; i < r->count; i++)
        if (r->certs[i].rec.ca == ca)
            return r->certs[i].rec.serial;
    return NULL;
}

START_TEST(init_refuses_existing_instance)
{
    struct jerr err = {0};
    struct pki_init_result res;
    ck_assert_int_eq(pki_init(testinst.cfg, TESTUTIL_PASS, &res, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "data_dir");
}
END_TEST

START_TEST(open_with_wrong_passphrase_fails)
{
    struct jerr err = {0};
    ck_assert_ptr_null(pki_open(testinst.cfg, "wrong passphrase", &err));
    ck_assert_int_eq(err.code, JERR_CRYPTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "wrong passphrase"));
}
END_TEST

START_TEST(issue_both_gives_two_good_certificates)
{
    struct testutil_fixture fx;
    struct issue_result res;
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-issue", "c-issue", &res);
    for (size_t i = 0; i < res.count; i++) {
        const struct issued_cert *ic = &res.certs[i];
        ck_assert_ptr_nonnull(ic->key);
        struct cert_rec c = cert_of(&fx, ic->rec.serial);
        ck_assert_int_eq(c.status, CERT_GOOD);
        ck_assert_str_eq(c.card_id, "c-issue");
        const unsigned char *p = ic->der;
        X509 *x = d2i_X509(NULL, &p, (long)ic->der_len);
        ck_assert_ptr_nonnull(x);
        EVP_PKEY *pub = X509_get0_pubkey(x);
        ck_assert_int_eq(EVP_PKEY_eq(pub, ic->key), 1);
        ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(pki_get0_root(fx.pki, c.ca))), 1);
        if (c.ca == CA_SIGN) {
            struct profile_facts facts;
            struct jerr err = {0};
            ck_assert_int_eq(profile_read_facts(x, &facts, &err), 0);
            ck_assert_str_eq(facts.name, "山田 花子");
            ck_assert_str_eq(facts.birth_date, "419900102");
        }
        X509_free(x);
    }
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(reissue_supersedes_only_the_same_ca)
{
    struct testutil_fixture fx;
    struct issue_result first, second;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-super", "c-super", &first);
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-super", ISSUE_SIGN, NULL, &second, &err), 0);
    ck_assert_int_eq(second.count, 1);
    ck_assert_int_eq(second.superseded.count, 1);
    ck_assert_str_eq(second.superseded.items[0], serial_of(&first, CA_SIGN));
    struct cert_rec old_sign = cert_of(&fx, serial_of(&first, CA_SIGN));
    ck_assert_int_eq(old_sign.status, CERT_REVOKED);
    ck_assert_int_eq(old_sign.reason, REASON_SUPERSEDED);
    ck_assert_int_eq(cert_of(&fx, serial_of(&first, CA_AUTH)).status, CERT_GOOD);
    ck_assert_int_eq(cert_of(&fx, serial_of(&second, CA_SIGN)).status, CERT_GOOD);
    issue_result_free(&first);
    issue_result_free(&second);
    testutil_fx_close(&fx);
}
END_TEST

static int count_mark(void *ctx, const struct store_ocsp_due *d)
{
    struct serial_list *l = ctx;
    void *grown = realloc(l->items, (l->count + 1) * sizeof(*l->items));
    ck_assert_ptr_nonnull(grown);
    l->items = grown;
    snprintf(l->items[l->count++], sizeof(l->items[0]), "%s", d->serial);
    return 0;
}

/* Whether `serial` is marked for the OCSP refresher (the instance is shared by the tests:
 * other certificates may be marked). */
static bool is_marked(struct testutil_fixture *fx, const char *serial)
{
    struct serial_list marks = {0};
    struct jerr err = {0};
    bool found = false;
    ck_assert_msg(store_ocsp_foreach_dirty(fx->st, 0, 100000, count_mark, &marks, &err) == 0,
                  "%s", err.msg);
    for (size_t i = 0; i < marks.count; i++)
        found = found || strcmp(marks.items[i], serial) == 0;
    serial_list_free(&marks);
    return found;
}

/* DESIGN §5 (docs/DESIGN-NOTES.md): a new good certificate is not marked for the OCSP
 * refresher (its response is signed on the first request); the certificate it supersedes,
 * a status change, is. A supplied public key is certified as it is. */
START_TEST(issuance_marks_only_status_changes)
{
    struct testutil_fixture fx;
    struct issue_result first, second;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-marks", "c-marks", &first);
    ck_assert(!is_marked(&fx, serial_of(&first, CA_SIGN)));
    ck_assert(!is_marked(&fx, serial_of(&first, CA_AUTH)));

    EVP_PKEY *own = EVP_RSA_gen(2048);
    ck_assert_ptr_nonnull(own);
    EVP_PKEY *keys[CA_KIND_COUNT] = {own, NULL};
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-marks", ISSUE_SIGN, keys, &second, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(second.count, 1);
    ck_assert_ptr_null(second.certs[0].key);
    ck_assert(!is_marked(&fx, second.certs[0].rec.serial));
    ck_assert(is_marked(&fx, serial_of(&first, CA_SIGN))); /* superseded: a status change */
    ck_assert(!is_marked(&fx, serial_of(&first, CA_AUTH)));

    /* The certificate carries the supplied key's subjectPublicKeyInfo, byte for byte. */
    const unsigned char *p = second.certs[0].der;
    X509 *x = d2i_X509(NULL, &p, (long)second.certs[0].der_len);
    ck_assert_ptr_nonnull(x);
    unsigned char *want = NULL, *got = NULL;
    int want_len = i2d_PUBKEY(own, &want);
    int got_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &got);
    ck_assert_int_gt(want_len, 0);
    ck_assert_int_eq(got_len, want_len);
    ck_assert_mem_eq(got, want, (size_t)want_len);
    ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(x), own), 1);
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(pki_get0_root(fx.pki, CA_SIGN))), 1);
    OPENSSL_free(want);
    OPENSSL_free(got);
    X509_free(x);
    EVP_PKEY_free(own);
    issue_result_free(&first);
    issue_result_free(&second);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(basic_info_change_revokes_signing_only)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct serial_list revoked = {0};
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-move", "c-move", &res);
    struct person p;
    ck_assert_int_eq(store_person_get(fx.st, "p-move", &p, &err), 0);
    snprintf(p.address, sizeof(p.address), "大阪府大阪市北区1-1");
    ck_assert_int_eq(lifecycle_basic_info_change(&fx.ctx, &p, NULL, &revoked, &err), 0);
    ck_assert_int_eq(revoked.count, 1);
    ck_assert_str_eq(revoked.items[0], serial_of(&res, CA_SIGN));
    struct cert_rec s = cert_of(&fx, serial_of(&res, CA_SIGN));
    ck_assert_int_eq(s.status, CERT_REVOKED);
    ck_assert_int_eq(s.reason, REASON_AFFILIATION_CHANGED);
    ck_assert_int_eq(cert_of(&fx, serial_of(&res, CA_AUTH)).status, CERT_GOOD);
    struct person after;
    ck_assert_int_eq(store_person_get(fx.st, "p-move", &after, &err), 0);
    ck_assert_str_eq(after.address, "大阪府大阪市北区1-1");
    serial_list_free(&revoked);
    /* The same facts again change nothing. */
    ck_assert_int_eq(lifecycle_basic_info_change(&fx.ctx, &after, NULL, &revoked, &err), 0);
    ck_assert_int_eq(revoked.count, 0);
    serial_list_free(&revoked);
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(hold_then_release_frees_auth_only)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct serial_list held = {0}, released = {0}, still = {0};
    struct jerr err = {0};
    struct card card;
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-hold", "c-hold", &res);
    ck_assert_int_eq(lifecycle_hold(&fx.ctx, "c-hold", &held, &err), 0);
    ck_assert_int_eq(held.count, 2);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        struct cert_rec c = cert_of(&fx, serial_of(&res, (enum ca_kind)ca));
        ck_assert_int_eq(c.status, CERT_HOLD);
        ck_assert_int_eq(c.reason, REASON_CERTIFICATE_HOLD);
    }
    ck_assert_int_eq(store_card_get(fx.st, "c-hold", &card, &err), 0);
    ck_assert_int_eq(card.state, CARD_SUSPENDED);

    /* Holding a suspended card again is refused; so is issuing onto it. */
    ck_assert_int_eq(lifecycle_hold(&fx.ctx, "c-hold", NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    jerr_clear(&err);
    struct issue_result none;
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-hold", ISSUE_AUTH, NULL, &none, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "card");
    jerr_clear(&err);

    ck_assert_int_eq(lifecycle_release(&fx.ctx, "c-hold", &released, &still, &err), 0);
    ck_assert_int_eq(released.count, 1);
    ck_assert_str_eq(released.items[0], serial_of(&res, CA_AUTH));
    ck_assert_int_eq(still.count, 1);
    ck_assert_str_eq(still.items[0], serial_of(&res, CA_SIGN));
    ck_assert_int_eq(cert_of(&fx, serial_of(&res, CA_AUTH)).status, CERT_GOOD);
    ck_assert_int_eq(cert_of(&fx, serial_of(&res, CA_SIGN)).status, CERT_HOLD);
    ck_assert_int_eq(store_card_get(fx.st, "c-hold", &card, &err), 0);
    ck_assert_int_eq(card.state, CARD_ACTIVE);

    /* Releasing an active card is refused. */
    ck_assert_int_eq(lifecycle_release(&fx.ctx, "c-hold", NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    serial_list_free(&held);
    serial_list_free(&released);
    serial_list_free(&still);
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(revoke_is_terminal)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-rev", "c-rev", &res);
    const char *serial = serial_of(&res, CA_AUTH);
    ck_assert_int_eq(lifecycle_revoke(&fx.ctx, serial, REASON_KEY_COMPROMISE, &err), 0);
    struct cert_rec c = cert_of(&fx, serial);
    ck_assert_int_eq(c.status, CERT_REVOKED);
    ck_assert_int_eq(c.reason, REASON_KEY_COMPROMISE);
    ck_assert_int_eq(lifecycle_revoke(&fx.ctx, serial, REASON_UNSPECIFIED, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "serial");
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_revoke(&fx.ctx, "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
                                      REASON_UNSPECIFIED, &err),
                     -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_revoke(&fx.ctx, serial_of(&res, CA_SIGN),
                                      REASON_CERTIFICATE_HOLD, &err),
                     -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "reason");
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(card_return_revokes_everything_on_it)
{
    struct testutil_fixture fx;
    struct issue_result res, none;
    struct serial_list revoked = {0};
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-ret", "c-ret", &res);
    ck_assert_int_eq(lifecycle_card_return(&fx.ctx, "c-ret", &revoked, &err), 0);
    ck_assert_int_eq(revoked.count, 2);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        struct cert_rec c = cert_of(&fx, serial_of(&res, (enum ca_kind)ca));
        ck_assert_int_eq(c.status, CERT_REVOKED);
        ck_assert_int_eq(c.reason, REASON_CESSATION_OF_OPERATION);
    }
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-ret", ISSUE_BOTH, NULL, &none, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "card");
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_card_return(&fx.ctx, "c-ret", NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    serial_list_free(&revoked);
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(death_revokes_and_blocks_issuance)
{
    struct testutil_fixture fx;
    struct issue_result res, none;
    struct serial_list revoked = {0};
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-dead", "c-dead", &res);
    ck_assert_int_eq(lifecycle_death(&fx.ctx, "p-dead", &revoked, &err), 0);
    ck_assert_int_eq(revoked.count, 2);
    ck_assert_int_eq(cert_of(&fx, serial_of(&res, CA_SIGN)).reason,
                     REASON_CESSATION_OF_OPERATION);
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-dead", ISSUE_SIGN, NULL, &none, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "person");
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_death(&fx.ctx, "p-dead", NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    serial_list_free(&revoked);
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(juki_cards_only_before_the_end_of_juki_issuance)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    add_person(&fx, "p-juki");
    add_card(&fx, "c-juki", "p-juki", CARD_JUKI, "2030-01-01");
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-juki", ISSUE_BOTH, NULL, &res, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "card");
    jerr_clear(&err);

    /* In 2014 a Juki card could still receive certificates, valid 3 years. */
    time_t t2014 = jclock_utc(2014, 4, 1, 3, 0, 0);
    jclock_set(t2014);
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-juki", ISSUE_AUTH, NULL, &res, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(res.certs[0].rec.not_after, validity_add_years(t2014, 3));
    jclock_set(0);
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(validity_is_capped_to_the_card)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    time_t now = jclock_utc(2026, 11, 25, 12, 0, 0);
    jclock_set(now);
    add_person(&fx, "p-cap");
    add_card(&fx, "c-cap", "p-cap", CARD_MYNUMBER, "2028-03-31");
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-cap", ISSUE_SIGN, NULL, &res, &err), 0);
    ck_assert_int_eq(res.certs[0].rec.not_after, jclock_utc(2028, 3, 31, 14, 59, 59));
    ck_assert_int_eq(res.certs[0].rec.not_before, now - 60);
    issue_result_free(&res);

    /* Registered while it was still valid; it has expired since. */
    jclock_set(now - 30 * 86400);
    add_card(&fx, "c-expired", "p-cap", CARD_MYNUMBER, "2026-11-24");
    jclock_set(now);
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-expired", ISSUE_SIGN, NULL, &res, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "card");
    jclock_set(0);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(unknown_ids_are_not_found)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "no-such-card", ISSUE_BOTH, NULL, &res, &err),
                     -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_hold(&fx.ctx, "no-such-card", NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_death(&fx.ctx, "no-such-person", NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);
    struct card c = {.type = CARD_MYNUMBER};
    snprintf(c.id, sizeof(c.id), "c-orphan");
    snprintf(c.person_id, sizeof(c.person_id), "no-such-person");
    snprintf(c.expiry, sizeof(c.expiry), "2030-01-01");
    ck_assert_int_eq(lifecycle_card_register(&fx.ctx, &c, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "bad id!", ISSUE_BOTH, NULL, &res, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "card_id");
    testutil_fx_close(&fx);
}
END_TEST

struct audit_count {
    int ok, refused;
};

static int count_rows(void *ctx, const struct audit_entry *e)
{
    struct audit_count *c = ctx;
    if (strcmp(e->outcome, "ok") == 0)
        c->ok++;
    else if (strcmp(e->outcome, "refused") == 0)
        c->refused++;
    return 0;
}

START_TEST(events_and_refusals_are_audited)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-aud", "c-aud", &res);
    ck_assert_int_eq(lifecycle_card_return(&fx.ctx, "c-aud", NULL, &err), 0);
    ck_assert_int_eq(lifecycle_card_return(&fx.ctx, "c-aud", NULL, &err), -1);
    struct audit_count count = {0};
    ck_assert_int_eq(store_audit_foreach_target(fx.st, "c-aud", count_rows, &count, &err), 0);
    ck_assert_int_eq(count.refused, 1);
    ck_assert_int_ge(count.ok, 3); /* register, issue, return */
    struct audit_count per_cert = {0};
    ck_assert_int_eq(store_audit_foreach_target(fx.st, serial_of(&res, CA_SIGN), count_rows,
                                                &per_cert, &err),
                     0);
    ck_assert_int_eq(per_cert.ok, 2); /* issued, revoked */
    int64_t bad = 0, rows = 0;
    jerr_clear(&err);
    ck_assert_msg(store_audit_verify(fx.st, &bad, &rows, &err) == 0, "%s", err.msg);
    ck_assert_int_gt(rows, 5);
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

static struct card card_of(struct testutil_fixture *fx, const char *id)
{
    struct jerr err = {0};
    struct card c;
    ck_assert_msg(store_card_get(fx->st, id, &c, &err) == 0, "%s", err.msg);
    return c;
}

START_TEST(new_mynumber_card_returns_the_others)
{
    struct testutil_fixture fx;
    struct issue_result old = {0}, juki = {0}, fresh = {0};
    struct card_register_result reg = {0};
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    /* 2014: a Juki card with a certificate (still possible then, 3 years). */
    jclock_set(jclock_utc(2014, 4, 1, 3, 0, 0));
    add_person(&fx, "p-new");
    add_card(&fx, "c-juki2", "p-new", CARD_JUKI, "2019-03-31");
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-juki2", ISSUE_SIGN, NULL, &juki, &err) == 0, "%s",
                  err.msg);
    /* 2016: the first My Number card. Guide 3(1): the Juki card is handed back. */
    jclock_set(jclock_utc(2016, 2, 1, 3, 0, 0));
    struct card c = {.type = CARD_MYNUMBER};
    snprintf(c.id, sizeof(c.id), "c-mn1");
    snprintf(c.person_id, sizeof(c.person_id), "p-new");
    snprintf(c.expiry, sizeof(c.expiry), "2025-06-30");
    ck_assert_msg(lifecycle_card_register(&fx.ctx, &c, &reg, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(reg.returned.count, 1);
    ck_assert_str_eq(reg.returned.items[0].id, "c-juki2");
    ck_assert_uint_eq(reg.revoked.count, 1);
    ck_assert_str_eq(reg.revoked.items[0], juki.certs[0].rec.serial);
    ck_assert_uint_eq(reg.superseded.count, 0);
    card_register_result_free(&reg);
    ck_assert_int_eq(card_of(&fx, "c-juki2").state, CARD_RETURNED);
    ck_assert_int_eq(cert_of(&fx, juki.certs[0].rec.serial).reason, REASON_CESSATION_OF_OPERATION);
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-mn1", ISSUE_BOTH, NULL, &old, &err) == 0, "%s",
                  err.msg);

    /* 2024: a new My Number card supersedes the first: one active card per person. */
    jclock_set(jclock_utc(2024, 6, 1, 3, 0, 0));
    snprintf(c.id, sizeof(c.id), "c-mn2");
    snprintf(c.expiry, sizeof(c.expiry), "2034-06-30");
    ck_assert_msg(lifecycle_card_register(&fx.ctx, &c, &reg, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(reg.returned.count, 1);
    ck_assert_str_eq(reg.returned.items[0].id, "c-mn1");
    ck_assert_uint_eq(reg.revoked.count, 0);
    ck_assert_uint_eq(reg.superseded.count, 2);
    card_register_result_free(&reg);
    for (size_t i = 0; i < old.count; i++) {
        struct cert_rec r = cert_of(&fx, old.certs[i].rec.serial);
        ck_assert_int_eq(r.status, CERT_REVOKED);
        ck_assert_int_eq(r.reason, REASON_SUPERSEDED);
    }
    ck_assert_int_eq(card_of(&fx, "c-mn1").state, CARD_RETURNED);
    ck_assert_int_eq(card_of(&fx, "c-mn2").state, CARD_ACTIVE);
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-mn1", ISSUE_AUTH, NULL, &fresh, &err), -1);
    ck_assert_str_eq(err.field, "card");
    jerr_clear(&err);
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-mn2", ISSUE_AUTH, NULL, &fresh, &err) == 0, "%s",
                  err.msg);
    issue_result_free(&fresh);
    /* A Juki card registered later (an old record) touches nothing. */
    c.type = CARD_JUKI;
    snprintf(c.id, sizeof(c.id), "c-juki3");
    ck_assert_msg(lifecycle_card_register(&fx.ctx, &c, &reg, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(reg.returned.count, 0);
    card_register_result_free(&reg);
    ck_assert_int_eq(card_of(&fx, "c-mn2").state, CARD_ACTIVE);
    jclock_set(0);
    issue_result_free(&old);
    issue_result_free(&juki);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(card_expiry_is_checked_at_registration)
{
    struct testutil_fixture fx;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    jclock_set(jclock_utc(2026, 11, 25, 12, 0, 0));
    add_person(&fx, "p-exp");
    static const char *const bad[] = {"2026-11-24", "2037-11-26", "2099-12-31"};
    for (size_t i = 0; i < 3; i++) {
        struct card c = {.type = CARD_MYNUMBER};
        snprintf(c.id, sizeof(c.id), "c-exp%zu", i);
        snprintf(c.person_id, sizeof(c.person_id), "p-exp");
        snprintf(c.expiry, sizeof(c.expiry), "%s", bad[i]);
        ck_assert_int_eq(lifecycle_card_register(&fx.ctx, &c, NULL, &err), -1);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, "expiry");
        jerr_clear(&err);
        ck_assert_int_eq(store_card_get(fx.st, c.id, &c, &err), -1);
        jerr_clear(&err);
    }
    add_card(&fx, "c-exp-ok", "p-exp", CARD_MYNUMBER, "2037-11-25");
    jclock_set(0);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(death_takes_the_cards_out_of_use)
{
    struct testutil_fixture fx;
    struct issue_result res;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-dead2", "c-dead2", &res);
    ck_assert_int_eq(lifecycle_hold(&fx.ctx, "c-dead2", NULL, &err), 0);
    ck_assert_int_eq(lifecycle_death(&fx.ctx, "p-dead2", NULL, &err), 0);
    ck_assert_int_eq(card_of(&fx, "c-dead2").state, CARD_RETURNED);
    ck_assert_int_eq(lifecycle_release(&fx.ctx, "c-dead2", NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    issue_result_free(&res);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(signing_alone_ends_with_the_authentication_certificate)
{
    struct testutil_fixture fx;
    struct issue_result both, sign, sign2;
    struct jerr err = {0};
    testutil_fx_open(&fx, &testinst);
    time_t t0 = jclock_utc(2026, 11, 25, 12, 0, 0);
    jclock_set(t0);
    issue_both(&fx, "p-alone", "c-alone", &both);
    time_t auth_end = validity_add_years(t0, 5);
    ck_assert_int_eq(cert_of(&fx, serial_of(&both, CA_AUTH)).not_after, auth_end);
    ck_assert_int_eq(cert_of(&fx, serial_of(&both, CA_SIGN)).not_after, auth_end);

    /* A year later the signing certificate alone (after a move, say): it ends with the
     * authentication certificate, not five years on (guide 3(1), docs/PROFILES.md). */
    time_t t1 = jclock_utc(2027, 11, 25, 12, 0, 0);
    jclock_set(t1);
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-alone", ISSUE_SIGN, NULL, &sign, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(sign.certs[0].rec.not_after, auth_end);
    const unsigned char *p = sign.certs[0].der;
    X509 *x = d2i_X509(NULL, &p, (long)sign.certs[0].der_len);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), auth_end), 0);
    X509_free(x);

    /* Without a good authentication certificate, the five years. */
    ck_assert_int_eq(
        lifecycle_revoke(&fx.ctx, serial_of(&both, CA_AUTH), REASON_KEY_COMPROMISE, &err), 0);
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-alone", ISSUE_SIGN, NULL, &sign2, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(sign2.certs[0].rec.not_after, validity_add_years(t1, 5));
    jclock_set(0);
    issue_result_free(&both);
    issue_result_free(&sign);
    issue_result_free(&sign2);
    testutil_fx_close(&fx);
}
END_TEST

/* The L= values of a certificate's subject, joined by '|'. */
static void subject_places(const struct issued_cert *ic, char *out, size_t size)
{
    const unsigned char *p = ic->der;
    X509 *x = d2i_X509(NULL, &p, (long)ic->der_len);
    ck_assert_ptr_nonnull(x);
    const X509_NAME *name = X509_get_subject_name(x);
    out[0] = '\0';
    for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_localityName, i)) >= 0;) {
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%.*s", used > 0 ? "|" : "", ASN1_STRING_length(v),
                 (const char *)ASN1_STRING_get0_data(v));
    }
    X509_free(x);
}

START_TEST(place_names_follow_the_address)
{
    struct testutil_fixture fx;
    struct issue_result both, moved, cleared;
    struct serial_list revoked = {0};
    struct jerr err = {0};
    char places[512];
    testutil_fx_open(&fx, &testinst);
    issue_both(&fx, "p-moves", "c-moves", &both);
    subject_places(&both.certs[0], places, sizeof(places));
    ck_assert_str_eq(places, "Tokyo-to|Chiyoda-ku");

    /* A move with the new address's place names: the re-issued signing certificate has them. */
    struct person p;
    ck_assert_int_eq(store_person_get(fx.st, "p-moves", &p, &err), 0);
    snprintf(p.address, sizeof(p.address), "大阪府大阪市北区2-2");
    struct place_names osaka = {"大阪府", "大阪市"};
    ck_assert_int_eq(lifecycle_basic_info_change(&fx.ctx, &p, &osaka, &revoked, &err), 0);
    ck_assert_uint_eq(revoked.count, 1);
    serial_list_free(&revoked);
    ck_assert_str_eq(card_of(&fx, "c-moves").prefecture, "大阪府");
    ck_assert_str_eq(card_of(&fx, "c-moves").municipality, "大阪市");
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-moves", ISSUE_SIGN, NULL, &moved, &err) == 0, "%s",
                  err.msg);
    subject_places(&moved.certs[0], places, sizeof(places));
    ck_assert_str_eq(places, "大阪府|大阪市");

    /* A move without them: the old ones are never written again. */
    snprintf(p.address, sizeof(p.address), "北海道札幌市中央区3-3");
    ck_assert_int_eq(lifecycle_basic_info_change(&fx.ctx, &p, NULL, &revoked, &err), 0);
    serial_list_free(&revoked);
    ck_assert_str_eq(card_of(&fx, "c-moves").prefecture, "");
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-moves", ISSUE_SIGN, NULL, &cleared, &err) == 0, "%s",
                  err.msg);
    subject_places(&cleared.certs[0], places, sizeof(places));
    ck_assert_str_eq(places, "");
    issue_result_free(&cleared);

    /* PATCH /v1/cards/{id}: set them at the window. */
    struct place_names sapporo = {"北海道", "札幌市"};
    struct card now;
    ck_assert_int_eq(lifecycle_card_set_places(&fx.ctx, "c-moves", &sapporo, &now, &err), 0);
    ck_assert_str_eq(now.municipality, "札幌市");
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c-moves", ISSUE_SIGN, NULL, &cleared, &err) == 0, "%s",
                  err.msg);
    subject_places(&cleared.certs[0], places, sizeof(places));
    ck_assert_str_eq(places, "北海道|札幌市");
    /* A change of name only keeps them. */
    snprintf(p.name, sizeof(p.name), "佐藤 花子");
    ck_assert_int_eq(lifecycle_basic_info_change(&fx.ctx, &p, NULL, &revoked, &err), 0);
    serial_list_free(&revoked);
    ck_assert_str_eq(card_of(&fx, "c-moves").prefecture, "北海道");
    /* Refusals: bad text, a returned card. */
    struct place_names bad = {"", "a\x01b"};
    ck_assert_int_eq(lifecycle_card_set_places(&fx.ctx, "c-moves", &bad, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "municipality");
    jerr_clear(&err);
    ck_assert_int_eq(lifecycle_card_return(&fx.ctx, "c-moves", NULL, &err), 0);
    ck_assert_int_eq(lifecycle_card_set_places(&fx.ctx, "c-moves", &sapporo, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "card");
    issue_result_free(&cleared);
    issue_result_free(&moved);
    issue_result_free(&both);
    testutil_fx_close(&fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = testinst_tcase("events", 60);
    tcase_add_test(tc, init_refuses_existing_instance);
    tcase_add_test(tc, open_with_wrong_passphrase_fails);
    tcase_add_test(tc, issue_both_gives_two_good_certificates);
    tcase_add_test(tc, reissue_supersedes_only_the_same_ca);
    tcase_add_test(tc, issuance_marks_only_status_changes);
    tcase_add_test(tc, basic_info_change_revokes_signing_only);
    tcase_add_test(tc, hold_then_release_frees_auth_only);
    tcase_add_test(tc, revoke_is_terminal);
    tcase_add_test(tc, card_return_revokes_everything_on_it);
    tcase_add_test(tc, death_revokes_and_blocks_issuance);
    tcase_add_test(tc, juki_cards_only_before_the_end_of_juki_issuance);
    tcase_add_test(tc, validity_is_capped_to_the_card);
    tcase_add_test(tc, unknown_ids_are_not_found);
    tcase_add_test(tc, events_and_refusals_are_audited);
    tcase_add_test(tc, new_mynumber_card_returns_the_others);
    tcase_add_test(tc, card_expiry_is_checked_at_registration);
    tcase_add_test(tc, death_takes_the_cards_out_of_use);
    tcase_add_test(tc, signing_alone_ends_with_the_authentication_certificate);
    tcase_add_test(tc, place_names_follow_the_address);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
