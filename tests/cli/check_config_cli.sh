#!/usr/bin/env bash
# `fleetps check-config` over the example and the config corpus: the example and every good file
# exit 0; every bad file exits 1 and prints exactly its `# expect: LINE:COL: MESSAGE` lines, each
# prefixed with the file name; so does every web config of web-bad/, named by an inventory's
# collector.web_config_file (web-good/ ones exit 0). bad-libssh/ holds files whose diagnostics
# need the linked libssh (algorithm names), which only the CLI checks; the config library's own
# corpus test skips them. Runs under `unshare -n` when available, proving no network is used.
set -euo pipefail
fleetps=${1:?usage: check_config_cli.sh FLEETPS_BINARY SOURCE_DIR}
src=${2:?}
isolate=()
if unshare -n true 2>/dev/null; then isolate=(unshare -n); fi
failures=0 checked=0

"${isolate[@]}" "$fleetps" check-config "$src/config/examples/fleet.yaml" >/dev/null \
  || { echo "FAIL: example config rejected"; failures=$((failures + 1)); }

for file in "$src"/tests/data/config/good/*.yaml; do
  [[ -e $file ]] || continue
  checked=$((checked + 1))
  "${isolate[@]}" "$fleetps" check-config "$file" >/dev/null 2>&1 \
    || { echo "FAIL: $file: exit $? (want 0)"; failures=$((failures + 1)); }
done

for file in "$src"/tests/data/config/bad/*.yaml "$src"/tests/data/config/bad-libssh/*.yaml; do
  checked=$((checked + 1))
  set +e
  actual=$("${isolate[@]}" "$fleetps" check-config "$file" 2>&1 >/dev/null)
  code=$?
  set -e
  if [[ $code -ne 1 ]]; then
    echo "FAIL: $file: exit $code (want 1)"; failures=$((failures + 1)); continue
  fi
  expected=$(sed -n "s|^# expect: |$file:|p" "$file")
  if [[ -z $expected ]]; then
    echo "FAIL: $file has no '# expect:' line"; failures=$((failures + 1)); continue
  fi
  got=$(printf '%s\n' "$actual" | grep -F "$file:" | grep -v ': [0-9]* problems\?$' || true)
  if [[ "$got" != "$expected" ]]; then
    printf 'FAIL: %s\n  want:\n%s\n  got:\n%s\n' "$file" "$expected" "$got"
    failures=$((failures + 1))
  fi
done
# Web configs (collector.web_config_file): each bad one, named by a valid inventory, makes
# check-config exit 1 with its own diagnostics, prefixed with the web config's path.
inventory=$(mktemp --suffix=.yaml)
trap 'rm -f "$inventory"' EXIT
for file in "$src"/tests/data/config/web-bad/*.yaml "$src"/tests/data/config/web-good/*.yaml; do
  checked=$((checked + 1))
  printf 'collector: {web_config_file: %s}\ndefaults: {user: mon, identity_file: /k}\nhosts: [{name: a}]\n' \
    "$file" >"$inventory"
  set +e
  summary_out=$(mktemp)
  actual=$("${isolate[@]}" "$fleetps" check-config "$inventory" 2>&1 >"$summary_out")
  code=$?
  set -e
  # A good web config is summed up on the ok line (`# summary:` in the file says how).
  summary=$(sed -n 's/^# summary: //p' "$file")
  if [[ -n $summary ]] && ! grep -qF "; $file: $summary" "$summary_out"; then
    printf 'FAIL: %s: the ok line lacks "%s": %s\n' "$file" "$summary" "$(cat "$summary_out")"
    failures=$((failures + 1))
  fi
  rm -f "$summary_out"
  expected=$(sed -n "s|^# expect: |$file:|p" "$file")
  want=1; [[ $file == */web-good/* ]] && want=0
  got=$(printf '%s\n' "$actual" | grep -F "$file:" | grep -v ': [0-9]* problems\?$' || true)
  if [[ $code -ne $want || "$got" != "$expected" ]]; then
    printf 'FAIL: %s: exit %s (want %s)\n  want:\n%s\n  got:\n%s\n' "$file" "$code" "$want" \
      "$expected" "$got"
    failures=$((failures + 1))
  fi
done

echo "$checked corpus files checked, $failures failures"
((checked >= 25 && failures == 0))
