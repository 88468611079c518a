// Process grouping with process-exporter's `process_names` semantics, and the tracker that turns
// per-process cumulative values into group counters that never go backwards.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fleetps/probes/process.hpp"

namespace fleetps::probes {

/// One `process_names` entry as plain data (fleetps::config converts its ProcessNameMatcher;
/// probes must not depend on config). At least one of comm, exe, cmdline must be non-empty;
/// every non-empty kind must match (comm: any listed name equals comm; exe: any entry equals
/// argv[0]'s base name, or argv[0] itself when the entry contains '/'; cmdline: every regex
/// finds a match in the space-joined arguments).
struct MatcherSpec {
  /// Go-template subset: literal text plus {{.Comm}} {{.ExeBase}} {{.ExeFull}} {{.Username}}
  /// {{.PID}} {{.StartTime}} {{.Matches.NAME}} (NAME a named capture of a cmdline regex).
  std::string name_template = "{{.ExeBase}}";
  std::vector<std::string> comm;
  std::vector<std::string> exe;
  /// RE2-style regexes: `(?P<name>...)` / `(?<name>...)` named groups and a leading `(?i)` are
  /// accepted; otherwise ECMAScript syntax. They see the first 4 KiB of the command line only
  /// (std::regex recursion is linear in the input length).
  std::vector<std::string> cmdline;
};

struct GroupOptions {
  /// process-exporter's `-children` (default true): an unmatched process joins the group of
  /// its nearest ancestor that matched a matcher itself.
  bool fold_children = true;
};

/// Aggregates of one group. Counters (cpu, io, faults, context switches, starts) are sums of the
/// members' current cumulative values from Grouper::Group, and monotonic accumulations from
/// GroupTracker::Update. Optionals are absent when no member had the value (e.g. HP-UX resident
/// memory, non-Linux io).
struct GroupStats {
  std::uint64_t num_procs = 0;
  /// mode="user". When a dialect only gives user+system combined, the total is counted here.
  double cpu_user_seconds = 0;
  std::optional<double> cpu_system_seconds;  ///< mode="system"; absent on total-only dialects.
  std::optional<std::uint64_t> memory_resident_bytes;
  std::optional<std::uint64_t> memory_virtual_bytes;
  std::optional<std::uint64_t> memory_swapped_bytes;
  std::optional<std::int64_t> open_filedesc;
  std::optional<double> worst_fd_ratio;  ///< max(fds / soft limit) over members that have both.
  std::optional<std::int64_t> num_threads;
  std::array<std::uint64_t, 5> states{};  ///< Indexed by StateBucket.
  std::optional<double> oldest_start_time_unix;
  std::optional<std::uint64_t> read_bytes;
  std::optional<std::uint64_t> write_bytes;
  std::optional<std::uint64_t> major_faults;
  std::optional<std::uint64_t> minor_faults;
  std::optional<std::uint64_t> ctx_voluntary;
  std::optional<std::uint64_t> ctx_involuntary;
  std::uint64_t starts_total = 0;  ///< GroupTracker only: new (pid, start) identities seen.
  std::map<std::string, std::uint64_t> listen_sockets;  ///< proto → sockets owned by members.
};

/// pid → group name of the grouped processes of one snapshot. Compact because a host keeps one
/// entry per process: (pid, name index) pairs in ascending pid, each group's name stored once.
class GroupMembers {
 public:
  GroupMembers() = default;
  /// From (pid, group) pairs in any order; of a repeated pid the first counts.
  GroupMembers(std::initializer_list<std::pair<std::int64_t, std::string_view>> members);

