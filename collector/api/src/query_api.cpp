#include "fleetps/collector/api/query_api.hpp"

#include <array>

#include <boost/json.hpp>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/query/text.hpp"
#include "fleetps/config/nodeset.hpp"

namespace fleetps::collector {
namespace {

constexpr std::size_t kMaxFilterBytes = 256;
constexpr std::size_t kMaxFilterNames = 10'000;

std::string Event(std::string_view name, const boost::json::object& data) {
  std::string out = "event: ";
  out.append(name).append("\ndata: ");
  WriteJson(data, out);  // one line: JSON strings escape every newline
  out.append("\n\n");
  return out;
}

double UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative wildcard match with one backtrack point: linear in practice, never recursive.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool IsFilterChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_' || c == '*' || c == '?' || c == '[' || c == ']' || c == ',';
}

}  // namespace

boost::system::result<std::int64_t, SelectorError> ParsePid(std::string_view text) {
  if (text.empty())
    return MakeSelectorError(text, 0, "expected a pid (a positive decimal integer)");
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return MakeSelectorError(text, i, "a pid is a positive decimal integer: digits only");
    }
  }
  if (text[0] == '0') {
    return MakeSelectorError(
        text, 0, text.size() == 1 ? "pid must be at least 1" : "a pid has no leading zeros");
  }
  const std::string max = std::to_string(probes::kMaxOpenFilesPid);
  if (text.size() > max.size() || (text.size() == max.size() && text > std::string_view(max))) {
    return MakeSelectorError(text, 0, "pid is larger than " + max);
  }
  std::int64_t value = 0;
  for (const char c : text) value = value * 10 + (c - '0');
  return value;
}

std::optional<boost::system::result<OpenFilesRequest, QueryParamError>> MatchOpenFilesPath(
    std::string_view path, std::string_view encoded_query) {
  constexpr std::string_view kPrefix = "/api/v1/hosts/";
  constexpr std::string_view kMiddle = "/processes/";
  constexpr std::string_view kSuffix = "/open-files";
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix)) return std::nullopt;
  std::string_view rest =
      path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  const std::size_t middle = rest.find(kMiddle);
  if (middle == std::string_view::npos) return std::nullopt;
  const std::string_view host = rest.substr(0, middle);
  const std::string_view pid_text = rest.substr(middle + kMiddle.size());
  using Result = boost::system::result<OpenFilesRequest, QueryParamError>;
  if (host.empty() || host.find('/') != std::string_view::npos) {
    return Result(QueryParamError{"host", MakeSelectorError(host, 0, "expected a host name")});
  }
  if (pid_text.find('/') != std::string_view::npos) return std::nullopt;
  if (!encoded_query.empty()) {
    return Result(QueryParamError{
        "", MakeSelectorError(encoded_query, 0, "this endpoint takes no query parameters")});
  }
  auto pid = ParsePid(pid_text);
  if (!pid) return Result(QueryParamError{"pid", pid.error()});
  return Result(OpenFilesRequest{std::string(host), *pid});
}

std::string RenderOpenFilesJson(std::string_view host, std::int64_t pid,
                                const probes::OpenFilesResult& result) {
  boost::json::array files;
  files.reserve(result.files.size());
  for (const probes::OpenFile& f : result.files) {
    boost::json::object o;
    o["fd"] = ValidUtf8(f.fd);
    o["type"] = ValidUtf8(f.type);
    o["name"] = ValidUtf8(f.name);
    if (f.pos) o["pos"] = *f.pos;
    if (!f.flags.empty()) o["flags"] = f.flags;
    files.emplace_back(std::move(o));
  }
  boost::json::object data;
  data["host"] = ValidUtf8(host);
  data["pid"] = pid;
  data["method"] = probes::OpenFilesMethodName(result.method);
  data["total"] = result.files.size();
  data["truncated"] = result.truncated;
  data["files"] = std::move(files);
  return SerializeJson(boost::json::object{{"status", "ok"}, {"data", std::move(data)}});
}

