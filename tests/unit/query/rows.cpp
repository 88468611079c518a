#include "rows.hpp"

#include <utility>

namespace fleetps::collector::testing {

probes::ProcessRow Process(std::int64_t pid, std::string user, std::string comm, std::string args,
                           std::optional<std::uint64_t> rss_bytes) {
  probes::ProcessRow p;
  p.pid = pid;
  p.ppid = 1;
  p.user = std::move(user);
  p.state.push_back('S');  // not = "S": GCC 12 reports a false -Wrestrict on that here
  p.comm = std::move(comm);
  p.args = std::move(args);
  p.rss_bytes = rss_bytes;
  p.vsz_bytes = 4ull << 30;
  p.threads = 4;
  p.fds = 12;
  p.start_time_unix = 1'700'000'000;
  return p;
}

QueryRow& RowStore::Add(std::string host, probes::ProcessRow process) {
  processes_.push_back(std::move(process));
  QueryRow row;
  row.labels = &labels_[host];
  row.host = std::move(host);
  row.process = &processes_.back();
  rows_.push_back(std::move(row));
  return rows_.back();
}

}  // namespace fleetps::collector::testing
