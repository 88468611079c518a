#include "fleetps/collector/app/app.hpp"
#include "fleetps/config/secret_file.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "fleetps/agent/algorithms.hpp"
#include "fleetps/agent/known_hosts.hpp"
#include "fleetps/agent/shell_totals.hpp"
#include "fleetps/collector/api/adhoc.hpp"
#include "fleetps/collector/api/http_api.hpp"
#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/app/load_options.hpp"
#include "fleetps/collector/app/status_throttle.hpp"
#include "fleetps/collector/app/web_security.hpp"
#include "fleetps/collector/cluster/etcd_settings.hpp"
#include "fleetps/collector/cluster/static_membership.hpp"
#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/http/basic_auth.hpp"
#include "fleetps/collector/http/http_client.hpp"
#include "fleetps/collector/http/http_server.hpp"
#include "fleetps/collector/supervision/supervisor.hpp"
#include "fleetps/collector/supervision/task_group.hpp"
#include "fleetps/collector/telemetry/build_info.hpp"
#include "fleetps/collector/telemetry/log.hpp"
#include "fleetps/collector/telemetry/loop_monitor.hpp"
#include "fleetps/collector/telemetry/process_stats.hpp"
#include "fleetps/config/diff.hpp"
#include "fleetps/config/load.hpp"
#include "fleetps/registry/bus.hpp"
#include "fleetps/registry/registry.hpp"
#include "service_notify.hpp"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A host's running agent as the API's ad hoc work sees it; what the registry maps a host name
// to while its agent runs.
class RunningAgent final : public AdhocAgent {
 public:
  RunningAgent(std::shared_ptr<agent::HostAgent> agent, asio::any_io_executor strand)
      : agent_(std::move(agent)), strand_(std::move(strand)) {}
  asio::any_io_executor Strand() const override { return strand_; }
  asio::awaitable<agent::ProbeResult> RunAdhoc(agent::ProbeKind kind) override {
    return agent_->RunAdhoc(kind);
  }
  asio::awaitable<agent::OpenFilesOutcome> RunOpenFiles(std::int64_t pid) override {
    return agent_->RunOpenFiles(pid);
  }

 private:
  std::shared_ptr<agent::HostAgent> agent_;
  asio::any_io_executor strand_;
};

HttpServerOptions HttpOptions(const config::HttpSettings& http) {
  HttpServerOptions options;
  options.max_connections = http.max_connections;
  options.max_connections_per_client = http.max_connections_per_client;
  options.header_timeout = http.header_timeout;
  options.body_timeout = http.body_timeout;
  options.idle_timeout = http.idle_timeout;
  options.write_timeout = http.write_timeout;
  options.max_request_body = static_cast<std::size_t>(http.max_request_body);
  return options;
}

constexpr auto kHostShutdownDeadline = 8s;  // inside the top-level 10 s
constexpr auto kReloadCoalesce = 250ms;
// A peer refusing the failsafe question is logged at most this often (per peer).
constexpr auto kPeerRefusalLogPeriod = 60s;
// fleetps_cluster_peer_errors_total's reasons, indexed by PeerError.
enum class PeerError : std::size_t { kAuth, kUnreachable, kBadAnswer };
constexpr std::array<std::string_view, 3> kPeerErrorReasons{"auth", "unreachable", "bad_answer"};
constexpr std::size_t kEventQueue = 1 << 16;

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
  GroupingRules grouping;
  WebSecurity web;  // from collector.web_config_file
  // cluster.peer_http with its password read: what this member sends its peers on its own behalf.
  HttpClientOptions peer;
};

// cluster.peer_http as client options, the password the first line of its password_file; the
// problem (never the password) when that cannot be read.
boost::system::result<HttpClientOptions, std::string> PeerClientOptions(
    const config::ClusterPeerHttpSettings& peer) {
  HttpClientOptions options;
  options.ca_file = peer.ca_file;
  if (peer.username.empty()) return options;
  auto password = config::ReadSecretLine(peer.password_file);
  if (!password) {
    return boost::system::result<HttpClientOptions, std::string>(
        boost::system::in_place_error,
        "cannot read cluster.peer_http.basic_auth.password_file " + peer.password_file);
  }
  options.user = peer.username;
  options.password = std::move(*password);
  return options;
}

// Loads and validates everything `run` needs. On failure `config` is empty and `problems` holds
// one `file:line:col: message` line per problem, each also logged under `event`.
struct ConfigLoad {
  std::optional<LoadedConfig> config;
  std::string problems;
};

ConfigLoad LoadConfig(const std::string& path, std::string_view event,
                      const std::shared_ptr<BcryptVerifier>& bcrypt) {
  ConfigLoad out;
  auto fail = [&](const std::string& line) {
    Log(LogLevel::kError, event, {{"diagnostic", line}});
    out.problems += line + "\n";
  };
  config::LoadResult loaded = config::LoadInventoryFile(path, CollectorLoadOptions());
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) fail(d.ToString());
    return out;
  }
  auto grouping = MakeGroupingRules(*loaded.inventory);
  if (!grouping) {
    for (const auto& e : grouping.error()) fail(path + ": " + e);
    return out;
  }
  auto web = LoadWebSecurity(loaded.inventory->collector.web_config_file, bcrypt);
  if (!web) {
    for (const auto& line : web.error()) fail(line);
    return out;
  }
  auto peer = PeerClientOptions(loaded.inventory->cluster.peer_http);
  if (!peer) {
    fail(path + ": " + peer.error());
    return out;
  }
  out.config = LoadedConfig{std::move(*loaded.inventory), std::move(*grouping), std::move(*web),
                            std::move(*peer)};
  return out;
}

// The API's admission limits from the `collector` section.
HttpApiOptions ApiOptions(const config::CollectorSettings& collector, const ClusterPort* cluster) {
  HttpApiOptions options;
  options.cluster = cluster;
  options.fresh.per_client = {static_cast<double>(collector.fresh_rate_per_client),
                              static_cast<double>(collector.fresh_burst_per_client)};
  options.fresh.total = {static_cast<double>(collector.fresh_rate),
                         static_cast<double>(collector.fresh_burst)};
  options.work.threads = collector.api_threads;
  options.work.max_pending = collector.api_max_pending;
  return options;
}

// `cluster.membership: etcd`: what RunCollector resolved for the engine and the coordinator.
struct EtcdWiring {
  cluster::EtcdOptions etcd;
  cluster::OwnershipOptions ownership;
};

// The cluster keys whose change an etcd member's reload cannot apply (everything but the peer
// credentials and the static list, which etcd membership does not read), comma-separated.
std::string EtcdRestartOnlyChanges(const config::ClusterSettings& now,
                                   const config::ClusterSettings& loaded) {
  std::string out;
  const auto note = [&out](bool changed, std::string_view key) {
    if (!changed) return;
    if (!out.empty()) out += ", ";
    out.append("cluster.").append(key);
  };
  note(now.buckets != loaded.buckets, "buckets");
  note(now.zone_label != loaded.zone_label, "zone_label");
  note(now.min_members != loaded.min_members ||
           now.min_members_timeout != loaded.min_members_timeout,
       "min_members");
  note(now.max_hosts != loaded.max_hosts, "max_hosts");
  note(now.standby != loaded.standby, "standby");
  note(now.failsafe != loaded.failsafe, "failsafe");
  note(now.drain_timeout != loaded.drain_timeout, "drain_timeout");
  note(now.settle != loaded.settle, "settle");
  note(now.handover_warm_timeout != loaded.handover_warm_timeout, "handover_warm_timeout");
  note(now.fence_margin != loaded.fence_margin, "fence_margin");
  note(now.etcd != loaded.etcd, "etcd");
  return out;
}

