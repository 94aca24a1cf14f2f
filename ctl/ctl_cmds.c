/*
 * ctl_cmds: see ctl_cmds.h. Option names here are the names the command functions read with
 * ctl_args_get; the API's field names appear in the help so an operator can map one to the
 * other (docs/API.md).
 */
#include "ctl/ctl_cmds.h"

#include "ctl/ctl_audit.h"
#include "ctl/ctl_batch.h"
#include "ctl/ctl_card.h"
#include "ctl/ctl_holdcard.h"
#include "ctl/ctl_tokencard.h"
#include "ctl/ctl_operators.h"
#include "ctl/ctl_ops.h"
#include "ctl/ctl_parties.h"
#include "ctl/ctl_rp.h"
#include "ctl/ctl_sign.h"
#include "ctl/ctl_verify.h"
#include "ctl/ctl_window.h"

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
    {"out", 'o', "DIR", false,
     "write DIR/CARD.card (required when the service generates keys) and DIR/SERIAL.pem"},
    {"sign-csr", 0, "FILE", false, "the holder's signing key: a PKCS#10 request it signed (PEM)"},
    {"auth-csr", 0, "FILE", false, "the holder's authentication key: a PKCS#10 request (PEM)"},
    {"passwords-file", 0, "FILE", false,
     "JSON {\"sign\": …, \"auth\": …}: the holder's chosen passwords"},
    {"pin-letter", 0, "FILE", false,
     "write generated passwords to FILE (0600, a new file) instead of showing them"},
    CTL_HOLDCARD_TOKEN_OPTS,
    {0}, /* end */
};

static const struct ctl_opt card_reset_password_opts[] = {
    {"slot", 0, "SLOT", true, "sign or auth"},
    {"new-file", 0, "FILE", false,
     "read the new password from FILE (else $JPKI_CARD_NEW_PASSWORD, else asked twice)"},
    {0}, /* end */
};

static const struct ctl_opt cert_show_opts[] = {
    {"out", 'o', "FILE", false, "write the certificate (PEM) to FILE"}, {0}, /* end */
};

static const struct ctl_opt cert_revoke_opts[] = {
    {"reason", 0, "REASON", true,
     "unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation"},
    {"receipt", 0, "FILE", false,
     "save the signed receipt to FILE (default ./revocation-receipt-cert-SERIAL.json)"},
    {0}, /* end */
};

static const struct ctl_opt card_return_opts[] = {
    {"receipt", 0, "FILE", false,
     "save the signed receipt to FILE (default ./revocation-receipt-card-ID.json)"},
    {0}, /* end */
};

static const struct ctl_opt person_death_opts[] = {
    {"receipt", 0, "FILE", false,
     "save the signed receipt to FILE (default ./revocation-receipt-person-ID.json)"},
    {0}, /* end */
};

