// NftPolicyTable against the real kernel, checked with the real nft binary. Every test works in
// named network namespaces "policynft-<pid>-<suffix>" that its guards delete, also on failure;
// nothing touches the caller's namespace. Skips without root.
//
// The strongest check: the golden scenarios are written once by the netlink writer and once by
// `nft -f` from nft_render.h's text, each in its own namespace, and `nft list table inet caracal`
// must print the same chains and sets, rule for rule.

#include "common/strings.h"
#include "ipip/netns_testutil.h"
#include "policy/nft_render.h"
#include "policy/nft_table.h"
#include "policy/scenarios_test_util.h"
#include "policy/traffic_test_util.h"

#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

namespace caracal::policy {
namespace {

using caracal::testing::BackgroundCommand;
using caracal::testing::Netns;
using caracal::testing::runCommand;
using caracal::testing::TempDir;
using testing::linkPeer;
using testing::Listener;
using testing::tcpConnects;
using testing::tcpRule;
using testing::trackedTo;

#define REQUIRE_NETNS()                                                                            \
  do {                                                                                             \
    if (!caracal::testing::isRoot() || !caracal::testing::haveProgram("ip") ||                     \
        !caracal::testing::haveProgram("nft")) {                                                   \
      GTEST_SKIP() << "needs root, iproute2 and nft";                                              \
    }                                                                                              \
  } while (0)

std::unique_ptr<Netns> makeNetns(const std::string& suffix) {
  auto ns = std::make_unique<Netns>("policynft", suffix);
  if (!ns->ok()) {
    ADD_FAILURE() << "cannot create namespace " << ns->name();
    return nullptr;
  }
  return ns;
}

std::unique_ptr<NftPolicyTable> openTable(const Netns& ns) {
  auto t = NftPolicyTable::open(ns.path());
  if (!t) {
    ADD_FAILURE() << t.error().str();
    return nullptr;
  }
  return std::move(*t);
}

std::string listTable(const Netns& ns) { return ns.exec("nft list table inet caracal").output; }

// `nft list` output as blocks: "chain x" / "set y" / "map z" -> its trimmed, non-empty lines.
using Blocks = std::map<std::string, std::vector<std::string>>;

Blocks parseBlocks(const std::string& listing) {
  Blocks out;
  std::string current;
  int depth = 0;
  for (const auto& raw : split(listing, '\n')) {
    std::string line = trim(raw);
    if (line.empty()) {
      continue;
    }
    if (depth == 1 &&
        (startsWith(line, "chain ") || startsWith(line, "set ") || startsWith(line, "map "))) {
      current = line.substr(0, line.size() - 2); // without " {"
      out[current];
      depth = 2;
      continue;
    }
    if (startsWith(line, "table ")) {
      depth = 1;
      continue;
    }
    if (line == "}") {
      --depth;
      if (depth < 2) {
        current.clear();
      }
      continue;
    }
    if (!current.empty()) {
      out[current].push_back(line);
    }
    if (!line.empty() && line.back() == '{') {
      ++depth;
    }
  }
  return out;
}

// The rule lines of a chain block (without the comment line).
std::vector<std::string> ruleLines(const std::vector<std::string>& block) {
  std::vector<std::string> out;
  for (const auto& l : block) {
    if (!startsWith(l, "comment \"caracal:")) {
      out.push_back(l);
    }
  }
  return out;
}

std::string joinLines(const std::vector<std::string>& v) { return join(v, "\n"); }

// The compiled model of a golden scenario, as scenarios_test_util.cpp renders it.
struct ScenarioModel {
  NftDesired desired;
  std::string rendered; // nft -f text from nft_render.h
};

Result<ScenarioModel> scenarioModel(const testing::Scenario& s) {
  ScenarioModel m;
  ASSIGN_OR_RETURN(testing::Rendered r, testing::render(s));
  m.rendered = r.nft;
  if (s.endpoints) {
    testing::EndpointScenario e = testing::endpointScenario();
    m.desired.policyChains = e.policyChains;
    m.desired.endpointChains = e.endpointChains;
    return m;
  }
  ASSIGN_OR_RETURN(Value spec, parseJson(s.spec));
  HashSetNamer namer;
  for (const auto& sel : s.intervalSelectors) {
    namer.markIntervalSelector(sel);
  }
  ASSIGN_OR_RETURN(CompiledPolicy compiled, compilePolicy(spec, s.ns, namer));
  if (spec.has("ingress")) {
    m.desired.policyChains.push_back({s.id, Direction::Ingress, false, compiled.ingress});
  }
  if (spec.has("egress")) {
    m.desired.policyChains.push_back({s.id, Direction::Egress, false, compiled.egress});
  }
  for (const auto& d : namer.sets()) {
    m.desired.sets.push_back(nftSetSpec(d));
  }
  return m;
}

bool isWriterOwn(const std::string& header) {
  for (const char* own :
       {"chain forward", "chain input", "chain output", "chain raw-prerouting",
        "chain mangle-prerouting", "chain raw-output", "map from-endpoint", "map to-endpoint",
        "map from-host-endpoint", "map to-host-endpoint", "map from-host-endpoint-forward",
        "map to-host-endpoint-forward", "map from-host-endpoint-prednat",
        "map from-host-endpoint-untracked", "map to-host-endpoint-untracked"}) {
    if (header == own) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

TEST(NftPolicyTable, GoldenScenariosListLikeTheRenderedText) {
  REQUIRE_NETNS();
  auto a = makeNetns("wr");
  auto b = makeNetns("txt");
  ASSERT_TRUE(a && b);
  TempDir dir("policynft");
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  size_t compared = 0;
  for (const auto& s : testing::scenarios()) {
    SCOPED_TRACE("scenario " + s.name);
    auto m = scenarioModel(s);
    ASSERT_TRUE(m) << m.error().str();
    ASSERT_TRUE(table->apply(m->desired).isOk()) << table->apply(m->desired).str();
    std::string file = dir.path() + "/" + s.name + ".nft";
    { std::ofstream(file) << m->rendered; }
    (void)b->exec("nft delete table inet caracal");
    auto loaded = b->exec("nft -f " + file);
    ASSERT_EQ(loaded.rc, 0) << loaded.output;
    std::string mine = listTable(*a);
    std::string theirs = listTable(*b);
    Blocks mb = parseBlocks(mine);
    Blocks tb = parseBlocks(theirs);
    ASSERT_FALSE(tb.empty()) << theirs;
    for (const auto& [header, lines] : tb) {
      auto it = mb.find(header);
      ASSERT_NE(it, mb.end()) << header << " missing from\n" << mine;
      EXPECT_EQ(joinLines(it->second), joinLines(lines)) << header;
      ++compared;
    }
    for (const auto& [header, lines] : mb) {
      EXPECT_TRUE(tb.count(header) || isWriterOwn(header)) << "extra " << header;
    }
    // Applying the same state again sends nothing.
    ASSERT_TRUE(table->apply(m->desired).isOk());
    EXPECT_EQ(table->stats().lastBatchMessages, 0u);
  }
  EXPECT_GT(compared, 40u);
  // A fresh writer on the last table reads it back and finds nothing to repair.
  auto again = openTable(*a);
  ASSERT_TRUE(again);
  auto last = scenarioModel(testing::scenarios().back());
  ASSERT_TRUE(last);
  ASSERT_TRUE(again->apply(last->desired).isOk());
  EXPECT_EQ(again->stats().resyncs, 1u);
  EXPECT_EQ(again->stats().lastBatchMessages, 0u);
}

TEST(NftPolicyTable, BaseChainAndVerdictMaps) {
  REQUIRE_NETNS();
  auto a = makeNetns("base");
  ASSERT_TRUE(a);
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  auto m = scenarioModel(testing::scenarios().back()); // endpoint chains
  ASSERT_TRUE(m);
  ASSERT_TRUE(table->apply(m->desired).isOk());
  Blocks blocks = parseBlocks(listTable(*a));
  ASSERT_TRUE(blocks.count("chain forward"));
  std::vector<std::string> fw = blocks["chain forward"];
  ASSERT_GT(fw.size(), 2u);
  EXPECT_TRUE(startsWith(fw[0], "comment \"caracal:")) << fw[0];
  EXPECT_EQ(fw[1], "type filter hook forward priority filter; policy accept;");
  std::vector<std::string> rules(fw.begin() + 2, fw.end());
  EXPECT_EQ(joinLines(rules), joinLines(nftForwardRules(ForwardDefault::Accept)));
  std::string from = joinLines(blocks["map from-endpoint"]);
  std::string to = joinLines(blocks["map to-endpoint"]);
  EXPECT_NE(from.find("type ifname : verdict"), std::string::npos) << from;
  EXPECT_NE(from.find("\"cali1a2b3c4d5e6\" : jump fw-cali1a2b3c4d5e6"), std::string::npos) << from;
  EXPECT_NE(to.find("\"cali1a2b3c4d5e6\" : jump tw-cali1a2b3c4d5e6"), std::string::npos) << to;
  EXPECT_NE(to.find("\"calibare0000001\" : jump tw-calibare0000001"), std::string::npos) << to;
  EXPECT_EQ(from.find("calibare"), std::string::npos) << from;

  // The default for traffic no endpoint chain decided: only the forward chain changes.
  m->desired.forwardDefault = ForwardDefault::Drop;
  ASSERT_TRUE(table->apply(m->desired).isOk());
  EXPECT_EQ(table->stats().lastChainsWritten, 1u);
  blocks = parseBlocks(listTable(*a));
  EXPECT_EQ(blocks["chain forward"].back(), "drop comment \"no endpoint chain decided\"");

  // Host endpoints: the other base chains dispatch through their own maps.
  const std::pair<const char*, const char*> hooks[] = {
      {"input", "type filter hook input priority filter; policy accept;"},
      {"output", "type filter hook output priority filter; policy accept;"},
      {"raw-prerouting", "type filter hook prerouting priority raw; policy accept;"},
      {"mangle-prerouting", "type filter hook prerouting priority mangle; policy accept;"},
      {"raw-output", "type filter hook output priority raw; policy accept;"}};
  for (const auto& [chain, hook] : hooks) {
    std::vector<std::string> lines = blocks[std::string("chain ") + chain];
    ASSERT_GT(lines.size(), 2u) << chain;
    EXPECT_EQ(lines[1], hook);
    EXPECT_EQ(joinLines({lines.begin() + 2, lines.end()}), joinLines(nftBaseChainRules(chain)))
        << chain;
  }
  EXPECT_NE(joinLines(blocks["map from-host-endpoint"]).find("\"eth0\" : jump fh-eth0"),
            std::string::npos);
  EXPECT_NE(joinLines(blocks["map to-host-endpoint"]).find("\"eth0\" : jump th-eth0"),
            std::string::npos);
  EXPECT_EQ(joinLines(blocks["map to-endpoint"]).find("eth0"), std::string::npos);
  EXPECT_EQ(blocks["chain fh-eth0"][1], "tcp dport 22 accept");

  // Removing an endpoint removes its map element and chain.
  auto& eps = m->desired.endpointChains;
  eps.erase(std::remove_if(eps.begin(), eps.end(),
                           [](const auto& e) { return e.interfaceName == "calibare0000001"; }),
            eps.end());
  ASSERT_TRUE(table->apply(m->desired).isOk());
  EXPECT_EQ(table->stats().lastChainsDeleted, 1u);
  EXPECT_EQ(table->stats().lastElementsRemoved, 1u);
  EXPECT_EQ(table->stats().lastBatchMessages, 2u); // map element, chain
  blocks = parseBlocks(listTable(*a));
  EXPECT_FALSE(blocks.count("chain tw-calibare0000001"));
  EXPECT_EQ(joinLines(blocks["map to-endpoint"]).find("calibare"), std::string::npos);
}

// A small state with one set of each kind and a chain using them.
NftDesired smallState() {
  NftDesired d;
  d.sets.push_back({"sel4-a", SetKind::Addr, 4, false, {"10.0.0.1", "10.0.0.2"}});
  d.sets.push_back({"net4-b", SetKind::Interval, 4, true, {"10.0.0.0/24"}});
  d.sets.push_back({"np4-c", SetKind::AddrPort, 4, false, {"10.0.0.1,tcp:80"}});
  d.sets.push_back({"sel6-a", SetKind::Addr, 6, false, {"fd00::1"}});
  CompiledRule r;
  r.action = Action::Allow;
  r.ipVersion = 4;
  r.protocol = kProtoTcp;
  r.source.selector = SetRef{"sel4-a", SetKind::Addr, 4};
  r.source.notNets = SetRef{"net4-b", SetKind::Interval, 4};
  r.destination.namedPort = SetRef{"np4-c", SetKind::AddrPort, 4};
  r.origin = "ingress[0]";
  CompiledRule r6;
  r6.action = Action::Deny;
  r6.ipVersion = 6;
  r6.protocol = kProtoUdp;
  r6.destination.selector = SetRef{"sel6-a", SetKind::Addr, 6};
  r6.destination.ports = {{53, 53}, {1000, 2000}};
  r6.origin = "ingress[1]";
  d.policyChains.push_back({"gnp/small", Direction::Ingress, false, {r, r6}});
  return d;
}

TEST(NftPolicyTable, OneElementChangeIsOneMessage) {
  REQUIRE_NETNS();
  auto a = makeNetns("elem");
  ASSERT_TRUE(a);
  TempDir dir("policynft");
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  NftDesired d = smallState();
  ASSERT_TRUE(table->apply(d).isOk()) << table->apply(d).str();
  EXPECT_GT(table->stats().lastBatchMessages, 5u);
  Blocks blocks = parseBlocks(listTable(*a));
  EXPECT_NE(joinLines(blocks["set np4-c"]).find("10.0.0.1 . tcp . 80"), std::string::npos)
      << joinLines(blocks["set np4-c"]);
  EXPECT_NE(joinLines(blocks["set net4-b"]).find("10.0.0.0/24"), std::string::npos);
  EXPECT_NE(joinLines(blocks["set net4-b"]).find("auto-merge"), std::string::npos);

  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 0u);

  // nft monitor sees exactly the one new element. It is subscribed once a marker element of
  // another set (added and removed again until it shows up) appears in its output; what follows
  // the marker's removal is the change under test.
  std::string log = dir.path() + "/monitor.log";
  BackgroundCommand monitor("exec ip netns exec " + a->name() + " nft monitor", log);
  ASSERT_TRUE(monitor.started());
  auto logText = [&] { return caracal::testing::readFile(log); };
  bool subscribed = false;
  for (int i = 0; i < 100 && !subscribed; ++i) {
    d.sets[3].elements.push_back("fd00::99");
    ASSERT_TRUE(table->apply(d).isOk());
    d.sets[3].elements.pop_back();
    ASSERT_TRUE(table->apply(d).isOk());
    subscribed =
        caracal::testing::waitFor([&] { return logText().find("fd00::99") != std::string::npos; },
                                  std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(subscribed) << "nft monitor never reported the marker";
  ASSERT_TRUE(caracal::testing::waitFor(
      [&] {
        return logText().find("delete element inet caracal sel6-a { fd00::99 }") !=
               std::string::npos;
      },
      std::chrono::milliseconds(5000)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const size_t offset = logText().size();
  uint64_t batches = table->stats().batches;
  d.sets[0].elements.push_back("10.0.0.3");
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().batches, batches + 1);
  EXPECT_EQ(table->stats().lastBatchMessages, 1u);
  EXPECT_EQ(table->stats().lastElementsAdded, 1u);
  EXPECT_EQ(table->stats().lastElementsRemoved, 0u);
  ASSERT_TRUE(caracal::testing::waitFor(
      [&] { return logText().find("10.0.0.3", offset) != std::string::npos; },
      std::chrono::milliseconds(10000)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  monitor.kill();
  std::vector<std::string> events;
  for (const auto& l : split(logText().substr(offset), '\n')) {
    if (!trim(l).empty() && !startsWith(l, "#")) {
      events.push_back(trim(l));
    }
  }
  ASSERT_EQ(events.size(), 1u) << joinLines(events);
  EXPECT_EQ(events[0], "add element inet caracal sel4-a { 10.0.0.3 }");
  EXPECT_NE(joinLines(parseBlocks(listTable(*a))["set sel4-a"]).find("10.0.0.3"),
            std::string::npos);

  // Removal, an interval block and a named port: one message each.
  d.sets[0].elements.erase(d.sets[0].elements.begin());
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 1u);
  EXPECT_EQ(table->stats().lastElementsRemoved, 1u);
  d.sets[1].elements.push_back("10.9.0.0/16");
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 1u);
  d.sets[2].elements.push_back("10.0.0.2,udp:53");
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 1u);
  blocks = parseBlocks(listTable(*a));
  std::string sel = joinLines(blocks["set sel4-a"]);
  EXPECT_EQ(sel.find("10.0.0.1"), std::string::npos) << sel;
  EXPECT_NE(sel.find("10.0.0.2"), std::string::npos) << sel;
  EXPECT_NE(joinLines(blocks["set net4-b"]).find("10.9.0.0/16"), std::string::npos);
  EXPECT_NE(joinLines(blocks["set np4-c"]).find("10.0.0.2 . udp . 53"), std::string::npos);

  // Growing a block into its neighbour merges them (as nft's auto-merge does).
  d.sets[1].elements = {"10.0.0.0/24", "10.0.1.0/24"};
  ASSERT_TRUE(table->apply(d).isOk());
  std::string net = joinLines(parseBlocks(listTable(*a))["set net4-b"]);
  EXPECT_NE(net.find("10.0.0.0/23"), std::string::npos) << net;
  EXPECT_EQ(net.find("10.9.0.0"), std::string::npos) << net;

  // The rules, compared with the rendered text loaded by nft.
  auto b = makeNetns("elemtxt");
  ASSERT_TRUE(b);
  std::vector<SetDecl> decls;
  for (const auto& s : d.sets) {
    decls.push_back({SetRef{s.name, s.kind, s.ipVersion}, "", {}, 0, ""});
  }
  std::string file = dir.path() + "/small.nft";
  std::ofstream(file) << renderNftTable(decls, {renderNftPolicyChain(d.policyChains[0])});
  auto loaded = b->exec("nft -f " + file);
  ASSERT_EQ(loaded.rc, 0) << loaded.output;
  EXPECT_EQ(joinLines(parseBlocks(listTable(*a))["chain pi-gnp/small"]),
            joinLines(parseBlocks(listTable(*b))["chain pi-gnp/small"]));
}

// `text` (a table) loaded by nft into `ns` (replacing what is there), listed as blocks.
Blocks nftListing(const Netns& ns, const std::string& text) {
  TempDir dir("policynft");
  std::string file = dir.path() + "/t.nft";
  std::ofstream(file) << text;
  (void)ns.exec("nft delete table inet caracal");
  auto loaded = ns.exec("nft -f " + file);
  EXPECT_EQ(loaded.rc, 0) << loaded.output;
  return parseBlocks(listTable(ns));
}

TEST(NftPolicyTable, ChainsAreRefilledRecreatedAndDeleted) {
  REQUIRE_NETNS();
  auto a = makeNetns("chain");
  auto txt = makeNetns("chaintxt");
  ASSERT_TRUE(a && txt);
  std::vector<SetDecl> decls;
  for (const auto& s : smallState().sets) {
    decls.push_back({SetRef{s.name, s.kind, s.ipVersion}, "", {}, 0, ""});
  }
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  NftDesired d = smallState();
  CompiledRule allow80;
  allow80.action = Action::Allow;
  allow80.protocol = kProtoTcp;
  allow80.destination.ports = {{80, 80}};
  allow80.origin = "ingress[0]";
  d.policyChains.push_back({"gnp/web", Direction::Ingress, false, {allow80}});
  d.endpointChains.push_back(
      {"cali0000000001", Direction::Ingress, {{"default", {"gnp/web"}, TierDefault::Deny}}, {}});
  ASSERT_TRUE(table->apply(d).isOk());

  // A referenced policy chain is flushed and refilled: its rules follow, the endpoint chain is
  // untouched.
  CompiledRule allow81 = allow80;
  allow81.destination.ports = {{81, 81}};
  d.policyChains[1].rules = {allow80, allow81};
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().lastChainsWritten, 1u);
  EXPECT_EQ(table->stats().lastRulesWritten, 2u);
  EXPECT_EQ(table->stats().lastBatchMessages, 3u); // flush + 2 rules
  Blocks blocks = parseBlocks(listTable(*a));
  Blocks rendered = nftListing(*txt, renderNftTable({}, {renderNftPolicyChain(d.policyChains[1])}));
  EXPECT_EQ(joinLines(ruleLines(blocks["chain pi-gnp/web"])),
            joinLines(ruleLines(rendered["chain pi-gnp/web"])));

  // An unreferenced chain is re-created: rules and comment match the rendered block.
  d.policyChains[0].rules.pop_back();
  ASSERT_TRUE(table->apply(d).isOk());
  blocks = parseBlocks(listTable(*a));
  rendered = nftListing(*txt, renderNftTable(decls, {renderNftPolicyChain(d.policyChains[0])}));
  EXPECT_EQ(joinLines(blocks["chain pi-gnp/small"]), joinLines(rendered["chain pi-gnp/small"]));

  // The endpoint chain gains a profile: re-created with its map element in one batch.
  d.policyChains.push_back({"kns.prod", Direction::Ingress, true, {allow81}});
  d.endpointChains[0].profileIds = {"kns.prod"};
  ASSERT_TRUE(table->apply(d).isOk());
  blocks = parseBlocks(listTable(*a));
  rendered = nftListing(*txt, renderNftTable({}, {renderNftPolicyChain(d.policyChains[1]),
                                                  renderNftPolicyChain(d.policyChains[2]),
                                                  renderNftEndpointChain(d.endpointChains[0])}));
  EXPECT_EQ(joinLines(blocks["chain tw-cali0000000001"]),
            joinLines(rendered["chain tw-cali0000000001"]));
  EXPECT_NE(joinLines(blocks["map to-endpoint"]).find("jump tw-cali0000000001"), std::string::npos);

  // Deleting a policy chain together with the jump to it.
  d.policyChains.erase(d.policyChains.begin() + 1); // gnp/web
  d.endpointChains[0].tiers.clear();
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().lastChainsDeleted, 1u);
  blocks = parseBlocks(listTable(*a));
  EXPECT_FALSE(blocks.count("chain pi-gnp/web"));
  EXPECT_TRUE(blocks.count("chain pri-kns.prod"));
  // Deleting a set and the chain using it.
  d.policyChains.erase(d.policyChains.begin()); // gnp/small
  d.sets.erase(d.sets.begin() + 3);             // sel6-a
  ASSERT_TRUE(table->apply(d).isOk());
  blocks = parseBlocks(listTable(*a));
  EXPECT_FALSE(blocks.count("chain pi-gnp/small"));
  EXPECT_FALSE(blocks.count("set sel6-a"));
  EXPECT_TRUE(blocks.count("set sel4-a"));

  // The whole table goes.
  ASSERT_TRUE(table->remove().isOk());
  EXPECT_NE(a->exec("nft list table inet caracal").rc, 0);
}

TEST(NftPolicyTable, ResyncRepairsChangesMadeByOthers) {
  REQUIRE_NETNS();
  auto a = makeNetns("resync");
  ASSERT_TRUE(a);
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  NftDesired d = smallState();
  d.endpointChains.push_back({"cali0000000002", Direction::Egress, {}, {}});
  ASSERT_TRUE(table->apply(d).isOk());
  std::string before = listTable(*a);

  // An idle resync reads everything and writes nothing.
  ASSERT_TRUE(table->resync(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 0u);

  // Others delete a rule and an element, add an element, a chain and a set.
  auto handles = a->exec("nft -a list chain inet caracal pi-gnp/small").output;
  auto pos = handles.rfind("# handle "); // the last rule's
  ASSERT_NE(pos, std::string::npos) << handles;
  std::string handle = trim(handles.substr(pos + 9, handles.find('\n', pos) - pos - 9));
  ASSERT_EQ(a->exec("nft delete rule inet caracal pi-gnp/small handle " + handle).rc, 0);
  ASSERT_EQ(a->exec("nft delete element inet caracal sel4-a { 10.0.0.2 }").rc, 0);
  ASSERT_EQ(a->exec("nft add element inet caracal net4-b { 192.168.0.0/16 }").rc, 0);
  ASSERT_EQ(a->exec("nft add chain inet caracal intruder").rc, 0);
  ASSERT_EQ(a->exec("nft add rule inet caracal intruder ip saddr 1.2.3.4 drop").rc, 0);
  ASSERT_EQ(a->exec("nft add set inet caracal extra '{ type ipv4_addr; }'").rc, 0);
  ASSERT_EQ(a->exec("nft flush chain inet caracal fw-cali0000000002").rc, 0);
  ASSERT_NE(listTable(*a), before);

  // apply() trusts its record: it sees no difference and sends nothing.
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 0u);
  // resync() reads the table and repairs it.
  ASSERT_TRUE(table->resync(d).isOk()) << table->resync(d).str();
  EXPECT_GT(table->stats().lastBatchMessages, 0u);
  // Re-created chains move to the end of the listing: compare blocks.
  EXPECT_EQ(parseBlocks(listTable(*a)), parseBlocks(before));
  ASSERT_TRUE(table->resync(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 0u);

  // A set of the wrong type under a desired name: the table is rebuilt.
  ASSERT_EQ(a->exec("nft delete chain inet caracal pi-gnp/small").rc, 0);
  ASSERT_EQ(a->exec("nft delete set inet caracal sel6-a").rc, 0);
  ASSERT_EQ(a->exec("nft add set inet caracal sel6-a '{ type ipv4_addr; }'").rc, 0);
  ASSERT_TRUE(table->resync(d).isOk()) << table->resync(d).str();
  EXPECT_EQ(parseBlocks(listTable(*a)), parseBlocks(before)); // chain order follows creation
  ASSERT_TRUE(table->resync(d).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 0u);
}

TEST(NftPolicyTable, InvalidStateIsRejectedBeforeAnythingIsSent) {
  REQUIRE_NETNS();
  auto a = makeNetns("inval");
  ASSERT_TRUE(a);
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  NftDesired d = smallState();
  d.sets.erase(d.sets.begin()); // sel4-a, still used by the rule
  Status st = table->apply(d);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_NE(st.message().find("source.selector: set sel4-a"), std::string::npos) << st.str();
  EXPECT_NE(a->exec("nft list table inet caracal").rc, 0); // nothing written

  d = smallState();
  d.sets[0].elements.push_back("10.0.0.0/8");
  st = table->apply(d);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_NE(st.message().find("set sel4-a: elements[2]"), std::string::npos) << st.str();

  d = smallState();
  d.endpointChains.push_back({"cali0000000003",
                              Direction::Ingress,
                              {{"default", {"gnp/missing"}, TierDefault::Deny}},
                              {}});
  st = table->apply(d);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_NE(st.message().find("pi-gnp/missing"), std::string::npos) << st.str();

  d = smallState();
  d.policyChains[0].rules[0].icmpType = 8;
  st = table->apply(d);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_NE(st.message().find("icmp"), std::string::npos) << st.str();
  EXPECT_NE(a->exec("nft list table inet caracal").rc, 0);
  EXPECT_EQ(table->stats().batches, 0u);
}

// The cost of a change follows the change, not the size of the table (figures printed; the
// message counts are asserted).
TEST(NftPolicyTable, ChangeCostFollowsTheChange) {
  REQUIRE_NETNS();
  auto a = makeNetns("scale");
  ASSERT_TRUE(a);
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  constexpr int kChains = 1000;
  constexpr int kRulesPerChain = 10;
  constexpr int kElements = 20000;
  NftDesired d;
  NftSetSpec big{"sel4-big", SetKind::Addr, 4, false, {}};
  for (int i = 0; i < kElements; ++i) {
    big.elements.push_back("10." + std::to_string(64 + i / 65536) + "." +
                           std::to_string((i / 256) % 256) + "." + std::to_string(i % 256));
  }
  d.sets.push_back(big);
  for (int c = 0; c < kChains; ++c) {
    PolicyChain pc{"gnp/p" + std::to_string(c), Direction::Ingress, false, {}};
    for (int r = 0; r < kRulesPerChain; ++r) {
      CompiledRule rule;
      rule.action = r % 3 == 0 ? Action::Deny : Action::Allow;
      rule.protocol = kProtoTcp;
      rule.source.selector = SetRef{"sel4-big", SetKind::Addr, 4};
      rule.destination.ports = {{static_cast<uint16_t>(1000 + r), static_cast<uint16_t>(1000 + r)}};
      rule.origin = "ingress[" + std::to_string(r) + "]";
      pc.rules.push_back(rule);
    }
    d.policyChains.push_back(std::move(pc));
  }
  for (int e = 0; e < 100; ++e) {
    d.endpointChains.push_back(
        {"cali" + std::to_string(100000 + e),
         Direction::Ingress,
         {{"default", {"gnp/p" + std::to_string(e * 10)}, TierDefault::Deny}},
         {}});
  }
  ASSERT_TRUE(table->apply(d).isOk()) << table->apply(d).str();
  NftStats full = table->stats();
  EXPECT_GE(full.lastRulesWritten, static_cast<size_t>(kChains * kRulesPerChain));

  d.sets[0].elements.push_back("10.99.0.1");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(table->apply(d).isOk());
  auto elemMicros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(table->stats().lastBatchMessages, 1u);

  d.policyChains[10].rules.pop_back(); // referenced by endpoint 1: flush + refill
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(table->apply(d).isOk());
  auto chainMicros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(table->stats().lastBatchMessages, static_cast<size_t>(kRulesPerChain));

  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(table->resync(d).isOk());
  auto resyncMicros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(table->stats().lastBatchMessages, 0u);
  std::printf("[ figures  ] %d rules, %d elements: full write %llu us (%zu messages); "
              "one element %lld us; one chain refill %lld us; idle resync %lld us\n",
              kChains * kRulesPerChain, kElements,
              static_cast<unsigned long long>(full.lastApplyMicros), full.lastBatchMessages,
              static_cast<long long>(elemMicros), static_cast<long long>(chainMicros),
              static_cast<long long>(resyncMicros));
}

// ---- traffic -----------------------------------------------------------------------------------

TEST(NftPolicyTable, TrafficFollowsTheEndpointChains) {
  REQUIRE_NETNS();
  auto node = makeNetns("node");
  auto client = makeNetns("cli");
  auto server = makeNetns("srv");
  ASSERT_TRUE(node && client && server);
  ASSERT_TRUE(linkPeer(*node, *client, "calicli", "10.61.1"));
  ASSERT_TRUE(linkPeer(*node, *server, "calisrv", "10.61.2"));
  ASSERT_EQ(node->exec("sysctl -qw net.ipv4.ip_forward=1").rc, 0);
  Listener l80(*server, "10.61.2.2", 80);
  Listener l81(*server, "10.61.2.2", 81);
  Listener l82(*server, "10.61.2.2", 82);
  ASSERT_TRUE(l80.fd >= 0 && l81.fd >= 0 && l82.fd >= 0);
  ASSERT_TRUE(tcpConnects(*client, "10.61.2.2", 80, 2000)); // no table yet

  auto table = openTable(*node);
  ASSERT_TRUE(table);
  NftDesired d;
  CompiledRule allowAll;
  allowAll.action = Action::Allow;
  allowAll.origin = "egress[0]";
  CompiledRule allow81;
  allow81.action = Action::Allow;
  allow81.protocol = kProtoTcp;
  allow81.destination.ports = {{81, 81}};
  allow81.origin = "ingress[0]";
  d.policyChains.push_back({"kns.cli", Direction::Egress, true, {allowAll}});
  d.policyChains.push_back({"np/srv/web", Direction::Ingress, false, {allow81}});
  d.endpointChains.push_back({"calicli", Direction::Egress, {}, {"kns.cli"}});
  d.endpointChains.push_back(
      {"calisrv", Direction::Ingress, {{"default", {"np/srv/web"}, TierDefault::Deny}}, {}});
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_FALSE(tcpConnects(*client, "10.61.2.2", 80, 500));
  EXPECT_TRUE(tcpConnects(*client, "10.61.2.2", 81, 2000));
  EXPECT_FALSE(tcpConnects(*client, "10.61.2.2", 82, 500));

  // One policy change (allow 80..82 via a port set) reaches the kernel as a refill.
  d.policyChains[1].rules[0].destination.ports = {{80, 80}, {82, 82}};
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_TRUE(tcpConnects(*client, "10.61.2.2", 80, 2000));
  EXPECT_FALSE(tcpConnects(*client, "10.61.2.2", 81, 500));
  EXPECT_TRUE(tcpConnects(*client, "10.61.2.2", 82, 2000));

  // The client's egress denies everything once its profile is gone.
  d.endpointChains[0].profileIds.clear();
  ASSERT_TRUE(table->apply(d).isOk());
  EXPECT_FALSE(tcpConnects(*client, "10.61.2.2", 80, 500));
}

TEST(NftPolicyTable, HostEndpointKeepsFailsafePortsOpen) {
  REQUIRE_NETNS();
  auto host = makeNetns("hep");
  auto peer = makeNetns("heppeer");
  ASSERT_TRUE(host && peer);
  ASSERT_TRUE(linkPeer(*host, *peer, "ethh", "10.62.0"));
  Listener ssh(*host, "10.62.0.1", 22);
  Listener web(*host, "10.62.0.1", 8080);
  Listener api(*peer, "10.62.0.2", 6443);
  Listener other(*peer, "10.62.0.2", 9000);
  ASSERT_TRUE(ssh.fd >= 0 && web.fd >= 0 && api.fd >= 0 && other.fd >= 0);

  auto table = openTable(*host);
  ASSERT_TRUE(table);
  NftDesired d;
  for (Direction dir : {Direction::Ingress, Direction::Egress}) {
    EndpointChainSpec hep{"ethh", dir, {}, {}};
    hep.host = true;
    hep.failsafe = dir == Direction::Ingress ? defaultFailsafeInbound() : defaultFailsafeOutbound();
    d.endpointChains.push_back(hep);
  }
  // No policy: only the failsafe ports, both ways.
  ASSERT_TRUE(table->apply(d).isOk()) << table->apply(d).str();
  EXPECT_TRUE(tcpConnects(*peer, "10.62.0.1", 22, 2000)) << "inbound failsafe (SSH)";
  EXPECT_FALSE(tcpConnects(*peer, "10.62.0.1", 8080, 500));
  EXPECT_TRUE(tcpConnects(*host, "10.62.0.2", 6443, 2000)) << "outbound failsafe (API)";
  EXPECT_FALSE(tcpConnects(*host, "10.62.0.2", 9000, 500));

  // A policy allowing 8080 in, applied as one change; failsafe ports stay open.
  CompiledRule allow8080;
  allow8080.action = Action::Allow;
  allow8080.protocol = kProtoTcp;
  allow8080.destination.ports = {{8080, 8080}};
  allow8080.origin = "ingress[0]";
  NftChanges ch;
  ch.policyChains.push_back({"gnp/web", Direction::Ingress, false, {allow8080}});
  EndpointChainSpec in = d.endpointChains[0];
  in.tiers = {{"default", {"gnp/web"}, TierDefault::Deny}};
  ch.endpointChains.push_back(in);
  ASSERT_TRUE(table->update(ch).isOk()) << table->update(ch).str();
  EXPECT_TRUE(tcpConnects(*peer, "10.62.0.1", 8080, 2000));
  EXPECT_TRUE(tcpConnects(*peer, "10.62.0.1", 22, 2000));
  EXPECT_FALSE(tcpConnects(*host, "10.62.0.2", 9000, 500)) << "egress unchanged";

  // A failsafe port limited to a block: open from inside it only.
  NftChanges narrow;
  EndpointChainSpec limited = in;
  limited.failsafe = {{kProtoTcp, 22, api::parseCidr("10.99.0.0/16")}};
  narrow.endpointChains.push_back(limited);
  ASSERT_TRUE(table->update(narrow).isOk()) << table->update(narrow).str();
  EXPECT_FALSE(tcpConnects(*peer, "10.62.0.1", 22, 500)) << "10.62.0.2 is outside 10.99/16";
  narrow.endpointChains[0].failsafe = {{kProtoTcp, 22, api::parseCidrOrIp("10.62.0.2")}};
  ASSERT_TRUE(table->update(narrow).isOk()) << table->update(narrow).str();
  EXPECT_TRUE(tcpConnects(*peer, "10.62.0.1", 22, 2000)) << "10.62.0.2 is the block";

  // Without the host endpoint the host's traffic is not filtered at all.
  NftChanges gone;
  gone.chainsDeleted = {nftEndpointChainName("ethh", Direction::Ingress, true),
                        nftEndpointChainName("ethh", Direction::Egress, true),
                        nftPolicyChainName("gnp/web", Direction::Ingress)};
  ASSERT_TRUE(table->update(gone).isOk()) << table->update(gone).str();
  EXPECT_TRUE(tcpConnects(*host, "10.62.0.2", 9000, 2000));
}

TEST(NftPolicyTable, HostEndpointForwardChainsFilterForwardedTraffic) {
  REQUIRE_NETNS();
  auto router = makeNetns("fwd");
  auto client = makeNetns("fwdcli");
  auto server = makeNetns("fwdsrv");
  ASSERT_TRUE(router && client && server);
  ASSERT_TRUE(linkPeer(*router, *client, "ethc", "10.63.1"));
  ASSERT_TRUE(linkPeer(*router, *server, "eths", "10.63.2"));
  ASSERT_EQ(router->exec("sysctl -qw net.ipv4.ip_forward=1").rc, 0);
  Listener l80(*server, "10.63.2.2", 80);
  Listener l81(*server, "10.63.2.2", 81);
  ASSERT_TRUE(l80.fd >= 0 && l81.fd >= 0);

  auto table = openTable(*router);
  ASSERT_TRUE(table);
  // A host endpoint on eths whose only egress policy allows TCP 81: for the host's own traffic
  // (th-eths) and, as an applyOnForward policy, for what the router forwards out of eths.
  CompiledRule allow81;
  allow81.action = Action::Allow;
  allow81.protocol = kProtoTcp;
  allow81.destination.ports = {{81, 81}};
  allow81.origin = "egress[0]";
  NftDesired d;
  d.policyChains.push_back({"gnp/fwd", Direction::Egress, false, {allow81}});
  for (Direction dir : {Direction::Ingress, Direction::Egress}) {
    EndpointChainSpec hep{"eths", dir, {}, {}};
    hep.host = true;
    hep.failsafe = dir == Direction::Ingress ? defaultFailsafeInbound() : defaultFailsafeOutbound();
    if (dir == Direction::Egress) {
      hep.tiers = {{"default", {"gnp/fwd"}, TierDefault::Deny}};
    }
    d.endpointChains.push_back(hep);
  }
  ASSERT_TRUE(table->apply(d).isOk()) << table->apply(d).str();
  EXPECT_TRUE(tcpConnects(*client, "10.63.2.2", 80, 2000)) << "no forward chain: not filtered";

  EndpointChainSpec fwd{
      "eths", Direction::Egress, {{"default", {"gnp/fwd"}, TierDefault::Deny}}, {}};
  fwd.host = true;
  fwd.hook = HostHook::Forward;
  NftChanges ch;
  ch.endpointChains.push_back(fwd);
  ASSERT_TRUE(table->update(ch).isOk()) << table->update(ch).str();
  EXPECT_NE(joinLines(parseBlocks(listTable(*router))["map to-host-endpoint-forward"])
                .find("\"eths\" : jump thfw-eths"),
            std::string::npos);
  EXPECT_FALSE(tcpConnects(*client, "10.63.2.2", 80, 500));
  EXPECT_TRUE(tcpConnects(*client, "10.63.2.2", 81, 2000));

  NftChanges off;
  off.chainsDeleted = {nftEndpointChainName(fwd)};
  ASSERT_TRUE(table->update(off).isOk()) << table->update(off).str();
  EXPECT_TRUE(tcpConnects(*client, "10.63.2.2", 80, 2000));
}

TEST(NftPolicyTable, PreDnatAndUntrackedHostEndpointPolicy) {
  REQUIRE_NETNS();
  auto host = makeNetns("early");
  auto peer = makeNetns("earlypeer");
  ASSERT_TRUE(host && peer);
  ASSERT_TRUE(linkPeer(*host, *peer, "ethh", "10.64.0"));
  // A NodePort-like DNAT on the host: 8080 -> 80.
  ASSERT_EQ(host->exec("nft 'add table ip nodeport; add chain ip nodeport pre { type nat hook "
                       "prerouting priority dstnat; }; add rule ip nodeport pre tcp dport 8080 "
                       "redirect to :80'")
                .rc,
            0);
  Listener l22(*host, "10.64.0.1", 22);
  Listener l80(*host, "10.64.0.1", 80);
  Listener l81(*host, "10.64.0.1", 81);
  Listener l82(*host, "10.64.0.1", 82);
  Listener l83(*host, "10.64.0.1", 83);
  for (const Listener* l : {&l22, &l80, &l81, &l82, &l83}) {
    ASSERT_GE(l->fd, 0);
  }

  auto table = openTable(*host);
  ASSERT_TRUE(table);
  // The ordinary host endpoint policy allows 80 and 82 in (and everything out).
  NftDesired d;
  d.policyChains.push_back(
      {"gnp/web",
       Direction::Ingress,
       false,
       {tcpRule(Action::Allow, 80, "ingress[0]"), tcpRule(Action::Allow, 82, "ingress[1]")}});
  CompiledRule allowAll;
  allowAll.action = Action::Allow;
  d.policyChains.push_back({"gnp/web", Direction::Egress, false, {allowAll}});
  for (Direction dir : {Direction::Ingress, Direction::Egress}) {
    EndpointChainSpec hep{"ethh", dir, {{"default", {"gnp/web"}, TierDefault::Deny}}, {}};
    hep.host = true;
    hep.failsafe = dir == Direction::Ingress ? defaultFailsafeInbound() : defaultFailsafeOutbound();
    d.endpointChains.push_back(hep);
  }
  ASSERT_TRUE(table->apply(d).isOk()) << table->apply(d).str();
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 80, 2000));
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 8080, 2000)) << "DNAT to 80, which is allowed";
  EXPECT_FALSE(tcpConnects(*peer, "10.64.0.1", 81, 500));
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 22, 2000));

  // preDNAT: deny the original port 8080 (after DNAT it is 80, which ordinary policy allows),
  // allow 81 (no ordinary policy does: the allow skips it), deny 22 (failsafe wins).
  NftChanges pre;
  pre.policyChains.push_back(
      {"gnp/nodeports",
       Direction::Ingress,
       false,
       {tcpRule(Action::Deny, 8080, "ingress[0]"), tcpRule(Action::Allow, 81, "ingress[1]"),
        tcpRule(Action::Deny, 22, "ingress[2]")}});
  EndpointChainSpec preChain{
      "ethh", Direction::Ingress, {{"default", {"gnp/nodeports"}, TierDefault::Deny}}, {}};
  preChain.host = true;
  preChain.hook = HostHook::PreDnat;
  preChain.failsafe = defaultFailsafeInbound();
  pre.endpointChains.push_back(preChain);
  ASSERT_TRUE(table->update(pre).isOk()) << table->update(pre).str();
  Blocks blocks = parseBlocks(listTable(*host));
  EXPECT_NE(joinLines(blocks["map from-host-endpoint-prednat"]).find("\"ethh\" : jump fhpre-ethh"),
            std::string::npos);
  EXPECT_FALSE(tcpConnects(*peer, "10.64.0.1", 8080, 500)) << "denied before DNAT";
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 80, 2000)) << "no preDNAT rule: ordinary policy";
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 81, 2000)) << "preDNAT allow skips ordinary policy";
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 22, 2000)) << "failsafe before preDNAT deny";
  EXPECT_FALSE(tcpConnects(*peer, "10.64.0.1", 83, 500));

  // Untracked: allow 83 both ways (replies are not tracked either), deny 82.
  NftChanges dnt;
  dnt.policyChains.push_back(
      {"gnp/fast",
       Direction::Ingress,
       false,
       {tcpRule(Action::Allow, 83, "ingress[0]"), tcpRule(Action::Deny, 82, "ingress[1]")}});
  dnt.policyChains.push_back(
      {"gnp/fast", Direction::Egress, false, {tcpRule(Action::Allow, 83, "egress[0]", true)}});
  for (Direction dir : {Direction::Ingress, Direction::Egress}) {
    EndpointChainSpec c{"ethh", dir, {{"default", {"gnp/fast"}, TierDefault::Deny}}, {}};
    c.host = true;
    c.hook = HostHook::Untracked;
    c.failsafe = dir == Direction::Ingress ? defaultFailsafeInbound() : defaultFailsafeOutbound();
    dnt.endpointChains.push_back(c);
  }
  ASSERT_TRUE(table->update(dnt).isOk()) << table->update(dnt).str();
  const int tracked80 = trackedTo(*host, 80);
  EXPECT_GT(tracked80, 0) << "ordinary traffic is tracked";
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 83, 2000)) << "untracked allow";
  EXPECT_EQ(trackedTo(*host, 83), 0) << host->exec("cat /proc/net/nf_conntrack").output;
  EXPECT_FALSE(tcpConnects(*peer, "10.64.0.1", 82, 500)) << "untracked deny";
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 80, 2000)) << "no untracked rule: tracked path";
  EXPECT_GT(trackedTo(*host, 80), tracked80);

  // The same state written whole by a fresh writer reads back equal (resync finds nothing).
  auto second = openTable(*host);
  ASSERT_TRUE(second);
  NftDesired whole = d;
  whole.policyChains.insert(whole.policyChains.end(), pre.policyChains.begin(),
                            pre.policyChains.end());
  whole.policyChains.insert(whole.policyChains.end(), dnt.policyChains.begin(),
                            dnt.policyChains.end());
  whole.endpointChains.insert(whole.endpointChains.end(), pre.endpointChains.begin(),
                              pre.endpointChains.end());
  whole.endpointChains.insert(whole.endpointChains.end(), dnt.endpointChains.begin(),
                              dnt.endpointChains.end());
  ASSERT_TRUE(second->resync(whole).isOk());
  EXPECT_EQ(second->stats().lastBatchMessages, 0u);

  // Removing the early chains restores the ordinary behaviour.
  NftChanges off;
  off.chainsDeleted = {nftEndpointChainName(preChain), nftEndpointChainName(dnt.endpointChains[0]),
                       nftEndpointChainName(dnt.endpointChains[1])};
  ASSERT_TRUE(table->update(off).isOk()) << table->update(off).str();
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 8080, 2000));
  EXPECT_FALSE(tcpConnects(*peer, "10.64.0.1", 81, 500));
  EXPECT_TRUE(tcpConnects(*peer, "10.64.0.1", 82, 2000));
  EXPECT_FALSE(tcpConnects(*peer, "10.64.0.1", 83, 500));

  // A preDNAT chain for egress is refused.
  NftChanges bad;
  EndpointChainSpec out = preChain;
  out.direction = Direction::Egress;
  bad.endpointChains.push_back(out);
  Status st = table->update(bad);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_NE(st.message().find("ingress only"), std::string::npos) << st.str();
}

