#include "fleetps/collector/http/http_client.hpp"

#include "base64.hpp"

#include <array>
#include <type_traits>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/system_error.hpp>
#include <boost/url/parse.hpp>

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxBody = 256u << 20;

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct ServerAddress {
  std::string url;  ///< With its scheme: "http://127.0.0.1:9732".
  std::string host, port;
  bool tls = false;  ///< https
};

// "http://HOST:PORT" or "https://HOST:PORT", scheme optional (http); port 80 or 443 when absent.
boost::system::result<ServerAddress, HttpClientError> ParseServer(const std::string& server) {
  const std::string with_scheme =
      server.find("://") == std::string::npos ? "http://" + server : server;
  auto url = boost::urls::parse_uri(with_scheme);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty()) {
    return HttpClientError{
        boost::system::errc::make_error_code(boost::system::errc::invalid_argument),
        "--server must look like http://HOST:PORT or https://HOST:PORT, got \"" + server + "\""};
  }
  const bool tls = url->scheme() == "https";
  return ServerAddress{with_scheme, std::string(url->host()),
                       url->has_port() ? std::string(url->port()) : (tls ? "443" : "80"), tls};
}

// Resolves, connects (with the TLS handshake over https) and writes the GET request; the
// caller then reads the answer from `stream`. The caller sets the deadline.
template <class Stream>
asio::awaitable<boost::system::error_code> SendGet(Stream& stream, const ServerAddress& server,
                                                   const std::string& target,
                                                   std::string_view accept,
                                                   const HttpClientOptions& options) {
  asio::ip::tcp::resolver resolver(stream.get_executor());
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(server.host, server.port, kTuple);
  if (resolve_ec) co_return resolve_ec;
  auto [connect_ec, endpoint] =
      co_await beast::get_lowest_layer(stream).async_connect(endpoints, kTuple);
  if (connect_ec) co_return connect_ec;
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    // SNI, and the certificate must name the host we asked for.
    // SSL_set_tlsext_host_name, without the macro's C cast.
    SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(server.host.c_str()));
    stream.set_verify_callback(asio::ssl::host_name_verification(server.host));
    auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kTuple);
    if (handshake_ec) co_return handshake_ec;
  }
  http::request<http::empty_body> request(options.post ? http::verb::post : http::verb::get, target,
                                          11);
  if (options.post) request.content_length(0);
  request.set(http::field::host, server.host);
  request.set(http::field::user_agent, "fleetps-cli");
  request.set(http::field::accept, accept);
  if (!options.authorization.empty()) {
    request.set(http::field::authorization, options.authorization);
  } else if (!options.user.empty()) {
    request.set(http::field::authorization,
                "Basic " + EncodeBase64(options.user + ":" + options.password));
  }
  for (const auto& [name, value] : options.headers) request.set(name, value);
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  co_return write_ec;
}

