#!/usr/bin/env python3
"""Static membership with three real collectors over fleetsim (issue 20, scale-out.md §10 step 1).

    static_cluster_test.py FLEETPS FLEETSIM

300 fleetsim hosts; c1, c2 and c3 run `fleetps run --cluster-member cN` with one identical
inventory listing the three in cluster.static.members. Checks:
- each member probes only its hosts: the three owned sets are disjoint, their union is the
  inventory, each share is near 1/3;
- /sd is identical from every member, each host's __meta_fleetps_collector is the member that
  probes it; /sd?collector=, ?shard=&of= and bad parameters;
- /probe?target=HOST on a non-owner is forwarded to the owner (200, X-Fleetps-Owner); the same
  request already marked forwarded is refused (421), not forwarded again;
- /api/v1/cluster, `fleetps cluster status` and `fleetps cluster owner` (an unknown host is an
  error), fleetps_cluster_owned_hosts on /metrics;
- c3 removed from the file and SIGHUP to c1 and c2: c3's hosts move to them and get probed, the
  hosts c1 and c2 already had keep their sessions (same session epoch), cluster_member_left is
  logged.
- zones (scale-out.md §6.3): c3 stopped, the hosts labelled dc=east, dc=west, dc=north or not at
  all, cluster.zone_label dc, c1 in zone east and c2 in west, SIGHUP: each member owns exactly
  its zone's hosts and fleetsim sees their sessions and scripts only from that member's source
  address (GET /hosts/all/clients); north (no member) and zone-less hosts (no zone-less member)
  are orphaned: counted by /api/v1/cluster and fleetps_cluster_orphaned_hosts, without owner in
  /sd and `cluster?hosts=`, probed by nobody; /probe of a west host via c1 goes to c2. ~12 s.
Each member has its own source address (127.0.0.11-13; its config file differs from the others
only there). Ports 32000-32999; loopback only; no root; about 35 s.
"""
import json
import os
import signal
import subprocess
import sys
import time

import yaml  # python3-yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e_test import Fatal, block_is_free, wait_until  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_run import ClusterRun, get, local_hosts  # noqa: E402

HOSTS = 300
SIM_BASE = 32000  # fleetsim 32000..32299
MEMBER_PORTS = {"c1": 32501, "c2": 32502, "c3": 32503}
SOURCES = {"c1": "127.0.0.11", "c2": "127.0.0.12", "c3": "127.0.0.13"}
SIM_CONTROL = 32508


def clients_of_sim():
    """{host: fleetsim's /hosts/all/clients entry}."""
    status, _, body = get(SIM_CONTROL, "/hosts/all/clients", timeout=30)
    if status != 200:
        raise Fatal(f"fleetsim /hosts/all/clients: {status} {body[:200]}")
    return {e["name"]: e for e in json.loads(body)}


