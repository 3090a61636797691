#!/usr/bin/env bash
# Webhook delivery benchmark, over HTTPS to the API and plain HTTP to a local receiver
# (crates/thinnest/examples/webhook_sink.rs, which checks every signature):
#   1. queue: wrk creates agents for BENCH_DURATION seconds on a server that sends
#      nothing (--webhook-concurrency 0); each creation queues one agent.created event
#      in its transaction.
#   2. drain: a dispatching server starts on the same data; deliveries per second from
#      the first arrival to the last, and the ratio to the creations per second of 1.
#   3. latency: agents created one at a time at a steady pace; p50 and p99 of the time
#      from the event's created_at to its arrival at the receiver.
# See bench/README.md. Usage: bench/webhooks.sh   (settings: the BENCH_* variables below)
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

PORT="${BENCH_PORT:-18443}"              # first port to try; the next free one is used
DURATION="${BENCH_DURATION:-5}"          # seconds of agent creation in step 1
CONNECTIONS="${BENCH_CONNECTIONS:-16}"   # wrk keep-alive connections in step 1
PACED="${BENCH_PACED:-300}"              # events in step 3
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"      # 1 = use the existing release binaries

HOST=127.0.0.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/thinnest"
SINK="$ROOT/target/release/examples/webhook_sink"
OUT_DIR="$ROOT/bench/out"

source "$ROOT/bench/lib.sh"

for v in PORT DURATION CONNECTIONS PACED; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, got '${!v}'"
done

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building the release binary and the receiver"
  (cd "$ROOT" && cargo build --release -p thinnest --bin thinnest --example webhook_sink)
fi
command -v wrk >/dev/null || die "wrk is required (apt-get install wrk)"
command -v python3 >/dev/null || die "python3 is required (for the statistics)"

HUGE=1000000000
api() {  # api SERVER METHOD PATH [JSON]: the response body; fails on a non-2xx status
  curl -sf --max-time 10 --cacert "$CA" -X "$2" "${BASES[$1]}$3" \
    -H "Authorization: Bearer $KEY" -H 'content-type: application/json' ${4:+-d "$4"}
}

# Step 1: queue events on a server that sends none.
start_server queue --allow-private-webhook-targets --webhook-concurrency 0 --limit-agent-crud "$HUGE"
KEY="$(timeout 30 "$BIN" bootstrap --data-dir "$DATA_DIR" --email bench@example.com | tail -n 1)"
SECRET="$(api queue GET /webhooks/signing-secret | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')"

mkdir -p "$OUT_DIR"
ARRIVALS="$OUT_DIR/webhook-arrivals.txt"
"$SINK" "$SECRET" >"$ARRIVALS" &
PIDS[sink]=$!
for _ in $(seq 50); do [[ -s "$ARRIVALS" ]] && break; sleep 0.1; done
SINK_PORT="$(head -n 1 "$ARRIVALS" | awk '{print $2}')"
[[ -n "$SINK_PORT" ]] || die "the receiver did not start"
api queue POST /webhooks "{\"url\":\"http://127.0.0.1:$SINK_PORT/in\",\"events\":[\"agent.created\"]}" >/dev/null

cat >"$DATA_DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench"}'
wrk.headers["Content-Type"] = "application/json"
LUA
log "step 1: creating agents for ${DURATION}s (no deliveries)"
WRK="$(wrk --threads 1 --connections "$CONNECTIONS" --duration "${DURATION}s" \
  -H "Authorization: Bearer $KEY" -s "$DATA_DIR/post.lua" "${BASES[queue]}/agents")"
printf '%s\n' "$WRK" >"$OUT_DIR/wrk-webhook-queue.txt"
grep -q "Non-2xx" <<<"$WRK" && die "some creations failed:"$'\n'"$WRK"
CREATED_PER_S="$(awk '/^Requests\/sec:/ {print $2}' <<<"$WRK")"
QUEUED="$(awk '/ requests in / {print $1}' <<<"$WRK")"
stop_server queue

# Step 2: a dispatching server drains the queue.
log "step 2: draining $QUEUED deliveries"
start_server send --allow-private-webhook-targets --limit-agent-crud "$HUGE"
arrived() { echo $(( $(wc -l <"$ARRIVALS") - 1 )); }
deadline=$((SECONDS + 300))
until (( $(arrived) >= QUEUED )); do  # wrk may count one creation fewer than it made
  (( SECONDS < deadline )) || die "only $(arrived) of $QUEUED deliveries arrived in 300 s"
  sleep 0.2
done

# Step 3: steady, one at a time.
log "step 3: $PACED agents one at a time"
PACED_FROM="$(date +%s%3N)"
for ((i = 0; i < PACED; i++)); do
  api send POST /agents '{"name":"paced"}' >/dev/null
  sleep 0.01
done
deadline=$((SECONDS + 60))
until (( $(arrived) >= QUEUED + PACED )); do
  (( SECONDS < deadline )) || die "only $(( $(arrived) - QUEUED )) of $PACED paced deliveries arrived"
  sleep 0.2
done

python3 - "$ARRIVALS" "$PACED_FROM" "$CREATED_PER_S" <<'PY'
import sys
path, paced_from, created_per_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = [line.split() for line in open(path).read().splitlines()[1:]]
assert all(r[2] == "true" for r in rows), "a signature did not verify"
# Events made before step 3 are the queue (wrk may count one creation fewer than it made).
drain = [r for r in rows if int(r[1]) < paced_from]
paced = [r for r in rows if int(r[1]) >= paced_from]
arrivals = [int(r[0]) for r in drain]
span = (max(arrivals) - min(arrivals)) / 1000
rate = (len(drain) - 1) / span if span > 0 else float("inf")
lat = sorted(int(r[0]) - int(r[1]) for r in paced)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"agents created (each queues its event), no deliveries: {created_per_s:10.1f} /s")
print(f"deliveries drained from the queue ({len(drain)}):       {rate:10.1f} /s")
print(f"deliveries / creations:                              {rate / created_per_s:10.2f}")
print(f"event to arrival, paced ({len(paced)}): p50 {q(0.50)} ms, p99 {q(0.99)} ms, max {lat[-1]} ms")
print(f"signatures verified by the receiver: {len(rows)} of {len(rows)}")
PY
