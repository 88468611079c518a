#!/usr/bin/env python3
"""The web UI in a real browser (issue 19 item 3): headless Chromium driven over the DevTools
protocol against the real collector, fleetsim and one real sshd host.

    webui_e2e_test.py FLEETPS FLEETSIM SOURCE_DIR ARTIFACT_DIR

Six fleetsim hosts (sim00002 serves another host key, sim00003 refuses connections) and one real
OpenSSH host on this machine (scripts/testhost), where a process runs whose comm is `<script>x`
and whose argv holds HTML that would load from another origin (127.0.0.2) and run script if it
were not escaped. Checks:
- `/`: the problem hosts come first (hostkey_changed before backoff before ready), the counts,
  the filter box narrows the table as one types (JavaScript, through /api/v1/hosts) and the
  query-parameter form does the same with JavaScript disabled;
- `/hosts/sim00002` and `/hosts/sim00003` without JavaScript: their earlier state changes
  (server-rendered; the changed host key, the refused connection), the same in
  `/api/v1/hosts/sim00003`;
- `/hosts/real01`: process rows, the hostile name shown as text (no element made of it, no script
  run), the selector box; a bad selector shows its position;
- `/query`: the folded table (the ready fleetsim hosts share pid 1: `sim[00001,00004-00006]`);
- every request the pages make goes to the collector's origin (Network events), no JavaScript
  error, no CSP violation;
- screenshots of the three pages under ARTIFACT_DIR (paths printed).
Bounded: about 20 s. Standard library only (a minimal WebSocket client below); must run as root
(testhost creates the user and starts sshd).
"""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_channel  # noqa: E402
from e2e_test import (Fatal, Report, block_is_free, die_with_parent, finish_work_dir,  # noqa: E402
                      http, start_testhost, stop_processes, wait_until)

PORT_BLOCKS = [18600, 18700, 18800, 18900, 19120]
BLOCK_SPAN = 40  # fleetsim B..B+5, collector B+20, Chromium's DevTools B+21
SIM_HOSTS = 6
MARK = "webui-e2e"
HOSTILE_COMM = b"<script>x"
# Unescaped, this would make an <img> that loads from another origin and runs script.
HOSTILE_ARGV0 = (b"/opt/" + MARK.encode() + b' "><img src="http://127.0.0.2:9/x" '
                 b'onerror="window.__pwned=1"><script>window.__pwned=2</script>\xff\x1b[2J')


