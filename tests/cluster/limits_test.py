#!/usr/bin/env python3
"""The cluster scenarios of scale-out.md §8.2 that need another configuration than
scenarios_test.py's, on one harness start (tests/cluster/harness.py): T9, T7c, T8.

    limits_test.py FLEETPS FLEETSIM [--promtool PATH] [--hosts 300] [--max-hosts 120]
                   [--only T9,T7c,T8]

Three collectors c1..c3 (source addresses 127.0.0.11..13) over fleetsim (300 hosts, interval
5 s), 3 etcd members, lease_ttl 5 s, fence_margin 1 s, each collector reaching etcd through its
own relay, and `cluster.failsafe: false`. In this order:

- T9 inventory mismatch: c3's file gets 10 extra hosts and c3 a SIGHUP: c3 says `viewer` in
  /api/v1/cluster (and c1 says so of it), /-/ready answers 503, fleetps_cluster_inventory_mismatch
  is 1 on c3 (0 on the others), c3 ends up owning nothing and sends no script once its view
  shows it owning nothing (fleetsim attribution), c1 and c2 own and probe every host, no host
  goes longer than one interval (+ slack) without a probe by someone. The file fixed + SIGHUP:
  c3 participates again, with about 1/3 of the hosts.
- T7c quorum lost with failsafe off: 2 of 3 etcd members killed (the leader and one more):
  every member logs cluster_fenced within TTL − fence_margin of its last good keepalive (read
  from fleetps_cluster_lease_remaining_seconds just before) and shows `fenced` ≤ TTL after it
  (+ the observer period); fleetps_cluster_failsafe 0 on all; no script from any collector
  between its fence and its next registration (attribution); etcd back: every host owned and
  probed again ≤ TTL + 5 s after quorum is back; no host doubled.
- T8 capacity: c1 and c3 restarted with `cluster.max_hosts` (120 of 300: the spec's 1,200 of
  3,000; cluster options are read at start: a SIGHUP of c1 with the new value first must log
  config_reload_partial naming cluster.max_hosts and leave c1 participating), then kill -9 c2: the survivors stop
  at max_hosts each, fleetps_cluster_orphaned_hosts on both = the rest, nobody probes the
  orphaned hosts, and `promtool test rules` over the shipped FleetpsClusterOrphanedHosts rule,
  fed the series scraped from the survivors, has it fire (and not with the series scraped
  before the kill).
Every check prints PASS/FAIL with what it saw; times are FIGURE lines.
"""
import argparse
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import yaml  # python3-yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (Fatal, Harness, doubled_by_attribution, doubled_by_views,  # noqa: E402
                     metric_value, self_state, wait_until)
from scenarios_test import (SLACK, SOURCE, Report, counts_of, no_doubles,  # noqa: E402
                            scripts_from)
from etcd_cluster import b64, call, free_port  # noqa: E402
from e2e_test import http  # noqa: E402  (harness.py put tests/e2e on the path)

RULES = os.path.join(SOURCE, "dashboards", "prometheus", "rules", "fleetps-cluster-alerts.yml")


# -- helpers --------------------------------------------------------------------------------

def log_events(h, name, event, since):
    """Unix times of `event` lines in member `name`'s log at or after `since`."""
    times = []
    try:
        with open(h.logs[name], errors="replace") as f:
            for line in f:
                if f"event={event} " not in line and not line.rstrip().endswith(f"event={event}"):
                    continue
                match = re.match(r"ts=(\S+)Z ", line)
                if not match:
                    continue
                t = datetime.datetime.fromisoformat(match.group(1)).replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                if t >= since:
                    times.append(t)
    except OSError:
        pass
    return times


def ready_status(h, name):
    try:
        return http(h.url(name) + "/-/ready", timeout=3)[0]
    except OSError as error:
        return str(error)


def metric(h, name, family, labels=""):
    return metric_value(h.metrics(name) or "", family, labels)


def self_entry(data):
    return next((m for m in (data or {}).get("members", []) if m.get("self")), None)


