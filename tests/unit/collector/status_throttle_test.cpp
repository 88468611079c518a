#include "fleetps/collector/app/status_throttle.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;

agent::HostStatus Status(agent::HostState state, std::uint64_t epoch) {
  agent::HostStatus status;
  status.host = "flappy";
  status.state = state;
  status.epoch = epoch;
  return status;
}

using EpochAndCoalesced = std::pair<std::uint64_t, std::uint64_t>;

struct Published {
  std::vector<EpochAndCoalesced> events;
};

std::shared_ptr<StatusThrottle> Make(asio::io_context& io, unsigned per_minute, Published& out) {
  return std::make_shared<StatusThrottle>(
      asio::make_strand(io), per_minute,
      [&out](const agent::HostStatus& s, std::uint64_t coalesced) {
        out.events.emplace_back(s.epoch, coalesced);
      });
}

// Within the budget every status goes out at once; beyond it the latest waits and replaces the
// earlier waiting ones, and the agent's end publishes it whatever the budget.
TEST(StatusThrottleTest, OverBudgetStatusesAreCoalescedIntoTheLatest) {
  asio::io_context io;
  Published out;
  auto throttle = Make(io, 6, out);
  for (std::uint64_t epoch = 1; epoch <= 6; ++epoch) {
    throttle->Offer(Status(agent::HostState::kReady, epoch));
  }
  ASSERT_EQ(out.events.size(), 6u) << "a burst of the whole budget";
  throttle->Offer(Status(agent::HostState::kBackoff, 7));
  throttle->Offer(Status(agent::HostState::kConnecting, 8));
  throttle->Offer(Status(agent::HostState::kBackoff, 9));
  EXPECT_EQ(out.events.size(), 6u) << "the next token is 10 s away";
  throttle->Flush();
  ASSERT_EQ(out.events.size(), 7u);
  EXPECT_EQ(out.events.back(), EpochAndCoalesced(9, 2));
  throttle->Flush();
  EXPECT_EQ(out.events.size(), 7u) << "nothing waits any more";
  io.run();  // the cancelled wait ends without publishing again
  EXPECT_EQ(out.events.size(), 7u);
}

// The waiting status goes out when the next token comes (1 ms apart at 60000 a minute).
TEST(StatusThrottleTest, TheWaitingStatusGoesOutWithTheNextToken) {
  asio::io_context io;
  Published out;
  auto throttle = Make(io, 60'000, out);
  std::uint64_t offered = 0;
  // Offers until one is held back: the burst plus whatever refilled meanwhile.
  while (out.events.size() == offered && offered < 1'000'000) {
    throttle->Offer(Status(agent::HostState::kReady, ++offered));
  }
  ASSERT_LT(out.events.size(), offered) << "the budget never ran out";
  const std::size_t before = out.events.size();
  throttle->Offer(Status(agent::HostState::kBackoff, ++offered));
  throttle->Offer(Status(agent::HostState::kBackoff, ++offered));
  io.run();
  ASSERT_EQ(out.events.size(), before + 1) << "one wait, one status";
  EXPECT_EQ(out.events.back(), EpochAndCoalesced(offered, 2));
  std::uint64_t accounted = 0;
  for (const auto& [epoch, coalesced] : out.events) accounted += 1 + coalesced;
  EXPECT_EQ(accounted, offered) << "every status is published or counted as coalesced";
}

}  // namespace
}  // namespace fleetps::collector
