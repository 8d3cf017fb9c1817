#include "api/registry.h"
#include "felix/route_calc.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <random>

namespace caracal::felix {
namespace {

const api::KindInfo& kind(const char* k) {
  const api::KindInfo* info = api::findByKind("projectcalico.org/v3", k);
  EXPECT_NE(info, nullptr) << k;
  return *info;
}

IpNet net(const char* s) { return *api::parseCidr(s); }
IpAddr ip(const char* s) { return *api::parseIp(s); }

struct Feed {
  const api::KindInfo* kind;
  std::string key;
  std::optional<Value> obj;
};

Value nodeObj(const std::string& name, const std::string& ipv4, const std::string& vxlan = "",
              const std::string& mac = "", const std::string& ipip = "") {
  Value o = Value::object();
  o["metadata"]["name"] = name;
  Value& spec = o["spec"];
  spec = Value::object();
  if (!ipv4.empty()) {
    spec["bgp"]["ipv4Address"] = ipv4;
  }
  if (!ipip.empty()) {
    spec["bgp"]["ipv4IPIPTunnelAddr"] = ipip;
  }
  if (!vxlan.empty()) {
    spec["ipv4VXLANTunnelAddr"] = vxlan;
  }
  if (!mac.empty()) {
    spec["vxlanTunnelMACAddr"] = mac;
  }
  return o;
}

Value poolObj(const std::string& cidr, const std::string& ipip, const std::string& vxlan,
              bool nat = false, bool disabled = false) {
  Value o = Value::object();
  o["metadata"]["name"] = "pool";
  o["spec"]["cidr"] = cidr;
  o["spec"]["ipipMode"] = ipip;
  o["spec"]["vxlanMode"] = vxlan;
  o["spec"]["natOutgoing"] = nat;
  o["spec"]["disabled"] = disabled;
  return o;
}

Value blockObj(const std::string& cidr, const std::string& node) {
  Value o = Value::object();
  o["metadata"]["name"] = cidr;
  o["spec"]["cidr"] = cidr;
  if (!node.empty()) {
    o["spec"]["affinity"] = "host:" + node;
  }
  return o;
}

Value wepObj(const std::string& node, const std::string& iface, std::vector<std::string> ips) {
  Value o = Value::object();
  o["spec"]["node"] = node;
  o["spec"]["interfaceName"] = iface;
  Value arr = Value::array();
  for (auto& s : ips) {
    arr.push(s);
  }
  o["spec"]["ipNetworks"] = arr;
  return o;
}

Value felixObj(std::vector<std::pair<std::string, Value>> fields) {
  Value o = Value::object();
  o["spec"] = Value::object();
  for (auto& [k, v] : fields) {
    o["spec"][k] = v;
  }
  return o;
}

class RouteCalcTest : public ::testing::Test {
protected:
  RouteCalcTest() : calc_(CalcConfig{"node1", "eth0", 1500}) {}

  void node(const std::string& name, const std::string& ipv4, const std::string& vxlan = "",
            const std::string& mac = "", const std::string& ipip = "") {
    upd("Node", name, nodeObj(name, ipv4, vxlan, mac, ipip));
  }
  void pool(const std::string& name, const std::string& cidr, const std::string& ipip,
            const std::string& vxlan, bool nat = false, bool disabled = false) {
    upd("IPPool", name, poolObj(cidr, ipip, vxlan, nat, disabled));
  }
  void block(const std::string& cidr, const std::string& node) {
    upd("IPAMBlock", cidr, blockObj(cidr, node));
  }
  void wep(const std::string& key, const std::string& node, const std::string& iface,
           std::vector<std::string> ips) {
    upd("WorkloadEndpoint", key, wepObj(node, iface, std::move(ips)));
  }
  void upd(const char* k, const std::string& key, Value obj) {
    feeds_.push_back(Feed{&kind(k), key, obj});
    calc_.onUpdate(kind(k), key, &obj);
  }
  void del(const char* k, const std::string& key) {
    feeds_.push_back(Feed{&kind(k), key, std::nullopt});
    calc_.onUpdate(kind(k), key, nullptr);
  }

  // The route to `dst`, or nullptr.
  const DesiredRoute* route(const CalcOutput& out, const char* dst) {
    for (const DesiredRoute& r : out.routes) {
      if (r.route.dst == net(dst)) {
        return &r;
      }
    }
    return nullptr;
  }

