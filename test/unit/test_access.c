/*
 * test_access: the access decision of the public endpoints (responder/net/access.c). The whole
 * path — TLS, the relying-party registry, OCSP unauthorized and CRL 403 — is test_rp.sh's.
 */
#include <check.h>

#include "responder/net/access.h"
#include "testutil.h"

START_TEST(open_lets_everyone_in)
{
    for (int v = RPGATE_PARTY; v <= RPGATE_BAD_CREDENTIAL; v++)
        ck_assert(access_decide(ACCESS_OPEN, (enum rpgate_verdict)v));
}
END_TEST

START_TEST(registered_needs_an_active_party)
{
    ck_assert(access_decide(ACCESS_REGISTERED, RPGATE_PARTY));
    ck_assert(!access_decide(ACCESS_REGISTERED, RPGATE_NO_CREDENTIAL)); /* or plain HTTP */
    ck_assert(!access_decide(ACCESS_REGISTERED, RPGATE_UNKNOWN));       /* deleted, wrong token */
    ck_assert(!access_decide(ACCESS_REGISTERED, RPGATE_SUSPENDED));
    ck_assert(!access_decide(ACCESS_REGISTERED, RPGATE_BAD_CREDENTIAL));
}
END_TEST

START_TEST(unknown_mode_is_refused)
{
    ck_assert(!access_decide((enum access_mode)7, RPGATE_PARTY));
}
END_TEST

/* A party's kind, once the CA is known: refused under registered, anonymous under open. */
START_TEST(kind_decides_the_ca)
{
    struct rpgate_who who = {.pk = 7, .kind = RP_KIND_AUTHENTICATION};
    ck_assert(access_admit_ca(ACCESS_REGISTERED, CA_AUTH, &who));
    ck_assert_int_eq(who.pk, 7);
    ck_assert(!access_admit_ca(ACCESS_REGISTERED, CA_SIGN, &who));
    ck_assert_int_eq(who.pk, 7); /* still the party: its refusal is metered */
    ck_assert(access_admit_ca(ACCESS_OPEN, CA_SIGN, &who));
    ck_assert_int_eq(who.pk, 0); /* answered as anybody, not metered */
    struct rpgate_who nobody = {0};
    ck_assert(access_admit_ca(ACCESS_REGISTERED, CA_SIGN, &nobody));
    struct rpgate_who platform = {.pk = 9, .kind = RP_KIND_PLATFORM};
    ck_assert(access_admit_ca(ACCESS_REGISTERED, CA_SIGN, &platform));
    ck_assert(access_admit_ca(ACCESS_REGISTERED, CA_AUTH, &platform));
}
END_TEST

static Suite *access_suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("decide");
    tcase_add_test(tc, open_lets_everyone_in);
    tcase_add_test(tc, registered_needs_an_active_party);
    tcase_add_test(tc, unknown_mode_is_refused);
    tcase_add_test(tc, kind_decides_the_ca);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(access_suite());
}
