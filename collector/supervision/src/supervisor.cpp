#include "fleetps/collector/supervision/supervisor.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <utility>
#include <variant>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/collector/telemetry/internal_errors.hpp"

namespace fleetps::collector {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// boost::system::error_category has a protected non-virtual destructor by design; GCC's
// -Wnon-virtual-dtor flags every derived class anyway.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "fleetps.supervisor"; }
  std::string message(int ev) const override {
    switch (static_cast<SupervisorErrc>(ev)) {
      case SupervisorErrc::kAlreadyStarted:
        return "a live child already has this id";
      case SupervisorErrc::kNotFound:
        return "no such child";
      case SupervisorErrc::kShuttingDown:
        return "supervisor is shutting down";
      case SupervisorErrc::kMaxChildren:
        return "maximum number of children reached";
      case SupervisorErrc::kInvalidSpec:
        return "invalid child spec";
    }
    return "unknown supervisor error";
  }
};
#pragma GCC diagnostic pop

bool IsCancellation(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& ex) {
    return ex.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

}  // namespace

const boost::system::error_category& SupervisorCategory() noexcept {
  static const Category category;
  return category;
}

std::string_view ToString(RestartType type) noexcept {
  switch (type) {
    case RestartType::kPermanent:
      return "permanent";
    case RestartType::kTransient:
      return "transient";
    case RestartType::kTemporary:
      return "temporary";
  }
  return "unknown";
}

std::string_view ToString(ChildState state) noexcept {
  switch (state) {
    case ChildState::kRunning:
      return "running";
    case ChildState::kBackoff:
      return "backoff";
    case ChildState::kQuarantined:
      return "quarantined";
    case ChildState::kStopping:
      return "stopping";
    case ChildState::kStopped:
      return "stopped";
  }
  return "unknown";
}

class DynamicSupervisor::Impl {
 public:
  struct Child {
    Child(ChildSpec s, const asio::any_io_executor& ex)
        : spec(std::move(s)), strand(asio::make_strand(ex)) {}

    const ChildSpec spec;
    asio::strand<asio::any_io_executor> strand;
    asio::cancellation_signal cancel;  // emitted on `strand` only
    AsyncEvent done;
    ChildInfo info;                       // guarded by Impl::mu_
    bool stop_requested = false;          // guarded by Impl::mu_
    std::deque<TimePoint> restart_times;  // guarded by Impl::mu_
  };
  using ChildPtr = std::shared_ptr<Child>;

  Impl(asio::any_io_executor executor, SupervisorOptions options, Clock& clock,
       RandomSource& random, SupervisorObserver observer)
      : executor_(std::move(executor)),
        options_(options),
        clock_(clock),
        random_(random),
        observer_(std::move(observer)) {}

  boost::system::result<void> Start(const std::shared_ptr<Impl>& self, ChildSpec spec) {
    if (spec.id.empty() || !spec.start) {
      return make_error_code(SupervisorErrc::kInvalidSpec);
    }
    std::lock_guard lock(mu_);
    if (shutting_down_) {
      return make_error_code(SupervisorErrc::kShuttingDown);
    }
    if (children_.contains(spec.id)) {
      return make_error_code(SupervisorErrc::kAlreadyStarted);
    }
    if (options_.max_children != 0 && children_.size() >= options_.max_children) {
      return make_error_code(SupervisorErrc::kMaxChildren);
    }
    auto child = std::make_shared<Child>(std::move(spec), executor_);
    child->info.id = child->spec.id;
    child->info.restart = child->spec.restart;
    children_.emplace(child->spec.id, child);
    // co_spawn on a strand that is free may run the child inline, on this thread, under mu_;
    // posting first keeps the child out of the lock. TerminateChild emits on the same strand,
    // so the cancellation slot is wired before any emit can run.
    asio::post(child->strand, [self, child] {
      asio::co_spawn(child->strand, Supervise(self, child),
                     asio::bind_cancellation_slot(
                         child->cancel.slot(), [self, child](const std::exception_ptr& error) {
                           // The supervision loop itself failed (an observer threw, out of
                           // memory): the child is gone without a restart, so say so.
                           if (error && !IsCancellation(error)) {
                             RecordInternalError("supervisor_child",
                                                 child->spec.id + ": " + DescribeException(error));
                           }
                           self->Finished(child);
                         }));
    });
    return {};
  }

