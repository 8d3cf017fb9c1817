// The iptables writer against the real iptables-restore and ipset, in a network namespace made
// for each test (named policy-ipt-<pid>-<n>, removed afterwards): what it writes is read back
// with iptables-save and ipset, unchanged state runs nothing, a set change touches only the
// set, removals clean up, and a new writer (a restart) converges without duplicating anything.
// Host endpoint policy before DNAT (mangle) and before connection tracking (raw) is checked with
// real TCP connections between two namespaces joined by a veth.

#include "common/strings.h"
#include "common/subprocess.h"
#include "ipip/netns_testutil.h"
#include "policy/ipt_render.h"
#include "policy/ipt_table.h"
#include "policy/traffic_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace caracal::policy {
namespace {

#define ASSERT_OK(expr)                                                                            \
  do {                                                                                             \
    Status st_ = (expr);                                                                           \
    ASSERT_TRUE(st_.isOk()) << st_.message();                                                      \
  } while (0)

std::string sh(const std::string& cmd) {
  auto r = runProcess({"/bin/sh", "-c", cmd}, "", ProcessOptions{std::nullopt, true});
  return r ? r->out : "";
}

Value yaml(const std::string& text) {
  auto v = parseYaml(text);
  EXPECT_TRUE(bool(v)) << text;
  return v ? *v : Value();
}

EndpointChainSpec endpoint(const std::string& ifname, Direction d, std::vector<TierPolicies> tiers,
                           std::vector<std::string> profiles = {}) {
  EndpointChainSpec s;
  s.interfaceName = ifname;
  s.direction = d;
  s.tiers = std::move(tiers);
  s.profileIds = std::move(profiles);
  return s;
}

// A host endpoint chain on `ifname` for `hook`, with the default failsafe ports (which only
// Local, PreDnat and Untracked chains use).
EndpointChainSpec hostEndpoint(const std::string& ifname, Direction d, HostHook hook,
                               std::vector<TierPolicies> tiers) {
  EndpointChainSpec s = endpoint(ifname, d, std::move(tiers));
  s.host = true;
  s.hook = hook;
  s.failsafe = d == Direction::Ingress ? defaultFailsafeInbound() : defaultFailsafeOutbound();
  return s;
}

class IptTableTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0 ||
        sh("command -v iptables-restore ipset >/dev/null && echo ok") != "ok\n") {
      GTEST_SKIP() << "needs root, iptables and ipset";
    }
    static int n = 0;
    ns_ = "policy-ipt-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    sh("ip netns add " + ns_);
    ASSERT_NE(sh("ip netns list"), "");
  }
  void TearDown() override {
    if (!ns_.empty()) {
      sh("ip netns del " + ns_);
    }
  }
  std::string inNs(const std::string& cmd) { return sh("ip netns exec " + ns_ + " " + cmd); }
  IptPolicyTable::Options opts() { return {4, {"ip", "netns", "exec", ns_}}; }

  // A node with one local endpoint `calia` whose ingress allows TCP 80 from `pod == 'b'`.
  Dataplane state(const std::set<std::string>& members, bool withPolicy = true) {
    Dataplane d;
    HashSetNamer namer;
    EndpointChainSpec in = endpoint("calia", Direction::Ingress, {}, {"kns.x"});
    if (withPolicy) {
      auto c = compilePolicy(yaml("ingress: [{action: Allow, protocol: TCP, source: {selector: "
                                  "pod == 'b'}, destination: {ports: [80]}}]"),
                             "x", namer);
      EXPECT_TRUE(bool(c)) << c.error().message();
      d.policyChains["np/x/allow-b|ingress"] =
          PolicyChain{"np/x/allow-b", Direction::Ingress, false, c->ingress};
      in.tiers.push_back(TierPolicies{"default", {"np/x/allow-b"}, TierDefault::Deny});
      for (const SetDecl& s : namer.sets()) {
        d.sets[s.ref.name] =
            SetState{s.ref, s.ref.ipVersion == 4 ? members : std::set<std::string>{}};
      }
    }
    auto allow =
        compilePolicy(yaml("ingress: [{action: Allow}]\negress: [{action: Allow}]"), "", namer);
    d.policyChains["kns.x|ingress"] =
        PolicyChain{"kns.x", Direction::Ingress, true, allow->ingress};
    d.policyChains["kns.x|egress"] = PolicyChain{"kns.x", Direction::Egress, true, allow->egress};
    d.endpointChains["calia|ingress"] = in;
    d.endpointChains["calia|egress"] = endpoint("calia", Direction::Egress, {}, {"kns.x"});
    return d;
  }

  std::string v4Set(const Dataplane& d) {
    for (const auto& [name, s] : d.sets) {
      if (s.ref.ipVersion == 4) {
        return name;
      }
    }
    return "";
  }

  std::string ns_;
};

