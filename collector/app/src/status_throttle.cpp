#include "fleetps/collector/app/status_throttle.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fleetps::collector {

namespace asio = boost::asio;

StatusThrottle::StatusThrottle(asio::any_io_executor strand, unsigned per_minute, Publish publish)
    : strand_(strand),
      capacity_(static_cast<double>(std::max(per_minute, 1u))),
      per_token_(std::chrono::duration_cast<Clock::duration>(std::chrono::minutes(1)) /
                 std::max(per_minute, 1u)),
      tokens_(capacity_),
      refilled_(Clock::now()),
      publish_(std::move(publish)),
      timer_(strand) {}

void StatusThrottle::Refill(Clock::time_point now) {
  const double earned =
      std::chrono::duration<double>(now - refilled_) / std::chrono::duration<double>(per_token_);
  tokens_ = std::min(capacity_, tokens_ + earned);
  refilled_ = now;
}

void StatusThrottle::Offer(const agent::HostStatus& status) {
  if (pending_) {
    // Over budget already: the newer state replaces the waiting one.
    pending_ = status;
    ++coalesced_;
    return;
  }
  Refill(Clock::now());
  if (tokens_ >= 1) {
    tokens_ -= 1;
    publish_(status, 0);
    return;
  }
  pending_ = status;
  if (waiting_) return;
  waiting_ = true;
  const auto wait = std::chrono::duration_cast<Clock::duration>((1 - tokens_) * per_token_);
  timer_.expires_after(wait);
  asio::co_spawn(
      strand_,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        auto [ec] = co_await self->timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        self->waiting_ = false;
        if (ec) co_return;  // Flush cancelled the wait and published already
        self->Refill(Clock::now());
        self->tokens_ = std::max(0.0, self->tokens_ - 1);
        self->PublishPending();
      },
      asio::detached);
}

void StatusThrottle::Flush() {
  timer_.cancel();
  PublishPending();
}

void StatusThrottle::PublishPending() {
  if (!pending_) return;
  const agent::HostStatus status = std::move(*pending_);
  pending_.reset();
  const std::uint64_t coalesced = std::exchange(coalesced_, 0);
  publish_(status, coalesced);
}

}  // namespace fleetps::collector
