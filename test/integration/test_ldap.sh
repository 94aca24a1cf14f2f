#!/usr/bin/env bash
# LDAPv3 publication of the CRLs (publish.ldap, issue 15) against a real slapd started here
# (mdb backend, core/cosine/inetorgperson schema, a temporary directory, a free loopback port,
# no root), read back with ldapsearch and checked with openssl:
#   - after the first publication each CA's entry cn=<ca>,<base_dn> holds the complete CRL
#     (certificateRevocationList;binary, byte for byte the one served over HTTP), the ARL
#     (authorityRevocationList;binary: onlyContainsCACerts, no entries) and the delta
#     (deltaRevocationList;binary), all verifying under the CA (openssl crl -CAfile);
#   - slapd stopped: a revocation still reaches the HTTP CRL; /readyz names "ldap" (behind,
#     with the error) and /metrics shows jpki_ldap_lag_seconds > 0;
#   - slapd back: the publisher catches up (the directory's CRL lists the revocation, lag 0).
. "$(dirname "$0")/lib.sh"
it_setup
command -v slapd >/dev/null || PATH=$PATH:/usr/sbin
LDAP_PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LDAP_URL=ldap://127.0.0.1:$LDAP_PORT
BASE=dc=jpki,dc=test
ROOT=cn=admin,$BASE
mkdir -p "$T/ldap/db"
cat >"$T/ldap/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $T/ldap/slapd.pid
argsfile $T/ldap/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 104857600
suffix "$BASE"
rootdn "$ROOT"
rootpw ldap-test-secret
directory $T/ldap/db
EOF
slapd_start() {
  slapd -h "$LDAP_URL/" -f "$T/ldap/slapd.conf" >>"$T/ldap/slapd.log" 2>&1 || return 1
  for _ in $(seq 1 100); do
    ldapsearch -x -H "$LDAP_URL" -b "" -s base >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
slapd_stop() {
  local pid
  pid=$(cat "$T/ldap/slapd.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
trap 'slapd_stop; it_cleanup' EXIT
check "slapd starts on $LDAP_URL" slapd_start
printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: jpki\no: JPKI test\n' "$BASE" |
  ldapadd -x -H "$LDAP_URL" -D "$ROOT" -w ldap-test-secret >/dev/null
export JPKI_LDAP_PASSWORD=ldap-test-secret
LDAP_SETS=(--set "publish.ldap.url=$LDAP_URL" --set "publish.ldap.bind_dn=$ROOT"
  --set "publish.ldap.base_dn=$BASE" --set publish.ldap.password.env=JPKI_LDAP_PASSWORD)

# Configuration refusals name the key.
out=$("$JPKID" serve "${SETS[@]}" --set publish.ldap.url=http://x 2>&1)
assert_contains "a URL that is not ldap:// is refused" "publish.ldap.url" "$out"
out=$("$JPKID" serve "${SETS[@]}" --set "publish.ldap.url=$LDAP_URL" 2>&1)
assert_contains "…and one without base_dn" "publish.ldap.base_dn" "$out"
out=$("$JPKID" serve "${SETS[@]}" "${LDAP_SETS[@]}" --set publish.ldap.password.value=x 2>&1)
assert_contains "…and an inline password" "publish.ldap.password.value" "$out"

it_start --set crl.after_change_s=1 "${LDAP_SETS[@]}"
TOKEN=$ADMIN

# ldap_crl CA ATTR FILE: the attribute's value (DER) from the directory, "" when absent.
ldap_crl() {
  rm -f "$3"
  ldapsearch -x -LLL -o ldif-wrap=no -H "$LDAP_URL" -b "cn=$1,$BASE" -s base -t -T "$T/ldap" "$2" \
    >"$T/ldap/search.out" 2>&1 || return 1
  local url
  url=$(sed -n "s#^$2:< file://##p" "$T/ldap/search.out")
  [ -n "$url" ] && mv "$url" "$3"
}
wait_ldap() { # CA ATTR FILE SERIAL(or "") : until the directory's value lists SERIAL (or exists)
  for _ in $(seq 1 150); do
    if ldap_crl "$1" "$2" "$3" 2>/dev/null && [ -s "$3" ] &&
      { [ -z "$4" ] || openssl crl -inform DER -in "$3" -noout -text | grep -q "Serial Number: $4"; }; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}
for ca in sign auth; do
  cafile=$DATA/certs/$ca-ca.pem
  check "the $ca CRL reaches cn=$ca,$BASE" wait_ldap "$ca" "certificateRevocationList;binary" "$T/$ca.crl" ""
  check "…and verifies under the CA (openssl crl -CAfile)" \
    openssl crl -inform DER -in "$T/$ca.crl" -CAfile "$cafile" -noout
  check "…its ARL" wait_ldap "$ca" "authorityRevocationList;binary" "$T/$ca-arl.crl" ""
  check "…which verifies too" openssl crl -inform DER -in "$T/$ca-arl.crl" -CAfile "$cafile" -noout
  arl=$(openssl crl -inform DER -in "$T/$ca-arl.crl" -noout -text)
  assert_contains "…and is an ARL (onlyContainsCACerts)" "Only CA Certificates" "$arl"
  assert_contains "…with no entries" "No Revoked Certificates" "$arl"
  check "…and its delta" wait_ldap "$ca" "deltaRevocationList;binary" "$T/$ca-delta.crl" ""
  assert_contains "…a delta CRL" "Delta CRL Indicator" \
    "$(openssl crl -inform DER -in "$T/$ca-delta.crl" -noout -text)"
done
curl -sf -o "$T/http-auth.crl" "$URL/crl/auth.crl"
# The directory may have the one before if a publication ran since; compare numbers then.
num() { openssl crl -inform DER -in "$1" -noout -crlnumber | cut -d= -f2; }
if [ "$(num "$T/http-auth.crl")" = "$(num "$T/auth.crl")" ]; then
  check "the directory's CRL is the one served over HTTP, byte for byte" cmp "$T/http-auth.crl" "$T/auth.crl"
fi
ldapsearch -x -LLL -H "$LDAP_URL" -b "cn=auth,$BASE" -s base objectClass >"$T/ldap/oc.out" 2>&1
assert_contains "the entry is a cRLDistributionPoint" "objectClass: cRLDistributionPoint" \
  "$(cat "$T/ldap/oc.out")"

# ---- the directory goes down ----
call POST /v1/persons '{"id":"p1","name":"LDAP Test","address":"Tokyo","birth_date":"1990-01-02","gender":"male"}'
call POST /v1/cards '{"id":"c1","person_id":"p1","type":"mynumber","expiry":"2034-01-31"}'
call POST /v1/cards/c1/issue '{"certificates":"auth","passwords":{"auth":"5831"}}'
AUTH=$(jf '.certificates[0].serial')
slapd_stop
call POST "/v1/certificates/$AUTH/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke $AUTH with slapd down" 200 "$ST"
in_http=
for _ in $(seq 1 100); do
  curl -sf -o "$T/now.crl" "$URL/crl/auth.crl" &&
    openssl crl -inform DER -in "$T/now.crl" -noout -text | grep -q "Serial Number: $AUTH" &&
    { in_http=1; break; }
  sleep 0.2
done
assert_eq "the HTTP CRL lists it all the same" 1 "$in_http"
behind=
for _ in $(seq 1 100); do
  body=$(curl -s "$URL/readyz")
  ldap=$(jq -r '.checks.ldap // ""' <<<"$body")
  [[ "$ldap" == behind* ]] && { behind=1; break; }
  sleep 0.2
done
assert_eq "/readyz names ldap as behind" 1 "$behind"
assert_contains "…with the directory's error" "Can't contact LDAP server" "$ldap"
assert_eq "…without taking the node out of service (200)" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")"
for _ in $(seq 1 50); do
  lag=$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/metrics" | awk '$1=="jpki_ldap_lag_seconds" {print $2}')
  [ "${lag:-0}" -gt 0 ] && break
  sleep 0.2
done
check "/metrics: jpki_ldap_lag_seconds grows ($lag)" test "${lag:-0}" -gt 0

# ---- and comes back ----
check "slapd starts again" slapd_start
check "the publisher catches up: the directory's auth CRL lists $AUTH" \
  wait_ldap auth "certificateRevocationList;binary" "$T/auth2.crl" "$AUTH"
caught=
for _ in $(seq 1 50); do
  [ "$(curl -s "$URL/readyz" | jq -r '.checks.ldap')" = ok ] && { caught=1; break; }
  sleep 0.2
done
assert_eq "/readyz: ldap ok again" 1 "$caught"
assert_eq "/metrics: lag 0" 0 \
  "$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/metrics" | awk '$1=="jpki_ldap_lag_seconds" {print $2}')"
check "the directory's CRL verifies" \
  openssl crl -inform DER -in "$T/auth2.crl" -CAfile "$DATA/certs/auth-ca.pem" -noout
it_finish
