#include "fleetps/registry/registry.hpp"

#include <atomic>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fleetps::registry {
namespace {

namespace asio = boost::asio;
using testing::ElementsAre;

TEST(RegistryTest, UniqueKeyRefusesLiveDuplicate) {
  Registry<std::string, int> reg{Keys::kUnique};
  auto first = reg.Register("web01", 1);
  ASSERT_TRUE(first);
  auto second = reg.Register("web01", 2);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), make_error_code(Errc::kAlreadyRegistered));
  EXPECT_EQ(reg.LookupOne("web01"), 1);
  EXPECT_EQ(reg.Size(), 1U);
}

TEST(RegistryTest, ReRegisterAfterOwnerDiedSucceeds) {
  Registry<std::string, int> reg{Keys::kUnique};
  {
    auto token = reg.Register("web01", 1);
    ASSERT_TRUE(token);
  }
  EXPECT_FALSE(reg.LookupOne("web01"));
  auto again = reg.Register("web01", 2);
  ASSERT_TRUE(again);
  EXPECT_EQ(reg.LookupOne("web01"), 2);
}

TEST(RegistryTest, DeadOwnerIsReplacedBeforeItsCleanupRuns) {
  Registry<std::string, int> reg{Keys::kUnique};
  auto owner = std::make_shared<int>(0);
  auto stale = reg.Register("web01", 1, owner);
  ASSERT_TRUE(stale);
  owner.reset();  // the owner ended; its token has not been destroyed yet
  EXPECT_FALSE(reg.LookupOne("web01"));

  auto fresh = reg.Register("web01", 2);
  ASSERT_TRUE(fresh);
  stale->Reset();  // the late cleanup must not remove the newer entry
  EXPECT_EQ(reg.LookupOne("web01"), 2);
  EXPECT_EQ(reg.Size(), 1U);
}

TEST(RegistryTest, ResetRemovesOnlyItsOwnEntry) {
  Registry<std::string, int> reg{Keys::kDuplicate};
  auto a = reg.Register("topic", 1);
  auto b = reg.Register("topic", 2);
  ASSERT_TRUE(a && b);
  a->Reset();
  EXPECT_FALSE(*a);
  EXPECT_THAT(reg.Lookup("topic"), ElementsAre(2));
  a->Reset();  // idempotent
  EXPECT_THAT(reg.Lookup("topic"), ElementsAre(2));
}

