/*
 * CA generations (DESIGN §11) against a real instance: the rollover ceremony (root, links both
 * ways, OCSP signer, registry rows, audit row), issuance on the newest generation, the CRL of
 * each generation signed by its own key, and the refusals that leave nothing behind.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/crl.h"
#include "ca/rollover.h"
#include "ca/validity.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "testinst.h"

static void register_card(struct testutil_fixture *fx, const char *person, const char *card)
{
    struct person p =
        testutil_person(person, "山田 花子", "東京都千代田区霞が関2-1-2", "1990-01-02", GENDER_FEMALE);
    testinst_register_card(fx, &p, card, "2035-06-30");
}

static int gen_rows(struct store *st, enum ca_kind ca, struct ca_gen_rec **recs)
{
    struct jerr err = {0};
    size_t n = 0;
    ck_assert_msg(store_gen_list(st, ca, recs, &n, &err) == 0, "%s", err.msg);
    return (int)n;
}

static bool exists(const char *rel)
{
    char path[PATH_MAX];
    return config_path(testinst.cfg, rel, path, sizeof(path)) != NULL && fsutil_exists(path);
}

/* Generation 1 follows the configuration, generation 2 recorded it at its rollover, generation
 * 3 records 10 years (5 under 18); issuance on generation 3 uses its own, capped to the card. */
static void check_generation_validity(struct testutil_fixture *fx, const struct pki_gen *g1,
                                      const struct pki_gen *g2, const struct pki_gen *g3)
{
    const struct jpki_config *cfg = testinst.cfg;
    struct jerr err = {0};
    struct ca_gen_rec *recs = NULL;
    int years, minor;
    bool recorded;

    pki_gen_validity(fx->pki, g1, &years, &minor, &recorded);
    ck_assert(!recorded);
    ck_assert_int_eq(years, cfg->subscriber_validity_years);
    ck_assert_int_eq(minor, cfg->subscriber_validity_years_minor);
    pki_gen_validity(fx->pki, g2, &years, &minor, &recorded);
    ck_assert(recorded);
    ck_assert_int_eq(years, cfg->subscriber_validity_years);
    pki_gen_validity(fx->pki, g3, &years, &minor, &recorded);
    ck_assert(recorded && years == 10 && minor == 5);
    ck_assert_int_eq(gen_rows(fx->st, CA_SIGN, &recs), 3);
    ck_assert_int_eq(recs[0].validity_years, 0); /* NULL: the configuration's */
    ck_assert_int_eq(recs[1].validity_years, cfg->subscriber_validity_years);
    ck_assert_int_eq(recs[2].validity_years, 10);
    ck_assert_int_eq(recs[2].validity_years_minor, 5);
    free(recs);

    /* Cards running 10½ years: an adult's certificate gets 10 years, a minor's 5; the card of
     * 2035-06-30 caps the third. */
    time_t now = jclock_now();
    char far[16], minor_birth[16];
    time_t far_t = validity_add_years(now, 10) + 180 * 86400, born = validity_add_years(now, -16);
    strftime(far, sizeof(far), "%Y-%m-%d", gmtime(&far_t));
    strftime(minor_birth, sizeof(minor_birth), "%Y-%m-%d", gmtime(&born));
    struct person adult =
        testutil_person("p10", "山田 十年", "東京都千代田区霞が関2-1-2", "1980-01-02", GENDER_FEMALE);
    struct person young =
        testutil_person("p11", "山田 五年", "東京都千代田区霞が関2-1-2", minor_birth, GENDER_MALE);
    testinst_register_card(fx, &adult, "c10", far);
    testinst_register_card(fx, &young, "c11", far);
    register_card(fx, "p12", "c12");
    struct issue_result r;
    const char *cards[] = {"c10", "c11", "c12"};
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(lifecycle_issue(&fx->ctx, cards[i], ISSUE_SIGN, NULL, &r, &err) == 0, "%s",
                      err.msg);
        const struct cert_rec *c = &r.certs[0].rec;
        ck_assert_int_eq(c->generation, 3);
        time_t expect = i == 0   ? validity_add_years((time_t)c->issued_at, 10)
                        : i == 1 ? validity_add_years((time_t)c->issued_at, 5)
                                 : validity_card_end("2035-06-30");
        ck_assert_int_eq((long long)c->not_after, (long long)expect);
        issue_result_free(&r);
    }
}