def max_gap_any(clients, hosts, since, until):
    """The longest time between two scripts (from anyone) to one of `hosts` in [since, until]
    (the window's ends count as scripts), and that host."""
    worst, worst_host = 0.0, None
    for entry in clients:
        if entry["name"] not in hosts:
            continue
        times = [since] + sorted(s["unix_ms"] / 1000 for s in entry["scripts"]
                                 if since <= s["unix_ms"] / 1000 <= until) + [until]
        gap = max(b - a for a, b in zip(times, times[1:]))
        if gap > worst:
            worst, worst_host = gap, entry["name"]
    return worst, worst_host


def no_doubles_shared(report, h, what, since, views_since=None):
    """no_doubles, but the views check only over answers from members that hold the shared
    inventory: a member with another inventory counts its extra hosts in everyone's share."""
    clients = h.attribution()
    doubled = doubled_by_attribution(clients, h.interval_s, int(since * 1000))
    report.check(f"{what}: no host probed by two collectors (fleetsim)", not doubled,
                 {k: v[-6:] for k, v in list(doubled.items())[:3]})
    answers = [(t, m, d) for t, m, d in h.observer.since(views_since or since)
               if d and d["hosts"] == h.hosts]
    bad = doubled_by_views(answers)
    report.check(f"{what}: members with the shared inventory agree on ownership at every "
                 "revision", not bad, bad[:3])
    return clients


def probed_since(h, t0):
    """Now, when every inventory host's owner row shows a good probe since t0; else None
    (fleetsim counts the fingerprints of a warm start as scripts, the rows do not)."""
    now = time.time()
    rows = {}
    for name in h.collectors:
        if h.running(name):
            rows.update(h.rows(name) or {})
    for host in h.inventory:
        age = rows.get(host, {}).get("last_good_probe_age_seconds")
        if age is None or now - age < t0:
            return None
    return now


def etcd_range_note(h, when):
    """NOTE: how long a full read of the cluster's prefix (what a member reads before it
    watches) takes on each etcd member, asked directly (not through a relay)."""
    prefix = f"/fleetps/{h.config['cluster']['name']}/"
    body = {"key": b64(prefix), "range_end": b64(prefix[:-1] + chr(ord(prefix[-1]) + 1))}
    took = []
    for i in range(len(h.etcd.members)):
        if not h.etcd.running(i):
            continue
        t0 = time.monotonic()
        try:
            answer = call(h.etcd.endpoint(i), "/v3/kv/range", body, timeout=10)
            took.append(f"m{i} {time.monotonic() - t0:.2f} s ({answer.get('count', 0)} keys)")
        except (OSError, ValueError) as error:
            took.append(f"m{i} failed after {time.monotonic() - t0:.2f} s: {error}")
    print(f"NOTE {when}: full prefix range " + "; ".join(took), flush=True)


def first_observed(h, since, member, predicate):
    """The time of the first observer answer of `member` since `since` that satisfies
    predicate(data), or None."""
    return next((t for t, m, d in h.observer.since(since, member) if d and predicate(d)), None)


# -- T9 -------------------------------------------------------------------------------------

def write_config(h, name, extra_hosts=0):
    """Rewrites member `name`'s config file (the path it runs with), with `extra_hosts` more
    hosts than the shared inventory: copies of the first ones under new names, on a port where
    nothing listens (on a fleetsim host's port, a viewer that still holds the bucket of an extra
    host during its handover would probe that fleetsim host as the extra one, which fleetsim's
    attribution cannot tell from a double)."""
    path = h.member_config(name)
    if extra_hosts:
        with open(path) as f:
            config = yaml.safe_load(f)
        extra = []
        closed = free_port()
        for host in config["hosts"][:extra_hosts]:
            copy = dict(host)
            copy["name"] = host["name"] + "-extra"
            copy["port"] = closed
            extra.append(copy)
        config["hosts"] += extra
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
    return path


