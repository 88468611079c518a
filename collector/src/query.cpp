#include "fleetps/collector/query.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <boost/json.hpp>

#include "query_internal.hpp"

namespace fleetps::collector {
namespace detail {

std::optional<double> NumericValue(const QueryRow& row, Field field) noexcept {
  if (field == Field::kPort) {
    if (row.socket == nullptr) return std::nullopt;
    return static_cast<double>(row.socket->port);
  }
  if (field == Field::kCpu || field == Field::kAge) {
    const std::optional<double> derived = field == Field::kCpu ? row.cpu_cores : row.age_seconds;
    if (derived && !std::isfinite(*derived)) return std::nullopt;
    return derived;
  }
  if (row.process == nullptr) {
    // A socket whose owner is not in the table may still carry the pid the tool printed.
    if (field == Field::kPid && row.socket != nullptr && row.socket->pid) {
      return static_cast<double>(*row.socket->pid);
    }
    return std::nullopt;
  }
  const probes::ProcessRow& p = *row.process;
  std::optional<double> value;
  switch (field) {
    case Field::kPid:
      value = static_cast<double>(p.pid);
      break;
    case Field::kPpid:
      value = static_cast<double>(p.ppid);
      break;
    case Field::kRss:
      if (p.rss_bytes) value = static_cast<double>(*p.rss_bytes);
      break;
    case Field::kVsz:
      if (p.vsz_bytes) value = static_cast<double>(*p.vsz_bytes);
      break;
    case Field::kCpu:
      value = row.cpu_cores;
      break;
    case Field::kThreads:
      if (p.threads) value = static_cast<double>(*p.threads);
      break;
    case Field::kFds:
      if (p.fds) value = static_cast<double>(*p.fds);
      break;
    case Field::kAge:
      value = row.age_seconds;
      break;
    default:
      break;
  }
  // A NaN would break ordering and comparisons alike: treat it as unknown.
  if (value && !std::isfinite(*value)) return std::nullopt;
  return value;
}

namespace {

// String value, or nullopt for a label the host lacks or a process in no group.
std::optional<std::string_view> OptionalString(const QueryRow& row, const FieldRef& field) noexcept {
  switch (field.field) {
    case Field::kHost:
      return row.host;
    case Field::kProto:
      if (row.socket != nullptr) return row.socket->proto;
      return std::nullopt;
    case Field::kGroup:
      if (row.group) return *row.group;
      return std::nullopt;
    case Field::kLabel:
      if (row.labels != nullptr) {
        if (auto it = row.labels->find(field.label); it != row.labels->end()) return it->second;
      }
      return std::nullopt;
    default:
      break;
  }
  if (row.process == nullptr) {
    // A socket whose owner is not in the table: the tool may still have named the command.
    if (field.field == Field::kComm && row.socket != nullptr && !row.socket->process.empty()) {
      return row.socket->process;
    }
    return std::nullopt;
  }
  const probes::ProcessRow& p = *row.process;
  switch (field.field) {
    case Field::kUser:
      return p.user;
    case Field::kComm:
      return p.comm;
    case Field::kExe:
      return p.exe();
    case Field::kArgs:
      return p.args;
    case Field::kState:
      return p.state;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string_view StringValue(const QueryRow& row, const FieldRef& field) noexcept {
  return OptionalString(row, field).value_or(std::string_view());
}

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      length = 2;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4;
      min = 0x10000;
    }
    bool valid = length != 0 && i + length <= text.size();
    std::uint32_t code = valid ? (c & (0x7fu >> length)) : 0;
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) {
        valid = false;
      } else {
        code = (code << 6) | (cc & 0x3f);
      }
    }
    if (valid && (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))) {
      valid = false;
    }
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++i;
    }
  }
  return out;
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out.push_back(c);
    }
  }
  return out + "\"";
}

