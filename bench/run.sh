#!/usr/bin/env bash
# Switchyard benchmark: direct (no proxy) vs HAProxy 2.6 vs Caddy 2.6 (http, tls_term and h2
# only) vs Switchyard on Deno and on Bun, with its access log on and off, in one run, on loopback. Method as in /work/shared/MEASUREMENTS.md: the proxy is pinned to CPU 1,
# nginx (backend) and the load tools to CPU 0; every figure is the median of BENCH_ROUNDS rounds.
# On 2 cores the load side usually saturates first, so the proxy's own CPU time per request /
# per connection (from /proc/PID/stat) is the figure that separates the proxies.
#
#   deno task bench            # or: bash bench/run.sh
#   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_VARIANTS="direct haproxy deno bun" bash bench/run.sh
#   BENCH_SECONDS=1 BENCH_ROUNDS=1 BENCH_CASES="http tls_term h2" bash bench/run.sh  # smoke run
#   BENCH_CASES=tls_term bash bench/run.sh   # only some cases (see ALL_CASES)
#
# Prints a markdown table and writes it to bench/results/latest.md (latest-CASES.md when only
# some BENCH_CASES run, so a partial run leaves the full table alone); raw wrk/curl output and the
# proxies' stderr go to bench/results/raw/. Not a CI test: figures depend on the machine.
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-5}          # length of one measured wrk round
BENCH_ROUNDS=${BENCH_ROUNDS:-3}            # rounds per figure; the median is reported
BENCH_WARMUP=${BENCH_WARMUP:-1}            # unmeasured wrk seconds before each case (JIT, caches)
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-2000} # idle connections for the RSS figure
# deno-nolog / bun-nolog: Switchyard with `run --access-log off`, in NOLOG_CASES only; caddy: in
# CADDY_CASES only (see variant_cases).
ALL_VARIANTS="direct haproxy caddy deno deno-nolog bun bun-nolog"
BENCH_VARIANTS=${BENCH_VARIANTS:-$ALL_VARIANTS}
ALL_CASES="ka nc bulk idle tls http tls_term workers h2"
BENCH_CASES=${BENCH_CASES:-$ALL_CASES}     # which measurements to run (and report)
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-2700} # hard limit for the whole run
BENCH_START_WAIT=${BENCH_START_WAIT:-30}   # seconds a proxy may take to bind its ports
BENCH_KEEP_TMP=${BENCH_KEEP_TMP:-0}        # 1: keep the scratch dir (configs, access logs)
BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-10}   # max seconds to wait for other jobs to leave the CPUs
BENCH_QUIET_BUDGET=${BENCH_QUIET_BUDGET:-120} # max seconds of such waiting in the whole run
BENCH_NOISE=${BENCH_NOISE:-15}             # % of a CPU used by other jobs that disturbs a round
BENCH_RETRIES=${BENCH_RETRIES:-2}          # extra attempts per case for disturbed rounds

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
RESULTS="$HERE/results"
RAW="$RESULTS/raw"
TMP=$(mktemp -d /tmp/switchyard-bench.XXXXXX)
SNI=localhost          # wrk takes SNI from the URL host, and only names it can resolve work
HTTP_HOST=bench.local  # Host header routed by the http listeners
WRK_CONNS=50
H2_CLIENTS=10 # h2 case: h2load connections ...
H2_STREAMS=10 # ... and concurrent streams on each
BULK_BYTES=$((1024 * 1024 * 1024))
export PATH="$REPO/node_modules/.bin:$PATH"

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

# --- clean-up and time limit ------------------------------------------------------------------

WATCHDOG_PID=
cleanup() {
  local rc=$?
  trap - EXIT
  stop_all
  [ -n "$WATCHDOG_PID" ] && stop_pid "$WATCHDOG_PID"
  if [ "$BENCH_KEEP_TMP" = 1 ]; then log "scratch dir kept: $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'log "stopped (time limit or SIGTERM)"; exit 143' TERM

start_watchdog() {
  # A subshell that TERMs this script after BENCH_MAX_SECONDS; its sleep dies with it.
  (
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$BENCH_MAX_SECONDS" &
    sp=$!
    wait "$sp"
    kill -TERM $$
  ) &
  WATCHDOG_PID=$!
}

# --- results ----------------------------------------------------------------------------------
# Each round appends a number to $TMP/rounds/METRIC.VARIANT; the table shows the median.
# A cell can instead carry a status text (skipped, failed) in $TMP/status/METRIC.VARIANT.

# Rounds disturbed by other jobs (DISTURBED=1) go to $TMP/disturbed and only count when a
# figure has no clean round at all (marked * in the table).
DISTURBED=0
record() {
  if [ "$DISTURBED" = 1 ]; then echo "$3" >>"$TMP/disturbed/$1.$2"; else echo "$3" >>"$TMP/rounds/$1.$2"; fi
}
set_status() {
  local v=$1 text=$2 m
  shift 2
  for m in "$@"; do
    [ -s "$TMP/rounds/$m.$v" ] || [ -s "$TMP/disturbed/$m.$v" ] || echo "$text" >"$TMP/status/$m.$v"
  done
}
note() { echo "- $*" >>"$TMP/notes"; log "note: $*"; }

KA_METRICS=(ka_rps ka_p99 ka_cpu ka_util ka_cpu0)
NC_METRICS=(nc_rps nc_cpu nc_util nc_cpu0)
BULK_METRICS=(bulk_gbps bulk_cpu)
IDLE_METRICS=(rss_base rss_idle rss_per)
TLS_METRICS=(tls_rps tls_cpu tls_util tls_cpu0)
HTTP_METRICS=(http_rps http_p99 http_cpu http_util http_cpu0)
# tls_term: handshakes (tlst_*) and keep-alive requests (tlsk_*) with TLS terminated by the proxy.
TLS_TERM_METRICS=(tlst_rps tlst_cpu tlst_util tlst_cpu0 tlsk_rps tlsk_p99 tlsk_cpu tlsk_util tlsk_cpu0)
# h2: HTTP/2 requests (h2load) over TLS 1.3 terminated by the proxy.
H2_METRICS=(h2_rps h2_cpu h2_util h2_cpu0)
# workers: N = 1 and N = nproc processes (Switchyard) / threads (HAProxy), proxy unpinned.
WK_N2=$(nproc)
WK_METRICS=()
for _c in ka1 ka2 nc1 nc2; do WK_METRICS+=("wk_${_c}_rps" "wk_${_c}_cpu" "wk_${_c}_util" "wk_${_c}_cpu0" "wk_${_c}_cpu1" "wk_${_c}_load"); done
WK_METRICS+=(wk_kascale wk_ncscale)

# The cases where a logged line is per request (one per connection on tcp/tls listeners with
# Connection: close), so logging's cost shows: the log-off variants run these only.
NOLOG_CASES="nc http tls_term h2"
# Caddy as a second peer where users choose between reverse proxies: HTTP and terminated TLS.
CADDY_CASES="http tls_term h2"
variant_cases() { # the cases VARIANT runs (before BENCH_CASES filters them)
  case $1 in
    caddy) echo "$CADDY_CASES" ;;
    *-nolog) echo "$NOLOG_CASES" ;;
    *) echo "$ALL_CASES" ;;
  esac
}
is_switchyard() { case $1 in deno | bun | deno-nolog | bun-nolog) return 0 ;; esac; return 1; }

# While a variant runs (run_proxy), VARIANT_CASES holds its cases; empty otherwise (report).
VARIANT_CASES=
want() { # want CASE...: true when BENCH_CASES (and VARIANT_CASES, if set) names one of them
  local c
  for c in "$@"; do
    [[ " $BENCH_CASES " == *" $c "* ]] || continue
    [ -z "$VARIANT_CASES" ] || [[ " $VARIANT_CASES " == *" $c "* ]] || continue
    return 0
  done
  return 1
}

# --- set-up -----------------------------------------------------------------------------------

