// Evaluation of ad hoc process queries over the latest snapshots, the HTTP parameters of
// /api/v1/processes, and the JSON the API answers with. Shapes are documented in docs/query.md.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "fleetps/collector/selector.hpp"
#include "fleetps/probes/grouping.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::collector {

using HostLabels = std::map<std::string, std::string>;

/// One process (or one listening socket) of one host as the query language sees it. A view:
/// `process`, `socket` and `labels` point into snapshots and specs the caller keeps alive (e.g.
/// the shared_ptrs of FleetState::Hosts()) for as long as the row, and any QueryResult holding
/// it, is used.
struct QueryRow {
  std::string host;
  const HostLabels* labels = nullptr;             ///< Null means no labels.
  /// The process. In a process row never null; in a socket row null when the owner is unknown
  /// (then every process field is absent, except `comm`, which falls back to the socket's).
  const probes::ProcessRow* process = nullptr;
  const probes::ListenSocket* socket = nullptr;  ///< Set in rows of /api/v1/listening only.
  std::optional<std::string> group;               ///< process_names group, when grouped.
  std::optional<double> cpu_cores;    ///< From CPU time deltas between two snapshots.
  std::optional<double> age_seconds;  ///< Now minus start time.
};

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

/// The validated parameters of GET /api/v1/processes.
struct ProcessQuery {
  Selector selector;
  SortSpec sort;
  std::size_t limit = kDefaultLimit;
  bool fresh = false;
};

/// A parameter that failed validation: answer HTTP 400 with RenderErrorJson(error).
struct QueryParamError {
  std::string parameter;  ///< "q", "sort", "limit", "fresh", or the unknown parameter's name.
  SelectorError error;    ///< Position within that parameter's (decoded) value.

  /// `q: 1:14: unknown field "rsz" (did you mean "rss"?)`.
  [[nodiscard]] std::string ToString() const;
};

[[noreturn]] void throw_exception_from_error(const QueryParamError& error,
                                             const boost::source_location& location);

/// Validates decoded parameter values; an empty string means "not given". `fresh` accepts
/// 1/true/yes and 0/false/no. Touches nothing remote: call it before opening any channel.
[[nodiscard]] boost::system::result<ProcessQuery, QueryParamError> ParseProcessQuery(
    std::string_view q, std::string_view sort, std::string_view limit, std::string_view fresh);

/// Same, from a raw URL query string (`q=%7Brss%3E1GiB%7D&limit=10`): percent-decodes ('+' is
/// a space), rejects unknown and repeated parameters and bad encodings.
[[nodiscard]] boost::system::result<ProcessQuery, QueryParamError> ParseProcessQueryString(
    std::string_view encoded_query);

/// Freshness of one host's rows in an answer.
enum class HostDataStatus { kOk, kStale, kDown };

/// "ok", "stale", "down".
[[nodiscard]] std::string_view HostDataStatusName(HostDataStatus status) noexcept;

/// One entry of `data.hosts` in the /api/v1/processes answer.
struct HostQueryStatus {
  std::string host;
  HostDataStatus status = HostDataStatus::kOk;
  std::string reason;                 ///< Short fixed reason ("timeout"); empty when ok.
  std::optional<double> age_seconds;  ///< Age of the snapshot the rows come from.
};

/// `{"status":"ok","data":{"rows":[...],"total":N,"hosts":[...]}}`; absent values are omitted,
/// strings are made valid UTF-8 (invalid bytes become U+FFFD).
[[nodiscard]] std::string RenderProcessesJson(const QueryResult& result,
                                              std::span<const HostQueryStatus> hosts);

/// The /api/v1/listening answer: `{"status":"ok","data":{"rows":[...],"total":N,"hosts":[...]}}`
/// with one row per socket: host, proto, address, port, and when known pid, comm, user, group.
[[nodiscard]] std::string RenderListeningJson(const QueryResult& result,
                                              std::span<const HostQueryStatus> hosts);

/// `{"status":"error","error":{"message":...,"parameter":...,"position":N}}` (parameter and
/// position only when given).
[[nodiscard]] std::string RenderErrorJson(std::string_view message,
                                          std::optional<std::size_t> position = std::nullopt,
                                          std::string_view parameter = {});
[[nodiscard]] std::string RenderErrorJson(const QueryParamError& error);

}  // namespace fleetps::collector
