// HTTP basic auth against bcrypt hashes (the web config's basic_auth_users) and the gate that puts
// it, and the web config's response headers, in front of every endpoint.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "fleetps/collector/http/http_server.hpp"

namespace fleetps::collector {

/// True when `password` hashes to `hash` under bcrypt ($2a$, $2b$, $2y$), compared in constant
/// time; false for a malformed hash. Slow on purpose (cost 10 ≈ 50-100 ms): never call it on an
/// io thread; BcryptVerifier runs it on its own thread.
[[nodiscard]] bool BcryptMatches(std::string_view password, const std::string& hash);

/// Runs bcrypt checks on one dedicated thread, at most `max_pending` queued or running: a flood
/// of wrong passwords costs one core at most and never delays an io thread (a scrape with
/// cached credentials does not wait behind it). Shared by every authenticator of a collector, so
/// a reload does not add threads.
class BcryptVerifier {
 public:
  explicit BcryptVerifier(std::size_t max_pending = 8);
  ~BcryptVerifier();
  BcryptVerifier(const BcryptVerifier&) = delete;
  BcryptVerifier& operator=(const BcryptVerifier&) = delete;

  /// Whether `password` matches `hash`; nullopt, at once, when `max_pending` checks are already
  /// waiting (the caller answers "busy").
  [[nodiscard]] boost::asio::awaitable<std::optional<bool>> Matches(std::string password,
                                                                    std::string hash);

 private:
  boost::asio::thread_pool pool_{1};
  const std::size_t max_pending_;
  std::atomic<std::size_t> pending_{0};
};

/// Why a request was refused by basic auth; counted in fleetps_http_auth_failures_total{reason}.
enum class AuthFailure : std::uint8_t {
  kNoCredentials,   ///< No `Authorization: Basic` header, or one that does not decode.
  kBadCredentials,  ///< An unknown user or a wrong password.
  kBusy,            ///< Too many bcrypt checks in flight: 503, try again.
  kTlsHandshake,    ///< Not basic auth: a failed TLS handshake (HttpServer counts those).
};
inline constexpr std::size_t kAuthFailureCount = 4;
[[nodiscard]] std::string_view AuthFailureName(AuthFailure failure);

/// Refusals by reason, kept across reloads (authenticators come and go, the counts stay).
struct AuthFailureCounts {
  std::array<std::atomic<std::uint64_t>, kAuthFailureCount> by_reason{};
  void Add(AuthFailure failure) { by_reason[static_cast<std::size_t>(failure)].fetch_add(1); }
};

/// Checks basic auth credentials against user → bcrypt hash. A (user, password) pair that
/// passed once is remembered (as a salted SHA-256 digest, never in clear) until the
/// authenticator is replaced, so a scrape every 15 s pays bcrypt once, as exporter-toolkit does.
/// Thread-safe.
class BasicAuthenticator {
 public:
  BasicAuthenticator(std::map<std::string, std::string> users,
                     std::shared_ptr<BcryptVerifier> verifier);

  /// nullopt when `authorization` (the header's value) carries a known user and their password,
  /// else why not. An unknown user costs a bcrypt check like a known one (no user probing).
  [[nodiscard]] boost::asio::awaitable<std::optional<AuthFailure>> Check(std::string authorization);

  /// Credentials remembered, at most kMaxRemembered (then forgotten all at once).
  [[nodiscard]] std::size_t Remembered() const;
  static constexpr std::size_t kMaxRemembered = 256;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  Digest DigestOf(std::string_view user, const std::string& hash, std::string_view password) const;

  std::map<std::string, std::string> users_;
  std::shared_ptr<BcryptVerifier> verifier_;
  std::array<unsigned char, 32> salt_{};  // random per authenticator: digests are useless elsewhere
  mutable std::mutex mu_;
  std::unordered_set<Digest, DigestHash> remembered_;  // guarded by mu_
};

/// What the web config puts in front of every endpoint.
struct HttpGate {
  std::shared_ptr<BasicAuthenticator> auth;                  ///< Null: no basic auth.
  std::vector<std::pair<std::string, std::string>> headers;  ///< Added to every answer.
};

/// Answers `request` through `gate`: 401 with `WWW-Authenticate: Basic realm="fleetps"` without
/// valid credentials, 503 with `Retry-After: 1` when bcrypt is busy, else `next`'s answer; the
/// gate's headers on all of them. Refusals are added to
/// `failures`. Never logs credentials.
[[nodiscard]] boost::asio::awaitable<HttpAnswer> PassGate(
    std::shared_ptr<const HttpGate> gate, HttpRequest request,
    std::function<boost::asio::awaitable<HttpAnswer>(HttpRequest)> next,
    std::shared_ptr<AuthFailureCounts> failures);

}  // namespace fleetps::collector
