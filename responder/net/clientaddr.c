/*
 * clientaddr: see clientaddr.h. The hops of a header are read left to right into a ring that
 * keeps the last CLIENTADDR_MAX_HOPS (the ones a right-to-left walk can reach), then walked
 * from the right. Addresses are compared as bytes: IPv4-mapped IPv6 addresses become IPv4
 * first, so that a dual-stack listener sees the same client as an IPv4 one.
 */
#include "responder/net/clientaddr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* Longest hop text looked at ("[v6 address]:port"). */
#define HOP_TEXT_MAX 64
/* Most header lines of the configured name read (the last ones). */
#define HEADER_LINES_MAX 32

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix; /* bits */
};

struct clientaddr_trust {
    enum clientaddr_header header;
    size_t count;
    struct cidr nets[CLIENTADDR_MAX_TRUSTED];
};

struct hop {
    bool ok; /* an address; false ends the walk */
    struct sockaddr_storage sa;
};

/* ---- addresses ---- */

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* `sa` as family + bytes, IPv4-mapped IPv6 as IPv4. Returns the byte count (4, 16) or 0. */
static size_t addr_bytes(const struct sockaddr *sa, int *family, unsigned char out[16])
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        *family = AF_INET;
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
            *family = AF_INET;
            memcpy(out, a + 12, 4);
            return 4;
        }
        *family = AF_INET6;
        memcpy(out, a, 16);
        return 16;
    }
    return 0;
}

/* Writes family + bytes as a sockaddr (port 0). */
static void addr_store(int family, const unsigned char *bytes, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, bytes, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, bytes, 16);
    }
}

/* `sa` normalised (IPv4-mapped → IPv4, port dropped). Returns 0, or -1 for another family. */
static int addr_normalise(const struct sockaddr *sa, struct sockaddr_storage *out)
{
    int family = 0;
    unsigned char bytes[16];
    if (addr_bytes(sa, &family, bytes) == 0)
        return -1;
    addr_store(family, bytes, out);
    return 0;
}

/* Parses a bare IPv4 or IPv6 address of `len` bytes (no brackets, no port). */
static bool addr_parse(const char *s, size_t len, int *family, unsigned char out[16])
{
    char text[HOP_TEXT_MAX];
    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, out) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, out) == 1) {
        *family = AF_INET6;
        if (memcmp(out, v4_mapped, sizeof(v4_mapped)) == 0) {
            memmove(out, out + 12, 4);
            *family = AF_INET;
        }
        return true;
    }
    return false;
}

/* 1..5 decimal digits, at most 65535 (also used for a prefix length). */
static bool is_port(const char *s, size_t len)
{
    long v = 0;
    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535;
}

/* One hop as a proxy writes it: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
 * "[2001:db8::1]", "[2001:db8::1]:4711" (RFC 7239 §6 node, without obfuscation). */
static bool hop_parse(const char *s, size_t len, struct sockaddr_storage *out)
{
    int family = 0;
    unsigned char bytes[16];

    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return false;
        size_t inner = (size_t)(close - s - 1), rest = len - inner - 2;
        if (rest > 0 && (close[1] != ':' || !is_port(close + 2, rest - 1)))
            return false;
        if (!addr_parse(s + 1, inner, &family, bytes) || family != AF_INET6)
            return false;
    } else {
        const char *colon = memchr(s, ':', len);
        size_t addr_len = len;
        /* One colon: IPv4 with a port. More: a bare IPv6 address. */
        if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL) {
            addr_len = (size_t)(colon - s);
            if (!is_port(colon + 1, len - addr_len - 1))
                return false;
        }
        if (!addr_parse(s, addr_len, &family, bytes))
            return false;
        if (addr_len != len && family != AF_INET)
            return false;
    }
    addr_store(family, bytes, out);
    return true;
}

/* ---- the trust list ---- */

static bool cidr_contains(const struct cidr *c, int family, const unsigned char *bytes)
{
    if (c->family != family)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, bytes, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (bytes[full] & mask);
}

