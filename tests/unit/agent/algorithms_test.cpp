#include "fleetps/agent/algorithms.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fleetps/config/inventory.hpp"

namespace fleetps::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;

using Names = std::vector<std::string>;

// libssh 0.10.6's own text (kex.c, ssh_kex_select_methods) for a server that offers only SHA-1
// key exchanges, with a client list as libssh 0.10.6 sends it (ext-info-c and kex-strict-c
// appended).
constexpr std::string_view kKexMessage =
    "kex error : no match for method kex algos: server "
    "[diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,kex-strict-s-v00@openssh.com], "
    "client [curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
    "diffie-hellman-group18-sha512,diffie-hellman-group16-sha512,"
    "diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,ext-info-c,"
    "kex-strict-c-v00@openssh.com]";

std::string NoMatch(std::string_view method, std::string_view server, std::string_view client) {
  return "kex error : no match for method " + std::string(method) + ": server [" +
         std::string(server) + "], client [" + std::string(client) + "]";
}

NegotiationFailure Failure(AlgorithmKind kind, Names server_offer) {
  NegotiationFailure f;
  f.kind = kind;
  f.server_offer = std::move(server_offer);
  return f;
}

// ---------------------------------------------------------------------------------------------
// AlgorithmKindKey

TEST(AlgorithmKindKeyTest, NamesTheConfigKeys) {
  EXPECT_EQ(AlgorithmKindKey(AlgorithmKind::kKex), "kex");
  EXPECT_EQ(AlgorithmKindKey(AlgorithmKind::kHostkey), "hostkeys");
  EXPECT_EQ(AlgorithmKindKey(AlgorithmKind::kCipher), "ciphers");
  EXPECT_EQ(AlgorithmKindKey(AlgorithmKind::kMac), "macs");
  EXPECT_EQ(AlgorithmKindKey(AlgorithmKind::kPubkey), "pubkeys");
}

// ---------------------------------------------------------------------------------------------
// ParseNegotiationError

TEST(ParseNegotiationErrorTest, ParsesLibssh0106KexMessageAndDropsPseudoAlgorithms) {
  const auto f = ParseNegotiationError(kKexMessage);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->kind, AlgorithmKind::kKex);
  EXPECT_THAT(f->server_offer,
              ElementsAre("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"));
  EXPECT_THAT(f->client_offer,
              ElementsAre("curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
                          "diffie-hellman-group18-sha512", "diffie-hellman-group16-sha512",
                          "diffie-hellman-group-exchange-sha256", "diffie-hellman-group14-sha256"));
}

TEST(ParseNegotiationErrorTest, DropsPseudoAlgorithmsInAnyPosition) {
  const auto f = ParseNegotiationError(
      NoMatch("kex algos", "ext-info-s,diffie-hellman-group1-sha1,kex-strict-s-v00@openssh.com",
              "kex-strict-c-v00@openssh.com,curve25519-sha256,ext-info-c"));
  ASSERT_TRUE(f.has_value());
  EXPECT_THAT(f->server_offer, ElementsAre("diffie-hellman-group1-sha1"));
  EXPECT_THAT(f->client_offer, ElementsAre("curve25519-sha256"));
}

