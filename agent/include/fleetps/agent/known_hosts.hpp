#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "fleetps/config/inventory.hpp"

namespace fleetps::agent {

/// A server host key as it appears in a known_hosts line: key type name and base64 blob.
struct HostKey {
  std::string type;    ///< e.g. "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa".
  std::string base64;  ///< The public key blob, base64 as OpenSSH writes it.
  bool operator==(const HostKey&) const = default;
};

/// "SHA256:<unpadded base64>", exactly as `ssh-keygen -lf` prints it. Errors: `Errc::kInternal`
/// when the blob is not a valid public key.
[[nodiscard]] boost::system::result<std::string> Sha256Fingerprint(const HostKey& key);

/// What known_hosts says about a (host, port, key).
enum class KnownHostsMatch {
  kKnown,     ///< A line for this host holds exactly this key.
  kUnknown,   ///< No line names this host.
  kMismatch,  ///< Lines name this host but none holds this key, or the key is `@revoked`.
};

/// The collector's own known_hosts file, in OpenSSH format: one `pattern[,pattern] type base64`
/// line per key, where the pattern is `host` for port 22 and `[host]:port` otherwise. Lines with
/// `@revoked` refuse the key they name; `@cert-authority` lines and hashed (`|1|`) names are
/// ignored, so a host only present in those forms counts as unknown. Simple `*`/`?` globs and
/// `!negations` in patterns are honoured.
///
/// Reads are served from an in-memory copy that is reloaded when the file's size, mtime or inode
/// changes (one `stat` per check), so a reconnect storm does not re-parse a large file per host;
/// lines that name hosts literally are found through a hash index, the others are matched in turn.
/// Writes are atomic: the file is rewritten to a temporary in the same directory, flushed and
/// renamed over the original, under an advisory lock on `<path>.lock` so concurrent writers
/// (collector and `fleetps keyscan`) never lose a line.
///
/// Thread safety: all members may be called concurrently. Blocking file I/O happens inline; the
/// file is small and local.
class KnownHostsFile {
 public:
  explicit KnownHostsFile(std::string path);

  [[nodiscard]] const std::string& Path() const noexcept { return path_; }

  /// Checks `key` for `host`:`port`. A missing file is an empty file. Errors: `Errc::kInternal`
  /// when the file exists but cannot be read.
  [[nodiscard]] boost::system::result<KnownHostsMatch> Check(std::string_view host,
                                                             std::uint16_t port,
                                                             const HostKey& key) const;

  /// The key types (e.g. "ssh-ed25519") of the keys recorded for `host`:`port`, in file order
  /// and without duplicates: exactly the types `Check` can answer `kKnown` for (`@revoked` and
  /// `@cert-authority` lines do not count). Empty when the host is unknown or the file is missing.
  /// Errors: `Errc::kInternal` when the file exists but cannot be read.
  [[nodiscard]] boost::system::result<std::vector<std::string>> KeyTypes(std::string_view host,
                                                                         std::uint16_t port) const;

  /// Outcome of `Record`.
  enum class RecordOutcome {
    kAdded,         ///< The key was appended.
    kAlreadyKnown,  ///< An identical line was already there; the file is untouched.
    kRefused,       ///< The host has a different key: the file is left byte-for-byte unchanged.
  };

  /// Records `key` for `host`:`port` unless the host already has a key (accept-new semantics:
  /// a changed key never overwrites the stored one). Creates the file (mode 0600) if missing.
  /// Errors, the original file then unchanged: `Errc::kKnownHostsWrite` when the lock file, the
  /// temporary copy or the rename cannot be written (read-only or full file system,
  /// permissions), `Errc::kFdLimit` when no descriptor was free, `Errc::kInternal` for a key
  /// that cannot be written as one line or a file that cannot be read. On a failure with a
  /// system error, `why` (when given) names the file and the error, e.g.
  /// "cannot write /var/lib/fleetps/known_hosts.tmp.12.0: No space left on device".
  [[nodiscard]] boost::system::result<RecordOutcome> Record(std::string_view host,
                                                            std::uint16_t port, const HostKey& key,
                                                            std::string* why = nullptr);

  /// The known_hosts pattern for a host: "host" for port 22, else "[host]:port".
  [[nodiscard]] static std::string HostPattern(std::string_view host, std::uint16_t port);

 private:
  struct Entry;
  struct Snapshot;
  [[nodiscard]] boost::system::result<std::shared_ptr<const Snapshot>> Load() const;

  std::string path_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const Snapshot> cache_;  // guarded by mu_
};

/// The host-key algorithms to offer in the key exchange to a host whose known_hosts lines hold
/// keys of `recorded_types` (see `KnownHostsFile::KeyTypes`): the algorithms of `allowed` that
/// sign with a recorded type come first, then the rest of `allowed`, each part in `allowed`'s
/// order ("ssh-rsa" keys sign as rsa-sha2-512, rsa-sha2-256 and ssh-rsa). Without this, a server
/// that has several host keys would negotiate the client's first preference and fail the check
/// against the key type actually recorded. Nothing is removed, so a server whose recorded key
/// changed type still completes the key exchange and is refused as a mismatch.
///
/// `allowed` empty means libssh 0.10's default list. Returns an empty list when no recorded type
/// is allowed (or none is recorded): then offer `allowed` unchanged.
[[nodiscard]] std::vector<std::string> PreferRecordedHostKeyTypes(
    const std::vector<std::string>& recorded_types, const std::vector<std::string>& allowed);

/// What `KeyScan` learns about a server without authenticating.
struct ScannedKey {
  HostKey key;
  std::string fingerprint;    ///< SHA256:...
  std::string server_banner;  ///< e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7".
  std::string kex;            ///< Negotiated key exchange, e.g. "curve25519-sha256".
  std::string cipher;         ///< Negotiated client-to-server cipher.
  std::string mac;            ///< Negotiated client-to-server MAC ("" for AEAD ciphers).
};

struct FailureDetail;

/// Connects to `spec` (address, port, algorithms; no credentials are used), completes the key
/// exchange and returns the server's host key, then disconnects. Runs on the calling coroutine's
/// executor. Errors: the connection reasons of `Errc` (dns, connect_refused, connect_timeout,
/// banner_timeout, kex_failed, timeout).
/// When `failure` is given, a failed scan leaves its detail there (e.g. what the server offered
/// when no algorithm matched).
[[nodiscard]] boost::asio::awaitable<boost::system::result<ScannedKey>> KeyScan(
    const config::HostSpec& spec, std::chrono::steady_clock::time_point deadline,
    FailureDetail* failure = nullptr);

/// Result of `Enroll` for one host.
struct EnrollResult {
  ScannedKey scanned;
  KnownHostsFile::RecordOutcome outcome = KnownHostsFile::RecordOutcome::kAdded;
};

/// `fleetps keyscan`: scans `spec` and records its key in `spec.known_hosts` (never replacing a
/// different stored key: the outcome is then `kRefused`). Errors: as `KeyScan`, plus those of
/// `KnownHostsFile::Record` (`Errc::kKnownHostsWrite` when the file cannot be written, with the
/// file and the error in `failure`).
[[nodiscard]] boost::asio::awaitable<boost::system::result<EnrollResult>> Enroll(
    const config::HostSpec& spec, std::chrono::steady_clock::time_point deadline,
    FailureDetail* failure = nullptr);

}  // namespace fleetps::agent
