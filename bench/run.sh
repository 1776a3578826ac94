#!/usr/bin/env bash
# Tollgate benchmark: bench/run.sh (from anywhere). See bench/README.md for what it measures.
#
# Starts, all on 127.0.0.1 and all stopped on exit:
#   - stub:   nginx answering POST /v1/chat/completions with a fixed chat completion and
#             POST /v1/messages with a fixed Anthropic Messages answer (both with usage);
#   - proxy:  a second nginx doing a bare keepalive proxy_pass to the stub (the floor of one hop);
#   - proxy-default: a third nginx with proxy_pass and nginx's upstream defaults (HTTP/1.0, a new
#             connection to the stub per request), for reference only;
#   - a minimal .NET pass-through (bench/passthrough: Kestrel in, SocketsHttpHandler out, no
#     features), the runtime's floor for one hop;
#   - Tollgate (Release build) with a SQLite store, virtual keys and the ledger on: OpenAI → OpenAI,
#     Anthropic → Anthropic (pass-through), OpenAI → Anthropic (translated), and OpenAI → OpenAI with a
#     key that has an rpm limit and a budget (limits in memory);
#   - a private PostgreSQL cluster and redis-server, and a second Tollgate on them (store on
#     PostgreSQL, limits, holds and spend in Redis) with a limited key: the cost of accounting;
#   - Portkey gateway (npm @portkey-ai/gateway from tests/tools) routed to the stub.
# For each row: one check request (HTTP 200 with the expected body shape), a warm-up (JIT-compiled
# servers, Tollgate and Portkey alike, need it to reach steady state), throughput with wrk -t2 -c64,
# then latency with wrk -t1 -c1 --latency; then RSS from /proc/PID/status. Writes the table into
# bench/README.md between the bench:results markers.
#
# Knobs (env): BENCH_DURATION (10), BENCH_WARMUP (30), BENCH_CONNECTIONS (64), BENCH_PAIR_ROUNDS (5), BENCH_PAIR_SECONDS (8), BENCH_SKIP_README=1,
# BENCH_KEEP_TMP=1.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
cd "$ROOT"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DEBIAN_FRONTEND=noninteractive
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-30}"
CONNS="${BENCH_CONNECTIONS:-64}"
# Request bodies. BODY_CHAT is what the existing rows always sent; the Anthropic pass-through sends
# BODY_MESSAGES; the translated row sends an OpenAI chat request for the Anthropic-backed group.
BODY_CHAT='{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}'
BODY_MESSAGES='{"model":"bench-claude","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
BODY_TRANSLATED='{"model":"bench-claude","messages":[{"role":"user","content":"hi"}]}'
BODY_LONG='{"model":"bench-long","messages":[{"role":"user","content":"hi"}]}'
# The two stub answers carry different marks, so a check can tell which upstream answered.
MARK='Hello from the Tollgate bench stub'
MARK_ANTHROPIC='Hello from the Tollgate bench Anthropic stub'

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

