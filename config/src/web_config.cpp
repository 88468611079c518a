// The web config loader (collector.web_config_file): exporter-toolkit's format read with the
// inventory loader's plumbing, so its diagnostics have the same form and positions.
#include "fleetps/config/web_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>

#include "checks.hpp"
#include "loader.hpp"

namespace fleetps::config {
namespace detail {
namespace {

const KeyList kWebTopKeys{"tls_server_config", "http_server_config", "basic_auth_users",
                          "rate_limit"};
const KeyList kTlsKeys{"cert",
                       "key",
                       "client_ca",
                       "cert_file",
                       "key_file",
                       "client_ca_file",
                       "client_auth_type",
                       "client_allowed_sans",
                       "min_version",
                       "max_version",
                       "cipher_suites",
                       "prefer_server_cipher_suites",
                       "curve_preferences"};
const KeyList kHttpServerKeys{"http2", "headers"};
const KeyList kHeaderNames{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                           "X-XSS-Protection", "Strict-Transport-Security"};
const KeyList kClientAuthNames{"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                               "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"};
const KeyList kTlsVersionNames{"TLS10", "TLS11", "TLS12", "TLS13"};
// Go's tls.CipherSuites(): the suites exporter-toolkit accepts (TLS 1.3 ones have no effect).
const KeyList kCipherSuiteNames{"TLS_RSA_WITH_AES_128_CBC_SHA",
                                "TLS_RSA_WITH_AES_256_CBC_SHA",
                                "TLS_RSA_WITH_AES_128_GCM_SHA256",
                                "TLS_RSA_WITH_AES_256_GCM_SHA384",
                                "TLS_AES_128_GCM_SHA256",
                                "TLS_AES_256_GCM_SHA384",
                                "TLS_CHACHA20_POLY1305_SHA256",
                                "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
                                "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
                                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                                "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"};
const KeyList kCurveNames{"CurveP256", "CurveP384", "CurveP521", "X25519"};

template <class E>
E FromName(const KeyList& names, const std::string& name) {
  return static_cast<E>(std::find(names.begin(), names.end(), name) - names.begin());
}

// Header values end up in every response: no control characters (CR/LF would split it).
std::optional<std::string> CheckHeaderValue(std::string_view value) {
  for (const char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "a header value must not contain control characters";
    }
  }
  return std::nullopt;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// One load of one web config text.
class WebConfigLoader : public YamlReader {
 public:
  using YamlReader::YamlReader;

  WebConfigResult Run() {
    WebConfigResult result;
    result.diagnostics = ReadDocument(
        "the file is empty; expected a mapping with tls_server_config or basic_auth_users",
        [this](const YAML::Node& root) { LoadRoot(root); });
    if (std::none_of(result.diagnostics.begin(), result.diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; })) {
      result.config = std::move(config_);
    }
    return result;
  }

 private:
  bool Mapping(const YAML::Node& value, Pos pos) {
    if (value.IsMap()) return true;
    if (!value.IsNull()) Report(pos, "expected a mapping, got " + Describe(value));
    return false;
  }

  void LoadRoot(const YAML::Node& root) {
    if (!root.IsMap()) {
      Report(PosOf(root),
             "expected a mapping with tls_server_config, http_server_config or "
             "basic_auth_users, got " +
                 Describe(root));
      return;
    }
    ForEachKey(root, "in the web config", &kWebTopKeys,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
                 const Pos pos = ValuePos(key_node, value);
                 if (key == "tls_server_config") {
                   if (Mapping(value, pos)) ParseTls(value, pos);
                 } else if (key == "http_server_config") {
                   if (Mapping(value, pos)) ParseHttpServer(value);
                 } else if (key == "basic_auth_users") {
                   if (Mapping(value, pos)) ParseUsers(value);
                 } else if (key == "rate_limit") {
                   // exporter-toolkit's token bucket: refused, not ignored, so nobody relies on it.
                   Report(PosOf(key_node),
                          "rate_limit is not supported by fleetps; remove it (the collector "
                          "limits connections and fresh queries itself)");
                 }
               });
  }

