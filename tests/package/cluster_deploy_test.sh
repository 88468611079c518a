#!/usr/bin/env bash
# Issue 20: the cluster deployment examples of deploy/cluster/ are what they claim to be.
#   cluster_deploy_test.sh SOURCE_DIR FLEETPS_BINARY
# - the fleetps configs (etcd and static, and the one in the Kubernetes ConfigMap) pass
#   `fleetps check-config`;
# - the packaged unit plus the cluster drop-in passes `systemd-analyze verify` and keeps the
#   packaged unit's exposure (<= 3.0 in `systemd-analyze security --offline`);
# - every ETCD_* variable of the etcd member files is a flag of Debian's etcd, and the three
#   files differ only in the member's own name, URLs and certificates;
# - the Kubernetes manifests parse and hang together (Service, StatefulSet, ConfigMap, Secrets);
# - the Prometheus configs pass `promtool check config`.
# kubectl is not used (not installed here): the manifests are checked as YAML only.
set -euo pipefail
src=$1
fleetps=$2
dir=$src/deploy/cluster
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# --- fleetps configs. The secrets they name live where systemd's LoadCredential= or the
# Kubernetes Secret put them; check-config reads them, so stand-ins go in a scratch directory.
mkdir -p "$work/credentials"
echo stand-in >"$work/credentials/etcd.pass"
for config in "$dir/fleetps.yaml" "$dir/fleetps-static.yaml"; do
  sed "s|/run/credentials/fleetps.service/|$work/credentials/|g" "$config" >"$work/checked.yaml"
  "$fleetps" check-config "$work/checked.yaml" || fail "check-config ${config#"$src"/}"
done
python3 - "$dir/kubernetes/fleetps.yaml" "$work/configmap-fleetps.yaml" <<'EOF' || fail "extracting the ConfigMap's fleetps.yaml"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["fleetps.yaml"]
open(sys.argv[2], "w").write(config)
EOF
sed -i "s|/etc/fleetps/etcd/|$work/credentials/|g" "$work/configmap-fleetps.yaml"
"$fleetps" check-config "$work/configmap-fleetps.yaml" || fail "check-config on the ConfigMap's fleetps.yaml"

# --- systemd: the packaged unit (as cmake --install writes it) with the cluster drop-in
unit_dir=$work/systemd
mkdir -p "$unit_dir/fleetps.service.d"
sed -e "s|@FLEETPS_BINDIR@/fleetps|$fleetps|" -e 's|@FLEETPS_CONFIG@|/etc/fleetps/fleetps.yaml|' \
  -e 's|@FLEETPS_SYSCONFDIR@|/etc|' -e 's|@FLEETPS_DOCDIR@|/usr/share/doc/fleetps|' \
  -e '/^Documentation=man:/d' "$src/deploy/fleetps.service.in" >"$unit_dir/fleetps.service"
grep -q '@FLEETPS_' "$unit_dir/fleetps.service" && fail "unsubstituted @VAR@ left in the unit"
sed "s|/usr/bin/fleetps|$fleetps|" "$dir/systemd/fleetps.service.d/cluster.conf" \
  >"$unit_dir/fleetps.service.d/cluster.conf"
grep -q -- '--cluster-member ${FLEETPS_CLUSTER_MEMBER} --cluster-advertise ${FLEETPS_CLUSTER_ADVERTISE}' \
  "$unit_dir/fleetps.service.d/cluster.conf" || fail "the drop-in does not pass the member flags"
if ! (cd "$unit_dir" && SYSTEMD_UNIT_PATH="$unit_dir:" systemd-analyze verify fleetps.service) \
  >"$work/verify.log" 2>&1 || [[ -s $work/verify.log ]]; then
  cat "$work/verify.log"
  fail "systemd-analyze verify fleetps.service with the cluster drop-in"
fi
(cd "$unit_dir" && SYSTEMD_UNIT_PATH="$unit_dir:" systemd-analyze security --offline=true \
  fleetps.service) >"$work/security.log" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for fleetps.service: \([0-9.]*\).*/\1/p' "$work/security.log")
echo "systemd-analyze security with the cluster drop-in: exposure $exposure"
if [[ -z $exposure ]] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }'; then
  tail -5 "$work/security.log"
  fail "exposure '$exposure' is not <= 3.0"
fi

# --- etcd member files for Debian's etcd.service (/etc/default/etcd)
etcd_bin=$(command -v etcd || true)
if [[ -z $etcd_bin ]]; then
  fail "etcd not installed (scripts/setup installs etcd-server)"
