// Helpers for the fleetsim integration tests: run a process with a deadline, start fleetsim on
// a free port range, talk to its control API.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace fleetps::fleetsim::testing {

struct ProcessResult {
  int exit_code = -1;      ///< -1 when killed (deadline or output cap).
  bool timed_out = false;  ///< Killed at the deadline.
  bool capped = false;     ///< Killed because stdout reached max_output.
  std::string out;
  std::string err;
  double seconds = 0;
};

/// Runs argv[0] (PATH lookup) with `input` on stdin (then EOF), collecting stdout and stderr
/// until it exits, `deadline` passes or stdout exceeds `max_output` bytes.
[[nodiscard]] ProcessResult RunProcess(const std::vector<std::string>& argv, std::string_view input,
                                       std::chrono::milliseconds deadline,
                                       std::size_t max_output = 64u << 20);

/// A running process started in the background (stdout and stderr to files).
class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  ~BackgroundProcess() { Stop(); }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  [[nodiscard]] bool Start(const std::vector<std::string>& argv, const std::filesystem::path& log);
  [[nodiscard]] bool Running();
  /// Waits up to `timeout` for exit; true when it exited.
  [[nodiscard]] bool WaitExit(std::chrono::milliseconds timeout);
  void Stop();
  [[nodiscard]] int Pid() const { return pid_; }

 private:
  int pid_ = -1;
};

/// fleetsim serving `hosts` hosts from a fresh state directory with its emitted config.
class Fleetsim {
 public:
  ~Fleetsim() { Stop(); }

  /// Emits the config and starts serving; picks another base port when one is taken.
  /// `extra` are more fleetsim arguments (--fault, --host-dialect...). The emitted defaults
  /// carry `probe_channel: <TestProbeChannel()>` when the test mode is set.
  [[nodiscard]] bool Start(std::uint32_t hosts, const std::vector<std::string>& extra,
                           std::string& error);
  void Stop();

  [[nodiscard]] std::uint16_t Port(std::uint32_t number) const {
    return static_cast<std::uint16_t>(base_port_ + number - 1);
  }
  [[nodiscard]] std::uint16_t ControlPort() const { return control_port_; }
  [[nodiscard]] const std::filesystem::path& Dir() const { return dir_; }
  [[nodiscard]] std::filesystem::path KnownHosts() const { return dir_ / "known_hosts"; }
  [[nodiscard]] std::filesystem::path Identity() const { return dir_ / "id_ed25519"; }
  [[nodiscard]] double StartupSeconds() const { return startup_seconds_; }
  [[nodiscard]] int Pid() const { return pid_; }

  /// OpenSSH argv for `command` on host `number`, strict host key checking, batch mode.
  [[nodiscard]] std::vector<std::string> SshArgs(
      std::uint32_t number, std::string_view command,
      const std::vector<std::string>& options = {}) const;

 private:
  std::filesystem::path dir_;
  std::uint16_t base_port_ = 0;
  std::uint16_t control_port_ = 0;
  double startup_seconds_ = 0;
  int pid_ = -1;
  int stdout_fd_ = -1;
};

struct HttpResult {
  int status = 0;
  std::string body;
};

/// One HTTP/1.1 request to 127.0.0.1:port.
[[nodiscard]] HttpResult Http(std::uint16_t port, std::string_view method, std::string_view target,
                              std::string_view body = {});

/// A fresh directory under the build tree.
[[nodiscard]] std::filesystem::path MakeTempDir(std::string_view prefix);

}  // namespace fleetps::fleetsim::testing
