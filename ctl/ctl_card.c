/*
 * ctl_card: see ctl_card.h. The card image is the only place a private key comes from
 * (card_image_unlock_key, which counts the try on disk before answering); the key lives in
 * memory for one signature and is freed. Everything about status comes from ctl_rp (OCSP with
 * the CRL as fallback), trusting the roots stored in the card. Outside text (certificate
 * fields, the service's answers) is sanitized before it is printed.
 */
#include "ctl/ctl_card.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h> /* before cms.h: it declares the CMS PEM functions with pem.h's macros */
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/model.h"
#include "ca/pki.h"
#include "ca/profile.h"
#include "ca/rules.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "keystore/card.h"
#include "ctl/ctl_ops.h"
#include "ctl/ctl_out.h"

/* A password file is read whole, at most. */
#define CTL_CARD_PASSWORD_FILE_MAX 1024
/* A CMS we write (a signature, a revocation request), at most. */
#define CTL_CARD_CMS_MAX (256 * 1024)

/* ---- pure parts ---- */

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* t plus `months` calendar months in UTC, the day of month clamped to the target month. */
static time_t add_months(time_t t, int months)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return t;
    int y = tm.tm_year + 1900, m = tm.tm_mon + months; /* m 0-based */
    y += m / 12;
    m = m % 12 + 1;
    int d = tm.tm_mday < days_in_month(y, m) ? tm.tm_mday : days_in_month(y, m);
    return jclock_utc(y, m, d, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

enum ctl_card_validity ctl_card_validity_at(time_t not_before, time_t not_after, time_t now)
{
    /* RFC 5280 §4.1.2.5: the validity period includes both ends */
    if (now < not_before)
        return CTL_CARD_NOT_YET_VALID;
    if (now > not_after)
        return CTL_CARD_EXPIRED;
    /* RULE guide 4(12): warn when less than 3 months remain */
    if (not_after < add_months(now, CTL_CARD_WARN_MONTHS))
        return CTL_CARD_EXPIRING;
    return CTL_CARD_VALID;
}

long ctl_card_days_left(time_t not_after, time_t now)
{
    double diff = difftime(not_after, now);
    long days = (long)(diff / 86400.0);
    if (diff < 0 && (double)days * 86400.0 != diff)
        days--; /* rounded down, also below zero */
    return days;
}

int ctl_card_birth_date(const char *jpki, char out[11])
{
    char iso[11], again[10];
    struct jerr err = {0};
    int y, m, d;

    if (jpki == NULL || strlen(jpki) != 9)
        return -1;
    for (size_t i = 0; i < 9; i++)
        if (jpki[i] < '0' || jpki[i] > '9')
            return -1;
    snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2s", jpki + 1, jpki + 5, jpki + 7);
    if (jclock_parse_date(iso, &y, &m, &d) == -1)
        return -1;
    /* docs/PROFILES.md: the era digit is the era of that day; a mismatch is not our encoding */
    if (model_jpki_birth_date(iso, again, &err) == -1 || strcmp(again, jpki) != 0)
        return -1;
    memcpy(out, iso, sizeof(iso));
    return 0;
}

const char *ctl_card_gender_words(const char *code)
{
    /* docs/PROFILES.md: 1 male, 2 female, 3 not stated */
    if (code == NULL)
        return NULL;
    if (strcmp(code, "1") == 0)
        return "male";
    if (strcmp(code, "2") == 0)
        return "female";
    if (strcmp(code, "3") == 0)
        return "not stated";
    return NULL;
}

void ctl_card_status_words(const struct ctl_rp_status *st, char *out, size_t size)
{
    if (st->status == V_OCSP_CERTSTATUS_GOOD)
        snprintf(out, size, "good");
    else if (st->status == V_OCSP_CERTSTATUS_REVOKED &&
             st->reason == OCSP_REVOKED_STATUS_CERTIFICATEHOLD)
        /* RFC 5280 §5.3.1: a hold is a revocation with reason certificateHold */
        snprintf(out, size, "on hold since %s", st->revoked_at);
    else if (st->status == V_OCSP_CERTSTATUS_REVOKED)
        snprintf(out, size, "revoked since %s (%s)", st->revoked_at,
                 ctl_rp_reason_name(st->reason));
    else
        snprintf(out, size, "unknown to the responder");
}

int ctl_card_read_facts(X509 *cert, struct ctl_card_facts *out, struct jerr *err)
{
    struct profile_facts raw;
    memset(out, 0, sizeof(*out));
    if (profile_read_facts(cert, &raw, err) == -1)
        return -1;
    if (raw.name[0] == '\0')
        return jerr_set(err, JERR_INVALID, "certificate",
                        "the certificate carries no name: not a signing certificate");
    snprintf(out->name, sizeof(out->name), "%s", raw.name);
    snprintf(out->address, sizeof(out->address), "%s", raw.address);
    out->birth_date_decoded = ctl_card_birth_date(raw.birth_date, out->birth_date) == 0;
    if (!out->birth_date_decoded)
        snprintf(out->birth_date, sizeof(out->birth_date), "%s", raw.birth_date);
    const char *g = ctl_card_gender_words(raw.gender);
    if (g != NULL)
        snprintf(out->gender, sizeof(out->gender), "%s", g);
    else
        snprintf(out->gender, sizeof(out->gender), "code %s", raw.gender);
    return 0;
}

/* "  label value\n" with the value sanitized. */
static void field_line(FILE *f, const char *label, const char *value)
{
    fprintf(f, "  %-13s ", label);
    ctl_out_put(f, value);
    fputc('\n', f);
}

void ctl_card_print_facts(FILE *f, const struct ctl_card_facts *facts)
{
    char birth[64];
    field_line(f, "name:", facts->name);
    field_line(f, "address:", facts->address);
    if (facts->birth_date_decoded)
        snprintf(birth, sizeof(birth), "%s", facts->birth_date);
    else
        snprintf(birth, sizeof(birth), "(not a JPKI birth date: %s)", facts->birth_date);
    field_line(f, "birth date:", birth);
    field_line(f, "gender:", facts->gender);
}

int ctl_card_cert_times(X509 *cert, time_t *not_before, time_t *not_after)
{
    struct tm tb, ta;
    if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tb) != 1 ||
        ASN1_TIME_to_tm(X509_get0_notAfter(cert), &ta) != 1) {
        ERR_clear_error();
        return -1;
    }
    *not_before =
        jclock_utc(tb.tm_year + 1900, tb.tm_mon + 1, tb.tm_mday, tb.tm_hour, tb.tm_min, tb.tm_sec);
    *not_after =
        jclock_utc(ta.tm_year + 1900, ta.tm_mon + 1, ta.tm_mday, ta.tm_hour, ta.tm_min, ta.tm_sec);
    return 0;
}

