// Fleet-wide answers of a clustered collector (scale-out.md §6.7): the member that receives
// GET /api/v1/processes, /api/v1/listening or /api/v1/hosts without scope=local asks every
// member for its own hosts (scope=local, AskMembers) and merges their answers (pure functions
// over the members' JSON answers and the cluster view); shapes in docs/query.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/fleet_list.hpp"
#include "fleetps/collector/api/router.hpp"
#include "fleetps/collector/cluster/cluster_view.hpp"
#include "fleetps/collector/query/query.hpp"

namespace fleetps::collector {

/// What one member answered to the coordinator's scope=local request.
struct MemberAnswer {
  std::string member;     ///< Its name in the view.
  std::string advertise;  ///< The URL it was asked at ("" for the coordinator itself).
  /// The JSON document of a 200 answer; nullopt when it did not answer usably.
  std::optional<std::string> body;
  /// Why not, in words (`did not answer within 2s`, `HTTP 503: ...`); empty with a body.
  std::string error;
};

/// How a coordinator asks its peers.
struct ClusterQueryOptions {
  /// How long the coordinator waits for its peers' answers; with fresh=1, the slowest host's
  /// probe_timeout plus this.
  std::chrono::milliseconds deadline{2000};
  /// A peer's answer larger than this counts as no answer (bounds the coordinator's memory).
  std::size_t max_answer_bytes = std::size_t{64} << 20;
};

/// Answers a scope=local request in-process (the coordinator's own share, without HTTP).
using LocalAnswer = std::function<boost::asio::awaitable<HttpAnswer>(const ApiRequest&)>;

/// Sends `request` (its path, with `local_query` as its query string) to every member of
/// `members` (indexes into view.members) at once: the member marked self through `self`, the
/// others with an HTTP GET to their advertise URL carrying the caller's Authorization header
/// (peers share the web config) and trusting `peer_ca_file` for https:// peers (empty = the
/// system's CAs; cluster.peer_http.tls_config.ca_file), each within `deadline`. Answers in the
/// order of `members`;
/// one that failed, timed out (`did not answer within 2s`), was larger than `max_answer_bytes`
/// or was not 200 (`HTTP 503: MESSAGE`) has no body and says why. Completes by `deadline` plus
/// a short margin (the self answer excepted, which is bounded by its own limits).
[[nodiscard]] boost::asio::awaitable<std::vector<MemberAnswer>> AskMembers(
    const cluster::ClusterView& view, const std::vector<std::size_t>& members,
    const ApiRequest& request, const std::string& local_query, std::chrono::milliseconds deadline,
    std::size_t max_answer_bytes, const LocalAnswer& self, std::string peer_ca_file);

/// The members a coordinator asks: participants and draining members, and any other member
/// that owns a bucket in `view` (it still answers for those hosts). Indexes into view.members.
[[nodiscard]] std::vector<std::size_t> MembersToAsk(const cluster::ClusterView& view);

/// Merges the /api/v1/processes (or, `listening`, /api/v1/listening) answers of `answers`
/// (every member asked, each with scope=local and the same q, sort, limit and fresh):
/// - rows of a host are kept only from the member `view` names its owner (a member answering
///   from an older view during a handover is dropped); `total` is the sum of the members'
///   totals less the rows so dropped;
/// - rows in `sort` order (the order RunQuery gives: the members' `sort_values`, then host,
///   then port, proto and address, then pid), cut to `limit`; `sort_values` are removed;
/// - `data.hosts` is the members' host statuses (owners only), ordered by host;
/// - hosts of `inventory` whose owner gave no answer are listed per member in
///   `data.missing_members` ({member, advertise, error, hosts, hosts_folded}), hosts whose
///   bucket nobody owns in `data.unowned` ({hosts, hosts_folded}); either sets
///   `data.incomplete` to true (false otherwise).
/// A member's answer that is not a readable ok document counts as no answer.
[[nodiscard]] std::string MergeQueryAnswers(const cluster::ClusterView& view,
                                            std::span<const std::string> inventory,
                                            std::span<const MemberAnswer> answers,
                                            const SortSpec& sort, std::size_t limit,
                                            bool listening);

/// Merges the /api/v1/hosts answers of `answers` (each asked with scope=local, the same
/// filters and sort, every matching host on one page): hosts kept from their owner only, each
/// with `"collector":MEMBER`, ordered by `options` (by name when it sets no sort), then cut to
/// `options`' page; `total`, `matched`, `counts`, `page` and `pages` recomputed over the whole
/// cluster; missing members and unowned hosts as MergeQueryAnswers.
[[nodiscard]] std::string MergeHostsAnswers(const cluster::ClusterView& view,
                                            std::span<const std::string> inventory,
                                            std::span<const MemberAnswer> answers,
                                            const FleetListOptions& options);

}  // namespace fleetps::collector
