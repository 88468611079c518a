#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/result.hpp>

#include "fleetps/registry/errors.hpp"
#include "fleetps/registry/wait_queue.hpp"

namespace fleetps::registry {

/// True when `pattern` is a valid subscription pattern: an exact topic (`host/web01`), `*` (every
/// topic) or a prefix wildcard `prefix/*` (every topic starting with `prefix/`). No other `*`.
[[nodiscard]] bool IsValidPattern(std::string_view pattern) noexcept;

/// True when `topic` matches the valid `pattern`.
[[nodiscard]] bool PatternMatches(std::string_view pattern, std::string_view topic) noexcept;

namespace detail {

/// One subscriber's bounded queue.
template <class Message>
class Mailbox {
 public:
  Mailbox(std::string pattern, std::size_t capacity)
      : pattern_(std::move(pattern)),
        capacity_(capacity),
        waiters_(std::make_shared<WaitQueue<Message>>()) {}

  enum class PushResult { kAccepted, kDropped, kClosed };

  /// Never blocks: hands `msg` to a pending receiver, queues it, or drops it when full.
  PushResult Push(const Message& msg) {
    std::unique_lock lock(mu_);
    if (closed_) {
      return PushResult::kClosed;
    }
    if (auto waiter = waiters_->TakeOne()) {
      lock.unlock();
      delivered_.fetch_add(1, std::memory_order_relaxed);
      std::move(*waiter).Complete(msg);
      return PushResult::kAccepted;
    }
    if (queue_.size() >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return PushResult::kDropped;
    }
    queue_.push_back(msg);
    delivered_.fetch_add(1, std::memory_order_relaxed);
    return PushResult::kAccepted;
  }

  std::optional<Message> TryPop() {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      return std::nullopt;
    }
    Message m = std::move(queue_.front());
    queue_.pop_front();
    return m;
  }

  template <class Handler>
  void InitiateReceive(Handler&& handler, const boost::asio::any_io_executor& ex) {
    std::unique_lock lock(mu_);
    if (!queue_.empty()) {
      Message m = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      PostCompletion<Message>(std::forward<Handler>(handler), ex, std::move(m));
    } else if (closed_) {
      lock.unlock();
      PostCompletion<Message>(std::forward<Handler>(handler), ex,
                              boost::system::error_code(Errc::kClosed));
    } else {
      waiters_->Enqueue(std::forward<Handler>(handler), ex);
    }
  }

  /// Stops accepting messages and fails pending receivers with `Errc::kClosed`. `discard` also
  /// drops what is queued (an unsubscribe); otherwise queued messages stay receivable.
  void Close(bool discard) {
    std::list<typename WaitQueue<Message>::Waiter> waiters;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      if (discard) {
        queue_.clear();
      }
      waiters = waiters_->TakeAll();
    }
    for (auto& w : waiters) {
      std::move(w).Complete(boost::system::error_code(Errc::kClosed));
    }
  }

  [[nodiscard]] std::size_t Pending() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  [[nodiscard]] std::uint64_t Dropped() const { return dropped_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t Delivered() const {
    return delivered_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] const std::string& Pattern() const noexcept { return pattern_; }
  [[nodiscard]] std::size_t Capacity() const noexcept { return capacity_; }

 private:
  const std::string pattern_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<Message> queue_;  // guarded by mu_
  bool closed_ = false;        // guarded by mu_
  // Its own lock nests inside mu_ (never the other way round).
  std::shared_ptr<WaitQueue<Message>> waiters_;
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> delivered_{0};
};

template <class Message>
struct BusState {
  struct Subscriber {
    std::uint64_t id;
    std::shared_ptr<Mailbox<Message>> mailbox;
  };

  void Unsubscribe(std::uint64_t id) {
    std::shared_ptr<Mailbox<Message>> gone;
    {
      std::lock_guard lock(mu);
      auto it = std::find_if(subscribers.begin(), subscribers.end(),
                             [id](const Subscriber& s) { return s.id == id; });
      if (it == subscribers.end()) {
        return;
      }
      gone = std::move(it->mailbox);
      subscribers.erase(it);
    }
    gone->Close(/*discard=*/true);
  }

  std::mutex mu;
  std::vector<Subscriber> subscribers;  // guarded by mu
  std::uint64_t next_id = 1;            // guarded by mu
  bool closed = false;                  // guarded by mu
  std::atomic<std::uint64_t> dropped_total{0};
  std::atomic<std::uint64_t> published_total{0};
};

}  // namespace detail

