// The conformance tests (see coordinator_conformance.hpp). Each test is a coroutine on one
// io_context, bounded as a whole; assertions inside coroutines use CO_ASSERT (co_return).
#include "coordinator_conformance.hpp"

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::test_support {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using collector::cluster::ClaimOutcome;
using collector::cluster::Coordinator;
using collector::cluster::CoordinatorErrc;
using collector::cluster::KeyValue;
using collector::cluster::LeaseId;
using collector::cluster::Revision;
using collector::cluster::Snapshot;
using collector::cluster::WatchBatch;
using collector::cluster::WatchEvent;

#define CO_ASSERT(condition)                  \
  do {                                        \
    if (!(condition)) {                       \
      ADD_FAILURE() << "failed: " #condition; \
      co_return;                              \
    }                                         \
  } while (false)

// The value of a result, or a test failure naming the error (and an empty value).
template <class T>
T Value(boost::system::result<T> result, const char* what) {
  if (!result) {
    ADD_FAILURE() << what << ": " << result.error().message();
    return T{};
  }
  return std::move(*result);
}

std::string UniquePrefix() {
  static std::atomic<int> counter{0};
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string prefix = "/fleetps-conformance/";
  prefix += std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  prefix += '-';
  prefix += std::to_string(counter++);
  prefix += '/';
  prefix += test != nullptr ? test->name() : "test";
  for (auto& c : prefix) {
    if (c == '/' && &c != &prefix.front()) continue;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '-') c = '_';
  }
  return prefix + "/";
}

// A watch running beside the test body; events collected, cancellable, result kept.
struct WatchRun {
  std::vector<WatchEvent> events;
  std::vector<Revision> batch_revisions;
  std::optional<boost::system::error_code> result;
  asio::cancellation_signal cancel;
};

asio::awaitable<std::shared_ptr<WatchRun>> Spawn(Coordinator& coordinator, std::string prefix,
                                                 Revision from) {
  auto run = std::make_shared<WatchRun>();
  auto on_batch = [run](const WatchBatch& batch) {
    run->batch_revisions.push_back(batch.revision);
    run->events.insert(run->events.end(), batch.events.begin(), batch.events.end());
  };
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, coordinator.Watch(std::move(prefix), from, std::move(on_batch)),
                 asio::bind_cancellation_slot(
                     run->cancel.slot(), [run](std::exception_ptr, boost::system::error_code ec) {
                       run->result = ec;
                     }));
  co_return run;
}

// Waits (real time, ≤ bound) until `done()`.
template <class Done>
asio::awaitable<bool> WaitUntil(Done done, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    co_await SleepFor(10ms);
  }
  co_return true;
}

asio::awaitable<bool> StopWatch(WatchRun& run) {
  run.cancel.emit(asio::cancellation_type::terminal);
  co_return co_await WaitUntil([&run] { return run.result.has_value(); }, 2s);
}

std::map<std::string, KeyValue> ByKey(const Snapshot& snapshot) {
  std::map<std::string, KeyValue> keys;
  for (const auto& kv : snapshot.kvs) keys[kv.key] = kv;
  return keys;
}

using Body = asio::awaitable<void> (*)(ConformanceBackend&, Coordinator&, std::string);

// Runs `body` on a fresh io_context, bounded by `bound`.
void RunBody(const ConformanceBackendFactory& factory, Body body,
             std::chrono::seconds bound = std::chrono::seconds(20)) {
  auto backend = factory();
  asio::io_context io;
  auto coordinator = backend->Make(io.get_executor());
  ASSERT_NE(coordinator, nullptr);
  RunBounded(io, body(*backend, *coordinator, UniquePrefix()), bound);
}

asio::awaitable<void> LeaseGrant(ConformanceBackend&, Coordinator& c, std::string) {
  auto five = Value(co_await c.GrantLease(5s), "grant 5 s");
  EXPECT_NE(five.first, 0);
  EXPECT_GE(five.second, 5s);
  // etcd's floor is 2 s: the granted TTL may be more than asked, never less.
  auto one = Value(co_await c.GrantLease(1s), "grant 1 s");
  EXPECT_NE(one.first, 0);
  EXPECT_NE(one.first, five.first);
  EXPECT_GE(one.second, 1s);
  EXPECT_FALSE(co_await c.Revoke(five.first));
  EXPECT_FALSE(co_await c.Revoke(one.first));
}

