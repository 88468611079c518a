#pragma once

#include <string>

namespace fleetps::agent::detail {

/// 32 lowercase hex characters (128 bits) from getrandom(2): probe nonces and the shell's
/// per-run framing token. Unpredictable to a remote process, so it cannot forge an end marker.
/// Never fails: getrandom on the urandom pool blocks only before the kernel's pool is seeded
/// (early boot), and is retried on EINTR.
[[nodiscard]] std::string RandomHexToken();

}  // namespace fleetps::agent::detail
