// The JSON the API answers with (shapes in docs/query.md) and the writer every JSON answer goes
// through. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/query/query.hpp"

namespace fleetps::collector {

/// Serializes `value` like boost::json::serialize, but doubles in the shortest round-trip
/// decimal form (`0.5`, not `5E-1`). `indent` > 0 pretty-prints with that many spaces.
void WriteJson(const boost::json::value& value, std::string& out, int indent = 0);

/// WriteJson into a new string, compact.
[[nodiscard]] std::string SerializeJson(const boost::json::value& value);

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
/// strings are made valid UTF-8 (invalid bytes become U+FFFD). With `sort_values`, every row also
/// carries `"sort_values":[...]`, its value of each sort key (null when it has none), so a
/// cluster coordinator can merge the answers of its members in the same order (scope=local).
[[nodiscard]] std::string RenderProcessesJson(const QueryResult& result,
                                              std::span<const HostQueryStatus> hosts,
                                              const SortSpec* sort_values = nullptr);

/// The /api/v1/listening answer: `{"status":"ok","data":{"rows":[...],"total":N,"hosts":[...]}}`
/// with one row per socket: host, proto, address, port, and when known pid, comm, user, group
/// (and `sort_values` as RenderProcessesJson).
[[nodiscard]] std::string RenderListeningJson(const QueryResult& result,
                                              std::span<const HostQueryStatus> hosts,
                                              const SortSpec* sort_values = nullptr);

/// `{"status":"error","error":{"message":...,"parameter":...,"position":N}}` (parameter and
/// position only when given).
[[nodiscard]] std::string RenderErrorJson(std::string_view message,
                                          std::optional<std::size_t> position = std::nullopt,
                                          std::string_view parameter = {});
[[nodiscard]] std::string RenderErrorJson(const QueryParamError& error);

}  // namespace fleetps::collector
