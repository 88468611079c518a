// The connection budget's choices without sockets: who is evicted, who is refused, and that
// every slot and share comes back.
#include "fleetps/collector/http/connection_budget.hpp"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fleetps::collector {
namespace {

using Clock = ConnectionBudget::Clock;
const auto kA = boost::asio::ip::make_address("127.0.0.2");
const auto kB = boost::asio::ip::make_address("127.0.0.3");

// Admits a connection that records its eviction under `name` in `evicted`.
ConnectionBudget::Lease Admit(ConnectionBudget& budget, const boost::asio::ip::address& client,
                              std::string name, std::vector<std::string>& evicted) {
  auto lease = budget.Admit(client);
  EXPECT_TRUE(lease) << name;
  if (!lease) return {};
  lease->OnEvict([&evicted, name] { evicted.push_back(name); });
  return std::move(*lease);
}

TEST(ConnectionBudgetTest, EvictsTheLongestWaitingNeverABusyOne) {
  auto budget = std::make_shared<ConnectionBudget>(ConnectionBudget::Limits{3, 10});
  std::vector<std::string> evicted;
  const auto t0 = Clock::now();
  auto busy = Admit(*budget, kA, "busy", evicted);
  busy.Waiting(HttpEviction::kReadingRequest, t0);  // waited longest, but then got busy
  ASSERT_TRUE(busy.Busy());
  auto idle = Admit(*budget, kA, "idle", evicted);
  idle.Waiting(HttpEviction::kIdle, t0 + std::chrono::seconds(1));
  auto reading = Admit(*budget, kA, "reading", evicted);
  reading.Waiting(HttpEviction::kReadingRequest, t0 + std::chrono::seconds(2));

  auto fourth = Admit(*budget, kB, "fourth", evicted);
  EXPECT_EQ(evicted, std::vector<std::string>{"idle"});
  EXPECT_FALSE(idle.Busy()) << "an evicted connection may not start handling a request";
  auto fifth = Admit(*budget, kB, "fifth", evicted);
  EXPECT_EQ(evicted, (std::vector<std::string>{"idle", "reading"}));
  EXPECT_EQ(budget->Open(), 3U);

  // Now all three are busy (fourth and fifth never said they wait): the next is refused.
  const auto refused = budget->Admit(kB);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), HttpRefusal::kServerFull);
}

TEST(ConnectionBudgetTest, PerClientShareIsRefusedAndComesBackOnRelease) {
  auto budget = std::make_shared<ConnectionBudget>(ConnectionBudget::Limits{100, 2});
  std::vector<std::string> evicted;
  auto first = Admit(*budget, kA, "first", evicted);
  {
    auto second = Admit(*budget, kA, "second", evicted);
    const auto third = budget->Admit(kA);
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error(), HttpRefusal::kClientLimit);
    EXPECT_TRUE(budget->Admit(kB)) << "another address has its own share";
  }
  EXPECT_TRUE(budget->Admit(kA)) << "the released slot is the client's again";
  EXPECT_TRUE(evicted.empty());
}

TEST(ConnectionBudgetTest, AnIpv6ClientIsItsSlash64AndAMappedIpv4AddressIsThatAddress) {
  auto budget = std::make_shared<ConnectionBudget>(ConnectionBudget::Limits{100, 1});
  const auto address = [](const char* text) { return boost::asio::ip::make_address(text); };
  auto v6 = budget->Admit(address("2001:db8:1:2::1"));
  ASSERT_TRUE(v6);
  EXPECT_FALSE(budget->Admit(address("2001:db8:1:2:ffff::9"))) << "same /64";
  EXPECT_TRUE(budget->Admit(address("2001:db8:1:3::1"))) << "another /64";
  auto v4 = budget->Admit(address("127.0.0.2"));
  ASSERT_TRUE(v4);
  EXPECT_FALSE(budget->Admit(address("::ffff:127.0.0.2"))) << "the same IPv4 client";
}

TEST(ConnectionBudgetTest, ALoweredLimitEvictsDownToItAndAMovedLeaseReleasesOnce) {
  auto budget = std::make_shared<ConnectionBudget>(ConnectionBudget::Limits{4, 10});
  std::vector<std::string> evicted;
  std::vector<ConnectionBudget::Lease> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(Admit(*budget, kA, "c" + std::to_string(i), evicted));
    held.back().Waiting(HttpEviction::kIdle, Clock::now() + std::chrono::seconds(i));
  }
  budget->SetLimits({2, 10});
  auto newcomer = Admit(*budget, kB, "new", evicted);
  EXPECT_EQ(evicted, (std::vector<std::string>{"c0", "c1", "c2"}));
  EXPECT_EQ(budget->Open(), 2U);
  ConnectionBudget::Lease moved = std::move(newcomer);
  held.clear();
  EXPECT_EQ(budget->Open(), 1U);
  moved = ConnectionBudget::Lease();
  EXPECT_EQ(budget->Open(), 0U);
}

}  // namespace
}  // namespace fleetps::collector
