// The ownership engine, several members on one in-memory store, time driven by hand: bootstrap,
// crash failover, partition and pause (self-fencing), join and drain (make-before-break
// handover), failsafe, max_hosts and inventory agreement. An observer on the store checks at
// every revision that a bucket is claimed only when no other member may still probe it, and
// that a live owner releases only to a receiver that is ready.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "fake_coordinator.hpp"
#include "fleetps/collector/cluster/ownership.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector::cluster {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::FakeCoordinator;
using test_support::FakeStore;
using test_support::ManualClock;

constexpr std::uint32_t kBuckets = 512;
constexpr int kHosts = 3000;
const std::string kPrefix = "/fleetps/t/";

std::string Value(const std::string& json_text, std::string_view field) {
  const boost::json::value v = boost::json::parse(json_text);
  const auto* f = v.as_object().if_contains(field);
  if (f == nullptr) return {};
  if (f->is_string()) return std::string(f->as_string());
  if (f->is_bool()) return f->as_bool() ? "true" : "false";
  return boost::json::serialize(*f);
}

class Cluster {
 public:
  struct Node {
    std::string name;
    asio::io_context io;  // destroyed last: the engine's channels are registered with it
    std::unique_ptr<FakeCoordinator> client;
    std::unique_ptr<OwnershipEngine> engine;
    asio::cancellation_signal stop;
    bool done = false;
    bool paused = false;
    bool warm_forever = false;
    std::vector<std::vector<std::string>> warmed;
    std::vector<std::vector<std::string>> quiesced;
  };

  Cluster() {
    for (int i = 0; i < kHosts; ++i) inventory_.push_back("host-" + std::to_string(i));
    store_.SetObserver(
        [this](Revision rev, const std::vector<WatchEvent>& events) { Observe(rev, events); });
  }

  // Every engine's Run() ends before the engines go (their coroutines refer to them).
  ~Cluster() {
    for (auto& n : nodes_) {
      n->paused = false;
      if (!n->done) n->stop.emit(asio::cancellation_type::terminal);
    }
    RunReady();
    for (auto& n : nodes_) EXPECT_TRUE(n->done) << n->name << ": Run() did not end when cancelled";
  }

  OwnershipOptions Options(const std::string& name) const {
    OwnershipOptions o;
    o.cluster = "t";
    o.self = MemberSpec{name, 1, ""};
    o.advertise = "http://127.0.0.1:1/" + name;
    o.version = "test";
    o.buckets = kBuckets;
    o.lease_ttl = seconds(10);
    o.min_members = 3;
    o.inventory_sha256 = "sha-a";
    return o;
  }

  Node& Add(OwnershipOptions options, bool start = true) {
    auto node = std::make_unique<Node>();
    Node& n = *node;
    n.name = options.self.name;
    n.client = std::make_unique<FakeCoordinator>(store_, options.request_timeout);
    OwnershipClock clock;
    clock.now = [this] { return clock_.Now(); };
    clock.sleep_until = [this](OwnershipTime t) { return clock_.SleepUntil(t); };
    OwnershipHooks hooks;
    hooks.warm = [this, &n](std::vector<std::string> hosts) -> asio::awaitable<void> {
      n.warmed.push_back(hosts);
      if (n.warm_forever) co_await clock_.SleepFor(std::chrono::hours(24));
    };
    hooks.quiesce = [&n](std::vector<std::string> hosts) -> asio::awaitable<void> {
      n.quiesced.push_back(std::move(hosts));
      co_return;
    };
    hooks.peer_store_down = [this](const MemberView& peer) -> asio::awaitable<bool> {
      co_return PeerSaysDown(peer.spec.name);
    };
    const std::string sha = options.inventory_sha256;
    n.engine = std::make_unique<OwnershipEngine>(n.io.get_executor(), *n.client, std::move(options),
                                                 clock, hooks);
    n.engine->SetInventory(inventory_, sha);
    nodes_.push_back(std::move(node));
    if (start) Start(n);
    return n;
  }

