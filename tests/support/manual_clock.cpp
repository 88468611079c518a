#include "manual_clock.hpp"

#include <list>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fleetps::test_support {
namespace {

namespace asio = boost::asio;
using SleepQueue = registry::WaitQueue<void>;

std::int64_t Ticks(TimePoint t) { return t.time_since_epoch().count(); }

// An empty initiation object with its state passed as arguments: GCC 12 destroys a non-trivial
// temporary in a co_await expression twice.
struct InitiateSleep {
  template <class Handler>
  void operator()(Handler&& handler, std::mutex* mu, const TimePoint* now,
                  const std::shared_ptr<SleepQueue>& sleepers, const asio::any_io_executor& ex,
                  TimePoint deadline) const {
    // Checked and enqueued under the clock's lock, so a concurrent Advance cannot miss it.
    std::unique_lock lock(*mu);
    if (deadline <= *now) {
      lock.unlock();
      registry::PostCompletion<void>(std::forward<Handler>(handler), ex, {});
      return;
    }
    sleepers->Enqueue(std::forward<Handler>(handler), ex, Ticks(deadline));
  }
};

}  // namespace

TimePoint ManualClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

asio::awaitable<boost::system::error_code> ManualClock::SleepUntil(TimePoint deadline) {
  asio::any_io_executor ex = co_await asio::this_coro::executor;
  boost::system::result<void> r = co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                                                void(boost::system::result<void>)>(
      InitiateSleep{}, asio::use_awaitable, &mu_, &now_, sleepers_, ex, deadline);
  co_return r ? boost::system::error_code{} : r.error();
}

void ManualClock::Advance(Duration d) {
  std::list<SleepQueue::Waiter> due;
  {
    std::lock_guard lock(mu_);
    now_ += d;
    const std::int64_t now = Ticks(now_);
    due = sleepers_->TakeIf([now](std::int64_t deadline) { return deadline <= now; });
  }
  due.sort([](const auto& a, const auto& b) { return a.Tag() < b.Tag(); });  // stable
  for (auto& w : due) {
    std::move(w).Complete({});
  }
}

std::optional<TimePoint> ManualClock::NextDeadline() const {
  auto tag = sleepers_->MinTag();
  if (!tag) {
    return std::nullopt;
  }
  return TimePoint(Duration(*tag));
}

}  // namespace fleetps::test_support
