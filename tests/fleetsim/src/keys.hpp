// Host and client keys of the simulated fleet: generated once into the state directory, loaded
// from there on later runs so known_hosts files stay valid across restarts.
#pragma once

#include <libssh/libssh.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace fleetps::fleetsim {

struct KeyDeleter {
  void operator()(ssh_key key) const noexcept { ssh_key_free(key); }
};
using KeyPtr = std::unique_ptr<std::remove_pointer_t<ssh_key>, KeyDeleter>;

/// "ssh-ed25519 AAAA..." for a key (public part only); empty on failure.
[[nodiscard]] std::string PublicKeyLine(ssh_key key);

/// Loads the private key at `path`, or generates an ed25519 key there (mode 0600, plus
/// `path.pub`) when the file does not exist. Null with `error` set on failure.
[[nodiscard]] KeyPtr LoadOrGenerateKey(const std::filesystem::path& path, std::string& error);

/// Every key the fleet serves and accepts. Not thread-safe; built once at start.
class KeyStore {
 public:
  /// Loads or generates, under `state_dir`: host_ed25519 (shared host key), host_alt_ed25519
  /// (served by hosts in fault change_host_key), client_ed25519 (the user key the fleet accepts
  /// by default) and, with `per_host_keys`, hostkeys/simNNNNN_ed25519 for hosts 1..host_count.
  [[nodiscard]] bool Load(const std::filesystem::path& state_dir, std::uint32_t host_count,
                          bool per_host_keys, std::string& error);

  /// Adds the public key(s) of an OpenSSH public key or authorized_keys file.
  [[nodiscard]] bool AddAuthorizedKeys(const std::filesystem::path& file, std::string& error);

  /// The host key host `number` serves; the alternate key when `changed`.
  [[nodiscard]] ssh_key HostKey(std::uint32_t number, bool changed) const;

  /// True when `key` (public part) is one of the authorized user keys.
  [[nodiscard]] bool IsAuthorized(ssh_key key) const;

  [[nodiscard]] const std::filesystem::path& ClientKeyPath() const { return client_key_path_; }

 private:
  KeyPtr shared_;
  KeyPtr alternate_;
  std::vector<KeyPtr> per_host_;  ///< Index number-1; empty without per-host keys.
  std::vector<KeyPtr> authorized_;
  std::filesystem::path client_key_path_;
};

}  // namespace fleetps::fleetsim
