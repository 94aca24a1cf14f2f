/*
 * test_access: the access decision of the public endpoints (responder/net/access.c). The whole
 * path — TLS, the relying-party CA, OCSP unauthorized and CRL 403 — is test_access.sh's.
 */
#include <check.h>

#include "responder/net/access.h"
#include "testutil.h"

START_TEST(open_lets_everyone_in)
{
    ck_assert(access_decide(ACCESS_OPEN, false, false));
    ck_assert(access_decide(ACCESS_OPEN, true, false));
    ck_assert(access_decide(ACCESS_OPEN, true, true));
}
END_TEST

START_TEST(client_cert_needs_a_relying_party_over_tls)
{
    ck_assert(access_decide(ACCESS_CLIENT_CERT, true, true));
    ck_assert(!access_decide(ACCESS_CLIENT_CERT, true, false));  /* no or another certificate */
    ck_assert(!access_decide(ACCESS_CLIENT_CERT, false, false)); /* plain HTTP */
    /* A claim of a relying party without TLS cannot be true: refused all the same. */
    ck_assert(!access_decide(ACCESS_CLIENT_CERT, false, true));
}
END_TEST

START_TEST(unknown_mode_is_refused)
{
    ck_assert(!access_decide((enum access_mode)7, true, true));
}
END_TEST

static Suite *access_suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("decide");
    tcase_add_test(tc, open_lets_everyone_in);
    tcase_add_test(tc, client_cert_needs_a_relying_party_over_tls);
    tcase_add_test(tc, unknown_mode_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(access_suite());
}
