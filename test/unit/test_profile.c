/*
 * test_profile: the five certificate profiles of DESIGN §3 (ca/profile.c). Each certificate is
 * built with real RSA keys, signed here (X509_sign, SHA-256), encoded, decoded again, and every
 * profile field of the decoded certificate is compared with what was asked for. The refusals
 * of bad input are checked with their exact code and field.
 */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "ca/profile.h"
#include "ca/validity.h"
#include "base/jclock.h"
#include "testinst.h"

#define SIGN_SUBJECT                                                                               \
    "C=JP, O=JPKI, OU=JPKI for digital signature, OU=Japan Agency for Local Authority "            \
    "Information Systems"
#define AGENCY "Japan Agency for Local Authority Information Systems"
#define NAME_JA "山田 太郎"
#define ADDRESS_JA "東京都千代田区霞が関２丁目１番２号"
#define PREF_JA "東京都"
#define MUNI_JA "千代田区"
#define CRL_URL "http://127.0.0.1:8080/crl/sign/3.crl"
#define OCSP_URL "http://127.0.0.1:8080/ocsp"
#define POLICY_SIGN "1.2.392.200149.8.5.1.1.20"
#define POLICY_AUTH "1.2.392.200149.8.5.1.3.30"
#define SERIAL_HEX "7F0102030405060708090A0B0C0D0E0F"

/* Generated once, before the tests fork (unchecked fixture). */
static EVP_PKEY *root_key, *ocsp_key, *leaf_key;

static void keys_setup(void)
{
    root_key = EVP_RSA_gen(2048);
    ocsp_key = EVP_RSA_gen(2048);
    leaf_key = EVP_RSA_gen(2048);
    if (root_key == NULL || ocsp_key == NULL || leaf_key == NULL)
        abort();
}

static void keys_teardown(void)
{
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(ocsp_key);
    EVP_PKEY_free(leaf_key);
}

static struct config_ca sign_ca(void)
{
    struct config_ca cc;
    memset(&cc, 0, sizeof(cc));
    cc.subject = SIGN_SUBJECT;
    cc.key_algorithm = "rsa";
    cc.key_bits = 2048;
    cc.root_validity_years = 10;
    cc.policy_oid = POLICY_SIGN;
    cc.crl_url = CRL_URL;
    cc.ocsp_url = OCSP_URL;
    cc.crl_partitions = 1;
    cc.ocsp_signer_validity_days = 365;
    return cc;
}

static struct person taro(void)
{
    return testutil_person("P-1", NAME_JA, ADDRESS_JA, "1990-01-02", GENDER_MALE);
}

/* Signs x with key (SHA-256), frees x, and returns the certificate decoded from its DER
 * (der and der_len keep the encoding; the caller frees *der with OPENSSL_free). */
static X509 *sign_roundtrip(X509 *x, EVP_PKEY *key, unsigned char **der, int *der_len)
{
    ck_assert_ptr_nonnull(x);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    unsigned char *buf = NULL;
    int len = i2d_X509(x, &buf);
    ck_assert_int_gt(len, 0);
    X509_free(x);
    const unsigned char *p = buf;
    X509 *back = d2i_X509(NULL, &p, len);
    ck_assert_ptr_nonnull(back);
    ck_assert_ptr_eq(p, buf + len); /* all input consumed */
    if (der != NULL) {
        *der = buf;
        *der_len = len;
    } else {
        OPENSSL_free(buf);
    }
    return back;
}

/* Asserts the name's entries: count, and for each its NID, UTF-8 value and string type. */
struct entry {
    int nid;
    const char *value;
    int str_type;
};

static void check_name(const X509_NAME *name, const struct entry *want, int n)
{
    ck_assert_int_eq(X509_NAME_entry_count(name), n);
    for (int i = 0; i < n; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        ck_assert_int_eq(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), want[i].nid);
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
        ck_assert_int_eq(ASN1_STRING_type(s), want[i].str_type);
        ck_assert_int_eq(ASN1_STRING_length(s), (int)strlen(want[i].value));
        ck_assert_mem_eq(ASN1_STRING_get0_data(s), want[i].value, strlen(want[i].value));
        /* One attribute per RDN, in order. */
        ck_assert_int_eq(X509_NAME_ENTRY_set(e), i);
    }
}

static void check_time(const ASN1_TIME *t, time_t want)
{
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(t, want), 0);
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(t, want - 1), 1);
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(t, want + 1), -1);
}

/* The criticality of the extension `nid` (-1 when absent). Asserts it appears at most once. */
static int ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    if (i < 0)
        return -1;
    ck_assert_int_lt(X509_get_ext_by_NID(x, nid, i), 0);
    return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* keyUsage bits 0..8 as a mask of bit numbers, asserting the extension is critical. */
static unsigned key_usage_bits(X509 *x)
{
    int crit = -3;
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
    ck_assert_ptr_nonnull(ku);
    ck_assert_int_eq(crit, 1);
    unsigned mask = 0;
    for (int b = 0; b <= 8; b++)
        if (ASN1_BIT_STRING_get_bit(ku, b))
            mask |= 1u << b;
    ASN1_BIT_STRING_free(ku);
    return mask;
}

