// Process rows for the query tests.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fleetps/collector/query/query.hpp"

namespace fleetps::collector::testing {

/// A fully populated process row (every optional set) that tests then adjust.
probes::ProcessRow Process(std::int64_t pid, std::string user, std::string comm, std::string args,
                           std::optional<std::uint64_t> rss_bytes);

/// Owns the ProcessRows and labels that QueryRows point at.
class RowStore {
 public:
  QueryRow& Add(std::string host, probes::ProcessRow process);
  std::vector<QueryRow>& rows() { return rows_; }
  HostLabels& labels(const std::string& host) { return labels_[host]; }

 private:
  std::deque<probes::ProcessRow> processes_;
  std::map<std::string, HostLabels> labels_;
  std::vector<QueryRow> rows_;
};

}  // namespace fleetps::collector::testing
