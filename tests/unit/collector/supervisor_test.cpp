#include "fleetps/collector/supervision/supervisor.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fleetps/collector/telemetry/internal_errors.hpp"
#include "manual_clock.hpp"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using test_support::ManualClock;
using testing::ElementsAre;

// What a test child reports back; touched only from the single io thread (or atomically).
struct Probe {
  std::atomic<int> runs{0};
  std::atomic<int> ticks{0};
};
using ProbePtr = std::shared_ptr<Probe>;

asio::awaitable<void> CrashAlways(ProbePtr p) {
  const int run = ++p->runs;
  throw std::runtime_error("boom " + std::to_string(run));
  co_return;
}

asio::awaitable<void> ReturnAtOnce(ProbePtr p) {
  ++p->runs;
  co_return;
}

// Parks until cancelled (a sleep far beyond any test's horizon on the manual clock).
asio::awaitable<void> Park(Clock& clock, ProbePtr p) {
  ++p->runs;
  (void)co_await clock.SleepFor(hours(100000));
}

asio::awaitable<void> CrashTimesThenPark(Clock& clock, ProbePtr p, int crashes) {
  const int run = ++p->runs;
  if (run <= crashes) {
    throw std::runtime_error("boom " + std::to_string(run));
  }
  (void)co_await clock.SleepFor(hours(100000));
}

asio::awaitable<void> CrashOnceThenReturn(ProbePtr p) {
  if (++p->runs == 1) {
    throw std::runtime_error("first run fails");
  }
  co_return;
}

// Makes progress every second of manual time until cancelled.
asio::awaitable<void> Ticker(Clock& clock, ProbePtr p) {
  ++p->runs;
  for (;;) {
    const auto ec = co_await clock.SleepFor(seconds(1));
    if (ec) {
      co_return;
    }
    ++p->ticks;
  }
}

