#include "fleetps/probes/grouping.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <regex>
#include <set>
#include <type_traits>
#include <unordered_map>

#include "text.hpp"

namespace fleetps::probes {
namespace {

// libstdc++'s regex executor recurses once per input character (a 100 kB command line with
// ".+" overflows an 8 MiB stack), so regexes see a bounded prefix of the command line.
constexpr std::size_t kMaxRegexSubject = 4096;

enum class Field { kLiteral, kComm, kExeBase, kExeFull, kUsername, kPid, kStartTime, kMatch };

struct TemplatePart {
  Field field = Field::kLiteral;
  std::string text;  // literal text, or the capture name for kMatch
};

struct CompiledRegex {
  std::regex regex;
  std::vector<std::pair<std::string, std::size_t>> names;  // capture name → group index
};

struct Matcher {
  std::vector<TemplatePart> name;
  std::vector<std::string> comm;
  std::vector<std::pair<std::string, std::string>> exe;  // base name, full path or ""
  std::vector<CompiledRegex> cmdline;
};

// A value, or the message that says why there is none (probes use no Boost result type).
template <class T>
struct OrError {
  std::optional<T> value;
  std::string error;
};

// Rewrites RE2 named groups to plain ones (std::regex has none), records their indices and
// compiles the result.
OrError<CompiledRegex> CompileCmdlineRegex(std::string_view re) {
  CompiledRegex out;
  bool icase = false;
  if (detail::StartsWith(re, "(?i)")) {
    icase = true;
    re.remove_prefix(4);
  }
  std::string translated;
  translated.reserve(re.size());
  std::size_t group = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      translated.push_back(c);
      translated.push_back(re[++i]);
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      translated.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      translated.push_back(c);
      // A ']' right after '[' or '[^' is literal.
      if (i + 1 < re.size() && re[i + 1] == '^') translated.push_back(re[++i]);
      if (i + 1 < re.size() && re[i + 1] == ']') translated.push_back(re[++i]);
      continue;
    }
    if (c != '(') {
      translated.push_back(c);
      continue;
    }
    if (i + 1 < re.size() && re[i + 1] == '?') {
      std::size_t name_at = 0;
      if (re.substr(i, 4) == "(?P<") name_at = i + 4;
      if (re.substr(i, 3) == "(?<" && i + 3 < re.size() && re[i + 3] != '=' && re[i + 3] != '!') {
        name_at = i + 3;
      }
      if (name_at == 0) {
        const std::string_view rest = re.substr(i);
        if (!detail::StartsWith(rest, "(?:") && !detail::StartsWith(rest, "(?=") &&
            !detail::StartsWith(rest, "(?!")) {
          return {std::nullopt, "unsupported group syntax"};
        }
        translated.push_back(c);
        continue;
      }
      const std::size_t close = re.find('>', name_at);
      if (close == std::string_view::npos || close == name_at) {
        return {std::nullopt, "bad named group"};
      }
      ++group;
      out.names.emplace_back(std::string(re.substr(name_at, close - name_at)), group);
      translated.push_back('(');
      i = close;
      continue;
    }
    ++group;
    translated.push_back(c);
  }
  try {
    auto flags = std::regex::ECMAScript;
    if (icase) flags |= std::regex::icase;
    out.regex = std::regex(translated, flags);
  } catch (const std::regex_error&) {
    return {std::nullopt, "invalid regex"};
  }
  return {std::move(out), {}};
}

