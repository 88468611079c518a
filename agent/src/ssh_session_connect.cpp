#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <libssh/libssh.h>

#include "fleetps/agent/ssh_session.hpp"
#include "ssh_session_core.hpp"
#include "tcp_connect.hpp"
#include "tcp_stats.hpp"

namespace fleetps::agent {

struct Identity::Impl {
  ssh_key key = nullptr;
  bool use_agent = false;
  ~Impl() {
    if (key != nullptr) ssh_key_free(key);
  }
};

Identity::Identity(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Identity::~Identity() = default;

boost::system::result<std::shared_ptr<const Identity>> Identity::Load(
    const config::HostSpec& spec) {
  auto impl = std::make_unique<Impl>();
  impl->use_agent = spec.use_ssh_agent;
  if (!spec.identity_file.empty()) {
    std::string passphrase;
    if (!spec.passphrase_file.empty()) {
      std::ifstream in(spec.passphrase_file);
      if (!in || !std::getline(in, passphrase)) return make_error_code(Errc::kInternal);
    } else if (!spec.passphrase_env.empty()) {
      if (const char* value = std::getenv(spec.passphrase_env.c_str())) passphrase = value;
    }
    const int rc = ssh_pki_import_privkey_file(spec.identity_file.c_str(),
                                               passphrase.empty() ? nullptr : passphrase.c_str(),
                                               nullptr, nullptr, &impl->key);
    explicit_bzero(passphrase.data(), passphrase.size());
    if (rc != SSH_OK) return make_error_code(Errc::kInternal);
  } else if (!spec.use_ssh_agent) {
    return make_error_code(Errc::kInternal);
  }
  return std::shared_ptr<const Identity>(new Identity(std::move(impl)));
}

namespace {

// libssh's error text for a detail: printable ASCII only (it can quote what the server sent),
// and bounded.
std::string CleanMessage(const char* message) {
  std::string out;
  for (const char* p = message; p != nullptr && *p != '\0' && out.size() < 400; ++p) {
    out.push_back(*p >= 0x20 && *p < 0x7f ? *p : '?');
  }
  return out;
}

bool Contains(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// Weak algorithms a connected session needs. The host-key signature algorithm is not exposed
// by libssh: an RSA host key counts as `ssh-rsa` when the banner names a server without
// rsa-sha2 (OpenSSH < 7.2, dropbear < 2020.79) or when ssh-rsa was the only RSA algorithm
// offered; the same rule applies to an RSA user key.
std::vector<WeakAlgorithm> WeakInUse(const ServerInfo& info, const HostKey& server_key,
                                     const config::Algorithms& algorithms) {
  std::vector<WeakAlgorithm> weak;
  auto add = [&weak](AlgorithmKind kind, std::string name, std::string_view reason) {
    if (!reason.empty()) weak.push_back({kind, std::move(name), std::string(reason)});
  };
  add(AlgorithmKind::kKex, info.kex, WeakReason(AlgorithmKind::kKex, info.kex));
  add(AlgorithmKind::kCipher, info.cipher, WeakReason(AlgorithmKind::kCipher, info.cipher));
  add(AlgorithmKind::kMac, info.mac, WeakReason(AlgorithmKind::kMac, info.mac));
  const auto rsa_sha2 = BannerKnowsRsaSha2(info.banner);
  auto rsa_sha1 = [&](AlgorithmKind kind) {
    const auto offered = EffectiveAlgorithms(algorithms, kind);
    const bool only_sha1 = Contains(offered, "ssh-rsa") && !Contains(offered, "rsa-sha2-256") &&
                           !Contains(offered, "rsa-sha2-512");
    return (rsa_sha2 && !*rsa_sha2) || only_sha1;
  };
  if (server_key.type == "ssh-dss") {
    add(AlgorithmKind::kHostkey, "ssh-dss", WeakReason(AlgorithmKind::kHostkey, "ssh-dss"));
  } else if (server_key.type == "ssh-rsa") {
    if (rsa_sha1(AlgorithmKind::kHostkey)) {
      add(AlgorithmKind::kHostkey, "ssh-rsa", WeakReason(AlgorithmKind::kHostkey, "ssh-rsa"));
    }
    if (const auto bits = RsaKeyBits(server_key.base64); bits && *bits < 2048) {
      add(AlgorithmKind::kHostkey, "rsa-" + std::to_string(*bits),
          "RSA host key shorter than 2048 bits");
    }
  }
  if (info.pubkey_type == "ssh-dss") {
    add(AlgorithmKind::kPubkey, "ssh-dss", WeakReason(AlgorithmKind::kPubkey, "ssh-dss"));
  } else if (info.pubkey_type == "ssh-rsa" &&
             (info.pubkey_sha1 || rsa_sha1(AlgorithmKind::kPubkey))) {
    add(AlgorithmKind::kPubkey, "ssh-rsa", WeakReason(AlgorithmKind::kPubkey, "ssh-rsa"));
  }
  return weak;
}

// libssh 0.10's ssh_get_kex_algo knows every key exchange but group exchange (it returns NULL
// for both), so a NULL after a successful exchange is one of the two: the one offered, or
// libssh's default (sha256) when the list is libssh's; unknown when both were offered.
std::string NegotiatedKex(const char* reported, const std::vector<std::string>& offered) {
  if (reported != nullptr) return reported;
  constexpr std::string_view kGexSha1 = "diffie-hellman-group-exchange-sha1";
  constexpr std::string_view kGexSha256 = "diffie-hellman-group-exchange-sha256";
  const bool sha1 = offered.empty() ? false : Contains(offered, kGexSha1);
  const bool sha256 = offered.empty() ? true : Contains(offered, kGexSha256);
  if (sha1 && !sha256) return std::string(kGexSha1);
  if (sha256 && !sha1) return std::string(kGexSha256);
  return "diffie-hellman-group-exchange";
}

// Why the login key was refused, with the setting that may help. libssh refuses locally to sign
// with ssh-rsa (SHA-1) unless `pubkeys` allows it, and an old server knows nothing else.
std::string AuthDeniedDetail(const std::string& libssh_message, const ServerInfo& info,
                             const std::vector<std::string>& pubkeys) {
  if (libssh_message.find("PUBLICKEY_ACCEPTED_TYPES") != std::string::npos) {
    const auto quote = libssh_message.find('\'');
    const auto end = quote == std::string::npos ? quote : libssh_message.find('\'', quote + 1);
    const std::string algorithm = end == std::string::npos
                                      ? info.pubkey_type
                                      : libssh_message.substr(quote + 1, end - quote - 1);
    const std::string_view weak = WeakReason(AlgorithmKind::kPubkey, algorithm);
    if (weak.empty()) {
      return "libssh would sign this key with " + algorithm +
             ", which the host's pubkeys setting does not list; add it to algorithms: {pubkeys: "
             "[...]}";
    }
    return "the server accepts only " + algorithm + " signatures for this key (" +
           std::string(weak) + "), which are off by default; set algorithms: {pubkeys: [" +
           algorithm + "]} for this host, or algorithms: legacy";
  }
  std::string detail = "the server refused the key";
  if (info.pubkey_type == "ssh-rsa" && !Contains(pubkeys, "ssh-rsa")) {
    // OpenSSH < 7.2 and servers restricted to PubkeyAcceptedAlgorithms ssh-rsa refuse rsa-sha2.
    detail +=
        " (signed with rsa-sha2); if the server accepts RSA keys only with SHA-1 "
        "signatures, set algorithms: {pubkeys: [ssh-rsa]} for this host";
  }
  return detail;
}

// A negotiation failure as the session reports it: permanent, with the weak algorithm a
// setting would have to enable.
FailureDetail NegotiationFailureDetail(const NegotiationFailure& negotiation) {
  FailureDetail failure{NegotiationDetail(negotiation), true, {}};
  if (auto pick = StrongestMatch(negotiation)) {
    if (const auto weak = WeakReason(negotiation.kind, *pick); !weak.empty()) {
      failure.needs.push_back({negotiation.kind, *pick, std::string(weak)});
    }
  }
  return failure;
}

std::string VersionFromBanner(std::string_view banner) {
  // "SSH-2.0-OpenSSH_9.2p1 Debian-2" -> "OpenSSH_9.2p1"
  if (banner.starts_with("SSH-")) {
    const auto dash = banner.find('-', 4);
    if (dash != std::string_view::npos) banner.remove_prefix(dash + 1);
  }
  return std::string(banner.substr(0, banner.find_first_of(" \r\n")));
}

}  // namespace

asio::awaitable<error_code> SshSession::Core::Connect(const config::HostSpec& spec,
                                                      Clock::time_point deadline,
                                                      const ConnectOptions& options,
                                                      ServerInfo& info, FailureDetail& failure,
                                                      ScannedKey* scan) {
  Op op(*this);
  op.deadline = deadline;
  const std::string& host = spec.address.empty() ? spec.name : spec.address;

  if (!holds_descriptor_slot_) {
    if (!detail::TakeSessionDescriptor()) co_return make_error_code(Errc::kFdLimit);
    holds_descriptor_slot_ = true;
  }
  asio::steady_timer timer(ex_, deadline);
  const error_code connect_ec = co_await detail::ConnectTcp(socket_, timer, host, spec.port,
                                                            spec.source_address, &failure.text);
  if (connect_ec) co_return connect_ec;
  if (closed_) co_return make_error_code(Errc::kDisconnected);

  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  socket_.set_option(asio::socket_base::keep_alive(spec.keepalive.count() > 0), ignored);
  const int idle = static_cast<int>(std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(spec.keepalive).count()));
  const int count = 3;
  ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
  ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);

  // One descriptor per connection: Asio lets go of it and libssh gets it (SSH_OPTIONS_FD);
  // Asio takes it back only to wait (Core::Attach), FreeNow closes it unless libssh did.
  protocol_ = socket_.local_endpoint(ignored).protocol();
  fd_ = socket_.release(ignored);
  if (fd_ < 0) co_return make_error_code(Errc::kInternal);
  ssh_ = ssh_new();
  if (ssh_ == nullptr) co_return make_error_code(Errc::kInternal);
  socket_t fd = fd_;
  ssh_options_set(ssh_, SSH_OPTIONS_FD, &fd);
  bool off = false;
  int on = 1;
  int verbosity = SSH_LOG_NOLOG;
  unsigned port = spec.port;
  ssh_options_set(ssh_, SSH_OPTIONS_PROCESS_CONFIG, &off);
  ssh_options_set(ssh_, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
  ssh_options_set(ssh_, SSH_OPTIONS_HOST, host.c_str());
  ssh_options_set(ssh_, SSH_OPTIONS_PORT, &port);
  ssh_options_set(ssh_, SSH_OPTIONS_NODELAY, &on);
  // libssh would parse a known_hosts file on every connect only to put the host-key types it
  // records first (2.9 ms instead of 1.2 ms per handshake with 10,000 lines); our cached
  // KnownHostsFile gives the same order below, and verification is ours anyway.
  ssh_options_set(ssh_, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  ssh_options_set(ssh_, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  ssh_options_set(ssh_, SSH_OPTIONS_SSH_DIR, "/nonexistent");
  if (!spec.user.empty()) ssh_options_set(ssh_, SSH_OPTIONS_USER, spec.user.c_str());
  const auto list_of = [&spec](AlgorithmKind kind) {
    return EffectiveAlgorithms(spec.algorithms, kind);
  };
  std::string rejected;
  auto set_list = [&](ssh_options_e opt, const std::vector<std::string>& list) {
    if (!list.empty() && ssh_options_set(ssh_, opt, JoinAlgorithms(list, ",").c_str()) != SSH_OK) {
      if (!rejected.empty()) rejected += "; ";
      rejected += JoinAlgorithms(list, ",");
    }
  };
  set_list(SSH_OPTIONS_KEY_EXCHANGE, list_of(AlgorithmKind::kKex));
  // Prefer the recorded key types, so a server with several host keys presents the recorded
  // one. Without a recorded key (accept-new, keyscan) the offer stays as configured. A file we
  // cannot read orders nothing here; Check below reports it.
  auto known_hosts = options.known_hosts;
  if (!known_hosts && !spec.known_hosts.empty()) {
    known_hosts = std::make_shared<KnownHostsFile>(spec.known_hosts);
  }
  std::vector<std::string> recorded_types;
  if (known_hosts) {
    if (auto types = known_hosts->KeyTypes(host, spec.port)) recorded_types = std::move(*types);
  }
  const auto hostkeys = list_of(AlgorithmKind::kHostkey);
  const auto preferred = PreferRecordedHostKeyTypes(recorded_types, hostkeys);
  set_list(SSH_OPTIONS_HOSTKEYS, preferred.empty() ? hostkeys : preferred);
  set_list(SSH_OPTIONS_CIPHERS_C_S, list_of(AlgorithmKind::kCipher));
  set_list(SSH_OPTIONS_CIPHERS_S_C, list_of(AlgorithmKind::kCipher));
  set_list(SSH_OPTIONS_HMAC_C_S, list_of(AlgorithmKind::kMac));
  set_list(SSH_OPTIONS_HMAC_S_C, list_of(AlgorithmKind::kMac));
  const auto pubkeys = list_of(AlgorithmKind::kPubkey);
  set_list(SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES, pubkeys);
  if (!rejected.empty()) {
    // check-config rejects unknown names, so this is a libssh that changed under a loaded config.
    failure = {"libssh " + std::string(LibsshVersion()) + " supports none of [" + rejected +
                   "]; fix the host's algorithms setting",
               true,
               {}};
    co_return make_error_code(Errc::kKexFailed);
  }
  ssh_set_blocking(ssh_, 0);

  fd_adopted_ = true;
  auto [rc, wait_ec] = co_await Retry(op, [this] { return ssh_connect(ssh_); });
  const bool have_banner = ssh_get_serverbanner(ssh_) != nullptr;
  if (wait_ec) {
    if (wait_ec == Errc::kTimeout && !have_banner) co_return make_error_code(Errc::kBannerTimeout);
    co_return wait_ec;
  }
  if (rc != SSH_OK) {
    if (!have_banner) co_return make_error_code(Errc::kDisconnected);
    // Parsed from libssh's whole message (its lists can pass any display bound); the detail
    // is built from the names that parse, each cleaned and bounded.
    const char* raw = ssh_get_error(ssh_);
    const std::string message = CleanMessage(raw);
    if (auto negotiation = ParseNegotiationError(raw != nullptr ? raw : "")) {
      failure = NegotiationFailureDetail(*negotiation);
      co_return make_error_code(Errc::kKexFailed);
    }
    // libssh 0.10 under load can handle the server's disconnect before the server's KEXINIT
    // and say only "Socket error: Success". Read the offer on a second connection (clear text,
    // within the same deadline); if it shares nothing with ours, this was a negotiation
    // failure, to be reported and treated as one (permanent: no retry can match).
    auto offer = co_await ScanServerOffer(spec, deadline);
    std::optional<NegotiationFailure> negotiation;
    if (offer) negotiation = NegotiationFailureFromOffer(*offer, spec.algorithms);
    failure =
        negotiation ? NegotiationFailureDetail(*negotiation) : FailureDetail{message, false, {}};
    co_return make_error_code(Errc::kKexFailed);
  }

  info.banner = Str(ssh_get_serverbanner(ssh_));
  info.server_version = VersionFromBanner(info.banner);
  info.kex = NegotiatedKex(ssh_get_kex_algo(ssh_), list_of(AlgorithmKind::kKex));
  info.cipher = Str(ssh_get_cipher_out(ssh_));
  info.mac = Str(ssh_get_hmac_out(ssh_));

  HostKey server_key;
  {
    ssh_key key = nullptr;
    if (ssh_get_server_publickey(ssh_, &key) != SSH_OK) co_return make_error_code(Errc::kKexFailed);
    char* b64 = nullptr;
    const int export_rc = ssh_pki_export_pubkey_base64(key, &b64);
    server_key.type = Str(ssh_key_type_to_char(ssh_key_type(key)));
    ssh_key_free(key);
    if (export_rc != SSH_OK) co_return make_error_code(Errc::kKexFailed);
    server_key.base64 = b64;
    ssh_string_free_char(b64);
  }
  info.hostkey_type = server_key.type;
  auto fingerprint = Sha256Fingerprint(server_key);
  if (!fingerprint) co_return make_error_code(Errc::kKexFailed);
  info.hostkey_fingerprint = *fingerprint;
  if (scan != nullptr) {
    *scan = ScannedKey{server_key, *fingerprint, info.banner, info.kex, info.cipher, info.mac};
    co_return error_code{};
  }

  // Host key first: nothing identifying the client is sent to an unverified server.
  KnownHostsMatch match = KnownHostsMatch::kUnknown;
  if (known_hosts) {
    auto checked = known_hosts->Check(host, spec.port, server_key);
    if (!checked) co_return checked.error();
    match = *checked;
  }
  if (match == KnownHostsMatch::kMismatch) co_return make_error_code(Errc::kHostkeyMismatch);
  if (match == KnownHostsMatch::kUnknown) {
    if (spec.host_key_policy != config::HostKeyPolicy::kAcceptNew || !known_hosts) {
      co_return make_error_code(Errc::kHostkeyUnknown);
    }
    std::string why;
    auto recorded = known_hosts->Record(host, spec.port, server_key, &why);
    if (!recorded) {
      failure = {std::move(why), false, {}};
      co_return recorded.error();
    }
    if (*recorded == KnownHostsFile::RecordOutcome::kRefused) {
      co_return make_error_code(Errc::kHostkeyMismatch);
    }
  }

  auto identity = options.identity;
  if (!identity) {
    auto loaded = Identity::Load(spec);
    if (!loaded) co_return loaded.error();
    identity = *loaded;
  }
  int auth = SSH_AUTH_DENIED;
  if (identity->impl().key != nullptr) {
    info.pubkey_type = Str(ssh_key_type_to_char(ssh_key_type(identity->impl().key)));
    ssh_key key = identity->impl().key;
    auto [auth_rc, ec] =
        co_await Retry(op, [this, key] { return ssh_userauth_publickey(ssh_, nullptr, key); });
    if (ec) co_return ec;
    auth = auth_rc;
    // libssh signs an RSA key with rsa-sha2-* whenever the server's server-sig-algs lists it,
    // and some servers list it yet accept only ssh-rsa. When ssh-rsa is allowed too, try once
    // more with it alone (one more of the server's MaxAuthTries).
    // Not when the banner names a server without rsa-sha2: libssh signed with SHA-1 already.
    const bool rsa_sha2_allowed =
        Contains(pubkeys, "rsa-sha2-512") || Contains(pubkeys, "rsa-sha2-256");
    if (auth == SSH_AUTH_DENIED && info.pubkey_type == "ssh-rsa" && Contains(pubkeys, "ssh-rsa") &&
        rsa_sha2_allowed && BannerKnowsRsaSha2(info.banner) != std::optional<bool>(false) &&
        ssh_options_set(ssh_, SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES, "ssh-rsa") == SSH_OK) {
      auto [sha1_rc, sha1_ec] =
          co_await Retry(op, [this, key] { return ssh_userauth_publickey(ssh_, nullptr, key); });
      // The whole list again for what follows (agent keys of other types).
      ssh_options_set(ssh_, SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES,
                      JoinAlgorithms(pubkeys, ",").c_str());
      if (sha1_ec) co_return sha1_ec;
      auth = sha1_rc;
      info.pubkey_sha1 = auth == SSH_AUTH_SUCCESS;
    }
  }
  if (auth != SSH_AUTH_SUCCESS && auth != SSH_AUTH_ERROR && identity->impl().use_agent) {
    auto [auth_rc, ec] = co_await Retry(op, [this] { return ssh_userauth_agent(ssh_, nullptr); });
    if (ec) co_return ec;
    auth = auth_rc;
  }
  if (auth == SSH_AUTH_ERROR) {
    co_return make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kAuthDenied);
  }
  if (auth != SSH_AUTH_SUCCESS) {
    failure = {AuthDeniedDetail(CleanMessage(ssh_get_error(ssh_)), info, pubkeys), false, {}};
    co_return make_error_code(Errc::kAuthDenied);
  }
  info.weak = WeakInUse(info, server_key, spec.algorithms);
  ready_ = true;
  last_heard_ = Clock::now();
  next_keepalive_ = last_heard_;
  if (const auto received = detail::TcpBytesReceived(socket_.native_handle())) {
    bytes_received_ = *received;
  }
  co_return error_code{};
}

}  // namespace fleetps::agent
