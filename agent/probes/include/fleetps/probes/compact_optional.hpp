// An optional number in the space of the number: one value of the type is reserved to mean
// "absent". ProcessRow has sixteen optional numbers; std::optional spends 8 bytes of padding on
// each flag, which at 100,000 processes per host is 13 MB of row memory per parse.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <type_traits>

namespace fleetps::probes {

/// The reserved "absent" value per type: NaN for double (never a measurement), the most
/// negative value for signed counts (never a count), the largest value for unsigned ones (an
/// input that parses to exactly UINT64_MAX is therefore treated as absent).
template <class T>
struct AbsentValue;
template <>
struct AbsentValue<double> {
  static constexpr double value = std::numeric_limits<double>::quiet_NaN();
  static bool Is(double v) noexcept { return std::isnan(v); }
};
template <>
struct AbsentValue<std::int64_t> {
  static constexpr std::int64_t value = std::numeric_limits<std::int64_t>::min();
  static constexpr bool Is(std::int64_t v) noexcept { return v == value; }
};
template <>
struct AbsentValue<std::uint64_t> {
  static constexpr std::uint64_t value = std::numeric_limits<std::uint64_t>::max();
  static constexpr bool Is(std::uint64_t v) noexcept { return v == value; }
};

/// The subset of std::optional<T> that process rows use, in sizeof(T) bytes. Storing the
/// reserved value (AbsentValue<T>) makes it absent; reading an absent value through `*` is a
/// precondition violation, as with std::optional.
template <class T>
class CompactOptional {
 public:
  constexpr CompactOptional() noexcept = default;
  constexpr CompactOptional(std::nullopt_t) noexcept {}
  constexpr CompactOptional(T value) noexcept : value_(value) {}
  constexpr CompactOptional(const std::optional<T>& value) noexcept
      : value_(value ? *value : AbsentValue<T>::value) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return !AbsentValue<T>::Is(value_); }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] constexpr T operator*() const noexcept { return value_; }
  [[nodiscard]] constexpr T value_or(T fallback) const noexcept {
    return has_value() ? value_ : fallback;
  }
  constexpr void reset() noexcept { value_ = AbsentValue<T>::value; }
  constexpr operator std::optional<T>() const noexcept {
    return has_value() ? std::optional<T>(value_) : std::nullopt;
  }

  friend constexpr bool operator==(const CompactOptional& a, const CompactOptional& b) noexcept {
    return a.has_value() == b.has_value() && (!a.has_value() || a.value_ == b.value_);
  }
  friend constexpr bool operator==(const CompactOptional& a, std::nullopt_t) noexcept {
    return !a.has_value();
  }
  template <class U>
  requires(std::is_arithmetic_v<U>) friend constexpr bool operator==(const CompactOptional& a,
                                                                     const U& b) noexcept {
    return a.has_value() && a.value_ == b;
  }
  template <class U>
  friend constexpr bool operator==(const CompactOptional& a, const std::optional<U>& b) noexcept {
    return a.has_value() == b.has_value() && (!a.has_value() || a.value_ == *b);
  }
  /// gtest and log output: the value, or "(absent)".
  friend std::ostream& operator<<(std::ostream& out, const CompactOptional& v) {
    return v.has_value() ? out << v.value_ : out << "(absent)";
  }

 private:
  T value_ = AbsentValue<T>::value;
};

static_assert(sizeof(CompactOptional<double>) == 8);
static_assert(sizeof(CompactOptional<std::uint64_t>) == 8);

}  // namespace fleetps::probes
