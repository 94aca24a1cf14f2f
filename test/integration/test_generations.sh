#!/usr/bin/env bash
# CA generations (DESIGN §11, issue 14): `jpkid rollover` of the signing CA on a live instance
# while a loop of OCSP queries runs (no failed answer); both generations served afterwards
# (roots, links, fingerprints, CRLs, OCSP by issuer key hash); path building old root + link →
# new certificate and the reverse with openssl verify -x509_strict, GnuTLS certtool, NSS
# vfychain and Python cryptography; two roots under one subject: each CRL and OCSP answer
# verifies against its own root and fails against the other (`openssl crl -CAfile` with both
# roots finds one by name: see below), path validation with both picks right; the new generation's
# own subscriber validity (--validity-years 10 --validity-years-minor 5: 10 years, 5 under 18,
# capped by the card; generation 1 keeps the configuration's); bad input refused with nothing
# half-recorded (a full key store: test_rollover_space.sh); a rollover with no service
# running (under the owner lock) to ECDSA P-384 under a new subject, taken up by the next
# start.
. "$(dirname "$0")/lib.sh"
it_setup
it_start --set crl.after_change_s=1
TOKEN=$ADMIN # through the running service's API: its keys are loaded already

mkdir -p "$T/out"
# issue_new PERSON CARD WHICH: registers both, issues; each certificate's PEM in
# $T/out/<serial>.pem; prints "ca serial" lines.
issue_new() {
  call POST /v1/persons "{\"id\":\"$1\",\"name\":\"試験 一郎\",\"address\":\"東京都港区1-1\",\"birth_date\":\"1980-01-15\",\"gender\":\"male\"}"
  call POST /v1/cards "{\"id\":\"$2\",\"person_id\":\"$1\",\"type\":\"mynumber\",\"expiry\":\"2034-01-31\"}"
  local pw='"sign":"QWERTY7890","auth":"4826"'
  [ "$3" = sign ] && pw='"sign":"QWERTY7890"'
  [ "$3" = auth ] && pw='"auth":"4826"'
  call POST "/v1/cards/$2/issue" "{\"certificates\":\"$3\",\"passwords\":{$pw}}"
  for i in $(jq -r '.certificates | keys[]' <<<"$RB"); do
    jq -r ".certificates[$i].pem" <<<"$RB" >"$T/out/$(jq -r ".certificates[$i].serial" <<<"$RB").pem"
  done
  jq -r '.certificates[] | "\(.ca) \(.serial)"' <<<"$RB"
}
revoke() { call POST "/v1/certificates/$1/revoke" '{"reason":"keyCompromise"}'; }
out=$(issue_new p1 c1 both)
S1=$(awk '$1=="sign" {print $2}' <<<"$out")
A1=$(awk '$1=="auth" {print $2}' <<<"$out")
R1=$(issue_new p2 c9 sign | awk '$1=="sign" {print $2}')
revoke "$R1"
assert_eq "certificates issued and revoked through the API" "200 3" "$ST $(ls "$T/out" | wc -l)"
ROOT1=$T/root1.pem
cp "$SIGN_CA" "$ROOT1"

ocsp() { # ISSUER CERT CAFILE: openssl ocsp's output
  openssl ocsp -issuer "$1" -cert "$2" -url "$URL/ocsp" -CAfile "$3" -no_nonce 2>&1
}
status_of() { awk -v c="$2" '$1 == c":" {print $2; exit}' <<<"$1"; }

# --- the ceremony under OCSP load ---
: >"$T/loop.fail"
(
  n=0
  while [ ! -e "$T/loop.stop" ]; do
    o=$(ocsp "$ROOT1" "$T/out/$S1.pem" "$ROOT1")
    if [[ "$o" != *"Response verify OK"* || "$o" != *": good"* ]]; then echo "$o" >>"$T/loop.fail"; fi
    o=$(openssl ocsp -issuer "$ROOT1" -cert "$T/out/$R1.pem" -url "$URL/ocsp" -CAfile "$ROOT1" 2>&1)
    [[ "$o" == *": revoked"* ]] || echo "$o" >>"$T/loop.fail"
    n=$((n + 1))
  done
  echo "$n" >"$T/loop.count"
) &
LOOP=$!
sleep 0.3
roll=$("$JPKID" rollover "${SETS[@]}" --ca sign --algorithm rsa2048 --validity-years 10 \
  --validity-years-minor 5 2>&1)
