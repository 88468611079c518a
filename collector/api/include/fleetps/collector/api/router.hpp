// The route table of the HTTP API: request path (exact, or a pattern route's matcher) and
// method to a handler. Knows no endpoint; unit-testable without a socket.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/http/http_server.hpp"

namespace fleetps::collector {

/// A request as a handler sees it. Valid for the handler call only: a streaming body must copy
/// what it needs.
struct ApiRequest {
  const HttpRequest& http;
  std::string path;                ///< Percent-decoded, as routed.
  std::string_view encoded_query;  ///< Without the `?`; empty when there is none.
  HttpPeer peer;                   ///< The client (per-client limits key on its address).

  /// The decoded value of the first query parameter `name`, or nullopt when absent.
  [[nodiscard]] std::optional<std::string> Param(std::string_view name) const;
};

/// The methods a route accepts; any other gets 405 with an `Allow` header.
enum class RouteMethods {
  kGet,   ///< GET and HEAD; `Allow: GET`.
  kPost,  ///< POST; `Allow: POST`.
  kAny,   ///< Every method (the health checks).
};

/// NAME when the decoded `path` is `prefix` followed by NAME, one non-empty path segment
/// (`/hosts/web01`); nullopt otherwise: the shape of a `{host}` route.
[[nodiscard]] std::optional<std::string_view> SegmentAfter(std::string_view path,
                                                           std::string_view prefix) noexcept;

using RouteHandler = std::function<boost::asio::awaitable<HttpAnswer>(const ApiRequest&)>;

/// Path and method to handler. Answers, before any handler runs:
///   400 `malformed request target\n` for a target that is not origin-form (`/path?query`),
///   404 `not found\n` for a path no route has,
///   405 `method not allowed\n` with `Allow` for a method the route does not accept.
/// Routes are added before the first request; routing is then thread-safe.
class Router {
 public:
  /// Decides whether a decoded path belongs to a pattern route.
  using PathMatcher = std::function<bool(std::string_view path)>;

  /// Routes `path` exactly (no trailing-slash or case folding).
  void Add(std::string path, RouteMethods methods, RouteHandler handler);

  /// Routes every path `matches` accepts that no exact route has; pattern routes are tried in
  /// the order added. `pattern` names the route (e.g. `/api/v1/hosts/{host}/processes/{pid}/
  /// open-files`) in Patterns(); the matcher alone decides, so the handler's own parser can
  /// define the shape and report bad segments with their positions.
  void AddPattern(std::string pattern, PathMatcher matches, RouteMethods methods,
                  RouteHandler handler);

  /// Answers `request` from `peer` with its route's handler, or one of the errors above.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Route(HttpRequest request,
                                                         HttpPeer peer = {}) const;

  /// Exact paths and pattern names, sorted exact paths first: what the table serves.
  [[nodiscard]] std::vector<std::string> Patterns() const;

 private:
  struct Entry {
    RouteMethods methods;
    RouteHandler handler;
  };
  struct PatternEntry {
    std::string pattern;
    PathMatcher matches;
    Entry entry;
  };
  [[nodiscard]] const Entry* Find(std::string_view path) const;

  std::map<std::string, Entry, std::less<>> exact_;
  std::vector<PatternEntry> patterns_;
};

}  // namespace fleetps::collector
