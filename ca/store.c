/*
 * store: the registry (DESIGN §4, §5, §7). Owns every SQL statement of jpki and nothing else:
 * no rule is decided here, no certificate is parsed, no key is seen.
 *
 * Design notes:
 * - One struct store = one SQLite connection, used by one thread at a time. Statements are
 *   prepared once per connection (on first use) and reset + unbound after every use; SQL text
 *   is static, values are always bound, never formatted into SQL.
 * - The schema lives in `migrations` below: numbered scripts, each applied in its own
 *   transaction at open and recorded in schema_version. A database whose version is newer than
 *   this code is refused rather than guessed at.
 * - Enums are stored as their integer values (the values of ca/model.h and config/config.h,
 *   which are part of the on-disk format and must never be renumbered); "unknown" times and
 *   REASON_NONE are stored as NULL.
 * - CRL staleness is a change counter, not a timestamp: several status changes and a CRL can
 *   fall within one second, so comparing seconds would call a CRL fresh that missed a change.
 *   crl_state.change_seq grows with every status change of the CA; a CRL covers the changes up
 *   to the counter read when this connection started building it (store_crl_number_next or
 *   store_crl_foreach, whichever came first), and publishing it sets published_seq to that.
 *   Stale <=> change_seq > published_seq. Reading the counter before the rows errs on the side
 *   of "stale": a change that slips in between is reported stale even if the CRL caught it.
 * - OCSP change tracking follows the same idea per serial (migration 5): what must be signed
 *   is written down by the writer, in its transaction, never found by walking the
 *   certificates (0.4 s per walk at 100 000 certificates, 1.7 s at 1 M). A mark's
 *   changed_seq is an AUTOINCREMENT key, so a serial marked again while its responses were
 *   being signed keeps a mark the refresher's clear does not match.
 */
#include "ca/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "ca/audit.h"
#include "base/jclock.h"

#define STORE_BUSY_TIMEOUT_MS 10000
/* A writer waiting for the write lock (busy_wait) wakes when a transaction of this process
 * ends, or after this long at most (a writer of another process: jpkid crl, jpkictl...). */
#define STORE_BUSY_POLL_MS 2
/* The longest registry setting name (meta.key), and so the longest key step_one_row names. */
#define META_KEY_MAX 128

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
};
#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define BATCH_COLUMNS                                                                              \
    "id, key, digest, submitted_by, submitted_at, total, accepted, done_rows, failed_rows, "       \
    "state, finished_at"
#define BATCH_ROW_COLUMNS                                                                          \
    "row, key, state, serials, error_code, error_field, error_message, finished_at"

#define CERT_COLUMNS                                                                               \
    "serial, ca, card_id, person_id, subject_cn, not_before, not_after, status, reason, "          \
    "status_changed_at, invalidity_date, partition, issued_at"

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_META_SET,
    S_META_GET,
    S_PERSON_INSERT,
    S_PERSON_GET,
    S_PERSON_UPDATE,
    S_PERSON_EXISTS,
    S_CARD_INSERT,
    S_CARD_GET,
    S_CARD_SET_STATE,
    S_CARD_SET_PLACES,
    S_CARD_EXISTS,
    S_CERT_INSERT,
    S_CERT_GET,
    S_CERT_GET_DER,
    S_SERIAL_EXISTS,
    S_CERT_SET_STATUS,
    S_OCSP_MARK_STALE,
    S_CRL_MARK_CHANGED,
    S_CERTS_OF_CARD,
    S_CERTS_OF_PERSON,
    S_CERTS_EXPIRING,
    S_CRL_ALL,
    S_CRL_PARTITION,
    S_CRL_CHANGE_SEQ,
    S_CRL_NUMBER_NEXT,
    S_CRL_INSERT,
    S_CRL_MARK_PUBLISHED,
    S_CRL_IS_STALE,
    S_OCSP_PUT,
    S_OCSP_PUT_SIGNED,
    S_OCSP_GET,
    S_OCSP_DIRTY_MARK,
    S_OCSP_DIRTY,
    S_OCSP_DIRTY_CLEAR,
    S_OCSP_AGEING,
    S_OCSP_DELETE,
    S_BATCH_CLAIM,
    S_BATCH_UNCLAIM,
    S_BATCH_CLAIMS_RELEASE,
    S_AUDIT_LAST,
    S_AUDIT_INSERT,
    S_AUDIT_ALL,
    S_AUDIT_TARGET,
    S_CARDS_OF_PERSON,
    S_OPERATOR_INSERT,
    S_OPERATOR_GET,
    S_OPERATOR_BY_TOKEN,
    S_BATCH_INSERT,
    S_BATCH_GET,
    S_BATCH_BY_KEY,
    S_BATCH_ROW_INSERT,
    S_BATCH_ROW_GET,
    S_BATCH_NEXT_PENDING,
    S_BATCH_ROW_FINISH,
    S_BATCH_COUNT,
    S_BATCH_FINISH,
    S_BATCH_ROWS,
    S_BATCH_ROWS_STATE,
    S_BATCHES_RUNNING,
    S_BATCH_TOTALS,
    S_HOLDER_REQUEST_INSERT,
    S_HOLDER_REQUEST_EXISTS,
    S_AUDIT_PAGE,
    S_CHECKPOINT_INSERT,
    S_CHECKPOINT_LAST,
    S_CHECKPOINT_ALL,
    S_OPERATOR_LIST,
    S_OPERATOR_DISABLE,
    S_OPERATOR_SET_TOKEN,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_META_SET] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_PERSON_INSERT] = "INSERT INTO persons(id, name, address, birth_date, gender, deceased, "
                        "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    [S_PERSON_GET] = "SELECT id, name, address, birth_date, gender, deceased FROM persons "
                     "WHERE id = ?1",
    [S_PERSON_UPDATE] = "UPDATE persons SET name = ?2, address = ?3, birth_date = ?4, "
                        "gender = ?5, deceased = ?6, updated_at = ?7 WHERE id = ?1",
    [S_PERSON_EXISTS] = "SELECT 1 FROM persons WHERE id = ?1",
    [S_CARD_INSERT] = "INSERT INTO cards(id, person_id, type, expiry, state, prefecture, "
                      "municipality, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_CARD_GET] = "SELECT id, person_id, type, expiry, state, prefecture, municipality "
                   "FROM cards WHERE id = ?1",
    [S_CARD_SET_STATE] = "UPDATE cards SET state = ?2 WHERE id = ?1",
    [S_CARD_SET_PLACES] = "UPDATE cards SET prefecture = ?2, municipality = ?3 WHERE id = ?1",
    [S_CARD_EXISTS] = "SELECT 1 FROM cards WHERE id = ?1",
    [S_CERT_INSERT] = "INSERT INTO certificates(" CERT_COLUMNS ", der) VALUES "
                      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [S_CERT_GET] = "SELECT " CERT_COLUMNS " FROM certificates WHERE serial = ?1",
    [S_CERT_GET_DER] = "SELECT der FROM certificates WHERE serial = ?1",
    [S_SERIAL_EXISTS] = "SELECT 1 FROM certificates WHERE serial = ?1",
    [S_CERT_SET_STATUS] = "UPDATE certificates SET status = ?2, reason = ?3, "
                          "status_changed_at = ?4, invalidity_date = ?5 WHERE serial = ?1 "
                          "RETURNING ca",
    [S_OCSP_MARK_STALE] = "UPDATE ocsp_responses SET stale = 1 WHERE serial = ?1",
    [S_CRL_MARK_CHANGED] = "UPDATE crl_state SET change_seq = change_seq + 1, changed_at = ?2 "
                           "WHERE ca = ?1",
    /* Oldest first; the rowid breaks ties between certificates issued in the same second. */
    [S_CERTS_OF_CARD] = "SELECT " CERT_COLUMNS " FROM certificates WHERE card_id = ?1 "
                        "ORDER BY issued_at, rowid",
    [S_CERTS_OF_PERSON] = "SELECT " CERT_COLUMNS " FROM certificates WHERE person_id = ?1 "
                          "ORDER BY issued_at, rowid",
    [S_CERTS_EXPIRING] = "SELECT " CERT_COLUMNS " FROM certificates WHERE status = 0 AND "
                         "not_after >= ?1 AND not_after < ?2 ORDER BY not_after, serial "
                         "LIMIT ?3",
    /* `status != 0` is spelled exactly as in certs_crl so the planner can use that index.
     * RFC 5280 §4.1.2.5: notAfter is inclusive, so a certificate is still unexpired (and
     * stays on the CRL) at the very second of its notAfter. */
    [S_CRL_ALL] = "SELECT serial, status_changed_at, reason, invalidity_date FROM certificates "
                  "WHERE ca = ?1 AND status != 0 AND not_after >= ?2",
    [S_CRL_PARTITION] = "SELECT serial, status_changed_at, reason, invalidity_date "
                        "FROM certificates WHERE ca = ?1 AND partition = ?3 AND status != 0 "
                        "AND not_after >= ?2",
    [S_CRL_CHANGE_SEQ] = "SELECT change_seq FROM crl_state WHERE ca = ?1",
    [S_CRL_NUMBER_NEXT] = "INSERT INTO crl_numbers(ca, partition, number) VALUES (?1, ?2, 1) "
                          "ON CONFLICT(ca, partition) DO UPDATE SET number = number + 1 "
                          "RETURNING number",
    [S_CRL_INSERT] = "INSERT INTO crls(ca, partition, number, this_update, next_update, size, "
                     "published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_CRL_MARK_PUBLISHED] = "UPDATE crl_state SET published_seq = max(published_seq, ?2), "
                             "published_at = ?3 WHERE ca = ?1",
    [S_CRL_IS_STALE] = "SELECT change_seq > published_seq FROM crl_state WHERE ca = ?1",
    [S_OCSP_PUT] = "INSERT INTO ocsp_responses(serial, certid_hash, ca, der, this_update, "
                   "next_update, stale) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0) "
                   "ON CONFLICT(serial, certid_hash) DO UPDATE SET ca = excluded.ca, "
                   "der = excluded.der, this_update = excluded.this_update, "
                   "next_update = excluded.next_update, stale = 0",
    /* One statement, so the comparison with the registry and the write are atomic: the
     * response is fresh only if the status it was signed from is still the current one. */
    [S_OCSP_PUT_SIGNED] =
        "INSERT INTO ocsp_responses(serial, certid_hash, ca, der, this_update, next_update, "
        "stale) SELECT serial, ?2, ca, ?3, ?4, ?5, NOT (status = ?6 AND reason IS ?7 AND "
        "status_changed_at IS ?8) FROM certificates WHERE serial = ?1 "
        "ON CONFLICT(serial, certid_hash) DO UPDATE SET ca = excluded.ca, der = excluded.der, "
        "this_update = excluded.this_update, next_update = excluded.next_update, "
        "stale = excluded.stale RETURNING stale",
    [S_OCSP_GET] = "SELECT der, next_update, stale FROM ocsp_responses WHERE serial = ?1 AND "
                   "certid_hash = ?2",
    /* Migration 5: a new mark replaces the old one with a new changed_seq. */
    [S_OCSP_DIRTY_MARK] = "REPLACE INTO ocsp_dirty(serial, ca) VALUES (?1, ?2)",
    /* CROSS JOIN keeps the marks the outer loop (SQLite does not reorder it): marks in
     * changed_seq order by their key, each certificate by its key; certificates is never
     * scanned, so a pass costs the same at 1 M certificates as at 1 000. */
    [S_OCSP_DIRTY] = "SELECT d.changed_seq, d.serial, d.ca, c.not_after FROM ocsp_dirty d "
                     "CROSS JOIN certificates c ON c.serial = d.serial "
                     "WHERE d.changed_seq > ?1 ORDER BY d.changed_seq LIMIT ?2",
    [S_OCSP_DIRTY_CLEAR] = "DELETE FROM ocsp_dirty WHERE changed_seq = ?2 AND serial = ?1",
    /* The ageing responses from ocsp_responses_ageing, from a (next_update, serial) position. */
    [S_OCSP_AGEING] = "SELECT o.serial, o.ca, c.not_after, o.next_update FROM ocsp_responses o "
                      "CROSS JOIN certificates c ON c.serial = o.serial "
                      "WHERE o.next_update < ?1 AND (o.next_update, o.serial) > (?2, ?3) "
                      "ORDER BY o.next_update, o.serial LIMIT ?4",
    [S_OCSP_DELETE] = "DELETE FROM ocsp_responses WHERE serial = ?1",
    /* One statement: the choice and the claim are one write, so two connections never claim
     * the same row. `state = 0` as in batch_rows_pending, so that index serves the choice. */
    [S_BATCH_CLAIM] = "UPDATE batch_rows SET claimed_until = ?3 WHERE batch_id = ?1 AND row = "
                      "(SELECT row FROM batch_rows WHERE batch_id = ?1 AND state = 0 AND "
                      "(claimed_until IS NULL OR claimed_until < ?2) ORDER BY row LIMIT 1) "
                      "RETURNING " BATCH_ROW_COLUMNS ", request",
    [S_BATCH_UNCLAIM] = "UPDATE batch_rows SET claimed_until = NULL WHERE batch_id = ?1 AND "
                        "row = ?2 AND state = 0",
    [S_BATCH_CLAIMS_RELEASE] = "UPDATE batch_rows SET claimed_until = NULL WHERE batch_id = ?1 "
                               "AND state = 0 AND claimed_until IS NOT NULL",
    [S_AUDIT_LAST] = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
    [S_AUDIT_INSERT] = "INSERT INTO events(seq, at, actor, action, target, outcome, detail, "
                       "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_AUDIT_ALL] = "SELECT seq, at, actor, action, target, outcome, detail, prev_hash, hash "
                    "FROM events ORDER BY seq",
    [S_AUDIT_TARGET] = "SELECT seq, at, actor, action, target, outcome, detail FROM events "
                       "WHERE target = ?1 ORDER BY seq",
    [S_CARDS_OF_PERSON] = "SELECT id, person_id, type, expiry, state, prefecture, municipality "
                          "FROM cards WHERE person_id = ?1 ORDER BY created_at, rowid",
    [S_OPERATOR_INSERT] = "INSERT INTO operators(name, role, token_sha256, created_at, "
                          "created_by, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_OPERATOR_GET] = "SELECT name, role, token_sha256, created_at, created_by, disabled "
                       "FROM operators WHERE name = ?1",
    [S_OPERATOR_BY_TOKEN] = "SELECT name, role, token_sha256, created_at, created_by, disabled "
                            "FROM operators WHERE token_sha256 = ?1",
    [S_BATCH_INSERT] = "INSERT INTO batches(key, digest, submitted_by, submitted_at, total, "
                       "accepted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_BATCH_GET] = "SELECT " BATCH_COLUMNS " FROM batches WHERE id = ?1",
    [S_BATCH_BY_KEY] = "SELECT " BATCH_COLUMNS " FROM batches WHERE key = ?1",
    [S_BATCH_ROW_INSERT] = "INSERT INTO batch_rows(batch_id, row, key, state, request, "
                           "error_code, error_field, error_message, finished_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_BATCH_ROW_GET] = "SELECT " BATCH_ROW_COLUMNS " FROM batch_rows WHERE batch_id = ?1 "
                        "AND row = ?2",
    /* `state = 0` as in batch_rows_pending, so that index serves it. */
    [S_BATCH_NEXT_PENDING] = "SELECT " BATCH_ROW_COLUMNS ", request FROM batch_rows "
                             "WHERE batch_id = ?1 AND state = 0 ORDER BY row LIMIT 1",
    [S_BATCH_ROW_FINISH] = "UPDATE batch_rows SET state = ?3, serials = ?4, error_code = ?5, "
                           "error_field = ?6, error_message = ?7, finished_at = ?8, "
                           "request = NULL, claimed_until = NULL "
                           "WHERE batch_id = ?1 AND row = ?2 AND state = 0",
    [S_BATCH_COUNT] = "UPDATE batches SET done_rows = done_rows + ?2, "
                      "failed_rows = failed_rows + ?3 WHERE id = ?1",
    [S_BATCH_FINISH] = "UPDATE batches SET state = 1, finished_at = ?2 WHERE id = ?1 AND "
                       "state = 0 AND done_rows + failed_rows >= total",
    [S_BATCH_ROWS] = "SELECT " BATCH_ROW_COLUMNS " FROM batch_rows WHERE batch_id = ?1 AND "
                     "row > ?2 ORDER BY row LIMIT ?3",
    [S_BATCH_ROWS_STATE] = "SELECT " BATCH_ROW_COLUMNS " FROM batch_rows WHERE batch_id = ?1 "
                           "AND row > ?2 AND state = ?4 ORDER BY row LIMIT ?3",
    [S_BATCHES_RUNNING] = "SELECT " BATCH_COLUMNS " FROM batches WHERE state = 0 ORDER BY id",
    [S_BATCH_TOTALS] = "SELECT coalesce(sum(done_rows), 0), coalesce(sum(failed_rows), 0), "
                       "coalesce(sum(total - done_rows - failed_rows), 0) FROM batches",
    [S_HOLDER_REQUEST_INSERT] = "INSERT INTO holder_requests(request_id, serial, signer_serial, "
                                "receipt_id, request_time, received_at) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_HOLDER_REQUEST_EXISTS] = "SELECT 1 FROM holder_requests WHERE request_id = ?1",
    [S_AUDIT_PAGE] = "SELECT seq, at, actor, action, target, outcome, detail, prev_hash, hash "
                     "FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [S_CHECKPOINT_INSERT] = "INSERT INTO audit_checkpoints(rows, at, der) VALUES (?1, ?2, ?3)",
    [S_CHECKPOINT_LAST] = "SELECT rows, der FROM audit_checkpoints ORDER BY rows DESC, id DESC "
                          "LIMIT 1",
    [S_CHECKPOINT_ALL] = "SELECT rows, at, der FROM audit_checkpoints ORDER BY rows, id",
    [S_OPERATOR_LIST] = "SELECT name, role, token_sha256, created_at, created_by, disabled "
                        "FROM operators ORDER BY name",
    [S_OPERATOR_DISABLE] = "UPDATE operators SET disabled = 1 WHERE name = ?1",
    [S_OPERATOR_SET_TOKEN] = "UPDATE operators SET token_sha256 = ?2 WHERE name = ?1",
};