WORK=""
PIDS=()
PG_BIN=""
PG_DATA=""
AS_PG=()
stop_pg() {
    [[ -n "$PG_DATA" && -f "$PG_DATA/postmaster.pid" ]] || return 0
    "${AS_PG[@]}" timeout 30 "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1 && return 0
    # pg_ctl failed: kill the postmaster named in its pid file (first line).
    local pm
    pm="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null)"
    [[ "$pm" =~ ^[0-9]+$ ]] && kill -KILL "$pm" 2>/dev/null
    return 0
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    stop_pg
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

# stop_pid PID: TERM, up to 5 s, then KILL.
stop_pid() {
    [[ -n "$1" ]] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
SUDO=()
[[ $EUID -ne 0 ]] && SUDO=(sudo -n)
apt_install() { # PACKAGE...
    log "installing from apt: $*"
    { timeout 300 "${SUDO[@]}" apt-get update -q && timeout 600 "${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@"; } </dev/null >&2
}
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
missing=()
[[ -x "$NGINX" ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
    NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
fi
command -v node >/dev/null || die "node (>= 20) is required for the Portkey row and for parsing"
command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is required for the Tollgate rows"

# PostgreSQL and Redis, for the accounting row only: if they cannot be had, that row fails, not the run.
find_pg_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
    if command -v pg_ctl >/dev/null; then dirname "$(readlink -f "$(command -v pg_ctl)")"; fi
}
PG_BIN="$(find_pg_bin)"
if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]] || ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install postgresql redis-server || log "apt-get install postgresql redis-server failed (the PostgreSQL + Redis row will be marked failed)"
    PG_BIN="$(find_pg_bin)"
fi

TOOLS="$ROOT/tests/tools"
tools_stamp() { { cat "$TOOLS/package.json" "$TOOLS/package-lock.json"; node --version; } | sha256sum | cut -d' ' -f1; }
if [[ ! -f "$TOOLS/node_modules/.tollgate-npm-ci.stamp" || "$(cat "$TOOLS/node_modules/.tollgate-npm-ci.stamp")" != "$(tools_stamp)" ]]; then
    log "npm ci in tests/tools"
    (cd "$TOOLS" && timeout 900 npm ci --no-audit --no-fund --loglevel=error </dev/null) >&2 || die "npm ci in tests/tools failed"
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

# build_release NAME PROJECT WHAT_FAILS: dotnet build -c Release; returns 1 (and logs the errors) when it fails.
build_release() {
    log "$1: dotnet build -c Release $2"
    timeout 600 dotnet build -c Release "$2" -nologo -v q --disable-build-servers </dev/null >"$WORK/$1-build.log" 2>&1 && return 0
    log "$1: Release build failed ($3 will be marked failed):"
    grep -E 'error|Error' "$WORK/$1-build.log" | sort -u | head -n 20 >&2
    return 1
}
# Build first, so that the builds' CPU use is over before anything is measured.
TOLLGATE_BUILT=0
build_release tollgate src/Tollgate "the Tollgate rows" && TOLLGATE_BUILT=1
TOLLGATE_DLL="$ROOT/src/Tollgate/bin/Release/net10.0/Tollgate.dll"
PASSTHROUGH_BUILT=0
build_release passthrough bench/passthrough "its row" && PASSTHROUGH_BUILT=1
PASSTHROUGH_DLL="$BENCH/passthrough/bin/Release/net10.0/Tollgate.Bench.Passthrough.dll"

# ---------------------------------------------------------------------------------------------
# Private PostgreSQL and Redis (for the accounting row), started before anything is measured so that
# initdb's CPU use is over too. They idle until that row and are stopped right after it.
# ---------------------------------------------------------------------------------------------
PGR_FAILED=""   # why PostgreSQL or Redis is unavailable; empty when both are up
PG_PORT=""; REDIS_PORT=""; REDIS_PID=""; PG_PASSWORD=""
start_pg_redis() {
    [[ -n "$PG_BIN" && -x "$PG_BIN/initdb" ]] || { PGR_FAILED="PostgreSQL (initdb) not found"; return 1; }
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { PGR_FAILED="redis-server not found"; return 1; }
    mkdir -p "$WORK/pg/data" "$WORK/pg/sock"
    PG_PASSWORD="bench-pg-$RANDOM$RANDOM$RANDOM"
    printf '%s\n' "$PG_PASSWORD" >"$WORK/pg/pwfile"
    if [[ $EUID -eq 0 ]]; then
        # initdb and postgres refuse to run as root.
        id postgres >/dev/null 2>&1 || { PGR_FAILED="user 'postgres' does not exist"; return 1; }
        chown -R postgres: "$WORK/pg"
        AS_PG=(runuser -u postgres --)
    fi
    chmod 700 "$WORK/pg/data"
    PG_PORT="$(free_port)"
    log "postgres: initdb in $WORK/pg/data"
    if ! "${AS_PG[@]}" timeout 120 "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --pwfile="$WORK/pg/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 </dev/null >"$WORK/pg/initdb.log" 2>&1; then
        tail -n 20 "$WORK/pg/initdb.log" >&2
        PGR_FAILED="initdb failed: $(tail -n 1 "$WORK/pg/initdb.log" | head -c 150)"; return 1
    fi
    rm -f "$WORK/pg/pwfile"
    PG_DATA="$WORK/pg/data" # from here on, cleanup stops the cluster
    if ! "${AS_PG[@]}" timeout 90 "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/server.log" -w -t 60 start \
        -o "-p $PG_PORT -k $WORK/pg/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        </dev/null >/dev/null 2>&1; then
        tail -n 20 "$WORK/pg/server.log" >&2
        PGR_FAILED="PostgreSQL did not start: $(tail -n 1 "$WORK/pg/server.log" 2>/dev/null | head -c 150)"; return 1
    fi
    timeout 15 "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 10 || { PGR_FAILED="PostgreSQL not accepting connections on 127.0.0.1:$PG_PORT"; return 1; }
    log "postgres: $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (fsync off)"

    REDIS_PORT="$(free_port)"
    mkdir -p "$WORK/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK/redis" \
        --daemonize no --protected-mode yes --logfile "$WORK/redis/redis.log" </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!; PIDS+=("$REDIS_PID")
    local up=0
    for _ in $(seq 1 50); do
        if timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then up=1; break; fi
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ $up -eq 1 ]] || { tail -n 20 "$WORK/redis/redis.log" >&2; PGR_FAILED="redis-server did not start"; return 1; }
    log "redis: $(redis-server --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT (no persistence)"
}
start_pg_redis || log "PostgreSQL/Redis unavailable: $PGR_FAILED (the PostgreSQL + Redis row will be marked failed)"

# ---------------------------------------------------------------------------------------------
# Upstream stub and nginx proxy
# ---------------------------------------------------------------------------------------------
STUB_PORT="$(free_port)"
PROXY_PORT="$(free_port)"
PROXY_DEFAULT_PORT="$(free_port)"
PASSTHROUGH_PORT="$(free_port)"
TOLLGATE_PORT="$(free_port)"
TOLLGATE_PG_PORT="$(free_port)"
PORTKEY_PORT="$(free_port)"

# A realistic non-streaming chat completion. No '$' or single quote in it (nginx string literal).
STUB_JSON='{"id":"chatcmpl-bench000000000000000000000001","object":"chat.completion","created":1763900000,"model":"stub-model","choices":[{"index":0,"message":{"role":"assistant","content":"'"$MARK"'. This is a fixed answer of a few tokens.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":17,"total_tokens":26,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench"}'
# A realistic non-streaming Anthropic Messages answer, with prompt-cache usage. Same rules.
STUB_MESSAGES_JSON='{"id":"msg_bench00000000000000000001","type":"message","role":"assistant","model":"claude-bench-stub","content":[{"type":"text","text":"'"$MARK_ANTHROPIC"'. This is a fixed answer of a few tokens."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":24,"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":24,"ephemeral_1h_input_tokens":0},"output_tokens":17,"service_tier":"standard"}}'
# A long answer (about 3.4 KB, 700 completion tokens, nearer what a real chat completion looks like; nginx takes
# at most 4 KB in one config string) for the paired
# "long" group; the rows above use the short one. Same rules. The text is one sentence repeated.
STUB_LONG_TEXT="$MARK (long answer)."
for _ in $(seq 1 30); do STUB_LONG_TEXT+=" The gateway relays this paragraph unchanged, reads its usage and writes one ledger row for it."; done
STUB_LONG_JSON='{"id":"chatcmpl-bench000000000000000000000002","object":"chat.completion","created":1763900000,"model":"stub-model","choices":[{"index":0,"message":{"role":"assistant","content":"'"$STUB_LONG_TEXT"'","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":700,"total_tokens":709,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench"}'

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
        location = /v1/messages {
            add_header request-id req_bench00000000000000000001;
            return 200 '$STUB_MESSAGES_JSON';
        }
        location = /long/v1/chat/completions {
            return 200 '$STUB_LONG_JSON';
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
# For reference: proxy_pass with nothing else, so nginx's upstream defaults apply (HTTP/1.0 to the stub, and a new
# TCP connection per request). Tollgate keeps its upstream connections alive, so the keepalive proxy above is the
# fair floor and the one the targets are measured against.
mkdir -p "$WORK/proxy-default"
{
    nginx_common proxy-default auto
    cat <<EOF
    server {
        listen 127.0.0.1:$PROXY_DEFAULT_PORT;
        location / {
            proxy_pass http://127.0.0.1:$STUB_PORT;
        }
    }
}
EOF
} >"$WORK/proxy-default/nginx.conf"

