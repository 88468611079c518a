// Ad hoc work on agents (fresh=1 queries, open-files): one piece of work per host, each on its
// agent's strand, all at once, waited for up to a deadline.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/supervision/task_group.hpp"
#include "fleetps/collector/telemetry/internal_errors.hpp"

namespace fleetps::collector {

/// How long a request waits for ad hoc work: the slowest host's probe_timeout plus `slack`,
/// never more than `cap`.
struct AdhocLimits {
  std::chrono::milliseconds slack{2000};
  std::chrono::milliseconds cap{60000};

  [[nodiscard]] std::chrono::steady_clock::duration Deadline(
      std::chrono::milliseconds slowest_probe_timeout) const {
    return std::min<std::chrono::steady_clock::duration>(slowest_probe_timeout + slack, cap);
  }
};

/// One host's share of a fan-out.
struct AdhocJob {
  /// Null when the host has no running agent: its slot stays empty.
  std::shared_ptr<AdhocAgent> agent;
  /// The host's probe_timeout; the slowest started job's sets the deadline.
  std::chrono::milliseconds probe_timeout{0};
};

/// The work a fan-out runs on each agent, on that agent's strand.
template <class T>
using AdhocWork = std::function<boost::asio::awaitable<T>(AdhocAgent&)>;

namespace detail {

template <class T>
struct FanOutBatch {
  explicit FanOutBatch(std::size_t n) : results(n), pending(n) {}

  // Slot `index` is settled, with `value` or empty.
  void Settle(std::size_t index, std::optional<T> value) {
    std::lock_guard lock(mu);
    results[index] = std::move(value);
    SettledLocked(1);
  }
  // `count` slots have no work (called once, after every job started; possibly with 0).
  void SettleUnstarted(std::size_t count) {
    std::lock_guard lock(mu);
    SettledLocked(count);
  }
  void SettledLocked(std::size_t count) {
    pending -= count;
    if (pending == 0) done.Set();
  }

  std::mutex mu;
  std::vector<std::optional<T>> results;  // guarded by mu
  std::size_t pending;                    // guarded by mu
  AsyncEvent done;
};

}  // namespace detail

/// Runs `work(agent)` for every job with an agent, each on its agent's strand, all at once, and
/// waits until all have finished or the deadline (`limits` over the jobs started) has passed.
/// Slot i holds job i's result; it stays empty when the job had no agent, its work threw
/// (recorded as internal error "adhoc_probe") or was still running at the deadline.
///
/// Never cancels the work, not at the deadline nor when the caller is cancelled: cancelling
/// into an agent's channel would poison its session. Late results are dropped; the work and its
/// agent stay alive until the work ends.
template <class T>
boost::asio::awaitable<std::vector<std::optional<T>>> FanOut(std::vector<AdhocJob> jobs,
                                                             AdhocWork<T> work,
                                                             AdhocLimits limits = {}) {
  namespace asio = boost::asio;
  auto batch = std::make_shared<detail::FanOutBatch<T>>(jobs.size());
  std::chrono::milliseconds slowest{0};
  std::size_t started = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    std::shared_ptr<AdhocAgent> agent = jobs[i].agent;
    if (!agent) continue;
    slowest = std::max(slowest, jobs[i].probe_timeout);
    ++started;
    // No cancellation slot is bound: the caller's cancellation never reaches the work.
    asio::co_spawn(
        agent->Strand(), [agent, work] { return work(*agent); },
        [batch, i](std::exception_ptr error, T result) {
          if (error) RecordInternalException("adhoc_probe", error);
          batch->Settle(i, error ? std::nullopt : std::optional<T>(std::move(result)));
        });
  }
  batch->SettleUnstarted(jobs.size() - started);
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  deadline.expires_after(limits.Deadline(slowest));
  (void)co_await (batch->done.Wait() || deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  std::lock_guard lock(batch->mu);
  co_return batch->results;
}

}  // namespace fleetps::collector
