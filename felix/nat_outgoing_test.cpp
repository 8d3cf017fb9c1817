// natOutgoing: the interval encoding (pure), the tables as `nft` reads them back in a fresh
// namespace, and masquerade on real traffic across three namespaces (pod -> node -> outside).

#include "felix/nat_outgoing.h"
#include "ipip/netns_testutil.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <regex>
#include <sys/socket.h>
#include <unistd.h>

namespace caracal::felix {
namespace {

using namespace std::chrono_literals;
using caracal::testing::BackgroundCommand;
using caracal::testing::inNetns;
using caracal::testing::Netns;
using caracal::testing::TempDir;

api::IpNet net(const char* text) { return *api::parseCidr(text); }

#define ASSERT_OK(expr)                                                                            \
  do {                                                                                             \
    ::caracal::Status _s = (expr);                                                                 \
    ASSERT_TRUE(_s.isOk()) << #expr << ": " << _s.str();                                           \
  } while (0)

std::vector<uint8_t> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

// ---- pure encoding ---------------------------------------------------------------------------

TEST(IntervalSetElements, RangeIsStartAndEndPlusOne) {
  auto e = intervalSetElements({net("10.244.0.0/16")}, 4);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0], (IntervalSetElement{v4(10, 244, 0, 0), false}));
  EXPECT_EQ(e[1], (IntervalSetElement{v4(10, 245, 0, 0), true}));
}

TEST(IntervalSetElements, HostBitsClearedOverlapsMergedAdjacentKept) {
  auto e = intervalSetElements(
      {net("10.245.0.0/16"), net("10.244.3.7/16"), net("10.244.128.0/17"), net("192.168.0.1/32")},
      4);
  std::vector<IntervalSetElement> want = {{v4(10, 244, 0, 0), false},  {v4(10, 245, 0, 0), true},
                                          {v4(10, 245, 0, 0), false},  {v4(10, 246, 0, 0), true},
                                          {v4(192, 168, 0, 1), false}, {v4(192, 168, 0, 2), true}};
  EXPECT_EQ(e, want);
}

TEST(IntervalSetElements, RangeToLastAddressHasNoEnd) {
  auto e = intervalSetElements({net("255.0.0.0/8")}, 4);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], (IntervalSetElement{v4(255, 0, 0, 0), false}));
  auto all = intervalSetElements({net("0.0.0.0/0"), net("10.0.0.0/8")}, 4);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], (IntervalSetElement{v4(0, 0, 0, 0), false}));
}

TEST(IntervalSetElements, FamiliesAreSeparated) {
  std::vector<api::IpNet> pools = {net("10.244.0.0/16"), net("fd00:10:244::/48")};
  auto six = intervalSetElements(pools, 6);
  ASSERT_EQ(six.size(), 2u);
  std::vector<uint8_t> start(16, 0), end(16, 0);
  start[0] = end[0] = 0xfd;
  start[3] = end[3] = 0x10;
  start[4] = end[4] = 0x02;
  start[5] = 0x44;
  end[5] = 0x45;
  EXPECT_EQ(six[0], (IntervalSetElement{start, false}));
  EXPECT_EQ(six[1], (IntervalSetElement{end, true}));
  EXPECT_EQ(intervalSetElements(pools, 4).size(), 2u);
  EXPECT_TRUE(intervalSetElements({}, 4).empty());
  EXPECT_TRUE(intervalSetElements(pools, 5).empty());
  auto allV6 = intervalSetElements({net("::/0")}, 6);
  ASSERT_EQ(allV6.size(), 1u);
  EXPECT_FALSE(allV6[0].intervalEnd);
}

// ---- tables in a namespace ---------------------------------------------------------------------

class NatNetnsTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!caracal::testing::isRoot() || !caracal::testing::haveProgram("nft")) {
      GTEST_SKIP() << "needs root and nft";
    }
    ns_ = std::make_unique<Netns>("nattest", "tbl");
    ASSERT_TRUE(ns_->ok());
    ASSERT_TRUE(inNetns(ns_->path(), [&] {
      auto n = makeNftNatOutgoing();
      ASSERT_TRUE(n.hasValue()) << n.error().str();
      nat_ = std::move(n).value();
    }));
    ASSERT_TRUE(nat_);
  }

  std::string nft(const std::string& args) {
    auto r = ns_->exec("nft " + args);
    EXPECT_EQ(r.rc, 0) << "nft " << args << ": " << r.output;
    return r.output;
  }
  // The `elements = { ... }` of a set in a table listing ("" when the set has none).
  static std::string elements(const std::string& listing, const std::string& set) {
    std::smatch m;
    std::regex re("set " + set + " \\{[^}]*?elements = \\{([^}]*)\\}");
    if (!std::regex_search(listing, m, re)) {
      return "";
    }
    std::string out = std::regex_replace(m[1].str(), std::regex("\\s+"), " ");
    return std::regex_replace(out, std::regex("^ | $"), "");
  }

  std::unique_ptr<Netns> ns_;
  std::unique_ptr<NatOutgoing> nat_;
};

