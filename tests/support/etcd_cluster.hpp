// A throwaway etcd cluster for tests: N members of Debian's etcd binary (/usr/bin/etcd, or
// $FLEETPS_ETCD) on free 127.0.0.1 ports, data in a temp dir (on /dev/shm when it exists, so
// fsync costs nothing and no --unsafe flag is needed). Never touches a system etcd on 2379.
//
// Members run as children that die with the test process (PR_SET_PDEATHSIG); the destructor
// kills and reaps every member and removes the data, so no etcd outlives a test, passed or not.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fleetps::test_support {

class EtcdCluster {
 public:
  /// Starts `members` members and waits (≤ 20 s) until every one reports healthy. Throws
  /// std::runtime_error (with the tail of the members' logs) when they do not.
  explicit EtcdCluster(std::size_t members = 3);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  [[nodiscard]] std::size_t Size() const { return members_.size(); }
  /// "http://127.0.0.1:PORT" of every member, in member order.
  [[nodiscard]] std::vector<std::string> Endpoints() const;
  [[nodiscard]] std::string Endpoint(std::size_t member) const;
  /// The member that is leader now, as seen by the running members (nullopt: none agrees yet).
  [[nodiscard]] std::optional<std::size_t> Leader() const;
  /// Waits (≤ `timeout`) until the running members agree on a leader.
  [[nodiscard]] std::optional<std::size_t> WaitForLeader(std::chrono::milliseconds timeout) const;

  /// SIGKILL and reap.
  void Kill(std::size_t member);
  /// SIGSTOP / SIGCONT: a frozen member (its sockets accept, nothing answers).
  void Stop(std::size_t member);
  void Continue(std::size_t member);
  /// Starts a killed member again on its data dir and ports; waits until it is healthy.
  void Restart(std::size_t member);
  /// Kills and reaps every member (the destructor does it too).
  void StopAll();
  [[nodiscard]] bool Running(std::size_t member) const;
  [[nodiscard]] pid_t Pid(std::size_t member) const;

  /// Waits (≤ `timeout`) until every running member answers /health with true.
  [[nodiscard]] bool WaitHealthy(std::chrono::milliseconds timeout) const;

  /// POSTs `body` to `path` of `member`'s JSON gateway (tests use it for compaction, status,
  /// auth setup), with `token` as Authorization when not empty. Returns the body, or nullopt
  /// when the member did not answer in 2 s.
  [[nodiscard]] std::optional<std::string> Post(std::size_t member, const std::string& path,
                                                const std::string& body,
                                                const std::string& token = {}) const;

 private:
  struct Member {
    std::string name;
    unsigned short client_port = 0;
    unsigned short peer_port = 0;
    std::filesystem::path data_dir;
    pid_t pid = -1;
    bool stopped = false;
  };
  void Spawn(Member& member, bool existing);
  [[nodiscard]] std::string LogTails() const;

  std::filesystem::path root_;
  std::string initial_cluster_;
  std::string token_;
  std::vector<Member> members_;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to :0, then closed).
[[nodiscard]] unsigned short FreeLoopbackPort();

}  // namespace fleetps::test_support