// The wiring: agents under a host supervisor, the event pump into the fleet state, the HTTP
// server over the API's handlers (App is their FleetPort and ControlPort), reload on SIGHUP.
class App final : public FleetPort, public ControlPort, public ClusterPort {
 public:
  // `member`: this process's name in a static cluster (checked against the list), else empty.
  // `etcd`: set with cluster.membership etcd; then the engine decides what this member owns
  // (nothing until it has registered and claimed).
  App(std::string config_path, LoadedConfig loaded, std::string listen,
      std::shared_ptr<BcryptVerifier> bcrypt, std::string member,
      std::optional<EtcdWiring> etcd = std::nullopt)
      : config_path_(std::move(config_path)),
        inventory_(std::move(loaded.inventory)),
        member_(std::move(member)),
        view_(inventory_.cluster.membership == config::ClusterMembership::kStatic
                  ? cluster::BuildStaticView(inventory_.cluster, inventory_.hosts, member_,
                                             BuildVersion())
                  : nullptr),
        all_hosts_(std::make_shared<const std::vector<config::HostSpec>>(inventory_.hosts)),
        owned_hosts_(etcd    ? std::vector<config::HostSpec>{}
                     : view_ ? cluster::OwnedHosts(*view_, inventory_.hosts)
                             : inventory_.hosts),
        bcrypt_(std::move(bcrypt)),
        web_(std::move(loaded.web)),
        peer_client_(std::move(loaded.peer)),
        listen_(std::move(listen)),
        io_(static_cast<int>(Threads())),
        control_(asio::make_strand(io_)),
        state_(std::move(loaded.grouping)),
        events_(bus_.Subscribe("*", kEventQueue).value()),
        handshakes_(std::make_shared<agent::AsyncSemaphore>(
            inventory_.collector.max_concurrent_handshakes)),
        hosts_(io_.get_executor(), HostSupervisorOptions(), clock_, random_, LogSupervisorEvent),
        top_(io_.get_executor(), TopSupervisorOptions{}, clock_, random_, LogSupervisorEvent),
        api_(*this, *this, bus_, ApiOptions(inventory_.collector, view_ || etcd ? this : nullptr)) {
    state_.SetHosts(owned_hosts_);
    if (etcd) StartEngine(std::move(*etcd));
  }

  int Run() {
    RaiseAndLogDescriptorLimit();
    // Opens the /proc/self files the self-metrics re-read, while descriptors are still free.
    (void)ReadProcessStats();
    // Every endpoint behind the web config's gate (basic auth, headers), read per request so
    // a reload applies to the next one.
    auto server = HttpServer::Bind(
        http_io_.get_executor(), listen_,
        [this](HttpRequest request, HttpPeer peer) {
          return PassGate(
              Web().gate, std::move(request),
              [this, peer](HttpRequest admitted) { return api_.Handle(std::move(admitted), peer); },
              auth_failures_);
        },
        ServerOptions());
    if (!server) {
      Log(LogLevel::kError, "listen_failed",
          {{"listen", listen_}, {"error", server.error().message()}});
      return 1;
    }
    http_.emplace(std::move(*server));
    const std::string bound = http_->LocalEndpoint().address().to_string() + ":" +
                              std::to_string(http_->LocalEndpoint().port());
    std::vector<LogField> start_fields{{"version", std::string(BuildVersion())},
                                       {"config", config_path_},
                                       {"listen", bound},
                                       {"hosts", std::to_string(owned_hosts_.size())},
                                       {"threads", std::to_string(Threads())},
                                       {"tls", Web().tls ? "on" : "off"},
                                       {"basic_auth", Web().gate->auth ? "on" : "off"}};
    if (inventory_.cluster.Clustered()) {
      start_fields.emplace_back("inventory_hosts", std::to_string(inventory_.hosts.size()));
      start_fields.emplace_back("cluster", inventory_.cluster.name);
      start_fields.emplace_back("cluster_member", member_);
    }
    Log(LogLevel::kInfo, "start", start_fields);

    for (auto [id, start] :
         std::initializer_list<std::pair<const char*, asio::awaitable<void> (App::*)()>>{
             {"events", &App::EventsService},
             {"hosts", &App::HostsService},
             {"http", &App::HttpService},
             {"loop", &App::LoopService},
             {"reload", &App::ReloadService}}) {
      (void)top_.StartService(
          {id, [this, start = start] { return (this->*start)(); }, RestartType::kPermanent});
    }
    if (engine_) {
      // Run() may be called once: a drained member stays up, owning nothing.
      (void)top_.StartService(
          {"cluster", [this] { return ClusterService(); }, RestartType::kTemporary});
    }
    int exit_code = 1;
    std::string failure;  // what the top-level supervisor threw, if it did
    asio::co_spawn(io_, engine_ ? RunDrainingOnStop() : RunWithStopSignals(top_, stop_signals_),
                   [&](std::exception_ptr error, int code) {
                     exit_code = error ? 1 : code;
                     if (error) failure = DescribeException(error);
                     io_.stop();
                   });
    auto http_work = asio::make_work_guard(http_io_);
    std::jthread http_thread([this] { http_io_.run(); });
    std::vector<std::jthread> workers;
    for (unsigned i = 1; i < Threads(); ++i) workers.emplace_back([this] { io_.run(); });
    io_.run();
    workers.clear();
    http_work.reset();
    http_io_.stop();  // connections still open (keep-alive, streams) end with it
    http_thread.join();
    const auto report = top_.LastShutdown();
    std::vector<LogField> fields{{"exit_code", std::to_string(exit_code)},
                                 {"unfinished", Join(report.unfinished)}};
    if (!failure.empty()) fields.emplace_back("error", failure);
    Log(exit_code == 0 ? LogLevel::kInfo : LogLevel::kError, "stop", fields);
    return exit_code;
  }

