#!/usr/bin/env bash
# `fleetps sudoers`: the users of the hosts with privilege: sudo (each once, in file order) plus
# every --user; a config without such a host and without --user, a bad --user and an invalid
# config are errors. Where visudo exists, the snippet must pass `visudo -cf`.
set -euo pipefail
fleetps=${1:?usage: sudoers_cli.sh FLEETPS_BINARY}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cat >"$dir/fleet.yaml" <<'YAML'
defaults: {user: monitor, identity_file: /k}
hosts:
  - name: web01
  - name: db01
    user: oramon
    privilege: sudo
  - name: "db[02-03]"
    user: oramon
    privilege: sudo
  - name: app01
    user: appmon
    privilege: sudo
YAML
out=$("$fleetps" sudoers --config "$dir/fleet.yaml" --user extra_user)
grep -qx 'Defaults:oramon, appmon, extra_user !requiretty' <<<"$out" || fail "Defaults line: $out"
grep -q '^oramon, appmon, extra_user ALL = (root) NOPASSWD: FLEETPS_PROC_FD, ' <<<"$out" \
  || fail "rule line: $out"
grep -qx 'Cmnd_Alias FLEETPS_LISTEN_SS = /usr/bin/ss -ltunp' <<<"$out" || fail "ss alias: $out"
grep -q 'monitor' <<<"$out" && fail "monitor has privilege: none but is in the rules"
# Every rule line outside comments names no unescaped wildcard.
if grep -v '^#' <<<"$out" | grep -E '(^|[^\\])[*?[]' >/dev/null; then fail "unescaped wildcard: $out"; fi
if command -v visudo >/dev/null; then
  printf '%s' "$out" >"$dir/snippet"
  visudo -cf "$dir/snippet" >/dev/null || fail "visudo -cf rejects: $(visudo -cf "$dir/snippet" 2>&1)"
fi

cat >"$dir/none.yaml" <<'YAML'
defaults: {user: monitor, identity_file: /k}
hosts: [{name: web01}]
YAML
set +e
err=$("$fleetps" sudoers --config "$dir/none.yaml" 2>&1 >/dev/null); code=$?
[[ $code -eq 1 && $err == *"has privilege: sudo"* ]] || fail "no sudo host: exit $code: $err"
err=$("$fleetps" sudoers --user 'bad;name' 2>&1 >/dev/null); code=$?
[[ $code -eq 2 && $err == *"--user: user \"bad;name\""* ]] || fail "bad --user: exit $code: $err"
err=$("$fleetps" sudoers 2>&1 >/dev/null); code=$?
[[ $code -eq 2 ]] || fail "no arguments: exit $code: $err"
printf 'hosts: [\n' >"$dir/broken.yaml"
err=$("$fleetps" sudoers --config "$dir/broken.yaml" 2>&1 >/dev/null); code=$?
[[ $code -eq 1 && $err == *"broken.yaml:"* ]] || fail "invalid config: exit $code: $err"
set -e
((failures == 0)) && echo "ok: fleetps sudoers"
exit $((failures > 0))
