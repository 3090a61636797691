#!/usr/bin/env bash
# Load benchmark of the request path, as ratios to a bare reference measured in the same
# run: the bare stack (axum + rustls, fixed JSON; examples/bare_reference.rs), then
# thinnest's liveness, readiness, an authenticated request answered without a listing,
# and an authenticated GET /agents, on SQLite, on PostgreSQL, and on PostgreSQL with the
# limiter in Redis; over keep-alive HTTPS on 127.0.0.1, server CPU per request read from
# /proc. Then rate-limit decisions per second in process and through Redis.
# See bench/README.md. Usage: bench/run.sh   (settings: the BENCH_* variables below)
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

PORT="${BENCH_PORT:-18443}"              # first port to try; the next free one is used
DURATION="${BENCH_DURATION:-5}"          # seconds per measured run
THREADS="${BENCH_THREADS:-2}"            # wrk threads
CONNECTIONS="${BENCH_CONNECTIONS:-32}"   # wrk keep-alive connections
WARMUP="${BENCH_WARMUP:-1}"              # seconds of unmeasured load before each run; 0 = none
ROUNDS="${BENCH_ROUNDS:-3}"              # rounds; each row's figures are the medians
AGENTS="${BENCH_AGENTS:-10}"             # agents created, so GET /agents returns this many
LIMITER_SECONDS="${BENCH_LIMITER_SECONDS:-3}"  # seconds per row of the limiter example
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"      # 1 = use the existing release binaries
BIN="${BENCH_BIN:-}"                     # another thinnest binary to measure (e.g. an older build)
LIVE_PATH="${BENCH_LIVE_PATH:-/health/live}"  # the liveness path (older builds: /health)

HOST=127.0.0.1                           # deliberately not configurable: local only
REDIS_URL="redis://127.0.0.1:6379"       # likewise
PG_ADMIN="postgres://postgres@127.0.0.1:5432/test"  # where the benchmark's database is made
# The limiter decides every request, under a limit the runs never reach (a refusal would
# void them).
HUGE_LIMIT=1000000000
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/target/release/thinnest}"
BARE="$ROOT/target/release/examples/bare_reference"
EXAMPLE="$ROOT/target/release/examples/limiter_decisions"
OUT_DIR="$ROOT/bench/out"

# die, log, and the servers' lifecycle (start_server, launch, stop_server, cleanup on exit).
source "$ROOT/bench/lib.sh"

for v in DURATION THREADS CONNECTIONS WARMUP ROUNDS AGENTS PORT LIMITER_SECONDS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, got '${!v}'"
done
(( DURATION > 0 && ROUNDS > 0 && THREADS > 0 && CONNECTIONS >= THREADS )) \
  || die "need BENCH_DURATION > 0, BENCH_ROUNDS > 0 and BENCH_CONNECTIONS >= BENCH_THREADS > 0"
(( LIMITER_SECONDS >= 1 && LIMITER_SECONDS <= 50 )) || die "BENCH_LIMITER_SECONDS must be 1..50"

# --- prerequisites ---------------------------------------------------------

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building the release binary and the examples"
  (cd "$ROOT" && cargo build --release -p thinnest --bin thinnest \
    --example limiter_decisions --example bare_reference)
fi
for b in "$BIN" "$BARE" "$EXAMPLE"; do
  [[ -x "$b" ]] || die "$b is missing (build it, or unset BENCH_SKIP_BUILD)"
done
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  SUDO=""; (( EUID == 0 )) || SUDO=sudo
  $SUDO apt-get install -y wrk || { $SUDO apt-get update && $SUDO apt-get install -y wrk; }
fi
command -v curl >/dev/null || die "curl is required"

HAVE_REDIS=0
if command -v redis-cli >/dev/null \
  && [[ "$(timeout 5 redis-cli -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]]; then
  HAVE_REDIS=1
fi
PG_DB=""
if command -v psql >/dev/null && timeout 5 psql -q "$PG_ADMIN" -c 'SELECT 1' >/dev/null 2>&1; then
  PG_DB="thinnest_bench_$$"
  psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB" >/dev/null
  # Dropped on exit, after the servers have stopped (cleanup runs the hooks last).
  CLEANUP_HOOKS+=("psql -q '$PG_ADMIN' -c 'DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)' >/dev/null")
fi

# --- servers and data ------------------------------------------------------------

declare -A KEYS
CONFIGS=(sqlite)
start_server sqlite --limit-agent-crud "$HUGE_LIMIT"
KEYS[sqlite]="$(seed sqlite --data-dir "$DATA_DIR")"
if [[ -n "$PG_DB" ]]; then
  PG_URL="postgres://postgres@127.0.0.1:5432/$PG_DB"
  CONFIGS+=(postgres)
  start_server postgres --database-url "$PG_URL" --limit-agent-crud "$HUGE_LIMIT"
  KEYS[postgres]="$(seed postgres --data-dir "$DATA_DIR" --database-url "$PG_URL")"
  if (( HAVE_REDIS )); then
    CONFIGS+=(postgres_redis)
    start_server postgres_redis --database-url "$PG_URL" --limit-agent-crud "$HUGE_LIMIT" \
      --redis-url "$REDIS_URL" --redis-prefix "thinnest-bench-$$"
    KEYS[postgres_redis]="${KEYS[postgres]}"
  fi
fi
next_port
BASES[bare]="https://$HOST:$NEXT_PORT"
launch bare "${BASES[bare]}/" "$BARE" --data-dir "$DATA_DIR" --listen "$HOST:$NEXT_PORT"

# --- measurement ---------------------------------------------------------------

CLK_TCK="$(getconf CLK_TCK)"
source "$ROOT/bench/measure.sh"

# Rows: name, server, expected status class, path, and whether it sends the key.
ROWS=("bare bare 2xx / no")
for c in "${CONFIGS[@]}"; do
  ROWS+=("$c:live $c 2xx $LIVE_PATH no" "$c:ready $c 2xx /health no"
    "$c:auth $c 4xx /agents/unknown yes" "$c:agents $c 2xx /agents yes")
done
for ((r = 1; r <= ROUNDS; r++)); do
  log "round $r of $ROUNDS"
  for row in "${ROWS[@]}"; do
    read -r name server expect path auth <<<"$row"
    args=()
    [[ "$auth" == no ]] || args=(-H "Authorization: Bearer ${KEYS[$server]}")
    run_load "$name" "$server" "$expect" "$path" "${args[@]}"
  done
done
for name in "${!PIDS[@]}"; do stop_server "$name"; done

# --- limiter decisions per second ---------------------------------------------------

limiter_args=(--seconds "$LIMITER_SECONDS")
(( HAVE_REDIS )) && limiter_args+=(--redis-url "$REDIS_URL")
log "measuring limiter decisions (${LIMITER_SECONDS}s per row)"
LIMITER_TABLE="$(timeout $((LIMITER_SECONDS * 4 + 60)) "$EXAMPLE" "${limiter_args[@]}")" \
  || die "the limiter_decisions example failed"

# --- report -------------------------------------------------------------------

source "$ROOT/bench/report.sh"
report | tee "$OUT_DIR/latest.txt"
