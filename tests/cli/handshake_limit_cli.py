#!/usr/bin/env python3
"""`collector.max_concurrent_handshakes` caps handshakes across the whole fleet.

    handshake_limit_cli.py FLEETPS

Six hosts point at one loopback listener that accepts and never sends an SSH banner, so every
connection attempt stays in its handshake until `connect_timeout` (1 s) runs out. An attempt
accepted at time t is therefore certainly still in its handshake until t + 0.8 s (its deadline
started before the accept), so the number of accepts within any 0.8 s window is a lower bound
of the handshakes in flight at its end, immune to how late the listener notices a close. With
`max_concurrent_handshakes: 2` that bound must never exceed 2 (and attempts must continue over
time, so the limit throttles rather than blocks); the control run with the default limit must
reach all 6, which proves the observation can fail. Standard library only; loopback only.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOSTS = 6
RUN_SECONDS = 3.5
SURELY_IN_FLIGHT = 0.8  # seconds after its accept that an attempt is certainly still handshaking


class StallListener:
    """Accepts connections and never writes; records when each was accepted."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.accepts = []
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepts.append(time.monotonic())
            threading.Thread(target=self.hold, args=(conn,), daemon=True).start()

    def hold(self, conn):
        try:
            while conn.recv(4096):  # the client's banner, then EOF when it gives up
                pass
        except OSError:
            pass
        finally:
            conn.close()

    def max_in_flight(self):
        with self.lock:
            times = sorted(self.accepts)
        return max((sum(1 for u in times if t - SURELY_IN_FLIGHT < u <= t) for t in times), default=0)

    def close(self):
        self.stop = True
        self.sock.close()


def run(fleetps, work, limit):
    listener = StallListener()
    key = os.path.join(work, "id_ed25519")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    known = os.path.join(work, "known_hosts")
    open(known, "a").close()
    config = os.path.join(work, f"fleet-{limit}.yaml")
    lines = ["defaults:", "  user: nobody", f"  identity_file: {key}", f"  known_hosts: {known}",
             "  connect_timeout: 1s", "  interval: 60s", "collector:", "  listen: 127.0.0.1:0",
             "  threads: 2"]
    if limit is not None:
        lines.append(f"  max_concurrent_handshakes: {limit}")
    lines.append("hosts:")
    for n in range(1, HOSTS + 1):
        lines += [f"  - name: stall{n}", "    address: 127.0.0.1", f"    port: {listener.port}"]
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(os.path.join(work, f"fleetps-{limit}.log"), "w")
    proc = subprocess.Popen([fleetps, "run", "--config", config], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(RUN_SECONDS)
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = "none: still running 15 s after SIGTERM (killed)"
    listener.close()
    return code, listener.max_in_flight(), len(listener.accepts)


def main():
    fleetps = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory(prefix="fleetps-handshakes-") as work:
        code, max_open, accepted = run(fleetps, work, 2)
        print(f"limit 2: max concurrent handshakes {max_open}, attempts {accepted}, exit {code}")
        if code != 0:
            failures.append(f"limit 2: fleetps exited {code}")
        if max_open > 2:
            failures.append(f"limit 2: {max_open} handshakes in flight at once")
        if accepted < 3:
            failures.append(f"limit 2: only {accepted} attempts in {RUN_SECONDS} s (throttled to a halt?)")
        code, max_open, accepted = run(fleetps, work, None)
        print(f"default limit: max concurrent handshakes {max_open}, attempts {accepted}, exit {code}")
        if max_open < HOSTS:
            failures.append(f"default limit: only {max_open} of {HOSTS} handshakes at once "
                            "(the observation cannot tell a limit from none)")
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
