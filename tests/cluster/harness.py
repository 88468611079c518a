#!/usr/bin/env python3
"""The process-level cluster harness (scale-out.md §8.1).

    from harness import Harness
    with Harness(fleetps, fleetsim, hosts=300, members=("c1", "c2", "c3")) as h:
        h.wait_converged(30)
        h.kill("c2"); h.stop("c1"); h.cont("c1"); h.relays["c1"].pause()
        h.etcd.kill(h.etcd.leader())
        h.owned_sets(); h.attribution(); h.observer.answers

    harness.py --self-test FLEETPS FLEETSIM

What it starts, all on 127.0.0.1 and all ended when the `with` block ends, whatever happened:
- with `membership="etcd"`: 3 etcd members (etcd_cluster.py);
- fleetsim with `hosts` hosts on a free block of ports and its control API;
- one collector per member name, `fleetps run --cluster-member NAME --cluster-advertise URL`
  on a port chosen free at run time, `collector.source_address` 127.0.0.11, .12, ... so that
  fleetsim's `GET /hosts/N/clients` tells which collector sent each script;
- with etcd, **one relay per collector**: a loopback TCP relay (asyncio, in a thread of this
  process) for each etcd member, so that the collector's `cluster.etcd.endpoints` are its own
  relay's ports. `relays[name].pause()` holds every byte in both directions and leaves new
  connections unanswered, like a SIGSTOP'd relay process: that collector alone loses etcd;
  `resume()` lets the traffic flow again.
- an observer thread polling every running member's `/api/v1/cluster` (default every 0.25 s).

Processes are signalled by PID only (their Popen); a stopped collector is continued before it
is ended, and anything that does not end on SIGTERM within 10 s is killed. Every child also
dies with this process (PR_SET_PDEATHSIG), so a killed test leaves nothing behind.

Definitions (§8.1) as functions over what the harness saw:
- `lost(owned_sets, rows)`: inventory hosts that no participant owns, or whose last good probe
  is older than 2 intervals;
- `doubled_by_attribution(clients, interval)`: hosts whose scripts, within one interval, came
  from two source addresses other than in one clean switch (A...A B...B is a handover;
  A...B...A within one interval is two probers);
- `doubled_by_views(answers)`: /api/v1/cluster answers at one etcd revision that together
  give more owned hosts than the inventory has;
- takeover time: `wait_for(...)` from the moment of a kill to (a) all the victim's hosts owned
  by survivors and (b) each probed.
"""

import asyncio
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import yaml  # python3-yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from etcd_cluster import EtcdCluster, free_port, freeze  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e_test import http, wait_until  # noqa: E402


class Fatal(Exception):
    """A prerequisite failed; the remaining checks cannot run."""


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when this script dies (even by SIGKILL)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def get_json(url, timeout=5.0):
    """The answer's JSON when 200, else None (also when nothing answers in time)."""
    try:
        status, body = http(url, timeout=timeout)
    except (OSError, ValueError):
        return None
    return json.loads(body) if status == 200 else None


def port_blocks(span, first=23100, last=23999):
    """Bases in [first, last] of `span` ports (by default below the kernel's ephemeral range,
    so client sockets do not land there): first those no socket uses now, then those with
    only TIME-WAIT sockets (fleetsim binds with SO_REUSEADDR; a client's ephemeral port in the
    range, connected, would make its bind fail)."""
    for quiet in (lambda line: False, lambda line: line.startswith("TIME-WAIT")):
        for base in range(first, last - span + 2, 10):
            sockets = subprocess.run(["ss", "-Htan", f"sport >= :{base} and sport <= :{base + span - 1}"],
                                     capture_output=True, text=True, check=True).stdout
            if all(quiet(line) for line in sockets.splitlines() if line.strip()):
                yield base


