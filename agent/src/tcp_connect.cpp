#include "tcp_connect.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <limits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/agent/errors.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::agent::detail {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using tcp = asio::ip::tcp;

namespace {
std::atomic<long> session_descriptors{0};
}  // namespace

long ReservedDescriptors(long soft_limit) noexcept { return std::min(64L, soft_limit / 20); }

bool TakeSessionDescriptor() noexcept {
  rlimit limit{};
  long cap = std::numeric_limits<long>::max();
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    const auto soft = static_cast<long>(limit.rlim_cur);
    cap = soft - ReservedDescriptors(soft);
  }
  if (session_descriptors.fetch_add(1) >= cap) {
    session_descriptors.fetch_sub(1);
    return false;
  }
  return true;
}

void ReturnSessionDescriptor() noexcept { session_descriptors.fetch_sub(1); }

namespace {

// The connect's own failure, as a reason.
boost::system::error_code ConnectFailure(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted) return ec;
  // socket() found no free descriptor: the collector's limit, not the host.
  if (IsOutOfDescriptors(ec)) return make_error_code(Errc::kFdLimit);
  return make_error_code(Errc::kConnectRefused);
}

}  // namespace

asio::awaitable<boost::system::error_code> ConnectTcp(tcp::socket& socket,
                                                      asio::steady_timer& deadline,
                                                      const std::string& host, std::uint16_t port,
                                                      const std::string& source_address,
                                                      std::string* bind_problem) {
  tcp::resolver resolver(socket.get_executor());
  auto resolved =
      co_await (resolver.async_resolve(host, std::to_string(port), tcp::resolver::numeric_service,
                                       asio::as_tuple(asio::use_awaitable)) ||
                deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (resolved.index() == 1) co_return make_error_code(Errc::kDns);
  auto [resolve_ec, endpoints] = std::get<0>(std::move(resolved));
  if (resolve_ec == asio::error::operation_aborted) co_return resolve_ec;
  if (resolve_ec || endpoints.empty()) co_return make_error_code(Errc::kDns);

  if (source_address.empty()) {
    auto connected =
        co_await (asio::async_connect(socket, endpoints, asio::as_tuple(asio::use_awaitable)) ||
                  deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (connected.index() == 1) co_return make_error_code(Errc::kConnectTimeout);
    if (auto ec = std::get<0>(std::get<0>(connected))) co_return ConnectFailure(ec);
    co_return boost::system::error_code{};
  }

  // Bound connections: async_connect would reopen the socket per endpoint, dropping the bind,
  // so each endpoint of the source's family gets its own bound socket.
  auto report = [&](std::string text) {
    if (bind_problem != nullptr) *bind_problem = std::move(text);
    return make_error_code(Errc::kInternal);
  };
  boost::system::error_code parse_ec;
  const asio::ip::address source = asio::ip::make_address(source_address, parse_ec);
  if (parse_ec) co_return report("source address " + source_address + " is not an IP address");
  const tcp::endpoint local(source, 0);
  boost::system::error_code last = make_error_code(Errc::kConnectRefused);
  bool tried = false;
  for (const auto& entry : endpoints) {
    const tcp::endpoint remote = entry.endpoint();
    if (remote.protocol() != local.protocol()) continue;
    tried = true;
    boost::system::error_code ec;
    socket.close(ec);
    socket.open(local.protocol(), ec);
    if (ec) co_return ConnectFailure(ec);
    socket.bind(local, ec);
    if (ec) {
      std::string text = "cannot bind the SSH connection to source address ";
      text += source_address;
      text += ": ";
      text += ec.message();
      co_return report(std::move(text));
    }
    auto connected = co_await (socket.async_connect(remote, asio::as_tuple(asio::use_awaitable)) ||
                               deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (connected.index() == 1) co_return make_error_code(Errc::kConnectTimeout);
    const auto [connect_ec] = std::get<0>(connected);
    if (!connect_ec) co_return boost::system::error_code{};
    last = ConnectFailure(connect_ec);
    if (last == asio::error::operation_aborted) co_return last;
  }
  if (!tried) {
    std::string text = "source address ";
    text += source_address;
    text += " cannot reach ";
    text += host;
    text += ": it resolves to no address of the same family";
    co_return report(std::move(text));
  }
  co_return last;
}

}  // namespace fleetps::agent::detail
