#!/usr/bin/env bash
# Builds the libFuzzer targets (the "fuzz" CMake preset) and runs each for a while.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; the targets default to every one fuzz/CMakeLists.txt lists.
# Each target runs on a writable copy of its seeds, build/fuzz/corpus/<target>/, which keeps
# what earlier runs found; the seeds in fuzz/corpus/ are never written to. A crash, leak, timeout
# (-timeout=10) or failed invariant is saved under build/fuzz/artifacts/<target>/ and makes the
# script exit non-zero. One line per target reports the runs executed and the CPU seconds used.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

secs=${1:-60}
[[ $# -gt 0 ]] && shift
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs == 0)); then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi

build=build/fuzz
cmake --preset fuzz >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(grep -v '^$' "$build/fuzz/targets.txt")
  nice -n 10 cmake --build "$build" --target fuzz_all >/dev/null
else
  nice -n 10 cmake --build "$build" --target "${targets[@]}" >/dev/null
fi

status=0
for t in "${targets[@]}"; do
  bin=$build/fuzz/$t
  corpus=$build/corpus/$t
  artifacts=$build/artifacts/$t/
  log=$build/logs/$t.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  if [[ -d fuzz/corpus/$t ]]; then
    cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  fi

  # The time keyword reports the fuzzer's CPU time (user and system) on this shell's stderr.
  set +e
  cpu=$({ TIMEFORMAT='%U %S'; time nice -n 10 "$bin" -max_total_time="$secs" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1; } 2>&1)
  rc=$?
  set -e

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cpu_secs=$(awk '{printf "%.1f", $1 + $2}' <<<"$cpu")
  if ((rc == 0)); then
    printf '%-22s ok     runs=%-10s exec/s=%-8s cpu=%ss\n' "$t" "${runs:-?}" "${rate:-?}" "$cpu_secs"
  else
    printf '%-22s FAILED runs=%-10s exec/s=%-8s cpu=%ss (exit %d, log %s)\n' \
      "$t" "${runs:-?}" "${rate:-?}" "$cpu_secs" "$rc" "$log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*invariant violated|artifact_prefix=|Test unit written)' \
      "$log" | head -n 8 | sed 's/^/    /' || true
    status=1
  fi
done
exit "$status"
