#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "fleetps/agent/ssh_session.hpp"
#include "ssh_session_core.hpp"

namespace fleetps::agent {

namespace {

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
      // Both may send a close message, and a failed write makes libssh close the descriptor.
      core.Call([this] {
        if (ssh_channel_is_open(ch) && !core.SessionBroken()) ssh_channel_close(ch);
        ssh_channel_free(ch);
        return 0;
      });
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

}  // namespace fleetps::agent