asio::awaitable<void> KeepAliveExtends(ConformanceBackend& backend, Coordinator& c,
                                       std::string prefix) {
  const auto lease_grant = Value(co_await c.GrantLease(2s), "grant");
  const LeaseId lease = lease_grant.first;
  const auto ttl = lease_grant.second;
  CO_ASSERT(lease != 0);
  CO_ASSERT(Value(co_await c.Put(prefix + "member", "m", lease), "put") > 0);
  // 1.5 s + 1.5 s is past the TTL (and etcd's 0.5 s expiry check): only the keepalive in
  // between keeps the key.
  co_await backend.Elapse(1500ms);
  auto renewed = co_await c.KeepAlive(lease);
  CO_ASSERT(renewed.has_value());
  EXPECT_GE(*renewed, ttl);
  co_await backend.Elapse(1500ms);
  auto snapshot = Value(co_await c.Range(prefix), "range");
  CO_ASSERT(snapshot.kvs.size() == 1u);
  EXPECT_EQ(snapshot.kvs[0].lease, lease);
  EXPECT_FALSE(co_await c.Revoke(lease));
}

asio::awaitable<void> LeaseExpires(ConformanceBackend& backend, Coordinator& c,
                                   std::string prefix) {
  const auto lease_grant = Value(co_await c.GrantLease(2s), "grant");
  const LeaseId lease = lease_grant.first;
  const auto ttl = lease_grant.second;
  CO_ASSERT(lease != 0);
  CO_ASSERT(Value(co_await c.Put(prefix + "a", "1", lease), "put a") > 0);
  CO_ASSERT(Value(co_await c.Put(prefix + "b", "2", lease), "put b") > 0);
  CO_ASSERT(Value(co_await c.Put(prefix + "other", "3", 0), "put other") > 0);
  const auto snapshot = Value(co_await c.Range(prefix), "range");
  CO_ASSERT(snapshot.kvs.size() == 3u);
  auto watch = co_await Spawn(c, prefix, snapshot.revision + 1);
  // Expiry is bounded: TTL + etcd's lessor check, well under three times the TTL.
  bool deleted = false;
  for (auto waited = 0ms; !deleted && waited < 3 * ttl; waited += 250ms) {
    co_await backend.Elapse(250ms);
    deleted = co_await WaitUntil([&] { return watch->events.size() >= 2; }, 20ms);
  }
  EXPECT_TRUE(co_await StopWatch(*watch));
  CO_ASSERT(deleted);
  CO_ASSERT(watch->events.size() == 2u);
  EXPECT_EQ(watch->events[0].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(watch->events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(watch->events[0].kv.mod_revision, watch->events[1].kv.mod_revision)
      << "a lease's keys go in one revision";
  const auto after = Value(co_await c.Range(prefix), "range after");
  CO_ASSERT(after.kvs.size() == 1u);
  EXPECT_EQ(after.kvs[0].key, prefix + "other");
  auto renewed = co_await c.KeepAlive(lease);
  EXPECT_EQ(renewed.error(), CoordinatorErrc::kLeaseNotFound);
}

asio::awaitable<void> RevokeDeletesAtOnce(ConformanceBackend&, Coordinator& c, std::string prefix) {
  const auto lease_grant = Value(co_await c.GrantLease(30s), "grant");
  const LeaseId lease = lease_grant.first;
  const auto ttl = lease_grant.second;
  CO_ASSERT(lease != 0);
  CO_ASSERT(Value(co_await c.Put(prefix + "k1", "v", lease), "put") > 0);
  std::vector<std::string> k2(1, prefix + "k2");
  auto claimed = Value(co_await c.Claim(std::move(k2), "v", lease), "claim");
  CO_ASSERT(claimed.size() == 1u && claimed[0].won);
  EXPECT_FALSE(co_await c.Revoke(lease));
  EXPECT_TRUE(Value(co_await c.Range(prefix), "range").kvs.empty());
  EXPECT_EQ(co_await c.Revoke(lease), CoordinatorErrc::kLeaseNotFound);
  EXPECT_EQ((co_await c.KeepAlive(lease)).error(), CoordinatorErrc::kLeaseNotFound);
  EXPECT_EQ((co_await c.Put(prefix + "k3", "v", lease)).error(), CoordinatorErrc::kLeaseNotFound);
  std::vector<std::string> k4(1, prefix + "k4");
  auto late_claim = co_await c.Claim(std::move(k4), "v", lease);
  EXPECT_EQ(late_claim.error(), CoordinatorErrc::kLeaseNotFound);
  (void)ttl;
}

std::string KeyAt(const std::string& prefix, int i) {
  char name[16];
  std::snprintf(name, sizeof name, "%05d", i);
  return prefix + name;
}

asio::awaitable<void> ClaimExactOutcomes(ConformanceBackend&, Coordinator& c, std::string prefix) {
  constexpr int kKeys = 300;  // three store transactions of at most 128
  const auto lease_grant = Value(co_await c.GrantLease(30s), "grant");
  const LeaseId lease = lease_grant.first;
  const auto ttl = lease_grant.second;
  CO_ASSERT(lease != 0);
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    keys.push_back(KeyAt(prefix, i));
    // Taken before the claim: every 3rd key, and a run across the first batch's end.
    if (i % 3 == 0 || (i >= 125 && i < 131)) {
      CO_ASSERT(Value(co_await c.Put(keys.back(), "other-" + std::to_string(i), 0), "put") > 0);
    }
  }
  auto outcomes = Value(co_await c.Claim(keys, "me", lease), "claim");
  CO_ASSERT(outcomes.size() == keys.size());
  int won = 0;
  for (int i = 0; i < kKeys; ++i) {
    const bool taken = i % 3 == 0 || (i >= 125 && i < 131);
    EXPECT_EQ(outcomes[i].key, keys[i]);
    EXPECT_EQ(outcomes[i].won, !taken) << keys[i];
    EXPECT_EQ(outcomes[i].holder_value, taken ? "other-" + std::to_string(i) : "") << keys[i];
    won += outcomes[i].won ? 1 : 0;
  }
  const auto stored = ByKey(Value(co_await c.Range(prefix), "range"));
  EXPECT_EQ(stored.size(), static_cast<std::size_t>(kKeys));
  int mine = 0;
  for (const auto& [key, kv] : stored) {
    if (kv.value == "me") {
      ++mine;
      EXPECT_EQ(kv.lease, lease) << key;
    }
  }
  EXPECT_EQ(mine, won);
  // A second claimant loses everything and learns each holder.
  const auto rival_grant = Value(co_await c.GrantLease(30s), "grant rival");
  const LeaseId rival = rival_grant.first;
  const auto rival_ttl = rival_grant.second;
  auto lost = Value(co_await c.Claim(keys, "rival", rival), "rival claim");
  CO_ASSERT(lost.size() == keys.size());
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_FALSE(lost[i].won) << keys[i];
    EXPECT_EQ(lost[i].holder_value, stored.at(keys[i]).value) << keys[i];
  }
  // Claiming again what this lease already holds with this value wins it again (a claim retried
  // after its answer was lost); the same keys under another value stay lost.
  auto again = Value(co_await c.Claim(keys, "me", lease), "claim again");
  auto other_value = Value(co_await c.Claim(keys, "me-too", lease), "claim with another value");
  CO_ASSERT(again.size() == keys.size() && other_value.size() == keys.size());
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(again[i].won, outcomes[i].won) << keys[i];
    EXPECT_FALSE(other_value[i].won) << keys[i];
    EXPECT_EQ(other_value[i].holder_value, stored.at(keys[i]).value) << keys[i];
  }
  auto empty = Value(co_await c.Claim(std::vector<std::string>(), "x", lease), "empty claim");
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(co_await c.Revoke(lease));
  EXPECT_FALSE(co_await c.Revoke(rival));
  (void)ttl;
  (void)rival_ttl;
}

