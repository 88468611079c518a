// The web config (collector.web_config_file) made into what the HTTP server uses: a TLS context
// and the gate with basic auth and headers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/result.hpp>

#include "fleetps/collector/http/basic_auth.hpp"
#include "fleetps/config/web_config.hpp"

namespace fleetps::collector {

/// A server TLS context with exporter-toolkit's meaning of every setting: the certificate chain
/// and key (files or inline PEM, the key checked against the certificate), min/max version,
/// cipher suites by IANA name (mapped to OpenSSL's through SSL_CIPHER_standard_name), curves,
/// server cipher preference, and client certificates per client_auth_type, a client certificate
/// without one of client_allowed_sans (DNS, IP, e-mail or URI, exact) failing the handshake.
/// Errors are one line each, naming the file or setting and OpenSSL's reason; never a key's text.
[[nodiscard]] boost::system::result<std::shared_ptr<boost::asio::ssl::context>,
                                    std::vector<std::string>>
MakeServerTlsContext(const config::TlsServerConfig& tls);

/// What one web config amounts to, swapped whole by a reload.
struct WebSecurity {
  std::shared_ptr<boost::asio::ssl::context> tls;  ///< Null: plain HTTP.
  std::shared_ptr<const HttpGate> gate;            ///< Never null (may check nothing).
};

/// Loads the web config at `path` (empty: plain HTTP, no auth) and builds its TLS context and
/// gate. On failure, the problems as `file:line:col: message` lines (or `file: message` for what
/// only building the context finds, e.g. an unreadable certificate).
[[nodiscard]] boost::system::result<WebSecurity, std::vector<std::string>> LoadWebSecurity(
    const std::string& path, const std::shared_ptr<BcryptVerifier>& verifier);

}  // namespace fleetps::collector