def t9_inventory_mismatch(report, h, sets):
    victim, others = "c3", ["c1", "c2"]
    write_config(h, victim, extra_hosts=10)
    t_hup = time.time()
    os.kill(h.pid(victim), signal.SIGHUP)

    t_viewer = wait_until(lambda: first_observed(h, t_hup, victim,
                                                 lambda d: self_state(d) == "viewer"), 10, 0.1)
    if report.check("T9 c3 says viewer in /api/v1/cluster", t_viewer is not None,
                    [self_state(d) for _, _, d in h.observer.since(t_hup, victim)][-5:]):
        report.figure("T9 SIGHUP -> c3 viewer (observed)", t_viewer - t_hup)
    seen_by_c1 = wait_until(lambda: first_observed(
        h, t_hup, "c1", lambda d: any(m["name"] == victim and m["state"] == "viewer"
                                      for m in d["members"])), 5, 0.1)
    report.check("T9 c1 sees c3 as viewer", seen_by_c1 is not None,
                 (h.cluster("c1") or {}).get("members"))
    # c3 hands its hosts over (make-before-break): it owns nothing once the receivers claimed.
    t_switch = wait_until(lambda: first_observed(
        h, t_hup, victim, lambda d: (self_entry(d) or {}).get("owned_hosts", -1) == 0 and
        self_state(d) == "viewer"), 20, 0.1)
    report.check("T9 c3 owns nothing (its view)", t_switch is not None,
                 counts_of(h.cluster(victim)))
    if t_switch is None:
        raise Fatal("T9: c3 kept hosts as a viewer")
    report.figure("T9 SIGHUP -> c3 owns nothing (observed)", t_switch - t_hup)
    moved = wait_until(lambda: h.converged(others), 2 * h.interval_s + 5, 0.25)
    report.check("T9 c1 and c2 own and probe every host", bool(moved),
                 {n: len(s) for n, s in h.owned_sets().items()})
    if moved:
        report.figure("T9 SIGHUP -> c1 + c2 own and probe every host", time.time() - t_hup)
    report.check("T9 c3 runs no host (scope=local)", h.rows(victim) == {},
                 sorted(h.rows(victim) or {})[:5])
    status = ready_status(h, victim)
    report.check("T9 c3 /-/ready answers 503", status == 503, status)
    report.check("T9 the others are ready (200)",
                 all(ready_status(h, n) == 200 for n in others),
                 {n: ready_status(h, n) for n in others})
    mismatch = {n: metric(h, n, "fleetps_cluster_inventory_mismatch") for n in h.collectors}
    report.check("T9 fleetps_cluster_inventory_mismatch 1 on c3, 0 on c1 and c2",
                 mismatch == {"c1": 0, "c2": 0, "c3": 1}, mismatch)
    # Let one more interval pass so that a viewer still probing would show.
    time.sleep(max(0.0, t_switch + h.interval_s + 0.5 - time.time()))
    t_end = time.time()
    # Attribution from the switch on: during the handover itself a receiver's warm fingerprint
    # between the sender's probes reads like a double to fleetsim when the window opens on the
    # sender's probes (as in scenarios_test.py's T6); the views at every revision cover it.
    clients = no_doubles_shared(report, h, "T9", t_switch, views_since=t_hup)
    late = scripts_from(clients, h.peer_of(victim), t_switch)
    report.check("T9 no script from c3's address once it owns nothing (fleetsim)", not late,
                 [(round(t - t_switch, 2), host) for t, host in late[:5]])
    gap, host = max_gap_any(clients, set(h.inventory), t_hup - h.interval_s, t_end - SLACK)
    report.figure("T9 longest probe gap of any host (from anyone)", gap)
    report.check("T9 the others keep working: no host's gap beyond one interval",
                 gap <= h.interval_s + SLACK, f"{gap:.2f} s on {host}")

    write_config(h, victim)  # the shared inventory again
    t_fix = time.time()
    os.kill(h.pid(victim), signal.SIGHUP)

    def back():
        sets = h.converged()
        return sets if sets and len(sets.get(victim, ())) / h.hosts > 0.22 else None
    again = wait_until(back, 30, 0.5)
    report.check("T9 fixed file + SIGHUP: c3 participates and owns hosts again", bool(again),
                 {n: len(s) for n, s in h.owned_sets().items()})
    if not again:
        raise Fatal("T9: c3 did not come back")
    report.figure("T9 fixed file + SIGHUP -> converged with c3", time.time() - t_fix)
    share = len(again[victim]) / h.hosts
    report.check("T9 c3 gets about 1/3 back", 0.22 < share < 0.45, f"{share:.3f}")
    report.check("T9 c3 participant, ready, mismatch 0",
                 self_state(h.cluster(victim)) == "participant" and
                 ready_status(h, victim) == 200 and
                 metric(h, victim, "fleetps_cluster_inventory_mismatch") == 0,
                 (self_state(h.cluster(victim)), ready_status(h, victim),
                  metric(h, victim, "fleetps_cluster_inventory_mismatch")))
    no_doubles_shared(report, h, "T9 back", t_fix)
    return again


