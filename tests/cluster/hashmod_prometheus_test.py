#!/usr/bin/env python3
"""fleetps' HashMod equals the real Prometheus server's `hashmod` relabelling.

    hashmod_prometheus_test.py HASHMOD_PRINT PROMETHEUS

2,000 static targets (host names of several shapes) in a file_sd file; a job relabels
__address__ with `hashmod` (modulus 7) and `keep`s shard 3. Prometheus' /api/v1/targets lists
the targets it kept as active and the rest as dropped; the kept set must be exactly the names
for which fleetps' HashMod (cluster_hashmod_print) gives 3, i.e. what /sd?shard=3&of=7 lists.
The scrape interval is an hour, so nothing is scraped. Port 32700; loopback only; about 5 s.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e_test import Fatal, block_is_free, die_with_parent, wait_until  # noqa: E402

PORT = 32700
MODULUS, SHARD = 7, 3


def names():
    out = [f"web{i:04d}" for i in range(1000)]
    out += [f"db-{i}.dc{i % 5}.example.org" for i in range(600)]
    out += [f"10.{i // 250}.{i % 250}.7" for i in range(300)]
    out += [f"h_{i}" for i in range(100)]
    return out


def main():
    hashmod_print, prometheus = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="fleetps-hashmod-")
    proc = None
    try:
        if not block_is_free(PORT, 1):
            raise Fatal(f"port {PORT} is in use")
        targets = names()
        printed = subprocess.run([hashmod_print, str(MODULUS)], input="\n".join(targets) + "\n",
                                 capture_output=True, text=True, check=True).stdout
        ours = {line.split()[0] for line in printed.splitlines() if line.split()[1] == str(SHARD)}
        with open(os.path.join(work, "targets.json"), "w") as f:
            json.dump([{"targets": targets, "labels": {}}], f)
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(f"""global: {{scrape_interval: 1h, scrape_timeout: 10s}}
scrape_configs:
  - job_name: shard
    file_sd_configs: [{{files: ["{work}/targets.json"]}}]
    relabel_configs:
      - {{source_labels: [__address__], modulus: {MODULUS}, target_label: __tmp_hash, action: hashmod}}
      - {{source_labels: [__tmp_hash], regex: "{SHARD}", action: keep}}
""")
        log = open(os.path.join(work, "prometheus.log"), "w")
        proc = subprocess.Popen([prometheus, f"--config.file={work}/prometheus.yml",
                                 f"--storage.tsdb.path={work}/data",
                                 f"--web.listen-address=127.0.0.1:{PORT}", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)

        def kept():
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{PORT}/api/v1/targets?state=any", timeout=2) as r:
                    data = json.load(r)["data"]
            except OSError:
                return None
            active = {t["discoveredLabels"]["__address__"] for t in data["activeTargets"]}
            dropped = data.get("droppedTargets", [])
            if len(active) + len(dropped) < len(targets):
                return None
            return active
        theirs = wait_until(kept, 30, 0.25)
        if theirs is None:
            raise Fatal("Prometheus listed no targets in 30 s: " +
                        open(os.path.join(work, "prometheus.log")).read()[-2000:])
        only_ours, only_theirs = sorted(ours - theirs), sorted(theirs - ours)
        print(f"kept by Prometheus: {len(theirs)} of {len(targets)}; by fleetps: {len(ours)}")
        ok = not only_ours and not only_theirs and 0 < len(ours) < len(targets)
        print("OK" if ok else f"FAILED: only fleetps {only_ours[:5]}, only Prometheus "
              f"{only_theirs[:5]}")
        return 0 if ok else 1
    except Fatal as e:
        print(f"FATAL {e}")
        return 1
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