def metric_value(text, name, labels=""):
    """The value of the sample `name{labels...}` (labels: a substring of the label set), or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            if labels in head:
                return float(value)
    return None


# ---------------------------------------------------------------------------------------------
# Relays


class RelayLoop:
    """One asyncio loop in a daemon thread, shared by every relay of a harness."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="relays", daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Relay:
    """A collector's own way to etcd: one listening port per etcd member, one pause switch."""

    def __init__(self, relay_loop, targets):
        self.relay_loop = relay_loop
        self.targets = targets  # [(host, port)] of the etcd members
        self.servers = []
        self.ports = []
        self.connections = 0
        self.bytes = 0
        self.writers = set()
        self.resumed = None
        relay_loop.run(self._start())

    async def _start(self):
        self.resumed = asyncio.Event()
        self.resumed.set()
        for target in self.targets:
            server = await asyncio.start_server(
                lambda r, w, t=target: self._serve(r, w, t), "127.0.0.1", 0)
            self.servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])

    async def _pump(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self.resumed.wait()  # a paused relay holds what it read
                self.bytes += len(data)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, client_reader, client_writer, target):
        self.writers.add(client_writer)
        try:
            await self.resumed.wait()  # a paused relay answers no new connection either
            self.connections += 1
            try:
                up_reader, up_writer = await asyncio.open_connection(*target)
            except OSError:
                client_writer.close()
                return
            self.writers.add(up_writer)
            await asyncio.gather(self._pump(client_reader, up_writer),
                                 self._pump(up_reader, client_writer))
            self.writers.discard(up_writer)
        finally:
            self.writers.discard(client_writer)

    def endpoints(self):
        return ["http://127.0.0.1:%d" % p for p in self.ports]

    def pause(self):
        self.relay_loop.loop.call_soon_threadsafe(self.resumed.clear)

    def resume(self):
        self.relay_loop.loop.call_soon_threadsafe(self.resumed.set)

    def close(self):
        async def stop():
            for server in self.servers:
                server.close()
            for writer in list(self.writers):
                writer.close()
            self.resumed.set()
        self.relay_loop.run(stop())


# ---------------------------------------------------------------------------------------------
# Observer


class Observer(threading.Thread):
    """Polls /api/v1/cluster of every running member; `answers` is [(time.time(), member,
    data)] (data None when the member did not answer within the poll's timeout)."""

    def __init__(self, harness, period=0.25):
        super().__init__(name="observer", daemon=True)
        self.harness, self.period = harness, period
        self.answers = []
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            for name in list(self.harness.collectors):
                if not self.harness.running(name) or self.harness.stopped.get(name):
                    continue
                answer = get_json(self.harness.url(name) + "/api/v1/cluster", timeout=1.0)
                with self.lock:
                    self.answers.append((time.time(), name, answer and answer.get("data")))
            self.halt.wait(self.period)

    def since(self, t0, member=None):
        with self.lock:
            return [(t, m, d) for t, m, d in self.answers
                    if t >= t0 and (member is None or m == member)]

    def stop(self):
        self.halt.set()
        self.join(5)


def self_state(data):
    """This member's state in its own /api/v1/cluster answer ("participant", "fenced"...)."""
    if not data:
        return None
    if data.get("fenced") is True:  # a member may say so beside a view without itself
        return "fenced"
    for m in data.get("members", []):
        if m.get("self"):
            return m.get("state")
    return "unregistered"


def doubled_by_views(answers):
    """Revisions at which the members' answers, taken together, give more owned hosts than the
    inventory has: for each member the most any answer at that revision says it owns, summed.
    (Counts only: /api/v1/cluster has no host lists. A member's own claims can show in its view
    before the watch revision moves, so counts alone may differ at one revision; only an
    excess proves that two members list one host.)"""
    by_revision = {}
    for _, member, data in answers:
        if not data or data.get("membership") != "etcd":
            continue
        seen = by_revision.setdefault(data["revision"], ({}, data["hosts"]))[0]
        for m in data["members"]:
            seen[m["name"]] = max(seen.get(m["name"], 0), m["owned_hosts"])
    return [(revision, counts) for revision, (counts, hosts) in sorted(by_revision.items())
            if sum(counts.values()) > hosts]