asio::awaitable<void> ReleaseGuarded(ConformanceBackend&, Coordinator& c, std::string prefix) {
  constexpr int kKeys = 200;
  const auto lease_grant = Value(co_await c.GrantLease(30s), "grant");
  const LeaseId lease = lease_grant.first;
  const auto ttl = lease_grant.second;
  CO_ASSERT(lease != 0);
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(KeyAt(prefix, i));
  auto claimed = Value(co_await c.Claim(keys, "me", lease), "claim");
  CO_ASSERT(claimed.size() == keys.size());
  const auto before = ByKey(Value(co_await c.Range(prefix), "range"));
  CO_ASSERT(before.size() == keys.size());
  // Someone else's writes move two keys (one in each batch of the release).
  CO_ASSERT(Value(co_await c.Put(keys[7], "moved", 0), "move 7") > 0);
  CO_ASSERT(Value(co_await c.Put(keys[150], "moved", 0), "move 150") > 0);
  std::vector<std::pair<std::string, Revision>> guarded;
  for (const auto& key : keys) guarded.emplace_back(key, before.at(key).mod_revision);
  guarded.emplace_back(prefix + "absent", before.at(keys[0]).mod_revision);
  auto released = Value(co_await c.Release(guarded), "release");
  CO_ASSERT(released.size() == guarded.size());
  for (std::size_t i = 0; i < guarded.size(); ++i) {
    const bool moved = i == 7 || i == 150;
    const bool absent = i == keys.size();
    EXPECT_EQ(released[i].key, guarded[i].first);
    EXPECT_EQ(released[i].won, !moved && !absent) << guarded[i].first;
    EXPECT_EQ(released[i].holder_value, moved ? "moved" : "") << guarded[i].first;
  }
  const auto after = Value(co_await c.Range(prefix), "range after");
  CO_ASSERT(after.kvs.size() == 2u);
  EXPECT_EQ(after.kvs[0].key, keys[7]);
  EXPECT_EQ(after.kvs[1].key, keys[150]);
  EXPECT_FALSE(co_await c.Revoke(lease));
  (void)ttl;
}

