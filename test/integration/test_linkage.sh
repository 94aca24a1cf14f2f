#!/usr/bin/env bash
# Linkage (新旧紐付け, issue 15) through the API with curl and jq:
#   - a holder's authentication certificate re-issued twice (a renewal on the same card, then a
#     new card): GET /v1/linkage/{serial} follows old -> new -> current from any of them, with
#     serials and statuses of that CA only; the signing certificates have their own chain;
#   - registered relying parties ask with their own credential over HTTPS (curl with the bearer
#     token, and with the client certificate): an authentication verifier only about
#     authentication certificates, a signature verifier only signing ones, a platform operator
#     both; another kind's serial is 404 exactly as an unknown one (its existence is not
#     leaked); a suspended or an unregistered caller is refused 403 naming why;
#   - basic information of a signing certificate's holder: for a platform party only, refused
#     without the holder's consent to that party (POST /v1/persons/{id}/consents, an operator
#     action), given with it; never through an authentication certificate; operators keep the
#     chain (support) but not basic information;
#   - every call is in the audit log (ids only, a party as "rp:ID");
#   - the backfill of migration 9 links what the registry already held (jpki_testdrv).
. "$(dirname "$0")/lib.sh"
it_setup
tls_server "$T/tls"
it_start --set listen.https=127.0.0.1:0 --set "tls.cert=$T/tls/server.pem" --set "tls.key=$T/tls/server.key"
SURL=https://127.0.0.1:$(cat "$DATA/run/https.port")
TOKEN=$ADMIN

# Relying parties, one of each kind, and their credentials.
for k in la:authentication ls:signature lp:platform lx:platform; do
  call POST /v1/relying-parties "{\"id\":\"${k%%:*}\",\"name\":\"P\",\"kind\":\"${k#*:}\",\"contact\":\"c\"}"
  assert_eq "register party ${k%%:*} (${k#*:})" 201 "$ST"
  jf .token >"$T/${k%%:*}.token"
  jf .certificate >"$T/${k%%:*}.pem"
  jf .key >"$T/${k%%:*}.key"
done
# rp PARTY token|cert METHOD PATH: a party's call over HTTPS with its bearer token or its client
# certificate; ST and RB as call sets them.
rp() {
  local cred=(-H "Authorization: Bearer $(cat "$T/$1.token")")
  [ "$2" = cert ] && cred=(--cert "$T/$1.pem" --key "$T/$1.key")
  ST=$(curl -s --cacert "$T/tls/server.pem" "${cred[@]}" -o "$T/resp" -w '%{http_code}' -X "$3" "$SURL$4")
  RB=$(cat "$T/resp")
}

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

# Relying parties of the right kind, with their own credentials.
rp la token GET "/v1/linkage/$A1"
assert_eq "an authentication verifier (bearer token) follows A1" "200 $A3" "$ST $(jf .current.serial)"
rp la cert GET "/v1/linkage/$A2"
assert_eq "…and with its client certificate" "200 $A3" "$ST $(jf .current.serial)"
rp la token GET "/v1/linkage/$S1"
assert_eq "…but not about a signing certificate: 404 serial, as for a serial never issued" \
  "404 serial" "$ST $(jf .error.field)"
assert_not_contains "…learning no signing serial" "$S2" "$RB"
never=$(jf .error.message | sed "s/$S1/SERIAL/")
rp la token GET /v1/linkage/ABCDEF0123
assert_eq "…word for word the answer to an unknown serial (existence not leaked)" \
  "404 $never" "$ST $(jf .error.message | sed "s/ABCDEF0123/SERIAL/")"
rp ls cert GET "/v1/linkage/$S1"
assert_eq "a signature verifier follows S1" "200 $S2" "$ST $(jf .current.serial)"
rp ls token GET "/v1/linkage/$A1"
assert_eq "…but not an authentication certificate (404)" "404 serial" "$ST $(jf .error.field)"
rp lp cert GET "/v1/linkage/$A1"
assert_eq "a platform operator party: authentication" "200 $A3" "$ST $(jf .current.serial)"
rp lp token GET "/v1/linkage/$S1"
assert_eq "…and signing" "200 $S2" "$ST $(jf .current.serial)"
ST=$(curl -s --cacert "$T/tls/server.pem" -H 'Authorization: Bearer not-a-party' -o "$T/resp" -w '%{http_code}' "$SURL/v1/linkage/$A1")
RB=$(cat "$T/resp")
assert_eq "an unregistered caller: 403 naming the party" "403 party" "$ST $(jf .error.field)"
TOKEN='' expect "no credential at all: 403" 403 party GET "/v1/linkage/$A1"
call POST /v1/relying-parties/lx/suspend '{}'
rp lx token GET "/v1/linkage/$A1"
assert_eq "a suspended party: 403" "403 party" "$ST $(jf .error.field)"
assert_contains "…saying so" "suspended" "$(jf .error.message)"

