#include "api/testing/objects.h"
#include "common/strings.h"
#include "felix/calc/policy_calc.h"

#include <gtest/gtest.h>
#include <optional>
#include <random>

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

// ---- deltas -------------------------------------------------------------------------------------

// One datastore update, kept so that it can be replayed into a fresh calculation.
struct Recorded {
  const api::KindInfo* kind;
  std::string key;
  std::optional<Value> obj;
};

// A random update over a small universe: namespaces, service accounts, local and remote
// endpoints (labels, addresses, named ports, interface), policies (some that do not compile),
// tiers, network sets, deletions.
Recorded randomUpdate(std::mt19937& rng) {
  auto pick = [&](std::initializer_list<const char*> xs) {
    return std::string(*(xs.begin() + rng() % xs.size()));
  };
  const std::string ns = pick({"x", "y"});
  const bool del = rng() % 6 == 0;
  auto rec = [&](const api::KindInfo& kind, std::string key, const std::string& text) {
    Recorded r{&kind, std::move(key), std::nullopt};
    if (!del) {
      r.obj = yaml(text);
    }
    return r;
  };
  switch (rng() % 9) {
  case 8:
    return rec(
        calico("GlobalNetworkPolicy"), "hosts",
        "metadata: {name: hosts}\nspec: {selector: \"role == 'node'\", " +
            pick({"", "", "preDNAT: true, ", "doNotTrack: true, "}) +
            "applyOnForward: " + pick({"true", "false"}) +
            ", types: [Ingress, Egress], ingress: [{action: " + pick({"Allow", "Deny"}) +
            "}], egress: [{action: Allow, destination: " + "{selector: \"app == 'web'\"}}]}");
  case 7: {
    const std::string node = pick({"node1", "node2"});
    return rec(calico("HostEndpoint"), "eth0-" + node,
               "metadata: {name: eth0-" + node + ", labels: {role: " + pick({"node", "edge"}) +
                   "}}\nspec: {node: " + node + ", interfaceName: " + pick({"eth0", "eth1"}) +
                   ", expectedIPs: [10.99.0." + pick({"11", "12"}) + "]}");
  }
  case 0:
    return rec(core("Namespace"), ns,
               "metadata: {name: " + ns + ", labels: {team: " + pick({"red", "blue"}) + "}}");
  case 1: {
    const std::string pod = pick({"a", "b", "c", "d"});
    const std::string node = pick({"node1", "node1", "node2"});
    const std::string name = node + "-k8s-" + pod + "-eth0";
    return rec(calico("WorkloadEndpoint"), ns + "/" + name,
               "metadata: {name: " + name + ", namespace: " + ns + ", labels: {pod: " + pod +
                   ", app: " + pick({"web", "db"}) + "}}\nspec: {node: " + node +
                   ", interfaceName: " + pick({"cali", "calo"}) + ns + pod +
                   ", ipNetworks: [10.0." + std::to_string(rng() % 3) + "." +
                   std::to_string(1 + rng() % 4) + "/32], profiles: [kns." + ns +
                   "], ports: [{name: http, protocol: TCP, port: " + pick({"80", "8080"}) + "}]}");
  }
  case 2:
  case 3: {
    const std::string name = pick({"p1", "p2", "p3"});
    const std::string rule =
        pick({"{action: Allow, source: {selector: \"app == 'web'\"}}",
              "{action: Deny, protocol: TCP, destination: {ports: [http]}, source: {selector: "
              "\"pod in {'a', 'b'}\"}}",
              "{action: Pass, source: {namespaceSelector: \"team == 'blue'\"}}",
              "{action: Allow, source: {nets: [10.1.0.0/16]}, destination: {notSelector: "
              "\"has(nothing)\"}}",
              "{action: Allow, protocol: ICMP, destination: {ports: [80]}}", // does not compile
              "{action: Allow, source: {selector: \"role == 'edge'\"}}"});
    return rec(calico("NetworkPolicy"), ns + "/" + name,
               "metadata: {name: " + name + ", namespace: " + ns +
                   "}\nspec: {tier: " + pick({"default", "security"}) +
                   ", order: " + std::to_string(rng() % 3) + ", selector: " +
                   pick({"\"all()\"", "\"pod == 'a'\"", "\"app == 'db'\"", "\"bad ===\""}) +
                   ", types: [Ingress, Egress], ingress: [" + rule + "], egress: [" + rule + "]}");
  }
  case 4:
    return rec(calico("Tier"), "security",
               "metadata: {name: security}\nspec: {order: " + pick({"10", "2000"}) +
                   ", defaultAction: " + pick({"Deny", "Pass"}) + "}");
  case 5:
    return rec(calico("GlobalNetworkSet"), "edge",
               "metadata: {name: edge, labels: {role: " + pick({"edge", "core"}) +
                   "}}\nspec: {nets: [" + pick({"192.168.0.0/24", "10.0.0.0/30"}) + "]}");
  default:
    return rec(core("ServiceAccount"), ns + "/default",
               "metadata: {name: default, namespace: " + ns +
                   ", labels: {tier: " + pick({"fe", "be"}) + "}}");
  }
}

