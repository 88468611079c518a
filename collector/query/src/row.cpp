#include "fleetps/collector/query/row.hpp"

#include <cmath>

namespace fleetps::collector {

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

// String value, or nullopt for a label the host lacks or a process in no group.
std::optional<std::string_view> OptionalStringValue(const QueryRow& row,
                                                    const FieldRef& field) noexcept {
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

std::string_view StringValue(const QueryRow& row, const FieldRef& field) noexcept {
  return OptionalStringValue(row, field).value_or(std::string_view());
}

}  // namespace fleetps::collector
