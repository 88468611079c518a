#!/usr/bin/env bash
# Proves both layering guards fail on a violation:
#  1. the include check rejects a collector header included from agent/;
#  2. the configure step rejects a forbidden link edge (FLEETPS_LAYERING_SELFTEST).
set -euo pipefail
src=${1:?usage: layering_selftest.sh SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/tree/agent/src"
printf '#include "fleetps/collector/supervisor.hpp"\n' >"$tmp/tree/agent/src/bad.cpp"
if "$src/tests/lint/layering.sh" "$tmp/tree" >"$tmp/include.log"; then
  echo "FAIL: include check accepted agent -> collector"; exit 1
fi
grep -q 'agent/src/bad.cpp:1:' "$tmp/include.log" || { cat "$tmp/include.log"; exit 1; }

if cmake -S "$src" -B "$tmp/build" -DFLEETPS_BUILD_TESTS=OFF -DFLEETPS_LAYERING_SELFTEST=ON \
     >"$tmp/configure.log" 2>&1; then
  echo "FAIL: configure accepted fleetps_agent -> fleetps::collector"; exit 1
fi
grep -q 'layering: fleetps_agent must not link fleetps::collector' "$tmp/configure.log" \
  || { cat "$tmp/configure.log"; exit 1; }
echo "both layering guards reject a forbidden edge"
