#!/usr/bin/env python3
"""Hostile process names end to end (issue 17): a real OpenSSH host, the real collector, promtool
and a real Prometheus.

    hostile_names_e2e_test.py FLEETPS SOURCE_DIR PROMETHEUS

Starts one loopback sshd for a dedicated /bin/sh user (scripts/testhost) and, on this machine
(the host the probe reads), three processes whose comm and argv hold a newline, invalid UTF-8,
ESC and a C1 CSI, quotes, backslashes, label-injection text (`"} fake_metric 1`) and HTML
(`<script>`). Then `fleetps run` on that host with `{{.Comm}}` groups for them, and a Prometheus
scraping its /metrics every second. Checks: the comm with a newline arrives whole (API), /metrics
is valid UTF-8 without control bytes and passes `promtool check metrics`, Prometheus keeps the
target up and ingests the host's series with the escaped group names (and no injected series),
`fleetps query`/`hosts` print no raw control byte, and the web UI (`/`, `/hosts/NAME`) shows
none of it raw. Bounded: about 10 s (40 s when the checks fail and wait out their deadlines). Standard library only; must run as root (testhost creates the user, starts sshd).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_channel  # noqa: E402
from e2e_test import (Report, die_with_parent, finish_work_dir, http, start_testhost,  # noqa: E402
                      stop_processes, wait_until)

HOST = "hostile01"
MARK = "hostile-e2e"
# comm is at most 15 bytes (the kernel cuts the file name the process runs as).
COMMS = [
    b'ev\nil\xff\x1b"\\\xc2\x9b<s>',  # newline, invalid UTF-8, ESC, quote, backslash, C1 CSI
    b'"} fake_metric 1',                # label injection; the kernel keeps 15 bytes of it
    b"<script>x",                       # HTML
]
ARGV0 = b'/opt/' + MARK.encode() + b'\n"} fake_metric 1\n\x1b[2J\xc2\x9b\xff\\"<script>alert(1)</script>'


def label_safe(raw):
    """collector/query/src/text.cpp LabelSafe: valid UTF-8 characters other than controls kept,
    every other byte as \\xNN."""
    out, i = [], 0
    while i < len(raw):
        for length in (1, 2, 3, 4):
            try:
                char = raw[i:i + length].decode("utf-8", "strict")
            except UnicodeDecodeError:
                continue
            break
        else:
            char, length = None, 1
        code = ord(char) if char is not None else None
        if code is None or code < 0x20 or code == 0x7f or 0x80 <= code <= 0x9f:
            out.extend(f"\\x{b:02x}" for b in raw[i:i + length])
        else:
            out.append(char)
        i += length
    return "".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def control_bytes(data):
    """Raw control bytes a terminal would act on: C0 but newline, DEL, and C1 in UTF-8 form."""
    bad = sorted({b for b in data if b < 0x20 and b != 0x0a} | ({0x7f} & set(data)))
    c1 = [i for i in range(len(data) - 1) if data[i] == 0xc2 and 0x80 <= data[i + 1] <= 0x9f]
    return bad, len(c1)


class HostileNames:
    def __init__(self, fleetps, source, prometheus):
        self.fleetps, self.source, self.prometheus = fleetps, source, prometheus
        self.testhost = os.path.join(source, "scripts", "testhost")
        self.report = Report()
        self.procs = []
        self.work = tempfile.mkdtemp(prefix="fleetps-hostile-e2e-")
        os.chmod(self.work, 0o755)  # the login user reads authorized_keys below it
        self.testhost_dir = os.path.join(self.work, "sshd")
        self.collector_log = os.path.join(self.work, "collector.log")

    def start(self, name, argv, log, **kwargs):
        with open(log, "w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, **kwargs)
        self.procs.append((name, proc))
        return proc

    def setup(self):
        env = start_testhost(self.testhost, self.testhost_dir, ["--server", "sshd", "--user",
                                                                    "fleetps-e2e-hn", "--shell", "/bin/sh"])
        for n, comm in enumerate(COMMS):
            path = os.path.join(os.fsencode(self.work), comm.replace(b"/", b"_"))
            shutil.copy("/bin/sleep", path)
            with open(os.path.join(self.work, f"hostile{n}.log"), "w") as out:
                proc = subprocess.Popen([ARGV0, b"60"], executable=path, cwd="/", stdout=out,
                                        stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
            self.procs.append((f"hostile{n}", proc))
        self.url = f"http://127.0.0.1:{free_port()}"
        config = os.path.join(self.work, "fleet.yaml")
        with open(config, "w") as f:
            f.write("\n".join([
                "defaults:", f"  user: {env['FLEETPS_TEST_USER']}",
                f"  identity_file: {env['FLEETPS_TEST_IDENTITY']}",
                f"  known_hosts: {env['FLEETPS_TEST_KNOWN_HOSTS']}",
                "  interval: 2s", "  probe_timeout: 1500ms",
                *probe_channel.defaults_lines(),
                "collector:", f"  listen: {self.url[len('http://'):]}",
                "hosts:", f"  - name: {HOST}", "    address: 127.0.0.1",
                f"    port: {env['FLEETPS_TEST_PORT']}",
                "process_names:", '  - name: "{{.Comm}}"', f"    cmdline: ['^/opt/{MARK}']",
            ]) + "\n")
        self.collector = self.start("collector", [self.fleetps, "run", "--config", config],
                                    self.collector_log)
        def serving():
            if self.collector.poll() is not None:
                raise RuntimeError(f"fleetps run exited with {self.collector.returncode}")
            try:
                return http(self.url + "/-/healthy", timeout=2)[0] == 200
            except OSError:
                return False
        if not wait_until(serving, 10, 0.2):
            raise RuntimeError("fleetps run does not answer /-/healthy after 10 s")
        prom_dir = os.path.join(self.work, "prometheus")
        os.makedirs(prom_dir)
        with open(os.path.join(prom_dir, "prometheus.yml"), "w") as f:
            f.write("\n".join([
                "global: {scrape_interval: 1s, scrape_timeout: 1s}",
                "scrape_configs:",
                "  - job_name: fleetps",
                f"    static_configs: [{{targets: ['{self.url[len('http://'):]}']}}]",
            ]) + "\n")
        self.prom_url = f"http://127.0.0.1:{free_port()}"
        self.start("prometheus", [self.prometheus, f"--config.file={prom_dir}/prometheus.yml",
                                  f"--storage.tsdb.path={prom_dir}/data",
                                  f"--web.listen-address={self.prom_url[len('http://'):]}",
                                  "--log.level=warn"], os.path.join(prom_dir, "prometheus.log"))

    def prom_query(self, expr):
        status, body = http(self.prom_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}),
                            timeout=5)
        if status != 200:
            return None
        return json.loads(body)["data"]["result"]

    def metrics_raw(self):
        import urllib.request
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as reply:
            return reply.read()

    def run_checks(self):
        r = self.report
        groups = [label_safe(c[:15]) for c in COMMS]

        # As the text format writes a label value: \ and " escaped.
        written = [g.replace("\\", "\\\\").replace('"', '\\"') for g in groups]

        def all_groups():
            try:
                text = self.metrics_raw().decode("utf-8", "replace")
            except OSError:
                return False
            return all(f'groupname="{w}"' in text for w in written)
        seen = wait_until(all_groups, 20, 0.5)
        raw = self.metrics_raw()
        r.check("the three hostile comms are groups on /metrics", seen,
                f"{raw.count(b'namedprocess_namegroup_num_procs')} num_procs lines")

        status, body = http(self.url + "/api/v1/processes?" +
                            urllib.parse.urlencode({"q": f'{{args=~"/opt/{MARK}.*"}}'}), timeout=10)
        rows = json.loads(body).get("data", {}).get("rows", []) if status == 200 else []
        comms = sorted(row.get("comm", "") for row in rows)
        r.check("the comm with a newline arrives whole in the API (JSON escapes it)",
                any(c.startswith("ev\nil") and c.endswith("<s>") for c in comms),
                f"HTTP {status}, comms {comms!r}")

        try:
            raw.decode("utf-8", "strict")
            valid = True
        except UnicodeDecodeError:
            valid = False
        bad, c1 = control_bytes(raw)
        r.check("/metrics is valid UTF-8 with no raw control byte but newlines", valid and not bad and not c1,
                f"controls {bad}, C1 {c1}")
        injected = [l for l in raw.split(b"\n") if l.startswith(b"fake_metric")]
        r.check("the label-injection text makes no series of its own", not injected, repr(injected[:2]))
        result = subprocess.run(["promtool", "check", "metrics"], input=raw, capture_output=True,
                                timeout=60)
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        problems = [l for l in output.splitlines()
                    if l.strip() and "should have \"_total\" suffix" not in l]
        r.check("promtool check metrics on the raw bytes: clean",
                result.returncode in (0, 3) and not problems, f"exit {result.returncode}: {output[:800]}")

        def scraped():
            up = self.prom_query('up{job="fleetps"}')
            series = self.prom_query(f'namedprocess_namegroup_num_procs{{host="{HOST}"}}')
            return bool(up) and up[0]["value"][1] == "1" and series and \
                {s["metric"].get("groupname") for s in series} >= set(groups)
        ok = wait_until(scraped, 15, 0.5)
        up = self.prom_query('up{job="fleetps"}') or []
        series = self.prom_query(f'namedprocess_namegroup_num_procs{{host="{HOST}"}}') or []
        names = sorted(s["metric"].get("groupname", "") for s in series)
        r.check("Prometheus keeps the target up and ingests the host's groups with the escaped names",
                ok, f"up {[u['value'][1] for u in up]}, groupnames {names!r}, want {groups!r}")
        fake = self.prom_query("fake_metric")
        r.check("Prometheus has no injected fake_metric series", fake == [], repr(fake))
        ingested = self.prom_query(f'count({{host="{HOST}"}})') or []
        r.check("Prometheus ingested the host's other series too",
                ingested and float(ingested[0]["value"][1]) > 50, repr(ingested))

        for argv in ([self.fleetps, "query", f'{{args=~"/opt/{MARK}.*"}}', "-o", "wide", "--server", self.url],
                     [self.fleetps, "hosts", "--server", self.url]):
            cli = subprocess.run(argv, capture_output=True, timeout=30)
            bad, c1 = control_bytes(cli.stdout + cli.stderr)
            shown = argv[1] != "query" or b"fake_metric" in cli.stdout
            r.check(f"fleetps {argv[1]} prints no raw control byte", cli.returncode == 0 and shown
                    and not bad and not c1,
                    f"exit {cli.returncode}, controls {bad}, C1 {c1}: {cli.stdout[:400]!r}")

        # The fleet page shows hosts, not processes: nothing a process is named may reach it
        # unescaped. The host's page lists the processes: escaped, and without control bytes.
        status, page = http(self.url + "/", timeout=10)
        r.check("web UI / has no raw <script> from a process name",
                status == 200 and "<script>x" not in page and "<script>alert" not in page,
                f"HTTP {status}, {len(page)} chars")
        status, page = http(self.url + "/hosts/" + HOST, timeout=10)
        bad, c1 = control_bytes(page.encode())
        r.check(f"web UI /hosts/{HOST} lists the hostile processes escaped",
                status == 200 and "&lt;script&gt;x" in page and "<script>x" not in page
                and "<script>alert" not in page and not bad and not c1,
                f"HTTP {status}, controls {bad}, C1 {c1}, {len(page)} chars")

    def cleanup(self):
        stop_processes(self.procs)
        subprocess.run([self.testhost, "stop", self.testhost_dir], capture_output=True)

    def run(self):
        try:
            self.setup()
            self.run_checks()
        except Exception as error:  # still clean up and report
            import traceback
            traceback.print_exc()
            self.report.check("test script ran to the end", False, repr(error))
        finally:
            self.cleanup()
            ok = self.report.summary()
            if not ok and os.path.exists(self.collector_log):
                with open(self.collector_log) as f:
                    print("---- collector log (last 20 lines) ----\n" + "".join(f.readlines()[-20:]))
            finish_work_dir(self.work, ok)
        return ok


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("hostile_names_e2e_test.py: must run as root (scripts/testhost)", file=sys.stderr)
        return 1
    # ctest's timeout ends us through run()'s finally block, which stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    return 0 if HostileNames(*sys.argv[1:]).run() else 1


if __name__ == "__main__":
    sys.exit(main())
