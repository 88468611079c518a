#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace fleetps::config {

/// A parsed duration, or why it could not be parsed.
struct DurationResult {
  std::chrono::milliseconds value{0};
  std::string error;  ///< Empty on success.
  [[nodiscard]] bool ok() const { return error.empty(); }
};

/// A parsed byte size, or why it could not be parsed.
struct SizeResult {
  std::uint64_t value = 0;
  std::string error;  ///< Empty on success.
  [[nodiscard]] bool ok() const { return error.empty(); }
};

/// Parses a Prometheus-style duration: one or more `<integer><unit>` terms with units in
/// decreasing order, each at most once: `500ms`, `15s`, `2m`, `1h`, `1m30s`, `1d`, `1w`.
/// Units: ms, s, m, h, d (24h), w (7d). A bare `0` means zero; any other bare number is an
/// error (seconds or milliseconds would be a guess). No sign, no fractions, no spaces.
[[nodiscard]] DurationResult ParseDuration(std::string_view text);

/// Parses a byte size: a bare integer (bytes) or an integer followed by a unit:
/// B; KiB, MiB, GiB, TiB (powers of 1024); KB (or kB), MB, GB, TB (powers of 1000).
/// Overflow past 2^64-1 is an error.
[[nodiscard]] SizeResult ParseSize(std::string_view text);

/// Formats a duration in the shortest form ParseDuration reads back: `1m30s`, `500ms`, `0s`.
[[nodiscard]] std::string FormatDuration(std::chrono::milliseconds value);

/// Formats a size with the largest binary unit that divides it exactly: `4MiB`, `1000`.
[[nodiscard]] std::string FormatSize(std::uint64_t bytes);

}  // namespace fleetps::config
