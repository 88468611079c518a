// One member's side of the cluster ownership protocol (scale-out.md §6.2–§6.4), on any
// Coordinator: it registers under a lease, keeps the lease alive, watches the cluster's keys,
// claims the buckets it wins by rendezvous hashing, hands buckets over make-before-break, drains,
// fences itself when it cannot prove its lease is alive, and keeps its buckets in failsafe when
// the store is down for every member.
//
// State machine (MemberState):
//   (start) → participant    registered: lease granted, member key put
//   participant ⇄ viewer     its inventory hash differs from (or again matches) the majority's
//   participant → draining   Drain(): hands everything over, then revokes; Run() returns
//   any → failsafe           no renewal by t_ok + TTL − fence_margin, and every peer says the
//                            store is down for it too: keeps its buckets, claims nothing
//   any → fenced             no renewal by then otherwise, or the lease is gone: owns nothing
//   fenced → participant     the store answers again: a new lease (the old one revoked)
//
// What the app calls:
//   - Run() once, on its executor (all the engine's work runs there; the Coordinator's too);
//   - SetInventory() on every (re)load, with the inventory's host names;
//   - MayProbe(now) before every probe (cheap, thread-safe): false once fenced or paused;
//   - OwnedHosts() and hooks.on_owned_hosts to apply ownership through its reload diff;
//   - hooks.warm to open sessions to hosts before it receives them, hooks.quiesce to wait for
//     in-flight probes of hosts it gives away, hooks.peer_store_down for failsafe
//     (GET /api/v1/cluster/failsafe on the peer);
//   - View() (the ClusterPort), State(), Stats() for metrics; Drain() to leave gracefully.
//
// A member checks /meta/buckets once (the first writes it): with another bucket count it stays a
// viewer. Zones are not applied in etcd mode (the config loader refuses cluster.zone_label with
// membership etcd): every participant is eligible for every bucket, whatever its zone. Warm standby
// (§6.5) is not implemented either.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "fleetps/collector/cluster/assignment.hpp"
#include "fleetps/collector/cluster/cluster_view.hpp"
#include "fleetps/collector/cluster/coordinator.hpp"

namespace fleetps::collector::cluster {

using OwnershipDuration = std::chrono::steady_clock::duration;
using OwnershipTime = std::chrono::steady_clock::time_point;

/// Monotonic time and sleeps, injectable (tests drive it by hand). `sleep_until` completes at the
/// deadline, or with operation_aborted when the awaiting coroutine is cancelled.
struct OwnershipClock {
  std::function<OwnershipTime()> now;
  std::function<boost::asio::awaitable<boost::system::error_code>(OwnershipTime)> sleep_until;

