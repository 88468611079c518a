#pragma once

#include <chrono>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/telemetry/histogram.hpp"

namespace fleetps::collector {

/// Arms a timer on the current executor every `period` and records into `lag` how late it
/// fired (seconds): the time a ready handler waits for a loop thread, i.e. how long other
/// callbacks block the event loop. Runs until cancelled (returns quietly then). `lag` must
/// outlive the coroutine.
boost::asio::awaitable<void> MonitorLoopLag(Histogram& lag,
                                            std::chrono::steady_clock::duration period);

}  // namespace fleetps::collector
