#include "api/testing/objects.h"
#include "felix/calc/policy_calc.h"

#include <gtest/gtest.h>

namespace caracal::felix::calc {
namespace {

using api::testutil::calico;
using api::testutil::core;
using api::testutil::yaml;

class PolicyCalcTest : public ::testing::Test {
protected:
  PolicyCalcTest() : calc_("node1") {
    ns("x", "{team: red}");
    ns("y", "{team: blue}");
    wep("x", "a", "node1", "calia", "10.0.0.1", "{pod: a}");
    wep("x", "b", "node2", "calib", "10.0.0.2", "{pod: b}");
    wep("y", "c", "node2", "calic", "10.0.0.3", "{pod: c}");
  }

  void ns(const std::string& name, const std::string& labels) {
    Value v = yaml("metadata: {name: " + name + ", labels: " + labels + "}");
    calc_.onUpdate(core("Namespace"), name, &v);
  }
  void wep(const std::string& ns, const std::string& pod, const std::string& node,
           const std::string& iface, const std::string& ip, const std::string& labels) {
    Value v = yaml("metadata: {name: " + node + "-k8s-" + pod + "-eth0, namespace: " + ns +
                   ", labels: " + labels + "}\nspec: {node: " + node + ", interfaceName: " + iface +
                   ", ipNetworks: [" + ip + "/32], profiles: [kns." + ns + "]}");
    calc_.onUpdate(calico("WorkloadEndpoint"), ns + "/" + node + "-k8s-" + pod + "-eth0", &v);
  }
  void np(const std::string& ns, const std::string& name, const std::string& spec) {
    Value v = yaml("metadata: {name: " + name + ", namespace: " + ns + "}\nspec: " + spec);
    calc_.onUpdate(calico("NetworkPolicy"), ns + "/" + name, &v);
  }

  // Members of every set that some chain references, v4 only, by the chains' view.
  std::set<std::string> membersOf(const PolicyDataplane& d, const std::string& chainKey) {
    std::set<std::string> out;
    auto it = d.policyChains.find(chainKey);
    if (it == d.policyChains.end()) {
      return out;
    }
    for (const policy::CompiledRule& r : it->second.rules) {
      for (const policy::EntityMatch* m : {&r.source, &r.destination}) {
        if (m->selector) {
          auto s = d.sets.find(m->selector->name);
          if (s != d.sets.end()) {
            out.insert(s->second.members.begin(), s->second.members.end());
          }
        }
      }
    }
    return out;
  }

