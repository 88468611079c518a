// A minimal HTTP/1.1 GET client for the CLI (`fleetps query`, `fleetps hosts`).
#pragma once

#include <chrono>
#include <string>

#include <boost/system/result.hpp>

namespace fleetps::collector {

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

/// GETs `path_and_query` from `server` ("http://HOST:PORT", scheme optional) within `timeout`.
/// Errors: an unparsable server URL, a connection or read failure; `problem` gets a sentence.
[[nodiscard]] boost::system::result<HttpReply> HttpGet(const std::string& server,
                                                       const std::string& path_and_query,
                                                       std::chrono::milliseconds timeout,
                                                       std::string* problem);

}  // namespace fleetps::collector
