#!/usr/bin/env bash
# Paired rounds: HAProxy, Switchyard on Deno and Switchyard on Bun run side by side (all on
# CPU 1, each idle while another is loaded) and are loaded in turn, round after round, so that
# every round's ratio compares proxies measured seconds apart. On this VM the host's load moves
# every proxy's CPU per request by up to 1.5x between runs a minute apart (HAProxy's h2 figure:
# 21.5 and 32.6 us in two runs of bench/run.sh), which a ratio of two runs made minutes apart
# does not cancel; the median of per-round ratios does.
#
#   bash bench/paired.sh [CASE] [ROUNDS] [SECONDS]
#     CASE:    h2 (h2load -c10 -m10 through termination, as run.sh), http (wrk -c50 keep-alive,
#              Host routing + XFF) or tls_term (wrk -c50 keep-alive over terminated TLS)
#     ROUNDS:  rounds of the three loads (default 10); SECONDS: one load's length (default 3)
#
# Prints a markdown table (also written to bench/results/paired-CASE.md): each proxy's median
# CPU us per request, and the median, lowest and highest of the per-round ratios to HAProxy;
# each round's figures are kept in bench/results/raw/paired-CASE.rounds.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CASE=${1:-h2}
ROUNDS=${2:-10}
SECS=${3:-3}
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
if [ "$CASE" = h2 ]; then bench_scratch h2load; else bench_scratch; fi

SNI=localhost
HTTP_HOST=bench.local
start_nginx_backend paired-nginx

case $CASE in
  h2) template=switchyard-h2.yaml port_var=H2_PORT ;;
  http) template=switchyard-http.yaml port_var=HTTP_PORT ;;
  tls_term) template=switchyard-tls-term.yaml port_var=TLS_TERM_PORT ;;
  *) echo "paired.sh: unknown case $CASE" >&2 && exit 2 ;;
esac

declare -A PID PORT
# start VARIANT: the proxy with fresh ports; PORT[VARIANT] is the case's port.
start() {
  local v=$1 cfg
  TCP_PORT=$(pick_port) TLS_PORT=$(pick_port) HTTP_PORT=$(pick_port)
  TLS_TERM_PORT=$(pick_port) H2_PORT=$(pick_port)
  PORT[$v]=${!port_var}
  case $v in
    haproxy)
      cfg="$TMP/haproxy.cfg"
      render "$HERE/conf/haproxy.cfg" "$cfg"
      start_bg "paired-haproxy" 1 "$TMP" haproxy -f "$cfg" -db
      ;;
    deno | bun)
      cfg="$TMP/$v.yaml"
      render "$HERE/conf/$template" "$cfg"
      if [ "$v" = deno ]; then
        start_bg "paired-deno" 1 "$REPO" deno run -A src/main.ts run -c "$cfg"
      else
        start_bg "paired-bun" 1 "$REPO" bun src/main.ts run -c "$cfg"
      fi
      ;;
  esac
  PID[$v]=$BG_PID
  wait_listening "${PORT[$v]}" 30 "$BG_PID"
}

# load VARIANT SECONDS: the case's load on CPU 0; prints the requests that succeeded.
load() {
  local port=${PORT[$1]} out
  case $CASE in
    h2)
      out=$(taskset -c 0 h2load -t1 -c10 -m10 -D "$2" "https://$SNI:$port/")
      echo "$out" | awk '/^requests:/ { print $8 }'
      ;;
    http)
      out=$(taskset -c 0 wrk -t1 -c50 -d"$2s" -H "Host: $HTTP_HOST" "http://127.0.0.1:$port/")
      wrk_requests <(echo "$out")
      ;;
    tls_term)
      out=$(taskset -c 0 wrk -t1 -c50 -d"$2s" "https://$SNI:$port/")
      wrk_requests <(echo "$out")
      ;;
  esac
}

VARIANTS=(haproxy deno bun)
for v in "${VARIANTS[@]}"; do start "$v"; done
log "paired $CASE: $ROUNDS rounds of ${SECS}s per proxy, in turn"
for v in "${VARIANTS[@]}"; do load "$v" 1 >/dev/null; done # warm-up (JIT, pools)

results="$RAW/paired-$CASE.rounds.txt"
: >"$results"
for r in $(seq "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    t0=$(cpu_ticks "${PID[$v]}")
    n=$(load "$v" "$SECS")
    t1=$(cpu_ticks "${PID[$v]}")
    kill -0 "${PID[$v]}" 2>/dev/null || { echo "paired.sh: $v died (bench/results/raw/paired-$v.err)" >&2 && exit 1; }
    # us per request: ticks are 1/CLK_TCK s.
    echo "$r $v $(calc "($t1 - $t0) * 1000000 / $CLK_TCK / ${n:-0}") ${n:-0}" >>"$results"
  done
done

out="$HERE/results/paired-$CASE.md"
awk -v rounds="$ROUNDS" -v secs="$SECS" -v case_="$CASE" -v rev="$(git -C "$REPO" rev-parse --short HEAD)" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { us[$1, $2] = $3 }
  END {
    printf "Paired rounds, %s case, switchyard %s: %d rounds of %ds per proxy, loaded in turn\n\n", case_, rev, rounds, secs
    print "| proxy | CPU us / request (median) | ratio to HAProxy: median | lowest | highest |"
    print "| --- | ---: | ---: | ---: | ---: |"
    split("haproxy deno bun", vs, " ")
    for (k = 1; k <= 3; k++) {
      v = vs[k]; n = 0
      for (r = 1; r <= rounds; r++) { n++; a[n] = us[r, v]; q[n] = us[r, v] / us[r, "haproxy"] }
      m = median(a, n); mr = median(q, n)
      if (v == "haproxy") printf "| %s | %.1f | — | — | — |\n", v, m
      else printf "| Switchyard-%s | %.1f | %.2f | %.2f | %.2f |\n", (v == "deno" ? "Deno" : "Bun"), m, mr, q[1], q[n]
    }
  }' "$results" >"$out"
# Aligned columns, so that `deno fmt --check` passes on the saved table (as run.sh does).
(cd "$REPO" && deno fmt -q "$out") || log "deno fmt of $out failed; left as printed"
cat "$out"
log "table in bench/results/paired-$CASE.md"
