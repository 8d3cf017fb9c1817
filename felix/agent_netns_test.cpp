// Two complete agents, each in its own node namespace, over one in-memory datastore (the fake
// list/watch source doubles as the Store the agents write their Node and IPAM objects to), with
// one pod per node wired as the CNI plugin does it. Checks registration, tunnel addresses, the
// MTU and ready files, sysctls, pod-to-pod traffic over VXLAN, event-to-route latency, drift
// repair within the resync period, and a restart that rewrites nothing.
#include "common/strings.h"
#include "felix/agent.h"
#include "felix/fake_source.h"
#include "felix/netns_fixture.h"
#include "felix/node_setup.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sys/socket.h>
#include <thread>

namespace caracal::felix {
namespace {

using namespace std::chrono_literals;
using caracal::testing::icmpPing;
using caracal::testing::readFile;
using caracal::testing::TempDir;
using caracal::testing::waitFor;
using testing::Netns;
using testing::runCommand;

const api::KindInfo& kind(const char* k) { return *api::findByKind("projectcalico.org/v3", k); }

std::string sysctl(const Netns& ns, const std::string& path) {
  return trim(runCommand("ip netns exec " + ns.name() + " cat " + path).output);
}

struct NodeAgent {
  std::unique_ptr<Syncer> syncer;
  std::unique_ptr<Agent> agent;
  FakeNatOutgoing* nat = nullptr;

  void stop() {
    if (syncer) {
      syncer->stop();
    }
    if (agent) {
      agent->stop();
    }
    agent.reset();
    syncer.reset();
  }
  ~NodeAgent() { stop(); }
};

class AgentNetns : public ::testing::Test {
protected:
  void SetUp() override {
    FELIX_REQUIRE_NETNS();
    nodeA_ = testing::makeNetns("aga");
    nodeB_ = testing::makeNetns("agb");
    podA_ = testing::makeNetns("agpa");
    podB_ = testing::makeNetns("agpb");
    ASSERT_TRUE(nodeA_ && nodeB_ && podA_ && podB_);
    ASSERT_TRUE(
        testing::linkNamespaces(*nodeA_, "eth0", "10.99.0.1/24", *nodeB_, "eth0", "10.99.0.2/24"));
    // Nodes have a default route (the pods' 169.254.1.1 gateway is answered by proxy ARP only
    // when the node has a route to it).
    ASSERT_EQ(nodeA_->ip("route add default via 10.99.0.254 dev eth0").rc, 0);
    ASSERT_EQ(nodeB_->ip("route add default via 10.99.0.254 dev eth0").rc, 0);
    store_ = makeFakeStore(src_);
    ASSERT_FALSE(tmp_.path().empty());
  }

  void createPool(const std::string& ipipMode, const std::string& vxlanMode) {
    Value pool = Value::object();
    pool["metadata"]["name"] = "default-ipv4-ippool";
    pool["spec"]["cidr"] = "10.244.0.0/16";
    pool["spec"]["ipipMode"] = ipipMode;
    pool["spec"]["vxlanMode"] = vxlanMode;
    pool["spec"]["natOutgoing"] = true;
    auto created = store_->create(ipPoolKind(), pool);
    ASSERT_TRUE(created) << created.error().message();
  }

