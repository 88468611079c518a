#include <algorithm>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "fleetps/agent/ssh_session.hpp"
#include "random_token.hpp"
#include "shell_counting.hpp"
#include "ssh_session_core.hpp"

namespace fleetps::agent {

namespace {

// Channel reads go through one 64 KiB buffer per thread instead of one per session: a member
// buffer made every session, idle or not, 64 KiB bigger (measured: RSS per idle session 87 ->
// 23 kB). Sharing is safe because a reader never suspends between filling the buffer and copying
// it out (see Core::ReadOutput), so no other coroutine on this thread can touch it meanwhile.
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

void OnShellExitStatus(ssh_session, ssh_channel, int, void* exited) {
  *static_cast<bool*>(exited) = true;
}

void OnShellExitSignal(ssh_session, ssh_channel, const char*, int, const char*, const char*,
                       void* exited) {
  *static_cast<bool*>(exited) = true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The end of one framed run on the shell (see SshSession::RunScript): finds the two trailers
// carrying this run's token, looking only at bytes not looked at before, and strips them.
class ShellFrame {
 public:
  explicit ShellFrame(const std::string& token) {
    out_prefix_.append("\n@@FLEETPS ").append(token).append(" EXIT rc=");
    err_marker_.append("\n@@FLEETPS ").append(token).append(" EXIT\n");
  }

  // The text the client sends for `script`: a subshell (so `exit` in the script ends only it)
  // reading nothing from the channel, then the two trailers.
  std::string Wrap(std::string_view script, const std::string& token) const {
    std::string framed;
    framed.reserve(script.size() + 2 * token.size() + 120);
    framed.append("(\n").append(script);
    if (!script.empty() && script.back() != '\n') framed.push_back('\n');
    framed.append(") </dev/null\nfp_s=$?; echo; echo \"@@FLEETPS ").append(token);
    framed.append(" EXIT rc=$fp_s\"; echo >&2; echo \"@@FLEETPS ").append(token);
    framed.append(" EXIT\" >&2\n");
    return framed;
  }

  // Bytes the trailers add to the output (the rc has at most 10 digits).
  std::uint64_t Overhead() const { return out_prefix_.size() + 11 + err_marker_.size(); }

  // Looks at what `out` and `err` gained since the last call.
  void Scan(const CommandOutput& output) {
    if (!out_end_) ScanOut(output.out);
    if (!err_at_) {
      const std::size_t from = err_scan_;
      const std::size_t at = output.err.find(err_marker_, from);
      if (at != std::string::npos) {
        err_at_ = at;
      } else if (output.err.size() >= err_marker_.size()) {
        err_scan_ = output.err.size() - err_marker_.size() + 1;
      }
    }
  }

  bool OutDone() const { return out_end_.has_value() || bad_; }
  bool ErrDone() const { return err_at_.has_value(); }
  bool Done() const { return out_end_ && err_at_; }
  bool Bad() const { return bad_; }

  // Cuts the trailers (and anything after them, which belongs to no run) off `output`, sets
  // the exit status, and returns how many bytes after the trailers were dropped.
  std::uint64_t Strip(CommandOutput& output) const {
    const std::uint64_t stray =
        (output.out.size() - *out_end_) + (output.err.size() - *err_at_ - err_marker_.size());
    output.out.resize(out_at_);
    output.err.resize(*err_at_);
    output.exit_status = rc_;
    output.bytes = output.out.size() + output.err.size();
    return stray;
  }

 private:
  void ScanOut(const std::string& out) {
    if (!out_at_found_) {
      const std::size_t at = out.find(out_prefix_, out_scan_);
      if (at == std::string::npos) {
        if (out.size() >= out_prefix_.size()) out_scan_ = out.size() - out_prefix_.size() + 1;
        return;
      }
      out_at_ = at;
      out_at_found_ = true;
      out_scan_ = at + out_prefix_.size();
    }
    // The rc: digits up to a newline, possibly split over reads.
    int rc = 0;
    std::size_t i = out_at_ + out_prefix_.size();
    for (; i < out.size() && IsDigit(out[i]); ++i) {
      if (i - (out_at_ + out_prefix_.size()) >= 10) break;
      rc = rc * 10 + (out[i] - '0');
    }
    if (i == out.size()) return;  // more digits may follow
    if (out[i] != '\n' || i == out_at_ + out_prefix_.size() || rc > 255) {
      bad_ = true;  // only the shell knows the token: it printed garbage
      return;
    }
    rc_ = rc;
    out_end_ = i + 1;
  }

  std::string out_prefix_;
  std::string err_marker_;
  std::size_t out_scan_ = 0;
  std::size_t err_scan_ = 0;
  std::size_t out_at_ = 0;
  bool out_at_found_ = false;
  std::optional<std::size_t> out_end_;
  std::optional<std::size_t> err_at_;
  int rc_ = 0;
  bool bad_ = false;
};

// How much output past `output_limit` a run reads and drops while waiting for the server's EOF
// (see ReadOutput): the price of keeping a dropbear connection alive, bounded.
constexpr std::uint64_t kOverflowDrainBytes = 1 << 20;

bool CostsOnlyTheChannel(const error_code& ec) {
  return ec == Errc::kTimeout || ec == Errc::kTooLarge || ec == Errc::kChannelFailed ||
         ec == Errc::kShellFailed;
}

}  // namespace

void SshSession::Core::FreeChannel(ssh_channel ch, ssh_channel_callbacks cb) noexcept {
  if (ch == nullptr || ssh_ == nullptr) return;
  ssh_remove_channel_callbacks(ch, cb);
  // Both may send a close message, and a failed write makes libssh close the descriptor.
  Call([&] {
    if (ssh_channel_is_open(ch) && !SessionBroken()) ssh_channel_close(ch);
    ssh_channel_free(ch);
    return 0;
  });
}

void SshSession::Core::CloseShell() noexcept {
  if (!shell_) return;
  const auto shell = std::move(shell_);  // its permit goes back when this returns
  FreeChannel(shell->channel, &shell->callbacks);
}

bool SshSession::Core::ShellEnded() const {
  const ssh_channel ch = shell_->channel;
  return shell_->exited || ssh_channel_is_closed(ch) != 0 || ssh_channel_is_eof(ch) != 0;
}

asio::awaitable<boost::system::result<CommandOutput>> SshSession::Core::Run(
    std::string_view script, const RunOptions& options, AsyncSemaphore& channels) {
  auto self = shared_from_this();
  Op op(*this);
  RunInFlight in_flight(*this);
  op.deadline = options.deadline;
  if (!Usable()) co_return make_error_code(Errc::kDisconnected);

  if (options.channel == ChannelMode::kShell) {
    AsyncSemaphore::Permit turn = shell_turn_.TryAcquire();
    if (!turn) {
      // The shell is busy: take an exec channel when one is free, else wait for the shell.
      if (auto permit = channels.TryAcquire()) {
        co_return co_await RunExec(op, script, options, std::move(permit));
      }
      if (auto ec = co_await shell_turn_.Acquire(turn, options.deadline)) {
        if (ec != Errc::kTimeout) poisoned_ = true;
        co_return ec;
      }
      if (!Usable()) co_return make_error_code(Errc::kDisconnected);
    }
    co_return co_await RunShell(op, script, options, channels);
  }

  // An idle shell holding the last channel permit gives it to an exec run: it reopens later.
  if (shell_ && channels.Available() == 0 && shell_turn_.Available() > 0) CloseShell();
  AsyncSemaphore::Permit permit;
  if (auto ec = co_await channels.Acquire(permit, options.deadline)) {
    if (ec != Errc::kTimeout) poisoned_ = true;
    co_return ec;
  }
  if (!Usable()) co_return make_error_code(Errc::kDisconnected);
  co_return co_await RunExec(op, script, options, std::move(permit));
}

asio::awaitable<error_code> SshSession::Core::OpenAndExec(Op& op, ssh_channel ch,
                                                          const std::string& interpreter) {
  {
    auto [rc, ec] = co_await Retry(op, [ch] { return ssh_channel_open_session(ch); });
    if (ec) co_return ec;
    if (rc != SSH_OK) {
      co_return make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kChannelFailed);
    }
  }
  auto [rc, ec] = co_await Retry(
      op, [ch, &interpreter] { return ssh_channel_request_exec(ch, interpreter.c_str()); });
  if (ec) co_return ec;
  if (rc != SSH_OK) {
    co_return make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kChannelFailed);
  }
  co_return error_code{};
}

