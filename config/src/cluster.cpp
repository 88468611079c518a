#include "fleetps/config/cluster.hpp"

#include <string>

#include "checks.hpp"

namespace fleetps::config {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// The part after the scheme, without one trailing '/'; empty when the scheme is not http(s).
std::string_view Authority(std::string_view url) noexcept {
  for (const std::string_view scheme :
       {std::string_view("http://"), std::string_view("https://")}) {
    if (url.starts_with(scheme)) {
      std::string_view rest = url.substr(scheme.size());
      if (rest.ends_with('/')) rest.remove_suffix(1);
      return rest;
    }
  }
  return {};
}

}  // namespace

std::optional<std::string> CheckClusterMemberName(std::string_view name) {
  if (name.empty()) return std::string("member name is empty");
  if (name.size() > 63) return "member name " + detail::Quote(name) + " is longer than 63 bytes";
  const bool starts_ok = (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
                         (name[0] >= '0' && name[0] <= '9');
  for (const char c : name) {
    if (!starts_ok || !IsNameChar(c)) {
      return "invalid member name " + detail::Quote(name) +
             ": use letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit";
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckClusterUrl(std::string_view url) {
  const std::string_view authority = Authority(url);
  if (authority.empty()) {
    return "expected http://host:port or https://host:port, got " + detail::Quote(url);
  }
  if (authority.find('/') != std::string_view::npos ||
      authority.find('?') != std::string_view::npos ||
      authority.find('@') != std::string_view::npos) {
    return "expected nothing after host:port in " + detail::Quote(url);
  }
  if (auto problem = detail::CheckListenAddress(authority))
    return "in " + detail::Quote(url) + ": " + *problem;
  if (authority.ends_with(":0")) return "port 0 cannot be reached, in " + detail::Quote(url);
  return std::nullopt;
}

std::string_view ClusterUrlHostPort(std::string_view url) noexcept { return Authority(url); }

}  // namespace fleetps::config
