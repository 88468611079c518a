#!/usr/bin/env bash
# Runs parser_bench with every case in a process of its own and prints a Markdown section for
# RESULTS.md ("Parser"). Usage: tests/bench/run_parser_bench.sh BUILD_DIR [REPETITIONS]
#
# Why one process per case: at 100,000 processes the parse allocates ~35 MB of rows in one
# block, above glibc's 32 MB mmap ceiling, so each parse maps and faults fresh pages; whether
# the smaller blocks of a case come from already-faulted heap depends on which cases ran before
# it in the same process. All cases in one process gave 183 to 352 MB/s for the same AIX case
# depending on order. A fresh process per case is the reproducible figure, and the cold one: it
# is what a collector pays for its largest host.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [REPETITIONS]}
reps=${2:-5}
cmake --build "$build" --target parser_bench -j2 >/dev/null
bench="$build/tests/bench/parser_bench"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
goal=300

echo "### Parser run of $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- **Machine:** $(nproc) vCPU, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)."
echo "- **Load average before:** $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- **Code:** commit $(git -C "$(dirname "$0")" rev-parse --short HEAD)$(git -C "$(dirname "$0")" diff --quiet HEAD -- ../../agent/probes || echo ' (+ uncommitted parser edits)'), build type ${build_type:-default}, $(c++ --version | head -1)"
echo "- **Method:** \`$(basename "$bench") --benchmark_filter='^CASE\$' --benchmark_repetitions=$reps\`, one process per case, median of $reps. MB = 10^6 bytes of the whole probe output per CPU second."
echo
declare -A rate
mapfile -t cases < <("$bench" --benchmark_list_tests | grep -v '^PsTable')
for c in "${cases[@]}"; do
  line=$("$bench" --benchmark_filter="^${c}\$" --benchmark_repetitions="$reps" \
           --benchmark_report_aggregates_only=true 2>/dev/null | grep '_median ')
  # "MB=352.55/s" or "MB=1.14507k/s"
  rate[$c]=$(grep -o 'MB=[0-9.]*k\?/s' <<<"$line" | sed 's/MB=//; s/\/s//' |
               awk '{ v = $1; if (v ~ /k$/) { sub(/k$/, "", v); v *= 1000 } printf "%.0f", v }')
done
echo "| dialect | 1,000 processes | 10,000 processes | 100,000 processes |"
echo "|---|---:|---:|---:|"
for d in linux-procps busybox aix solaris hpux freebsd darwin; do
  row="| $d"
  for n in 1000 10000 100000; do
    v=${rate[Probe/$d/$n]:-}
    if [[ -z $v ]]; then row+=" | –"; continue; fi
    if ((v >= goal)); then row+=" | $v PASS"; else row+=" | $v MISS ($(( (v - goal) * 100 / goal )) %)"; fi
  done
  echo "$row |"
done
echo
echo "- **Load average after:** $(cut -d' ' -f1-3 /proc/loadavg)"