  void Start(Node& n) {
    asio::co_spawn(n.io, n.engine->Run(),
                   asio::bind_cancellation_slot(
                       n.stop.slot(), [&n](const std::exception_ptr&) { n.done = true; }));
    RunReady();
  }

  // A crash: the process stops; nothing is revoked.
  void Crash(Node& n) {
    n.stop.emit(asio::cancellation_type::terminal);
    RunReady();
    n.paused = true;  // its state stays as it was, as a dead process's would
  }

  // Runs every ready handler of every running member until none is left.
  void RunReady() {
    for (;;) {
      std::size_t ran = 0;
      for (auto& n : nodes_) {
        if (n->paused) continue;
        n->io.restart();
        ran += n->io.poll();
      }
      CheckSingleProber();
      if (ran == 0) return;
    }
  }

  // Moves time in small steps, letting everyone react after each.
  void Step(OwnershipDuration total, OwnershipDuration step = milliseconds(100)) {
    for (OwnershipDuration t{}; t < total; t += step) {
      store_.Advance(step);
      RunReady();
    }
  }

  // Steps until `done` holds (or `limit` passes); true when it held.
  template <class Pred>
  bool StepUntil(Pred done, OwnershipDuration limit) {
    for (OwnershipDuration t{}; t < limit; t += milliseconds(100)) {
      if (done()) return true;
      store_.Advance(milliseconds(100));
      RunReady();
    }
    return done();
  }

  std::size_t OwnedBuckets(const Node& n) const {
    std::size_t count = 0;
    for (std::uint32_t b = 0; b < kBuckets; ++b) count += n.engine->OwnsBucket(b) ? 1 : 0;
    return count;
  }

  // Bucket → owning member, as the store says.
  std::map<std::uint32_t, std::string> StoreOwners() const {
    std::map<std::uint32_t, std::string> out;
    for (const auto& kv : store_.Prefix(kPrefix + "owners/")) {
      out[static_cast<std::uint32_t>(std::stoul(kv.key.substr(kPrefix.size() + 7)))] =
          Value(kv.value, "member");
    }
    return out;
  }

  bool AllOwned() const { return StoreOwners().size() == kBuckets; }
  bool OwnedBy(const std::string& member) const {
    for (const auto& [b, m] : StoreOwners()) {
      if (m == member) return true;
    }
    return false;
  }

  Node& Bootstrap(int members = 3) {
    for (int i = 0; i < members; ++i) Add(Options(std::string(1, static_cast<char>('a' + i))));
    EXPECT_TRUE(StepUntil([&] { return AllOwned(); }, seconds(20)));
    Step(seconds(1));  // watches confirm the claims
    return *nodes_.front();
  }

  std::set<std::string> unreachable_peers;

  ManualClock& clock() { return clock_; }
  const std::vector<std::string>& inventory() const { return inventory_; }
  FakeStore& store() { return store_; }
  Node& node(std::size_t i) { return *nodes_.at(i); }
  std::size_t violations() const { return violations_; }
  std::size_t releases_checked() const { return releases_checked_; }
  std::size_t claims_checked() const { return claims_checked_; }

 private:
  bool PeerSaysDown(const std::string& name) const {
    if (unreachable_peers.contains(name)) return false;
    for (const auto& n : nodes_) {
      if (n->name == name) return !n->paused && (store_.Down() || n->client->CutOff());
    }
    return false;
  }

  // At most one member owns a bucket and may probe it, at every moment the test looks.
  void CheckSingleProber() {
    const OwnershipTime now = clock_.Now();
    for (std::uint32_t b = 0; b < kBuckets; ++b) {
      int probers = 0;
      for (const auto& n : nodes_) {
        if (n->engine->OwnsBucket(b) && n->engine->MayProbe(now)) ++probers;
      }
      if (probers > 1) {
        ++violations_;
        ADD_FAILURE() << "bucket " << b << " has " << probers << " probers";
      }
    }
  }

