#include "fleetps/agent/ssh_session.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <libssh/libssh.h>

#include "ssh_session_core.hpp"
#include "tcp_connect.hpp"

namespace fleetps::agent {

void SshSession::Core::FreeNow() noexcept {
  Detach();
  if (ssh_ != nullptr) {
    // libssh >= 0.10 leaves an SSH_OPTIONS_FD descriptor open on disconnect and free, but
    // closes (and forgets) it when the session breaks: close it only while libssh holds it.
    NoteLibsshClosed();
    const socket_t held = fd_adopted_ ? ssh_get_fd(ssh_) : fd_;
    struct stat before {};
    const bool was_open = held != SSH_INVALID_SOCKET && ::fstat(held, &before) == 0;
    ssh_disconnect(ssh_);
    ssh_free(ssh_);
    ssh_ = nullptr;
    // ssh_disconnect writes its message, and libssh closes the descriptor when a write fails:
    // close the number only while it still names this connection's socket (not one another
    // thread has opened since).
    struct stat after {};
    if (was_open && ::fstat(held, &after) == 0 && after.st_dev == before.st_dev &&
        after.st_ino == before.st_ino) {
      ::close(held);
    }
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
  shell_.reset();  // its channel went with ssh_free; this returns the channel permit
  fd_ = -1;
  error_code ignored;
  socket_.close(ignored);  // still Asio's own socket only if Connect stopped before releasing it
  if (std::exchange(holds_descriptor_slot_, false)) detail::ReturnSessionDescriptor();
}

asio::awaitable<error_code> SshSession::Core::WaitIo(Op& op) {
  if (closed_ || ssh_ == nullptr || fd_ < 0) co_return make_error_code(Errc::kDisconnected);
  if (Clock::now() >= op.deadline) co_return make_error_code(Errc::kTimeout);
  const bool output_flagged = (ssh_get_poll_flags(ssh_) & SSH_WRITE_PENDING) != 0;
  // Input already there and no output to flush: retry at once without attaching the socket
  // (an attach and the next Call's detach cost 4 syscalls: ADD, FIONBIO, MOD, DEL).
  // Past the spin bound the wait below must be armed, as before.
  bool readable = !output_flagged && op.spins + 1 < 64 && SocketReadable();
  if (!readable) {
    // Armed before the flush below looks at the socket: input arriving from here on completes
    // this wait and wakes every parked operation; input already there shows in `readable`.
    ArmSocketWait(tcp::socket::wait_read);
    readable = SocketReadable();
  }
  // libssh clears the POLLOUT interest behind SSH_WRITE_PENDING only from its own poll loop,
  // so the flag can stay set after the output drained, and a writable socket would spin us.
  // A zero-timeout flush says whether bytes are really waiting. It runs libssh's packet loop,
  // so it may also handle input meant for the caller: with input there, the caller looks again.
  const bool write_pending =
      output_flagged && Call([this] { return ssh_blocking_flush(ssh_, 0); }) == SSH_AGAIN;
  if (write_pending) ArmSocketWait(tcp::socket::wait_write);
  pollfd p{fd_, static_cast<short>(POLLIN | (write_pending ? POLLOUT : 0)), 0};
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

asio::awaitable<error_code> SshSession::Core::Park(Clock::time_point until) {
  if (closed_) co_return make_error_code(Errc::kDisconnected);
  Waiter w{asio::steady_timer(ex_, until)};
  waiters_.push_back(&w);
  auto [ec] = co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
  if (closed_) co_return make_error_code(Errc::kDisconnected);
  if (!ec || w.woken) co_return error_code{};
  co_return error_code(asio::error::operation_aborted);
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

ShellStats SshSession::Shell() const noexcept { return core_ ? core_->Shell() : ShellStats{}; }

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
  std::string why;
  auto outcome = file.Record(host, spec.port, scanned->key, &why);
  if (!outcome) {
    if (failure != nullptr) *failure = {std::move(why), false, {}};
    co_return outcome.error();
  }
  co_return EnrollResult{std::move(*scanned), *outcome};
}

}  // namespace fleetps::agent
