#include "confd/render.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace caracal::confd {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBird = "/usr/sbin/bird";

// Builds inputs from YAML documents: Nodes, BGPConfigurations, BGPPeers and IPPools by kind.
BirdInputs inputs(const std::string& node, const std::string& yaml,
                  std::vector<std::string> blocks = {}) {
  BirdInputs in;
  in.nodeName = node;
  in.affineBlocks = std::move(blocks);
  auto docs = parseYamlDocuments(yaml);
  EXPECT_TRUE(docs.hasValue()) << docs.status().str();
  if (!docs) {
    return in;
  }
  for (Value& d : *docs) {
    std::string kind = d.getString("kind");
    std::string name = d.getString("metadata.name");
    if (kind == "Node") {
      in.nodes.push_back(d);
    } else if (kind == "BGPPeer") {
      in.peers.push_back(d);
    } else if (kind == "IPPool") {
      in.pools.push_back(d);
    } else if (kind == "BGPConfiguration" && name == "default") {
      in.defaultConfig = d;
    } else if (kind == "BGPConfiguration" && name == "node." + node) {
      in.nodeConfig = d;
    } else {
      ADD_FAILURE() << "unexpected document " << kind << "/" << name;
    }
  }
  return in;
}

const char* kThreeNodes = R"(
kind: Node
metadata: {name: node-a}
spec: {bgp: {ipv4Address: 10.99.0.11/24}}
---
kind: Node
metadata: {name: node-b}
spec: {bgp: {ipv4Address: 10.99.0.12/24}}
---
kind: Node
metadata: {name: node-c}
spec: {bgp: {ipv4Address: 10.99.0.9/24}}
---
kind: IPPool
metadata: {name: pool}
spec: {cidr: 192.168.0.0/16, blockSize: 26}
)";

const char* kRrTopology = R"(
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 64512}
---
kind: BGPPeer
metadata: {name: to-rr}
spec: {nodeSelector: all(), peerSelector: route-reflector == 'true'}
---
kind: BGPPeer
metadata: {name: rr-mesh}
spec: {nodeSelector: route-reflector == 'true', peerSelector: route-reflector == 'true'}
---
kind: Node
metadata: {name: rr1, labels: {route-reflector: 'true'}}
spec: {bgp: {ipv4Address: 10.0.0.11/24, routeReflectorClusterID: 244.0.0.1}}
---
kind: Node
metadata: {name: rr2, labels: {route-reflector: 'true'}}
spec: {bgp: {ipv4Address: 10.0.0.12/24, routeReflectorClusterID: 244.0.0.1}}
---
kind: Node
metadata: {name: w1}
spec: {bgp: {ipv4Address: 10.0.0.21/24}}
---
kind: Node
metadata: {name: w2}
spec: {bgp: {ipv4Address: 10.0.0.22/24}}
---
kind: IPPool
metadata: {name: pool}
spec: {cidr: 192.168.0.0/16}
)";

struct Scenario {
  std::string name;
  BirdInputs in;
};

