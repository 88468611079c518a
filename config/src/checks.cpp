#include "checks.hpp"
#include "fleetps/config/load.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <regex>

namespace fleetps::config::detail {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsHostChar(char c) { return IsAlnum(c) || c == '.' || c == '-' || c == '_'; }
bool IsIdentStart(char c) { return IsAlpha(c) || c == '_'; }
bool IsIdentChar(char c) { return IsAlnum(c) || c == '_'; }

std::string QuoteChar(char c) { return Quote(std::string_view(&c, 1)); }

// First byte that `allowed` rejects, as a message, for names with a fixed alphabet.
std::optional<std::string> CheckChars(std::string_view what, std::string_view value,
                                      bool (*allowed)(char), std::string_view alphabet) {
  for (const char c : value) {
    if (!allowed(c)) {
      return std::string(what) + " " + Quote(value) + " contains " + QuoteChar(c) +
             "; allowed: " + std::string(alphabet);
    }
  }
  return std::nullopt;
}

bool ValidUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    if (byte < 0x80) {
      length = 1;
    } else if ((byte & 0xE0) == 0xC0 && byte >= 0xC2) {
      length = 2;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
    } else if ((byte & 0xF8) == 0xF0 && byte <= 0xF4) {
      length = 4;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

// Our own wording: libstdc++'s what() texts change between releases.
std::string RegexErrorText(std::regex_constants::error_type code) {
  using namespace std::regex_constants;
  if (code == error_paren) return "unbalanced parenthesis";
  if (code == error_brack) return "unbalanced bracket";
  if (code == error_brace) return "unbalanced brace";
  if (code == error_badbrace) return "invalid repeat count in braces";
  if (code == error_badrepeat) return "repeat operator without anything to repeat";
  if (code == error_escape) return "invalid escape";
  if (code == error_range) return "invalid character range";
  if (code == error_ctype) return "invalid character class";
  if (code == error_collate) return "invalid collating element";
  if (code == error_backref) return "invalid back reference";
  return "pattern too complex";
}

}  // namespace

std::string Quote(std::string_view text) {
  constexpr std::size_t kMaxShown = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
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
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          constexpr std::string_view kHex = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  if (text.size() > kMaxShown) out += "...";
  out += '"';
  return out;
}

std::optional<std::string> CheckHostName(std::string_view name) {
  if (name.empty()) return "host name is empty";
  if (name.size() > 253) return "host name " + Quote(name) + " is longer than 253 characters";
  if (!IsAlnum(name[0])) return "host name " + Quote(name) + " must start with a letter or digit";
  return CheckChars("host name", name, IsHostChar, "letters, digits, \".\", \"-\", \"_\"");
}

std::optional<std::string> CheckUser(std::string_view user) {
  if (user.empty()) return "user is empty";
  if (user.size() > 64) return "user " + Quote(user) + " is longer than 64 characters";
  if (!IsIdentStart(user[0])) return "user " + Quote(user) + " must start with a letter or \"_\"";
  return CheckChars("user", user, IsHostChar, "letters, digits, \".\", \"-\", \"_\"");
}

std::optional<std::string> CheckAddress(std::string_view address) {
  if (address.empty()) return "address is empty";
  if (address.find(':') != std::string_view::npos) {
    std::array<unsigned char, 16> buffer{};
    if (address.front() == '[')
      return "address " + Quote(address) + ": write IPv6 addresses without brackets";
    const std::string text(address);
    if (inet_pton(AF_INET6, text.c_str(), buffer.data()) != 1) {
      return "address " + Quote(address) + " is not a valid IPv6 address";
    }
    return std::nullopt;
  }
  if (std::all_of(address.begin(), address.end(), [](char c) { return IsDigit(c) || c == '.'; })) {
    std::array<unsigned char, 4> buffer{};
    const std::string text(address);
    if (inet_pton(AF_INET, text.c_str(), buffer.data()) != 1) {
      return "address " + Quote(address) + " is not a valid IPv4 address";
    }
    return std::nullopt;
  }
  if (address.size() > 253) return "address " + Quote(address) + " is longer than 253 characters";
  if (!IsAlnum(address[0]))
    return "address " + Quote(address) + " must start with a letter or digit";
  return CheckChars("address", address, IsHostChar,
                    "a host name (letters, digits, \".\", \"-\", \"_\") or an IP address");
}

std::optional<std::string> CheckLabelName(std::string_view name) {
  if (name.empty() || !IsIdentStart(name[0]) ||
      !std::all_of(name.begin(), name.end(), IsIdentChar)) {
    return "invalid label name " + Quote(name) + ": must match [a-zA-Z_][a-zA-Z0-9_]*";
  }
  if (name.starts_with("__")) {
    return "label name " + Quote(name) +
           " is reserved: names starting with \"__\" are for Prometheus";
  }
  if (name == "host" || name == "groupname") {
    return "label name " + Quote(name) + " is reserved: fleetps sets it";
  }
  return std::nullopt;
}

std::optional<std::string> CheckLabelValue(std::string_view value) {
  if (value.size() > 256) return "label value is longer than 256 bytes";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return "label value " + Quote(value) + " contains a control character";
    }
  }
  if (!ValidUtf8(value)) return "label value is not valid UTF-8";
  return std::nullopt;
}