TEST(NftPolicyTable, CreateIfMissingWritesOnlyIntoAnEmptyKernel) {
  REQUIRE_NETNS();
  auto a = makeNetns("prep");
  ASSERT_TRUE(a);
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  ASSERT_TRUE(table->createIfMissing().isOk());
  Blocks blocks = parseBlocks(listTable(*a));
  EXPECT_TRUE(blocks.count("chain forward") && blocks.count("chain input") &&
              blocks.count("chain output"));
  // A table with content (as after a restart) is left exactly as it is.
  auto writer = openTable(*a);
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->apply(smallState()).isOk());
  const std::string before = listTable(*a);
  auto restarted = openTable(*a);
  ASSERT_TRUE(restarted);
  ASSERT_TRUE(restarted->createIfMissing().isOk());
  EXPECT_EQ(restarted->stats().batches, 0u);
  EXPECT_EQ(listTable(*a), before);
}

// ---- update(): changes only ---------------------------------------------------------------------

// A random desired state over a small universe of sets, chains and interfaces, so that successive
// states share most of their parts and collide on elements (overlapping blocks, open ranges).
NftDesired randomState(std::mt19937& rng) {
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  auto pick = [&](const std::vector<std::string>& pool, int percent) {
    std::vector<std::string> out;
    for (const auto& e : pool) {
      if (chance(percent)) {
        out.push_back(e);
      }
    }
    return out;
  };
  NftDesired d;
  const std::vector<std::string> hosts = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.7",
                                          "10.2.0.9"};
  const std::vector<std::string> blocks = {"10.0.0.0/24",      "10.0.0.0/25", "10.0.0.128/25",
                                           "10.0.1.0/24",      "10.1.0.0/16", "10.1.2.3/32",
                                           "255.255.255.0/24", "0.0.0.0/1",   "10.0.0.5"};
  const std::vector<std::string> ports = {"10.0.0.1,tcp:80", "10.0.0.2,tcp:80", "10.0.0.1,udp:53",
                                          "10.0.0.3,sctp:9000"};
  const std::vector<std::string> hosts6 = {"fd00::1", "fd00::2", "fd00::3"};
  std::vector<NftSetSpec> all = {{"sel4-a", SetKind::Addr, 4, false, pick(hosts, 50)},
                                 {"sel4-b", SetKind::Addr, 4, false, pick(hosts, 50)},
                                 {"net4-c", SetKind::Interval, 4, true, pick(blocks, 40)},
                                 {"net4-d", SetKind::Interval, 4, true, pick(blocks, 40)},
                                 {"np4-e", SetKind::AddrPort, 4, false, pick(ports, 50)},
                                 {"sel6-f", SetKind::Addr, 6, false, pick(hosts6, 50)}};
  for (auto& spec : all) {
    if (chance(80)) {
      d.sets.push_back(std::move(spec));
    }
  }
  auto setOf = [&](SetKind kind, int v) -> std::optional<SetRef> {
    std::vector<SetRef> refs;
    for (const auto& spec : d.sets) {
      if ((spec.kind == kind || (kind == SetKind::Addr && spec.kind == SetKind::Interval)) &&
          spec.ipVersion == v) {
        refs.push_back({spec.name, spec.kind, spec.ipVersion});
      }
    }
    if (refs.empty()) {
      return std::nullopt;
    }
    return refs[rng() % refs.size()];
  };
  std::vector<std::string> present[2];
  for (int p = 0; p < 6; ++p) {
    for (Direction dir : {Direction::Ingress, Direction::Egress}) {
      if (!chance(75)) {
        continue;
      }
      PolicyChain pc{"gnp/p" + std::to_string(p), dir, false, {}};
      int n = 1 + static_cast<int>(rng() % 3);
      for (int r = 0; r < n; ++r) {
        CompiledRule rule;
        rule.action = chance(50) ? Action::Allow : (chance(50) ? Action::Deny : Action::Pass);
        rule.origin = "ingress[" + std::to_string(r) + "]";
        int v = chance(80) ? 4 : 6;
        rule.ipVersion = v;
        rule.protocol = chance(50) ? kProtoTcp : kProtoUdp;
        rule.destination.ports = {
            {static_cast<uint16_t>(80 + rng() % 3), static_cast<uint16_t>(90 + rng() % 3)}};
        rule.source.selector = setOf(SetKind::Addr, v);
        if (chance(40)) {
          rule.source.notNets = setOf(SetKind::Interval, v);
        }
        if (v == 4 && chance(30)) {
          rule.destination.namedPort = setOf(SetKind::AddrPort, 4);
          rule.destination.ports.clear();
        }
        pc.rules.push_back(rule);
      }
      present[dir == Direction::Ingress ? 0 : 1].push_back(pc.id);
      d.policyChains.push_back(std::move(pc));
    }
  }
  const bool profile = chance(70);
  if (profile) {
    CompiledRule allow;
    allow.action = Action::Allow;
    for (Direction dir : {Direction::Ingress, Direction::Egress}) {
      d.policyChains.push_back({"kns.x", dir, true, {allow}});
    }
  }
  for (int e = 0; e < 4; ++e) {
    for (Direction dir : {Direction::Ingress, Direction::Egress}) {
      if (!chance(70)) {
        continue;
      }
      EndpointChainSpec spec{"caliupd" + std::to_string(e), dir, {}, {}};
      if (e == 3) { // a host endpoint
        spec.interfaceName = "ethupd";
        spec.host = true;
        spec.failsafe =
            dir == Direction::Ingress ? defaultFailsafeInbound() : defaultFailsafeOutbound();
        if (chance(30)) {
          spec.failsafe.pop_back();
        }
        if (chance(40)) { // the forward chain of the same host endpoint
          EndpointChainSpec fwd = spec;
          fwd.hook = HostHook::Forward;
          fwd.failsafe.clear();
          fwd.tiers = {{"default", pick(present[dir == Direction::Ingress ? 0 : 1], 50)}};
          d.endpointChains.push_back(std::move(fwd));
        }
        // Its chains before DNAT (ingress only) and before conntrack.
        for (HostHook hook : {HostHook::PreDnat, HostHook::Untracked}) {
          if ((hook == HostHook::PreDnat && dir != Direction::Ingress) || !chance(30)) {
            continue;
          }
          EndpointChainSpec early = spec;
          early.hook = hook;
          early.tiers = {{"default", pick(present[dir == Direction::Ingress ? 0 : 1], 50)}};
          d.endpointChains.push_back(std::move(early));
        }
      }
      std::vector<std::string> ids = pick(present[dir == Direction::Ingress ? 0 : 1], 50);
      if (!ids.empty()) {
        size_t cut = rng() % ids.size();
        spec.tiers.push_back(
            {"first", {ids.begin(), ids.begin() + static_cast<long>(cut)}, TierDefault::Pass});
        spec.tiers.push_back(
            {"default", {ids.begin() + static_cast<long>(cut), ids.end()}, TierDefault::Deny});
      }
      if (profile && chance(70)) {
        spec.profileIds.push_back("kns.x");
      }
      d.endpointChains.push_back(std::move(spec));
    }
  }
  d.forwardDefault = chance(50) ? ForwardDefault::Accept : ForwardDefault::Drop;
  return d;
}

