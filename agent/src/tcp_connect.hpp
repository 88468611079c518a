#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace fleetps::agent::detail {

/// Descriptors sessions never take: the last min(64, soft limit / 20) under the soft
/// RLIMIT_NOFILE stay free for the collector itself (the HTTP listener and its clients,
/// known_hosts, logs), so `/metrics` still answers when the fleet needs more descriptors than
/// the limit gives. At most 5% of the limit, so exhaustion still shows as open / max > 0.9.
[[nodiscard]] long ReservedDescriptors(long soft_limit) noexcept;

/// Takes a process-wide slot for one session's connection descriptor: false (the caller fails
/// with `fd_limit`) when the sessions already hold the soft limit minus ReservedDescriptors.
/// Every true must be matched by one ReturnSessionDescriptor. Thread-safe.
[[nodiscard]] bool TakeSessionDescriptor() noexcept;
void ReturnSessionDescriptor() noexcept;

/// Resolves `host` (a name or an IP literal) and connects `socket` to `port`, both before
/// `deadline` expires (the timer is the deadline: callers reuse it for what follows). Asio does
/// both, so nothing blocks the thread (libssh would call getaddrinfo). A non-empty
/// `source_address` (an IP literal, `collector.source_address`) is bound before connecting, and
/// only the host's addresses of its family are tried. Errors (`Errc`): dns (also a resolve that
/// ran out of time), connect_timeout, connect_refused, fd_limit (no descriptor for the socket),
/// internal when the source address cannot be bound (not local, wrong family: `bind_problem`
/// says which, when given); operation_aborted when cancelled.
[[nodiscard]] boost::asio::awaitable<boost::system::error_code> ConnectTcp(
    boost::asio::ip::tcp::socket& socket, boost::asio::steady_timer& deadline,
    const std::string& host, std::uint16_t port, const std::string& source_address = {},
    std::string* bind_problem = nullptr);

}  // namespace fleetps::agent::detail
