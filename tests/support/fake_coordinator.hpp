// An in-memory coordination store with etcd 3.4's semantics, and clients on it that implement
// cluster::Coordinator, for unit and integration tests of the ownership protocol. Time is a
// ManualClock: leases expire only when the test advances it.
//
// Semantics kept from etcd:
//   - one global revision, starting at 1; every write is one new revision: a put, each chunk of
//     up to 128 keys of a claim or release call that changed something (one etcd transaction),
//     a lease expiry or revoke that deleted keys;
//   - keys carry create_revision, mod_revision and lease; deleting a lease deletes its keys in the
//     lease's revision, and watchers see those deletes in one batch;
//   - Claim creates a key only if its create_revision is 0 (absent); Release deletes a key only if
//     its mod_revision is the given one; Put or Claim under an unknown lease fails with
//     kLeaseNotFound (nothing written); KeepAlive or Revoke of an unknown lease: kLeaseNotFound;
//   - GrantLease's TTL has a floor of 2 s, as etcd's minimum TTL;
//   - a watch from a revision below the compaction revision fails with kCompacted; otherwise it
//     first replays the history from that revision, then streams;
//   - while the store is down (SetDown), leases do not expire, and when it comes back every lease
//     is renewed with its TTL (what an etcd leader election does).
//
// Not thread-safe: the store and all its clients run on one thread (the test's io_context).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fleetps/collector/cluster/coordinator.hpp"
#include "manual_clock.hpp"

namespace fleetps::test_support {

namespace cluster = collector::cluster;

class FakeCoordinator;

class FakeStore {
 public:
  explicit FakeStore(ManualClock& clock);
  FakeStore(const FakeStore&) = delete;
  FakeStore& operator=(const FakeStore&) = delete;
  ~FakeStore();

  /// Moves the clock by `d`; expires the leases due by then (each lease's keys deleted in one
  /// revision) and wakes the clock's sleepers. Large steps skip intermediate moments: tests of
  /// timing advance in steps no longer than the finest deadline they care about.
  void Advance(collector::Duration d);

  /// The store unavailable for every client (kUnavailable after each client's request timeout);
  /// live watches end at once. Leases are frozen while down and renewed when it comes back.
  void SetDown(bool down);
  [[nodiscard]] bool Down() const { return down_; }

  /// Forgets history before `revision`: later watches from an older revision fail kCompacted.
  void Compact(cluster::Revision revision);

  /// Called synchronously after every committed revision with that revision's events (before
  /// any watcher is notified): invariant observers.
  using Observer = std::function<void(cluster::Revision, const std::vector<cluster::WatchEvent>&)>;
  void SetObserver(Observer observer) { observer_ = std::move(observer); }

  [[nodiscard]] cluster::Revision CurrentRevision() const { return revision_; }
  /// The key's current state, or a KeyValue with create_revision 0 when absent.
  [[nodiscard]] cluster::KeyValue Get(const std::string& key) const;
  [[nodiscard]] std::vector<cluster::KeyValue> Prefix(const std::string& prefix) const;
  [[nodiscard]] bool LeaseAlive(cluster::LeaseId lease) const { return leases_.contains(lease); }
  /// Time left before `lease` expires (zero when it does not exist).
  [[nodiscard]] collector::Duration LeaseRemaining(cluster::LeaseId lease) const;
  [[nodiscard]] ManualClock& Clock() const { return clock_; }

 private:
  friend class FakeCoordinator;
  struct Lease {
    std::chrono::seconds ttl{};
    collector::TimePoint expiry{};
    std::set<std::string> keys;
  };
  struct Watcher;

  void ExpireDue();
  void DeleteLease(cluster::LeaseId lease);
  // Commits `events` as one new revision (no-op when empty): history, observer, watchers.
  void Commit(std::vector<cluster::WatchEvent> events);
  // Applies a put to the key map at the revision being built; returns its event.
  cluster::WatchEvent PutKey(const std::string& key, std::string value, cluster::LeaseId lease,
                             cluster::Revision revision);
  cluster::WatchEvent DeleteKey(const std::string& key, cluster::Revision revision);

  ManualClock& clock_;
  bool down_ = false;
  cluster::Revision revision_ = 1;
  cluster::Revision compacted_ = 0;
  cluster::LeaseId next_lease_ = 0x694d71c5a0b30001;
  std::map<std::string, cluster::KeyValue> kvs_;
  std::map<cluster::LeaseId, Lease> leases_;
  std::vector<std::pair<cluster::Revision, std::vector<cluster::WatchEvent>>> history_;
  std::set<std::shared_ptr<Watcher>> watchers_;
  Observer observer_;
};

/// One client of a FakeStore. Calls complete at once (no latency), except when the client is
/// cut off or the store is down: then each call fails with kUnavailable after `request_timeout`
/// on the store's clock (a Watch fails at once, and live watches end when the cut starts).
class FakeCoordinator final : public cluster::Coordinator {
 public:
  FakeCoordinator(FakeStore& store, collector::Duration request_timeout = std::chrono::seconds(2))
      : store_(store), request_timeout_(request_timeout) {}

  /// Cuts this client off from the store (a partition), or heals the cut.
  void SetCutOff(bool cut);
  [[nodiscard]] bool CutOff() const { return cut_; }
  /// Calls made so far (all operations).
  [[nodiscard]] std::uint64_t Calls() const { return calls_; }

  boost::asio::awaitable<boost::system::result<std::pair<cluster::LeaseId, std::chrono::seconds>>>
  GrantLease(std::chrono::seconds ttl) override;
  boost::asio::awaitable<boost::system::result<std::chrono::seconds>> KeepAlive(
      cluster::LeaseId lease) override;
  boost::asio::awaitable<boost::system::error_code> Revoke(cluster::LeaseId lease) override;
  boost::asio::awaitable<boost::system::result<cluster::Revision>> Put(
      std::string key, std::string value, cluster::LeaseId lease) override;
  boost::asio::awaitable<boost::system::result<cluster::Snapshot>> Range(
      std::string prefix) override;
  boost::asio::awaitable<boost::system::result<std::vector<cluster::ClaimOutcome>>> Claim(
      std::vector<std::string> keys, std::string value, cluster::LeaseId lease) override;
  boost::asio::awaitable<boost::system::result<std::vector<cluster::ClaimOutcome>>> Release(
      std::vector<std::pair<std::string, cluster::Revision>> keys) override;
  boost::asio::awaitable<boost::system::error_code> Watch(
      std::string prefix, cluster::Revision from_revision,
      std::function<void(const cluster::WatchBatch&)> on_batch) override;

 private:
  // Empty when the store answers; otherwise waits the request timeout and returns kUnavailable.
  boost::asio::awaitable<boost::system::error_code> Reachable();
  [[nodiscard]] bool Unreachable() const { return cut_ || store_.down_; }
  // Applies item(i, revision, events) for i in [0, count), ≤ 128 per store revision.
  using TxnItem = std::function<cluster::ClaimOutcome(std::size_t, cluster::Revision,
                                                      std::vector<cluster::WatchEvent>&)>;
  std::vector<cluster::ClaimOutcome> Transact(std::size_t count, const TxnItem& item);

  FakeStore& store_;
  collector::Duration request_timeout_;
  bool cut_ = false;
  std::uint64_t calls_ = 0;
  std::set<std::shared_ptr<FakeStore::Watcher>> my_watchers_;
};

}  // namespace fleetps::test_support
