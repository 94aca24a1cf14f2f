/*
 * testutil: what the Check suites share — temporary directories, files, a self-signed
 * certificate, a test instance, the suite runner (see testutil.h).
 */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "testinst.h"
#include "testhttp.h"
#include "testpem.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base/jclock.h"

char *testutil_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/jpki-test-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(tmpl) == NULL)
        return NULL;
    return strdup(tmpl);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void testutil_rmtree(const char *path)
{
    if (path != NULL)
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *testutil_tmpdir;

void testutil_tmpdir_setup(void)
{
    testutil_tmpdir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(testutil_tmpdir);
}

void testutil_tmpdir_teardown(void)
{
    testutil_rmtree(testutil_tmpdir);
    free(testutil_tmpdir);
    testutil_tmpdir = NULL;
}

void testutil_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", testutil_tmpdir, name);
}

int testutil_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1)
        return -1;
    ssize_t n = write(fd, data, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

void testutil_write_der(const char *path, unsigned char *der, int len)
{
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(testutil_write_file(path, der, (size_t)len), 0);
    OPENSSL_free(der);
}

int testutil_self_signed(const char *cert_path, const char *key_path, bool rsa)
{
    EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *cert = X509_new();
    int rc = -1;

    if (key == NULL || cert == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), 86400) == NULL ||
        X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"PIN letters", -1, -1, 0) != 1 ||
        X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1 ||
        X509_set_pubkey(cert, key) != 1 || X509_sign(cert, key, rsa ? EVP_sha256() : NULL) <= 0)
        goto out;
    if (testpem_write(cert_path, cert, NULL) == -1 || testpem_write(key_path, NULL, key) == -1)
        goto out;
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int testutil_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

const char *testutil_source_dir(void)
{
#ifdef JPKI_SOURCE_DIR
    return JPKI_SOURCE_DIR;
#else
    return ".";
#endif
}

void testutil_instance_create(struct testutil_instance *inst)
{
    struct jerr err = {0};
    struct pki_init_result res;
    char yaml[4200];

    inst->dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(inst->dir);
    snprintf(yaml, sizeof(yaml), "data_dir: %s/inst\n", inst->dir);
    inst->cfg = config_load_string("test.yaml", yaml, strlen(yaml), NULL, 0, &err);
    ck_assert_msg(inst->cfg != NULL, "config: %s", err.msg);
    ck_assert_msg(pki_init(inst->cfg, TESTUTIL_PASS, &res, &err) == 0, "init: %s", err.msg);
    ck_assert_int_eq(strlen(res.fingerprint[CA_SIGN]), 95); /* SHA-256, colon-separated */
}

void testutil_instance_destroy(struct testutil_instance *inst)
{
    config_free(inst->cfg);
    testutil_rmtree(inst->dir);
    free(inst->dir);
    inst->cfg = NULL;
    inst->dir = NULL;
}

void testutil_fx_open(struct testutil_fixture *fx, const struct testutil_instance *inst)
{
    struct jerr err = {0};
    jclock_set(0);
    fx->pki = pki_open(inst->cfg, TESTUTIL_PASS, &err);
    ck_assert_msg(fx->pki != NULL, "open: %s", err.msg);
    fx->st = pki_store_open(fx->pki, &err);
    ck_assert_msg(fx->st != NULL, "registry: %s", err.msg);
    fx->ctx = (struct lifecycle_ctx){.pki = fx->pki, .st = fx->st, .actor = "tester"};
}

void testutil_fx_close(struct testutil_fixture *fx)
{
    store_close(fx->st);
    pki_free(fx->pki);
    fx->st = NULL;
    fx->pki = NULL;
}

void testutil_registry_open(struct testutil_registry *reg, time_t now)
{
    struct jerr err = {0};

    jclock_set(now);
    reg->dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(reg->dir);
    snprintf(reg->path, sizeof(reg->path), "%s/registry.db", reg->dir);
    reg->st = store_open(reg->path, true, &err);
    ck_assert_msg(reg->st != NULL, "%s", err.msg);
}

void testutil_registry_close(struct testutil_registry *reg)
{
    store_close(reg->st);
    reg->st = NULL;
    testutil_rmtree(reg->dir);
    free(reg->dir);
    reg->dir = NULL;
    jclock_set(0);
}

struct person testutil_person(const char *id, const char *name, const char *address,
                              const char *birth_date, enum gender gender)
{
    struct person p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "%s", id);
    snprintf(p.name, sizeof(p.name), "%s", name);
    snprintf(p.address, sizeof(p.address), "%s", address);
    snprintf(p.birth_date, sizeof(p.birth_date), "%s", birth_date);
    p.gender = gender;
    return p;
}

struct card testutil_card(const char *id, const char *person_id, enum card_type type,
                          const char *expiry, enum card_state state, const char *prefecture,
                          const char *municipality)
{
    struct card c;
    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.person_id, sizeof(c.person_id), "%s", person_id);
    c.type = type;
    snprintf(c.expiry, sizeof(c.expiry), "%s", expiry);
    c.state = state;
    snprintf(c.prefecture, sizeof(c.prefecture), "%s", prefecture);
    snprintf(c.municipality, sizeof(c.municipality), "%s", municipality);
    return c;
}

void testutil_assert_person(const struct person *got, const struct person *want)
{
    ck_assert_str_eq(got->id, want->id);
    ck_assert_str_eq(got->name, want->name);
    ck_assert_str_eq(got->address, want->address);
    ck_assert_str_eq(got->birth_date, want->birth_date);
    ck_assert_int_eq(got->gender, want->gender);
    ck_assert_int_eq(got->deceased, want->deceased);
}

