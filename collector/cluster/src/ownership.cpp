#include "fleetps/collector/cluster/ownership.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "fleetps/collector/telemetry/log.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector::cluster {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

OwnershipClock OwnershipClock::Steady() {
  OwnershipClock clock;
  clock.now = [] { return std::chrono::steady_clock::now(); };
  clock.sleep_until = [](OwnershipTime deadline) -> asio::awaitable<boost::system::error_code> {
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return ec;
  };
  return clock;
}

std::string CheckTimingRule(const OwnershipOptions& options) {
  const OwnershipDuration ttl = options.lease_ttl;
  const OwnershipDuration keepalive =
      options.keepalive_interval.count() > 0 ? options.keepalive_interval : ttl / 3;
  if (options.fence_margin < std::chrono::seconds(1)) {
    return "cluster.fence_margin must be at least 1s";
  }
  if (keepalive + 2 * options.request_timeout > ttl - options.fence_margin) {
    return "keepalive interval + 2 x request_timeout must not exceed lease_ttl - fence_margin "
           "(a member must be able to fail a renewal twice before it fences itself)";
  }
  return {};
}

std::string_view HandoverReasonName(OwnershipStats::Reason reason) noexcept {
  switch (reason) {
    case OwnershipStats::kJoin:
      return "join";
    case OwnershipStats::kLeave:
      return "leave";
    case OwnershipStats::kDrain:
      return "drain";
    case OwnershipStats::kFailover:
      return "failover";
    case OwnershipStats::kRebalance:
    case OwnershipStats::kReasons:
      break;
  }
  return "rebalance";
}

namespace {

enum class SessionEnd { kCancelled, kLeaseLost, kFenced, kDrained };

constexpr std::size_t kClaimBatch = 128;
// Claim transactions in flight at once. A takeover of a third of 16,384 buckets is 22 of them;
// one after another they took ~0.9 s on an idle loopback etcd (T2: lease gone at 4.9 s, all
// claimed at 5.85 s), most of the margin of TTL + 1.5 s.
constexpr std::size_t kClaimParallel = 8;

std::string BucketKey(std::uint32_t bucket) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%05u", bucket);
  return digits;
}

std::optional<std::uint32_t> ParseBucket(std::string_view text, std::uint32_t buckets) {
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value >= buckets) {
    return std::nullopt;
  }
  return value;
}

std::string StringField(const json::object& object, std::string_view name) {
  const json::value* v = object.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string DurationMs(OwnershipDuration d) {
  return std::to_string(duration_cast<milliseconds>(d).count());
}

// Not an error to log: the coroutine is being cancelled.
bool Aborted(const boost::system::error_code& ec) { return ec == asio::error::operation_aborted; }

}  // namespace

struct OwnershipEngine::Impl {
  struct Member {
    MemberSpec spec;
    std::string advertise;
    std::string version;
    std::string state;  // participant | draining | viewer
    std::string inventory_sha256;
  };
  struct Owner {
    std::string member;  // empty = unowned
    LeaseId lease = 0;
    Revision mod_revision = 0;  // 0 until the watch shows our own claim
  };
  struct Handover {
    std::string to;
    bool ready = false;
    LeaseId lease = 0;
    Revision mod_revision = 0;
  };

  Impl(OwnershipEngine& engine, asio::any_io_executor executor, Coordinator& coordinator,
       OwnershipOptions options, OwnershipClock injected_clock, OwnershipHooks app_hooks)
      : outer(engine),
        ex(std::move(executor)),
        coord(coordinator),
        opt(std::move(options)),
        clock(std::move(injected_clock)),
        hooks(std::move(app_hooks)),
        prefix("/fleetps/" + opt.cluster + "/"),
        wake(ex, 1),
        owners(opt.buckets),
        ever_owned(opt.buckets, false),
        hosts_in_bucket(opt.buckets),
        receive_wake(ex, 1) {
    if (opt.keepalive_interval.count() <= 0) opt.keepalive_interval = opt.lease_ttl / 3;
    view = std::make_shared<const ClusterView>(BuildView());
  }

  OwnershipEngine& outer;
  asio::any_io_executor ex;
  Coordinator& coord;
  OwnershipOptions opt;
  OwnershipClock clock;
  OwnershipHooks hooks;
  std::string prefix;
  asio::experimental::channel<void(boost::system::error_code)> wake;

  // The store as this member last saw it.
  Revision revision = 0;
  std::map<std::string, Member> members;
  std::vector<Owner> owners;
  std::vector<bool> ever_owned;
  std::map<std::uint32_t, Handover> handovers;
  std::vector<std::string> desired_cache;  // of DesiredOwners()
  bool desired_stale = true;

  // The inventory.
  std::vector<std::vector<std::string>> hosts_in_bucket;
  std::size_t inventory_hosts = 0;

  // This member's session.
  LeaseId lease = 0;
  LeaseId stale_lease = 0;
  bool lease_lost = false;  // the store said kLeaseNotFound: the session is over  // fenced or
                            // failed registration: revoke before the next grant
  std::chrono::seconds ttl{0};
  OwnershipTime t_ok{};
  bool registered = false;
  bool member_key_stale = false;  // state or inventory hash changed since the last put
  std::string published_state;
  bool ever_registered = false;
  OwnershipTime first_registered_at{};  // min_members_timeout counts from here
  bool size_reached = false;            // min_members met once
  OwnershipTime membership_changed_at{};
  bool drain_requested = false;
  OwnershipTime drain_deadline{};
  bool mismatch = false;
  bool buckets_checked = false;         // /meta/buckets compared once per process
  bool buckets_mismatch = false;        // the cluster uses another bucket count: viewer for good
  std::set<std::uint32_t> giving_away;  // stopped probing, release pending
  std::set<std::uint32_t> released_unseen;  // released; the watch has not shown the DELETE yet
  // Released without an answer (the delete may have happened): not probed until a read shows the
  // key still ours at this mod_revision, or the watch shows it changed.
  std::map<std::uint32_t, Revision> release_unknown;
  struct Receiving {
    OwnershipTime started;
    OwnershipStats::Reason reason;  // join, or drain when the owner was draining
  };
  std::map<std::uint32_t, Receiving> handover_started;  // receiver: warm start
  std::set<std::uint32_t> receiving;                    // queued or warming
  std::vector<std::uint32_t> receive_queue;             // for the receive loop
  asio::experimental::channel<void(boost::system::error_code)> receive_wake;
  OwnershipTime next_wakeup{};

