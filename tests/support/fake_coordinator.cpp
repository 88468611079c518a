#include "fake_coordinator.hpp"

#include <algorithm>
#include <deque>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::test_support {

namespace asio = boost::asio;
using cluster::ClaimOutcome;
using cluster::CoordinatorErrc;
using cluster::KeyValue;
using cluster::LeaseId;
using cluster::Revision;
using cluster::WatchBatch;
using cluster::WatchEvent;

struct FakeStore::Watcher {
  Watcher(asio::any_io_executor ex, std::string p) : prefix(std::move(p)), wake(ex, 1) {}
  std::string prefix;
  std::deque<WatchBatch> pending;
  boost::system::error_code failure;
  asio::experimental::channel<void(boost::system::error_code)> wake;

  void Notify() { wake.try_send(boost::system::error_code{}); }
};

namespace {

bool HasPrefix(const std::string& key, const std::string& prefix) {
  return key.compare(0, prefix.size(), prefix) == 0;
}

constexpr std::size_t kMaxOpsPerTxn = 128;

}  // namespace

FakeStore::FakeStore(ManualClock& clock) : clock_(clock) {}

FakeStore::~FakeStore() {
  for (const auto& w : watchers_) {
    w->failure = asio::error::operation_aborted;
    w->Notify();
  }
}

void FakeStore::Advance(collector::Duration d) {
  clock_.Advance(d);
  ExpireDue();
}

void FakeStore::ExpireDue() {
  if (down_) return;
  const auto now = clock_.Now();
  std::vector<std::pair<collector::TimePoint, LeaseId>> due;
  for (const auto& [id, lease] : leases_) {
    if (lease.expiry <= now) due.emplace_back(lease.expiry, id);
  }
  std::sort(due.begin(), due.end());
  for (const auto& [expiry, id] : due) DeleteLease(id);
}

void FakeStore::DeleteLease(LeaseId lease) {
  auto it = leases_.find(lease);
  if (it == leases_.end()) return;
  const std::set<std::string> keys = std::move(it->second.keys);
  leases_.erase(it);
  const Revision rev = revision_ + 1;
  std::vector<WatchEvent> events;
  for (const auto& key : keys) events.push_back(DeleteKey(key, rev));
  Commit(std::move(events));
}

void FakeStore::SetDown(bool down) {
  if (down_ && !down) {
    for (auto& [id, lease] : leases_) lease.expiry = clock_.Now() + lease.ttl;
  }
  down_ = down;
  if (down) {
    for (const auto& w : watchers_) {
      w->failure = CoordinatorErrc::kUnavailable;
      w->Notify();
    }
  }
}

void FakeStore::Compact(Revision revision) {
  compacted_ = std::max(compacted_, std::min(revision, revision_));
  std::erase_if(history_, [&](const auto& entry) { return entry.first < compacted_; });
}

KeyValue FakeStore::Get(const std::string& key) const {
  auto it = kvs_.find(key);
  if (it == kvs_.end()) {
    KeyValue absent;
    absent.key = key;
    return absent;
  }
  return it->second;
}

std::vector<KeyValue> FakeStore::Prefix(const std::string& prefix) const {
  std::vector<KeyValue> out;
  for (auto it = kvs_.lower_bound(prefix); it != kvs_.end() && HasPrefix(it->first, prefix); ++it) {
    out.push_back(it->second);
  }
  return out;
}

collector::Duration FakeStore::LeaseRemaining(LeaseId lease) const {
  auto it = leases_.find(lease);
  if (it == leases_.end()) return collector::Duration::zero();
  return std::max(collector::Duration::zero(), it->second.expiry - clock_.Now());
}

WatchEvent FakeStore::PutKey(const std::string& key, std::string value, LeaseId lease,
                             Revision revision) {
  KeyValue& kv = kvs_[key];
  if (kv.create_revision == 0) {
    kv.key = key;
    kv.create_revision = revision;
  } else if (kv.lease != 0 && kv.lease != lease) {
    if (auto old = leases_.find(kv.lease); old != leases_.end()) old->second.keys.erase(key);
  }
  kv.value = std::move(value);
  kv.mod_revision = revision;
  kv.lease = lease;
  if (lease != 0) leases_.at(lease).keys.insert(key);
  return WatchEvent{WatchEvent::Type::kPut, kv};
}

