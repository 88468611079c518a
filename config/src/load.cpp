#include "fleetps/config/load.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "checks.hpp"
#include "fleetps/config/nodeset.hpp"
#include "fleetps/config/units.hpp"

namespace fleetps::config {
namespace {

using detail::Quote;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

using KeyList = std::vector<std::string_view>;

const KeyList kTopKeys{"defaults", "collector", "hosts", "process_names"};
const KeyList kSettingKeys{"user",           "port",
                           "identity_file",  "passphrase_file",
                           "passphrase_env", "use_ssh_agent",
                           "known_hosts",    "host_key_policy",
                           "interval",       "connect_timeout",
                           "probe_timeout",  "output_limit",
                           "keepalive",      "max_channels_per_host",
                           "dialect",        "algorithms",
                           "labels"};
const KeyList kHostOnlyKeys{"name", "address"};
const KeyList kCollectorKeys{"listen",       "max_concurrent_handshakes",
                             "threads",      "enable_reload_endpoint",
                             "max_restarts", "restart_period"};
const KeyList kAlgorithmKeys{"kex", "hostkeys", "ciphers", "macs", "pubkeys"};
const KeyList kProcessNameKeys{"name", "comm", "exe", "cmdline"};
const KeyList kDialects{"auto",    "linux-procps", "busybox", "aix",
                        "solaris", "hpux",         "freebsd", "darwin"};

constexpr std::size_t kMaxFileBytes = 64u << 20;
constexpr std::size_t kCommLength = 15;  // Linux truncates comm to 15 bytes.

bool Contains(const KeyList& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

KeyList Concat(const KeyList& a, const KeyList& b) {
  KeyList out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::string JoinOr(const KeyList& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += words[i];
  }
  return out;
}

struct Pos {
  int line = 0;
  int column = 0;
};

template <class T>
struct Setting {
  std::optional<T> value;
  Pos pos;
  bool invalid = false;  // present but rejected: checks that depend on it are skipped
};

// The keys shared by `defaults` and host entries, as written (nothing inherited yet).
struct Settings {
  Setting<std::string> user, identity_file, passphrase_file, passphrase_env, known_hosts, dialect;
  Setting<std::uint16_t> port;
  Setting<bool> use_ssh_agent;
  Setting<HostKeyPolicy> host_key_policy;
  Setting<milliseconds> interval, connect_timeout, probe_timeout, keepalive;
  Setting<std::uint64_t> output_limit;
  Setting<unsigned> max_channels_per_host;
  Setting<std::vector<std::string>> kex, hostkeys, ciphers, macs, pubkeys;
  Setting<bool> algorithms_legacy;
  std::vector<std::pair<std::string, std::string>> labels;
};

struct HostEntry {
  Pos pos;
  Settings settings;
  Setting<std::string> name;
  Setting<std::string> address;
  YAML::Node name_node;
  YAML::Node address_node;
};

// The host's setting when it has one (even an invalid one), else the default's.
template <class T>
const Setting<T>& Pick(const Setting<T>& host, const Setting<T>& defaults) {
  return host.value || host.invalid ? host : defaults;
}

// Records where each document starts; everything else is ignored.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;

  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

class Loader {
 public:
  Loader(std::string_view source, std::string file, std::filesystem::path base_dir,
         const LoadOptions& options)
      : source_(source),
        file_(std::move(file)),
        base_dir_(std::move(base_dir)),
        options_(options) {}

  LoadResult Run() {
    try {
      const YAML::Node root = YAML::Load(std::string(source_));
      // yaml-cpp 0.7's LoadAll loops forever on some inputs (a "," where a document should
      // start), so documents are counted with a bounded parser loop instead.
      DocumentStarts starts;
      std::istringstream stream{std::string(source_)};
      YAML::Parser parser(stream);
      for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
      }
      if (starts.marks.size() == 2 && starts.marks[0].pos == starts.marks[1].pos) {
        const auto at = static_cast<std::size_t>(std::max(starts.marks[0].pos, 0));
        Report(MarkPos(starts.marks[0]),
               "YAML syntax error: unexpected " +
                   (at < source_.size() ? Quote(source_.substr(at, 1)) : std::string("text")) +
                   " where a document should start");
      } else if (starts.marks.size() == 2) {
        Report(MarkPos(starts.marks[1]), "expected one YAML document, found another");
      } else if (root.IsNull()) {
        Report({1, 1}, "the file is empty; expected a mapping with \"hosts\"");
      } else {
        LoadRoot(root);
      }
    } catch (const YAML::Exception& error) {
      // Syntax errors (and yaml-cpp's depth guard) end parsing: nothing else can be trusted.
      Report(MarkPos(error.mark), "YAML syntax error: " + error.msg);
    }
    std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    LoadResult result;
    result.diagnostics = std::move(diagnostics_);
    const bool has_error =
        std::any_of(result.diagnostics.begin(), result.diagnostics.end(),
                    [](const Diagnostic& d) { return d.severity == Severity::kError; });
    if (!has_error) result.inventory = std::move(inventory_);
    return result;
  }

 private:
  // ---- positions and reporting ----

  static Pos MarkPos(const YAML::Mark& mark) {
    if (mark.line < 0 || mark.column < 0) return {};
    return {mark.line + 1, mark.column + 1};
  }

  static Pos PosOf(const YAML::Node& node) { return MarkPos(node.Mark()); }

  // A missing value (`port:` then a newline) has the mark of the next token; point at the key.
  static Pos ValuePos(const YAML::Node& key, const YAML::Node& value) {
    if (value.IsNull() && value.Mark().line != key.Mark().line) return PosOf(key);
    return PosOf(value);
  }

  // The position of byte `offset` of a scalar's value, mapped back through quotes and escapes;
  // the scalar's own position when the mapping is not exact (folded lines, block scalars).
  Pos PosInScalar(const YAML::Node& node, std::size_t offset) const {
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

  void Report(Pos pos, std::string message, Severity severity = Severity::kError) {
    if (!seen_.emplace(pos.line, pos.column, message).second) return;
    diagnostics_.push_back(Diagnostic{file_, pos.line, pos.column, std::move(message), severity});
  }

  // "got ..." wording: numbers bare, other scalars quoted, collections by kind.
  static std::string Describe(const YAML::Node& node) {
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

  using Visitor = std::function<void(const std::string& key, const YAML::Node& key_node,
                                     const YAML::Node& value)>;

  // Visits each key once, in file order. Reports non-string keys, duplicate keys (yaml-cpp
  // keeps both silently) and, when `allowed` is given, unknown keys with a hint.
  void ForEachKey(const YAML::Node& map, std::string_view where, const KeyList* allowed,
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

  static std::string UnknownKeyMessage(const std::string& key, std::string_view where,
                                       const KeyList& allowed) {
    std::string message = "unknown key " + Quote(key) + " " + std::string(where);
    if (const std::string closest = detail::ClosestKey(key, allowed); !closest.empty()) {
      return message + "; did you mean " + Quote(closest) + "?";
    }
    const std::pair<const KeyList*, std::string_view> homes[] = {
        {&kTopKeys, "at the top level"},
        {&kSettingKeys, "in defaults or a host entry"},
        {&kHostOnlyKeys, "in a host entry"},
        {&kCollectorKeys, "in collector"},
        {&kAlgorithmKeys, "in algorithms"}};
    for (const auto& [keys, home] : homes) {
      if (Contains(*keys, key)) return message + "; it belongs " + std::string(home);
    }
    return message;
  }

  // ---- scalar values ----

  std::optional<std::string> String(const YAML::Node& value, Pos pos, std::string_view what) {
    if (!value.IsScalar()) {
      Report(pos, "expected " + std::string(what) + ", got " + Describe(value));
      return std::nullopt;
    }
    return value.Scalar();
  }

  std::optional<std::uint64_t> Unsigned(const YAML::Node& value, Pos pos, std::uint64_t low,
                                        std::uint64_t high) {
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

  std::optional<bool> Bool(const YAML::Node& value, Pos pos) {
    if (value.IsScalar()) {
      const std::string& text = value.Scalar();
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    Report(pos, "expected true or false, got " + Describe(value));
    return std::nullopt;
  }

  std::optional<milliseconds> Duration(const YAML::Node& value, Pos pos, milliseconds low,
                                       milliseconds high, bool zero_means_off = false) {
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

  std::optional<std::uint64_t> Size(const YAML::Node& value, Pos pos, std::uint64_t low,
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

  std::optional<std::string> Enum(const YAML::Node& value, Pos pos, const KeyList& choices) {
    if (value.IsScalar() && Contains(choices, value.Scalar())) return value.Scalar();
    std::string message = "expected " + JoinOr(choices) + ", got " + Describe(value);
    if (value.IsScalar()) {
      if (const std::string closest = detail::ClosestKey(value.Scalar(), choices);
          !closest.empty()) {
        message += "; did you mean " + Quote(closest) + "?";
      }
    }
    Report(pos, std::move(message));
    return std::nullopt;
  }

  // A checked string: `check` gives the problem, reported at the value.
  std::optional<std::string> Checked(const YAML::Node& value, Pos pos, std::string_view what,
                                     std::optional<std::string> (*check)(std::string_view)) {
    auto text = String(value, pos, what);
    if (!text) return std::nullopt;
    if (auto problem = check(*text)) {
      Report(pos, std::move(*problem));
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::string> Path(const YAML::Node& value, Pos pos) {
    auto path = Checked(value, pos, "a path", detail::CheckPath);
    if (path && !base_dir_.empty() && std::filesystem::path(*path).is_relative()) {
      path = (base_dir_ / *path).lexically_normal().string();
    }
    return path;
  }

  // A list of strings, each passed to `item` (which reports its own problems).
  std::optional<std::vector<std::string>> List(
      const YAML::Node& value, Pos pos, std::string_view what, bool allow_empty,
      const std::function<bool(const std::string&, const YAML::Node&)>& item) {
    if (!value.IsSequence() || (!allow_empty && value.size() == 0)) {
      Report(pos,
             std::string(allow_empty ? "expected a list of " : "expected a non-empty list of ") +
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

  template <class T, class Parse>
  static void Set(Setting<T>& setting, Pos pos, Parse&& parse) {
    setting.pos = pos;
    auto parsed = parse();
    if (parsed) {
      setting.value = static_cast<T>(*parsed);
    } else {
      setting.invalid = true;
    }
  }

  // ---- sections ----

  void LoadRoot(const YAML::Node& root) {
    if (!root.IsMap()) {
      Report(PosOf(root),
             "expected a mapping with \"hosts\" at the top level, got " + Describe(root));
      return;
    }
    YAML::Node hosts;
    bool has_hosts = false;
    ForEachKey(root, "at the top level", &kTopKeys,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
                 const Pos pos = ValuePos(key_node, value);
                 if (key == "defaults") {
                   if (value.IsNull()) return;
                   if (!value.IsMap()) {
                     Report(pos, "expected a mapping, got " + Describe(value));
                     return;
                   }
                   ParseSettings(value, "in defaults", kSettingKeys, defaults_);
                 } else if (key == "collector") {
                   ParseCollector(value, pos);
                 } else if (key == "hosts") {
                   has_hosts = true;
                   hosts = value;
                   if (!value.IsSequence()) {
                     Report(pos, "expected a list of hosts, got " + Describe(value));
                     hosts = YAML::Node();
                   } else if (value.size() == 0) {
                     Report(pos, "expected at least one host, got an empty list");
                   }
                 } else if (key == "process_names") {
                   ParseProcessNames(value, pos);
                 }
               });
    if (!has_hosts) {
      Report(PosOf(root), "missing required key \"hosts\"");
      return;
    }
    if (hosts.IsSequence()) {
      for (const YAML::Node& entry : hosts) ParseHost(entry);
      ResolveHosts();
    }
  }

  void ParseSettings(const YAML::Node& map, std::string_view where, const KeyList& allowed,
                     Settings& s, HostEntry* host = nullptr) {
    ForEachKey(map, where, &allowed,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
                 const Pos pos = ValuePos(key_node, value);
                 if (host != nullptr && key == "name") {
                   Set(host->name, pos, [&] { return String(value, pos, "a host name"); });
                   host->name_node = value;
                 } else if (host != nullptr && key == "address") {
                   Set(host->address, pos, [&] { return String(value, pos, "an address"); });
                   host->address_node = value;
                 } else {
                   ParseSetting(key, value, pos, s);
                 }
               });
    if (s.passphrase_file.value && s.passphrase_env.value) {
      const bool env_later = std::tie(s.passphrase_env.pos.line, s.passphrase_env.pos.column) >
                             std::tie(s.passphrase_file.pos.line, s.passphrase_file.pos.column);
      Report(env_later ? s.passphrase_env.pos : s.passphrase_file.pos,
             "set either passphrase_file or passphrase_env, not both");
    }
  }

  void ParseSetting(const std::string& key, const YAML::Node& value, Pos pos, Settings& s) {
    if (key == "user") {
      Set(s.user, pos, [&] { return Checked(value, pos, "a user name", detail::CheckUser); });
    } else if (key == "port") {
      Set(s.port, pos, [&] { return Unsigned(value, pos, 1, 65535); });
    } else if (key == "identity_file") {
      Set(s.identity_file, pos, [&] { return Path(value, pos); });
    } else if (key == "passphrase_file") {
      Set(s.passphrase_file, pos, [&] { return Path(value, pos); });
    } else if (key == "passphrase_env") {
      Set(s.passphrase_env, pos, [&] {
        return Checked(value, pos, "an environment variable name", detail::CheckEnvName);
      });
    } else if (key == "use_ssh_agent") {
      Set(s.use_ssh_agent, pos, [&] { return Bool(value, pos); });
    } else if (key == "known_hosts") {
      Set(s.known_hosts, pos, [&] { return Path(value, pos); });
    } else if (key == "host_key_policy") {
      Set(s.host_key_policy, pos, [&]() -> std::optional<HostKeyPolicy> {
        const auto policy = Enum(value, pos, {"strict", "accept-new"});
        if (!policy) return std::nullopt;
        return *policy == "strict" ? HostKeyPolicy::kStrict : HostKeyPolicy::kAcceptNew;
      });
    } else if (key == "interval") {
      Set(s.interval, pos, [&] { return Duration(value, pos, 1s, 24h); });
    } else if (key == "connect_timeout") {
      Set(s.connect_timeout, pos, [&] { return Duration(value, pos, 100ms, 5min); });
    } else if (key == "probe_timeout") {
      Set(s.probe_timeout, pos, [&] { return Duration(value, pos, 100ms, 30min); });
    } else if (key == "keepalive") {
      Set(s.keepalive, pos, [&] { return Duration(value, pos, 1s, 24h, true); });
    } else if (key == "output_limit") {
      Set(s.output_limit, pos, [&] { return Size(value, pos, 4ull << 10, 1ull << 30); });
    } else if (key == "max_channels_per_host") {
      Set(s.max_channels_per_host, pos, [&] { return Unsigned(value, pos, 1, 9); });
    } else if (key == "dialect") {
      Set(s.dialect, pos, [&]() -> std::optional<std::string> {
        auto dialect = Enum(value, pos, kDialects);
        if (dialect && *dialect == "auto") dialect->clear();
        return dialect;
      });
    } else if (key == "algorithms") {
      ParseAlgorithms(value, pos, s);
    } else if (key == "labels") {
      ParseLabels(value, pos, s);
    }
  }

  // `algorithms: legacy` / `algorithms: default` set all five lists (replacing inherited ones);
  // the mapping form sets the lists it names and inherits the rest, `legacy` included.
  void ParseAlgorithms(const YAML::Node& value, Pos pos, Settings& s) {
    Setting<std::vector<std::string>>* lists[] = {&s.kex, &s.hostkeys, &s.ciphers, &s.macs,
                                                  &s.pubkeys};
    if (value.IsScalar() && (value.Scalar() == "legacy" || value.Scalar() == "default")) {
      const bool legacy = value.Scalar() == "legacy";
      Set(s.algorithms_legacy, pos, [&] { return std::optional<bool>(legacy); });
      for (auto* list : lists)
        Set(*list, pos,
            [] { return std::optional<std::vector<std::string>>(std::vector<std::string>{}); });
      if (legacy && options_.legacy_warning) {
        if (std::string warning = options_.legacy_warning(); !warning.empty()) {
          Report(pos, std::move(warning), Severity::kWarning);
        }
      }
      return;
    }
    if (!value.IsMap()) {
      Report(pos,
             "expected \"legacy\", \"default\" or a mapping with kex, hostkeys, ciphers, macs "
             "or pubkeys, got " +
                 Describe(value));
      return;
    }
    ForEachKey(value, "in algorithms", &kAlgorithmKeys,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& list) {
                 const Pos list_pos = ValuePos(key_node, list);
                 Setting<std::vector<std::string>>& target = key == "kex"        ? s.kex
                                                             : key == "hostkeys" ? s.hostkeys
                                                             : key == "ciphers"  ? s.ciphers
                                                             : key == "macs"     ? s.macs
                                                                                 : s.pubkeys;
                 Set(target, list_pos, [&] {
                   return List(list, list_pos, "algorithm names", true,
                               [&](const std::string& name, const YAML::Node& node) {
                                 if (auto problem = detail::CheckAlgorithmName(name)) {
                                   Report(PosOf(node), std::move(*problem));
                                   return false;
                                 }
                                 if (!options_.check_algorithm) return true;
                                 auto [error, warning] = options_.check_algorithm(key, name);
                                 if (!error.empty()) {
                                   Report(PosOf(node), std::move(error));
                                   return false;
                                 }
                                 if (!warning.empty()) {
                                   Report(PosOf(node), std::move(warning), Severity::kWarning);
                                 }
                                 return true;
                               });
                 });
                 if (target.value && !target.value->empty() && options_.check_algorithm_list) {
                   if (std::string error = options_.check_algorithm_list(key, *target.value);
                       !error.empty()) {
                     Report(list_pos, std::move(error));
                     target.invalid = true;
                   }
                 }
               });
  }

  void ParseLabels(const YAML::Node& value, Pos pos, Settings& s) {
    if (!value.IsMap()) {
      Report(pos, "expected a mapping of label names to values, got " + Describe(value));
      return;
    }
    ForEachKey(value, "in labels", nullptr,
               [&](const std::string& name, const YAML::Node& key_node, const YAML::Node& label) {
                 if (auto problem = detail::CheckLabelName(name)) {
                   Report(PosOf(key_node), std::move(*problem));
                   return;
                 }
                 const Pos label_pos = ValuePos(key_node, label);
                 auto text = String(label, label_pos, "a label value (a string)");
                 if (!text) return;
                 if (auto problem = detail::CheckLabelValue(*text)) {
                   Report(label_pos, std::move(*problem));
                   return;
                 }
                 s.labels.emplace_back(name, std::move(*text));
               });
  }

  void ParseCollector(const YAML::Node& value, Pos pos) {
    if (value.IsNull()) return;
    if (!value.IsMap()) {
      Report(pos, "expected a mapping, got " + Describe(value));
      return;
    }
    CollectorSettings& c = inventory_.collector;
    ForEachKey(value, "in collector", &kCollectorKeys,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
                 const Pos p = ValuePos(key_node, v);
                 if (key == "listen") {
                   if (auto listen = Checked(v, p, "host:port", detail::CheckListenAddress)) {
                     c.listen = *listen;
                   }
                 } else if (key == "max_concurrent_handshakes") {
                   if (auto n = Unsigned(v, p, 1, 10'000)) c.max_concurrent_handshakes = *n;
                 } else if (key == "threads") {
                   if (auto n = Unsigned(v, p, 0, 256)) c.threads = *n;
                 } else if (key == "enable_reload_endpoint") {
                   if (auto b = Bool(v, p)) c.enable_reload_endpoint = *b;
                 } else if (key == "max_restarts") {
                   if (auto n = Unsigned(v, p, 1, 1000)) c.max_restarts = *n;
                 } else if (key == "restart_period") {
                   if (auto d = Duration(v, p, 1s, 24h)) c.restart_period = *d;
                 }
               });
  }

  void ParseHost(const YAML::Node& node) {
    HostEntry entry;
    entry.pos = PosOf(node);
    if (!node.IsMap()) {
      Report(entry.pos, "expected a host mapping with \"name\", got " + Describe(node));
      return;
    }
    ParseSettings(node, "in host", Concat(kHostOnlyKeys, kSettingKeys), entry.settings, &entry);
    if (!entry.name.value && !entry.name.invalid) {
      Report(entry.pos, "host entry has no \"name\"");
      return;
    }
    if (entry.name.value) entries_.push_back(std::move(entry));
  }

  void ParseProcessNames(const YAML::Node& value, Pos pos) {
    if (value.IsNull()) return;
    if (!value.IsSequence()) {
      Report(pos, "expected a list of process name matchers, got " + Describe(value));
      return;
    }
    for (const YAML::Node& node : value) {
      const Pos entry_pos = PosOf(node);
      if (!node.IsMap()) {
        Report(entry_pos,
               "expected a mapping with name and comm, exe or cmdline, got " + Describe(node));
        continue;
      }
      ProcessNameMatcher matcher;
      YAML::Node name_node;
      bool has_selector = false;
      bool ok = true;
      std::set<std::string> groups;
      ForEachKey(node, "in process_names entry", &kProcessNameKeys,
                 [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
                   const Pos p = ValuePos(key_node, v);
                   has_selector = has_selector || key != "name";
                   if (key == "name") {
                     if (auto text = String(v, p, "a name template")) {
                       matcher.name_template = *text;
                       name_node = v;
                     } else {
                       ok = false;
                     }
                   } else if (key == "comm" || key == "exe") {
                     const bool comm = key == "comm";
                     auto list = List(v, p, comm ? "comm names" : "executable names", false,
                                      [&](const std::string& item, const YAML::Node& item_node) {
                                        if (item.empty()) {
                                          Report(PosOf(item_node), "empty name");
                                          return false;
                                        }
                                        if (comm && item.size() > kCommLength) {
                                          Report(PosOf(item_node),
                                                 "comm " + Quote(item) +
                                                     " is longer than 15 characters and never "
                                                     "matches on Linux, which truncates comm",
                                                 Severity::kWarning);
                                        }
                                        return true;
                                      });
                     if (!list) {
                       ok = false;
                     } else {
                       (comm ? matcher.comm : matcher.exe) = std::move(*list);
                     }
                   } else if (key == "cmdline") {
                     auto list = List(v, p, "regexes", false,
                                      [&](const std::string& item, const YAML::Node& item_node) {
                                        const detail::CheckedRegex checked =
                                            detail::CheckCmdlineRegex(item);
                                        if (checked.problem) {
                                          Report(PosInScalar(item_node, checked.problem->offset),
                                                 checked.problem->message);
                                          return false;
                                        }
                                        for (const auto& group : checked.group_names) {
                                          if (!group.empty()) groups.insert(group);
                                        }
                                        return true;
                                      });
                     if (!list) {
                       ok = false;
                     } else {
                       matcher.cmdline = std::move(*list);
                     }
                   }
                 });
      if (!has_selector) {
        Report(entry_pos,
               "process_names entry needs at least one of \"comm\", \"exe\" or \"cmdline\"");
        ok = false;
      }
      for (const detail::Problem& problem :
           detail::CheckNameTemplate(matcher.name_template, groups)) {
        // A template naming a group is only checkable when every cmdline pattern parsed.
        if (!ok && problem.message.find("refers to no named group") != std::string::npos) continue;
        Report(name_node.IsDefined() ? PosInScalar(name_node, problem.offset) : entry_pos,
               problem.message, problem.warning ? Severity::kWarning : Severity::kError);
        ok = ok && problem.warning;
      }
      if (ok) inventory_.process_names.push_back(std::move(matcher));
    }
  }

  // ---- hosts: inheritance, expansion, cross-checks ----

  void ResolveHosts() {
    std::unordered_map<std::string, int> first_line;
    for (const HostEntry& entry : entries_) {
      const std::string& pattern = *entry.name.value;
      const NodesetResult names = ExpandNodeset(pattern);
      if (!names.ok()) {
        Report(PosInScalar(entry.name_node, names.error_offset), names.error);
        continue;
      }
      bool names_ok = true;
      for (const std::string& name : names.names) {
        if (auto problem = detail::CheckHostName(name)) {
          Report(entry.name.pos, std::move(*problem));
          names_ok = false;
          break;
        }
      }
      std::vector<std::string> addresses;
      if (!ResolveAddresses(entry, names.names, addresses)) names_ok = false;

      const std::optional<HostSpec> spec = Merge(entry, Quote(pattern));
      if (!names_ok) continue;
      for (std::size_t i = 0; i < names.names.size(); ++i) {
        const std::string& name = names.names[i];
        if (const auto [seen, inserted] = first_line.emplace(name, entry.name.pos.line);
            !inserted) {
          Report(entry.name.pos, "duplicate host " + Quote(name) + " (first defined at line " +
                                     std::to_string(seen->second) + ")");
          continue;
        }
        if (!spec) continue;
        if (inventory_.hosts.size() == kMaxNodesetNames) {
          Report(entry.name.pos,
                 "the inventory has more than " + std::to_string(kMaxNodesetNames) + " hosts");
          return;
        }
        HostSpec host = *spec;
        host.name = name;
        host.address = addresses.empty()       ? name
                       : addresses.size() == 1 ? addresses[0]
                                               : addresses[i];
        inventory_.hosts.push_back(std::move(host));
      }
    }
  }

  // Fills `addresses`: empty (address = name), one shared address, or one per name.
  bool ResolveAddresses(const HostEntry& entry, const std::vector<std::string>& names,
                        std::vector<std::string>& addresses) {
    if (entry.address.invalid) return false;
    if (!entry.address.value) return true;
    const std::string& address = *entry.address.value;
    if (IsNodesetPattern(address) && address.find(':') == std::string::npos) {
      NodesetResult expanded = ExpandNodeset(address);
      if (!expanded.ok()) {
        Report(PosInScalar(entry.address_node, expanded.error_offset), expanded.error);
        return false;
      }
      if (expanded.names.size() != names.size()) {
        Report(entry.address.pos, "address expands to " + std::to_string(expanded.names.size()) +
                                      " names but name expands to " + std::to_string(names.size()));
        return false;
      }
      addresses = std::move(expanded.names);
    } else {
      addresses.push_back(address);
    }
    for (const std::string& one : addresses) {
      if (auto problem = detail::CheckAddress(one)) {
        Report(entry.address.pos, std::move(*problem));
        return false;
      }
    }
    return true;
  }

  // The entry's settings over the defaults over the built-in values; nullopt after reporting
  // a cross-check failure. `shown` names the host (or pattern) in messages.
  std::optional<HostSpec> Merge(const HostEntry& entry, const std::string& shown) {
    const Settings& h = entry.settings;
    const Settings& d = defaults_;
    HostSpec spec;
    bool ok = true;
    bool invalid = false;
    auto take = [&invalid](auto& field, const auto& host_setting, const auto& default_setting) {
      const auto& chosen = Pick(host_setting, default_setting);
      if (chosen.invalid) invalid = true;
      if (chosen.value) field = *chosen.value;
      return chosen;
    };
    const auto user = take(spec.user, h.user, d.user);
    take(spec.port, h.port, d.port);
    const auto identity = take(spec.identity_file, h.identity_file, d.identity_file);
    // A host naming either passphrase source replaces both of the defaults'.
    const bool host_passphrase = h.passphrase_file.value || h.passphrase_file.invalid ||
                                 h.passphrase_env.value || h.passphrase_env.invalid;
    const Settings& passphrase_from = host_passphrase ? h : d;
    take(spec.passphrase_file, passphrase_from.passphrase_file, passphrase_from.passphrase_file);
    take(spec.passphrase_env, passphrase_from.passphrase_env, passphrase_from.passphrase_env);
    const auto agent = take(spec.use_ssh_agent, h.use_ssh_agent, d.use_ssh_agent);
    take(spec.known_hosts, h.known_hosts, d.known_hosts);
    take(spec.host_key_policy, h.host_key_policy, d.host_key_policy);
    const auto interval = take(spec.interval, h.interval, d.interval);
    take(spec.connect_timeout, h.connect_timeout, d.connect_timeout);
    const auto probe_timeout = take(spec.probe_timeout, h.probe_timeout, d.probe_timeout);
    take(spec.keepalive, h.keepalive, d.keepalive);
    take(spec.output_limit, h.output_limit, d.output_limit);
    take(spec.max_channels_per_host, h.max_channels_per_host, d.max_channels_per_host);
    take(spec.dialect, h.dialect, d.dialect);
    take(spec.algorithms.kex, h.kex, d.kex);
    take(spec.algorithms.hostkeys, h.hostkeys, d.hostkeys);
    take(spec.algorithms.ciphers, h.ciphers, d.ciphers);
    take(spec.algorithms.macs, h.macs, d.macs);
    take(spec.algorithms.pubkeys, h.pubkeys, d.pubkeys);
    take(spec.algorithms.legacy, h.algorithms_legacy, d.algorithms_legacy);
    for (const auto& [name, value] : d.labels) spec.labels[name] = value;
    for (const auto& [name, value] : h.labels) spec.labels[name] = value;
    // An empty value removes the label, as in Prometheus.
    std::erase_if(spec.labels, [](const auto& label) { return label.second.empty(); });

    if (!user.value && !user.invalid) {
      Report(entry.pos, "no user for host " + shown + "; set \"user\" here or in defaults");
      ok = false;
    }
    if (!identity.value && !identity.invalid && !agent.invalid && !spec.use_ssh_agent) {
      Report(entry.pos,
             "no credentials for host " + shown +
                 "; set \"identity_file\" or \"use_ssh_agent: true\" here or in defaults");
      ok = false;
    }
    if (!interval.invalid && !probe_timeout.invalid && spec.probe_timeout >= spec.interval) {
      // Point at the host's own setting when it has one, else at the defaults' (reported once).
      const bool host_timeout = h.probe_timeout.value.has_value();
      const bool host_interval = h.interval.value.has_value();
      const Pos pos = host_timeout                      ? probe_timeout.pos
                      : host_interval                   ? interval.pos
                      : probe_timeout.value.has_value() ? probe_timeout.pos
                                                        : interval.pos;
      Report(pos, "probe_timeout " + FormatDuration(spec.probe_timeout) +
                      " must be shorter than interval " + FormatDuration(spec.interval) +
                      " (a probe still running at the next tick makes that tick skip)");
      ok = false;
    }
    if (invalid || !ok) return std::nullopt;
    return spec;
  }

  std::string_view source_;
  std::string file_;
  std::filesystem::path base_dir_;
  std::vector<Diagnostic> diagnostics_;
  std::set<std::tuple<int, int, std::string>> seen_;
  Settings defaults_;
  const LoadOptions& options_;
  std::vector<HostEntry> entries_;
  Inventory inventory_;
};

}  // namespace

LoadResult LoadInventoryFromString(std::string_view yaml, std::string file_name,
                                   const LoadOptions& options) {
  return Loader(yaml, std::move(file_name), {}, options).Run();
}

LoadResult LoadInventoryFile(const std::string& path, const LoadOptions& options) {
  auto fail = [&path](std::string message) {
    LoadResult result;
    result.diagnostics.push_back(Diagnostic{path, 0, 0, std::move(message), Severity::kError});
    return result;
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                             &std::fclose);
  if (!file) return fail(std::string("cannot read file: ") + std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  while (true) {
    const std::size_t got = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, got);
    if (text.size() > kMaxFileBytes) return fail("cannot read file: larger than 64MiB");
    if (got < sizeof buffer) {
      if (std::ferror(file.get()) != 0) {
        return fail(std::string("cannot read file: ") + std::strerror(errno));
      }
      break;
    }
  }
  std::error_code error;
  std::filesystem::path base = std::filesystem::absolute(path, error).parent_path();
  if (error) base.clear();
  return Loader(text, path, std::move(base), options).Run();
}

}  // namespace fleetps::config
