"""What the process-level cluster tests share (static_cluster_test.py).

    run = ClusterRun("fleetps-etcd-cluster-")
    log = run.start("c1", [fleetps, "run", ...])   # dies with the test
    run.check("name", ok, detail)                  # a PASS or FAIL line
    status, headers, body = get(port, "/api/v1/cluster")
    hosts = local_hosts(port)                      # {host: row} this member runs, or None
    sys.exit(run.finish())                         # stops everything; logs kept on failure
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e_test import Fatal, die_with_parent, wait_until  # noqa: E402


def get(port, path, headers=None, timeout=10, method="GET"):
    """(status, headers, body) of one request to 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def local_hosts(port):
    """{host: row} of the hosts the member on `port` runs itself (scope=local: without it a
    member answers for the whole cluster), or None when it does not answer."""
    try:
        status, _, body = get(port, "/api/v1/hosts?scope=local", timeout=3)
    except OSError:
        return None
    if status != 200:
        return None
    return {h["host"]: h for h in json.loads(body)["data"]["hosts"]}


class ClusterRun:
    """A work directory, the processes a test started, and its PASS/FAIL lines."""

    def __init__(self, prefix):
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.procs = {}
        self.failures = []

    def check(self, name, ok, detail=""):
        print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""),
              flush=True)
        if not ok:
            self.failures.append(name)

    def log(self, name):
        return os.path.join(self.work, name + ".log")

    def start(self, name, argv):
        """Starts `argv` as `name` (output to its log, killed if the test dies); the log path."""
        with open(self.log(name), "w") as out:
            self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                preexec_fn=die_with_parent)
        return self.log(name)

    def start_fleetsim(self, fleetsim, hosts, base_port, control=None):
        """fleetsim with `hosts` linux-procps hosts from `base_port` (its config emitted first,
        control port `control` if given), not waited for; (its state dir, its log path)."""
        sim_dir = os.path.join(self.work, "sim")
        sim_args = ["--hosts", str(hosts), "--base-port", str(base_port),
                    "--dialects", "linux-procps=100"]
        subprocess.run([fleetsim, "--emit-config", sim_dir, "--user", "fleetsim"] + sim_args,
                       check=True, capture_output=True)
        control_args = ["--control", f"127.0.0.1:{control}"] if control else []
        return sim_dir, self.start("fleetsim", [fleetsim, "--state-dir", sim_dir] +
                                   control_args + sim_args)

    @staticmethod
    def wait_fleetsim(sim_log):
        """Raises Fatal unless fleetsim says it is ready within 20 s."""
        if not wait_until(lambda: "fleetsim ready" in open(sim_log).read(), 20, 0.05):
            raise Fatal("fleetsim not ready after 20 s: " + open(sim_log).read()[-2000:])

    def finish(self):
        """Stops every process (SIGTERM, then SIGKILL after 10 s); the exit status."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.failures:
            print(f"logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        print("FAILED: " + ", ".join(self.failures) if self.failures else "OK", flush=True)
        return 1 if self.failures else 0