rc=$?
sleep 0.3
touch "$T/loop.stop"
wait "$LOOP"
assert_eq "rollover on the live instance succeeds" 0 "$rc"
assert_contains "…performed by the running service" "made by the running jpkid serve" "$roll"
assert_contains "…generation 2" "generation 2 (rsa2048)" "$roll"
assert_eq "no failed OCSP answer during the ceremony ($(cat "$T/loop.count") rounds)" "" \
  "$(head -5 "$T/loop.fail")"
check "the admin socket is owner-only (0600)" test "$(stat -c %a "$DATA/admin.sock")" = 600

# --- publication ---
fetch_der() { curl -fsS "$URL$1" | openssl x509 -inform DER -out "$2"; }
check "/ca/sign/1.cer is the first root" fetch_der /ca/sign/1.cer "$T/r1.pem"
check "…the same as the file" cmp <(openssl x509 -in "$T/r1.pem" -outform DER) \
  <(openssl x509 -in "$ROOT1" -outform DER)
check "/ca/sign/2.cer" fetch_der /ca/sign/2.cer "$T/root2.pem"
check "/ca/sign.cer is the newest root" cmp <(curl -fsS "$URL/ca/sign.cer") \
  <(openssl x509 -in "$T/root2.pem" -outform DER)
check "/ca/sign/links/1-2.cer" fetch_der /ca/sign/links/1-2.cer "$T/link12.pem"
check "/ca/sign/links/2-1.cer" fetch_der /ca/sign/links/2-1.cer "$T/link21.pem"
assert_eq "/ca/sign/links/1-3.cer: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ca/sign/links/1-3.cer")"
assert_eq "/ca/sign/3.cer: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ca/sign/3.cer")"
assert_eq "the new root keeps the subject" "$(openssl x509 -in "$ROOT1" -noout -subject)" \
  "$(openssl x509 -in "$T/root2.pem" -noout -subject)"
fps=$(curl -fsS "$URL/ca/fingerprints")
assert_eq "fingerprints: two sign generations" "1 rsa2048 false|2 rsa2048 true" \
  "$(jq -r '[.sign.generations[] | "\(.generation) \(.algorithm) \(.issuing)"] | join("|")' <<<"$fps")"
assert_eq "fingerprints: generation 2's SHA-256" \
  "$(openssl x509 -in "$T/root2.pem" -noout -fingerprint -sha256 | cut -d= -f2)" \
  "$(jq -r '.sign.generations[1].sha256' <<<"$fps")"
assert_eq "fingerprints: each generation's subscriber validity (generation 1's unchanged)" \
  "1 5/5 configuration|2 10/5 generation" \
  "$(jq -r '[.sign.generations[] | "\(.generation) \(.subscriber_validity.years)/\(.subscriber_validity.years_minor) \(.subscriber_validity.from)"] | join("|")' <<<"$fps")"
assert_eq "fingerprints: the newest on top" "$(jq -r '.sign.generations[1].sha256' <<<"$fps")" \
  "$(jq -r '.sign.sha256' <<<"$fps")"
assert_eq "sign generations in the registry (generation 1's validity: the configuration's)" \
  "1|1|rsa2048||
2|0|rsa2048|10|5" "$(sqlite3 "$DB" 'SELECT generation, state, algorithm, validity_years, validity_years_minor FROM ca_generations WHERE ca = 0 ORDER BY generation')"
assert_contains "the ceremony says the validity it recorded" "subscriber validity: 10 years (5 under 18)" "$roll"
assert_contains "the ceremony is audit-logged" "ca.rollover|ca/sign/2" \
  "$(sqlite3 "$DB" "SELECT action, target FROM events WHERE action = 'ca.rollover'")"

