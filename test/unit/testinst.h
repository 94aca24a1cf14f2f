/*
 * testinst: a real jpki instance for the suites of the CA engines (test_lifecycle,
 * test_cardissue, test_holderreq), beside testutil (its code is in testutil.c, which every
 * suite links). Kept out of testutil.h so that suites of other layers do not see the CA's
 * headers.
 */
#ifndef JPKI_TESTINST_H
#define JPKI_TESTINST_H

#include <time.h>

#include "ca/lifecycle.h"
#include "ca/pki.h"
#include "config/config.h"
#include "testutil.h"

/* The CA passphrase of testutil_instance_create's instances. */
#define TESTUTIL_PASS "correct horse battery staple"

/* An instance made by pki_init (both CAs, OCSP signers, registry) with data_dir <dir>/inst in
 * a fresh temporary directory. Create once per suite (an unchecked fixture: pki_init is slow),
 * destroy at the end. */
struct testutil_instance {
    char *dir;
    struct jpki_config *cfg;
};
void testutil_instance_create(struct testutil_instance *inst);
void testutil_instance_destroy(struct testutil_instance *inst);

/* The instance opened for one test: its keys, a registry connection and a lifecycle context
 * acting as "tester". Opening also resets the clock (jclock_set(0)). */
struct testutil_fixture {
    struct pki *pki;
    struct store *st;
    struct lifecycle_ctx ctx;
};
void testutil_fx_open(struct testutil_fixture *fx, const struct testutil_instance *inst);
void testutil_fx_close(struct testutil_fixture *fx);

/* A person with these fields, the others zero (alive). */
struct person testutil_person(const char *id, const char *name, const char *address,
                              const char *birth_date, enum gender gender);

/* Asserts that every field of `got` equals the one of `want`. */
void testutil_assert_person(const struct person *got, const struct person *want);

/* A card with these fields ("" for no prefecture or municipality). */
struct card testutil_card(const char *id, const char *person_id, enum card_type type,
                          const char *expiry, enum card_state state, const char *prefecture,
                          const char *municipality);

/* Asserts that every field of `got` equals the one of `want`. */
void testutil_assert_card(const struct card *got, const struct card *want);

/* A good certificate row: `serial` of `ca`, on card `card_id` of `person_id`, subject CN
 * "CN-<serial>", valid and issued from `not_before` to `not_after`; the others zero. */
struct cert_rec testutil_cert_rec(const char *serial, enum ca_kind ca, const char *card_id,
                                  const char *person_id, int64_t not_before, int64_t not_after);

/* Inserts `rec` into the registry with a stand-in DER (for readers that never parse it);
 * asserts it succeeds. */
void testutil_cert_insert(struct store *st, const struct cert_rec *rec);

/* A new empty registry alone (no instance): <fresh temporary dir>/registry.db, created by
 * store_open, with the clock pinned to `now` (jclock_set). testutil_registry_close closes it,
 * removes the directory and resets the clock. */
struct testutil_registry {
    char *dir;
    char path[4096];
    struct store *st;
};
void testutil_registry_open(struct testutil_registry *reg, time_t now);
void testutil_registry_close(struct testutil_registry *reg);

/* ---- dupb: the suite's shared instance and its holders ---- */

/* The instance of a suite that adds testinst_setup/testinst_teardown as the unchecked fixture
 * of its tcase (one per test process; pki_init is slow). */
extern struct testutil_instance testinst;
void testinst_setup(void);
void testinst_teardown(void);
/* A new case `name` over testinst (that unchecked fixture) with a `timeout_s` second timeout. */
TCase *testinst_tcase(const char *name, double timeout_s);

/* The instance opened for the test that runs: testinst_fx_open and testinst_fx_close are a
 * checked fixture (around each test) over testinst; testinst_fx_tcase is testinst_tcase's case
 * with them added. */
extern struct testutil_fixture testinst_fx;
void testinst_fx_open(void);
void testinst_fx_close(void);
TCase *testinst_fx_tcase(const char *name, double timeout_s);

/* Registers person `p` and My Number card `card_id` of it expiring `expiry` (as fx's
 * "tester"); asserts both succeed. */
void testinst_register_card(struct testutil_fixture *fx, const struct person *p,
                            const char *card_id, const char *expiry);

#endif
