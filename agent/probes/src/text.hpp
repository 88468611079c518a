// Small string_view helpers shared by the parsers. Hot-path code: no allocation, no regex.
#pragma once

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace fleetps::probes::detail {

/// ' ', '\t', '\r', '\v', '\f' (not '\n': lines never contain it). One compare for the common
/// case of a printable byte.
inline bool IsSpace(char c) noexcept {
  constexpr std::uint64_t kMask =
      (1ULL << ' ') | (1ULL << '\t') | (1ULL << '\r') | (1ULL << '\v') | (1ULL << '\f');
  const auto u = static_cast<unsigned char>(c);
  return u <= ' ' && ((kMask >> u) & 1U) != 0;
}
inline bool IsDigit(char c) noexcept { return c >= '0' && c <= '9'; }

/// Eight bytes from `p` (unaligned), first byte lowest.
inline std::uint64_t Load8(const char* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
  return word;
}

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

/// Index (0-7) of the first byte of `word` below 0x21 (a space or control character), 8 when
/// none is. Exact for the lowest flagged byte: borrows only propagate upwards.
inline unsigned FirstLowByte(std::uint64_t word) noexcept {
  const std::uint64_t flags = (word - kOnes * 0x21) & ~word & kHighs;
  return flags == 0 ? 8U : static_cast<unsigned>(std::countr_zero(flags)) / 8;
}

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

/// Number of '\n' in `text` (memchr: the row count a table parser reserves for).
inline std::size_t CountNewlines(std::string_view text) noexcept {
  std::size_t count = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
    if (nl == nullptr) break;
    ++count;
    p = static_cast<const char*>(nl) + 1;
  }
  return count;
}

/// Index (0-7) of the first byte of `word` that is not ' ', 8 when all are. Exact: the per-byte
/// sums cannot carry into the next byte.
inline unsigned FirstNonBlank(std::uint64_t word) noexcept {
  const std::uint64_t x = word ^ (kOnes * ' ');
  const std::uint64_t nonzero = (((x & ~kHighs) + ~kHighs) | x) & kHighs;
  return nonzero == 0 ? 8U : static_cast<unsigned>(std::countr_zero(nonzero)) / 8;
}

inline std::string_view TrimLeft(std::string_view s) noexcept {
  std::size_t i = 0;
  // ps pads columns with blanks: find the end of a run eight bytes at a time.
  while (i + 8 <= s.size()) {
    const unsigned k = FirstNonBlank(Load8(s.data() + i));
    i += k;
    if (k < 8) break;
  }
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
  const char* p = rest.data();
  const std::size_t n = rest.size();
  std::size_t i = 0;
  while (true) {
    if (i + 8 <= n) {
      // The first byte below 0x21 ends the token when it is a space; a control character that
      // is not one stays inside the token, so the scan goes on after it.
      const unsigned k = FirstLowByte(Load8(p + i));
      i += k;
      if (k == 8) continue;
      if (IsSpace(p[i])) break;
      ++i;
      continue;
    }
    while (i < n && !IsSpace(p[i])) ++i;
    break;
  }
  std::string_view token = rest.substr(0, i);
  rest.remove_prefix(i);
  return token;
}

template <class Int>
std::optional<Int> ParseInt(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  // Fast path: plain digits short enough that they cannot overflow Int (what ps and /proc print
  // almost always). Anything else goes through from_chars, which defines the result.
  if (s.size() <= static_cast<std::size_t>(std::numeric_limits<Int>::digits10)) {
    std::uint64_t value = 0;
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
      const auto d = static_cast<unsigned char>(s[i] - '0');
      if (d > 9) break;
      value = value * 10 + d;
    }
    if (i == s.size()) return static_cast<Int>(value);
  }
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

/// Orders `items` by `pid_of(item)`, stably (one pass when already in order), and keeps only
/// the last of items with the same pid: a later listing of a pid replaces an earlier one.
template <class T, class PidOf>
void SortByPidKeepLast(std::vector<T>& items, PidOf pid_of) {
  auto by_pid = [&](const T& a, const T& b) { return pid_of(a) < pid_of(b); };
  if (!std::is_sorted(items.begin(), items.end(), by_pid)) {
    std::stable_sort(items.begin(), items.end(), by_pid);
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (kept > 0 && pid_of(items[kept - 1]) == pid_of(items[i])) {
      items[kept - 1] = std::move(items[i]);
    } else if (kept++ != i) {
      items[kept - 1] = std::move(items[i]);
    }
  }
  items.resize(kept);
}

}  // namespace fleetps::probes::detail