TEST_F(IptTableTest, WritesReadsBackAndWritesOnlyChanges) {
  IptPolicyTable t(opts());
  Dataplane d = state({"10.0.0.2/32"});
  ASSERT_OK(t.apply(d));
  std::string saved = inNs("iptables-save -t filter");
  EXPECT_NE(saved.find("-A FORWARD -j cali-FORWARD"), std::string::npos) << saved;
  EXPECT_NE(saved.find("-A cali-to-wl-dispatch -o calia -g cali-tw-calia"), std::string::npos);
  EXPECT_NE(saved.find("-A cali-from-wl-dispatch -i calia -g cali-fw-calia"), std::string::npos);
  EXPECT_NE(saved.find(":cali-pi-np/x/allow-b"), std::string::npos) << saved;
  const std::string set = v4Set(d);
  ASSERT_FALSE(set.empty());
  EXPECT_NE(saved.find("--match-set " + set + " src"), std::string::npos) << saved;
  EXPECT_NE(inNs("ipset list " + set).find("10.0.0.2"), std::string::npos);
  // Every rule the writer meant to write is in the kernel, chain by chain.
  for (const auto& [chain, rules] : IptPolicyTable::renderChains(d, 4)) {
    EXPECT_NE(saved.find(":" + chain + " "), std::string::npos) << chain;
  }

  // The same state again: no command at all.
  auto before = t.stats();
  ASSERT_OK(t.apply(d));
  EXPECT_EQ(t.stats().restores, before.restores);
  EXPECT_EQ(t.stats().ipsetRestores, before.ipsetRestores);

  // A member change: one ipset restore with exactly that delta, no table write.
  before = t.stats();
  ASSERT_OK(t.apply(state({"10.0.0.2/32", "10.0.0.7/32"})));
  EXPECT_EQ(t.stats().restores, before.restores);
  EXPECT_EQ(t.stats().lastIpsetInput, "add " + set + " 10.0.0.7/32\n");
  EXPECT_NE(inNs("ipset list " + set).find("10.0.0.7"), std::string::npos);
  ASSERT_OK(t.apply(state({"10.0.0.7/32"})));
  EXPECT_EQ(t.stats().lastIpsetInput, "del " + set + " 10.0.0.2/32\n");

  // The policy goes: its chain and set go, the endpoint chain is rewritten.
  ASSERT_OK(t.apply(state({}, false)));
  saved = inNs("iptables-save -t filter");
  EXPECT_EQ(saved.find("cali-pi-np/x/allow-b"), std::string::npos) << saved;
  EXPECT_EQ(inNs("ipset list -n").find(set), std::string::npos);
  EXPECT_NE(t.stats().lastRestoreInput.find(":cali-tw-calia"), std::string::npos);
  EXPECT_EQ(t.stats().lastRestoreInput.find(":cali-fw-calia"), std::string::npos)
      << "unchanged chains are not rewritten: " << t.stats().lastRestoreInput;
}

