#include "fleetps/collector/app/algorithm_check.hpp"
#include "fleetps/collector/telemetry/build_info.hpp"
#include "fleetps/agent/algorithms.hpp"
#include "fleetps/collector/query/text.hpp"
#include "fleetps/collector/app/app.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "fleetps/agent/known_hosts.hpp"
#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/http/gzip.hpp"
#include "fleetps/collector/http/http_server.hpp"
#include "fleetps/collector/telemetry/log.hpp"
#include "fleetps/collector/telemetry/loop_monitor.hpp"
#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/api/query_api.hpp"
#include "fleetps/collector/supervision/task_group.hpp"
#include "fleetps/collector/api/status_page.hpp"
#include "fleetps/collector/supervision/supervisor.hpp"
#include "fleetps/config/diff.hpp"
#include "fleetps/config/load.hpp"
#include "fleetps/registry/bus.hpp"
#include "fleetps/registry/registry.hpp"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

/// What agents publish on the bus, tagged with the generation of the agent that sent it, and
/// the collector's own reload notices (topic "config", generation 0).
struct Event {
  std::uint64_t generation = 0;
  std::variant<agent::HostStatus, agent::ProbeResult, ConfigReloadEvent> payload;
};

/// What the registry maps a host name to while its agent runs.
struct HostHandle {
  std::shared_ptr<agent::HostAgent> agent;
  asio::any_io_executor strand;
};

constexpr auto kHostShutdownDeadline = 8s;  // inside the top-level 10 s
constexpr auto kReloadCoalesce = 250ms;
constexpr std::size_t kEventQueue = 1 << 16;
constexpr auto kFreshSlack = 2s;        // on top of the slowest host's probe_timeout
constexpr auto kFreshCap = 60s;         // no request waits longer than this
constexpr std::size_t kMaxEventStreams = 32;
constexpr std::size_t kEventStreamQueue = 1024;  // per client; overflow drops and counts
constexpr auto kEventHeartbeatPeriod = 15s;
constexpr auto kEventClientCheckPeriod = 1s;  // a departed client frees its slot this soon

// Result of one open-files request, filled on the agent's strand.
struct OpenFilesCall {
  std::mutex mu;
  std::optional<agent::OpenFilesOutcome> outcome;  // guarded by mu
  AsyncEvent done;
};

// Counts a live event stream; the count drops when the stream (or its unused answer) goes.
class StreamSlot {
 public:
  explicit StreamSlot(std::atomic<std::size_t>& count) : count_(count) {}
  ~StreamSlot() { count_.fetch_sub(1); }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

 private:
  std::atomic<std::size_t>& count_;
};

// Results of one `fresh=1` request: each host's ad hoc probe fills its slot.
struct FreshBatch {
  explicit FreshBatch(std::size_t n) : results(n), pending(n) {}
  std::mutex mu;
  std::vector<std::optional<agent::ProbeResult>> results;  // guarded by mu
  std::size_t pending;                                      // guarded by mu
  AsyncEvent done;
};

double Seconds(std::chrono::system_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string Join(const std::vector<std::string>& items, std::size_t max = 10) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) {
    if (i) out += ',';
    out += items[i];
  }
  if (items.size() > max) out += ",...";
  return out;
}

struct LoadedConfig {
  config::Inventory inventory;
  probes::Grouper grouper;
};

// Loads and validates everything `run` needs. On failure `config` is empty and `problems` holds
// one `file:line:col: message` line per problem, each also logged under `event`.
struct ConfigLoad {
  std::optional<LoadedConfig> config;
  std::string problems;
};

ConfigLoad LoadConfig(const std::string& path, std::string_view event) {
  ConfigLoad out;
  auto fail = [&](const std::string& line) {
    Log(LogLevel::kError, event, {{"diagnostic", line}});
    out.problems += line + "\n";
  };
  config::LoadResult loaded = config::LoadInventoryFile(path, AlgorithmCheckingLoadOptions());
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) fail(d.ToString());
    return out;
  }
  auto compiled = probes::Grouper::Compile(ToMatcherSpecs(loaded.inventory->process_names));
  if (!compiled.grouper) {
    for (const auto& e : compiled.errors) fail(path + ": " + e);
    return out;
  }
  out.config = LoadedConfig{std::move(*loaded.inventory), std::move(*compiled.grouper)};
  return out;
}

class App {
 public:
  App(std::string config_path, LoadedConfig loaded, std::string listen)
      : config_path_(std::move(config_path)),
        inventory_(std::move(loaded.inventory)),
        listen_(std::move(listen)),
        io_(static_cast<int>(Threads())),
        control_(asio::make_strand(io_)),
        state_(std::move(loaded.grouper), StaticGroupNames(inventory_.process_names),
               RenderHostText),
        events_(bus_.Subscribe("*", kEventQueue).value()),
        handshakes_(std::make_shared<agent::AsyncSemaphore>(
            inventory_.collector.max_concurrent_handshakes)),
        hosts_(io_.get_executor(), HostSupervisorOptions(), clock_, random_, LogSupervisorEvent),
        top_(io_.get_executor(), TopSupervisorOptions{}, clock_, random_, LogSupervisorEvent) {
    state_.SetHosts(inventory_.hosts);
  }

