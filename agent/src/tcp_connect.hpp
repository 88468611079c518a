#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace fleetps::agent::detail {

/// Resolves `host` (a name or an IP literal) and connects `socket` to `port`, both before
/// `deadline` expires (the timer is the deadline: callers reuse it for what follows). Asio does
/// both, so nothing blocks the thread (libssh would call getaddrinfo). Errors (`Errc`): dns
/// (also a resolve that ran out of time), connect_timeout, connect_refused; operation_aborted
/// when cancelled.
[[nodiscard]] boost::asio::awaitable<boost::system::error_code> ConnectTcp(
    boost::asio::ip::tcp::socket& socket, boost::asio::steady_timer& deadline,
    const std::string& host, std::uint16_t port);

}  // namespace fleetps::agent::detail