// Parses "{{.Comm}}-x{{ .Matches.Name }}"; `captures` are the names the regexes define.
OrError<std::vector<TemplatePart>> ParseTemplate(std::string_view text,
                                                 const std::vector<std::string>& captures) {
  std::vector<TemplatePart> parts;
  while (!text.empty()) {
    const std::size_t open = text.find("{{");
    if (open != 0) {
      parts.push_back({Field::kLiteral, std::string(text.substr(0, open))});
      if (open == std::string_view::npos) break;
      text.remove_prefix(open);
    }
    const std::size_t close = text.find("}}");
    if (close == std::string_view::npos) {
      return {std::nullopt, "unterminated {{ in name template"};
    }
    const std::string_view var = detail::Trim(text.substr(2, close - 2));
    text.remove_prefix(close + 2);
    struct Named {
      std::string_view name;
      Field field;
    };
    static constexpr Named kFields[] = {
        {".Comm", Field::kComm},       {".ExeBase", Field::kExeBase},
        {".ExeFull", Field::kExeFull}, {".Username", Field::kUsername},
        {".PID", Field::kPid},         {".StartTime", Field::kStartTime},
    };
    bool found = false;
    for (const Named& f : kFields) {
      if (f.name == var) {
        parts.push_back({f.field, {}});
        found = true;
      }
    }
    if (found) continue;
    if (detail::StartsWith(var, ".Matches.")) {
      const std::string name(var.substr(9));
      if (std::find(captures.begin(), captures.end(), name) == captures.end()) {
        return {std::nullopt,
                "template uses .Matches." + name + " but no cmdline regex captures it"};
      }
      parts.push_back({Field::kMatch, name});
      continue;
    }
    return {std::nullopt, "unknown template field " + std::string(var)};
  }
  return {std::move(parts), {}};
}

// Go's time.Time default format, in UTC and whole seconds.
std::string FormatStartTime(std::optional<double> start) {
  if (!start) return {};
  const std::time_t t = static_cast<std::time_t>(std::floor(*start));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
  return std::string(buf, n);
}

template <class T, class Value>
void AddOpt(std::optional<T>& sum, const Value& value) {
  if (value.has_value()) sum = sum.value_or(T{}) + *value;
}

}  // namespace

struct Grouper::Impl {
  std::vector<Matcher> matchers;
  GroupOptions options;
  bool names_use_user = false;      // a template has {{.Username}}
  bool names_use_identity = false;  // a template has {{.PID}} or {{.StartTime}}

  // What a row's own match depends on (GroupMemo::Key).
  GroupMemo::Key KeyOf(const ProcessRow& row) const {
    GroupMemo::Key key{row.comm, row.args, {}, 0, 0};
    if (names_use_user) key.user = row.user;
    if (names_use_identity) {
      key.pid = row.pid;
      key.start = row.start_time_unix.value_or(-1);
    }
    return key;
  }

  // First match wins; returns the matcher's rendered name.
  std::optional<std::string> Match(const ProcessRow& row) const {
    std::vector<std::pair<std::string, std::string>> captures;
    for (const Matcher& m : matchers) {
      if (!m.comm.empty() && std::find(m.comm.begin(), m.comm.end(), row.comm) == m.comm.end()) {
        continue;
      }
      if (!m.exe.empty()) {
        const std::string_view exe = row.exe();
        if (exe.empty()) continue;
        const std::string_view base = detail::BaseName(exe);
        bool ok = false;
        for (const auto& [b, full] : m.exe) {
          if (b == base && (full.empty() || full == exe)) ok = true;
        }
        if (!ok) continue;
      }
      captures.clear();
      bool ok = true;
      const std::string_view subject = std::string_view(row.args).substr(0, kMaxRegexSubject);
      for (const CompiledRegex& re : m.cmdline) {
        std::cmatch match;
        if (!std::regex_search(subject.data(), subject.data() + subject.size(), match, re.regex)) {
          ok = false;
          break;
        }
        for (const auto& [name, index] : re.names) {
          if (index < match.size() && match[index].matched) {
            captures.emplace_back(name, match[index].str());
          }
        }
      }
      if (!ok) continue;
      return Render(m, row, captures);
    }
    return std::nullopt;
  }

  // Groups `snapshot` given each row's own match (`own[i]`, null: none).
  GroupSnapshot GroupRows(const HostSnapshot& snapshot,
                          const std::vector<const std::string*>& own_names) const;

  static std::string Render(const Matcher& m, const ProcessRow& row,
                            const std::vector<std::pair<std::string, std::string>>& captures) {
    std::string out;
    for (const TemplatePart& part : m.name) {
      switch (part.field) {
        case Field::kLiteral:
          out += part.text;
          break;
        case Field::kComm:
          out += row.comm;
          break;
        case Field::kExeBase:
          out += row.exe().empty() ? std::string_view(row.comm) : detail::BaseName(row.exe());
          break;
        case Field::kExeFull:
          out += row.exe().empty() ? std::string_view(row.comm) : row.exe();
          break;
        case Field::kUsername:
          out += row.user;
          break;
        case Field::kPid:
          out += std::to_string(row.pid);
          break;
        case Field::kStartTime:
          out += FormatStartTime(row.start_time_unix);
          break;
        case Field::kMatch:
          for (const auto& [name, value] : captures) {
            if (name == part.text) {
              out += value;
              break;
            }
          }
          break;
      }
    }
    return out;
  }
};