  // A two-node cluster: node1 10.0.0.1/24 (VTEP 10.244.1.0), node2 10.0.0.2/24 (VTEP
  // 10.244.2.0), node3 10.1.0.3/24 (another subnet, VTEP 10.244.3.0), with affine blocks.
  void cluster(const std::string& ipipMode, const std::string& vxlanMode) {
    node("node1", "10.0.0.1/24", "10.244.1.0", "", "10.244.1.1");
    node("node2", "10.0.0.2/24", "10.244.2.0", "", "10.244.2.1");
    node("node3", "10.1.0.3/24", "10.244.3.0", "", "10.244.3.1");
    pool("default", "10.244.0.0/16", ipipMode, vxlanMode, true);
    block("10.244.1.0/26", "node1");
    block("10.244.2.0/26", "node2");
    block("10.244.3.0/26", "node3");
  }

  RouteCalc calc_;
  std::vector<Feed> feeds_;
};

TEST(VtepMac, DerivedFromSha1OfNodeName) {
  // SHA-1("node1") = f937c37e94...
  EXPECT_EQ(vtepMacForNode("node1"), (netlink::Mac{0x66, 0xf9, 0x37, 0xc3, 0x7e, 0x94}));
}

TEST(EncapMode, Parse) {
  EXPECT_EQ(parseEncapMode("Always"), EncapMode::Always);
  EXPECT_EQ(parseEncapMode("CrossSubnet"), EncapMode::CrossSubnet);
  EXPECT_EQ(parseEncapMode("Never"), EncapMode::Never);
  EXPECT_EQ(parseEncapMode(""), EncapMode::Never);
  EXPECT_STREQ(encapModeName(EncapMode::CrossSubnet), "CrossSubnet");
}

TEST(RouteCalcKinds, AreTheFiveCalicoKinds) {
  auto kinds = routeCalcKinds();
  ASSERT_EQ(kinds.size(), 5u);
  for (const api::KindInfo* k : kinds) {
    EXPECT_EQ(k->group, "projectcalico.org");
  }
}

TEST_F(RouteCalcTest, LocalWorkloadGetsScopeLinkRoute) {
  cluster("Never", "Always");
  wep("ns/node1-k8s-a-eth0", "node1", "cali0123456789a", {"10.244.1.5/32"});
  CalcOutput out = calc_.compute();
  const DesiredRoute* r = route(out, "10.244.1.5/32");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->ifname, "cali0123456789a");
  EXPECT_EQ(r->route.scope, 253);
  EXPECT_EQ(r->route.protocol, netlink::kRouteProtocol);
  EXPECT_EQ(r->route.type, netlink::RouteType::Unicast);
  EXPECT_FALSE(r->route.gateway);
  EXPECT_EQ(r->route.table, 254u);
  ASSERT_EQ(out.workloadInterfaces.size(), 1u);
  EXPECT_EQ(out.workloadInterfaces[0], (LocalInterface{"cali0123456789a", true, false}));
}

TEST_F(RouteCalcTest, LocalWorkloadWithNonCaliInterfaceIsIgnored) {
  cluster("Never", "Always");
  wep("ns/uplink", "node1", "eth0", {"10.244.1.6/32"});
  wep("ns/loop", "node1", "lo", {"10.244.1.7/32"});
  wep("ns/bare", "node1", "cali", {"10.244.1.8/32"});
  wep("ns/good", "node1", "cali0123456789a", {"10.244.1.5/32"});
  // A remote endpoint's interface name is not ours to judge.
  wep("ns/remote", "node2", "eth0", {"10.244.3.9/32"});
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.1.6/32"), nullptr);
  EXPECT_EQ(route(out, "10.244.1.7/32"), nullptr);
  EXPECT_EQ(route(out, "10.244.1.8/32"), nullptr);
  for (const DesiredRoute& r : out.routes) {
    EXPECT_NE(r.ifname, "lo");
    if (r.ifname == "eth0") {
      EXPECT_TRUE(r.route.gateway) << r.route.dst.str(); // only native routes to other nodes
    }
  }
  ASSERT_NE(route(out, "10.244.1.5/32"), nullptr);
  ASSERT_EQ(out.workloadInterfaces.size(), 1u);
  EXPECT_EQ(out.workloadInterfaces[0].name, "cali0123456789a");
  EXPECT_EQ(out.rejectedWorkloads, (std::vector<std::string>{"ns/bare", "ns/loop", "ns/uplink"}));
  ASSERT_NE(route(out, "10.244.3.9/32"), nullptr);
  EXPECT_EQ(route(out, "10.244.3.9/32")->ifname, "vxlan.calico");

  del("WorkloadEndpoint", "ns/uplink");
  del("WorkloadEndpoint", "ns/loop");
  del("WorkloadEndpoint", "ns/bare");
  EXPECT_TRUE(calc_.compute().rejectedWorkloads.empty());
}

TEST_F(RouteCalcTest, LocalIpv6WorkloadRouteHasUniverseScope) {
  wep("ns/a", "node1", "caliv6", {"fd00:10::5/128"});
  CalcOutput out = calc_.compute();
  const DesiredRoute* r = route(out, "fd00:10::5/128");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->route.scope, 0);
  EXPECT_EQ(r->ifname, "caliv6");
  ASSERT_EQ(out.workloadInterfaces.size(), 1u);
  EXPECT_TRUE(out.workloadInterfaces[0].ipv6);
  EXPECT_FALSE(out.workloadInterfaces[0].ipv4);
}