/* What this connection knows about the CRL it is building for one CA (see the file comment). */
struct crl_snapshot {
    bool valid;
    int partition;
    int64_t change_seq;
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];
    int schema_version;
    struct crl_snapshot crl_snap[CA_KIND_COUNT];
    unsigned long busy_seen; /* tx_ends as busy_wait last saw it */
    long long busy_since_ms; /* when the current wait for a lock began */
};

/* ---- waiting for the write lock ----------------------------------------------------------
 * Every worker has a connection of its own, and BEGIN IMMEDIATE makes one writer at a time.
 * SQLite's own busy handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10 ... 100 ms between
 * attempts, so a worker that found the lock taken slept far longer than the commit it waited
 * for (≈ 0.3 ms with its fsync): issuance spent most of its time asleep (DESIGN §8). Here a
 * waiter sleeps on a condition variable that the end of every transaction of the process
 * signals, and tries again at once; the same 10 s bound applies. */
static pthread_mutex_t tx_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tx_cv; /* CLOCK_MONOTONIC; set up once by tx_cv_init */
static pthread_once_t tx_cv_once = PTHREAD_ONCE_INIT;
static unsigned long tx_ends; /* transactions ended in this process, under tx_mu */

static void tx_cv_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&tx_cv, &a);
    pthread_condattr_destroy(&a);
}

/* The end of a transaction (commit or rollback): wakes the writers waiting in busy_wait. */
static void tx_ended(void)
{
    pthread_once(&tx_cv_once, tx_cv_init);
    pthread_mutex_lock(&tx_mu);
    tx_ends++;
    pthread_cond_broadcast(&tx_cv);
    pthread_mutex_unlock(&tx_mu);
}

/* sqlite3_busy_handler: 1 = try again, 0 = give up (SQLITE_BUSY). A transaction that ended
 * since the last look (store_begin took one) means try again now. */
static int busy_wait(void *arg, int count)
{
    struct store *st = arg;
    long long now = jclock_mono_ms();

    if (count == 0)
        st->busy_since_ms = now;
    if (now - st->busy_since_ms >= STORE_BUSY_TIMEOUT_MS)
        return 0;
    pthread_once(&tx_cv_once, tx_cv_init);
    pthread_mutex_lock(&tx_mu);
    if (tx_ends == st->busy_seen) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += STORE_BUSY_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (tx_ends == st->busy_seen &&
               pthread_cond_timedwait(&tx_cv, &tx_mu, &until) == 0) {
        }
    }
    st->busy_seen = tx_ends;
    pthread_mutex_unlock(&tx_mu);
    return 1;
}

/* What busy_wait compares with: read before each attempt at the lock. */
static void busy_look(struct store *st)
{
    pthread_mutex_lock(&tx_mu);
    st->busy_seen = tx_ends;
    pthread_mutex_unlock(&tx_mu);
}

/* ---- errors ---------------------------------------------------------------------------- */

/* Maps an SQLite result to a jerr: a busy, locked, full, read-only or failing disk is a
 * temporary refusal (503); anything else is an I/O failure. */
static int db_fail(struct store *st, int rc, struct jerr *err, const char *field, const char *what)
{
    int code;

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
        code = JERR_UNAVAILABLE;
        break;
    default:
        code = JERR_IO;
        break;
    }
    return jerr_set(err, code, field, "registry: %s: %s", what,
                    st != NULL && st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
}

static bool is_unique_violation(int rc)
{
    return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE;
}

/* An identifier or serial for a message: outside bytes are escaped (STYLE "Errors"). */
static const char *esc(char *buf, size_t size, const char *s)
{
    jerr_escape(buf, size, s, strlen(s));
    return buf;
}

/* ---- statements ------------------------------------------------------------------------ */

/* The cached statement `id`, prepared on first use. A statement still stepping (a foreach
 * whose callback re-enters the same query) is refused rather than reset under its caller. */
static sqlite3_stmt *stmt_get(struct store *st, enum stmt_id id, struct jerr *err)
{
    sqlite3_stmt *s = st->stmts[id];

    if (s == NULL) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            db_fail(st, rc, err, NULL, "prepare");
            st->stmts[id] = NULL;
            return NULL;
        }
        s = st->stmts[id];
    } else if (sqlite3_stmt_busy(s)) {
        jerr_set(err, JERR_INTERNAL, NULL, "registry: statement %d re-entered", (int)id);
        return NULL;
    }
    return s;
}

