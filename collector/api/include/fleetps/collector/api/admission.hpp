// Admission of API work (issue 17): fresh=1 fan-outs rate-limited per client and collector-wide
// (FreshLimiter), and query evaluation moved off the io threads that serve scrapes onto a few
// low-priority workers with a bounded number of requests admitted at once (ApiWorkers).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include "fleetps/collector/api/router.hpp"

namespace fleetps::collector {

/// A token bucket in host probes: refills at `per_second` up to `burst`.
struct FreshRate {
  double per_second = 1;
  double burst = 1;
};

/// The fresh=1 budgets. A query costs one token per host it would probe (a host with a running
/// agent): a query over 1,000 hosts costs what 1,000 queries over one host cost, because that is
/// what the fleet pays. A query is admitted when each bucket holds min(cost, that bucket's
/// burst), so a query over more hosts than the burst still runs once the bucket is full, and is
/// then charged its full cost: the bucket goes into debt and later queries wait it out.
struct FreshLimits {
  FreshRate per_client{50, 1000};  ///< Per client address (IPv6: per /64).
  FreshRate total{100, 2000};      ///< Over all clients.
  /// Clients tracked at once. An entry expires once its bucket has refilled (it then reads as a
  /// new client's); a new client finding the table full of live entries is refused.
  std::size_t max_clients = 10'000;
};

/// Who ran out of budget.
enum class FreshScope { kClient, kCollector };

/// A refused fresh query: answered 429 with `Retry-After: retry_after`.
struct FreshRefusal {
  FreshScope scope = FreshScope::kClient;
  std::chrono::seconds retry_after{1};  ///< Until the bucket holds enough, rounded up, >= 1 s.
  double needed = 0;                    ///< Tokens the query needed from that bucket.
  double burst = 0;                     ///< That bucket's burst.
};

/// Per-client and collector-wide token buckets for fresh=1 queries. Thread-safe (one mutex, held
/// for a map lookup; an O(clients) sweep of expired entries at most once a second).
class FreshLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit FreshLimiter(FreshLimits limits = {});

  /// Charges a query over `hosts` hosts from `client` to both buckets and returns nullopt, or
  /// charges nothing and says which bucket refused and for how long.
  [[nodiscard]] std::optional<FreshRefusal> Admit(const boost::asio::ip::address& client,
                                                  std::size_t hosts, Clock::time_point now);

  /// Client entries held now (expired ones included until the next sweep).
  [[nodiscard]] std::size_t TrackedClients() const;

  /// Queries refused so far by `scope`'s bucket.
  [[nodiscard]] std::uint64_t Refused(FreshScope scope) const;

  /// The key a client is tracked under: the address itself, an IPv6 address's /64 (one host
  /// typically owns a whole /64), a v4-mapped IPv6 address as its IPv4 address.
  [[nodiscard]] static boost::asio::ip::address ClientKey(const boost::asio::ip::address& client);

  [[nodiscard]] const FreshLimits& Limits() const noexcept { return limits_; }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  static void Refill(Bucket& bucket, const FreshRate& rate, Clock::time_point now);
  void SweepLocked(Clock::time_point now);

  FreshLimits limits_;
  mutable std::mutex mu_;
  Bucket total_;                                        // guarded by mu_
  std::map<boost::asio::ip::address, Bucket> clients_;  // guarded by mu_
  Clock::time_point last_sweep_;                        // guarded by mu_
  std::uint64_t refused_client_ = 0;                    // guarded by mu_
  std::uint64_t refused_collector_ = 0;                 // guarded by mu_
};

/// The API's refusals so far, by reason (fleetps_api_refused_total).
struct ApiRefusals {
  std::uint64_t rate_limited_client = 0;     ///< 429: a client's fresh=1 budget.
  std::uint64_t rate_limited_collector = 0;  ///< 429: the collector-wide fresh=1 budget.
  std::uint64_t overloaded = 0;              ///< 503: max_pending API requests in progress.
};

struct ApiWorkOptions {
  unsigned threads = 1;  ///< Worker threads evaluating API requests.
  /// API requests admitted at once, running or waiting for a worker (a fresh=1 query holds its
  /// slot while its hosts answer); the next gets 503 with Retry-After.
  std::size_t max_pending = 64;
  /// Added to the workers' nice value (Linux schedules threads by their own nice): under CPU
  /// contention the io threads that serve scrapes and probes go first.
  int nice = 10;
};

/// Runs API handlers on worker threads of their own, so their CPU (selector evaluation, JSON
/// rendering) does not delay the io threads that answer /metrics, /probe, /sd and the health
/// checks. Thread-safe.
class ApiWorkers {
 public:
  explicit ApiWorkers(ApiWorkOptions options = {});
  ~ApiWorkers();  ///< Stops the workers; requests still running there are abandoned.
  ApiWorkers(const ApiWorkers&) = delete;
  ApiWorkers& operator=(const ApiWorkers&) = delete;

  /// One of the max_pending places, held until destroyed (or moved into Run); empty when all
  /// are taken.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept = default;
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (pending_) pending_->fetch_sub(1);
    }
    explicit operator bool() const noexcept { return pending_ != nullptr; }

   private:
    friend class ApiWorkers;
    explicit Slot(std::shared_ptr<std::atomic<std::size_t>> pending)
        : pending_(std::move(pending)) {}
    // Shared: a slot held by a coroutine frame may be destroyed after the ApiWorkers.
    std::shared_ptr<std::atomic<std::size_t>> pending_;
  };

  /// Takes a place for a request; an empty Slot when max_pending are taken (then counted as
  /// refused: answer Busy). Lets a handler refuse before it charges anything else.
  [[nodiscard]] Slot Reserve();

  /// 503 `{"status":"error",...}` with `Retry-After: 1`: max_pending requests in progress.
  [[nodiscard]] HttpResponse Busy(const ApiRequest& request) const;

  /// `handler(request)` on a worker holding `slot`, its answer (or exception) back on the
  /// caller's executor. `request` and `handler` must outlive the returned awaitable's completion.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Run(Slot slot, const ApiRequest& request,
                                                       const RouteHandler& handler);

  /// The same after taking a slot, or Busy at once when there is none.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Run(const ApiRequest& request,
                                                       const RouteHandler& handler);

  /// Requests admitted and not yet answered.
  [[nodiscard]] std::size_t Pending() const { return pending_->load(); }
  /// Requests refused with 503 so far.
  [[nodiscard]] std::uint64_t Refused() const { return refused_.load(); }

 private:
  ApiWorkOptions options_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::shared_ptr<std::atomic<std::size_t>> pending_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::atomic<std::uint64_t> refused_{0};
};

/// A JSON error answer in the API's style with `Retry-After: seconds` (429 and 503 refusals).
[[nodiscard]] HttpResponse RetryLaterAnswer(const ApiRequest& request,
                                            boost::beast::http::status status,
                                            std::string_view message, std::chrono::seconds after);

}  // namespace fleetps::collector
