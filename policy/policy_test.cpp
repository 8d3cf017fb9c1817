#include "policy/ipt_render.h"
#include "policy/nft_render.h"
#include "policy/rules.h"
#include "policy/scenarios_test_util.h"

#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>

namespace caracal::policy {
namespace {

// --- golden files ---

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void checkGolden(const std::string& file, const std::string& actual) {
  std::string path = std::string(CARACAL_POLICY_TESTDATA) + "/" + file;
  const char* update = std::getenv("CARACAL_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream(path) << actual;
    return;
  }
  std::ifstream probe(path);
  ASSERT_TRUE(probe.good()) << path << " missing; run with CARACAL_UPDATE_GOLDEN=1";
  EXPECT_EQ(readFile(path), actual)
      << "golden " << path << " differs; CARACAL_UPDATE_GOLDEN=1 rewrites it";
}

class GoldenTest : public ::testing::TestWithParam<testing::Scenario> {};

TEST_P(GoldenTest, MatchesFiles) {
  const auto& s = GetParam();
  auto r = testing::render(s);
  ASSERT_TRUE(r) << r.error().str();
  checkGolden(s.name + ".nft", r->nft);
  checkGolden(s.name + ".v4.ipt", r->ipt4);
  checkGolden(s.name + ".v6.ipt", r->ipt6);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, GoldenTest, ::testing::ValuesIn(testing::scenarios()),
                         [](const auto& info) { return info.param.name; });

// --- compiler semantics ---

Value json(const char* text) {
  auto v = parseJson(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : Value();
}

Result<std::vector<CompiledRule>> compile(const char* rule, Direction d = Direction::Ingress,
                                          std::string ns = "", int index = -1) {
  static HashSetNamer namer;
  return compileRule(json(rule), d, namer, RuleContext{std::move(ns), index});
}

std::string errorOf(const char* rule, int index = 2) {
  auto r = compile(rule, Direction::Ingress, "", index);
  EXPECT_FALSE(r) << rule;
  return r ? "" : r.error().message();
}

TEST(CompileRule, ErrorsNameTheField) {
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": "TCP",
                        "destination": {"ports": ["80:70"]}})j"),
            "ingress[2].destination.ports[0]: \"80:70\" is not a range (80 > 70)");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "destination": {"ports": [80]}})j"),
            "ingress[2].destination.ports: rules that specify ports must set protocol to TCP, UDP "
            "or SCTP");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": "ICMP", "notProtocol": "TCP",
                        "source": {"notPorts": [1]}})j"),
            "ingress[2].source.notPorts: rules that specify ports must set protocol to TCP, UDP "
            "or SCTP");
  EXPECT_EQ(errorOf(R"j({"action": "Drop"})j"),
            "ingress[2].action: unknown action \"Drop\" (allowed: Allow, Deny, Log, Pass)");
  EXPECT_EQ(errorOf(R"j({"protocol": "TCP"})j"),
            "ingress[2].action: required value (Allow, Deny, Log or Pass)");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "source": {"nets": ["10.0.0.0/33"]}})j"),
            "ingress[2].source.nets[0]: \"10.0.0.0/33\" is not a CIDR");
  EXPECT_NE(errorOf(R"j({"action": "Allow", "source": {"selector": "app == web"}})j")
                .find("ingress[2].source.selector: invalid selector"),
            std::string::npos);
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": "TCP", "icmp": {"type": 8}})j"),
            "ingress[2].icmp: rules that specify ICMP types must set protocol to ICMP or ICMPv6");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": "ICMP", "ipVersion": 6})j"),
            "ingress[2].ipVersion: must be 4 with protocol ICMP");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": "GRE"})j").substr(0, 41),
            "ingress[2].protocol: unknown protocol \"GR");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": 0})j"),
            "ingress[2].protocol: invalid protocol number 0: must be between 1 and 255");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": "TCP",
                        "destination": {"ports": ["Http"]}})j")
                .substr(0, 41),
            "ingress[2].destination.ports[0]: \"Http\" i");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "destination": {"services": {"name": "x"}}})j"),
            "ingress[2].destination.services: service matches are not supported by this "
            "dataplane");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "http": {"methods": ["GET"]}})j"),
            "ingress[2].http: HTTP matches are not supported by this dataplane");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "sources": {}})j"),
            "ingress[2].sources: unknown field (did you mean source?)");
  EXPECT_EQ(errorOf(R"j({"action": "Allow", "protocol": "ICMP", "icmp": {"code": 1}})j"),
            "ingress[2].icmp.code: an ICMP code needs an ICMP type");
}

