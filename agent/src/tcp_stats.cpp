// Kept apart from every other source: <linux/tcp.h> (which has tcpi_bytes_received) and glibc's
// <netinet/tcp.h> (which does not) cannot be included together.
#include "tcp_stats.hpp"

#if defined(__linux__)
#include <netinet/in.h>  // IPPROTO_TCP
#include <sys/socket.h>
#include <linux/tcp.h>
#endif

namespace fleetps::agent::detail {

std::optional<std::uint64_t> TcpBytesReceived(int fd) noexcept {
#if defined(__linux__)
  tcp_info info{};
  socklen_t size = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return std::nullopt;
  // Kernels before 4.1 return a shorter struct without the field.
  if (size < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
    return std::nullopt;
  }
  return info.tcpi_bytes_received;
#else
  (void)fd;
  return std::nullopt;
#endif
}

}  // namespace fleetps::agent::detail