GrouperResult Grouper::Compile(const std::vector<MatcherSpec>& specs, GroupOptions options) {
  GrouperResult result;
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const MatcherSpec& spec = specs[i];
    const std::string where = "process_names[" + std::to_string(i) + "]: ";
    Matcher m;
    if (spec.comm.empty() && spec.exe.empty() && spec.cmdline.empty()) {
      result.errors.push_back(where + "needs at least one of comm, exe, cmdline");
      continue;
    }
    m.comm = spec.comm;
    for (const std::string& e : spec.exe) {
      const bool full = e.find('/') != std::string::npos;
      m.exe.emplace_back(std::string(detail::BaseName(e)), full ? e : std::string());
    }
    std::vector<std::string> capture_names;
    bool ok = true;
    for (const std::string& pattern : spec.cmdline) {
      auto compiled = CompileCmdlineRegex(pattern);
      if (!compiled.value) {
        result.errors.push_back(where + "cmdline /" + pattern + "/: " + compiled.error);
        ok = false;
        continue;
      }
      for (const auto& [name, index] : compiled.value->names) capture_names.push_back(name);
      m.cmdline.push_back(std::move(*compiled.value));
    }
    auto name = ParseTemplate(spec.name_template, capture_names);
    if (name.value) {
      m.name = std::move(*name.value);
    } else {
      result.errors.push_back(where + name.error);
      ok = false;
    }
    for (const TemplatePart& part : m.name) {
      impl->names_use_user = impl->names_use_user || part.field == Field::kUsername;
      impl->names_use_identity =
          impl->names_use_identity || part.field == Field::kPid || part.field == Field::kStartTime;
    }
    if (ok) impl->matchers.push_back(std::move(m));
  }
  if (result.errors.empty()) result.grouper.emplace(std::move(impl));
  return result;
}

std::optional<std::string> Grouper::Name(const ProcessRow& row) const { return impl_->Match(row); }

std::size_t GroupMemo::KeyHash::operator()(const Key& key) const noexcept {
  std::size_t h = std::hash<std::string_view>{}(key.args);
  const auto mix = [&h](std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  mix(std::hash<std::string_view>{}(key.comm));
  if (!key.user.empty()) mix(std::hash<std::string_view>{}(key.user));
  if (key.pid != 0) mix(std::hash<std::int64_t>{}(key.pid));
  return h;
}

GroupMembers::GroupMembers(
    std::initializer_list<std::pair<std::int64_t, std::string_view>> members) {
  for (const auto& [pid, name] : members) {
    auto it = std::find(names_.begin(), names_.end(), name);
    const auto index =
        it != names_.end() ? static_cast<std::uint32_t>(it - names_.begin()) : AddName(name);
    Add(pid, index);
  }
  Finish();
}

std::optional<std::uint32_t> GroupMembers::IndexOf(std::int64_t pid) const noexcept {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), pid,
                             [](const auto& entry, std::int64_t p) { return entry.first < p; });
  if (it == entries_.end() || it->first != pid) return std::nullopt;
  return it->second;
}

const std::string* GroupMembers::Find(std::int64_t pid) const noexcept {
  const auto index = IndexOf(pid);
  return index ? &names_[*index] : nullptr;
}

bool GroupMembers::operator==(const GroupMembers& other) const noexcept {
  if (entries_.size() != other.entries_.size()) return false;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].first != other.entries_[i].first ||
        names_[entries_[i].second] != other.names_[other.entries_[i].second]) {
      return false;
    }
  }
  return true;
}

std::uint32_t GroupMembers::AddName(std::string_view name) {
  names_.emplace_back(name);
  return static_cast<std::uint32_t>(names_.size() - 1);
}

void GroupMembers::Add(std::int64_t pid, std::uint32_t name_index) {
  if (!entries_.empty() && entries_.back().first >= pid) sorted_ = false;
  entries_.emplace_back(pid, name_index);
}

