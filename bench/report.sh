# The report of run.sh (sourced, not run): every row's medians and its ratios to the bare
# reference of the same run, the targets, and the limiter table.

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# med KIND NAME: the median of NAME's rounds of R_KIND.
med() {
  local -n values="R_$1"
  # shellcheck disable=SC2086 # the values are space-separated numbers
  median ${values[$2]}
}

# target LABEL VALUE OP LIMIT: one line saying whether VALUE OP LIMIT holds.
target() {
  local verdict
  verdict="$(awk -v v="$2" -v l="$4" -v op="$3" \
    'BEGIN { ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "met" : "MISSED" }')"
  printf '  %-58s %6s %s %-5s %s\n' "$1" "$2" "$3" "$4" "$verdict"
}

report() {
  local rev name label c bare_cpu bare_p99
  rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
  echo "thinnest request-path benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $rev  binary $BIN"
  echo "wrk: ${DURATION}s per run after ${WARMUP}s warm-up, $THREADS threads, $CONNECTIONS keep-alive" \
    "HTTPS connections to $HOST; medians of $ROUNDS rounds; nproc=$(nproc)"
  echo "limiter on in every thinnest row (in process; in Redis for postgres_redis), limit $HUGE_LIMIT/min"
  echo
  bare_cpu="$(med CPU bare)" bare_p99="$(med P99 bare)"
  printf '%-42s %10s %8s %8s %10s %9s %9s\n' row requests/s 'p50 ms' 'p99 ms' 'CPU µs/req' 'CPU ×' 'p99 ×'
  for row in "${ROWS[@]}"; do
    read -r name _ <<<"$row"
    case "${name#*:}" in
      bare) label="bare axum + rustls, fixed JSON" ;;
      live) label="${name%%:*}: liveness $LIVE_PATH" ;;
      ready) label="${name%%:*}: readiness /health" ;;
      auth) label="${name%%:*}: authenticated, no listing" ;;
      agents) label="${name%%:*}: GET /agents ($AGENTS)" ;;
    esac
    printf '%-42s %10.0f %8.3f %8.3f %10.2f %9s %9s\n' "$label" "$(med RPS "$name")" \
      "$(med P50 "$name")" "$(med P99 "$name")" "$(med CPU "$name")" \
      "$(ratio "$(med CPU "$name")" "$bare_cpu")" "$(ratio "$(med P99 "$name")" "$bare_p99")"
  done
  echo
  echo "targets (server CPU per request and p99, as ratios to the bare reference):"
  for c in "${CONFIGS[@]}"; do
    target "$c: authenticated, no listing (CPU)" "$(ratio "$(med CPU "$c:auth")" "$bare_cpu")" "<=" 1.5
    target "$c: liveness (CPU)" "$(ratio "$(med CPU "$c:live")" "$bare_cpu")" "<=" 1.2
    target "$c: authenticated, no listing (p99)" "$(ratio "$(med P99 "$c:auth")" "$bare_p99")" "<=" 1.5
  done
  target "sqlite: GET /agents (CPU)" "$(ratio "$(med CPU sqlite:agents)" "$bare_cpu")" "<=" 3
  [[ -z "${R_CPU[postgres:agents]:-}" ]] \
    || target "postgres: GET /agents (CPU)" "$(ratio "$(med CPU postgres:agents)" "$bare_cpu")" "<=" 5
  if [[ -n "${R_RPS[postgres_redis:auth]:-}" ]]; then
    target "limiter in Redis / in process: authenticated, requests/s" \
      "$(ratio "$(med RPS postgres_redis:auth)" "$(med RPS postgres:auth)")" ">=" 0.8
    target "limiter in Redis / in process: GET /agents, requests/s" \
      "$(ratio "$(med RPS postgres_redis:agents)" "$(med RPS postgres:agents)")" ">=" 0.8
  fi
  for row in "${ROWS[@]}"; do
    read -r name _ <<<"$row"
    (( R_ERR[$name] == 0 )) || echo "warning: wrk reported ${R_ERR[$name]} socket errors on $name"
  done
  [[ -n "$PG_DB" ]] || echo "no PostgreSQL answered at $PG_ADMIN: SQLite rows only"
  (( HAVE_REDIS )) || echo "no Redis answered redis-cli ping at $REDIS_URL: no Redis rows"
  echo "CPU is the server process's only: PostgreSQL's and Redis's own CPU is not counted."
  echo
  echo "$LIMITER_TABLE"
}