 private:
  // The STATUS= line systemd shows while the collector runs.
  std::string ServingStatus() const {
    return "serving " + std::to_string(owned_hosts_.size()) + " hosts";
  }

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
            {{"child", event.id},
             {"retry_in_s",
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(event.delay).count())}});
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
    NotifyReady(ServingStatus());
    AsyncEvent never;
    (void)co_await never.Wait();  // until cancelled by shutdown
    co_await asio::this_coro::reset_cancellation_state();
    ready_ = false;
    NotifyStopping();
    const ShutdownReport report = co_await hosts_.Shutdown(kHostShutdownDeadline);
    Log(report.Clean() ? LogLevel::kInfo : LogLevel::kWarn, "hosts_stopped",
        {{"unfinished", Join(report.unfinished)}});
  }

  asio::awaitable<void> StartHosts() {
    for (const config::HostSpec& spec : owned_hosts_) StartHost(spec);
    co_return;
  }

  void StartHost(const config::HostSpec& spec) {
    auto started =
        hosts_.StartChild({spec.name,
                           [this, spec, events = inventory_.collector.max_host_events_per_minute] {
                             return RunHost(spec, events);
                           },
                           RestartType::kPermanent});
    if (!started && started.error() != SupervisorErrc::kAlreadyStarted) {
      Log(LogLevel::kError, "host_start_failed",
          {{"host", spec.name}, {"error", started.error().message()}});
    }
  }

  // One host's child: runs on the strand the supervisor gave it.
  asio::awaitable<void> RunHost(config::HostSpec spec, unsigned events_per_minute) {
    auto strand = co_await asio::this_coro::executor;
    const std::uint64_t generation = ++agent_generations_;
    auto throttle = std::make_shared<StatusThrottle>(
        strand, events_per_minute,
        [this, generation](const agent::HostStatus& s, std::uint64_t coalesced) {
          bus_.Publish("host/" + s.host, FleetEvent{generation, s, coalesced});
        });
    // The agent's last status (stopped, crashed) reaches the fleet state even over budget.
    struct FlushOnExit {
      std::shared_ptr<StatusThrottle> throttle;
      ~FlushOnExit() { throttle->Flush(); }
    } flush_on_exit{throttle};
    agent::AgentSink sink{
        .on_status = [throttle](const agent::HostStatus& s) { throttle->Offer(s); },
        .on_result =
            [this, generation](const agent::ProbeResult& r) {
              bus_.Publish("host/" + r.host, FleetEvent{generation, r});
            }};
    agent::AgentOptions options;
    options.handshake_limiter = handshakes_;
    options.known_hosts = KnownHostsFor(spec.known_hosts);
    if (engine_) {
      options.probe_gate = [this, host = spec.name] { return ProbePermit(host); };
      std::lock_guard lock(gate_mu_);
      // Received by a claim (failover): probe as soon as connected, not at the host's phase.
      options.probe_when_ready = owned_names_.contains(spec.name);
    }
    auto host =
        std::make_shared<agent::HostAgent>(strand, spec, std::move(sink), std::move(options));
    auto registration = agents_.Register(spec.name, std::make_shared<RunningAgent>(host, strand));
    if (!registration) throw std::logic_error("host registered twice: " + spec.name);
    if (engine_) {
      std::lock_guard lock(gate_mu_);
      warm_agents_[spec.name] = {host, strand};
    }
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
        state_.OnStatus(*status, event->generation, event->coalesced);
        if (engine_) {
          std::lock_guard lock(gate_mu_);
          last_status_[status->host] = {*status, event->generation};
        }
        LogStatus(*status);
        if (status->last_reason == agent::Errc::kFdLimit) LogDescriptorExhaustion();
      } else if (const auto* probe = std::get_if<agent::ProbeResult>(&event->payload)) {
        const auto& result = *probe;
        state_.OnResult(result, event->generation);
        // A tick on a host that is not ready is not a probe (epoch 0): its host_state line
        // already told why, and one line per interval per down host would flood the log.
        // Nor is a skipped tick (the probe before it still running, or the cluster's probe gate
        // closed: a host kept warm for a handover, a fenced member); metrics count those.
        if (result.status != agent::ProbeStatus::kOk &&
            result.status != agent::ProbeStatus::kSkipped && result.session_epoch != 0) {
          Log(LogLevel::kWarn, "probe_failed",
              {{"host", result.host},
               {"status", agent::ProbeStatusName(result.status)},
               {"reason", agent::ReasonName(result.reason)}});
        }
      }
    }
  }

  // Out of descriptors is the collector's problem, not the hosts': one line a minute at most,
  // with the figures and what to change (each host's host_state line names the reason).
  void LogDescriptorExhaustion() {
    ++fd_limit_failures_;
    const auto now = std::chrono::steady_clock::now();
    if (fd_limit_logged_ != std::chrono::steady_clock::time_point{} &&
        now - fd_limit_logged_ < std::chrono::minutes(1)) {
      return;
    }
    fd_limit_logged_ = now;
    const auto stats = ReadProcessStats();
    rlimit limit{};
    const bool have_limit = getrlimit(RLIMIT_NOFILE, &limit) == 0;
    Log(LogLevel::kError, "fd_limit",
        {{"failures", std::to_string(std::exchange(fd_limit_failures_, 0))},
         {"open_fds", stats ? std::to_string(static_cast<std::uint64_t>(stats->open_fds)) : ""},
         {"soft_limit", have_limit ? std::to_string(limit.rlim_cur) : ""},
         {"hard_limit", have_limit ? std::to_string(limit.rlim_max) : ""},
         {"needed", std::to_string(DescriptorsNeeded())},
         {"detail", "connections fail for lack of file descriptors; raise the limit to at least " +
                        std::to_string(DescriptorsNeeded()) +
                        " (LimitNOFILE= in the systemd unit, or ulimit -n before fleetps run)"}});
  }

  // About one descriptor per host session, one per HTTP connection, and a margin for the
  // listener, logs, known_hosts and /proc files.
  std::uint64_t DescriptorsNeeded() const {
    constexpr std::uint64_t kMargin = 64;
    return owned_hosts_.size() + inventory_.collector.http.max_connections + kMargin;
  }

  // Raises the soft descriptor limit to the hard one and says so; warns when even the hard limit
  // is short of what the inventory needs.
  void RaiseAndLogDescriptorLimit() const {
    const auto limit = RaiseDescriptorLimit();
    if (!limit) return;
    Log(LogLevel::kInfo, "fd_limit_raised",
        {{"soft_limit", std::to_string(limit->soft)},
         {"hard_limit", std::to_string(limit->hard)},
         {"soft_limit_was", std::to_string(limit->soft_before)}});
    const std::uint64_t needed = DescriptorsNeeded();
    if (limit->hard < needed) {
      Log(LogLevel::kWarn, "fd_limit_low",
          {{"hard_limit", std::to_string(limit->hard)},
           {"needed", std::to_string(needed)},
           {"hosts", std::to_string(owned_hosts_.size())},
           {"detail", "the hard descriptor limit is below what " +
                          std::to_string(owned_hosts_.size()) +
                          " hosts need; set LimitNOFILE=" + std::to_string(needed) +
                          " in the systemd unit, or ulimit -n " + std::to_string(needed) +
                          " before fleetps run, or some hosts will fail with fd_limit"}});
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
    if (status.state == agent::HostState::kReady && !weak.empty())
      fields.emplace_back("weak", weak);
    // probe_channel: auto gave up the host's shell (the line of the moment it did, and later).
    if (!status.channel_fallback.empty()) {
      fields.emplace_back("channel", agent::ChannelModeName(status.channel));
      fields.emplace_back("channel_fallback", status.channel_fallback);
    }
    Log(failing ? LogLevel::kWarn : LogLevel::kInfo, "host_state", fields);
  }

  // Event streams end when the HTTP service stops, so shutdown never waits on a client.
  asio::awaitable<void> HttpService() {
    // Accepts and serves on the HTTP thread: a scrape never queues behind the agents' work on
    // io_ (a fresh=1 fan-out makes a burst of it). Cancelling this cancels the accept loop.
    co_await asio::co_spawn(http_io_, http_->Run(), asio::use_awaitable);
    api_.StopStreams();
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
        // Nobody waits for a SIGHUP reload: what it throws is recorded, not lost.
        asio::co_spawn(
            executor, [this, burst] { return ReloadAfterQuiet(burst); },
            [](std::exception_ptr error) {
              if (error) RecordInternalException("reload", error);
            });
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
    (void)co_await asio::co_spawn(control_, ApplyConfigFile("sighup"), asio::use_awaitable);
  }

  // Applies a new inventory as a diff. Runs on control_. Returns a one-line summary, or the
  // diagnostics when the file is invalid (the running config stays).
  asio::awaitable<ReloadOutcome> ApplyConfigFile(std::string origin) {
    NotifyReloading();
    // Ends systemd's reloading state however the reload ends (a throw is a bug, but still).
    struct ReloadDone {
      const App& app;
      ~ReloadDone() { NotifyReady(app.ServingStatus()); }
    } reload_done{*this};
    auto [loaded, problems] = LoadConfig(config_path_, "config_reload_failed", bcrypt_);
    if (!loaded) {
      reload_ok_ = false;
      bus_.Publish("config", FleetEvent{0, ConfigReloadEvent{false, origin, "invalid config"}});
      co_return ReloadOutcome{false, problems};
    }
    const config::InventoryDiff whole = config::DiffInventories(inventory_, loaded->inventory);
    if (whole.collector_changed) {
      Log(LogLevel::kWarn, "config_reload_partial",
          {{"detail", "changes to the collector section take effect after a restart"}});
    }
    if (loaded->inventory.cluster.membership != inventory_.cluster.membership ||
        loaded->inventory.cluster.name != inventory_.cluster.name) {
      Log(LogLevel::kWarn, "config_reload_partial",
          {{"detail",
            "changes to cluster.membership and cluster.name take effect after a "
            "restart"}});
      loaded->inventory.cluster = inventory_.cluster;
    } else if (engine_) {
      // The ownership engine keeps the settings it started with; only the peer credentials
      // are read per call. Say which changes wait for a restart instead of showing new values
      // that nothing applies.
      const std::string waiting =
          EtcdRestartOnlyChanges(inventory_.cluster, loaded->inventory.cluster);
      if (!waiting.empty()) {
        Log(LogLevel::kWarn, "config_reload_partial",
            {{"detail",
              "with membership etcd, changes to " + waiting + " take effect after a restart"}});
        config::ClusterPeerHttpSettings peer_http = loaded->inventory.cluster.peer_http;
        loaded->inventory.cluster = inventory_.cluster;
        loaded->inventory.cluster.peer_http = std::move(peer_http);
      }
    }
    // The hosts this member runs before and after: the whole inventory when not clustered,
    // else what the (new) member list assigns to it. Their diff is what the agents see.
    std::shared_ptr<const cluster::ClusterView> new_view;
    std::vector<config::HostSpec> new_owned;
    if (engine_) {
      new_owned = RunningHosts(loaded->inventory.hosts);
      asio::post(engine_strand_, [this, names = HostNames(loaded->inventory.hosts),
                                  sha = cluster::InventorySha256(loaded->inventory.hosts)] {
        engine_->SetInventory(names, sha);
      });
    } else if (loaded->inventory.cluster.Clustered()) {
      new_view = cluster::BuildStaticView(loaded->inventory.cluster, loaded->inventory.hosts,
                                          member_, BuildVersion());
      new_owned = cluster::OwnedHosts(*new_view, loaded->inventory.hosts);
      LogMemberChanges(*view_, *new_view);
    } else {
      new_owned = loaded->inventory.hosts;
    }
    {
      std::lock_guard lock(cluster_mu_);
      if (new_view) view_ = std::move(new_view);
      all_hosts_ = std::make_shared<const std::vector<config::HostSpec>>(loaded->inventory.hosts);
      cluster_metrics_ = ComputeClusterMetrics(view_, all_hosts_);
    }
    inventory_ = std::move(loaded->inventory);
    reload_endpoint_ = inventory_.collector.enable_reload_endpoint;
    {
      // New connections and requests use it; open connections keep their TLS session.
      std::lock_guard lock(web_mu_);
      web_ = std::move(loaded->web);
      peer_client_ = std::move(loaded->peer);
    }
    if (whole.http_changed && http_) http_->SetOptions(ServerOptions());
    std::optional<GroupingRules> grouping;
    if (whole.process_names_changed) grouping = std::move(loaded->grouping);
    const config::InventoryDiff diff = co_await ApplyRunningHosts(std::move(new_owned), grouping);
    reload_ok_ = true;
    const std::string summary = "added=" + std::to_string(diff.added.size()) +
                                " removed=" + std::to_string(diff.removed.size()) +
                                " changed=" + std::to_string(diff.changed.size()) +
                                " unchanged=" + std::to_string(diff.unchanged.size());
    Log(LogLevel::kInfo, "config_reloaded",
        {{"origin", origin},
         {"added", Join(diff.added)},
         {"removed", Join(diff.removed)},
         {"changed", Join(diff.changed)},
         {"unchanged", std::to_string(diff.unchanged.size())},
         {"tls", Web().tls ? "on" : "off"},
         {"basic_auth", Web().gate->auth ? "on" : "off"}});
    bus_.Publish("config", FleetEvent{0, ConfigReloadEvent{true, origin, summary}});
    co_return ReloadOutcome{true, summary + "\n"};
  }

  // Moves the agents from owned_hosts_ to `running` as a diff: removed and changed hosts' agents
  // stop, added and changed ones start, unchanged ones keep their sessions. The fleet state
  // gets the hosts this member owns (in etcd mode not the warm ones). On control_.
  asio::awaitable<config::InventoryDiff> ApplyRunningHosts(std::vector<config::HostSpec> running,
                                                           std::optional<GroupingRules>& grouping) {
    config::Inventory before;
    before.hosts = std::move(owned_hosts_);
    config::Inventory after;
    after.hosts = running;
    config::InventoryDiff diff = config::DiffInventories(before, after);
    diff.process_names_changed = grouping.has_value();
    owned_hosts_ = std::move(running);
    for (const std::string& name : diff.removed) (void)co_await hosts_.TerminateChild(name);
    for (const std::string& name : diff.changed) (void)co_await hosts_.TerminateChild(name);
    SetStateHosts();
    if (grouping) state_.SetGrouping(std::move(*grouping));
    for (const config::HostSpec& spec : owned_hosts_) StartHost(spec);  // added + changed
    co_return diff;
  }

  // The fleet state's hosts: the running ones, less those only warm (etcd). A host that became
  // owned while its agent ran warm gets that agent's last status (its state line is not
  // repeated). On control_.
  void SetStateHosts() {
    if (!engine_) {
      state_.SetHosts(owned_hosts_);
      return;
    }
    std::vector<config::HostSpec> owned;
    std::vector<std::pair<agent::HostStatus, std::uint64_t>> replay;
    {
      std::lock_guard lock(gate_mu_);
      for (const config::HostSpec& spec : owned_hosts_) {
        if (!owned_names_.contains(spec.name)) continue;
        owned.push_back(spec);
        if (auto it = last_status_.find(spec.name); it != last_status_.end()) {
          replay.push_back(it->second);
        }
      }
    }
    state_.SetHosts(owned);
    for (const auto& [status, generation] : replay) state_.OnStatus(status, generation, 0);
  }

  // ---- etcd membership ---------------------------------------------------------------------

  static std::vector<std::string> HostNames(const std::vector<config::HostSpec>& hosts) {
    std::vector<std::string> names;
    names.reserve(hosts.size());
    for (const auto& h : hosts) names.push_back(h.name);
    return names;
  }

  // The inventory hosts whose agents run here: owned or warm.
  std::vector<config::HostSpec> RunningHosts(const std::vector<config::HostSpec>& inventory) {
    std::vector<config::HostSpec> out;
    std::lock_guard lock(gate_mu_);
    for (const config::HostSpec& spec : inventory) {
      if (owned_names_.contains(spec.name) || warm_names_.contains(spec.name)) out.push_back(spec);
    }
    return out;
  }

  void StartEngine(EtcdWiring wiring) {
    auto coordinator = cluster::EtcdCoordinator::Create(engine_strand_, std::move(wiring.etcd));
    if (!coordinator) throw std::runtime_error(coordinator.error());  // checked by RunCollector
    coordinator_ = std::move(*coordinator);
    wiring.ownership.inventory_sha256 = cluster::InventorySha256(inventory_.hosts);
    failsafe_timeout_ = wiring.ownership.request_timeout;
    cluster::OwnershipHooks hooks;
    hooks.on_owned_hosts = [this](const std::vector<std::string>& owned) {
      // The probe gate follows at once, in the engine's order: a host handed over is refused
      // from now on, not when control_ gets to it (two ApplyOwnership runs may interleave).
      {
        std::lock_guard lock(gate_mu_);
        owned_names_ = std::set<std::string>(owned.begin(), owned.end());
      }
      asio::co_spawn(control_, ApplyOwnership(), [](std::exception_ptr error) {
        if (error) RecordInternalException("cluster_ownership", error);
      });
    };
    hooks.warm = [this](std::vector<std::string> hosts) { return Warm(std::move(hosts)); };
    hooks.quiesce = [this](std::vector<std::string> hosts) { return Quiesce(std::move(hosts)); };
    hooks.peer_store_down = [this](const cluster::MemberView& peer) {
      return PeerStoreDown(peer.advertise);
    };
    engine_ = std::make_unique<cluster::OwnershipEngine>(
        engine_strand_, *coordinator_, std::move(wiring.ownership),
        cluster::OwnershipClock::Steady(), std::move(hooks));
    engine_->SetInventory(HostNames(inventory_.hosts), cluster::InventorySha256(inventory_.hosts));
  }

  asio::awaitable<void> ClusterService() {
    co_await asio::co_spawn(engine_strand_, engine_->Run(), asio::use_awaitable);
    engine_done_ = true;
    Log(LogLevel::kInfo, "cluster_left",
        {{"cluster", inventory_.cluster.name}, {"member", member_}});
  }

  // SIGINT/SIGTERM: a graceful leave first (bounded by drain_timeout), then the usual stop. A
  // second signal stops at once.
  asio::awaitable<int> RunDrainingOnStop() {
    stop_signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      stop_signals_.async_wait([this](const boost::system::error_code& again, int) {
        if (!again) top_.RequestStop();
      });
      asio::co_spawn(control_, DrainThenStop("signal"), asio::detached);
    });
    const int code = co_await top_.Run();
    stop_signals_.cancel();
    co_return code;
  }

  asio::awaitable<void> DrainThenStop(std::string origin) {
    co_await StartDrain(std::move(origin));
    const auto until = std::chrono::steady_clock::now() + inventory_.cluster.drain_timeout + 2s;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!engine_done_ && std::chrono::steady_clock::now() < until) {
      timer.expires_after(100ms);
      (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    top_.RequestStop();
  }

  asio::awaitable<void> StartDrain(std::string origin) {
    Log(LogLevel::kInfo, "cluster_drain_requested",
        {{"cluster", inventory_.cluster.name}, {"member", member_}, {"origin", origin}});
    co_await asio::co_spawn(
        engine_strand_,
        [this]() -> asio::awaitable<void> {
          engine_->Drain();
          co_return;
        },
        asio::use_awaitable);
  }

  // The engine's owned set changed: agents follow through the reload diff. On control_.
  asio::awaitable<void> ApplyOwnership() {
    std::size_t owned = 0;
    {
      std::lock_guard lock(gate_mu_);
      owned = owned_names_.size();
      for (const std::string& name : owned_names_) {
        if (warm_names_.erase(name) == 0) continue;
        // Kept warm for this handover: its first probe now, not at its next tick.
        if (auto it = warm_agents_.find(name); it != warm_agents_.end()) {
          if (auto agent = it->second.first.lock()) {
            asio::post(it->second.second, [agent] { agent->ProbeSoon(); });
          }
        }
      }
    }
    std::optional<GroupingRules> unchanged;
    const config::InventoryDiff diff =
        co_await ApplyRunningHosts(RunningHosts(inventory_.hosts), unchanged);
    NotifyReady(ServingStatus());
    Log(LogLevel::kInfo, "cluster_owned_hosts",
        {{"owned", std::to_string(owned)},
         {"added", std::to_string(diff.added.size())},
         {"removed", std::to_string(diff.removed.size())}});
  }

  // hooks.warm: agents for `hosts` connect, authenticate and fingerprint, but the gate refuses
  // their probes until the hosts are owned. Completes when each has been ready or failed once.
  asio::awaitable<void> Warm(std::vector<std::string> hosts) {
    co_await asio::co_spawn(control_, StartWarm(hosts), asio::use_awaitable);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      bool pending = false;
      {
        std::lock_guard lock(gate_mu_);
        for (const std::string& host : hosts) {
          const auto it = last_status_.find(host);
          if (it == last_status_.end() || it->second.first.state == agent::HostState::kConnecting ||
              it->second.first.state == agent::HostState::kFingerprinting) {
            pending = true;
            break;
          }
        }
      }
      if (!pending) co_return;
      timer.expires_after(100ms);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // the engine gave up waiting (handover_warm_timeout)
    }
  }

  asio::awaitable<void> StartWarm(std::vector<std::string> hosts) {
    {
      std::lock_guard lock(gate_mu_);
      for (const std::string& host : hosts) {
        if (!owned_names_.contains(host)) warm_names_.insert(host);
      }
    }
    std::optional<GroupingRules> unchanged;
    (void)co_await ApplyRunningHosts(RunningHosts(inventory_.hosts), unchanged);
  }

  // hooks.quiesce: no new probe of `hosts` starts; completes when their in-flight probes have
  // ended, or after the longest probe_timeout (a probe cannot outlive it).
  asio::awaitable<void> Quiesce(std::vector<std::string> hosts) {
    {
      std::lock_guard lock(gate_mu_);
      for (const std::string& host : hosts) owned_names_.erase(host);
    }
    std::chrono::milliseconds longest{0};
    for (const auto& spec : inventory_.hosts) longest = std::max(longest, spec.probe_timeout);
    const auto until = std::chrono::steady_clock::now() + longest + 1s;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      bool busy = false;
      {
        std::lock_guard lock(gate_mu_);
        for (const std::string& host : hosts) {
          if (auto it = in_flight_.find(host); it != in_flight_.end() && it->second > 0) {
            busy = true;
            break;
          }
        }
      }
      if (!busy || std::chrono::steady_clock::now() >= until) co_return;
      timer.expires_after(50ms);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  }

  // hooks.peer_store_down: GET /api/v1/cluster/failsafe on the peer, within request_timeout,
  // with this member's own credentials (cluster.peer_http). Anything but a 200 saying
  // store_down is "the peer reaches etcd" (no failsafe): a failure is counted by reason, and a
  // refusal (401/403: the peer does not accept cluster.peer_http) is also logged, once a minute
  // per peer at most, since it silently keeps failsafe from ever engaging.
  asio::awaitable<bool> PeerStoreDown(std::string advertise) {
    // A named options object: GCC 12 destroys a braced temporary passed by value to a
    // coroutine inside co_await twice ("free(): invalid pointer" when etcd lost its quorum).
    HttpClientOptions client = PeerClient();
    std::string server = advertise;
    auto reply = co_await AsyncHttpGet(
        std::move(server), "/api/v1/cluster/failsafe",
        std::chrono::duration_cast<std::chrono::milliseconds>(failsafe_timeout_), std::move(client),
        4096);
    if (!reply) {
      ++peer_errors_[static_cast<std::size_t>(PeerError::kUnreachable)];
      co_return false;
    }
    if (reply->status == 401 || reply->status == 403) {
      ++peer_errors_[static_cast<std::size_t>(PeerError::kAuth)];
      LogPeerRefusal(advertise, reply->status);
      co_return false;
    }
    bool store_down = false;
    bool understood = false;
    if (reply->status == 200) {
      boost::system::error_code ec;
      const auto answer = boost::json::parse(reply->body, ec);
      if (!ec && answer.is_object()) {
        const auto* down = answer.as_object().if_contains("store_down");
        understood = down != nullptr && down->is_bool();
        store_down = understood && down->as_bool();
      }
    }
    if (!understood) ++peer_errors_[static_cast<std::size_t>(PeerError::kBadAnswer)];
    co_return store_down;
  }

  void LogPeerRefusal(const std::string& advertise, unsigned status) {
    const auto now = std::chrono::steady_clock::now();
    std::uint64_t suppressed = 0;
    {
      std::lock_guard lock(peer_log_mu_);
      auto [it, fresh] = peer_refusals_logged_.try_emplace(advertise, now, 0);
      if (!fresh && now - it->second.first < kPeerRefusalLogPeriod) {
        ++it->second.second;
        return;
      }
      suppressed = it->second.second;
      it->second = {now, 0};
    }
    Log(LogLevel::kError, "cluster_peer_refused",
        {{"cluster", inventory_.cluster.name},
         {"member", member_},
         {"peer", advertise},
         {"status", std::to_string(status)},
         {"request", "GET /api/v1/cluster/failsafe"},
         {"suppressed", std::to_string(suppressed)},
         {"detail",
          "the peer refuses this member's credentials (cluster.peer_http): failsafe cannot "
          "engage while etcd is down"}});
  }

  // The agents' probe gate: a permit while this member may probe `host` (it owns it and its
  // lease is fresh), held by the agent until the probe has ended; null otherwise. A probe
  // refused because the member is fenced is counted; one of a host only warm is not.
  std::shared_ptr<void> ProbePermit(const std::string& host) {
    std::lock_guard lock(gate_mu_);
    if (!owned_names_.contains(host)) return nullptr;
    if (!engine_->MayProbe(std::chrono::steady_clock::now())) {
      ++probes_fenced_;
      return nullptr;
    }
    ++in_flight_[host];
    return {static_cast<void*>(this), [this, host](void*) {
              std::lock_guard released(gate_mu_);
              if (auto it = in_flight_.find(host); it != in_flight_.end() && --it->second <= 0) {
                in_flight_.erase(it);
              }
            }};
  }

  // cluster_member_joined / cluster_member_left for a reload that changed the static list.
  void LogMemberChanges(const cluster::ClusterView& before, const cluster::ClusterView& after) {
    const cluster::MemberChanges changes = cluster::CompareMembers(before, after);
    for (const std::string& name : changes.joined) {
      const auto it = std::find_if(after.members.begin(), after.members.end(),
                                   [&](const auto& m) { return m.spec.name == name; });
      Log(LogLevel::kInfo, "cluster_member_joined",
          {{"cluster", after.name}, {"member", name}, {"advertise", it->advertise}});
    }
    for (const std::string& name : changes.left) {
      Log(LogLevel::kInfo, "cluster_member_left",
          {{"cluster", after.name}, {"member", name}, {"reason", "leave"}});
    }
    if (after.Self() == nullptr && before.Self() != nullptr) {
      Log(LogLevel::kWarn, "cluster_member_removed",
          {{"cluster", after.name},
           {"member", member_},
           {"detail", "this member is no longer in cluster.static.members: it probes nothing"}});
    }
  }

  // ---- the API's ports (called by the handlers only) ---------------------------------------

  std::shared_ptr<const cluster::ClusterView> View() const override {
    if (engine_) return engine_->View();
    std::lock_guard lock(cluster_mu_);
    return view_;
  }

  std::string Problem() const override {
    if (!engine_) return {};
    if (engine_done_) return "left the cluster (drained); restart to join again";
    if (engine_->Lease() == 0) {
      return "not registered with etcd, retrying (fenced until then): " +
             std::string(coordinator_->LastError().empty() ? "registering" : "last error: ") +
             coordinator_->LastError();
    }
    return {};
  }

  asio::awaitable<std::pair<unsigned, std::string>> Drain() override {
    if (!engine_) co_return std::pair<unsigned, std::string>{404, "not an etcd member\n"};
    co_await asio::co_spawn(control_, StartDrain("http"), asio::use_awaitable);
    co_return std::pair<unsigned, std::string>{
        202, "draining: hosts are handed over, then this member leaves the cluster\n"};
  }

  // The asker waits request_timeout for the answer: check within half of it.
  asio::awaitable<std::optional<bool>> StoreDown() override {
    if (!engine_) co_return std::nullopt;
    co_return co_await asio::co_spawn(engine_strand_, engine_->StoreDown(failsafe_timeout_ / 2),
                                      asio::use_awaitable);
  }

  std::shared_ptr<const std::vector<config::HostSpec>> InventoryHosts() const override {
    std::lock_guard lock(cluster_mu_);
    return all_hosts_;
  }

  // The fleetps_cluster_* self-metrics: in static mode desired = owned.
  // Computed once per view and inventory (start, reload): Self() runs for every /probe too.
  static std::shared_ptr<const ClusterSelfMetrics> ComputeClusterMetrics(
      const std::shared_ptr<const cluster::ClusterView>& view,
      const std::shared_ptr<const std::vector<config::HostSpec>>& hosts) {
    if (!view) return nullptr;
    const cluster::OwnershipCounts counts = cluster::CountOwnership(*view, *hosts);
    ClusterSelfMetrics out;
    out.name = view->name;
    std::map<std::string, std::uint64_t> by_state;
    for (const auto state : {cluster::MemberState::kParticipant, cluster::MemberState::kDraining,
                             cluster::MemberState::kViewer, cluster::MemberState::kFenced,
                             cluster::MemberState::kFailsafe}) {
      by_state[std::string(cluster::MemberStateName(state))] = 0;
    }
    for (std::size_t i = 0; i < view->members.size(); ++i) {
      const auto& m = view->members[i];
      ++by_state[std::string(cluster::MemberStateName(m.state))];
      out.members.push_back({m.spec.name, m.advertise, m.spec.zone, m.version});
      if (m.self) {
        out.owned_hosts = counts.hosts[i];
        out.owned_buckets = counts.buckets[i];
        out.desired_hosts = counts.hosts[i];
      }
    }
    out.members_by_state.assign(by_state.begin(), by_state.end());
    out.orphaned_hosts = counts.orphaned_hosts;
    return std::make_shared<const ClusterSelfMetrics>(std::move(out));
  }

  // The fleetps_cluster_* values of an etcd member: the view's members and counts as in static
  // mode, then the engine's figures and the coordinator's counters.
  ClusterSelfMetrics EtcdClusterMetrics() const {
    std::shared_ptr<const std::vector<config::HostSpec>> hosts;
    {
      std::lock_guard lock(cluster_mu_);
      hosts = all_hosts_;
    }
    ClusterSelfMetrics out = *ComputeClusterMetrics(engine_->View(), hosts);
    const cluster::OwnershipStats stats = engine_->Stats();
    out.owned_hosts = stats.owned_hosts;
    out.owned_buckets = stats.owned_buckets;
    out.desired_hosts = stats.desired_hosts;
    out.orphaned_hosts = stats.orphaned_hosts;
    ClusterSelfMetrics::Dynamic d;
    d.lease_ttl_seconds = stats.lease_ttl_seconds;
    d.lease_remaining_seconds = stats.lease_remaining_seconds;
    // Not registered yet (etcd unreachable at start) probes nothing either: fenced.
    d.fenced = stats.fenced || (engine_->Lease() == 0 && !engine_done_);
    d.failsafe = stats.failsafe;
    d.inventory_mismatch = stats.inventory_mismatch;
    d.revision = stats.revision;
    d.expected_members = stats.expected_members;
    d.probes_fenced = probes_fenced_.load();
    for (std::size_t r = 0; r < kPeerErrorReasons.size(); ++r) {
      d.peer_errors.push_back({std::string(kPeerErrorReasons[r]), peer_errors_[r].load()});
    }
    for (int dir = 0; dir < cluster::OwnershipStats::kDirections; ++dir) {
      for (int r = 0; r < cluster::OwnershipStats::kReasons; ++r) {
        d.handovers.push_back({dir == cluster::OwnershipStats::kIn ? "in" : "out",
                               std::string(cluster::HandoverReasonName(
                                   static_cast<cluster::OwnershipStats::Reason>(r))),
                               stats.handovers[dir][r]});
      }
    }
    for (int r = 0; r < cluster::OwnershipStats::kReasons; ++r) {
      HistogramSnapshot h;
      h.upper_bounds.assign(cluster::OwnershipStats::kHandoverBounds.begin(),
                            cluster::OwnershipStats::kHandoverBounds.end());
      h.cumulative.assign(stats.handover_buckets[r].begin(), stats.handover_buckets[r].end());
      h.cumulative.push_back(stats.handover_count[r]);
      h.sum = stats.handover_seconds_sum[r];
      d.handover_seconds.emplace_back(
          std::string(cluster::HandoverReasonName(static_cast<cluster::OwnershipStats::Reason>(r))),
          std::move(h));
    }
    const cluster::CoordinationCounters& counters = coordinator_->Counters();
    for (std::size_t op = 0; op < cluster::kCoordinationOps; ++op) {
      for (std::size_t result = 0; result < cluster::kCoordinationResults; ++result) {
        const auto o = static_cast<cluster::CoordinationOp>(op);
        const auto r = static_cast<cluster::CoordinationResult>(result);
        d.coordination_requests.push_back({std::string(cluster::CoordinationOpName(o)),
                                           std::string(cluster::CoordinationResultName(r)),
                                           counters.Count(o, r)});
      }
    }
    out.dynamic = std::move(d);
    return out;
  }

  const FleetState& State() const override { return state_; }

  SelfMetrics Self() override {
    SelfMetrics self;
    self.supervisor_restarts = hosts_.RestartsTotal() + top_.Services().RestartsTotal();
    self.bus_dropped = bus_.DroppedTotal();
    self.config_last_reload_successful = reload_ok_;
    self.handshake_limit = handshake_limit_;
    self.handshakes_in_flight =
        handshake_limit_ - std::min(handshake_limit_, handshakes_->Available());
    self.event_loop_lag = loop_lag_.Snapshot();
    self.process = ReadProcessStats();
    for (std::size_t i = 0; i < kAuthFailureCount; ++i) {
      const auto reason = static_cast<AuthFailure>(i);
      const std::uint64_t count = reason == AuthFailure::kTlsHandshake
                                      ? http_->TlsHandshakeFailures()
                                      : auth_failures_->by_reason[i].load();
      self.http_auth_failures.emplace_back(AuthFailureName(reason), count);
    }
    const ApiRefusals refused = api_.Refusals();
    self.api_refused = {refused.rate_limited_client, refused.rate_limited_collector,
                        refused.overloaded};
    self.shells = agent::ShellTotalsNow();
    for (const ChildInfo& child : hosts_.Children()) {
      if (child.state == ChildState::kQuarantined) self.quarantined_hosts.insert(child.id);
    }
    if (engine_) {
      self.cluster = EtcdClusterMetrics();
    } else {
      std::lock_guard lock(cluster_mu_);
      if (cluster_metrics_) self.cluster = *cluster_metrics_;
    }
    return self;
  }

  std::shared_ptr<AdhocAgent> Agent(std::string_view host) const override {
    return agents_.LookupOne(std::string(host)).value_or(nullptr);
  }

  // Not ready while fenced or a viewer (etcd): a load balancer must not count on it.
  bool Ready() const override {
    if (!ready_) return false;
    if (!engine_) return true;
    const cluster::MemberState state = engine_->State();
    return engine_->MayProbe(std::chrono::steady_clock::now()) &&
           state != cluster::MemberState::kViewer && state != cluster::MemberState::kFenced;
  }

  bool ReloadEndpointEnabled() const override { return reload_endpoint_; }

  // POST /-/reload. What a reload throws still reaches the client (500 from the HTTP server),
  // and is counted like a SIGHUP reload's.
  asio::awaitable<ReloadOutcome> Reload() override {
    try {
      co_return co_await asio::co_spawn(control_, ApplyConfigFile("http"), asio::use_awaitable);
    } catch (...) {
      RecordInternalException("reload", std::current_exception());
      throw;
    }
  }

  // cluster.peer_http as in force (ClusterPort): /probe forwards, the fan-out's CA, failsafe.
  HttpClientOptions PeerClient() const override {
    std::lock_guard lock(web_mu_);
    return peer_client_;
  }

  // The web config in force; the HTTP threads read it per connection and request.
  WebSecurity Web() const {
    std::lock_guard lock(web_mu_);
    return web_;
  }

  // The server's options from collector.http, with the web config's TLS looked up per connection.
  HttpServerOptions ServerOptions() {
    HttpServerOptions options = HttpOptions(inventory_.collector.http);
    options.tls = [this] { return Web().tls; };
    return options;
  }

  std::string config_path_;
  config::Inventory inventory_;  // read and replaced on control_ only (after start-up)
  std::string member_;           // this member's name; empty when not clustered
  mutable std::mutex cluster_mu_;
  std::shared_ptr<const cluster::ClusterView> view_;  // guarded; null when not clustered
  std::shared_ptr<const std::vector<config::HostSpec>> all_hosts_;  // guarded: the inventory's
  std::vector<config::HostSpec> owned_hosts_;  // the hosts this member runs (control_ only)
  std::shared_ptr<const ClusterSelfMetrics> cluster_metrics_ =  // guarded; null unclustered
      ComputeClusterMetrics(view_, all_hosts_);
  std::shared_ptr<BcryptVerifier> bcrypt_;  // shared by the authenticators of every reload
  mutable std::mutex web_mu_;
  WebSecurity web_;                // guarded by web_mu_
  HttpClientOptions peer_client_;  // guarded by web_mu_: cluster.peer_http, password read
  std::shared_ptr<AuthFailureCounts> auth_failures_ = std::make_shared<AuthFailureCounts>();
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
  FleetBus bus_;
  registry::Registry<std::string, std::shared_ptr<AdhocAgent>> agents_{registry::Keys::kUnique};
  FleetState state_;
  registry::Subscription<FleetEvent> events_;
  std::shared_ptr<agent::AsyncSemaphore> handshakes_;
  const std::size_t handshake_limit_ = inventory_.collector.max_concurrent_handshakes;
  Histogram loop_lag_{LoopLagBuckets()};
  std::mutex known_hosts_mu_;
  std::map<std::string, std::shared_ptr<agent::KnownHostsFile>> known_hosts_;  // guarded
  DynamicSupervisor hosts_;
  TopSupervisor top_;
  // The HTTP server's own thread (started in Run): /metrics, /probe, /sd and the health checks
  // are answered there; API evaluation goes on to api_'s workers, agent work stays on io_.
  asio::io_context http_io_{1};
  std::optional<HttpServer> http_;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> agent_generations_{0};
  std::atomic<bool> reload_ok_{true};
  // LogDescriptorExhaustion's rate limit (EventsService only).
  std::chrono::steady_clock::time_point fd_limit_logged_{};
  std::uint64_t fd_limit_failures_ = 0;
  // inventory_'s collector.enable_reload_endpoint, for HTTP threads (inventory_ is control_'s).
  std::atomic<bool> reload_endpoint_{inventory_.collector.enable_reload_endpoint};
  // etcd membership (null otherwise). The engine and its coordinator run on engine_strand_.
  asio::strand<asio::io_context::executor_type> engine_strand_{asio::make_strand(io_)};
  std::unique_ptr<cluster::EtcdCoordinator> coordinator_;
  std::unique_ptr<cluster::OwnershipEngine> engine_;
  std::atomic<bool> engine_done_{false};                      // Run() returned (drained)
  std::chrono::steady_clock::duration failsafe_timeout_{2s};  // cluster.etcd.request_timeout
  mutable std::mutex gate_mu_;
  std::set<std::string> owned_names_;     // guarded: hosts the engine gives this member
  std::set<std::string> warm_names_;      // guarded: hosts warmed for a handover, not yet owned
  std::map<std::string, int> in_flight_;  // guarded: probes holding a permit, per host
  // guarded: each running host's last status and agent generation (replayed on ownership)
  std::map<std::string, std::pair<agent::HostStatus, std::uint64_t>> last_status_;
  std::atomic<std::uint64_t> probes_fenced_{0};
  // The failsafe question's failures, by PeerError (fleetps_cluster_peer_errors_total).
  std::array<std::atomic<std::uint64_t>, kPeerErrorReasons.size()> peer_errors_{};
  std::mutex peer_log_mu_;
  // guarded by peer_log_mu_: when each peer's refusal was last logged, and refusals since
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::uint64_t>>
      peer_refusals_logged_;
  // guarded: each running agent and its strand, for ProbeSoon when a warm host becomes owned
  std::map<std::string, std::pair<std::weak_ptr<agent::HostAgent>, asio::any_io_executor>>
      warm_agents_;
  HttpApi api_;  // last: its handlers use the members above
};

}  // namespace

