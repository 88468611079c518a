#include "fleetps/collector/supervision/clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fleetps::collector {

namespace asio = boost::asio;

asio::awaitable<boost::system::error_code> SteadyClock::SleepUntil(TimePoint deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

}  // namespace fleetps::collector
