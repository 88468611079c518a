#include "fleetps/collector/cli/cli.hpp"
#include "fleetps/config/secret_file.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include <boost/url/url.hpp>

#include "answer.hpp"
#include "fleetps/collector/api/query_api.hpp"
#include "fleetps/collector/app/app.hpp"
#include "fleetps/collector/app/load_options.hpp"
#include "fleetps/collector/cli/commands.hpp"
#include "fleetps/collector/cli/keyscan.hpp"
#include "fleetps/collector/cli/sudoers.hpp"
#include "fleetps/collector/cli/table.hpp"
#include "fleetps/collector/cluster/etcd_settings.hpp"
#include "fleetps/collector/http/http_client.hpp"
#include "fleetps/collector/query/selector.hpp"
#include "fleetps/collector/query/text.hpp"
#include "fleetps/collector/telemetry/build_info.hpp"
#include "fleetps/config/cluster.hpp"
#include "fleetps/config/load.hpp"
#include "fleetps/config/web_config.hpp"

namespace fleetps::collector {
namespace {

int Usage(std::ostream& err, std::string_view problem) {
  err << "fleetps: " << problem << "\n\n" << UsageText();
  return kExitUsage;
}

// Loads and validates only: opens no network connection.
int CheckConfig(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.size() != 1) return Usage(err, "check-config takes exactly one FILE");
  const std::string path(args[0]);
  const config::LoadResult loaded = config::LoadInventoryFile(path, CollectorLoadOptions());
  // Prints the diagnostics; true when one is an error. Warnings (weak algorithms...) are
  // printed but do not make a file invalid.
  const auto report = [&err](const std::string& file,
                             const std::vector<config::Diagnostic>& diagnostics) {
    for (const config::Diagnostic& diagnostic : diagnostics) err << diagnostic.ToString() << '\n';
    const auto errors = std::count_if(
        diagnostics.begin(), diagnostics.end(),
        [](const config::Diagnostic& d) { return d.severity == config::Severity::kError; });
    if (errors > 0)
      err << file << ": " << errors << (errors == 1 ? " problem" : " problems") << '\n';
    return errors > 0;
  };
  if (report(path, loaded.diagnostics)) return kExitInvalid;
  const config::Inventory& inventory = *loaded.inventory;
  if (inventory.cluster.membership == config::ClusterMembership::kEtcd) {
    // The loader checks the same rule with the line and column; this is the engine's own check
    // (`run` refuses what it refuses), so check-config and run cannot disagree.
    const std::string rule =
        cluster::CheckTimingRule(cluster::OwnershipOptionsFor(inventory.cluster));
    if (!rule.empty()) {
      err << path << ": cluster: " << rule << '\n' << path << ": 1 problem\n";
      return kExitInvalid;
    }
  }
  // The web config's form (certificates are read by `run`, on the collector's host).
  std::string web_summary;
  if (const std::string& web = inventory.collector.web_config_file; !web.empty()) {
    const config::WebConfigResult web_loaded = config::LoadWebConfigFile(web);
    if (report(web, web_loaded.diagnostics)) return kExitInvalid;
    const std::size_t users = web_loaded.config->basic_auth_users.size();
    web_summary = "; " + web + ": " + (web_loaded.config->tls ? "TLS" : "no TLS") + ", " +
                  (users == 0 ? std::string("no basic auth")
                              : "basic auth for " + std::to_string(users) +
                                    (users == 1 ? " user" : " users"));
  }
  // Peer credentials (cluster.peer_http), the password file named, never its content.
  if (const config::ClusterPeerHttpSettings& peer = inventory.cluster.peer_http;
      inventory.cluster.Clustered() && (!peer.username.empty() || !peer.ca_file.empty())) {
    web_summary += "; cluster.peer_http: ";
    web_summary += peer.username.empty() ? std::string("no basic auth")
                                         : "basic auth as " + peer.username + " (password from " +
                                               peer.password_file + ")";
    if (!peer.ca_file.empty()) web_summary += ", CA " + peer.ca_file;
  }
  out << path << ": ok, " << inventory.hosts.size()
      << (inventory.hosts.size() == 1 ? " host, " : " hosts, ") << inventory.process_names.size()
      << (inventory.process_names.size() == 1 ? " process group rule" : " process group rules")
      << web_summary << '\n';
  return kExitOk;
}

constexpr std::string_view kDefaultServer = "http://127.0.0.1:9732";

struct ClientFlags {
  std::string server = std::string(kDefaultServer);
  TableMode mode = TableMode::kTable;
  bool json = false;
  HttpClientOptions http;     // --ca-file, --user; the password is read by ReadPassword
  std::string password_file;  // --password-file
};

// The environment variable that may hold the --user's password (never a flag: argv is
// visible to every user of the machine).
constexpr const char* kPasswordEnv = "FLEETPS_PASSWORD";

// With --user, fills in the password: the first line of --password-file, else $FLEETPS_PASSWORD.
// The problem, for the user, when there is none.
std::optional<std::string> ReadPassword(ClientFlags& flags) {
  if (flags.http.user.empty()) {
    if (!flags.password_file.empty()) return "--password-file needs --user";
    return std::nullopt;
  }
  if (!flags.password_file.empty()) {
    auto password = config::ReadSecretLine(flags.password_file);
    if (!password) return "cannot read --password-file " + flags.password_file;
    flags.http.password = std::move(*password);
    return std::nullopt;
  }
  if (const char* password = std::getenv(kPasswordEnv)) {
    flags.http.password = password;
    return std::nullopt;
  }
  return std::string("--user needs a password: set ") + kPasswordEnv + " or pass --password-file";
}

// A command line the usage text has to be shown for.
struct UsageError {
  std::string message;  ///< `-o takes table, wide or json, got "x"`.
};

// Consumes a shared client flag at args[i] (and its value): true when args[i] was one, false
// when it is not a client flag, or the error in a client flag.
boost::system::result<bool, UsageError> ClientFlag(std::span<const std::string_view> args,
                                                   std::size_t& i, ClientFlags& flags) {
  const std::string_view arg = args[i];
  if (arg == "--server" || arg == "-o" || arg == "--output" || arg == "--ca-file" ||
      arg == "--user" || arg == "--password-file") {
    if (i + 1 >= args.size()) return UsageError{std::string(arg) + " needs a value"};
    const std::string_view value = args[++i];
    if (arg == "--server") {
      flags.server = std::string(value);
    } else if (arg == "--ca-file") {
      flags.http.ca_file = std::string(value);
    } else if (arg == "--user") {
      flags.http.user = std::string(value);
    } else if (arg == "--password-file") {
      flags.password_file = std::string(value);
    } else if (value == "table") {
      flags.mode = TableMode::kTable;
    } else if (value == "wide") {
      flags.mode = TableMode::kWide;
    } else if (value == "json") {
      flags.json = true;
    } else {
      return UsageError{"-o takes table, wide or json, got \"" + std::string(value) + "\""};
    }
    return true;
  }
  return false;
}

enum class AnswerKind { kProcesses, kHosts, kListening, kOpenFiles };

// An answer that reads as ok but came with another status than 200.
int UnexpectedStatus(const ClientFlags& flags, unsigned status, std::ostream& err) {
  err << "fleetps: unexpected answer from " << flags.server << " (HTTP " << status << ")\n";
  return kExitInvalid;
}

// A refusal that asks to come back later (429 rate limited, 503 busy with Retry-After): one
// line saying so and when, instead of the server's whole message.
bool ReportRetryLater(const HttpReply& reply, std::ostream& err) {
  const bool limited = reply.status == 429;
  if (!limited && !(reply.status == 503 && !reply.retry_after.empty())) return false;
  err << "fleetps: " << (limited ? "rate limited" : "server busy");
  if (!reply.retry_after.empty()) err << ", retry in " << TerminalSafe(reply.retry_after) << " s";
  err << '\n';
  return true;
}

// A refusal by the collector's web config (collector.web_config_file), which answers in plain
// text, not JSON: a 401 or 503 of basic auth, a 400 for http:// to its TLS port. What to do.
std::optional<int> RefusedByWebConfig(const ClientFlags& flags, const HttpReply& reply,
                                      std::ostream& err) {
  const unsigned status = reply.status;
  if (status == 400 && reply.body.starts_with("this port serves HTTPS")) {
    err << "fleetps: " << flags.server << ": " << reply.body;
    return kExitInvalid;
  }
  if (status == 401) {
    err << "fleetps: " << flags.server << " refused "
        << (flags.http.user.empty() ? "the request: it needs credentials (--user NAME, with the "
                                      "password in " +
                                          std::string(kPasswordEnv) + " or --password-file)"
                                    : "the credentials of user \"" + flags.http.user + "\"")
        << " (HTTP 401)\n";
    return kExitInvalid;
  }
  if (status == 503 && reply.body.starts_with("too many authentication attempts")) {
    err << "fleetps: " << flags.server << " is busy checking credentials (HTTP 503); try again\n";
    return kExitInvalid;
  }
  return std::nullopt;
}

int Fetch(ClientFlags flags, const std::string& target, std::string_view selector,
          AnswerKind answer, std::chrono::milliseconds timeout, std::ostream& out,
          std::ostream& err) {
  if (const auto problem = ReadPassword(flags)) return Usage(err, *problem);
  const auto reply = HttpGet(flags.server, target, timeout, flags.http);
  if (!reply) {
    err << "fleetps: " << reply.error().message << '\n';
    return kExitInvalid;
  }
  if (const auto refused = RefusedByWebConfig(flags, *reply, err)) return *refused;
  if (ReportRetryLater(*reply, err)) return kExitInvalid;
  TableOptions options;
  options.mode = flags.mode;
  options.selector = selector;
  Rendered rendered;
  if (flags.json) {
    rendered = RenderJson(reply->body);
  } else {
    switch (answer) {
      case AnswerKind::kProcesses:
        rendered = RenderProcessesTable(reply->body, options);
        break;
      case AnswerKind::kHosts:
        rendered = RenderHostsTable(reply->body, options);
        break;
      case AnswerKind::kListening:
        rendered = RenderListeningTable(reply->body, options);
        break;
      case AnswerKind::kOpenFiles:
        rendered = RenderOpenFilesTable(reply->body);
        break;
    }
  }
  out << rendered.out;
  err << rendered.err;
  if (!rendered.ok) return kExitInvalid;
  if (reply->status != 200) return UnexpectedStatus(flags, reply->status, err);
  return rendered.incomplete ? kExitIncomplete : kExitOk;
}

// `fleetps query SELECTOR ...`: the selector is checked locally first, then sent as a
// parameter; the server validates it again and runs only its fixed probe templates.
int Query(std::span<const std::string_view> args, std::ostream& out, std::ostream& err,
          bool listening = false) {
  const std::string_view command = listening ? "listening" : "query";
  ClientFlags flags;
  std::optional<std::string> selector;
  std::string sort, limit;
  bool fresh = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto client_flag = ClientFlag(args, i, flags);
    if (!client_flag) return Usage(err, client_flag.error().message);
    if (*client_flag) continue;
    if (args[i] == "--sort" || args[i] == "--limit") {
      if (i + 1 >= args.size()) return Usage(err, std::string(args[i]) + " needs a value");
      (args[i] == "--sort" ? sort : limit) = std::string(args[i + 1]);
      ++i;
    } else if (args[i] == "--fresh") {
      fresh = true;
    } else if (!selector && !(args[i].size() > 1 && args[i][0] == '-' && args[i][1] == '-')) {
      selector = std::string(args[i]);
    } else {
      return Usage(
          err, "unexpected argument \"" + std::string(args[i]) + "\" for " + std::string(command));
    }
  }
  if (!selector) selector = "{}";
  if (auto parsed = ParseSelector(*selector); !parsed) {
    err << "fleetps: bad selector: " << parsed.error().ToString() << '\n'
        << SelectorCaret(*selector, parsed.error().position);
    return kExitUsage;
  }
  boost::urls::url url(listening ? "/api/v1/listening" : "/api/v1/processes");
  url.params().append({"q", *selector});
  if (!sort.empty()) url.params().append({"sort", sort});
  if (!limit.empty()) url.params().append({"limit", limit});
  if (fresh) url.params().append({"fresh", "1"});
  const auto timeout =
      fresh ? std::chrono::milliseconds(70'000) : std::chrono::milliseconds(10'000);
  return Fetch(flags, std::string(url.encoded_target()), *selector,
               listening ? AnswerKind::kListening : AnswerKind::kProcesses, timeout, out, err);
}

