#include <algorithm>
#include <cstdio>
#include <map>

#include <boost/json.hpp>

#include "fleetps/collector/cli/nodeset_fold.hpp"
#include "fleetps/collector/cli/table.hpp"
#include "fleetps/collector/query/text.hpp"

namespace fleetps::collector {
namespace {

std::string Cell(std::string_view text) { return TerminalSafe(text); }

std::size_t Width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

// Left-aligned columns except those flagged numeric; the last column is not padded.
std::string Layout(const std::vector<std::string>& header, const std::vector<bool>& right,
                   const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) widths[c] = Width(header[c]);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], Width(row[c]));
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::size_t pad = widths[c] - std::min(widths[c], Width(cells[c]));
      if (c) text += "  ";
      if (right[c]) text.append(pad, ' ');
      text += cells[c];
      if (!right[c] && c + 1 < cells.size()) text.append(pad, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string String(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<double> Number(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

std::string Integer(const boost::json::object& o, std::string_view key) {
  const auto v = Number(o, key);
  return v ? std::to_string(static_cast<long long>(*v)) : "-";
}

std::string Or(std::string text) { return text.empty() ? "-" : text; }

// The `data` object of an ok answer; on an error answer or garbage, fills `r` and returns null.
const boost::json::object* Data(std::string_view json, boost::json::value& doc, Rendered& r) {
  boost::system::error_code ec;
  doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object()) {
    r.ok = false;
    r.err = "fleetps: the server's answer is not JSON\n";
    return nullptr;
  }
  const boost::json::object& o = doc.get_object();
  if (String(o, "status") == "error") {
    r.ok = false;
    const boost::json::value* error = o.if_contains("error");
    const std::string message =
        error != nullptr && error->is_object() ? String(error->get_object(), "message") : "";
    r.err = "error: " + Cell(message.empty() ? "unknown error" : message) + "\n";
    return nullptr;
  }
  const boost::json::value* data = o.if_contains("data");
  if (String(o, "status") != "ok" || data == nullptr || !data->is_object()) {
    r.ok = false;
    r.err = "fleetps: unexpected answer from the server\n";
    return nullptr;
  }
  return &data->get_object();
}

std::string HostNotes(const boost::json::object& data) {
  const boost::json::value* hosts = data.if_contains("hosts");
  if (hosts == nullptr || !hosts->is_array()) return {};
  std::vector<std::pair<std::pair<std::string, std::string>, std::vector<std::string>>> notes;
  for (const boost::json::value& v : hosts->get_array()) {
    const boost::json::object* h = v.if_object();
    if (h == nullptr) continue;
    const std::string status = String(*h, "status");
    if (status == "ok" || status.empty()) continue;
    const std::pair key{status, String(*h, "reason")};
    auto it = std::find_if(notes.begin(), notes.end(), [&](const auto& n) { return n.first == key; });
    if (it == notes.end()) it = notes.insert(notes.end(), {key, {}});
    it->second.push_back(String(*h, "host"));
  }
  std::string out;
  for (const auto& [key, hosts_of] : notes) {
    out += "warning: " + Cell(FoldHostNames(hosts_of)) + ": " + Cell(key.first);
    if (!key.second.empty()) out += " (" + Cell(key.second) + ")";
    out += "\n";
  }
  return out;
}

std::string Seconds(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, s < 10 ? "%.2fs" : "%.0fs", s);
  return buffer;
}

}  // namespace

