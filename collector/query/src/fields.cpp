// The field schema: the names a selector or sort key may use, their kinds, and the suggestions
// an unknown name gets.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "fleetps/collector/query/selector.hpp"
#include "fleetps/collector/query/text.hpp"
#include "identifier.hpp"

namespace fleetps::collector {
namespace {

using detail::IsIdentChar;
using detail::IsIdentStart;

struct FieldInfo {
  std::string_view name;
  Field field;
};

constexpr std::array<FieldInfo, 17> kFields{{
    {"host", Field::kHost},
    {"user", Field::kUser},
    {"comm", Field::kComm},
    {"exe", Field::kExe},
    {"args", Field::kArgs},
    {"group", Field::kGroup},
    {"state", Field::kState},
    {"pid", Field::kPid},
    {"ppid", Field::kPpid},
    {"rss", Field::kRss},
    {"vsz", Field::kVsz},
    {"cpu", Field::kCpu},
    {"threads", Field::kThreads},
    {"fds", Field::kFds},
    {"age", Field::kAge},
    {"port", Field::kPort},
    {"proto", Field::kProto},
}};

// Names people reach for from ps, top or process-exporter; suggested, never accepted.
constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kAliases{{
    {"cmd", "args"},      {"command", "args"}, {"cmdline", "args"},  {"argv", "args"},
    {"name", "comm"},     {"process", "comm"}, {"mem", "rss"},       {"memory", "rss"},
    {"vmrss", "rss"},     {"uid", "user"},     {"username", "user"}, {"owner", "user"},
    {"hostname", "host"}, {"node", "host"},    {"start", "age"},     {"etime", "age"},
    {"elapsed", "age"},   {"pcpu", "cpu"},     {"nlwp", "threads"},  {"thcount", "threads"},
    {"stat", "state"},    {"vsize", "vsz"},
}};

bool IsLabelName(std::string_view name) {
  return !name.empty() && IsIdentStart(name.front()) &&
         std::all_of(name.begin(), name.end(), IsIdentChar);
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("hsot").
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string Suggestion(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.starts_with("labels.") && IsLabelName(std::string_view(lower).substr(7))) {
    return "label." + std::string(name.substr(7));
  }
  if (lower.starts_with(kLabelFieldPrefix))
    return {};  // bad label name: no better spelling to offer
  if (LookupField(lower)) return lower;
  for (const auto& [alias, field] : kAliases) {
    if (alias == lower) return std::string(field);
  }
  if (name.size() > 32) return {};  // keep the distance computation small
  std::string_view best;
  std::size_t best_distance = name.size() <= 4 ? 2 : 3;
  for (const FieldInfo& info : kFields) {
    const std::size_t d = EditDistance(lower, info.name);
    if (d < best_distance) {
      best_distance = d;
      best = info.name;
    }
  }
  return std::string(best);
}

}  // namespace

std::string_view FieldName(Field field) noexcept {
  if (field == Field::kLabel) return "label";
  for (const FieldInfo& info : kFields) {
    if (info.field == field) return info.name;
  }
  return "?";
}

bool IsNumericField(Field field) noexcept {
  switch (field) {
    case Field::kPid:
    case Field::kPpid:
    case Field::kRss:
    case Field::kVsz:
    case Field::kCpu:
    case Field::kThreads:
    case Field::kFds:
    case Field::kAge:
    case Field::kPort:
      return true;
    default:
      return false;
  }
}

std::string FieldRef::Name() const {
  if (field == Field::kLabel) return std::string(kLabelFieldPrefix) + label;
  return std::string(FieldName(field));
}

std::optional<FieldRef> LookupField(std::string_view name) {
  if (name.starts_with(kLabelFieldPrefix)) {
    const std::string_view label = name.substr(kLabelFieldPrefix.size());
    if (!IsLabelName(label)) return std::nullopt;
    return FieldRef{Field::kLabel, std::string(label)};
  }
  for (const FieldInfo& info : kFields) {
    if (info.name == name) return FieldRef{info.field, {}};
  }
  return std::nullopt;
}

std::string UnknownFieldMessage(std::string_view name) {
  std::string message = "unknown field " + Quoted(name);
  if (const std::string suggestion = Suggestion(name); !suggestion.empty()) {
    return message + " (did you mean " + Quoted(suggestion) + "?)";
  }
  message += " (fields:";
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    message += (i == 0 ? " " : ", ");
    message += kFields[i].name;
    if (kFields[i].field == Field::kState) message += ", label.NAME";
  }
  return message + ")";
}

}  // namespace fleetps::collector
