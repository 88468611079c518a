#include "fleetps/collector/api/admission.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/collector/api/json.hpp"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

constexpr auto kSweepEvery = std::chrono::seconds(1);

// Seconds until a bucket refilling at `rate` gains `missing` tokens: rounded up, at least 1
// (Retry-After is whole seconds; 0 would invite a retry that fails again).
std::chrono::seconds SecondsFor(double missing, const FreshRate& rate) {
  const double seconds = std::ceil(missing / rate.per_second);
  return std::chrono::seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(seconds)));
}

}  // namespace

FreshLimiter::FreshLimiter(FreshLimits limits)
    : limits_(limits), total_{limits.total.burst, Clock::time_point{}} {}

void FreshLimiter::Refill(Bucket& bucket, const FreshRate& rate, Clock::time_point now) {
  if (now <= bucket.updated) return;
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(rate.burst, bucket.tokens + elapsed * rate.per_second);
  bucket.updated = now;
}

asio::ip::address FreshLimiter::ClientKey(const asio::ip::address& client) {
  if (!client.is_v6()) return client;
  const asio::ip::address_v6 v6 = client.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes);
}

void FreshLimiter::SweepLocked(Clock::time_point now) {
  last_sweep_ = now;
  for (auto it = clients_.begin(); it != clients_.end();) {
    Refill(it->second, limits_.per_client, now);
    // A full bucket is as good as a new client's.
    it = it->second.tokens >= limits_.per_client.burst ? clients_.erase(it) : std::next(it);
  }
}

std::optional<FreshRefusal> FreshLimiter::Admit(const asio::ip::address& client, std::size_t hosts,
                                                Clock::time_point now) {
  const auto cost = static_cast<double>(hosts);
  const asio::ip::address key = ClientKey(client);
  std::lock_guard lock(mu_);
  auto refused = [&](FreshRefusal refusal) {
    ++(refusal.scope == FreshScope::kClient ? refused_client_ : refused_collector_);
    return refusal;
  };
  if (now - last_sweep_ >= kSweepEvery) SweepLocked(now);
  auto it = clients_.find(key);
  if (it == clients_.end() && clients_.size() >= limits_.max_clients) {
    SweepLocked(now);
    if (clients_.size() >= limits_.max_clients) {
      // Every entry is still refilling: the soonest to expire frees a place.
      double least_missing = limits_.per_client.burst;
      for (const auto& [address, bucket] : clients_) {
        least_missing = std::min(least_missing, limits_.per_client.burst - bucket.tokens);
      }
      return refused({FreshScope::kCollector, SecondsFor(least_missing, limits_.per_client), cost,
                      limits_.per_client.burst});
    }
  }
  Bucket fresh_client{limits_.per_client.burst, now};
  Bucket& mine = it != clients_.end() ? it->second : fresh_client;
  Refill(mine, limits_.per_client, now);
  Refill(total_, limits_.total, now);
  const double client_needs = std::min(cost, limits_.per_client.burst);
  if (mine.tokens < client_needs) {
    return refused({FreshScope::kClient, SecondsFor(client_needs - mine.tokens, limits_.per_client),
                    client_needs, limits_.per_client.burst});
  }
  const double total_needs = std::min(cost, limits_.total.burst);
  if (total_.tokens < total_needs) {
    return refused({FreshScope::kCollector, SecondsFor(total_needs - total_.tokens, limits_.total),
                    total_needs, limits_.total.burst});
  }
  mine.tokens -= cost;
  total_.tokens -= cost;
  if (cost > 0 && it == clients_.end()) clients_.emplace(key, fresh_client);
  return std::nullopt;
}

std::size_t FreshLimiter::TrackedClients() const {
  std::lock_guard lock(mu_);
  return clients_.size();
}

std::uint64_t FreshLimiter::Refused(FreshScope scope) const {
  std::lock_guard lock(mu_);
  return scope == FreshScope::kClient ? refused_client_ : refused_collector_;
}

ApiWorkers::ApiWorkers(ApiWorkOptions options)
    : options_(options), work_(asio::make_work_guard(io_)) {
  const unsigned threads = std::max(1u, options_.threads);
  // Relative to the process's nice (a collector started at nice 5 gets workers at 15).
  const int nice = std::min(19, ::getpriority(PRIO_PROCESS, 0) + options_.nice);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this, nice] {
      // Best effort: a failure leaves the worker at the process's priority. PRIO_PROCESS with a
      // thread id sets that thread's nice on Linux.
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), nice);
      io_.run();
    });
  }
}

ApiWorkers::~ApiWorkers() {
  work_.reset();
  io_.stop();
  for (std::thread& t : threads_) t.join();
}

ApiWorkers::Slot ApiWorkers::Reserve() {
  if (pending_->fetch_add(1) >= options_.max_pending) {
    pending_->fetch_sub(1);
    refused_.fetch_add(1);
    return Slot();
  }
  return Slot(pending_);
}

HttpResponse ApiWorkers::Busy(const ApiRequest& request) const {
  return RetryLaterAnswer(request, http::status::service_unavailable,
                          "API busy: " + std::to_string(options_.max_pending) +
                              " requests in progress (collector.api_max_pending)",
                          std::chrono::seconds(1));
}

asio::awaitable<HttpAnswer> ApiWorkers::Run(Slot slot, const ApiRequest& request,
                                            const RouteHandler& handler) {
  const Slot held = std::move(slot);  // released when the answer is back
  co_return co_await asio::co_spawn(io_, handler(request), asio::use_awaitable);
}

asio::awaitable<HttpAnswer> ApiWorkers::Run(const ApiRequest& request,
                                            const RouteHandler& handler) {
  Slot slot = Reserve();
  if (!slot) co_return Busy(request);
  co_return co_await Run(std::move(slot), request, handler);
}

HttpResponse RetryLaterAnswer(const ApiRequest& request, http::status status,
                              std::string_view message, std::chrono::seconds after) {
  HttpResponse response =
      MakeResponse(request.http, status, RenderErrorJson(message), "application/json");
  response.set(http::field::retry_after, std::to_string(after.count()));
  return response;
}

}  // namespace fleetps::collector