  // Outputs, read from any thread.
  mutable std::mutex mu;
  std::shared_ptr<const ClusterView> view;  // guarded by mu
  std::vector<std::string> owned_hosts;     // guarded by mu
  std::vector<bool> owned_bucket;           // guarded by mu
  OwnershipStats stats;                     // guarded by mu

  // --- helpers -------------------------------------------------------------------------------

  void Wake() { wake.try_send(boost::system::error_code{}); }

  OwnershipTime Now() const { return clock.now(); }

  bool Mine(std::uint32_t b) const {
    return lease != 0 && owners[b].lease == lease && owners[b].member == opt.self.name;
  }
  bool Probing(std::uint32_t b) const { return Mine(b) && !giving_away.contains(b); }

  void SetState(MemberState s) { outer.state_.store(s); }

  void SetProbeDeadline(std::optional<OwnershipTime> deadline) {
    outer.probe_deadline_.store(deadline ? deadline->time_since_epoch().count() : 0);
  }

  void CountError(std::string_view op, const boost::system::error_code& ec) {
    {
      std::lock_guard lock(mu);
      ++stats.coordination_errors;
    }
    const std::string message = ec.message();
    Log(LogLevel::kWarn, "cluster_coordination_error",
        {{"cluster", opt.cluster}, {"member", opt.self.name}, {"op", op}, {"error", message}});
  }

  std::string PublishedState() const {
    if (drain_requested) return "draining";
    if (mismatch || buckets_mismatch) return "viewer";
    return "participant";
  }

  std::string MemberValue() const {
    json::object o;
    o["advertise"] = opt.advertise;
    o["version"] = opt.version;
    o["weight"] = opt.self.weight;
    o["zone"] = opt.self.zone;
    o["inventory_sha256"] = opt.inventory_sha256;
    o["state"] = PublishedState();
    return json::serialize(o);
  }

  // --- mirror of the store ---------------------------------------------------------------------

  // Applies one key (put, or delete when `kv` is null); true when membership changed.
  bool ApplyKey(const std::string& key, const KeyValue* kv) {
    if (key.compare(0, prefix.size(), prefix) != 0) return false;
    const std::string_view rest = std::string_view(key).substr(prefix.size());
    if (rest.starts_with("members/")) {
      const std::string name(rest.substr(8));
      if (kv == nullptr) {
        auto gone = members.find(name);
        if (gone == members.end()) return false;
        // A draining member revoked its lease; any other lease ran out (or was revoked after
        // fencing, which looks the same from here).
        const std::string_view reason = gone->second.state == "draining" ? "leave" : "expired";
        members.erase(gone);
        Log(LogLevel::kInfo, "cluster_member_left",
            {{"cluster", opt.cluster}, {"member", name}, {"reason", reason}});
        return true;
      }
      Member m;
      m.spec.name = name;
      if (auto o = ParseObject(kv->value)) {
        m.advertise = StringField(*o, "advertise");
        m.version = StringField(*o, "version");
        m.state = StringField(*o, "state");
        m.inventory_sha256 = StringField(*o, "inventory_sha256");
        m.spec.zone = StringField(*o, "zone");
        if (const json::value* w = o->if_contains("weight"); w != nullptr && w->is_int64()) {
          m.spec.weight = static_cast<std::uint32_t>(std::max<std::int64_t>(0, w->as_int64()));
        } else if (w != nullptr && w->is_uint64()) {
          m.spec.weight = static_cast<std::uint32_t>(w->as_uint64());
        }
      }
      auto it = members.find(name);
      const bool changed = it == members.end() || it->second.state != m.state ||
                           it->second.spec.weight != m.spec.weight;
      if (it == members.end()) {
        Log(LogLevel::kInfo, "cluster_member_joined",
            {{"cluster", opt.cluster}, {"member", name}, {"state", m.state}});
      }
      members[name] = std::move(m);
      return changed;
    }
    if (rest.starts_with("owners/")) {
      const auto b = ParseBucket(rest.substr(7), opt.buckets);
      if (!b) return false;
      release_unknown.erase(*b);
      if (kv == nullptr) {
        owners[*b] = Owner{};
        giving_away.erase(*b);
        released_unseen.erase(*b);
        return false;
      }
      Owner o;
      if (auto obj = ParseObject(kv->value)) o.member = StringField(*obj, "member");
      o.lease = kv->lease;
      o.mod_revision = kv->mod_revision;
      owners[*b] = std::move(o);
      ever_owned[*b] = true;
      return false;
    }
    if (rest.starts_with("handover/")) {
      const auto b = ParseBucket(rest.substr(9), opt.buckets);
      if (!b) return false;
      if (kv == nullptr) {
        handovers.erase(*b);
        return false;
      }
      Handover h;
      if (auto obj = ParseObject(kv->value)) {
        h.to = StringField(*obj, "to");
        const json::value* ready = obj->if_contains("ready");
        h.ready = ready != nullptr && ready->is_bool() && ready->as_bool();
      }
      h.lease = kv->lease;
      h.mod_revision = kv->mod_revision;
      handovers[*b] = std::move(h);
    }
    return false;
  }

  void ApplySnapshot(const Snapshot& snapshot) {
    const std::map<std::string, Member> before = std::move(members);
    members.clear();
    std::fill(owners.begin(), owners.end(), Owner{});
    handovers.clear();
    for (const auto& kv : snapshot.kvs) ApplyKey(kv.key, &kv);
    bool changed = before.size() != members.size();
    for (const auto& [name, m] : members) {
      auto it = before.find(name);
      changed = changed || it == before.end() || it->second.state != m.state ||
                it->second.spec.weight != m.spec.weight;
    }
    if (changed) MembershipChanged();
    desired_stale = true;
    // Buckets we were giving away and that are no longer ours need no release.
    std::erase_if(giving_away, [&](std::uint32_t b) { return !Mine(b); });
    std::erase_if(released_unseen, [&](std::uint32_t b) { return !Mine(b); });
    std::erase_if(release_unknown, [&](const auto& unknown) { return !Mine(unknown.first); });
    revision = snapshot.revision;
    Publish();
    Wake();
  }

  void ApplyBatch(const WatchBatch& batch) {
    bool changed = false;
    for (const auto& e : batch.events) {
      changed = ApplyKey(e.kv.key, e.type == WatchEvent::Type::kPut ? &e.kv : nullptr) || changed;
    }
    if (changed) MembershipChanged();
    revision = std::max(revision, batch.revision);
    Publish();
    Wake();
  }

  // --- outputs ---------------------------------------------------------------------------------

  MemberState LocalState() const { return outer.state_.load(); }

