#!/usr/bin/env bash
# Issue 5 acceptance: the card holder's and relying party's jpkictl against the real jpkid.
# A card is issued through the API with passwords into a card image; the holder shows it,
# checks it with the service, exports a certificate, compares the roots, signs an application
# (which `jpkictl verify` and `openssl cms -verify` accept); the card is held (check and verify
# say so), released (auth good, signing still held), OCSP fails and the CRL answers instead,
# the address changes (signing revoked affiliationChanged, verify refuses with that reason);
# online revocation with a receipt checked against the card's root, and its replay refused
# (409); passwords: change, the rule, 5 wrong tries lock the signing slot, the window's reset
# unlocks it. Exit codes 0/1/2/3 throughout; never a password on either stream.
. "$(dirname "$0")/lib.sh"
it_setup
it_start

TOKEN=$(cat "$DATA/admin.token")
export JPKI_URL=$URL
export JPKI_TOKEN_FILE=$DATA/admin.token
unset JPKI_CARD_PASSWORD JPKI_CARD_NEW_PASSWORD
NAME="山田 花子"
ADDRESS="東京都千代田区霞が関2-1-2"
NEW_ADDRESS="大阪府大阪市北区中之島1-3-20"
PROXY_PID=
OTHER_PID=
trap 'for p in $PROXY_PID $OTHER_PID; do kill "$p" 2>/dev/null; done; it_cleanup' EXIT

ALL_OUTPUT=
# until_out DESCRIPTION NEEDLE ARGS...: repeats `ctl ARGS` (3 s at most) until OUT holds
# NEEDLE — a status change reaches OCSP and the CRL within a second (DESIGN §8).
until_out() {
  local needle=$2
  shift 2
  for _ in $(seq 1 60); do
    ctl "$@"
    [[ "$OUT" == *"$needle"* ]] && return 0
    sleep 0.05
  done
  return 1
}
# issue_card CARD PERSON PERSON-JSON: registers the person and the card, issues both
# certificates with passwords, writes $T/CARD.card; CARD_SIGN and CARD_AUTH are their serials.
issue_card() {
  call POST /v1/persons "$3"
  assert_eq "person $2 registered" 201 "$ST"
  call POST /v1/cards "{\"id\":\"$1\",\"person_id\":\"$2\",\"type\":\"mynumber\",\"expiry\":\"2035-06-30\",\"prefecture\":\"東京都\",\"municipality\":\"千代田区\"}"
  assert_eq "card $1 registered" 201 "$ST"
  call POST "/v1/cards/$1/issue" '{"certificates":"both","passwords":{"sign":"ABC123","auth":"2580"}}'
  assert_eq "card $1 issued with passwords: 201" 201 "$ST"
  if [ "$(jf '.card_image // empty')" = "" ]; then
    fail "the issue answer carries no card_image"
    exit 1
  fi
  jf .card_image | base64 -d >"$T/$1.card"
  chmod 600 "$T/$1.card"
  CARD_SIGN=$(jf '.certificates[] | select(.ca == "sign") | .serial')
  CARD_AUTH=$(jf '.certificates[] | select(.ca == "auth") | .serial')
}

# --- help of every holder command ---
for cmd in "card show" "card check" "card passwd" "card sign" "card revoke" "card export" \
  "card fingerprints" "verify"; do
  # shellcheck disable=SC2086
  ctl $cmd --help
  if [ "$RC" = 0 ] && [[ "$OUT" == "usage: jpkictl $cmd"* ]]; then pass "$cmd --help"; else
    fail "$cmd --help: exit $RC, $OUT $ERR"
  fi
done
ctl card sign
assert_eq "card sign without arguments: exit 2" 2 "$RC"
ctl card passwd "$T/none.card"
assert_eq "card passwd without --slot: exit 2" 2 "$RC"
assert_contains "…naming it" "--slot" "$ERR"