start_backend() {
  mkdir -p "$TMP/www/files" "$TMP/tls" "$TMP/nginx-tmp"
  # nginx's worker runs unprivileged (nobody) and must reach the 1 GiB file.
  chmod 755 "$TMP" "$TMP/www" "$TMP/www/files"
  # Sparse: costs no disk. Read once so its (zero) pages are in the page cache before the
  # first variant; otherwise the first bulk round would measure page-cache fill (~3 Gb/s).
  truncate -s "$BULK_BYTES" "$TMP/www/files/1g"
  cat "$TMP/www/files/1g" >/dev/null
  # ECDSA P-256 keeps the handshake cheap, so the load side can push more connections.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
    -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" 2>/dev/null
  # The same certificate for HAProxy's terminating frontend, which wants cert and key in one file.
  cat "$TMP/tls/cert.pem" "$TMP/tls/key.pem" >"$TMP/tls/haproxy.pem"
  NGINX_HTTP=$(pick_port)
  NGINX_TLS=$(pick_port)
  render "$HERE/conf/nginx.conf" "$TMP/nginx.conf"
  nginx -t -q -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
  start_bg nginx 0 "$TMP" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
  NGINX_PID=$BG_PID
  if ! wait_listening "$NGINX_HTTP" 10 "$NGINX_PID" || ! wait_listening "$NGINX_TLS" 10 "$NGINX_PID"; then
    echo "bench: nginx did not start:" >&2
    cat "$RAW/nginx.err" "$TMP/nginx-error.log" >&2
    exit 1
  fi
  curl -fsS --max-time 5 "http://127.0.0.1:$NGINX_HTTP/" >/dev/null
  # worker_processes 1: the master's only child. Its CPU time is "ours" on CPU 0.
  NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
  log "nginx on 127.0.0.1:$NGINX_HTTP (http) and :$NGINX_TLS (tls), pid $NGINX_PID"
}

runtime_cmd() { # the command line that runs Switchyard's CLI for variant $1 (deno-nolog: deno)
  case ${1%-nolog} in
    deno) echo "deno run -A src/main.ts" ;;
    bun) echo "bun src/main.ts" ;;
  esac
}

# check_router VARIANT KIND: `check` of the Switchyard config for KIND (main | http | tls_term |
# workers | h2).
check_router() {
  local cfg="$TMP/check-$1-$2.yaml" out
  TCP_PORT=65001 TLS_PORT=65002 HTTP_PORT=65003 TLS_TERM_PORT=65004 H2_PORT=65005 \
    WORKERS=${WORKERS:-$WK_N2} \
    render "$HERE/conf/$(router_template "$2")" "$cfg"
  # shellcheck disable=SC2046
  if out=$(cd "$REPO" && timeout 60 $(runtime_cmd "$1") check -c "$cfg" 2>&1); then return 0; fi
  CHECK_ERROR=$(echo "$out" | head -3 | tr '\n' ' ')
  return 1
}
router_template() {
  case $1 in
    http) echo switchyard-http.yaml ;;
    tls_term) echo switchyard-tls-term.yaml ;;
    h2) echo switchyard-h2.yaml ;;
    workers) echo switchyard-workers.yaml ;;
    *) echo switchyard.yaml ;;
  esac
}

# start_proxy VARIANT KIND: start HAProxy, Caddy or Switchyard on CPU 1 with fresh ports (a
# restarted proxy never has to rebind a port with connections in TIME_WAIT). Sets PROXY_PID,
# PROXY_NAME (its output is $RAW/PROXY_NAME.{out,err}), PROXY_VARIANT and the *_PORT
# variables; returns 1 (with a note) when it does not come up.
PROXY_STARTS=0
start_proxy() {
  local variant=$1 kind=$2 name cfg ports p cpus=1 hcfg=haproxy.cfg extra=()
  # workers: N processes / threads need every core, so the proxy runs unpinned there.
  if [ "$kind" = workers ]; then cpus="0-$(($(nproc) - 1))"; hcfg=haproxy-workers.cfg; fi
  PROXY_STARTS=$((PROXY_STARTS + 1))
  name="$variant-$kind-$PROXY_STARTS"
  PROXY_NAME=$name
  PROXY_VARIANT=$variant
  TCP_PORT=$(pick_port)
  TLS_PORT=$(pick_port)
  HTTP_PORT=$(pick_port)
  TLS_TERM_PORT=$(pick_port)
  H2_PORT=$(pick_port)
  case $variant in
    haproxy)
      cfg="$TMP/$name.cfg"
      render "$HERE/conf/$hcfg" "$cfg"
      start_bg "$name" "$cpus" "$TMP" haproxy -f "$cfg" -db
      ;;
    caddy)
      # The Caddyfile, adapted to JSON, plus what it cannot say: no TLS session tickets.
      render "$HERE/conf/Caddyfile" "$TMP/$name.Caddyfile"
      cfg="$TMP/$name.json"
      if ! caddy adapt --config "$TMP/$name.Caddyfile" --adapter caddyfile 2>"$RAW/$name.adapt.err" |
        jq '.apps.tls.session_tickets = {disabled: true}' >"$cfg"; then
        note "caddy ($kind) config does not adapt: $(tail -c 300 "$RAW/$name.adapt.err" | tr '\n' ' ')"
        return 1
      fi
      # One OS thread running Go code, as HAProxy's nbthread 1; its files (autosave) in $TMP.
      mkdir -p "$TMP/caddy"
      start_bg "$name" "$cpus" "$TMP" env GOMAXPROCS=1 HOME="$TMP/caddy" XDG_CONFIG_HOME="$TMP/caddy" \
        XDG_DATA_HOME="$TMP/caddy" caddy run --config "$cfg"
      ;;
    deno | bun | deno-nolog | bun-nolog)
      cfg="$TMP/$name.yaml"
      render "$HERE/conf/$(router_template "$kind")" "$cfg"
      [[ $variant == *-nolog ]] && extra=(--access-log off)
      # shellcheck disable=SC2046
      start_bg "$name" "$cpus" "$REPO" $(runtime_cmd "$variant") run -c "$cfg" "${extra[@]}"
      ;;
  esac
  PROXY_PID=$BG_PID
  case $kind in
    http) ports="$HTTP_PORT" ;;
    tls_term) ports="$TLS_TERM_PORT" ;;
    h2) ports="$H2_PORT" ;;
    workers) ports="$TCP_PORT" ;;
    *) ports="$TCP_PORT $TLS_PORT" ;;
  esac
  for p in $ports; do
    if ! wait_listening "$p" "$BENCH_START_WAIT" "$PROXY_PID"; then
      START_ERROR=$(tail -c 400 "$RAW/$name.err" | tr '\n' ' ')
      stop_pid "$PROXY_PID"
      note "$variant ($kind) did not start: ${START_ERROR:-no output}"
      return 1
    fi
  done
  # Switchyard's workers each bind the port (SO_REUSEPORT): wait for all N listening sockets.
  if [ "$kind" = workers ] && is_switchyard "$variant"; then
    local deadline=$((SECONDS + BENCH_START_WAIT))
    while [ "$(listen_count "$TCP_PORT")" -lt "$WORKERS" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    [ "$(listen_count "$TCP_PORT")" -ge "$WORKERS" ] ||
      note "$variant workers=$WORKERS: only $(listen_count "$TCP_PORT") sockets listen on the port"
  fi
  # Let the runtime finish start-up work before CPU time is sampled.
  sleep 0.5
  return 0
}

proxy_alive() { [ -z "${1:-}" ] || kill -0 "$1" 2>/dev/null; }

# stop_proxy: stop the proxy of start_proxy, then check its access log, which every proxy
# writes to stdout ($RAW/PROXY_NAME.out): lines there (one per request or connection), none
# with --access-log off. So a table never compares a logging proxy with a silent one unnoticed.
stop_proxy() {
  local out="$RAW/$PROXY_NAME.out" n
  stop_pid "$PROXY_PID"
  n=$(wc -l <"$out" 2>/dev/null || echo 0)
  case $PROXY_VARIANT in
    *-nolog)
      if [ "$n" -eq 0 ]; then
        log "$PROXY_NAME: no access log lines (--access-log off)"
      else
        note "$PROXY_NAME: $n lines on stdout with --access-log off (bench/results/raw/$PROXY_NAME.out)"
      fi
      ;;
    *)
      if [ "$n" -eq 0 ]; then
        note "$PROXY_NAME: no access log line on stdout (bench/results/raw/$PROXY_NAME.out): this proxy did not log"
      else
        log "$PROXY_NAME: $n access log lines"
      fi
      ;;
  esac
}