class WebSocket:
    """Just enough RFC 6455 for the DevTools protocol: text frames, client-masked."""

    def __init__(self, url, timeout=30):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise Fatal("DevTools closed the WebSocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise Fatal(f"DevTools refused the WebSocket: {head[:200]!r}")

    def send(self, text):
        payload = text.encode()
        header = bytes([0x81])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise Fatal("DevTools closed the WebSocket")
            data += chunk
        return data

    def recv(self):
        message = b""
        while True:
            first, second = self._exact(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise Fatal("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):  # ping/pong: not sent by DevTools in practice
                continue
            message += payload
            if first & 0x80:
                return message.decode()


class Browser:
    """One headless Chromium page over the DevTools protocol; records its events."""

    def __init__(self, port, profile, log):
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-extensions",
             "--window-size=1400,1000", f"--remote-debugging-port={port}",
             "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}", "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent)
        def page_target():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                return pages[0]["webSocketDebuggerUrl"] if pages else None
            except OSError:
                return None
        url = wait_until(page_target, 20, 0.2)
        if not url:
            raise Fatal("Chromium's DevTools endpoint did not come up in 20 s")
        self.ws = WebSocket(url)
        self.next_id = 0
        self.events = []
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(domain + ".enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise Fatal(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method, since, deadline_s=15):
        """The first `method` event from index `since` of the events on."""
        for message in self.events[since:]:
            if message["method"] == method:
                return message
        end = time.monotonic() + deadline_s
        self.ws.sock.settimeout(deadline_s)
        while time.monotonic() < end:
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message
        raise Fatal(f"no {method} within {deadline_s} s")

    def open(self, url):
        mark = len(self.events)
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired", mark)

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise Fatal(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def poll(self, expression, deadline_s=10):
        return wait_until(lambda: self.js(expression), deadline_s, 0.2)

    def html(self):
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        return self.call("DOM.getOuterHTML", nodeId=root)["outerHTML"]

    def screenshot(self, path):
        """The page from its top, at most 3000 px of it (a host lists hundreds of rows)."""
        size = self.js("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], 3000), "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip=clip)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))
        print(f"screenshot: {path}", flush=True)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Checks(Report):
    """Report whose details may be any value (shown as text)."""

    def check(self, name, ok, detail=""):
        return super().check(name, ok, detail if isinstance(detail, str) else repr(detail))


# The bad selector's page: its 400 is the one network error the browser may log.
EXPECTED_400 = "/hosts/real01?q=" + urllib.parse.quote("{rsz>1}")
ROWS = "Array.from(document.querySelectorAll('#hosts tr td:first-child')).map(t => t.textContent)"


class WebUiTest:
    def __init__(self, fleetps, fleetsim, source, artifacts):
        self.fleetps, self.fleetsim, self.source = fleetps, fleetsim, source
        self.artifacts = artifacts
        self.report = Checks()
        self.procs = []
        self.work = tempfile.mkdtemp(prefix="fleetps-webui-e2e-")
        os.chmod(self.work, 0o755)  # the login user reads authorized_keys below it
        self.testhost = os.path.join(source, "scripts", "testhost")
        self.testhost_dir = os.path.join(self.work, "sshd")

    def start(self, name, argv, log, **kwargs):
        out = open(log, "w")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, **kwargs)
        self.procs.append((name, proc))
        return proc

    def setup(self):
        base = next((b for b in PORT_BLOCKS if block_is_free(b, BLOCK_SPAN)), None)
        if base is None:
            raise Fatal(f"no free block of {BLOCK_SPAN} ports among {PORT_BLOCKS}")
        self.url = f"http://127.0.0.1:{base + 20}"
        self.devtools_port = base + 21
        # fleetsim: sim00002 serves another host key (strict known_hosts: hostkey_mismatch),
        # sim00003 refuses connections (backoff).
        sim_dir = os.path.join(self.work, "sim")
        sim_args = ["--hosts", str(SIM_HOSTS), "--base-port", str(base),
                    "--fault", "2=change_host_key", "--fault", "3=refuse"]
        subprocess.run([self.fleetsim, "--emit-config", sim_dir, "--user", "fleetsim"] + sim_args
                       + probe_channel.emit_args(), check=True, capture_output=True)
        sim_log = os.path.join(self.work, "fleetsim.log")
        self.start("fleetsim", [self.fleetsim, "--state-dir", sim_dir] + sim_args, sim_log)
        if not wait_until(lambda: "fleetsim ready" in open(sim_log).read(), 20, 0.05):
            raise Fatal("fleetsim not ready after 20 s: " + open(sim_log).read()[-2000:])
        # The real host, and the hostile process it will list.
        env = start_testhost(self.testhost, self.testhost_dir, ["--server", "sshd", "--user",
                                                                    "fleetps-e2e-ui", "--shell", "/bin/sh"])
        path = os.path.join(os.fsencode(self.work), HOSTILE_COMM)
        shutil.copy("/bin/sleep", path)
        self.procs.append(("hostile", subprocess.Popen(
            [HOSTILE_ARGV0, b"120"], executable=path, cwd="/", stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)))
        with open(os.path.join(sim_dir, "fleet.yaml")) as f:
            sim_config = f.read()
        # The emitted inventory plus the real host (its own user, key and known_hosts).
        sim_hosts = sim_config[sim_config.index("\nhosts:\n") + len("\nhosts:"):]
        if "\nprocess_names:" in sim_hosts:
            sim_hosts = sim_hosts[:sim_hosts.index("\nprocess_names:")]
        config = os.path.join(self.work, "fleet.yaml")
        with open(config, "w") as f:
            f.write("\n".join([
                "defaults:", "  user: fleetsim",
                f"  identity_file: {os.path.join(sim_dir, 'id_ed25519')}",
                f"  known_hosts: {os.path.join(sim_dir, 'known_hosts')}",
                "  host_key_policy: strict", "  interval: 2s", "  probe_timeout: 1500ms",
                *probe_channel.defaults_lines(),
                "collector:", f"  listen: 127.0.0.1:{base + 20}",
                "hosts:" + sim_hosts.rstrip("\n"),
                "  - name: real01", "    address: 127.0.0.1", f"    port: {env['FLEETPS_TEST_PORT']}",
                f"    user: {env['FLEETPS_TEST_USER']}",
                f"    identity_file: {env['FLEETPS_TEST_IDENTITY']}",
                f"    known_hosts: {env['FLEETPS_TEST_KNOWN_HOSTS']}",
                "    labels: {role: real}",
            ]) + "\n")
        self.collector_log = os.path.join(self.work, "collector.log")
        self.collector = self.start("collector", [self.fleetps, "run", "--config", config],
                                    self.collector_log)

        def settled():
            if self.collector.poll() is not None:
                raise Fatal(f"fleetps run exited with {self.collector.returncode}: "
                            + open(self.collector_log).read()[-2000:])
            try:
                status, body = http(self.url + "/api/v1/hosts", timeout=2)
            except OSError:
                return False
            if status != 200:
                return False
            hosts = {h["host"]: h for h in json.loads(body)["data"]["hosts"]}
            return (hosts.get("sim00002", {}).get("ui_state") == "hostkey_changed"
                    and hosts.get("sim00003", {}).get("ui_state") == "backoff"
                    and all(hosts.get(n, {}).get("processes") for n in
                            ["real01", "sim00001", "sim00004", "sim00005", "sim00006"]))
        if not wait_until(settled, 30, 0.3):
            raise Fatal("the fleet did not settle in 30 s: "
                        + str(http(self.url + "/api/v1/hosts", timeout=5)[1])[:3000])

    def run(self):
        r = self.report
        browser = None
        try:
            self.setup()
            os.makedirs(self.artifacts, exist_ok=True)
            profile = os.path.join(self.work, "chromium")
            browser = Browser(self.devtools_port, profile,
                              open(os.path.join(self.work, "chromium.log"), "w"))
            origin = self.url

            # --- the fleet, with JavaScript ---
            browser.open(origin + "/")
            rows = browser.js(ROWS)
            r.check("/ lists every host", len(rows) == SIM_HOSTS + 1, rows)
            r.check("/ shows problems first: hostkey_changed, then backoff, then ready",
                    rows[:2] == ["sim00002", "sim00003"], rows)
            states = browser.js("Array.from(document.querySelectorAll('#hosts td.state'))"
                                ".map(t => t.firstChild.textContent)")
            r.check("/ says host key changed, not a refused login",
                    states[:2] == ["hostkey_changed", "backoff"], states)
            counts = browser.js("Object.fromEntries(Array.from(document.querySelectorAll("
                                "'.counts a[data-state]')).map(a => [a.dataset.state, "
                                "a.querySelector('.n').textContent]))")
            r.check("/ counts hosts per state",
                    counts.get("ready") == "5" and counts.get("hostkey_changed") == "1"
                    and counts.get("backoff") == "1", counts)
            live = browser.poll("document.getElementById('live').textContent.startsWith('live')", 8)
            r.check("/ keeps itself live from /api/v1/hosts", bool(live))
            browser.screenshot(os.path.join(self.artifacts, "fleet.png"))
            browser.js("document.querySelector('input[name=text]').focus()")
            browser.call("Input.insertText", text="sim0000")
            filtered = browser.poll(f"(r => r.length === {SIM_HOSTS} && r) ({ROWS})", 8)
            r.check("typing into the filter box narrows the table without a reload",
                    filtered and "real01" not in filtered, browser.js(ROWS))
            browser.call("Input.insertText", text="4")
            only = browser.poll(f"(r => r.length === 1 && r) ({ROWS})", 8)
            r.check("the filter box finds one host", only == ["sim00004"], browser.js(ROWS))
            r.check("the filter is in the address bar (a link that works without JavaScript)",
                    browser.js("location.search") == "?text=sim00004",
                    browser.js("location.search"))

            # --- the fleet, without JavaScript: the query-parameter form ---
            browser.call("Emulation.setScriptExecutionDisabled", value=True)
            browser.open(origin + "/?state=problem")
            html = browser.html()
            r.check("without JavaScript, /?state=problem lists only the problem hosts",
                    "/hosts/sim00002" in html and "/hosts/sim00003" in html
                    and "/hosts/sim00001" not in html and "/hosts/real01" not in html)
            browser.open(origin + "/?text=real&sort=-host")
            html = browser.html()
            r.check("without JavaScript, /?text=real lists real01 only",
                    "/hosts/real01" in html and "/hosts/sim00001" not in html)
            # A down host's page lists what happened before it opened, server-rendered.
            for host, to, words in [("sim00002", "hostkey_changed", "the host key changed"),
                                    ("sim00003", "backoff", "the TCP connection was refused")]:
                browser.open(origin + "/hosts/" + host)
                changes = browser.js("Array.from(document.querySelectorAll('#events li.change'))"
                                     ".map(li => li.textContent)")
                r.check(f"without JavaScript, /hosts/{host} lists its earlier state changes "
                        f"(to {to}: {words})",
                        changes and any(f"\u2192 {to} " in c and words in c for c in changes),
                        changes)
            status, body = http(origin + "/api/v1/hosts/sim00003", timeout=5)
            changes = json.loads(body)["data"]["state_changes"] if status == 200 else []
            r.check("/api/v1/hosts/sim00003 lists the same state changes, newest first",
                    changes and changes[0]["to"] == "backoff"
                    and changes[0]["reason"] == "connect_refused"
                    and all(a["time_unix"] >= b["time_unix"] for a, b in zip(changes, changes[1:])),
                    changes[:3])
            browser.call("Emulation.setScriptExecutionDisabled", value=False)

            # --- one host ---
            browser.open(origin + "/hosts/real01")
            processes = browser.js("document.querySelectorAll('#processes tr').length")
            r.check("/hosts/real01 lists its process rows", processes and processes > 3, processes)
            hostile = browser.js("Array.from(document.querySelectorAll('#processes td.comm'))"
                                 ".map(t => t.textContent).filter(t => t.includes('script'))")
            r.check("the hostile comm is shown as text", hostile == [HOSTILE_COMM.decode()],
                    hostile)
            r.check("the hostile argv made no element and ran no script",
                    browser.js("document.images.length === 0 && document.scripts.length === 1 "
                               "&& window.__pwned === undefined"))
            facts = browser.js("document.querySelector('dl.facts').textContent")
            r.check("/hosts/real01 shows the host key and the negotiated algorithms",
                    "SHA256:" in facts and "key exchange" in facts and "cipher" in facts, facts)
            r.check("/hosts/real01 lists listening sockets (its own sshd)",
                    browser.js("document.querySelectorAll('#sockets tr').length") > 0)
            browser.screenshot(os.path.join(self.artifacts, "host.png"))
            browser.js("document.querySelector('input[name=q]').value = '{comm=\"<script>x\"}'")
            mark = len(browser.events)
            browser.js("document.querySelector('input[name=q]').form.submit()")
            browser.wait_event("Page.loadEventFired", mark)
            rows = browser.js("Array.from(document.querySelectorAll('#processes td.comm'))"
                              ".map(t => t.textContent)")
            r.check("the selector box filters the host's processes", rows == ["<script>x"], rows)
            browser.open(origin + EXPECTED_400)
            error = browser.js("document.querySelector('.error').textContent")
            r.check("a bad selector shows its position", "1:2: unknown field" in error, error)
            status, _ = http(origin + "/hosts/nonesuch", timeout=5)
            r.check("an unknown host is a 404 page", status == 404, status)
            browser.open(origin + "/hosts/sim00002")
            facts = browser.js("document.querySelector('dl.facts').textContent")
            r.check("/hosts/sim00002 explains the changed host key", "host key changed" in facts,
                    facts)
            r.check("with JavaScript, the live events go above the earlier state changes",
                    browser.js("document.querySelectorAll('#events li.change').length") > 0)

            # --- the query page ---
            browser.open(origin + "/query?q=" + urllib.parse.quote('{host=~"sim.*", pid=1}'))
            hosts = browser.js("Array.from(document.querySelectorAll('#rows tr td:first-child'))"
                               ".map(t => t.textContent)")
            r.check("/query folds the hosts as the CLI does",
                    any(h.startswith("sim[") for h in hosts), hosts)
            browser.screenshot(os.path.join(self.artifacts, "query.png"))

            # --- what the browser saw along the way ---
            urls = [e["params"]["request"]["url"] for e in browser.events
                    if e["method"] == "Network.requestWillBeSent"]
            foreign = [u for u in urls if not u.startswith(origin + "/")]
            paths = sorted({urllib.parse.urlsplit(u).path for u in urls})
            r.check("every request went to the collector's origin",
                    "/api/v1/hosts" in paths and "/api/v1/events" in paths and not foreign,
                    f"foreign: {foreign}, paths: {paths}")
            errors = [e["params"] for e in browser.events
                      if e["method"] in ("Runtime.exceptionThrown",)
                      or (e["method"] == "Log.entryAdded"
                          and e["params"]["entry"].get("level") == "error"
                          and not e["params"]["entry"].get("url", "").endswith(
                              ("/favicon.ico", EXPECTED_400)))]
            r.check("no JavaScript error or CSP violation", not errors, errors[:3])
        except Fatal as e:
            r.check("setup and browser session", False, str(e))
        finally:
            if browser:
                browser.close()
            stop_processes(self.procs)
            subprocess.run([self.testhost, "stop", self.testhost_dir], capture_output=True)
        ok = r.summary()
        if not ok:
            print(open(self.collector_log).read()[-3000:] if os.path.exists(
                getattr(self, "collector_log", "")) else "")
        finish_work_dir(self.work, ok)
        return ok


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(0 if WebUiTest(*sys.argv[1:]).run() else 1)
