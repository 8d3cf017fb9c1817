#include "felix/calc/policy_resolver.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <random>

namespace caracal::felix::calc {
namespace {

using Results = std::map<std::string, EndpointPolicies>;

class ResolverTest : public ::testing::Test {
protected:
  ResolverTest()
      : r_([this](const std::string& id, const EndpointPolicies* p) {
          calls_++;
          if (p) {
            seen_[id] = *p;
          } else {
            seen_.erase(id);
          }
        }) {}

  static PolicySpec pol(const std::string& tier, std::optional<double> order, bool in = true,
                        bool eg = false) {
    return PolicySpec{tier, order, in, eg};
  }
  std::vector<std::string> ingressOf(const std::string& ep, size_t tierIndex = 0) {
    const EndpointPolicies* p = r_.policiesFor(ep);
    if (!p || p->ingress.size() <= tierIndex) {
      return {};
    }
    return p->ingress[tierIndex].policies;
  }

  PolicyResolver r_;
  Results seen_;
  int calls_ = 0;
};

TEST_F(ResolverTest, EndpointWithoutPoliciesHasOnlyProfiles) {
  r_.updateEndpoint("ep1", {"kns.x", "ksa.x.default"});
  r_.flush();
  ASSERT_NE(r_.policiesFor("ep1"), nullptr);
  EXPECT_TRUE(r_.policiesFor("ep1")->ingress.empty());
  EXPECT_TRUE(r_.policiesFor("ep1")->egress.empty());
  EXPECT_EQ(r_.policiesFor("ep1")->profiles, (std::vector<std::string>{"kns.x", "ksa.x.default"}));
  EXPECT_EQ(calls_, 1);
}

TEST_F(ResolverTest, PoliciesOrderedByOrderThenIdUnsetLast) {
  r_.updateEndpoint("ep1", {});
  r_.updatePolicy("np/x/b", pol("default", 100));
  r_.updatePolicy("np/x/a", pol("default", 100));
  r_.updatePolicy("np/x/first", pol("default", 1));
  r_.updatePolicy("np/x/unset", pol("default", std::nullopt));
  r_.updatePolicy("np/x/huge", pol("default", 1e9));
  for (const char* p : {"np/x/b", "np/x/a", "np/x/first", "np/x/unset", "np/x/huge"}) {
    r_.onMatchStarted(p, "ep1");
  }
  r_.flush();
  EXPECT_EQ(ingressOf("ep1"), (std::vector<std::string>{"np/x/first", "np/x/a", "np/x/b",
                                                        "np/x/huge", "np/x/unset"}));
  EXPECT_EQ(r_.policiesFor("ep1")->ingress[0].defaultAction, "Deny");
}

TEST_F(ResolverTest, TiersInOrderBuiltInsIncluded) {
  r_.updateEndpoint("ep1", {});
  r_.updateTier("security", TierSpec{10, "Pass"});
  r_.updatePolicy("gnp/sec", pol("security", 1));
  r_.updatePolicy("np/x/app", pol("default", 1));
  r_.updatePolicy("gnp/admin", pol("kube-admin", 1));
  r_.updatePolicy("gnp/base", pol("kube-baseline", 1));
  for (const char* p : {"gnp/sec", "np/x/app", "gnp/admin", "gnp/base"}) {
    r_.onMatchStarted(p, "ep1");
  }
  r_.flush();
  const auto& in = r_.policiesFor("ep1")->ingress;
  ASSERT_EQ(in.size(), 4u);
  EXPECT_EQ(in[0], (TierPolicies{"security", "Pass", {"gnp/sec"}}));
  EXPECT_EQ(in[1], (TierPolicies{"kube-admin", "Pass", {"gnp/admin"}}));
  EXPECT_EQ(in[2], (TierPolicies{"default", "Deny", {"np/x/app"}}));
  EXPECT_EQ(in[3], (TierPolicies{"kube-baseline", "Pass", {"gnp/base"}}));

  // Reordering a tier moves its policies; only ep1 is recomputed.
  calls_ = 0;
  r_.updateTier("security", TierSpec{2e7, "Deny"});
  r_.flush();
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(r_.policiesFor("ep1")->ingress.back(), (TierPolicies{"security", "Deny", {"gnp/sec"}}));
}

TEST_F(ResolverTest, PolicyInAMissingTierAppliesNowhereUntilTheTierExists) {
  r_.updateEndpoint("ep1", {});
  r_.updatePolicy("gnp/p", pol("later", 1));
  r_.onMatchStarted("gnp/p", "ep1");
  r_.flush();
  EXPECT_TRUE(r_.policiesFor("ep1")->ingress.empty());
  r_.updateTier("later", TierSpec{5, "Deny"});
  r_.flush();
  EXPECT_EQ(ingressOf("ep1"), std::vector<std::string>{"gnp/p"});
  r_.deleteTier("later");
  r_.flush();
  EXPECT_TRUE(r_.policiesFor("ep1")->ingress.empty());
}

TEST_F(ResolverTest, DirectionsFollowTheTypes) {
  r_.updateEndpoint("ep1", {});
  r_.updatePolicy("np/x/in", pol("default", 1, true, false));
  r_.updatePolicy("np/x/out", pol("default", 2, false, true));
  r_.updatePolicy("np/x/both", pol("default", 3, true, true));
  for (const char* p : {"np/x/in", "np/x/out", "np/x/both"}) {
    r_.onMatchStarted(p, "ep1");
  }
  r_.flush();
  const EndpointPolicies* p = r_.policiesFor("ep1");
  ASSERT_EQ(p->ingress.size(), 1u);
  ASSERT_EQ(p->egress.size(), 1u);
  EXPECT_EQ(p->ingress[0].policies, (std::vector<std::string>{"np/x/in", "np/x/both"}));
  EXPECT_EQ(p->egress[0].policies, (std::vector<std::string>{"np/x/out", "np/x/both"}));
  // An egress-only endpoint set: ingress has no tier, so profiles decide ingress.
  r_.onMatchStopped("np/x/in", "ep1");
  r_.onMatchStopped("np/x/both", "ep1");
  r_.flush();
  EXPECT_TRUE(r_.policiesFor("ep1")->ingress.empty());
  EXPECT_EQ(r_.policiesFor("ep1")->egress[0].policies, std::vector<std::string>{"np/x/out"});
}

TEST_F(ResolverTest, OnlyChangedEndpointsAreReported) {
  r_.updateEndpoint("ep1", {});
  r_.updateEndpoint("ep2", {});
  r_.updatePolicy("np/x/a", pol("default", 1));
  r_.updatePolicy("np/x/b", pol("default", 2));
  r_.onMatchStarted("np/x/a", "ep1");
  r_.onMatchStarted("np/x/b", "ep2");
  r_.flush();
  calls_ = 0;
  r_.updatePolicy("np/x/a", pol("default", 5)); // ep1 only; its list is unchanged (one policy)
  r_.flush();
  EXPECT_EQ(calls_, 0);
  r_.updatePolicy("np/x/a", pol("default", 5)); // identical: nothing marked
  r_.flush();
  EXPECT_EQ(calls_, 0);
  r_.onMatchStarted("np/x/a", "ep2"); // ep2 gains a policy before b
  r_.flush();
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(ingressOf("ep2"), (std::vector<std::string>{"np/x/b", "np/x/a"}));
}

TEST_F(ResolverTest, MatchesBeforeSpecsAndDeletions) {
  r_.onMatchStarted("np/x/a", "ep1"); // the label index may speak first
  r_.updateEndpoint("ep1", {"kns.x"});
  r_.flush();
  EXPECT_TRUE(r_.policiesFor("ep1")->ingress.empty());
  r_.updatePolicy("np/x/a", pol("default", 1));
  r_.flush();
  EXPECT_EQ(ingressOf("ep1"), std::vector<std::string>{"np/x/a"});
  r_.deletePolicy("np/x/a");
  r_.flush();
  EXPECT_TRUE(r_.policiesFor("ep1")->ingress.empty());
  r_.deleteEndpoint("ep1");
  r_.flush();
  EXPECT_EQ(r_.policiesFor("ep1"), nullptr);
  EXPECT_EQ(seen_.count("ep1"), 0u) << "a deleted endpoint is reported as null";
}

// The same final state reached through operations in different orders gives the same result.
TEST(ResolverReplay, OrderOfUpdatesDoesNotMatter) {
  struct Op {
    int kind; // 0 tier, 1 policy, 2 endpoint, 3 match
    std::string a, b;
    double order;
  };
  std::mt19937 rng(7);
  std::vector<Op> ops;
  const std::vector<std::string> tiers = {"t1", "t2", "default"};
  for (int t = 0; t < 2; ++t) {
    ops.push_back({0, tiers[t], "", double(rng() % 100)});
  }
  for (int p = 0; p < 12; ++p) {
    ops.push_back({1, "p" + std::to_string(p), tiers[rng() % tiers.size()], double(rng() % 5)});
  }
  for (int e = 0; e < 6; ++e) {
    ops.push_back({2, "e" + std::to_string(e), "", 0});
  }
  for (int m = 0; m < 30; ++m) {
    ops.push_back({3, "p" + std::to_string(rng() % 12), "e" + std::to_string(rng() % 6), 0});
  }
  auto run = [&](std::vector<Op> seq, bool flushEach) {
    Results out;
    PolicyResolver r([&](const std::string& id, const EndpointPolicies* p) {
      if (p) {
        out[id] = *p;
      } else {
        out.erase(id);
      }
    });
    for (const Op& op : seq) {
      switch (op.kind) {
      case 0:
        r.updateTier(op.a, TierSpec{op.order, "Deny"});
        break;
      case 1:
        r.updatePolicy(op.a, PolicySpec{op.b, op.order, true, op.order > 2});
        break;
      case 2:
        r.updateEndpoint(op.a, {"kns." + op.a});
        break;
      default:
        r.onMatchStarted(op.a, op.b);
      }
      if (flushEach) {
        r.flush();
      }
    }
    r.flush();
    return out;
  };
  Results reference = run(ops, false);
  ASSERT_EQ(reference.size(), 6u);
  for (int i = 0; i < 10; ++i) {
    std::vector<Op> shuffled = ops;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    EXPECT_EQ(run(shuffled, i % 2 == 0), reference) << "shuffle " << i;
  }
}

} // namespace
} // namespace caracal::felix::calc