TEST_F(RouteCalcTest, LocalAffineBlockIsBlackholed) {
  cluster("Never", "Always");
  CalcOutput out = calc_.compute();
  const DesiredRoute* r = route(out, "10.244.1.0/26");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->route.type, netlink::RouteType::Blackhole);
  EXPECT_EQ(r->ifname, "");
  EXPECT_FALSE(r->route.gateway);
}

TEST_F(RouteCalcTest, VxlanAlwaysRoutesViaRemoteVtepOnlink) {
  cluster("Never", "Always");
  CalcOutput out = calc_.compute();
  for (const char* dst : {"10.244.2.0/26", "10.244.3.0/26"}) {
    const DesiredRoute* r = route(out, dst);
    ASSERT_NE(r, nullptr) << dst;
    EXPECT_EQ(r->ifname, "vxlan.calico");
    EXPECT_TRUE(r->route.onlink);
  }
  EXPECT_EQ(*route(out, "10.244.2.0/26")->route.gateway, ip("10.244.2.0"));
  EXPECT_EQ(*route(out, "10.244.3.0/26")->route.gateway, ip("10.244.3.0"));
  ASSERT_TRUE(out.vxlan);
  EXPECT_EQ(out.vxlan->vni, 4096u);
  EXPECT_EQ(out.vxlan->port, 4789);
  EXPECT_EQ(out.vxlan->local, ip("10.0.0.1"));
  EXPECT_EQ(out.vxlan->parent, "eth0");
  EXPECT_EQ(out.vxlan->mtu, 1450u);
  EXPECT_EQ(out.vxlan->mac, vtepMacForNode("node1"));
  ASSERT_TRUE(out.vxlan->address);
  EXPECT_EQ(*out.vxlan->address, net("10.244.1.0/32"));
  ASSERT_EQ(out.vxlanPeers.size(), 2u);
  EXPECT_EQ(out.vxlanPeers[0],
            (VxlanPeer{"node2", ip("10.244.2.0"), vtepMacForNode("node2"), ip("10.0.0.2")}));
  EXPECT_EQ(out.vxlanPeers[1].nodeIp, ip("10.1.0.3"));
  EXPECT_FALSE(out.ipip);
  EXPECT_TRUE(out.ipipPeers.empty());
  EXPECT_TRUE(out.vxlanWanted);
  EXPECT_FALSE(out.ipipWanted);
  EXPECT_EQ(out.podMtu, 1450u);
}

TEST_F(RouteCalcTest, VxlanPeerUsesConfiguredMac) {
  cluster("Never", "Always");
  node("node2", "10.0.0.2/24", "10.244.2.0", "aa:bb:cc:dd:ee:01");
  node("node1", "10.0.0.1/24", "10.244.1.0", "aa:bb:cc:dd:ee:00");
  CalcOutput out = calc_.compute();
  ASSERT_TRUE(out.vxlan);
  EXPECT_EQ(out.vxlan->mac, (netlink::Mac{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00}));
  ASSERT_GE(out.vxlanPeers.size(), 1u);
  EXPECT_EQ(out.vxlanPeers[0].vtepMac, (netlink::Mac{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01}));
}

TEST_F(RouteCalcTest, VxlanCrossSubnetGoesNativeInsideTheSubnet) {
  cluster("Never", "CrossSubnet");
  CalcOutput out = calc_.compute();
  const DesiredRoute* same = route(out, "10.244.2.0/26");
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(same->ifname, "eth0");
  EXPECT_EQ(*same->route.gateway, ip("10.0.0.2"));
  EXPECT_FALSE(same->route.onlink);
  const DesiredRoute* other = route(out, "10.244.3.0/26");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->ifname, "vxlan.calico");
  EXPECT_EQ(*other->route.gateway, ip("10.244.3.0"));
  EXPECT_TRUE(other->route.onlink);
  // Every VTEP is still a peer (a CrossSubnet peer may move).
  EXPECT_EQ(out.vxlanPeers.size(), 2u);
}

