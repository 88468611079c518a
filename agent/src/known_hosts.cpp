#include "fleetps/agent/known_hosts.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>

#include <libssh/libssh.h>

#include "fleetps/agent/errors.hpp"

namespace fleetps::agent {
namespace {

enum class Marker { kNone, kRevoked, kCertAuthority };

// OpenSSH's match_pattern: '*' any run, '?' one character.
bool GlobMatch(std::string_view s, std::string_view p) {
  std::size_t si = 0, pi = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++si;
      ++pi;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// True when `target` matches the comma-separated list and no negated pattern matches it.
bool MatchHostList(std::string_view list, std::string_view target) {
  bool matched = false;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view pattern = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    const bool negated = !pattern.empty() && pattern[0] == '!';
    if (negated) pattern.remove_prefix(1);
    if (pattern.empty()) continue;
    if (GlobMatch(target, pattern)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

std::string_view NextToken(std::string_view& line) {
  const auto start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  const auto end = line.find_first_of(" \t");
  std::string_view token = line.substr(0, end);
  line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
  return token;
}

boost::system::result<std::string> ReadWholeFile(const std::string& path, bool& exists) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    exists = false;
    if (errno == ENOENT) return std::string{};
    return make_error_code(LocalFailure(errno));
  }
  exists = true;
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return make_error_code(Errc::kInternal);
  return std::move(buf).str();
}

// libssh 0.10's DEFAULT_HOSTKEYS (src/kex.c), what it offers when SSH_OPTIONS_HOSTKEYS is not
// set; libssh has no getter for it.
constexpr std::array<std::string_view, 8> kLibsshDefaultHostKeyAlgorithms = {
    "ssh-ed25519",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp256",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
};

// Whether a host key of `type` can sign with `algorithm` (libssh's
// ssh_known_host_sigs_from_hostkey_type: only RSA keys have several signature algorithms).
bool SignsWith(std::string_view type, std::string_view algorithm) {
  if (type == "ssh-rsa") {
    return algorithm == "rsa-sha2-512" || algorithm == "rsa-sha2-256" || algorithm == "ssh-rsa";
  }
  return type == algorithm;
}

}  // namespace

std::vector<std::string> PreferRecordedHostKeyTypes(const std::vector<std::string>& recorded_types,
                                                    const std::vector<std::string>& allowed) {
  std::vector<std::string> offer = allowed;
  if (offer.empty()) {
    offer.assign(kLibsshDefaultHostKeyAlgorithms.begin(), kLibsshDefaultHostKeyAlgorithms.end());
  }
  const auto recorded = [&](const std::string& algorithm) {
    return std::any_of(recorded_types.begin(), recorded_types.end(),
                       [&](const std::string& type) { return SignsWith(type, algorithm); });
  };
  // Same order as libssh's own known_hosts preference (ssh_client_select_hostkeys).
  const auto rest = std::stable_partition(offer.begin(), offer.end(), recorded);
  if (rest == offer.begin()) return {};
  return offer;
}

struct KnownHostsFile::Entry {
  Marker marker = Marker::kNone;
  std::string hosts;  // comma-separated patterns
  HostKey key;
};

struct KnownHostsFile::Snapshot {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  timespec mtime{};
  std::vector<Entry> entries;
  // Lines whose names are all literal, by name; only the others (globs, negations) are matched
  // one by one, so a check against a fleet-sized file is a hash lookup instead of a scan (90 µs
  // per check with 10,001 lines, and a connect checks twice). The views point into `entries`,
  // which Parse alone fills; moving a Snapshot keeps the elements where they are.
  std::unordered_multimap<std::string_view, std::size_t> by_name;
  std::vector<std::size_t> patterned;

