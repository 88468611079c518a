// EventHandlers: the /api/v1/events answer and its stream, written to a string instead of a
// connection, fed from a real bus.
#include "fleetps/collector/api/event_handlers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <stdexcept>
#include <utility>
#include <vector>

#include "api_fakes.hpp"

namespace fleetps::collector {
namespace {

using testing::Await;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Request;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::string_view kHello = ": fleetps events\nretry: 5000\n\n";

// Collects what a stream writes; fails writes after `fail_after` writes, or throws.
class StringOutput final : public EventStreamOutput {
 public:
  asio::awaitable<boost::system::error_code> Write(std::string_view text) override {
    if (throw_on_write) throw std::runtime_error("output exploded");
    if (writes++ >= fail_after) co_return asio::error::broken_pipe;
    written += text;
    co_return boost::system::error_code();
  }
  bool PeerClosed() const override { return peer_closed; }

  std::string written;
  std::size_t writes = 0;
  std::size_t fail_after = 1000;
  bool peer_closed = false;
  bool throw_on_write = false;
};

class EventHandlersTest : public ::testing::Test {
 protected:
  EventStreamOptions Options() {
    EventStreamOptions options;
    options.max_streams = 2;
    options.queue = 4;
    options.heartbeat = 150ms;
    options.client_check = 10ms;
    return options;
  }

  HostFilter Filter(std::string_view text) { return HostFilter::Parse(text).value(); }

  // Runs each stream into its output on io_ for `duration`, then (with `stop`) stops every
  // stream, and waits until all have returned.
  void RunStreams(std::vector<std::pair<EventStream*, StringOutput*>> streams,
                  std::chrono::milliseconds duration, bool stop = true) {
    std::vector<std::future<void>> done;
    for (auto [stream, out] : streams) {
      done.push_back(asio::co_spawn(io_, stream->Run(*out), asio::use_future));
    }
    testing::RunFor(io_, duration);
    if (stop) handlers_.StopStreams();
    for (auto& d : done) {
      while (d.wait_for(0s) != std::future_status::ready) testing::RunFor(io_, 10ms);
      d.get();
    }
  }

  void Publish(const agent::HostStatus& status) {
    bus_.Publish("host/" + status.host, FleetEvent{1, status});
  }

