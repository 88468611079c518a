#!/usr/bin/env python3
"""A flapping host against collector.max_host_events_per_minute (issue 17).

    flapping_host_test.py FLEETPS FLEETSIM SOURCE_DIR

Four fleetsim hosts, the real collector with `max_host_events_per_minute: 6` (a burst of 6, then
one every 10 s) and a 1 s interval. Once all are ready, one host gets fleetsim's
`disconnect_after:1` fault through the control port: every session is dropped 100 ms after its
first command, so the agent cycles connecting, fingerprinting, ready, backoff (about four state
changes a cycle, one cycle a backoff apart). After FLAP_CONNECTS such connects the fault is
lifted. Checks, over a `/api/v1/events?host=` stream of that host and an unfiltered one:
- the host's host_state events stay within the budget (burst + rate x time + 1) although the
  agent made several times as many changes;
- `fleetps_host_events_coalesced_total{host}` rises above 0 for it (and published + coalesced
  exceeds that bound), stays 0 for the others;
- the healthy hosts keep their probe events, no state change, `fleetps_up 1`;
- after the heal the collector ends on the host's current state: `ready` on the stream and the
  API, `fleetps_up 1` on /metrics (the coalesced latest state is published, not lost).
Bounded: about 20-30 s (the agent's backoff after the last drop plus one throttle slot).
Loopback only; needs no root.
"""
import json
import os
import sys
import tempfile
import time

import yaml  # python3-yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_channel  # noqa: E402
from e2e_test import (CollectorClient, EventStream, Fatal, Report, finish_script, find,  # noqa: E402
                      http, start_fleetsim_block, start_logged, stop_processes, wait_until)

HOSTS = 4
FLAPPER = "sim00003"
PORT_BLOCKS = [31000, 31100, 31200, 31300, 31400]
BLOCK_SPAN = 60              # fleetsim B..B+3, its control B+40, collector B+50
EVENTS_PER_MINUTE = 6        # the lowest allowed: burst 6, then one per 10 s
FLAP_CONNECTS = 4            # connects of the flapping host before the heal (4 changes each)
FLAP_LIMIT_S = 30            # the agent's backoff ceilings 1+2+4+8 s, plus slack
# After the heal: the agent's next backoff (ceiling 16 s when the last flapping session drops
# too: its fifth failure) plus one throttle slot (10 s) for the coalesced "ready", plus slack.
HEAL_LIMIT_S = 35


