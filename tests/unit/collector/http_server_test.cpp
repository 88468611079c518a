// The HTTP server's limits and streaming answers, over real loopback connections.
#include "fleetps/collector/http/http_server.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

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

asio::awaitable<HttpAnswer> Handle(HttpRequest request) {
  ++handled;
  if (request.target() == "/stream") {
    HttpAnswer answer(MakeResponse(request, http::status::ok, {}, "text/event-stream"));
    answer.stream = [](HttpStreamWriter& out) { return WriteTwice(out); };
    co_return answer;
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
  explicit Client(unsigned short port) : socket(io) {
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
  small.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
  EXPECT_TRUE(small.Read().starts_with("HTTP/1.1 200 "));
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
  asio::write(third.socket, asio::buffer(std::string_view("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")), ignored);
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

}  // namespace
}  // namespace fleetps::collector
