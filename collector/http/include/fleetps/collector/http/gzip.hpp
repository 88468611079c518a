// Content-Encoding: gzip for HTTP answers (a /metrics scrape compresses ~10x).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace fleetps::collector {

/// gzip (RFC 1952) of `data` at zlib level `level` (1: ~4x cheaper than 6 for ~20 % more
/// bytes, the right trade for a scrape). Throws std::bad_alloc only.
[[nodiscard]] std::string Gzip(std::string_view data, int level = 1);

/// gzip of a body produced in pieces (an answer streamed as it is rendered): the pieces'
/// concatenation as Gzip would compress it (the same bytes once inflated; the compressed bytes
/// may differ). Holds zlib's state (~270 kB at level 1) until destroyed. Throws std::bad_alloc
/// only.
class GzipStream {
 public:
  explicit GzipStream(int level = 1);
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;
  ~GzipStream();

  /// Compresses `data`, the next piece; `last` ends the stream (the gzip trailer). Returns the
  /// compressed bytes ready so far, possibly none (zlib buffers up to its window); valid until
  /// the next call.
  [[nodiscard]] std::string_view Write(std::string_view data, bool last);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// True when an Accept-Encoding header value admits gzip (q > 0).
[[nodiscard]] bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace fleetps::collector
