#include "fleetps/collector/cli/table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <span>
#include <tuple>
#include <vector>

#include <boost/json.hpp>

#include "fleetps/collector/cli/nodeset_fold.hpp"
#include "fleetps/collector/query/text.hpp"
#include "fleetps/collector/api/json.hpp"

namespace fleetps::collector {

namespace {

std::string Cell(std::string_view text) { return TerminalSafe(text); }

// Display width in code points (cells are valid UTF-8).
std::size_t Width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

std::string Truncate(std::string text, std::size_t width) {
  if (width < 4 || Width(text) <= width) return text;
  std::size_t kept = 0;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) {
      if (kept == width - 3) break;
      ++kept;
    }
  }
  text.resize(i);
  return text + "...";
}

struct Column {
  std::string_view title;
  bool right = false;
};

std::string Layout(std::span<const Column> columns, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) widths[c] = Width(columns[c].title);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < columns.size(); ++c) widths[c] = std::max(widths[c], Width(row[c]));
  }
  std::string out;
  const auto line = [&](const auto& cell_at) {
    std::string text;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string_view cell = cell_at(c);
      if (c != 0) text += "  ";
      const std::string pad(widths[c] - Width(cell), ' ');
      text += columns[c].right ? pad + std::string(cell) : std::string(cell) + pad;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out.push_back('\n');
  };
  line([&](std::size_t c) { return columns[c].title; });
  for (const auto& row : rows) line([&](std::size_t c) { return std::string_view(row[c]); });
  return out;
}

std::optional<double> Number(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

std::string String(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

std::string Integer(std::optional<double> v) {
  if (!v) return "-";
  return std::to_string(static_cast<long long>(*v));
}

// Any scalar as text, "-" when absent: tolerant of the server's choice of type.
std::string Scalar(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return "-";
  if (v->is_string()) return v->get_string().empty() ? "-" : Cell(v->get_string());
  if (v->is_bool()) return v->get_bool() ? "true" : "false";
  if (v->is_int64() || v->is_uint64()) return Integer(Number(o, key));
  if (v->is_double()) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", v->get_double());
    return buffer;
  }
  return "-";
}

std::string Or(std::string text) { return text.empty() ? "-" : text; }

std::string Caret(std::string_view selector, std::size_t position) {
  if (selector.empty() || position > selector.size() ||
      selector.find_first_of("\n\r") != std::string_view::npos) {
    return {};
  }
  const std::string shown = Cell(selector);
  const std::size_t column = Width(Cell(selector.substr(0, position)));
  return "  " + shown + "\n  " + std::string(column, ' ') + "^\n";
}

// Parses a document and checks its envelope; on failure fills `r` and returns null.
const boost::json::object* Data(const boost::json::value& doc, const TableOptions* options,
                                Rendered& r) {
  const boost::json::object* top = doc.if_object();
  const boost::json::value* status = top != nullptr ? top->if_contains("status") : nullptr;
  if (status == nullptr || !status->is_string()) {
    r.ok = false;
    r.err = "invalid response from server: no status\n";
    return nullptr;
  }
  if (status->get_string() == "error") {
    r.ok = false;
    const boost::json::value* error = top->if_contains("error");
    const boost::json::object* e = error != nullptr ? error->if_object() : nullptr;
    const std::string message = e != nullptr ? String(*e, "message") : std::string();
    r.err = "error: " + Cell(message.empty() ? "(no message)" : message) + "\n";
    if (options != nullptr && e != nullptr && String(*e, "parameter") == "q") {
      if (const auto position = Number(*e, "position"); position && *position >= 0) {
        r.err += Caret(options->selector, static_cast<std::size_t>(*position));
      }
    }
    return nullptr;
  }
  const boost::json::value* data = top->if_contains("data");
  if (status->get_string() != "ok" || data == nullptr || !data->is_object()) {
    r.ok = false;
    r.err = "invalid response from server: no data\n";
    return nullptr;
  }
  return &data->get_object();
}

const boost::json::array* Array(const boost::json::object& o, std::string_view key, Rendered& r) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) {
    r.ok = false;
    r.err = "invalid response from server: no " + std::string(key) + "\n";
    return nullptr;
  }
  return &v->get_array();
}