/// One subscriber's end of a Bus: a bounded queue of the messages published on matching topics.
///
/// Move-only RAII: destroying it (or `Close()`) unsubscribes, discards what is queued and fails a
/// pending `Receive` with `Errc::kClosed`. Receiving is meant for one consumer at a time;
/// concurrent `Receive` calls are served in FIFO order. May outlive its Bus.
template <class Message>
class Subscription {
 public:
  Subscription() = default;
  Subscription(std::weak_ptr<detail::BusState<Message>> bus, std::uint64_t id,
               std::shared_ptr<detail::Mailbox<Message>> mailbox)
      : bus_(std::move(bus)), id_(id), mailbox_(std::move(mailbox)) {}
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  Subscription(Subscription&& other) noexcept
      : bus_(std::move(other.bus_)),
        id_(std::exchange(other.id_, 0)),
        mailbox_(std::move(other.mailbox_)) {}
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      Close();
      bus_ = std::move(other.bus_);
      id_ = std::exchange(other.id_, 0);
      mailbox_ = std::move(other.mailbox_);
    }
    return *this;
  }
  ~Subscription() { Close(); }

  /// Waits for the next message, on the awaiting coroutine's executor (any executor).
  ///
  /// Completes with the message; with `Errc::kClosed` when the subscription is closed, or when
  /// the bus is closed and the queue is drained; with `boost::asio::error::operation_aborted`
  /// when the awaiting coroutine is cancelled (e.g. the losing side of `||`); a message is
  /// never lost to a cancelled receive. A pending receive keeps its executor busy (like a socket
  /// read). The subscription may be destroyed while a receive is pending.
  [[nodiscard]] boost::asio::awaitable<boost::system::result<Message>> Receive() const {
    return ReceiveFrom(mailbox_);
  }

  /// The next queued message, without waiting.
  [[nodiscard]] std::optional<Message> TryReceive() {
    return mailbox_ ? mailbox_->TryPop() : std::nullopt;
  }

  /// Unsubscribes now; idempotent.
  void Close() {
    if (!mailbox_) {
      return;
    }
    if (auto bus = bus_.lock()) {
      bus->Unsubscribe(id_);  // also closes the mailbox
    }
    mailbox_->Close(/*discard=*/true);
    bus_.reset();
    id_ = 0;
  }

  /// Messages dropped for this subscriber because its queue was full.
  [[nodiscard]] std::uint64_t Dropped() const { return mailbox_ ? mailbox_->Dropped() : 0; }
  /// Messages accepted for this subscriber (queued or handed to a receiver).
  [[nodiscard]] std::uint64_t Delivered() const { return mailbox_ ? mailbox_->Delivered() : 0; }
  /// Messages queued and not yet received.
  [[nodiscard]] std::size_t Pending() const { return mailbox_ ? mailbox_->Pending() : 0; }
  [[nodiscard]] std::size_t Capacity() const { return mailbox_ ? mailbox_->Capacity() : 0; }
  [[nodiscard]] std::string Pattern() const { return mailbox_ ? mailbox_->Pattern() : ""; }
  /// True until closed or moved from.
  [[nodiscard]] explicit operator bool() const noexcept { return id_ != 0; }

 private:
  static boost::asio::awaitable<boost::system::result<Message>> ReceiveFrom(
      std::shared_ptr<detail::Mailbox<Message>> mailbox) {
    if (!mailbox) {
      co_return boost::system::error_code(Errc::kClosed);
    }
    boost::asio::any_io_executor ex = co_await boost::asio::this_coro::executor;
    // The initiation is an empty object and its state travels as arguments: GCC 12 destroys a
    // non-trivial temporary inside a co_await expression twice (e.g. a lambda capturing a
    // shared_ptr), which is a use-after-free.
    co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                   void(boost::system::result<Message>)>(
        InitiateReceive{}, boost::asio::use_awaitable, mailbox, ex);
  }

  struct InitiateReceive {
    template <class Handler>
    void operator()(Handler&& handler, const std::shared_ptr<detail::Mailbox<Message>>& mailbox,
                    const boost::asio::any_io_executor& ex) const {
      mailbox->InitiateReceive(std::forward<Handler>(handler), ex);
    }
  };

  std::weak_ptr<detail::BusState<Message>> bus_;
  std::uint64_t id_ = 0;
  std::shared_ptr<detail::Mailbox<Message>> mailbox_;
};

