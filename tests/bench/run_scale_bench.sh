#!/usr/bin/env bash
# Scale benchmark (issue 8 part B and issue 5's open measurements): fleetps run against fleetsim.
# Steady state at 1,000 / 5,000 / 10,000 hosts (interval 15 s): CPU per probe, RSS per host,
# event-loop lag, schedule delay; a reconnect storm of 1,000 sessions; fleetsim's own cost with
# 10,000 idle sessions and at 1,000 probes/s. See tests/bench/scale/scale_bench.py.
#
#   tests/bench/run_scale_bench.sh BUILD_DIR OUTDIR [scale_bench.py options, e.g. --window 60]
#
# Issue 18's options (scale_bench.py --help): --baseline BUILD_DIR (a previous build's collector
# runs the same phases back to back; one table with both and the delta), --fleet linux-procps,
# --interval S, --channel shell|exec|auto (probe_channel in the inventory; only when given),
# --scrape-every S (/metrics during the windows, default 15).
# BUILD_DIR: a Release build; the fleetps and fleetsim targets are built when missing (an existing
# binary is used as it is: rebuild it yourself after changing the code).
# OUTDIR receives scale.json, scale_steady.csv, scale_storm.csv, scale.md, plots/scale_storm.png
# and run/ (configs and logs). The Markdown fragment also goes to stdout. About 8-10 minutes on
# 2 cores. Uses 127.0.0.1 ports below 32768 only; stops everything it started.
# As root it runs at nice -10, in its own scheduler autogroup with that nice too
# (FLEETPS_BENCH_NICE overrides, 0 = off): on a machine shared with
# builds, a collector that gets a fair share of CPU only (load 15 on 2 cores: ~0.15 core per
# runnable thread) falls behind at 10,000 hosts, its probes time out and the reconnects make it
# worse; the figures would then describe the machine, not fleetps.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
(($# >= 2)) || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2

if [[ ! -x $build/collector/fleetps || ! -x $build/tests/fleetsim/fleetsim ]]; then
  cmake --build "$build" --target fleetps fleetsim -j2 >&2
fi
nice_level=${FLEETPS_BENCH_NICE:-$( (($(id -u) == 0)) && echo -10 || echo 0)}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t0=$SECONDS
# The kernel groups tasks by session (sched_autogroup) and shares the CPU between groups before
# nice counts: run in a session of our own and set that group's nice, not just the tasks'.
setsid -w sh -c 'echo "$1" >/proc/self/autogroup 2>/dev/null || true; shift; exec nice -n "$0" "$@"' \
  "$nice_level" "$nice_level" python3 "$src/tests/bench/scale/scale_bench.py" --build "$build" --out "$out" "$@" >/dev/null &
# Its own session gets no terminal signals: pass SIGINT/SIGTERM on (it stops what it started).
bench=$!
trap 'kill -TERM "$bench" 2>/dev/null; wait "$bench"; exit 130' INT TERM
wait "$bench"
trap - INT TERM

mkdir -p "$out/plots"
if command -v gnuplot >/dev/null && [[ -s $out/scale_storm.csv ]]; then
  # ready_new is sampled every few rows; the in-flight estimate on every row. The new build's
  # storms only (column 8), when --baseline ran them too; Python's csv ends lines with CRLF.
  storm_rows() { awk -F, -v how="$1" '{ sub(/\r$/, "") } NR > 1 && $1 == how && $8 == "new" { print $2, $5, ($7 == "" ? "NaN" : $7) }' "$out/scale_storm.csv"; }
  storm_rows kill >"$out/run/storm_kill.dat"
  storm_rows restart >"$out/run/storm_restart.dat"
  gnuplot <<EOF || echo "run_scale_bench: gnuplot failed" >&2
set terminal pngcairo size 900,500
set output "$out/plots/scale_storm.png"
set title "Reconnect storm: 1,000 sessions dropped at t = 0"
set xlabel "seconds"
set ylabel "hosts ready on a new session"
set y2label "handshakes in flight (fleetsim side)"
set y2tics
set key left top
set datafile missing "NaN"
plot "$out/run/storm_kill.dat" using 1:3 with linespoints title "ready (SIGKILL + restart)", \
     "$out/run/storm_restart.dat" using 1:3 with linespoints title "ready (POST /restart)", \
     "$out/run/storm_kill.dat" using 1:2 axes x1y2 with lines title "in flight (SIGKILL + restart)", \
     "$out/run/storm_restart.dat" using 1:2 axes x1y2 with lines title "in flight (POST /restart)"
EOF
fi

commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$src" status --porcelain -- agent collector tests/fleetsim 2>/dev/null | wc -l)
fragment=$(
  cat "$out/scale_report.md"
  echo
  echo "- Run of $started: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2 " GiB"}'), kernel $(uname -r)"
  echo "- Commit $commit$( ((dirty)) && echo " + $dirty uncommitted files in agent/, collector/, tests/fleetsim/"), build type $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"
  echo "- Everything ran at nice $nice_level, autogroup nice $nice_level (the collector and fleetsim included)"
  echo "- Load average (1/5/15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg); wall time $((SECONDS - t0)) s"
  if [[ -s $out/plots/scale_storm.png ]]; then echo "- Plot: \`plots/scale_storm.png\`"; fi
)
# tests/bench/run sends stdout to OUTDIR/scale.md itself; write it here only when it does not.
if [[ ! /dev/stdout -ef $out/scale.md ]]; then
  printf '%s\n' "$fragment" >"$out/scale.md"
fi
printf '%s\n' "$fragment"
