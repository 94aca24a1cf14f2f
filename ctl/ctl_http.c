/*
 * ctl_http: see ctl_http.h. One CURL easy handle per client: curl_easy_reset between requests
 * keeps the connection cache (keep-alive for batch polling) while no option leaks from one
 * request into the next.
 */
#include "ctl/ctl_http.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "base/fsutil.h"

struct ctl_http {
    CURL *curl;
    char base_url[CTL_HTTP_MAX_URL + 1];
    char *cacert;
    char token[CTL_HTTP_MAX_TOKEN + 1];
    char rp_token[CTL_HTTP_MAX_TOKEN + 1]; /* a relying party's, for the public endpoints */
    char *client_cert, *client_key;        /* PEM files of a TLS client certificate */
};

int ctl_http_check_url(const char *url, struct jerr *err)
{
    const char *host;
    size_t len = strlen(url);
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return jerr_set(err, JERR_INVALID, "--url",
                        "the service URL must start with http:// or https://");
    if (len > CTL_HTTP_MAX_URL)
        return jerr_set(err, JERR_INVALID, "--url", "the service URL is over %d bytes",
                        CTL_HTTP_MAX_URL);
    if (*host == '\0' || *host == '/')
        return jerr_set(err, JERR_INVALID, "--url", "the service URL names no host");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7F)
            return jerr_set(err, JERR_INVALID, "--url",
                            "the service URL holds a space, control or non-ASCII byte");
    }
    return 0;
}

struct ctl_http *ctl_http_new(const char *base_url, const char *cacert, struct jerr *err)
{
    struct ctl_http *h = NULL;
    size_t len;