asio::awaitable<error_code> SshSession::Core::Send(Op& op, ssh_channel ch, std::string_view data) {
  for (std::size_t sent = 0; sent < data.size();) {
    const auto chunk = static_cast<std::uint32_t>(std::min<std::size_t>(data.size() - sent, 32768));
    const int n = Call([&] { return ssh_channel_write(ch, data.data() + sent, chunk); });
    if (n == SSH_ERROR) {
      co_return make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kChannelFailed);
    }
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (auto ec = co_await WaitIo(op)) co_return ec;
  }
  co_return error_code{};
}

template <class Take, class Done>
asio::awaitable<error_code> SshSession::Core::ReadOutput(Op& op, ssh_channel ch, bool (&eof)[2],
                                                         Take take, Done done) {
  // Output past the limit is discarded, not cut off by closing the channel mid-stream: libssh
  // (0.10) still sends a window adjust for data that arrives after its channel close, and
  // dropbear ends the whole connection ("Unknown channel") when that adjust crosses its own close
  // on the wire. So the run sends EOF (a shell then exits after its trailers) and reads on to the
  // server's EOF, after which no data and so no adjust can follow; only a run that goes on past
  // kOverflowDrainBytes or its deadline is closed mid-stream.
  std::optional<std::uint64_t> discarded;  // set once the output passed the limit
  const error_code too_large = make_error_code(Errc::kTooLarge);
  for (unsigned burst = 0;;) {
    if (!discarded && done()) co_return error_code{};
    if (Clock::now() >= op.deadline) {
      co_return discarded ? too_large : make_error_code(Errc::kTimeout);
    }
    bool progress = false;
    for (int stream = 0; stream < 2; ++stream) {
      if (eof[stream]) continue;
      // The buffer is shared by every session on this thread: fetch it after the last
      // suspension and copy out of it before the next one (no co_await from here to take).
      const std::span<char> buf = ThreadReadBuffer();
      const int n = Call([&] {
        return ssh_channel_read_nonblocking(ch, buf.data(), static_cast<std::uint32_t>(buf.size()),
                                            stream);
      });
      if (n > 0) {
        progress = true;
        if (discarded) {
          *discarded += static_cast<std::uint64_t>(n);
          if (*discarded > kOverflowDrainBytes) co_return too_large;
        } else if (!take(stream == 1, std::string_view(buf.data(), static_cast<std::size_t>(n)))) {
          if (Call([ch] { return ssh_channel_send_eof(ch); }) == SSH_ERROR) {
            co_return SessionBroken() ? make_error_code(Errc::kDisconnected) : too_large;
          }
          discarded = 0;
        }
      } else if (n == SSH_EOF) {
        eof[stream] = true;
        progress = true;
      } else if (n == SSH_ERROR) {
        co_return make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kChannelFailed);
      }
    }
    if (eof[0] && eof[1]) co_return discarded ? too_large : error_code{};
    if (!progress) {
      // Drain what libssh already holds before waiting on the socket (edge-triggered epoll).
      const int p0 = eof[0] ? 0 : Call([ch] { return ssh_channel_poll(ch, 0); });
      const int p1 = eof[1] ? 0 : Call([ch] { return ssh_channel_poll(ch, 1); });
      if (p0 == SSH_ERROR || p1 == SSH_ERROR) {
        co_return make_error_code(SessionBroken() ? Errc::kDisconnected : Errc::kChannelFailed);
      }
      progress = p0 != 0 || p1 != 0;
    }
    if (progress) {
      if (++burst % 64 == 0) co_await asio::post(ex_, asio::use_awaitable);  // be fair to hosts
      continue;
    }
    if (auto ec = co_await WaitIo(op)) co_return discarded&& ec == Errc::kTimeout ? too_large : ec;
  }
}