TEST(ParseNegotiationErrorTest, ParsesServerHostKeyMethod) {
  const auto f = ParseNegotiationError(NoMatch(
      "server host key algo", "ssh-dss",
      "ssh-ed25519,ecdsa-sha2-nistp521,ecdsa-sha2-nistp384,ecdsa-sha2-nistp256,"
      "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->kind, AlgorithmKind::kHostkey);
  EXPECT_THAT(f->server_offer, ElementsAre("ssh-dss"));
  EXPECT_EQ(f->client_offer.size(), 8U);
  EXPECT_EQ(f->client_offer.front(), "ssh-ed25519");
  EXPECT_EQ(f->client_offer.back(), "rsa-sha2-256");
}

TEST(ParseNegotiationErrorTest, ParsesEncryptionInBothDirections) {
  for (std::string_view method : {"encryption client->server", "encryption server->client"}) {
    const auto f = ParseNegotiationError(
        NoMatch(method, "aes128-cbc,3des-cbc,blowfish-cbc",
                "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr"));
    ASSERT_TRUE(f.has_value()) << method;
    EXPECT_EQ(f->kind, AlgorithmKind::kCipher) << method;
    EXPECT_THAT(f->server_offer, ElementsAre("aes128-cbc", "3des-cbc", "blowfish-cbc")) << method;
    EXPECT_THAT(f->client_offer, ElementsAre("chacha20-poly1305@openssh.com",
                                             "aes256-gcm@openssh.com", "aes128-ctr"))
        << method;
  }
}

TEST(ParseNegotiationErrorTest, ParsesMacInBothDirections) {
  for (std::string_view method : {"mac algo client->server", "mac algo server->client"}) {
    const auto f = ParseNegotiationError(
        NoMatch(method, "hmac-md5,hmac-md5-96", "hmac-sha2-256-etm@openssh.com,hmac-sha2-256"));
    ASSERT_TRUE(f.has_value()) << method;
    EXPECT_EQ(f->kind, AlgorithmKind::kMac) << method;
    EXPECT_THAT(f->server_offer, ElementsAre("hmac-md5", "hmac-md5-96")) << method;
    EXPECT_THAT(f->client_offer, ElementsAre("hmac-sha2-256-etm@openssh.com", "hmac-sha2-256"))
        << method;
  }
}

TEST(ParseNegotiationErrorTest, CompressionAndLanguagesAreNotAlgorithmFailures) {
  for (std::string_view method :
       {"compression algo client->server", "compression algo server->client",
        "languages client->server", "languages server->client"}) {
    EXPECT_EQ(ParseNegotiationError(NoMatch(method, "zlib", "none")), std::nullopt) << method;
  }
}

TEST(ParseNegotiationErrorTest, UnrelatedMessagesAreNullopt) {
  for (std::string_view message : {
           "",
           "Connection refused",
           "Socket error: disconnected",
           "kex error : did not find one of algos ssh-ed25519 in list rsa-sha2-512 for kex",
           "Failed to connect: Connection timed out",
           "Access denied. Authentication that can continue: publickey",
           "server [a,b], client [c,d]",
       }) {
    EXPECT_EQ(ParseNegotiationError(message), std::nullopt) << message;
  }
}

TEST(ParseNegotiationErrorTest, UnknownMethodIsNullopt) {
  EXPECT_EQ(ParseNegotiationError(NoMatch("bogus algos", "a", "b")), std::nullopt);
  EXPECT_EQ(ParseNegotiationError(NoMatch("", "a", "b")), std::nullopt);
}

TEST(ParseNegotiationErrorTest, TruncationsParseOnlyOnceTheServerListIsWhole) {
  // Only the server's offer is needed: a message cut in the client list (a display bound)
  // still names it; one cut before the server list closes does not parse.
  const std::size_t server_end = kKexMessage.find(']') + 1;
  const auto whole = ParseNegotiationError(kKexMessage);
  ASSERT_TRUE(whole.has_value());
  for (std::size_t n = 0; n < kKexMessage.size(); ++n) {
    const auto cut = ParseNegotiationError(kKexMessage.substr(0, n));
    if (n < server_end) {
      EXPECT_EQ(cut, std::nullopt) << "prefix " << n;
    } else {
      ASSERT_TRUE(cut.has_value()) << "prefix " << n;
      EXPECT_EQ(cut->server_offer, whole->server_offer) << "prefix " << n;
    }
  }
}

TEST(ParseNegotiationErrorTest, NamesThatAreNotAlgorithmNamesAreLeftOut) {
  const std::string huge(100, 'a');
  const auto f =
      ParseNegotiationError("kex error : no match for method kex algos: server [ok-name," + huge +
                            ",bad\x01name], client [x]");
  ASSERT_TRUE(f.has_value());
  EXPECT_THAT(f->server_offer, ElementsAre("ok-name"));
}

TEST(ParseNegotiationErrorTest, MalformedMessagesAreNullopt) {
  for (std::string_view message : {
           "no match for method",
           "no match for method ",
           "no match for method kex algos",
           "no match for method kex algos server [a], client [b]",  // no colon
           "no match for method kex algos:",
           "no match for method kex algos: client [a,b]",  // no server list
           "no match for method kex algos: server [a, client [b",
           "no match for method kex algos: server a,b], client c]",
       }) {
    EXPECT_EQ(ParseNegotiationError(message), std::nullopt) << message;
  }
}

TEST(ParseNegotiationErrorTest, EmptyServerListParsesToAnEmptyOffer) {
  const auto f = ParseNegotiationError(NoMatch("kex algos", "", "curve25519-sha256,ext-info-c"));
  ASSERT_TRUE(f.has_value());
  EXPECT_THAT(f->server_offer, IsEmpty());
  EXPECT_THAT(f->client_offer, ElementsAre("curve25519-sha256"));
}

TEST(ParseNegotiationErrorTest, ServerListOfOnlyPseudoAlgorithmsIsEmpty) {
  const auto f = ParseNegotiationError(
      NoMatch("kex algos", "ext-info-s,kex-strict-s-v00@openssh.com", "curve25519-sha256"));
  ASSERT_TRUE(f.has_value());
  EXPECT_THAT(f->server_offer, IsEmpty());
}

TEST(ParseNegotiationErrorTest, EmptyItemsAreDropped) {
  const auto f = ParseNegotiationError(NoMatch("kex algos", ",a,,b,", "c"));
  ASSERT_TRUE(f.has_value());
  EXPECT_THAT(f->server_offer, ElementsAre("a", "b"));
}

// ---------------------------------------------------------------------------------------------
// StrongestMatch / NegotiationDetail

TEST(NegotiationDetailTest, KexOfferSuggestsStrongestSupportedAndLegacy) {
  // Debian's libssh 0.10.6 (DESIGN.md §2) has it; a libssh without it is a different product.
  ASSERT_TRUE(IsSupportedAlgorithm(AlgorithmKind::kKex, "diffie-hellman-group14-sha1"))
      << "libssh " << LibsshVersion();
  const auto f = ParseNegotiationError(kKexMessage);
  ASSERT_TRUE(f.has_value());
  EXPECT_THAT(StrongestMatch(*f), Optional(std::string("diffie-hellman-group14-sha1")));
  const std::string detail = NegotiationDetail(*f);
  EXPECT_THAT(detail, HasSubstr("[diffie-hellman-group1-sha1, diffie-hellman-group14-sha1]"));
  EXPECT_THAT(detail, HasSubstr("algorithms: {kex: [diffie-hellman-group14-sha1]}"));
  EXPECT_THAT(detail, HasSubstr("algorithms: legacy"));
  EXPECT_THAT(detail, HasSubstr("weak"));
  EXPECT_THAT(detail, HasSubstr("SHA-1"));
  EXPECT_THAT(detail, Not(HasSubstr("supports none")));
  EXPECT_THAT(detail, Not(HasSubstr("kex-strict"))) << "pseudo-algorithms are not offers";
}

TEST(NegotiationDetailTest, PickFollowsFleetpsRankingNotOfferOrder) {
  ASSERT_TRUE(IsSupportedAlgorithm(AlgorithmKind::kKex, "diffie-hellman-group14-sha1") &&
              IsSupportedAlgorithm(AlgorithmKind::kKex, "diffie-hellman-group-exchange-sha1"))
      << "libssh " << LibsshVersion();
  const auto f = Failure(AlgorithmKind::kKex,
                         {"diffie-hellman-group1-sha1", "diffie-hellman-group-exchange-sha1",
                          "diffie-hellman-group14-sha1"});
  EXPECT_THAT(StrongestMatch(f), Optional(std::string("diffie-hellman-group14-sha1")));
}

TEST(NegotiationDetailTest, OnlyGroup1NamesTheLogjamWeakness) {
  ASSERT_TRUE(IsSupportedAlgorithm(AlgorithmKind::kKex, "diffie-hellman-group1-sha1"))
      << "libssh " << LibsshVersion();
  const auto f = Failure(AlgorithmKind::kKex, {"diffie-hellman-group1-sha1"});
  EXPECT_THAT(StrongestMatch(f), Optional(std::string("diffie-hellman-group1-sha1")));
  const std::string detail = NegotiationDetail(f);
  EXPECT_THAT(detail, HasSubstr("algorithms: {kex: [diffie-hellman-group1-sha1]}"));
  EXPECT_THAT(detail, HasSubstr("1024-bit"));
}

TEST(NegotiationDetailTest, DssHostKeyDependsOnLibsshBuild) {
  const auto f = ParseNegotiationError(
      NoMatch("server host key algo", "ssh-dss", "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"));
  ASSERT_TRUE(f.has_value());
  const std::string detail = NegotiationDetail(*f);
  EXPECT_THAT(detail, HasSubstr("ssh-dss"));
  if (IsSupportedAlgorithm(AlgorithmKind::kHostkey, "ssh-dss")) {
    EXPECT_THAT(StrongestMatch(*f), Optional(std::string("ssh-dss")));
    EXPECT_THAT(detail, HasSubstr("algorithms: {hostkeys: [ssh-dss]}"));
    EXPECT_THAT(detail, HasSubstr("weak"));
  } else {
    // Debian's libssh 0.10.6 is built without DSA.
    EXPECT_EQ(StrongestMatch(*f), std::nullopt);
    EXPECT_THAT(detail, HasSubstr("supports none of them"));
    EXPECT_THAT(detail, HasSubstr("libssh " + std::string(LibsshVersion())));
    EXPECT_THAT(detail, Not(HasSubstr("set algorithms")));
    EXPECT_THAT(detail, Not(HasSubstr("legacy")));
  }
}

TEST(NegotiationDetailTest, Md5MacsAreNotSupportedByLibssh) {
  const auto f = ParseNegotiationError(
      NoMatch("mac algo client->server", "hmac-md5,hmac-md5-96", "hmac-sha2-256"));
  ASSERT_TRUE(f.has_value());
  // No libssh release implements MD5 MACs for negotiation (not a build option, unlike DSA).
  ASSERT_FALSE(IsSupportedAlgorithm(AlgorithmKind::kMac, "hmac-md5"));
  ASSERT_FALSE(IsSupportedAlgorithm(AlgorithmKind::kMac, "hmac-md5-96"));
  EXPECT_EQ(StrongestMatch(*f), std::nullopt);
  const std::string detail = NegotiationDetail(*f);
  EXPECT_THAT(detail, HasSubstr("[hmac-md5, hmac-md5-96]"));
  EXPECT_THAT(detail, HasSubstr("supports none of them"));
  EXPECT_THAT(detail, Not(HasSubstr("algorithms: {")));
}

TEST(NegotiationDetailTest, UnknownOrEmptyOfferMatchesNothing) {
  for (const Names& offer : {Names{}, Names{"foo@example.com", "bar"}}) {
    const auto f = Failure(AlgorithmKind::kKex, offer);
    EXPECT_EQ(StrongestMatch(f), std::nullopt);
    EXPECT_THAT(NegotiationDetail(f), HasSubstr("supports none of them"));
  }
}

TEST(NegotiationDetailTest, StrongPickIsNotCalledWeak) {
  ASSERT_TRUE(IsSupportedAlgorithm(AlgorithmKind::kHostkey, "rsa-sha2-256"))
      << "libssh " << LibsshVersion();
  const auto f = Failure(AlgorithmKind::kHostkey, {"ssh-rsa", "rsa-sha2-256"});
  EXPECT_THAT(StrongestMatch(f), Optional(std::string("rsa-sha2-256")));
  const std::string detail = NegotiationDetail(f);
  EXPECT_THAT(detail, HasSubstr("algorithms: {hostkeys: [rsa-sha2-256]}"));
  EXPECT_THAT(detail, Not(HasSubstr("weak")));
}

TEST(NegotiationDetailTest, CipherOfferSuggestsCiphersKey) {
  ASSERT_TRUE(IsSupportedAlgorithm(AlgorithmKind::kCipher, "aes128-cbc"))
      << "libssh " << LibsshVersion();
  const auto f = Failure(AlgorithmKind::kCipher, {"3des-cbc", "aes128-cbc", "blowfish-cbc"});
  EXPECT_THAT(StrongestMatch(f), Optional(std::string("aes128-cbc")));
  const std::string detail = NegotiationDetail(f);
  EXPECT_THAT(detail, HasSubstr("algorithms: {ciphers: [aes128-cbc]}"));
  EXPECT_THAT(detail, HasSubstr("CBC"));
}

TEST(NegotiationDetailTest, PickIsAlwaysSupportedAndInTheOffer) {
  // For every kind, offering the whole catalogue picks the strongest supported name.
  for (AlgorithmKind kind : kAlgorithmKinds) {
    const auto known = KnownAlgorithms(kind);
    Names offer(known.begin(), known.end());
    std::reverse(offer.begin(), offer.end());
    const auto& supported = SupportedAlgorithms(kind);
    const auto pick = StrongestMatch(Failure(kind, offer));
    if (supported.empty()) {
      EXPECT_EQ(pick, std::nullopt) << AlgorithmKindKey(kind);
    } else {
      EXPECT_THAT(pick, Optional(supported.front())) << AlgorithmKindKey(kind);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// WeakReason

TEST(WeakReasonTest, Kex) {
  for (std::string_view name : {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
                                "diffie-hellman-group-exchange-sha1"}) {
    EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kKex, name)), HasSubstr("SHA-1")) << name;
  }
  EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kKex, "diffie-hellman-group1-sha1")),
              HasSubstr("1024-bit"));
  for (std::string_view name :
       {"curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp521", "diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha256",
        "sntrup761x25519-sha512@openssh.com", "mlkem768x25519-sha256"}) {
    EXPECT_EQ(WeakReason(AlgorithmKind::kKex, name), "") << name;
  }
}