  asio::io_context io_;
  FleetBus bus_;
  EventHandlers handlers_{bus_, Options()};
};

TEST_F(EventHandlersTest, AnswerIsAnEventStreamOrAnError) {
  HttpAnswer answer = Await(io_, handlers_.Events({Request(http::verb::get, "/api/v1/events"),
                                                   "/api/v1/events",
                                                   "host=web%5B01-02%5D",
                                                   {}}));
  EXPECT_EQ(answer.response.result(), http::status::ok);
  EXPECT_EQ(answer.response[http::field::content_type], "text/event-stream; charset=utf-8");
  EXPECT_EQ(answer.response[http::field::cache_control], "no-cache");
  EXPECT_TRUE(static_cast<bool>(answer.stream));
  EXPECT_EQ(handlers_.OpenStreams(), 1u);
  answer = HttpAnswer();  // an answer never sent frees its slot
  EXPECT_EQ(handlers_.OpenStreams(), 0u);

  const HttpAnswer bad = Await(
      io_, handlers_.Events({Request(http::verb::get, "/"), "/api/v1/events", "host=a%20b", {}}));
  EXPECT_EQ(bad.response.result(), http::status::bad_request);
  EXPECT_EQ(bad.response[http::field::content_type], "application/json");
  EXPECT_THAT(bad.response.body(), HasSubstr("\"parameter\":\"host\""));
  EXPECT_FALSE(static_cast<bool>(bad.stream));
}

TEST_F(EventHandlersTest, StreamsAreCappedAndASlotFreesWithItsStream) {
  auto first = handlers_.Open({});
  auto second = handlers_.Open({});
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  const HttpAnswer refused =
      Await(io_, handlers_.Events({Request(http::verb::get, "/"), "/api/v1/events", "", {}}));
  EXPECT_EQ(refused.response.result(), http::status::service_unavailable);
  EXPECT_EQ(
      refused.response.body(),
      "{\"status\":\"error\",\"error\":{\"message\":\"too many event streams (at most 2)\"}}");
  EXPECT_EQ(handlers_.OpenStreams(), 2u);
  first->reset();
  EXPECT_EQ(handlers_.OpenStreams(), 1u);
  EXPECT_TRUE(handlers_.Open({}).has_value());
}

TEST_F(EventHandlersTest, AClosedBusRefusesNewStreams) {
  bus_.Close();
  const auto stream = handlers_.Open({});
  ASSERT_FALSE(stream.has_value());
  EXPECT_EQ(stream.error().message, "shutting down");
  EXPECT_EQ(handlers_.OpenStreams(), 0u);
}

TEST_F(EventHandlersTest, StreamWritesMatchingEventsUntilStopped) {
  auto filtered = handlers_.Open(Filter("web[01-02]")).value();
  auto everything = handlers_.Open({}).value();
  Publish(testing::Status("web01", agent::HostState::kReady));
  Publish(testing::Status("db01", agent::HostState::kReady));
  bus_.Publish("config", FleetEvent{0, ConfigReloadEvent{true, "http", "added=1"}});

  StringOutput out;
  StringOutput all;
  RunStreams({{filtered.get(), &out}, {everything.get(), &all}}, 50ms);
  EXPECT_TRUE(out.written.starts_with(kHello)) << out.written;
  EXPECT_THAT(out.written, HasSubstr("event: host_state\n"));
  EXPECT_THAT(out.written, HasSubstr("\"host\":\"web01\""));
  EXPECT_THAT(out.written, Not(HasSubstr("db01")));
  EXPECT_THAT(out.written, Not(HasSubstr("config_reload")));  // reloads: unfiltered streams only

  EXPECT_THAT(all.written, HasSubstr("\"host\":\"web01\""));
  EXPECT_THAT(all.written, HasSubstr("\"host\":\"db01\""));
  EXPECT_THAT(all.written, HasSubstr("event: config_reload\n"));
  EXPECT_THAT(all.written, Not(HasSubstr("event: dropped")));
}

TEST_F(EventHandlersTest, OverflowIsReportedBeforeTheNextEvent) {
  auto stream = handlers_.Open({}).value();
  for (int i = 0; i < 7; ++i) Publish(testing::Status("web01", agent::HostState::kReady));
  StringOutput out;
  RunStreams({{stream.get(), &out}}, 50ms);
  EXPECT_THAT(out.written, HasSubstr("event: dropped\ndata: {\"dropped\":3,\"total\":3}\n\n"));
  EXPECT_LT(out.written.find("event: dropped"), out.written.find("event: host_state"));
}

TEST_F(EventHandlersTest, QuietStreamsGetHeartbeats) {
  auto stream = handlers_.Open({}).value();
  StringOutput out;
  RunStreams({{stream.get(), &out}}, 400ms);
  EXPECT_EQ(out.written.substr(kHello.size(), kEventHeartbeat.size()), kEventHeartbeat);
}

TEST_F(EventHandlersTest, StreamEndsWhenTheClientLeavesOrAWriteFails) {
  auto quiet = handlers_.Open({}).value();
  StringOutput left;
  left.peer_closed = true;
  RunStreams({{quiet.get(), &left}}, 0ms, /*stop=*/false);  // returns without StopStreams
  EXPECT_EQ(left.written, kHello);

  auto busy = handlers_.Open({}).value();
  Publish(testing::Status("web01", agent::HostState::kReady));
  StringOutput broken;
  broken.fail_after = 1;  // the hello goes, the event does not
  RunStreams({{busy.get(), &broken}}, 0ms, /*stop=*/false);
  EXPECT_EQ(broken.written, kHello);
}

// The HTTP server records a streaming body that throws; the stream must not swallow it.
TEST_F(EventHandlersTest, AThrowingOutputEndsTheStreamWithTheException) {
  auto stream = handlers_.Open({}).value();
  StringOutput out;
  out.throw_on_write = true;
  EXPECT_THROW(RunStreams({{stream.get(), &out}}, 0ms, /*stop=*/false), std::runtime_error);
}

TEST(RenderStreamEventTest, FiltersHostEventsAndKeepsReloadsForUnfilteredStreams) {
  const HostFilter web = HostFilter::Parse("web*").value();
  agent::ProbeResult probe;
  probe.host = "db01";
  EXPECT_EQ(RenderStreamEvent(FleetEvent{1, probe}, web), "");
  EXPECT_EQ(RenderStreamEvent(FleetEvent{1, probe}, {}), RenderProbeEvent(probe));
  const ConfigReloadEvent reload{false, "sighup", "invalid config"};
  EXPECT_EQ(RenderStreamEvent(FleetEvent{0, reload}, web), "");
  EXPECT_EQ(RenderStreamEvent(FleetEvent{0, reload}, {}), RenderConfigReloadEvent(reload));
}

}  // namespace
}  // namespace fleetps::collector