# --- new issuance on generation 2 ---
S2=$(issue_new p3 c2 sign | awk '$1=="sign" {print $2}')
call GET "/v1/certificates/$S2"
assert_eq "the API says generation 2" 2 "$(jf '.generation')"
G2=$T/out/$S2.pem
assert_eq "new certificate recorded as generation 2" 2 \
  "$(sqlite3 "$DB" "SELECT generation FROM certificates WHERE serial = '$S2'")"
assert_contains "its CDP names generation 2's CRL" "/crl/sign/g2.crl" \
  "$(openssl x509 -in "$G2" -noout -ext crlDistributionPoints)"
assert_eq "its AKI is the new key" \
  "$(openssl x509 -in "$T/root2.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')" \
  "$(openssl x509 -in "$G2" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/^keyid://')"

assert_eq "…capped by its card's expiry (2034-01-31, 23:59:59 JST) below its 10 years" \
  "Jan 31 14:59:59 2034 GMT" "$(openssl x509 -in "$G2" -noout -enddate | cut -d= -f2)"
# ten PERSON CARD BIRTH: the year of the notAfter of a signing certificate issued onto a card
# that runs for 10½ years (no cap below 10 years).
far=$(date -u -d "+10 years +6 months" +%F)
ten() {
  call POST /v1/persons "{\"id\":\"$1\",\"name\":\"試験 十年\",\"address\":\"東京都港区1-1\",\"birth_date\":\"$3\",\"gender\":\"female\"}"
  call POST /v1/cards "{\"id\":\"$2\",\"person_id\":\"$1\",\"type\":\"mynumber\",\"expiry\":\"$far\"}"
  call POST "/v1/cards/$2/issue" '{"certificates":"sign","passwords":{"sign":"QWERTY7890"}}'
  date -u -d "$(jf '.certificates[0].pem' | openssl x509 -noout -enddate | cut -d= -f2)" +%Y
}
year=$(date -u +%Y)
assert_eq "generation 2 issues an adult's certificate for its 10 years" "$((year + 10))" \
  "$(ten p5 c5 1980-01-15)"
assert_eq "…and a holder's under 18 for its 5" "$((year + 5))" \
  "$(ten p6 c6 "$(date -u -d '-16 years' +%F)")"
assert_eq "generation 1's certificate keeps the configuration's 5 years" "$((year + 5))" \
  "$(date -u -d "$(openssl x509 -in "$T/out/$S1.pem" -noout -enddate | cut -d= -f2)" +%Y)"

# --- path building across generations ---
check "openssl: old root + link 1-2 → new certificate (-x509_strict)" \
  openssl verify -x509_strict -CAfile "$ROOT1" -untrusted "$T/link12.pem" "$G2"
check "openssl: new root + link 2-1 → old certificate (-x509_strict)" \
  openssl verify -x509_strict -CAfile "$T/root2.pem" -untrusted "$T/link21.pem" "$T/out/$S1.pem"
check_fails "openssl: old root alone does not verify the new certificate" \
  openssl verify -x509_strict -CAfile "$ROOT1" "$G2"
check "openssl: each certificate verifies against its own root" \
  openssl verify -x509_strict -CAfile "$T/root2.pem" "$G2"
cat "$G2" "$T/link12.pem" >"$T/chain12.pem"
cat "$T/out/$S1.pem" "$T/link21.pem" >"$T/chain21.pem"
check "GnuTLS certtool: old root + link → new certificate" \
  certtool --verify --load-ca-certificate "$ROOT1" --infile "$T/chain12.pem"
check "GnuTLS certtool: new root + link → old certificate" \
  certtool --verify --load-ca-certificate "$T/root2.pem" --infile "$T/chain21.pem"
nss_db() { # DIR ROOT: an NSS database trusting ROOT alone
  mkdir -p "$1"
  certutil -N -d "sql:$1" --empty-password >/dev/null 2>&1
  certutil -A -d "sql:$1" -n jpki-root -t C,C,C -i "$2" >/dev/null 2>&1
}
nss_db "$T/nss1" "$ROOT1"
nss_db "$T/nss2" "$T/root2.pem"
check "NSS vfychain: old root + link → new certificate" \
  vfychain -d "sql:$T/nss1" -pp -u 4 -a "$G2" -a "$T/link12.pem"
