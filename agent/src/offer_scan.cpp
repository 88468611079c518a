// ScanServerOffer: the server's algorithm lists, read from its first (clear-text) packet.
#include <array>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "fleetps/agent/ssh_session.hpp"
#include "tcp_connect.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

// RFC 4253 §6.1: implementations should accept packets up to 35000 bytes.
constexpr std::size_t kMaxPacket = 35000;
// §4.2: a server may send lines before its banner; bound how much of that we read.
constexpr std::size_t kMaxPreamble = 8192;

}  // namespace

asio::awaitable<boost::system::result<ServerOffer>> ScanServerOffer(const config::HostSpec& spec,
                                                                    Clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  const std::string& host = spec.address.empty() ? spec.name : spec.address;
  asio::steady_timer timer(ex, deadline);
  tcp::socket socket(ex);
  const boost::system::error_code connect_ec =
      co_await detail::ConnectTcp(socket, timer, host, spec.port, spec.source_address);
  if (connect_ec) co_return connect_ec;

  // Reads exactly n more bytes into `buffer`, within the deadline.
  std::vector<std::uint8_t> buffer;
  auto read_more = [&](std::size_t n) -> asio::awaitable<boost::system::error_code> {
    const std::size_t old = buffer.size();
    buffer.resize(old + n);
    auto got = co_await (asio::async_read(socket, asio::buffer(buffer.data() + old, n),
                                          asio::as_tuple(asio::use_awaitable)) ||
                         timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (got.index() == 1) co_return make_error_code(Errc::kTimeout);
    if (std::get<0>(std::get<0>(got))) co_return make_error_code(Errc::kDisconnected);
    co_return boost::system::error_code{};
  };

  static constexpr std::string_view kBanner = "SSH-2.0-fleetps_keyscan\r\n";
  auto sent = co_await (asio::async_write(socket, asio::buffer(kBanner.data(), kBanner.size()),
                                          asio::as_tuple(asio::use_awaitable)) ||
                        timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (sent.index() == 1) co_return make_error_code(Errc::kTimeout);
  if (std::get<0>(std::get<0>(sent))) co_return make_error_code(Errc::kDisconnected);

  // Lines up to and including the one starting "SSH-", byte by byte (the packet follows it).
  ServerOffer offer;
  std::string line;
  while (offer.banner.empty()) {
    if (buffer.size() > kMaxPreamble) co_return make_error_code(Errc::kDisconnected);
    auto ec = co_await read_more(1);
    if (ec == Errc::kTimeout) co_return make_error_code(Errc::kBannerTimeout);
    if (ec) co_return ec;
    const char c = static_cast<char>(buffer.back());
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with("SSH-")) {
      if (!line.starts_with("SSH-2.0-") && !line.starts_with("SSH-1.99-")) {
        co_return make_error_code(Errc::kDisconnected);  // SSH-1 only
      }
      offer.banner = line;
    }
    line.clear();
  }

  // Binary packet: uint32 length, byte padding length, payload, padding (no MAC yet).
  buffer.clear();
  if (auto ec = co_await read_more(5)) co_return ec;
  const std::size_t length = (std::size_t{buffer[0]} << 24) | (std::size_t{buffer[1]} << 16) |
                             (std::size_t{buffer[2]} << 8) | std::size_t{buffer[3]};
  const std::size_t padding = buffer[4];
  if (length < padding + 1 || length > kMaxPacket) co_return make_error_code(Errc::kDisconnected);
  if (auto ec = co_await read_more(length - 1)) co_return ec;
  const std::span<const std::uint8_t> payload(buffer.data() + 5, length - 1 - padding);
  auto parsed = ParseKexInit(payload);
  if (!parsed) co_return make_error_code(Errc::kDisconnected);
  parsed->banner = std::move(offer.banner);
  boost::system::error_code ignored;
  socket.close(ignored);
  co_return std::move(*parsed);
}

}  // namespace fleetps::agent