// Ignores cancellation: its wait is bound to a disconnected slot and never completes.
asio::awaitable<void> IgnoreCancellation(ProbePtr p) {
  ++p->runs;
  asio::steady_timer never(co_await asio::this_coro::executor,
                           asio::steady_timer::time_point::max());
  co_await never.async_wait(
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
}

// Random numbers from a script; the last one repeats.
class ScriptedRandom final : public RandomSource {
 public:
  explicit ScriptedRandom(std::vector<double> script) : script_(std::move(script)) {}
  double Uniform01() override {
    std::lock_guard lock(mu_);
    const double u = script_[std::min(next_, script_.size() - 1)];
    ++next_;
    return u;
  }

 private:
  std::mutex mu_;
  std::vector<double> script_;
  std::size_t next_ = 0;
};

SupervisorOptions TestOptions() {
  SupervisorOptions o;
  o.backoff = {.base = seconds(1), .cap = seconds(60)};
  o.max_restarts = 5;
  o.period = seconds(300);
  o.quarantine_cooldown = minutes(10);
  o.backoff_reset_after = seconds(60);
  return o;
}

class SupervisorTest : public testing::Test {
 protected:
  void Make(SupervisorOptions options, std::vector<double> script) {
    random_ = std::make_unique<ScriptedRandom>(std::move(script));
    sup_ = std::make_unique<DynamicSupervisor>(
        io_.get_executor(), options, clock_, *random_,
        [this](const SupervisorEvent& e) { events_.push_back(e); });
  }

  // Children still alive at the end are shut down in order, so that no coroutine frame is left
  // to the io_context destructor (frames destroyed there leak under LeakSanitizer).
  void TearDown() override {
    if (!sup_) {
      return;
    }
    bool done = false;
    asio::co_spawn(io_, sup_->Shutdown(seconds(1)),
                   [&done](std::exception_ptr, const ShutdownReport&) { done = true; });
    Drain();
    Advance(seconds(1));
    EXPECT_TRUE(done);
  }

  void Drain() {
    io_.restart();
    io_.poll();
  }

  void Advance(Duration d) {
    clock_.Advance(d);
    Drain();
  }

  std::vector<Duration> ScheduledDelays() const {
    std::vector<Duration> out;
    for (const auto& e : events_) {
      if (e.kind == SupervisorEvent::Kind::kRestartScheduled) {
        out.push_back(e.delay);
      }
    }
    return out;
  }

  ChildState StateOf(const std::string& id) const {
    auto c = sup_->Child(id);
    EXPECT_TRUE(c) << id;
    return c ? c->state : ChildState::kStopped;
  }

  // Terminates `id` from a coroutine and returns the result once it completed.
  std::optional<boost::system::result<void>> Terminate(const std::string& id) {
    std::optional<boost::system::result<void>> out;
    asio::co_spawn(io_, sup_->TerminateChild(id),
                   [&out](std::exception_ptr, boost::system::result<void> r) { out = r; });
    Drain();
    return out;
  }

  // Declared first: destroyed last, after everything that may still hold coroutines on it.
  asio::io_context io_;
  ManualClock clock_;
  std::unique_ptr<ScriptedRandom> random_;
  std::vector<SupervisorEvent> events_;
  std::unique_ptr<DynamicSupervisor> sup_;
};

TEST_F(SupervisorTest, RestartsCrashedChildAfterJitteredBackoff) {
  Make(TestOptions(), {0.5, 0.25, 0.75});
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"web01", [&, p] { return CrashTimesThenPark(clock_, p, 3); }}));
  Drain();
  EXPECT_EQ(p->runs, 1);
  EXPECT_EQ(StateOf("web01"), ChildState::kBackoff);
  EXPECT_EQ(sup_->Child("web01")->next_start_at, clock_.Now() + milliseconds(500));

  // Delay 1 = 0.5 * min(60 s, 1 s * 2^0) = 500 ms.
  Advance(milliseconds(499));
  EXPECT_EQ(p->runs, 1);
  Advance(milliseconds(1));
  EXPECT_EQ(p->runs, 2);
  // Delay 2 = 0.25 * 2 s = 500 ms.
  Advance(milliseconds(500));
  EXPECT_EQ(p->runs, 3);
  // Delay 3 = 0.75 * 4 s = 3 s.
  Advance(milliseconds(2999));
  EXPECT_EQ(p->runs, 3);
  Advance(milliseconds(1));
  EXPECT_EQ(p->runs, 4);

  EXPECT_THAT(ScheduledDelays(), ElementsAre(milliseconds(500), milliseconds(500), seconds(3)));
  const auto info = sup_->Child("web01").value();
  EXPECT_EQ(info.state, ChildState::kRunning);
  EXPECT_EQ(info.restarts, 3U);
  EXPECT_EQ(info.crashes, 3U);
  EXPECT_EQ(info.last_crash, "boom 3");
  EXPECT_EQ(sup_->RestartsTotal(), 3U);
  EXPECT_EQ(sup_->CrashesTotal(), 3U);
}

asio::awaitable<void> ThrowNonStandardThenPark(Clock& clock, ProbePtr p) {
  if (++p->runs == 1) {
    throw 42;  // not a std::exception: the point of the test
  }
  (void)co_await clock.SleepFor(hours(100000));
}

TEST_F(SupervisorTest, NonStandardExceptionIsACrashAndAnInternalError) {
  const auto internal_errors = [] {
    for (const auto& [site, count] : InternalErrorCounts()) {
      if (site == "supervisor_child") return count;
    }
    return std::uint64_t{0};
  };
  const std::uint64_t before = internal_errors();
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"odd", [&, p] { return ThrowNonStandardThenPark(clock_, p); }}));
  Drain();
  EXPECT_EQ(sup_->Child("odd")->last_crash, "non-standard exception");
  EXPECT_EQ(internal_errors(), before + 1);
  Advance(milliseconds(500));
  EXPECT_EQ(p->runs, 2);  // restarted like any crash
  EXPECT_EQ(sup_->CrashesTotal(), 1U);
}

TEST_F(SupervisorTest, LongHealthyRunResetsBackoff) {
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"a", [&, p] { return CrashTimesThenPark(clock_, p, 2); }}));
  Drain();              // crash 1 -> 500 ms
  Advance(seconds(1));  // run 2 crashes at once -> 0.5 * 2 s = 1 s
  Advance(seconds(1));  // run 3 parks
  EXPECT_EQ(p->runs, 3);
  EXPECT_THAT(ScheduledDelays(), ElementsAre(milliseconds(500), seconds(1)));
}