TEST(WeakReasonTest, HostKeysAndPubkeys) {
  for (AlgorithmKind kind : {AlgorithmKind::kHostkey, AlgorithmKind::kPubkey}) {
    EXPECT_THAT(std::string(WeakReason(kind, "ssh-rsa")), HasSubstr("SHA-1"));
    EXPECT_THAT(std::string(WeakReason(kind, "ssh-dss")), HasSubstr("DSA"));
    for (std::string_view name :
         {"rsa-sha2-256", "rsa-sha2-512", "ssh-ed25519", "ecdsa-sha2-nistp256",
          "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}) {
      EXPECT_EQ(WeakReason(kind, name), "") << AlgorithmKindKey(kind) << " " << name;
    }
  }
}

TEST(WeakReasonTest, Ciphers) {
  for (std::string_view name : {"aes128-cbc", "aes192-cbc", "aes256-cbc", "cast128-cbc",
                                "twofish-cbc", "rijndael-cbc@lysator.liu.se"}) {
    EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kCipher, name)), HasSubstr("CBC")) << name;
  }
  EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kCipher, "3des-cbc")), HasSubstr("64-bit"));
  EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kCipher, "blowfish-cbc")), HasSubstr("64-bit"));
  for (std::string_view name : {"arcfour", "arcfour128", "arcfour256"}) {
    EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kCipher, name)), HasSubstr("RC4")) << name;
  }
  EXPECT_NE(WeakReason(AlgorithmKind::kCipher, "none"), "");
  for (std::string_view name : {"aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com",
                                "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"}) {
    EXPECT_EQ(WeakReason(AlgorithmKind::kCipher, name), "") << name;
  }
}

TEST(WeakReasonTest, Macs) {
  for (std::string_view name :
       {"hmac-md5", "hmac-md5-96", "hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com"}) {
    EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kMac, name)), HasSubstr("MD5")) << name;
  }
  EXPECT_THAT(std::string(WeakReason(AlgorithmKind::kMac, "hmac-sha1-96")), HasSubstr("96"));
  EXPECT_NE(WeakReason(AlgorithmKind::kMac, "none"), "");
  for (std::string_view name : {"hmac-sha2-256", "hmac-sha2-512", "hmac-sha2-256-etm@openssh.com",
                                "hmac-sha2-512-etm@openssh.com", "hmac-sha1",
                                "hmac-sha1-etm@openssh.com", "umac-128-etm@openssh.com"}) {
    EXPECT_EQ(WeakReason(AlgorithmKind::kMac, name), "") << name;
  }
}

// BUG (see the report): OpenSSH (through 9.x, `ssh -Q mac`) offers hmac-sha1-96-etm@openssh.com,
// and OpenSSH 6.2-7.1 servers offer it by default; it is truncated to 96 bits like hmac-sha1-96,
// but WeakReason only checks ends_with("-96"). Enable when fixed.
TEST(WeakReasonTest, TruncatedEtmMacIsWeak) {
  EXPECT_NE(WeakReason(AlgorithmKind::kMac, "hmac-sha1-96-etm@openssh.com"), "");
}

// BUG (see the report): the header calls 64-bit-block ciphers weak, but 3DES and Blowfish in CTR
// mode (RFC 4344 names, offered e.g. by old dropbear servers) are not classified. Enable when
// fixed.
TEST(WeakReasonTest, SixtyFourBitBlockCtrCiphersAreWeak) {
  EXPECT_NE(WeakReason(AlgorithmKind::kCipher, "3des-ctr"), "");
  EXPECT_NE(WeakReason(AlgorithmKind::kCipher, "blowfish-ctr"), "");
}

TEST(WeakReasonTest, ClassificationDependsOnKind) {
  EXPECT_EQ(WeakReason(AlgorithmKind::kCipher, "ssh-rsa"), "");
  EXPECT_EQ(WeakReason(AlgorithmKind::kMac, "ssh-dss"), "");
  EXPECT_EQ(WeakReason(AlgorithmKind::kKex, "3des-cbc"), "");
  EXPECT_EQ(WeakReason(AlgorithmKind::kHostkey, "diffie-hellman-group1-sha1"), "");
  EXPECT_EQ(WeakReason(AlgorithmKind::kKex, "hmac-md5"), "");
  EXPECT_EQ(WeakReason(AlgorithmKind::kCipher, "hmac-md5"), "");
  EXPECT_EQ(WeakReason(AlgorithmKind::kKex, ""), "");
  EXPECT_EQ(WeakReason(AlgorithmKind::kHostkey, ""), "");
}

// ---------------------------------------------------------------------------------------------
// KnownAlgorithms / SupportedAlgorithms / IsSupportedAlgorithm / LibsshVersion

// Index of `name` in `list`; -1 (and a failure) when it is missing.
std::ptrdiff_t Position(std::span<const std::string_view> list, std::string_view name) {
  const auto it = std::find(list.begin(), list.end(), name);
  if (it == list.end()) {
    ADD_FAILURE() << name << " is not in the list";
    return -1;
  }
  return it - list.begin();
}

TEST(KnownAlgorithmsTest, NonEmptyWithoutDuplicates) {
  for (AlgorithmKind kind : kAlgorithmKinds) {
    const auto list = KnownAlgorithms(kind);
    EXPECT_FALSE(list.empty()) << AlgorithmKindKey(kind);
    const std::set<std::string_view> unique(list.begin(), list.end());
    EXPECT_EQ(unique.size(), list.size()) << AlgorithmKindKey(kind);
  }
}

