#include "fleetps/collector/http/http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <poll.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

#include "fleetps/collector/http/connection_budget.hpp"
#include "fleetps/collector/telemetry/http_connections.hpp"
#include "fleetps/collector/telemetry/internal_errors.hpp"
#include "fleetps/collector/telemetry/log.hpp"

namespace fleetps::collector {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {
ConnectionBudget::Limits BudgetLimits(const HttpServerOptions& options) {
  return {options.max_connections, options.max_connections_per_client};
}
}  // namespace

struct HttpServer::State {
  State(tcp::acceptor a, HttpHandler h, const HttpServerOptions& o)
      : acceptor(std::move(a)),
        accept_retry(acceptor.get_executor()),
        handler(std::move(h)),
        budget(std::make_shared<ConnectionBudget>(BudgetLimits(o))),
        options_(o) {}
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;  // the pause after a failed accept; Close() cancels it
  HttpHandler handler;
  std::shared_ptr<ConnectionBudget> budget;  // shared with the leases
  std::atomic<std::uint64_t> tls_handshake_failures{0};

  HttpServerOptions Options() const {
    const std::lock_guard lock(options_mutex_);
    return options_;
  }
  void SetOptions(const HttpServerOptions& options) {
    const std::lock_guard lock(options_mutex_);
    options_ = options;
    budget->SetLimits(BudgetLimits(options));
  }