namespace {

void Newline(std::string& out, int indent, int depth) {
  if (indent <= 0) return;
  out.push_back('\n');
  out.append(static_cast<std::size_t>(indent * depth), ' ');
}

void Write(const boost::json::value& value, std::string& out, int indent, int depth) {
  switch (value.kind()) {
    case boost::json::kind::double_: {
      const double d = value.get_double();
      if (!std::isfinite(d)) {
        out += "null";
        return;
      }
      std::array<char, 32> buffer{};
      // Fixed notation in the range people read (1700000000, 0.125), shortest form elsewhere.
      const double magnitude = std::abs(d);
      const bool fixed = magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e15);
      const auto [end, ec] =
          fixed ? std::to_chars(buffer.data(), buffer.data() + buffer.size(), d, std::chars_format::fixed)
                : std::to_chars(buffer.data(), buffer.data() + buffer.size(), d);
      out.append(buffer.data(), ec == std::errc() ? end : buffer.data());
      return;
    }
    case boost::json::kind::object: {
      const boost::json::object& object = value.get_object();
      if (object.empty()) {
        out += "{}";
        return;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& member : object) {
        if (!first) out.push_back(',');
        first = false;
        Newline(out, indent, depth + 1);
        out += boost::json::serialize(boost::json::string_view(member.key()));
        out += indent > 0 ? ": " : ":";
        Write(member.value(), out, indent, depth + 1);
      }
      Newline(out, indent, depth);
      out.push_back('}');
      return;
    }
    case boost::json::kind::array: {
      const boost::json::array& array = value.get_array();
      if (array.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      bool first = true;
      for (const boost::json::value& element : array) {
        if (!first) out.push_back(',');
        first = false;
        Newline(out, indent, depth + 1);
        Write(element, out, indent, depth + 1);
      }
      Newline(out, indent, depth);
      out.push_back(']');
      return;
    }
    default:
      out += boost::json::serialize(value);
      return;
  }
}

}  // namespace

void WriteJson(const boost::json::value& value, std::string& out, int indent) {
  Write(value, out, indent, 0);
}

}  // namespace detail

