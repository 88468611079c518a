// A minimal HTTP/1.1 GET client for the CLI (`fleetps query`, `fleetps hosts`).
#pragma once

#include <chrono>
#include <functional>
#include <string_view>
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

/// GETs a streaming answer (server-sent events) and hands each piece of the body to `on_data`
/// as it arrives, until the server closes the stream. `idle_timeout` bounds the silence between
/// two pieces (the server sends heartbeats) and the connection setup. A non-200 answer is read
/// whole and returned in the reply instead. `on_data` returning false stops reading.
[[nodiscard]] boost::system::result<HttpReply> HttpGetStream(
    const std::string& server, const std::string& path_and_query,
    std::chrono::milliseconds idle_timeout,
    const std::function<bool(std::string_view)>& on_data, std::string* problem);

}  // namespace fleetps::collector