# --- the window: person, card, issuance with passwords into a card image ---
issue_card c1 p1 "{\"id\":\"p1\",\"name\":\"$NAME\",\"address\":\"$ADDRESS\",\"birth_date\":\"1990-01-02\",\"gender\":\"female\"}"
IMG=$T/c1.card
SIGN=$CARD_SIGN
AUTH=$CARD_AUTH
jf '.certificates[] | select(.ca == "sign") | .pem' >"$T/sign-issued.pem"
it_keyalg_check_cert "$T/sign-issued.pem"
check "both serials in the answer" test -n "$SIGN" -a -n "$AUTH"
call GET /ca/fingerprints
FP_SIGN=$(jf .sign.sha256)
FP_AUTH=$(jf .auth.sha256)

# --- card show ---
ctl card show "$IMG"
assert_eq "card show IMAGE: exit 0" 0 "$RC"
assert_eq "…nothing on stderr" "" "$ERR"
assert_contains "…the card" "card c1  expiry 2035-06-30" "$OUT"
assert_contains "…the subject" "subject:      C=JP, L=東京都, L=千代田区, CN=" "$OUT"
assert_contains "…the name" "name:         $NAME" "$OUT"
assert_contains "…the address" "address:      $ADDRESS" "$OUT"
assert_contains "…the birth date decoded" "birth date:   1990-01-02" "$OUT"
assert_contains "…the gender in words" "gender:       female" "$OUT"
assert_contains "…the signing serial" "serial:       $SIGN" "$OUT"
assert_contains "…the authentication serial" "serial:       $AUTH" "$OUT"
assert_contains "…the issuer" "issuer:       C=JP, O=JPKI, OU=JPKI for digital signature" "$OUT"
assert_contains "…5 tries on the signing slot" "password:     5 of 5 tries left" "$OUT"
assert_contains "…3 on the authentication slot" "password:     3 of 3 tries left" "$OUT"
assert_contains "…the signing root's fingerprint, as the service publishes it" \
  "sign  SHA-256 $FP_SIGN" "$OUT"
assert_contains "…the authentication root's" "auth  SHA-256 $FP_AUTH" "$OUT"
CERT_FP=$(openssl x509 -in "$T/sign-issued.pem" -noout -fingerprint -sha256 | cut -d= -f2)
assert_contains "…the certificate's own fingerprint" "SHA-256:      $CERT_FP" "$OUT"
assert_not_contains "…no warning 5 years ahead" "WARNING" "$OUT"
# the operator's `card show ID` is unchanged by the holder's `card show IMAGE`
ctl card show c1
assert_eq "card show ID (operator): exit 0" 0 "$RC"
assert_contains "…the registry's view" "$SIGN  sign  good  card c1" "$OUT"

# --- fingerprints and export ---
ctl card fingerprints "$IMG" --compare
assert_eq "card fingerprints --compare: exit 0" 0 "$RC"
assert_contains "…sign matches" "sign root: matches the fingerprint the service publishes" "$OUT"
assert_contains "…auth matches" "auth root: matches the fingerprint the service publishes" "$OUT"
ctl card export "$IMG" --slot sign -o "$T/sign-export.pem"
assert_eq "card export --slot sign: exit 0" 0 "$RC"
check "…the exported PEM is the issued certificate" cmp \
  <(openssl x509 -in "$T/sign-export.pem" -outform DER) \
  <(openssl x509 -in "$T/sign-issued.pem" -outform DER)
check "…PEM, nothing else" test "$(head -1 "$T/sign-export.pem")" = "-----BEGIN CERTIFICATE-----"
ctl card export "$IMG" --slot auth --der -o "$T/auth.der"
assert_eq "card export --der: exit 0" 0 "$RC"
assert_eq "…a DER the issuer's root verifies" OK \
  "$(openssl verify -CAfile "$AUTH_CA" <(openssl x509 -inform DER -in "$T/auth.der") 2>&1 | awk '{print $NF}')"

