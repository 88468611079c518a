#!/usr/bin/env bash
# Builds the Debian package from the test build, extracts it into a staging root and checks
# what a user gets: the installed binary runs and accepts the installed example config, the unit
# passes `systemd-analyze verify` and rates <= 3.0 in `systemd-analyze security --offline`, the
# man page renders without warnings, the bash completion completes, and the man page and the
# completion say what the installed binary's --help says (they are generated from one table).
# Nothing is installed on this machine and no service is started (PID 1 here is not systemd).
#   tests/package/package_test.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR}")
work=$(mktemp -d "${TMPDIR:-/tmp}/fleetps-package-XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --- the package
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/cpack" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1; }
deb=$(find "$work/cpack" -maxdepth 1 -name 'fleetps_*.deb')
[[ -n $deb ]] || { echo "FAIL: cpack made no .deb"; exit 1; }
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
# From dpkg-shlibdeps on the binary (the libraries it links), plus adduser for postinst.
for lib in adduser libssh-4 libyaml-cpp0.7 libsystemd0 libssl3 libboost-json1.81.0 libc6; do
  [[ ", $depends," == *", $lib"[\ ,]* ]] || fail "Depends lacks $lib"
done
# The listing first: `grep -q` leaving early would SIGPIPE tar and fail the pipeline (pipefail).
control_files=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
for script in postinst prerm postrm; do
  grep -qx "./$script" <<<"$control_files" || fail "no $script in the package"
done
dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
  sh -n "$work/control/$script" || fail "$script: shell syntax"
done
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst creates no system user"

stage=$work/root
dpkg-deb -x "$deb" "$stage"
fleetps=$stage/usr/bin/fleetps
unit=$stage/usr/lib/systemd/system/fleetps.service
man_page=$stage/usr/share/man/man1/fleetps.1
completion=$stage/usr/share/bash-completion/completions/fleetps
example=$stage/usr/share/doc/fleetps/examples/fleetps.yaml
for file in "$fleetps" "$unit" "$man_page" "$completion" "$example" \
  "$stage/usr/share/fleetps/prometheus/rules/fleetps-alerts.yml" \
  "$stage/usr/share/fleetps/grafana/fleet-overview.json"; do
  [[ -f $file ]] || fail "not in the package: ${file#"$stage"}"
done

# --- the installed binary
"$fleetps" version | grep -Eq '^fleetps [0-9]+\.[0-9]+\.[0-9]+' || fail "fleetps version"
"$fleetps" check-config "$example" || fail "check-config on the installed example config"

# --- the unit
grep -qx 'ExecStart=/usr/bin/fleetps run --config /etc/fleetps/fleetps.yaml' "$unit" ||
  fail "ExecStart does not run the packaged binary on /etc/fleetps/fleetps.yaml"
grep -qx 'ConditionPathExists=/etc/fleetps/fleetps.yaml' "$unit" || fail "the unit would start without a config"
grep -qx 'Type=notify' "$unit" || fail "not Type=notify"
# verify checks that ExecStart exists and runs `man fleetps(1)` for Documentation=: it checks a
# copy whose ExecStart is the staged binary (same unit otherwise), with the staged man pages.
sed "s|^ExecStart=/usr/bin/fleetps|ExecStart=$fleetps|" "$unit" >"$work/fleetps.service"
if ! MANPATH=$stage/usr/share/man systemd-analyze verify "$work/fleetps.service" >"$work/verify.log" 2>&1 ||
  [[ -s $work/verify.log ]]; then
  cat "$work/verify.log"
  fail "systemd-analyze verify"
fi
systemd-analyze security --offline=true "$unit" >"$work/security.log" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for fleetps.service: \([0-9.]*\).*/\1/p' "$work/security.log")
echo "systemd-analyze security: exposure $exposure"
if [[ -z $exposure ]] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }'; then
  tail -5 "$work/security.log"
  fail "exposure '$exposure' is not <= 3.0"
fi

# --- the man page renders without a warning
MANWIDTH=80 man --warnings -l "$man_page" >"$work/man.txt" 2>"$work/man.err" || fail "man -l failed"
[[ -s $work/man.err ]] && { cat "$work/man.err"; fail "man -l warned"; }
grep -q 'fleetps - agentless process monitor' "$work/man.txt" || fail "man page has no NAME line"

# --- drift: the installed man page and completion are what the installed binary generates, and
# every command of its --help is in both
diff <("$fleetps" help --man) "$man_page" >/dev/null || fail "installed fleetps.1 differs from fleetps help --man"
diff <("$fleetps" help --bash-completion) "$completion" >/dev/null ||
  fail "installed completion differs from fleetps help --bash-completion"
commands=$("$fleetps" --help | sed -n '/^commands:/,/^$/p' | awk 'NF && $1 != "commands:" && /^  [a-z]/ { print $1 }')
[[ $(wc -w <<<"$commands") -ge 8 ]] || fail "--help lists too few commands: $commands"
for command in $commands; do
  grep -q "^\\\\fBfleetps $(sed 's/-/\\\\-/g' <<<"$command")" "$man_page" || fail "man page lacks command $command"
done

# --- the completion loads in bash and completes
completed=$(bash --norc --noprofile -c '
  source "$1"
  complete -p fleetps >/dev/null || exit 3
  COMP_WORDS=(fleetps "")
  COMP_CWORD=1
  _fleetps
  echo "${COMPREPLY[*]}"
  COMP_WORDS=(fleetps check-c)
  _fleetps
  echo "${COMPREPLY[*]}"
  COMP_WORDS=(fleetps hosts -o w)
  COMP_CWORD=3
  _fleetps
  echo "${COMPREPLY[*]}"
' bash "$completion") || fail "the completion did not load (status $?)"
mapfile -t lines <<<"$completed"
[[ ${lines[1]:-} == check-config ]] || fail "completion of 'check-c' gave '${lines[1]:-}'"
[[ ${lines[2]:-} == wide ]] || fail "completion of '-o w' gave '${lines[2]:-}'"
for command in $commands; do
  [[ " ${lines[0]} " == *" $command "* ]] || fail "completion does not offer command $command"
done

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "ok: $(basename "$deb")"
