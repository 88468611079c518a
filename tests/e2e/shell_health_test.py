#!/usr/bin/env python3
"""The persistent shell's health across the fleet on the collector's /metrics (issue 18).

    shell_health_test.py FLEETPS FLEETSIM SOURCE_DIR

Three fleetsim hosts under the real collector with `probe_channel: auto` (set here whatever
FLEETPS_TEST_PROBE_CHANNEL says: the fallback is auto's): sim00001 starts with `shell:exit` (its
first shell run ends without end markers), sim00002 with `shell:eof` (its shell answers nothing
before stdin ends), sim00003 healthy. Checks:
- once all are ready, `fleetps_probe_shell_fallbacks_total` has first_run_failed 1,
  first_run_timeout 1, failed_twice 0; the API shows channel exec, exec, shell;
  `fleetps_probe_shells_opened_total{kind="first"}` counts the three sessions' shells, no
  replacement; `fleetps_probe_shell_stray_bytes_total` is exported;
- `shell:exit` set on sim00003 at run time: its shell ends during a probe, the next probe opens a
  replacement that ends too, and auto switches it to exec: failed_twice 1, a replacement shell
  counted, the API shows exec with the reason.
Bounded: about 10-20 s. Loopback only; needs no root.
"""
import os
import sys
import tempfile

import yaml  # python3-yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_test import (CollectorClient, Fatal, Report, find, finish_script, http,  # noqa: E402
                      start_fleetsim_block, start_logged, stop_processes, wait_until)

HOSTS = 3
PORT_BLOCKS = [31500, 31600, 31700, 31800, 31900]
BLOCK_SPAN = 60  # fleetsim B..B+2, its control B+40, collector B+50


def main():
    fleetps, fleetsim = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="fleetps-shell-health-")
    procs = []
    r = Report()

    try:
        base, config = start_fleetsim_block(
            procs, work, fleetsim, PORT_BLOCKS, BLOCK_SPAN,
            ["--hosts", str(HOSTS), "--dialects", "linux-procps=100",
             "--fault", "1=shell:exit", "--fault", "2=shell:eof"])
        control = f"http://127.0.0.1:{base + 40}"
        url = f"http://127.0.0.1:{base + 50}"
        config["defaults"].update({"interval": "1s", "probe_timeout": "900ms",
                                   "probe_channel": "auto"})
        config["collector"] = {"listen": f"127.0.0.1:{base + 50}"}
        config_path = os.path.join(work, "fleet.yaml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        collector, collector_log = start_logged(procs, work, "collector",
                                                [fleetps, "run", "--config", config_path])
        names = sorted(h["name"] for h in config["hosts"])
        if len(names) != HOSTS:
            raise Fatal(f"emitted inventory: {names}")
        exits, eof, healthy = names

        client = CollectorClient(url, collector, collector_log)
        hosts, metrics = client.hosts, client.metrics

        def fallbacks(samples, reason):
            return find(samples, "fleetps_probe_shell_fallbacks_total", reason=reason)

        def opened(samples, kind):
            return find(samples, "fleetps_probe_shells_opened_total", kind=kind)

        def channels():
            return {n: h.get("channel") for n, h in hosts().items()}

        if not wait_until(lambda: len(hosts()) == HOSTS and all(
                h["state"] == "ready" for h in hosts().values()), 30, 0.2):
            raise Fatal(f"hosts not ready after 30 s: {hosts()}")
        seen = metrics()
        r.check("a fallback per reason: first_run_failed 1 (shell:exit), first_run_timeout 1 "
                "(shell:eof), failed_twice 0",
                fallbacks(seen, "first_run_failed") == [1] and
                fallbacks(seen, "first_run_timeout") == [1] and fallbacks(seen, "failed_twice") == [0],
                str([(r_, fallbacks(seen, r_)) for r_ in
                     ("first_run_failed", "first_run_timeout", "failed_twice")]))
        r.check("the API shows the channel in use: exec, exec, shell",
                channels() == {exits: "exec", eof: "exec", healthy: "shell"}, str(channels()))
        r.check("one first shell per session, no replacement",
                opened(seen, "first") == [HOSTS] and opened(seen, "replacement") == [0],
                f"first {opened(seen, 'first')}, replacement {opened(seen, 'replacement')}")
        stray = find(seen, "fleetps_probe_shell_stray_bytes_total")
        r.check("fleetps_probe_shell_stray_bytes_total is exported", len(stray) == 1, str(stray))

        status, body = http(f"{control}/hosts/{healthy}/fault", "PUT", b"shell:exit", 5)
        if status != 200:
            raise Fatal(f"setting the fault: HTTP {status} {body}")
        switched = wait_until(lambda: fallbacks(metrics(), "failed_twice") == [1], 20, 0.2)
        after = metrics()
        r.check(f"shell:exit on {healthy} at run time: failed_twice 1 within 20 s", switched,
                str(fallbacks(after, "failed_twice")))
        r.check("the shell that replaced the ended one is counted",
                opened(after, "replacement") and opened(after, "replacement")[0] >= 1,
                f"replacement {opened(after, 'replacement')}")
        host = hosts().get(healthy, {})
        r.check(f"{healthy} probes over exec, with the reason",
                host.get("channel") == "exec" and "2 probes in a row" in host.get("channel_fallback", ""),
                f"channel {host.get('channel')}, channel_fallback {host.get('channel_fallback')!r}")
    except Fatal as error:
        r.check("setup", False, str(error))
    finally:
        stop_processes(procs)
    return finish_script(r, work)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
