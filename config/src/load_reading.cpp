// The inventory loader's reading plumbing: source positions, diagnostics, the mapping walk and
// the readers of scalar values and string lists, each reporting what it rejects.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "fleetps/config/units.hpp"
#include "loader.hpp"

namespace fleetps::config::detail {
namespace {

using namespace std::chrono_literals;

bool Contains(const KeyList& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string JoinOr(const KeyList& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += words[i];
  }
  return out;
}

}  // namespace

// ---- positions and reporting ----

Pos YamlReader::MarkPos(const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

Pos YamlReader::PosOf(const YAML::Node& node) { return MarkPos(node.Mark()); }

Pos YamlReader::ValuePos(const YAML::Node& key, const YAML::Node& value) {
  if (value.IsNull() && value.Mark().line != key.Mark().line) return PosOf(key);
  return PosOf(value);
}

Pos YamlReader::PosInScalar(const YAML::Node& node, std::size_t offset) const {
  const Pos base = PosOf(node);
  const int start = node.Mark().pos;
  if (start < 0 || static_cast<std::size_t>(start) >= source_.size() || !node.IsScalar()) {
    return base;
  }
  const auto at = static_cast<std::size_t>(start);
  const std::string& value = node.Scalar();
  const char quote = source_[at];
  std::size_t raw = 0;
  if (quote == '"' || quote == '\'') {
    raw = 1;
    for (std::size_t decoded = 0; decoded < offset;) {
      const std::size_t i = at + raw;
      if (i + 1 >= source_.size() || source_[i] == '\n') return base;
      if (quote == '\'' && source_[i] == '\'') {
        if (source_[i + 1] != '\'') return base;
        raw += 2;
      } else if (quote == '"' && source_[i] == '\\') {
        const char kind = source_[i + 1];
        raw += kind == 'x' ? 4 : kind == 'u' ? 6 : kind == 'U' ? 10 : 2;
      } else if (quote == '"' && source_[i] == '"') {
        return base;
      } else {
        raw += 1;
      }
      ++decoded;
    }
  } else {
    if (offset > value.size() || source_.compare(at, offset, value, 0, offset) != 0) return base;
    raw = offset;
  }
  return {base.line, base.column + static_cast<int>(raw)};
}

void YamlReader::Report(Pos pos, std::string message, Severity severity) {
  if (!seen_.emplace(pos.line, pos.column, message).second) return;
  diagnostics_.push_back(Diagnostic{file_, pos.line, pos.column, std::move(message), severity});
}

std::string YamlReader::Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  const std::string& text = node.Scalar();
  const bool plain = node.Tag() == "?";
  const bool numeric = !text.empty() &&
                       text.find_first_not_of("+-.0123456789") == std::string::npos &&
                       text.find_first_of("0123456789") != std::string::npos;
  return plain && numeric ? text : Quote(text);
}

// ---- mapping walk ----

void YamlReader::ForEachKey(const YAML::Node& map, std::string_view where, const KeyList* allowed,
                            const Visitor& visit) {
  std::unordered_map<std::string, int> first_line;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      Report(PosOf(key_node), "expected a string key, got " + Describe(key_node));
      continue;
    }
    const std::string& key = key_node.Scalar();
    const Pos key_pos = PosOf(key_node);
    if (const auto [seen, inserted] = first_line.emplace(key, key_pos.line); !inserted) {
      Report(key_pos, "duplicate key " + Quote(key) + " (first defined at line " +
                          std::to_string(seen->second) + ")");
      continue;
    }
    if (key == "<<") {
      Report(key_pos,
             "YAML merge keys (\"<<\") are not supported; put shared settings in "
             "defaults");
      continue;
    }
    if (allowed != nullptr && !Contains(*allowed, key)) {
      Report(key_pos, UnknownKeyMessage(key, where, *allowed));
      continue;
    }
    visit(key, key_node, value);
  }
}

std::string YamlReader::UnknownKeyMessage(const std::string& key, std::string_view where,
                                          const KeyList& allowed) const {
  std::string message = "unknown key " + Quote(key) + " " + std::string(where);
  if (const std::string closest = detail::ClosestKey(key, allowed); !closest.empty()) {
    message += "; did you mean " + Quote(closest) + "?";
  }
  return message;
}

std::string Loader::UnknownKeyMessage(const std::string& key, std::string_view where,
                                      const KeyList& allowed) const {
  std::string message = YamlReader::UnknownKeyMessage(key, where, allowed);
  if (message.ends_with('?')) return message;
  const std::pair<const KeyList*, std::string_view> homes[] = {
      {&kTopKeys, "at the top level"},
      {&kSettingKeys, "in defaults or a host entry"},
      {&kHostOnlyKeys, "in a host entry"},
      {&kCollectorKeys, "in collector"},
      {&kCollectorHttpKeys, "in collector.http"},
      {&kAlgorithmKeys, "in algorithms"},
      {&kClusterKeys, "in cluster"},
      {&kClusterEtcdKeys, "in cluster.etcd"}};
  for (const auto& [keys, home] : homes) {
    if (Contains(*keys, key)) return message + "; it belongs " + std::string(home);
  }
  return message;
}

