// The renderings of /api/v1/listening, open-files answers and server-sent events; the answers
// are read through answer.hpp, the tables laid out through table_layout.hpp.
#include <cstdio>
#include <map>
#include <vector>

#include "answer.hpp"
#include "fleetps/collector/cli/table.hpp"
#include "fleetps/collector/query/nodeset_fold.hpp"
#include "fleetps/collector/query/text.hpp"
#include "table_layout.hpp"

namespace fleetps::collector {
namespace {

std::string Seconds(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, s < 10 ? "%.2fs" : "%.0fs", s);
  return buffer;
}

// kTable: one line per (proto, address, port, user, comm), in order of first appearance.
std::vector<std::vector<std::string>> FoldedSocketCells(const std::vector<AnswerObject>& rows) {
  struct Fold {
    std::vector<std::string> hosts;
    std::string pid;
    std::size_t count = 0;
  };
  using Key = std::vector<std::string>;  // proto, address, port, user, comm
  std::vector<std::pair<Key, Fold>> folds;
  std::map<Key, std::size_t> index;
  for (const AnswerObject& row : rows) {
    Key key{row.Text("proto"), row.Text("address"), row.Integer("port"), row.Text("user"),
            row.Text("comm")};
    auto [it, added] = index.emplace(key, folds.size());
    if (added) folds.push_back({std::move(key), Fold{}});
    Fold& fold = folds[it->second].second;
    fold.hosts.push_back(row.Text("host"));
    fold.pid = ++fold.count == 1 ? row.Integer("pid") : "*";
  }
  std::vector<std::vector<std::string>> cells;
  for (auto& [key, fold] : folds) {
    cells.push_back({TerminalSafe(FoldHostNames(std::move(fold.hosts))), TerminalSafe(key[0]),
                     TerminalSafe(key[1]), key[2], fold.pid, DashIfEmpty(TerminalSafe(key[3])),
                     DashIfEmpty(TerminalSafe(key[4]))});
  }
  return cells;
}

}  // namespace

Rendered RenderListeningTable(std::string_view json, const TableOptions& options) {
  const auto answer = Answer::Read(json, options.selector);
  if (!answer) return ProblemRendering(answer.error());
  const auto rows = answer->List("rows");
  if (!rows) return ProblemRendering(rows.error());

  Rendered r;
  if (options.mode == TableMode::kWide) {
    static constexpr Column kColumns[] = {
        {"HOST"},      {"PROTO"}, {"ADDRESS"}, {"PORT", true},
        {"PID", true}, {"USER"},  {"GROUP"},   {"COMM"},
    };
    std::vector<std::vector<std::string>> cells;
    for (const AnswerObject& row : *rows) {
      cells.push_back({row.Cell("host"), row.Cell("proto"), row.Cell("address"),
                       row.Integer("port"), row.Integer("pid"), DashIfEmpty(row.Cell("user")),
                       DashIfEmpty(row.Cell("group")), DashIfEmpty(row.Cell("comm"))});
    }
    if (!cells.empty()) r.out = LayoutTable(kColumns, cells);
  } else {
    static constexpr Column kColumns[] = {
        {"HOST"}, {"PROTO"}, {"ADDRESS"}, {"PORT", true}, {"PID", true}, {"USER"}, {"COMM"},
    };
    const auto cells = FoldedSocketCells(*rows);
    if (!cells.empty()) r.out = LayoutTable(kColumns, cells);
  }
  r.err = answer->ListingNotes(rows->size(), "sockets") + answer->IncompleteNotes();
  r.incomplete = answer->Incomplete();
  return r;
}

Rendered RenderOpenFilesTable(std::string_view json) {
  const auto answer = Answer::Read(json);
  if (!answer) return ProblemRendering(answer.error());
  const auto files = answer->List("files");
  if (!files) return ProblemRendering(files.error());

  Rendered r;
  static constexpr Column kColumns[] = {
      {"FD", true}, {"TYPE"}, {"POS", true}, {"FLAGS"}, {"NAME"},
  };
  std::vector<std::vector<std::string>> cells;
  for (const AnswerObject& f : *files) {
    cells.push_back({f.Cell("fd"), DashIfEmpty(f.Cell("type")), f.Integer("pos"),
                     DashIfEmpty(f.Cell("flags")), f.Cell("name")});
  }
  if (cells.empty()) {
    r.err = "no open files listed\n";
  } else {
    r.out = LayoutTable(kColumns, cells);
  }
  if (answer->data().Boolean("truncated").value_or(false)) {
    r.err += "note: the list was cut short (more descriptors than the template lists)\n";
  }
  return r;
}

std::string FormatEventLine(std::string_view event, std::string_view data) {
  const auto document = ParseAnswerJson(data);
  if (!document || !document->is_object()) return {};
  const AnswerObject fields(document->get_object());
  std::string line = TerminalSafe(event);
  // ` VALUE` or ` LABEL=VALUE` when the event carries `key`.
  const auto add = [&](std::string_view key, std::string_view label = {}) {
    if (!fields.Has(key)) return;
    line += " ";
    if (!label.empty()) line.append(label).append("=");
    if (const auto number = fields.Number(key)) {
      line += IntegerText(number);
    } else if (const auto yes = fields.Boolean(key)) {
      line += *yes ? "yes" : "no";
    } else {
      line += fields.Cell(key);
    }
  };
  if (event == "host_state") {
    add("host");
    add("state");
    add("epoch", "epoch");
    add("reason", "reason");
    if (const auto retry = fields.Number("retry_in_seconds"))
      line += " retry_in=" + Seconds(*retry);
  } else if (event == "probe") {
    add("host");
    add("probe");
    add("status");
    add("reason", "reason");
    add("seq", "seq");
    add("processes", "processes");
    add("listening", "listening");
    if (const auto d = fields.Number("duration_seconds")) {
      line += ' ';  // appended, not `" " + ...`: GCC 12 -O3 draws a false -Wrestrict
      line += Seconds(*d);
    }
  } else if (event == "config_reload") {
    line += fields.Boolean("ok").value_or(false) ? " ok" : " failed";
    add("origin");
    add("summary");
  } else if (event == "dropped") {
    line =
        "dropped " + fields.Integer("dropped") + " events (total " + fields.Integer("total") + ")";
  } else {
    line += ' ';
    line += TerminalSafe(data);
  }
  return line;
}

}  // namespace fleetps::collector