    if (ctl_http_check_url(base_url, err) == -1)
        return NULL;
    if ((h = calloc(1, sizeof(*h))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    len = strlen(base_url);
    while (len > 0 && base_url[len - 1] == '/')
        len--;
    memcpy(h->base_url, base_url, len);
    h->base_url[len] = '\0';
    if (cacert != NULL && (h->cacert = strdup(cacert)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    if ((h->curl = curl_easy_init()) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "cannot start libcurl");
        goto fail;
    }
    return h;
fail:
    ctl_http_free(h);
    return NULL;
}

/* Reads a token file (`field` names the option) into out[CTL_HTTP_MAX_TOKEN + 1]. */
static int read_token(const char *path, const char *field, char *out, struct jerr *err)
{
    unsigned char *data = NULL;
    size_t len = 0, start = 0, end;
    int rc = -1;
    struct jerr ferr = {0};

    if (fsutil_read_file(path, 4096, &data, &len, &ferr) == -1) {
        jerr_set(err, JERR_INVALID, field, "%s: cannot read the token file: %s", field, ferr.msg);
        goto out;
    }
    end = len;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n') {
            end = i;
            break;
        }
    while (start < end && (data[start] == ' ' || data[start] == '\t'))
        start++;
    while (end > start && (data[end - 1] == ' ' || data[end - 1] == '\t' || data[end - 1] == '\r'))
        end--;
    if (end == start || end - start > CTL_HTTP_MAX_TOKEN) {
        jerr_set(err, JERR_INVALID, field, "%s: the token file holds no token of 1..%d bytes",
                 field, CTL_HTTP_MAX_TOKEN);
        goto out;
    }
    for (size_t i = start; i < end; i++)
        if (data[i] <= 0x20 || data[i] >= 0x7F) {
            jerr_set(err, JERR_INVALID, field,
                     "%s: the token holds a byte that is not printable ASCII", field);
            goto out;
        }
    memcpy(out, data + start, end - start);
    out[end - start] = '\0';
    rc = 0;
out:
    if (data != NULL) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    return rc;
}

int ctl_http_load_token(struct ctl_http *h, const char *path, struct jerr *err)
{
    return read_token(path, "--token-file", h->token, err);
}

int ctl_http_load_rp_token(struct ctl_http *h, const char *path, struct jerr *err)
{
    return read_token(path, "--rp-token-file", h->rp_token, err);
}

int ctl_http_set_client_cert(struct ctl_http *h, const char *cert, const char *key,
                             struct jerr *err)
{
    if (cert == NULL || key == NULL || cert[0] == '\0' || key[0] == '\0')
        return jerr_set(err, JERR_INVALID, cert == NULL || cert[0] == '\0' ? "--cert" : "--key",
                        "a client certificate needs both --cert and --key");
    for (int i = 0; i < 2; i++) {
        const char *path = i == 0 ? cert : key;
        FILE *f = fopen(path, "r");
        if (f == NULL)
            return jerr_set(err, JERR_INVALID, i == 0 ? "--cert" : "--key", "%s: cannot read %s",
                            i == 0 ? "--cert" : "--key", path);
        fclose(f);
    }
    free(h->client_cert);
    free(h->client_key);
    h->client_cert = strdup(cert);
    h->client_key = strdup(key);
    if (h->client_cert == NULL || h->client_key == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    return 0;
}

bool ctl_http_has_token(const struct ctl_http *h)
{
    return h->token[0] != '\0';
}

const char *ctl_http_base_url(const struct ctl_http *h)
{
    return h->base_url;
}

static size_t write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct ctl_http_reply *r = userdata;
    size_t n = size * nmemb;
    if (n > (size_t)CTL_HTTP_MAX_REPLY_BYTES - r->len)
        return 0; /* libcurl then fails with CURLE_WRITE_ERROR */
    char *grown = realloc(r->body, r->len + n + 1);
    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* Frees a header list, wiping each entry first (one of them carries the token). */
static void headers_free(struct curl_slist *list)
{
    for (struct curl_slist *e = list; e != NULL; e = e->next)
        OPENSSL_cleanse(e->data, strlen(e->data));
    curl_slist_free_all(list);
}

int ctl_http_request(struct ctl_http *h, const char *method, const char *path, bool auth,
                     const char *content_type, const void *body, size_t len,
                     struct ctl_http_reply *reply, struct jerr *err)
{
    struct curl_slist *headers = NULL, *grown;
    char *url = NULL, line[CTL_HTTP_MAX_TOKEN + 64];
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc = CURLE_OK;
    const char *ctype = NULL;
    int rc = -1;

    memset(reply, 0, sizeof(*reply));
    if (auth && !ctl_http_has_token(h))
        return jerr_set(err, JERR_INVALID, "--token-file",
                        "no operator token: give --token-file or set JPKI_TOKEN_FILE");
    size_t url_len = strlen(h->base_url) + strlen(path) + 1;
    if ((url = malloc(url_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    snprintf(url, url_len, "%s%s", h->base_url, path);

    const char *fixed[3] = {"Expect:", NULL, NULL};
    char ctype_line[160];
    if (content_type != NULL) {
        snprintf(ctype_line, sizeof(ctype_line), "Content-Type: %s", content_type);
        fixed[1] = ctype_line;
    }
    for (size_t i = 0; i < 2 && fixed[i] != NULL; i++) {
        if ((grown = curl_slist_append(headers, fixed[i])) == NULL)
            goto oom;
        headers = grown;
    }
    /* The operator's token on the API; a relying party's on the public endpoints. */
    if (auth || h->rp_token[0] != '\0') {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", auth ? h->token : h->rp_token);
        grown = curl_slist_append(headers, line);
        OPENSSL_cleanse(line, sizeof(line));
        if (grown == NULL)
            goto oom;
        headers = grown;
    }

    curl_easy_reset(h->curl);
    CURL *c = h->curl;
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        /* ids go into paths as they are: an id ".." must reach the service, not be squashed */
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CTL_HTTP_CONNECT_TIMEOUT_S) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)CTL_HTTP_STALL_TIMEOUT_S) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_USERAGENT, "jpkictl") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEDATA, reply) != CURLE_OK ||
        (h->cacert != NULL && curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert) != CURLE_OK) ||
        (h->client_cert != NULL &&
         (curl_easy_setopt(c, CURLOPT_SSLCERT, h->client_cert) != CURLE_OK ||
          curl_easy_setopt(c, CURLOPT_SSLKEY, h->client_key) != CURLE_OK))) {
        jerr_set(err, JERR_INTERNAL, NULL, "cannot set up the request");
        goto out;
    }
    if (strcmp(method, "GET") == 0) {
        cc = curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        if (body == NULL) {
            body = "";
            len = 0;
        }
        if ((cc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len)) == CURLE_OK &&
            (cc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, body)) == CURLE_OK &&
            strcmp(method, "POST") != 0)
            cc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (cc != CURLE_OK) {
        jerr_set(err, JERR_INTERNAL, NULL, "cannot set up the request");
        goto out;
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR && reply->len > 0)
            jerr_set(err, JERR_UNAVAILABLE, NULL, "%s: the answer is over %ld bytes", h->base_url,
                     CTL_HTTP_MAX_REPLY_BYTES);
        else
            jerr_set(err, JERR_UNAVAILABLE, NULL, "%s: %s", h->base_url,
                     errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status) != CURLE_OK ||
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype) != CURLE_OK) {
        jerr_set(err, JERR_INTERNAL, NULL, "cannot read the answer's status");
        goto out;
    }
    if (ctype != NULL)
        snprintf(reply->content_type, sizeof(reply->content_type), "%s", ctype);
    if (reply->body == NULL && (reply->body = calloc(1, 1)) == NULL)
        goto oom;
    rc = 0;
    goto out;
oom:
    jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
out:
    if (h->curl != NULL)
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    headers_free(headers);
    free(url);
    if (rc == -1)
        ctl_http_reply_free(reply);
    return rc;
}

void ctl_http_reply_free(struct ctl_http_reply *reply)
{
    if (reply == NULL)
        return;
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

char *ctl_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1), *p = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* RFC 3986 §2.3 unreserved */
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0x0F];
        }
    }
    *p = '\0';
    return out;
}

void ctl_http_free(struct ctl_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    free(h->cacert);
    free(h->client_cert);
    free(h->client_key);
    OPENSSL_cleanse(h->token, sizeof(h->token));
    OPENSSL_cleanse(h->rp_token, sizeof(h->rp_token));
    free(h);
}