void GroupMembers::Finish() {
  if (!sorted_) {
    auto by_pid = [](const auto& a, const auto& b) { return a.first < b.first; };
    std::stable_sort(entries_.begin(), entries_.end(), by_pid);
    auto same_pid = [](const auto& a, const auto& b) { return a.first == b.first; };
    entries_.erase(std::unique(entries_.begin(), entries_.end(), same_pid), entries_.end());
    sorted_ = true;
  }
  entries_.shrink_to_fit();
  names_.shrink_to_fit();
}

void GroupMembers::EraseGroups(const std::set<std::string, std::less<>>& drop) {
  // Renumbers the kept names so the dropped ones take no room.
  std::vector<std::uint32_t> renumber(names_.size(), UINT32_MAX);
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (drop.contains(names_[i])) continue;
    renumber[i] = static_cast<std::uint32_t>(kept.size());
    kept.push_back(std::move(names_[i]));
  }
  std::erase_if(entries_, [&](const auto& entry) { return renumber[entry.second] == UINT32_MAX; });
  for (auto& entry : entries_) entry.second = renumber[entry.second];
  names_ = std::move(kept);
  Finish();
}

GroupSnapshot Grouper::Group(const HostSnapshot& snapshot) const {
  const std::vector<ProcessRow>& procs = snapshot.processes;
  std::vector<std::optional<std::string>> names;
  names.reserve(procs.size());
  std::vector<const std::string*> own(procs.size(), nullptr);
  for (std::size_t i = 0; i < procs.size(); ++i) {
    if (auto& name = names.emplace_back(impl_->Match(procs[i]))) own[i] = &*name;
  }
  return impl_->GroupRows(snapshot, own);
}

GroupSnapshot Grouper::Group(const std::shared_ptr<const HostSnapshot>& snapshot,
                             GroupMemo& memo) const {
  if (memo.grouper_ != impl_) {
    memo.entries_.clear();
    memo.grouper_ = impl_;
  }
  const std::vector<ProcessRow>& procs = snapshot->processes;
  std::vector<const std::string*> own(procs.size(), nullptr);
  // Rows beyond the memo's bound, matched every time.
  std::vector<std::optional<std::string>> unmemoised;
  unmemoised.reserve(procs.size());
  GroupMemo::Entries next;
  next.reserve(std::min(procs.size(), memo.max_entries_));
  memo.hits_ = 0;
  memo.misses_ = 0;
  for (std::size_t i = 0; i < procs.size(); ++i) {
    const GroupMemo::Key key = impl_->KeyOf(procs[i]);
    auto it = next.find(key);
    if (it != next.end()) {
      ++memo.hits_;
    } else if (auto old = memo.entries_.find(key); old != memo.entries_.end()) {
      // Moved, not copied: the node now views this snapshot's strings.
      ++memo.hits_;
      auto node = memo.entries_.extract(old);
      node.key() = key;
      it = next.insert(std::move(node)).position;
    } else {
      ++memo.misses_;
      std::optional<std::string> name = impl_->Match(procs[i]);
      if (next.size() >= memo.max_entries_) {
        if (auto& kept = unmemoised.emplace_back(std::move(name))) own[i] = &*kept;
        continue;
      }
      it = next.emplace(key, std::move(name)).first;
    }
    if (it->second) own[i] = &*it->second;
  }
  GroupSnapshot out = impl_->GroupRows(*snapshot, own);
  // The old entries view the old snapshot: they go first.
  memo.entries_ = std::move(next);
  memo.source_ = snapshot;
  return out;
}