TEST(CompileRule, NoAddressMatchGivesOneRuleForBothFamilies) {
  auto r = compile(R"j({"action": "Allow", "protocol": "tcp", "destination": {"ports": [80]}})j");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].ipVersion, 0);
  EXPECT_EQ((*r)[0].protocol, kProtoTcp);
  EXPECT_EQ((*r)[0].destination.ports, (std::vector<PortRange>{{80, 80}}));
  EXPECT_EQ((*r)[0].action, Action::Allow);
}

TEST(CompileRule, SelectorsSplitPerFamily) {
  auto r = compile(R"j({"action": "Deny", "source": {"selector": "a == 'b'"}})j");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].ipVersion, 4);
  EXPECT_EQ((*r)[1].ipVersion, 6);
  ASSERT_TRUE((*r)[0].source.selector);
  EXPECT_EQ((*r)[0].source.selector->ipVersion, 4);
  EXPECT_EQ((*r)[1].source.selector->ipVersion, 6);
  EXPECT_NE((*r)[0].source.selector->name, (*r)[1].source.selector->name);
}

TEST(CompileRule, NetsRestrictTheFamily) {
  auto r = compile(R"j({"action": "Deny", "source": {"nets": ["10.0.0.1/8"],
                                                    "notNets": ["fd00::/8"]}})j");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].ipVersion, 4);
  EXPECT_TRUE((*r)[0].source.nets);
  EXPECT_FALSE((*r)[0].source.notNets); // IPv6 notNets do not constrain IPv4 packets
  // ipVersion 6 with only IPv4 nets never matches.
  auto none =
      compile(R"j({"action": "Deny", "ipVersion": 6, "source": {"nets": ["10.0.0.0/8"]}})j");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(CompileRule, NetSetsAreMaskedAndShared) {
  HashSetNamer namer;
  auto a = compileRule(json(R"j({"action": "Deny", "source": {"nets": ["10.0.0.1/8"]}})j"),
                       Direction::Ingress, namer);
  auto b = compileRule(json(R"j({"action": "Deny", "destination": {"nets": ["10.0.0.0/8"]}})j"),
                       Direction::Egress, namer);
  ASSERT_TRUE(a && b);
  EXPECT_EQ((*a)[0].source.nets->name, (*b)[0].destination.nets->name);
  ASSERT_EQ(namer.sets().size(), 1u);
  EXPECT_EQ(namer.sets()[0].nets[0].str(), "10.0.0.0/8");
  EXPECT_EQ(namer.sets()[0].ref.kind, SetKind::Interval);
}

TEST(CompileRule, ProtocolEqualToNotProtocolNeverMatches) {
  auto r = compile(R"j({"action": "Allow", "protocol": "TCP", "notProtocol": 6})j");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  auto d = compile(R"j({"action": "Allow", "protocol": "TCP", "notProtocol": "UDP"})j");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size(), 1u);
  EXPECT_FALSE((*d)[0].notProtocol);
}

TEST(CompileRule, IcmpImpliesTheFamily) {
  auto v4 = compile(R"j({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}})j");
  ASSERT_TRUE(v4);
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ((*v4)[0].ipVersion, 4);
  EXPECT_EQ((*v4)[0].icmpType, 8);
  EXPECT_EQ((*v4)[0].icmpCode, 0);
  auto v6 = compile(R"j({"action": "Allow", "protocol": 58, "source": {"selector": "x == 'y'"}})j");
  ASSERT_TRUE(v6);
  ASSERT_EQ(v6->size(), 1u);
  EXPECT_EQ((*v6)[0].ipVersion, 6);
}