check "NSS vfychain: new root + link → old certificate" \
  vfychain -d "sql:$T/nss2" -pp -u 4 -a "$T/out/$S1.pem" -a "$T/link21.pem"
check "Python cryptography: verify_directly_issued_by on each link" $PY - "$ROOT1" "$T/root2.pem" \
  "$T/link12.pem" "$T/link21.pem" "$G2" <<'EOF'
import sys
from cryptography import x509
r1, r2, l12, l21, g2 = (x509.load_pem_x509_certificate(open(p, "rb").read()) for p in sys.argv[1:])
l12.verify_directly_issued_by(r1)  # the old key certifies the new root
l21.verify_directly_issued_by(r2)  # the new key certifies the old root
g2.verify_directly_issued_by(l12)  # a new certificate under the link's (new) key
assert l12.public_key().public_numbers() == r2.public_key().public_numbers()
assert l21.public_key().public_numbers() == r1.public_key().public_numbers()
try:
    g2.verify_directly_issued_by(r1)
    raise SystemExit("a new certificate verified under the old key")
except Exception as e:
    if isinstance(e, SystemExit):
        raise
EOF

# --- OCSP and CRLs: each generation's own signer, told apart by key ---
o=$(ocsp "$ROOT1" "$T/out/$S1.pem" "$ROOT1")
assert_eq "OCSP: generation 1 certificate still good" good "$(status_of "$o" "$T/out/$S1.pem")"
assert_contains "…verified against root 1" "Response verify OK" "$o"
assert_not_contains "…by root 2 it does not verify" "Response verify OK" \
  "$(ocsp "$ROOT1" "$T/out/$S1.pem" "$T/root2.pem")"
o=$(ocsp "$ROOT1" "$T/out/$R1.pem" "$ROOT1")
assert_eq "OCSP: generation 1 revoked certificate still revoked" revoked "$(status_of "$o" "$T/out/$R1.pem")"
o=$(ocsp "$T/root2.pem" "$G2" "$T/root2.pem")
assert_eq "OCSP: generation 2 certificate good" good "$(status_of "$o" "$G2")"
assert_contains "…verified against root 2" "Response verify OK" "$o"
assert_not_contains "…by root 1 it does not verify" "Response verify OK" "$(ocsp "$T/root2.pem" "$G2" "$ROOT1")"
o=$(openssl ocsp -issuer "$ROOT1" -cert "$G2" -url "$URL/ocsp" -CAfile "$ROOT1" -no_nonce 2>&1)
assert_eq "OCSP: a generation-2 serial under generation 1's key is unknown" unknown "$(status_of "$o" "$G2")"
o=$(openssl ocsp -issuer "$T/root2.pem" -cert "$G2" -url "$URL/ocsp" -CAfile "$T/root2.pem" 2>&1)
assert_eq "OCSP with a nonce: generation 2 good" good "$(status_of "$o" "$G2")"
o=$(openssl ocsp -issuer "$ROOT1" -cert "$T/out/$S1.pem" -issuer "$T/root2.pem" -cert "$G2" \
  -url "$URL/ocsp" -CAfile "$ROOT1" -no_nonce 2>&1)
assert_contains "OCSP: one request naming two generations is refused (unauthorized)" "unauthorized" "$o"
revoke "$S2"
for _ in $(seq 1 100); do
  o=$(ocsp "$T/root2.pem" "$G2" "$T/root2.pem")
  [ "$(status_of "$o" "$G2")" = revoked ] && break
  sleep 0.1
done
assert_eq "OCSP: generation 2 revocation seen" revoked "$(status_of "$o" "$G2")"

crl_has() { # URL ROOT: the CRL's verification by ROOT and its serials
  curl -fsS "$URL$1" | openssl crl -inform DER -CAfile "$2" -noout -text 2>&1
}
# The service publishes every generation's CRL after a change (crl.after_change_s = 1 here).
for _ in $(seq 1 150); do
  [[ "$(crl_has /crl/sign/g2.crl "$T/root2.pem")" == *"$S2"* ]] && break
  sleep 0.1
