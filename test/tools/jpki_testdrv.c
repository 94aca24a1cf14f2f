/*
 * jpki_testdrv: a small driver the integration tests use to run lifecycle events directly on
 * an instance's registry (the operator API is the production path; this reaches the same
 * library calls without HTTP). Not installed; never used by operators.
 *
 *   jpki_testdrv -c CFG [--set k=v] person-add ID NAME ADDRESS BIRTH GENDER
 *   jpki_testdrv ... card-add ID PERSON TYPE EXPIRY [PREFECTURE MUNICIPALITY]
 *   jpki_testdrv ... issue CARD sign|auth|both OUTDIR   (writes OUTDIR/<serial>.pem and .key)
 *   jpki_testdrv ... change-info PERSON NAME ADDRESS BIRTH GENDER
 *   jpki_testdrv ... hold CARD | release CARD | return CARD | death PERSON
 *   jpki_testdrv ... revoke SERIAL REASON
 *
 * Prints one line per certificate touched ("issued sign SERIAL", "revoked SERIAL", ...).
 * Exit status: 0 done, 3 refused by a rule (409-like), 4 not found, 1 other errors.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>

#include "ca/lifecycle.h"
#include "test/unit/testpem.h"
#include "base/jclock.h"
#include "responder/cliargs.h"

static int print_list(const char *what, const struct serial_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        printf("%s %s\n", what, l->items[i]);
    return 0;
}

static int fill_person(struct person *p, const char *const *a, struct jerr *err)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", a[0]);
    snprintf(p->name, sizeof(p->name), "%s", a[1]);
    snprintf(p->address, sizeof(p->address), "%s", a[2]);
    snprintf(p->birth_date, sizeof(p->birth_date), "%s", a[3]);
    if (gender_parse(a[4], &p->gender) == -1)
        return jerr_set(err, JERR_INVALID, "gender", "bad gender '%s'", a[4]);
    return 0;
}

static int write_issued(const char *dir, const struct issued_cert *ic, struct jerr *err)
{
    char path[PATH_MAX];
    const unsigned char *p = ic->der;
    X509 *cert = d2i_X509(NULL, &p, (long)ic->der_len);
    int rc = -1;
    snprintf(path, sizeof(path), "%s/%s.pem", dir, ic->rec.serial);
    if (cert == NULL || testpem_write(path, cert, NULL) == -1) {
        jerr_set(err, JERR_IO, NULL, "cannot write %s", path);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s.key", dir, ic->rec.serial);
    if (ic->key != NULL && testpem_write(path, NULL, ic->key) == -1) {
        jerr_set(err, JERR_IO, NULL, "cannot write %s", path);
        goto out;
    }
    rc = 0;
out:
    X509_free(cert);
    return rc;
}

static int run(struct lifecycle_ctx *ctx, const char *cmd, const char *const *a, size_t n,
               struct jerr *err)
{
    struct serial_list l1 = {0}, l2 = {0};
    int rc = -1;
#define NEED(k)                                                                                    \
    if (n != (k))                                                                                  \
        return jerr_set(err, JERR_INVALID, cmd, "%s takes %d arguments", cmd, (k));

    if (strcmp(cmd, "person-add") == 0) {
        NEED(5);
        struct person p;
        rc = fill_person(&p, a, err);
        if (rc == 0)
            rc = lifecycle_person_register(ctx, &p, err);
    } else if (strcmp(cmd, "card-add") == 0) {
        if (n != 4 && n != 6)
            return jerr_set(err, JERR_INVALID, cmd, "card-add takes 4 or 6 arguments");
        struct card c = {0};
        snprintf(c.id, sizeof(c.id), "%s", a[0]);
        snprintf(c.person_id, sizeof(c.person_id), "%s", a[1]);
        if (card_type_parse(a[2], &c.type) == -1)
            return jerr_set(err, JERR_INVALID, "type", "bad card type '%s'", a[2]);
        snprintf(c.expiry, sizeof(c.expiry), "%s", a[3]);
        if (n == 6) {
            snprintf(c.prefecture, sizeof(c.prefecture), "%s", a[4]);
            snprintf(c.municipality, sizeof(c.municipality), "%s", a[5]);
        }
        rc = lifecycle_card_register(ctx, &c, NULL, err);
    } else if (strcmp(cmd, "issue") == 0) {
        NEED(3);
        int which = strcmp(a[1], "sign") == 0   ? ISSUE_SIGN
                    : strcmp(a[1], "auth") == 0 ? ISSUE_AUTH
                    : strcmp(a[1], "both") == 0 ? ISSUE_BOTH
                                                : 0;
        struct issue_result res;
        rc = lifecycle_issue(ctx, a[0], which, NULL, &res, err);
        if (rc == 0) {
            for (size_t i = 0; rc == 0 && i < res.count; i++) {
                rc = write_issued(a[2], &res.certs[i], err);
                printf("issued %s %s\n", ca_kind_name(res.certs[i].rec.ca),
                       res.certs[i].rec.serial);
            }
            print_list("superseded", &res.superseded);
            issue_result_free(&res);
        }
    } else if (strcmp(cmd, "change-info") == 0) {
        NEED(5);
        struct person p;
        rc = fill_person(&p, a, err);
        if (rc == 0 && (rc = lifecycle_basic_info_change(ctx, &p, NULL, &l1, err)) == 0)
            print_list("revoked", &l1);
    } else if (strcmp(cmd, "hold") == 0) {
        NEED(1);
        if ((rc = lifecycle_hold(ctx, a[0], &l1, err)) == 0)
            print_list("held", &l1);
    } else if (strcmp(cmd, "release") == 0) {
        NEED(1);
        if ((rc = lifecycle_release(ctx, a[0], &l1, &l2, err)) == 0) {
            print_list("released", &l1);
            print_list("still-held", &l2);
        }
    } else if (strcmp(cmd, "return") == 0) {
        NEED(1);
        if ((rc = lifecycle_card_return(ctx, a[0], &l1, err)) == 0)
            print_list("revoked", &l1);
    } else if (strcmp(cmd, "death") == 0) {
        NEED(1);
        if ((rc = lifecycle_death(ctx, a[0], &l1, err)) == 0)
            print_list("revoked", &l1);
    } else if (strcmp(cmd, "revoke") == 0) {
        NEED(2);
        int reason;
        if (crl_reason_parse(a[1], &reason) == -1)
            return jerr_set(err, JERR_INVALID, "reason", "unknown reason '%s'", a[1]);
        if ((rc = lifecycle_revoke(ctx, a[0], reason, err)) == 0)
            printf("revoked %s\n", a[0]);
    } else {
        return jerr_set(err, JERR_INVALID, cmd, "unknown command '%s'", cmd);
    }
#undef NEED
    serial_list_free(&l1);
    serial_list_free(&l2);
    return rc;
}

int main(int argc, char **argv)
{
    struct cliargs args;
    struct jerr err = {0};
    struct jpki_config *cfg = NULL;
    struct pki *pki = NULL;
    struct store *st = NULL;
    int status = 1;

    if (cliargs_parse(argc, argv, 1, &args, &err) == -1 || args.positional_count == 0) {
        fprintf(stderr, "jpki_testdrv: %s\n", err.msg[0] ? err.msg : "no command");
        return 2;
    }
    if (jclock_init_from_env() == -1) {
        fprintf(stderr, "jpki_testdrv: bad JPKI_FAKE_NOW\n");
        return 2;
    }
    /* The CA keys are all that lifecycle events use (issuance signs with them; the rest only
     * writes the registry): the OCSP signers, the audit, relying-party and card keys stay
     * encrypted, sparing an scrypt derivation each at every call. */
    pki = cliargs_open_pki(&args, PKI_KEYS_CA, &cfg, &err);
    if (pki != NULL)
        st = pki_store_open(pki, &err);
    if (st != NULL) {
        struct lifecycle_ctx ctx = {.pki = pki, .st = st, .actor = "testdrv"};
        if (run(&ctx, args.positional[0], args.positional + 1, args.positional_count - 1, &err) ==
            0)
            status = 0;
    }
    if (status != 0) {
        fprintf(stderr, "jpki_testdrv: %s: %s: %s\n", jerr_code_name(err.code), err.field, err.msg);
        status = err.code == JERR_REFUSED ? 3 : err.code == JERR_NOT_FOUND ? 4 : 1;
    }
    store_close(st);
    pki_free(pki);
    config_free(cfg);
    return status;
}
