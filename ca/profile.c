/*
 * profile: builds the five certificate types of DESIGN §3 (docs/PROFILES.md), unsigned.
 *
 * Every extension is built as OpenSSL's own structure (BASIC_CONSTRAINTS, DIST_POINT,
 * ACCESS_DESCRIPTION, OTHERNAME, ...) and encoded by X509_add1_ext_i2d: no DER is written by
 * hand, and no value reaches OpenSSL's configuration-string parser (X509V3_EXT_conf), where a
 * comma in a URL or a name would change the meaning. The only outside state is the CSPRNG
 * (serial numbers). The certificates come back unsigned: the caller signs them with the
 * right signer before encoding them.
 */
#include "ca/profile.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/validity.h"

/* Caps on values that come from the configuration. */
#define PROFILE_SUBJECT_MAX 1024  /* bytes of a configured subject string */
#define PROFILE_RDN_VALUE_MAX 256 /* bytes of one RDN value (X.520 bounds are tighter) */
#define PROFILE_URL_MAX 2048
#define PROFILE_MAX_YEARS 100
#define PROFILE_MAX_DAYS 3650

/* RFC 5280 §4.2.1.3 KeyUsage bit numbers. */
enum {
    PROFILE_KU_DIGITAL_SIGNATURE = 0,
    PROFILE_KU_NON_REPUDIATION = 1,
    PROFILE_KU_KEY_CERT_SIGN = 5,
    PROFILE_KU_CRL_SIGN = 6,
};

/* The CN appended to the issuer's subject to name its delegated OCSP signer. */
#define PROFILE_OCSP_CN "OCSP Responder"

/* Attribute types a configured subject may use (RFC 4514 §3 short names). */
static const struct {
    const char *key;
    int nid;
} profile_name_types[] = {
    {"C", NID_countryName},      {"ST", NID_stateOrProvinceName},    {"L", NID_localityName},
    {"O", NID_organizationName}, {"OU", NID_organizationalUnitName}, {"CN", NID_commonName},
};

int profile_random_serial(unsigned char out[JPKI_SERIAL_BYTES], char hex[JPKI_SERIAL_BYTES * 2 + 1],
                          struct jerr *err)
{
    unsigned char serial[JPKI_SERIAL_BYTES];

    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a serial number");
    /* RFC 5280 §4.1.2.2: a positive integer. A first byte of 0x01..0x7f keeps it positive
     * without a leading 00 octet and of full length (no leading zero byte to strip), so the
     * hex form is always 32 digits. */
    serial[0] &= 0x7f;
    while (serial[0] == 0) {
        if (RAND_bytes(serial, 1) != 1)
            return jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a serial number");
        serial[0] &= 0x7f;
    }
    memcpy(out, serial, sizeof(serial));
    /* upper-case digits; a NUL separator is none */
    if (OPENSSL_buf2hexstr_ex(hex, 2 * JPKI_SERIAL_BYTES + 1, NULL, serial, sizeof(serial),
                              '\0') != 1)
        return jerr_openssl(err, JERR_INTERNAL, NULL, "cannot write a serial number");
    OPENSSL_cleanse(serial, sizeof(serial));
    return 0;
}

/* Serial number from its registry form: upper-case hex, no leading 00, positive, at most 20
 * octets once DER-encoded (RFC 5280 §4.1.2.2). */
