// fleetsim: one process playing a whole SSH fleet for fleetps' scale and fault tests.
// Usage and the control API are in tests/fleetsim/README.md.
#include <malloc.h>
#include <sys/resource.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <libssh/libssh.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "control_server.hpp"
#include "emit_config.hpp"
#include "fleet.hpp"
#include "host_set.hpp"
#include "keys.hpp"

namespace {

using namespace fleetps::fleetsim;

constexpr std::string_view kUsage =
    "usage: fleetsim [--hosts N] [--base-port P] [--address A] [--state-dir DIR]\n"
    "                [--per-host-keys] [--authorized-key FILE]... [--dialects MIX]\n"
    "                [--host-dialect HOSTSPEC=DIALECT]... [--fault HOSTSPEC=FAULT[:ARG]]...\n"
    "                [--control ADDR:PORT]\n"
    "                [--emit-config DIR [--serve]] [--user NAME]\n"
    "                [--probe-channel auto|shell|exec]\n"
    "  MIX      e.g. linux-procps=70,busybox=10,aix=10,solaris=10\n"
    "  HOSTSPEC all | N | A-B | simNNNNN, comma-separated\n"
    "  FAULT    none refuse no_banner kex_stall stall_output drip endless garbage\n"
    "           disconnect_after:N change_host_key reject_user_key delay:MS random_delay:MS\n"
    "           shell:eof shell:exit\n";

struct Options {
  FleetOptions fleet;
  std::string state_dir;
  bool per_host_keys = false;
  std::vector<std::string> authorized_keys;
  std::vector<std::string> fault_specs;
  std::vector<std::string> dialect_specs;
  std::string control;
  std::string emit_dir;
  bool serve = false;
  std::string user = "monitor";
  std::string probe_channel;  // into the emitted defaults when set
};

int UsageError(std::string_view message) {
  std::cerr << "fleetsim: " << message << "\n" << kUsage;
  return 2;
}

// Raises RLIMIT_NOFILE: one descriptor per listener, per session, plus a margin. Root may go
// past the hard limit; everyone else gets the hard limit.
rlim_t RaiseFileLimit(std::uint32_t hosts) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const rlim_t wanted = 2 * static_cast<rlim_t>(hosts) + 256;
  if (wanted > limit.rlim_max) {
    rlimit raised{wanted, wanted};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      return wanted;
    }
  }
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        return {};
      }
      return std::string(args[++i]);
    };
    try {
      if (arg == "--help" || arg == "-h") {
        std::cout << kUsage;
        return 0;
      } else if (arg == "--hosts") {
        options.fleet.hosts = static_cast<std::uint32_t>(std::stoul(value()));
      } else if (arg == "--base-port") {
        options.fleet.base_port = static_cast<std::uint16_t>(std::stoul(value()));
      } else if (arg == "--address") {
        options.fleet.address = value();
      } else if (arg == "--state-dir") {
        options.state_dir = value();
      } else if (arg == "--per-host-keys") {
        options.per_host_keys = true;
      } else if (arg == "--shared-host-key") {
        options.per_host_keys = false;
      } else if (arg == "--authorized-key") {
        options.authorized_keys.push_back(value());
      } else if (arg == "--dialects") {
        if (!ParseDialectMix(value(), options.fleet.dialects)) {
          return UsageError("bad --dialects");
        }
      } else if (arg == "--host-dialect") {
        options.dialect_specs.push_back(value());
      } else if (arg == "--fault") {
        options.fault_specs.push_back(value());
      } else if (arg == "--control") {
        options.control = value();
      } else if (arg == "--emit-config") {
        options.emit_dir = value();
      } else if (arg == "--serve") {
        options.serve = true;
      } else if (arg == "--user") {
        options.user = value();
      } else if (arg == "--probe-channel") {
        options.probe_channel = value();
        if (options.probe_channel != "auto" && options.probe_channel != "shell" &&
            options.probe_channel != "exec") {
          return UsageError("--probe-channel wants auto, shell or exec");
        }
      } else {
        return UsageError("unknown argument " + std::string(arg));
      }
    } catch (const std::exception&) {
      return UsageError("bad value for " + std::string(arg));
    }
  }
  if (options.fleet.hosts == 0 || options.fleet.hosts > 60000 ||
      options.fleet.base_port + options.fleet.hosts - 1 > 65535) {
    return UsageError("--hosts and --base-port must give ports within 1..65535");
  }
  for (const auto& spec : options.fault_specs) {
    const auto eq = spec.find('=');
    const auto numbers = eq == std::string::npos
                             ? std::nullopt
                             : ParseHostSet(spec.substr(0, eq), options.fleet.hosts);
    const auto fault = eq == std::string::npos ? std::nullopt : ParseFault(spec.substr(eq + 1));
    if (!numbers || !fault) {
      return UsageError("bad --fault " + spec);
    }
    for (const auto number : *numbers) {
      options.fleet.faults[number] = *fault;
    }
  }
  for (const auto& spec : options.dialect_specs) {
    const auto eq = spec.find('=');
    const auto numbers = eq == std::string::npos
                             ? std::nullopt
                             : ParseHostSet(spec.substr(0, eq), options.fleet.hosts);
    SimDialect dialect{};
    if (!numbers || !ParseSimDialect(spec.substr(eq + 1), dialect)) {
      return UsageError("bad --host-dialect " + spec);
    }
    for (const auto number : *numbers) {
      options.fleet.dialect_overrides[number] = dialect;
    }
  }
  if (options.state_dir.empty()) {
    options.state_dir = options.emit_dir.empty() ? "fleetsim-state" : options.emit_dir;
  }

  const auto started = std::chrono::steady_clock::now();
  ssh_init();
  KeyStore keys;
  std::string error;
  if (!keys.Load(options.state_dir, options.fleet.hosts, options.per_host_keys, error)) {
    std::cerr << "fleetsim: " << error << "\n";
    return 1;
  }
  for (const auto& file : options.authorized_keys) {
    if (!keys.AddAuthorizedKeys(file, error)) {
      std::cerr << "fleetsim: " << error << "\n";
      return 1;
    }
  }
  if (!options.emit_dir.empty()) {
    if (!EmitConfig(options.emit_dir, options.fleet, keys, options.user, options.probe_channel,
                    error)) {
      std::cerr << "fleetsim: " << error << "\n";
      return 1;
    }
    std::cout << "fleetsim: wrote " << options.emit_dir << "/fleet.yaml, known_hosts, id_ed25519"
              << std::endl;
    if (!options.serve) {
      return 0;
    }
  }

  std::signal(SIGPIPE, SIG_IGN);
  const rlim_t nofile = RaiseFileLimit(options.fleet.hosts);
  boost::asio::io_context io(1);
  Fleet fleet(io, keys, options.fleet);
  if (!fleet.Start(error)) {
    std::cerr << "fleetsim: " << error << "\n";
    return 1;
  }
  ControlServer control(io, fleet);
  if (!options.control.empty() && !control.Start(options.control, error)) {
    std::cerr << "fleetsim: " << error << "\n";
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    fleet.Stop();
    io.stop();
  });
  // Probe answers are built and freed in bursts; hand the freed heap back to the system now and
  // then so RSS reflects what the fleet holds, not its past peaks.
  boost::asio::steady_timer trim(io);
  std::function<void()> schedule_trim = [&] {
    trim.expires_after(std::chrono::seconds(5));
    trim.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) {
        ::malloc_trim(0);
        schedule_trim();
      }
    });
  };
  schedule_trim();
  const auto startup = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  // One line for humans and test harnesses alike.
  std::cout << "fleetsim ready hosts=" << options.fleet.hosts
            << " ports=" << options.fleet.base_port << "-"
            << options.fleet.base_port + options.fleet.hosts - 1 << " control=" << control.Port()
            << " nofile=" << nofile << " startup_ms=" << startup.count() << std::endl;
  io.run();
  ssh_finalize();
  return 0;
}
