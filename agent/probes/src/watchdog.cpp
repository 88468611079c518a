// The host-side watchdog around probe scripts (DESIGN.md section 3: nothing a probe starts
// outlives its deadline on the host).
//
// Shape of a wrapped script, N = WatchdogSeconds(deadline):
//
//   fp_n=<nonce>                        first line of the script, unchanged
//   { exec sleep N; } ... & fp_wh=$!; { <watchdog W> } ... & fp_wd=$!; wait $fp_wh ...; :
//   <rest of the script>
//   fp_wr=$?; kill $fp_wd 2>/dev/null; fp_wx() { return $1; }; fp_wx $fp_wr
//
// W traps TERM, starts its sleep S and waits for it. S ending on its own means the deadline
// passed: W kills its process group, which is the probe's (sshd makes the session shell lead
// it; see dialect.hpp for dropbear). The main shell disarms W with TERM; W's trap kills S and
// exits 0.
//
// Why each piece is there (the shell behaviours named were seen running variants of this script
// several hundred times under each of dash, ksh93, mksh, yash, bash and busybox sh):
//  - mksh loses a TERM sent to a child it has just forked (before the child has reset its
//    signal handling), and its `wait` misses a trapped signal that arrives just before it
//    blocks. So the main shell never signals W before W is armed: it first waits for the helper
//    H (a plain sleep, its own child), which S kills right before becoming the sleep. KILL is
//    never lost, and by then W is in, or about to enter, its `wait`. (mksh can still miss the
//    TERM when the script's body is empty, about once in 600 runs here; W then stays until
//    the deadline and leaves without killing anything: a pending trap runs before the
//    `&& kill -9 0`.)
//  - H is reaped by the `wait` on the same line as the forks: non-interactive bash prints
//    "Killed" for a job killed by a signal when it reads its next input line, and with no line
//    read in between the message happens inside that `wait`, whose stderr is /dev/null.
//  - `{ exec sleep N; } <redirections> &` and `{ ...; } <redirections> &`, not
//    `sleep N <redirections> &` or `( ... ) <redirections> &`: yash forks twice for those, so
//    `$!` would be a parent that dies alone and leaves the real process running.
//  - W's `wait $! && kill -9 0` is not W's last command (`; :` follows): mksh ran no trap while
//    it was.
//  - W's trap kills `$!`, which the shell sets before any trap can run, not a variable assigned
//    after the fork.
//  - W, S and H read and write /dev/null: a process holding the channel's stdout or stderr
//    would keep the SSH channel open after the probe ended.
//  - The main shell does not wait for W after the TERM: if TERM could not be trapped (ignored on
//    entry), waiting would hold every probe until the deadline; this way W only lingers.
//  - `fp_wx` gives back the script's own exit status, which `kill` would replace.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "fleetps/probes/dialect.hpp"

namespace fleetps::probes {

std::int64_t WatchdogSeconds(std::chrono::milliseconds deadline) noexcept {
  const std::int64_t ms = deadline.count();
  if (ms <= 1000) return 1;
  const std::int64_t seconds = ms / 1000 + (ms % 1000 != 0 ? 1 : 0);
  return std::min(seconds, kMaxWatchdogSeconds);
}

std::string WithWatchdog(std::string_view script, std::chrono::milliseconds deadline) {
  if (script.empty()) return {};
  const std::string n = std::to_string(WatchdogSeconds(deadline));
  const std::size_t first_end = script.find('\n');
  const std::string_view first = script.substr(0, first_end);
  const std::string_view rest =
      first_end == std::string_view::npos ? std::string_view{} : script.substr(first_end + 1);

  std::string s;
  s.reserve(script.size() + 400);
  s.append(first).push_back('\n');
  // One line: bash must not read another input line between the forks and the `wait`.
  s.append("{ exec sleep ").append(n).append("; } </dev/null >/dev/null 2>&1 & fp_wh=$!; ");
  s.append("{ trap 'kill -9 $!; exit 0' 15; { kill -9 $fp_wh; exec sleep ").append(n);
  s.append("; } & wait $! && kill -9 0; :; } </dev/null >/dev/null 2>&1 & fp_wd=$!; ");
  s.append("wait $fp_wh 2>/dev/null; :\n");
  s.append(rest);
  if (!rest.empty() && rest.back() != '\n') s.push_back('\n');
  s.append("fp_wr=$?; kill $fp_wd 2>/dev/null; fp_wx() { return $1; }; fp_wx $fp_wr\n");
  return s;
}

}  // namespace fleetps::probes
