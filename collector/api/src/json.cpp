#include "fleetps/collector/api/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

#include <boost/json.hpp>

#include "fleetps/collector/query/text.hpp"

namespace fleetps::collector {

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
      const auto [end, ec] = fixed ? std::to_chars(buffer.data(), buffer.data() + buffer.size(), d,
                                                   std::chars_format::fixed)
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

std::string SerializeJson(const boost::json::value& value) {
  std::string out;
  WriteJson(value, out);
  return out;
}

namespace {

boost::json::object RowJson(const QueryRow& row) {
  const probes::ProcessRow& p = *row.process;
  boost::json::object o;
  o["host"] = ValidUtf8(row.host);
  o["pid"] = p.pid;
  o["ppid"] = p.ppid;
  o["user"] = ValidUtf8(p.user);
  o["state"] = ValidUtf8(p.state);
  o["comm"] = ValidUtf8(p.comm);
  o["exe"] = ValidUtf8(p.exe());
  o["args"] = ValidUtf8(p.args);
  if (p.kernel) o["kernel"] = true;
  if (row.group) o["group"] = ValidUtf8(*row.group);
  if (p.rss_bytes) o["rss_bytes"] = *p.rss_bytes;
  if (p.vsz_bytes) o["vsz_bytes"] = *p.vsz_bytes;
  if (const auto cpu = NumericValue(row, Field::kCpu)) o["cpu_cores"] = *cpu;
  if (p.threads) o["threads"] = *p.threads;
  if (p.fds) o["fds"] = *p.fds;
  if (p.start_time_unix && std::isfinite(*p.start_time_unix)) o["start_time"] = *p.start_time_unix;
  if (const auto age = NumericValue(row, Field::kAge)) o["age_seconds"] = *age;
  return o;
}

// The row's value of each sort key, null where it has none.
boost::json::array SortValuesJson(const QueryRow& row, const SortSpec& sort) {
  boost::json::array values;
  for (const SortKey& key : sort) {
    if (IsNumericField(key.field.field)) {
      const auto value = NumericValue(row, key.field.field);
      values.emplace_back(value ? boost::json::value(*value) : boost::json::value(nullptr));
    } else {
      const auto value = OptionalStringValue(row, key.field);
      values.emplace_back(value ? boost::json::value(ValidUtf8(*value))
                                : boost::json::value(nullptr));
    }
  }
  return values;
}

boost::json::array HostsJson(std::span<const HostQueryStatus> hosts) {
  boost::json::array host_array;
  host_array.reserve(hosts.size());
  for (const HostQueryStatus& h : hosts) {
    boost::json::object o;
    o["host"] = ValidUtf8(h.host);
    o["status"] = HostDataStatusName(h.status);
    if (!h.reason.empty()) o["reason"] = ValidUtf8(h.reason);
    if (h.age_seconds && std::isfinite(*h.age_seconds)) o["age_seconds"] = *h.age_seconds;
    host_array.emplace_back(std::move(o));
  }
  return host_array;
}

}  // namespace

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

std::string RenderProcessesJson(const QueryResult& result, std::span<const HostQueryStatus> hosts,
                                const SortSpec* sort_values) {
  boost::json::array rows;
  rows.reserve(result.rows.size());
  for (const QueryRow& row : result.rows) {
    boost::json::object o = RowJson(row);
    if (sort_values != nullptr) o["sort_values"] = SortValuesJson(row, *sort_values);
    rows.emplace_back(std::move(o));
  }
  boost::json::object data;
  data["rows"] = std::move(rows);
  data["total"] = result.total;
  data["hosts"] = HostsJson(hosts);
  boost::json::object document;
  document["status"] = "ok";
  document["data"] = std::move(data);
  return SerializeJson(document);
}

std::string RenderListeningJson(const QueryResult& result, std::span<const HostQueryStatus> hosts,
                                const SortSpec* sort_values) {
  boost::json::array rows;
  rows.reserve(result.rows.size());
  for (const QueryRow& row : result.rows) {
    if (row.socket == nullptr) continue;
    boost::json::object o;
    o["host"] = ValidUtf8(row.host);
    o["proto"] = ValidUtf8(row.socket->proto);
    o["address"] = ValidUtf8(row.socket->address);
    o["port"] = row.socket->port;
    if (row.process != nullptr) {
      o["pid"] = row.process->pid;
    } else if (row.socket->pid) {
      o["pid"] = *row.socket->pid;
    }
    const std::string_view comm = StringValue(row, FieldRef{Field::kComm, {}});
    if (!comm.empty()) o["comm"] = ValidUtf8(comm);
    if (row.process != nullptr) o["user"] = ValidUtf8(row.process->user);
    if (row.group) o["group"] = ValidUtf8(*row.group);
    if (sort_values != nullptr) o["sort_values"] = SortValuesJson(row, *sort_values);
    rows.emplace_back(std::move(o));
  }
  boost::json::object data;
  data["rows"] = std::move(rows);
  data["total"] = result.total;
  data["hosts"] = HostsJson(hosts);
  boost::json::object document;
  document["status"] = "ok";
  document["data"] = std::move(data);
  return SerializeJson(document);
}

std::string RenderErrorJson(std::string_view message, std::optional<std::size_t> position,
                            std::string_view parameter) {
  boost::json::object error;
  error["message"] = ValidUtf8(message);
  if (!parameter.empty()) error["parameter"] = ValidUtf8(parameter);
  if (position) error["position"] = *position;
  boost::json::object document;
  document["status"] = "error";
  document["error"] = std::move(error);
  return SerializeJson(document);
}

std::string RenderErrorJson(const QueryParamError& error) {
  return RenderErrorJson(error.ToString(), error.error.position, error.parameter);
}

}  // namespace fleetps::collector
