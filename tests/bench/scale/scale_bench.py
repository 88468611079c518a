#!/usr/bin/env python3
"""Scale benchmark (issue 8 part B, issue 5's open measurements): `fleetps run` against
fleetsim at 1,000 / 5,000 / 10,000 hosts.

Phases, in order (each starts its own collector and stops it again):
  baseline   collector with 1 host: the RSS that per-host memory is measured against
  steady N   N hosts, interval 15 s: time to all ready, then after a settle time a window of
             W seconds: collector CPU per probe, cores, RSS per host, event-loop lag p99/p99.9,
             schedule delay p99 (quantiles from the collector's histogram buckets, window
             deltas), fleetsim CPU and RSS
  storm      right after steady 1,000: fleetsim (the process holding those sessions) is killed
             with SIGKILL and started again on the same ports with the same keys; time until
             every host is ready on a new session, collector CPU over that time, handshakes in
             flight (fleetsim side, sampled every 50 ms); then the same through fleetsim's
             POST /restart (listeners stay open)
  idle       10,000 idle sessions held by two collectors of 5,000 hosts (interval 24 h):
             fleetsim CPU and RSS (issue 5)
  busy       5,000 hosts at a 5 s interval (1,000 probes/s): fleetsim and collector CPU (issue 5)

Two builds side by side (issue 18): with --baseline BUILD_DIR, the baseline and steady phases
(and the storm) run for both builds back to back, baseline first, each against its own
build's fleetsim (restarted on the same ports with the same keys: a build's probe scripts and
its fleetsim's answers change together); the report adds one table with both columns and the delta. idle and busy run for
the new build only. --channel shell|exec|auto writes `probe_channel` into the new build's
inventory defaults (--baseline-channel for the baseline build); without it the key is not
written at all, so a build that predates it still runs. --fleet linux-procps makes every host
linux-procps (the per-probe goal of issue 18 is per linux-procps probe); --interval sets the
steady phases' interval.

During every measured window a scraper thread GETs /metrics every --scrape-every seconds (first
scrape at the window's start): the render is counted in the collector's CPU, the event-loop
lag is measured under it, and each scrape's duration is reported. Descriptors per host are
(open fds at the end of the window − open fds with 1 host) / hosts.

Descriptors: the hard RLIMIT_NOFILE here may be 20,000. fleetsim needs one per listener plus
one per session, so the fleet is two fleetsim processes of up to 5,000 hosts. The collector
holds two per session (the Asio socket and libssh's dup of it), so one collector serves at most
(limit - margin) / 2 hosts: the largest size is capped to that and the report says so.

Output: OUT/scale.json (everything), OUT/scale_steady.csv, OUT/scale_storm.csv (samples),
OUT/run/ (configs, logs). Markdown on stdout. Progress on stderr.
"""
import argparse
import csv
import datetime
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FLEETS = {"mixed": "linux-procps=55,busybox=15,aix=15,solaris=15",  # the demo's mix
          "linux-procps": "linux-procps=100"}
DIALECTS = FLEETS["mixed"]  # set from --fleet in main()
PER_SIM = 5000  # hosts per fleetsim process
T0 = time.monotonic()


def log(*args):
    print(f"[scale {time.monotonic() - T0:6.1f}s]", *args, file=sys.stderr, flush=True)


# ---- processes ---------------------------------------------------------------------------------

STARTED = []