static ASN1_INTEGER *profile_serial_from_hex(const char *serial_hex, struct jerr *err)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    size_t len = serial_hex != NULL ? strnlen(serial_hex, JPKI_SERIAL_HEX_MAX + 1) : 0;

    if (len == 0 || len > JPKI_SERIAL_HEX_MAX || strspn(serial_hex, "0123456789ABCDEF") != len ||
        (len >= 2 && serial_hex[0] == '0' && serial_hex[1] == '0') ||
        (len == JPKI_SERIAL_HEX_MAX && serial_hex[0] >= '8')) {
        jerr_set(err, JERR_INVALID, "serial",
                 "serial must be 1..%d upper-case hex digits without a leading 00, below 2^159",
                 JPKI_SERIAL_HEX_MAX);
        goto out;
    }
    if (BN_hex2bn(&bn, serial_hex) != (int)len) {
        jerr_openssl(err, JERR_INVALID, "serial", "serial is not hex");
        goto out;
    }
    if (BN_is_zero(bn)) {
        jerr_set(err, JERR_INVALID, "serial", "serial must be positive");
        goto out;
    }
    if ((serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
        jerr_openssl(err, JERR_CRYPTO, "serial", "cannot encode the serial");
out:
    BN_free(bn);
    return serial;
}

static int profile_name_nid(const char *type, size_t len)
{
    for (size_t i = 0; i < sizeof(profile_name_types) / sizeof(profile_name_types[0]); i++)
        if (strlen(profile_name_types[i].key) == len &&
            strncasecmp(type, profile_name_types[i].key, len) == 0)
            return profile_name_types[i].nid;
    return NID_undef;
}

X509_NAME *profile_parse_name(const char *subject, struct jerr *err)
{
    X509_NAME *name = NULL, *ret = NULL;
    char *value = NULL;
    char shown[64];
    size_t len = subject != NULL ? strnlen(subject, PROFILE_SUBJECT_MAX + 1) : 0;

    if (len == 0) {
        jerr_set(err, JERR_INVALID, "subject", "subject must not be empty");
        goto out;
    }
    if (len > PROFILE_SUBJECT_MAX) {
        jerr_set(err, JERR_INVALID, "subject", "subject longer than %d bytes", PROFILE_SUBJECT_MAX);
        goto out;
    }
    if ((value = malloc(len + 1)) == NULL || (name = X509_NAME_new()) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, "subject", "out of memory");
        goto out;
    }

    const char *p = subject;
    for (int rdn = 1;; rdn++) {
        while (*p == ' ')
            p++;
        const char *type = p;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
            p++;
        size_t type_len = (size_t)(p - type);
        while (*p == ' ')
            p++;
        if (type_len == 0 || *p != '=') {
            jerr_set(err, JERR_INVALID, "subject", "subject RDN %d: expected TYPE=value", rdn);
            goto out;
        }
        p++;
        int nid = profile_name_nid(type, type_len);
        if (nid == NID_undef) {
            jerr_escape(shown, sizeof(shown), type, type_len);
            jerr_set(err, JERR_INVALID, "subject",
                     "subject RDN %d: unknown attribute type \"%s\" (C, ST, L, O, OU, CN)", rdn,
                     shown);
            goto out;
        }
        while (*p == ' ')
            p++;
        /* The value runs to the next unescaped comma; trailing blanks are dropped unless
         * escaped (RFC 4514 §2.4 style, reduced to what a configured subject needs). */
        size_t vlen = 0, kept = 0;
        while (*p != '\0' && *p != ',') {
            char c = *p++;
            if (c == '\\') {
                if (*p == '\0' || strchr(",\\+=;\"<># ", *p) == NULL) {
                    jerr_set(err, JERR_INVALID, "subject",
                             "subject RDN %d: a backslash must escape one of , \\ + = ; \" < > "
                             "# or a space",
                             rdn);
                    goto out;
                }
                value[vlen++] = *p++;
                kept = vlen;
            } else if (c == '+') {
                jerr_set(err, JERR_INVALID, "subject",
                         "subject RDN %d: multi-valued RDNs are not supported (write \\+ for a "
                         "plus sign)",
                         rdn);
                goto out;
            } else {
                value[vlen++] = c;
                if (c != ' ')
                    kept = vlen;
            }
        }
        value[kept] = '\0';
        if (kept == 0) {
            jerr_set(err, JERR_INVALID, "subject", "subject RDN %d: empty value", rdn);
            goto out;
        }
        if (model_check_text("subject", value, PROFILE_RDN_VALUE_MAX, err) == -1)
            goto out;
        /* RFC 5280 §4.1.2.4 / X.520: countryName is a two-letter ISO 3166 code. */
        if (nid == NID_countryName &&
            (kept != 2 || value[0] < 'A' || value[0] > 'Z' || value[1] < 'A' || value[1] > 'Z')) {
            jerr_escape(shown, sizeof(shown), value, kept);
            jerr_set(err, JERR_INVALID, "subject",
                     "subject RDN %d: C=\"%s\" is not a two-letter country code", rdn, shown);
            goto out;
        }
        /* MBSTRING_UTF8: OpenSSL picks PrintableString for C and UTF8String for the rest
         * (RFC 5280 §4.1.2.4), and enforces the X.520 upper bounds. */
        if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (unsigned char *)value, -1, -1,
                                       0) != 1) {
            jerr_openssl(err, JERR_INVALID, "subject", "subject RDN %d: value not accepted", rdn);
            goto out;
        }
        if (*p == '\0')
            break;
        p++; /* the comma */
    }
    ret = name;
    name = NULL;
out:
    X509_NAME_free(name);
    free(value);
    return ret;
}

static int profile_add_ext(X509 *x, int nid, void *value, int critical, struct jerr *err)
{
    if (X509_add1_ext_i2d(x, nid, value, critical, X509V3_ADD_DEFAULT) != 1)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "cannot add the %s extension", OBJ_nid2ln(nid));
    return 0;
}