  ChildPtr RequestStop(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = children_.find(id);
    if (it == children_.end()) {
      return nullptr;
    }
    RequestStopLocked(it->second);
    return it->second;
  }

  std::vector<ChildPtr> RequestStopAll() {
    std::vector<ChildPtr> all;
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& [id, child] : children_) {
      RequestStopLocked(child);
      all.push_back(child);
    }
    return all;
  }

  std::vector<ChildInfo> Snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<ChildInfo> out;
    out.reserve(children_.size());
    for (const auto& [id, child] : children_) {
      out.push_back(child->info);
    }
    return out;
  }

  std::optional<ChildInfo> Find(std::string_view id) const {
    std::lock_guard lock(mu_);
    auto it = children_.find(std::string(id));
    if (it == children_.end()) {
      return std::nullopt;
    }
    return it->second->info;
  }

  Clock& clock() { return clock_; }

  std::atomic<std::uint64_t> restarts_total{0};
  std::atomic<std::uint64_t> crashes_total{0};
  std::atomic<std::uint64_t> quarantines_total{0};
  std::atomic<bool> escalated{false};

 private:
  void RequestStopLocked(const ChildPtr& child) {
    if (child->stop_requested) {
      return;
    }
    child->stop_requested = true;
    child->info.state = ChildState::kStopping;
    // cancellation_signal is not thread-safe: emit on the child's strand. Posted, not
    // dispatched: we hold mu_, and it must come after the post that spawns the child.
    asio::post(child->strand, [child] { child->cancel.emit(asio::cancellation_type::terminal); });
  }

  void Notify(SupervisorEvent::Kind kind, const ChildPtr& child, std::string detail = {},
              Duration delay = {}) {
    if (observer_) {
      observer_(SupervisorEvent{kind, child->spec.id, std::move(detail), delay});
    }
  }

  bool StopRequested(const ChildPtr& child) {
    std::lock_guard lock(mu_);
    return child->stop_requested;
  }

  // Sets the state unless a stop was requested; returns false when stopping.
  bool SetState(const ChildPtr& child, ChildState state, std::optional<TimePoint> next = {}) {
    std::lock_guard lock(mu_);
    if (child->stop_requested) {
      return false;
    }
    child->info.state = state;
    child->info.next_start_at = next;
    return true;
  }

  // Records a restart at `now`; true when it exceeds the intensity (more than max in period).
  bool ExceedsIntensity(const ChildPtr& child, TimePoint now) {
    std::lock_guard lock(mu_);
    auto& times = child->restart_times;
    times.push_back(now);
    while (!times.empty() && times.front() + options_.period <= now) {
      times.pop_front();
    }
    return times.size() > options_.max_restarts;
  }

  // Sleeps on the injected clock; false when cancelled or a stop was requested meanwhile.
  asio::awaitable<bool> Pause(ChildPtr child, Duration delay) {
    try {
      const auto ec = co_await clock_.SleepFor(delay);
      co_return !ec && !StopRequested(child);
    } catch (const boost::system::system_error&) {
      co_return false;  // cancelled before the sleep began (throw_if_cancelled)
    }
  }

  static asio::awaitable<void> Supervise(std::shared_ptr<Impl> self, ChildPtr child) {
    Backoff backoff(self->options_.backoff, self->random_);
    for (;;) {
      if (!self->SetState(child, ChildState::kRunning)) {
        break;
      }
      self->Notify(SupervisorEvent::Kind::kStarted, child);
      const TimePoint started = self->clock_.Now();
      std::exception_ptr crash;
      try {
        co_await child->spec.start();
      } catch (...) {
        crash = std::current_exception();
      }
      if (self->StopRequested(child)) {
        break;  // whatever it did after being cancelled is not a crash
      }
      const TimePoint now = self->clock_.Now();
      if (crash) {
        std::string what = DescribeException(crash);
        if (what == kNonStandardException) {
          // A crash is counted and restarted like any other, but it cannot say what went wrong.
          RecordInternalError("supervisor_child", child->spec.id + ": " + what);
        }
        self->crashes_total.fetch_add(1, std::memory_order_relaxed);
        {
          std::lock_guard lock(self->mu_);
          ++child->info.crashes;
          child->info.last_crash = what;
        }
        self->Notify(SupervisorEvent::Kind::kCrashed, child, std::move(what));
      } else {
        self->Notify(SupervisorEvent::Kind::kExited, child);
      }
      const RestartType type = child->spec.restart;
      if (type == RestartType::kTemporary || (type == RestartType::kTransient && !crash)) {
        break;
      }
      if (now - started >= self->options_.backoff_reset_after) {
        backoff.Reset();
      }
      Duration delay{};
      if (self->ExceedsIntensity(child, now)) {
        if (self->options_.on_intensity == IntensityAction::kEscalate) {
          self->escalated.store(true);
          self->Notify(SupervisorEvent::Kind::kEscalated, child);
          break;
        }
        delay = self->options_.quarantine_cooldown;
        self->quarantines_total.fetch_add(1, std::memory_order_relaxed);
        {
          std::lock_guard lock(self->mu_);
          ++child->info.quarantines;
          child->restart_times.clear();  // a fresh budget after the cool-down
        }
        backoff.Reset();
        if (!self->SetState(child, ChildState::kQuarantined, now + delay)) {
          break;
        }
        self->Notify(SupervisorEvent::Kind::kQuarantined, child, {}, delay);
      } else {
        delay = backoff.Next();
        if (!self->SetState(child, ChildState::kBackoff, now + delay)) {
          break;
        }
        self->Notify(SupervisorEvent::Kind::kRestartScheduled, child, {}, delay);
      }
      {
        std::lock_guard lock(self->mu_);
        ++child->info.restarts;
      }
      self->restarts_total.fetch_add(1, std::memory_order_relaxed);
      // Not `if (co_await ...)`: GCC 12 miscompiles a co_await inside a condition.
      const bool resume = co_await self->Pause(child, delay);
      if (!resume) {
        break;
      }
    }
  }

  // The child's coroutine has ended (also when it was cancelled before it began).
  void Finished(const ChildPtr& child) {
    {
      std::lock_guard lock(mu_);
      child->info.state = ChildState::kStopped;
      child->info.next_start_at.reset();
      auto it = children_.find(child->spec.id);
      if (it != children_.end() && it->second == child) {
        children_.erase(it);  // the id may be started again
      }
    }
    Notify(SupervisorEvent::Kind::kStopped, child);
    child->done.Set();
  }

  const asio::any_io_executor executor_;
  const SupervisorOptions options_;
  Clock& clock_;
  RandomSource& random_;
  const SupervisorObserver observer_;

  mutable std::mutex mu_;
  std::map<std::string, ChildPtr, std::less<>> children_;  // guarded by mu_
  bool shutting_down_ = false;                             // guarded by mu_
};