  void ParseTls(const YAML::Node& map, Pos map_pos) {
    TlsServerConfig tls;
    std::map<std::string, Pos> given;  // key → value position, for the cross-checks
    bool ok = true;
    const auto keep = [&ok](auto parsed, auto& field) {
      if (parsed) {
        field = std::move(*parsed);
      } else {
        ok = false;
      }
    };
    const auto name_list = [&](const YAML::Node& v, Pos p, std::string_view what,
                               const KeyList& names, std::vector<std::string>& field) {
      keep(List(v, p, what, true,
                [&](const std::string& name, const YAML::Node& element) {
                  if (std::find(names.begin(), names.end(), name) != names.end()) return true;
                  std::string message = "unknown " + std::string(what) + " " + Quote(name);
                  if (const std::string close = ClosestKey(name, names); !close.empty()) {
                    message += "; did you mean " + Quote(close) + "?";
                  }
                  Report(PosOf(element), std::move(message));
                  return false;
                }),
           field);
    };
    ForEachKey(map, "in tls_server_config", &kTlsKeys,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
                 const Pos p = ValuePos(key_node, v);
                 given[key] = p;
                 if (key == "cert_file") {
                   keep(Path(v, p), tls.cert_file);
                 } else if (key == "key_file") {
                   keep(Path(v, p), tls.key_file);
                 } else if (key == "client_ca_file") {
                   keep(Path(v, p), tls.client_ca_file);
                 } else if (key == "cert") {
                   keep(String(v, p, "a PEM certificate"), tls.cert);
                 } else if (key == "key") {
                   keep(String(v, p, "a PEM private key"), tls.key);
                 } else if (key == "client_ca") {
                   keep(String(v, p, "a PEM certificate"), tls.client_ca);
                 } else if (key == "client_auth_type") {
                   if (auto name = Enum(v, p, kClientAuthNames)) {
                     tls.client_auth_type = FromName<ClientAuthType>(kClientAuthNames, *name);
                   } else {
                     ok = false;
                   }
                 } else if (key == "client_allowed_sans") {
                   keep(List(v, p, "names", true,
                             [](const std::string&, const YAML::Node&) { return true; }),
                        tls.client_allowed_sans);
                 } else if (key == "min_version" || key == "max_version") {
                   if (auto name = Enum(v, p, kTlsVersionNames)) {
                     (key == "min_version" ? tls.min_version : tls.max_version) =
                         FromName<TlsVersion>(kTlsVersionNames, *name);
                   } else {
                     ok = false;
                   }
                 } else if (key == "cipher_suites") {
                   name_list(v, p, "cipher suite", kCipherSuiteNames, tls.cipher_suites);
                 } else if (key == "curve_preferences") {
                   name_list(v, p, "curve", kCurveNames, tls.curve_preferences);
                 } else if (key == "prefer_server_cipher_suites") {
                   keep(Bool(v, p), tls.prefer_server_cipher_suites);
                 }
               });
    const auto has = [&given](const char* key) { return given.contains(key); };
    // One source per item: a file or inline PEM.
    for (const auto& [inline_key, file_key] :
         {std::pair{"cert", "cert_file"}, {"key", "key_file"}, {"client_ca", "client_ca_file"}}) {
      if (has(inline_key) && has(file_key)) {
        Report(given[inline_key],
               std::string("at most one of ") + inline_key + " and " + file_key + " may be given");
        ok = false;
      }
    }
    const bool has_cert = has("cert") || has("cert_file");
    const bool has_key = has("key") || has("key_file");
    if (!has_cert && !has_key) {
      // Empty: plain HTTP, as exporter-toolkit. Anything else without a certificate would look
      // like TLS in the file and be plain HTTP on the wire, so it is refused.
      if (!given.empty()) {
        Report(map_pos,
               "tls_server_config without cert_file and key_file would serve plain "
               "HTTP; add them or remove tls_server_config");
      }
      return;
    }
    if (has_cert != has_key) {
      Report(
          given[has_cert ? (has("cert") ? "cert" : "cert_file")
                         : (has("key") ? "key" : "key_file")],
          has_cert ? "cert_file is given without key_file" : "key_file is given without cert_file");
      ok = false;
    }
    const bool has_ca = has("client_ca") || has("client_ca_file");
    const auto auth = tls.client_auth_type;
    const std::string auth_name(ClientAuthTypeName(auth));
    if (has_ca && auth == ClientAuthType::kNoClientCert) {
      Report(given[has("client_ca") ? "client_ca" : "client_ca_file"],
             "a client CA is given but client_auth_type is NoClientCert; set client_auth_type "
             "to RequireAndVerifyClientCert");
      ok = false;
    }
    if (!has_ca && (auth == ClientAuthType::kVerifyClientCertIfGiven ||
                    auth == ClientAuthType::kRequireAndVerifyClientCert)) {
      Report(given["client_auth_type"],
             "client_auth_type " + auth_name + " needs client_ca_file to verify certificates with");
      ok = false;
    }
    if (!tls.client_allowed_sans.empty() && auth != ClientAuthType::kRequireAnyClientCert &&
        auth != ClientAuthType::kRequireAndVerifyClientCert) {
      Report(given["client_allowed_sans"],
             "client_allowed_sans needs client_auth_type RequireAnyClientCert or "
             "RequireAndVerifyClientCert (with " +
                 auth_name + " a client may connect without a certificate)");
      ok = false;
    }
    if (has("min_version") && has("max_version") && tls.min_version > tls.max_version) {
      Report(given["max_version"], "max_version " + std::string(TlsVersionName(tls.max_version)) +
                                       " is below min_version " +
                                       std::string(TlsVersionName(tls.min_version)));
      ok = false;
    }
    if (ok) config_.tls = std::move(tls);
  }

