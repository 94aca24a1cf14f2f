/*
 * receipt: see receipt.h. The text signed is Jansson's compact dump of the fields, kept in the
 * answer beside them, so a checker verifies the bytes it was given and never re-serialises.
 */
#include "responder/api/receipt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/rand.h>

#include "base/hex.h"
#include "base/jclock.h"
#include "keystore/signer.h"
#include "ca/recjson.h"
#include "responder/api/api.h"

int receipt_id_new(char out[STORE_RECEIPT_ID_HEX + 1], struct jerr *err)
{
    unsigned char raw[STORE_RECEIPT_ID_HEX / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a receipt id");
    hex_encode(raw, sizeof(raw), out);
    return 0;
}

/* The signer certificate's PEM: its DER (OpenSSL keeps the encoding it parsed) wrapped by the
 * same helper the other answers use. */
static json_t *cert_pem_json(X509 *cert)
{
    unsigned char *der = NULL;
    int der_len = cert != NULL ? i2d_X509(cert, &der) : -1;
    json_t *out = der_len > 0 ? api_pem_json(der, (size_t)der_len) : NULL;
    ERR_clear_error();
    OPENSSL_free(der);
    return out;
}

json_t *receipt_new(const struct pki *pki, enum ca_kind ca, const json_t *fields, struct jerr *err)
{
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    char *text = NULL;
    json_t *o = NULL;

    /* Jansson keeps insertion order: the text is the fields in the order they were set. */
    if ((text = json_dumps(fields, JSON_COMPACT)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    const struct signer *signer = pki_get0_ocsp_signer(pki, ca);
    if (signer_sign_bytes(signer, (const unsigned char *)text, strlen(text), &sig, &sig_len, err) ==
        -1)
        goto out;
    /* the signer's algorithm: sha256WithRSAEncryption, ecdsa-with-SHA384 or -SHA512 */
    struct keyalg alg = signer_keyalg(signer);
    o = json_deep_copy(fields);
    if (o == NULL || json_object_set_new(o, "receipt", json_string(text)) != 0 ||
        json_object_set_new(o, "signature", recjson_base64(sig, sig_len)) != 0 ||
        json_object_set_new(o, "signature_algorithm", json_string(keyalg_signature_name(&alg))) !=
            0 ||
        json_object_set_new(o, "signer_certificate", cert_pem_json(pki_get0_ocsp_cert(pki, ca))) !=
            0) {
        json_decref(o);
        o = NULL;
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
out:
    free(text);
    OPENSSL_free(sig);
    return o;
}

json_t *receipt_window_new(const struct pki *pki, struct store *st, const char *event,
                           const char *target, const char *operator_name,
                           const struct serial_list *revoked, struct jerr *err)
{
    char id[STORE_RECEIPT_ID_HEX + 1], at[32], changed[32];
    bool any_sign = false;
    json_t *fields = NULL, *list = json_array(), *out = NULL;

    if (list == NULL || receipt_id_new(id, err) == -1)
        goto out;
    for (size_t i = 0; i < revoked->count; i++) {
        struct cert_rec rec;
        if (store_cert_get(st, revoked->items[i], &rec, err) == -1)
            goto out;
        any_sign = any_sign || rec.ca == CA_SIGN;
        json_t *c = json_pack(
            "{s:s, s:s, s:s, s:s, s:s}", "serial", rec.serial, "ca", ca_kind_name(rec.ca), "status",
            cert_status_name(rec.status), "reason", crl_reason_name(rec.reason), "revoked_at",
            jclock_format((time_t)rec.status_changed_at, changed, sizeof(changed)));
        if (c == NULL || json_array_append_new(list, c) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
            goto out;
        }
    }
    /* The signing CA's signer vouches for a mixed or empty list; an event that ended only
     * authentication certificates is the authentication CA's to acknowledge. */
    enum ca_kind ca = any_sign || revoked->count == 0 ? CA_SIGN : CA_AUTH;
    fields = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "receipt_id", id, "title",
                       RECEIPT_WINDOW_TITLE, "event", event, "target", target, "operator",
                       operator_name, "accepted_at", jclock_format(jclock_now(), at, sizeof(at)),
                       "signer_ca", ca_kind_name(ca), "revoked", list);
    if (fields == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    out = receipt_new(pki, ca, fields, err);
out:
    json_decref(fields);
    json_decref(list);
    return out;
}
