#!/usr/bin/env python3
"""`fleetps run` speaks systemd's notification protocol (Type=notify), tested on a notify socket
of our own as systemd would hand it over ($NOTIFY_SOCKET):
- READY=1 comes from the main process (NotifyAccess=main) and only once /-/ready says ready;
- a SIGHUP reload is RELOADING=1 (with MONOTONIC_USEC) then READY=1, also when the new file is
  invalid and the running config stays;
- SIGTERM sends STOPPING=1 and the collector exits 0.
One host on a closed loopback port: readiness does not wait for hosts to be up.

    sd_notify_test.py FLEETPS
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(work, port, closed_port, valid=True):
    text = f"""defaults:
  user: nobody
  identity_file: {work}/id
  known_hosts: {work}/known_hosts
  connect_timeout: 1s
collector:
  listen: 127.0.0.1:{port}
  threads: 2
hosts:
  - name: closed
    address: 127.0.0.1
    port: {closed_port}
"""
    return text if valid else text + "  - name: closed\n"  # a duplicate host: invalid


class Notifications:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def next(self, timeout):
        """The next datagram as (fields dict, sender pid), or None after `timeout` s."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _, _ = struct.unpack("iII", payload[:12])
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        return fields, pid


def ready_status(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def main():
    fleetps = os.path.realpath(sys.argv[1])
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)
            print("FAIL:", message)

    with tempfile.TemporaryDirectory(prefix="fleetps-notify-") as work:
        port, closed_port = free_port(), free_port()
        config = os.path.join(work, "fleet.yaml")
        with open(config, "w") as f:
            f.write(config_text(work, port, closed_port))
        open(os.path.join(work, "known_hosts"), "w").close()
        notify = Notifications(os.path.join(work, "notify"))
        log = open(os.path.join(work, "run.log"), "w+")
        env = dict(os.environ, NOTIFY_SOCKET=os.path.join(work, "notify"))
        proc = subprocess.Popen([fleetps, "run", "--config", config], stdout=log, stderr=log, env=env)
        try:
            got = notify.next(15)
            check(got is not None, "no notification within 15 s of start")
            if got:
                fields, pid = got
                status_at_ready = ready_status(port)  # at once: READY=1 must mean ready
                check(fields.get("READY") == "1", f"first notification is not READY=1: {fields}")
                check(status_at_ready == 200, f"/-/ready answered {status_at_ready} when READY=1 came")
                check(pid == proc.pid, f"READY=1 came from pid {pid}, not the main process {proc.pid}")
                check("STATUS" in fields, f"READY=1 without STATUS=: {fields}")

            for valid in (True, False):
                with open(config, "w") as f:
                    f.write(config_text(work, port, closed_port, valid))
                proc.send_signal(signal.SIGHUP)
                what = "valid" if valid else "invalid"
                first, second = notify.next(10), notify.next(10)
                check(first is not None and first[0].get("RELOADING") == "1",
                      f"{what} reload: first notification {first}, not RELOADING=1")
                check(first is not None and first[0].get("MONOTONIC_USEC", "").isdigit(),
                      f"{what} reload: RELOADING=1 without MONOTONIC_USEC")
                check(second is not None and second[0].get("READY") == "1",
                      f"{what} reload: then {second}, not READY=1")
                check(ready_status(port) == 200, f"not ready after the {what} reload")

            proc.send_signal(signal.SIGTERM)
            stopping = notify.next(10)
            check(stopping is not None and stopping[0].get("STOPPING") == "1",
                  f"SIGTERM: notification {stopping}, not STOPPING=1")
            code = proc.wait(timeout=15)
            check(code == 0, f"exit status {code} after SIGTERM")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if failures:
                log.seek(0)
                print("--- fleetps log\n" + log.read())
    if failures:
        sys.exit(1)
    print("ok: READY=1 once ready, RELOADING=1/READY=1 per reload, STOPPING=1 on SIGTERM")


if __name__ == "__main__":
    main()
