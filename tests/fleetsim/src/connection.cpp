#include "connection.hpp"

#include <sys/socket.h>
#include <unistd.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <random>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "fleet.hpp"
#include "responder.hpp"

namespace fleetps::fleetsim {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr std::size_t kMaxScriptBytes = 1 << 20;
constexpr std::size_t kWriteChunk = 32 * 1024;
constexpr std::size_t kMaxChannels = 10;  // sshd's MaxSessions
constexpr int kPumpRounds = 64;           // libssh reads at most 4 KiB per round

std::uint32_t NextSelfPid() {
  static std::uint32_t counter = 0;
  return 4'100'000 + (counter++ % 90'000);
}

void Debug(const char* what, ssh_session session) {
  static const bool enabled = std::getenv("FLEETSIM_DEBUG") != nullptr;
  if (enabled) {
    std::fprintf(stderr, "fleetsim: %s: %s\n", what,
                 session != nullptr ? ssh_get_error(session) : "");
  }
}

bool IsStdinScript(std::string_view command) {
  // `/bin/sh -s`, `sh -s`, `/usr/bin/ksh -s`: the script arrives on stdin, answer after EOF.
  return command.size() >= 3 && command.substr(command.size() - 3) == " -s";
}

class SshConnection final : public Connection {
 public:
  SshConnection(Fleet& fleet, std::uint64_t id, std::uint32_t host, asio::ip::tcp::socket socket)
      : Connection(fleet, id, host), descriptor_(socket.get_executor()) {
    socket.set_option(asio::ip::tcp::no_delay(true));
    // libssh owns the descriptor from here on (ssh_free closes it); Asio only waits on it.
    descriptor_.assign(socket.release());
  }

  ~SshConnection() override { Release(); }

  void Start() override {
    session_ = ssh_new();
    if (session_ == nullptr) {
      Drop();
      return;
    }
    const Fault fault = fleet_.FaultOf(host_);
    ssh_set_blocking(session_, 0);
    ssh_callbacks_init(&server_callbacks_);
    server_callbacks_.userdata = this;
    server_callbacks_.auth_pubkey_function = &SshConnection::OnAuthPubkey;
    server_callbacks_.channel_open_request_session_function = &SshConnection::OnChannelOpen;
    ssh_set_server_callbacks(session_, &server_callbacks_);
    ssh_set_auth_methods(session_, SSH_AUTH_METHOD_PUBLICKEY);
    ssh_bind bind = fleet_.BindFor(host_, fault.kind == FaultKind::kChangeHostKey);
    if (ssh_bind_accept_fd(bind, session_, descriptor_.native_handle()) != SSH_OK) {
      Debug("accept", nullptr);
      Drop();
      return;
    }
    // Sends the banner; its first packet poll also creates the session's poll context, which
    // ssh_event_add_session needs.
    if (ssh_handle_key_exchange(session_) == SSH_ERROR) {
      Debug("key exchange start", session_);
      Drop();
      return;
    }
    event_ = ssh_event_new();
    if (event_ == nullptr || ssh_event_add_session(event_, session_) != SSH_OK) {
      Debug("event", session_);
      Drop();
      return;
    }
    Pump();
  }

  void Drop() override {
    if (closed_) {
      return;
    }
    closed_ = true;
    Release();
    fleet_.Forget(id_, host_, true);
  }

 private:
  enum class Phase { kCollecting, kDelaying, kSending, kStalled, kDone };
  enum class Mode { kNormal, kDrip, kEndless, kStall };

  struct Channel {
    std::uint64_t id = 0;
    SshConnection* owner = nullptr;
    ssh_channel channel = nullptr;
    ssh_channel_callbacks_struct callbacks{};
    std::string command;
    std::string input;     // stdin not answered yet
    std::string script;    // what the answer being prepared runs
    std::string token;     // the framing token of a shell run; empty for an exec answer
    bool trailer = false;  // a shell run: the answer ends with the trailers, the channel stays
    std::string err_output;
    std::size_t err_sent = 0;
    std::uint64_t shell_runs = 0;
    bool exec = false;
    bool eof = false;
    bool peer_closed = false;
    Phase phase = Phase::kCollecting;
    Mode mode = Mode::kNormal;
    std::string output;
    std::size_t sent = 0;
    std::size_t stall_at = 0;
    int exit_status = 0;
    bool drip_ready = true;
    std::uint64_t endless_counter = 0;
    std::unique_ptr<HostSnapshot> endless_host;
    std::unique_ptr<asio::steady_timer> timer;
  };

  // ---- libssh callbacks: record only; Pump acts, never re-entering libssh from here ----

  static int OnAuthPubkey(ssh_session, const char*, ssh_key pubkey, char signature_state,
                          void* userdata) {
    auto* self = static_cast<SshConnection*>(userdata);
    const bool rejected = self->fleet_.FaultOf(self->host_).kind == FaultKind::kRejectUserKey;
    if (rejected || !self->fleet_.Keys().IsAuthorized(pubkey)) {
      ++self->fleet_.MutableStats().auth_denied;
      return SSH_AUTH_DENIED;
    }
    if (signature_state == SSH_PUBLICKEY_STATE_NONE) {
      return SSH_AUTH_SUCCESS;  // "would this key do?": yes
    }
    if (signature_state == SSH_PUBLICKEY_STATE_VALID) {
      self->authenticated_ = true;
      ++self->fleet_.MutableStats().auth_accepted;
      return SSH_AUTH_SUCCESS;
    }
    ++self->fleet_.MutableStats().auth_denied;
    return SSH_AUTH_DENIED;
  }

  static ssh_channel OnChannelOpen(ssh_session session, void* userdata) {
    auto* self = static_cast<SshConnection*>(userdata);
    if (!self->authenticated_ || self->channels_.size() >= kMaxChannels) {
      return nullptr;
    }
    ssh_channel channel = ssh_channel_new(session);
    if (channel == nullptr) {
      return nullptr;
    }
    Channel& c = self->channels_.emplace_back();
    c.id = ++self->next_channel_id_;
    c.owner = self;
    c.channel = channel;
    ssh_callbacks_init(&c.callbacks);
    c.callbacks.userdata = &c;
    c.callbacks.channel_data_function = &SshConnection::OnData;
    c.callbacks.channel_eof_function = &SshConnection::OnEof;
    c.callbacks.channel_close_function = &SshConnection::OnClose;
    c.callbacks.channel_exec_request_function = &SshConnection::OnExec;
    // pty, shell, env, subsystem and forwarding requests have no callback: libssh refuses them.
    ssh_set_channel_callbacks(channel, &c.callbacks);
    ++self->fleet_.MutableStats().channels_opened;
    return channel;
  }

  static int OnExec(ssh_session, ssh_channel, const char* command, void* userdata) {
    auto* c = static_cast<Channel*>(userdata);
    if (c->exec) {
      return -1;
    }
    c->exec = true;
    c->command = command;
    if (!IsStdinScript(c->command)) {
      c->eof = true;  // A plain command line is answered at once.
      c->input = c->command;
    }
    return 0;
  }

  static int OnData(ssh_session, ssh_channel, void* data, std::uint32_t len, int is_stderr,
                    void* userdata) {
    auto* c = static_cast<Channel*>(userdata);
    c->owner->fleet_.MutableStats().bytes_in += len;
    if (is_stderr == 0 && IsStdinScript(c->command) && c->input.size() < kMaxScriptBytes) {
      c->input.append(static_cast<const char*>(data), std::min<std::size_t>(len, kMaxScriptBytes));
    }
    return static_cast<int>(len);
  }

  static void OnEof(ssh_session, ssh_channel, void* userdata) {
    static_cast<Channel*>(userdata)->eof = true;
  }

  static void OnClose(ssh_session, ssh_channel, void* userdata) {
    static_cast<Channel*>(userdata)->peer_closed = true;
  }

  // ---- driving -------------------------------------------------------------------------------

  // Runs libssh until it would block, acts on what the callbacks recorded, then waits on the
  // socket. The loop must drain: the reactor is edge-triggered, and libssh reads 4 KiB a round.
  void Pump() {
    if (closed_) {
      return;
    }
    bool drained = false;
    for (int round = 0; round < kPumpRounds && !drained; ++round) {
      const int rc = ssh_event_dopoll(event_, 0);
      if (rc == SSH_ERROR) {
        Debug("poll", session_);
        Drop();
        return;
      }
      drained = rc == SSH_AGAIN;
      if (!kex_done_) {
        const int kex = ssh_handle_key_exchange(session_);
        if (kex == SSH_ERROR) {
          Debug("key exchange", session_);
          Drop();
          return;
        }
        if (kex == SSH_OK) {
          kex_done_ = true;
          ++fleet_.MutableStats().handshakes;
        }
      }
      ServiceChannels();
      if (closed_) {
        return;
      }
    }
    if ((ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) {
      Drop();
      return;
    }
    const bool write_pending = (ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) != 0;
    if (disconnect_pending_ && !write_pending) {
      ++fleet_.MutableStats().sessions_dropped;
      Release(true);
      closed_ = true;
      fleet_.Forget(id_, host_, true);
      return;
    }
    if (!drained) {
      // Fairness: let other sessions run, then continue where we stopped.
      asio::post(descriptor_.get_executor(), [self = Self()] { self->Pump(); });
      return;
    }
    if (!read_armed_) {
      read_armed_ = true;
      descriptor_.async_wait(asio::posix::descriptor_base::wait_read,
                             [self = Self()](const error_code& ec) {
                               self->read_armed_ = false;
                               if (!ec) self->Pump();
                             });
    }
    if (write_pending && !write_armed_) {
      write_armed_ = true;
      descriptor_.async_wait(asio::posix::descriptor_base::wait_write,
                             [self = Self()](const error_code& ec) {
                               self->write_armed_ = false;
                               if (!ec) self->Pump();
                             });
    }
  }

  void ServiceChannels() {
    for (auto it = channels_.begin(); it != channels_.end();) {
      Channel& c = *it;
      // A shell run that ends at once leaves the channel collecting: a next run may be buffered.
      bool again = true;
      while (again) {
        again = false;
        if (c.phase == Phase::kCollecting && c.exec) {
          TakeInput(c);
        }
        if (c.phase == Phase::kSending) {
          again = Send(c) && c.phase == Phase::kCollecting;
        }
      }
      if (c.phase == Phase::kDone || c.peer_closed) {
        if (c.timer) {
          c.timer->cancel();
        }
        ssh_remove_channel_callbacks(c.channel, &c.callbacks);
        ssh_channel_free(c.channel);
        it = channels_.erase(it);
        continue;
      }
      ++it;
    }
  }

  // Starts the next answer when stdin holds one: a complete framed shell run (the channel then
  // stays open for the next), or, at EOF, whatever remains, answered like an exec'd script.
  void TakeInput(Channel& c) {
    const FaultKind fault = fleet_.FaultOf(host_).kind;
    // A shell that reads ahead (shell:eof) runs nothing before stdin ends.
    if (fault != FaultKind::kShellEof || c.eof) {
      if (const auto run = FindShellRun(c.input)) {
        c.script.assign(run->script);
        c.token.assign(run->token);
        c.trailer = fault != FaultKind::kShellExit;
        c.input.erase(0, run->length);
        BeginAnswer(c);
        return;
      }
    }
    if (!c.eof) {
      return;
    }
    c.token.clear();
    c.trailer = false;
    if (c.shell_runs > 0 && c.input.find_first_not_of(" \t\n") == std::string::npos) {
      // A shell whose stdin ends after its runs exits with the last command's status (echo's).
      ssh_channel_request_send_exit_status(c.channel, 0);
      ssh_channel_send_eof(c.channel);
      ssh_channel_close(c.channel);
      c.phase = Phase::kDone;
      return;
    }
    c.script = std::move(c.input);
    c.input.clear();
    BeginAnswer(c);
  }

  void BeginAnswer(Channel& c) {
    // The fingerprint asks uname first; a probe script never does (the cluster tests tell a
    // receiver's warm-up from a probe by it).
    fleet_.RecordScript(host_, peer_, c.script.find("fp_b uname-s;") != std::string::npos);
    const Fault fault = fleet_.FaultOf(host_);
    std::uint32_t delay_ms = 0;
    if (fault.kind == FaultKind::kDelay) {
      delay_ms = fault.arg;
    } else if (fault.kind == FaultKind::kRandomDelay && fault.arg > 0) {
      delay_ms = static_cast<std::uint32_t>(Random()() % (fault.arg + 1ull));
    }
    if (delay_ms > 0) {
      c.phase = Phase::kDelaying;
      StartTimer(c, std::chrono::milliseconds(delay_ms),
                 [](Channel& ch) { ch.owner->Prepare(ch); });
      return;
    }
    Prepare(c);
  }

  void Prepare(Channel& c) {
    const Fault fault = fleet_.FaultOf(host_);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    HostSnapshot host = SimulateHost(host_, fleet_.DialectOf(host_), fleet_.SimEpoch(), now);
    c.phase = Phase::kSending;
    c.mode = Mode::kNormal;
    c.sent = 0;
    c.err_output.clear();
    c.err_sent = 0;
    switch (fault.kind) {
      case FaultKind::kGarbage: {
        c.output.resize(64 * 1024);
        auto& rng = Random();
        for (char& ch : c.output) {
          ch = static_cast<char>(rng() & 0xff);
        }
        c.exit_status = 0;
        AddTrailers(c);
        return;
      }
      case FaultKind::kEndless:
        c.mode = Mode::kEndless;
        c.output = EndlessPrefix(c.script, host);
        c.endless_host = std::make_unique<HostSnapshot>(std::move(host));
        return;
      default:
        break;
    }
    Answer answer = RunScript(c.script, host, NextSelfPid());
    c.output = std::move(answer.output);
    c.exit_status = answer.exit_status;
    if (fault.kind == FaultKind::kStallOutput) {
      c.mode = Mode::kStall;
      c.stall_at = c.output.size() / 2;
    } else if (fault.kind == FaultKind::kDrip) {
      c.mode = Mode::kDrip;
    }
    AddTrailers(c);
  }

  // The lines the framing's echos print after a shell run: `echo; echo "@@FLEETPS ..."`.
  static void AddTrailers(Channel& c) {
    if (c.trailer) {
      c.output += ShellStdoutTrailer(c.token, c.exit_status);
      c.err_output = ShellStderrTrailer(c.token);
    }
  }

  // Writes what the client's window and libssh's buffer take. True when the answer is complete.
  bool Send(Channel& c) {
    for (;;) {
      if (c.mode == Mode::kEndless && c.sent == c.output.size()) {
        c.output = EndlessChunk(*c.endless_host, c.endless_counter, kWriteChunk);
        c.sent = 0;
      }
      std::size_t limit = c.output.size();
      if (c.mode == Mode::kStall) {
        limit = c.stall_at;
      }
      if (c.sent >= limit) {
        break;
      }
      if ((ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) != 0) {
        return false;  // Back-pressure: wait until libssh has flushed what it holds.
      }
      std::size_t n = std::min({limit - c.sent, kWriteChunk,
                                static_cast<std::size_t>(ssh_channel_window_size(c.channel))});
      if (c.mode == Mode::kDrip) {
        if (!c.drip_ready) {
          return false;
        }
        n = std::min<std::size_t>(n, 1);
      }
      if (n == 0) {
        return false;  // The client's window is full; its window adjust wakes us.
      }
      const int written =
          ssh_channel_write(c.channel, c.output.data() + c.sent, static_cast<std::uint32_t>(n));
      if (written < 0) {
        c.phase = Phase::kDone;
        return false;
      }
      c.sent += static_cast<std::size_t>(written);
      fleet_.MutableStats().bytes_out += static_cast<std::uint64_t>(written);
      if (c.mode == Mode::kDrip && written > 0) {
        c.drip_ready = false;
        StartTimer(c, std::chrono::seconds(1), [](Channel& ch) { ch.drip_ready = true; });
        return false;
      }
      if (written == 0) {
        return false;
      }
    }
    if (c.mode == Mode::kStall) {
      c.phase = Phase::kStalled;  // Forever: only the client's close ends it.
      return false;
    }
    // stderr carries only a shell run's trailer, written once stdout is complete.
    while (c.err_sent < c.err_output.size()) {
      if ((ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) != 0) {
        return false;
      }
      const std::size_t n = std::min(c.err_output.size() - c.err_sent,
                                     static_cast<std::size_t>(ssh_channel_window_size(c.channel)));
      if (n == 0) {
        return false;
      }
      const int written = ssh_channel_write_stderr(c.channel, c.err_output.data() + c.err_sent,
                                                   static_cast<std::uint32_t>(n));
      if (written < 0) {
        c.phase = Phase::kDone;
        return false;
      }
      if (written == 0) {
        return false;
      }
      c.err_sent += static_cast<std::size_t>(written);
      fleet_.MutableStats().bytes_out += static_cast<std::uint64_t>(written);
    }
    FinishAnswer(c);
    return true;
  }

  // A shell run leaves the channel open for the next; anything else ends it like a process.
  void FinishAnswer(Channel& c) {
    if (!c.token.empty()) {
      ++c.shell_runs;
      ++fleet_.MutableStats().shell_runs_served;
    }
    if (c.trailer) {
      c.phase = Phase::kCollecting;
      c.output.clear();
      c.err_output.clear();
      c.script.clear();
      c.token.clear();
      c.sent = 0;
      c.err_sent = 0;
    } else {
      ssh_channel_request_send_exit_status(c.channel, c.exit_status);
      ssh_channel_send_eof(c.channel);
      ssh_channel_close(c.channel);
      c.phase = Phase::kDone;
    }
    ++commands_;
    ++fleet_.MutableStats().commands_served;
    const Fault fault = fleet_.FaultOf(host_);
    if (fault.kind == FaultKind::kDisconnectAfter && commands_ >= fault.arg && !disconnect_timer_) {
      // A moment's grace so the client has the Nth answer in hand before the session goes
      // (an OpenSSH ControlMaster would otherwise drop it on the way to its mux client).
      disconnect_timer_ = std::make_unique<asio::steady_timer>(descriptor_.get_executor());
      disconnect_timer_->expires_after(std::chrono::milliseconds(100));
      disconnect_timer_->async_wait([self = Self()](const error_code& ec) {
        if (!ec && !self->closed_) {
          self->disconnect_pending_ = true;
          self->Pump();
        }
      });
    }
  }

  template <class Fn>
  void StartTimer(Channel& c, std::chrono::steady_clock::duration after, Fn fn) {
    if (!c.timer) {
      c.timer = std::make_unique<asio::steady_timer>(descriptor_.get_executor());
    }
    c.timer->expires_after(after);
    // The handler finds the channel by id: it may have been freed after the timer fired.
    c.timer->async_wait([self = Self(), id = c.id, fn](const error_code& ec) {
      if (ec || self->closed_) {
        return;
      }
      for (Channel& channel : self->channels_) {
        if (channel.id == id) {
          fn(channel);
          break;
        }
      }
      self->Pump();
    });
  }

  std::shared_ptr<SshConnection> Self() {
    return std::static_pointer_cast<SshConnection>(shared_from_this());
  }

  static std::mt19937_64& Random() {
    static std::mt19937_64 rng{0x5eed};
    return rng;
  }

  // Frees libssh state. `graceful` sends SSH_MSG_DISCONNECT first.
  void Release(bool graceful = false) {
    if (disconnect_timer_) {
      disconnect_timer_->cancel();
    }
    for (Channel& c : channels_) {
      if (c.timer) {
        c.timer->cancel();
      }
      ssh_remove_channel_callbacks(c.channel, &c.callbacks);
    }
    channels_.clear();  // ssh_free frees the channels themselves.
    // Stop waiting first: once libssh closes the descriptor, its number may be reused.
    if (descriptor_.is_open()) {
      const int fd = descriptor_.release();
      if (session_ == nullptr) {
        ::close(fd);
      }
    }
    if (event_ != nullptr) {
      if (session_ != nullptr) {
        ssh_event_remove_session(event_, session_);
      }
      ssh_event_free(event_);
      event_ = nullptr;
    }
    if (session_ != nullptr) {
      if (graceful) {
        ssh_disconnect(session_);
      }
      ssh_free(session_);
      session_ = nullptr;
    }
  }

  asio::posix::stream_descriptor descriptor_;
  ssh_session session_ = nullptr;
  ssh_event event_ = nullptr;
  ssh_server_callbacks_struct server_callbacks_{};
  std::unique_ptr<asio::steady_timer> disconnect_timer_;
  std::list<Channel> channels_;  // std::list: callbacks keep pointers to elements
  std::uint32_t commands_ = 0;
  std::uint64_t next_channel_id_ = 0;
  bool kex_done_ = false;
  bool authenticated_ = false;
  bool closed_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool disconnect_pending_ = false;
};

class RawConnection final : public Connection {
 public:
  RawConnection(Fleet& fleet, std::uint64_t id, std::uint32_t host, asio::ip::tcp::socket socket,
                bool send_banner)
      : Connection(fleet, id, host), socket_(std::move(socket)), send_banner_(send_banner) {}

  void Start() override {
    if (send_banner_) {
      static constexpr std::string_view kBanner = "SSH-2.0-libssh_0.10.6\r\n";
      asio::async_write(socket_, asio::buffer(kBanner),
                        [self = Self()](const error_code& ec, std::size_t) {
                          if (ec) {
                            self->Drop();
                          } else {
                            self->Read();
                          }
                        });
      return;
    }
    Read();
  }

  void Drop() override {
    if (closed_) {
      return;
    }
    closed_ = true;
    error_code ignored;
    socket_.close(ignored);
    fleet_.Forget(id_, host_, false);
  }

 private:
  void Read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = Self()](const error_code& ec, std::size_t) {
                              if (ec) {
                                self->Drop();
                              } else {
                                self->Read();
                              }
                            });
  }

  std::shared_ptr<RawConnection> Self() {
    return std::static_pointer_cast<RawConnection>(shared_from_this());
  }

  asio::ip::tcp::socket socket_;
  bool send_banner_;
  bool closed_ = false;
  std::array<char, 512> buffer_{};
};

}  // namespace

std::shared_ptr<Connection> MakeSshConnection(Fleet& fleet, std::uint64_t id, std::uint32_t host,
                                              asio::ip::tcp::socket socket) {
  return std::make_shared<SshConnection>(fleet, id, host, std::move(socket));
}

std::shared_ptr<Connection> MakeRawConnection(Fleet& fleet, std::uint64_t id, std::uint32_t host,
                                              asio::ip::tcp::socket socket, bool send_banner) {
  return std::make_shared<RawConnection>(fleet, id, host, std::move(socket), send_banner);
}

}  // namespace fleetps::fleetsim
