#!/usr/bin/env bash
# Issue 4 acceptance: jpkictl against the real jpkid — an operator registers a person and a
# card, issues both certificates, holds and releases the card, revokes a certificate; a relying
# party follows each step with `jpkictl ocsp` (cross-checked with openssl ocsp), fetches and
# verifies CRLs and compares the roots' fingerprints. Then the refusals in words with their exit
# codes (1 refused, 2 usage, 3 unreachable), roles, --json, --help of every command, and batch
# submission when the service has the batch endpoints.
. "$(dirname "$0")/lib.sh"
it_setup
it_start

export JPKI_URL=$URL
export JPKI_TOKEN_FILE=$DATA/admin.token
mkdir -p "$T/out"

# ocsp_wait CERT ISSUER WANT_PREFIX: polls jpkictl ocsp (2 s at most) until its first line
# starts with WANT_PREFIX; leaves the last run in OUT/ERR/RC.
ocsp_wait() {
  for _ in $(seq 1 40); do
    ctl ocsp "$1" --issuer "$2"
    [[ "$(head -1 <<<"$OUT")" == "$3"* ]] && return 0
    sleep 0.05
  done
  return 1
}
# openssl's view of the same status, for the cross-check.
openssl_status() {
  openssl ocsp -issuer "$2" -cert "$1" -url "$URL/ocsp" -CAfile "$2" 2>/dev/null |
    awk -v c="$1" '$1 == c":" {print $2; exit}'
}

# --- --help of everything, exit 0 ---
ctl --help
assert_eq "jpkictl --help exits 0" 0 "$RC"
assert_contains "…listing the commands" "card release ID" "$OUT"
for cmd in "person add" "person show" "person change" "person death" "card add" "card show" \
  "card issue" "card reset-password" "card hold" "card release" "card return" "cert show" "cert revoke" \
  "cert expiring" "operator add" "batch submit" "batch show" "ocsp" "crl fetch" "fingerprints"; do
  # shellcheck disable=SC2086
  ctl $cmd --help
  if [ "$RC" = 0 ] && [[ "$OUT" == "usage: jpkictl $cmd"* ]]; then pass "$cmd --help"; else
    fail "$cmd --help: exit $RC, $OUT $ERR"
  fi
done
ctl card --help
assert_eq "card --help exits 0" 0 "$RC"
assert_contains "…listing the card subcommands" "card hold ID" "$OUT"

# --- usage errors: exit 2, naming what is missing ---
ctl person add --id p1 --address x --birth-date 1990-01-02 --gender male
assert_eq "missing option: exit 2" 2 "$RC"
assert_eq "…naming it" "jpkictl: person add: missing required option --name
Try 'jpkictl person add --help'." "$ERR"
ctl card hold
assert_eq "missing argument: exit 2" 2 "$RC"
assert_contains "…naming it" "missing argument ID" "$ERR"
ctl card frobnicate c1
assert_eq "unknown subcommand: exit 2" 2 "$RC"
JPKI_URL= ctl card show c1
assert_eq "no URL: exit 2" 2 "$RC"
assert_contains "…saying where the URL comes from" "give --url or set JPKI_URL" "$ERR"
JPKI_TOKEN_FILE= ctl card show c1
assert_eq "no token: exit 2" 2 "$RC"
ctl --url "not-a-url" card show c1
assert_eq "a URL without http(s): exit 2" 2 "$RC"

# --- unreachable service: exit 3 ---
ctl --url http://127.0.0.1:1 card show c1
assert_eq "unreachable service: exit 3" 3 "$RC"
assert_contains "…saying so" "jpkictl: card show: http://127.0.0.1:1: " "$ERR"
ctl --url http://127.0.0.1:1 fingerprints
assert_eq "unreachable service (public endpoint): exit 3" 3 "$RC"

# --- operator: person, card, issue ---
NAME="山田 花子"
ctl person add --id p1 --name "$NAME" --address "東京都千代田区霞が関2-1-2" \
  --birth-date 1990-01-02 --gender female