static void stmt_done(sqlite3_stmt *s)
{
    if (s != NULL) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* Binds a NUL-terminated text held in a fixed array of `size` bytes; an unterminated array is
 * refused (JERR_INVALID naming `field`). */
static int bind_fixed(sqlite3_stmt *s, int idx, const char *text, size_t size, const char *field,
                      struct jerr *err)
{
    size_t len = strnlen(text, size);

    if (len == size)
        return jerr_set(err, JERR_INVALID, field, "%s is not terminated", field);
    if (sqlite3_bind_text(s, idx, text, (int)len, SQLITE_TRANSIENT) != SQLITE_OK)
        return jerr_set(err, JERR_INTERNAL, field, "registry: cannot bind %s", field);
    return 0;
}

/* Binds a caller's C string (bounded by `max` bytes). */
static int bind_str(sqlite3_stmt *s, int idx, const char *text, size_t max, const char *field,
                    struct jerr *err)
{
    if (text == NULL)
        return jerr_set(err, JERR_INVALID, field, "%s missing", field);
    if (strnlen(text, max + 1) > max)
        return jerr_set(err, JERR_TOO_LARGE, field, "%s longer than %zu bytes", field, max);
    if (sqlite3_bind_text(s, idx, text, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        return jerr_set(err, JERR_INTERNAL, field, "registry: cannot bind %s", field);
    return 0;
}

/* Binds v, or NULL when v equals `null_value` (unknown time, REASON_NONE). */
static void bind_int_or_null(sqlite3_stmt *s, int idx, int64_t v, int64_t null_value)
{
    if (v == null_value)
        sqlite3_bind_null(s, idx);
    else
        sqlite3_bind_int64(s, idx, v);
}

static int64_t col_int_or(sqlite3_stmt *s, int i, int64_t null_value)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? null_value : sqlite3_column_int64(s, i);
}

/* Copies a text column into a fixed array; a value that does not fit means the registry was
 * written by something else than this code: refused, never truncated. */
static int col_copy(sqlite3_stmt *s, int i, char *out, size_t size, const char *field,
                    struct jerr *err)
{
    const unsigned char *text = sqlite3_column_text(s, i);
    int len = sqlite3_column_bytes(s, i);

    if (text == NULL) {
        if (sqlite3_column_type(s, i) != SQLITE_NULL)
            return jerr_set(err, JERR_INTERNAL, field, "registry: out of memory");
        out[0] = '\0';
        return 0;
    }
    if ((size_t)len >= size || memchr(text, '\0', (size_t)len) != NULL)
        return jerr_set(err, JERR_IO, field, "registry: stored %s does not fit", field);
    memcpy(out, text, (size_t)len);
    out[len] = '\0';
    return 0;
}

/* Steps a statement that returns no rows. */
static int step_done(struct store *st, sqlite3_stmt *s, const char *field, const char *what,
                     struct jerr *err)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    return db_fail(st, sqlite3_extended_errcode(st->db), err, field, what);
}

/* Runs a statement with no parameters and no result (BEGIN, COMMIT, ROLLBACK). */
static int run_simple(struct store *st, enum stmt_id id, const char *what, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    ret = step_done(st, s, NULL, what, err);
    stmt_done(s);
    return ret;
}

/* Steps `s` (its parameters bound) to the one row it looks up by `key`: 0 on that row, -1
 * with JERR_NOT_FOUND "no <noun> <key>" naming `field` when there is none, or with the
 * registry's error (`what` failed). */
static int step_one_row(struct store *st, sqlite3_stmt *s, const char *field, const char *noun,
                        const char *key, const char *what, struct jerr *err)
{
    char buf[META_KEY_MAX * 4 + 1];
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return jerr_set(err, JERR_NOT_FOUND, field, "no %s %s", noun, esc(buf, sizeof(buf), key));
    return db_fail(st, sqlite3_extended_errcode(st->db), err, field, what);
}

/* ---- transactions ---------------------------------------------------------------------- */

static bool in_transaction(struct store *st)
{
    return sqlite3_get_autocommit(st->db) == 0;
}

int store_begin(struct store *st, struct jerr *err)
{
    if (in_transaction(st))
        return jerr_set(err, JERR_INTERNAL, NULL, "registry: transaction already open");
    busy_look(st);
    return run_simple(st, S_BEGIN, "begin", err);
}

/* On failure the transaction stays open for the caller's store_rollback. */
int store_commit(struct store *st, struct jerr *err)
{
    if (!in_transaction(st))
        return jerr_set(err, JERR_INTERNAL, NULL, "registry: no transaction to commit");
    int rc = run_simple(st, S_COMMIT, "commit", err);
    if (rc == 0)
        tx_ended();
    return rc;
}

void store_rollback(struct store *st)
{
    if (st == NULL || !in_transaction(st))
        return;
    if (run_simple(st, S_ROLLBACK, "rollback", NULL) == -1)
        /* The prepared ROLLBACK could not run (e.g. out of memory): try the plain form so
         * that the connection never stays inside a failed transaction. */
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    tx_ended();
}

/* Opens a transaction for a multi-statement change unless the caller already has one. */
static int own_tx_begin(struct store *st, bool *own, struct jerr *err)
{
    *own = false;
    if (in_transaction(st))
        return 0;
    if (store_begin(st, err) == -1)
        return -1;
    *own = true;
    return 0;
}

/* Ends what own_tx_begin opened: commits on success (ret 0), rolls back otherwise. */
static int own_tx_end(struct store *st, bool own, int ret, struct jerr *err)
{
    if (!own)
        return ret;
    if (ret == 0 && store_commit(st, err) == 0)
        return 0;
    store_rollback(st);
    return -1;
}

/* ---- open / close / migrations --------------------------------------------------------- */

static int pragma_text(struct store *st, const char *sql, char *out, size_t size, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

    if (rc != SQLITE_OK) {
        db_fail(st, rc, err, NULL, sql);
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        db_fail(st, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, NULL, sql);
        goto out;
    }
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(s, 0));
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

static int exec_sql(struct store *st, const char *sql, const char *what, struct jerr *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, what);
    return 0;
}

/* The applied schema version (0 for a new database). Runs inside the migration transaction. */
static int read_schema_version(struct store *st, int *version, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    int rc;

    if (exec_sql(st,
                 "CREATE TABLE IF NOT EXISTS schema_version ("
                 "  version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                 "schema_version", err) == -1)
        return -1;
    rc = sqlite3_prepare_v2(st->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &s,
                            NULL);
    if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "schema_version");
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
        db_fail(st, rc, err, NULL, "schema_version");
        goto out;
    }
    sqlite3_bind_int(s, 1, version);
    sqlite3_bind_int64(s, 2, (int64_t)jclock_now());
    ret = step_done(st, s, NULL, "schema_version", err);
out:
    sqlite3_finalize(s);
    return ret;
}

/* Applies every pending migration, each in its own IMMEDIATE transaction, re-reading the
 * version inside it so that two processes opening the same new registry do not both apply. */
static int migrate(struct store *st, struct jerr *err)
{
    for (;;) {
        int version = 0;

        if (exec_sql(st, "BEGIN IMMEDIATE", "begin migration", err) == -1)
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
            return exec_sql(st, "COMMIT", "commit", err);
        }
        if (exec_sql(st, migrations[version], "migration", err) == -1 ||
            record_version(st, version + 1, err) == -1 ||
            exec_sql(st, "COMMIT", "commit migration", err) == -1)
            goto fail;
    }
fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* A new registry file is created 0600 before SQLite opens it (it holds personal data);
 * SQLite gives its -wal and -shm files the same mode. */
static int create_private_file(const char *path, struct jerr *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd == -1) {
        if (errno == EEXIST)
            return 0;
        return jerr_set(err, JERR_IO, "path", "cannot create the registry: %s", strerror(errno));
    }
    close(fd);
    return 0;
}

struct store *store_open(const char *path, bool create, struct jerr *err)
{
    struct store *st = NULL;
    struct stat sb;
    char mode[32];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc;

    if (path == NULL || path[0] == '\0') {
        jerr_set(err, JERR_INVALID, "path", "registry path missing");
        goto fail;
    }
    if (!create && stat(path, &sb) == -1) {
        if (errno == ENOENT)
            jerr_set(err, JERR_NOT_FOUND, "path", "no registry at this path");
        else
            jerr_set(err, JERR_IO, "path", "registry: %s", strerror(errno));
        goto fail;
    }
    /* SQLite alone says "unable to open database file" here: even reading a WAL registry
     * writes its -shm file. Say what is wrong. */
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
        jerr_set(err, JERR_IO, "path",
                 "registry: %s is on a read-only filesystem (the registry, its WAL and the "
                 "published CRLs are written there)",
                 path);
        goto fail;
    }
    if (create) {
        if (create_private_file(path, err) == -1)
            goto fail;
        flags |= SQLITE_OPEN_CREATE;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        db_fail(st, rc, err, "path", "open");
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if (sqlite3_busy_handler(st->db, busy_wait, st) != SQLITE_OK) {
        db_fail(st, sqlite3_errcode(st->db), err, NULL, "busy handler");
        goto fail;
    }
    /* DESIGN §7: WAL, synchronous=FULL (a status change is durable when reported done),
     * foreign keys enforced. journal_mode answers the mode it ended in: check it took. */
    if (pragma_text(st, "PRAGMA journal_mode=WAL", mode, sizeof(mode), err) == -1)
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        jerr_set(err, JERR_IO, "path", "registry: journal_mode is %s, not wal", mode);
        goto fail;
    }
    if (exec_sql(st, "PRAGMA synchronous=FULL", "synchronous", err) == -1 ||
        exec_sql(st, "PRAGMA foreign_keys=ON", "foreign_keys", err) == -1)
        goto fail;
    if (pragma_text(st, "PRAGMA foreign_keys", mode, sizeof(mode), err) == -1)
        goto fail;
    if (strcmp(mode, "1") != 0) {
        jerr_set(err, JERR_IO, NULL, "registry: foreign keys could not be enabled");
        goto fail;
    }
    /* Secrets pass through the registry (a batch row's passwords while it is pending,
     * docs/BATCH.md): what a statement deletes or overwrites is zeroed in the file, not left in
     * free space. SQLite's pragma is per connection, so every connection sets it. */
    if (pragma_text(st, "PRAGMA secure_delete=ON", mode, sizeof(mode), err) == -1)
        goto fail;
    if (strcmp(mode, "1") != 0) {
        jerr_set(err, JERR_IO, NULL, "registry: secure_delete could not be enabled");
        goto fail;
    }
    if (migrate(st, err) == -1)
        goto fail;
    return st;
fail:
    store_close(st);
    return NULL;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    sqlite3_close(st->db);
    free(st);
}

int store_wal_truncate(struct store *st, struct jerr *err)
{
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc == SQLITE_BUSY)
        return jerr_set(err, JERR_UNAVAILABLE, NULL,
                        "registry: the WAL was not truncated (other connections were using it)");
    if (rc != SQLITE_OK)
        return db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "wal checkpoint");
    return 0;
}

int store_schema_latest(void)
{
    return MIGRATION_COUNT;
}

int store_schema_version(struct store *st)
{
    return st->schema_version;
}

/* ---- meta ------------------------------------------------------------------------------ */

#define META_VALUE_MAX 4096

int store_meta_set(struct store *st, const char *key, const char *value, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_META_SET, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, key, META_KEY_MAX, "key", err) == -1 ||
        bind_str(s, 2, value, META_VALUE_MAX, "value", err) == -1)
        goto out;
    ret = step_done(st, s, "key", "meta", err);
out:
    stmt_done(s);
    return ret;
}

int store_meta_get(struct store *st, const char *key, char *out, size_t size, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_META_GET, err);
    char buf[META_KEY_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, key, META_KEY_MAX, "key", err) == -1)
        goto out;
    if (step_one_row(st, s, "key", "registry setting", key, "meta", err) == -1)
        goto out;
    if ((size_t)sqlite3_column_bytes(s, 0) >= size) {
        jerr_set(err, JERR_TOO_LARGE, "key", "registry setting %s does not fit",
                 esc(buf, sizeof(buf), key));
        goto out;
    }
    ret = col_copy(s, 0, out, size, "key", err);
out:
    stmt_done(s);
    return ret;
}

/* ---- persons --------------------------------------------------------------------------- */

static int bind_person(sqlite3_stmt *s, const struct person *p, struct jerr *err)
{
    if (bind_fixed(s, 1, p->id, sizeof(p->id), "id", err) == -1 ||
        bind_fixed(s, 2, p->name, sizeof(p->name), "name", err) == -1 ||
        bind_fixed(s, 3, p->address, sizeof(p->address), "address", err) == -1 ||
        bind_fixed(s, 4, p->birth_date, sizeof(p->birth_date), "birth_date", err) == -1)
        return -1;
    if (p->gender < GENDER_MALE || p->gender > GENDER_UNSTATED)
        return jerr_set(err, JERR_INVALID, "gender", "unknown gender code %d", (int)p->gender);
    sqlite3_bind_int(s, 5, (int)p->gender);
    sqlite3_bind_int(s, 6, p->deceased ? 1 : 0);
    sqlite3_bind_int64(s, 7, (int64_t)jclock_now());
    return 0;
}