static int cidr_parse(const char *s, size_t len, struct cidr *out, struct jerr *err)
{
    char shown[HOP_TEXT_MAX + 8];
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash != NULL ? (size_t)(slash - s) : len;

    jerr_escape(shown, sizeof(shown), s, len < HOP_TEXT_MAX ? len : HOP_TEXT_MAX);
    memset(out, 0, sizeof(*out));
    if (!addr_parse(s, addr_len, &out->family, out->addr))
        return jerr_set(err, JERR_CONFIG, "limits.trusted_proxies",
                        "limits.trusted_proxies: \"%s\" is not an IPv4 or IPv6 address or CIDR "
                        "block",
                        shown);
    int max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash != NULL) {
        size_t plen = len - addr_len - 1;
        if (plen == 0 || plen > 3 || !is_port(slash + 1, plen) || atoi(slash + 1) > max)
            return jerr_set(err, JERR_CONFIG, "limits.trusted_proxies",
                            "limits.trusted_proxies: \"%s\": the prefix length must be 0..%d",
                            shown, max);
        out->prefix = atoi(slash + 1);
    }
    /* Host bits beyond the prefix are ignored, as in "10.1.2.3/8" = 10.0.0.0/8. */
    for (int bit = out->prefix; bit < max; bit++)
        out->addr[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
    return 0;
}

struct clientaddr_trust *clientaddr_trust_new(const char *proxies, const char *header,
                                              struct jerr *err)
{
    struct clientaddr_trust *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (header == NULL || header[0] == '\0' || strcasecmp(header, "x-forwarded-for") == 0) {
        t->header = CLIENTADDR_XFF;
    } else if (strcasecmp(header, "forwarded") == 0) {
        t->header = CLIENTADDR_FORWARDED;
    } else {
        jerr_set(err, JERR_CONFIG, "limits.forwarded_header",
                 "limits.forwarded_header: x-forwarded-for or forwarded");
        goto fail;
    }
    for (const char *p = proxies != NULL ? proxies : ""; *p != '\0';) {
        size_t skip = strspn(p, ", \t");
        p += skip;
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            continue;
        if (t->count == CLIENTADDR_MAX_TRUSTED) {
            jerr_set(err, JERR_CONFIG, "limits.trusted_proxies",
                     "limits.trusted_proxies: more than %d entries", CLIENTADDR_MAX_TRUSTED);
            goto fail;
        }
        if (cidr_parse(p, len, &t->nets[t->count], err) == -1)
            goto fail;
        t->count++;
        p += len;
    }
    return t;
fail:
    free(t);
    return NULL;
}

void clientaddr_trust_free(struct clientaddr_trust *t)
{
    free(t);
}

bool clientaddr_is_trusted(const struct clientaddr_trust *t, const struct sockaddr *sa)
{
    int family = 0;
    unsigned char bytes[16];
    if (t == NULL || t->count == 0 || addr_bytes(sa, &family, bytes) == 0)
        return false;
    for (size_t i = 0; i < t->count; i++)
        if (cidr_contains(&t->nets[i], family, bytes))
            return true;
    return false;
}

/* ---- the headers ---- */

struct hops {
    struct hop ring[CLIENTADDR_MAX_HOPS];
    size_t total; /* hops seen; the ring keeps the last CLIENTADDR_MAX_HOPS */
};

static void hops_add(struct hops *h, bool ok, const struct sockaddr_storage *sa)
{
    struct hop *slot = &h->ring[h->total % CLIENTADDR_MAX_HOPS];
    slot->ok = ok;
    if (ok)
        slot->sa = *sa;
    h->total++;
}