# resumption_check VARIANT PORT: wrk keeps its SSL object across reconnects (SSL_clear), so it
# offers its last session again; a proxy that resumed it would measure cheaper, abbreviated
# handshakes. Connect once with openssl as wrk does in the handshake case (TLS 1.2, no
# tickets), keep the session, then offer it: note when it is accepted.
resumption_check() {
  local variant=$1 port=$2 sess="$TMP/tls/session-$1.pem" req
  local tls=(-tls1_2 -no_ticket -connect "127.0.0.1:$port" -servername "$SNI" -ign_eof)
  req=$(printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$SNI")
  rm -f "$sess"
  echo "$req" | timeout 10 openssl s_client "${tls[@]}" -sess_out "$sess" \
    >"$RAW/$variant.resume-1.txt" 2>&1 || true
  if [ ! -s "$sess" ]; then
    # HAProxy without a session cache, and Caddy (Go's TLS caches no session IDs; its tickets
    # are off, and -no_ticket asks for none), send an empty session ID: nothing to resume.
    if grep -Eq '^ *Session-ID: *$' "$RAW/$variant.resume-1.txt"; then
      log "$variant tls_term: no session ID, so no session can be resumed"
    else
      note "$variant tls_term: resumption not checked (openssl s_client got no session, see bench/results/raw/$variant.resume-1.txt)"
    fi
    return 0
  fi
  echo "$req" | timeout 10 openssl s_client "${tls[@]}" -sess_in "$sess" \
    >"$RAW/$variant.resume-2.txt" 2>&1 || true
  if grep -q '^Reused' "$RAW/$variant.resume-2.txt"; then
    note "$variant tls_term: resumed a TLS 1.2 session: its handshake figures include abbreviated handshakes"
  fi
}

# --- measurements -----------------------------------------------------------------------------

# The machine may be shared (other test runs): before a round, wait until both CPUs are below
# 15 % busy for half a second. The waiting is capped per round (BENCH_QUIET_WAIT) and for the
# whole run (BENCH_QUIET_BUDGET), so a machine that stays busy costs minutes, not hours; the
# rounds that other jobs still disturb are detected afterwards (sample_end) and retried.
QUIET_SPENT=0
wait_quiet() {
  local start=$SECONDS a0 a1 b0 b1 busy0 busy1
  while :; do
    a0=$(cpu_jiffies 0)
    b0=$(cpu_jiffies 1)
    sleep 0.5
    a1=$(cpu_jiffies 0)
    b1=$(cpu_jiffies 1)
    busy0=$(busy_pct "$a0" "$a1")
    busy1=$(busy_pct "$b0" "$b1")
    [ "$(calc "$busy0 < 15 && $busy1 < 15")" = 1 ] && break
    if [ $((SECONDS - start)) -ge "$BENCH_QUIET_WAIT" ] ||
      [ $((QUIET_SPENT + SECONDS - start)) -ge "$BENCH_QUIET_BUDGET" ]; then
      log "busy machine before $1: CPU 0 ${busy0%.*} %, CPU 1 ${busy1%.*} % (not ours); going ahead"
      break
    fi
  done
  QUIET_SPENT=$((QUIET_SPENT + SECONDS - start))
}
busy_pct() { calc "(${2% *} - ${1% *}) * 100 / (${2#* } - ${1#* } + 0.000001)"; }

run_wrk() { # run_wrk OUT ARGS...: wrk on CPU 0 with one thread, as in MEASUREMENTS.md
  local out=$1
  shift
  timeout -k 5 $((BENCH_SECONDS + BENCH_WARMUP + 30)) taskset -c 0 wrk -t1 -c"$WRK_CONNS" "$@" >"$out" 2>&1
}

# --- sampling around a round ---
# Around each round: the proxy's CPU time, ours on CPU 0 (nginx's worker plus the load tool,
# a child of this shell) and both CPUs' busy time. What is busy beyond ours is another job on
# this (possibly shared) machine; such a round is "disturbed" and retried.

children_cpu() { # CHILD_S: user+sys seconds of this shell's reaped children (bash `times`)
  times >"$TMP/times"
  CHILD_S=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }' "$TMP/times")
}

sample_begin() { # sample_begin PROXY_PID (empty for direct)
  S_T0=$(proxy_ticks "$1")
  S_N0=$(cpu_ticks "$NGINX_WORKER")
  children_cpu
  S_C0=$CHILD_S
  S_J0=$(cpu_jiffies 0)
  S_K0=$(cpu_jiffies 1)
  S_W0=$(now)
}

# Sets WALL (s), PROXY_S (proxy CPU s), BUSY0 (% of CPU 0), OTHER0/OTHER1 (% of each CPU used
# by something not ours) and DISTURBED (1 when either exceeds BENCH_NOISE).
sample_end() {
  local w1 j1 k1 n1 t1 ours0
  w1=$(now)
  j1=$(cpu_jiffies 0)
  k1=$(cpu_jiffies 1)
  children_cpu
  n1=$(cpu_ticks "$NGINX_WORKER")
  t1=$(proxy_ticks "$1")
  WALL=$(calc "$w1 - $S_W0")
  PROXY_S=$(calc "($t1 - $S_T0) / $CLK_TCK")
  BUSY0=$(busy_pct "$S_J0" "$j1")
  ours0=$(calc "(($n1 - $S_N0) / $CLK_TCK + $CHILD_S - $S_C0) * 100 / $WALL")
  BUSY1=$(busy_pct "$S_K0" "$k1")
  LOAD0=$ours0
  OTHER0=$(calc "$BUSY0 - $ours0")
  OTHER1=$(calc "$BUSY1 - $PROXY_S * 100 / $WALL")
  if [ "$PROXY_UNPINNED" = 1 ]; then
    # The proxy runs on both CPUs: only the sum tells what is not ours; it is charged to CPU 0.
    OTHER0=$(calc "$BUSY0 + $BUSY1 - $ours0 - $PROXY_S * 100 / $WALL")
    OTHER1=0
  fi
  # Direct runs use CPU 0 only, so only CPU 0 can be disturbed then.
  if [ -z "$1" ]; then
    DISTURBED=$(calc "$OTHER0 > $BENCH_NOISE")
  else
    DISTURBED=$(calc "$OTHER0 > $BENCH_NOISE || $OTHER1 > $BENCH_NOISE")
  fi
}

RETRIED=0
# After a disturbed round: say so, and whether it is retried (ROUND_RETRY=1) or kept.
judge_round() { # judge_round LABEL GOOD TRIES
  ROUND_RETRY=0
  [ "$DISTURBED" = 1 ] || return 0
  if [ "$3" -lt $((BENCH_ROUNDS + BENCH_RETRIES)) ]; then
    ROUND_RETRY=1
    RETRIED=$((RETRIED + 1))
    log "$1: other jobs used ${OTHER0%.*} % of CPU 0 and ${OTHER1%.*} % of CPU 1; retrying"
  else
    note "$1: other jobs used ${OTHER0%.*} % of CPU 0 and ${OTHER1%.*} % of CPU 1 (kept, marked *)"
  fi
}