void ctl_card_print_receipt(FILE *f, const json_t *receipt)
{
    /* the members of the signed receipt of POST /v1/holder/revoke (responder/api/holder.c) */
    static const char *const known[][2] = {
        {"receipt_id", "receipt:"}, {"request_id", "request:"}, {"serial", "serial:"},
        {"status", "status:"},      {"reason", "reason:"},      {"revoked_at", "revoked at:"},
    };
    const char *key;
    json_t *value;
    char text[64];

    fputs("revocation receipt\n", f);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const json_t *v = json_object_get(receipt, known[i][0]);
        if (json_is_string(v))
            field_line(f, known[i][1], json_string_value(v));
        else if (json_is_integer(v)) {
            snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
            field_line(f, known[i][1], text);
        }
    }
    json_object_foreach((json_t *)receipt, key, value)
    {
        bool is_known = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(key, known[i][0]) == 0 && (json_is_string(value) || json_is_integer(value)))
                is_known = true;
        if (is_known)
            continue;
        char *dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        char label[80];
        ctl_out_sanitize(label, sizeof(label) - 1, key, strlen(key));
        strcat(label, ":");
        field_line(f, label, dump);
        free(dump);
    }
}

/* ---- the card image and passwords ---- */

static int base64_decode(const char *b64, unsigned char **out, size_t *out_len);

bool ctl_card_arg_is_image(const char *arg)
{
    struct stat st;
    size_t n = strlen(arg), ext = strlen(CTL_CARD_IMAGE_SUFFIX);
    /* a card id is [A-Za-z0-9._-] only (API.md), so a '/' can only be a path */
    if (strchr(arg, '/') != NULL)
        return true;
    /* the name jpkictl gives an image: a missing "c1.card" is a missing file, not a card id */
    if (n > ext && strcmp(arg + n - ext, CTL_CARD_IMAGE_SUFFIX) == 0)
        return true;
    return stat(arg, &st) == 0 && S_ISREG(st.st_mode);
}

int ctl_card_show_any(struct ctl *ctl, const struct ctl_args *args)
{
    if (args->pos_count == 1 && ctl_card_arg_is_image(args->pos[0]))
        return ctl_card_show(ctl, args);
    return ctl_ops_card_show(ctl, args);
}

/* A path sanitized for a message. */
static const char *shown(const char *path, char *buf, size_t size)
{
    ctl_out_sanitize(buf, size, path, strlen(path));
    return buf;
}

static int load_image(struct ctl *ctl, const char *path, struct card_image **out)
{
    struct jerr err = {0};
    char p[256];
    size_t n = strlen(path);
    *out = card_image_load(path, &err);
    if (*out == NULL && err.code == JERR_NOT_FOUND)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: no such card image file",
                        shown(path, p, sizeof(p)));
    if (*out == NULL) {
        /* fsutil's messages start with the path already: name it once */
        const char *why = err.msg;
        if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2;
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: %s", shown(path, p, sizeof(p)), why);
    }
    return CTL_EXIT_OK;
}

static int parse_slot(struct ctl *ctl, const struct ctl_args *args, enum ca_kind *slot)
{
    const char *s = ctl_args_get(args, "slot");
    if (s == NULL || ca_kind_parse(s, slot) == -1)
        return ctl_usage(ctl, "--slot must be sign or auth");
    return CTL_EXIT_OK;
}

static const char *slot_words(enum ca_kind slot)
{
    return slot == CA_SIGN ? "signing" : "authentication";
}

/* Keeps the first line of buf (without "\n" or "\r\n"). Returns its length. */
static size_t first_line(char *buf)
{
    size_t n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    return n;
}

/* Reads one line from the terminal with echo off. Signals that would stop or kill us while
 * the echo is off wait until it is back on. Returns 0, or -1 with err (JERR_NOT_FOUND when
 * there is no terminal, JERR_TOO_LARGE for a line longer than size - 1). */
static int tty_password(const char *prompt, char *buf, size_t size, struct jerr *err)
{
    struct termios saved, quiet;
    sigset_t block, old_mask;
    size_t n = 0;
    bool too_long = false;
    int rc = -1;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd == -1)
        return jerr_set(err, JERR_NOT_FOUND, NULL, "no terminal");
    if (tcgetattr(fd, &saved) != 0) {
        close(fd);
        return jerr_set(err, JERR_NOT_FOUND, NULL, "no terminal");
    }
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGTSTP);
    sigaddset(&block, SIGTTIN);
    sigaddset(&block, SIGTTOU);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        jerr_set(err, JERR_IO, NULL, "cannot turn the terminal's echo off");
        goto out;
    }
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        if (n + 1 < size)
            buf[n++] = c;
        else
            too_long = true;
    }
    buf[n] = '\0';
    rc = 0;
    if (too_long)
        rc = jerr_set(err, JERR_TOO_LARGE, NULL, "the password is too long");
out:
    tcsetattr(fd, TCSAFLUSH, &saved);
    if (write(fd, "\n", 1) < 0) {
        /* nothing to do: the line is only cosmetic */
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(fd);
    return rc;
}

/* Reads a password: the first line of `file` (option `opt`) when given, else the environment
 * variable `env`, else the terminal with `prompt`. Returns an exit code; buf (size
 * CTL_CARD_PASSWORD_MAX + 1) holds the password, and is the caller's to wipe. */