int store_person_insert(struct store *st, const struct person *p, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_PERSON_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_person(s, p, err) == -1)
        goto out;
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (is_unique_violation(rc))
            jerr_set(err, JERR_CONFLICT, "id", "person %s already exists",
                     esc(buf, sizeof(buf), p->id));
        else
            db_fail(st, rc, err, "id", "insert person");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_person_get(struct store *st, const char *id, struct person *out, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_PERSON_GET, err);
    struct person p;
    int ret = -1;

    if (s == NULL)
        return -1;
    memset(&p, 0, sizeof(p));
    if (bind_str(s, 1, id, JPKI_ID_MAX, "person_id", err) == -1)
        goto out;
    if (step_one_row(st, s, "person_id", "person", id, "get person", err) == -1)
        goto out;
    if (col_copy(s, 0, p.id, sizeof(p.id), "id", err) == -1 ||
        col_copy(s, 1, p.name, sizeof(p.name), "name", err) == -1 ||
        col_copy(s, 2, p.address, sizeof(p.address), "address", err) == -1 ||
        col_copy(s, 3, p.birth_date, sizeof(p.birth_date), "birth_date", err) == -1)
        goto out;
    p.gender = (enum gender)sqlite3_column_int(s, 4);
    p.deceased = sqlite3_column_int(s, 5) != 0;
    *out = p;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_person_update(struct store *st, const struct person *p, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_PERSON_UPDATE, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_person(s, p, err) == -1 || step_done(st, s, "person_id", "update person", err) == -1)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        jerr_set(err, JERR_NOT_FOUND, "person_id", "no person %s", esc(buf, sizeof(buf), p->id));
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* ---- cards ----------------------------------------------------------------------------- */

int store_card_insert(struct store *st, const struct card *c, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CARD_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_fixed(s, 1, c->id, sizeof(c->id), "id", err) == -1 ||
        bind_fixed(s, 2, c->person_id, sizeof(c->person_id), "person_id", err) == -1 ||
        bind_fixed(s, 4, c->expiry, sizeof(c->expiry), "expiry", err) == -1 ||
        bind_fixed(s, 6, c->prefecture, sizeof(c->prefecture), "prefecture", err) == -1 ||
        bind_fixed(s, 7, c->municipality, sizeof(c->municipality), "municipality", err) == -1)
        goto out;
    if (c->type != CARD_MYNUMBER && c->type != CARD_JUKI) {
        jerr_set(err, JERR_INVALID, "type", "unknown card type %d", (int)c->type);
        goto out;
    }
    if (c->state < CARD_ACTIVE || c->state > CARD_RETURNED) {
        jerr_set(err, JERR_INVALID, "state", "unknown card state %d", (int)c->state);
        goto out;
    }
    sqlite3_bind_int(s, 3, (int)c->type);
    sqlite3_bind_int(s, 5, (int)c->state);
    sqlite3_bind_int64(s, 8, (int64_t)jclock_now());
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (is_unique_violation(rc))
            jerr_set(err, JERR_CONFLICT, "id", "card %s already exists",
                     esc(buf, sizeof(buf), c->id));
        else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            jerr_set(err, JERR_NOT_FOUND, "person_id", "no person %s",
                     esc(buf, sizeof(buf), c->person_id));
        else
            db_fail(st, rc, err, "id", "insert card");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_card_get(struct store *st, const char *id, struct card *out, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CARD_GET, err);
    struct card c;
    int ret = -1;

    if (s == NULL)
        return -1;
    memset(&c, 0, sizeof(c));
    if (bind_str(s, 1, id, JPKI_ID_MAX, "card_id", err) == -1)
        goto out;
    if (step_one_row(st, s, "card_id", "card", id, "get card", err) == -1)
        goto out;
    if (col_copy(s, 0, c.id, sizeof(c.id), "id", err) == -1 ||
        col_copy(s, 1, c.person_id, sizeof(c.person_id), "person_id", err) == -1 ||
        col_copy(s, 3, c.expiry, sizeof(c.expiry), "expiry", err) == -1 ||
        col_copy(s, 5, c.prefecture, sizeof(c.prefecture), "prefecture", err) == -1 ||
        col_copy(s, 6, c.municipality, sizeof(c.municipality), "municipality", err) == -1)
        goto out;
    c.type = (enum card_type)sqlite3_column_int(s, 2);
    c.state = (enum card_state)sqlite3_column_int(s, 4);
    *out = c;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_card_set_state(struct store *st, const char *id, enum card_state state, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CARD_SET_STATE, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (state < CARD_ACTIVE || state > CARD_RETURNED) {
        jerr_set(err, JERR_INVALID, "state", "unknown card state %d", (int)state);
        goto out;
    }
    if (bind_str(s, 1, id, JPKI_ID_MAX, "card_id", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, (int)state);
    if (step_done(st, s, "card_id", "set card state", err) == -1)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        jerr_set(err, JERR_NOT_FOUND, "card_id", "no card %s", esc(buf, sizeof(buf), id));
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_card_set_places(struct store *st, const struct card *c, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CARD_SET_PLACES, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_fixed(s, 1, c->id, sizeof(c->id), "card_id", err) == -1 ||
        bind_fixed(s, 2, c->prefecture, sizeof(c->prefecture), "prefecture", err) == -1 ||
        bind_fixed(s, 3, c->municipality, sizeof(c->municipality), "municipality", err) == -1 ||
        step_done(st, s, "card_id", "set card places", err) == -1)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        jerr_set(err, JERR_NOT_FOUND, "card_id", "no card %s", esc(buf, sizeof(buf), c->id));
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* ---- certificates ---------------------------------------------------------------------- */

static bool exists(struct store *st, enum stmt_id id, const char *key)
{
    sqlite3_stmt *s = stmt_get(st, id, NULL);
    bool found = false;

    if (s == NULL)
        return false;
    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT) == SQLITE_OK)
        found = sqlite3_step(s) == SQLITE_ROW;
    stmt_done(s);
    return found;
}

/* RFC 5280 §5.3.1: a held or revoked certificate has a reason (certificateHold for a hold);
 * a good one has none. */
static int check_status(enum cert_status status, int reason, struct jerr *err)
{
    if (status != CERT_GOOD && status != CERT_HOLD && status != CERT_REVOKED)
        return jerr_set(err, JERR_INVALID, "status", "unknown certificate status %d", (int)status);
    if (status == CERT_GOOD && reason != REASON_NONE)
        return jerr_set(err, JERR_INVALID, "reason", "a good certificate has no reason");
    if (status != CERT_GOOD && (reason < 0 || reason > 10 || reason == 7))
        return jerr_set(err, JERR_INVALID, "reason", "invalid CRL reason %d", reason);
    return 0;
}

/* Marks `serial` for the OCSP refresher inside the open transaction (migration 5). */
static int ocsp_mark_dirty(struct store *st, const char *serial, int ca, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_OCSP_DIRTY_MARK, err);
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, ca);
    ret = step_done(st, s, "serial", "mark OCSP due", err);
    stmt_done(s);
    return ret;
}

static int cert_insert_row(struct store *st, const struct cert_rec *rec, const unsigned char *der,
                           size_t der_len, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CERT_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (der == NULL || der_len == 0) {
        jerr_set(err, JERR_INVALID, "der", "certificate DER missing");
        goto out;
    }
    if (der_len > JPKI_CERT_DER_MAX) {
        jerr_set(err, JERR_TOO_LARGE, "der", "certificate of %zu bytes", der_len);
        goto out;
    }
    if (rec->ca != CA_SIGN && rec->ca != CA_AUTH) {
        jerr_set(err, JERR_INVALID, "ca", "unknown CA %d", (int)rec->ca);
        goto out;
    }
    if (rec->partition < 0) {
        jerr_set(err, JERR_INVALID, "partition", "negative CRL partition");
        goto out;
    }
    if (check_status(rec->status, rec->reason, err) == -1)
        goto out;
    if (bind_fixed(s, 1, rec->serial, sizeof(rec->serial), "serial", err) == -1 ||
        bind_fixed(s, 3, rec->card_id, sizeof(rec->card_id), "card_id", err) == -1 ||
        bind_fixed(s, 4, rec->person_id, sizeof(rec->person_id), "person_id", err) == -1 ||
        bind_fixed(s, 5, rec->subject_cn, sizeof(rec->subject_cn), "subject_cn", err) == -1)
        goto out;
    if (rec->serial[0] == '\0') {
        jerr_set(err, JERR_INVALID, "serial", "serial missing");
        goto out;
    }
    sqlite3_bind_int(s, 2, (int)rec->ca);
    sqlite3_bind_int64(s, 6, rec->not_before);
    sqlite3_bind_int64(s, 7, rec->not_after);
    sqlite3_bind_int(s, 8, (int)rec->status);
    bind_int_or_null(s, 9, rec->reason, REASON_NONE);
    bind_int_or_null(s, 10, rec->status_changed_at, 0);
    bind_int_or_null(s, 11, rec->invalidity_date, 0);
    sqlite3_bind_int(s, 12, rec->partition);
    sqlite3_bind_int64(s, 13, rec->issued_at);
    if (sqlite3_bind_blob(s, 14, der, (int)der_len, SQLITE_TRANSIENT) != SQLITE_OK) {
        jerr_set(err, JERR_INTERNAL, "der", "registry: cannot bind the DER");
        goto out;
    }
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (is_unique_violation(rc)) {
            jerr_set(err, JERR_CONFLICT, "serial", "serial %s already issued",
                     esc(buf, sizeof(buf), rec->serial));
        } else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            /* SQLite does not say which reference failed: look. */
            stmt_done(s);
            if (!exists(st, S_CARD_EXISTS, rec->card_id))
                jerr_set(err, JERR_NOT_FOUND, "card_id", "no card %s",
                         esc(buf, sizeof(buf), rec->card_id));
            else
                jerr_set(err, JERR_NOT_FOUND, "person_id", "no person %s",
                         esc(buf, sizeof(buf), rec->person_id));
        } else {
            db_fail(st, rc, err, "serial", "insert certificate");
        }
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_cert_insert(struct store *st, const struct cert_rec *rec, const unsigned char *der,
                      size_t der_len, struct jerr *err)
{
    bool own = false;
    int ret = -1;

    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    /* DESIGN §5: a new certificate has no pre-signed response yet; the refresher learns of it
     * from the registry, whoever inserted it. */
    if (cert_insert_row(st, rec, der, der_len, err) == 0 &&
        ocsp_mark_dirty(st, rec->serial, (int)rec->ca, err) == 0)
        ret = 0;
    return own_tx_end(st, own, ret, err);
}

int store_cert_insert_issued(struct store *st, const struct cert_rec *rec,
                             const unsigned char *der, size_t der_len, struct jerr *err)
{
    bool own = false;
    int ret = -1;

    if (rec != NULL && rec->status != CERT_GOOD)
        return store_cert_insert(st, rec, der, der_len, err);
    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    if (cert_insert_row(st, rec, der, der_len, err) == 0)
        ret = 0;
    return own_tx_end(st, own, ret, err);
}

/* Reads the CERT_COLUMNS of the current row. */
static int cert_from_row(sqlite3_stmt *s, struct cert_rec *out, struct jerr *err)
{
    struct cert_rec r;

    memset(&r, 0, sizeof(r));
    if (col_copy(s, 0, r.serial, sizeof(r.serial), "serial", err) == -1 ||
        col_copy(s, 2, r.card_id, sizeof(r.card_id), "card_id", err) == -1 ||
        col_copy(s, 3, r.person_id, sizeof(r.person_id), "person_id", err) == -1 ||
        col_copy(s, 4, r.subject_cn, sizeof(r.subject_cn), "subject_cn", err) == -1)
        return -1;
    r.ca = (enum ca_kind)sqlite3_column_int(s, 1);
    r.not_before = sqlite3_column_int64(s, 5);
    r.not_after = sqlite3_column_int64(s, 6);
    r.status = (enum cert_status)sqlite3_column_int(s, 7);
    r.reason = (int)col_int_or(s, 8, REASON_NONE);
    r.status_changed_at = col_int_or(s, 9, 0);
    r.invalidity_date = col_int_or(s, 10, 0);
    r.partition = sqlite3_column_int(s, 11);
    r.issued_at = sqlite3_column_int64(s, 12);
    *out = r;
    return 0;
}

int store_cert_get(struct store *st, const char *serial, struct cert_rec *out, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CERT_GET, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    if (step_one_row(st, s, "serial", "certificate", serial, "get certificate", err) == -1)
        goto out;
    ret = cert_from_row(s, out, err);
out:
    stmt_done(s);
    return ret;
}

/* Copies a blob column into a new malloc'd buffer (at least one byte is allocated). */
static int col_blob_dup(sqlite3_stmt *s, int i, unsigned char **out, size_t *out_len,
                        struct jerr *err)
{
    const void *blob = sqlite3_column_blob(s, i);
    int len = sqlite3_column_bytes(s, i);
    unsigned char *copy;