/// Topic publish/subscribe with bounded per-subscriber queues; `Publish` never blocks.
///
/// Topics are strings such as `host/web01` or `probe/ps`. A subscriber chooses an exact topic,
/// `*`, or a prefix wildcard `host/*`, and a queue capacity. When its queue is full the message is
/// dropped for that subscriber only and counted (`Subscription::Dropped`, `DroppedTotal` for the
/// `fleetps_bus_dropped_total` metric); other subscribers are unaffected, so a slow consumer can
/// never stall a publisher. Messages are copied once per matching subscriber: use a cheap handle
/// such as `std::shared_ptr<const T>`.
///
/// Thread-safe: publish and subscribe from any thread. Delivery order per subscriber follows
/// publish order for publishes from one thread.
///
/// Example:
/// \code
///   Bus<std::shared_ptr<const ProbeResult>> bus;
///   auto sub = bus.Subscribe("host/*", 256).value();
///   bus.Publish("host/web01", result);
///   auto next = co_await sub.Receive();   // result<Message>
/// \endcode
template <class Message>
class Bus {
 public:
  Bus() : state_(std::make_shared<detail::BusState<Message>>()) {}
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;
  ~Bus() { Close(); }

  /// Subscribes to `pattern` with a queue of `capacity` messages. Errors:
  /// `Errc::kInvalidPattern`, `Errc::kInvalidCapacity` (zero), `Errc::kClosed`.
  [[nodiscard]] boost::system::result<Subscription<Message>> Subscribe(std::string pattern,
                                                                       std::size_t capacity) {
    if (!IsValidPattern(pattern)) {
      return boost::system::error_code(Errc::kInvalidPattern);
    }
    if (capacity == 0) {
      return boost::system::error_code(Errc::kInvalidCapacity);
    }
    auto mailbox = std::make_shared<detail::Mailbox<Message>>(std::move(pattern), capacity);
    std::lock_guard lock(state_->mu);
    if (state_->closed) {
      return boost::system::error_code(Errc::kClosed);
    }
    const std::uint64_t id = state_->next_id++;
    state_->subscribers.push_back({id, mailbox});
    return Subscription<Message>(state_, id, std::move(mailbox));
  }

  /// Offers `msg` to every subscriber whose pattern matches `topic`; never blocks or waits.
  /// Returns the number of subscribers that accepted it.
  std::size_t Publish(std::string_view topic, const Message& msg) {
    std::size_t accepted = 0;
    std::uint64_t dropped = 0;
    {
      // Mailbox locks nest inside this one; Push only queues or posts, never runs user code.
      std::lock_guard lock(state_->mu);
      if (state_->closed) {
        return 0;
      }
      for (const auto& s : state_->subscribers) {
        if (PatternMatches(s.mailbox->Pattern(), topic)) {
          switch (s.mailbox->Push(msg)) {
            case detail::Mailbox<Message>::PushResult::kAccepted:
              ++accepted;
              break;
            case detail::Mailbox<Message>::PushResult::kDropped:
              ++dropped;
              break;
            case detail::Mailbox<Message>::PushResult::kClosed:
              break;
          }
        }
      }
    }
    state_->published_total.fetch_add(1, std::memory_order_relaxed);
    if (dropped != 0) {
      state_->dropped_total.fetch_add(dropped, std::memory_order_relaxed);
    }
    return accepted;
  }

  /// Closes the bus: publishing stops, subscribers drain what is queued, then get `kClosed`.
  void Close() {
    std::vector<typename detail::BusState<Message>::Subscriber> subscribers;
    {
      std::lock_guard lock(state_->mu);
      state_->closed = true;
      subscribers = std::exchange(state_->subscribers, {});
    }
    for (auto& s : subscribers) {
      s.mailbox->Close(/*discard=*/false);
    }
  }

  /// Messages dropped over all subscribers since construction (monotonic).
  [[nodiscard]] std::uint64_t DroppedTotal() const {
    return state_->dropped_total.load(std::memory_order_relaxed);
  }
  /// Calls to `Publish` since construction.
  [[nodiscard]] std::uint64_t PublishedTotal() const {
    return state_->published_total.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t SubscriberCount() const {
    std::lock_guard lock(state_->mu);
    return state_->subscribers.size();
  }

 private:
  std::shared_ptr<detail::BusState<Message>> state_;
};

}  // namespace fleetps::registry