# -- T7c ------------------------------------------------------------------------------------

class LeasePoller(threading.Thread):
    """Reads every member's fleetps_cluster_lease_remaining_seconds: the last good keepalive
    of a member is (time of the sample) + remaining − TTL, the latest such estimate."""

    def __init__(self, h):
        super().__init__(name="lease-poller", daemon=True)
        self.h = h
        self.last_ok = {}
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            for name in self.h.collectors:
                t0 = time.time()
                text = self.h.metrics(name, timeout=1.0)
                t = (t0 + time.time()) / 2
                remaining = metric_value(text or "", "fleetps_cluster_lease_remaining_seconds")
                if remaining and metric_value(text, "fleetps_cluster_fenced") == 0:
                    ok = t + remaining - self.h.ttl_s
                    self.last_ok[name] = max(self.last_ok.get(name, 0), ok)
            self.halt.wait(0.2)

    def stop(self):
        self.halt.set()
        self.join(5)


def t7c_quorum_loss_no_failsafe(report, h, sets):
    margin = 1.0  # the harness's fence_margin for TTL < 8 s
    poller = LeasePoller(h)
    poller.start()
    time.sleep(0.5)
    leader = h.etcd.leader()
    victims = [leader, (leader + 1) % 3] if leader is not None else [0, 1]
    t_kill = time.time()
    for i in victims:
        h.etcd.kill(i)
    names = list(h.collectors)

    def all_fenced():
        got = {n: log_events(h, n, "cluster_fenced", t_kill) for n in names}
        return got if all(got.values()) else None
    fenced_logs = wait_until(all_fenced, h.ttl_s + 3, 0.1)
    time.sleep(0.6)  # the observer's next pass
    poller.stop()
    report.check("T7c every member logs cluster_fenced", bool(fenced_logs),
                 {n: h.tail(n, 300) for n in names})
    if not fenced_logs:
        raise Fatal("T7c: not every member fenced")
    fence_at = {n: t[0] for n, t in fenced_logs.items()}
    for n in names:
        last_ok = poller.last_ok.get(n)
        observed = first_observed(h, t_kill, n, lambda d: self_state(d) == "fenced")
        report.figure(f"T7c quorum lost -> {n} fenced (log)", fence_at[n] - t_kill)
        if last_ok is None or observed is None:
            report.check(f"T7c {n}: last keepalive and fence observed", False,
                         f"last keepalive {last_ok}, observed fenced {observed}")
            continue
        report.figure(f"T7c {n} last good keepalive -> fenced (log)", fence_at[n] - last_ok)
        report.check(f"T7c {n} fenced by TTL - fence_margin after its last good keepalive (log)",
                     fence_at[n] - last_ok <= h.ttl_s - margin + 0.3,
                     f"{fence_at[n] - last_ok:.2f} s")
        report.check(f"T7c {n} shows fenced <= TTL after its last good keepalive (+ observer "
                     "period)", observed - last_ok <= h.ttl_s + h.observer.period,
                     f"{observed - last_ok:.2f} s")
    failsafe = {n: metric(h, n, "fleetps_cluster_failsafe") for n in names}
    fenced_metric = {n: metric(h, n, "fleetps_cluster_fenced") for n in names}
    report.check("T7c fleetps_cluster_failsafe 0 and fleetps_cluster_fenced 1 on every member",
                 set(failsafe.values()) == {0} and set(fenced_metric.values()) == {1},
                 f"failsafe {failsafe}, fenced {fenced_metric}")
    report.check("T7c fenced members run no host", all(h.rows(n) == {} for n in names),
                 {n: len(h.rows(n) or {}) for n in names})
    # One whole interval with everybody fenced: a member still probing would show.
    time.sleep(max(0.0, max(fence_at.values()) + h.interval_s - time.time()))

    t_restart = time.time()
    h.etcd.restart(victims[0])  # returns once the two members answer healthy: quorum
    t_quorum = time.time()
    h.etcd.restart(victims[1])
    report.figure("T7c etcd restart -> quorum back (healthy)", t_quorum - t_restart)
    etcd_range_note(h, "T7c quorum back")
    owned = wait_until(lambda: h.converged(probed=False), h.ttl_s + 10, 0.2)
    t_owned = time.time()
    etcd_range_note(h, f"T7c {t_owned - t_quorum:.1f} s after quorum")
    report.check("T7c etcd back: every host owned once", bool(owned),
                 {n: len(s) for n, s in h.owned_sets().items()})
    if owned:
        report.figure("T7c quorum back -> every host owned", t_owned - t_quorum)
        report.check("T7c every host owned <= TTL + 5 s after quorum is back",
                     t_owned - t_quorum <= h.ttl_s + 5, f"{t_owned - t_quorum:.2f} s")
    probed = wait_until(lambda: probed_since(h, t_quorum),
                        max(1.0, t_quorum + h.ttl_s + 5 - time.time()), 0.25)
    if report.check("T7c etcd back: every host had a good probe since (owners' rows)",
                    probed is not None, f"not within {time.time() - t_quorum:.1f} s of quorum"):
        report.figure("T7c quorum back -> every host probed again", probed - t_quorum)
        report.check("T7c every host probed <= TTL + 5 s after quorum is back",
                     probed - t_quorum <= h.ttl_s + 5, f"{probed - t_quorum:.2f} s")
    clients = h.attribution()
    # No script between a member's fence and its next registration.
    for n in names:
        registered = log_events(h, n, "cluster_registered", fence_at[n])
        until = registered[0] if registered else time.time()
        early = scripts_from(clients, h.peer_of(n), fence_at[n], until)
        report.check(f"T7c no script from {n} between its fence and its new registration",
                     not early and bool(registered),
                     f"registered {registered[:1]}; scripts " +
                     str([(round(t - fence_at[n], 2), host) for t, host in early[:5]]))
    no_doubles(report, h, "T7c", t_quorum)
    return wait_until(lambda: h.converged(), 2 * h.interval_s + 5, 0.25) or owned