  int Run() {
    auto server = HttpServer::Bind(
        io_.get_executor(), listen_, [this](HttpRequest request) { return Handle(std::move(request)); });
    if (!server) {
      Log(LogLevel::kError, "listen_failed", {{"listen", listen_}, {"error", server.error().message()}});
      return 1;
    }
    http_.emplace(std::move(*server));
    const std::string bound = http_->LocalEndpoint().address().to_string() + ":" +
                              std::to_string(http_->LocalEndpoint().port());
    Log(LogLevel::kInfo, "start",
        {{"version", std::string(BuildVersion())}, {"config", config_path_}, {"listen", bound},
         {"hosts", std::to_string(inventory_.hosts.size())},
         {"threads", std::to_string(Threads())}});

    for (auto [id, start] : std::initializer_list<std::pair<const char*, asio::awaitable<void> (App::*)()>>{
             {"events", &App::EventsService},
             {"hosts", &App::HostsService},
             {"http", &App::HttpService},
             {"loop", &App::LoopService},
             {"reload", &App::ReloadService}}) {
      (void)top_.StartService({id, [this, start] { return (this->*start)(); }, RestartType::kPermanent});
    }
    int exit_code = 1;
    asio::co_spawn(io_, RunWithStopSignals(top_, stop_signals_), [&](std::exception_ptr error, int code) {
      exit_code = error ? 1 : code;
      io_.stop();
    });
    std::vector<std::jthread> workers;
    for (unsigned i = 1; i < Threads(); ++i) workers.emplace_back([this] { io_.run(); });
    io_.run();
    workers.clear();
    const auto report = top_.LastShutdown();
    Log(exit_code == 0 ? LogLevel::kInfo : LogLevel::kError, "stop",
        {{"exit_code", std::to_string(exit_code)}, {"unfinished", Join(report.unfinished)}});
    return exit_code;
  }

 private:
  unsigned Threads() const {
    const unsigned configured = inventory_.collector.threads;
    return configured ? configured : std::max(1u, std::thread::hardware_concurrency());
  }

  SupervisorOptions HostSupervisorOptions() const {
    SupervisorOptions options;
    options.max_restarts = inventory_.collector.max_restarts;
    options.period = inventory_.collector.restart_period;
    options.on_intensity = IntensityAction::kQuarantine;
    return options;
  }

