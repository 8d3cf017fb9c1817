// VXLAN between two node namespaces over a veth "underlay": each side's VxlanManager and
// RouteTable are driven by its own RouteCalc output, then the VTEPs ping each other.
#include "api/registry.h"
#include "felix/netns_fixture.h"
#include "felix/route_calc.h"
#include "felix/route_table.h"
#include "felix/vxlan_manager.h"

#include <map>

namespace caracal::felix {
namespace {

using caracal::testing::icmpPing;
using testing::Netns;
using testing::runCommand;

const api::KindInfo& kind(const char* k) { return *api::findByKind("projectcalico.org/v3", k); }

struct Node {
  std::string name;
  std::unique_ptr<Netns> ns;
  std::unique_ptr<netlink::Socket> sock;
  std::unique_ptr<RouteCalc> calc;
  std::unique_ptr<VxlanManager> vxlan;
  std::unique_ptr<RouteTable> routes;

  // One programming pass as the agent does it: devices and peers, routes, then pruning.
  Status program(const CalcOutput& out) {
    ASSIGN_OR_RETURN(VxlanResult vr, vxlan->ensure(out.vxlan, out.vxlanPeers));
    if (vr.recreated) {
      routes->queueResync();
    }
    ASSIGN_OR_RETURN(auto links, sock->links());
    std::map<std::string, int> idx;
    for (const netlink::Link& l : links) {
      idx[l.name] = l.index;
    }
    std::vector<netlink::Route> want;
    for (const DesiredRoute& d : out.routes) {
      netlink::Route r = d.route;
      if (!d.ifname.empty()) {
        if (!idx.count(d.ifname)) {
          continue;
        }
        r.oif = idx[d.ifname];
      }
      want.push_back(r);
    }
    RETURN_IF_ERROR(routes->apply(want));
    return vxlan->prune(out.vxlan, out.vxlanPeers).status();
  }
};

Value nodeObj(const std::string& name, const std::string& addr, const std::string& vtep) {
  Value o = Value::object();
  o["metadata"]["name"] = name;
  o["spec"]["bgp"]["ipv4Address"] = addr;
  o["spec"]["ipv4VXLANTunnelAddr"] = vtep;
  return o;
}

Value blockObj(const std::string& cidr, const std::string& node) {
  Value o = Value::object();
  o["spec"]["cidr"] = cidr;
  o["spec"]["affinity"] = "host:" + node;
  return o;
}

Value poolObj(const std::string& vxlanMode) {
  Value o = Value::object();
  o["spec"]["cidr"] = "10.244.0.0/16";
  o["spec"]["vxlanMode"] = vxlanMode;
  o["spec"]["ipipMode"] = "Never";
  return o;
}

class VxlanNetns : public ::testing::Test {
protected:
  void SetUp() override {
    FELIX_REQUIRE_NETNS();
    a_.name = "node1";
    b_.name = "node2";
    a_.ns = testing::makeNetns("vxa");
    b_.ns = testing::makeNetns("vxb");
    ASSERT_TRUE(a_.ns && b_.ns);
    ASSERT_TRUE(
        testing::linkNamespaces(*a_.ns, "eth0", "10.99.0.1/24", *b_.ns, "eth0", "10.99.0.2/24"));
    for (Node* n : {&a_, &b_}) {
      auto s = netlink::Socket::open(n->ns->path());
      ASSERT_TRUE(s) << s.error().message();
      n->sock = std::move(*s);
      n->calc = std::make_unique<RouteCalc>(CalcConfig{n->name, "eth0", 1500});
      n->vxlan = std::make_unique<VxlanManager>(*n->sock);
      n->routes = std::make_unique<RouteTable>(makeNetlinkRouteDataplane(*n->sock));
    }
    Value n1 = nodeObj("node1", "10.99.0.1/24", "10.244.1.0");
    Value n2 = nodeObj("node2", "10.99.0.2/24", "10.244.2.0");
    Value b1 = blockObj("10.244.1.0/26", "node1");
    Value b2 = blockObj("10.244.2.0/26", "node2");
    Value pool = poolObj("Always");
    feed("Node", "node1", &n1);
    feed("Node", "node2", &n2);
    feed("IPAMBlock", "b1", &b1);
    feed("IPAMBlock", "b2", &b2);
    feed("IPPool", "pool", &pool);
  }

  void feed(const char* k, const std::string& key, const Value* obj) {
    a_.calc->onUpdate(kind(k), key, obj);
    b_.calc->onUpdate(kind(k), key, obj);
  }

  void programBoth() {
    for (Node* n : {&a_, &b_}) {
      Status st = n->program(n->calc->compute());
      ASSERT_TRUE(st) << n->name << ": " << st.message();
    }
  }