# -- T8 -------------------------------------------------------------------------------------

def scraped_series(text, family, instance):
    """'family{labels...,instance="..."}' and the value from one /metrics text."""
    for line in (text or "").splitlines():
        if line.startswith(family + "{") or line.startswith(family + " "):
            head, _, value = line.rpartition(" ")
            labels = head[len(family):].strip("{}")
            labels = (labels + "," if labels else "") + f'instance="{instance}"'
            return f"{family}{{{labels}}}", float(value)
    return None, None


def promtool_fires(report, h, promtool, before, after):
    """`promtool test rules` with the series scraped before (no alert) and after (fires)."""
    with open(RULES) as f:
        rule = next(r for g in yaml.safe_load(f)["groups"] for r in g["rules"]
                    if r.get("alert") == "FleetpsClusterOrphanedHosts")

    def expected(value):
        def render(text):
            return (text.replace('{{ $value | printf "%.0f" }}', f"{value:.0f}")
                    .replace("{{ $labels.cluster }}", h.config["cluster"]["name"]))
        return {k: render(v) for k, v in rule["annotations"].items()}

    def case(series, alerts_at_3m):
        return {"interval": "1m",
                "input_series": [{"series": s, "values": f"{v:g}x5"} for s, v in series],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "FleetpsClusterOrphanedHosts",
                     "exp_alerts": []},  # pending: for 2m
                    {"eval_time": "3m", "alertname": "FleetpsClusterOrphanedHosts",
                     "exp_alerts": alerts_at_3m}]}
    peak = max(v for _, v in after)
    test = {"rule_files": [RULES], "evaluation_interval": "1m",
            "tests": [case(before, []),
                      case(after, [{"exp_labels": {"severity": "critical",
                                                   "cluster": h.config["cluster"]["name"]},
                                    "exp_annotations": expected(peak)}])]}
    path = os.path.join(h.work, "orphaned_rule_test.yml")
    with open(path, "w") as f:
        yaml.safe_dump(test, f, sort_keys=False)
    print("NOTE T8 promtool input: " + "; ".join(f"{s} {v:g}" for s, v in before + after),
          flush=True)
    done = subprocess.run([promtool, "test", "rules", path], capture_output=True, text=True,
                          timeout=60)
    report.check("T8 promtool: FleetpsClusterOrphanedHosts fires on the survivors' scraped "
                 "series (and not on those before the kill)", done.returncode == 0,
                 (done.stdout + done.stderr)[-1500:])


