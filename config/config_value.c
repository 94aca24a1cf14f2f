/*
 * config_value: the checks of single configuration values (URLs, listen addresses, OIDs,
 * subjects, ids, environment variable names) and how config quotes an outside value in a
 * message. Each check returns 0, or -1 with the reason in `why`.
 */
#include "config/config_value.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "base/jerr.h"

/* An outside value quoted in a message: escaped, cut at CONFIG_SHOW_MAX bytes. */
const char *config_show(char *buf, size_t size, const char *s, size_t len)
{
    bool cut = len > CONFIG_SHOW_MAX;
    jerr_escape(buf, size - 4, s, cut ? CONFIG_SHOW_MAX : len);
    if (cut)
        strcat(buf, "...");
    return buf;
}

int config_why(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return -1;
}

bool config_all_digits(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int config_check_url(const char *s, char *why, size_t why_size)
{
    const char *rest;
    if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else
        return config_why(why, why_size, "must start with http:// or https://");
    if (rest[0] == '\0' || rest[0] == '/')
        return config_why(why, why_size, "has no host");
    for (const char *p = s; *p != '\0'; p++) {
        /* RFC 3986 §2: only these printable ASCII characters may appear in a URI. */
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL)
            return config_why(why, why_size, "contains a character not allowed in a URL");
    }
    return 0;
}

/* Port 0 asks the kernel for any free port (tests, several instances on one host); the
 * service writes the port it got to DATA_DIR/run/<listener>.port. */
int config_check_port(const char *p, char *why, size_t why_size)
{
    size_t len = strlen(p);
    if (!config_all_digits(p, len) || len > 5 || atoi(p) > 65535)
        return config_why(why, why_size, "port must be a number between 0 and 65535");
    return 0;
}

int config_check_listen(const char *s, char *why, size_t why_size)
{
    char host[256];
    const char *port;
    if (s[0] == '\0')
        return 0; /* off */
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        struct in6_addr a6;
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return config_why(why, why_size, "expected host:port or [ipv6]:port");
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return config_why(why, why_size, "not an IPv6 address in brackets");
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(host))
            return config_why(why, why_size, "expected host:port or [ipv6]:port");
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
        bool numeric = true;
        for (const char *p = host; *p != '\0'; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
                return config_why(why, why_size,
                                  "bad host (an IPv6 address must be written [addr]:port)");
            if (!((*p >= '0' && *p <= '9') || *p == '.'))
                numeric = false;
        }
        struct in_addr a4;
        if (numeric && inet_pton(AF_INET, host, &a4) != 1)
            return config_why(why, why_size, "not an IPv4 address");
    }
    return config_check_port(port, why, why_size);
}

/* X.660: at least two arcs, the first 0..2, the second below 40 under 0 and 1; decimal arcs
 * without leading zeros. OBJ_txt2obj then proves it encodes. */
int config_check_oid(const char *s, char *why, size_t why_size)
{
    size_t arcs = 0;
    const char *p = s;
    while (true) {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (!config_all_digits(p, n) || (n > 1 && p[0] == '0'))
            return config_why(why, why_size, "not a dotted OID (digits separated by dots)");
        if (arcs == 0 && (n != 1 || p[0] > '2'))
            return config_why(why, why_size, "the first arc of an OID must be 0, 1 or 2");
        if (arcs == 1 && s[0] != '2' && (n > 2 || atoi(p) >= 40))
            return config_why(why, why_size, "the second arc must be below 40");
        arcs++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (arcs < 2)
        return config_why(why, why_size, "an OID has at least two arcs");
    ASN1_OBJECT *obj = OBJ_txt2obj(s, 1);
    if (obj == NULL) {
        ERR_clear_error();
        return config_why(why, why_size, "not an encodable OID");
    }
    ASN1_OBJECT_free(obj);
    return 0;
}

/* "TYPE=value, TYPE=value": each TYPE a name OpenSSL knows, each value non-empty. */
int config_check_subject(const char *s, char *why, size_t why_size)
{
    const char *p = s;
    while (true) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        char type[32];
        if (eq == NULL || eq == p || (size_t)(eq - p) >= sizeof(type) || eq + 1 == end)
            return config_why(why, why_size, "expected TYPE=value parts separated by commas");
        memcpy(type, p, (size_t)(eq - p));
        type[eq - p] = '\0';
        if (OBJ_txt2nid(type) == NID_undef) {
            char shown[CONFIG_SHOW_MAX * 4 + 8];
            ERR_clear_error();
            return config_why(why, why_size, "unknown attribute type \"%s\"",
                              config_show(shown, sizeof(shown), type, strlen(type)));
        }
        if (comma == NULL)
            break;
        p = comma + 1;
        while (*p == ' ')
            p++;
    }
    return 0;
}

int config_check_id(const char *s, char *why, size_t why_size)
{
    for (const char *p = s; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return config_why(why, why_size, "may contain only A-Z a-z 0-9 . _ -");
    return 0;
}

int config_check_envname(const char *s, char *why, size_t why_size)
{
    for (const char *p = s; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (p != s && *p >= '0' && *p <= '9')))
            return config_why(why, why_size, "not an environment variable name");
    return 0;
}
