#include "fleetps/collector/cli/keyscan.hpp"

#include <algorithm>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fleetps/agent/algorithms.hpp"
#include "fleetps/agent/async_semaphore.hpp"
#include "fleetps/agent/errors.hpp"
#include "fleetps/agent/known_hosts.hpp"
#include "fleetps/agent/ssh_session.hpp"
#include "fleetps/collector/query/text.hpp"

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
    case agent::KnownHostsFile::RecordOutcome::kAdded:
      return "added";
    case agent::KnownHostsFile::RecordOutcome::kAlreadyKnown:
      return "already known";
    case agent::KnownHostsFile::RecordOutcome::kRefused:
      return "REFUSED: a different key is recorded; remove the old line to re-enroll";
  }
  return "";
}

std::string WeakList(const std::vector<agent::WeakAlgorithm>& weak) {
  std::string out;
  for (const auto& w : weak) {
    if (!out.empty()) out += ", ";
    out.append(agent::AlgorithmKindKey(w.kind)).append(" ").append(w.name);
    out.append(" (").append(w.reason).append(")");
  }
  return out;
}

// The crypto inventory of one host: its banner, what it offers (from its clear-text KEXINIT)
// with the weak algorithms flagged, and what fleetps negotiated with the host's settings.
std::string Inventory(const std::optional<agent::ServerOffer>& offer,
                      const agent::ScannedKey* scanned, const agent::FailureDetail& failure) {
  std::string out;
  if (offer) {
    out += "\n  banner: " + TerminalSafe(offer->banner);
    out += "\n  offers: kex " + TerminalSafe(agent::JoinAlgorithms(offer->kex, ",")) +
           "; hostkeys " + TerminalSafe(agent::JoinAlgorithms(offer->hostkeys, ",")) +
           "; ciphers " + TerminalSafe(agent::JoinAlgorithms(offer->ciphers, ",")) + "; macs " +
           TerminalSafe(agent::JoinAlgorithms(offer->macs, ","));
    const auto weak = agent::WeakInOffer(*offer);
    out +=
        "\n  weak offered: " + (weak.empty() ? std::string("none") : TerminalSafe(WeakList(weak)));
  }
  if (scanned != nullptr) {
    std::vector<agent::WeakAlgorithm> used;
    auto check = [&used](agent::AlgorithmKind kind, const std::string& name) {
      if (const auto why = agent::WeakReason(kind, name); !why.empty()) {
        used.push_back({kind, name, std::string(why)});
      }
    };
    check(agent::AlgorithmKind::kKex, scanned->kex);
    // An RSA key signs with SHA-1 only when the server offers no rsa-sha2 (libssh prefers it).
    const bool rsa_sha2_offered =
        offer && std::any_of(offer->hostkeys.begin(), offer->hostkeys.end(),
                             [](const std::string& a) { return a.starts_with("rsa-sha2-"); });
    if (scanned->key.type != "ssh-rsa" || !rsa_sha2_offered) {
      check(agent::AlgorithmKind::kHostkey, scanned->key.type);
    }
    check(agent::AlgorithmKind::kCipher, scanned->cipher);
    check(agent::AlgorithmKind::kMac, scanned->mac);
    if (const auto bits = agent::RsaKeyBits(scanned->key.base64); bits && *bits < 2048) {
      used.push_back({agent::AlgorithmKind::kHostkey, "rsa-" + std::to_string(*bits),
                      "RSA host key shorter than 2048 bits"});
    }
    out += "\n  negotiated: kex " + scanned->kex + ", hostkey " + scanned->key.type + ", cipher " +
           scanned->cipher + ", mac " + (scanned->mac.empty() ? "(aead)" : scanned->mac);
    if (!used.empty()) out += "\n  weak in use: " + WeakList(used);
  } else if (!failure.text.empty()) {
    out += "\n  detail: " + TerminalSafe(failure.text);
  }
  return out;
}

asio::awaitable<void> ScanOne(const config::HostSpec& spec, agent::AsyncSemaphore& limit,
                              ScanLine& line) {
  agent::AsyncSemaphore::Permit permit;
  const auto deadline = std::chrono::steady_clock::time_point::max();
  // Not `if (co_await ...)`: GCC 12 miscompiles a co_await in an if condition.
  const auto acquire_ec = co_await limit.Acquire(permit, deadline);
  if (acquire_ec) co_return;
  const std::string where = spec.address + ":" + std::to_string(spec.port);
  auto offered = co_await agent::ScanServerOffer(
      spec, std::chrono::steady_clock::now() + spec.connect_timeout * 2);
  std::optional<agent::ServerOffer> offer;
  if (offered) offer = std::move(*offered);
  agent::FailureDetail failure;
  auto enrolled = co_await agent::Enroll(
      spec, std::chrono::steady_clock::now() + spec.connect_timeout * 2, &failure);
  if (!enrolled) {
    line.text = spec.name + "  " + where +
                "  error: " + std::string(agent::ReasonName(enrolled.error())) +
                Inventory(offer, nullptr, failure);
    co_return;
  }
  line.ok = enrolled->outcome != agent::KnownHostsFile::RecordOutcome::kRefused;
  line.text = spec.name + "  " + where + "  " + enrolled->scanned.key.type + "  " +
              enrolled->scanned.fingerprint + "  " + std::string(OutcomeName(enrolled->outcome)) +
              Inventory(offer, &enrolled->scanned, failure);
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