start_nginx() { # $1 = name; prints the master pid
    "$NGINX" -p "$WORK/$1" -c "$WORK/$1/nginx.conf" </dev/null >"$WORK/$1/stdout.log" 2>&1 &
    echo $!
}
STUB_PID="$(start_nginx stub)"; PIDS+=("$STUB_PID")
PROXY_PID="$(start_nginx proxy)"; PIDS+=("$PROXY_PID")
PROXY_DEFAULT_PID="$(start_nginx proxy-default)"; PIDS+=("$PROXY_DEFAULT_PID")
wait_http "http://127.0.0.1:$STUB_PORT/" 10 "$STUB_PID" || { cat "$WORK/stub/error.log" "$WORK/stub/stdout.log" >&2; die "stub nginx did not start"; }
wait_http "http://127.0.0.1:$PROXY_PORT/" 10 "$PROXY_PID" || { cat "$WORK/proxy/error.log" "$WORK/proxy/stdout.log" >&2; die "proxy nginx did not start"; }
wait_http "http://127.0.0.1:$PROXY_DEFAULT_PORT/" 10 "$PROXY_DEFAULT_PID" || { cat "$WORK/proxy-default/error.log" "$WORK/proxy-default/stdout.log" >&2; die "proxy-default nginx did not start"; }
log "stub nginx on 127.0.0.1:$STUB_PORT, nginx proxy_pass on 127.0.0.1:$PROXY_PORT (keepalive) and 127.0.0.1:$PROXY_DEFAULT_PORT (defaults)"

# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------
declare -A R # R[row.field]
ROWS=(direct direct_messages nginx passthrough nginx_default tollgate tollgate_messages tollgate_translated tollgate_limits nginx_pg tollgate_pg portkey)
declare -A LABEL=(
    [direct]="direct (stub), OpenAI /v1/chat/completions"
    [direct_messages]="direct (stub), Anthropic /v1/messages"
    [nginx]="nginx proxy_pass"
    [passthrough]="minimal .NET pass-through (bench/passthrough)"
    [nginx_default]="nginx proxy_pass, upstream defaults (HTTP/1.0, new connection per request; reference)"
    [nginx_pg]="nginx proxy_pass, again (right before the PostgreSQL + Redis row)"
    [tollgate]="Tollgate, OpenAI → OpenAI (SQLite)"
    [tollgate_messages]="Tollgate, Anthropic → Anthropic (pass-through)"
    [tollgate_translated]="Tollgate, OpenAI → Anthropic (translated)"
    [tollgate_limits]="Tollgate, SQLite + in-memory limits"
    [tollgate_pg]="Tollgate, PostgreSQL + Redis limits"
    [portkey]="Portkey gateway"
)

# check_body SHAPE MARK JSON: the body has the expected shape (chat: an OpenAI chat completion;
# messages: an Anthropic Messages answer), the stub's MARK in its text and a usage block. Prints the
# usage on success, the problem on failure.
check_body() {
    node -e '
const [shape, mark, text] = process.argv.slice(1);
let j; try { j = JSON.parse(text); } catch { console.log("not JSON"); process.exit(1); }
const num = (v) => typeof v === "number" && v >= 0;
let problem = null;
if (shape === "chat") {
  const m = j.choices && j.choices[0] && j.choices[0].message;
  if (j.object !== "chat.completion") problem = "object is not chat.completion";
  else if (!m || m.role !== "assistant" || typeof m.content !== "string" || !m.content.includes(mark)) problem = "choices[0].message.content lacks the stub mark";
  else if (!j.usage || !num(j.usage.prompt_tokens) || !(j.usage.completion_tokens > 0)) problem = "usage lacks prompt_tokens/completion_tokens";
} else {
  const c = Array.isArray(j.content) && j.content[0];
  const u = j.usage || {};
  if (j.type !== "message" || j.role !== "assistant") problem = "type/role is not message/assistant";
  else if (!c || c.type !== "text" || !String(c.text).includes(mark)) problem = "content[0] is not the stub text";
  else if (!num(u.input_tokens) || !(u.output_tokens > 0) || !num(u.cache_read_input_tokens) || !num(u.cache_creation_input_tokens)) problem = "usage lacks input/output/cache tokens";
}
if (problem) { console.log(problem); process.exit(1); }
console.log("usage " + JSON.stringify(j.usage));
' "$1" "$2" "$3"
}

# check_one ROW URL SHAPE MARK BODY HEADER...: one request must return 200 with the expected body.
check_one() {
    local row="$1" url="$2" shape="$3" mark="$4" body="$5"; shift 5
    local hdrs=() h out code resp verdict
    for h in "$@"; do hdrs+=(-H "$h"); done
    out="$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "$url" -H 'content-type: application/json' "${hdrs[@]}" -d "$body")"
    code="$(printf '%s' "$out" | tail -n 1)"
    resp="$(printf '%s' "$out" | sed '$d')"
    if [[ "$code" != "200" ]]; then
        R[$row.failed]="check request got HTTP $code: $(head -c 300 <<<"$resp")"
        log "$row: check request failed: HTTP $code: $(head -c 600 <<<"$resp")"
        return 1
    fi
    if ! verdict="$(check_body "$shape" "$mark" "$resp")"; then
        R[$row.failed]="check request: HTTP 200 but $verdict: $(head -c 200 <<<"$resp")"
        log "$row: check request failed: HTTP 200 but $verdict: $(head -c 600 <<<"$resp")"
        return 1
    fi
    log "$row: check request OK (HTTP 200, $shape body from the stub, $verdict)"
}

