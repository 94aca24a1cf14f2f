/*
 * ctl_cmds: see ctl_cmds.h. Option names here are the names the command functions read with
 * ctl_args_get; the API's field names appear in the help so an operator can map one to the
 * other (docs/API.md).
 */
#include "responder/ctl_cmds.h"

#include "responder/ctl_batch.h"
#include "responder/ctl_ops.h"
#include "responder/ctl_rp.h"

static const struct ctl_opt person_add_opts[] = {
    {"id", 0, "ID", true, "person id (1-64 of A-Z a-z 0-9 . _ -)"},
    {"name", 0, "NAME", true, "full name (UTF-8)"},
    {"address", 0, "ADDRESS", true, "address (UTF-8)"},
    {"birth-date", 0, "DATE", true, "birth date YYYY-MM-DD"},
    {"gender", 0, "GENDER", true, "male, female or unstated"},
    {0}, /* end */
};

static const struct ctl_opt person_change_opts[] = {
    {"name", 0, "NAME", false, "new full name"},
    {"address", 0, "ADDRESS", false, "new address"},
    {"birth-date", 0, "DATE", false, "corrected birth date YYYY-MM-DD"},
    {"gender", 0, "GENDER", false, "male, female or unstated"},
    {0}, /* end */
};

static const struct ctl_opt card_add_opts[] = {
    {"id", 0, "ID", true, "card id"},
    {"person", 0, "ID", true, "the holder's person id"},
    {"type", 0, "TYPE", true, "mynumber or juki"},
    {"expiry", 0, "DATE", true, "last day of validity YYYY-MM-DD"},
    {"prefecture", 0, "TEXT", false, "issuing window's prefecture (signing subject L=)"},
    {"municipality", 0, "TEXT", false, "issuing window's municipality (signing subject L=)"},
    {0}, /* end */
};

static const struct ctl_opt card_issue_opts[] = {
    {"certs", 0, "WHICH", true, "sign, auth or both"},
    {"out", 'o', "DIR", false, "write DIR/SERIAL.pem (and DIR/CARD.card when returned)"},
    {"sign-pubkey", 0, "FILE", false, "the holder's signing public key (PEM)"},
    {"auth-pubkey", 0, "FILE", false, "the holder's authentication public key (PEM)"},
    {"passwords", 0, "FILE", false, "JSON {\"sign\": …, \"auth\": …}: the card's passwords"},
    {0}, /* end */
};

static const struct ctl_opt cert_show_opts[] = {
    {"out", 'o', "FILE", false, "write the certificate (PEM) to FILE"}, {0}, /* end */
};

static const struct ctl_opt cert_revoke_opts[] = {
    {"reason", 0, "REASON", true,
     "unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation"},
    {0}, /* end */
};

static const struct ctl_opt cert_expiring_opts[] = {
    {"days", 0, "N", true, "good certificates whose notAfter is within N days"},
    {"limit", 0, "N", false, "at most N of them (default 100)"},
    {0}, /* end */
};

static const struct ctl_opt operator_add_opts[] = {
    {"name", 0, "NAME", true, "operator name"},
    {"role", 0, "ROLE", true, "admin, operator, batch or auditor"},
    {"token-out", 0, "FILE", false, "write the new token to FILE (0600) instead of printing it"},
    {0}, /* end */
};

static const struct ctl_opt batch_submit_opts[] = {
    {"no-wait", 0, NULL, false, "submit and return without following the progress"}, {0}, /* end */
};

static const struct ctl_opt ocsp_opts[] = {
    {"issuer", 0, "FILE", true, "the issuing CA's certificate: the trust anchor"},
    {"hash", 0, "ALG", false, "CertID hash: sha1 (default) or sha256"},
    {"no-nonce", 0, NULL, false, "send no nonce (the answer may be a pre-signed one)"},
    {0}, /* end */
};

static const struct ctl_opt crl_fetch_opts[] = {
    {"out", 'o', "FILE", false, "save the verified CRL (DER) to FILE"},
    {"ca", 0, "FILE", false, "verify with this CA certificate, not the one the service serves"},
    {"partition", 0, "N", false, "fetch partition N (/crl/CA/N.crl) instead of the whole CRL"},
    {"list", 0, NULL, false, "list the entries (serial, revocation date, reason)"},
    {0}, /* end */
};

