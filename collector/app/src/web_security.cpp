#include "fleetps/collector/app/web_security.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace fleetps::collector {
namespace {

namespace ssl = boost::asio::ssl;
using config::ClientAuthType;

// OpenSSL's reason for the last failure, and the error queue cleared.
std::string OpenSslReason() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : "error " + std::to_string(last);
}

int OpenSslVersion(config::TlsVersion version) {
  switch (version) {
    case config::TlsVersion::kTls10:
      return TLS1_VERSION;
    case config::TlsVersion::kTls11:
      return TLS1_1_VERSION;
    case config::TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case config::TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

// IANA → OpenSSL names of every suite this OpenSSL knows, whatever its default security level.
std::map<std::string, std::string> OpenSslCipherNames() {
  std::map<std::string, std::string> names;
  const std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> probe(SSL_CTX_new(TLS_server_method()),
                                                           &SSL_CTX_free);
  if (!probe || SSL_CTX_set_cipher_list(probe.get(), "ALL:COMPLEMENTOFALL:@SECLEVEL=0") != 1) {
    return names;
  }
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(probe.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    if (const char* standard = SSL_CIPHER_standard_name(cipher)) {
      names.emplace(standard, SSL_CIPHER_get_name(cipher));
    }
  }
  return names;
}

// Go's curve names as OpenSSL's group names.
std::string OpenSslGroup(const std::string& go_name) {
  if (go_name == "CurveP256") return "P-256";
  if (go_name == "CurveP384") return "P-384";
  if (go_name == "CurveP521") return "P-521";
  return go_name;  // X25519
}

// The SANs of `cert` as Go's x509 renders them: DNS names, IPs, e-mails and URIs.
std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    if (value == nullptr) continue;
    const auto* data = ASN1_STRING_get0_data(value);
    const auto size = static_cast<std::size_t>(ASN1_STRING_length(value));
    if (type == GEN_DNS || type == GEN_EMAIL || type == GEN_URI) {
      out.emplace_back(reinterpret_cast<const char*>(data), size);
    } else if (type == GEN_IPADD && size == 4) {
      std::array<unsigned char, 4> bytes{};
      std::memcpy(bytes.data(), data, 4);
      out.push_back(boost::asio::ip::address_v4(bytes).to_string());
    } else if (type == GEN_IPADD && size == 16) {
      std::array<unsigned char, 16> bytes{};
      std::memcpy(bytes.data(), data, 16);
      out.push_back(boost::asio::ip::address_v6(bytes).to_string());
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// Adds every certificate of a PEM file or text to the verification store and to the CA names
// sent in the certificate request. An error naming what failed, or "".
std::string AddClientCas(SSL_CTX* ctx, const config::TlsServerConfig& tls) {
  const bool from_file = !tls.client_ca_file.empty();
  const std::unique_ptr<BIO, int (*)(BIO*)> bio(
      from_file ? BIO_new_file(tls.client_ca_file.c_str(), "r")
                : BIO_new_mem_buf(tls.client_ca.data(), static_cast<int>(tls.client_ca.size())),
      &BIO_free);
  const std::string what = from_file ? "client_ca_file " + tls.client_ca_file : "client_ca";
  if (!bio) return "cannot read " + what + ": " + OpenSslReason();
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    const bool ok = X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert) == 1 &&
                    SSL_CTX_add_client_CA(ctx, cert) == 1;
    X509_free(cert);
    if (!ok) return "cannot use a certificate of " + what + ": " + OpenSslReason();
    ++added;
  }
  ERR_clear_error();  // the end of the PEM data reads as an error
  if (added == 0) return what + " holds no PEM certificate";
  return "";
}

// A verify callback's view of the settings: whether to trust OpenSSL's chain verdict, and the
// SANs the client certificate must carry.
bool VerifyClient(bool verify_chain, const std::vector<std::string>& allowed_sans, bool preverified,
                  ssl::verify_context& context) {
  X509_STORE_CTX* store = context.native_handle();
  if (verify_chain && !preverified) return false;
  if (X509_STORE_CTX_get_error_depth(store) != 0 || allowed_sans.empty()) return true;
  for (const std::string& san : SubjectAltNames(X509_STORE_CTX_get_current_cert(store))) {
    if (std::find(allowed_sans.begin(), allowed_sans.end(), san) != allowed_sans.end()) {
      return true;
    }
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return false;
}

}  // namespace

boost::system::result<std::shared_ptr<ssl::context>, std::vector<std::string>> MakeServerTlsContext(
    const config::TlsServerConfig& tls) {
  std::vector<std::string> problems;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code ec;
  if (!tls.cert_file.empty()) {
    if (context->use_certificate_chain_file(tls.cert_file, ec); ec) {
      problems.push_back("cannot use cert_file " + tls.cert_file + ": " + ec.message());
    }
  } else if (context->use_certificate_chain(boost::asio::buffer(tls.cert), ec); ec) {
    problems.push_back("cannot use cert: " + ec.message());
  }
  if (!tls.key_file.empty()) {
    if (context->use_private_key_file(tls.key_file, ssl::context::pem, ec); ec) {
      problems.push_back("cannot use key_file " + tls.key_file + ": " + ec.message());
    }
  } else if (context->use_private_key(boost::asio::buffer(tls.key), ssl::context::pem, ec); ec) {
    problems.push_back("cannot use key: " + ec.message());  // never the key's text
  }
  if (problems.empty() && SSL_CTX_check_private_key(native) != 1) {
    problems.push_back("the key does not match the certificate: " + OpenSslReason());
  }
  SSL_CTX_set_min_proto_version(native, OpenSslVersion(tls.min_version));
  SSL_CTX_set_max_proto_version(native, OpenSslVersion(tls.max_version));
  // cipher_suites applies to TLS 1.0-1.2 only (TLS 1.3 suites are not configurable in Go).
  std::vector<std::string> suites;
  const auto known = OpenSslCipherNames();
  for (const std::string& iana : tls.cipher_suites) {
    if (iana.starts_with("TLS_AES_") || iana.starts_with("TLS_CHACHA20_")) continue;
    const auto found = known.find(iana);
    if (found == known.end()) {
      problems.push_back("cipher suite " + iana + " is not available in this OpenSSL");
    } else {
      suites.push_back(found->second);
    }
  }
  if (!suites.empty()) {
    std::string list;
    for (const std::string& name : suites) list += (list.empty() ? "" : ":") + name;
    if (SSL_CTX_set_cipher_list(native, list.c_str()) != 1) {
      problems.push_back("cannot use cipher_suites: " + OpenSslReason());
    }
  }
  if (tls.prefer_server_cipher_suites) {
    SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    SSL_CTX_clear_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  if (!tls.curve_preferences.empty()) {
    std::string groups;
    for (const std::string& curve : tls.curve_preferences) {
      if (!groups.empty()) groups += ':';
      groups += OpenSslGroup(curve);
    }
    if (SSL_CTX_set1_groups_list(native, groups.c_str()) != 1) {
      problems.push_back("cannot use curve_preferences: " + OpenSslReason());
    }
  }
  if (!tls.client_ca_file.empty() || !tls.client_ca.empty()) {
    if (std::string problem = AddClientCas(native, tls); !problem.empty()) {
      problems.push_back(std::move(problem));
    }
  }
  const ClientAuthType auth = tls.client_auth_type;
  if (auth != ClientAuthType::kNoClientCert) {
    const bool required = auth == ClientAuthType::kRequireAnyClientCert ||
                          auth == ClientAuthType::kRequireAndVerifyClientCert;
    const bool verify_chain = auth == ClientAuthType::kVerifyClientCertIfGiven ||
                              auth == ClientAuthType::kRequireAndVerifyClientCert;
    context->set_verify_mode(ssl::verify_peer |
                             (required ? ssl::verify_fail_if_no_peer_cert : ssl::verify_none));
    context->set_verify_callback([verify_chain, sans = tls.client_allowed_sans](
                                     bool preverified, ssl::verify_context& store) {
      return VerifyClient(verify_chain, sans, preverified, store);
    });
    // Resumed sessions keep the client's verified identity; OpenSSL needs a context id for it.
    static constexpr std::string_view kSessionContext = "fleetps";
    SSL_CTX_set_session_id_context(native,
                                   reinterpret_cast<const unsigned char*>(kSessionContext.data()),
                                   static_cast<unsigned>(kSessionContext.size()));
  }
  if (!problems.empty()) return problems;
  return context;
}

boost::system::result<WebSecurity, std::vector<std::string>> LoadWebSecurity(
    const std::string& path, const std::shared_ptr<BcryptVerifier>& verifier) {
  WebSecurity security;
  if (path.empty()) {
    security.gate = std::make_shared<HttpGate>();
    return security;
  }
  const config::WebConfigResult loaded = config::LoadWebConfigFile(path);
  std::vector<std::string> problems;
  for (const config::Diagnostic& d : loaded.diagnostics) problems.push_back(d.ToString());
  if (!loaded.ok()) return problems;
  const config::WebConfig& web = *loaded.config;
  if (web.tls) {
    auto context = MakeServerTlsContext(*web.tls);
    if (!context) {
      for (const std::string& problem : context.error()) problems.push_back(path + ": " + problem);
      return problems;
    }
    security.tls = std::move(*context);
  }
  auto gate = std::make_shared<HttpGate>();
  if (!web.basic_auth_users.empty()) {
    gate->auth = std::make_shared<BasicAuthenticator>(web.basic_auth_users, verifier);
  }
  gate->headers = web.headers;
  security.gate = std::move(gate);
  return security;
}

}  // namespace fleetps::collector
