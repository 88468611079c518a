// A minimal HTTP/1.1 GET client, over TLS for https:// servers: blocking for the CLI (`fleetps
// query`, `fleetps hosts`, `fleetps events`), asynchronous for a collector asking its peers
// (cluster fan-out).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace fleetps::collector {

/// An answer, whatever its status: a 4xx or 5xx is an answer, not an HttpClientError.
struct HttpReply {
  unsigned status = 0;
  std::string body;
  std::string retry_after;  ///< The Retry-After header as sent (429, 503); empty when absent.
};

/// How to reach a protected collector (collector.web_config_file).
struct HttpClientOptions {
  /// PEM file of the CAs to trust for an https:// server; empty = the system's trust store.
  std::string ca_file;
  /// Basic auth credentials, sent when `user` is not empty (over http:// too: the caller's
  /// choice).
  std::string user;
  std::string password;
  /// An Authorization header value sent as it is (a collector forwarding its caller's
  /// credentials to its peers); takes precedence over `user`.
  std::string authorization;
  /// More request headers (name, value), e.g. X-Fleetps-Forwarded on a forwarded /probe.
  std::vector<std::pair<std::string, std::string>> headers;
  /// An empty POST instead of the GET (`fleetps cluster drain`); same answer handling.
  bool post = false;
};

/// Why no answer came.
struct HttpClientError {
  /// invalid_argument for a bad server URL, else the resolve, connect, write or read failure
  /// (beast::error::timeout when a deadline passed).
  boost::system::error_code code;
  /// One sentence for the user, naming the server: `cannot reach http://127.0.0.1:9732:
  /// Connection refused`, `--server must look like http://HOST:PORT or https://HOST:PORT, got
  /// "..."`, `TLS handshake with https://...: certificate verify failed (...)`.
  std::string message;
};

/// Throws boost::system::system_error(code, message): result::value() on an error.
[[noreturn]] void throw_exception_from_error(const HttpClientError& error,
                                             const boost::source_location& location);

/// GETs `path_and_query` from `server` ("http://HOST:PORT" or "https://HOST:PORT", scheme
/// optional meaning http) within `timeout` (one deadline for the whole exchange). Over https
/// the server's certificate must chain to a trusted CA and name HOST. Errors: an unparsable
/// server URL, a resolve, connection, TLS handshake or read failure.
[[nodiscard]] boost::system::result<HttpReply, HttpClientError> HttpGet(
    const std::string& server, const std::string& path_and_query, std::chrono::milliseconds timeout,
    const HttpClientOptions& options = {});

/// HttpGet as a coroutine on the caller's executor, for servers that must not block a thread:
/// one deadline (`timeout`) for the connection, the request and the answer, and a body of at
/// most `max_body` bytes (a larger one is an error, not a truncated answer). Cancelling the
/// caller closes the connection. Errors as HttpGet.
[[nodiscard]] boost::asio::awaitable<boost::system::result<HttpReply, HttpClientError>>
AsyncHttpGet(std::string server, std::string path_and_query, std::chrono::milliseconds timeout,
             HttpClientOptions options, std::size_t max_body);

/// GETs a streaming answer (server-sent events) and hands each piece of the body to `on_data`
/// as it arrives, until the server closes the stream. `idle_timeout` bounds the silence between
/// two pieces (the server sends heartbeats) and the connection setup. A non-200 answer is read
/// whole and returned in the reply instead. `on_data` returning false stops reading. Errors as
/// HttpGet, worded as the stream ending (`stream from SERVER ended: ...`).
[[nodiscard]] boost::system::result<HttpReply, HttpClientError> HttpGetStream(
    const std::string& server, const std::string& path_and_query,
    std::chrono::milliseconds idle_timeout, const std::function<bool(std::string_view)>& on_data,
    const HttpClientOptions& options = {});

}  // namespace fleetps::collector
