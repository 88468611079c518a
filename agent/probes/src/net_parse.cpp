#include <compare>

#include "columns.hpp"
#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

// "tcp4" → "tcp", "tcp46"/"tcp6" → "tcp6", "TCP" → "tcp"; empty when not tcp/udp.
std::string NormalizeProto(std::string_view raw, bool ipv6_address) {
  std::string p;
  for (char c : raw) p.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  std::string base;
  if (detail::StartsWith(p, "tcp")) base = "tcp";
  if (detail::StartsWith(p, "udp")) base = "udp";
  if (base.empty()) return {};
  const std::string_view suffix = std::string_view(p).substr(3);
  if (suffix.find('6') != std::string_view::npos || ipv6_address) base.push_back('6');
  return base;
}

// Splits "addr<sep>port"; strips [] around IPv6 literals. False when the port is not numeric.
bool SplitEndpoint(std::string_view endpoint, char sep, std::string& address, std::uint32_t& port) {
  const std::size_t at = endpoint.rfind(sep);
  if (at == std::string_view::npos) return false;
  auto p = detail::ParseInt<std::uint32_t>(endpoint.substr(at + 1));
  if (!p || *p > 65535) return false;
  std::string_view addr = endpoint.substr(0, at);
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') {
    addr = addr.substr(1, addr.size() - 2);
  }
  address.assign(addr);
  port = *p;
  return true;
}

bool LooksIpv6(std::string_view address) { return address.find(':') != std::string_view::npos; }

}  // namespace

namespace {
void AddUp(std::int64_t& kept, std::int64_t&& later) { kept += later; }
}  // namespace

PidMap<std::int64_t> ParseLsofFdCounts(std::string_view text, ParseStats& stats) {
  std::vector<PidMap<std::int64_t>::value_type> counts;
  bool counting = false;    // the last p line was valid: f lines count for counts.back()
  bool unreadable = false;  // the current block has "NOFD": its descriptors could not be read
  // A block that says its descriptors could not be read and counts none is unknown, not 0
  // (a non-root lsof on another user's process).
  auto close_block = [&] {
    if (counting && unreadable && counts.back().second == 0) counts.pop_back();
    unreadable = false;
  };
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    if (line.empty()) continue;
    ++stats.lines_seen;
    const char tag = line.front();
    const std::string_view value = line.substr(1);
    if (tag == 'p') {
      close_block();
      auto pid = detail::ParseI64(value);
      counting = pid.has_value();
      if (!pid) {
        stats.Skip(SkipReason::kBadNumber);
        continue;
      }
      counts.emplace_back(*pid, 0);
    } else if (tag == 'f') {
      if (counting && !value.empty() && detail::IsDigit(value.front())) ++counts.back().second;
      if (value == "NOFD") unreadable = true;
    }
  }
  close_block();
  return {std::move(counts), AddUp};
}

PidMap<std::int64_t> ParseProcstatFdCounts(std::string_view text, ParseStats& stats) {
  std::vector<PidMap<std::int64_t>::value_type> counts;
  detail::LineReader reader(text);
  std::string_view line;
  // Where the header puts FD (right-aligned under it): COMM may hold blanks ("crypto
  // returns"), so the FD is the word that ends there, not the third word.
  std::optional<std::uint32_t> fd_end;
  std::vector<detail::TokenPos> tokens;
  while (reader.Next(line)) {
    std::string_view rest = line;
    const std::string_view first = detail::NextToken(rest);
    if (first.empty()) continue;
    if (first == "PID") {
      if (const auto at = line.find(" FD "); at != std::string_view::npos) {
        fd_end = static_cast<std::uint32_t>(at + 3);
      }
      continue;
    }
    ++stats.lines_seen;
    auto pid = detail::ParseI64(first);
    detail::NextToken(rest);  // COMM
    std::string_view fd = detail::NextToken(rest);
    if (fd_end) {
      detail::Tokenize(line, tokens, 8);
      for (std::size_t i = 2; i < tokens.size(); ++i) {
        if (tokens[i].end == *fd_end) {
          fd = line.substr(tokens[i].begin, tokens[i].end - tokens[i].begin);
          break;
        }
      }
    }
    if (!pid || fd.empty()) {
      stats.Skip(pid ? SkipReason::kShortLine : SkipReason::kBadNumber);
      continue;
    }
    // One line per descriptor: consecutive lines of one pid share an entry.
    if (counts.empty() || counts.back().first != *pid) counts.emplace_back(*pid, 0);
    if (detail::ParseI64(fd)) ++counts.back().second;
  }
  return {std::move(counts), AddUp};
}

