#include "fleetps/collector/api/event_handlers.hpp"

#include <stdexcept>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/supervision/task_group.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector {

namespace detail {

struct EventStreams {
  std::atomic<std::size_t> open{0};
  AsyncEvent stop;
};

}  // namespace detail

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

// The HTTP connection as an event stream's output.
class HttpOutput final : public EventStreamOutput {
 public:
  explicit HttpOutput(HttpStreamWriter& writer) : writer_(writer) {}
  asio::awaitable<boost::system::error_code> Write(std::string_view text) override {
    return writer_.Write(text);
  }
  bool PeerClosed() const override { return writer_.PeerClosed(); }

 private:
  HttpStreamWriter& writer_;
};

// The body of an event-stream answer; owns the stream until the connection is done with it.
asio::awaitable<void> WriteToConnection(std::shared_ptr<EventStream> stream,
                                        HttpStreamWriter& writer) {
  HttpOutput out(writer);
  co_await stream->Run(out);
}

}  // namespace

EventStream::EventStream(std::shared_ptr<detail::EventStreams> streams,
                         registry::Subscription<FleetEvent> events, HostFilter filter,
                         const EventStreamOptions& options)
    : streams_(std::move(streams)),
      events_(std::move(events)),
      filter_(std::move(filter)),
      heartbeat_(options.heartbeat),
      client_check_(options.client_check) {}

EventStream::~EventStream() { streams_->open.fetch_sub(1); }

asio::awaitable<void> EventStream::Run(EventStreamOutput& out) {
  using namespace asio::experimental::awaitable_operators;
  // Never `if (co_await ...)`: GCC 12 miscompiles a co_await inside a condition.
  const boost::system::error_code hello = co_await out.Write(": fleetps events\nretry: 5000\n\n");
  if (hello) co_return;
  asio::steady_timer tick(co_await asio::this_coro::executor);
  auto next_heartbeat = std::chrono::steady_clock::now() + heartbeat_;
  std::uint64_t reported_drops = 0;
  AsyncEvent& stop = streams_->stop;
  while (!stop.IsSet()) {
    // A quiet stream would only learn at its next write that the client left.
    tick.expires_at(std::min(next_heartbeat, std::chrono::steady_clock::now() + client_check_));
    auto woke = co_await (events_.Receive() ||
                          tick.async_wait(asio::as_tuple(asio::use_awaitable)) || stop.Wait());
    std::string text;
    if (woke.index() == 2) break;
    if (woke.index() == 1) {
      if (out.PeerClosed()) break;
      if (std::chrono::steady_clock::now() < next_heartbeat) continue;
      text = kEventHeartbeat;
      next_heartbeat = std::chrono::steady_clock::now() + heartbeat_;
    } else {
      auto& received = std::get<0>(woke);
      if (!received) break;  // bus closed
      if (const std::uint64_t dropped = events_.Dropped(); dropped > reported_drops) {
        text = RenderDroppedEvent(dropped - reported_drops, dropped);
        reported_drops = dropped;
      }
      text += RenderStreamEvent(*received, filter_);
    }
    if (text.empty()) continue;
    const boost::system::error_code written = co_await out.Write(text);
    if (written) break;
  }
}

EventHandlers::EventHandlers(FleetBus& bus, EventStreamOptions options)
    : bus_(bus), options_(options), streams_(std::make_shared<detail::EventStreams>()) {}

void throw_exception_from_error(const StreamRefusal& refusal, const boost::source_location&) {
  throw std::runtime_error(refusal.message);
}

boost::system::result<std::shared_ptr<EventStream>, StreamRefusal> EventHandlers::Open(
    HostFilter filter) {
  if (streams_->open.fetch_add(1) >= options_.max_streams) {
    streams_->open.fetch_sub(1);
    return StreamRefusal{"too many event streams (at most " + std::to_string(options_.max_streams) +
                         ")"};
  }
  const std::string exact(filter.ExactHost());
  auto subscription = bus_.Subscribe(exact.empty() ? "*" : "host/" + exact, options_.queue);
  if (!subscription) {
    streams_->open.fetch_sub(1);
    return StreamRefusal{"shutting down"};
  }
  // The stream owns the slot taken above from here on.
  return std::make_shared<EventStream>(streams_, std::move(*subscription), std::move(filter),
                                       options_);
}

asio::awaitable<HttpAnswer> EventHandlers::Events(const ApiRequest& request) {
  auto filter = ParseEventsQueryString(request.encoded_query);
  if (!filter) {
    co_return MakeResponse(request.http, http::status::bad_request, RenderErrorJson(filter.error()),
                           "application/json");
  }
  auto stream = Open(std::move(*filter));
  if (!stream) {
    co_return MakeResponse(request.http, http::status::service_unavailable,
                           RenderErrorJson(stream.error().message), "application/json");
  }
  HttpAnswer answer(
      MakeResponse(request.http, http::status::ok, {}, "text/event-stream; charset=utf-8"));
  answer.response.set(http::field::cache_control, "no-cache");
  answer.stream = [stream = std::move(*stream)](HttpStreamWriter& writer) {
    return WriteToConnection(stream, writer);
  };
  co_return answer;
}

void EventHandlers::StopStreams() { streams_->stop.Set(); }

std::size_t EventHandlers::OpenStreams() const { return streams_->open.load(); }

std::string RenderStreamEvent(const FleetEvent& event, const HostFilter& filter) {
  if (const auto* status = std::get_if<agent::HostStatus>(&event.payload)) {
    return filter.Matches(status->host) ? RenderHostStateEvent(*status) : std::string();
  }
  if (const auto* result = std::get_if<agent::ProbeResult>(&event.payload)) {
    return filter.Matches(result->host) ? RenderProbeEvent(*result) : std::string();
  }
  const auto& reload = std::get<ConfigReloadEvent>(event.payload);
  return filter.empty() ? RenderConfigReloadEvent(reload) : std::string();
}

}  // namespace fleetps::collector
