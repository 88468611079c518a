#!/usr/bin/env python3
"""A throwaway etcd cluster for the process-level cluster scenarios (scale-out.md §8.1).

    from etcd_cluster import EtcdCluster
    with EtcdCluster(3) as etcd:
        etcd.endpoints()          # ["http://127.0.0.1:PORT", ...]
        etcd.leader()             # index of the leader, or None
        etcd.kill(i); etcd.stop(i); etcd.cont(i); etcd.restart(i); etcd.stop_all()

    etcd_cluster.py --self-test

The Python twin of tests/support/etcd_cluster.{hpp,cpp}: members of Debian's etcd binary
(/usr/bin/etcd, or $FLEETPS_ETCD) on free 127.0.0.1 ports, client and peer, chosen at run
time; data in a temp dir on /dev/shm when it exists (tmpfs: fsync is free, so no --unsafe
flag). A system etcd on 2379 is never used nor touched. Members are signalled by PID only and
die with this process (PR_SET_PDEATHSIG); leaving the `with` block, or stop_all(), kills and
reaps every member and removes the data, whatever happened in the block.
"""

import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ETCD = os.environ.get("FLEETPS_ETCD", "/usr/bin/etcd")
PR_SET_PDEATHSIG = 1


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def call(endpoint, path, body=None, timeout=2.0):
    """POSTs JSON `body` to etcd's gateway (GET when body is None); the answer's JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(endpoint + path, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read().decode() or "{}")
    except urllib.error.HTTPError as error:
        return json.loads(error.read().decode() or "{}")


def b64(text):
    return base64.b64encode(text.encode()).decode()


class EtcdCluster:
    """`members` etcd members; started and healthy (≤ 20 s) when the constructor returns."""

    def __init__(self, members=3):
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.root = tempfile.mkdtemp(prefix="fleetps-etcd-", dir=base)
        self.token = "fleetps-test-%d-%s" % (os.getpid(), os.path.basename(self.root))
        self.members = []
        for i in range(members):
            self.members.append({"name": "m%d" % i, "client": free_port(), "peer": free_port(),
                                 "proc": None, "stopped": False})
        self.initial_cluster = ",".join(
            "%s=http://127.0.0.1:%d" % (m["name"], m["peer"]) for m in self.members)
        try:
            for m in self.members:
                self._spawn(m, existing=False)
            if not self.wait_healthy(20) or self.wait_for_leader(10) is None:
                raise RuntimeError("etcd cluster did not become healthy:\n" + self.log_tails())
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _spawn(self, m, existing):
        client = "http://127.0.0.1:%d" % m["client"]
        peer = "http://127.0.0.1:%d" % m["peer"]
        args = [ETCD, "--name", m["name"], "--data-dir", os.path.join(self.root, m["name"]),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", self.initial_cluster,
                "--initial-cluster-token", self.token,
                "--initial-cluster-state", "existing" if existing else "new",
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        log = open(os.path.join(self.root, m["name"] + ".log"), "ab")
        m["proc"] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     preexec_fn=_die_with_parent)
        log.close()
        m["stopped"] = False

    def endpoints(self):
        return [self.endpoint(i) for i in range(len(self.members))]

    def endpoint(self, i):
        return "http://127.0.0.1:%d" % self.members[i]["client"]

    def running(self, i):
        return self.members[i]["proc"] is not None

    def pid(self, i):
        proc = self.members[i]["proc"]
        return proc.pid if proc else None

    def _answering(self):
        return [i for i, m in enumerate(self.members) if m["proc"] and not m["stopped"]]

    def leader(self):
        """The leader's index, when every running member answers and agrees; else None."""
        leader_id, ids = None, {}
        for i in self._answering():
            try:
                status = call(self.endpoint(i), "/v3/maintenance/status", {})
            except OSError:
                continue
            ids[status.get("header", {}).get("member_id")] = i
            leader = status.get("leader")
            if not leader or (leader_id is not None and leader != leader_id):
                return None
            leader_id = leader
        return ids.get(leader_id)

    def wait_for_leader(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            leader = self.leader()
            if leader is not None or time.monotonic() >= deadline:
                return leader
            time.sleep(0.05)

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if all(call(self.endpoint(i), "/health").get("health") == "true"
                       for i in self._answering()):
                    return True
            except (OSError, ValueError):
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def kill(self, i):
        """SIGKILL and reap."""
        proc = self.members[i]["proc"]
        if proc is None:
            return
        proc.kill()
        proc.wait()
        self.members[i]["proc"] = None
        self.members[i]["stopped"] = False

    def stop(self, i):
        """SIGSTOP: a frozen member (its sockets accept, nothing answers)."""
        if self.members[i]["proc"]:
            freeze(self.members[i]["proc"].pid)
            self.members[i]["stopped"] = True

    def cont(self, i):
        if self.members[i]["proc"]:
            os.kill(self.members[i]["proc"].pid, signal.SIGCONT)
            self.members[i]["stopped"] = False

    def restart(self, i):
        """Starts member i again on its data dir and ports; waits until it is healthy."""
        self.kill(i)
        self._spawn(self.members[i], existing=True)
        if not self.wait_healthy(20):
            raise RuntimeError("etcd member %d did not restart:\n%s" % (i, self.log_tails()))

    def stop_all(self):
        for i in range(len(self.members)):
            self.kill(i)

    def close(self):
        self.stop_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tails(self):
        tails = []
        for m in self.members:
            try:
                with open(os.path.join(self.root, m["name"] + ".log"), errors="replace") as log:
                    tails.append("--- %s\n%s" % (m["name"], log.read()[-2000:]))
            except OSError:
                pass
        return "\n".join(tails)


def freeze(pid, timeout=2.0):
    """SIGSTOP `pid` and wait until every one of its threads is stopped: kill() returns before
    a thread running on another core has taken the signal, and such a thread can still answer
    a request sent at once (seen with etcd beside another test)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = [open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[0]
                      for tid in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            return  # gone
        if all(state in ("T", "t", "Z", "X") for state in states):
            return
        time.sleep(0.005)


def self_test():
    """Start, write through one member and read through another, kill -9 the leader (a new
    one is elected and the data is still there), freeze and thaw a member, restart the killed
    one, and leave no process behind."""
    with EtcdCluster(3) as etcd:
        assert len(etcd.endpoints()) == 3
        leader = etcd.leader()
        assert leader is not None, "no leader"
        put = call(etcd.endpoint(leader), "/v3/kv/put", {"key": b64("/t/k"), "value": b64("v")})
        assert "error" not in put, put
        follower = (leader + 1) % 3
        got = call(etcd.endpoint(follower), "/v3/kv/range", {"key": b64("/t/k")})
        assert got.get("kvs", [{}])[0].get("value") == b64("v"), got
        pids = [etcd.pid(i) for i in range(3)]

        etcd.kill(leader)
        new_leader = etcd.wait_for_leader(10)
        assert new_leader is not None and new_leader != leader, new_leader
        got = call(etcd.endpoint(new_leader), "/v3/kv/range", {"key": b64("/t/k")})
        assert got.get("kvs"), got

        other = 3 - leader - new_leader
        etcd.stop(other)
        try:
            call(etcd.endpoint(other), "/health", timeout=0.5)
            raise AssertionError("a stopped member answered")
        except OSError:
            pass
        etcd.cont(other)
        etcd.restart(leader)
        pids.append(etcd.pid(leader))
        assert etcd.wait_healthy(10)
        assert etcd.wait_for_leader(10) is not None
        root = etcd.root
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split()[2] == "Z", "etcd %d still runs" % pid
    assert not os.path.exists(root), root
    print("etcd_cluster.py self-test: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        sys.exit(__doc__)