static int read_password(struct ctl *ctl, const char *opt, const char *file, const char *env,
                         const char *prompt, char *buf)
{
    const size_t size = CTL_CARD_PASSWORD_MAX + 1;
    struct jerr err = {0};
    int rc = CTL_EXIT_OK;

    buf[0] = '\0';
    if (file != NULL) {
        unsigned char *data = NULL;
        size_t len = 0;
        char p[256];
        if (fsutil_read_file(file, CTL_CARD_PASSWORD_FILE_MAX, &data, &len, &err) == -1)
            return ctl_fail(ctl, CTL_EXIT_FAILED, "--%s %s: %s", opt, shown(file, p, sizeof(p)),
                            err.msg);
        size_t n = first_line((char *)data);
        if (n > CTL_CARD_PASSWORD_MAX)
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "--%s: the password is longer than %d characters",
                          opt, CTL_CARD_PASSWORD_MAX);
        else
            memcpy(buf, data, n + 1);
        OPENSSL_cleanse(data, len);
        free(data);
        return rc;
    }
    const char *value = env != NULL ? getenv(env) : NULL;
    if (value != NULL) {
        if (strlen(value) > CTL_CARD_PASSWORD_MAX)
            return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: the password is longer than %d characters",
                            env, CTL_CARD_PASSWORD_MAX);
        memcpy(buf, value, strlen(value) + 1);
        return CTL_EXIT_OK;
    }
    if (tty_password(prompt, buf, size, &err) == -1) {
        OPENSSL_cleanse(buf, size);
        if (err.code == JERR_NOT_FOUND && env == NULL)
            return ctl_usage(ctl, "no password: give --%s FILE (there is no terminal to ask on)",
                             opt);
        if (err.code == JERR_NOT_FOUND)
            return ctl_usage(ctl,
                             "no password: give --%s FILE or set %s (there is no terminal "
                             "to ask on)",
                             opt, env);
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
    }
    return CTL_EXIT_OK;
}

int ctl_card_read_new_password(struct ctl *ctl, enum ca_kind slot, const char *opt,
                               const char *file, const char *env, const char *whose,
                               bool allow_empty, char *buf)
{
    char again[CTL_CARD_PASSWORD_MAX + 1] = "", prompt[160];
    struct jerr err = {0};
    bool from_tty = file == NULL && (env == NULL || getenv(env) == NULL);
    int rc;

    snprintf(prompt, sizeof(prompt), "New %s password%s%s (%s%s): ", slot_words(slot),
             whose != NULL ? " of " : "", whose != NULL ? whose : "",
             slot == CA_SIGN ? "6-16 of A-Z and 0-9" : "4 digits",
             allow_empty ? "; empty: the service generates one" : "");
    if ((rc = read_password(ctl, opt, file, env, prompt, buf)) != CTL_EXIT_OK)
        return rc;
    if (from_tty && allow_empty && buf[0] == '\0')
        return CTL_EXIT_OK;
    /* RULE guide 4(7), DESIGN §1: checked here, before anything is sent or tried */
    if (card_image_check_password(slot, buf, &err) == -1) {
        OPENSSL_cleanse(buf, CTL_CARD_PASSWORD_MAX + 1);
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the new password is refused: %s", err.msg);
    }
    if (!from_tty)
        return CTL_EXIT_OK;
    /* typed without echo: asked twice, so a typing mistake is not what the card keeps */
    rc = read_password(ctl, opt, NULL, NULL, "Repeat it: ", again);
    if (rc == CTL_EXIT_OK && strcmp(again, buf) != 0)
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the two %s passwords differ; nothing was done",
                      slot_words(slot));
    if (rc != CTL_EXIT_OK)
        OPENSSL_cleanse(buf, CTL_CARD_PASSWORD_MAX + 1);
    OPENSSL_cleanse(again, sizeof(again));
    return rc;
}

int ctl_card_base64_decode(const char *b64, unsigned char **out, size_t *out_len)
{
    return base64_decode(b64, out, out_len);
}

/* A refusal of the card (wrong password, locked, rule) in words, with what to do. */
static int card_refusal(struct ctl *ctl, enum ca_kind slot, const struct jerr *err)
{
    if (err->code == JERR_FORBIDDEN && strcmp(err->field, "password") == 0)
        /* RULE guide 4(8): a locked password is reset at the municipal window */
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "%s; the %s password must be reset at the municipal window", err->msg,
                        slot_words(slot));
    if (err->code == JERR_NOT_FOUND && strcmp(err->field, "slot") == 0)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the card holds no %s certificate", slot_words(slot));
    return ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err->msg);
}

/* Unlocks the slot's key with the password from --password-file / JPKI_CARD_PASSWORD / the
 * terminal. Returns an exit code; *key is the caller's. */
static int unlock(struct ctl *ctl, const struct ctl_args *args, struct card_image *ci,
                  const char *path, enum ca_kind slot, EVP_PKEY **key)
{
    char password[CTL_CARD_PASSWORD_MAX + 1], prompt[96];
    struct jerr err = {0};
    int rc;

    *key = NULL;
    if (card_image_get0_cert(ci, slot) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the card holds no %s certificate", slot_words(slot));
    if (card_image_is_locked(ci, slot))
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "the %s password is locked after too many wrong tries; it must be reset "
                        "at the municipal window",
                        slot_words(slot));
    snprintf(prompt, sizeof(prompt),
             "%s password (%d tries left): ", slot == CA_SIGN ? "Signing" : "Authentication",
             card_image_tries_left(ci, slot));
    if ((rc = read_password(ctl, "password-file", ctl_args_get(args, "password-file"),
                            CTL_CARD_ENV_PASSWORD, prompt, password)) != CTL_EXIT_OK)
        goto out;
    *key = card_image_unlock_key(ci, path, slot, password, &err);
    if (*key == NULL)
        rc = card_refusal(ctl, slot, &err);
out:
    OPENSSL_cleanse(password, sizeof(password));
    return rc;
}

/* ---- printing a certificate ---- */

static void fingerprint_of(X509 *cert, char fp[96])
{
    struct jerr err = {0};
    if (pki_fingerprint(cert, fp, &err) == -1)
        snprintf(fp, 96, "?");
}

static void name_line(FILE *f, const char *label, const X509_NAME *name)
{
    char *text = ctl_rp_name_text(name);
    field_line(f, label, text != NULL ? text : "?");
    free(text);
}

