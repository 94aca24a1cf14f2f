-- Shared part of the benchmarks' wrk scripts: scripts/bench/lib.sh (bench_wrk_script) puts it
-- before the script proper. done() prints one "BENCH k=v ..." line that lib.sh reads.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local bench_ts = ffi.new("bench_timespec")

-- Monotonic seconds (wrk's own clock is not visible to scripts).
function bench_now()
  ffi.C.clock_gettime(1, bench_ts) -- CLOCK_MONOTONIC
  return tonumber(bench_ts.tv_sec) + tonumber(bench_ts.tv_nsec) * 1e-9
end

function bench_unhex(h)
  return (h:gsub("..", function(c) return string.char(tonumber(c, 16)) end))
end

-- n as 8 big-endian bytes.
function bench_be64(n)
  local t = {}
  for i = 8, 1, -1 do
    t[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(t)
end

-- True when body is an OCSPResponse with responseStatus successful (RFC 6960 §4.2.1):
-- SEQUENCE (short or long length) then ENUMERATED 0.
function bench_ocsp_ok(body)
  local len = body:byte(2)
  if body:byte(1) ~= 0x30 or len == nil then return false end
  local off = 3
  if len >= 0x80 then off = 3 + (len - 0x80) end
  return body:byte(off) == 0x0A and body:byte(off + 1) == 1 and body:byte(off + 2) == 0
end

-- Per-thread counters (each wrk thread has a Lua state of its own); done() sums them.
bench_tid = 0   -- 1..threads, set by setup()
bench_ok = 0    -- responses that passed the script's check
bench_bad = 0   -- responses that did not
bench_first = 0 -- when the thread sent its first counted request (quota scripts)
bench_last = 0  -- when it received its last counted response
bench_quota_mode = false -- true: the rate is ok / (last - first), not wrk's requests / -d

-- wrk calls request() once on its first thread right after init(), only to check that the
-- request parses (script_verify_request); scripts that count their requests skip that call.
local bench_verified = false
function bench_is_verify_call()
  if bench_tid == 1 and not bench_verified then
    bench_verified = true
    return true
  end
  return false
end

-- Quota scripts (issue.lua, miss.lua; each sets bench_quota_mode = true): each thread sends its
-- share of QUOTA counted requests once, request k of the run (0 .. QUOTA-1) on thread
-- (k mod THREADS) + 1; after that only a filler (GET /healthz) goes out, once a second per
-- connection (the script sets delay = bench_quota_delay). bench_quota_counted() stops the
-- thread at its last answer.
local bench_mine, bench_nthreads, bench_sent, bench_filler = 0, 1, 0, nil
function bench_quota_init(quota, nthreads)
  bench_nthreads = nthreads
  bench_mine = math.floor(quota / nthreads)
  bench_sent = 0
  bench_filler = wrk.format("GET", "/healthz")
end

-- The index k of this thread's next counted request, or nil when the filler is due instead
-- (bench_quota_filler()).
function bench_quota_next()
  if bench_is_verify_call() or bench_sent >= bench_mine then return nil end
  local k = (bench_tid - 1) + bench_sent * bench_nthreads
  bench_sent = bench_sent + 1
  if bench_first == 0 then bench_first = bench_now() end
  return k
end

function bench_quota_filler()
  return bench_filler
end

function bench_quota_delay()
  if bench_sent >= bench_mine then return 1000 end
  return 0
end

-- After a counted answer (bench_ok or bench_bad already incremented).
function bench_quota_counted()
  bench_last = bench_now()
  if bench_ok + bench_bad >= bench_mine then wrk.thread:stop() end
end

local bench_threadlist = {}
function setup(thread)
  table.insert(bench_threadlist, thread)
  thread:set("bench_tid", #bench_threadlist)
end

function done(summary, latency, requests)
  local ok, bad, first, last = 0, 0, nil, nil
  for _, t in ipairs(bench_threadlist) do
    ok = ok + (t:get("bench_ok") or 0)
    bad = bad + (t:get("bench_bad") or 0)
    local f, l = t:get("bench_first") or 0, t:get("bench_last") or 0
    if f > 0 and (first == nil or f < first) then first = f end
    if l > 0 and (last == nil or l > last) then last = l end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local rps = summary.requests / secs
  local ok_rps = ok / secs
  local span = 0
  if bench_quota_mode and first and last and last > first then
    span = last - first
    rps = ok / span
    ok_rps = rps
  end
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f ok=%d bad=%d ok_rps=%.1f span=%.3f errors=%d " ..
    "status_errors=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f\n",
    summary.requests, secs, rps, ok, bad, ok_rps, span,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