TEST(RegistryTest, DuplicateKeysKeepRegistrationOrder) {
  Registry<std::string, int> reg{Keys::kDuplicate};
  std::vector<Registration> tokens;
  for (int i = 0; i < 4; ++i) {
    tokens.push_back(reg.Register("probe/ps", i).value());
  }
  tokens.push_back(reg.Register("probe/lsof", 9).value());
  EXPECT_THAT(reg.Lookup("probe/ps"), ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(reg.Size(), 5U);
  EXPECT_EQ(reg.Keys().size(), 2U);
  tokens.erase(tokens.begin() + 1);
  EXPECT_THAT(reg.Lookup("probe/ps"), ElementsAre(0, 2, 3));
}

TEST(RegistryTest, MoveTransfersOwnershipAndAssignmentReleasesPrevious) {
  Registry<std::string, int> reg{Keys::kUnique};
  Registration a = reg.Register("a", 1).value();
  Registration moved = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(reg.LookupOne("a"), 1);
  moved = reg.Register("b", 2).value();
  EXPECT_FALSE(reg.LookupOne("a"));
  EXPECT_EQ(reg.LookupOne("b"), 2);
}

TEST(RegistryTest, UpdateValueThroughToken) {
  Registry<std::string, int> reg{Keys::kUnique};
  Registry<std::string, int> other{Keys::kUnique};
  auto token = reg.Register("web01", 1).value();
  EXPECT_TRUE(reg.UpdateValue(token, 5));
  EXPECT_EQ(reg.LookupOne("web01"), 5);
  EXPECT_FALSE(other.UpdateValue(token, 6));
  token.Reset();
  EXPECT_FALSE(reg.UpdateValue(token, 7));
}

TEST(RegistryTest, TokenMayOutliveRegistry) {
  Registration token;
  {
    Registry<std::string, int> reg{Keys::kUnique};
    token = reg.Register("web01", 1).value();
  }
  EXPECT_TRUE(token);
  token.Reset();  // no registry any more: nothing to do, no crash
  EXPECT_FALSE(token);
}

TEST(RegistryTest, DispatchRunsCallbackOutsideTheLock) {
  Registry<std::string, int> reg{Keys::kDuplicate};
  auto a = reg.Register("k", 1).value();
  auto b = reg.Register("k", 2).value();
  std::vector<Registration> made_inside;
  const std::size_t n = reg.Dispatch("k", [&](const std::vector<int>& values) {
    // Re-entering the registry from the callback would deadlock if the lock were held.
    for (int v : values) {
      made_inside.push_back(reg.Register("k", v * 10).value());
    }
    EXPECT_EQ(reg.Lookup("k").size(), 4U);
  });
  EXPECT_EQ(n, 2U);
  EXPECT_THAT(reg.Lookup("k"), ElementsAre(1, 2, 10, 20));

  bool called = false;
  EXPECT_EQ(reg.Dispatch("missing", [&](const std::vector<int>&) { called = true; }), 0U);
  EXPECT_FALSE(called);
}

TEST(RegistryTest, ForEachVisitsSnapshot) {
  Registry<std::string, int> reg{Keys::kUnique};
  auto a = reg.Register("a", 1).value();
  auto b = reg.Register("b", 2).value();
  int sum = 0;
  reg.ForEach([&](const std::string& key, int value) {
    sum += value;
    reg.Register(key + "x", value).value().Reset();  // re-entrant
  });
  EXPECT_EQ(sum, 3);
  EXPECT_EQ(reg.Size(), 2U);
}

asio::awaitable<void> Worker(Registry<std::string, int>& reg, asio::steady_timer& park,
                             bool crash) {
  Registration token = reg.Register("web01", 7).value();
  co_await park.async_wait(asio::as_tuple(asio::use_awaitable));
  if (crash) {
    throw std::runtime_error("bug");
  }
}

class RegistryWorkerTest : public testing::TestWithParam<bool> {};

TEST_P(RegistryWorkerTest, RegistrationVanishesWhenWorkerEnds) {
  asio::io_context io;
  Registry<std::string, int> reg{Keys::kUnique};
  asio::steady_timer park(io, asio::steady_timer::time_point::max());
  bool done = false;
  asio::co_spawn(io, Worker(reg, park, GetParam()),
                 [&](const std::exception_ptr&) { done = true; });
  io.poll();
  EXPECT_EQ(reg.LookupOne("web01"), 7);
  EXPECT_FALSE(reg.Register("web01", 8));

  park.cancel();
  io.restart();
  io.poll();
  ASSERT_TRUE(done);
  EXPECT_FALSE(reg.LookupOne("web01"));
  EXPECT_TRUE(reg.Register("web01", 8));
}

INSTANTIATE_TEST_SUITE_P(RegistryWorkerEndsNormallyOrCrashes, RegistryWorkerTest, testing::Bool());

TEST(RegistryTest, ConcurrentRegisterAndLookupKeepUniqueness) {
  Registry<std::string, int> reg{Keys::kUnique};
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::atomic<int> violations{0};
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string key = "host" + std::to_string(i % 3);
        auto token = reg.Register(key, t);
        if (token) {
          wins.fetch_add(1);
          // While we hold the key nobody else may: the value must be ours.
          if (reg.LookupOne(key) != t || reg.Lookup(key).size() != 1) {
            violations.fetch_add(1);
          }
        }
        (void)reg.Keys();
        (void)reg.Size();
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(wins.load(), 0);
  EXPECT_EQ(reg.Size(), 0U);
}

}  // namespace
}  // namespace fleetps::registry