/* The validity lines and the guide 4(12) warning. */
static void print_validity(FILE *f, X509 *cert, time_t now)
{
    char from[32], until[64], line[160];
    time_t nb, na;
    ctl_rp_time_text(X509_get0_notBefore(cert), from, sizeof(from));
    ctl_rp_time_text(X509_get0_notAfter(cert), until, sizeof(until));
    field_line(f, "valid from:", from);
    if (ctl_card_cert_times(cert, &nb, &na) == -1) {
        field_line(f, "valid until:", until);
        return;
    }
    enum ctl_card_validity v = ctl_card_validity_at(nb, na, now);
    long days = ctl_card_days_left(na, now);
    if (v == CTL_CARD_EXPIRED)
        snprintf(line, sizeof(line), "%s (expired)", until);
    else
        snprintf(line, sizeof(line), "%s (%ld days left)", until, days);
    field_line(f, "valid until:", line);
    if (v == CTL_CARD_EXPIRING)
        fprintf(f,
                "  WARNING: less than %d months left (%ld days): renew it at the municipal "
                "window\n",
                CTL_CARD_WARN_MONTHS, days);
    else if (v == CTL_CARD_EXPIRED)
        fprintf(f, "  EXPIRED: this certificate can no longer be used; a new one is issued at "
                   "the municipal window\n");
    else if (v == CTL_CARD_NOT_YET_VALID)
        fprintf(f, "  NOT YET VALID: its validity starts %s\n", from);
}

static void print_cert(FILE *f, X509 *cert, enum ca_kind slot, time_t now)
{
    char serial[2 * 20 + 8], fp[96];
    name_line(f, "subject:", X509_get_subject_name(cert));
    if (slot == CA_SIGN) {
        /* the four facts of the resident register (DESIGN §3: the signing certificate's SAN) */
        struct ctl_card_facts facts;
        struct jerr err = {0};
        if (ctl_card_read_facts(cert, &facts, &err) == 0)
            ctl_card_print_facts(f, &facts);
        else
            field_line(f, "facts:", err.msg);
        OPENSSL_cleanse(&facts, sizeof(facts));
    }
    print_validity(f, cert, now);
    ctl_rp_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
    field_line(f, "serial:", serial);
    name_line(f, "issuer:", X509_get_issuer_name(cert));
    fingerprint_of(cert, fp);
    field_line(f, "SHA-256:", fp);
}

static void print_tries(FILE *f, const struct card_image *ci, enum ca_kind slot)
{
    char line[160];
    int max = slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES;
    if (card_image_is_locked(ci, slot))
        snprintf(line, sizeof(line),
                 "LOCKED after %d wrong tries: have it reset at the municipal window", max);
    else
        snprintf(line, sizeof(line), "%d of %d tries left", card_image_tries_left(ci, slot), max);
    field_line(f, "password:", line);
}

static void print_roots(FILE *f, const struct card_image *ci)
{
    fputs("roots in the card (compare with the fingerprints the agency publishes)\n", f);
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        char fp[96];
        X509 *root = card_image_get0_root(ci, (enum ca_kind)ca);
        fingerprint_of(root, fp);
        fprintf(f, "  %s  SHA-256 %s\n", ca_kind_name((enum ca_kind)ca), fp);
        char *subject = ctl_rp_name_text(X509_get_subject_name(root));
        fputs("        subject ", f);
        ctl_out_put(f, subject);
        fputc('\n', f);
        free(subject);
    }
}

/* ---- commands ---- */

int ctl_card_show(struct ctl *ctl, const struct ctl_args *args)
{
    struct card_image *ci = NULL;
    time_t now = jclock_now();
    int rc;

    if ((rc = load_image(ctl, args->pos[0], &ci)) != CTL_EXIT_OK)
        return rc;
    fputs("card ", ctl->out);
    ctl_out_put(ctl->out, card_image_id(ci));
    fprintf(ctl->out, "  expiry %s\n", card_image_expiry(ci));
    for (int s = CA_SIGN; s <= CA_AUTH; s++) {
        enum ca_kind slot = (enum ca_kind)s;
        X509 *cert = card_image_get0_cert(ci, slot);
        fprintf(ctl->out, "%s certificate (%s slot)\n", slot_words(slot), ca_kind_name(slot));
        if (cert == NULL) {
            fputs("  (none: the slot is empty)\n", ctl->out);
            continue;
        }
        print_cert(ctl->out, cert, slot, now);
        print_tries(ctl->out, ci, slot);
    }
    print_roots(ctl->out, ci);
    card_image_free(ci);
    return CTL_EXIT_OK;
}

int ctl_card_fingerprints(struct ctl *ctl, const struct ctl_args *args)
{
    struct card_image *ci = NULL;
    struct ctl_http_reply reply = {0};
    json_t *served = NULL;
    int rc;

    if ((rc = load_image(ctl, args->pos[0], &ci)) != CTL_EXIT_OK)
        return rc;
    print_roots(ctl->out, ci);
    if (!ctl_args_has(args, "compare"))
        goto out;
    if ((rc = ctl_request(ctl, "GET", "/ca/fingerprints", false, NULL, NULL, 0, &reply)) !=
        CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    /* json_is_object evaluates its argument twice: load first */
    if (reply.status == 200)
        served = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(served)) {
        ctl_fail(ctl, rc, "GET /ca/fingerprints answered %ld without the fingerprints",
                 reply.status);
        goto out;
    }
    rc = CTL_EXIT_OK;
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        char fp[96];
        const char *name = ca_kind_name((enum ca_kind)ca);
        const char *theirs = ctl_out_str(json_object_get(served, name), "sha256");
        fingerprint_of(card_image_get0_root(ci, (enum ca_kind)ca), fp);
        if (theirs != NULL && strcasecmp(theirs, fp) == 0) {
            fprintf(ctl->out, "%s root: matches the fingerprint the service publishes\n", name);
        } else {
            fprintf(ctl->out, "%s root: MISMATCH: the service publishes ", name);
            ctl_out_put(ctl->out, theirs);
            fputc('\n', ctl->out);
            rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                          "the card's %s root is not the one the service "
                          "publishes",
                          name);
        }
    }
out:
    json_decref(served);
    ctl_http_reply_free(&reply);
    card_image_free(ci);
    return rc;
}

