#!/usr/bin/env bash
# Checks the include edges of DESIGN.md section 1 over a source tree.
#   layering.sh SOURCE_DIR   -> exit 0 when clean, 1 with one line per violation
set -euo pipefail
root=${1:?usage: layering.sh SOURCE_DIR}
status=0

# check <folder or file> <extended regex of forbidden #include targets> <why> [<regex of allowed ones>]
# The allowed regex carves exceptions out of the forbidden one (grep -E has no lookahead).
check() {
  local folder=$1 forbidden=$2 why=$3 allowed=${4:-} hits
  [[ -e $root/$folder ]] || return 0
  hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($forbidden)" \
           --include='*.hpp' --include='*.cpp' --include='*.h' "$root/$folder" || true)
  if [[ -n $hits && -n $allowed ]]; then
    hits=$(grep -vE "#[[:space:]]*include[[:space:]]*[<\"]($allowed)[>\"]" <<<"$hits" || true)
  fi
  if [[ -n $hits ]]; then
    while IFS= read -r hit; do
      echo "layering: ${hit#"$root"/}: $why"
    done <<<"$hits"
    status=1
  fi
}

check registry 'fleetps/(config|probes|agent|collector)/' 'fleetps::registry must not use another fleetps component'
check config 'fleetps/(registry|probes|agent|collector)/' 'fleetps::config must not use another fleetps component'
check agent/probes 'fleetps/(registry|config|agent|collector)/|boost/|libssh/|yaml-cpp/|prometheus/' 'fleetps::probes is std-only'
check agent/include 'fleetps/(collector|registry)/|prometheus/|libssh/' 'fleetps::agent public headers expose neither collector, registry, prometheus-cpp nor libssh'
check agent/src 'fleetps/(collector|registry)/|prometheus/' 'fleetps::agent must not use collector, registry or prometheus-cpp'
check config/include 'yaml-cpp/' 'yaml-cpp is private to fleetps::config'
check agent/include/fleetps/agent/backoff.hpp 'fleetps/|boost/|libssh/|yaml-cpp/' \
  'the backoff arithmetic is std only: collector supervision includes it without linking the agent'

# Collector modules (collector/CMakeLists.txt): each uses only the modules below it.
above_query='http|cluster|fleet|exposition|api|app|cli'
check collector/telemetry "fleetps/(registry|config|probes|agent)/|fleetps/collector/(supervision|query|$above_query)/|prometheus/" \
  'collector telemetry is the bottom module: std and Asio only'
check collector/supervision "fleetps/(config|probes|agent)/|fleetps/collector/(query|$above_query)/|prometheus/|libssh/" \
  'collector supervision knows no hosts, probes or HTTP (of the agent, only its backoff arithmetic)' \
  'fleetps/agent/backoff\.hpp'
check collector/query "fleetps/(registry|config|agent)/|fleetps/collector/(telemetry|supervision|$above_query)/|boost/(json|beast|url|asio)|prometheus/" \
  'collector query is pure: no HTTP, JSON or I/O'
check collector/http "fleetps/(registry|config|probes|agent)/|fleetps/collector/(supervision|query|cluster|fleet|exposition|api|app|cli)/|prometheus/" \
  'collector http is transport only'
check collector/cluster "fleetps/(probes|agent)/|fleetps/collector/(supervision|query|fleet|exposition|api|app|cli)/|prometheus/|libssh/" \
  'collector cluster knows members and buckets, not agents, probes or their renderings'
check collector/fleet 'fleetps/collector/(supervision|http|exposition|api|app|cli)/|prometheus/|boost/(json|beast)' \
  'collector fleet holds state, not its renderings'
check collector/exposition 'fleetps/collector/(http|api|app|cli)/|boost/(json|beast)' \
  'collector exposition renders series, it does not serve them'
check collector/api 'fleetps/collector/(app|cli)/' 'collector api handlers must not reach the wiring or the CLI'
check collector/app 'fleetps/collector/cli/' 'collector app must not use the CLI'
exit $status