  // Allocates an address for a pod on `node`, wires it and records its WorkloadEndpoint.
  std::string addPod(const std::string& node, const Netns& nodeNs, const std::string& pod,
                     const Netns& podNs, const std::string& hostIf) {
    ipam::Ipam ipam(*store_);
    ipam::AssignArgs args;
    args.handle = ipam::podHandle("c" + pod);
    args.node = node;
    args.attrs = {{"node", node}, {"pod", pod}, {"namespace", "default"}};
    auto got = ipam.autoAssign(args);
    if (!got || got->empty()) {
      ADD_FAILURE() << "allocating for " << pod << ": " << got.error().message();
      return "";
    }
    std::string ip = (*got)[0].addr.str();
    EXPECT_TRUE(testing::wirePod(nodeNs, hostIf, podNs, ip));
    Value wep = Value::object();
    wep["metadata"]["name"] = node + "-k8s-" + pod + "-eth0";
    wep["metadata"]["namespace"] = "default";
    wep["spec"]["orchestrator"] = "k8s";
    wep["spec"]["node"] = node;
    wep["spec"]["pod"] = pod;
    wep["spec"]["endpoint"] = "eth0";
    wep["spec"]["containerID"] = "c" + pod;
    wep["spec"]["interfaceName"] = hostIf;
    Value nets = Value::array();
    nets.push(ip + "/32");
    wep["spec"]["ipNetworks"] = nets;
    auto created = store_->create(kind("WorkloadEndpoint"), wep);
    EXPECT_TRUE(created) << created.error().message();
    return ip;
  }

  void startAgent(NodeAgent& na, const std::string& node, const Netns& ns) {
    SyncerOptions so;
    so.initialBackoff = 10ms;
    na.syncer = std::make_unique<Syncer>(src_, agentKinds(), so);
    AgentOptions opts;
    opts.nodeName = node;
    opts.interface = "eth0";
    opts.resyncInterval = 1s;
    opts.retryInterval = 200ms;
    opts.mtuFile = tmp_.path() + "/" + node + "/mtu";
    opts.stateDir = tmp_.path() + "/" + node;
    auto nat = std::make_unique<FakeNatOutgoing>();
    na.nat = nat.get();
    na.agent = std::make_unique<Agent>(opts, *na.syncer, *store_, std::move(nat));
    // The agent's sockets, devices and sysctls belong to the namespace of the thread that starts
    // it (its loop thread is created there too).
    Status started = netlink::inNetns(ns.path(), [&] { return na.agent->start(); });
    ASSERT_TRUE(started) << started.message();
    na.syncer->start();
  }

  // A pool with these modes, pods "pa" on node1 and "pb" on node2 (their addresses in ipA and
  // ipB), and both nodes' agents started and ready.
  void startTwoNodes(const std::string& ipipMode, const std::string& vxlanMode, NodeAgent& a,
                     NodeAgent& b, std::string& ipA, std::string& ipB) {
    createPool(ipipMode, vxlanMode);
    ipA = addPod("node1", *nodeA_, "pa", *podA_, "calitesta");
    ipB = addPod("node2", *nodeB_, "pb", *podB_, "calitestb");
    ASSERT_FALSE(ipA.empty() || ipB.empty());
    startAgent(a, "node1", *nodeA_);
    startAgent(b, "node2", *nodeB_);
    ASSERT_TRUE(waitFor([&] { return a.agent->ready() && b.agent->ready(); }, 15s))
        << "A: " << a.agent->stats().lastError << " B: " << b.agent->stats().lastError;
  }

  bool routeIn(netlink::Socket& sock, const std::string& dst) {
    auto rs = sock.routes(AF_INET, 254, netlink::kRouteProtocol);
    if (!rs) {
      return false;
    }
    for (const netlink::Route& r : *rs) {
      if (r.dst.str() == dst) {
        return true;
      }
    }
    return false;
  }