TEST_F(PolicyCalcTest, HostEndpointsGetFailsafePortsAndGlobalPolicies) {
  Value hep = yaml("metadata: {name: node1-eth0, labels: {role: node}}\nspec: {node: node1, "
                   "interfaceName: eth0, expectedIPs: [10.99.0.11]}");
  calc_.onUpdate(calico("HostEndpoint"), "node1-eth0", &hep);
  Value other = yaml("metadata: {name: node2-eth0, labels: {role: node}}\nspec: {node: node2, "
                     "interfaceName: eth0, expectedIPs: [10.99.0.12]}");
  calc_.onUpdate(calico("HostEndpoint"), "node2-eth0", &other);
  PolicyDataplane d = calc_.compute();
  ASSERT_TRUE(d.endpointChains.count("eth0|ingress")) << "only this node's host endpoint";
  const auto& in = d.endpointChains.at("eth0|ingress");
  EXPECT_TRUE(in.host);
  EXPECT_TRUE(in.tiers.empty());
  EXPECT_TRUE(in.profileIds.empty()) << "no policy, no profile: only failsafe ports pass";
  EXPECT_EQ(in.failsafe, policy::defaultFailsafeInbound());
  EXPECT_EQ(d.endpointChains.at("eth0|egress").failsafe, policy::defaultFailsafeOutbound());

  Value gnp = yaml("metadata: {name: ssh-only}\nspec: {selector: role == 'node', types: "
                   "[Ingress], ingress: [{action: Allow, protocol: TCP, destination: {ports: "
                   "[8080]}, source: {selector: role == 'node'}}]}");
  calc_.onUpdate(calico("GlobalNetworkPolicy"), "ssh-only", &gnp);
  np("x", "pods-only", "{selector: all(), ingress: [{action: Allow}]}");
  d = calc_.compute();
  EXPECT_EQ(d.endpointChains.at("eth0|ingress").tiers.at(0).policyIds,
            std::vector<std::string>{"gnp/ssh-only"})
      << "namespaced policies never select host endpoints";
  // Both host endpoints' addresses are members of the rule's set.
  EXPECT_EQ(membersOf(d, "gnp/ssh-only|ingress"),
            (std::set<std::string>{"10.99.0.11/32", "10.99.0.12/32"}));

  Value fc = yaml("metadata: {name: default}\nspec: {failsafeInboundHostPorts: [{protocol: TCP, "
                  "port: 2222}, {protocol: UDP, port: 161, net: 10.1.0.0/16}], "
                  "failsafeOutboundHostPorts: []}");
  calc_.onUpdate(calico("FelixConfiguration"), "default", &fc);
  policy::DataplaneDelta delta = calc_.computeDelta();
  ASSERT_EQ(delta.endpointChains.size(), 2u);
  EXPECT_EQ(
      delta.endpointChains.at("eth0|ingress").failsafe,
      (std::vector<policy::FailsafePort>{{policy::kProtoTcp, 2222},
                                         {policy::kProtoUdp, 161, api::parseCidr("10.1.0.0/16")}}))
      << "net limits the port to that block";
  EXPECT_TRUE(delta.endpointChains.at("eth0|egress").failsafe.empty());

  // applyOnForward: the policy also gets a chain for forwarded traffic, without failsafe ports
  // or profiles; without it there is none (forwarded traffic is not filtered).
  EXPECT_FALSE(calc_.compute().endpointChains.count("eth0|ingress-forward"));
  gnp.set("spec", yaml("{selector: role == 'node', applyOnForward: true, types: [Ingress], "
                       "ingress: [{action: Allow}]}"));
  calc_.onUpdate(calico("GlobalNetworkPolicy"), "ssh-only", &gnp);
  delta = calc_.computeDelta();
  ASSERT_TRUE(delta.endpointChains.count("eth0|ingress-forward"));
  const auto& fwd = delta.endpointChains.at("eth0|ingress-forward");
  EXPECT_TRUE(fwd.host && fwd.hook == policy::HostHook::Forward);
  EXPECT_TRUE(fwd.failsafe.empty());
  EXPECT_EQ(fwd.tiers.at(0).policyIds, std::vector<std::string>{"gnp/ssh-only"});
  EXPECT_FALSE(delta.endpointChains.count("eth0|egress-forward")) << "no egress policy";

  // Deleting the host endpoint removes its chains by their full identity (host, forward), so a
  // writer names the right chains.
  calc_.onUpdate(calico("HostEndpoint"), "node1-eth0", nullptr);
  delta = calc_.computeDelta();
  ASSERT_EQ(delta.endpointChainsRemoved.size(), 3u);
  EXPECT_TRUE(delta.endpointChainsRemoved.at("eth0|ingress").host);
  EXPECT_EQ(delta.endpointChainsRemoved.at("eth0|ingress").hook, policy::HostHook::Local);
  EXPECT_EQ(delta.endpointChainsRemoved.at("eth0|ingress-forward").hook, policy::HostHook::Forward);
}

