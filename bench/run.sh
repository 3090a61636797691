#!/usr/bin/env bash
# Load benchmark: unauthenticated GET /health vs authenticated GET /agents, and
# GET /agents with the rate limiter on vs off, over keep-alive HTTPS on 127.0.0.1,
# measuring the server's CPU time per request; then rate-limit decisions per second
# in process and, if Redis answers on 127.0.0.1:6379, through Redis.
# See bench/README.md. Usage: bench/run.sh   (settings: the BENCH_* variables below)
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

PORT="${BENCH_PORT:-18443}"              # first port to try; the next free one is used
DURATION="${BENCH_DURATION:-10}"         # seconds per measured run
THREADS="${BENCH_THREADS:-1}"            # wrk threads
CONNECTIONS="${BENCH_CONNECTIONS:-16}"   # wrk keep-alive connections
WARMUP="${BENCH_WARMUP:-2}"              # seconds of unmeasured load before each run; 0 = none
ROUNDS="${BENCH_ROUNDS:-3}"              # alternating limiter on/off runs of GET /agents, each
AGENTS="${BENCH_AGENTS:-10}"             # agents created, so GET /agents returns this many
LIMITER_SECONDS="${BENCH_LIMITER_SECONDS:-3}"  # seconds per row of the limiter example
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"      # 1 = use the existing release binaries

HOST=127.0.0.1                           # deliberately not configurable: local only
REDIS_URL="redis://127.0.0.1:6379"       # likewise
# "On" keeps the limiter deciding every request, under a limit the runs never reach
# (a refusal would void them): agent CRUD, the class of GET /agents, per minute.
HUGE_LIMIT=1000000000
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/thinnest"
EXAMPLE="$ROOT/target/release/examples/limiter_decisions"
OUT_DIR="$ROOT/bench/out"

# die, log, and the servers' lifecycle (start_server, stop_server, cleanup on exit).
source "$ROOT/bench/lib.sh"


for v in DURATION THREADS CONNECTIONS WARMUP ROUNDS AGENTS PORT LIMITER_SECONDS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, got '${!v}'"
done
(( DURATION > 0 && ROUNDS > 0 && THREADS > 0 && CONNECTIONS >= THREADS )) \
  || die "need BENCH_DURATION > 0, BENCH_ROUNDS > 0 and BENCH_CONNECTIONS >= BENCH_THREADS > 0"
(( LIMITER_SECONDS >= 1 && LIMITER_SECONDS <= 50 )) || die "BENCH_LIMITER_SECONDS must be 1..50"

# --- prerequisites ---------------------------------------------------------

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building the release binary and the limiter example"
  (cd "$ROOT" && cargo build --release -p thinnest --bin thinnest --example limiter_decisions)
fi
for b in "$BIN" "$EXAMPLE"; do
  [[ -x "$b" ]] || die "$b is missing (build it, or unset BENCH_SKIP_BUILD)"
done

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  SUDO=""; (( EUID == 0 )) || SUDO=sudo
  $SUDO apt-get install -y wrk || { $SUDO apt-get update && $SUDO apt-get install -y wrk; }
fi
command -v curl >/dev/null || die "curl is required"

# --- server lifecycle --------------------------------------------------------

# "on" limits every request under a limit no run reaches; "off" does not limit.
start_server on --limit-agent-crud "$HUGE_LIMIT"
BASE="${BASES[on]}"

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

