#!/usr/bin/env bash
# Tollgate's test command: ./test.sh
#
# Works on a fresh Debian machine (as root, CI=true, no stdin) and is rerunnable on a dev machine.
#   1. installs postgresql and redis-server from apt when they are missing, and the pinned npm
#      tools in tests/tools (npm ci, skipped when node_modules already matches the lockfile);
#   2. starts a private PostgreSQL cluster and a private redis-server on 127.0.0.1, on free ports,
#      in a temp dir; both are stopped on exit, failure or Ctrl-C;
#   3. builds Tollgate.slnx and runs every test project (xunit.v3 on Microsoft.Testing.Platform);
#   4. prints the failed tests and, as the very last line, "N passed, N failed, N skipped".
# Exit status: 0 only if the build succeeded, at least one test ran and none failed.
#
# Exported to the tests:
#   TOLLGATE_TEST_PG        Npgsql connection string for a superuser (password auth over TCP)
#   TOLLGATE_TEST_PG_BIN    folder holding pg_ctl, postgres, psql, ...
#   TOLLGATE_TEST_PG_DATA   the cluster's data directory
#   TOLLGATE_TEST_PG_OSUSER OS user that owns the cluster; when the tests run as root, pg_ctl must
#                           be run as this user, e.g. `runuser -u postgres -- $BIN/pg_ctl ...`
#   TOLLGATE_TEST_REDIS     127.0.0.1:PORT
#   TOLLGATE_TOOLS_DIR      absolute path of tests/tools (binaries in node_modules/.bin)
#
# Knobs: TEST_TIMEOUT_SECONDS (default 1020 = 17 min, the whole dotnet test run; a hard kill follows
# 60 s later), KEEP_TEST_TMP=1 keeps the temp dir.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DEBIAN_FRONTEND=noninteractive
TEST_TIMEOUT_SECONDS="${TEST_TIMEOUT_SECONDS:-1020}"

log() { printf '[test.sh] %s\n' "$*"; }
# Setup failure: say why, still end with the summary line, exit non-zero.
die() {
    printf '[test.sh] ERROR: %s\n' "$*"
    echo "0 passed, 0 failed, 0 skipped"
    exit 1
}

TMP_ROOT=""
PG_BIN=""
PG_DATA=""
REDIS_PID=""
TEST_PIDS=()
AS_PG=()

