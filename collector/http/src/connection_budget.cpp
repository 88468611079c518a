#include "fleetps/collector/http/connection_budget.hpp"

#include <algorithm>

namespace fleetps::collector {
namespace {

// Who counts as one client: an IPv4 address (also when mapped into IPv6), or an IPv6 /64, the
// block one host or site gets, so one IPv6 host cannot take a share per address it picks.
boost::asio::ip::address ClientOf(const boost::asio::ip::address& address) {
  if (!address.is_v6()) return address;
  const boost::asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6);
  boost::asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes);
}

}  // namespace

ConnectionBudget::Lease& ConnectionBudget::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (budget_ != nullptr) budget_->Release(id_);
    budget_ = std::move(other.budget_);
    other.budget_ = nullptr;
    id_ = other.id_;
  }
  return *this;
}

ConnectionBudget::Lease::~Lease() {
  if (budget_ != nullptr) budget_->Release(id_);
}

void ConnectionBudget::Lease::OnEvict(Evict evict) {
  const std::lock_guard lock(budget_->mutex_);
  if (const auto it = budget_->connections_.find(id_); it != budget_->connections_.end()) {
    it->second.evict = std::move(evict);
  }
}

void ConnectionBudget::Lease::Waiting(HttpEviction what, Clock::time_point since) {
  const std::lock_guard lock(budget_->mutex_);
  const auto it = budget_->connections_.find(id_);
  if (it == budget_->connections_.end()) return;
  Connection& connection = it->second;
  if (!connection.evict) return;  // cannot be closed from outside: never a candidate
  if (connection.waiting) budget_->waiting_.erase({connection.since, id_});
  connection.waiting = true;
  connection.what = what;
  connection.since = since;
  budget_->waiting_.emplace(since, id_);
}

bool ConnectionBudget::Lease::Busy() {
  const std::lock_guard lock(budget_->mutex_);
  const auto it = budget_->connections_.find(id_);
  if (it == budget_->connections_.end()) return false;
  Connection& connection = it->second;
  if (connection.waiting) budget_->waiting_.erase({connection.since, id_});
  connection.waiting = false;
  return true;
}

ConnectionBudget::ConnectionBudget(Limits limits) : limits_(limits) {
  SetHttpConnectionLimit(limits.max_connections);
}

ConnectionBudget::~ConnectionBudget() {
  AddHttpConnectionsOpen(-static_cast<std::int64_t>(connections_.size()));
}

boost::system::result<ConnectionBudget::Lease, HttpRefusal> ConnectionBudget::Admit(
    const boost::asio::ip::address& address) {
  const boost::asio::ip::address client = ClientOf(address);
  const std::lock_guard lock(mutex_);
  auto [share, inserted] = per_client_.try_emplace(client, 0);
  if (share->second >= limits_.max_connections_per_client) {
    RecordHttpRefusal(HttpRefusal::kClientLimit);
    return HttpRefusal::kClientLimit;
  }
  // After a lowered limit (reload) more than one may be over it: evict down to it.
  while (connections_.size() >= limits_.max_connections) {
    if (!EvictLocked()) {
      if (share->second == 0) per_client_.erase(share);
      RecordHttpRefusal(HttpRefusal::kServerFull);
      return HttpRefusal::kServerFull;
    }
  }
  ++share->second;
  const std::uint64_t id = next_id_++;
  connections_.emplace(id, Connection{client, {}, false, HttpEviction::kReadingRequest, {}});
  AddHttpConnectionsOpen(1);
  return Lease(shared_from_this(), id);
}

bool ConnectionBudget::EvictLongestWaiting() {
  const std::lock_guard lock(mutex_);
  return EvictLocked();
}

void ConnectionBudget::SetLimits(Limits limits) {
  const std::lock_guard lock(mutex_);
  limits_ = limits;
  SetHttpConnectionLimit(limits.max_connections);
}

std::size_t ConnectionBudget::Open() const {
  const std::lock_guard lock(mutex_);
  return connections_.size();
}

void ConnectionBudget::Release(std::uint64_t id) {
  const std::lock_guard lock(mutex_);
  if (const auto it = connections_.find(id); it != connections_.end()) EraseLocked(id, it->second);
}

bool ConnectionBudget::EvictLocked() {
  if (waiting_.empty()) return false;
  const std::uint64_t id = waiting_.begin()->second;
  const auto it = connections_.find(id);
  const Evict evict = std::move(it->second.evict);
  RecordHttpEviction(it->second.what);
  EraseLocked(id, it->second);
  evict();
  return true;
}

void ConnectionBudget::EraseLocked(std::uint64_t id, Connection& connection) {
  if (connection.waiting) waiting_.erase({connection.since, id});
  if (const auto share = per_client_.find(connection.client); share != per_client_.end()) {
    if (--share->second == 0) per_client_.erase(share);
  }
  connections_.erase(id);
  AddHttpConnectionsOpen(-1);
}

}  // namespace fleetps::collector
