#!/usr/bin/env bash
# Load benchmark: unauthenticated GET /health vs authenticated GET /agents,
# over keep-alive HTTPS on 127.0.0.1, measuring the server's CPU time per request.
# See bench/README.md. Usage: bench/run.sh   (settings: the BENCH_* variables below)
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

PORT="${BENCH_PORT:-18443}"              # first port to try; the next free one is used
DURATION="${BENCH_DURATION:-10}"         # seconds per measured run
THREADS="${BENCH_THREADS:-1}"            # wrk threads
CONNECTIONS="${BENCH_CONNECTIONS:-16}"   # wrk keep-alive connections
WARMUP="${BENCH_WARMUP:-2}"              # seconds of unmeasured load before each run; 0 = none
AGENTS="${BENCH_AGENTS:-10}"             # agents created, so GET /agents returns this many
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"      # 1 = use the existing target/release/thinnest

HOST=127.0.0.1                           # deliberately not configurable: local only
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/thinnest"
OUT_DIR="$ROOT/bench/out"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for v in DURATION THREADS CONNECTIONS WARMUP AGENTS PORT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, got '${!v}'"
done
(( DURATION > 0 && THREADS > 0 && CONNECTIONS >= THREADS )) \
  || die "need BENCH_DURATION > 0 and BENCH_CONNECTIONS >= BENCH_THREADS > 0"

# --- prerequisites ---------------------------------------------------------

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building the release binary"
  (cd "$ROOT" && cargo build --release -p thinnest)
fi
[[ -x "$BIN" ]] || die "$BIN is missing (build it, or unset BENCH_SKIP_BUILD)"

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  SUDO=""; (( EUID == 0 )) || SUDO=sudo
  $SUDO apt-get install -y wrk || { $SUDO apt-get update && $SUDO apt-get install -y wrk; }
fi
command -v curl >/dev/null || die "curl is required"

# --- server lifecycle --------------------------------------------------------

DATA_DIR="$(mktemp -d -t thinnest-bench.XXXXXX)"
SERVER_PID=""

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    local i
    for ((i = 0; i < 60; i++)); do            # up to 15 s for a graceful stop
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server did not stop after SIGTERM; sending SIGKILL"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  local rc=$?
  stop_server
  if (( rc != 0 )) && [[ -f "$DATA_DIR/server.log" ]]; then
    log "failed; last lines of the server log:"
    tail -n 20 "$DATA_DIR/server.log" >&2 || true
  fi
  rm -rf "$DATA_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

for ((p = PORT; p < PORT + 50; p++)); do
  port_in_use "$p" || break
done
(( p < PORT + 50 )) || die "no free port in $PORT..$((PORT + 49))"
PORT="$p"
BASE="https://$HOST:$PORT"
CA="$DATA_DIR/tls/ca.pem"

log "starting the server on $BASE (data in $DATA_DIR)"
"$BIN" serve --data-dir "$DATA_DIR" --listen "$HOST:$PORT" --http-listen off \
  >"$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + 30))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CA" "$BASE/health" 2>/dev/null)" == 200 ]]; do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
  (( SECONDS < deadline )) || die "the server did not answer /health with 200 within 30 s"
  sleep 0.2
done

KEY="$(timeout 30 "$BIN" bootstrap --data-dir "$DATA_DIR" --email bench@example.com | tail -n 1)"
[[ -n "$KEY" ]] || die "bootstrap printed no API key"

for ((i = 1; i <= AGENTS; i++)); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CA" \
    -X POST "$BASE/agents" -H "Authorization: Bearer $KEY" \
    -H 'content-type: application/json' -d "{\"name\":\"bench $i\"}")"
  [[ "$code" == 2?? ]] || die "creating agent $i answered HTTP $code"
done
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CA" \
  "$BASE/agents" -H "Authorization: Bearer $KEY")"
[[ "$code" == 200 ]] || die "GET /agents with the key answered HTTP $code"

# --- measurement ---------------------------------------------------------------

CLK_TCK="$(getconf CLK_TCK)"

# Server CPU ticks so far (utime + stime, fields 14 and 15 of /proc/PID/stat, all threads).
# Fields are counted after the ")" closing the command name, which may hold spaces.
server_ticks() {
  local stat rest f
  stat="$(<"/proc/$SERVER_PID/stat")" || return 1
  rest="${stat##*) }"          # starts at field 3
  read -ra f <<<"$rest"
  echo $(( f[11] + f[12] ))
}

