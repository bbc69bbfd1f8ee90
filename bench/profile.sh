#!/usr/bin/env bash
# Profiles Switchyard under one benchmark load, for the "top self-time functions" summaries
# in bench/results/ (issue #19's method: profile before changing, summarize before and after).
#
#   bash bench/profile.sh RUNTIME CASE [SECONDS]
#     RUNTIME: deno | bun
#     CASE:    http (keep-alive, Host routing + XFF), nc (new tcp connections),
#              tls_term (keep-alive over terminated TLS), h2 (h2load through termination)
#
# Starts nginx on CPU 0 and the router on CPU 1 with --cpu-prof, as bench/run.sh pins them,
# runs the load on CPU 0, stops the router (SIGTERM: the profile is written on exit) and
# prints bench/cpuprofile_top.ts's table. The .cpuprofile stays in bench/results/raw/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
RT=${1:?runtime: deno or bun}
CASE=${2:?case: http, nc, tls_term or h2}
SECS=${3:-10}
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
if [ "$CASE" = h2 ]; then bench_scratch h2load; else bench_scratch; fi

SNI=localhost # wrk takes SNI from the URL host: a name it can resolve (as in run.sh)
start_nginx_backend profile-nginx
PORT=$(pick_port)

case $CASE in
  http | nc) template=switchyard-http.yaml ;;
  tls_term) template=switchyard-tls-term.yaml ;;
  h2) template=switchyard-h2.yaml ;;
  *) echo "profile.sh: unknown case $CASE" >&2 && exit 2 ;;
esac
# nc goes through the http config's tcp twin: a tcp listener to nginx.
if [ "$CASE" = nc ]; then
  cat >"$TMP/router.yaml" <<YAML
listeners:
  tcp_in: { bind: ["127.0.0.1:$PORT"], protocol: tcp, routes: [{ to: nginx }] }
backends:
  nginx: { servers: ["127.0.0.1:$NGINX_HTTP"] }
YAML
else
  sed -e "s|@TMP@|$TMP|g" -e "s|@NGINX_HTTP@|$NGINX_HTTP|g" -e "s|@SNI@|$SNI|g" \
    -e "s|@HTTP_HOST@|$SNI|g" -e "s|@HTTP_PORT@|$PORT|g" -e "s|@TLS_TERM_PORT@|$PORT|g" \
    -e "s|@H2_PORT@|$PORT|g" "$HERE/conf/$template" >"$TMP/router.yaml"
fi
prof_dir="$RAW/profile-$RT-$CASE"
rm -rf "$prof_dir"
case $RT in
  deno) cmd=(deno run -A --cpu-prof "--cpu-prof-dir=$prof_dir" src/main.ts) ;;
  bun) cmd=(bun --cpu-prof "--cpu-prof-dir=$prof_dir" src/main.ts) ;;
  *) echo "profile.sh: unknown runtime $RT" >&2 && exit 2 ;;
esac
start_bg "profile-$RT-$CASE" 1 "$REPO" "${cmd[@]}" run -c "$TMP/router.yaml"
router=$BG_PID
wait_listening "$PORT" 30 "$router"

log "$RT $CASE: ${SECS}s of load"
case $CASE in
  http) taskset -c 0 wrk -t1 -c50 -d"${SECS}s" -H "Host: $SNI" "http://127.0.0.1:$PORT/" ;;
  nc) taskset -c 0 wrk -t1 -c50 -d"${SECS}s" -H "Connection: close" "http://127.0.0.1:$PORT/" ;;
  tls_term) taskset -c 0 wrk -t1 -c50 -d"${SECS}s" "https://$SNI:$PORT/" ;;
  h2) taskset -c 0 h2load -t1 -c10 -m10 -D "$SECS" "https://$SNI:$PORT/" ;;
esac | grep -E "Requests/sec|requests|finished|TLS|Application" || true
stop_pid "$router"
deno run -A "$HERE/cpuprofile_top.ts" "$prof_dir"/*.cpuprofile 25
