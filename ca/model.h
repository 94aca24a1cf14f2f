/*
 * model: the plain records of the registry (person, card, certificate) and their vocabularies,
 * with the validation every outside value passes before it reaches a rule or the registry.
 * Pure: no I/O, no allocation beyond what the caller passes.
 */
#ifndef JPKI_MODEL_H
#define JPKI_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "base/jerr.h"
#include "base/limits.h"

/* Gender codes as the JPKI profile writes them (jpki-profile.md: "1" male, "2" female,
 * "3" not stated). */
enum gender { GENDER_MALE = 1, GENDER_FEMALE = 2, GENDER_UNSTATED = 3 };

enum card_type { CARD_MYNUMBER = 0, CARD_JUKI = 1 };
enum card_state { CARD_ACTIVE = 0, CARD_SUSPENDED = 1, CARD_RETURNED = 2 };
enum cert_status { CERT_GOOD = 0, CERT_HOLD = 1, CERT_REVOKED = 2 };

/* RFC 5280 §5.3.1 CRLReason values that jpki uses. */
enum crl_reason {
    REASON_NONE = -1, /* not revoked */
    REASON_UNSPECIFIED = 0,
    REASON_KEY_COMPROMISE = 1,
    REASON_AFFILIATION_CHANGED = 3,
    REASON_SUPERSEDED = 4,
    REASON_CESSATION_OF_OPERATION = 5,
    REASON_CERTIFICATE_HOLD = 6,
    REASON_REMOVE_FROM_CRL = 8, /* delta CRLs only: released from hold (RFC 5280 §5.2.4) */
};

struct person {
    char id[JPKI_ID_MAX + 1];
    char name[JPKI_NAME_MAX + 1];
    char address[JPKI_ADDRESS_MAX + 1];
    char birth_date[11]; /* YYYY-MM-DD */
    enum gender gender;
    bool deceased;
};

struct card {
    char id[JPKI_ID_MAX + 1];
    char person_id[JPKI_ID_MAX + 1];
    enum card_type type;
    char expiry[11]; /* YYYY-MM-DD: valid through the end of that day (JST, see validity.h) */
    enum card_state state;
    /* The issuing window, written into the signing certificate's subject as L= values
     * (DESIGN §3). Optional: empty strings leave them out. */
    char prefecture[JPKI_PLACE_MAX + 1];
    char municipality[JPKI_PLACE_MAX + 1];
};

struct cert_rec {
    char serial[JPKI_SERIAL_HEX_MAX + 1]; /* upper-case hex, no leading 00 */
    enum ca_kind ca;
    char card_id[JPKI_ID_MAX + 1];
    char person_id[JPKI_ID_MAX + 1];
    char subject_cn[JPKI_ID_MAX + 1]; /* the opaque CN */
    int64_t not_before;
    int64_t not_after;
    enum cert_status status;
    int reason;              /* enum crl_reason; REASON_NONE when good */
    int64_t status_changed_at; /* revocation / hold time; 0 when never changed */
    int64_t invalidity_date; /* 0 when unknown */
    int partition;           /* CRL partition (DESIGN §5), 0-based */
    int64_t issued_at;
    int generation;          /* the CA generation that issued it (DESIGN §11); 0 is read as 1 */
};

/* Vocabulary names and parsers: parsers return 0 or -1. */
const char *gender_name(enum gender g);           /* "male" / "female" / "unstated" */
int gender_parse(const char *s, enum gender *g);  /* accepts the names and "1"/"2"/"3" */
const char *card_type_name(enum card_type t);     /* "mynumber" / "juki" */
int card_type_parse(const char *s, enum card_type *t);
const char *card_state_name(enum card_state s);   /* "active" / "suspended" / "returned" */
const char *cert_status_name(enum cert_status s); /* "good" / "hold" / "revoked" */
const char *crl_reason_name(int reason);          /* "keyCompromise", ... (RFC 5280 names) */
/* Accepts the RFC 5280 names of the reasons an operator may give (unspecified,
 * keyCompromise, affiliationChanged, superseded, cessationOfOperation). */
int crl_reason_parse(const char *s, int *reason);

/* Field validation: each returns 0, or -1 with err naming `field`.
 * ids: 1..JPKI_ID_MAX of [A-Za-z0-9._-]; text: valid UTF-8, no control characters, 1..max
 * bytes; dates: a real calendar day YYYY-MM-DD.
 * model_check_person also refuses a birth date after today's date in Japan (jclock_now() in
 * JST) or before 1868-01-25 (Meiji, the first day the JPKI encoding can express); fields
 * "id", "name", "address", "birth_date", "gender". model_check_card: "id", "person_id",
 * "type", "expiry", "state", "prefecture", "municipality" (the last two optional, empty ok). */
int model_check_id(const char *field, const char *value, struct jerr *err);
int model_check_text(const char *field, const char *value, size_t max, struct jerr *err);
int model_check_date(const char *field, const char *value, struct jerr *err);
int model_check_person(const struct person *p, struct jerr *err);
int model_check_card(const struct card *c, struct jerr *err);

/* The 9-character JPKI birth-date encoding (jpki-profile.md): era code then YYYYMMDD.
 * Era codes: 1 Meiji, 2 Taisho, 3 Showa, 4 Heisei, 5 Reiwa (by the Gregorian day).
 * out must hold 10 bytes. Returns 0 or -1 for a date before Meiji. */
int model_jpki_birth_date(const char *birth_date, char out[10], struct jerr *err);

#endif
