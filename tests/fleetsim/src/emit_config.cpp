#include "emit_config.hpp"

#include <fstream>
#include <system_error>

#include "host_set.hpp"

namespace fleetps::fleetsim {

bool EmitConfig(const std::filesystem::path& dir_arg, const FleetOptions& options,
                const KeyStore& keys, const std::string& user, const std::string& probe_channel,
                std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir_arg, ec);
  const fs::path dir = fs::weakly_canonical(fs::absolute(dir_arg), ec);
  const fs::path identity = dir / "id_ed25519";
  if (fs::weakly_canonical(keys.ClientKeyPath(), ec) != identity) {
    fs::copy_file(keys.ClientKeyPath(), identity, fs::copy_options::overwrite_existing, ec);
    if (!ec) {
      fs::copy_file(keys.ClientKeyPath().string() + ".pub", identity.string() + ".pub",
                    fs::copy_options::overwrite_existing, ec);
    }
    if (ec) {
      error = "cannot copy the client key into " + dir.string() + ": " + ec.message();
      return false;
    }
    fs::permissions(identity, fs::perms::owner_read | fs::perms::owner_write, ec);
  }

  std::ofstream known(dir / "known_hosts");
  std::ofstream yaml(dir / "fleet.yaml");
  const std::uint32_t last_port = options.base_port + options.hosts - 1;
  yaml << "# fleetsim --emit-config: " << options.hosts << " simulated hosts on " << options.address
       << " ports " << options.base_port << "-" << last_port << ".\n"
       << "defaults:\n"
       << "  user: " << user << "\n"
       << "  identity_file: " << identity.string() << "\n"
       << "  known_hosts: " << (dir / "known_hosts").string() << "\n"
       << "  host_key_policy: strict\n"
       << "  interval: 15s\n"
       << "  connect_timeout: 5s\n"
       << "  probe_timeout: 10s\n";
  if (!probe_channel.empty()) {
    yaml << "  probe_channel: " << probe_channel << "\n";
  }
  yaml << "hosts:\n";
  for (std::uint32_t number = 1; number <= options.hosts; ++number) {
    const auto port = options.base_port + number - 1;
    const std::string dialect(SimDialectName(DialectOf(number, options)));
    yaml << "  - name: " << HostName(number) << "\n"
         << "    address: " << options.address << "\n"
         << "    port: " << port << "\n"
         << "    dialect: " << dialect << "\n"
         << "    labels: {sim: \"true\", dialect: " << dialect << "}\n";
    known << "[" << options.address << "]:" << port << " "
          << PublicKeyLine(keys.HostKey(number, false)) << "\n";
  }
  yaml << "process_names:\n"
       << "  - name: \"{{.Comm}}\"\n"
       << "    comm: [sshd, cron, crond, nginx, java, tnslsnr, dropbear, rsyslogd, syslogd]\n"
       << "  - name: oracle\n"
       << "    cmdline: ['^ora_']\n"
       << "  - name: other\n"
       << "    cmdline: ['.+']\n";
  if (!yaml || !known) {
    error = "cannot write fleet.yaml or known_hosts in " + dir.string();
    return false;
  }
  return true;
}

}  // namespace fleetps::fleetsim