# measure_wrk CASE VARIANT PID URL [WRK ARGS...]: BENCH_ROUNDS undisturbed wrk rounds (up to
# BENCH_RETRIES more attempts); records req/s, p99, proxy CPU µs per request (= per connection
# with Connection: close), proxy CPU busy % and CPU 0 busy % (how saturated the load side was).
measure_wrk() {
  local case=$1 variant=$2 pid=$3 url=$4 out reqs errs good=0 tries=0
  shift 4
  log "$variant: $case, $BENCH_ROUNDS x ${BENCH_SECONDS}s, $url $*"
  run_wrk "$RAW/$variant.$case.warmup.txt" -d"${BENCH_WARMUP}s" "$@" "$url" || true
  while [ $good -lt "$BENCH_ROUNDS" ] && [ $tries -lt $((BENCH_ROUNDS + BENCH_RETRIES)) ]; do
    tries=$((tries + 1))
    out="$RAW/$variant.$case.$tries.txt"
    wait_quiet "$variant $case round $tries"
    proxy_alive "$pid" || { note "$variant: proxy died before $case round $tries"; return 1; }
    sample_begin "$pid"
    run_wrk "$out" -d"${BENCH_SECONDS}s" --latency "$@" "$url" || note "$variant $case round $tries: wrk exit $?"
    sample_end "$pid"
    proxy_alive "$pid" || { note "$variant: proxy died during $case round $tries"; return 1; }
    reqs=$(wrk_requests "$out")
    if [ -z "$reqs" ] || [ "$reqs" -eq 0 ]; then
      note "$variant $case round $tries: no request completed in ${BENCH_SECONDS}s (bench/results/raw/$variant.$case.$tries.txt)"
      continue
    fi
    # wrk counts no error for a connection that simply never gets its next response.
    if [ "$reqs" -lt $((4 * WRK_CONNS)) ]; then
      note "$variant $case round $tries: only $reqs requests over $WRK_CONNS connections in ${BENCH_SECONDS}s: connections stall"
    fi
    errs=$(wrk_errors "$out")
    if [ "$errs" -gt 0 ]; then
      note "$variant $case round $tries: $errs socket errors / non-2xx of $reqs requests"
    fi
    log "  round $tries: $(wrk_rps "$out") req/s, proxy ${PROXY_S}s CPU; other jobs: CPU 0 ${OTHER0%.*} %, CPU 1 ${OTHER1%.*} %"
    judge_round "$variant $case round $tries" $good $tries
    [ $ROUND_RETRY = 1 ] && continue
    [ "$DISTURBED" = 1 ] || good=$((good + 1))
    record "${case}_rps" "$variant" "$(wrk_rps "$out")"
    record "${case}_p99" "$variant" "$(wrk_p99_ms "$out")"
    record "${case}_cpu0" "$variant" "$BUSY0"
    if [ "$PROXY_UNPINNED" = 1 ]; then
      record "${case}_cpu1" "$variant" "$BUSY1"
      record "${case}_load" "$variant" "$LOAD0"
    fi
    if [ -n "$pid" ]; then
      record "${case}_cpu" "$variant" "$(calc "$PROXY_S * 1000000 / $reqs")"
      record "${case}_util" "$variant" "$(calc "$PROXY_S * 100 / $WALL")"
    fi
  done
}

# 1. keep-alive through the tcp listener.
measure_keepalive() { measure_wrk ka "$1" "$2" "http://127.0.0.1:$3/"; }

# 2. a new connection per request: wrk reconnects after every "Connection: close" response.
measure_newconn() { measure_wrk nc "$1" "$2" "http://127.0.0.1:$3/" -H "Connection: close"; }

# 5. full TLS handshakes through SNI passthrough: https + Connection: close, SNI from the URL
# host. wrk offers its last session again when it reconnects, but nginx keeps no session cache
# and issues no tickets, so none is resumed.
measure_tls() { measure_wrk tls "$1" "$2" "https://$SNI:$3/" -H "Connection: close"; }

# 6. Host routing with X-Forwarded-For, keep-alive.
measure_http() { measure_wrk http "$1" "$2" "http://127.0.0.1:$3/" -H "Host: $HTTP_HOST"; }

# 7. TLS terminated by the proxy, full handshakes: as 5, but the proxy decrypts and routes the
# request inside by its Host (wrk sends "Host: $SNI:PORT"). Switchyard (Node's TLS) always
# issues TLS 1.3 tickets, which wrk would redeem on every reconnect, so wrk speaks TLS 1.2
# without tickets here (conf/wrk-tls12.cnf): full ECDHE-ECDSA handshakes for every proxy.
measure_tls_term() {
  OPENSSL_CONF="$HERE/conf/wrk-tls12.cnf" \
    measure_wrk tlst "$1" "$2" "https://$SNI:$3/" -H "Connection: close"
}

# 7b. The same load with keep-alive (wrk's default TLS 1.3): WRK_CONNS handshakes, then
# requests only, which shows the cost of a request once the handshake is paid.
measure_tls_term_ka() { measure_wrk tlsk "$1" "$2" "https://$SNI:$3/"; }

# run_h2load OUT ARGS...: h2load on CPU 0 with one thread, H2_CLIENTS connections of H2_STREAMS
# concurrent streams each.
run_h2load() {
  local out=$1
  shift
  timeout -k 5 $((BENCH_SECONDS + BENCH_WARMUP + 30)) taskset -c 0 \
    h2load -t1 -c"$H2_CLIENTS" -m"$H2_STREAMS" "$@" >"$out" 2>&1
}

# 9. measure_h2 VARIANT PID PORT: HTTP/2 requests over TLS terminated by the proxy, as
# measure_wrk does for wrk: BENCH_ROUNDS undisturbed h2load rounds of BENCH_SECONDS (-D), req/s
# and proxy CPU µs per succeeded request. h2load takes SNI and :authority from the URL and
# connects to 127.0.0.1 (--connect-to). It offers TLS 1.3 and cannot be held to it (it sets its
# own version range), so the proxy's side decides and every round checks what was negotiated.
# Returns 1 when the proxy died or h2load did not get h2.
measure_h2() {
  local variant=$1 pid=$2 port=$3 out reqs errs proto tlsv good=0 tries=0
  local args=(--connect-to "127.0.0.1:$port" "https://$SNI:$port/")
  log "$variant: h2, $BENCH_ROUNDS x ${BENCH_SECONDS}s, h2load -c$H2_CLIENTS -m$H2_STREAMS ${args[*]}"
  run_h2load "$RAW/$variant.h2.warmup.txt" -D "$BENCH_WARMUP" "${args[@]}" || true
  while [ $good -lt "$BENCH_ROUNDS" ] && [ $tries -lt $((BENCH_ROUNDS + BENCH_RETRIES)) ]; do
    tries=$((tries + 1))
    out="$RAW/$variant.h2.$tries.txt"
    wait_quiet "$variant h2 round $tries"
    proxy_alive "$pid" || { note "$variant: proxy died before h2 round $tries"; return 1; }
    sample_begin "$pid"
    run_h2load "$out" -D "$BENCH_SECONDS" "${args[@]}" || note "$variant h2 round $tries: h2load exit $?"
    sample_end "$pid"
    proxy_alive "$pid" || { note "$variant: proxy died during h2 round $tries"; return 1; }
    proto=$(h2load_protocol "$out")
    if [ "$proto" != h2 ]; then
      note "$variant h2 round $tries: h2load got \"${proto:-no connection}\", not h2 (bench/results/raw/$variant.h2.$tries.txt)"
      return 1
    fi
    tlsv=$(h2load_tls "$out")
    [ "$tlsv" = TLSv1.3 ] || note "$variant h2 round $tries: negotiated $tlsv, not TLSv1.3"
    reqs=$(h2load_succeeded "$out")
    if [ -z "$reqs" ] || [ "$reqs" -eq 0 ]; then
      note "$variant h2 round $tries: no request succeeded in ${BENCH_SECONDS}s (bench/results/raw/$variant.h2.$tries.txt)"
      continue
    fi
    errs=$(h2load_errors "$out")
    if [ "$errs" -gt 0 ]; then
      note "$variant h2 round $tries: $errs failed / non-2xx requests besides $reqs that succeeded"
    fi
    log "  round $tries: $(h2load_rps "$out") req/s, proxy ${PROXY_S}s CPU; other jobs: CPU 0 ${OTHER0%.*} %, CPU 1 ${OTHER1%.*} %"
    judge_round "$variant h2 round $tries" $good $tries
    [ $ROUND_RETRY = 1 ] && continue
    [ "$DISTURBED" = 1 ] || good=$((good + 1))
    record h2_rps "$variant" "$(h2load_rps "$out")"
    record h2_cpu0 "$variant" "$BUSY0"
    record h2_cpu "$variant" "$(calc "$PROXY_S * 1000000 / $reqs")"
    record h2_util "$variant" "$(calc "$PROXY_S * 100 / $WALL")"
  done
}