TEST(CompileRule, PortsAreMergedAndNamedPortsAreAlternatives) {
  HashSetNamer namer;
  auto r = compileRule(json(R"j({"action": "Allow", "protocol": "TCP",
      "destination": {"selector": "app == 'web'",
                      "ports": [82, "80:81", 90, "http", "http", "https"]}})j"),
                       Direction::Ingress, namer);
  ASSERT_TRUE(r);
  // Per family: numeric ports, http, https.
  ASSERT_EQ(r->size(), 6u);
  EXPECT_EQ((*r)[0].destination.ports, (std::vector<PortRange>{{80, 82}, {90, 90}}));
  EXPECT_FALSE((*r)[0].destination.namedPort);
  ASSERT_TRUE((*r)[1].destination.namedPort);
  EXPECT_EQ((*r)[1].destination.namedPort->kind, SetKind::AddrPort);
  EXPECT_TRUE((*r)[1].destination.ports.empty());
  EXPECT_TRUE((*r)[1].destination.notPorts.empty()); // not Log: alternatives may overlap
  bool found = false;
  for (const auto& s : namer.sets()) {
    if (s.ref == *(*r)[1].destination.namedPort) {
      found = true;
      EXPECT_EQ(s.portName, "http");
      EXPECT_EQ(s.protocol, kProtoTcp);
      EXPECT_EQ(s.selector, "app == \"web\"");
    }
  }
  EXPECT_TRUE(found);
}

TEST(CompileRule, LogAlternativesAreDisjoint) {
  auto r = compile(R"j({"action": "Log", "protocol": "TCP",
                       "destination": {"ports": [80, "http", "https"]}})j");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 6u);
  const auto& https = (*r)[2].destination;
  ASSERT_TRUE(https.namedPort);
  EXPECT_EQ(https.notPorts, (std::vector<PortRange>{{80, 80}}));
  ASSERT_EQ(https.notNamedPorts.size(), 1u);
  EXPECT_EQ(https.notNamedPorts[0], *(*r)[1].destination.namedPort);
}

TEST(CompileRule, CompilePolicyNumbersRules) {
  HashSetNamer namer;
  auto p = compilePolicy(json(R"j({"ingress": [{"action": "Allow"}, {"action": "Deny"}],
                                  "egress": [{"action": "Pass"}]})j"),
                         "", namer);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->ingress.size(), 2u);
  EXPECT_EQ(p->ingress[1].origin, "ingress[1]");
  EXPECT_EQ(p->ingress[1].action, Action::Deny);
  ASSERT_EQ(p->egress.size(), 1u);
  EXPECT_EQ(p->egress[0].origin, "egress[0]");
  auto bad =
      compilePolicy(json(R"j({"egress": [{"action": "Pass"}, {"action": "x"}]})j"), "", namer);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message().substr(0, 17), "egress[1].action:");
}

// --- selector rewriting (Calico's updateprocessors/rules.go) ---

std::string sel(const char* entity, const char* ns) {
  auto r = entitySelector(json(entity), ns, "source");
  EXPECT_TRUE(r) << r.error().str();
  return r ? *r : "<error>";
}

TEST(EntitySelector, NamespacedPolicyConfinesSelectors) {
  EXPECT_EQ(sel(R"j({"selector": "role == 'fe'"})j", "prod"),
            "projectcalico.org/namespace == \"prod\" && role == \"fe\"");
  // notSelector alone also confines (and stays as written).
  EXPECT_EQ(sel(R"j({"notSelector": "a == 'b'"})j", "prod"),
            "projectcalico.org/namespace == \"prod\"");
  // Nets alone select no endpoints.
  EXPECT_EQ(sel(R"j({"nets": ["10.0.0.0/8"]})j", "prod"), "");
  EXPECT_EQ(sel(R"j({"selector": "role == 'fe'"})j", ""), "role == \"fe\"");
}

