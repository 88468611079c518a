#pragma once

#include <initializer_list>
#include <span>
#include <string_view>
#include <utility>

namespace fleetps::collector {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string_view>;

/// Writes one structured line to stderr in logfmt:
///   ts=2026-11-21T10:40:00.123Z level=info event=host_state host=web01 state=ready
/// Values with spaces, quotes or `=` are quoted. Thread-safe: each line is one write.
/// Callers never pass secrets or raw host output here.
void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

/// Same, for fields assembled at run time (some present only when they have a value).
void Log(LogLevel level, std::string_view event, std::span<const LogField> fields);

/// Lines below this level are dropped (default info; FLEETPS_LOG_LEVEL=debug|info|warn|error).
void SetLogLevel(LogLevel level);

}  // namespace fleetps::collector