  ClusterView BuildView() const {
    ClusterView v;
    v.name = opt.cluster;
    v.membership = "etcd";
    v.buckets = opt.buckets;
    v.revision = revision;
    std::map<std::string, std::int32_t> index;
    for (const auto& [name, m] : members) {
      MemberView mv;
      mv.spec = m.spec;
      mv.advertise = m.advertise;
      mv.version = m.version;
      mv.state = m.state == "draining" ? MemberState::kDraining
                 : m.state == "viewer" ? MemberState::kViewer
                                       : MemberState::kParticipant;
      mv.self = name == opt.self.name;
      if (mv.self) mv.state = LocalState();
      index[name] = static_cast<std::int32_t>(v.members.size());
      v.members.push_back(std::move(mv));
    }
    v.bucket_owner.assign(opt.buckets, -1);
    for (std::uint32_t b = 0; b < opt.buckets && b < owners.size(); ++b) {
      if (auto it = index.find(owners[b].member); it != index.end()) v.bucket_owner[b] = it->second;
    }
    return v;
  }

  // Participants eligible for buckets, zones ignored: etcd mode does not apply zones (the config
  // loader refuses cluster.zone_label with membership etcd).
  std::vector<MemberSpec> Participants() const {
    std::vector<MemberSpec> out;
    for (const auto& [name, m] : members) {
      if (m.state != "participant") continue;
      MemberSpec spec = m.spec;
      spec.zone.clear();
      out.push_back(std::move(spec));
    }
    return out;
  }

  // Desired owner's name per bucket ("" = none), recomputed only when membership changes.
  const std::vector<std::string>& DesiredOwners() {
    if (desired_stale) {
      const std::vector<MemberSpec> participants = Participants();
      desired_cache.assign(opt.buckets, std::string());
      for (std::uint32_t b = 0; b < opt.buckets; ++b) {
        if (auto i = DesiredOwner(participants, b)) desired_cache[b] = participants[*i].name;
      }
      desired_stale = false;
    }
    return desired_cache;
  }

  void MembershipChanged() {
    membership_changed_at = Now();
    desired_stale = true;
  }

  void Publish() {
    auto v = std::make_shared<const ClusterView>(BuildView());
    std::vector<std::string> hosts;
    std::vector<bool> owned(opt.buckets, false);
    std::size_t owned_buckets = 0;
    std::size_t orphaned = 0;
    std::size_t desired_hosts = 0;
    const std::vector<std::string>& desired = DesiredOwners();
    for (std::uint32_t b = 0; b < opt.buckets; ++b) {
      const auto& in_bucket = hosts_in_bucket[b];
      if (Probing(b)) {
        owned[b] = true;
        ++owned_buckets;
        hosts.insert(hosts.end(), in_bucket.begin(), in_bucket.end());
      }
      if (owners[b].member.empty()) orphaned += in_bucket.size();
      if (desired[b] == opt.self.name) desired_hosts += in_bucket.size();
    }
    std::sort(hosts.begin(), hosts.end());
    bool hosts_changed = false;
    {
      std::lock_guard lock(mu);
      view = v;
      hosts_changed = hosts != owned_hosts;
      if (hosts_changed) owned_hosts = hosts;
      owned_bucket = std::move(owned);
      stats.revision = revision;
      stats.owned_hosts = hosts.size();
      stats.owned_buckets = owned_buckets;
      stats.orphaned_hosts = orphaned;
      stats.desired_hosts = desired_hosts;
      stats.expected_members = opt.min_members;
      stats.inventory_mismatch = mismatch;
      stats.buckets_mismatch = buckets_mismatch;
      stats.fenced = LocalState() == MemberState::kFenced;
      stats.failsafe = outer.failsafe_.load();
      stats.lease_ttl_seconds = static_cast<double>(ttl.count());
    }
    if (hooks.on_view) hooks.on_view(v);
    if (hosts_changed && hooks.on_owned_hosts) hooks.on_owned_hosts(hosts);
  }

  void CountHandover(OwnershipStats::Direction direction, OwnershipStats::Reason reason,
                     std::size_t buckets, std::size_t hosts,
                     std::optional<OwnershipDuration> took) {
    if (buckets == 0) return;
    {
      std::lock_guard lock(mu);
      stats.handovers[direction][reason] += buckets;
      if (took) {
        const double seconds = std::chrono::duration<double>(*took).count();
        for (std::size_t i = 0; i < OwnershipStats::kHandoverBounds.size(); ++i) {
          if (seconds <= OwnershipStats::kHandoverBounds[i]) ++stats.handover_buckets[reason][i];
        }
        stats.handover_seconds_sum[reason] += seconds;
        ++stats.handover_count[reason];
      }
    }
    const std::string buckets_text = std::to_string(buckets);
    const std::string hosts_text = std::to_string(hosts);
    const std::string ms = took ? DurationMs(*took) : std::string("0");
    Log(LogLevel::kInfo, "cluster_handover",
        {{"cluster", opt.cluster},
         {"member", opt.self.name},
         {"buckets", buckets_text},
         {"hosts", hosts_text},
         {"direction", direction == OwnershipStats::kIn ? "in" : "out"},
         {"reason", HandoverReasonName(reason)},
         {"duration_ms", ms}});
  }

  // The keys <prefix><kind><bucket> of buckets[begin, end).
  std::vector<std::string> Keys(std::string_view kind, const std::vector<std::uint32_t>& buckets,
                                std::size_t begin, std::size_t end) const {
    std::vector<std::string> keys;
    for (std::size_t j = begin; j < end; ++j) {
      std::string key = prefix;
      key += kind;
      key += BucketKey(buckets[j]);
      keys.push_back(std::move(key));
    }
    return keys;
  }

  std::vector<std::string> HostsOf(const std::vector<std::uint32_t>& buckets) const {
    std::vector<std::string> out;
    for (auto b : buckets) {
      out.insert(out.end(), hosts_in_bucket[b].begin(), hosts_in_bucket[b].end());
    }
    return out;
  }

  // --- the session -----------------------------------------------------------------------------

  // /meta/buckets: written once by the first member (create-if-absent, no lease); a member with
  // another count would hash hosts to other buckets, so it claims nothing. False: retry.
  asio::awaitable<bool> CheckBuckets() {
    const std::string count = std::to_string(opt.buckets);
    std::vector<std::string> keys(1, prefix + "meta/buckets");
    auto outcome = co_await coord.Claim(std::move(keys), count, 0);
    if (!outcome) {
      if (!Aborted(outcome.error())) CountError("meta", outcome.error());
      co_return false;
    }
    buckets_checked = true;
    const ClaimOutcome& meta = outcome->front();
    if (!meta.won && meta.holder_value != count) {
      buckets_mismatch = true;
      Log(LogLevel::kError, "cluster_buckets_mismatch",
          {{"cluster", opt.cluster},
           {"member", opt.self.name},
           {"buckets", count},
           {"cluster_buckets", meta.holder_value}});
    }
    co_return true;
  }

