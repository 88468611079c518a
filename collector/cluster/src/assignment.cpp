#include "fleetps/collector/cluster/assignment.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include <openssl/evp.h>

namespace fleetps::collector::cluster {

std::uint64_t StableHash(std::string_view text) noexcept {
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a offset basis
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;  // FNV prime
  }
  // FNV alone clusters on short, similar names (web01, web02); the splitmix64 finaliser spreads
  // every input bit over the whole word.
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ULL;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebULL;
  hash ^= hash >> 31;
  return hash;
}

std::uint32_t BucketOf(std::string_view host, std::uint32_t buckets) noexcept {
  return static_cast<std::uint32_t>(StableHash(host) % buckets);
}

double RendezvousScore(const MemberSpec& member, std::uint32_t bucket) noexcept {
  std::string key = member.name;
  key += '/';
  key += std::to_string(bucket);
  // 53 random bits mapped into the open interval (0, 1), so the log is finite and negative.
  const double u = (static_cast<double>(StableHash(key) >> 11) + 0.5) / 9007199254740992.0;
  return -static_cast<double>(member.weight) / std::log(u);
}

namespace {

bool Eligible(const MemberSpec& member, std::string_view zone) {
  return member.weight > 0 && member.zone == zone;
}

// True when a ranks before b for the bucket (higher score; equal scores: smaller name).
bool Before(const MemberSpec& a, double score_a, const MemberSpec& b, double score_b) {
  if (score_a != score_b) return score_a > score_b;
  return a.name < b.name;
}

}  // namespace

std::optional<std::size_t> DesiredOwner(std::span<const MemberSpec> members, std::uint32_t bucket,
                                        std::string_view zone) noexcept {
  std::optional<std::size_t> best;
  double best_score = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (!Eligible(members[i], zone)) continue;
    const double score = RendezvousScore(members[i], bucket);
    if (!best || Before(members[i], score, members[*best], best_score)) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

std::vector<std::size_t> RankedOwners(std::span<const MemberSpec> members, std::uint32_t bucket,
                                      std::size_t count, std::string_view zone) {
  std::vector<std::pair<double, std::size_t>> scored;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (Eligible(members[i], zone)) scored.emplace_back(RendezvousScore(members[i], bucket), i);
  }
  std::sort(scored.begin(), scored.end(), [&members](const auto& a, const auto& b) {
    return Before(members[a.second], a.first, members[b.second], b.first);
  });
  std::vector<std::size_t> ranked;
  for (std::size_t i = 0; i < scored.size() && i < count; ++i) ranked.push_back(scored[i].second);
  return ranked;
}

std::optional<std::uint64_t> HashMod(std::string_view text, std::uint64_t modulus) noexcept {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_md5(), nullptr) != 1 ||
      length != 16) {
    return std::nullopt;
  }
  std::uint64_t tail = 0;
  for (unsigned int i = 8; i < 16; ++i) tail = (tail << 8) | digest[i];
  return tail % modulus;
}

}  // namespace fleetps::collector::cluster
