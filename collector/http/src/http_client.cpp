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
#include <boost/system/system_error.hpp>
#include <boost/url/parse.hpp>

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxBody = 256u << 20;

struct ServerAddress {
  std::string url;  ///< With its scheme: "http://127.0.0.1:9732".
  std::string host, port;
};

// "http://HOST:PORT", scheme optional; port 80 when absent.
boost::system::result<ServerAddress, HttpClientError> ParseServer(const std::string& server) {
  const std::string with_scheme =
      server.find("://") == std::string::npos ? "http://" + server : server;
  auto url = boost::urls::parse_uri(with_scheme);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    return HttpClientError{
        boost::system::errc::make_error_code(boost::system::errc::invalid_argument),
        "--server must look like http://HOST:PORT, got \"" + server + "\""};
  }
  return ServerAddress{with_scheme, std::string(url->host()),
                       url->has_port() ? std::string(url->port()) : "80"};
}

// Resolves, connects and writes the GET request; the caller then reads the answer from
// `stream`. The caller sets the deadline.
asio::awaitable<boost::system::error_code> SendGet(beast::tcp_stream& stream,
                                                   const ServerAddress& server,
                                                   const std::string& target,
                                                   std::string_view accept) {
  asio::ip::tcp::resolver resolver(stream.get_executor());
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(server.host, server.port, kTuple);
  if (resolve_ec) co_return resolve_ec;
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kTuple);
  if (connect_ec) co_return connect_ec;
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, server.host);
  request.set(http::field::user_agent, "fleetps-cli");
  request.set(http::field::accept, accept);
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  co_return write_ec;
}

// Coroutine parameters by value: the frame outlives the caller's expression.
asio::awaitable<boost::system::error_code> Get(ServerAddress server, std::string target,
                                               std::chrono::milliseconds timeout,
                                               HttpReply& reply) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);  // one deadline for the whole exchange
  if (auto ec = co_await SendGet(stream, server, target, "application/json")) co_return ec;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (read_ec) co_return read_ec;
  reply.status = parser.get().result_int();
  reply.retry_after = std::string(parser.get()[http::field::retry_after]);
  reply.body = std::move(parser.get().body());
  co_return boost::system::error_code{};
}

asio::awaitable<boost::system::error_code> GetStream(
    ServerAddress server, std::string target, std::chrono::milliseconds idle,
    const std::function<bool(std::string_view)>& on_data, HttpReply& reply) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(idle);
  if (auto ec = co_await SendGet(stream, server, target, "text/event-stream")) co_return ec;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // a stream has no length
  stream.expires_after(idle);
  auto [header_ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  if (header_ec) co_return header_ec;
  reply.status = parser.get().result_int();
  reply.retry_after = std::string(parser.get()[http::field::retry_after]);
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

// Runs one exchange on its own io_context until it completes.
boost::system::error_code RunExchange(asio::awaitable<boost::system::error_code> exchange) {
  asio::io_context io;
  boost::system::error_code result;
  asio::co_spawn(io, std::move(exchange),
                 [&result](std::exception_ptr e, boost::system::error_code ec) {
                   result = e ? asio::error::fault : ec;
                 });
  io.run();
  return result;
}

}  // namespace

void throw_exception_from_error(const HttpClientError& error, const boost::source_location&) {
  throw boost::system::system_error(error.code, error.message);
}

boost::system::result<HttpReply, HttpClientError> HttpGetStream(
    const std::string& server, const std::string& path_and_query,
    std::chrono::milliseconds idle_timeout, const std::function<bool(std::string_view)>& on_data) {
  auto address = ParseServer(server);
  if (!address) return address.error();
  HttpReply reply;
  if (const auto ec =
          RunExchange(GetStream(*address, path_and_query, idle_timeout, on_data, reply))) {
    return HttpClientError{
        ec, "stream from " + server + " ended: " +
                (ec == beast::error::timeout ? "no data (not even a heartbeat) for too long"
                                             : ec.message())};
  }
  return reply;
}

boost::system::result<HttpReply, HttpClientError> HttpGet(const std::string& server,
                                                          const std::string& path_and_query,
                                                          std::chrono::milliseconds timeout) {
  auto address = ParseServer(server);
  if (!address) return address.error();
  HttpReply reply;
  if (const auto ec = RunExchange(Get(*address, path_and_query, timeout, reply))) {
    return HttpClientError{ec, "cannot reach " + address->url + ": " +
                                   (ec == beast::error::timeout ? "timed out" : ec.message())};
  }
  return reply;
}

}  // namespace fleetps::collector