// The change from `from` to `to`, as a caller that knows what changed would state it: element
// deltas for kept sets (some sent as whole contents), only chains whose content differs.
NftChanges changesBetween(const NftDesired& from, const NftDesired& to, std::mt19937& rng) {
  NftChanges ch;
  std::map<std::string, const NftSetSpec*> before;
  for (const auto& s : from.sets) {
    before[s.name] = &s;
  }
  for (const auto& s : to.sets) {
    auto it = before.find(s.name);
    if (it == before.end() || rng() % 4 == 0) {
      ch.sets.push_back(s);
    } else {
      std::set<std::string> was(it->second->elements.begin(), it->second->elements.end());
      std::set<std::string> now(s.elements.begin(), s.elements.end());
      NftSetChange c{s.name, {}, {}};
      for (const auto& e : now) {
        if (!was.count(e)) {
          c.add.push_back(e);
        }
      }
      for (const auto& e : was) {
        if (!now.count(e)) {
          c.remove.push_back(e);
        }
      }
      if (!c.add.empty() || !c.remove.empty()) {
        ch.elements.push_back(std::move(c));
      }
    }
    before.erase(s.name);
  }
  for (const auto& [name, spec] : before) {
    ch.setsDeleted.push_back(name);
  }
  std::map<std::string, std::string> chainsBefore;
  for (const auto& pc : from.policyChains) {
    chainsBefore[nftPolicyChainName(pc.id, pc.direction, pc.profile)] = renderNftPolicyChain(pc);
  }
  for (const auto& ep : from.endpointChains) {
    chainsBefore[nftEndpointChainName(ep)] = renderNftEndpointChain(ep);
  }
  for (const auto& pc : to.policyChains) {
    std::string name = nftPolicyChainName(pc.id, pc.direction, pc.profile);
    auto it = chainsBefore.find(name);
    if (it == chainsBefore.end() || it->second != renderNftPolicyChain(pc)) {
      ch.policyChains.push_back(pc);
    }
    chainsBefore.erase(name);
  }
  for (const auto& ep : to.endpointChains) {
    std::string name = nftEndpointChainName(ep);
    auto it = chainsBefore.find(name);
    if (it == chainsBefore.end() || it->second != renderNftEndpointChain(ep)) {
      ch.endpointChains.push_back(ep);
    }
    chainsBefore.erase(name);
  }
  for (const auto& [name, text] : chainsBefore) {
    ch.chainsDeleted.push_back(name);
  }
  if (from.forwardDefault != to.forwardDefault) {
    ch.forwardDefault = to.forwardDefault;
  }
  return ch;
}