  // Grants a lease and puts the member key; retries until it succeeds or is cancelled.
  asio::awaitable<bool> Register() {
    for (;;) {
      if (drain_requested) co_return false;  // not registered: nothing to hand over
      if (stale_lease != 0) {
        // Best effort: claims under a lease we could not prove alive go at once, not at expiry.
        const LeaseId revoking = std::exchange(stale_lease, 0);
        const boost::system::error_code revoked = co_await coord.Revoke(revoking);
        if (Aborted(revoked)) co_return false;
        // Store unreachable: try again before the next grant. Dropped, the old claims would
        // hold this member's own buckets until the old lease expires, which the store
        // extends at every leader election (9 s after a quorum loss instead of at once).
        if (revoked == CoordinatorErrc::kUnavailable) stale_lease = revoking;
      }
      if (!buckets_checked) {
        const bool checked = co_await CheckBuckets();
        if (!checked) {
          const auto slept = co_await clock.sleep_until(Now() + opt.retry_interval);
          if (slept) co_return false;
          continue;
        }
      }
      const OwnershipTime sent = Now();
      auto granted = co_await coord.GrantLease(opt.lease_ttl);
      if (!granted) {
        if (Aborted(granted.error())) co_return false;
        CountError("grant", granted.error());
        const auto slept = co_await clock.sleep_until(Now() + opt.retry_interval);
        if (slept) co_return false;
        continue;
      }
      lease = granted->first;
      lease_lost = false;
      ttl = granted->second;
      t_ok = sent;
      const std::string value = MemberValue();
      auto put = co_await coord.Put(prefix + "members/" + opt.self.name, value, lease);
      if (!put) {
        if (Aborted(put.error())) co_return false;
        CountError("put", put.error());
        stale_lease = std::exchange(lease, 0);  // revoked on the next try
        const auto slept = co_await clock.sleep_until(Now() + opt.retry_interval);
        if (slept) co_return false;
        continue;
      }
      if (stale_lease != 0) {
        // Its revoke above found the store still down (it came back just before the grant):
        // now it answers, so the old claims go at once instead of when the old lease expires.
        const boost::system::error_code revoked = co_await coord.Revoke(stale_lease);
        if (Aborted(revoked)) co_return false;
        if (revoked != CoordinatorErrc::kUnavailable) stale_lease = 0;
      }
      published_state = PublishedState();
      member_key_stale = false;
      outer.lease_id_.store(lease);
      SetProbeDeadline(t_ok + ttl - opt.fence_margin);
      registered = true;
      MembershipChanged();
      if (!ever_registered) {
        ever_registered = true;
        first_registered_at = membership_changed_at;
      }
      SetState(drain_requested                ? MemberState::kDraining
               : mismatch || buckets_mismatch ? MemberState::kViewer
                                              : MemberState::kParticipant);
      const std::string ttl_text = std::to_string(ttl.count());
      Log(LogLevel::kInfo, "cluster_registered",
          {{"cluster", opt.cluster}, {"member", opt.self.name}, {"lease_ttl_s", ttl_text}});
      co_return true;
    }
  }

  asio::awaitable<SessionEnd> KeepAliveLoop() {
    OwnershipTime next = t_ok + opt.keepalive_interval;
    for (;;) {
      const bool stopped = co_await SessionCancelled();  // a cancellation no call saw
      if (stopped) co_return SessionEnd::kCancelled;
      const auto slept = co_await clock.sleep_until(next);
      if (slept) co_return SessionEnd::kCancelled;
      next = Now() + opt.keepalive_interval;
      const bool renewed = co_await RenewOnce();
      if (renewed) continue;
      if (lease_lost) co_return SessionEnd::kLeaseLost;
      const bool cancelled = co_await SessionCancelled();
      if (cancelled) co_return SessionEnd::kCancelled;
    }
  }

  // One keepalive; on success t_ok is its send time and the probe deadline moves.
  asio::awaitable<bool> RenewOnce() {
    const OwnershipTime sent = Now();
    auto renewed = co_await coord.KeepAlive(lease);
    if (renewed) {
      t_ok = sent;
      SetProbeDeadline(t_ok + std::min(ttl, *renewed) - opt.fence_margin);
      co_return true;
    }
    if (!Aborted(renewed.error())) CountError("keepalive", renewed.error());
    lease_lost = lease_lost || renewed.error() == CoordinatorErrc::kLeaseNotFound;
    co_return false;
  }

  OwnershipTime ProbeDeadline() const {
    return OwnershipTime(OwnershipDuration(outer.probe_deadline_.load()));
  }

