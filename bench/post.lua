-- wrk script for the Tollgate benchmark: POST one small request per request.
-- The body comes from the BENCH_BODY environment variable (bench/run.sh sets it per row: an OpenAI
-- chat completion or an Anthropic Messages request); without it, the OpenAI chat request below.
-- Extra headers (Authorization, x-api-key, anthropic-version, x-portkey-*) are given with wrk -H.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"

-- Every response whose status is not 2xx is counted here. wrk's own summary.errors.status only counts
-- status >= 400, so a 1xx or 3xx answer would otherwise pass as a success.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

non2xx = 0
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

-- One machine-readable line for bench/run.sh. Latencies are in microseconds.
-- status = wrk's count of responses with status >= 400; non2xx = every response outside 200-299.
function done(summary, latency, requests)
  local e = summary.errors
  local n = 0
  for _, t in ipairs(threads) do
    n = n + (tonumber(t:get("non2xx")) or 0)
  end
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d non2xx=%d timeout=%d p50_us=%d p99_us=%d mean_us=%.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, n, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
