#!/usr/bin/env bash
# Linkage (新旧紐付け, issue 15) through the API with curl and jq:
#   - a holder's authentication certificate re-issued twice (a renewal on the same card, then a
#     new card): GET /v1/linkage/{serial} follows old -> new -> current from any of them, with
#     serials and statuses of that CA only; the signing certificates have their own chain;
#   - basic information of a signing certificate's holder: refused without the holder's
#     consent to that party (POST /v1/persons/{id}/consents), given with it; never through an
#     authentication certificate;
#   - every call is in the audit log (ids only);
#   - the backfill of migration 9 links what the registry already held (jpki_testdrv).
. "$(dirname "$0")/lib.sh"
it_setup
it_start
TOKEN=$ADMIN

call POST /v1/persons '{"id":"p1","name":"紐付 太郎","address":"東京都千代田区1-1","birth_date":"1980-05-06","gender":"male"}'
call POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2034-01-31"}'
call POST /v1/cards/c1/issue '{"certificates":"both","passwords":{"auth":"5831","sign":"QWERTY7"}}'
assert_eq "issue both onto the first card" 201 "$ST"
S1=$(jf '.certificates[] | select(.ca=="sign") | .serial')
A1=$(jf '.certificates[] | select(.ca=="auth") | .serial')
call POST /v1/cards/c1/issue '{"certificates":"auth","passwords":{"auth":"5831"}}'
assert_eq "renew the authentication certificate on the same card" 201 "$ST"
A2=$(jf '.certificates[0].serial')
assert_eq "…which supersedes the first" "$A1" "$(jf '.superseded[0]')"
call POST /v1/cards '{"id":"c2","person_id":"p1","type":"mynumber","expiry":"2036-01-31"}'
assert_eq "a new card replaces the first" 201 "$ST"
call POST /v1/cards/c2/issue '{"certificates":"both","passwords":{"auth":"5831","sign":"QWERTY7"}}'
assert_eq "issue both onto the new card" 201 "$ST"
S2=$(jf '.certificates[] | select(.ca=="sign") | .serial')
A3=$(jf '.certificates[] | select(.ca=="auth") | .serial')

call GET "/v1/linkage/$A1"
assert_eq "GET /v1/linkage/A1" 200 "$ST"
assert_eq "…superseded by A2" "$A2" "$(jf .superseded_by)"
assert_eq "…then A3: the chain" "$A2 $A3" "$(jf '[.chain[].serial] | join(" ")')"
assert_eq "…current A3" "$A3" "$(jf .current.serial)"
assert_eq "…good" good "$(jf .current.status)"
assert_eq "…A1 itself revoked" revoked "$(jf .status)"
assert_eq "…authentication certificates only" auth "$(jf '[.ca, .chain[].ca, .current.ca] | unique | join(",")')"
assert_not_contains "…no signing serial" "$S1" "$RB"
assert_not_contains "…nor personal data" "紐付" "$RB"
call GET "/v1/linkage/$A2"
assert_eq "from A2: superseded by A3, current A3" "$A3 $A3" "$(jf '.superseded_by + " " + .current.serial')"
call GET "/v1/linkage/$A3"
assert_eq "A3 is current: superseded by nobody" "null $A3" "$(jf '(.superseded_by | tostring) + " " + .current.serial')"
call GET "/v1/linkage/$S1"
assert_eq "the signing chain: S1 -> S2" "$S2 $S2" "$(jf '.superseded_by + " " + .current.serial')"
call GET /v1/linkage/ABCDEF0123
assert_eq "an unknown serial: 404" 404 "$ST"

# Basic information, with and without consent.
expect "without consent: refused" 409 consent GET "/v1/linkage/$S1/basic-info?party=plat1"
expect "…the party is required" 400 party GET "/v1/linkage/$S1/basic-info"
expect "consent for an unknown person: 404" 404 person_id POST /v1/persons/nobody/consents '{"party":"plat1"}'
expect "consent needs a party" 400 party POST /v1/persons/p1/consents '{"who":"plat1"}'
call POST /v1/persons/p1/consents '{"party":"plat1"}'
assert_eq "the holder consents to plat1" 201 "$ST"
call GET "/v1/linkage/$S1/basic-info?party=plat1"
assert_eq "with consent: the basic information" 200 "$ST"
assert_eq "…the current four facts" "紐付 太郎|東京都千代田区1-1|1980-05-06|male" \
  "$(jf '.basic_info | [.name, .address, .birth_date, .gender] | join("|")')"
assert_eq "…and not the registry's person id" null "$(jf .basic_info.id)"
call PUT /v1/persons/p1/basic-info '{"name":"紐付 次郎","address":"東京都千代田区1-1","birth_date":"1980-05-06","gender":"male"}'
call GET "/v1/linkage/$S1/basic-info?party=plat1"
assert_eq "…current after a change of name" "紐付 次郎" "$(jf .basic_info.name)"
expect "another party: refused" 409 consent GET "/v1/linkage/$S1/basic-info?party=plat2"
expect "never through an authentication certificate" 400 serial GET "/v1/linkage/$A1/basic-info?party=plat1"

# Every call audited, ids only.
call GET "/v1/audit?after=0&limit=1000"
assert_eq "the linkage calls are in the audit log" 4 \
  "$(jf '[.rows[]? // .entries[]? // .[]? | select(.action? == "GET /v1/linkage/{serial}" and .outcome? == "ok")] | length')"
assert_contains "…the refused basic-information calls too" "GET /v1/linkage/{serial}/basic-info" "$RB"
assert_not_contains "…without personal data" "紐付" "$RB"

# Migration 9's backfill: a registry's earlier history, re-linked by person and CA (the
# migrations after it, 10 and 11, are undone too, so that all three are applied again).
jpkid_stop
sqlite3 "$DB" "DELETE FROM cert_links; DROP TABLE cert_links; DROP TABLE consents; DROP TABLE ca_generations; DROP INDEX certs_crl; ALTER TABLE certificates DROP COLUMN generation; CREATE INDEX certs_crl ON certificates(ca, partition, not_after, serial, status_changed_at, reason, invalidity_date) WHERE status != 0; DROP TABLE rp_usage_certs; DROP TABLE rp_usage_daily; DROP TABLE relying_parties; DELETE FROM schema_version WHERE version >= 9;"
jpkid_start || exit 1
call GET "/v1/linkage/$A1"
assert_eq "after the backfill: A1 -> A2 -> A3" "$A2 $A3" "$(jf '[.chain[].serial] | join(" ")')"
it_finish
