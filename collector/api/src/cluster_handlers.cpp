#include "fleetps/collector/api/cluster_handlers.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/cluster/static_membership.hpp"
#include "fleetps/collector/http/http_client.hpp"
#include "fleetps/config/cluster.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on the coroutine frames of lambda coroutines.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

constexpr auto kForwardTimeout = std::chrono::milliseconds(10'000);
constexpr std::string_view kExpositionType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::uint64_t kMaxShards = 1'000'000;

HttpResponse BadRequest(const ApiRequest& request, std::string message) {
  return MakeResponse(request.http, http::status::bad_request, message + "\n");
}

// The Host header when it looks like host[:port] (the label must not carry anything else).
std::optional<std::string> SelfAddress(const ApiRequest& request) {
  const std::string_view host = request.http[http::field::host];
  if (host.empty() || host.size() > 261) return std::nullopt;
  const bool plain = std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
  });
  if (!plain) return std::nullopt;
  return std::string(host);
}

std::optional<std::uint64_t> ParseCount(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string MemberNames(const cluster::ClusterView& view) {
  std::string names;
  for (const auto& member : view.members) {
    if (!names.empty()) names += ", ";
    names += member.spec.name;
  }
  return names;
}

// The members as http_sd target groups (?view=members).
json::array MembersTargets(const cluster::ClusterView& view) {
  json::array groups;
  for (const auto& member : view.members) {
    json::object labels;
    labels["__meta_fleetps_member"] = member.spec.name;
    labels["__meta_fleetps_state"] = std::string(cluster::MemberStateName(member.state));
    labels["__meta_fleetps_zone"] = member.spec.zone;
    if (member.advertise.starts_with("https://")) labels["__scheme__"] = "https";
    groups.push_back(json::object{
        {"targets", json::array{std::string(config::ClusterUrlHostPort(member.advertise))}},
        {"labels", std::move(labels)}});
  }
  return groups;
}

}  // namespace

std::shared_ptr<const std::vector<config::HostSpec>> ClusterHandlers::Inventory() const {
  if (cluster_ != nullptr) {
    if (auto hosts = cluster_->InventoryHosts()) return hosts;
  }
  auto hosts = std::make_shared<std::vector<config::HostSpec>>();
  for (const auto& view : fleet_.State().Hosts()) hosts->push_back(view->spec);
  return hosts;
}

