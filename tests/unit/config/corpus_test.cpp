// Data-driven checks over tests/data/config: every bad file states its diagnostics in leading
// `# expect: LINE:COL: MESSAGE` comments and must produce exactly those, in order; every good
// file must load without any diagnostic.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fleetps/config/load.hpp"
#include "fleetps/config/web_config.hpp"

namespace fleetps::config {
namespace {

namespace fs = std::filesystem;

const fs::path kDataDir = fs::path(FLEETPS_SOURCE_DIR) / "tests" / "data" / "config";

std::vector<std::string> YamlFiles(const std::string& subdir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kDataDir / subdir)) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Expectations(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> expected;
  constexpr std::string_view kPrefix = "# expect: ";
  for (std::string line; std::getline(in, line) && line.starts_with('#');) {
    if (line.starts_with(kPrefix)) expected.push_back(line.substr(kPrefix.size()));
  }
  return expected;
}

// "line:col: message" as in the expectations: ToString() without the file name.
std::vector<std::string> Actual(const std::vector<Diagnostic>& diagnostics,
                                const std::string& file) {
  std::vector<std::string> actual;
  for (const Diagnostic& d : diagnostics) {
    const std::string text = d.ToString();
    EXPECT_EQ(d.file, file);
    actual.push_back(text.starts_with(file + ":") ? text.substr(file.size() + 1) : text);
  }
  return actual;
}

// A bad file's diagnostics are exactly its `# expect:` lines, and nothing was loaded.
void ExpectBadFile(const std::string& path, const std::vector<Diagnostic>& diagnostics,
                   bool loaded) {
  const std::vector<std::string> expected = Expectations(path);
  ASSERT_FALSE(expected.empty()) << path << " has no '# expect:' line";
  EXPECT_THAT(Actual(diagnostics, path), ::testing::ElementsAreArray(expected));
  EXPECT_FALSE(loaded);
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
  return name;
}

class ConfigBadCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigBadCorpusTest, ReportsExactlyTheExpectedDiagnostics) {
  const std::string path = (kDataDir / "bad" / (GetParam() + ".yaml")).string();
  const LoadResult result = LoadInventoryFile(path);
  ExpectBadFile(path, result.diagnostics, result.ok());
  EXPECT_FALSE(result.inventory.has_value());
}

INSTANTIATE_TEST_SUITE_P(ConfigBad, ConfigBadCorpusTest, ::testing::ValuesIn(YamlFiles("bad")),
                         TestName);

class ConfigGoodCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigGoodCorpusTest, LoadsWithoutDiagnostics) {
  const std::string path = (kDataDir / "good" / (GetParam() + ".yaml")).string();
  const LoadResult result = LoadInventoryFile(path);
  EXPECT_THAT(Actual(result.diagnostics, path), ::testing::IsEmpty());
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result.inventory->hosts.empty());
}

INSTANTIATE_TEST_SUITE_P(ConfigGood, ConfigGoodCorpusTest, ::testing::ValuesIn(YamlFiles("good")),
                         TestName);

// web-bad/ and web-good/ hold web configs (collector.web_config_file), in the same form.
class ConfigWebBadCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigWebBadCorpusTest, ReportsExactlyTheExpectedDiagnostics) {
  const std::string path = (kDataDir / "web-bad" / (GetParam() + ".yaml")).string();
  const WebConfigResult result = LoadWebConfigFile(path);
  ExpectBadFile(path, result.diagnostics, result.ok());
}

INSTANTIATE_TEST_SUITE_P(ConfigWebBad, ConfigWebBadCorpusTest,
                         ::testing::ValuesIn(YamlFiles("web-bad")), TestName);

class ConfigWebGoodCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigWebGoodCorpusTest, LoadsWithoutDiagnostics) {
  const std::string path = (kDataDir / "web-good" / (GetParam() + ".yaml")).string();
  const WebConfigResult result = LoadWebConfigFile(path);
  EXPECT_THAT(Actual(result.diagnostics, path), ::testing::IsEmpty());
  EXPECT_TRUE(result.ok());
}

INSTANTIATE_TEST_SUITE_P(ConfigWebGood, ConfigWebGoodCorpusTest,
                         ::testing::ValuesIn(YamlFiles("web-good")), TestName);

TEST(ConfigCorpusTest, CorpusIsLargeEnough) {
  EXPECT_GE(YamlFiles("web-bad").size(), 10u);
  EXPECT_GE(YamlFiles("bad").size(), 30u);
  EXPECT_GE(YamlFiles("good").size(), 3u);
}

}  // namespace
}  // namespace fleetps::config