/* Runs every check in order on one instance: each step builds on the generation before. */
START_TEST(rollover_makes_and_serves_a_generation)
{
    struct testutil_fixture fx;
    struct jerr err = {0};
    struct rollover_request req = {.ca = CA_SIGN};
    struct rollover_result res;
    struct ca_gen_rec *recs = NULL;
    struct issue_result before, after;

    testutil_fx_open(&fx, &testinst);
    ck_assert_int_eq(pki_gen_count(fx.pki, CA_SIGN), 1);
    ck_assert_int_eq(gen_rows(fx.st, CA_SIGN, &recs), 1);
    ck_assert_str_eq(recs[0].algorithm, "rsa2048"); /* filled in at init */
    free(recs);
    register_card(&fx, "p1", "c1");
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c1", ISSUE_SIGN, NULL, &before, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(before.certs[0].rec.generation, 1);

    /* The ceremony. */
    snprintf(req.actor, sizeof(req.actor), "tester");
    ck_assert_msg(rollover_run(fx.pki, &req, &res, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(res.generation, 2);
    ck_assert_str_eq(res.warning, "");
    ck_assert_int_eq(pki_gen_count(fx.pki, CA_SIGN), 2);
    ck_assert_int_eq(pki_gen_count(fx.pki, CA_AUTH), 1);
    const struct pki_gen *g1 = pki_gen(fx.pki, CA_SIGN, 1), *g2 = pki_newest(fx.pki, CA_SIGN);
    ck_assert_int_eq(g2->number, 2);
    ck_assert_ptr_eq(pki_get0_root(fx.pki, CA_SIGN), g2->root);
    /* Same subject, another key; self-signed. */
    ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(g1->root), X509_get_subject_name(g2->root)),
                     0);
    ck_assert_int_ne(EVP_PKEY_eq(X509_get0_pubkey(g1->root), X509_get0_pubkey(g2->root)), 1);
    ck_assert_int_eq(X509_verify(g2->root, X509_get0_pubkey(g2->root)), 1);
    /* Link 1-2: root 2's key under key 1; link 2-1 the reverse; AKI/SKI tell the keys apart. */
    ck_assert_int_eq(X509_verify(g2->link_from_prev, X509_get0_pubkey(g1->root)), 1);
    ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(g2->link_from_prev), X509_get0_pubkey(g2->root)),
                     1);
    ck_assert_int_eq(X509_verify(g2->link_to_prev, X509_get0_pubkey(g2->root)), 1);
    ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(g2->link_to_prev), X509_get0_pubkey(g1->root)), 1);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(g2->link_from_prev),
                                           X509_get0_subject_key_id(g1->root)),
                     0);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(g2->link_from_prev),
                                           X509_get0_subject_key_id(g2->root)),
                     0);
    ck_assert_int_gt(X509_check_ca(g2->link_from_prev), 0);
    /* Each link ends with the older root. */
    ck_assert_int_eq(ASN1_TIME_compare(X509_get0_notAfter(g2->link_from_prev),
                                       X509_get0_notAfter(g1->root)),
                     0);
    /* The new OCSP signer is certified by the new root. */
    ck_assert_int_eq(X509_verify(g2->ocsp_cert, X509_get0_pubkey(g2->root)), 1);
    ck_assert_ptr_eq(pki_gen_by_key_id(fx.pki, CA_SIGN, X509_get0_subject_key_id(g1->root)), g1);
    ck_assert_int_eq(g2->issuer.generation, 2);

    /* Recorded: generation 2 active, generation 1 issuing-stopped; audit row; files. */
    ck_assert_int_eq(gen_rows(fx.st, CA_SIGN, &recs), 2);
    ck_assert_int_eq(recs[0].state, CA_GEN_ISSUING_STOPPED);
    ck_assert_int_eq(recs[1].state, CA_GEN_ACTIVE);
    ck_assert_str_eq(recs[1].ca_key, "sign-ca-g2");
    free(recs);
    ck_assert(exists("certs/sign-ca-g2.pem"));
    ck_assert(exists("certs/sign-link-1-2.pem") && exists("certs/sign-link-2-1.pem"));
    ck_assert(exists("crl/sign/g2.crl"));

    /* New issuance on generation 2, its CDP its own CRL; the old certificate stays 1. */
    register_card(&fx, "p2", "c2");
    ck_assert_msg(lifecycle_issue(&fx.ctx, "c2", ISSUE_SIGN, NULL, &after, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(after.certs[0].rec.generation, 2);
    struct cert_rec old;
    ck_assert_int_eq(store_cert_get(fx.st, before.certs[0].rec.serial, &old, &err), 0);
    ck_assert_int_eq(old.generation, 1);

    /* Each generation's CRL verifies with its own root only. */
    char path[PATH_MAX];
    struct crl_info info;
    ck_assert_msg(crl_publish(fx.pki, fx.st, CA_SIGN, jclock_now(), NULL, &err) == 0, "%s",
                  err.msg);
    ck_assert_ptr_nonnull(crl_path(testinst.cfg, CA_SIGN, STORE_CRL_GENERATION(2), path,
                                   sizeof(path)));
    ck_assert_msg(crl_verify_file(path, g2->root, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(crl_verify_file(path, g1->root, &info, &err), -1);
    jerr_clear(&err);

    /* A repeat with the same algorithm and subject is refused; nothing more recorded. */
    ck_assert_int_eq(rollover_run(fx.pki, &req, &res, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "repeated rollover"));
    jerr_clear(&err);
    /* An unknown algorithm, a bad subject: refused before anything is made. */
    snprintf(req.algorithm, sizeof(req.algorithm), "dsa");
    ck_assert_int_eq(rollover_run(fx.pki, &req, &res, &err), -1);
    ck_assert_str_eq(err.field, "algorithm");
    jerr_clear(&err);
    req.algorithm[0] = '\0';
    snprintf(req.subject, sizeof(req.subject), "not a name");
    ck_assert_int_eq(rollover_run(fx.pki, &req, &res, &err), -1);
    ck_assert_str_eq(err.field, "subject");
    jerr_clear(&err);
    ck_assert_int_eq(gen_rows(fx.st, CA_SIGN, &recs), 2);
    free(recs);
    ck_assert(!exists("certs/sign-ca-g3.pem") && !exists("keys/sign-ca-g3.key"));
    ck_assert_int_eq(pki_gen_count(fx.pki, CA_SIGN), 2);

    /* A validity beyond 10 years: refused before anything is made. */
    req.subject[0] = '\0';
    req.validity_years = 11;
    ck_assert_int_eq(rollover_run(fx.pki, &req, &res, &err), -1);
    ck_assert_str_eq(err.field, "validity_years");
    jerr_clear(&err);

    /* A new subject is no repeat: generation 3, under its own name, issuing for 10 years (5
     * under 18): the next card's (DESIGN §11). */
    snprintf(req.subject, sizeof(req.subject), "C=JP, O=JPKI, OU=Generation Three");
    req.validity_years = 10;
    req.validity_years_minor = 5;
    ck_assert_msg(rollover_run(fx.pki, &req, &res, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(res.generation, 3);
    ck_assert_int_eq(res.validity_years, 10);
    const struct pki_gen *g3 = pki_newest(fx.pki, CA_SIGN);
    ck_assert_int_eq(X509_verify(g3->link_from_prev, X509_get0_pubkey(g2->root)), 1);
    check_generation_validity(&fx, g1, g2, g3);

    /* Retirement: once generation 2's last certificate has expired, one more CRL edition,
     * then no more. */
    time_t later = (time_t)after.certs[0].rec.not_after + 86400;
    jclock_set(later);
    ck_assert_msg(crl_publish(fx.pki, fx.st, CA_SIGN, later, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(gen_rows(fx.st, CA_SIGN, &recs), 3);
    ck_assert_int_eq(recs[1].state, CA_GEN_RETIRED);
    ck_assert_int_eq(recs[1].retired_at, (int64_t)later);
    free(recs);
    ck_assert_msg(crl_verify_file(path, g2->root, &info, &err) == 0, "%s", err.msg);
    int64_t final_number = info.number;
    ck_assert_msg(crl_publish(fx.pki, fx.st, CA_SIGN, later + 60, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(crl_verify_file(path, g2->root, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, final_number); /* the final edition stays */
    jclock_set(0);

    issue_result_free(&before);
    issue_result_free(&after);
    testutil_fx_close(&fx);

    /* Reopened, the instance has all three generations (the registry, the files, the keys). */
    testutil_fx_open(&fx, &testinst);
    ck_assert_int_eq(pki_gen_count(fx.pki, CA_SIGN), 3);
    ck_assert_ptr_nonnull(pki_gen(fx.pki, CA_SIGN, 2)->link_to_prev);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(algorithm_names)
{
    struct keyalg alg;
    struct jerr err = {0};
    ck_assert_int_eq(rollover_algorithm_parse(testinst.cfg, CA_SIGN, "", &alg, &err), 0);
    ck_assert_int_eq(alg.type, KEYALG_RSA);
    ck_assert_int_eq(rollover_algorithm_parse(testinst.cfg, CA_SIGN, "rsa3072", &alg, &err), 0);
    ck_assert_int_eq(alg.bits, 3072);
    ck_assert_int_eq(rollover_algorithm_parse(testinst.cfg, CA_SIGN, "ecdsa-p384", &alg, &err), 0);
    ck_assert_int_eq(alg.type, KEYALG_ECDSA);
    ck_assert_int_eq(rollover_algorithm_parse(testinst.cfg, CA_SIGN, "rsa1024", &alg, &err), -1);
    ck_assert_str_eq(err.field, "algorithm");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rollover");
    TCase *tc = testinst_tcase("generations", 120);
    tcase_add_test(tc, algorithm_names);
    tcase_add_test(tc, rollover_makes_and_serves_a_generation);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
