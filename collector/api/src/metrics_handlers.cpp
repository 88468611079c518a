#include "fleetps/collector/api/metrics_handlers.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "fleetps/collector/http/gzip.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578); it
// started here when SelfMetrics grew the etcd member figures.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view kExpositionType = "text/plain; version=0.0.4; charset=utf-8";
// A piece of a streamed /metrics answer: large enough that a write per piece costs little,
// small enough to stay in cache and to be the whole answer for a small fleet.
constexpr std::size_t kScrapePieceBytes = 256 * 1024;

// Writes the answer piece by piece, gzipped or not, and records the render time. `setup`: the
// render's part before the first piece.
boost::asio::awaitable<void> WriteMetrics(std::shared_ptr<MetricsRenderer> renderer, bool gzip,
                                          std::chrono::steady_clock::duration setup,
                                          std::atomic<double>& last_scrape_seconds,
                                          HttpStreamWriter& writer) {
  std::optional<GzipStream> packer;
  if (gzip) packer.emplace();
  // fleetps_scrape_duration_seconds is the render alone: not gzip, not the client's pace.
  std::chrono::steady_clock::duration rendering = setup;
  for (;;) {
    const auto render_start = std::chrono::steady_clock::now();
    const std::string_view piece = renderer->Next(kScrapePieceBytes);
    rendering += std::chrono::steady_clock::now() - render_start;
    const std::string_view bytes = packer ? packer->Write(piece, piece.empty()) : piece;
    if (!bytes.empty() && co_await writer.Write(bytes)) co_return;  // the client went away
    if (piece.empty()) break;
  }
  last_scrape_seconds = std::chrono::duration<double>(rendering).count();
}

}  // namespace

boost::asio::awaitable<HttpAnswer> MetricsHandlers::Metrics(const ApiRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  SelfMetrics self = fleet_.Self();
  self.last_scrape_duration_seconds = LastScrapeSeconds();
  const bool gzip = AcceptsGzip(request.http[http::field::accept_encoding]);
  HttpAnswer answer(MakeResponse(request.http, http::status::ok, "", kExpositionType));
  if (gzip) answer.response.set(http::field::content_encoding, "gzip");
  answer.response.set(http::field::vary, "Accept-Encoding");
  if (request.http.method() == http::verb::head) {
    answer.stream = [](HttpStreamWriter&) -> boost::asio::awaitable<void> { co_return; };
    co_return answer;
  }
  // Written as it is rendered, in chunks: at 10,000 hosts the text is ~140 MB, which neither the
  // render nor gzip ever holds whole.
  auto renderer = std::make_shared<MetricsRenderer>(fleet_.State(), std::move(self));
  const auto setup = std::chrono::steady_clock::now() - start;
  answer.chunked = true;
  answer.stream = [this, gzip, setup, renderer = std::move(renderer)](HttpStreamWriter& writer) {
    return WriteMetrics(renderer, gzip, setup, last_scrape_seconds_, writer);
  };
  co_return answer;
}

boost::asio::awaitable<HttpAnswer> MetricsHandlers::Probe(const ApiRequest& request) const {
  const auto host = request.Param("target");
  if (!host || host->empty()) {
    co_return MakeResponse(request.http, http::status::bad_request,
                           "missing parameter \"target\"\n");
  }
  const auto unknown = [&] {
    return MakeResponse(request.http, http::status::not_found,
                        "unknown target \"" + BoundedLabelValue(*host) + "\"\n");
  };
  const auto view = fleet_.State().Host(*host);
  if (!view) co_return unknown();
  const SelfMetrics self = fleet_.Self();
  const bool quarantined = self.quarantined_hosts.contains(view->spec.name);
  if (quarantined || !view->Up()) {
    // Prometheus sets `up` 0 for a non-200 answer and shows only the status line as the
    // scrape error, so the reason goes there as well as in the body.
    const std::string why = "host " + view->spec.name +
                            " is down: " + (quarantined ? "quarantined" : DownReason(*view));
    HttpResponse response =
        MakeResponse(request.http, http::status::service_unavailable, why + "\n");
    response.reason(why);
    co_return response;
  }
  auto body = RenderHostMetrics(fleet_.State(), *host, self);
  if (!body) co_return unknown();  // removed by a reload since the lookup above
  co_return MakeResponse(request.http, http::status::ok, std::move(*body), kExpositionType);
}

std::optional<double> MetricsHandlers::LastScrapeSeconds() const {
  const double last = last_scrape_seconds_.load();
  return last >= 0 ? std::optional<double>(last) : std::nullopt;
}

}  // namespace fleetps::collector
