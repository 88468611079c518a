#!/usr/bin/env python3
"""Other projects' dashboards and alert rules (tests/data/peers/) against a real Prometheus.

    peers_e2e_test.py FLEETPS FLEETSIM SOURCE_DIR PROMETHEUS

The drop-in claim of issue #16, checked with what process-exporter and node_exporter users
already run: Grafana 249 "Named processes", 22161 "process-exporter-dashboard", 1860 "Node
Exporter Full", awesome-prometheus-alerts' process-exporter and node-exporter rules, and the
GitLab runbook rules that use process-exporter's families or `up`.

A fault-free fleet (fleetsim, no fault anywhere; one of its hosts served by a second fleetsim
process so it can be stopped by killing that process) and `fleetps run`, then one Prometheus
per scrape mode, each with the shipped scrape configuration (dashboards/prometheus/
prometheus-metrics.yml or prometheus-probe.yml), the shipped rules and the peer rules:

1. Every expression of the three dashboards (panels, nested rows, variable queries) evaluates
   without error. Variables are resolved the way Grafana does: query variables from their
   `label_values(...)` / `query_result(...)` against this Prometheus, the regex applied, the
   first option (or "All") selected when the saved one is not offered; `__inputs` substituted
   as an import does; built-ins as for a datasource whose scrape interval is the probe
   interval (GRAFANA_BUILTINS).
2. Every panel shows data (a time-series panel: at the evaluation instant or, as Grafana draws
   a range, at some point of the last PANEL_RANGE_S; NaN is no data), unless it reads only
   families that NOT_EMITTED gives a reason for, or LEGITIMATELY_EMPTY says why it cannot on
   this fleet. A dashboard in NEEDS_EDIT (22161, whose variables read process-exporter's own
   build-info family) must instead show exactly that state as imported, and every panel meant
   to show data must show it after the edit dashboards/README.md gives. 1860's limit panels
   must show, for every host, exactly the limits its platform states (LIMITS).
3. No peer alert (nor FleetpsHostDown) is pending or firing over five evaluation rounds of the
   healthy fleet, except the two that TRUE_FOR_JOBS says are true of a group of batch jobs. Then
   the separate fleetsim process is killed: FleetpsHostDown fires for that host only, and in
   /probe mode the peer "target down" alert (GitLab's RedisInstanceDown, `up != 1`) fires for
   it too. In /metrics mode `up` belongs to the one collector target and stays 1, so that
   alert cannot see a host there: the test asserts that it stays silent in that mode. In /probe
   mode `up{job="fleetps-hosts"}` is 1 for every host of the healthy fleet, then 0 for the
   stopped host only, with /probe's 503 line (`connect_refused`) as its scrape error.
4. The collector is restarted (SIGTERM, then the same command): no rate() of
   namedprocess_namegroup_cpu_seconds_total, and no peer CPU alert expression, exceeds what
   fleetsim's processes can consume (MAX_CORES, read off tests/fleetsim/src/process_model.cpp)
   at any evaluation instant around the restart. The `backup` group of batch jobs makes this
   fail with counters that restart at the processes' lifetime CPU (checked against the
   collector built at ff5610d^: 3.0 times the bound over 8 s windows, 1.6 times over 30 s).

Peer rules are loaded as test copies: every `for:` becomes 0s (pending time would otherwise
outlast the test); GitLab's `job="gitlab-redis"` selector becomes the mode's host job
(`fleetps-hosts` with /probe, `fleetps` with /metrics), the only job substitution needed.
The data files themselves are never edited. Does not need root.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

import yaml  # python3-yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_channel  # noqa: E402
from dashboards_e2e_test import DashboardsE2E  # noqa: E402
from e2e_test import E2E, Fatal, block_is_free, get_json, http, wait_until  # noqa: E402

HOSTS = 8                  # sim00001..sim00007 in one fleetsim, sim00008 (the victim) in another
VICTIM = HOSTS
DIALECTS = "linux-procps=40,busybox=20,aix=20,solaris=20"
PORT_BLOCKS = [21000, 21100, 21200, 22000, 22100, 22200, 23000]
BLOCK_SPAN = 40            # main fleet B..B+6, victim fleetsim B+10..B+17, collector B+30, Prometheus B+31/32
PROBE_INTERVAL_S = 2
HOST_JOB = {"metrics": "fleetps", "probe": "fleetps-hosts"}

# The process groups a process-exporter user would configure for long-running services, plus
# three fixed names the GitLab rules watch that run nowhere on this fleet (never seen, so
# absent: DESIGN §6). Left out on purpose, since on fleetsim they truly cross a threshold of
# awesome-prometheus-alerts: java and Oracle (several GiB resident, over 4 GB), and cron/crond,
# whose children (the batch jobs: gzip at up to 1.6 cores, python, rsync...) fold into its group
# as process-exporter folds them, well over 80 % of a core.
DAEMONS = ["sshd", "nginx", "tnslsnr", "dropbear", "rsyslogd", "syslogd", "chronyd"]
NEVER_RUNNING = ["patroni", "redis-sentinel", "osqueryd"]
# fleetsim's backup jobs (`/bin/sh /usr/local/bin/backup.sh`, 20-900 s each, cheap): the one group
# whose processes exit and start during the test, so the restart check below can fail. A counter
# that restarted at its processes' lifetime CPU (issue #16) drops on a restart when jobs exited
# before it, and rate() reads the whole value as new CPU; a group of daemons never drops.
JOBS = "backup"
JOBS_CMDLINE = r"^/bin/sh /usr/local/bin/backup\\.sh"
# Peer alerts that are true for a group of short-lived jobs on any exporter, so not false alarms:
# (alertname, groupname) -> reason.
TRUE_FOR_JOBS = {
    ("ProcessExporterProcessRestarting", JOBS): "the oldest job exits, so the oldest start time changes",
    ("ProcessExporterGroupDown", JOBS): "between two runs a host may have no job at all (few on BusyBox)",
}

# Most cores one process of each group can use in fleetsim (process_model.cpp: Daemon() rates
# are `cpu * Real(0.5, 1.5)`, default cpu 0.0005; nginx workers 0.01, master 0.0002; tnslsnr
# 0.001). A simulated process's CPU time is exactly rate × age, so a group of n processes uses at
# most n × this.
MAX_CORES = {name: 0.0005 * 1.5 for name in DAEMONS}
MAX_CORES.update(nginx=0.01 * 1.5, tnslsnr=0.001 * 1.5, **{name: 0 for name in NEVER_RUNNING})
MAX_CORES[JOBS] = 0.01 * 2  # Churn() rates are `cpu * Real(0.2, 2)`, backup.sh's cpu 0.01
# CPU time resolution: clock ticks from /proc/PID/stat on Linux; ps's TIME in whole seconds on
# the others.
CPU_TIME_RESOLUTION_S = {"linux-procps": 0.01}
CPU_TIME_RESOLUTION_OTHERS_S = 1.0

# Grafana's built-ins for a 5-minute range on a datasource whose scrape interval is set to the
# probe interval: $__interval is then its minimum, the scrape interval, and $__rate_interval
# max($__interval + scrape interval, 4 × scrape interval).
GRAFANA_BUILTINS = {"__interval": "2s", "__interval_ms": "2000", "__rate_interval": "8s",
                    "__range": "5m", "__range_s": "300", "__range_ms": "300000"}

PANEL_RANGE_S = 30         # the time range over which a time-series panel counts as drawn
PEER_DASHBOARDS = ["grafana-249-named-processes.json", "grafana-22161-process-exporter-dashboard.json",
                   "grafana-1860-node-exporter-full.json"]
AWESOME_RULES = ["awesome-prometheus-alerts-process-exporter.yml", "awesome-prometheus-alerts-node-exporter.yml"]
# GitLab's alerts that read a family fleetps emits (or `up`); their other rules read haproxy,
# redis, patroni and Postgres exporters' families.
GITLAB_ALERTS = {
    "gitlab-runbooks-rules-haproxy.yml": ["HAProxyExtraneousProcesses"],
    "gitlab-runbooks-rules-osquery.yml": ["OSQueryHighCPU"],
    "gitlab-runbooks-rules-patroni.yml": ["PatroniIsDown"],
    "gitlab-runbooks-rules-redis.yml": ["SentinelLossOfRedundancy", "RedisInstanceDown"],
}
TARGET_DOWN_ALERT = "RedisInstanceDown"

# Families the peer dashboards read (nearly all of them 1860's) that fleetps does not emit per
# host, with the reason. A panel whose expressions read only these is legitimately empty; a
# family neither in kMetricCatalog nor listed here fails the test, so the list stays complete.
NOT_EMITTED = [
    (r"node_(cpu|load\d+|context_switches|intr|interrupts|softnet|schedstat|pressure|power_supply)_.*|node_load\d+",
     "CPU, load and scheduler counters: node_exporter reads /proc/stat, /proc/loadavg; fleetps runs ps only"),
    (r"node_(memory|vmstat)_.*", "memory and VM statistics (/proc/meminfo, /proc/vmstat): not probed"),
    (r"node_(disk|filesystem|filefd|textfile)_.*", "disks and filesystems: not probed"),
    (r"node_(network|netstat|sockstat|arp|nf_conntrack|udp|tcp)_.*", "network statistics: not probed"),
    (r"node_(hwmon|cooling|thermal|entropy|timex|time|boot_time|systemd|scrape|kernel)_.*|node_time_seconds|node_boot_time_seconds",
     "hardware, clock, systemd and node_exporter's own collector statistics: not probed"),
    (r"node_(procs_running|procs_blocked|forks_total)",
     "/proc/stat counters; fleetps has the same counts as node_processes_state{state=\"R\"|\"D\"}"),
    (r"process_.*", "the exporter process's own metrics: fleetps has one collector process (on /metrics, with "
                    "the collector's instance), not one exporter per host, so instance=\"$node\" has none"),
]

# Panels whose families fleetps emits but that cannot show data on this fleet: (dashboard file,
# panel title) -> reason.
LEGITIMATELY_EMPTY = {
    ("grafana-22161-process-exporter-dashboard.json", "CPU %"):
        "divides by node_cpu_seconds_total of a node_exporter on the same host (job=\"node_exporter\")",
}

# Dashboards that cannot work as imported with any exporter but the one they were made for, and
# the edit a user makes (dashboards/README.md gives it as one sed line; keep the two the same).
# 22161's variables all start from process_exporter_build_info, process-exporter's own build
# information, and $server/$host split `instance` as host:port, where fleetps' instance is the
# host. fleetps does not pretend to be process-exporter, so the test requires exactly that state
# as imported, then the edited dashboard to show data: "empty", the variables with no option as
# imported; "pick", the variable the user then sets to a host.
NEEDS_EDIT = {
    "grafana-22161-process-exporter-dashboard.json": {
        "family": "process_exporter_build_info",
        "empty": {"job", "server", "port"},
        "edit": [("process_exporter_build_info", "namedprocess_namegroup_num_procs"),
                 ('"regex": "/(.*):.*/"', '"regex": "/(.*)/"'),
                 ('query_result(\\"$server:$port\\")', 'query_result(\\"$server\\")')],
        "pick": "server",
    },
}

# 1860's limit panels and the limits fleetps exports per fleetsim dialect (docs/metrics.md:
# pid_max and threads-max on Linux and BusyBox, max_nprocs on Solaris, none on AIX).
LIMIT_PANELS = ["PIDs Number and Limit", "Threads Number and Limit"]
BOTH_LIMITS = {"node_processes_max_processes", "node_processes_max_threads"}
LIMITS = {"linux-procps": BOTH_LIMITS, "busybox": BOTH_LIMITS, "solaris": {"node_processes_max_processes"},
          "aix": set()}


def sim_name(n):
    return f"sim{n:05d}"


def numbers(data):
    """Whether a query result holds a value other than NaN: Grafana draws nothing for NaN (a
    division by `scalar()` of an empty vector gives NaN for every series)."""
    if data["resultType"] in ("scalar", "string"):
        return data["result"][1] != "NaN"
    values = [v for series in data["result"] for v in series.get("values", [series.get("value")])]
    return any(v[1] != "NaN" for v in values)


def by_alert(alerts):
    """{(alertname, host, groupname)} -> "Name: host1/group host2; ..." for failure messages."""
    names = {}
    for name, host, group in sorted(alerts, key=str):
        names.setdefault(name, []).append(f"{host}/{group}" if group else str(host))
    return "; ".join(f"{name}: {' '.join(hosts)}" for name, hosts in names.items())


class PeersE2E(DashboardsE2E):
    def __init__(self, fleetps, fleetsim, source, prometheus):
        super().__init__(fleetps, fleetsim, source, prometheus)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work = tempfile.mkdtemp(prefix="fleetps-peers-e2e-")
        self.peers = os.path.join(source, "tests", "data", "peers")
        self.catalog = E2E.read_catalog(self)
        self.hosts = [sim_name(n) for n in range(1, HOSTS + 1)]

    # ---- fleet ---------------------------------------------------------------------------------

    def start_fleetsim(self, name, hosts, base, sim_dir):
        log = os.path.join(self.work, name + ".log")
        proc = self.start(name, [self.fleetsim, "--state-dir", sim_dir, "--hosts", str(hosts),
                                 "--base-port", str(base), "--dialects", DIALECTS], log)

        def ready():
            self.alive(name, proc, log)
            with open(log) as f:
                return "fleetsim ready" in f.read()
        if not wait_until(ready, 20, 0.05):
            raise Fatal(f"{name} not ready after 20 s")
        return proc

    def setup_fleet(self):
        t = time.monotonic()
        for base in PORT_BLOCKS:
            if block_is_free(base, BLOCK_SPAN):
                break
        else:
            raise Fatal(f"no free block of {BLOCK_SPAN} ports among {PORT_BLOCKS}")
        self.collector_addr = f"127.0.0.1:{base + 30}"
        self.url = "http://" + self.collector_addr
        self.prom_ports = {"metrics": base + 31, "probe": base + 32}
        victim_base = base + 10
        self.victim_port = victim_base + VICTIM - 1

        sim_dir = os.path.join(self.work, "sim")
        subprocess.run([self.fleetsim, "--emit-config", sim_dir, "--hosts", str(HOSTS),
                        "--base-port", str(base), "--dialects", DIALECTS, "--user", "fleetsim"],
                       check=True, capture_output=True)
        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            emitted = {h["name"]: h for h in yaml.safe_load(f)["hosts"]}
        self.dialect = {name: emitted[name]["dialect"] for name in self.hosts}
        self.inventory = list(self.hosts)  # self.hosts loses the victim when it is stopped
        # Both processes serve the shared host key of the state directory: the victim's port
        # gets the same known_hosts line.
        with open(os.path.join(sim_dir, "known_hosts")) as f:
            known = f.read()
        key = known.splitlines()[0].split(" ", 1)[1]
        known_hosts = os.path.join(self.work, "known_hosts")
        with open(known_hosts, "w") as f:
            f.write(known + f"[127.0.0.1]:{self.victim_port} {key}\n")
        self.start_fleetsim("fleetsim", HOSTS - 1, base, sim_dir)
        # Serves hosts 1..8 from victim_base; only its host 8 is in the inventory.
        self.victim_proc = self.start_fleetsim("fleetsim-victim", HOSTS, victim_base, sim_dir)

        lines = ["defaults:", "  user: fleetsim", f"  identity_file: {sim_dir}/id_ed25519",
                 f"  known_hosts: {known_hosts}", "  host_key_policy: strict",
                 f"  interval: {PROBE_INTERVAL_S}s", "  connect_timeout: 1500ms", "  probe_timeout: 1500ms",
                 *probe_channel.defaults_lines(),
                 "collector:", f"  listen: {self.collector_addr}", "hosts:"]
        for n, name in enumerate(self.hosts, 1):
            port = self.victim_port if n == VICTIM else base + n - 1
            lines += [f"  - name: {name}", "    address: 127.0.0.1", f"    port: {port}",
                      f'    labels: {{sim: "true", dialect: {self.dialect[name]}}}']
        lines += ["process_names:", '  - name: "{{.Comm}}"', f"    comm: [{', '.join(DAEMONS)}]"]
        for name in NEVER_RUNNING:
            lines += [f"  - name: {name}", f"    comm: [{name}]"]
        lines += [f"  - name: {JOBS}", f'    cmdline: ["{JOBS_CMDLINE}"]']
        self.config = os.path.join(self.work, "fleet.yaml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.start_collector()
        self.report.timing(f"two fleetsim processes, collector, {HOSTS} hosts up "
                           f"({', '.join(f'{h}={d}' for h, d in self.dialect.items())})",
                           time.monotonic() - t)

    def initially_down(self):
        return {}  # a fault-free fleet: every /probe target up

    def start_collector(self):
        self.collector_log = os.path.join(self.work, f"collector-{len(self.procs)}.log")
        self.collector = self.start("collector", [self.fleetps, "run", "--config", self.config],
                                    self.collector_log)

        def all_up():
            self.alive("fleetps run", self.collector, self.collector_log)
            try:
                status, body = http(self.url + "/metrics", timeout=5)
            except OSError:
                return False
            up = set(re.findall(r'^fleetps_up\{host="([^"]+)"\} 1', body, re.M))
            return status == 200 and set(self.hosts) <= up
        if not wait_until(all_up, 40, 0.5):
            raise Fatal("not every host is up after 40 s")

    # ---- Prometheus ----------------------------------------------------------------------------

    def peer_rules(self, mode):
        """{file name: rules document} of the peer rules as loaded (module docstring)."""
        out = {}
        for name in AWESOME_RULES + sorted(GITLAB_ALERTS):
            with open(os.path.join(self.peers, name)) as f:
                doc = yaml.safe_load(f)
            for group in doc["groups"]:
                if name in GITLAB_ALERTS:
                    group["rules"] = [r for r in group["rules"] if r.get("alert") in GITLAB_ALERTS[name]]
                for rule in group["rules"]:
                    if "for" in rule:
                        rule["for"] = "0s"
                    rule["expr"] = rule["expr"].replace('job="gitlab-redis"', f'job="{HOST_JOB[mode]}"')
            doc["groups"] = [g for g in doc["groups"] if g["rules"]]
            out["peer-" + name] = doc
        return out

    def start_prometheus(self):
        t = time.monotonic()
        self.prom = {}
        self.peer_alerts = set()
        for mode, port in self.prom_ports.items():
            directory, config = self.prometheus_config(mode)
            for name, doc in self.peer_rules(mode).items():
                with open(os.path.join(directory, "rules", name), "w") as f:
                    yaml.safe_dump(doc, f)
                self.peer_alerts |= {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
            log = os.path.join(directory, "prometheus.log")
            proc = self.start("prometheus-" + mode, [
                self.prometheus, f"--config.file={config}", f"--storage.tsdb.path={directory}/data",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], log)
            self.prom[mode] = (f"http://127.0.0.1:{port}", proc, log)

        def scraped(mode):
            self.alive("prometheus-" + mode, *self.prom[mode][1:])
            try:
                answer = self.query(mode, "count(count_over_time(fleetps_up[10s]) >= 5)")
            except (OSError, Fatal):
                return False
            result = answer.get("data", {}).get("result")
            return result and int(result[0]["value"][1]) == HOSTS
        for mode in self.prom:
            if not wait_until(lambda: scraped(mode), 40, 0.5):
                raise Fatal(f"prometheus ({mode} mode) has not scraped every host five times in 40 s")
        self.report.timing("two Prometheus servers up, five scrape rounds", time.monotonic() - t)

    def get(self, mode, path, **params):
        url = self.prom[mode][0] + path + "?" + urllib.parse.urlencode(params, doseq=True)
        status, body = http(url, timeout=10)
        try:
            return json.loads(body)
        except ValueError:
            raise Fatal(f"{mode}: HTTP {status} for {path}: {body[:300]}")

    # ---- Grafana variables ---------------------------------------------------------------------

    def load_dashboard(self, name, edit=()):
        """The dashboard as Grafana imports it: `__inputs` replaced by their values; `edit`, pairs
        (old, new) of the JSON text, is a user's edit before the import."""
        with open(os.path.join(self.peers, name)) as f:
            text = f.read()
        for old, new in edit:
            if old not in text:
                raise Fatal(f"{name}: the edit's {old!r} is not in the dashboard")
            text = text.replace(old, new)
        for inp in json.loads(text).get("__inputs", []):
            value = inp.get("value", "prometheus") if inp["type"] == "constant" else "prometheus"
            text = text.replace("${" + inp["name"] + "}", value)
        return json.loads(text)

    @staticmethod
    def regex_escape(value):
        # Grafana's prometheusSpecialRegexEscape.
        return re.sub(r"([\\^$*+?.()|{}\[\]'])", r"\\\\\1", value)

    def format_value(self, var, fmt):
        if not isinstance(var, dict):
            return var  # a built-in
        values = var["values"]
        if var["all"] and fmt in (None, "regex") and var.get("allValue"):
            return var["allValue"]
        if fmt == "raw":
            return ",".join(values)
        if fmt in ("regex", "pipe") or var["multi"] or var["includeAll"] or len(values) != 1:
            escaped = [self.regex_escape(v) if fmt != "pipe" else v for v in values]
            if fmt == "pipe":
                return "|".join(escaped)
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        return values[0].replace("\\", "\\\\").replace("'", "\\\\'")

    def substitute(self, expr, values, where):
        def one(match):
            name = match.group(1) or match.group(3) or match.group(5)
            fmt = match.group(2) or match.group(4)
            if name not in values:
                raise Fatal(f"{where}: no value for ${name} in {expr}")
            return self.format_value(values[name], fmt)
        return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)", one, expr)

    def variable_options(self, mode, var, query, where):
        """Option texts of a query variable, or (None, error)."""
        match = re.fullmatch(r"\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*", query, re.S)
        if match:
            params = {"match[]": match.group(1)} if match.group(1) else {}
            answer = self.get(mode, f"/api/v1/label/{match.group(2)}/values", **params)
            if answer.get("status") != "success":
                return None, answer.get("error")
            return answer["data"], None
        match = re.fullmatch(r"\s*query_result\((.*)\)\s*", query, re.S)
        if match:
            answer = self.get(mode, "/api/v1/query", query=match.group(1))
            if answer.get("status") != "success":
                return None, answer.get("error")
            if answer["data"]["resultType"] in ("scalar", "string"):  # [time, "value"], as Grafana reads it
                return [answer["data"]["result"][1]], None
            options = []
            for series in answer["data"]["result"]:
                labels = dict(series["metric"])
                name = labels.pop("__name__", "")
                text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                options.append(f"{name}{{{text}}} {series['value'][1]} {int(series['value'][0] * 1000)}")
            return options, None
        raise Fatal(f"{where}: unsupported variable query {query}")

    def resolve_variables(self, mode, dash, where, problems):
        """{name: value} for every variable of the dashboard, plus the built-ins."""
        values = dict(GRAFANA_BUILTINS)
        pending = list(dash.get("templating", {}).get("list", []))
        while pending:
            progressed = False
            for var in list(pending):
                kind, name = var["type"], var["name"]
                query = var.get("query", "")
                query = query.get("query", "") if isinstance(query, dict) else query
                if kind == "query":
                    needs = set(re.findall(r"\$\{?(\w+)", query + (var.get("regex") or "")))
                    if not needs <= set(values):
                        continue
                    text = self.substitute(query, values, f"{where} ${name}")
                    options, error = self.variable_options(mode, var, text, where)
                    self.evaluated += 1
                    if error:
                        problems.append(f"{where} variable ${name}: {error} in {text}")
                        options = []
                    regex = self.substitute(var.get("regex") or "", values, f"{where} ${name}")
                    if regex:
                        pattern = re.compile(regex.strip("/"))
                        picked = []
                        for option in options:
                            m = pattern.search(option)
                            if m:
                                picked.append(m.group(1) if m.groups() else option)
                        options = picked
                    options = list(dict.fromkeys(options))
                elif kind in ("custom", "interval"):
                    options = [o.strip() for o in query.split(",") if o.strip()]
                elif kind in ("constant", "textbox"):
                    options = [query]
                else:  # datasource, adhoc: no part of an expression
                    values[name] = "prometheus"
                    pending.remove(var)
                    progressed = True
                    continue
                current = (var.get("current") or {}).get("value")
                current = current if isinstance(current, list) else [current] if current else []
                include_all = bool(var.get("includeAll"))
                if current and all(c in options for c in current):
                    chosen, all_ = current, False
                elif include_all or current == ["$__all"]:
                    chosen, all_ = options, True  # Grafana's first option is then "All"
                else:
                    chosen, all_ = options[:1], False
                values[name] = {"values": chosen or [""], "all": all_ and include_all,
                                "allValue": var.get("allValue"), "multi": bool(var.get("multi")),
                                "includeAll": include_all}
                pending.remove(var)
                progressed = True
            if not progressed:
                raise Fatal(f"{where}: variables {[v['name'] for v in pending]} depend on each other or "
                            "on unknown variables")
        return values

    @staticmethod
    def panels(dash):
        def walk(panels):
            for panel in panels:
                yield panel
                yield from walk(panel.get("panels", []))
        yield from walk(dash.get("panels", []))
        for row in dash.get("rows", []):  # schema before 16
            yield from walk(row.get("panels", []))

    # ---- 1 and 2: dashboards -------------------------------------------------------------------

    def families(self, expr):
        words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{|\[|\)|$|\s)", expr))
        return {w for w in words if w.startswith(("node_", "namedprocess_", "process_", "fleetps_"))}

    def not_emitted_reason(self, family):
        for pattern, reason in NOT_EMITTED:
            if re.fullmatch(pattern, family):
                return reason
        return None

    def evaluate_dashboard(self, mode, name, dash, where):
        """Resolves the variables and runs every panel target: a dict with the variable values,
        errors, the titles of panels with data, panels empty without a reason (NOT_EMITTED,
        LEGITIMATELY_EMPTY), the number legitimately empty and families read with no reason."""
        out = {"errors": [], "shows": [], "empty": [], "expected_empty": 0, "unexplained": set(), "panels": 0}
        values = out["values"] = self.resolve_variables(mode, dash, where, out["errors"])
        shown = {k: v["values"] if isinstance(v, dict) and not v["all"] else "All"
                 for k, v in values.items() if isinstance(v, dict)}
        print(f"{where}: variables {shown}", flush=True)
        for panel in self.panels(dash):
            targets = [x for x in panel.get("targets", []) if x.get("expr")]
            if panel.get("type") == "row" or not targets:
                continue
            out["panels"] += 1
            title = panel.get("title", "")
            has_data = False
            families = set()
            for target in targets:
                expr = self.substitute(target["expr"], values, f"{where} \"{title}\"")
                answer = self.query(mode, expr)
                self.evaluated += 1
                if answer.get("status") != "success":
                    out["errors"].append(f"\"{title}\" {target.get('refId')}: {answer.get('error')} in {expr}")
                elif not target.get("hide") and (numbers(answer["data"]) or self.drawn(mode, panel, target, expr)):
                    has_data = True
                families |= self.families(target["expr"])
            foreign = {f for f in families if f not in self.catalog or self.not_emitted_reason(f)}
            out["unexplained"] |= {f for f in foreign if not self.not_emitted_reason(f)}
            only_foreign = families and families == foreign
            if has_data:
                out["shows"].append(title)
            elif only_foreign or (name, title) in LEGITIMATELY_EMPTY:
                out["expected_empty"] += 1
            else:
                out["empty"].append(f"\"{title}\": {'; '.join(x['expr'] for x in targets)[:300]}")
        if len(out["shows"]) < 10:
            print(f"{where}: panels with data: {out['shows']}", flush=True)
        return out

    def drawn(self, mode, panel, target, expr):
        """Whether a time-series panel draws this target over the last PANEL_RANGE_S, as Grafana
        does with a range query: an instant can fall between two steps of a counter (irate of
        two scrapes within one probe interval is 0, and `> 0` drops it)."""
        if panel.get("type") not in ("graph", "timeseries") or target.get("instant"):
            return False
        now = time.time()
        return numbers({"resultType": "matrix", "result": self.range_query(mode, expr, now - PANEL_RANGE_S, now)})

    def check_shows_data(self, where, result):
        r = self.report
        r.check(f"{where}: every panel meant to show data does ({len(result['shows'])} show data, "
                f"{result['expected_empty']} legitimately empty)", bool(result["shows"]) and not result["empty"],
                f"{len(result['empty'])} empty: " + " | ".join(result["empty"][:10]))

    def check_needs_edit(self, mode, name, result, where):
        """A dashboard of NEEDS_EDIT: as imported exactly its listed variables resolve to nothing,
        because the family they read is the other exporter's own, and no panel shows data; with the
        user's edit and a host picked, every panel meant to show data does."""
        r = self.report
        spec = NEEDS_EDIT[name]
        family = spec["family"]
        empty_vars = {k for k, v in result["values"].items() if isinstance(v, dict) and v["values"] == [""]}
        present = self.query(mode, f"count({family})")["data"]["result"]
        r.check(f"{where}: as imported, exactly ${', $'.join(sorted(spec['empty']))} offer nothing: they read "
                f"{family}, which only that exporter publishes (not in kMetricCatalog, no series)",
                empty_vars == spec["empty"] and family not in self.catalog and not present and not result["shows"],
                f"variables with no option {sorted(empty_vars)}; {family} in the catalogue: "
                f"{family in self.catalog}; series: {present}; panels with data {result['shows']}")
        dash = self.load_dashboard(name, spec["edit"])
        # The user then picks a host in the $server list: a linux-procps one, which has every family.
        picked = next(h for h in self.hosts if self.dialect[h] == "linux-procps")
        for var in dash["templating"]["list"]:
            if var["name"] == spec["pick"]:
                var["current"] = {"text": picked, "value": picked}
        where = f"{where} with the edit of dashboards/README.md, ${spec['pick']}={picked}"
        edited = self.evaluate_dashboard(mode, name, dash, where)
        chosen = {k: edited["values"][k]["values"] for k in ("job", "host")}
        r.check(f"{where}: $job and $host resolve to the host job and the host", not edited["errors"]
                and chosen == {"job": [HOST_JOB[mode]], "host": [picked]},
                f"{chosen}; errors: {' | '.join(edited['errors'][:4])}")
        self.check_shows_data(where, edited)

    def check_limits(self, mode):
        """1860's limit targets (node_processes_max_*) show data with $node set to each host, for
        exactly the limits its platform states (LIMITS)."""
        dash = self.load_dashboard("grafana-1860-node-exporter-full.json")
        targets = [(p["title"], x["expr"]) for p in self.panels(dash) if p.get("title") in LIMIT_PANELS
                   for x in p.get("targets", []) if "node_processes_max_" in x.get("expr", "")]
        base = self.resolve_variables(mode, dash, f"{mode} 1860", [])
        wrong = []
        for host in self.inventory:
            values = dict(base, node={**base["node"], "values": [host]},
                          nodename={**base["nodename"], "values": [host]})
            shown = {re.search(r"node_processes_max_\w+", expr).group(0) for _, expr in targets
                     if self.query(mode, self.substitute(expr, values, "1860 limits"))["data"]["result"]}
            if shown != LIMITS[self.dialect[host]]:
                wrong.append(f"{host} ({self.dialect[host]}): {sorted(shown)}")
        self.report.check(f"{mode} mode: 1860's {' and '.join(LIMIT_PANELS)} show the limits each host's platform "
                          f"states ({len(targets)} limit targets, {len(self.inventory)} hosts)",
                          len(targets) == 2 and not wrong, f"{len(targets)} targets; differ: {'; '.join(wrong)}")

    def scenario_dashboards(self):
        r = self.report
        t = time.monotonic()
        for mode in self.prom:
            for name in PEER_DASHBOARDS:
                where = f"{mode} {name}"
                result = self.evaluate_dashboard(mode, name, self.load_dashboard(name), where)
                r.check(f"{where}: every expression evaluates ({result['panels']} panels)", not result["errors"],
                        f"{len(result['errors'])} errors: " + " | ".join(result["errors"][:6]))
                r.check(f"{where}: every family read and not emitted has a reason in NOT_EMITTED",
                        not result["unexplained"], f"no reason for {sorted(result['unexplained'])}")
                if name in NEEDS_EDIT:
                    self.check_needs_edit(mode, name, result, where)
                else:
                    self.check_shows_data(where, result)
            self.check_limits(mode)
        r.timing(f"{self.evaluated} dashboard expression evaluations", time.monotonic() - t)

    # ---- 3: alerts -----------------------------------------------------------------------------

    def alerts(self, mode, states=("firing", "pending")):
        """{(alertname, host or None, groupname or None)} of the peer alerts and FleetpsHostDown in
        these states."""
        out = set()
        for a in get_json(self.prom[mode][0] + "/api/v1/alerts")["data"]["alerts"]:
            name = a["labels"]["alertname"]
            if a["state"] in states and (name in self.peer_alerts or name == "FleetpsHostDown"):
                out.add((name, a["labels"].get("host") or a["labels"].get("instance"), a["labels"].get("groupname")))
        return out

    def scenario_rules_load(self):
        for mode in self.prom:
            groups = get_json(self.prom[mode][0] + "/api/v1/rules")["data"]["groups"]
            peer = [rule for g in groups if g["file"].rsplit("/", 1)[-1].startswith("peer-") for rule in g["rules"]]
            bad = [f"{rule['name']}: {rule.get('lastError')}" for rule in peer if rule.get("health") != "ok"]
            names = {rule["name"] for rule in peer}
            self.report.check(f"{mode} mode: all {len(peer)} peer rules loaded and evaluating cleanly",
                              names == self.peer_alerts and not bad,
                              f"missing {sorted(self.peer_alerts - names)}; " + "; ".join(bad[:4]))

    def scenario_quiet(self):
        t = time.monotonic()
        seen = {mode: set() for mode in self.prom}
        end = time.monotonic() + 5
        while time.monotonic() < end:  # five evaluation rounds of 1 s
            for mode in self.prom:
                seen[mode] |= self.alerts(mode)
            time.sleep(1)
        for mode in self.prom:
            seen[mode] = {a for a in seen[mode] if (a[0], a[2]) not in TRUE_FOR_JOBS}
            self.report.check(f"{mode} mode: no peer alert nor FleetpsHostDown pending or firing on the healthy fleet "
                              f"({len(self.peer_alerts)} peer alerts loaded)", not seen[mode],
                              f"{len(seen[mode])}: {by_alert(seen[mode])}")
        self.report.timing("healthy fleet watched for five evaluation rounds", time.monotonic() - t)

    def scenario_host_down(self):
        r = self.report
        t = time.monotonic()
        victim = sim_name(VICTIM)
        self.victim_proc.kill()
        self.victim_proc.wait()
        print(f"killed the fleetsim process serving {victim}", flush=True)
        wanted = {"metrics": {("FleetpsHostDown", victim, None)},
                  "probe": {("FleetpsHostDown", victim, None), (TARGET_DOWN_ALERT, victim, None)}}
        for mode in self.prom:
            wait_until(lambda: wanted[mode] <= self.alerts(mode, ("firing",)), 30, 1)
            time.sleep(3)  # a few more rounds for alerts that should not come
            fired = self.alerts(mode, ("firing",))
            missing = wanted[mode] - fired
            victim_up = self.query(mode, f'up{{instance="{victim}"}}')["data"]["result"]
            r.check(f"{mode} mode: {' and '.join(sorted(a for a, _, _ in wanted[mode]))} fire for the stopped host "
                    f"{victim}", not missing,
                    f"missing {by_alert(missing)}; firing {by_alert(fired)}; up of its target: {victim_up}")
            others = {a for a in self.alerts(mode) if a[1] != victim and (a[0], a[2]) not in TRUE_FOR_JOBS}
            r.check(f"{mode} mode: no peer alert or FleetpsHostDown for any other host", not others,
                    by_alert(others))
        # In /metrics mode `up` is the collector's one target: a peer up-based alert stays silent.
        silent = {a for a in self.alerts("metrics") if a[0] == TARGET_DOWN_ALERT}
        r.check(f"metrics mode: {TARGET_DOWN_ALERT} (up != 1) cannot see a host and stays silent", not silent,
                by_alert(silent))
        self.check_probe_targets({victim: "connect_refused"})
        r.timing("host stopped, alerts checked in both modes", time.monotonic() - t)

    # ---- 4: collector restart ------------------------------------------------------------------

    def cpu_bound(self, host, group, num_procs, window_s):
        """Most a group of at most num_procs processes at a time can show as rate() over window_s.

        At most num_procs run at any instant, each within MAX_CORES. Counters step at each probe,
        so the samples of a window may cover one probe interval more than their span; rate()
        divides by the span, at least the window less a probe and a scrape interval. Each
        process's CPU time is read to its resolution, counted twice for the jobs that end and
        start within the window."""
        span = window_s - PROBE_INTERVAL_S - 1
        resolution = CPU_TIME_RESOLUTION_S.get(self.dialect[host], CPU_TIME_RESOLUTION_OTHERS_S)
        return num_procs * (MAX_CORES[group] * (window_s + PROBE_INTERVAL_S) + 2 * resolution) / span

    def range_query(self, mode, expr, start, end):
        answer = self.get(mode, "/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="1")
        if answer.get("status") != "success":
            raise Fatal(f"{mode}: {answer.get('error')} in {expr}")
        return answer["data"]["result"]

    def scenario_restart(self):
        r = self.report
        t = time.monotonic()
        stopped = time.time()
        self.collector.send_signal(signal.SIGTERM)
        try:
            self.collector.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise Fatal("the collector did not stop within 15 s of SIGTERM")
        self.hosts.remove(sim_name(VICTIM))  # still stopped
        self.start_collector()
        print(f"collector restarted ({time.time() - stopped:.1f} s without one); waiting 35 s for the "
              "30 s windows to cover the restart", flush=True)
        time.sleep(35)
        end = time.time()
        start = stopped - 5
        window = 30
        checks = [(f"sum by (instance, groupname) (rate(namedprocess_namegroup_cpu_seconds_total[{w}s]))", w, 1, "")
                  for w in (8, window)]
        for path in AWESOME_RULES[:1] + ["gitlab-runbooks-rules-osquery.yml"]:
            with open(os.path.join(self.peers, path)) as f:
                for group in yaml.safe_load(f)["groups"]:
                    for rule in group["rules"]:
                        if "namedprocess_namegroup_cpu_seconds_total" in rule["expr"]:
                            expr = re.sub(r"\s*>\s*[0-9.e+]+\s*$", "", rule["expr"].strip())
                            w = int(re.search(r"\[(\d+)m\]", expr).group(1)) * 60
                            checks.append((expr, w, 100 if re.search(r"\*\s*100\b", expr) else 1, rule["alert"]))
        for mode in self.prom:
            procs = self.range_query(mode, f"max_over_time(namedprocess_namegroup_num_procs[{window}s])",
                                     start - 300, end)
            most = {}
            for series in procs:
                key = (series["metric"].get("instance"), series["metric"]["groupname"])
                most[key] = max(float(v) for _, v in series["values"])
            for expr, w, scale, alert in checks:
                worst = None
                count = 0
                selected = re.search(r'groupname="([^"]+)"', expr)
                # An expression on a group that runs nowhere has no series once groups appear only
                # where seen (DESIGN §6); every other one must have some.
                needs_data = not (selected and selected.group(1) in NEVER_RUNNING)
                for series in self.range_query(mode, expr, start, end):
                    labels = series["metric"]
                    keys = [k for k in most if labels.get("instance", k[0]) == k[0]
                            and labels.get("groupname", k[1]) == k[1]
                            and (not selected or selected.group(1) == k[1])]
                    bound = scale * sum(self.cpu_bound(k[0], k[1], most[k], w) for k in keys)
                    for ts, value in series["values"]:
                        count += 1
                        excess = float(value) / bound if bound else float("inf") if float(value) > 0 else 0
                        if worst is None or excess > worst[0]:
                            worst = (excess, labels, float(value), bound, ts)
                what = f"{alert} expression" if alert else "rate()"
                detail = ("no samples" if needs_data else "no series (the group runs nowhere)") if worst is None else (
                    f"worst {worst[2]:.4g} at {time.strftime('%H:%M:%S', time.gmtime(worst[4]))} for {worst[1]}, "
                    f"bound {worst[3]:.4g} ({worst[0]:.2f} of it)")
                r.check(f"{mode} mode: {what} {expr} stays within what fleetsim's processes can use, "
                        f"over the restart ({count} points)",
                        worst[0] <= 1 if worst else not needs_data, detail)
        r.timing("collector restart and CPU rates over it", time.monotonic() - t)

    # DashboardsE2E.run() drives the test: setup_fleet, start_prometheus, then these two, and
    # cleans up and summarises whatever happens.
    def scenario_expressions(self):
        self.scenario_dashboards()
        self.scenario_rules_load()

    def scenario_alerts(self):
        self.scenario_quiet()
        self.scenario_host_down()
        self.scenario_restart()


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    test = PeersE2E(*[os.path.abspath(a) for a in sys.argv[1:4]], sys.argv[4])
    return 0 if test.run() else 1


if __name__ == "__main__":
    sys.exit(main())
