#include "fleetps/collector/telemetry/http_connections.hpp"

#include <atomic>

namespace fleetps::collector {
namespace {

template <std::size_t N>
using Counters = std::array<std::atomic<std::uint64_t>, N>;

std::atomic<std::int64_t> g_open{0};
std::atomic<std::uint64_t> g_limit{0};
Counters<kHttpRefusalReasons.size()> g_refused{};
Counters<kHttpEvictionReasons.size()> g_evicted{};
Counters<kHttpDeadlines.size()> g_timed_out{};

template <std::size_t N>
std::vector<std::pair<std::string_view, std::uint64_t>> Read(
    const std::array<std::string_view, N>& labels, const Counters<N>& counters) {
  std::vector<std::pair<std::string_view, std::uint64_t>> out;
  out.reserve(N);
  for (std::size_t i = 0; i < N; ++i) {
    out.emplace_back(labels[i], counters[i].load(std::memory_order_relaxed));
  }
  return out;
}

}  // namespace

void RecordHttpRefusal(HttpRefusal reason) noexcept {
  g_refused[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void RecordHttpEviction(HttpEviction reason) noexcept {
  g_evicted[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void RecordHttpTimeout(HttpDeadline deadline) noexcept {
  g_timed_out[static_cast<std::size_t>(deadline)].fetch_add(1, std::memory_order_relaxed);
}

void AddHttpConnectionsOpen(std::int64_t delta) noexcept {
  g_open.fetch_add(delta, std::memory_order_relaxed);
}

void SetHttpConnectionLimit(std::size_t limit) noexcept {
  g_limit.store(limit, std::memory_order_relaxed);
}

HttpConnectionCounts HttpConnectionCountsNow() {
  HttpConnectionCounts counts;
  counts.open = g_open.load(std::memory_order_relaxed);
  counts.limit = g_limit.load(std::memory_order_relaxed);
  counts.refused = Read(kHttpRefusalReasons, g_refused);
  counts.evicted = Read(kHttpEvictionReasons, g_evicted);
  counts.timed_out = Read(kHttpDeadlines, g_timed_out);
  return counts;
}

}  // namespace fleetps::collector