asio::awaitable<void> RangeThenWatch(ConformanceBackend&, Coordinator& c, std::string prefix) {
  const auto lease_grant = Value(co_await c.GrantLease(30s), "grant");
  const LeaseId lease = lease_grant.first;
  const auto ttl = lease_grant.second;
  CO_ASSERT(lease != 0);
  const std::string initial = "cab";
  for (const char key : initial) {
    CO_ASSERT(Value(co_await c.Put(prefix + key, "0", 0), "put") > 0);
  }
  CO_ASSERT(Value(co_await c.Put(prefix.substr(0, prefix.size() - 1) + "-sibling", "x", 0),
                  "put outside") > 0);
  const auto snapshot = Value(co_await c.Range(prefix), "range");
  CO_ASSERT(snapshot.kvs.size() == 3u);
  EXPECT_EQ(snapshot.kvs[0].key, prefix + "a");
  EXPECT_EQ(snapshot.kvs[2].key, prefix + "c");
  // A change between the read and the watch's start must still be seen: no gap.
  struct Change {
    WatchEvent::Type type;
    std::string key;
    Revision revision = 0;
  };
  std::vector<Change> changes;
  const Revision gap = Value(co_await c.Put(prefix + "a", "gap", 0), "put in the gap");
  changes.push_back({WatchEvent::Type::kPut, prefix + "a", gap});
  auto watch = co_await Spawn(c, prefix, snapshot.revision + 1);
  for (int i = 0; i < 20; ++i) {
    const std::string key = prefix + "k" + std::to_string(i % 4);
    const Revision revision = Value(co_await c.Put(key, std::to_string(i), 0), "put");
    changes.push_back({WatchEvent::Type::kPut, key, revision});
    if (i % 5 == 4) {
      std::vector<std::pair<std::string, Revision>> one(1, std::pair(key, revision));
      auto released = Value(co_await c.Release(std::move(one)), "release");
      CO_ASSERT(released.size() == 1u && released[0].won);
      changes.push_back({WatchEvent::Type::kDelete, key, 0});
    }
  }
  const bool all = co_await WaitUntil([&] { return watch->events.size() >= changes.size(); }, 5s);
  EXPECT_TRUE(co_await StopWatch(*watch));
  CO_ASSERT(all);
  CO_ASSERT(watch->events.size() == changes.size());
  Revision last = snapshot.revision;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& event = watch->events[i];
    EXPECT_EQ(event.type, changes[i].type) << i;
    EXPECT_EQ(event.kv.key, changes[i].key) << i;
    if (changes[i].revision != 0) {
      EXPECT_EQ(event.kv.mod_revision, changes[i].revision) << i;
    }
    EXPECT_GT(event.kv.mod_revision, last) << i;
    last = event.kv.mod_revision;
  }
  EXPECT_EQ(watch->events.front().kv.value, "gap");
  for (std::size_t i = 1; i < watch->batch_revisions.size(); ++i) {
    EXPECT_GE(watch->batch_revisions[i], watch->batch_revisions[i - 1]);
  }
  EXPECT_FALSE(co_await c.Revoke(lease));
  (void)ttl;
}

