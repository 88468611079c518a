// The HTTP server's limits and streaming answers, over real loopback connections.
#include "fleetps/collector/http/http_server.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include "fleetps/collector/telemetry/http_connections.hpp"
#include "fleetps/collector/telemetry/internal_errors.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

std::atomic<int> handled{0};

asio::awaitable<void> WriteTwice(HttpStreamWriter& out) {
  const boost::system::error_code ec = co_await out.Write("data: a\n\n");
  if (!ec) (void)co_await out.Write("data: b\n\n");
}

asio::awaitable<void> WriteThenThrow(HttpStreamWriter& out) {
  (void)co_await out.Write("data: a\n\n");
  throw std::runtime_error("stream broke");
}

asio::awaitable<HttpAnswer> Handle(HttpRequest request, HttpPeer peer) {
  ++handled;
  if (request.target() == "/throw") throw std::runtime_error("handler broke");
  if (request.target() == "/hold") {  // a request being handled for a while
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(1500));
    co_await timer.async_wait(asio::use_awaitable);
  }
  if (request.target() == "/stream-throws") {
    HttpAnswer answer(MakeResponse(request, http::status::ok, {}, "text/event-stream"));
    answer.stream = [](HttpStreamWriter& out) { return WriteThenThrow(out); };
    co_return answer;
  }
  if (request.target() == "/stream") {
    HttpAnswer answer(MakeResponse(request, http::status::ok, {}, "text/event-stream"));
    answer.stream = [](HttpStreamWriter& out) { return WriteTwice(out); };
    co_return answer;
  }
  if (request.target() == "/chunked") {  // an answer that ends, written in pieces
    HttpAnswer answer(MakeResponse(request, http::status::ok, {}, "text/plain"));
    answer.chunked = true;
    answer.stream = [](HttpStreamWriter& out) { return WriteTwice(out); };
    co_return answer;
  }
  if (request.target() == "/peer") {
    co_return MakeResponse(request, http::status::ok, peer.address.to_string() + "\n");
  }
  co_return MakeResponse(request, http::status::ok, "hello\n");
}

