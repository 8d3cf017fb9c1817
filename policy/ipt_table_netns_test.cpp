// The iptables writer against the real iptables-restore and ipset, in a network namespace made
// for each test (named policy-ipt-<pid>-<n>, removed afterwards): what it writes is read back
// with iptables-save and ipset, unchanged state runs nothing, a set change touches only the
// set, removals clean up, and a new writer (a restart) converges without duplicating anything.

#include "common/subprocess.h"
#include "policy/ipt_table.h"

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
    EndpointChainSpec in{"calia", Direction::Ingress, {}, {"kns.x"}};
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
    d.endpointChains["calia|egress"] = EndpointChainSpec{"calia", Direction::Egress, {}, {"kns.x"}};
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
  IptPolicyTable writer(opts());
  ASSERT_OK(writer.apply(state({"10.0.0.2/32"})));
  IptPolicyTable restarted(opts());
  ASSERT_OK(restarted.createIfMissing());
  EXPECT_EQ(restarted.stats().restores, 0u);
  EXPECT_NE(inNs("iptables-save -t filter").find("cali-tw-calia"), std::string::npos)
      << "left as it was";
}

} // namespace
} // namespace caracal::policy
