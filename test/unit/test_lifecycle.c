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
#include "config/jclock.h"
#include "testinst.h"

static struct testutil_instance inst;

static void instance_setup(void)
{
    testutil_instance_create(&inst);
}

static void instance_teardown(void)
{
    testutil_instance_destroy(&inst);
}

static void add_person(struct testutil_fixture *fx, const char *id)
{
    struct jerr err = {0};
    struct person p = {.gender = GENDER_FEMALE};
    snprintf(p.id, sizeof(p.id), "%s", id);
    snprintf(p.name, sizeof(p.name), "山田 花子");
    snprintf(p.address, sizeof(p.address), "東京都千代田区霞が関2-1-2");
    snprintf(p.birth_date, sizeof(p.birth_date), "1990-01-02");
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
    ck_assert_msg(lifecycle_card_register(&fx->ctx, &c, &err) == 0, "%s", err.msg);
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
    ck_assert_int_eq(pki_init(inst.cfg, TESTUTIL_PASS, &res, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "data_dir");
}
END_TEST

START_TEST(open_with_wrong_passphrase_fails)
{
    struct jerr err = {0};
    ck_assert_ptr_null(pki_open(inst.cfg, "wrong passphrase", &err));
    ck_assert_int_eq(err.code, JERR_CRYPTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "wrong passphrase"));
}
END_TEST

START_TEST(issue_both_gives_two_good_certificates)
{
    struct testutil_fixture fx;
    struct issue_result res;
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
    issue_both(&fx, "p-move", "c-move", &res);
    struct person p;
    ck_assert_int_eq(store_person_get(fx.st, "p-move", &p, &err), 0);
    snprintf(p.address, sizeof(p.address), "大阪府大阪市北区1-1");
    ck_assert_int_eq(lifecycle_basic_info_change(&fx.ctx, &p, &revoked, &err), 0);
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
    ck_assert_int_eq(lifecycle_basic_info_change(&fx.ctx, &after, &revoked, &err), 0);
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
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
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
    testutil_fx_open(&fx, &inst);
    time_t now = jclock_utc(2026, 11, 25, 12, 0, 0);
    jclock_set(now);
    add_person(&fx, "p-cap");
    add_card(&fx, "c-cap", "p-cap", CARD_MYNUMBER, "2028-03-31");
    ck_assert_int_eq(lifecycle_issue(&fx.ctx, "c-cap", ISSUE_SIGN, NULL, &res, &err), 0);
    ck_assert_int_eq(res.certs[0].rec.not_after, jclock_utc(2028, 3, 31, 14, 59, 59));
    ck_assert_int_eq(res.certs[0].rec.not_before, now - 60);
    issue_result_free(&res);

    add_card(&fx, "c-expired", "p-cap", CARD_MYNUMBER, "2026-11-24");
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
    testutil_fx_open(&fx, &inst);
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
    ck_assert_int_eq(lifecycle_card_register(&fx.ctx, &c, &err), -1);
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
    testutil_fx_open(&fx, &inst);
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

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, instance_setup, instance_teardown);
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
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