Rendered RenderListeningTable(std::string_view json, const TableOptions& options) {
  Rendered r;
  boost::json::value doc;
  const boost::json::object* data = Data(json, doc, r);
  if (data == nullptr) return r;
  const boost::json::value* rows = data->if_contains("rows");
  if (rows == nullptr || !rows->is_array()) {
    r.ok = false;
    r.err = "fleetps: unexpected answer from the server\n";
    return r;
  }
  std::vector<std::vector<std::string>> lines;
  if (options.mode == TableMode::kWide) {
    for (const boost::json::value& v : rows->get_array()) {
      const boost::json::object* row = v.if_object();
      if (row == nullptr) continue;
      lines.push_back({Cell(String(*row, "host")), Cell(String(*row, "proto")),
                       Cell(String(*row, "address")), Integer(*row, "port"), Integer(*row, "pid"),
                       Or(Cell(String(*row, "user"))), Or(Cell(String(*row, "group"))),
                       Or(Cell(String(*row, "comm")))});
    }
    if (!lines.empty()) {
      r.out = Layout({"HOST", "PROTO", "ADDRESS", "PORT", "PID", "USER", "GROUP", "COMM"},
                     {false, false, false, true, true, false, false, false}, lines);
    }
  } else {
    struct Fold {
      std::vector<std::string> hosts;
      std::string pid;
      std::size_t count = 0;
    };
    using Key = std::vector<std::string>;  // proto, address, port, user, comm
    std::vector<std::pair<Key, Fold>> folds;
    std::map<Key, std::size_t> index;
    for (const boost::json::value& v : rows->get_array()) {
      const boost::json::object* row = v.if_object();
      if (row == nullptr) continue;
      Key key{String(*row, "proto"), String(*row, "address"), Integer(*row, "port"),
              String(*row, "user"), String(*row, "comm")};
      auto [it, added] = index.emplace(key, folds.size());
      if (added) folds.push_back({std::move(key), Fold{}});
      Fold& fold = folds[it->second].second;
      fold.hosts.push_back(String(*row, "host"));
      fold.pid = ++fold.count == 1 ? Integer(*row, "pid") : "*";
    }
    for (const auto& [key, fold] : folds) {
      lines.push_back({Cell(FoldHostNames(fold.hosts)), Cell(key[0]), Cell(key[1]), key[2],
                       fold.pid, Or(Cell(key[3])), Or(Cell(key[4]))});
    }
    if (!lines.empty()) {
      r.out = Layout({"HOST", "PROTO", "ADDRESS", "PORT", "PID", "USER", "COMM"},
                     {false, false, false, true, true, false, false}, lines);
    }
  }
  const auto total = Number(*data, "total");
  const std::size_t shown = rows->get_array().size();
  if (shown == 0) {
    r.err += "no matching sockets\n";
  } else if (total && *total > static_cast<double>(shown)) {
    r.err += "showing " + std::to_string(shown) + " of " +
             std::to_string(static_cast<long long>(*total)) +
             " matching sockets (raise --limit to see more)\n";
  }
  r.err += HostNotes(*data);
  return r;
}

Rendered RenderOpenFilesTable(std::string_view json) {
  Rendered r;
  boost::json::value doc;
  const boost::json::object* data = Data(json, doc, r);
  if (data == nullptr) return r;
  const boost::json::value* files = data->if_contains("files");
  if (files == nullptr || !files->is_array()) {
    r.ok = false;
    r.err = "fleetps: unexpected answer from the server\n";
    return r;
  }
  std::vector<std::vector<std::string>> lines;
  for (const boost::json::value& v : files->get_array()) {
    const boost::json::object* f = v.if_object();
    if (f == nullptr) continue;
    lines.push_back({Cell(String(*f, "fd")), Or(Cell(String(*f, "type"))), Integer(*f, "pos"),
                     Or(Cell(String(*f, "flags"))), Cell(String(*f, "name"))});
  }
  if (lines.empty()) {
    r.err = "no open files listed\n";
  } else {
    r.out = Layout({"FD", "TYPE", "POS", "FLAGS", "NAME"}, {true, false, true, false, false}, lines);
  }
  const boost::json::value* truncated = data->if_contains("truncated");
  if (truncated != nullptr && truncated->is_bool() && truncated->get_bool()) {
    r.err += "note: the list was cut short (more descriptors than the template lists)\n";
  }
  return r;
}

std::string FormatEventLine(std::string_view event, std::string_view data) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(data, ec);
  if (ec || !doc.is_object()) return {};
  const boost::json::object& o = doc.get_object();
  std::string line = Cell(event);
  auto add = [&](std::string_view key, std::string_view label = {}) {
    const boost::json::value* v = o.if_contains(key);
    if (v == nullptr) return;
    std::string text;
    if (v->is_string()) {
      text = Cell(v->get_string());
    } else if (v->is_bool()) {
      text = v->get_bool() ? "yes" : "no";
    } else if (v->is_number()) {
      text = std::to_string(static_cast<long long>(v->to_number<double>()));
    }
    line += " ";
    if (!label.empty()) line.append(label).append("=");
    line += text;
  };
  if (event == "host_state") {
    add("host");
    add("state");
    add("epoch", "epoch");
    add("reason", "reason");
    if (const auto retry = Number(o, "retry_in_seconds")) line += " retry_in=" + Seconds(*retry);
  } else if (event == "probe") {
    add("host");
    add("probe");
    add("status");
    add("reason", "reason");
    add("seq", "seq");
    add("processes", "processes");
    add("listening", "listening");
    if (const auto d = Number(o, "duration_seconds")) line += " " + Seconds(*d);
  } else if (event == "config_reload") {
    const boost::json::value* ok = o.if_contains("ok");
    line += ok != nullptr && ok->is_bool() && ok->get_bool() ? " ok" : " failed";
    add("origin");
    add("summary");
  } else if (event == "dropped") {
    line = "dropped " + Integer(o, "dropped") + " events (total " + Integer(o, "total") + ")";
  } else {
    line += " " + Cell(data);
  }
  return line;
}

}  // namespace fleetps::collector