boost::system::result<HostFilter, SelectorError> HostFilter::Parse(std::string_view text) {
  HostFilter filter;
  if (text.empty()) return filter;
  if (text.size() > kMaxFilterBytes) {
    return MakeSelectorError(
        text, kMaxFilterBytes,
        "host filter is longer than " + std::to_string(kMaxFilterBytes) + " bytes");
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!IsFilterChar(text[i])) {
      return MakeSelectorError(text, i,
                               "unexpected character in a host filter (use a name, a "
                               "glob with * and ?, or a nodeset like web[01-40])");
    }
  }
  filter.text_ = std::string(text);
  // Split at commas outside brackets: `db[1-3].dc1,web7`.
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size()) {
      if (text[i] == '[') ++depth;
      if (text[i] == ']') --depth;
      if (text[i] != ',' || depth != 0) continue;
    }
    const std::string_view part = text.substr(start, i - start);
    if (part.empty()) return MakeSelectorError(text, start, "empty item in a host filter");
    if (config::IsNodesetPattern(part)) {
      if (part.find_first_of("*?") != std::string_view::npos) {
        return MakeSelectorError(text, start, "a nodeset cannot contain * or ?");
      }
      config::NodesetResult expanded = config::ExpandNodeset(part, kMaxFilterNames);
      if (!expanded.ok()) {
        return MakeSelectorError(text, start + expanded.error_offset, expanded.error);
      }
      for (std::string& name : expanded.names) filter.names_.insert(std::move(name));
    } else if (part.find_first_of("*?") != std::string_view::npos) {
      filter.globs_.emplace_back(part);
    } else {
      filter.names_.emplace(part);
    }
    start = i + 1;
  }
  return filter;
}

bool HostFilter::Matches(std::string_view host) const {
  if (text_.empty()) return true;
  if (names_.contains(host)) return true;
  for (const std::string& glob : globs_) {
    if (GlobMatch(glob, host)) return true;
  }
  return false;
}

std::string_view HostFilter::ExactHost() const noexcept {
  if (globs_.empty() && names_.size() == 1 && *names_.begin() == text_) return text_;
  return {};
}

boost::system::result<HostFilter, QueryParamError> ParseEventsQueryString(
    std::string_view encoded_query) {
  static constexpr std::array<std::string_view, 1> kNames{"host"};
  auto values = DecodeQueryParams(encoded_query, kNames);
  if (!values) return values.error();
  auto filter = HostFilter::Parse((*values)[0].value_or(""));
  if (!filter) return QueryParamError{"host", filter.error()};
  return std::move(*filter);
}

std::string RenderHostStateEvent(const agent::HostStatus& status) {
  boost::json::object o;
  o["host"] = ValidUtf8(status.host);
  o["state"] = agent::StateName(status.state);
  o["epoch"] = status.epoch;
  if (const auto reason = agent::ReasonName(status.last_reason); !reason.empty())
    o["reason"] = reason;
  if (!status.detail.empty()) o["detail"] = ValidUtf8(status.detail);
  if (status.dialect) o["dialect"] = probes::DialectName(*status.dialect);
  if (status.retry_in.count() > 0)
    o["retry_in_seconds"] = static_cast<double>(status.retry_in.count()) / 1000;
  o["time"] = UnixSeconds(status.since);
  return Event("host_state", o);
}

std::string RenderProbeEvent(const agent::ProbeResult& result) {
  boost::json::object o;
  o["host"] = ValidUtf8(result.host);
  o["probe"] = agent::ProbeKindName(result.kind);
  o["status"] = agent::ProbeStatusName(result.status);
  if (const auto reason = agent::ReasonName(result.reason); !reason.empty()) o["reason"] = reason;
  if (result.adhoc) {
    o["adhoc"] = true;
  } else {
    o["seq"] = result.seq;
  }
  o["epoch"] = result.session_epoch;
  o["duration_seconds"] = std::chrono::duration<double>(result.finished - result.started).count();
  o["bytes"] = result.raw_bytes;
  if (result.snapshot) {
    o["processes"] = result.snapshot->processes.size();
    o["listening"] = result.snapshot->listening.size();
    // Lines that became nothing, by reason: a format the parsers do not know shows here.
    const probes::ParseStats& stats = result.snapshot->stats;
    if (stats.lines_skipped > 0) {
      boost::json::object skipped;
      for (std::size_t i = 0; i < probes::kSkipReasonCount; ++i) {
        if (stats.skipped[i] > 0) {
          skipped[probes::SkipReasonName(static_cast<probes::SkipReason>(i))] = stats.skipped[i];
        }
      }
      o["lines_skipped"] = std::move(skipped);
    }
  }
  o["time"] = UnixSeconds(result.finished);
  return Event("probe", o);
}

std::string RenderConfigReloadEvent(const ConfigReloadEvent& reload) {
  boost::json::object o;
  o["ok"] = reload.ok;
  o["origin"] = ValidUtf8(reload.origin);
  o["summary"] = ValidUtf8(reload.summary);
  return Event("config_reload", o);
}

std::string RenderDroppedEvent(std::uint64_t dropped, std::uint64_t total) {
  return Event("dropped", boost::json::object{{"dropped", dropped}, {"total", total}});
}

}  // namespace fleetps::collector
