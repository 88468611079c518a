#!/usr/bin/env python3
"""Scrapes under query load (issue 17, deliverable 2): `fleetps run` over N fleetsim hosts,
/metrics scraped back to back by one client while C clients send fresh=1 queries.

    admission_bench.py --build BUILD_DIR --out OUT [--hosts 1000] [--clients 20]
                       [--idle 10] [--load 30] [--base-port P] [--tag NAME]

Phases, one collector (the fleetsim-emitted inventory, collector defaults):
  ready  wait until every host is ready (at most --ready-timeout s)
  idle   --idle seconds: only the scraper
  load   --load seconds: the scraper plus C clients (source addresses 127.0.1.1...), each sending
         GET /api/v1/processes?q={}&limit=10&fresh=1 back to back; a client answered 429 or 503
         waits what Retry-After says (at most 5 s) before its next query, as a polite client
         does; other answers are followed by the next query at once
Measured: scrape latency p50/p99/max and failures per phase (from a separate process, so the
clients' threads do not delay its timing), query outcomes by status and their latency, collector
and fleetsim CPU (cores, from /proc/PID/stat) per phase.

Scrapes send no Accept-Encoding (plain text, like `curl`). Writes OUT/admission_TAG.json and
prints a Markdown fragment. Progress on stderr. Loopback only; needs RLIMIT_NOFILE hard >= 4 *
hosts (raised to the hard limit for the children).
"""
import argparse
import http.client
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
DIALECTS = "linux-procps=55,busybox=15,aix=15,solaris=15"
T0 = time.monotonic()
QUERY = "/api/v1/processes?q=%7B%7D&limit=10&fresh=1"


