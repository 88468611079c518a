// The query language and its companions. selector % 4: 0 = ParseSelector (error positions in
// range, canonical text parses back to itself, evaluation on a fixed row), 1 = sort, limit and
// a raw URL query string, 2 = host name folding round-tripped through ExpandNodeset (one name a
// line), 3 = the CLI renderers on the text as an API answer.
#include <set>
#include <string>
#include <vector>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/cli/table.hpp"
#include "fleetps/collector/query/nodeset_fold.hpp"
#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/query/selector.hpp"
#include "fleetps/config/nodeset.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace fleetps::collector;

void CheckError(const SelectorError& e, std::string_view text) {
  if (e.position > text.size() && e.position != kMaxSelectorBytes) __builtin_trap();
  if (e.message.empty() || e.line == 0 || e.column == 0) __builtin_trap();
}

void Selectors(std::string_view text) {
  auto parsed = ParseSelector(text);
  if (!parsed) {
    CheckError(parsed.error(), text);
    return;
  }
  if (parsed->matchers().size() > kMaxMatchers) __builtin_trap();
  const std::string canonical = parsed->ToString();
  if (canonical.size() <= kMaxSelectorBytes) {
    auto again = ParseSelector(canonical);
    if (!again || again->ToString() != canonical) __builtin_trap();
  }
  fleetps::probes::ProcessRow process;
  process.pid = 4312;
  process.user = "oracle";
  process.comm = "ora_pmon_ORCL";
  process.args = "ora_pmon_ORCL aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa -Dname=x";
  process.rss_bytes = 1u << 30;
  const HostLabels labels{{"env", "prod"}};
  QueryRow row;
  row.host = "web01";
  row.labels = &labels;
  row.process = &process;
  row.cpu_cores = 0.5;
  auto holds = parsed->Evaluate(row);
  if (!holds) CheckError(holds.error(), text);
  std::vector<QueryRow> rows{row, row};
  (void)RunQuery(rows, *parsed, {}, 1);
}

void Parameters(std::string_view text) {
  if (auto sort = ParseSort(text); !sort) CheckError(sort.error(), text);
  if (auto limit = ParseLimit(text); limit && (*limit < 1 || *limit > kMaxLimit)) __builtin_trap();
  auto query = ParseProcessQueryString(text);
  if (!query) (void)RenderErrorJson(query.error());
}

void Fold(std::string_view text) {
  std::vector<std::string> names;
  bool plain = true;
  std::size_t start = 0;
  while (start <= text.size() && names.size() < 200) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string name(text.substr(start, end - start));
    if (name.empty() || name.find_first_of("[],") != std::string::npos) plain = false;
    names.push_back(std::move(name));
    start = end + 1;
  }
  const std::vector<std::string> patterns = FoldHostNameList(names);
  if (!plain) return;  // such names are not nodeset syntax; only folding must not crash
  const std::set<std::string> want(names.begin(), names.end());
  std::multiset<std::string> got;
  for (const std::string& pattern : patterns) {
    const auto expanded = fleetps::config::ExpandNodeset(pattern);
    if (!expanded.ok()) __builtin_trap();
    got.insert(expanded.names.begin(), expanded.names.end());
  }
  if (got.size() != want.size() || std::set<std::string>(got.begin(), got.end()) != want) {
    __builtin_trap();
  }
}

void Render(std::string_view text) {
  TableOptions options;
  options.selector = text.substr(0, 64);
  (void)RenderProcessesTable(text, options);
  options.mode = TableMode::kWide;
  (void)RenderProcessesTable(text, options);
  (void)RenderHostsTable(text, options);
  (void)RenderJson(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [selector, text] = fleetps::fuzz::Split(data, size);
  switch (selector % 4) {
    case 0:
      Selectors(text);
      break;
    case 1:
      Parameters(text);
      break;
    case 2:
      Fold(text);
      break;
    default:
      Render(text);
      break;
  }
  return 0;
}