TEST_F(IptTableTest, RestartConvergesAndRemovesLeftovers) {
  {
    IptPolicyTable t(opts());
    ASSERT_OK(t.apply(state({"10.0.0.2/32"})));
  }
  // A leftover chain and set from an older run, and a foreign chain we must not touch.
  inNs("iptables -N cali-pi-np/old/gone");
  inNs("ipset create sel4-leftover hash:net family inet");
  inNs("iptables -N KUBE-SOMETHING");
  IptPolicyTable t(opts());
  Dataplane d = state({"10.0.0.9/32"});
  ASSERT_OK(t.apply(d));
  EXPECT_EQ(t.stats().fullSyncs, 1u);
  std::string saved = inNs("iptables-save -t filter");
  size_t first = saved.find("-A FORWARD -j cali-FORWARD");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(saved.find("-A FORWARD -j cali-FORWARD", first + 1), std::string::npos)
      << "the FORWARD jump is not duplicated";
  EXPECT_EQ(saved.find("cali-pi-np/old/gone"), std::string::npos);
  EXPECT_NE(saved.find(":KUBE-SOMETHING"), std::string::npos) << "foreign chains stay";
  std::string sets = inNs("ipset list -n");
  EXPECT_EQ(sets.find("sel4-leftover"), std::string::npos);
  std::string members = inNs("ipset list " + v4Set(d));
  EXPECT_NE(members.find("10.0.0.9"), std::string::npos);
  EXPECT_EQ(members.find("10.0.0.2"), std::string::npos) << "refilled, not merged";
}

TEST_F(IptTableTest, EachFamilyResyncsOnlyItsOwnSets) {
  IptPolicyTable v4(opts());
  IptPolicyTable v6({6, {"ip", "netns", "exec", ns_}});
  Dataplane d = state({"10.0.0.2/32"});
  ASSERT_OK(v4.apply(d));
  ASSERT_OK(v6.apply(d)); // its rules use the sel6- set
  std::string v6Set;
  for (const auto& [name, st] : d.sets) {
    if (st.ref.ipVersion == 6) {
      v6Set = name;
    }
  }
  ASSERT_FALSE(v6Set.empty());
  // A full sync of each family (as after a restart or the periodic resync) leaves the other
  // family's sets alone: ip6tables still uses them.
  v4.markForResync();
  ASSERT_OK(v4.apply(d));
  v6.markForResync();
  ASSERT_OK(v6.apply(d));
  std::string sets = inNs("ipset list -n");
  EXPECT_NE(sets.find(v6Set), std::string::npos) << sets;
  EXPECT_NE(sets.find(v4Set(d)), std::string::npos) << sets;
}

TEST_F(IptTableTest, CreateIfMissingWritesOnlyIntoAnEmptyTable) {
  IptPolicyTable fresh(opts());
  ASSERT_OK(fresh.createIfMissing());
  std::string saved = inNs("iptables-save -t filter");
  EXPECT_NE(saved.find("-A FORWARD -j cali-FORWARD"), std::string::npos) << saved;
  EXPECT_NE(saved.find("-A INPUT -j cali-INPUT"), std::string::npos) << saved;
  saved = inNs("iptables-save -t raw");
  EXPECT_NE(saved.find("-A PREROUTING -j cali-PREROUTING"), std::string::npos) << saved;
  EXPECT_NE(saved.find("-A OUTPUT -j cali-OUTPUT"), std::string::npos) << saved;
  EXPECT_NE(saved.find("-A cali-PREROUTING -m mark --mark 0x10000/0x10000 -j CT --notrack"),
            std::string::npos)
      << saved;
  saved = inNs("iptables-save -t mangle");
  EXPECT_NE(saved.find("-A PREROUTING -j cali-PREROUTING"), std::string::npos) << saved;
  IptPolicyTable writer(opts());
  ASSERT_OK(writer.apply(state({"10.0.0.2/32"})));
  IptPolicyTable restarted(opts());
  ASSERT_OK(restarted.createIfMissing());
  EXPECT_EQ(restarted.stats().restores, 0u);
  EXPECT_NE(inNs("iptables-save -t filter").find("cali-tw-calia"), std::string::npos)
      << "left as it was";
}

// ---- host endpoint policy before DNAT and before connection tracking --------------------------

using caracal::testing::Netns;
using testing::Listener;
using testing::tcpConnects;
using testing::tcpRule;
using testing::trackedTo;

CompiledRule allowAll() {
  CompiledRule r;
  r.action = Action::Allow;
  return r;
}