static const struct ctl_opt fingerprints_opts[] = {
    {"sign", 0, "FILE", false, "compare with this signing CA certificate (PEM or DER)"},
    {"auth", 0, "FILE", false, "compare with this authentication CA certificate"},
    {0}, /* end */
};

const struct ctl_cmd ctl_cmds[] = {
    {"person", "add", NULL, 0, 0, person_add_opts, "register a person (POST /v1/persons)", NULL,
     ctl_ops_person_add},
    {"person", "show", "ID", 1, 1, NULL, "a person with their cards and certificates", NULL,
     ctl_ops_person_show},
    {"person", "change", "ID", 1, 1, person_change_opts,
     "change basic information (revokes signing certificates)",
     "Facts not given are kept as the registry has them. Every good or held signing\n"
     "certificate of the person is revoked (affiliationChanged); authentication\n"
     "certificates are untouched.",
     ctl_ops_person_change},
    {"person", "death", "ID", 1, 1, NULL, "record a death (revokes every certificate)", NULL,
     ctl_ops_person_death},
    {"card", "add", NULL, 0, 0, card_add_opts, "register a card for a person (POST /v1/cards)",
     NULL, ctl_ops_card_add},
    {"card", "show", "ID", 1, 1, NULL, "a card with its certificates", NULL, ctl_ops_card_show},
    {"card", "issue", "ID", 1, 1, card_issue_opts, "issue certificates onto a card",
     "An existing good certificate of the same CA on the card is revoked (superseded).\n"
     "Without public keys the service generates the keys into a card image.",
     ctl_ops_card_issue},
    {"card", "hold", "ID", 1, 1, NULL, "suspend a card: both certificates on hold", NULL,
     ctl_ops_card_hold},
    {"card", "release", "ID", 1, 1, NULL, "release a hold (the authentication certificate only)",
     "The signing certificate stays on hold: it must be revoked and re-issued.",
     ctl_ops_card_release},
    {"card", "return", "ID", 1, 1, NULL, "a card returned (revokes its certificates)", NULL,
     ctl_ops_card_return},
    {"cert", "show", "SERIAL", 1, 1, cert_show_opts, "a certificate with its history", NULL,
     ctl_ops_cert_show},
    {"cert", "revoke", "SERIAL", 1, 1, cert_revoke_opts, "revoke a certificate", NULL,
     ctl_ops_cert_revoke},
    {"cert", "expiring", NULL, 0, 0, cert_expiring_opts, "good certificates expiring soon", NULL,
     ctl_ops_cert_expiring},
    {"operator", "add", NULL, 0, 0, operator_add_opts, "create an operator credential (admin only)",
     NULL, ctl_ops_operator_add},
    {"batch", "submit", "FILE", 1, 1, batch_submit_opts,
     "submit a batch file and follow its progress",
     "See docs/BATCH.md for the format. Exits 1 when any row was refused or failed.",
     ctl_batch_submit},
    {"batch", "show", "ID", 1, 1, NULL, "a batch's progress and rows", NULL, ctl_batch_show},
    {"ocsp", NULL, "CERT", 1, 1, ocsp_opts, "ask the OCSP responder about a certificate",
     "Prints good, revoked (time, reason) or unknown after verifying the response with\n"
     "the issuer as the trust anchor. Exits 0 for good, 1 otherwise.",
     ctl_rp_ocsp},
    {"crl", "fetch", "sign|auth", 1, 1, crl_fetch_opts, "fetch and verify a CA's CRL",
     "Prints the CRL number, thisUpdate, nextUpdate and the number of entries. Exits 1\n"
     "when the CRL does not verify or is past its nextUpdate.",
     ctl_rp_crl_fetch},
    {"fingerprints", NULL, NULL, 0, 0, fingerprints_opts, "the CA roots' SHA-256 fingerprints",
     NULL, ctl_rp_fingerprints},
};

const size_t ctl_cmds_count = sizeof(ctl_cmds) / sizeof(ctl_cmds[0]);
