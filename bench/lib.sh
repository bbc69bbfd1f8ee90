# shellcheck shell=bash disable=SC2034  # CLK_TCK etc. are used by run.sh
# Helpers for bench/run.sh: processes, ports, /proc sampling, wrk and h2load parsing, medians.
# Sourced, not run. Expects TMP (scratch dir) and RAW (raw output dir) to be set.

# Every process this run started, so the EXIT trap can stop exactly those (by PID).
STARTED_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- tools ------------------------------------------------------------------------------------

# bench_scratch [TOOL...]: the set-up of the side scripts (profile.sh, floor.sh, paired.sh):
# RAW made, TMP a fresh scratch dir, both it and every process started removed on exit, the
# tools ensured (plus these), and the project's deno and bun first in PATH. Expects HERE, REPO.
bench_scratch() {
  RAW=$HERE/results/raw
  mkdir -p "$RAW"
  TMP=$(mktemp -d)
  trap 'stop_all; rm -rf "$TMP"' EXIT
  ensure_tools "$@"
  export PATH="$REPO/node_modules/.bin:$PATH"
}

# Installs missing tools with apt-get; `apt-get update` only runs when something is missing.
# ensure_tools [CMD...]: the tools every run uses, plus these (h2load for the h2 case, caddy
# and jq for the caddy variant).
ensure_tools() {
  local -A pkg_of=([haproxy]=haproxy [nginx]=nginx [wrk]=wrk [openssl]=openssl [curl]=curl
    [taskset]=util-linux [timeout]=coreutils [pgrep]=procps [h2load]=nghttp2-client
    [caddy]=caddy [jq]=jq)
  local missing=() cmd
  for cmd in haproxy nginx wrk openssl curl taskset timeout pgrep "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench: missing ${missing[*]} and not root; install them first" >&2
    return 1
  fi
  # Note: on a machine without a policy-rc.d, installing nginx/haproxy also starts their
  # system services (on :80); those are the distribution's, not stopped by this script.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- ports ------------------------------------------------------------------------------------

PICKED_PORTS=" "

# True when some socket (any state) on this host uses local port $1.
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Prints a free port on 127.0.0.1, below the ephemeral range (32768+) so that no outgoing
# connection of the load tools can collide with it.
pick_port() {
  local p tries=0
  while [ $tries -lt 1000 ]; do
    p=$((20000 + RANDOM % 12000))
    tries=$((tries + 1))
    case "$PICKED_PORTS" in *" $p "*) continue ;; esac
    port_in_use "$p" && continue
    PICKED_PORTS+="$p "
    echo "$p"
    return 0
  done
  echo "bench: no free port found" >&2
  return 1
}

