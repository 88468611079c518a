// One host's status events on their way to the bus, through a token bucket, so a flapping host
// cannot flood the bus, the fleet state's queue or the event streams (issue 17).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fleetps/agent/host_agent.hpp"

namespace fleetps::collector {

/// Passes a host's HostStatus events on while its budget lasts: `per_minute` tokens, refilled
/// evenly, at most `per_minute` saved up (so a host that was quiet may still send that many at
/// once). Beyond the budget, statuses are coalesced rather than lost: the latest one waits for
/// the next token and replaces any earlier waiting one, so the fleet state always ends on the
/// host's current state. `publish(status, coalesced)` gets how many statuses the published one
/// replaced (counted in fleetps_host_events_coalesced_total).
///
/// Threading: create it, call Offer and Flush on `strand` (the host agent's); the wait for the
/// next token runs there too. Owned by shared_ptr: a pending wait keeps it alive.
class StatusThrottle : public std::enable_shared_from_this<StatusThrottle> {
 public:
  using Publish = std::function<void(const agent::HostStatus& status, std::uint64_t coalesced)>;
  using Clock = std::chrono::steady_clock;

  StatusThrottle(boost::asio::any_io_executor strand, unsigned per_minute, Publish publish);

  /// Publishes `status` now if a token is left, else keeps it as the waiting one.
  void Offer(const agent::HostStatus& status);
  /// Publishes the waiting status now, whatever the budget (the agent ended), and stops waiting.
  void Flush();

 private:
  void Refill(Clock::time_point now);
  void PublishPending();

  boost::asio::any_io_executor strand_;
  double capacity_;
  Clock::duration per_token_;
  double tokens_;
  Clock::time_point refilled_;
  Publish publish_;
  std::optional<agent::HostStatus> pending_;
  std::uint64_t coalesced_ = 0;
  boost::asio::steady_timer timer_;
  bool waiting_ = false;
};

}  // namespace fleetps::collector