assert_eq "person add: exit 0" 0 "$RC"
assert_contains "…printing the record" "registered person p1" "$OUT"
assert_contains "…with the name as UTF-8" "name:         $NAME" "$OUT"
assert_eq "…nothing on stderr" "" "$ERR"
ctl person add --id p1 --name "$NAME" --address x --birth-date 1990-01-02 --gender female
assert_eq "person add of an existing id: exit 1" 1 "$RC"
assert_contains "…409 in words" "jpkictl: person add: 409 conflict: " "$ERR"
assert_not_contains "…no personal data of ours on stderr" "$NAME" "$ERR"
ctl person add --id p2 --name x --address y --birth-date 2023-02-29 --gender male
assert_eq "bad birth date: exit 1" 1 "$RC"
assert_contains "…400 naming the field" "jpkictl: person add: 400 invalid: " "$ERR"
assert_contains "…(field: birth_date)" "(field: birth_date)" "$ERR"

ctl card add --id c1 --person p1 --type mynumber --expiry 2035-06-30 \
  --prefecture 東京都 --municipality 千代田区
assert_eq "card add: exit 0" 0 "$RC"
assert_contains "…printing the card" "registered card c1" "$OUT"
assert_contains "…state active" "state:        active" "$OUT"

ctl card issue c1 --certs both --out "$T/out"
assert_eq "card issue: exit 0" 0 "$RC"
SIGN=$(awk '$1 == "issued" && $2 == "sign" {print $3}' <<<"$OUT")
AUTH=$(awk '$1 == "issued" && $2 == "auth" {print $3}' <<<"$OUT")
check "both serials printed" test -n "$SIGN" -a -n "$AUTH"
SIGN_PEM=$T/out/$SIGN.pem
AUTH_PEM=$T/out/$AUTH.pem
check "the signing PEM is written and verifies" openssl verify -x509_strict -CAfile "$SIGN_CA" \
  "$SIGN_PEM"
check "the authentication PEM is written and verifies" openssl verify -x509_strict \
  -CAfile "$AUTH_CA" "$AUTH_PEM"
assert_eq "the PEM's serial is the printed one" "serial=$SIGN" \
  "$(openssl x509 -in "$SIGN_PEM" -noout -serial)"

ctl card issue c1 --certs both --passwords-file "$T/pw.json"
assert_eq "card issue without --out: exit 2, before anything is issued" 2 "$RC"
assert_contains "…saying why" "--out DIR is required" "$ERR"
ctl card show c1
assert_contains "card show lists the signing certificate" "$SIGN  sign  good  card c1" "$OUT"
ctl person show p1
assert_contains "person show lists the card" "c1  mynumber  active  expiry 2035-06-30" "$OUT"
assert_contains "…and the certificates" "$AUTH  auth  good  card c1" "$OUT"