cleanup() {
    # Silent on stdout: the summary line must stay the last line printed.
    local pid
    for pid in "${TEST_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
    if [[ -n "$PG_DATA" && -f "$PG_DATA/postmaster.pid" ]]; then
        "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
    fi
    if [[ -n "$REDIS_PID" ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill "$REDIS_PID" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$REDIS_PID" 2>/dev/null || true
    fi
    if [[ -n "$TMP_ROOT" && -d "$TMP_ROOT" && "${KEEP_TEST_TMP:-0}" != "1" ]]; then
        rm -rf "$TMP_ROOT"
    fi
}
trap cleanup EXIT
trap 'echo "[test.sh] interrupted"; exit 130' INT TERM HUP

# ---------------------------------------------------------------------------------------------
# 1. Prerequisites
# ---------------------------------------------------------------------------------------------
command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is not on PATH"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm (node >= 20) are required"

find_pg_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
    if command -v pg_ctl >/dev/null; then dirname "$(readlink -f "$(command -v pg_ctl)")"; fi
}

PG_BIN="$(find_pg_bin)"
if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]] || ! command -v redis-server >/dev/null; then
    log "installing postgresql and redis-server from apt"
    SUDO=()
    [[ $EUID -ne 0 ]] && SUDO=(sudo -n)
    { "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q --no-install-recommends postgresql redis-server; } \
        </dev/null || die "apt-get install postgresql redis-server failed"
    PG_BIN="$(find_pg_bin)"
    [[ -n "$PG_BIN" && -x "$PG_BIN/initdb" ]] || die "postgresql installed but initdb not found"
    command -v redis-server >/dev/null || die "redis-server installed but not on PATH"
fi
log "postgres: $PG_BIN; redis: $(command -v redis-server)"

TOOLS_DIR="$ROOT/tests/tools"
tools_stamp() { { cat "$TOOLS_DIR/package.json" "$TOOLS_DIR/package-lock.json"; node --version; } | sha256sum | cut -d' ' -f1; }
STAMP_FILE="$TOOLS_DIR/node_modules/.tollgate-npm-ci.stamp"
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$(tools_stamp)" && -x "$TOOLS_DIR/node_modules/.bin/aimock" ]]; then
    log "npm tools up to date (tests/tools/node_modules)"
else
    log "npm ci in tests/tools"
    # claude-code's postinstall (allowed in package.json "allowScripts") links its native binary
    # from the platform package; it downloads nothing.
    (cd "$TOOLS_DIR" && npm ci --no-audit --no-fund --loglevel=error </dev/null) || die "npm ci in tests/tools failed"
    tools_stamp >"$STAMP_FILE"
fi
export TOLLGATE_TOOLS_DIR="$TOOLS_DIR"

# ---------------------------------------------------------------------------------------------
# 2. Private PostgreSQL and Redis on 127.0.0.1
# ---------------------------------------------------------------------------------------------
free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

TMP_ROOT="$(mktemp -d /tmp/tollgate-test.XXXXXX)" || die "mktemp failed"
chmod 755 "$TMP_ROOT"
PG_DATA="$TMP_ROOT/pg/data"
PG_SOCK="$TMP_ROOT/pg/sock"
PG_PASSWORD="tollgate-test-$RANDOM$RANDOM"
mkdir -p "$PG_DATA" "$PG_SOCK"
printf '%s\n' "$PG_PASSWORD" >"$TMP_ROOT/pg/pwfile"
if [[ $EUID -eq 0 ]]; then
    # initdb and postgres refuse to run as root.
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (is the postgresql package installed?)"
    chown -R postgres: "$TMP_ROOT/pg"
    AS_PG=(runuser -u postgres --)
    export TOLLGATE_TEST_PG_OSUSER=postgres
else
    export TOLLGATE_TEST_PG_OSUSER="$(id -un)"
fi
chmod 700 "$PG_DATA"

PG_PORT="$(free_port)" || die "no free port"
log "initdb in $PG_DATA"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$TMP_ROOT/pg/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
    >"$TMP_ROOT/pg/initdb.log" 2>&1 || { cat "$TMP_ROOT/pg/initdb.log"; die "initdb failed"; }
rm -f "$TMP_ROOT/pg/pwfile"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$TMP_ROOT/pg/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_SOCK -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null 2>&1 || { cat "$TMP_ROOT/pg/server.log" 2>/dev/null; die "PostgreSQL did not start"; }
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 10 || die "PostgreSQL is not accepting connections on 127.0.0.1:$PG_PORT"
log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"

REDIS_PORT="$(free_port)" || die "no free port"
mkdir -p "$TMP_ROOT/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP_ROOT/redis" \
    --daemonize no --protected-mode yes --logfile "$TMP_ROOT/redis/redis.log" </dev/null >/dev/null 2>&1 &
REDIS_PID=$!
redis_up=0
for _ in $(seq 1 50); do
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then redis_up=1; break; fi
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.1
done
[[ $redis_up -eq 1 ]] || { cat "$TMP_ROOT/redis/redis.log" 2>/dev/null; die "redis-server did not start"; }
log "redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT"

export TOLLGATE_TEST_PG="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=$PG_PASSWORD;Database=postgres"
export TOLLGATE_TEST_PG_BIN="$PG_BIN"
export TOLLGATE_TEST_PG_DATA="$PG_DATA"
export TOLLGATE_TEST_REDIS="127.0.0.1:$REDIS_PORT"

# ---------------------------------------------------------------------------------------------
# 3. Build, then run every test module
# ---------------------------------------------------------------------------------------------
BUILD_FLAGS=(-nologo -v minimal)
# On CI, leave no MSBuild/Roslyn server processes behind.
[[ "${CI:-}" == "true" || "${CI:-}" == "1" ]] && BUILD_FLAGS+=(--disable-build-servers)
log "dotnet build Tollgate.slnx"
if ! dotnet build Tollgate.slnx "${BUILD_FLAGS[@]}" </dev/null; then
    echo "[test.sh] BUILD FAILED"
    echo "0 passed, 0 failed, 0 skipped"
    exit 1
fi

RESULTS="$ROOT/TestResults/last-run"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
log "dotnet test, one run per test project in parallel (timeout ${TEST_TIMEOUT_SECONDS}s)"
# One `dotnet test --project` per test project, all at once, each naming its own report files: with one run
# over the solution, the modules' default report names (user, machine and a timestamp) can coincide when they
# start in the same instant, and one report then overwrites the other (it happened).
# --ignore-exit-code 8: a module with zero tests is fine; the total is checked below.
# --report-ctrf: one JSON report per module (xunit.v3), summed by tests/tools/ctrf-summary.mjs.
# Runs in the background and `wait`s, so that Ctrl-C/TERM reach our trap at once. `timeout` puts each run
# in its own process group and, when signalled, passes the signal on to that whole group.
PROJECTS=(tests/Tollgate.Tests tests/Tollgate.IntegrationTests)
for project in "${PROJECTS[@]}"; do
    name="$(basename "$project")"
    timeout -k 15s "$((TEST_TIMEOUT_SECONDS + 60))s" dotnet test --project "$project" --no-build \
        --results-directory "$RESULTS" --report-ctrf --report-ctrf-filename "$name.ctrf" \
        --report-xunit-trx --report-xunit-trx-filename "$name.trx" \
        --ignore-exit-code 8 --no-progress --timeout "${TEST_TIMEOUT_SECONDS}s" </dev/null > >(tee "$RESULTS/console-$name.log") 2>&1 &
    TEST_PIDS+=($!)
done
TEST_RC=0
for pid in "${TEST_PIDS[@]}"; do
    wait "$pid"
    rc=$?
    [[ $rc -eq 124 || $rc -eq 137 ]] && echo "[test.sh] dotnet test was killed after $((TEST_TIMEOUT_SECONDS + 60))s"
    [[ $rc -ne 0 ]] && TEST_RC=$rc
done
TEST_PIDS=()
sleep 0.2 # let tee drain
cat "$RESULTS"/console-*.log > "$RESULTS/console.log"

mapfile -t MODULES < <(sed -n 's/^Running tests from \(.*\.dll\) (.*/\1/p' "$RESULTS/console.log" | sort -u)
SUMMARY="$(node "$TOOLS_DIR/ctrf-summary.mjs" "$RESULTS" "${MODULES[@]}")"
SUMMARY_RC=$?
LINE="$(printf '%s\n' "$SUMMARY" | tail -n 1)"
printf '%s\n' "$SUMMARY" | sed '$d'

RC=0
if [[ $SUMMARY_RC -ne 0 ]]; then
    RC=1
    [[ "$LINE" == 0\ passed,\ 0\ failed,\ 0\ skipped ]] && echo "[test.sh] no tests ran"
fi
if [[ $TEST_RC -ne 0 ]]; then
    echo "[test.sh] dotnet test exited with code $TEST_RC"
    RC=1
fi
echo "$LINE"
exit $RC