# Basic information, with and without consent: the party is the caller.
rp lp token GET "/v1/linkage/$S1/basic-info"
assert_eq "without consent: refused" "403 consent" "$ST $(jf .error.field)"
expect "consent for an unknown person: 404" 404 person_id POST /v1/persons/nobody/consents '{"party":"lp"}'
expect "consent needs a party" 400 party POST /v1/persons/p1/consents '{"who":"lp"}'
call POST /v1/persons/p1/consents '{"party":"lp"}'
assert_eq "the holder consents to lp" 201 "$ST"
rp lp cert GET "/v1/linkage/$S1/basic-info"
assert_eq "with consent: the basic information" 200 "$ST"
assert_eq "…for the calling party" lp "$(jf .party)"
assert_eq "…the current four facts" "紐付 太郎|東京都千代田区1-1|1980-05-06|male" \
  "$(jf '.basic_info | [.name, .address, .birth_date, .gender] | join("|")')"
assert_eq "…and not the registry's person id" null "$(jf .basic_info.id)"
call PUT /v1/persons/p1/basic-info '{"name":"紐付 次郎","address":"東京都千代田区1-1","birth_date":"1980-05-06","gender":"male"}'
rp lp token GET "/v1/linkage/$S1/basic-info"
assert_eq "…current after a change of name" "紐付 次郎" "$(jf .basic_info.name)"
rp lp token GET "/v1/linkage/$S1/basic-info?party=lx"
assert_eq "…the party is never a parameter" "400 query" "$ST $(jf .error.field)"
rp ls token GET "/v1/linkage/$S1/basic-info"
assert_eq "a signature verifier: never basic information" "403 party" "$ST $(jf .error.field)"
rp la cert GET "/v1/linkage/$S1/basic-info"
assert_eq "an authentication verifier: never" "403 party" "$ST $(jf .error.field)"
call POST /v1/persons/p1/consents '{"party":"lx"}'
rp lx token GET "/v1/linkage/$S1/basic-info"
assert_eq "a suspended party, even with consent: 403" "403 party" "$ST $(jf .error.field)"
rp lp token GET "/v1/linkage/$A1/basic-info"
assert_eq "never through an authentication certificate" "400 serial" "$ST $(jf .error.field)"
expect "operators: the chain (support) but not basic information" 403 null GET "/v1/linkage/$S1/basic-info"

# Every call audited, ids only.
call GET "/v1/audit?after=0&limit=1000"
assert_eq "the operators' linkage calls are in the audit log" 4 \
  "$(jf '[.rows[]? // .entries[]? // .[]? | select(.action? == "GET /v1/linkage/{serial}" and .outcome? == "ok" and .actor? == "admin")] | length')"
assert_eq "…the parties' too, by party id" "rp:la rp:lp rp:ls" \
  "$(jf '[.rows[]? // .entries[]? // .[]? | select(.action? == "GET /v1/linkage/{serial}" and .outcome? == "ok") | .actor] | unique - ["admin"] | join(" ")')"
assert_eq "…the refusals of a suspended party" 2 \
  "$(jf '[.rows[]? // .entries[]? // .[]? | select(.actor? == "rp:lx" and .outcome? == "refused")] | length')"
assert_contains "…the basic-information calls" "GET /v1/linkage/{serial}/basic-info" "$RB"
assert_not_contains "…without personal data" "紐付" "$RB"

# Migration 9's backfill: a registry's earlier history, re-linked by person and CA (the
# migrations after it, 10 and 11, are undone too, so that all three are applied again).
jpkid_stop
sqlite3 "$DB" "DELETE FROM cert_links; DROP TABLE cert_links; DROP TABLE consents; DROP TABLE ca_generations; DROP INDEX certs_crl; ALTER TABLE certificates DROP COLUMN generation; CREATE INDEX certs_crl ON certificates(ca, partition, not_after, serial, status_changed_at, reason, invalidity_date) WHERE status != 0; DROP TABLE rp_usage_certs; DROP TABLE rp_usage_daily; DROP TABLE relying_parties; DELETE FROM schema_version WHERE version >= 9;"
jpkid_start || exit 1
call GET "/v1/linkage/$A1"
assert_eq "after the backfill: A1 -> A2 -> A3" "$A2 $A3" "$(jf '[.chain[].serial] | join(" ")')"
it_finish
