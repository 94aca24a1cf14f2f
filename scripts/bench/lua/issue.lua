-- POST /v1/cards/{PREFIX-c-NNNNNN}/issue once for each of QUOTA cards (jpki_benchload cards),
-- with the JSON body of BODY_FILE ({"certificates":"both"}, with or without public_keys).
--   wrk ... -s SCRIPT URL -- PREFIX QUOTA THREADS TOKEN BODY_FILE
bench_quota_mode = true -- at load: done() runs in the main state, which never calls init()
local prefix, body, headers
function init(args)
  prefix = args[1]
  bench_quota_init(tonumber(args[2]), tonumber(args[3]))
  headers = {["Authorization"] = "Bearer " .. args[4], ["Content-Type"] = "application/json"}
  local f = assert(io.open(args[5], "rb"))
  body = f:read("*a")
  f:close()
end
function request()
  local k = bench_quota_next()
  if k == nil then return bench_quota_filler() end
  return wrk.format("POST", string.format("/v1/cards/%s-c-%06d/issue", prefix, k), headers, body)
end
delay = bench_quota_delay
function response(status, hdrs, b)
  -- 201: issued; 200: the filler (GET /healthz) sent once the quota is out.
  if status == 200 then return end
  if status == 201 then bench_ok = bench_ok + 1 else
    bench_bad = bench_bad + 1
    if bench_bad <= 3 then io.stderr:write("issue answered " .. status .. ": " .. b:sub(1, 200) .. "\n") end
  end
  bench_quota_counted()
end