const std::string kRule = "ip saddr @masq-pools ip daddr != @all-pools masquerade";

TEST_F(NatNetnsTest, ApplyCreatesTableReadByNft) {
  ASSERT_OK(nat_->apply({net("10.244.0.0/16")}, {net("10.244.0.0/16"), net("10.245.0.0/16")}));
  std::string t = nft("list table ip caracal-nat");
  EXPECT_NE(t.find("chain postrouting {"), std::string::npos) << t;
  EXPECT_NE(t.find("type nat hook postrouting priority srcnat; policy accept;"), std::string::npos)
      << t;
  EXPECT_NE(t.find(kRule + " comment \"caracal:nat-outgoing\""), std::string::npos) << t;
  EXPECT_NE(t.find("set masq-pools {\n\t\ttype ipv4_addr\n\t\tflags interval"), std::string::npos)
      << t;
  EXPECT_EQ(elements(t, "masq-pools"), "10.244.0.0/16") << t;
  EXPECT_EQ(elements(t, "all-pools"), "10.244.0.0/16, 10.245.0.0/16") << t;
  // No IPv6 pool with natOutgoing: no ip6 table.
  EXPECT_EQ(nft("list tables").find("ip6 caracal-nat"), std::string::npos);
}

TEST_F(NatNetnsTest, RangesReachingTheLastAddressListAsCidrs) {
  ASSERT_OK(nat_->apply({net("255.255.255.0/24")}, {net("10.0.0.0/8"), net("255.255.255.0/24")}));
  std::string t = nft("list table ip caracal-nat");
  EXPECT_EQ(elements(t, "masq-pools"), "255.255.255.0/24") << t;
  EXPECT_EQ(elements(t, "all-pools"), "10.0.0.0/8, 255.255.255.0/24") << t;
  ASSERT_OK(nat_->apply({net("0.0.0.0/0")}, {net("0.0.0.0/0")}));
  t = nft("list table ip caracal-nat");
  EXPECT_EQ(elements(t, "masq-pools"), "0.0.0.0/0") << t;
  std::cout << t;
}

TEST_F(NatNetnsTest, ReapplyWritesNothingAndPoolChangesOnlyTouchElements) {
  std::vector<api::IpNet> masq = {net("10.244.0.0/16")};
  std::vector<api::IpNet> all = {net("10.244.0.0/16"), net("10.245.0.0/16")};
  ASSERT_OK(nat_->apply(masq, all));

  // `nft monitor` logs every committed transaction; sentinel tables bracket each step.
  TempDir tmp("nattest");
  std::string log = tmp.path() + "/monitor.log";
  BackgroundCommand monitor("exec ip netns exec " + ns_->name() + " nft monitor", log);
  int sentinel = 0;
  auto mark = [&] {
    std::string name = "sentinel" + std::to_string(sentinel++);
    nft("add table ip " + name);
    EXPECT_TRUE(caracal::testing::waitFor(
        [&] {
          return caracal::testing::readFile(log).find("add table ip " + name) != std::string::npos;
        },
        5s));
    return caracal::testing::readFile(log).size();
  };
  // The monitor may take a moment to subscribe: retry the first sentinel until it shows.
  ASSERT_TRUE(caracal::testing::waitFor(
      [&] {
        std::string name = "sentinel" + std::to_string(sentinel++);
        (void)ns_->exec("nft add table ip " + name);
        return caracal::testing::waitFor(
            [&] { return caracal::testing::readFile(log).find(name) != std::string::npos; }, 300ms);
      },
      10s));
  // Transactions committed by this process (nft's own show "(nft)").
  auto ownGenerations = [](const std::string& text) {
    std::regex re("# new generation [0-9]+ by process [0-9]+ \\((?!nft\\))");
    return std::distance(std::sregex_iterator(text.begin(), text.end(), re),
                         std::sregex_iterator());
  };
  size_t p0 = mark();
  ASSERT_OK(nat_->apply(masq, all));
  ASSERT_OK(nat_->apply(masq, all));
  size_t p1 = mark();
  std::string same = caracal::testing::readFile(log).substr(p0, p1 - p0);
  EXPECT_EQ(same.find("caracal-nat"), std::string::npos) << same;
  EXPECT_EQ(ownGenerations(same), 0) << same;

  // New pools: one transaction with element changes only; the table is not re-created.
  masq.push_back(net("192.168.0.0/24"));
  all.push_back(net("192.168.0.0/24"));
  all.erase(all.begin() + 1);
  ASSERT_OK(nat_->apply(masq, all));
  size_t p2 = mark();
  std::string change = caracal::testing::readFile(log).substr(p1, p2 - p1);
  EXPECT_NE(change.find("add element ip caracal-nat masq-pools { 192.168.0.0/24 }"),
            std::string::npos)
      << change;
  EXPECT_EQ(change.find("delete table"), std::string::npos) << change;
  EXPECT_EQ(change.find("add chain"), std::string::npos) << change;
  EXPECT_EQ(change.find("add rule"), std::string::npos) << change;
  EXPECT_EQ(ownGenerations(change), 1) << change;
  std::cout << "nft monitor, pools changed:\n" << change;

  std::string t = nft("list table ip caracal-nat");
  EXPECT_EQ(elements(t, "masq-pools"), "10.244.0.0/16, 192.168.0.0/24") << t;
  EXPECT_EQ(elements(t, "all-pools"), "10.244.0.0/16, 192.168.0.0/24") << t;
  EXPECT_NE(t.find(kRule), std::string::npos) << t;

  // Pools emptied: sets empty, rule stays.
  ASSERT_OK(nat_->apply({}, {}));
  t = nft("list table ip caracal-nat");
  EXPECT_EQ(elements(t, "masq-pools"), "") << t;
  EXPECT_EQ(t.find("elements"), std::string::npos) << t;
  EXPECT_NE(t.find(kRule), std::string::npos) << t;
}

