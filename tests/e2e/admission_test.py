#!/usr/bin/env python3
"""fresh=1 admission against the real collector and fleetsim (issue 17, deliverable 2).

    admission_test.py FLEETPS FLEETSIM SOURCE_DIR

Eight fleetsim hosts; the collector allows each client 16 host probes (two fresh=1 queries over
the eight hosts), refilling at 1 per second, and the collector 100. Two clients on their own
loopback addresses send their fresh=1 queries at the same moment while a third scrapes
/metrics back to back:
- 127.0.0.2 sends five: two answer 200, three 429 with a Retry-After of whole seconds and a
  JSON error;
- 127.0.0.3 sends two at the same time: both 200, the other client's refusals do not touch it;
- every scrape in the meantime answers 200;
- fleetps_api_refused_total{reason="rate_limited_client"} counts the three refusals;
- `fleetps query --fresh` from a client whose budget is spent prints "rate limited, retry in N s".
Bounded: about 10 s. Loopback only; needs no root.
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import yaml  # python3-yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_channel  # noqa: E402
from e2e_test import Fatal, block_is_free, die_with_parent, wait_until  # noqa: E402

HOSTS = 8  # a query costs 8: the refill of 1 per second takes 8 s to admit one more
PORT_BLOCKS = [24000, 24100, 24200, 25000, 25100]
BLOCK_SPAN = 60  # fleetsim B..B+7, collector B+50
BUDGET_QUERIES = 2  # fresh_burst_per_client / HOSTS
CLIENT_A, CLIENT_B = "127.0.0.2", "127.0.0.3"


def get(port, path, source=None, timeout=30):
    """(status, headers, body) of GET path from the loopback address `source`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def concurrently(calls):
    """Runs every call at once (released together); their results in order."""
    results = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i, call):
        start.wait()
        try:
            results[i] = call()
        except Exception as e:  # noqa: BLE001 - reported as the result
            results[i] = e
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    fleetps, fleetsim = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="fleetps-admission-")
    procs = []
    failures = []

    def check(name, ok, detail=""):
        print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""),
              flush=True)
        if not ok:
            failures.append(name)

    def start(name, argv):
        log = os.path.join(work, name + ".log")
        with open(log, "w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        procs.append(proc)
        return proc, log

    try:
        base = next((b for b in PORT_BLOCKS if block_is_free(b, BLOCK_SPAN)), None)
        if base is None:
            raise Fatal(f"no free block of {BLOCK_SPAN} ports among {PORT_BLOCKS}")
        port = base + 50
        sim_dir = os.path.join(work, "sim")
        sim_args = ["--hosts", str(HOSTS), "--base-port", str(base), "--dialects", "linux-procps=100"]
        subprocess.run([fleetsim, "--emit-config", sim_dir, "--user", "fleetsim"] + sim_args,
                       check=True, capture_output=True)
        sim, sim_log = start("fleetsim", [fleetsim, "--state-dir", sim_dir] + sim_args)
        if not wait_until(lambda: "fleetsim ready" in open(sim_log).read(), 20, 0.05):
            raise Fatal("fleetsim not ready after 20 s: " + open(sim_log).read()[-2000:])

        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            config = probe_channel.apply(yaml.safe_load(f))
        config["collector"] = {"listen": f"127.0.0.1:{port}",
                               "fresh_rate_per_client": 1,
                               "fresh_burst_per_client": BUDGET_QUERIES * HOSTS,
                               "fresh_rate": 100, "fresh_burst": 100}
        config_path = os.path.join(work, "fleet.yaml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        collector, collector_log = start("collector", [fleetps, "run", "--config", config_path])

        def all_ready():
            if collector.poll() is not None:
                raise Fatal(f"fleetps run exited: {open(collector_log).read()[-3000:]}")
            try:
                status, _, body = get(port, "/api/v1/hosts", timeout=2)
            except OSError:
                return False
            hosts = json.loads(body)["data"]["hosts"] if status == 200 else []
            return len(hosts) == HOSTS and all(h["state"] == "ready" for h in hosts)
        if not wait_until(all_ready, 30, 0.2):
            raise Fatal("hosts not ready after 30 s: " + open(collector_log).read()[-3000:])

        scrapes = []
        stop = threading.Event()

        def scrape():
            while not stop.is_set():
                t = time.monotonic()
                status, _, _ = get(port, "/metrics", timeout=10)
                scrapes.append((status, time.monotonic() - t))
        scraper = threading.Thread(target=scrape)
        scraper.start()
        fresh = "/api/v1/processes?fresh=1&limit=1"
        a_count, b_count = BUDGET_QUERIES + 3, BUDGET_QUERIES
        results = concurrently([lambda: get(port, fresh, CLIENT_A)] * a_count +
                               [lambda: get(port, fresh, CLIENT_B)] * b_count)
        stop.set()
        scraper.join()
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise Fatal(f"a query failed: {errors[0]!r}")
        a, b = results[:a_count], results[a_count:]
        a_statuses = sorted(r[0] for r in a)
        check(f"{CLIENT_A}: {BUDGET_QUERIES} of {a_count} concurrent fresh=1 queries answered 200, "
              "the rest 429", a_statuses == [200] * BUDGET_QUERIES + [429] * 3, str(a_statuses))
        for status, headers, body in (r for r in a if r[0] == 429):
            retry_after = headers.get("Retry-After", "")
            check("a 429 carries Retry-After in whole seconds >= 1",
                  retry_after.isdigit() and int(retry_after) >= 1, repr(retry_after))
            document = json.loads(body)
            check("a 429 is a JSON error saying rate limited",
                  document.get("status") == "error" and
                  "rate limited" in document["error"]["message"], body)
        check(f"{CLIENT_B}: both concurrent fresh=1 queries answered 200 while {CLIENT_A} was "
              "refused", [r[0] for r in b] == [200] * b_count, str([r[0] for r in b]))
        for status, _, body in (r for r in a + b if r[0] == 200):
            hosts = json.loads(body)["data"]["hosts"]
            check("an admitted fresh=1 query has fresh data from every host",
                  [h["status"] for h in hosts] == ["ok"] * HOSTS, body[:500])
        check("every /metrics scrape during the queries answered 200",
              scrapes and all(s == 200 for s, _ in scrapes), str(scrapes[:20]))
        print(f"note: {len(scrapes)} scrapes during the queries, slowest "
              f"{max(d for _, d in scrapes) * 1000:.0f} ms", flush=True)

        _, _, metrics = get(port, "/metrics")
        refused = re.search(r'^fleetps_api_refused_total\{reason="rate_limited_client"\} (\S+)$',
                            metrics, re.M)
        check("fleetps_api_refused_total{reason=\"rate_limited_client\"} counts the 3 refusals",
              refused is not None and float(refused.group(1)) == 3,
              refused.group(0) if refused else "absent")

        # The CLI connects from 127.0.0.1: spend that client's budget, then ask.
        for _ in range(BUDGET_QUERIES):
            get(port, fresh, "127.0.0.1")
        cli = subprocess.run([fleetps, "query", "{}", "--fresh", "--server",
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                             timeout=30)
        check("fleetps query --fresh beyond the budget prints 'rate limited, retry in N s' and "
              "exits 1", cli.returncode == 1 and
              re.fullmatch(r"fleetps: rate limited, retry in \d+ s\n", cli.stderr) is not None,
              f"exit {cli.returncode}, stderr {cli.stderr!r}")
    except Fatal as e:
        print(f"FATAL {e}", flush=True)
        failures.append(str(e))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if failures:
            print(f"work directory kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