# 3. bulk: one 1 GiB download per round with curl on CPU 0.
measure_bulk() {
  local variant=$1 pid=$2 port=$3 out speed size good=0 tries=0
  local url="http://127.0.0.1:$port/files/1g"
  log "$variant: bulk, $BENCH_ROUNDS x 1 GiB, $url"
  # Warm-up: one whole download (proxy buffers, JIT, and the file's page cache, which the
  # kernel may have reclaimed since start-up).
  taskset -c 0 curl -sS --max-time 120 -o /dev/null "$url" || true
  while [ $good -lt "$BENCH_ROUNDS" ] && [ $tries -lt $((BENCH_ROUNDS + BENCH_RETRIES)) ]; do
    tries=$((tries + 1))
    out="$RAW/$variant.bulk.$tries.txt"
    wait_quiet "$variant bulk round $tries"
    proxy_alive "$pid" || { note "$variant: proxy died before bulk round $tries"; return 1; }
    sample_begin "$pid"
    taskset -c 0 curl -sS --max-time 120 -o /dev/null -w '%{speed_download} %{size_download}\n' \
      "$url" >"$out" 2>&1 || note "$variant bulk round $tries: curl failed: $(tail -1 "$out")"
    sample_end "$pid"
    proxy_alive "$pid" || { note "$variant: proxy died during bulk round $tries"; return 1; }
    read -r speed size <"$out" || true
    if [ "${size:-0}" != "$BULK_BYTES" ]; then
      note "$variant bulk round $tries: got ${size:-0} of $BULK_BYTES bytes"
      continue
    fi
    log "  round $tries: $(calc "$speed * 8 / 1e9") Gb/s, proxy ${PROXY_S}s CPU; other jobs: CPU 0 ${OTHER0%.*} %, CPU 1 ${OTHER1%.*} %"
    judge_round "$variant bulk round $tries" $good $tries
    [ $ROUND_RETRY = 1 ] && continue
    [ "$DISTURBED" = 1 ] || good=$((good + 1))
    record bulk_gbps "$variant" "$(calc "$speed * 8 / 1e9")"
    if [ -n "$pid" ]; then record bulk_cpu "$variant" "$(calc "$PROXY_S * 1000")"; fi
  done
}

# 4. RSS with idle connections. Each round uses a fresh proxy (so one round's heap does not
# become the next round's baseline), warmed up by one wrk second, then holds
# BENCH_IDLE_CONNS silent connections open through the tcp listener.
measure_idle() {
  local variant=$1 r client rss0 rss1 fd0 fd1 open deadline ready
  log "$variant: idle RSS, $BENCH_ROUNDS x $BENCH_IDLE_CONNS connections"
  for r in $(seq "$BENCH_ROUNDS"); do
    wait_quiet "$variant idle round $r"
    start_proxy "$variant" main || return 1
    run_wrk "$RAW/$variant.idle-warmup.$r.txt" -d"${BENCH_WARMUP}s" "http://127.0.0.1:$TCP_PORT/" || true
    sleep 1
    rss0=$(rss_kib "$PROXY_PID")
    fd0=$(fd_count "$PROXY_PID")
    start_bg "$variant-idle-client-$r" 0 "$REPO" "${IDLE_RUNTIME[@]}" "$HERE/idle_client.ts" \
      127.0.0.1 "$TCP_PORT" "$BENCH_IDLE_CONNS" 120
    client=$BG_PID
    deadline=$((SECONDS + 30))
    ready=
    while [ $SECONDS -lt $deadline ] && kill -0 "$client" 2>/dev/null; do
      ready=$(awk '$1 == "ready" { print $2, $3 }' "$RAW/$variant-idle-client-$r.out")
      [ -n "$ready" ] && break
      sleep 0.2
    done
    open=${ready%% *}
    if [ -z "$ready" ] || [ "$open" -eq 0 ]; then
      note "$variant idle round $r: client not ready ($(tail -c 200 "$RAW/$variant-idle-client-$r.err"))"
      stop_pid "$client"
      stop_pid "$PROXY_PID"
      continue
    fi
    if [ "${ready#* }" != 0 ]; then note "$variant idle round $r: ${ready#* } connections failed"; fi
    # Wait until the proxy holds both sides (client + upstream) of every connection, or the
    # fd count stops growing (a proxy that dials lazily).
    deadline=$((SECONDS + 10))
    fd1=0
    while [ $SECONDS -lt $deadline ]; do
      local prev=$fd1
      fd1=$(fd_count "$PROXY_PID")
      [ "$fd1" -ge $((fd0 + 2 * open)) ] && break
      [ "$fd1" -eq "$prev" ] && [ "$fd1" -gt "$fd0" ] && break
      sleep 0.5
    done
    sleep 1
    proxy_alive "$PROXY_PID" || { note "$variant: proxy died during idle round $r"; stop_pid "$client"; return 1; }
    rss1=$(rss_kib "$PROXY_PID")
    fd1=$(fd_count "$PROXY_PID")
    if [ $((fd1 - fd0)) -lt $((2 * open)) ]; then
      note "$variant idle round $r: proxy holds $((fd1 - fd0)) new fds for $open connections"
    fi
    DISTURBED=0 # memory, not CPU: other jobs do not matter here
    record rss_base "$variant" "$(calc "$rss0 / 1024")"
    record rss_idle "$variant" "$(calc "$rss1 / 1024")"
    record rss_per "$variant" "$(calc "($rss1 - $rss0) / $open")"
    stop_pid "$client"
    stop_pid "$PROXY_PID"
  done
}

# 8. workers: keep-alive and new connections through the tcp listener with N = 1 and N = nproc
# Switchyard processes (`workers: N`) / HAProxy threads (`nbthread N`), the proxy unpinned;
# its CPU time is that of its whole process tree (supervisor + workers).
run_workers_case() {
  local variant=$1 n i
  if is_switchyard "$variant" && ! check_router "$variant" workers; then
    note "$variant workers: config fails check: $CHECK_ERROR"
    set_status "$variant" "not run" "${WK_METRICS[@]}"
    return 0
  fi
  PROXY_UNPINNED=1
  PROXY_TREE=1
  for n in 1 "$WK_N2"; do
    i=2
    [ "$n" = 1 ] && i=1
    WORKERS=$n
    if start_proxy "$variant" workers; then
      if measure_wrk "wk_ka$i" "$variant" "$PROXY_PID" "http://127.0.0.1:$TCP_PORT/"; then
        measure_wrk "wk_nc$i" "$variant" "$PROXY_PID" "http://127.0.0.1:$TCP_PORT/" -H "Connection: close" || true
      fi
      stop_proxy
    fi
  done
  WORKERS=
  PROXY_UNPINNED=0
  PROXY_TREE=0
  set_status "$variant" "failed" "${WK_METRICS[@]}"
}

# Scaling factors N=nproc / N=1, from the medians.
workers_scaling() {
  local v c a b
  for v in haproxy deno bun; do
    for c in ka nc; do
      a=$(cell_value "wk_${c}2_rps" "$v")
      b=$(cell_value "wk_${c}1_rps" "$v")
      if [ -n "$a" ] && [ -n "$b" ] && [ "$(calc "$b != 0")" = 1 ]; then
        calc "$a / $b" >"$TMP/rounds/wk_${c}scale.$v"
      fi
    done
  done
}

# --- variants ---------------------------------------------------------------------------------

run_direct() {
  want ka && measure_keepalive direct "" "$NGINX_HTTP"
  want nc && measure_newconn direct "" "$NGINX_HTTP"
  want bulk && measure_bulk direct "" "$NGINX_HTTP"
  want tls && measure_tls direct "" "$NGINX_TLS"
  want http && measure_http direct "" "$NGINX_HTTP"
  # Nothing to compare with: nginx terminating its own TLS is not a proxy's termination.
  set_status direct "—" "${IDLE_METRICS[@]}" "${TLS_TERM_METRICS[@]}" "${WK_METRICS[@]}" \
    "${H2_METRICS[@]}"
}

run_proxy() {
  VARIANT_CASES=$(variant_cases "$1")
  want ka nc bulk tls idle && run_main_cases "$1"
  want http && run_http_case "$1"
  want tls_term && run_tls_term_case "$1"
  want workers && run_workers_case "$1"
  want h2 && run_h2_case "$1"
  VARIANT_CASES=
  return 0
}