TEST_F(RouteCalcTest, IpipAlwaysRoutesViaNodeIpOnTunl0) {
  cluster("Always", "Never");
  CalcOutput out = calc_.compute();
  const DesiredRoute* r = route(out, "10.244.2.0/26");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->ifname, "tunl0");
  EXPECT_EQ(*r->route.gateway, ip("10.0.0.2"));
  EXPECT_TRUE(r->route.onlink);
  ASSERT_TRUE(out.ipip);
  EXPECT_EQ(out.ipip->mtu, 1480u);
  EXPECT_EQ(out.ipip->local, ip("10.0.0.1"));
  ASSERT_TRUE(out.ipip->address);
  EXPECT_EQ(*out.ipip->address, net("10.244.1.1/32"));
  ASSERT_EQ(out.ipipPeers.size(), 2u);
  EXPECT_EQ(out.ipipPeers[0], (IpipPeer{net("10.244.2.0/26"), ip("10.0.0.2")}));
  EXPECT_EQ(out.ipipPeers[1], (IpipPeer{net("10.244.3.0/26"), ip("10.1.0.3")}));
  EXPECT_FALSE(out.vxlan);
  EXPECT_TRUE(out.vxlanPeers.empty());
  EXPECT_TRUE(out.ipipWanted);
  EXPECT_EQ(out.podMtu, 1480u);
}

TEST_F(RouteCalcTest, IpipSourcesAreEveryOtherNode) {
  cluster("Always", "Never");
  // node4 is in the cluster but has no block (yet): no route, still an accepted source.
  node("node4", "10.0.0.4/24");
  node("node5", ""); // no address: nothing to accept
  CalcOutput out = calc_.compute();
  EXPECT_EQ(out.ipipPeers.size(), 2u);
  EXPECT_EQ(out.ipipSources, (std::vector<IpAddr>{ip("10.0.0.2"), ip("10.0.0.4"), ip("10.1.0.3")}));

  // CrossSubnet: same-subnet peers are routed natively but may still send IPIP.
  pool("default", "10.244.0.0/16", "CrossSubnet", "Never");
  out = calc_.compute();
  EXPECT_EQ(out.ipipPeers.size(), 1u);
  EXPECT_EQ(out.ipipSources.size(), 3u);

  // No IPIP: no sources.
  pool("default", "10.244.0.0/16", "Never", "Always");
  EXPECT_TRUE(calc_.compute().ipipSources.empty());
}

TEST_F(RouteCalcTest, IpipCrossSubnetBothWays) {
  cluster("CrossSubnet", "Never");
  CalcOutput out = calc_.compute();
  const DesiredRoute* same = route(out, "10.244.2.0/26");
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(same->ifname, "eth0");
  EXPECT_EQ(*same->route.gateway, ip("10.0.0.2"));
  EXPECT_FALSE(same->route.onlink);
  const DesiredRoute* other = route(out, "10.244.3.0/26");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->ifname, "tunl0");
  EXPECT_EQ(*other->route.gateway, ip("10.1.0.3"));
  // Only the tunnelled destination is an IPIP peer.
  ASSERT_EQ(out.ipipPeers.size(), 1u);
  EXPECT_EQ(out.ipipPeers[0].dst, net("10.244.3.0/26"));

  // A node moving into our subnet switches to native routing, and back.
  node("node3", "10.0.0.3/24", "10.244.3.0", "", "10.244.3.1");
  out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.3.0/26")->ifname, "eth0");
  EXPECT_TRUE(out.ipipPeers.empty());
  node("node3", "10.1.0.3/24", "10.244.3.0", "", "10.244.3.1");
  out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.3.0/26")->ifname, "tunl0");
}

TEST_F(RouteCalcTest, Slash32NodeAddressMakesCrossSubnetActAsAlways) {
  cluster("CrossSubnet", "Never");
  node("node1", "10.0.0.1/32", "10.244.1.0", "", "10.244.1.1");
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.2.0/26")->ifname, "tunl0");
  EXPECT_EQ(route(out, "10.244.3.0/26")->ifname, "tunl0");

  // Same for VXLAN.
  pool("default", "10.244.0.0/16", "Never", "CrossSubnet");
  out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.2.0/26")->ifname, "vxlan.calico");
  EXPECT_EQ(route(out, "10.244.3.0/26")->ifname, "vxlan.calico");
}