GroupSnapshot Grouper::Impl::GroupRows(const HostSnapshot& snapshot,
                                       const std::vector<const std::string*>& own_names) const {
  const std::vector<ProcessRow>& procs = snapshot.processes;
  // Resolved group per process: -2 unknown, -1 none, else index into `names`.
  std::vector<std::string_view> names;
  std::unordered_map<std::string_view, int> name_index;
  std::vector<int> own(procs.size(), -1);
  for (std::size_t i = 0; i < procs.size(); ++i) {
    if (const std::string* name = own_names[i]) {
      auto [it, inserted] = name_index.emplace(*name, static_cast<int>(names.size()));
      if (inserted) names.push_back(*name);
      own[i] = it->second;
    }
  }
  std::vector<int> resolved = own;
  if (options.fold_children) {
    // (pid, row) by pid, for the parent lookups: one block, not a hash node per process. Rows
    // usually ascend by pid already; of a repeated pid the first row counts.
    std::vector<std::pair<std::int64_t, std::size_t>> index;
    index.reserve(procs.size());
    for (std::size_t i = 0; i < procs.size(); ++i) index.emplace_back(procs[i].pid, i);
    auto by_pid = [](const auto& a, const auto& b) { return a.first < b.first; };
    if (!std::is_sorted(index.begin(), index.end(), by_pid)) {
      std::stable_sort(index.begin(), index.end(), by_pid);
    }
    auto parent_of = [&](std::size_t at) -> std::optional<std::size_t> {
      const std::int64_t ppid = procs[at].ppid;
      auto it =
          std::lower_bound(index.begin(), index.end(), ppid,
                           [](const auto& entry, std::int64_t pid) { return entry.first < pid; });
      if (it == index.end() || it->first != ppid) return std::nullopt;
      return it->second;
    };
    std::vector<int> state(procs.size(), -2);
    std::vector<std::size_t> path;
    for (std::size_t i = 0; i < procs.size(); ++i) {
      if (own[i] >= 0) state[i] = own[i];
    }
    for (std::size_t i = 0; i < procs.size(); ++i) {
      path.clear();
      std::size_t at = i;
      int group = -1;
      // Walk up until a resolved ancestor; the path length bound breaks ppid cycles.
      while (state[at] == -2 && path.size() <= procs.size()) {
        path.push_back(at);
        const std::optional<std::size_t> parent = parent_of(at);
        if (!parent || *parent == at) break;
        at = *parent;
      }
      if (state[at] != -2) group = state[at];
      for (std::size_t p : path) state[p] = group;
    }
    resolved = std::move(state);
  }

  // Aggregated by index first: one map insertion per group, not a lookup per process.
  std::vector<GroupStats> stats(names.size());
  GroupSnapshot out;
  for (std::string_view name : names) out.members.AddName(name);
  for (std::size_t i = 0; i < procs.size(); ++i) {
    if (resolved[i] < 0) continue;
    const ProcessRow& row = procs[i];
    const auto group = static_cast<std::size_t>(resolved[i]);
    out.members.Add(row.pid, static_cast<std::uint32_t>(group));
    GroupStats& g = stats[group];
    ++g.num_procs;
    g.cpu_user_seconds += row.cpu_user_seconds.value_or(row.cpu_total_seconds.value_or(0));
    AddOpt(g.cpu_system_seconds, row.cpu_system_seconds);
    AddOpt(g.memory_resident_bytes, row.rss_bytes);
    AddOpt(g.memory_virtual_bytes, row.vsz_bytes);
    AddOpt(g.memory_swapped_bytes, row.swap_bytes);
    AddOpt(g.open_filedesc, row.fds);
    AddOpt(g.num_threads, row.threads);
    AddOpt(g.read_bytes, row.read_bytes);
    AddOpt(g.write_bytes, row.write_bytes);
    AddOpt(g.major_faults, row.major_faults);
    AddOpt(g.minor_faults, row.minor_faults);
    AddOpt(g.ctx_voluntary, row.ctx_voluntary);
    AddOpt(g.ctx_involuntary, row.ctx_involuntary);
    ++g.states[static_cast<std::size_t>(row.state_bucket)];
    if (row.fds && row.fd_limit && *row.fd_limit > 0) {
      const double ratio = static_cast<double>(*row.fds) / static_cast<double>(*row.fd_limit);
      g.worst_fd_ratio = std::max(g.worst_fd_ratio.value_or(0), ratio);
    }
    if (row.start_time_unix) {
      g.oldest_start_time_unix =
          std::min(g.oldest_start_time_unix.value_or(*row.start_time_unix), *row.start_time_unix);
    }
  }
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (stats[k].num_procs > 0) out.groups.emplace(std::string(names[k]), std::move(stats[k]));
  }
  out.members.Finish();
  for (const ListenSocket& socket : snapshot.listening) {
    if (!socket.pid) continue;
    if (const std::string* group = out.members.Find(*socket.pid)) {
      ++out.groups[*group].listen_sockets[socket.proto];
    }
  }
  return out;
}