int ctl_card_export(struct ctl *ctl, const struct ctl_args *args)
{
    struct card_image *ci = NULL;
    const char *out_path = ctl_args_get(args, "out");
    bool der = ctl_args_has(args, "der");
    enum ca_kind slot;
    BIO *mem = NULL;
    struct jerr err = {0};
    char *data = NULL, p[256];
    long len;
    int rc;

    if (der && ctl_args_has(args, "pem"))
        return ctl_usage(ctl, "give --der or --pem, not both");
    if ((rc = parse_slot(ctl, args, &slot)) != CTL_EXIT_OK)
        return rc;
    if (der && out_path == NULL && isatty(fileno(ctl->out)))
        return ctl_usage(ctl, "--der writes binary: give -o FILE");
    if ((rc = load_image(ctl, args->pos[0], &ci)) != CTL_EXIT_OK)
        return rc;
    rc = CTL_EXIT_FAILED;
    X509 *cert = card_image_get0_cert(ci, slot);
    if (cert == NULL) {
        ctl_fail(ctl, rc, "the card holds no %s certificate", slot_words(slot));
        goto out;
    }
    if ((mem = BIO_new(BIO_s_mem())) == NULL ||
        (der ? i2d_X509_bio(mem, cert) : PEM_write_bio_X509(mem, cert)) != 1 ||
        (len = BIO_get_mem_data(mem, &data)) <= 0) {
        ctl_fail(ctl, rc, "cannot encode the certificate");
        goto out;
    }
    if (out_path == NULL || strcmp(out_path, "-") == 0) {
        if (fwrite(data, 1, (size_t)len, ctl->out) != (size_t)len) {
            ctl_fail(ctl, rc, "cannot write the output");
            goto out;
        }
    } else {
        if (fsutil_write_atomic(out_path, data, (size_t)len, 0644, false, &err) == -1) {
            ctl_fail(ctl, rc, "cannot write %s: %s", shown(out_path, p, sizeof(p)), err.msg);
            goto out;
        }
        fprintf(ctl->err, "the %s certificate (%s) written to %s\n", slot_words(slot),
                der ? "DER" : "PEM", shown(out_path, p, sizeof(p)));
    }
    rc = CTL_EXIT_OK;
out:
    ERR_clear_error();
    BIO_free(mem);
    card_image_free(ci);
    return rc;
}

/* The holder's birth date "YYYY-MM-DD" as the card's signing certificate states it, into
 * `out`; NULL when the card holds no signing certificate (an authentication certificate
 * carries no personal data) or its birth date does not decode. */
static const char *holder_birth_date(const struct card_image *ci, char out[11])
{
    struct ctl_card_facts facts;
    struct jerr ignored = {0};
    X509 *sign = card_image_get0_cert(ci, CA_SIGN);
    if (sign == NULL || ctl_card_read_facts(sign, &facts, &ignored) == -1 ||
        !facts.birth_date_decoded)
        return NULL;
    memcpy(out, facts.birth_date, 11);
    return out;
}

int ctl_card_passwd(struct ctl *ctl, const struct ctl_args *args)
{
    char old_pw[CTL_CARD_PASSWORD_MAX + 1], new_pw[CTL_CARD_PASSWORD_MAX + 1], prompt[128],
        birth[11];
    struct card_image *ci = NULL;
    struct jerr err = {0};
    const char *path = args->pos[0];
    enum ca_kind slot;
    int rc;

    memset(old_pw, 0, sizeof(old_pw));
    memset(new_pw, 0, sizeof(new_pw));
    if ((rc = parse_slot(ctl, args, &slot)) != CTL_EXIT_OK)
        return rc;
    if ((rc = load_image(ctl, path, &ci)) != CTL_EXIT_OK)
        return rc;
    rc = CTL_EXIT_FAILED;
    if (card_image_get0_cert(ci, slot) == NULL) {
        ctl_fail(ctl, rc, "the card holds no %s certificate", slot_words(slot));
        goto out;
    }
    if (card_image_is_locked(ci, slot)) {
        ctl_fail(ctl, rc,
                 "the %s password is locked after too many wrong tries; it must be reset at the "
                 "municipal window",
                 slot_words(slot));
        goto out;
    }
    snprintf(prompt, sizeof(prompt), "Current %s password (%d tries left): ", slot_words(slot),
             card_image_tries_left(ci, slot));
    if ((rc = read_password(ctl, "old-file", ctl_args_get(args, "old-file"), CTL_CARD_ENV_PASSWORD,
                            prompt, old_pw)) != CTL_EXIT_OK)
        goto out;
    if ((rc = ctl_card_read_new_password(ctl, slot, "new-file", ctl_args_get(args, "new-file"),
                                         CTL_CARD_ENV_NEW_PASSWORD, NULL, false, new_pw)) !=
        CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    /* RULE guide 4(7): not the holder's birth date, one repeated digit or a straight run;
     * checked before the old password is tried, so a refused new one costs no try */
    if (rules_check_password(new_pw, holder_birth_date(ci, birth), "the new password", &err) ==
        -1) {
        ctl_fail(ctl, rc, "%s", err.msg);
        goto out;
    }
    if (card_image_change_password(ci, path, slot, old_pw, new_pw, &err) == -1) {
        card_refusal(ctl, slot, &err);
        goto out;
    }
    fprintf(ctl->out, "the %s password of card ", slot_words(slot));
    ctl_out_put(ctl->out, card_image_id(ci));
    fputs(" was changed\n", ctl->out);
    rc = CTL_EXIT_OK;
out:
    OPENSSL_cleanse(old_pw, sizeof(old_pw));
    OPENSSL_cleanse(new_pw, sizeof(new_pw));
    card_image_free(ci);
    return rc;
}

/* Refuses a certificate that is not valid now, and warns (guide 4(12)) when it soon ends. */
static int usable_now(struct ctl *ctl, X509 *cert, enum ca_kind slot)
{
    time_t nb, na, now = jclock_now();
    char until[32];
    if (ctl_card_cert_times(cert, &nb, &na) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the %s certificate's validity is unreadable",
                        slot_words(slot));
    ctl_rp_time_text(X509_get0_notAfter(cert), until, sizeof(until));
    switch (ctl_card_validity_at(nb, na, now)) {
    case CTL_CARD_EXPIRED:
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "the %s certificate expired on %s: nothing signed with it would be "
                        "accepted; a new one is issued at the municipal window",
                        slot_words(slot), until);
    case CTL_CARD_NOT_YET_VALID:
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the %s certificate is not valid yet",
                        slot_words(slot));
    case CTL_CARD_EXPIRING:
        fprintf(ctl->err,
                "jpkictl: %s: warning: the %s certificate expires on %s (%ld days, less than %d "
                "months): renew it at the municipal window\n",
                ctl->cmd_name, slot_words(slot), until, ctl_card_days_left(na, now),
                CTL_CARD_WARN_MONTHS);
        break;
    case CTL_CARD_VALID:
        break;
    }
    return CTL_EXIT_OK;
}

/* CMS SignedData (RFC 5652 §5) by `key`/`cert` over `content`, SHA-256, the signer certificate
 * included, signed attributes (contentType, messageDigest, signingTime). `flags` adds
 * CMS_DETACHED for a detached signature. Encoded as DER, or PEM when `pem`, into a malloc'd
 * buffer. Returns an exit code. */
