#!/usr/bin/env bash
# Issue 11 §2, the operators: TLS client certificates are looked up in the operators (the role
# from the registry, not the OU; CN=admin is no operator; a disabled operator is refused) and
# checked against tls.operator_crl (revoked: 401; a stale or foreign CRL: 503, fail closed);
# operator credentials are listed, disabled and rotated (the first admin token too), every call
# audited, through curl and jpkictl; the batch role may not re-issue onto an existing card.
. "$(dirname "$0")/lib.sh"
it_setup
PYDIR=$JPKI_SOURCE_DIR/test/integration

# TLS: a server certificate, an operator CA, and client certificates whose OU claims admin.
tls_server "$T/tls"
tls_ca "$T/tls" opca "/O=JPKI/CN=operator CA"
tls_ca "$T/tls" other "/O=Elsewhere/CN=other CA"
for cn in admin ghost certop revop; do
  tls_client "$T/tls" "$cn" "/O=JPKI/OU=admin/CN=$cn" opca
done
REVOKED_SERIAL=$(openssl x509 -in "$T/tls/revop.pem" -noout -serial | cut -d= -f2)
CRL=$T/tls/operators.crl
mkcrl() { # CA_NAME HOURS SERIAL...: installs a new CRL atomically (read on every call)
  local ca=$1 hours=$2; shift 2
  $PY "$PYDIR/make_crl.py" "$T/tls/$ca.pem" "$T/tls/$ca.key" "$CRL.new" "$hours" "$@" &&
    mv "$CRL.new" "$CRL"
}
mkcrl opca 24 "$REVOKED_SERIAL" || { fail "cannot make a CRL with python cryptography"; it_finish; exit 1; }

# A configured operator (alice, token "test") that the API may list but never change.
config_with_alice
it_init || exit 1
jpkid_start --set listen.https=127.0.0.1:0 --set "tls.cert=$T/tls/server.pem" \
  --set "tls.key=$T/tls/server.key" --set "tls.operator_ca=$T/tls/opca.pem" \
  --set "tls.operator_crl=$CRL" || exit 1
HTTPS=https://127.0.0.1:$(cat "$DATA/run/https.port")
ADMIN=$(cat "$DATA/admin.token")
DB=$DATA/jpki.db
rows() { sqlite3 "$DB" "SELECT count(*) FROM events WHERE $1"; }

api() { # TOKEN METHOD PATH [BODY] -> prints the status; the body in $T/resp
  local args=(-s -o "$T/resp" -w '%{http_code}' -X "$2")
  [ -n "$1" ] && args+=(-H "Authorization: Bearer $1")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}" "$URL$3"
}
certcall() { # CERT METHOD PATH [BODY] -> prints the status
  local args=(-s -o "$T/resp" -w '%{http_code}' --cacert "$T/tls/server.pem" -X "$2"
    --cert "$T/tls/$1.pem" --key "$T/tls/$1.key")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}" "$HTTPS$3"
}
jr() { jq -r "$1" "$T/resp"; }

# ---- operator certificates ------------------------------------------------------------------
assert_eq "CN=admin, OU=admin: no operator, refused (401)" 401 \
  "$(certcall admin POST /v1/operators '{"name":"evil","role":"admin"}')"
assert_eq "…and nothing was created" 0 "$(sqlite3 "$DB" "SELECT count(*) FROM operators WHERE name='evil'")"
assert_eq "…and no audit row credits it to admin" 0 "$(rows "actor='admin' AND action='POST /v1/operators'")"
assert_eq "CN=ghost (no such operator): 401" 401 "$(certcall ghost GET /v1/operators)"
assert_eq "admin registers certop as an operator" 201 \
  "$(api "$ADMIN" POST /v1/operators '{"name":"certop","role":"operator"}')"
api "$ADMIN" POST /v1/operators '{"name":"revop","role":"operator"}' >/dev/null
assert_eq "certop's certificate (OU=admin) has the registry's role: may not create operators (403)" 403 \
  "$(certcall certop POST /v1/operators '{"name":"evil","role":"admin"}')"
assert_eq "…but may register a person (201)" 201 \
  "$(certcall certop POST /v1/persons '{"id":"p1","name":"試験 一","address":"東京都港区1-1","birth_date":"1980-01-02","gender":"male"}')"
assert_eq "…audited as certop, via=cert" 1 \
  "$(rows "actor='certop' AND action='POST /v1/persons' AND detail='status=201 via=cert'")"
