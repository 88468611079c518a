// Evaluation of ad hoc process queries over the latest snapshots: the rows the query language
// sees, their field values, sort and limit. No HTTP or JSON here (those are api/).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "fleetps/collector/query/row.hpp"
#include "fleetps/collector/query/selector.hpp"
#include "fleetps/probes/grouping.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::collector {

/// What a later snapshot needs of an earlier one to derive cpu_cores: per process its identity
/// and cumulative CPU. 24 bytes a process, so the collector keeps these instead of the whole
/// previous process table.
struct CpuSample {
  std::int64_t pid = 0;
  probes::CompactOptional<double> start_time_unix;
  probes::CompactOptional<double> cpu_seconds;  ///< user+system, or the total.
};
using CpuSamples = std::vector<CpuSample>;  ///< Ascending pid, like HostSnapshot::processes.

/// The CPU samples of every process of `snapshot`.
[[nodiscard]] CpuSamples SampleCpu(const probes::HostSnapshot& snapshot);

/// What AppendQueryRows needs to know about one host.
struct HostRowsInput {
  std::string_view host;
  const HostLabels* labels = nullptr;
  const probes::HostSnapshot* current = nullptr;  ///< Rows come from here; null adds none.
  const CpuSamples* previous = nullptr;           ///< For cpu_cores; may be null.
  /// Seconds between the two probes; cpu_cores stays absent without a positive value.
  std::optional<double> elapsed_seconds;
  const probes::GroupSnapshot* groups = nullptr;  ///< pid → group of `current`; may be null.
  std::optional<double> now_unix;                 ///< For age_seconds; absent leaves it absent.
};

/// Appends one QueryRow per process of `input.current`. cpu_cores is the growth of cumulative
/// CPU (user+system, or the total) of the same process identity (pid and a start time within
/// 2 s) divided by elapsed_seconds; a process without a predecessor, or whose counter went
/// backwards, has none. age_seconds is now_unix minus the start time, never negative.
void AppendQueryRows(const HostRowsInput& input, std::vector<QueryRow>& out);

/// Appends one QueryRow per listening socket of `input.current`, joined by pid with the
/// process of the same snapshot when the socket's owner is known (group, age and cpu_cores as
/// in AppendQueryRows).
void AppendListeningRows(const HostRowsInput& input, std::vector<QueryRow>& out);

/// One sort key: `-rss` is {rss, descending}.
struct SortKey {
  FieldRef field;
  bool descending = false;
};
using SortSpec = std::vector<SortKey>;

inline constexpr std::size_t kMaxSortKeys = 8;

/// Parses `-rss`, `user,-cpu`, `+pid`: comma-separated field names, each optionally prefixed
/// with `-` (descending) or `+` (ascending). Empty text is the empty spec (order by host, pid).
[[nodiscard]] boost::system::result<SortSpec, SelectorError> ParseSort(std::string_view text);

inline constexpr std::size_t kDefaultLimit = 50;
inline constexpr std::size_t kMaxLimit = 100'000;

/// Parses a row limit, 1..kMaxLimit; empty text is kDefaultLimit.
[[nodiscard]] boost::system::result<std::size_t, SelectorError> ParseLimit(std::string_view text);

/// Matching rows in order, at most `limit`, and how many matched in all.
struct QueryResult {
  std::vector<QueryRow> rows;
  std::size_t total = 0;
};

/// Filters `rows` with `selector`, orders them by `sort` then host, then (socket rows) port,
/// proto and address, then pid, rows without a process last (a total, stable
/// order: rows lacking a sort value come last in either direction), and keeps the first
/// `limit`. Costs O(n log limit). Fails only when a regex exceeds its backtracking bound.
/// Thread-compatible; the result points at what `rows` points at.
[[nodiscard]] boost::system::result<QueryResult, SelectorError> RunQuery(
    std::span<const QueryRow> rows, const Selector& selector, const SortSpec& sort,
    std::size_t limit);

}  // namespace fleetps::collector