  FakeListWatchSource src_;
  std::unique_ptr<ipam::Store> store_;
  std::unique_ptr<Netns> nodeA_, nodeB_, podA_, podB_;
  TempDir tmp_{"felix-agent-test"};
};

TEST_F(AgentNetns, TwoNodesPodToPodOverVxlan) {
  NodeAgent a, b;
  std::string ipA, ipB;
  ASSERT_NO_FATAL_FAILURE(startTwoNodes("Never", "Always", a, b, ipA, ipB));
  // The tunnel addresses come back through the watch; wait for the VTEPs to be programmed.
  auto sockA = netlink::Socket::open(nodeA_->path());
  ASSERT_TRUE(sockA);
  ASSERT_TRUE(waitFor(
      [&] {
        auto n = store_->get(calicoNodeKind(), "", "node2");
        return n && !n->getString("spec.ipv4VXLANTunnelAddr").empty() &&
               runCommand("ip -n " + nodeA_->name() + " neigh show dev vxlan.calico")
                       .output.find(n->getString("spec.ipv4VXLANTunnelAddr")) != std::string::npos;
      },
      10s));

  // Registration and tunnel addresses.
  auto node1 = store_->get(calicoNodeKind(), "", "node1");
  ASSERT_TRUE(node1);
  EXPECT_EQ(node1->getString("spec.bgp.ipv4Address"), "10.99.0.1/24");
  EXPECT_EQ(node1->path("spec.orchRefs")->asArray()[0].getString("orchestrator"), "k8s");
  std::string vtepA = node1->getString("spec.ipv4VXLANTunnelAddr");
  ASSERT_TRUE(api::parseCidr("10.244.0.0/16")->contains(*api::parseIp(vtepA))) << vtepA;
  EXPECT_EQ(node1->getString("spec.vxlanTunnelMACAddr"), netlink::macStr(vtepMacForNode("node1")));
  EXPECT_NE(nodeA_->ip("addr show dev vxlan.calico").output.find(vtepA + "/32"), std::string::npos);

  // Files and sysctls.
  EXPECT_EQ(readFile(tmp_.path() + "/node1/mtu"), "1450\n");
  EXPECT_TRUE(std::filesystem::exists(tmp_.path() + "/node1/ready"));
  EXPECT_EQ(sysctl(*nodeA_, "/proc/sys/net/ipv4/ip_forward"), "1");
  for (const char* name : {"proxy_arp", "forwarding", "route_localnet"}) {
    EXPECT_EQ(sysctl(*nodeA_, std::string("/proc/sys/net/ipv4/conf/calitesta/") + name), "1")
        << name;
  }
  ASSERT_EQ(a.nat->masq_.size(), 1u);
  EXPECT_EQ(a.nat->masq_[0].str(), "10.244.0.0/16");

  // Routes: the local pod, the local block's blackhole, the remote block over VXLAN.
  auto local = nodeA_->ip("route show " + ipA);
  EXPECT_NE(local.output.find("dev calitesta proto 80 scope link"), std::string::npos)
      << local.output;
  EXPECT_NE(nodeA_->ip("route show type blackhole").output.find("proto 80"), std::string::npos);
  auto remote = nodeA_->ip("route show");
  EXPECT_NE(remote.output.find("dev vxlan.calico proto 80 onlink"), std::string::npos)
      << remote.output;

  // Pod to pod, both ways.
  EXPECT_EQ(icmpPing(podA_->path(), ipA, ipB, 3), 3);
  EXPECT_EQ(icmpPing(podB_->path(), ipB, ipA, 3), 3);

  // An API event reaches the kernel quickly: a new node with a block.
  Value n3 = Value::object();
  n3["metadata"]["name"] = "node3";
  n3["spec"]["bgp"]["ipv4Address"] = "10.99.0.3/24";
  n3["spec"]["ipv4VXLANTunnelAddr"] = "10.244.250.1";
  ASSERT_TRUE(store_->create(calicoNodeKind(), n3));
  Value blk = Value::object();
  blk["metadata"]["name"] = "10-244-250-0-26";
  blk["spec"]["cidr"] = "10.244.250.0/26";
  blk["spec"]["affinity"] = "host:node3";
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(store_->create(kind("IPAMBlock"), blk));
  ASSERT_TRUE(waitFor([&] { return routeIn(**sockA, "10.244.250.0/26"); }, 5s));
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("API event -> route in the kernel: %lld ms\n", static_cast<long long>(ms));
  EXPECT_LT(ms, 500);

  // Drift: a route deleted by hand and a stale route of ours come back right within the
  // resync period; a foreign route stays.
  ASSERT_EQ(nodeA_->ip("route del 10.244.250.0/26").rc, 0);
  ASSERT_EQ(nodeA_->ip("route add 10.244.251.0/26 via 10.99.0.2 dev eth0 proto 80").rc, 0);
  ASSERT_EQ(nodeA_->ip("route add 10.77.0.0/16 via 10.99.0.2 dev eth0 proto static").rc, 0);
  ASSERT_TRUE(waitFor(
      [&] { return routeIn(**sockA, "10.244.250.0/26") && !routeIn(**sockA, "10.244.251.0/26"); },
      3s));
  EXPECT_NE(nodeA_->ip("route show 10.77.0.0/16").output.find("proto static"), std::string::npos);
  EXPECT_GE(a.agent->stats().routeRepairs, 2u);

  // Restart of A: traffic keeps flowing while it is down, and the new agent rewrites nothing.
  a.stop();
  EXPECT_EQ(icmpPing(podA_->path(), ipA, ipB, 2), 2);
  NodeAgent a2;
  startAgent(a2, "node1", *nodeA_);
  ASSERT_TRUE(waitFor([&] { return a2.agent->ready(); }, 15s)) << a2.agent->stats().lastError;
  EXPECT_EQ(a2.agent->stats().routeWrites, 0u);
  EXPECT_EQ(store_->get(calicoNodeKind(), "", "node1")->getString("spec.ipv4VXLANTunnelAddr"),
            vtepA);
  EXPECT_EQ(icmpPing(podA_->path(), ipA, ipB, 2), 2);

  // Pod removed: its route and sysctl bookkeeping go.
  ASSERT_TRUE(store_->remove(kind("WorkloadEndpoint"), "default", "node2-k8s-pb-eth0", ""));
  auto sockB = netlink::Socket::open(nodeB_->path());
  ASSERT_TRUE(sockB);
  EXPECT_TRUE(waitFor([&] { return !routeIn(**sockB, ipB + "/32"); }, 3s));
}

// IPIP through the agents; on a kernel without the ipip module tunl0 is the user-space tunnel.
TEST_F(AgentNetns, TwoNodesPodToPodOverIpip) {
  NodeAgent a, b;
  std::string ipA, ipB;
  ASSERT_NO_FATAL_FAILURE(startTwoNodes("Always", "Never", a, b, ipA, ipB));
  // Each side routes the other's block into tunl0, towards the other's underlay address.
  ASSERT_TRUE(waitFor(
      [&] {
        return nodeA_->ip("route show").output.find("via 10.99.0.2 dev tunl0 proto 80 onlink") !=
                   std::string::npos &&
               nodeB_->ip("route show").output.find("via 10.99.0.1 dev tunl0 proto 80 onlink") !=
                   std::string::npos;
      },
      10s))
      << nodeA_->ip("route show").output;
  auto node1 = store_->get(calicoNodeKind(), "", "node1");
  ASSERT_TRUE(node1);
  std::string tunnelAddr = node1->getString("spec.bgp.ipv4IPIPTunnelAddr");
  ASSERT_FALSE(tunnelAddr.empty());
  EXPECT_TRUE(waitFor(
      [&] {
        return nodeA_->ip("addr show dev tunl0").output.find(tunnelAddr + "/32") !=
               std::string::npos;
      },
      5s));
  EXPECT_EQ(node1->getString("spec.ipv4VXLANTunnelAddr"), "");
  EXPECT_NE(nodeA_->ip("link show dev vxlan.calico").rc, 0);
  EXPECT_EQ(readFile(tmp_.path() + "/node1/mtu"), "1480\n");
  EXPECT_EQ(icmpPing(podA_->path(), ipA, ipB, 3), 3);
  EXPECT_EQ(icmpPing(podB_->path(), ipB, ipA, 3), 3);
}

} // namespace
} // namespace caracal::felix