    if (blob == NULL && len > 0)
        return jerr_set(err, JERR_INTERNAL, NULL, "registry: out of memory");
    if ((copy = malloc(len > 0 ? (size_t)len : 1)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    if (len > 0)
        memcpy(copy, blob, (size_t)len);
    *out = copy;
    *out_len = (size_t)len;
    return 0;
}

int store_cert_get_der(struct store *st, const char *serial, unsigned char **der, size_t *der_len,
                       struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CERT_GET_DER, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    if (step_one_row(st, s, "serial", "certificate", serial, "get certificate", err) == -1)
        goto out;
    ret = col_blob_dup(s, 0, der, der_len, err);
out:
    stmt_done(s);
    return ret;
}

bool store_serial_exists(struct store *st, const char *serial)
{
    if (serial == NULL || strnlen(serial, JPKI_SERIAL_HEX_MAX + 1) > JPKI_SERIAL_HEX_MAX)
        return false;
    return exists(st, S_SERIAL_EXISTS, serial);
}

int store_cert_set_status(struct store *st, const char *serial, enum cert_status status, int reason,
                          int64_t at, int64_t invalidity_date, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    char buf[JPKI_SERIAL_HEX_MAX * 4 + 1];
    bool own = false;
    int ret = -1;
    int ca;
    int rc;

    if (check_status(status, reason, err) == -1)
        return -1;
    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = stmt_get(st, S_CERT_SET_STATUS, err)) == NULL ||
        bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, (int)status);
    bind_int_or_null(s, 3, reason, REASON_NONE);
    bind_int_or_null(s, 4, at, 0);
    bind_int_or_null(s, 5, invalidity_date, 0);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_NOT_FOUND, "serial", "no certificate %s", esc(buf, sizeof(buf), serial));
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "serial", "set status");
        goto out;
    }
    ca = sqlite3_column_int(s, 0);
    /* RETURNING rows are all computed by the first step; finish the statement. */
    if (step_done(st, s, "serial", "set status", err) == -1)
        goto out;
    stmt_done(s);

    /* DESIGN §4: the pre-signed OCSP responses of this serial no longer tell the truth... */
    if ((s = stmt_get(st, S_OCSP_MARK_STALE, err)) == NULL)
        goto out;
    sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
    if (step_done(st, s, "serial", "mark OCSP stale", err) == -1)
        goto out;
    stmt_done(s);
    s = NULL;
    /* ...and the refresher finds it among the marks, whichever process made the change. */
    if (ocsp_mark_dirty(st, serial, ca, err) == -1)
        goto out;

    /* ...nor does the CA's CRL. */
    if ((s = stmt_get(st, S_CRL_MARK_CHANGED, err)) == NULL)
        goto out;
    sqlite3_bind_int(s, 1, ca);
    sqlite3_bind_int64(s, 2, at != 0 ? at : (int64_t)jclock_now());
    if (step_done(st, s, "serial", "mark CRL stale", err) == -1)
        goto out;
    ret = 0;
out:
    stmt_done(s);
    return own_tx_end(st, own, ret, err);
}

void cert_list_free(struct cert_list *list)
{
    if (list == NULL)
        return;
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* Appends one record, doubling the capacity when full (with overflow checks). */
static int cert_list_push(struct cert_list *list, size_t *cap, const struct cert_rec *rec,
                          struct jerr *err)
{
    if (list->count == *cap) {
        size_t new_cap = *cap == 0 ? 8 : *cap;
        struct cert_rec *grown;

        if (*cap != 0) {
            if (new_cap > SIZE_MAX / 2)
                return jerr_set(err, JERR_INTERNAL, NULL, "certificate list too long");
            new_cap *= 2;
        }
        if (new_cap > SIZE_MAX / sizeof(*grown))
            return jerr_set(err, JERR_INTERNAL, NULL, "certificate list too long");
        if ((grown = realloc(list->items, new_cap * sizeof(*grown))) == NULL)
            return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        list->items = grown;
        *cap = new_cap;
    }
    list->items[list->count++] = *rec;
    return 0;
}

/* Collects every row of a bound CERT_COLUMNS query into *out (written only on success). */
static int cert_list_collect(struct store *st, sqlite3_stmt *s, struct cert_list *out,
                             struct jerr *err)
{
    struct cert_list list = {0};
    size_t cap = 0;
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cert_rec rec;
        if (cert_from_row(s, &rec, err) == -1 || cert_list_push(&list, &cap, &rec, err) == -1)
            goto fail;
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "list certificates");
        goto fail;
    }
    *out = list;
    return 0;
fail:
    cert_list_free(&list);
    return -1;
}

static int certs_by(struct store *st, enum stmt_id id, const char *key, const char *field,
                    struct cert_list *out, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, key, JPKI_ID_MAX, field, err) == -1)
        goto out;
    ret = cert_list_collect(st, s, out, err);
out:
    stmt_done(s);
    return ret;
}

int store_certs_of_card(struct store *st, const char *card_id, struct cert_list *out,
                        struct jerr *err)
{
    return certs_by(st, S_CERTS_OF_CARD, card_id, "card_id", out, err);
}

int store_certs_of_person(struct store *st, const char *person_id, struct cert_list *out,
                          struct jerr *err)
{
    return certs_by(st, S_CERTS_OF_PERSON, person_id, "person_id", out, err);
}

int store_certs_expiring(struct store *st, int64_t from, int64_t to, size_t limit,
                         struct cert_list *out, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CERTS_EXPIRING, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_int64(s, 3, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    ret = cert_list_collect(st, s, out, err);
    stmt_done(s);
    return ret;
}

/* ---- CRLs ------------------------------------------------------------------------------ */

static int ca_check(enum ca_kind ca, struct jerr *err)
{
    if (ca != CA_SIGN && ca != CA_AUTH)
        return jerr_set(err, JERR_INVALID, "ca", "unknown CA %d", (int)ca);
    return 0;
}

static int crl_change_seq(struct store *st, enum ca_kind ca, int64_t *seq, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CRL_CHANGE_SEQ, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(s, 0);
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_IO, "ca", "registry: no CRL state for CA %d", (int)ca);
    } else {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "ca", "CRL state");
    }
    stmt_done(s);
    return ret;
}

/* Remembers the oldest change counter seen while building the CRL of (ca, partition). */
static void crl_snapshot_note(struct store *st, enum ca_kind ca, int partition, int64_t seq)
{
    struct crl_snapshot *snap = &st->crl_snap[ca];

    if (snap->valid && snap->partition == partition && snap->change_seq <= seq)
        return;
    snap->valid = true;
    snap->partition = partition;
    snap->change_seq = seq;
}

int store_crl_foreach(struct store *st, enum ca_kind ca, int partition, int64_t now,
                      store_crl_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int64_t seq = 0;
    int ret = -1;
    int rc;

    if (ca_check(ca, err) == -1)
        return -1;
    if (partition < -1)
        return jerr_set(err, JERR_INVALID, "partition", "invalid CRL partition %d", partition);
    /* Read before the rows: see the file comment on staleness. */
    if (crl_change_seq(st, ca, &seq, err) == -1)
        return -1;
    crl_snapshot_note(st, ca, partition, seq);
    if ((s = stmt_get(st, partition == -1 ? S_CRL_ALL : S_CRL_PARTITION, err)) == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int64(s, 2, now);
    if (partition != -1)
        sqlite3_bind_int(s, 3, partition);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct crl_entry_rec entry = {
            .serial = (const char *)sqlite3_column_text(s, 0),
            .revoked_at = col_int_or(s, 1, 0),
            .reason = (int)col_int_or(s, 2, REASON_NONE),
            .invalidity_date = col_int_or(s, 3, 0),
        };
        if (entry.serial == NULL) {
            jerr_set(err, JERR_INTERNAL, "serial", "registry: out of memory");
            goto out;
        }
        if (cb(ctx, &entry) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "CRL streaming stopped by its consumer");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "CRL entries");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_crl_number_next(struct store *st, enum ca_kind ca, int partition, int64_t *number,
                          struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int64_t seq = 0;
    int64_t next = 0;
    bool own = false;
    int ret = -1;
    int rc;

    if (ca_check(ca, err) == -1)
        return -1;
    if (partition < -1)
        return jerr_set(err, JERR_INVALID, "partition", "invalid CRL partition %d", partition);
    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    if (crl_change_seq(st, ca, &seq, err) == -1)
        goto out;
    if ((s = stmt_get(st, S_CRL_NUMBER_NEXT, err)) == NULL)
        goto out;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int(s, 2, partition);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "CRL number");
        goto out;
    }
    next = sqlite3_column_int64(s, 0);
    if (step_done(st, s, NULL, "CRL number", err) == -1)
        goto out;
    ret = 0;
out:
    stmt_done(s);
    if (own_tx_end(st, own, ret, err) == -1)
        return -1;
    crl_snapshot_note(st, ca, partition, seq);
    *number = next;
    return 0;
}

/* Whether a CRL of `partition` lists every revoked certificate of the CA: the complete CRL
 * does; a partition CRL does only when the CA has a single partition (registry setting
 * crl_partitions.<ca>, written at instance creation; absent means the default, 1). */
static bool crl_covers_all(struct store *st, enum ca_kind ca, int partition)
{
    char value[32];
    char *end = NULL;
    long partitions;
    struct jerr ignored = {0};

    if (partition == -1)
        return true;
    if (partition != 0)
        return false;
    if (store_meta_get(st, ca == CA_SIGN ? "crl_partitions.sign" : "crl_partitions.auth", value,
                       sizeof(value), &ignored) == -1)
        return ignored.code == JERR_NOT_FOUND;
    errno = 0;
    partitions = strtol(value, &end, 10);
    return errno == 0 && end != value && *end == '\0' && partitions <= 1;
}

int store_crl_published(struct store *st, enum ca_kind ca, int partition, int64_t number,
                        int64_t this_update, int64_t next_update, size_t size, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    struct crl_snapshot *snap;
    bool own = false;
    bool covers_all;
    int64_t seq = 0;
    int ret = -1;
    int rc;

    if (ca_check(ca, err) == -1)
        return -1;
    if (partition < -1)
        return jerr_set(err, JERR_INVALID, "partition", "invalid CRL partition %d", partition);
    if (number < 1)
        return jerr_set(err, JERR_INVALID, "number", "invalid CRL number");
    snap = &st->crl_snap[ca];
    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = stmt_get(st, S_CRL_INSERT, err)) == NULL)
        goto out;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int(s, 2, partition);
    sqlite3_bind_int64(s, 3, number);
    sqlite3_bind_int64(s, 4, this_update);
    sqlite3_bind_int64(s, 5, next_update);
    sqlite3_bind_int64(s, 6, size > (size_t)INT64_MAX ? INT64_MAX : (int64_t)size);
    sqlite3_bind_int64(s, 7, (int64_t)jclock_now());
    if (sqlite3_step(s) != SQLITE_DONE) {
        rc = sqlite3_extended_errcode(st->db);
        if (is_unique_violation(rc))
            jerr_set(err, JERR_CONFLICT, "number", "CRL number %lld already published",
                     (long long)number);
        else
            db_fail(st, rc, err, NULL, "record CRL");
        goto out;
    }
    stmt_done(s);
    s = NULL;
    covers_all = crl_covers_all(st, ca, partition);
    if (covers_all) {
        /* Covers the changes up to the start of its build on this connection; without one
         * (a CRL built elsewhere), up to now. */
        if (snap->valid && snap->partition == partition)
            seq = snap->change_seq;
        else if (crl_change_seq(st, ca, &seq, err) == -1)
            goto out;
        if ((s = stmt_get(st, S_CRL_MARK_PUBLISHED, err)) == NULL)
            goto out;
        sqlite3_bind_int(s, 1, (int)ca);
        sqlite3_bind_int64(s, 2, seq);
        sqlite3_bind_int64(s, 3, this_update);
        if (step_done(st, s, NULL, "CRL state", err) == -1)
            goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    ret = own_tx_end(st, own, ret, err);
    if (ret == 0 && snap->valid && snap->partition == partition)
        snap->valid = false;
    return ret;
}