WatchEvent FakeStore::DeleteKey(const std::string& key, Revision revision) {
  WatchEvent event;
  event.type = WatchEvent::Type::kDelete;
  event.kv.key = key;
  event.kv.mod_revision = revision;
  auto it = kvs_.find(key);
  if (it != kvs_.end()) {
    if (auto lease = leases_.find(it->second.lease); lease != leases_.end()) {
      lease->second.keys.erase(key);
    }
    kvs_.erase(it);
  }
  return event;
}

void FakeStore::Commit(std::vector<WatchEvent> events) {
  if (events.empty()) return;
  revision_ += 1;
  history_.emplace_back(revision_, events);
  if (observer_) observer_(revision_, events);
  for (const auto& w : watchers_) {
    WatchBatch batch{revision_, {}};
    for (const auto& e : events) {
      if (HasPrefix(e.kv.key, w->prefix)) batch.events.push_back(e);
    }
    if (!batch.events.empty()) {
      w->pending.push_back(std::move(batch));
      w->Notify();
    }
  }
}

void FakeCoordinator::SetCutOff(bool cut) {
  cut_ = cut;
  if (cut) {
    for (const auto& w : my_watchers_) {
      w->failure = CoordinatorErrc::kUnavailable;
      w->Notify();
    }
  }
}

std::vector<ClaimOutcome> FakeCoordinator::Transact(std::size_t count, const TxnItem& item) {
  std::vector<ClaimOutcome> outcomes;
  outcomes.reserve(count);
  // One store transaction (one revision) per chunk, as the etcd client batches them.
  for (std::size_t begin = 0; begin < count; begin += kMaxOpsPerTxn) {
    const Revision rev = store_.revision_ + 1;
    std::vector<WatchEvent> events;
    for (std::size_t i = begin; i < std::min(count, begin + kMaxOpsPerTxn); ++i) {
      outcomes.push_back(item(i, rev, events));
    }
    store_.Commit(std::move(events));
  }
  return outcomes;
}

asio::awaitable<boost::system::error_code> FakeCoordinator::Reachable() {
  ++calls_;
  if (!Unreachable()) {
    store_.ExpireDue();
    co_return boost::system::error_code{};
  }
  const boost::system::error_code slept = co_await store_.clock_.SleepFor(request_timeout_);
  if (slept) co_return slept;
  co_return make_error_code(CoordinatorErrc::kUnavailable);
}

asio::awaitable<boost::system::result<std::pair<LeaseId, std::chrono::seconds>>>
FakeCoordinator::GrantLease(std::chrono::seconds ttl) {
  const boost::system::error_code ec = co_await Reachable();
  if (ec) co_return ec;
  const std::chrono::seconds granted = std::max(ttl, std::chrono::seconds(2));
  const LeaseId id = store_.next_lease_++;
  store_.leases_[id] = FakeStore::Lease{granted, store_.clock_.Now() + granted, {}};
  co_return std::pair{id, granted};
}

asio::awaitable<boost::system::result<std::chrono::seconds>> FakeCoordinator::KeepAlive(
    LeaseId lease) {
  const boost::system::error_code ec = co_await Reachable();
  if (ec) co_return ec;
  auto it = store_.leases_.find(lease);
  if (it == store_.leases_.end()) co_return make_error_code(CoordinatorErrc::kLeaseNotFound);
  it->second.expiry = store_.clock_.Now() + it->second.ttl;
  co_return it->second.ttl;
}

asio::awaitable<boost::system::error_code> FakeCoordinator::Revoke(LeaseId lease) {
  const boost::system::error_code ec = co_await Reachable();
  if (ec) co_return ec;
  if (!store_.leases_.contains(lease)) co_return make_error_code(CoordinatorErrc::kLeaseNotFound);
  store_.DeleteLease(lease);
  co_return boost::system::error_code{};
}

