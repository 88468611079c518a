#!/usr/bin/env python3
"""The HTTP port of `fleetps run` holds against 600 slow and idle clients (issue 17).

    http_budget_test.py FLEETPS FLEETSIM SOURCE_DIR

Starts fleetsim (10 hosts) and the collector with `collector.http` at the default
max_connections (512), max_connections_per_client 90 (so at most 540 of them fit) and short
header/body/idle deadlines. Then 600 hostile clients from 127.0.0.2..127.0.0.7 (100 each) hold
connections: a third idle on keep-alive after one
request, a third dripping a request header one byte a second, a third stuck in a half-sent
body; each reconnects a second after the server closes it. Meanwhile a scraper from 127.0.0.1
fetches /metrics every 0.25 s on a new connection. Checks: every scrape answers 200 within 1 s,
the collector uses under 0.2 core over the window (from /proc/PID/stat), the budget is seen at
work in its own metrics (the budget full, evictions, per-client refusals, header timeouts; never
more than 512 connections held), basic auth is on (a web config; the scraper sends credentials)
and a client without them gets 401 while the budget is full, and a SIGHUP with a new
max_connections applies it. Standard library plus libxcrypt's bcrypt through python3 crypt;
loopback only; no root.
"""

import base64
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_channel  # noqa: E402
from e2e_test import (Fatal, Report, block_is_free, cpu_seconds, die_with_parent, find, http,  # noqa: E402
                      parse_metrics, wait_until)

SIM_HOSTS = 10
PORT_BLOCKS = [17000, 17200, 17400, 17600, 17800]
BLOCK_SPAN = 20              # sim ports B..B+9, fleetsim control B+10, collector B+11
ATTACKERS = 600
ATTACK_SOURCES = [f"127.0.0.{n}" for n in range(2, 8)]  # 100 clients each
MAX_CONNECTIONS = 512         # the default
PER_CLIENT = 90
RECONNECT_AFTER = 1.0        # seconds after the server closed a hostile connection
DRIP_EVERY = 1.0             # seconds between header bytes
SCRAPE_USER, SCRAPE_PASSWORD = "prometheus", "budget-test-secret"
RAMP_SECONDS = 4             # hostile connections established before the measured window
WINDOW_SECONDS = 20
SCRAPE_EVERY = 0.25
SCRAPE_LIMIT = 1.0           # seconds
CPU_LIMIT = 0.2              # cores