static int cms_make(struct ctl *ctl, X509 *cert, EVP_PKEY *key, BIO *content, unsigned int flags,
                    bool pem, unsigned char **out, size_t *out_len)
{
    CMS_ContentInfo *cms = NULL;
    BIO *mem = NULL;
    char *data = NULL;
    long len;
    int rc = CTL_EXIT_FAILED;
    char why[256];

    *out = NULL;
    flags |= CMS_BINARY | CMS_NOSMIMECAP;
    /* CMS_PARTIAL, then one signer with an explicit SHA-256 (RFC 5754 §2.2), then CMS_final */
    if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL)) == NULL ||
        CMS_add1_signer(cms, cert, key, EVP_sha256(), flags) == NULL ||
        CMS_final(cms, content, NULL, flags) != 1) {
        unsigned long e = ERR_get_error();
        ERR_error_string_n(e, why, sizeof(why));
        ctl_fail(ctl, rc, "cannot sign: %s", e != 0 ? why : "no detail");
        goto out;
    }
    if ((mem = BIO_new(BIO_s_mem())) == NULL ||
        (pem ? PEM_write_bio_CMS(mem, cms) : i2d_CMS_bio(mem, cms)) != 1 ||
        (len = BIO_get_mem_data(mem, &data)) <= 0 || len > CTL_CARD_CMS_MAX ||
        (*out = malloc((size_t)len)) == NULL) {
        ctl_fail(ctl, rc, "cannot encode the signature");
        goto out;
    }
    memcpy(*out, data, (size_t)len);
    *out_len = (size_t)len;
    rc = CTL_EXIT_OK;
out:
    ERR_clear_error();
    BIO_free(mem);
    CMS_ContentInfo_free(cms);
    return rc;
}

