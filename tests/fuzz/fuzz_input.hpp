// Shared helpers for the fuzz targets: the first byte picks a variant, the rest is the text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fleetps::fuzz {

struct Input {
  std::uint8_t selector = 0;
  std::string_view text;
};

inline Input Split(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return {};
  return {data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)};
}

}  // namespace fleetps::fuzz