  void Observe(Revision rev, const std::vector<WatchEvent>& events) {
    const std::string owners = kPrefix + "owners/";
    for (const auto& e : events) {
      if (e.kv.key.compare(0, owners.size(), owners) != 0) continue;
      const std::string bucket_text = e.kv.key.substr(owners.size());
      const auto b = static_cast<std::uint32_t>(std::stoul(bucket_text));
      if (e.type == WatchEvent::Type::kPut) {
        ++claims_checked_;
        const std::string claimer = Value(e.kv.value, "member");
        for (const auto& n : nodes_) {
          if (n->name != claimer && n->engine->OwnsBucket(b) && n->engine->MayProbe(clock_.Now())) {
            ++violations_;
            ADD_FAILURE() << "rev " << rev << ": " << claimer << " claimed bucket " << b
                          << " while " << n->name << " may still probe it";
          }
        }
        holders_[e.kv.key] = e.kv;
        continue;
      }
      const cluster::KeyValue old = holders_[e.kv.key];
      holders_.erase(e.kv.key);
      if (!store_.LeaseAlive(old.lease)) continue;  // expiry or revoke, not a release
      ++releases_checked_;
      const cluster::KeyValue handover = store_.Get(kPrefix + "handover/" + bucket_text);
      if (handover.create_revision == 0 || Value(handover.value, "ready") != "true") {
        ++violations_;
        ADD_FAILURE() << "rev " << rev << ": " << Value(old.value, "member") << " released bucket "
                      << b << " before a receiver was ready";
      }
    }
  }

  ManualClock clock_;
  FakeStore store_{clock_};
  std::vector<std::string> inventory_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, cluster::KeyValue> holders_;
  std::size_t violations_ = 0;
  std::size_t releases_checked_ = 0;
  std::size_t claims_checked_ = 0;
};

void ExpectNearThird(std::size_t owned, std::size_t of) {
  EXPECT_GT(owned, of * 25 / 100);
  EXPECT_LT(owned, of * 42 / 100);
}

