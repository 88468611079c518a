#include "fleetps/collector/cli/commands.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace fleetps::collector {
namespace {

constexpr std::array kRunFlags{
    FlagDoc{"--config", "FILE", "", "the inventory (YAML) to run; -c for short"},
    FlagDoc{"--listen", "ADDR", "",
            "the HTTP address (HOST:PORT), instead of the inventory's collector.listen"},
    FlagDoc{"--cluster-member", "NAME", "",
            "this collector's name in its cluster (default $FLEETPS_CLUSTER_MEMBER, else the "
            "host name); with membership static it must be in cluster.static.members"},
    FlagDoc{"--cluster-advertise", "URL", "",
            "the http(s)://HOST:PORT peers and Prometheus reach this member at (static: the "
            "list's entry, which it must match)"},
    FlagDoc{"--cluster-weight", "N", "", "relative capacity, 0..1000 (static: the list's)"},
    FlagDoc{"--cluster-zone", "Z", "",
            "the zone whose hosts this member may own (static: the list's)"},
};
constexpr std::array kSudoersFlags{
    FlagDoc{"--config", "FILE", "", "print rules for the users of the hosts with privilege: sudo"},
    FlagDoc{"--user", "NAME", "", "print rules for this login user too (repeatable)"},
};
constexpr std::array kQueryFlags{
    FlagDoc{"--sort", "FIELD", "",
            "sort by a field, descending with a leading - (-rss, -cpu, host, pid...)"},
    FlagDoc{"--limit", "N", "", "show at most N rows"},
    FlagDoc{"--fresh", "", "",
            "run one new probe per host over the warm sessions instead of the latest results"},
};
constexpr std::array kEventsFlags{
    FlagDoc{"--host", "H", "", "only the hosts matching this name or nodeset (web[01-40], web*)"},
};
constexpr std::array kHelpFlags{
    FlagDoc{"--man", "", "", "print this manual page (roff), as installed as fleetps(1)"},
    FlagDoc{"--bash-completion", "", "", "print the bash completion script, as installed"},
};
constexpr std::array kClientFlags{
    FlagDoc{"--server", "URL", "", "the collector to ask (default http://127.0.0.1:9732)"},
    FlagDoc{"-o", "FORMAT", "table wide json",
            "table (default), wide (more columns) or json (the API's answer)"},
    FlagDoc{"--ca-file", "FILE", "", "the CA that signed an https:// server's certificate"},
    FlagDoc{"--user", "NAME", "",
            "basic auth user; the password comes from $FLEETPS_PASSWORD or --password-file"},
    FlagDoc{"--password-file", "FILE", "", "the file whose first line is --user's password"},
};

constexpr std::array kCommands{
    CommandDoc{"run",
               "--config FILE [--listen ADDR] [--cluster-member NAME] [--cluster-advertise URL] "
               "[--cluster-weight N] [--cluster-zone Z]",
               "run the collector",
               "Runs the collector in the foreground: one supervised SSH session per host, the "
               "probes on their schedule, and the HTTP port (/metrics, /probe, /sd, /api/v1/..., "
               "/-/healthy, /-/ready, the web UI). Logs go to stderr, one logfmt line per "
               "event. Under systemd (Type=notify) it reports READY=1 once every host agent is "
               "started and the HTTP port is bound (when /-/ready answers 200), RELOADING=1 "
               "during a reload and STOPPING=1 when it stops.",
               ArgKind::kNone, kRunFlags},
    CommandDoc{"check-config", "FILE",
               "validate an inventory and its web config; exit 0 when valid, 1 when not",
               "Prints every problem as file:line:col: message. Opens no connection.",
               ArgKind::kFile},
    CommandDoc{"keyscan", "FILE", "enroll the host keys of an inventory",
               "Connects to every host without authenticating, records its host key in the "
               "known_hosts file (never replacing a different key) and prints the SHA256 "
               "fingerprints, the banner and the algorithms each server offers, weak ones "
               "flagged.",
               ArgKind::kFile},
    CommandDoc{"sudoers", "[--config FILE] [--user NAME]...",
               "the sudoers rules privilege: sudo needs",
               "Prints the exact root-only commands of the probe for each user, NOPASSWD, "
               "without wildcards.",
               ArgKind::kNone, kSudoersFlags},
    CommandDoc{"query", "SELECTOR [--sort -rss] [--limit N] [--fresh] [-o table|json|wide]",
               "ask a running collector which processes match SELECTOR",
               "SELECTOR is the query language of the API, e.g. '{comm=~\"ora_.*\", rss>1GiB}'. "
               "Tables fold identical rows across hosts (web[01-40]); hosts that are down are "
               "listed with their reason. Asked of a cluster member, the answer covers the "
               "whole cluster; exit status 3 when members did not answer (named on stderr).",
               ArgKind::kOther, kQueryFlags, true},
    CommandDoc{"hosts",
               "[-o table|wide|json]",
               "list hosts and their state",
               "State, dialect, probe channel and last failure of every host; -o wide adds the "
               "weak algorithms each host needs and the failure's detail. Asked of a cluster "
               "member: every member's hosts, with the COLLECTOR that owns each.",
               ArgKind::kNone,
               {},
               true},
    CommandDoc{"listening", "[SELECTOR] [--sort port] [--limit N] [--fresh] [-o table|json|wide]",
               "listening sockets and their processes", "", ArgKind::kOther, kQueryFlags, true},
    CommandDoc{"open-files",
               "HOST PID [-o table|json]",
               "a process's open files",
               "Runs one fixed template on HOST (/proc/PID/fd on Linux, lsof -p elsewhere).",
               ArgKind::kOther,
               {},
               true},
    CommandDoc{"events", "[--host H]", "follow host state changes, probes and reloads", "",
               ArgKind::kNone, kEventsFlags, true},
    CommandDoc{"cluster",
               "status [-o table|json] | owner HOST... | drain",
               "the cluster as a member sees it, who owns hosts, or drain a member",
               "status: the members (state, owned hosts and buckets, zone, weight, version, "
               "advertise URL) and the hosts without owner. owner: each HOST's bucket, owning "
               "member and its advertise URL; an unknown host is an error. Any member answers; "
               "an unclustered collector answers 404. drain (membership etcd): the member "
               "--server names hands its hosts over and leaves the cluster (within "
               "cluster.drain_timeout; allowed only with collector.enable_reload_endpoint, "
               "else 403); it keeps running, owning nothing, until restarted. undrain is not "
               "supported yet.",
               ArgKind::kOther,
               {},
               true},
    CommandDoc{"version", "", "print the version", "", ArgKind::kNone},
    CommandDoc{"help", "[--man | --bash-completion]", "print this help", "", ArgKind::kNone,
               kHelpFlags},
};

constexpr std::size_t kSummaryColumn = 38;
constexpr std::size_t kUsageWidth = 100;

// `head` (indented, at most kSummaryColumn - 2 wide or on a line of its own), then `text`
// from kSummaryColumn on, wrapped at kUsageWidth.
void AppendUsageItem(std::string& out, std::string_view head, std::string_view text) {
  std::string line = "  " + std::string(head);
  if (line.size() + 1 < kSummaryColumn) {
    line.append(kSummaryColumn - line.size(), ' ');
  } else {
    out += line + '\n';
    line.assign(kSummaryColumn, ' ');
  }
  std::size_t column_start = line.size();
  while (!text.empty()) {
    const std::size_t room = kUsageWidth - column_start;
    std::size_t cut = text.size();
    if (cut > room) {
      cut = text.rfind(' ', room);
      if (cut == std::string_view::npos || cut == 0) cut = std::min(text.size(), room);
    }
    line += text.substr(0, cut);
    out += line + '\n';
    text.remove_prefix(cut);
    while (text.starts_with(' ')) text.remove_prefix(1);
    line.assign(kSummaryColumn, ' ');
    column_start = kSummaryColumn;
  }
}

// "run --config FILE [--listen ADDR]": the usage line of a command, without indentation.
std::string UsageLine(const CommandDoc& command) {
  std::string line(command.name);
  if (!command.synopsis.empty()) {
    line += ' ';
    line += command.synopsis;
  }
  if (command.client) line += " [--server URL]";
  return line;
}

// Text for roff: backslashes and hyphens escaped, a leading control character neutralised.
std::string Roff(std::string_view text) {
  std::string out;
  if (!text.empty() && (text.front() == '.' || text.front() == '\'')) out += "\\&";
  for (const char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  return out;
}

void AppendFlagItems(std::string& out, std::span<const FlagDoc> flags) {
  for (const FlagDoc& flag : flags) {
    out += ".TP\n\\fB";
    out += Roff(flag.flag);
    out += "\\fR";
    if (!flag.value.empty()) {
      out += " \\fI";
      out += Roff(flag.value);
      out += "\\fR";
    }
    out += '\n';
    out += Roff(flag.text);
    out += '\n';
  }
}

// Space-separated words, for bash's compgen -W.
std::string Words(std::span<const FlagDoc> flags, std::string words = {}) {
  for (const FlagDoc& flag : flags) {
    if (!words.empty()) words += ' ';
    words += flag.flag;
  }
  return words;
}

}  // namespace

std::span<const CommandDoc> CommandDocs() { return kCommands; }

std::span<const FlagDoc> ClientFlagDocs() { return kClientFlags; }

std::string UsageText() {
  std::string out = "usage: fleetps COMMAND [ARGS]\n\ncommands:\n";
  for (const CommandDoc& command : kCommands)
    AppendUsageItem(out, UsageLine(command), command.summary);
  out +=
      "\nquery, hosts, listening, open-files, events and cluster ask a running collector and also "
      "take:\n";
  for (const FlagDoc& flag : kClientFlags) {
    AppendUsageItem(out, std::string(flag.flag) + ' ' + std::string(flag.value), flag.text);
  }
  out += "\nfleetps(1) has the details.\n";
  return out;
}

std::string ManPage(std::string_view version) {
  std::string out =
      ".\\\" Generated by `fleetps help --man` from the CLI's command table; do not edit.\n";
  out += ".TH FLEETPS 1 \"\" \"fleetps " + Roff(version) + "\" \"User Commands\"\n";
  out += ".SH NAME\nfleetps \\- agentless process monitor for legacy Unix fleets\n";
  out += ".SH SYNOPSIS\n";
  for (const CommandDoc& command : kCommands) {
    out += ".B fleetps\n" + Roff(UsageLine(command)) + "\n.br\n";
  }
  out +=
      ".SH DESCRIPTION\n"
      "fleetps reads a host list in YAML and keeps one supervised SSH session per host. It runs "
      "fixed ps/lsof\\-style probes over those warm sessions and serves Prometheus metrics with "
      "process\\-exporter's names, and an HTTP API that answers ad hoc process questions across "
      "the fleet. The monitored hosts need only sshd and a POSIX sh.\n"
      ".SH COMMANDS\n";
  for (const CommandDoc& command : kCommands) {
    out += ".TP\n\\fBfleetps " + Roff(UsageLine(command)) + "\\fR\n";
    out += Roff(command.summary);
    out += ".\n";
    if (!command.details.empty()) {
      out += Roff(command.details);
      out += '\n';
    }
    if (!command.flags.empty()) {
      out += ".RS\n";
      AppendFlagItems(out, command.flags);
      out += ".RE\n";
    }
  }
  out += ".SH CLIENT OPTIONS\n";
  out += "The commands that ask a running collector (";
  bool first = true;
  for (const CommandDoc& command : kCommands) {
    if (!command.client) continue;
    out += first ? "" : ", ";
    out += "\\fB" + Roff(command.name) + "\\fR";
    first = false;
  }
  out += ") also take:\n";
  AppendFlagItems(out, kClientFlags);
  out +=
      ".SH ENVIRONMENT\n"
      ".TP\n\\fBFLEETPS_PASSWORD\\fR\n"
      "The basic auth password for \\fB\\-\\-user\\fR, unless \\fB\\-\\-password\\-file\\fR "
      "is given (never a flag: a command line is visible to every user).\n"
      ".TP\n\\fBNOTIFY_SOCKET\\fR\n"
      "Set by systemd for Type=notify services: \\fBfleetps run\\fR sends READY=1, "
      "RELOADING=1 and STOPPING=1 there.\n"
      ".SH FILES\n"
      ".TP\n\\fI/etc/fleetps/fleetps.yaml\\fR\n"
      "The inventory the packaged service runs (fleetps.service); an example is installed "
      "as fleetps.yaml.example in the package's documentation directory.\n"
      ".TP\n\\fI/var/lib/fleetps/known_hosts\\fR\n"
      "The collector's own known_hosts (the service's StateDirectory); back it up.\n"
      ".SH SIGNALS\n"
      ".TP\n\\fBSIGHUP\\fR\n"
      "\\fBrun\\fR reloads the inventory: an invalid file keeps the running config.\n"
      ".TP\n\\fBSIGINT\\fR, \\fBSIGTERM\\fR\n"
      "\\fBrun\\fR stops within 10 s, closing every session.\n"
      ".SH EXIT STATUS\n"
      ".TP\n0\nSuccess; \\fBrun\\fR stopped in order.\n"
      ".TP\n1\nAn invalid config, a failed request, or \\fBrun\\fR could not start.\n"
      ".TP\n2\nAn unknown command or bad flags.\n"
      ".TP\n3\n\\fBquery\\fR, \\fBhosts\\fR, \\fBlistening\\fR: the collector is a member of a "
      "cluster and its fleet\\-wide answer is incomplete: members that did not answer (or "
      "hosts nobody owns during a handover) are named on stderr with their hosts; the rows "
      "printed are those of the members that answered.\n"
      ".TP\n70\n\\fBrun\\fR exhausted its top\\-level restart budget (a bug); systemd "
      "restarts it.\n"
      ".SH SEE ALSO\n"
      "The README, config/README.md and docs/ of the fleetps sources.\n";
  return out;
}

std::string BashCompletion() {
  std::string out =
      "# bash completion for fleetps; generated by `fleetps help --bash-completion` from the\n"
      "# CLI's command table, do not edit.\n"
      "_fleetps() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
      "  local words=\"\" files=0\n"
      "  COMPREPLY=()\n"
      "  if ((COMP_CWORD == 1)); then\n"
      "    words=\"";
  for (std::size_t i = 0; i < kCommands.size(); ++i) {
    if (i) out += ' ';
    out += kCommands[i].name;
  }
  out +=
      "\"\n"
      "  else\n"
      "    case ${COMP_WORDS[1]} in\n";
  for (const CommandDoc& command : kCommands) {
    std::set<std::string_view> file_flags, value_flags;
    std::string choices;  // case arms for flags with a fixed set of values
    const auto scan = [&](std::span<const FlagDoc> flags) {
      for (const FlagDoc& flag : flags) {
        if (flag.value == "FILE") {
          file_flags.insert(flag.flag);
        } else if (!flag.choices.empty()) {
          choices += "          " + std::string(flag.flag) + ") words=\"" +
                     std::string(flag.choices) + "\" ;;\n";
        } else if (!flag.value.empty()) {
          value_flags.insert(flag.flag);
        }
      }
    };
    scan(command.flags);
    if (command.client) scan(kClientFlags);
    if (command.name == "run") file_flags.insert("-c");
    const auto arm = [](const std::set<std::string_view>& flags) {
      std::string pattern;
      for (const std::string_view flag : flags) {
        if (!pattern.empty()) pattern += '|';
        pattern += flag;
      }
      return pattern;
    };
    out += "      " + std::string(command.name) + ")\n        case $prev in\n";
    if (!file_flags.empty()) out += "          " + arm(file_flags) + ") files=1 ;;\n";
    out += choices;
    if (!value_flags.empty()) out += "          " + arm(value_flags) + ") return ;;\n";
    out += "          *)\n";
    out += "            words=\"" +
           Words(command.client ? kClientFlags : std::span<const FlagDoc>{}, Words(command.flags)) +
           "\"\n";
    if (command.positional == ArgKind::kFile) {
      out += "            [[ $cur == -* ]] || files=1\n";
    }
    out += "            ;;\n        esac\n        ;;\n";
  }
  out +=
      "    esac\n"
      "  fi\n"
      "  if ((files)); then\n"
      "    compopt -o filenames 2>/dev/null\n"
      "    mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
      "  else\n"
      "    mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
      "  fi\n"
      "}\n"
      "complete -F _fleetps fleetps\n";
  return out;
}

}  // namespace fleetps::collector