asio::awaitable<boost::system::result<CommandOutput>> SshSession::Core::RunExec(
    Op& op, std::string_view script, const RunOptions& options,
    AsyncSemaphore::Permit /*held until the channel is freed*/) {
  const auto started = Clock::now();
  // Until the script is sent, a timeout or cancellation leaves libssh mid-request: poison. Past
  // that, a timeout or too_large costs only the channel, which the guard closes.
  auto poison_unless = [this](error_code ec, bool channel_only) {
    if (!(channel_only || ec == Errc::kChannelFailed)) poisoned_ = true;
    return ec;
  };

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
    ~ChannelGuard() { core.FreeChannel(ch, cb); }
  } guard{*this, ssh_channel_new(ssh_), &callbacks};
  ssh_channel ch = guard.ch;
  if (ch == nullptr) co_return poison_unless(make_error_code(Errc::kInternal), false);
  ssh_set_channel_callbacks(ch, &callbacks);

  if (auto ec = co_await OpenAndExec(op, ch, options.interpreter)) {
    co_return poison_unless(ec, false);
  }
  if (auto ec = co_await Send(op, ch, script)) {
    co_return poison_unless(ec, CostsOnlyTheChannel(ec));
  }
  if (Call([ch] { return ssh_channel_send_eof(ch); }) == SSH_ERROR) {
    co_return poison_unless(make_error_code(Errc::kDisconnected), false);
  }

  OutputCollector collector(options.output_limit);
  bool eof[2] = {false, false};
  auto take = [&collector](bool is_stderr, std::string_view data) {
    return collector.Append(is_stderr, data);
  };
  if (auto ec = co_await ReadOutput(op, ch, eof, take, [] { return false; })) {
    co_return poison_unless(ec, CostsOnlyTheChannel(ec));
  }
  // exit-status / exit-signal follow EOF; keep pumping until one arrives or the channel closes.
  while (!exit.done && ssh_channel_is_closed(ch) == 0) {
    Call([ch] { return ssh_channel_get_exit_status(ch); });
    if (exit.done || ssh_channel_is_closed(ch) != 0) break;
    if (SessionBroken()) co_return poison_unless(make_error_code(Errc::kDisconnected), false);
    if (auto ec = co_await WaitIo(op)) co_return poison_unless(ec, CostsOnlyTheChannel(ec));
  }
  CommandOutput out = std::move(collector.Output());
  out.exit_status = exit.status;
  out.exit_signal = std::move(exit.signal);
  out.duration = Clock::now() - started;
  co_return out;
}