std::vector<Scenario> scenarios() {
  std::vector<Scenario> s;
  s.push_back({"mesh_3nodes", inputs("node-a", kThreeNodes, {"192.168.1.0/26"})});
  s.push_back({"mesh_passive_rule", inputs("node-c", kThreeNodes, {"192.168.2.0/26"})});
  s.push_back({"no_affine_blocks", inputs("node-b", kThreeNodes)});
  s.push_back({"mesh_off_global_peer", inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 64512}
---
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 10.99.0.1, asNumber: 64600, maxRestartTime: 2m}
)",
                                              {"192.168.1.0/26"})});
  s.push_back({"node_specific_peer", inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: BGPPeer
metadata: {name: a-tor}
spec: {node: node-a, peerIP: '10.99.0.1:1790', asNumber: 64600, nextHopMode: Self, ttlSecurity: 2}
---
kind: BGPPeer
metadata: {name: b-tor}
spec: {node: node-b, peerIP: 10.99.0.2, asNumber: 64600}
)",
                                            {"192.168.1.0/26"})});
  s.push_back({"node_selector_peer", inputs("node-b", std::string(R"(
kind: Node
metadata: {name: node-a, labels: {rack: r1}}
spec: {bgp: {ipv4Address: 10.99.0.11/24}}
---
kind: Node
metadata: {name: node-b, labels: {rack: r2}}
spec: {bgp: {ipv4Address: 10.99.0.12/24}}
---
kind: BGPPeer
metadata: {name: rack1}
spec: {nodeSelector: rack == 'r1', peerIP: 10.99.0.1, asNumber: 64601}
---
kind: BGPPeer
metadata: {name: rack2}
spec: {nodeSelector: rack == 'r2', peerIP: 10.99.0.2, asNumber: 64602, keepOriginalNextHop: true,
       sourceAddress: None}
---
kind: IPPool
metadata: {name: pool}
spec: {cidr: 192.168.0.0/16}
)"),
                                            {"192.168.3.0/26"})});
  s.push_back({"rr_reflector", inputs("rr1", kRrTopology, {"192.168.10.0/26"})});
  s.push_back({"rr_client", inputs("w1", kRrTopology, {"192.168.20.0/26"})});
  s.push_back({"per_node_as", inputs("node-a", R"(
kind: Node
metadata: {name: node-a}
spec: {bgp: {ipv4Address: 10.99.0.11/24, asNumber: 65001}}
---
kind: Node
metadata: {name: node-b}
spec: {bgp: {ipv4Address: 10.99.0.12/24, asNumber: 65002}}
---
kind: Node
metadata: {name: node-c}
spec: {bgp: {ipv4Address: 10.99.0.13/24}}
---
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64700, listenPort: 1790}
---
kind: IPPool
metadata: {name: pool}
spec: {cidr: 192.168.0.0/16}
)",
                                     {"192.168.1.0/26"})});
  s.push_back(
      {"ipip_and_vxlan_pools", inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: IPPool
metadata: {name: ipip}
spec: {cidr: 172.16.0.0/16, ipipMode: Always}
---
kind: IPPool
metadata: {name: vxlan}
spec: {cidr: 172.17.0.0/16, vxlanMode: CrossSubnet}
)",
                                      {"192.168.1.0/26", "172.16.5.0/26", "172.17.7.64/26"})});
  s.push_back({"disable_bgp_export", inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: IPPool
metadata: {name: private}
spec: {cidr: 172.20.0.0/16, disableBGPExport: true}
)",
                                            {"192.168.1.0/26", "172.20.0.0/26"})});
  s.push_back({"service_ips", inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: BGPConfiguration
metadata: {name: default}
spec:
  serviceClusterIPs: [{cidr: 10.96.0.0/12}]
  serviceExternalIPs: [{cidr: 203.0.113.0/24}, {cidr: 'fd00::/64'}]
  serviceLoadBalancerIPs: [{cidr: 198.51.100.0/24}]
)",
                                     {"192.168.1.0/26"})});
  return s;
}

std::string readFile(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs `bird -p -c <file>`; returns the exit status and fills `output`.
int birdParse(const fs::path& file, std::string& output) {
  std::string cmd = std::string(kBird) + " -p -c " + file.string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    output = "popen failed";
    return -1;
  }
  char buf[512];
  while (fgets(buf, sizeof buf, p)) {
    output += buf;
  }
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(RenderGolden, MatchesGoldenFiles) {
  fs::path dir = CARACAL_CONFD_TESTDATA;
  bool update = std::getenv("CARACAL_UPDATE_GOLDEN") != nullptr &&
                std::string(std::getenv("CARACAL_UPDATE_GOLDEN")) == "1";
  auto all = scenarios();
  ASSERT_GE(all.size(), 10u);
  for (const Scenario& s : all) {
    SCOPED_TRACE(s.name);
    auto r = renderBirdConfig(s.in);
    ASSERT_TRUE(r.hasValue()) << r.status().str();
    EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();
    fs::path golden = dir / (s.name + ".conf");
    if (update) {
      std::ofstream(golden) << r->text;
    }
    ASSERT_TRUE(fs::exists(golden))
        << "missing " << golden << " (run with CARACAL_UPDATE_GOLDEN=1)";
    EXPECT_EQ(readFile(golden), r->text) << "golden " << golden << " differs";
  }
}

TEST(RenderGolden, EveryGoldenFileParsesWithBird) {
  if (access(kBird, X_OK) != 0) {
    GTEST_SKIP() << kBird << " not installed; cannot check the golden files with bird -p";
  }
  fs::path dir = CARACAL_CONFD_TESTDATA;
  int checked = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".conf") {
      continue;
    }
    std::string out;
    EXPECT_EQ(birdParse(e.path(), out), 0) << e.path() << ":\n" << out;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(RenderGolden, BirdRejectsBrokenConfig) {
  // The parse check itself must be able to fail, or the test above proves nothing.
  if (access(kBird, X_OK) != 0) {
    GTEST_SKIP() << kBird << " not installed";
  }
  char tmpl[] = "/tmp/confd-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path tmp = tmpl;
  std::ofstream(tmp / "bad.conf") << "router id 1.2.3.4;\nprotocol kernel { krt_tunnel = 1; }\n";
  std::string out;
  EXPECT_NE(birdParse(tmp / "bad.conf", out), 0);
  fs::remove_all(tmp);
}

TEST(Render, DeterministicUnderInputOrder) {
  BirdInputs in = inputs("w1", kRrTopology, {"192.168.20.0/26", "192.168.21.0/26"});
  auto a = renderBirdConfig(in);
  std::reverse(in.nodes.begin(), in.nodes.end());
  std::reverse(in.peers.begin(), in.peers.end());
  std::reverse(in.affineBlocks.begin(), in.affineBlocks.end());
  auto b = renderBirdConfig(in);
  ASSERT_TRUE(a.hasValue() && b.hasValue());
  EXPECT_EQ(a->text, b->text);
}

TEST(Render, MeshPassiveRuleIsStringOrder) {
  // 10.99.0.9 > 10.99.0.12 as strings, although not as numbers.
  auto r = renderBirdConfig(inputs("node-b", kThreeNodes));
  ASSERT_TRUE(r.hasValue());
  const std::string& t = r->text;
  size_t c = t.find("protocol bgp Mesh_10_99_0_9 ");
  size_t a = t.find("protocol bgp Mesh_10_99_0_11 ");
  ASSERT_NE(c, std::string::npos);
  ASSERT_NE(a, std::string::npos);
  EXPECT_NE(t.substr(c, t.find('}', c) - c).find("passive on;"), std::string::npos);
  EXPECT_EQ(t.substr(a, t.find('}', a) - a).find("passive on;"), std::string::npos);
}

TEST(Render, NodeWithoutAddressIsSkippedWithWarning) {
  auto in = inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: Node
metadata: {name: node-x}
spec: {bgp: {}}
)");
  auto r = renderBirdConfig(in);
  ASSERT_TRUE(r.hasValue()) << r.status().str();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("Node node-x"), std::string::npos) << r->warnings[0];
  EXPECT_NE(r->text.find("Mesh_10_99_0_12"), std::string::npos);
}

