#!/usr/bin/env bash
# The seed article's two tables, measured with `weft bench` for weft's server and Go's
# net/http (anchors/go-http), in one run on this machine.
#
#   scripts/seed-tables.sh [-d SECONDS] [-r ROUNDS] [-a ANCHORS_DIR]
#
# Each server runs alone on CPU 0 with one thread (WEFT_MAXPROCS=1, GOMAXPROCS=1); weft bench
# runs on CPU 1 with one thread. Servers take turns round by round; figures are medians.
#   seed 2.2: a plain handler (GET /api/user), a 3 KB JSON list (GET /api/users), and the same
#             list gzip-compressed with pooled compressors (Accept-Encoding: gzip), 100
#             connections: req/s and the server's peak RSS;
#   seed 2.5: GET /api/user at 100, 500 and 1000 connections: req/s, p99, error rate.
# Prints both tables in Markdown. Needs go (installed through apt-get when missing) and a
# release build (make build).
set -euo pipefail
secs=10 rounds=3 anchors=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -d) secs=$2; shift 2;; -r) rounds=$2; shift 2;; -a) anchors=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -n $anchors ]] || anchors=$root/../shared/anchors
weft=$root/build/release/tools/weft/weft
[[ -x $weft ]] || { echo "build first: make build" >&2; exit 2; }
[[ -d $anchors/go-http ]] || { echo "no go-http under $anchors (-a DIR)" >&2; exit 2; }
command -v go >/dev/null || apt-get install -y -qq golang-go >/dev/null

work=$(mktemp -d /tmp/seed-tables.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
(cd "$anchors/go-http" && GOFLAGS=-mod=mod go build -o "$work/go-http" .)

port_of() { case $1 in weft) echo 18288;; go) echo 18280;; esac; }
start() {
  local port; port=$(port_of "$1")
  case $1 in
    weft) WEFT_MAXPROCS=1 taskset -c 0 "$weft" serve --addr "127.0.0.1:$port" >/dev/null 2>&1 & ;;
    go) PORT=$port GOMAXPROCS=1 taskset -c 0 "$work/go-http" >/dev/null 2>&1 & ;;
  esac
  echo $!
}
peak_rss_mib() { awk '/VmHWM/{printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"]; print(" ".join(str(eval(sys.argv[2])) for r in r))' "$work/r.json" "$1"; }
bench() { taskset -c 1 "$weft" bench -t1 --warmup 1s -d"${secs}s" --json "$work/r.json" "$@" >/dev/null; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"}else if(NR%2){print a[(NR+1)/2]}else{print a[NR/2]}}'; }

declare -A v
add() { v[$1]+="$2 "; }
cases=(plain list gzip)
levels=(100 500 1000)
for r in $(seq "$rounds"); do
  for s in weft go; do
    port=$(port_of "$s")
    # Seed 2.2: each case on a fresh server, so its peak RSS is the case's own.
    for c in "${cases[@]}"; do
      pid=$(start "$s"); pids+=("$pid")
      for _ in $(seq 100); do curl -s -o /dev/null "localhost:$port/api/user" && break; sleep 0.1; done
      case $c in
        plain) bench -c100 "http://127.0.0.1:$port/api/user";;
        list) bench -c100 "http://127.0.0.1:$port/api/users";;
        gzip) bench -c100 -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/api/users";;
      esac
      add "$s.$c.rps" "$(field 'r["requests_per_second"]')"
      add "$s.$c.rss" "$(peak_rss_mib "$pid")"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
    # Seed 2.5: the three levels on one server.
    pid=$(start "$s"); pids+=("$pid")
    for _ in $(seq 100); do curl -s -o /dev/null "localhost:$port/api/user" && break; sleep 0.1; done
    bench --concurrency "$(IFS=,; echo "${levels[*]}")" "http://127.0.0.1:$port/api/user"
    read -ra rps <<<"$(field 'r["requests_per_second"]')"
    read -ra p99 <<<"$(field 'r["latency_us"]["p99"] / 1000')"
    read -ra err <<<"$(field 'r["error_rate"] * 100')"
    for i in "${!levels[@]}"; do
      add "$s.${levels[$i]}.rps" "${rps[$i]}"
      add "$s.${levels[$i]}.p99" "${p99[$i]}"
      add "$s.${levels[$i]}.err" "${err[$i]}"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

m() { median <<<"${v[$1]}"; }
fmt() { awk -v x="$1" -v d="$2" 'BEGIN{printf "%.*f", d, x}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b>0) printf "%.2f", a/b}'; }
echo "# weft bench -t1 --warmup 1s -d ${secs}s on CPU 1; each server alone on CPU 0 with one thread; medians of $rounds rounds"
echo
echo "Seed 2.2 (100 connections):"
echo
echo "| case | weft req/s | Go req/s | weft/Go | weft peak RSS (MiB) | Go peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
label() { case $1 in plain) echo 'plain handler, `GET /api/user`';; list) echo '3 KB JSON list, `GET /api/users`';;
  gzip) echo 'the list gzip-compressed, pooled compressors';; esac; }
for c in "${cases[@]}"; do
  a=$(m "weft.$c.rps") b=$(m "go.$c.rps")
  echo "| $(label "$c") | $(fmt "$a" 0) | $(fmt "$b" 0) | $(ratio "$a" "$b") | $(m "weft.$c.rss") | $(m "go.$c.rss") |"
done
echo
echo "Seed 2.5 (\`GET /api/user\`):"
echo
echo "| connections | weft req/s | weft p99 (ms) | weft errors | Go req/s | Go p99 (ms) | Go errors |"
echo "|---|---|---|---|---|---|---|"
for l in "${levels[@]}"; do
  echo "| $l | $(fmt "$(m "weft.$l.rps")" 0) | $(fmt "$(m "weft.$l.p99")" 2) | $(fmt "$(m "weft.$l.err")" 2)% | $(fmt "$(m "go.$l.rps")" 0) | $(fmt "$(m "go.$l.p99")" 2) | $(fmt "$(m "go.$l.err")" 2)% |"
done
