#include "answer.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include <boost/json/parse.hpp>

#include "fleetps/collector/cli/table.hpp"
#include "fleetps/collector/query/nodeset_fold.hpp"
#include "fleetps/collector/query/text.hpp"
#include "table_layout.hpp"

namespace fleetps::collector {
namespace {

AnswerProblem Invalid(std::string_view what) {
  return {"fleetps: invalid response from server: " + std::string(what) + "\n"};
}

// `{"status":"error","error":{"message":...,"parameter":...,"position":N}}`.
AnswerProblem ErrorAnswer(const boost::json::object& top, std::string_view selector) {
  const std::optional<AnswerObject> error = AnswerObject(top).Object("error");
  const std::string message = error ? error->Cell("message") : std::string();
  AnswerProblem problem{"error: " + (message.empty() ? std::string("(no message)") : message) +
                        "\n"};
  if (!error || error->Text("parameter") != "q") return problem;
  if (const auto position = error->Number("position"); position && *position >= 0) {
    problem.message += SelectorCaret(selector, static_cast<std::size_t>(*position));
  }
  return problem;
}

}  // namespace

std::string SelectorCaret(std::string_view selector, std::size_t position) {
  if (selector.empty() || position > selector.size() ||
      selector.find_first_of("\n\r") != std::string_view::npos) {
    return {};
  }
  const std::size_t column = DisplayWidth(TerminalSafe(selector.substr(0, position)));
  return "  " + TerminalSafe(selector) + "\n  " + std::string(column, ' ') + "^\n";
}

void throw_exception_from_error(const AnswerProblem& problem, const boost::source_location&) {
  throw std::runtime_error(problem.message);
}

Rendered ProblemRendering(const AnswerProblem& problem) {
  return Rendered{{}, problem.message, false};
}

std::string AnswerObject::Text(std::string_view key) const {
  const boost::json::value* v = object_->if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::string AnswerObject::Cell(std::string_view key) const { return TerminalSafe(Text(key)); }

std::optional<double> AnswerObject::Number(std::string_view key) const {
  const boost::json::value* v = object_->if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

std::string IntegerText(std::optional<double> number) {
  return number ? std::to_string(static_cast<long long>(*number)) : "-";
}

std::string AnswerObject::Integer(std::string_view key) const { return IntegerText(Number(key)); }

std::string AnswerObject::Scalar(std::string_view key) const {
  const boost::json::value* v = object_->if_contains(key);
  if (v == nullptr || v->is_null()) return "-";
  if (v->is_string()) return DashIfEmpty(TerminalSafe(v->get_string()));
  if (v->is_bool()) return v->get_bool() ? "true" : "false";
  if (v->is_int64() || v->is_uint64()) return Integer(key);
  if (v->is_double()) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", v->get_double());
    return buffer;
  }
  return "-";
}

std::optional<bool> AnswerObject::Boolean(std::string_view key) const {
  const boost::json::value* v = object_->if_contains(key);
  if (v == nullptr || !v->is_bool()) return std::nullopt;
  return v->get_bool();
}

bool AnswerObject::Has(std::string_view key) const { return object_->contains(key); }

std::optional<AnswerObject> AnswerObject::Object(std::string_view key) const {
  const boost::json::value* v = object_->if_contains(key);
  if (v == nullptr || !v->is_object()) return std::nullopt;
  return AnswerObject(v->get_object());
}

std::optional<std::vector<AnswerObject>> AnswerObject::Objects(std::string_view key) const {
  const boost::json::value* v = object_->if_contains(key);
  if (v == nullptr || !v->is_array()) return std::nullopt;
  std::vector<AnswerObject> objects;
  for (const boost::json::value& element : v->get_array()) {
    if (element.is_object()) objects.emplace_back(element.get_object());
  }
  return objects;
}

boost::system::result<boost::json::value, AnswerProblem> ParseAnswerJson(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value document = boost::json::parse(text, ec);
  if (ec) return Invalid("not JSON (" + ec.message() + ")");
  return document;
}

boost::system::result<void, AnswerProblem> CheckAnswerEnvelope(const boost::json::value& document,
                                                               std::string_view selector) {
  const boost::json::object* top = document.if_object();
  const boost::json::value* status = top != nullptr ? top->if_contains("status") : nullptr;
  if (status == nullptr || !status->is_string()) return Invalid("no status");
  if (status->get_string() == "error") return ErrorAnswer(*top, selector);
  const boost::json::value* data = top->if_contains("data");
  if (status->get_string() != "ok" || data == nullptr || !data->is_object()) {
    return Invalid("no data");
  }
  return {};
}

boost::system::result<Answer, AnswerProblem> Answer::Read(std::string_view json,
                                                          std::string_view selector) {
  auto document = ParseAnswerJson(json);
  if (!document) return document.error();
  if (auto envelope = CheckAnswerEnvelope(*document, selector); !envelope) return envelope.error();
  return Answer(std::move(*document));
}

// The envelope was checked by Read: `data` is an object.
AnswerObject Answer::data() const {
  return AnswerObject(document_.get_object().at("data").get_object());
}

boost::system::result<std::vector<AnswerObject>, AnswerProblem> Answer::List(
    std::string_view key) const {
  auto objects = data().Objects(key);
  if (!objects) return Invalid("no " + std::string(key));
  return std::move(*objects);
}

std::string Answer::ListingNotes(std::size_t shown, std::string_view things) const {
  std::string notes;
  const AnswerObject fields = data();
  if (shown == 0) {
    notes += "no matching " + std::string(things) + "\n";
  } else if (const auto total = fields.Number("total");
             total && *total > static_cast<double>(shown)) {
    notes += "showing " + std::to_string(shown) + " of " + IntegerText(total) + " matching " +
             std::string(things) + " (raise --limit to see more)\n";
  }
  // Stale and down hosts, folded by (status, reason), in order of first appearance.
  struct HostGroup {
    std::string status, reason;
    std::vector<std::string> hosts;
    std::optional<double> age;
  };
  std::vector<HostGroup> groups;
  for (const AnswerObject& host : fields.Objects("hosts").value_or(std::vector<AnswerObject>{})) {
    std::string status = host.Text("status");
    if (status == "ok" || status.empty()) continue;
    std::string reason = host.Text("reason");
    auto group = std::find_if(groups.begin(), groups.end(), [&](const HostGroup& g) {
      return g.status == status && g.reason == reason;
    });
    if (group == groups.end()) {
      group = groups.insert(groups.end(), HostGroup{std::move(status), std::move(reason), {}, {}});
    }
    group->hosts.push_back(host.Text("host"));
    group->age = Larger(group->age, host.Number("age_seconds"));
  }
  for (HostGroup& group : groups) {
    notes += "warning: " + TerminalSafe(FoldHostNames(std::move(group.hosts))) + ": " +
             TerminalSafe(group.status);
    if (!group.reason.empty()) notes += " (" + TerminalSafe(group.reason) + ")";
    if (group.age) notes += ", data up to " + FormatAgeHuman(*group.age) + " old";
    notes += "\n";
  }
  return notes;
}

namespace {

// 1013 → "1,013".
std::string Thousands(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// A folded host list cut after about 60 characters at a comma ("web[01-09],db1,...").
std::string ShortHostList(std::string folded) {
  constexpr std::size_t kWidth = 60;
  if (folded.size() <= kWidth) return folded;
  // A comma outside brackets, so no range is cut in half.
  std::size_t cut = std::string::npos;
  int depth = 0;
  for (std::size_t i = 0; i < folded.size() && i <= kWidth; ++i) {
    if (folded[i] == '[') ++depth;
    if (folded[i] == ']') --depth;
    if (folded[i] == ',' && depth == 0) cut = i;
  }
  if (cut == std::string::npos) return folded;
  return folded.substr(0, cut) + ",...";
}

std::string HostsText(const AnswerObject& entry, std::string_view what) {
  const auto count = entry.Number("hosts").value_or(0);
  const auto n = static_cast<std::uint64_t>(count < 0 ? 0 : count);
  return Thousands(n) + (n == 1 ? " host " : " hosts ") + std::string(what);
}

}  // namespace

bool Answer::Incomplete() const { return data().Boolean("incomplete").value_or(false); }

std::string Answer::IncompleteNotes() const {
  std::string notes;
  const AnswerObject fields = data();
  for (const AnswerObject& member :
       fields.Objects("missing_members").value_or(std::vector<AnswerObject>{})) {
    const std::string error = member.Cell("error");
    notes += "warning: " + member.Cell("member");
    notes += error.starts_with("did not answer") ? " " + error : " failed (" + error + ")";
    notes += ": " + HostsText(member, "unknown");
    if (const std::string hosts = member.Cell("hosts_folded"); !hosts.empty()) {
      notes += " (" + ShortHostList(hosts) + ")";
    }
    notes += "\n";
  }
  if (const auto unowned = fields.Object("unowned");
      unowned && unowned->Number("hosts").value_or(0) > 0) {
    // The server says why (static: no member of the host's zone; etcd: a handover).
    const std::string reason = unowned->Cell("reason");
    notes += "warning: " +
             HostsText(*unowned, reason.empty() ? "unowned (handover in progress)" : reason);
    if (const std::string hosts = unowned->Cell("hosts_folded"); !hosts.empty()) {
      notes += ": " + ShortHostList(hosts);
    }
    notes += "\n";
  }
  return notes;
}

}  // namespace fleetps::collector