namespace {

constexpr double kStartJitterSeconds = 2.0;

std::optional<double> CpuSeconds(const probes::ProcessRow& p) {
  if (p.cpu_user_seconds && p.cpu_system_seconds) return *p.cpu_user_seconds + *p.cpu_system_seconds;
  return p.cpu_total_seconds;
}

// The sample of the same process identity in `previous`, or null.
const CpuSample* Predecessor(const CpuSamples& previous, const probes::ProcessRow& row) {
  const auto it = std::lower_bound(previous.begin(), previous.end(), row.pid,
                                   [](const CpuSample& s, std::int64_t pid) { return s.pid < pid; });
  if (it == previous.end() || it->pid != row.pid) return nullptr;
  // A reused pid is another process: its counter must not be subtracted from this one's.
  if (it->start_time_unix.has_value() != row.start_time_unix.has_value()) return nullptr;
  if (row.start_time_unix && std::abs(*it->start_time_unix - *row.start_time_unix) > kStartJitterSeconds) {
    return nullptr;
  }
  return &*it;
}

// Three-way comparison of one sort key; rows without the value go last in both directions.
int CompareKey(const QueryRow& a, const QueryRow& b, const SortKey& key) {
  int cmp = 0;
  if (IsNumericField(key.field.field)) {
    const auto va = detail::NumericValue(a, key.field.field);
    const auto vb = detail::NumericValue(b, key.field.field);
    if (!va || !vb) return va ? -1 : (vb ? 1 : 0);
    cmp = *va < *vb ? -1 : (*vb < *va ? 1 : 0);
  } else {
    const auto va = detail::OptionalString(a, key.field);
    const auto vb = detail::OptionalString(b, key.field);
    if (!va || !vb) return va ? -1 : (vb ? 1 : 0);
    const int c = va->compare(*vb);
    cmp = c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return key.descending ? -cmp : cmp;
}

using detail::Quoted;

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

boost::system::result<std::string, SelectorError> detail::FormDecode(std::string_view query,
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

namespace {

boost::json::object RowJson(const QueryRow& row) {
  const probes::ProcessRow& p = *row.process;
  boost::json::object o;
  o["host"] = detail::ValidUtf8(row.host);
  o["pid"] = p.pid;
  o["ppid"] = p.ppid;
  o["user"] = detail::ValidUtf8(p.user);
  o["state"] = detail::ValidUtf8(p.state);
  o["comm"] = detail::ValidUtf8(p.comm);
  o["exe"] = detail::ValidUtf8(p.exe());
  o["args"] = detail::ValidUtf8(p.args);
  if (p.kernel) o["kernel"] = true;
  if (row.group) o["group"] = detail::ValidUtf8(*row.group);
  if (p.rss_bytes) o["rss_bytes"] = *p.rss_bytes;
  if (p.vsz_bytes) o["vsz_bytes"] = *p.vsz_bytes;
  if (const auto cpu = detail::NumericValue(row, Field::kCpu)) o["cpu_cores"] = *cpu;
  if (p.threads) o["threads"] = *p.threads;
  if (p.fds) o["fds"] = *p.fds;
  if (p.start_time_unix && std::isfinite(*p.start_time_unix)) o["start_time"] = *p.start_time_unix;
  if (const auto age = detail::NumericValue(row, Field::kAge)) o["age_seconds"] = *age;
  return o;
}

boost::json::array HostsJson(std::span<const HostQueryStatus> hosts) {
  boost::json::array host_array;
  host_array.reserve(hosts.size());
  for (const HostQueryStatus& h : hosts) {
    boost::json::object o;
    o["host"] = detail::ValidUtf8(h.host);
    o["status"] = HostDataStatusName(h.status);
    if (!h.reason.empty()) o["reason"] = detail::ValidUtf8(h.reason);
    if (h.age_seconds && std::isfinite(*h.age_seconds)) o["age_seconds"] = *h.age_seconds;
    host_array.emplace_back(std::move(o));
  }
  return host_array;
}

std::string Serialize(const boost::json::value& value) {
  std::string out;
  detail::WriteJson(value, out);
  return out;
}

}  // namespace

namespace {

// Fills the process-derived values of `row` (group, cpu_cores, age_seconds) from `input`.
void DeriveFromProcess(const HostRowsInput& input, bool rates, QueryRow& row) {
  const probes::ProcessRow& process = *row.process;
  if (input.groups != nullptr) {
    if (auto it = input.groups->members.find(process.pid); it != input.groups->members.end()) {
      row.group = it->second;
    }
  }
  if (rates) {
    const CpuSample* before = Predecessor(*input.previous, process);
    const auto now_cpu = CpuSeconds(process);
    const std::optional<double> before_cpu =
        before != nullptr ? std::optional<double>(before->cpu_seconds) : std::nullopt;
    if (now_cpu && before_cpu && *now_cpu >= *before_cpu) {
      row.cpu_cores = (*now_cpu - *before_cpu) / *input.elapsed_seconds;
    }
  }
  if (input.now_unix && process.start_time_unix) {
    row.age_seconds = std::max(0.0, *input.now_unix - *process.start_time_unix);
  }
}

bool HasRates(const HostRowsInput& input) {
  return input.previous != nullptr && input.elapsed_seconds && *input.elapsed_seconds > 0;
}

const probes::ProcessRow* FindProcess(const probes::HostSnapshot& snapshot, std::int64_t pid) {
  const auto& rows = snapshot.processes;
  const auto it = std::lower_bound(rows.begin(), rows.end(), pid,
                                   [](const probes::ProcessRow& r, std::int64_t p) { return r.pid < p; });
  return it != rows.end() && it->pid == pid ? &*it : nullptr;
}

}  // namespace

CpuSamples SampleCpu(const probes::HostSnapshot& snapshot) {
  CpuSamples samples;
  samples.reserve(snapshot.processes.size());
  for (const probes::ProcessRow& p : snapshot.processes) {
    samples.push_back({p.pid, p.start_time_unix, CpuSeconds(p)});
  }
  return samples;
}

void AppendQueryRows(const HostRowsInput& input, std::vector<QueryRow>& out) {
  if (input.current == nullptr) return;
  const bool rates = HasRates(input);
  out.reserve(out.size() + input.current->processes.size());
  for (const probes::ProcessRow& process : input.current->processes) {
    QueryRow row;
    row.host = std::string(input.host);
    row.labels = input.labels;
    row.process = &process;
    DeriveFromProcess(input, rates, row);
    out.push_back(std::move(row));
  }
}

void AppendListeningRows(const HostRowsInput& input, std::vector<QueryRow>& out) {
  if (input.current == nullptr) return;
  const bool rates = HasRates(input);
  out.reserve(out.size() + input.current->listening.size());
  for (const probes::ListenSocket& socket : input.current->listening) {
    QueryRow row;
    row.host = std::string(input.host);
    row.labels = input.labels;
    row.socket = &socket;
    if (socket.pid) row.process = FindProcess(*input.current, *socket.pid);
    if (row.process != nullptr) DeriveFromProcess(input, rates, row);
    out.push_back(std::move(row));
  }
}

boost::system::result<SortSpec, SelectorError> ParseSort(std::string_view text) {
  SortSpec spec;
  if (text.empty()) return spec;
  std::size_t pos = 0;
  while (true) {
    if (spec.size() == kMaxSortKeys) {
      return MakeSelectorError(text, pos,
                               "too many sort keys (at most " + std::to_string(kMaxSortKeys) + ")");
    }
    SortKey key;
    if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) {
      key.descending = text[pos] == '-';
      ++pos;
    }
    const std::size_t end = std::min(text.find(',', pos), text.size());
    const std::string_view name = text.substr(pos, end - pos);
    if (name.empty()) return MakeSelectorError(text, pos, "expected a field name");
    auto field = LookupField(name);
    if (!field) return MakeSelectorError(text, pos, UnknownFieldMessage(name));
    key.field = std::move(*field);
    spec.push_back(std::move(key));
    if (end == text.size()) return spec;
    pos = end + 1;
  }
}

boost::system::result<std::size_t, SelectorError> ParseLimit(std::string_view text) {
  if (text.empty()) return kDefaultLimit;
  std::size_t value = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return MakeSelectorError(text, i, "expected a positive integer");
    }
    value = value * 10 + static_cast<std::size_t>(text[i] - '0');
    if (value > kMaxLimit) break;
  }
  if (value < 1 || value > kMaxLimit) {
    return MakeSelectorError(text, 0, "limit must be between 1 and " + std::to_string(kMaxLimit));
  }
  return value;
}