# --- a card of another instance (same CA names, other keys): not this service's roots ---
D2=$T/data2
if "$JPKID" init --set "data_dir=$D2" >"$T/init2.out" 2>&1; then
  "$JPKID" serve --set "data_dir=$D2" --set listen.http=127.0.0.1:0 >"$T/jpkid2.log" 2>&1 &
  OTHER_PID=$!
  for _ in $(seq 1 100); do [ -s "$D2/run/http.port" ] && break; sleep 0.1; done
  URL2=http://127.0.0.1:$(cat "$D2/run/http.port")
  H2=(-s -H "Authorization: Bearer $(cat "$D2/admin.token")" -H 'Content-Type: application/json')
  curl "${H2[@]}" -o /dev/null -X POST "$URL2/v1/persons" \
    -d '{"id":"q1","name":"偽 太郎","address":"どこか","birth_date":"1970-01-01","gender":"male"}'
  curl "${H2[@]}" -o /dev/null -X POST "$URL2/v1/cards" \
    -d '{"id":"x1","person_id":"q1","type":"mynumber","expiry":"2035-06-30"}'
  curl "${H2[@]}" -X POST "$URL2/v1/cards/x1/issue" \
    -d '{"certificates":"both","passwords":{"sign":"ABC123","auth":"2580"}}' |
    jq -r .card_image | base64 -d >"$T/other.card"
  chmod 600 "$T/other.card"
  kill -TERM "$OTHER_PID"
  wait "$OTHER_PID" 2>/dev/null
else
  fail "a second instance for the foreign card"; cat "$T/init2.out"
fi
ctl card fingerprints "$T/other.card" --compare
assert_eq "fingerprints of a foreign card: exit 1" 1 "$RC"
assert_contains "…sign MISMATCH, naming what the service publishes" \
  "sign root: MISMATCH: the service publishes $FP_SIGN" "$OUT"
assert_contains "…auth MISMATCH" "auth root: MISMATCH: the service publishes $FP_AUTH" "$OUT"
assert_contains "…said on stderr" "the card's sign root is not the one the service publishes" "$ERR"
ctl card check "$T/other.card"
assert_eq "card check of a foreign card: exit 1" 1 "$RC"
assert_contains "…its roots do not match" "MISMATCH: the service publishes $FP_SIGN" "$OUT"
assert_not_contains "…never good" ": good" "$OUT"
assert_contains "…no status: the service's answers do not verify under the card's roots" \
  "sign certificate $(openssl x509 -in <("$JPKICTL" card export "$T/other.card" --slot sign) -noout -serial | cut -d= -f2): status unknown (no verified OCSP answer or CRL)" "$OUT"
assert_contains "…OCSP refused it" "the responder answered unauthorized" "$ERR"
assert_contains "…NOT all good" "NOT all good" "$OUT"
printf 'forged application\n' >"$T/forged.txt"
JPKI_CARD_PASSWORD=ABC123 ctl card sign "$T/other.card" "$T/forged.txt" -o "$T/forged.p7s"
assert_eq "the foreign card signs (offline)" 0 "$RC"
ctl verify "$T/forged.txt" "$T/forged.p7s"
assert_eq "verify of its signature: exit 1" 1 "$RC"
assert_eq "…unknown issuer (same root name, other key)" "NOT VALID: unknown issuer: the signer's certificate does not chain to the signing CA root" "$OUT"
assert_not_contains "…none of its facts" "偽 太郎" "$OUT$ERR"

# --- card check: all good ---
ctl card check "$IMG"
assert_eq "card check: exit 0" 0 "$RC"
assert_contains "…sign good through OCSP" "sign certificate $SIGN: good (OCSP)" "$OUT"
assert_contains "…auth good through OCSP" "auth certificate $AUTH: good (OCSP)" "$OUT"
assert_contains "…the roots match" "sign root $FP_SIGN: matches the fingerprint the service publishes" "$OUT"
assert_contains "…all good" "all good" "$OUT"

# --- sign an application; the relying party verifies it ---
printf 'application for a residence certificate\n' >"$T/app.txt"
JPKI_CARD_PASSWORD=ABC123 ctl card sign "$IMG" "$T/app.txt" -o "$T/app.p7s"
assert_eq "card sign: exit 0" 0 "$RC"
assert_contains "…says where" "signature (CMS, DER, detached): $T/app.p7s" "$OUT"
check "openssl cms -verify accepts the signature" openssl cms -verify -binary -inform DER \
  -in "$T/app.p7s" -content "$T/app.txt" -CAfile "$SIGN_CA" -out /dev/null
assert_eq "…with the key's digest ($(it_keyalg_digest))" "$(it_keyalg_digest)" \
  "$(openssl cms -cmsout -print -inform DER -in "$T/app.p7s" | awk '/digestAlgorithm:/{getline; print $2; exit}')"