  Node a_, b_;
};

TEST_F(VxlanNetns, VtepsReachEachOtherAcrossTheUnderlay) {
  programBoth();
  auto link = a_.ns->ip("-d link show vxlan.calico");
  EXPECT_NE(link.output.find("vxlan id 4096"), std::string::npos) << link.output;
  EXPECT_NE(link.output.find("dstport 4789"), std::string::npos) << link.output;
  EXPECT_NE(link.output.find("nolearning"), std::string::npos) << link.output;
  EXPECT_NE(link.output.find("mtu 1450"), std::string::npos) << link.output;
  EXPECT_NE(a_.ns->ip("addr show dev vxlan.calico").output.find("10.244.1.0/32"),
            std::string::npos);
  std::string mac2 = netlink::macStr(vtepMacForNode("node2"));
  EXPECT_NE(a_.ns->ip("neigh show dev vxlan.calico").output.find("10.244.2.0 lladdr " + mac2),
            std::string::npos);
  auto fdb = runCommand("bridge -n " + a_.ns->name() + " fdb show dev vxlan.calico");
  EXPECT_NE(fdb.output.find(mac2 + " dst 10.99.0.2"), std::string::npos) << fdb.output;
  auto route = a_.ns->ip("route show 10.244.2.0/26");
  EXPECT_NE(route.output.find("via 10.244.2.0 dev vxlan.calico proto 80 onlink"), std::string::npos)
      << route.output;

  EXPECT_EQ(icmpPing(a_.ns->path(), "10.244.1.0", "10.244.2.0", 3), 3);
  EXPECT_EQ(icmpPing(b_.ns->path(), "10.244.2.0", "10.244.1.0", 3), 3);

  // A second pass changes nothing.
  auto vr = a_.vxlan->ensure(a_.calc->compute().vxlan, a_.calc->compute().vxlanPeers);
  ASSERT_TRUE(vr);
  EXPECT_EQ(vr->changes, 0u);
}

TEST_F(VxlanNetns, DriftAndStalePeersAreRepaired) {
  programBoth();
  // Someone deletes the neighbour entry and adds a stale FDB entry and neighbour.
  ASSERT_EQ(a_.ns->ip("neigh del 10.244.2.0 dev vxlan.calico").rc, 0);
  ASSERT_EQ(runCommand("bridge -n " + a_.ns->name() +
                       " fdb append 66:00:00:00:00:99 dev vxlan.calico dst 10.99.0.99")
                .rc,
            0);
  ASSERT_EQ(a_.ns
                ->ip("neigh replace 10.244.9.0 lladdr 66:00:00:00:00:99 dev vxlan.calico "
                     "nud permanent")
                .rc,
            0);
  programBoth();
  EXPECT_NE(a_.ns->ip("neigh show dev vxlan.calico").output.find("10.244.2.0"), std::string::npos);
  EXPECT_EQ(a_.ns->ip("neigh show dev vxlan.calico").output.find("10.244.9.0"), std::string::npos);
  auto fdb = runCommand("bridge -n " + a_.ns->name() + " fdb show dev vxlan.calico");
  EXPECT_EQ(fdb.output.find("66:00:00:00:00:99"), std::string::npos) << fdb.output;
  EXPECT_EQ(icmpPing(a_.ns->path(), "10.244.1.0", "10.244.2.0", 2), 2);

  // node2 leaves: its peer entries and routes go.
  feed("Node", "node2", nullptr);
  Status st = a_.program(a_.calc->compute());
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(a_.ns->ip("neigh show dev vxlan.calico").output.find("10.244.2.0"), std::string::npos);
  EXPECT_EQ(a_.ns->ip("route show 10.244.2.0/26").output, "");
}

TEST_F(VxlanNetns, NodeIpChangeMovesTheFdbEntry) {
  programBoth();
  // node2 gets another underlay address; its VTEP (and so its MAC) stays.
  ASSERT_EQ(b_.ns->ip("addr add 10.99.0.3/24 dev eth0").rc, 0);
  Value n2 = nodeObj("node2", "10.99.0.3/24", "10.244.2.0");
  feed("Node", "node2", &n2);
  Status st = a_.program(a_.calc->compute()); // ensure, routes, prune
  ASSERT_TRUE(st) << st.message();
  std::string mac2 = netlink::macStr(vtepMacForNode("node2"));
  auto fdb = runCommand("bridge -n " + a_.ns->name() + " fdb show dev vxlan.calico");
  EXPECT_NE(fdb.output.find(mac2 + " dst 10.99.0.3"), std::string::npos) << fdb.output;
  EXPECT_EQ(fdb.output.find("dst 10.99.0.2"), std::string::npos) << fdb.output;
  EXPECT_EQ(icmpPing(a_.ns->path(), "10.244.1.0", "10.244.2.0", 2), 2);
}

TEST_F(VxlanNetns, ParameterChangeRecreatesDeviceAndRoutesFollow) {
  programBoth();
  int before = a_.sock->link("vxlan.calico")->index;
  Value fc = Value::object();
  fc["spec"]["vxlanVNI"] = 4100;
  feed("FelixConfiguration", "default", &fc);
  programBoth();
  auto link = a_.sock->link("vxlan.calico");
  ASSERT_TRUE(link);
  EXPECT_NE(link->index, before);
  EXPECT_EQ(link->vxlanId, 4100u);
  EXPECT_NE(a_.ns->ip("route show 10.244.2.0/26").output.find("dev vxlan.calico"),
            std::string::npos);
  EXPECT_EQ(icmpPing(a_.ns->path(), "10.244.1.0", "10.244.2.0", 2), 2);

  // VXLAN no longer used: the device goes, and with it the routes.
  Value never = poolObj("Never");
  feed("IPPool", "pool", &never);
  programBoth();
  EXPECT_EQ(a_.sock->link("vxlan.calico").code(), Code::NotFound);
  EXPECT_EQ(a_.ns->ip("route show 10.244.2.0/26").output.find("vxlan"), std::string::npos);
}

} // namespace
} // namespace caracal::felix