int Hosts(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  ClientFlags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto client_flag = ClientFlag(args, i, flags);
    if (!client_flag) return Usage(err, client_flag.error().message);
    if (!*client_flag) {
      return Usage(err, "unexpected argument \"" + std::string(args[i]) + "\" for hosts");
    }
  }
  return Fetch(flags, "/api/v1/hosts", {}, AnswerKind::kHosts, std::chrono::milliseconds(10'000),
               out, err);
}

// `fleetps open-files HOST PID`: both are checked here and again by the server, which formats
// the pid itself before it reaches the fixed template.
int OpenFiles(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  ClientFlags flags;
  std::vector<std::string_view> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto client_flag = ClientFlag(args, i, flags);
    if (!client_flag) return Usage(err, client_flag.error().message);
    if (*client_flag) continue;
    if (args[i].starts_with("--")) {
      return Usage(err, "unexpected argument \"" + std::string(args[i]) + "\" for open-files");
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.size() != 2) return Usage(err, "open-files takes HOST and PID");
  if (auto pid = ParsePid(positional[1]); !pid) {
    return Usage(err, "bad PID \"" + std::string(positional[1]) + "\": " + pid.error().message);
  }
  boost::urls::url url;
  url.set_path("/api/v1/hosts/" + std::string(positional[0]) + "/processes/" +
               std::string(positional[1]) + "/open-files");
  return Fetch(flags, std::string(url.encoded_target()), {}, AnswerKind::kOpenFiles,
               std::chrono::milliseconds(70'000), out, err);
}

// `fleetps cluster drain`: POST /api/v1/cluster/drain on the member --server names; it hands
// its hosts over and leaves the cluster (the member answers 403 unless
// collector.enable_reload_endpoint is on).
int ClusterDrain(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  ClientFlags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto client_flag = ClientFlag(args, i, flags);
    if (!client_flag) return Usage(err, client_flag.error().message);
    if (!*client_flag) {
      return Usage(err, "unexpected argument \"" + std::string(args[i]) + "\" for cluster drain");
    }
  }
  if (const auto problem = ReadPassword(flags)) return Usage(err, *problem);
  flags.http.post = true;
  const auto reply =
      HttpGet(flags.server, "/api/v1/cluster/drain", std::chrono::seconds(10), flags.http);
  if (!reply) {
    err << "fleetps: " << reply.error().message << '\n';
    return kExitInvalid;
  }
  if (const auto refused = RefusedByWebConfig(flags, *reply, err)) return *refused;
  if (reply->status == 202 || reply->status == 200) {
    out << reply->body;
    return kExitOk;
  }
  err << "fleetps: " << reply->body;
  return UnexpectedStatus(flags, reply->status, err);
}

// `fleetps events`: one line per server-sent event until the server closes the stream.
// `fleetps cluster status` and `fleetps cluster owner HOST...`: /api/v1/cluster of the member
// --server names. An unknown host is the server's 404, printed, with a non-zero exit.
int Cluster(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (!args.empty() && args[0] == "undrain") {
    return Usage(err,
                 "cluster undrain is not supported yet: a drained member leaves the cluster; "
                 "restart it (fleetps run) to join again");
  }
  if (!args.empty() && args[0] == "drain") return ClusterDrain(args.subspan(1), out, err);
  if (args.empty() || (args[0] != "status" && args[0] != "owner")) {
    return Usage(err, "cluster takes status, owner HOST... or drain");
  }
  const bool owner = args[0] == "owner";
  ClientFlags flags;
  std::vector<std::string> hosts;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto client_flag = ClientFlag(args, i, flags);
    if (!client_flag) return Usage(err, client_flag.error().message);
    if (*client_flag) continue;
    if (owner && !args[i].starts_with("-")) {
      if (args[i].find(',') != std::string_view::npos) {
        return Usage(err, "a host name has no \",\": \"" + std::string(args[i]) + "\"");
      }
      hosts.emplace_back(args[i]);
    } else {
      return Usage(err, "unexpected argument \"" + std::string(args[i]) + "\" for cluster " +
                            std::string(args[0]));
    }
  }
  if (flags.mode == TableMode::kWide) return Usage(err, "cluster takes -o table or -o json");
  if (owner && hosts.empty()) return Usage(err, "cluster owner needs at least one HOST");
  if (const auto problem = ReadPassword(flags)) return Usage(err, *problem);
  boost::urls::url url("/api/v1/cluster");
  if (owner) {
    std::string list;
    for (const std::string& host : hosts) list += (list.empty() ? "" : ",") + host;
    url.params().append({"hosts", list});
  }
  const auto reply = HttpGet(flags.server, std::string(url.encoded_target()),
                             std::chrono::seconds(10), flags.http);
  if (!reply) {
    err << "fleetps: " << reply.error().message << '\n';
    return kExitInvalid;
  }
  if (const auto refused = RefusedByWebConfig(flags, *reply, err)) return *refused;
  const Rendered rendered = flags.json ? RenderJson(reply->body)
                            : owner    ? RenderClusterOwners(reply->body)
                                       : RenderClusterStatus(reply->body);
  out << rendered.out;
  err << rendered.err;
  if (!rendered.ok) return kExitInvalid;
  return reply->status == 200 ? kExitOk : UnexpectedStatus(flags, reply->status, err);
}