# --- relying party: OCSP good ---
ctl ocsp "$AUTH_PEM" --issuer "$AUTH_CA"
assert_eq "ocsp good: exit 0" 0 "$RC"
assert_eq "…first line 'good'" good "$(head -1 <<<"$OUT")"
assert_contains "…naming the serial" "serial:      $AUTH" "$OUT"
assert_eq "…openssl ocsp agrees" good "$(openssl_status "$AUTH_PEM" "$AUTH_CA")"
ctl ocsp "$SIGN_PEM" --issuer "$SIGN_CA" --nonce --hash sha256
assert_eq "ocsp good with a nonce, SHA-256 CertID: exit 0" 0 "$RC"
assert_eq "…good" good "$(head -1 <<<"$OUT")"
ctl ocsp "$SIGN_PEM" --issuer "$SIGN_CA" --json
assert_eq "ocsp --json: exit 0" 0 "$RC"
assert_eq "…JSON status" good "$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["status"])' "$OUT")"
# A serial the service never issued, under the signing CA's name and key: unknown, never good.
# (Python cryptography copies the CA's subject as the issuer, byte for byte; a random key signs.)
$PY - "$SIGN_CA" "$T/stray.pem" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
ca = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(x509.Name([]))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(0x0123456789ABCDEF).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
open(sys.argv[2], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
PY
ctl ocsp "$T/stray.pem" --issuer "$SIGN_CA"
assert_eq "ocsp of a never-issued serial: exit 1" 1 "$RC"
assert_eq "…'unknown'" unknown "$(head -1 <<<"$OUT")"
ctl ocsp "$SIGN_PEM" --issuer "$AUTH_CA"
assert_eq "ocsp with the wrong issuer: exit 1" 1 "$RC"
assert_not_contains "…never 'good'" "good" "$OUT"

# --- hold: both revoked certificateHold ---
ctl card hold c1
assert_eq "card hold: exit 0" 0 "$RC"
assert_contains "…listing both" "held (certificateHold): " "$OUT"
assert_contains "…the signing one" "$SIGN" "$OUT"
assert_contains "…the authentication one" "$AUTH" "$OUT"
ocsp_wait "$SIGN_PEM" "$SIGN_CA" "revoked"
assert_eq "ocsp after hold: exit 1" 1 "$RC"
if [[ "$(head -1 <<<"$OUT")" =~ ^revoked\ \([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z,\ certificateHold\)$ ]]; then
  pass "…'revoked (time, certificateHold)'"
else fail "…'revoked (time, certificateHold)': $OUT $ERR"; fi
assert_eq "…openssl ocsp agrees" revoked "$(openssl_status "$SIGN_PEM" "$SIGN_CA")"
ocsp_wait "$AUTH_PEM" "$AUTH_CA" "revoked"
assert_contains "the auth certificate is held too" "certificateHold)" "$(head -1 <<<"$OUT")"

ctl card hold c1
assert_eq "holding a held card: exit 1" 1 "$RC"
assert_eq "…the refusal in words" \
  "jpkictl: card hold: 409 refused: card c1 is already on hold (field: card)" "$ERR"
assert_eq "…nothing on stdout" "" "$OUT"
ctl card hold c1 --json
assert_eq "--json refusal: exit 1" 1 "$RC"
assert_eq "…the error body on stdout" refused \
  "$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["error"]["code"])' "$OUT")"

# --- release: the auth certificate only, with the notice ---
ctl card release c1
assert_eq "card release: exit 0" 0 "$RC"
assert_eq "…released the auth certificate" "released: $AUTH" "$(grep '^released:' <<<"$OUT")"
assert_eq "…the signing one stays held" "still held: $SIGN" "$(grep '^still held:' <<<"$OUT")"
assert_contains "…with the notice to revoke and re-issue" "notice: " "$OUT"
assert_contains "…which says revoke" "revoke" "$(grep '^notice:' <<<"$OUT")"
ocsp_wait "$AUTH_PEM" "$AUTH_CA" "good"
assert_eq "ocsp: auth good again (exit 0)" 0 "$RC"
ctl ocsp "$SIGN_PEM" --issuer "$SIGN_CA"
assert_contains "ocsp: sign still held" "certificateHold)" "$(head -1 <<<"$OUT")"

# --- fingerprints ---
ctl fingerprints --sign "$SIGN_CA" --auth "$AUTH_CA"
assert_eq "fingerprints with both local roots: exit 0" 0 "$RC"
for ca in sign auth; do
  fp=$(openssl x509 -in "$DATA/certs/$ca-ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
  assert_contains "fingerprints: $ca matches openssl's" "$ca  SHA-256 $fp" "$OUT"
  assert_contains "…compared with the file" "$ca: matches $DATA/certs/$ca-ca.pem" "$OUT"
done
ctl fingerprints --auth "$SIGN_CA"
assert_eq "fingerprints with the wrong file: exit 1" 1 "$RC"
assert_contains "…MISMATCH named" "auth: MISMATCH: $SIGN_CA has SHA-256" "$ERR"

# --- CRL: the held signing certificate appears with certificateHold ---
# The service regenerates CRLs every crl.period_s (60 s at least); publish now, offline, and
# let the service pick up the new file (it re-checks within a second).
check "jpkid crl publishes the CRLs now" "$JPKID" crl "${SETS[@]}"
entries=
for _ in $(seq 1 50); do
  ctl crl fetch sign -o "$T/sign.crl" --list
  entries=$(awk '$1 == "entries:" {print $2}' <<<"$OUT")
  [ "$RC" = 0 ] && [ "${entries:-0}" -ge 1 ] && break
  sleep 0.1
done
assert_eq "crl fetch sign: exit 0" 0 "$RC"
assert_eq "…one entry" 1 "$entries"
assert_contains "…the held certificate, certificateHold" "$SIGN  " "$OUT"
assert_contains "…reason" "certificateHold" "$(grep "$SIGN" <<<"$OUT")"
assert_contains "…verified" "verified with the CA certificate" "$OUT"
number=$(awk '$1 == "number:" {print $2}' <<<"$OUT")
want=$(openssl crl -inform DER -in "$T/sign.crl" -noout -crlnumber | cut -d= -f2)
assert_eq "…CRL number as openssl reads the saved file" "$((want))" "$number"
check "…the saved file verifies with openssl" openssl crl -inform DER -in "$T/sign.crl" \
  -CAfile "$SIGN_CA" -noout
next=$(openssl crl -inform DER -in "$T/sign.crl" -noout -nextupdate | cut -d= -f2)
assert_eq "…nextUpdate as openssl reads it" "$(TZ=UTC date -d "$next" +%Y-%m-%dT%H:%M:%SZ)" \
  "$(awk '$1 == "next" {print $3}' <<<"$OUT")"
ctl crl fetch sign --ca "$SIGN_CA"
assert_eq "crl fetch with a local trust anchor: exit 0" 0 "$RC"
ctl crl fetch sign --ca "$AUTH_CA"
assert_eq "crl fetch verified with the wrong CA: exit 1" 1 "$RC"
assert_contains "…saying why" "the CRL's issuer is not the CA certificate's subject" "$ERR"
ctl crl fetch auth --json
assert_eq "crl fetch auth --json: exit 0" 0 "$RC"
assert_eq "…JSON ca" auth "$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["ca"])' "$OUT")"
ctl crl fetch sign --partition 3
assert_eq "a partition that does not exist: exit 1" 1 "$RC"
assert_contains "…404 in words" "404" "$ERR"

# --- revoke: terminal, keyCompromise ---
ctl cert revoke "$SIGN" --reason keyCompromise
assert_eq "cert revoke: exit 0" 0 "$RC"
assert_contains "…status revoked" "status:       revoked" "$OUT"
assert_contains "…reason" "reason:       keyCompromise" "$OUT"
ocsp_wait "$SIGN_PEM" "$SIGN_CA" "revoked"
assert_contains "ocsp after revoke: keyCompromise" "keyCompromise)" "$(head -1 <<<"$OUT")"
assert_eq "…exit 1" 1 "$RC"
ctl cert revoke "$SIGN" --reason keyCompromise
assert_eq "revoking again: exit 1" 1 "$RC"
assert_contains "…409 refused" "jpkictl: cert revoke: 409 refused: " "$ERR"
ctl cert revoke "$AUTH" --reason lost
assert_eq "an unknown reason: exit 1" 1 "$RC"
assert_contains "…400 naming the field" "(field: reason)" "$ERR"
ctl cert show "$SIGN" --out "$T/again.pem"
assert_eq "cert show: exit 0" 0 "$RC"
assert_contains "…history of the hold" "cert.hold" "$OUT"
assert_contains "…history of the revocation" "cert.revoke" "$OUT"
check "…--out wrote the same certificate" cmp <(openssl x509 -in "$T/again.pem" -outform DER) \
  <(openssl x509 -in "$SIGN_PEM" -outform DER)
ctl cert show FFFF
assert_eq "unknown serial: exit 1" 1 "$RC"
assert_contains "…404" "jpkictl: cert show: 404 not_found: " "$ERR"
ctl cert expiring --days 3650
assert_eq "cert expiring: exit 0" 0 "$RC"
assert_contains "…the good auth certificate" "$AUTH  auth  good" "$OUT"
assert_not_contains "…not the revoked one" "$SIGN" "$OUT"

# --- errors in words ---
ctl card show nosuch
assert_eq "unknown card: exit 1" 1 "$RC"
assert_contains "…404 in words" "jpkictl: card show: 404 not_found: " "$ERR"
assert_contains "…naming it" "nosuch" "$ERR"
ctl card issue nosuch --certs both --out "$T/out"
assert_eq "issue onto an unknown card: exit 1" 1 "$RC"
echo "0000000000000000000000000000000000000000000000000000000000000000" >"$T/bad.token"
ctl --token-file "$T/bad.token" card show c1
assert_eq "unknown token: exit 1" 1 "$RC"
assert_contains "…401" "jpkictl: card show: 401 unauthenticated" "$ERR"

# --- JSON output ---
ctl card show c1 --json
assert_eq "card show --json: exit 0" 0 "$RC"
assert_eq "…the service's JSON" "c1 active" \
  "$($PY -c 'import json,sys; c=json.loads(sys.argv[1])["card"]; print(c["id"], c["state"])' "$OUT")"

# --- basic-info change through the CLI, keeping the facts not given ---
ctl card issue c1 --certs sign --out "$T/out"
SIGN2=$(awk '$1 == "issued" && $2 == "sign" {print $3}' <<<"$OUT")
check "a new signing certificate" test -n "$SIGN2"
ctl person change p1 --address "大阪府大阪市北区1-1"
assert_eq "person change: exit 0" 0 "$RC"
assert_contains "…revoked the new signing certificate" \
  "signing certificates revoked (affiliationChanged): $SIGN2" "$OUT"
assert_contains "…kept the name" "name:         $NAME" "$OUT"
assert_contains "…new address" "address:      大阪府大阪市北区1-1" "$OUT"

# --- operators and roles ---
ctl operator add --name alice --role auditor --token-out "$T/alice.token"
assert_eq "operator add: exit 0" 0 "$RC"
assert_eq "…token file 0600" 600 "$(stat -c %a "$T/alice.token")"
assert_not_contains "…token not printed" "$(cat "$T/alice.token")" "$OUT"
ctl --token-file "$T/alice.token" card show c1
assert_eq "an auditor may look" 0 "$RC"
ctl --token-file "$T/alice.token" card hold c1
assert_eq "an auditor may not hold: exit 1" 1 "$RC"
assert_contains "…403 in words" "jpkictl: card hold: 403 forbidden" "$ERR"

# --- return and death ---
ctl card return c1
assert_eq "card return: exit 0" 0 "$RC"
assert_contains "…revoking the auth certificate" "$AUTH" "$(grep '^revoked' <<<"$OUT")"
ocsp_wait "$AUTH_PEM" "$AUTH_CA" "revoked"
assert_contains "ocsp: cessationOfOperation" "cessationOfOperation)" "$(head -1 <<<"$OUT")"
ctl person death p1
assert_eq "person death: exit 0" 0 "$RC"
assert_contains "…recorded" "person p1 recorded deceased" "$OUT"

# --- batches, when the service has them ---
probe=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$JPKI_TOKEN_FILE")" \
  -H 'Content-Type: application/json' --data '{}' "$URL/v1/batches")
if [ "$probe" = 404 ]; then
  echo "# batch endpoints absent (POST /v1/batches answers 404): batch submit not tested"
else
  cat >"$T/batch.yaml" <<'EOF'
batch: "it-ctl-001"
rows:
  - key: "r1"
    person: {id: "bp1", name: "鈴木 一郎", address: "大阪府", birth_date: "1975-12-31", gender: male}
    card: {id: "bc1", type: mynumber, expiry: "2034-01-02"}
    certificates: both
    passwords: {sign: "QWERTY7890", auth: "5831"}
  - key: "r2"
    person: {id: "bp2", name: "佐藤 花", address: "北海道", birth_date: "1980-02-30", gender: female}
    card: {id: "bc2", type: mynumber, expiry: "2034-01-02"}
    certificates: auth
  - key: "r3"
    person: {id: "bp3", name: "田中 次郎", address: "福岡県", birth_date: "1960-05-05", gender: male}
    card: {id: "bc3", type: juki, expiry: "2030-01-02"}
    certificates: auth
    passwords: {sign: "QWERTY7890", auth: "5831"}
EOF
  ctl batch submit "$T/batch.yaml"
  assert_eq "batch submit with a bad and a refused row: exit 1" 1 "$RC"
  # the bad row is a failed row of the batch (docs/API.md): 3 rows in all, listed once
  assert_contains "…plain progress lines when not a TTY, done and failed apart" "3/3 finished: 1 done, 2 failed" "$OUT"
  assert_eq "…the bad row listed once" 1 "$(grep -c 'rows\[1\].person.birth_date' <<<"$OUT")"
  assert_contains "…summary" "batch it-ctl-001 (id " "$OUT"
  assert_contains "…the bad row named" "rows[1].person.birth_date" "$OUT"
  assert_contains "…the juki row's error" "(key r3): refused: " "$OUT"
  assert_not_contains "…no ANSI/CR redraws off a TTY" $'\r' "$OUT"
  id=$(sed -n 's/^submitted batch it-ctl-001 as id \([^:]*\):.*/\1/p' <<<"$OUT")
  ctl batch show "$id"
  assert_eq "batch show: exit 0" 0 "$RC"
  assert_contains "…state done" "state: done" "$OUT"
  ctl card show bc1
  assert_contains "the good row issued" "bc1" "$OUT"
  ctl batch show 999999
  assert_eq "unknown batch: exit 1" 1 "$RC"
fi

it_finish