TEST_F(SupervisorTest, PermanentChildIsRestartedAfterNormalExit) {
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"a", [p] { return ReturnAtOnce(p); }, RestartType::kPermanent}));
  Drain();
  EXPECT_EQ(p->runs, 1);
  EXPECT_EQ(StateOf("a"), ChildState::kBackoff);
  Advance(milliseconds(500));
  EXPECT_EQ(p->runs, 2);
  EXPECT_EQ(sup_->CrashesTotal(), 0U);
  EXPECT_EQ(sup_->RestartsTotal(), 2U);  // the second exit scheduled another restart
}

TEST_F(SupervisorTest, TransientChildIsRestartedOnlyAfterACrash) {
  Make(TestOptions(), {0.5});
  auto clean = std::make_shared<Probe>();
  auto flaky = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild(
      {"clean", [clean] { return ReturnAtOnce(clean); }, RestartType::kTransient}));
  ASSERT_TRUE(sup_->StartChild(
      {"flaky", [flaky] { return CrashOnceThenReturn(flaky); }, RestartType::kTransient}));
  Drain();
  EXPECT_FALSE(sup_->Child("clean"));  // returned normally: gone, not restarted
  EXPECT_EQ(StateOf("flaky"), ChildState::kBackoff);
  Advance(milliseconds(500));
  EXPECT_EQ(flaky->runs, 2);
  EXPECT_FALSE(sup_->Child("flaky"));
  EXPECT_EQ(clean->runs, 1);
  EXPECT_EQ(sup_->RestartsTotal(), 1U);
}

TEST_F(SupervisorTest, TemporaryChildIsNeverRestarted) {
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"adhoc", [p] { return CrashAlways(p); }, RestartType::kTemporary}));
  Drain();
  Advance(hours(1));
  EXPECT_EQ(p->runs, 1);
  EXPECT_FALSE(sup_->Child("adhoc"));
  EXPECT_EQ(sup_->CrashesTotal(), 1U);
  EXPECT_EQ(sup_->RestartsTotal(), 0U);
}

TEST_F(SupervisorTest, LiveDuplicateIdIsRefusedAndFreedIdIsReusable) {
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"web01", [&, p] { return Park(clock_, p); }}));
  auto dup = sup_->StartChild({"web01", [&, p] { return Park(clock_, p); }});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error(), make_error_code(SupervisorErrc::kAlreadyStarted));
  EXPECT_FALSE(sup_->StartChild({"", [&, p] { return Park(clock_, p); }}));
  Drain();
  ASSERT_TRUE(Terminate("web01").value());
  EXPECT_TRUE(sup_->StartChild({"web01", [&, p] { return Park(clock_, p); }}));
}

TEST_F(SupervisorTest, TerminateChildCancelsItAndWaitsForIt) {
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  auto sibling = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"a", [&, p] { return Park(clock_, p); }}));
  ASSERT_TRUE(sup_->StartChild({"b", [&, sibling] { return Ticker(clock_, sibling); }}));
  Drain();
  EXPECT_EQ(StateOf("a"), ChildState::kRunning);

  auto r = Terminate("a");
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  EXPECT_FALSE(sup_->Child("a"));
  EXPECT_EQ(p->runs, 1);  // a termination is not a crash: no restart
  EXPECT_EQ(sup_->RestartsTotal(), 0U);
  EXPECT_EQ(StateOf("b"), ChildState::kRunning);

  auto missing = Terminate("a");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->error(), make_error_code(SupervisorErrc::kNotFound));
}

asio::awaitable<void> Reconfigure(DynamicSupervisor& sup, Clock& clock, ProbePtr p,
                                  std::optional<bool>& ok) {
  const bool started =
      sup.StartChild({"added", [&clock, p] { return Park(clock, p); }}).has_value();
  const auto stopped = co_await sup.TerminateChild("added");
  ok = started && stopped.has_value();
}

// A config reload starts and stops children from a coroutine running on the same io_context:
// the child must not start inline under the supervisor's lock.
TEST_F(SupervisorTest, StartAndTerminateFromACoroutineOnTheSameContext) {
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  std::optional<bool> ok;
  asio::co_spawn(io_, Reconfigure(*sup_, clock_, p, ok), asio::detached);
  Drain();
  ASSERT_TRUE(ok);
  EXPECT_TRUE(*ok);  // (terminated so soon, the child may never have begun running)
  EXPECT_FALSE(sup_->Child("added"));
}