static void check_basic_constraints(X509 *x, int want_ca, int want_crit)
{
    int crit = -3;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    ck_assert_ptr_nonnull(bc);
    ck_assert_int_eq(crit, want_crit);
    ck_assert_int_eq(bc->ca != 0, want_ca);
    ck_assert_ptr_null(bc->pathlen);
    BASIC_CONSTRAINTS_free(bc);
}

/* SKI = SHA-1 of the subjectPublicKey (RFC 5280 §4.2.1.2 (1)), recomputed here. */
static void check_ski(X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ck_assert_int_eq(X509_pubkey_digest(x, EVP_sha1(), md, &md_len), 1);
    ck_assert_int_eq(md_len, 20);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    ck_assert_ptr_nonnull(ski);
    ck_assert_int_eq(ASN1_STRING_length(ski), 20);
    ck_assert_mem_eq(ASN1_STRING_get0_data(ski), md, 20);
    ck_assert_int_eq(ext_critical(x, NID_subject_key_identifier), 0);
}

static void check_aki(X509 *x, X509 *issuer)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    ck_assert_ptr_nonnull(aki);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(issuer)), 0);
    ck_assert_ptr_null(X509_get0_authority_issuer(x));
    ck_assert_ptr_null(X509_get0_authority_serial(x));
    ck_assert_int_eq(ext_critical(x, NID_authority_key_identifier), 0);
}

static void check_serial_hex(X509 *x, const char *want)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    ck_assert_ptr_nonnull(bn);
    char *hex = BN_bn2hex(bn);
    ck_assert_str_eq(hex, want);
    OPENSSL_free(hex);
    BN_free(bn);
}

static void check_random_serial(X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    ck_assert_ptr_nonnull(bn);
    ck_assert(!BN_is_negative(bn));
    ck_assert_int_eq(BN_num_bytes(bn), JPKI_SERIAL_BYTES);
    ck_assert_int_le(BN_num_bits(bn), JPKI_SERIAL_BYTES * 8 - 1);
    BN_free(bn);
}

static X509 *make_root(time_t now)
{
    struct config_ca cc = sign_ca();
    struct jerr err;
    jerr_clear(&err);
    X509 *root = profile_root(&cc, root_key, now, &err);
    ck_assert_msg(root != NULL, "%s", err.msg);
    return sign_roundtrip(root, root_key, NULL, NULL);
}

/* A request of `ca` for `p` (signing only), valid from `nb` to `na`: the suite's serial, CN
 * "JPKI-0000123456", places, URLs and the CA's policy. */
static struct profile_subscriber request(enum ca_kind ca, const struct person *p, time_t nb,
                                         time_t na)
{
    struct profile_subscriber sub = {
        .ca = ca,
        .serial_hex = SERIAL_HEX,
        .cn = "JPKI-0000123456",
        .person = p,
        .prefecture = PREF_JA,
        .municipality = MUNI_JA,
        .not_before = nb,
        .not_after = na,
        .crl_url = CRL_URL,
        .ocsp_url = OCSP_URL,
        .policy_oid = ca == CA_SIGN ? POLICY_SIGN : POLICY_AUTH,
    };
    return sub;
}

static X509 *make_leaf(X509 *root, enum ca_kind ca, const struct person *p, time_t nb, time_t na,
                       unsigned char **der, int *der_len)
{
    struct profile_subscriber sub = request(ca, p, nb, na);
    struct jerr err;
    jerr_clear(&err);
    X509 *x = profile_subscriber(&sub, root, leaf_key, &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    return sign_roundtrip(x, root_key, der, der_len);
}

/* Asserts that every piece of taro()'s personal data (and the places of make_leaf) is in a
 * certificate's DER (`present`) or that none is. */
static void assert_personal_data(const unsigned char *der, int der_len, bool present)
{
    static const char *const needles[] = {
        NAME_JA,
        "山田",
        ADDRESS_JA,
        "19900102",
        PREF_JA,
        MUNI_JA,
        "\x2a\x83\x08\x8c\x9b\x55\x08\x05\x05", /* DER of the JPKI arc 1.2.392.200149.8.5.5 */
    };
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
        bool found = memmem(der, (size_t)der_len, needles[i], strlen(needles[i])) != NULL;
        ck_assert_msg(found == present, "personal data %zu %s", i, found ? "found" : "missing");
    }
}

static const struct entry sign_ca_name[] = {
    {NID_countryName, "JP", V_ASN1_PRINTABLESTRING},
    {NID_organizationName, "JPKI", V_ASN1_UTF8STRING},
    {NID_organizationalUnitName, "JPKI for digital signature", V_ASN1_UTF8STRING},
    {NID_organizationalUnitName, AGENCY, V_ASN1_UTF8STRING},
};

/* Every test may start from an instant, a sign CA root made then, and taro() (a checked
 * fixture). */
static time_t fx_now;
static X509 *fx_root;
static struct person fx_p;

static void issued_setup(void)
{
    fx_now = jclock_utc(2025, 4, 1, 9, 0, 0);
    fx_root = make_root(fx_now);
    fx_p = taro();
}