done
c=$(crl_has /crl/sign/g2.crl "$T/root2.pem")
assert_contains "CRL g2 verifies against root 2" "verify OK" "$c"
assert_contains "…and lists the generation-2 revocation" "$S2" "$c"
assert_not_contains "…and not generation 1's" "$R1" "$c"
assert_contains "CRL g2 fails against root 1" "verify failure" "$(crl_has /crl/sign/g2.crl "$ROOT1")"
c=$(crl_has /crl/sign/g1.crl "$ROOT1")
assert_contains "CRL g1 verifies against root 1" "verify OK" "$c"
assert_contains "…lists generation 1's revocation" "$R1" "$c"
assert_not_contains "…and not generation 2's" "$S2" "$c"
assert_contains "CRL g1 fails against root 2" "verify failure" "$(crl_has /crl/sign/g1.crl "$T/root2.pem")"
check "/crl/sign.crl is generation 1's CRL (the URL its certificates name)" \
  cmp <(curl -fsS "$URL/crl/sign.crl") <(curl -fsS "$URL/crl/sign/g1.crl")
cat "$ROOT1" "$T/root2.pem" >"$T/both.pem"
# `openssl crl -CAfile` looks its issuer up by name alone (apps/crl.c:
# X509_STORE_CTX_get_obj_by_subject), so with two roots of one name it verifies the CRL of
# whichever root it finds first and refuses the other: never a wrong "verify OK".
r1=$(crl_has /crl/sign/g1.crl "$T/both.pem")
r2=$(crl_has /crl/sign/g2.crl "$T/both.pem")
assert_eq "openssl crl -CAfile with both roots: exactly one of the two CRLs verifies (by name)" \
  1 "$(grep -c 'verify OK' <<<"$r1$r2")"
# Path validation picks by key: both roots, both CRLs, each certificate checked against its own.
curl -fsS "$URL/crl/sign/g1.crl" | openssl crl -inform DER -out "$T/g1.crl"
curl -fsS "$URL/crl/sign/g2.crl" | openssl crl -inform DER -out "$T/g2.crl"
vcrl() { openssl verify -x509_strict -crl_check -CAfile "$T/both.pem" -CRLfile "$T/g1.crl" \
  -CRLfile "$T/g2.crl" "$1" 2>&1; }
assert_contains "openssl verify -crl_check, both roots and CRLs: generation 1 good" ": OK" \
  "$(vcrl "$T/out/$S1.pem")"
assert_contains "…generation 1 revoked by its own CRL" "certificate revoked" "$(vcrl "$T/out/$R1.pem")"
assert_contains "…generation 2 revoked by its own CRL" "certificate revoked" "$(vcrl "$G2")"

# --- jpkictl: the generation found by key identifier ---
ctl --url "$URL" fingerprints
assert_contains "jpkictl fingerprints lists generation 1" "generation 1 rsa2048" "$OUT"
assert_contains "…and the issuing generation 2" "generation 2 (issuing)" "$OUT"
assert_contains "…with the subscriber validity it recorded" \
  "subscribers 10 years (5 under 18), from the generation" "$OUT"
assert_contains "…and generation 1's, the configuration's" \
  "subscribers 5 years (5 under 18), from the configuration" "$OUT"
ctl --url "$URL" ocsp "$T/out/$S1.pem"
assert_eq "jpkictl ocsp finds generation 1 by the AKI" "0 good" "$RC $(head -1 <<<"$OUT" | awk '{print $NF}')"
ctl --url "$URL" ocsp "$G2"
assert_contains "jpkictl ocsp finds generation 2 by the AKI (revoked)" "revoked" "$OUT"

# --- bad input: refused, nothing half-recorded ---
before=$(ls "$DATA/certs" "$DATA/keys" | sort | md5sum)
check_fails "a repeated rollover (same algorithm and subject within a minute) is refused" \
  "$JPKID" rollover "${SETS[@]}" --ca sign --algorithm rsa2048
