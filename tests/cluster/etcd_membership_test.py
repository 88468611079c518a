#!/usr/bin/env python3
"""etcd membership with three real collectors over fleetsim (issue 20, scale-out.md §8.2).

    etcd_membership_test.py FLEETPS FLEETSIM

A 3-member etcd (tests/cluster/etcd_cluster.py), 300 fleetsim hosts at a 5 s interval, and c1,
c2, c3 running `fleetps run` with `cluster.membership: etcd` (lease_ttl 5s), each bound to its
own collector.source_address (127.0.0.11/.12/.13) so that fleetsim's GET /hosts/N/clients tells
which collector sent each script. Checks:
- start: every host owned by exactly one member, the union is the inventory, shares near 1/3,
  each host's sessions from one source address only; /api/v1/cluster/failsafe answers;
  fleetps_cluster_* on /metrics;
- kill -9 c3: all its hosts owned by c1 and c2 within TTL + 1.5 s, and probed within TTL + 6 s;
  no host gets scripts from two source addresses within one interval;
- SIGTERM c2: it exits within drain_timeout, and its hosts move to c1 without a gap between two
  scripts longer than one interval + 2 s.
Ports 19200-19909, below the kernel's ephemeral range (fleetsim on a free block of 300 in
19200-19799, collectors on 19901-19903; etcd and fleetsim's control port on free ports); loopback only; no root; about 40 s.
"""
import json
import os
import signal
import subprocess
import sys
import time

import yaml  # python3-yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, HERE)
from cluster_run import ClusterRun, get, local_hosts  # noqa: E402
from e2e_test import Fatal, wait_until  # noqa: E402
from etcd_cluster import EtcdCluster, free_port  # noqa: E402

HOSTS = 300
SIM_BASES = (19200, 19500)  # fleetsim on BASE..BASE+299, the first free block
MEMBER_BASE = 19900
MEMBERS = {"c1": (19901, "127.0.0.11"), "c2": (19902, "127.0.0.12"), "c3": (19903, "127.0.0.13")}
TTL = 5.0
INTERVAL = 5.0
DRAIN_TIMEOUT = 15.0
SLACK = 0.5  # the CI machine's two cores are shared (as in the other cluster tests)


