#pragma once

#include <cstdint>
#include <optional>

namespace fleetps::agent::detail {

/// Payload bytes the kernel has received on TCP socket `fd` (Linux `TCP_INFO`
/// tcpi_bytes_received), or nullopt where the platform does not say. Counts bytes the
/// application has not read yet, so it shows whether the peer sent anything at all.
[[nodiscard]] std::optional<std::uint64_t> TcpBytesReceived(int fd) noexcept;

}  // namespace fleetps::agent::detail
