// Which HTTP connections the server holds: a global cap and a per-client (source address) cap,
// and, when the global cap is reached, room made by evicting the connection that has waited
// longest without a request being handled (idle between keep-alive requests, or still sending
// its request). A connection whose request is being handled or whose answer is being written
// is never evicted. Thread-safe (one mutex); admission and every state change are O(log n).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/system/result.hpp>

#include "fleetps/collector/telemetry/http_connections.hpp"

namespace fleetps::collector {

class ConnectionBudget : public std::enable_shared_from_this<ConnectionBudget> {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::size_t max_connections = 512;
    std::size_t max_connections_per_client = 64;
  };

  /// Asks an admitted connection to close. Called at most once, with the budget's lock held:
  /// it must only post work (e.g. to the connection's strand), never block or call back.
  using Evict = std::function<void()>;

  /// An admitted connection's slot; releases it when destroyed. Move-only. The state calls
  /// report what the connection does; they are no-ops once it has been evicted.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    /// Sets how to close this connection when it is evicted; until set, it is not evictable.
    void OnEvict(Evict evict);
    /// Waiting for a request (`kIdle`) or reading one (`kReadingRequest`) since `since`:
    /// evictable (once OnEvict was called), the longest waiting first.
    void Waiting(HttpEviction what, Clock::time_point since);
    /// Its request is complete and being handled: never evicted from now until the next
    /// Waiting. False when it was evicted before (the request must then be dropped).
    [[nodiscard]] bool Busy();

   private:
    friend class ConnectionBudget;
    Lease(std::shared_ptr<ConnectionBudget> budget, std::uint64_t id)
        : budget_(std::move(budget)), id_(id) {}
    std::shared_ptr<ConnectionBudget> budget_;  // null once moved from
    std::uint64_t id_ = 0;
  };

  explicit ConnectionBudget(Limits limits);
  ~ConnectionBudget();
  ConnectionBudget(const ConnectionBudget&) = delete;
  ConnectionBudget& operator=(const ConnectionBudget&) = delete;

  /// Admits a connection from `address`, evicting the longest-waiting connection when the
  /// global cap is reached. Refused (and counted in fleetps_http_connections_refused_total)
  /// when its client (the IPv4 address, or the IPv6 /64) already holds its share, or when every
  /// held connection is busy. The lease keeps the budget alive. The budget must be owned by a
  /// shared_ptr.
  [[nodiscard]] boost::system::result<Lease, HttpRefusal> Admit(
      const boost::asio::ip::address& address);

  /// Evicts the longest-waiting connection, if any: room for a connection the kernel holds
  /// but accept() cannot take (out of descriptors). True when one was evicted.
  bool EvictLongestWaiting();

  /// New limits; they apply to the next admissions (held connections stay).
  void SetLimits(Limits limits);

  [[nodiscard]] std::size_t Open() const;

 private:
  struct Connection {
    boost::asio::ip::address client;  // the share it counts in
    Evict evict;
    bool waiting = false;
    HttpEviction what = HttpEviction::kReadingRequest;
    Clock::time_point since;
  };
  using WaitKey = std::pair<Clock::time_point, std::uint64_t>;

  void Release(std::uint64_t id);
  bool EvictLocked();  // the longest-waiting connection, if any
  void EraseLocked(std::uint64_t id, Connection& connection);

  mutable std::mutex mutex_;
  Limits limits_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Connection> connections_;
  std::set<WaitKey> waiting_;  // evictable connections, longest waiting first
  std::map<boost::asio::ip::address, std::size_t> per_client_;
};

}  // namespace fleetps::collector
