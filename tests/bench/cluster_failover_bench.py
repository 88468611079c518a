#!/usr/bin/env python3
"""Cluster failover, join churn and etcd load at 3 collectors × 3,000 hosts (issue 20, §8; not CI).

    tests/bench/cluster_failover_bench.py FLEETPS FLEETSIM [--hosts-per-member 3000]
        [--interval 15] [--ttl 10] [--window 60] [--write tests/bench/RESULTS.md]

Runs tests/cluster/harness.py with etcd membership: 3 etcd members, fleetsim with
3 × hosts-per-member hosts, collectors c1..c3 (each through its own etcd relay), then:
1. start → every host owned once and probed (time);
2. steady state over --window seconds: etcd requests/s (the sum over the members of
   grpc_server_handled_total, which counts the JSON gateway's calls too), etcd CPU (cores, the
   3 members together) and RSS (each), bytes through the relays;
3. kill -9 c2 → (a) its hosts all owned by c1 and c3 (observer, /api/v1/cluster every 0.25 s),
   (b) each of them probed by a survivor (fleetsim attribution: the first script from c1's or
   c3's address after the kill, per host; the figure is the slowest host);
4. c2 starts again (2 → 3), then c4 joins (3 → 4): per join the fraction of hosts that moved
   and the reconnects of hosts that did not move (session epoch changed on the same member,
   or fleetsim saw a second source address for them).
Prints the figures and, with --write, appends a section to RESULTS.md with the machine, date,
load average and the anchors of scale-out.md §0.

The fleetsim block is the first free one in 20000-32700, below the kernel's ephemeral range
(9,000 hosts do not fit the tests' blocks; run it alone, it overlaps them); everything else on
ports chosen free at run time; loopback only.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from harness import Fatal, Harness, wait_until  # noqa: E402


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def etcd_requests(h):
    """Sum of grpc_server_handled_total over the running etcd members."""
    total = 0.0
    for i in range(len(h.etcd.members)):
        if not h.etcd.running(i):
            continue
        try:
            import urllib.request
            with urllib.request.urlopen(h.etcd.endpoint(i) + "/metrics", timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("grpc_server_handled_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def epochs(h, names):
    out = {}
    for name in names:
        rows = h.rows(name, timeout=30) or {}
        for host, row in rows.items():
            out[host] = (name, row.get("epoch"))
    return out


def join_churn(h, name, before_sets, timeout):
    """Starts (or restarts) `name`, waits for convergence; (fraction moved, reconnects of
    unmoved hosts, seconds to converge)."""
    names_before = list(before_sets)
    before = epochs(h, names_before)
    t = time.time()
    if name in h.collectors:
        h.start_member(name)
    else:
        h.add_member(name)
    # Converged *with* the newcomer: right after the start the old members still partition the
    # inventory on their own, which is not the end of the join.
    after_sets = wait_until(lambda: (lambda s: s if s and s.get(name) else None)(h.converged()),
                            timeout, 0.25)
    if not after_sets:
        raise Fatal(f"{name} joined but the cluster did not converge with it within {timeout} s")
    took = time.time() - t
    after = epochs(h, after_sets)
    moved = [host for host, (m, _) in after.items() if before.get(host, (None,))[0] != m]
    unmoved = [host for host in after if host not in moved]
    reconnected = [host for host in unmoved if after[host][1] != before[host][1]]
    # fleetsim: a second source address for an unmoved host since the join began
    clients = {e["name"]: e for e in h.attribution()}
    foreign = [host for host in unmoved
               if {s["peer"] for s in clients[host]["scripts"] if s["unix_ms"] >= t * 1000} -
               {h.peer_of(after[host][0])}]
    return len(moved) / h.hosts, len(set(reconnected) | set(foreign)), took


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("fleetps")
    parser.add_argument("fleetsim")
    parser.add_argument("--hosts-per-member", type=int, default=3000)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--ttl", type=int, default=10)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--dialects", default="linux-procps=100",
                        help="fleetsim's mix, e.g. linux-procps=70,busybox=10,aix=10,solaris=10")
    parser.add_argument("--write")
    args = parser.parse_args()
    hosts = 3 * args.hosts_per_member

    class Figures(dict):
        """Prints each figure as it is measured: a run that fails later keeps what it had."""
        def __setitem__(self, what, value):
            print(f"{what}: {value:.3f}" if isinstance(value, float) else f"{what}: {value}",
                  flush=True)
            super().__setitem__(what, value)

    figures = Figures()
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    with Harness(args.fleetps, args.fleetsim, hosts=hosts, interval_s=args.interval,
                 ttl_s=args.ttl, port_range=(20000, 32700), threads=2,
                 cluster={"etcd": {"request_timeout": "2s"}},
                 sim_args=["--dialects", args.dialects]) as h:
        t = time.time()
        sets = h.wait_converged(300)
        figures["start: all owned once and probed (s)"] = time.time() - t

        # Steady state: etcd load.
        pids = [h.etcd.pid(i) for i in range(3)]
        cpu0, req0, bytes0 = sum(map(proc_cpu, pids)), etcd_requests(h), \
            sum(r.bytes for r in h.relays.values())
        time.sleep(args.window)
        figures["etcd requests/s (3 members, steady)"] = (etcd_requests(h) - req0) / args.window
        figures["etcd CPU, 3 members together (cores)"] = \
            (sum(map(proc_cpu, pids)) - cpu0) / args.window
        figures["etcd RSS per member (MB, max)"] = max(map(proc_rss_mb, pids))
        figures["relay bytes/s (all collectors)"] = \
            (sum(r.bytes for r in h.relays.values()) - bytes0) / args.window

        # Failover: kill -9 c2.
        victim, survivors = "c2", ["c1", "c3"]
        moved = sets[victim]
        h.t_event = t_kill = time.time()
        h.kill(victim)

        def claimed():
            for t_seen, m, d in h.observer.since(t_kill):
                if m in survivors and d and sum(x["owned_hosts"] for x in d["members"]
                                                if x["name"] in survivors) == hosts:
                    return t_seen
            return None
        t_claimed = wait_until(claimed, args.ttl + 60, 0.1)
        if t_claimed is None:
            raise Fatal("the survivors did not claim c2's hosts within TTL + 60 s")
        figures["failover: kill -9 -> all claimed (s)"] = t_claimed - t_kill
        h.wait_converged(args.ttl + 4 * args.interval + 60, survivors)
        peers = {h.peer_of(s) for s in survivors}
        first = {}
        for entry in h.attribution():
            if entry["name"] in moved:
                times = [s["unix_ms"] / 1000 for s in entry["scripts"]
                         if s["peer"] in peers and s["unix_ms"] / 1000 >= t_kill]
                if times:
                    first[entry["name"]] = min(times)
        if len(first) != len(moved):
            raise Fatal(f"{len(moved) - len(first)} of c2's hosts never probed by a survivor")
        figures["failover: kill -9 -> all probed (s)"] = max(first.values()) - t_kill
        figures["failover: hosts moved"] = len(moved)

        # Joins: c2 again (2 -> 3), then c4 (3 -> 4).
        sets = h.converged(survivors)
        fraction, reconnects, took = join_churn(h, victim, sets, 180)
        figures["join 2->3: fraction moved"] = fraction
        figures["join 2->3: reconnects of unmoved hosts"] = reconnects
        figures["join 2->3: converged (s)"] = took
        sets = h.converged()
        fraction, reconnects, took = join_churn(h, "c4", sets, 180)
        figures["join 3->4: fraction moved (ideal 0.25)"] = fraction
        figures["join 3->4: reconnects of unmoved hosts"] = reconnects
        figures["join 3->4: converged (s)"] = took
        h.ok = True
    load_after = os.getloadavg()
    if args.write:
        write_section(args, figures, started, load_before, load_after, hosts)
    return 0


def write_section(args, figures, started, load_before, load_after, hosts):
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    rows = "\n".join(f"| {what} | {value:.2f} |" if isinstance(value, float)
                     else f"| {what} | {value} |" for what, value in figures.items())
    section = f"""
