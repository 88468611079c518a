// The command table is the one source of --help, fleetps(1) and the bash completion: every
// command it lists must be one RunCli dispatches, and each rendering must carry every command.
#include "fleetps/collector/cli/commands.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "fleetps/collector/cli/cli.hpp"

namespace fleetps::collector {
namespace {

TEST(CliCommands, EveryListedCommandIsDispatched) {
  for (const CommandDoc& command : CommandDocs()) {
    // A flag no command takes: a usage error of that command (or, for version, the version),
    // never "unknown command". Nothing here opens a connection.
    const std::vector<std::string_view> args{command.name, "--no-such-flag"};
    std::ostringstream out, err;
    (void)RunCli(args, out, err);
    EXPECT_EQ(err.str().find("unknown command"), std::string::npos)
        << command.name << ": " << err.str();
  }
}

TEST(CliCommands, UnknownCommandIsAUsageError) {
  const std::vector<std::string_view> args{"frobnicate"};
  std::ostringstream out, err;
  EXPECT_EQ(RunCli(args, out, err), kExitUsage);
  EXPECT_NE(err.str().find("unknown command"), std::string::npos);
}

TEST(CliCommands, EveryRenderingNamesEveryCommandAndFlag) {
  const std::string usage = UsageText();
  const std::string man = ManPage("1.2.3");
  const std::string completion = BashCompletion();
  EXPECT_NE(man.find(".TH FLEETPS 1 \"\" \"fleetps 1.2.3\""), std::string::npos);
  for (const CommandDoc& command : CommandDocs()) {
    const std::string name(command.name);
    EXPECT_NE(usage.find("\n  " + name), std::string::npos) << name;
    std::string roff_name;  // hyphens are \- in roff
    for (const char c : name) roff_name += c == '-' ? std::string("\\-") : std::string(1, c);
    EXPECT_NE(man.find("\\fBfleetps " + roff_name), std::string::npos) << name;
    EXPECT_NE(completion.find("      " + name + ")\n"), std::string::npos) << name;
    for (const FlagDoc& flag : command.flags) {
      EXPECT_NE(usage.find(std::string(flag.flag)), std::string::npos) << name << flag.flag;
      EXPECT_NE(completion.find(std::string(flag.flag)), std::string::npos) << name << flag.flag;
    }
  }
  for (const FlagDoc& flag : ClientFlagDocs()) {
    EXPECT_NE(usage.find("  " + std::string(flag.flag) + ' '), std::string::npos) << flag.flag;
  }
}

TEST(CliCommands, ManPageTextCannotStartARoffRequest) {
  // Every line is a macro we wrote (starting with '.') or text; text that began with '.' or
  // '\'' would be read as a request, so Roff() guards it with \&.
  const std::string man = ManPage("1.0.0");
  std::istringstream lines(man);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '.') continue;
    const std::string request = line.substr(0, line.find(' '));
    static const std::vector<std::string> kRequests{".\\\"", ".TH", ".SH", ".B", ".br",
                                                    ".TP",   ".RS", ".RE", ".PP"};
    EXPECT_NE(std::find(kRequests.begin(), kRequests.end(), request), kRequests.end()) << line;
  }
}

}  // namespace
}  // namespace fleetps::collector