TEST_F(RouteCalcTest, NeverNeverRoutesOnlyOnLinkPeers) {
  cluster("Never", "Never");
  CalcOutput out = calc_.compute();
  const DesiredRoute* same = route(out, "10.244.2.0/26");
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(same->ifname, "eth0");
  EXPECT_EQ(*same->route.gateway, ip("10.0.0.2"));
  EXPECT_EQ(route(out, "10.244.3.0/26"), nullptr); // off-link: BGP's job
  EXPECT_FALSE(out.vxlan);
  EXPECT_FALSE(out.ipip);
  EXPECT_EQ(out.podMtu, 1500u);
}

TEST(RouteCalcBgp, NeverNeverRoutesLeftToBirdWhenBgpRuns) {
  CalcConfig cfg{"node1", "eth0", 1500};
  cfg.bgpProgramsUnencapsulated = true;
  RouteCalc c(cfg);
  auto up = [&](const char* k, const std::string& key, Value obj) {
    c.onUpdate(kind(k), key, &obj);
  };
  up("Node", "node1", nodeObj("node1", "10.0.0.1/24", "", "", ""));
  up("Node", "node2", nodeObj("node2", "10.0.0.2/24", "", "", ""));
  up("IPPool", "plain", poolObj("10.244.0.0/16", "Never", "Never", false, false));
  up("IPPool", "tunnel", poolObj("10.250.0.0/16", "Never", "CrossSubnet", false, false));
  up("IPAMBlock", "10.244.1.0-26", blockObj("10.244.1.0/26", "node1"));
  up("IPAMBlock", "10.244.2.0-26", blockObj("10.244.2.0/26", "node2"));
  up("IPAMBlock", "10.250.2.0-26", blockObj("10.250.2.0/26", "node2"));
  // A pod on node2 borrowed an address from node1's plain block: BIRD exports that /32.
  up("WorkloadEndpoint", "ns/x", wepObj("node2", "calix", {"10.244.1.9/32"}));
  CalcOutput out = c.compute();
  bool localBlackhole = false;
  for (const DesiredRoute& r : out.routes) {
    EXPECT_NE(r.route.dst, net("10.244.2.0/26")) << "the plain pool's remote block is BIRD's";
    EXPECT_NE(r.route.dst, net("10.244.1.9/32")) << "the borrowed /32 is BIRD's";
    localBlackhole = localBlackhole || r.route.dst == net("10.244.1.0/26");
  }
  EXPECT_TRUE(localBlackhole) << "the local block's blackhole stays felix's";
  // The tunnel pool's CrossSubnet route (native, same subnet) stays felix's.
  bool tunnelPoolRoute = false;
  for (const DesiredRoute& r : out.routes) {
    if (r.route.dst == net("10.250.2.0/26")) {
      tunnelPoolRoute = true;
      EXPECT_EQ(r.ifname, "eth0");
    }
  }
  EXPECT_TRUE(tunnelPoolRoute);
}

TEST_F(RouteCalcTest, BorrowedRemoteAddressGetsSlash32ToItsNode) {
  cluster("Never", "Always");
  // node2's pod got an address from node3's block.
  wep("ns/b", "node2", "calib", {"10.244.3.7/32"});
  // node3's pod from its own block: covered by the block route.
  wep("ns/c", "node3", "calic", {"10.244.3.8/32"});
  // node2's pod borrowed from OUR block.
  wep("ns/d", "node2", "calid", {"10.244.1.9/32"});
  CalcOutput out = calc_.compute();
  const DesiredRoute* b = route(out, "10.244.3.7/32");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->ifname, "vxlan.calico");
  EXPECT_EQ(*b->route.gateway, ip("10.244.2.0"));
  EXPECT_EQ(route(out, "10.244.3.8/32"), nullptr);
  const DesiredRoute* d = route(out, "10.244.1.9/32");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(*d->route.gateway, ip("10.244.2.0"));
  EXPECT_EQ(route(out, "10.244.1.0/26")->route.type, netlink::RouteType::Blackhole);
}

