// The row the query language sees (one process, or one listening socket, of one host) and the
// value of each field in it: the field schema shared by the selector, sorting and the API.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "fleetps/collector/query/selector.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::collector {

using HostLabels = std::map<std::string, std::string>;

/// One process (or one listening socket) of one host as the query language sees it. A view:
/// `process`, `socket` and `labels` point into snapshots and specs the caller keeps alive (e.g.
/// the shared_ptrs of FleetState::Hosts()) for as long as the row, and any QueryResult holding
/// it, is used.
struct QueryRow {
  std::string host;
  const HostLabels* labels = nullptr;  ///< Null means no labels.
  /// The process. In a process row never null; in a socket row null when the owner is unknown
  /// (then every process field is absent, except `comm`, which falls back to the socket's).
  const probes::ProcessRow* process = nullptr;
  const probes::ListenSocket* socket = nullptr;  ///< Set in rows of /api/v1/listening only.
  std::optional<std::string> group;              ///< process_names group, when grouped.
  std::optional<double> cpu_cores;               ///< From CPU time deltas between two snapshots.
  std::optional<double> age_seconds;             ///< Now minus start time.
};

/// The value of a numeric field in base units (bytes, cores, seconds); nullopt when the row
/// lacks it.
[[nodiscard]] std::optional<double> NumericValue(const QueryRow& row, Field field) noexcept;

/// The value of a string field; "" when the row lacks it.
[[nodiscard]] std::string_view StringValue(const QueryRow& row, const FieldRef& field) noexcept;

/// The value of a string field; nullopt when the row lacks it (sorting puts those last).
[[nodiscard]] std::optional<std::string_view> OptionalStringValue(const QueryRow& row,
                                                                  const FieldRef& field) noexcept;

}  // namespace fleetps::collector
