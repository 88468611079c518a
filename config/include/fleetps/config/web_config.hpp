// The web config file named by `collector.web_config_file`: TLS and basic auth for the HTTP port,
// in the format and with the meaning of Prometheus exporter-toolkit's `--web.config.file`
// (node_exporter's). config/README.md lists what fleetps honours and what it refuses.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleetps/config/diagnostic.hpp"

namespace fleetps::config {

/// `client_auth_type`: Go's tls.ClientAuthType, under the same names.
enum class ClientAuthType {
  kNoClientCert,               ///< No client certificate asked for (the default).
  kRequestClientCert,          ///< Asked for, not required, not verified.
  kRequireAnyClientCert,       ///< Required, not verified against client_ca_file.
  kVerifyClientCertIfGiven,    ///< Not required; verified when sent.
  kRequireAndVerifyClientCert  ///< Required and verified: the only one that authenticates.
};

/// `min_version` / `max_version`.
enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

/// `tls_server_config`, validated: a certificate and its key are present (as a file or inline
/// PEM); the verifying client auth types have a CA.
struct TlsServerConfig {
  std::string cert_file;       ///< Absolute or relative to the web config's directory.
  std::string key_file;        ///< As cert_file.
  std::string client_ca_file;  ///< As cert_file; empty when none.
  std::string cert;            ///< Inline PEM instead of cert_file.
  std::string key;             ///< Inline PEM instead of key_file. A secret: never logged.
  std::string client_ca;       ///< Inline PEM instead of client_ca_file.
  ClientAuthType client_auth_type = ClientAuthType::kNoClientCert;
  /// A client certificate must carry one of these as a DNS, IP, e-mail or URI SAN (exact
  /// match); empty = any.
  std::vector<std::string> client_allowed_sans;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  /// IANA names of TLS 1.0-1.2 suites, server preference order; empty = the TLS library's
  /// defaults. TLS 1.3 names are accepted and have no effect (as in Go).
  std::vector<std::string> cipher_suites;
  /// Go curve names (CurveP256, CurveP384, CurveP521, X25519), preference order; empty =
  /// defaults.
  std::vector<std::string> curve_preferences;
  bool prefer_server_cipher_suites = true;
  bool operator==(const TlsServerConfig&) const = default;
};

/// A whole, validated web config.
struct WebConfig {
  /// Set when `tls_server_config` names a certificate; unset means plain HTTP, as in
  /// exporter-toolkit (an empty `tls_server_config` serves plain HTTP).
  std::optional<TlsServerConfig> tls;
  /// `http_server_config.headers`: added to every response, in file order.
  std::vector<std::pair<std::string, std::string>> headers;
  /// `basic_auth_users`: user name → bcrypt hash ($2a$, $2b$ or $2y$). Empty = no basic auth.
  /// The hashes are secrets: never logged.
  std::map<std::string, std::string> basic_auth_users;
  bool operator==(const WebConfig&) const = default;
};

/// The outcome of loading a web config: the config when valid, and every diagnostic, sorted by
/// position (as LoadResult).
struct WebConfigResult {
  std::optional<WebConfig> config;
  std::vector<Diagnostic> diagnostics;
  [[nodiscard]] bool ok() const { return config.has_value(); }
};

/// Reads and validates the web config at `path`. Every problem is reported at once as
/// `path:line:col: message`; unknown keys are rejected; relative file names are resolved against
/// the directory holding `path`. Checks the form only: whether the certificate files exist and
/// match is for the TLS layer when it builds its context. Never echoes a hash or a key.
[[nodiscard]] WebConfigResult LoadWebConfigFile(const std::string& path);

/// Same, from text; `file_name` only labels the diagnostics and relative paths stay as written.
[[nodiscard]] WebConfigResult LoadWebConfigFromString(std::string_view yaml, std::string file_name);

/// True for a well-formed bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost 04..31, `$`,
/// then 53 characters of bcrypt's base64 alphabet.
[[nodiscard]] bool IsBcryptHash(std::string_view hash);

/// The exporter-toolkit name of a client auth type / TLS version ("RequireAndVerifyClientCert",
/// "TLS12").
[[nodiscard]] std::string_view ClientAuthTypeName(ClientAuthType type);
[[nodiscard]] std::string_view TlsVersionName(TlsVersion version);

}  // namespace fleetps::config
