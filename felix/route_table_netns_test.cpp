// RouteTable against the kernel, in a private network namespace.
#include "felix/netns_fixture.h"
#include "felix/route_table.h"

#include <chrono>

namespace caracal::felix {
namespace {

using testing::Netns;

api::IpNet net(const std::string& s) { return *api::parseCidr(s); }
api::IpAddr ip(const char* s) { return *api::parseIp(s); }

struct Env {
  std::unique_ptr<Netns> ns;
  std::unique_ptr<netlink::Socket> sock;
  int veth0 = 0;
  int veth1 = 0;
};

// A namespace with a veth pair (veth0 10.99.0.1/24, veth1 up), and a socket inside it.
bool setUp(Env& e, const std::string& suffix) {
  e.ns = testing::makeNetns(suffix);
  if (!e.ns) {
    return false;
  }
  if (e.ns->ip("link add veth0 type veth peer name veth1").rc != 0 ||
      e.ns->ip("addr add 10.99.0.1/24 dev veth0").rc != 0 ||
      e.ns->ip("link set veth0 up").rc != 0 || e.ns->ip("link set veth1 up").rc != 0) {
    ADD_FAILURE() << "topology";
    return false;
  }
  auto s = netlink::Socket::open(e.ns->path());
  if (!s) {
    ADD_FAILURE() << s.error().message();
    return false;
  }
  e.sock = std::move(*s);
  e.veth0 = e.sock->link("veth0")->index;
  e.veth1 = e.sock->link("veth1")->index;
  return true;
}

std::vector<netlink::Route> desiredRoutes(const Env& e, int blocks) {
  std::vector<netlink::Route> out;
  for (int i = 0; i < blocks; ++i) {
    netlink::Route r;
    r.dst = net("10.200." + std::to_string(i / 4) + "." + std::to_string((i % 4) * 64) + "/26");
    r.gateway = ip("10.99.0.2");
    r.oif = e.veth0;
    r.onlink = true;
    out.push_back(r);
  }
  netlink::Route bh;
  bh.dst = net("10.244.1.0/26");
  bh.type = netlink::RouteType::Blackhole;
  out.push_back(bh);
  netlink::Route wl;
  wl.dst = net("10.244.1.5/32");
  wl.oif = e.veth1;
  wl.scope = 253;
  out.push_back(wl);
  netlink::Route bh6;
  bh6.dst = net("fd00:10::/122");
  bh6.type = netlink::RouteType::Blackhole;
  out.push_back(bh6);
  return out;
}

int countProto80(const Netns& ns) {
  auto v4 = ns.ip("-4 route show proto 80");
  auto v6 = ns.ip("-6 route show proto 80");
  int n = 0;
  for (const std::string* s : {&v4.output, &v6.output}) {
    n += static_cast<int>(std::count(s->begin(), s->end(), '\n'));
  }
  return n;
}

TEST(RouteTableNetns, ProgramsAndStaysIdempotent) {
  FELIX_REQUIRE_NETNS();
  Env e;
  ASSERT_TRUE(setUp(e, "rt1"));
  RouteTable table(makeNetlinkRouteDataplane(*e.sock));
  auto want = desiredRoutes(e, 200);
  Status st = table.apply(want);
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(countProto80(*e.ns), 203);
  auto shown = e.ns->ip("route show 10.200.0.64/26");
  EXPECT_NE(shown.output.find("via 10.99.0.2 dev veth0 proto 80 onlink"), std::string::npos)
      << shown.output;
  shown = e.ns->ip("route show 10.244.1.5");
  EXPECT_NE(shown.output.find("dev veth1 proto 80 scope link"), std::string::npos) << shown.output;
  shown = e.ns->ip("route show type blackhole");
  EXPECT_NE(shown.output.find("blackhole 10.244.1.0/26 proto 80"), std::string::npos)
      << shown.output;

  // What the kernel reports back matches what we asked for: a read-back writes nothing, IPv6
  // quirks (metric 1024, blackhole on lo) included.
  uint64_t writes = table.stats().replaced + table.stats().deleted;
  ASSERT_TRUE(table.resync());
  ASSERT_TRUE(table.apply(want));
  EXPECT_EQ(table.stats().replaced + table.stats().deleted, writes);
  EXPECT_EQ(table.stats().resyncs, 2u);
}

TEST(RouteTableNetns, ResyncRepairsDriftAndNeverTouchesForeignRoutes) {
  FELIX_REQUIRE_NETNS();
  Env e;
  ASSERT_TRUE(setUp(e, "rt2"));
  RouteTable table(makeNetlinkRouteDataplane(*e.sock));
  auto want = desiredRoutes(e, 50);
  ASSERT_TRUE(table.apply(want));

  // Foreign routes: another protocol, one of them on a destination we never use, one in the
  // same range as ours.
  ASSERT_EQ(e.ns->ip("route add 10.250.0.0/24 via 10.99.0.3 dev veth0 proto static").rc, 0);
  ASSERT_EQ(e.ns->ip("route add 10.200.100.0/26 via 10.99.0.4 dev veth0 proto boot").rc, 0);
  // Drift: one of ours deleted by hand, a stale one of ours added by hand, one changed.
  ASSERT_EQ(e.ns->ip("route del 10.200.1.0/26").rc, 0);
  ASSERT_EQ(e.ns->ip("route add 10.201.0.0/26 via 10.99.0.2 dev veth0 proto 80").rc, 0);
  ASSERT_EQ(e.ns->ip("route replace 10.200.2.0/26 via 10.99.0.9 dev veth0 proto 80").rc, 0);

  Status st = table.resync();
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(table.stats().repaired, 3u);
  EXPECT_NE(e.ns->ip("route show 10.200.1.0/26").output.find("via 10.99.0.2"), std::string::npos);
  EXPECT_EQ(e.ns->ip("route show 10.201.0.0/26").output, "");
  EXPECT_NE(e.ns->ip("route show 10.200.2.0/26").output.find("via 10.99.0.2"), std::string::npos);
  EXPECT_NE(e.ns->ip("route show 10.250.0.0/24").output.find("proto static"), std::string::npos);
  // (`ip` does not print "proto boot", the default protocol.)
  auto boot = e.ns->ip("route show 10.200.100.0/26").output;
  EXPECT_NE(boot.find("via 10.99.0.4"), std::string::npos) << boot;
  EXPECT_EQ(boot.find("proto 80"), std::string::npos) << boot;
  EXPECT_EQ(countProto80(*e.ns), 53);

  // Withdrawing everything of ours leaves the foreign routes alone.
  ASSERT_TRUE(table.apply({}));
  EXPECT_EQ(countProto80(*e.ns), 0);
  EXPECT_NE(e.ns->ip("route show 10.250.0.0/24").output, "");
  EXPECT_NE(e.ns->ip("route show 10.200.100.0/26").output, "");
}

TEST(RouteTableNetns, RestartAdoptsWithoutRewriting) {
  FELIX_REQUIRE_NETNS();
  Env e;
  ASSERT_TRUE(setUp(e, "rt3"));
  auto want = desiredRoutes(e, 100);
  {
    RouteTable first(makeNetlinkRouteDataplane(*e.sock));
    ASSERT_TRUE(first.apply(want));
  }
  ASSERT_EQ(e.ns->ip("route add 10.202.0.0/26 via 10.99.0.2 dev veth0 proto 80").rc, 0); // stale
  RouteTable second(makeNetlinkRouteDataplane(*e.sock));
  ASSERT_TRUE(second.apply(want));
  EXPECT_EQ(second.stats().replaced, 0u);
  EXPECT_EQ(second.stats().deleted, 1u);
  EXPECT_EQ(countProto80(*e.ns), 103);
}

TEST(RouteTableNetns, FailedRouteIsNamedAndOthersApply) {
  FELIX_REQUIRE_NETNS();
  Env e;
  ASSERT_TRUE(setUp(e, "rt4"));
  RouteTable table(makeNetlinkRouteDataplane(*e.sock));
  auto want = desiredRoutes(e, 10);
  netlink::Route bad;
  bad.dst = net("10.203.0.0/26");
  bad.gateway = ip("10.99.0.2");
  bad.oif = 9999; // no such device
  bad.onlink = true;
  want.push_back(bad);
  Status st = table.apply(want);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("10.203.0.0/26"), std::string::npos) << st.message();
  EXPECT_EQ(countProto80(*e.ns), 13);
}

TEST(RouteTableNetns, NoOpResyncOf20kRoutesIsFast) {
  FELIX_REQUIRE_NETNS();
  Env e;
  ASSERT_TRUE(setUp(e, "rt5"));
  RouteTable table(makeNetlinkRouteDataplane(*e.sock));
  std::vector<netlink::Route> want;
  for (int i = 0; i < 20000; ++i) {
    netlink::Route r;
    r.dst.addr = ip("10.128.0.0");
    r.dst.addr.bytes[1] = static_cast<uint8_t>(128 + (i >> 10));
    r.dst.addr.bytes[2] = static_cast<uint8_t>((i >> 2) & 0xff);
    r.dst.addr.bytes[3] = static_cast<uint8_t>((i & 3) * 64);
    r.dst.prefix = 26;
    r.gateway = ip("10.99.0.2");
    r.oif = e.veth0;
    r.onlink = true;
    want.push_back(r);
  }
  ASSERT_TRUE(table.apply(want));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(table.resync());
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("no-op resync of 20000 routes: %lld ms\n", static_cast<long long>(ms));
  EXPECT_EQ(table.stats().repaired, 0u);
  EXPECT_LT(ms, 1000); // generous on a shared machine; the bench measures the real figure
}

} // namespace
} // namespace caracal::felix