// Every chain's rules and every set's elements (chain comments left out: a refilled chain keeps
// the comment of its first content).
std::string contentOf(const Netns& ns) {
  std::string out;
  for (const auto& [header, lines] : parseBlocks(listTable(ns))) {
    out += header + "\n  " + join(ruleLines(lines), "\n  ") + "\n";
  }
  return out;
}

// The handles of a chain's rules, in order (`nft -a list chain`).
std::vector<std::string> ruleHandles(const Netns& ns, const std::string& chain) {
  std::vector<std::string> out;
  for (const std::string& line :
       split(ns.exec("nft -a list chain inet caracal " + chain).output, '\n')) {
    size_t at = line.find("# handle ");
    if (at != std::string::npos && line.find("chain ") == std::string::npos) {
      out.push_back(trim(line.substr(at + 9)));
    }
  }
  return out;
}

TEST(NftPolicyTable, AChangedRuleIsReplacedInPlace) {
  REQUIRE_NETNS();
  auto a = makeNetns("repl");
  auto b = makeNetns("replref");
  ASSERT_TRUE(a && b);
  auto table = openTable(*a);
  auto reference = openTable(*b);
  ASSERT_TRUE(table && reference);
  NftDesired d = smallState();
  PolicyChain& pc = d.policyChains[0];
  for (uint16_t port : {80, 81, 82, 83}) {
    pc.rules.push_back(tcpRule(Action::Allow, port, "ingress[" + std::to_string(port) + "]"));
  }
  pc.rules[3].destination.ports = {{82, 82}, {8000, 8080}}; // an anonymous set
  d.endpointChains.push_back(
      {"calirepl0000001", Direction::Ingress, {{"default", {"gnp/small"}, TierDefault::Deny}}, {}});
  ASSERT_TRUE(table->apply(d).isOk());
  const std::string chain = nftPolicyChainName("gnp/small", Direction::Ingress);
  const std::vector<std::string> handles = ruleHandles(*a, chain);
  ASSERT_EQ(handles.size(), pc.rules.size());
  auto sameAsWholeWrite = [&] {
    EXPECT_TRUE(reference->apply(d).isOk());
    return contentOf(*a) == contentOf(*b);
  };
  auto change = [&] {
    NftChanges ch;
    ch.policyChains.push_back(pc);
    return table->update(ch);
  };

  // One rule (with an anonymous set) changes: one replace, every handle stays.
  pc.rules[3].destination.ports = {{82, 82}, {9000, 9080}};
  ASSERT_TRUE(change().isOk());
  EXPECT_EQ(table->stats().lastRulesWritten, 1u);
  EXPECT_EQ(table->stats().lastBatchMessages, 3u) << "anonymous set, its elements, the rule";
  EXPECT_EQ(ruleHandles(*a, chain), handles);
  EXPECT_TRUE(sameAsWholeWrite()) << contentOf(*a);
  // Again, with the handles known: still one rule.
  pc.rules[2] = tcpRule(Action::Deny, 9999, "ingress[9999]");
  ASSERT_TRUE(change().isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 1u);
  EXPECT_EQ(ruleHandles(*a, chain), handles);
  EXPECT_TRUE(sameAsWholeWrite()) << contentOf(*a);

  // Most rules change: the chain is refilled (new handles).
  for (size_t i = 0; i < 4; ++i) {
    pc.rules[i + 2].origin += "-x";
  }
  ASSERT_TRUE(change().isOk());
  EXPECT_EQ(table->stats().lastRulesWritten, pc.rules.size());
  const std::vector<std::string> refilled = ruleHandles(*a, chain);
  EXPECT_NE(refilled, handles);
  EXPECT_TRUE(sameAsWholeWrite()) << contentOf(*a);
  // The next single change reads the new handles first.
  pc.rules[4].destination.ports = {{8443, 8443}};
  ASSERT_TRUE(change().isOk());
  EXPECT_EQ(table->stats().lastRulesWritten, 1u);
  EXPECT_EQ(ruleHandles(*a, chain), refilled);
  EXPECT_TRUE(sameAsWholeWrite()) << contentOf(*a);

  // A rule count change refills as before.
  pc.rules.pop_back();
  ASSERT_TRUE(change().isOk());
  EXPECT_TRUE(sameAsWholeWrite()) << contentOf(*a);

  // Someone else edits the chain; the writer does not know its handles (it just refilled), reads
  // them, finds the chain is not what it wrote and refills instead of replacing by handle.
  std::vector<std::string> now = ruleHandles(*a, chain);
  ASSERT_FALSE(now.empty());
  ASSERT_EQ(a->exec("nft replace rule inet caracal " + chain + " handle " + now[1] +
                    " tcp dport 1 accept")
                .rc,
            0);
  pc.rules[1].origin += "-y";
  ASSERT_TRUE(change().isOk());
  EXPECT_EQ(table->stats().lastRulesWritten, pc.rules.size());
  EXPECT_TRUE(sameAsWholeWrite()) << contentOf(*a);
}

