#!/usr/bin/env bash
# Instructions per request, counted by callgrind (repeatable where CPU time is noisy):
# the bare reference, then thinnest's liveness, an authenticated 404 and GET /agents (10
# agents) on SQLite, each as a ratio to the reference, and each server's most costly
# functions (inclusive) in bench/out/callgrind-NAME.txt. See bench/README.md.
# Usage: bench/callgrind.sh   (settings: the BENCH_* variables below)
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

PORT="${BENCH_PORT:-18443}"              # first port to try; the next free one is used
DURATION="${BENCH_DURATION:-10}"         # seconds of counted load per row
AGENTS="${BENCH_AGENTS:-10}"             # agents created, so GET /agents returns this many
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"      # 1 = use the existing release binaries
BIN="${BENCH_BIN:-}"                     # another thinnest binary to count (e.g. an older build)
HOST=127.0.0.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/target/release/thinnest}"
BARE="$ROOT/target/release/examples/bare_reference"
OUT_DIR="$ROOT/bench/out"
# Valgrind runs everything on one simulated core, many times slower: start-up takes longer.
LAUNCH_SECONDS=120

source "$ROOT/bench/lib.sh"

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be a positive whole number"
if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building the release binary and the reference"
  (cd "$ROOT" && cargo build --release -p thinnest --bin thinnest --example bare_reference)
fi
for tool in valgrind callgrind_control callgrind_annotate wrk curl; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install valgrind wrk curl)"
done
mkdir -p "$OUT_DIR"

# The account, its key and the agents, made through a server run without valgrind.
start_server seed
KEY="$(seed seed --data-dir "$DATA_DIR")"
stop_server seed

# count NAME PATH AUTH READY COMMAND...: runs COMMAND under callgrind with counting off,
# waits until READY answers 200, loads PATH for 2 s, counts DURATION s of load, and adds
# "NAME REQUESTS INSTRUCTIONS" to ROWS. Not in a subshell: the server must stay known to
# the cleanup on exit.
count() {
  local name="$1" path="$2" auth="$3" ready="$4"; shift 4
  local out="$OUT_DIR/callgrind-$name.out" args=() pid requests total
  rm -f "$out"*
  [[ "$auth" == no ]] || args=(-H "Authorization: Bearer $KEY")
  next_port
  BASES[$name]="https://$HOST:$NEXT_PORT"
  launch "$name" "${BASES[$name]}$ready" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out" "$@" --listen "$HOST:$NEXT_PORT"
  pid="${PIDS[$name]}"
  wrk -t1 -c4 -d2s "${args[@]}" "${BASES[$name]}$path" >/dev/null
  control -i on
  wrk -t1 -c4 -d"${DURATION}s" "${args[@]}" "${BASES[$name]}$path" >"$OUT_DIR/callgrind-wrk-$name.txt"
  control -i off
  control -d
  stop_server "$name"
  requests="$(grep -o '[0-9]* requests in' "$OUT_DIR/callgrind-wrk-$name.txt" | cut -d' ' -f1 || true)"
  [[ -f "$out.1" && -n "$requests" ]] || die "no count for $name"
  callgrind_annotate --inclusive=yes "$out.1" >"$OUT_DIR/callgrind-$name.txt" 2>/dev/null \
    || die "callgrind_annotate failed for $name"
  total="$(grep -m1 'PROGRAM TOTALS' "$OUT_DIR/callgrind-$name.txt" | tr -d , | awk '{print $1}' || true)"
  [[ -n "$total" ]] || die "no instruction total for $name"
  ROWS+=("$name $requests $total")
}

# control ARGS...: callgrind_control on the current server (its chatter hidden, not its failure).
control() {
  local said
  said="$(callgrind_control "$@" "$pid" 2>&1)" || die "callgrind_control $* failed: $said"
}

SERVE=("$BIN" serve --data-dir "$DATA_DIR" --http-listen off --limit-agent-crud 1000000000)
ROWS=()
LIVE=/health/live
count bare / no / "$BARE" --data-dir "$DATA_DIR"
count liveness $LIVE no $LIVE "${SERVE[@]}"
count authenticated /agents/unknown yes $LIVE "${SERVE[@]}"
count agents /agents yes $LIVE "${SERVE[@]}"

{
  echo "instructions per request (callgrind, SQLite, wrk -t1 -c4 over keep-alive HTTPS)"
  printf '%-14s %10s %14s %8s\n' row requests instr/request ratio
  base=""
  for row in "${ROWS[@]}"; do
    read -r name requests total <<<"$row"
    per=$((total / requests))
    base="${base:-$per}"
    printf '%-14s %10d %14d %7.2fx\n' "$name" "$requests" "$per" \
      "$(awk -v a="$per" -v b="$base" 'BEGIN { print a / b }')"
  done
  echo "profiles (inclusive, whole run): bench/out/callgrind-NAME.txt"
} | tee "$OUT_DIR/callgrind-latest.txt"
