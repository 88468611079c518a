#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace fleetps::agent {

struct SemaphoreState;  // private, in async_semaphore.cpp

/// A counting semaphore for coroutines: bounds channels per session and, shared between agents,
/// concurrent handshakes across the collector.
///
/// Thread safety: `Acquire` and `Permit` may be used from any number of strands at once. A waiter
/// is woken by posting to the executor it waited on, so `Acquire` must be awaited from a strand
/// (or a single-threaded io_context) for the wake-up to be race-free.
///
/// Waiters are served in FIFO order. The semaphore must outlive nothing: permits and waiters keep
/// its state alive.
class AsyncSemaphore {
 public:
  /// Returns one unit to the semaphore on destruction (or `Release()`), handing it to the oldest
  /// waiter if any. Move-only.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&&) noexcept = default;
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }
    void Release() noexcept;
    explicit operator bool() const noexcept { return state_ != nullptr; }

   private:
    friend class AsyncSemaphore;
    explicit Permit(std::shared_ptr<SemaphoreState> state) : state_(std::move(state)) {}
    std::shared_ptr<SemaphoreState> state_;
  };

  explicit AsyncSemaphore(std::size_t permits);

  /// Waits for a unit until `deadline`. On success `permit` holds it and the result is empty.
  /// Errors: `Errc::kTimeout` when the deadline passed first; `operation_aborted` when the
  /// awaiting coroutine was cancelled. Cancellation is per-operation (terminal).
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> Acquire(
      Permit& permit, std::chrono::steady_clock::time_point deadline);

  /// A unit if one is free right now, else an empty permit. Never waits.
  [[nodiscard]] Permit TryAcquire();

  /// Free units right now (a snapshot; for tests and metrics).
  [[nodiscard]] std::size_t Available() const;

 private:
  std::shared_ptr<SemaphoreState> state_;
};

}  // namespace fleetps::agent