asio::awaitable<void> CompactedStart(ConformanceBackend& backend, Coordinator& c,
                                     std::string prefix) {
  const Revision first = Value(co_await c.Put(prefix + "k", "1", 0), "put 1");
  CO_ASSERT(first > 0);
  CO_ASSERT(Value(co_await c.Put(prefix + "k", "2", 0), "put 2") > first);
  const Revision last = Value(co_await c.Put(prefix + "k", "3", 0), "put 3");
  CO_ASSERT(!co_await backend.Compact(last));
  auto watch = co_await Spawn(c, prefix, first);
  const bool ended = co_await WaitUntil([&] { return watch->result.has_value(); }, 5s);
  if (!ended) co_await StopWatch(*watch);
  CO_ASSERT(ended);
  EXPECT_EQ(*watch->result, CoordinatorErrc::kCompacted) << watch->result->message();
  EXPECT_TRUE(watch->events.empty());
}

asio::awaitable<void> WatchCancellation(ConformanceBackend&, Coordinator& c, std::string prefix) {
  const auto snapshot = Value(co_await c.Range(prefix), "range");
  auto watch = co_await Spawn(c, prefix, snapshot.revision + 1);
  co_await SleepFor(200ms);  // the watch is established and idle
  CO_ASSERT(!watch->result.has_value());
  EXPECT_TRUE(co_await StopWatch(*watch)) << "a cancelled watch returns within 2 s";
  CO_ASSERT(watch->result.has_value());
  EXPECT_EQ(*watch->result, boost::asio::error::operation_aborted) << watch->result->message();
}

}  // namespace

void RunBounded(asio::io_context& io, asio::awaitable<void> body, std::chrono::seconds bound) {
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
    done = true;
    failure = e;
  });
  io.run_for(bound);
  EXPECT_TRUE(done) << "the test did not finish within " << bound.count() << " s";
  if (failure) std::rethrow_exception(failure);
}

asio::awaitable<void> SleepFor(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(duration);
  co_await timer.async_wait(asio::use_awaitable);
}

TEST_P(CoordinatorConformance, LeaseGrantGivesAtLeastTheRequestedTtl) {
  RunBody(GetParam(), LeaseGrant);
}
TEST_P(CoordinatorConformance, KeepAliveExtendsTheLease) { RunBody(GetParam(), KeepAliveExtends); }
TEST_P(CoordinatorConformance, LeaseLeftAloneExpiresAndDeletesItsKeysInOneRevision) {
  RunBody(GetParam(), LeaseExpires);
}
TEST_P(CoordinatorConformance, RevokeDeletesTheLeasesKeysAtOnce) {
  RunBody(GetParam(), RevokeDeletesAtOnce);
}
TEST_P(CoordinatorConformance, ClaimGivesExactOutcomesAcrossBatches) {
  RunBody(GetParam(), ClaimExactOutcomes);
}
TEST_P(CoordinatorConformance, ReleaseDeletesOnlyKeysStillAtTheirRevision) {
  RunBody(GetParam(), ReleaseGuarded);
}
TEST_P(CoordinatorConformance, RangeThenWatchSeesEveryLaterChangeInOrder) {
  RunBody(GetParam(), RangeThenWatch);
}
TEST_P(CoordinatorConformance, WatchFromACompactedRevisionFails) {
  RunBody(GetParam(), CompactedStart);
}
TEST_P(CoordinatorConformance, CancelledWatchReturnsPromptly) {
  RunBody(GetParam(), WatchCancellation);
}

}  // namespace fleetps::test_support
