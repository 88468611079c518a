// The ManualClock test double the supervisor tests run on, and AsyncEvent.
#include "fleetps/collector/supervision/clock.hpp"

#include <chrono>
#include <optional>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fleetps/collector/supervision/task_group.hpp"
#include "manual_clock.hpp"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
using std::chrono::seconds;
using test_support::ManualClock;
using testing::ElementsAre;

void Drain(asio::io_context& io) {
  io.restart();
  io.poll();
}

asio::awaitable<void> SleepThenRecord(ManualClock& clock, Duration d, int id,
                                      std::vector<int>& woken) {
  const auto ec = co_await clock.SleepFor(d);
  if (!ec) {
    woken.push_back(id);
  }
}

TEST(SupervisorClockTest, ManualClockWakesSleepersAtTheirDeadlines) {
  asio::io_context io;
  ManualClock clock;
  std::vector<int> woken;
  asio::co_spawn(io, SleepThenRecord(clock, seconds(3), 3, woken), asio::detached);
  asio::co_spawn(io, SleepThenRecord(clock, seconds(1), 1, woken), asio::detached);
  asio::co_spawn(io, SleepThenRecord(clock, seconds(0), 0, woken), asio::detached);
  Drain(io);
  EXPECT_THAT(woken, ElementsAre(0));
  EXPECT_EQ(clock.Sleepers(), 2U);
  EXPECT_EQ(clock.NextDeadline(), clock.Now() + seconds(1));

  clock.Advance(std::chrono::milliseconds(999));
  Drain(io);
  EXPECT_THAT(woken, ElementsAre(0));
  clock.Advance(seconds(5));  // both due: resumed in deadline order
  Drain(io);
  EXPECT_THAT(woken, ElementsAre(0, 1, 3));
  EXPECT_EQ(clock.Sleepers(), 0U);
}

asio::awaitable<void> SleepStoringError(ManualClock& clock,
                                        std::optional<boost::system::error_code>& out) {
  out = co_await clock.SleepFor(seconds(10));
}

TEST(SupervisorClockTest, CancelledSleepCompletesWithOperationAborted) {
  asio::io_context io;
  ManualClock clock;
  asio::cancellation_signal cancel;
  std::optional<boost::system::error_code> result;
  asio::co_spawn(io, SleepStoringError(clock, result),
                 asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  Drain(io);
  EXPECT_FALSE(result);
  cancel.emit(asio::cancellation_type::terminal);
  Drain(io);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, asio::error::operation_aborted);
  EXPECT_EQ(clock.Sleepers(), 0U);
}

asio::awaitable<void> WaitEvent(AsyncEvent& event, int& woken) {
  const auto ec = co_await event.Wait();  // not inside the `if`: GCC 12 miscompiles that
  if (!ec) {
    ++woken;
  }
}

TEST(SupervisorClockTest, AsyncEventWakesCurrentAndLaterWaiters) {
  asio::io_context io;
  AsyncEvent event;
  int woken = 0;
  asio::co_spawn(io, WaitEvent(event, woken), asio::detached);
  asio::co_spawn(io, WaitEvent(event, woken), asio::detached);
  Drain(io);
  EXPECT_EQ(woken, 0);
  event.Set();
  Drain(io);
  EXPECT_EQ(woken, 2);
  asio::co_spawn(io, WaitEvent(event, woken), asio::detached);
  Drain(io);
  EXPECT_EQ(woken, 3);
  EXPECT_TRUE(event.IsSet());
}

}  // namespace
}  // namespace fleetps::collector