TEST_F(SupervisorTest, TerminateChildInBackoffPreventsTheRestart) {
  Make(TestOptions(), {0.5});
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"a", [p] { return CrashAlways(p); }}));
  Drain();
  EXPECT_EQ(StateOf("a"), ChildState::kBackoff);
  ASSERT_TRUE(Terminate("a").value());
  Advance(hours(1));
  EXPECT_EQ(p->runs, 1);
  EXPECT_FALSE(sup_->Child("a"));
}

TEST_F(SupervisorTest, QuarantineAfterIntensityWhileSiblingKeepsRunning) {
  auto options = TestOptions();
  options.max_restarts = 2;
  options.period = seconds(60);
  Make(options, {0.5});
  auto bad = std::make_shared<Probe>();
  auto good = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"bad", [bad] { return CrashAlways(bad); }}));
  ASSERT_TRUE(sup_->StartChild({"good", [&, good] { return Ticker(clock_, good); }}));
  Drain();                     // bad: crash 1, restart 1 in 500 ms
  Advance(milliseconds(500));  // crash 2, restart 2 in 1 s
  EXPECT_EQ(StateOf("bad"), ChildState::kBackoff);
  Advance(seconds(1));  // crash 3: a third restart within 60 s exceeds 2
  EXPECT_EQ(bad->runs, 3);
  EXPECT_EQ(StateOf("bad"), ChildState::kQuarantined);
  EXPECT_EQ(sup_->Child("bad")->next_start_at, clock_.Now() + minutes(10));
  EXPECT_EQ(sup_->QuarantinesTotal(), 1U);

  const int ticks_before = good->ticks;
  for (int i = 0; i < 30; ++i) {
    Advance(seconds(1));
  }
  EXPECT_EQ(good->ticks, ticks_before + 30);  // the sibling never noticed
  EXPECT_EQ(StateOf("good"), ChildState::kRunning);
  EXPECT_EQ(bad->runs, 3);  // and the bad child stays parked
  EXPECT_EQ(StateOf("bad"), ChildState::kQuarantined);
  EXPECT_EQ(sup_->CountInState(ChildState::kQuarantined), 1U);
}

TEST_F(SupervisorTest, QuarantinedChildIsRetriedAfterCoolDown) {
  auto options = TestOptions();
  options.max_restarts = 2;
  options.period = seconds(60);
  Make(options, {0.0});  // no backoff delay: the budget alone decides
  auto p = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"a", [&, p] { return CrashTimesThenPark(clock_, p, 3); }}));
  Drain();
  EXPECT_EQ(p->runs, 3);
  EXPECT_EQ(StateOf("a"), ChildState::kQuarantined);
  Advance(minutes(10) - milliseconds(1));
  EXPECT_EQ(p->runs, 3);
  Advance(milliseconds(1));
  EXPECT_EQ(p->runs, 4);
  const auto info = sup_->Child("a").value();
  EXPECT_EQ(info.state, ChildState::kRunning);
  EXPECT_EQ(info.quarantines, 1U);
  EXPECT_EQ(info.restarts, 3U);
}

TEST_F(SupervisorTest, ShutdownWaitsForChildrenAndReportsThoseMissingTheDeadline) {
  Make(TestOptions(), {0.5});
  auto polite = std::make_shared<Probe>();
  auto stubborn = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"polite", [&, polite] { return Park(clock_, polite); }}));
  ASSERT_TRUE(sup_->StartChild({"stubborn", [stubborn] { return IgnoreCancellation(stubborn); }}));
  Drain();
  std::optional<ShutdownReport> report;
  asio::co_spawn(io_, sup_->Shutdown(seconds(5)),
                 [&](std::exception_ptr, ShutdownReport r) { report = std::move(r); });
  Drain();
  EXPECT_FALSE(report);  // still waiting for the stubborn child
  EXPECT_FALSE(sup_->Child("polite"));
  EXPECT_EQ(StateOf("stubborn"), ChildState::kStopping);
  Advance(seconds(5));
  ASSERT_TRUE(report);
  EXPECT_THAT(report->unfinished, ElementsAre("stubborn"));
  auto late = sup_->StartChild({"late", [p = polite] { return ReturnAtOnce(p); }});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error(), make_error_code(SupervisorErrc::kShuttingDown));
}