TEST_F(RouteCalcTest, BorrowedFromUnaffinedBlockOrNoBlock) {
  cluster("Always", "Never");
  block("10.244.9.0/26", ""); // no affinity
  wep("ns/x", "node2", "calix", {"10.244.9.1/32"});
  wep("ns/y", "node3", "caliy", {"10.244.200.1/32"}); // no block known at all
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.9.0/26"), nullptr); // a block without affinity has no route
  ASSERT_NE(route(out, "10.244.9.1/32"), nullptr);
  EXPECT_EQ(*route(out, "10.244.9.1/32")->route.gateway, ip("10.0.0.2"));
  ASSERT_NE(route(out, "10.244.200.1/32"), nullptr);
  EXPECT_EQ(route(out, "10.244.200.1/32")->ifname, "tunl0");
  EXPECT_EQ(out.ipipPeers.size(), 4u);
}

TEST_F(RouteCalcTest, LocalWorkloadBorrowedFromRemoteBlockWins) {
  cluster("Never", "Always");
  wep("ns/a", "node1", "calia", {"10.244.2.9/32"});
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.2.9/32")->ifname, "calia");
  EXPECT_EQ(route(out, "10.244.2.0/26")->ifname, "vxlan.calico");
}

TEST_F(RouteCalcTest, LocalWorkloadWinsOverRemoteClaimOfSameAddress) {
  cluster("Never", "Always");
  wep("ns/remote", "node2", "calir", {"10.244.3.9/32"});
  wep("ns/local", "node1", "calil", {"10.244.3.9/32"});
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.3.9/32")->ifname, "calil");
}

TEST_F(RouteCalcTest, RemoteNodeWithoutTunnelAddressYet) {
  cluster("Never", "Always");
  node("node2", "10.0.0.2/24"); // no VTEP yet
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.2.0/26"), nullptr);
  ASSERT_EQ(out.vxlanPeers.size(), 1u);
  EXPECT_EQ(out.vxlanPeers[0].node, "node3");
  node("node2", "10.0.0.2/24", "10.244.2.0");
  out = calc_.compute();
  ASSERT_NE(route(out, "10.244.2.0/26"), nullptr);
  EXPECT_EQ(out.vxlanPeers.size(), 2u);
}

TEST_F(RouteCalcTest, RemoteNodeUnknownOrWithoutAddress) {
  cluster("Always", "Never");
  block("10.244.4.0/26", "node4"); // node4 not registered
  node("node5", "");               // no address
  block("10.244.5.0/26", "node5");
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.4.0/26"), nullptr);
  EXPECT_EQ(route(out, "10.244.5.0/26"), nullptr);
}

TEST_F(RouteCalcTest, LocalNodeWithoutTunnelAddressYet) {
  cluster("Never", "Always");
  node("node1", "10.0.0.1/24");
  CalcOutput out = calc_.compute();
  ASSERT_TRUE(out.vxlan);
  EXPECT_FALSE(out.vxlan->address);
  EXPECT_FALSE(out.localVxlanAddr);
  EXPECT_TRUE(out.vxlanWanted);
  // Remote routes do not depend on our own VTEP address.
  EXPECT_NE(route(out, "10.244.2.0/26"), nullptr);
}

TEST_F(RouteCalcTest, LocalNodeUnknownMeansNoTunnels) {
  node("node2", "10.0.0.2/24", "10.244.2.0");
  pool("default", "10.244.0.0/16", "Never", "Always");
  block("10.244.2.0/26", "node2");
  block("10.244.1.0/26", "node1");
  CalcOutput out = calc_.compute();
  EXPECT_FALSE(out.localNodeKnown);
  EXPECT_FALSE(out.vxlan);
  EXPECT_EQ(route(out, "10.244.2.0/26"), nullptr);
  EXPECT_NE(route(out, "10.244.1.0/26"), nullptr); // the blackhole needs nothing
}

TEST_F(RouteCalcTest, PoolDeleted) {
  cluster("Never", "Always");
  wep("ns/a", "node1", "calia", {"10.244.1.5/32"});
  del("IPPool", "default");
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.2.0/26"), nullptr);
  EXPECT_EQ(route(out, "10.244.3.0/26"), nullptr);
  EXPECT_NE(route(out, "10.244.1.0/26"), nullptr); // our blackhole stays
  EXPECT_NE(route(out, "10.244.1.5/32"), nullptr); // and our pod
  EXPECT_FALSE(out.vxlan);
  EXPECT_TRUE(out.vxlanPeers.empty());
  EXPECT_TRUE(out.natAllPools.empty());
  EXPECT_TRUE(out.natMasqPools.empty());
  EXPECT_FALSE(out.vxlanWanted);
  EXPECT_EQ(out.podMtu, 1500u);
}