TEST(NftPolicyTable, UpdatesEqualWholeStateWrites) {
  REQUIRE_NETNS();
  auto a = makeNetns("upd");
  auto b = makeNetns("updfull");
  ASSERT_TRUE(a && b);
  auto incremental = openTable(*a);
  auto checker = openTable(*a); // resyncs against the kernel: sends nothing when it matches
  auto full = openTable(*b);
  ASSERT_TRUE(incremental && checker && full);
  EXPECT_EQ(incremental->update({}).code(), Code::Unavailable); // no record yet
  std::mt19937 rng(20261127);
  NftDesired cur = randomState(rng);
  ASSERT_TRUE(incremental->apply(cur).isOk()) << incremental->apply(cur).str();
  for (int step = 0; step < 60; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    NftDesired next = randomState(rng);
    NftChanges ch = changesBetween(cur, next, rng);
    Status st = incremental->update(ch);
    ASSERT_TRUE(st.isOk()) << st.str();
    ASSERT_TRUE(full->apply(next).isOk());
    EXPECT_EQ(contentOf(*a), contentOf(*b));
    ASSERT_TRUE(checker->resync(next).isOk());
    EXPECT_EQ(checker->stats().lastBatchMessages, 0u) << "the kernel differs from the state";
    if (step % 7 == 6) { // the record equals the state: a whole-state apply finds nothing to do
      ASSERT_TRUE(incremental->apply(next).isOk());
      EXPECT_EQ(incremental->stats().lastBatchMessages, 0u);
    }
    // An empty change, and the same change again, send nothing.
    ASSERT_TRUE(incremental->update({}).isOk());
    EXPECT_EQ(incremental->stats().lastBatchMessages, 0u);
    cur = std::move(next);
  }
}