# The cases of switchyard.yaml (tcp and tls passthrough), on one proxy process; idle RSS on
# fresh ones.
run_main_cases() {
  local variant=$1 all=("${KA_METRICS[@]}" "${NC_METRICS[@]}" "${BULK_METRICS[@]}"
    "${IDLE_METRICS[@]}" "${TLS_METRICS[@]}")
  if is_switchyard "$variant" && ! check_router "$variant" main; then
    note "$variant: tcp/tls config fails check: $CHECK_ERROR"
    set_status "$variant" "not run" "${all[@]}"
    return 0
  fi
  local started=1
  if want ka nc bulk tls; then
    if start_proxy "$variant" main; then
      # Each returns 1 when the proxy died; the rest of this process's cases are then skipped.
      if { ! want ka || measure_keepalive "$variant" "$PROXY_PID" "$TCP_PORT"; } &&
        { ! want nc || measure_newconn "$variant" "$PROXY_PID" "$TCP_PORT"; } &&
        { ! want bulk || measure_bulk "$variant" "$PROXY_PID" "$TCP_PORT"; }; then
        if want tls; then measure_tls "$variant" "$PROXY_PID" "$TLS_PORT" || true; fi
      fi
      stop_proxy
    else
      started=0
    fi
  fi
  # A proxy that did not start with this config would not start for the idle rounds either.
  if [ $started = 1 ] && want idle; then measure_idle "$variant" || true; fi
  set_status "$variant" "failed" "${all[@]}"
}

# The http case: skipped for Switchyard until its http listener exists (check fails, the
# router refuses to start, or it does not forward with X-Forwarded-For).
run_http_case() {
  local variant=$1 xff
  if is_switchyard "$variant" && ! check_router "$variant" http; then
    echo "skipped: router has no http listener yet ($variant: $CHECK_ERROR)"
    note "$variant http: skipped: router has no http listener yet (check: $CHECK_ERROR)"
    set_status "$variant" "skipped" "${HTTP_METRICS[@]}"
    return 0
  fi
  if ! start_proxy "$variant" http; then
    echo "skipped: router has no http listener yet ($variant refuses to start)"
    set_status "$variant" "skipped" "${HTTP_METRICS[@]}"
    return 0
  fi
  xff=$(curl -sS --max-time 5 -H "Host: $HTTP_HOST" "http://127.0.0.1:$HTTP_PORT/xff" 2>&1 || true)
  if [ "$xff" != "127.0.0.1" ]; then
    echo "skipped: router has no http listener yet ($variant: /xff answered \"$xff\")"
    note "$variant http: skipped: /xff through the proxy answered \"$(echo "$xff" | head -c 200)\""
    stop_proxy
    set_status "$variant" "skipped" "${HTTP_METRICS[@]}"
    return 0
  fi
  measure_http "$variant" "$PROXY_PID" "$HTTP_PORT" || true
  stop_proxy
  set_status "$variant" "failed" "${HTTP_METRICS[@]}"
}

# The tls_term case: the proxy terminates TLS (switchyard-tls-term.yaml, HAProxy tls_term_in)
# and forwards plain HTTP to nginx. Before measuring, one request through it must come back
# with X-Forwarded-For and X-Forwarded-Proto set, so both proxies do the same work.
run_tls_term_case() {
  local variant=$1 base xff xfp
  if is_switchyard "$variant" && ! check_router "$variant" tls_term; then
    note "$variant tls_term: config fails check: $CHECK_ERROR"
    set_status "$variant" "not run" "${TLS_TERM_METRICS[@]}"
    return 0
  fi
  if ! start_proxy "$variant" tls_term; then
    set_status "$variant" "failed" "${TLS_TERM_METRICS[@]}"
    return 0
  fi
  base="https://$SNI:$TLS_TERM_PORT"
  # -k: self-signed; --resolve: the proxy listens on 127.0.0.1 only, not on ::1.
  xff=$(curl -sSk --max-time 5 --resolve "$SNI:$TLS_TERM_PORT:127.0.0.1" "$base/xff" 2>&1 || true)
  xfp=$(curl -sSk --max-time 5 --resolve "$SNI:$TLS_TERM_PORT:127.0.0.1" "$base/xfp" 2>&1 || true)
  if [ "$xff" != "127.0.0.1" ] || [ "$xfp" != https ]; then
    note "$variant tls_term: not run: /xff and /xfp through the proxy answered \"$(echo "$xff" | head -c 200)\" and \"$(echo "$xfp" | head -c 200)\""
    stop_proxy
    set_status "$variant" "failed" "${TLS_TERM_METRICS[@]}"
    return 0
  fi
  resumption_check "$variant" "$TLS_TERM_PORT"
  if measure_tls_term "$variant" "$PROXY_PID" "$TLS_TERM_PORT"; then
    measure_tls_term_ka "$variant" "$PROXY_PID" "$TLS_TERM_PORT" || true
  fi
  stop_proxy
  set_status "$variant" "failed" "${TLS_TERM_METRICS[@]}"
}

# The h2 case: the proxy terminates TLS with ALPN h2 (switchyard-h2.yaml, HAProxy h2_in) and
# forwards HTTP/1.1 to nginx. Measured only when curl --http2 gets HTTP/2 through it, with
# X-Forwarded-For and X-Forwarded-Proto set; a proxy that answers over HTTP/1.1 (a Switchyard
# without HTTP/2, or with `alpn: [http/1.1]`) shows "no h2", not HTTP/1.1 figures.
run_h2_case() {
  local variant=$1 base ver xff xfp curl_h2
  if is_switchyard "$variant" && ! check_router "$variant" h2; then
    note "$variant h2: config fails check: $CHECK_ERROR"
    set_status "$variant" "not run" "${H2_METRICS[@]}"
    return 0
  fi
  if ! start_proxy "$variant" h2; then
    set_status "$variant" "failed" "${H2_METRICS[@]}"
    return 0
  fi
  base="https://$SNI:$H2_PORT"
  # -k: self-signed; --resolve: the proxy listens on 127.0.0.1 only, not on ::1.
  curl_h2=(curl -sSk --http2 --max-time 5 --resolve "$SNI:$H2_PORT:127.0.0.1")
  ver=$("${curl_h2[@]}" -o /dev/null -w '%{http_version}' "$base/" 2>&1 || true)
  xff=$("${curl_h2[@]}" "$base/xff" 2>&1 || true)
  xfp=$("${curl_h2[@]}" "$base/xfp" 2>&1 || true)
  if [ "$ver" != 2 ]; then
    note "$variant h2: not run: curl --http2 got HTTP/$(echo "$ver" | head -c 200) through the proxy (no ALPN h2)"
    stop_proxy
    set_status "$variant" "no h2" "${H2_METRICS[@]}"
    return 0
  fi
  if [ "$xff" != "127.0.0.1" ] || [ "$xfp" != https ]; then
    note "$variant h2: not run: /xff and /xfp through the proxy answered \"$(echo "$xff" | head -c 200)\" and \"$(echo "$xfp" | head -c 200)\""
    stop_proxy
    set_status "$variant" "failed" "${H2_METRICS[@]}"
    return 0
  fi
  measure_h2 "$variant" "$PROXY_PID" "$H2_PORT" || true
  stop_proxy
  set_status "$variant" "failed" "${H2_METRICS[@]}"
}

# --- report -----------------------------------------------------------------------------------