TEST_F(PolicyCalcTest, PreDnatAndUntrackedPoliciesGetTheirOwnHostEndpointChains) {
  Value hep = yaml("metadata: {name: node1-eth0, labels: {role: node}}\nspec: {node: node1, "
                   "interfaceName: eth0}");
  calc_.onUpdate(calico("HostEndpoint"), "node1-eth0", &hep);
  np("x", "pods", "{selector: all(), ingress: [{action: Allow}]}");
  Value pre = yaml("metadata: {name: nodeports}\nspec: {selector: all(), preDNAT: true, "
                   "applyOnForward: true, order: 10, ingress: [{action: Deny, protocol: TCP, "
                   "destination: {ports: [30080]}}]}");
  calc_.onUpdate(calico("GlobalNetworkPolicy"), "nodeports", &pre);
  Value dnt = yaml("metadata: {name: fast}\nspec: {selector: role == 'node', doNotTrack: true, "
                   "applyOnForward: true, types: [Ingress, Egress], ingress: [{action: Allow, "
                   "protocol: UDP, destination: {ports: [5353]}}], egress: [{action: Allow, "
                   "protocol: UDP, source: {ports: [5353]}}]}");
  calc_.onUpdate(calico("GlobalNetworkPolicy"), "fast", &dnt);
  PolicyDataplane d = calc_.compute();
  EXPECT_TRUE(d.problems.empty());

  // Each policy acts only at its own hook, and only for host endpoints.
  const auto& pre1 = d.endpointChains.at("eth0|ingress-prednat");
  EXPECT_TRUE(pre1.host);
  EXPECT_EQ(pre1.hook, policy::HostHook::PreDnat);
  ASSERT_EQ(pre1.tiers.size(), 1u);
  EXPECT_EQ(pre1.tiers[0].policyIds, std::vector<std::string>{"gnp/nodeports"});
  EXPECT_EQ(pre1.failsafe, policy::defaultFailsafeInbound()) << "failsafe ports first";
  EXPECT_TRUE(pre1.profileIds.empty());
  EXPECT_FALSE(d.endpointChains.count("eth0|egress-prednat")) << "preDNAT is ingress only";
  const auto& unIn = d.endpointChains.at("eth0|ingress-untracked");
  EXPECT_EQ(unIn.hook, policy::HostHook::Untracked);
  EXPECT_EQ(unIn.tiers.at(0).policyIds, std::vector<std::string>{"gnp/fast"});
  EXPECT_EQ(d.endpointChains.at("eth0|egress-untracked").failsafe,
            policy::defaultFailsafeOutbound());
  for (const char* key : {"eth0|ingress", "eth0|egress", "eth0|ingress-forward"}) {
    auto it = d.endpointChains.find(key);
    if (it == d.endpointChains.end()) {
      continue;
    }
    for (const auto& t : it->second.tiers) {
      EXPECT_TRUE(t.policyIds.empty()) << key << ": " << t.policyIds.front();
    }
  }
  EXPECT_FALSE(d.endpointChains.count("eth0|ingress-forward"))
      << "applyOnForward alone does not make preDNAT/untracked policies forward policies";
  for (const auto& [key, spec] : d.endpointChains) {
    if (spec.host) {
      continue;
    }
    for (const auto& t : spec.tiers) {
      for (const auto& id : t.policyIds) {
        EXPECT_NE(id, "gnp/nodeports") << key << ": workloads never take preDNAT policy";
      }
    }
  }
  EXPECT_TRUE(d.policyChains.count("gnp/nodeports|ingress"));
  EXPECT_TRUE(d.policyChains.count("gnp/fast|egress"));

  // Turning the flag off moves the policy to the ordinary chain in one delta.
  pre.set("spec", yaml("{selector: all(), applyOnForward: true, order: 10, ingress: [{action: "
                       "Deny, protocol: TCP, destination: {ports: [30080]}}]}"));
  calc_.onUpdate(calico("GlobalNetworkPolicy"), "nodeports", &pre);
  policy::DataplaneDelta delta = calc_.computeDelta();
  EXPECT_TRUE(delta.endpointChainsRemoved.count("eth0|ingress-prednat"));
  EXPECT_EQ(delta.endpointChainsRemoved.at("eth0|ingress-prednat").hook, policy::HostHook::PreDnat);
  EXPECT_EQ(delta.endpointChains.at("eth0|ingress").tiers.at(0).policyIds,
            std::vector<std::string>{"gnp/nodeports"});
  EXPECT_EQ(delta.endpointChains.at("eth0|ingress-forward").tiers.at(0).policyIds,
            std::vector<std::string>{"gnp/nodeports"});
}