std::optional<std::string> CheckEnvName(std::string_view name) {
  if (name.empty() || !IsIdentStart(name[0]) ||
      !std::all_of(name.begin(), name.end(), IsIdentChar)) {
    return "invalid environment variable name " + Quote(name) +
           ": must match [A-Za-z_][A-Za-z0-9_]*";
  }
  return std::nullopt;
}

std::optional<std::string> CheckPath(std::string_view path) {
  if (path.empty()) return "path is empty";
  if (path.find('\0') != std::string_view::npos) return "path contains a NUL byte";
  if (path.find_first_of("\r\n") != std::string_view::npos) return "path contains a line break";
  if (path.front() == '~') {
    return "path " + Quote(path) +
           " starts with \"~\", which is not expanded; use an absolute path";
  }
  return std::nullopt;
}

std::optional<std::string> CheckAlgorithmName(std::string_view name) {
  if (name.empty()) return "algorithm name is empty";
  if (name.find(',') != std::string_view::npos) {
    return "algorithm name " + Quote(name) + " contains \",\"; list each algorithm separately";
  }
  return CheckChars(
      "algorithm name", name,
      [](char c) { return IsAlnum(c) || c == '@' || c == '.' || c == '-' || c == '_' || c == '+'; },
      "letters, digits, \"@\", \".\", \"-\", \"_\", \"+\"");
}

std::optional<std::string> CheckListenAddress(std::string_view listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return "expected host:port, got " + Quote(listen);
  }
  std::string_view host = listen.substr(0, colon);
  const std::string_view port = listen.substr(colon + 1);
  if (host.empty()) return "missing host in " + Quote(listen) + " (use 0.0.0.0 or [::] for all)";
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return "unbalanced \"[\" in " + Quote(listen);
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) {
      return "brackets are for IPv6 addresses, got " + Quote(listen);
    }
  } else if (host.find(':') != std::string_view::npos) {
    return "put IPv6 addresses in brackets, e.g. \"[::1]:9732\", got " + Quote(listen);
  }
  if (auto problem = CheckAddress(host)) return problem;
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit) ||
      std::stoul(std::string(port)) > 65535) {
    return "expected a port in 0..65535 after \":\", got " + Quote(listen);
  }
  return std::nullopt;
}

