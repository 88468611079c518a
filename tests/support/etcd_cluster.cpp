#include "etcd_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/json.hpp>

namespace fleetps::test_support {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string EtcdBinary() {
  const char* configured = std::getenv("FLEETPS_ETCD");
  return configured != nullptr && *configured != '\0' ? configured : "/usr/bin/etcd";
}

std::string Url(unsigned short port) {
  std::string url = "http://127.0.0.1:";
  url += std::to_string(port);
  return url;
}

// A blocking HTTP/1.1 exchange with one request and Connection: close; the answer's body.
std::optional<std::string> Exchange(unsigned short port, const std::string& method,
                                    const std::string& path, const std::string& body,
                                    const std::string& token = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    std::string request = method;
    request += ' ';
    request += path;
    request += " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!token.empty()) request += "Authorization: " + token + "\r\n";
    request += "Content-Type: application/json\r\nContent-Length: ";
    request += std::to_string(body.size());
    request += "\r\n\r\n";
    request += body;
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char chunk[4096];
      for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) {
        answer.append(chunk, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  const auto header_end = answer.find("\r\n\r\n");
  if (header_end == std::string::npos) return std::nullopt;
  // The JSON object of the body, whether it came chunked or not.
  const auto open = answer.find('{', header_end);
  const auto close = answer.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return std::string();
  }
  return answer.substr(open, close - open + 1);
}

std::optional<json::object> Object(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  auto value = json::parse(*text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

std::string Field(const json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  if (value == nullptr) return {};
  if (value->is_string()) return std::string(value->as_string());
  return json::serialize(*value);
}

}  // namespace

unsigned short FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

EtcdCluster::EtcdCluster(std::size_t members) {
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm")
                                         ? "/dev/shm"
                                         : std::filesystem::temp_directory_path();
  std::string pattern = (base / "fleetps-etcd-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
  root_ = pattern;
  token_ = "fleetps-test-" + std::to_string(::getpid()) + "-" + root_.filename().string();
  for (std::size_t i = 0; i < members; ++i) {
    Member member;
    member.name = "m" + std::to_string(i);
    member.client_port = FreeLoopbackPort();
    member.peer_port = FreeLoopbackPort();
    member.data_dir = root_ / member.name;
    if (!initial_cluster_.empty()) initial_cluster_ += ',';
    initial_cluster_ += member.name + "=" + Url(member.peer_port);
    members_.push_back(std::move(member));
  }
  for (auto& member : members_) Spawn(member, false);
  if (!WaitHealthy(20s) || !WaitForLeader(10s)) {
    const std::string logs = LogTails();
    StopAll();
    std::filesystem::remove_all(root_);
    throw std::runtime_error("etcd cluster did not become healthy:\n" + logs);
  }
}

EtcdCluster::~EtcdCluster() {
  StopAll();
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

void EtcdCluster::Spawn(Member& member, bool existing) {
  const std::string client = Url(member.client_port);
  const std::string peer = Url(member.peer_port);
  std::vector<std::string> args = {
      EtcdBinary(), "--name", member.name, "--data-dir", member.data_dir.string(),
      "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer, "--initial-cluster", initial_cluster_,
      "--initial-cluster-token", token_, "--initial-cluster-state", existing ? "existing" : "new",
      // etcd's defaults (100 ms / 1 s), said aloud: the figures of scale-out.md §4 use them.
      "--heartbeat-interval", "100", "--election-timeout", "1000", "--logger", "zap",
      "--log-outputs", "stderr", "--log-level", "warn"};
  const std::string log = (root_ / (member.name + ".log")).string();
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    // Dies with the test process, even on a crash or a kill of the test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int null = ::open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  member.pid = pid;
  member.stopped = false;
}

std::vector<std::string> EtcdCluster::Endpoints() const {
  std::vector<std::string> endpoints;
  for (std::size_t i = 0; i < members_.size(); ++i) endpoints.push_back(Endpoint(i));
  return endpoints;
}

std::string EtcdCluster::Endpoint(std::size_t member) const {
  return Url(members_.at(member).client_port);
}

bool EtcdCluster::Running(std::size_t member) const { return members_.at(member).pid > 0; }
pid_t EtcdCluster::Pid(std::size_t member) const { return members_.at(member).pid; }

std::optional<std::string> EtcdCluster::Post(std::size_t member, const std::string& path,
                                             const std::string& body,
                                             const std::string& token) const {
  return Exchange(members_.at(member).client_port, "POST", path, body, token);
}

std::optional<std::size_t> EtcdCluster::Leader() const {
  std::optional<std::string> leader_id;
  std::vector<std::string> member_ids(members_.size());
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (!Running(i) || members_[i].stopped) continue;
    auto status = Object(Post(i, "/v3/maintenance/status", "{}"));
    if (!status) continue;
    const auto* header = status->if_contains("header");
    if (header != nullptr && header->is_object()) {
      member_ids[i] = Field(header->as_object(), "member_id");
    }
    const std::string leader = Field(*status, "leader");
    if (leader.empty() || leader == "0") return std::nullopt;
    if (leader_id && *leader_id != leader) return std::nullopt;  // they disagree (election)
    leader_id = leader;
  }
  if (!leader_id) return std::nullopt;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (member_ids[i] == *leader_id) return i;
  }
  return std::nullopt;  // the leader is not among the members that answered
}

std::optional<std::size_t> EtcdCluster::WaitForLeader(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    if (auto leader = Leader()) return leader;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

bool EtcdCluster::WaitHealthy(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    bool all = true;
    for (std::size_t i = 0; i < members_.size() && all; ++i) {
      if (!Running(i) || members_[i].stopped) continue;
      auto health = Object(Exchange(members_[i].client_port, "GET", "/health", ""));
      all = health && Field(*health, "health") == "true";
    }
    if (all) return true;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

void EtcdCluster::Kill(std::size_t member) {
  auto& m = members_.at(member);
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGKILL);
  ::waitpid(m.pid, nullptr, 0);
  m.pid = -1;
  m.stopped = false;
}

void EtcdCluster::Stop(std::size_t member) {
  auto& m = members_.at(member);
  if (m.pid > 0 && ::kill(m.pid, SIGSTOP) == 0) m.stopped = true;
}

void EtcdCluster::Continue(std::size_t member) {
  auto& m = members_.at(member);
  if (m.pid > 0 && ::kill(m.pid, SIGCONT) == 0) m.stopped = false;
}

void EtcdCluster::Restart(std::size_t member) {
  Kill(member);
  Spawn(members_.at(member), true);
  if (!WaitHealthy(20s)) throw std::runtime_error("etcd member did not restart:\n" + LogTails());
}

void EtcdCluster::StopAll() {
  for (std::size_t i = 0; i < members_.size(); ++i) Kill(i);
}

std::string EtcdCluster::LogTails() const {
  std::string tails;
  for (const auto& member : members_) {
    std::ifstream log(root_ / (member.name + ".log"));
    std::stringstream text;
    text << log.rdbuf();
    const std::string all = text.str();
    tails += "--- " + member.name + " (" + Url(member.client_port) + ")\n";
    tails += all.size() > 2000 ? all.substr(all.size() - 2000) : all;
  }
  return tails;
}

}  // namespace fleetps::test_support
