-- OCSP requests for QUOTA distinct fake serials of the registry (jpki_benchload certs), each
-- asked once, in a scattered order (serial index k*1000003+12345 mod COUNT): every request
-- misses the in-memory cache and is answered from the registry's pre-signed row.
--   wrk ... -s SCRIPT URL -- PREFIX_HEX TOP_HEX COUNT QUOTA THREADS
-- PREFIX_HEX: the DER request of a real certificate without its serial's last 16 bytes.
-- An answer counts as right when it is a successful OCSP response whose CertID serial (TOP
-- and 7 zero bytes, then the index) is followed by certStatus good ([0] IMPLICIT NULL, 80 00).
bench_quota_mode = true -- at load: done() runs in the main state, which never calls init()
local prefix, top, count
local headers = {["Content-Type"] = "application/ocsp-request"}
function init(args)
  prefix = bench_unhex(args[1])
  top = string.char(tonumber(args[2], 16)) .. string.rep("\0", 7)
  count = tonumber(args[3])
  bench_quota_init(tonumber(args[4]), tonumber(args[5]))
end
function request()
  local k = bench_quota_next()
  if k == nil then return bench_quota_filler() end
  local i = (k * 1000003 + 12345) % count
  return wrk.format("POST", "/ocsp", headers, prefix .. top .. bench_be64(i + 1))
end
delay = bench_quota_delay
function response(status, hdrs, body)
  if hdrs["Content-Type"] ~= "application/ocsp-response" then return end
  local at = body:find(top, 1, true)
  if status == 200 and bench_ocsp_ok(body) and at and body:byte(at + 16) == 0x80 and
      body:byte(at + 17) == 0 then
    bench_ok = bench_ok + 1
  else
    bench_bad = bench_bad + 1
  end
  bench_quota_counted()
end
