#!/usr/bin/env python3
"""`fleetps run` under descriptor limits, with 600 fleetsim hosts (issue 17).

    fd_limit_cli.py FLEETPS FLEETSIM

1. Soft limit 1024, hard 4096 (prlimit on the collector only): the collector raises its soft
   limit to 4096 and logs both values; all 600 hosts reach `ready`; `process_open_fds` shows about
   one descriptor per host (two per host would be over 1,200) and `process_max_fds` is 4096.
2. Hard limit 400, below what 600 hosts need: a warning at start names the limit to set; the
   hosts that find no descriptor are down with reason `fd_limit`, one rate-limited `fd_limit`
   line says so, and `/metrics` keeps answering with the `process_*` self-metrics, whose ratio
   is what the shipped descriptor alert fires on.
Loopback only; standard library only.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import probe_channel  # noqa: E402

HOSTS = 600
# Blocks no other test uses (e2e 12000-16400, dashboards/web/budget 17000-19200, peers
# 21000-23100, admission 24000-25200 and 26000-27200, flapping 31000-31500): a port that
# another test just closed can sit in TIME_WAIT for a minute.
BASES = [27700, 28400, 29100, 29800, 30400]
READY_WITHIN = 60  # seconds for 600 hosts (about 5 s on an idle 2-core machine)


def block_is_free(base, span):
    for port in range(base, base + span):
        s = socket.socket()
        # As fleetsim binds (SO_REUSEADDR): a TIME_WAIT remnant does not make a port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def wait_until(pred, timeout, step=0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def scrape(url):
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            return r.read().decode()
    except OSError:
        return None


def hosts_with(text, family, label, value):
    """Hosts whose `family` series with label=value reads 1."""
    pattern = re.compile(r'^' + family + r'\{([^}]*)\} 1$', re.M)
    hosts = set()
    for labels in pattern.findall(text or ""):
        if f'{label}="{value}"' in labels:
            m = re.search(r'host="([^"]*)"', labels)
            if m:
                hosts.add(m.group(1))
    return hosts


def gauge(text, name):
    m = re.search(r'^' + name + r' ([0-9.e+]+)$', text or "", re.M)
    return float(m.group(1)) if m else None


class Collector:
    def __init__(self, fleetps, config, log, soft, hard):
        self.log = log
        out = open(log, "w")
        self.proc = subprocess.Popen(
            ["prlimit", f"--nofile={soft}:{hard}", "--", fleetps, "run", "--config", config],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        line = wait_until(lambda: re.search(r"event=start .*listen=([0-9.:]+)", read(log)), 15)
        if not line:
            raise RuntimeError(f"collector did not start: {read(log)[-2000:]}")
        self.url = "http://" + line.group(1)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "killed: still running 20 s after SIGTERM"


def main():
    fleetps, fleetsim = sys.argv[1], sys.argv[2]
    failures = []

    def check(ok, what):
        print(("ok:   " if ok else "FAIL: ") + what, flush=True)
        if not ok:
            failures.append(what)

    base = next((b for b in BASES if block_is_free(b, HOSTS)), None)
    if base is None:
        print(f"FAIL: no free block of {HOSTS} ports among {BASES}")
        return 1
    with tempfile.TemporaryDirectory(prefix="fleetps-fd-limit-") as work:
        sim_dir = os.path.join(work, "sim")
        subprocess.run([fleetsim, "--emit-config", sim_dir, "--hosts", str(HOSTS), "--base-port",
                        str(base), "--user", "fleetsim"] + probe_channel.emit_args(),
                       check=True, capture_output=True)
        config = os.path.join(sim_dir, "fleet.yaml")
        with open(config, "a") as f:
            f.write("collector:\n  listen: 127.0.0.1:0\n  threads: 2\n")
        sim_log = os.path.join(work, "fleetsim.log")
        with open(sim_log, "w") as out:
            sim = subprocess.Popen([fleetsim, "--state-dir", sim_dir, "--hosts", str(HOSTS),
                                    "--base-port", str(base)],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            if not wait_until(lambda: "fleetsim ready" in read(sim_log), 30, 0.05):
                print(f"FAIL: fleetsim not ready: {read(sim_log)[-2000:]}")
                return 1

            # 1. Soft 1024, hard 4096: raised, all ready, one descriptor per host.
            log = os.path.join(work, "collector-raised.log")
            t0 = time.monotonic()
            c = Collector(fleetps, config, log, 1024, 4096)
            ready = wait_until(
                lambda: len(hosts_with(scrape(c.url), "fleetps_host_state", "state", "ready"))
                >= HOSTS, READY_WITHIN, 0.5)
            took = time.monotonic() - t0
            text = scrape(c.url)
            n_ready = len(hosts_with(text, "fleetps_host_state", "state", "ready"))
            check(ready, f"soft 1024 / hard 4096: {n_ready} of {HOSTS} hosts ready after {took:.1f} s")
            raised = re.search(r"event=fd_limit_raised soft_limit=(\d+) hard_limit=(\d+) "
                               r"soft_limit_was=(\d+)", read(log))
            check(raised is not None and raised.groups() == ("4096", "4096", "1024"),
                  "the start log gives the raised soft limit and the hard limit: "
                  + (raised.group(0) if raised else "no fd_limit_raised line"))
            check("event=fd_limit_low" not in read(log), "no low-limit warning when 4096 suffice")
            open_fds, max_fds = gauge(text, "process_open_fds"), gauge(text, "process_max_fds")
            check(max_fds == 4096, f"process_max_fds {max_fds} is the raised soft limit")
            # One per host plus the collector's own (listener, epoll, /proc files, logs, the
            # scrape's connection); with libssh's duplicate it would be over 2 * HOSTS.
            check(open_fds is not None and HOSTS <= open_fds < HOSTS + 100,
                  f"process_open_fds {open_fds} is one descriptor per host plus fewer than 100")
            code = c.stop()
            check(code == 0, f"collector exit status {code}")

            # 2. Hard 400: not enough for 600 hosts.
            log = os.path.join(work, "collector-short.log")
            c = Collector(fleetps, config, log, 400, 400)
            low = re.search(r"level=warn event=fd_limit_low hard_limit=400 needed=(\d+)", read(log))
            check(low is not None and "LimitNOFILE=" in read(log) and "ulimit -n" in read(log),
                  "a warning at start says the hard limit is short and what to set: "
                  + (low.group(0) if low else "none"))
            # Sessions leave the last 400 / 20 descriptors to the collector: at most 380 connect.
            short = wait_until(
                lambda: len(hosts_with(scrape(c.url), "fleetps_probe_failure", "reason",
                                       "fd_limit")) >= HOSTS - 380, 45, 0.5)
            answers = [scrape(c.url) for _ in range(5)]
            text = next((a for a in reversed(answers) if a), None)
            fd_limited = hosts_with(text, "fleetps_probe_failure", "reason", "fd_limit")
            n_ready = len(hosts_with(text, "fleetps_host_state", "state", "ready"))
            check(bool(short), f"{len(fd_limited)} hosts down with reason fd_limit, {n_ready} ready")
            check(n_ready > 0, "the hosts that found a descriptor are ready")
            check(all(a is not None for a in answers), "/metrics answers every scrape meanwhile")
            open_fds, max_fds = gauge(text, "process_open_fds"), gauge(text, "process_max_fds")
            cpu = gauge(text, "process_cpu_seconds_total")
            check(max_fds == 400 and open_fds is not None and cpu is not None,
                  f"process_* self-metrics present: open {open_fds}, max {max_fds}, cpu {cpu}")
            check(open_fds is not None and max_fds and open_fds / max_fds > 0.9,
                  f"open/max = {open_fds}/{max_fds} > 0.9: FleetpsCollectorDescriptorsLow can fire")
            lines = re.findall(r"^.*event=fd_limit .*$", read(log), re.M)
            check(len(lines) == 1 and "LimitNOFILE=" in lines[0] and "hard_limit=400" in lines[0],
                  f"one rate-limited fd_limit line for {len(fd_limited)} hosts: "
                  + (lines[0] if lines else "none"))
            code = c.stop()
            check(code == 0, f"collector exit status {code}")
        finally:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