  /// The group of `pid`, or nullptr when the process is not grouped.
  [[nodiscard]] const std::string* Find(std::int64_t pid) const noexcept;
  [[nodiscard]] bool contains(std::int64_t pid) const noexcept { return Find(pid) != nullptr; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  /// Same pids in the same groups.
  [[nodiscard]] bool operator==(const GroupMembers& other) const noexcept;

  /// Adds a group name and returns its index for Add (names are not deduplicated here).
  std::uint32_t AddName(std::string_view name);
  /// Adds `pid` to the group AddName returned `name_index` for; ascending pids are cheapest.
  void Add(std::int64_t pid, std::uint32_t name_index);
  /// Orders by pid after out-of-order Adds (the first of a repeated pid counts), and sheds
  /// spare capacity: the table lives as long as the host's view.
  void Finish();
  /// Removes the members of the groups named in `drop`.
  void EraseGroups(const std::set<std::string, std::less<>>& drop);
  /// The names, indexed by what AddName returned (for a per-group lookup done once).
  [[nodiscard]] const std::vector<std::string>& names() const noexcept { return names_; }
  /// The name index of `pid`'s group, or nullopt when the process is not grouped.
  [[nodiscard]] std::optional<std::uint32_t> IndexOf(std::int64_t pid) const noexcept;

 private:
  std::vector<std::string> names_;
  std::vector<std::pair<std::int64_t, std::uint32_t>> entries_;  // ascending pid after Finish
  bool sorted_ = true;
};

/// The grouping of one snapshot.
struct GroupSnapshot {
  /// Grouper: only groups with members. GroupTracker: the host's groups (see GroupLifecycle).
  std::map<std::string, GroupStats> groups;
  GroupMembers members;  ///< pid → group name, grouped processes only.
  /// GroupTracker only: groups with members refused by GroupLifecycle::max_groups this update.
  std::uint64_t refused = 0;
};

/// Group names, shared by every host's GroupLifecycle.
using GroupNameSet = std::set<std::string, std::less<>>;

/// Which groups a host shows besides those with processes now (DESIGN.md §6), and the bound on
/// them. One per host: `expected` depends on the host.
struct GroupLifecycle {
  /// Fixed-name groups expected on this host (`expect:`): in every update's output from the
  /// first on, with num_procs 0 when absent.
  GroupNameSet expected;
  /// Names of the fixed-name groups (templates without placeholders): once seen on the host,
  /// kept. Other groups (templated) are dropped, counters and all, after `retention` empty.
  /// Shared by the hosts of a fleet; null means none.
  std::shared_ptr<const GroupNameSet> fixed;
  std::chrono::milliseconds retention{std::chrono::hours(1)};
  /// Groups tracked at once, expected ones not counted. A group beyond it is refused (absent
  /// from the output, its processes uncounted) until one is dropped; existing groups first,
  /// then new ones in name order.
  std::size_t max_groups = 1000;
};

struct GrouperResult;
class GroupMemo;

/// Compiled matchers. Immutable after Compile: copies share state and may be used from many
/// threads.
///
/// Usage:
///   auto r = Grouper::Compile({{"{{.Matches.Name}}", {}, {}, {"java .*-Dname=(?P<Name>\\w+)"}}});
///   if (!r.errors.empty()) { /* report */ }
///   GroupSnapshot g = r.grouper->Group(snapshot);
class Grouper {
 public:
  [[nodiscard]] static GrouperResult Compile(const std::vector<MatcherSpec>& specs,
                                             GroupOptions options = {});

  /// The group name of `row` by its own attributes (first matching matcher wins), ignoring
  /// ancestry; nullopt when no matcher matches.
  [[nodiscard]] std::optional<std::string> Name(const ProcessRow& row) const;

  /// Groups a snapshot (own match first, then ancestry when fold_children). Ungrouped
  /// processes are ignored.
  [[nodiscard]] GroupSnapshot Group(const HostSnapshot& snapshot) const;
  /// The same grouping, with each row's own match looked up in (and recorded into) `memo`,
  /// which then views `snapshot` and keeps it alive. Same result as Group(*snapshot).
  [[nodiscard]] GroupSnapshot Group(const std::shared_ptr<const HostSnapshot>& snapshot,
                                    GroupMemo& memo) const;

  struct Impl;
  explicit Grouper(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<const Impl> impl_;  // shared and immutable: copies are cheap
};

/// Compile outcome: `grouper` is set exactly when `errors` is empty.
struct GrouperResult {
  std::optional<Grouper> grouper;
  std::vector<std::string> errors;  ///< "process_names[2]: unknown template field .Foo"
};

/// One host's own-match results across probes: a host's table barely changes between probes, so
/// most rows skip the matchers and their regexes. An entry is keyed by what a row's own match
/// depends on: (comm, args) (exe is the first word of args), plus the user, pid and start time
/// only when a name template uses them. Keys view the snapshot of the last Group, which the memo
/// keeps alive (the same one the host's view holds, so it costs no copy). After each Group the
/// memo holds exactly the keys of that snapshot, at most `max_entries` of them (rows beyond it
/// are matched every time). Tied to one Grouper: grouping with another (a reload) starts afresh.
/// Not thread-safe: one per host.
class GroupMemo {
 public:
  static constexpr std::size_t kDefaultMaxEntries = 4096;
  explicit GroupMemo(std::size_t max_entries = kDefaultMaxEntries) : max_entries_(max_entries) {}

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  /// Rows of the last Group answered from the memo, and rows that went through the matchers.
  [[nodiscard]] std::size_t last_hits() const noexcept { return hits_; }
  [[nodiscard]] std::size_t last_misses() const noexcept { return misses_; }

