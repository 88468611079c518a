#include "fleetps/collector/cli/sudoers.hpp"

#include <string_view>

#include "fleetps/probes/dialect.hpp"

namespace fleetps::collector {
namespace {

// sudoers reads these specially inside a command's arguments: separators (, : =), the escape
// itself, and the wildcards, which must match only themselves.
constexpr std::string_view kSudoersSpecial = "\\,:=*?[]";

void AppendEscaped(std::string& out, std::string_view word) {
  for (char c : word) {
    if (kSudoersSpecial.find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
}

// "proc-fd" -> "FLEETPS_PROC_FD": the alias names the probe section it fills.
std::string AliasName(std::string_view section) {
  std::string name = "FLEETPS_";
  for (char c : section) {
    name.push_back(c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
  }
  return name;
}

std::string UserList(std::span<const std::string> users) {
  std::string list;
  for (const std::string& user : users) {
    if (!list.empty()) list.append(", ");
    list.append(user);
  }
  return list;
}

}  // namespace

std::string SudoersSnippet(std::span<const std::string> users) {
  const std::string list = UserList(users);
  std::string out =
      "# fleetps: privilege: sudo for " + list +
      "\n"
      "# Lets these users run, as root and without a password, exactly the read-only commands\n"
      "# the fleetps process probe runs through `sudo -n`, with these arguments and no others.\n"
      "# Install: visudo -f /etc/sudoers.d/fleetps. The probe names each command by its base\n"
      "# name and sudo matches the path below (by inode); where a host keeps a tool elsewhere\n"
      "# (/usr/sbin/ss, /usr/sbin/lsof...), change its path here. Without a rule the probe\n"
      "# reads what the login user may and fleetps_probe_partial says what is missing.\n"
      "Defaults:" +
      list + " !requiretty\n";
  std::string aliases;
  for (const probes::SudoCommand& command : probes::SudoCommands()) {
    const std::string alias = AliasName(command.section);
    out.append("# ").append(command.reads).append("\n");
    out.append("Cmnd_Alias ").append(alias).append(" = ").append(command.program);
    for (std::string_view arg : command.args) {
      out.push_back(' ');
      AppendEscaped(out, arg);
    }
    out.push_back('\n');
    if (!aliases.empty()) aliases.append(", ");
    aliases.append(alias);
  }
  out.append(list).append(" ALL = (root) NOPASSWD: ").append(aliases).append("\n");
  return out;
}

}  // namespace fleetps::collector
