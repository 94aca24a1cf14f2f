#!/usr/bin/env bash
# jpkictl at the municipal window, against the real jpkid (issue 11, sections 1 and 7): a card
# issue never leaves a good certificate without its key (no --out, an unwritable or foreign
# output refused before anything is issued; an image that cannot be written after all revokes
# what was issued), the holder's passwords (a file, a terminal asked twice without echo, or
# generated and shown once or put in a PIN letter), a re-issue of one slot updating the image
# in place, the window's password reset, and the operator's conveniences (ocsp without
# --issuer or nonce, cert expiring's default, card show of a missing file, card check of a
# revoked certificate, the release notice).
. "$(dirname "$0")/lib.sh"
it_setup
it_start

export JPKI_URL=$URL
export JPKI_TOKEN_FILE=$DATA/admin.token
unset JPKI_CARD_PASSWORD JPKI_CARD_NEW_PASSWORD

# good CARD: how many of the card's certificates are good.
good() {
  "$JPKICTL" card show "$1" --json 2>/dev/null |
    $PY -c 'import json,sys; print(sum(c["status"] == "good" for c in json.load(sys.stdin)["certificates"]))'
}
# sign_with IMAGE PASSWORD: exit status of a signature made with the card's signing key.
sign_with() {
  printf '%s\n' "$2" >"$T/pw.txt"
  echo "document" >"$T/doc.txt"
  "$JPKICTL" card sign "$1" "$T/doc.txt" -o "$T/doc.p7s" --password-file "$T/pw.txt" \
    </dev/null >/dev/null 2>&1
}

# One person per card: a person has one My Number card at a time (a new one returns the old).
for c in c1 c2 c3 c4 c5 c6 c7; do
  ctl person add --id "p-$c" --name "試験 太郎" --address "東京都港区1-1" --birth-date 1985-03-14 \
    --gender male
done
for c in c1 c2 c3 c4 c5 c7; do
  ctl card add --id "$c" --person "p-$c" --type mynumber --expiry 2035-06-30
done
SOON=$(date -u -d '+40 days' +%F)
ctl card add --id c6 --person p-c6 --type mynumber --expiry "$SOON"

# --- nothing issued when the image could not be kept ---
mkdir -p "$T/empty"
(cd "$T/empty" && "$JPKICTL" card issue c1 --certs auth </dev/null >"$T/ctl.out" 2>"$T/ctl.err")
assert_eq "issue without --out: exit 2" 2 "$?"
assert_contains "…saying why, before the API" "--out DIR is required" "$(cat "$T/ctl.err")"
assert_eq "…no certificate issued" 0 "$(good c1)"
touch "$T/a-file"
ctl card issue c1 --certs auth --out "$T/a-file/sub"
assert_eq "issue into an unusable --out: exit 1" 1 "$RC"
assert_contains "…nothing issued, said so" "nothing was issued" "$ERR"
assert_eq "…no certificate issued" 0 "$(good c1)"
mkdir -p "$T/junk" && echo junk >"$T/junk/c1.card" && chmod 600 "$T/junk/c1.card"
ctl card issue c1 --certs sign --out "$T/junk"
assert_eq "issue over a file that is not an image: exit 1" 1 "$RC"
assert_contains "…refused before the API" "is not a readable card image" "$ERR"
assert_eq "…the file untouched" junk "$(cat "$T/junk/c1.card")"
assert_eq "…no certificate issued" 0 "$(good c1)"

# --- generated passwords shown once, clearly, and they open the image ---
ctl card issue c1 --certs both --out "$T/o1"
assert_eq "issue both with generated passwords: exit 0" 0 "$RC"
SIGN_PW=$(awk '$1 == "signing" && $2 == "password:" {print $3}' <<<"$OUT")
AUTH_PIN=$(awk '$1 == "authentication" && $2 == "PIN:" {print $3}' <<<"$OUT")
assert_contains "…under a heading" "initial passwords (shown once" "$OUT"
check "…both printed" test -n "$SIGN_PW" -a -n "$AUTH_PIN"
assert_eq "…each once" 1 "$(grep -c -- "$SIGN_PW" "$T/ctl.out")"
assert_eq "…the image 0600" 600 "$(stat -c %a "$T/o1/c1.card")"
assert_eq "…its path printed once" 1 "$(grep -c "$T/o1/c1.card" "$T/ctl.out")"
check "…the signing password opens the image" sign_with "$T/o1/c1.card" "$SIGN_PW"
AUTH1=$(awk '$1 == "issued" && $2 == "auth" {print $3}' <<<"$OUT")
SIGN1=$(awk '$1 == "issued" && $2 == "sign" {print $3}' <<<"$OUT")

