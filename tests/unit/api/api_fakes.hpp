// A fake fleet for the API's handler tests: a FleetState the test fills with config::HostSpec
// and agent events, fake agents whose ad hoc work answers, throws or hangs, and helpers to run
// a handler's coroutine and build requests. No socket anywhere.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include "fleetps/collector/api/http_api.hpp"
#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/http/http_server.hpp"
#include "fleetps/collector/telemetry/internal_errors.hpp"

namespace fleetps::collector::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;

inline config::HostSpec Spec(std::string name) {
  config::HostSpec spec;
  spec.name = std::move(name);
  spec.address = "127.0.0.1";
  spec.user = "monitor";
  spec.probe_timeout = std::chrono::milliseconds(0);  // fan-out deadlines are the test's slack
  return spec;
}

inline agent::HostStatus Status(std::string host, agent::HostState state, agent::Errc reason = {}) {
  agent::HostStatus status;
  status.host = std::move(host);
  status.state = state;
  status.epoch = state == agent::HostState::kReady ? 1 : 0;
  status.since = std::chrono::system_clock::now();
  if (reason != agent::Errc{}) status.last_reason = reason;
  return status;
}

inline probes::ProcessRow Row(std::int64_t pid, std::string comm) {
  probes::ProcessRow row;
  row.pid = pid;
  row.ppid = 1;
  row.user = "oracle";
  row.comm = comm;
  row.args = comm;
  row.rss_bytes = 4096;
  return row;
}

inline agent::ProbeResult Probe(std::string host, std::vector<probes::ProcessRow> rows,
                                std::vector<probes::ListenSocket> listening = {}) {
  agent::ProbeResult result;
  result.host = std::move(host);
  result.status = agent::ProbeStatus::kOk;
  result.session_epoch = 1;
  result.started = std::chrono::system_clock::now();
  result.finished = result.started;
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  snapshot->processes = std::move(rows);
  snapshot->listening = std::move(listening);
  result.snapshot = std::move(snapshot);
  return result;
}

/// An agent whose ad hoc work answers `probe` / `open_files`, throws, or hangs for `hang`,
/// always on its strand.
class FakeAgent final : public AdhocAgent {
 public:
  enum class Behaviour { kAnswer, kThrow, kHang };

  explicit FakeAgent(asio::io_context& io) : strand_(asio::make_strand(io)) {}

  asio::any_io_executor Strand() const override { return strand_; }

  asio::awaitable<agent::ProbeResult> RunAdhoc(agent::ProbeKind) override {
    co_await Act();
    co_return probe;
  }
  asio::awaitable<agent::OpenFilesOutcome> RunOpenFiles(std::int64_t pid) override {
    last_pid = pid;
    co_await Act();
    co_return open_files;
  }

  Behaviour behaviour = Behaviour::kAnswer;
  std::chrono::milliseconds hang{300};
  agent::ProbeResult probe;
  agent::OpenFilesOutcome open_files;
  std::atomic<int> calls{0};
  std::atomic<int> off_strand{0};  ///< Calls that did not run on the strand.
  std::atomic<int> finished{0};    ///< Calls that ran to their end (a hang not cancelled).
  std::atomic<std::int64_t> last_pid{0};

 private:
  asio::awaitable<void> Act() {
    ++calls;
    if (!strand_.running_in_this_thread()) ++off_strand;
    if (behaviour == Behaviour::kThrow) throw std::runtime_error("agent exploded");
    if (behaviour == Behaviour::kHang) {
      asio::steady_timer timer(co_await asio::this_coro::executor, hang);
      co_await timer.async_wait(asio::use_awaitable);  // throws if cancelled: never finished
    }
    ++finished;
  }

  asio::strand<asio::io_context::executor_type> strand_;
};

/// FleetPort and ControlPort over a FleetState the test fills.
class FakeFleet final : public FleetPort, public ControlPort {
 public:
  FakeFleet()
      : state(GroupingRules(
            *probes::Grouper::Compile({probes::MatcherSpec{"db", {"oracle"}, {}, {}}}).grouper,
            {"db"}, {{"db", {}}})) {}