TEST(NftPolicyTable, UpdateSendsOnlyTheChangeAndRefusesBadOnes) {
  REQUIRE_NETNS();
  auto a = makeNetns("updbad");
  ASSERT_TRUE(a);
  auto table = openTable(*a);
  ASSERT_TRUE(table);
  NftDesired d = smallState();
  d.endpointChains.push_back({"caliq", Direction::Ingress, {{"default", {"gnp/small"}}}, {}});
  ASSERT_TRUE(table->apply(d).isOk());

  NftChanges one;
  one.elements.push_back({"sel4-a", {"10.0.0.9"}, {"10.0.0.1"}});
  ASSERT_TRUE(table->update(one).isOk());
  EXPECT_EQ(table->stats().lastBatchMessages, 2u); // one delete, one add
  std::string sel = joinLines(parseBlocks(listTable(*a))["set sel4-a"]);
  EXPECT_NE(sel.find("10.0.0.9"), std::string::npos) << sel;
  EXPECT_EQ(sel.find("10.0.0.1,"), std::string::npos) << sel;

  // Removing one of two overlapping blocks keeps the other.
  NftChanges nets;
  nets.elements.push_back({"net4-b", {"10.0.0.0/16"}, {}});
  ASSERT_TRUE(table->update(nets).isOk());
  nets.elements = {{"net4-b", {}, {"10.0.0.0/16"}}};
  ASSERT_TRUE(table->update(nets).isOk());
  std::string net = joinLines(parseBlocks(listTable(*a))["set net4-b"]);
  EXPECT_NE(net.find("10.0.0.0/24"), std::string::npos) << net;
  EXPECT_EQ(net.find("10.0.0.0/16"), std::string::npos) << net;

  const std::string before = listTable(*a);
  const uint64_t batches = table->stats().batches;
  auto refused = [&](const NftChanges& ch, const std::string& words) {
    Status st = table->update(ch);
    EXPECT_EQ(st.code(), Code::Invalid) << st.str();
    EXPECT_NE(st.message().find(words), std::string::npos) << st.message();
  };
  NftChanges jump;
  jump.endpointChains.push_back({"calir", Direction::Ingress, {{"default", {"gnp/none"}}}, {}});
  refused(jump, "jumps to chain pi-gnp/none");
  NftChanges stillUsed;
  stillUsed.chainsDeleted.push_back(nftPolicyChainName("gnp/small", Direction::Ingress));
  refused(stillUsed, "still jump to it");
  NftChanges retype;
  retype.sets.push_back({"sel4-a", SetKind::Interval, 4, true, {}});
  refused(retype, "a set keeps its type");
  NftChanges badElem;
  badElem.elements.push_back({"np4-c", {"10.0.0.1,tcp:99999"}, {}});
  refused(badElem, "np4-c: add[0] \"10.0.0.1,tcp:99999\": bad port");
  NftChanges noSet;
  noSet.elements.push_back({"sel4-zz", {"10.0.0.1"}, {}});
  refused(noSet, "no such set");
  NftChanges badRule = jump;
  badRule.endpointChains.clear();
  PolicyChain pc = d.policyChains[0];
  pc.rules[0].source.selector = SetRef{"sel4-missing", SetKind::Addr, 4};
  badRule.policyChains.push_back(pc);
  refused(badRule, "sel4-missing is not among the desired sets");
  EXPECT_EQ(table->stats().batches, batches);
  EXPECT_EQ(listTable(*a), before);

  // Deleting the endpoint chain, then the policy chain and its sets, in one change each.
  NftChanges unhook;
  unhook.chainsDeleted.push_back(nftEndpointChainName("caliq", Direction::Ingress));
  ASSERT_TRUE(table->update(unhook).isOk());
  NftChanges drop;
  drop.chainsDeleted.push_back(nftPolicyChainName("gnp/small", Direction::Ingress));
  drop.setsDeleted = {"sel4-a", "net4-b", "np4-c", "sel6-a"};
  ASSERT_TRUE(table->update(drop).isOk()) << table->update(drop).str();
  Blocks left = parseBlocks(listTable(*a));
  EXPECT_EQ(left.count("chain pi-gnp/small"), 0u);
  EXPECT_EQ(left.count("set sel4-a"), 0u);
  EXPECT_EQ(left.count("chain tw-caliq"), 0u);
  EXPECT_EQ(joinLines(left["map to-endpoint"]).find("caliq"), std::string::npos);
}

} // namespace
} // namespace caracal::policy