int Events(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  ClientFlags flags;
  std::string host;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto client_flag = ClientFlag(args, i, flags);
    if (!client_flag) return Usage(err, client_flag.error().message);
    if (*client_flag) continue;
    if (args[i] == "--host") {
      if (i + 1 >= args.size()) return Usage(err, "--host needs a value");
      host = std::string(args[++i]);
    } else {
      return Usage(err, "unexpected argument \"" + std::string(args[i]) + "\" for events");
    }
  }
  if (auto filter = HostFilter::Parse(host); !filter) {
    return Usage(err, "bad --host: " + filter.error().ToString());
  }
  boost::urls::url url("/api/v1/events");
  if (!host.empty()) url.params().append({"host", host});
  std::string pending, event, data;
  const auto on_data = [&](std::string_view piece) {
    pending.append(piece);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(pending.data() + start, nl - start);
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (line.empty()) {
        if (!data.empty()) {
          const std::string text = FormatEventLine(event.empty() ? "message" : event, data);
          if (!text.empty()) out << text << std::endl;
        }
        event.clear();
        data.clear();
      } else if (line.starts_with("event:")) {
        event = std::string(line.substr(line.starts_with("event: ") ? 7 : 6));
      } else if (line.starts_with("data:")) {
        if (!data.empty()) data += '\n';
        data += line.substr(line.starts_with("data: ") ? 6 : 5);
      }
    }
    pending.erase(0, start);
    return static_cast<bool>(out);
  };
  if (const auto problem = ReadPassword(flags)) return Usage(err, *problem);
  const auto reply = HttpGetStream(flags.server, std::string(url.encoded_target()),
                                   std::chrono::milliseconds(60'000), on_data, flags.http);
  if (!reply) {
    err << "fleetps: " << reply.error().message << '\n';
    return kExitInvalid;
  }
  if (reply->status == 200) return kExitOk;
  if (const auto refused = RefusedByWebConfig(flags, *reply, err)) return *refused;
  if (ReportRetryLater(*reply, err)) return kExitInvalid;
  // Not a stream: the server's error answer, read like any other.
  const auto answer = Answer::Read(reply->body);
  if (!answer) {
    err << answer.error().message;
    return kExitInvalid;
  }
  return UnexpectedStatus(flags, reply->status, err);
}

int KeyScan(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.size() != 1) return Usage(err, "keyscan takes exactly one FILE");
  const std::string path(args[0]);
  const config::LoadResult loaded = config::LoadInventoryFile(path, CollectorLoadOptions());
  if (!loaded.ok()) {
    for (const config::Diagnostic& diagnostic : loaded.diagnostics)
      err << diagnostic.ToString() << '\n';
    return kExitInvalid;
  }
  return KeyScanInventory(*loaded.inventory, out, err);
}