bool store_crl_is_stale(struct store *st, enum ca_kind ca)
{
    sqlite3_stmt *s;
    bool stale = true; /* when the registry cannot say, assume the worst */

    if (ca != CA_SIGN && ca != CA_AUTH)
        return true;
    if ((s = stmt_get(st, S_CRL_IS_STALE, NULL)) == NULL)
        return true;
    sqlite3_bind_int(s, 1, (int)ca);
    if (sqlite3_step(s) == SQLITE_ROW)
        stale = sqlite3_column_int(s, 0) != 0;
    stmt_done(s);
    return stale;
}

/* ---- OCSP ------------------------------------------------------------------------------ */

static int ocsp_check(int certid_hash, const unsigned char *der, size_t der_len, struct jerr *err)
{
    if (certid_hash != 0 && certid_hash != 1)
        return jerr_set(err, JERR_INVALID, "certid_hash", "unknown CertID hash %d", certid_hash);
    if (der == NULL || der_len == 0)
        return jerr_set(err, JERR_INVALID, "der", "OCSP response missing");
    if (der_len > INT_MAX)
        return jerr_set(err, JERR_TOO_LARGE, "der", "OCSP response of %zu bytes", der_len);
    return 0;
}

int store_ocsp_put(struct store *st, const char *serial, int certid_hash, enum ca_kind ca,
                   const unsigned char *der, size_t der_len, int64_t this_update,
                   int64_t next_update, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    char buf[JPKI_SERIAL_HEX_MAX * 4 + 1];
    int ret = -1;
    int rc;

    if (ocsp_check(certid_hash, der, der_len, err) == -1 || ca_check(ca, err) == -1)
        return -1;
    if ((s = stmt_get(st, S_OCSP_PUT, err)) == NULL)
        return -1;
    if (bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, certid_hash);
    sqlite3_bind_int(s, 3, (int)ca);
    sqlite3_bind_blob(s, 4, der, (int)der_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, this_update);
    sqlite3_bind_int64(s, 6, next_update);
    if (sqlite3_step(s) != SQLITE_DONE) {
        rc = sqlite3_extended_errcode(st->db);
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            jerr_set(err, JERR_NOT_FOUND, "serial", "no certificate %s",
                     esc(buf, sizeof(buf), serial));
        else
            db_fail(st, rc, err, "serial", "store OCSP response");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_ocsp_put_signed(struct store *st, const struct cert_rec *signed_rec, int certid_hash,
                          const unsigned char *der, size_t der_len, int64_t this_update,
                          int64_t next_update, bool *current, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    char buf[JPKI_SERIAL_HEX_MAX * 4 + 1];
    bool is_current = false;
    int ret = -1;
    int rc;

    if (ocsp_check(certid_hash, der, der_len, err) == -1)
        return -1;
    if ((s = stmt_get(st, S_OCSP_PUT_SIGNED, err)) == NULL)
        return -1;
    if (bind_fixed(s, 1, signed_rec->serial, sizeof(signed_rec->serial), "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, certid_hash);
    sqlite3_bind_blob(s, 3, der, (int)der_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, this_update);
    sqlite3_bind_int64(s, 5, next_update);
    sqlite3_bind_int(s, 6, (int)signed_rec->status);
    bind_int_or_null(s, 7, signed_rec->reason, REASON_NONE);
    bind_int_or_null(s, 8, signed_rec->status_changed_at, 0);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_NOT_FOUND, "serial", "no certificate %s",
                 esc(buf, sizeof(buf), signed_rec->serial));
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "serial", "store OCSP response");
        goto out;
    }
    is_current = sqlite3_column_int(s, 0) == 0;
    if (step_done(st, s, "serial", "store OCSP response", err) == -1)
        goto out;
    if (current != NULL)
        *current = is_current;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_ocsp_get(struct store *st, const char *serial, int certid_hash, unsigned char **der,
                   size_t *der_len, int64_t *next_update, bool *stale, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    unsigned char *copy = NULL;
    size_t copy_len = 0;
    int ret = -1;

    if (certid_hash != 0 && certid_hash != 1)
        return jerr_set(err, JERR_INVALID, "certid_hash", "unknown CertID hash %d", certid_hash);
    if ((s = stmt_get(st, S_OCSP_GET, err)) == NULL)
        return -1;
    if (bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, certid_hash);
    if (step_one_row(st, s, "serial", "OCSP response for", serial, "get OCSP response", err) ==
        -1)
        goto out;
    if (col_blob_dup(s, 0, &copy, &copy_len, err) == -1)
        goto out;
    if (next_update != NULL)
        *next_update = sqlite3_column_int64(s, 1);
    if (stale != NULL)
        *stale = sqlite3_column_int(s, 2) != 0;
    *der = copy;
    *der_len = copy_len;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* Binds a row limit (size_t) as SQLite's int64. */
static void bind_limit(sqlite3_stmt *s, int idx, size_t limit)
{
    sqlite3_bind_int64(s, idx, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
}

/* Steps a due listing (S_OCSP_DIRTY or S_OCSP_AGEING, already bound) into cb. */
static int ocsp_due_walk(struct store *st, sqlite3_stmt *s, bool dirty, store_ocsp_due_cb cb,
                         void *ctx, struct jerr *err)
{
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_ocsp_due due;
        int col = dirty ? 1 : 0;

        memset(&due, 0, sizeof(due));
        due.serial = (const char *)sqlite3_column_text(s, col);
        if (due.serial == NULL)
            return jerr_set(err, JERR_INTERNAL, "serial", "registry: out of memory");
        due.ca = (enum ca_kind)sqlite3_column_int(s, col + 1);
        due.not_after = sqlite3_column_int64(s, col + 2);
        if (dirty)
            due.changed_seq = sqlite3_column_int64(s, 0);
        else
            due.next_update = sqlite3_column_int64(s, 3);
        if (cb(ctx, &due) != 0)
            return jerr_set(err, JERR_INTERNAL, NULL, "OCSP refresh stopped by its consumer");
    }
    if (rc != SQLITE_DONE)
        return db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "OCSP due");
    return 0;
}

int store_ocsp_foreach_dirty(struct store *st, int64_t after_seq, size_t limit,
                             store_ocsp_due_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_OCSP_DIRTY, err);
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, after_seq);
    bind_limit(s, 2, limit);
    ret = ocsp_due_walk(st, s, true, cb, ctx, err);
    stmt_done(s);
    return ret;
}

int store_ocsp_dirty_clear(struct store *st, const char *serial, int64_t changed_seq, bool *cleared,
                           struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_OCSP_DIRTY_CLEAR, err);
    int ret = -1;

    if (cleared != NULL)
        *cleared = false;
    if (s == NULL)
        return -1;
    if (bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 2, changed_seq);
    if (step_done(st, s, "serial", "clear OCSP mark", err) == -1)
        goto out;
    if (cleared != NULL)
        *cleared = sqlite3_changes(st->db) == 1;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_ocsp_foreach_ageing(struct store *st, int64_t refresh_by, int64_t after_next_update,
                              const char *after_serial, size_t limit, store_ocsp_due_cb cb,
                              void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_OCSP_AGEING, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 3, after_serial != NULL ? after_serial : "", JPKI_SERIAL_HEX_MAX,
                 "after_serial", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 1, refresh_by);
    sqlite3_bind_int64(s, 2, after_next_update);
    bind_limit(s, 4, limit);
    ret = ocsp_due_walk(st, s, false, cb, ctx, err);
out:
    stmt_done(s);
    return ret;
}

int store_ocsp_delete(struct store *st, const char *serial, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_OCSP_DELETE, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    ret = step_done(st, s, "serial", "delete OCSP responses", err);
out:
    stmt_done(s);
    return ret;
}

/* ---- audit log ------------------------------------------------------------------------- */

/* Reads seq, at, actor, action, target, outcome, detail (columns 0..6). */
static int audit_from_row(sqlite3_stmt *s, struct audit_entry *e, struct jerr *err)
{
    memset(e, 0, sizeof(*e));
    e->seq = sqlite3_column_int64(s, 0);
    e->at = sqlite3_column_int64(s, 1);
    if (col_copy(s, 2, e->actor, sizeof(e->actor), "actor", err) == -1 ||
        col_copy(s, 3, e->action, sizeof(e->action), "action", err) == -1 ||
        col_copy(s, 4, e->target, sizeof(e->target), "target", err) == -1 ||
        col_copy(s, 5, e->outcome, sizeof(e->outcome), "outcome", err) == -1 ||
        col_copy(s, 6, e->detail, sizeof(e->detail), "detail", err) == -1)
        return -1;
    return 0;
}

int store_audit_append(struct store *st, const struct audit_entry *e, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    struct audit_entry row = *e;
    unsigned char prev[AUDIT_HASH_LEN] = {0};
    unsigned char hash[AUDIT_HASH_LEN];
    bool own = false;
    int ret = -1;
    int rc;

    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    /* The chain needs the last row as this transaction sees it; the write lock (BEGIN
     * IMMEDIATE) keeps another connection from appending in between. */
    if ((s = stmt_get(st, S_AUDIT_LAST, err)) == NULL)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 1) != AUDIT_HASH_LEN) {
            jerr_set(err, JERR_IO, "hash", "registry: audit row %lld has a malformed hash",
                     (long long)sqlite3_column_int64(s, 0));
            goto out;
        }
        row.seq = sqlite3_column_int64(s, 0) + 1;
        memcpy(prev, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
    } else if (rc == SQLITE_DONE) {
        row.seq = 1;
    } else {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "audit log");
        goto out;
    }
    stmt_done(s);
    if (row.at == 0)
        row.at = (int64_t)jclock_now();
    if ((s = stmt_get(st, S_AUDIT_INSERT, err)) == NULL)
        goto out;
    /* Binding first also refuses an unterminated field before it reaches the hash. */
    sqlite3_bind_int64(s, 1, row.seq);
    sqlite3_bind_int64(s, 2, row.at);
    if (bind_fixed(s, 3, row.actor, sizeof(row.actor), "actor", err) == -1 ||
        bind_fixed(s, 4, row.action, sizeof(row.action), "action", err) == -1 ||
        bind_fixed(s, 5, row.target, sizeof(row.target), "target", err) == -1 ||
        bind_fixed(s, 6, row.outcome, sizeof(row.outcome), "outcome", err) == -1 ||
        bind_fixed(s, 7, row.detail, sizeof(row.detail), "detail", err) == -1)
        goto out;
    if (audit_hash(&row, prev, hash) == -1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash the audit row");
        goto out;
    }
    sqlite3_bind_blob(s, 8, prev, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 9, hash, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
    if (step_done(st, s, NULL, "append audit row", err) == -1)
        goto out;
    ret = 0;
out:
    stmt_done(s);
    return own_tx_end(st, own, ret, err);
}

int store_audit_verify(struct store *st, int64_t *bad_seq, int64_t *rows, struct jerr *err)
{
    return store_audit_verify_each(st, NULL, NULL, bad_seq, rows, err);
}

int store_audit_verify_each(struct store *st, store_audit_hash_cb cb, void *ctx, int64_t *bad_seq,
                            int64_t *rows, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_AUDIT_ALL, err);
    unsigned char prev[AUDIT_HASH_LEN] = {0}; /* the first row chains to all zeros */
    unsigned char hash[AUDIT_HASH_LEN];
    int64_t expected = 1;
    int64_t checked = 0;
    int64_t bad = 0;
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    /* One SELECT reads one consistent snapshot of the log (WAL), one row at a time. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct audit_entry e;
        struct jerr row_err = {0};
        int64_t seq = sqlite3_column_int64(s, 0);

        bad = seq;
        if (seq != expected) {
            if (seq > expected)
                jerr_set(err, JERR_IO, "seq",
                         "audit chain broken at seq %lld: gap in seq (rows %lld..%lld missing)",
                         (long long)seq, (long long)expected, (long long)(seq - 1));
            else
                jerr_set(err, JERR_IO, "seq",
                         "audit chain broken at seq %lld: gap in seq "
                         "(expected %lld)",
                         (long long)seq, (long long)expected);
            goto out;
        }
        if (sqlite3_column_bytes(s, 7) != AUDIT_HASH_LEN ||
            memcmp(sqlite3_column_blob(s, 7), prev, AUDIT_HASH_LEN) != 0) {
            jerr_set(err, JERR_IO, "prev_hash",
                     "audit chain broken at seq %lld: wrong previous hash", (long long)seq);
            goto out;
        }
        /* A field too long for the entry was written by something else: a mismatch too. */
        if (audit_from_row(s, &e, &row_err) == -1 || audit_hash(&e, prev, hash) == -1 ||
            sqlite3_column_bytes(s, 8) != AUDIT_HASH_LEN ||
            memcmp(sqlite3_column_blob(s, 8), hash, AUDIT_HASH_LEN) != 0) {
            jerr_set(err, JERR_IO, "hash",
                     "audit chain broken at seq %lld: hash mismatch (row altered)", (long long)seq);
            goto out;
        }
        memcpy(prev, hash, AUDIT_HASH_LEN);
        expected++;
        checked++;
        if (cb != NULL)
            cb(ctx, seq, hash);
    }
    if (rc != SQLITE_DONE) {
        bad = 0;
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "audit log");
        goto out;
    }
    bad = 0;
    ret = 0;