TEST(EntitySelector, NamespaceSelectorGetsPcnsPrefix) {
  EXPECT_EQ(sel(R"j({"namespaceSelector": "team == 'a' || has(x)", "selector": "role == 'fe'"})j",
                "prod"),
            "(pcns.team == \"a\" || has(pcns.x)) && role == \"fe\"");
  EXPECT_EQ(sel(R"j({"namespaceSelector": "all()"})j", "prod"), "has(projectcalico.org/namespace)");
  EXPECT_EQ(sel(R"j({"namespaceSelector": "global()"})j", ""), "!has(projectcalico.org/namespace)");
  EXPECT_EQ(sel(R"j({"namespaceSelector": "!(a in {'x', 'y'}) && b not in {'z'}"})j", ""),
            "!(pcns.a in {\"x\", \"y\"}) && pcns.b not in {\"z\"}");
}

TEST(EntitySelector, ServiceAccounts) {
  EXPECT_EQ(sel(R"j({"serviceAccounts": {"names": ["web", "api"]}})j", ""),
            "projectcalico.org/serviceaccount in {\"api\", \"web\"}");
  EXPECT_EQ(sel(R"j({"serviceAccounts": {"selector": "tier starts with 'x'", "names": ["a"]},
                    "selector": "app == 'z'"})j",
                "ns1"),
            "projectcalico.org/namespace == \"ns1\" && pcsa.tier starts with \"x\" && "
            "projectcalico.org/serviceaccount in {\"a\"} && app == \"z\"");
}

TEST(EntitySelector, PrefixLabels) {
  auto r = prefixSelectorLabels("has(a) && b contains 'c' || all()", "p.");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "has(p.a) && p.b contains \"c\" || all()");
  // A label named like a function word is still a label.
  auto has = prefixSelectorLabels("has == 'x'", "p.");
  ASSERT_TRUE(has);
  EXPECT_EQ(*has, "p.has == \"x\"");
}

// --- names ---

TEST(ChainNames, PrefixAndHash) {
  EXPECT_EQ(nftPolicyChainName("np/prod/api", Direction::Ingress), "pi-np/prod/api");
  EXPECT_EQ(nftPolicyChainName("gnp/x", Direction::Egress), "po-gnp/x");
  EXPECT_EQ(nftPolicyChainName("kns.prod", Direction::Ingress, true), "pri-kns.prod");
  EXPECT_EQ(nftEndpointChainName("cali12345", Direction::Egress), "fw-cali12345");
  EXPECT_EQ(iptPolicyChainName("gnp/allow-dns", Direction::Ingress), "cali-pi-gnp/allow-dns");
  std::string longId = "np/some-namespace/a-policy-name";
  std::string h = iptPolicyChainName(longId, Direction::Ingress);
  EXPECT_EQ(h.size(), kIptMaxChainName);
  EXPECT_EQ(h, "cali-pi-_" + sha256Base64Url(longId).substr(0, 19));
  EXPECT_NE(h, iptPolicyChainName(longId + "x", Direction::Ingress));
  // Characters an nft identifier cannot hold force the hash.
  EXPECT_EQ(nftPolicyChainName("staged:x", Direction::Ingress).substr(0, 4), "pi-_");
  EXPECT_EQ(nftPolicyChainName(std::string(300, 'a'), Direction::Ingress).size(), 3u + 1 + 43);
}

TEST(Render, ActionsAndMarks) {
  CompiledRule r;
  r.action = Action::Allow;
  EXPECT_EQ(renderNftRule(r), "meta mark set meta mark | 0x00010000 return");
  r.action = Action::Pass;
  EXPECT_EQ(renderNftRule(r), "meta mark set meta mark | 0x00020000 return");
  r.action = Action::Deny;
  EXPECT_EQ(renderNftRule(r), "drop");
  r.action = Action::Log;
  r.origin = "egress[3]";
  EXPECT_EQ(renderNftRule(r), "log prefix \"calico-packet: \" comment \"egress[3]\"");
  r.origin.clear();
  r.action = Action::Allow;
  EXPECT_EQ(renderIptRule(r, 4),
            (std::vector<std::string>{"-j MARK --set-xmark 0x10000/0x10000",
                                      "-m mark --mark 0x10000/0x10000 -j RETURN"}));
  r.ipVersion = 6;
  EXPECT_TRUE(renderIptRule(r, 4).empty());
  EXPECT_EQ(renderNftRule(r), "meta nfproto ipv6 meta mark set meta mark | 0x00010000 return");
}

