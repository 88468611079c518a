#include "fleetps/collector/app/load_options.hpp"

#include <optional>
#include <string>
#include <utility>

#include "fleetps/agent/algorithms.hpp"
#include "fleetps/collector/query/selector.hpp"

namespace fleetps::collector {
namespace {

std::optional<agent::AlgorithmKind> KindOfKey(std::string_view key) {
  for (agent::AlgorithmKind kind : agent::kAlgorithmKinds) {
    if (agent::AlgorithmKindKey(kind) == key) return kind;
  }
  return std::nullopt;
}

}  // namespace

config::LoadOptions CollectorLoadOptions() {
  config::LoadOptions options;
  options.check_algorithm = [](std::string_view list, std::string_view name) {
    std::pair<std::string, std::string> verdict;
    const auto kind = KindOfKey(list);
    if (!kind) return verdict;
    if (!agent::IsSupportedAlgorithm(*kind, name)) {
      // A warning, as libssh itself ignores it: a list copied from a server's offer may hold
      // names libssh lacks (hmac-md5). A list of nothing but such names is an error (below).
      // Appended, not `"..." + std::string`: GCC 12 warns falsely (-Wrestrict) at -O3 there.
      verdict.second.append("\"")
          .append(name)
          .append("\" is not a ")
          .append(list)
          .append(" algorithm libssh ")
          .append(agent::LibsshVersion())
          .append(" supports and is ignored; it supports: ")
          .append(agent::JoinAlgorithms(agent::SupportedAlgorithms(*kind), ", "));
    } else if (const auto weak = agent::WeakReason(*kind, name); !weak.empty()) {
      verdict.second.append("\"").append(name).append("\" is weak (").append(weak).append(")");
    }
    return verdict;
  };
  options.check_algorithm_list = [](std::string_view list, const std::vector<std::string>& names) {
    const auto kind = KindOfKey(list);
    if (!kind) return std::string();
    for (const auto& name : names) {
      if (agent::IsSupportedAlgorithm(*kind, name)) return std::string();
    }
    return "libssh " + std::string(agent::LibsshVersion()) + " supports none of these " +
           std::string(list) +
           "; it supports: " + agent::JoinAlgorithms(agent::SupportedAlgorithms(*kind), ", ");
  };
  options.legacy_warning = [] {
    std::string weak;
    for (agent::AlgorithmKind kind : agent::kAlgorithmKinds) {
      for (const auto& name : agent::SupportedAlgorithms(kind)) {
        if (agent::WeakReason(kind, name).empty()) continue;
        if (kind == agent::AlgorithmKind::kPubkey &&
            !agent::WeakReason(agent::AlgorithmKind::kHostkey, name).empty()) {
          continue;  // the same names as hostkeys: listed once
        }
        weak += (weak.empty() ? "" : ", ") + name;
      }
    }
    return "legacy enables weak algorithms (used only when a server offers nothing stronger): " +
           weak;
  };
  options.check_expect =
      [](std::string_view text) -> std::optional<std::pair<std::size_t, std::string>> {
    auto selector = ParseHostSelector(text);
    if (selector) return std::nullopt;
    return std::pair(selector.error().position, selector.error().message);
  };
  return options;
}

}  // namespace fleetps::collector