static void issued_teardown(void)
{
    X509_free(fx_root);
    fx_root = NULL;
}

START_TEST(root_cert)
{

    ck_assert_int_eq(X509_get_version(fx_root), X509_VERSION_3);
    check_random_serial(fx_root);
    check_name(X509_get_subject_name(fx_root), sign_ca_name, 4);
    check_name(X509_get_issuer_name(fx_root), sign_ca_name, 4);
    check_time(X509_get0_notBefore(fx_root), fx_now - 60);
    check_time(X509_get0_notAfter(fx_root), jclock_utc(2035, 4, 1, 9, 0, 0));
    ck_assert_int_eq(key_usage_bits(fx_root), (1u << 5) | (1u << 6)); /* keyCertSign, cRLSign */
    check_basic_constraints(fx_root, 1, 1);
    check_ski(fx_root);
    check_aki(fx_root, fx_root); /* AKI = own SKI */
    ck_assert_int_eq(X509_get_ext_count(fx_root), 4);
    ck_assert_int_eq(ext_critical(fx_root, NID_ext_key_usage), -1);
    ck_assert_int_eq(ext_critical(fx_root, NID_certificate_policies), -1);
    ck_assert_int_eq(ext_critical(fx_root, NID_subject_alt_name), -1);

    ck_assert_int_eq(X509_verify(fx_root, root_key), 1);
    ck_assert_int_eq(X509_check_issued(fx_root, fx_root), X509_V_OK);
    ck_assert_int_eq(X509_check_ca(fx_root), 1);
    ck_assert_int_eq(X509_get_signature_nid(fx_root), NID_sha256WithRSAEncryption);
}
END_TEST

START_TEST(root_validity_past_2049)
{
    /* RFC 5280 §4.1.2.5: GeneralizedTime from 2050 on. */
    time_t now = jclock_utc(2045, 1, 1, 0, 0, 0);
    X509 *root = make_root(now);
    ck_assert_int_eq(ASN1_STRING_type(X509_get0_notBefore(root)), V_ASN1_UTCTIME);
    ck_assert_int_eq(ASN1_STRING_type(X509_get0_notAfter(root)), V_ASN1_GENERALIZEDTIME);
    check_time(X509_get0_notAfter(root), jclock_utc(2055, 1, 1, 0, 0, 0));
    X509_free(root);
}
END_TEST

START_TEST(ocsp_signer)
{
    struct config_ca cc = sign_ca();
    struct jerr err;
    jerr_clear(&err);
    X509 *x = profile_ocsp_signer(&cc, fx_root, ocsp_key, fx_now, 365, &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    x = sign_roundtrip(x, root_key, NULL, NULL);

    ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
    check_random_serial(x);
    ck_assert_int_ne(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(fx_root)),
                     0);
    struct entry subject[5];
    memcpy(subject, sign_ca_name, sizeof(sign_ca_name));
    subject[4] = (struct entry){NID_commonName, "OCSP Responder", V_ASN1_UTF8STRING};
    check_name(X509_get_subject_name(x), subject, 5);
    check_name(X509_get_issuer_name(x), sign_ca_name, 4);
    check_time(X509_get0_notBefore(x), fx_now - 60);
    check_time(X509_get0_notAfter(x), fx_now + 365 * 86400);
    ck_assert_int_eq(key_usage_bits(x), 1u << 0); /* digitalSignature */
    check_basic_constraints(x, 0, 0);

    int crit = -3;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
    ck_assert_ptr_nonnull(eku);
    ck_assert_int_eq(crit, 0);
    ck_assert_int_eq(sk_ASN1_OBJECT_num(eku), 1);
    ck_assert_int_eq(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_OCSP_sign);
    EXTENDED_KEY_USAGE_free(eku);
    ck_assert_int_ne(X509_get_extended_key_usage(x) & XKU_OCSP_SIGN, 0);

    /* RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck, value NULL (DER 05 00). */
    int i = X509_get_ext_by_NID(x, NID_id_pkix_OCSP_noCheck, -1);
    ck_assert_int_ge(i, 0);
    X509_EXTENSION *ext = X509_get_ext(x, i);
    ck_assert_int_eq(X509_EXTENSION_get_critical(ext), 0);
    const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
    ck_assert_int_eq(ASN1_STRING_length(val), 2);
    ck_assert_mem_eq(ASN1_STRING_get0_data(val), "\x05\x00", 2);

    check_ski(x);
    check_aki(x, fx_root);
    ck_assert_int_eq(X509_get_ext_count(x), 6);
    ck_assert_int_eq(ext_critical(x, NID_crl_distribution_points), -1);

    ck_assert_int_eq(X509_verify(x, root_key), 1);
    ck_assert_int_eq(X509_check_issued(fx_root, x), X509_V_OK);
    ck_assert_int_eq(X509_check_ca(x), 0);
    ck_assert_int_eq(X509_check_purpose(x, X509_PURPOSE_OCSP_HELPER, 0), 1);
    X509_free(x);
}
END_TEST

