#!/usr/bin/env bash
# Monitoring (issue 4): /healthz, /readyz with each check named, /metrics parsed by a real
# Prometheus parser (Debian's python3-prometheus-client), and /metrics behind a token when
# service.metrics_public is false.
. "$(dirname "$0")/lib.sh"
it_setup
it_start
TOKEN=$(cat "$DATA/admin.token")
AUTH=(-H "Authorization: Bearer $TOKEN")

assert_eq "/healthz answers 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/healthz")"
body=$(curl -sS -w ' %{http_code}' "$URL/readyz")
assert_contains "/readyz is ready" '"status":"ready"' "$body"
assert_contains "/readyz answers 200" " 200" "$body"
for c in keys registry crl.sign crl.auth ocsp_signer.sign ocsp_signer.auth; do
  assert_contains "/readyz names check $c" "\"$c\":\"ok\"" "$body"
done

# Some traffic so that the counters move: an API call, an OCSP query, a CRL download.
curl -sS -o /dev/null "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"id":"p1","name":"Taro","address":"Tokyo","birth_date":"1980-01-01","gender":"male"}' \
  "$URL/v1/persons"
curl -sS -o /dev/null "$URL/crl/sign.crl"
curl -sS -o /dev/null "$URL/ca/sign.cer"
openssl ocsp -issuer "$DATA/certs/sign-ca.pem" -serial 0x1234 -url "$URL/ocsp" -no_nonce \
  >/dev/null 2>&1
check "/metrics parses with prometheus_client and has the families" \
  /usr/bin/python3 "$JPKI_SOURCE_DIR/test/integration/check_metrics.py" "$URL/metrics" \
  jpki_http_requests_total jpki_ocsp_responses_total jpki_http_request_duration_seconds \
  jpki_worker_queue_depth jpki_crl_number jpki_crl_size_bytes
m=$(curl -sS "$URL/metrics")
assert_contains "OCSP answers counted by CA and status" 'jpki_ocsp_responses_total{ca="sign",status="unknown"} 1' "$m"
assert_contains "API requests counted" 'jpki_http_requests_total{endpoint="api",code="201"}' "$m"
assert_contains "CRL downloads counted" 'jpki_http_requests_total{endpoint="crl",code="200"}' "$m"
assert_contains "CRL number per CA" 'jpki_crl_number{ca="sign"}' "$m"

# A missing CRL makes /readyz fail, naming the check.
mv "$DATA/crl/auth.crl" "$T/auth.crl"
body=$(curl -sS -w ' %{http_code}' "$URL/readyz")
assert_contains "/readyz answers 503 without a CRL" " 503" "$body"
assert_contains "…naming crl.auth" '"crl.auth":"no readable CRL' "$body"
assert_contains "…and the other checks still ok" '"crl.sign":"ok"' "$body"
mv "$T/auth.crl" "$DATA/crl/auth.crl"
jpkid_stop # end of part 1

# /readyz is public and its registry check writes and fsyncs: however fast it is asked, the
# registry is written at most about once a second (issue 17). A trigger counts the writes.
sqlite3 "$DATA/jpki.db" "CREATE TABLE probe_writes(at TEXT);
  CREATE TRIGGER probe_ins AFTER INSERT ON meta WHEN NEW.key = 'readyz_probe'
    BEGIN INSERT INTO probe_writes VALUES (NEW.value); END;
  CREATE TRIGGER probe_upd AFTER UPDATE ON meta WHEN NEW.key = 'readyz_probe'
    BEGIN INSERT INTO probe_writes VALUES (NEW.value); END;"
jpkid_start || exit 1
urls=()
for _ in $(seq 1 300); do urls+=(-o /dev/null "$URL/readyz"); done
t0=$(date +%s%N)
codes=$(curl -sS -w '%{http_code}\n' "${urls[@]}" | sort | uniq -c | awk '{print $2 ":" $1}')
t1=$(date +%s%N)
assert_eq "300 rapid /readyz: all 200" "200:300" "$codes"
writes=$(sqlite3 "$DATA/jpki.db" 'SELECT count(*) FROM probe_writes')
secs=$(((t1 - t0) / 1000000000 + 1))
check "…wrote the registry at most once a second ($writes writes in under $secs s)" \
  test "$writes" -ge 1 -a "$writes" -le $((secs + 1))
sleep 1.1
curl -sS -o /dev/null "$URL/readyz"
assert_eq "…and a probe a second later writes again" $((writes + 1)) \
  "$(sqlite3 "$DATA/jpki.db" 'SELECT count(*) FROM probe_writes')"
jpkid_stop

# metrics_public=false: /metrics needs an operator's token.
jpkid_start --set service.metrics_public=false || exit 1
assert_eq "/metrics without a token is 401" 401 \
  "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/metrics")"
assert_eq "/metrics with a wrong token is 401" 401 \
  "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "$URL/metrics")"
assert_eq "/metrics with the admin token is 200" 200 \
  "$(curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$URL/metrics")"
it_finish
