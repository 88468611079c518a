#include "fleetps/collector/http/gzip.hpp"

#include <charconv>
#include <new>

#include <zlib.h>

namespace fleetps::collector {

struct GzipStream::State {
  z_stream zlib{};
  std::string out;
};

GzipStream::GzipStream(int level) : state_(std::make_unique<State>()) {
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&state_->zlib, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::bad_alloc();
  }
}

GzipStream::~GzipStream() { deflateEnd(&state_->zlib); }

std::string_view GzipStream::Write(std::string_view data, bool last) {
  z_stream& zlib = state_->zlib;
  std::string& out = state_->out;
  out.clear();
  zlib.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zlib.avail_in = static_cast<uInt>(data.size());
  const int flush = last ? Z_FINISH : Z_NO_FLUSH;
  // Room for what this piece can become at most, then more while zlib still has output.
  std::size_t room = deflateBound(&zlib, static_cast<uLong>(data.size()));
  for (;;) {
    const std::size_t used = out.size();
    out.resize(used + room);
    zlib.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zlib.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&zlib, flush);
    out.resize(out.size() - zlib.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::bad_alloc();  // a stream error: cannot happen
    if (zlib.avail_in == 0 && zlib.avail_out != 0) break;         // all taken, nothing pending
    room = 64 * 1024;
  }
  return out;
}

std::string Gzip(std::string_view data, int level) {
  GzipStream stream(level);
  return std::string(stream.Write(data, true));
}

bool AcceptsGzip(std::string_view header) {
  // Tokens like "gzip", "gzip;q=0.5", "*"; "gzip;q=0" refuses.
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto trim = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
      return s;
    };
    const std::size_t semi = item.find(';');
    const std::string_view coding = trim(item.substr(0, semi));
    if (coding != "gzip" && coding != "x-gzip" && coding != "*") continue;
    if (semi == std::string_view::npos) return true;
    std::string_view param = trim(item.substr(semi + 1));
    if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') return true;
    param.remove_prefix(2);
    double q = 1;
    std::from_chars(param.data(), param.data() + param.size(), q);
    return q > 0;
  }
  return false;
}

}  // namespace fleetps::collector
