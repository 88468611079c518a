#include "fleetps/registry/bus.hpp"

namespace fleetps::registry {

bool IsValidPattern(std::string_view pattern) noexcept {
  if (pattern.empty()) {
    return false;
  }
  const auto star = pattern.find('*');
  if (star == std::string_view::npos) {
    return true;
  }
  if (star != pattern.size() - 1) {
    return false;  // a `*` that is not the last character
  }
  return pattern.size() == 1 || pattern[pattern.size() - 2] == '/';
}

bool PatternMatches(std::string_view pattern, std::string_view topic) noexcept {
  if (pattern == "*") {
    return true;
  }
  if (!pattern.empty() && pattern.back() == '*') {
    const auto prefix = pattern.substr(0, pattern.size() - 1);  // keeps the trailing '/'
    return topic.size() > prefix.size() && topic.substr(0, prefix.size()) == prefix;
  }
  return pattern == topic;
}

}  // namespace fleetps::registry
