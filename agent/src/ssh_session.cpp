#include "fleetps/agent/ssh_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <span>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>  // ssh_send_keepalive, which clients may use too

#include "tcp_connect.hpp"
#include "tcp_stats.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (awaitable_frame's own
// operator new/delete pair), see GCC PR 104578.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::agent {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

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

std::string Str(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

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

std::string VersionFromBanner(std::string_view banner) {
  // "SSH-2.0-OpenSSH_9.2p1 Debian-2" -> "OpenSSH_9.2p1"
  if (banner.starts_with("SSH-")) {
    const auto dash = banner.find('-', 4);
    if (dash != std::string_view::npos) banner.remove_prefix(dash + 1);
  }
  return std::string(banner.substr(0, banner.find_first_of(" \r\n")));
}

// Channel reads go through one 64 KiB buffer per thread instead of one per session: a member
// buffer made every session, idle or not, 64 KiB bigger (measured: RSS per idle session 87 ->
// 23 kB). Sharing is safe because a reader never suspends between filling the buffer and copying
// it out (see Core::Run), so no other coroutine on this thread can touch it meanwhile.
// Out of line on purpose: a coroutine may resume on another thread, and a compiler could keep
// an inlined thread_local address across the suspension; a call yields the current thread's.
[[gnu::noinline]] std::span<char> ThreadReadBuffer() {
  thread_local std::vector<char> buffer(64 * 1024);
  return buffer;
}

struct ExitState {
  std::optional<int> status;
  std::string signal;
  bool done = false;
};

void OnExitStatus(ssh_session, ssh_channel, int status, void* userdata) {
  auto* st = static_cast<ExitState*>(userdata);
  st->status = status;
  st->done = true;
}

void OnExitSignal(ssh_session, ssh_channel, const char* signal, int, const char*, const char*,
                  void* userdata) {
  auto* st = static_cast<ExitState*>(userdata);
  st->signal = Str(signal);
  st->done = true;
}

}  // namespace

// Owns the socket and the libssh session of one connection. Operations keep it alive through a
// shared_ptr; Close() marks it closed and the last operation to leave frees libssh.
class SshSession::Core : public std::enable_shared_from_this<SshSession::Core> {
 public:
  explicit Core(asio::any_io_executor ex) : ex_(std::move(ex)), socket_(ex_) {}
  ~Core() { FreeNow(); }

  // One parked operation, woken by socket readiness or by another operation's progress.
  struct Waiter {
    asio::steady_timer timer;
    bool woken = false;
  };

  struct Op {
    explicit Op(Core& c) : core(c) { ++core.active_ops_; }
    ~Op() {
      if (--core.active_ops_ == 0 && core.closed_) core.FreeNow();
    }
    Core& core;
    Clock::time_point deadline;
    int spins = 0;
    // Longest park before the caller looks again even without a wakeup. A command's wakeup can
    // go missing: about 1 probe in 15,000 (fleetsim, 200 hosts, 2 s interval) parked after its
    // channel reply had been read and handled, with no socket wait completing for the next
    // input, and waited out its whole deadline. Root cause not found; the recheck bounds it.
    Clock::duration max_park = std::chrono::milliseconds(50);
  };

  asio::awaitable<error_code> Connect(const config::HostSpec& spec, Clock::time_point deadline,
                                      const ConnectOptions& options, ServerInfo& info,
                                      FailureDetail& failure, ScannedKey* scan);
  asio::awaitable<boost::system::result<CommandOutput>> Run(std::string_view script,
                                                            const RunOptions& options,
                                                            AsyncSemaphore& channels);
  asio::awaitable<error_code> WatchIdle(Clock::time_point until,
                                        std::chrono::milliseconds keepalive,
                                        FailureDetail& failure);

  void Close() noexcept {
    if (closed_) return;
    closed_ = true;
    WakeAll();
    error_code ignored;
    socket_.cancel(ignored);
    if (active_ops_ == 0) FreeNow();
  }

  bool Usable() const noexcept { return ssh_ != nullptr && !closed_ && !poisoned_ && ready_; }

 private:
  void FreeNow() noexcept {
    if (ssh_ != nullptr) {
      // libssh >= 0.10 leaves an SSH_OPTIONS_FD descriptor open on disconnect and free, but
      // closes (and forgets) it on some connect error paths: close it while libssh holds it.
      const socket_t held = fd_adopted_ ? ssh_get_fd(ssh_) : libssh_fd_;
      ssh_disconnect(ssh_);
      ssh_free(ssh_);
      ssh_ = nullptr;
      if (held != SSH_INVALID_SOCKET) ::close(held);
    }
    error_code ignored;
    socket_.close(ignored);
  }