/* RFC 5280 §4.2.1.3: keyUsage, always critical in these profiles. */
static int profile_add_key_usage(X509 *x, const int *bits, size_t n, struct jerr *err)
{
    int rc = -1;
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    if (ku == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (ASN1_BIT_STRING_set_bit(ku, bits[i], 1) != 1) {
            jerr_openssl(err, JERR_INTERNAL, NULL, "cannot set a keyUsage bit");
            goto out;
        }
    }
    rc = profile_add_ext(x, NID_key_usage, ku, 1, err);
out:
    ASN1_BIT_STRING_free(ku);
    return rc;
}

/* RFC 5280 §4.2.1.9: basicConstraints. cA FALSE is the DEFAULT, so an end entity's value
 * encodes as an empty SEQUENCE. */
static int profile_add_basic_constraints(X509 *x, bool is_ca, int critical, struct jerr *err)
{
    int rc = -1;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    if (bc == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    bc->ca = is_ca ? 0xff : 0;
    rc = profile_add_ext(x, NID_basic_constraints, bc, critical, err);
out:
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

/* RFC 5280 §4.2.1.2 method (1): the SHA-1 of the subjectPublicKey BIT STRING. Added as the
 * SKI; *out (if not NULL) receives a copy the caller frees. */
static int profile_add_ski(X509 *x, ASN1_OCTET_STRING **out, struct jerr *err)
{
    int rc = -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();

    if (ski == NULL || X509_pubkey_digest(x, EVP_sha1(), md, &md_len) != 1 ||
        ASN1_OCTET_STRING_set(ski, md, (int)md_len) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot compute the subject key identifier");
        goto out;
    }
    if (profile_add_ext(x, NID_subject_key_identifier, ski, 0, err) == -1)
        goto out;
    if (out != NULL) {
        *out = ski;
        ski = NULL;
    }
    rc = 0;
out:
    ASN1_OCTET_STRING_free(ski);
    return rc;
}

/* RFC 5280 §4.2.1.1: authorityKeyIdentifier keyIdentifier = the issuer's SKI. */
static int profile_add_aki(X509 *x, const ASN1_OCTET_STRING *issuer_ski, struct jerr *err)
{
    int rc = -1;
    AUTHORITY_KEYID *akid = NULL;

    if (issuer_ski == NULL) {
        jerr_set(err, JERR_INVALID, "issuer", "the issuer has no subject key identifier");
        goto out;
    }
    if ((akid = AUTHORITY_KEYID_new()) == NULL ||
        (akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski)) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    rc = profile_add_ext(x, NID_authority_key_identifier, akid, 0, err);
out:
    AUTHORITY_KEYID_free(akid);
    return rc;
}

/* The certificate's own SKI and an AKI naming its issuer's key (RFC 5280 §4.2.1.2, §4.2.1.1):
 * the SKI of `issuer`, or for a self-signed root (`issuer` NULL) its own. §4.2.1.1 allows a
 * root to leave the AKI out; it is kept (= SKI) so that every jpki certificate names its
 * issuer's key the same way. */
static int profile_add_key_ids(X509 *x, X509 *issuer, struct jerr *err)
{
    ASN1_OCTET_STRING *own_ski = NULL;
    int rc = profile_add_ski(x, issuer == NULL ? &own_ski : NULL, err);

    if (rc == 0)
        rc = profile_add_aki(x, issuer == NULL ? own_ski : X509_get0_subject_key_id(issuer), err);
    ASN1_OCTET_STRING_free(own_ski);
    return rc;
}

/* A URI GeneralName (IA5String, RFC 5280 §4.2.1.6): printable ASCII without blanks. */
static GENERAL_NAME *profile_uri(const char *url, const char *field, struct jerr *err)
{
    GENERAL_NAME *gn = NULL, *ret = NULL;
    ASN1_IA5STRING *ia5 = NULL;
    size_t len = url != NULL ? strnlen(url, PROFILE_URL_MAX + 1) : 0;

    if (len == 0 || len > PROFILE_URL_MAX) {
        jerr_set(err, JERR_INVALID, field, "%s: must be 1..%d bytes", field, PROFILE_URL_MAX);
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        if (url[i] <= 0x20 || url[i] >= 0x7f) {
            jerr_set(err, JERR_INVALID, field,
                     "%s: a URI is printable ASCII without blanks (byte %zu)", field, i + 1);
            goto out;
        }
    }
    if ((ia5 = ASN1_IA5STRING_new()) == NULL || ASN1_STRING_set(ia5, url, (int)len) != 1 ||
        (gn = GENERAL_NAME_new()) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, field, "out of memory");
        goto out;
    }
    GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
    ia5 = NULL;
    ret = gn;
    gn = NULL;
out:
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    return ret;
}

/* Adds the extension `nid` (not critical) whose value is a SEQUENCE OF holding the one entry
 * `entry`: the shape of the CRL distribution points, the authority information access and the
 * certificate policies, of which these profiles use one each. The caller keeps `entry`. */
static int profile_add_list_of_one(X509 *x, int nid, void *entry, struct jerr *err)
{
    int rc;
    /* Every STACK_OF(T) is an OPENSSL_STACK; the extension's i2d walks it as its own type. */
    OPENSSL_STACK *list = OPENSSL_sk_new_null();

    if (list == NULL || OPENSSL_sk_push(list, entry) <= 0)
        rc = jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
    else
        rc = profile_add_ext(x, nid, list, 0, err);
    OPENSSL_sk_free(list); /* the entry is not freed with it */
    return rc;
}

/* RFC 5280 §4.2.1.13: one DistributionPoint whose fullName is the CRL partition's URI. */
static int profile_add_cdp(X509 *x, const char *crl_url, struct jerr *err)
{
    int rc = -1;
    DIST_POINT *dp = NULL;
    GENERAL_NAME *gn = NULL;

    if ((gn = profile_uri(crl_url, "crl_url", err)) == NULL)
        goto out;
    if ((dp = DIST_POINT_new()) == NULL || (dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
        (dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL ||
        sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn) <= 0) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    gn = NULL;
    dp->distpoint->type = 0; /* fullName */
    rc = profile_add_list_of_one(x, NID_crl_distribution_points, dp, err);
out:
    GENERAL_NAME_free(gn);
    DIST_POINT_free(dp);
    return rc;
}

/* RFC 5280 §4.2.2.1: authorityInfoAccess with one id-ad-ocsp access description. */
static int profile_add_aia(X509 *x, const char *ocsp_url, struct jerr *err)
{
    int rc = -1;
    ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();

    if (ad == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    ASN1_OBJECT_free(ad->method);
    ad->method = OBJ_nid2obj(NID_ad_OCSP);
    GENERAL_NAME_free(ad->location);
    if ((ad->location = profile_uri(ocsp_url, "ocsp_url", err)) == NULL)
        goto out;
    rc = profile_add_list_of_one(x, NID_info_access, ad, err);
out:
    ACCESS_DESCRIPTION_free(ad);
    return rc;
}

/* RFC 5280 §4.2.1.4: certificatePolicies with the CA's policy OID, no qualifiers. */
static int profile_add_policy(X509 *x, const char *policy_oid, struct jerr *err)
{
    int rc = -1;
    POLICYINFO *info = NULL;
    ASN1_OBJECT *oid = NULL;

    if (policy_oid == NULL || (oid = OBJ_txt2obj(policy_oid, 1)) == NULL) {
        jerr_openssl(err, JERR_INVALID, "policy_oid", "policy_oid is not a dotted OID");
        goto out;
    }
    if ((info = POLICYINFO_new()) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    ASN1_OBJECT_free(info->policyid);
    info->policyid = oid;
    oid = NULL;
    rc = profile_add_list_of_one(x, NID_certificate_policies, info, err);
out:
    ASN1_OBJECT_free(oid);
    POLICYINFO_free(info);
    return rc;
}

/* One otherName of the JPKI SAN: OID and a string of `str_type` (jpki-profile.md). */
static int profile_push_othername(GENERAL_NAMES *san, const char *oid_text, int str_type,
                                  const char *value, struct jerr *err)
{
    int rc = -1;
    ASN1_OBJECT *oid = NULL;
    ASN1_STRING *str = NULL;
    ASN1_TYPE *val = NULL;
    GENERAL_NAME *gn = NULL;

    if ((oid = OBJ_txt2obj(oid_text, 1)) == NULL ||
        (str = ASN1_STRING_type_new(str_type)) == NULL ||
        ASN1_STRING_set(str, value, (int)strlen(value)) != 1 || (val = ASN1_TYPE_new()) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot build the otherName %s", oid_text);
        goto out;
    }
    ASN1_TYPE_set(val, str_type, str);
    str = NULL;
    if ((gn = GENERAL_NAME_new()) == NULL || GENERAL_NAME_set0_othername(gn, oid, val) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot build the otherName %s", oid_text);
        goto out;
    }
    oid = NULL;
    val = NULL;
    if (sk_GENERAL_NAME_push(san, gn) <= 0) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    gn = NULL;
    rc = 0;
out:
    ASN1_OBJECT_free(oid);
    ASN1_STRING_free(str);
    ASN1_TYPE_free(val);
    GENERAL_NAME_free(gn);
    return rc;
}

/* The signing certificate's subjectAltName: the four basic facts as otherNames, in OID order.
 * Name and address are UTF8String (jpki-profile.md); the gender code and the birth date are
 * digits only, written as PrintableString (docs/PROFILES.md). Not critical: the subject is
 * not empty (RFC 5280 §4.2.1.6). */
static int profile_add_facts(X509 *x, const struct person *person, struct jerr *err)
{
    int rc = -1;
    GENERAL_NAMES *san = NULL;
    char birth[10], gender[4];

    if (model_check_text("name", person->name, JPKI_NAME_MAX, err) == -1 ||
        model_check_text("address", person->address, JPKI_ADDRESS_MAX, err) == -1 ||
        model_jpki_birth_date(person->birth_date, birth, err) == -1)
        goto out;
    if (person->gender != GENDER_MALE && person->gender != GENDER_FEMALE &&
        person->gender != GENDER_UNSTATED) {
        jerr_set(err, JERR_INVALID, "gender", "gender: %d is not 1, 2 or 3", (int)person->gender);
        goto out;
    }
    gender[0] = (char)('0' + (int)person->gender);
    gender[1] = '\0';
    if ((san = GENERAL_NAMES_new()) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (profile_push_othername(san, PROFILE_OID_NAME, V_ASN1_UTF8STRING, person->name, err) == -1 ||
        profile_push_othername(san, PROFILE_OID_GENDER, V_ASN1_PRINTABLESTRING, gender, err) ==
            -1 ||
        profile_push_othername(san, PROFILE_OID_BIRTH_DATE, V_ASN1_PRINTABLESTRING, birth, err) ==
            -1 ||
        profile_push_othername(san, PROFILE_OID_ADDRESS, V_ASN1_UTF8STRING, person->address, err) ==
            -1)
        goto out;
    rc = profile_add_ext(x, NID_subject_alt_name, san, 0, err);
out:
    GENERAL_NAMES_free(san);
    return rc;
}

/* An ASN1_TYPE INTEGER of a BIGNUM (for the RSAPublicKey below). */
static ASN1_TYPE *integer_type(const BIGNUM *bn)
{
    ASN1_INTEGER *i = BN_to_ASN1_INTEGER(bn, NULL);
    ASN1_TYPE *t = i != NULL ? ASN1_TYPE_new() : NULL;
    if (t == NULL) {
        ASN1_INTEGER_free(i);
        return NULL;
    }
    ASN1_TYPE_set(t, V_ASN1_INTEGER, i);
    return t;
}

/* The subjectPublicKeyInfo of an RSA key as RFC 3279 §2.3.1 has it (rsaEncryption, NULL
 * parameters, RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }), encoded
 * by OpenSSL's DER encoder from n and e (EVP_PKEY_get_bn_param): what X509_set_pubkey writes,
 * without the OSSL_ENCODER/OSSL_DECODER chains it builds in OpenSSL 3.0 on every call.
 * Returns 1, 0 when `pub` is not RSA, -1 on failure. */
static int set_rsa_spki(X509 *x, EVP_PKEY *pub)
{
    BIGNUM *n = NULL, *e = NULL;
    STACK_OF(ASN1_TYPE) *seq = NULL;
    ASN1_TYPE *t = NULL;
    unsigned char *der = NULL;
    int len, rc = -1;

    if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA)
        return 0;
    if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
        (seq = sk_ASN1_TYPE_new_null()) == NULL)
        goto out;
    for (int i = 0; i < 2; i++) {
        if ((t = integer_type(i == 0 ? n : e)) == NULL || sk_ASN1_TYPE_push(seq, t) <= 0)
            goto out;
        t = NULL;
    }
    if ((len = i2d_ASN1_SEQUENCE_ANY(seq, &der)) <= 0) {
        der = NULL;
        goto out;
    }
    /* set0: the key bits and the OID (static) belong to the certificate from here. */
    if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_rsaEncryption),
                               V_ASN1_NULL, NULL, der, len) != 1)
        goto out;
    der = NULL;
    rc = 1;
out:
    OPENSSL_free(der);
    ASN1_TYPE_free(t);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    BN_free(n);
    BN_free(e);
    return rc;
}