// The users of the hosts with `privilege: sudo` in --config, then every --user, each once.
int Sudoers(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  std::string config_path;
  std::vector<std::string> users;
  auto add = [&](std::string user) {
    if (std::find(users.begin(), users.end(), user) == users.end()) users.push_back(user);
  };
  std::vector<std::string> named_users;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = std::string(args[++i]);
    } else if (args[i] == "--user" && i + 1 < args.size()) {
      named_users.emplace_back(args[++i]);
    } else {
      return Usage(err, args[i] == "--config" || args[i] == "--user"
                            ? std::string(args[i]) + " needs a value"
                            : "unexpected argument \"" + std::string(args[i]) + "\" for sudoers");
    }
  }
  if (config_path.empty() && named_users.empty())
    return Usage(err, "sudoers needs --config FILE or --user NAME");
  if (!config_path.empty()) {
    // The schema alone: which hosts use sudo, as which user (no algorithm names matter here).
    const config::LoadResult loaded = config::LoadInventoryFile(config_path);
    if (!loaded.ok()) {
      for (const config::Diagnostic& diagnostic : loaded.diagnostics)
        err << diagnostic.ToString() << '\n';
      return kExitInvalid;
    }
    for (const config::HostSpec& host : loaded.inventory->hosts) {
      if (host.privilege == config::Privilege::kSudo) add(host.user);
    }
    if (users.empty() && named_users.empty()) {
      err << "fleetps: no host in " << config_path
          << " has privilege: sudo; set it, or name the login user with --user NAME\n";
      return kExitInvalid;
    }
  }
  for (std::string& user : named_users) {
    // The name goes into sudoers text: the inventory's rule keeps it one plain word.
    if (auto problem = config::CheckUserName(user)) return Usage(err, "--user: " + *problem);
    add(std::move(user));
  }
  out << SudoersSnippet(users);
  return kExitOk;
}