GroupTracker::Counters GroupTracker::Identity::Last() const {
  Counters out;
  out.cpu_user = cpu_user;
  out.cpu_system = cpu_system;
  out.read_bytes = read_bytes;
  out.write_bytes = write_bytes;
  out.major_faults = major_faults;
  out.minor_faults = minor_faults;
  out.ctx_voluntary = ctx_voluntary;
  out.ctx_involuntary = ctx_involuntary;
  return out;
}

GroupTracker::Counters GroupTracker::ZeroedCounters(const Counters& counters) {
  const auto zero = [](const auto& value) {
    using Optional = std::remove_cvref_t<decltype(value)>;
    return value ? Optional(typename Optional::value_type{}) : Optional();
  };
  Counters out;
  out.cpu_system = zero(counters.cpu_system);
  out.read_bytes = zero(counters.read_bytes);
  out.write_bytes = zero(counters.write_bytes);
  out.major_faults = zero(counters.major_faults);
  out.minor_faults = zero(counters.minor_faults);
  out.ctx_voluntary = zero(counters.ctx_voluntary);
  out.ctx_involuntary = zero(counters.ctx_involuntary);
  return out;
}

void GroupTracker::Admit(GroupSnapshot& out, const GroupLifecycle& lifecycle,
                         std::chrono::system_clock::time_point now) {
  // Expired templated groups go first, so their places are free for this update's new ones.
  std::erase_if(accum_, [&](const auto& entry) {
    const std::string& name = entry.first;
    return !out.groups.contains(name) && !(lifecycle.fixed && lifecycle.fixed->contains(name)) &&
           !lifecycle.expected.contains(name) &&
           now - entry.second.last_seen >= lifecycle.retention;
  });
  std::size_t tracked = 0;
  for (const auto& entry : accum_) tracked += lifecycle.expected.contains(entry.first) ? 0 : 1;
  GroupNameSet refused;
  for (const auto& entry : out.groups) {
    const std::string& name = entry.first;
    if (accum_.contains(name) || lifecycle.expected.contains(name)) continue;
    if (tracked >= lifecycle.max_groups) {
      refused.insert(name);
      continue;
    }
    ++tracked;
    accum_[name].last_seen = now;
  }
  if (refused.empty()) return;
  out.refused = refused.size();
  for (const std::string& name : refused) out.groups.erase(name);
  out.members.EraseGroups(refused);
}

GroupSnapshot GroupTracker::Update(const HostSnapshot& snapshot, const Grouper& grouper,
                                   const GroupLifecycle& lifecycle,
                                   std::chrono::system_clock::time_point when) {
  return Track(grouper.Group(snapshot), snapshot, lifecycle, when);
}

GroupSnapshot GroupTracker::Update(const std::shared_ptr<const HostSnapshot>& snapshot,
                                   const Grouper& grouper, const GroupLifecycle& lifecycle,
                                   std::chrono::system_clock::time_point when) {
  return Track(grouper.Group(snapshot, memo_), *snapshot, lifecycle, when);
}