def log(*args):
    print(f"[admission {time.monotonic() - T0:6.1f}s]", *args, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def get(port, path, timeout, source=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, response.getheader("Retry-After"), len(body)
    finally:
        conn.close()


def quantile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scrape_main(port, seconds, out):
    """--scrape mode: back-to-back scrapes for `seconds`; one `status seconds` line each."""
    end = time.monotonic() + seconds
    with open(out, "w") as f:
        while time.monotonic() < end:
            t = time.monotonic()
            try:
                status, _, _ = get(port, "/metrics", 10)
            except OSError:
                status = 0
            f.write(f"{status} {time.monotonic() - t:.6f}\n")


def scrape_phase(port, seconds, out):
    return subprocess.Popen([sys.executable, __file__, "--scrape", str(port), str(seconds), out])


def read_scrapes(path):
    rows = [line.split() for line in open(path)]
    ok = [float(d) for s, d in rows if s == "200"]
    return {"scrapes": len(rows), "failed": len(rows) - len(ok),
            "p50_ms": 1000 * quantile(ok, 0.50) if ok else None,
            "p99_ms": 1000 * quantile(ok, 0.99) if ok else None,
            "max_ms": 1000 * max(ok) if ok else None}


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--scrape":
        scrape_main(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--idle", type=float, default=10)
    p.add_argument("--load", type=float, default=30)
    p.add_argument("--base-port", type=int, default=0,
                   help="first fleet port (default: the first of 26000, 27100, 28200, 29300, 30400 "
                        "with no socket in any state, TIME-WAIT included, on the range)")
    p.add_argument("--ready-timeout", type=float, default=180)
    p.add_argument("--tag", default="run")
    p.add_argument("--no-budgets", action="store_true",
                   help="fresh budgets and api_max_pending at their maximum: the fan-out load of "
                        "a build without admission, to check the collector survives it")
    a = p.parse_args()
    fleetps = os.path.join(a.build, "collector", "fleetps")
    fleetsim = os.path.join(a.build, "tests", "fleetsim", "fleetsim")
    run_dir = os.path.join(a.out, f"run-{a.tag}")
    os.makedirs(run_dir, exist_ok=True)
    sim_dir = os.path.join(run_dir, "sim")
    if not a.base_port:
        # fleetsim's listeners cannot bind over the TIME-WAIT sockets an earlier run leaves.
        def free(base):
            out = subprocess.run(["ss", "-Htan", f"sport >= :{base - 1} and sport <= :{base + a.hosts}"],
                                 capture_output=True, text=True, check=True).stdout
            return not out.strip()
        a.base_port = next((b for b in (26000, 27100, 28200, 29300, 30400) if free(b)), 0)
        if not a.base_port:
            raise SystemExit("admission: no free port range; wait a minute for TIME-WAIT to clear")
    port = a.base_port - 1  # below the fleet's ports
    sim_args = ["--hosts", str(a.hosts), "--base-port", str(a.base_port), "--dialects", DIALECTS]
    procs = []

    def start(name, argv):
        f = open(os.path.join(run_dir, name + ".log"), "w")
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=raise_nofile)
        procs.append(proc)
        return proc

    try:
        subprocess.run([fleetsim, "--emit-config", sim_dir, "--user", "monitor"] + sim_args,
                       check=True, capture_output=True)
        sim = start("fleetsim", [fleetsim, "--state-dir", sim_dir] + sim_args)
        deadline = time.monotonic() + 60
        while "fleetsim ready" not in open(os.path.join(run_dir, "fleetsim.log")).read():
            if time.monotonic() > deadline or sim.poll() is not None:
                raise SystemExit("admission: fleetsim not ready")
            time.sleep(0.1)
        config = open(os.path.join(sim_dir, "fleet.yaml")).read()
        config_path = os.path.join(run_dir, "fleet.yaml")
        with open(config_path, "w") as f:
            unlimited = ("  fresh_rate_per_client: 1000000\n  fresh_burst_per_client: 10000000\n"
                         "  fresh_rate: 1000000\n  fresh_burst: 10000000\n"
                         "  api_max_pending: 10000\n") if a.no_budgets else ""
            f.write(f"collector:\n  listen: 127.0.0.1:{port}\n{unlimited}" + config)
        collector = start("collector", [fleetps, "run", "--config", config_path])
        t_start = time.monotonic()
        ready = 0
        while time.monotonic() - t_start < a.ready_timeout:
            if collector.poll() is not None:
                raise SystemExit("admission: collector exited; see " + run_dir)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/api/v1/hosts")
                hosts = json.loads(conn.getresponse().read())["data"]["hosts"]
                conn.close()
                ready = sum(h["state"] == "ready" for h in hosts)
            except (OSError, ValueError, KeyError):
                ready = 0
            if ready >= a.hosts:
                break
            time.sleep(1)
        t_ready = time.monotonic() - t_start
        log(f"{ready}/{a.hosts} hosts ready after {t_ready:.1f} s")
        time.sleep(20)  # past the first interval (15 s): the first probes of every host are done

        result = {"tag": a.tag, "hosts": a.hosts, "ready": ready, "ready_seconds": t_ready,
                  "clients": a.clients, "load_average_before": open("/proc/loadavg").read().split()[:3]}
        # idle: the scraper alone
        c0, s0 = cpu_seconds(collector.pid), cpu_seconds(sim.pid)
        t0 = time.monotonic()
        scrape_phase(port, a.idle, os.path.join(run_dir, "scrapes_idle.txt")).wait()
        elapsed = time.monotonic() - t0
        result["idle"] = read_scrapes(os.path.join(run_dir, "scrapes_idle.txt"))
        result["idle"]["collector_cores"] = (cpu_seconds(collector.pid) - c0) / elapsed
        result["idle"]["fleetsim_cores"] = (cpu_seconds(sim.pid) - s0) / elapsed
        log("idle", result["idle"])

        # load: the scraper plus the clients
        outcomes = {}
        latencies = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(source):
            while not stop.is_set():
                t = time.monotonic()
                try:
                    status, retry_after, _ = get(port, QUERY, 90, source)
                except OSError as e:
                    status, retry_after = type(e).__name__, None
                with lock:
                    outcomes[status] = outcomes.get(status, 0) + 1
                    latencies.append(time.monotonic() - t)
                if status in (429, 503):
                    wait = min(5.0, float(retry_after)) if retry_after else 1.0
                    stop.wait(wait)

        c0, s0 = cpu_seconds(collector.pid), cpu_seconds(sim.pid)
        t0 = time.monotonic()
        scraper = scrape_phase(port, a.load, os.path.join(run_dir, "scrapes_load.txt"))
        # Each client on its own loopback address, as distinct machines would be.
        threads = [threading.Thread(target=client, args=(f"127.0.1.{i + 1}",))
                   for i in range(a.clients)]
        for t in threads:
            t.start()
        scraper.wait()
        elapsed = time.monotonic() - t0
        cpu_collector = cpu_seconds(collector.pid) - c0
        cpu_sim = cpu_seconds(sim.pid) - s0
        stop.set()
        for t in threads:
            t.join()
        result["load"] = read_scrapes(os.path.join(run_dir, "scrapes_load.txt"))
        result["load"]["collector_cores"] = cpu_collector / elapsed
        result["load"]["fleetsim_cores"] = cpu_sim / elapsed
        result["load"]["queries"] = {str(k): v for k, v in sorted(outcomes.items(), key=str)}
        result["load"]["query_p50_s"] = quantile(latencies, 0.5)
        result["load"]["query_max_s"] = max(latencies) if latencies else None
        result["load_average_after"] = open("/proc/loadavg").read().split()[:3]
        log("load", result["load"])
        with open(os.path.join(a.out, f"admission_{a.tag}.json"), "w") as f:
            json.dump(result, f, indent=1)

        def ms(v):
            return "-" if v is None else f"{v:.1f}"
        for phase in ("idle", "load"):
            r = result[phase]
            queries = ", ".join(f"{k}: {v}" for k, v in r.get("queries", {}).items()) or "-"
            print(f"| {a.tag} | {phase} | {r['scrapes']} ({r['failed']} failed) | {ms(r['p50_ms'])} | "
                  f"{ms(r['p99_ms'])} | {ms(r['max_ms'])} | {queries} | "
                  f"{r['collector_cores']:.2f} | {r['fleetsim_cores']:.2f} |")
        return 0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