int Run(std::span<const std::string_view> args, std::ostream& err) {
  RunOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = std::string(args[++i]);
      return true;
    };
    if (arg == "--config" || arg == "-c") {
      if (!value(options.config_path)) return Usage(err, "--config needs a FILE");
    } else if (arg == "--listen") {
      if (!value(options.listen_override)) return Usage(err, "--listen needs an ADDR");
    } else if (arg == "--cluster-member") {
      if (!value(options.cluster_member)) return Usage(err, "--cluster-member needs a NAME");
      if (auto problem = config::CheckClusterMemberName(options.cluster_member)) {
        return Usage(err, "--cluster-member: " + *problem);
      }
    } else if (arg == "--cluster-advertise") {
      if (!value(options.cluster_advertise)) return Usage(err, "--cluster-advertise needs a URL");
      if (auto problem = config::CheckClusterUrl(options.cluster_advertise)) {
        return Usage(err, "--cluster-advertise: " + *problem);
      }
    } else if (arg == "--cluster-weight") {
      std::string text;
      if (!value(text)) return Usage(err, "--cluster-weight needs a number");
      std::uint32_t weight = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), weight);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty() || weight > 1000) {
        return Usage(err, "--cluster-weight takes an integer in 0..1000, got \"" + text + "\"");
      }
      options.cluster_weight = weight;
    } else if (arg == "--cluster-zone") {
      std::string zone;
      if (!value(zone)) return Usage(err, "--cluster-zone needs a zone");
      options.cluster_zone = std::move(zone);
    } else {
      return Usage(err, "unknown flag \"" + std::string(arg) + "\" for run");
    }
  }
  if (options.config_path.empty()) return Usage(err, "run needs --config FILE");
  if (options.cluster_member.empty()) {
    if (const char* member = std::getenv("FLEETPS_CLUSTER_MEMBER"); member && *member) {
      if (auto problem = config::CheckClusterMemberName(member)) {
        return Usage(err, "FLEETPS_CLUSTER_MEMBER: " + *problem);
      }
      options.cluster_member = member;
    }
  }
  return RunCollector(options);
}