std::optional<boost::json::value> Parse(std::string_view json, Rendered& r) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json, ec);
  if (ec) {
    r.ok = false;
    r.err = "invalid response from server: " + ec.message() + "\n";
    return std::nullopt;
  }
  return doc;
}

std::optional<double> Max(std::optional<double> a, std::optional<double> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

std::string Bytes(std::optional<double> v) { return v ? FormatBytesHuman(*v) : "-"; }

// Stale and down hosts, folded by (status, reason): `warning: web[03-04]: down (timeout)`.
std::string HostNotes(const boost::json::object& data) {
  const boost::json::value* hosts = data.if_contains("hosts");
  if (hosts == nullptr || !hosts->is_array()) return {};
  struct Note {
    std::vector<std::string> hosts;
    std::optional<double> age;
  };
  std::vector<std::pair<std::pair<std::string, std::string>, Note>> notes;
  for (const boost::json::value& v : hosts->get_array()) {
    const boost::json::object* h = v.if_object();
    if (h == nullptr) continue;
    const std::string status = String(*h, "status");
    if (status == "ok" || status.empty()) continue;
    const std::pair key{status, String(*h, "reason")};
    auto it = std::find_if(notes.begin(), notes.end(), [&](const auto& n) { return n.first == key; });
    if (it == notes.end()) it = notes.insert(notes.end(), {key, Note{}});
    it->second.hosts.push_back(String(*h, "host"));
    it->second.age = Max(it->second.age, Number(*h, "age_seconds"));
  }
  std::string out;
  for (const auto& [key, note] : notes) {
    out += "warning: " + Cell(FoldHostNames(note.hosts)) + ": " + Cell(key.first);
    if (!key.second.empty()) out += " (" + Cell(key.second) + ")";
    if (note.age) out += ", data up to " + FormatAgeHuman(*note.age) + " old";
    out += "\n";
  }
  return out;
}

}  // namespace

std::string FormatBytesHuman(double bytes) {
  if (!std::isfinite(bytes) || bytes < 0) return "-";
  static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t unit = 0;
  double v = bytes;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buffer[32];
  if (unit == 0) {
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  } else if (v < 9.95) {
    std::snprintf(buffer, sizeof buffer, "%.1f", v);
  } else if (v < 1023.5 || unit + 1 == std::size(kUnits)) {
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  } else {
    ++unit;  // 1023.7KiB would print as 1024KiB
    std::snprintf(buffer, sizeof buffer, "1.0");
  }
  return std::string(buffer) + std::string(kUnits[unit]);
}