# --- a PIN letter instead ---
ctl card issue c2 --certs both --out "$T/o2" --pin-letter "$T/letter.txt"
assert_eq "issue with --pin-letter: exit 0" 0 "$RC"
assert_eq "…the letter 0600" 600 "$(stat -c %a "$T/letter.txt")"
L_SIGN=$(awk '$1 == "signing" && $2 == "password:" {print $3}' "$T/letter.txt")
check "…holding the signing password" test -n "$L_SIGN"
assert_not_contains "…which is not printed" "$L_SIGN" "$OUT"
assert_contains "…the output says where" "in the PIN letter $T/letter.txt" "$OUT"
check "…the letter's password opens the image" sign_with "$T/o2/c2.card" "$L_SIGN"
ctl card issue c2 --certs auth --out "$T/o2" --pin-letter "$T/letter.txt"
assert_eq "a PIN letter is never overwritten: exit 1 before the API" 1 "$RC"
assert_contains "…nothing issued" "nothing was issued" "$ERR"

# --- the holder's own passwords: from a file ---
printf '{"sign":"QWERTY7890","auth":"5829"}' >"$T/chosen.json"
ctl card issue c3 --certs both --out "$T/o3" --passwords-file "$T/chosen.json"
assert_eq "issue with --passwords-file: exit 0" 0 "$RC"
assert_not_contains "…no passwords printed" "initial passwords" "$OUT"
check "…the chosen password opens the image" sign_with "$T/o3/c3.card" QWERTY7890

# --- ... or typed on a terminal, twice, without echo ---
# tty_issue CARD DIR ANSWER...: runs card issue on a pseudo-terminal, answering each prompt in
# turn; prints the transcript, exits with jpkictl's status.
tty_issue() {
  $PY - "$JPKICTL" "$@" <<'PY'
import os, pty, sys, time
ctl, card, out, answers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(ctl, [ctl, "card", "issue", card, "--certs", "both", "--out", out])
seen, buf = b"", b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    buf += chunk
    if buf.rstrip().endswith(b":") and answers:
        time.sleep(0.3)  # the prompt comes before the echo is turned off
        os.write(fd, answers.pop(0).encode() + b"\n")
        buf = b""
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.WEXITSTATUS(status))
PY
}
TTY_OUT=$(tty_issue c4 "$T/o4" QWERTY7890 QWERTY7890 5829 5829)
assert_eq "issue on a terminal: exit 0" 0 "$?"
assert_contains "…asked for the signing password" "New signing password of card c4" "$TTY_OUT"
assert_contains "…and again" "Repeat it:" "$TTY_OUT"
assert_not_contains "…never echoed" "QWERTY7890" "$TTY_OUT"
assert_not_contains "…nothing generated" "initial passwords" "$TTY_OUT"
check "…the typed password opens the image" sign_with "$T/o4/c4.card" QWERTY7890
TTY_OUT=$(tty_issue c5 "$T/o5" QWERTY7890 QWERTY7891)
assert_eq "two different answers: exit 1" 1 "$?"
assert_contains "…saying so" "passwords differ" "$TTY_OUT"
assert_eq "…nothing issued" 0 "$(good c5)"

# --- re-issuing one slot updates the image in place, the other slot kept ---
ctl card issue c1 --certs sign --out "$T/o1"
assert_eq "re-issue of the signing certificate: exit 0" 0 "$RC"
assert_contains "…the image updated in place" "updated in place, the authentication slot kept" "$OUT"
SIGN2=$(awk '$1 == "issued" && $2 == "sign" {print $3}' <<<"$OUT")
assert_contains "…the old one superseded" "superseded: $SIGN1" "$OUT"
ctl card show "$T/o1/c1.card"
assert_contains "card show: the authentication certificate is still there" "serial:       $AUTH1" "$OUT"
assert_contains "…beside the new signing one" "serial:       $SIGN2" "$OUT"
assert_not_contains "…no empty slot" "the slot is empty" "$OUT"
assert_eq "…still 0600" 600 "$(stat -c %a "$T/o1/c1.card")"
install -m 600 "$T/o2/c2.card" "$T/o3/c1.card"
ctl card issue c1 --certs sign --out "$T/o3"
assert_eq "re-issue over another card's image: exit 1" 1 "$RC"
assert_contains "…refused before the API" "the image of another card" "$ERR"
IMG=$(base64 -w0 "$T/o2/c2.card")
ST=$(curl -s -o "$T/api.json" -w '%{http_code}' -H "Authorization: Bearer $(cat "$JPKI_TOKEN_FILE")" \
  -X POST "$URL/v1/cards/c1/issue" -d "{\"certificates\":\"sign\",\"card_image\":\"$IMG\"}")