assert_eq "a certificate on tls.operator_crl: 401" 401 "$(certcall revop GET /v1/persons/p1)"
assert_contains "…saying it is revoked" "revoked" "$(cat "$T/resp")"
mkcrl opca 24
assert_eq "the same certificate once the CRL no longer lists it: 200" 200 "$(certcall revop GET /v1/persons/p1)"
mkcrl opca -1 "$REVOKED_SERIAL"
assert_eq "a CRL past its nextUpdate: every certificate refused (503, fail closed)" 503 \
  "$(certcall certop GET /v1/persons/p1)"
assert_contains "…saying why" "nextUpdate" "$(cat "$T/resp")"
mkcrl other 24
assert_eq "a CRL not signed by the operator CA: refused (503)" 503 "$(certcall certop GET /v1/persons/p1)"
mkcrl opca 24 "$REVOKED_SERIAL"
assert_eq "tokens do not depend on the operator CRL" 200 "$(api "$ADMIN" GET /v1/persons/p1)"

# ---- listing, disabling, rotating -----------------------------------------------------------
api "$ADMIN" POST /v1/operators '{"name":"aud","role":"auditor"}' >/dev/null
AUD=$(jr .token)
api "$ADMIN" POST /v1/operators '{"name":"op1","role":"operator"}' >/dev/null
OP1=$(jr .token)
api "$ADMIN" POST /v1/operators '{"name":"admin2","role":"admin"}' >/dev/null
ADMIN2=$(jr .token)
assert_eq "GET /v1/operators (admin): 200" 200 "$(api "$ADMIN" GET /v1/operators)"
assert_eq "…lists the file's, init's and the registry's" "alice:config:operator admin:init:admin admin2:registry:admin aud:registry:auditor certop:registry:operator op1:registry:operator revop:registry:operator" \
  "$(jq -r '[.operators[] | "\(.name):\(.source):\(.role)"] | join(" ")' "$T/resp")"
assert_not_contains "…and never a token or its hash" "token" "$(cat "$T/resp")"
assert_eq "GET /v1/operators (auditor): 200" 200 "$(api "$AUD" GET /v1/operators)"
assert_eq "GET /v1/operators (operator): 403" 403 "$(api "$OP1" GET /v1/operators)"
assert_eq "disable (operator role): 403" 403 "$(api "$OP1" POST /v1/operators/aud/disable)"
assert_eq "disable an unknown operator: 404 field name" "404 name" \
  "$(api "$ADMIN" POST /v1/operators/nobody/disable) $(jr .error.field)"
assert_eq "disable a configured operator: 409 field name" "409 name" \
  "$(api "$ADMIN" POST /v1/operators/alice/disable) $(jr .error.field)"
assert_eq "disable oneself: 409" 409 "$(api "$ADMIN2" POST /v1/operators/admin2/disable)"
assert_eq "disable with an unknown field: 400" 400 "$(api "$ADMIN" POST /v1/operators/op1/disable '{"why":1}')"
assert_eq "disable op1: 200" "200 true" "$(api "$ADMIN" POST /v1/operators/op1/disable) $(jr .disabled)"
assert_eq "…its token is refused (401)" 401 "$(api "$OP1" GET /v1/persons/p1)"
api "$ADMIN" GET /v1/operators >/dev/null
assert_eq "…listed as disabled" true "$(jq -r '.operators[] | select(.name=="op1") | .disabled' "$T/resp")"
assert_eq "rotating a disabled operator: 409" 409 "$(api "$ADMIN" POST /v1/operators/op1/rotate)"
assert_eq "disable certop: its certificate is refused (401)" "200 401" \
  "$(api "$ADMIN" POST /v1/operators/certop/disable) $(certcall certop GET /v1/persons/p1)"