TEST_F(NatNetnsTest, DriftIsRepaired) {
  std::vector<api::IpNet> masq = {net("10.244.0.0/16")};
  ASSERT_OK(nat_->apply(masq, masq));
  std::string want = nft("list table ip caracal-nat");

  nft("flush chain ip caracal-nat postrouting");
  ASSERT_OK(nat_->apply(masq, masq));
  EXPECT_EQ(nft("list table ip caracal-nat"), want);

  nft("add element ip caracal-nat all-pools '{ 172.16.0.0/12 }'");
  ASSERT_OK(nat_->apply(masq, masq));
  EXPECT_EQ(nft("list table ip caracal-nat"), want);

  nft("add rule ip caracal-nat postrouting counter");
  nft("add chain ip caracal-nat extra");
  ASSERT_OK(nat_->apply(masq, masq));
  EXPECT_EQ(nft("list table ip caracal-nat"), want);

  nft("delete chain ip caracal-nat postrouting");
  nft("add chain ip caracal-nat postrouting '{ type nat hook postrouting priority 50; }'");
  ASSERT_OK(nat_->apply(masq, masq));
  EXPECT_EQ(nft("list table ip caracal-nat"), want);
}

TEST_F(NatNetnsTest, Ipv6PoolsGetTheIp6Table) {
  std::vector<api::IpNet> pools = {net("10.244.0.0/16"), net("fd00:10:244::/48")};
  ASSERT_OK(nat_->apply(pools, pools));
  std::string t6 = nft("list table ip6 caracal-nat");
  EXPECT_NE(t6.find("ip6 saddr @masq-pools ip6 daddr != @all-pools masquerade"), std::string::npos)
      << t6;
  EXPECT_NE(t6.find("type ipv6_addr"), std::string::npos) << t6;
  EXPECT_EQ(elements(t6, "masq-pools"), "fd00:10:244::/48") << t6;
  EXPECT_EQ(elements(nft("list table ip caracal-nat"), "masq-pools"), "10.244.0.0/16");
  ASSERT_OK(nat_->apply(pools, pools));

  // The v6 pool loses natOutgoing: the ip6 table goes, the ip one stays.
  ASSERT_OK(nat_->apply({pools[0]}, pools));
  std::string tables = nft("list tables");
  EXPECT_EQ(tables.find("ip6 caracal-nat"), std::string::npos) << tables;
  EXPECT_NE(tables.find("ip caracal-nat"), std::string::npos) << tables;
}

TEST_F(NatNetnsTest, RemoveDeletesOnlyOurTables) {
  nft("add table ip other");
  nft("add chain ip other postrouting '{ type nat hook postrouting priority 100; }'");
  std::vector<api::IpNet> pools = {net("10.244.0.0/16"), net("fd00:10:244::/48")};
  ASSERT_OK(nat_->apply(pools, pools));
  ASSERT_OK(nat_->remove());
  std::string tables = nft("list tables");
  EXPECT_EQ(tables.find("caracal-nat"), std::string::npos) << tables;
  EXPECT_NE(tables.find("table ip other"), std::string::npos) << tables;
  ASSERT_OK(nat_->remove()); // absent: still ok
  ASSERT_OK(nat_->apply(pools, pools));
  EXPECT_NE(nft("list tables").find("ip caracal-nat"), std::string::npos);
}

// ---- traffic ---------------------------------------------------------------------------------

