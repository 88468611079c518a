#include "fleetps/collector/supervision/task_group.hpp"

#include <list>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
using EventQueue = registry::WaitQueue<void>;

// Empty initiation, state as arguments (GCC 12 co_await temporaries; see clock.cpp).
struct InitiateWait {
  template <class Handler>
  void operator()(Handler&& handler, std::mutex* mu, const bool* set,
                  const std::shared_ptr<EventQueue>& waiters,
                  const asio::any_io_executor& ex) const {
    std::unique_lock lock(*mu);
    if (*set) {
      lock.unlock();
      registry::PostCompletion<void>(std::forward<Handler>(handler), ex, {});
      return;
    }
    waiters->Enqueue(std::forward<Handler>(handler), ex);
  }
};

}  // namespace

void AsyncEvent::Set() {
  std::list<EventQueue::Waiter> woken;
  {
    std::lock_guard lock(mu_);
    set_ = true;
    woken = waiters_->TakeAll();
  }
  for (auto& w : woken) {
    std::move(w).Complete({});
  }
}

bool AsyncEvent::IsSet() const {
  std::lock_guard lock(mu_);
  return set_;
}

asio::awaitable<boost::system::error_code> AsyncEvent::Wait() {
  asio::any_io_executor ex = co_await asio::this_coro::executor;
  boost::system::result<void> r = co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                                                void(boost::system::result<void>)>(
      InitiateWait{}, asio::use_awaitable, &mu_, &set_, waiters_, ex);
  co_return r ? boost::system::error_code{} : r.error();
}

}  // namespace fleetps::collector
