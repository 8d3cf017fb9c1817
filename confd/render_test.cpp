#include "confd/render.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace caracal::confd {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBird = "/usr/sbin/bird";

// Builds inputs from YAML documents: Nodes, BGPConfigurations, BGPPeers, IPPools, BGPFilters and
// Secrets by kind.
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
    Status st = addBirdInput(in, d);
    EXPECT_TRUE(st.isOk()) << st.message();
  }
  return in;
}

// One YAML document with its separator: `kind`, metadata.name `name`, then the lines in `rest`.
std::string doc(const std::string& kind, const std::string& name, const std::string& rest) {
  return "---\nkind: " + kind + "\nmetadata: {name: " + name + "}\n" + rest + "\n";
}

// A Node with the flow-style `bgp` spec.
std::string nodeDoc(const std::string& name, const std::string& bgp) {
  return doc("Node", name, "spec: {bgp: " + bgp + "}");
}

// An IPPool with the flow-style `spec`.
std::string poolDoc(const std::string& name, const std::string& spec) {
  return doc("IPPool", name, "spec: " + spec);
}

// A BGPPeer with the flow-style `spec`.
std::string peer(const std::string& name, const std::string& spec) {
  return doc("BGPPeer", name, "spec: " + spec);
}

// A BGPPeer in AS 64600 at `ip`; `more` appends spec fields (", filters: [x]").
std::string peerAt(const std::string& name, const std::string& ip, const std::string& more = "") {
  return peer(name, "{peerIP: " + ip + ", asNumber: 64600" + more + "}");
}

// The spec field of a password taken from `key` of Secret `secret`.
std::string passwordFrom(const std::string& secret, const std::string& key) {
  return ", password: {secretKeyRef: {name: " + secret + ", key: " + key + "}}";
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

// Two filters on a ToR peer (every operator, prefix lengths, source, interface), one on the mesh
// of a selected pair and one filter nobody uses (still rendered, as Calico does).
const char* kFilters = R"(
---
kind: BGPFilter
metadata: {name: edge}
spec:
  exportV4:
  - {action: Accept, matchOperator: In, cidr: 192.168.0.0/16, source: RemotePeers}
  - {action: Reject, interface: '*.calico'}
  - {action: Reject, matchOperator: NotIn, cidr: 10.0.0.0/8, prefixLength: {min: 16, max: 24}}
  importV4:
  - {action: Accept, matchOperator: Equal, cidr: 0.0.0.0/0}
  - {action: Reject, matchOperator: NotEqual, cidr: 203.0.113.0/24}
  - {action: Reject}
---
kind: BGPFilter
metadata: {name: no-lb}
spec:
  exportV4:
  - {action: Reject, matchOperator: In, cidr: 198.51.100.0/24, prefixLength: {max: 28}}
---
kind: BGPFilter
metadata: {name: unused}
spec:
  importV4:
  - {action: Reject, matchOperator: In, cidr: 10.1.0.0/16}
---
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 10.99.0.1, asNumber: 64600, filters: [edge, no-lb]}
)";

// A ToR password from `data` (base64), a second peer from `stringData`, and the mesh password.
const std::string kPasswords = R"(
---
kind: BGPConfiguration
metadata: {name: default}
spec:
  nodeMeshPassword: {secretKeyRef: {name: bgp-secrets, key: mesh}}
---
kind: Secret
metadata: {name: bgp-secrets, namespace: caracal-system}
data: {tor: czNjcjN0}
stringData: {mesh: 'mesh\pw'}
)" + peerAt("tor", "10.99.0.1", passwordFrom("bgp-secrets", "tor"));