// pod (10.244.1.5/32) --veth-- node --veth-- outside (172.30.0.2/24, and 10.245.0.9/32 on lo,
// an address inside a pool). The node's default route points outside (proxy ARP for the pod's
// gateway 169.254.1.1 needs one). The outside namespace routes 10.244.1.5 back via the node only
// for replies from the in-pool address (a policy rule), so without masquerade only that case
// connects.
class NatTrafficTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!caracal::testing::isRoot()) {
      GTEST_SKIP() << "needs root (network namespaces)";
    }
    pod_ = std::make_unique<Netns>("nattest", "pod");
    node_ = std::make_unique<Netns>("nattest", "node");
    out_ = std::make_unique<Netns>("nattest", "out");
    ASSERT_TRUE(pod_->ok() && node_->ok() && out_->ok());
    for (const std::string& cmd :
         {"link add eth0 type veth peer name calipod netns " + node_->name(),
          std::string("addr add 10.244.1.5/32 dev eth0"), std::string("link set eth0 up"),
          std::string("route add 169.254.1.1 dev eth0 scope link"),
          std::string("route add default via 169.254.1.1 dev eth0")}) {
      auto r = pod_->ip(cmd);
      ASSERT_EQ(r.rc, 0) << cmd << ": " << r.output;
    }
    for (const std::string& cmd :
         {"link add ext0 type veth peer name ext0 netns " + out_->name(),
          std::string("addr add 172.30.0.1/24 dev ext0"), std::string("link set ext0 up"),
          std::string("link set calipod up"),
          std::string("route add 10.244.1.5/32 dev calipod scope link"),
          std::string("route add default via 172.30.0.2")}) {
      auto r = node_->ip(cmd);
      ASSERT_EQ(r.rc, 0) << cmd << ": " << r.output;
    }
    auto r = node_->exec("sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.calipod.proxy_arp=1");
    ASSERT_EQ(r.rc, 0) << r.output;
    for (const std::string& cmd :
         {std::string("addr add 172.30.0.2/24 dev ext0"), std::string("link set ext0 up"),
          std::string("addr add 10.245.0.9/32 dev lo"),
          std::string("route add 10.244.1.5/32 via 172.30.0.1 table 100"),
          std::string("rule add from 10.245.0.9 lookup 100")}) {
      r = out_->ip(cmd);
      ASSERT_EQ(r.rc, 0) << cmd << ": " << r.output;
    }
    ASSERT_TRUE(inNetns(node_->path(), [&] {
      auto n = makeNftNatOutgoing();
      ASSERT_TRUE(n.hasValue()) << n.error().str();
      nat_ = std::move(n).value();
    }));
  }

  // Connects from the pod to `dst`:port of a listener in the outside namespace; returns the peer
  // address the listener saw ("" when the connection failed).
  std::string sourceSeenBy(const char* dst) {
    int listener = -1, client = -1;
    inNetns(out_->path(), [&] { listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    inNetns(pod_->path(), [&] { client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    std::string seen;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, dst, &sa.sin_addr);
    socklen_t len = sizeof(sa);
    timeval tv{2, 0};
    if (listener >= 0 && client >= 0 &&
        ::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 &&
        ::listen(listener, 1) == 0 &&
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len) == 0 &&
        ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
        ::connect(client, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
      sockaddr_in peer{};
      socklen_t plen = sizeof(peer);
      int conn = ::accept(listener, reinterpret_cast<sockaddr*>(&peer), &plen);
      if (conn >= 0) {
        char buf[INET_ADDRSTRLEN] = {0};
        inet_ntop(AF_INET, &peer.sin_addr, buf, sizeof(buf));
        seen = buf;
        ::close(conn);
      }
    }
    for (int fd : {listener, client}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    return seen;
  }

  std::unique_ptr<Netns> pod_, node_, out_;
  std::unique_ptr<NatOutgoing> nat_;
};

TEST_F(NatTrafficTest, MasqueradesOnlyTrafficLeavingThePools) {
  // Without natOutgoing the outside has no way back to the pod.
  EXPECT_EQ(sourceSeenBy("172.30.0.2"), "");
  EXPECT_EQ(sourceSeenBy("10.245.0.9"), "10.244.1.5");

  ASSERT_OK(nat_->apply({net("10.244.0.0/16")}, {net("10.244.0.0/16"), net("10.245.0.0/16")}));
  EXPECT_EQ(sourceSeenBy("172.30.0.2"), "172.30.0.1");
  // Destination inside a pool: not masqueraded.
  EXPECT_EQ(sourceSeenBy("10.245.0.9"), "10.244.1.5");
  // The pod's pool loses natOutgoing.
  ASSERT_OK(nat_->apply({}, {net("10.244.0.0/16"), net("10.245.0.0/16")}));
  EXPECT_EQ(sourceSeenBy("172.30.0.2"), "");
  ASSERT_OK(nat_->remove());
}

} // namespace
} // namespace caracal::felix
