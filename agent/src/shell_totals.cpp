#include "shell_counting.hpp"

#include <atomic>

namespace fleetps::agent {
namespace {

// Relaxed: plain event counts, read at scrape time with no ordering against anything else.
std::atomic<std::uint64_t> g_opened_first{0};
std::atomic<std::uint64_t> g_opened_replacement{0};
std::atomic<std::uint64_t> g_stray_bytes{0};
std::array<std::atomic<std::uint64_t>, kShellFallbackReasonCount> g_fallbacks{};

}  // namespace

std::string_view ShellFallbackReasonName(ShellFallbackReason reason) noexcept {
  switch (reason) {
    case ShellFallbackReason::kFirstRunFailed:
      return "first_run_failed";
    case ShellFallbackReason::kFirstRunTimeout:
      return "first_run_timeout";
    case ShellFallbackReason::kFailedTwice:
      return "failed_twice";
  }
  return "failed_twice";
}

ShellTotals ShellTotalsNow() noexcept {
  ShellTotals totals;
  totals.opened_first = g_opened_first.load(std::memory_order_relaxed);
  totals.opened_replacement = g_opened_replacement.load(std::memory_order_relaxed);
  totals.stray_bytes = g_stray_bytes.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kShellFallbackReasonCount; ++i) {
    totals.fallbacks[i] = g_fallbacks[i].load(std::memory_order_relaxed);
  }
  return totals;
}

namespace detail {

void CountShellOpened(bool first_of_session) noexcept {
  (first_of_session ? g_opened_first : g_opened_replacement)
      .fetch_add(1, std::memory_order_relaxed);
}

void CountShellStrayBytes(std::uint64_t bytes) noexcept {
  if (bytes != 0) g_stray_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

void CountShellFallback(ShellFallbackReason reason) noexcept {
  g_fallbacks.at(static_cast<std::size_t>(reason)).fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail
}  // namespace fleetps::agent
