-- OCSP requests with a nonce (RFC 9654), a different one every time, so every answer is signed
-- afresh.  wrk ... -s SCRIPT URL -- PREFIX_HEX
-- PREFIX_HEX: a DER request made by `openssl ocsp -reqout` (16-byte nonce) without its last 16
-- bytes; each request appends thread id, a counter and random bytes.
local prefix, counter = nil, 0
local headers = {["Content-Type"] = "application/ocsp-request"}
function init(args)
  prefix = bench_unhex(args[1])
  math.randomseed(bench_tid * 7919 + os.time())
end
function request()
  counter = counter + 1
  local nonce = string.char(bench_tid) .. bench_be64(counter) ..
    string.char(math.random(0, 255), math.random(0, 255), math.random(0, 255), math.random(0, 255),
                math.random(0, 255), math.random(0, 255), math.random(0, 255))
  return wrk.format("POST", "/ocsp", headers, prefix .. nonce)
end
function response(status, hdrs, body)
  if status == 200 and bench_ocsp_ok(body) then bench_ok = bench_ok + 1 else bench_bad = bench_bad + 1 end
end