static const struct ctl_opt cert_expiring_opts[] = {
    {"days", 0, "N", false, "good certificates whose notAfter is within N days (default 90)"},
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
    {"issuer", 0, "FILE", false,
     "the issuing CA's certificate, the trust anchor (default: the one the service serves at "
     "/ca/CA.cer, checked against /ca/fingerprints)"},
    {"hash", 0, "ALG", false, "CertID hash: sha1 (default) or sha256"},
    {"nonce", 0, NULL, false,
     "send a nonce and require it echoed (default: none, so a pre-signed answer will do)"},
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

static const struct ctl_opt holder_show_opts[] = {
    CTL_HOLDCARD_TOKEN_OPTS,
    {"pin-file", 0, "FILE", false,
     "a token: log in with the signing PIN from FILE first (a real card shows its signing "
     "certificate only then)"},
    {0}, /* end */
};

static const struct ctl_opt holder_check_opts[] = {
    CTL_HOLDCARD_TOKEN_OPTS, {0}, /* end */
};

static const struct ctl_opt card_init_token_opts[] = {
    {"pkcs11", 0, "MODULE", true, "the PKCS#11 module (.so)"},
    {"token", 0, "LABEL", true, "the new card's label, 1-6 of A-Z a-z 0-9 . _ -"},
    {"so-pin-file", 0, "FILE", true, "the tokens' security officer PIN"},
    {"passwords-file", 0, "FILE", true,
     "JSON {\"sign\": …, \"auth\": …}: the signing password and the authentication PIN"},
    {0}, /* end */
};

static const struct ctl_opt holder_passwd_opts[] = {
    CTL_HOLDCARD_TOKEN_OPTS,
    {"slot", 0, "SLOT", true, "sign or auth"},
    {"old-file", 0, "FILE", false,
     "read the current password from FILE (else $JPKI_CARD_PASSWORD)"},
    {"new-file", 0, "FILE", false,
     "read the new password from FILE (else $JPKI_CARD_NEW_PASSWORD)"},
    {0}, /* end */
};

static const struct ctl_opt holder_sign_opts[] = {
    {"out", 'o', "SIG", false, "write the signature to SIG (default FILE.p7s; - for stdout)"},
    {"pem", 0, NULL, false, "write PEM instead of DER"},
    {"password-file", 0, "FILE", false,
     "read the signing password from FILE (else $JPKI_CARD_PASSWORD)"},
    {"pin-file", 0, "FILE", false, "a token's PIN (or the image's password) from FILE"},
    CTL_HOLDCARD_TOKEN_OPTS,
    {0}, /* end */
};

static const struct ctl_opt holder_revoke_opts[] = {
    {"reason", 0, "REASON", true, "keyCompromise, cessationOfOperation or unspecified"},
    {"slot", 0, "SLOT", false, "the certificate to revoke: sign (default) or auth"},
    {"receipt", 0, "FILE", false,
     "save the receipt to FILE (default ./revocation-receipt-SERIAL.json)"},
    {"password-file", 0, "FILE", false,
     "read the signing password from FILE (else $JPKI_CARD_PASSWORD)"},
    {"save-request", 0, "FILE", false, "also save the signed request (DER CMS) to FILE"},
    {"pin-file", 0, "FILE", false, "a token's PIN (or the image's password) from FILE"},
    CTL_HOLDCARD_TOKEN_OPTS,
    {0}, /* end */
};

static const struct ctl_opt holder_export_opts[] = {
    {"slot", 0, "SLOT", true, "sign or auth"},
    {"der", 0, NULL, false, "DER instead of PEM"},
    {"pem", 0, NULL, false, "PEM (the default)"},
    {"out", 'o', "FILE", false, "write to FILE instead of the output"},
    CTL_HOLDCARD_TOKEN_OPTS,
    {0}, /* end */
};

static const struct ctl_opt holder_fingerprints_opts[] = {
    {"compare", 0, NULL, false, "compare with the fingerprints the service publishes"},
    CTL_HOLDCARD_TOKEN_OPTS,
    {0}, /* end */
};

static const struct ctl_opt verify_opts[] = {
    {"issuer", 0, "FILE", false,
     "the signing CA root to trust (default: the one the service serves, /ca/sign.cer)"},
    {0}, /* end */
};

static const struct ctl_opt operator_rotate_opts[] = {
    {"token-out", 0, "FILE", false, "write the new token to FILE (0600) instead of printing it"},
    {0}, /* end */
};

static const struct ctl_opt rp_add_opts[] = {
    {"name", 0, "NAME", true, "the party's name"},
    {"kind", 0, "KIND", true, "signature, authentication or platform"},
    {"contact", 0, "TEXT", true, "whom to reach"},
    {"csr", 0, "FILE", false, "a PKCS#10 request (PEM, RSA) for the party's own key"},
    {"cert-out", 0, "FILE", false, "write its client certificate to FILE (PEM)"},
    {"key-out", 0, "FILE", false, "write its new key to FILE (PEM, 0600)"},
    {"token-out", 0, "FILE", false, "write its bearer token to FILE (0600)"},
    {0}, /* end */
};

static const struct ctl_opt rp_usage_opts[] = {
    {"month", 0, "YYYY-MM", false, "the month (default: this one, UTC)"},
    {0}, /* end */
};

static const struct ctl_opt audit_show_opts[] = {
    {"after", 0, "SEQ", false, "rows after this one (default 0: from the first)"},
    {"limit", 0, "N", false, "at most N rows (default 100, at most 1000)"},
    {0}, /* end */
};

static const struct ctl_opt audit_checkpoint_opts[] = {
    {"out", 'o', "FILE", false, "save the checkpoint (PEM) to FILE, for audit-verify --against"},
    {"key-sha256", 0, "FP", false, "the audit key's SHA-256 as jpkid init printed it"},
    {0}, /* end */
};

static const struct ctl_opt audit_verify_opts[] = {
    {"key-sha256", 0, "FP", false,
     "the audit key's SHA-256 as jpkid init printed it (else $JPKI_AUDIT_KEY_SHA256)"},
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
    {"person", "death", "ID", 1, 1, person_death_opts, "record a death (revokes every certificate)",
     "The person's cards leave use. The service's signed receipt (guide 4(5)A) is saved.",
     ctl_ops_person_death},
    {"card", "add", NULL, 0, 0, card_add_opts, "register a card for a person (POST /v1/cards)",
     NULL, ctl_ops_card_add},
    {"card", "show", "[ID|IMAGE]", 0, 1, holder_show_opts,
     "a card with its certificates (operator), or a card image's (holder)",
     "With a card id, the registry's record through the API (operator token needed).\n"
     "With a card image file (a path containing '/', or an existing file), the holder's\n"
     "view: both certificates in words, the signing certificate's four facts, validity\n"
     "with a warning when less than 3 months remain, tries left, the roots' fingerprints.\n"
     "A card on a PKCS#11 token: --pkcs11 MODULE --token LABEL instead of the image.",
     ctl_card_show_any},
    {"card", "issue", "ID", 1, 1, card_issue_opts, "issue certificates onto a card",
     "An existing good certificate of the same CA on the card is revoked (superseded).\n"
     "Without CSRs the service generates the keys into a card image, DIR/ID.card: --out\n"
     "is then required, and is checked before anything is issued. An existing DIR/ID.card\n"
     "is updated in place (re-issuing one slot keeps the other). Passwords: from\n"
     "--passwords-file, else asked twice on a terminal, else generated by the service and\n"
     "shown once (or written to --pin-letter). If the image cannot be written after all,\n"
     "the certificates just issued are revoked (unspecified).\n"
     "Onto a token (--pkcs11 MODULE --token LABEL, made by 'card init-token'): the key\n"
     "pairs are generated on the token and sent as CSRs it signed; the certificates and\n"
     "roots are written back onto it. Its PINs come from --passwords-file or the terminal.",
     ctl_window_card_issue},
    {"card", "init-token", NULL, 0, 0, card_init_token_opts,
     "make a blank card on a PKCS#11 token (two tokens, one per PIN)",
     "Initialises two uninitialised tokens of MODULE as \"LABEL (Digital Signature PIN)\"\n"
     "and \"LABEL (User Authentication PIN)\", the layout OpenSC shows for a My Number\n"
     "card. The card's PIN rules are enforced: signing 6-16 of A-Z and 0-9,\n"
     "authentication 4 digits. Then 'card issue ID --pkcs11 MODULE --token LABEL'.",
     ctl_tokencard_init},
    {"card", "reset-password", "IMAGE", 1, 1, card_reset_password_opts,
     "reset a card slot's forgotten or locked password (window)",
     "Sends the image to the service (POST /v1/cards/ID/reset-password, operator token),\n"
     "which re-wraps the slot under the new password and clears its counter; the image is\n"
     "updated in place.",
     ctl_window_reset_password},
    {"card", "hold", "ID", 1, 1, NULL, "suspend a card: both certificates on hold", NULL,
     ctl_ops_card_hold},
    {"card", "release", "ID", 1, 1, NULL, "release a hold (the authentication certificate only)",
     "The signing certificate stays on hold: it must be revoked and re-issued.",
     ctl_ops_card_release},
    {"card", "return", "ID", 1, 1, card_return_opts, "a card returned (revokes its certificates)",
     "The service's signed receipt (guide 4(5)A) is saved.", ctl_ops_card_return},
    {"card", "check", "[IMAGE]", 0, 1, holder_check_opts,
     "check a card image's certificates with the service",
     "Each certificate's status through OCSP (the CRL when OCSP gives no answer), trusting\n"
     "the roots in the card, and the card's roots against the fingerprints the service\n"
     "publishes. Exits 0 only when all is good.",
     ctl_card_check},
    {"card", "passwd", "[IMAGE]", 0, 1, holder_passwd_opts, "change a card slot's password",
     "Passwords are asked on the terminal without echo, or read from --old-file/--new-file\n"
     "or $JPKI_CARD_PASSWORD/$JPKI_CARD_NEW_PASSWORD. Signing: 6-16 of A-Z and 0-9, locks\n"
     "after 5 wrong tries; authentication: 4 digits, locks after 3. A locked password is\n"
     "reset at the municipal window.",
     ctl_card_passwd},
    {"card", "sign", "[IMAGE] FILE", 1, 2, holder_sign_opts,
     "sign FILE with the card's signing key (detached CMS)",
     "A CMS SignedData (SHA-256) that includes the signing certificate, detached from FILE.\n"
     "Check it with 'jpkictl verify FILE SIG' or 'openssl cms -verify -binary -inform DER\n"
     "-in SIG -content FILE -CAfile sign-ca.pem'.",
     ctl_card_sign},
    {"card", "revoke", "[IMAGE]", 0, 1, holder_revoke_opts,
     "request the revocation of a card's certificate online",
     "The request is signed with the card's signing key and sent to the service\n"
     "(POST /v1/holder/revoke, no operator token); the receipt, signed by the CA's OCSP\n"
     "signer, is checked against the root in the card, shown and saved.",
     ctl_card_revoke},
    {"card", "export", "[IMAGE]", 0, 1, holder_export_opts, "a copy of a card's certificate", NULL,
     ctl_card_export},
    {"card", "fingerprints", "[IMAGE]", 0, 1, holder_fingerprints_opts,
     "the SHA-256 fingerprints of the roots in a card image", NULL, ctl_card_fingerprints},
    {"cert", "show", "SERIAL", 1, 1, cert_show_opts, "a certificate with its history", NULL,
     ctl_ops_cert_show},
    {"cert", "revoke", "SERIAL", 1, 1, cert_revoke_opts, "revoke a certificate",
     "The service's signed receipt (guide 4(5)A) is saved.", ctl_ops_cert_revoke},
    {"cert", "expiring", NULL, 0, 0, cert_expiring_opts, "good certificates expiring soon", NULL,
     ctl_ops_cert_expiring},
    {"operator", "add", NULL, 0, 0, operator_add_opts, "create an operator credential (admin only)",
     NULL, ctl_operators_add},
    {"operator", "list", NULL, 0, 0, NULL, "the operator credentials and their state",
     "The configuration's, the first administrator's (init) and the registry's; admin or\n"
     "auditor role.",
     ctl_operators_list},
    {"operator", "disable", "NAME", 1, 1, NULL, "disable an operator credential (admin only)",
     "Its token and its TLS client certificate are refused from then on. Operators of the\n"
     "configuration file are changed in the file.",
     ctl_operators_disable},
    {"operator", "rotate", "NAME", 1, 1, operator_rotate_opts,
     "give an operator a new token (admin only)",
     "The old token is refused from then on; the new one is shown once. \"admin\" is the\n"
     "first administrator token of jpkid init (its admin.token file then no longer works).",
     ctl_operators_rotate},
    {"rp", "add", "ID", 1, 1, rp_add_opts, "register a relying party (admin or operator)",
     "Its credentials are shown once: a client certificate of jpki's relying-party CA (with\n"
     "a new key, or for the key of --csr) and a bearer token. Either, over HTTPS, is what\n"
     "access.ocsp|crl registered asks for.",
     ctl_parties_add},
    {"rp", "list", NULL, 0, 0, NULL, "the relying parties and their state", NULL,
     ctl_parties_list},
    {"rp", "show", "ID", 1, 1, NULL, "a relying party", NULL, ctl_parties_show},
    {"rp", "suspend", "ID", 1, 1, NULL, "refuse a party's queries until resumed",
     "Takes effect at the party's next request.", ctl_parties_suspend},
    {"rp", "resume", "ID", 1, 1, NULL, "answer a suspended party again", NULL,
     ctl_parties_resume},
    {"rp", "delete", "ID", 1, 1, NULL, "remove a party: its certificate is revoked",
     "Its certificate goes on /crl/rp.crl and fails the TLS handshake from then on.",
     ctl_parties_delete},
    {"rp", "usage", "ID", 1, 1, rp_usage_opts, "a party's metered use in a month",
     "OCSP calls and CRL downloads by day and CA, and the distinct certificates asked about.",
     ctl_parties_usage},
    {"audit", "show", NULL, 0, 0, audit_show_opts, "audit log rows (admin or auditor)", NULL,
     ctl_audit_show},
    {"audit", "checkpoint", NULL, 0, 0, audit_checkpoint_opts,
     "the newest signed checkpoint of the audit log",
     "Its signature is checked with the audit key; --out keeps it outside the service so that\n"
     "'jpkid audit-verify --against FILE' detects rows deleted after it.",
     ctl_audit_checkpoint},
    {"audit", "verify", NULL, 0, 0, audit_verify_opts,
     "recompute the audit chain against the signed checkpoint",
     "Checks the newest checkpoint's signature with the audit key, then fetches every row up\n"
     "to it and recomputes the hash chain here. Exits 0 only when all of it holds.",
     ctl_audit_verify},
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
    {"verify", NULL, "FILE SIG", 2, 2, verify_opts, "verify a signature made with a card",
     "Checks the signature over FILE, the signer certificate's chain to the signing CA root,\n"
     "its validity and its status (OCSP, the CRL as fallback). Prints the signer's name,\n"
     "address, birth date and gender only when all holds, else the reason. Exits 0 only\n"
     "for a valid signature.",
     ctl_verify},
};

const size_t ctl_cmds_count = sizeof(ctl_cmds) / sizeof(ctl_cmds[0]);
