#!/usr/bin/env python3
"""The shipped dashboards and alert rules (dashboards/) against a real Prometheus.

    dashboards_e2e_test.py FLEETPS FLEETSIM SOURCE_DIR PROMETHEUS

Starts fleetsim (20 hosts of four dialects, one refusing and one rejecting our key from the
start), one real OpenSSH host (scripts/testhost) and `fleetps run`, then two Prometheus servers
scraping the collector every second, each with one of the shipped scrape configurations
(dashboards/prometheus/prometheus-metrics.yml: one /metrics job; prometheus-probe.yml: http_sd
from /sd plus /probe?target= per host) and the shipped rules. After a few scrape rounds it
evaluates, on both servers, every PromQL expression of every dashboard panel and variable and
every rule through /api/v1/query:

- an expression that errors fails the test;
- a panel target that returns no series fails, unless the panel's description contains
  "Empty when" (the dashboards' convention for panels that are legitimately empty on a healthy
  fleet) or the target is listed in MAY_BE_EMPTY below.

Grafana's variables are substituted: $host is a healthy linux-procps simulated host on the host
dashboard and ".*" (the dashboards' "All" value) elsewhere, $group is "sshd" on the group
dashboard and ".*" elsewhere, $instance the collector's address, $__rate_interval 10s,
$__interval 2s, $__range 5m.

Both servers must hold the same host families for every host, none from two jobs (in probe mode
the health families come from /metrics, the process families from /probe), and in probe mode
`up{job="fleetps-hosts"}` is 0 for the hosts down from the start, with /probe's 503 line as the
scrape error, and 1 for every other host of the inventory (check_probe_targets, which subclasses
with another fleet reuse).

Then it breaks hosts through fleetsim's control API (change_host_key, refuse, garbage,
disconnect_after:1) and requires the matching alerts to fire on both servers, FleetpsHostDown
naming the reason, no host alert for a healthy host nor any alert on the collector's own limits,
and in probe mode `up` 0 with the reason for every host left down. The rules are loaded as a test
copy whose `for:` durations are rewritten to 0s and whose recording-rule group interval is 1s, so
alerts fire within seconds instead of minutes; the expressions are the shipped ones. Must run as root (scripts/testhost).
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
from e2e_test import (Fatal, Report, block_is_free, die_with_parent, get_json, http,  # noqa: E402
                      start_testhost, wait_until)

SIM_HOSTS = 20
DIALECTS = "linux-procps=40,busybox=20,aix=20,solaris=20"
PORT_BLOCKS = [17000, 17200, 17400, 18000, 18200, 18400, 19000]
BLOCK_SPAN = 110           # sim ports B..B+19; control B+100, collector B+101, Prometheus B+102/103
INITIAL_FAULTS = {19: "reject_user_key", 20: "refuse"}
INJECTED_FAULTS = {1: "change_host_key", 2: "refuse", 3: "garbage", 4: "disconnect_after:1"}
# The reason each fault leaves a host down with (/probe's 503, the FleetpsHostDown description);
# disconnect_after:1 leaves its host up and down in turn.
DOWN_REASONS = {19: "auth_denied", 20: "connect_refused", 1: "hostkey_mismatch",
                2: "connect_refused", 3: "parse_error"}
HOST_FAMILIES = "fleetps_.+|namedprocess_.+|node_.+"
# Alerts on the collector's own limits and per-host bounds, which no injected host fault reaches.
COLLECTOR_LIMIT_ALERTS = {"FleetpsHostsOutOfDescriptors", "FleetpsKnownHostsWriteFailing",
                          "FleetpsHttpServerFull", "FleetpsHttpAuthFailing", "FleetpsProcessesDropped"}
REAL_HOST = "real-openssh"
SUBSTITUTE = {"__rate_interval": "10s", "__interval": "2s", "__range": "5m", "__range_s": "300"}
MARKER = "Empty when"
# (dashboard uid, panel title, refId): targets that may be empty on a healthy demo fleet even
# though their panel shows data.
MAY_BE_EMPTY = {
    ("fleetps-host", "Sessions and disconnects", "B"),  # no session of the host was lost yet
    ("fleetps-host", "Open descriptors by group", "B"),  # every descriptor was readable
    ("fleetps-host", "Disk I/O by group", "C"),  # every I/O counter was readable
}


def sim_name(n):
    return f"sim{n:05d}"


class DashboardsE2E:
    def __init__(self, fleetps, fleetsim, source, prometheus):
        self.fleetps, self.fleetsim, self.source, self.prometheus = fleetps, fleetsim, source, prometheus
        self.testhost = os.path.join(source, "scripts", "testhost")
        self.report = Report()
        self.procs = []
        self.testhost_dir = None
        self.work = tempfile.mkdtemp(prefix="fleetps-dash-e2e-")
        os.chmod(self.work, 0o755)  # testhost's login user reads authorized_keys below it
        self.evaluated = 0

    # ---- processes ---------------------------------------------------------------------------

    def start(self, name, argv, log):
        with open(log, "w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.procs.append((name, proc))
        return proc

    def alive(self, name, proc, log):
        if proc.poll() is not None:
            with open(log) as f:
                raise Fatal(f"{name} exited with {proc.returncode}: {f.read()[-2000:]}")

    def cleanup(self):
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.testhost_dir:
            subprocess.run([self.testhost, "stop", self.testhost_dir], capture_output=True)

    # ---- the fleet and the collector ---------------------------------------------------------

    def setup_fleet(self):
        t = time.monotonic()
        for base in PORT_BLOCKS:
            if block_is_free(base, BLOCK_SPAN):
                break
        else:
            raise Fatal(f"no free block of {BLOCK_SPAN} ports among {PORT_BLOCKS}")
        self.base = base
        self.sim_url = f"http://127.0.0.1:{base + 100}"
        self.collector_addr = f"127.0.0.1:{base + 101}"
        self.url = "http://" + self.collector_addr
        self.prom_ports = {"metrics": base + 102, "probe": base + 103}

        sim_dir = os.path.join(self.work, "sim")
        subprocess.run([self.fleetsim, "--emit-config", sim_dir, "--hosts", str(SIM_HOSTS),
                        "--base-port", str(base), "--dialects", DIALECTS, "--user", "fleetsim"],
                       check=True, capture_output=True)
        faults = [a for n, f in INITIAL_FAULTS.items() for a in ("--fault", f"{n}={f}")]
        log = os.path.join(self.work, "fleetsim.log")
        proc = self.start("fleetsim", [self.fleetsim, "--state-dir", sim_dir, "--hosts", str(SIM_HOSTS),
                                       "--base-port", str(base), "--dialects", DIALECTS,
                                       "--control", f"127.0.0.1:{base + 100}"] + faults, log)

        def ready():
            self.alive("fleetsim", proc, log)
            with open(log) as f:
                return "fleetsim ready" in f.read()
        if not wait_until(ready, 20, 0.05):
            raise Fatal("fleetsim not ready after 20 s")
        self.sim_hosts = {h["name"]: h for h in get_json(self.sim_url + "/hosts")}

        self.testhost_dir = os.path.join(self.work, REAL_HOST)
        env = start_testhost(self.testhost, self.testhost_dir, ["--server", "sshd", "--user",
                                                                    "fleetps-dash-e2e", "--shell", "/bin/sh"])
        with open(os.path.join(sim_dir, "known_hosts")) as f:
            known = f.read()
        with open(env["FLEETPS_TEST_KNOWN_HOSTS"]) as f:
            known += f.read()
        known_hosts = os.path.join(self.work, "known_hosts")
        with open(known_hosts, "w") as f:
            f.write(known)

        lines = ["defaults:", "  user: fleetsim", f"  identity_file: {sim_dir}/id_ed25519",
                 f"  known_hosts: {known_hosts}", "  host_key_policy: strict", "  interval: 2s",
                 "  connect_timeout: 1500ms", "  probe_timeout: 1500ms",
                 *probe_channel.defaults_lines(),
                 "collector:", f"  listen: {self.collector_addr}", "hosts:"]
        for n in range(1, SIM_HOSTS + 1):
            h = self.sim_hosts[sim_name(n)]
            lines += [f"  - name: {h['name']}", "    address: 127.0.0.1", f"    port: {h['port']}",
                      f'    labels: {{sim: "true", dialect: {h["dialect"]}}}']
        lines += [f"  - name: {REAL_HOST}", "    address: 127.0.0.1", f"    port: {env['FLEETPS_TEST_PORT']}",
                  f"    user: {env['FLEETPS_TEST_USER']}", f"    identity_file: {env['FLEETPS_TEST_IDENTITY']}",
                  '    labels: {sim: "false"}']
        lines += ["process_names:",
                  '  - name: "{{.Comm}}"',
                  "    comm: [sshd, cron, crond, nginx, java, tnslsnr, dropbear, rsyslogd, syslogd]",
                  "  - name: oracle", "    cmdline: ['^ora_']",
                  "  - name: other", "    cmdline: ['.+']"]
        config = os.path.join(self.work, "fleet.yaml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        log = os.path.join(self.work, "collector.log")
        self.collector = self.start("collector", [self.fleetps, "run", "--config", config], log)

        self.inventory = [sim_name(n) for n in range(1, SIM_HOSTS + 1)] + [REAL_HOST]
        healthy = [name for name in self.inventory if name not in self.initially_down()]

        def all_up():
            self.alive("fleetps run", self.collector, log)
            try:
                status, body = http(self.url + "/metrics", timeout=5)
            except OSError:
                return False
            up = set(re.findall(r'^fleetps_up\{host="([^"]+)"\} 1', body, re.M))
            return status == 200 and set(healthy) <= up
        if not wait_until(all_up, 40, 0.5):
            raise Fatal("not every healthy host is up after 40 s")
        # $host: a healthy linux-procps simulated host no fault will touch (it has every family).
        self.chosen_host = next(sim_name(n) for n in range(1, SIM_HOSTS + 1)
                                if n not in INITIAL_FAULTS and n not in INJECTED_FAULTS
                                and self.sim_hosts[sim_name(n)]["dialect"] == "linux-procps")
        self.report.timing("fleetsim, real sshd, collector, every healthy host up", time.monotonic() - t)

    # ---- Prometheus ----------------------------------------------------------------------------

    def prometheus_config(self, mode):
        """The shipped scrape config and rules, rewritten for this test (documented above)."""
        directory = os.path.join(self.work, "prometheus-" + mode)
        shutil.copytree(os.path.join(self.source, "dashboards", "prometheus", "rules"),
                        os.path.join(directory, "rules"))
        for name in os.listdir(os.path.join(directory, "rules")):
            path = os.path.join(directory, "rules", name)
            with open(path) as f:
                rules = yaml.safe_load(f)
            for group in rules["groups"]:
                if "interval" in group:
                    group["interval"] = "1s"
                for rule in group["rules"]:
                    if "for" in rule:
                        rule["for"] = "0s"
            with open(path, "w") as f:
                yaml.safe_dump(rules, f)
        with open(os.path.join(self.source, "dashboards", "prometheus", f"prometheus-{mode}.yml")) as f:
            text = f.read()
        text = text.replace("127.0.0.1:9732", self.collector_addr)
        text = re.sub(r"(scrape_interval|evaluation_interval): 15s", r"\1: 1s", text)
        text = re.sub(r"scrape_timeout: \S+", "scrape_timeout: 1s", text)
        text = re.sub(r"refresh_interval: \S+", "refresh_interval: 5s", text)
        config = os.path.join(directory, "prometheus.yml")
        with open(config, "w") as f:
            f.write(text)
        return directory, config

    def start_prometheus(self):
        t = time.monotonic()
        self.prom = {}
        for mode, port in self.prom_ports.items():
            directory, config = self.prometheus_config(mode)
            log = os.path.join(directory, "prometheus.log")
            proc = self.start("prometheus-" + mode, [
                self.prometheus, f"--config.file={config}", f"--storage.tsdb.path={directory}/data",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], log)
            self.prom[mode] = (f"http://127.0.0.1:{port}", proc, log)

        def scraped(mode):
            url, proc, log = self.prom[mode]
            self.alive("prometheus-" + mode, proc, log)
            try:
                # Four scrapes of every host series: rates over 10 s have samples to work with.
                answer = self.query(mode, "count(count_over_time(fleetps_up[10s]) >= 4)")
                build = self.query(mode, "count_over_time(fleetps_build_info[10s]) >= 4")
            except (OSError, Fatal):
                return False
            return (answer["status"] == "success" and answer["data"]["result"]
                    and int(answer["data"]["result"][0]["value"][1]) == SIM_HOSTS + 1
                    and build["data"]["result"])
        for mode in self.prom:
            if not wait_until(lambda: scraped(mode), 40, 0.5):
                raise Fatal(f"prometheus ({mode} mode) has not scraped every host four times in 40 s")
        self.report.timing("two Prometheus servers up, four scrape rounds", time.monotonic() - t)

    def query(self, mode, expr):
        url = self.prom[mode][0] + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http(url, timeout=10)
        try:
            return json.loads(body)
        except ValueError:
            raise Fatal(f"{mode}: HTTP {status}: {body[:300]}")

    # ---- dashboards and rules ----------------------------------------------------------------

    def values(self, uid):
        """Variable values per dashboard (see the module docstring)."""
        all_ = ".*"
        v = {"instance": self.collector_addr}
        if uid == "fleetps-host":
            v.update(host=self.chosen_host, group=all_)
        elif uid == "fleetps-group":
            v.update(host=all_, group="sshd")
        else:
            v.update(host=all_, group=all_)
        v.update(SUBSTITUTE)
        return v

    @staticmethod
    def substitute(expr, values):
        def one(match):
            name = match.group(1) or match.group(2)
            if name not in values:
                raise Fatal(f"no test value for ${name} in {expr}")
            return values[name]
        return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", one, expr)

    def dashboards(self):
        directory = os.path.join(self.source, "dashboards", "grafana")
        for name in sorted(os.listdir(directory)):
            if name.endswith(".json"):
                with open(os.path.join(directory, name)) as f:
                    yield json.load(f)

    def expressions(self):
        """(what, expr, must have series) for every panel target, variable query and rule."""
        for dash in self.dashboards():
            uid = dash["uid"]
            values = self.values(uid)
            for var in dash["templating"]["list"]:
                if var["type"] != "query":
                    continue
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
                if not match:
                    raise Fatal(f"{uid}: unsupported variable query {query}")
                expr = f"count by ({match.group(2)}) ({match.group(1)})"
                yield f"{uid} variable ${var['name']}", self.substitute(expr, values), True
            panels = []
            for panel in dash["panels"]:
                panels.append(panel)
                panels.extend(panel.get("panels", []))
            for panel in panels:
                if panel["type"] == "row":
                    continue
                may_be_empty = MARKER in panel.get("description", "")
                for target in panel["targets"]:
                    must = not may_be_empty and (uid, panel["title"], target["refId"]) not in MAY_BE_EMPTY
                    yield (f"{uid} \"{panel['title']}\" {target['refId']}",
                           self.substitute(target["expr"], values), must)
        rules_dir = os.path.join(self.source, "dashboards", "prometheus", "rules")
        for name in sorted(os.listdir(rules_dir)):
            with open(os.path.join(rules_dir, name)) as f:
                for group in yaml.safe_load(f)["groups"]:
                    for rule in group["rules"]:
                        yield f"rule {rule.get('alert') or rule['record']}", rule["expr"], False

    def scenario_expressions(self):
        r = self.report
        t = time.monotonic()
        exprs = list(self.expressions())
        rules = sum(1 for what, _, _ in exprs if what.startswith("rule "))
        if rules < 10:
            raise Fatal(f"found only {rules} rules in the shipped rule files")
        for mode in self.prom:
            errors, empty = [], []
            for what, expr, must in exprs:
                answer = self.query(mode, expr)
                self.evaluated += 1
                if answer.get("status") != "success":
                    errors.append(f"{what}: {answer.get('error')} in {expr}")
                elif must and not answer["data"]["result"]:
                    empty.append(f"{what}: {expr}")
            r.check(f"{mode} mode: all {len(exprs)} expressions evaluate without error", not errors,
                    "; ".join(errors[:6]))
            r.check(f"{mode} mode: every panel meant to show data returns series", not empty,
                    f"{len(empty)} empty: " + "; ".join(empty[:8]))
            groups = get_json(self.prom[mode][0] + "/api/v1/rules")["data"]["groups"]
            bad = [f"{rule['name']}: {rule.get('lastError')}" for g in groups for rule in g["rules"]
                   if rule.get("health") != "ok"]
            loaded = sum(len(g["rules"]) for g in groups)
            r.check(f"{mode} mode: all {loaded} rules loaded and evaluating cleanly",
                    loaded == rules and not bad, f"{loaded} loaded of {rules}; " + "; ".join(bad[:4]))
        r.timing(f"{self.evaluated} expression evaluations", time.monotonic() - t)
        # Both modes name each host's series by the host in `instance`, so per-instance panels
        # of dashboards made for one exporter per host separate the hosts.
        for mode in self.prom:
            result = self.query(mode, "fleetps_up")["data"]["result"]
            wrong = [x["metric"] for x in result
                     if x["metric"].get("instance") != x["metric"].get("host")]
            r.check(f"{mode} mode: every host series has instance = host ({len(result)} hosts)",
                    result and not wrong, f"{len(wrong)} differ, e.g. {wrong[:2]}")

    def host_families(self, mode):
        """{(family, host)} of every host series the server holds, and those that arrive from more
        than one job (a fleet total would count them twice)."""
        pairs = self.query(mode, f'count by (__name__, host, job) ({{__name__=~"{HOST_FAMILIES}", host!=""}})')
        seen, twice = set(), set()
        for x in pairs["data"]["result"]:
            key = (x["metric"]["__name__"], x["metric"]["host"])
            (twice if key in seen else seen).add(key)
        return seen, twice

    def scenario_same_series(self):
        """Both modes hold the same host families for every host, each from one job only: in probe
        mode the health families from /metrics, the process families from /probe."""
        r = self.report
        state = {}

        def same():
            state.update({mode: self.host_families(mode) for mode in self.prom})
            return state["metrics"][0] == state["probe"][0]
        wait_until(same, 10, 1)
        (metrics, _), (probe, twice) = state["metrics"], state["probe"]
        r.check(f"probe mode has the host families of metrics mode for every host ({len(metrics)} "
                "(family, host) pairs)", metrics and metrics == probe,
                f"only in metrics mode {sorted(metrics - probe)[:6]}; only in probe mode "
                f"{sorted(probe - metrics)[:6]}")
        r.check("probe mode: no host series comes from both jobs", not twice, str(sorted(twice)[:6]))
        jobs = self.query("probe", f'count by (__name__, job) ({{__name__=~"{HOST_FAMILIES}", host!=""}})')
        wrong = sorted((x["metric"]["__name__"], x["metric"]["job"]) for x in jobs["data"]["result"]
                       if (x["metric"]["job"] == "fleetps-hosts")
                       != bool(re.fullmatch(r"(namedprocess_namegroup|node|fleetps_namegroup)_.+", x["metric"]["__name__"])))
        r.check("probe mode: process families from /probe (fleetps-hosts), host health from /metrics (fleetps)",
                jobs["data"]["result"] and not wrong, str(wrong[:6]))

    def initially_down(self):
        """{host: reason} of the inventory hosts down from the start."""
        return {sim_name(n): DOWN_REASONS[n] for n in INITIAL_FAULTS}

    def probe_targets(self):
        """Probe mode: {host: (up, scrape error)} of the fleetps-hosts job."""
        up = self.query("probe", 'up{job="fleetps-hosts"}')["data"]["result"]
        targets = get_json(self.prom["probe"][0] + "/api/v1/targets?state=active")["data"]["activeTargets"]
        errors = {t["labels"]["instance"]: t["lastError"] for t in targets
                  if t["labels"]["job"] == "fleetps-hosts"}
        return {x["metric"]["instance"]: (x["value"][1], errors.get(x["metric"]["instance"]))
                for x in up}

    def check_probe_targets(self, down, unsettled=()):
        """Probe mode: `up` is 0 for the hosts in `down` ({host: reason}), with the reason as the
        scrape error, and 1 for every other host of self.inventory but `unsettled`."""
        r = self.report
        want = {name: ("1", "") for name in self.inventory}
        unknown = set(down) - set(want)
        if unknown:
            raise Fatal(f"check_probe_targets: {sorted(unknown)} not in the inventory")
        for name, reason in down.items():
            want[name] = ("0", f"server returned HTTP status 503 host {name} is down: {reason}")
        for name in unsettled:
            del want[name]
        state = {}

        def wrong():
            got = self.probe_targets()
            differ = {name: got.get(name) for name, w in want.items() if got.get(name) != w}
            differ.update({name: got[name] for name in set(got) - set(self.inventory)})  # not a host
            return differ
        wait_until(lambda: not wrong(), 60, 1)
        differ = wrong()
        what = (f"0 with the reason as the scrape error for {', '.join(sorted(down))}, 1 for the "
                f"{len(want) - len(down)} other hosts" if down else f"1 for all {len(want)} hosts")
        r.check(f"probe mode: up{{job=\"fleetps-hosts\"}} is {what}", not differ,
                f"(up, error) differ for {len(differ)}: {dict(sorted(differ.items())[:4])}")

    def firing(self, mode):
        alerts = get_json(self.prom[mode][0] + "/api/v1/alerts")["data"]["alerts"]
        return {(a["labels"]["alertname"], a["labels"].get("host"), a["labels"].get("reason"))
                for a in alerts if a["state"] == "firing"}

    def scenario_alerts(self):
        r = self.report
        t = time.monotonic()
        for n, fault in INJECTED_FAULTS.items():
            status, body = http(f"{self.sim_url}/hosts/{n}/fault", method="PUT", data=fault.encode())
            if status != 200:
                raise Fatal(f"fleetsim refused fault {fault} for host {n}: HTTP {status} {body}")
        expected = {
            ("FleetpsHostKeyMismatch", sim_name(1), None),
            ("FleetpsHostDown", sim_name(2), None),
            ("FleetpsProbeFailing", sim_name(3), "parse_error"),
            ("FleetpsSessionFlapping", sim_name(4), None),
            ("FleetpsHostDown", sim_name(19), None),
            ("FleetpsHostDown", sim_name(20), None),
        }
        broken = {sim_name(n) for n in list(INJECTED_FAULTS) + list(INITIAL_FAULTS)}
        for mode in self.prom:
            wait_until(lambda: expected <= self.firing(mode), 60, 1)
            fired = self.firing(mode)
            missing = expected - fired
            r.check(f"{mode} mode: each injected fault fires its alert", not missing,
                    f"missing {sorted(missing, key=str)}; firing {sorted(fired, key=str)}")
            wrong = {a for a in fired if a[1] is not None and a[1] not in broken}
            wrong |= {a for a in fired if a[0] == "FleetpsHostDown" and a[1] in (sim_name(1), sim_name(3))}
            # Broken hosts say nothing about the collector's own limits.
            wrong |= {a for a in fired if a[0] in COLLECTOR_LIMIT_ALERTS}
            r.check(f"{mode} mode: no host alert for a healthy host, no HostDown for a changed key "
                    "or a failing probe, no collector limit alert", not wrong, f"{sorted(wrong, key=str)}")
            alerts = get_json(self.prom[mode][0] + "/api/v1/alerts")["data"]["alerts"]
            said = {a["labels"].get("host"): a["annotations"].get("description", "") for a in alerts
                    if a["labels"]["alertname"] == "FleetpsHostDown"}
            unsaid = {sim_name(n): said.get(sim_name(n)) for n in (2, 19, 20)
                      if f"(reason: {DOWN_REASONS[n]})" not in said.get(sim_name(n), "")}
            r.check(f"{mode} mode: FleetpsHostDown names the reason (connect_refused, auth_denied)",
                    not unsaid, str(unsaid))
        r.timing(f"{len(expected)} alerts firing on both servers", time.monotonic() - t)
        self.check_probe_targets({sim_name(n): reason for n, reason in DOWN_REASONS.items()},
                                 unsettled=[sim_name(4)])

    def run(self):
        ok = False
        try:
            self.setup_fleet()
            self.start_prometheus()
            self.scenario_expressions()
            self.scenario_same_series()
            self.check_probe_targets(self.initially_down())
            self.scenario_alerts()
        except Fatal as error:
            self.report.check("prerequisite", False, str(error))
        except Exception as error:  # a bug in this script or an unexpected answer: still clean up
            import traceback
            traceback.print_exc()
            self.report.check("test script ran to the end", False, repr(error))
        finally:
            self.cleanup()
            ok = self.report.summary()
            if ok and os.environ.get("FLEETPS_E2E_KEEP") != "1":
                shutil.rmtree(self.work, ignore_errors=True)
            else:
                print(f"work directory kept: {self.work}")
        return ok


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("dashboards_e2e_test.py: must run as root (scripts/testhost)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    test = DashboardsE2E(*[os.path.abspath(a) for a in sys.argv[1:4]], sys.argv[4])
    return 0 if test.run() else 1


if __name__ == "__main__":
    sys.exit(main())