assert_contains "…with a clear sentence" "refusing a repeated rollover" "$(cat "$T/check.out")"
check_fails "an unknown algorithm is refused" "$JPKID" rollover "${SETS[@]}" --ca sign --algorithm dsa1024
assert_contains "…naming the accepted ones" "unknown key algorithm \"dsa1024\" (expected rsa" "$(cat "$T/check.out")"
check_fails "no --ca is refused" "$JPKID" rollover "${SETS[@]}" --algorithm rsa2048
check_fails "a subscriber validity beyond 10 years is refused" "$JPKID" rollover "${SETS[@]}" \
  --ca auth --validity-years 11
assert_contains "…naming the option" "--validity-years: a number of years from 1 to 10" "$(cat "$T/check.out")"
check_fails "a bad subject is refused" "$JPKID" rollover "${SETS[@]}" --ca auth --subject "no equals sign"
assert_eq "…nothing recorded" 3 "$(sqlite3 "$DB" 'SELECT count(*) FROM ca_generations')"
assert_eq "…no file or key written" "$before" "$(ls "$DATA/certs" "$DATA/keys" | sort | md5sum)"

# A failure in the middle of the ceremony (the link's file cannot be written: something is in
# its place) undoes what was written before it: the key, the root.
echo planted >"$DATA/certs/auth-link-1-2.pem"
before=$(ls "$DATA/certs" "$DATA/keys" | sort | md5sum)
"$JPKID" rollover "${SETS[@]}" --ca auth >"$T/mid.out" 2>&1 # performed by the service
assert_eq "a ceremony failing half-way: exit 1" 1 $?
assert_contains "…saying why" "auth-link-1-2.pem" "$(cat "$T/mid.out")"
assert_eq "…nothing recorded" 3 "$(sqlite3 "$DB" 'SELECT count(*) FROM ca_generations')"
assert_eq "…the key and root written before are removed" "$before" \
  "$(ls "$DATA/certs" "$DATA/keys" | sort | md5sum)"
rm "$DATA/certs/auth-link-1-2.pem"

# --- no service running: the command owns the directory; the next start takes it up ---
jpkid_stop
check "rollover to ECDSA P-384 with no service running (new subject)" "$JPKID" rollover \
  "${SETS[@]}" --ca auth --algorithm ecdsa-p384 \
  --subject "C=JP, O=JPKI, OU=JPKI for user authentication, OU=Generation Two"
assert_contains "…done by the command itself" "made; it issues from now" "$(cat "$T/check.out")"
check "the lock was released" test ! -s "$DATA/jpkid.lock"
jpkid_start || exit 1
check "/ca/auth/2.cer after the restart" fetch_der /ca/auth/2.cer "$T/auth2.pem"
assert_contains "…under the new subject" "OU = Generation Two" "$(openssl x509 -in "$T/auth2.pem" -noout -subject)"
o=$(ocsp "$AUTH_CA" "$T/out/$A1.pem" "$AUTH_CA")
assert_eq "OCSP: the old auth certificate still good after the restart" good "$(status_of "$o" "$T/out/$A1.pem")"
curl -fsS "$URL/ca/auth/links/1-2.cer" | openssl x509 -inform DER -out "$T/alink12.pem"
A3=$(issue_new p4 c3 auth | awk '$1=="auth" {print $2}')
assert_contains "…signed ecdsa-with-SHA384" "ecdsa-with-SHA384" \
  "$(openssl x509 -in "$T/out/$A3.pem" -noout -text | grep 'Signature Algorithm' | head -1)"
o=$(ocsp "$T/auth2.pem" "$T/out/$A3.pem" "$T/auth2.pem")
assert_eq "OCSP: the P-384 generation answers for its certificate" good "$(status_of "$o" "$T/out/$A3.pem")"
assert_contains "…verified against its root" "Response verify OK" "$o"
check "a new auth certificate verifies from the old auth root through the link" \
  openssl verify -x509_strict -CAfile "$AUTH_CA" -untrusted "$T/alink12.pem" "$T/out/$A3.pem"

it_finish
