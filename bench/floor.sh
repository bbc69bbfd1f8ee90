#!/usr/bin/env bash
# What the runtimes themselves cost: the least a Deno or Bun proxy can do (bench/floor/),
# beside HAProxy and Switchyard, in the same run, on the two paths where Switchyard is furthest
# from HAProxy: new tcp connections and keep-alive requests over terminated TLS.
#
#   bash bench/floor.sh            # 8 rounds of 2 s per variant and case
#   FLOOR_ROUNDS=3 FLOOR_SECONDS=1 bash bench/floor.sh   # smoke run
#
# Every proxy runs at once, pinned to CPU 1 and idle until its turn; nginx and wrk run on CPU 0.
# Each round loads every variant in turn (wrk -t1 -c50), so slow phases of the host hit all
# of them alike; the table has the median of the rounds. CPU is utime+stime from /proc.
# First, before any load, the tcp proxies' RSS with FLOOR_IDLE_CONNS (8000) silent connections
# held through them (bench/idle_client.ts): with fewer, a garbage collection between the two
# samples can hide the connections' cost. Writes bench/results/floor.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
RESULTS=$HERE/results
ROUNDS=${FLOOR_ROUNDS:-8}
SECS=${FLOOR_SECONDS:-2}
IDLE_CONNS=${FLOOR_IDLE_CONNS:-8000}
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_scratch

SNI=localhost
start_nginx_backend floor-nginx

# HAProxy: bench/conf/haproxy.cfg's tcp_in and tls_term_in (JSON access log to stdout).
declare -A PORT PID
for v in haproxy switchyard-deno switchyard-bun floor-deno floor-bun \
  floor-deno-duplex floor-bun-duplex floor-deno-native floor-bun-native; do
  PORT[nc/$v]=$(pick_port)
  PORT[tls/$v]=$(pick_port)
done
sed -e "s|@TMP@|$TMP|g" -e "s|@NGINX_HTTP@|$NGINX_HTTP|g" -e "s|@NGINX_TLS@|$NGINX_TLS|g" \
  -e "s|@SNI@|$SNI|g" -e "s|@HTTP_HOST@|$SNI|g" -e "s|@TCP_PORT@|${PORT[nc/haproxy]}|g" \
  -e "s|@TLS_TERM_PORT@|${PORT[tls/haproxy]}|g" -e "s|@TLS_PORT@|$(pick_port)|g" \
  -e "s|@HTTP_PORT@|$(pick_port)|g" -e "s|@H2_PORT@|$(pick_port)|g" \
  "$HERE/conf/haproxy.cfg" >"$TMP/haproxy.cfg"
start_bg floor-haproxy 1 "$TMP" haproxy -f "$TMP/haproxy.cfg"
PID[nc/haproxy]=$BG_PID
PID[tls/haproxy]=$BG_PID

# Switchyard: a tcp listener to nginx, and bench/conf/switchyard-tls-term.yaml.
for rt in deno bun; do
  cat >"$TMP/sy-$rt.yaml" <<YAML
listeners:
  tcp_in: { bind: ["127.0.0.1:${PORT[nc/switchyard-$rt]}"], protocol: tcp, routes: [{ to: nginx }] }
backends:
  nginx: { servers: ["127.0.0.1:$NGINX_HTTP"] }
YAML
  sed -e "s|@TMP@|$TMP|g" -e "s|@NGINX_HTTP@|$NGINX_HTTP|g" -e "s|@SNI@|$SNI|g" \
    -e "s|@TLS_TERM_PORT@|${PORT[tls/switchyard-$rt]}|g" \
    "$HERE/conf/switchyard-tls-term.yaml" >"$TMP/sy-tls-$rt.yaml"
  case $rt in
    deno) run=(deno run -A src/main.ts) ;;
    bun) run=(bun src/main.ts) ;;
  esac
  start_bg "floor-sy-$rt" 1 "$REPO" "${run[@]}" run -c "$TMP/sy-$rt.yaml"
  PID[nc/switchyard-$rt]=$BG_PID
  start_bg "floor-sy-tls-$rt" 1 "$REPO" "${run[@]}" run -c "$TMP/sy-tls-$rt.yaml"
  PID[tls/switchyard-$rt]=$BG_PID