class HostileClients:
    """ATTACKERS connections held open in three ways, on one selector thread."""

    def __init__(self, port):
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.connects = 0
        self.closed_by_server = 0
        self.failures = 0
        modes = ["idle", "drip", "body"]
        self.slots = [{"source": ATTACK_SOURCES[i % len(ATTACK_SOURCES)], "mode": modes[i % 3],
                       "sock": None, "due": time.monotonic() + i * 0.003, "state": "new"}
                      for i in range(ATTACKERS)]
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, slot):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.bind((slot["source"], 0))
            sock.connect_ex(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            self.failures += 1
            slot["due"] = time.monotonic() + RECONNECT_AFTER
            return
        self.connects += 1
        slot["sock"] = sock
        slot["state"] = "connecting"
        slot["due"] = time.monotonic() + 0.05
        self.selector.register(sock, selectors.EVENT_READ, slot)

    def drop(self, slot):
        self.selector.unregister(slot["sock"])
        slot["sock"].close()
        slot["sock"] = None
        slot["state"] = "new"
        slot["due"] = time.monotonic() + RECONNECT_AFTER
        self.closed_by_server += 1

    def send(self, slot, data):
        try:
            slot["sock"].send(data)
            return True
        except OSError:
            self.drop(slot)
            return False

    def act(self, slot, now):
        mode, state = slot["mode"], slot["state"]
        if state == "new":
            self.open(slot)
        elif state == "connecting":
            if mode == "idle":
                # One complete request; the answer is read and dropped; then silence.
                if self.send(slot, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"):
                    slot["state"], slot["due"] = "holding", float("inf")
            elif mode == "drip":
                if self.send(slot, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "):
                    slot["state"], slot["due"] = "dripping", now + DRIP_EVERY
            else:
                if self.send(slot, b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                                   b"\r\n0123456789"):
                    slot["state"], slot["due"] = "holding", float("inf")
        elif state == "dripping":
            if self.send(slot, b"a"):
                slot["due"] = now + DRIP_EVERY

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            for slot in self.slots:
                if slot["due"] <= now:
                    self.act(slot, now)
            for key, _ in self.selector.select(timeout=0.05):
                slot = key.data
                try:
                    data = slot["sock"].recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.drop(slot)
        for slot in self.slots:
            if slot["sock"] is not None:
                slot["sock"].close()

    def held(self):
        return sum(1 for s in self.slots if s["sock"] is not None)


class HttpBudgetTest:
    def __init__(self, fleetps, fleetsim, source):
        self.fleetps = fleetps
        self.fleetsim = fleetsim
        self.source = source
        self.report = Report()
        self.procs = []
        self.work = tempfile.mkdtemp(prefix="fleetps-http-budget-")
        token = base64.b64encode(f"{SCRAPE_USER}:{SCRAPE_PASSWORD}".encode()).decode()
        self.credentials = {"Authorization": f"Basic {token}"}

    def start(self, name, argv):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name):
        with open(os.path.join(self.work, f"{name}.log")) as f:
            return f.read()

    def setup(self):
        # 600 client sockets here plus the collector's (it inherits this limit).
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
        if wanted < ATTACKERS + 200:
            raise Fatal(f"RLIMIT_NOFILE hard limit {hard} is too low for {ATTACKERS} clients")
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
        base = next((b for b in PORT_BLOCKS if block_is_free(b, BLOCK_SPAN)), None)
        if base is None:
            raise Fatal(f"no free block of {BLOCK_SPAN} ports among {PORT_BLOCKS}")
        self.port = base + SIM_HOSTS + 1
        self.url = f"http://127.0.0.1:{self.port}"
        sim_dir = os.path.join(self.work, "sim")
        common = ["--hosts", str(SIM_HOSTS), "--base-port", str(base), "--dialects", "linux-procps=1"]
        subprocess.run([self.fleetsim, "--emit-config", sim_dir, "--user", "fleetsim"] + common
                       + probe_channel.emit_args(),
                       check=True, capture_output=True)
        sim = self.start("fleetsim", [self.fleetsim, "--state-dir", sim_dir,
                                      "--control", f"127.0.0.1:{base + SIM_HOSTS}"] + common)
        if not wait_until(lambda: sim.poll() is not None or "fleetsim ready" in self.log("fleetsim"), 20):
            raise Fatal("fleetsim not ready after 20 s")
        if sim.poll() is not None:
            raise Fatal(f"fleetsim exited: {self.log('fleetsim')[-2000:]}")
        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            inventory = f.read()
        config = self.config = os.path.join(self.work, "fleet.yaml")
        with open(config, "w") as f:
            f.write(inventory.replace("hosts:\n", "\n".join([
                "collector:",
                f"  listen: 127.0.0.1:{self.port}",
                "  http:",
                f"    max_connections_per_client: {PER_CLIENT}",
                "    header_timeout: 3s",
                "    body_timeout: 3s",
                "    idle_timeout: 10s",
                "  web_config_file: web.yml",
                "hosts:", ""]), 1))
        # Basic auth on every endpoint, as a protected collector runs: the scraper sends
        # credentials (remembered after the first bcrypt check), the hostile clients none.
        import crypt  # libxcrypt: the same bcrypt the collector verifies with
        password_hash = crypt.crypt(SCRAPE_PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**10))
        with open(os.path.join(self.work, "web.yml"), "w") as f:
            f.write(f"basic_auth_users:\n  {SCRAPE_USER}: {password_hash}\n")
        self.collector = self.start("collector", [self.fleetps, "run", "--config", config])

        def ready():
            if self.collector.poll() is not None:
                raise Fatal(f"collector exited: {self.log('collector')[-2000:]}")
            try:
                status, body = http(self.url + "/metrics", timeout=2, headers=self.credentials)
            except OSError:
                return False
            return status == 200 and sum(find(parse_metrics(body), "fleetps_host_state",
                                              state="ready")) == SIM_HOSTS
        if not wait_until(ready, 30):
            raise Fatal(f"not all {SIM_HOSTS} hosts ready after 30 s")

    def scrape(self):
        """One /metrics fetch on a new connection: (seconds, status, body)."""
        t = time.monotonic()
        try:
            status, body = http(self.url + "/metrics", timeout=5, headers=self.credentials)
        except OSError as error:
            return time.monotonic() - t, f"error {error}", ""
        return time.monotonic() - t, status, body

    def run(self):
        r = self.report
        try:
            self.setup()
            _, _, before = self.scrape()
            hostile = HostileClients(self.port)
            hostile.thread.start()
            time.sleep(RAMP_SECONDS)
            held_at_start = hostile.held()
            cpu_start, t_start = cpu_seconds(self.collector.pid), time.monotonic()
            scrapes = []
            while time.monotonic() - t_start < WINDOW_SECONDS:
                scrapes.append(self.scrape())
                time.sleep(SCRAPE_EVERY)
            cores = (cpu_seconds(self.collector.pid) - cpu_start) / (time.monotonic() - t_start)
            held_at_end = hostile.held()
            # While the budget is full: a client without credentials is told so, not served.
            anonymous, _ = http(self.url + "/metrics", timeout=SCRAPE_LIMIT)
            hostile.stop.set()
            hostile.thread.join(5)

            print(f"hostile clients: {hostile.connects} connects, {hostile.closed_by_server} closed "
                  f"by the server, {hostile.failures} failed to connect; holding {held_at_start} at "
                  f"the window's start, {held_at_end} at its end", flush=True)
            # The collector's own count, as each scrape saw it: the budget was full meanwhile.
            held_seen = [sum(find(parse_metrics(body), "fleetps_http_connections"))
                         for _, status, body in scrapes if status == 200]
            r.check(f"the hostile clients filled the budget ({ATTACKERS} tried, {MAX_CONNECTIONS} fit)",
                    held_seen and max(held_seen) >= MAX_CONNECTIONS * 0.9,
                    f"collector held {min(held_seen, default=0):.0f}..{max(held_seen, default=0):.0f}")
            slow = [(round(s, 3), status) for s, status, _ in scrapes
                    if status != 200 or s >= SCRAPE_LIMIT]
            latencies = sorted(s for s, _, _ in scrapes)
            r.check(f"every scrape answered 200 within {SCRAPE_LIMIT} s ({len(scrapes)} scrapes)",
                    scrapes and not slow,
                    f"failed or slow: {slow[:10]}; max {latencies[-1]:.3f} s" if scrapes else "none")
            if latencies:
                r.note(f"scrape latency median {latencies[len(latencies) // 2] * 1000:.1f} ms, "
                       f"max {latencies[-1] * 1000:.1f} ms")
            r.check(f"collector CPU under {CPU_LIMIT} core over the window", cores < CPU_LIMIT,
                    f"{cores:.3f} cores")
            r.check("a scrape without credentials gets 401 (basic auth configured)",
                    anonymous == 401, f"HTTP {anonymous}")

            after = parse_metrics(scrapes[-1][2]) if scrapes and scrapes[-1][1] == 200 else []
            start = parse_metrics(before)

            def increase(name, **labels):
                return sum(find(after, name, **labels)) - sum(find(start, name, **labels))
            r.check("connections were evicted to admit new ones (idle or reading a request)",
                    increase("fleetps_http_connections_evicted_total") > 0,
                    str(find(after, "fleetps_http_connections_evicted_total")))
            r.check("connections beyond an address's share were refused",
                    increase("fleetps_http_connections_refused_total", reason="client_limit") > 0,
                    str(find(after, "fleetps_http_connections_refused_total", reason="client_limit")))
            r.check("dripped headers were cut at the header deadline",
                    increase("fleetps_http_connections_timed_out_total", deadline="header") > 0,
                    str(find(after, "fleetps_http_connections_timed_out_total", deadline="header")))
            r.check(f"the collector never held more than {MAX_CONNECTIONS} connections",
                    held_seen and max(held_seen) <= MAX_CONNECTIONS
                    and find(after, "fleetps_http_max_connections") == [MAX_CONNECTIONS],
                    f"at most {max(held_seen, default=0):.0f}")

            # A reload applies collector.http (to connections accepted after it).
            with open(self.config) as f:
                text = f.read()
            with open(self.config + ".tmp", "w") as f:
                f.write(text.replace("  http:\n", "  http:\n    max_connections: 300\n", 1))
            os.replace(self.config + ".tmp", self.config)
            self.collector.send_signal(signal.SIGHUP)

            def limit():
                status, body = http(self.url + "/metrics", timeout=5, headers=self.credentials)
                return find(parse_metrics(body), "fleetps_http_max_connections") if status == 200 else []
            r.check("SIGHUP applies a new collector.http.max_connections",
                    wait_until(lambda: limit() == [300], 10), str(limit()))
        except Fatal as error:
            r.check("setup", False, str(error))
        finally:
            for proc in reversed(self.procs):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in self.procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        ok = r.summary()
        if ok:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"work directory kept: {self.work}")
            print(self.log("collector")[-3000:])
        return ok


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    test = HttpBudgetTest(*[os.path.abspath(a) for a in sys.argv[1:]])
    return 0 if test.run() else 1


if __name__ == "__main__":
    sys.exit(main())