DynamicSupervisor::DynamicSupervisor(asio::any_io_executor executor, SupervisorOptions options,
                                     Clock& clock, RandomSource& random,
                                     SupervisorObserver observer)
    : impl_(std::make_shared<Impl>(std::move(executor), options, clock, random,
                                   std::move(observer))) {}

DynamicSupervisor::~DynamicSupervisor() { (void)impl_->RequestStopAll(); }

boost::system::result<void> DynamicSupervisor::StartChild(ChildSpec spec) {
  return impl_->Start(impl_, std::move(spec));
}

asio::awaitable<boost::system::result<void>> DynamicSupervisor::TerminateChild(std::string id) {
  auto child = impl_->RequestStop(id);
  if (!child) {
    co_return make_error_code(SupervisorErrc::kNotFound);
  }
  const auto ec = co_await child->done.Wait();
  if (ec) {
    co_return ec;  // the waiting coroutine was cancelled; the child still stops
  }
  co_return boost::system::result<void>{};
}

asio::awaitable<ShutdownReport> DynamicSupervisor::Shutdown(Duration deadline) {
  auto impl = impl_;  // keeps the state alive even if the facade goes away meanwhile
  const TimePoint deadline_at = impl->clock().Now() + deadline;
  auto children = impl->RequestStopAll();
  for (const auto& child : children) {
    if (child->done.IsSet()) {
      continue;
    }
    auto winner = co_await (child->done.Wait() || impl->clock().SleepUntil(deadline_at));
    if (winner.index() == 1) {
      break;  // deadline reached
    }
  }
  ShutdownReport report;
  for (const auto& child : children) {
    if (!child->done.IsSet()) {
      report.unfinished.push_back(child->spec.id);
    }
  }
  co_return report;
}