boost::system::result<QueryResult, SelectorError> RunQuery(std::span<const QueryRow> rows,
                                                           const Selector& selector,
                                                           const SortSpec& sort, std::size_t limit) {
  std::vector<std::size_t> matched;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto holds = selector.Evaluate(rows[i]);
    if (!holds) return holds.error();
    if (*holds) matched.push_back(i);
  }
  const auto less = [&](std::size_t a, std::size_t b) {
    const QueryRow& ra = rows[a];
    const QueryRow& rb = rows[b];
    for (const SortKey& key : sort) {
      if (const int c = CompareKey(ra, rb, key); c != 0) return c < 0;
    }
    if (const int c = ra.host.compare(rb.host); c != 0) return c < 0;
    if (ra.socket != nullptr && rb.socket != nullptr) {
      if (ra.socket->port != rb.socket->port) return ra.socket->port < rb.socket->port;
      if (const int c = ra.socket->proto.compare(rb.socket->proto); c != 0) return c < 0;
      if (const int c = ra.socket->address.compare(rb.socket->address); c != 0) return c < 0;
    }
    if ((ra.process == nullptr) != (rb.process == nullptr)) return rb.process == nullptr;
    if (ra.process != nullptr && ra.process->pid != rb.process->pid) {
      return ra.process->pid < rb.process->pid;
    }
    return a < b;
  };
  const std::size_t keep = std::min(limit, matched.size());
  std::partial_sort(matched.begin(), matched.begin() + static_cast<std::ptrdiff_t>(keep),
                    matched.end(), less);
  QueryResult result;
  result.total = matched.size();
  result.rows.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) result.rows.push_back(rows[matched[i]]);
  return result;
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