TEST(KnownAlgorithmsTest, WeakNamesComeAfterAllStrongOnes) {
  for (AlgorithmKind kind : kAlgorithmKinds) {
    bool seen_weak = false;
    for (std::string_view name : KnownAlgorithms(kind)) {
      const bool weak = !WeakReason(kind, name).empty();
      EXPECT_FALSE(seen_weak && !weak)
          << AlgorithmKindKey(kind) << ": " << name << " ranks below a weak name";
      seen_weak = seen_weak || weak;
    }
  }
}

TEST(KnownAlgorithmsTest, RanksStrongestFirst) {
  const auto kex = KnownAlgorithms(AlgorithmKind::kKex);
  // Post-quantum hybrids first.
  EXPECT_LT(Position(kex, "mlkem768x25519-sha256"), Position(kex, "curve25519-sha256"));
  EXPECT_LT(Position(kex, "sntrup761x25519-sha512@openssh.com"),
            Position(kex, "curve25519-sha256"));
  EXPECT_LT(Position(kex, "curve25519-sha256"), Position(kex, "ecdh-sha2-nistp256"));
  EXPECT_LT(Position(kex, "ecdh-sha2-nistp256"), Position(kex, "diffie-hellman-group14-sha256"));
  EXPECT_LT(Position(kex, "diffie-hellman-group16-sha512"),
            Position(kex, "diffie-hellman-group14-sha256"));
  EXPECT_LT(Position(kex, "diffie-hellman-group14-sha256"),
            Position(kex, "diffie-hellman-group14-sha1"));
  EXPECT_LT(Position(kex, "diffie-hellman-group14-sha1"),
            Position(kex, "diffie-hellman-group1-sha1"));
  EXPECT_EQ(Position(kex, "diffie-hellman-group1-sha1"),
            static_cast<std::ptrdiff_t>(kex.size()) - 1);

  const auto keys = KnownAlgorithms(AlgorithmKind::kHostkey);
  EXPECT_EQ(Position(keys, "ssh-ed25519"), 0);
  EXPECT_LT(Position(keys, "rsa-sha2-512"), Position(keys, "rsa-sha2-256"));
  EXPECT_LT(Position(keys, "rsa-sha2-256"), Position(keys, "ssh-rsa"));
  EXPECT_LT(Position(keys, "ssh-rsa"), Position(keys, "ssh-dss"));

  const auto ciphers = KnownAlgorithms(AlgorithmKind::kCipher);
  EXPECT_EQ(Position(ciphers, "chacha20-poly1305@openssh.com"), 0);
  EXPECT_LT(Position(ciphers, "aes256-gcm@openssh.com"), Position(ciphers, "aes256-ctr"));
  EXPECT_LT(Position(ciphers, "aes128-ctr"), Position(ciphers, "aes256-cbc"));
  EXPECT_LT(Position(ciphers, "aes128-cbc"), Position(ciphers, "3des-cbc"));

  const auto macs = KnownAlgorithms(AlgorithmKind::kMac);
  EXPECT_LT(Position(macs, "hmac-sha2-256-etm@openssh.com"), Position(macs, "hmac-sha2-256"));
  EXPECT_LT(Position(macs, "hmac-sha2-512"), Position(macs, "hmac-sha1"));
  EXPECT_LT(Position(macs, "hmac-sha1"), Position(macs, "hmac-sha1-96"));
  EXPECT_LT(Position(macs, "hmac-sha1-96"), Position(macs, "hmac-md5"));
  EXPECT_LT(Position(macs, "hmac-md5"), Position(macs, "hmac-md5-96"));
}

TEST(KnownAlgorithmsTest, HostKeysAndPubkeysShareTheCatalogue) {
  const auto hostkeys = KnownAlgorithms(AlgorithmKind::kHostkey);
  const auto pubkeys = KnownAlgorithms(AlgorithmKind::kPubkey);
  EXPECT_TRUE(std::equal(hostkeys.begin(), hostkeys.end(), pubkeys.begin(), pubkeys.end()));
}

TEST(KnownAlgorithmsTest, HasNoPseudoAlgorithms) {
  for (AlgorithmKind kind : kAlgorithmKinds) {
    for (std::string_view name : KnownAlgorithms(kind)) {
      EXPECT_FALSE(name.starts_with("ext-info-") || name.starts_with("kex-strict-")) << name;
    }
  }
}

TEST(SupportedAlgorithmsTest, IsAnOrderedSubsetOfKnown) {
  for (AlgorithmKind kind : kAlgorithmKinds) {
    const auto known = KnownAlgorithms(kind);
    std::ptrdiff_t last = -1;
    for (const std::string& name : SupportedAlgorithms(kind)) {
      const std::ptrdiff_t at = Position(known, name);
      EXPECT_GT(at, last) << AlgorithmKindKey(kind) << ": " << name << " out of order";
      last = at;
    }
  }
}

TEST(SupportedAlgorithmsTest, HasWhatEveryLibssh09PlusSupports) {
  auto has = [](AlgorithmKind kind, std::string_view name) {
    const auto& list = SupportedAlgorithms(kind);
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  EXPECT_TRUE(has(AlgorithmKind::kKex, "curve25519-sha256"));
  EXPECT_TRUE(has(AlgorithmKind::kKex, "diffie-hellman-group14-sha256"));
  EXPECT_TRUE(has(AlgorithmKind::kHostkey, "ssh-ed25519"));
  EXPECT_TRUE(has(AlgorithmKind::kHostkey, "rsa-sha2-256"));
  EXPECT_TRUE(has(AlgorithmKind::kPubkey, "rsa-sha2-512"));
  EXPECT_TRUE(has(AlgorithmKind::kCipher, "aes256-ctr"));
  EXPECT_TRUE(has(AlgorithmKind::kMac, "hmac-sha2-256"));
}

TEST(SupportedAlgorithmsTest, LeavesOutWhatLibsshNeverImplemented) {
  // libssh negotiates neither MD5 nor truncated MACs, whatever its build.
  for (std::string_view name : {"hmac-md5", "hmac-md5-96", "hmac-sha1-96"}) {
    const auto& list = SupportedAlgorithms(AlgorithmKind::kMac);
    EXPECT_EQ(std::find(list.begin(), list.end(), name), list.end()) << name;
  }
  EXPECT_LT(SupportedAlgorithms(AlgorithmKind::kMac).size(),
            KnownAlgorithms(AlgorithmKind::kMac).size());
}

TEST(SupportedAlgorithmsTest, IsComputedOnce) {
  for (AlgorithmKind kind : kAlgorithmKinds) {
    EXPECT_EQ(&SupportedAlgorithms(kind), &SupportedAlgorithms(kind));
  }
  EXPECT_NE(&SupportedAlgorithms(AlgorithmKind::kKex), &SupportedAlgorithms(AlgorithmKind::kMac));
}

TEST(IsSupportedAlgorithmTest, AgreesWithSupportedAlgorithms) {
  for (AlgorithmKind kind : kAlgorithmKinds) {
    const auto& supported = SupportedAlgorithms(kind);
    for (std::string_view name : KnownAlgorithms(kind)) {
      const bool in_list = std::find(supported.begin(), supported.end(), name) != supported.end();
      EXPECT_EQ(IsSupportedAlgorithm(kind, name), in_list) << AlgorithmKindKey(kind) << " " << name;
    }
  }
}

TEST(IsSupportedAlgorithmTest, RejectsUnknownNamesAndWrongKinds) {
  EXPECT_FALSE(IsSupportedAlgorithm(AlgorithmKind::kKex, ""));
  EXPECT_FALSE(IsSupportedAlgorithm(AlgorithmKind::kKex, "foo@example.com"));
  EXPECT_FALSE(IsSupportedAlgorithm(AlgorithmKind::kKex, "ext-info-c"));
  EXPECT_FALSE(IsSupportedAlgorithm(AlgorithmKind::kHostkey, "hmac-sha2-256"));
  EXPECT_FALSE(IsSupportedAlgorithm(AlgorithmKind::kCipher, "curve25519-sha256"));
  EXPECT_TRUE(IsSupportedAlgorithm(AlgorithmKind::kMac, "hmac-sha2-256"));
}

TEST(LibsshVersionTest, IsDottedNumbersOnly) {
  EXPECT_THAT(std::string(LibsshVersion()), ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
}

// ---------------------------------------------------------------------------------------------
// EffectiveAlgorithms

TEST(EffectiveAlgorithmsTest, DefaultsAreEmptyForEveryKind) {
  const config::Algorithms algorithms;
  for (AlgorithmKind kind : kAlgorithmKinds) {
    EXPECT_THAT(EffectiveAlgorithms(algorithms, kind), IsEmpty()) << AlgorithmKindKey(kind);
  }
}

TEST(EffectiveAlgorithmsTest, ExplicitListsMapToTheirKinds) {
  config::Algorithms algorithms;
  algorithms.kex = {"k1", "k2"};
  algorithms.hostkeys = {"h"};
  algorithms.ciphers = {"c"};
  algorithms.macs = {"m"};
  algorithms.pubkeys = {"p1", "p2"};
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kKex), ElementsAre("k1", "k2"));
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kHostkey), ElementsAre("h"));
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kCipher), ElementsAre("c"));
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kMac), ElementsAre("m"));
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kPubkey), ElementsAre("p1", "p2"));
}

