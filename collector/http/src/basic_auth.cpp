#include "fleetps/collector/http/basic_auth.hpp"

#include "base64.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool BcryptMatches(std::string_view password, const std::string& hash) {
  // crypt takes C strings: a password with a NUL byte would be cut there.
  if (password.find('\0') != std::string_view::npos) return false;
  const std::string password_text(password);
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not on the stack
  const char* computed = crypt_rn(password_text.c_str(), hash.c_str(), data.get(), sizeof *data);
  // crypt_rn returns null, or a "*"-prefixed failure token, for a hash it cannot use.
  if (computed == nullptr || computed[0] == '*') return false;
  return std::strlen(computed) == hash.size() &&
         CRYPTO_memcmp(computed, hash.data(), hash.size()) == 0;
}

namespace {

// BcryptMatches as a coroutine for co_spawn onto the pool: its arguments live in its own frame.
asio::awaitable<bool> BcryptMatchesHere(std::string password, std::string hash) {
  co_return BcryptMatches(password, hash);
}

}  // namespace

BcryptVerifier::BcryptVerifier(std::size_t max_pending) : max_pending_(max_pending) {}

BcryptVerifier::~BcryptVerifier() {
  pool_.stop();
  pool_.join();
}

asio::awaitable<std::optional<bool>> BcryptVerifier::Matches(std::string password,
                                                             std::string hash) {
  if (pending_.fetch_add(1) >= max_pending_) {
    pending_.fetch_sub(1);
    co_return std::nullopt;
  }
  // The check runs on the pool's thread; the caller resumes on its own executor.
  const bool matches = co_await asio::co_spawn(
      pool_.get_executor(), BcryptMatchesHere(std::move(password), std::move(hash)),
      asio::use_awaitable);
  pending_.fetch_sub(1);
  co_return matches;
}

std::string_view AuthFailureName(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::kNoCredentials:
      return "no_credentials";
    case AuthFailure::kBadCredentials:
      return "bad_credentials";
    case AuthFailure::kBusy:
      return "busy";
    case AuthFailure::kTlsHandshake:
      return "tls_handshake";
  }
  return "other";
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users,
                                       std::shared_ptr<BcryptVerifier> verifier)
    : users_(std::move(users)), verifier_(std::move(verifier)) {
  if (users_.empty()) throw std::invalid_argument("BasicAuthenticator needs at least one user");
  if (RAND_bytes(salt_.data(), static_cast<int>(salt_.size())) != 1) {
    throw std::runtime_error("no random bytes for the credentials cache");
  }
}

std::size_t BasicAuthenticator::DigestHash::operator()(const Digest& d) const noexcept {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // already uniformly distributed
  return h;
}

BasicAuthenticator::Digest BasicAuthenticator::DigestOf(std::string_view user,
                                                        const std::string& hash,
                                                        std::string_view password) const {
  // The hash is part of the key: a reload that changes a user's hash invalidates the entry.
  std::string input(reinterpret_cast<const char*>(salt_.data()), salt_.size());
  input.append(user).append(1, '\0').append(hash).append(1, '\0').append(password);
  Digest digest{};
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha256(), nullptr);
  OPENSSL_cleanse(input.data(), input.size());
  return digest;
}

std::size_t BasicAuthenticator::Remembered() const {
  std::lock_guard lock(mu_);
  return remembered_.size();
}

asio::awaitable<std::optional<AuthFailure>> BasicAuthenticator::Check(std::string authorization) {
  const std::string_view header(authorization);
  const auto space = header.find(' ');
  if (space == std::string_view::npos || !EqualsIgnoringCase(header.substr(0, space), "basic")) {
    co_return AuthFailure::kNoCredentials;
  }
  const auto credentials = header.find_first_not_of(' ', space);
  if (credentials == std::string_view::npos) co_return AuthFailure::kNoCredentials;
  std::optional<std::string> decoded = DecodeBase64(header.substr(credentials));
  const auto colon = decoded ? decoded->find(':') : std::string::npos;
  if (colon == std::string::npos) co_return AuthFailure::kNoCredentials;
  const std::string user = decoded->substr(0, colon);
  std::string password = decoded->substr(colon + 1);
  OPENSSL_cleanse(decoded->data(), decoded->size());
  const auto found = users_.find(user);
  // An unknown user is checked against a real hash too, so its answer takes as long.
  const std::string& hash = found != users_.end() ? found->second : users_.begin()->second;
  const Digest digest = DigestOf(user, hash, password);
  if (found != users_.end()) {
    std::lock_guard lock(mu_);
    // A lookup by salted digest: its timing tells nothing about the password.
    if (remembered_.contains(digest)) co_return std::nullopt;
  }
  const std::optional<bool> matches = co_await verifier_->Matches(std::move(password), hash);
  if (!matches) co_return AuthFailure::kBusy;
  if (!*matches || found == users_.end()) co_return AuthFailure::kBadCredentials;
  std::lock_guard lock(mu_);
  if (remembered_.size() >= kMaxRemembered) remembered_.clear();
  remembered_.insert(digest);
  co_return std::nullopt;
}

asio::awaitable<HttpAnswer> PassGate(std::shared_ptr<const HttpGate> gate, HttpRequest request,
                                     std::function<asio::awaitable<HttpAnswer>(HttpRequest)> next,
                                     std::shared_ptr<AuthFailureCounts> failures) {
  HttpAnswer answer;
  std::optional<AuthFailure> refused;
  if (gate->auth) {
    refused = co_await gate->auth->Check(std::string(request[http::field::authorization]));
  }
  if (!refused) {
    answer = co_await next(std::move(request));
  } else {
    failures->Add(*refused);
    if (*refused == AuthFailure::kBusy) {
      answer = MakeResponse(request, http::status::service_unavailable,
                            "too many authentication attempts in progress; retry\n");
      answer.response.set(http::field::retry_after, "1");
    } else {
      answer = MakeResponse(request, http::status::unauthorized, "unauthorized\n");
      answer.response.set(http::field::www_authenticate, "Basic realm=\"fleetps\"");
    }
  }
  for (const auto& [name, value] : gate->headers) answer.response.set(name, value);
  co_return answer;
}

}  // namespace fleetps::collector
