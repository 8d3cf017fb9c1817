#include "api/testing/objects.h"
#include "felix/calc/items.h"

#include <gtest/gtest.h>

namespace caracal::felix::calc {
namespace {

using api::testutil::yaml;

TEST(Items, WorkloadEndpoint) {
  auto it = workloadEndpointItem(yaml(R"(
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-web--0-eth0
  namespace: shop
  labels: {app: web, projectcalico.org/namespace: shop, projectcalico.org/orchestrator: k8s}
spec:
  node: node1
  interfaceName: cali0123456789a
  ipNetworks: [10.244.0.5/32]
  profiles: [kns.shop, ksa.shop.default]
  ports:
  - {name: http, protocol: TCP, port: 8080}
  - {name: dns, protocol: UDP, port: 53}
  - {name: broken, protocol: TCP, port: 0}
)"));
  ASSERT_TRUE(it);
  EXPECT_EQ(it->id, "wep/shop/node1-k8s-web--0-eth0");
  EXPECT_EQ(it->labels.at("app"), "web");
  EXPECT_EQ(it->labels.at("projectcalico.org/namespace"), "shop");
  EXPECT_EQ(it->parents, (std::vector<std::string>{"kns.shop", "ksa.shop.default"}));
  EXPECT_EQ(it->nets, std::vector<std::string>{"10.244.0.5/32"});
  ASSERT_EQ(it->ports.size(), 2u);
  EXPECT_EQ(it->ports[0], (NamedPort{"http", "TCP", 8080}));
  EXPECT_EQ(it->ports[1], (NamedPort{"dns", "UDP", 53}));
  EXPECT_EQ(it->node, "node1");
  EXPECT_EQ(it->interfaceName, "cali0123456789a");
  EXPECT_FALSE(workloadEndpointItem(yaml("metadata: {name: x}")));
}

TEST(Items, HostEndpointAndNetworkSets) {
  auto hep = hostEndpointItem(yaml(R"(
metadata: {name: node1-eth0, labels: {role: node}}
spec: {node: node1, interfaceName: eth0, expectedIPs: [10.99.0.11, 'fd00::11'], profiles: [p1]}
)"));
  ASSERT_TRUE(hep);
  EXPECT_EQ(hep->id, "hep/node1-eth0");
  EXPECT_EQ(hep->nets, (std::vector<std::string>{"10.99.0.11/32", "fd00::11/128"}));
  EXPECT_EQ(hep->labels.count("projectcalico.org/namespace"), 0u);

  auto ns = networkSetItem(yaml(R"(
kind: NetworkSet
metadata: {name: partners, namespace: shop, labels: {kind: ext}}
spec: {nets: [198.51.100.0/24]}
)"));
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->id, "ns/shop/partners");
  EXPECT_EQ(ns->labels.at("projectcalico.org/namespace"), "shop");
  EXPECT_EQ(ns->parents, std::vector<std::string>{"kns.shop"});
  EXPECT_EQ(ns->nets, std::vector<std::string>{"198.51.100.0/24"});

  auto gns = networkSetItem(yaml(R"(
kind: GlobalNetworkSet
metadata: {name: internet, labels: {kind: ext}}
spec: {nets: [0.0.0.0/0]}
)"));
  ASSERT_TRUE(gns);
  EXPECT_EQ(gns->id, "gns/internet");
  EXPECT_TRUE(gns->parents.empty());
  EXPECT_EQ(itemId("GlobalNetworkSet", "internet"), gns->id);
  EXPECT_EQ(itemId("NetworkSet", "shop/partners"), ns->id);
}

TEST(Items, Profiles) {
  auto kns = namespaceProfile(yaml("metadata: {name: shop, labels: {team: a}}"));
  ASSERT_TRUE(kns);
  EXPECT_EQ(kns->id, "kns.shop");
  EXPECT_EQ(kns->labels,
            (api::Labels{{"pcns.projectcalico.org/name", "shop"}, {"pcns.team", "a"}}));
  ASSERT_EQ(kns->ingress.size(), 1u);
  EXPECT_EQ(kns->ingress.asArray()[0].getString("action"), "Allow");
  EXPECT_EQ(kns->egress.size(), 1u);

  auto ksa = serviceAccountProfile(yaml("metadata: {name: api, namespace: shop, labels: {x: y}}"));
  ASSERT_TRUE(ksa);
  EXPECT_EQ(ksa->id, "ksa.shop.api");
  EXPECT_EQ(ksa->labels, (api::Labels{{"pcsa.projectcalico.org/name", "api"}, {"pcsa.x", "y"}}));
  EXPECT_EQ(ksa->ingress.size(), 0u);
  EXPECT_EQ(profileId("ServiceAccount", "shop/api"), "ksa.shop.api");
  EXPECT_EQ(profileId("Namespace", "shop"), "kns.shop");

  auto p = profileFromObject(yaml(R"(
metadata: {name: ext}
spec:
  labelsToApply: {zone: dmz}
  ingress: [{action: Deny}]
)"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->id, "ext");
  EXPECT_EQ(p->labels, (api::Labels{{"zone", "dmz"}}));
  EXPECT_EQ(p->ingress.size(), 1u);
  EXPECT_EQ(p->egress.size(), 0u);
}

} // namespace
} // namespace caracal::felix::calc