 private:
  friend class Grouper;
  struct Key {
    std::string_view comm;
    std::string_view args;
    std::string_view user;  // empty unless a template uses {{.Username}}
    std::int64_t pid = 0;   // 0 unless a template uses {{.PID}} or {{.StartTime}}
    double start = 0;       // likewise
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept;
  };
  /// The rendered name of the first matching matcher, or nullopt: no matcher matches.
  using Entries = std::unordered_map<Key, std::optional<std::string>, KeyHash>;

  std::size_t max_entries_;
  std::shared_ptr<const void> grouper_;         // the Grouper::Impl the entries were made with
  std::shared_ptr<const HostSnapshot> source_;  // the snapshot the keys view
  Entries entries_;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
};

/// Keeps per-process identities ((pid, start time) within `start_time_tolerance` seconds, since
/// etime-derived start times can jitter by a second) across snapshots of ONE host and turns
/// them into monotonic group counters: a process that exits keeps its contribution, a new
/// identity contributes its whole cumulative value and counts as a start. The first update's
/// processes are the baseline: they contribute 0 and are no start, so counters count from when
/// the collector first saw the host (process-exporter's semantics) and a collector restart is an
/// ordinary counter reset, never a spike. Which groups are in the output, and how many at most,
/// is the GroupLifecycle's: once seen a group stays (num_procs 0, counters kept) unless it is
/// templated and stays empty for `retention`. Not thread-safe: use from the host's own strand.
class GroupTracker {
 public:
  explicit GroupTracker(double start_time_tolerance = kStartTimeToleranceSeconds,
                        std::size_t memo_entries = GroupMemo::kDefaultMaxEntries)
      : tolerance_(start_time_tolerance), memo_(memo_entries) {}

  /// `when` is the snapshot's time; retention is measured in it.
  [[nodiscard]] GroupSnapshot Update(const HostSnapshot& snapshot, const Grouper& grouper,
                                     const GroupLifecycle& lifecycle = {},
                                     std::chrono::system_clock::time_point when = {});
  /// The same update, grouping through this tracker's GroupMemo (which keeps `snapshot` alive
  /// until the next update): what a host's probes use.
  [[nodiscard]] GroupSnapshot Update(const std::shared_ptr<const HostSnapshot>& snapshot,
                                     const Grouper& grouper, const GroupLifecycle& lifecycle = {},
                                     std::chrono::system_clock::time_point when = {});

  [[nodiscard]] const GroupMemo& memo() const noexcept { return memo_; }

 private:
  struct Counters {
    double cpu_user = 0;
    std::optional<double> cpu_system;
    std::optional<std::uint64_t> read_bytes, write_bytes, major_faults, minor_faults, ctx_voluntary,
        ctx_involuntary;
  };
  // A process's identity and last readings in 80 bytes (CompactOptional): one per process.
  struct Identity {
    std::int64_t pid = 0;
    CompactOptional<double> start_time;
    double cpu_user = 0;
    CompactOptional<double> cpu_system;
    CompactOptional<std::uint64_t> read_bytes, write_bytes, major_faults, minor_faults,
        ctx_voluntary, ctx_involuntary;
    [[nodiscard]] Counters Last() const;
  };
  struct Accum {
    Counters total;
    std::uint64_t starts = 0;
    std::chrono::system_clock::time_point last_seen;  // last update with a member
  };
  // Drops the templated groups empty for the retention, admits the groups of `out` the
  // lifecycle allows, removes the others (and their members) from `out`, counts them in
  // out.refused.
  void Admit(GroupSnapshot& out, const GroupLifecycle& lifecycle,
             std::chrono::system_clock::time_point now);
  // `counters` with every present reading 0: a baseline process's contribution.
  static Counters ZeroedCounters(const Counters& counters);
  // Turns this update's grouping into counters (both Update overloads).
  GroupSnapshot Track(GroupSnapshot out, const HostSnapshot& snapshot,
                      const GroupLifecycle& lifecycle, std::chrono::system_clock::time_point when);

  double tolerance_;
  bool first_ = true;
  std::vector<Identity> identities_;  // ascending pid
  std::map<std::string, Accum> accum_;
  GroupMemo memo_;
};

}  // namespace fleetps::probes