/* The common part of every certificate: X.509 v3, serial, names, validity, public key (as its
 * encoding only when `encoding_only`: profile_subscriber's key_encoding_only). */
static X509 *profile_start(const ASN1_INTEGER *serial, const X509_NAME *subject,
                           const X509_NAME *issuer, EVP_PKEY *pub, bool encoding_only,
                           time_t not_before, time_t not_after, struct jerr *err)
{
    X509 *x = NULL, *ret = NULL;

    if (pub == NULL) {
        jerr_set(err, JERR_INTERNAL, "key", "no public key");
        goto out;
    }
    if (not_after <= not_before) {
        jerr_set(err, JERR_INVALID, "not_after", "notAfter must be after notBefore");
        goto out;
    }
    /* RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after — ASN1_TIME_set
     * chooses so. */
    if ((x = X509_new()) == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_serialNumber(x, (ASN1_INTEGER *)serial) != 1 ||
        X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, issuer) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(x), not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), not_after) == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot build the certificate");
        goto out;
    }
    int set = encoding_only ? set_rsa_spki(x, pub) : 0;
    if (set == -1 || (set == 0 && X509_set_pubkey(x, pub) != 1)) {
        jerr_openssl(err, JERR_CRYPTO, "key", "cannot put the public key into the certificate");
        goto out;
    }
    ret = x;
    x = NULL;
