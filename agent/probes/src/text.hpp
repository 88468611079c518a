// Small string_view helpers shared by the parsers. Hot-path code: no allocation, no regex.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

namespace fleetps::probes::detail {

inline bool IsSpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
inline bool IsDigit(char c) noexcept { return c >= '0' && c <= '9'; }

/// Iterates lines; the last line may lack '\n'. A trailing CR is removed (CRLF outputs).
class LineReader {
 public:
  explicit LineReader(std::string_view text) noexcept : text_(text) {}

  /// Next line without its terminator; false at the end. `had_newline` tells whether the line
  /// was complete.
  bool Next(std::string_view& line, bool* had_newline = nullptr) noexcept {
    if (pos_ >= text_.size()) return false;
    const char* begin = text_.data() + pos_;
    const std::size_t left = text_.size() - pos_;
    const void* nl = std::memchr(begin, '\n', left);
    std::size_t len;
    bool complete;
    if (nl != nullptr) {
      len = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
      pos_ += len + 1;
      complete = true;
    } else {
      len = left;
      pos_ = text_.size();
      complete = false;
    }
    if (len > 0 && begin[len - 1] == '\r') --len;
    line = std::string_view(begin, len);
    if (had_newline != nullptr) *had_newline = complete;
    return true;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

inline std::string_view TrimLeft(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) ++i;
  return s.substr(i);
}

inline std::string_view TrimRight(std::string_view s) noexcept {
  std::size_t n = s.size();
  while (n > 0 && IsSpace(s[n - 1])) --n;
  return s.substr(0, n);
}

inline std::string_view Trim(std::string_view s) noexcept { return TrimRight(TrimLeft(s)); }

/// Pops the next whitespace-separated token from `rest`; empty when none is left.
inline std::string_view NextToken(std::string_view& rest) noexcept {
  rest = TrimLeft(rest);
  std::size_t i = 0;
  while (i < rest.size() && !IsSpace(rest[i])) ++i;
  std::string_view token = rest.substr(0, i);
  rest.remove_prefix(i);
  return token;
}

template <class Int>
std::optional<Int> ParseInt(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  Int value{};
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

inline std::optional<std::int64_t> ParseI64(std::string_view s) noexcept {
  return ParseInt<std::int64_t>(s);
}
inline std::optional<std::uint64_t> ParseU64(std::string_view s) noexcept {
  return ParseInt<std::uint64_t>(s);
}

/// Non-negative decimal with optional fraction; '.' or ',' as the mark.
inline std::optional<double> ParseDecimal(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  double whole = 0;
  std::size_t i = 0;
  bool any = false;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    whole = whole * 10 + (s[i] - '0');
    any = true;
  }
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    double scale = 0.1;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      whole += (s[i] - '0') * scale;
      scale /= 10;
      any = true;
    }
  }
  if (!any || i != s.size()) return std::nullopt;
  return whole;
}

inline std::string_view BaseName(std::string_view path) noexcept {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

inline bool StartsWith(std::string_view s, std::string_view prefix) noexcept {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace fleetps::probes::detail