def t8_capacity(report, h, sets, max_hosts, promtool):
    survivors, victim = ["c1", "c3"], "c2"
    # cluster.* options are read at start: a reload says so and keeps the running values ...
    h.config["cluster"]["max_hosts"] = max_hosts
    h.member_config("c1")
    os.kill(h.pid("c1"), signal.SIGHUP)
    said = wait_until(lambda: re.search(r"event=config_reload_partial .*cluster\.max_hosts",
                                        h.tail("c1", 20000)), 10, 0.1)
    report.check("T8 a reload of c1 with max_hosts names it as waiting for a restart",
                 bool(said), h.tail("c1", 600))
    report.check("T8 c1 keeps running and participating after that reload",
                 h.running("c1") and self_state(h.cluster("c1")) == "participant",
                 h.cluster("c1"))
    # ... so restart the survivors-to-be with the cap.
    t_restart = time.time()
    for n in survivors:
        h.kill(n)
    for n in survivors:
        h.start_member(n)
    sets = wait_until(lambda: h.converged(), h.ttl_s + 15, 0.25)
    if not report.check("T8 c1 and c3 restarted with max_hosts: converged, 0 orphaned",
                        bool(sets), {n: len(s) for n, s in h.owned_sets().items()}):
        raise Fatal("T8: no convergence after the restart")
    report.figure("T8 restart of c1 and c3 -> converged", time.time() - t_restart)
    over = {n: len(sets[n]) for n in survivors if len(sets[n]) > max_hosts}
    if over:
        raise Fatal(f"T8 needs start shares <= max_hosts {max_hosts}: {over}")
    before = [scraped_series(h.metrics(n), "fleetps_cluster_orphaned_hosts", h.url(n)[7:])
              for n in survivors]

    t_kill = time.time()
    h.kill(victim)

    def capped():
        got = {n: (h.cluster(n) or {}) for n in survivors}
        owned = {n: (self_entry(d) or {}).get("owned_hosts") for n, d in got.items()}
        return owned if all(v == max_hosts for v in owned.values()) else None
    owned = wait_until(capped, h.ttl_s + 6, 0.2)
    t_capped = time.time()
    seen = {n: counts_of(h.cluster(n)) for n in survivors}
    report.check(f"T8 kill -9 c2: survivors own max_hosts ({max_hosts}) each", bool(owned),
                 seen)
    if not owned:
        raise Fatal("T8: survivors did not reach max_hosts")
    report.figure("T8 kill -9 c2 -> survivors at max_hosts (observed)", t_capped - t_kill)
    time.sleep(2)  # they stop there: still max_hosts a while later
    local = {n: len(h.rows(n) or {}) for n in survivors}
    report.check("T8 survivors stay at max_hosts (scope=local rows)",
                 local == {n: max_hosts for n in survivors}, local)
    rest = h.hosts - sum(local.values())
    orphaned = {n: metric(h, n, "fleetps_cluster_orphaned_hosts") for n in survivors}
    desired = {n: metric(h, n, "fleetps_cluster_desired_hosts") for n in survivors}
    report.check(f"T8 fleetps_cluster_orphaned_hosts = the rest ({rest}) on both survivors",
                 rest > 0 and orphaned == {n: rest for n in survivors}, orphaned)
    report.check("T8 /api/v1/cluster orphaned_hosts = the rest",
                 all((h.cluster(n) or {}).get("orphaned_hosts") == rest for n in survivors),
                 {n: (h.cluster(n) or {}).get("orphaned_hosts") for n in survivors})
    report.check("T8 survivors desire more than max_hosts", all(
        (desired[n] or 0) > max_hosts for n in survivors), desired)
    # Nobody probes the orphaned hosts; the survivors probe only what they own.
    owned_now = {n: set(h.rows(n) or {}) for n in survivors}
    clients = h.attribution()
    t_from = t_capped + 1
    wrong = [(n, host) for n in survivors for _, host in
             scripts_from(clients, h.peer_of(n), t_from) if host not in owned_now[n]]
    report.check("T8 no script to a host beyond a survivor's cap", not wrong, wrong[:5])
    no_doubles(report, h, "T8", t_kill)
    after = [scraped_series(h.metrics(n), "fleetps_cluster_orphaned_hosts", h.url(n)[7:])
             for n in survivors]
    if not all(s for s, _ in before + after):
        report.check("T8 fleetps_cluster_orphaned_hosts scraped from both survivors", False,
                     before + after)
        return
    if not promtool:
        report.check("T8 promtool found", False, "no promtool on PATH and no --promtool")
        return
    promtool_fires(report, h, promtool, before, after)


