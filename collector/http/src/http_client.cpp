#include "fleetps/collector/http/http_client.hpp"

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxBody = 256u << 20;

asio::awaitable<boost::system::error_code> Get(std::string host, std::string port,
                                               std::string target,
                                               std::chrono::milliseconds timeout,
                                               HttpReply& reply) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, port, kTuple);
  if (resolve_ec) co_return resolve_ec;
  beast::tcp_stream stream(executor);
  stream.expires_after(timeout);  // one deadline for the whole exchange
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kTuple);
  if (connect_ec) co_return connect_ec;
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, host);
  request.set(http::field::user_agent, "fleetps-cli");
  request.set(http::field::accept, "application/json");
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  if (write_ec) co_return write_ec;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (read_ec) co_return read_ec;
  reply.status = parser.get().result_int();
  reply.body = std::move(parser.get().body());
  co_return boost::system::error_code{};
}

asio::awaitable<boost::system::error_code> GetStream(
    std::string host, std::string port, std::string target, std::chrono::milliseconds idle,
    const std::function<bool(std::string_view)>& on_data, HttpReply& reply) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, port, kTuple);
  if (resolve_ec) co_return resolve_ec;
  beast::tcp_stream stream(executor);
  stream.expires_after(idle);
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kTuple);
  if (connect_ec) co_return connect_ec;
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, host);
  request.set(http::field::user_agent, "fleetps-cli");
  request.set(http::field::accept, "text/event-stream");
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  if (write_ec) co_return write_ec;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // a stream has no length
  stream.expires_after(idle);
  auto [header_ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  if (header_ec) co_return header_ec;
  reply.status = parser.get().result_int();
  std::array<char, 16 * 1024> chunk{};
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.expires_after(idle);
    // read_some, not read: async_read returns only once the 16 KiB chunk is full, which holds
    // back a trickle of small events indefinitely.
    auto [read_ec, read] = co_await http::async_read_some(stream, buffer, parser, kTuple);
    if (read_ec && read_ec != http::error::need_buffer) co_return read_ec;
    const std::string_view piece(chunk.data(), chunk.size() - parser.get().body().size);
    if (reply.status != 200) {
      if (reply.body.size() < kMaxBody) reply.body.append(piece);
    } else if (!piece.empty() && !on_data(piece)) {
      break;
    }
  }
  co_return boost::system::error_code{};
}

// Splits "http://HOST:PORT" (scheme optional) into host and port.
bool SplitServer(const std::string& server, std::string& host, std::string& port,
                 std::string* problem) {
  const std::string with_scheme =
      server.find("://") == std::string::npos ? "http://" + server : server;
  auto url = boost::urls::parse_uri(with_scheme);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    *problem = "--server must look like http://HOST:PORT, got \"" + server + "\"";
    return false;
  }
  host = std::string(url->host());
  port = url->has_port() ? std::string(url->port()) : "80";
  return true;
}

}  // namespace

boost::system::result<HttpReply> HttpGetStream(const std::string& server,
                                               const std::string& path_and_query,
                                               std::chrono::milliseconds idle_timeout,
                                               const std::function<bool(std::string_view)>& on_data,
                                               std::string* problem) {
  std::string host, port;
  if (!SplitServer(server, host, port, problem)) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  asio::io_context io;
  HttpReply reply;
  boost::system::error_code result;
  asio::co_spawn(io, GetStream(host, port, path_and_query, idle_timeout, on_data, reply),
                 [&result](std::exception_ptr e, boost::system::error_code ec) {
                   result = e ? asio::error::fault : ec;
                 });
  io.run();
  if (result) {
    *problem = "stream from " + server + " ended: " +
               (result == beast::error::timeout ? "no data (not even a heartbeat) for too long" : result.message());
    return result;
  }
  return reply;
}

boost::system::result<HttpReply> HttpGet(const std::string& server,
                                         const std::string& path_and_query,
                                         std::chrono::milliseconds timeout, std::string* problem) {
  const std::string with_scheme =
      server.find("://") == std::string::npos ? "http://" + server : server;
  auto url = boost::urls::parse_uri(with_scheme);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    *problem = "--server must look like http://HOST:PORT, got \"" + server + "\"";
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  const std::string host(url->host());
  const std::string port = url->has_port() ? std::string(url->port()) : "80";
  asio::io_context io;
  HttpReply reply;
  boost::system::error_code result;
  asio::co_spawn(io, Get(host, port, path_and_query, timeout, reply),
                 [&result](std::exception_ptr e, boost::system::error_code ec) {
                   result = e ? asio::error::fault : ec;
                 });
  io.run();
  if (result) {
    *problem = "cannot reach " + with_scheme + ": " + (result == beast::error::timeout ? "timed out" : result.message());
    return result;
  }
  return reply;
}

}  // namespace fleetps::collector