out:
    X509_free(x);
    return ret;
}

static ASN1_INTEGER *profile_new_serial(struct jerr *err)
{
    unsigned char bytes[JPKI_SERIAL_BYTES];
    char hex[JPKI_SERIAL_BYTES * 2 + 1];
    if (profile_random_serial(bytes, hex, err) == -1)
        return NULL;
    return profile_serial_from_hex(hex, err);
}

X509 *profile_root(const struct config_ca *cc, EVP_PKEY *pub, time_t now, struct jerr *err)
{
    if (cc == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "no CA configuration");
        return NULL;
    }
    X509_NAME *subject = profile_parse_name(cc->subject, err);
    X509 *root = subject != NULL ? profile_root_named(cc, subject, pub, now, err) : NULL;
    X509_NAME_free(subject);
    return root;
}

/* A CA certificate — a root (`aki_issuer` NULL: self-signed) or a link between two roots'
 * keys — with a fresh serial, notBefore backdated for clock skew (DESIGN §3). RFC 5280
 * §4.2.1.9 and §4.2.1.3: a CA certificate says so in critical extensions; its SKI is the
 * subject key's and its AKI `aki_issuer`'s. */
static X509 *profile_ca_cert(const X509_NAME *subject, const X509_NAME *issuer, EVP_PKEY *pub,
                             X509 *aki_issuer, time_t now, time_t not_after, struct jerr *err)
{
    X509 *x = NULL, *ret = NULL;
    ASN1_INTEGER *serial = NULL;
    static const int ku[] = {PROFILE_KU_KEY_CERT_SIGN, PROFILE_KU_CRL_SIGN};

    if ((serial = profile_new_serial(err)) == NULL)
        goto out;
    if ((x = profile_start(serial, subject, issuer, pub, false, now - VALIDITY_BACKDATE_S,
                           not_after, err)) == NULL)
        goto out;
    if (profile_add_basic_constraints(x, true, 1, err) == -1 ||
        profile_add_key_usage(x, ku, sizeof(ku) / sizeof(ku[0]), err) == -1 ||
        profile_add_key_ids(x, aki_issuer, err) == -1)
        goto out;
    ret = x;
    x = NULL;
out:
    X509_free(x);
    ASN1_INTEGER_free(serial);
    return ret;
}

