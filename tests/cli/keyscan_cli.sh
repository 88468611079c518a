#!/usr/bin/env bash
# `fleetps keyscan` against a real sshd: enrolls the key and prints the fingerprint ssh-keygen
# gives; a second run finds it already known; a different recorded key is refused, exit 1,
# and the known_hosts file stays byte for byte the same. Against a server restricted to RHEL 5's
# algorithms it prints the offer with the weak ones flagged and, with the default algorithms,
# the setting that would match; with `algorithms: legacy` it enrolls and names what is weak.
set -euo pipefail
fleetps=${1:?usage: keyscan_cli.sh FLEETPS_BINARY SOURCE_DIR}
src=${2:?}
dir=$(mktemp -d /tmp/fleetps-keyscan-XXXXXX)
trap '"$src/scripts/testhost" stop "$dir/host" >/dev/null 2>&1 || true
      "$src/scripts/testhost" stop "$dir/old" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$src/scripts/testhost" start "$dir/host" >/dev/null
# shellcheck disable=SC1091
source "$dir/host/env"
cat >"$dir/fleet.yaml" <<YAML
defaults:
  user: $FLEETPS_TEST_USER
  identity_file: $FLEETPS_TEST_IDENTITY
  known_hosts: $dir/known_hosts
hosts:
  - name: keyscan-target
    address: 127.0.0.1
    port: $FLEETPS_TEST_PORT
YAML
want=$(ssh-keygen -lf "$dir/host/ssh_host_ed25519_key.pub" | awk '{print $2}')

out=$("$fleetps" keyscan "$dir/fleet.yaml")
echo "$out"
grep -q "keyscan-target .*ssh-ed25519  $want  added" <<<"$out" || { echo "FAIL: not added"; exit 1; }
grep -q "^\[127.0.0.1\]:$FLEETPS_TEST_PORT ssh-ed25519 " "$dir/known_hosts" || { echo "FAIL: no line"; exit 1; }

out=$("$fleetps" keyscan "$dir/fleet.yaml")
grep -q "already known" <<<"$out" || { echo "FAIL: second run: $out"; exit 1; }

ssh-keygen -q -t ed25519 -N '' -f "$dir/other" >/dev/null
echo "[127.0.0.1]:$FLEETPS_TEST_PORT $(cut -d' ' -f1-2 "$dir/other.pub")" >"$dir/known_hosts"
before=$(sha256sum "$dir/known_hosts")
set +e
err=$("$fleetps" keyscan "$dir/fleet.yaml" 2>&1 >/dev/null)
code=$?
set -e
[[ $code -eq 1 ]] || { echo "FAIL: changed key: exit $code (want 1)"; exit 1; }
grep -q REFUSED <<<"$err" || { echo "FAIL: changed key not refused: $err"; exit 1; }
[[ $(sha256sum "$dir/known_hosts") == "$before" ]] || { echo "FAIL: known_hosts changed"; exit 1; }

"$src/scripts/testhost" start "$dir/old" --legacy rhel5 >/dev/null
old_port=$(sed -n 's/^FLEETPS_TEST_PORT=//p' "$dir/old/env")
write_old() {  # write_old ALGORITHMS_LINE
  cat >"$dir/old.yaml" <<YAML
defaults:
  user: $FLEETPS_TEST_USER
  identity_file: $FLEETPS_TEST_IDENTITY
  known_hosts: $dir/old_known_hosts
hosts:
  - name: rhel5
    address: 127.0.0.1
    port: $old_port
    $1
YAML
}
write_old ""
set +e
all=$("$fleetps" keyscan "$dir/old.yaml" 2>&1)
code=$?
set -e
echo "$all"
[[ $code -eq 1 ]] || { echo "FAIL: default algorithms against rhel5: exit $code (want 1)"; exit 1; }
for want in "rhel5  127.0.0.1:$old_port  error: kex_failed" "banner: SSH-2.0-OpenSSH_" \
    "weak offered: kex diffie-hellman-group1-sha1 (1024-bit group (Logjam), SHA-1)" \
    "hostkeys ssh-rsa (SHA-1 signatures)" "ciphers 3des-cbc" "macs hmac-md5 (MD5)" \
    "set algorithms: {kex: [diffie-hellman-group14-sha1]}"; do
  grep -qF "$want" <<<"$all" || { echo "FAIL: missing: $want"; exit 1; }
done
write_old "algorithms: legacy"
out=$("$fleetps" keyscan "$dir/old.yaml")
echo "$out"
for want in "rhel5  127.0.0.1:$old_port  ssh-rsa  SHA256:" "added" \
    "negotiated: kex diffie-hellman-group14-sha1, hostkey ssh-rsa, cipher aes128-cbc, mac hmac-sha1" \
    "weak in use: kex diffie-hellman-group14-sha1 (SHA-1)"; do
  grep -qF "$want" <<<"$out" || { echo "FAIL: missing: $want"; exit 1; }
done
echo "keyscan: enrolled, recognised, and refused a changed key; inventoried a RHEL 5-like server"