# -- main -----------------------------------------------------------------------------------

def run(report, h, args):
    t = time.monotonic()
    sets = h.wait_converged(40)
    report.figure("start -> every host owned once and probed", time.monotonic() - t)
    steps = [("T9", t9_inventory_mismatch), ("T7c", t7c_quorum_loss_no_failsafe),
             ("T8", lambda r, h, s: t8_capacity(r, h, s, args.max_hosts, args.promtool))]
    wanted = set(filter(None, args.only.split(",")))
    steps = [(name, step) for name, step in steps if not wanted or name in wanted]
    for name, step in steps:
        print(f"---- {name}", flush=True)
        t = time.monotonic()
        again = step(report, h, sets)
        if name != steps[-1][0]:
            sets = again or h.wait_converged(30)
        print(f"---- {name} done in {time.monotonic() - t:.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("fleetps")
    parser.add_argument("fleetsim")
    parser.add_argument("--promtool", default=shutil.which("promtool"))
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--max-hosts", type=int, default=120)
    parser.add_argument("--only", default="", help="comma-separated subset of T9,T7c,T8")
    args = parser.parse_args()
    report = Report()
    try:
        with Harness(args.fleetps, args.fleetsim, hosts=args.hosts,
                     cluster={"failsafe": False}) as h:
            try:
                run(report, h, args)
            except Fatal as error:
                report.check("scenarios ran to the end", False, str(error))
            h.ok = not report.failures
            if report.failures:
                for name in h.collectors:
                    print(f"--- {name} log tail\n{h.tail(name, 1500)}")
    except Fatal as error:  # the harness did not start
        report.check("harness started", False, str(error))
    print(f"{'FAILED: ' + ', '.join(report.failures) if report.failures else 'OK'} "
          f"({time.monotonic() - report.t0:.1f} s)")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