std::vector<ListenSocket> ParseLsofListen(std::string_view text, ParseStats& stats) {
  std::vector<ListenSocket> out;
  std::optional<std::int64_t> pid;
  std::string command;
  std::string type;
  std::string proto;
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    if (line.empty()) continue;
    ++stats.lines_seen;
    const std::string_view value = line.substr(1);
    switch (line.front()) {
      case 'p':
        pid = detail::ParseI64(value);
        command.clear();
        if (!pid) stats.Skip(SkipReason::kBadNumber);
        break;
      case 'c':
        command.assign(value);
        break;
      case 'f':
        type.clear();
        proto.clear();
        break;
      case 't':
        type.assign(value);
        break;
      case 'P':
        proto.assign(value);
        break;
      case 'n': {
        if (value.find("->") != std::string_view::npos) break;  // connected UDP
        ListenSocket socket;
        if (!SplitEndpoint(value, ':', socket.address, socket.port)) {
          stats.Skip(SkipReason::kUnknownLine);
          break;
        }
        socket.proto = NormalizeProto(proto, type == "IPv6" || LooksIpv6(socket.address));
        if (socket.proto.empty()) {
          stats.Skip(SkipReason::kUnknownLine);
          break;
        }
        socket.pid = pid;
        socket.process = command;
        out.push_back(std::move(socket));
        break;
      }
      default:
        break;
    }
  }
  return out;
}

std::vector<ListenSocket> ParseSs(std::string_view text, ParseStats& stats) {
  std::vector<ListenSocket> out;
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    std::string_view rest = line;
    std::string_view first = detail::NextToken(rest);
    if (first.empty() || first == "Netid" || first == "State") continue;
    ++stats.lines_seen;
    std::string_view netid;
    std::string_view state = first;
    if (first != "LISTEN" && first != "UNCONN") {
      netid = first;
      state = detail::NextToken(rest);
    }
    detail::NextToken(rest);  // Recv-Q
    detail::NextToken(rest);  // Send-Q
    const std::string_view local = detail::NextToken(rest);
    const std::string_view peer = detail::NextToken(rest);
    ListenSocket socket;
    if (peer.empty() || !SplitEndpoint(local, ':', socket.address, socket.port)) {
      stats.Skip(peer.empty() ? SkipReason::kShortLine : SkipReason::kUnknownLine);
      continue;
    }
    if (netid.empty()) netid = state == "LISTEN" ? "tcp" : "udp";
    if (state != "LISTEN" && state != "UNCONN") continue;
    // "127.0.0.53%lo" names the interface; keep it, it is part of what ss printed.
    socket.proto = NormalizeProto(netid, LooksIpv6(socket.address));
    if (socket.proto.empty()) continue;
    const std::string_view users = detail::Trim(rest);
    if (const std::size_t q1 = users.find("((\""); q1 != std::string_view::npos) {
      const std::size_t q2 = users.find('"', q1 + 3);
      if (q2 != std::string_view::npos) socket.process.assign(users.substr(q1 + 3, q2 - q1 - 3));
    }
    if (const std::size_t at = users.find("pid="); at != std::string_view::npos) {
      std::size_t end = at + 4;
      while (end < users.size() && detail::IsDigit(users[end])) ++end;
      socket.pid = detail::ParseI64(users.substr(at + 4, end - at - 4));
    }
    out.push_back(std::move(socket));
  }
  return out;
}

