#include "fleetps/registry/bus.hpp"

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fleetps::registry {
namespace {

namespace asio = boost::asio;
using testing::ElementsAre;

std::vector<int> Drain(Subscription<int>& sub) {
  std::vector<int> got;
  while (auto m = sub.TryReceive()) {
    got.push_back(*m);
  }
  return got;
}

TEST(BusTest, ExactTopicDelivery) {
  Bus<int> bus;
  auto web = bus.Subscribe("host/web01", 8).value();
  auto db = bus.Subscribe("host/db01", 8).value();
  EXPECT_EQ(bus.Publish("host/web01", 1), 1U);
  EXPECT_EQ(bus.Publish("host/web01", 2), 1U);
  EXPECT_EQ(bus.Publish("host/other", 3), 0U);
  EXPECT_THAT(Drain(web), ElementsAre(1, 2));
  EXPECT_TRUE(Drain(db).empty());
  EXPECT_EQ(bus.PublishedTotal(), 3U);
}

TEST(BusTest, WildcardSubscriptions) {
  Bus<int> bus;
  auto all = bus.Subscribe("*", 8).value();
  auto hosts = bus.Subscribe("host/*", 8).value();
  auto ps = bus.Subscribe("probe/ps", 8).value();
  bus.Publish("host/web01", 1);
  bus.Publish("probe/ps", 2);
  bus.Publish("hostile", 3);  // shares the letters, not the segment
  bus.Publish("host/", 4);    // empty last segment does not match `host/*`
  bus.Publish("host/db01/ps", 5);
  EXPECT_THAT(Drain(all), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(Drain(hosts), ElementsAre(1, 5));
  EXPECT_THAT(Drain(ps), ElementsAre(2));
}

TEST(BusTest, InvalidPatternsAndCapacityAreRefused) {
  Bus<int> bus;
  for (const char* bad : {"", "host*", "*/ps", "host/*/ps", "**"}) {
    auto sub = bus.Subscribe(bad, 1);
    ASSERT_FALSE(sub) << bad;
    EXPECT_EQ(sub.error(), make_error_code(Errc::kInvalidPattern)) << bad;
  }
  auto zero = bus.Subscribe("x", 0);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error(), make_error_code(Errc::kInvalidCapacity));
  EXPECT_EQ(bus.SubscriberCount(), 0U);
}

TEST(BusTest, SlowSubscriberNeverBlocksPublisherAndDropsAreCounted) {
  Bus<int> bus;
  auto slow = bus.Subscribe("host/*", 16).value();  // never reads
  auto fast = bus.Subscribe("*", 10000).value();
  constexpr int kMessages = 10000;
  for (int i = 0; i < kMessages; ++i) {
    bus.Publish("host/web01", i);  // a blocking publish would hang here
  }
  EXPECT_EQ(slow.Dropped(), static_cast<std::uint64_t>(kMessages - 16));
  EXPECT_EQ(slow.Pending(), 16U);
  EXPECT_EQ(fast.Dropped(), 0U);
  EXPECT_EQ(fast.Pending(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(bus.DroppedTotal(), static_cast<std::uint64_t>(kMessages - 16));
  // The slow subscriber keeps the oldest messages; later ones were dropped.
  auto kept = Drain(slow);
  ASSERT_EQ(kept.size(), 16U);
  EXPECT_EQ(kept.front(), 0);
  EXPECT_EQ(kept.back(), 15);
}

TEST(BusTest, UnsubscribeOnDestruction) {
  Bus<int> bus;
  {
    auto sub = bus.Subscribe("*", 1).value();
    EXPECT_EQ(bus.SubscriberCount(), 1U);
  }
  EXPECT_EQ(bus.SubscriberCount(), 0U);
  EXPECT_EQ(bus.Publish("x", 1), 0U);
  EXPECT_EQ(bus.DroppedTotal(), 0U);
}

asio::awaitable<std::vector<int>> ReceiveN(Subscription<int>& sub, int n) {
  std::vector<int> got;
  for (int i = 0; i < n; ++i) {
    auto m = co_await sub.Receive();
    if (!m) {
      break;
    }
    got.push_back(*m);
  }
  co_return got;
}

TEST(BusTest, CoroutineReceiveWaitsForPublishes) {
  asio::io_context io;
  Bus<int> bus;
  auto sub = bus.Subscribe("probe/ps", 4).value();
  std::optional<std::vector<int>> got;
  asio::co_spawn(io, ReceiveN(sub, 3), [&](std::exception_ptr, std::vector<int> v) { got = v; });
  io.poll();
  EXPECT_FALSE(got);
  bus.Publish("probe/ps", 1);  // handed straight to the waiting receiver
  bus.Publish("probe/ps", 2);
  io.poll();
  EXPECT_FALSE(got);
  bus.Publish("probe/ps", 3);
  io.poll();
  ASSERT_TRUE(got);
  EXPECT_THAT(*got, ElementsAre(1, 2, 3));
}

asio::awaitable<boost::system::result<int>> ReceiveOne(const Subscription<int>& sub) {
  co_return co_await sub.Receive();
}

TEST(BusTest, CancelledReceiveCompletesAbortedAndLosesNothing) {
  asio::io_context io;
  Bus<int> bus;
  auto sub = bus.Subscribe("*", 4).value();
  asio::cancellation_signal cancel;
  std::optional<boost::system::result<int>> got;
  asio::co_spawn(
      io, ReceiveOne(sub),
      asio::bind_cancellation_slot(
          cancel.slot(), [&](std::exception_ptr, boost::system::result<int> r) { got = r; }));
  io.poll();
  EXPECT_FALSE(got);
  cancel.emit(asio::cancellation_type::terminal);
  io.restart();
  io.poll();
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error(), asio::error::operation_aborted);

  bus.Publish("x", 42);  // goes to the queue, not to the cancelled receiver
  EXPECT_EQ(sub.TryReceive(), 42);
}

TEST(BusTest, ClosingWakesPendingReceiver) {
  asio::io_context io;
  Bus<int> bus;
  auto sub = bus.Subscribe("*", 4).value();
  std::optional<boost::system::result<int>> got;
  asio::co_spawn(io, ReceiveOne(sub),
                 [&](std::exception_ptr, boost::system::result<int> r) { got = r; });
  io.poll();
  sub.Close();
  io.restart();
  io.poll();
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error(), make_error_code(Errc::kClosed));
  EXPECT_EQ(bus.SubscriberCount(), 0U);
}

TEST(BusTest, BusCloseLetsSubscribersDrainThenReportsClosed) {
  asio::io_context io;
  auto bus = std::make_unique<Bus<int>>();
  auto sub = bus->Subscribe("*", 4).value();
  bus->Publish("x", 1);
  bus.reset();
  std::optional<std::vector<int>> got;
  asio::co_spawn(io, ReceiveN(sub, 5), [&](std::exception_ptr, std::vector<int> v) { got = v; });
  io.run();
  ASSERT_TRUE(got);
  EXPECT_THAT(*got, ElementsAre(1));
}

asio::awaitable<int> SumUntilSentinel(const Subscription<int>& sub) {
  int sum = 0;
  for (;;) {
    auto m = co_await sub.Receive();
    if (!m || *m < 0) {
      co_return sum;
    }
    sum += *m;
  }
}

TEST(BusTest, ConcurrentPublishersAndReceivers) {
  asio::thread_pool pool(2);
  Bus<int> bus;
  constexpr int kPerPublisher = 5000;
  constexpr int kPublishers = 3;
  auto sub = bus.Subscribe("host/*", kPublishers * kPerPublisher + 1).value();
  auto sum = asio::co_spawn(asio::make_strand(pool), SumUntilSentinel(sub), asio::use_future);

  std::atomic<bool> stop{false};
  std::thread churn([&] {  // subscribers come and go while publishing
    while (!stop.load()) {
      auto tmp = bus.Subscribe("*", 2).value();
      (void)tmp.TryReceive();
    }
  });
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      for (int i = 1; i <= kPerPublisher; ++i) {
        bus.Publish("host/h" + std::to_string(p), 1);
      }
    });
  }
  for (auto& t : publishers) {
    t.join();
  }
  stop = true;
  churn.join();
  bus.Publish("host/end", -1);
  EXPECT_EQ(sum.get(), kPublishers * kPerPublisher);
  EXPECT_EQ(sub.Dropped(), 0U);
  pool.join();
}

}  // namespace
}  // namespace fleetps::registry