done

# The floors.
start_bg floor-tcp-deno 1 "$REPO" deno run -A bench/floor/tcp_deno.ts \
  "${PORT[nc/floor-deno]}" "$NGINX_HTTP"
PID[nc/floor-deno]=$BG_PID
start_bg floor-tcp-bun 1 "$REPO" bun bench/floor/tcp_bun.ts "${PORT[nc/floor-bun]}" "$NGINX_HTTP"
PID[nc/floor-bun]=$BG_PID
for rt in deno bun; do
  for mode in duplex native; do
    case $rt in
      deno) run=(deno run -A) ;;
      bun) run=(bun) ;;
    esac
    start_bg "floor-tls-$rt-$mode" 1 "$REPO" "${run[@]}" bench/floor/tls_relay.mjs "$mode" \
      "${PORT[tls/floor-$rt-$mode]}" "$NGINX_HTTP" "$TMP/tls/cert.pem" "$TMP/tls/key.pem"
    PID[tls/floor-$rt-$mode]=$BG_PID
  done
done

NC_VARIANTS="haproxy floor-deno switchyard-deno floor-bun switchyard-bun"
TLS_VARIANTS="haproxy floor-deno-native floor-deno-duplex switchyard-deno floor-bun-native floor-bun-duplex switchyard-bun"
for k in "${!PORT[@]}"; do
  [ -n "${PID[$k]:-}" ] || continue
  wait_listening "${PORT[$k]}" 30 "${PID[$k]}" || { echo "floor: $k did not listen" >&2; exit 1; }
done

# load CASE VARIANT SECONDS: prints the requests wrk completed.
load() {
  local url
  case $1 in
    nc) url=(-H "Connection: close" "http://127.0.0.1:${PORT[$1/$2]}/") ;;
    tls) url=("https://$SNI:${PORT[$1/$2]}/") ;;
  esac
  taskset -c 0 wrk -t1 -c50 -d"$3s" "${url[@]}" | awk '/ requests in / { print $1 }'
}

# idle VARIANT: "RSS0 RSS1" in KiB, before and with IDLE_CONNS idle connections through it.
idle() {
  local pid=${PID[nc/$1]} rss0 rss1 fd0 fd1 prev client deadline
  rss0=$(rss_kib "$pid")
  fd0=$(fd_count "$pid")
  start_bg "floor-idle-$1" 0 "$REPO" bun "$HERE/idle_client.ts" 127.0.0.1 "${PORT[nc/$1]}" \
    "$IDLE_CONNS" 120
  client=$BG_PID
  deadline=$((SECONDS + 30))
  until grep -q '^ready' "$RAW/floor-idle-$1.out" 2>/dev/null || [ $SECONDS -ge $deadline ]; do
    sleep 0.2
  done
  # Until the proxy holds both sides of every connection, or its fd count stops growing.
  deadline=$((SECONDS + 10))
  fd1=0
  while [ $SECONDS -lt $deadline ]; do
    prev=$fd1
    fd1=$(fd_count "$pid")
    [ "$fd1" -ge $((fd0 + 2 * IDLE_CONNS)) ] || [ "$fd1" = "$prev" ] && break
    sleep 0.5
  done
  sleep 2
  rss1=$(rss_kib "$pid")
  stop_pid "$client"
  echo "$rss0 $rss1"
}
for v in $NC_VARIANTS; do
  idle "$v" >"$TMP/idle-$v"
  log "idle: $v $(cat "$TMP/idle-$v") KiB"
done

for c in nc tls; do
  variants=$NC_VARIANTS
  [ $c = tls ] && variants=$TLS_VARIANTS
  for v in $variants; do load $c "$v" 1 >/dev/null; done # warm-up
  for r in $(seq "$ROUNDS"); do
    for v in $variants; do
      t0=$(cpu_ticks "${PID[$c/$v]}")
      n=$(load $c "$v" "$SECS")
      t1=$(cpu_ticks "${PID[$c/$v]}")
      calc "($t1 - $t0) * 1000000 / $CLK_TCK / $n" >>"$TMP/$c-$v"
    done
    log "$c: round $r of $ROUNDS"
  done
