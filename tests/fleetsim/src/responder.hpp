// Answers the agent's scripts as a host of a given dialect would, from a simulated table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "process_model.hpp"

namespace fleetps::fleetsim {

/// What one exec produced.
struct Answer {
  std::string output;  ///< stdout.
  int exit_status = 0;
};

/// The framing of a recognised script: the nonce of its `@@FLEETPS <nonce> ...` markers and the
/// section names it asks for, in order.
struct ScriptSections {
  std::string nonce;
  std::vector<std::string> names;
};

/// Finds the sections of a probe script: the nonce from `fp_n=<nonce>` (or a literal marker),
/// names from `fp_b <name>` calls. Empty nonce when the text is not a fleetps script.
[[nodiscard]] ScriptSections FindSections(std::string_view script);

/// Runs `script` (stdin of `/bin/sh -s`, or an exec command line) against `host`. fleetps
/// scripts get one framed section per requested name in the dialect's output format; sections
/// for tools the dialect lacks are left out, as the script's `fp_have` guards would; unknown
/// names get an empty body and rc=127. A few plain commands (`echo`, `true`, `exit N`,
/// `uname`) are understood; anything else prints nothing and exits 127. `self_pid` is the
/// simulated shell's $$ (never a pid of the table).
[[nodiscard]] Answer RunScript(std::string_view script, const HostSnapshot& host,
                               std::uint32_t self_pid);

/// One framed run on fleetps' persistent shell channel, as the client writes it to stdin:
/// `(\n<script>) </dev/null\nfp_s=$?; echo; echo "@@FLEETPS <T> EXIT rc=$fp_s"; echo >&2;
/// echo "@@FLEETPS <T> EXIT" >&2\n`, `<T>` 32 lowercase hex digits.
struct ShellRun {
  std::string_view script;  ///< What the subshell runs, with its final newline.
  std::string_view token;   ///< `<T>`.
  std::size_t length = 0;   ///< Bytes of stdin the run takes, trailer line included.
};

/// The framed run at the start of `input`; nullopt when `input` does not start with one (not
/// framed, framed differently, or not complete yet).
[[nodiscard]] std::optional<ShellRun> FindShellRun(std::string_view input);

/// The run as the client frames it (FindShellRun's inverse), for tests that play the client.
[[nodiscard]] std::string FrameShellRun(std::string_view script, std::string_view token);

/// What the shell prints after the run: on stdout `\n@@FLEETPS <T> EXIT rc=<rc>\n`, on stderr
/// `\n@@FLEETPS <T> EXIT\n`.
[[nodiscard]] std::string ShellStdoutTrailer(std::string_view token, int rc);
[[nodiscard]] std::string ShellStderrTrailer(std::string_view token);

/// The system-wide limits a host states (node_exporter's node_processes_max_processes and
/// _max_threads): Linux pid_max (4194304 as systemd sets it, 32768 on 2.6 kernels and BusyBox
/// devices) and threads-max (the kernel's default, memory / 128 KiB); Solaris v_proc 30000
/// (max_nprocs capped by the default pidmax), no thread limit; AIX neither. 0 = not stated.
struct SimLimits {
  std::uint64_t max_processes = 0;
  std::uint64_t max_threads = 0;
};
[[nodiscard]] SimLimits LimitsOf(const HostSnapshot& host);

/// The start of an endless process table in the dialect's `ps` format: a BEGIN marker for the
/// `ps` section followed by rows; ContinueEndless produces more rows forever.
[[nodiscard]] std::string EndlessPrefix(std::string_view script, const HostSnapshot& host);
[[nodiscard]] std::string EndlessChunk(const HostSnapshot& host, std::uint64_t& counter,
                                       std::size_t bytes);

}  // namespace fleetps::fleetsim
