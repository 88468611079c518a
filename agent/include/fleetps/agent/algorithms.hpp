#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/config/inventory.hpp"

namespace fleetps::agent {

/// The five algorithm lists of `algorithms:` (DESIGN.md §6).
enum class AlgorithmKind { kKex, kHostkey, kCipher, kMac, kPubkey };

inline constexpr AlgorithmKind kAlgorithmKinds[] = {AlgorithmKind::kKex, AlgorithmKind::kHostkey,
                                                    AlgorithmKind::kCipher, AlgorithmKind::kMac,
                                                    AlgorithmKind::kPubkey};

/// `names` joined by `separator` ("a,b" for libssh's option lists, "a, b" for people).
[[nodiscard]] std::string JoinAlgorithms(const std::vector<std::string>& names,
                                         std::string_view separator);

/// The config key of `kind`: "kex", "hostkeys", "ciphers", "macs", "pubkeys".
[[nodiscard]] std::string_view AlgorithmKindKey(AlgorithmKind kind) noexcept;

/// Every algorithm name fleetps knows for `kind`, strongest first. A catalogue, not what the
/// linked libssh supports: `SupportedAlgorithms` filters it.
[[nodiscard]] std::span<const std::string_view> KnownAlgorithms(AlgorithmKind kind) noexcept;

/// Why `name` is weak as a `kind` algorithm ("SHA-1", "CBC mode", ...), or "" when it is not.
/// Weak: SHA-1 key exchanges and signatures, the 1024-bit group1, CBC and 64-bit-block ciphers,
/// MD5 and truncated MACs, DSA.
[[nodiscard]] std::string_view WeakReason(AlgorithmKind kind, std::string_view name) noexcept;

/// The names of `KnownAlgorithms(kind)` that the linked libssh accepts, strongest first: the
/// list `algorithms: legacy` enables. Computed once (asks libssh on a scratch session);
/// thread-safe.
[[nodiscard]] const std::vector<std::string>& SupportedAlgorithms(AlgorithmKind kind);

/// Whether the linked libssh accepts `name` as a `kind` algorithm.
[[nodiscard]] bool IsSupportedAlgorithm(AlgorithmKind kind, std::string_view name);

/// The linked libssh's version, e.g. "0.10.6".
[[nodiscard]] std::string_view LibsshVersion() noexcept;

/// The list libssh is given for `kind` on a connect to a host with `algorithms`: the explicit
/// list when one is set, every supported algorithm when `legacy` is set, otherwise empty
/// (libssh's defaults).
[[nodiscard]] std::vector<std::string> EffectiveAlgorithms(const config::Algorithms& algorithms,
                                                           AlgorithmKind kind);

/// A "no common algorithm" failure, parsed from libssh's error text
/// ("kex error : no match for method kex algos: server [a,b], client [c,d]").
struct NegotiationFailure {
  AlgorithmKind kind = AlgorithmKind::kKex;
  std::vector<std::string> server_offer;  ///< Pseudo-algorithms (ext-info, kex-strict) removed.
  std::vector<std::string> client_offer;
};

/// Parses libssh's negotiation error; nullopt for any other message. Only the server's list is
/// required; names that are not SSH algorithm names (RFC 4250: printable, at most 64
/// characters) are left out, and at most 128 are kept.
[[nodiscard]] std::optional<NegotiationFailure> ParseNegotiationError(std::string_view message);

/// The strongest name of the server's offer that the linked libssh supports, by fleetps'
/// ranking; nullopt when libssh supports none of them.
[[nodiscard]] std::optional<std::string> StrongestMatch(const NegotiationFailure& failure);

/// The human detail of a negotiation failure: what the server offered and the `algorithms`
/// setting that would match it, e.g. `no common kex: server offers [diffie-hellman-group1-sha1]
/// (weak: ...); set algorithms: {kex: [diffie-hellman-group1-sha1]} for this host, or
/// algorithms: legacy`. When libssh supports none of the offer, it says so instead.
[[nodiscard]] std::string NegotiationDetail(const NegotiationFailure& failure);

/// The algorithm lists a server offers in its SSH_MSG_KEXINIT (RFC 4253 §7.1).
struct ServerOffer {
  std::string banner;  ///< e.g. "SSH-2.0-OpenSSH_4.3"; set by the scanner, not the parser.
  std::vector<std::string> kex;
  std::vector<std::string> hostkeys;
  std::vector<std::string> ciphers;  ///< client to server
  std::vector<std::string> macs;     ///< client to server
};

/// What libssh offers for `kind` when fleetps sets no list: its built-in defaults (libssh 0.10's
/// kex.c; no public API exposes them), without certificate and security-key types. Only used
/// to explain a handshake that already failed.
[[nodiscard]] std::span<const std::string_view> LibsshDefaultAlgorithms(
    AlgorithmKind kind) noexcept;

/// The first of kex, host key, cipher and MAC (libssh's order) for which `offer` and what a
/// host with `algorithms` makes fleetps offer have no algorithm in common; nullopt when every
/// kind has one. The MAC is skipped when the cipher both would pick is an AEAD one (it carries
/// its own integrity). For a handshake whose libssh error does not say why it failed: under
/// load libssh 0.10 can see the server's disconnect before it parses the server's KEXINIT and
/// report only "Socket error: Success".
[[nodiscard]] std::optional<NegotiationFailure> NegotiationFailureFromOffer(
    const ServerOffer& offer, const config::Algorithms& algorithms);

/// Parses the payload of an SSH_MSG_KEXINIT packet (starting at the message number 20);
/// nullopt when it is not one or is truncated. Pseudo-algorithms are kept in `kex`.
[[nodiscard]] std::optional<ServerOffer> ParseKexInit(std::span<const std::uint8_t> payload);

/// One weak algorithm a host offers or uses.
struct WeakAlgorithm {
  AlgorithmKind kind;
  std::string name;
  std::string reason;
  bool operator==(const WeakAlgorithm&) const = default;
};

/// "kex:diffie-hellman-group1-sha1,ciphers:aes128-cbc": list key and name of each, in order;
/// "" for none.
[[nodiscard]] std::string FormatWeakAlgorithms(const std::vector<WeakAlgorithm>& weak);

/// The weak algorithms among `offer`'s lists (pseudo-algorithms skipped), in list order.
[[nodiscard]] std::vector<WeakAlgorithm> WeakInOffer(const ServerOffer& offer);

/// RSA modulus size in bits from an "ssh-rsa" public key blob in base64 (as in known_hosts);
/// nullopt for other key types or a malformed blob.
[[nodiscard]] std::optional<unsigned> RsaKeyBits(std::string_view base64_blob);

/// The software version in an SSH banner when it is OpenSSH or dropbear, as (major, minor):
/// "SSH-2.0-OpenSSH_4.3p2" -> (4,3), "SSH-2.0-dropbear_0.52" -> (0,52),
/// "SSH-2.0-dropbear_2022.83" -> (2022,83), "SSH-2.0-Sun_SSH_1.1.4" -> (1,1).
struct BannerVersion {
  std::string software;  ///< "OpenSSH", "dropbear", "Sun_SSH", or "" for anything else.
  unsigned major = 0;
  unsigned minor = 0;
};
[[nodiscard]] BannerVersion ParseBannerVersion(std::string_view banner);

/// Whether a server with this banner signs with `rsa-sha2-*` (OpenSSH >= 7.2, dropbear >=
/// 2020.79; never SunSSH); nullopt when the software is unknown.
[[nodiscard]] std::optional<bool> BannerKnowsRsaSha2(std::string_view banner);

}  // namespace fleetps::agent
