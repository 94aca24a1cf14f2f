/*
 * test_clientaddr: the client address of a request (responder/net/clientaddr.c) — the trust
 * list's parsing and refusals, the rightmost untrusted hop of X-Forwarded-For and of RFC 7239
 * Forwarded, a spoofed header from an untrusted peer ignored, chains through several trusted
 * proxies, entries that are not addresses, long chains, and IPv4-mapped peers.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "responder/net/clientaddr.h"
#include "testutil.h"

/* A sockaddr of the text address `s` (IPv4 or IPv6). */
static struct sockaddr_storage sa_of(const char *s)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(40000);
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, s, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(40000);
    }
    return ss;
}

static struct clientaddr_trust *trust(const char *proxies, const char *header)
{
    struct jerr err = {0};
    struct clientaddr_trust *t = clientaddr_trust_new(proxies, header, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

/* The client (as text) of a request from `peer` carrying the header lines values[0..n). */
static const char *client(const struct clientaddr_trust *t, const char *peer,
                          const char *const *values, size_t n)
{
    static char text[CLIENTADDR_TEXT_MAX];
    struct sockaddr_storage p = sa_of(peer), out;
    ck_assert_int_eq(clientaddr_resolve(t, (struct sockaddr *)&p, values, n, &out), 0);
    return clientaddr_text((struct sockaddr *)&out, text);
}

static const char *client1(const struct clientaddr_trust *t, const char *peer, const char *value)
{
    const char *values[1] = {value};
    return client(t, peer, values, value != NULL ? 1 : 0);
}

START_TEST(trust_list_parsed_and_refused)
{
    struct jerr err = {0};
    struct clientaddr_trust *t = trust("10.0.0.0/8, 192.0.2.7 2001:db8::/32,,127.0.0.1", "");
    struct sockaddr_storage a = sa_of("10.200.3.4"), b = sa_of("11.0.0.1"),
                            c = sa_of("2001:db8:ffff::1"), d = sa_of("2001:db9::1"),
                            e = sa_of("192.0.2.7"), f = sa_of("192.0.2.8"),
                            mapped = sa_of("::ffff:10.1.1.1");
    ck_assert(clientaddr_is_trusted(t, (struct sockaddr *)&a));
    ck_assert(!clientaddr_is_trusted(t, (struct sockaddr *)&b));
    ck_assert(clientaddr_is_trusted(t, (struct sockaddr *)&c));
    ck_assert(!clientaddr_is_trusted(t, (struct sockaddr *)&d));
    ck_assert(clientaddr_is_trusted(t, (struct sockaddr *)&e));
    ck_assert(!clientaddr_is_trusted(t, (struct sockaddr *)&f));
    ck_assert(clientaddr_is_trusted(t, (struct sockaddr *)&mapped));
    clientaddr_trust_free(t);
    /* Host bits past the prefix are ignored; /0 trusts a whole family. */
    t = trust("10.1.2.3/8 ::/0", "Forwarded");
    ck_assert(clientaddr_is_trusted(t, (struct sockaddr *)&a));
    ck_assert(clientaddr_is_trusted(t, (struct sockaddr *)&d));
    ck_assert(!clientaddr_is_trusted(t, (struct sockaddr *)&b));
    clientaddr_trust_free(t);
    /* Nothing trusted: nothing is. */
    t = trust("", NULL);
    ck_assert(!clientaddr_is_trusted(t, (struct sockaddr *)&a));
    clientaddr_trust_free(t);

    const char *bad[] = {"10.0.0.0/33", "2001:db8::/129", "proxy.example", "10.0.0.0/",
                         "1.2.3",       "10.0.0.0/-1",    "10.0.0.0/8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jerr_clear(&err);
        ck_assert_ptr_null(clientaddr_trust_new(bad[i], NULL, &err));
        ck_assert_int_eq(err.code, JERR_CONFIG);
        ck_assert_str_eq(err.field, "limits.trusted_proxies");
    }
    jerr_clear(&err);
    ck_assert_ptr_null(clientaddr_trust_new("", "x-real-ip", &err));
    ck_assert_str_eq(err.field, "limits.forwarded_header");
    char many[CLIENTADDR_MAX_TRUSTED * 16 + 16] = "";
    for (int i = 0; i <= CLIENTADDR_MAX_TRUSTED; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.%d.1 ", i);
    jerr_clear(&err);
    ck_assert_ptr_null(clientaddr_trust_new(many, NULL, &err));
    ck_assert(strstr(err.msg, "more than") != NULL);
}
END_TEST

START_TEST(untrusted_peer_header_ignored)
{
    struct clientaddr_trust *t = trust("10.0.0.1", "x-forwarded-for");
    /* A client that writes the header itself is still itself. */
    ck_assert_str_eq(client1(t, "198.51.100.9", "1.2.3.4"), "198.51.100.9");
    ck_assert_str_eq(client1(t, "198.51.100.9", "10.0.0.1"), "198.51.100.9");
    /* No trusted proxy configured: the header is never read. */
    struct clientaddr_trust *none = trust("", NULL);
    ck_assert_str_eq(client1(none, "10.0.0.1", "1.2.3.4"), "10.0.0.1");
    ck_assert_str_eq(client1(NULL, "10.0.0.1", "1.2.3.4"), "10.0.0.1");
    /* The peer's port is dropped; an IPv4-mapped peer is IPv4. */
    ck_assert_str_eq(client1(none, "::ffff:198.51.100.9", NULL), "198.51.100.9");
    ck_assert_str_eq(client1(none, "2001:db8::5", NULL), "2001:db8::5");
    clientaddr_trust_free(none);
    clientaddr_trust_free(t);
}
END_TEST

#define XFF_PROXIES "10.0.0.0/24, 2001:db8:1::/48"

/* The client found behind `peer` from one header line `value`, with the proxies `trusted`
 * and their header `header` (NULL: X-Forwarded-For). */
static const struct {
    const char *trusted, *header, *peer, *value, *want;
} one_line[] = {
    /* X-Forwarded-For, the rightmost untrusted. One proxy: the address it appended. */
    {XFF_PROXIES, NULL, "10.0.0.1", "203.0.113.5", "203.0.113.5"},
    /* The client prepended a lie: the rightmost untrusted one counts, not the leftmost. */
    {XFF_PROXIES, NULL, "10.0.0.1", "1.1.1.1, 203.0.113.5", "203.0.113.5"},
    /* Through a chain of trusted proxies. */
    {XFF_PROXIES, NULL, "10.0.0.1", "1.1.1.1, 203.0.113.5, 10.0.0.7, 10.0.0.2", "203.0.113.5"},
    /* Ports and brackets, IPv6, blanks and empty elements. */
    {XFF_PROXIES, NULL, "10.0.0.1", " 203.0.113.5:4711 ,, ", "203.0.113.5"},
    {XFF_PROXIES, NULL, "10.0.0.1", "[2001:db8:2::9]:443", "2001:db8:2::9"},
    {XFF_PROXIES, NULL, "10.0.0.1", "2001:db8:2::9, 2001:db8:1::1", "2001:db8:2::9"},
    {XFF_PROXIES, NULL, "2001:db8:1::3", "::ffff:203.0.113.5", "203.0.113.5"},
    /* Every hop trusted: the leftmost one. */
    {XFF_PROXIES, NULL, "10.0.0.1", "10.0.0.9, 10.0.0.8", "10.0.0.9"},
    /* Not an address: the walk stops at the trusted proxy that wrote it. */
    {XFF_PROXIES, NULL, "10.0.0.1", "203.0.113.5, unknown", "10.0.0.1"},
    {XFF_PROXIES, NULL, "10.0.0.1", "203.0.113.5, 10.0.0.4, garbage", "10.0.0.1"},
    {XFF_PROXIES, NULL, "10.0.0.1", "1.1.1.1, bad, 10.0.0.4", "10.0.0.4"},
    {XFF_PROXIES, NULL, "10.0.0.1", "203.0.113.5:99999", "10.0.0.1"},
    {XFF_PROXIES, NULL, "10.0.0.1", "[203.0.113.5]", "10.0.0.1"},
    {XFF_PROXIES, NULL, "10.0.0.1", "2001:db8::1:80x", "10.0.0.1"},
    /* An empty header: the proxy itself. */
    {XFF_PROXIES, NULL, "10.0.0.1", "", "10.0.0.1"},
    /* Forwarded (RFC 7239), the rightmost untrusted. */
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=203.0.113.5", "203.0.113.5"},
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "For=\"203.0.113.5:4711\";proto=https;by=10.0.0.1",
     "203.0.113.5"},
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=\"[2001:db8:cafe::17]:4711\"",
     "2001:db8:cafe::17"},
    /* A quoted comma is not a separator; an escaped quote does not end the string. */
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=203.0.113.5;ext=\"a,\\\"b\", for=10.0.0.3",
     "203.0.113.5"},
    /* Not an address: unknown, obfuscated, an element with no for=, a syntax error. */
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=203.0.113.5, for=unknown", "10.0.0.1"},
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=203.0.113.5, for=_hidden", "10.0.0.1"},
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=203.0.113.5, proto=https", "10.0.0.1"},
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=\"203.0.113.5", "10.0.0.1"},
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=203.0.113.5;for=1.1.1.1", "10.0.0.1"},
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for 203.0.113.5", "10.0.0.1"},
    /* An unquoted IPv6 with a port is not a token: a syntax error. */
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=[2001:db8::1]:80", "10.0.0.1"},
    /* Empty elements are no hops. */
    {"10.0.0.0/24", "forwarded", "10.0.0.1", "for=203.0.113.5, , ", "203.0.113.5"},
    /* Configured for Forwarded, X-Forwarded-For syntax is not an element. */
    {"10.0.0.1", "forwarded", "10.0.0.1", "203.0.113.5", "10.0.0.1"},
};