asio::awaitable<error_code> SshSession::Core::OpenShell(Op& op, const RunOptions& options,
                                                        AsyncSemaphore& channels) {
  AsyncSemaphore::Permit permit;
  if (auto ec = co_await channels.Acquire(permit, op.deadline)) {
    if (ec != Errc::kTimeout) poisoned_ = true;
    co_return ec;
  }
  if (!Usable()) co_return make_error_code(Errc::kDisconnected);
  auto shell = std::make_unique<ShellChannel>();
  shell->permit = std::move(permit);
  ssh_callbacks_init(&shell->callbacks);
  shell->callbacks.userdata = &shell->exited;
  shell->callbacks.channel_exit_status_function = OnShellExitStatus;
  shell->callbacks.channel_exit_signal_function = OnShellExitSignal;
  shell->channel = ssh_channel_new(ssh_);
  if (shell->channel == nullptr) {
    poisoned_ = true;
    co_return make_error_code(Errc::kInternal);
  }
  ssh_set_channel_callbacks(shell->channel, &shell->callbacks);
  shell_ = std::move(shell);
  if (auto ec = co_await OpenAndExec(op, shell_->channel, options.interpreter)) {
    CloseShell();
    if (ec != Errc::kChannelFailed) poisoned_ = true;
    co_return ec;
  }
  detail::CountShellOpened(shells_opened_ == 0);
  ++shells_opened_;
  co_return error_code{};
}