namespace {

constexpr int kMallocTrimThreshold = 16 << 20;
constexpr int kMallocTopPad = 1 << 20;
constexpr int kMallocArenaMax = 2;

// glibc's defaults suit short programs: it trims the heap top after each probe's parse and
// faults it back in on the next (~10 page faults per probe), and it makes up to 8 arenas per
// core, each keeping its own freed probe buffers. An operator's GLIBC_TUNABLES for malloc win.
void TuneMalloc() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr &&
      std::string_view(tunables).find("glibc.malloc.") != std::string_view::npos) {
    return;
  }
  mallopt(M_TRIM_THRESHOLD, kMallocTrimThreshold);
  mallopt(M_TOP_PAD, kMallocTopPad);
  mallopt(M_ARENA_MAX, kMallocArenaMax);
}

}  // namespace

// `cluster.membership: etcd`: this member's name (--cluster-member, else the host name), the
// URL peers reach it at (--cluster-advertise, else http://LISTEN when LISTEN names an address),
// its weight, and the coordinator's options (password read from its file, never logged).
boost::system::result<EtcdWiring, std::string> EtcdWiringFor(const RunOptions& options,
                                                             const config::ClusterSettings& cluster,
                                                             const std::string& listen) {
  EtcdWiring wiring;
  wiring.ownership = cluster::OwnershipOptionsFor(cluster);
  std::string name = options.cluster_member;
  if (name.empty()) {
    std::array<char, 256> hostname{};
    if (gethostname(hostname.data(), hostname.size() - 1) != 0) hostname[0] = '\0';
    name = hostname.data();
  }
  if (auto problem = config::CheckClusterMemberName(name)) {
    return "member name \"" + name + "\": " + *problem + " (set --cluster-member)";
  }
  std::string advertise = options.cluster_advertise;
  if (advertise.empty()) {
    if (listen.empty() || listen.starts_with(':') || listen.starts_with("0.0.0.0") ||
        listen.starts_with("[::]")) {
      return std::string(
          "--cluster-advertise URL is needed: collector.listen names no address peers can "
          "reach");
    }
    advertise = "http://";
    advertise += listen;
  }
  wiring.ownership.self = {name, options.cluster_weight.value_or(1),
                           options.cluster_zone.value_or("")};
  wiring.ownership.advertise = advertise;
  wiring.ownership.version = std::string(BuildVersion());
  if (std::string rule = cluster::CheckTimingRule(wiring.ownership); !rule.empty()) return rule;
  auto etcd_options = cluster::EtcdOptionsFor(cluster);
  if (!etcd_options) return etcd_options.error();
  // Create checks the endpoints (http:// only for now); the App builds its own on its strand.
  asio::io_context probe_io;
  if (auto checked = cluster::EtcdCoordinator::Create(probe_io.get_executor(), *etcd_options);
      !checked) {
    return checked.error();
  }
  wiring.etcd = std::move(*etcd_options);
  return wiring;
}