  // Every peer of the last view says the store is down for it too.
  asio::awaitable<bool> AllPeersSayDown() {
    if (!hooks.peer_store_down) co_return false;
    std::shared_ptr<const ClusterView> last;
    {
      std::lock_guard lock(mu);
      last = view;
    }
    // All peers at once: the answer is due before the probe deadline.
    using Ask = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<bool>>(), asio::deferred));
    std::vector<Ask> asks;
    for (const auto& member : last->members) {
      if (!member.self)
        asks.push_back(asio::co_spawn(ex, hooks.peer_store_down(member), asio::deferred));
    }
    if (asks.empty()) co_return false;  // alone, nobody can confirm it: fence
    auto [order, failures, answers] =
        co_await asio::experimental::make_parallel_group(std::move(asks))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (std::size_t i = 0; i < answers.size(); ++i) {
      if (failures[i] || !answers[i]) co_return false;
    }
    co_return true;
  }

  // Fences at t_ok + TTL − fence_margin unless renewed; failsafe first when every peer agrees.
  asio::awaitable<SessionEnd> FenceWatch() {
    for (;;) {
      const bool stopped = co_await SessionCancelled();  // a cancellation no call saw
      if (stopped) co_return SessionEnd::kCancelled;
      if (outer.failsafe_.load()) {
        const auto slept = co_await clock.sleep_until(Now() + opt.keepalive_interval);
        if (slept) co_return SessionEnd::kCancelled;
        if (ProbeDeadline() > Now()) {  // a keepalive succeeded: the store is back
          outer.failsafe_.store(false);
          SetState(drain_requested                ? MemberState::kDraining
                   : mismatch || buckets_mismatch ? MemberState::kViewer
                                                  : MemberState::kParticipant);
          Log(LogLevel::kInfo, "cluster_failsafe",
              {{"cluster", opt.cluster}, {"member", opt.self.name}, {"failsafe", "0"}});
          Publish();
          Wake();
          continue;
        }
        const bool still = co_await AllPeersSayDown();
        if (still) continue;
        // A peer reaches the store: either it is back for us too, or we are the isolated one.
        const bool renewed = co_await RenewOnce();
        if (!renewed) {
          outer.failsafe_.store(false);
          co_return SessionEnd::kFenced;
        }
        continue;  // the next pass leaves failsafe
      }
      const OwnershipTime deadline = ProbeDeadline();
      // Ask the peers early enough to decide before the deadline.
      const OwnershipTime ask_at = opt.failsafe ? deadline - opt.request_timeout : deadline;
      const auto slept = co_await clock.sleep_until(ask_at);
      if (slept) co_return SessionEnd::kCancelled;
      if (ProbeDeadline() != deadline) continue;  // renewed meanwhile
      if (opt.failsafe) {
        const bool all_down = co_await AllPeersSayDown();
        if (all_down && ProbeDeadline() == deadline) {
          outer.failsafe_.store(true);
          SetState(MemberState::kFailsafe);
          Log(LogLevel::kWarn, "cluster_failsafe",
              {{"cluster", opt.cluster}, {"member", opt.self.name}, {"failsafe", "1"}});
          Publish();
          continue;
        }
        const auto waited = co_await clock.sleep_until(deadline);
        if (waited) co_return SessionEnd::kCancelled;
        if (ProbeDeadline() != deadline) continue;
      }
      co_return SessionEnd::kFenced;
    }
  }

  // Whether this loop's session was cancelled. The cancellation is signalled once: a
  // Coordinator call in flight then may end with its own timeout instead of operation_aborted,
  // and a loop that only looked at the error would retry forever (the session never ended, so a
  // member cut from the store neither logged cluster_fenced nor registered again; T5).
  static asio::awaitable<bool> SessionCancelled() {
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    co_return state.cancelled() != asio::cancellation_type::none;
  }

  asio::awaitable<SessionEnd> WatchLoop() {
    for (;;) {
      const bool stopped = co_await SessionCancelled();  // a cancellation no call saw
      if (stopped) co_return SessionEnd::kCancelled;
      auto snapshot = co_await coord.Range(prefix);
      if (!snapshot) {
        if (Aborted(snapshot.error())) co_return SessionEnd::kCancelled;
        const bool cancelled = co_await SessionCancelled();
        if (cancelled) co_return SessionEnd::kCancelled;
        CountError("range", snapshot.error());
        const auto slept = co_await clock.sleep_until(Now() + opt.retry_interval);
        if (slept) co_return SessionEnd::kCancelled;
        continue;
      }
      ApplySnapshot(*snapshot);
      const auto ended = co_await coord.Watch(prefix, snapshot->revision + 1,
                                              [this](const WatchBatch& b) { ApplyBatch(b); });
      if (Aborted(ended)) co_return SessionEnd::kCancelled;
      const bool cancelled = co_await SessionCancelled();
      if (cancelled) co_return SessionEnd::kCancelled;
      if (ended == CoordinatorErrc::kCompacted) continue;  // relist at once
      CountError("watch", ended);
      const auto slept = co_await clock.sleep_until(Now() + opt.retry_interval);
      if (slept) co_return SessionEnd::kCancelled;
    }
  }

  asio::awaitable<SessionEnd> ReconcileLoop() {
    for (;;) {
      const bool stopped = co_await SessionCancelled();  // a cancellation no call saw
      if (stopped) co_return SessionEnd::kCancelled;
      next_wakeup = Now() + std::chrono::hours(1);
      const std::optional<SessionEnd> end = co_await Reconcile();
      if (end) co_return *end;
      auto woken = co_await (wake.async_receive(asio::as_tuple(asio::use_awaitable)) ||
                             clock.sleep_until(next_wakeup));
      if (woken.index() == 0 && std::get<0>(std::get<0>(woken))) co_return SessionEnd::kCancelled;
      if (woken.index() == 1 && Aborted(std::get<1>(woken))) co_return SessionEnd::kCancelled;
    }
  }

  void WakeAt(OwnershipTime t) { next_wakeup = std::min(next_wakeup, t); }

  // Maps a failed call to the session's end, or nothing (log, retry later).
  std::optional<SessionEnd> Failed(std::string_view op, const boost::system::error_code& ec) {
    if (Aborted(ec)) return SessionEnd::kCancelled;
    CountError(op, ec);
    if (ec == CoordinatorErrc::kLeaseNotFound) return SessionEnd::kLeaseLost;
    WakeAt(Now() + opt.retry_interval);
    return std::nullopt;
  }

  // One pass of the protocol over the current mirror: state, releases, claims, warm + handover.
  asio::awaitable<std::optional<SessionEnd>> Reconcile() {
    if (outer.failsafe_.load()) co_return std::nullopt;  // keep everything, change nothing
    const OwnershipTime now = Now();
    if (drain_requested && now >= drain_deadline) co_return co_await Leave();

    // Inventory agreement over the members not leaving.
    std::map<std::string, std::size_t> votes;
    std::size_t voters = 0;
    for (const auto& [name, m] : members) {
      if (m.state == "draining") continue;
      ++voters;
      ++votes[name == opt.self.name ? opt.inventory_sha256 : m.inventory_sha256];
    }
    std::optional<std::string> majority;
    for (const auto& [sha, n] : votes) {
      if (2 * n > voters) majority = sha;
    }
    const bool agree = majority && *majority == opt.inventory_sha256;
    if (majority && !agree != mismatch) {
      mismatch = !agree;
      if (mismatch) {
        Log(LogLevel::kWarn, "cluster_inventory_mismatch",
            {{"cluster", opt.cluster},
             {"member", opt.self.name},
             {"inventory_sha256", opt.inventory_sha256},
             {"majority_sha256", *majority}});
      }
    }
    if (!drain_requested) {
      SetState(mismatch || buckets_mismatch ? MemberState::kViewer : MemberState::kParticipant);
    }
    if (PublishedState() != published_state || member_key_stale) {
      const std::string value = MemberValue();
      auto put = co_await coord.Put(prefix + "members/" + opt.self.name, value, lease);
      if (!put) co_return Failed("put", put.error());
      published_state = PublishedState();
      member_key_stale = false;
      co_return std::nullopt;  // the watch brings the change; the next pass continues
    }
    auto self = members.find(opt.self.name);
    if (self == members.end() || self->second.state != published_state) {
      co_return std::nullopt;  // our own key is not in the mirror yet
    }

    const std::vector<MemberSpec> participants = Participants();
    const std::vector<std::string>& desired = DesiredOwners();

    // Old owner: release the buckets whose receiver is ready.
    std::vector<std::uint32_t> release;
    for (std::uint32_t b = 0; b < opt.buckets; ++b) {
      if (!Mine(b) || desired[b] == opt.self.name || desired[b].empty()) continue;
      auto h = handovers.find(b);
      if (h != handovers.end() && h->second.ready && h->second.to == desired[b]) {
        release.push_back(b);
      }
    }
    // Not probed: what we release now, what we released whose DELETE the watch has not
    // brought yet, and what we may have released (no answer) until a read tells.
    if (!release_unknown.empty()) {
      auto read = co_await coord.Range(prefix + "owners/");
      if (!read) co_return Failed("range", read.error());
      for (const auto& kv : read->kvs) {
        const auto b = ParseBucket(std::string_view(kv.key).substr(prefix.size() + 7), opt.buckets);
        auto unknown = b ? release_unknown.find(*b) : release_unknown.end();
        if (unknown != release_unknown.end() && kv.lease == lease &&
            kv.mod_revision == unknown->second) {
          release_unknown.erase(unknown);  // not released: ours as before
        }
      }
      // The others are gone or changed: released, as far as probing goes.
      for (const auto& [b, rev] : std::exchange(release_unknown, {})) {
        if (Mine(b)) released_unseen.insert(b);
      }
    }
    std::set<std::uint32_t> not_probed = released_unseen;
    not_probed.insert(release.begin(), release.end());
    if (not_probed != giving_away) {
      giving_away = std::move(not_probed);
      Publish();  // stop probing them before anything else
    }
    if (!release.empty()) {
      const std::vector<std::string> hosts = HostsOf(release);
      if (hooks.quiesce) co_await hooks.quiesce(hosts);
      std::vector<std::pair<std::string, Revision>> keys;
      std::vector<std::uint32_t> released;
      for (auto b : release) {
        if (!Mine(b) || owners[b].mod_revision == 0) continue;
        keys.emplace_back(prefix + "owners/" + BucketKey(b), owners[b].mod_revision);
        released.push_back(b);
      }
      for (std::size_t i = 0; i < keys.size(); i += kClaimBatch) {
        std::vector<std::pair<std::string, Revision>> chunk(
            keys.begin() + static_cast<std::ptrdiff_t>(i),
            keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + kClaimBatch)));
        auto outcome = co_await coord.Release(chunk);
        if (!outcome) {
          // The delete may have reached the store with its answer lost: not probed until known.
          if (!Aborted(outcome.error()) && outcome.error() != CoordinatorErrc::kLeaseNotFound) {
            for (const auto& [key, rev] : chunk) {
              const auto b =
                  ParseBucket(std::string_view(key).substr(prefix.size() + 7), opt.buckets);
              if (b) release_unknown[*b] = rev;
            }
          }
          co_return Failed("release", outcome.error());
        }
        for (const auto& released_key : *outcome) {
          if (!released_key.won) continue;
          const auto b = ParseBucket(std::string_view(released_key.key).substr(prefix.size() + 7),
                                     opt.buckets);
          if (b && Mine(*b)) released_unseen.insert(*b);
        }
      }
      CountHandover(OwnershipStats::kOut,
                    drain_requested ? OwnershipStats::kDrain
                    : mismatch      ? OwnershipStats::kRebalance
                                    : OwnershipStats::kJoin,
                    released.size(), HostsOf(released).size(), std::nullopt);
    }

    if (drain_requested) {
      bool holding = false;
      for (std::uint32_t b = 0; b < opt.buckets && !holding; ++b) holding = Mine(b);
      if (!holding) co_return co_await Leave();
      WakeAt(drain_deadline);
    }

    // Our own handover keys that no longer serve: remove them.
    std::vector<std::pair<std::string, Revision>> stale;
    for (const auto& [b, h] : handovers) {
      if (h.to != opt.self.name || h.lease != lease || h.mod_revision == 0) continue;
      if (desired[b] != opt.self.name || Mine(b)) {
        stale.emplace_back(prefix + "handover/" + BucketKey(b), h.mod_revision);
      }
    }
    if (!stale.empty()) {
      auto outcome = co_await coord.Release(std::move(stale));
      if (!outcome) co_return Failed("release", outcome.error());
    }

    // A receiver claims a released bucket at once (make-before-break), whatever the gates.
    std::vector<std::uint32_t> handed;
    for (const auto& [b, h] : handovers) {
      if (h.to == opt.self.name && h.lease == lease && owners[b].member.empty() &&
          desired[b] == opt.self.name) {
        handed.push_back(b);
      }
    }
    if (!handed.empty()) {
      auto end = co_await ClaimBuckets(handed);
      if (end) co_return end;
    }

    // Gates for taking anything else: wait-for-size and settle.
    // Wait-for-size is a bootstrap gate: once met (or timed out) it stays open, so survivors of
    // a failure take over whatever their number.
    if (!size_reached) {
      size_reached = participants.size() >= opt.min_members ||
                     now >= first_registered_at + opt.min_members_timeout;
    }
    if (!size_reached) {
      WakeAt(first_registered_at + opt.min_members_timeout);
      co_return std::nullopt;
    }
    // Settle: a member that has just registered waits before it claims (rolling starts), and
    // buckets move away from live owners only once membership has been quiet that long. The
    // buckets of a member whose lease expired are claimed at once: that is the takeover time.
    if (now < first_registered_at + opt.settle) {
      WakeAt(first_registered_at + opt.settle);
      co_return std::nullopt;
    }
    const bool quiet = now >= membership_changed_at + opt.settle;

    std::size_t load = 0;  // hosts held or being received, against max_hosts
    for (std::uint32_t b = 0; b < opt.buckets; ++b) {
      const auto h = handovers.find(b);
      if (Mine(b) || receiving.contains(b) ||
          (h != handovers.end() && h->second.to == opt.self.name)) {
        load += hosts_in_bucket[b].size();
      }
    }
    const auto fits = [&](std::uint32_t b) {
      if (opt.max_hosts == 0) return true;
      if (load + hosts_in_bucket[b].size() > opt.max_hosts) return false;
      load += hosts_in_bucket[b].size();
      return true;
    };

    // Claim the unowned buckets we win.
    std::vector<std::uint32_t> claim;
    for (std::uint32_t b = 0; b < opt.buckets; ++b) {
      if (desired[b] == opt.self.name && owners[b].member.empty() && fits(b)) claim.push_back(b);
    }
    if (!claim.empty()) {
      auto end = co_await ClaimBuckets(claim);
      if (end) co_return end;
    }

    if (!quiet) {
      WakeAt(membership_changed_at + opt.settle);
      co_return std::nullopt;
    }
    // Receiver: the buckets we win that another member holds go to the receive loop, which
    // warms them without holding up claims and releases here.
    bool queued = false;
    for (std::uint32_t b = 0; b < opt.buckets; ++b) {
      if (desired[b] != opt.self.name || owners[b].member.empty() || Mine(b)) continue;
      if (receiving.contains(b)) continue;
      auto h = handovers.find(b);
      if (h != handovers.end() && h->second.to == opt.self.name) continue;  // already ready
      if (!fits(b)) continue;
      receiving.insert(b);
      receive_queue.push_back(b);
      queued = true;
    }
    if (queued) receive_wake.try_send(boost::system::error_code{});
    co_return std::nullopt;
  }

  // Warms the queued buckets (bounded by handover_warm_timeout), then writes handover/<b> ready
  // for those still ours to receive; their owners release them and Reconcile claims them.
  asio::awaitable<SessionEnd> ReceiveLoop() {
    for (;;) {
      const bool stopped = co_await SessionCancelled();  // a cancellation no call saw
      if (stopped) co_return SessionEnd::kCancelled;
      auto [woken] = co_await receive_wake.async_receive(asio::as_tuple(asio::use_awaitable));
      if (woken) co_return SessionEnd::kCancelled;
      std::vector<std::uint32_t> batch = std::exchange(receive_queue, {});
      if (batch.empty()) continue;
      const OwnershipTime started = Now();
      for (auto b : batch) {
        auto holder = members.find(owners[b].member);
        const bool draining = holder != members.end() && holder->second.state == "draining";
        handover_started.emplace(
            b, Receiving{started, draining ? OwnershipStats::kDrain : OwnershipStats::kJoin});
      }
      if (hooks.warm) {
        const std::vector<std::string> hosts = HostsOf(batch);
        const OwnershipTime give_up = started + opt.handover_warm_timeout;
        auto warmed = co_await (hooks.warm(hosts) || clock.sleep_until(give_up));
        if (warmed.index() == 1 && Aborted(std::get<1>(warmed))) co_return SessionEnd::kCancelled;
      }
      // Membership may have moved on while we warmed.
      std::vector<std::uint32_t> ready;
      for (auto b : batch) {
        receiving.erase(b);
        if (DesiredOwners()[b] == opt.self.name && !owners[b].member.empty() && !Mine(b)) {
          ready.push_back(b);
        } else if (!Mine(b)) {
          handover_started.erase(b);
        }
      }
      json::object value;
      value["to"] = opt.self.name;
      value["ready"] = true;
      const std::string ready_value = json::serialize(value);
      for (std::size_t i = 0; i < ready.size(); i += kClaimBatch) {
        const std::size_t end = std::min(ready.size(), i + kClaimBatch);
        auto outcome = co_await coord.Claim(Keys("handover/", ready, i, end), ready_value, lease);
        if (!outcome) {
          if (auto ended = Failed("handover", outcome.error())) co_return *ended;
          const auto slept = co_await clock.sleep_until(Now() + opt.retry_interval);
          if (slept) co_return SessionEnd::kCancelled;
          break;
        }
        for (std::size_t j = i; j < end; ++j) {
          // Ready from now (the watch fills in the key's mod_revision); a lost one is retried.
          if ((*outcome)[j - i].won && !handovers.contains(ready[j])) {
            handovers[ready[j]] = Handover{opt.self.name, true, lease, 0};
          }
        }
      }
      Wake();
    }
  }

  // Claims `claim` (transactions of ≤ 128 keys, up to kClaimParallel at once); the won buckets
  // are probed at once, also when another transaction of the same call failed.
  asio::awaitable<std::optional<SessionEnd>> ClaimBuckets(const std::vector<std::uint32_t>& claim) {
    json::object value;
    value["member"] = opt.self.name;
    value["since_rev"] = revision;
    const std::string owner_value = json::serialize(value);
    std::array<std::vector<std::uint32_t>, OwnershipStats::kReasons> won_by_reason;
    std::array<std::optional<OwnershipDuration>, OwnershipStats::kReasons> took_by_reason;
    std::optional<boost::system::error_code> failed;
    // Whether each bucket had an owner before: read now, because while the transactions run the
    // watch brings our own claims in and marks them owned.
    std::vector<bool> owned_before(claim.size());
    for (std::size_t j = 0; j < claim.size(); ++j) owned_before[j] = ever_owned[claim[j]];
    using Ask = decltype(asio::co_spawn(
        ex, std::declval<asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>>>(),
        asio::deferred));
    constexpr std::size_t kWave = kClaimBatch * kClaimParallel;
    for (std::size_t wave = 0; wave < claim.size() && !failed; wave += kWave) {
      std::vector<Ask> asks;
      std::vector<std::size_t> firsts;  // index in `claim` of each transaction's first bucket
      for (std::size_t i = wave; i < std::min(claim.size(), wave + kWave); i += kClaimBatch) {
        const std::size_t end = std::min(claim.size(), i + kClaimBatch);
        asks.push_back(asio::co_spawn(
            ex, coord.Claim(Keys("owners/", claim, i, end), owner_value, lease), asio::deferred));
        firsts.push_back(i);
      }
      auto [order, exceptions, outcomes] =
          co_await asio::experimental::make_parallel_group(std::move(asks))
              .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
      for (std::size_t k = 0; k < outcomes.size(); ++k) {
        if (exceptions[k] || !outcomes[k]) {
          if (!failed) {
            failed = exceptions[k] ? make_error_code(CoordinatorErrc::kUnavailable)
                                   : outcomes[k].error();
          }
          continue;
        }
        const std::size_t i = firsts[k];
        const std::size_t end = std::min(claim.size(), i + kClaimBatch);
        for (std::size_t j = i; j < end; ++j) {
          if (!(*outcomes[k])[j - i].won) continue;
          const std::uint32_t b = claim[j];
          auto reason = OwnershipStats::kJoin;
          std::optional<OwnershipDuration> took;
          if (auto started = handover_started.find(b); started != handover_started.end()) {
            took = Now() - started->second.started;
            reason = started->second.reason;
            handover_started.erase(started);
          } else if (owned_before[j]) {
            reason = OwnershipStats::kFailover;
          }
          if (took)
            took_by_reason[reason] =
                std::max(took_by_reason[reason].value_or(OwnershipDuration{}), *took);
          won_by_reason[reason].push_back(b);
          // Ours from now; the watch fills in the claim's mod_revision.
          if (owners[b].member.empty()) owners[b] = Owner{opt.self.name, lease, 0};
          ever_owned[b] = true;
        }
      }
    }
    Publish();  // probe them at once
    for (std::size_t r = 0; r < OwnershipStats::kReasons; ++r) {
      CountHandover(OwnershipStats::kIn, static_cast<OwnershipStats::Reason>(r),
                    won_by_reason[r].size(), HostsOf(won_by_reason[r]).size(), took_by_reason[r]);
    }
    if (failed) co_return Failed("claim", *failed);
    co_return std::nullopt;
  }

  // End of a drain: revoke the lease (whatever is still ours goes at once).
  asio::awaitable<std::optional<SessionEnd>> Leave() {
    std::fill(owners.begin(), owners.end(), Owner{});
    SetProbeDeadline(std::nullopt);
    Publish();
    const boost::system::error_code revoked = co_await coord.Revoke(lease);
    if (revoked && !Aborted(revoked)) CountError("revoke", revoked);
    Log(LogLevel::kInfo, "cluster_member_left",
        {{"cluster", opt.cluster}, {"member", opt.self.name}, {"reason", "drained"}});
    lease = 0;
    outer.lease_id_.store(0);
    co_return SessionEnd::kDrained;
  }

  void Fence(SessionEnd why) {
    SetProbeDeadline(std::nullopt);
    SetState(MemberState::kFenced);
    registered = false;
    giving_away.clear();
    released_unseen.clear();
    release_unknown.clear();
    handover_started.clear();
    receiving.clear();
    receive_queue.clear();
    {
      std::lock_guard lock(mu);
      ++stats.fenced_total;
    }
    Publish();  // owned hosts: none (the lease is no longer trusted)
    Log(LogLevel::kWarn, "cluster_fenced",
        {{"cluster", opt.cluster},
         {"member", opt.self.name},
         {"reason", why == SessionEnd::kLeaseLost ? "lease_lost" : "lease_unconfirmed"}});
  }

  asio::awaitable<void> Run() {
    for (;;) {
      const bool ok = co_await Register();
      if (!ok) co_return;
      auto ended = co_await (KeepAliveLoop() || FenceWatch() || WatchLoop() || ReconcileLoop() ||
                             ReceiveLoop());
      const SessionEnd end = std::visit([](SessionEnd e) { return e; }, ended);
      if (end == SessionEnd::kCancelled || end == SessionEnd::kDrained) co_return;
      // Our lease is gone or unproven: Mine() becomes false for every old claim, and Register
      // revokes the lease (best effort) before it grants a new one.
      stale_lease = std::exchange(lease, 0);
      outer.lease_id_.store(0);
      Fence(end);
    }
  }
};