void testutil_assert_card(const struct card *got, const struct card *want)
{
    ck_assert_str_eq(got->id, want->id);
    ck_assert_str_eq(got->person_id, want->person_id);
    ck_assert_int_eq(got->type, want->type);
    ck_assert_str_eq(got->expiry, want->expiry);
    ck_assert_int_eq(got->state, want->state);
    ck_assert_str_eq(got->prefecture, want->prefecture);
    ck_assert_str_eq(got->municipality, want->municipality);
}

struct cert_rec testutil_cert_rec(const char *serial, enum ca_kind ca, const char *card_id,
                                  const char *person_id, int64_t not_before, int64_t not_after)
{
    struct cert_rec r;
    memset(&r, 0, sizeof(r));
    snprintf(r.serial, sizeof(r.serial), "%s", serial);
    r.ca = ca;
    snprintf(r.card_id, sizeof(r.card_id), "%s", card_id);
    snprintf(r.person_id, sizeof(r.person_id), "%s", person_id);
    snprintf(r.subject_cn, sizeof(r.subject_cn), "CN-%s", serial);
    r.not_before = not_before;
    r.not_after = not_after;
    r.status = CERT_GOOD;
    r.reason = REASON_NONE;
    r.issued_at = not_before;
    return r;
}

void testutil_cert_insert(struct store *st, const struct cert_rec *rec)
{
    static const unsigned char stand_in[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    struct jerr err = {0};
    ck_assert_msg(store_cert_insert(st, rec, stand_in, sizeof(stand_in), &err) == 0,
                  "insert %s: %s", rec->serial, err.msg);
}

/* ---- a raw HTTP client (testhttp.h) ---- */

void testhttp_reply_free(struct testhttp_reply *r)
{
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

int testhttp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void testhttp_send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

void testhttp_read(int fd, struct testhttp_reply *r)
{
    size_t cap = 65536;
    r->raw = malloc(cap + 1);
    ck_assert_ptr_nonnull(r->raw);
    r->len = 0;
    for (;;) {
        if (r->len == cap) {
            cap *= 2;
            r->raw = realloc(r->raw, cap + 1);
            ck_assert_ptr_nonnull(r->raw);
        }
        ssize_t n = recv(fd, r->raw + r->len, cap - r->len, 0);
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    r->raw[r->len] = '\0';
    r->status = 0;
    sscanf(r->raw, "HTTP/1.%*d %d", &r->status);
    char *sep = strstr(r->raw, "\r\n\r\n");
    r->body = sep != NULL ? sep + 4 : r->raw + r->len;
    r->body_len = (size_t)(r->raw + r->len - r->body);
}

const char *testhttp_header(const struct testhttp_reply *r, const char *name, char *buf,
                            size_t size)
{
    size_t nlen = strlen(name);
    const char *p = strstr(r->raw, "\r\n");
    while (p != NULL && p < r->body - 2) {
        p += 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            snprintf(buf, size, "%.*s", (int)(end - v), v);
            return buf;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

const char *testutil_softhsm_module(void)
{
    static const char *const paths[] = {"/usr/lib/softhsm/libsofthsm2.so",
                                        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

int testutil_softhsm_token(const char *dir, const char *label, const char *pin)
{
    char conf[4096], tokens[4096], cmd[8192];
    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
    if (mkdir(tokens, 0700) == -1 && errno != EEXIST)
        return -1;
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof(cmd),
             "softhsm2-util --init-token --free --label '%s' --pin '%s' --so-pin 12345678 "
             ">/dev/null",
             label, pin);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- dupb: the suite's shared instance and its holders (testinst.h) ---- */

struct testutil_instance testinst;

void testinst_setup(void)
{
    testutil_instance_create(&testinst);
}

void testinst_teardown(void)
{
    testutil_instance_destroy(&testinst);
}

TCase *testinst_tcase(const char *name, double timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout_s);
    tcase_add_unchecked_fixture(tc, testinst_setup, testinst_teardown);
    return tc;
}

struct testutil_fixture testinst_fx;

void testinst_fx_open(void)
{
    testutil_fx_open(&testinst_fx, &testinst);
}

void testinst_fx_close(void)
{
    testutil_fx_close(&testinst_fx);
}

TCase *testinst_fx_tcase(const char *name, double timeout_s)
{
    TCase *tc = testinst_tcase(name, timeout_s);
    tcase_add_checked_fixture(tc, testinst_fx_open, testinst_fx_close);
    return tc;
}

void testinst_register_card(struct testutil_fixture *fx, const struct person *p,
                            const char *card_id, const char *expiry)
{
    struct jerr err = {0};
    struct card c = {.type = CARD_MYNUMBER};
    snprintf(c.id, sizeof(c.id), "%s", card_id);
    snprintf(c.person_id, sizeof(c.person_id), "%s", p->id);
    snprintf(c.expiry, sizeof(c.expiry), "%s", expiry);
    ck_assert_msg(lifecycle_person_register(&fx->ctx, p, &err) == 0, "%s", err.msg);
    ck_assert_msg(lifecycle_card_register(&fx->ctx, &c, NULL, &err) == 0, "%s", err.msg);
}

/* ---- dupb: certificates (testutil.h) ---- */

X509 *testutil_self_signed_cert(EVP_PKEY **key_out)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *cert = X509_new();
    ck_assert(key != NULL && cert != NULL);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    ck_assert(X509_sign(cert, key, EVP_sha256()) > 0);
    *key_out = key;
    return cert;
}