boost::asio::awaitable<HttpAnswer> ClusterHandlers::ServiceDiscovery(
    const ApiRequest& request) const {
  static constexpr std::array<std::string_view, 4> kNames{"collector", "shard", "of", "view"};
  auto params = DecodeQueryParams(request.encoded_query, kNames);
  if (!params) {
    co_return BadRequest(request, "/sd: " + params.error().ToString() +
                                      " (parameters: collector=NAME, shard=I&of=N, view=members)");
  }
  const auto& [collector, shard, of, view_param] =
      std::tie((*params)[0], (*params)[1], (*params)[2], (*params)[3]);
  const auto view = cluster_ != nullptr ? cluster_->View() : nullptr;
  if (view_param) {
    if (*view_param != "members") {
      co_return BadRequest(
          request, "/sd: view takes \"members\", got \"" + BoundedLabelValue(*view_param) + "\"");
    }
    if (collector || shard || of) {
      co_return BadRequest(request, "/sd: view=members takes no other parameter");
    }
    if (!view) co_return BadRequest(request, "/sd: view=members needs a clustered collector");
    co_return MakeResponse(request.http, http::status::ok,
                           json::serialize(MembersTargets(*view)) + "\n", "application/json");
  }
  std::optional<std::int32_t> only_member;
  if (collector) {
    if (!view) {
      co_return BadRequest(request,
                           "/sd: collector= needs a clustered collector (cluster.membership)");
    }
    for (std::size_t i = 0; i < view->members.size(); ++i) {
      if (view->members[i].spec.name == *collector) only_member = static_cast<std::int32_t>(i);
    }
    if (!only_member) {
      co_return BadRequest(request, "/sd: unknown collector \"" + BoundedLabelValue(*collector) +
                                        "\"; members: " + MemberNames(*view));
    }
  }
  std::optional<std::pair<std::uint64_t, std::uint64_t>> sharding;  // (shard, of)
  if (shard || of) {
    if (!shard || !of) co_return BadRequest(request, "/sd: shard and of go together");
    const auto modulus = ParseCount(*of);
    if (!modulus || *modulus == 0 || *modulus > kMaxShards) {
      co_return BadRequest(request, "/sd: of takes an integer in 1..1000000, got \"" +
                                        BoundedLabelValue(*of) + "\"");
    }
    const auto index = ParseCount(*shard);
    if (!index || *index >= *modulus) {
      co_return BadRequest(request, "/sd: shard takes an integer in 0.." +
                                        std::to_string(*modulus - 1) + ", got \"" +
                                        BoundedLabelValue(*shard) + "\"");
    }
    if (!cluster::HashMod("", 1)) {
      co_return MakeResponse(request.http, http::status::not_implemented,
                             "/sd: cannot shard: this OpenSSL offers no MD5\n");
    }
    sharding.emplace(*index, *modulus);
  }
  const std::optional<std::string> self_address = view ? std::nullopt : SelfAddress(request);
  // The owners' host:port, once per member rather than once per host.
  std::vector<std::string> owner_addresses;
  if (view) {
    for (const auto& member : view->members) {
      owner_addresses.emplace_back(config::ClusterUrlHostPort(member.advertise));
    }
  }
  // The inventory without copying it: the cluster port's list, else the fleet state's views.
  std::shared_ptr<const std::vector<config::HostSpec>> inventory =
      cluster_ != nullptr ? cluster_->InventoryHosts() : nullptr;
  std::vector<std::shared_ptr<const HostView>> views;
  std::vector<const config::HostSpec*> hosts;
  if (inventory) {
    for (const config::HostSpec& spec : *inventory) hosts.push_back(&spec);
  } else {
    views = fleet_.State().Hosts();
    for (const auto& view_of_host : views) hosts.push_back(&view_of_host->spec);
  }
  json::array groups;
  groups.reserve(hosts.size());
  for (const config::HostSpec* host : hosts) {
    const config::HostSpec& spec = *host;
    const std::int32_t owner = view ? view->OwnerIndexOf(spec.name) : -1;
    if (only_member && owner != *only_member) continue;
    if (sharding && cluster::HashMod(spec.name, sharding->second) != sharding->first) continue;
    json::object labels;
    for (const auto& [name, value] : spec.labels) labels[name] = value;
    labels["host"] = spec.name;
    // Meta labels are for relabelling only (Prometheus drops `__meta_*` after it): e.g. an
    // `instance` of ADDRESS:9100 to join with the host's node_exporter, or __address__ from
    // the collector that owns the host.
    labels["__meta_fleetps_address"] = spec.address;
    labels["__meta_fleetps_port"] = std::to_string(spec.port);
    if (owner >= 0) {
      labels["__meta_fleetps_collector"] = owner_addresses[static_cast<std::size_t>(owner)];
    } else if (self_address) {
      labels["__meta_fleetps_collector"] = *self_address;
    }
    groups.push_back(
        json::object{{"targets", json::array{spec.name}}, {"labels", std::move(labels)}});
  }
  co_return MakeResponse(request.http, http::status::ok, json::serialize(groups) + "\n",
                         "application/json");
}

boost::asio::awaitable<HttpAnswer> ClusterHandlers::Probe(const ApiRequest& request) const {
  const auto view = cluster_ != nullptr ? cluster_->View() : nullptr;
  const auto target = request.Param("target");
  if (!view || !target || target->empty() || fleet_.State().Host(*target)) {
    co_return co_await metrics_.Probe(request);  // not clustered, no target, or owned here
  }
  const auto hosts = Inventory();
  const bool known = std::any_of(hosts->begin(), hosts->end(),
                                 [&](const config::HostSpec& h) { return h.name == *target; });
  if (!known) co_return co_await metrics_.Probe(request);  // its 404
  const cluster::MemberView* owner = view->OwnerOf(*target);
  const cluster::MemberView* self = view->Self();
  const std::string self_name = self ? self->spec.name : std::string("(not a member)");
  auto refuse = [&](http::status status, const std::string& why) {
    HttpResponse response = MakeResponse(request.http, status, why + "\n");
    response.reason(why);  // what Prometheus shows as the scrape error
    return response;
  };
  if (owner == nullptr) {
    co_return refuse(http::status::service_unavailable,
                     "host " + *target + " has no owner in cluster " + view->name + " now");
  }
  if (owner->self) {
    // Owned by this member by the view, but its agent has not published yet (just moved here).
    co_return refuse(http::status::service_unavailable,
                     "host " + *target + " is starting on " + self_name);
  }
  if (!request.http[kForwardedHeader].empty()) {
    co_return refuse(http::status::misdirected_request,
                     "host " + *target + " is owned by " + owner->spec.name + ", not " + self_name +
                         "; a forwarded request is not forwarded again");
  }
  std::string path = "/probe?target=";
  path += boost::urls::encode(*target, boost::urls::unreserved_chars);
  const std::string advertise = owner->advertise;
  const std::string owner_name = owner->spec.name;
  // HttpGet blocks: it runs on an API worker, never on the thread that serves scrapes.
  // The caller's credentials go on (as the fan-out's do); without any, this member's own
  // (cluster.peer_http), so a port with basic auth answers a forward as it answers the caller.
  HttpClientOptions options = cluster_->PeerClient();
  options.authorization = std::string(request.http[http::field::authorization]);
  options.headers.emplace_back(std::string(kForwardedHeader), "1");
  RouteHandler forward = [advertise, owner_name, path, options = std::move(options)](
                             const ApiRequest& r) -> boost::asio::awaitable<HttpAnswer> {
    const auto reply = HttpGet(advertise, path, kForwardTimeout, options);
    if (!reply) {
      std::string why = "owner " + owner_name + " did not answer: " + reply.error().message;
      HttpResponse response = MakeResponse(r.http, http::status::bad_gateway, why + "\n");
      response.reason(why);
      co_return response;
    }
    const auto status = static_cast<http::status>(reply->status);
    HttpResponse response =
        MakeResponse(r.http, status, reply->body,
                     reply->status == 200 ? kExpositionType : "text/plain; charset=utf-8");
    if (reply->status != 200) {
      std::string_view line = reply->body;
      line = line.substr(0, line.find('\n'));
      if (!line.empty()) response.reason(line);
    }
    response.set("X-Fleetps-Owner", owner_name);
    co_return response;
  };
  co_return co_await workers_.Run(request, forward);
}