std::vector<ListenSocket> ParseNetstat(Dialect dialect, std::string_view text, ParseStats& stats) {
  std::vector<ListenSocket> out;
  detail::LineReader reader(text);
  std::string_view line;
  if (dialect == Dialect::kSolaris) {
    // Blocks headed "TCP: IPv4", "UDP: IPv6"...; rows start with the local address.
    std::string block;
    bool v6 = false;
    while (reader.Next(line)) {
      std::string_view rest = line;
      const std::string_view first = detail::NextToken(rest);
      if (first.empty()) continue;
      if (first.back() == ':' && (first == "TCP:" || first == "UDP:" || first == "SCTP:")) {
        block = first == "TCP:" ? "tcp" : first == "UDP:" ? "udp" : "";
        v6 = detail::Trim(rest) == "IPv6";
        continue;
      }
      if (first == "Active") {
        block.clear();
        continue;
      }
      if (block.empty() || first == "Local" || first.front() == '-') continue;
      ++stats.lines_seen;
      std::string_view last;
      bool listen = false;
      for (std::string_view t = detail::NextToken(rest); !t.empty(); t = detail::NextToken(rest)) {
        if (t == "LISTEN") listen = true;
        last = t;
      }
      const bool wanted = block == "tcp" ? listen : last == "Idle";
      if (!wanted) continue;
      ListenSocket socket;
      if (!SplitEndpoint(first, '.', socket.address, socket.port)) {
        stats.Skip(SkipReason::kUnknownLine);
        continue;
      }
      socket.proto = block + (v6 ? "6" : "");
      out.push_back(std::move(socket));
    }
    return out;
  }

  const bool linux_format = dialect == Dialect::kLinuxProcps || dialect == Dialect::kBusybox;
  while (reader.Next(line)) {
    std::string_view rest = line;
    const std::string_view proto = detail::NextToken(rest);
    if (!detail::StartsWith(proto, "tcp") && !detail::StartsWith(proto, "udp")) continue;
    ++stats.lines_seen;
    detail::NextToken(rest);  // Recv-Q
    detail::NextToken(rest);  // Send-Q
    const std::string_view local = detail::NextToken(rest);
    const std::string_view foreign = detail::NextToken(rest);
    if (foreign.empty()) {
      stats.Skip(SkipReason::kShortLine);
      continue;
    }
    const bool tcp = detail::StartsWith(proto, "tcp");
    std::string_view after = detail::TrimLeft(rest);
    if (tcp) {
      const std::string_view state = detail::NextToken(after);
      if (state != "LISTEN") continue;
    } else if (linux_format ? foreign.find('*') == std::string_view::npos : foreign != "*.*") {
      continue;  // connected UDP
    }
    ListenSocket socket;
    if (!SplitEndpoint(local, linux_format ? ':' : '.', socket.address, socket.port)) {
      if (local.ends_with(".*") || local.ends_with(":*")) continue;  // unbound
      stats.Skip(SkipReason::kUnknownLine);
      continue;
    }
    socket.proto = NormalizeProto(proto, linux_format && LooksIpv6(socket.address));
    if (linux_format) {
      // "812/sshd" (or "-" without privilege) closes the line.
      const std::string_view program = detail::Trim(after);
      const std::size_t slash = program.find('/');
      if (slash != std::string_view::npos) {
        socket.pid = detail::ParseI64(program.substr(0, slash));
        if (socket.pid) socket.process.assign(program.substr(slash + 1));
      }
    }
    out.push_back(std::move(socket));
  }
  return out;
}