/* The extensions every subscriber certificate shares: CDP, AIA, policy, AKI, SKI. */
/* Asserts that `gn` is the URI `want`. */
static void assert_uri(const GENERAL_NAME *gn, const char *want)
{
    ck_assert_int_eq(gn->type, GEN_URI);
    ck_assert_int_eq(ASN1_STRING_length(gn->d.uniformResourceIdentifier), strlen(want));
    ck_assert_mem_eq(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), want, strlen(want));
}

static void check_subscriber_common(X509 *x, X509 *root, const char *policy)
{
    int crit = -3;
    CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL);
    ck_assert_ptr_nonnull(cdp);
    ck_assert_int_eq(crit, 0);
    ck_assert_int_eq(sk_DIST_POINT_num(cdp), 1);
    DIST_POINT *dp = sk_DIST_POINT_value(cdp, 0);
    ck_assert_ptr_null(dp->reasons);
    ck_assert_ptr_null(dp->CRLissuer);
    ck_assert_ptr_nonnull(dp->distpoint);
    ck_assert_int_eq(dp->distpoint->type, 0);
    ck_assert_int_eq(sk_GENERAL_NAME_num(dp->distpoint->name.fullname), 1);
    GENERAL_NAME *gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
    assert_uri(gn, CRL_URL);
    CRL_DIST_POINTS_free(cdp);

    AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, &crit, NULL);
    ck_assert_ptr_nonnull(aia);
    ck_assert_int_eq(crit, 0);
    ck_assert_int_eq(sk_ACCESS_DESCRIPTION_num(aia), 1);
    ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
    ck_assert_int_eq(OBJ_obj2nid(ad->method), NID_ad_OCSP);
    assert_uri(ad->location, OCSP_URL);
    AUTHORITY_INFO_ACCESS_free(aia);

    CERTIFICATEPOLICIES *pol = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
    ck_assert_ptr_nonnull(pol);
    ck_assert_int_eq(crit, 0);
    ck_assert_int_eq(sk_POLICYINFO_num(pol), 1);
    char oid[64];
    ck_assert_int_gt(OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(pol, 0)->policyid, 1), 0);
    ck_assert_str_eq(oid, policy);
    ck_assert_ptr_null(sk_POLICYINFO_value(pol, 0)->qualifiers);
    CERTIFICATEPOLICIES_free(pol);

    check_basic_constraints(x, 0, 0);
    check_ski(x);
    check_aki(x, root);
    check_serial_hex(x, SERIAL_HEX);
    ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
    check_name(X509_get_issuer_name(x), sign_ca_name, 4);
    ck_assert_int_eq(ext_critical(x, NID_ext_key_usage), -1);
    ck_assert_int_eq(ext_critical(x, NID_id_pkix_OCSP_noCheck), -1);

    ck_assert_int_eq(X509_verify(x, root_key), 1);
    ck_assert_int_eq(X509_verify(x, leaf_key), 0);
    ERR_clear_error();
    ck_assert_int_eq(X509_check_issued(root, x), X509_V_OK);
    ck_assert_int_eq(X509_check_ca(x), 0);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    ck_assert_int_eq(EVP_PKEY_eq(pub, leaf_key), 1);
}

/* The otherName values of the SAN in order, with their string types. */
static void check_san_raw(X509 *x, const char *const *oids, const char *const *values,
                          const int *types, int n)
{
    int crit = -3;
    GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    ck_assert_ptr_nonnull(san);
    ck_assert_int_eq(crit, 0);
    ck_assert_int_eq(sk_GENERAL_NAME_num(san), n);
    for (int i = 0; i < n; i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);
        ck_assert_int_eq(gn->type, GEN_OTHERNAME);
        char oid[64];
        ck_assert_int_gt(OBJ_obj2txt(oid, sizeof(oid), gn->d.otherName->type_id, 1), 0);
        ck_assert_str_eq(oid, oids[i]);
        ASN1_TYPE *v = gn->d.otherName->value;
        ck_assert_int_eq(v->type, types[i]);
        ck_assert_int_eq(ASN1_STRING_length(v->value.asn1_string), (int)strlen(values[i]));
        ck_assert_mem_eq(ASN1_STRING_get0_data(v->value.asn1_string), values[i], strlen(values[i]));
    }
    GENERAL_NAMES_free(san);
}

