-- POST /v1/cards/{PREFIX-c-NNNNNN}/issue once for each of QUOTA cards (jpki_benchload cards),
-- with the JSON body of BODY_FILE ({"certificates":"both"}, with or without public_keys).
--   wrk ... -s SCRIPT URL -- PREFIX QUOTA THREADS TOKEN BODY_FILE
bench_quota_mode = true
local prefix, mine, nthreads, sent, body, headers, filler
function init(args)
  prefix = args[1]
  nthreads = tonumber(args[3])
  mine = math.floor(tonumber(args[2]) / nthreads)
  headers = {["Authorization"] = "Bearer " .. args[4], ["Content-Type"] = "application/json"}
  local f = assert(io.open(args[5], "rb"))
  body = f:read("*a")
  f:close()
  sent = 0
  filler = wrk.format("GET", "/healthz")
end
function request()
  if bench_is_verify_call() or sent >= mine then return filler end
  local k = (bench_tid - 1) + sent * nthreads
  sent = sent + 1
  if bench_first == 0 then bench_first = bench_now() end
  return wrk.format("POST", string.format("/v1/cards/%s-c-%06d/issue", prefix, k), headers, body)
end
-- Once this thread's quota is sent, the fillers go out once a second per connection only.
function delay()
  if sent >= mine then return 1000 end
  return 0
end
function response(status, hdrs, b)
  -- 201: issued; 200: the filler (GET /healthz) sent once the quota is out.
  if status == 200 then return end
  if status == 201 then bench_ok = bench_ok + 1 else
    bench_bad = bench_bad + 1
    if bench_bad <= 3 then io.stderr:write("issue answered " .. status .. ": " .. b:sub(1, 200) .. "\n") end
  end
  bench_last = bench_now()
  if bench_ok + bench_bad >= mine then wrk.thread:stop() end
end