  void WakeAll() {
    for (Waiter* w : waiters_) {
      w->woken = true;
      w->timer.cancel();
    }
  }

  bool SocketReadable() {
    pollfd p{socket_.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  void ArmSocketWait(tcp::socket::wait_type type) {
    bool& pending = type == tcp::socket::wait_write ? write_wait_ : read_wait_;
    if (pending) return;
    pending = true;
    socket_.async_wait(type, [self = shared_from_this(), type](const error_code&) {
      (type == tcp::socket::wait_write ? self->write_wait_ : self->read_wait_) = false;
      self->WakeAll();
    });
  }

  // Calls into libssh may consume bytes meant for another parked operation (libssh reads for the
  // whole session); when that can have happened, wake the others so they look at their buffers.
  template <class Fn>
  auto Call(Fn&& fn) {
    const bool others_wait = !waiters_.empty() && SocketReadable();
    auto rc = fn();
    if (others_wait) WakeAll();
    return rc;
  }

  // Parks until the socket is ready in the direction libssh needs, another operation made
  // progress, or the deadline passes. Never waits when data is already there: Asio's epoll
  // reactor is edge-triggered and libssh reads at most 4 KiB per call.
  asio::awaitable<error_code> WaitIo(Op& op) {
    if (closed_ || ssh_ == nullptr) co_return make_error_code(Errc::kDisconnected);
    if (Clock::now() >= op.deadline) co_return make_error_code(Errc::kTimeout);
    // Armed before anything looks at the socket: input arriving from here on completes this wait
    // and wakes every parked operation; input already there shows in `readable`.
    ArmSocketWait(tcp::socket::wait_read);
    const bool readable = SocketReadable();
    // libssh clears the POLLOUT interest behind SSH_WRITE_PENDING only from its own poll loop,
    // so the flag can stay set after the output drained, and a writable socket would spin us.
    // A zero-timeout flush says whether bytes are really waiting. It runs libssh's packet loop,
    // so it may also handle input meant for the caller: with input there, the caller looks again.
    const bool write_pending = (ssh_get_poll_flags(ssh_) & SSH_WRITE_PENDING) != 0 &&
                               Call([this] { return ssh_blocking_flush(ssh_, 0); }) == SSH_AGAIN;
    if (write_pending) ArmSocketWait(tcp::socket::wait_write);
    pollfd p{socket_.native_handle(), static_cast<short>(POLLIN | (write_pending ? POLLOUT : 0)),
             0};
    // Readiness already there: retry at once, but bounded so a libssh state that ignores a
    // readable socket cannot spin us until the deadline.
    if ((readable || ::poll(&p, 1, 0) > 0) && ++op.spins < 64) {
      if (op.spins % 16 == 0) co_await asio::post(ex_, asio::use_awaitable);
      co_return error_code{};
    }
    auto deadline = std::min(op.deadline, Clock::now() + op.max_park);
    if (op.spins >= 64) {
      op.spins = 0;
      deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(1));
    }
    Waiter w{asio::steady_timer(ex_, deadline)};
    waiters_.push_back(&w);
    auto [ec] = co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
    if (closed_) co_return make_error_code(Errc::kDisconnected);
    if (w.woken || (!ec && Clock::now() < op.deadline)) {
      op.spins = 0;
      co_return error_code{};
    }
    if (!ec) co_return make_error_code(Errc::kTimeout);
    co_return error_code(asio::error::operation_aborted);
  }

  // Repeats a libssh call until it stops returning SSH_AGAIN / SSH_AUTH_AGAIN.
  template <class Fn>
  asio::awaitable<std::pair<int, error_code>> Retry(Op& op, Fn fn) {
    for (;;) {
      const int rc = Call(fn);
      if (rc != SSH_AGAIN && rc != SSH_AUTH_AGAIN) co_return std::pair{rc, error_code{}};
      if (auto ec = co_await WaitIo(op)) co_return std::pair{rc, ec};
    }
  }

  // Processes whatever input libssh can read now, without waiting: a one-shot ssh_event poll of
  // this session (the public way to run libssh's packet loop once). Returns SSH_OK or SSH_ERROR.
  int DrainInput() {
    ssh_event event = ssh_event_new();
    if (event == nullptr) return SSH_ERROR;
    int rc = ssh_event_add_session(event, ssh_);
    if (rc == SSH_OK) {
      rc = ssh_event_dopoll(event, 0) == SSH_ERROR ? SSH_ERROR : SSH_OK;
      ssh_event_remove_session(event, ssh_);
    }
    ssh_event_free(event);
    return rc;
  }

  bool SessionBroken() const { return ssh_ == nullptr || ssh_is_connected(ssh_) == 0; }

  // Moves last_heard_ to now when the kernel received bytes from the server since the last look.
  void NoteServerTraffic() {
    const auto received = detail::TcpBytesReceived(socket_.native_handle());
    if (!received) {
      last_heard_ = Clock::now();  // no counter on this platform: only errors end the session
      return;
    }
    if (*received != bytes_received_) {
      bytes_received_ = *received;
      last_heard_ = Clock::now();
    }
  }

  asio::any_io_executor ex_;
  tcp::socket socket_;
  ssh_session ssh_ = nullptr;
  bool closed_ = false;
  bool poisoned_ = false;
  bool ready_ = false;
  bool read_wait_ = false;
  bool write_wait_ = false;
  int active_ops_ = 0;
  int libssh_fd_ = -1;
  bool fd_adopted_ = false;
  std::vector<Waiter*> waiters_;
  // Liveness (WatchIdle): when the server last sent anything, and the next keepalive.
  Clock::time_point last_heard_{};
  Clock::time_point next_keepalive_{};
  std::uint64_t bytes_received_ = 0;
};

asio::awaitable<error_code> SshSession::Core::Connect(const config::HostSpec& spec,
                                                      Clock::time_point deadline,
                                                      const ConnectOptions& options,
                                                      ServerInfo& info, FailureDetail& failure,
                                                      ScannedKey* scan) {
  Op op(*this);
  op.deadline = deadline;
  const std::string& host = spec.address.empty() ? spec.name : spec.address;

  asio::steady_timer timer(ex_, deadline);
  if (auto ec = co_await detail::ConnectTcp(socket_, timer, host, spec.port)) co_return ec;
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

  // libssh gets its own descriptor for the same socket: it closes it on some connect error
  // paths, FreeNow closes it otherwise, and Asio keeps (and alone closes) the registered one.
  const int libssh_fd = ::dup(socket_.native_handle());
  if (libssh_fd < 0) co_return make_error_code(Errc::kInternal);
  ssh_ = ssh_new();
  if (ssh_ == nullptr) {
    ::close(libssh_fd);
    co_return make_error_code(Errc::kInternal);
  }
  socket_t fd = libssh_fd;
  ssh_options_set(ssh_, SSH_OPTIONS_FD, &fd);
  libssh_fd_ = libssh_fd;
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
      failure = {NegotiationDetail(*negotiation), true, {}};
      if (auto pick = StrongestMatch(*negotiation)) {
        if (const auto weak = WeakReason(negotiation->kind, *pick); !weak.empty()) {
          failure.needs.push_back({negotiation->kind, *pick, std::string(weak)});
        }
      }
    } else {
      failure = {message, false, {}};
    }
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
    auto recorded = known_hosts->Record(host, spec.port, server_key);
    if (!recorded) co_return recorded.error();
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

asio::awaitable<boost::system::result<CommandOutput>> SshSession::Core::Run(
    std::string_view script, const RunOptions& options, AsyncSemaphore& channels) {
  auto self = shared_from_this();
  Op op(*this);
  op.deadline = options.deadline;
  if (!Usable()) co_return make_error_code(Errc::kDisconnected);
  const auto started = Clock::now();

  // Any failure past this point except too_large leaves the session in an unknown state.
  auto fail = [this](error_code ec) {
    if (ec != Errc::kTooLarge && ec != Errc::kChannelFailed) poisoned_ = true;
    return ec;
  };

  AsyncSemaphore::Permit permit;
  if (auto ec = co_await channels.Acquire(permit, options.deadline)) {
    if (ec != Errc::kTimeout) poisoned_ = true;
    co_return ec;
  }
  if (!Usable()) co_return make_error_code(Errc::kDisconnected);

  ExitState exit;
  ssh_channel_callbacks_struct callbacks{};
  ssh_callbacks_init(&callbacks);
  callbacks.userdata = &exit;
  callbacks.channel_exit_status_function = OnExitStatus;
  callbacks.channel_exit_signal_function = OnExitSignal;

  struct ChannelGuard {
    Core& core;
    ssh_channel ch;
    ssh_channel_callbacks cb;
    ~ChannelGuard() {
      if (ch == nullptr || core.ssh_ == nullptr) return;
      ssh_remove_channel_callbacks(ch, cb);
      if (ssh_channel_is_open(ch) && !core.SessionBroken()) ssh_channel_close(ch);
      ssh_channel_free(ch);
    }
  } guard{*this, ssh_channel_new(ssh_), &callbacks};
  ssh_channel ch = guard.ch;
  if (ch == nullptr) co_return fail(make_error_code(Errc::kInternal));
  ssh_set_channel_callbacks(ch, &callbacks);

  {
    auto [rc, ec] = co_await Retry(op, [ch] { return ssh_channel_open_session(ch); });
    if (ec) co_return fail(ec);
    if (rc != SSH_OK) {
      co_return fail(make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kChannelFailed));
    }
  }
  {
    const std::string& cmd = options.interpreter;
    auto [rc, ec] =
        co_await Retry(op, [ch, &cmd] { return ssh_channel_request_exec(ch, cmd.c_str()); });
    if (ec) co_return fail(ec);
    if (rc != SSH_OK) {
      co_return fail(make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kChannelFailed));
    }
  }
  for (std::size_t sent = 0; sent < script.size();) {
    const auto chunk =
        static_cast<std::uint32_t>(std::min<std::size_t>(script.size() - sent, 32768));
    const int n = Call([&] { return ssh_channel_write(ch, script.data() + sent, chunk); });
    if (n == SSH_ERROR) co_return fail(make_error_code(Errc::kDisconnected));
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (auto ec = co_await WaitIo(op)) co_return fail(ec);
  }
  if (Call([ch] { return ssh_channel_send_eof(ch); }) == SSH_ERROR) {
    co_return fail(make_error_code(Errc::kDisconnected));
  }

  OutputCollector collector(options.output_limit);
  bool eof[2] = {false, false};
  for (unsigned burst = 0;;) {
    if (Clock::now() >= op.deadline) co_return fail(make_error_code(Errc::kTimeout));
    bool progress = false;
    for (int stream = 0; stream < 2; ++stream) {
      if (eof[stream]) continue;
      // The buffer is shared by every session on this thread: fetch it after the last
      // suspension and copy out of it before the next one (no co_await from here to Append).
      const std::span<char> buf = ThreadReadBuffer();
      const int n = Call([&] {
        return ssh_channel_read_nonblocking(ch, buf.data(), static_cast<std::uint32_t>(buf.size()),
                                            stream);
      });
      if (n > 0) {
        progress = true;
        if (!collector.Append(stream == 1,
                              std::string_view(buf.data(), static_cast<std::size_t>(n)))) {
          co_return fail(make_error_code(Errc::kTooLarge));
        }
      } else if (n == SSH_EOF) {
        eof[stream] = true;
        progress = true;
      } else if (n == SSH_ERROR) {
        co_return fail(make_error_code(Errc::kDisconnected));
      }
    }
    if (eof[0] && eof[1]) break;
    if (!progress) {
      // Drain what libssh already holds before waiting on the socket (edge-triggered epoll).
      const int p0 = eof[0] ? 0 : Call([ch] { return ssh_channel_poll(ch, 0); });
      const int p1 = eof[1] ? 0 : Call([ch] { return ssh_channel_poll(ch, 1); });
      if (p0 == SSH_ERROR || p1 == SSH_ERROR) co_return fail(make_error_code(Errc::kDisconnected));
      progress = p0 != 0 || p1 != 0;
    }
    if (progress) {
      if (++burst % 64 == 0) co_await asio::post(ex_, asio::use_awaitable);  // be fair to hosts
      continue;
    }
    if (auto ec = co_await WaitIo(op)) co_return fail(ec);
  }
  // exit-status / exit-signal follow EOF; keep pumping until one arrives or the channel closes.
  while (!exit.done && ssh_channel_is_closed(ch) == 0) {
    Call([ch] { return ssh_channel_get_exit_status(ch); });
    if (exit.done || ssh_channel_is_closed(ch) != 0) break;
    if (SessionBroken()) co_return fail(make_error_code(Errc::kDisconnected));
    if (auto ec = co_await WaitIo(op)) co_return fail(ec);
  }
  CommandOutput out = std::move(collector.Output());
  out.exit_status = exit.status;
  out.exit_signal = std::move(exit.signal);
  out.duration = Clock::now() - started;
  co_return out;
}

