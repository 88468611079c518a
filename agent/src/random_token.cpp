#include "random_token.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace fleetps::agent::detail {

std::string RandomHexToken() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint8_t bytes[16];
  for (std::size_t got = 0; got < sizeof bytes;) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (errno != EINTR) {
      std::abort();  // ENOSYS (kernel < 3.17): no safe source of markers; never in practice
    }
  }
  std::string token;
  token.reserve(2 * sizeof bytes);
  for (std::uint8_t b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 0xf];
  }
  return token;
}

}  // namespace fleetps::agent::detail
