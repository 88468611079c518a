#!/usr/bin/env bash
# Scrapes under query load (issue 17): `fleetps run` over 1,000 fleetsim hosts, /metrics scraped
# back to back by one client while 20 clients send fresh=1 queries. See
# tests/bench/admission/admission_bench.py for the phases and what is measured.
#
#   tests/bench/run_admission_bench.sh BUILD_DIR OUTDIR [TAG] [admission_bench.py options]
#
# BUILD_DIR: a Release build; the fleetps and fleetsim targets are built when missing (an existing
# binary is used as it is). To compare with an older commit, build that commit in a second build
# directory and run this script on each. OUTDIR receives admission_TAG.json and run-TAG/ (config,
# logs, every scrape's latency); the Markdown rows (one per phase) go to stdout, with the machine
# and load. About 1.5 minutes. Uses 127.0.0.1 ports in 25999-31400 only; stops everything it
# started.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
(($# >= 2)) || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
tag=${3:-$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo run)}
shift $(($# >= 3 ? 3 : 2))

if [[ ! -x $build/collector/fleetps || ! -x $build/tests/fleetsim/fleetsim ]]; then
  cmake --build "$build" --target fleetps fleetsim -j2 >&2
fi
started=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "| build | phase | scrapes | p50 ms | p99 ms | max ms | fresh=1 answers | collector cores | fleetsim cores |"
echo "|---|---|---|---|---|---|---|---|---|"
# As the scale bench does (run_scale_bench.sh): as root, everything runs at nice -10 in a
# scheduler autogroup of its own, so the figures describe fleetps more than the other work on a
# shared machine (FLEETPS_BENCH_NICE overrides, 0 = off).
nice_level=${FLEETPS_BENCH_NICE:-$( (($(id -u) == 0)) && echo -10 || echo 0)}
setsid -w sh -c 'echo "$1" >/proc/self/autogroup 2>/dev/null || true; shift; exec nice -n "$0" "$@"' \
  "$nice_level" "$nice_level" python3 "$src/tests/bench/admission/admission_bench.py" --build "$build" \
  --out "$out" --tag "$tag" "$@"
echo
echo "- Run of $started: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, kernel $(uname -r); build type $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt") ($(sed -n 's/^CMAKE_CXX_FLAGS_RELEASE:[A-Z]*=//p' "$build/CMakeCache.txt"))"
echo "- Nice $nice_level (autogroup too); load average (1/5/15 min) before and after: see $out/admission_$tag.json"
