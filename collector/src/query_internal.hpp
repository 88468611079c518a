// Private helpers shared by selector.cpp, query.cpp, query_api.cpp, table.cpp and query_tables.cpp.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "fleetps/collector/query.hpp"
#include "fleetps/collector/selector.hpp"

namespace fleetps::collector::detail {

/// The value of a numeric field in base units (bytes, cores, seconds); nullopt when the row
/// lacks it.
[[nodiscard]] std::optional<double> NumericValue(const QueryRow& row, Field field) noexcept;

/// The value of a string field; "" when the row lacks it.
[[nodiscard]] std::string_view StringValue(const QueryRow& row, const FieldRef& field) noexcept;

/// `text` with invalid UTF-8 sequences replaced by U+FFFD.
[[nodiscard]] std::string ValidUtf8(std::string_view text);

/// `text` in plain double quotes, as error messages name a field or a value: `"rsz"`. Built by
/// appending: `"\"" + std::string(text) + "\""` draws a false -Wrestrict from GCC 12 at -O3.
[[nodiscard]] inline std::string Quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  out.append(text);
  out.push_back('"');
  return out;
}

/// Quotes `text` the way selector string literals are written: `"a\"b"`.
[[nodiscard]] std::string QuoteLiteral(std::string_view text);

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

/// Printable text for a terminal cell: valid UTF-8 with C0/C1 control characters replaced by
/// `?`, so a remote command line cannot move the cursor or recolour the operator's terminal.
[[nodiscard]] std::string TerminalSafe(std::string_view text);

/// Serializes `value` like boost::json::serialize, but doubles in the shortest round-trip
/// decimal form (`0.5`, not `5E-1`). `indent` > 0 pretty-prints with that many spaces.
void WriteJson(const boost::json::value& value, std::string& out, int indent = 0);

}  // namespace fleetps::collector::detail