CompiledRule denyAll() {
  CompiledRule r;
  r.action = Action::Deny;
  return r;
}

// A host (10.65.0.1 on `ethh`) and a peer (10.65.0.2) in namespaces of their own; the host's
// ordinary host endpoint policy on ethh allows TCP 80 and 82 in and everything out, and it
// listens on 22, 80, 81, 82 and 83.
class IptEarlyPolicyTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!caracal::testing::isRoot() || !caracal::testing::haveProgram("iptables-restore") ||
        !caracal::testing::haveProgram("ipset")) {
      GTEST_SKIP() << "needs root, iptables and ipset";
    }
    static int n = 0;
    host_ = std::make_unique<Netns>("policy-ipt", "h" + std::to_string(n));
    peer_ = std::make_unique<Netns>("policy-ipt", "p" + std::to_string(n++));
    ASSERT_TRUE(host_->ok() && peer_->ok());
    ASSERT_TRUE(testing::linkPeer(*host_, *peer_, "ethh", "10.65.0"));
    for (int port : {22, 80, 81, 82, 83}) {
      listeners_.push_back(std::make_unique<Listener>(*host_, "10.65.0.1", port));
      ASSERT_GE(listeners_.back()->fd, 0) << port;
    }
    base_.policyChains["gnp/web|ingress"] = PolicyChain{
        "gnp/web",
        Direction::Ingress,
        false,
        {tcpRule(Action::Allow, 80, "ingress[0]"), tcpRule(Action::Allow, 82, "ingress[1]")}};
    base_.policyChains["gnp/web|egress"] =
        PolicyChain{"gnp/web", Direction::Egress, false, {allowAll()}};
    for (Direction d : {Direction::Ingress, Direction::Egress}) {
      base_.endpointChains[std::string("ethh|") + (d == Direction::Ingress ? "in" : "out")] =
          hostEndpoint("ethh", d, HostHook::Local, {{"default", {"gnp/web"}, TierDefault::Deny}});
    }
  }

  IptPolicyTable::Options opts() const { return {4, {"ip", "netns", "exec", host_->name()}}; }
  bool connects(int port) { return tcpConnects(*peer_, "10.65.0.1", port, 2000); }
  bool blocked(int port) { return !tcpConnects(*peer_, "10.65.0.1", port, 400); }
  std::string save(const std::string& table) {
    return host_->exec("iptables-save -t " + table).output;
  }

  // `base_` plus the preDNAT policy gnp/nodeports (`rules`) on ethh.
  Dataplane withPreDnat(std::vector<CompiledRule> rules) const {
    Dataplane d = base_;
    d.policyChains["gnp/nodeports|ingress"] =
        PolicyChain{"gnp/nodeports", Direction::Ingress, false, std::move(rules)};
    d.endpointChains["ethh|pre"] =
        hostEndpoint("ethh", Direction::Ingress, HostHook::PreDnat,
                     {{"default", {"gnp/nodeports"}, TierDefault::Deny}});
    return d;
  }

  // `d` plus the untracked policy gnp/fast (ingress and egress rules) on ethh, both ways.
  static Dataplane withUntracked(Dataplane d, std::vector<CompiledRule> in,
                                 std::vector<CompiledRule> out) {
    d.policyChains["gnp/fast|ingress"] =
        PolicyChain{"gnp/fast", Direction::Ingress, false, std::move(in)};
    d.policyChains["gnp/fast|egress"] =
        PolicyChain{"gnp/fast", Direction::Egress, false, std::move(out)};
    for (Direction dir : {Direction::Ingress, Direction::Egress}) {
      d.endpointChains[std::string("ethh|un-") + (dir == Direction::Ingress ? "in" : "out")] =
          hostEndpoint("ethh", dir, HostHook::Untracked,
                       {{"default", {"gnp/fast"}, TierDefault::Deny}});
    }
    return d;
  }

  std::unique_ptr<Netns> host_;
  std::unique_ptr<Netns> peer_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  Dataplane base_;
};

