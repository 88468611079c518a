// A small blocking libssh client for the fleetsim tests that need more than OpenSSH gives
// (thousands of sessions, or raw channel control): connect with strict host-key checking
// against fleetsim's emitted known_hosts, authenticate with its user key.
#pragma once

#include <libssh/libssh.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "test_support.hpp"

namespace fleetps::fleetsim::testing {

struct SessionDeleter {
  void operator()(ssh_session s) const {
    ssh_disconnect(s);
    ssh_free(s);
  }
};
using SessionPtr = std::unique_ptr<std::remove_pointer_t<ssh_session>, SessionDeleter>;

/// Connects to 127.0.0.1:port, checks the host key (strict), authenticates with `identity`.
/// Null with `error` on failure.
inline SessionPtr Connect(std::uint16_t port, const Fleetsim& fleet, ssh_key identity,
                          std::string& error) {
  SessionPtr session(ssh_new());
  const std::string known_hosts = fleet.KnownHosts().string();
  const unsigned int port_value = port;
  const bool no_config = false;
  const long timeout = 30;
  ssh_options_set(session.get(), SSH_OPTIONS_HOST, "127.0.0.1");
  ssh_options_set(session.get(), SSH_OPTIONS_PORT, &port_value);
  ssh_options_set(session.get(), SSH_OPTIONS_USER, "monitor");
  ssh_options_set(session.get(), SSH_OPTIONS_KNOWNHOSTS, known_hosts.c_str());
  ssh_options_set(session.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  ssh_options_set(session.get(), SSH_OPTIONS_PROCESS_CONFIG, &no_config);
  ssh_options_set(session.get(), SSH_OPTIONS_TIMEOUT, &timeout);
  if (ssh_connect(session.get()) != SSH_OK) {
    error = std::string("connect: ") + ssh_get_error(session.get());
    return nullptr;
  }
  if (ssh_session_is_known_server(session.get()) != SSH_KNOWN_HOSTS_OK) {
    error = "host key not verified";
    return nullptr;
  }
  if (ssh_userauth_publickey(session.get(), nullptr, identity) != SSH_AUTH_SUCCESS) {
    error = "publickey auth failed";
    return nullptr;
  }
  return session;
}

// Runs `script` on stdin of /bin/sh -s over a new channel; empty on any failure.
inline std::string Exec(ssh_session session, std::string_view script) {
  ssh_channel channel = ssh_channel_new(session);
  std::string out;
  if (channel == nullptr) return out;
  if (ssh_channel_open_session(channel) == SSH_OK &&
      ssh_channel_request_exec(channel, "/bin/sh -s") == SSH_OK &&
      ssh_channel_write(channel, script.data(), static_cast<std::uint32_t>(script.size())) ==
          static_cast<int>(script.size()) &&
      ssh_channel_send_eof(channel) == SSH_OK) {
    char buf[65536];
    for (;;) {
      const int n = ssh_channel_read(channel, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ssh_channel_close(channel);
  ssh_channel_free(channel);
  return out;
}

}  // namespace fleetps::fleetsim::testing