START_TEST(signing_cert)
{
    time_t nb = fx_now - 60, na = validity_card_end("2030-01-02");
    X509 *x = make_leaf(fx_root, CA_SIGN, &fx_p, nb, na, NULL, NULL);

    static const struct entry subject[] = {
        {NID_countryName, "JP", V_ASN1_PRINTABLESTRING},
        {NID_localityName, PREF_JA, V_ASN1_UTF8STRING},
        {NID_localityName, MUNI_JA, V_ASN1_UTF8STRING},
        {NID_commonName, "JPKI-0000123456", V_ASN1_UTF8STRING},
    };
    check_name(X509_get_subject_name(x), subject, 4);
    check_time(X509_get0_notBefore(x), nb);
    check_time(X509_get0_notAfter(x), jclock_utc(2030, 1, 2, 14, 59, 59));
    ck_assert_int_eq(key_usage_bits(x), (1u << 0) | (1u << 1)); /* digSig, nonRepudiation */
    check_subscriber_common(x, fx_root, POLICY_SIGN);

    static const char *const oids[] = {PROFILE_OID_NAME, PROFILE_OID_GENDER, PROFILE_OID_BIRTH_DATE,
                                       PROFILE_OID_ADDRESS};
    static const char *const values[] = {NAME_JA, "1", "419900102", ADDRESS_JA};
    static const int types[] = {V_ASN1_UTF8STRING, V_ASN1_PRINTABLESTRING, V_ASN1_PRINTABLESTRING,
                                V_ASN1_UTF8STRING};
    check_san_raw(x, oids, values, types, 4);

    struct profile_facts facts;
    struct jerr err;
    jerr_clear(&err);
    ck_assert_int_eq(profile_read_facts(x, &facts, &err), 0);
    ck_assert_str_eq(facts.name, NAME_JA);
    ck_assert_str_eq(facts.address, ADDRESS_JA);
    ck_assert_str_eq(facts.birth_date, "419900102");
    ck_assert_str_eq(facts.gender, "1");
    ck_assert_int_eq(X509_get_ext_count(x), 8);
    X509_free(x);

    /* Other facts, other codes; and no L= when the window is not known. */
    fx_p.gender = GENDER_UNSTATED;
    strcpy(fx_p.birth_date, "1926-12-25");
    struct profile_subscriber sub = request(CA_SIGN, &fx_p, nb, na);
    sub.serial_hex = "1";
    sub.cn = "X";
    sub.prefecture = NULL;
    sub.municipality = "";
    x = profile_subscriber(&sub, fx_root, leaf_key, &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    x = sign_roundtrip(x, root_key, NULL, NULL);
    static const struct entry bare[] = {
        {NID_countryName, "JP", V_ASN1_PRINTABLESTRING},
        {NID_commonName, "X", V_ASN1_UTF8STRING},
    };
    check_name(X509_get_subject_name(x), bare, 2);
    check_serial_hex(x, "01");
    ck_assert_int_eq(profile_read_facts(x, &facts, &err), 0);
    ck_assert_str_eq(facts.birth_date, "319261225");
    ck_assert_str_eq(facts.gender, "3");
    X509_free(x);
}
END_TEST

/* key_encoding_only (the issuance's path, without OpenSSL's encoder/decoder round trip)
 * writes the very certificate X509_set_pubkey does: same DER, byte for byte (RSA PKCS#1 v1.5
 * signatures are deterministic), and the key decoded from it is the subscriber's. A key that
 * is not RSA still goes through X509_set_pubkey. */
START_TEST(key_encoding_only_same_der)
{
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        unsigned char *der[2] = {NULL, NULL};
        int len[2] = {0, 0};
        for (int fast = 0; fast < 2; fast++) {
            struct profile_subscriber sub = {
                .ca = (enum ca_kind)ca,
                .serial_hex = SERIAL_HEX,
                .cn = "JPKI-0000123456",
                .person = &fx_p,
                .not_before = fx_now,
                .not_after = fx_now + 86400,
                .crl_url = CRL_URL,
                .ocsp_url = OCSP_URL,
                .policy_oid = ca == CA_SIGN ? POLICY_SIGN : POLICY_AUTH,
                .key_encoding_only = fast == 1,
            };
            struct jerr err;
            jerr_clear(&err);
            X509 *x = profile_subscriber(&sub, fx_root, leaf_key, &err);
            ck_assert_msg(x != NULL, "%s", err.msg);
            X509_free(sign_roundtrip(x, root_key, &der[fast], &len[fast]));
        }
        ck_assert_int_eq(len[0], len[1]);
        ck_assert_mem_eq(der[0], der[1], (size_t)len[0]);
        const unsigned char *q = der[1];
        X509 *back = d2i_X509(NULL, &q, len[1]);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(back), leaf_key), 1);
        X509_free(back);
        OPENSSL_free(der[0]);
        OPENSSL_free(der[1]);
    }
    /* Not RSA: the general path. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(ec);
    struct profile_subscriber sub = {
        .ca = CA_AUTH,
        .serial_hex = SERIAL_HEX,
        .cn = "JPKI-0000123456",
        .not_before = fx_now,
        .not_after = fx_now + 86400,
        .crl_url = CRL_URL,
        .ocsp_url = OCSP_URL,
        .policy_oid = POLICY_AUTH,
        .key_encoding_only = true,
    };
    struct jerr err;
    jerr_clear(&err);
    X509 *x = profile_subscriber(&sub, fx_root, ec, &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(x), ec), 1);
    X509_free(x);
    EVP_PKEY_free(ec);
}
END_TEST

START_TEST(auth_cert)
{
    unsigned char *der = NULL;
    int der_len = 0;
    /* Past 2049: GeneralizedTime in a subscriber certificate too. */
    time_t nb = fx_now - 60, na = jclock_utc(2051, 3, 31, 14, 59, 59);
    X509 *x = make_leaf(fx_root, CA_AUTH, &fx_p, nb, na, &der, &der_len);

    static const struct entry subject[] = {
        {NID_countryName, "JP", V_ASN1_PRINTABLESTRING},
        {NID_commonName, "JPKI-0000123456", V_ASN1_UTF8STRING},
    };
    check_name(X509_get_subject_name(x), subject, 2);
    check_time(X509_get0_notBefore(x), nb);
    check_time(X509_get0_notAfter(x), na);
    ck_assert_int_eq(ASN1_STRING_type(X509_get0_notAfter(x)), V_ASN1_GENERALIZEDTIME);
    ck_assert_int_eq(key_usage_bits(x), 1u << 0); /* digitalSignature only */
    check_subscriber_common(x, fx_root, POLICY_AUTH);
    ck_assert_int_eq(X509_get_ext_count(x), 7);

    /* DESIGN §3: no personal data anywhere in an authentication certificate. */
    ck_assert_int_eq(ext_critical(x, NID_subject_alt_name), -1);
    assert_personal_data(der, der_len, false);
    struct profile_facts facts;
    memset(&facts, 'x', sizeof(facts));
    struct jerr err;
    jerr_clear(&err);
    ck_assert_int_eq(profile_read_facts(x, &facts, &err), 0);
    ck_assert_str_eq(facts.name, "");
    ck_assert_str_eq(facts.address, "");
    ck_assert_str_eq(facts.birth_date, "");
    ck_assert_str_eq(facts.gender, "");
    OPENSSL_free(der);
    X509_free(x);
}
END_TEST

