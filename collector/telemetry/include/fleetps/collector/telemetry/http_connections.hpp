// The HTTP server's connection budget as the operator sees it (fleetps_http_connections*):
// connections open, the limit, and connections refused, evicted or cut at a deadline, each by
// a fixed reason so every series exists (as 0) from the collector's start. Process-wide (the
// collector runs one HTTP server); atomics, so recording never takes a lock. Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace fleetps::collector {

/// Why a new connection was not admitted (fleetps_http_connections_refused_total{reason}).
enum class HttpRefusal : std::uint8_t {
  kClientLimit,  ///< its source address already holds max_connections_per_client
  kServerFull,   ///< max_connections reached and every connection is busy
};
inline constexpr std::array<std::string_view, 2> kHttpRefusalReasons{"client_limit", "server_full"};

/// What an evicted connection was doing (fleetps_http_connections_evicted_total{reason}).
enum class HttpEviction : std::uint8_t {
  kIdle,            ///< waiting between keep-alive requests
  kReadingRequest,  ///< its request (headers or body) not complete yet
};
inline constexpr std::array<std::string_view, 2> kHttpEvictionReasons{"idle", "reading_request"};

/// Which deadline closed a connection (fleetps_http_connections_timed_out_total{deadline}).
enum class HttpDeadline : std::uint8_t { kHeader, kBody, kIdle, kWrite };
inline constexpr std::array<std::string_view, 4> kHttpDeadlines{"header", "body", "idle", "write"};

void RecordHttpRefusal(HttpRefusal reason) noexcept;
void RecordHttpEviction(HttpEviction reason) noexcept;
void RecordHttpTimeout(HttpDeadline deadline) noexcept;
/// `delta` connections opened (+) or closed (-).
void AddHttpConnectionsOpen(std::int64_t delta) noexcept;
/// The current max_connections.
void SetHttpConnectionLimit(std::size_t limit) noexcept;

struct HttpConnectionCounts {
  std::int64_t open = 0;
  std::uint64_t limit = 0;
  /// (label value, count) in the order of the label arrays above.
  std::vector<std::pair<std::string_view, std::uint64_t>> refused, evicted, timed_out;
};
[[nodiscard]] HttpConnectionCounts HttpConnectionCountsNow();

}  // namespace fleetps::collector