OwnershipEngine::OwnershipEngine(asio::any_io_executor executor, Coordinator& coordinator,
                                 OwnershipOptions options, OwnershipClock clock,
                                 OwnershipHooks hooks)
    : impl_(std::make_shared<Impl>(*this, std::move(executor), coordinator, std::move(options),
                                   std::move(clock), std::move(hooks))) {}

OwnershipEngine::~OwnershipEngine() = default;

asio::awaitable<void> OwnershipEngine::Run() { return impl_->Run(); }

void OwnershipEngine::SetInventory(std::vector<std::string> hosts, std::string inventory_sha256) {
  Impl& d = *impl_;
  for (auto& bucket : d.hosts_in_bucket) bucket.clear();
  for (auto& host : hosts) {
    const std::uint32_t b = BucketOf(host, d.opt.buckets);
    d.hosts_in_bucket[b].push_back(std::move(host));
  }
  d.inventory_hosts = hosts.size();
  if (inventory_sha256 != d.opt.inventory_sha256) {
    d.opt.inventory_sha256 = std::move(inventory_sha256);
    d.member_key_stale = true;
  }
  d.Publish();
  d.Wake();
}

void OwnershipEngine::Drain() {
  Impl& d = *impl_;
  if (d.drain_requested) return;
  d.drain_requested = true;
  d.drain_deadline = d.Now() + d.opt.drain_timeout;
  if (d.registered) state_.store(MemberState::kDraining);
  d.Wake();
}

