# Shared by the benchmarks (sourced, not run): messages, and servers on HOST from
# port PORT on, serving one temporary data directory, stopped on exit. Expects HOST,
# PORT and BIN to be set (and AGENTS for seed).

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

DATA_DIR="$(mktemp -d -t thinnest-bench.XXXXXX)"
CA="$DATA_DIR/tls/ca.pem"
declare -A PIDS BASES LOGS               # per server name: process id, https://host:port, log
CLEANUP_HOOKS=()                         # commands run on exit, after the servers stop

# stop_server NAME: SIGTERM, SIGKILL after 15 s.
stop_server() {
  local pid="${PIDS[$1]:-}" i
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 60; i++)); do            # up to 15 s for a graceful stop
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "server '$1' did not stop after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$1]"
}

cleanup() {
  local rc=$? name hook
  for name in "${!PIDS[@]}"; do stop_server "$name"; done
  for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" || true; done
  if (( rc != 0 )); then
    for name in "${!LOGS[@]}"; do
      log "failed; last lines of the log of server '$name':"
      tail -n 20 "${LOGS[$name]}" >&2 || true
    done
  fi
  rm -rf "$DATA_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# next_port: sets NEXT_PORT to the first free port from PORT, and moves PORT past it.
next_port() {
  local p
  for ((p = PORT; p < PORT + 50; p++)); do
    port_in_use "$p" || break
  done
  (( p < PORT + 50 )) || die "no free port in $PORT..$((PORT + 49))"
  PORT=$((p + 1))
  NEXT_PORT=$p
}

# launch NAME URL COMMAND...: runs COMMAND in the background as server NAME, logging to
# DATA_DIR, and waits until URL answers 200 (trusting the generated CA), for up to
# LAUNCH_SECONDS (30).
launch() {
  local name="$1" url="$2"; shift 2
  LOGS[$name]="$DATA_DIR/server-$name.log"
  log "starting server '$name' on ${BASES[$name]} (data in $DATA_DIR)"
  "$@" >"${LOGS[$name]}" 2>&1 &
  PIDS[$name]=$!
  local limit="${LAUNCH_SECONDS:-30}"
  local deadline=$((SECONDS + limit))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CA" "$url" 2>/dev/null)" == 200 ]]; do
    kill -0 "${PIDS[$name]}" 2>/dev/null || die "server $name exited during start-up"
    (( SECONDS < deadline )) || die "server $name did not answer $url with 200 within $limit s"
    sleep 0.2
  done
}

# start_server NAME [serve flags...]: serves DATA_DIR (servers may share it: SQLite in
# WAL mode) on the first free port from PORT and waits for /health to answer 200.
start_server() {
  local name="$1"; shift
  next_port
  BASES[$name]="https://$HOST:$NEXT_PORT"
  launch "$name" "${BASES[$name]}/health" \
    "$BIN" serve --data-dir "$DATA_DIR" --listen "$HOST:$NEXT_PORT" --http-listen off "$@"
}

# seed NAME DATA_ARGS...: an account, its key (printed) and AGENTS agents through server NAME.
seed() {
  local name="$1"; shift
  local key code i
  key="$(timeout 30 "$BIN" bootstrap "$@" --email bench@example.com | tail -n 1)"
  [[ -n "$key" ]] || die "bootstrap printed no API key"
  for ((i = 1; i <= AGENTS; i++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CA" \
      -X POST "${BASES[$name]}/agents" -H "Authorization: Bearer $key" \
      -H 'content-type: application/json' -d "{\"name\":\"bench $i\"}")"
    [[ "$code" == 2?? ]] || die "creating agent $i answered HTTP $code"
  done
  echo "$key"
}
