#include "felix/fake_source.h"
#include "felix/syncer.h"

#include <condition_variable>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>

namespace caracal::felix {
namespace {

using namespace std::chrono_literals;

const api::KindInfo& kind(const char* k) { return *api::findByKind("projectcalico.org/v3", k); }

Value named(const std::string& name, const std::string& cidr, const std::string& ns = "") {
  Value o = Value::object();
  o["metadata"]["name"] = name;
  if (!ns.empty()) {
    o["metadata"]["namespace"] = ns;
  }
  o["spec"]["cidr"] = cidr;
  return o;
}

// Records what a subscriber sees and mirrors it into a map, from the syncer thread.
class Recorder : public SyncerCallbacks {
public:
  void onUpdates(const std::vector<Update>& updates) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++batches_;
    for (const Update& u : updates) {
      std::string k = u.kind->kind + "/" + u.key;
      if (u.object) {
        state_[k] = u.object->getString("spec.cidr");
      } else {
        state_.erase(k);
      }
      log_.push_back((u.object ? "set " : "del ") + k);
      threads_.insert(std::this_thread::get_id());
    }
    cv_.notify_all();
  }
  void onInSync() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++inSyncCalls_;
    stateAtInSync_ = state_;
    cv_.notify_all();
  }

  // Waits until `pred` holds (under the lock) or 5 s pass.
  bool waitFor(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 5s, pred);
  }
  std::map<std::string, std::string> state() {
    std::lock_guard<std::mutex> lock(mu_);
    return state_;
  }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> state_;
  std::map<std::string, std::string> stateAtInSync_;
  std::vector<std::string> log_;
  std::set<std::thread::id> threads_;
  int batches_ = 0;
  int inSyncCalls_ = 0;
};

SyncerOptions fastOptions() {
  SyncerOptions o;
  o.initialBackoff = 5ms;
  o.maxBackoff = 50ms;
  return o;
}

TEST(ObjectKey, NamespacedAndClusterScoped) {
  EXPECT_EQ(objectKey(kind("IPPool"), named("p", "10.0.0.0/8")), "p");
  EXPECT_EQ(objectKey(kind("WorkloadEndpoint"), named("w", "", "ns1")), "ns1/w");
}

TEST(Syncer, InitialListsThenInSyncThenWatchEvents) {
  FakeListWatchSource src;
  src.apply(kind("IPPool"), named("p1", "10.0.0.0/16"));
  src.apply(kind("IPAMBlock"), named("b1", "10.0.1.0/26"));
  src.apply(kind("WorkloadEndpoint"), named("w1", "10.0.1.5/32", "ns"));
  Syncer s(src, {&kind("IPPool"), &kind("IPAMBlock"), &kind("WorkloadEndpoint")}, fastOptions());
  Recorder r;
  s.subscribe(&r);
  s.start();
  ASSERT_TRUE(r.waitFor([&] { return r.inSyncCalls_ == 1; }));
  EXPECT_TRUE(s.inSync());
  // Everything listed was delivered before the in-sync signal.
  EXPECT_EQ(r.stateAtInSync_.size(), 3u);
  EXPECT_EQ(r.stateAtInSync_["WorkloadEndpoint/ns/w1"], "10.0.1.5/32");

  src.apply(kind("IPPool"), named("p2", "10.1.0.0/16"));
  src.apply(kind("IPPool"), named("p1", "10.2.0.0/16"));
  src.remove(kind("IPAMBlock"), "b1");
  ASSERT_TRUE(r.waitFor([&] { return r.state_.size() == 3 && !r.state_.count("IPAMBlock/b1"); }));
  EXPECT_EQ(r.state()["IPPool/p1"], "10.2.0.0/16");
  EXPECT_EQ(r.state()["IPPool/p2"], "10.1.0.0/16");
  s.stop();
  EXPECT_EQ(r.inSyncCalls_, 1);
  EXPECT_EQ(r.threads_.size(), 1u); // one delivery thread
  EXPECT_EQ(src.openWatches(), 0);
}