# run_wrk ROW PHASE THREADS CONNS SECONDS URL BODY HEADER...: prints "k=v ..." from BENCH_RESULT.
run_wrk() {
    local row="$1" phase="$2" t="$3" c="$4" d="$5" url="$6" body="$7"; shift 7
    local hdrs=() h out
    for h in "$@"; do hdrs+=(-H "$h"); done
    out="$(BENCH_BODY="$body" timeout -k 5 $((d + 30)) wrk -t"$t" -c"$c" -d"${d}s" --timeout 5s --latency -s "$BENCH/post.lua" "${hdrs[@]}" "$url" 2>&1)"
    printf '%s\n' "$out" >"$WORK/wrk-$row-$phase.log"
    grep '^BENCH_RESULT ' <<<"$out" | head -n 1 | cut -d' ' -f2-
}

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# Failed requests in one wrk result: socket errors (connect, read, write), timeouts (> 5 s) and every
# response outside 200-299 (non2xx from post.lua, a superset of wrk's own status >= 400 count).
failures() { echo $(( $(field "$1" connect) + $(field "$1" read) + $(field "$1" write) + $(field "$1" timeout) + $(field "$1" non2xx) )); }

# measure ROW URL PID SHAPE MARK BODY HEADER...
measure() {
    local row="$1" url="$2" pid="$3" shape="$4" mark="$5" body="$6"; shift 6
    local res req dur
    check_one "$row" "$url" "$shape" "$mark" "$body" "$@" || return 1
    log "$row: warm-up ${WARMUP}s at $CONNS connections"
    res="$(run_wrk "$row" warmup 2 "$CONNS" "$WARMUP" "$url" "$body" "$@")"
    R[$row.err_warmup]="$([[ -n "$res" ]] && failures "$res" || echo '?')"
    [[ "${R[$row.err_warmup]}" != 0 ]] && log "$row: warm-up had ${R[$row.err_warmup]} failed requests (not counted): $res"
    log "$row: throughput ${DURATION}s at $CONNS connections"
    res="$(run_wrk "$row" tput 2 "$CONNS" "$DURATION" "$url" "$body" "$@")"
    if [[ -z "$res" ]]; then R[$row.failed]="wrk gave no result"; cat "$WORK/wrk-$row-tput.log" >&2; return 1; fi
    req="$(field "$res" requests)"; dur="$(field "$res" duration_us)"
    R[$row.rps]="$(awk -v r="$req" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')"
    R[$row.err_tput]="$(failures "$res")"
    R[$row.req_tput]="$req"
    log "$row: throughput result: $res"
    log "$row: latency ${DURATION}s at 1 connection"
    res="$(run_wrk "$row" lat 1 1 "$DURATION" "$url" "$body" "$@")"
    if [[ -z "$res" ]]; then R[$row.failed]="wrk gave no result"; cat "$WORK/wrk-$row-lat.log" >&2; return 1; fi
    R[$row.p50]="$(field "$res" p50_us)"
    R[$row.p99]="$(field "$res" p99_us)"
    R[$row.err_lat]="$(failures "$res")"
    R[$row.req_lat]="$(field "$res" requests)"
    log "$row: latency result: $res"
    R[$row.errors]=$(( R[$row.err_tput] + R[$row.err_lat] ))
    if [[ -n "$pid" ]]; then
        if [[ "$row" == nginx* ]]; then R[$row.rss]="$(rss_tree_kb "$pid")"; else R[$row.rss]="$(rss_kb "$pid")"; fi
    fi
    if [[ "${R[$row.errors]}" != 0 ]]; then
        log "$row: ${R[$row.errors]} FAILED REQUESTS; wrk output in $WORK/wrk-$row-*.log:"
        cat "$WORK/wrk-$row-tput.log" "$WORK/wrk-$row-lat.log" >&2
    fi
    return 0
}