def check_zones(fleetps, config, write_configs, inventory, run, owned):
    """The zones phase (see the module doc); c1 and c2 run, c3 is stopped here."""
    check, procs = run.check, run.procs
    t0 = time.monotonic()
    procs["c3"].terminate()
    procs["c3"].wait(timeout=10)
    zone_of = {}
    for i, host in enumerate(sorted(inventory)):
        zone_of[host] = ["east", "west", "north" if i % 6 == 2 else None][i % 3]
    for host in config["hosts"]:
        if zone_of[host["name"]]:
            host.setdefault("labels", {})["dc"] = zone_of[host["name"]]
    config["cluster"]["zone_label"] = "dc"
    member_zone = {"c1": "east", "c2": "west"}
    for m in config["cluster"]["static"]["members"]:
        m["zone"] = member_zone[m["name"]]
    write_configs()
    for m in member_zone:
        procs[m].send_signal(signal.SIGHUP)
    want = {m: {h for h, z in zone_of.items() if z == zone} for m, zone in member_zone.items()}
    orphans = {h for h, z in zone_of.items() if z not in member_zone.values()}
    seen = {}

    def zoned():
        for m in member_zone:
            seen[m] = owned(m)
        return all(seen[m] is not None and set(seen[m]) == want[m] and
                   all(r["state"] == "ready" for r in seen[m].values()) for m in member_zone)
    ok = wait_until(zoned, 15, 0.25)
    check("zones: each member owns exactly its zone's hosts, all probed", bool(ok),
          "; ".join(f"{m}: want {len(want[m])} {member_zone[m]} hosts, owns "
                    f"{len(seen.get(m) or {})} ({len(set(seen.get(m) or {}) - want[m])} "
                    f"of other zones), ready "
                    f"{sum(r['state'] == 'ready' for r in (seen.get(m) or {}).values())}"
                    for m in member_zone))
    if not ok:
        return
    # fleetsim: every session to a host comes from its owner's source address; none to orphans.
    peer_of = {h: SOURCES[m] for m, hosts in want.items() for h in hosts}
    wrong = []

    def sessions_right():
        wrong[:] = [(h, sorted(e["sessions_by_peer"])) for h, e in clients_of_sim().items()
                    if set(e["sessions_by_peer"]) != ({peer_of[h]} if h in peer_of else set())]
        return not wrong
    check("zones: sessions only from the owner's source address, none to orphaned hosts",
          wait_until(sessions_right, 10, 0.5), f"{len(wrong)} hosts wrong, e.g. {wrong[:4]}")
    # One interval later: every owned host probed by its owner only, no orphan probed.
    since_ms = int(time.time() * 1000)
    time.sleep(5.5)
    bad = []
    for host, entry in clients_of_sim().items():
        peers = [s["peer"] for s in entry["scripts"] if s["unix_ms"] > since_ms]
        if (host in peer_of and (not peers or set(peers) != {peer_of[host]})) or \
                (host not in peer_of and peers):
            bad.append((host, zone_of[host], sorted(set(peers))))
    check("zones: in one interval each owned host's scripts came from its owner only, none "
          "to orphaned hosts", not bad, f"{len(bad)} hosts, e.g. {bad[:4]}")
    # Every "who owns it" answer agrees.
    east, west, north = (sorted(h for h in inventory if zone_of[h] == z)[0]
                         for z in ("east", "west", "north"))
    plain = sorted(h for h in inventory if zone_of[h] is None)[0]
    status, _, body = get(32502, f"/api/v1/cluster?hosts={east},{west},{north},{plain}")
    data = json.loads(body)["data"] if status == 200 else {}
    owners = [o["owner"] for o in data.get("owners", [])]
    counts = {m["name"]: (m["zone"], m["owned_hosts"]) for m in data.get("members", [])}
    check("zones: /api/v1/cluster owners, counts and orphaned hosts",
          owners == ["c1", "c2", None, None] and data.get("orphaned_hosts") == len(orphans) and
          counts == {m: (member_zone[m], len(want[m])) for m in member_zone},
          f"status {status}: owners {owners}, orphaned {data.get('orphaned_hosts')} (want "
          f"{len(orphans)}), members {counts}")
    metrics = get(32501, "/metrics")[2]
    check("zones: fleetps_cluster_orphaned_hosts and owned_hosts",
          f'fleetps_cluster_orphaned_hosts{{cluster="e2e"}} {len(orphans)}' in metrics and
          f'fleetps_cluster_owned_hosts{{cluster="e2e"}} {len(want["c1"])}' in metrics,
          "\n".join(l for l in metrics.splitlines() if "orphaned_hosts" in l or
                    "owned_hosts" in l))
    sd = {g["targets"][0]: g["labels"].get("__meta_fleetps_collector")
          for g in json.loads(get(32501, "/sd")[2])}
    want_sd = {h: (f"127.0.0.1:{MEMBER_PORTS['c1']}" if zone_of[h] == "east" else
                   f"127.0.0.1:{MEMBER_PORTS['c2']}" if zone_of[h] == "west" else None)
               for h in inventory}
    sd_wrong = [(h, a) for h, a in sd.items() if a != want_sd.get(h, "absent")]
    check("zones: /sd owner per zone, none for orphaned hosts",
          set(sd) == inventory and not sd_wrong, f"{len(sd_wrong)} wrong, e.g. {sd_wrong[:3]}")
    only_c2 = {g["targets"][0] for g in json.loads(get(32501, "/sd?collector=c2")[2])}
    check("zones: /sd?collector=c2 is zone west", only_c2 == want["c2"],
          f"{len(only_c2)} hosts, {len(only_c2 - want['c2'])} not west")
    status, headers, _ = get(32501, f"/probe?target={west}")
    check("zones: /probe of a west host via c1 goes to c2",
          status == 200 and headers.get("X-Fleetps-Owner") == "c2", f"{status} {headers}")
    status, _, body = get(32501, "/api/v1/hosts?per_page=1000", timeout=5)
    data = json.loads(body)["data"] if status == 200 else {}
    fleet = {h["host"]: h.get("collector") for h in data.get("hosts", [])}
    want_fleet = {h: m for m, hosts in want.items() for h in hosts}
    check("zones: fan-out lists each zone's hosts with their owner and counts the orphans",
          {h: c for h, c in fleet.items() if h in want_fleet} == want_fleet and
          data.get("unowned", {}).get("hosts") == len(orphans) and
          data["unowned"].get("reason") == "unowned (no eligible member in its zone)",
          f"status {status}, {len(fleet)} hosts, unowned {data.get('unowned')}")
    print(f"zones phase: {time.monotonic() - t0:.1f} s", flush=True)