  /// std::chrono::steady_clock and an Asio steady_timer.
  [[nodiscard]] static OwnershipClock Steady();
};

struct OwnershipOptions {
  std::string cluster;    ///< cluster.name: keys live under /fleetps/<cluster>/
  MemberSpec self;        ///< this member's name, weight (zone: ignored for now)
  std::string advertise;  ///< base URL peers reach it at
  std::string version;    ///< fleetps version, published in the member key
  std::uint32_t buckets = kDefaultBuckets;
  std::chrono::seconds lease_ttl{10};
  OwnershipDuration keepalive_interval{};  ///< zero = lease_ttl / 3
  OwnershipDuration request_timeout =
      std::chrono::seconds(2);  ///< the Coordinator's bound (for the timing rule)
  OwnershipDuration fence_margin = std::chrono::seconds(2);
  OwnershipDuration settle = std::chrono::seconds(
      2);  ///< after registering, and quiet membership, before claims and moves (not failover)
  std::size_t min_members = 0;  ///< participants needed before the first claim (0 = off)
  OwnershipDuration min_members_timeout = std::chrono::minutes(2);
  std::size_t max_hosts = 0;  ///< most hosts this member claims (0 = unlimited)
  bool failsafe = true;
  OwnershipDuration handover_warm_timeout = std::chrono::seconds(30);
  OwnershipDuration drain_timeout = std::chrono::seconds(60);
  std::string inventory_sha256;  ///< of the loaded inventory, compared with the other members'
  /// After a failed list, watch or registration, wait this long before retrying.
  OwnershipDuration retry_interval = std::chrono::milliseconds(500);
};

/// The timing rule of §6.3: keepalive_interval + 2 × request_timeout ≤ TTL − fence_margin, and a
/// fence margin of at least 1 s. An error message, or empty when the options satisfy it.
[[nodiscard]] std::string CheckTimingRule(const OwnershipOptions& options);

/// Calls from the engine into the app. Every one is optional; all run on the engine's executor.
struct OwnershipHooks {
  /// Opens sessions to `hosts` (connect, authenticate, no probes) before they are received.
  /// The engine stops waiting after handover_warm_timeout (cancelling the call).
  std::function<boost::asio::awaitable<void>(std::vector<std::string> hosts)> warm;
  /// Completes when no probe of `hosts` (no longer owned) is in flight any more.
  std::function<boost::asio::awaitable<void>(std::vector<std::string> hosts)> quiesce;
  /// Asks `peer` whether the store is unreachable for it too: true only when it answered "yes".
  /// All peers are asked at once, from request_timeout before the probe deadline: bound each
  /// call by request_timeout. Failsafe needs every peer to say yes; a member alone fences.
  std::function<boost::asio::awaitable<bool>(const MemberView& peer)> peer_store_down;
  /// The owned host set changed (sorted, complete).
  std::function<void(const std::vector<std::string>& owned_hosts)> on_owned_hosts;
  /// A new cluster view was published.
  std::function<void(std::shared_ptr<const ClusterView>)> on_view;
};

/// Numbers for the §7.4 metrics. A snapshot; counters only grow.
struct OwnershipStats {
  enum Direction { kIn, kOut, kDirections };
  enum Reason { kJoin, kLeave, kDrain, kFailover, kRebalance, kReasons };
  /// fleetps_cluster_handovers_total{direction, reason}: buckets moved.
  std::array<std::array<std::uint64_t, kReasons>, kDirections> handovers{};
  /// A receiver's warm start → claim, per handover batch (cumulative counts per upper bound in
  /// seconds, then sum and count). §7.4's fleetps_cluster_handover_seconds ends at the first
  /// successful probe, which only the app sees: it can add that part, or export this.
  static constexpr std::array<double, 8> kHandoverBounds{0.5, 1, 2, 5, 10, 30, 60, 120};
  std::array<std::array<std::uint64_t, kHandoverBounds.size()>, kReasons> handover_buckets{};
  std::array<double, kReasons> handover_seconds_sum{};
  std::array<std::uint64_t, kReasons> handover_count{};
  std::uint64_t fenced_total = 0;  ///< times this member fenced itself
  bool fenced = false;
  bool failsafe = false;
  bool inventory_mismatch = false;
  bool buckets_mismatch = false;  ///< /meta/buckets differs from options.buckets: viewer for good
  double lease_ttl_seconds = 0;
  double lease_remaining_seconds = 0;  ///< as this member can prove it: t_ok + TTL − now
  std::int64_t revision = 0;
  std::size_t owned_hosts = 0;
  std::size_t owned_buckets = 0;
  std::size_t desired_hosts = 0;
  std::size_t orphaned_hosts = 0;
  std::size_t expected_members = 0;
  std::uint64_t coordination_errors = 0;
};
[[nodiscard]] std::string_view HandoverReasonName(OwnershipStats::Reason reason) noexcept;

/// One member's engine. Destroy it only after Run() has returned (or was never started).
class OwnershipEngine {
 public:
  OwnershipEngine(boost::asio::any_io_executor executor, Coordinator& coordinator,
                  OwnershipOptions options, OwnershipClock clock, OwnershipHooks hooks = {});
  OwnershipEngine(const OwnershipEngine&) = delete;
  OwnershipEngine& operator=(const OwnershipEngine&) = delete;
  ~OwnershipEngine();

  /// The protocol, until cancelled or until a drain has finished (lease revoked). Call once.
  boost::asio::awaitable<void> Run();

  /// Replaces the inventory (host names) and its hash. On the engine's executor.
  void SetInventory(std::vector<std::string> hosts, std::string inventory_sha256);
  /// Starts a graceful leave: state draining, hand everything over, revoke the lease (bounded by
  /// drain_timeout); Run() then returns. On the engine's executor.
  void Drain();

  /// GET /api/v1/cluster/failsafe's answer: is the store down for this member? True when fenced,
  /// in failsafe, unregistered or a renewal is overdue; otherwise one renewal of the lease,
  /// bounded by `within`, decides (failed or late: down). A peer asks when its own renewals
  /// fail, which this member's keepalives, out of phase, may not have noticed yet. On the
  /// engine's executor.
  [[nodiscard]] boost::asio::awaitable<bool> StoreDown(OwnershipDuration within);

  /// May this member probe at `now`? False from t_ok + TTL − fence_margin on (t_ok: the send time
  /// of the last keepalive that succeeded) until it holds a new lease, except in failsafe.
  /// Lock-free; any thread.
  [[nodiscard]] bool MayProbe(OwnershipTime now) const noexcept;
  [[nodiscard]] MemberState State() const noexcept { return state_.load(); }
  /// The latest view (never null). Any thread.
  [[nodiscard]] std::shared_ptr<const ClusterView> View() const;
  /// The hosts this member owns now, sorted. Any thread.
  [[nodiscard]] std::vector<std::string> OwnedHosts() const;
  /// Does this member hold `bucket` under its current lease? Any thread.
  [[nodiscard]] bool OwnsBucket(std::uint32_t bucket) const;
  [[nodiscard]] OwnershipStats Stats() const;
  /// The current lease (0 when none). Any thread.
  [[nodiscard]] LeaseId Lease() const noexcept { return lease_id_.load(); }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::atomic<MemberState> state_{MemberState::kParticipant};
  std::atomic<std::int64_t> probe_deadline_{0};  // ticks of OwnershipTime; 0 = no lease
  std::atomic<bool> failsafe_{false};
  std::atomic<LeaseId> lease_id_{0};
};

}  // namespace fleetps::collector::cluster
