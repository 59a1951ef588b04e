#!/usr/bin/env bash
# `weft serve` exposes /metrics, /debug/tasks and /debug/vars: on its own address by default,
# only on --admin-addr when one is given; /metrics carries the process, runtime and HTTP
# server metrics and passes `promtool check metrics`.
#   serve_metrics_test.sh WEFT_BINARY
set -euo pipefail
weft=$1
pids=()
cleanup() { for p in "${pids[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null; done; return 0; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# fetch URL [ACCEPT]: prints "STATUS CONTENT-TYPE" on the first line, then the body.
fetch() {
  python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers={"Accept": sys.argv[2]} if len(sys.argv) > 2 else {})
for _ in range(100):
    try:
        r = urllib.request.urlopen(req, timeout=2)
        print(r.status, r.headers.get("Content-Type")); sys.stdout.write(r.read().decode()); break
    except urllib.error.HTTPError as e:
        print(e.code, e.headers.get("Content-Type")); break
    except OSError:
        import time; time.sleep(0.05)
PY
}

main_port=$(free_port)
"$weft" serve --addr "127.0.0.1:$main_port" >/dev/null 2>&1 & pids+=($!)
out=$(fetch "http://127.0.0.1:$main_port/metrics")
[[ $(head -1 <<<"$out") == "200 text/plain; version=0.0.4; charset=utf-8" ]] || fail "main /metrics: $(head -1 <<<"$out")"
grep -q '^process_open_fds ' <<<"$out" || fail "no process metrics"
grep -q '^weft_runtime_tasks ' <<<"$out" || fail "no runtime metrics"
grep -q '^weft_http_connections_accepted_total ' <<<"$out" || fail "no HTTP server metrics"
command -v promtool >/dev/null || fail "promtool is not installed (Debian package prometheus)"
tail -n +2 <<<"$out" | promtool check metrics || fail "promtool check metrics"
# The scrape above is a request the server answered: the next one shows it under its route.
out=$(fetch "http://127.0.0.1:$main_port/metrics")
grep -q '^weft_http_requests_total{method="GET",route="GET /metrics",status_class="2xx"} [1-9]' <<<"$out" ||
  fail "the first scrape is not counted: $(grep weft_http_requests_total <<<"$out")"
out=$(fetch "http://127.0.0.1:$main_port/debug/tasks")
[[ $(head -1 <<<"$out") == "200 text/plain; charset=utf-8" ]] || fail "main /debug/tasks: $(head -1 <<<"$out")"
grep -q 'live tasks' <<<"$out" || fail "/debug/tasks without the dump"
out=$(fetch "http://127.0.0.1:$main_port/debug/vars")
[[ $(head -1 <<<"$out") == "200 application/json; charset=utf-8" ]] || fail "main /debug/vars: $(head -1 <<<"$out")"
tail -n +2 <<<"$out" | python3 -c 'import json,sys; v=json.load(sys.stdin); assert v["runtime"]["tasks_live"] >= 1 and "serve" in v["cmdline"]' ||
  fail "/debug/vars: $(tail -n +2 <<<"$out")"

main_port=$(free_port) admin_port=$(free_port)
"$weft" serve --addr "127.0.0.1:$main_port" --admin-addr "127.0.0.1:$admin_port" >/dev/null 2>&1 & pids+=($!)
out=$(fetch "http://127.0.0.1:$admin_port/metrics" "application/openmetrics-text")
[[ $(head -1 <<<"$out") == "200 application/openmetrics-text; version=1.0.0; charset=utf-8" ]] || fail "admin /metrics: $(head -1 <<<"$out")"
[[ $(tail -1 <<<"$out") == "# EOF" ]] || fail "OpenMetrics without # EOF"
for path in /debug/tasks /debug/vars; do
  out=$(fetch "http://127.0.0.1:$admin_port$path")
  [[ $(head -1 <<<"$out") == 200* ]] || fail "admin $path: $(head -1 <<<"$out")"
done
for path in /metrics /debug/tasks /debug/vars; do
  out=$(fetch "http://127.0.0.1:$main_port$path")
  [[ $(head -1 <<<"$out") == 404* ]] || fail "main address still serves $path: $(head -1 <<<"$out")"
done
echo "weft serve /metrics and /debug: all checks passed"