// `help --man` and `help --bash-completion` render fleetps(1) and the completion at build time
// from the same command table as the usage text.
int Help(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    out << UsageText();
  } else if (args.size() == 1 && args[0] == "--man") {
    out << ManPage(BuildVersion());
  } else if (args.size() == 1 && args[0] == "--bash-completion") {
    out << BashCompletion();
  } else {
    return Usage(err, "help takes --man or --bash-completion");
  }
  return kExitOk;
}

}  // namespace

int RunCli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.empty()) return Usage(err, "no command given");
  const std::string_view command = args.front();
  const auto rest = args.subspan(1);
  if (command == "check-config") return CheckConfig(rest, out, err);
  if (command == "run") return Run(rest, err);
  if (command == "keyscan") return KeyScan(rest, out, err);
  if (command == "sudoers") return Sudoers(rest, out, err);
  if (command == "query") return Query(rest, out, err);
  if (command == "hosts") return Hosts(rest, out, err);
  if (command == "listening") return Query(rest, out, err, true);
  if (command == "open-files") return OpenFiles(rest, out, err);
  if (command == "events") return Events(rest, out, err);
  if (command == "cluster") return Cluster(rest, out, err);
  if (command == "version" || command == "--version") {
    out << "fleetps " << BuildVersion() << '\n';
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") return Help(rest, out, err);
  return Usage(err, "unknown command \"" + std::string(command) + "\"");
}

}  // namespace fleetps::collector
