#include "fleetps/agent/async_semaphore.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/agent/errors.hpp"

namespace fleetps::agent {

namespace asio = boost::asio;

struct SemaphoreWaiter {
  explicit SemaphoreWaiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool granted = false;  // guarded by SemaphoreState::mu
};

struct SemaphoreState {
  mutable std::mutex mu;
  std::size_t available = 0;                             // guarded by mu
  std::deque<std::shared_ptr<SemaphoreWaiter>> waiters;  // guarded by mu

  void Release() {
    std::shared_ptr<SemaphoreWaiter> next;
    {
      std::lock_guard lock(mu);
      if (waiters.empty()) {
        ++available;
        return;
      }
      next = std::move(waiters.front());
      waiters.pop_front();
      next->granted = true;
    }
    // The timer belongs to the waiter's strand; only touch it from there.
    asio::post(next->timer.get_executor(), [next] { next->timer.cancel(); });
  }
};

AsyncSemaphore::Permit& AsyncSemaphore::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    state_ = std::move(other.state_);
  }
  return *this;
}

void AsyncSemaphore::Permit::Release() noexcept {
  if (auto state = std::move(state_)) state->Release();
}

AsyncSemaphore::AsyncSemaphore(std::size_t permits) : state_(std::make_shared<SemaphoreState>()) {
  state_->available = permits;
}

AsyncSemaphore::Permit AsyncSemaphore::TryAcquire() {
  std::lock_guard lock(state_->mu);
  if (state_->available == 0) return {};
  --state_->available;
  return Permit(state_);
}

std::size_t AsyncSemaphore::Available() const {
  std::lock_guard lock(state_->mu);
  return state_->available;
}

asio::awaitable<boost::system::error_code> AsyncSemaphore::Acquire(
    Permit& permit, std::chrono::steady_clock::time_point deadline) {
  // The shared state, not `this`, after the first suspension: the semaphore may be destroyed
  // while this waiter is suspended (its owner torn down as a cancelled wait unwinds), and
  // the state outlives it through this copy.
  const auto state = state_;
  auto waiter = std::make_shared<SemaphoreWaiter>(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(state->mu);
    if (state->available > 0) {
      --state->available;
      permit = Permit(state);
      co_return boost::system::error_code{};
    }
    state->waiters.push_back(waiter);
  }
  waiter->timer.expires_at(deadline);
  auto [ec] = co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  {
    std::lock_guard lock(state->mu);
    if (waiter->granted) {
      permit = Permit(state);
      co_return boost::system::error_code{};
    }
    auto& q = state->waiters;
    q.erase(std::remove(q.begin(), q.end(), waiter), q.end());
  }
  if (!ec) co_return make_error_code(Errc::kTimeout);
  co_return boost::system::error_code(asio::error::operation_aborted);
}

}  // namespace fleetps::agent
