#include "fleetps/agent/algorithms.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <libssh/libssh.h>

namespace fleetps::agent {
namespace {

using namespace std::string_view_literals;

// Strongest first. Names newer libssh releases add (post-quantum kex) are listed too, so a
// newer library enables them under `legacy` without a code change.
constexpr std::array kKex = {
    "mlkem768x25519-sha256"sv,
    "sntrup761x25519-sha512@openssh.com"sv,
    "curve25519-sha256"sv,
    "curve25519-sha256@libssh.org"sv,
    "ecdh-sha2-nistp256"sv,
    "ecdh-sha2-nistp384"sv,
    "ecdh-sha2-nistp521"sv,
    "diffie-hellman-group18-sha512"sv,
    "diffie-hellman-group16-sha512"sv,
    "diffie-hellman-group-exchange-sha256"sv,
    "diffie-hellman-group14-sha256"sv,
    "diffie-hellman-group14-sha1"sv,
    "diffie-hellman-group-exchange-sha1"sv,
    "diffie-hellman-group1-sha1"sv,
};
constexpr std::array kKeys = {
    "ssh-ed25519"sv,
    "ecdsa-sha2-nistp521"sv,
    "ecdsa-sha2-nistp384"sv,
    "ecdsa-sha2-nistp256"sv,
    "rsa-sha2-512"sv,
    "rsa-sha2-256"sv,
    "ssh-rsa"sv,
    "ssh-dss"sv,
};
constexpr std::array kCiphers = {
    "chacha20-poly1305@openssh.com"sv,
    "aes256-gcm@openssh.com"sv,
    "aes128-gcm@openssh.com"sv,
    "aes256-ctr"sv,
    "aes192-ctr"sv,
    "aes128-ctr"sv,
    "aes256-cbc"sv,
    "aes192-cbc"sv,
    "aes128-cbc"sv,
    "blowfish-cbc"sv,
    "3des-cbc"sv,
};
constexpr std::array kMacs = {
    "hmac-sha2-256-etm@openssh.com"sv,
    "hmac-sha2-512-etm@openssh.com"sv,
    "hmac-sha2-256"sv,
    "hmac-sha2-512"sv,
    "hmac-sha1-etm@openssh.com"sv,
    "hmac-sha1"sv,
    "hmac-sha1-96"sv,
    "hmac-md5"sv,
    "hmac-md5-96"sv,
};

constexpr std::size_t Index(AlgorithmKind kind) { return static_cast<std::size_t>(kind); }

bool IsPseudoAlgorithm(std::string_view name) {
  return name.starts_with("ext-info-") || name.starts_with("kex-strict-");
}

// An algorithm name as SSH spells them (RFC 4250 §4.6.1: printable ASCII, at most 64
// characters, no comma); anything else a server sends is not a name and is left out.
bool IsAlgorithmName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c > ' ' && c < 0x7f && c != ','; });
}

// Splits a name-list; at most 128 names are kept (a hostile server can offer more).
std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty() && out.size() < 128) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    if (IsAlgorithmName(item)) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

ssh_options_e OptionFor(AlgorithmKind kind) {
  switch (kind) {
    case AlgorithmKind::kKex:
      return SSH_OPTIONS_KEY_EXCHANGE;
    case AlgorithmKind::kHostkey:
      return SSH_OPTIONS_HOSTKEYS;
    case AlgorithmKind::kCipher:
      return SSH_OPTIONS_CIPHERS_C_S;
    case AlgorithmKind::kMac:
      return SSH_OPTIONS_HMAC_C_S;
    case AlgorithmKind::kPubkey:
      return SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES;
  }
  return SSH_OPTIONS_KEY_EXCHANGE;
}

// libssh keeps the names of a list it knows and fails only when it knows none, so a list of one
// name set on a scratch session tells whether that name is supported.
std::array<std::vector<std::string>, 5> ComputeSupported() {
  std::array<std::vector<std::string>, 5> supported;
  ssh_session scratch = ssh_new();
  if (scratch == nullptr) return supported;
  for (AlgorithmKind kind : kAlgorithmKinds) {
    for (std::string_view name : KnownAlgorithms(kind)) {
      const std::string one(name);
      if (ssh_options_set(scratch, OptionFor(kind), one.c_str()) == SSH_OK) {
        supported[Index(kind)].push_back(one);
      }
    }
  }
  ssh_free(scratch);
  return supported;
}

