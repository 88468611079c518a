#include "fleetps/collector/api/router.hpp"

#include <utility>

#include <boost/url/parse.hpp>

namespace fleetps::collector {
namespace {

namespace http = boost::beast::http;

bool Accepts(RouteMethods methods, http::verb verb) {
  switch (methods) {
    case RouteMethods::kGet:
      return verb == http::verb::get || verb == http::verb::head;
    case RouteMethods::kPost:
      return verb == http::verb::post;
    case RouteMethods::kAny:
      return true;
  }
  return false;
}

std::string_view AllowHeader(RouteMethods methods) {
  return methods == RouteMethods::kPost ? "POST" : "GET";
}

}  // namespace

std::optional<std::string_view> SegmentAfter(std::string_view path,
                                             std::string_view prefix) noexcept {
  if (!path.starts_with(prefix)) return std::nullopt;
  const std::string_view segment = path.substr(prefix.size());
  if (segment.empty() || segment.find('/') != std::string_view::npos) return std::nullopt;
  return segment;
}

std::optional<std::string> ApiRequest::Param(std::string_view name) const {
  // The router parsed this target already; parsing again keeps ApiRequest free of Boost.URL.
  const auto target = boost::urls::parse_origin_form(http.target());
  if (!target) return std::nullopt;
  auto it = target->params().find(name);
  if (it == target->params().end()) return std::nullopt;
  return std::string((*it).value);
}

void Router::Add(std::string path, RouteMethods methods, RouteHandler handler) {
  exact_.insert_or_assign(std::move(path), Entry{methods, std::move(handler)});
}

void Router::AddPattern(std::string pattern, PathMatcher matches, RouteMethods methods,
                        RouteHandler handler) {
  patterns_.push_back(
      PatternEntry{std::move(pattern), std::move(matches), Entry{methods, std::move(handler)}});
}

const Router::Entry* Router::Find(std::string_view path) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
  for (const PatternEntry& p : patterns_) {
    if (p.matches(path)) return &p.entry;
  }
  return nullptr;
}

boost::asio::awaitable<HttpAnswer> Router::Route(HttpRequest request, HttpPeer peer) const {
  const auto target = boost::urls::parse_origin_form(request.target());
  if (!target) {
    co_return MakeResponse(request, http::status::bad_request, "malformed request target\n");
  }
  const ApiRequest api{request, std::string(target->path()), target->encoded_query(), peer};
  const Entry* entry = Find(api.path);
  if (!entry) co_return MakeResponse(request, http::status::not_found, "not found\n");
  if (!Accepts(entry->methods, request.method())) {
    HttpResponse response =
        MakeResponse(request, http::status::method_not_allowed, "method not allowed\n");
    response.set(http::field::allow, AllowHeader(entry->methods));
    co_return response;
  }
  co_return co_await entry->handler(api);
}

std::vector<std::string> Router::Patterns() const {
  std::vector<std::string> out;
  for (const auto& [path, entry] : exact_) out.push_back(path);
  for (const PatternEntry& p : patterns_) out.push_back(p.pattern);
  return out;
}

}  // namespace fleetps::collector