/* X-Forwarded-For: a comma-separated list of addresses (empty elements ignored). */
static void xff_hops(const char *value, struct hops *h)
{
    struct sockaddr_storage sa;
    for (const char *p = value;;) {
        size_t len = strcspn(p, ",");
        size_t blank = strspn(p, " \t");
        if (blank < len)
            hops_add(h, hop_parse(p, len, &sa), &sa);
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
}

/* RFC 7230 §3.2.6 tchar. */
static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 7239 §4: Forwarded = 1#forwarded-element; forwarded-element = [forwarded-pair]
 * *( ";" [forwarded-pair] ); forwarded-pair = token "=" value; value = token /
 * quoted-string. One hop per element: its for= node, or not an address (no for=, a syntax
 * error, "unknown", an obfuscated node) which ends the walk there. */
static void forwarded_hops(const char *value, struct hops *h)
{
    const char *p = value;
    for (;;) {
        char node[HOP_TEXT_MAX];
        size_t node_len = 0;
        bool has_for = false, any_pair = false, bad = false;
        /* One element: pairs up to ',' or the end. */
        for (;;) {
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == ',' || *p == '\0')
                break;
            if (*p == ';') {
                p++;
                continue;
            }
            const char *name = p;
            while (is_tchar(*p))
                p++;
            size_t name_len = (size_t)(p - name);
            if (name_len == 0 || *p != '=') {
                bad = true;
                break;
            }
            p++;
            char val[HOP_TEXT_MAX];
            size_t val_len = 0;
            bool too_long = false;
            if (*p == '"') {
                p++;
                while (*p != '"' && *p != '\0') {
                    if (*p == '\\' && p[1] != '\0')
                        p++;
                    if (val_len + 1 < sizeof(val))
                        val[val_len++] = *p;
                    else
                        too_long = true;
                    p++;
                }
                if (*p != '"') {
                    bad = true;
                    break;
                }
                p++;
            } else {
                while (is_tchar(*p)) {
                    if (val_len + 1 < sizeof(val))
                        val[val_len++] = *p;
                    else
                        too_long = true;
                    p++;
                }
            }
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p != ';' && *p != ',' && *p != '\0') {
                bad = true;
                break;
            }
            any_pair = true;
            if (name_len == 3 && strncasecmp(name, "for", 3) == 0) {
                if (has_for || too_long)
                    bad = true; /* RFC 7239 §4: a parameter at most once per element */
                has_for = true;
                memcpy(node, val, val_len);
                node_len = val_len;
            }
        }
        struct sockaddr_storage sa;
        if (bad) {
            hops_add(h, false, NULL);
            return; /* nothing after a syntax error can be framed */
        }
        if (any_pair) /* an empty element is no hop (RFC 9110 §5.6.1) */
            hops_add(h, has_for && hop_parse(node, node_len, &sa), &sa);
        if (*p == '\0')
            return;
        p++; /* the ',' */
    }
}

int clientaddr_resolve(const struct clientaddr_trust *t, const struct sockaddr *peer,
                       const char *const *values, size_t n, struct sockaddr_storage *out)
{
    struct sockaddr_storage cur;
    struct hops *h = NULL;

    if (addr_normalise(peer, &cur) == -1)
        return -1;
    if (!clientaddr_is_trusted(t, (struct sockaddr *)&cur) || n == 0) {
        *out = cur;
        return 0;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        *out = cur; /* no memory: the proxy is charged, never a name the client chose */
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL)
            continue;
        if (t->header == CLIENTADDR_FORWARDED)
            forwarded_hops(values[i], h);
        else
            xff_hops(values[i], h);
    }
    size_t kept = h->total < CLIENTADDR_MAX_HOPS ? h->total : CLIENTADDR_MAX_HOPS;
    for (size_t k = 0; k < kept; k++) {
        const struct hop *hop = &h->ring[(h->total - 1 - k) % CLIENTADDR_MAX_HOPS];
        if (!hop->ok)
            break; /* the trusted hop that wrote it is the client */
        cur = hop->sa;
        if (!clientaddr_is_trusted(t, (struct sockaddr *)&cur))
            break;
    }
    free(h);
    *out = cur;
    return 0;
}

int clientaddr_of_request(const struct clientaddr_trust *t, struct evhttp_request *req,
                          struct sockaddr_storage *out)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const struct sockaddr *peer = evcon != NULL ? evhttp_connection_get_addr(evcon) : NULL;
    const char *values[HEADER_LINES_MAX];
    size_t n = 0;

    if (peer == NULL)
        return -1;
    /* The headers only matter when the peer is a trusted proxy: the common case reads none. */
    if (t == NULL || t->count == 0 || !clientaddr_is_trusted(t, peer))
        return clientaddr_resolve(t, peer, NULL, 0, out);
    const char *name = t->header == CLIENTADDR_FORWARDED ? "Forwarded" : "X-Forwarded-For";
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, in, next)
    {
        if (strcasecmp(kv->key, name) != 0)
            continue;
        if (n == HEADER_LINES_MAX) { /* keep the last ones: the walk starts from the right */
            memmove(values, values + 1, (HEADER_LINES_MAX - 1) * sizeof(values[0]));
            n--;
        }
        values[n++] = kv->value;
    }
    return clientaddr_resolve(t, peer, values, n, out);
}

char *clientaddr_text(const struct sockaddr *sa, char out[CLIENTADDR_TEXT_MAX])
{
    int family = 0;
    unsigned char bytes[16];
    if (addr_bytes(sa, &family, bytes) == 0 ||
        inet_ntop(family, bytes, out, CLIENTADDR_TEXT_MAX) == NULL)
        snprintf(out, CLIENTADDR_TEXT_MAX, "-");
    return out;
}
