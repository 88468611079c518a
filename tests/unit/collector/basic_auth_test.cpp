// Basic auth with bcrypt and the web config's gate in front of a handler.
#include "fleetps/collector/http/basic_auth.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

// Made by a real tool: python3 -c 'import crypt; print(crypt.crypt(PASSWORD,
// crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**4)))' (libxcrypt, cost 4 to keep tests fast).
constexpr const char* kFleetpsTestHash =  // "fleetps-test"
    "$2b$04$wd7vweG4hj0YkZJ4MlwV4uyxsQxo/9MxqaARW1LmHc62WBOvnLQAK";
constexpr const char* kPasswordWithColonHash =  // "pass:word é" (UTF-8)
    "$2b$04$NzDOd/IPXS2Ie60ELA2FL.nq5S5x4fzz3FPKTvEciEqLEdO2cOQSa";

// `printf %s USER:PASSWORD | base64`
constexpr const char* kAliceRight = "Basic YWxpY2U6ZmxlZXRwcy10ZXN0";   // alice:fleetps-test
constexpr const char* kAliceWrong = "Basic YWxpY2U6d3Jvbmc=";           // alice:wrong
constexpr const char* kMallory = "Basic bWFsbG9yeTpmbGVldHBzLXRlc3Q=";  // mallory:fleetps-test
constexpr const char* kAliceColon = "Basic YWxpY2U6cGFzczp3b3JkIMOp";   // alice:pass:word é

template <class T>
T RunOn(asio::io_context& io, asio::awaitable<T> task) {
  auto future = asio::co_spawn(io, std::move(task), asio::use_future);
  io.restart();
  io.run();
  return future.get();
}

TEST(BcryptTest, VerifiesHashesOfARealToolUnderEveryPrefix) {
  EXPECT_TRUE(BcryptMatches("fleetps-test", kFleetpsTestHash));
  EXPECT_FALSE(BcryptMatches("fleetps-tesT", kFleetpsTestHash));
  EXPECT_FALSE(BcryptMatches("", kFleetpsTestHash));
  // htpasswd writes $2y$, older tools $2a$: the same algorithm for these passwords.
  std::string y = kFleetpsTestHash;
  y[2] = 'y';
  std::string a = kFleetpsTestHash;
  a[2] = 'a';
  EXPECT_TRUE(BcryptMatches("fleetps-test", y));
  EXPECT_TRUE(BcryptMatches("fleetps-test", a));
  EXPECT_TRUE(BcryptMatches("pass:word \xc3\xa9", kPasswordWithColonHash));
}

TEST(BcryptTest, RefusesMalformedHashesAndCutPasswords) {
  EXPECT_FALSE(BcryptMatches("fleetps-test", "$2b$04$short"));
  EXPECT_FALSE(BcryptMatches("fleetps-test", "fleetps-test"));
  EXPECT_FALSE(BcryptMatches("", ""));
  // crypt() would stop at the NUL and accept "fleetps-test" followed by anything.
  EXPECT_FALSE(BcryptMatches(std::string_view("fleetps-test\0more", 17), kFleetpsTestHash));
}

class BasicAuthTest : public ::testing::Test {
 protected:
  std::optional<AuthFailure> Check(BasicAuthenticator& auth, std::string header) {
    return RunOn(io_, auth.Check(std::move(header)));
  }
  asio::io_context io_;
  std::shared_ptr<BcryptVerifier> verifier_ = std::make_shared<BcryptVerifier>();
  BasicAuthenticator auth_{{{"alice", kFleetpsTestHash}, {"bob", kPasswordWithColonHash}},
                           verifier_};
};

TEST_F(BasicAuthTest, AcceptsTheRightPasswordOnly) {
  EXPECT_EQ(Check(auth_, kAliceRight), std::nullopt);
  EXPECT_EQ(Check(auth_, kAliceWrong), AuthFailure::kBadCredentials);
  EXPECT_EQ(Check(auth_, kMallory), AuthFailure::kBadCredentials);  // unknown user
  // The password is everything after the first colon.
  BasicAuthenticator colon({{"alice", kPasswordWithColonHash}}, verifier_);
  EXPECT_EQ(Check(colon, kAliceColon), std::nullopt);
  EXPECT_EQ(Check(colon, kAliceRight), AuthFailure::kBadCredentials);
}

TEST_F(BasicAuthTest, MissingOrMalformedCredentialsAreNoCredentials) {
  EXPECT_EQ(Check(auth_, ""), AuthFailure::kNoCredentials);
  EXPECT_EQ(Check(auth_, "Bearer YWxpY2U6ZmxlZXRwcy10ZXN0"), AuthFailure::kNoCredentials);
  EXPECT_EQ(Check(auth_, "Basic not-base64!"), AuthFailure::kNoCredentials);
  EXPECT_EQ(Check(auth_, "Basic "), AuthFailure::kNoCredentials);
  EXPECT_EQ(Check(auth_, "Basic"), AuthFailure::kNoCredentials);
  EXPECT_EQ(Check(auth_, "Basic YWxpY2U="), AuthFailure::kNoCredentials);   // "alice", no colon
  EXPECT_EQ(Check(auth_, "basic YWxpY2U6ZmxlZXRwcy10ZXN0"), std::nullopt);  // scheme any case
}