std::optional<std::string> CheckSourceAddress(std::string_view address) {
  const std::string text(address);
  std::array<unsigned char, 16> buffer{};
  if (inet_pton(AF_INET, text.c_str(), buffer.data()) == 1 ||
      inet_pton(AF_INET6, text.c_str(), buffer.data()) == 1) {
    return std::nullopt;
  }
  return "source address " + Quote(address) +
         " is not an IP address (an IPv4 or IPv6 literal, without brackets or port)";
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string ClosestKey(std::string_view key, const std::vector<std::string_view>& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const std::string_view candidate : candidates) {
    const std::size_t distance = EditDistance(key, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::vector<Problem> CheckNameTemplate(std::string_view name_template,
                                       const std::set<std::string>& groups) {
  std::vector<Problem> problems;
  if (name_template.empty()) {
    problems.push_back({"name template is empty", 0, false});
    return problems;
  }
  std::size_t pos = 0;
  while ((pos = name_template.find("{{", pos)) != std::string_view::npos) {
    const std::size_t close = name_template.find("}}", pos + 2);
    if (close == std::string_view::npos) {
      problems.push_back({"unclosed \"{{\" in name template", pos, false});
      break;
    }
    std::string_view field = name_template.substr(pos + 2, close - pos - 2);
    // Go's trim markers "{{- x -}}" and spaces do not change the field.
    if (field.starts_with("- ")) field.remove_prefix(2);
    if (field.ends_with(" -")) field.remove_suffix(2);
    while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
    while (!field.empty() && field.back() == ' ') field.remove_suffix(1);
    const std::string shown(name_template.substr(pos, close + 2 - pos));
    constexpr std::array<std::string_view, 5> kPlain{".Comm", ".ExeBase", ".ExeFull", ".Username",
                                                     ".Cgroups"};
    if (std::find(kPlain.begin(), kPlain.end(), field) != kPlain.end()) {
      // fine
    } else if (field == ".PID" || field == ".StartTime") {
      problems.push_back({shown + " makes one group per process (high cardinality)", pos, true});
    } else if (field.starts_with(".Matches.")) {
      const std::string group(field.substr(9));
      if (group.empty() || !IsIdentStart(group[0]) ||
          !std::all_of(group.begin(), group.end(), IsIdentChar)) {
        problems.push_back({"invalid group name in " + shown, pos, false});
      } else if (!groups.contains(group)) {
        problems.push_back(
            {shown + " refers to no named group (?P<" + group + ">...) in cmdline", pos, false});
      }
    } else {
      problems.push_back({"unknown template field " + shown +
                              "; use .Comm, .ExeBase, .ExeFull, .Username, .Matches.NAME, .PID, "
                              ".StartTime or .Cgroups",
                          pos, false});
    }
    pos = close + 2;
  }
  return problems;
}

CheckedRegex CheckCmdlineRegex(std::string_view re2) {
  CheckedRegex out;
  bool icase = false;
  auto fail = [&out](std::string message, std::size_t offset) {
    out.problem = Problem{std::move(message), offset, false};
    return out;
  };
  constexpr std::size_t kMaxLength = 1000;
  if (re2.size() > kMaxLength) return fail("regex is longer than 1000 characters", 0);
  std::size_t i = 0;
  if (re2.starts_with("(?i)")) {
    icase = true;
    i = 4;
  }
  std::string ecma;
  std::set<std::string> seen;
  while (i < re2.size()) {
    const char c = re2[i];
    if (c == '\\') {
      if (i + 1 == re2.size()) return fail("regex ends with a lone backslash", i);
      ecma += re2.substr(i, 2);
      i += 2;
    } else if (c == '[') {
      // Copy a bracket expression whole so "(" inside it is not taken for a group.
      const std::size_t start = i;
      ecma += c;
      ++i;
      if (i < re2.size() && re2[i] == '^') ecma += re2[i++];
      if (i < re2.size() && re2[i] == ']') ecma += re2[i++];
      while (i < re2.size() && re2[i] != ']') {
        if (re2[i] == '\\' && i + 1 < re2.size()) {
          ecma += re2.substr(i, 2);
          i += 2;
        } else if (re2.substr(i, 2) == "[:") {
          const std::size_t end = re2.find(":]", i + 2);
          if (end == std::string_view::npos) return fail("unclosed \"[:\" in regex", i);
          ecma += re2.substr(i, end + 2 - i);
          i = end + 2;
        } else {
          ecma += re2[i++];
        }
      }
      if (i == re2.size()) return fail("unclosed \"[\" in regex", start);
      ecma += re2[i++];
    } else if (c == '(' && re2.substr(i, 2) == "(?") {
      const std::string_view rest = re2.substr(i);
      if (rest.starts_with("(?:") || rest.starts_with("(?=") || rest.starts_with("(?!")) {
        ecma += rest.substr(0, 3);
        i += 3;
      } else if (rest.starts_with("(?P<") || rest.starts_with("(?<")) {
        const std::size_t name_start = i + (rest[2] == 'P' ? 4 : 3);
        const std::size_t name_end = re2.find('>', name_start);
        const std::string name(re2.substr(name_start, name_end == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : name_end - name_start));
        if (name_end == std::string_view::npos || name.empty() || !IsIdentStart(name[0]) ||
            !std::all_of(name.begin(), name.end(), IsIdentChar)) {
          return fail("invalid capture group name in regex", i);
        }
        if (!seen.insert(name).second) {
          return fail("duplicate capture group name \"" + name + "\" in regex", i);
        }
        out.group_names.push_back(name);
        ecma += '(';
        i = name_end + 1;
      } else {
        return fail(
            "unsupported group syntax in regex: only (?P<name>...), (?:...) and a leading "
            "(?i) are supported",
            i);
      }
    } else if (c == '(') {
      out.group_names.emplace_back();
      ecma += c;
      ++i;
    } else {
      ecma += c;
      ++i;
    }
  }
  try {
    auto flags = std::regex::ECMAScript;
    if (icase) flags |= std::regex::icase;
    const std::regex compiled(ecma, flags);
    if (compiled.mark_count() != out.group_names.size()) {
      return fail("regex groups could not be counted reliably; simplify the pattern", 0);
    }
  } catch (const std::regex_error& error) {
    return fail("invalid regex: " + RegexErrorText(error.code()), 0);
  }
  return out;
}

}  // namespace fleetps::config::detail

namespace fleetps::config {

std::optional<std::string> CheckUserName(std::string_view user) { return detail::CheckUser(user); }

}  // namespace fleetps::config
