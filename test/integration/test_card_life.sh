#!/usr/bin/env bash
# The life of a card as the user guide describes it (issue 11 §6), through the API and jpkictl:
# a card's expiry checked at registration; a new My Number card returning the Juki card and
# superseding the older My Number card; a death taking the cards out of use; PINs others can
# guess refused at issuance and reset (guide 4(7)); a signing certificate issued alone ending
# with the authentication certificate (guide 3(1)); the signing subject's place names following
# a move (PUT basic-info, PATCH /v1/cards/{id}); the window's signed receipt of revoke, return
# and death (guide 4(5)A), checked with openssl and saved by jpkictl.
. "$(dirname "$0")/lib.sh"
it_setup
it_start
TOKEN=$(cat "$DATA/admin.token")
export JPKI_URL=$URL JPKI_TOKEN_FILE=$DATA/admin.token

# check_receipt DESCRIPTION FILE-OR-JSON CA-PEM: the receipt's signature over its text verifies
# with openssl, and its signer chains to the CA root.
check_receipt() {
  local what=$1 json=$2 ca=$3
  jq -j .receipt <<<"$json" >"$T/rc.txt"
  jq -r .signature <<<"$json" | base64 -d >"$T/rc.sig"
  jq -r .signer_certificate <<<"$json" >"$T/rc-signer.pem"
  openssl x509 -in "$T/rc-signer.pem" -noout -pubkey >"$T/rc-signer.pub" 2>/dev/null
  check "$what: the signature verifies (openssl dgst)" \
    openssl dgst -sha256 -verify "$T/rc-signer.pub" -signature "$T/rc.sig" "$T/rc.txt"
  check "$what: the signer is the CA's OCSP signer (openssl verify)" \
    openssl verify -CAfile "$ca" "$T/rc-signer.pem"
  assert_eq "$what: the signed text carries the fields" \
    "$(jq -c '[.receipt_id,.event,.target,.revoked]' <<<"$json")" \
    "$(jq -c '[.receipt_id,.event,.target,.revoked]' "$T/rc.txt")"
}
YEAR=$(date -u +%Y)
SOON="$((YEAR + 5))-01-31"

# --- a card's expiry (400 naming the field) ---
call POST /v1/persons '{"id":"p1","name":"山田 花子","address":"東京都千代田区霞が関2-1-2","birth_date":"1985-04-01","gender":"female"}'
assert_eq "person p1: 201" 201 "$ST"
expect "a card that expired" 400 expiry POST /v1/cards '{"id":"old","person_id":"p1","type":"mynumber","expiry":"2020-01-31"}'
assert_contains "…says it is in the past" "2020-01-31 is in the past" "$(jf .error.message)"
expect "a card 12 years ahead" 400 expiry POST /v1/cards "{\"id\":\"far\",\"person_id\":\"p1\",\"type\":\"mynumber\",\"expiry\":\"$((YEAR + 12))-01-31\"}"
assert_contains "…says how far is too far" "more than 11 years ahead" "$(jf .error.message)"
expect "…neither was registered" 404 card_id GET /v1/cards/far

# --- a My Number card returns the Juki card (guide 3(1)) ---
call POST /v1/cards "{\"id\":\"j1\",\"person_id\":\"p1\",\"type\":\"juki\",\"expiry\":\"$SOON\"}"
assert_eq "Juki card j1: 201, returns nothing" "201 []" "$ST $(jf ".returned_cards|tojson")"
call POST /v1/cards "{\"id\":\"m1\",\"person_id\":\"p1\",\"type\":\"mynumber\",\"expiry\":\"$SOON\",\"prefecture\":\"東京都\",\"municipality\":\"千代田区\"}"
assert_eq "My Number card m1: 201, the Juki card returned" '201 ["j1"]' "$ST $(jf ".returned_cards|tojson")"
call GET /v1/cards/j1
assert_eq "…j1 is returned" returned "$(jf .card.state)"

# --- PINs others can guess (guide 4(7)): the holder was born on 1 April 1985 ---
for case in "auth 0401 birth date (MMDD)" "auth 0104 birth date (DDMM)" "auth 1985 birth date (YYYY)" \
  "auth 7777 one repeated character" "auth 1234 straight run" "auth 9876 straight run" \
  "sign 19850401 birth date (YYYYMMDD)" "sign 850401 birth date (YYMMDD)" "sign ABCDEF straight run"; do
  read -r slot pw why <<<"$case"
  expect "issue with the $slot password $pw" 400 "passwords.$slot" POST /v1/cards/m1/issue \
    "{\"certificates\":\"both\",\"passwords\":{\"$slot\":\"$pw\"}}"
  assert_contains "…says why ($why)" "$why" "$(jf .error.message)"
  assert_contains "…citing the guide" "guide 4(7)" "$(jf .error.message)"
  assert_not_contains "…never repeating it" "$pw" "$(jf .error.message)"