X509 *profile_root_named(const struct config_ca *cc, const X509_NAME *subject, EVP_PKEY *pub,
                         time_t now, struct jerr *err)
{
    if (cc == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "no CA configuration");
        return NULL;
    }
    if (cc->root_validity_years < 1 || cc->root_validity_years > PROFILE_MAX_YEARS) {
        jerr_set(err, JERR_INVALID, "root_validity_years",
                 "root validity of %d years is out of 1..%d", cc->root_validity_years,
                 PROFILE_MAX_YEARS);
        return NULL;
    }
    /* DESIGN §3: self-signed, subject = issuer. */
    return profile_ca_cert(subject, subject, pub, NULL, now,
                           validity_add_years(now, cc->root_validity_years), err);
}

X509 *profile_link(X509 *issuer_root, X509 *subject_root, time_t now, time_t not_after,
                   struct jerr *err)
{
    if (issuer_root == NULL || subject_root == NULL ||
        X509_get0_subject_key_id(issuer_root) == NULL) {
        jerr_set(err, JERR_INTERNAL, "root", "a link needs both roots, the issuer's with a SKI");
        return NULL;
    }
    /* RFC 4210 §4.4: the subject root's name and key under the issuer root's name; a CA
     * certificate as the roots are, its AKI the issuer's, so that path builders tell the two
     * keys of one name apart. */
    return profile_ca_cert(X509_get_subject_name(subject_root), X509_get_subject_name(issuer_root),
                           X509_get0_pubkey(subject_root), issuer_root, now, not_after, err);
}