  PolicyCalc calc_;
};

TEST_F(PolicyCalcTest, LocalEndpointGetsChainsPolicyAndSetMembers) {
  np("x", "allow-b",
     "{selector: pod == 'a', types: [Ingress], ingress: [{action: Allow, "
     "protocol: TCP, source: {selector: pod == 'b'}, destination: {ports: [80]}}]}");
  PolicyDataplane d = calc_.compute();
  EXPECT_TRUE(d.problems.empty());
  // Only node1's endpoint gets endpoint chains.
  ASSERT_EQ(d.endpointChains.size(), 2u);
  const auto& in = d.endpointChains.at("calia|ingress");
  ASSERT_EQ(in.tiers.size(), 1u);
  EXPECT_EQ(in.tiers[0].name, "default");
  EXPECT_EQ(in.tiers[0].policyIds, std::vector<std::string>{"np/x/allow-b"});
  EXPECT_EQ(in.tiers[0].defaultAction, policy::TierDefault::Deny);
  EXPECT_EQ(in.profileIds, std::vector<std::string>{"kns.x"});
  EXPECT_TRUE(d.endpointChains.at("calia|egress").tiers.empty()) << "egress: profiles decide";
  ASSERT_TRUE(d.policyChains.count("np/x/allow-b|ingress"));
  ASSERT_TRUE(d.policyChains.count("kns.x|ingress"));
  EXPECT_EQ(membersOf(d, "np/x/allow-b|ingress"), (std::set<std::string>{"10.0.0.2/32"}));

  // b's label changes: it leaves the set; c (other namespace) never enters it.
  wep("x", "b", "node2", "calib", "10.0.0.2", "{pod: z}");
  wep("y", "c", "node2", "calic", "10.0.0.3", "{pod: b}");
  d = calc_.compute();
  EXPECT_TRUE(membersOf(d, "np/x/allow-b|ingress").empty());
  wep("x", "b2", "node2", "calib2", "10.0.0.4", "{pod: b}");
  d = calc_.compute();
  EXPECT_EQ(membersOf(d, "np/x/allow-b|ingress"), (std::set<std::string>{"10.0.0.4/32"}));

  // Deleting the policy removes its chain and its sets.
  calc_.onUpdate(calico("NetworkPolicy"), "x/allow-b", nullptr);
  d = calc_.compute();
  EXPECT_FALSE(d.policyChains.count("np/x/allow-b|ingress"));
  EXPECT_TRUE(d.endpointChains.at("calia|ingress").tiers.empty());
  for (const auto& [name, s] : d.sets) {
    EXPECT_TRUE(s.ref.name.rfind("net", 0) == 0) << "selector set left behind: " << name;
  }
}

TEST_F(PolicyCalcTest, NamespaceSelectorUsesNamespaceLabels) {
  np("x", "from-blue",
     "{selector: all(), ingress: [{action: Allow, source: {namespaceSelector: "
     "team == 'blue'}}]}");
  PolicyDataplane d = calc_.compute();
  EXPECT_EQ(membersOf(d, "np/x/from-blue|ingress"), (std::set<std::string>{"10.0.0.3/32"}));
  ns("x", "{team: blue}"); // x's pods join through their profile's labels
  d = calc_.compute();
  EXPECT_EQ(membersOf(d, "np/x/from-blue|ingress"),
            (std::set<std::string>{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"}));
}

TEST_F(PolicyCalcTest, TiersOrderAndBadPoliciesAreReportedNotApplied) {
  Value tier = yaml("metadata: {name: security}\nspec: {order: 10, defaultAction: Pass}");
  calc_.onUpdate(calico("Tier"), "security", &tier);
  Value gnp = yaml("metadata: {name: deny-ssh}\nspec: {tier: security, order: 1, selector: "
                   "all(), types: [Ingress], ingress: [{action: Deny, protocol: TCP, "
                   "destination: {ports: [22]}}, {action: Pass}]}");
  calc_.onUpdate(calico("GlobalNetworkPolicy"), "deny-ssh", &gnp);
  np("x", "web", "{selector: pod == 'a', ingress: [{action: Allow}]}");
  np("x", "broken",
     "{selector: pod == 'a', ingress: [{action: Allow, protocol: ICMP, "
     "destination: {ports: [80]}}]}");
  PolicyDataplane d = calc_.compute();
  const auto& in = d.endpointChains.at("calia|ingress");
  ASSERT_EQ(in.tiers.size(), 2u);
  EXPECT_EQ(in.tiers[0].name, "security");
  EXPECT_EQ(in.tiers[0].defaultAction, policy::TierDefault::Pass);
  EXPECT_EQ(in.tiers[0].policyIds, std::vector<std::string>{"gnp/deny-ssh"});
  EXPECT_EQ(in.tiers[1].policyIds, std::vector<std::string>{"np/x/web"}) << "broken is left out";
  ASSERT_TRUE(d.problems.count("np/x/broken"));
  EXPECT_NE(d.problems.at("np/x/broken").find("ingress[0]"), std::string::npos)
      << d.problems.at("np/x/broken");
  EXPECT_FALSE(d.policyChains.count("np/x/broken|ingress"));
}

TEST_F(PolicyCalcTest, UnrelatedLabelChangeEvaluatesFewSelectors) {
  for (int i = 0; i < 50; ++i) {
    np("x", "p" + std::to_string(i),
       "{selector: app == 'x" + std::to_string(i) + "', ingress: [{action: Allow}]}");
  }
  calc_.compute();
  uint64_t before = calc_.selectorEvaluations();
  wep("x", "a", "node1", "calia", "10.0.0.1", "{pod: a, color: green}");
  calc_.compute();
  EXPECT_EQ(calc_.selectorEvaluations() - before, 0u) << "no selector names `color`";
  before = calc_.selectorEvaluations();
  wep("x", "a", "node1", "calia", "10.0.0.1", "{pod: a, color: green, app: x7}");
  PolicyDataplane d = calc_.compute();
  EXPECT_LE(calc_.selectorEvaluations() - before, 50u) << "only the selectors naming `app`";
  EXPECT_EQ(d.endpointChains.at("calia|ingress").tiers[0].policyIds,
            std::vector<std::string>{"np/x/p7"});
}

} // namespace
} // namespace caracal::felix::calc