int ctl_card_sign(struct ctl *ctl, const struct ctl_args *args)
{
    const char *image = args->pos[0], *file = args->pos[1];
    const char *out_path = ctl_args_get(args, "out");
    bool pem = ctl_args_has(args, "pem");
    struct card_image *ci = NULL;
    EVP_PKEY *key = NULL;
    BIO *content = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    char *default_out = NULL, p[256];
    struct jerr err = {0};
    int rc;

    if ((rc = load_image(ctl, image, &ci)) != CTL_EXIT_OK)
        return rc;
    X509 *cert = card_image_get0_cert(ci, CA_SIGN);
    if (cert == NULL) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the card holds no signing certificate");
        goto out;
    }
    if ((rc = usable_now(ctl, cert, CA_SIGN)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if ((content = BIO_new_file(file, "rb")) == NULL) {
        ERR_clear_error();
        ctl_fail(ctl, rc, "cannot read %s: %s", shown(file, p, sizeof(p)), strerror(errno));
        goto out;
    }
    if (out_path == NULL) {
        size_t n = strlen(file) + sizeof(".p7s");
        if ((default_out = malloc(n)) == NULL) {
            ctl_fail(ctl, rc, "out of memory");
            goto out;
        }
        snprintf(default_out, n, "%s.p7s", file);
        out_path = default_out;
    }
    if ((rc = unlock(ctl, args, ci, image, CA_SIGN, &key)) != CTL_EXIT_OK)
        goto out;
    if ((rc = cms_make(ctl, cert, key, content, CMS_DETACHED, pem, &sig, &sig_len)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (strcmp(out_path, "-") == 0) {
        if (fwrite(sig, 1, sig_len, ctl->out) != sig_len) {
            ctl_fail(ctl, rc, "cannot write the output");
            goto out;
        }
    } else {
        if (fsutil_write_atomic(out_path, sig, sig_len, 0644, false, &err) == -1) {
            ctl_fail(ctl, rc, "cannot write %s: %s", shown(out_path, p, sizeof(p)), err.msg);
            goto out;
        }
        fprintf(ctl->out, "signed %s\n  signature (CMS, %s, detached): %s\n",
                shown(file, p, sizeof(p)), pem ? "PEM" : "DER", out_path);
    }
    rc = CTL_EXIT_OK;
out:
    free(sig);
    free(default_out);
    BIO_free(content);
    EVP_PKEY_free(key);
    card_image_free(ci);
    return rc;
}

int ctl_card_check(struct ctl *ctl, const struct ctl_args *args)
{
    struct card_image *ci = NULL;
    struct ctl_http_reply reply = {0};
    json_t *served = NULL;
    time_t now = jclock_now();
    bool all_good = true;
    int rc, transport = 0;

    if (ctl->url == NULL || ctl->url[0] == '\0')
        return ctl_usage(ctl, "no service URL: give --url or set JPKI_URL");
    if ((rc = load_image(ctl, args->pos[0], &ci)) != CTL_EXIT_OK)
        return rc;
    for (int s = CA_SIGN; s <= CA_AUTH; s++) {
        enum ca_kind slot = (enum ca_kind)s;
        const char *ca = ca_kind_name(slot);
        X509 *cert = card_image_get0_cert(ci, slot);
        X509 *root = card_image_get0_root(ci, slot);
        char serial[2 * 20 + 8], until[32], words[128];
        struct ctl_rp_status st;
        time_t nb, na;

        if (cert == NULL) {
            fprintf(ctl->out, "%s certificate: none (the slot is empty)\n", ca);
            continue;
        }
        ctl_rp_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
        ctl_rp_time_text(X509_get0_notAfter(cert), until, sizeof(until));
        fprintf(ctl->out, "%s certificate %s: ", ca, serial);
        /* RFC 5280 §6.1.3 (a)(1): the certificate is the root's (its signature verifies) */
        if (X509_verify(cert, X509_get0_pubkey(root)) != 1) {
            ERR_clear_error();
            fputs("NOT issued by the card's root\n", ctl->out);
            all_good = false;
            continue;
        }
        enum ctl_card_validity v = ctl_card_cert_times(cert, &nb, &na) == 0
                                       ? ctl_card_validity_at(nb, na, now)
                                       : CTL_CARD_EXPIRED;
        if (v == CTL_CARD_EXPIRED || v == CTL_CARD_NOT_YET_VALID) {
            /* an expired certificate leaves the CRL (DESIGN §4): its status is its expiry */
            fprintf(ctl->out, "%s %s\n", v == CTL_CARD_EXPIRED ? "expired on" : "not valid before",
                    v == CTL_CARD_EXPIRED ? until : "its notBefore");
            all_good = false;
            continue;
        }
        fflush(ctl->out);
        int src = ctl_rp_cert_status(ctl, ca, cert, root, &st);
        if (src != CTL_EXIT_OK) {
            fputs("status unknown (no verified OCSP answer or CRL)\n", ctl->out);
            if (src == CTL_EXIT_TRANSPORT)
                transport++;
            all_good = false;
            continue;
        }
        ctl_card_status_words(&st, words, sizeof(words));
        fprintf(ctl->out, "%s (%s)\n", words, st.source);
        if (st.status != V_OCSP_CERTSTATUS_GOOD)
            all_good = false;
        /* guide 4(12): renewal is advice for a good certificate; a revoked or held one is
         * already out of use, and its status line says what it is */
        if (v == CTL_CARD_EXPIRING && st.status == V_OCSP_CERTSTATUS_GOOD)
            fprintf(ctl->out,
                    "  WARNING: it expires on %s (%ld days, less than %d months): "
                    "renew it at the municipal window\n",
                    until, ctl_card_days_left(na, now), CTL_CARD_WARN_MONTHS);
    }
    /* guide 4(11): the roots in the card against the fingerprints the service publishes */
    rc = ctl_request(ctl, "GET", "/ca/fingerprints", false, NULL, NULL, 0, &reply);
    if (rc == CTL_EXIT_TRANSPORT)
        transport++;
    if (rc == CTL_EXIT_OK && reply.status == 200)
        served = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (rc == CTL_EXIT_OK && !json_is_object(served)) {
        json_decref(served);
        served = NULL;
        ctl_fail(ctl, CTL_EXIT_FAILED, "GET /ca/fingerprints answered %ld without fingerprints",
                 reply.status);
    }
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        char fp[96];
        const char *name = ca_kind_name((enum ca_kind)ca);
        const char *theirs = ctl_out_str(json_object_get(served, name), "sha256");
        fingerprint_of(card_image_get0_root(ci, (enum ca_kind)ca), fp);
        fprintf(ctl->out, "%s root %s: ", name, fp);
        if (served == NULL) {
            fputs("not compared (no answer from the service)\n", ctl->out);
            all_good = false;
        } else if (theirs != NULL && strcasecmp(theirs, fp) == 0) {
            fputs("matches the fingerprint the service publishes\n", ctl->out);
        } else {
            fputs("MISMATCH: the service publishes ", ctl->out);
            ctl_out_put(ctl->out, theirs);
            fputc('\n', ctl->out);
            all_good = false;
        }
    }
    if (all_good) {
        fputs("all good\n", ctl->out);
        rc = CTL_EXIT_OK;
    } else {
        fputs("NOT all good\n", ctl->out);
        /* unreachable everywhere is a transport failure; anything else a failed check */
        rc = transport > 0 && served == NULL ? CTL_EXIT_TRANSPORT : CTL_EXIT_FAILED;
    }
    json_decref(served);
    ctl_http_reply_free(&reply);
    card_image_free(ci);
    return rc;
}

/* ---- online revocation (guide 4(5)B) ---- */

/* RFC 4648 §4 base64 through OpenSSL's decoder into a malloc'd buffer. Returns 0 or -1. */
static int base64_decode(const char *b64, unsigned char **out, size_t *out_len)
{
    size_t in_len = strlen(b64);
    EVP_ENCODE_CTX *ectx = NULL;
    int len = 0, tail = 0, rc = -1;

    *out = NULL;
    if (in_len > INT32_MAX || (*out = malloc(in_len / 4 * 3 + 3)) == NULL ||
        (ectx = EVP_ENCODE_CTX_new()) == NULL)
        goto out;
    EVP_DecodeInit(ectx);
    if (EVP_DecodeUpdate(ectx, *out, &len, (const unsigned char *)b64, (int)in_len) == -1 ||
        EVP_DecodeFinal(ectx, *out + len, &tail) != 1)
        goto out;
    *out_len = (size_t)(len + tail);
    rc = 0;
out:
    if (rc == -1) {
        free(*out);
        *out = NULL;
    }
    EVP_ENCODE_CTX_free(ectx);
    ERR_clear_error();
    return rc;
}

/* Checks the service's receipt (responder/api/holder.c): "receipt" is the signed JSON text, signed
 * ("signature", sha256WithRSAEncryption) by "signer_certificate", the OCSP signer that `root`
 * (the card's root of the revoked certificate's CA) issued for OCSP signing (RFC 6960
 * §4.2.2.2); the text names our serial and request id. Sets *inner (a new reference) to the
 * parsed text. Returns 0, or -1 with *why. */
static int receipt_verify(const json_t *answer, X509 *root, const char *serial,
                          const char *request_id, json_t **inner, const char **why)
{
    const char *text = ctl_out_str(answer, "receipt");
    const char *sig_b64 = ctl_out_str(answer, "signature");
    const char *pem = ctl_out_str(answer, "signer_certificate");
    const char *alg = ctl_out_str(answer, "signature_algorithm");
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    BIO *bio = NULL;
    X509 *signer = NULL;
    EVP_MD_CTX *md = NULL;
    json_t *doc = NULL;
    int rc = -1;

    *inner = NULL;
    if (text == NULL || sig_b64 == NULL || pem == NULL) {
        *why = "the answer carries no signed receipt";
        goto out;
    }
    if (alg != NULL && strcmp(alg, "sha256WithRSAEncryption") != 0) {
        *why = "the receipt is signed with an algorithm this client does not check";
        goto out;
    }
    if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
        (signer = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
        *why = "the receipt's signer certificate does not decode";
        goto out;
    }
    /* the signer must be the CA's own delegated OCSP signer: issued by the root in the card */
    if (X509_NAME_cmp(X509_get_issuer_name(signer), X509_get_subject_name(root)) != 0 ||
        X509_verify(signer, X509_get0_pubkey(root)) != 1 ||
        (X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN) == 0) {
        *why = "the receipt's signer is not the CA's OCSP signer under the root in the card";
        goto out;
    }
    if (base64_decode(sig_b64, &sig, &sig_len) == -1) {
        *why = "the receipt's signature is not base64";
        goto out;
    }
    if ((md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(signer)) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)text, strlen(text)) != 1) {
        *why = "the receipt's signature does not verify";
        goto out;
    }
    doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    const char *their_serial = ctl_out_str(doc, "serial");
    const char *their_id = ctl_out_str(doc, "request_id");
    if (!json_is_object(doc) || their_serial == NULL || strcasecmp(their_serial, serial) != 0 ||
        their_id == NULL || strcasecmp(their_id, request_id) != 0) {
        *why = "the signed receipt is not for this request";
        goto out;
    }
    *inner = doc;
    doc = NULL;
    rc = 0;
out:
    ERR_clear_error();
    json_decref(doc);
    EVP_MD_CTX_free(md);
    X509_free(signer);
    BIO_free(bio);
    free(sig);
    return rc;
}