ctl verify "$T/app.txt" "$T/app.p7s" --issuer "$SIGN_CA"
assert_eq "verify: exit 0" 0 "$RC"
assert_contains "…VALID" "VALID: $T/app.txt was signed by" "$OUT"
assert_contains "…the signer's name" "name:         $NAME" "$OUT"
assert_contains "…address" "address:      $ADDRESS" "$OUT"
assert_contains "…birth date" "birth date:   1990-01-02" "$OUT"
assert_contains "…gender" "gender:       female" "$OUT"
assert_contains "…the certificate" "certificate:  $SIGN (signing CA)" "$OUT"
assert_contains "…its status" "status:       good (OCSP" "$OUT"
ctl verify "$T/app.txt" "$T/app.p7s"
assert_eq "verify with the root the service serves: exit 0" 0 "$RC"
ctl --json verify "$T/app.txt" "$T/app.p7s"
assert_eq "verify --json: valid" true "$(jq -r .valid <<<"$OUT")"
assert_eq "…with the facts" "1990-01-02" "$(jq -r .signer.birth_date <<<"$OUT")"
JPKI_CARD_PASSWORD=ABC123 ctl card sign "$IMG" "$T/app.txt" --pem -o "$T/app.p7s.pem"
check "a PEM signature: openssl accepts it" openssl cms -verify -binary -inform PEM \
  -in "$T/app.p7s.pem" -content "$T/app.txt" -CAfile "$SIGN_CA" -out /dev/null
ctl verify "$T/app.txt" "$T/app.p7s.pem" --issuer "$SIGN_CA"
assert_eq "…and jpkictl verify too" 0 "$RC"

cp "$T/app.txt" "$T/altered.txt"
printf 'and 100 more\n' >>"$T/altered.txt"
ctl verify "$T/altered.txt" "$T/app.p7s" --issuer "$SIGN_CA"
assert_eq "verify of altered content: exit 1" 1 "$RC"
assert_eq "…bad signature" "NOT VALID: bad signature: the signature does not match the content (the file was altered, or it is not the file that was signed)" "$OUT"
assert_not_contains "…no facts" "$NAME" "$OUT$ERR"
check_fails "…openssl agrees" openssl cms -verify -binary -inform DER -in "$T/app.p7s" \
  -content "$T/altered.txt" -CAfile "$SIGN_CA" -out /dev/null
ctl verify "$T/app.txt" "$T/app.p7s" --issuer "$AUTH_CA"
assert_eq "verify against another root: exit 1" 1 "$RC"
assert_eq "…unknown issuer" "NOT VALID: unknown issuer: the signer's certificate does not chain to the signing CA root" "$OUT"
ctl verify "$T/app.txt" "$T/app.txt" --issuer "$SIGN_CA"
assert_eq "verify of a file that is no signature: exit 1" 1 "$RC"
assert_contains "…malformed" "NOT VALID: malformed" "$OUT"
ctl --url http://127.0.0.1:1 verify "$T/app.txt" "$T/app.p7s" --issuer "$SIGN_CA"
assert_eq "verify with the service unreachable: exit 3" 3 "$RC"
assert_not_contains "…no facts without a status" "$NAME" "$OUT"
ctl --url http://127.0.0.1:1 card check "$IMG"
assert_eq "card check with the service unreachable: exit 3" 3 "$RC"

