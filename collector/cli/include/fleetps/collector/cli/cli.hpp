#pragma once

#include <iosfwd>
#include <span>
#include <string_view>

namespace fleetps::collector {

/// Process exit codes of the `fleetps` command.
enum ExitCode : int {
  kExitOk = 0,
  kExitInvalid = 1,  ///< check-config found problems, a request failed, run could not start.
  kExitUsage = 2,    ///< Unknown command or bad flags.
  /// query, hosts, listening: a cluster's answer lacks hosts (members that did not answer, or
  /// hosts nobody owns); what it has is printed, the missing hosts named on stderr.
  kExitIncomplete = 3,
  // run exits with kEscalationExitCode (70) when its top-level restart budget is exhausted.
};

/// Runs the `fleetps` command line: `args` excludes the program name. Output goes to `out`,
/// diagnostics and usage errors to `err`. Never throws; returns the process exit code.
int RunCli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace fleetps::collector