TEST(EffectiveAlgorithmsTest, OneExplicitListLeavesTheOthersEmpty) {
  config::Algorithms algorithms;
  algorithms.pubkeys = {"ssh-rsa"};
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kPubkey), ElementsAre("ssh-rsa"));
  for (AlgorithmKind kind : {AlgorithmKind::kKex, AlgorithmKind::kHostkey, AlgorithmKind::kCipher,
                             AlgorithmKind::kMac}) {
    EXPECT_THAT(EffectiveAlgorithms(algorithms, kind), IsEmpty()) << AlgorithmKindKey(kind);
  }
}

TEST(EffectiveAlgorithmsTest, LegacyGivesEverySupportedAlgorithm) {
  config::Algorithms algorithms;
  algorithms.legacy = true;
  for (AlgorithmKind kind : kAlgorithmKinds) {
    const auto effective = EffectiveAlgorithms(algorithms, kind);
    EXPECT_EQ(effective, SupportedAlgorithms(kind)) << AlgorithmKindKey(kind);
    EXPECT_FALSE(effective.empty()) << AlgorithmKindKey(kind);
  }
}

TEST(EffectiveAlgorithmsTest, ExplicitListWinsOverLegacy) {
  config::Algorithms algorithms;
  algorithms.legacy = true;
  algorithms.kex = {"diffie-hellman-group14-sha1"};
  algorithms.pubkeys = {"ssh-rsa"};
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kKex),
              ElementsAre("diffie-hellman-group14-sha1"));
  EXPECT_THAT(EffectiveAlgorithms(algorithms, AlgorithmKind::kPubkey), ElementsAre("ssh-rsa"));
  EXPECT_EQ(EffectiveAlgorithms(algorithms, AlgorithmKind::kHostkey),
            SupportedAlgorithms(AlgorithmKind::kHostkey));
  EXPECT_EQ(EffectiveAlgorithms(algorithms, AlgorithmKind::kCipher),
            SupportedAlgorithms(AlgorithmKind::kCipher));
  EXPECT_EQ(EffectiveAlgorithms(algorithms, AlgorithmKind::kMac),
            SupportedAlgorithms(AlgorithmKind::kMac));
}