std::string FormatCores(double cores) {
  if (!std::isfinite(cores)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", cores);
  return buffer;
}

std::string FormatAgeHuman(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const auto s = static_cast<unsigned long long>(seconds);
  const auto two = [](unsigned long long major, char major_unit, unsigned long long minor,
                      char minor_unit) {
    std::string out = std::to_string(major) + major_unit;
    if (minor != 0) out += std::to_string(minor) + minor_unit;
    return out;
  };
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return two(s / 60, 'm', s % 60, 's');
  if (s < 86400) return two(s / 3600, 'h', (s % 3600) / 60, 'm');
  return two(s / 86400, 'd', (s % 86400) / 3600, 'h');
}

Rendered RenderProcessesTable(std::string_view json, const TableOptions& options) {
  Rendered r;
  const auto doc = Parse(json, r);
  if (!doc) return r;
  const boost::json::object* data = Data(*doc, &options, r);
  if (data == nullptr) return r;
  const boost::json::array* rows = Array(*data, "rows", r);
  if (rows == nullptr) return r;

  std::vector<std::vector<std::string>> cells;
  if (options.mode == TableMode::kWide) {
    static constexpr Column kColumns[] = {
        {"HOST"}, {"PID", true}, {"PPID", true}, {"USER"}, {"STATE"}, {"RSS", true},
        {"VSZ", true}, {"CPU", true}, {"THREADS", true}, {"FDS", true}, {"AGE", true},
        {"GROUP"}, {"COMM"}, {"ARGS"},
    };
    for (const boost::json::value& v : *rows) {
      const boost::json::object* p = v.if_object();
      if (p == nullptr) continue;
      const auto cpu = Number(*p, "cpu_cores");
      const auto age = Number(*p, "age_seconds");
      cells.push_back({Cell(String(*p, "host")), Integer(Number(*p, "pid")),
                       Integer(Number(*p, "ppid")), Or(Cell(String(*p, "user"))),
                       Or(Cell(String(*p, "state"))), Bytes(Number(*p, "rss_bytes")),
                       Bytes(Number(*p, "vsz_bytes")), cpu ? FormatCores(*cpu) : "-",
                       Integer(Number(*p, "threads")), Integer(Number(*p, "fds")),
                       age ? FormatAgeHuman(*age) : "-", Or(Cell(String(*p, "group"))),
                       Or(Cell(String(*p, "comm"))), Cell(String(*p, "args"))});
    }
    if (!cells.empty()) r.out = Layout(kColumns, cells);
  } else {
    struct Fold {
      std::string user, comm, args;
      std::vector<std::string> hosts;
      std::size_t procs = 0;
      std::string pid;
      std::optional<double> rss, cpu;
    };
    std::vector<Fold> folds;
    std::map<std::tuple<std::string, std::string, std::string>, std::size_t> index;
    for (const boost::json::value& v : *rows) {
      const boost::json::object* p = v.if_object();
      if (p == nullptr) continue;
      auto key = std::make_tuple(String(*p, "user"), String(*p, "comm"), String(*p, "args"));
      auto [it, inserted] = index.emplace(key, folds.size());
      if (inserted) {
        folds.push_back(Fold{std::get<0>(key), std::get<1>(key), std::get<2>(key), {}, 0, {}, {}, {}});
      }
      Fold& f = folds[it->second];
      f.hosts.push_back(String(*p, "host"));
      f.pid = ++f.procs == 1 ? Integer(Number(*p, "pid")) : "*";
      f.rss = Max(f.rss, Number(*p, "rss_bytes"));
      f.cpu = Max(f.cpu, Number(*p, "cpu_cores"));
    }
    static constexpr Column kColumns[] = {
        {"HOST"}, {"PROCS", true}, {"PID", true}, {"USER"}, {"RSS", true}, {"CPU", true},
        {"COMM"}, {"ARGS"},
    };
    for (Fold& f : folds) {
      cells.push_back({Cell(FoldHostNames(std::move(f.hosts))), std::to_string(f.procs), f.pid,
                       Or(Cell(f.user)), Bytes(f.rss), f.cpu ? FormatCores(*f.cpu) : "-",
                       Or(Cell(f.comm)), Truncate(Cell(f.args), options.args_width)});
    }
    if (!cells.empty()) r.out = Layout(kColumns, cells);
  }

  if (rows->empty()) r.err += "no matching processes\n";
  if (const auto total = Number(*data, "total"); total && *total > static_cast<double>(rows->size())) {
    r.err += "showing " + std::to_string(rows->size()) + " of " + Integer(total) +
             " matching processes (raise --limit to see more)\n";
  }
  r.err += HostNotes(*data);
  return r;
}

Rendered RenderHostsTable(std::string_view json, const TableOptions& options) {
  Rendered r;
  const auto doc = Parse(json, r);
  if (!doc) return r;
  const boost::json::object* data = Data(*doc, nullptr, r);
  if (data == nullptr) return r;
  const boost::json::array* hosts = Array(*data, "hosts", r);
  if (hosts == nullptr) return r;

  std::vector<std::vector<std::string>> cells;
  if (options.mode == TableMode::kWide) {
    static constexpr Column kColumns[] = {
        {"HOST"},         {"STATE"},  {"DIALECT"}, {"EPOCH", true},
        {"PROBE"},        {"SESSION", true}, {"REASON"}, {"LABELS"}, {"WEAK"}, {"DETAIL"},
    };
    for (const boost::json::value& v : *hosts) {
      const boost::json::object* h = v.if_object();
      if (h == nullptr) continue;
      std::string labels;
      if (const boost::json::value* l = h->if_contains("labels"); l != nullptr && l->is_object()) {
        for (const auto& member : l->get_object()) {
          if (!labels.empty()) labels.push_back(',');
          labels += std::string(member.key()) + "=" +
                    (member.value().is_string() ? std::string(member.value().get_string()) : "");
        }
      }
      // What a host needs that an upgrade would remove: "kex:diffie-hellman-group1-sha1,...".
      std::string weak;
      if (const boost::json::value* w = h->if_contains("weak_algorithms"); w && w->is_array()) {
        for (const boost::json::value& item : w->get_array()) {
          const boost::json::object* o = item.if_object();
          if (o == nullptr) continue;
          if (!weak.empty()) weak.push_back(',');
          weak += String(*o, "list") + ":" + String(*o, "algorithm");
        }
      }
      const auto session = Number(*h, "session_age_seconds");
      cells.push_back({Cell(String(*h, "host")), Scalar(*h, "state"), Scalar(*h, "dialect"),
                       Scalar(*h, "epoch"), Scalar(*h, "last_probe"),
                       session ? FormatAgeHuman(*session) : "-", Scalar(*h, "last_reason"),
                       Or(Cell(labels)), Or(Cell(weak)), Scalar(*h, "last_detail")});
    }
    if (!cells.empty()) r.out = Layout(kColumns, cells);
  } else {
    struct Fold {
      std::vector<std::string> cells;  // state, dialect, probe, reason
      std::vector<std::string> hosts;
    };
    std::vector<Fold> folds;
    for (const boost::json::value& v : *hosts) {
      const boost::json::object* h = v.if_object();
      if (h == nullptr) continue;
      std::vector<std::string> key{Scalar(*h, "state"), Scalar(*h, "dialect"),
                                   Scalar(*h, "last_probe"), Scalar(*h, "last_reason")};
      auto it = std::find_if(folds.begin(), folds.end(), [&](const Fold& f) { return f.cells == key; });
      if (it == folds.end()) it = folds.insert(folds.end(), Fold{std::move(key), {}});
      it->hosts.push_back(String(*h, "host"));
    }
    // The folded host list goes last: it has no bound (web[01-40],db7,...), and in front it
    // pushed every other column off the screen.
    static constexpr Column kColumns[] = {
        {"COUNT", true}, {"STATE"}, {"DIALECT"}, {"PROBE"}, {"REASON"}, {"HOSTS"},
    };
    for (Fold& f : folds) {
      const std::size_t count = f.hosts.size();
      cells.push_back({std::to_string(count), f.cells[0], f.cells[1], f.cells[2], f.cells[3],
                       Cell(FoldHostNames(std::move(f.hosts)))});
    }
    if (!cells.empty()) r.out = Layout(kColumns, cells);
  }
  if (hosts->empty()) r.err += "no hosts configured\n";
  return r;
}

Rendered RenderJson(std::string_view json) {
  Rendered r;
  const auto doc = Parse(json, r);
  if (!doc) return r;
  Rendered envelope;
  if (Data(*doc, nullptr, envelope) == nullptr) {
    r.ok = false;
    r.err = envelope.err;
  }
  WriteJson(*doc, r.out, 2);
  r.out.push_back('\n');
  return r;
}

}  // namespace fleetps::collector
