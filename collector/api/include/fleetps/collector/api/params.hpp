// The HTTP query parameters of the API: application/x-www-form-urlencoded decoding with
// positions in error messages, and the validated parameters of GET /api/v1/processes.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/query/selector.hpp"

namespace fleetps::collector {

/// The validated parameters of GET /api/v1/processes.
struct ProcessQuery {
  Selector selector;
  SortSpec sort;
  std::size_t limit = kDefaultLimit;
  bool fresh = false;
  /// `scope=local`: answer for this member's own hosts only (a cluster coordinator's request
  /// to a peer), never fan out.
  bool local = false;
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

/// Same, from a raw URL query string (`q=%7Brss%3E1GiB%7D&limit=10`, and `scope=local`):
/// percent-decodes ('+' is a space), rejects unknown and repeated parameters and bad encodings.
[[nodiscard]] boost::system::result<ProcessQuery, QueryParamError> ParseProcessQueryString(
    std::string_view encoded_query);

/// Validates the `scope` parameter: only `local` (true) is known.
[[nodiscard]] boost::system::result<bool, QueryParamError> ParseScope(std::string_view value);

/// Decodes one application/x-www-form-urlencoded component (`+` and `%XX`). `text` lies at
/// offset `base` of `query`, so an error names its position in the whole query string.
[[nodiscard]] boost::system::result<std::string, SelectorError> FormDecode(std::string_view query,
                                                                           std::size_t base,
                                                                           std::string_view text);

/// Decodes an application/x-www-form-urlencoded query string whose parameters must be among
/// `names`, each at most once: the values by index of `names` (nullopt when absent), or the first
/// unknown, repeated or badly encoded parameter with its position in `query`.
[[nodiscard]] boost::system::result<std::vector<std::optional<std::string>>, QueryParamError>
DecodeQueryParams(std::string_view query, std::span<const std::string_view> names);

}  // namespace fleetps::collector