boost::system::result<std::vector<std::optional<std::string>>, QueryParamError>
detail::DecodeQueryParams(std::string_view query, std::span<const std::string_view> names) {
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
        return ParamError(*key, MakeSelectorError(query, pos,
                                                  "parameter " + Quoted(*key) + " given twice"));
      }
      slot = std::move(*value);
    }
    pos = end + 1;
  }
  return values;
}

boost::system::result<ProcessQuery, QueryParamError> ParseProcessQueryString(
    std::string_view encoded_query) {
  static constexpr std::array<std::string_view, 4> kNames{"q", "sort", "limit", "fresh"};
  auto values = detail::DecodeQueryParams(encoded_query, kNames);
  if (!values) return values.error();
  const auto get = [&](std::size_t i) {
    return (*values)[i] ? std::string_view(*(*values)[i]) : std::string_view();
  };
  return ParseProcessQuery(get(0), get(1), get(2), get(3));
}

std::string_view HostDataStatusName(HostDataStatus status) noexcept {
  switch (status) {
    case HostDataStatus::kOk:
      return "ok";
    case HostDataStatus::kStale:
      return "stale";
    case HostDataStatus::kDown:
      return "down";
  }
  return "down";
}

std::string RenderProcessesJson(const QueryResult& result, std::span<const HostQueryStatus> hosts) {
  boost::json::array rows;
  rows.reserve(result.rows.size());
  for (const QueryRow& row : result.rows) rows.emplace_back(RowJson(row));
  boost::json::object data;
  data["rows"] = std::move(rows);
  data["total"] = result.total;
  data["hosts"] = HostsJson(hosts);
  boost::json::object document;
  document["status"] = "ok";
  document["data"] = std::move(data);
  return Serialize(document);
}

std::string RenderListeningJson(const QueryResult& result, std::span<const HostQueryStatus> hosts) {
  boost::json::array rows;
  rows.reserve(result.rows.size());
  for (const QueryRow& row : result.rows) {
    if (row.socket == nullptr) continue;
    boost::json::object o;
    o["host"] = detail::ValidUtf8(row.host);
    o["proto"] = detail::ValidUtf8(row.socket->proto);
    o["address"] = detail::ValidUtf8(row.socket->address);
    o["port"] = row.socket->port;
    if (row.process != nullptr) {
      o["pid"] = row.process->pid;
    } else if (row.socket->pid) {
      o["pid"] = *row.socket->pid;
    }
    const std::string_view comm = detail::StringValue(row, FieldRef{Field::kComm, {}});
    if (!comm.empty()) o["comm"] = detail::ValidUtf8(comm);
    if (row.process != nullptr) o["user"] = detail::ValidUtf8(row.process->user);
    if (row.group) o["group"] = detail::ValidUtf8(*row.group);
    rows.emplace_back(std::move(o));
  }
  boost::json::object data;
  data["rows"] = std::move(rows);
  data["total"] = result.total;
  data["hosts"] = HostsJson(hosts);
  boost::json::object document;
  document["status"] = "ok";
  document["data"] = std::move(data);
  return Serialize(document);
}

std::string RenderErrorJson(std::string_view message, std::optional<std::size_t> position,
                            std::string_view parameter) {
  boost::json::object error;
  error["message"] = detail::ValidUtf8(message);
  if (!parameter.empty()) error["parameter"] = detail::ValidUtf8(parameter);
  if (position) error["position"] = *position;
  boost::json::object document;
  document["status"] = "error";
  document["error"] = std::move(error);
  return Serialize(document);
}

std::string RenderErrorJson(const QueryParamError& error) {
  return RenderErrorJson(error.ToString(), error.error.position, error.parameter);
}

}  // namespace fleetps::collector
