// One accepted TCP connection of a simulated host: an SSH session, or a raw socket for the
// faults that never get as far as SSH (no_banner, kex_stall).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace fleetps::fleetsim {

class Fleet;

/// Lives on the fleet's thread. The fleet holds the owning pointer; pending waits hold more.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Fleet& fleet, std::uint64_t id, std::uint32_t host)
      : fleet_(fleet), id_(id), host_(host) {}
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virtual void Start() = 0;
  /// Closes at once (TCP FIN, no SSH disconnect message). Idempotent.
  virtual void Drop() = 0;

  [[nodiscard]] std::uint32_t HostNumber() const { return host_; }
  /// The client's address ("127.0.0.11"), set by the fleet at accept: what attribution reports.
  [[nodiscard]] const std::string& Peer() const { return peer_; }
  void SetPeer(std::string peer) { peer_ = std::move(peer); }

 protected:
  Fleet& fleet_;
  const std::uint64_t id_;
  const std::uint32_t host_;
  std::string peer_;
};

/// An SSH server session on `socket` (already accepted) for host `host`.
[[nodiscard]] std::shared_ptr<Connection> MakeSshConnection(Fleet& fleet, std::uint64_t id,
                                                            std::uint32_t host,
                                                            boost::asio::ip::tcp::socket socket);

/// A socket that reads and discards; with `send_banner` it first writes an SSH version line.
[[nodiscard]] std::shared_ptr<Connection> MakeRawConnection(Fleet& fleet, std::uint64_t id,
                                                            std::uint32_t host,
                                                            boost::asio::ip::tcp::socket socket,
                                                            bool send_banner);

}  // namespace fleetps::fleetsim