asio::awaitable<error_code> SshSession::Core::WatchIdle(Clock::time_point until,
                                                        std::chrono::milliseconds keepalive,
                                                        FailureDetail& failure) {
  auto self = shared_from_this();
  Op op(*this);
  if (!Usable()) co_return make_error_code(Errc::kDisconnected);
  const bool keepalives = keepalive.count() > 0;
  for (;;) {
    // Flush our keepalive, then read what the server sent meanwhile (keepalive replies, late
    // channel closes, window adjusts): ssh_blocking_flush reads input only while output is
    // pending, and unread input keeps the socket readable, which would spin WaitIo.
    Call([this] { return ssh_blocking_flush(ssh_, 0); });
    Call([this] { return DrainInput(); });
    if (SessionBroken()) {
      poisoned_ = true;
      co_return make_error_code(Errc::kDisconnected);
    }
    const auto now = Clock::now();
    if (keepalives) {
      NoteServerTraffic();
      if (now - last_heard_ >= 3 * keepalive) {
        poisoned_ = true;
        failure = {
            "the server sent nothing for " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(now - last_heard_).count()) +
                " s (3 keepalive intervals), not even a keepalive reply",
            false,
            {}};
        co_return make_error_code(Errc::kTimeout);
      }
      if (now >= next_keepalive_) {
        // With want-reply: a live server answers, and the answer is traffic. libssh tracks one
        // request at a time: the first call collects the previous reply, the second sends a
        // new request when none is pending (neither call blocks on a non-blocking session).
        Call([this] { return ssh_send_keepalive(ssh_); });
        Call([this] { return ssh_send_keepalive(ssh_); });
        next_keepalive_ = now + keepalive;
        continue;  // flush it
      }
    }
    if (now >= until) co_return error_code{};
    op.deadline =
        keepalives ? std::min({until, next_keepalive_, last_heard_ + 3 * keepalive}) : until;
    op.max_park = op.deadline - now;  // only socket input, a wakeup or the deadline matter
    auto ec = co_await WaitIo(op);
    if (ec && ec != Errc::kTimeout) co_return ec;
  }
}