def doubled_by_attribution(clients, interval_s, since_ms=0, until_ms=None):
    """{host: [(unix_ms, peer)...]} of hosts whose scripts within one interval came from two
    source addresses other than in one clean switch. Fingerprints count as scripts (fleetsim
    does not tell them apart), so a warm handover reads A B... A...: the receiver's lone
    fingerprint, the sender's last probes, then the receiver; that one shape is allowed."""
    window = interval_s * 1000
    doubled = {}
    for entry in clients:
        # A fingerprint is a session's warm-up or reconnect, not a probe (fleetsim tells them
        # apart by `kind`); the shapes below still allow for one where it does not.
        scripts = [(s["unix_ms"], s["peer"]) for s in entry["scripts"]
                   if s["unix_ms"] >= since_ms and (until_ms is None or s["unix_ms"] < until_ms)
                   and s.get("kind") != "fingerprint"]
        for i in range(len(scripts)):
            runs = []  # [peer, scripts] of the peers seen in [t_i, t_i + interval), in order
            for t, peer in scripts[i:]:
                if t - scripts[i][0] >= window:
                    break
                if runs and runs[-1][0] == peer:
                    runs[-1][1] += 1
                else:
                    runs.append([peer, 1])
            peers = [peer for peer, _ in runs]
            later = {peer for t, peer in scripts[i:] if t - scripts[i][0] >= window}
            warm = len(runs) == 3 and peers[0] == peers[2] != peers[1] and runs[0][1] == 1 and \
                later <= {peers[0]}  # the receiver goes on, not the sender (a stale probe)
            # The same handover seen from the sender's probe before the fingerprint: A B A with
            # A's two probes its own interval apart (up to 0.25 s of tick jitter, not an extra
            # probe), one script of B, then only B.
            a_times = [t for t, peer in scripts[i:] if peer == peers[0] and
                       t - scripts[i][0] < window]
            sender_ticks = len(runs) == 3 and peers[0] == peers[2] != peers[1] and \
                runs[0][1] == runs[1][1] == runs[2][1] == 1 and \
                a_times[-1] - a_times[0] >= window - 250 and later and later <= {peers[1]}
            if len(set(peers)) < len(peers) and not warm and not sender_ticks:
                doubled[entry["name"]] = scripts
                break
    return doubled


def lost(inventory, owned_sets, rows, interval_s):
    """Inventory hosts no member owns, or (rows: {host: /api/v1/hosts row}) whose last good
    probe is older than 2 intervals."""
    owned = set().union(*owned_sets.values()) if owned_sets else set()
    missing = set(inventory) - owned
    stale = {h for h, row in rows.items()
             if row.get("last_good_probe_age_seconds") is None or
             row["last_good_probe_age_seconds"] > 2 * interval_s}
    return missing | stale


# ---------------------------------------------------------------------------------------------
# Harness