TEST_F(RouteCalcTest, DisabledPoolStillRoutesButWantsNoTunnelAddress) {
  cluster("Never", "Always");
  pool("default", "10.244.0.0/16", "Never", "Always", true, /*disabled=*/true);
  CalcOutput out = calc_.compute();
  EXPECT_NE(route(out, "10.244.2.0/26"), nullptr);
  EXPECT_TRUE(out.vxlan);
  EXPECT_FALSE(out.vxlanWanted);
  ASSERT_EQ(out.natMasqPools.size(), 1u);
}

TEST_F(RouteCalcTest, BlockMoves) {
  cluster("Always", "Never");
  // node2's block is re-affined to node3.
  upd("IPAMBlock", "10.244.2.0/26", blockObj("10.244.2.0/26", "node3"));
  CalcOutput out = calc_.compute();
  EXPECT_EQ(*route(out, "10.244.2.0/26")->route.gateway, ip("10.1.0.3"));
  // ... then to us: it becomes a blackhole.
  upd("IPAMBlock", "10.244.2.0/26", blockObj("10.244.2.0/26", "node1"));
  out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.2.0/26")->route.type, netlink::RouteType::Blackhole);
  // ... then released.
  del("IPAMBlock", "10.244.2.0/26");
  out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.2.0/26"), nullptr);
}

TEST_F(RouteCalcTest, DeletedBlockFlagIsIgnored) {
  cluster("Always", "Never");
  Value b = blockObj("10.244.2.0/26", "node2");
  b["spec"]["deleted"] = true;
  upd("IPAMBlock", "10.244.2.0/26", b);
  EXPECT_EQ(route(calc_.compute(), "10.244.2.0/26"), nullptr);
}

TEST_F(RouteCalcTest, WorkloadDeletedAndNodeDeleted) {
  cluster("Never", "Always");
  wep("ns/a", "node1", "calia", {"10.244.1.5/32"});
  wep("ns/b", "node2", "calib", {"10.244.3.7/32"});
  del("WorkloadEndpoint", "ns/a");
  del("Node", "node2");
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.244.1.5/32"), nullptr);
  EXPECT_TRUE(out.workloadInterfaces.empty());
  EXPECT_EQ(route(out, "10.244.2.0/26"), nullptr);
  EXPECT_EQ(route(out, "10.244.3.7/32"), nullptr);
  EXPECT_EQ(out.vxlanPeers.size(), 1u);
}

TEST_F(RouteCalcTest, FelixConfigurationOverrides) {
  cluster("Always", "CrossSubnet");
  upd("FelixConfiguration", "default",
      felixObj({{"vxlanVNI", Value(4097)},
                {"vxlanPort", Value(8472)},
                {"vxlanMTU", Value(1400)},
                {"ipipMTU", Value(1460)}}));
  upd("FelixConfiguration", "node.node1", felixObj({{"vxlanPort", Value(4790)}}));
  upd("FelixConfiguration", "node.node2", felixObj({{"vxlanPort", Value(1)}})); // not ours
  CalcOutput out = calc_.compute();
  ASSERT_TRUE(out.vxlan);
  EXPECT_EQ(out.vxlan->vni, 4097u);
  EXPECT_EQ(out.vxlan->port, 4790);
  EXPECT_EQ(out.vxlan->mtu, 1400u);
  ASSERT_TRUE(out.ipip);
  EXPECT_EQ(out.ipip->mtu, 1460u);
  EXPECT_EQ(out.podMtu, 1400u);
}

TEST_F(RouteCalcTest, FelixConfigurationCanForceVxlanDevice) {
  node("node1", "10.0.0.1/24");
  upd("FelixConfiguration", "default", felixObj({{"vxlanEnabled", Value(true)}}));
  CalcOutput out = calc_.compute();
  EXPECT_TRUE(out.vxlan);
  EXPECT_FALSE(out.vxlanWanted);
}

TEST_F(RouteCalcTest, UnderlayMtuDrivesTunnelMtus) {
  cluster("Never", "Always");
  calc_.setUnderlay("ens3", 9000);
  CalcOutput out = calc_.compute();
  EXPECT_EQ(out.vxlan->mtu, 8950u);
  EXPECT_EQ(out.vxlan->parent, "ens3");
  EXPECT_EQ(out.podMtu, 8950u);
}

TEST_F(RouteCalcTest, NatOutgoingPoolLists) {
  pool("a", "10.244.0.0/16", "Never", "Never", true);
  pool("b", "10.245.0.0/16", "Never", "Never", false);
  pool("c", "fd00:10::/64", "Never", "Never", true);
  CalcOutput out = calc_.compute();
  EXPECT_EQ(out.natMasqPools, (std::vector<IpNet>{net("10.244.0.0/16"), net("fd00:10::/64")}));
  EXPECT_EQ(out.natAllPools,
            (std::vector<IpNet>{net("10.244.0.0/16"), net("10.245.0.0/16"), net("fd00:10::/64")}));
}

