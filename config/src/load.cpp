// The LoadInventory* entry points and the loader's top level: reading the file, checking it
// holds one YAML document, and dispatching the top-level keys to their section readers.
#include "fleetps/config/load.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "loader.hpp"

namespace fleetps::config {
namespace detail {
namespace {

// Records where each document starts; everything else is ignored.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;

  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::vector<Diagnostic> YamlReader::ReadDocument(
    std::string_view empty_message, const std::function<void(const YAML::Node&)>& load_root) {
  try {
    const YAML::Node root = YAML::Load(std::string(source_));
    // yaml-cpp 0.7's LoadAll loops forever on some inputs (a "," where a document should
    // start), so documents are counted with a bounded parser loop instead.
    DocumentStarts starts;
    std::istringstream stream{std::string(source_)};
    YAML::Parser parser(stream);
    for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
    }
    if (starts.marks.size() == 2 && starts.marks[0].pos == starts.marks[1].pos) {
      const auto at = static_cast<std::size_t>(std::max(starts.marks[0].pos, 0));
      Report(MarkPos(starts.marks[0]),
             "YAML syntax error: unexpected " +
                 (at < source_.size() ? Quote(source_.substr(at, 1)) : std::string("text")) +
                 " where a document should start");
    } else if (starts.marks.size() == 2) {
      Report(MarkPos(starts.marks[1]), "expected one YAML document, found another");
    } else if (root.IsNull()) {
      Report({1, 1}, std::string(empty_message));
    } else {
      load_root(root);
    }
  } catch (const YAML::Exception& error) {
    // Syntax errors (and yaml-cpp's depth guard) end parsing: nothing else can be trusted.
    Report(MarkPos(error.mark), "YAML syntax error: " + error.msg);
  }
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  return std::move(diagnostics_);
}

LoadResult Loader::Run() {
  LoadResult result;
  result.diagnostics = ReadDocument("the file is empty; expected a mapping with \"hosts\"",
                                    [this](const YAML::Node& root) { LoadRoot(root); });
  const bool has_error =
      std::any_of(result.diagnostics.begin(), result.diagnostics.end(),
                  [](const Diagnostic& d) { return d.severity == Severity::kError; });
  if (!has_error) result.inventory = std::move(inventory_);
  return result;
}

void Loader::LoadRoot(const YAML::Node& root) {
  if (!root.IsMap()) {
    Report(PosOf(root),
           "expected a mapping with \"hosts\" at the top level, got " + Describe(root));
    return;
  }
  YAML::Node hosts;
  bool has_hosts = false;
  ForEachKey(root, "at the top level", &kTopKeys,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
               const Pos pos = ValuePos(key_node, value);
               if (key == "defaults") {
                 if (value.IsNull()) return;
                 if (!value.IsMap()) {
                   Report(pos, "expected a mapping, got " + Describe(value));
                   return;
                 }
                 ParseSettings(value, "in defaults", kSettingKeys, defaults_);
               } else if (key == "collector") {
                 ParseCollector(value, pos);
               } else if (key == "cluster") {
                 cluster_pos_ = PosOf(key_node);
                 ParseCluster(value, pos);
               } else if (key == "hosts") {
                 has_hosts = true;
                 hosts = value;
                 if (!value.IsSequence()) {
                   Report(pos, "expected a list of hosts, got " + Describe(value));
                   hosts = YAML::Node();
                 } else if (value.size() == 0) {
                   Report(pos, "expected at least one host, got an empty list");
                 }
               } else if (key == "process_names") {
                 ParseProcessNames(value, pos);
               }
             });
  CheckPeerHttp();
  if (!has_hosts) {
    Report(PosOf(root), "missing required key \"hosts\"");
    return;
  }
  if (hosts.IsSequence()) {
    for (const YAML::Node& entry : hosts) ParseHost(entry);
    ResolveHosts();
  }
}

}  // namespace detail

namespace {

constexpr std::size_t kMaxFileBytes = 64u << 20;

}  // namespace

LoadResult LoadInventoryFromString(std::string_view yaml, std::string file_name,
                                   const LoadOptions& options) {
  return detail::Loader(yaml, std::move(file_name), {}, options).Run();
}

LoadResult LoadInventoryFile(const std::string& path, const LoadOptions& options) {
  detail::ConfigText read = detail::ReadConfigText(path);
  if (read.error) {
    LoadResult result;
    result.diagnostics.push_back(std::move(*read.error));
    return result;
  }
  return detail::Loader(read.text, path, detail::DirectoryOf(path), options).Run();
}

namespace detail {

std::filesystem::path DirectoryOf(const std::string& path) {
  std::error_code error;
  std::filesystem::path base = std::filesystem::absolute(path, error).parent_path();
  if (error) base.clear();
  return base;
}

ConfigText ReadConfigText(const std::string& path) {
  auto fail = [&path](std::string message) {
    return ConfigText{{}, Diagnostic{path, 0, 0, std::move(message), Severity::kError}};
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                             &std::fclose);
  if (!file) return fail(std::string("cannot read file: ") + std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  while (true) {
    const std::size_t got = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, got);
    if (text.size() > kMaxFileBytes) return fail("cannot read file: larger than 64MiB");
    if (got < sizeof buffer) {
      if (std::ferror(file.get()) != 0) {
        return fail(std::string("cannot read file: ") + std::strerror(errno));
      }
      break;
    }
  }
  return ConfigText{std::move(text), std::nullopt};
}

}  // namespace detail

}  // namespace fleetps::config
