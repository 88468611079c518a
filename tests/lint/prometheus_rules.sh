#!/usr/bin/env bash
# promtool's checks of dashboards/prometheus: both scrape configs, the rule files, and the rule
# unit tests (dashboards/prometheus/tests/*.yml).
#   prometheus_rules.sh PROMTOOL SOURCE_DIR
set -euo pipefail
promtool=$1
dir=$2/dashboards/prometheus
"$promtool" check config "$dir"/prometheus-*.yml
"$promtool" check rules "$dir"/rules/*.yml
"$promtool" test rules "$dir"/tests/*.yml
