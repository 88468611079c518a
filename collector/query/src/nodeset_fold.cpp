#include "fleetps/collector/query/nodeset_fold.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string_view>
#include <utility>

namespace fleetps::collector {
namespace {

constexpr std::size_t kMaxDigits = 9;  // ExpandNodeset's limit per number

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A name cut into text and digit runs: text[0] digits[0] text[1] ... digits[k-1] text[k].
struct Split {
  std::vector<std::string_view> text;
  std::vector<std::string_view> digits;
};

Split Cut(std::string_view name) {
  Split s;
  std::size_t pos = 0;
  while (true) {
    std::size_t start = pos;
    while (pos < name.size() && !IsDigit(name[pos])) ++pos;
    s.text.push_back(name.substr(start, pos - start));
    if (pos == name.size()) return s;
    start = pos;
    while (pos < name.size() && IsDigit(name[pos])) ++pos;
    s.digits.push_back(name.substr(start, pos - start));
  }
}

std::uint32_t Value(std::string_view digits) {
  std::uint32_t v = 0;
  for (const char c : digits) v = v * 10 + static_cast<std::uint32_t>(c - '0');
  return v;
}

std::string Pad(std::uint32_t value, std::size_t width) {
  std::string s = std::to_string(value);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

// Natural order: digit runs compare by value, then by width; text compares bytewise.
bool NaturalLess(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      std::size_t ei = i;
      std::size_t ej = j;
      while (ei < a.size() && IsDigit(a[ei])) ++ei;
      while (ej < b.size() && IsDigit(b[ej])) ++ej;
      std::string_view da = a.substr(i, ei - i);
      std::string_view db = b.substr(j, ej - j);
      const auto strip = [](std::string_view d) {
        const std::size_t nz = d.find_first_not_of('0');
        return nz == std::string_view::npos ? std::string_view() : d.substr(nz);
      };
      const std::string_view sa = strip(da);
      const std::string_view sb = strip(db);
      if (sa.size() != sb.size()) return sa.size() < sb.size();
      if (sa != sb) return sa < sb;
      if (da.size() != db.size()) return da.size() < db.size();
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

// The bracket body for a set of digit strings: "01-03,07", or the single string itself.
std::string Ranges(std::vector<std::string_view> numbers, bool& single) {
  std::sort(numbers.begin(), numbers.end(), [](std::string_view a, std::string_view b) {
    const auto va = Value(a);
    const auto vb = Value(b);
    return va != vb ? va < vb : a.size() < b.size();
  });
  struct Run {
    std::uint32_t first;
    std::uint32_t last;
    std::size_t width;
  };
  std::vector<Run> runs;
  std::map<std::pair<std::uint32_t, std::size_t>, std::size_t> open;  // (next value, width) → run
  for (const std::string_view n : numbers) {
    const std::uint32_t v = Value(n);
    bool extended = false;
    // A run of width w continues with v exactly when v printed at width w is this string.
    for (auto it = open.lower_bound({v, 0}); it != open.end() && it->first.first == v; ++it) {
      if (Pad(v, it->first.second) == n) {
        const std::size_t index = it->second;
        const std::size_t width = it->first.second;
        open.erase(it);
        runs[index].last = v;
        open[{v + 1, width}] = index;
        extended = true;
        break;
      }
    }
    if (!extended) {
      runs.push_back({v, v, n.size()});
      open[{v + 1, n.size()}] = runs.size() - 1;
    }
  }
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) {
    return a.first != b.first ? a.first < b.first : a.width < b.width;
  });
  single = runs.size() == 1 && runs[0].first == runs[0].last;
  std::string out;
  for (const Run& r : runs) {
    if (!out.empty()) out.push_back(',');
    out += Pad(r.first, r.width);
    if (r.last != r.first) {
      out.push_back('-');  // not `"-" + Pad(...)`: GCC 12 -O3 reports a false -Wrestrict there
      out += Pad(r.last, r.width);
    }
  }
  return out;
}

struct Entry {
  std::string pattern;
  std::string_view first;  // smallest member, for ordering
};

void FoldFamily(const std::vector<std::pair<std::string_view, Split>>& family,
                std::vector<Entry>& out) {
  const std::size_t fields = family.front().second.digits.size();
  // Key of a name with field `vary` blanked out.
  const auto key_without = [](const Split& s, std::size_t vary) {
    std::string key;
    for (std::size_t i = 0; i < s.digits.size(); ++i) {
      if (i != vary) key += s.digits[i];
      key.push_back('\0');
    }
    return key;
  };
  std::size_t best = fields - 1;
  std::size_t best_count = family.size() + 1;
  for (std::size_t vary = fields; vary-- > 0;) {
    std::map<std::string, int> keys;
    for (const auto& [name, split] : family) keys[key_without(split, vary)] = 0;
    if (keys.size() < best_count) {
      best_count = keys.size();
      best = vary;
    }
  }
  std::map<std::string, std::vector<const std::pair<std::string_view, Split>*>> groups;
  for (const auto& member : family) groups[key_without(member.second, best)].push_back(&member);
  for (const auto& [key, members] : groups) {
    const Split& s = members.front()->second;
    std::vector<std::string_view> numbers;
    std::string_view first = members.front()->first;
    for (const auto* m : members) {
      numbers.push_back(m->second.digits[best]);
      if (NaturalLess(m->first, first)) first = m->first;
    }
    bool single = false;
    const std::string body = Ranges(std::move(numbers), single);
    std::string pattern;
    for (std::size_t i = 0; i < s.digits.size(); ++i) {
      pattern += s.text[i];
      pattern += i == best ? (single ? body : "[" + body + "]") : std::string(s.digits[i]);
    }
    pattern += s.text.back();
    out.push_back({std::move(pattern), first});
  }
}

}  // namespace

std::vector<std::string> FoldHostNameList(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  std::vector<Entry> entries;
  // Families: names with the same text around the same number of digit runs.
  std::map<std::vector<std::string_view>, std::vector<std::pair<std::string_view, Split>>> families;
  for (const std::string& name : names) {
    Split s = Cut(name);
    const bool plain = s.digits.empty() || name.find_first_of("[],") != std::string::npos ||
                       std::any_of(s.digits.begin(), s.digits.end(),
                                   [](std::string_view d) { return d.size() > kMaxDigits; });
    if (plain) {
      entries.push_back({name, name});
      continue;
    }
    families[s.text].emplace_back(name, std::move(s));
  }
  for (const auto& [text, family] : families) FoldFamily(family, entries);

  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return NaturalLess(a.first, b.first); });
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (Entry& e : entries) out.push_back(std::move(e.pattern));
  return out;
}

std::string FoldHostNames(std::vector<std::string> names) {
  std::string out;
  for (const std::string& pattern : FoldHostNameList(std::move(names))) {
    if (!out.empty()) out.push_back(',');
    out += pattern;
  }
  return out;
}

}  // namespace fleetps::collector
