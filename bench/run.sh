#!/usr/bin/env bash
# Tollgate benchmark: bench/run.sh (from anywhere). See bench/README.md for what it measures.
#
# Starts, all on 127.0.0.1 and all stopped on exit:
#   - stub:   nginx answering POST /v1/chat/completions with a fixed chat completion (with usage);
#   - proxy:  a second nginx doing a bare keepalive proxy_pass to the stub (the floor of one hop);
#   - Tollgate (Release build) with a SQLite store, a virtual key and the ledger on;
#   - Portkey gateway (npm @portkey-ai/gateway from tests/tools) routed to the stub.
# For each target: 30 s warm-up (JIT-compiled servers, Tollgate and Portkey alike, need it to reach steady state), throughput with wrk -t2 -c64 for 10 s, then latency with
# wrk -t1 -c1 --latency for 10 s; then RSS from /proc/PID/status. Writes the table into
# bench/README.md between the bench:results markers.
#
# Knobs (env): BENCH_DURATION (10), BENCH_WARMUP (3), BENCH_CONNECTIONS (64), BENCH_SKIP_README=1.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
cd "$ROOT"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DEBIAN_FRONTEND=noninteractive
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-30}"
CONNS="${BENCH_CONNECTIONS:-64}"
BODY='{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}'
MARK='Hello from the Tollgate bench stub'

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