 private:
  mutable std::mutex options_mutex_;  // SetOptions runs on the reload's thread
  HttpServerOptions options_;
};

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// Request line plus header fields (Beast's default is 8 KiB).
constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

// Accept errors that concern one connection (its peer reset before we took it): the next
// pending connection may be fine, so accept again at once.
bool OnlyThatConnectionFailed(const boost::system::error_code& ec) {
  return ec == asio::error::connection_aborted || ec == asio::error::connection_reset ||
         ec == boost::system::error_code(EPROTO, boost::system::system_category());
}

// The accept loop's reaction to errors that would fail again at once (EMFILE, ENFILE, ENOBUFS,
// ENOMEM, ...): the pending connection stays readable, so retrying at once spins a core. It
// waits 100 ms, doubling to 1 s, until an accept succeeds. Reports are rate-limited, not per
// attempt: one log line when the failure starts or changes and when it ends, and one count
// (fleetps_internal_errors_total{where="http_accept"}) at most once a second while it lasts.
class AcceptFailures {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFirstPause{100};
  static constexpr std::chrono::milliseconds kMaxPause{1'000};
  static constexpr std::chrono::seconds kReportEvery{1};

  // Records a failed accept; returns how long to wait before the next one.
  std::chrono::milliseconds Failed(const boost::system::error_code& ec, Clock::time_point now) {
    const std::string error = ec.message();
    if (attempts_ == 0 || ec != last_error_) {
      Log(LogLevel::kError, "http_accept_failed",
          {{"error", error}, {"retry_in", std::to_string(pause_.count()) + "ms"}});
      if (attempts_ == 0) since_ = now;
    }
    if (attempts_ == 0 || ec != last_error_ || now - last_count_ >= kReportEvery) {
      RecordInternalError("http_accept", error);
      last_count_ = now;
    }
    ++attempts_;
    last_error_ = ec;
    const auto pause = pause_;
    pause_ = std::min(pause_ * 2, kMaxPause);
    return pause;
  }

  // Records a successful accept: ends a failure, if one was under way.
  void Succeeded(Clock::time_point now) {
    if (attempts_ == 0) return;
    const auto lasted = std::chrono::duration_cast<std::chrono::milliseconds>(now - since_);
    Log(LogLevel::kInfo, "http_accept_recovered",
        {{"failed_attempts", std::to_string(attempts_)},
         {"lasted", std::to_string(lasted.count()) + "ms"}});
    attempts_ = 0;
    pause_ = kFirstPause;
  }

 private:
  unsigned attempts_ = 0;  // failed accepts since the last success
  std::chrono::milliseconds pause_ = kFirstPause;
  boost::system::error_code last_error_;
  Clock::time_point since_;       // first failure of the current run
  Clock::time_point last_count_;  // last RecordInternalError
};

// The TCP layer of a plain or TLS stream: deadlines and the socket live there.
template <class Stream>
beast::tcp_stream& TcpLayer(Stream& stream) {
  return beast::get_lowest_layer(stream);
}

// Sends the head, then lets the stream function write until it returns. A chunked answer to an
// HTTP/1.1 request frames each write as a chunk and ends with the last chunk: true when it
// ended cleanly and the client keeps the connection alive. Anything else is close-delimited:
// false, the connection closes.
template <class Stream>
asio::awaitable<bool> ServeStream(const HttpServerOptions& options, Stream& stream,
                                  HttpAnswer answer, bool wants_keep_alive) {
  http::response<http::empty_body> head(std::move(answer.response.base()));
  head.erase(http::field::content_length);
  head.erase(http::field::transfer_encoding);
  const bool chunked = answer.chunked && head.version() == 11;
  head.keep_alive(chunked && wants_keep_alive);
  if (chunked) head.chunked(true);
  http::response_serializer<http::empty_body> serializer(head);
  TcpLayer(stream).expires_after(options.write_timeout);
  auto [ec, written] = co_await http::async_write_header(stream, serializer, kUseTuple);
  if (ec == beast::error::timeout) RecordHttpTimeout(HttpDeadline::kWrite);
  if (ec) co_return false;
  const auto timeout = options.write_timeout;
  bool failed = false;
  auto write =
      [&stream, timeout, &failed](
          std::vector<asio::const_buffer> buffers) -> asio::awaitable<boost::system::error_code> {
    TcpLayer(stream).expires_after(timeout);
    auto [write_ec, n] = co_await asio::async_write(stream, buffers, kUseTuple);
    if (write_ec == beast::error::timeout) RecordHttpTimeout(HttpDeadline::kWrite);
    failed = failed || write_ec;
    co_return write_ec;
  };
  // No braced lists of buffers in these coroutines: GCC 12 miscompiles them ("array used as
  // initializer").
  HttpStreamWriter writer(
      [&write, chunked](std::string_view data) -> asio::awaitable<boost::system::error_code> {
        std::vector<asio::const_buffer> buffers;
        std::string size;
        if (chunked) {
          if (data.empty()) co_return boost::system::error_code{};  // would be the last chunk
          size.resize(16);
          const char* end = std::to_chars(size.data(), size.data() + 16, data.size(), 16).ptr;
          size.resize(static_cast<std::size_t>(end - size.data()));
          size += "\r\n";
          buffers.push_back(asio::buffer(size));
        }
        buffers.push_back(asio::buffer(data));
        if (chunked) buffers.push_back(asio::const_buffer("\r\n", 2));
        co_return co_await write(std::move(buffers));
      },
      TcpLayer(stream).socket().native_handle());
  try {
    co_await answer.stream(writer);
  } catch (const std::exception& e) {
    // The response is under way: the client sees the connection close; the operator sees this.
    RecordInternalError("http_stream", e.what());
    co_return false;
  }
  if (!chunked || failed) co_return false;
  std::vector<asio::const_buffer> last_chunk;
  last_chunk.push_back(asio::const_buffer("0\r\n\r\n", 5));
  const auto last = co_await write(std::move(last_chunk));
  co_return !last && wants_keep_alive;
}

// Reads the next request under the deadlines: the first byte of a later request within
// idle_timeout of the previous response, the headers by `header_deadline` (the first request:
// the accept plus header_timeout; a later one: its first byte plus header_timeout), the body
// within body_timeout of the headers. Each deadline is absolute: bytes trickling in do not
// extend it. A timeout is counted under the deadline that passed.
template <class Stream>
asio::awaitable<boost::system::error_code> ReadRequest(
    const HttpServerOptions& options, Stream& stream, beast::flat_buffer& buffer,
    http::request_parser<http::string_body>& parser, ConnectionBudget::Lease& lease,
    std::optional<ConnectionBudget::Clock::time_point> header_deadline) {
  using Clock = ConnectionBudget::Clock;
  const auto timed_out = [](const boost::system::error_code& ec, HttpDeadline deadline) {
    if (ec == beast::error::timeout) RecordHttpTimeout(deadline);
    return ec;
  };
  if (!header_deadline) {  // keep-alive: idle until the next request starts
    if (buffer.size() == 0) {
      TcpLayer(stream).expires_after(options.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kMaxHeaderBytes), kUseTuple);
      if (ec) co_return timed_out(ec, HttpDeadline::kIdle);
      buffer.commit(n);
    }
    header_deadline = Clock::now() + options.header_timeout;
    lease.Waiting(HttpEviction::kReadingRequest, Clock::now());
  }
  TcpLayer(stream).expires_at(*header_deadline);
  auto [header_ec, header_bytes] =
      co_await http::async_read_header(stream, buffer, parser, kUseTuple);
  if (header_ec) co_return timed_out(header_ec, HttpDeadline::kHeader);
  if (parser.is_done()) co_return boost::system::error_code{};
  TcpLayer(stream).expires_after(options.body_timeout);
  auto [body_ec, body_bytes] = co_await http::async_read(stream, buffer, parser, kUseTuple);
  co_return timed_out(body_ec, HttpDeadline::kBody);
}

// Answers requests on one connection, plain or TLS, until it closes. The stream is shared with
// the eviction request, which runs on this coroutine's strand (the socket's executor) and finds
// the stream gone once the connection has ended.
template <class Stream>
asio::awaitable<void> ServeRequests(const std::shared_ptr<HttpServer::State>& state,
                                    const HttpServerOptions& options,
                                    std::shared_ptr<Stream> shared_stream,
                                    ConnectionBudget::Lease& lease,
                                    ConnectionBudget::Clock::time_point accepted, HttpPeer peer) {
  using Clock = ConnectionBudget::Clock;
  Stream& stream = *shared_stream;
  lease.OnEvict([weak = std::weak_ptr(shared_stream), executor = stream.get_executor()] {
    asio::post(executor, [weak] {
      // The pending read ends (end of stream); the coroutine then closes the connection.
      if (auto evicted = weak.lock()) {
        beast::error_code ignored;
        TcpLayer(*evicted).socket().shutdown(tcp::socket::shutdown_both, ignored);
      }
    });
  });
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_request_body);
    parser.header_limit(kMaxHeaderBytes);
    const auto read_ec = co_await ReadRequest(
        options, stream, buffer, parser, lease,
        first ? std::optional(accepted + options.header_timeout) : std::nullopt);
    if (read_ec == http::error::header_limit) {
      // Answered, not just closed, so the client learns why: 414 while the request line itself
      // has not fit (a huge query string), else 431. The parser has the target once the
      // request line is complete.
      const bool long_target = parser.get().target().empty();
      HttpResponse refused(
          long_target ? http::status::uri_too_long : http::status::request_header_fields_too_large,
          11);
      refused.set(http::field::content_type, "text/plain; charset=utf-8");
      refused.body() =
          long_target ? "request target too long\n" : "request header fields too large\n";
      refused.keep_alive(false);
      refused.prepare_payload();
      TcpLayer(stream).expires_after(options.write_timeout);
      co_await http::async_write(stream, refused, kUseTuple);
      break;
    }
    if (read_ec == http::error::body_limit) {
      HttpRequest partial = parser.release();
      HttpResponse too_large =
          MakeResponse(partial, http::status::payload_too_large, "request body too large\n");
      too_large.keep_alive(false);
      TcpLayer(stream).expires_after(options.write_timeout);
      co_await http::async_write(stream, too_large, kUseTuple);
      break;
    }
    if (read_ec) break;        // closed, timed out, evicted or malformed: nothing useful to answer
    if (!lease.Busy()) break;  // evicted just as the request completed: its slot is gone
    HttpRequest request = parser.release();
    const unsigned version = request.version();
    const bool wants_keep_alive = request.keep_alive();
    HttpAnswer answer;
    std::string failure;
    try {
      answer = co_await state->handler(std::move(request), peer);
    } catch (const std::exception& e) {
      failure = e.what();
      RecordInternalError("http_session", failure);
    }
    if (failure.empty() && answer.stream) {
      if (!co_await ServeStream(options, stream, std::move(answer), wants_keep_alive)) break;
      lease.Waiting(HttpEviction::kIdle, Clock::now());
      continue;
    }
    HttpResponse response = std::move(answer.response);
    if (!failure.empty()) {
      response = HttpResponse(http::status::internal_server_error, version);
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      response.keep_alive(wants_keep_alive);
      response.body() = "internal error: " + failure + "\n";
    }
    response.prepare_payload();
    const bool keep_alive = response.keep_alive();
    TcpLayer(stream).expires_after(options.write_timeout);
    auto [write_ec, written] = co_await http::async_write(stream, response, kUseTuple);
    if (write_ec == beast::error::timeout) RecordHttpTimeout(HttpDeadline::kWrite);
    if (write_ec || !keep_alive) break;
    lease.Waiting(HttpEviction::kIdle, Clock::now());
  }
}

