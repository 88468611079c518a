#!/usr/bin/env bash
# Builds and runs exposition_bench at 100k and 1M series and prints a markdown section for
# RESULTS.md ("Exposition"). Usage: tests/bench/run_exposition_bench.sh BUILD_DIR
# A Release build dir is best (cmake -DCMAKE_BUILD_TYPE=Release); the build type is printed.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
cmake --build "$build" --target exposition_bench -j2 >/dev/null
bench="$build/tests/bench/exposition_bench"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")

echo "### Exposition run of $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- **Machine:** $(nproc) vCPU, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r). Shared with other engineers' builds and tests."
echo "- **Load average before:** $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- **Code:** commit $(git -C "$(dirname "$0")" rev-parse --short HEAD)$(git -C "$(dirname "$0")" diff --quiet HEAD -- ../../collector || echo ' (+ uncommitted collector edits)'), build type ${build_type:-default}, $(c++ --version | head -1)"
echo "- **Fleet:** synthetic, through FleetState (status + probe result per host), 3 process groups per host (~104 series/host)."
# 100k series: 1,000 hosts; 1M series: 10,000 hosts (fewer prometheus-cpp scrapes: ~3 s each).
"$bench" 1000 3 15 10
"$bench" 10000 3 11 3
echo
echo "- **Load average after:** $(cut -d' ' -f1-3 /proc/loadavg)"