// ---------------------------------------------------------------------------------------------
// ParseKexInit

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void PutString(std::vector<std::uint8_t>& out, std::string_view s) {
  PutU32(out, static_cast<std::uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

// The name-lists of an SSH_MSG_KEXINIT in RFC 4253 §7.1 order; defaults are what an OpenSSH 4.3
// server (RHEL 5) offers, with different server-to-client lists so direction mix-ups show.
struct KexInit {
  std::uint8_t message = 20;
  std::string kex =
      "diffie-hellman-group-exchange-sha1,diffie-hellman-group14-sha1,diffie-hellman-group1-sha1";
  std::string hostkeys = "ssh-rsa,ssh-dss";
  std::string ciphers_c2s = "aes128-cbc,3des-cbc,blowfish-cbc,aes128-ctr,arcfour";
  std::string ciphers_s2c = "aes256-ctr";
  std::string macs_c2s = "hmac-md5,hmac-sha1,hmac-sha1-96,hmac-md5-96";
  std::string macs_s2c = "hmac-sha2-512";
  std::string compression_c2s = "none,zlib@openssh.com";
  std::string compression_s2c = "none";
  std::string languages_c2s;
  std::string languages_s2c;

  std::vector<std::uint8_t> Payload() const {
    std::vector<std::uint8_t> out;
    out.push_back(message);
    for (std::uint8_t i = 0; i < 16; ++i) out.push_back(static_cast<std::uint8_t>(0xa0 + i));
    for (const std::string* list :
         {&kex, &hostkeys, &ciphers_c2s, &ciphers_s2c, &macs_c2s, &macs_s2c, &compression_c2s,
          &compression_s2c, &languages_c2s, &languages_s2c}) {
      PutString(out, *list);
    }
    out.push_back(0);  // first_kex_packet_follows
    PutU32(out, 0);    // reserved
    return out;
  }
  // Bytes up to and including the client-to-server MAC list.
  std::size_t ThroughMacsC2s() const {
    return 1 + 16 + 5 * 4 + kex.size() + hostkeys.size() + ciphers_c2s.size() + ciphers_s2c.size() +
           macs_c2s.size();
  }
};

TEST(ParseKexInitTest, ParsesTheClientToServerLists) {
  const KexInit kexinit;
  const auto payload = kexinit.Payload();
  const auto offer = ParseKexInit(payload);
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->banner, "");
  EXPECT_THAT(offer->kex, ElementsAre("diffie-hellman-group-exchange-sha1",
                                      "diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1"));
  EXPECT_THAT(offer->hostkeys, ElementsAre("ssh-rsa", "ssh-dss"));
  EXPECT_THAT(offer->ciphers,
              ElementsAre("aes128-cbc", "3des-cbc", "blowfish-cbc", "aes128-ctr", "arcfour"));
  EXPECT_THAT(offer->macs, ElementsAre("hmac-md5", "hmac-sha1", "hmac-sha1-96", "hmac-md5-96"));
}

TEST(ParseKexInitTest, KeepsPseudoAlgorithmsInKex) {
  KexInit kexinit;
  kexinit.kex = "curve25519-sha256,ext-info-s,kex-strict-s-v00@openssh.com";
  const auto offer = ParseKexInit(kexinit.Payload());
  ASSERT_TRUE(offer.has_value());
  EXPECT_THAT(offer->kex,
              ElementsAre("curve25519-sha256", "ext-info-s", "kex-strict-s-v00@openssh.com"));
}

TEST(ParseKexInitTest, EmptyNameListsAreEmpty) {
  KexInit kexinit;
  kexinit.kex = kexinit.hostkeys = kexinit.ciphers_c2s = kexinit.macs_c2s = "";
  const auto offer = ParseKexInit(kexinit.Payload());
  ASSERT_TRUE(offer.has_value());
  EXPECT_THAT(offer->kex, IsEmpty());
  EXPECT_THAT(offer->hostkeys, IsEmpty());
  EXPECT_THAT(offer->ciphers, IsEmpty());
  EXPECT_THAT(offer->macs, IsEmpty());
}

TEST(ParseKexInitTest, OtherMessageNumbersAreNullopt) {
  for (int message : {0, 1, 19, 21, 30, 94, 255}) {
    KexInit kexinit;
    kexinit.message = static_cast<std::uint8_t>(message);
    EXPECT_EQ(ParseKexInit(kexinit.Payload()), std::nullopt) << message;
  }
  EXPECT_EQ(ParseKexInit({}), std::nullopt);
}

TEST(ParseKexInitTest, TruncatedBeforeTheListsItReadsIsNullopt) {
  const KexInit kexinit;
  const auto payload = kexinit.Payload();
  const std::size_t through = kexinit.ThroughMacsC2s();
  ASSERT_LT(through, payload.size());
  for (std::size_t n = 0; n < through; ++n) {
    EXPECT_EQ(ParseKexInit(std::span(payload).first(n)), std::nullopt) << "prefix " << n;
  }
}

// BUG (see the report): the header promises nullopt for a truncated KEXINIT, but the parser stops
// after the client-to-server MAC list, so a payload cut anywhere in the last five name-lists, the
// boolean or the reserved uint32 still parses. Enable when fixed.
TEST(ParseKexInitTest, EveryTruncationIsNullopt) {
  const auto payload = KexInit{}.Payload();
  std::vector<std::size_t> parsed;
  for (std::size_t n = 0; n < payload.size(); ++n) {
    if (ParseKexInit(std::span(payload).first(n)).has_value()) parsed.push_back(n);
  }
  EXPECT_THAT(parsed, IsEmpty()) << "of a " << payload.size() << "-byte payload";
}

TEST(ParseKexInitTest, OversizedLengthIsNullopt) {
  for (std::uint32_t length : {0xffffffffU, 0x80000000U, 0x10000U, 1000U}) {
    std::vector<std::uint8_t> payload = {20};
    payload.insert(payload.end(), 16, 0);
    PutString(payload, "curve25519-sha256");
    PutU32(payload, length);  // hostkeys: claims more than there is
    payload.insert(payload.end(), 64, 'a');
    EXPECT_EQ(ParseKexInit(payload), std::nullopt) << length;
  }
}

// ---------------------------------------------------------------------------------------------
// WeakInOffer / FormatWeakAlgorithms

TEST(WeakInOfferTest, ListsWeakNamesInListOrderWithReasons) {
  ServerOffer offer;
  offer.kex = {"curve25519-sha256", "diffie-hellman-group14-sha1", "ext-info-s",
               "diffie-hellman-group1-sha1", "kex-strict-s-v00@openssh.com"};
  offer.hostkeys = {"rsa-sha2-512", "ssh-rsa", "ssh-ed25519", "ssh-dss"};
  offer.ciphers = {"aes128-ctr", "3des-cbc", "aes128-cbc", "chacha20-poly1305@openssh.com"};
  offer.macs = {"hmac-sha2-256", "hmac-md5", "hmac-sha1", "hmac-sha1-96"};
  const auto weak = WeakInOffer(offer);
  auto w = [](AlgorithmKind kind, std::string name) {
    const std::string reason(WeakReason(kind, name));
    return WeakAlgorithm{kind, std::move(name), reason};
  };
  EXPECT_THAT(
      weak,
      ElementsAre(w(AlgorithmKind::kKex, "diffie-hellman-group14-sha1"),
                  w(AlgorithmKind::kKex, "diffie-hellman-group1-sha1"),
                  w(AlgorithmKind::kHostkey, "ssh-rsa"), w(AlgorithmKind::kHostkey, "ssh-dss"),
                  w(AlgorithmKind::kCipher, "3des-cbc"), w(AlgorithmKind::kCipher, "aes128-cbc"),
                  w(AlgorithmKind::kMac, "hmac-md5"), w(AlgorithmKind::kMac, "hmac-sha1-96")));
  for (const auto& entry : weak) EXPECT_FALSE(entry.reason.empty()) << entry.name;
  EXPECT_EQ(FormatWeakAlgorithms(weak),
            "kex:diffie-hellman-group14-sha1,kex:diffie-hellman-group1-sha1,hostkeys:ssh-rsa,"
            "hostkeys:ssh-dss,ciphers:3des-cbc,ciphers:aes128-cbc,macs:hmac-md5,macs:hmac-sha1-96");
}

TEST(WeakInOfferTest, SkipsPseudoAlgorithmsEvenWhenTheyLookWeak) {
  ServerOffer offer;
  // Made-up pseudo-algorithm names that WeakReason alone would call SHA-1.
  offer.kex = {"ext-info-s-sha1", "kex-strict-s-sha1", "diffie-hellman-group1-sha1"};
  ASSERT_NE(WeakReason(AlgorithmKind::kKex, "ext-info-s-sha1"), "");
  const auto weak = WeakInOffer(offer);
  ASSERT_EQ(weak.size(), 1U);
  EXPECT_EQ(weak[0].name, "diffie-hellman-group1-sha1");
}

TEST(WeakInOfferTest, ModernOfferHasNone) {
  ServerOffer offer;
  offer.kex = {"sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "ext-info-s",
               "kex-strict-s-v00@openssh.com"};
  offer.hostkeys = {"rsa-sha2-512", "rsa-sha2-256", "ecdsa-sha2-nistp256", "ssh-ed25519"};
  offer.ciphers = {"chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-gcm@openssh.com"};
  offer.macs = {"umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha1"};
  EXPECT_THAT(WeakInOffer(offer), IsEmpty());
  EXPECT_THAT(WeakInOffer(ServerOffer{}), IsEmpty());
}

TEST(WeakInOfferTest, WorksOnAParsedKexInit) {
  const auto offer = ParseKexInit(KexInit{}.Payload());
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(FormatWeakAlgorithms(WeakInOffer(*offer)),
            "kex:diffie-hellman-group-exchange-sha1,kex:diffie-hellman-group14-sha1,"
            "kex:diffie-hellman-group1-sha1,hostkeys:ssh-rsa,hostkeys:ssh-dss,"
            "ciphers:aes128-cbc,ciphers:3des-cbc,ciphers:blowfish-cbc,ciphers:arcfour,"
            "macs:hmac-md5,macs:hmac-sha1-96,macs:hmac-md5-96");
}

TEST(FormatWeakAlgorithmsTest, FormatsKeyAndNameInOrder) {
  EXPECT_EQ(FormatWeakAlgorithms({}), "");
  EXPECT_EQ(FormatWeakAlgorithms({{AlgorithmKind::kKex, "a", "r"}}), "kex:a");
  EXPECT_EQ(
      FormatWeakAlgorithms({{AlgorithmKind::kKex, "a", "r"}, {AlgorithmKind::kCipher, "b", "s"}}),
      "kex:a,ciphers:b");
  EXPECT_EQ(FormatWeakAlgorithms({{AlgorithmKind::kPubkey, "ssh-rsa", "SHA-1"},
                                  {AlgorithmKind::kMac, "hmac-md5", "MD5"},
                                  {AlgorithmKind::kHostkey, "ssh-dss", "DSA"}}),
            "pubkeys:ssh-rsa,macs:hmac-md5,hostkeys:ssh-dss");
}

// ---------------------------------------------------------------------------------------------
// RsaKeyBits

// Generated once with `ssh-keygen -t rsa -b <bits> -N '' -C ''` (OpenSSH 9.2p1).
constexpr std::string_view kRsa1024 =
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDQKSFRTo3lpps44tgG+"
    "EdGtVTmIR2uKtLktcfKeGCYh7TgfwiPhgWJy05HP3ZT1qWj"
    "m3GhR9Bs3WfxFr1YSe3zSB4fgb+XTGstdyoNG7UDAob2Kr2iWGUB3xeK+XgM4Mh5xAq/"
    "2bOHeRBGki8qSiLcfjHJRSBDVzU9"
    "mSRpSAXHow==";
constexpr std::string_view kRsa2048 =
    "AAAAB3NzaC1yc2EAAAADAQABAAABAQDGUoOt8ZbnVqLIkdydl91JJof3VZXAskVvjLdpwfbH0fhYHALu3VZK/"
    "GgLQrKZVQHg"
    "+z760iFx2pC3B/Y3NrWx5GXagiYeHwPLaA7wzQgXJmZSQfAn8cW8yd6EW2hSztZmak0ZevAW/"
    "K+2cLZCtNFzGzzCifeZ6fIs"
    "PpkrTwcalyBr64DT5R0EqLT7DP2tNvMf5CPEXDP8k5DtmlFZiek1aCGBIgyRfV8WclTzf7Ylkh0dsADQU4fk1SPI4AmJBH"
    "qc"
    "ezKlESg23/BHNR+pSBVjdibDAUi10dYyhx7YHPOwH6tCxuEpPw53BDj9H6Ip+U4IBYQ4+IImAyBl5KGbq/yh";
constexpr std::string_view kRsa3072 =
    "AAAAB3NzaC1yc2EAAAADAQABAAABgQDk4HHxyL1V+7DVlf51gZk9ETmlPy+Hx+"
    "GwHxkkPoZCGV0oPPrAJ3rk6xGDiJZhOpii"
    "UCqqZDsuC1dAeN0xeus5epWrkcbq2z4XRk1Vkz7bPcN4FM1Zcr8Q12kzpT0eA90AUsr1Ik9vsQ0CyC1q8CiLIk2DbW0nG/"
    "Ue"
    "rqjjvv9B5cESotWsohAO9JMw9U7HpR1nlHsVQRbCBriYEp3Hw54i6uPzHowct4nrs3WlbtkTCqDmsGW6g+jkgD/"
    "3okU35tFE"
    "iZcQfvFyQfP4gRgmlFH+alubl7iTkpMigkSxMupcibO0gX1kcT3AV6lFAc4A/"
    "Rd9UMbiAL2BF0leb8xYqX6CvKpN7y5WkndH"
    "M3fCOPUBKGlbHZYgZmRVHgPID98kjCNeQTQ/"
    "M0b8wNyXVTY0XUvyA0BpssL1PYbRSUOGuAyWWrBaXdIGgN1Yo6u5z2a2F2u5"
    "bjlt/4F0xQr6dDw90rfJu+Fr+0Yx9exz7tDpRx5TDIgknUjtGIiKMeGpM6IdBqc=";
constexpr std::string_view kEd25519 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIGe62sIUUei2bQAAPTsjqr70m5UKlfhKGyb5aKCrJr8w";
constexpr std::string_view kEcdsa256 =
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMM+LnQmDn/oss/"
    "dG1KjbndPcwOedkDpgcB2YzBRbWoT"
    "N1ASIXV4ZipcZrrprPL0Rt82r6AzLH5OrKkcA4IKHm8=";

std::string Base64(const std::vector<std::uint8_t>& bytes) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i + 1 == bytes.size()) {
    const std::uint32_t v = bytes[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// An "<type>" key blob with exponent 65537 and modulus bytes `n` (an mpint body, as given).
std::string KeyBlob(std::string_view type, const std::vector<std::uint8_t>& n) {
  std::vector<std::uint8_t> blob;
  PutString(blob, type);
  PutU32(blob, 3);
  blob.insert(blob.end(), {0x01, 0x00, 0x01});
  PutU32(blob, static_cast<std::uint32_t>(n.size()));
  blob.insert(blob.end(), n.begin(), n.end());
  return Base64(blob);
}

TEST(RsaKeyBitsTest, RealKeys) {
  EXPECT_THAT(RsaKeyBits(kRsa1024), Optional(1024U));
  EXPECT_THAT(RsaKeyBits(kRsa2048), Optional(2048U));
  EXPECT_THAT(RsaKeyBits(kRsa3072), Optional(3072U));
}

TEST(RsaKeyBitsTest, TestBase64EncoderRoundTripsARealKeyBlob) {
  // Guards the helper the synthetic-key tests rely on.
  std::vector<std::uint8_t> n(255, 0x5a);
  n.insert(n.begin(), {0x00, 0xc6});
  // 24 bytes = 32 characters: type, exponent, modulus length 257, sign byte, top byte 0xc6.
  EXPECT_EQ(KeyBlob("ssh-rsa", n).substr(0, 32), kRsa2048.substr(0, 32));
}

TEST(RsaKeyBitsTest, CountsBitsOfTheTopByteAndSkipsTheSignByte) {
  std::vector<std::uint8_t> n(128, 0xff);
  n.insert(n.begin(), 0x00);  // sign byte: the top bit of 0xff is set
  EXPECT_THAT(RsaKeyBits(KeyBlob("ssh-rsa", n)), Optional(1024U));
  n[1] = 0x01;
  EXPECT_THAT(RsaKeyBits(KeyBlob("ssh-rsa", n)), Optional(1017U));
  n[1] = 0x7f;
  EXPECT_THAT(RsaKeyBits(KeyBlob("ssh-rsa", n)), Optional(1023U));
  n.erase(n.begin());  // no sign byte
  EXPECT_THAT(RsaKeyBits(KeyBlob("ssh-rsa", n)), Optional(1023U));
  EXPECT_THAT(RsaKeyBits(KeyBlob("ssh-rsa", {0x01})), Optional(1U));
  EXPECT_THAT(RsaKeyBits(KeyBlob("ssh-rsa", {0x00, 0x00, 0x80, 0x00})), Optional(16U));
}

TEST(RsaKeyBitsTest, ZeroOrEmptyModulusIsNullopt) {
  EXPECT_EQ(RsaKeyBits(KeyBlob("ssh-rsa", {})), std::nullopt);
  EXPECT_EQ(RsaKeyBits(KeyBlob("ssh-rsa", {0x00})), std::nullopt);
  EXPECT_EQ(RsaKeyBits(KeyBlob("ssh-rsa", {0x00, 0x00, 0x00})), std::nullopt);
}

TEST(RsaKeyBitsTest, OtherKeyTypesAreNullopt) {
  EXPECT_EQ(RsaKeyBits(kEd25519), std::nullopt);
  EXPECT_EQ(RsaKeyBits(kEcdsa256), std::nullopt);
  const std::vector<std::uint8_t> n(256, 0xc0);
  EXPECT_EQ(RsaKeyBits(KeyBlob("rsa-sha2-256", n)), std::nullopt);
  EXPECT_EQ(RsaKeyBits(KeyBlob("ssh-dss", n)), std::nullopt);
  EXPECT_THAT(RsaKeyBits(KeyBlob("ssh-rsa", n)), Optional(2048U)) << "control";
}

TEST(RsaKeyBitsTest, GarbageIsNullopt) {
  for (std::string_view text : {"", "=", "AAAA", "!!!!", "not base64 at all", "ssh-rsa",
                                "AAAAB3NzaC1yc2E", "AAAAB3NzaC1yc2EA*AADAQAB"}) {
    EXPECT_EQ(RsaKeyBits(text), std::nullopt) << text;
  }
}

TEST(RsaKeyBitsTest, EveryTruncationOfARealKeyIsNullopt) {
  // kRsa2048 has no padding: every strict prefix loses at least one modulus byte.
  for (std::size_t n = 0; n < kRsa2048.size(); ++n) {
    EXPECT_EQ(RsaKeyBits(kRsa2048.substr(0, n)), std::nullopt) << "prefix " << n;
  }
}

TEST(RsaKeyBitsTest, ModulusLengthBeyondTheBlobIsNullopt) {
  std::vector<std::uint8_t> blob;
  PutString(blob, "ssh-rsa");
  PutString(blob, std::string_view("\x01\x00\x01", 3));
  PutU32(blob, 0xffffffffU);
  blob.insert(blob.end(), 16, 0xab);
  EXPECT_EQ(RsaKeyBits(Base64(blob)), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// ParseBannerVersion / BannerKnowsRsaSha2

TEST(ParseBannerVersionTest, OpenSshAndDropbear) {
  struct Case {
    std::string_view banner;
    std::string_view software;
    unsigned major;
    unsigned minor;
  };
  for (const Case& c : {
           Case{"SSH-2.0-OpenSSH_4.3p2", "OpenSSH", 4, 3},
           Case{"SSH-2.0-OpenSSH_4.3", "OpenSSH", 4, 3},
           Case{"SSH-2.0-OpenSSH_7.2p2 Ubuntu-4ubuntu2.10", "OpenSSH", 7, 2},
           Case{"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n", "OpenSSH", 8, 9},
           Case{"SSH-2.0-OpenSSH_10.0", "OpenSSH", 10, 0},
           Case{"SSH-1.99-OpenSSH_3.9p1", "OpenSSH", 3, 9},
           Case{"SSH-2.0-dropbear_0.52", "dropbear", 0, 52},
           Case{"SSH-2.0-dropbear_2022.83", "dropbear", 2022, 83},
           Case{"SSH-2.0-dropbear_2019.78", "dropbear", 2019, 78},
       }) {
    const BannerVersion v = ParseBannerVersion(c.banner);
    EXPECT_EQ(v.software, c.software) << c.banner;
    EXPECT_EQ(v.major, c.major) << c.banner;
    EXPECT_EQ(v.minor, c.minor) << c.banner;
  }
}

TEST(ParseBannerVersionTest, OtherSoftwareAndGarbageAreEmpty) {
  for (std::string_view banner : {
           "",
           "garbage",
           "SSH-",
           "SSH-2.0",
           "SSH-2.0-",
           "ssh-2.0-OpenSSH_7.4",
           "HTTP/1.1 400 Bad Request",
           "SSH-2.0-libssh_0.10.6",
           "SSH-2.0-OpenSSH",
           "SSH-2.0-OpenSSH_",
           "SSH-2.0-OpenSSH_7",
           "SSH-2.0-OpenSSH_7.",
           "SSH-2.0-OpenSSH_7p1",
           "SSH-2.0-OpenSSH_x.y",
           "SSH-2.0-OpenSSH_99999999999.1",
           "SSH-2.0-dropbear",
           "SSH-2.0-dropbear_",
           "SSH-2.0-OpenSSH_for_Windows_8.1",
       }) {
    const BannerVersion v = ParseBannerVersion(banner);
    EXPECT_EQ(v.software, "") << banner;
    EXPECT_EQ(v.major, 0U) << banner;
    EXPECT_EQ(v.minor, 0U) << banner;
  }
}

TEST(BannerKnowsRsaSha2Test, OpenSshFrom72) {
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_4.3"), Optional(false));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2"), Optional(false));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_7.1"), Optional(false));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_7.2p2 Ubuntu"), Optional(true));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_7.4"), Optional(true));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_8.0"), Optional(true));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_10.0"), Optional(true));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-1.99-OpenSSH_3.9p1"), Optional(false));
}