SshSession::SshSession(asio::any_io_executor executor) : executor_(std::move(executor)) {}

SshSession::~SshSession() { Close(); }

void SshSession::Close() noexcept {
  if (core_) {
    core_->Close();
    core_.reset();
  }
}

bool SshSession::IsUsable() const noexcept { return core_ && core_->Usable(); }

asio::awaitable<error_code> SshSession::Connect(const config::HostSpec& spec,
                                                Clock::time_point deadline,
                                                ConnectOptions options) {
  Close();
  auto core = std::make_shared<Core>(executor_);
  core_ = core;
  channels_ = std::make_unique<AsyncSemaphore>(std::max(1u, spec.max_channels_per_host));
  info_ = ServerInfo{};
  failure_ = FailureDetail{};
  auto ec = co_await core->Connect(spec, deadline, options, info_, failure_, nullptr);
  if (ec) {
    core->Close();
    if (core_ == core) core_.reset();
    co_return ec;
  }
  ++epoch_;
  co_return ec;
}

asio::awaitable<boost::system::result<CommandOutput>> SshSession::RunScript(std::string_view script,
                                                                            RunOptions options) {
  if (!core_) co_return make_error_code(Errc::kDisconnected);
  auto core = core_;
  co_return co_await core->Run(script, options, *channels_);
}