# metric|label|decimals|ratios (h: to HAProxy, d: to direct as well). The metric's prefix
# names its case (row_case); rows of cases not in BENCH_CASES are left out.
ROWS=(
  "ka_rps|keep-alive req/s (tcp, wrk -c$WRK_CONNS)|0|hd"
  "ka_p99|keep-alive p99 ms (tcp) ↓|2|hd"
  "ka_cpu|proxy CPU µs / keep-alive request ↓|1|h"
  "ka_util|proxy CPU busy %, keep-alive|0|"
  "ka_cpu0|CPU 0 busy % (wrk + nginx), keep-alive|0|"
  "nc_rps|new connections/s (tcp, Connection: close)|0|hd"
  "nc_cpu|proxy CPU µs / new connection ↓|1|h"
  "nc_util|proxy CPU busy %, new connections|0|"
  "nc_cpu0|CPU 0 busy %, new connections|0|"
  "bulk_gbps|bulk Gb/s (tcp, 1 GiB, curl)|2|hd"
  "bulk_cpu|proxy CPU ms / GiB ↓|0|h"
  "rss_base|proxy RSS before idle connections, MiB ↓|1|h"
  "rss_idle|proxy RSS with $BENCH_IDLE_CONNS idle connections, MiB ↓|1|h"
  "rss_per|KiB per idle connection ↓|1|h"
  "tls_rps|new TLS connections/s (SNI passthrough)|0|hd"
  "tls_cpu|proxy CPU µs / TLS connection ↓|1|h"
  "tls_util|proxy CPU busy %, TLS|0|"
  "tls_cpu0|CPU 0 busy %, TLS|0|"
  "http_rps|keep-alive req/s (http, Host routing + XFF)|0|hd"
  "http_p99|keep-alive p99 ms (http) ↓|2|hd"
  "http_cpu|proxy CPU µs / http request ↓|1|h"
  "tlst_rps|TLS handshakes/s, terminated by the proxy (full, TLS 1.2, Connection: close)|0|h"
  "tlst_cpu|proxy CPU µs / terminated TLS connection ↓|1|h"
  "tlst_util|proxy CPU busy %, terminated handshakes|0|"
  "tlst_cpu0|CPU 0 busy % (wrk + nginx), terminated handshakes|0|"
  "tlsk_rps|keep-alive req/s over terminated TLS (TLS 1.3)|0|h"
  "tlsk_p99|keep-alive p99 ms over terminated TLS ↓|2|h"
  "tlsk_cpu|proxy CPU µs / request over terminated TLS (keep-alive) ↓|1|h"
  "tlsk_util|proxy CPU busy %, keep-alive over terminated TLS|0|"
  "tlsk_cpu0|CPU 0 busy %, keep-alive over terminated TLS|0|"
  "h2_rps|h2 req/s over terminated TLS 1.3 (h2load -c$H2_CLIENTS -m$H2_STREAMS)|0|h"
  "h2_cpu|proxy CPU µs / h2 request ↓|1|h"
  "h2_util|proxy CPU busy %, h2|0|"
  "h2_cpu0|CPU 0 busy % (h2load + nginx), h2|0|"
  "wk_ka1_rps|workers N=1: keep-alive req/s (tcp, proxy unpinned)|0|h"
  "wk_ka2_rps|workers N=$WK_N2: keep-alive req/s (tcp, proxy unpinned)|0|h"
  "wk_kascale|workers: keep-alive scaling N=$WK_N2 / N=1|2|"
  "wk_ka1_cpu|workers N=1: proxy CPU µs / keep-alive request ↓|1|h"
  "wk_ka2_cpu|workers N=$WK_N2: proxy CPU µs / keep-alive request ↓|1|h"
  "wk_ka1_util|workers N=1: proxy CPU busy % (all processes), keep-alive|0|"
  "wk_ka2_util|workers N=$WK_N2: proxy CPU busy % (all processes), keep-alive|0|"
  "wk_ka1_load|workers N=1: wrk + nginx CPU %, keep-alive|0|"
  "wk_ka2_load|workers N=$WK_N2: wrk + nginx CPU %, keep-alive|0|"
  "wk_ka1_cpu0|workers N=1: CPU 0 busy %, keep-alive|0|"
  "wk_ka1_cpu1|workers N=1: CPU 1 busy %, keep-alive|0|"
  "wk_ka2_cpu0|workers N=$WK_N2: CPU 0 busy %, keep-alive|0|"
  "wk_ka2_cpu1|workers N=$WK_N2: CPU 1 busy %, keep-alive|0|"
  "wk_nc1_rps|workers N=1: new connections/s (tcp, proxy unpinned)|0|h"
  "wk_nc2_rps|workers N=$WK_N2: new connections/s (tcp, proxy unpinned)|0|h"
  "wk_ncscale|workers: new connections scaling N=$WK_N2 / N=1|2|"
  "wk_nc1_cpu|workers N=1: proxy CPU µs / new connection ↓|1|h"
  "wk_nc2_cpu|workers N=$WK_N2: proxy CPU µs / new connection ↓|1|h"
  "wk_nc1_util|workers N=1: proxy CPU busy % (all processes), new connections|0|"
  "wk_nc2_util|workers N=$WK_N2: proxy CPU busy % (all processes), new connections|0|"
  "wk_nc1_load|workers N=1: wrk + nginx CPU %, new connections|0|"
  "wk_nc2_load|workers N=$WK_N2: wrk + nginx CPU %, new connections|0|"
  "wk_nc1_cpu0|workers N=1: CPU 0 busy %, new connections|0|"
  "wk_nc1_cpu1|workers N=1: CPU 1 busy %, new connections|0|"
  "wk_nc2_cpu0|workers N=$WK_N2: CPU 0 busy %, new connections|0|"
  "wk_nc2_cpu1|workers N=$WK_N2: CPU 1 busy %, new connections|0|"
)
row_case() {
  case ${1%%_*} in
    rss) echo idle ;;
    tlst | tlsk) echo tls_term ;;
    wk) echo workers ;;
    *) echo "${1%%_*}" ;;
  esac
}

cell_value() { # median of the clean rounds, else of the disturbed ones
  if [ -s "$TMP/rounds/$1.$2" ]; then median_of "$TMP/rounds/$1.$2"; else median_of "$TMP/disturbed/$1.$2"; fi
}
cell_text() { # formatted median (* if only disturbed rounds), or the status text, or —
  local v
  # A case this variant does not run (variant_cases), e.g. Caddy's tcp rows: —.
  [[ " $(variant_cases "$2") " == *" $(row_case "$1") "* ]] || { echo "—"; return; }
  v=$(cell_value "$1" "$2")
  if [ -n "$v" ]; then
    printf "%.${3}f" "$v"
    [ -s "$TMP/rounds/$1.$2" ] || printf '*'
  elif [ -s "$TMP/status/$1.$2" ]; then cat "$TMP/status/$1.$2"
  else echo "—"; fi
}
ratio() { # ratio METRIC VARIANT REFERENCE
  local a b
  a=$(cell_value "$1" "$2")
  b=$(cell_value "$1" "$3")
  if [ -n "$a" ] && [ -n "$b" ] && [ "$(calc "$b != 0")" = 1 ]; then
    printf "%.2f" "$(calc "$a / $b")"
  else echo "—"; fi
}

# What the access log costs Switchyard: proxy CPU µs per request (per connection in nc and the
# handshake rounds) with the log on minus with it off, and that as a share of the logged figure.
logging_cost() {
  local row m label v on off parts out=""
  for row in "nc_cpu|nc" "http_cpu|http" "tlst_cpu|tls_term handshakes" "tlsk_cpu|tls_term keep-alive" "h2_cpu|h2"; do
    IFS='|' read -r m label <<<"$row"
    want "$(row_case "$m")" || continue
    parts=""
    for v in deno bun; do
      on=$(cell_value "$m" "$v")
      off=$(cell_value "$m" "$v-nolog")
      if [ -z "$on" ] || [ -z "$off" ] || [ "$(calc "$on != 0")" != 1 ]; then continue; fi
      parts+=", ${v^} $(printf '%.1f' "$(calc "$on - $off")") ($(printf '%.0f' "$(calc "($on - $off) * 100 / $on")") %)"
    done
    [ -n "$parts" ] && out+="; $label:${parts#,}"
  done
  [ -n "$out" ] || return 0
  echo "- Access log cost, proxy CPU µs per request or connection (log on − log off, share of log on;"
  echo "  a negative one is run-to-run noise): ${out#; }."
}

