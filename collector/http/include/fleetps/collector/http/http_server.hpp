#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace fleetps::collector {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

/// Writes the body of a streaming answer (server-sent events) over plain TCP or TLS. Lives as
/// long as the stream function's call; used on the connection's coroutine only.
class HttpStreamWriter {
 public:
  /// Writes all of its argument within the write timeout, or fails.
  using WriteAll =
      std::function<boost::asio::awaitable<boost::system::error_code>(std::string_view)>;

  /// `socket` is the connection's TCP socket (under TLS too), for PeerClosed.
  HttpStreamWriter(WriteAll write, int socket) : write_(std::move(write)), socket_(socket) {}

  /// Writes `data` as is, within the server's write timeout. Fails when the client went away
  /// or stopped reading for that long; the stream function should then return.
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> Write(std::string_view data);

  /// True once the client has closed or reset its side (a non-blocking check, no read): lets a
  /// stream that has nothing to write notice a departed client before its next write.
  [[nodiscard]] bool PeerClosed() const;

 private:
  WriteAll write_;
  int socket_;
};

/// Produces a streaming body; returns when the stream is over (the connection then closes).
using HttpStreamBody = std::function<boost::asio::awaitable<void>(HttpStreamWriter&)>;

/// What a handler answers: a complete response, or with `stream` set, a response head sent
/// without a length followed by whatever `stream` writes: close-delimited (`Connection:
/// close`), or with `chunked` to an HTTP/1.1 request, in chunks, one per write, after which the
/// connection serves the next request (keep-alive) when the stream ended without a failed
/// write. Implicitly made from an HttpResponse.
struct HttpAnswer {
  HttpAnswer() = default;
  HttpAnswer(HttpResponse r) : response(std::move(r)) {}  // NOLINT(google-explicit-constructor)
  HttpResponse response;
  HttpStreamBody stream;
  bool chunked = false;  ///< For a stream that ends (not server-sent events).
};

/// The client a request came from, as the accepted socket's remote endpoint says (no proxy
/// header is trusted). Per-client limits key on `address`.
struct HttpPeer {
  boost::asio::ip::address address;  ///< Unspecified when the endpoint could not be read.
  unsigned short port = 0;
};

/// Answers one request from `peer`. Runs on the connection's coroutine; must not block
/// (co_await instead). Exceptions escaping it become a 500, never a dropped connection.
using HttpHandler = std::function<boost::asio::awaitable<HttpAnswer>(HttpRequest, HttpPeer)>;

/// Limits that hold against slow, idle and greedy clients (collector.http in the config). The
/// deadlines are absolute, never extended by a byte arriving: a client dripping its request
/// is cut when its deadline passes.
struct HttpServerOptions {
  std::size_t max_request_body = std::size_t{64} * 1024;  ///< Larger bodies get 413.
  /// The first request's headers must be complete this long after the accept; a later
  /// request's, this long after its first byte.
  std::chrono::milliseconds header_timeout{10'000};
  /// The body must be complete this long after the headers.
  std::chrono::milliseconds body_timeout{30'000};
  /// Between keep-alive requests: the next request must start this long after the previous
  /// response, else the connection is closed.
  std::chrono::milliseconds idle_timeout{75'000};
  std::chrono::milliseconds write_timeout{60'000};  ///< Per write of a response or stream.
  /// Connections held at once. A new one beyond it evicts the connection waiting longest
  /// without a request in hand; when all are busy it gets a 503 (or a close).
  std::size_t max_connections = 512;
  /// Connections held at once from one client (an IPv4 address, an IPv6 /64); beyond it a 503
  /// (or a close).
  std::size_t max_connections_per_client = 64;
  /// Called once per accepted connection: the TLS context to serve it with, or null for plain
  /// HTTP. A reload can swap certificates for new connections. The TLS handshake must complete
  /// within header_timeout of the accept; one that fails closes the connection and is counted
  /// (HttpServer::TlsHandshakeFailures).
  std::function<std::shared_ptr<boost::asio::ssl::context>()> tls;
};

/// Why the server cannot listen where it was told to: a rejected address or a failed socket call.
struct ListenError {
  /// `errc::invalid_argument` for an address that does not parse, else the socket call's error
  /// (e.g. address in use, permission denied).
  boost::system::error_code code;
  /// For the operator: what was wrong with the address (naming it), or which call failed and
  /// why, e.g. `bind: Address already in use`.
  std::string detail;

  [[nodiscard]] const std::string& message() const noexcept { return detail; }
};

/// Lets `result<T, ListenError>::value()` throw: a boost::system::system_error with `code` and
/// `detail`.
[[noreturn]] void throw_exception_from_error(const ListenError& error,
                                             const boost::source_location& location);

/// A small HTTP/1.1 server on Boost.Beast, one coroutine per connection on its own strand (the
/// Beast awaitable example's shape), admitted by a ConnectionBudget under the options' caps.
/// Thread-safe to construct; `Run` is a coroutine that returns when cancelled (the acceptor
/// closes, open connections finish their current request; streaming answers end when their
/// stream function returns).
class HttpServer {
 public:
  /// Binds and listens; `listen` is "HOST:PORT" as ParseListenAddress reads it (port 0 picks a
  /// free one).
  [[nodiscard]] static boost::system::result<HttpServer, ListenError> Bind(
      const boost::asio::any_io_executor& executor, std::string_view listen, HttpHandler handler,
      HttpServerOptions options = {});

  /// The bound endpoint, e.g. to learn the port picked for port 0.
  boost::asio::ip::tcp::endpoint LocalEndpoint() const;

  /// Accepts until cancelled or `Close()`.
  boost::asio::awaitable<void> Run();

  /// Stops accepting; safe from any thread.
  void Close();

  /// TLS handshakes that failed since the start (plain HTTP to a TLS port, a refused or missing
  /// client certificate, no common version or cipher, a timeout). Thread-safe.
  [[nodiscard]] std::uint64_t TlsHandshakeFailures() const;

  /// Replaces the options; they apply to connections accepted from now on (open ones keep
  /// theirs). Safe from any thread.
  void SetOptions(const HttpServerOptions& options);

  struct State;  ///< Implementation detail, shared with the connection coroutines.

 private:
  explicit HttpServer(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

/// A response with the common headers set (Server, Content-Type, keep-alive from the request).
HttpResponse MakeResponse(const HttpRequest& request, boost::beast::http::status status,
                          std::string body,
                          std::string_view content_type = "text/plain; charset=utf-8");

/// Reads "HOST:PORT" or "[V6]:PORT": HOST is an IP literal, `localhost` (127.0.0.1), or empty or
/// `*` (0.0.0.0); PORT is 0..65535. A rejected address's error names the problem and the text.
[[nodiscard]] boost::system::result<boost::asio::ip::tcp::endpoint, ListenError> ParseListenAddress(
    std::string_view listen);

}  // namespace fleetps::collector
