#!/usr/bin/env bash
# Proves both layering guards fail on a violation:
#  1. the include check rejects a collector header included from agent/, an agent header other
#     than backoff.hpp included from the collector's supervision module, and an api header
#     included from the collector's query module;
#  2. the configure step rejects a forbidden link edge between components and between collector
#     modules (FLEETPS_LAYERING_SELFTEST=component|module).
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

rm -r "$tmp/tree/agent"
# Supervision may include the agent's backoff header, and nothing else of the agent.
mkdir -p "$tmp/tree/collector/supervision/src"
printf '#include "fleetps/agent/backoff.hpp"\n' >"$tmp/tree/collector/supervision/src/ok.cpp"
"$src/tests/lint/layering.sh" "$tmp/tree" >"$tmp/include.log" || {
  echo "FAIL: include check rejected supervision -> agent/backoff.hpp"; cat "$tmp/include.log"; exit 1
}
printf '#include "fleetps/agent/backoff.hpp"\n#include "fleetps/agent/host_agent.hpp"\n' \
  >"$tmp/tree/collector/supervision/src/bad.cpp"
if "$src/tests/lint/layering.sh" "$tmp/tree" >"$tmp/include.log"; then
  echo "FAIL: include check accepted supervision -> agent/host_agent.hpp"; exit 1
fi
[[ $(grep -c . "$tmp/include.log") == 1 ]] && grep -q 'supervision/src/bad.cpp:2:' "$tmp/include.log" ||
  { cat "$tmp/include.log"; exit 1; }
rm -r "$tmp/tree/collector"

mkdir -p "$tmp/tree/collector/query/src"
printf '#include "fleetps/collector/api/json.hpp"\n' >"$tmp/tree/collector/query/src/bad.cpp"
if "$src/tests/lint/layering.sh" "$tmp/tree" >"$tmp/include.log"; then
  echo "FAIL: include check accepted collector query -> api"; exit 1
fi
grep -q 'collector/query/src/bad.cpp:1:' "$tmp/include.log" || { cat "$tmp/include.log"; exit 1; }

# configure_rejects <selftest value> <expected message>
configure_rejects() {
  rm -rf "$tmp/build"
  if cmake -S "$src" -B "$tmp/build" -DFLEETPS_BUILD_TESTS=OFF -DFLEETPS_LAYERING_SELFTEST="$1" \
       >"$tmp/configure.log" 2>&1; then
    echo "FAIL: configure accepted the $1 edge"; exit 1
  fi
  grep -q "$2" "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
}
configure_rejects component 'layering: fleetps_agent must not link fleetps::collector'
configure_rejects module 'layering: fleetps_collector_query must not link fleetps::collector_api'

echo "both layering guards reject a forbidden edge"
