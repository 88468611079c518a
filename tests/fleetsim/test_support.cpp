#include "test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "fleetps/config/inventory.hpp"
#include "test_probe_channel.hpp"

extern char** environ;

namespace fleetps::fleetsim::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) {
    out.push_back(const_cast<char*>(a.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, std::string_view input,
                         std::chrono::milliseconds deadline, std::size_t max_output) {
  ProcessResult result;
  int in[2];
  int out[2];
  int err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  const auto started = Clock::now();
  pid_t pid = -1;
  auto args = Argv(argv);
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    result.err = "spawn failed";
    return result;
  }
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  bool out_open = true;
  bool err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(started + deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                     {err_open ? err[0] : -1, POLLIN, 0},
                     {in_fd, POLLOUT, 0}};
    ::poll(fds, 3, static_cast<int>(std::min<long long>(left.count(), 100)));
    if (fds[2].revents != 0 && in_fd >= 0) {
      const auto n = ::write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n < 0 || written == input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const auto n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
      }
    }
    if (result.out.size() >= max_output) {
      result.capped = true;
      break;
    }
  }
  if (result.timed_out || result.capped) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!result.timed_out && !result.capped && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out[0]);
  ::close(err[0]);
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

bool BackgroundProcess::Start(const std::vector<std::string>& argv,
                              const std::filesystem::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  auto args = Argv(argv);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  pid_ = rc == 0 ? pid : -1;
  return rc == 0;
}

bool BackgroundProcess::Running() {
  if (pid_ < 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool BackgroundProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (!Running()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !Running();
}

void BackgroundProcess::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

std::filesystem::path MakeTempDir(std::string_view prefix) {
  std::string pattern =
      (std::filesystem::path(FLEETPS_BINARY_DIR) / "Testing" / (std::string(prefix) + "XXXXXX"))
          .string();
  std::filesystem::create_directories(std::filesystem::path(pattern).parent_path());
  char* made = ::mkdtemp(pattern.data());
  return made != nullptr ? std::filesystem::path(made) : std::filesystem::path{};
}

bool Fleetsim::Start(std::uint32_t hosts, const std::vector<std::string>& extra,
                     std::string& error) {
  dir_ = MakeTempDir("fleetsim-");
  std::mt19937 rng(static_cast<unsigned>(::getpid()) ^
                   static_cast<unsigned>(Clock::now().time_since_epoch().count()));
  // Below the ephemeral range (32768+), so client sockets never hold our ports.
  const unsigned top = 32700 - hosts;
  std::string probe_channel;  // "" = the product default: the emitted config names none
  try {
    const config::ProbeChannel mode = fleetps::testing::TestProbeChannel();
    if (mode != config::ProbeChannel::kAuto) probe_channel = config::ProbeChannelName(mode);
  } catch (const std::invalid_argument& e) {
    error = e.what();
    return false;
  }
  for (int attempt = 0; attempt < 6; ++attempt) {
    base_port_ = static_cast<std::uint16_t>(20000 + rng() % (top - 20000));
    std::vector<std::string> args = {FLEETSIM_BINARY,
                                     "--hosts",
                                     std::to_string(hosts),
                                     "--base-port",
                                     std::to_string(base_port_),
                                     "--state-dir",
                                     dir_.string(),
                                     "--control",
                                     "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<std::string> emit = args;
    emit.push_back("--emit-config");
    emit.push_back(dir_.string());
    if (!probe_channel.empty()) {
      emit.push_back("--probe-channel");
      emit.push_back(probe_channel);
    }
    const auto emitted = RunProcess(emit, {}, std::chrono::seconds(60));
    if (emitted.exit_code != 0) {
      error = "emit-config failed: " + emitted.err;
      return false;
    }
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      error = "pipe";
      return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    const std::string log = (dir_ / "fleetsim.log").string();
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    auto argv = Argv(args);
    const auto started = Clock::now();
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    if (rc != 0) {
      ::close(pipe_fds[0]);
      error = "cannot spawn fleetsim";
      return false;
    }
    pid_ = pid;
    stdout_fd_ = pipe_fds[0];
    std::string line;
    char c = 0;
    // The ready line, or EOF when fleetsim gave up (port taken).
    while (::read(stdout_fd_, &c, 1) == 1 && c != '\n') {
      line.push_back(c);
    }
    if (line.starts_with("fleetsim ready")) {
      startup_seconds_ = std::chrono::duration<double>(Clock::now() - started).count();
      const auto at = line.find("control=");
      control_port_ = static_cast<std::uint16_t>(std::stoul(line.substr(at + 8)));
      return true;
    }
    Stop();
    error = "fleetsim did not start (see " + log + ")";
  }
  return false;
}

void Fleetsim::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

std::vector<std::string> Fleetsim::SshArgs(std::uint32_t number, std::string_view command,
                                           const std::vector<std::string>& options) const {
  // ssh keeps the first value it sees for an option: the caller's options go first.
  std::vector<std::string> args = {"ssh", "-F", "/dev/null"};
  args.insert(args.end(), options.begin(), options.end());
  const std::vector<std::string> defaults = {"BatchMode=yes",
                                             "StrictHostKeyChecking=yes",
                                             "UserKnownHostsFile=" + KnownHosts().string(),
                                             "GlobalKnownHostsFile=/dev/null",
                                             "IdentitiesOnly=yes",
                                             "ControlMaster=no",
                                             "ControlPath=none"};
  for (const std::string& option : defaults) {
    args.push_back("-o");
    args.push_back(option);
  }
  args.insert(args.end(),
              {"-i", Identity().string(), "-p", std::to_string(Port(number)), "monitor@127.0.0.1"});
  if (!command.empty()) {
    args.emplace_back(command);
  }
  return args;
}

HttpResult Http(std::uint16_t port, std::string_view method, std::string_view target,
                std::string_view body) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return {};
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.body() = std::string(body);
  request.prepare_payload();
  http::write(socket, request, ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response, ec);
  if (ec) return {};
  return {static_cast<int>(response.result_int()), response.body()};
}

}  // namespace fleetps::fleetsim::testing