// Two dual-stack nodes and one IPv4-only node; IPv4 and IPv6 pools; an IPv6 ToR on a port with a
// v6 filter; IPv6 service CIDRs.
const std::string kDualStack =
    nodeDoc("node-a", "{ipv4Address: 10.99.0.11/24, ipv6Address: 'fd00::11/64'}") +
    nodeDoc("node-b", "{ipv4Address: 10.99.0.12/24, ipv6Address: 'fd00::2/64'}") +
    nodeDoc("node-c", "{ipv4Address: 10.99.0.9/24}") + poolDoc("pool4", "{cidr: 192.168.0.0/16}") +
    poolDoc("pool6", "{cidr: 'fd00:10::/48', blockSize: 122}") +
    poolDoc("pool6-vxlan", "{cidr: 'fd00:11::/48', vxlanMode: Always}") +
    doc("BGPConfiguration", "default",
        "spec: {serviceClusterIPs: [{cidr: 10.96.0.0/12}, {cidr: 'fd00:96::/108'}]}") +
    doc("BGPFilter", "v6-only-pools",
        "spec: {exportV6: [{action: Accept, matchOperator: In, cidr: 'fd00:10::/48'}, "
        "{action: Reject}]}") +
    peerAt("tor6", "'[fd00::1]:1790'", ", filters: [v6-only-pools]") +
    peerAt("tor4", "10.99.0.1", ", filters: [v6-only-pools]");

// IPv6-only nodes: the router id is hashed from the node name.
const std::string kV6Only = nodeDoc("v6-a", "{ipv6Address: 'fd00:20::a/64'}") +
                            nodeDoc("v6-b", "{ipv6Address: 'fd00:20::b/64'}") +
                            poolDoc("pool6", "{cidr: 'fd00:20::/64', blockSize: 122}");

// The remaining BGPConfiguration and BGPPeer fields.
const char* kOptions = R"(
---
kind: BGPConfiguration
metadata: {name: default}
spec:
  nodeMeshMaxRestartTime: 90s
  bindMode: NodeIP
  ignoredInterfaces: [eth9, 'docker*']
  communities:
  - {name: pods, value: '64512:300:100'}
  prefixAdvertisements:
  - {cidr: 192.168.0.0/16, communities: [pods, '64512:120']}
---
kind: BGPConfiguration
metadata: {name: node.node-a}
spec: {listenPort: 1790}
---
kind: BGPPeer
metadata: {name: tor}
spec:
  peerIP: 172.31.0.1
  asNumber: 64600
  localASNumber: 65010
  keepaliveTime: 30s
  numAllowedLocalASNumbers: 2
  reachableBy: 10.99.0.254
---
kind: BGPPeer
metadata: {name: tor-nosrc}
spec: {peerIP: 10.99.0.2, asNumber: 64512, sourceAddress: None, keepaliveTime: 1m}
)";

// kThreeNodes plus `extra`, as seen from `node`.
BirdInputs threeNodes(const std::string& extra, std::vector<std::string> blocks = {},
                      const std::string& node = "node-a") {
  return inputs(node, std::string(kThreeNodes) + extra, std::move(blocks));
}

Result<BirdConfig> renderThreeNodes(const std::string& extra, const std::string& node = "node-a") {
  return renderBirdConfig(threeNodes(extra, {}, node));
}

struct Scenario {
  std::string name;
  BirdInputs in;
};

