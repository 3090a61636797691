# Measuring one load (sourced by run.sh, not run): wrk against a server, the server's CPU
# time around it, and the per-round figures each row keeps. Expects PIDS, BASES, THREADS,
# CONNECTIONS, WARMUP, DURATION, CLK_TCK and OUT_DIR.

# server_ticks NAME: the server's CPU ticks so far (utime + stime, fields 14 and 15 of
# /proc/PID/stat, all threads). Fields are counted after the ")" closing the command name.
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

# Per row name, one value per round, space-separated.
declare -A R_RPS R_P50 R_P99 R_CPU R_ERR

# run_load NAME SERVER EXPECT PATH [wrk args...]: one measured run against server SERVER,
# after a warm-up; appends the round's figures to NAME's. EXPECT is 2xx (any other status
# voids the run) or 4xx (the run measures a refusal: any success voids it).
run_load() {
  local name="$1" server="$2" expect="$3" path="$4"; shift 4
  local url="${BASES[$server]}$path"
  local wrk=(wrk --threads "$THREADS" --connections "$CONNECTIONS" "$@")
  if (( WARMUP > 0 )); then
    timeout $((WARMUP + 30)) "${wrk[@]}" --duration "${WARMUP}s" "$url" >/dev/null
  fi
  log "measuring $name for ${DURATION}s"
  local before after out parsed
  before="$(server_ticks "$server")"
  out="$(timeout $((DURATION + 30)) "${wrk[@]}" --duration "${DURATION}s" --latency "$url")"
  after="$(server_ticks "$server")"
  mkdir -p "$OUT_DIR"
  printf '%s\n' "$out" >>"$OUT_DIR/wrk-${name//:/-}.txt"
  parsed="$(parse_wrk <<<"$out")" || die "could not parse wrk output for $name:"$'\n'"$out"
  local req rps p50 p99 bad err
  read -r req rps p50 p99 bad err <<<"$parsed"
  (( req > 0 )) || die "$name: wrk completed no requests"
  if [[ "$expect" == 2xx ]]; then
    (( bad == 0 )) || die "$name: $bad responses were not 2xx/3xx; the benchmark is void"
  else
    (( bad == req )) || die "$name: expected only refusals, got $((req - bad)) successes"
  fi
  R_RPS[$name]+="$rps " R_P50[$name]+="$p50 " R_P99[$name]+="$p99 "
  R_ERR[$name]=$((${R_ERR[$name]:-0} + err))
  R_CPU[$name]+="$(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v n="$req" \
    'BEGIN { printf "%.2f", t / hz / n * 1e6 }') "
}

# median VALUES...: the middle value (the mean of the two middle ones for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