TEST(BannerKnowsRsaSha2Test, DropbearFrom202079) {
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-dropbear_0.52"), Optional(false));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-dropbear_2019.78"), Optional(false));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-dropbear_2020.78"), Optional(false));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-dropbear_2020.79"), Optional(true));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-dropbear_2020.81"), Optional(true));
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-dropbear_2022.83"), Optional(true));
}

// Solaris 10's SunSSH forked OpenSSH 3.x and never gained rsa-sha2.
TEST(BannerKnowsRsaSha2Test, SunSshNeverKnowsRsaSha2) {
  const BannerVersion v = ParseBannerVersion("SSH-2.0-Sun_SSH_1.1.4");
  EXPECT_EQ(v.software, "Sun_SSH");
  EXPECT_EQ(v.major, 1U);
  EXPECT_EQ(v.minor, 1U);
  EXPECT_THAT(BannerKnowsRsaSha2("SSH-2.0-Sun_SSH_1.1.4"), Optional(false));
}

TEST(BannerKnowsRsaSha2Test, UnknownSoftwareIsNullopt) {
  for (std::string_view banner :
       {"SSH-2.0-libssh_0.10.6", "", "garbage", "SSH-2.0-OpenSSH_7", "SSH-2.0-dropbear_"}) {
    EXPECT_EQ(BannerKnowsRsaSha2(banner), std::nullopt) << banner;
  }
}

