// Drives HostAgents in integration tests: an io_context with two threads (like the collector)
// and a recorder of everything an agent publishes, safe to read from the test thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "fleetps/agent/host_agent.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::testing {

struct Recorder {
  using Clock = std::chrono::steady_clock;
  std::mutex mu;
  std::vector<agent::HostStatus> statuses;
  std::vector<agent::ProbeResult> results;
  std::vector<Clock::time_point> status_times;

  agent::AgentSink Sink() {
    return agent::AgentSink{[this](const agent::HostStatus& s) {
                              std::lock_guard lock(mu);
                              statuses.push_back(s);
                              status_times.push_back(Clock::now());
                            },
                            [this](const agent::ProbeResult& r) {
                              std::lock_guard lock(mu);
                              results.push_back(r);
                            }};
  }
  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      {
        std::lock_guard lock(mu);
        if (pred(*this)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::lock_guard lock(mu);
    return pred(*this);
  }
  /// Index of the first status in `state` at or after `from`, or statuses.size(). Lock held by
  /// the caller (inside WaitFor) or the agents stopped.
  std::size_t Find(agent::HostState state, std::size_t from = 0) const {
    for (std::size_t i = from; i < statuses.size(); ++i) {
      if (statuses[i].state == state) return i;
    }
    return statuses.size();
  }
};

class AgentRunner {
 public:
  AgentRunner() : work_(boost::asio::make_work_guard(io_)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~AgentRunner() { Stop(); }

  std::shared_ptr<agent::HostAgent> Start(config::HostSpec spec, agent::AgentSink sink,
                                          agent::AgentOptions options) {
    auto strand = boost::asio::make_strand(io_);
    auto a = std::make_shared<agent::HostAgent>(strand, std::move(spec), std::move(sink), options);
    auto signal = std::make_shared<boost::asio::cancellation_signal>();
    signals_.push_back({strand, signal});
    boost::asio::co_spawn(
        strand, [a] { return a->Run(); },
        boost::asio::bind_cancellation_slot(signal->slot(), [a](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        }));
    return a;
  }
  void Stop() {
    for (auto& [strand, signal] : signals_) {
      boost::asio::post(strand,
                        [signal] { signal->emit(boost::asio::cancellation_type::terminal); });
    }
    work_.reset();
    for (auto& t : threads_) t.join();
    threads_.clear();
    signals_.clear();  // only now: a running coroutine's slot points into its signal
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::vector<std::pair<boost::asio::strand<boost::asio::io_context::executor_type>,
                        std::shared_ptr<boost::asio::cancellation_signal>>>
      signals_;
};

/// Short backoff and circuit delays, no jitter.
inline agent::AgentOptions FastAgentOptions() {
  agent::AgentOptions o;
  o.timings.backoff_base = std::chrono::milliseconds(200);
  o.timings.backoff_cap = std::chrono::seconds(1);
  o.timings.circuit_first = std::chrono::seconds(1);
  o.timings.circuit_cap = std::chrono::seconds(4);
  o.uniform = [] { return 0.5; };
  return o;
}

}  // namespace fleetps::testing
