#!/usr/bin/env python3
"""collector.web_config_file end to end: TLS and basic auth on the real `fleetps run`.

    web_config_e2e_test.py FLEETPS FLEETSIM PROMETHEUS

A throwaway CA, server and client certificates made with the openssl CLI; a bcrypt hash made by
libxcrypt (python3 crypt); a two-host fleetsim; `fleetps run` with a web config. Checks, with
curl, the CLI and a real Prometheus: 401 without or with wrong credentials, 200 with them, a 400
for plain HTTP to the TLS port, `up` 1 for a scrape job with `scheme: https`, `tls_config.ca_file`
and `basic_auth`, `up` 0 for the same job with a wrong password; then a SIGHUP reload to
RequireAndVerifyClientCert with client_allowed_sans (a client without a certificate, or with one
without the SAN, is refused), and a reload with an invalid web config that keeps the running one.
Neither the password nor its hash may appear in the collector's log. Loopback only; no root.
Exit status 1 when a check failed; the work directory is kept then.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import warnings

import probe_channel

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # libxcrypt: the same bcrypt the collector verifies with

PASSWORD = "e2e-Secret-4711"
PORT_BLOCKS = [17100, 17300, 17500, 17700]


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, name, ok, detail=""):
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f": {detail}"), flush=True)
        if not ok:
            self.failed.append(name)


def free_block(span=10):
    for base in PORT_BLOCKS:
        busy = subprocess.run(["ss", "-Htan", f"sport >= :{base} and sport <= :{base + span}"],
                              capture_output=True, text=True, check=True).stdout
        if not busy.strip():
            return base
    raise SystemExit(f"no free block of ports among {PORT_BLOCKS}")


def wait_until(predicate, seconds, step=0.2):
    end = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(step)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(work):
    """A CA, a server certificate for localhost/127.0.0.1, two client certificates."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=fleetps e2e CA", "-keyout", "ca.key",
            "-out", "ca.crt", cwd=work)
    for name, san in [("server", "DNS:localhost,IP:127.0.0.1"),
                      ("client", "DNS:prometheus.e2e"), ("stranger", "DNS:stranger.e2e")]:
        openssl("req", *ec, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                cwd=work)
        with open(os.path.join(work, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
                cwd=work)


def curl(url, *extra):
    """(HTTP status or 0 when no answer, headers and body, curl's exit code)."""
    out = subprocess.run(["curl", "-sS", "-i", "--max-time", "5", *extra, url],
                         capture_output=True, text=True)
    status = 0
    if out.stdout.startswith("HTTP/"):
        status = int(out.stdout.split()[1])
    return status, out.stdout, out.returncode


def main():
    fleetps, fleetsim, prometheus = sys.argv[1:4]
    checks = Checks()
    work = tempfile.mkdtemp(prefix="fleetps-web-e2e-")
    procs = []
    base = free_block()
    sim_port, sim_control, listen, prom_port = base, base + 5, base + 6, base + 7

    def start(argv, log):
        with open(os.path.join(work, log), "w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=work)
        procs.append(proc)
        return proc

    def collector_log():
        with open(os.path.join(work, "collector.log")) as f:
            return f.read()

    try:
        make_certificates(work)
        password_hash = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**10))
        web_config = os.path.join(work, "web.yml")

        def write_web(text):
            with open(web_config + ".tmp", "w") as f:
                f.write(text)
            os.replace(web_config + ".tmp", web_config)

        tls_and_auth = ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                        f"basic_auth_users:\n  prometheus: {password_hash}\n"
                        "http_server_config:\n  headers: {X-Content-Type-Options: nosniff}\n")
        write_web(tls_and_auth)
        sim_dir = os.path.join(work, "sim")
        subprocess.run([fleetsim, "--emit-config", sim_dir, "--hosts", "2", "--base-port",
                        str(sim_port), "--dialects", "linux-procps=100", "--user", "fleetsim"]
                       + probe_channel.emit_args(),
                       check=True, capture_output=True)
        config = os.path.join(work, "fleet.yaml")
        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            inventory = f.read()
        with open(config, "w") as f:
            # web_config_file is relative: resolved against fleet.yaml's directory.
            f.write(f"collector:\n  listen: 127.0.0.1:{listen}\n  web_config_file: web.yml\n"
                    + inventory)
        check = subprocess.run([fleetps, "check-config", config], capture_output=True, text=True)
        checks.check("check-config accepts the inventory and its web config", check.returncode == 0,
                     check.stderr)

        sim = start([fleetsim, "--state-dir", sim_dir, "--hosts", "2", "--base-port", str(sim_port),
                     "--dialects", "linux-procps=100", "--control", f"127.0.0.1:{sim_control}"],
                    "fleetsim.log")
        collector = start([fleetps, "run", "--config", config], "collector.log")
        if not wait_until(lambda: "event=start" in collector_log() or collector.poll() is not None,
                          15):
            raise SystemExit("the collector did not start in 15 s")
        checks.check("the start line says tls=on basic_auth=on",
                     "tls=on basic_auth=on" in collector_log(), collector_log()[-1500:])
        https = f"https://localhost:{listen}"
        ca = ["--cacert", os.path.join(work, "ca.crt")]

        status, answer, _ = curl(https + "/metrics", *ca)
        checks.check("https without credentials is 401 with WWW-Authenticate",
                     status == 401 and 'www-authenticate: basic realm="fleetps"' in answer.lower(),
                     answer[:300])
        status, answer, _ = curl(https + "/metrics", *ca, "-u", "prometheus:wrong")
        checks.check("https with a wrong password is 401", status == 401, answer[:300])
        status, answer, _ = curl(https + "/metrics", *ca, "-u", f"prometheus:{PASSWORD}")
        checks.check("https with the password is 200, with the configured header",
                     status == 200 and "fleetps_hosts 2" in answer
                     and "x-content-type-options: nosniff" in answer.lower(), answer[:300])
        status, answer, _ = curl(f"http://localhost:{listen}/metrics")
        checks.check("plain HTTP to the TLS port is a 400 that says to use https",
                     status == 400 and "use https://" in answer, answer[:300])
        status, answer, code = curl(https + "/metrics", "-u", f"prometheus:{PASSWORD}")
        checks.check("an untrusted server certificate fails the client's handshake",
                     status == 0 and code == 60, f"curl exit {code}")

        env = dict(os.environ, FLEETPS_PASSWORD=PASSWORD)
        cli = subprocess.run([fleetps, "hosts", "--server", https, "--ca-file", "ca.crt", "--user",
                              "prometheus", "-o", "json"], capture_output=True, text=True, env=env,
                             cwd=work)
        checks.check("fleetps hosts over https with --ca-file and --user",
                     cli.returncode == 0 and "sim00001" in cli.stdout, cli.stderr)
        cli = subprocess.run([fleetps, "hosts", "--server", https], capture_output=True,
                             text=True, env=env, cwd=work)
        checks.check("fleetps hosts without --ca-file says the certificate is not trusted",
                     cli.returncode == 1 and "not trusted" in cli.stderr, cli.stderr)
        cli = subprocess.run([fleetps, "hosts", "--server", https, "--ca-file", "ca.crt", "--user",
                              "prometheus"], capture_output=True, text=True, cwd=work,
                             env=dict(os.environ, FLEETPS_PASSWORD="wrong"))
        checks.check("fleetps hosts with a wrong password names the 401",
                     cli.returncode == 1 and "refused the credentials" in cli.stderr, cli.stderr)

        # A real Prometheus: the right and the wrong password as two jobs of one server.
        prom_dir = os.path.join(work, "prometheus")
        os.mkdir(prom_dir)
        with open(os.path.join(prom_dir, "password"), "w") as f:
            f.write(PASSWORD)
        jobs = []
        for job, auth in [("right", f"password_file: {prom_dir}/password"),
                          ("wrong", "password: not-it")]:
            jobs.append(f"""  - job_name: {job}
    scheme: https
    tls_config: {{ca_file: {work}/ca.crt}}
    basic_auth: {{username: prometheus, {auth}}}
    static_configs: [{{targets: ["localhost:{listen}"]}}]
""")
        with open(os.path.join(prom_dir, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n"
                    + "".join(jobs))
        start([prometheus, f"--config.file={prom_dir}/prometheus.yml",
               f"--storage.tsdb.path={prom_dir}/data", f"--web.listen-address=127.0.0.1:{prom_port}"],
              "prometheus.log")

        def up_by_job():
            query = urllib.parse.urlencode({"query": "up"})
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{prom_port}/api/v1/query?{query}", timeout=2) as reply:
                    result = json.load(reply)["data"]["result"]
            except OSError:
                return None
            up = {r["metric"]["job"]: r["value"][1] for r in result}
            return up if len(up) == 2 else None

        up = wait_until(up_by_job, 30)
        checks.check("Prometheus over https with basic_auth: up 1", bool(up) and up["right"] == "1",
                     f"up by job: {up}")
        checks.check("Prometheus with a wrong password: up 0", bool(up) and up["wrong"] == "0",
                     f"up by job: {up}")
        status, answer, _ = curl(https + "/metrics", *ca, "-u", f"prometheus:{PASSWORD}")
        failures = {line.split('"')[1]: float(line.split()[-1]) for line in answer.splitlines()
                    if line.startswith("fleetps_http_auth_failures_total{")}
        checks.check("the refusals are counted by reason",
                     failures.get("bad_credentials", 0) >= 3 and failures.get("no_credentials", 0) >= 1
                     and failures.get("tls_handshake", 0) >= 2, str(failures))

        # SIGHUP: client certificates required and verified, only the Prometheus client's SAN.
        reloads = collector_log().count("event=config_reloaded")
        write_web("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                  "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
                  "  client_allowed_sans: [prometheus.e2e]\n"
                  "  min_version: TLS13\n")
        collector.send_signal(signal.SIGHUP)
        checks.check("a SIGHUP reload applies the new web config",
                     wait_until(lambda: collector_log().count("event=config_reloaded") > reloads, 10),
                     collector_log()[-1500:])
        status, _, code = curl(https + "/metrics", *ca)
        checks.check("a client certificate required and absent is refused", status == 0,
                     f"HTTP {status}, curl exit {code}")
        client = ["--cert", os.path.join(work, "client.crt"), "--key", os.path.join(work, "client.key")]
        status, answer, _ = curl(https + "/metrics", *ca, *client)
        checks.check("a client certificate with an allowed SAN gets 200 (no basic auth left)",
                     status == 200, answer[:300])
        stranger = ["--cert", os.path.join(work, "stranger.crt"), "--key",
                    os.path.join(work, "stranger.key")]
        status, _, code = curl(https + "/metrics", *ca, *stranger)
        checks.check("a client certificate without an allowed SAN is refused", status == 0,
                     f"HTTP {status}, curl exit {code}")

        # An invalid web config (a password where its hash belongs): the running one stays.
        failed = collector_log().count("event=config_reload_failed")
        write_web(f"basic_auth_users:\n  prometheus: {PASSWORD}\n")
        collector.send_signal(signal.SIGHUP)
        checks.check("an invalid web config fails the reload at its position",
                     wait_until(lambda: "web.yml:2:15: the password of" in collector_log(), 10),
                     collector_log()[-1500:])
        checks.check("one failure logged", collector_log().count("event=config_reload_failed") > failed)
        status, answer, _ = curl(https + "/metrics", *ca, *client)
        checks.check("after the failed reload the previous web config still serves", status == 200,
                     answer[:300])
        log = collector_log()
        checks.check("neither the password nor its hash is ever logged",
                     PASSWORD not in log and password_hash not in log and "$2b$" not in log)
        checks.check("fleetsim still running", sim.poll() is None)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    if checks.failed:
        print(f"{len(checks.failed)} checks failed; logs kept in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