out:
    stmt_done(s);
    if (bad_seq != NULL)
        *bad_seq = bad;
    if (rows != NULL)
        *rows = checked;
    return ret;
}

int store_audit_foreach_target(struct store *st, const char *target, store_audit_cb cb, void *ctx,
                               struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_AUDIT_TARGET, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, target, sizeof(((struct audit_entry *)0)->target) - 1, "target", err) == -1)
        goto out;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct audit_entry e;
        if (audit_from_row(s, &e, err) == -1)
            goto out;
        if (cb(ctx, &e) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "audit listing stopped by its consumer");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "audit log");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_audit_page(struct store *st, int64_t after, int limit, store_audit_row_cb cb, void *ctx,
                     struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_AUDIT_PAGE, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int(s, 2, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct audit_entry e;
        if (audit_from_row(s, &e, err) == -1)
            goto out;
        if (sqlite3_column_bytes(s, 7) != AUDIT_HASH_LEN ||
            sqlite3_column_bytes(s, 8) != AUDIT_HASH_LEN) {
            jerr_set(err, JERR_IO, "hash", "registry: audit row %lld has a malformed hash",
                     (long long)e.seq);
            goto out;
        }
        if (cb(ctx, &e, sqlite3_column_blob(s, 7), sqlite3_column_blob(s, 8)) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "audit listing stopped by its consumer");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "audit log");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_audit_head(struct store *st, int64_t *rows, unsigned char *head, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_AUDIT_LAST, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 1) != AUDIT_HASH_LEN) {
            jerr_set(err, JERR_IO, "hash", "registry: audit row %lld has a malformed hash",
                     (long long)sqlite3_column_int64(s, 0));
            goto out;
        }
        *rows = sqlite3_column_int64(s, 0);
        memcpy(head, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
    } else if (rc == SQLITE_DONE) {
        *rows = 0;
        memset(head, 0, AUDIT_HASH_LEN);
    } else {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "audit log");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* ---- audit checkpoints (migration 6) ---------------------------------------------------- */

int store_checkpoint_insert(struct store *st, int64_t rows, int64_t at, const unsigned char *der,
                            size_t der_len, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CHECKPOINT_INSERT, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (der_len == 0 || der_len > INT_MAX) {
        jerr_set(err, JERR_INVALID, "der", "checkpoint: bad DER length");
        goto out;
    }
    sqlite3_bind_int64(s, 1, rows);
    sqlite3_bind_int64(s, 2, at);
    sqlite3_bind_blob(s, 3, der, (int)der_len, SQLITE_TRANSIENT);
    ret = step_done(st, s, NULL, "insert audit checkpoint", err);
out:
    stmt_done(s);
    return ret;
}

int store_checkpoint_last(struct store *st, int64_t *rows, unsigned char **der, size_t *der_len,
                          struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CHECKPOINT_LAST, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (step_one_row(st, s, NULL, "audit checkpoint", "yet", "audit checkpoint", err) == -1)
        goto out;
    *rows = sqlite3_column_int64(s, 0);
    ret = col_blob_dup(s, 1, der, der_len, err);
out:
    stmt_done(s);
    return ret;
}

int store_checkpoint_foreach(struct store *st, store_checkpoint_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CHECKPOINT_ALL, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(s, 2);
        const void *blob = sqlite3_column_blob(s, 2);
        if (cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), blob,
               blob != NULL && n > 0 ? (size_t)n : 0, err) != 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "audit checkpoints");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* ---- cards of a person ----------------------------------------------------------------- */

void card_list_free(struct card_list *list)
{
    if (list == NULL)
        return;
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

int store_cards_of_person(struct store *st, const char *person_id, struct card_list *out,
                          struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_CARDS_OF_PERSON, err);
    struct card_list list = {0};
    size_t cap = 0;
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, person_id, JPKI_ID_MAX, "person_id", err) == -1)
        goto out;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct card c;
        memset(&c, 0, sizeof(c));
        if (col_copy(s, 0, c.id, sizeof(c.id), "id", err) == -1 ||
            col_copy(s, 1, c.person_id, sizeof(c.person_id), "person_id", err) == -1 ||
            col_copy(s, 3, c.expiry, sizeof(c.expiry), "expiry", err) == -1 ||
            col_copy(s, 5, c.prefecture, sizeof(c.prefecture), "prefecture", err) == -1 ||
            col_copy(s, 6, c.municipality, sizeof(c.municipality), "municipality", err) == -1)
            goto out;
        c.type = (enum card_type)sqlite3_column_int(s, 2);
        c.state = (enum card_state)sqlite3_column_int(s, 4);
        if (list.count == cap) {
            size_t new_cap = cap == 0 ? 4 : cap * 2;
            struct card *grown;
            if (new_cap > SIZE_MAX / sizeof(*grown) ||
                (grown = realloc(list.items, new_cap * sizeof(*grown))) == NULL) {
                jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
                goto out;
            }
            list.items = grown;
            cap = new_cap;
        }
        list.items[list.count++] = c;
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "person_id", "list cards");
        goto out;
    }
    *out = list;
    list = (struct card_list){0};
    ret = 0;
out:
    card_list_free(&list);
    stmt_done(s);
    return ret;
}

/* ---- operators (migration 2) ----------------------------------------------------------- */

static int operator_from_row(sqlite3_stmt *s, struct operator_rec *out, struct jerr *err)
{
    struct operator_rec op;

    memset(&op, 0, sizeof(op));
    if (col_copy(s, 0, op.name, sizeof(op.name), "name", err) == -1 ||
        col_copy(s, 2, op.token_sha256, sizeof(op.token_sha256), "token_sha256", err) == -1 ||
        col_copy(s, 4, op.created_by, sizeof(op.created_by), "created_by", err) == -1)
        return -1;
    op.role = (enum operator_role)sqlite3_column_int(s, 1);
    op.created_at = sqlite3_column_int64(s, 3);
    op.disabled = sqlite3_column_int(s, 5) != 0;
    *out = op;
    return 0;
}

int store_operator_insert(struct store *st, const struct operator_rec *op, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_OPERATOR_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_fixed(s, 1, op->name, sizeof(op->name), "name", err) == -1 ||
        bind_fixed(s, 3, op->token_sha256, sizeof(op->token_sha256), "token_sha256", err) == -1 ||
        bind_fixed(s, 5, op->created_by, sizeof(op->created_by), "created_by", err) == -1)
        goto out;
    if (op->role < ROLE_ADMIN || op->role > ROLE_AUDITOR) {
        jerr_set(err, JERR_INVALID, "role", "unknown operator role %d", (int)op->role);
        goto out;
    }
    sqlite3_bind_int(s, 2, (int)op->role);
    sqlite3_bind_int64(s, 4, op->created_at != 0 ? op->created_at : (int64_t)jclock_now());
    sqlite3_bind_int(s, 6, op->disabled ? 1 : 0);
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            jerr_set(err, JERR_CONFLICT, "name", "operator %s already exists",
                     esc(buf, sizeof(buf), op->name));
        else if (rc == SQLITE_CONSTRAINT_UNIQUE)
            jerr_set(err, JERR_CONFLICT, "token_sha256", "token already in use");
        else
            db_fail(st, rc, err, "name", "insert operator");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* One operator by the key bound to ?1 (name or token hash). */
static int operator_get_by(struct store *st, enum stmt_id id, const char *key, size_t max,
                           const char *field, struct operator_rec *out, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, key, max, field, err) == -1)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_NOT_FOUND, field, "no such operator");
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, field, "get operator");
        goto out;
    }
    ret = operator_from_row(s, out, err);
out:
    stmt_done(s);
    return ret;
}

int store_operator_get(struct store *st, const char *name, struct operator_rec *out,
                       struct jerr *err)
{
    return operator_get_by(st, S_OPERATOR_GET, name, JPKI_ID_MAX, "name", out, err);
}

int store_operator_by_token(struct store *st, const char *token_sha256, struct operator_rec *out,
                            struct jerr *err)
{
    return operator_get_by(st, S_OPERATOR_BY_TOKEN, token_sha256, STORE_TOKEN_SHA256_HEX,
                           "token_sha256", out, err);
}

int store_operator_foreach(struct store *st, store_operator_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_OPERATOR_LIST, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct operator_rec op;
        if (operator_from_row(s, &op, err) == -1)
            goto out;
        if (cb(ctx, &op) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "operator listing stopped by its consumer");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "list operators");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* Runs an UPDATE of one operator by name (?1) and optional text ?2; JERR_NOT_FOUND when no
 * row changed. */
static int operator_update(struct store *st, enum stmt_id id, const char *name, const char *text,
                           const char *what, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_str(s, 1, name, JPKI_ID_MAX, "name", err) == -1 ||
        (text != NULL &&
         bind_str(s, 2, text, STORE_TOKEN_SHA256_HEX, "token_sha256", err) == -1))
        goto out;
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
            jerr_set(err, JERR_CONFLICT, "token_sha256", "token already in use");
        else
            db_fail(st, rc, err, "name", what);
        goto out;
    }
    if (sqlite3_changes(st->db) == 0) {
        jerr_set(err, JERR_NOT_FOUND, "name", "no such operator");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_operator_disable(struct store *st, const char *name, struct jerr *err)
{
    return operator_update(st, S_OPERATOR_DISABLE, name, NULL, "disable operator", err);
}

int store_operator_set_token(struct store *st, const char *name, const char *token_sha256,
                             struct jerr *err)
{
    return operator_update(st, S_OPERATOR_SET_TOKEN, name, token_sha256, "rotate operator", err);
}

/* ---- batches (migration 3) ------------------------------------------------------------- */

static int batch_from_row(sqlite3_stmt *s, struct batch_rec *out, struct jerr *err)
{
    struct batch_rec b;

    memset(&b, 0, sizeof(b));
    b.id = sqlite3_column_int64(s, 0);
    if (col_copy(s, 1, b.key, sizeof(b.key), "key", err) == -1 ||
        col_copy(s, 2, b.digest, sizeof(b.digest), "digest", err) == -1 ||
        col_copy(s, 3, b.submitted_by, sizeof(b.submitted_by), "submitted_by", err) == -1)
        return -1;
    b.submitted_at = sqlite3_column_int64(s, 4);
    b.total = sqlite3_column_int64(s, 5);
    b.accepted = sqlite3_column_int64(s, 6);
    b.done_rows = sqlite3_column_int64(s, 7);
    b.failed_rows = sqlite3_column_int64(s, 8);
    b.finished = sqlite3_column_int(s, 9) != 0;
    b.finished_at = col_int_or(s, 10, 0);
    *out = b;
    return 0;
}

static int batch_row_from_row(sqlite3_stmt *s, struct batch_row_rec *out, struct jerr *err)
{
    struct batch_row_rec r;

    memset(&r, 0, sizeof(r));
    r.row = sqlite3_column_int64(s, 0);
    if (col_copy(s, 1, r.key, sizeof(r.key), "key", err) == -1 ||
        col_copy(s, 3, r.serials, sizeof(r.serials), "serials", err) == -1 ||
        col_copy(s, 4, r.error_code, sizeof(r.error_code), "error_code", err) == -1 ||
        col_copy(s, 5, r.error_field, sizeof(r.error_field), "error_field", err) == -1 ||
        col_copy(s, 6, r.error_message, sizeof(r.error_message), "error_message", err) == -1)
        return -1;
    r.state = (enum batch_row_state)sqlite3_column_int(s, 2);
    r.finished_at = col_int_or(s, 7, 0);
    *out = r;
    return 0;
}

int store_batch_insert(struct store *st, struct batch_rec *b, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_fixed(s, 1, b->key, sizeof(b->key), "key", err) == -1 ||
        bind_fixed(s, 2, b->digest, sizeof(b->digest), "digest", err) == -1 ||
        bind_fixed(s, 3, b->submitted_by, sizeof(b->submitted_by), "submitted_by", err) == -1)
        goto out;
    if (b->total < 0 || b->accepted < 0 || b->accepted > b->total) {
        jerr_set(err, JERR_INVALID, "total", "batch counts out of range");
        goto out;
    }
    sqlite3_bind_int64(s, 4, b->submitted_at != 0 ? b->submitted_at : (int64_t)jclock_now());
    sqlite3_bind_int64(s, 5, b->total);
    sqlite3_bind_int64(s, 6, b->accepted);
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (is_unique_violation(rc))
            jerr_set(err, JERR_CONFLICT, "key", "batch %s already exists",
                     esc(buf, sizeof(buf), b->key));
        else
            db_fail(st, rc, err, "key", "insert batch");
        goto out;
    }
    b->id = sqlite3_last_insert_rowid(st->db);
    b->done_rows = 0;
    b->failed_rows = 0;
    b->finished = false;
    b->finished_at = 0;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* Adds to a batch's counters inside the open transaction. */