class Harness:
    def __init__(self, fleetps, fleetsim, hosts=300, members=("c1", "c2", "c3"),
                 membership="etcd", interval_s=5, ttl_s=5, cluster=None, sim_args=(),
                 port_range=(23100, 23999), observe=0.25, threads=1):
        self.fleetps, self.fleetsim = fleetps, fleetsim
        self.hosts, self.membership = hosts, membership
        self.interval_s, self.ttl_s = interval_s, ttl_s
        self.work = tempfile.mkdtemp(prefix="fleetps-cluster-harness-")
        self.procs = {}      # name -> Popen (fleetsim and collectors)
        self.stopped = {}    # name -> SIGSTOP'd
        self.logs = {}
        self.collectors = {}  # name -> {"port", "source"}
        self.relays = {}
        self.etcd = None
        self.relay_loop = None
        self.observer = None
        self.ok = False
        try:
            self._start(list(members), cluster or {}, list(sim_args), port_range, observe, threads)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        self.ok = kind is None and self.ok
        self.close()

    # -- start ------------------------------------------------------------------------------

    def _spawn(self, name, argv):
        self.logs[name] = os.path.join(self.work, name + ".log")
        with open(self.logs[name], "a") as out:
            self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                preexec_fn=die_with_parent)
        self.stopped[name] = False

    def _start(self, members, cluster, sim_args, port_range, observe, threads):
        if self.membership == "etcd":
            self.etcd = EtcdCluster(3)
            self.relay_loop = RelayLoop()
        # fleetsim: hosts on a free block, control on a free port. A port taken between the
        # check and the bind (ephemeral ports share the range) makes it try the next block.
        sim_dir = os.path.join(self.work, "sim")
        taken = set()  # ports a bind found taken although ss showed nothing there
        for self.sim_base in port_blocks(self.hosts, *port_range):
            if any(self.sim_base <= p < self.sim_base + self.hosts for p in taken):
                continue
            self.sim_control = free_port()
            args = ["--hosts", str(self.hosts), "--base-port", str(self.sim_base),
                    "--dialects", "linux-procps=100"] + sim_args
            shutil.rmtree(sim_dir, ignore_errors=True)
            subprocess.run([self.fleetsim, "--emit-config", sim_dir, "--user", "fleetsim"] + args,
                           check=True, capture_output=True)
            self._spawn("fleetsim", [self.fleetsim, "--state-dir", sim_dir, "--control",
                                     f"127.0.0.1:{self.sim_control}"] + args)
            ready = wait_until(lambda: "fleetsim ready" in self.tail("fleetsim") or
                               self.procs["fleetsim"].poll() is not None, 20, 0.05)
            if ready and self.procs["fleetsim"].poll() is None:
                break
            busy = re.findall(r"cannot listen on 127\.0\.0\.1:(\d+): Address already in use",
                              self.tail("fleetsim"))
            if not busy:
                raise Fatal("fleetsim not ready: " + self.tail("fleetsim"))
            taken.update(int(p) for p in busy)
            self.procs["fleetsim"].kill()
            self.procs["fleetsim"].wait()
        else:
            raise Fatal(f"no block of {self.hosts} free ports in {port_range}")
        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            self.config = yaml.safe_load(f)
        self.inventory = [h["name"] for h in self.config["hosts"]]
        self.config["defaults"].update(interval=f"{self.interval_s}s",
                                       probe_timeout=f"{min(self.interval_s - 1, 10)}s")
        self.config["collector"] = {"enable_reload_endpoint": False, "threads": threads}
        for i, name in enumerate(members):
            self.collectors[name] = {"port": free_port(), "source": f"127.0.0.{11 + i}"}
        section = {"name": "t", "membership": self.membership}
        if self.membership == "etcd":
            section["etcd"] = {"endpoints": self.etcd.endpoints(), "lease_ttl": f"{self.ttl_s}s",
                               "request_timeout": "1s"}
            section["fence_margin"] = "2s" if self.ttl_s >= 8 else "1s"
            section["settle"] = "1s"
            section["min_members"] = len(members)
            section["min_members_timeout"] = "20s"
        else:
            section["static"] = {"members": [{"name": n, "advertise": self.url(n)}
                                             for n in members]}
        for key, value in cluster.items():
            if isinstance(value, dict) and isinstance(section.get(key), dict):
                section[key].update(value)
            else:
                section[key] = value
        self.config["cluster"] = section
        for name in members:
            self.start_member(name)
        self.observer = Observer(self, observe)
        self.observer.start()

    def member_config(self, name):
        """The member's config file: the shared YAML, but its own source address and, with etcd,
        its relay's endpoints (only those two lines differ between members)."""
        config = json.loads(json.dumps(self.config))
        config["collector"]["source_address"] = self.collectors[name]["source"]
        if self.membership == "etcd":
            config["cluster"]["etcd"]["endpoints"] = self.relays[name].endpoints()
        path = os.path.join(self.work, name + ".yaml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        return path

    def add_member(self, name):
        """A new collector (a join): the next source address, a free port, its own relay."""
        self.collectors[name] = {"port": free_port(),
                                 "source": f"127.0.0.{11 + len(self.collectors)}"}
        self.start_member(name)

    def start_member(self, name):
        """Starts (or restarts) collector `name`, with a new relay when clustered over etcd."""
        if self.membership == "etcd" and name not in self.relays:
            self.relays[name] = Relay(self.relay_loop,
                                      [("127.0.0.1", m["client"]) for m in self.etcd.members])
        self._spawn(name, [self.fleetps, "run", "--config", self.member_config(name),
                           "--listen", f"127.0.0.1:{self.collectors[name]['port']}",
                           "--cluster-member", name, "--cluster-advertise", self.url(name)])

    # -- processes ---------------------------------------------------------------------------

    def url(self, name):
        return f"http://127.0.0.1:{self.collectors[name]['port']}"

    def pid(self, name):
        return self.procs[name].pid

    def running(self, name):
        return name in self.procs and self.procs[name].poll() is None

    def kill(self, name):
        """SIGKILL by PID, and reap."""
        proc = self.procs[name]
        proc.kill()
        proc.wait()
        self.stopped[name] = False

    def stop(self, name):
        freeze(self.procs[name].pid)
        self.stopped[name] = True

    def cont(self, name):
        os.kill(self.procs[name].pid, signal.SIGCONT)
        self.stopped[name] = False

    def terminate(self, name, timeout=10):
        """SIGTERM; SIGKILL after `timeout`. The exit status."""
        proc = self.procs[name]
        if self.stopped.get(name):
            self.cont(name)
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def tail(self, name, chars=3000):
        try:
            with open(self.logs[name], errors="replace") as f:
                return f.read()[-chars:]
        except (OSError, KeyError):
            return ""

    def close(self):
        """Ends everything this harness started; keeps the work dir of a failed run."""
        if self.observer:
            self.observer.stop()
        for name, proc in self.procs.items():
            if proc.poll() is None:
                if name in self.collectors:
                    proc.kill()  # SIGTERM would drain (up to drain_timeout): not needed here
                    continue
                if self.stopped.get(name):
                    os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for relay in self.relays.values():
            try:
                relay.close()
            except Exception:  # noqa: BLE001 - cleanup goes on
                pass
        if self.relay_loop:
            self.relay_loop.close()
        if self.etcd:
            self.etcd.close()
        if self.ok and os.environ.get("FLEETPS_E2E_KEEP") != "1":
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"harness work directory kept: {self.work}", flush=True)

    # -- what the members and fleetsim say ---------------------------------------------------

    def cluster(self, name, timeout=2.0):
        answer = get_json(self.url(name) + "/api/v1/cluster", timeout)
        return answer and answer["data"]

    def rows(self, name, timeout=5.0):
        """{host: row} of the hosts `name` runs itself (scope=local), None if it does not answer."""
        answer = get_json(self.url(name) + "/api/v1/hosts?scope=local", timeout)
        return answer and {h["host"]: h for h in answer["data"]["hosts"]}

    def owned_sets(self, names=None):
        """{member: set of hosts it runs} over the running, not stopped members that answer."""
        sets = {}
        for name in names or self.collectors:
            if self.running(name) and not self.stopped[name]:
                rows = self.rows(name)
                if rows is not None:
                    sets[name] = set(rows)
        return sets

    def converged(self, names=None, probed=True):
        """The owned sets when they partition the inventory (and every host had a good probe
        within 2 intervals when `probed`), else None."""
        names = [n for n in (names or self.collectors) if self.running(n)]
        rows = {}
        for name in names:
            if self.procs[name].poll() is not None:
                raise Fatal(f"{name} exited: " + self.tail(name))
            got = self.rows(name)
            if got is None:
                return None
            rows[name] = got
        sets = {n: set(r) for n, r in rows.items()}
        if sum(map(len, sets.values())) != self.hosts or \
                set().union(*sets.values()) != set(self.inventory):
            return None
        if probed:
            merged = {h: row for r in rows.values() for h, row in r.items()}
            if lost(self.inventory, sets, merged, self.interval_s):
                return None
        return sets

    def wait_converged(self, timeout, names=None, probed=True):
        sets = wait_until(lambda: self.converged(names, probed), timeout, 0.25)
        if not sets:
            raise Fatal(f"no convergence within {timeout} s: " +
                        " | ".join(f"{n}: {self.tail(n, 600)}" for n in (names or self.collectors)))
        return sets

    def attribution(self):
        """fleetsim's GET /hosts/all/clients."""
        answer = get_json(f"http://127.0.0.1:{self.sim_control}/hosts/all/clients",
                          timeout=30)
        if answer is None:
            raise Fatal("fleetsim /hosts/N/clients did not answer")
        return answer

    def peer_of(self, name):
        return self.collectors[name]["source"]

    def metrics(self, name, timeout=3.0):
        try:
            status, body = http(self.url(name) + "/metrics", timeout=timeout)
        except OSError:
            return None
        return body if status == 200 else None


