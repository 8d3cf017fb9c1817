// PolicyManager over the fake watch source with a fake writer: nothing is written before the
// syncer is in sync, updates become applies of the desired state, a failing writer is retried
// with a resync, and problems do not stop the rest.

#include "api/testing/objects.h"
#include "felix/fake_source.h"
#include "felix/policy_manager.h"

#include <atomic>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>

namespace caracal::felix {
namespace {

using api::testutil::calico;
using api::testutil::core;
using api::testutil::yaml;

template <typename Pred> bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class FakeWriter : public PolicyWriter {
public:
  // Like the nftables writer: follows the deltas, takes the whole state after a failure or a
  // resync; counts the deltas that did not lead to the state.
  Status apply(const policy::Dataplane& state, const policy::DataplaneDelta& delta) override {
    std::lock_guard lock(mu);
    applies++;
    if (failNext > 0) {
      failNext--;
      full = true;
      return Status(Code::Unavailable, "kernel busy");
    }
    if (full) {
      last = state;
      full = false;
    } else {
      policy::applyDelta(last, delta);
      deltaMismatches += last == state ? 0 : 1;
    }
    return Status();
  }
  void markForResync() override {
    std::lock_guard lock(mu);
    resyncs++;
    full = true;
  }
  policy::Dataplane snapshot() {
    std::lock_guard lock(mu);
    return last;
  }
  std::mutex mu;
  policy::Dataplane last;
  int applies = 0;
  int resyncs = 0;
  int failNext = 0;
  bool full = true;
  int deltaMismatches = 0;
};

class PolicyManagerTest : public ::testing::Test {
protected:
  void SetUp() override {
    src_.apply(core("Namespace"), yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}"));
    src_.apply(calico("WorkloadEndpoint"),
               yaml("apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: "
                    "node1-k8s-a-eth0, namespace: x, labels: {pod: a}}\nspec: {node: node1, "
                    "interfaceName: calia, ipNetworks: [10.0.0.1/32], profiles: [kns.x], pod: a, "
                    "endpoint: eth0, orchestrator: k8s}"));
  }
  void TearDown() override {
    if (mgr_) {
      syncer_->stop();
      mgr_->stop();
      std::lock_guard lock(writer_->mu);
      EXPECT_EQ(writer_->deltaMismatches, 0) << "a delta did not lead to the state handed over";
    }
  }
  void start(int failFirst = 0) {
    auto w = std::make_unique<FakeWriter>();
    w->failNext = failFirst;
    writer_ = w.get();
    syncer_ = std::make_unique<Syncer>(src_, calc::PolicyCalc::kinds());
    PolicyManagerOptions o;
    o.nodeName = "node1";
    o.retryInterval = std::chrono::milliseconds(50);
    mgr_ = std::make_unique<PolicyManager>(o, *syncer_, std::move(w));
    mgr_->start();
    syncer_->start();
  }

  FakeListWatchSource src_;
  std::unique_ptr<Syncer> syncer_;
  std::unique_ptr<PolicyManager> mgr_;
  FakeWriter* writer_ = nullptr;
};

TEST_F(PolicyManagerTest, AppliesDesiredStateAndFollowsUpdates) {
  start();
  ASSERT_TRUE(mgr_->waitApplied(std::chrono::seconds(5)));
  policy::Dataplane d = writer_->snapshot();
  ASSERT_TRUE(d.endpointChains.count("calia|ingress"));
  EXPECT_TRUE(d.endpointChains.at("calia|ingress").tiers.empty());
  EXPECT_EQ(d.endpointChains.at("calia|ingress").profileIds, std::vector<std::string>{"kns.x"});

  src_.apply(calico("NetworkPolicy"),
             yaml("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: deny, "
                  "namespace: x}\nspec: {selector: pod == 'a', types: [Ingress]}"));
  ASSERT_TRUE(eventually([&] {
    policy::Dataplane s = writer_->snapshot();
    return s.endpointChains.count("calia|ingress") &&
           s.endpointChains.at("calia|ingress").tiers.size() == 1;
  }));
  EXPECT_EQ(writer_->snapshot().endpointChains.at("calia|ingress").tiers[0].policyIds,
            std::vector<std::string>{"np/x/deny"});
  src_.remove(calico("NetworkPolicy"), "x/deny");
  ASSERT_TRUE(eventually(
      [&] { return writer_->snapshot().endpointChains.at("calia|ingress").tiers.empty(); }));
}

TEST_F(PolicyManagerTest, FailedApplyIsRetriedWithAResync) {
  start(2);
  ASSERT_TRUE(mgr_->waitApplied(std::chrono::seconds(5)));
  std::lock_guard lock(writer_->mu);
  EXPECT_GE(writer_->applies, 3);
  EXPECT_GE(writer_->resyncs, 2);
  EXPECT_TRUE(writer_->last.endpointChains.count("calia|egress"));
  EXPECT_GE(mgr_->stats().failures, 2u);
}

TEST_F(PolicyManagerTest, NothingBeforeInSync) {
  src_.failLists(3); // the first lists fail: the syncer is not in sync for a while
  start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(writer_->mu);
    EXPECT_EQ(writer_->applies, 0) << "applied from a partial view";
  }
  ASSERT_TRUE(mgr_->waitApplied(std::chrono::seconds(10)));
}

} // namespace
} // namespace caracal::felix