X509 *profile_ocsp_signer(const struct config_ca *cc, X509 *issuer, EVP_PKEY *pub, time_t now,
                          int validity_days, struct jerr *err)
{
    X509 *x = NULL, *ret = NULL;
    X509_NAME *subject = NULL;
    ASN1_INTEGER *serial = NULL;
    EXTENDED_KEY_USAGE *eku = NULL;
    ASN1_NULL *nocheck = NULL;
    static const int ku[] = {PROFILE_KU_DIGITAL_SIGNATURE};

    (void)cc; /* the signer's name derives from the issuer's; nothing else is configurable */
    if (issuer == NULL) {
        jerr_set(err, JERR_INTERNAL, "issuer", "no issuer certificate");
        goto out;
    }
    if (validity_days < 1 || validity_days > PROFILE_MAX_DAYS) {
        jerr_set(err, JERR_INVALID, "ocsp_signer_validity_days",
                 "OCSP signer validity of %d days is out of 1..%d", validity_days,
                 PROFILE_MAX_DAYS);
        goto out;
    }
    if ((subject = X509_NAME_dup(X509_get_subject_name(issuer))) == NULL ||
        X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                   (unsigned char *)PROFILE_OCSP_CN, -1, -1, 0) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "subject", "cannot build the OCSP signer's subject");
        goto out;
    }
    if ((serial = profile_new_serial(err)) == NULL)
        goto out;
    if ((x = profile_start(serial, subject, X509_get_subject_name(issuer), pub, false,
                           now - VALIDITY_BACKDATE_S, now + (time_t)validity_days * 86400, err)) ==
        NULL)
        goto out;
    /* RFC 6960 §4.2.2.2: a delegated responder carries id-kp-OCSPSigning;
     * §4.2.2.2.1: id-pkix-ocsp-nocheck (value NULL) tells clients not to ask about the
     * responder itself — which is why its validity is short (DESIGN §3: 1 year, renewed). */
    if ((eku = sk_ASN1_OBJECT_new_null()) == NULL ||
        sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_OCSP_sign)) <= 0 ||
        (nocheck = ASN1_NULL_new()) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (profile_add_basic_constraints(x, false, 0, err) == -1 ||
        profile_add_key_usage(x, ku, sizeof(ku) / sizeof(ku[0]), err) == -1 ||
        profile_add_ext(x, NID_ext_key_usage, eku, 0, err) == -1 ||
        profile_add_ext(x, NID_id_pkix_OCSP_noCheck, nocheck, 0, err) == -1 ||
        profile_add_key_ids(x, issuer, err) == -1)
        goto out;
    ret = x;
    x = NULL;
out:
    X509_free(x);
    X509_NAME_free(subject);
    ASN1_INTEGER_free(serial);
    EXTENDED_KEY_USAGE_free(eku);
    ASN1_NULL_free(nocheck);
    return ret;
}

/* DESIGN §3: signing C=JP, L=prefecture, L=municipality, CN=id; auth C=JP, CN=id. */
static X509_NAME *profile_subscriber_name(const struct profile_subscriber *p, struct jerr *err)
{
    X509_NAME *name = NULL, *ret = NULL;
    const char *places[2] = {NULL, NULL};

    if (model_check_id("cn", p->cn, err) == -1)
        goto out;
    if (p->ca == CA_SIGN) {
        places[0] = p->prefecture;
        places[1] = p->municipality;
        if ((places[0] != NULL && places[0][0] != '\0' &&
             model_check_text("prefecture", places[0], JPKI_PLACE_MAX, err) == -1) ||
            (places[1] != NULL && places[1][0] != '\0' &&
             model_check_text("municipality", places[1], JPKI_PLACE_MAX, err) == -1))
            goto out;
    }
    if ((name = X509_NAME_new()) == NULL ||
        X509_NAME_add_entry_by_NID(name, NID_countryName, MBSTRING_UTF8, (unsigned char *)"JP", -1,
                                   -1, 0) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "subject", "cannot build the subject");
        goto out;
    }
    for (size_t i = 0; i < 2; i++) {
        if (places[i] == NULL || places[i][0] == '\0')
            continue;
        if (X509_NAME_add_entry_by_NID(name, NID_localityName, MBSTRING_UTF8,
                                       (const unsigned char *)places[i], -1, -1, 0) != 1) {
            jerr_openssl(err, JERR_INVALID, i == 0 ? "prefecture" : "municipality",
                         "cannot put the place name into the subject");
            goto out;
        }
    }
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)p->cn, -1, -1, 0) != 1) {
        jerr_openssl(err, JERR_INVALID, "cn", "cannot put the CN into the subject");
        goto out;
    }
    ret = name;
    name = NULL;
out:
    X509_NAME_free(name);
    return ret;
}

X509 *profile_subscriber(const struct profile_subscriber *p, X509 *issuer, EVP_PKEY *pub,
                         struct jerr *err)
{
    X509 *x = NULL, *ret = NULL;
    X509_NAME *subject = NULL;
    ASN1_INTEGER *serial = NULL;
    static const int ku_sign[] = {PROFILE_KU_DIGITAL_SIGNATURE, PROFILE_KU_NON_REPUDIATION};
    static const int ku_auth[] = {PROFILE_KU_DIGITAL_SIGNATURE};

