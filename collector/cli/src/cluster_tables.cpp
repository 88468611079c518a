// `fleetps cluster status` and `fleetps cluster owner`: /api/v1/cluster as tables.
#include <string>
#include <vector>

#include "answer.hpp"
#include "fleetps/collector/cli/table.hpp"
#include "table_layout.hpp"

namespace fleetps::collector {

Rendered RenderClusterStatus(std::string_view json) {
  auto answer = Answer::Read(json);
  if (!answer) return ProblemRendering(answer.error());
  const AnswerObject data = answer->data();
  auto members = answer->List("members");
  if (!members) return ProblemRendering(members.error());
  Rendered rendered;
  rendered.out = "cluster " + data.Cell("cluster") + " (" + data.Cell("membership") +
                 "): " + std::to_string(members->size()) + " members, " + data.Integer("hosts") +
                 " hosts, " + data.Integer("orphaned_hosts") + " without owner; buckets " +
                 data.Integer("buckets") + ", revision " + data.Integer("revision") + "\n";
  static constexpr Column kColumns[] = {{"MEMBER"},        {"STATE"},    {"HOSTS", true},
                                        {"BUCKETS", true}, {"ZONE"},     {"WEIGHT", true},
                                        {"VERSION"},       {"ADVERTISE"}};
  std::vector<std::vector<std::string>> rows;
  for (const AnswerObject& m : *members) {
    std::string name = m.Cell("name");
    if (m.Boolean("self").value_or(false)) name += " *";
    rows.push_back({name, m.Scalar("state"), m.Integer("owned_hosts"), m.Integer("owned_buckets"),
                    m.Scalar("zone"), m.Integer("weight"), m.Scalar("version"),
                    m.Scalar("advertise")});
  }
  rendered.out += LayoutTable(kColumns, rows);
  rendered.err = "* = the member that answered (" + data.Cell("self") + ")\n";
  return rendered;
}

Rendered RenderClusterOwners(std::string_view json) {
  auto answer = Answer::Read(json);
  if (!answer) return ProblemRendering(answer.error());
  auto owners = answer->List("owners");
  if (!owners) return ProblemRendering(owners.error());
  static constexpr Column kColumns[] = {{"HOST"}, {"BUCKET", true}, {"OWNER"}, {"ADVERTISE"}};
  std::vector<std::vector<std::string>> rows;
  for (const AnswerObject& o : *owners) {
    rows.push_back({o.Cell("host"), o.Integer("bucket"), o.Scalar("owner"), o.Scalar("advertise")});
  }
  Rendered rendered;
  rendered.out = LayoutTable(kColumns, rows);
  return rendered;
}

}  // namespace fleetps::collector
