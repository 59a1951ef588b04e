#!/usr/bin/env bash
# `weft bench` end to end: against `weft serve` on loopback, every report file is written and
# well-formed, the exit status says what happened (0 done, 1 nothing answered, 2 bad input).
#   cli_test.sh WEFT_BINARY
set -euo pipefail
weft=$1
work=$(mktemp -d)
server=""
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A free port: bind one, note it, let it go.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$weft" serve --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.05
done

# A closed-model run with every report; stdout is not a terminal, so no progress lines.
"$weft" bench -c 4 -n 2000 --json "$work/r.json" --csv "$work/r.csv" --hgrm "$work/r.hgrm" \
  --html "$work/r.html" "http://127.0.0.1:$port/api/user" >"$work/out.txt" \
  || fail "closed run exited $?"
grep -q "2000 responses" "$work/out.txt" || fail "summary lacks the response count: $(cat "$work/out.txt")"
grep -q "200: 2000" "$work/out.txt" || fail "summary lacks the status count"
if grep -q "req/s  p99" "$work/out.txt"; then fail "progress lines written to a pipe"; fi
python3 - "$work" <<'PY' || fail "reports do not agree"
import csv, json, sys
w = sys.argv[1]
r = json.load(open(w + "/r.json"))["runs"][0]
assert r["attempted"] == 2000 and r["responses"] == 2000, r
assert r["status_counts"] == {"200": 2000}, r["status_counts"]
rows = list(csv.DictReader(open(w + "/r.csv")))
assert sum(int(x["responses"]) for x in rows) == 2000, rows
hgrm = open(w + "/r.hgrm").read()
assert "Value     Percentile TotalCount 1/(1-Percentile)" in hgrm and "Total count    =         2000" in hgrm, hgrm[-400:]
html = open(w + "/r.html").read()
assert html.lower().startswith("<!doctype html>") and "<svg" in html and "<script src" not in html
PY

# On a terminal (script(1) gives the command one), a progress line every second.
if command -v script >/dev/null; then
  script -qec "'$weft' bench -c 2 -d 2500ms http://127.0.0.1:$port/api/user" /dev/null \
    >"$work/tty.txt" || fail "terminal run exited $?"
  lines=$(grep -c "req/s  p99" "$work/tty.txt" || true)
  [[ $lines -ge 2 ]] || fail "expected progress lines on a terminal, got $lines: $(cat "$work/tty.txt")"
fi

# Open model with levels: one summary per level and the table.
"$weft" bench -R 400 -d 1s --concurrency 2,4 --json "$work/l.json" \
  "http://127.0.0.1:$port/" >"$work/levels.txt" || fail "levels run exited $?"
grep -q "Latency (corrected)" "$work/levels.txt" || fail "open-model summary lacks corrected latency"
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs']; assert [x['config']['connections'] for x in r]==[2,4], r" "$work/l.json" \
  || fail "levels JSON"

# Bad input: exit 2 with a message.
set +e
"$weft" bench "https://127.0.0.1:$port/" >/dev/null 2>"$work/err"; code=$?
[[ $code == 2 ]] && grep -q "https is not supported" "$work/err" || fail "https: exit $code, $(cat "$work/err")"
"$weft" bench -d 3parsecs "http://127.0.0.1:$port/" >/dev/null 2>"$work/err"; code=$?
[[ $code == 2 ]] || fail "bad duration: exit $code"
"$weft" bench "not a url" >/dev/null 2>"$work/err"; code=$?
[[ $code == 2 ]] || fail "bad URL: exit $code"
# Nothing listening: the summary reports the attempts, then exit 1.
kill "$server"; wait "$server" 2>/dev/null; server=""
"$weft" bench -c 2 -d 300ms "http://127.0.0.1:$port/" >"$work/out.txt" 2>"$work/err"; code=$?
set -e
[[ $code == 1 ]] || fail "unreachable: exit $code"
grep -q "no response from" "$work/err" || fail "unreachable: $(cat "$work/err")"
grep -q "connect" "$work/out.txt" || fail "unreachable: no summary"
echo "weft bench CLI: all checks passed"