done

row() { # CASE VARIANT LABEL
  local m h
  m=$(median_of "$TMP/$1-$2")
  h=$(median_of "$TMP/$1-haproxy")
  printf '| %s | %s | %.1f | %.2f | %s |\n' "$1" "$3" "$m" "$(calc "$m / $h")" \
    "$(tr '\n' ' ' <"$TMP/$1-$2" | awk '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? " " : ""), $i }')"
}
idle_row() { # VARIANT LABEL
  local r0 r1 h0 h1
  read -r r0 r1 <"$TMP/idle-$1"
  read -r h0 h1 <"$TMP/idle-haproxy"
  printf '| %s | %.1f | %.1f | %.1f | %.2f |\n' "$2" "$(calc "$r0 / 1024")" "$(calc "$r1 / 1024")" \
    "$(calc "($r1 - $r0) / $IDLE_CONNS")" "$(calc "($r1 - $r0) / ($h1 - $h0)")"
}
{
  echo "# What the runtimes cost: floors beside HAProxy and Switchyard ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "- $(haproxy -v | head -1 | awk '{ print "haproxy", $3 }'), deno $(deno --version | awk 'NR == 1 { print $2 }'), bun $(bun --version), switchyard $(git -C "$REPO" rev-parse --short HEAD)"
  echo "- method: bench/floor.sh; every proxy pinned to CPU 1, nginx and wrk -t1 -c50 on CPU 0;"
  echo "  $ROUNDS rounds of ${SECS}s, each loading every variant in turn; median; CPU from /proc"
  echo "- idle: VmRSS of each tcp proxy once started, then with $IDLE_CONNS silent connections held"
  echo "  through it (bench/idle_client.ts), before the CPU cases"
  echo "- nc: new tcp connection per request (Connection: close) through a tcp proxy; floors are"
  echo "  bench/floor/tcp_deno.ts and tcp_bun.ts (accept, connect, copy with half-close, close)"
  echo "- tls: keep-alive requests over TLS 1.3 terminated by the proxy, HTTP/1.1 to nginx; floors"
  echo "  are bench/floor/tls_relay.mjs (node:tls, bytes copied, no HTTP), over the accepted socket"
  echo "  (native) or over a JS Duplex as when the ClientHello was read first (duplex)"
  echo
  echo "| proxy (tcp, idle connections) | RSS before, MiB | with $IDLE_CONNS idle, MiB | KiB per connection | / HAProxy |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  idle_row haproxy "HAProxy"
  idle_row floor-deno "Deno floor"
  idle_row switchyard-deno "Switchyard on Deno"
  idle_row floor-bun "Bun floor"
  idle_row switchyard-bun "Switchyard on Bun"
  echo
  echo "| case | proxy | CPU µs per request | / HAProxy | rounds |"
  echo "| --- | --- | ---: | ---: | --- |"
  row nc haproxy "HAProxy (tcp, JSON log per connection)"
  row nc floor-deno "Deno floor"
  row nc switchyard-deno "Switchyard on Deno"
  row nc floor-bun "Bun floor"
  row nc switchyard-bun "Switchyard on Bun"
  row tls haproxy "HAProxy (http, forwardfor, JSON log per request)"
  row tls floor-deno-native "Deno floor, node:tls over the socket"
  row tls floor-deno-duplex "Deno floor, node:tls over a Duplex"
  row tls switchyard-deno "Switchyard on Deno"
  row tls floor-bun-native "Bun floor, node:tls over the socket"
  row tls floor-bun-duplex "Bun floor, node:tls over a Duplex"
  row tls switchyard-bun "Switchyard on Bun"
} | tee "$RESULTS/floor.md"
(cd "$REPO" && deno fmt -q "$RESULTS/floor.md") || true
