#!/usr/bin/env bash
# Partitioned CRLs (DESIGN §5, docs/PROFILES.md "CRLs") and what each verifier makes of them:
# a signing CA with two partitions, the authentication CA with one.
#  - each certificate's CDP names its partition's URL; the CRL served there carries a critical
#    IDP naming that same URL and only that partition's entries; OpenSSL checks certificates
#    against it;
#  - the complete CRL carries no IDP and every entry;
#  - NSS refuses the partition CRLs (SEC_ERROR_CRL_UNKNOWN_CRITICAL_EXTENSION, as PROFILES.md
#    says) and loads the complete one, by which vfychain rejects a revoked certificate whatever
#    its partition.
. "$(dirname "$0")/lib.sh"
it_setup
it_init --set ca.sign.crl_partitions=2 || exit 1
jpkid_start || exit 1
SIGN_CA=$DATA/certs/sign-ca.pem
mkdir -p "$T/out"

# Six holders, one signing certificate each; every other one revoked.
serials=()
for i in 1 2 3 4 5 6; do
  drv person-add "p$i" "試験 太郎$i" "東京都千代田区霞が関$i" 1980-01-0"$i" male >/dev/null
  drv card-add "c$i" "p$i" mynumber 2036-01-31 >/dev/null
  serials+=("$(drv issue "c$i" sign "$T/out" | awk '$2=="sign" {print $3}')")
done
revoked=("${serials[0]}" "${serials[2]}" "${serials[4]}")
for s in "${revoked[@]}"; do drv revoke "$s" keyCompromise >/dev/null; done
check "jpkid crl publishes the partitions" "$JPKID" crl "${SETS[@]}"

is_revoked() { [[ " ${revoked[*]} " == *" $1 "* ]]; }
cdp_of() { openssl x509 -in "$1" -noout -ext crlDistributionPoints | sed -n 's/^ *URI://p'; }

# ---- each certificate against its partition ----
seen_partitions=()
for s in "${serials[@]}"; do
  pem=$T/out/$s.pem
  cdp=$(cdp_of "$pem")
  n=$(sed -n 's#^http://127.0.0.1:8080/crl/sign/\([0-9]*\)\.crl$#\1#p' <<<"$cdp")
  if [ -z "$n" ]; then
    fail "$s: CDP $cdp is not a partition URL of the signing CA"
    continue
  fi
  seen_partitions+=("$n")
  crl=$T/part-$n.crl
  code=$(curl -sS -o "$crl" -w '%{http_code}' "$URL/crl/sign/$n.crl")
  assert_eq "$s: its partition CRL (/crl/sign/$n.crl) is served" 200 "$code"
  txt=$(openssl crl -inform DER -in "$crl" -noout -text)
  assert_contains "…with a critical IDP" "X509v3 Issuing Distribution Point: critical" "$txt"
  assert_contains "…naming the certificate's CDP" "URI:$cdp" "$txt"
  openssl crl -inform DER -in "$crl" -out "$crl.pem"
  if is_revoked "$s"; then
    assert_contains "…listing it (revoked)" "Serial Number: $s" "$txt"
    check_fails "…openssl verify -crl_check rejects it" \
      openssl verify -crl_check -CAfile "$SIGN_CA" -CRLfile "$crl.pem" "$pem"
  else
    assert_not_contains "…not listing it (good)" "Serial Number: $s" "$txt"
    check "…openssl verify -crl_check accepts it" \
      openssl verify -crl_check -CAfile "$SIGN_CA" -CRLfile "$crl.pem" "$pem"
  fi
done
# Entries stay in their partition: each partition CRL lists only its own certificates.
for n in $(printf '%s\n' "${seen_partitions[@]}" | sort -u); do
  want=0
  for s in "${revoked[@]}"; do
    [ "$(cdp_of "$T/out/$s.pem")" = "http://127.0.0.1:8080/crl/sign/$n.crl" ] && want=$((want + 1))
  done
  assert_eq "partition $n lists exactly its revoked certificates" "$want" \
    "$(openssl crl -inform DER -in "$T/part-$n.crl" -noout -text | grep -c 'Serial Number:')"
done

# ---- the complete CRL ----
curl -sS -o "$T/sign.crl" "$URL/crl/sign.crl"
txt=$(openssl crl -inform DER -in "$T/sign.crl" -noout -text)
assert_not_contains "the complete CRL has no IDP" "Issuing Distribution Point" "$txt"
assert_eq "…and every revoked certificate" 3 "$(grep -c 'Serial Number:' <<<"$txt")"
AUTH=$(drv issue c2 auth "$T/out" | awk '$2=="auth" {print $3}')
assert_contains "the one-partition auth CA: the CDP names its complete CRL" \
  "URI:http://127.0.0.1:8080/crl/auth.crl" \
  "$(openssl x509 -in "$T/out/$AUTH.pem" -noout -ext crlDistributionPoints)"

# ---- NSS ----
NSS=$T/nss
mkdir -p "$NSS"
certutil -N -d "sql:$NSS" --empty-password >/dev/null 2>&1
check "NSS: the signing root imported" certutil -A -d "sql:$NSS" -n jpki-sign -t C,C,C -i "$SIGN_CA"
n=${seen_partitions[0]}
check_fails "NSS crlutil refuses a partition CRL (critical IDP)" \
  crlutil -I -d "sql:$NSS" -i "$T/part-$n.crl"
assert_contains "…with the error PROFILES.md names" "SEC_ERROR_CRL_UNKNOWN_CRITICAL_EXTENSION" \
  "$(cat "$T/check.out")"
check "NSS crlutil imports the complete CRL" crlutil -I -d "sql:$NSS" -i "$T/sign.crl"
nss_verify() { vfychain -d "sql:$NSS" -pp -g leaf -m crl -s forbidFetching -u 4 -a "$1"; }
for s in "${serials[@]}"; do
  if is_revoked "$s"; then
    check_fails "NSS vfychain rejects revoked $s (CDP $(cdp_of "$T/out/$s.pem" | sed 's#.*/crl/##'))" \
      nss_verify "$T/out/$s.pem"
    assert_contains "…as revoked" "Peer's Certificate has been revoked" "$(cat "$T/check.out")"
  else
    check "NSS vfychain accepts good $s" nss_verify "$T/out/$s.pem"
  fi
done
jpkid_stop
it_finish
