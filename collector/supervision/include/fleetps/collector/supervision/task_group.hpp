#pragma once

#include <memory>
#include <mutex>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "fleetps/registry/wait_queue.hpp"

namespace fleetps::collector {

/// A one-shot, thread-safe event: `Set()` from any thread wakes every current and future
/// `Wait()`. Waiting coroutines resume on their own executors.
///
/// The event must outlive pending waits (keep it in a `shared_ptr` owned by both sides when
/// lifetimes are not nested).
class AsyncEvent {
 public:
  AsyncEvent() : waiters_(std::make_shared<registry::WaitQueue<void>>()) {}
  AsyncEvent(const AsyncEvent&) = delete;
  AsyncEvent& operator=(const AsyncEvent&) = delete;

  /// Sets the event (idempotent) and wakes all waiters.
  void Set();

  [[nodiscard]] bool IsSet() const;

  /// Completes with success once the event is set (at once if it already is), or with
  /// `boost::asio::error::operation_aborted` when the awaiting coroutine is cancelled.
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> Wait();

 private:
  mutable std::mutex mu_;
  bool set_ = false;  // guarded by mu_
  // Its lock nests inside mu_.
  std::shared_ptr<registry::WaitQueue<void>> waiters_;
};

}  // namespace fleetps::collector
