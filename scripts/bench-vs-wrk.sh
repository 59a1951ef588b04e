#!/usr/bin/env bash
# weft bench against wrk, in one run on this machine: the generator's efficiency goals.
#
#   scripts/bench-vs-wrk.sh [-d SECONDS] [-r ROUNDS] [-a ANCHORS_DIR]
#
# The target server runs on CPU 0 and the generator on CPU 1, both with one thread and 100
# connections; generators take turns round by round, and each figure is the median of the rounds.
#   1. closed model against the floor server (anchors/floor/floor_server.cc): req/s reached;
#   2. CPU time per 1M requests: weft bench at -R 50000 against wrk at its own (closed) rate;
#   3. closed model against nginx (one worker, a small JSON file): p50 and p99 of each.
# CPU time is the generator process's user+system time, read from the shell's `times`.
# Needs wrk, nginx and g++ (installed through apt-get when missing) and a release build.
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
[[ -f $anchors/floor/floor_server.cc ]] || { echo "no floor server under $anchors (-a DIR)" >&2; exit 2; }
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if ((${#need[@]})); then apt-get install -y -qq "${need[@]}" >/dev/null; fi

work=$(mktemp -d /tmp/bench-vs-wrk.XXXXXX); chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
g++ -O2 -o "$work/floor" "$anchors/floor/floor_server.cc"
mkdir -p "$work/www/api"
printf '{"id":1,"name":"weft","email":"weft@example.org"}' >"$work/www/api/user"
chmod -R a+rX "$work/www"
cat >"$work/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:18181 backlog=4096;
    root $work/www;
    location /api/ { default_type application/json; }
  }
}
NGX

wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/api/user" && return; sleep 0.1; done; }
# cpu_of CMD...: runs CMD, keeps its output in $work/out, prints its user+system seconds.
cpu_of() {
  bash -c '"$@" >"'"$work"'/out" 2>&1; times' _ "$@" | awk 'NR==2 {
    split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1]*60 + u[2] + s[1]*60 + s[2] }'
}
wrk_rps() { awk '/Requests\/sec/{print $2}' "$work/out"; }
wrk_count() { awk '/requests in/{print $1}' "$work/out"; }
wrk_pct() { awk -v p="$1" '$1==p {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$work/out"; }
weft_field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][0]; print(eval(sys.argv[2]))' "$work/bench.json" "$1"; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"}else if(NR%2){print a[(NR+1)/2]}else{print a[NR/2]}}'; }

declare -A v
add() { v[$1]+="$2 "; }

taskset -c 0 "$work/floor" 18190 >/dev/null 2>&1 & floor_pid=$!; pids+=($floor_pid)
taskset -c 0 nginx -c "$work/nginx.conf" >/dev/null 2>&1 & pids+=($!)
wait_port 18190; wait_port 18181
floor=http://127.0.0.1:18190/api/user
ngx=http://127.0.0.1:18181/api/user
# The floor server's CPU time in seconds so far (utime + stime), to see whether it saturated.
floor_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$floor_pid/stat"; }
busy() { awk -v a="$1" -v b="$2" -v d="$secs" 'BEGIN{printf "%.0f", (b - a) / d * 100}'; }
for r in $(seq "$rounds"); do
  # 1 and 2: closed model against the floor, the CPU it took, and how busy the floor was.
  f0=$(floor_cpu)
  cpu=$(cpu_of taskset -c 1 wrk -t1 -c100 -d"${secs}s" "$floor")
  add wrk_floor_busy "$(busy "$f0" "$(floor_cpu)")"
  rps=$(wrk_rps); add wrk_rps "$rps"
  add wrk_cpu_per_m "$(awk -v c="$cpu" -v n="$(wrk_count)" 'BEGIN{print c / n * 1e6}')"
  f0=$(floor_cpu)
  cpu=$(cpu_of taskset -c 1 "$weft" bench -t1 -c100 -d"${secs}s" --json "$work/bench.json" "$floor")
  add weft_floor_busy "$(busy "$f0" "$(floor_cpu)")"
  add weft_rps "$(weft_field 'r["requests_per_second"]')"
  add weft_closed_cpu_per_m "$(awk -v c="$cpu" -v n="$(weft_field 'r["responses"]')" 'BEGIN{print c / n * 1e6}')"
  # 2: weft bench in the open model at 50,000 req/s.
  cpu=$(cpu_of taskset -c 1 "$weft" bench -t1 -c100 -R 50000 -d"${secs}s" --json "$work/bench.json" "$floor")
  add weft_open_rps "$(weft_field 'r["requests_per_second"]')"
  add weft_cpu_per_m "$(awk -v c="$cpu" -v n="$(weft_field 'r["responses"]')" 'BEGIN{print c / n * 1e6}')"
  add weft_open_p99 "$(weft_field 'r["latency_us"]["p99"] / 1000')"
  # 3: latency against nginx, closed model, same connections.
  cpu_of taskset -c 1 wrk -t1 -c100 -d"${secs}s" --latency "$ngx" >/dev/null
  add wrk_ngx_rps "$(wrk_rps)"; add wrk_p50 "$(wrk_pct 50%)"; add wrk_p99 "$(wrk_pct 99%)"
  cpu_of taskset -c 1 "$weft" bench -t1 -c100 -d"${secs}s" --json "$work/bench.json" "$ngx" >/dev/null
  add weft_ngx_rps "$(weft_field 'r["requests_per_second"]')"
  add weft_p50 "$(weft_field 'r["latency_us"]["p50"] / 1000')"
  add weft_p99 "$(weft_field 'r["latency_us"]["p99"] / 1000')"
done

m() { median <<<"${v[$1]}"; }
echo "# generator on CPU 1 (-t1 -c100), servers on CPU 0; ${secs}s runs, median of $rounds rounds"
printf '%-44s %14s %14s %8s\n' case wrk "weft bench" ratio
row() { printf '%-44s %14s %14s %8s\n' "$1" "$2" "$3" "$(awk -v a="$3" -v b="$2" 'BEGIN{if (b>0) printf "%.3f", a/b}')"; }
row "floor, closed: req/s" "$(m wrk_rps)" "$(m weft_rps)"
row "floor, closed: floor server's CPU busy %" "$(m wrk_floor_busy)" "$(m weft_floor_busy)"
row "floor, closed: CPU s per 1M requests" "$(m wrk_cpu_per_m)" "$(m weft_closed_cpu_per_m)"
row "CPU s per 1M requests (wrk closed, weft -R 50k)" "$(m wrk_cpu_per_m)" "$(m weft_cpu_per_m)"
row "nginx, closed: req/s" "$(m wrk_ngx_rps)" "$(m weft_ngx_rps)"
row "nginx, closed: p50 ms" "$(m wrk_p50)" "$(m weft_p50)"
row "nginx, closed: p99 ms" "$(m wrk_p99)" "$(m weft_p99)"
echo "weft bench -R 50000 reached $(m weft_open_rps) req/s, corrected p99 $(m weft_open_p99) ms"
