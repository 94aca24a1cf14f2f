/*
 * store_schema: the registry's schema (DESIGN §7) as numbered migrations, each applied in its
 * own transaction at open and recorded in schema_version. A database whose version is newer
 * than this code is refused rather than guessed at. The SQL of the tables' rows lives in the
 * repositories (store_<repository>.c); this file only creates and changes tables.
 */
#include "ca/store_int.h"

#include "base/jclock.h"

/* The schema. Append new migrations; never edit one that has shipped. */
static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL);"
    "CREATE TABLE persons ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  birth_date TEXT NOT NULL,"
    "  gender INTEGER NOT NULL CHECK (gender IN (1, 2, 3)),"
    "  deceased INTEGER NOT NULL CHECK (deceased IN (0, 1)),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE cards ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  person_id TEXT NOT NULL REFERENCES persons(id),"
    "  type INTEGER NOT NULL CHECK (type IN (0, 1)),"
    "  expiry TEXT NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
    "  prefecture TEXT NOT NULL DEFAULT '',"
    "  municipality TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX cards_by_person ON cards(person_id);"
    /* A rowid table rather than WITHOUT ROWID: rows carry ~1-2 KB of DER, far above the size
     * for which SQLite recommends WITHOUT ROWID, and the rowid orders same-second issuances. */
    "CREATE TABLE certificates ("
    "  serial TEXT PRIMARY KEY NOT NULL,"
    "  ca INTEGER NOT NULL CHECK (ca IN (0, 1)),"
    "  card_id TEXT NOT NULL REFERENCES cards(id),"
    "  person_id TEXT NOT NULL REFERENCES persons(id),"
    "  subject_cn TEXT NOT NULL,"
    "  not_before INTEGER NOT NULL,"
    "  not_after INTEGER NOT NULL,"
    "  status INTEGER NOT NULL CHECK (status IN (0, 1, 2)),"
    "  reason INTEGER,"
    "  status_changed_at INTEGER,"
    "  invalidity_date INTEGER,"
    "  partition INTEGER NOT NULL CHECK (partition >= 0),"
    "  issued_at INTEGER NOT NULL,"
    "  der BLOB NOT NULL);"
    "CREATE INDEX certs_by_card ON certificates(card_id, issued_at);"
    "CREATE INDEX certs_by_person ON certificates(person_id, issued_at);"
    /* DESIGN §5: the CRL is streamed from this partial index; good certificates (the vast
     * majority) are not in it at all. It covers every column the CRL query reads, so a CRL
     * of millions of entries never touches the table's pages (8x faster at 1 M). */
    "CREATE INDEX certs_crl ON certificates(ca, partition, not_after, serial, "
    "status_changed_at, reason, invalidity_date) WHERE status != 0;"
    "CREATE INDEX certs_expiring ON certificates(status, not_after);"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL,"
    "  hash BLOB NOT NULL);"
    "CREATE INDEX events_by_target ON events(target);"
    "CREATE TABLE crl_numbers ("
    "  ca INTEGER NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  number INTEGER NOT NULL,"
    "  PRIMARY KEY (ca, partition));"
    "CREATE TABLE crls ("
    "  ca INTEGER NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  number INTEGER NOT NULL,"
    "  this_update INTEGER NOT NULL,"
    "  next_update INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  published_at INTEGER NOT NULL,"
    "  PRIMARY KEY (ca, partition, number));"
    "CREATE TABLE crl_state ("
    "  ca INTEGER PRIMARY KEY,"
    "  change_seq INTEGER NOT NULL DEFAULT 0,"
    "  changed_at INTEGER,"
    "  published_seq INTEGER NOT NULL DEFAULT 0,"
    "  published_at INTEGER);"
    "INSERT INTO crl_state(ca) VALUES (0), (1);"
    "CREATE TABLE ocsp_responses ("
    "  serial TEXT NOT NULL REFERENCES certificates(serial),"
    "  certid_hash INTEGER NOT NULL CHECK (certid_hash IN (0, 1)),"
    "  ca INTEGER NOT NULL,"
    "  der BLOB NOT NULL,"
    "  this_update INTEGER NOT NULL,"
    "  next_update INTEGER NOT NULL,"
    "  stale INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (serial, certid_hash));",
    /* 2: operator credentials created through the API (docs/API.md, POST /v1/operators).
     * A token is stored only as its SHA-256 (hex); role is enum operator_role. */
    "CREATE TABLE operators ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  role INTEGER NOT NULL CHECK (role IN (0, 1, 2, 3)),"
    "  token_sha256 TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)));",
    /* 3: batches and their rows (DESIGN §6, docs/BATCH.md). state: 0 running, 1 finished;
     * row state: enum batch_row_state. A row's request is kept only while it is pending. */
    "CREATE TABLE batches ("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL UNIQUE,"
    "  digest TEXT NOT NULL,"
    "  submitted_by TEXT NOT NULL,"
    "  submitted_at INTEGER NOT NULL,"
    "  total INTEGER NOT NULL CHECK (total >= 0),"
    "  accepted INTEGER NOT NULL CHECK (accepted >= 0),"
    "  done_rows INTEGER NOT NULL DEFAULT 0,"
    "  failed_rows INTEGER NOT NULL DEFAULT 0,"
    "  state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1)),"
    "  finished_at INTEGER);"
    "CREATE TABLE batch_rows ("
    "  batch_id INTEGER NOT NULL REFERENCES batches(id),"
    "  row INTEGER NOT NULL CHECK (row >= 1),"
    "  key TEXT NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2, 3)),"
    "  request TEXT,"
    "  serials TEXT NOT NULL DEFAULT '',"
    "  error_code TEXT NOT NULL DEFAULT '',"
    "  error_field TEXT NOT NULL DEFAULT '',"
    "  error_message TEXT NOT NULL DEFAULT '',"
    "  finished_at INTEGER,"
    "  PRIMARY KEY (batch_id, row));"
    "CREATE INDEX batch_rows_pending ON batch_rows(batch_id, row) WHERE state = 0;",
    /* 4: online revocation requests of card holders (docs/CARD.md "Online revocation"): a
     * request id is accepted once (replay protection), recorded in the revocation's own
     * transaction, with the receipt given for it. */
    "CREATE TABLE holder_requests ("
    "  request_id TEXT PRIMARY KEY NOT NULL,"
    "  serial TEXT NOT NULL REFERENCES certificates(serial),"
    "  signer_serial TEXT NOT NULL REFERENCES certificates(serial),"
    "  receipt_id TEXT NOT NULL UNIQUE,"
    "  request_time INTEGER NOT NULL,"
    "  received_at INTEGER NOT NULL);",
    /* 5: change tracking of the pre-signed OCSP responses (DESIGN §5, §8) and claims on batch
     * rows (DESIGN §8: the rows of one batch run on several workers).
     * ocsp_dirty holds the certificates whose responses must be (re-)signed: a new certificate
     * and a status change write their mark in their own transaction, with a new changed_seq
     * (AUTOINCREMENT: never reused), so that the refresher reads a small indexed set rather
     * than every certificate. Certificates without a fresh SHA-1 response (a registry from
     * before this migration) are marked once, here. Ageing walks ocsp_responses_ageing.
     * batch_rows.claimed_until: the row is being worked on by a worker until then (NULL:
     * free); a claim only spares duplicate work, exactly-once stays with the row's state. */
    "CREATE TABLE ocsp_dirty ("
    "  changed_seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  serial TEXT NOT NULL UNIQUE REFERENCES certificates(serial),"
    "  ca INTEGER NOT NULL CHECK (ca IN (0, 1)));"
    "INSERT INTO ocsp_dirty(serial, ca) SELECT c.serial, c.ca FROM certificates c WHERE "
    "NOT EXISTS (SELECT 1 FROM ocsp_responses o WHERE o.serial = c.serial AND "
    "o.certid_hash = 0 AND o.stale = 0) OR EXISTS (SELECT 1 FROM ocsp_responses o WHERE "
    "o.serial = c.serial AND o.stale = 1) ORDER BY c.rowid;"
    "CREATE INDEX ocsp_responses_ageing ON ocsp_responses(next_update, serial);"
    "ALTER TABLE batch_rows ADD COLUMN claimed_until INTEGER;",
    /* 6: signed checkpoints of the audit log (ca/checkpoint.h). The DER is what counts; rows
     * and at are copies of its fields for the queries, checked against it when verified. */
    "CREATE TABLE audit_checkpoints ("
    "  id INTEGER PRIMARY KEY,"
    "  rows INTEGER NOT NULL CHECK (rows >= 0),"
    "  at INTEGER NOT NULL,"
    "  der BLOB NOT NULL);"
    "CREATE INDEX audit_checkpoints_by_rows ON audit_checkpoints(rows, id);",
    /* 7: the queue of publication to Redis (DESIGN §13, ca/store.h "Publication"): the serials
     * whose pre-signed responses the registry holds and Redis may not. Written in the
     * transaction that stores the responses, only by a node with publish.redis set; a serial
     * queued again gets a new seq (AUTOINCREMENT, never reused), so the publisher's clear of
     * an older seq leaves the newer entry. queued_ms: wall time of the queueing (lag). */
    "CREATE TABLE publish_queue ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  serial TEXT NOT NULL UNIQUE REFERENCES certificates(serial),"
    "  queued_ms INTEGER NOT NULL);",
    /* 8: delta CRLs (RFC 5280 §5.2.4, ca/crl.h). certificates.crl_seq: the CA's CRL change
     * counter (crl_state.change_seq) after the certificate's last status change, 0 = none
     * since this migration — a delta lists the certificates whose crl_seq is above what its
     * base CRL covers (crls.covers_seq, recorded for complete CRLs from now on; a CRL without
     * it is never a base, so older changes need no backfill). crls.base_number: the delta's
     * BaseCRLNumber, NULL for a complete or partition CRL. */
    "ALTER TABLE certificates ADD COLUMN crl_seq INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX certs_crl_delta ON certificates(ca, crl_seq) WHERE crl_seq > 0;"
    "ALTER TABLE crls ADD COLUMN covers_seq INTEGER;"
    "ALTER TABLE crls ADD COLUMN base_number INTEGER;"
    "CREATE INDEX crls_delta_base ON crls(ca, next_update) WHERE partition = -1 AND "
    "base_number IS NULL AND covers_seq IS NOT NULL;",
    /* 9: linkage (新旧紐付け, ca/linkage.h): which certificate superseded which at re-issuance
     * (one successor per certificate), and the holders' consents to a party learning their
     * basic information. Backfilled from what the registry tells: each certificate of a
     * person and CA is followed by the next one issued to that person for that CA. */
    "CREATE TABLE cert_links ("
    "  serial TEXT PRIMARY KEY NOT NULL REFERENCES certificates(serial),"
    "  superseded_by TEXT NOT NULL UNIQUE REFERENCES certificates(serial),"
    "  linked_at INTEGER NOT NULL,"
    "  cause TEXT NOT NULL CHECK (cause IN ('reissue', 'backfill')));"
    "INSERT INTO cert_links(serial, superseded_by, linked_at, cause) "
    "SELECT serial, next_serial, next_issued, 'backfill' FROM (SELECT serial, "
    "lead(serial) OVER w AS next_serial, lead(issued_at) OVER w AS next_issued "
    "FROM certificates WINDOW w AS (PARTITION BY person_id, ca ORDER BY issued_at, rowid)) "
    "WHERE next_serial IS NOT NULL;"
    "CREATE TABLE consents ("
    "  person_id TEXT NOT NULL REFERENCES persons(id),"
    "  party TEXT NOT NULL,"
    "  granted_at INTEGER NOT NULL,"
    "  granted_by TEXT NOT NULL,"
    "  PRIMARY KEY (person_id, party));",
    /* 10: relying parties (DESIGN §12, ca/rp.h): the registry of verifiers, their credentials
     * (a token's SHA-256, the serial of the client certificate of the relying-party CA) and
     * what they used: calls per day, CA and what was asked (0 OCSP, 1 CRL), and the distinct
     * certificates asked about per month. A deleted party stays (state 2) so that its usage
     * and its certificate's place on the relying-party CA's CRL stay; its id is not reused. */
    "CREATE TABLE relying_parties ("
    "  pk INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  kind INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),"
    "  contact TEXT NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
    "  token_sha256 TEXT UNIQUE,"
    "  cert_serial TEXT UNIQUE,"
    "  cert_not_after INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_usage_daily ("
    "  party INTEGER NOT NULL REFERENCES relying_parties(pk),"
    "  day TEXT NOT NULL,"
    "  ca INTEGER NOT NULL CHECK (ca IN (0, 1)),"
    "  what INTEGER NOT NULL CHECK (what IN (0, 1)),"
    "  calls INTEGER NOT NULL CHECK (calls >= 0),"
    "  PRIMARY KEY (party, day, ca, what)) WITHOUT ROWID;"
    "CREATE TABLE rp_usage_certs ("
    "  party INTEGER NOT NULL REFERENCES relying_parties(pk),"
    "  month TEXT NOT NULL,"
    "  ca INTEGER NOT NULL CHECK (ca IN (0, 1)),"
    "  serial TEXT NOT NULL,"
    "  PRIMARY KEY (party, month, ca, serial)) WITHOUT ROWID;",
    /* 11: CA generations (DESIGN §11, ca/pki.h). Each CA is a sequence of generations: a key,
     * its self-signed root, its OCSP signer, its CRL series; the newest issues. Keys are named
     * as the key store names them (keystore/signer.h: a file keys/<name>.key or a token object
     * whose URI is token/<name>.uri); files are relative to data_dir. state: enum ca_gen_state
     * (0 active, 1 issuing-stopped, 2 retired). Existing instances' keys become generation 1
     * (their algorithm is filled in from the key when the instance is next opened); every
     * certificate so far is of generation 1. The CRL index gains the generation: a CRL covers
     * one generation's certificates. */
    "CREATE TABLE ca_generations ("
    "  ca INTEGER NOT NULL CHECK (ca IN (0, 1)),"
    "  generation INTEGER NOT NULL CHECK (generation >= 1),"
    "  algorithm TEXT NOT NULL,"
    "  ca_key TEXT NOT NULL,"
    "  ocsp_key TEXT NOT NULL,"
    "  root_file TEXT NOT NULL,"
    "  ocsp_file TEXT NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),"
    "  created_at INTEGER NOT NULL,"
    "  retired_at INTEGER,"
    "  PRIMARY KEY (ca, generation));"
    "INSERT INTO ca_generations(ca, generation, algorithm, ca_key, ocsp_key, root_file, "
    "ocsp_file, created_at) VALUES "
    "(0, 1, '', 'sign-ca', 'sign-ocsp', 'certs/sign-ca.pem', 'certs/sign-ocsp.pem', 0),"
    "(1, 1, '', 'auth-ca', 'auth-ocsp', 'certs/auth-ca.pem', 'certs/auth-ocsp.pem', 0);"
    "ALTER TABLE certificates ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;"
    "DROP INDEX certs_crl;"
    "CREATE INDEX certs_crl ON certificates(ca, generation, partition, not_after, serial, "
    "status_changed_at, reason, invalidity_date) WHERE status != 0;",
    /* 12: the subscriber validity of each generation (DESIGN §11: the next card's generation
     * issues for 10 years, 5 under 18, while the current one issued for 5): recorded by
     * `jpkid rollover` (--validity-years, --validity-years-minor; default the configuration's
     * at the ceremony). NULL = the configuration's subscriber.validity_years /
     * validity_years_minor, read at each issuance: the generations recorded before (and
     * generation 1 of a new instance) keep following the configuration as they always did. */
    "ALTER TABLE ca_generations ADD COLUMN validity_years INTEGER "
    "CHECK (validity_years IS NULL OR validity_years BETWEEN 1 AND 10);"
    "ALTER TABLE ca_generations ADD COLUMN validity_years_minor INTEGER "
    "CHECK (validity_years_minor IS NULL OR validity_years_minor BETWEEN 1 AND 10);",
};
#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The applied schema version (0 for a new database). Runs inside the migration transaction. */
static int read_schema_version(struct store *st, int *version, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    int rc;

    if (store_exec(st,
                   "CREATE TABLE IF NOT EXISTS schema_version ("
                   "  version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                   "schema_version", err) == -1)
        return -1;
    rc = sqlite3_prepare_v2(st->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &s,
                            NULL);
    if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        store_fail_last(st, err, NULL, "schema_version");
        goto out;
    }
    *version = sqlite3_column_int(s, 0);
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

static int record_version(struct store *st, int version, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(
        st->db, "INSERT INTO schema_version(version, applied_at) VALUES (?1, ?2)", -1, &s, NULL);

    if (rc != SQLITE_OK) {
        store_fail(st, rc, err, NULL, "schema_version");
        goto out;
    }
    sqlite3_bind_int(s, 1, version);
    sqlite3_bind_int64(s, 2, (int64_t)jclock_now());
    ret = store_step_done(st, s, NULL, "schema_version", err);
out:
    sqlite3_finalize(s);
    return ret;
}

/* Applies every pending migration, each in its own IMMEDIATE transaction, re-reading the
 * version inside it so that two processes opening the same new registry do not both apply. */
int store_migrate(struct store *st, struct jerr *err)
{
    for (;;) {
        int version = 0;

        if (store_exec(st, "BEGIN IMMEDIATE", "begin migration", err) == -1)
            return -1;
        if (read_schema_version(st, &version, err) == -1)
            goto fail;
        if (version > MIGRATION_COUNT) {
            jerr_set(err, JERR_CONFIG, "schema_version",
                     "registry schema version %d is newer than this program (%d)", version,
                     MIGRATION_COUNT);
            goto fail;
        }
        if (version == MIGRATION_COUNT) {
            st->schema_version = version;
            return store_exec(st, "COMMIT", "commit", err);
        }
        if (store_exec(st, migrations[version], "migration", err) == -1 ||
            record_version(st, version + 1, err) == -1 ||
            store_exec(st, "COMMIT", "commit migration", err) == -1)
            goto fail;
    }
fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int store_schema_latest(void)
{
    return MIGRATION_COUNT;
}

int store_schema_version(struct store *st)
{
    return st->schema_version;
}