done
call GET /v1/cards/m1
assert_eq "…nothing was issued" 0 "$(jf '.certificates|length')"
call POST /v1/cards/m1/issue '{"certificates":"both","passwords":{"sign":"QWERTY7890","auth":"5831"}}'
assert_eq "both with good passwords: 201" 201 "$ST"
AUTH1=$(jf '.certificates[]|select(.ca=="auth")|.serial')
AUTH_END=$(jf '.certificates[]|select(.ca=="auth")|.not_after')
jf .card_image | base64 -d >"$T/m1.card"
call POST /v1/cards/m1/reset-password "$(jq -cn --rawfile i <(base64 -w0 "$T/m1.card") '{slot:"auth", new_password:"0401", card_image:$i}')"
assert_eq "the window's reset to the birth date: 400 new_password" "400 new_password" "$ST $(jf .error.field)"

# --- a move: the signing certificate alone, the new place names, ending with auth ---
sleep 1 # a later second: five years from now would end after the authentication certificate
call PUT /v1/persons/p1/basic-info '{"name":"山田 花子","address":"大阪府大阪市北区中之島1-3-20","birth_date":"1985-04-01","gender":"female","prefecture":"大阪府","municipality":"大阪市"}'
assert_eq "move to Osaka with the place names: 200, signing certificate revoked" "200 1" "$ST $(jf '.revoked|length')"
call GET /v1/cards/m1
assert_eq "…the card has the new place names" "大阪府 大阪市" "$(jf '[.card.prefecture,.card.municipality]|join(" ")')"
call POST /v1/cards/m1/issue '{"certificates":"sign","passwords":{"sign":"QWERTY7890"}}'
assert_eq "the signing certificate alone: 201" 201 "$ST"
jf '.certificates[0].pem' >"$T/sign2.pem"
SIGN2=$(jf '.certificates[0].serial')
assert_eq "…ends with the authentication certificate (guide 3(1))" "$AUTH_END" "$(jf '.certificates[0].not_after')"
SUBJ=$(openssl x509 -in "$T/sign2.pem" -noout -subject -nameopt utf8,sep_comma_plus)
assert_contains "…its subject names the new prefecture" "L=大阪府" "$SUBJ"
assert_contains "…and municipality" "L=大阪市" "$SUBJ"
assert_not_contains "…not the old one" "千代田区" "$SUBJ"

sleep 1
call PUT /v1/persons/p1/basic-info '{"name":"山田 花子","address":"北海道札幌市中央区北1条西2","birth_date":"1985-04-01","gender":"female"}'
assert_eq "move to Sapporo without place names: 200" 200 "$ST"
call GET /v1/cards/m1
assert_eq "…the old place names are cleared" "null null" "$(jf '[.card.prefecture,.card.municipality]|map(tostring)|join(" ")')"
call POST /v1/cards/m1/issue '{"certificates":"sign","passwords":{"sign":"QWERTY7890"}}'
jf '.certificates[0].pem' >"$T/sign3.pem"
assert_not_contains "…a re-issued certificate names no stale place" "L=" \
  "$(openssl x509 -in "$T/sign3.pem" -noout -subject -nameopt utf8,sep_comma_plus)"

# --- PATCH /v1/cards/{id} ---
call PATCH /v1/cards/m1 '{"prefecture":"北海道","municipality":"札幌市"}'
assert_eq "PATCH the place names: 200" "200 北海道 札幌市" "$ST $(jf '[.prefecture,.municipality]|join(" ")')"
call POST /v1/cards/m1/issue '{"certificates":"sign","passwords":{"sign":"QWERTY7890"}}'
jf '.certificates[0].pem' >"$T/sign4.pem"
SIGN4=$(jf '.certificates[0].serial')
assert_contains "…the next signing certificate names them" "L=札幌市" \
  "$(openssl x509 -in "$T/sign4.pem" -noout -subject -nameopt utf8,sep_comma_plus)"
call PATCH /v1/cards/m1 '{"municipality":null}'
assert_eq "PATCH null clears one, keeps the other" "200 北海道 null" "$ST $(jf '[.prefecture,.municipality]|map(tostring)|join(" ")')"
expect "PATCH of the expiry" 400 expiry PATCH /v1/cards/m1 '{"expiry":"2030-01-01"}'
expect "PATCH of nothing" 400 prefecture PATCH /v1/cards/m1 '{}'
expect "PATCH of an unknown card" 404 card_id PATCH /v1/cards/nope '{"prefecture":"x"}'
call PUT /v1/cards/m1 '{"prefecture":"x"}'
assert_eq "PUT of a card: 405" 405 "$ST"

# --- the window's receipts (guide 4(5)A) ---
call POST "/v1/certificates/$SIGN4/revoke" '{"reason":"keyCompromise"}'
assert_eq "revoke: 200 with the certificate" "200 revoked" "$ST $(jf .status)"
RECEIPT=$(jf .receipt)
assert_eq "…a receipt of the revocation" "電子証明書失効申請等受理通知書 cert.revoke $SIGN4 admin keyCompromise" \
  "$(jq -r '[.title,.event,.target,.operator,.revoked[0].reason]|join(" ")' <<<"$RECEIPT")"