TEST(Syncer, InSyncWaitsForEveryKindEvenWhenAListFails) {
  FakeListWatchSource src;
  src.apply(kind("IPPool"), named("p1", "10.0.0.0/16"));
  src.failLists(3);
  Syncer s(src, {&kind("IPPool"), &kind("Node")}, fastOptions());
  Recorder r;
  s.subscribe(&r);
  s.start();
  ASSERT_TRUE(r.waitFor([&] { return r.inSyncCalls_ == 1; }));
  EXPECT_EQ(r.stateAtInSync_.size(), 1u);
  EXPECT_GE(src.listCalls(), 5);
}

TEST(Syncer, ResumesFromLastRevisionWhenTheStreamEnds) {
  FakeListWatchSource src;
  src.apply(kind("IPPool"), named("p1", "10.0.0.0/16"));
  Syncer s(src, {&kind("IPPool")}, fastOptions());
  Recorder r;
  s.subscribe(&r);
  s.start();
  ASSERT_TRUE(r.waitFor([&] { return r.inSyncCalls_ == 1; }));
  src.apply(kind("IPPool"), named("p2", "10.1.0.0/16"));
  ASSERT_TRUE(r.waitFor([&] { return r.state_.size() == 2; }));
  int listsBefore = src.listCalls();
  // The server ends the stream; an event happens before the syncer reconnects.
  src.closeWatches(Status());
  src.apply(kind("IPPool"), named("p3", "10.3.0.0/16"));
  ASSERT_TRUE(r.waitFor([&] { return r.state_.size() == 3; }));
  EXPECT_EQ(src.listCalls(), listsBefore); // replayed from history, no relist
  EXPECT_EQ(s.stats().relists, 0u);
  // No duplicate delivery of p2.
  auto log = r.log();
  EXPECT_EQ(std::count(log.begin(), log.end(), "set IPPool/p2"), 1);
}

TEST(Syncer, RelistsOnGoneAndEmitsOnlyTheDifference) {
  FakeListWatchSource src;
  src.apply(kind("IPPool"), named("keep", "10.0.0.0/16"));
  src.apply(kind("IPPool"), named("change", "10.1.0.0/16"));
  src.apply(kind("IPPool"), named("vanish", "10.2.0.0/16"));
  Syncer s(src, {&kind("IPPool")}, fastOptions());
  Recorder r;
  s.subscribe(&r);
  s.start();
  ASSERT_TRUE(r.waitFor([&] { return r.inSyncCalls_ == 1; }));
  size_t before = r.log().size();

  // Changes nobody is told about, then the history is compacted and the stream dies: the
  // resumed watch gets 410 Gone and the syncer relists.
  src.applySilently(kind("IPPool"), named("change", "10.9.0.0/16"));
  src.removeSilently(kind("IPPool"), "vanish");
  src.applySilently(kind("IPPool"), named("new", "10.3.0.0/16"));
  src.compact();
  src.closeWatches(Status());
  ASSERT_TRUE(
      r.waitFor([&] { return r.state_.count("IPPool/new") && !r.state_.count("IPPool/vanish"); }));
  EXPECT_EQ(r.state()["IPPool/change"], "10.9.0.0/16");
  auto log = r.log();
  std::vector<std::string> diff(log.begin() + static_cast<long>(before), log.end());
  std::sort(diff.begin(), diff.end());
  // "keep" is unchanged and is not re-emitted.
  EXPECT_EQ(diff,
            (std::vector<std::string>{"del IPPool/vanish", "set IPPool/change", "set IPPool/new"}));
  EXPECT_EQ(s.stats().relists, 1u);
  EXPECT_EQ(r.inSyncCalls_, 1);
}

TEST(Syncer, RelistsOnGoneCloseOfARunningStream) {
  FakeListWatchSource src;
  Syncer s(src, {&kind("IPPool")}, fastOptions());
  Recorder r;
  s.subscribe(&r);
  s.start();
  ASSERT_TRUE(r.waitFor([&] { return r.inSyncCalls_ == 1; }));
  src.applySilently(kind("IPPool"), named("p", "10.0.0.0/16"));
  src.closeWatches(Status(Code::Gone, "too old"));
  ASSERT_TRUE(r.waitFor([&] { return r.state_.count("IPPool/p") == 1; }));
  EXPECT_GE(s.stats().relists, 1u);
}

