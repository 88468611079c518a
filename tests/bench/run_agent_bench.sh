#!/usr/bin/env bash
# Agent benchmark (issue 3) in one command: starts a throwaway sshd on 127.0.0.1 through
# scripts/testhost (dedicated user fleetps-bench, login shell /bin/sh), runs agent_bench against
# it and prints a Markdown section for tests/bench/RESULTS.md on stdout (progress on stderr).
#
#   tests/bench/run_agent_bench.sh [BUILD_DIR] [agent_bench options...]   (e.g. --channel shell)
#
# BUILD_DIR defaults to build/bench (configure it with -DCMAKE_BUILD_TYPE=Release). Needs root,
# like every testhost user. Takes about 2-3 minutes on 2 cores.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build/bench}
(($#)) && shift
bin=$build/tests/bench/agent_bench
[[ -x $bin ]] || { echo "run_agent_bench: build the agent_bench target in $build first" >&2; exit 2; }

dir=$(mktemp -d /tmp/fleetps-bench-XXXXXX)
cleanup() { "$src/scripts/testhost" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
# 200 sessions connect 16 at a time; keep sshd from dropping unauthenticated ones.
"$src/scripts/testhost" start "$dir" --user fleetps-bench --shell /bin/sh --max-startups 300 >&2

# A second, ECDSA P-256 user key: libssh 0.10 re-imports an ed25519 private key into OpenSSL
# on every signature (as costly as a key generation); compare what the handshake costs without.
ssh-keygen -q -t ecdsa -b 256 -N '' -C fleetps-bench -f "$dir/id_ecdsa"
cat "$dir/id_ecdsa.pub" >>"$dir/authorized_keys"

# A fleet-sized known_hosts: 10,000 other hosts, then this one (the agent used to let libssh
# re-read the whole file on every connect to order its host-key algorithms).
awk '{ for (i = 0; i < 10000; i++) printf "[10.%d.%d.%d]:22 %s %s\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256, $2, $3; print }' \
  "$dir/known_hosts" >"$dir/known_hosts_big"

# sshd logs at DEBUG1 for the tests; that costs sshd (not client) CPU and disk only.
start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
out=$("$bin" "$dir/env" --alt-identity "$dir/id_ecdsa" --big-known-hosts "$dir/known_hosts_big" "$@")
elapsed=$(($(date +%s) - start))

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$src" status --porcelain -- agent config tests/bench 2>/dev/null | awk '{print $2}' | paste -sd, -)
[[ -z $dirty ]] || dirty=" + uncommitted changes in $dirty"
cat <<EOF
### Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2 " GiB"}'), kernel $(uname -r)
- Load average (1/5/15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg) (other builds ran too; sshd shares the same 2 cores)
- Commit $commit$dirty, build type ${build_type:-unknown}, $(c++ --version | head -1)
- Server: $(/usr/sbin/sshd -V 2>&1 | head -1); client libssh $(dpkg-query -W -f '${Version}' libssh-4 2>/dev/null || echo '?')
- Wall time of the run: ${elapsed} s
$out
EOF