const std::array<std::vector<std::string>, 5>& Supported() {
  static const std::array<std::vector<std::string>, 5> supported = ComputeSupported();
  return supported;
}

std::string_view MethodKindWord(AlgorithmKind kind) {
  switch (kind) {
    case AlgorithmKind::kKex:
      return "key exchange";
    case AlgorithmKind::kHostkey:
      return "host key algorithm";
    case AlgorithmKind::kCipher:
      return "cipher";
    case AlgorithmKind::kMac:
      return "MAC";
    case AlgorithmKind::kPubkey:
      return "user-key signature algorithm";
  }
  return "algorithm";
}

// Reads a big-endian uint32 length-prefixed field.
struct Reader {
  std::span<const std::uint8_t> data;
  bool ok = true;
  std::uint32_t U32() {
    if (data.size() < 4) {
      ok = false;
      return 0;
    }
    const std::uint32_t v = (std::uint32_t{data[0]} << 24) | (std::uint32_t{data[1]} << 16) |
                            (std::uint32_t{data[2]} << 8) | std::uint32_t{data[3]};
    data = data.subspan(4);
    return v;
  }
  std::span<const std::uint8_t> Bytes(std::size_t n) {
    if (data.size() < n) {
      ok = false;
      return {};
    }
    auto out = data.first(n);
    data = data.subspan(n);
    return out;
  }
  std::string String() {
    const auto n = U32();
    const auto bytes = Bytes(n);
    return std::string(bytes.begin(), bytes.end());
  }
};

