/*
 * fuzz_client_address: the forwarding headers a trusted proxy passes on (clientaddr.h) —
 * X-Forwarded-For and RFC 7239 Forwarded, as one or several header lines — and the trust
 * list of the configuration. The first byte picks what the rest is: bit 0 the header
 * (X-Forwarded-For / Forwarded), bit 1 the trust list itself instead of headers. Header lines
 * are separated by '\n'. Seeds: forwarded chains, quoted and escaped Forwarded values, IPv6
 * with ports, obfuscated nodes, broken quotes.
 */
#include <string.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "responder/net/clientaddr.h"

#define LINES_MAX 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jerr err = {0};
    char *text;

    if (size < 1 || (text = malloc(size)) == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] & 2) {
        struct clientaddr_trust *t = clientaddr_trust_new(text, NULL, &err);
        FUZZ_CHECK(t != NULL ||
                   (err.code == JERR_CONFIG && strcmp(err.field, "limits.trusted_proxies") == 0 &&
                    memchr(err.msg, '\0', sizeof(err.msg)) != NULL));
        clientaddr_trust_free(t);
        free(text);
        return 0;
    }
    struct clientaddr_trust *t = clientaddr_trust_new(
        "10.0.0.0/8, 2001:db8::/32", (data[0] & 1) ? "forwarded" : "x-forwarded-for", &err);
    FUZZ_CHECK(t != NULL);
    const char *lines[LINES_MAX];
    size_t n = 0;
    for (char *p = text; p != NULL && n < LINES_MAX;) {
        lines[n++] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000001)};
    struct sockaddr_storage out;
    char shown[CLIENTADDR_TEXT_MAX];
    FUZZ_CHECK(clientaddr_resolve(t, (struct sockaddr *)&peer, lines, n, &out) == 0);
    FUZZ_CHECK(out.ss_family == AF_INET || out.ss_family == AF_INET6);
    FUZZ_CHECK(strcmp(clientaddr_text((struct sockaddr *)&out, shown), "-") != 0);
    clientaddr_trust_free(t);
    free(text);
    return 0;
}
