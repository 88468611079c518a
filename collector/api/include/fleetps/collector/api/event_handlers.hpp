// GET /api/v1/events: the bus as server-sent events (docs/query.md), one bounded subscription
// per client, at most a fixed number of clients.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/query_api.hpp"
#include "fleetps/collector/api/router.hpp"

namespace fleetps::collector {

/// Where an event stream writes: the HTTP connection in the server, a string in tests.
class EventStreamOutput {
 public:
  virtual ~EventStreamOutput() = default;
  /// Writes `text`; an error ends the stream (the client left or stopped reading).
  [[nodiscard]] virtual boost::asio::awaitable<boost::system::error_code> Write(
      std::string_view text) = 0;
  /// True once the client has left; asked while the stream has nothing to write.
  [[nodiscard]] virtual bool PeerClosed() const = 0;
};

struct EventStreamOptions {
  std::size_t max_streams = 32;  ///< Open streams at once; the next client gets 503.
  std::size_t queue = 1024;      ///< Events per client; an overflow drops and is reported.
  std::chrono::milliseconds heartbeat{15000};    ///< A comment after this much quiet.
  std::chrono::milliseconds client_check{1000};  ///< A departed client frees its slot this soon.
};

/// Why EventHandlers::Open refused a stream; answered 503 with `message`.
struct StreamRefusal {
  std::string message;  ///< "too many event streams (at most N)" or "shutting down".
};

/// Lets `result<T, StreamRefusal>::value()` throw (std::runtime_error with the message).
[[noreturn]] void throw_exception_from_error(const StreamRefusal& refusal,
                                             const boost::source_location& location);

namespace detail {
struct EventStreams;  // the open-stream count and the stop event, shared with every stream
}

/// One open stream: holds its slot among max_streams and its bus subscription (subscribed when
/// opened, so nothing published after the answer is lost) until destroyed.
class EventStream {
 public:
  EventStream(std::shared_ptr<detail::EventStreams> streams,
              registry::Subscription<FleetEvent> events, HostFilter filter,
              const EventStreamOptions& options);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  /// Writes `: fleetps events` and a retry hint, then every matching event as it arrives
  /// (host events through the filter; reload events only when unfiltered), an `event: dropped`
  /// notice before the first event after an overflow, and a heartbeat after each quiet
  /// `heartbeat`. Returns when a write fails, the client leaves, the bus closes or
  /// EventHandlers::StopStreams is called. Exceptions propagate: the HTTP server records a
  /// streaming body that throws (internal error "http_stream") and closes the connection.
  [[nodiscard]] boost::asio::awaitable<void> Run(EventStreamOutput& out);

 private:
  std::shared_ptr<detail::EventStreams> streams_;
  registry::Subscription<FleetEvent> events_;
  HostFilter filter_;
  std::chrono::milliseconds heartbeat_;
  std::chrono::milliseconds client_check_;
};

class EventHandlers {
 public:
  explicit EventHandlers(FleetBus& bus, EventStreamOptions options = {});

  /// GET /api/v1/events[?host=FILTER]: 400 for a bad filter, 503 (JSON error) when Open
  /// refuses, else 200 `text/event-stream` with `Cache-Control: no-cache` whose body is the
  /// stream's Run.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Events(const ApiRequest& request);

  /// Opens a stream following `filter`, or says why not: max_streams are open, or the bus is
  /// closed (shutting down).
  [[nodiscard]] boost::system::result<std::shared_ptr<EventStream>, StreamRefusal> Open(
      HostFilter filter);

  /// Ends every stream, open or opened later (the HTTP service is stopping: shutdown must not
  /// wait on a client).
  void StopStreams();

  /// Streams open now.
  [[nodiscard]] std::size_t OpenStreams() const;

 private:
  FleetBus& bus_;
  EventStreamOptions options_;
  std::shared_ptr<detail::EventStreams> streams_;
};

/// The server-sent event for one bus event under `filter`, or "" when the filter leaves it
/// out. Reloads concern the whole fleet: only unfiltered streams carry them.
[[nodiscard]] std::string RenderStreamEvent(const FleetEvent& event, const HostFilter& filter);

}  // namespace fleetps::collector
