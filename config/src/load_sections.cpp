// The inventory loader's reading of the sections that go straight into the inventory:
// `collector` and `process_names`.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <utility>

#include "checks.hpp"
#include "loader.hpp"

namespace fleetps::config::detail {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kCommLength = 15;  // Linux truncates comm to 15 bytes.

}  // namespace

void Loader::ParseCollector(const YAML::Node& value, Pos pos) {
  if (value.IsNull()) return;
  if (!value.IsMap()) {
    Report(pos, "expected a mapping, got " + Describe(value));
    return;
  }
  CollectorSettings& c = inventory_.collector;
  ForEachKey(value, "in collector", &kCollectorKeys,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
               const Pos p = ValuePos(key_node, v);
               if (key == "listen") {
                 if (auto listen = Checked(v, p, "host:port", detail::CheckListenAddress)) {
                   c.listen = *listen;
                 }
               } else if (key == "max_concurrent_handshakes") {
                 if (auto n = Unsigned(v, p, 1, 10'000)) c.max_concurrent_handshakes = *n;
               } else if (key == "threads") {
                 if (auto n = Unsigned(v, p, 0, 256)) c.threads = *n;
               } else if (key == "enable_reload_endpoint") {
                 if (auto b = Bool(v, p)) c.enable_reload_endpoint = *b;
               } else if (key == "max_restarts") {
                 if (auto n = Unsigned(v, p, 1, 1000)) c.max_restarts = *n;
               } else if (key == "restart_period") {
                 if (auto d = Duration(v, p, 1s, 24h)) c.restart_period = *d;
               } else if (key == "group_retention") {
                 if (auto d = Duration(v, p, 1min, 24h * 30)) c.group_retention = *d;
               } else if (key == "max_groups_per_host") {
                 if (auto n = Unsigned(v, p, 1, 100'000)) c.max_groups_per_host = *n;
               } else if (key == "fresh_rate_per_client") {
                 if (auto n = Unsigned(v, p, 1, 1'000'000)) c.fresh_rate_per_client = *n;
               } else if (key == "fresh_burst_per_client") {
                 if (auto n = Unsigned(v, p, 1, 10'000'000)) c.fresh_burst_per_client = *n;
               } else if (key == "fresh_rate") {
                 if (auto n = Unsigned(v, p, 1, 1'000'000)) c.fresh_rate = *n;
               } else if (key == "fresh_burst") {
                 if (auto n = Unsigned(v, p, 1, 10'000'000)) c.fresh_burst = *n;
               } else if (key == "api_threads") {
                 if (auto n = Unsigned(v, p, 1, 64)) c.api_threads = *n;
               } else if (key == "api_max_pending") {
                 if (auto n = Unsigned(v, p, 1, 10'000)) c.api_max_pending = *n;
               } else if (key == "max_processes_per_host") {
                 if (auto n = Unsigned(v, p, 100, 10'000'000)) c.max_processes_per_host = *n;
               } else if (key == "max_label_value_bytes") {
                 if (auto n = Unsigned(v, p, 32, 65'536)) c.max_label_value_bytes = *n;
               } else if (key == "max_host_events_per_minute") {
                 if (auto n = Unsigned(v, p, 6, 60'000)) c.max_host_events_per_minute = *n;
               } else if (key == "web_config_file") {
                 if (auto path = Path(v, p)) c.web_config_file = *path;
               } else if (key == "source_address") {
                 if (auto address = Checked(v, p, "an IP address", detail::CheckSourceAddress)) {
                   c.source_address = *address;
                 }
               } else if (key == "http") {
                 ParseCollectorHttp(v, p);
               }
             });
}

void Loader::ParseCollectorHttp(const YAML::Node& value, Pos pos) {
  if (value.IsNull()) return;
  if (!value.IsMap()) {
    Report(pos, "expected a mapping, got " + Describe(value));
    return;
  }
  HttpSettings& h = inventory_.collector.http;
  ForEachKey(value, "in collector.http", &kCollectorHttpKeys,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
               const Pos p = ValuePos(key_node, v);
               if (key == "max_connections") {
                 if (auto n = Unsigned(v, p, 1, 100'000)) h.max_connections = *n;
               } else if (key == "max_connections_per_client") {
                 if (auto n = Unsigned(v, p, 1, 100'000)) h.max_connections_per_client = *n;
               } else if (key == "header_timeout") {
                 if (auto d = Duration(v, p, 1s, 1h)) h.header_timeout = *d;
               } else if (key == "body_timeout") {
                 if (auto d = Duration(v, p, 1s, 1h)) h.body_timeout = *d;
               } else if (key == "idle_timeout") {
                 if (auto d = Duration(v, p, 1s, 1h)) h.idle_timeout = *d;
               } else if (key == "write_timeout") {
                 if (auto d = Duration(v, p, 1s, 1h)) h.write_timeout = *d;
               } else if (key == "max_request_body") {
                 if (auto n = Size(v, p, 1ull << 10, 16ull << 20)) h.max_request_body = *n;
               }
             });
}

void Loader::ParseProcessNames(const YAML::Node& value, Pos pos) {
  if (value.IsNull()) return;
  if (!value.IsSequence()) {
    Report(pos, "expected a list of process name matchers, got " + Describe(value));
    return;
  }
  for (const YAML::Node& node : value) {
    const Pos entry_pos = PosOf(node);
    if (!node.IsMap()) {
      Report(entry_pos,
             "expected a mapping with name and comm, exe or cmdline, got " + Describe(node));
      continue;
    }
    ProcessNameMatcher matcher;
    YAML::Node name_node;
    YAML::Node expect_node;
    bool has_selector = false;
    bool ok = true;
    std::set<std::string> groups;
    ForEachKey(node, "in process_names entry", &kProcessNameKeys,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
                 const Pos p = ValuePos(key_node, v);
                 has_selector = has_selector || (key != "name" && key != "expect");
                 if (key == "name") {
                   if (auto text = String(v, p, "a name template")) {
                     matcher.name_template = *text;
                     name_node = v;
                   } else {
                     ok = false;
                   }
                 } else if (key == "comm" || key == "exe") {
                   const bool comm = key == "comm";
                   auto list = List(v, p, comm ? "comm names" : "executable names", false,
                                    [&](const std::string& item, const YAML::Node& item_node) {
                                      if (item.empty()) {
                                        Report(PosOf(item_node), "empty name");
                                        return false;
                                      }
                                      if (comm && item.size() > kCommLength) {
                                        Report(PosOf(item_node),
                                               "comm " + Quote(item) +
                                                   " is longer than 15 characters and never "
                                                   "matches on Linux, which truncates comm",
                                               Severity::kWarning);
                                      }
                                      return true;
                                    });
                   if (!list) {
                     ok = false;
                   } else {
                     (comm ? matcher.comm : matcher.exe) = std::move(*list);
                   }
                 } else if (key == "expect") {
                   if (auto text = String(v, p, "a host selector")) {
                     matcher.expect = *text;
                     expect_node = v;
                     if (text->empty()) {
                       Report(p, "empty expect; write \"{}\" to expect the group on every host");
                       ok = false;
                     }
                   } else {
                     ok = false;
                   }
                 } else if (key == "cmdline") {
                   auto list = List(v, p, "regexes", false,
                                    [&](const std::string& item, const YAML::Node& item_node) {
                                      const detail::CheckedRegex checked =
                                          detail::CheckCmdlineRegex(item);
                                      if (checked.problem) {
                                        Report(PosInScalar(item_node, checked.problem->offset),
                                               checked.problem->message);
                                        return false;
                                      }
                                      for (const auto& group : checked.group_names) {
                                        if (!group.empty()) groups.insert(group);
                                      }
                                      return true;
                                    });
                   if (!list) {
                     ok = false;
                   } else {
                     matcher.cmdline = std::move(*list);
                   }
                 }
               });
    if (!has_selector) {
      Report(entry_pos,
             "process_names entry needs at least one of \"comm\", \"exe\" or \"cmdline\"");
      ok = false;
    }
    for (const detail::Problem& problem :
         detail::CheckNameTemplate(matcher.name_template, groups)) {
      // A template naming a group is only checkable when every cmdline pattern parsed.
      if (!ok && problem.message.find("refers to no named group") != std::string::npos) continue;
      Report(name_node.IsDefined() ? PosInScalar(name_node, problem.offset) : entry_pos,
             problem.message, problem.warning ? Severity::kWarning : Severity::kError);
      ok = ok && problem.warning;
    }
    if (!matcher.expect.empty()) ok = CheckExpect(matcher, expect_node, name_node) && ok;
    if (ok) inventory_.process_names.push_back(std::move(matcher));
  }
}

bool Loader::CheckExpect(const ProcessNameMatcher& matcher, const YAML::Node& expect_node,
                         const YAML::Node& name_node) {
  if (matcher.name_template.find("{{") != std::string::npos) {
    // A templated name is only known once a process produces it: nothing to emit as 0 before.
    Report(name_node.IsDefined() ? PosOf(name_node) : PosOf(expect_node),
           "expect needs a fixed group name; " + Quote(matcher.name_template) +
               " is a template, known only once a process has it");
    return false;
  }
  if (!options_.check_expect) return true;
  if (auto problem = options_.check_expect(matcher.expect)) {
    Report(PosInScalar(expect_node, problem->first), "expect: " + problem->second);
    return false;
  }
  return true;
}

}  // namespace fleetps::config::detail