    if (p == NULL || issuer == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "profile_subscriber: missing input");
        goto out;
    }
    if (p->ca != CA_SIGN && p->ca != CA_AUTH) {
        jerr_set(err, JERR_INVALID, "ca", "unknown certificate authority %d", (int)p->ca);
        goto out;
    }
    if (p->ca == CA_SIGN && p->person == NULL) {
        jerr_set(err, JERR_INTERNAL, "person", "a signing certificate needs the person");
        goto out;
    }
    if ((serial = profile_serial_from_hex(p->serial_hex, err)) == NULL ||
        (subject = profile_subscriber_name(p, err)) == NULL)
        goto out;
    if ((x = profile_start(serial, subject, X509_get_subject_name(issuer), pub,
                           p->key_encoding_only, p->not_before, p->not_after, err)) == NULL)
        goto out;
    if (p->ca == CA_SIGN) {
        /* Signatures on applications must not be repudiable: nonRepudiation (contentCommitment,
         * RFC 5280 §4.2.1.3) beside digitalSignature. */
        if (profile_add_key_usage(x, ku_sign, 2, err) == -1)
            goto out;
    } else if (profile_add_key_usage(x, ku_auth, 1, err) == -1) {
        goto out;
    }
    if (profile_add_basic_constraints(x, false, 0, err) == -1 ||
        profile_add_policy(x, p->policy_oid, err) == -1)
        goto out;
    /* DESIGN §3: personal data only in the signing certificate, only in the SAN. */
    if (p->ca == CA_SIGN && profile_add_facts(x, p->person, err) == -1)
        goto out;
    if (profile_add_cdp(x, p->crl_url, err) == -1 || profile_add_aia(x, p->ocsp_url, err) == -1 ||
        profile_add_key_ids(x, issuer, err) == -1)
        goto out;
    ret = x;
    x = NULL;
out:
    X509_free(x);
    X509_NAME_free(subject);
    ASN1_INTEGER_free(serial);
    return ret;
}

/* Copies one otherName string value into dst (size bytes with the NUL): UTF8String or
 * PrintableString, non-empty, no NUL inside, fitting. */
static int profile_read_string(const ASN1_TYPE *value, const char *what, char *dst, size_t size,
                               struct jerr *err)
{
    if (value == NULL ||
        (value->type != V_ASN1_UTF8STRING && value->type != V_ASN1_PRINTABLESTRING))
        return jerr_set(err, JERR_INVALID, "san", "SAN %s is not a UTF8String or PrintableString",
                        what);
    const ASN1_STRING *s = value->value.asn1_string;
    int len = ASN1_STRING_length(s);
    const unsigned char *data = ASN1_STRING_get0_data(s);
    if (dst[0] != '\0')
        return jerr_set(err, JERR_INVALID, "san", "SAN %s appears twice", what);
    if (len <= 0 || (size_t)len >= size || memchr(data, '\0', (size_t)len) != NULL)
        return jerr_set(err, JERR_INVALID, "san", "SAN %s is empty or longer than %zu bytes", what,
                        size - 1);
    memcpy(dst, data, (size_t)len);
    dst[len] = '\0';
    return model_check_text("san", dst, size - 1, err);
}

int profile_read_facts(X509 *cert, struct profile_facts *out, struct jerr *err)
{
    int rc = -1, critical = -1;
    GENERAL_NAMES *san = NULL;
    struct profile_facts facts;
    char oid[64];

    memset(&facts, 0, sizeof(facts));
    if (cert == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "no certificate");
        goto out;
    }
    san = X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, NULL);
    if (san == NULL) {
        if (critical == -1) { /* no SAN: an authentication certificate, no facts */
            rc = 0;
            goto out;
        }
        jerr_openssl(err, JERR_INVALID, "san",
                     critical == -2 ? "more than one subjectAltName extension"
                                    : "the subjectAltName does not decode");
        goto out;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);
        if (gn->type != GEN_OTHERNAME)
            continue;
        const OTHERNAME *on = gn->d.otherName;
        if (OBJ_obj2txt(oid, sizeof(oid), on->type_id, 1) <= 0)
            continue;
        int r = 0;
        if (strcmp(oid, PROFILE_OID_NAME) == 0)
            r = profile_read_string(on->value, "name", facts.name, sizeof(facts.name), err);
        else if (strcmp(oid, PROFILE_OID_ADDRESS) == 0)
            r = profile_read_string(on->value, "address", facts.address, sizeof(facts.address),
                                    err);
        else if (strcmp(oid, PROFILE_OID_BIRTH_DATE) == 0)
            r = profile_read_string(on->value, "birth date", facts.birth_date,
                                    sizeof(facts.birth_date), err);
        else if (strcmp(oid, PROFILE_OID_GENDER) == 0)
            r = profile_read_string(on->value, "gender", facts.gender, sizeof(facts.gender), err);
        if (r == -1)
            goto out;
    }
    rc = 0;
out:
    if (rc == 0)
        *out = facts;
    GENERAL_NAMES_free(san);
    return rc;
}
