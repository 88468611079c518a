#include "columns.hpp"

#include <algorithm>
#include <limits>

#include "text.hpp"

namespace fleetps::probes::detail {
namespace {

std::uint32_t Overlap(TokenPos t, const ColumnSpan& s) {
  const std::uint32_t lo = std::max(t.begin, s.begin);
  const std::uint32_t hi = std::min(t.end, s.end);
  return hi > lo ? hi - lo : 0;
}

// The most frequent value (the smallest on a tie).
std::uint32_t Mode(std::vector<std::uint32_t> values) {
  std::sort(values.begin(), values.end());
  std::uint32_t best = values.front();
  std::size_t best_count = 0;
  for (std::size_t i = 0; i < values.size();) {
    std::size_t j = i;
    while (j < values.size() && values[j] == values[i]) ++j;
    if (j - i > best_count) {
      best_count = j - i;
      best = values[i];
    }
    i = j;
  }
  return best;
}

}  // namespace

void Tokenize(std::string_view line, std::vector<TokenPos>& out, std::size_t limit) {
  out.clear();
  const char* const base = line.data();
  std::string_view rest = line;
  while (true) {
    rest = TrimLeft(rest);
    if (rest.empty()) break;
    if (out.size() + 1 == limit) {
      // The rest of the line as one token: a command line needs no more splitting.
      const std::string_view tail = TrimRight(rest);
      const auto begin = static_cast<std::uint32_t>(tail.data() - base);
      out.push_back({begin, static_cast<std::uint32_t>(begin + tail.size())});
      break;
    }
    const std::string_view token = NextToken(rest);
    const auto begin = static_cast<std::uint32_t>(token.data() - base);
    out.push_back({begin, static_cast<std::uint32_t>(begin + token.size())});
  }
}

std::size_t SplitByColumns(std::string_view line, std::span<const TokenPos> tokens,
                           std::span<const ColumnSpan> spans, bool rest_last,
                           std::span<std::string_view> fields) {
  const std::size_t n = spans.size();
  for (auto& f : fields) f = {};
  if (n == 0) return 0;
  std::size_t cur = 0;
  std::size_t splits = 0;
  bool done = false;
  // Puts [b, e) into column `col` (never before `cur`); the rest column takes the line's rest.
  auto assign = [&](std::size_t col, std::uint32_t b, std::uint32_t e) {
    col = std::max(col, cur);
    if (rest_last && col == n - 1) {
      fields[col] = TrimRight(line.substr(b));
      done = true;
      return;
    }
    if (fields[col].empty()) {
      fields[col] = line.substr(b, e - b);
    } else {
      const auto start = static_cast<std::size_t>(fields[col].data() - line.data());
      fields[col] = line.substr(start, e - start);
    }
    cur = col;
  };
  auto best_of = [&](TokenPos t, std::size_t from, std::size_t to) {
    std::size_t best = from;
    for (std::size_t j = from + 1; j <= to; ++j) {
      if (Overlap(t, spans[j]) > Overlap(t, spans[best])) best = j;
    }
    return best;
  };
  for (const TokenPos t : tokens) {
    if (done) break;
    std::size_t i0 = cur;
    while (i0 < n && spans[i0].end <= t.begin) ++i0;
    if (i0 == n) {
      assign(n - 1, t.begin, t.end);  // past every column: the last one's overflow
      continue;
    }
    if (spans[i0].begin >= t.end) {
      // In the blank between two columns. Left-aligned text grows to the right and
      // right-aligned numbers grow to the left, so the blank belongs to whichever side can
      // reach it; when both can (text then number), to the nearer one.
      if (i0 == cur || i0 == 0) {
        assign(i0, t.begin, t.end);
        continue;
      }
      const ColumnSpan& left = spans[i0 - 1];
      const ColumnSpan& right = spans[i0];
      std::size_t col;
      if (!left.numeric && !right.numeric) {
        col = i0 - 1;
      } else if (left.numeric && right.numeric) {
        col = i0;
      } else {
        col = right.begin - t.end < t.begin - left.end ? i0 : i0 - 1;
      }
      assign(col, t.begin, t.end);
      continue;
    }
    std::size_t i1 = i0;
    while (i1 + 1 < n && spans[i1 + 1].begin < t.end) ++i1;
    if (i1 == i0) {
      assign(i0, t.begin, t.end);
      continue;
    }
    // One token across columns: values that ran together. Cut it where each column's values
    // end: a right-aligned number ends at its column's end (illumos "0.14314825996" is %MEM,
    // SZ and RSS); a number wider than its column runs on to where its digits stop (BusyBox
    // "100008ps" is PID and COMMAND); before a number, text stops where the trailing digits
    // start, as many as the number's column holds (FreeBSD sockstat "python2.781106").
    const std::string_view text = line.substr(t.begin, t.end - t.begin);
    std::uint32_t from = t.begin;
    std::size_t col = i0;
    for (std::size_t j = i0; j < i1 && !done; ++j) {
      std::uint32_t cut = 0;
      if (spans[j].numeric && spans[j + 1].numeric) {
        cut = spans[j].end;
      } else if (spans[j].numeric) {
        std::uint32_t k = from;
        while (k < t.end && IsDigit(line[k])) ++k;
        cut = k > from && k < t.end ? k : spans[j].end;
      } else if (spans[j + 1].numeric && j + 1 == i1) {
        std::size_t tail = text.size();
        const std::size_t width = spans[j + 1].end - spans[j + 1].begin;
        while (tail > 0 && IsDigit(text[tail - 1]) &&
               text.size() - tail < std::max<std::size_t>(width, 5))
          --tail;
        cut = static_cast<std::uint32_t>(t.begin + tail);
      } else {
        cut = spans[j + 1].begin;
      }
      if (cut <= from || cut >= t.end) continue;  // this boundary is not inside the token
      assign(col, from, cut);
      from = cut;
      col = j + 1;
      ++splits;
    }
    if (!done) assign(from == t.begin ? best_of(t, i0, i1) : col, from, t.end);
  }
  return splits;
}

std::vector<ColumnSpan> InferColumns(std::span<const std::vector<TokenPos>> rows,
                                     const std::vector<bool>& numeric, bool rest_last) {
  const std::size_t n = numeric.size();
  std::vector<const std::vector<TokenPos>*> full;
  for (const auto& row : rows) {
    if (rest_last ? row.size() >= n : row.size() == n) full.push_back(&row);
  }
  if (full.empty() || n == 0) return {};
  std::vector<ColumnSpan> spans(n);
  std::vector<std::uint32_t> values;
  for (std::size_t i = 0; i < n; ++i) {
    spans[i].numeric = numeric[i];
    values.clear();
    const bool right = numeric[i] && !(rest_last && i == n - 1);
    for (const auto* row : full) values.push_back(right ? (*row)[i].end : (*row)[i].begin);
    const std::uint32_t anchor = Mode(values);
    if (right) {
      spans[i].end = anchor;
      spans[i].begin = anchor;
      for (const auto* row : full) {
        if ((*row)[i].end == anchor) spans[i].begin = std::min(spans[i].begin, (*row)[i].begin);
      }
    } else {
      spans[i].begin = anchor;
      spans[i].end = anchor + 1;
      for (const auto* row : full) {
        if ((*row)[i].begin == anchor) spans[i].end = std::max(spans[i].end, (*row)[i].end);
      }
    }
  }
  if (rest_last) spans[n - 1].end = std::numeric_limits<std::uint32_t>::max();
  return spans;
}

}  // namespace fleetps::probes::detail
