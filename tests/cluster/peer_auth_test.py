#!/usr/bin/env python3
"""Members of a static cluster behind basic auth (collector.web_config_file) reach each other.

    peer_auth_test.py FLEETPS FLEETSIM

8 fleetsim hosts, three `fleetps run` members of one static cluster, each with its own config
file (same hosts and member list):
- c1: basic auth on its port; cluster.peer_http with the right user and a WRONG password;
- c2: basic auth on its port; cluster.peer_http right (the owner the forwards go to);
- c3: no web config (an open port); cluster.peer_http right.
Checks:
- check-config and `fleetps run` refuse a clustered config whose web config turns basic auth on
  without cluster.peer_http.basic_auth, with file:line:col;
- /probe on c1 for a host c2 owns, with the caller's valid credentials: 200 from c2 (c1's own
  peer password is wrong, so this proves the caller's Authorization header was passed on);
  without credentials: 401 (c1's own gate);
- /probe on c3 (open port) without credentials: 200 from c2, so the forward carried c3's own
  credential (cluster.peer_http, the same options the failsafe question uses); with a caller's
  bad credentials: c2's 401 relayed (the caller's header wins over peer_http);
- a SIGHUP that drops cluster.peer_http from c2's file is refused (config_reload_failed with
  the diagnostic) and c2 keeps serving;
- etcd mode, the failsafe question: a one-member etcd, e1 (right peer password) and e2 (wrong
  one), both behind basic auth; etcd dies. e1's question to e2 carries its credential, so e1
  engages failsafe; e2 is refused by e1 (401): counted in
  fleetps_cluster_peer_errors_total{reason="auth"}, logged as cluster_peer_refused, no failsafe.
Ports 25400-25407 (fleetsim), 25420-25424 (members), etcd on free ports; loopback only; no
root; about 15 s.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import yaml  # python3-yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e_test import Fatal, block_is_free, wait_until  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_run import ClusterRun, get  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # libxcrypt: the same bcrypt the collector verifies with

HOSTS = 8
SIM_BASE = 25400
PORTS = {"c1": 25420, "c2": 25421, "c3": 25422}
ETCD_PORTS = {"e1": 25423, "e2": 25424}
USER = "alice"
PASSWORD = "peer-Secret-0815"


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


GOOD = basic(USER, PASSWORD)


def main():
    fleetps, fleetsim = sys.argv[1], sys.argv[2]
    run = ClusterRun("fleetps-peer-auth-")
    check, start, work = run.check, run.start, run.work
    etcd = None
    try:
        if not block_is_free(SIM_BASE, HOSTS) or not block_is_free(25420, 5):
            raise Fatal("ports 25400-25407 or 25420-25424 are in use")
        sim_dir, sim_log = run.start_fleetsim(fleetsim, HOSTS, SIM_BASE)

        def path(name):
            return os.path.join(work, name)

        with open(path("web.yaml"), "w") as f:
            # Cost 4: this test is about who sends what, not about bcrypt's cost.
            yaml.safe_dump({"basic_auth_users": {USER: crypt.crypt(
                PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**4))}}, f)
        for name, secret in (("right-password", PASSWORD), ("wrong-password", "not-it")):
            with open(path(name), "w") as f:
                f.write(secret + "\n")
            os.chmod(path(name), 0o600)
        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            base = yaml.safe_load(f)
        base["defaults"].update(interval="5s", probe_timeout="4s")
        members = [{"name": n, "advertise": f"http://127.0.0.1:{p}"} for n, p in PORTS.items()]

        def write_config(name, web, password_file):
            config = dict(base)
            config["collector"] = {"enable_reload_endpoint": False, "threads": 1}
            if web:
                config["collector"]["web_config_file"] = path("web.yaml")
            cluster = {"name": "peers", "membership": "static", "static": {"members": members}}
            if password_file:
                cluster["peer_http"] = {"basic_auth": {"username": USER,
                                                       "password_file": path(password_file)}}
            config["cluster"] = cluster
            with open(path(name), "w") as f:
                yaml.safe_dump(config, f, sort_keys=False)
            return path(name)

        # Basic auth on the port and no peer credentials: refused before anything starts.
        bad = write_config("bad.yaml", True, None)
        checked = subprocess.run([fleetps, "check-config", bad], capture_output=True, text=True,
                                 timeout=10)
        line = open(bad).read().split("\n").index("cluster:") + 1
        want = (f"{bad}:{line}:1: collector.web_config_file turns basic auth on (basic_auth_users): "
                "members ask each other (failsafe, /probe forwarding) and need "
                "cluster.peer_http.basic_auth with one of its users")
        check("check-config refuses basic auth without cluster.peer_http",
              checked.returncode == 1 and want in checked.stderr,
              f"exit {checked.returncode}, want 1 and {want!r}; stderr: {checked.stderr}")
        refused = subprocess.run([fleetps, "run", "--config", bad, "--cluster-member", "c1",
                                  "--listen", "127.0.0.1:25420"],
                                 capture_output=True, text=True, timeout=10)
        check("run refuses basic auth without cluster.peer_http",
              refused.returncode == 1 and "turns basic auth on" in refused.stderr,
              f"exit {refused.returncode}, want 1; stderr: {refused.stderr[-2000:]}")

        configs = {"c1": write_config("c1.yaml", True, "wrong-password"),
                   "c2": write_config("c2.yaml", True, "right-password"),
                   "c3": write_config("c3.yaml", False, "right-password")}
        ok_line = subprocess.run([fleetps, "check-config", configs["c2"]], capture_output=True,
                                 text=True, timeout=10)
        check("check-config sums up cluster.peer_http without the secret",
              ok_line.returncode == 0 and f"cluster.peer_http: basic auth as {USER}" in
              ok_line.stdout and PASSWORD not in ok_line.stdout + ok_line.stderr,
              f"exit {ok_line.returncode}: {ok_line.stdout}{ok_line.stderr}")
        run.wait_fleetsim(sim_log)
        logs = {}
        for name, port in PORTS.items():
            logs[name] = start(name, [fleetps, "run", "--config", configs[name],
                                      "--cluster-member", name, "--listen", f"127.0.0.1:{port}"])

        # A host c2 owns, known to c2 (its /api/v1/hosts needs the credentials).
        def c2_hosts():
            try:
                status, _, body = get(PORTS["c2"], "/api/v1/hosts?scope=local", GOOD, timeout=3)
            except OSError:
                return None
            return [h["host"] for h in json.loads(body)["data"]["hosts"]] if status == 200 \
                else None
        owned = wait_until(c2_hosts, 15, 0.1)
        if not owned:
            raise Fatal(f"c2 owns no host after 15 s (3 members, {HOSTS} hosts): {owned}; "
                        + open(logs["c2"]).read()[-2000:])
        host = sorted(owned)[0]
        target = f"/probe?target={host}"

        def probe(member, headers):
            try:
                return get(PORTS[member], target, headers, timeout=12)
            except OSError as e:
                return (0, {}, str(e))

        # c2's first probe of the host may still be under way (503 until it is): asked directly.
        if not wait_until(lambda: probe("c2", GOOD)[0] == 200, 15, 0.2):
            raise Fatal(f"c2 does not answer /probe for its own {host} with 200 within 15 s: "
                        f"{probe('c2', GOOD)[:1]}")
        status, headers, body = probe("c1", GOOD)
        check("c1 forwards the caller's credentials: 200 from the owner",
              status == 200 and headers.get("X-Fleetps-Owner") == "c2" and "fleetps_" in body,
              f"want 200 from c2, got {status} owner={headers.get('X-Fleetps-Owner')}: "
              f"{body[:300]}")
        status, _, body = probe("c1", None)
        check("c1 without credentials: 401", status == 401, f"got {status}: {body[:300]}")
        status, headers, body = probe("c3", None)
        check("c3 (open port) forwards with its own cluster.peer_http: 200 from the owner",
              status == 200 and headers.get("X-Fleetps-Owner") == "c2",
              f"want 200 from c2, got {status} owner={headers.get('X-Fleetps-Owner')}: "
              f"{body[:300]}")
        status, headers, body = probe("c3", basic(USER, "bad-guess"))
        check("the caller's credentials win over cluster.peer_http: the owner's 401 relayed",
              status == 401 and headers.get("X-Fleetps-Owner") == "c2",
              f"want 401 from c2, got {status} owner={headers.get('X-Fleetps-Owner')}: "
              f"{body[:300]}")

        # A reload that drops c2's peer credentials is refused like the start is.
        write_config("c2.yaml", True, None)
        run.procs["c2"].send_signal(signal.SIGHUP)
        failed = wait_until(lambda: "config_reload_failed" in open(logs["c2"]).read(), 10, 0.1)
        text = open(logs["c2"]).read()
        check("a reload without cluster.peer_http is refused",
              failed and "turns basic auth on" in text,
              "no config_reload_failed naming basic auth within 10 s: " + text[-1500:])
        time.sleep(0.3)  # the refused reload leaves the running config in force
        status, headers, _ = probe("c3", None)
        check("c2 keeps its config after the refused reload", status == 200,
              f"want 200 through c3, got {status}")

        # etcd mode: the failsafe question carries cluster.peer_http. One etcd, e1 with the
        # right peer password and e2 with a wrong one; etcd dies. e1 asks e2 with the right
        # credentials, hears store_down and engages failsafe; e2 is refused by e1 (401), logs
        # and counts it, and fences (the peer counts as reaching etcd).
        for name in PORTS:
            run.procs[name].terminate()
        etcd = EtcdCluster(1)
        etcd_base = dict(base)
        etcd_base["cluster"] = {"name": "peers-etcd", "membership": "etcd", "settle": "1s",
                                "fence_margin": "1s",
                                "etcd": {"endpoints": etcd.endpoints(), "lease_ttl": "5s",
                                         "request_timeout": "1s"}}
        for name, password_file in (("e1", "right-password"), ("e2", "wrong-password")):
            config = dict(etcd_base)
            config["collector"] = {"enable_reload_endpoint": False, "threads": 1,
                                   "web_config_file": path("web.yaml")}
            config["cluster"] = dict(etcd_base["cluster"], peer_http={"basic_auth": {
                "username": USER, "password_file": path(password_file)}})
            with open(path(name + ".yaml"), "w") as f:
                yaml.safe_dump(config, f)
            logs[name] = start(name, [fleetps, "run", "--config", path(name + ".yaml"),
                                      "--cluster-member", name, "--cluster-advertise",
                                      f"http://127.0.0.1:{ETCD_PORTS[name]}",
                                      "--listen", f"127.0.0.1:{ETCD_PORTS[name]}"])

        def metric(name, family, labels=""):
            try:
                status, _, body = get(ETCD_PORTS[name], "/metrics", GOOD, timeout=3)
            except OSError:
                return None
            if status != 200:
                return None
            for row in body.splitlines():
                if row.startswith(family + "{") and labels in row:
                    return float(row.rsplit(" ", 1)[1])
            return None

        owning = wait_until(lambda: all((metric(n, "fleetps_cluster_owned_hosts") or 0) > 0
                                        for n in ETCD_PORTS), 15, 0.2)
        if not owning:
            raise Fatal("e1 and e2 do not both own hosts 15 s after start: " +
                        open(logs["e1"]).read()[-1500:] + open(logs["e2"]).read()[-1500:])
        etcd.stop_all()
        engaged = wait_until(lambda: metric("e1", "fleetps_cluster_failsafe") == 1, 15, 0.2)
        check("e1 (right peer password) engages failsafe after etcd dies", engaged,
              "fleetps_cluster_failsafe on e1 is " + str(metric("e1", "fleetps_cluster_failsafe"))
              + " 15 s after etcd died: " + open(logs["e1"]).read()[-1500:])
        refused = wait_until(lambda: (metric("e2", "fleetps_cluster_peer_errors_total",
                                             'reason="auth"') or 0) > 0, 5, 0.2)
        e2_log = open(logs["e2"]).read()
        check("e2 (wrong peer password) counts and logs e1's refusal",
              refused and "cluster_peer_refused" in e2_log and "status=401" in e2_log and
              f"127.0.0.1:{ETCD_PORTS['e1']}" in e2_log,
              "peer_errors_total{reason=auth} on e2 = " +
              str(metric("e2", "fleetps_cluster_peer_errors_total", 'reason="auth"')) +
              "; log: " + e2_log[-1500:])
        check("e2 does not engage failsafe", metric("e2", "fleetps_cluster_failsafe") == 0,
              "fleetps_cluster_failsafe on e2 = " + str(metric("e2", "fleetps_cluster_failsafe")))
    except Fatal as e:
        check("prerequisites", False, str(e))
    except Exception as e:  # noqa: BLE001 - reported as a failure; the processes still stop
        check("no unexpected error", False, repr(e))
    finally:
        if etcd is not None:
            etcd.close()
    return run.finish()


if __name__ == "__main__":
    sys.exit(main())