  static void LogSupervisorEvent(const SupervisorEvent& event) {
    using Kind = SupervisorEvent::Kind;
    switch (event.kind) {
      case Kind::kCrashed:
        Log(LogLevel::kError, "child_crashed", {{"child", event.id}, {"error", event.detail}});
        break;
      case Kind::kQuarantined:
        Log(LogLevel::kError, "child_quarantined",
            {{"child", event.id}, {"retry_in_s", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(event.delay).count())}});
        break;
      case Kind::kEscalated:
        Log(LogLevel::kError, "supervisor_escalated", {{"child", event.id}});
        break;
      default:
        break;
    }
  }

  // ---- services --------------------------------------------------------------------------

  asio::awaitable<void> HostsService() {
    co_await asio::co_spawn(control_, StartHosts(), asio::use_awaitable);
    ready_ = true;
    AsyncEvent never;
    (void)co_await never.Wait();  // until cancelled by shutdown
    co_await asio::this_coro::reset_cancellation_state();
    ready_ = false;
    const ShutdownReport report = co_await hosts_.Shutdown(kHostShutdownDeadline);
    Log(report.Clean() ? LogLevel::kInfo : LogLevel::kWarn, "hosts_stopped",
        {{"unfinished", Join(report.unfinished)}});
  }

  asio::awaitable<void> StartHosts() {
    for (const config::HostSpec& spec : inventory_.hosts) StartHost(spec);
    co_return;
  }

  void StartHost(const config::HostSpec& spec) {
    auto started = hosts_.StartChild(
        {spec.name, [this, spec] { return RunHost(spec); }, RestartType::kPermanent});
    if (!started && started.error() != SupervisorErrc::kAlreadyStarted) {
      Log(LogLevel::kError, "host_start_failed", {{"host", spec.name}, {"error", started.error().message()}});
    }
  }

  // One host's child: runs on the strand the supervisor gave it.
  asio::awaitable<void> RunHost(config::HostSpec spec) {
    auto strand = co_await asio::this_coro::executor;
    const std::uint64_t generation = ++agent_generations_;
    agent::AgentSink sink{
        .on_status = [this, generation](const agent::HostStatus& s) {
          bus_.Publish("host/" + s.host, Event{generation, s});
        },
        .on_result = [this, generation](const agent::ProbeResult& r) {
          bus_.Publish("host/" + r.host, Event{generation, r});
        }};
    agent::AgentOptions options;
    options.handshake_limiter = handshakes_;
    options.known_hosts = KnownHostsFor(spec.known_hosts);
    auto host = std::make_shared<agent::HostAgent>(strand, spec, std::move(sink), std::move(options));
    auto registration = agents_.Register(spec.name, HostHandle{host, strand});
    if (!registration) throw std::logic_error("host registered twice: " + spec.name);
    co_await host->Run();
  }

  std::shared_ptr<agent::KnownHostsFile> KnownHostsFor(const std::string& path) {
    std::lock_guard lock(known_hosts_mu_);
    auto& file = known_hosts_[path];
    if (!file) file = std::make_shared<agent::KnownHostsFile>(path);
    return file;
  }

  asio::awaitable<void> EventsService() {
    for (;;) {
      auto event = co_await events_.Receive();
      if (!event) co_return;  // bus closed or cancelled
      if (const auto* status = std::get_if<agent::HostStatus>(&event->payload)) {
        state_.OnStatus(*status, event->generation);
        LogStatus(*status);
      } else if (const auto* probe = std::get_if<agent::ProbeResult>(&event->payload)) {
        const auto& result = *probe;
        state_.OnResult(result, event->generation);
        // A tick on a host that is not ready is not a probe (epoch 0): its host_state line
        // already told why, and one line per interval per down host would flood the log.
        if (result.status != agent::ProbeStatus::kOk && result.session_epoch != 0) {
          Log(LogLevel::kWarn, "probe_failed",
              {{"host", result.host}, {"status", agent::ProbeStatusName(result.status)},
               {"reason", agent::ReasonName(result.reason)}});
        }
      }
    }
  }

  static void LogStatus(const agent::HostStatus& status) {
    const bool failing = status.state == agent::HostState::kBackoff ||
                         status.state == agent::HostState::kCircuitOpen;
    const std::string epoch = std::to_string(status.epoch);
    const std::string retry_in = std::to_string(status.retry_in.count());
    std::vector<LogField> fields = {
        {"host", status.host},
        {"state", agent::StateName(status.state)},
        {"epoch", epoch},
        {"reason", agent::ReasonName(status.last_reason)},
        {"retry_in_ms", retry_in},
        {"dialect", status.dialect ? probes::DialectName(*status.dialect) : ""}};
    // The detail says what to change (e.g. the server's algorithm offer); weak names what an
    // upgrade of the host would remove. Both only when there is something to say.
    if (failing && !status.detail.empty()) fields.emplace_back("detail", status.detail);
    const std::string weak = agent::FormatWeakAlgorithms(status.weak_algorithms);
    if (status.state == agent::HostState::kReady && !weak.empty()) fields.emplace_back("weak", weak);
    Log(failing ? LogLevel::kWarn : LogLevel::kInfo, "host_state", fields);
  }

  // Event streams end when the HTTP service stops, so shutdown never waits on a client.
  asio::awaitable<void> HttpService() {
    co_await http_->Run();
    streams_stop_.Set();
  }

  // fleetps_event_loop_lag_seconds: how late a 100 ms timer fires on the shared io_context.
  asio::awaitable<void> LoopService() { co_await MonitorLoopLag(loop_lag_, 100ms); }

  // SIGHUP asks for a reload. A burst folds into one: the reload runs once no signal has
  // arrived for kReloadCoalesce, while this loop keeps taking signals. Only this service waits
  // on hangup_, one wait at a time, also across restarts.
  asio::awaitable<void> ReloadService() {
    auto executor = co_await asio::this_coro::executor;
    auto burst = std::make_shared<HangupBurst>(executor);
    for (;;) {
      auto [ec, signal] = co_await hangup_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      burst->last = std::chrono::steady_clock::now();
      if (burst->signals++ == 0) {
        asio::co_spawn(executor, [this, burst] { return ReloadAfterQuiet(burst); },
                       asio::detached);
      }
    }
  }

  struct HangupBurst {
    explicit HangupBurst(asio::any_io_executor executor) : settle(std::move(executor)) {}
    asio::steady_timer settle;
    std::chrono::steady_clock::time_point last;
    std::size_t signals = 0;
  };

  // Runs on the reload service's strand, like the signal loop that shares `burst`.
  asio::awaitable<void> ReloadAfterQuiet(std::shared_ptr<HangupBurst> burst) {
    while (std::chrono::steady_clock::now() < burst->last + kReloadCoalesce) {
      burst->settle.expires_at(burst->last + kReloadCoalesce);
      auto [ec] = co_await burst->settle.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
    const std::size_t folded = std::exchange(burst->signals, 0);
    Log(LogLevel::kInfo, "config_reload_requested",
        {{"origin", "sighup"}, {"signals", std::to_string(folded)}});
    (void)co_await asio::co_spawn(control_, Reload("sighup"), asio::use_awaitable);
  }

  // Applies a new inventory as a diff. Runs on control_. Returns a one-line summary, or the
  // diagnostics when the file is invalid (the running config stays).
  asio::awaitable<std::pair<bool, std::string>> Reload(std::string origin) {
    auto [loaded, problems] = LoadConfig(config_path_, "config_reload_failed");
    if (!loaded) {
      reload_ok_ = false;
      bus_.Publish("config", Event{0, ConfigReloadEvent{false, origin, "invalid config"}});
      co_return std::pair{false, problems};
    }
    const config::InventoryDiff diff = config::DiffInventories(inventory_, loaded->inventory);
    if (diff.collector_changed) {
      Log(LogLevel::kWarn, "config_reload_partial",
          {{"detail", "changes to the collector section take effect after a restart"}});
    }
    inventory_ = std::move(loaded->inventory);
    for (const std::string& name : diff.removed) (void)co_await hosts_.TerminateChild(name);
    for (const std::string& name : diff.changed) (void)co_await hosts_.TerminateChild(name);
    state_.SetHosts(inventory_.hosts);
    if (diff.process_names_changed) {
      state_.SetGrouping(std::move(loaded->grouper), StaticGroupNames(inventory_.process_names));
    }
    for (const config::HostSpec& spec : inventory_.hosts) StartHost(spec);  // added + changed
    reload_ok_ = true;
    const std::string summary = "added=" + std::to_string(diff.added.size()) +
                                " removed=" + std::to_string(diff.removed.size()) +
                                " changed=" + std::to_string(diff.changed.size()) +
                                " unchanged=" + std::to_string(diff.unchanged.size());
    Log(LogLevel::kInfo, "config_reloaded",
        {{"origin", origin}, {"added", Join(diff.added)}, {"removed", Join(diff.removed)},
         {"changed", Join(diff.changed)}, {"unchanged", std::to_string(diff.unchanged.size())}});
    bus_.Publish("config", Event{0, ConfigReloadEvent{true, origin, summary}});
    co_return std::pair{true, summary + "\n"};
  }

  // ---- HTTP ------------------------------------------------------------------------------

  SelfMetrics Self() {
    SelfMetrics self;
    self.supervisor_restarts = hosts_.RestartsTotal() + top_.Services().RestartsTotal();
    self.bus_dropped = bus_.DroppedTotal();
    self.config_last_reload_successful = reload_ok_;
    self.handshake_limit = handshake_limit_;
    self.handshakes_in_flight = handshake_limit_ - std::min(handshake_limit_, handshakes_->Available());
    self.event_loop_lag = loop_lag_.Snapshot();
    if (const double last = last_scrape_seconds_.load(); last >= 0) {
      self.last_scrape_duration_seconds = last;
    }
    self.process = ReadProcessStats();
    for (const ChildInfo& child : hosts_.Children()) {
      if (child.state == ChildState::kQuarantined) self.quarantined_hosts.insert(child.id);
    }
    return self;
  }

  asio::awaitable<HttpAnswer> Handle(HttpRequest request) {
    const auto target = boost::urls::parse_origin_form(request.target());
    if (!target) {
      co_return MakeResponse(request, http::status::bad_request, "malformed request target\n");
    }
    const std::string path(target->path());
    const bool get = request.method() == http::verb::get || request.method() == http::verb::head;
    auto param = [&](std::string_view name) -> std::optional<std::string> {
      auto it = target->params().find(name);
      if (it == target->params().end()) return std::nullopt;
      return std::string((*it).value);
    };
    auto method_not_allowed = [&](std::string_view allow) {
      HttpResponse r = MakeResponse(request, http::status::method_not_allowed, "method not allowed\n");
      r.set(http::field::allow, allow);
      return r;
    };

    if (path == "/metrics") {
      if (!get) co_return method_not_allowed("GET");
      co_return MetricsResponse(request);
    }
    if (path == "/probe") {
      if (!get) co_return method_not_allowed("GET");
      const auto host = param("target");
      if (!host || host->empty()) {
        co_return MakeResponse(request, http::status::bad_request, "missing parameter \"target\"\n");
      }
      auto body = RenderHostMetrics(state_, *host, Self());
      if (!body) {
        co_return MakeResponse(request, http::status::not_found,
                               "unknown target \"" + BoundedLabelValue(*host) + "\"\n");
      }
      co_return MakeResponse(request, http::status::ok, std::move(*body),
                             "text/plain; version=0.0.4; charset=utf-8");
    }
    if (path == "/sd") {
      if (!get) co_return method_not_allowed("GET");
      co_return MakeResponse(request, http::status::ok, ServiceDiscoveryJson(), "application/json");
    }
    if (path == "/-/healthy") {
      co_return MakeResponse(request, http::status::ok, "fleetps is healthy\n");
    }
    if (path == "/-/ready") {
      co_return ready_ ? MakeResponse(request, http::status::ok, "fleetps is ready\n")
                       : MakeResponse(request, http::status::service_unavailable, "fleetps is starting\n");
    }
    if (path == "/-/reload") {
      if (request.method() != http::verb::post) co_return method_not_allowed("POST");
      if (!ReloadEndpointEnabled()) {
        co_return MakeResponse(request, http::status::forbidden,
                               "reload endpoint disabled; set collector.enable_reload_endpoint: true\n");
      }
      auto [ok, text] = co_await asio::co_spawn(control_, Reload("http"), asio::use_awaitable);
      co_return MakeResponse(request, ok ? http::status::ok : http::status::bad_request, text);
    }
    if (path == "/api/v1/processes") {
      if (!get) co_return method_not_allowed("GET");
      auto query = ParseProcessQueryString(target->encoded_query());
      if (!query) {
        co_return MakeResponse(request, http::status::bad_request, RenderErrorJson(query.error()),
                               "application/json");
      }
      co_return MakeResponse(request, http::status::ok, co_await Processes(*query),
                             "application/json");
    }
    if (path == "/api/v1/listening") {
      if (!get) co_return method_not_allowed("GET");
      auto query = ParseProcessQueryString(target->encoded_query());
      if (!query) {
        co_return MakeResponse(request, http::status::bad_request, RenderErrorJson(query.error()),
                               "application/json");
      }
      co_return MakeResponse(request, http::status::ok, co_await Listening(*query),
                             "application/json");
    }
    if (auto open_files = MatchOpenFilesPath(path, target->encoded_query())) {
      if (!get) co_return method_not_allowed("GET");
      if (!*open_files) {
        co_return MakeResponse(request, http::status::bad_request,
                               RenderErrorJson(open_files->error()), "application/json");
      }
      co_return co_await OpenFiles(request, **open_files);
    }
    if (path == "/api/v1/events") {
      if (!get) co_return method_not_allowed("GET");
      auto filter = ParseEventsQueryString(target->encoded_query());
      if (!filter) {
        co_return MakeResponse(request, http::status::bad_request, RenderErrorJson(filter.error()),
                               "application/json");
      }
      co_return Events(request, std::move(*filter));
    }
    if (path == "/api/v1/hosts") {
      if (!get) co_return method_not_allowed("GET");
      co_return MakeResponse(request, http::status::ok, HostsJson(), "application/json");
    }
    if (path == "/" || path == "/index.html") {
      if (!get) co_return method_not_allowed("GET");
      co_return MakeResponse(request, http::status::ok,
                             RenderStatusPage(state_.Hosts(), Self().quarantined_hosts),
                             "text/html; charset=utf-8");
    }
    co_return MakeResponse(request, http::status::not_found, "not found\n");
  }

  // /metrics, gzip-compressed (level 1) when the scraper accepts it. The render time feeds the
  // next scrape's fleetps_scrape_duration_seconds.
  HttpResponse MetricsResponse(const HttpRequest& request) {
    const auto start = std::chrono::steady_clock::now();
    std::string body = RenderMetrics(state_, Self());
    last_scrape_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const bool gzip = AcceptsGzip(request[http::field::accept_encoding]);
    if (gzip) body = Gzip(body);
    HttpResponse response = MakeResponse(request, http::status::ok, std::move(body),
                                         "text/plain; version=0.0.4; charset=utf-8");
    if (gzip) response.set(http::field::content_encoding, "gzip");
    response.set(http::field::vary, "Accept-Encoding");
    return response;
  }

  // Answers a validated process query from the snapshots, or, with `fresh`, from one ad hoc
  // probe per host over the warm sessions (only the fixed process-table template runs).
  asio::awaitable<std::string> Processes(const ProcessQuery& query) {
    co_return co_await Answer(query, false);
  }

  // Listening sockets of the same snapshots (or fresh probes), one row per socket.
  asio::awaitable<std::string> Listening(const ProcessQuery& query) {
    co_return co_await Answer(query, true);
  }

  asio::awaitable<std::string> Answer(const ProcessQuery& query, bool listening) {
    const auto views = state_.Hosts();
    std::vector<std::optional<agent::ProbeResult>> fresh(views.size());
    if (query.fresh) fresh = co_await FreshProbes(views);

    const auto now = std::chrono::system_clock::now();
    std::vector<probes::GroupSnapshot> fresh_groups(views.size());
    std::vector<CpuSamples> fresh_previous(views.size());
    std::vector<QueryRow> rows;
    std::vector<HostQueryStatus> statuses;
    for (std::size_t i = 0; i < views.size(); ++i) {
      const HostView& view = *views[i];
      HostQueryStatus status;
      status.host = view.spec.name;
      HostRowsInput input;
      input.host = view.spec.name;
      input.labels = &view.spec.labels;
      input.now_unix = Seconds(now.time_since_epoch());
      const agent::ProbeResult* result = fresh[i] ? &*fresh[i] : nullptr;
      if (result && result->status == agent::ProbeStatus::kOk && result->snapshot) {
        fresh_groups[i] = state_.GroupOnce(*result->snapshot);
        input.current = result->snapshot.get();
        if (view.snapshot) {
          fresh_previous[i] = SampleCpu(*view.snapshot);
          input.previous = &fresh_previous[i];
        }
        input.elapsed_seconds = Seconds(result->finished - view.snapshot_time);
        input.groups = &fresh_groups[i];
        status.age_seconds = Seconds(now - result->finished);
      } else if (view.snapshot) {
        input.current = view.snapshot.get();
        input.previous = view.previous_cpu.get();
        input.elapsed_seconds = Seconds(view.snapshot_time - view.previous_snapshot_time);
        input.groups = &view.groups;
        status.age_seconds = Seconds(now - view.snapshot_time);
        if (query.fresh || !view.Up()) {
          status.status = HostDataStatus::kStale;
          status.reason = FailureReason(view, result);
        }
      } else {
        status.status = HostDataStatus::kDown;
        status.reason = FailureReason(view, result);
      }
      if (input.previous && !(input.elapsed_seconds > 0)) input.previous = nullptr;
      if (listening) {
        AppendListeningRows(input, rows);
      } else {
        AppendQueryRows(input, rows);
      }
      statuses.push_back(std::move(status));
    }
    auto answer = RunQuery(rows, query.selector, query.sort, query.limit);
    if (!answer) co_return RenderErrorJson(answer.error().ToString(), answer.error().position, "q");
    co_return listening ? RenderListeningJson(*answer, statuses)
                        : RenderProcessesJson(*answer, statuses);
  }

  HttpResponse JsonError(const HttpRequest& request, http::status status, std::string_view message) {
    return MakeResponse(request, status, RenderErrorJson(message), "application/json");
  }

  // Runs the fixed open-files template for one validated pid on one host's warm session.
  asio::awaitable<HttpAnswer> OpenFiles(const HttpRequest& request, const OpenFilesRequest& req) {
    std::shared_ptr<const HostView> view;
    for (const auto& v : state_.Hosts()) {
      if (v->spec.name == req.host) view = v;
    }
    if (!view) {
      co_return JsonError(request, http::status::not_found,
                          "unknown host \"" + req.host + "\"");
    }
    auto handle = agents_.Lookup(req.host);
    const bool ready = view->status && view->status->state == agent::HostState::kReady;
    if (handle.empty() || !ready) {
      co_return JsonError(request, http::status::service_unavailable,
                          "host " + req.host + " is down: " + FailureReason(*view, nullptr));
    }
    auto call = std::make_shared<OpenFilesCall>();
    auto host = handle.front().agent;
    const std::int64_t pid = req.pid;
    asio::co_spawn(handle.front().strand, [host, pid] { return host->RunOpenFiles(pid); },
                   [call](std::exception_ptr error, agent::OpenFilesOutcome outcome) {
                     {
                       std::lock_guard lock(call->mu);
                       if (!error) call->outcome = std::move(outcome);
                     }
                     call->done.Set();
                   });
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer deadline(co_await asio::this_coro::executor);
    deadline.expires_after(std::min<std::chrono::steady_clock::duration>(
        view->spec.probe_timeout + kFreshSlack, kFreshCap));
    (void)co_await (call->done.Wait() || deadline.async_wait(asio::use_awaitable));
    std::optional<agent::OpenFilesOutcome> outcome;
    {
      std::lock_guard lock(call->mu);
      outcome = std::move(call->outcome);
    }
    if (!outcome) {
      co_return JsonError(request, http::status::gateway_timeout,
                          "open-files on " + req.host + " did not finish in time");
    }
    const std::string where = "process " + std::to_string(pid) + " on " + req.host;
    if (outcome->status != agent::ProbeStatus::kOk) {
      const auto reason = agent::ReasonName(outcome->reason);
      const std::string why(reason.empty() ? agent::ProbeStatusName(outcome->status) : reason);
      if (outcome->status == agent::ProbeStatus::kTimeout) {
        co_return JsonError(request, http::status::gateway_timeout, "open-files of " + where + ": " + why);
      }
      if (outcome->status == agent::ProbeStatus::kError && outcome->session_epoch == 0) {
        co_return JsonError(request, http::status::service_unavailable,
                            "host " + req.host + " is down: " + why);
      }
      co_return JsonError(request, http::status::bad_gateway, "open-files of " + where + ": " + why);
    }
    switch (outcome->result.state) {
      case probes::OpenFilesState::kOk:
        co_return MakeResponse(request, http::status::ok,
                               RenderOpenFilesJson(req.host, pid, outcome->result), "application/json");
      case probes::OpenFilesState::kNoSuchProcess:
        co_return JsonError(request, http::status::not_found, "no " + where);
      case probes::OpenFilesState::kPermissionDenied:
        co_return JsonError(request, http::status::forbidden,
                            "permission denied: the monitoring user cannot list the descriptors of " + where);
      case probes::OpenFilesState::kUnsupported:
        co_return JsonError(request, http::status::not_implemented,
                            "open-files is unsupported on this dialect (" +
                                std::string(view->status && view->status->dialect ? probes::DialectName(*view->status->dialect) : "unknown") +
                                "): no Linux-style /proc and no lsof on " + req.host);
      case probes::OpenFilesState::kBadOutput:
        break;
    }
    co_return JsonError(request, http::status::bad_gateway, "open-files of " + where + ": parse_error");
  }

  // GET /api/v1/events: a stream of bus events, or 503 when too many streams are open.
  HttpAnswer Events(const HttpRequest& request, HostFilter filter) {
    if (event_streams_.fetch_add(1) >= kMaxEventStreams) {
      event_streams_.fetch_sub(1);
      return JsonError(request, http::status::service_unavailable,
                       "too many event streams (at most " + std::to_string(kMaxEventStreams) + ")");
    }
    auto slot = std::make_shared<StreamSlot>(event_streams_);
    const std::string exact(filter.ExactHost());
    auto subscription = bus_.Subscribe(exact.empty() ? "*" : "host/" + exact, kEventStreamQueue);
    if (!subscription) {
      return JsonError(request, http::status::service_unavailable, "shutting down");
    }
    HttpAnswer answer(MakeResponse(request, http::status::ok, {}, "text/event-stream; charset=utf-8"));
    answer.response.set(http::field::cache_control, "no-cache");
    auto shared = std::make_shared<registry::Subscription<Event>>(std::move(*subscription));
    answer.stream = [this, slot, shared, filter = std::move(filter)](HttpStreamWriter& out) {
      return EventStream(out, slot, shared, filter);
    };
    return answer;
  }

  asio::awaitable<void> EventStream(HttpStreamWriter& out, std::shared_ptr<StreamSlot> slot,
                                    std::shared_ptr<registry::Subscription<Event>> events,
                                    HostFilter filter) {
    (void)slot;  // held for the stream's lifetime
    using namespace asio::experimental::awaitable_operators;
    // Never `if (co_await ...)`: GCC 12 miscompiles a co_await inside a condition.
    const boost::system::error_code hello = co_await out.Write(": fleetps events\nretry: 5000\n\n");
    if (hello) co_return;
    asio::steady_timer tick(co_await asio::this_coro::executor);
    auto next_heartbeat = std::chrono::steady_clock::now() + kEventHeartbeatPeriod;
    std::uint64_t reported_drops = 0;
    while (!streams_stop_.IsSet()) {
      // A quiet stream would only learn at its next write that the client left.
      tick.expires_at(
          std::min(next_heartbeat, std::chrono::steady_clock::now() + kEventClientCheckPeriod));
      auto woke = co_await (events->Receive() ||
                            tick.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                            streams_stop_.Wait());
      std::string text;
      if (woke.index() == 2) break;
      if (woke.index() == 1) {
        if (out.PeerClosed()) break;
        if (std::chrono::steady_clock::now() < next_heartbeat) continue;
        text = kEventHeartbeat;
        next_heartbeat = std::chrono::steady_clock::now() + kEventHeartbeatPeriod;
      } else {
        auto& received = std::get<0>(woke);
        if (!received) break;  // bus closed
        if (const std::uint64_t dropped = events->Dropped(); dropped > reported_drops) {
          text = RenderDroppedEvent(dropped - reported_drops, dropped);
          reported_drops = dropped;
        }
        text += RenderStreamEvent(*received, filter);
      }
      if (text.empty()) continue;
      const boost::system::error_code written = co_await out.Write(text);
      if (written) break;
    }
  }

  static std::string RenderStreamEvent(const Event& event, const HostFilter& filter) {
    if (const auto* status = std::get_if<agent::HostStatus>(&event.payload)) {
      return filter.Matches(status->host) ? RenderHostStateEvent(*status) : std::string();
    }
    if (const auto* result = std::get_if<agent::ProbeResult>(&event.payload)) {
      return filter.Matches(result->host) ? RenderProbeEvent(*result) : std::string();
    }
    // Reloads concern the whole fleet: only unfiltered streams carry them.
    const auto& reload = std::get<ConfigReloadEvent>(event.payload);
    return filter.empty() ? RenderConfigReloadEvent(reload) : std::string();
  }

  static std::string FailureReason(const HostView& view, const agent::ProbeResult* fresh) {
    // An agent that is not ready does not probe; it answers at once with its last failure, or
    // with `disconnected` before its first one. The host's state says more than that then
    // (FleetState keeps no failure for such ticks either).
    const bool unprobed_without_failure =
        fresh && fresh->session_epoch == 0 && !(view.status && view.status->last_reason);
    if (fresh && fresh->status != agent::ProbeStatus::kOk && !unprobed_without_failure) {
      const auto reason = agent::ReasonName(fresh->reason);
      return std::string(reason.empty() ? agent::ProbeStatusName(fresh->status) : reason);
    }
    if (!view.last_probe_failure.empty()) return view.last_probe_failure;
    if (!view.status) return "connecting";
    if (const auto reason = agent::ReasonName(view.status->last_reason); !reason.empty()) {
      return std::string(reason);
    }
    if (view.status->state == agent::HostState::kReady) return "no probe yet";
    return std::string(agent::StateName(view.status->state));
  }

  // One ad hoc probe per host, all at once, each on its agent's strand. Hosts without a running
  // agent, and probes still running at the deadline, come back empty.
  asio::awaitable<std::vector<std::optional<agent::ProbeResult>>> FreshProbes(
      const std::vector<std::shared_ptr<const HostView>>& views) {
    auto batch = std::make_shared<FreshBatch>(views.size());
    std::chrono::milliseconds slowest{0};
    std::size_t launched = 0;
    for (std::size_t i = 0; i < views.size(); ++i) {
      auto handle = agents_.Lookup(views[i]->spec.name);
      if (handle.empty()) continue;
      slowest = std::max(slowest, views[i]->spec.probe_timeout);
      ++launched;
      auto agent = handle.front().agent;
      asio::co_spawn(handle.front().strand, [agent] { return agent->RunAdhoc(agent::ProbeKind::kProcesses); },
                     [batch, i](std::exception_ptr error, agent::ProbeResult result) {
                       std::lock_guard lock(batch->mu);
                       if (!error) batch->results[i] = std::move(result);
                       if (--batch->pending == 0) batch->done.Set();
                     });
    }
    {
      std::lock_guard lock(batch->mu);
      batch->pending -= views.size() - launched;
      if (batch->pending == 0) batch->done.Set();
    }
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer deadline(co_await asio::this_coro::executor);
    deadline.expires_after(std::min<std::chrono::steady_clock::duration>(slowest + kFreshSlack, kFreshCap));
    (void)co_await (batch->done.Wait() || deadline.async_wait(asio::use_awaitable));
    std::lock_guard lock(batch->mu);
    co_return batch->results;
  }

  bool ReloadEndpointEnabled() const { return inventory_.collector.enable_reload_endpoint; }

  std::string ServiceDiscoveryJson() const {
    boost::json::array groups;
    for (const auto& view : state_.Hosts()) {
      boost::json::object labels;
      for (const auto& [name, value] : view->spec.labels) labels[name] = value;
      labels["host"] = view->spec.name;
      groups.push_back(boost::json::object{{"targets", boost::json::array{view->spec.name}},
                                           {"labels", std::move(labels)}});
    }
    return boost::json::serialize(groups) + "\n";
  }

  std::string HostsJson() {
    const auto now = std::chrono::system_clock::now();
    const SelfMetrics self = Self();
    boost::json::array hosts;
    for (const auto& view : state_.Hosts()) {
      boost::json::object host;
      host["host"] = view->spec.name;
      host["address"] = view->spec.address;
      host["port"] = view->spec.port;
      host["state"] = DisplayState(view->status, self.quarantined_hosts.contains(view->spec.name));
      host["epoch"] = view->connects_total;
      static const agent::HostStatus kNoStatus;
      const agent::HostStatus& status = view->status ? *view->status : kNoStatus;
      if (status.dialect) host["dialect"] = probes::DialectName(*status.dialect);
      if (status.last_reason) host["last_reason"] = agent::ReasonName(status.last_reason);
      if (!status.detail.empty()) host["last_detail"] = ValidUtf8(status.detail);
      if (!status.server.banner.empty()) {
        host["server_banner"] = ValidUtf8(status.server.banner);
      }
      if (!status.weak_algorithms.empty()) {
        boost::json::array weak;
        for (const auto& w : status.weak_algorithms) {
          weak.push_back(boost::json::object{{"list", agent::AlgorithmKindKey(w.kind)},
                                             {"algorithm", w.name},
                                             {"why", w.reason}});
        }
        host["weak_algorithms"] = std::move(weak);
      }
      if (view->last_probe_status) {
        host["last_probe"] = agent::ProbeStatusName(*view->last_probe_status);
        host["last_probe_age_seconds"] =
            std::chrono::duration<double>(now - view->last_probe_finished).count();
      }
      if (!view->last_probe_failure.empty()) host["last_probe_failure"] = view->last_probe_failure;
      if (view->status && status.state == agent::HostState::kReady) {
        host["session_age_seconds"] = std::chrono::duration<double>(now - status.since).count();
      }
      if (view->snapshot) host["processes"] = view->snapshot->processes.size();
      boost::json::object labels;
      for (const auto& [name, value] : view->spec.labels) labels[name] = value;
      host["labels"] = std::move(labels);
      hosts.push_back(std::move(host));
    }
    boost::json::object doc{{"status", "ok"},
                            {"data", boost::json::object{{"hosts", std::move(hosts)}}}};
    return boost::json::serialize(doc) + "\n";
  }

  std::string config_path_;
  config::Inventory inventory_;  // read and replaced on control_ only (after start-up)
  std::string listen_;
  asio::io_context io_;
  // Created with the App, before any io thread runs: Boost 1.81 lets two threads that create an
  // io_context's first signal_set at the same moment both build its signal service, and the one
  // it discards unregisters the process-wide signal pipe from the reactor, so no signal is ever
  // delivered again (SIGTERM was lost about 1 run in 20 when the stop and reload services
  // started on different threads).
  asio::signal_set stop_signals_{io_, SIGINT, SIGTERM};
  asio::signal_set hangup_{io_, SIGHUP};
  asio::strand<asio::io_context::executor_type> control_;
  SteadyClock clock_;
  DefaultRandomSource random_;
  registry::Bus<Event> bus_;
  registry::Registry<std::string, HostHandle> agents_{registry::Keys::kUnique};
  FleetState state_;
  registry::Subscription<Event> events_;
  std::shared_ptr<agent::AsyncSemaphore> handshakes_;
  const std::size_t handshake_limit_ = inventory_.collector.max_concurrent_handshakes;
  Histogram loop_lag_{LoopLagBuckets()};
  std::atomic<double> last_scrape_seconds_{-1};  // < 0: no scrape yet
  std::mutex known_hosts_mu_;
  std::map<std::string, std::shared_ptr<agent::KnownHostsFile>> known_hosts_;  // guarded
  DynamicSupervisor hosts_;
  TopSupervisor top_;
  std::optional<HttpServer> http_;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> agent_generations_{0};
  std::atomic<bool> reload_ok_{true};
  std::atomic<std::size_t> event_streams_{0};
  AsyncEvent streams_stop_;
};

}  // namespace

int RunCollector(const RunOptions& options) {
  auto [loaded, problems] = LoadConfig(options.config_path, "config_invalid");
  if (!loaded) return 1;
  std::string listen =
      options.listen_override.empty() ? loaded->inventory.collector.listen : options.listen_override;
  App app(options.config_path, std::move(*loaded), std::move(listen));
  return app.Run();
}

}  // namespace fleetps::collector
