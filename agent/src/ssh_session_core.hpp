#pragma once

// Private to the ssh_session*.cpp files: SshSession::Core, the state one connection's
// operations share. Its lifetime and socket waiting are in ssh_session.cpp, the connect,
// handshake and login path in ssh_session_connect.cpp, running a script on a channel in
// ssh_session_channel.cpp, and keepalive and idle watching in ssh_session_idle.cpp.

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "fleetps/agent/ssh_session.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (awaitable_frame's own
// operator new/delete pair), see GCC PR 104578. Set here, so it covers Retry below wherever it
// is instantiated and every coroutine in the ssh_session*.cpp files, which all include this.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::agent {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

inline std::string Str(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

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

  // Marks a script run in flight (see WatchIdle); the last one to end wakes the idle watch.
  struct RunInFlight {
    explicit RunInFlight(Core& c) : core(c) { ++core.runs_in_flight_; }
    ~RunInFlight() {
      if (--core.runs_in_flight_ == 0) core.WakeAll();
    }
    RunInFlight(const RunInFlight&) = delete;
    RunInFlight& operator=(const RunInFlight&) = delete;
    Core& core;
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
  ShellStats Shell() const noexcept {
    return {shell_ != nullptr, shells_opened_, shell_stray_bytes_};
  }
  asio::awaitable<error_code> WatchIdle(Clock::time_point until,
                                        std::chrono::milliseconds keepalive,
                                        FailureDetail& failure);

  void Close() noexcept {
    if (closed_) return;
    closed_ = true;
    WakeAll();
    Detach();
    if (active_ops_ == 0) FreeNow();
  }

  bool Usable() const noexcept { return ssh_ != nullptr && !closed_ && !poisoned_ && ready_; }

 private:
  void FreeNow() noexcept;

  void WakeAll() {
    for (Waiter* w : waiters_) {
      w->woken = true;
      w->timer.cancel();
    }
  }

  bool SocketReadable() {
    pollfd p{fd_, POLLIN, 0};  // a negative fd (closed by libssh) polls as nothing
    return ::poll(&p, 1, 0) > 0;
  }

  // One descriptor per connection, owned by libssh once adopted (SSH_OPTIONS_FD). libssh 0.10.6
  // closes it by itself whenever the session breaks (EOF, SSH_MSG_DISCONNECT, a write error, a
  // connect error), from inside any call that reads or writes. So Asio holds the descriptor
  // only while a wait is armed and never during a libssh call (Call detaches first): a number
  // libssh closed, and another thread reused, is never deregistered or closed by Asio here.
  // An armed wait whose registration is new reports the readiness already there, so detaching
  // loses no wakeup. Staying registered across calls is not safe: after libssh closed the
  // number, Asio's only ways to forget it (release, close) deregister by number
  // (EPOLL_CTL_DEL), which would hit a descriptor another thread has opened there since.
  void Attach() {
    if (socket_.is_open() || fd_ < 0) return;
    error_code ignored;
    socket_.assign(protocol_, fd_, ignored);
  }

  void Detach() noexcept {
    ++wait_generation_;  // the cancelled waits' handlers must not clear the flags of new ones
    read_wait_ = write_wait_ = false;
    if (!socket_.is_open()) return;
    error_code ignored;
    if (fd_adopted_) {
      (void)socket_.release(ignored);
    } else {
      socket_.cancel(ignored);  // still Asio's own socket: connecting
    }
  }

  void ArmSocketWait(tcp::socket::wait_type type) {
    bool& pending = type == tcp::socket::wait_write ? write_wait_ : read_wait_;
    if (pending) return;
    Attach();
    if (!socket_.is_open()) return;
    pending = true;
    socket_.async_wait(
        type, [self = shared_from_this(), type, generation = wait_generation_](const error_code&) {
          if (generation != self->wait_generation_) return;  // detached before a libssh call
          (type == tcp::socket::wait_write ? self->write_wait_ : self->read_wait_) = false;
          self->WakeAll();
        });
  }

  // Calls into libssh may consume bytes meant for another parked operation (libssh reads for the
  // whole session); when that can have happened, wake the others so they look at their buffers.
  // Asio lets go of the descriptor for the call (see Attach) and waits again afterwards.
  template <class Fn>
  auto Call(Fn&& fn) {
    const bool others_wait = !waiters_.empty() && SocketReadable();
    const bool rearm_read = read_wait_;
    const bool rearm_write = write_wait_;
    Detach();
    auto rc = fn();
    NoteLibsshClosed();
    if (rearm_read) ArmSocketWait(tcp::socket::wait_read);
    if (rearm_write) ArmSocketWait(tcp::socket::wait_write);
    if (others_wait) WakeAll();
    return rc;
  }

  // libssh forgets the descriptor exactly when it closes it (0.10.6, and 0.11 for its own).
  void NoteLibsshClosed() noexcept {
    if (fd_adopted_ && fd_ >= 0 && ssh_ != nullptr && ssh_get_fd(ssh_) != fd_) fd_ = -1;
  }

  // Parks until the socket is ready in the direction libssh needs, another operation made
  // progress, or the deadline passes. Never waits when data is already there: Asio's epoll
  // reactor is edge-triggered and libssh reads at most 4 KiB per call.
  asio::awaitable<error_code> WaitIo(Op& op);

  // Parks until another operation wakes the waiters (progress, input seen by a waiting run,
  // the last run ending, Close) or `until`; never arms a socket wait of its own.
  asio::awaitable<error_code> Park(Clock::time_point until);

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
  int DrainInput();

  bool SessionBroken() const { return ssh_ == nullptr || ssh_is_connected(ssh_) == 0; }

  // The session's persistent interpreter channel (ChannelMode::kShell). It holds one channel
  // permit while open; `turn` lets one run at a time use it.
  struct ShellChannel {
    ssh_channel channel = nullptr;
    AsyncSemaphore::Permit permit;
    ssh_channel_callbacks_struct callbacks{};
    bool exited = false;  // exit-status or exit-signal arrived: the interpreter is gone
  };

  // Sends close (when the connection still works) and frees `ch`, unhooking `cb` first.
  void FreeChannel(ssh_channel ch, ssh_channel_callbacks cb) noexcept;
  void CloseShell() noexcept;
  bool ShellEnded() const;

  asio::awaitable<boost::system::result<CommandOutput>> RunExec(Op& op, std::string_view script,
                                                                const RunOptions& options,
                                                                AsyncSemaphore::Permit permit);
  asio::awaitable<boost::system::result<CommandOutput>> RunShell(Op& op, std::string_view script,
                                                                 const RunOptions& options,
                                                                 AsyncSemaphore& channels);
  asio::awaitable<error_code> OpenShell(Op& op, const RunOptions& options,
                                        AsyncSemaphore& channels);
  // Opens a session channel on `ch` and execs `interpreter`. Errors: channel_failed,
  // disconnected, and timeout or operation_aborted (which leave libssh mid-request).
  asio::awaitable<error_code> OpenAndExec(Op& op, ssh_channel ch, const std::string& interpreter);
  asio::awaitable<error_code> Send(Op& op, ssh_channel ch, std::string_view data);
  // Reads both streams of `ch` into `take(is_stderr, bytes)` until `done()` or EOF on both.
  // Returns too_large when `take` refuses bytes, `eof` set per stream.
  template <class Take, class Done>
  asio::awaitable<error_code> ReadOutput(Op& op, ssh_channel ch, bool (&eof)[2], Take take,
                                         Done done);

  // Moves last_heard_ to now when the kernel received bytes from the server since the last look.
  void NoteServerTraffic();

  asio::any_io_executor ex_;
  tcp::socket socket_;
  ssh_session ssh_ = nullptr;
  bool closed_ = false;
  bool poisoned_ = false;
  bool ready_ = false;
  bool read_wait_ = false;
  bool write_wait_ = false;
  int active_ops_ = 0;
  int runs_in_flight_ = 0;
  // The connection's descriptor once Asio's connect released it; -1 after libssh closed it.
  int fd_ = -1;
  tcp protocol_ = tcp::v4();
  bool fd_adopted_ = false;  // ssh_connect was called: libssh's socket holds fd_
  unsigned wait_generation_ = 0;
  bool holds_descriptor_slot_ = false;  // detail::TakeSessionDescriptor, returned by FreeNow
  std::vector<Waiter*> waiters_;
  // Liveness (WatchIdle): when the server last sent anything, and the next keepalive.
  Clock::time_point last_heard_{};
  Clock::time_point next_keepalive_{};
  std::uint64_t bytes_received_ = 0;
  std::unique_ptr<ShellChannel> shell_;
  AsyncSemaphore shell_turn_{1};
  std::uint64_t shells_opened_ = 0;
  std::uint64_t shell_stray_bytes_ = 0;
};

}  // namespace fleetps::agent