  void ParseHttpServer(const YAML::Node& map) {
    ForEachKey(map, "in http_server_config", &kHttpServerKeys,
               [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
                 const Pos p = ValuePos(key_node, v);
                 if (key == "http2") {
                   (void)Bool(v,
                              p);  // accepted; fleetps serves HTTP/1.1, which clients fall back to
                 } else if (key == "headers" && Mapping(v, p)) {
                   ParseHeaders(v);
                 }
               });
  }

  void ParseHeaders(const YAML::Node& map) {
    ForEachKey(map, "in headers", &kHeaderNames,
               [&](const std::string& name, const YAML::Node& key_node, const YAML::Node& v) {
                 const Pos p = ValuePos(key_node, v);
                 auto value = Checked(v, p, "a header value", CheckHeaderValue);
                 if (!value) return;
                 if (name == "X-Frame-Options" && !value->empty() && Lower(*value) != "deny" &&
                     Lower(*value) != "sameorigin") {
                   Report(p, "X-Frame-Options must be deny or sameorigin, got " + Quote(*value));
                 } else if (name == "X-Content-Type-Options" && !value->empty() &&
                            Lower(*value) != "nosniff") {
                   Report(p, "X-Content-Type-Options must be nosniff, got " + Quote(*value));
                 } else if (!value->empty()) {  // blank means unset
                   config_.headers.emplace_back(name, *value);
                 }
               });
  }

  void ParseUsers(const YAML::Node& map) {
    ForEachKey(
        map, "in basic_auth_users", nullptr,
        [&](const std::string& user, const YAML::Node& key_node, const YAML::Node& v) {
          if (user.empty() || user.find(':') != std::string::npos || CheckHeaderValue(user)) {
            Report(PosOf(key_node), "user name " + Quote(user) +
                                        " cannot be sent in basic auth (empty, a colon or "
                                        "a control character)");
            return;
          }
          // The value is never quoted back: it may be a password written by mistake.
          if (!v.IsScalar() || !IsBcryptHash(v.Scalar())) {
            Report(ValuePos(key_node, v),
                   "the password of " + Quote(user) +
                       " is not a bcrypt hash ($2y$10$ and 53 more characters); make one "
                       "with: htpasswd -nBC 10 \"\" | tr -d ':\\n'");
            return;
          }
          config_.basic_auth_users[user] = v.Scalar();
        });
  }

  WebConfig config_;
};

}  // namespace
}  // namespace detail

WebConfigResult LoadWebConfigFromString(std::string_view yaml, std::string file_name) {
  return detail::WebConfigLoader(yaml, std::move(file_name), {}).Run();
}

WebConfigResult LoadWebConfigFile(const std::string& path) {
  detail::ConfigText read = detail::ReadConfigText(path);
  if (read.error) {
    WebConfigResult result;
    result.diagnostics.push_back(std::move(*read.error));
    return result;
  }
  return detail::WebConfigLoader(read.text, path, detail::DirectoryOf(path)).Run();
}

bool IsBcryptHash(std::string_view hash) {
  constexpr std::string_view kAlphabet =
      "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$') {
    return false;
  }
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return false;
  if (!std::isdigit(static_cast<unsigned char>(hash[4])) ||
      !std::isdigit(static_cast<unsigned char>(hash[5]))) {
    return false;
  }
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return hash.substr(7).find_first_not_of(kAlphabet) == std::string_view::npos;
}

std::string_view ClientAuthTypeName(ClientAuthType type) {
  return detail::kClientAuthNames.at(static_cast<std::size_t>(type));
}

std::string_view TlsVersionName(TlsVersion version) {
  return detail::kTlsVersionNames.at(static_cast<std::size_t>(version));
}

}  // namespace fleetps::config
