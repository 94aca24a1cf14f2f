/*
 * ctl_card_print: see ctl_card_print.h. The calendar is base/jclock's and OpenSSL's (no leap-year
 * rule of our own); every certificate field and service answer is sanitized (ctl_out) on output.
 */
#include "ctl/ctl_card_print.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "base/jclock.h"
#include "ca/model.h"
#include "ca/pki.h"
#include "ca/profile.h"
#include "ctl/ctl_out.h"

/* ---- pure parts ---- */

/* t plus `months` calendar months in UTC, the day of month clamped to the target month: the
 * 31st of a 30-day month is its 30th, 29 February of a common year the 28th. */
static time_t add_months(time_t t, int months)
{
    struct tm tm;
    char day[16];
    int y, m, d, py, pm, pd;
    if (OPENSSL_gmtime(&t, &tm) == NULL)
        return t;
    m = tm.tm_mon + months; /* 0-based */
    y = tm.tm_year + 1900 + m / 12;
    m = m % 12 + 1;
    /* jclock_parse_date accepts only real calendar days: step back to the month's last one */
    for (d = tm.tm_mday; d > 28; d--) {
        snprintf(day, sizeof(day), "%04d-%02d-%02d", y, m, d);
        if (jclock_parse_date(day, &py, &pm, &pd) == 0)
            break;
    }
    return jclock_utc(y, m, d, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Seconds since the epoch of `t`, by OpenSSL's own calendar (ASN1_TIME_diff from 1970). */
static int asn1_time_seconds(const ASN1_TIME *t, time_t *out)
{
    int days, secs, rc = -1;
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    if (epoch != NULL && ASN1_TIME_diff(&days, &secs, epoch, t) == 1) {
        *out = (time_t)days * 86400 + secs;
        rc = 0;
    }
    ASN1_TIME_free(epoch);
    ERR_clear_error();
    return rc;
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

void ctl_card_print_facts(FILE *f, const struct ctl_card_facts *facts)
{
    char birth[64];
    ctl_out_field(f, "name:", facts->name);
    ctl_out_field(f, "address:", facts->address);
    if (facts->birth_date_decoded)
        snprintf(birth, sizeof(birth), "%s", facts->birth_date);
    else
        snprintf(birth, sizeof(birth), "(not a JPKI birth date: %s)", facts->birth_date);
    ctl_out_field(f, "birth date:", birth);
    ctl_out_field(f, "gender:", facts->gender);
}

int ctl_card_cert_times(X509 *cert, time_t *not_before, time_t *not_after)
{
    if (asn1_time_seconds(X509_get0_notBefore(cert), not_before) == -1 ||
        asn1_time_seconds(X509_get0_notAfter(cert), not_after) == -1)
        return -1;
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
            ctl_out_field(f, known[i][1], json_string_value(v));
        else if (json_is_integer(v)) {
            snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
            ctl_out_field(f, known[i][1], text);
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
        ctl_out_field(f, label, dump);
        free(dump);
    }
}

/* ---- writers ---- */

void ctl_card_fingerprint(X509 *cert, char fp[96])
{
    struct jerr err = {0};
    if (pki_fingerprint(cert, fp, &err) == -1)
        snprintf(fp, 96, "?");
}

static void name_line(FILE *f, const char *label, const X509_NAME *name)
{
    char *text = ctl_rp_name_text(name);
    ctl_out_field(f, label, text != NULL ? text : "?");
    free(text);
}

/* The validity lines and the guide 4(12) warning. */
static void print_validity(FILE *f, X509 *cert, time_t now)
{
    char from[32], until[64], line[160];
    time_t nb, na;
    ctl_rp_time_text(X509_get0_notBefore(cert), from, sizeof(from));
    ctl_rp_time_text(X509_get0_notAfter(cert), until, sizeof(until));
    ctl_out_field(f, "valid from:", from);
    if (ctl_card_cert_times(cert, &nb, &na) == -1) {
        ctl_out_field(f, "valid until:", until);
        return;
    }
    enum ctl_card_validity v = ctl_card_validity_at(nb, na, now);
    long days = ctl_card_days_left(na, now);
    if (v == CTL_CARD_EXPIRED)
        snprintf(line, sizeof(line), "%s (expired)", until);
    else
        snprintf(line, sizeof(line), "%s (%ld days left)", until, days);
    ctl_out_field(f, "valid until:", line);
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

void ctl_card_print_cert(FILE *f, X509 *cert, enum ca_kind slot, time_t now)
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
            ctl_out_field(f, "facts:", err.msg);
        OPENSSL_cleanse(&facts, sizeof(facts));
    }
    print_validity(f, cert, now);
    ctl_rp_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
    ctl_out_field(f, "serial:", serial);
    name_line(f, "issuer:", X509_get_issuer_name(cert));
    ctl_card_fingerprint(cert, fp);
    ctl_out_field(f, "SHA-256:", fp);
}

void ctl_card_print_roots(FILE *f, X509 *const roots[CA_KIND_COUNT])
{
    fputs("roots in the card (compare with the fingerprints the agency publishes)\n", f);
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        char fp[96];
        X509 *root = roots[ca];
        if (root == NULL) {
            fprintf(f, "  %s  (none in the card)\n", ca_kind_name((enum ca_kind)ca));
            continue;
        }
        ctl_card_fingerprint(root, fp);
        fprintf(f, "  %s  SHA-256 %s\n", ca_kind_name((enum ca_kind)ca), fp);
        char *subject = ctl_rp_name_text(X509_get_subject_name(root));
        fputs("        subject ", f);
        ctl_out_put(f, subject);
        fputc('\n', f);
        free(subject);
    }
}