TEST(OwnershipTest, BootstrapWaitsForMinMembersThenOwnsEveryBucketOnce) {
  Cluster c;
  auto& a = c.Add(c.Options("a"));
  c.Step(seconds(5));
  EXPECT_TRUE(c.StoreOwners().empty()) << "claims before min_members (3) were registered";
  EXPECT_EQ(a.engine->Stats().expected_members, 3u);
  c.Add(c.Options("b"));
  c.Add(c.Options("c"));
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned(); }, seconds(20)));
  c.Step(seconds(1));
  std::size_t total = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t owned = c.OwnedBuckets(c.node(i));
    ExpectNearThird(owned, kBuckets);
    total += owned;
    EXPECT_EQ(c.node(i).engine->State(), MemberState::kParticipant);
    EXPECT_EQ(c.node(i).engine->Stats().orphaned_hosts, 0u);
  }
  EXPECT_EQ(total, kBuckets);  // each bucket exactly once
  // Every member's view says the same owner for every bucket, and it matches the store.
  const auto owners = c.StoreOwners();
  for (std::size_t i = 0; i < 3; ++i) {
    const auto view = c.node(i).engine->View();
    ASSERT_EQ(view->members.size(), 3u);
    for (std::uint32_t b = 0; b < kBuckets; ++b) {
      ASSERT_GE(view->bucket_owner[b], 0);
      EXPECT_EQ(view->members[static_cast<std::size_t>(view->bucket_owner[b])].spec.name,
                owners.at(b));
    }
    EXPECT_EQ(view->Self()->spec.name, c.node(i).name);
  }
  // The owned host sets partition the inventory.
  std::size_t hosts = 0;
  for (std::size_t i = 0; i < 3; ++i) hosts += c.node(i).engine->OwnedHosts().size();
  EXPECT_EQ(hosts, static_cast<std::size_t>(kHosts));
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, CrashFailsOverOnlyAfterTheDeadMemberStoppedProbing) {
  Cluster c;
  auto& a = c.Bootstrap();
  const std::size_t a_buckets = c.OwnedBuckets(a);
  ASSERT_GT(a_buckets, 0u);
  const LeaseId a_lease = a.engine->Lease();
  c.Crash(a);
  // Failover happens: lease expiry (TTL) + settle + claims, well within TTL + 6 s.
  ASSERT_TRUE(c.StepUntil([&] { return !c.store().LeaseAlive(a_lease); }, seconds(11)));
  EXPECT_FALSE(a.engine->MayProbe(c.clock().Now()));
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned() && !c.OwnedBy("a"); }, seconds(6)));
  c.Step(seconds(1));
  EXPECT_EQ(c.OwnedBuckets(c.node(1)) + c.OwnedBuckets(c.node(2)), kBuckets);
  const auto stats_b = c.node(1).engine->Stats();
  const auto stats_c = c.node(2).engine->Stats();
  EXPECT_EQ(stats_b.handovers[OwnershipStats::kIn][OwnershipStats::kFailover] +
                stats_c.handovers[OwnershipStats::kIn][OwnershipStats::kFailover],
            a_buckets);
  EXPECT_GT(c.claims_checked(), kBuckets);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, PartitionedMemberFencesBeforeItsLeaseExpiresAndComesBack) {
  Cluster c;
  c.Bootstrap();
  auto& p = c.node(2);
  const LeaseId old_lease = p.engine->Lease();
  p.client->SetCutOff(true);
  std::optional<OwnershipTime> fenced_at;
  std::optional<OwnershipTime> expired_at;
  for (int i = 0; i < 200 && !(fenced_at && expired_at); ++i) {
    c.Step(milliseconds(100));
    if (!fenced_at && !p.engine->MayProbe(c.clock().Now())) fenced_at = c.clock().Now();
    if (!expired_at && !c.store().LeaseAlive(old_lease)) expired_at = c.clock().Now();
  }
  ASSERT_TRUE(fenced_at && expired_at);
  EXPECT_LT(*fenced_at, *expired_at);
  EXPECT_EQ(*expired_at - *fenced_at, seconds(2)) << "the fence margin";
  c.Step(milliseconds(500));
  EXPECT_EQ(p.engine->State(), MemberState::kFenced);
  EXPECT_TRUE(p.engine->OwnedHosts().empty());
  EXPECT_EQ(p.engine->Stats().fenced_total, 1u);
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned(); }, seconds(6)));
  EXPECT_EQ(c.OwnedBuckets(c.node(0)) + c.OwnedBuckets(c.node(1)), kBuckets);

  p.client->SetCutOff(false);
  ASSERT_TRUE(c.StepUntil([&] { return c.OwnedBuckets(p) > kBuckets / 4; }, seconds(20)));
  c.Step(seconds(2));
  EXPECT_NE(p.engine->Lease(), old_lease);
  EXPECT_EQ(p.engine->State(), MemberState::kParticipant);
  ExpectNearThird(c.OwnedBuckets(p), kBuckets);
  EXPECT_EQ(c.OwnedBuckets(c.node(0)) + c.OwnedBuckets(c.node(1)) + c.OwnedBuckets(p), kBuckets);
  EXPECT_GT(c.releases_checked(), 0u);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, PausedMemberDoesNotProbeUntilItHoldsANewLease) {
  Cluster c;
  c.Bootstrap();
  auto& p = c.node(1);
  const LeaseId old_lease = p.engine->Lease();
  ASSERT_TRUE(p.engine->MayProbe(c.clock().Now()));
  p.paused = true;  // SIGSTOP: its loops do not run while time passes
  c.Step(seconds(20));
  EXPECT_FALSE(c.store().LeaseAlive(old_lease));
  EXPECT_FALSE(p.engine->MayProbe(c.clock().Now())) << "a resumed process must not trust its lease";
  p.paused = false;  // SIGCONT
  bool probed_on_old_lease = false;
  const bool back = c.StepUntil(
      [&] {
        if (!p.engine->MayProbe(c.clock().Now())) return false;
        probed_on_old_lease = probed_on_old_lease || p.engine->Lease() == old_lease ||
                              !c.store().LeaseAlive(p.engine->Lease());
        return true;
      },
      seconds(10));
  ASSERT_TRUE(back);
  EXPECT_FALSE(probed_on_old_lease);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, JoinMovesAQuarterOnlyToTheJoinerMakeBeforeBreak) {
  Cluster c;
  c.Bootstrap();
  const auto before = c.StoreOwners();
  auto& d = c.Add(c.Options("d"));
  ASSERT_TRUE(c.StepUntil([&] { return c.OwnedBuckets(d) > 0 && c.AllOwned(); }, seconds(20)));
  c.Step(seconds(3));
  const auto after = c.StoreOwners();
  ASSERT_EQ(after.size(), kBuckets);
  std::size_t moved = 0;
  for (const auto& [b, owner] : after) {
    if (owner == before.at(b)) continue;
    ++moved;
    EXPECT_EQ(owner, "d") << "bucket " << b << " moved between two old members";
  }
  EXPECT_GT(moved, kBuckets * 18 / 100);
  EXPECT_LT(moved, kBuckets * 32 / 100);
  EXPECT_EQ(c.OwnedBuckets(d), moved);
  // d warmed exactly the hosts it received before any was released to it.
  ASSERT_FALSE(d.warmed.empty());
  std::set<std::string> warmed;
  for (const auto& batch : d.warmed) warmed.insert(batch.begin(), batch.end());
  const auto d_hosts = d.engine->OwnedHosts();
  EXPECT_EQ(warmed, std::set<std::string>(d_hosts.begin(), d_hosts.end()));
  std::uint64_t out = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    out += c.node(i).engine->Stats().handovers[OwnershipStats::kOut][OwnershipStats::kJoin];
    EXPECT_FALSE(c.node(i).quiesced.empty());
  }
  EXPECT_EQ(out, moved);
  EXPECT_EQ(d.engine->Stats().handovers[OwnershipStats::kIn][OwnershipStats::kJoin], moved);
  EXPECT_EQ(c.releases_checked(), moved);  // each release checked against a ready handover
  EXPECT_TRUE(c.store().Prefix(kPrefix + "handover/").empty()) << "receiver cleans up";
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, HandoverProceedsAfterTheWarmTimeoutWhenWarmingHangs) {
  Cluster c;
  c.Bootstrap();
  auto options = c.Options("d");
  options.handover_warm_timeout = seconds(30);
  auto& d = c.Add(options, false);
  d.warm_forever = true;
  c.Start(d);
  ASSERT_TRUE(c.StepUntil([&] { return !d.warmed.empty(); }, seconds(10)));
  c.Step(seconds(29));
  EXPECT_EQ(c.OwnedBuckets(d), 0u) << "released before the receiver was ready or timed out";
  EXPECT_EQ(c.releases_checked(), 0u);
  ASSERT_TRUE(c.StepUntil([&] { return c.OwnedBuckets(d) > kBuckets / 6; }, seconds(5)));
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, FailoverIsNotHeldUpByAWarmInProgress) {
  Cluster c;
  c.Bootstrap();
  auto& d = c.Add(c.Options("d"), false);
  d.warm_forever = true;  // its receive of b's and c's buckets waits the full 30 s
  c.Start(d);
  ASSERT_TRUE(c.StepUntil([&] { return !d.warmed.empty(); }, seconds(10)));
  c.Crash(c.node(0));
  // a's lease expires within TTL, then settle and claims: long before d's warm times out.
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned() && !c.OwnedBy("a"); }, seconds(14)));
  EXPECT_GT(c.OwnedBuckets(d), 0u) << "d takes a's buckets that it wins while it still warms";
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, DrainHandsEverythingOverThenRevokesTheLease) {
  Cluster c;
  auto& a = c.Bootstrap();
  const LeaseId lease = a.engine->Lease();
  const std::size_t a_buckets = c.OwnedBuckets(a);
  a.engine->Drain();
  c.RunReady();
  EXPECT_EQ(a.engine->State(), MemberState::kDraining);
  ASSERT_TRUE(c.StepUntil([&] { return a.done; }, seconds(20)));
  EXPECT_FALSE(c.store().LeaseAlive(lease));
  EXPECT_TRUE(c.store().Get(kPrefix + "members/a").create_revision == 0);
  EXPECT_EQ(c.OwnedBuckets(a), 0u);
  c.Step(seconds(1));
  EXPECT_EQ(c.StoreOwners().size(), kBuckets);
  EXPECT_EQ(c.OwnedBuckets(c.node(1)) + c.OwnedBuckets(c.node(2)), kBuckets);
  EXPECT_EQ(c.releases_checked(), a_buckets) << "every bucket left by a make-before-break release";
  EXPECT_EQ(a.engine->Stats().handovers[OwnershipStats::kOut][OwnershipStats::kDrain], a_buckets);
  EXPECT_EQ(c.node(1).engine->Stats().handovers[OwnershipStats::kIn][OwnershipStats::kDrain] +
                c.node(2).engine->Stats().handovers[OwnershipStats::kIn][OwnershipStats::kDrain],
            a_buckets);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, DrainTimeoutRevokesWhatNobodyWasReadyToTake) {
  Cluster c;
  auto options = c.Options("a");
  options.drain_timeout = seconds(10);
  auto& a = c.Add(options);
  for (std::string name : {"b", "c"}) {
    auto receiver = c.Options(name);
    receiver.handover_warm_timeout = std::chrono::minutes(5);
    auto& n = c.Add(receiver, false);
    n.warm_forever = true;  // never ready to receive
    c.Start(n);
  }
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned(); }, seconds(20)));
  const LeaseId lease = a.engine->Lease();
  a.engine->Drain();
  c.Step(seconds(9));
  EXPECT_FALSE(a.done);
  EXPECT_GT(c.OwnedBuckets(a), 0u) << "nothing was released without a ready receiver";
  ASSERT_TRUE(c.StepUntil([&] { return a.done; }, seconds(2)));
  EXPECT_FALSE(c.store().LeaseAlive(lease));
  // The survivors see the deletes and claim as after a failure.
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned() && !c.OwnedBy("a"); }, seconds(5)));
  EXPECT_EQ(c.releases_checked(), 0u);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, StoreDownForEveryoneKeepsBucketsInFailsafe) {
  Cluster c;
  c.Bootstrap();
  std::vector<std::size_t> before;
  for (std::size_t i = 0; i < 3; ++i) before.push_back(c.OwnedBuckets(c.node(i)));
  c.store().SetDown(true);
  c.Step(seconds(30));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.node(i).engine->State(), MemberState::kFailsafe) << c.node(i).name;
    EXPECT_TRUE(c.node(i).engine->MayProbe(c.clock().Now()));
    EXPECT_EQ(c.OwnedBuckets(c.node(i)), before[i]);
    EXPECT_TRUE(c.node(i).engine->Stats().failsafe);
  }
  c.store().SetDown(false);
  c.Step(seconds(10));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.node(i).engine->State(), MemberState::kParticipant) << c.node(i).name;
    EXPECT_EQ(c.OwnedBuckets(c.node(i)), before[i]);
    EXPECT_EQ(c.node(i).engine->Stats().fenced_total, 0u);
  }
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, StoreDownAndAPeerUnreachableFences) {
  Cluster c;
  c.Bootstrap();
  c.unreachable_peers.insert("c");
  c.store().SetDown(true);
  c.Step(seconds(12));
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(c.node(i).engine->State(), MemberState::kFenced) << c.node(i).name;
    EXPECT_FALSE(c.node(i).engine->MayProbe(c.clock().Now()));
    EXPECT_EQ(c.OwnedBuckets(c.node(i)), 0u);
  }
  // c itself reached both peers, which agree that the store is down.
  EXPECT_EQ(c.node(2).engine->State(), MemberState::kFailsafe);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, MaxHostsCapsClaimsAndCountsOrphans) {
  Cluster c;
  constexpr std::size_t kCap = kHosts / 4;  // 3 × 750 < 3000
  for (std::string name : {"a", "b", "c"}) {
    auto options = c.Options(name);
    options.max_hosts = kCap;
    c.Add(options);
  }
  c.Step(seconds(10));
  std::size_t owned = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto hosts = c.node(i).engine->OwnedHosts().size();
    EXPECT_LE(hosts, kCap);
    EXPECT_GT(hosts, kCap * 9 / 10);
    owned += hosts;
  }
  for (std::size_t i = 0; i < 3; ++i) {
    const auto stats = c.node(i).engine->Stats();
    EXPECT_EQ(stats.orphaned_hosts, kHosts - owned) << c.node(i).name;
    EXPECT_GT(stats.desired_hosts, stats.owned_hosts);
  }
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, InventoryMismatchMakesAViewer) {
  Cluster c;
  for (std::string name : {"a", "b", "c"}) {
    auto options = c.Options(name);
    options.min_members = 2;  // counts participants: a viewer does not
    if (name == "c") options.inventory_sha256 = "sha-other";
    c.Add(options);
  }
  auto& v = c.node(2);
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned(); }, seconds(20)));
  c.Step(seconds(1));
  EXPECT_EQ(v.engine->State(), MemberState::kViewer);
  EXPECT_TRUE(v.engine->Stats().inventory_mismatch);
  EXPECT_EQ(c.OwnedBuckets(v), 0u);
  EXPECT_EQ(Value(c.store().Get(kPrefix + "members/c").value, "state"), "viewer");
  EXPECT_EQ(c.OwnedBuckets(c.node(0)) + c.OwnedBuckets(c.node(1)), kBuckets);
  // Its inventory reloaded to the majority's: it participates again and takes its share.
  v.engine->SetInventory(c.inventory(), "sha-a");
  ASSERT_TRUE(c.StepUntil([&] { return c.OwnedBuckets(v) > kBuckets / 4; }, seconds(20)));
  EXPECT_EQ(v.engine->State(), MemberState::kParticipant);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, ABucketCountOtherThanTheClustersMakesAViewer) {
  Cluster c;
  for (std::string name : {"a", "b"}) {
    auto options = c.Options(name);
    options.min_members = 2;
    c.Add(options);
  }
  ASSERT_TRUE(c.StepUntil([&] { return c.AllOwned(); }, seconds(20)));
  EXPECT_EQ(c.store().Get(kPrefix + "meta/buckets").value, std::to_string(kBuckets));
  auto options = c.Options("c");
  options.buckets = kBuckets / 2;
  auto& v = c.Add(options);
  c.Step(seconds(10));
  EXPECT_EQ(v.engine->State(), MemberState::kViewer);
  EXPECT_TRUE(v.engine->Stats().buckets_mismatch);
  EXPECT_EQ(Value(c.store().Get(kPrefix + "members/c").value, "state"), "viewer");
  EXPECT_FALSE(c.OwnedBy("c"));
  EXPECT_EQ(c.OwnedBuckets(c.node(0)) + c.OwnedBuckets(c.node(1)), kBuckets);
  EXPECT_EQ(c.violations(), 0u);
}

TEST(OwnershipTest, TimingRule) {
  OwnershipOptions o;
  EXPECT_EQ(CheckTimingRule(o), "");  // 3.3 + 2 × 2 ≤ 10 − 2
  o.request_timeout = seconds(3);
  EXPECT_NE(CheckTimingRule(o), "");
  o.request_timeout = seconds(1);
  o.fence_margin = milliseconds(500);
  EXPECT_NE(CheckTimingRule(o), "");
}

}  // namespace
}  // namespace fleetps::collector::cluster
