#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "fleetps/agent/command.hpp"
#include "fleetps/config/inventory.hpp"
#include "test_probe_channel.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::testing {

/// Runs `aw` to completion on `io` (which must have no other pending work) and returns its value.
template <class T>
T RunCoro(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  auto f = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.restart();
  io.run();
  return f.get();
}

/// Like RunCoro, but returns as soon as `aw` is done: a session that outlives one call keeps a
/// socket wait armed, and io.run() would wait for that forever.
template <class T>
T Await(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  auto done = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.restart();
  while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io.run_one_for(std::chrono::milliseconds(50));
  }
  return done.get();
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

inline int Shell(const std::string& cmd) { return std::system(cmd.c_str()); }

/// The `RunOptions::channel` of session-level tests: what a host agent starts with under
/// TestProbeChannel() (auto starts on the shell).
inline agent::ChannelMode TestChannelMode() {
  return TestProbeChannel() == config::ProbeChannel::kExec ? agent::ChannelMode::kExec
                                                           : agent::ChannelMode::kShell;
}

/// A throwaway sshd or dropbear on 127.0.0.1 started through scripts/testhost; stopped (and its
/// directory removed) on destruction.
class TestHost {
 public:
  struct Options {
    std::string server = "sshd";
    std::string user = "fleetps-test";
    std::string shell = "/bin/sh";
    std::string max_startups = {};
    /// A tests/emulators/<dialect> directory: the server starts through tests/emulators/isolate
    /// with this directory first on PATH (a dialect host; see tests/emulators/README.md).
    std::string emulator = {};
    /// Legacy servers (scripts/testhost): key types, a profile such as "rhel5", extra
    /// sshd_config lines.
    std::string hostkey_type = {};
    std::string user_key_type = {};
    std::string legacy = {};
    std::vector<std::string> sshd_options = {};
  };

  explicit TestHost(Options o) : options_(std::move(o)) {
    char tmpl[] = "/tmp/fleetps-it-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    Start();
  }
  TestHost() : TestHost(Options{}) {}
  ~TestHost() {
    Stop();
    if (std::getenv("FLEETPS_TEST_KEEP") != nullptr) return;  // keep logs for debugging
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  void Start() {
    std::string cmd = std::string(FLEETPS_SOURCE_DIR) + "/scripts/testhost start " + dir_.string() +
                      " --server " + options_.server + " --user " + options_.user + " --shell " +
                      options_.shell;
    if (!options_.max_startups.empty()) cmd += " --max-startups " + options_.max_startups;
    if (!options_.hostkey_type.empty()) cmd += " --hostkey-type " + options_.hostkey_type;
    if (!options_.user_key_type.empty()) cmd += " --user-key-type " + options_.user_key_type;
    if (!options_.legacy.empty()) cmd += " --legacy " + options_.legacy;
    for (const auto& option : options_.sshd_options) cmd += " --sshd-option '" + option + "'";
    if (!options_.emulator.empty()) {
      cmd = std::string(FLEETPS_SOURCE_DIR) + "/tests/emulators/isolate " + options_.emulator +
            " " + dir_.string() + " " + cmd + " --path-prefix " + options_.emulator;
    }
    if (Shell(cmd + " >/dev/null") != 0) throw std::runtime_error("testhost start failed: " + cmd);
    LoadEnv();
  }
  void Stop() {
    Shell(std::string(FLEETPS_SOURCE_DIR) + "/scripts/testhost stop " + dir_.string() +
          " >/dev/null 2>&1");
  }

  [[nodiscard]] const std::string& Env(const std::string& key) const { return env_.at(key); }
  [[nodiscard]] std::uint16_t Port() const {
    return static_cast<std::uint16_t>(std::stoi(Env("FLEETPS_TEST_PORT")));
  }
  [[nodiscard]] std::string Log() const { return ReadFile(Env("FLEETPS_TEST_LOG")); }
  [[nodiscard]] const std::filesystem::path& Dir() const { return dir_; }

  /// A spec for this server with strict host keys and a private copy of its known_hosts line.
  [[nodiscard]] config::HostSpec Spec(const std::string& name = "testhost") const {
    config::HostSpec spec;
    spec.name = name;
    spec.address = "127.0.0.1";
    spec.port = Port();
    spec.user = Env("FLEETPS_TEST_USER");
    spec.identity_file = Env("FLEETPS_TEST_IDENTITY");
    spec.known_hosts = Env("FLEETPS_TEST_KNOWN_HOSTS");
    spec.connect_timeout = std::chrono::seconds(10);
    spec.probe_timeout = std::chrono::seconds(20);
    spec.probe_channel = TestProbeChannel();
    return spec;
  }

 private:
  void LoadEnv() {
    std::istringstream in(ReadFile(dir_ / "env"));
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      std::string value = line.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
        value = value.substr(1, value.size() - 2);
      }
      env_[line.substr(0, eq)] = value;
    }
  }

  Options options_;
  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
};

}  // namespace fleetps::testing