assert_eq "rotate aud: 200" 200 "$(api "$ADMIN" POST /v1/operators/aud/rotate)"
NEW_AUD=$(jr .token)
[ ${#NEW_AUD} -eq 64 ] && [ "$NEW_AUD" != "$AUD" ] && pass "…a new 64-hex token, shown once" || fail "rotate gave '$NEW_AUD'"
assert_eq "…the old token is refused" 401 "$(api "$AUD" GET /v1/persons/p1)"
assert_eq "…the new one accepted" 200 "$(api "$NEW_AUD" GET /v1/persons/p1)"
assert_eq "…only its hash is kept" 1 "$(sqlite3 "$DB" "SELECT count(*) FROM operators WHERE name='aud' AND token_sha256='$(printf %s "$NEW_AUD" | sha256sum | cut -d' ' -f1)'")"

# The first administrator token, rotated by the other administrator.
assert_eq "rotate the first admin token (by admin2): 200" 200 "$(api "$ADMIN2" POST /v1/operators/admin/rotate)"
NEW_ADMIN=$(jr .token)
assert_eq "…the token of admin.token is refused" 401 "$(api "$ADMIN" GET /v1/operators)"
assert_eq "…the new one works, as admin" 200 "$(api "$NEW_ADMIN" GET /v1/operators)"
assert_eq "…audited as admin" "admin GET /v1/operators ok" \
  "$(sqlite3 "$DB" "SELECT actor, action, outcome FROM events ORDER BY seq DESC LIMIT 1" | tr '|' ' ')"

# Through jpkictl.
export JPKI_URL=$URL
printf '%s\n' "$NEW_ADMIN" >"$T/admin.tok"
export JPKI_TOKEN_FILE=$T/admin.tok
check "jpkictl operator list" "$JPKICTL" operator list
assert_contains "…shows op1 disabled" "op1" "$(grep disabled "$T/check.out")"
check "jpkictl operator rotate admin2" "$JPKICTL" operator rotate admin2 --token-out "$T/admin2.tok"
assert_eq "…the token file works" 200 "$(api "$(cat "$T/admin2.tok")" GET /v1/operators)"
assert_eq "…0600" 600 "$(stat -c %a "$T/admin2.tok")"
check "jpkictl operator disable aud" "$JPKICTL" operator disable aud
assert_eq "…aud refused" 401 "$(api "$NEW_AUD" GET /v1/persons/p1)"
check_fails "jpkictl operator disable alice (configured) fails" "$JPKICTL" operator disable alice
assert_contains "…naming the file" "configuration file" "$(cat "$T/check.out")"
assert_eq "every disable and rotate is audited with its target" \
  "op1 certop aud admin admin2 aud" \
  "$(sqlite3 "$DB" "SELECT group_concat(target, ' ') FROM (SELECT target FROM events WHERE action IN ('POST /v1/operators/{id}/disable','POST /v1/operators/{id}/rotate') AND outcome='ok' ORDER BY seq)")"
assert_eq "…and the refusals too (role, unknown, configured twice, oneself, bad field, disabled)" 7 \
  "$(rows "action IN ('POST /v1/operators/{id}/disable','POST /v1/operators/{id}/rotate') AND outcome='refused' AND actor<>'anonymous'")"

# ---- the batch role may not re-issue onto an existing card ----------------------------------
api "$NEW_ADMIN" POST /v1/operators '{"name":"bat","role":"batch"}' >/dev/null
BAT=$(jr .token)
api "$NEW_ADMIN" POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2034-01-31"}' >/dev/null
assert_eq "setup: c1 issued an auth certificate" 201 "$(api "$NEW_ADMIN" POST /v1/cards/c1/issue '{"certificates":"auth"}')"
SERIAL=$(jr '.certificates[0].serial')
batch_file() { # KEY
  echo "batch: \"$1\""
  echo "rows:"
  batch_row old p1 "試験 一" "東京都港区1-1" "1980-01-02" male c1 "QWERTY7890 5829"
  batch_row new "p2-$1" "試験 二" "東京都港区1-2" "1981-02-03" male "c2-$1" "QWERTY7890 5829"
}
submit() { # TOKEN KEY -> waits for the batch; $T/resp holds it
  batch_file "$2" >"$T/$2.yaml"
  curl -s -o "$T/resp" -H "Authorization: Bearer $1" -H 'Content-Type: application/yaml' \
    --data-binary "@$T/$2.yaml" "$URL/v1/batches" >/dev/null
  local id; id=$(jr .id)
  for _ in $(seq 1 300); do
    api "$1" GET "/v1/batches/$id" >/dev/null
    [ "$(jr .state)" = done ] && return 0
    sleep 0.1
  done
  return 1
}
submit "$BAT" bat-1 || fail "the batch role's batch did not finish"
assert_eq "batch role: the row naming existing card c1 fails, field card" "failed card" \
  "$(jq -r '.rows[] | select(.key=="old") | "\(.state) \(.error.field)"' "$T/resp")"
assert_eq "…the row with a new card is done" done "$(jq -r '.rows[] | select(.key=="new") | .state' "$T/resp")"
api "$NEW_ADMIN" GET "/v1/certificates/$SERIAL" >/dev/null
assert_eq "…c1's certificate is still good" good "$(jr .status)"
submit "$NEW_ADMIN" adm-1 || fail "the administrator's batch did not finish"
assert_eq "an administrator's batch may re-issue onto c1" done \
  "$(jq -r '.rows[] | select(.key=="old") | .state' "$T/resp")"
api "$NEW_ADMIN" GET "/v1/certificates/$SERIAL" >/dev/null
assert_eq "…superseding the old certificate" "revoked superseded" "$(jr .status) $(jr .reason)"

jpkid_stop
assert_eq "no sanitizer report in the jpkid log" "" "$(grep -m3 -E 'Sanitizer|runtime error' "$T/jpkid.log")"
it_finish