def listeners_in(low, high):
    """Listening TCP sockets on ports low..high."""
    out = subprocess.run(["ss", "-Hltn", f"sport >= :{low} and sport <= :{high}"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip()


def sockets_in(low, high):
    """TCP sockets (listening, connected, TIME-WAIT) on local ports low..high, one a line."""
    out = subprocess.run(["ss", "-Htan", f"sport >= :{low} and sport <= :{high}"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()


def main():
    fleetps, fleetsim = sys.argv[1], sys.argv[2]
    run = ClusterRun("fleetps-etcd-cluster-")
    procs, check, start, work = run.procs, run.check, run.start, run.work

    def owned(member):
        """The set of hosts `member` runs (owned), or None when it does not answer."""
        hosts = local_hosts(MEMBERS[member][0])
        return None if hosts is None else set(hosts)

    def clients():
        """{host name: fleetsim attribution entry} for every host."""
        answer = get(control, f"/hosts/1-{HOSTS}/clients")[2]
        return {h["name"]: h for h in json.loads(answer)}

    def tails(names):
        return " | ".join(f"{n}: " + open(os.path.join(work, n + ".log")).read()[-1500:]
                          for n in names)

    etcd = None
    control = None
    try:
        if listeners_in(MEMBER_BASE, MEMBER_BASE + 9):
            raise Fatal(f"ports {MEMBER_BASE}-{MEMBER_BASE + 9} are in use: " +
                        listeners_in(MEMBER_BASE, MEMBER_BASE + 9))
        # fleetsim first, on the block with the fewest sockets (below the ephemeral range, so
        # no client connection holds its ports; a leftover of another test may), started again
        # on the then least used block until it listens (at most 30 s). The control port is
        # any free one. (In the ephemeral range, member port 37902 was once taken in CI.)
        deadline = time.monotonic() + 30
        while True:
            sim_base = min(SIM_BASES, key=lambda b: len(sockets_in(b, b + HOSTS - 1)))
            sim_dir = os.path.join(work, f"sim{sim_base}")
            sim_args = ["--hosts", str(HOSTS), "--base-port", str(sim_base),
                        "--dialects", "linux-procps=100"]
            subprocess.run([fleetsim, "--emit-config", sim_dir, "--user", "fleetsim"] + sim_args,
                           check=True, capture_output=True)
            control = free_port()
            sim_log = start("fleetsim", [fleetsim, "--state-dir", sim_dir,
                                         "--control", f"127.0.0.1:{control}"] + sim_args)
            if wait_until(lambda: "fleetsim ready" in open(sim_log).read() or
                          procs["fleetsim"].poll() is not None, 20, 0.05) and \
                    procs["fleetsim"].poll() is None:
                break
            procs["fleetsim"].wait()
            if time.monotonic() > deadline:
                raise Fatal("fleetsim found no block to listen on in 19200-19799: " +
                            open(sim_log).read()[-500:])
            time.sleep(0.5)
        etcd = EtcdCluster(3)
        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            base = yaml.safe_load(f)
        base["defaults"].update(interval="5s", probe_timeout="4s")
        base["cluster"] = {"name": "etcd-e2e", "membership": "etcd", "settle": "1s",
                           "fence_margin": "1s", "drain_timeout": f"{int(DRAIN_TIMEOUT)}s",
                           "handover_warm_timeout": "3s",
                           "etcd": {"endpoints": etcd.endpoints(), "lease_ttl": "5s",
                                    "request_timeout": "1s"}}
        inventory = {h["name"] for h in base["hosts"]}
        for name, (port, source) in MEMBERS.items():
            config = dict(base)
            config["collector"] = {"threads": 1, "source_address": source,
                                   "enable_reload_endpoint": name != "c3"}
            path = os.path.join(work, name + ".yaml")
            with open(path, "w") as f:
                yaml.safe_dump(config, f)
            check_config = subprocess.run([fleetps, "check-config", path], capture_output=True,
                                          text=True, timeout=10)
            check(f"check-config {name}", check_config.returncode == 0, check_config.stderr)
            start(name, [fleetps, "run", "--config", path, "--cluster-member", name,
                         "--cluster-advertise", f"http://127.0.0.1:{port}",
                         "--listen", f"127.0.0.1:{port}"])

        def settled(names):
            sets = {}
            for name in names:
                if procs[name].poll() is not None:
                    raise Fatal(f"{name} exited: " + tails([name]))
                hosts = owned(name)
                if hosts is None:
                    return None
                sets[name] = hosts
            if sum(len(s) for s in sets.values()) != HOSTS:
                return None
            return sets
        sets = wait_until(lambda: settled(MEMBERS), 25, 0.25)
        if not sets:
            raise Fatal("members did not share the inventory after 25 s: " + tails(MEMBERS))
        union = set().union(*sets.values())
        check("every host owned by exactly one member",
              sum(len(s) for s in sets.values()) == len(union) == HOSTS)
        check("union of owned sets is the inventory", union == inventory)
        shares = {m: len(s) / HOSTS for m, s in sets.items()}
        check("shares near 1/3", all(0.22 < s < 0.45 for s in shares.values()), str(shares))
        owner_of = {h: m for m, s in sets.items() for h in s}

        # Sessions: each host from its owner's source address only (once all are connected).
        def one_peer_each():
            attribution = clients()
            bad = [h for h, a in attribution.items()
                   if set(p for p, n in a["sessions_by_peer"].items() if n > 0) !=
                   {MEMBERS[owner_of[h]][1]}]
            return not bad, bad
        ok = wait_until(lambda: one_peer_each()[0], 15, 0.5)
        check("each host has sessions from its owner's source address only", bool(ok),
              str(one_peer_each()[1][:5]))

        status, _, body = get(MEMBERS["c1"][0], "/api/v1/cluster/failsafe")
        check("failsafe endpoint: store reachable", status == 200 and
              json.loads(body) == {"store_down": False}, f"{status} {body}")
        status, _, body = get(MEMBERS["c1"][0], "/metrics")
        for family in ("fleetps_cluster_lease_remaining_seconds", "fleetps_cluster_fenced",
                       "fleetps_cluster_coordination_requests_total",
                       "fleetps_cluster_handovers_total", "fleetps_cluster_probes_fenced_total"):
            check(f"/metrics has {family}", f"\n{family}{{" in body)
        status, _, _ = get(MEMBERS["c1"][0], "/-/ready")
        check("/-/ready of a participant is 200", status == 200, str(status))
        status, _, _ = get(MEMBERS["c3"][0], "/api/v1/cluster/drain", method="POST")
        check("drain endpoint 403 unless enabled", status == 403, str(status))

        # ---- kill -9 c3 -----------------------------------------------------------------------
        moved = sets["c3"]
        killed_at = time.monotonic()
        killed_unix_ms = time.time() * 1000
        procs["c3"].kill()
        procs["c3"].wait()
        survivors = ("c1", "c2")
        taken = wait_until(lambda: settled(survivors), TTL + 10, 0.1)
        took = time.monotonic() - killed_at
        print(f"FIGURE kill -9 c3 -> its hosts owned by survivors: {took:.2f} s", flush=True)
        check("c3's hosts owned by survivors within TTL + 1.5 s",
              bool(taken) and took <= TTL + 1.5 + SLACK, f"{took:.1f} s")

        def probed_by_survivors():
            attribution = clients()
            late = []
            for host in moved:
                scripts = [s for s in attribution[host]["scripts"]
                           if s["unix_ms"] > killed_unix_ms and s["peer"] != MEMBERS["c3"][1]]
                if len(scripts) < 2:  # the fingerprint, then a probe
                    late.append(host)
            return not late
        wait_until(probed_by_survivors, TTL + 12, 0.25)
        took = time.monotonic() - killed_at
        check("c3's hosts probed by survivors within TTL + 6 s",
              probed_by_survivors() and took <= TTL + 6 + SLACK, f"{took:.1f} s")
        attribution = clients()
        doubled = []
        for host, a in attribution.items():
            scripts = [s for s in a["scripts"] if s["unix_ms"] > killed_unix_ms]
            for before, after in zip(scripts, scripts[1:]):
                if (before["peer"] != after["peer"] and
                        after["unix_ms"] - before["unix_ms"] < INTERVAL * 1000):
                    doubled.append(host)
                    break
        check("no host probed from two source addresses within one interval", not doubled,
              str(doubled[:5]))

        # ---- SIGTERM c2 (drain) ---------------------------------------------------------------
        sets = settled(survivors)
        moving = sets["c2"] if sets else set()
        term_at = time.monotonic()
        term_unix_ms = time.time() * 1000
        procs["c2"].send_signal(signal.SIGTERM)
        try:
            procs["c2"].wait(timeout=DRAIN_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - term_at
        check("c2 exits within drain_timeout after SIGTERM",
              procs["c2"].poll() == 0 and took <= DRAIN_TIMEOUT + SLACK,
              f"{took:.1f} s, code {procs['c2'].poll()}")
        log = open(os.path.join(work, "c2.log")).read()
        check("c2 logged its drain", "cluster_drain_requested" in log)
        taken = wait_until(lambda: owned("c1") == inventory, 10, 0.2)
        check("c1 owns everything after c2 drained", bool(taken))
        # Probes continue: after one more interval every host has scripts from c1 after the
        # SIGTERM, and no gap longer than one interval + 2 s.
        time.sleep(INTERVAL + 1)
        attribution = clients()
        gaps = []
        for host in moving:
            times = [s["unix_ms"] for s in attribution[host]["scripts"]
                     if s["unix_ms"] >= term_unix_ms - INTERVAL * 1000]
            worst = max((b - a for a, b in zip(times, times[1:])), default=0)
            last = times[-1] if times else 0
            if worst > (INTERVAL + 2) * 1000 or time.time() * 1000 - last > (INTERVAL + 2) * 1000:
                gaps.append((host, worst))
        check("c2's hosts moved without a gap longer than one interval + 2 s", not gaps,
              str(gaps[:5]))
    except Fatal as e:
        check("setup", False, str(e))
    finally:
        if etcd is not None:
            etcd.close()
        code = run.finish()
    return code

if __name__ == "__main__":
    sys.exit(main())