# True when something listens on 127.0.0.1:$1 (read from /proc: no probe connection that a
# proxy would count, log or hold open).
port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  grep -Eq "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Waits up to $2 s until port $1 listens; fails early if process $3 (optional) has exited.
wait_listening() {
  local port=$1 deadline=$((SECONDS + $2)) pid=${3:-}
  while [ $SECONDS -lt $deadline ]; do
    port_listening "$port" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# --- processes --------------------------------------------------------------------------------

# start_bg NAME CPU DIR CMD...: runs CMD pinned to CPU in DIR, output in $RAW/NAME.{out,err}.
# Sets BG_PID (the exec chain subshell -> taskset -> CMD keeps one PID, so BG_PID is CMD's).
start_bg() {
  local name=$1 cpu=$2 dir=$3
  shift 3
  (cd "$dir" && exec taskset -c "$cpu" "$@") >"$RAW/$name.out" 2>"$RAW/$name.err" &
  BG_PID=$!
  STARTED_PIDS+=("$BG_PID")
}

# Stops one process we started (TERM, then KILL after 5 s), by PID, and forgets it: once
# reaped, its PID may belong to someone else. Children (nginx workers) are killed by PID only
# if their parent needed a KILL; on TERM nginx stops its workers itself.
stop_pid() {
  local pid=$1 children i keep=()
  for i in "${STARTED_PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
  STARTED_PIDS=("${keep[@]}")
  if kill -0 "$pid" 2>/dev/null; then
    children=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      for i in $children; do kill -KILL "$i" 2>/dev/null || true; done
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  while [ ${#STARTED_PIDS[@]} -gt 0 ]; do stop_pid "${STARTED_PIDS[-1]}"; done
}

# --- backend ----------------------------------------------------------------------------------

# Starts nginx (conf/nginx.conf) on CPU 0 as process NAME ($1), with a fresh ECDSA P-256
# certificate for $SNI in $TMP/tls (cert.pem, key.pem, and haproxy.pem: both in one file), for
# the side scripts (run.sh also makes the bulk file and checks the config). Sets NGINX_HTTP and
# NGINX_TLS.
start_nginx_backend() {
  NGINX_HTTP=$(pick_port)
  NGINX_TLS=$(pick_port)
  mkdir -p "$TMP/www/files" "$TMP/tls" "$TMP/nginx-tmp"
  chmod 755 "$TMP" "$TMP/www" "$TMP/www/files"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
    -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" 2>/dev/null
  cat "$TMP/tls/cert.pem" "$TMP/tls/key.pem" >"$TMP/tls/haproxy.pem"
  sed -e "s|@TMP@|$TMP|g" -e "s|@NGINX_HTTP@|$NGINX_HTTP|g" -e "s|@NGINX_TLS@|$NGINX_TLS|g" \
    -e "s|@SNI@|$SNI|g" "$HERE/conf/nginx.conf" >"$TMP/nginx.conf"
  start_bg "$1" 0 "$TMP" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
  wait_listening "$NGINX_HTTP" 10
}

render() { # render TEMPLATE OUT: fill the @NAME@ tokens of a bench/conf template
  sed -e "s|@TMP@|$TMP|g" -e "s|@NGINX_HTTP@|$NGINX_HTTP|g" -e "s|@NGINX_TLS@|$NGINX_TLS|g" \
    -e "s|@TCP_PORT@|${TCP_PORT:-0}|g" -e "s|@TLS_PORT@|${TLS_PORT:-0}|g" \
    -e "s|@HTTP_PORT@|${HTTP_PORT:-0}|g" -e "s|@TLS_TERM_PORT@|${TLS_TERM_PORT:-0}|g" \
    -e "s|@H2_PORT@|${H2_PORT:-0}|g" \
    -e "s|@WORKERS@|${WORKERS:-1}|g" -e "s|@SNI@|$SNI|g" -e "s|@HTTP_HOST@|$HTTP_HOST|g" \
    "$1" >"$2"
}

# --- /proc sampling ---------------------------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)

# utime+stime of a process (all threads), in clock ticks; 0 without a PID.
cpu_ticks() {
  if [ -z "${1:-}" ] || [ ! -r "/proc/$1/stat" ]; then echo 0; return; fi
  # Fields after "(comm) ": state is 1, utime 12, stime 13.
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# "busy total" jiffies of CPU $1 from /proc/stat, to show whether the load side saturates.
cpu_jiffies() {
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

now() { date +%s.%N; }

# --- wrk output -------------------------------------------------------------------------------

wrk_requests() { awk '/ requests in / { print $1 }' "$1"; }
wrk_rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
# p99 in ms (wrk prints us, ms, s or m).
wrk_p99_ms() {
  awk '$1 == "99%" {
    v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f > 0) printf "%.3f\n", v * f
  }' "$1"
}
# Socket errors plus non-2xx responses, as one count.
wrk_errors() {
  awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
       /Non-2xx or 3xx responses:/ { n += $5 }
       END { print n + 0 }' "$1"
}

# --- h2load output ---------------------------------------------------------------------------

# "finished in 5.00s, 61234.56 req/s, ...": succeeded requests per second of the run.
h2load_rps() { awk '/^finished in / { print $4 }' "$1"; }
# From "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout".
h2load_succeeded() { awk '/^requests: / { print $8 }' "$1"; }
# Failed requests plus non-2xx responses ("status codes: N 2xx, N 3xx, N 4xx, N 5xx"), as one count.
h2load_errors() {
  awk '/^requests: / { n += $10 } /^status codes: / { n += $5 + $7 + $9 } END { print n + 0 }' "$1"
}
# The ALPN protocol ("h2", "http/1.1") and TLS version the connections got; empty if none did.
h2load_protocol() { awk '/^Application protocol: / { print $3; exit }' "$1"; }
h2load_tls() { awk '/^TLS Protocol: / { print $3; exit }' "$1"; }

# --- numbers ----------------------------------------------------------------------------------

# Median of the numbers in file $1 (one a line); empty when there are none.
median_of() {
  [ -s "$1" ] || return 0
  sort -g "$1" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

calc() { awk "BEGIN { print ($*) }"; } # parenthesised: a bare ">" would redirect

# --- process trees (workers case) -------------------------------------------------------------

PROXY_TREE=0     # 1: the proxy's CPU time is that of its whole process tree
PROXY_UNPINNED=0 # 1: the proxy runs on every CPU (workers case)

# PID $1 and all its descendants (from the ppid field of /proc/*/stat).
tree_pids() {
  local want=" $1 " grew=1 pid list
  echo "$1"
  while [ $grew = 1 ]; do
    grew=0
    list=${want# }
    list=${list% }
    list=${list// /,}
    for pid in $(pgrep -P "$list" 2>/dev/null || true); do
      case "$want" in *" $pid "*) continue ;; esac
      want+="$pid "
      echo "$pid"
      grew=1
    done
  done
}

# utime+stime of the proxy: PID $1 alone, or its whole tree with PROXY_TREE=1.
proxy_ticks() {
  local total=0 pid
  if [ "$PROXY_TREE" != 1 ] || [ -z "${1:-}" ]; then cpu_ticks "${1:-}"; return; fi
  for pid in $(tree_pids "$1"); do total=$((total + $(cpu_ticks "$pid"))); done
  echo "$total"
}

# Sockets listening on 127.0.0.1:$1 (one per worker with SO_REUSEPORT).
listen_count() {
  local hex
  hex=$(printf '%04X' "$1")
  grep -Ec "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -F: '{ s += $NF } END { print s + 0 }'
}