machine_info() {
  echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
  echo "- haproxy $(haproxy -v | awk 'NR == 1 { print $3 }'), nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')," \
    "deno $(deno --version | awk 'NR == 1 { print $2 }'), bun $(bun --version)," \
    "wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }'), curl $(curl --version | awk 'NR == 1 { print $2 }'), $(openssl version | awk '{ print $1, $2 }')"
  echo "- switchyard: $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$REPO" && [ -n "$(git status --porcelain -- src 2>/dev/null)" ] && echo " + uncommitted changes in src/")"
  [ "$BENCH_CASES" = "$ALL_CASES" ] || echo "- cases: $BENCH_CASES (BENCH_CASES)"
  if want h2; then echo "- h2load $(h2load --version | awk '{ print $2 }')"; fi
  if [[ " $BENCH_VARIANTS " == *" caddy "* ]] && command -v caddy >/dev/null; then
    echo "- caddy $(caddy version | awk '{ print $1 }') (GOMAXPROCS=1)"
  fi
  echo "- method: proxy on CPU 1 (unpinned in the workers case), nginx (1 worker) + load tools on CPU 0, loopback; median of $BENCH_ROUNDS rounds of ${BENCH_SECONDS}s (wrk -t1 -c$WRK_CONNS, ${BENCH_WARMUP}s warm-up); CPU from /proc/PID/stat (utime+stime, $CLK_TCK Hz); rounds where other jobs took > $BENCH_NOISE % of a CPU are repeated (up to $BENCH_RETRIES times per case)"
}

# Which figures were set by a saturated CPU: CPU 0 (wrk + nginx) or the proxy on CPU 1.
saturation() {
  local c v load proxy out=""
  for c in ka nc tls http tlst tlsk h2; do
    for v in $ALL_VARIANTS; do
      load=$(cell_value "${c}_cpu0" "$v")
      proxy=$(cell_value "${c}_util" "$v")
      if [ -n "$proxy" ] && [ "$(calc "$proxy >= 95")" = 1 ]; then
        out+=" $c/${v}: proxy;"
      elif [ -n "$load" ] && [ "$(calc "$load >= 95")" = 1 ]; then
        out+=" $c/${v}: load side;"
      fi
    done
  done
  if [ -n "$out" ]; then
    echo
    echo "Saturated CPU (≥ 95 % busy) per case/variant:${out%;}."
  fi
}

report() {
  local row m label dec flags v line
  echo "# Switchyard benchmark ($(date -u +%Y-%m-%dT%H:%MZ), ${RUN_SECONDS}s)"
  echo
  machine_info
  echo
  echo "| metric | direct | HAProxy | Caddy | Switchyard-Deno | Switchyard-Bun | Deno, log off | Bun, log off | Deno/HAProxy | Bun/HAProxy | Caddy/HAProxy | Deno/direct | Bun/direct |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for row in "${ROWS[@]}"; do
    IFS='|' read -r m label dec flags <<<"$row"
    want "$(row_case "$m")" || continue
    line="| $label"
    for v in direct haproxy caddy deno bun deno-nolog bun-nolog; do line+=" | $(cell_text "$m" "$v" "$dec")"; done
    for v in deno bun caddy; do
      if [[ $flags == *h* ]]; then line+=" | $(ratio "$m" "$v" haproxy)"; else line+=" | —"; fi
    done
    for v in deno bun; do
      if [[ $flags == *d* ]]; then line+=" | $(ratio "$m" "$v" direct)"; else line+=" | —"; fi
    done
    echo "$line |"
  done
  echo
  # A list, so that `deno fmt` (run on the saved table) keeps these apart.
  echo "- ↓: lower is better. Ratios are value / reference. CPU 0 near 100 % means wrk and nginx,"
  echo "  not the proxy, set the req/s and conn/s figures; compare the µs-per-request rows then."
  echo "- Access logs: every proxy writes one JSON line per request (http, terminated TLS, h2 streams)"
  echo "  or per connection (tcp/tls listeners and frontends) to stdout, redirected to a file"
  echo "  (Switchyard's own lines, HAProxy \`log stdout\` + a JSON \`log-format\`, Caddy's \`log\`)."
  echo "  \"log off\": Switchyard with \`run --access-log off\`, run in the ${NOLOG_CASES// /, } cases only."
  echo "  Caddy runs in the ${CADDY_CASES// /, } cases only (GOMAXPROCS=1, pinned as the others)."
  logging_cost
  if want tls_term; then
    echo "- Terminated TLS: every proxy uses the same ECDSA P-256 certificate and adds X-Forwarded-For and"
    echo "  X-Forwarded-Proto. Handshakes use TLS 1.2 without tickets so that none is resumed (wrk would"
    echo "  redeem Switchyard's TLS 1.3 tickets); direct (nginx) terminates nothing for them: —."
  fi
  if want h2; then
    echo "- h2: h2load (-c$H2_CLIENTS -m$H2_STREAMS, one thread) over TLS 1.3 terminated by the proxy with ALPN h2;"
    echo "  HTTP/1.1 keep-alive from the proxy to nginx, with X-Forwarded-For and X-Forwarded-Proto. A"
    echo "  proxy that does not negotiate h2 shows \"no h2\"; direct: —."
  fi
  if want workers; then
    echo "- workers: the proxy runs unpinned (any CPU) with N = 1 and N = $WK_N2; nginx and wrk stay on CPU 0."
    echo "  Switchyard's CPU is its supervisor plus all workers; \"wrk + nginx CPU %\" is the load"
    echo "  generator's share of the $(nproc) cores (100 = one core). Ratios at N=$WK_N2 compare like with like."
  fi
  echo "- *: every round of that figure was disturbed by other jobs on the machine (see notes)."
  saturation
  if [ "$RETRIED" -gt 0 ]; then
    note "$RETRIED rounds were repeated because other jobs used the CPUs (threshold $BENCH_NOISE %)"
  fi
  if [ -s "$TMP/notes" ]; then
    echo
    echo "Notes:"
    echo
    cat "$TMP/notes"
  fi
}

# --- main -------------------------------------------------------------------------------------

main() {
  local start=$SECONDS v table=latest.md tools=()
  start_watchdog
  for v in $BENCH_CASES; do
    [[ " $ALL_CASES " == *" $v "* ]] || { echo "bench: unknown case $v ($ALL_CASES)" >&2; exit 2; }
  done
  for v in $BENCH_VARIANTS; do
    [[ " $ALL_VARIANTS " == *" $v "* ]] || { echo "bench: unknown variant $v ($ALL_VARIANTS)" >&2; exit 2; }
  done
  want h2 && tools+=(h2load)
  # Caddy (and jq, which turns its session tickets off) only when it has a case to run.
  # shellcheck disable=SC2086 # split: one word a case
  if [[ " $BENCH_VARIANTS " == *" caddy "* ]] && want $CADDY_CASES; then tools+=(caddy jq); fi
  ensure_tools "${tools[@]}"
  haproxy -v | head -1 | grep -q ' 2\.6\.' || log "warning: HAProxy is not 2.6: $(haproxy -v | head -1)"
  rm -rf "$RAW"
  mkdir -p "$RAW" "$TMP/rounds" "$TMP/disturbed" "$TMP/status"
  : >"$TMP/notes"
  # 2,000 idle connections are 4,000 fds in the proxy; HAProxy wants 2 x maxconn.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 20000 ] || ulimit -n 20000 2>/dev/null || true
  # The idle client runs on Bun when it can (smaller and faster to start), else on Deno.
  if command -v bun >/dev/null; then IDLE_RUNTIME=(bun); else IDLE_RUNTIME=(deno run -A); fi
  start_backend
  for v in $BENCH_VARIANTS; do
    case $v in
      direct) run_direct ;;
      haproxy | caddy | deno | deno-nolog | bun | bun-nolog) run_proxy "$v" ;;
      *) echo "bench: unknown variant $v ($ALL_VARIANTS)" >&2; exit 2 ;;
    esac
  done
  want workers && workers_scaling
  RUN_SECONDS=$((SECONDS - start))
  mkdir -p "$RESULTS"
  [ "$BENCH_CASES" = "$ALL_CASES" ] || table="latest-$(echo "$BENCH_CASES" | tr -s ' ' '-').md"
  report | tee "$RESULTS/$table"
  # Aligned columns, so that `deno fmt --check bench/` passes on the saved table.
  (cd "$REPO" && deno fmt -q "$RESULTS/$table") || log "deno fmt of $table failed; left as printed"
  cp "$TMP/nginx-error.log" "$RAW/" 2>/dev/null || true
  log "done in ${RUN_SECONDS}s; table in bench/results/$table, raw output in bench/results/raw/"
}

main "$@"
