// Helpers for driving fleetps HostAgents against fleetsim: host specs from fleetsim's emitted
// inventory, an io_context with two threads (like the collector) that can stop agents one by
// one, and a recorder of everything an agent publishes, timestamped on arrival.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "fleetps/agent/host_agent.hpp"
#include "fleetps/config/load.hpp"
#include "test_support.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::fleetsim::testing {

using Clock = std::chrono::steady_clock;

/// The hosts of fleetsim's emitted `fleet.yaml`, loaded with fleetps' own config loader (what
/// `fleetps run --config` would use). Empty, with `error` set, when the file does not load.
inline std::vector<config::HostSpec> EmittedHosts(const Fleetsim& fleet, std::string& error) {
  const auto loaded = config::LoadInventoryFile((fleet.Dir() / "fleet.yaml").string());
  if (!loaded.ok()) {
    error = "fleet.yaml does not load";
    for (const auto& d : loaded.diagnostics) error += "; " + d.message;
    return {};
  }
  return loaded.inventory->hosts;
}

/// `Http` with a deadline: fleetsim out of descriptors accepts no control connection, and the
/// kernel's backlog would leave a blocking client waiting forever. Status 0 on any failure.
inline HttpResult HttpWithin(std::uint16_t port, std::string_view method, std::string_view target,
                             std::chrono::milliseconds limit, std::string_view body = {}) {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.body() = std::string(body);
  request.prepare_payload();
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  HttpResult result;
  socket.async_connect(
      {boost::asio::ip::make_address("127.0.0.1"), port}, [&](const boost::system::error_code& ec) {
        if (ec) return;
        http::async_write(socket, request, [&](const boost::system::error_code& wec, std::size_t) {
          if (wec) return;
          http::async_read(socket, buffer, response,
                           [&](const boost::system::error_code& rec, std::size_t) {
                             if (!rec)
                               result = {static_cast<int>(response.result_int()), response.body()};
                           });
        });
      });
  io.run_for(limit);
  return result;
}

/// Everything one agent published, with the steady time each callback ran (on the strand, so
/// the times are when the agent acted). Safe to read from the test thread under `mu`.
struct Recorder {
  std::mutex mu;
  std::vector<agent::HostStatus> statuses;
  std::vector<Clock::time_point> status_times;
  std::vector<agent::ProbeResult> results;
  std::vector<Clock::time_point> result_times;

  agent::AgentSink Sink() {
    return agent::AgentSink{[this](const agent::HostStatus& s) {
                              std::lock_guard lock(mu);
                              statuses.push_back(s);
                              status_times.push_back(Clock::now());
                            },
                            [this](const agent::ProbeResult& r) {
                              std::lock_guard lock(mu);
                              results.push_back(r);
                              result_times.push_back(Clock::now());
                            }};
  }

  /// Polls `pred(*this)` under the lock every 10 ms until it holds or `limit` passes.
  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (pred(*this)) return true;
      }
      if (Clock::now() >= end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // The helpers below expect `mu` held (call them inside WaitFor predicates or after Stop()).
  [[nodiscard]] std::size_t CountStates(agent::HostState state, std::size_t from = 0) const {
    std::size_t n = 0;
    for (std::size_t i = from; i < statuses.size(); ++i) n += statuses[i].state == state;
    return n;
  }
  [[nodiscard]] std::size_t CountResults(agent::ProbeStatus status, std::size_t from = 0) const {
    std::size_t n = 0;
    for (std::size_t i = from; i < results.size(); ++i) n += results[i].status == status;
    return n;
  }
  /// Index of the first result at or after `from` with `status`, or results.size().
  [[nodiscard]] std::size_t FindResult(agent::ProbeStatus status, std::size_t from = 0) const {
    for (std::size_t i = from; i < results.size(); ++i) {
      if (results[i].status == status) return i;
    }
    return results.size();
  }
  /// Index of the first status at or after `from` in `state`, or statuses.size().
  [[nodiscard]] std::size_t FindState(agent::HostState state, std::size_t from = 0) const {
    for (std::size_t i = from; i < statuses.size(); ++i) {
      if (statuses[i].state == state) return i;
    }
    return statuses.size();
  }
};

/// HostAgents on one io_context run by two threads (the collector's shape). Each agent gets its
/// own strand and cancellation signal so it can be stopped on its own.
class AgentRunner {
 public:
  explicit AgentRunner(int threads = 2) : work_(boost::asio::make_work_guard(io_)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~AgentRunner() { Stop(); }
  AgentRunner(const AgentRunner&) = delete;
  AgentRunner& operator=(const AgentRunner&) = delete;

  /// Starts an agent; returns its index for `StopAgent`. `on_exit` runs (on the strand) when
  /// its Run() returned. An exception escaping Run() is a bug: it is counted in `Crashes()`.
  std::size_t Start(config::HostSpec spec, agent::AgentSink sink, agent::AgentOptions options,
                    std::function<void()> on_exit = {}) {
    auto strand = boost::asio::make_strand(io_);
    auto a = std::make_shared<agent::HostAgent>(strand, std::move(spec), std::move(sink),
                                                std::move(options));
    auto signal = std::make_shared<boost::asio::cancellation_signal>();
    std::size_t index = 0;
    {
      std::lock_guard lock(mu_);
      index = agents_.size();
      agents_.push_back({strand, signal});
    }
    boost::asio::co_spawn(
        strand, [a] { return a->Run(); },
        boost::asio::bind_cancellation_slot(
            signal->slot(), [this, a, on_exit = std::move(on_exit)](std::exception_ptr e) {
              if (e) crashes_.fetch_add(1);
              if (on_exit) on_exit();
            }));
    return index;
  }

  /// Asks agent `index` to stop (terminal cancellation, posted to its strand). Any thread.
  void StopAgent(std::size_t index) {
    std::lock_guard lock(mu_);
    auto [strand, signal] = agents_.at(index);
    boost::asio::post(strand, [signal] { signal->emit(boost::asio::cancellation_type::terminal); });
  }

  /// Stops every agent and joins the threads. Idempotent.
  void Stop() {
    std::size_t n = 0;
    {
      std::lock_guard lock(mu_);
      n = agents_.size();
    }
    for (std::size_t i = 0; i < n; ++i) StopAgent(i);
    work_.reset();
    for (auto& t : threads_) t.join();
    threads_.clear();
    std::lock_guard lock(mu_);
    agents_.clear();  // only now: a running coroutine's slot points into its signal
  }

  [[nodiscard]] int Crashes() const { return crashes_.load(); }
  boost::asio::io_context& io() { return io_; }

 private:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<std::pair<Strand, std::shared_ptr<boost::asio::cancellation_signal>>> agents_;
  std::atomic<int> crashes_{0};
};

}  // namespace fleetps::fleetsim::testing
