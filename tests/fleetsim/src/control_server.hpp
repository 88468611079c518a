// The fleet's control API: a tiny HTTP/1.1 server (Boost.Beast) on the fleet's io_context.
//
//   GET  /healthz                    "ok"
//   GET  /stats                      counters, CPU seconds and RSS of the fleetsim process (JSON)
//   GET  /hosts                      every host: number, name, port, dialect, fault, sessions
//   GET  /hosts/{spec}               the hosts of a selection ("7", "sim00007", "1-50", "all")
//   PUT  /hosts/{spec}/fault         body: a fault ("drip", "delay:500", "none"...)
//   POST /hosts/{spec}/drop          drops those hosts' open connections
//   POST /restart                    drops every open connection (a fleet-wide sshd restart)
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "fleet.hpp"

namespace fleetps::fleetsim {

/// Runs on the fleet's thread; not thread-safe.
class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, Fleet& fleet);

  /// Listens on "ADDRESS:PORT" (port 0 = any free port) and starts serving.
  [[nodiscard]] bool Start(const std::string& listen, std::string& error);

  [[nodiscard]] std::uint16_t Port() const;

 private:
  boost::asio::io_context& io_;
  Fleet& fleet_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
};

/// The JSON of GET /stats (exposed for the README measurements and tests).
[[nodiscard]] std::string StatsJson(const Fleet& fleet);

}  // namespace fleetps::fleetsim