START_TEST(signing_cert_has_personal_data)
{
    /* The counterpart of the search above: the same search finds the facts in the signing
     * certificate, so the auth test would catch a leak. */
    unsigned char *der = NULL;
    int der_len = 0;
    X509 *x = make_leaf(fx_root, CA_SIGN, &fx_p, fx_now - 60, fx_now + 86400, &der, &der_len);
    assert_personal_data(der, der_len, true);
    OPENSSL_free(der);
    X509_free(x);
}
END_TEST

START_TEST(random_serial)
{
    unsigned char bytes[JPKI_SERIAL_BYTES], prev[JPKI_SERIAL_BYTES];
    char hex[JPKI_SERIAL_BYTES * 2 + 1];
    struct jerr err;
    memset(prev, 0, sizeof(prev));
    for (int i = 0; i < 200; i++) {
        jerr_clear(&err);
        ck_assert_int_eq(profile_random_serial(bytes, hex, &err), 0);
        ck_assert_int_ge(bytes[0], 0x01);
        ck_assert_int_le(bytes[0], 0x7f);
        ck_assert_uint_eq(strlen(hex), 32);
        ck_assert_uint_eq(strspn(hex, "0123456789ABCDEF"), 32);
        ck_assert(hex[0] == '0' || (hex[0] >= '1' && hex[0] <= '7'));
        ck_assert(!(hex[0] == '0' && hex[1] == '0'));
        BIGNUM *bn = NULL;
        ck_assert_int_eq(BN_hex2bn(&bn, hex), 32);
        unsigned char back[JPKI_SERIAL_BYTES];
        ck_assert_int_eq(BN_bn2binpad(bn, back, sizeof(back)), JPKI_SERIAL_BYTES);
        ck_assert_mem_eq(back, bytes, sizeof(bytes));
        BN_free(bn);
        ck_assert(memcmp(bytes, prev, sizeof(bytes)) != 0);
        memcpy(prev, bytes, sizeof(bytes));
    }
}
END_TEST

static void name_refused(const char *subject)
{
    struct jerr err;
    jerr_clear(&err);
    X509_NAME *n = profile_parse_name(subject, &err);
    ck_assert_msg(n == NULL, "accepted: %s", subject != NULL ? subject : "(null)");
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "subject");
}