  const FleetState& State() const override { return state; }
  SelfMetrics Self() override { return self; }
  std::shared_ptr<AdhocAgent> Agent(std::string_view host) const override {
    const auto it = agents.find(host);
    return it == agents.end() ? nullptr : it->second;
  }
  bool Ready() const override { return ready; }
  bool ReloadEndpointEnabled() const override { return reload_enabled; }
  asio::awaitable<ReloadOutcome> Reload() override {
    ++reloads;
    co_return reload_outcome;
  }
  asio::awaitable<std::optional<bool>> StoreDown() override { co_return store_down; }

  FleetState state;
  SelfMetrics self;
  std::map<std::string, std::shared_ptr<AdhocAgent>, std::less<>> agents;
  bool ready = false;
  bool reload_enabled = false;
  ReloadOutcome reload_outcome;
  int reloads = 0;
  std::optional<bool> store_down;  ///< nullopt: not an etcd member
};

inline HttpRequest Request(http::verb method, std::string_view target) {
  HttpRequest request(method, target, 11);
  request.keep_alive(true);
  return request;
}

/// Runs `work` on `io` until it completes; other work (a hung agent) stays pending.
template <class T>
T Await(asio::io_context& io, asio::awaitable<T> work) {
  std::future<T> result = asio::co_spawn(io, std::move(work), asio::use_future);
  io.restart();
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io.run_one_for(std::chrono::milliseconds(10));
    io.restart();
  }
  return result.get();
}

/// Runs `io` for `duration` (to let late work finish).
inline void RunFor(asio::io_context& io, std::chrono::milliseconds duration) {
  io.restart();
  io.run_for(duration);
}

/// Two hosts: web01 ready (AIX, a weak cipher, label dc=paris) whose last probe saw oracle
/// (pid 42, group db, listening on 1521) and sshd (pid 7); db01 in backoff (connect_refused).
inline void AddWebAndDb(FleetState& state) {
  config::HostSpec web = Spec("web01");
  web.labels = {{"dc", "paris"}};
  state.SetHosts({web, Spec("db01")});
  agent::HostStatus ready = Status("web01", agent::HostState::kReady);
  ready.dialect = probes::Dialect::kAix;
  ready.weak_algorithms = {{agent::AlgorithmKind::kCipher, "aes128-cbc", "CBC mode"}};
  state.OnStatus(ready);
  state.OnResult(Probe("web01", {Row(42, "oracle"), Row(7, "sshd")},
                       {probes::ListenSocket{"tcp", "0.0.0.0", 1521, 42, "oracle"}}));
  state.OnStatus(Status("db01", agent::HostState::kBackoff, agent::Errc::kConnectRefused));
}

/// The whole API over a FakeFleet filled by AddWebAndDb, requests answered without a socket.
class ApiTest : public ::testing::Test {
 protected:
  explicit ApiTest(HttpApiOptions options = {}) : api_(fleet_, fleet_, bus_, options) {
    AddWebAndDb(fleet_.state);
  }

  HttpResponse Get(std::string_view target, http::verb method = http::verb::get) {
    return Complete(Await(io_, api_.Handle(Request(method, target))));
  }

  /// The answer with a streamed body (HttpAnswer::stream) written into the response's body, as
  /// the server would send it.
  HttpResponse Complete(HttpAnswer answer) {
    if (!answer.stream) return std::move(answer.response);
    std::string body;
    HttpStreamWriter writer(
        [&body](std::string_view data) -> asio::awaitable<boost::system::error_code> {
          body += data;
          co_return boost::system::error_code{};
        },
        -1);
    Await(io_, answer.stream(writer));
    answer.response.body() = std::move(body);
    return std::move(answer.response);
  }

  asio::io_context io_;
  FakeFleet fleet_;
  FleetBus bus_;
  HttpApi api_;
};

/// The count of internal errors recorded at `where` so far.
inline std::uint64_t InternalErrors(std::string_view where) {
  for (const auto& [site, count] : InternalErrorCounts()) {
    if (site == where) return count;
  }
  return 0;
}

}  // namespace fleetps::collector::testing