static int batch_count(struct store *st, int64_t batch_id, int64_t done, int64_t failed,
                       struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_COUNT, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, done);
    sqlite3_bind_int64(s, 3, failed);
    if (step_done(st, s, "batch_id", "count batch row", err) == -1)
        goto out;
    if (sqlite3_changes(st->db) != 1) {
        jerr_set(err, JERR_NOT_FOUND, "batch_id", "no batch %lld", (long long)batch_id);
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_batch_row_insert(struct store *st, int64_t batch_id, const struct batch_row_rec *r,
                           const char *request, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    bool own = false;
    int ret = -1;

    if (r->state == BATCH_ROW_PENDING ? request == NULL : r->state != BATCH_ROW_INVALID)
        return jerr_set(err, JERR_INVALID, "state",
                        "a new batch row is pending (with a request) or invalid");
    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = stmt_get(st, S_BATCH_ROW_INSERT, err)) == NULL)
        goto out;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, r->row);
    if (bind_fixed(s, 3, r->key, sizeof(r->key), "key", err) == -1 ||
        bind_fixed(s, 6, r->error_code, sizeof(r->error_code), "error_code", err) == -1 ||
        bind_fixed(s, 7, r->error_field, sizeof(r->error_field), "error_field", err) == -1 ||
        bind_fixed(s, 8, r->error_message, sizeof(r->error_message), "error_message", err) == -1)
        goto out;
    sqlite3_bind_int(s, 4, (int)r->state);
    if (request != NULL && sqlite3_bind_text(s, 5, request, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        jerr_set(err, JERR_INTERNAL, "request", "registry: cannot bind the request");
        goto out;
    }
    bind_int_or_null(s, 9, r->state == BATCH_ROW_INVALID ? (int64_t)jclock_now() : 0, 0);
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (is_unique_violation(rc))
            jerr_set(err, JERR_CONFLICT, "row", "batch %lld has a row %lld already",
                     (long long)batch_id, (long long)r->row);
        else
            db_fail(st, rc, err, "row", "insert batch row");
        goto out;
    }
    stmt_done(s);
    s = NULL;
    if (r->state == BATCH_ROW_INVALID && batch_count(st, batch_id, 0, 1, err) == -1)
        goto out;
    ret = 0;
out:
    stmt_done(s);
    return own_tx_end(st, own, ret, err);
}

/* One batch by the key bound to ?1. */
static int batch_get_by(struct store *st, enum stmt_id id, int64_t num, const char *key,
                        struct batch_rec *out, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, id, err);
    const char *field = key != NULL ? "key" : "batch_id";
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    if (key != NULL) {
        if (bind_str(s, 1, key, JPKI_ID_MAX, field, err) == -1)
            goto out;
    } else {
        sqlite3_bind_int64(s, 1, num);
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_NOT_FOUND, field, "no such batch");
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, field, "get batch");
        goto out;
    }
    ret = batch_from_row(s, out, err);
out:
    stmt_done(s);
    return ret;
}

int store_batch_get(struct store *st, int64_t id, struct batch_rec *out, struct jerr *err)
{
    return batch_get_by(st, S_BATCH_GET, id, NULL, out, err);
}

int store_batch_get_by_key(struct store *st, const char *key, struct batch_rec *out,
                           struct jerr *err)
{
    return batch_get_by(st, S_BATCH_BY_KEY, 0, key, out, err);
}

int store_batch_row_get(struct store *st, int64_t batch_id, int64_t row, struct batch_row_rec *out,
                        struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_ROW_GET, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, row);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_NOT_FOUND, "row", "batch %lld has no row %lld", (long long)batch_id,
                 (long long)row);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "row", "get batch row");
        goto out;
    }
    ret = batch_row_from_row(s, out, err);
out:
    stmt_done(s);
    return ret;
}

/* A pending row and its request (columns BATCH_ROW_COLUMNS, request) from the current row of
 * `s`; *request malloc'd. Outputs written only on success. */
static int pending_row_from(sqlite3_stmt *s, struct batch_row_rec *out, char **request,
                            struct jerr *err)
{
    struct batch_row_rec r;
    char *text;

    if (batch_row_from_row(s, &r, err) == -1)
        return -1;
    const unsigned char *req = sqlite3_column_text(s, 8);
    if (req == NULL)
        return jerr_set(err, JERR_IO, "request", "registry: pending row %lld has no request",
                        (long long)r.row);
    if ((text = strdup((const char *)req)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    *out = r;
    *request = text;
    return 0;
}

int store_batch_next_pending(struct store *st, int64_t batch_id, struct batch_row_rec *out,
                             char **request, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_NEXT_PENDING, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_NOT_FOUND, "row", "no pending row");
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "row", "next pending row");
        goto out;
    }
    ret = pending_row_from(s, out, request, err);
out:
    stmt_done(s);
    return ret;
}

int store_batch_claim_next(struct store *st, int64_t batch_id, int64_t now, int64_t until,
                           struct batch_row_rec *out, char **request, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_CLAIM, err);
    struct batch_row_rec r;
    char *text = NULL;
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, until);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_NOT_FOUND, "row", "no row to claim");
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "row", "claim batch row");
        goto out;
    }
    if (pending_row_from(s, &r, &text, err) == -1)
        goto out;
    /* RETURNING rows are all computed by the first step; finishing the statement commits. */
    if (step_done(st, s, "row", "claim batch row", err) == -1) {
        free(text);
        goto out;
    }
    *out = r;
    *request = text;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_batch_row_unclaim(struct store *st, int64_t batch_id, int64_t row, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_UNCLAIM, err);
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, row);
    ret = step_done(st, s, "row", "unclaim batch row", err);
    stmt_done(s);
    return ret;
}

int store_batch_claims_release(struct store *st, int64_t batch_id, int64_t *released,
                               struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_CLAIMS_RELEASE, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    if (step_done(st, s, "batch_id", "release batch row claims", err) == -1)
        goto out;
    if (released != NULL)
        *released = sqlite3_changes(st->db);
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_batch_row_finish(struct store *st, int64_t batch_id, int64_t row,
                           const struct batch_row_rec *result, bool *changed, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    bool own = false;
    int ret = -1;

    *changed = false;
    if (result->state != BATCH_ROW_DONE && result->state != BATCH_ROW_FAILED)
        return jerr_set(err, JERR_INVALID, "state", "a row finishes done or failed");
    if (own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = stmt_get(st, S_BATCH_ROW_FINISH, err)) == NULL)
        goto out;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, row);
    sqlite3_bind_int(s, 3, (int)result->state);
    if (bind_fixed(s, 4, result->serials, sizeof(result->serials), "serials", err) == -1 ||
        bind_fixed(s, 5, result->error_code, sizeof(result->error_code), "error_code", err) == -1 ||
        bind_fixed(s, 6, result->error_field, sizeof(result->error_field), "error_field", err) ==
            -1 ||
        bind_fixed(s, 7, result->error_message, sizeof(result->error_message), "error_message",
                   err) == -1)
        goto out;
    sqlite3_bind_int64(s, 8,
                       result->finished_at != 0 ? result->finished_at : (int64_t)jclock_now());
    if (step_done(st, s, "row", "finish batch row", err) == -1)
        goto out;
    /* Only a pending row moves: a row finished before (by a run that committed) stays as is. */
    bool moved = sqlite3_changes(st->db) == 1;
    stmt_done(s);
    s = NULL;
    if (moved && batch_count(st, batch_id, result->state == BATCH_ROW_DONE ? 1 : 0,
                             result->state == BATCH_ROW_FAILED ? 1 : 0, err) == -1)
        goto out;
    *changed = moved;
    ret = 0;
out:
    stmt_done(s);
    ret = own_tx_end(st, own, ret, err);
    if (ret == -1)
        *changed = false;
    return ret;
}

int store_batch_finish(struct store *st, int64_t id, bool *changed, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_FINISH, err);
    int ret = -1;

    *changed = false;
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, (int64_t)jclock_now());
    if (step_done(st, s, "batch_id", "finish batch", err) == -1)
        goto out;
    *changed = sqlite3_changes(st->db) == 1;
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_batch_rows_foreach(struct store *st, int64_t batch_id, int state, int64_t after_row,
                             int64_t limit, store_batch_row_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, state < 0 ? S_BATCH_ROWS : S_BATCH_ROWS_STATE, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, after_row);
    sqlite3_bind_int64(s, 3, limit);
    if (state >= 0)
        sqlite3_bind_int(s, 4, state);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct batch_row_rec r;
        if (batch_row_from_row(s, &r, err) == -1)
            goto out;
        if (cb(ctx, &r) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "batch row listing stopped by its consumer");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, "batch_id", "list batch rows");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_batches_running(struct store *st, store_batch_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCHES_RUNNING, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct batch_rec b;
        if (batch_from_row(s, &b, err) == -1)
            goto out;
        if (cb(ctx, &b) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "batch listing stopped by its consumer");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "list batches");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

int store_batch_row_totals(struct store *st, int64_t *done, int64_t *failed, int64_t *pending,
                           struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_BATCH_TOTALS, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        db_fail(st, sqlite3_extended_errcode(st->db), err, NULL, "batch totals");
        goto out;
    }
    *done = sqlite3_column_int64(s, 0);
    *failed = sqlite3_column_int64(s, 1);
    *pending = sqlite3_column_int64(s, 2);
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

/* ---- holder requests (migration 4) ----------------------------------------------------- */

int store_holder_request_insert(struct store *st, const struct holder_request_rec *r,
                                struct jerr *err)
{
    sqlite3_stmt *s = stmt_get(st, S_HOLDER_REQUEST_INSERT, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_fixed(s, 1, r->request_id, sizeof(r->request_id), "request_id", err) == -1 ||
        bind_fixed(s, 2, r->serial, sizeof(r->serial), "serial", err) == -1 ||
        bind_fixed(s, 3, r->signer_serial, sizeof(r->signer_serial), "signer_serial", err) == -1 ||
        bind_fixed(s, 4, r->receipt_id, sizeof(r->receipt_id), "receipt_id", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 5, r->request_time);
    sqlite3_bind_int64(s, 6, r->received_at != 0 ? r->received_at : (int64_t)jclock_now());
    if (sqlite3_step(s) != SQLITE_DONE) {
        int rc = sqlite3_extended_errcode(st->db);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            jerr_set(err, JERR_CONFLICT, "request_id",
                     "replayed request: this request_id was already used");
        else if (rc == SQLITE_CONSTRAINT_UNIQUE)
            jerr_set(err, JERR_CONFLICT, "receipt_id", "receipt id already in use");
        else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            jerr_set(err, JERR_NOT_FOUND, "serial", "no such certificate");
        else
            db_fail(st, rc, err, "request_id", "insert holder request");
        goto out;
    }
    ret = 0;
out:
    stmt_done(s);
    return ret;
}

bool store_holder_request_exists(struct store *st, const char *request_id)
{
    return exists(st, S_HOLDER_REQUEST_EXISTS, request_id);
}