GroupSnapshot GroupTracker::Track(GroupSnapshot out, const HostSnapshot& snapshot,
                                  const GroupLifecycle& lifecycle,
                                  std::chrono::system_clock::time_point when) {
  Admit(out, lifecycle, when);
  std::vector<Identity> next;
  next.reserve(snapshot.processes.size());
  // Each group's accumulation, looked up by name once per update rather than per process.
  std::vector<Accum*> accum_of(out.members.names().size(), nullptr);
  for (const ProcessRow& row : snapshot.processes) {
    const std::optional<std::uint32_t> member = out.members.IndexOf(row.pid);
    Counters now;
    now.cpu_user = row.cpu_user_seconds.value_or(row.cpu_total_seconds.value_or(0));
    now.cpu_system = row.cpu_system_seconds;
    now.read_bytes = row.read_bytes;
    now.write_bytes = row.write_bytes;
    now.major_faults = row.major_faults;
    now.minor_faults = row.minor_faults;
    now.ctx_voluntary = row.ctx_voluntary;
    now.ctx_involuntary = row.ctx_involuntary;

    auto prev = std::lower_bound(identities_.begin(), identities_.end(), row.pid,
                                 [](const Identity& id, std::int64_t pid) { return id.pid < pid; });
    const bool same = prev != identities_.end() && prev->pid == row.pid &&
                      SameStartTime(prev->start_time, row.start_time_unix, tolerance_);
    next.push_back(Identity{row.pid, same ? prev->start_time : row.start_time_unix, now.cpu_user,
                            now.cpu_system, now.read_bytes, now.write_bytes, now.major_faults,
                            now.minor_faults, now.ctx_voluntary, now.ctx_involuntary});
    if (!member) continue;

    Accum*& cached = accum_of[*member];
    if (cached == nullptr) cached = &accum_[out.members.names()[*member]];
    Accum& acc = *cached;
    Counters& total = acc.total;
    if (!same) {
      // A baseline process adds 0 (what it used before the collector saw it is not counted) but
      // makes its readings present; a later identity started since, so all of it counts.
      const Counters add = first_ ? ZeroedCounters(now) : now;
      if (!first_) ++acc.starts;
      total.cpu_user += add.cpu_user;
      AddOpt(total.cpu_system, add.cpu_system);
      AddOpt(total.read_bytes, add.read_bytes);
      AddOpt(total.write_bytes, add.write_bytes);
      AddOpt(total.major_faults, add.major_faults);
      AddOpt(total.minor_faults, add.minor_faults);
      AddOpt(total.ctx_voluntary, add.ctx_voluntary);
      AddOpt(total.ctx_involuntary, add.ctx_involuntary);
      continue;
    }
    const Counters last = prev->Last();
    // A value that shrinks (or appears only now) contributes nothing: counters only grow.
    auto delta_d = [](std::optional<double>& sum, std::optional<double> cur,
                      std::optional<double> old) {
      if (cur && old)
        sum = sum.value_or(0) + std::max(0.0, *cur - *old);
      else if (cur && !sum)
        sum = 0.0;
    };
    auto delta_u = [](std::optional<std::uint64_t>& sum, std::optional<std::uint64_t> cur,
                      std::optional<std::uint64_t> old) {
      if (cur && old)
        sum = sum.value_or(0) + (*cur > *old ? *cur - *old : 0);
      else if (cur && !sum)
        sum = 0;
    };
    total.cpu_user += std::max(0.0, now.cpu_user - last.cpu_user);
    delta_d(total.cpu_system, now.cpu_system, last.cpu_system);
    delta_u(total.read_bytes, now.read_bytes, last.read_bytes);
    delta_u(total.write_bytes, now.write_bytes, last.write_bytes);
    delta_u(total.major_faults, now.major_faults, last.major_faults);
    delta_u(total.minor_faults, now.minor_faults, last.minor_faults);
    delta_u(total.ctx_voluntary, now.ctx_voluntary, last.ctx_voluntary);
    delta_u(total.ctx_involuntary, now.ctx_involuntary, last.ctx_involuntary);
  }
  // Snapshots ascend by pid (HostSnapshot); a table that does not is ordered here, the last
  // row of a repeated pid winning.
  detail::SortByPidKeepLast(next, [](const Identity& id) { return id.pid; });
  identities_ = std::move(next);
  first_ = false;

  for (auto& [name, acc] : accum_) {
    if (out.groups.contains(name)) acc.last_seen = when;
    GroupStats& g = out.groups[name];  // a group seen before stays, with num_procs 0
    g.cpu_user_seconds = acc.total.cpu_user;
    g.cpu_system_seconds = acc.total.cpu_system;
    g.read_bytes = acc.total.read_bytes;
    g.write_bytes = acc.total.write_bytes;
    g.major_faults = acc.total.major_faults;
    g.minor_faults = acc.total.minor_faults;
    g.ctx_voluntary = acc.total.ctx_voluntary;
    g.ctx_involuntary = acc.total.ctx_involuntary;
    g.starts_total = acc.starts;
  }
  for (const std::string& name : lifecycle.expected) out.groups.try_emplace(name);
  return out;
}

}  // namespace fleetps::probes
