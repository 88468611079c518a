#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fleetps::agent {

/// Which channel a run uses.
enum class ChannelMode : std::uint8_t {
  kExec,   ///< A new channel per run: exec the interpreter, script on stdin, then EOF.
  kShell,  ///< The session's one persistent interpreter channel, framed per run (see
           ///< `SshSession::RunScript`).
};

/// "exec", "shell" (the `channel` label of `fleetps_ssh_session_info`).
[[nodiscard]] constexpr std::string_view ChannelModeName(ChannelMode mode) noexcept {
  return mode == ChannelMode::kShell ? "shell" : "exec";
}

/// How a script runs on a session.
struct RunOptions {
  /// The remote command line: a fixed interpreter that reads the script from stdin. Never built
  /// from user input; the script itself travels as channel data, never as an argument.
  std::string interpreter = "/bin/sh -s";
  /// Bytes of stdout plus stderr accepted before the command ends as `too_large` (output past it
  /// is read and dropped, see SshSession).
  std::uint64_t output_limit = 4ull << 20;
  /// Overall deadline (channel wait, open, exec, send, read to EOF, exit status). Not an idle
  /// timeout: output that keeps trickling in does not extend it.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  /// Exec channel per run, or the session's persistent shell.
  ChannelMode channel = ChannelMode::kExec;
};

/// What a finished command produced.
struct CommandOutput {
  std::string out;                 ///< stdout bytes, verbatim.
  std::string err;                 ///< stderr bytes, verbatim.
  std::optional<int> exit_status;  ///< Set when the server sent `exit-status`.
  std::string exit_signal;         ///< e.g. "KILL" when the server sent `exit-signal`.
  std::uint64_t bytes = 0;         ///< out.size() + err.size().
  std::chrono::steady_clock::duration duration{};  ///< From channel open to exit status.

  /// True when the command exited with status 0.
  [[nodiscard]] bool Succeeded() const noexcept { return exit_status && *exit_status == 0; }
};

/// Accumulates stdout and stderr under one byte cap. Pure; used by the session's read loop and
/// tested on its own.
class OutputCollector {
 public:
  explicit OutputCollector(std::uint64_t limit) : limit_(limit) {}

  /// Appends `data` to stdout (`is_stderr` false) or stderr. Returns false, and keeps nothing of
  /// `data`, when the total would exceed the limit; after that every call returns false.
  [[nodiscard]] bool Append(bool is_stderr, std::string_view data) {
    if (exceeded_ || data.size() > limit_ - bytes_) {
      exceeded_ = true;
      return false;
    }
    (is_stderr ? output_.err : output_.out).append(data);
    bytes_ += data.size();
    output_.bytes = bytes_;
    return true;
  }

  [[nodiscard]] bool Exceeded() const noexcept { return exceeded_; }
  [[nodiscard]] std::uint64_t Bytes() const noexcept { return bytes_; }
  [[nodiscard]] CommandOutput& Output() noexcept { return output_; }

 private:
  std::uint64_t limit_;
  std::uint64_t bytes_ = 0;
  bool exceeded_ = false;
  CommandOutput output_;
};

}  // namespace fleetps::agent