TEST_F(IptEarlyPolicyTest, PreDnatPolicyDecidesBeforeDnatAndOrdinaryPolicy) {
  // A NodePort-like DNAT on the host: 8080 -> 80.
  ASSERT_EQ(host_
                ->exec("iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT "
                       "--to-destination 10.65.0.1:80")
                .rc,
            0);
  IptPolicyTable t(opts());
  ASSERT_OK(t.apply(base_));
  EXPECT_TRUE(connects(80));
  EXPECT_TRUE(connects(8080)) << "DNAT to 80, which the ordinary policy allows";
  EXPECT_TRUE(blocked(81));
  EXPECT_TRUE(connects(22));

  // Deny the original port 8080 (80 after DNAT), allow 81 (no ordinary policy does).
  ASSERT_OK(t.apply(withPreDnat(
      {tcpRule(Action::Deny, 8080, "ingress[0]"), tcpRule(Action::Allow, 81, "ingress[1]")})));
  const std::string mangle = save("mangle");
  EXPECT_NE(mangle.find("-A PREROUTING -j cali-PREROUTING"), std::string::npos) << mangle;
  EXPECT_NE(mangle.find("-A cali-from-host-endpoint -i ethh -g cali-fhpre-ethh"), std::string::npos)
      << mangle;
  EXPECT_NE(mangle.find(":cali-pi-gnp/nodeports"), std::string::npos) << mangle;
  EXPECT_EQ(mangle.find("cali-pi-gnp/web"), std::string::npos) << "ordinary policy stays in filter";
  EXPECT_EQ(save("filter").find("cali-pi-gnp/nodeports"), std::string::npos);
  EXPECT_TRUE(blocked(8080)) << "denied by its original port, before DNAT";
  EXPECT_TRUE(connects(81)) << "preDNAT allow skips the ordinary policy";
  EXPECT_TRUE(connects(80)) << "no preDNAT rule: the ordinary policy decides";
  EXPECT_TRUE(blocked(83)) << "no preDNAT rule: the ordinary policy denies";
  EXPECT_TRUE(connects(22));

  // A deny-all after the allow: only the allowed port and the failsafe ports get through. Only
  // the preDNAT policy chain is written, in the mangle table.
  ASSERT_OK(t.apply(withPreDnat({tcpRule(Action::Deny, 8080, "ingress[0]"),
                                 tcpRule(Action::Allow, 81, "ingress[1]"), denyAll()})));
  EXPECT_EQ(t.stats().lastRestoreInput.rfind("*mangle\n:cali-pi-gnp/nodeports - [0:0]\n", 0), 0u)
      << t.stats().lastRestoreInput;
  EXPECT_EQ(t.stats().lastRestoreInput.find("*filter"), std::string::npos);
  EXPECT_TRUE(blocked(80));
  EXPECT_TRUE(connects(81));
  EXPECT_TRUE(connects(22)) << "failsafe port before the preDNAT deny";

  // Without the preDNAT chain, the ordinary behaviour is back and mangle holds only the base.
  ASSERT_OK(t.apply(base_));
  EXPECT_TRUE(connects(8080));
  EXPECT_TRUE(blocked(81));
  EXPECT_EQ(save("mangle").find("cali-fhpre-ethh"), std::string::npos);
  EXPECT_EQ(save("mangle").find("cali-pi-gnp/nodeports"), std::string::npos);

  // preDNAT is ingress only.
  Dataplane bad = withPreDnat({});
  bad.endpointChains["ethh|pre"].direction = Direction::Egress;
  const uint64_t restores = t.stats().restores;
  Status st = t.apply(bad);
  EXPECT_EQ(st.code(), Code::Invalid) << st.str();
  EXPECT_EQ(t.stats().restores, restores);
}