boost::asio::awaitable<HttpAnswer> ClusterHandlers::Cluster(const ApiRequest& request) const {
  static constexpr std::array<std::string_view, 1> kNames{"hosts"};
  auto params = DecodeQueryParams(request.encoded_query, kNames);
  if (!params) {
    co_return MakeResponse(request.http, http::status::bad_request, RenderErrorJson(params.error()),
                           "application/json");
  }
  const auto view = cluster_ != nullptr ? cluster_->View() : nullptr;
  if (!view) {
    co_return MakeResponse(
        request.http, http::status::not_found,
        RenderErrorJson("this collector is not clustered (cluster.membership: none)"),
        "application/json");
  }
  const auto hosts = Inventory();
  const cluster::OwnershipCounts counts = cluster::CountOwnership(*view, *hosts);
  const cluster::MemberView* self = view->Self();
  json::object out;
  out["cluster"] = view->name;
  out["membership"] = view->membership;
  out["self"] = self ? json::value(self->spec.name) : json::value(nullptr);
  out["buckets"] = view->buckets;
  out["revision"] = view->revision;
  out["hosts"] = hosts->size();
  out["orphaned_hosts"] = counts.orphaned_hosts;
  if (std::string problem = cluster_->Problem(); !problem.empty()) out["problem"] = problem;
  json::array members;
  for (std::size_t i = 0; i < view->members.size(); ++i) {
    const cluster::MemberView& m = view->members[i];
    members.push_back(json::object{{"name", m.spec.name},
                                   {"advertise", m.advertise},
                                   {"state", std::string(cluster::MemberStateName(m.state))},
                                   {"zone", m.spec.zone},
                                   {"weight", m.spec.weight},
                                   {"version", m.version},
                                   {"self", m.self},
                                   {"owned_hosts", counts.hosts[i]},
                                   {"owned_buckets", counts.buckets[i]}});
  }
  out["members"] = std::move(members);
  if (const auto& wanted = (*params)[0]) {
    json::array owners;
    std::string_view rest = *wanted;
    while (!rest.empty()) {
      const std::string_view name = rest.substr(0, rest.find(','));
      rest.remove_prefix(std::min(rest.size(), name.size() + 1));
      if (name.empty()) continue;
      const bool known = std::any_of(hosts->begin(), hosts->end(),
                                     [&](const config::HostSpec& h) { return h.name == name; });
      if (!known) {
        co_return MakeResponse(request.http, http::status::not_found,
                               RenderErrorJson("unknown host \"" + BoundedLabelValue(name) + "\"",
                                               std::nullopt, "hosts"),
                               "application/json");
      }
      const cluster::MemberView* owner = view->OwnerOf(name);
      owners.push_back(json::object{
          {"host", name},
          {"bucket", cluster::BucketOf(name, view->buckets)},
          {"owner", owner ? json::value(owner->spec.name) : json::value(nullptr)},
          {"advertise", owner ? json::value(owner->advertise) : json::value(nullptr)}});
    }
    out["owners"] = std::move(owners);
  }
  const json::object document{{"status", "ok"}, {"data", std::move(out)}};
  co_return MakeResponse(request.http, http::status::ok, json::serialize(document) + "\n",
                         "application/json");
}

}  // namespace fleetps::collector