# --- hold: check and verify say so ---
call POST /v1/cards/c1/hold '{}'
assert_eq "hold (API): 200" 200 "$ST"
until_out "hold reaches OCSP" "auth certificate $AUTH: on hold since" card check "$IMG"
assert_eq "card check of a held card: exit 1" 1 "$RC"
assert_contains "…sign on hold" "sign certificate $SIGN: on hold since" "$OUT"
assert_contains "…auth on hold" "auth certificate $AUTH: on hold since" "$OUT"
assert_contains "…not all good" "NOT all good" "$OUT"
ctl verify "$T/app.txt" "$T/app.p7s" --issuer "$SIGN_CA"
assert_eq "verify while on hold: exit 1" 1 "$RC"
if [[ "$OUT" =~ ^NOT\ VALID:\ on\ hold:\ the\ signer\'s\ certificate\ is\ on\ hold\ since\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\ \[OCSP\]$ ]]; then
  pass "…on hold, with the time"
else fail "…on hold, with the time: $OUT"; fi
assert_not_contains "…no facts" "$NAME" "$OUT$ERR"

# --- release: auth good, signing still held ---
call POST /v1/cards/c1/release '{}'
assert_eq "release (API): 200" 200 "$ST"
until_out "release reaches OCSP" "auth certificate $AUTH: good" card check "$IMG"
assert_eq "card check after release: exit 1 (signing still held)" 1 "$RC"
assert_contains "…auth good" "auth certificate $AUTH: good (OCSP)" "$OUT"
assert_contains "…sign still on hold" "sign certificate $SIGN: on hold since" "$OUT"
ctl verify "$T/app.txt" "$T/app.p7s" --issuer "$SIGN_CA"
assert_contains "verify after release: still on hold" "NOT VALID: on hold: " "$OUT"

# --- OCSP unavailable: the CRL answers instead ---
cat >"$T/proxy.py" <<'PY'
# Forwards to jpkid, except /ocsp: 503 (a responder that is down).
import http.server, sys, urllib.error, urllib.request
UP = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def fwd(self, method):
        if self.path.startswith("/ocsp"):
            self.send_response(503); self.send_header("Content-Length", "0"); self.end_headers()
            return
        n = int(self.headers.get("Content-Length") or 0)
        req = urllib.request.Request(UP + self.path, data=self.rfile.read(n) if n else None,
                                     method=method)
        try:
            with urllib.request.urlopen(req) as r:
                status, ctype, data = r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            status, ctype, data = e.code, e.headers.get("Content-Type"), e.read()
        self.send_response(status)
        if ctype: self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data))); self.end_headers()
        self.wfile.write(data)
    def do_GET(self): self.fwd("GET")
    def do_POST(self): self.fwd("POST")
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
$PY "$T/proxy.py" "$URL" >"$T/proxy.port" 2>"$T/proxy.log" &
PROXY_PID=$!
for _ in $(seq 1 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
# the CRLs are published on schedule; the operator publishes them now (DESIGN §5 "on demand")
check "jpkid crl publishes the CRLs now" "$JPKID" crl "${SETS[@]}"
until_out "the CRL shows the hold" "sign certificate $SIGN: on hold since" \
  --url "$PROXY" card check "$IMG"
assert_eq "card check without OCSP: exit 1" 1 "$RC"
assert_contains "…sign on hold, from the CRL" "sign certificate $SIGN: on hold since" "$OUT"
assert_contains "…(CRL)" "(CRL)" "$(grep "^sign certificate" <<<"$OUT")"
assert_contains "…auth good, from the CRL" "auth certificate $AUTH: good (CRL)" "$OUT"
assert_contains "…saying OCSP failed" "503" "$ERR"
assert_contains "…and that the CRL is used" "no OCSP answer; checking the sign CRL instead" "$ERR"
# (each event loop of jpkid picks the new CRL file up on its own: poll until this one has)
until_out "verify sees the hold in the CRL" "NOT VALID: on hold" \
  --url "$PROXY" verify "$T/app.txt" "$T/app.p7s" --issuer "$SIGN_CA"
assert_eq "verify without OCSP: exit 1" 1 "$RC"
assert_contains "…on hold from the CRL" "NOT VALID: on hold: the signer's certificate is on hold since" "$OUT"
assert_contains "…[CRL]" "[CRL]" "$OUT"

# --- address change: the signing certificate revoked affiliationChanged ---
call PUT /v1/persons/p1/basic-info "{\"name\":\"$NAME\",\"address\":\"$NEW_ADDRESS\",\"birth_date\":\"1990-01-02\",\"gender\":\"female\"}"
assert_eq "address change (API): 200" 200 "$ST"
assert_eq "…revokes the signing certificate" "$SIGN" "$(jf '.revoked[0]')"
until_out "the revocation reaches OCSP" "(affiliationChanged)" card check "$IMG"
assert_eq "card check after the move: exit 1" 1 "$RC"
assert_contains "…sign revoked affiliationChanged" "sign certificate $SIGN: revoked since" "$OUT"
assert_contains "…with the reason" "(affiliationChanged) (OCSP)" "$OUT"
assert_contains "…auth untouched" "auth certificate $AUTH: good (OCSP)" "$OUT"
ctl verify "$T/app.txt" "$T/app.p7s" --issuer "$SIGN_CA"
assert_eq "verify after the move: exit 1" 1 "$RC"
if [[ "$OUT" =~ ^NOT\ VALID:\ revoked:\ the\ signer\'s\ certificate\ was\ revoked\ on\ [0-9T:Z-]{20}\ \(affiliationChanged\)\ \[OCSP\]$ ]]; then
  pass "…revoked (affiliationChanged), with the time"
else fail "…revoked (affiliationChanged), with the time: $OUT"; fi
assert_not_contains "…no facts" "$NAME" "$OUT$ERR"
check "jpkid crl publishes the CRLs again" "$JPKID" crl "${SETS[@]}"
until_out "the CRL has it too" "(affiliationChanged) (CRL)" --url "$PROXY" card check "$IMG"
assert_contains "…from the CRL" "sign certificate $SIGN: revoked since" "$OUT"

# --- online revocation (guide 4(5)B), on a second card ---
issue_card c2 p2 '{"id":"p2","name":"佐藤 一郎","address":"京都府京都市","birth_date":"1985-05-05","gender":"male"}'
IMG2=$T/c2.card
SIGN2=$CARD_SIGN
AUTH2=$CARD_AUTH
ctl card show "$IMG2"
assert_contains "card 2: gender male in words" "gender:       male" "$OUT"
assert_contains "…birth date" "birth date:   1985-05-05" "$OUT"

JPKI_CARD_PASSWORD=WRONG1 ctl card revoke "$IMG2" --slot auth --reason keyCompromise
assert_eq "revoke with a wrong password: exit 1" 1 "$RC"
assert_eq "…counted, in words" "jpkictl: card revoke: wrong signing password: 4 tries left" "$ERR"
call GET "/v1/certificates/$AUTH2"
assert_eq "…nothing revoked" good "$(jf .status)"

(cd "$T" && JPKI_CARD_PASSWORD=ABC123 "$JPKICTL" card revoke "$IMG2" --slot auth \
  --reason keyCompromise --save-request "$T/req.der" >"$T/ctl.out" 2>"$T/ctl.err")
RC=$?
OUT=$(cat "$T/ctl.out")
ERR=$(cat "$T/ctl.err")
ALL_OUTPUT+="$OUT$ERR"
assert_eq "card revoke --slot auth: exit 0" 0 "$RC"
assert_contains "…the receipt" "revocation receipt" "$OUT"
assert_contains "…for the auth serial" "serial:       $AUTH2" "$OUT"
assert_contains "…revoked" "status:       revoked" "$OUT"
assert_contains "…keyCompromise" "reason:       keyCompromise" "$OUT"
assert_contains "…its signature checked against the card's root" \
  "signature:    verified: signed by the CA's OCSP signer under the root in the card" "$OUT"
RECEIPT=$T/revocation-receipt-$AUTH2.json
check "…saved by default as ./revocation-receipt-SERIAL.json" test -s "$RECEIPT"
assert_eq "…the saved receipt names the serial" "$AUTH2" "$(jq -r .serial "$RECEIPT")"
REQ_ID=$(jq -r .request_id "$RECEIPT")
assert_eq "…and the request id we sent (32 hex)" 32 "${#REQ_ID}"
call GET "/v1/certificates/$AUTH2"
assert_eq "the registry: revoked" revoked "$(jf .status)"
assert_eq "…keyCompromise" keyCompromise "$(jf .reason)"
until_out "card check sees it" "auth certificate $AUTH2: revoked" card check "$IMG2"
assert_contains "…keyCompromise" "(keyCompromise) (OCSP)" "$OUT"
assert_contains "…the signing one still good" "sign certificate $SIGN2: good" "$OUT"

# the same signed request again: refused as a replay
ST=$(curl -s -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/cms' \
  --data-binary @"$T/req.der" "$URL/v1/holder/revoke")
RB=$(cat "$T/resp")
assert_eq "the same request again: 409" 409 "$ST"
assert_eq "…field request_id" request_id "$(jf .error.field)"
assert_contains "…a replay" "replayed request" "$(jf .error.message)"

JPKI_CARD_PASSWORD=ABC123 ctl card revoke "$IMG2" --reason cessationOfOperation \
  --receipt "$T/sign2-receipt.json"
assert_eq "card revoke of the signing certificate itself: exit 0" 0 "$RC"
assert_contains "…cessationOfOperation" "reason:       cessationOfOperation" "$OUT"
assert_contains "…saved where asked" "saved to:     $T/sign2-receipt.json" "$OUT"
assert_eq "…the file" "$SIGN2" "$(jq -r .serial "$T/sign2-receipt.json")"
JPKI_CARD_PASSWORD=ABC123 ctl card revoke "$IMG2" --reason keyCompromise
assert_eq "a request signed by a revoked certificate: exit 1" 1 "$RC"
assert_contains "…refused by the service, in words" "jpkictl: card revoke: 403 forbidden: " "$ERR"

# --- passwords: change, rule, lock, the window's reset ---
printf '2580\n' >"$T/old.txt"
printf '5718\n' >"$T/new.txt"
ctl card passwd "$IMG" --slot auth --old-file "$T/old.txt" --new-file "$T/new.txt"
assert_eq "card passwd --slot auth from files: exit 0" 0 "$RC"
assert_eq "…in words" "the authentication password of card c1 was changed" "$OUT"
JPKI_CARD_PASSWORD=5718 JPKI_CARD_NEW_PASSWORD=12ab ctl card passwd "$IMG" --slot auth
assert_eq "a new PIN outside the rule: exit 1" 1 "$RC"
assert_contains "…refused" "the new password is refused" "$ERR"
ctl card show "$IMG"
assert_contains "…no try counted" "password:     3 of 3 tries left" "$OUT"

for left in "4 tries" "3 tries" "2 tries" "1 try"; do
  JPKI_CARD_PASSWORD=WRONG9 JPKI_CARD_NEW_PASSWORD=NEWPASS1 ctl card passwd "$IMG" --slot sign
  assert_eq "wrong signing password: $left left" \
    "jpkictl: card passwd: wrong signing password: $left left" "$ERR"
done
JPKI_CARD_PASSWORD=WRONG9 JPKI_CARD_NEW_PASSWORD=NEWPASS1 ctl card passwd "$IMG" --slot sign
assert_eq "the fifth wrong try: exit 1" 1 "$RC"
assert_contains "…locks the slot" "0 tries left, the sign slot is now locked" "$ERR"
JPKI_CARD_PASSWORD=ABC123 ctl card sign "$IMG" "$T/app.txt" -o "$T/locked.p7s"
assert_eq "signing with the right password on a locked slot: exit 1" 1 "$RC"
assert_contains "…locked, reset at the window" "locked after too many wrong tries; it must be reset at the municipal window" "$ERR"
check_fails "…no signature written" test -e "$T/locked.p7s"
ctl card show "$IMG"
assert_contains "card show: locked" "LOCKED after 5 wrong tries" "$OUT"

call POST /v1/cards/c1/reset-password "{\"slot\":\"sign\",\"new_password\":\"RESET99\",\"card_image\":\"$(base64 -w0 "$IMG")\"}"
assert_eq "the window resets the signing password: 200" 200 "$ST"
jf .card_image | base64 -d >"$IMG"
chmod 600 "$IMG"
ctl card show "$IMG"
assert_contains "…unlocked" "password:     5 of 5 tries left" "$OUT"
JPKI_CARD_PASSWORD=RESET99 ctl card sign "$IMG" "$T/app.txt" -o "$T/after-reset.p7s"
assert_eq "…signs with the new password" 0 "$RC"
ctl verify "$T/app.txt" "$T/after-reset.p7s" --issuer "$SIGN_CA"
assert_contains "…(and the relying party still refuses the revoked certificate)" \
  "NOT VALID: revoked: " "$OUT"

# --- never a password on either stream ---
for pw in ABC123 WRONG1 WRONG9 RESET99 NEWPASS1 5718 12ab; do
  assert_not_contains "no '$pw' in any output" "$pw" "$ALL_OUTPUT"
done

it_finish
