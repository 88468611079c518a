// The HTTP server's limits and streaming answers, over real loopback connections.
#include "fleetps/collector/http/http_server.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include "fleetps/collector/telemetry/internal_errors.hpp"

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

// A blocking client socket that gives up reading after 10 s instead of hanging the test.
struct Client {
  // From `source` (a loopback address) when given, else from whatever the kernel picks.
  explicit Client(unsigned short port, std::string_view source = {}) : socket(io) {
    if (!source.empty()) {
      socket.open(tcp::v4());
      socket.bind(tcp::endpoint(asio::ip::make_address(source), 0));
    }
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

TEST(HttpServerTest, ConnectionsBeyondTheCapAreClosedAndTheOthersStillServed) {
  HttpServerOptions options;
  options.max_connections = 2;
  Server server(options);
  Client first(server.port());
  Client second(server.port());
  // Both are served (so both are counted) before the third connects.
  first.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(first.Read("hello\n").find("hello\n"), std::string::npos);
  second.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(second.Read("hello\n").find("hello\n"), std::string::npos);

  Client third(server.port());
  boost::system::error_code ignored;
  asio::write(third.socket, asio::buffer(std::string_view("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")),
              ignored);
  EXPECT_EQ(third.Read(), "");  // closed without an answer

  first.Send("GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(first.Read().find("hello\n"), std::string::npos);
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
  timeval tv{10, 0};
  setsockopt(client.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string answer;
  char buffer[4096];
  for (boost::system::error_code ec; !ec;) {
    answer.append(buffer, client.read_some(asio::buffer(buffer), ec));
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer;
  EXPECT_NE(answer.find("hello\n"), std::string::npos) << answer;
}

}  // namespace
}  // namespace fleetps::collector