TEST(Render, ThisNodeWithoutAddressIsAnError) {
  auto r = renderBirdConfig(inputs("node-x", std::string(kThreeNodes) + R"(
---
kind: Node
metadata: {name: node-x}
spec: {}
)"));
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find("node-x"), std::string::npos);
}

TEST(Render, BadSelectorNamesPeerAndField) {
  auto r = renderBirdConfig(inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: BGPPeer
metadata: {name: broken}
spec: {nodeSelector: "rack == ", peerIP: 10.0.0.1, asNumber: 64600}
)"));
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find("BGPPeer broken"), std::string::npos) << r.error().str();
  EXPECT_NE(r.error().message().find("spec.nodeSelector"), std::string::npos) << r.error().str();

  r = renderBirdConfig(inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: BGPPeer
metadata: {name: broken2}
spec: {peerSelector: "has(x"}
)"));
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find("spec.peerSelector"), std::string::npos) << r.error().str();
}

TEST(Render, PeerWithoutAsNumberIsSkippedWithWarning) {
  auto r = renderBirdConfig(inputs("node-a", std::string(kThreeNodes) + R"(
---
kind: BGPPeer
metadata: {name: noas}
spec: {peerIP: 10.99.0.1}
)"));
  ASSERT_TRUE(r.hasValue());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("BGPPeer noas"), std::string::npos);
  EXPECT_EQ(r->text.find("Global_10_99_0_1"), std::string::npos);
}

TEST(Render, RouteReflectorHasNoMeshAndClientsGetRrClient) {
  auto rr = renderBirdConfig(inputs("rr1", kRrTopology));
  ASSERT_TRUE(rr.hasValue());
  EXPECT_EQ(rr->text.find("Mesh_"), std::string::npos);
  // Towards a client: rr client. Towards the other reflector of the same cluster: not.
  size_t w1 = rr->text.find("protocol bgp Node_10_0_0_21 ");
  size_t rr2 = rr->text.find("protocol bgp Node_10_0_0_12 ");
  ASSERT_NE(w1, std::string::npos);
  ASSERT_NE(rr2, std::string::npos);
  EXPECT_NE(rr->text.substr(w1, rr->text.find('}', w1) - w1).find("rr client;"), std::string::npos);
  EXPECT_EQ(rr->text.substr(rr2, rr->text.find('}', rr2) - rr2).find("rr client;"),
            std::string::npos);
  auto client = renderBirdConfig(inputs("w1", kRrTopology));
  ASSERT_TRUE(client.hasValue());
  EXPECT_EQ(client->text.find("rr client"), std::string::npos);
  EXPECT_EQ(client->text.find("Node_10_0_0_22"), std::string::npos);
  EXPECT_NE(client->text.find("Node_10_0_0_11"), std::string::npos);
}

} // namespace
} // namespace caracal::confd
