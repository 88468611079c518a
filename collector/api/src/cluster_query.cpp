#include "fleetps/collector/api/cluster_query.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include <boost/json.hpp>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/query/nodeset_fold.hpp"

namespace fleetps::collector {
namespace {

namespace json = boost::json;

// A member's answer read: its `data` object, or why it cannot be used.
struct ReadAnswer {
  const MemberAnswer* answer = nullptr;
  json::value document;
  const json::object* data = nullptr;  // null: no usable answer
  std::string error;
};

std::vector<ReadAnswer> ReadAnswers(std::span<const MemberAnswer> answers) {
  std::vector<ReadAnswer> read(answers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    ReadAnswer& r = read[i];
    r.answer = &answers[i];
    if (!answers[i].body) {
      r.error = answers[i].error.empty() ? "no answer" : answers[i].error;
      continue;
    }
    boost::system::error_code ec;
    r.document = json::parse(*answers[i].body, ec);
    const json::object* top = ec ? nullptr : r.document.if_object();
    const json::value* status = top != nullptr ? top->if_contains("status") : nullptr;
    const json::value* data = top != nullptr ? top->if_contains("data") : nullptr;
    if (status == nullptr || !status->is_string() || status->get_string() != "ok" ||
        data == nullptr || !data->is_object()) {
      r.error = "unreadable answer";
      continue;
    }
    r.data = &data->get_object();
  }
  return read;
}

std::string_view TextOf(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::optional<double> NumberOf(const json::value* v) {
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

std::optional<double> NumberOf(const json::object& o, std::string_view key) {
  return NumberOf(o.if_contains(key));
}

// Whether `o` (a row or host of `member`'s answer) is the owner's per `view`.
bool FromOwner(const cluster::ClusterView& view, const json::object& o, std::string_view member) {
  const cluster::MemberView* owner = view.OwnerOf(TextOf(o, "host"));
  return owner != nullptr && owner->spec.name == member;
}

json::array ObjectRows(const json::object& data, std::string_view key) {
  const json::value* rows = data.if_contains(key);
  return rows != nullptr && rows->is_array() ? rows->get_array() : json::array();
}

// Sets incomplete, missing_members and unowned in `data` for the hosts of `inventory` whose
// owner did not answer or that nobody owns.
void AddCompleteness(const cluster::ClusterView& view, std::span<const std::string> inventory,
                     const std::vector<ReadAnswer>& read, json::object& data) {
  std::map<std::string, std::vector<std::string>, std::less<>> missing;  // member → hosts
  std::map<std::string, std::string, std::less<>> errors;                // member → why
  for (const ReadAnswer& r : read) {
    if (r.data == nullptr) {
      missing[r.answer->member];
      errors[r.answer->member] = r.error;
    }
  }
  std::set<std::string, std::less<>> answered;
  for (const ReadAnswer& r : read) answered.insert(r.answer->member);
  std::vector<std::string> unowned;
  for (const std::string& host : inventory) {
    const cluster::MemberView* owner = view.OwnerOf(host);
    if (owner == nullptr) {
      unowned.push_back(host);
    } else if (const auto it = missing.find(owner->spec.name); it != missing.end()) {
      it->second.push_back(host);
    } else if (!answered.contains(owner->spec.name)) {
      // MembersToAsk asks every owner; a view without its owner asked is still reported.
      errors[owner->spec.name] = "not asked";
      missing[owner->spec.name].push_back(host);
    }
  }
  json::array members;
  for (auto& [member, hosts] : missing) {
    std::string advertise;
    for (const auto& m : view.members) {
      if (m.spec.name == member) advertise = m.advertise;
    }
    const std::size_t count = hosts.size();
    members.push_back(json::object{{"member", member},
                                   {"advertise", advertise},
                                   {"error", errors[member]},
                                   {"hosts", count},
                                   {"hosts_folded", FoldHostNames(std::move(hosts))}});
  }
  data["incomplete"] = !members.empty() || !unowned.empty();
  data["missing_members"] = std::move(members);
  const std::size_t unowned_count = unowned.size();
  data["unowned"] = json::object{
      {"hosts", unowned_count},
      {"hosts_folded", FoldHostNames(std::move(unowned))},
      {"reason", view.membership == "static" ? "unowned (no eligible member in its zone)"
                                             : "unowned (handover in progress)"}};
}

// -1, 0, 1 for two sort values of one key: numbers by value, strings bytewise.
int CompareValues(const json::value& a, const json::value& b) {
  const auto na = NumberOf(&a);
  const auto nb = NumberOf(&b);
  if (na && nb) return *na < *nb ? -1 : (*nb < *na ? 1 : 0);
  if (a.is_string() && b.is_string()) {
    const int c = std::string_view(a.get_string()).compare(std::string_view(b.get_string()));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return 0;
}

// RunQuery's order over rendered rows (query.cpp): sort keys with absent values last in either
// direction, then host, then port, proto and address of sockets, then rows without a pid last,
// then pid.
bool RowLess(const json::object& a, const json::object& b, const SortSpec& sort) {
  static const json::array kNone;
  const json::value* sa = a.if_contains("sort_values");
  const json::value* sb = b.if_contains("sort_values");
  const json::array& va = sa != nullptr && sa->is_array() ? sa->get_array() : kNone;
  const json::array& vb = sb != nullptr && sb->is_array() ? sb->get_array() : kNone;
  for (std::size_t i = 0; i < sort.size(); ++i) {
    const bool has_a = i < va.size() && !va[i].is_null();
    const bool has_b = i < vb.size() && !vb[i].is_null();
    if (!has_a || !has_b) {
      if (has_a != has_b) return has_a;
      continue;
    }
    const int c = CompareValues(va[i], vb[i]);
    if (c != 0) return sort[i].descending ? c > 0 : c < 0;
  }
  if (const int c = TextOf(a, "host").compare(TextOf(b, "host")); c != 0) return c < 0;
  const auto port_a = NumberOf(a, "port");
  const auto port_b = NumberOf(b, "port");
  if (port_a && port_b) {
    if (*port_a != *port_b) return *port_a < *port_b;
    if (const int c = TextOf(a, "proto").compare(TextOf(b, "proto")); c != 0) return c < 0;
    if (const int c = TextOf(a, "address").compare(TextOf(b, "address")); c != 0) return c < 0;
  }
  const auto pid_a = NumberOf(a, "pid");
  const auto pid_b = NumberOf(b, "pid");
  if (pid_a.has_value() != pid_b.has_value()) return pid_a.has_value();
  return pid_a && *pid_a < *pid_b;
}

// A fleet sort column's value of a host as /api/v1/hosts renders it (ValueOf in fleet_list.cpp).
struct HostSortValue {
  double number = 0;
  std::string_view text = {};
};

HostSortValue HostValue(const json::object& h, std::string_view column) {
  if (column == "problem") {
    const auto stale = h.if_contains("stale");
    const bool is_stale = stale != nullptr && stale->is_bool() && stale->get_bool();
    return {static_cast<double>(ProblemRank(TextOf(h, "ui_state"))) - (is_stale ? 0.5 : 0)};
  }
  if (column == "address") return {0, TextOf(h, "address")};
  if (column == "state") return {0, TextOf(h, "ui_state")};
  if (column == "dialect") return {0, TextOf(h, "dialect")};
  if (column == "channel") return {0, TextOf(h, "channel")};
  if (column == "since") return {NumberOf(h, "state_age_seconds").value_or(0)};
  if (column == "last_probe") return {NumberOf(h, "last_good_probe_age_seconds").value_or(1e18)};
  if (column == "processes") return {NumberOf(h, "processes").value_or(-1)};
  return {0, TextOf(h, "host")};
}

json::object Document(json::object data) {
  return json::object{{"status", "ok"}, {"data", std::move(data)}};
}

}  // namespace

std::vector<std::size_t> MembersToAsk(const cluster::ClusterView& view) {
  std::vector<bool> owns(view.members.size(), false);
  view.ForEachBucketOwner([&owns](std::int32_t owner) {
    if (owner >= 0 && static_cast<std::size_t>(owner) < owns.size()) {
      owns[static_cast<std::size_t>(owner)] = true;
    }
  });
  std::vector<std::size_t> ask;
  for (std::size_t i = 0; i < view.members.size(); ++i) {
    const auto state = view.members[i].state;
    if (owns[i] || state == cluster::MemberState::kParticipant ||
        state == cluster::MemberState::kDraining) {
      ask.push_back(i);
    }
  }
  return ask;
}

std::string MergeQueryAnswers(const cluster::ClusterView& view,
                              std::span<const std::string> inventory,
                              std::span<const MemberAnswer> answers, const SortSpec& sort,
                              std::size_t limit, bool listening) {
  const std::vector<ReadAnswer> read = ReadAnswers(answers);
  std::vector<json::object> rows;
  json::array statuses;
  std::size_t total = 0;
  std::size_t dropped = 0;
  for (const ReadAnswer& r : read) {
    if (r.data == nullptr) continue;
    const std::string_view member = r.answer->member;
    total += static_cast<std::size_t>(NumberOf(*r.data, "total").value_or(0));
    for (json::value& row : ObjectRows(*r.data, "rows")) {
      if (!row.is_object()) continue;
      if (FromOwner(view, row.get_object(), member)) {
        rows.push_back(std::move(row.get_object()));
      } else {
        ++dropped;
      }
    }
    for (json::value& host : ObjectRows(*r.data, "hosts")) {
      if (host.is_object() && FromOwner(view, host.get_object(), member)) {
        statuses.push_back(std::move(host));
      }
    }
  }
  // Each member's rows are already in order and cut to `limit`: the first `limit` of their
  // union in the same order are the cluster's first `limit`.
  const std::size_t keep = std::min(limit, rows.size());
  std::partial_sort(
      rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(keep), rows.end(),
      [&](const json::object& a, const json::object& b) { return RowLess(a, b, sort); });
  json::array out_rows;
  out_rows.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) {
    rows[i].erase("sort_values");
    out_rows.emplace_back(std::move(rows[i]));
  }
  std::stable_sort(statuses.begin(), statuses.end(),
                   [](const json::value& a, const json::value& b) {
                     return TextOf(a.get_object(), "host") < TextOf(b.get_object(), "host");
                   });
  json::object data;
  data["rows"] = std::move(out_rows);
  data["total"] = total - std::min(total, dropped);
  data["hosts"] = std::move(statuses);
  AddCompleteness(view, inventory, read, data);
  (void)listening;  // sockets and processes merge alike: RowLess tells them by their port
  return SerializeJson(Document(std::move(data)));
}

std::string MergeHostsAnswers(const cluster::ClusterView& view,
                              std::span<const std::string> inventory,
                              std::span<const MemberAnswer> answers,
                              const FleetListOptions& options) {
  const std::vector<ReadAnswer> read = ReadAnswers(answers);
  std::vector<json::object> hosts;
  std::size_t total = 0;
  std::map<std::string, std::uint64_t, std::less<>> counts;
  for (const ReadAnswer& r : read) {
    if (r.data == nullptr) continue;
    const std::string_view member = r.answer->member;
    total += static_cast<std::size_t>(NumberOf(*r.data, "total").value_or(0));
    if (const json::value* c = r.data->if_contains("counts"); c != nullptr && c->is_object()) {
      for (const auto& [state, count] : c->get_object()) {
        counts[std::string(state)] += static_cast<std::uint64_t>(NumberOf(&count).value_or(0));
      }
    }
    for (json::value& host : ObjectRows(*r.data, "hosts")) {
      if (!host.is_object() || !FromOwner(view, host.get_object(), member)) continue;
      host.get_object()["collector"] = member;
      hosts.push_back(std::move(host.get_object()));
    }
  }
  const std::string_view column =
      options.sort.empty() ? std::string_view("host") : std::string_view(options.sort);
  const bool descending = !options.sort.empty() && options.descending;
  std::stable_sort(hosts.begin(), hosts.end(), [&](const json::object& a, const json::object& b) {
    const HostSortValue x = HostValue(a, column);
    const HostSortValue y = HostValue(b, column);
    if (x.number != y.number) return descending ? x.number > y.number : x.number < y.number;
    if (x.text != y.text) return descending ? x.text > y.text : x.text < y.text;
    return TextOf(a, "host") < TextOf(b, "host");
  });
  const std::size_t matched = hosts.size();
  const std::size_t per_page =
      options.per_page == 0 ? std::max<std::size_t>(matched, 1) : options.per_page;
  const std::size_t pages = std::max<std::size_t>(1, (matched + per_page - 1) / per_page);
  const std::size_t page = std::min(options.page, pages);
  const std::size_t first = (page - 1) * per_page;
  const std::size_t last = std::min(matched, first + per_page);
  json::array out_hosts;
  for (std::size_t i = first; i < last; ++i) out_hosts.emplace_back(std::move(hosts[i]));
  json::object out_counts;
  for (const auto& [state, count] : counts) out_counts[state] = count;
  json::object data{{"hosts", std::move(out_hosts)},
                    {"total", total},
                    {"matched", matched},
                    {"page", page},
                    {"pages", pages},
                    {"counts", out_counts}};
  AddCompleteness(view, inventory, read, data);
  return SerializeJson(Document(std::move(data)));
}

}  // namespace fleetps::collector