std::vector<std::uint8_t> Base64Decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<std::uint8_t> out;
  std::uint32_t bits = 0;
  int have = 0;
  for (char c : text) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) return {};
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    have += 6;
    if (have >= 8) {
      have -= 8;
      out.push_back(static_cast<std::uint8_t>((bits >> have) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::string JoinAlgorithms(const std::vector<std::string>& names, std::string_view separator) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += separator;
    out += name;
  }
  return out;
}

std::string_view AlgorithmKindKey(AlgorithmKind kind) noexcept {
  switch (kind) {
    case AlgorithmKind::kKex:
      return "kex";
    case AlgorithmKind::kHostkey:
      return "hostkeys";
    case AlgorithmKind::kCipher:
      return "ciphers";
    case AlgorithmKind::kMac:
      return "macs";
    case AlgorithmKind::kPubkey:
      return "pubkeys";
  }
  return "kex";
}

std::span<const std::string_view> KnownAlgorithms(AlgorithmKind kind) noexcept {
  switch (kind) {
    case AlgorithmKind::kKex:
      return kKex;
    case AlgorithmKind::kHostkey:
    case AlgorithmKind::kPubkey:
      return kKeys;
    case AlgorithmKind::kCipher:
      return kCiphers;
    case AlgorithmKind::kMac:
      return kMacs;
  }
  return {};
}

std::string_view WeakReason(AlgorithmKind kind, std::string_view name) noexcept {
  switch (kind) {
    case AlgorithmKind::kKex:
      if (name == "diffie-hellman-group1-sha1") return "1024-bit group (Logjam), SHA-1";
      if (name.ends_with("-sha1")) return "SHA-1";
      // What a session reports when libssh 0.10 does not say which group exchange ran.
      if (name == "diffie-hellman-group-exchange") return "possibly SHA-1 (libssh does not say)";
      return "";
    case AlgorithmKind::kHostkey:
    case AlgorithmKind::kPubkey:
      if (name == "ssh-rsa" || name == "ssh-rsa-cert-v01@openssh.com") return "SHA-1 signatures";
      if (name == "ssh-dss" || name == "ssh-dss-cert-v01@openssh.com") {
        return "DSA: 1024-bit key, SHA-1 signatures";
      }
      return "";
    case AlgorithmKind::kCipher:
      if (name == "3des-cbc") return "3DES: 64-bit blocks, CBC mode";
      if (name == "blowfish-cbc") return "Blowfish: 64-bit blocks, CBC mode";
      if (name == "cast128-cbc") return "CAST-128: 64-bit blocks, CBC mode";
      if (name.starts_with("3des") || name.starts_with("blowfish") || name.starts_with("cast128")) {
        return "64-bit blocks";
      }
      if (name.starts_with("arcfour")) return "RC4";
      if (name.ends_with("-cbc") || name.ends_with("-cbc@lysator.liu.se")) return "CBC mode";
      if (name == "none") return "no encryption";
      return "";
    case AlgorithmKind::kMac:
      if (name.starts_with("hmac-md5")) return "MD5";
      if (name.ends_with("-96") || name.find("-96-etm@") != std::string_view::npos) {
        return "truncated to 96 bits";
      }
      if (name == "none") return "no integrity";
      return "";
  }
  return "";
}

const std::vector<std::string>& SupportedAlgorithms(AlgorithmKind kind) {
  return Supported()[Index(kind)];
}

bool IsSupportedAlgorithm(AlgorithmKind kind, std::string_view name) {
  const auto& list = SupportedAlgorithms(kind);
  if (std::find(list.begin(), list.end(), name) != list.end()) return true;
  // Not in fleetps' catalogue (certificate or security-key types): ask libssh itself.
  if (!IsAlgorithmName(name)) return false;
  ssh_session scratch = ssh_new();
  if (scratch == nullptr) return false;
  const std::string one(name);
  const bool known = ssh_options_set(scratch, OptionFor(kind), one.c_str()) == SSH_OK;
  ssh_free(scratch);
  return known;
}

std::string_view LibsshVersion() noexcept {
  const char* v = ssh_version(0);
  std::string_view text = v != nullptr ? v : "";
  // "0.10.6/openssl/zlib" -> "0.10.6"
  return text.substr(0, text.find('/'));
}

std::vector<std::string> EffectiveAlgorithms(const config::Algorithms& algorithms,
                                             AlgorithmKind kind) {
  const std::vector<std::string>* list = nullptr;
  switch (kind) {
    case AlgorithmKind::kKex:
      list = &algorithms.kex;
      break;
    case AlgorithmKind::kHostkey:
      list = &algorithms.hostkeys;
      break;
    case AlgorithmKind::kCipher:
      list = &algorithms.ciphers;
      break;
    case AlgorithmKind::kMac:
      list = &algorithms.macs;
      break;
    case AlgorithmKind::kPubkey:
      list = &algorithms.pubkeys;
      break;
  }
  if (!list->empty()) return *list;
  if (algorithms.legacy) return SupportedAlgorithms(kind);
  return {};
}

std::optional<NegotiationFailure> ParseNegotiationError(std::string_view message) {
  constexpr std::string_view kPrefix = "no match for method ";
  const auto at = message.find(kPrefix);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = message.substr(at + kPrefix.size());
  const auto colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view method = rest.substr(0, colon);
  NegotiationFailure failure;
  if (method == "kex algos") {
    failure.kind = AlgorithmKind::kKex;
  } else if (method == "server host key algo") {
    failure.kind = AlgorithmKind::kHostkey;
  } else if (method.starts_with("encryption")) {
    failure.kind = AlgorithmKind::kCipher;
  } else if (method.starts_with("mac algo")) {
    failure.kind = AlgorithmKind::kMac;
  } else {
    return std::nullopt;  // compression or languages: nothing `algorithms` can change
  }
  auto bracketed = [&rest](std::string_view label) -> std::optional<std::string_view> {
    const auto start = rest.find(label);
    if (start == std::string_view::npos) return std::nullopt;
    const auto open = start + label.size();
    const auto close = rest.find(']', open);
    if (close == std::string_view::npos) return std::nullopt;
    return rest.substr(open, close - open);
  };
  const auto server = bracketed("server [");
  if (!server) return std::nullopt;
  const auto client = bracketed("client [");  // optional: only the server's offer is needed
  for (auto& name : SplitList(*server)) {
    if (!IsPseudoAlgorithm(name)) failure.server_offer.push_back(std::move(name));
  }
  for (auto& name : SplitList(client.value_or(""))) {
    if (!IsPseudoAlgorithm(name)) failure.client_offer.push_back(std::move(name));
  }
  return failure;
}

std::optional<std::string> StrongestMatch(const NegotiationFailure& failure) {
  for (const auto& name : SupportedAlgorithms(failure.kind)) {
    if (std::find(failure.server_offer.begin(), failure.server_offer.end(), name) !=
        failure.server_offer.end()) {
      return name;
    }
  }
  return std::nullopt;
}

std::string NegotiationDetail(const NegotiationFailure& failure) {
  const std::string key(AlgorithmKindKey(failure.kind));
  std::string detail = "no common " + std::string(MethodKindWord(failure.kind)) +
                       ": the server offers [" + JoinAlgorithms(failure.server_offer, ", ") + "]";
  const std::optional<std::string> pick = StrongestMatch(failure);
  if (!pick) {
    return detail + "; libssh " + std::string(LibsshVersion()) +
           " supports none of them, so no setting can match this server";
  }
  detail += "; set algorithms: {" + key + ": [" + *pick + "]} for this host, or algorithms: legacy";
  if (const auto weak = WeakReason(failure.kind, *pick); !weak.empty()) {
    detail += " (" + *pick + " is weak: " + std::string(weak) + ")";
  }
  return detail;
}

std::span<const std::string_view> LibsshDefaultAlgorithms(AlgorithmKind kind) noexcept {
  static constexpr std::string_view kKex[] = {"curve25519-sha256",
                                              "curve25519-sha256@libssh.org",
                                              "ecdh-sha2-nistp256",
                                              "ecdh-sha2-nistp384",
                                              "ecdh-sha2-nistp521",
                                              "diffie-hellman-group18-sha512",
                                              "diffie-hellman-group16-sha512",
                                              "diffie-hellman-group-exchange-sha256",
                                              "diffie-hellman-group14-sha256"};
  static constexpr std::string_view kHostkeys[] = {"ssh-ed25519",         "ecdsa-sha2-nistp521",
                                                   "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256",
                                                   "rsa-sha2-512",        "rsa-sha2-256"};
  static constexpr std::string_view kCiphers[] = {"chacha20-poly1305@openssh.com",
                                                  "aes256-gcm@openssh.com",
                                                  "aes128-gcm@openssh.com",
                                                  "aes256-ctr",
                                                  "aes192-ctr",
                                                  "aes128-ctr"};
  static constexpr std::string_view kMacs[] = {"hmac-sha2-256-etm@openssh.com",
                                               "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256",
                                               "hmac-sha2-512"};
  switch (kind) {
    case AlgorithmKind::kKex:
      return kKex;
    case AlgorithmKind::kHostkey:
      return kHostkeys;
    case AlgorithmKind::kCipher:
      return kCiphers;
    case AlgorithmKind::kMac:
      return kMacs;
    case AlgorithmKind::kPubkey:  // libssh's default user-key list is its host key list
      return kHostkeys;           // plus certificate types, which fleetps leaves out here
  }
  return {};
}

std::optional<NegotiationFailure> NegotiationFailureFromOffer(
    const ServerOffer& offer, const config::Algorithms& algorithms) {
  // The client's list for `kind`, and the server's first name in it (RFC 4253 §7.1: the
  // client's order decides; the first client name the server also offers wins).
  auto pick = [&algorithms](AlgorithmKind kind, const std::vector<std::string>& server,
                            NegotiationFailure& failure) -> std::optional<std::string> {
    std::vector<std::string> client = EffectiveAlgorithms(algorithms, kind);
    if (client.empty()) {
      for (std::string_view name : LibsshDefaultAlgorithms(kind)) client.emplace_back(name);
    }
    failure.kind = kind;
    failure.server_offer.clear();
    for (const auto& name : server) {
      if (!IsPseudoAlgorithm(name)) failure.server_offer.push_back(name);
    }
    failure.client_offer = client;
    for (const auto& name : client) {
      if (std::find(server.begin(), server.end(), name) != server.end()) return name;
    }
    return std::nullopt;
  };
  NegotiationFailure failure;
  if (!pick(AlgorithmKind::kKex, offer.kex, failure)) return failure;
  if (!pick(AlgorithmKind::kHostkey, offer.hostkeys, failure)) return failure;
  const auto cipher = pick(AlgorithmKind::kCipher, offer.ciphers, failure);
  if (!cipher) return failure;
  const bool aead =
      cipher->starts_with("chacha20-poly1305") || cipher->ends_with("-gcm@openssh.com");
  if (!aead && !pick(AlgorithmKind::kMac, offer.macs, failure)) return failure;
  return std::nullopt;
}

std::optional<ServerOffer> ParseKexInit(std::span<const std::uint8_t> payload) {
  constexpr std::uint8_t kMsgKexInit = 20;
  if (payload.empty() || payload[0] != kMsgKexInit) return std::nullopt;
  Reader reader{payload.subspan(1)};
  reader.Bytes(16);  // cookie
  ServerOffer offer;
  offer.kex = SplitList(reader.String());
  offer.hostkeys = SplitList(reader.String());
  offer.ciphers = SplitList(reader.String());
  (void)reader.String();  // ciphers server to client
  offer.macs = SplitList(reader.String());
  for (int rest = 0; rest < 5; ++rest) (void)reader.String();  // macs s2c, compression, languages
  (void)reader.Bytes(1);                                       // first_kex_packet_follows
  (void)reader.U32();                                          // reserved
  if (!reader.ok) return std::nullopt;
  return offer;
}

std::string FormatWeakAlgorithms(const std::vector<WeakAlgorithm>& weak) {
  std::string out;
  for (const auto& w : weak) {
    if (!out.empty()) out += ',';
    out.append(AlgorithmKindKey(w.kind)).append(":").append(w.name);
  }
  return out;
}

std::vector<WeakAlgorithm> WeakInOffer(const ServerOffer& offer) {
  std::vector<WeakAlgorithm> weak;
  auto scan = [&weak](AlgorithmKind kind, const std::vector<std::string>& list) {
    for (const auto& name : list) {
      if (IsPseudoAlgorithm(name)) continue;
      if (const auto reason = WeakReason(kind, name); !reason.empty()) {
        weak.push_back({kind, name, std::string(reason)});
      }
    }
  };
  scan(AlgorithmKind::kKex, offer.kex);
  scan(AlgorithmKind::kHostkey, offer.hostkeys);
  scan(AlgorithmKind::kCipher, offer.ciphers);
  scan(AlgorithmKind::kMac, offer.macs);
  return weak;
}

std::optional<unsigned> RsaKeyBits(std::string_view base64_blob) {
  const std::vector<std::uint8_t> blob = Base64Decode(base64_blob);
  Reader reader{blob};
  if (reader.String() != "ssh-rsa") return std::nullopt;
  (void)reader.String();  // e
  const std::string n = reader.String();
  if (!reader.ok || n.empty()) return std::nullopt;
  std::size_t i = 0;
  while (i < n.size() && n[i] == 0) ++i;  // mpint sign byte
  if (i == n.size()) return std::nullopt;
  unsigned bits = static_cast<unsigned>(n.size() - i - 1) * 8;
  for (auto top = static_cast<unsigned char>(n[i]); top != 0; top >>= 1) ++bits;
  return bits;
}

BannerVersion ParseBannerVersion(std::string_view banner) {
  BannerVersion v;
  // "SSH-2.0-OpenSSH_4.3p2 Debian" / "SSH-2.0-dropbear_0.52" / "SSH-1.99-OpenSSH_3.9p1"
  if (!banner.starts_with("SSH-")) return v;
  const auto dash = banner.find('-', 4);
  if (dash == std::string_view::npos) return v;
  std::string_view software = banner.substr(dash + 1);
  std::string_view number;
  if (software.starts_with("Sun_SSH_")) {
    v.software = "Sun_SSH";  // Solaris 10's fork of OpenSSH 3.x: no rsa-sha2
    number = software.substr(8);
  } else if (software.starts_with("OpenSSH_")) {
    v.software = "OpenSSH";
    number = software.substr(8);
  } else if (software.starts_with("dropbear_")) {
    v.software = "dropbear";
    number = software.substr(9);
  } else {
    return v;
  }
  const char* end = number.data() + number.size();
  auto [p, ec] = std::from_chars(number.data(), end, v.major);
  if (ec != std::errc() || p == end || *p != '.') return BannerVersion{};
  auto [q, ec2] = std::from_chars(p + 1, end, v.minor);
  if (ec2 != std::errc()) return BannerVersion{};
  (void)q;
  return v;
}

std::optional<bool> BannerKnowsRsaSha2(std::string_view banner) {
  const BannerVersion v = ParseBannerVersion(banner);
  if (v.software == "OpenSSH") return v.major > 7 || (v.major == 7 && v.minor >= 2);
  if (v.software == "dropbear") return v.major > 2020 || (v.major == 2020 && v.minor >= 79);
  if (v.software == "Sun_SSH") return false;
  return std::nullopt;
}

}  // namespace fleetps::agent