TEST_F(RouteCalcTest, SeveralPoolsWithDifferentModes) {
  cluster("Never", "Never");
  pool("vx", "10.250.0.0/16", "Never", "Always");
  pool("ip", "10.251.0.0/16", "Always", "Never");
  block("10.250.2.0/26", "node2");
  block("10.251.2.0/26", "node2");
  CalcOutput out = calc_.compute();
  EXPECT_EQ(route(out, "10.250.2.0/26")->ifname, "vxlan.calico");
  EXPECT_EQ(route(out, "10.251.2.0/26")->ifname, "tunl0");
  EXPECT_EQ(route(out, "10.244.2.0/26")->ifname, "eth0");
  EXPECT_EQ(out.podMtu, 1450u); // the largest overhead in use
}

TEST_F(RouteCalcTest, OutputDoesNotDependOnUpdateOrder) {
  cluster("CrossSubnet", "Never");
  wep("ns/a", "node1", "calia", {"10.244.1.5/32"});
  wep("ns/b", "node2", "calib", {"10.244.3.7/32"});
  wep("ns/c", "node3", "calic", {"10.244.3.8/32"});
  upd("FelixConfiguration", "default", felixObj({{"ipipMTU", Value(1400)}}));
  CalcOutput want = calc_.compute();
  ASSERT_EQ(want.routes.size(), 5u);

  std::vector<Feed> feeds = feeds_;
  auto replay = [&](const std::vector<Feed>& order) {
    RouteCalc c(CalcConfig{"node1", "eth0", 1500});
    for (const Feed& f : order) {
      c.onUpdate(*f.kind, f.key, f.obj ? &*f.obj : nullptr);
    }
    return c.compute();
  };
  std::reverse(feeds.begin(), feeds.end());
  EXPECT_EQ(replay(feeds), want);
  std::mt19937 rng(42);
  for (int i = 0; i < 5; ++i) {
    std::shuffle(feeds.begin(), feeds.end(), rng);
    EXPECT_EQ(replay(feeds), want);
  }
}

TEST_F(RouteCalcTest, IgnoresMalformedAndForeignObjects) {
  cluster("Always", "Never");
  Value bad = Value::object();
  bad["spec"]["cidr"] = "not-a-cidr";
  upd("IPAMBlock", "bad", bad);
  Value badPool = Value::object();
  badPool["spec"]["cidr"] = 42;
  upd("IPPool", "bad", badPool);
  const api::KindInfo* core = api::findByKind("v1", "Node");
  ASSERT_NE(core, nullptr);
  Value coreNode = nodeObj("node2", "10.9.9.9/24");
  calc_.onUpdate(*core, "node2", &coreNode); // a Kubernetes Node: not ours
  CalcOutput out = calc_.compute();
  EXPECT_EQ(*route(out, "10.244.2.0/26")->route.gateway, ip("10.0.0.2"));
  EXPECT_EQ(out.natAllPools.size(), 1u);
}

TEST_F(RouteCalcTest, ManyBlocksAndWorkloadsScale) {
  node("node1", "10.0.0.1/16", "10.200.0.1");
  pool("default", "10.128.0.0/9", "Never", "Always");
  for (int n = 2; n < 202; ++n) {
    std::string name = "node" + std::to_string(n);
    std::string addr = "10.0." + std::to_string(n / 250) + "." + std::to_string(n % 250) + "/16";
    node(name, addr, "10.200." + std::to_string(n / 250) + "." + std::to_string(n % 250));
    for (int b = 0; b < 4; ++b) {
      std::string cidr =
          "10." + std::to_string(128 + n / 64) + "." + std::to_string((n % 64) * 4 + b) + ".0/26";
      block(cidr, name);
    }
  }
  CalcOutput out = calc_.compute();
  EXPECT_EQ(out.routes.size(), 800u);
  EXPECT_EQ(out.vxlanPeers.size(), 200u);
  EXPECT_TRUE(std::is_sorted(out.routes.begin(), out.routes.end(),
                             [](const DesiredRoute& a, const DesiredRoute& b) {
                               return a.route.dst.addr.bytes < b.route.dst.addr.bytes;
                             }));
}

} // namespace
} // namespace caracal::felix