// Coroutine parameters by value: the frame outlives the caller's expression. `stream` lives
// until the exchange completes (RunExchange).
template <class Stream>
asio::awaitable<boost::system::error_code> Get(Stream& stream, ServerAddress server,
                                               std::string target,
                                               std::chrono::milliseconds timeout,
                                               HttpClientOptions options, std::size_t max_body,
                                               HttpReply& reply) {
  beast::get_lowest_layer(stream).expires_after(timeout);  // one deadline for the whole exchange
  if (auto ec = co_await SendGet(stream, server, target, "application/json", options)) {
    co_return ec;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (read_ec) co_return read_ec;
  reply.status = parser.get().result_int();
  reply.retry_after = std::string(parser.get()[http::field::retry_after]);
  reply.body = std::move(parser.get().body());
  co_return boost::system::error_code{};
}

template <class Stream>
asio::awaitable<boost::system::error_code> GetStream(
    Stream& stream, ServerAddress server, std::string target, std::chrono::milliseconds idle,
    HttpClientOptions options, const std::function<bool(std::string_view)>& on_data,
    HttpReply& reply) {
  beast::get_lowest_layer(stream).expires_after(idle);
  if (auto ec = co_await SendGet(stream, server, target, "text/event-stream", options)) {
    co_return ec;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // a stream has no length
  beast::get_lowest_layer(stream).expires_after(idle);
  auto [header_ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  if (header_ec) co_return header_ec;
  reply.status = parser.get().result_int();
  reply.retry_after = std::string(parser.get()[http::field::retry_after]);
  std::array<char, 16 * 1024> chunk{};
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    beast::get_lowest_layer(stream).expires_after(idle);
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

// A TLS client context that verifies servers against `options.ca_file` or the system's trust
// store; a CA file that cannot be read is reported in `ca_problem`.
boost::system::error_code SetUpClientTls(asio::ssl::context& tls, const HttpClientOptions& options,
                                         std::string& ca_problem) {
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  tls.set_verify_mode(asio::ssl::verify_peer);
  boost::system::error_code ec;
  if (options.ca_file.empty()) {
    tls.set_default_verify_paths(ec);
  } else if (tls.load_verify_file(options.ca_file, ec); ec) {
    ca_problem = "cannot use --ca-file " + options.ca_file + ": " + ec.message();
  }
  return ec;
}

// Runs `exchange(stream)` on its own io_context, over TLS for an https server, until it
// completes. A CA file that cannot be read is reported in `ca_problem`.
template <class Exchange>
boost::system::error_code RunExchange(const ServerAddress& server, const HttpClientOptions& options,
                                      std::string& ca_problem, Exchange exchange) {
  asio::io_context io;
  boost::system::error_code result;
  const auto done = [&result](std::exception_ptr e, boost::system::error_code ec) {
    result = e ? asio::error::fault : ec;
  };
  if (!server.tls) {
    beast::tcp_stream stream(io);
    asio::co_spawn(io, exchange(stream), done);
    io.run();
    return result;
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  if (const auto ec = SetUpClientTls(tls, options, ca_problem)) return ec;
  TlsStream stream(io, tls);
  asio::co_spawn(io, exchange(stream), done);
  io.run();
  return result;
}

// The reason for a failed exchange, in words.
std::string Describe(const boost::system::error_code& ec, std::string_view timeout_words) {
  if (ec == beast::error::timeout) return std::string(timeout_words);
  if (ec.category() == asio::error::get_ssl_category()) {
    std::string words = "TLS handshake failed: " + ec.message();
    if (ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      words += " (the server's certificate is not trusted: pass its CA with --ca-file)";
    }
    return words;
  }
  return ec.message();
}

}  // namespace

void throw_exception_from_error(const HttpClientError& error, const boost::source_location&) {
  throw boost::system::system_error(error.code, error.message);
}

boost::system::result<HttpReply, HttpClientError> HttpGetStream(
    const std::string& server, const std::string& path_and_query,
    std::chrono::milliseconds idle_timeout, const std::function<bool(std::string_view)>& on_data,
    const HttpClientOptions& options) {
  auto address = ParseServer(server);
  if (!address) return address.error();
  HttpReply reply;
  std::string ca_problem;
  const auto ec = RunExchange(*address, options, ca_problem, [&](auto& stream) {
    return GetStream(stream, *address, path_and_query, idle_timeout, options, on_data, reply);
  });
  if (!ca_problem.empty()) return HttpClientError{ec, ca_problem};
  if (ec) {
    return HttpClientError{ec, "stream from " + server + " ended: " +
                                   Describe(ec, "no data (not even a heartbeat) for too long")};
  }
  return reply;
}

boost::system::result<HttpReply, HttpClientError> HttpGet(const std::string& server,
                                                          const std::string& path_and_query,
                                                          std::chrono::milliseconds timeout,
                                                          const HttpClientOptions& options) {
  auto address = ParseServer(server);
  if (!address) return address.error();
  HttpReply reply;
  std::string ca_problem;
  const auto ec = RunExchange(*address, options, ca_problem, [&](auto& stream) {
    return Get(stream, *address, path_and_query, timeout, options, kMaxBody, reply);
  });
  if (!ca_problem.empty()) return HttpClientError{ec, ca_problem};
  if (ec)
    return HttpClientError{ec, "cannot reach " + address->url + ": " + Describe(ec, "timed out")};
  return reply;
}

asio::awaitable<boost::system::result<HttpReply, HttpClientError>> AsyncHttpGet(
    std::string server, std::string path_and_query, std::chrono::milliseconds timeout,
    HttpClientOptions options, std::size_t max_body) {
  auto address = ParseServer(server);
  if (!address) co_return address.error();
  const auto executor = co_await asio::this_coro::executor;
  HttpReply reply;
  boost::system::error_code ec;
  std::string ca_problem;
  if (!address->tls) {
    beast::tcp_stream stream(executor);
    ec = co_await Get(stream, *address, path_and_query, timeout, options, max_body, reply);
  } else {
    asio::ssl::context tls(asio::ssl::context::tls_client);
    ec = SetUpClientTls(tls, options, ca_problem);
    if (!ec) {
      TlsStream stream(executor, tls);
      ec = co_await Get(stream, *address, path_and_query, timeout, options, max_body, reply);
    }
  }
  if (!ca_problem.empty()) co_return HttpClientError{ec, ca_problem};
  if (ec) {
    co_return HttpClientError{ec,
                              "cannot reach " + address->url + ": " + Describe(ec, "timed out")};
  }
  co_return reply;
}

}  // namespace fleetps::collector