std::vector<Scenario> scenarios() {
  std::vector<Scenario> s;
  s.push_back({"mesh_3nodes", inputs("node-a", kThreeNodes, {"192.168.1.0/26"})});
  s.push_back({"mesh_passive_rule", inputs("node-c", kThreeNodes, {"192.168.2.0/26"})});
  s.push_back({"no_affine_blocks", inputs("node-b", kThreeNodes)});
  s.push_back({"mesh_off_global_peer", threeNodes(R"(
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
  s.push_back({"node_specific_peer", threeNodes(R"(
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
      {"ipip_and_vxlan_pools", threeNodes(R"(
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
  s.push_back({"disable_bgp_export", threeNodes(R"(
---
kind: IPPool
metadata: {name: private}
spec: {cidr: 172.20.0.0/16, disableBGPExport: true}
)",
                                                {"192.168.1.0/26", "172.20.0.0/26"})});
  s.push_back({"service_ips", threeNodes(R"(
---
kind: BGPConfiguration
metadata: {name: default}
spec:
  serviceClusterIPs: [{cidr: 10.96.0.0/12}]
  serviceExternalIPs: [{cidr: 203.0.113.0/24}, {cidr: 'fd00::/64'}]
  serviceLoadBalancerIPs: [{cidr: 198.51.100.0/24}]
)",
                                         {"192.168.1.0/26"})});
  s.push_back({"bgp_filters", threeNodes(kFilters, {"192.168.1.0/26"})});
  s.push_back({"bgp_passwords", threeNodes(kPasswords, {"192.168.1.0/26"})});
  s.push_back(
      {"ipv6_dual_stack", inputs("node-a", kDualStack, {"192.168.1.0/26", "fd00:10:1::/122"})});
  s.push_back({"ipv6_only", inputs("v6-a", kV6Only, {"fd00:20::40/122"})});
  s.push_back({"bgp_options", threeNodes(kOptions, {"192.168.1.0/26"})});
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

// Renders `in` before and after `reorder` rearranges its lists: the text must not change.
void expectOrderIndependent(BirdInputs in, const std::function<void(BirdInputs&)>& reorder) {
  auto a = renderBirdConfig(in);
  reorder(in);
  auto b = renderBirdConfig(in);
  ASSERT_TRUE(a.hasValue() && b.hasValue());
  EXPECT_EQ(a->text, b->text);
}

TEST(Render, DeterministicUnderInputOrder) {
  expectOrderIndependent(inputs("w1", kRrTopology, {"192.168.20.0/26", "192.168.21.0/26"}),
                         [](BirdInputs& in) {
                           std::ranges::reverse(in.nodes);
                           std::ranges::reverse(in.peers);
                           std::ranges::reverse(in.affineBlocks);
                         });
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
  auto r = renderThreeNodes(doc("Node", "node-x", "spec: {bgp: {}}"));
  ASSERT_TRUE(r.hasValue()) << r.status().str();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("Node node-x"), std::string::npos) << r->warnings[0];
  EXPECT_NE(r->text.find("Mesh_10_99_0_12"), std::string::npos);
}

TEST(Render, ThisNodeWithoutAddressIsAnError) {
  auto r = renderThreeNodes(doc("Node", "node-x", "spec: {}"), "node-x");
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find("node-x"), std::string::npos);
}

TEST(Render, BadSelectorNamesPeerAndField) {
  auto r = renderThreeNodes(
      peer("broken", R"({nodeSelector: "rack == ", peerIP: 10.0.0.1, asNumber: 64600})"));
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find("BGPPeer broken"), std::string::npos) << r.error().str();
  EXPECT_NE(r.error().message().find("spec.nodeSelector"), std::string::npos) << r.error().str();

  r = renderThreeNodes(peer("broken2", R"({peerSelector: "has(x"})"));
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find("spec.peerSelector"), std::string::npos) << r.error().str();
}

TEST(Render, PeerWithoutAsNumberIsSkippedWithWarning) {
  auto r = renderThreeNodes(peer("noas", "{peerIP: 10.99.0.1}"));
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

// The text of one `protocol bgp <name> ` block ("" when absent).
std::string block(const std::string& text, const std::string& name) {
  size_t at = text.find("protocol bgp " + name + " ");
  if (at == std::string::npos) {
    return "";
  }
  size_t end = text.find("\n}\n", at);
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

bool hasWarning(const BirdConfig& c, std::initializer_list<const char*> parts) {
  for (const std::string& w : c.warnings) {
    bool all = true;
    for (const char* p : parts) {
      all = all && w.find(p) != std::string::npos;
    }
    if (all) {
      return true;
    }
  }
  return false;
}

TEST(RenderFilters, CallsPrecedeDefaultLogicInPeerOrder) {
  auto r = renderThreeNodes(kFilters);
  ASSERT_TRUE(r.hasValue()) << r.status().str();
  std::string tor = block(r->text, "Global_10_99_0_1");
  ASSERT_FALSE(tor.empty());
  size_t edge = tor.find("'bgp_edge_exportFilterV4'();");
  size_t nolb = tor.find("'bgp_no-lb_exportFilterV4'();");
  size_t def = tor.find("if calico_export_to_bgp_peers() then accept;");
  ASSERT_NE(edge, std::string::npos) << tor;
  ASSERT_NE(nolb, std::string::npos) << tor;
  ASSERT_NE(def, std::string::npos) << tor;
  EXPECT_LT(edge, nolb);
  EXPECT_LT(nolb, def);
  // no-lb has no import rules: only edge is called on import.
  EXPECT_NE(tor.find("'bgp_edge_importFilterV4'();"), std::string::npos);
  EXPECT_EQ(tor.find("'bgp_no-lb_importFilterV4'"), std::string::npos);
  // Mesh sessions do not list the filter and keep the template's filters.
  EXPECT_EQ(block(r->text, "Mesh_10_99_0_12").find("bgp_edge"), std::string::npos);
  // Rule translation.
  EXPECT_NE(r->text.find("  if ((net !~ [ 10.0.0.0/8{16,24} ])) then { reject; }"),
            std::string::npos);
  EXPECT_NE(r->text.find("  if ((net ~ [ 198.51.100.0/24{24,28} ])) then { reject; }"),
            std::string::npos);
  EXPECT_NE(r->text.find("  if (((defined(ifname))&&(ifname ~ \"*.calico\"))) then { reject; }"),
            std::string::npos);
  EXPECT_NE(r->text.find("function 'bgp_unused_importFilterV4'()"), std::string::npos);
}

TEST(RenderFilters, UnknownFilterWarnsAndKeepsPeer) {
  auto r = renderThreeNodes(peerAt("tor", "10.99.0.1", ", filters: [missing]"));
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(hasWarning(*r, {"BGPPeer tor", "missing"})) << ::testing::PrintToString(r->warnings);
  std::string tor = block(r->text, "Global_10_99_0_1");
  ASSERT_FALSE(tor.empty());
  EXPECT_EQ(tor.find("filter"), std::string::npos) << tor;
}

TEST(RenderFilters, InvalidFilterIsNotRenderedAndPeerSkipsIt) {
  auto r = renderThreeNodes(
      doc("BGPFilter", "bad",
          "spec: {exportV4: [{action: Accept, matchOperator: In, cidr: 'fd00::/64'}]}") +
      peerAt("tor", "10.99.0.1", ", filters: [bad]"));
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(hasWarning(*r, {"BGPFilter bad", "spec.exportV4[0]", "fd00::/64"}));
  EXPECT_TRUE(hasWarning(*r, {"BGPPeer tor", "\"bad\" is invalid"}));
  EXPECT_EQ(r->text.find("bgp_bad"), std::string::npos);
  EXPECT_FALSE(block(r->text, "Global_10_99_0_1").empty());
}

TEST(RenderFilters, LongNamesAreShortenedWithAHash) {
  const std::string name = "a-very-long-filter-name-that-exceeds-the-bird-symbol-limit-x";
  auto r = renderThreeNodes(doc("BGPFilter", name, "spec: {exportV4: [{action: Reject}]}") +
                            peerAt("tor", "10.99.0.1", ", filters: [" + name + "]"));
  ASSERT_TRUE(r.hasValue());
  const std::string fn = "'bgp_a-very-long-filter-name-that_4C5F46E2676823AD_exportFilterV4'";
  EXPECT_EQ(fn.size() - 2, 64u);
  EXPECT_NE(r->text.find("function " + fn + "()"), std::string::npos) << r->text;
  EXPECT_NE(block(r->text, "Global_10_99_0_1").find(fn + "();"), std::string::npos);
}

TEST(RenderPasswords, MissingSecretOrKeySkipsThePeerWithWarning) {
  auto r = renderThreeNodes(doc("Secret", "present", "stringData: {other: x}") +
                            peerAt("p1", "10.99.0.1", passwordFrom("absent", "pw")) +
                            peerAt("p2", "10.99.0.2", passwordFrom("present", "pw")) +
                            peerAt("p3", "10.99.0.3"));
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(hasWarning(*r, {"BGPPeer p1", "\"absent\"", "\"pw\""}))
      << ::testing::PrintToString(r->warnings);
  EXPECT_TRUE(hasWarning(*r, {"BGPPeer p2", "\"present\"", "\"pw\""}))
      << ::testing::PrintToString(r->warnings);
  EXPECT_TRUE(block(r->text, "Global_10_99_0_1").empty());
  EXPECT_TRUE(block(r->text, "Global_10_99_0_2").empty());
  EXPECT_FALSE(block(r->text, "Global_10_99_0_3").empty());
  EXPECT_EQ(r->text.find("password"), std::string::npos);
}

TEST(RenderPasswords, ValuesBirdCannotQuoteAreRefused) {
  // BIRD 2.0 strings have no escapes: a double quote cannot be written, a backslash is literal.
  const std::string secret = doc("Secret", "s",
                                 R"(stringData: {quote: 'a"b', slash: 'a\b'})"
                                 "\ndata: {broken: '!!notbase64'}");
  auto r = renderThreeNodes(secret + peerAt("q", "10.99.0.1", passwordFrom("s", "quote")) +
                            peerAt("b", "10.99.0.2", passwordFrom("s", "broken")) +
                            peerAt("w", "10.99.0.3", passwordFrom("s", "slash")));
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(hasWarning(*r, {"BGPPeer q", "double quote"}));
  EXPECT_TRUE(hasWarning(*r, {"BGPPeer b", "base64"}));
  EXPECT_TRUE(block(r->text, "Global_10_99_0_1").empty());
  EXPECT_TRUE(block(r->text, "Global_10_99_0_2").empty());
  EXPECT_NE(block(r->text, "Global_10_99_0_3").find("password \"a\\b\";"), std::string::npos);
}

TEST(RenderPasswords, MissingMeshPasswordSkipsTheMesh) {
  auto r = renderThreeNodes(doc("BGPConfiguration", "default",
                                "spec: {nodeMeshPassword: {secretKeyRef: {name: mesh, key: pw}}}"));
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(hasWarning(*r, {"nodeMeshPassword", "\"mesh\"", "\"pw\""}));
  EXPECT_EQ(r->text.find("Mesh_"), std::string::npos);
}

TEST(RenderIpv6, HashedRouterIdWhenNoIpv4) {
  auto r = renderBirdConfig(inputs("v6-a", kV6Only));
  ASSERT_TRUE(r.hasValue()) << r.status().str();
  EXPECT_NE(r->text.find("router id 4.232.122.218;"), std::string::npos);
  EXPECT_EQ(r->text.find("ipv4"), std::string::npos);
  EXPECT_NE(r->text.find("protocol bgp Mesh_fd00_20__b from bgp_template_v6"), std::string::npos);
  auto b = renderBirdConfig(inputs("v6-b", kV6Only));
  ASSERT_TRUE(b.hasValue());
  EXPECT_NE(b->text.find("router id 193.186.72.16;"), std::string::npos);
}

TEST(RenderIpv6, V6PeerOnV4OnlyNodeWarns) {
  auto r = renderThreeNodes(peerAt("tor6", "'fd00::1'"));
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(hasWarning(*r, {"BGPPeer tor6", "IPv6"}));
  EXPECT_EQ(r->text.find("fd00"), std::string::npos);
}

TEST(RenderIpv6, MeshOnlyBetweenNodesOfTheFamily) {
  auto r = renderBirdConfig(inputs("node-a", kDualStack));
  ASSERT_TRUE(r.hasValue());
  EXPECT_NE(r->text.find("protocol bgp Mesh_fd00__2 "), std::string::npos);
  EXPECT_NE(r->text.find("protocol bgp Mesh_10_99_0_9 "), std::string::npos);
  // fd00::2 > fd00::11 as strings: this side listens.
  EXPECT_NE(block(r->text, "Mesh_fd00__2").find("passive on;"), std::string::npos);
  EXPECT_NE(block(r->text, "Mesh_fd00__2").find("source address fd00::11;"), std::string::npos);
  EXPECT_NE(block(r->text, "Global_fd00__1_port_1790").find("'bgp_v6-only-pools_exportFilterV6'"),
            std::string::npos);
  // The filter has no IPv4 rules: the IPv4 session keeps the template's filters.
  EXPECT_EQ(block(r->text, "Global_10_99_0_1").find("bgp_v6-only-pools"), std::string::npos);
}

TEST(Render, DeterministicWithFiltersAndSecrets) {
  expectOrderIndependent(threeNodes(kFilters + kPasswords), [](BirdInputs& in) {
    std::ranges::reverse(in.filters);
    std::ranges::reverse(in.secrets);
    std::ranges::reverse(in.peers);
  });
}

} // namespace
} // namespace caracal::confd