TEST(Render, IptEarlyHostEndpointChainsOnlyDecide) {
  EndpointChainSpec spec;
  spec.interfaceName = "eth0";
  spec.host = true;
  spec.hook = HostHook::PreDnat;
  spec.failsafe = {{kProtoTcp, 22}};
  spec.tiers = {{"t1", {"gnp/a", "gnp/b"}, TierDefault::Deny},
                {"t2", {"gnp/c"}, TierDefault::Pass}};
  spec.profileIds = {"kns.x"}; // not used before DNAT
  IptChain pre = renderIptEndpointChain(spec);
  EXPECT_EQ(pre.name, "cali-fhpre-eth0");
  EXPECT_EQ(pre.name, iptEndpointChainName(spec));
  const std::vector<std::string> preRules = {
      "-p tcp -m tcp --dport 22 -m comment --comment \"failsafe\" -j ACCEPT",
      "-j MARK --set-xmark 0x0/0x30000",
      "-j cali-pi-gnp/a",
      "-m mark --mark 0x10000/0x10000 -j RETURN",
      "-m mark --mark 0x0/0x20000 -j cali-pi-gnp/b",
      "-m mark --mark 0x10000/0x10000 -j RETURN",
      "-j MARK --set-xmark 0x0/0x20000",
      "-j cali-pi-gnp/c",
      "-m mark --mark 0x10000/0x10000 -j RETURN",
  };
  EXPECT_EQ(pre.rules, preRules);

  spec.hook = HostHook::Untracked;
  spec.direction = Direction::Egress;
  spec.failsafe = {{kProtoUdp, 53}};
  spec.tiers = {{"t1", {"gnp/a"}, TierDefault::Deny}};
  IptChain un = renderIptEndpointChain(spec);
  EXPECT_EQ(un.name, "cali-thun-eth0");
  EXPECT_EQ(un.rules, (std::vector<std::string>{
                          "-p udp -m udp --dport 53 -m comment --comment \"failsafe\" -j ACCEPT",
                          "-j MARK --set-xmark 0x0/0x30000",
                          "-j cali-po-gnp/a",
                          "-m mark --mark 0x10000/0x10000 -j RETURN",
                      }));
  spec.direction = Direction::Ingress;
  EXPECT_EQ(renderIptEndpointChain(spec).name, "cali-fhun-eth0");

  // The ordinary chain of the same endpoint still ends each Deny tier and the chain with a drop,
  // and runs the profiles.
  spec.hook = HostHook::Local;
  IptChain local = renderIptEndpointChain(spec);
  EXPECT_EQ(local.name, "cali-fh-eth0");
  ASSERT_GE(local.rules.size(), 4u);
  EXPECT_EQ(local.rules[local.rules.size() - 4],
            "-m comment --comment \"end of tier t1: Deny\" -m mark --mark 0x0/0x20000 -j DROP");
  EXPECT_EQ(local.rules[local.rules.size() - 3], "-j cali-pri-kns.x");
  EXPECT_EQ(local.rules.back(), "-m comment --comment \"no policy or profile allowed\" -j DROP");
}

TEST(Render, IptRestoreNamesTheTable) {
  IptChain c{"cali-x", {"-j ACCEPT"}};
  EXPECT_EQ(renderIptRestore({c}), "*filter\n:cali-x - [0:0]\n-A cali-x -j ACCEPT\nCOMMIT\n");
  EXPECT_EQ(renderIptRestore({c}, "raw"), "*raw\n:cali-x - [0:0]\n-A cali-x -j ACCEPT\nCOMMIT\n");
}

} // namespace
} // namespace caracal::policy
