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

asio::awaitable<boost::system::error_code> ConnectTcp(tcp::socket& socket,
                                                      asio::steady_timer& deadline,
                                                      const std::string& host, std::uint16_t port) {
  tcp::resolver resolver(socket.get_executor());
  auto resolved =
      co_await (resolver.async_resolve(host, std::to_string(port), tcp::resolver::numeric_service,
                                       asio::as_tuple(asio::use_awaitable)) ||
                deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (resolved.index() == 1) co_return make_error_code(Errc::kDns);
  auto [resolve_ec, endpoints] = std::get<0>(std::move(resolved));
  if (resolve_ec == asio::error::operation_aborted) co_return resolve_ec;
  if (resolve_ec || endpoints.empty()) co_return make_error_code(Errc::kDns);

  auto connected =
      co_await (asio::async_connect(socket, endpoints, asio::as_tuple(asio::use_awaitable)) ||
                deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (connected.index() == 1) co_return make_error_code(Errc::kConnectTimeout);
  if (auto ec = std::get<0>(std::get<0>(connected))) {
    if (ec == asio::error::operation_aborted) co_return ec;
    // socket() found no free descriptor: the collector's limit, not the host.
    if (IsOutOfDescriptors(ec)) co_return make_error_code(Errc::kFdLimit);
    co_return make_error_code(Errc::kConnectRefused);
  }
  co_return boost::system::error_code{};
}

}  // namespace fleetps::agent::detail
