#!/usr/bin/env bash
# Proves the dashboard schema check (dashboards_schema.mjs) fails on each error Grafana's schema
# forbids and that we once shipped: a dashboard link without `tooltip`, a variable without
# `current`, bar gauge and time series options without `legend`, and the table `footer` option
# Grafana 12 removed. Each is planted in its own copy of a shipped dashboard; the error must
# name that copy, the JSON line and path of the problem, and the property. An untouched copy,
# checked in the same run, must pass.
set -euo pipefail
node=${1:?usage: dashboards_schema_selftest.sh NODE SOURCE_DIR WORK_DIR}
src=${2:?usage: dashboards_schema_selftest.sh NODE SOURCE_DIR WORK_DIR}
work=${3:?usage: dashboards_schema_selftest.sh NODE SOURCE_DIR WORK_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Writes the copies and prints one line per planted error: COPY PATH PROPERTY.
"$node" - "$src/dashboards/grafana/fleet-overview.json" "$tmp/dashboards" >"$tmp/expected" <<'EOF'
const fs = require('node:fs');
const [source, dir] = process.argv.slice(2);
fs.mkdirSync(dir);
const panel = (d, type) => {
  const i = d.panels.findIndex((p) => p.type === type);
  if (i < 0) throw new Error(`${source} has no ${type} panel to plant an error in`);
  return [i, d.panels[i]];
};
const plants = {
  link_without_tooltip: (d) => { delete d.links[0].tooltip; return ['$.links[0]', 'tooltip']; },
  variable_without_current: (d) => { delete d.templating.list[1].current; return ['$.templating.list[1]', 'current']; },
  bargauge_without_legend: (d) => {
    const [i, p] = panel(d, 'bargauge');
    delete p.options.legend;
    return [`$.panels[${i}].options`, 'legend'];
  },
  timeseries_without_legend: (d) => {
    const [i, p] = panel(d, 'timeseries');
    delete p.options.legend;
    return [`$.panels[${i}].options`, 'legend'];
  },
  table_with_footer: (d) => {
    const [i, p] = panel(d, 'table');
    p.options.footer = { show: false, reducer: ['sum'], fields: '' };
    return [`$.panels[${i}].options.footer`, 'footer'];
  },
};
const text = fs.readFileSync(source, 'utf8');
fs.writeFileSync(`${dir}/untouched.json`, text);
for (const [name, plant] of Object.entries(plants)) {
  const dashboard = JSON.parse(text);
  const [jsonPath, property] = plant(dashboard);
  fs.writeFileSync(`${dir}/${name}.json`, JSON.stringify(dashboard, null, 2) + '\n');
  console.log(`${dir}/${name}.json ${jsonPath} ${property}`);
}
EOF

status=0
"$node" "$src/tests/lint/dashboards_schema.mjs" --work "$work" "$tmp/dashboards" >"$tmp/out" || status=$?
if [[ $status != 1 ]]; then
  echo "FAIL: the check exited $status on the planted errors, not 1"; cat "$tmp/out"; exit 1
fi
if grep -q "^$tmp/dashboards/untouched.json:" "$tmp/out"; then
  echo "FAIL: the untouched copy of fleet-overview.json was rejected"; cat "$tmp/out"; exit 1
fi
# One record per error: its indented elaboration lines joined to it.
awk '/^[[:space:]]/ { record = record " " $0; next }
     { if (record != "") print record; record = $0 }
     END { if (record != "") print record }' "$tmp/out" >"$tmp/errors"
while read -r copy json_path property; do
  # FILE:LINE: JSONPATH: message naming the property
  if ! grep -F "$copy:" "$tmp/errors" | grep -E "^[^:]+:[0-9]+: " | grep -F ": $json_path: " |
       grep -qF "'$property'"; then
    echo "FAIL: no error naming $copy, $json_path and '$property'"; cat "$tmp/out"; exit 1
  fi
done <"$tmp/expected"
echo "the schema check rejects all $(wc -l <"$tmp/expected") planted errors"
