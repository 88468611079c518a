#include "fleetps/config/nodeset.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

namespace fleetps::config {
namespace {

constexpr std::size_t kMaxDigits = 9;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Pad(std::uint64_t value, std::size_t width) {
  std::string digits = std::to_string(value);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

NodesetResult Fail(std::string message, std::size_t offset) {
  NodesetResult result;
  result.error = std::move(message);
  result.error_offset = offset;
  return result;
}

// One bracket's items, e.g. "01-03,7": appended to `values`, sizes counted before allocating.
std::optional<NodesetResult> ParseBracket(std::string_view body, std::size_t base,
                                          std::size_t max_names, std::vector<std::string>& values) {
  std::size_t pos = 0;
  if (body.empty()) return Fail("empty brackets in nodeset", base - 1);
  while (true) {
    const std::size_t item_start = pos;
    const std::size_t comma = std::min(body.find(',', pos), body.size());
    const std::string_view item = body.substr(pos, comma - pos);
    if (item.empty()) return Fail("empty item in nodeset brackets", base + pos);
    const std::size_t dash = item.find('-');
    const std::string_view first = item.substr(0, dash);
    const std::string_view last = dash == std::string_view::npos ? first : item.substr(dash + 1);
    const std::size_t last_start = dash == std::string_view::npos ? 0 : dash + 1;
    for (const auto& [bound, offset] :
         {std::pair{first, std::size_t{0}}, std::pair{last, last_start}}) {
      if (bound.empty()) {
        return Fail("expected a number in nodeset range", base + item_start + offset);
      }
      for (std::size_t i = 0; i < bound.size(); ++i) {
        if (!IsDigit(bound[i])) {
          return Fail("unexpected \"" + std::string(1, bound[i]) + "\" in nodeset brackets",
                      base + item_start + offset + i);
        }
      }
      if (bound.size() > kMaxDigits) {
        return Fail("number in nodeset brackets has more than 9 digits",
                    base + item_start + offset);
      }
    }
    const std::uint64_t low = std::stoull(std::string(first));
    const std::uint64_t high = std::stoull(std::string(last));
    if (high < low) {
      return Fail("reversed range \"" + std::string(item) + "\" in nodeset", base + item_start);
    }
    if (high - low + 1 > max_names || values.size() + (high - low + 1) > max_names) {
      return Fail("nodeset expands to more than " + std::to_string(max_names) + " names",
                  base + item_start);
    }
    for (std::uint64_t value = low; value <= high; ++value)
      values.push_back(Pad(value, first.size()));
    if (comma == body.size()) break;
    pos = comma + 1;
  }
  return std::nullopt;
}

}  // namespace

bool IsNodesetPattern(std::string_view pattern) {
  return pattern.find_first_of("[]") != std::string_view::npos;
}

NodesetResult ExpandNodeset(std::string_view pattern, std::size_t max_names) {
  // The pattern as alternating literal text and bracket alternatives.
  std::vector<std::string> literals{std::string()};
  std::vector<std::vector<std::string>> brackets;
  std::size_t total = 1;
  for (std::size_t pos = 0; pos < pattern.size(); ++pos) {
    const char c = pattern[pos];
    if (c == ']') return Fail("unbalanced \"]\" in nodeset", pos);
    if (c != '[') {
      literals.back() += c;
      continue;
    }
    const std::size_t close = pattern.find_first_of("[]", pos + 1);
    if (close == std::string_view::npos || pattern[close] == '[') {
      return Fail("unbalanced \"[\" in nodeset", pos);
    }
    std::vector<std::string> values;
    if (auto error =
            ParseBracket(pattern.substr(pos + 1, close - pos - 1), pos + 1, max_names, values)) {
      return std::move(*error);
    }
    if (total > max_names / values.size()) {
      return Fail("nodeset expands to more than " + std::to_string(max_names) + " names", pos);
    }
    total *= values.size();
    brackets.push_back(std::move(values));
    literals.emplace_back();
    pos = close;
  }

  NodesetResult result;
  result.names.reserve(total);
  // Odometer over the brackets, last one fastest.
  std::vector<std::size_t> index(brackets.size(), 0);
  for (std::size_t n = 0; n < total; ++n) {
    std::string name = literals[0];
    for (std::size_t b = 0; b < brackets.size(); ++b) {
      name += brackets[b][index[b]];
      name += literals[b + 1];
    }
    result.names.push_back(std::move(name));
    for (std::size_t b = brackets.size(); b-- > 0;) {
      if (++index[b] < brackets[b].size()) break;
      index[b] = 0;
    }
  }
  return result;
}

std::vector<std::string> FoldNodeset(std::vector<std::string> names) {
  struct Split {
    std::string prefix, suffix;
    std::uint64_t number;
    std::size_t width;
    bool padded;
  };
  std::vector<std::string> out;
  std::vector<Split> splits;
  // Widths that appear zero-padded per (prefix, suffix): unpadded numbers of such a width join
  // the padded group (08 09 10 fold to [08-10]); the others fold without padding (9 10 -> [9-10]).
  std::map<std::pair<std::string, std::string>, std::vector<std::size_t>> padded_widths;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const std::string& name : names) {
    std::size_t end = name.size();
    while (end > 0 && !IsDigit(name[end - 1])) --end;
    std::size_t begin = end;
    while (begin > 0 && IsDigit(name[begin - 1])) --begin;
    const std::size_t width = end - begin;
    if (width == 0 || width > kMaxDigits) {
      out.push_back(name);
      continue;
    }
    Split split{name.substr(0, begin), name.substr(end), std::stoull(name.substr(begin, width)),
                width, width > 1 && name[begin] == '0'};
    if (split.padded) padded_widths[{split.prefix, split.suffix}].push_back(width);
    splits.push_back(std::move(split));
  }
  std::map<std::tuple<std::string, std::string, std::size_t>, std::vector<std::uint64_t>> groups;
  for (Split& split : splits) {
    const auto& widths = padded_widths[{split.prefix, split.suffix}];
    const bool joins_padded =
        split.padded || std::find(widths.begin(), widths.end(), split.width) != widths.end();
    groups[{std::move(split.prefix), std::move(split.suffix), joins_padded ? split.width : 0}]
        .push_back(split.number);
  }
  for (auto& [key, numbers] : groups) {
    const auto& [prefix, suffix, width] = key;
    std::sort(numbers.begin(), numbers.end());
    if (numbers.size() == 1) {
      out.push_back(prefix + Pad(numbers[0], width) + suffix);
      continue;
    }
    std::string ranges;
    for (std::size_t i = 0; i < numbers.size();) {
      std::size_t j = i;
      while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
      if (!ranges.empty()) ranges += ',';
      ranges += Pad(numbers[i], width);
      if (j > i) ranges += '-' + Pad(numbers[j], width);
      i = j + 1;
    }
    out.push_back(prefix + '[' + ranges + ']' + suffix);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace fleetps::config