WORK=""
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 25); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive -eq 0 ]] && break
        sleep 0.2
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    [[ -n "$WORK" && -d "$WORK" && "${BENCH_KEEP_TMP:-0}" != "1" ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM HUP

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
missing=()
[[ -x "$NGINX" ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing from apt: ${missing[*]}"
    SUDO=()
    [[ $EUID -ne 0 ]] && SUDO=(sudo -n)
    { "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } </dev/null \
        || die "apt-get install ${missing[*]} failed"
    NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
fi
command -v node >/dev/null || die "node (>= 20) is required for the Portkey row and for parsing"
command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is required for the Tollgate row"

TOOLS="$ROOT/tests/tools"
tools_stamp() { { cat "$TOOLS/package.json" "$TOOLS/package-lock.json"; node --version; } | sha256sum | cut -d' ' -f1; }
if [[ ! -f "$TOOLS/node_modules/.tollgate-npm-ci.stamp" || "$(cat "$TOOLS/node_modules/.tollgate-npm-ci.stamp")" != "$(tools_stamp)" ]]; then
    log "npm ci in tests/tools"
    (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error </dev/null) >&2 || die "npm ci in tests/tools failed"
    tools_stamp >"$TOOLS/node_modules/.tollgate-npm-ci.stamp"
fi
PORTKEY_JS="$TOOLS/node_modules/@portkey-ai/gateway/build/start-server.js"

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}
# wait_http URL SECONDS PID: until URL answers (any HTTP status) or PID dies.
wait_http() {
    local url="$1" secs="$2" pid="$3" i
    for i in $(seq 1 $((secs * 10))); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# RSS of a process and its direct children (nginx master + workers).
rss_tree_kb() {
    local total p
    total="$(rss_kb "$1")"
    for p in /proc/[0-9]*; do
        [[ "$(awk '/^PPid:/ {print $2}' "$p/status" 2>/dev/null)" == "$1" ]] && total=$((total + $(rss_kb "${p#/proc/}")))
    done
    echo "$total"
}

LOADAVG_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
WORK="$(mktemp -d /tmp/tollgate-bench.XXXXXX)" || die "mktemp failed"
chmod 755 "$WORK"

# Build Tollgate first, so that the build's CPU use is over before anything is measured.
TOLLGATE_BUILT=0
log "tollgate: dotnet build -c Release src/Tollgate"
if timeout 600 dotnet build -c Release src/Tollgate -nologo -v q --disable-build-servers </dev/null >"$WORK/tollgate-build.log" 2>&1; then
    TOLLGATE_BUILT=1
else
    log "tollgate: Release build failed (the Tollgate row will be marked failed):"
    grep -E 'error|Error' "$WORK/tollgate-build.log" | sort -u | head -n 20 >&2
fi

# ---------------------------------------------------------------------------------------------
# Upstream stub and nginx proxy
# ---------------------------------------------------------------------------------------------
STUB_PORT="$(free_port)"
PROXY_PORT="$(free_port)"
TOLLGATE_PORT="$(free_port)"
PORTKEY_PORT="$(free_port)"

# A realistic non-streaming chat completion. No '$' or single quote in it (nginx string literal).
STUB_JSON='{"id":"chatcmpl-bench000000000000000000000001","object":"chat.completion","created":1763900000,"model":"stub-model","choices":[{"index":0,"message":{"role":"assistant","content":"'"$MARK"'. This is a fixed answer of a few tokens.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":17,"total_tokens":26,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench"}'

nginx_common() { # $1 = name, $2 = worker_processes
    cat <<EOF
worker_processes $2;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/$1/body;
    proxy_temp_path $WORK/$1/proxy;
    fastcgi_temp_path $WORK/$1/fastcgi;
    uwsgi_temp_path $WORK/$1/uwsgi;
    scgi_temp_path $WORK/$1/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
EOF
}
mkdir -p "$WORK/stub" "$WORK/proxy"
{
    nginx_common stub 1
    cat <<EOF
    server {
        listen 127.0.0.1:$STUB_PORT;
        default_type application/json;
        location = /v1/chat/completions {
            # 'return' answers in the rewrite phase, so POST works (a static file would give 405).
            return 200 '$STUB_JSON';
        }
        location / { return 404 '{"error":{"message":"stub: no such route","type":"invalid_request_error"}}'; }
    }
}
EOF
} >"$WORK/stub/nginx.conf"
{
    nginx_common proxy auto
    cat <<EOF
    upstream stub {
        server 127.0.0.1:$STUB_PORT;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location / {
            proxy_pass http://stub;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$WORK/proxy/nginx.conf"

start_nginx() { # $1 = name; prints the master pid
    "$NGINX" -p "$WORK/$1" -c "$WORK/$1/nginx.conf" </dev/null >"$WORK/$1/stdout.log" 2>&1 &
    echo $!
}
STUB_PID="$(start_nginx stub)"; PIDS+=("$STUB_PID")
PROXY_PID="$(start_nginx proxy)"; PIDS+=("$PROXY_PID")
wait_http "http://127.0.0.1:$STUB_PORT/" 10 "$STUB_PID" || { cat "$WORK/stub/error.log" "$WORK/stub/stdout.log" >&2; die "stub nginx did not start"; }
wait_http "http://127.0.0.1:$PROXY_PORT/" 10 "$PROXY_PID" || { cat "$WORK/proxy/error.log" "$WORK/proxy/stdout.log" >&2; die "proxy nginx did not start"; }
log "stub nginx on 127.0.0.1:$STUB_PORT, nginx proxy_pass on 127.0.0.1:$PROXY_PORT"

# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------
declare -A R # R[row.field]
ROWS=(direct nginx tollgate portkey)
declare -A LABEL=([direct]="direct (stub)" [nginx]="nginx proxy_pass" [tollgate]="Tollgate" [portkey]="Portkey gateway")

# check_one ROW URL HEADER...: one request must return 200 with the stub's answer in the body.
check_one() {
    local row="$1" url="$2"; shift 2
    local hdrs=() h out code
    for h in "$@"; do hdrs+=(-H "$h"); done
    out="$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "$url" -H 'content-type: application/json' "${hdrs[@]}" -d "$BODY")"
    code="$(printf '%s' "$out" | tail -n 1)"
    if [[ "$code" != "200" ]] || ! grep -q "$MARK" <<<"$out"; then
        R[$row.failed]="check request got HTTP $code: $(printf '%s' "$out" | sed '$d' | head -c 300)"
        log "$row: check request failed: HTTP $code: $(printf '%s' "$out" | sed '$d' | head -c 600)"
        return 1
    fi
    log "$row: check request OK (HTTP 200, stub body)"
}

# run_wrk ROW PHASE THREADS CONNS SECONDS URL HEADER...: prints "k=v ..." from BENCH_RESULT.
run_wrk() {
    local row="$1" phase="$2" t="$3" c="$4" d="$5" url="$6"; shift 6
    local hdrs=() h out
    for h in "$@"; do hdrs+=(-H "$h"); done
    out="$(timeout $((d + 30)) wrk -t"$t" -c"$c" -d"${d}s" --timeout 5s --latency -s "$BENCH/post.lua" "${hdrs[@]}" "$url" 2>&1)"
    printf '%s\n' "$out" >"$WORK/wrk-$row-$phase.log"
    grep '^BENCH_RESULT ' <<<"$out" | head -n 1 | cut -d' ' -f2-
}

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

measure() { # ROW URL PID HEADER...
    local row="$1" url="$2" pid="$3"; shift 3
    local res req dur err
    check_one "$row" "$url" "$@" || return 1
    log "$row: warm-up ${WARMUP}s at $CONNS connections"
    run_wrk "$row" warmup 2 "$CONNS" "$WARMUP" "$url" "$@" >/dev/null
    log "$row: throughput ${DURATION}s at $CONNS connections"
    res="$(run_wrk "$row" tput 2 "$CONNS" "$DURATION" "$url" "$@")"
    if [[ -z "$res" ]]; then R[$row.failed]="wrk gave no result"; cat "$WORK/wrk-$row-tput.log" >&2; return 1; fi
    req="$(field "$res" requests)"; dur="$(field "$res" duration_us)"
    R[$row.rps]="$(awk -v r="$req" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')"
    err=$(( $(field "$res" connect) + $(field "$res" read) + $(field "$res" write) + $(field "$res" status) + $(field "$res" timeout) ))
    R[$row.err_tput]="$err"
    R[$row.req_tput]="$req"
    R[$row.detail_tput]="$res"
    log "$row: throughput result: $res"
    log "$row: latency ${DURATION}s at 1 connection"
    res="$(run_wrk "$row" lat 1 1 "$DURATION" "$url" "$@")"
    if [[ -z "$res" ]]; then R[$row.failed]="wrk gave no result"; cat "$WORK/wrk-$row-lat.log" >&2; return 1; fi
    R[$row.p50]="$(field "$res" p50_us)"
    R[$row.p99]="$(field "$res" p99_us)"
    err=$(( $(field "$res" connect) + $(field "$res" read) + $(field "$res" write) + $(field "$res" status) + $(field "$res" timeout) ))
    R[$row.err_lat]="$err"
    R[$row.req_lat]="$(field "$res" requests)"
    R[$row.detail_lat]="$res"
    log "$row: latency result: $res"
    R[$row.errors]=$(( R[$row.err_tput] + R[$row.err_lat] ))
    if [[ -n "$pid" ]]; then
        if [[ "$row" == nginx ]]; then R[$row.rss]="$(rss_tree_kb "$pid")"; else R[$row.rss]="$(rss_kb "$pid")"; fi
    fi
    if [[ "${R[$row.errors]}" != 0 ]]; then
        log "$row: $((R[$row.errors])) failed requests; wrk output in $WORK/wrk-$row-*.log:"
        cat "$WORK/wrk-$row-tput.log" "$WORK/wrk-$row-lat.log" >&2
    fi
    return 0
}

# (a) direct
measure direct "http://127.0.0.1:$STUB_PORT/v1/chat/completions" "$STUB_PID"
# (b) nginx proxy_pass
measure nginx "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$PROXY_PID"

# (c) Tollgate
tollgate_row() {
    local dll="$ROOT/src/Tollgate/bin/Release/net10.0/Tollgate.dll" pid out key code
    [[ "$TOLLGATE_BUILT" == 1 ]] || { R[tollgate.failed]="Release build failed"; return 1; }
    mkdir -p "$WORK/tollgate"
    sed "s/127\.0\.0\.1:18081/127.0.0.1:$STUB_PORT/" "$BENCH/tollgate.bench.yaml" >"$WORK/tollgate/tollgate.bench.yaml"
    export TOLLGATE_MASTER_KEY="bench-master-$RANDOM$RANDOM$RANDOM"
    (cd "$WORK/tollgate" && exec dotnet "$dll" --config "$WORK/tollgate/tollgate.bench.yaml" --urls "http://127.0.0.1:$TOLLGATE_PORT") \
        </dev/null >"$WORK/tollgate/stdout.log" 2>&1 &
    pid=$!; PIDS+=("$pid"); TOLLGATE_PID="$pid"
    if ! wait_http "http://127.0.0.1:$TOLLGATE_PORT/" 60 "$pid"; then
        log "tollgate: did not start; its output:"; tail -n 30 "$WORK/tollgate/stdout.log" >&2
        R[tollgate.failed]="did not start: $(grep -v '^\s*$' "$WORK/tollgate/stdout.log" | tail -n 1 | head -c 200)"; return 1
    fi
    out="$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "http://127.0.0.1:$TOLLGATE_PORT/admin/keys" \
        -H "Authorization: Bearer $TOLLGATE_MASTER_KEY" -H 'content-type: application/json' -d '{"alias":"bench"}')"
    code="$(tail -n 1 <<<"$out")"; out="$(sed '$d' <<<"$out")"
    key="$(node -e 'try { const j = JSON.parse(process.argv[1]); if (typeof j.key === "string" && j.key) console.log(j.key); } catch {}' "$out")"
    if [[ -z "$key" ]]; then
        log "tollgate: could not mint a virtual key; POST /admin/keys answered HTTP $code: $(head -c 500 <<<"$out")"
        R[tollgate.failed]="could not mint a virtual key (POST /admin/keys: HTTP $code${out:+ $(head -c 150 <<<"$out")})"; return 1
    fi
    log "tollgate: started on 127.0.0.1:$TOLLGATE_PORT (pid $pid), virtual key minted"
    measure tollgate "http://127.0.0.1:$TOLLGATE_PORT/v1/chat/completions" "$pid" "Authorization: Bearer $key"
}
TOLLGATE_PID=""
tollgate_row || true
# Stop Tollgate before Portkey runs, so it does not hold memory or CPU during that row.
[[ -n "$TOLLGATE_PID" ]] && { kill -TERM "$TOLLGATE_PID" 2>/dev/null; for _ in $(seq 1 50); do kill -0 "$TOLLGATE_PID" 2>/dev/null || break; sleep 0.1; done; }

# (d) Portkey
portkey_row() {
    local pid
    [[ -f "$PORTKEY_JS" ]] || { R[portkey.failed]="$PORTKEY_JS missing"; return 1; }
    mkdir -p "$WORK/portkey"
    (cd "$WORK/portkey" && BENCH_BIND_HOST=127.0.0.1 exec node -r "$BENCH/loopback.cjs" "$PORTKEY_JS" --port="$PORTKEY_PORT" --headless) \
        </dev/null >"$WORK/portkey/stdout.log" 2>&1 &
    pid=$!; PIDS+=("$pid"); PORTKEY_PID="$pid"
    if ! wait_http "http://127.0.0.1:$PORTKEY_PORT/" 30 "$pid"; then
        log "portkey: did not start; its output:"; tail -n 30 "$WORK/portkey/stdout.log" >&2
        R[portkey.failed]="did not start"; return 1
    fi
    if ss -Hltn "sport = :$PORTKEY_PORT" 2>/dev/null | grep -qv '127.0.0.1:'; then
        R[portkey.failed]="listens beyond 127.0.0.1"; return 1
    fi
    log "portkey: started on 127.0.0.1:$PORTKEY_PORT (pid $pid)"
    measure portkey "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" "$pid" \
        "x-portkey-provider: openai" "x-portkey-custom-host: http://127.0.0.1:$STUB_PORT/v1" "Authorization: Bearer sk-bench-unused"
}
PORTKEY_PID=""
portkey_row || true
R[stub.rss]="$(rss_tree_kb "$STUB_PID")"

# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f MB", k / 1024 }'; }
ok() { [[ -z "${R[$1.failed]:-}" && -n "${R[$1.rps]:-}" && -n "${R[$1.p50]:-}" ]]; }

TABLE="$WORK/table.md"
{
    echo "| target | req/s @${CONNS} conns | p50 @1 conn | p99 @1 conn | failed requests | RSS after load |"
    echo "|---|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        if ok "$row"; then
            rss="${R[$row.rss]:-}"
            case "$row" in
                direct) rss_s="$(mb "${R[stub.rss]}") (stub nginx)";;
                nginx) rss_s="$(mb "$rss") (master + workers)";;
                *) rss_s="$(mb "$rss")";;
            esac
            printf '| %s | %s | %s ms | %s ms | %s of %s | %s |\n' "${LABEL[$row]}" "${R[$row.rps]}" \
                "$(ms "${R[$row.p50]}")" "$(ms "${R[$row.p99]}")" "${R[$row.errors]}" \
                "$(( R[$row.req_tput] + R[$row.req_lat] ))" "$rss_s"
        else
            printf '| %s | FAILED: %s | | | | |\n' "${LABEL[$row]}" "$(printf '%s' "${R[$row.failed]:-no result}" | tr '|\n' '/ ')"
        fi
    done
    echo
    if ok tollgate && ok nginx; then
        ratio_nginx="$(awk -v a="${R[tollgate.rps]}" -v b="${R[nginx.rps]}" 'BEGIN { printf "%.2f", a / b }')"
        echo "- Tollgate / nginx proxy_pass throughput: **${ratio_nginx}×** (target ≥ 0.5×)"
    else
        echo "- Tollgate / nginx proxy_pass throughput: n/a (a row failed)"
    fi
    if ok tollgate && ok portkey; then
        ratio_portkey="$(awk -v a="${R[tollgate.rps]}" -v b="${R[portkey.rps]}" 'BEGIN { printf "%.1f", a / b }')"
        echo "- Tollgate / Portkey throughput: **${ratio_portkey}×** (target ≥ 10×)"
    else
        echo "- Tollgate / Portkey throughput: n/a (a row failed)"
    fi
    if ok tollgate && ok direct; then
        added="$(awk -v a="${R[tollgate.p50]}" -v b="${R[direct.p50]}" 'BEGIN { printf "%.3f", (a - b) / 1000 }')"
        echo "- Tollgate added p50 latency (Tollgate p50 − direct p50, 1 connection): **${added} ms** (target ≤ 0.2 ms)"
    else
        echo "- Tollgate added p50 latency: n/a (a row failed)"
    fi
    if ok nginx && ok direct; then
        added="$(awk -v a="${R[nginx.p50]}" -v b="${R[direct.p50]}" 'BEGIN { printf "%.3f", (a - b) / 1000 }')"
        echo "- nginx proxy_pass added p50 latency, for reference: ${added} ms"
    fi
    total_err=0; failed_rows=""
    for row in "${ROWS[@]}"; do
        if ok "$row"; then total_err=$(( total_err + R[$row.errors] )); else failed_rows+=" ${LABEL[$row]};"; fi
    done
    echo "- Failed requests across measured rows: ${total_err}${failed_rows:+; rows that did not run:${failed_rows%;}}"
} >"$TABLE"

CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
MEM_TOTAL="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
LOADAVG_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
MACHINE="$WORK/machine.md"
{
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Command: \`bench/run.sh\` (warm-up ${WARMUP} s, throughput \`wrk -t2 -c${CONNS} -d${DURATION}s\`, latency \`wrk -t1 -c1 -d${DURATION}s --latency\`)"
    echo "- Machine: $(nproc) CPUs ($CPU_MODEL), $MEM_TOTAL RAM, Linux $(uname -r); load average before the run: $LOADAVG_BEFORE, after: $LOADAVG_AFTER"
    if awk -v l="${LOADAVG_BEFORE%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
        echo "- **Warning:** the machine was already busy before the run (1-minute load ${LOADAVG_BEFORE%% *} on $(nproc) CPUs); these numbers are noisy."
    fi
    echo "- Software: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}'), node $(node --version), .NET $(dotnet --version), @portkey-ai/gateway $(node -p 'require(process.argv[1]).version' "$TOOLS/node_modules/@portkey-ai/gateway/package.json" 2>/dev/null)"
    echo "- Everything (wrk, stub, proxies) shares the same $(nproc) CPUs, so the numbers include wrk's own CPU use."
} >"$MACHINE"

echo
cat "$MACHINE"
echo
cat "$TABLE"

if [[ "${BENCH_SKIP_README:-0}" != "1" ]]; then
    node - "$BENCH/README.md" "$MACHINE" "$TABLE" <<'EOF'
const fs = require('fs');
const [readme, machine, table] = process.argv.slice(2);
const start = '<!-- bench:results:start -->', end = '<!-- bench:results:end -->';
let text = fs.existsSync(readme) ? fs.readFileSync(readme, 'utf8') : `# Benchmark\n\n${start}\n${end}\n`;
if (!text.includes(start) || !text.includes(end)) text += `\n${start}\n${end}\n`;
const block = `${start}\n${fs.readFileSync(machine, 'utf8').trim()}\n\n${fs.readFileSync(table, 'utf8').trim()}\n${end}`;
text = text.slice(0, text.indexOf(start)) + block + text.slice(text.indexOf(end) + end.length);
fs.writeFileSync(readme, text);
EOF
    log "results written to bench/README.md"
fi