// A server on 127.0.0.1:0 running on its own thread for the test's lifetime.
class Server {
 public:
  explicit Server(HttpServerOptions options) {
    auto bound = HttpServer::Bind(io_.get_executor(), "127.0.0.1:0", Handle, options);
    EXPECT_TRUE(bound.has_value());
    server_.emplace(std::move(*bound));
    port_ = server_->LocalEndpoint().port();
    asio::co_spawn(io_, server_->Run(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    io_.stop();
    thread_.join();
  }
  unsigned short port() const { return port_; }

 private:
  asio::io_context io_;
  std::optional<HttpServer> server_;
  unsigned short port_ = 0;
  std::thread thread_;
};

// A blocking client socket that gives up reading after 10 s instead of hanging the test;
// connecting from `source` (another 127.0.0.x is another client to the server).
struct Client {
  explicit Client(unsigned short port, std::string_view source = "127.0.0.1") : socket(io) {
    socket.open(tcp::v4());
    socket.bind(tcp::endpoint(asio::ip::make_address(source), 0));
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void Send(std::string_view text) { asio::write(socket, asio::buffer(text)); }
  // Reads until the server closes (or `until` appears); "" when closed at once.
  std::string Read(std::string_view until = {}) {
    std::string out;
    char buffer[4096];
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = socket.read_some(asio::buffer(buffer), ec);
      out.append(buffer, n);
      if (ec) return out;
      if (!until.empty() && out.find(until) != std::string::npos) return out;
    }
  }
  asio::io_context io;
  tcp::socket socket;
};

// Whether the server has closed the connection: true once a read returns end of stream or an
// error, false while it is open (data that arrives meanwhile is dropped). Never blocks.
bool ClosedByServer(Client& client) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(client.socket.native_handle(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) continue;
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

// Polls `done` every 20 ms for up to `limit`; its last answer.
template <class Predicate>
bool Eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// fleetps_http_connections_{refused,evicted,timed_out}_total for one label value.
std::uint64_t ConnectionCount(
    std::vector<std::pair<std::string_view, std::uint64_t>> HttpConnectionCounts::*family,
    std::string_view label) {
  const HttpConnectionCounts counts = HttpConnectionCountsNow();
  for (const auto& [value, count] : counts.*family) {
    if (value == label) return count;
  }
  ADD_FAILURE() << "no counter for " << label;
  return 0;
}

std::uint64_t InternalErrors(std::string_view where) {
  for (const auto& [site, count] : InternalErrorCounts()) {
    if (site == where) return count;
  }
  return 0;
}

TEST(HttpServerTest, OversizedBodyGets413WithoutReachingTheHandler) {
  HttpServerOptions options;
  options.max_request_body = 1024;
  Server server(options);
  handled = 0;
  Client client(server.port());
  client.Send("POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
              std::string(5000, 'a'));
  const std::string answer = client.Read();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413 ")) << answer;
  EXPECT_NE(answer.find("request body too large"), std::string::npos);
  EXPECT_EQ(handled.load(), 0);

  Client small(server.port());
  small.Send(
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
  EXPECT_TRUE(small.Read().starts_with("HTTP/1.1 200 "));
}

TEST(HttpServerTest, HandlerSeesTheClientsAddress) {
  Server server(HttpServerOptions{});
  for (const std::string_view source : {"127.0.0.2", "127.0.0.3"}) {
    Client client(server.port(), source);
    client.Send("GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string answer = client.Read();
    EXPECT_TRUE(answer.ends_with("\r\n\r\n" + std::string(source) + "\n")) << answer;
  }
}

TEST(HttpServerTest, OversizedRequestLineGets414AndOversizedHeadersGet431) {
  Server server(HttpServerOptions{});
  handled = 0;
  Client long_target(server.port());
  long_target.Send("GET /api/v1/processes?q=" + std::string(20 * 1024, 'a') +
                   " HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string answer = long_target.Read();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 414 ")) << answer.substr(0, 200);
  EXPECT_NE(answer.find("request target too long"), std::string::npos);

  Client long_headers(server.port());
  long_headers.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'b') +
                    "\r\n\r\n");
  const std::string headers_answer = long_headers.Read();
  EXPECT_TRUE(headers_answer.starts_with("HTTP/1.1 431 ")) << headers_answer.substr(0, 300);
  EXPECT_EQ(handled.load(), 0);
}

TEST(HttpServerTest, AtTheCapTheLongestIdleConnectionMakesRoomForANewClient) {
  HttpServerOptions options;
  options.max_connections = 2;
  Server server(options);
  const std::uint64_t evicted_before = ConnectionCount(&HttpConnectionCounts::evicted, "idle");
  Client first(server.port());
  Client second(server.port());
  // Both are served (so both hold a slot), then idle between keep-alive requests.
  first.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(first.Read("hello\n").find("hello\n"), std::string::npos);
  second.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(second.Read("hello\n").find("hello\n"), std::string::npos);

  Client third(server.port());
  third.Send("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(third.Read().find("hello\n"), std::string::npos);
  EXPECT_EQ(first.Read(), "") << "the longest idle connection is closed";
  EXPECT_EQ(ConnectionCount(&HttpConnectionCounts::evicted, "idle"), evicted_before + 1);

  second.Send("GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(second.Read().find("hello\n"), std::string::npos) << "the other one is kept";
}

TEST(HttpServerTest, ARequestBeingHandledIsNeverEvictedTheNewcomerGets503) {
  HttpServerOptions options;
  options.max_connections = 1;
  Server server(options);
  const std::uint64_t refused_before =
      ConnectionCount(&HttpConnectionCounts::refused, "server_full");
  handled = 0;
  Client busy(server.port());
  busy.Send("GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(Eventually([] { return handled.load() == 1; }));

  Client newcomer(server.port());
  const std::string refused = newcomer.Read();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 ")) << refused;
  EXPECT_NE(refused.find("Retry-After: 1\r\n"), std::string::npos) << refused;
  EXPECT_TRUE(refused.ends_with("\r\n\r\ntoo many connections\n")) << refused;
  EXPECT_EQ(ConnectionCount(&HttpConnectionCounts::refused, "server_full"), refused_before + 1);

  const std::string answer = busy.Read();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer;
  EXPECT_NE(answer.find("hello\n"), std::string::npos);
}

TEST(HttpServerTest, AClientOverItsShareIsRefusedAnotherAddressIsServed) {
  HttpServerOptions options;
  options.max_connections_per_client = 2;
  Server server(options);
  const std::uint64_t refused_before =
      ConnectionCount(&HttpConnectionCounts::refused, "client_limit");
  Client first(server.port(), "127.0.0.2");
  Client second(server.port(), "127.0.0.2");
  first.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(first.Read("hello\n").find("hello\n"), std::string::npos);
  second.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(second.Read("hello\n").find("hello\n"), std::string::npos);

  Client third(server.port(), "127.0.0.2");
  const std::string refused = third.Read();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 ")) << refused;
  EXPECT_NE(refused.find("Retry-After: 1\r\n"), std::string::npos) << refused;
  EXPECT_TRUE(refused.ends_with("too many connections from your address\n")) << refused;
  EXPECT_EQ(ConnectionCount(&HttpConnectionCounts::refused, "client_limit"), refused_before + 1);

  Client other(server.port(), "127.0.0.3");
  other.Send("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(other.Read().find("hello\n"), std::string::npos);
  first.Send("GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(first.Read().find("hello\n"), std::string::npos) << "the admitted ones are kept";
}

TEST(HttpServerTest, AHeaderDrippedByteByByteIsCutAtTheHeaderDeadline) {
  HttpServerOptions options;
  options.header_timeout = std::chrono::milliseconds(500);
  Server server(options);
  const std::uint64_t header_before = ConnectionCount(&HttpConnectionCounts::timed_out, "header");
  handled = 0;
  Client dripper(server.port());
  dripper.Send("GET / HTTP/1.1\r\n");
  // One header byte every 50 ms: each byte would reset a per-read timeout, never this one.
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    boost::system::error_code ec;
    asio::write(dripper.socket, asio::buffer(std::string_view("X")), ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    closed = ec || ClosedByServer(dripper);
  }
  EXPECT_TRUE(closed) << "still open after 5 s of dripping (deadline 0.5 s)";
  // Counted as the server's read fails, which may be just after the client sees the close.
  EXPECT_TRUE(Eventually([&] {
    return ConnectionCount(&HttpConnectionCounts::timed_out, "header") == header_before + 1;
  }));
  EXPECT_EQ(handled.load(), 0);
}

TEST(HttpServerTest, AHalfSentBodyAndAnIdleKeepAliveAreCutAtTheirDeadlines) {
  HttpServerOptions options;
  options.body_timeout = std::chrono::milliseconds(300);
  options.idle_timeout = std::chrono::milliseconds(300);
  Server server(options);
  const std::uint64_t body_before = ConnectionCount(&HttpConnectionCounts::timed_out, "body");
  const std::uint64_t idle_before = ConnectionCount(&HttpConnectionCounts::timed_out, "idle");
  handled = 0;
  Client half_body(server.port());
  half_body.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234");
  EXPECT_EQ(half_body.Read(), "");
  // Counted as the server's read fails, which may be just after the client sees the close.
  EXPECT_TRUE(Eventually([&] {
    return ConnectionCount(&HttpConnectionCounts::timed_out, "body") == body_before + 1;
  }));
  EXPECT_EQ(handled.load(), 0);

  Client idle(server.port());
  idle.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(idle.Read("hello\n").find("hello\n"), std::string::npos);
  EXPECT_EQ(idle.Read(), "") << "closed after idle_timeout without a next request";
  // Counted as the server's read fails, which may be just after the client sees the close.
  EXPECT_TRUE(Eventually([&] {
    return ConnectionCount(&HttpConnectionCounts::timed_out, "idle") == idle_before + 1;
  }));
}

TEST(HttpServerTest, KeepAliveRequestsInsideTheDeadlinesAreServed) {
  HttpServerOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.idle_timeout = std::chrono::seconds(5);
  Server server(options);
  Client client(server.port());
  // Later requests' header deadlines start at their first byte, not at the accept: the third
  // request starts 1.8 s after it.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    client.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(client.Read("hello\n").find("hello\n"), std::string::npos) << "request " << i;
  }
}

TEST(HttpServerTest, StreamingAnswerIsCloseDelimited) {
  Server server(HttpServerOptions{});
  Client client(server.port());
  client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string answer = client.Read();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer;
  const auto head_end = answer.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  const std::string head = answer.substr(0, head_end);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: close"), std::string::npos) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos);
  EXPECT_EQ(answer.substr(head_end + 4), "data: a\n\ndata: b\n\n");
}

// /metrics streams its answer as it renders it: in chunks, and the connection serves the next
// scrape. An HTTP/1.0 client, which cannot read chunks, gets it close-delimited.
TEST(HttpServerTest, AChunkedStreamKeepsTheConnectionForTheNextRequest) {
  Server server(HttpServerOptions{});
  Client client(server.port());
  const std::string chunked_body = "9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n0\r\n\r\n";
  for (int i = 0; i < 2; ++i) {
    client.Send("GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string answer = client.Read("0\r\n\r\n");
    const auto head_end = answer.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << answer;
    const std::string head = answer.substr(0, head_end);
    EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos) << head;
    EXPECT_EQ(head.find("Connection: close"), std::string::npos) << head;
    EXPECT_EQ(answer.substr(head_end + 4), chunked_body) << "request " << i;
  }
  client.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(client.Read("hello\n").find("hello\n"), std::string::npos);

  Client old(server.port());
  old.Send("GET /chunked HTTP/1.0\r\n\r\n");
  const std::string answer = old.Read();
  ASSERT_NE(answer.find("\r\n\r\n"), std::string::npos) << answer;
  EXPECT_EQ(answer.substr(answer.find("\r\n\r\n") + 4), "data: a\n\ndata: b\n\n");
}

TEST(HttpServerTest, ThrowingHandlersAndStreamsAreAnsweredOrClosedAndCounted) {
  Server server(HttpServerOptions{});
  const std::uint64_t sessions_before = InternalErrors("http_session");
  const std::uint64_t streams_before = InternalErrors("http_stream");
  Client client(server.port());
  client.Send("GET /throw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string answer = client.Read();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 500 ")) << answer;
  EXPECT_NE(answer.find("internal error: handler broke"), std::string::npos) << answer;
  EXPECT_EQ(InternalErrors("http_session"), sessions_before + 1);

  Client streaming(server.port());
  streaming.Send("GET /stream-throws HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(streaming.Read().ends_with("data: a\n\n"));  // then closed
  EXPECT_EQ(InternalErrors("http_stream"), streams_before + 1);
}

TEST(ListenAddressTest, ReadsHostAndPort) {
  const auto v4 = ParseListenAddress("127.0.0.1:9732");
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_EQ(*v4, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 9732));
  EXPECT_EQ(ParseListenAddress("[::1]:0").value(), tcp::endpoint(asio::ip::make_address("::1"), 0));
  EXPECT_EQ(ParseListenAddress(":80").value().address().to_string(), "0.0.0.0");
  EXPECT_EQ(ParseListenAddress("*:80").value().address().to_string(), "0.0.0.0");
  EXPECT_EQ(ParseListenAddress("localhost:80").value().address().to_string(), "127.0.0.1");
}

TEST(ListenAddressTest, RejectionsNameTheProblem) {
  const auto message = [](std::string_view listen) {
    const auto r = ParseListenAddress(listen);
    EXPECT_FALSE(r) << listen;
    if (r) return std::string();
    EXPECT_EQ(r.error().code, boost::system::errc::invalid_argument);
    return r.error().message();
  };
  EXPECT_EQ(message("9732"), "expected HOST:PORT, got \"9732\"");
  EXPECT_EQ(message("0.0.0.0:http"), "bad port \"http\"");
  EXPECT_EQ(message("0.0.0.0:65536"), "bad port \"65536\"");
  EXPECT_EQ(message("0.0.0.0:80x"), "bad port \"80x\"");
  EXPECT_EQ(message("0.0.0.0:"), "bad port \"\"");
  EXPECT_EQ(message("web01:80"), "listen address must be an IP literal, got \"web01\"");
  EXPECT_THROW((void)ParseListenAddress("x").value(), boost::system::system_error);
}

TEST(ListenAddressTest, BindNamesTheFailedCall) {
  asio::io_context io;
  auto first = HttpServer::Bind(io.get_executor(), "127.0.0.1:0", Handle);
  ASSERT_TRUE(first) << first.error().message();
  const std::string taken = "127.0.0.1:" + std::to_string(first->LocalEndpoint().port());
  auto second = HttpServer::Bind(io.get_executor(), taken, Handle);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, boost::system::errc::address_in_use);
  EXPECT_EQ(second.error().message(), "bind: " + second.error().code.message());
  auto bad = HttpServer::Bind(io.get_executor(), "web01:80", Handle);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "listen address must be an IP literal, got \"web01\"");
}

// Lowers the soft RLIMIT_NOFILE for the test's lifetime, so filling the table is quick.
class SmallDescriptorTable {
 public:
  explicit SmallDescriptorTable(rlim_t limit) {
    EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0);
    rlimit small = saved_;
    small.rlim_cur = std::min(saved_.rlim_cur, limit);
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &small), 0);
  }
  ~SmallDescriptorTable() { setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

// Holds every free descriptor of the process until released: the next accept() gets EMFILE.
class DescriptorHog {
 public:
  DescriptorHog() {
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds_.push_back(fd);
  }
  ~DescriptorHog() { Release(); }
  void Release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }
  std::size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
};

// Everything `socket` receives until the server closes it (giving up after 10 s of silence).
std::string ReadToEnd(tcp::socket& socket) {
  timeval tv{10, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string answer;
  char buffer[4096];
  for (boost::system::error_code ec; !ec;) {
    answer.append(buffer, socket.read_some(asio::buffer(buffer), ec));
  }
  return answer;
}

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

TEST(HttpServerTest, AcceptWaitsWhileDescriptorsRunOutAndServesOnceTheyAreBack) {
  SmallDescriptorTable table(256);
  Server server(HttpServerOptions{});
  const std::uint64_t errors_before = InternalErrors("http_accept");
  asio::io_context io;
  tcp::socket client(io);
  client.open(tcp::v4());  // the client's descriptor, taken before the table fills
  DescriptorHog hog;
  ASSERT_GT(hog.size(), 0U);
  // The kernel queues the connection; the server's accept() finds no descriptor for it.
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  asio::write(
      client,
      asio::buffer(std::string_view("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));

  const double cpu_before = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu = ProcessCpuSeconds() - cpu_before;
  EXPECT_LT(cpu, 0.1) << "the accept loop spins while descriptors are exhausted: " << cpu << " s";
  const std::uint64_t errors = InternalErrors("http_accept") - errors_before;
  EXPECT_GE(errors, 1U) << "the failing accept is counted";
  EXPECT_LE(errors, 2U) << "counted at most once a second, not per attempt";

  hog.Release();  // the next retry (at most 1 s away) accepts the waiting connection
  const std::string answer = ReadToEnd(client);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer;
  EXPECT_NE(answer.find("hello\n"), std::string::npos) << answer;
}

TEST(HttpServerTest, OutOfDescriptorsTheLongestIdleConnectionMakesRoomForThePendingOne) {
  SmallDescriptorTable table(256);
  Server server(HttpServerOptions{});
  const std::uint64_t evicted_before = ConnectionCount(&HttpConnectionCounts::evicted, "idle");
  Client idle(server.port());
  idle.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(idle.Read("hello\n").find("hello\n"), std::string::npos);
  asio::io_context io;
  tcp::socket client(io);
  client.open(tcp::v4());
  DescriptorHog hog;  // held until the end: only the idle connection's descriptor can free up
  ASSERT_GT(hog.size(), 0U);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  asio::write(
      client,
      asio::buffer(std::string_view("GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  const std::string answer = ReadToEnd(client);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer;
  EXPECT_EQ(idle.Read(), "") << "the idle connection gave its descriptor";
  EXPECT_EQ(ConnectionCount(&HttpConnectionCounts::evicted, "idle"), evicted_before + 1);
}

}  // namespace
}  // namespace fleetps::collector