// Win32-OpenSSH's banner puts "for_Windows_" before the version; the parser does not read it as
// OpenSSH, so the answer is "unknown" rather than true (8.1 does know rsa-sha2).
TEST(BannerKnowsRsaSha2Test, OpenSshForWindowsIsUnknown) {
  EXPECT_EQ(ParseBannerVersion("SSH-2.0-OpenSSH_for_Windows_8.1").software, "");
  EXPECT_EQ(BannerKnowsRsaSha2("SSH-2.0-OpenSSH_for_Windows_8.1"), std::nullopt);
}

// NegotiationFailureFromOffer: the offers below are the KEXINIT lists the test sshd sends when
// configured like each system (tests/support: Rhel5() and the modern default).

ServerOffer Rhel5Offer() {
  ServerOffer offer;
  offer.kex = {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
               "kex-strict-s-v00@openssh.com"};
  offer.hostkeys = {"ssh-rsa"};
  offer.ciphers = {"aes128-cbc", "3des-cbc"};
  offer.macs = {"hmac-sha1", "hmac-md5"};
  return offer;
}

TEST(NegotiationFailureFromOfferTest, Rhel5OfferFailsOnKexWithLibsshDefaults) {
  const auto failure = NegotiationFailureFromOffer(Rhel5Offer(), config::Algorithms{});
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->kind, AlgorithmKind::kKex);
  EXPECT_THAT(failure->server_offer,
              ElementsAre("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"));
  EXPECT_THAT(NegotiationDetail(*failure),
              HasSubstr("set algorithms: {kex: [diffie-hellman-group14-sha1]}"));
}

TEST(NegotiationFailureFromOfferTest, AConfiguredKexMovesTheFailureToTheNextKind) {
  config::Algorithms algorithms;
  algorithms.kex = {"diffie-hellman-group14-sha1"};
  auto failure = NegotiationFailureFromOffer(Rhel5Offer(), algorithms);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->kind, AlgorithmKind::kHostkey);
  algorithms.hostkeys = {"ssh-rsa"};
  failure = NegotiationFailureFromOffer(Rhel5Offer(), algorithms);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->kind, AlgorithmKind::kCipher);
  algorithms.ciphers = {"aes128-cbc"};
  failure = NegotiationFailureFromOffer(Rhel5Offer(), algorithms);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->kind, AlgorithmKind::kMac) << "a CBC cipher needs a MAC in common";
  algorithms.macs = {"hmac-sha1"};
  EXPECT_FALSE(NegotiationFailureFromOffer(Rhel5Offer(), algorithms).has_value());
}

TEST(NegotiationFailureFromOfferTest, LegacyMatchesTheRhel5Offer) {
  config::Algorithms algorithms;
  algorithms.legacy = true;
  EXPECT_FALSE(NegotiationFailureFromOffer(Rhel5Offer(), algorithms).has_value());
}

TEST(NegotiationFailureFromOfferTest, ModernOfferHasNoFailureAndAeadNeedsNoMac) {
  ServerOffer offer;
  offer.kex = {"curve25519-sha256", "diffie-hellman-group14-sha256"};
  offer.hostkeys = {"ssh-ed25519"};
  offer.ciphers = {"chacha20-poly1305@openssh.com", "aes128-ctr"};
  offer.macs = {"hmac-sha2-256"};
  EXPECT_FALSE(NegotiationFailureFromOffer(offer, config::Algorithms{}).has_value());
  offer.macs = {"hmac-md5"};  // chacha20-poly1305 wins the cipher: the MAC list is not used
  EXPECT_FALSE(NegotiationFailureFromOffer(offer, config::Algorithms{}).has_value());
  offer.ciphers = {"aes128-ctr"};
  const auto failure = NegotiationFailureFromOffer(offer, config::Algorithms{});
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->kind, AlgorithmKind::kMac);
}

}  // namespace
}  // namespace fleetps::agent
