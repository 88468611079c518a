// The Coordinator over etcd 3.4's JSON gateway (grpc-gateway: POST /v3/...; int64 values as
// strings, keys and values as base64), with Beast and Boost.JSON: no gRPC, no protoc.
//
// Every call is a coroutine on the executor given at construction; calls may overlap (a
// keepalive loop, a watch and a claim at once) as long as that executor is one thread or a
// strand. Each unary call opens its own connection and has one deadline (request_timeout) in
// which it tries the endpoints in turn, starting with the one that answered last: a refused
// connection, a silent member, a 5xx or "leader changed" moves to the next endpoint.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "fleetps/collector/cluster/coordinator.hpp"

namespace fleetps::collector::cluster {

/// How to reach etcd (cluster.etcd in the config; the config layer fills this).
struct EtcdOptions {
  /// Client URLs, "http://HOST:PORT". https:// is refused by EtcdCoordinator::Create for now
  /// (TLS to etcd is not implemented yet).
  std::vector<std::string> endpoints;
  /// The deadline of each unary call, rotation over endpoints included; also the deadline of
  /// a watch's setup (until etcd confirms the watch).
  std::chrono::milliseconds request_timeout{2000};
  /// etcd auth: when `username` is set, a token from /v3/auth/authenticate goes in every
  /// request's Authorization header, renewed when etcd says it is invalid. The password is
  /// never logged nor put in an error message.
  std::string username;
  std::string password;
  /// TLS files (PEM), reserved: TLS is not implemented yet, https endpoints are refused.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

/// What fleetps_cluster_coordination_requests_total{op,result} counts: one per Coordinator
/// call (a Claim of many batches is one), whatever the number of endpoints tried.
enum class CoordinationOp { kGrant, kKeepAlive, kRevoke, kPut, kRange, kClaim, kRelease, kWatch };
enum class CoordinationResult {
  kOk,
  kUnavailable,
  kLeaseNotFound,
  kCompacted,
  kRejected,
  kCancelled
};
inline constexpr std::size_t kCoordinationOps = 8;
inline constexpr std::size_t kCoordinationResults = 6;
[[nodiscard]] std::string_view CoordinationOpName(CoordinationOp op) noexcept;
[[nodiscard]] std::string_view CoordinationResultName(CoordinationResult result) noexcept;

/// The counters behind fleetps_cluster_coordination_requests_total; the wiring reads them
/// (any thread) when it exports.
class CoordinationCounters {
 public:
  void Add(CoordinationOp op, CoordinationResult result) noexcept;
  [[nodiscard]] std::uint64_t Count(CoordinationOp op, CoordinationResult result) const noexcept;

 private:
  std::array<std::array<std::atomic<std::uint64_t>, kCoordinationResults>, kCoordinationOps>
      counts_{};
};

class EtcdCoordinator final : public Coordinator {
 public:
  /// Checks the options: at least one endpoint, each "http://HOST:PORT" (https: refused, TLS
  /// is not implemented yet), a positive request_timeout. The error says which is wrong.
  [[nodiscard]] static boost::system::result<std::unique_ptr<EtcdCoordinator>, std::string> Create(
      boost::asio::any_io_executor executor, EtcdOptions options);

  boost::asio::awaitable<boost::system::result<std::pair<LeaseId, std::chrono::seconds>>>
  GrantLease(std::chrono::seconds ttl) override;
  boost::asio::awaitable<boost::system::result<std::chrono::seconds>> KeepAlive(
      LeaseId lease) override;
  boost::asio::awaitable<boost::system::error_code> Revoke(LeaseId lease) override;
  boost::asio::awaitable<boost::system::result<Revision>> Put(std::string key, std::string value,
                                                              LeaseId lease) override;
  boost::asio::awaitable<boost::system::result<Snapshot>> Range(std::string prefix) override;
  /// Up to 128 keys per txn (etcd's default --max-txn-ops). A txn whose compares fail reads
  /// every key of the batch in its failure branch, so the keys found absent are retried at once
  /// (at most 8 rounds per batch: beyond, kUnavailable, as the store is churning).
  boost::asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> Claim(
      std::vector<std::string> keys, std::string value, LeaseId lease) override;
  boost::asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> Release(
      std::vector<std::pair<std::string, Revision>> keys) override;
  /// After setup, the stream has no deadline (silence is normal); a member that dies closes it
  /// (kUnavailable), a frozen one is noticed by the caller's keepalives failing.
  boost::asio::awaitable<boost::system::error_code> Watch(
      std::string prefix, Revision from_revision,
      std::function<void(const WatchBatch&)> on_batch) override;

  [[nodiscard]] const CoordinationCounters& Counters() const noexcept { return counters_; }
  /// The last failure in words (etcd's message, or the transport's, with the endpoint), for
  /// the cluster_coordination_error log event. Never holds the password.
  [[nodiscard]] const std::string& LastError() const noexcept { return last_error_; }

  struct Endpoint {
    std::string url, host, port;
  };

 private:
  EtcdCoordinator(boost::asio::any_io_executor executor, EtcdOptions options,
                  std::vector<Endpoint> endpoints);

  // One unary call: POST `target` with `body`, rotating over endpoints within request_timeout,
  // authenticating first when a username is set. The answer's JSON, or the Coordinator error.
  boost::asio::awaitable<boost::system::result<std::string>> Call(std::string target,
                                                                  std::string body);
  boost::asio::awaitable<boost::system::result<std::string>> CallWithin(
      std::string target, std::string body, std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<boost::system::error_code> Authenticate(
      std::chrono::steady_clock::time_point deadline);
  template <class T>
  T Count(CoordinationOp op, T outcome);
  boost::system::error_code Fail(CoordinatorErrc errc, std::string words);

  boost::asio::any_io_executor executor_;
  EtcdOptions options_;
  std::vector<Endpoint> endpoints_;
  std::size_t preferred_ = 0;  ///< the endpoint that answered last
  std::string token_;          ///< etcd auth token, empty until authenticated
  std::string last_error_;
  CoordinationCounters counters_;
};

}  // namespace fleetps::collector::cluster