std::vector<ChildInfo> DynamicSupervisor::Children() const { return impl_->Snapshot(); }

std::optional<ChildInfo> DynamicSupervisor::Child(std::string_view id) const {
  return impl_->Find(id);
}

std::size_t DynamicSupervisor::CountInState(ChildState state) const {
  auto children = impl_->Snapshot();
  return static_cast<std::size_t>(std::count_if(
      children.begin(), children.end(), [state](const ChildInfo& c) { return c.state == state; }));
}

std::uint64_t DynamicSupervisor::RestartsTotal() const noexcept {
  return impl_->restarts_total.load(std::memory_order_relaxed);
}
std::uint64_t DynamicSupervisor::CrashesTotal() const noexcept {
  return impl_->crashes_total.load(std::memory_order_relaxed);
}
std::uint64_t DynamicSupervisor::QuarantinesTotal() const noexcept {
  return impl_->quarantines_total.load(std::memory_order_relaxed);
}
bool DynamicSupervisor::Escalated() const noexcept { return impl_->escalated.load(); }

namespace {

SupervisorObserver EscalationObserver(std::shared_ptr<AsyncEvent> stop, SupervisorObserver user) {
  return [stop = std::move(stop), user = std::move(user)](const SupervisorEvent& e) {
    if (user) {
      user(e);
    }
    if (e.kind == SupervisorEvent::Kind::kEscalated) {
      stop->Set();
    }
  };
}

}  // namespace

TopSupervisor::TopSupervisor(asio::any_io_executor executor, TopSupervisorOptions options,
                             Clock& clock, RandomSource& random, SupervisorObserver observer)
    : options_(options),
      stop_(std::make_shared<AsyncEvent>()),
      services_(std::move(executor), options.supervisor, clock, random,
                EscalationObserver(stop_, std::move(observer))) {}

boost::system::result<void> TopSupervisor::StartService(ChildSpec spec) {
  return services_.StartChild(std::move(spec));
}

void TopSupervisor::RequestStop() { stop_->Set(); }

asio::awaitable<int> TopSupervisor::Run() {
  auto stop = stop_;
  // A cancelled Run still shuts the services down in order.
  (void)co_await stop->Wait();
  co_await asio::this_coro::reset_cancellation_state();
  auto report = co_await services_.Shutdown(options_.shutdown_deadline);
  {
    std::lock_guard lock(mu_);
    last_shutdown_ = std::move(report);
  }
  co_return services_.Escalated() ? kEscalationExitCode : 0;
}

ShutdownReport TopSupervisor::LastShutdown() const {
  std::lock_guard lock(mu_);
  return last_shutdown_;
}

asio::awaitable<int> RunWithStopSignals(TopSupervisor& top, asio::signal_set& signals) {
  TopSupervisor* target = &top;
  signals.async_wait([target](const boost::system::error_code& ec, int) {
    if (!ec) {
      target->RequestStop();
    }
  });
  const int code = co_await top.Run();
  signals.cancel();
  co_return code;
}

}  // namespace fleetps::collector