int RunCollector(const RunOptions& options) {
  TuneMalloc();
  auto bcrypt = std::make_shared<BcryptVerifier>();
  auto [loaded, problems] = LoadConfig(options.config_path, "config_invalid", bcrypt);
  if (!loaded) return 1;
  std::string listen = options.listen_override.empty() ? loaded->inventory.collector.listen
                                                       : options.listen_override;
  std::string member;
  const config::ClusterSettings& cluster_settings = loaded->inventory.cluster;
  std::optional<EtcdWiring> etcd;
  if (cluster_settings.membership == config::ClusterMembership::kEtcd) {
    auto wiring = EtcdWiringFor(options, cluster_settings, listen);
    if (!wiring) {
      Log(LogLevel::kError, "cluster_invalid", {{"detail", wiring.error()}});
      return 1;
    }
    member = wiring->ownership.self.name;
    etcd = std::move(*wiring);
  } else if (cluster_settings.membership == config::ClusterMembership::kStatic) {
    std::array<char, 256> hostname{};
    if (gethostname(hostname.data(), hostname.size() - 1) != 0) hostname[0] = '\0';
    const cluster::ResolvedSelf self =
        cluster::ResolveStaticSelf(cluster_settings,
                                   {options.cluster_member, options.cluster_advertise,
                                    options.cluster_weight, options.cluster_zone},
                                   hostname.data());
    if (!self.error.empty()) {
      Log(LogLevel::kError, "cluster_invalid", {{"detail", self.error}});
      return 1;
    }
    member = self.name;
  } else if (!options.cluster_member.empty() || !options.cluster_advertise.empty()) {
    Log(LogLevel::kWarn, "cluster_flags_ignored",
        {{"detail",
          "--cluster-* flags and FLEETPS_CLUSTER_MEMBER need cluster.membership "
          "static or etcd in the inventory"}});
  }
  App app(options.config_path, std::move(*loaded), std::move(listen), std::move(bcrypt),
          std::move(member), std::move(etcd));
  return app.Run();
}

}  // namespace fleetps::collector