TEST_F(SupervisorTest, ShutdownOfCooperativeChildrenIsClean) {
  Make(TestOptions(), {0.5});
  auto a = std::make_shared<Probe>();
  auto b = std::make_shared<Probe>();
  ASSERT_TRUE(sup_->StartChild({"a", [&, a] { return Ticker(clock_, a); }}));
  ASSERT_TRUE(sup_->StartChild({"b", [b] { return CrashAlways(b); }}));  // in backoff
  Drain();
  std::optional<ShutdownReport> report;
  asio::co_spawn(io_, sup_->Shutdown(seconds(5)),
                 [&](std::exception_ptr, ShutdownReport r) { report = std::move(r); });
  Drain();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->Clean());
  EXPECT_TRUE(sup_->Children().empty());
  EXPECT_EQ(b->runs, 1);
}

asio::awaitable<void> CrashThenFinish(ProbePtr p, int crashes,
                                      std::shared_ptr<std::atomic<int>> left,
                                      std::shared_ptr<std::promise<void>> all_done) {
  if (++p->runs <= crashes) {
    throw std::runtime_error("boom");
  }
  if (left->fetch_sub(1) == 1) {
    all_done->set_value();
  }
  co_return;
}

TEST(SupervisorThreadedTest, ChildrenOnAThreadPoolRestartIndependently) {
  constexpr int kChildren = 16;
  constexpr int kCrashes = 4;
  asio::thread_pool pool(2);
  ManualClock clock;
  FunctionRandomSource random([] { return 0.0; });
  auto options = TestOptions();
  options.max_restarts = 100;
  std::atomic<int> events{0};
  DynamicSupervisor sup(pool.get_executor(), options, clock, random,
                        [&](const SupervisorEvent&) { events.fetch_add(1); });
  auto left = std::make_shared<std::atomic<int>>(kChildren);
  auto all_done = std::make_shared<std::promise<void>>();
  auto done = all_done->get_future();
  std::vector<ProbePtr> probes;
  for (int i = 0; i < kChildren; ++i) {
    auto p = probes.emplace_back(std::make_shared<Probe>());
    ASSERT_TRUE(sup.StartChild({"host" + std::to_string(i),
                                [=] { return CrashThenFinish(p, kCrashes, left, all_done); },
                                RestartType::kTransient}));
    (void)sup.Children();  // snapshots race with the children on purpose
  }
  done.wait();
  auto report = asio::co_spawn(pool, sup.Shutdown(hours(1)), asio::use_future).get();
  EXPECT_TRUE(report.Clean());
  EXPECT_EQ(sup.RestartsTotal(), static_cast<std::uint64_t>(kChildren * kCrashes));
  EXPECT_EQ(sup.CrashesTotal(), static_cast<std::uint64_t>(kChildren * kCrashes));
  for (const auto& p : probes) {
    EXPECT_EQ(p->runs, kCrashes + 1);
  }
  EXPECT_TRUE(sup.Children().empty());
  pool.join();
  EXPECT_GT(events.load(), 0);
}

class SupervisorTopLevelTest : public testing::Test {
 protected:
  void Drain() {
    io_.restart();
    io_.poll();
  }

  TopSupervisorOptions Options() const {
    TopSupervisorOptions o;
    o.supervisor.backoff = {.base = seconds(1), .cap = seconds(60)};
    o.supervisor.max_restarts = 3;
    o.supervisor.period = seconds(60);
    o.shutdown_deadline = seconds(10);
    return o;
  }

  asio::io_context io_;
  ManualClock clock_;
};