TEST(Syncer, RepeatedWatchFailuresLeadToRelist) {
  FakeListWatchSource src;
  Syncer s(src, {&kind("IPPool")}, fastOptions());
  Recorder r;
  s.subscribe(&r);
  s.start();
  ASSERT_TRUE(r.waitFor([&] { return r.inSyncCalls_ == 1; }));
  src.failWatches(3);
  src.closeWatches(Status(Code::Unavailable, "connection reset"));
  src.apply(kind("IPPool"), named("p", "10.0.0.0/16"));
  ASSERT_TRUE(r.waitFor([&] { return r.state_.count("IPPool/p") == 1; }));
  EXPECT_GE(s.stats().relists, 1u);
  EXPECT_GE(src.watchCalls(), 4);
}

TEST(Syncer, SubscribersSeeOnlyTheirKinds) {
  FakeListWatchSource src;
  src.apply(kind("IPPool"), named("p", "10.0.0.0/16"));
  src.apply(kind("Node"), named("n", ""));
  Syncer s(src, {&kind("IPPool"), &kind("Node")}, fastOptions());
  Recorder pools, all;
  s.subscribe(&pools, {&kind("IPPool")});
  s.subscribe(&all);
  s.start();
  ASSERT_TRUE(pools.waitFor([&] { return pools.inSyncCalls_ == 1; }));
  ASSERT_TRUE(all.waitFor([&] { return all.inSyncCalls_ == 1; }));
  src.apply(kind("Node"), named("n2", ""));
  ASSERT_TRUE(all.waitFor([&] { return all.state_.size() == 3; }));
  s.stop();
  EXPECT_EQ(pools.state(), (std::map<std::string, std::string>{{"IPPool/p", "10.0.0.0/16"}}));
}

// Callbacks may read the cache; it holds what was delivered.
class CacheReader : public SyncerCallbacks {
public:
  explicit CacheReader(Syncer*& s) : s_(s) {}
  void onUpdates(const std::vector<Update>&) override {}
  void onInSync() override {
    const auto* objs = s_->objects(kind("IPPool"));
    std::lock_guard<std::mutex> lock(mu);
    size = objs ? objs->size() : 999;
    done = true;
    cv.notify_all();
  }
  Syncer*& s_;
  std::mutex mu;
  std::condition_variable cv;
  size_t size = 0;
  bool done = false;
};

TEST(Syncer, CacheIsReadableFromCallbacks) {
  FakeListWatchSource src;
  src.apply(kind("IPPool"), named("a", "10.0.0.0/16"));
  src.apply(kind("IPPool"), named("b", "10.1.0.0/16"));
  Syncer* sp = nullptr;
  CacheReader cr(sp);
  Syncer s(src, {&kind("IPPool")}, fastOptions());
  sp = &s;
  s.subscribe(&cr);
  s.start();
  std::unique_lock<std::mutex> lock(cr.mu);
  ASSERT_TRUE(cr.cv.wait_for(lock, 5s, [&] { return cr.done; }));
  EXPECT_EQ(cr.size, 2u);
}

TEST(Syncer, StopIsIdempotentAndEndsWatches) {
  FakeListWatchSource src;
  Syncer s(src, {&kind("IPPool"), &kind("Node")}, fastOptions());
  Recorder r;
  s.subscribe(&r);
  s.start();
  ASSERT_TRUE(r.waitFor([&] { return r.inSyncCalls_ == 1; }));
  EXPECT_EQ(src.openWatches(), 2);
  s.stop();
  s.stop();
  EXPECT_EQ(src.openWatches(), 0);
  src.apply(kind("IPPool"), named("late", "10.0.0.0/16"));
  EXPECT_FALSE(r.state().count("IPPool/late"));
}

} // namespace
} // namespace caracal::felix