  Snapshot() = default;
  Snapshot(Snapshot&&) = default;
  Snapshot& operator=(Snapshot&&) = default;
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  static Snapshot Parse(std::string_view text) {
    Snapshot snap;
    while (!text.empty()) {
      const auto nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      std::string_view first = NextToken(line);
      if (first.empty() || first[0] == '#') continue;
      Entry e;
      if (first[0] == '@') {
        if (first == "@revoked") {
          e.marker = Marker::kRevoked;
        } else {
          e.marker = Marker::kCertAuthority;
        }
        first = NextToken(line);
      }
      const std::string_view type = NextToken(line);
      const std::string_view blob = NextToken(line);
      if (first.empty() || type.empty() || blob.empty()) continue;
      if (first[0] == '|') continue;  // hashed names need HMAC-SHA1; we never write them
      e.hosts = std::string(first);
      e.key = HostKey{std::string(type), std::string(blob)};
      snap.entries.push_back(std::move(e));
    }
    for (std::size_t i = 0; i < snap.entries.size(); ++i) {
      std::string_view names = snap.entries[i].hosts;
      if (names.find_first_of("*?!") != std::string_view::npos) {
        snap.patterned.push_back(i);
        continue;
      }
      while (!names.empty()) {
        const auto comma = names.find(',');
        const std::string_view name = names.substr(0, comma);
        names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
        if (!name.empty()) snap.by_name.emplace(name, i);
      }
    }
    return snap;
  }

  // Indices of the entries whose host list matches `target`, in file order.
  std::vector<std::size_t> Matching(std::string_view target) const {
    std::vector<std::size_t> found;
    for (auto [it, end] = by_name.equal_range(target); it != end; ++it) found.push_back(it->second);
    for (const std::size_t i : patterned) {
      if (MatchHostList(entries[i].hosts, target)) found.push_back(i);
    }
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());  // "web01,web01 ..."
    return found;
  }

  KnownHostsMatch Check(std::string_view target, const HostKey& key) const {
    bool any = false;
    bool known = false;
    for (const std::size_t i : Matching(target)) {
      const Entry& e = entries[i];
      if (e.marker == Marker::kCertAuthority) continue;
      if (e.marker == Marker::kRevoked) {
        if (e.key == key) return KnownHostsMatch::kMismatch;
        continue;
      }
      any = true;
      if (e.key == key) known = true;
    }
    if (known) return KnownHostsMatch::kKnown;
    return any ? KnownHostsMatch::kMismatch : KnownHostsMatch::kUnknown;
  }