TEST_F(SupervisorTopLevelTest, ExhaustedBudgetStopsEverythingAndExitsNonZero) {
  FunctionRandomSource random([] { return 0.0; });
  TopSupervisor top(io_.get_executor(), Options(), clock_, random);
  auto watcher = std::make_shared<Probe>();
  auto http = std::make_shared<Probe>();
  ASSERT_TRUE(top.StartService({"config-watcher", [watcher] { return CrashAlways(watcher); }}));
  ASSERT_TRUE(top.StartService({"http", [&, http] { return Ticker(clock_, http); }}));
  std::optional<int> exit_code;
  asio::co_spawn(io_, top.Run(), [&](std::exception_ptr, int code) { exit_code = code; });
  Drain();
  ASSERT_TRUE(exit_code);
  EXPECT_EQ(*exit_code, kEscalationExitCode);
  EXPECT_NE(*exit_code, 0);
  EXPECT_TRUE(top.Escalated());
  EXPECT_EQ(watcher->runs, 4);  // 3 restarts allowed, the 4th termination escalates
  EXPECT_TRUE(top.Services().Children().empty());  // the healthy service was stopped too
  EXPECT_TRUE(top.LastShutdown().Clean());
}

TEST_F(SupervisorTopLevelTest, CrashesSpreadOverTimeStayWithinBudget) {
  FunctionRandomSource random([] { return 0.5; });
  auto options = Options();
  options.supervisor.backoff = {.base = seconds(30), .cap = seconds(60)};  // 15 s, then 30 s
  TopSupervisor top(io_.get_executor(), options, clock_, random);
  auto flaky = std::make_shared<Probe>();
  ASSERT_TRUE(top.StartService({"flaky", [flaky] { return CrashAlways(flaky); }}));
  std::optional<int> exit_code;
  asio::co_spawn(io_, top.Run(), [&](std::exception_ptr, int code) { exit_code = code; });
  Drain();
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(seconds(30));
    Drain();
  }
  EXPECT_GE(flaky->runs, 15);
  EXPECT_FALSE(exit_code);  // never more than 3 restarts in any 60 s window
  EXPECT_FALSE(top.Escalated());
  top.RequestStop();
  Drain();
  EXPECT_EQ(exit_code, 0);
}

TEST_F(SupervisorTopLevelTest, RequestStopShutsDownInOrderWithExitZero) {
  FunctionRandomSource random([] { return 0.5; });
  TopSupervisor top(io_.get_executor(), Options(), clock_, random);
  auto http = std::make_shared<Probe>();
  ASSERT_TRUE(top.StartService({"http", [&, http] { return Park(clock_, http); }}));
  std::optional<int> exit_code;
  asio::co_spawn(io_, top.Run(), [&](std::exception_ptr, int code) { exit_code = code; });
  Drain();
  EXPECT_FALSE(exit_code);
  top.RequestStop();
  Drain();
  EXPECT_EQ(exit_code, 0);
  EXPECT_TRUE(top.LastShutdown().Clean());
}

TEST_F(SupervisorTopLevelTest, StubbornServiceDelaysExitOnlyUntilTheDeadline) {
  FunctionRandomSource random([] { return 0.5; });
  TopSupervisor top(io_.get_executor(), Options(), clock_, random);
  auto stubborn = std::make_shared<Probe>();
  ASSERT_TRUE(top.StartService({"stuck", [stubborn] { return IgnoreCancellation(stubborn); }}));
  std::optional<int> exit_code;
  asio::co_spawn(io_, top.Run(), [&](std::exception_ptr, int code) { exit_code = code; });
  Drain();
  top.RequestStop();
  Drain();
  EXPECT_FALSE(exit_code);
  clock_.Advance(seconds(10));
  Drain();
  EXPECT_EQ(exit_code, 0);
  EXPECT_THAT(top.LastShutdown().unfinished, ElementsAre("stuck"));
}

TEST_F(SupervisorTopLevelTest, SigtermTriggersOrderlyShutdown) {
  FunctionRandomSource random([] { return 0.5; });
  TopSupervisor top(io_.get_executor(), Options(), clock_, random);
  auto http = std::make_shared<Probe>();
  ASSERT_TRUE(top.StartService({"http", [&, http] { return Park(clock_, http); }}));
  std::optional<int> exit_code;
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  asio::co_spawn(io_, RunWithStopSignals(top, signals),
                 [&](std::exception_ptr, int code) { exit_code = code; });
  Drain();
  ASSERT_FALSE(exit_code);
  ASSERT_EQ(std::raise(SIGTERM), 0);  // handled by the signal_set, not fatal
  for (int i = 0; i < 10 && !exit_code; ++i) {
    Drain();
  }
  EXPECT_EQ(exit_code, 0);
}

}  // namespace
}  // namespace fleetps::collector
