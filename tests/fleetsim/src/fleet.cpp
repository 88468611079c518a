#include "fleet.hpp"

#include <boost/asio/steady_timer.hpp>

#include <charconv>

#include "connection.hpp"

namespace fleetps::fleetsim {

namespace asio = boost::asio;
using boost::system::error_code;

bool ParseDialectMix(std::string_view text, DialectMix& mix) {
  mix.clear();
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    unsigned weight = 1;
    if (const auto eq = item.find('='); eq != std::string_view::npos) {
      const std::string_view w = item.substr(eq + 1);
      const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), weight);
      if (ec != std::errc{} || end != w.data() + w.size()) {
        return false;
      }
      item = item.substr(0, eq);
    }
    SimDialect dialect{};
    if (!ParseSimDialect(item, dialect)) {
      return false;
    }
    if (weight > 0) {
      mix.emplace_back(dialect, weight);
    }
  }
  return !mix.empty();
}

SimDialect DialectFor(std::uint32_t number, const DialectMix& mix) {
  unsigned total = 0;
  for (const auto& [dialect, weight] : mix) {
    total += weight;
  }
  if (total == 0) {
    return SimDialect::kLinuxProcps;
  }
  // A multiplicative hash spreads each dialect over the whole range of host numbers.
  unsigned slot = static_cast<unsigned>((number * 2654435761ull) % total);
  for (const auto& [dialect, weight] : mix) {
    if (slot < weight) {
      return dialect;
    }
    slot -= weight;
  }
  return mix.front().first;
}

SimDialect DialectOf(std::uint32_t number, const FleetOptions& options) {
  if (const auto it = options.dialect_overrides.find(number);
      it != options.dialect_overrides.end()) {
    return it->second;
  }
  return DialectFor(number, options.dialects);
}

Fleet::Fleet(asio::io_context& io, const KeyStore& keys, FleetOptions options)
    : io_(io), keys_(keys), options_(std::move(options)) {
  sim_epoch_ = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  hosts_.resize(options_.hosts);
  for (std::uint32_t i = 0; i < options_.hosts; ++i) {
    Host& host = hosts_[i];
    host.number = i + 1;
    host.port = static_cast<std::uint16_t>(options_.base_port + i);
    host.dialect = fleetsim::DialectOf(host.number, options_);
    if (const auto it = options_.faults.find(host.number); it != options_.faults.end()) {
      host.fault = it->second;
    }
  }
}

Fleet::~Fleet() {
  Stop();
  if (bind_ != nullptr) {
    ssh_bind_free(bind_);
  }
}

bool Fleet::Start(std::string& error) {
  bind_ = ssh_bind_new();
  if (bind_ == nullptr) {
    error = "ssh_bind_new failed";
    return false;
  }
  int verbosity = SSH_LOG_NOLOG;
  ssh_bind_options_set(bind_, SSH_BIND_OPTIONS_LOG_VERBOSITY, &verbosity);
  // Keep /etc/libssh's server config out of the simulation.
  bool process_config = false;
  ssh_bind_options_set(bind_, SSH_BIND_OPTIONS_PROCESS_CONFIG, &process_config);
  for (Host& host : hosts_) {
    if (host.fault.kind != FaultKind::kRefuse && !OpenListener(host, error)) {
      return false;
    }
  }
  return true;
}

void Fleet::Stop() {
  for (Host& host : hosts_) {
    if (host.acceptor) {
      error_code ignored;
      host.acceptor->close(ignored);
      host.acceptor.reset();
    }
  }
  Drop(0);
}

bool Fleet::OpenListener(Host& host, std::string& error) {
  auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(io_);
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(options_.address), host.port);
  error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(options_.listen_backlog, ec);
  if (ec) {
    error = "cannot listen on " + options_.address + ":" + std::to_string(host.port) + ": " +
            ec.message();
    return false;
  }
  host.acceptor = std::move(acceptor);
  Accept(host);
  return true;
}

// Plain callbacks rather than a coroutine per listener: 10,000 idle coroutine frames would
// cost more than the listeners themselves.
void Fleet::Accept(Host& host) {
  host.acceptor->async_accept([this, &host](const error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !host.acceptor || !host.acceptor->is_open()) {
      return;
    }
    if (ec) {
      // Out of descriptors (EMFILE) or similar: back off briefly instead of spinning.
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, &host, timer](const error_code& wait_ec) {
        if (!wait_ec && host.acceptor && host.acceptor->is_open()) {
          Accept(host);
        }
      });
      return;
    }
    OnAccepted(host, std::move(socket));
    Accept(host);
  });
}