def start(argv, logfile):
    f = open(logfile, "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    f.close()
    STARTED.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=30):
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cleanup():
    for p in reversed(STARTED):
        stop(p, timeout=10)


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def proc_cpu(pid):
    """user+system CPU seconds of a live process (threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def build_info(name, build_dir, channel):
    """A build under test: its collector binary, the probe_channel asked for, and the commit of
    its source tree (read from the build's CMakeCache)."""
    build_dir = os.path.abspath(build_dir)
    src, commit = None, "unknown"
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    src = line.split("=", 1)[1].strip()
    except OSError:
        pass
    if src:
        git = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if git.returncode == 0:
            commit = git.stdout.strip()
    return {"name": name, "dir": build_dir, "fleetps": os.path.join(build_dir, "collector", "fleetps"),
            "channel": channel, "commit": commit}


def phase_key(tag, build):
    """Phase names of the new build are as before; the baseline build's get "@baseline"."""
    return tag if build["name"] == "new" else f"{tag}@{build['name']}"


def http(url, method="GET", data=None, timeout=60):
    req = urllib.request.Request(url, method=method, data=data)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def listening_ports():
    out = subprocess.run(["ss", "-Htln"], capture_output=True, text=True).stdout
    ports = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            try:
                ports.add(int(parts[3].rsplit(":", 1)[1]))
            except ValueError:
                pass
    return ports


def free_port():
    """A free port in 30000-32767 (fleetsim blocks start lower), checked by binding it."""
    import random
    import socket
    for _ in range(100):
        port = random.randint(30000, 32767)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit("scale: no free port in 30000-32767")


def free_block(size, used, taken):
    """A base port with [base, base+size) free, below 32768 (the ephemeral range)."""
    for base in range(12000, 30000 - size, 500):
        block = range(base, base + size)
        if not any(p in used or p in taken for p in block):
            taken.update(block)
            return base
    raise SystemExit(f"scale: no free block of {size} ports below 32768")


# ---- fleetsim ----------------------------------------------------------------------------------


class Sim:
    """One fleetsim process: `hosts` hosts from `base_port`, keys in the shared state dir."""

    def __init__(self, binary, work, tag, hosts, base_port, control_port, state_dir):
        self.binary, self.work, self.tag = binary, work, tag
        self.hosts, self.base_port, self.control_port = hosts, base_port, control_port
        self.state_dir = state_dir
        self.emit_dir = os.path.join(work, f"emit-{tag}")
        self.logfile = os.path.join(work, f"fleetsim-{tag}.log")
        self.proc = None
        self.url = f"http://127.0.0.1:{control_port}"

    def common(self):
        return ["--hosts", str(self.hosts), "--base-port", str(self.base_port),
                "--dialects", DIALECTS, "--state-dir", self.state_dir]

    def emit(self):
        subprocess.run([self.binary, "--emit-config", self.emit_dir, "--user", "monitor"] + self.common(),
                       check=True, stdout=subprocess.DEVNULL)

    def start(self):
        size = os.path.getsize(self.logfile) if os.path.exists(self.logfile) else 0
        t = time.monotonic()
        self.proc = start([self.binary] + self.common() + ["--control", f"127.0.0.1:{self.control_port}"],
                          self.logfile)
        while time.monotonic() - t < 60:
            with open(self.logfile) as f:
                f.seek(size)
                if "fleetsim ready" in f.read():
                    return time.monotonic() - t
            if self.proc.poll() is not None:
                raise SystemExit(f"scale: fleetsim {self.tag} exited: see {self.logfile}")
            time.sleep(0.02)
        raise SystemExit(f"scale: fleetsim {self.tag} not ready after 60 s")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stats(self):
        return json.loads(http(self.url + "/stats", timeout=10))

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def rss(self):
        return proc_rss(self.proc.pid)


def read_hosts(emit_dir):
    """Host entries of an emitted fleet.yaml as (name, text-after-name) blocks, plus the rest."""
    text = open(os.path.join(emit_dir, "fleet.yaml")).read()
    head, rest = text.split("hosts:\n", 1)
    body, tail = rest.split("process_names:\n", 1)
    entries = re.findall(r"  - name: (\S+)\n((?:    .*\n)*)", body)
    return head, entries, "process_names:\n" + tail


# ---- collector ---------------------------------------------------------------------------------


class Collector:
    def __init__(self, binary, work, tag, port):
        self.binary, self.work, self.tag, self.port = binary, work, tag, port
        self.url = f"http://127.0.0.1:{port}"
        self.config = os.path.join(work, f"fleet-{tag}.yaml")
        self.logfile = os.path.join(work, f"collector-{tag}.log")
        self.proc = None
        self.started = None

    def write_config(self, head, hosts, tail, known_hosts, interval, handshakes, channel=None):
        lines = []
        for line in head.splitlines():
            if line.startswith("#"):
                continue
            if line == "defaults:" and channel:
                # Only when asked: a build that predates the key rejects it.
                lines += [line, f"  probe_channel: {channel}"]
                continue
            if line.startswith("  interval:"):
                line = f"  interval: {interval}"
            if line.startswith("  probe_timeout:") and interval.endswith("s") and int(interval[:-1]) <= 10:
                line = f"  probe_timeout: {int(interval[:-1]) - 1}s"  # must stay below the interval
            if line.startswith("  known_hosts:"):
                line = f"  known_hosts: {known_hosts}"
            lines.append(line)
        lines.append("hosts:")
        for name, rest in hosts:
            lines.append(f"  - name: {name}")
            lines.append(rest.rstrip("\n"))
        lines.append(tail.rstrip("\n"))
        lines += ["collector:", f"  listen: 127.0.0.1:{self.port}",
                  f"  max_concurrent_handshakes: {handshakes}"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.n = len(hosts)

    def start(self):
        self.proc = start([self.binary, "run", "--config", self.config], self.logfile)
        self.started = time.monotonic()
        for _ in range(600):
            try:
                http(self.url + "/-/healthy", timeout=2)
                return
            except Exception:
                if self.proc.poll() is not None:
                    hint = ""
                    text = open(self.logfile).read()
                    if "config_invalid" in text and "probe_channel" in text:
                        hint = " (this build predates probe_channel: leave out --channel/--baseline-channel for it)"
                    raise SystemExit(f"scale: collector {self.tag} exited: see {self.logfile}{hint}")
                time.sleep(0.05)
        raise SystemExit(f"scale: collector {self.tag} not answering")

    def stop(self):
        stop(self.proc)

    def hosts(self):
        return json.loads(http(self.url + "/api/v1/hosts", timeout=60))["data"]["hosts"]

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def rss(self):
        return proc_rss(self.proc.pid)

    def metrics(self):
        """Selected families from /metrics (histograms and self metrics), and the scrape time."""
        t = time.monotonic()
        body = http(self.url + "/metrics", timeout=300)
        took = time.monotonic() - t
        m = parse_metrics(body)
        m["scrape_seconds"] = took
        m["scrape_bytes"] = len(body)
        return m

    def wait_ready(self, want, timeout, poll=1.0):
        """Polls /api/v1/hosts until `want` hosts are ready or `timeout` passes; returns (seconds,
        ready, count by state). The ready count need not grow steadily: under overload, ready
        sessions time out and reconnect, so it is sampled into self.ready_trace."""
        self.ready_trace = []
        while True:
            hosts = self.hosts()
            states = {}
            for h in hosts:
                states[h["state"]] = states.get(h["state"], 0) + 1
            ready = states.get("ready", 0)
            now = time.monotonic()
            self.ready_trace.append((round(now - self.started, 1), ready))
            if ready >= want or now - self.started > timeout:
                return now - self.started, ready, states
            time.sleep(poll)


class Scraper(threading.Thread):
    """GETs /metrics every `every` seconds from start(), the last one starting before `seconds`
    have passed (so every scrape falls inside the window), reading and dropping the body (no
    parsing: the point is the collector's cost and the scrape's duration)."""

    def __init__(self, url, every, seconds):
        super().__init__(daemon=True)
        self.url, self.every, self.seconds = url + "/metrics", every, seconds
        self.done = threading.Event()
        self.scrapes = []  # (seconds, bytes) per scrape, or (seconds, error text)

    def run(self):
        next_at = t0 = time.monotonic()
        while not self.done.is_set() and next_at < t0 + self.seconds - 0.5:
            t = time.monotonic()
            try:
                size = 0
                with urllib.request.urlopen(self.url, timeout=120) as r:
                    while chunk := r.read(1 << 20):
                        size += len(chunk)
                self.scrapes.append((time.monotonic() - t, size))
            except Exception as e:  # a failed scrape is a result too
                self.scrapes.append((time.monotonic() - t, str(e)))
            next_at += self.every
            self.done.wait(max(0.0, next_at - time.monotonic()))

    def stop(self):
        self.done.set()
        self.join()
        ok = [d for d, b in self.scrapes if isinstance(b, int)]
        return {"scrapes": len(self.scrapes), "failed": len(self.scrapes) - len(ok),
                "seconds": [round(d, 4) for d, _ in self.scrapes],
                "max_seconds": max(ok, default=None),
                "bytes": max((b for _, b in self.scrapes if isinstance(b, int)), default=None)}


WANTED = ("fleetps_event_loop_lag_seconds", "fleetps_probe_schedule_delay_seconds",
          "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
          "fleetps_handshakes_in_flight", "fleetps_handshake_limit", "fleetps_hosts",
          "fleetps_probe_skipped_total", "fleetps_up")


WANTED_BYTES = tuple(w.encode() for w in WANTED)


def parse_metrics(body):
    out = {"hist": {}, "skipped": 0.0, "up": 0, "self": {}}
    for raw in body.split(b"\n"):
        if not raw.startswith(WANTED_BYTES):
            continue
        line = raw.decode()
        name_labels, value = line.rsplit(" ", 1)
        value = float(value)
        name = name_labels.split("{", 1)[0]
        if name == "fleetps_probe_skipped_total":
            out["skipped"] += value
        elif name == "fleetps_up":
            out["up"] += int(value == 1)
        elif name.endswith("_bucket"):
            le = re.search(r'le="([^"]+)"', name_labels).group(1)
            out["hist"].setdefault(name[:-7], {}).setdefault("buckets", []).append(
                (float("inf") if le == "+Inf" else float(le), value))
        elif name.endswith("_count") or name.endswith("_sum"):
            base, kind = name.rsplit("_", 1)
            out["hist"].setdefault(base, {})[kind] = value
        else:
            out["self"][name] = value
    return out


def hist_delta(a, b, name):
    """Per-bucket cumulative counts of b minus a (window), or None when the family is absent."""
    hb = b["hist"].get(name)
    if not hb or "buckets" not in hb:
        return None
    ha = dict(a["hist"].get(name, {}).get("buckets", [])) if a else {}
    return [(le, c - ha.get(le, 0)) for le, c in sorted(hb["buckets"])]


def quantile(q, buckets):
    """histogram_quantile (linear inside the bucket, as Prometheus does). Returns (value, note)."""
    if not buckets or buckets[-1][1] <= 0:
        return None, "no observations"
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le, f"above the largest bucket ({prev_le:g} s)"
            if c == prev_c:
                return le, ""
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c), ""
        prev_le, prev_c = le, c
    return None, ""


# ---- phases ------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        # Each build brings its own collector and meets its own fleetsim (see use_fleet_of).
        self.fleetsim = os.path.join(args.build, "tests", "fleetsim", "fleetsim")
        self.builds = [build_info("new", args.build, args.channel)]
        if args.baseline:
            self.builds.insert(0, build_info("baseline", args.baseline, args.baseline_channel))
        self.new = self.builds[-1]
        self.one_host = {}  # build name -> (rss, fds) with 1 host
        self.work = os.path.join(args.out, "run")
        os.makedirs(self.work, exist_ok=True)
        self.results = {"phases": {}}
        self.storm_rows = []
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.nofile = nofile
        # Collector: two descriptors per session plus ~100 of its own.
        self.max_collector_hosts = (nofile - 200) // 2 if nofile != resource.RLIM_INFINITY else 10**6

    def setup(self):
        used, taken = listening_ports(), set()
        state = os.path.join(self.work, "state")
        total = max(max(self.args.sizes, default=0), 2 * PER_SIM if self.args.idle else 0,
                    self.args.busy_hosts if self.args.busy else 0, 1)
        nsims = (total + PER_SIM - 1) // PER_SIM
        self.sims = []
        for i in range(nsims):
            hosts = min(PER_SIM, total - i * PER_SIM)
            base = free_block(hosts, used, taken)
            control = free_block(1, used, taken)
            self.sims.append(Sim(self.fleetsim, self.work, "ab"[i] if i < 2 else str(i), hosts, base, control, state))
        known = os.path.join(self.work, "known_hosts")
        self.entries = []
        with open(known, "w") as kh:
            for i, sim in enumerate(self.sims):
                sim.emit()
                head, entries, tail = read_hosts(sim.emit_dir)
                if i == 0:
                    self.head, self.tail = head, tail
                # Host n of fleetsim i is sim{i*5000+n}: names stay unique across processes.
                for j, (_, rest) in enumerate(entries):
                    self.entries.append((f"sim{i * PER_SIM + j + 1:05d}", rest))
                kh.write(open(os.path.join(sim.emit_dir, "known_hosts")).read())
        self.known_hosts = known
        for sim in self.sims:
            t = sim.start()
            log(f"fleetsim {sim.tag}: {sim.hosts} hosts on {sim.base_port}-{sim.base_port + sim.hosts - 1}, "
                f"control {sim.control_port}, ready in {t:.2f} s")
        self.results["fleetsim"] = [{"tag": s.tag, "hosts": s.hosts, "base_port": s.base_port} for s in self.sims]

    def collector(self, tag, hosts, interval, port_index=0, build=None):
        build = build or self.new
        # The machine is shared: a port free at setup may be taken by now, so pick one per start.
        for attempt in range(5):
            port = free_port()
            c = Collector(build["fleetps"], self.work, f"{tag}" if attempt == 0 else f"{tag}-{attempt}", port)
            c.write_config(self.head, hosts, self.tail, self.known_hosts, interval, self.args.handshakes,
                           build["channel"])
            try:
                c.start()
                return c
            except SystemExit:
                if "Address already in use" not in open(c.logfile).read():
                    raise
        raise SystemExit("scale: no free port for the collector")

    def sims_stats(self):
        return [s.stats() for s in self.sims]

    def sims_cpu(self):
        return [s.cpu() for s in self.sims]

    # -- one host: what per-host RSS and descriptors are measured against
    def one_host_phase(self, build):
        tag = phase_key("one-host", build)
        c = self.collector(tag, self.entries[:1], "15s", build=build)
        c.wait_ready(1, 30)
        time.sleep(3)
        rss, fds = c.rss(), proc_fds(c.proc.pid)
        c.stop()
        self.one_host[build["name"]] = (rss, fds)
        self.results["phases"][tag] = {"build": build["name"], "hosts": 1, "rss_bytes": rss, "fds": fds}
        log(f"{tag}: RSS {rss / 1e6:.1f} MB, {fds} fds with 1 host")

    # -- steady state
    def steady(self, n, interval_s=15, tag=None, keep=False, build=None):
        a = self.args
        build = build or self.new
        tag = phase_key(tag or f"steady-{n}", build)
        capped = min(n, self.max_collector_hosts)
        hosts = self.entries[:capped]
        log(f"{tag}: {capped} hosts" + (f" (asked {n}; capped by RLIMIT_NOFILE {self.nofile})" if capped < n else "")
            + f", interval {interval_s} s")
        cpu_sims0 = self.sims_cpu()
        c = self.collector(tag, hosts, f"{interval_s}s", build=build)
        cpu0 = c.cpu()
        t_ready, ready, states = c.wait_ready(capped, timeout=a.ready_timeout)
        cpu_connect = c.cpu() - cpu0
        cpu_sims_connect = sum(x - y for x, y in zip(self.sims_cpu(), cpu_sims0))
        log(f"{tag}: {ready}/{capped} ready after {t_ready:.1f} s ({states}); collector CPU {cpu_connect:.2f} s")
        t_all_ready = time.monotonic()
        time.sleep(a.settle)
        rss_before = c.rss()
        m0 = c.metrics()
        log(f"{tag}: /metrics scrape {m0['scrape_seconds']:.2f} s, {m0['scrape_bytes'] / 1e6:.1f} MB")
        time.sleep(1)
        scraper = Scraper(c.url, a.scrape_every, a.window) if a.scrape_every > 0 else None
        s0, p0, ps0, w0 = self.sims_stats(), c.cpu(), self.sims_cpu(), time.monotonic()
        load0 = open("/proc/loadavg").read().split()[:3]
        if scraper:
            scraper.start()
        time.sleep(a.window)
        p1, ps1, w1 = c.cpu(), self.sims_cpu(), time.monotonic()
        s1 = self.sims_stats()
        scrapes = scraper.stop() if scraper else None
        rss = c.rss()
        fds = proc_fds(c.proc.pid)
        rounds = (time.monotonic() - t_all_ready) / interval_s
        load1 = open("/proc/loadavg").read().split()[:3]
        m1 = c.metrics()
        host_list = c.hosts()
        procs = [h.get("processes", 0) for h in host_list if "processes" in h]
        # The probe channel each host is on, where the build reports one (any field naming it).
        channels = {}
        for h in host_list:
            for key, value in h.items():
                if "channel" in key and isinstance(value, str):
                    channels[f"{key}={value}"] = channels.get(f"{key}={value}", 0) + 1
        window = w1 - w0
        cpu = p1 - p0
        probes_sim = sum(b["commands_served"] - x["commands_served"] for x, b in zip(s0, s1))
        d_count = None
        if "fleetps_probe_schedule_delay_seconds" in m1["hist"]:
            d_count = m1["hist"]["fleetps_probe_schedule_delay_seconds"].get("count", 0) - \
                m0["hist"].get("fleetps_probe_schedule_delay_seconds", {}).get("count", 0)
        # fleetsim's counters are read right at the window's edges; the collector's histogram
        # count spans the two scrapes (a little longer), so it is only a cross-check.
        # fleetsim counts what it answered. Should it count a persistent shell channel once
        # instead of each run on it, the collector's own count (the histogram's, spanning the
        # two scrapes, so a little longer than the window) stands in.
        use_collector = d_count and probes_sim < 0.5 * d_count
        probes = d_count if use_collector else probes_sim
        lag = hist_delta(m0, m1, "fleetps_event_loop_lag_seconds")
        delay = hist_delta(m0, m1, "fleetps_probe_schedule_delay_seconds")
        lag999, lag999_note = quantile(0.999, lag) if lag else (None, "metric absent")
        lag99, _ = quantile(0.99, lag) if lag else (None, "")
        delay99, delay99_note = quantile(0.99, delay) if delay else (None, "metric absent")
        sim_cpu = [x1 - x0 for x0, x1 in zip(ps0, ps1)]
        rss1, fds1 = self.one_host.get(build["name"], (None, None))
        r = {
            "build": build["name"], "channel": build["channel"],
            "probes_source": "collector" if use_collector else "fleetsim",
            "window_scrapes": scrapes, "channels_in_use": channels,
            "fds_per_host": (fds - fds1) / capped if fds1 is not None else None,
            "hosts_asked": n, "hosts": capped, "interval_s": interval_s, "ready": ready,
            "ready_states": states, "ready_seconds": t_ready, "ready_trace": c.ready_trace,
            "connect_cpu_seconds": cpu_connect,
            "connect_cpu_per_host_ms": 1000 * cpu_connect / max(ready, 1),
            "fleetsim_connect_cpu_seconds": cpu_sims_connect,
            "window_seconds": window, "collector_cpu_seconds": cpu, "collector_cores": cpu / window,
            "probes_fleetsim": probes_sim, "probes_collector": d_count, "probes": probes,
            "probes_per_second": probes / window, "planned_probes_per_second": ready / interval_s,
            "cpu_per_probe_us": 1e6 * cpu / probes if probes else None,
            "rss_bytes": rss, "rss_before_scrape_bytes": rss_before,
            "rss_per_host_bytes": (rss - rss1) / capped if rss1 is not None else None,
            "rounds_before_rss": rounds,
            "processes_per_host_mean": sum(procs) / len(procs) if procs else None, "collector_fds": fds,
            "loop_lag_p99_s": lag99, "loop_lag_p999_s": lag999, "loop_lag_note": lag999_note,
            "loop_lag_buckets": lag, "schedule_delay_p99_s": delay99, "schedule_delay_note": delay99_note,
            "schedule_delay_buckets": delay,
            "skipped_in_window": m1["skipped"] - m0["skipped"], "up_hosts": m1["up"],
            "scrape_seconds": [m0["scrape_seconds"], m1["scrape_seconds"]],
            "scrape_bytes": m1["scrape_bytes"],
            "self_metrics": m1["self"],
            "fleetsim_cpu_seconds": sim_cpu, "fleetsim_cores": sum(sim_cpu) / window,
            "fleetsim_rss_bytes": [s.rss() for s in self.sims],
            "fleetsim_sessions": [x["sessions_open"] for x in s1],
            "loadavg_before": load0, "loadavg_after": load1,
        }
        cpp = r["cpu_per_probe_us"]
        log(f"{tag}: {probes} probes in {window:.1f} s ({probes / window:.0f}/s, fleetsim counted {probes_sim}); "
            f"collector {cpu:.2f} s CPU = {r['collector_cores']:.3f} cores, "
            f"{fmt(cpp, '.0f')} us/probe; RSS {rss / 1e6:.1f} MB; lag p99.9 {lag999}; delay p99 {delay99}; "
            f"fleetsim {r['fleetsim_cores']:.3f} cores; fds {fds}"
            + (f"; window scrapes {scrapes['seconds']} s" if scrapes else ""))
        self.results["phases"][tag] = r
        if keep:
            return c, r
        c.stop()
        return None, r

    # -- reconnect storm
    def storm(self, c, steady, how):
        """Drops the 1,000 sessions at once (`kill`: SIGKILL + restart; `restart`: POST /restart)."""
        sim = self.sims[0]
        before = {h["host"]: h["epoch"] for h in c.hosts()}
        n = len(before)
        st0 = sim.stats() if how == "restart" else None
        p0 = c.cpu()
        ps0 = sim.cpu() if how == "restart" else None
        t0 = time.monotonic()
        if how == "kill":
            sim.kill()
            listen = sim.start()
            st0 = {"connections_accepted": 0, "auth_accepted": 0, "auth_denied": 0}
            ps0 = 0.0
        else:
            http(sim.url + "/restart", method="POST", data=b"")
            listen = 0.0
        accepted0, auth0 = st0["connections_accepted"], st0["auth_accepted"] + st0["auth_denied"]
        peak_inflight, done_t, last_poll = 0, None, 0.0
        rows = []
        ready_new = 0
        while time.monotonic() - t0 < self.args.storm_timeout:
            now = time.monotonic()
            st = sim.stats()
            inflight = (st["connections_accepted"] - accepted0) - (st["auth_accepted"] + st["auth_denied"] - auth0)
            # A connection that failed before auth (refused while restarting, reset) leaves the
            # count high; the estimate is an upper bound.
            peak_inflight = max(peak_inflight, inflight)
            row = {"how": how, "t": now - t0, "accepted": st["connections_accepted"] - accepted0,
                   "authenticated": st["auth_accepted"] - st0["auth_accepted"],
                   "inflight_estimate": inflight, "sessions_open": st["sessions_open"], "ready_new": None,
                   "build": steady["build"]}
            if now - last_poll >= self.args.storm_poll:
                last_poll = now
                hosts = c.hosts()
                ready_new = sum(1 for h in hosts if h["state"] == "ready" and h["epoch"] > before.get(h["host"], 0))
                row["ready_new"] = ready_new
                if ready_new >= n:
                    done_t = time.monotonic() - t0
                    rows.append(row)
                    break
            rows.append(row)
            time.sleep(0.05)
        cpu = c.cpu() - p0
        sim_cpu = sim.cpu() - ps0
        end = time.monotonic() - t0
        background = steady["collector_cores"] * end
        r = {"build": steady["build"], "how": how, "sessions": n, "all_ready_seconds": done_t, "ready_at_end": ready_new,
             "fleetsim_listening_after_s": listen, "collector_cpu_seconds": cpu,
             "steady_background_cpu_seconds": background,
             "storm_cpu_seconds": cpu - background, "peak_handshakes_inflight_fleetsim": peak_inflight,
             "max_concurrent_handshakes": self.args.handshakes, "fleetsim_cpu_seconds": sim_cpu,
             "handshakes_fleetsim": sim.stats()["handshakes"] - (0 if how == "kill" else st0.get("handshakes", 0))}
        self.storm_rows += rows
        key = f"storm-{how}" + ("" if steady["build"] == "new" else f"@{steady['build']}")
        self.results["phases"][key] = r
        log(f"{key}: {ready_new}/{n} ready on a new session after "
            f"{done_t if done_t is not None else float('nan'):.2f} s; collector CPU {cpu:.2f} s "
            f"(~{background:.2f} s steady background); peak in flight (fleetsim side) {peak_inflight}")
        return r

    # -- issue 5: 10,000 idle sessions
    def idle(self):
        a = self.args
        total = min(2 * PER_SIM, len(self.entries))
        halves = [self.entries[:total // 2], self.entries[total // 2:total]]
        log(f"idle: {total} sessions held by two collectors (interval 24h)")
        ps_before, rss_before = self.sims_cpu(), [s.rss() for s in self.sims]
        cs = [self.collector(f"idle-{i}", h, "24h", port_index=i) for i, h in enumerate(halves)]
        states = []
        for c, h in zip(cs, halves):
            states.append(c.wait_ready(len(h), timeout=a.ready_timeout)[:2])
        time.sleep(5)
        st = self.sims_stats()
        ps0, pc0, t0 = self.sims_cpu(), [c.cpu() for c in cs], time.monotonic()
        time.sleep(a.idle_window)
        ps1, pc1, t1 = self.sims_cpu(), [c.cpu() for c in cs], time.monotonic()
        w = t1 - t0
        r = {"sessions": sum(x["sessions_open"] for x in st), "ready": [s[1] for s in states],
             "window_seconds": w,
             "fleetsim_cores": [(b - a_) / w for a_, b in zip(ps0, ps1)],
             "fleetsim_rss_bytes": [s.rss() for s in self.sims],
             "fleetsim_rss_before_bytes": rss_before,
             "fleetsim_rss_per_session_bytes": sum(s.rss() for s in self.sims) / max(1, sum(x["sessions_open"] for x in st)),
             "collector_cores": [(b - a_) / w for a_, b in zip(pc0, pc1)],
             "collector_rss_bytes": [c.rss() for c in cs],
             "note": "keepalive 15s (the default) stays on: idle means no probes, not no traffic"}
        for c in cs:
            c.stop()
        self.results["phases"]["fleetsim-idle"] = r
        log(f"idle: {r['sessions']} sessions; fleetsim cores {r['fleetsim_cores']}, RSS "
            f"{[x / 1e6 for x in r['fleetsim_rss_bytes']]} MB; collectors {r['collector_cores']} cores")
        return r

    def use_fleet_of(self, build):
        """Restarts the fleetsim processes from `build` when they run another build's binary
        (same ports, same keys). A build's probe scripts and its fleetsim's answers change
        together (issue 18 merged the Linux /proc reads into one section): an older collector
        against a newer fleetsim parses less and looks cheaper than it is."""
        binary = os.path.join(build["dir"], "tests", "fleetsim", "fleetsim")
        if not os.path.exists(binary):
            raise SystemExit(f"scale: no fleetsim in {build['dir']}: build the target fleetsim there")
        for sim in self.sims:
            if sim.binary == binary:
                continue
            sim.kill()
            sim.binary = binary
            sim.start()

    def run(self):
        a = self.args
        self.setup()
        for build in self.builds:
            self.use_fleet_of(build)
            self.one_host_phase(build)
        for n in a.sizes:
            keep = n == a.storm_hosts and a.storm
            for build in self.builds:  # back to back, baseline first, each on its own fleetsim
                self.use_fleet_of(build)
                c, r = self.steady(n, interval_s=a.interval, keep=keep, build=build)
                if keep:
                    self.storm(c, r, "kill")
                    self.storm(c, r, "restart")
                    c.stop()
        if a.busy:
            self.steady(a.busy_hosts, interval_s=a.busy_interval, tag="fleetsim-busy")
        if a.idle:
            self.idle()
        for sim in self.sims:
            stop(sim.proc)


# ---- report ------------------------------------------------------------------------------------


def fmt(v, spec, unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def goal(value, limit, fmt_spec, unit):
    if value is None:
        return "n/a"
    verdict = "PASS" if value <= limit else f"**MISS** (+{100 * (value / limit - 1):.0f} %)"
    return f"{value:{fmt_spec}}{unit} — {verdict}"


def steady_label(r):
    return f"{r['hosts']:,}" + (f" @{r['interval_s']} s" if r["interval_s"] != 15 else "")


def ms(v):
    return v and 1e3 * v


def kb(v):
    return v and v / 1e3


def scrapes_cell(sc):
    if not sc:
        return "-"
    failed = f", {sc['failed']} failed" if sc["failed"] else ""
    return f"{sc['scrapes']}{failed} ({fmt(ms(sc['max_seconds']), ',.0f', ' ms')})"


def max_scrape(r):
    s = r.get("window_scrapes")
    return s and s["max_seconds"]


# Rows of the side-by-side table: label, how to read it from a steady result, format, unit.
COMPARED = [
    ("all ready after", lambda r: r["ready_seconds"], ".1f", " s"),
    ("collector cores", lambda r: r["collector_cores"], ".3f", ""),
    ("CPU per probe (window scrapes included)", lambda r: r["cpu_per_probe_us"], ",.0f", " µs"),
    ("RSS", lambda r: r["rss_bytes"] / 1e6, ",.0f", " MB"),
    ("RSS per host", lambda r: kb(r["rss_per_host_bytes"]), ".1f", " kB"),
    ("descriptors per host", lambda r: r["fds_per_host"], ".2f", ""),
    ("event-loop lag p99.9", lambda r: ms(r["loop_lag_p999_s"]), ".2f", " ms"),
    ("schedule delay p99", lambda r: ms(r["schedule_delay_p99_s"]), ".1f", " ms"),
    ("/metrics scrape in the window, max", lambda r: ms(max_scrape(r)), ",.0f", " ms"),
    ("ticks skipped", lambda r: r["skipped_in_window"], ".0f", ""),
]


def delta(a, b):
    if a is None or b is None:
        return "n/a"
    if a == 0:
        return "—" if b == 0 else "new"
    return f"{100 * (b / a - 1):+.0f} %"


def report(results, args):
    ph = results["phases"]
    builds = results["builds"]
    names = [b["name"] for b in builds]
    two = len(builds) > 1
    out = []
    p = out.append
    p(f"### Scale: steady state{' and reconnect storm' if args.storm else ''} (fleetsim, {args.fleet} fleet, "
      f"interval {args.interval} s)\n")
    p(f"- Fleet: fleetsim, dialects `{DIALECTS}` (`--fleet {args.fleet}`), {len(results['fleetsim'])} process(es) "
      f"of ≤ {PER_SIM} hosts (RLIMIT_NOFILE {results['nofile']}); collector `max_concurrent_handshakes: "
      f"{args.handshakes}`, threads = cores, interval {args.interval} s, the emitted `process_names` (11 groups)")
    for b in builds:
        p(f"- Build **{b['name']}**: commit {b['commit']}, `{b['dir']}`, "
          + (f"`probe_channel: {b['channel']}`" if b["channel"] else "no `probe_channel` key (the build's default)"))
    if two:
        p("- Both builds' collectors ran the same phases back to back (baseline first), each against its own build's "
          "fleetsim (restarted on the same ports with the same keys)")
    p(f"- Windows: settle {args.settle} s after all hosts are ready, then {args.window} s measured"
      + (f", with `/metrics` scraped every {args.scrape_every:g} s from the window's start (the render "
         "counts in the collector's CPU; lag measured under it)" if args.scrape_every > 0 else ", no scrapes inside")
      + "; CPU from `/proc/PID/stat` (user+sys, 10 ms ticks), RSS from `/proc/PID/statm`, descriptors "
      "from `/proc/PID/fd` at the window's end minus those with 1 host; quantiles "
      "from the collector's histogram buckets (window deltas, linear inside a bucket as "
      "`histogram_quantile` does; resolution is the bucket width)")
    if results.get("capped"):
        p(f"- **Largest size capped to {results['capped']} hosts**: a collector that holds 2 descriptors per "
          f"session (socket + libssh's dup) needs that with the hard RLIMIT_NOFILE {results['nofile']}")
    p("")
    steady = [(k, v) for k, v in ph.items() if k.split("@")[0].startswith("steady-") or k.startswith("fleetsim-busy")]
    p(("| build " if two else "") + "| hosts | ready after | CPU/host until ready | probes/s | collector cores | CPU/probe | RSS | RSS/host | fds/host | loop lag p99 / p99.9 | sched. delay p99 | window scrapes (max) | skipped | fleetsim cores |")
    p(("|---" if two else "") + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, r in steady:
        sc = r.get("window_scrapes")
        p((f"| {r['build']} " if two else "") +
          f"| {steady_label(r)} | {r['ready']:,}/{r['hosts']:,} in {r['ready_seconds']:.1f} s | "
          f"{r['connect_cpu_per_host_ms']:.2f} ms | {r['probes_per_second']:.0f} (plan {r['planned_probes_per_second']:.0f}) | "
          f"{r['collector_cores']:.3f} | {fmt(r['cpu_per_probe_us'], ',.0f', ' µs')} | {r['rss_bytes'] / 1e6:,.0f} MB | "
          f"{fmt(kb(r['rss_per_host_bytes']), '.1f', ' kB')} | {fmt(r['fds_per_host'], '.2f')} | "
          f"{fmt(ms(r['loop_lag_p99_s']), '.2f')} / {fmt(ms(r['loop_lag_p999_s']), '.2f', ' ms')} | "
          f"{fmt(ms(r['schedule_delay_p99_s']), '.1f', ' ms')} | "
          + scrapes_cell(sc)
          + f" | {r['skipped_in_window']:.0f} | {r['fleetsim_cores']:.3f} |")
    p("")
    if two:
        base, new = builds[0], builds[-1]
        p(f"Side by side: {base['name']} ({base['commit']}) against {new['name']} ({new['commit']}), delta = new / baseline − 1.\n")
        p(f"| hosts | measure | {base['name']} | {new['name']} | delta |")
        p("|---|---|---|---|---|")
        for k, r in steady:
            if r["build"] != new["name"] or f"{k}@{base['name']}" not in ph:
                continue
            rb = ph[f"{k}@{base['name']}"]
            for i, (label, get, spec, unit) in enumerate(COMPARED):
                a, b = get(rb), get(r)
                p(f"| {steady_label(r) if i == 0 else ''} | {label} | {fmt(a, spec, unit)} | {fmt(b, spec, unit)} | {delta(a, b)} |")
        p("")
    for name in names:
        sizes = [r for k, r in steady if r["build"] == name and k.split("@")[0].startswith("steady-")]
        if len(sizes) >= 2:
            lo, hi = sizes[0], sizes[-1]
            slope = (hi["rss_bytes"] - lo["rss_bytes"]) / (hi["hosts"] - lo["hosts"])
            results.setdefault("rss_slope_bytes_per_host", {})[name] = slope
            p(f"- {name}: marginal RSS per host between {lo['hosts']:,} and {hi['hosts']:,} hosts: **{slope / 1e3:.1f} kB** "
              f"(1 host: {ph[phase_key('one-host', {'name': name})]['rss_bytes'] / 1e6:.1f} MB)")
    for k, r in steady:
        sc = r.get("window_scrapes")
        p(f"- {k}: /metrics {r['scrape_bytes'] / 1e6:.0f} MB; scrapes outside the window "
          f"{' / '.join(f'{1e3 * x:,.0f}' for x in r['scrape_seconds'])} ms"
          + (f", inside {', '.join(f'{1e3 * x:,.0f}' for x in sc['seconds'])} ms" if sc else "")
          + f"; probes counted by {r['probes_source']}; channels in use: "
          + (", ".join(f"{mode} × {count:,}" for mode, count in sorted(r["channels_in_use"].items())) or "not reported")
          + f"; {fmt(r.get('processes_per_host_mean'), '.0f')} processes per host on average; "
          f"RSS measured {r['rounds_before_rss']:.1f} rounds after all were ready; collector fds {r['collector_fds']:,}; load {' '.join(r['loadavg_before'])} → "
          f"{' '.join(r['loadavg_after'])}; lag note: {r['loop_lag_note'] or '-'}; delay note: {r['schedule_delay_note'] or '-'}")
    p("")
    storms = [(k, v) for k, v in ph.items() if k.startswith("storm-")]
    if storms:
        p(("| build " if two else "") + "| storm | sessions | all ready again | collector CPU (total / minus steady background) | peak handshakes in flight (fleetsim side, ≤ limit?) | fleetsim CPU |")
        p(("|---" if two else "") + "|---|---|---|---|---|---|")
        for k, r in storms:
            how = "SIGKILL fleetsim + restart" if r["how"] == "kill" else "fleetsim POST /restart"
            p((f"| {r['build']} " if two else "") +
              f"| {how} | {r['sessions']:,} | {fmt(r['all_ready_seconds'], '.2f', ' s')} ({r['ready_at_end']:,} ready) | "
              f"{r['collector_cpu_seconds']:.2f} s / {r['storm_cpu_seconds']:.2f} s | "
              f"{r['peak_handshakes_inflight_fleetsim']} (limit {r['max_concurrent_handshakes']}) | {r['fleetsim_cpu_seconds']:.2f} s |")
        p("")
    if "fleetsim-idle" in ph:
        r = ph["fleetsim-idle"]
        p(f"- fleetsim, {r['sessions']:,} idle sessions (two processes, held by two collectors, interval 24 h, "
          f"keepalive 15 s): {', '.join(f'{c:.3f}' for c in r['fleetsim_cores'])} cores, RSS "
          f"{', '.join(f'{x / 1e6:.0f}' for x in r['fleetsim_rss_bytes'])} MB "
          f"({r['fleetsim_rss_per_session_bytes'] / 1e3:.1f} kB per session incl. listeners); "
          f"collectors {', '.join(f'{c:.3f}' for c in r['collector_cores'])} cores, "
          f"{', '.join(f'{x / 1e6:.0f}' for x in r['collector_rss_bytes'])} MB")
    if "fleetsim-busy" in ph:
        r = ph["fleetsim-busy"]
        p(f"- fleetsim serving {r['probes_per_second']:.0f} probes/s ({r['hosts']:,} hosts at 5 s): "
          f"{r['fleetsim_cores']:.3f} cores, RSS {sum(r['fleetsim_rss_bytes']) / 1e6:.0f} MB; the collector used "
          f"{r['collector_cores']:.3f} cores; left for the collector: {2 - r['fleetsim_cores']:.2f} of 2 cores")
    p("")
    p(goals_table(results, args, steady, storms))
    return "\n".join(out) + "\n"


def goals_table(results, args, steady, storms):
    """Issue 18's goals that this run's conditions measure, one column per build."""
    builds = [b["name"] for b in results["builds"]]
    rows = []

    def row(label, values, limit, spec, unit):
        rows.append(f"| {label} | " + " | ".join(goal(v, limit, spec, unit) for v in values) + " |")

    def per_build(k):
        return [results["phases"].get(phase_key(k, {"name": b})) for b in builds]

    sizes = sorted({r["hosts"] for k, r in steady if k.split("@")[0].startswith("steady-")})
    procps_5s = args.fleet == "linux-procps" and args.interval == 5
    for n in sizes:
        rs = per_build(f"steady-{n}")
        if None in rs:
            continue
        where = f"{n:,} hosts, {args.fleet} fleet @ {args.interval} s"
        if n == 1000:
            note = "" if procps_5s else " (goal's conditions: linux-procps fleet @ 5 s; not these)"
            row(f"≤ 500 µs collector CPU per probe ({where}){note}", [r["cpu_per_probe_us"] for r in rs], 500, ",.0f", " µs")
        row(f"≤ 100 kB RSS per host ({where})", [kb(r["rss_per_host_bytes"]) for r in rs], 100, ".1f", " kB")
        row(f"≤ 1 descriptor per host ({where})", [r["fds_per_host"] for r in rs], 1.0, ".2f", "")
    if sizes and sizes[-1] >= 5000:
        n = sizes[-1]
        rs = per_build(f"steady-{n}")
        if None not in rs:
            scraped = f"/metrics every {args.scrape_every:g} s" if args.scrape_every > 0 else "**no scrapes**"
            row(f"event-loop lag p99.9 ≤ 5 ms ({n:,} hosts, {scraped})", [ms(r["loop_lag_p999_s"]) for r in rs], 5, ".2f", " ms")
            row(f"schedule delay p99 ≤ 50 ms (issue 8; {n:,} hosts)", [ms(r["schedule_delay_p99_s"]) for r in rs], 50, ".1f", " ms")
            if args.interval == 15:
                cores = [r["cpu_per_probe_us"] and 20000 / 15 * r["cpu_per_probe_us"] / 1e6 for r in rs]
                results["extrapolated_cores_20k"] = dict(zip(builds, cores))
                row(f"20,000 hosts at 15 s within one core: **extrapolated** from {n:,} hosts measured "
                    "(1,333 probes/s × CPU per probe, scrapes included), not measured", cores, 1.0, ".2f", " cores")
    kills = {r["build"]: r for _, r in storms if r["how"] == "kill"}
    if kills:
        rs = [kills.get(b) for b in builds]
        n = next(r for r in rs if r)["sessions"]
        rows.append(f"| storm (issue 8): {n:,} sessions ready again ≤ 3 s | "
                    + " | ".join(goal(r["all_ready_seconds"], 3, ".2f", " s") if r else "-" for r in rs) + " |")
        rows.append("| storm (issue 8): ≤ 1.2 s collector CPU (minus steady background) | "
                    + " | ".join(goal(r["storm_cpu_seconds"], 1.2, ".2f", " s") if r else "-" for r in rs) + " |")
    if not rows:
        return ""
    head = "| goal (issue 18 unless marked) | " + " | ".join(builds) + " |"
    return "\n".join([head, "|---" * (len(builds) + 1) + "|"] + rows) + "\n"


def write_raw(results, bench, args):
    with open(os.path.join(args.out, "scale.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    rows = [dict(phase=k, **{x: v[x] for x in ("build", "channel", "hosts", "interval_s", "ready_seconds", "collector_cores",
                                               "cpu_per_probe_us", "probes_per_second", "rss_bytes",
                                               "rss_per_host_bytes", "fds_per_host", "loop_lag_p99_s", "loop_lag_p999_s",
                                               "schedule_delay_p99_s", "fleetsim_cores")})
            for k, v in results["phases"].items() if "cpu_per_probe_us" in v]
    if rows:
        with open(os.path.join(args.out, "scale_steady.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if bench.storm_rows:
        with open(os.path.join(args.out, "scale_storm.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(bench.storm_rows[0]))
            w.writeheader()
            w.writerows(bench.storm_rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--interval", type=int, default=15, help="probe interval of the steady phases (s)")
    ap.add_argument("--fleet", choices=sorted(FLEETS), default="mixed",
                    help="dialects of the fleet: the demo's mix, or linux-procps only")
    ap.add_argument("--baseline", metavar="BUILD_DIR",
                    help="a second (previous) build: its collector runs the same phases back to back")
    ap.add_argument("--channel", choices=["shell", "exec", "auto"],
                    help="probe_channel in the new build's inventory defaults (not written when absent)")
    ap.add_argument("--baseline-channel", choices=["shell", "exec", "auto"],
                    help="probe_channel for the baseline build (not written when absent)")
    ap.add_argument("--scrape-every", type=float, default=15,
                    help="GET /metrics this often during each measured window (0 = no scrapes)")
    ap.add_argument("--settle", type=float, default=15, help="seconds after all ready before the window")
    ap.add_argument("--window", type=float, default=30, help="steady-state measurement window (s)")
    ap.add_argument("--handshakes", type=int, default=64, help="collector max_concurrent_handshakes")
    ap.add_argument("--ready-timeout", type=float, default=180)
    ap.add_argument("--storm-hosts", type=int, default=1000)
    ap.add_argument("--storm-timeout", type=float, default=60)
    ap.add_argument("--storm-poll", type=float, default=0.25, help="/api/v1/hosts poll period in the storm")
    ap.add_argument("--no-storm", dest="storm", action="store_false")
    ap.add_argument("--no-idle", dest="idle", action="store_false")
    ap.add_argument("--idle-window", type=float, default=20)
    ap.add_argument("--no-busy", dest="busy", action="store_false")
    ap.add_argument("--busy-hosts", type=int, default=5000)
    ap.add_argument("--busy-interval", type=int, default=5)
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    global DIALECTS
    DIALECTS = FLEETS[args.fleet]
    os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    bench = Bench(args)
    results = bench.results
    results["started_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results["nofile"] = bench.nofile
    results["builds"] = bench.builds
    if max(args.sizes, default=0) > bench.max_collector_hosts:
        results["capped"] = bench.max_collector_hosts
    results["args"] = {k: v for k, v in vars(args).items()}
    t = time.monotonic()
    md = None
    try:
        bench.run()
        md = report(results, args)
    finally:
        cleanup()
        results["wall_seconds"] = time.monotonic() - t
        write_raw(results, bench, args)
    with open(os.path.join(args.out, "scale_report.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)
    log(f"done in {results['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