// On a TLS port, a client that speaks plain HTTP (its first byte is a letter, where TLS starts
// with 0x16) gets a 400 saying so, as Go's net/http does, instead of a bare close. True when
// it did. Waits for the first byte until `deadline` at most.
asio::awaitable<bool> AnswerPlainHttp(const HttpServerOptions& options, tcp::socket& socket,
                                      ConnectionBudget::Clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket.get_executor(), deadline);
  const auto readable = co_await (socket.async_wait(tcp::socket::wait_read, kUseTuple) ||
                                  timer.async_wait(kUseTuple));
  // Timed out or failed: the handshake will fail on its own.
  if (readable.index() != 0 || std::get<0>(std::get<0>(readable))) co_return false;
  char first = 0;
  boost::system::error_code peek_ec;
  const std::size_t peeked =
      socket.receive(asio::buffer(&first, 1), tcp::socket::message_peek, peek_ec);
  if (peek_ec || peeked == 0 || !std::isalpha(static_cast<unsigned char>(first))) co_return false;
  HttpResponse refused(http::status::bad_request, 11);
  refused.set(http::field::server, "fleetps");
  refused.set(http::field::content_type, "text/plain; charset=utf-8");
  refused.keep_alive(false);
  refused.body() = "this port serves HTTPS: use https:// to reach it\n";
  refused.prepare_payload();
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(options.write_timeout);
  co_await http::async_write(stream, refused, kUseTuple);
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  co_return true;
}

