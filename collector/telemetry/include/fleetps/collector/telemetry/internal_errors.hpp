// Errors the collector caught and could not hand to anyone (a failed streaming body, an ad hoc
// probe that threw, an accept that failed): never swallowed, each is logged and counted in
// fleetps_internal_errors_total{where}. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fleetps::collector {

/// The places that can record an internal error: the `where` label values. Fixed, so the label
/// stays bounded and every series exists (as 0) from the collector's start.
inline constexpr std::array<std::string_view, 7> kInternalErrorSites{
    "http_accept",       // accept() failed for another reason than shutdown (EMFILE, ENFILE, ...)
    "http_session",      // an HTTP connection's handler threw
    "http_stream",       // a streaming body (the event stream) threw
    "adhoc_probe",       // an ad hoc probe or open-files request threw on its agent
    "supervisor_child",  // a supervised child threw something that is not an exception
    "reload",            // a configuration reload threw after validation
    "cluster_fanout",    // a request to a peer for a fleet-wide answer threw
};

/// Logs `error` at level error (event=internal_error where=... error=...) and counts it.
/// `where` must be one of kInternalErrorSites; another value is counted as "other" so a typo
/// cannot grow the label set. `error` is a short message (an exception's what()); never secrets.
void RecordInternalError(std::string_view where, std::string_view error) noexcept;

/// What a caught exception says about itself: its what(), or kNonStandardException; "" for a
/// null `error`.
inline constexpr std::string_view kNonStandardException = "non-standard exception";
[[nodiscard]] std::string DescribeException(const std::exception_ptr& error);

/// RecordInternalError(where, DescribeException(error)) for a non-null `error`.
void RecordInternalException(std::string_view where, const std::exception_ptr& error) noexcept;

/// The count per site in kInternalErrorSites order, then ("other", n).
[[nodiscard]] std::vector<std::pair<std::string_view, std::uint64_t>> InternalErrorCounts();

}  // namespace fleetps::collector