# ---------------------------------------------------------------------------------------------
# Self-test: the harness itself, with static membership (works without etcd in the collector)


def self_test(fleetps, fleetsim):
    """A relay pauses and resumes etcd traffic; static members over fleetsim converge, fleetsim
    attributes every host to one source address; no process is left behind."""
    failures = []

    def check(name, ok, detail=""):
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
        if not ok:
            failures.append(name)

    pids = []
    with Harness(fleetps, fleetsim, hosts=60, membership="static") as h:
        h.etcd = EtcdCluster(3)  # the relay's part, without collectors on etcd
        h.relay_loop = RelayLoop()
        relay = Relay(h.relay_loop, [("127.0.0.1", m["client"]) for m in h.etcd.members])
        h.relays["probe"] = relay
        via = relay.endpoints()[0]
        check("relay forwards to etcd", get_json(via + "/health", 2) is not None)
        relay.pause()
        t0 = time.monotonic()
        check("a paused relay answers nothing", get_json(via + "/health", 1.0) is None)
        check("... within the caller's deadline", time.monotonic() - t0 < 1.5)
        relay.resume()
        check("a resumed relay forwards again", get_json(via + "/health", 2) is not None)
        sets = h.wait_converged(30)
        check("owned sets partition the inventory",
              sum(map(len, sets.values())) == h.hosts and len(sets) == 3)
        clients = h.attribution()
        peers = {e["name"]: {s["peer"] for s in e["scripts"]} for e in clients}
        owner = {host: m for m, s in sets.items() for host in s}
        wrong = [n for n, p in peers.items() if p != {h.peer_of(owner[n])}]
        check("every host's scripts come from its owner's source address", not wrong,
              str(wrong[:5]))
        check("no host doubled", not doubled_by_attribution(clients, h.interval_s))
        def fake(name, *pattern):
            return {"name": name, "scripts": [{"unix_ms": 1000 * t, "peer": p}
                                              for t, p in pattern]}
        shapes = [fake("x", (0, "a"), (1, "a"), (2, "b"), (3, "a")),   # back to a: two probers
                  fake("y", (0, "a"), (1, "b"), (6, "b")),             # a clean switch
                  fake("z", (0, "b"), (0, "a"), (1, "b"), (6, "b")),   # b's warm fingerprint
                  fake("w", (0, "b"), (1, "a"), (2, "b"), (3, "a")),   # alternating
                  fake("v", (0, "a"), (1, "b"), (2, "a"), (6, "b")),   # a stale probe by a
                  fake("u", (0, "a"), (3, "b"), (4.9, "a"), (8, "b")),  # a's ticks, b's fingerprint
                  fake("t", (0, "a"), (3, "b"), (3.5, "a"), (8, "b"))]  # a probed early: doubled
        check("doubled_by_attribution: returns are doubled, a (warm) switch is not",
              sorted(doubled_by_attribution(shapes, 5)) == ["t", "v", "w", "x"],
              sorted(doubled_by_attribution(shapes, 5)))
        h.stop("c2")
        check("observer sees c1", wait_until(lambda: h.observer.since(0, "c1"), 5))
        pids = [p.pid for p in h.procs.values()] + [h.etcd.pid(i) for i in range(3)]
        h.ok = not failures
    left = [p for p in pids if os.path.exists(f"/proc/{p}") and
            open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    check("no process left behind (a stopped member included)", not left, str(left))
    print("FAILED: " + ", ".join(failures) if failures else "harness self-test: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--self-test":
        sys.exit(self_test(sys.argv[2], sys.argv[3]))
    sys.exit(__doc__)