TEST_F(BasicAuthTest, RemembersSuccessesOnly) {
  EXPECT_EQ(auth_.Remembered(), 0u);
  EXPECT_EQ(Check(auth_, kAliceWrong), AuthFailure::kBadCredentials);
  EXPECT_EQ(auth_.Remembered(), 0u);
  EXPECT_EQ(Check(auth_, kAliceRight), std::nullopt);
  EXPECT_EQ(auth_.Remembered(), 1u);
  EXPECT_EQ(Check(auth_, kAliceRight), std::nullopt);
  EXPECT_EQ(auth_.Remembered(), 1u);
  // A remembered success lets nothing else through.
  EXPECT_EQ(Check(auth_, kAliceWrong), AuthFailure::kBadCredentials);
  EXPECT_EQ(Check(auth_, kMallory), AuthFailure::kBadCredentials);
}

TEST_F(BasicAuthTest, RemembersWithoutBcryptAndAnswersBusyWhenTheQueueIsFull) {
  // A verifier that takes no check at all: only remembered credentials pass.
  auto full = std::make_shared<BcryptVerifier>(0);
  BasicAuthenticator auth({{"alice", kFleetpsTestHash}}, full);
  EXPECT_EQ(Check(auth, kAliceRight), AuthFailure::kBusy);
  EXPECT_EQ(Check(auth, kAliceWrong), AuthFailure::kBusy);
}

asio::awaitable<HttpAnswer> Hello(HttpRequest request) {
  co_return MakeResponse(request, http::status::ok, "hello\n");
}

class GateTest : public BasicAuthTest {
 protected:
  HttpResponse Pass(std::shared_ptr<const HttpGate> gate, const char* authorization) {
    HttpRequest request(http::verb::get, "/metrics", 11);
    if (authorization != nullptr) request.set(http::field::authorization, authorization);
    return RunOn(io_, PassGate(std::move(gate), std::move(request), Hello, failures_)).response;
  }
  std::uint64_t Failures(AuthFailure reason) const {
    return failures_->by_reason[static_cast<std::size_t>(reason)].load();
  }
  std::shared_ptr<AuthFailureCounts> failures_ = std::make_shared<AuthFailureCounts>();
};

TEST_F(GateTest, RefusesWithoutOrWithWrongCredentialsAndCountsWhy) {
  auto gate = std::make_shared<HttpGate>();
  gate->auth = std::make_shared<BasicAuthenticator>(
      std::map<std::string, std::string>{{"alice", kFleetpsTestHash}}, verifier_);
  gate->headers = {{"X-Frame-Options", "deny"}};

  const HttpResponse missing = Pass(gate, nullptr);
  EXPECT_EQ(missing.result(), http::status::unauthorized);
  EXPECT_EQ(missing[http::field::www_authenticate], "Basic realm=\"fleetps\"");
  EXPECT_EQ(missing["X-Frame-Options"], "deny");
  EXPECT_EQ(missing.body().find("hello"), std::string::npos);

  const HttpResponse wrong = Pass(gate, kAliceWrong);
  EXPECT_EQ(wrong.result(), http::status::unauthorized);
  EXPECT_EQ(wrong[http::field::www_authenticate], "Basic realm=\"fleetps\"");

  const HttpResponse right = Pass(gate, kAliceRight);
  EXPECT_EQ(right.result(), http::status::ok);
  EXPECT_EQ(right.body(), "hello\n");
  EXPECT_EQ(right["X-Frame-Options"], "deny");

  EXPECT_EQ(Failures(AuthFailure::kNoCredentials), 1u);
  EXPECT_EQ(Failures(AuthFailure::kBadCredentials), 1u);
  EXPECT_EQ(Failures(AuthFailure::kBusy), 0u);
}

TEST_F(GateTest, BusyIs503WithRetryAfter) {
  auto gate = std::make_shared<HttpGate>();
  gate->auth = std::make_shared<BasicAuthenticator>(
      std::map<std::string, std::string>{{"alice", kFleetpsTestHash}},
      std::make_shared<BcryptVerifier>(0));
  const HttpResponse busy = Pass(gate, kAliceRight);
  EXPECT_EQ(busy.result(), http::status::service_unavailable);
  EXPECT_EQ(busy[http::field::retry_after], "1");
  EXPECT_EQ(Failures(AuthFailure::kBusy), 1u);
}

TEST_F(GateTest, WithoutUsersEveryRequestPasses) {
  const HttpResponse answer = Pass(std::make_shared<HttpGate>(), nullptr);
  EXPECT_EQ(answer.result(), http::status::ok);
  EXPECT_TRUE(answer[http::field::www_authenticate].empty());
}

}  // namespace
}  // namespace fleetps::collector