asio::awaitable<boost::system::result<Revision>> FakeCoordinator::Put(std::string key,
                                                                      std::string value,
                                                                      LeaseId lease) {
  const boost::system::error_code ec = co_await Reachable();
  if (ec) co_return ec;
  if (key.empty()) co_return make_error_code(CoordinatorErrc::kRejected);
  if (lease != 0 && !store_.leases_.contains(lease)) {
    co_return make_error_code(CoordinatorErrc::kLeaseNotFound);
  }
  const Revision rev = store_.revision_ + 1;
  std::vector<WatchEvent> events;
  events.push_back(store_.PutKey(key, std::move(value), lease, rev));
  store_.Commit(std::move(events));
  co_return rev;
}

asio::awaitable<boost::system::result<cluster::Snapshot>> FakeCoordinator::Range(
    std::string prefix) {
  const boost::system::error_code ec = co_await Reachable();
  if (ec) co_return ec;
  co_return cluster::Snapshot{store_.revision_, store_.Prefix(prefix)};
}

asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> FakeCoordinator::Claim(
    std::vector<std::string> keys, std::string value, LeaseId lease) {
  const boost::system::error_code ec = co_await Reachable();
  if (ec) co_return ec;
  if (lease != 0 && !store_.leases_.contains(lease)) {
    co_return make_error_code(CoordinatorErrc::kLeaseNotFound);
  }
  co_return Transact(
      keys.size(), [&](std::size_t i, Revision rev, std::vector<WatchEvent>& events) {
        ClaimOutcome outcome{keys[i], false, {}};
        if (auto it = store_.kvs_.find(keys[i]); it != store_.kvs_.end()) {
          const bool held = lease != 0 && it->second.lease == lease && it->second.value == value;
          outcome.won = held;
          if (!held) outcome.holder_value = it->second.value;
        } else {
          events.push_back(store_.PutKey(keys[i], value, lease, rev));
          outcome.won = true;
        }
        return outcome;
      });
}

asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> FakeCoordinator::Release(
    std::vector<std::pair<std::string, Revision>> keys) {
  const boost::system::error_code ec = co_await Reachable();
  if (ec) co_return ec;
  co_return Transact(keys.size(),
                     [&](std::size_t i, Revision rev, std::vector<WatchEvent>& events) {
                       ClaimOutcome outcome{keys[i].first, false, {}};
                       auto it = store_.kvs_.find(keys[i].first);
                       if (it != store_.kvs_.end() && it->second.mod_revision == keys[i].second) {
                         events.push_back(store_.DeleteKey(keys[i].first, rev));
                         outcome.won = true;
                       } else if (it != store_.kvs_.end()) {
                         outcome.holder_value = it->second.value;
                       }
                       return outcome;
                     });
}

asio::awaitable<boost::system::error_code> FakeCoordinator::Watch(
    std::string prefix, Revision from_revision, std::function<void(const WatchBatch&)> on_batch) {
  ++calls_;
  if (Unreachable()) co_return make_error_code(CoordinatorErrc::kUnavailable);
  if (from_revision > 0 && from_revision < store_.compacted_) {
    co_return make_error_code(CoordinatorErrc::kCompacted);
  }
  auto w = std::make_shared<FakeStore::Watcher>(co_await asio::this_coro::executor, prefix);
  if (from_revision > 0) {
    for (const auto& [rev, events] : store_.history_) {
      if (rev < from_revision) continue;
      WatchBatch batch{rev, {}};
      for (const auto& e : events) {
        if (e.kv.key.compare(0, prefix.size(), prefix) == 0) batch.events.push_back(e);
      }
      if (!batch.events.empty()) w->pending.push_back(std::move(batch));
    }
  }
  store_.watchers_.insert(w);
  my_watchers_.insert(w);
  struct Unregister {
    FakeCoordinator* self;
    std::shared_ptr<FakeStore::Watcher> w;
    ~Unregister() {
      self->store_.watchers_.erase(w);
      self->my_watchers_.erase(w);
    }
  } unregister{this, w};
  for (;;) {
    while (!w->pending.empty()) {
      WatchBatch batch = std::move(w->pending.front());
      w->pending.pop_front();
      on_batch(batch);
    }
    if (w->failure) co_return w->failure;
    auto [ec] = co_await w->wake.async_receive(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return asio::error::operation_aborted;
  }
}

}  // namespace fleetps::test_support