assert_eq "API: another card's image refused: 400 card_image" "400 card_image" \
  "$ST $(jq -r .error.field "$T/api.json")"

# --- an image that cannot be written after the issuance: what was issued is revoked ---
mkdir -p "$T/o7"
(ulimit -f 4; trap '' XFSZ; "$JPKICTL" card issue c7 --certs both --out "$T/o7" </dev/null \
  >"$T/ctl.out" 2>"$T/ctl.err")
assert_eq "image write fails after issuance: exit 1" 1 "$?"
assert_contains "…said" "the card image cannot be written" "$(cat "$T/ctl.err")"
assert_contains "…and revoked" "revoked (unspecified)" "$(cat "$T/ctl.err")"
assert_eq "…no good certificate left" 0 "$(good c7)"
assert_eq "…each revoked unspecified" "revoked unspecified,revoked unspecified" \
  "$("$JPKICTL" card show c7 --json | jq -r '[.certificates[] | "\(.status) \(.reason)"] | join(",")')"
check_fails "…no image left behind" ls "$T/o7/c7.card"

# --- the window's password reset ---
printf 'ASDFGH1234\n' >"$T/new.txt"
ctl card reset-password "$T/o1/c1.card" --slot sign --new-file "$T/new.txt"
assert_eq "card reset-password: exit 0" 0 "$RC"
assert_contains "…said" "the signing password of card c1 was reset" "$OUT"
check "…the new password opens the image" sign_with "$T/o1/c1.card" ASDFGH1234
check_fails "…the old one no longer does" sign_with "$T/o1/c1.card" "$SIGN_PW"
printf '1111111\n' >"$T/bad.txt"
ctl card reset-password "$T/o1/c1.card" --slot auth --new-file "$T/bad.txt"
assert_eq "reset to a PIN outside the rule: exit 1" 1 "$RC"

# --- ocsp: the issuer from the service, no nonce unless asked ---
ctl ocsp "$T/o1/$AUTH1.pem"
assert_eq "ocsp without --issuer: exit 0" 0 "$RC"
assert_eq "…good" good "$(head -1 <<<"$OUT")"
assert_contains "…the issuer served, checked" "the auth CA the service serves (fingerprint checked)" "$OUT"
assert_contains "…no nonce" "nonce:       none" "$OUT"
ctl ocsp "$T/o1/$AUTH1.pem" --nonce
assert_contains "--nonce: sent and echoed" "nonce:       sent and echoed" "$OUT"

# --- cert expiring: 90 days unless told ---
ctl card issue c6 --certs both --out "$T/o6" --passwords-file "$T/chosen.json"
ctl cert expiring
assert_eq "cert expiring without --days: exit 0" 0 "$RC"
assert_contains "…90 days" "expiring within 90 days" "$OUT"
C6_AUTH=$(jq -r '.certificates[] | select(.ca == "auth") | .serial' <<<"$("$JPKICTL" card show c6 --json)")
assert_contains "…listing the card that ends in 40 days" "$C6_AUTH" "$OUT"

# --- card check: renewal advice only for a good certificate ---
ctl cert revoke "$C6_AUTH" --reason keyCompromise
ctl card check "$T/o6/c6.card"
assert_contains "card check: the revoked one said revoked" "revoked since" "$OUT"
assert_eq "…renewal advised once (the good signing certificate), not for the revoked one" 1 \
  "$(grep -c 'renew it' "$T/ctl.out")"

# --- card show: a missing image file is said to be missing ---
(cd "$T" && "$JPKICTL" card show missing.card </dev/null >"$T/ctl.out" 2>"$T/ctl.err")
assert_eq "card show of a missing image: exit 1" 1 "$?"
assert_contains "…said so" "missing.card: no such card image file" "$(cat "$T/ctl.err")"
assert_not_contains "…not looked up as a card id" "404" "$(cat "$T/ctl.err")"
ctl card show "$T/nowhere/x.card"
assert_eq "…its path named once" 1 "$(grep -o "$T/nowhere/x.card" "$T/ctl.err" | wc -l)"

# --- the release notice names the commands ---
ctl card hold c1
ctl card release c1
assert_contains "release: the notice" "notice: the signing certificate stays on hold" "$OUT"
assert_contains "…naming jpkictl cert revoke with the serial" "jpkictl cert revoke $SIGN2 --reason unspecified" "$OUT"

it_finish
