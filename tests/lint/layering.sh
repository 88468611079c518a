#!/usr/bin/env bash
# Checks the include edges of DESIGN.md section 1 over a source tree.
#   layering.sh SOURCE_DIR   -> exit 0 when clean, 1 with one line per violation
set -euo pipefail
root=${1:?usage: layering.sh SOURCE_DIR}
status=0

# check <folder> <extended regex of forbidden #include targets> <why>
check() {
  local folder=$1 forbidden=$2 why=$3 hits
  [[ -d $root/$folder ]] || return 0
  hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($forbidden)" \
           --include='*.hpp' --include='*.cpp' --include='*.h' "$root/$folder" || true)
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
exit $status