TEST(PolicyCalcDelta, DeltasAddUpToTheWholeState) {
  int stepsWithSets = 0;
  int memberChanges = 0; // of sets that stayed
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    PolicyCalc incremental("node1");
    PolicyDataplane mirror;
    std::vector<Recorded> history;
    for (int step = 0; step < 80; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) {
        history.push_back(randomUpdate(rng));
        const Recorded& u = history.back();
        incremental.onUpdate(*u.kind, u.key, u.obj ? &*u.obj : nullptr);
      }
      policy::DataplaneDelta delta = incremental.computeDelta();
      for (const auto& [name, change] : delta.setMembers) {
        ASSERT_TRUE(mirror.sets.count(name)) << name << ": members of a set not created";
        for (const auto& m : change.added) {
          EXPECT_FALSE(mirror.sets[name].members.count(m)) << name << " " << m << " added twice";
        }
        for (const auto& m : change.removed) {
          EXPECT_TRUE(mirror.sets[name].members.count(m)) << name << " " << m << " not there";
        }
      }
      for (const auto& [key, chain] : delta.policyChainsRemoved) {
        EXPECT_TRUE(mirror.policyChains.count(key)) << key << " removed but never added";
      }
      policy::applyDelta(mirror, delta);
      stepsWithSets += mirror.sets.empty() ? 0 : 1;
      memberChanges += static_cast<int>(delta.setMembers.size());
      PolicyCalc fresh("node1");
      for (const Recorded& u : history) {
        fresh.onUpdate(*u.kind, u.key, u.obj ? &*u.obj : nullptr);
      }
      PolicyDataplane want = fresh.compute();
      ASSERT_EQ(mirror.endpointChains.size(), want.endpointChains.size());
      auto describe = [](const policy::EndpointChainSpec& e) {
        std::string out = e.interfaceName + ":";
        for (const auto& t : e.tiers) {
          out += " " + t.name + "[" + join(t.policyIds, ",") + "]";
        }
        return out + " profiles[" + join(e.profileIds, ",") + "]";
      };
      for (const auto& [key, spec] : want.endpointChains) {
        auto it = mirror.endpointChains.find(key);
        EXPECT_TRUE(it != mirror.endpointChains.end() && it->second == spec)
            << key << ": want " << describe(spec) << "; have "
            << (it == mirror.endpointChains.end() ? "nothing" : describe(it->second));
      }
      EXPECT_TRUE(mirror.policyChains == want.policyChains);
      for (const auto& [name, set] : want.sets) {
        auto it = mirror.sets.find(name);
        EXPECT_TRUE(it != mirror.sets.end() && it->second == set)
            << name << ": want "
            << join(std::vector<std::string>(set.members.begin(), set.members.end()), ",")
            << (it == mirror.sets.end() ? " (missing)" : "");
      }
      EXPECT_EQ(mirror.sets.size(), want.sets.size());
      EXPECT_EQ(mirror.problems, want.problems);
      ASSERT_TRUE(mirror == want);
      EXPECT_TRUE(incremental.computeDelta().empty()) << "a second call has nothing new";
    }
  }
  EXPECT_GT(stepsWithSets, 200) << "the sequences exercised sets";
  EXPECT_GT(memberChanges, 20) << "and member changes of kept sets";
}

