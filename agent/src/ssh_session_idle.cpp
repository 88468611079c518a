#include <algorithm>
#include <string>

#include <libssh/libssh.h>
#include <libssh/server.h>  // ssh_send_keepalive, which clients may use too

#include "fleetps/agent/ssh_session.hpp"
#include "ssh_session_core.hpp"
#include "tcp_stats.hpp"

namespace fleetps::agent {

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
    // A run in flight reads the socket itself. Draining here too would pull its output into
    // the channel's buffer ahead of the reader, up to 64 KiB per burst, and libssh keeps a
    // buffer that large for as long as the channel lives: always, for a persistent shell
    // (measured at 300 hosts: libssh's heap 133 kB per host with exec channels, 238 kB with
    // the shell drained from here).
    const bool runs_read = runs_in_flight_ > 0;
    if (!runs_read) Call([this] { return DrainInput(); });
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
    auto ec = runs_read ? co_await Park(op.deadline) : co_await WaitIo(op);
    if (ec && ec != Errc::kTimeout) co_return ec;
  }
}

int SshSession::Core::DrainInput() {
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

void SshSession::Core::NoteServerTraffic() {
  const auto received = detail::TcpBytesReceived(fd_);
  if (!received) {
    last_heard_ = Clock::now();  // no counter on this platform: only errors end the session
    return;
  }
  if (*received != bytes_received_) {
    bytes_received_ = *received;
    last_heard_ = Clock::now();
  }
}

}  // namespace fleetps::agent