TEST_F(IptEarlyPolicyTest, UntrackedPolicySkipsConntrackAndOrdinaryPolicy) {
  IptPolicyTable t(opts());
  // Allow 83 both ways (the replies leave untracked too), deny 82.
  Dataplane d = withUntracked(
      base_, {tcpRule(Action::Allow, 83, "ingress[0]"), tcpRule(Action::Deny, 82, "ingress[1]")},
      {tcpRule(Action::Allow, 83, "egress[0]", true)});
  ASSERT_OK(t.apply(d));
  const std::string raw = save("raw");
  EXPECT_NE(raw.find("-A cali-from-host-endpoint -i ethh -g cali-fhun-ethh"), std::string::npos)
      << raw;
  EXPECT_NE(raw.find("-A cali-to-host-endpoint -o ethh -g cali-thun-ethh"), std::string::npos)
      << raw;
  EXPECT_NE(raw.find(":cali-pi-gnp/fast"), std::string::npos) << raw;
  EXPECT_NE(raw.find(":cali-po-gnp/fast"), std::string::npos) << raw;
  EXPECT_EQ(save("filter").find("gnp/fast"), std::string::npos) << "used only in raw";

  ASSERT_TRUE(connects(80)) << "no untracked rule: the ordinary (tracked) path";
  EXPECT_GT(trackedTo(*host_, 80), 0) << "ordinary traffic is tracked";
  EXPECT_TRUE(connects(83)) << "untracked allow, although no ordinary policy allows 83";
  EXPECT_TRUE(connects(83));
  EXPECT_EQ(trackedTo(*host_, 83), 0) << host_->exec("cat /proc/net/nf_conntrack").output;
  // The notrack rule itself counted the packets (both directions' chains).
  const std::string counters = host_->exec("iptables -t raw -L cali-PREROUTING -v -n -x").output;
  bool counted = false;
  for (const std::string& line : split(counters, '\n')) {
    // "CT notrack" (iptables-nft) or "NOTRACK" (legacy).
    if (line.find(" CT ") != std::string::npos &&
        (line.find("notrack") != std::string::npos || line.find("NOTRACK") != std::string::npos)) {
      counted = std::stoll(trim(line)) > 0;
    }
  }
  EXPECT_TRUE(counted) << counters;
  EXPECT_TRUE(blocked(82)) << "untracked deny, although the ordinary policy allows 82";
  EXPECT_TRUE(blocked(81)) << "no untracked rule: the ordinary policy denies";
  EXPECT_TRUE(connects(22));
}

