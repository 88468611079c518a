// The narrow interface between fleetps' cluster logic and a coordination store (etcd today; a
// ZooKeeper or Kubernetes Lease backend would implement the same calls). Everything the
// ownership protocol needs, and nothing more: leases, keys under a lease, guarded create and
// delete in batches, a consistent read, and a watch that continues from that read.
//
// Implementations: EtcdCoordinator (etcd's JSON gateway, Beast + Boost.JSON) and
// FakeCoordinator (in memory, injected clock, for unit tests). One conformance suite runs against
// both.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace fleetps::collector::cluster {

using LeaseId = std::int64_t;
using Revision = std::int64_t;

/// A key as the store holds it.
struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;
  Revision mod_revision = 0;
  LeaseId lease = 0;  ///< 0 = not attached to a lease
};

/// A consistent read of every key under a prefix, at `revision`.
struct Snapshot {
  Revision revision = 0;
  std::vector<KeyValue> kvs;  ///< sorted by key
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  ///< for kDelete: key and mod_revision (the delete's revision) only
};

/// Events of one store revision or more, in order.
struct WatchBatch {
  Revision revision = 0;  ///< the store's revision when the batch was sent
  std::vector<WatchEvent> events;
};

/// A create-if-absent or guarded-delete item and its outcome.
struct ClaimOutcome {
  std::string key;
  bool won = false;  ///< claim: created by this call or already held (see Claim); release: deleted
  std::string holder_value;  ///< claim lost: the value of the key that exists
};

/// Errors are boost::system::error_code values; these are the ones callers branch on.
enum class CoordinatorErrc {
  kUnavailable = 1,  ///< no endpoint answered in time (the caller retries; fencing counts time)
  kLeaseNotFound,    ///< the lease expired or was revoked: register again with a new one
  kCompacted,        ///< watch start revision compacted away: read a new snapshot
  kRejected,         ///< the store refused the request (auth, too large, bad argument)
};
[[nodiscard]] const boost::system::error_category& CoordinatorCategory() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(CoordinatorErrc e) noexcept;

/// All calls are coroutines on the caller's executor, each bounded by the implementation's
/// request timeout, and cancellable (`||` with a timer, or cancellation of the parent).
class Coordinator {
 public:
  virtual ~Coordinator() = default;

  /// A new lease of (at least) `ttl`; the granted TTL may be larger (etcd's floor is 2 s).
  virtual boost::asio::awaitable<boost::system::result<std::pair<LeaseId, std::chrono::seconds>>>
  GrantLease(std::chrono::seconds ttl) = 0;
  /// Renews `lease`; returns its TTL from now. kLeaseNotFound when it is gone.
  virtual boost::asio::awaitable<boost::system::result<std::chrono::seconds>> KeepAlive(
      LeaseId lease) = 0;
  /// Ends `lease` now: every key attached to it is deleted in one revision.
  virtual boost::asio::awaitable<boost::system::error_code> Revoke(LeaseId lease) = 0;

  /// Sets `key` (creating or replacing it), attached to `lease` (0 = none).
  virtual boost::asio::awaitable<boost::system::result<Revision>> Put(std::string key,
                                                                      std::string value,
                                                                      LeaseId lease) = 0;
  /// Every key under `prefix`, at one revision. Its deadline may be longer than the other
  /// calls' (a cluster's whole prefix is one large answer).
  virtual boost::asio::awaitable<boost::system::result<Snapshot>> Range(std::string prefix) = 0;

  /// For each key: create it with `value` under `lease` only if it does not exist. Batched
  /// (at most 128 keys per store transaction); the outcome per key is exact. A key that already
  /// exists under `lease` with `value` is won too: the store cannot tell it from a claim retried
  /// after its answer was lost, and it is the caller's either way.
  virtual boost::asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> Claim(
      std::vector<std::string> keys, std::string value, LeaseId lease) = 0;
  /// For each (key, mod_revision): delete the key only if it is still at that revision, i.e.
  /// still the caller's claim. Batched like Claim.
  virtual boost::asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> Release(
      std::vector<std::pair<std::string, Revision>> keys) = 0;

  /// Streams every change under `prefix` from `from_revision` on (Range's revision + 1 gives
  /// list-then-watch without a gap) to `on_batch`, until cancelled or the stream fails. Returns
  /// the failure: kCompacted, kUnavailable, or operation_aborted when cancelled.
  virtual boost::asio::awaitable<boost::system::error_code> Watch(
      std::string prefix, Revision from_revision,
      std::function<void(const WatchBatch&)> on_batch) = 0;
};

}  // namespace fleetps::collector::cluster

template <>
struct boost::system::is_error_code_enum<fleetps::collector::cluster::CoordinatorErrc>
    : std::true_type {};