// ---- scalar values ----

std::optional<std::string> YamlReader::String(const YAML::Node& value, Pos pos,
                                              std::string_view what) {
  if (!value.IsScalar()) {
    Report(pos, "expected " + std::string(what) + ", got " + Describe(value));
    return std::nullopt;
  }
  return value.Scalar();
}

std::optional<std::uint64_t> YamlReader::Unsigned(const YAML::Node& value, Pos pos,
                                                  std::uint64_t low, std::uint64_t high) {
  const std::string expected =
      "expected an integer in " + std::to_string(low) + ".." + std::to_string(high);
  if (value.IsScalar()) {
    const std::string& text = value.Scalar();
    if (!text.empty() && text.size() <= 18 &&
        text.find_first_not_of("0123456789") == std::string::npos) {
      const std::uint64_t number = std::stoull(text);
      if (number >= low && number <= high) return number;
    }
  }
  Report(pos, expected + ", got " + Describe(value));
  return std::nullopt;
}

std::optional<bool> YamlReader::Bool(const YAML::Node& value, Pos pos) {
  if (value.IsScalar()) {
    const std::string& text = value.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  Report(pos, "expected true or false, got " + Describe(value));
  return std::nullopt;
}

std::optional<milliseconds> YamlReader::Duration(const YAML::Node& value, Pos pos, milliseconds low,
                                                 milliseconds high, bool zero_means_off) {
  const std::string range = FormatDuration(low) + ".." + FormatDuration(high);
  const std::string expected = zero_means_off ? "expected 0 (off) or a duration in " + range
                                              : "expected a duration in " + range;
  if (!value.IsScalar()) {
    Report(pos, "expected a duration like \"15s\", got " + Describe(value));
    return std::nullopt;
  }
  const std::string& text = value.Scalar();
  const DurationResult parsed = ParseDuration(text);
  if (!parsed.ok()) {
    std::string message = "expected a duration like \"15s\", got " + Describe(value);
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
      message += " (add a unit: ms, s, m or h)";
    }
    Report(pos, std::move(message));
    return std::nullopt;
  }
  if (zero_means_off && parsed.value == 0ms) return parsed.value;
  if (parsed.value < low || parsed.value > high) {
    Report(pos, expected + ", got " + text);
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<std::uint64_t> YamlReader::Size(const YAML::Node& value, Pos pos, std::uint64_t low,
                                              std::uint64_t high) {
  if (!value.IsScalar()) {
    Report(pos, "expected a size like \"4MiB\", got " + Describe(value));
    return std::nullopt;
  }
  const SizeResult parsed = ParseSize(value.Scalar());
  if (!parsed.ok()) {
    Report(pos, "expected a size like \"4MiB\", got " + Describe(value));
    return std::nullopt;
  }
  if (parsed.value < low || parsed.value > high) {
    Report(pos, "expected a size in " + FormatSize(low) + ".." + FormatSize(high) + ", got " +
                    value.Scalar());
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<std::string> YamlReader::Enum(const YAML::Node& value, Pos pos,
                                            const KeyList& choices) {
  if (value.IsScalar() && Contains(choices, value.Scalar())) return value.Scalar();
  std::string message = "expected " + JoinOr(choices) + ", got " + Describe(value);
  if (value.IsScalar()) {
    if (const std::string closest = detail::ClosestKey(value.Scalar(), choices); !closest.empty()) {
      message += "; did you mean " + Quote(closest) + "?";
    }
  }
  Report(pos, std::move(message));
  return std::nullopt;
}

std::optional<std::string> YamlReader::Checked(
    const YAML::Node& value, Pos pos, std::string_view what,
    std::optional<std::string> (*check)(std::string_view)) {
  auto text = String(value, pos, what);
  if (!text) return std::nullopt;
  if (auto problem = check(*text)) {
    Report(pos, std::move(*problem));
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> YamlReader::Path(const YAML::Node& value, Pos pos) {
  auto path = Checked(value, pos, "a path", detail::CheckPath);
  if (path && !base_dir_.empty() && std::filesystem::path(*path).is_relative()) {
    path = (base_dir_ / *path).lexically_normal().string();
  }
  return path;
}

std::optional<std::vector<std::string>> YamlReader::List(
    const YAML::Node& value, Pos pos, std::string_view what, bool allow_empty,
    const std::function<bool(const std::string&, const YAML::Node&)>& item) {
  if (!value.IsSequence() || (!allow_empty && value.size() == 0)) {
    Report(pos, std::string(allow_empty ? "expected a list of " : "expected a non-empty list of ") +
                    std::string(what) + ", got " +
                    (value.IsSequence() ? std::string("an empty list") : Describe(value)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const YAML::Node& element : value) {
    const Pos element_pos = PosOf(element);
    if (!element.IsScalar()) {
      Report(element_pos, "expected " + std::string(what) + ", got " + Describe(element));
      ok = false;
      continue;
    }
    if (!item(element.Scalar(), element)) {
      ok = false;
      continue;
    }
    out.push_back(element.Scalar());
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace fleetps::config::detail
