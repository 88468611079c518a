#include "fleetps/collector/telemetry/loop_monitor.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fleetps::collector {

namespace asio = boost::asio;

asio::awaitable<void> MonitorLoopLag(Histogram& lag, std::chrono::steady_clock::duration period) {
  // Cancellation ends the loop quietly: a cancel that lands between two waits is seen here
  // rather than thrown by the next co_await.
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Planned times advance from the previous plan, not from "now", so a long stall is seen once
  // as lag rather than silently shifting the schedule; after a stall longer than a period the
  // plan restarts from now (the missed ticks would only repeat the same stall).
  auto planned = std::chrono::steady_clock::now() + period;
  for (;;) {
    if ((co_await asio::this_coro::cancellation_state).cancelled() !=
        asio::cancellation_type::none) {
      co_return;
    }
    timer.expires_at(planned);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    const auto now = std::chrono::steady_clock::now();
    lag.Observe(std::chrono::duration<double>(now - planned).count());
    planned += period;
    if (planned <= now) planned = now + period;
  }
}

}  // namespace fleetps::collector
