-- wrk script for the Tollgate benchmark: POST one small OpenAI chat completion per request.
-- Extra headers (Authorization, x-portkey-*) are given with wrk -H on the command line.
wrk.method = "POST"
wrk.body = '{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"

-- One machine-readable line for bench/run.sh. Latencies are in microseconds.
-- errors_status counts responses with status >= 400 (wrk's own rule).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d mean_us=%.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