# Paired rounds. On a shared machine the load moves by ±25% within minutes, so a ratio of two rows measured
# minutes apart moves with it. Each headline ratio is therefore also taken from alternating runs: in each round
# every target gets one run of PAIR_SECONDS right after the other (no warm-up: each was warmed for its row), the
# ratio is taken within the round, and the median round is reported with all of them.
PAIR_ROUNDS="${BENCH_PAIR_ROUNDS:-5}"
PAIR_SECONDS="${BENCH_PAIR_SECONDS:-8}"
declare -A P # P[group.row.round] = req/s; P[group.ok]; P[group.errors]
# paired GROUP TARGET...: TARGET is "ROW|URL|HEADER|BODY" (the header may be empty; the body defaults to BODY_CHAT).
paired() {
    local group="$1" r t row url hdr body res n line; shift
    P[$group.errors]=0
    for r in $(seq 1 "$PAIR_ROUNDS"); do
        line=""
        for t in "$@"; do
            IFS='|' read -r row url hdr body <<<"$t"
            res="$(run_wrk "$row" "pair-$group-$r" 2 "$CONNS" "$PAIR_SECONDS" "$url" "${body:-$BODY_CHAT}" ${hdr:+"$hdr"})"
            if [[ -z "$res" ]]; then log "paired $group: $row, round $r: wrk gave no result"; return 1; fi
            n="$(failures "$res")"
            if [[ "$n" != 0 ]]; then
                P[$group.errors]=$(( P[$group.errors] + n ))
                log "paired $group: $row, round $r: $n FAILED REQUESTS: $res"
            fi
            P[$group.$row.$r]="$(awk -v q="$(field "$res" requests)" -v d="$(field "$res" duration_us)" 'BEGIN { printf "%.0f", q / (d / 1e6) }')"
            line+="$row ${P[$group.$row.$r]} req/s; "
        done
        log "paired $group, round $r: ${line%; }"
    done
    P[$group.ok]=1
}
# paired_ratio GROUP A B: the median over the rounds of B ÷ A, then every round's ratio.
paired_ratio() {
    local group="$1" a="$2" b="$3" r list=()
    for r in $(seq 1 "$PAIR_ROUNDS"); do
        list+=("$(awk -v x="${P[$group.$b.$r]}" -v y="${P[$group.$a.$r]}" 'BEGIN { printf "%.2f", x / y }')")
    done
    printf '%s× (rounds: %s)' "$(printf '%s\n' "${list[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')" \
        "$(printf '%s, ' "${list[@]}" | sed 's/, $//')"
}
paired_has() { [[ -n "${P[$1.$2.1]:-}" ]]; } # GROUP ROW: ROW took part in GROUP

# ok ROW: the row ran and has its numbers.
ok() { [[ -z "${R[$1.failed]:-}" && -n "${R[$1.rps]:-}" && -n "${R[$1.p50]:-}" ]]; }
# start_server ROW PORT COMMAND...: runs COMMAND in $WORK/ROW (output in its stdout.log) and waits up to
# START_WAIT seconds (default 30) for it to answer on 127.0.0.1:PORT; sets SERVER_PID. If it does not, logs its
# output, marks ROW failed with the output's last line and returns 1.
SERVER_PID=""
start_server() {
    local row="$1" port="$2"; shift 2
    mkdir -p "$WORK/$row"
    (cd "$WORK/$row" && exec "$@") </dev/null >"$WORK/$row/stdout.log" 2>&1 &
    SERVER_PID=$!; PIDS+=("$SERVER_PID")
    if ! wait_http "http://127.0.0.1:$port/" "${START_WAIT:-30}" "$SERVER_PID"; then
        log "$row: did not start; its output:"; tail -n 30 "$WORK/$row/stdout.log" >&2
        R[$row.failed]="did not start: $(grep -v '^\s*$' "$WORK/$row/stdout.log" | tail -n 1 | head -c 200)"; return 1
    fi
}

# fail_rows REASON ROW...: marks rows that cannot run.
fail_rows() {
    local reason="$1" row; shift
    for row in "$@"; do [[ -n "${R[$row.failed]:-}" ]] || R[$row.failed]="$reason"; done
}

# start_tollgate NAME CONFIG PORT: starts Tollgate with bench/CONFIG (the stub's port substituted) in
# $WORK/NAME; sets TG_PID. On failure sets TG_ERR to the reason and returns 1.
TG_PID=""
TG_ERR=""
start_tollgate() {
    local name="$1" config="$2" port="$3" started=0
    TG_PID=""; TG_ERR=""
    mkdir -p "$WORK/$name"
    sed "s/127\.0\.0\.1:18081/127.0.0.1:$STUB_PORT/" "$BENCH/$config" >"$WORK/$name/$config"
    START_WAIT=60 start_server "$name" "$port" dotnet "$TOLLGATE_DLL" --config "$WORK/$name/$config" --urls "http://127.0.0.1:$port" \
        || started=$?
    TG_PID="$SERVER_PID"
    if [[ "$started" != 0 ]]; then TG_ERR="${R[$name.failed]}"; return 1; fi
    log "$name: started on 127.0.0.1:$port (pid $TG_PID) with $config"
}

# mint_key PORT JSON: POST /admin/keys; prints "ID KEY", or the problem on stdout and returns 1.
mint_key() {
    local out code idkey
    out="$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "http://127.0.0.1:$1/admin/keys" \
        -H "Authorization: Bearer $TOLLGATE_MASTER_KEY" -H 'content-type: application/json' -d "$2")"
    code="$(tail -n 1 <<<"$out")"; out="$(sed '$d' <<<"$out")"
    idkey="$(node -e 'try { const j = JSON.parse(process.argv[1]); if (typeof j.key === "string" && j.key) console.log(`${j.id} ${j.key}`); } catch {}' "$out")"
    if [[ -z "$idkey" ]]; then
        echo "could not mint a virtual key (POST /admin/keys: HTTP $code${out:+ $(head -c 150 <<<"$out")})"
        return 1
    fi
    echo "$idkey"
}

# after_load NAME PORT KEY_ID: logs the ledger queue depth and the key's record (spend, limits).
after_load() {
    log "$1: readiness after the load: $(curl -s --max-time 5 "http://127.0.0.1:$2/health/readiness")"
    [[ -n "${3:-}" ]] && log "$1: key after the load: $(curl -s --max-time 5 "http://127.0.0.1:$2/admin/keys/$3" -H "Authorization: Bearer $TOLLGATE_MASTER_KEY" | head -c 600)"
    return 0
}

export TOLLGATE_MASTER_KEY="bench-master-$RANDOM$RANDOM$RANDOM"
# Limits that are never reached but are checked on every request: an rpm window and a budget hold.
LIMITED_KEY_JSON='{"alias":"bench","rpm":1000000000,"max_budget":1000000,"budget_period":"30d"}'
LIMITED_KEY_JSON_SQLITE='{"alias":"bench-limits","rpm":1000000000,"max_budget":1000000,"budget_period":"30d"}'

# (a) direct, both stub routes
measure direct "http://127.0.0.1:$STUB_PORT/v1/chat/completions" "$STUB_PID" chat "$MARK" "$BODY_CHAT"
measure direct_messages "http://127.0.0.1:$STUB_PORT/v1/messages" "$STUB_PID" messages "$MARK_ANTHROPIC" "$BODY_MESSAGES" \
    "x-api-key: sk-bench-unused" "anthropic-version: 2023-06-01"
# (b) nginx proxy_pass
measure nginx "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$PROXY_PID" chat "$MARK" "$BODY_CHAT"

# (b2) the minimal .NET pass-through: the floor a .NET gateway starts from, for telling the runtime's cost from Tollgate's.
passthrough_row() {
    [[ "$PASSTHROUGH_BUILT" == 1 ]] || { R[passthrough.failed]="Release build failed"; return 1; }
    start_server passthrough "$PASSTHROUGH_PORT" env UPSTREAM="http://127.0.0.1:$STUB_PORT/v1/chat/completions" \
        dotnet "$PASSTHROUGH_DLL" --urls "http://127.0.0.1:$PASSTHROUGH_PORT" || return 1
    measure passthrough "http://127.0.0.1:$PASSTHROUGH_PORT/v1/chat/completions" "$SERVER_PID" chat "$MARK" "$BODY_CHAT" || return 1
    # Kept running (idle) for the paired rounds with Tollgate, stopped after them.
    PASSTHROUGH_PID="$SERVER_PID"
}
PASSTHROUGH_PID=""
passthrough_row || true
# (b3) nginx with its upstream defaults, for reference. nginx needs no JIT warm-up.
WARMUP=5 measure nginx_default "http://127.0.0.1:$PROXY_DEFAULT_PORT/v1/chat/completions" "$PROXY_DEFAULT_PID" chat "$MARK" "$BODY_CHAT"

# (c) Tollgate with the SQLite default: four rows on one instance (RSS is read after each, so it is
# cumulative over that instance's rows).
tollgate_rows() {
    local rows=(tollgate tollgate_messages tollgate_translated tollgate_limits) out id key lid lkey
    local base="http://127.0.0.1:$TOLLGATE_PORT"
    [[ "$TOLLGATE_BUILT" == 1 ]] || { fail_rows "Release build failed" "${rows[@]}"; return 1; }
    start_tollgate tollgate tollgate.bench.yaml "$TOLLGATE_PORT" || { fail_rows "$TG_ERR" "${rows[@]}"; return 1; }
    out="$(mint_key "$TOLLGATE_PORT" '{"alias":"bench"}')" || { log "tollgate: $out"; fail_rows "$out" "${rows[@]}"; return 1; }
    read -r id key <<<"$out"
    out="$(mint_key "$TOLLGATE_PORT" "$LIMITED_KEY_JSON_SQLITE")" || { log "tollgate: $out"; fail_rows "$out" tollgate_limits; }
    read -r lid lkey <<<"$out"
    log "tollgate: virtual keys minted (plain, and limited: rpm + 30d budget)"
    measure tollgate "$base/v1/chat/completions" "$TG_PID" chat "$MARK" "$BODY_CHAT" "Authorization: Bearer $key"
    measure tollgate_messages "$base/v1/messages" "$TG_PID" messages "$MARK_ANTHROPIC" "$BODY_MESSAGES" \
        "x-api-key: $key" "anthropic-version: 2023-06-01"
    measure tollgate_translated "$base/v1/chat/completions" "$TG_PID" chat "$MARK_ANTHROPIC" "$BODY_TRANSLATED" \
        "Authorization: Bearer $key"
    after_load tollgate "$TOLLGATE_PORT" "$id"
    if [[ -n "${lkey:-}" ]]; then
        measure tollgate_limits "$base/v1/chat/completions" "$TG_PID" chat "$MARK" "$BODY_CHAT" "Authorization: Bearer $lkey"
        after_load tollgate "$TOLLGATE_PORT" "$lid"
    fi
    if ok tollgate; then
        local targets=("nginx|http://127.0.0.1:$PROXY_PORT/v1/chat/completions|")
        [[ -n "$PASSTHROUGH_PID" ]] && targets+=("passthrough|http://127.0.0.1:$PASSTHROUGH_PORT/v1/chat/completions|")
        targets+=("tollgate|$base/v1/chat/completions|Authorization: Bearer $key")
        paired sqlite "${targets[@]}"
        # The same comparison with the long answer: both must relay it whole, and Tollgate must read its usage.
        if check_one tollgate_long "$base/v1/chat/completions" chat "$MARK (long answer)" "$BODY_LONG" "Authorization: Bearer $key" \
            && check_one nginx_long "http://127.0.0.1:$PROXY_PORT/long/v1/chat/completions" chat "$MARK (long answer)" "$BODY_CHAT"; then
            paired long "nginx|http://127.0.0.1:$PROXY_PORT/long/v1/chat/completions|" \
                "tollgate|$base/v1/chat/completions|Authorization: Bearer $key|$BODY_LONG"
        fi
    fi
}
tollgate_rows || true
stop_pid "$PASSTHROUGH_PID"; PASSTHROUGH_PID=""
# Stop each Tollgate before the next one runs, so it does not hold memory or CPU during later rows.
stop_pid "$TG_PID"; TG_PID=""

# (d) Tollgate on PostgreSQL + Redis, with a limited key. The nginx reference is measured again right before it:
# this row runs minutes after the first nginx row, and on a shared machine the load moves in between.
# nginx needs no JIT warm-up; the assignment holds for this one call only.
WARMUP=5 measure nginx_pg "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$PROXY_PID" chat "$MARK" "$BODY_CHAT"
tollgate_pg_row() {
    local out id key
    [[ "$TOLLGATE_BUILT" == 1 ]] || { fail_rows "Release build failed" tollgate_pg; return 1; }
    [[ -z "$PGR_FAILED" ]] || { fail_rows "$PGR_FAILED" tollgate_pg; return 1; }
    export TG_BENCH_PG="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=$PG_PASSWORD;Database=postgres"
    export TG_BENCH_REDIS="127.0.0.1:$REDIS_PORT"
    start_tollgate tollgate-pg tollgate.bench.pg.yaml "$TOLLGATE_PG_PORT" || { fail_rows "$TG_ERR" tollgate_pg; return 1; }
    out="$(mint_key "$TOLLGATE_PG_PORT" "$LIMITED_KEY_JSON")" || { log "tollgate-pg: $out"; fail_rows "$out" tollgate_pg; return 1; }
    read -r id key <<<"$out"
    log "tollgate-pg: limited virtual key minted (rpm + 30d budget)"
    measure tollgate_pg "http://127.0.0.1:$TOLLGATE_PG_PORT/v1/chat/completions" "$TG_PID" chat "$MARK" "$BODY_CHAT" \
        "Authorization: Bearer $key"
    after_load tollgate-pg "$TOLLGATE_PG_PORT" "$id"
    ok tollgate_pg && paired pg "nginx|http://127.0.0.1:$PROXY_PORT/v1/chat/completions|" \
        "tollgate_pg|http://127.0.0.1:$TOLLGATE_PG_PORT/v1/chat/completions|Authorization: Bearer $key"
    log "tollgate-pg: redis keys: $(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" dbsize 2>&1), used_memory: $(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info memory 2>/dev/null | sed -n 's/^used_memory_human:\(.*\)\r\?$/\1/p' | tr -d '\r')"
}
tollgate_pg_row || true
stop_pid "$TG_PID"; TG_PID=""
stop_pid "$REDIS_PID"
stop_pg

