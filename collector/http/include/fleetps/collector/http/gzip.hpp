// Content-Encoding: gzip for HTTP answers (a /metrics scrape compresses ~10x).
#pragma once

#include <string>
#include <string_view>

namespace fleetps::collector {

/// gzip (RFC 1952) of `data` at zlib level `level` (1: ~4x cheaper than 6 for ~20 % more
/// bytes, the right trade for a scrape). Throws std::bad_alloc only.
[[nodiscard]] std::string Gzip(std::string_view data, int level = 1);

/// True when an Accept-Encoding header value admits gzip (q > 0).
[[nodiscard]] bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace fleetps::collector
