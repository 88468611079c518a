#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/result.hpp>

namespace fleetps::registry {

/// Completes an asynchronous wait handler with `value`, never inline: the completion is posted to
/// the handler's associated executor (`fallback` when it has none). The handler's cancellation
/// slot is cleared on that executor just before the call, as Asio operations do.
template <class T, class Handler>
void PostCompletion(Handler&& handler, const boost::asio::any_io_executor& fallback,
                    boost::system::result<T> value) {
  auto ex = boost::asio::get_associated_executor(handler, fallback);
  // Posted through `fallback`, run on the handler's own executor (a type-erased handler's
  // executor cannot be posted to directly).
  boost::asio::post(fallback, boost::asio::bind_executor(ex, [h = std::forward<Handler>(handler),
                                                              v = std::move(value)]() mutable {
                      boost::asio::get_associated_cancellation_slot(h).clear();
                      std::move(h)(std::move(v));
                    }));
}

/// A thread-safe FIFO of pending asynchronous waits, each completed exactly once with a
/// `boost::system::result<T>`: by the owner (`TakeOne`/`TakeAll`/`TakeIf` + `Waiter::Complete`),
/// or with `boost::asio::error::operation_aborted` when the waiter's cancellation slot fires.
///
/// It is the building block of `Subscription::Receive` and of the collector's clocks and events:
/// the owner keeps its own data under its own mutex and enqueues a waiter only when no data is
/// ready (lock order: owner's mutex, then this queue's). Completions are always posted to the
/// waiter's executor, so no user code runs under either lock. A pending waiter keeps its executor's
/// outstanding-work count, like any Asio I/O operation.
///
/// Must be owned by a `std::shared_ptr` (cancellation handlers hold a weak reference). Destroying
/// the queue aborts the remaining waiters.
template <class T>
class WaitQueue : public std::enable_shared_from_this<WaitQueue<T>> {
 public:
  using Signature = void(boost::system::result<T>);

  static boost::system::error_code Aborted() noexcept {
    return boost::asio::error::operation_aborted;
  }

  /// One pending wait: a type-erased handler and the executor whose work it keeps.
  class Waiter {
   public:
    Waiter(boost::asio::any_completion_handler<Signature> handler,
           boost::asio::any_io_executor work, std::uint64_t id, std::int64_t tag)
        : handler_(std::move(handler)), work_(std::move(work)), id_(id), tag_(tag) {}
    // Boost 1.81's any_completion_handler recurses endlessly when copied or move-assigned (its
    // converting constructor wraps itself), so a Waiter is only ever move-constructed, and the
    // queue is a std::list whose erase and sort never move elements.
    Waiter(Waiter&&) noexcept = default;
    Waiter& operator=(Waiter&&) = delete;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    ~Waiter() = default;

    /// Posts the completion with `value`; the waiter is spent afterwards.
    void Complete(boost::system::result<T> value) && {
      PostCompletion<T>(std::move(handler_), work_, std::move(value));
    }
    [[nodiscard]] std::uint64_t Id() const noexcept { return id_; }
    [[nodiscard]] std::int64_t Tag() const noexcept { return tag_; }

   private:
    boost::asio::any_completion_handler<Signature> handler_;
    boost::asio::any_io_executor work_;
    std::uint64_t id_;
    std::int64_t tag_;
  };

  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue() {
    for (auto& w : waiters_) {
      std::move(w).Complete(Aborted());
    }
  }

  /// Adds a waiter. `handler` is an Asio completion handler for `Signature` (from
  /// `async_initiate`); `fallback` is used when the handler has no associated executor. `tag` is
  /// an owner-defined value for `TakeIf` (e.g. a deadline). Installs a cancellation handler on the
  /// handler's slot when it is connected.
  template <class Handler>
  void Enqueue(Handler&& handler, const boost::asio::any_io_executor& fallback,
               std::int64_t tag = 0) {
    boost::asio::any_io_executor ex = boost::asio::get_associated_executor(handler, fallback);
    auto work = boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked);
    // Type erasure installs the erased handler's own cancellation state on the original slot, so
    // our cancellation handler goes on the erased handler's slot (assigning it on the original
    // slot first would be silently replaced).
    boost::asio::any_completion_handler<Signature> erased(std::forward<Handler>(handler));
    auto slot = erased.get_cancellation_slot();
    std::lock_guard lock(mu_);
    const std::uint64_t id = next_id_++;
    // The slot is assigned before the waiter becomes visible to other threads, so a completion
    // posted by another thread can only clear the slot after this assignment.
    if (slot.is_connected()) {
      slot.assign([weak = this->weak_from_this(), id](boost::asio::cancellation_type type) {
        if (type == boost::asio::cancellation_type::none) {
          return;
        }
        if (auto self = weak.lock()) {
          self->Cancel(id);
        }
      });
    }
    waiters_.emplace_back(std::move(erased), std::move(work), id, tag);
  }

  /// Removes and returns the oldest waiter, if any.
  [[nodiscard]] std::optional<Waiter> TakeOne() {
    std::lock_guard lock(mu_);
    if (waiters_.empty()) {
      return std::nullopt;
    }
    std::optional<Waiter> w(std::move(waiters_.front()));
    waiters_.pop_front();
    return w;
  }

  /// Removes and returns every waiter.
  [[nodiscard]] std::list<Waiter> TakeAll() {
    std::list<Waiter> all;
    std::lock_guard lock(mu_);
    all.splice(all.end(), waiters_);
    return all;
  }

  /// Removes and returns the waiters whose tag satisfies `pred` (called under the lock).
  template <class Pred>
  [[nodiscard]] std::list<Waiter> TakeIf(Pred pred) {
    std::list<Waiter> taken;
    std::lock_guard lock(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto next = std::next(it);
      if (pred(it->Tag())) {
        taken.splice(taken.end(), waiters_, it);
      }
      it = next;
    }
    return taken;
  }

  /// Number of pending waiters.
  [[nodiscard]] std::size_t Size() const {
    std::lock_guard lock(mu_);
    return waiters_.size();
  }

  /// Smallest tag among pending waiters (e.g. the next deadline).
  [[nodiscard]] std::optional<std::int64_t> MinTag() const {
    std::lock_guard lock(mu_);
    std::optional<std::int64_t> min;
    for (const auto& w : waiters_) {
      if (!min || w.Tag() < *min) {
        min = w.Tag();
      }
    }
    return min;
  }

 private:
  void Cancel(std::uint64_t id) {
    std::list<Waiter> victim;
    {
      std::lock_guard lock(mu_);
      for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->Id() == id) {
          victim.splice(victim.end(), waiters_, it);
          break;
        }
      }
    }
    for (auto& w : victim) {
      std::move(w).Complete(Aborted());
    }
  }

  mutable std::mutex mu_;
  std::list<Waiter> waiters_;  // guarded by mu_
  std::uint64_t next_id_ = 1;  // guarded by mu_
};

}  // namespace fleetps::registry
