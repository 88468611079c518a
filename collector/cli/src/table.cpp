// The renderings of /api/v1/processes, /api/v1/hosts and any answer as JSON; the answers are
// read through answer.hpp, the tables laid out through table_layout.hpp.
#include "fleetps/collector/cli/table.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <span>
#include <tuple>
#include <vector>

#include "answer.hpp"
#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/query/nodeset_fold.hpp"
#include "fleetps/collector/query/text.hpp"
#include "table_layout.hpp"

namespace fleetps::collector {

namespace {

std::vector<std::string> WideProcessCells(const AnswerObject& p) {
  return {p.Cell("host"),
          p.Integer("pid"),
          p.Integer("ppid"),
          DashIfEmpty(p.Cell("user")),
          DashIfEmpty(p.Cell("state")),
          BytesCell(p.Number("rss_bytes")),
          BytesCell(p.Number("vsz_bytes")),
          CoresCell(p.Number("cpu_cores")),
          p.Integer("threads"),
          p.Integer("fds"),
          AgeCell(p.Number("age_seconds")),
          DashIfEmpty(p.Cell("group")),
          DashIfEmpty(p.Cell("comm")),
          p.Cell("args")};
}

// kTable: one line per (user, comm, args), in the order of each group's first row.
std::vector<std::vector<std::string>> FoldedProcessCells(const std::vector<AnswerObject>& rows,
                                                         std::size_t args_width) {
  struct Fold {
    std::string user, comm, args;
    std::vector<std::string> hosts;
    std::size_t procs = 0;
    std::string pid;
    std::optional<double> rss, cpu;
  };
  std::vector<Fold> folds;
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> index;
  for (const AnswerObject& p : rows) {
    auto key = std::make_tuple(p.Text("user"), p.Text("comm"), p.Text("args"));
    auto [it, inserted] = index.emplace(key, folds.size());
    if (inserted) {
      folds.push_back(
          Fold{std::get<0>(key), std::get<1>(key), std::get<2>(key), {}, 0, {}, {}, {}});
    }
    Fold& f = folds[it->second];
    f.hosts.push_back(p.Text("host"));
    f.pid = ++f.procs == 1 ? p.Integer("pid") : "*";
    f.rss = Larger(f.rss, p.Number("rss_bytes"));
    f.cpu = Larger(f.cpu, p.Number("cpu_cores"));
  }
  std::vector<std::vector<std::string>> cells;
  for (Fold& f : folds) {
    cells.push_back({TerminalSafe(FoldHostNames(std::move(f.hosts))), std::to_string(f.procs),
                     f.pid, DashIfEmpty(TerminalSafe(f.user)), BytesCell(f.rss), CoresCell(f.cpu),
                     DashIfEmpty(TerminalSafe(f.comm)),
                     TruncateCell(TerminalSafe(f.args), args_width)});
  }
  return cells;
}

// `env=prod,role=web`.
std::string LabelsText(const AnswerObject& host) {
  std::string labels;
  if (const auto l = host.Object("labels")) {
    for (const auto& member : l->json()) {
      if (!labels.empty()) labels.push_back(',');
      labels += std::string(member.key()) + "=" + l->Text(member.key());
    }
  }
  return labels;
}

// What a host needs that an upgrade would remove: "kex:diffie-hellman-group1-sha1,...".
std::string WeakAlgorithmsText(const AnswerObject& host) {
  std::string weak;
  for (const AnswerObject& w :
       host.Objects("weak_algorithms").value_or(std::vector<AnswerObject>{})) {
    if (!weak.empty()) weak.push_back(',');
    weak += w.Text("list") + ":" + w.Text("algorithm");
  }
  return weak;
}

// kTable: one line per (state, dialect, probe, reason), in order of first appearance.
// With `clustered`, the owning member is part of the key and comes first (COLLECTOR).
std::vector<std::vector<std::string>> FoldedHostCells(const std::vector<AnswerObject>& hosts,
                                                      bool clustered) {
  struct Fold {
    std::vector<std::string> cells;  // [collector,] state, dialect, probe, reason
    std::vector<std::string> hosts;
  };
  std::vector<Fold> folds;
  for (const AnswerObject& h : hosts) {
    std::vector<std::string> key{h.Scalar("state"), h.Scalar("dialect"), h.Scalar("last_probe"),
                                 h.Scalar("last_reason")};
    if (clustered) key.insert(key.begin(), h.Scalar("collector"));
    auto it =
        std::find_if(folds.begin(), folds.end(), [&](const Fold& f) { return f.cells == key; });
    if (it == folds.end()) it = folds.insert(folds.end(), Fold{std::move(key), {}});
    it->hosts.push_back(h.Text("host"));
  }
  std::vector<std::vector<std::string>> cells;
  for (Fold& f : folds) {
    std::vector<std::string> row{std::to_string(f.hosts.size())};
    row.insert(row.end(), f.cells.begin(), f.cells.end());
    row.push_back(TerminalSafe(FoldHostNames(std::move(f.hosts))));
    cells.push_back(std::move(row));
  }
  return cells;
}

// `columns` (the second one being COLLECTOR) with COLLECTOR only for a cluster's answer.
std::vector<Column> ColumnsOf(std::span<const Column> columns, bool clustered) {
  std::vector<Column> out(columns.begin(), columns.end());
  if (!clustered) out.erase(out.begin() + 1);
  return out;
}

}  // namespace

Rendered RenderProcessesTable(std::string_view json, const TableOptions& options) {
  const auto answer = Answer::Read(json, options.selector);
  if (!answer) return ProblemRendering(answer.error());
  const auto rows = answer->List("rows");
  if (!rows) return ProblemRendering(rows.error());

  Rendered r;
  if (options.mode == TableMode::kWide) {
    static constexpr Column kColumns[] = {
        {"HOST"},      {"PID", true}, {"PPID", true}, {"USER"},          {"STATE"},
        {"RSS", true}, {"VSZ", true}, {"CPU", true},  {"THREADS", true}, {"FDS", true},
        {"AGE", true}, {"GROUP"},     {"COMM"},       {"ARGS"},
    };
    std::vector<std::vector<std::string>> cells;
    for (const AnswerObject& p : *rows) cells.push_back(WideProcessCells(p));
    if (!cells.empty()) r.out = LayoutTable(kColumns, cells);
  } else {
    static constexpr Column kColumns[] = {
        {"HOST"},      {"PROCS", true}, {"PID", true}, {"USER"},
        {"RSS", true}, {"CPU", true},   {"COMM"},      {"ARGS"},
    };
    const auto cells = FoldedProcessCells(*rows, options.args_width);
    if (!cells.empty()) r.out = LayoutTable(kColumns, cells);
  }
  r.err = answer->ListingNotes(rows->size(), "processes") + answer->IncompleteNotes();
  r.incomplete = answer->Incomplete();
  return r;
}

Rendered RenderHostsTable(std::string_view json, const TableOptions& options) {
  const auto answer = Answer::Read(json);
  if (!answer) return ProblemRendering(answer.error());
  const auto hosts = answer->List("hosts");
  if (!hosts) return ProblemRendering(hosts.error());

  // A cluster's answer names each host's owner; COLLECTOR follows HOST (COUNT when folded).
  const bool clustered = std::any_of(hosts->begin(), hosts->end(),
                                     [](const AnswerObject& h) { return h.Has("collector"); });
  Rendered r;
  if (options.mode == TableMode::kWide) {
    static constexpr Column kColumns[] = {
        {"HOST"},  {"COLLECTOR"},     {"STATE"},  {"DIALECT"}, {"CHANNEL"}, {"EPOCH", true},
        {"PROBE"}, {"SESSION", true}, {"REASON"}, {"LABELS"},  {"WEAK"},    {"DETAIL"},
    };
    std::vector<std::vector<std::string>> cells;
    for (const AnswerObject& h : *hosts) {
      cells.push_back({h.Cell("host"), h.Scalar("state"), h.Scalar("dialect"), h.Scalar("channel"),
                       h.Scalar("epoch"), h.Scalar("last_probe"),
                       AgeCell(h.Number("session_age_seconds")), h.Scalar("last_reason"),
                       DashIfEmpty(TerminalSafe(LabelsText(h))),
                       DashIfEmpty(TerminalSafe(WeakAlgorithmsText(h))), h.Scalar("last_detail")});
      if (clustered) cells.back().insert(cells.back().begin() + 1, h.Scalar("collector"));
    }
    if (!cells.empty()) r.out = LayoutTable(ColumnsOf(kColumns, clustered), cells);
  } else {
    // The folded host list goes last: it has no bound (web[01-40],db7,...), and in front it
    // pushed every other column off the screen.
    static constexpr Column kColumns[] = {
        {"COUNT", true}, {"COLLECTOR"}, {"STATE"}, {"DIALECT"}, {"PROBE"}, {"REASON"}, {"HOSTS"},
    };
    const auto cells = FoldedHostCells(*hosts, clustered);
    if (!cells.empty()) r.out = LayoutTable(ColumnsOf(kColumns, clustered), cells);
  }
  if (hosts->empty() && !answer->Incomplete()) r.err += "no hosts configured\n";
  r.err += answer->IncompleteNotes();
  r.incomplete = answer->Incomplete();
  return r;
}

Rendered RenderJson(std::string_view json) {
  const auto document = ParseAnswerJson(json);
  if (!document) return ProblemRendering(document.error());
  Rendered r;
  if (auto envelope = CheckAnswerEnvelope(*document); !envelope)
    r = ProblemRendering(envelope.error());
  WriteJson(*document, r.out, 2);
  r.out.push_back('\n');
  if (r.ok) {
    if (auto answer = Answer::Read(json); answer && answer->Incomplete()) {
      r.err += answer->IncompleteNotes();
      r.incomplete = true;
    }
  }
  return r;
}

}  // namespace fleetps::collector