asio::awaitable<void> ServeConnection(std::shared_ptr<HttpServer::State> state, tcp::socket socket,
                                      ConnectionBudget::Lease admitted, HttpPeer peer) {
  using Clock = ConnectionBudget::Clock;
  const auto accepted = Clock::now();
  const HttpServerOptions options = state->Options();
  // Outlives the streams: a connection holds its slot until its socket has closed.
  ConnectionBudget::Lease lease = std::move(admitted);
  lease.Waiting(HttpEviction::kReadingRequest, accepted);
  // Held for the connection's life: a reload may replace the provider's context meanwhile.
  const std::shared_ptr<asio::ssl::context> tls = options.tls ? options.tls() : nullptr;
  beast::error_code ignored;
  if (!tls) {
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    co_await ServeRequests(state, options, stream, lease, accepted, peer);
    stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_return;
  }
  // The handshake counts against the first request's header deadline, and the connection stays
  // evictable meanwhile, so a client that opens TLS and stalls is treated like a slow header.
  const auto header_deadline = accepted + options.header_timeout;
  if (co_await AnswerPlainHttp(options, socket, header_deadline)) {
    state->tls_handshake_failures.fetch_add(1);
    co_return;
  }
  auto stream = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), *tls);
  TcpLayer(*stream).expires_at(header_deadline);
  auto [handshake_ec] = co_await stream->async_handshake(asio::ssl::stream_base::server, kUseTuple);
  if (handshake_ec) {
    // Not logged per connection (a port scan would flood the log): counted.
    state->tls_handshake_failures.fetch_add(1);
    co_return;
  }
  co_await ServeRequests(state, options, stream, lease, accepted, peer);
  // close_notify, so the client can tell the end of a close-delimited answer from a cut; a
  // client that never answers it costs at most a second.
  TcpLayer(*stream).expires_after(std::chrono::seconds(1));
  co_await stream->async_shutdown(kUseTuple);
  TcpLayer(*stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// Answers a connection the budget refused and closes it, without waiting: one non-blocking
// write of a 503 into the fresh socket's empty send buffer (a close if even that fails). What
// the client already sent is read and dropped first, so the close does not reset the answer
// away.
void Refuse(tcp::socket& socket, HttpRefusal why) {
  const auto answer = [](std::string_view body) {
    return "HTTP/1.1 503 Service Unavailable\r\nServer: fleetps\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"
           "Connection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  };
  static const std::string kClientLimit = answer("too many connections from your address\n");
  static const std::string kServerFull = answer("too many connections\n");
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  if (ec) return;
  std::array<char, 4096> discard{};
  (void)socket.read_some(asio::buffer(discard), ec);
  (void)socket.write_some(
      asio::buffer(why == HttpRefusal::kClientLimit ? kClientLimit : kServerFull), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace

asio::awaitable<boost::system::error_code> HttpStreamWriter::Write(std::string_view data) {
  return write_(data);
}

bool HttpStreamWriter::PeerClosed() const {
  pollfd p{socket_, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

HttpServer::HttpServer(std::shared_ptr<State> state) : state_(std::move(state)) {}

void throw_exception_from_error(const ListenError& error, const boost::source_location& location) {
  boost::throw_exception(boost::system::system_error(error.code, error.detail), location);
}

boost::system::result<HttpServer, ListenError> HttpServer::Bind(
    const asio::any_io_executor& executor, std::string_view listen, HttpHandler handler,
    HttpServerOptions options) {
  auto endpoint = ParseListenAddress(listen);
  if (!endpoint) return endpoint.error();
  const auto failed = [](std::string_view call, const boost::system::error_code& ec) {
    return ListenError{ec, std::string(call) + ": " + ec.message()};
  };
  tcp::acceptor acceptor(executor);
  boost::system::error_code ec;
  if (acceptor.open(endpoint->protocol(), ec); ec) return failed("socket", ec);
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return failed("setsockopt", ec);
  }
  if (acceptor.bind(*endpoint, ec); ec) return failed("bind", ec);
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return failed("listen", ec);
  }
  return HttpServer(std::make_shared<State>(std::move(acceptor), std::move(handler), options));
}

tcp::endpoint HttpServer::LocalEndpoint() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

asio::awaitable<void> HttpServer::Run() {
  auto state = state_;
  AcceptFailures failures;
  for (;;) {
    // Each connection's socket, deadlines and eviction run on its own strand.
    auto [ec, accepted] = co_await state->acceptor.async_accept(
        asio::make_strand(state->acceptor.get_executor()), kUseTuple);
    if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) co_return;
    if (ec && OnlyThatConnectionFailed(ec)) continue;
    if (ec) {
      // Out of descriptors or memory: keep serving the connections we have, and wait before
      // trying again instead of spinning on the still-pending connection. Out of descriptors,
      // the connection waiting longest without a request gives its descriptor to the pending
      // one (perhaps a scrape).
      if (ec == boost::system::errc::too_many_files_open ||
          ec == boost::system::errc::too_many_files_open_in_system) {
        (void)state->budget->EvictLongestWaiting();
      }
      state->accept_retry.expires_after(failures.Failed(ec, AcceptFailures::Clock::now()));
      auto [wait_ec] = co_await state->accept_retry.async_wait(kUseTuple);
      if (wait_ec) co_return;  // cancelled, or Close()
      continue;
    }
    failures.Succeeded(AcceptFailures::Clock::now());
    tcp::socket socket(std::move(accepted));  // its executor is still the strand
    boost::system::error_code peer_ec;
    const tcp::endpoint peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;  // already gone
    auto lease = state->budget->Admit(peer.address());
    if (!lease) {
      Refuse(socket, lease.error());
      continue;
    }
    // The executor is read before the socket moves into the coroutine (arguments are unordered).
    const auto executor = socket.get_executor();
    asio::co_spawn(
        executor,
        [state, s = std::move(socket), l = std::move(*lease),
         client = HttpPeer{peer.address(), peer.port()}]() mutable {
          return ServeConnection(state, std::move(s), std::move(l), std::move(client));
        },
        [](const std::exception_ptr& error) { RecordInternalException("http_session", error); });
  }
}

void HttpServer::SetOptions(const HttpServerOptions& options) { state_->SetOptions(options); }

std::uint64_t HttpServer::TlsHandshakeFailures() const {
  return state_->tls_handshake_failures.load();
}

void HttpServer::Close() {
  asio::post(state_->acceptor.get_executor(), [state = state_] {
    boost::system::error_code ignored;
    state->acceptor.close(ignored);
    state->accept_retry.cancel();
  });
}

HttpResponse MakeResponse(const HttpRequest& request, http::status status, std::string body,
                          std::string_view content_type) {
  HttpResponse response(status, request.version());
  response.set(http::field::server, "fleetps");
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

boost::system::result<tcp::endpoint, ListenError> ParseListenAddress(std::string_view listen) {
  const auto rejected = [](std::string why) {
    return ListenError{make_error_code(boost::system::errc::invalid_argument), std::move(why)};
  };
  const auto quoted = [](std::string_view text) { return "\"" + std::string(text) + "\""; };
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos) return rejected("expected HOST:PORT, got " + quoted(listen));
  std::string_view host = listen.substr(0, colon);
  const std::string_view port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const auto [end, parse_error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (parse_error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return rejected("bad port " + quoted(port_text));
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return rejected("listen address must be an IP literal, got " + quoted(host));
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace fleetps::collector