void Fleet::OnAccepted(Host& host, asio::ip::tcp::socket socket) {
  ++stats_.connections_accepted;
  error_code endpoint_ec;
  const asio::ip::tcp::endpoint socket_peer = socket.remote_endpoint(endpoint_ec);
  const std::uint64_t id = next_id_++;
  std::shared_ptr<Connection> connection;
  switch (host.fault.kind) {
    case FaultKind::kNoBanner:
      connection = MakeRawConnection(*this, id, host.number, std::move(socket), false);
      ++stats_.raw_open;
      break;
    case FaultKind::kKexStall:
      connection = MakeRawConnection(*this, id, host.number, std::move(socket), true);
      ++stats_.raw_open;
      break;
    default:
      connection = MakeSshConnection(*this, id, host.number, std::move(socket));
      ++stats_.sessions_open;
      break;
  }
  ++host.sessions;
  connection->SetPeer(endpoint_ec ? std::string("?") : socket_peer.address().to_string());
  ++host.clients.sessions[connection->Peer()];
  connections_.emplace(id, connection);
  connection->Start();
}

void Fleet::Forget(std::uint64_t id, std::uint32_t number, bool ssh) {
  const auto found = connections_.find(id);
  if (found == connections_.end()) {
    return;
  }
  const std::string peer = found->second->Peer();
  connections_.erase(found);
  if (ssh) {
    --stats_.sessions_open;
  } else {
    --stats_.raw_open;
  }
  if (number >= 1 && number <= hosts_.size()) {
    Host& host = hosts_[number - 1];
    --host.sessions;
    if (const auto it = host.clients.sessions.find(peer);
        it != host.clients.sessions.end() && --it->second == 0) {
      host.clients.sessions.erase(it);
    }
  }
}

void Fleet::RecordScript(std::uint32_t number, const std::string& peer, bool fingerprint) {
  if (number < 1 || number > hosts_.size()) {
    return;
  }
  HostClients& clients = hosts_[number - 1].clients;
  if (clients.scripts.size() == HostClients::kScriptHistory) {
    clients.scripts.pop_front();
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  clients.scripts.push_back({now.count(), peer, fingerprint});
  ++clients.scripts_total;
}

ssh_bind Fleet::BindFor(std::uint32_t number, bool changed_key) {
  // One bind serves every host: libssh copies the key into the session at accept time.
  ssh_key key = ssh_key_dup(keys_.HostKey(number, changed_key));
  if (key != nullptr) {
    ssh_bind_options_set(bind_, SSH_BIND_OPTIONS_IMPORT_KEY, key);
  }
  return bind_;
}

std::uint16_t Fleet::PortOf(std::uint32_t number) const { return hosts_.at(number - 1).port; }
SimDialect Fleet::DialectOf(std::uint32_t number) const { return hosts_.at(number - 1).dialect; }
const HostClients& Fleet::ClientsOf(std::uint32_t number) const {
  return hosts_.at(number - 1).clients;
}
Fault Fleet::FaultOf(std::uint32_t number) const { return hosts_.at(number - 1).fault; }
std::uint32_t Fleet::SessionsOf(std::uint32_t number) const {
  return hosts_.at(number - 1).sessions;
}

bool Fleet::SetFault(std::uint32_t number, Fault fault, std::string& error) {
  Host& host = hosts_.at(number - 1);
  const Fault old = host.fault;
  host.fault = fault;
  if (fault.kind == FaultKind::kRefuse && host.acceptor) {
    error_code ignored;
    host.acceptor->close(ignored);
    host.acceptor.reset();
  }
  if (fault.IsConnectionLevel()) {
    Drop(number);
  }
  if (old.kind == FaultKind::kRefuse && fault.kind != FaultKind::kRefuse && !host.acceptor) {
    return OpenListener(host, error);
  }
  return true;
}

std::size_t Fleet::Drop(std::uint32_t number) {
  std::vector<std::shared_ptr<Connection>> victims;
  for (const auto& [id, connection] : connections_) {
    if (number == 0 || connection->HostNumber() == number) {
      victims.push_back(connection);
    }
  }
  for (const auto& connection : victims) {
    connection->Drop();
  }
  stats_.sessions_dropped += victims.size();
  return victims.size();
}

}  // namespace fleetps::fleetsim
