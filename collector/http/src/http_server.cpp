#include "fleetps/collector/http/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <exception>
#include <string>

#include <poll.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

#include "fleetps/collector/telemetry/internal_errors.hpp"
#include "fleetps/collector/telemetry/log.hpp"

namespace fleetps::collector {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

struct HttpServer::State {
  State(tcp::acceptor a, HttpHandler h, HttpServerOptions o)
      : acceptor(std::move(a)),
        accept_retry(acceptor.get_executor()),
        handler(std::move(h)),
        options(o) {}
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;  // the pause after a failed accept; Close() cancels it
  HttpHandler handler;
  HttpServerOptions options;
  std::atomic<std::size_t> connections{0};
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

// Sends the head without a length, then lets the stream function write until it returns.
asio::awaitable<void> ServeStream(const HttpServer::State& state, beast::tcp_stream& stream,
                                  HttpAnswer answer) {
  http::response<http::empty_body> head(std::move(answer.response.base()));
  head.erase(http::field::content_length);
  head.erase(http::field::transfer_encoding);
  head.keep_alive(false);
  http::response_serializer<http::empty_body> serializer(head);
  stream.expires_after(state.options.write_timeout);
  auto [ec, written] = co_await http::async_write_header(stream, serializer, kUseTuple);
  if (ec) co_return;
  HttpStreamWriter writer(stream, state.options.write_timeout);
  try {
    co_await answer.stream(writer);
  } catch (const std::exception& e) {
    // The response is under way: the client sees the connection close; the operator sees this.
    RecordInternalError("http_stream", e.what());
  }
}

asio::awaitable<void> ServeConnection(std::shared_ptr<HttpServer::State> state,
                                      tcp::socket socket) {
  boost::system::error_code peer_ec;
  const tcp::endpoint remote = socket.remote_endpoint(peer_ec);
  const HttpPeer peer = peer_ec ? HttpPeer{} : HttpPeer{remote.address(), remote.port()};
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(state->options.max_request_body);
    parser.header_limit(kMaxHeaderBytes);
    stream.expires_after(state->options.read_timeout);
    auto [read_ec, read_bytes] = co_await http::async_read(stream, buffer, parser, kUseTuple);
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
      stream.expires_after(state->options.write_timeout);
      co_await http::async_write(stream, refused, kUseTuple);
      break;
    }
    if (read_ec == http::error::body_limit) {
      HttpRequest partial = parser.release();
      HttpResponse too_large =
          MakeResponse(partial, http::status::payload_too_large, "request body too large\n");
      too_large.keep_alive(false);
      stream.expires_after(state->options.write_timeout);
      co_await http::async_write(stream, too_large, kUseTuple);
      break;
    }
    if (read_ec) break;  // closed, timed out or malformed: nothing useful to answer
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
      co_await ServeStream(*state, stream, std::move(answer));
      break;
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
    stream.expires_after(state->options.write_timeout);
    auto [write_ec, written] = co_await http::async_write(stream, response, kUseTuple);
    if (write_ec || !keep_alive) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

asio::awaitable<boost::system::error_code> HttpStreamWriter::Write(std::string_view data) {
  stream_.expires_after(timeout_);
  auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(data), kUseTuple);
  co_return ec;
}

bool HttpStreamWriter::PeerClosed() const {
  pollfd p{stream_.socket().native_handle(), POLLRDHUP, 0};
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
    auto [ec, socket] = co_await state->acceptor.async_accept(kUseTuple);
    if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) co_return;
    if (ec && OnlyThatConnectionFailed(ec)) continue;
    if (ec) {
      // Out of descriptors or memory: keep serving the connections we have, and wait before
      // trying again instead of spinning on the still-pending connection.
      state->accept_retry.expires_after(failures.Failed(ec, AcceptFailures::Clock::now()));
      auto [wait_ec] = co_await state->accept_retry.async_wait(kUseTuple);
      if (wait_ec) co_return;  // cancelled, or Close()
      continue;
    }
    failures.Succeeded(AcceptFailures::Clock::now());
    if (state->connections.load() >= state->options.max_connections) continue;  // socket closes
    state->connections.fetch_add(1);
    // The executor is read before the socket moves into the coroutine (arguments are unordered).
    const auto executor = socket.get_executor();
    asio::co_spawn(
        executor,
        [state, s = std::move(socket)]() mutable { return ServeConnection(state, std::move(s)); },
        [state](const std::exception_ptr& error) {
          state->connections.fetch_sub(1);
          RecordInternalException("http_session", error);
        });
  }
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
