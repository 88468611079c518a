#include "control_server.hpp"

#include <sys/resource.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <fstream>

#include "host_set.hpp"

namespace fleetps::fleetsim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

struct Reply {
  http::status status = http::status::ok;
  std::string body;
  std::string content_type = "application/json";
};

Reply Error(http::status status, std::string message) {
  json::object o;
  o["error"] = message;
  return {status, json::serialize(o) + "\n"};
}

json::object HostJson(const Fleet& fleet, std::uint32_t number) {
  json::object o;
  o["number"] = number;
  o["name"] = HostName(number);
  o["port"] = fleet.PortOf(number);
  o["dialect"] = SimDialectName(fleet.DialectOf(number));
  o["fault"] = FormatFault(fleet.FaultOf(number));
  o["sessions"] = fleet.SessionsOf(number);
  return o;
}

// Attribution: who runs scripts on each host, and who holds sessions to it.
json::object ClientsJson(const Fleet& fleet, std::uint32_t number) {
  const HostClients& clients = fleet.ClientsOf(number);
  json::object sessions;
  for (const auto& [peer, count] : clients.sessions) {
    sessions[peer] = count;
  }
  json::array scripts;
  scripts.reserve(clients.scripts.size());
  for (const ScriptRecord& script : clients.scripts) {
    json::object entry;
    entry["unix_ms"] = script.unix_ms;
    entry["peer"] = script.peer;
    entry["kind"] = script.fingerprint ? "fingerprint" : "probe";
    scripts.push_back(std::move(entry));
  }
  json::object o;
  o["number"] = number;
  o["name"] = HostName(number);
  o["sessions_by_peer"] = std::move(sessions);
  o["scripts_total"] = clients.scripts_total;
  o["scripts"] = std::move(scripts);
  return o;
}

Reply HostsReply(const Fleet& fleet, const std::vector<std::uint32_t>& numbers) {
  json::array hosts;
  hosts.reserve(numbers.size());
  for (const auto number : numbers) {
    hosts.push_back(HostJson(fleet, number));
  }
  return {http::status::ok, json::serialize(hosts) + "\n"};
}

Reply Route(Fleet& fleet, http::verb method, std::string_view target, const std::string& body) {
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
  if (target == "/healthz") {
    return {http::status::ok, "ok\n", "text/plain"};
  }
  if (target == "/stats" && method == http::verb::get) {
    return {http::status::ok, StatsJson(fleet)};
  }
  if (target == "/restart" && method == http::verb::post) {
    json::object o;
    o["dropped"] = fleet.Drop(0);
    return {http::status::ok, json::serialize(o) + "\n"};
  }
  if (target == "/hosts" && method == http::verb::get) {
    return HostsReply(fleet, *ParseHostSet("all", fleet.HostCount()));
  }
  if (!target.starts_with("/hosts/")) {
    return Error(http::status::not_found, "no such resource");
  }
  std::string_view rest = target.substr(7);
  std::string_view action;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    action = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  const auto numbers = ParseHostSet(rest, fleet.HostCount());
  if (!numbers) {
    return Error(http::status::not_found, "no such host selection");
  }
  if (action.empty() && method == http::verb::get) {
    return HostsReply(fleet, *numbers);
  }
  if (action == "clients" && method == http::verb::get) {
    json::array hosts;
    hosts.reserve(numbers->size());
    for (const auto number : *numbers) {
      hosts.push_back(ClientsJson(fleet, number));
    }
    return {http::status::ok, json::serialize(hosts) + "\n"};
  }
  if (action == "fault" && (method == http::verb::put || method == http::verb::post)) {
    const auto fault = ParseFault(body);
    if (!fault) {
      return Error(http::status::bad_request, "bad fault (see README: drip, delay:MS, ...)");
    }
    for (const auto number : *numbers) {
      std::string error;
      if (!fleet.SetFault(number, *fault, error)) {
        return Error(http::status::internal_server_error, error);
      }
    }
    return HostsReply(fleet, *numbers);
  }
  if (action == "drop" && method == http::verb::post) {
    std::size_t dropped = 0;
    for (const auto number : *numbers) {
      dropped += fleet.Drop(number);
    }
    json::object o;
    o["dropped"] = dropped;
    return {http::status::ok, json::serialize(o) + "\n"};
  }
  return Error(http::status::method_not_allowed, "unsupported method or action");
}

asio::awaitable<void> Serve(Fleet& fleet, asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> request;
    stream.expires_after(std::chrono::seconds(30));
    auto [read_ec, read_n] =
        co_await http::async_read(stream, buffer, request, asio::as_tuple(asio::use_awaitable));
    if (read_ec) {
      co_return;
    }
    const Reply reply = Route(fleet, request.method(), request.target(), request.body());
    http::response<http::string_body> response{reply.status, request.version()};
    response.set(http::field::content_type, reply.content_type);
    response.keep_alive(request.keep_alive());
    response.body() = reply.body;
    response.prepare_payload();
    auto [write_ec, write_n] =
        co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
    if (write_ec || !response.keep_alive()) {
      co_return;
    }
  }
}

asio::awaitable<void> AcceptLoop(Fleet& fleet, asio::ip::tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) {
      co_return;
    }
    if (!ec) {
      asio::co_spawn(acceptor.get_executor(), Serve(fleet, std::move(socket)), asio::detached);
    }
  }
}

std::uint64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

std::string StatsJson(const Fleet& fleet) {
  const FleetStats& s = fleet.Stats();
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  json::object o;
  o["hosts"] = fleet.HostCount();
  o["sessions_open"] = s.sessions_open;
  o["raw_open"] = s.raw_open;
  o["connections_accepted"] = s.connections_accepted;
  o["handshakes"] = s.handshakes;
  o["auth_accepted"] = s.auth_accepted;
  o["auth_denied"] = s.auth_denied;
  o["channels_opened"] = s.channels_opened;
  o["commands_served"] = s.commands_served;
  o["shell_runs_served"] = s.shell_runs_served;
  o["bytes_in"] = s.bytes_in;
  o["bytes_out"] = s.bytes_out;
  o["sessions_dropped"] = s.sessions_dropped;
  o["cpu_user_seconds"] = seconds(usage.ru_utime);
  o["cpu_system_seconds"] = seconds(usage.ru_stime);
  o["rss_bytes"] = RssBytes();
  o["max_rss_bytes"] = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
  o["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() -
                        fleet.SimEpoch();
  return json::serialize(o) + "\n";
}

ControlServer::ControlServer(asio::io_context& io, Fleet& fleet) : io_(io), fleet_(fleet) {}

bool ControlServer::Start(const std::string& listen, std::string& error) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    error = "--control wants ADDRESS:PORT";
    return false;
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(listen.substr(0, colon), ec);
  if (ec) {
    error = "bad control address " + listen;
    return false;
  }
  const auto port = static_cast<std::uint16_t>(std::stoul(listen.substr(colon + 1)));
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(io_);
  const asio::ip::tcp::endpoint endpoint(address, port);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + listen + ": " + ec.message();
    return false;
  }
  asio::co_spawn(io_, AcceptLoop(fleet_, *acceptor_), asio::detached);
  return true;
}

std::uint16_t ControlServer::Port() const {
  return acceptor_ ? acceptor_->local_endpoint().port() : 0;
}

}  // namespace fleetps::fleetsim
