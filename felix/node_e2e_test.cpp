// The caracal-node binary against a real caracal-apiserver, both inside one private network
// namespace (the API server listens on that namespace's loopback): registration, tunnel address,
// ready and MTU files, routes from API events through the real list/watch, drift repair, and a
// SIGTERM that exits 0 and leaves the dataplane in place.
#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"
#include "felix/netns_fixture.h"
#include "felix/node_setup.h"
#include "felix/route_calc.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#ifndef CARACAL_NODE_BIN
#error "CARACAL_NODE_BIN must name the caracal-node binary"
#endif
#ifndef CARACAL_APISERVER_BIN
#error "CARACAL_APISERVER_BIN must name the caracal-apiserver binary"
#endif

namespace caracal::felix {
namespace {

using namespace std::chrono_literals;
using caracal::testing::BackgroundCommand;
using caracal::testing::readFile;
using caracal::testing::TempDir;
using caracal::testing::waitFor;
using testing::runCommand;

const api::KindInfo& kind(const char* k) { return *api::findByKind("projectcalico.org/v3", k); }

// Runs `fn` with a client of the API server; the client's connections are made from inside the
// namespace (where the server's loopback is).
Status withClient(const std::string& netns, const std::string& kubeconfig,
                  const std::function<Status(datastore::RestClient&)>& fn) {
  return netlink::inNetns(netns, [&]() -> Status {
    ASSIGN_OR_RETURN(datastore::ClientConfig cfg, datastore::loadKubeconfig(kubeconfig));
    ASSIGN_OR_RETURN(auto client, datastore::RestClient::fromConfig(cfg));
    return fn(*client);
  });
}

TEST(NodeBinary, RegistersProgramsRepairsAndStopsCleanly) {
  FELIX_REQUIRE_NETNS();
  auto ns = testing::makeNetns("bin");
  auto peer = testing::makeNetns("binp");
  ASSERT_TRUE(ns && peer);
  ASSERT_TRUE(testing::linkNamespaces(*ns, "eth0", "10.99.0.1/24", *peer, "eth0", "10.99.0.2/24"));
  ASSERT_EQ(ns->ip("route add default via 10.99.0.2 dev eth0").rc, 0);
  TempDir tmp("felix-node-e2e");
  ASSERT_FALSE(tmp.path().empty());
  std::string data = tmp.path() + "/api";
  std::string state = tmp.path() + "/state";
  std::filesystem::create_directories(data);

  BackgroundCommand api("exec ip netns exec " + ns->name() +
                            " " CARACAL_APISERVER_BIN " --data-dir " + data +
                            " --listen 127.0.0.1:0",
                        tmp.path() + "/apiserver.log");
  ASSERT_TRUE(api.started());
  ASSERT_TRUE(waitFor(
      [&] {
        return readFile(tmp.path() + "/apiserver.log").find("serving on") != std::string::npos;
      },
      30s))
      << readFile(tmp.path() + "/apiserver.log");
  std::string kubeconfig = data + "/admin.kubeconfig";

  Status st = withClient(ns->path(), kubeconfig, [&](datastore::RestClient& c) -> Status {
    Value pool = Value::object();
    pool["apiVersion"] = "projectcalico.org/v3";
    pool["kind"] = "IPPool";
    pool["metadata"]["name"] = "default-ipv4-ippool";
    pool["spec"]["cidr"] = "10.244.0.0/16";
    pool["spec"]["vxlanMode"] = "Always";
    pool["spec"]["natOutgoing"] = true;
    return c.create(ipPoolKind(), pool).status();
  });
  ASSERT_TRUE(st) << st.message();

  BackgroundCommand node(
      "exec ip netns exec " + ns->name() + " " CARACAL_NODE_BIN " --node node1 --kubeconfig " +
          kubeconfig + " --state-dir " + state + " --mtu-file " + state +
          "/mtu --resync-seconds 1 --log-level debug --bird-run-dir " + state + "/bird",
      tmp.path() + "/node.log");
  ASSERT_TRUE(node.started());
  ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(state + "/ready"); }, 30s))
      << readFile(tmp.path() + "/node.log");
  EXPECT_EQ(readFile(state + "/mtu"), "1450\n");
  // The default backend is BIRD: confd wrote a valid config and BIRD answers on its socket.
  ASSERT_TRUE(waitFor(
      [&] {
        return readFile(state + "/bird/confd-status.json").find("\"ok\":true") !=
                   std::string::npos &&
               std::filesystem::exists(state + "/bird/bird.pid");
      },
      15s))
      << readFile(tmp.path() + "/node.log") << readFile(state + "/bird/confd-status.json");
  EXPECT_NE(readFile(state + "/bird/bird.conf").find("router id 10.99.0.1;"), std::string::npos);

  // Registered, with a VTEP from the pool; the device carries it.
  std::string vtep;
  ASSERT_TRUE(waitFor(
      [&] {
        Status s = withClient(ns->path(), kubeconfig, [&](datastore::RestClient& c) -> Status {
          ASSIGN_OR_RETURN(Value n, c.get(calicoNodeKind(), "", "node1"));
          vtep = n.getString("spec.ipv4VXLANTunnelAddr");
          EXPECT_EQ(n.getString("spec.bgp.ipv4Address"), "10.99.0.1/24");
          return {};
        });
        return s.isOk() && !vtep.empty() &&
               ns->ip("addr show dev vxlan.calico").output.find(vtep + "/32") != std::string::npos;
      },
      10s))
      << readFile(tmp.path() + "/node.log");

  // A remote node and its block, through the API: the route follows through the real watch.
  auto t0 = std::chrono::steady_clock::now();
  st = withClient(ns->path(), kubeconfig, [&](datastore::RestClient& c) -> Status {
    Value n2 = Value::object();
    n2["apiVersion"] = "projectcalico.org/v3";
    n2["kind"] = "Node";
    n2["metadata"]["name"] = "node2";
    n2["spec"]["bgp"]["ipv4Address"] = "10.99.0.2/24";
    n2["spec"]["ipv4VXLANTunnelAddr"] = "10.244.9.0";
    RETURN_IF_ERROR(c.create(calicoNodeKind(), n2).status());
    Value b = Value::object();
    b["apiVersion"] = "projectcalico.org/v3";
    b["kind"] = "IPAMBlock";
    b["metadata"]["name"] = "10-244-9-0-26";
    b["spec"]["cidr"] = "10.244.9.0/26";
    b["spec"]["affinity"] = "host:node2";
    return c.create(kind("IPAMBlock"), b).status();
  });
  ASSERT_TRUE(st) << st.message();
  ASSERT_TRUE(waitFor(
      [&] {
        return ns->ip("route show 10.244.9.0/26").output.find("via 10.244.9.0 dev vxlan.calico") !=
               std::string::npos;
      },
      5s))
      << readFile(tmp.path() + "/node.log");
  std::printf("API write -> route (caracal-node + caracal-apiserver): %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - t0)
                                         .count()));
  std::string mac2 = netlink::macStr(vtepMacForNode("node2"));
  EXPECT_NE(ns->ip("neigh show dev vxlan.calico").output.find(mac2), std::string::npos);

  // Drift is repaired within the resync period.
  ASSERT_EQ(ns->ip("route del 10.244.9.0/26").rc, 0);
  EXPECT_TRUE(waitFor([&] { return !ns->ip("route show 10.244.9.0/26").output.empty(); }, 4s));

  // natOutgoing is in place (nft table of our own).
  auto nft = runCommand("ip netns exec " + ns->name() + " nft list ruleset");
  EXPECT_NE(nft.output.find("10.244.0.0/16"), std::string::npos) << nft.output;

  // SIGTERM: exit 0, dataplane left alone.
  node.kill();
  EXPECT_EQ(node.wait(0ms), 0);
  EXPECT_NE(readFile(tmp.path() + "/node.log").find("stopping"), std::string::npos);
  EXPECT_NE(ns->ip("route show 10.244.9.0/26").output.find("vxlan.calico"), std::string::npos);
  EXPECT_EQ(ns->ip("link show dev vxlan.calico").rc, 0);
}

} // namespace
} // namespace caracal::felix
