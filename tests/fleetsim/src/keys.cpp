#include "keys.hpp"

#include <libssh/libssh.h>

#include <fstream>
#include <system_error>

#include "host_set.hpp"

namespace fleetps::fleetsim {

std::string PublicKeyLine(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
    return {};
  }
  std::string line = ssh_key_type_to_char(ssh_key_type(key));
  line += ' ';
  line += b64;
  ssh_string_free_char(b64);
  return line;
}

KeyPtr LoadOrGenerateKey(const std::filesystem::path& path, std::string& error) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
      error = "cannot load private key " + path.string();
      return nullptr;
    }
    return KeyPtr(key);
  }
  ssh_key raw = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
    error = "cannot generate an ed25519 key";
    return nullptr;
  }
  KeyPtr key(raw);
  if (ssh_pki_export_privkey_file(key.get(), nullptr, nullptr, nullptr, path.c_str()) != SSH_OK) {
    error = "cannot write private key " + path.string();
    return nullptr;
  }
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  std::ofstream pub(path.string() + ".pub");
  pub << PublicKeyLine(key.get()) << " fleetsim\n";
  if (!pub) {
    error = "cannot write public key " + path.string() + ".pub";
    return nullptr;
  }
  return key;
}

bool KeyStore::Load(const std::filesystem::path& state_dir, std::uint32_t host_count,
                    bool per_host_keys, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    error = "cannot create state directory " + state_dir.string() + ": " + ec.message();
    return false;
  }
  shared_ = LoadOrGenerateKey(state_dir / "host_ed25519", error);
  alternate_ = LoadOrGenerateKey(state_dir / "host_alt_ed25519", error);
  client_key_path_ = state_dir / "client_ed25519";
  KeyPtr client = LoadOrGenerateKey(client_key_path_, error);
  if (!shared_ || !alternate_ || !client) {
    return false;
  }
  // The client key's public half is what the fleet accepts unless told otherwise.
  ssh_key client_public = nullptr;
  if (ssh_pki_export_privkey_to_pubkey(client.get(), &client_public) != SSH_OK) {
    error = "cannot derive the client public key";
    return false;
  }
  authorized_.emplace_back(client_public);
  if (per_host_keys) {
    std::filesystem::create_directories(state_dir / "hostkeys", ec);
    per_host_.reserve(host_count);
    for (std::uint32_t number = 1; number <= host_count; ++number) {
      per_host_.push_back(
          LoadOrGenerateKey(state_dir / "hostkeys" / (HostName(number) + "_ed25519"), error));
      if (!per_host_.back()) {
        return false;
      }
    }
  }
  return true;
}

bool KeyStore::AddAuthorizedKeys(const std::filesystem::path& file, std::string& error) {
  std::ifstream in(file);
  if (!in) {
    error = "cannot read authorized key file " + file.string();
    return false;
  }
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    // authorized_keys lines are "[options] type base64 [comment]"; find the type token.
    for (std::string_view type : {"ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-nistp256 ",
                                  "ecdsa-sha2-nistp384 ", "ecdsa-sha2-nistp521 "}) {
      const auto at = line.find(type);
      if (at == std::string::npos) {
        continue;
      }
      const auto b64_begin = at + type.size();
      const auto b64_end = line.find(' ', b64_begin);
      const std::string b64 = line.substr(b64_begin, b64_end - b64_begin);
      const std::string type_name(type.substr(0, type.size() - 1));
      ssh_key key = nullptr;
      if (ssh_pki_import_pubkey_base64(b64.c_str(), ssh_key_type_from_name(type_name.c_str()),
                                       &key) == SSH_OK) {
        authorized_.emplace_back(key);
        any = true;
      }
      break;
    }
  }
  if (!any) {
    error = "no usable public key in " + file.string();
  }
  return any;
}

ssh_key KeyStore::HostKey(std::uint32_t number, bool changed) const {
  if (changed) {
    return alternate_.get();
  }
  if (!per_host_.empty() && number >= 1 && number <= per_host_.size()) {
    return per_host_[number - 1].get();
  }
  return shared_.get();
}

bool KeyStore::IsAuthorized(ssh_key key) const {
  for (const auto& candidate : authorized_) {
    if (ssh_key_cmp(candidate.get(), key, SSH_KEY_CMP_PUBLIC) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace fleetps::fleetsim