TEST_F(IptEarlyPolicyTest, FullSyncRemovesLeftoversAndUpdatesWriteOnlyTheChange) {
  {
    IptPolicyTable earlier(opts());
    ASSERT_OK(earlier.apply(withUntracked(withPreDnat({tcpRule(Action::Allow, 81, "ingress[0]")}),
                                          {tcpRule(Action::Allow, 83, "ingress[0]")},
                                          {tcpRule(Action::Allow, 83, "egress[0]", true)})));
    EXPECT_NE(save("raw").find("cali-fhun-ethh"), std::string::npos);
  }
  // Chains an older version left, and foreign chains that must stay.
  ASSERT_EQ(host_->exec("iptables -t raw -N cali-fhun-gone").rc, 0);
  ASSERT_EQ(host_->exec("iptables -t mangle -N cali-pi-gnp/old").rc, 0);
  ASSERT_EQ(host_->exec("iptables -t raw -N FOREIGN-raw").rc, 0);
  ASSERT_EQ(host_->exec("iptables -t mangle -N FOREIGN-mangle").rc, 0);

  // A restarted writer whose state has no preDNAT and no untracked policy.
  IptPolicyTable t(opts());
  ASSERT_OK(t.apply(base_));
  EXPECT_EQ(t.stats().fullSyncs, 1u);
  std::string raw = save("raw");
  std::string mangle = save("mangle");
  for (const char* gone : {"cali-fhun-ethh", "cali-thun-ethh", "cali-pi-gnp/fast",
                           "cali-po-gnp/fast", "cali-fhun-gone"}) {
    EXPECT_EQ(raw.find(gone), std::string::npos) << gone << "\n" << raw;
  }
  for (const char* gone : {"cali-fhpre-ethh", "cali-pi-gnp/nodeports", "cali-pi-gnp/old"}) {
    EXPECT_EQ(mangle.find(gone), std::string::npos) << gone << "\n" << mangle;
  }
  EXPECT_NE(raw.find(":FOREIGN-raw"), std::string::npos);
  EXPECT_NE(mangle.find(":FOREIGN-mangle"), std::string::npos);
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count(raw, "-A PREROUTING -j cali-PREROUTING\n"), 1u) << raw;
  EXPECT_EQ(count(raw, "-A OUTPUT -j cali-OUTPUT\n"), 1u) << raw;
  EXPECT_EQ(count(mangle, "-A PREROUTING -j cali-PREROUTING\n"), 1u) << mangle;
  // The full sync left exactly what the writer renders, table by table.
  for (const auto& [table, chains] : IptPolicyTable::renderTables(base_, 4)) {
    const std::string saved = save(table);
    for (const auto& [chain, rules] : chains) {
      EXPECT_NE(saved.find(":" + chain + " "), std::string::npos) << table << " " << chain;
    }
  }
  EXPECT_TRUE(blocked(81));
  EXPECT_TRUE(blocked(83));

  // Untracked policy back, then a change of only its ingress rules: one chain in raw, nothing
  // else.
  Dataplane d = withUntracked(base_, {tcpRule(Action::Allow, 83, "ingress[0]")},
                              {tcpRule(Action::Allow, 83, "egress[0]", true)});
  ASSERT_OK(t.apply(d));
  EXPECT_TRUE(connects(83));
  Dataplane changed = withUntracked(
      base_, {tcpRule(Action::Allow, 83, "ingress[0]"), tcpRule(Action::Deny, 80, "ingress[1]")},
      {tcpRule(Action::Allow, 83, "egress[0]", true)});
  const uint64_t written = t.stats().chainsWritten;
  ASSERT_OK(t.apply(changed));
  const IptChain pi = renderIptPolicyChain(changed.policyChains["gnp/fast|ingress"], 4);
  EXPECT_EQ(t.stats().lastRestoreInput, renderIptRestore({pi}, "raw"));
  EXPECT_EQ(t.stats().chainsWritten, written + 1);
  EXPECT_TRUE(blocked(80));
  EXPECT_TRUE(connects(83));

  // The IPv6 writer lays out its raw and mangle tables the same way.
  IptPolicyTable v6({6, {"ip", "netns", "exec", host_->name()}});
  ASSERT_OK(v6.apply(withPreDnat({tcpRule(Action::Allow, 81, "ingress[0]")})));
  const std::string raw6 = host_->exec("ip6tables-save -t raw").output;
  EXPECT_NE(raw6.find("-A cali-PREROUTING -m mark --mark 0x10000/0x10000 -j CT --notrack"),
            std::string::npos)
      << raw6;
  const std::string mangle6 = host_->exec("ip6tables-save -t mangle").output;
  EXPECT_NE(mangle6.find("-A cali-from-host-endpoint -i ethh -g cali-fhpre-ethh"),
            std::string::npos)
      << mangle6;
}

TEST_F(IptEarlyPolicyTest, CreateIfMissingFillsOnlyTheTablesWithoutOurChains) {
  IptPolicyTable writer(opts());
  ASSERT_OK(writer.apply(withPreDnat({tcpRule(Action::Allow, 81, "ingress[0]")})));
  // An older version that knew only the filter table: raw holds nothing of ours.
  ASSERT_EQ(host_->exec("iptables -t raw -F").rc, 0);
  ASSERT_EQ(host_->exec("iptables -t raw -X").rc, 0);
  IptPolicyTable restarted(opts());
  ASSERT_OK(restarted.createIfMissing());
  EXPECT_EQ(restarted.stats().restores, 1u);
  EXPECT_EQ(restarted.stats().lastRestoreInput.rfind("*raw\n", 0), 0u)
      << restarted.stats().lastRestoreInput;
  EXPECT_EQ(restarted.stats().lastRestoreInput.find("*filter"), std::string::npos);
  EXPECT_EQ(restarted.stats().lastRestoreInput.find("*mangle"), std::string::npos);
  EXPECT_NE(save("raw").find("-A PREROUTING -j cali-PREROUTING"), std::string::npos);
  EXPECT_NE(save("mangle").find("cali-fhpre-ethh"), std::string::npos) << "left as it was";
  EXPECT_TRUE(connects(81));
}

} // namespace
} // namespace caracal::policy
