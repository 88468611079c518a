#include "fixture.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace fleetps::probes::testing {

std::string ReadFixture(std::string_view relative) {
  const std::string path =
      std::string(FLEETPS_SOURCE_DIR) + "/tests/data/probes/" + std::string(relative);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const ProcessRow* FindPid(const HostSnapshot& snapshot, std::int64_t pid) {
  for (const ProcessRow& row : snapshot.processes) {
    if (row.pid == pid) return &row;
  }
  return nullptr;
}

}  // namespace fleetps::probes::testing