asio::awaitable<error_code> SshSession::WatchIdle(Clock::time_point until,
                                                  std::chrono::milliseconds keepalive) {
  if (!core_) co_return make_error_code(Errc::kDisconnected);
  auto core = core_;
  co_return co_await core->WatchIdle(until, keepalive, failure_);
}

asio::awaitable<boost::system::result<ScannedKey>> KeyScan(const config::HostSpec& spec,
                                                           Clock::time_point deadline,
                                                           FailureDetail* failure) {
  auto core = std::make_shared<SshSession::Core>(co_await asio::this_coro::executor);
  ServerInfo info;
  FailureDetail detail;
  ScannedKey scanned;
  auto ec = co_await core->Connect(spec, deadline, {}, info, detail, &scanned);
  core->Close();
  if (failure != nullptr) *failure = std::move(detail);
  if (ec) co_return ec;
  co_return scanned;
}

asio::awaitable<boost::system::result<EnrollResult>> Enroll(const config::HostSpec& spec,
                                                            Clock::time_point deadline,
                                                            FailureDetail* failure) {
  auto scanned = co_await KeyScan(spec, deadline, failure);
  if (!scanned) co_return scanned.error();
  KnownHostsFile file(spec.known_hosts);
  const std::string& host = spec.address.empty() ? spec.name : spec.address;
  auto outcome = file.Record(host, spec.port, scanned->key);
  if (!outcome) co_return outcome.error();
  co_return EnrollResult{std::move(*scanned), *outcome};
}

}  // namespace fleetps::agent