/* The request document (holderreq.h): serial, reason, a fresh random request id, the time. */
static json_t *revoke_document(const char *serial, const char *reason, char request_id[33])
{
    unsigned char raw[16];
    char now[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ERR_clear_error();
        return NULL;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(request_id + 2 * i, 3, "%02x", raw[i]);
    jclock_format(jclock_now(), now, sizeof(now));
    return json_pack("{s:s, s:s, s:s, s:s}", "serial", serial, "reason", reason, "request_id",
                     request_id, "time", now);
}

int ctl_card_revoke(struct ctl *ctl, const struct ctl_args *args)
{
    static const char *const reasons[] = {"keyCompromise", "cessationOfOperation", "unspecified"};
    const char *image = args->pos[0], *reason = ctl_args_get(args, "reason");
    const char *receipt_path = ctl_args_get(args, "receipt");
    const char *save_request = ctl_args_get(args, "save-request");
    struct card_image *ci = NULL;
    struct ctl_http_reply reply = {0};
    EVP_PKEY *key = NULL;
    BIO *content = NULL;
    json_t *doc = NULL, *answer = NULL, *inner = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char *text = NULL, serial[2 * 20 + 8], request_id[33], default_receipt[96], p[256];
    char line[CTL_OUT_LINE_MAX];
    enum ca_kind slot = CA_SIGN;
    const char *why = NULL;
    struct jerr err = {0};
    bool known = false;
    int rc;

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        known = known || strcmp(reason, reasons[i]) == 0;
    if (!known)
        return ctl_usage(ctl, "--reason must be keyCompromise, cessationOfOperation or "
                              "unspecified");
    if (ctl_args_has(args, "slot") && (rc = parse_slot(ctl, args, &slot)) != CTL_EXIT_OK)
        return rc;
    if (ctl->url == NULL || ctl->url[0] == '\0')
        return ctl_usage(ctl, "no service URL: give --url or set JPKI_URL");
    if ((rc = load_image(ctl, image, &ci)) != CTL_EXIT_OK)
        return rc;
    rc = CTL_EXIT_FAILED;
    X509 *signing = card_image_get0_cert(ci, CA_SIGN), *target = card_image_get0_cert(ci, slot);
    if (signing == NULL) {
        /* guide 4(5)B: the request is signed with the signing key; without it, the window */
        ctl_fail(ctl, rc,
                 "the card holds no signing certificate: an online request cannot be "
                 "signed; revoke at the municipal window");
        goto out;
    }
    if (target == NULL) {
        ctl_fail(ctl, rc, "the card holds no %s certificate", slot_words(slot));
        goto out;
    }
    if ((rc = usable_now(ctl, signing, CA_SIGN)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    ctl_rp_serial_hex(X509_get0_serialNumber(target), serial, sizeof(serial));
    if ((doc = revoke_document(serial, reason, request_id)) == NULL ||
        (text = json_dumps(doc, JSON_COMPACT)) == NULL ||
        (content = BIO_new_mem_buf(text, (int)strlen(text))) == NULL) {
        ctl_fail(ctl, rc, "cannot build the request");
        goto out;
    }
    if ((rc = unlock(ctl, args, ci, image, CA_SIGN, &key)) != CTL_EXIT_OK)
        goto out;
    /* holderreq.h: attached content, the signer certificate included, SHA-256, DER */
    if ((rc = cms_make(ctl, signing, key, content, 0, false, &der, &der_len)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (save_request != NULL &&
        fsutil_write_atomic(save_request, der, der_len, 0600, false, &err) == -1) {
        ctl_fail(ctl, rc, "cannot write %s: %s", shown(save_request, p, sizeof(p)), err.msg);
        goto out;
    }
    if ((rc = ctl_request(ctl, "POST", "/v1/holder/revoke", false, "application/cms", der, der_len,
                          &reply)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (reply.status != 200) {
        ctl_out_api_error(line, sizeof(line), ctl->cmd_name, reply.status, reply.body, reply.len);
        fprintf(ctl->err, "%s\n", line);
        goto out;
    }
    if (reply.len <= CTL_CARD_RECEIPT_MAX) /* json_is_object evaluates its argument twice */
        answer = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(answer)) {
        ctl_fail(ctl, rc, "the answer is not a JSON receipt");
        goto out;
    }
    if (receipt_path == NULL) {
        snprintf(default_receipt, sizeof(default_receipt), "revocation-receipt-%s.json", serial);
        receipt_path = default_receipt;
    }
    /* the answer is kept as it came, whatever its check says: it is what the service said */
    if (fsutil_write_atomic(receipt_path, reply.body, reply.len, 0600, false, &err) == -1) {
        ctl_fail(ctl, rc,
                 "the certificate was revoked, but the receipt cannot be written to %s: "
                 "%s",
                 shown(receipt_path, p, sizeof(p)), err.msg);
        goto out;
    }
    if (receipt_verify(answer, card_image_get0_root(ci, slot), serial, request_id, &inner, &why) ==
        -1) {
        ctl_fail(ctl, rc,
                 "the service accepted the request, but its receipt does not check: %s "
                 "(saved as it came to %s)",
                 why, shown(receipt_path, p, sizeof(p)));
        goto out;
    }
    ctl_card_print_receipt(ctl->out, inner);
    fprintf(ctl->out,
            "  %-13s verified: signed by the CA's OCSP signer under the root in the "
            "card\n  %-13s %s\n",
            "signature:", "saved to:", shown(receipt_path, p, sizeof(p)));
    rc = CTL_EXIT_OK;
out:
    json_decref(inner);
    json_decref(answer);
    ctl_http_reply_free(&reply);
    free(der);
    BIO_free(content);
    free(text);
    json_decref(doc);
    EVP_PKEY_free(key);
    card_image_free(ci);
    return rc;
}