def main():
    fleetps, fleetsim = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="fleetps-flap-")
    procs = []
    streams = []
    r = Report()

    def start(name, argv):
        return start_logged(procs, work, name, argv)

    try:
        base, config = start_fleetsim_block(
            procs, work, fleetsim, PORT_BLOCKS, BLOCK_SPAN,
            ["--hosts", str(HOSTS), "--dialects", "linux-procps=100"], ["--user", "fleetsim"])
        config = probe_channel.apply(config)
        control = f"http://127.0.0.1:{base + 40}"
        url = f"http://127.0.0.1:{base + 50}"
        config["defaults"].update({"interval": "1s", "probe_timeout": "800ms"})
        config["collector"] = {"listen": f"127.0.0.1:{base + 50}",
                               "max_host_events_per_minute": EVENTS_PER_MINUTE}
        config_path = os.path.join(work, "fleet.yaml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        collector, collector_log = start("collector", [fleetps, "run", "--config", config_path])
        names = [h["name"] for h in config["hosts"]]
        healthy = [n for n in names if n != FLAPPER]
        if FLAPPER not in names:
            raise Fatal(f"{FLAPPER} not in the emitted inventory: {names}")

        client = CollectorClient(url, collector, collector_log)
        hosts, metrics = client.hosts, client.metrics

        if not wait_until(lambda: len(hosts()) == HOSTS and all(
                h["state"] == "ready" for h in hosts().values()), 30, 0.2):
            raise Fatal(f"hosts not ready after 30 s: {hosts()}")

        flapper_stream = EventStream(f"{url}/api/v1/events?host={FLAPPER}")
        fleet_stream = EventStream(f"{url}/api/v1/events")
        streams += [flapper_stream, fleet_stream]
        stream_opened = time.monotonic()

        def handshakes():
            return json.loads(http(control + "/stats", timeout=5)[1])["handshakes"]
        handshakes_before = handshakes()
        status, body = http(f"{control}/hosts/{FLAPPER}/fault", "PUT", b"disconnect_after:1", 5)
        if status != 200:
            raise Fatal(f"setting the fault: HTTP {status} {body}")
        flap_started = time.monotonic()
        # Healthy hosts keep their sessions: every new handshake is the flapper reconnecting.
        flapped = wait_until(lambda: handshakes() - handshakes_before >= FLAP_CONNECTS,
                             FLAP_LIMIT_S, 0.1)
        flap_seconds = time.monotonic() - flap_started
        r.check(f"{FLAPPER} reconnected {FLAP_CONNECTS} times under disconnect_after:1", flapped,
                f"{handshakes() - handshakes_before} in {flap_seconds:.1f} s")
        status, body = http(f"{control}/hosts/{FLAPPER}/fault", "PUT", b"none", 5)
        if status != 200:
            raise Fatal(f"lifting the fault: HTTP {status} {body}")
        healed = time.monotonic()

        def last_state(stream):
            states = [d.get("state") for name, d in list(stream.events)
                      if name == "host_state" and d.get("host") == FLAPPER]
            return states[-1] if states else None

        def current():
            up = find(metrics(), "fleetps_up", host=FLAPPER)
            return (hosts().get(FLAPPER, {}).get("state") == "ready" and up == [1]
                    and last_state(flapper_stream) == "ready")
        recovered = wait_until(current, HEAL_LIMIT_S, 0.25)
        r.check(f"after the heal the collector ends on {FLAPPER}'s current state (ready on the "
                f"stream and the API, fleetps_up 1) within {HEAL_LIMIT_S} s", recovered,
                f"API {hosts().get(FLAPPER, {}).get('state')}, stream {last_state(flapper_stream)}, "
                f"fleetps_up {find(metrics(), 'fleetps_up', host=FLAPPER)}")
        r.timing("ready again after the heal", time.monotonic() - healed)

        # The budget over the whole time the stream was open: a full bucket, then the rate.
        elapsed = time.monotonic() - stream_opened
        after = metrics()
        state_events = [d for name, d in list(flapper_stream.events)
                        if name == "host_state" and d.get("host") == FLAPPER]
        coalesced = sum(find(after, "fleetps_host_events_coalesced_total", host=FLAPPER))
        bound = EVENTS_PER_MINUTE + EVENTS_PER_MINUTE * elapsed / 60 + 1
        r.note(f"{FLAPPER}: {len(state_events)} host_state events in {elapsed:.1f} s, "
               f"{coalesced:.0f} coalesced: {[d.get('state') for d in state_events]}")
        r.check(f"{FLAPPER}'s host_state events stay within the budget ({EVENTS_PER_MINUTE}/min: "
                f"at most {bound:.1f} in {elapsed:.1f} s)", len(state_events) <= bound,
                f"{len(state_events)} events")
        # The count is exported when the state that replaced them is published (next slot).
        r.check(f"fleetps_host_events_coalesced_total{{host={FLAPPER}}} rose above 0: the agent "
                f"made more state changes than were published",
                coalesced > 0 and len(state_events) + coalesced > bound,
                f"{len(state_events)} published, {coalesced:.0f} coalesced")

        fleet_events = list(fleet_stream.events)
        for host in healthy:
            probes = [d for name, d in fleet_events if name == "probe" and d.get("host") == host]
            changes = [d.get("state") for name, d in fleet_events
                       if name == "host_state" and d.get("host") == host]
            r.check(f"healthy {host}: probe events throughout, no state change, fleetps_up 1, "
                    f"nothing coalesced",
                    len(probes) >= elapsed / 2 and not changes
                    and find(after, "fleetps_up", host=host) == [1]
                    and sum(find(after, "fleetps_host_events_coalesced_total", host=host)) == 0,
                    f"{len(probes)} probe events in {elapsed:.1f} s, changes {changes}, "
                    f"fleetps_up {find(after, 'fleetps_up', host=host)}, coalesced "
                    f"{find(after, 'fleetps_host_events_coalesced_total', host=host)}")
        r.check("the filtered stream carried only the flapping host",
                all(d.get("host") == FLAPPER for name, d in flapper_stream.events if name != "dropped"),
                str({d.get("host") for _, d in flapper_stream.events}))
    except Fatal as error:
        r.check("setup", False, str(error))
    finally:
        for stream in streams:
            stream.close()
        stop_processes(procs)
    return finish_script(r, work)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
