#include "fault.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace fleetps::fleetsim {
namespace {

struct FaultName {
  FaultKind kind;
  std::string_view name;
  bool takes_arg;
};

constexpr std::array<FaultName, 15> kFaultNames{{
    {FaultKind::kNone, "none", false},
    {FaultKind::kRefuse, "refuse", false},
    {FaultKind::kNoBanner, "no_banner", false},
    {FaultKind::kKexStall, "kex_stall", false},
    {FaultKind::kChangeHostKey, "change_host_key", false},
    {FaultKind::kRejectUserKey, "reject_user_key", false},
    {FaultKind::kStallOutput, "stall_output", false},
    {FaultKind::kDrip, "drip", false},
    {FaultKind::kEndless, "endless", false},
    {FaultKind::kGarbage, "garbage", false},
    {FaultKind::kDisconnectAfter, "disconnect_after", true},
    {FaultKind::kDelay, "delay", true},
    {FaultKind::kRandomDelay, "random_delay", true},
    // Whole names with a colon: a word, not a number, follows it.
    {FaultKind::kShellEof, "shell:eof", false},
    {FaultKind::kShellExit, "shell:exit", false},
}};

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::optional<Fault> ParseFault(std::string_view text) {
  text = Trim(text);
  std::string_view name = text;
  std::string_view arg;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    arg = text.substr(colon + 1);
  }
  for (const auto& entry : kFaultNames) {
    if (!entry.takes_arg) {
      if (entry.name == text) {
        return Fault{entry.kind, 0};
      }
      continue;
    }
    if (entry.name != name) {
      continue;
    }
    Fault fault{entry.kind, 0};
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), fault.arg);
    if (arg.empty() || ec != std::errc{} || end != arg.data() + arg.size()) {
      return std::nullopt;
    }
    return fault;
  }
  return std::nullopt;
}

std::string FormatFault(const Fault& fault) {
  for (const auto& entry : kFaultNames) {
    if (entry.kind == fault.kind) {
      std::string out(entry.name);
      if (entry.takes_arg) {
        out += ':';
        out += std::to_string(fault.arg);
      }
      return out;
    }
  }
  return "none";
}

}  // namespace fleetps::fleetsim