asio::awaitable<bool> OwnershipEngine::StoreDown(OwnershipDuration within) {
  const std::shared_ptr<Impl> d = impl_;  // alive until the check ends
  if (failsafe_.load() || state_.load() == MemberState::kFenced || d->lease == 0) co_return true;
  const OwnershipTime now = d->Now();
  // Overdue: less left than a fresh lease less one keepalive period and one call.
  if (d->ProbeDeadline() - now <
      d->ttl - d->opt.fence_margin - d->opt.keepalive_interval - d->opt.request_timeout) {
    co_return true;
  }
  auto renewed = co_await (d->RenewOnce() || d->clock.sleep_until(now + within));
  co_return renewed.index() != 0 || !std::get<0>(renewed);
}

bool OwnershipEngine::MayProbe(OwnershipTime now) const noexcept {
  if (failsafe_.load(std::memory_order_acquire)) return true;
  const std::int64_t deadline = probe_deadline_.load(std::memory_order_acquire);
  return deadline != 0 && now.time_since_epoch().count() < deadline;
}

std::shared_ptr<const ClusterView> OwnershipEngine::View() const {
  std::lock_guard lock(impl_->mu);
  return impl_->view;
}

std::vector<std::string> OwnershipEngine::OwnedHosts() const {
  std::lock_guard lock(impl_->mu);
  return impl_->owned_hosts;
}

bool OwnershipEngine::OwnsBucket(std::uint32_t bucket) const {
  std::lock_guard lock(impl_->mu);
  return bucket < impl_->owned_bucket.size() && impl_->owned_bucket[bucket];
}

OwnershipStats OwnershipEngine::Stats() const {
  const auto now = impl_->clock.now();
  std::lock_guard lock(impl_->mu);
  OwnershipStats s = impl_->stats;
  const std::int64_t deadline = probe_deadline_.load();
  if (deadline != 0) {
    const auto remaining =
        OwnershipTime(OwnershipDuration(deadline)) + impl_->opt.fence_margin - now;
    s.lease_remaining_seconds = std::max(0.0, std::chrono::duration<double>(remaining).count());
  }
  return s;
}

}  // namespace fleetps::collector::cluster
