#include "fleetps/collector/telemetry/internal_errors.hpp"

#include <algorithm>
#include <atomic>

#include "fleetps/collector/telemetry/log.hpp"

namespace fleetps::collector {
namespace {

// One counter per site plus "other"; atomics so recording never takes a lock.
std::array<std::atomic<std::uint64_t>, kInternalErrorSites.size() + 1> g_counts{};

}  // namespace

void RecordInternalError(std::string_view where, std::string_view error) noexcept {
  const auto it = std::find(kInternalErrorSites.begin(), kInternalErrorSites.end(), where);
  const auto index = static_cast<std::size_t>(it - kInternalErrorSites.begin());
  g_counts[index].fetch_add(1, std::memory_order_relaxed);
  try {
    Log(LogLevel::kError, "internal_error",
        {{"where", it == kInternalErrorSites.end() ? std::string_view("other") : where},
         {"error", error}});
  } catch (...) {
    // Logging allocates; out of memory here leaves the count as the only trace.
  }
}

std::string DescribeException(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return std::string(kNonStandardException);
  }
}

void RecordInternalException(std::string_view where, const std::exception_ptr& error) noexcept {
  if (!error) return;
  try {
    RecordInternalError(where, DescribeException(error));
  } catch (...) {
    // Describing allocates; out of memory here still counts the error.
    RecordInternalError(where, "out of memory describing an exception");
  }
}

std::vector<std::pair<std::string_view, std::uint64_t>> InternalErrorCounts() {
  std::vector<std::pair<std::string_view, std::uint64_t>> out;
  out.reserve(g_counts.size());
  for (std::size_t i = 0; i < kInternalErrorSites.size(); ++i) {
    out.emplace_back(kInternalErrorSites[i], g_counts[i].load(std::memory_order_relaxed));
  }
  out.emplace_back("other", g_counts.back().load(std::memory_order_relaxed));
  return out;
}

}  // namespace fleetps::collector