else
  "$etcd_bin" --help >"$work/etcd-help.txt" 2>&1 || true
  for member in 1 2 3; do
    file=$dir/systemd/etcd-$member.default
    while IFS='=' read -r name _; do
      flag=--$(tr 'A-Z_' 'a-z-' <<<"${name#ETCD_}")
      grep -q -- "^ *$flag\b" "$work/etcd-help.txt" || fail "etcd-$member.default: $name is no etcd flag ($flag)"
    done < <(grep -E '^ETCD_[A-Z_]+=' "$file")
    grep -qx "ETCD_NAME=etcd$member" "$file" || fail "etcd-$member.default does not name etcd$member"
    # The same cluster in every file; beyond it only this member's own name, URLs and
    # certificate files differ.
    cluster_line=$(grep '^ETCD_INITIAL_CLUSTER=' "$file")
    [[ $cluster_line == $(grep '^ETCD_INITIAL_CLUSTER=' "$dir/systemd/etcd-1.default") ]] ||
      fail "etcd-$member.default names another initial cluster"
    [[ $cluster_line == *"etcd$member=https://etcd$member.example:2380"* ]] ||
      fail "etcd-$member.default: member $member is not in its initial cluster"
    own() { grep -E '^ETCD_' "$1" | grep -v '^ETCD_INITIAL_CLUSTER=' | sed "s/etcd$2/etcdN/g"; }
    diff <(own "$file" "$member") <(own "$dir/systemd/etcd-1.default" 1) >/dev/null ||
      fail "etcd-$member.default differs from etcd-1.default beyond the member's own values"
  done
fi

# --- Kubernetes manifests (YAML only: kubectl is not available here)
python3 - "$dir/kubernetes/fleetps.yaml" <<'EOF' || fail "Kubernetes manifests"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {}
for d in docs:
    kinds.setdefault(d["kind"], []).append(d)
problems = []
def check(ok, what):
    if not ok:
        problems.append(what)
check(sorted(kinds) == ["ConfigMap", "Secret", "Service", "StatefulSet"], f"kinds: {sorted(kinds)}")
service, = kinds["Service"]
sts, = kinds["StatefulSet"]
check(service["spec"].get("clusterIP") == "None", "the Service is not headless")
check(sts["spec"]["serviceName"] == service["metadata"]["name"], "serviceName is not the headless Service")
pod = sts["spec"]["template"]
check(pod["metadata"]["labels"] == service["spec"]["selector"], "the Service does not select the pods")
container, = pod["spec"]["containers"]
args = container["args"]
check("--cluster-member=$(POD_NAME)" in args, "the member name is not the pod name")
advertise = [a for a in args if a.startswith("--cluster-advertise=")]
check(advertise == [f"--cluster-advertise=http://$(POD_NAME).{service['metadata']['name']}.$(POD_NAMESPACE).svc:9732"],
      f"advertise is not the pod's headless DNS name: {advertise}")
env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
check(env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}, f"env: {env}")
# Every mounted volume exists, every ConfigMap/Secret it names is in the file, and the config's
# file paths are where the volumes are mounted.
volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
names = {(d["kind"], d["metadata"]["name"]) for d in docs}
mounts = {}
for m in container["volumeMounts"]:
    check(m["name"] in volumes, f"mount of an undefined volume {m['name']}")
    v = volumes.get(m["name"], {})
    if "configMap" in v:
        check(("ConfigMap", v["configMap"]["name"]) in names, f"ConfigMap {v['configMap']['name']} missing")
    if "secret" in v:
        check(("Secret", v["secret"]["secretName"]) in names, f"Secret {v['secret']['secretName']} missing")
    mounts[m["mountPath"]] = v
configmap, = kinds["ConfigMap"]
config = yaml.safe_load(configmap["data"]["fleetps.yaml"])
for path in (config["defaults"]["identity_file"], config["defaults"]["known_hosts"],
             config["cluster"]["etcd"]["password_file"]):
    check(any(path.startswith(m + "/") for m in mounts), f"{path} is on no mounted volume")
check(config["collector"]["listen"].endswith(":9732"), "the collector does not listen on 9732")
check(config["cluster"]["membership"] == "etcd", "the ConfigMap's cluster is not etcd")
if problems:
    print("\n".join(problems))
    sys.exit(1)
EOF

# --- Prometheus
promtool=$(command -v promtool || true)
if [[ -z $promtool ]]; then
  fail "promtool not installed (scripts/setup installs it)"
else
  for config in "$dir"/prometheus/*.yml; do
    "$promtool" check config "$config" >/dev/null || fail "promtool check config ${config#"$src"/}"
  done
  grep -q '__meta_fleetps_collector' "$dir/prometheus/prometheus-probe.yml" ||
    fail "the probe config does not scrape the owner"
  grep -q '/sd?view=members' "$dir/prometheus/prometheus-metrics.yml" ||
    fail "the metrics config does not discover the members"
fi

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "deploy/cluster: all checks passed"