def main():
    fleetps, fleetsim = sys.argv[1], sys.argv[2]
    run = ClusterRun("fleetps-static-cluster-")
    procs, failures, check, start, work = run.procs, run.failures, run.check, run.start, run.work

    def owned(member):
        return local_hosts(MEMBER_PORTS[member])

    try:
        if not block_is_free(SIM_BASE, HOSTS) or not block_is_free(32500, 10):
            raise Fatal("ports 32000-32299 or 32500-32510 are in use")
        sim_dir, sim_log = run.start_fleetsim(fleetsim, HOSTS, SIM_BASE, SIM_CONTROL)
        run.wait_fleetsim(sim_log)

        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            config = yaml.safe_load(f)
        config["defaults"].update(interval="5s", probe_timeout="4s")
        members = [{"name": name, "advertise": f"http://127.0.0.1:{port}"}
                   for name, port in MEMBER_PORTS.items()]
        config["cluster"] = {"name": "e2e", "membership": "static",
                             "static": {"members": members}}
        config["collector"] = {"enable_reload_endpoint": False, "threads": 1}
        config_path = os.path.join(work, "fleet.yaml")

        def write_configs():
            """fleet.yaml, and cN.yaml: the same but cN's own collector.source_address."""
            with open(config_path, "w") as f:
                yaml.safe_dump(config, f)
            for name, source in SOURCES.items():
                own = json.loads(json.dumps(config))
                own["collector"]["source_address"] = source
                with open(os.path.join(work, name + ".yaml"), "w") as f:
                    yaml.safe_dump(own, f)
        write_configs()
        inventory = {h["name"] for h in config["hosts"]}

        # A member not in the list is refused with a clear message.
        bad = subprocess.run([fleetps, "run", "--config", config_path, "--cluster-member", "c9",
                              "--listen", "127.0.0.1:32509"],
                             capture_output=True, text=True, timeout=10)
        check("unknown member refused", bad.returncode == 1 and
              'cluster member \\"c9\\" is not in cluster.static.members' in bad.stderr, bad.stderr)

        logs = {}
        for name, port in MEMBER_PORTS.items():
            logs[name] = start(name, [fleetps, "run", "--config",
                                      os.path.join(work, name + ".yaml"),
                                      "--cluster-member", name, "--listen", f"127.0.0.1:{port}"])

        def all_ready(names):
            sets = {}
            for name in names:
                if procs[name].poll() is not None:
                    raise Fatal(f"{name} exited: " + open(logs[name]).read()[-3000:])
                hosts = owned(name)
                if hosts is None or not all(h["state"] == "ready" for h in hosts.values()):
                    return None
                sets[name] = hosts
            if sum(len(s) for s in sets.values()) != HOSTS:
                return None
            return sets
        sets = wait_until(lambda: all_ready(MEMBER_PORTS), 25, 0.25)
        if not sets:
            raise Fatal("members not ready after 25 s: " +
                        " | ".join(open(logs[n]).read()[-800:] for n in MEMBER_PORTS))

        names = {m: set(s) for m, s in sets.items()}
        union = set().union(*names.values())
        check("owned sets disjoint", sum(len(s) for s in names.values()) == len(union))
        check("union of owned sets is the inventory", union == inventory,
              f"{len(union)} of {len(inventory)}")
        shares = {m: len(s) / HOSTS for m, s in names.items()}
        check("shares near 1/3", all(0.22 < s < 0.45 for s in shares.values()), str(shares))
        owner_of = {h: m for m, s in names.items() for h in s}

        # Fan-out: any member answers for the whole fleet, naming each host's collector.
        for member in MEMBER_PORTS:
            status, _, body = get(MEMBER_PORTS[member], "/api/v1/hosts?per_page=1000", timeout=5)
            data = json.loads(body)["data"] if status == 200 else {}
            fleet = {h["host"]: h.get("collector") for h in data.get("hosts", [])}
            check(f"/api/v1/hosts through {member} lists the fleet with owners",
                  fleet == owner_of and not data.get("incomplete"),
                  f"status {status}, {len(fleet)} hosts, incomplete={data.get('incomplete')}")

        # /sd: the same from every member, owners right.
        sds = {m: json.loads(get(p, "/sd")[2]) for m, p in MEMBER_PORTS.items()}
        check("/sd identical from every member", sds["c1"] == sds["c2"] == sds["c3"])
        sd_owner = {g["targets"][0]: g["labels"].get("__meta_fleetps_collector") for g in sds["c1"]}
        check("/sd lists the whole inventory", set(sd_owner) == inventory)
        wrong = [h for h, a in sd_owner.items()
                 if a != f"127.0.0.1:{MEMBER_PORTS[owner_of.get(h, 'c1')]}"]
        check("/sd owner URLs", not wrong, f"{len(wrong)} wrong, e.g. {wrong[:3]}")
        only_c2 = {g["targets"][0] for g in json.loads(get(32501, "/sd?collector=c2")[2])}
        check("/sd?collector=c2", only_c2 == names["c2"])
        shards = [{g["targets"][0] for g in json.loads(get(32501, f"/sd?shard={i}&of=3")[2])}
                  for i in range(3)]
        check("/sd shards partition the inventory",
              set().union(*shards) == inventory and sum(map(len, shards)) == HOSTS)
        members_sd = json.loads(get(32502, "/sd?view=members")[2])
        check("/sd?view=members", sorted(g["targets"][0] for g in members_sd) ==
              [f"127.0.0.1:{p}" for p in sorted(MEMBER_PORTS.values())])
        for query, needle in [("/sd?collector=c9", "unknown collector"),
                              ("/sd?shard=3&of=3", "shard takes an integer in 0..2"),
                              ("/sd?shard=1", "shard and of go together"),
                              ("/sd?colector=c1", "colector")]:
            status, _, body = get(32501, query)
            check(f"{query} is 400", status == 400 and needle in body, f"{status} {body}")

        # /probe forwarding, once both hosts have a first probe (5 s interval).
        remote = sorted(names["c2"])[0]
        local = sorted(names["c1"])[0]
        wait_until(lambda: get(32502, f"/probe?target={remote}")[0] == 200 and
                   get(32501, f"/probe?target={local}")[0] == 200, 12, 0.25)
        status, headers, body = get(32501, f"/probe?target={remote}")
        check("/probe forwarded to the owner", status == 200 and
              headers.get("X-Fleetps-Owner") == "c2" and "namedprocess_namegroup" in body,
              f"{status} {headers} {body[:200]}")
        status, _, body = get(32501, f"/probe?target={remote}",
                              headers={"X-Fleetps-Forwarded": "1"})
        check("forwarded /probe not forwarded again", status == 421 and "owned by c2" in body,
              f"{status} {body}")
        status, headers, _ = get(32501, f"/probe?target={local}")
        check("/probe of an owned host answered here", status == 200 and
              "X-Fleetps-Owner" not in headers)
        check("/probe of an unknown host 404", get(32501, "/probe?target=nosuch")[0] == 404)

        # /api/v1/cluster and the CLI.
        cluster = json.loads(get(32503, "/api/v1/cluster")[2])["data"]
        counts = {m["name"]: m["owned_hosts"] for m in cluster["members"]}
        check("/api/v1/cluster counts", cluster["self"] == "c3" and
              counts == {m: len(s) for m, s in names.items()} and cluster["orphaned_hosts"] == 0,
              str(cluster)[:400])
        status_out = subprocess.run([fleetps, "cluster", "status", "--server",
                                     "http://127.0.0.1:32502"], capture_output=True, text=True,
                                    timeout=10)
        lines = status_out.stdout.splitlines()
        check("fleetps cluster status", status_out.returncode == 0 and
              lines[0].startswith("cluster e2e (static): 3 members, 300 hosts, 0 without owner") and
              any(line.split()[:3] == ["c2", "*", "participant"] and
                  line.split()[3] == str(len(names["c2"])) for line in lines),
              status_out.stdout + status_out.stderr)
        pick = [sorted(names["c1"])[1], sorted(names["c3"])[1]]
        owner_out = subprocess.run([fleetps, "cluster", "owner", *pick, "--server",
                                    "http://127.0.0.1:32501"], capture_output=True, text=True,
                                   timeout=10)
        rows = [line.split() for line in owner_out.stdout.splitlines()[1:]]
        check("fleetps cluster owner", owner_out.returncode == 0 and
              [(r[0], r[2], r[3]) for r in rows] ==
              [(pick[0], "c1", "http://127.0.0.1:32501"), (pick[1], "c3", "http://127.0.0.1:32503")],
              owner_out.stdout + owner_out.stderr)
        unknown = subprocess.run([fleetps, "cluster", "owner", "nosuch", "--server",
                                  "http://127.0.0.1:32501"], capture_output=True, text=True,
                                 timeout=10)
        check("fleetps cluster owner: unknown host", unknown.returncode != 0 and
              'unknown host "nosuch"' in unknown.stderr, unknown.stdout + unknown.stderr)
        metrics = get(32501, "/metrics")[2]
        check("fleetps_cluster_owned_hosts", f'fleetps_cluster_owned_hosts{{cluster="e2e"}} '
              f'{len(names["c1"])}' in metrics and
              'fleetps_cluster_members{cluster="e2e",state="participant"} 3' in metrics)

        # c3 leaves: the file without it, SIGHUP to the survivors.
        before = {m: owned(m) for m in ("c1", "c2")}
        config["cluster"]["static"]["members"] = [m for m in members if m["name"] != "c3"]
        write_configs()
        for m in ("c1", "c2"):
            procs[m].send_signal(signal.SIGHUP)
        sets = wait_until(lambda: all_ready(("c1", "c2")), 20, 0.25)
        check("c3's hosts moved to the survivors and are probed", bool(sets))
        if sets:
            after_names = {m: set(s) for m, s in sets.items()}
            check("after the leave: union is the inventory",
                  after_names["c1"] | after_names["c2"] == inventory)
            kept = [h for m in ("c1", "c2") for h in before[m]
                    if h in sets[m] and sets[m][h]["epoch"] == before[m][h]["epoch"]]
            check("unmoved hosts keep their sessions",
                  len(kept) == len(before["c1"]) + len(before["c2"]),
                  f"{len(kept)} of {len(before['c1']) + len(before['c2'])}")
            moved = (after_names["c1"] | after_names["c2"]) - set(before["c1"]) - set(before["c2"])
            check("exactly c3's hosts moved", moved == names["c3"])
        check("cluster_member_left logged",
              "event=cluster_member_left" in open(logs["c1"]).read() and
              "member=c3" in open(logs["c1"]).read())
        check_zones(fleetps, config, write_configs, inventory, run, owned)
    except Fatal as e:
        print(f"FATAL {e}", flush=True)
        failures.append("fatal")
    finally:
        code = run.finish()
    return code


if __name__ == "__main__":
    sys.exit(main())
