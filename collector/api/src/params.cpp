#include "fleetps/collector/api/params.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "fleetps/collector/query/text.hpp"

namespace fleetps::collector {
namespace {

QueryParamError ParamError(std::string parameter, SelectorError error) {
  return QueryParamError{std::move(parameter), std::move(error)};
}

boost::system::result<bool, SelectorError> ParseFresh(std::string_view text) {
  if (text.empty() || text == "0" || text == "false" || text == "no") return false;
  if (text == "1" || text == "true" || text == "yes") return true;
  return MakeSelectorError(text, 0, "expected 1 or 0 (true/false)");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

boost::system::result<std::string, SelectorError> FormDecode(std::string_view query,
                                                             std::size_t base,
                                                             std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      const int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return MakeSelectorError(query, base + i, "bad percent-encoding");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string QueryParamError::ToString() const { return parameter + ": " + error.ToString(); }

void throw_exception_from_error(const QueryParamError& error, const boost::source_location&) {
  throw std::invalid_argument(error.ToString());
}

boost::system::result<ProcessQuery, QueryParamError> ParseProcessQuery(std::string_view q,
                                                                       std::string_view sort,
                                                                       std::string_view limit,
                                                                       std::string_view fresh) {
  ProcessQuery query;
  auto selector = ParseSelector(q);
  if (!selector) return ParamError("q", selector.error());
  query.selector = std::move(*selector);
  auto sort_spec = ParseSort(sort);
  if (!sort_spec) return ParamError("sort", sort_spec.error());
  query.sort = std::move(*sort_spec);
  auto limit_value = ParseLimit(limit);
  if (!limit_value) return ParamError("limit", limit_value.error());
  query.limit = *limit_value;
  auto fresh_value = ParseFresh(fresh);
  if (!fresh_value) return ParamError("fresh", fresh_value.error());
  query.fresh = *fresh_value;
  return query;
}

boost::system::result<bool, QueryParamError> ParseScope(std::string_view value) {
  if (value == "local") return true;
  return ParamError("scope", MakeSelectorError(value, 0, "expected \"local\" (the only scope)"));
}

boost::system::result<std::vector<std::optional<std::string>>, QueryParamError> DecodeQueryParams(
    std::string_view query, std::span<const std::string_view> names) {
  std::vector<std::optional<std::string>> values(names.size());
  std::size_t pos = 0;
  while (pos < query.size()) {
    const std::size_t end = std::min(query.find('&', pos), query.size());
    const std::string_view pair = query.substr(pos, end - pos);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      const std::string_view raw_key = pair.substr(0, eq);
      const std::string_view raw_value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
      auto key = FormDecode(query, pos, raw_key);
      if (!key) return ParamError("", key.error());
      const std::size_t value_base = pos + (eq == std::string_view::npos ? pair.size() : eq + 1);
      auto value = FormDecode(query, value_base, raw_value);
      if (!value) return ParamError(*key, value.error());
      const auto it = std::find(names.begin(), names.end(), *key);
      if (it == names.end()) {
        std::string known;
        for (const std::string_view name : names) {
          known += (known.empty() ? "" : ", ") + std::string(name);
        }
        return ParamError(ValidUtf8(*key),
                          MakeSelectorError(query, pos,
                                            "unknown parameter " + Quoted(ValidUtf8(*key)) +
                                                " (known: " + known + ")"));
      }
      auto& slot = values[static_cast<std::size_t>(it - names.begin())];
      if (slot) {
        return ParamError(
            *key, MakeSelectorError(query, pos, "parameter " + Quoted(*key) + " given twice"));
      }
      slot = std::move(*value);
    }
    pos = end + 1;
  }
  return values;
}

boost::system::result<ProcessQuery, QueryParamError> ParseProcessQueryString(
    std::string_view encoded_query) {
  static constexpr std::array<std::string_view, 5> kNames{"q", "sort", "limit", "fresh", "scope"};
  auto values = DecodeQueryParams(encoded_query, kNames);
  if (!values) return values.error();
  const auto get = [&](std::size_t i) {
    return (*values)[i] ? std::string_view(*(*values)[i]) : std::string_view();
  };
  auto query = ParseProcessQuery(get(0), get(1), get(2), get(3));
  if (!query || !(*values)[4]) return query;
  auto local = ParseScope(get(4));
  if (!local) return local.error();
  query->local = *local;
  return query;
}

}  // namespace fleetps::collector