  // The key types Check could answer kKnown for, in file order, without duplicates.
  std::vector<std::string> KeyTypes(std::string_view target) const {
    std::vector<std::string> types;
    for (const std::size_t i : Matching(target)) {
      const Entry& e = entries[i];
      if (e.marker != Marker::kNone) continue;
      if (std::find(types.begin(), types.end(), e.key.type) == types.end()) {
        types.push_back(e.key.type);
      }
    }
    return types;
  }
};

boost::system::result<std::string> Sha256Fingerprint(const HostKey& key) {
  ssh_key parsed = nullptr;
  if (ssh_pki_import_pubkey_base64(key.base64.c_str(), ssh_key_type_from_name(key.type.c_str()),
                                   &parsed) != SSH_OK) {
    return make_error_code(Errc::kInternal);
  }
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  const int rc = ssh_get_publickey_hash(parsed, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len);
  ssh_key_free(parsed);
  if (rc != SSH_OK) return make_error_code(Errc::kInternal);
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
  ssh_clean_pubkey_hash(&hash);
  if (text == nullptr) return make_error_code(Errc::kInternal);
  std::string out(text);
  ssh_string_free_char(text);
  return out;
}

KnownHostsFile::KnownHostsFile(std::string path) : path_(std::move(path)) {}

std::string KnownHostsFile::HostPattern(std::string_view host, std::uint16_t port) {
  if (port == 22) return std::string(host);
  // Appending into one reserved string, not `"[" + std::string(host) + ...`: GCC 12 at -O2/-O3
  // reports a false -Wrestrict inside operator+(const char*, string&&) (GCC PR 105329).
  const std::string port_text = std::to_string(port);
  std::string pattern;
  pattern.reserve(host.size() + port_text.size() + 3);
  pattern += '[';
  pattern += host;
  pattern += "]:";
  pattern += port_text;
  return pattern;
}

boost::system::result<std::shared_ptr<const KnownHostsFile::Snapshot>> KnownHostsFile::Load()
    const {
  struct stat st {};
  const bool missing = ::stat(path_.c_str(), &st) != 0;
  if (missing && errno != ENOENT) return make_error_code(Errc::kInternal);
  std::lock_guard lock(mu_);
  if (cache_) {
    const Snapshot& c = *cache_;
    if (missing ? c.size == -1
                : (c.dev == st.st_dev && c.ino == st.st_ino && c.size == st.st_size &&
                   c.mtime.tv_sec == st.st_mtim.tv_sec && c.mtime.tv_nsec == st.st_mtim.tv_nsec)) {
      return cache_;
    }
  }
  auto snap = std::make_shared<Snapshot>();
  if (!missing) {
    bool exists = false;
    auto text = ReadWholeFile(path_, exists);
    if (!text) return text.error();
    *snap = Snapshot::Parse(*text);
    snap->dev = st.st_dev;
    snap->ino = st.st_ino;
    snap->size = st.st_size;
    snap->mtime = st.st_mtim;
  }
  cache_ = snap;
  return cache_;
}

boost::system::result<KnownHostsMatch> KnownHostsFile::Check(std::string_view host,
                                                             std::uint16_t port,
                                                             const HostKey& key) const {
  auto snap = Load();
  if (!snap) return snap.error();
  return (*snap)->Check(HostPattern(host, port), key);
}

boost::system::result<std::vector<std::string>> KnownHostsFile::KeyTypes(std::string_view host,
                                                                         std::uint16_t port) const {
  auto snap = Load();
  if (!snap) return snap.error();
  return (*snap)->KeyTypes(HostPattern(host, port));
}

boost::system::result<KnownHostsFile::RecordOutcome> KnownHostsFile::Record(std::string_view host,
                                                                            std::uint16_t port,
                                                                            const HostKey& key,
                                                                            std::string* why) {
  if (key.type.find_first_of(" \t\r\n") != std::string::npos ||
      key.base64.find_first_of(" \t\r\n") != std::string::npos || key.type.empty() ||
      key.base64.empty()) {
    return make_error_code(Errc::kInternal);
  }
  // A failed write is the file system's answer (read-only, full, permissions), the same on every
  // retry; out of descriptors is the collector's own state. errno is read before anything else.
  auto write_failed = [why](const std::string& path, int err) {
    if (why != nullptr) *why = "cannot write " + path + ": " + std::strerror(err);
    const Errc local = LocalFailure(err);
    return make_error_code(local == Errc::kFdLimit ? local : Errc::kKnownHostsWrite);
  };
  const std::string lock_path = path_ + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return write_failed(lock_path, errno);
  struct LockGuard {
    int fd;
    ~LockGuard() { ::close(fd); }  // closing drops the flock
  } guard{lock_fd};
  if (::flock(lock_fd, LOCK_EX) != 0) return make_error_code(Errc::kInternal);

  bool exists = false;
  auto text = ReadWholeFile(path_, exists);
  if (!text) return text.error();
  const std::string pattern = HostPattern(host, port);
  switch (Snapshot::Parse(*text).Check(pattern, key)) {
    case KnownHostsMatch::kKnown:
      return RecordOutcome::kAlreadyKnown;
    case KnownHostsMatch::kMismatch:
      return RecordOutcome::kRefused;
    case KnownHostsMatch::kUnknown:
      break;
  }
  std::string content = std::move(*text);
  if (!content.empty() && content.back() != '\n') content += '\n';
  content += pattern + ' ' + key.type + ' ' + key.base64 + '\n';

  static std::atomic<unsigned> counter{0};
  const std::string tmp =
      path_ + ".tmp." + std::to_string(::getpid()) + '.' + std::to_string(counter.fetch_add(1));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return write_failed(tmp, errno);
  std::size_t done = 0;
  int err = 0;
  while (err == 0 && done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else {
      err = n < 0 ? errno : ENOSPC;  // a write of 0 bytes: nothing more fits
    }
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return write_failed(tmp, err);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return write_failed(path_, err);
  }
  {
    std::lock_guard lock(mu_);
    cache_.reset();
  }
  return RecordOutcome::kAdded;
}

}  // namespace fleetps::agent