START_TEST(rightmost_untrusted)
{
    struct clientaddr_trust *t = trust(one_line[_i].trusted, one_line[_i].header);
    ck_assert_str_eq(client1(t, one_line[_i].peer, one_line[_i].value), one_line[_i].want);
    clientaddr_trust_free(t);
}
END_TEST

/* Several header lines are one list, in order (for Forwarded: RFC 7239 §7.1, several lines and
 * several elements). */
START_TEST(several_lines)
{
    struct clientaddr_trust *t = trust(XFF_PROXIES, NULL);
    const char *lines[] = {"1.1.1.1, 203.0.113.5", "10.0.0.7"};
    ck_assert_str_eq(client(t, "10.0.0.1", lines, 2), "203.0.113.5");
    clientaddr_trust_free(t);
    t = trust("10.0.0.0/24", "forwarded");
    const char *elements[] = {"for=1.1.1.1, for=203.0.113.5;proto=http", "for=10.0.0.7"};
    ck_assert_str_eq(client(t, "10.0.0.1", elements, 2), "203.0.113.5");
    clientaddr_trust_free(t);
}
END_TEST

START_TEST(long_chains_are_bounded)
{
    struct clientaddr_trust *t = trust("10.0.0.0/8", NULL);
    char header[4096] = "203.0.113.5";
    /* The client behind exactly CLIENTADDR_MAX_HOPS - 1 trusted hops is found... */
    for (int i = 0; i < CLIENTADDR_MAX_HOPS - 1; i++)
        snprintf(header + strlen(header), sizeof(header) - strlen(header), ", 10.0.0.%d", i + 1);
    ck_assert_str_eq(client1(t, "10.0.0.1", header), "203.0.113.5");
    /* ...one more trusted hop, and the walk ends at the last trusted hop it looked at. */
    snprintf(header + strlen(header), sizeof(header) - strlen(header), ", 10.0.0.99");
    ck_assert_str_eq(client1(t, "10.0.0.1", header), "10.0.0.1");
    /* A long list written by the client before the real hop changes nothing. */
    char lies[4096] = "";
    for (int i = 0; i < 200; i++)
        snprintf(lies + strlen(lies), sizeof(lies) - strlen(lies), "1.2.3.%d, ", i % 250);
    snprintf(lies + strlen(lies), sizeof(lies) - strlen(lies), "203.0.113.77");
    ck_assert_str_eq(client1(t, "10.0.0.1", lies), "203.0.113.77");
    clientaddr_trust_free(t);
}
END_TEST

START_TEST(other_families)
{
    char text[CLIENTADDR_TEXT_MAX];
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct sockaddr_storage out;
    ck_assert_int_eq(clientaddr_resolve(NULL, (struct sockaddr *)&un, NULL, 0, &out), -1);
    ck_assert_int_eq(clientaddr_resolve(NULL, NULL, NULL, 0, &out), -1);
    ck_assert_str_eq(clientaddr_text((struct sockaddr *)&un, text), "-");
    ck_assert_str_eq(clientaddr_text(NULL, text), "-");
}
END_TEST

static Suite *clientaddr_suite(void)
{
    Suite *s = suite_create("clientaddr");
    TCase *tc = tcase_create("clientaddr");
    tcase_add_test(tc, trust_list_parsed_and_refused);
    tcase_add_test(tc, untrusted_peer_header_ignored);
    tcase_add_loop_test(tc, rightmost_untrusted, 0, (int)(sizeof(one_line) / sizeof(one_line[0])));
    tcase_add_test(tc, several_lines);
    tcase_add_test(tc, long_chains_are_bounded);
    tcase_add_test(tc, other_families);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(clientaddr_suite());
}
