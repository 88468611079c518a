#include "fleetps/collector/cli.hpp"

#include <ostream>
#include <string>

#include "fleetps/collector/app.hpp"
#include "fleetps/collector/keyscan.hpp"
#include "fleetps/config/load.hpp"

namespace fleetps::collector {
namespace {

constexpr std::string_view kUsage =
    "usage: fleetps COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run --config FILE [--listen ADDR]   run the collector\n"
    "  check-config FILE                   validate an inventory; exit 0 when valid, 1 when not\n"
    "  keyscan FILE                        enroll the host keys of an inventory\n"
    "  query SELECTOR [--sort -rss] [--limit N] [--fresh] [-o table|json|wide] [--server URL]\n"
    "  hosts [--server URL]                list hosts and their state\n"
    "  version                             print the version\n";

int Usage(std::ostream& err, std::string_view problem) {
  err << "fleetps: " << problem << "\n\n" << kUsage;
  return kExitUsage;
}

// Loads and validates only: opens no network connection.
int CheckConfig(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.size() != 1) return Usage(err, "check-config takes exactly one FILE");
  const std::string path(args[0]);
  const config::LoadResult loaded = config::LoadInventoryFile(path);
  for (const config::Diagnostic& diagnostic : loaded.diagnostics) {
    err << diagnostic.ToString() << '\n';
  }
  if (!loaded.ok()) {
    err << path << ": " << loaded.diagnostics.size()
        << (loaded.diagnostics.size() == 1 ? " problem" : " problems") << '\n';
    return kExitInvalid;
  }
  const config::Inventory& inventory = *loaded.inventory;
  out << path << ": ok, " << inventory.hosts.size()
      << (inventory.hosts.size() == 1 ? " host, " : " hosts, ") << inventory.process_names.size()
      << (inventory.process_names.size() == 1 ? " process group rule\n" : " process group rules\n");
  return kExitOk;
}

int KeyScan(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.size() != 1) return Usage(err, "keyscan takes exactly one FILE");
  const std::string path(args[0]);
  const config::LoadResult loaded = config::LoadInventoryFile(path);
  if (!loaded.ok()) {
    for (const config::Diagnostic& diagnostic : loaded.diagnostics) err << diagnostic.ToString() << '\n';
    return kExitInvalid;
  }
  return KeyScanInventory(*loaded.inventory, out, err);
}

int Run(std::span<const std::string_view> args, std::ostream& err) {
  RunOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = std::string(args[++i]);
      return true;
    };
    if (arg == "--config" || arg == "-c") {
      if (!value(options.config_path)) return Usage(err, "--config needs a FILE");
    } else if (arg == "--listen") {
      if (!value(options.listen_override)) return Usage(err, "--listen needs an ADDR");
    } else {
      return Usage(err, "unknown flag \"" + std::string(arg) + "\" for run");
    }
  }
  if (options.config_path.empty()) return Usage(err, "run needs --config FILE");
  return RunCollector(options);
}

}  // namespace

int RunCli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.empty()) return Usage(err, "no command given");
  const std::string_view command = args.front();
  const auto rest = args.subspan(1);
  if (command == "check-config") return CheckConfig(rest, out, err);
  if (command == "run") return Run(rest, err);
  if (command == "keyscan") return KeyScan(rest, out, err);
  if (command == "version" || command == "--version") {
    out << "fleetps " << FLEETPS_VERSION << '\n';
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    out << kUsage;
    return kExitOk;
  }
  return Usage(err, "unknown command \"" + std::string(command) + "\"");
}

}  // namespace fleetps::collector