asio::awaitable<boost::system::result<CommandOutput>> SshSession::Core::RunShell(
    Op& op, std::string_view script, const RunOptions& options, AsyncSemaphore& channels) {
  const auto started = Clock::now();
  if (shell_) {
    // Bytes waiting before the run starts belong to no run: drop them (and notice a shell that
    // ended since the last run).
    for (int stream = 0; stream < 2; ++stream) {
      for (;;) {
        const std::span<char> buf = ThreadReadBuffer();
        const int n = Call([&] {
          return ssh_channel_read_nonblocking(shell_->channel, buf.data(),
                                              static_cast<std::uint32_t>(buf.size()), stream);
        });
        if (n <= 0) break;
        shell_stray_bytes_ += static_cast<std::uint64_t>(n);
        detail::CountShellStrayBytes(static_cast<std::uint64_t>(n));
      }
    }
    if (SessionBroken()) {
      poisoned_ = true;
      co_return make_error_code(Errc::kDisconnected);
    }
    if (ShellEnded()) CloseShell();  // it died between runs: open a new one
  }
  if (!shell_) {
    if (auto ec = co_await OpenShell(op, options, channels)) co_return ec;
  }
  // Any failure from here ends this shell; only a broken connection or cancellation poisons.
  auto fail = [this](error_code ec) {
    CloseShell();
    if (ec == Errc::kChannelFailed) ec = make_error_code(Errc::kShellFailed);
    if (!CostsOnlyTheChannel(ec)) poisoned_ = true;
    return ec;
  };
  const ssh_channel ch = shell_->channel;
  const std::string token = detail::RandomHexToken();
  ShellFrame frame(token);
  if (auto ec = co_await Send(op, ch, frame.Wrap(script, token))) co_return fail(ec);

  const std::uint64_t limit =
      options.output_limit > std::numeric_limits<std::uint64_t>::max() - frame.Overhead()
          ? options.output_limit
          : options.output_limit + frame.Overhead();
  OutputCollector collector(limit);
  bool eof[2] = {false, false};
  auto take = [&collector, &frame](bool is_stderr, std::string_view data) {
    if (!collector.Append(is_stderr, data)) return false;
    frame.Scan(collector.Output());
    return true;
  };
  // A stream that ends before its trailer means the shell is gone.
  auto done = [&frame, &eof] {
    return frame.Done() || frame.Bad() || (eof[0] && !frame.OutDone()) ||
           (eof[1] && !frame.ErrDone());
  };
  if (auto ec = co_await ReadOutput(op, ch, eof, take, done)) co_return fail(ec);
  if (!frame.Done() || frame.Bad()) co_return fail(make_error_code(Errc::kShellFailed));
  CommandOutput out = std::move(collector.Output());
  const std::uint64_t stray = frame.Strip(out);
  shell_stray_bytes_ += stray;
  detail::CountShellStrayBytes(stray);
  if (out.bytes > options.output_limit) co_return fail(make_error_code(Errc::kTooLarge));
  out.duration = Clock::now() - started;
  co_return out;
}

}  // namespace fleetps::agent
