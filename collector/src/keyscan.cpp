#include "fleetps/collector/keyscan.hpp"

#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/agent/async_semaphore.hpp"
#include "fleetps/agent/errors.hpp"
#include "fleetps/agent/known_hosts.hpp"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;

constexpr std::size_t kParallelScans = 16;

struct ScanLine {
  std::string text;
  bool ok = false;
};

std::string_view OutcomeName(agent::KnownHostsFile::RecordOutcome outcome) {
  switch (outcome) {
    case agent::KnownHostsFile::RecordOutcome::kAdded: return "added";
    case agent::KnownHostsFile::RecordOutcome::kAlreadyKnown: return "already known";
    case agent::KnownHostsFile::RecordOutcome::kRefused:
      return "REFUSED: a different key is recorded; remove the old line to re-enroll";
  }
  return "";
}

asio::awaitable<void> ScanOne(const config::HostSpec& spec, agent::AsyncSemaphore& limit,
                              ScanLine& line) {
  agent::AsyncSemaphore::Permit permit;
  const auto deadline = std::chrono::steady_clock::time_point::max();
  // Not `if (co_await ...)`: GCC 12 miscompiles a co_await in an if condition.
  const auto acquire_ec = co_await limit.Acquire(permit, deadline);
  if (acquire_ec) co_return;
  const auto scan_deadline = std::chrono::steady_clock::now() + spec.connect_timeout * 2;
  const std::string where = spec.address + ":" + std::to_string(spec.port);
  auto enrolled = co_await agent::Enroll(spec, scan_deadline);
  if (!enrolled) {
    line.text = spec.name + "  " + where + "  error: " + std::string(agent::ReasonName(enrolled.error()));
    co_return;
  }
  line.ok = enrolled->outcome != agent::KnownHostsFile::RecordOutcome::kRefused;
  line.text = spec.name + "  " + where + "  " + enrolled->scanned.key.type + "  " +
              enrolled->scanned.fingerprint + "  " + std::string(OutcomeName(enrolled->outcome));
}

}  // namespace

int KeyScanInventory(const config::Inventory& inventory, std::ostream& out, std::ostream& err) {
  asio::io_context io;
  agent::AsyncSemaphore limit(kParallelScans);
  std::vector<ScanLine> lines(inventory.hosts.size());
  for (std::size_t i = 0; i < inventory.hosts.size(); ++i) {
    asio::co_spawn(asio::make_strand(io), ScanOne(inventory.hosts[i], limit, lines[i]),
                   [&err, name = inventory.hosts[i].name](std::exception_ptr e) {
                     if (e) err << "fleetps keyscan: " << name << ": internal error\n";
                   });
  }
  io.run();
  std::size_t failed = 0;
  for (const ScanLine& line : lines) {
    (line.ok ? out : err) << line.text << '\n';
    if (!line.ok) ++failed;
  }
  out << inventory.hosts.size() - failed << " of " << inventory.hosts.size()
      << " hosts enrolled or already known\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace fleetps::collector
