#!/usr/bin/env bash
# A real Prometheus server scrapes `weft serve`: the target comes up (up == 1), the process
# metrics arrive, and the 25 requests sent to /api/user are counted by
# weft_http_requests_total. Fails (never skips) when prometheus is not installed: Debian's
# `prometheus` package, which scripts/install-deps.sh installs.
#   prometheus_scrape_test.sh WEFT_BINARY
set -euo pipefail
weft=$1
prometheus=$(command -v prometheus || true)
[[ -n $prometheus ]] || { echo "FAIL: prometheus is not installed (apt-get install prometheus)" >&2; exit 1; }

tmp=$(mktemp -d)
weft_pid="" prom_pid=""
# stop PID: SIGTERM, then SIGKILL after 10 s; waits for it to end.
stop() {
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop "$prom_pid"; stop "$weft_pid"; rm -rf "$tmp"; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "---- prometheus log ----" >&2; cat "$tmp/prometheus.log" >&2 2>/dev/null || true
  echo "---- weft log ----" >&2; cat "$tmp/weft.log" >&2 2>/dev/null || true
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# status URL: the HTTP status of a GET (000 when nothing answers).
status() {
  python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print("000")
PY
}
# query EXPR: the value of the first sample of an instant query ("" when the result is empty
# or the query failed); the last answer is kept in $tmp/last_query.json.
query() {
  python3 - "http://127.0.0.1:$prom_port/api/v1/query" "$1" "$tmp/last_query.json" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "?" + urllib.parse.urlencode({"query": sys.argv[2]})
try:
    body = urllib.request.urlopen(url, timeout=2).read().decode()
except OSError as e:
    body = json.dumps({"status": "error", "error": str(e)})
open(sys.argv[3], "w").write(body)
d = json.loads(body)
result = d.get("data", {}).get("result", []) if d.get("status") == "success" else []
print(result[0]["value"][1] if result else "")
PY
}
# at_least VALUE MIN: true when VALUE is a number >= MIN.
at_least() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or "nan") >= float(sys.argv[2]) else 1)' "$1" "$2"; }

port=$(free_port) prom_port=$(free_port)
"$weft" serve --addr "127.0.0.1:$port" >"$tmp/weft.log" 2>&1 & weft_pid=$!

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: weft
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
"$prometheus" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 & prom_pid=$!

# Prometheus ready (it replays an empty WAL, so this takes a second or two).
deadline=$((SECONDS + 30))
until [[ $(status "http://127.0.0.1:$prom_port/-/ready") == 200 ]]; do
  kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited"
  ((SECONDS < deadline)) || fail "prometheus not ready after 30 s"
  sleep 0.2
done

# 25 requests to the demo API.
for ((i = 0; i < 25; i++)); do
  code=$(status "http://127.0.0.1:$port/api/user")
  [[ $code == 200 ]] || fail "GET /api/user: $code"
done

# At most 60 s for the three checks together.
deadline=$((SECONDS + 60))
poll() {  # poll DESCRIPTION EXPR MIN: until query(EXPR) >= MIN
  local v=""
  until v=$(query "$2") && [[ -n $v ]] && at_least "$v" "$3"; do
    ((SECONDS < deadline)) || fail "$1: $2 is '${v}', want >= $3; last answer: $(cat "$tmp/last_query.json" 2>/dev/null)"
    sleep 0.5
  done
  echo "ok: $2 = $v"
}
poll "the target is not up" 'up{job="weft"}' 1
poll "no process metrics" 'count(process_cpu_seconds_total{job="weft"})' 1
poll "the requests were not counted" 'sum(weft_http_requests_total{job="weft",route="GET /api/user"})' 25
echo "prometheus scraped weft serve: all checks passed"