START_TEST(parse_name)
{
    struct jerr err;
    jerr_clear(&err);
    X509_NAME *n = profile_parse_name(SIGN_SUBJECT, &err);
    ck_assert_ptr_nonnull(n);
    check_name(n, sign_ca_name, 4);
    X509_NAME_free(n);

    /* Escapes, blanks around the separators, Japanese values, case-insensitive types. */
    n = profile_parse_name("c=JP,o=A\\, B ,  OU=日本\\+語 , L=x\\\\y, ST=a\\ , CN=z", &err);
    ck_assert_msg(n != NULL, "%s", err.msg);
    static const struct entry want[] = {
        {NID_countryName, "JP", V_ASN1_PRINTABLESTRING},
        {NID_organizationName, "A, B", V_ASN1_UTF8STRING},
        {NID_organizationalUnitName, "日本+語", V_ASN1_UTF8STRING},
        {NID_localityName, "x\\y", V_ASN1_UTF8STRING},
        {NID_stateOrProvinceName, "a ", V_ASN1_UTF8STRING},
        {NID_commonName, "z", V_ASN1_UTF8STRING},
    };
    check_name(n, want, 6);
    X509_NAME_free(n);

    static const char *const bad[] = {
        "",
        "C=JP, X=1",       /* unknown type */
        "C=JP, SN=Yamada", /* not in the allowed set */
        "C=JP, 2.5.4.3=x", /* dotted types not accepted */
        "C=JPN",           /* not two letters */
        "C=jp",            /* not upper case */
        "C=J1",
        "C=JP,, O=x",       /* empty RDN */
        "C=JP, O=",         /* empty value */
        "C=JP, O=   ",      /* blank value */
        "C=JP, O",          /* no = */
        "=JP",              /* no type */
        "C=JP, O=a+OU=b",   /* multi-valued RDN */
        "C=JP, O=a\\q",     /* bad escape */
        "C=JP, O=a\\",      /* trailing backslash */
        "C=JP, O=a\x01",    /* control character */
        "C=JP, O=\xC0\x80", /* overlong UTF-8 */
        "C=JP, O=x,",       /* trailing separator */
        "C=JP, CN=0123456789012345678901234567890123456789012345678901234567890123456789",
        /* 70 > X.520 ub-common-name 64 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        name_refused(bad[i]);
    name_refused(NULL);
}
END_TEST

static void root_refused(struct config_ca cc, const char *field)
{
    struct jerr err;
    jerr_clear(&err);
    X509 *x = profile_root(&cc, root_key, jclock_utc(2025, 1, 1, 0, 0, 0), &err);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, field);
}

START_TEST(root_refusals)
{
    struct config_ca cc = sign_ca();
    cc.subject = "C=JP, Q=1";
    root_refused(cc, "subject");
    cc = sign_ca();
    cc.root_validity_years = 0;
    root_refused(cc, "root_validity_years");

    cc = sign_ca();
    struct jerr err;
    jerr_clear(&err);
    X509 *root = make_root(jclock_utc(2025, 1, 1, 0, 0, 0));
    ck_assert_ptr_null(profile_ocsp_signer(&cc, root, ocsp_key, 0, 0, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "ocsp_signer_validity_days");
    X509_free(root);
}
END_TEST

/* A subscriber request that profile_subscriber accepts; tests spoil one field at a time. */
static struct person subscriber_person;

static struct profile_subscriber good_request(void)
{
    subscriber_person = taro();
    struct profile_subscriber sub =
        request(CA_SIGN, &subscriber_person, jclock_utc(2025, 1, 1, 0, 0, 0),
                jclock_utc(2030, 1, 1, 0, 0, 0));
    sub.cn = "JPKI-1";
    return sub;
}

static void subscriber_refused(X509 *root, const struct profile_subscriber *sub, int code,
                               const char *field)
{
    struct jerr err;
    jerr_clear(&err);
    X509 *x = profile_subscriber(sub, root, leaf_key, &err);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
}

/* A good request with one text member set to `value`: refused (JERR_INVALID), naming `field`. */
#define AT(member) offsetof(struct profile_subscriber, member)
static const struct {
    size_t member;
    const char *value, *field;
} bad_texts[] = {
    {AT(serial_hex), "", "serial"},
    {AT(serial_hex), "7f01", "serial"},
    {AT(serial_hex), "007F", "serial"},
    {AT(serial_hex), "-1", "serial"},
    {AT(serial_hex), "0", "serial"},
    {AT(serial_hex), "00", "serial"},
    {AT(serial_hex), "12 34", "serial"},
    {AT(serial_hex), "0x12", "serial"},
    {AT(serial_hex), "80000000000000000000000000000000000000000", "serial"}, /* 41 digits */
    /* 40 digits, 21 octets in DER */
    {AT(serial_hex), "8000000000000000000000000000000000000000", "serial"},
    {AT(serial_hex), NULL, "serial"},
    {AT(cn), "has space", "cn"},
    {AT(cn), NULL, "cn"},
    {AT(crl_url), "http://x/a b.crl", "crl_url"},
    {AT(crl_url), "http://x/\xE6\x97\xA5.crl", "crl_url"},
    {AT(ocsp_url), "", "ocsp_url"},
    {AT(ocsp_url), NULL, "ocsp_url"},
    {AT(policy_oid), "not.an.oid", "policy_oid"},
    {AT(policy_oid), "commonName", "policy_oid"}, /* a name, not a dotted OID */
    {AT(prefecture), "東京\n", "prefecture"},
    {AT(municipality), "\xED\xA0\x80", "municipality"},
};

START_TEST(subscriber_refusals)
{
    X509 *root = make_root(jclock_utc(2024, 1, 1, 0, 0, 0));
    struct profile_subscriber sub = good_request();
    struct jerr err;
    jerr_clear(&err);
    X509 *ok = profile_subscriber(&sub, root, leaf_key, &err);
    ck_assert_msg(ok != NULL, "%s", err.msg);
    X509_free(ok);

    for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
        sub = good_request();
        *(const char **)((char *)&sub + bad_texts[i].member) = bad_texts[i].value;
        subscriber_refused(root, &sub, JERR_INVALID, bad_texts[i].field);
    }
    sub = good_request();
    sub.serial_hex = "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"; /* 20 octets: the largest */
    jerr_clear(&err);
    ok = profile_subscriber(&sub, root, leaf_key, &err);
    ck_assert_msg(ok != NULL, "%s", err.msg);
    X509_free(ok);

    sub = good_request();
    sub.not_after = sub.not_before;
    subscriber_refused(root, &sub, JERR_INVALID, "not_after");
    sub = good_request();
    sub.ca = (enum ca_kind)5;
    subscriber_refused(root, &sub, JERR_INVALID, "ca");

    /* The signing certificate's facts. */
    sub = good_request();
    sub.person = NULL;
    subscriber_refused(root, &sub, JERR_INTERNAL, "person");
    sub = good_request();
    subscriber_person.gender = (enum gender)0;
    subscriber_refused(root, &sub, JERR_INVALID, "gender");
    sub = good_request();
    strcpy(subscriber_person.birth_date, "1868-01-24");
    subscriber_refused(root, &sub, JERR_INVALID, "birth_date");
    sub = good_request();
    strcpy(subscriber_person.name, "\xF4\x90\x80\x80");
    subscriber_refused(root, &sub, JERR_INVALID, "name");
    sub = good_request();
    subscriber_person.address[0] = '\0';
    subscriber_refused(root, &sub, JERR_INVALID, "address");

    /* An authentication certificate ignores the person and the places entirely. */
    sub = good_request();
    sub.ca = CA_AUTH;
    sub.person = NULL;
    sub.prefecture = "東京\n";
    jerr_clear(&err);
    ok = profile_subscriber(&sub, root, leaf_key, &err);
    ck_assert_msg(ok != NULL, "%s", err.msg);
    X509_free(ok);

    /* An issuer without SKI cannot be named by keyid. */
    X509 *bare = X509_new();
    ck_assert_ptr_nonnull(bare);
    ck_assert_int_eq(X509_set_subject_name(bare, X509_get_subject_name(root)), 1);
    ck_assert_int_eq(X509_set_pubkey(bare, root_key), 1);
    ck_assert_int_gt(X509_sign(bare, root_key, EVP_sha256()), 0);
    sub = good_request();
    subscriber_refused(bare, &sub, JERR_INVALID, "issuer");
    X509_free(bare);
    X509_free(root);
}
END_TEST

START_TEST(read_facts_refusals)
{
    /* A SAN whose name value is neither UTF8String nor PrintableString, and one with the name
     * twice, are refused; OIDs that are not JPKI's are skipped. Built with OpenSSL's own
     * structures. */
    X509 *root = make_root(jclock_utc(2024, 1, 1, 0, 0, 0));
    struct jerr err;
    for (int variant = 0; variant < 3; variant++) {
        X509 *x = X509_new();
        GENERAL_NAMES *san = GENERAL_NAMES_new();
        ck_assert_ptr_nonnull(x);
        ck_assert_ptr_nonnull(san);
        for (int k = 0; k < (variant == 1 ? 2 : 1); k++) {
            GENERAL_NAME *gn = GENERAL_NAME_new();
            ASN1_TYPE *val = ASN1_TYPE_new();
            int type = variant == 0 ? V_ASN1_BMPSTRING : V_ASN1_UTF8STRING;
            ASN1_STRING *s = ASN1_STRING_type_new(type);
            ck_assert_int_eq(ASN1_STRING_set(s, "ab", 2), 1);
            ASN1_TYPE_set(val, type, s);
            ASN1_OBJECT *oid = OBJ_txt2obj(variant == 2 ? "1.2.3.4" : PROFILE_OID_NAME, 1);
            ck_assert_int_eq(GENERAL_NAME_set0_othername(gn, oid, val), 1);
            ck_assert_int_gt(sk_GENERAL_NAME_push(san, gn), 0);
        }
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, 0), 1);
        GENERAL_NAMES_free(san);
        struct profile_facts facts;
        memset(&facts, 'q', sizeof(facts));
        jerr_clear(&err);
        if (variant == 2) {
            ck_assert_int_eq(profile_read_facts(x, &facts, &err), 0);
            ck_assert_str_eq(facts.name, "");
        } else {
            ck_assert_int_eq(profile_read_facts(x, &facts, &err), -1);
            ck_assert_int_eq(err.code, JERR_INVALID);
            ck_assert_str_eq(err.field, "san");
            ck_assert_int_eq(facts.name[0], 'q'); /* untouched on failure */
        }
        X509_free(x);
    }
    /* A root has no SAN: no facts, no error. */
    struct profile_facts facts;
    jerr_clear(&err);
    ck_assert_int_eq(profile_read_facts(root, &facts, &err), 0);
    ck_assert_str_eq(facts.name, "");
    X509_free(root);
}
END_TEST

static Suite *profile_suite(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("profile");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_checked_fixture(tc, issued_setup, issued_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, root_cert);
    tcase_add_test(tc, root_validity_past_2049);
    tcase_add_test(tc, ocsp_signer);
    tcase_add_test(tc, signing_cert);
    tcase_add_test(tc, auth_cert);
    tcase_add_test(tc, key_encoding_only_same_der);
    tcase_add_test(tc, signing_cert_has_personal_data);
    tcase_add_test(tc, random_serial);
    tcase_add_test(tc, parse_name);
    tcase_add_test(tc, root_refusals);
    tcase_add_test(tc, subscriber_refusals);
    tcase_add_test(tc, read_facts_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(profile_suite());
}