## Cluster: failover, join churn and etcd load (issue 20, recorded {started:%Y-%m-%d %H:%M} UTC)

`tests/bench/cluster_failover_bench.py` at commit {commit}: 3 collectors × {args.hosts_per_member}
hosts ({hosts} fleetsim hosts, {args.dialects}), interval {args.interval} s, lease_ttl {args.ttl} s,
3 etcd members (Debian's etcd, tmpfs), each collector through its own relay. Machine:
{os.cpu_count()} × {cpu}, {platform.release()}; load average {load_before[0]:.1f} before,
{load_after[0]:.1f} after (other engineers' builds share the machine).

| figure | value |
|---|---|
{rows}

Anchors (scale-out.md §0), time for a dead worker's work to move: Grafana Alloy ≥ 20 s of
suspicion then the next scrape; Mimir ruler ring ~1 min; Patroni default 30 s TTL; fleetps' target
with TTL {args.ttl} s: claimed ≤ TTL + 1.5 s = {args.ttl + 1.5:.1f} s, probed ≤ TTL + 6 s =
{args.ttl + 6} s. Moved fraction on 3 → 4: kube-state-metrics' modulo ≈ 0.75, HRW ideal 0.25.
"""
    with open(args.write, "a") as f:
        f.write(section)


if __name__ == "__main__":
    sys.exit(main())