# (e) Portkey
portkey_row() {
    local pid
    [[ -f "$PORTKEY_JS" ]] || { R[portkey.failed]="$PORTKEY_JS missing"; return 1; }
    start_server portkey "$PORTKEY_PORT" env BENCH_BIND_HOST=127.0.0.1 \
        node -r "$BENCH/loopback.cjs" "$PORTKEY_JS" --port="$PORTKEY_PORT" --headless || return 1
    pid="$SERVER_PID"
    if ss -Hltn "sport = :$PORTKEY_PORT" 2>/dev/null | grep -qv '127.0.0.1:'; then
        R[portkey.failed]="listens beyond 127.0.0.1"; return 1
    fi
    log "portkey: started on 127.0.0.1:$PORTKEY_PORT (pid $pid)"
    measure portkey "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" "$pid" chat "$MARK" "$BODY_CHAT" \
        "x-portkey-provider: openai" "x-portkey-custom-host: http://127.0.0.1:$STUB_PORT/v1" "Authorization: Bearer sk-bench-unused"
}
portkey_row || true
R[stub.rss]="$(rss_tree_kb "$STUB_PID")"

# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f MB", k / 1024 }'; }
ratio() { awk -v a="${R[$1.rps]}" -v b="${R[$2.rps]}" -v f="${3:-%.2f}" 'BEGIN { printf f, a / b }'; }
p50_diff() { awk -v a="${R[$1.p50]}" -v b="${R[$2.p50]}" 'BEGIN { printf "%.3f", (a - b) / 1000 }'; }
p50_delta() { awk -v a="${R[$1.p50]}" -v b="${R[$2.p50]}" 'BEGIN { printf "%+.3f", (a - b) / 1000 }'; } # signed