TEST_F(PolicyCalcTest, OneLabelChangeIsASmallDelta) {
  for (int i = 0; i < 200; ++i) {
    np("x", "p" + std::to_string(i),
       "{selector: all(), ingress: [{action: Allow, source: {selector: app == 'x" +
           std::to_string(i) + "'}}]}");
  }
  policy::DataplaneDelta first = calc_.computeDelta();
  EXPECT_EQ(first.policyChains.size(), 400u + 2u); // 200 policies, the kns.x profile
  EXPECT_EQ(first.setsCreated.size(), 400u);       // IPv4 and IPv6
  wep("x", "b", "node2", "calib", "10.0.0.2", "{pod: b, app: x7}");
  policy::DataplaneDelta d = calc_.computeDelta();
  EXPECT_TRUE(d.policyChains.empty());
  EXPECT_TRUE(d.endpointChains.empty());
  ASSERT_EQ(d.setMembers.size(), 1u);
  EXPECT_EQ(d.setMembers.begin()->second.added, (std::set<std::string>{"10.0.0.2/32"}));
  np("x", "p3", "{selector: pod == 'nobody', ingress: [{action: Allow}]}");
  d = calc_.computeDelta();
  EXPECT_TRUE(d.policyChains.empty());
  ASSERT_EQ(d.policyChainsRemoved.size(), 2u);
  EXPECT_EQ(d.endpointChains.size(), 1u) << "calia's ingress chain no longer names p3";
  EXPECT_EQ(d.setsRemoved.size(), 2u);
}

} // namespace
} // namespace caracal::felix::calc