# Reads wrk --latency output on stdin; prints: requests req_per_s p50_ms p99_ms non2xx socket_errors
parse_wrk() {
  awk '
    function ms(v,   n, u) {
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000
      if (u == "ms") return n
      if (u == "s")  return n * 1000
      if (u == "m")  return n * 60000
      return -1
    }
    /^[ \t]+[0-9]+ requests in /  { req = $1 }
    /^Requests\/sec:/              { rps = $2 }
    /^[ \t]+50%[ \t]/              { p50 = ms($2) }
    /^[ \t]+99%[ \t]/              { p99 = ms($2) }
    /^[ \t]+Non-2xx or 3xx responses:/ { bad = $NF }
    /^[ \t]+Socket errors:/ {
      for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i + 0
    }
    END {
      if (req == "" || rps == "" || p50 == "" || p99 == "") exit 1
      printf "%s %s %s %s %d %d\n", req, rps, p50, p99, bad + 0, err + 0
    }'
}

# run_load NAME EXPECT PATH [wrk args...]: warm-up, then a measured run; sets R_* for NAME.
# EXPECT is 2xx (any other status voids the run) or 4xx (the run measures a refusal).
declare -A R_RPS R_P50 R_P99 R_CPU R_REQ R_ERR
run_load() {
  local name="$1" expect="$2" path="$3"; shift 3
  local wrk=(wrk --threads "$THREADS" --connections "$CONNECTIONS" "$@")
  if (( WARMUP > 0 )); then
    log "warming up $name for ${WARMUP}s"
    timeout $((WARMUP + 30)) "${wrk[@]}" --duration "${WARMUP}s" "$BASE$path" >/dev/null
  fi
  log "measuring $name for ${DURATION}s"
  local before after out parsed
  before="$(server_ticks)"
  out="$(timeout $((DURATION + 30)) "${wrk[@]}" --duration "${DURATION}s" --latency "$BASE$path")"
  after="$(server_ticks)"
  mkdir -p "$OUT_DIR"
  printf '%s\n' "$out" >"$OUT_DIR/wrk-$name.txt"
  parsed="$(parse_wrk <<<"$out")" || die "could not parse wrk output for $name:"$'\n'"$out"
  local req rps p50 p99 bad err
  read -r req rps p50 p99 bad err <<<"$parsed"
  if [[ "$expect" == 2xx ]]; then
    (( bad == 0 )) || die "$name: $bad responses were not 2xx/3xx; the benchmark is void"
  else
    (( bad == req )) || die "$name: expected only refusals, got $((req - bad)) successes"
  fi
  (( req > 0 )) || die "$name: wrk completed no requests"
  R_REQ[$name]="$req" R_RPS[$name]="$rps" R_P50[$name]="$p50" R_P99[$name]="$p99" R_ERR[$name]="$err"
  R_CPU[$name]="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$req" \
    'BEGIN { printf "%.2f", t / hz / n * 1e6 }')"
}

run_load health 2xx /health
run_load agents 2xx /agents -H "Authorization: Bearer $KEY"
# Authentication alone: a valid key, then a 404 for an id that cannot exist, with no query.
run_load auth 4xx /agents/unknown -H "Authorization: Bearer $KEY"

stop_server

# --- report -------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

report() {
  local rev
  rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
  echo "thinnest load benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $rev"
  echo "wrk: ${DURATION}s per run (after ${WARMUP}s warm-up), $THREADS thread(s), $CONNECTIONS keep-alive HTTPS connections to $HOST:$PORT"
  echo
  printf '%-22s %12s %10s %10s  %s\n' endpoint requests/s 'p50 ms' 'p99 ms' 'server CPU µs/req'
  local name label
  for name in health agents auth; do
    case "$name" in
      health) label="GET /health (no auth)" ;;
      agents) label="GET /agents (API key)" ;;
      auth) label="auth only (API key)" ;;
    esac
    printf '%-22s %12.0f %10.3f %10.3f  %17s\n' "$label" \
      "${R_RPS[$name]}" "${R_P50[$name]}" "${R_P99[$name]}" "${R_CPU[$name]}"
  done
  echo
  echo "authenticated/unauthenticated: throughput ratio $(ratio "${R_RPS[agents]}" "${R_RPS[health]}")," \
    "CPU-per-request ratio $(ratio "${R_CPU[agents]}" "${R_CPU[health]}")"
  echo "authentication alone/unauthenticated: throughput ratio $(ratio "${R_RPS[auth]}" "${R_RPS[health]}")," \
    "CPU-per-request ratio $(ratio "${R_CPU[auth]}" "${R_CPU[health]}")"
  for name in health agents auth; do
    (( R_ERR[$name] == 0 )) || echo "warning: wrk reported ${R_ERR[$name]} socket errors on $name"
  done
  echo "machine: nproc=$(nproc); wrk shares these cores with the server, so requests/s and latency" \
    "depend on the load generator too; server CPU µs/request is the steadier figure."
}

report | tee "$OUT_DIR/latest.txt"