std::vector<ListenSocket> ParseSockstat(std::string_view text, ParseStats& stats) {
  std::vector<ListenSocket> out;
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    std::string_view rest = line;
    const std::string_view user = detail::NextToken(rest);
    if (user.empty() || user == "USER") continue;
    ++stats.lines_seen;
    std::string_view command = detail::NextToken(rest);
    std::string_view pid = detail::NextToken(rest);
    std::string_view fd = detail::NextToken(rest);
    std::string_view proto = detail::NextToken(rest);
    std::string_view local = detail::NextToken(rest);
    const std::string_view foreign = detail::NextToken(rest);
    if (foreign.empty() && !local.empty()) {
      // sockstat pads each column to a fixed position and adds no blank when a long user or
      // command passes it, so COMMAND and PID can run together ("python2.781106"). One token
      // short: the trailing digits of the command token, at most a FreeBSD pid's five, are
      // the pid.
      std::size_t digits = 0;
      while (digits < command.size() && digits < 5 &&
             detail::IsDigit(command[command.size() - 1 - digits])) {
        ++digits;
      }
      if (digits > 0 && digits < command.size()) {
        local = proto;
        proto = fd;
        fd = pid;
        pid = command.substr(command.size() - digits);
        command.remove_suffix(digits);
        ++stats.values_split;
      }
    }
    ListenSocket socket;
    if (local.empty() || !SplitEndpoint(local, ':', socket.address, socket.port)) {
      stats.Skip(local.empty() ? SkipReason::kShortLine : SkipReason::kUnknownLine);
      continue;
    }
    socket.proto = NormalizeProto(proto, false);
    if (socket.proto.empty()) continue;
    socket.pid = detail::ParseI64(pid);
    if (command != "?") socket.process.assign(command);
    out.push_back(std::move(socket));
  }
  return out;
}

namespace {

// What MergeListenSockets pairs on: each tool's own spelling of "any address" becomes "*".
struct SocketKey {
  std::string_view proto;
  std::string_view address;
  std::uint32_t port = 0;

  explicit SocketKey(const ListenSocket& s) : proto(s.proto), address(s.address), port(s.port) {
    if (address == "0.0.0.0" || address == "::" || address == "[::]" || address.empty()) {
      address = "*";
    }
  }
  auto operator<=>(const SocketKey&) const = default;
};

// Indices into `keys` in key order; equal keys keep list order.
std::vector<std::size_t> OrderByKey(const std::vector<SocketKey>& keys) {
  std::vector<std::size_t> order(keys.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
  return order;
}

std::vector<SocketKey> KeysOf(const std::vector<ListenSocket>& sockets) {
  std::vector<SocketKey> keys;
  keys.reserve(sockets.size());
  for (const ListenSocket& s : sockets) keys.emplace_back(s);
  return keys;
}

}  // namespace

std::vector<ListenSocket> MergeListenSockets(std::vector<ListenSocket> all,
                                             std::vector<ListenSocket> owned) {
  const std::vector<SocketKey> all_keys = KeysOf(all);
  const std::vector<SocketKey> owned_keys = KeysOf(owned);
  const std::vector<std::size_t> a = OrderByKey(all_keys);
  const std::vector<std::size_t> o = OrderByKey(owned_keys);
  std::vector<bool> paired(owned.size(), false);
  // One walk over both sorted orders: within a key, the i-th socket of `all` takes the i-th of
  // `owned`.
  for (std::size_t i = 0, j = 0; i < a.size() && j < o.size();) {
    const SocketKey& x = all_keys[a[i]];
    const SocketKey& y = owned_keys[o[j]];
    if (x < y) {
      ++i;
    } else if (y < x) {
      ++j;
    } else {
      ListenSocket& socket = all[a[i++]];
      ListenSocket& owner = owned[o[j]];
      socket.pid = owner.pid;
      socket.process = std::move(owner.process);
      paired[o[j++]] = true;
    }
  }
  // all_keys views strings of `all`: no longer used once `all` grows.
  for (std::size_t j = 0; j < owned.size(); ++j) {
    if (!paired[j]) all.push_back(std::move(owned[j]));
  }
  return all;
}

}  // namespace fleetps::probes
