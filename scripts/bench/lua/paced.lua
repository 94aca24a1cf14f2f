-- Rate pacing for the latency runs (wrk2 is not in Debian): every thread keeps a schedule of
-- RATE/THREADS requests per second and each connection waits for the next slot (wrk's delay()
-- has 1 ms resolution, so requests leave in 1 ms ticks). A closed loop: when the server falls
-- behind, the schedule is caught up as fast as the connections allow, so latencies carry no
-- coordinated-omission correction.  wrk ... -s SCRIPT URL -- REQUEST.der RATE THREADS
local bench_interval, bench_next = 0, 0
local bench_init_post = init
function init(args)
  bench_init_post(args)
  bench_interval = tonumber(args[3]) / tonumber(args[2])
end
function delay()
  local now = bench_now()
  if bench_next == 0 then bench_next = now end
  local wait = bench_next - now
  bench_next = math.max(bench_next, now - 0.002) + bench_interval
  if wait <= 0 then return 0 end
  return wait * 1000
end