# server_ticks NAME: the server's CPU ticks so far (utime + stime, fields 14 and 15 of /proc/PID/stat, all threads).
# Fields are counted after the ")" closing the command name, which may hold spaces.
server_ticks() {
  local stat rest f
  stat="$(<"/proc/${PIDS[$1]}/stat")" || return 1
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

# run_load NAME SERVER EXPECT PATH [wrk args...]: a measured run against server SERVER,
# after a warm-up if it is NAME's first; sets R_* for NAME, summing over its runs.
# EXPECT is 2xx (any other status voids the run) or 4xx (the run measures a refusal).
declare -A R_RPS R_P50 R_P99 R_CPU R_REQ R_ERR R_TICKS R_SECS
run_load() {
  local name="$1" server="$2" expect="$3" path="$4"; shift 4
  local url="${BASES[$server]}$path"
  local wrk=(wrk --threads "$THREADS" --connections "$CONNECTIONS" "$@")
  if [[ -z "${R_REQ[$name]:-}" ]] && (( WARMUP > 0 )); then
    log "warming up $name for ${WARMUP}s"
    timeout $((WARMUP + 30)) "${wrk[@]}" --duration "${WARMUP}s" "$url" >/dev/null
  fi
  log "measuring $name for ${DURATION}s"
  local before after out parsed
  before="$(server_ticks "$server")"
  out="$(timeout $((DURATION + 30)) "${wrk[@]}" --duration "${DURATION}s" --latency "$url")"
  after="$(server_ticks "$server")"
  mkdir -p "$OUT_DIR"
  [[ -n "${R_REQ[$name]:-}" ]] || : >"$OUT_DIR/wrk-$name.txt"
  printf '%s\n' "$out" >>"$OUT_DIR/wrk-$name.txt"
  parsed="$(parse_wrk <<<"$out")" || die "could not parse wrk output for $name:"$'\n'"$out"
  local req rps p50 p99 bad err
  read -r req rps p50 p99 bad err <<<"$parsed"
  if [[ "$expect" == 2xx ]]; then
    (( bad == 0 )) || die "$name: $bad responses were not 2xx/3xx; the benchmark is void"
  else
    (( bad == req )) || die "$name: expected only refusals, got $((req - bad)) successes"
  fi
  (( req > 0 )) || die "$name: wrk completed no requests"
  # Sums over the runs; p50 and p99 are the highest of them.
  R_REQ[$name]=$((${R_REQ[$name]:-0} + req)) R_ERR[$name]=$((${R_ERR[$name]:-0} + err))
  R_TICKS[$name]=$((${R_TICKS[$name]:-0} + after - before))
  R_SECS[$name]="$(awk -v s="${R_SECS[$name]:-0}" -v n="$req" -v r="$rps" 'BEGIN { print s + n / r }')"
  R_RPS[$name]="$(awk -v n="${R_REQ[$name]}" -v s="${R_SECS[$name]}" 'BEGIN { print n / s }')"
  R_P50[$name]="$(awk -v a="${R_P50[$name]:-0}" -v b="$p50" 'BEGIN { print (a > b ? a : b) }')"
  R_P99[$name]="$(awk -v a="${R_P99[$name]:-0}" -v b="$p99" 'BEGIN { print (a > b ? a : b) }')"
  R_CPU[$name]="$(awk -v t="${R_TICKS[$name]}" -v hz="$CLK_TCK" -v n="${R_REQ[$name]}" \
    'BEGIN { printf "%.2f", t / hz / n * 1e6 }')"
}

AUTH=(-H "Authorization: Bearer $KEY")
run_load health on 2xx /health
# Authentication alone: a valid key, then a 404 for an id that cannot exist, with no query.
run_load auth on 4xx /agents/unknown "${AUTH[@]}"
# The limiter on vs off: two servers on the same data, loaded in turn (on-off, off-on, ...)
# so that the machine's drift falls on both alike.
start_server off --rate-limiting off
for ((r = 1; r <= ROUNDS; r++)); do
  order=(on off); (( r % 2 )) || order=(off on)
  for server in "${order[@]}"; do
    name=agents; [[ "$server" == on ]] || name=agents_off
    run_load "$name" "$server" 2xx /agents "${AUTH[@]}"
  done
done
stop_server on
stop_server off

# --- limiter decisions per second ---------------------------------------------------

limiter_args=(--seconds "$LIMITER_SECONDS")
if command -v redis-cli >/dev/null \
  && [[ "$(timeout 5 redis-cli -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]]; then
  limiter_args+=(--redis-url "$REDIS_URL")
  REDIS_NOTE=""
else
  REDIS_NOTE="no Redis answered redis-cli ping at $REDIS_URL: in-process rows only"
  log "$REDIS_NOTE"
fi
log "measuring limiter decisions (${LIMITER_SECONDS}s per row)"
LIMITER_TABLE="$(timeout $((LIMITER_SECONDS * 4 + 60)) "$EXAMPLE" "${limiter_args[@]}")" \
  || die "the limiter_decisions example failed"

# --- report -------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

report() {
  local rev
  rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
  echo "thinnest load benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $rev"
  echo "wrk: ${DURATION}s per run (after ${WARMUP}s warm-up), $THREADS thread(s), $CONNECTIONS keep-alive HTTPS connections to $HOST"
  echo "rate limiting on (in process, agent CRUD limit $HUGE_LIMIT/min) except in the last row (--rate-limiting off);"
  echo "the GET /agents rows sum $ROUNDS alternating runs each (p50/p99: the highest run's)"
  echo
  printf '%-26s %12s %10s %10s  %s\n' endpoint requests/s 'p50 ms' 'p99 ms' 'server CPU µs/req'
  local name label
  for name in health agents auth agents_off; do
    case "$name" in
      health) label="GET /health (no auth)" ;;
      agents) label="GET /agents (API key)" ;;
      auth) label="auth only (API key)" ;;
      agents_off) label="GET /agents, limiter off" ;;
    esac
    printf '%-26s %12.0f %10.3f %10.3f  %17s\n' "$label" \
      "${R_RPS[$name]}" "${R_P50[$name]}" "${R_P99[$name]}" "${R_CPU[$name]}"
  done
  echo
  echo "authenticated/unauthenticated: throughput ratio $(ratio "${R_RPS[agents]}" "${R_RPS[health]}")," \
    "CPU-per-request ratio $(ratio "${R_CPU[agents]}" "${R_CPU[health]}")"
  echo "authentication alone/unauthenticated: throughput ratio $(ratio "${R_RPS[auth]}" "${R_RPS[health]}")," \
    "CPU-per-request ratio $(ratio "${R_CPU[auth]}" "${R_CPU[health]}")"
  echo "limiter on/off (GET /agents): throughput ratio $(ratio "${R_RPS[agents]}" "${R_RPS[agents_off]}")," \
    "CPU-per-request ratio $(ratio "${R_CPU[agents]}" "${R_CPU[agents_off]}")"
  for name in health agents auth agents_off; do
    (( R_ERR[$name] == 0 )) || echo "warning: wrk reported ${R_ERR[$name]} socket errors on $name"
  done
  echo "machine: nproc=$(nproc); wrk shares these cores with the server, so requests/s and latency" \
    "depend on the load generator too; server CPU µs/request is the steadier figure."
  echo
  echo "$LIMITER_TABLE"
  [[ -z "$REDIS_NOTE" ]] || echo "$REDIS_NOTE"
}

report | tee "$OUT_DIR/latest.txt"