TABLE="$WORK/table.md"
TOTAL_ERR=$(( ${P[sqlite.errors]:-0} + ${P[long.errors]:-0} + ${P[pg.errors]:-0} )); FAILED_ROWS=""
for row in "${ROWS[@]}"; do
    if ok "$row"; then TOTAL_ERR=$(( TOTAL_ERR + R[$row.errors] )); else FAILED_ROWS+=" ${LABEL[$row]};"; fi
done
{
    echo "| target | req/s @${CONNS} conns | p50 @1 conn | p99 @1 conn | failed requests | RSS after load |"
    echo "|---|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        if ok "$row"; then
            rss="${R[$row.rss]:-}"
            case "$row" in
                direct|direct_messages) rss_s="$(mb "${R[stub.rss]}") (stub nginx)";;
                nginx|nginx_pg|nginx_default) rss_s="$(mb "$rss") (master + workers)";;
                *) rss_s="$(mb "$rss")";;
            esac
            err_s="${R[$row.errors]} of $(( R[$row.req_tput] + R[$row.req_lat] ))"
            [[ "${R[$row.errors]}" != 0 ]] && err_s="**${err_s}**"
            printf '| %s | %s | %s ms | %s ms | %s | %s |\n' "${LABEL[$row]}" "${R[$row.rps]}" \
                "$(ms "${R[$row.p50]}")" "$(ms "${R[$row.p99]}")" "$err_s" "$rss_s"
        else
            printf '| %s | FAILED: %s | | | | |\n' "${LABEL[$row]}" "$(printf '%s' "${R[$row.failed]:-no result}" | tr '|\n' '/ ')"
        fi
    done
    echo
    if ok tollgate && ok nginx; then
        echo "- Tollgate / nginx proxy_pass throughput: **$(ratio tollgate nginx)×** (target ≥ 0.5×)"
    else
        echo "- Tollgate / nginx proxy_pass throughput: n/a (a row failed)"
    fi
    if [[ -n "${P[sqlite.ok]:-}" ]]; then
        echo "- **Paired** (alternating ${PAIR_SECONDS} s runs, median of ${PAIR_ROUNDS} rounds): Tollgate / nginx proxy_pass **$(paired_ratio sqlite nginx tollgate)**"
        if paired_has sqlite passthrough; then
            echo "  - pass-through / nginx $(paired_ratio sqlite nginx passthrough); Tollgate / pass-through $(paired_ratio sqlite passthrough tollgate)"
        fi
    fi
    if [[ -n "${P[long.ok]:-}" ]]; then
        echo "- With a long answer ($(awk -v n="${#STUB_LONG_JSON}" 'BEGIN { printf "%.1f", n / 1024 }') KB, 700 completion tokens), paired the same way: Tollgate / nginx proxy_pass $(paired_ratio long nginx tollgate) (for context: the target is measured with the short answer above)"
    fi
    if ok passthrough && ok nginx; then
        echo "- Minimal .NET pass-through / nginx proxy_pass throughput: $(ratio passthrough nginx)× (the runtime's floor on this machine; the issue assumed about 0.9×)"
    fi
    if ok tollgate && ok passthrough; then
        echo "- Tollgate / minimal .NET pass-through throughput: $(ratio tollgate passthrough)× (what keys, routing, the ledger, usage and metrics cost, less what Tollgate's own HTTP/1.1 client saves against SocketsHttpHandler)"
    fi
    if ok tollgate && ok nginx_default; then
        echo "- For reference, Tollgate / nginx proxy_pass with upstream defaults (no keepalive to the stub): $(ratio tollgate nginx_default)× (not the target's reference)"
    fi
    if ok tollgate && ok portkey; then
        echo "- Tollgate / Portkey throughput: **$(ratio tollgate portkey %.1f)×** (target ≥ 10×)"
    else
        echo "- Tollgate / Portkey throughput: n/a (a row failed)"
    fi
    if ok tollgate && ok direct; then
        echo "- Tollgate added p50 latency (Tollgate p50 − direct p50, 1 connection): **$(p50_diff tollgate direct) ms** (target ≤ 0.2 ms)"
    else
        echo "- Tollgate added p50 latency: n/a (a row failed)"
    fi
    if ok nginx && ok direct; then
        echo "- nginx proxy_pass added p50 latency, for reference: $(p50_diff nginx direct) ms"
    fi
    if ok tollgate_messages && ok direct_messages; then
        echo "- Anthropic pass-through added p50 latency (Tollgate /v1/messages p50 − direct /v1/messages p50): **$(p50_diff tollgate_messages direct_messages) ms**"
    else
        echo "- Anthropic pass-through added p50 latency: n/a (a row failed)"
    fi
    if ok tollgate_translated && ok tollgate_messages; then
        echo "- Translation overhead (OpenAI → Anthropic translated vs Anthropic → Anthropic pass-through, same stub answer): p50 **$(p50_delta tollgate_translated tollgate_messages) ms**, throughput **$(ratio tollgate_translated tollgate_messages)×** of pass-through"
    else
        echo "- Translation overhead: n/a (a row failed)"
    fi
    if ok tollgate_limits && ok tollgate; then
        echo "- Limits in memory (rpm + budget hold on the key) vs no limits, both SQLite: throughput **$(ratio tollgate_limits tollgate)×**, p50 $(p50_delta tollgate_limits tollgate) ms"
    else
        echo "- Limits in memory vs no limits: n/a (a row failed)"
    fi
    if ok tollgate_pg && ok nginx_pg; then
        echo "- Tollgate PostgreSQL + Redis limits / nginx proxy_pass throughput (the nginx run right before it): **$(ratio tollgate_pg nginx_pg)×** (target ≥ 0.4×); against the first nginx row: $(ratio tollgate_pg nginx)×"
    elif ok tollgate_pg && ok nginx; then
        echo "- Tollgate PostgreSQL + Redis limits / nginx proxy_pass throughput: **$(ratio tollgate_pg nginx)×** (target ≥ 0.4×)"
    else
        echo "- Tollgate PostgreSQL + Redis limits / nginx proxy_pass throughput: n/a (a row failed)"
    fi
    if [[ -n "${P[pg.ok]:-}" ]]; then
        echo "- **Paired** (alternating ${PAIR_SECONDS} s runs, median of ${PAIR_ROUNDS} rounds): PostgreSQL + Redis limits / nginx proxy_pass **$(paired_ratio pg nginx tollgate_pg)**"
    fi
    if ok tollgate_pg && ok tollgate_limits; then
        echo "- PostgreSQL + Redis vs SQLite + in-memory limits (same limited key): throughput **$(ratio tollgate_pg tollgate_limits)×**, p50 $(p50_delta tollgate_pg tollgate_limits) ms"
    fi
    if [[ $TOTAL_ERR -eq 0 ]]; then
        echo "- Failed requests across measured rows: 0${FAILED_ROWS:+; rows that did not run:${FAILED_ROWS%;}}"
    else
        echo "- **Failed requests across measured rows: ${TOTAL_ERR}**${FAILED_ROWS:+; rows that did not run:${FAILED_ROWS%;}}"
    fi
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
    echo "- Software: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}'), node $(node --version), .NET $(dotnet --version), @portkey-ai/gateway $(node -p 'require(process.argv[1]).version' "$TOOLS/node_modules/@portkey-ai/gateway/package.json" 2>/dev/null), PostgreSQL $([[ -x "$PG_BIN/postgres" ]] && "$PG_BIN/postgres" --version | awk '{print $3}' || echo n/a) (fsync off), Redis $(command -v redis-server >/dev/null && redis-server --version | awk '{print $3}' | sed 's/^v=//' || echo n/a) (no persistence)"
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

# Say it loudly: failed requests or rows that did not run.
if [[ $TOTAL_ERR -ne 0 ]]; then
    for row in "${ROWS[@]}"; do
        ok "$row" && [[ "${R[$row.errors]}" != 0 ]] && log "FAILED REQUESTS: ${LABEL[$row]}: ${R[$row.errors]} (throughput ${R[$row.err_tput]}, latency ${R[$row.err_lat]})"
    done
    log "*** ${TOTAL_ERR} requests failed (non-2xx, socket errors or timeouts); see above ***"
fi
for row in "${ROWS[@]}"; do
    ok "$row" || log "*** ROW DID NOT RUN: ${LABEL[$row]}: ${R[$row.failed]:-no result} ***"
done
[[ $TOTAL_ERR -eq 0 && -z "$FAILED_ROWS" ]] && log "all rows ran; no request failed"
exit 0