check_receipt "revoke receipt" "$RECEIPT" "$SIGN_CA"
ctl cert revoke "$AUTH1" --reason unspecified --receipt "$T/r-auth.json"
assert_eq "jpkictl cert revoke --receipt: exit 0" 0 "$RC"
assert_contains "…says where the receipt is" "saved to $T/r-auth.json" "$OUT"
assert_eq "…the file is the holder's (0600)" 600 "$(stat -c %a "$T/r-auth.json")"
assert_eq "…an authentication certificate's receipt is the authentication CA's" "auth $AUTH1" \
  "$(jq -r '[.signer_ca,.revoked[0].serial]|join(" ")' "$T/r-auth.json")"
check_receipt "saved revoke receipt" "$(cat "$T/r-auth.json")" "$AUTH_CA"

# --- a second My Number card supersedes the first; return and death with receipts ---
call POST /v1/cards/m1/issue '{"certificates":"auth","passwords":{"auth":"5831"}}'
AUTH2=$(jf '.certificates[0].serial')
call POST /v1/cards "{\"id\":\"m2\",\"person_id\":\"p1\",\"type\":\"mynumber\",\"expiry\":\"$SOON\"}"
assert_eq "My Number card m2: 201, m1 returned" '201 ["m1"]' "$ST $(jf ".returned_cards|tojson")"
assert_eq "…m1's good certificate superseded" "[\"$AUTH2\"]" "$(jf ".superseded|tojson")"
call GET "/v1/certificates/$AUTH2"
assert_eq "…revoked superseded" "revoked superseded" "$(jf '[.status,.reason]|join(" ")')"
call GET /v1/persons/p1
assert_eq "…one active My Number card" "m2" "$(jf '[.cards[]|select(.state=="active")|.id]|join(" ")')"

call POST /v1/cards/m2/issue '{"certificates":"both","passwords":{"sign":"QWERTY7890","auth":"5831"}}'
call POST /v1/persons "$(jq -cn '{id:"p2",name:"佐藤 次郎",address:"東京都港区1-1",birth_date:"1970-07-08",gender:"male"}')"
call POST /v1/cards "{\"id\":\"c2\",\"person_id\":\"p2\",\"type\":\"mynumber\",\"expiry\":\"$SOON\"}"
call POST /v1/cards/c2/issue '{"certificates":"both","passwords":{"sign":"QWERTY7890","auth":"5831"}}'
mkdir -p "$T/cwd"
(cd "$T/cwd" && "$JPKICTL" card return c2 >"$T/ret.out" 2>&1)
assert_eq "jpkictl card return: exit 0" 0 "$?"
assert_contains "…saves the receipt where it says" "saved to revocation-receipt-card-c2.json" "$(cat "$T/ret.out")"
assert_eq "…listing both revoked certificates" "card.return c2 2" \
  "$(jq -r '[.event,.target,(.revoked|length)]|join(" ")' "$T/cwd/revocation-receipt-card-c2.json")"
check_receipt "return receipt" "$(cat "$T/cwd/revocation-receipt-card-c2.json")" "$SIGN_CA"

ctl person death p1 --receipt "$T/death.json" --json
assert_eq "jpkictl person death --json: exit 0" 0 "$RC"
assert_eq "…the answer stays pure JSON" 2 "$(jq -r '.revoked|length' <<<"$OUT")"
assert_eq "…the receipt of the death" "person.death p1 2" \
  "$(jq -r '[.event,.target,(.revoked|length)]|join(" ")' "$T/death.json")"
check_receipt "death receipt" "$(cat "$T/death.json")" "$SIGN_CA"
call GET /v1/persons/p1
assert_eq "…no card of the deceased stays active" "" "$(jf '[.cards[]|select(.state!="returned")|.id]|join(" ")')"
ctl cert revoke "$AUTH2" --reason unspecified --receipt "$T/no/such/dir/r.json"
assert_eq "a revocation refused (already revoked): exit 1, no receipt" "1 no" \
  "$RC $([ -e "$T/no/such/dir/r.json" ] && echo yes || echo no)"
call POST /v1/cards "{\"id\":\"c3\",\"person_id\":\"p2\",\"type\":\"mynumber\",\"expiry\":\"$SOON\"}"
call POST /v1/cards/c3/issue '{"certificates":"auth","passwords":{"auth":"5831"}}'
ctl cert revoke "$(jf '.certificates[0].serial')" --reason keyCompromise --receipt "$T/no/such/dir/r.json"
assert_eq "a receipt that cannot be written: exit 1" 1 "$RC"
assert_contains "…says so" "the receipt cannot be written to $T/no/such/dir/r.json" "$ERR"
assert_contains "…and prints it rather than lose it" '"title": "電子証明書失効申請等受理通知書"' "$OUT"

it_finish
