#include "fleetps/agent/async_semaphore.hpp"

#include <cstring>
#include <new>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "fleetps/agent/errors.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

TEST(AsyncSemaphoreTest, TryAcquireTakesFreeUnitsAndPermitsReturnThem) {
  AsyncSemaphore s(2);
  auto a = s.TryAcquire();
  auto b = s.TryAcquire();
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  EXPECT_FALSE(s.TryAcquire());
  a.Release();
  EXPECT_EQ(s.Available(), 1u);
}

asio::awaitable<void> Waiter(AsyncSemaphore& s, std::vector<int>& order, int id) {
  AsyncSemaphore::Permit p;
  auto ec = co_await s.Acquire(p, Clock::time_point::max());
  if (!ec) order.push_back(id);
}

TEST(AsyncSemaphoreTest, WaitersAreServedInArrivalOrderAsUnitsReturn) {
  asio::io_context io;
  AsyncSemaphore s(1);
  auto held = s.TryAcquire();
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) asio::co_spawn(io, Waiter(s, order, i), asio::detached);
  io.run_for(std::chrono::milliseconds(0));
  io.restart();
  io.poll();
  EXPECT_TRUE(order.empty());
  held.Release();
  io.restart();
  io.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(s.Available(), 1u);
}

asio::awaitable<boost::system::error_code> AcquireBy(AsyncSemaphore& s, Clock::time_point d) {
  AsyncSemaphore::Permit p;
  co_return co_await s.Acquire(p, d);
}

TEST(AsyncSemaphoreTest, PassedDeadlineTimesOutWithoutTakingAUnit) {
  asio::io_context io;
  AsyncSemaphore s(1);
  auto held = s.TryAcquire();
  boost::system::error_code result;
  asio::co_spawn(io, AcquireBy(s, Clock::now() - std::chrono::seconds(1)),
                 [&](std::exception_ptr, boost::system::error_code ec) { result = ec; });
  io.run();
  EXPECT_EQ(result, Errc::kTimeout);
  held.Release();
  EXPECT_EQ(s.Available(), 1u);
}

// A waiter may outlive its semaphore: the owner (a session, the handshake limiter) can be torn
// down while a cancelled or timed-out wait is still unwinding. The waiter must then touch only
// the shared state. The semaphore's storage is wiped after destruction, so a waiter that reads
// `this` finds a null state and crashes instead of passing by luck.
TEST(AsyncSemaphoreTest, AWaiterOutlivesItsSemaphore) {
  asio::io_context io;
  alignas(AsyncSemaphore) unsigned char storage[sizeof(AsyncSemaphore)];
  auto* s = new (storage) AsyncSemaphore(0);
  boost::system::error_code result;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await AcquireBy(*s, Clock::now() + std::chrono::milliseconds(20));
        done = true;
      },
      asio::detached);
  io.poll();  // the waiter is queued on its timer
  ASSERT_FALSE(done);
  s->~AsyncSemaphore();
  std::memset(storage, 0, sizeof(storage));
  io.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(result, make_error_code(Errc::kTimeout));
}

}  // namespace
}  // namespace fleetps::agent
