// The FakeCoordinator keeps etcd's semantics where the ownership protocol depends on them.
#include "fake_coordinator.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::test_support {
namespace {

namespace asio = boost::asio;
using cluster::CoordinatorErrc;
using cluster::WatchBatch;
using std::chrono::seconds;

using Keys = std::vector<std::string>;
using Guards = std::vector<std::pair<std::string, cluster::Revision>>;

// GCC 12 miscompiles braced lists inside coroutines: build arguments outside.
Keys KeysOf(std::string a, std::string b = {}) {
  Keys keys{std::move(a)};
  if (!b.empty()) keys.push_back(std::move(b));
  return keys;
}
Guards GuardOf(std::string key, cluster::Revision rev) {
  Guards guards;
  guards.emplace_back(std::move(key), rev);
  return guards;
}

// Runs `body` to completion on `io` (the fake never blocks unless cut off).
template <class Body>
void RunCoroutine(asio::io_context& io, Body body) {
  bool finished = false;
  asio::co_spawn(io, body(), [&](const std::exception_ptr& e) {
    finished = true;
    if (e) std::rethrow_exception(e);
  });
  io.restart();
  io.poll();
  ASSERT_TRUE(finished);
}

TEST(FakeCoordinatorTest, ClaimReleaseAndLeaseExpiryAsEtcd) {
  asio::io_context io;
  ManualClock clock;
  FakeStore store(clock);
  FakeCoordinator a(store);
  FakeCoordinator b(store);
  RunCoroutine(io, [&]() -> asio::awaitable<void> {
    auto la = co_await a.GrantLease(seconds(1));
    EXPECT_EQ(la->second, seconds(2)) << "etcd's TTL floor";
    auto lb = co_await b.GrantLease(seconds(10));
    auto won = co_await a.Claim(KeysOf("/k/1", "/k/2"), "a", la->first);
    EXPECT_TRUE((*won)[0].won && (*won)[1].won);
    auto lost = co_await b.Claim(KeysOf("/k/2", "/k/3"), "b", lb->first);
    EXPECT_FALSE((*lost)[0].won);
    EXPECT_EQ((*lost)[0].holder_value, "a");
    EXPECT_TRUE((*lost)[1].won);
    const auto k1 = store.Get("/k/1");
    EXPECT_EQ(k1.create_revision, k1.mod_revision);
    EXPECT_EQ(k1.lease, la->first);
    // A release guarded by a stale mod_revision deletes nothing.
    auto stale = co_await b.Release(GuardOf("/k/1", k1.mod_revision + 100));
    EXPECT_FALSE((*stale)[0].won);
    EXPECT_NE(store.Get("/k/1").create_revision, 0);
    auto released = co_await a.Release(GuardOf("/k/1", k1.mod_revision));
    EXPECT_TRUE((*released)[0].won);
    EXPECT_EQ(store.Get("/k/1").create_revision, 0);
    auto no_lease = co_await a.Claim(KeysOf("/k/9"), "a", 12345);
    EXPECT_EQ(no_lease.error(), CoordinatorErrc::kLeaseNotFound);
  });
  const auto rev = store.CurrentRevision();
  store.Advance(seconds(3));  // a's lease (2 s) expires: /k/2 goes, in one revision
  EXPECT_EQ(store.CurrentRevision(), rev + 1);
  EXPECT_EQ(store.Get("/k/2").create_revision, 0);
  EXPECT_NE(store.Get("/k/3").create_revision, 0);
  RunCoroutine(io, [&]() -> asio::awaitable<void> {
    auto renewed = co_await a.KeepAlive(store.Get("/k/3").lease - 1);
    EXPECT_EQ(renewed.error(), CoordinatorErrc::kLeaseNotFound);
  });
}

TEST(FakeCoordinatorTest, WatchReplaysFromARevisionAndFailsWhenCompacted) {
  asio::io_context io;
  ManualClock clock;
  FakeStore store(clock);
  FakeCoordinator a(store);
  cluster::Revision first = 0;
  RunCoroutine(io, [&]() -> asio::awaitable<void> {
    first = *(co_await a.Put("/p/x", "1", 0));
    co_await a.Put("/p/y", "2", 0);
    co_await a.Put("/q/z", "3", 0);
  });
  std::vector<WatchBatch> seen;
  std::optional<boost::system::error_code> ended;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        ended = co_await a.Watch("/p/", first + 1, [&](const WatchBatch& b) { seen.push_back(b); });
      },
      asio::detached);
  io.restart();
  io.poll();
  ASSERT_EQ(seen.size(), 1u);  // /p/y replayed, /q/z filtered out
  EXPECT_EQ(seen[0].events[0].kv.key, "/p/y");
  RunCoroutine(io, [&]() -> asio::awaitable<void> { co_await a.Put("/p/x", "4", 0); });
  io.poll();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].events[0].kv.value, "4");
  EXPECT_EQ(seen[1].events[0].kv.create_revision, first);
  a.SetCutOff(true);
  io.poll();
  ASSERT_TRUE(ended);
  EXPECT_EQ(*ended, CoordinatorErrc::kUnavailable);
  a.SetCutOff(false);
  store.Compact(store.CurrentRevision());
  RunCoroutine(io, [&]() -> asio::awaitable<void> {
    const auto ec = co_await a.Watch("/p/", first, [](const WatchBatch&) {});
    EXPECT_EQ(ec, CoordinatorErrc::kCompacted);
  });
}

TEST(FakeCoordinatorTest, CutOffClientFailsAfterItsRequestTimeout) {
  asio::io_context io;
  ManualClock clock;
  FakeStore store(clock);
  FakeCoordinator a(store, seconds(2));
  a.SetCutOff(true);
  std::optional<boost::system::error_code> failed;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto r = co_await a.GrantLease(seconds(10));
        failed = r.error();
      },
      asio::detached);
  io.poll();
  store.Advance(seconds(1));
  io.poll();
  EXPECT_FALSE(failed);
  store.Advance(seconds(1));
  io.restart();
  io.poll();
  ASSERT_TRUE(failed);
  EXPECT_EQ(*failed, CoordinatorErrc::kUnavailable);
}

}  // namespace
}  // namespace fleetps::test_support
