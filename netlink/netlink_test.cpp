// rtnetlink library against the real kernel. Every case works in network namespaces it creates
// (named nltest-<pid>-<n>, deleted by a guard even when the case fails) and never writes to the
// namespace the test runs in. Needs root; skips otherwise.

#include "netlink/codec.h"
#include "netlink/netlink.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace caracal::netlink {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) {
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
    out.append(buf, n);
  }
  pclose(f);
  return out;
}

// A named network namespace for one test; deleted (with everything in it) on destruction.
class TestNetns {
public:
  TestNetns() {
    static std::atomic<int> counter{0};
    name_ = "nltest-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    ok_ = std::system(("ip netns add " + name_).c_str()) == 0;
    if (ok_) {
      fd_ = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
    }
  }
  ~TestNetns() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    if (ok_) {
      (void)std::system(("ip netns del " + name_).c_str());
    }
  }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  bool ok() const { return ok_ && fd_ >= 0; }
  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  int fd() const { return fd_; }
  // Runs a command inside the namespace ("ip -n" style) and returns its stdout.
  std::string ip(const std::string& args) const { return sh("ip -n " + name_ + " " + args); }

private:
  std::string name_;
  bool ok_ = false;
  int fd_ = -1;
};

IpAddr ip(const char* s) { return *api::parseIp(s); }
IpNet cidr(const char* s) { return *api::parseCidr(s); }
Mac mac(const char* s) { return *parseMac(s); }

// Removes namespaces left by earlier runs of this test that were killed before their guards ran
// (nltest-<pid>-<n> whose pid is gone).
class StaleNetnsCleanup : public ::testing::Environment {
public:
  void SetUp() override {
    if (geteuid() != 0) {
      return;
    }
    std::istringstream names(sh("ip netns list 2>/dev/null | awk '{print $1}'"));
    std::string name;
    while (std::getline(names, name)) {
      if (name.rfind("nltest-", 0) != 0) {
        continue;
      }
      std::string rest = name.substr(7);
      size_t dash = rest.find('-');
      if (dash == std::string::npos || dash == 0) {
        continue;
      }
      pid_t pid = static_cast<pid_t>(std::atoi(rest.substr(0, dash).c_str()));
      if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
        (void)std::system(("ip netns del " + name).c_str());
      }
    }
  }
};

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new StaleNetnsCleanup);

class NetlinkTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root (network namespaces)";
    }
    ASSERT_TRUE(ns_.ok()) << "cannot create network namespace " << ns_.name();
    auto s = Socket::open(ns_.path());
    ASSERT_TRUE(s.hasValue()) << s.error().str();
    sock_ = std::move(*s);
  }

  // An interface with carrier (a veth pair inside the test namespace: `name` and `name`+"p"),
  // up, with an optional address; returns its index. (This kernel has no dummy module.)
  int dummy(const std::string& name, const char* address = nullptr) {
    VethSpec spec;
    spec.name = name;
    spec.peerName = name + "p";
    Status st = sock_->createVeth(spec);
    EXPECT_TRUE(st.isOk()) << st.str();
    EXPECT_TRUE(sock_->setUp(name).isOk());
    EXPECT_TRUE(sock_->setUp(spec.peerName).isOk());
    auto l = sock_->link(name);
    EXPECT_TRUE(l.hasValue());
    if (!l.hasValue()) {
      return 0;
    }
    if (address != nullptr) {
      Status a = sock_->addAddress(Address{l->index, cidr(address)});
      EXPECT_TRUE(a.isOk()) << a.str();
    }
    return l->index;
  }

  TestNetns ns_;
  std::unique_ptr<Socket> sock_;
};

// ------------------------------------------------------------------------------- pure helpers

TEST(NetlinkValues, MacRoundTrip) {
  auto m = parseMac("EE:ee:0a:0B:ff:00");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(macStr(*m), "ee:ee:0a:0b:ff:00");
  EXPECT_FALSE(parseMac("ee:ee:ee:ee:ee").has_value());
  EXPECT_FALSE(parseMac("ee-ee-ee-ee-ee-ee").has_value());
  EXPECT_FALSE(parseMac("ee:ee:ee:ee:ee:eg").has_value());
}

TEST(NetlinkValues, RouteKeyIsFamilyTableDstMetric) {
  Route a;
  a.dst = cidr("10.244.3.7/26");
  a.gateway = ip("10.0.0.1");
  Route b;
  b.dst = cidr("10.244.3.0/26");
  b.type = RouteType::Blackhole;
  EXPECT_EQ(a.key(), b.key());
  EXPECT_EQ(a.key(), "10.244.3.0/26 table 254 metric 0");
  b.table = 100;
  EXPECT_NE(a.key(), b.key());
}

TEST(NetlinkCodec, RouteRequestBytes) {
  Route r;
  r.dst = cidr("10.244.3.9/26"); // host bits are cleared on the wire
  r.oif = 7;
  r.gateway = ip("10.99.0.12");
  r.onlink = true;
  alignas(8) unsigned char mem[codec::kMaxRequest];
  std::memset(mem, 0xab, sizeof(mem));
  nlmsghdr* nlh = codec::routeRequest(mem, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r);
  const std::vector<uint8_t> want = {
      60, 0,  0,  0, 24,  0,   0x05, 0x05, 0, 0, 0, 0,
      0,  0,  0,  0,                                   // nlmsghdr: NEWROUTE, REQ|ACK|REPL|CREATE
      2,  26, 0,  0, 254, 80,  0,    1,    4, 0, 0, 0, // rtmsg: inet /26 main proto 80 onlink
      8,  0,  15, 0, 254, 0,   0,    0,                // RTA_TABLE 254
      8,  0,  1,  0, 10,  244, 3,    0,                // RTA_DST
      8,  0,  4,  0, 7,   0,   0,    0,                // RTA_OIF
      8,  0,  5,  0, 10,  99,  0,    12,               // RTA_GATEWAY
  };
  ASSERT_EQ(nlh->nlmsg_len, want.size());
  EXPECT_EQ(std::vector<uint8_t>(mem, mem + want.size()), want);

  // And back.
  auto parsed = codec::parseRoute(nlh);
  ASSERT_TRUE(parsed.has_value());
  Route masked = r;
  masked.dst = r.dst.masked();
  EXPECT_EQ(*parsed, masked);
  EXPECT_EQ(codec::describe(nlh, [](int i) { return i == 7 ? "tunl0" : ""; }),
            "route 10.244.3.0/26 via 10.99.0.12 dev tunl0 onlink");
}

TEST(NetlinkCodec, PaddingIsCleared) {
  alignas(8) unsigned char mem[codec::kMaxRequest];
  std::memset(mem, 0xab, sizeof(mem));
  Neighbor n{3, ip("10.0.0.1"), mac("66:00:00:00:00:01")};
  nlmsghdr* nlh = codec::neighborRequest(mem, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, n);
  for (size_t i = 0; i < nlh->nlmsg_len; ++i) {
    EXPECT_NE(mem[i], 0xab) << "byte " << i << " left uninitialised";
  }
}

TEST(NetlinkValues, ConfPath) {
  EXPECT_EQ(confPath(4, "vxlan.calico", "proxy_arp"),
            "/proc/sys/net/ipv4/conf/vxlan.calico/proxy_arp");
  EXPECT_EQ(confPath(AF_INET6, "cali1", "proxy_ndp"), "/proc/sys/net/ipv6/conf/cali1/proxy_ndp");
}

// ---------------------------------------------------------------------------------------- links

TEST_F(NetlinkTest, OpenInCurrentNamespaceAfterUnshare) {
  // A child that has its own namespace opens a socket "here" and sees only its loopback.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) {
      _exit(10);
    }
    auto s = Socket::open();
    if (!s.hasValue()) {
      _exit(11);
    }
    if (!(*s)->createLink("br7", "bridge").isOk()) {
      _exit(12);
    }
    auto links = (*s)->links();
    if (!links.hasValue() || links->size() != 2) {
      _exit(13);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(NetlinkTest, SocketOpenReturnsToOriginalNamespace) {
  struct stat before {};
  struct stat after {};
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &before), 0);
  auto s = Socket::open(ns_.path());
  ASSERT_TRUE(s.hasValue());
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  // The socket works in the test namespace: only "lo" there.
  auto links = (*s)->links();
  ASSERT_TRUE(links.hasValue());
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ((*links)[0].name, "lo");

  auto bad = Socket::open("/var/run/netns/nltest-does-not-exist");
  ASSERT_FALSE(bad.hasValue());
  EXPECT_THAT(bad.error().message(), HasSubstr("nltest-does-not-exist"));
}

TEST_F(NetlinkTest, VethAcrossNamespaces) {
  TestNetns pod;
  ASSERT_TRUE(pod.ok());
  VethSpec spec;
  spec.name = "cali0123456789a";
  spec.peerName = "eth0";
  spec.peerNetnsFd = pod.fd();
  spec.mac = mac("ee:ee:ee:ee:ee:ee");
  spec.peerMac = mac("0a:58:0a:f4:01:05");
  spec.mtu = 1450;
  Status st = sock_->createVeth(spec);
  ASSERT_TRUE(st.isOk()) << st.str();
  ASSERT_TRUE(sock_->setUp(spec.name).isOk());

  auto host = sock_->link(spec.name);
  ASSERT_TRUE(host.hasValue()) << host.error().str();
  EXPECT_EQ(host->kind, "veth");
  EXPECT_EQ(host->mtu, 1450u);
  EXPECT_EQ(host->mac, *spec.mac);
  EXPECT_TRUE(host->up);
  EXPECT_GT(host->linkIndex, 0);

  auto podSock = Socket::open(pod.path());
  ASSERT_TRUE(podSock.hasValue());
  auto eth0 = (*podSock)->link("eth0");
  ASSERT_TRUE(eth0.hasValue()) << eth0.error().str();
  EXPECT_EQ(eth0->kind, "veth");
  EXPECT_EQ(eth0->mac, *spec.peerMac);
  EXPECT_EQ(eth0->mtu, 1450u);
  EXPECT_FALSE(eth0->up);
  EXPECT_EQ(host->linkIndex, eth0->index); // the peer index, in the peer's namespace
  EXPECT_FALSE(sock_->link("eth0").hasValue());

  // The independent reader agrees.
  std::string shown = pod.ip("-d link show eth0");
  EXPECT_THAT(shown, HasSubstr("mtu 1450"));
  EXPECT_THAT(shown, HasSubstr("link/ether 0a:58:0a:f4:01:05"));
  EXPECT_THAT(shown, HasSubstr("veth"));
  EXPECT_THAT(ns_.ip("link show " + spec.name), HasSubstr(",UP>"));

  ASSERT_TRUE((*podSock)->setMtu("eth0", 1400).isOk());
  ASSERT_TRUE((*podSock)->setMac("eth0", mac("02:00:00:00:00:01")).isOk());
  ASSERT_TRUE((*podSock)->setUp("eth0").isOk());
  eth0 = (*podSock)->link(eth0->index);
  ASSERT_TRUE(eth0.hasValue());
  EXPECT_EQ(eth0->mtu, 1400u);
  EXPECT_EQ(macStr(eth0->mac), "02:00:00:00:00:01");
  EXPECT_TRUE(eth0->up);
  ASSERT_TRUE((*podSock)->setUp("eth0", false).isOk());
  EXPECT_FALSE((*podSock)->link("eth0")->up);

  ASSERT_TRUE((*podSock)->rename("eth0", "eth1").isOk());
  EXPECT_EQ((*podSock)->link("eth0").code(), Code::NotFound);
  EXPECT_EQ((*podSock)->link("eth1")->index, eth0->index);
  EXPECT_THAT(pod.ip("link show eth1"), HasSubstr("mtu 1400"));

  // Same-name creation fails with EEXIST naming both ends.
  spec.peerNetnsFd = -1;
  spec.peerName = "other0";
  Status again = sock_->createVeth(spec);
  EXPECT_EQ(again.code(), Code::AlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr(spec.name));
  EXPECT_THAT(again.message(), HasSubstr("(EEXIST)"));
}

TEST_F(NetlinkTest, MoveToNetns) {
  TestNetns other;
  ASSERT_TRUE(other.ok());
  dummy("mover0");
  ASSERT_TRUE(sock_->moveToNetns("mover0", other.fd()).isOk());
  EXPECT_EQ(sock_->link("mover0").code(), Code::NotFound);
  EXPECT_THAT(other.ip("link show mover0"), HasSubstr("mover0"));
}

TEST_F(NetlinkTest, DeleteLinkIsIdempotent) {
  dummy("gone0");
  ASSERT_TRUE(sock_->link("gone0").hasValue());
  Status first = sock_->deleteLink("gone0");
  EXPECT_TRUE(first.isOk()) << first.str();
  Status second = sock_->deleteLink("gone0");
  EXPECT_TRUE(second.isOk()) << second.str();
  EXPECT_EQ(sock_->link("gone0").code(), Code::NotFound);
  EXPECT_THAT(ns_.ip("link show"), Not(HasSubstr("gone0")));
}

TEST_F(NetlinkTest, ErrorsForUnknownInterfacesNameIt) {
  Status up = sock_->setUp("nosuch0");
  EXPECT_EQ(up.code(), Code::NotFound);
  EXPECT_THAT(up.message(), HasSubstr("nosuch0"));
  EXPECT_THAT(up.message(), HasSubstr("No such device (ENODEV)"));
  EXPECT_THAT(sock_->setMtu("nosuch1", 1400).message(), HasSubstr("nosuch1"));
  EXPECT_THAT(sock_->setMac("nosuch2", Mac{2}).message(), HasSubstr("nosuch2"));
  EXPECT_THAT(sock_->rename("nosuch3", "x").message(), HasSubstr("nosuch3"));
  auto l = sock_->link("nosuch4");
  ASSERT_FALSE(l.hasValue());
  EXPECT_EQ(l.code(), Code::NotFound);
  EXPECT_THAT(l.error().message(), HasSubstr("link nosuch4"));
  EXPECT_EQ(sock_->link(4242).code(), Code::NotFound);
  EXPECT_EQ(sock_->setUp("far-too-long-interface-name").code(), Code::Invalid);

  Route r;
  r.dst = cidr("10.9.0.0/24");
  r.oif = 4242;
  Status rs = sock_->replaceRoute(r);
  EXPECT_EQ(rs.code(), Code::NotFound);
  EXPECT_THAT(rs.message(), HasSubstr("route 10.9.0.0/24 dev if4242: No such device (ENODEV)"));
}

TEST_F(NetlinkTest, IpipLinkKindProbe) {
  // Whatever happens, the answer names the link and, when it fails, is an error value rather than
  // a crash. Only where the module is already there: creating the link would otherwise load it,
  // and loading it puts tunl0 into every namespace, the host's included.
  if (::access("/sys/module/ipip", F_OK) != 0) {
    GTEST_SKIP() << "the ipip module is not loaded; not loading it from a test";
  }
  Status st = sock_->createLink("tunl9", "ipip");
  std::printf("creating an ipip link: %s\n", st.isOk() ? "ok" : st.str().c_str());
  if (st.isOk()) {
    EXPECT_EQ(sock_->link("tunl9")->kind, "ipip");
  } else {
    EXPECT_THAT(st.message(), HasSubstr("ipip link tunl9"));
  }
}

// ------------------------------------------------------------------------------------ addresses

TEST_F(NetlinkTest, Addresses) {
  int idx = dummy("addr0");
  ASSERT_GT(idx, 0);
  Address a4{idx, cidr("10.0.0.5/24")};
  Address a6{idx, cidr("fd00::5/64")};
  ASSERT_TRUE(sock_->addAddress(a4).isOk());
  EXPECT_TRUE(sock_->addAddress(a4).isOk()); // EEXIST counts as done
  ASSERT_TRUE(sock_->addAddress(a6).isOk());

  auto v4 = sock_->addresses(4, idx);
  ASSERT_TRUE(v4.hasValue());
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ((*v4)[0].net, a4.net);
  EXPECT_EQ((*v4)[0].ifindex, idx);
  auto v6 = sock_->addresses(AF_INET6, idx);
  ASSERT_TRUE(v6.hasValue());
  bool found6 = false;
  for (const auto& a : *v6) {
    found6 = found6 || a.net == a6.net;
  }
  EXPECT_TRUE(found6);
  auto all = sock_->addresses();
  ASSERT_TRUE(all.hasValue());
  EXPECT_GE(all->size(), 3u); // 127.0.0.1 is down with lo, but ours are there

  EXPECT_THAT(ns_.ip("addr show dev addr0"), HasSubstr("inet 10.0.0.5/24"));
  EXPECT_THAT(ns_.ip("addr show dev addr0"), HasSubstr("inet6 fd00::5/64"));

  ASSERT_TRUE(sock_->deleteAddress(a4).isOk());
  EXPECT_TRUE(sock_->deleteAddress(a4).isOk()); // already gone
  EXPECT_THAT(ns_.ip("addr show dev addr0"), Not(HasSubstr("10.0.0.5")));

  Status bad = sock_->addAddress(Address{4242, cidr("10.0.0.9/32")});
  EXPECT_FALSE(bad.isOk());
  EXPECT_THAT(bad.message(), HasSubstr("address 10.0.0.9/32 dev if4242"));
}

// --------------------------------------------------------------------------------------- routes

TEST_F(NetlinkTest, RouteReplaceDumpDelete) {
  int idx = dummy("tun0", "10.99.0.1/24");
  ASSERT_GT(idx, 0);

  Route via; // <block> via <node> dev tun0 onlink proto 80
  via.dst = cidr("10.244.3.0/26");
  via.oif = idx;
  via.gateway = ip("10.99.0.12");
  via.onlink = true;
  Route hole; // blackhole <block> proto 80
  hole.dst = cidr("10.244.0.0/26");
  hole.type = RouteType::Blackhole;
  Route wep; // <ip>/32 dev tun0 scope link proto 80
  wep.dst = cidr("10.244.0.5/32");
  wep.oif = idx;
  wep.scope = RT_SCOPE_LINK;
  Route withSrc; // metric and preferred source
  withSrc.dst = cidr("10.245.0.0/16");
  withSrc.oif = idx;
  withSrc.gateway = ip("10.99.0.2");
  withSrc.prefsrc = ip("10.99.0.1");
  withSrc.priority = 20;
  Route other; // another table
  other.dst = cidr("0.0.0.0/0");
  other.table = 100;
  other.oif = idx;
  other.gateway = ip("10.99.0.254");

  for (const Route* r : {&via, &hole, &wep, &withSrc, &other}) {
    Status st = sock_->replaceRoute(*r);
    ASSERT_TRUE(st.isOk()) << st.str();
  }

  auto ours = sock_->routes(4, 254, kRouteProtocol);
  ASSERT_TRUE(ours.hasValue()) << ours.error().str();
  std::set<std::string> got;
  for (const auto& r : *ours) {
    got.insert(r.key());
  }
  EXPECT_EQ(got, (std::set<std::string>{via.key(), hole.key(), wep.key(), withSrc.key()}));
  for (const auto& r : *ours) {
    if (r.key() == via.key()) {
      EXPECT_EQ(r, via);
    } else if (r.key() == hole.key()) {
      EXPECT_EQ(r, hole);
    } else if (r.key() == wep.key()) {
      EXPECT_EQ(r, wep);
    } else if (r.key() == withSrc.key()) {
      EXPECT_EQ(r, withSrc);
    }
  }
  auto t100 = sock_->routes(4, 100);
  ASSERT_TRUE(t100.hasValue());
  ASSERT_EQ(t100->size(), 1u);
  EXPECT_EQ((*t100)[0], other);
  auto none = sock_->routes(4, 123);
  ASSERT_TRUE(none.hasValue()) << none.error().str();
  EXPECT_TRUE(none->empty());
  // Without a protocol filter the kernel's own connected route is there too.
  auto main = sock_->routes(AF_INET, 254);
  ASSERT_TRUE(main.hasValue());
  EXPECT_EQ(main->size(), 5u);

  std::string shown = ns_.ip("route show proto 80");
  EXPECT_THAT(shown, HasSubstr("10.244.3.0/26 via 10.99.0.12 dev tun0 onlink"));
  EXPECT_THAT(shown, HasSubstr("blackhole 10.244.0.0/26"));
  EXPECT_THAT(shown, HasSubstr("10.244.0.5 dev tun0 scope link"));
  EXPECT_THAT(shown, HasSubstr("10.245.0.0/16 via 10.99.0.2 dev tun0 src 10.99.0.1 metric 20"));

  // Replace moves the route to a new next hop.
  via.gateway = ip("10.99.0.13");
  ASSERT_TRUE(sock_->replaceRoute(via).isOk());
  EXPECT_THAT(ns_.ip("route show 10.244.3.0/26"), HasSubstr("via 10.99.0.13"));
  // A blackhole replaced by a unicast route with the same key.
  Route unhole = hole;
  unhole.type = RouteType::Unicast;
  unhole.oif = idx;
  unhole.scope = RT_SCOPE_LINK;
  ASSERT_TRUE(sock_->replaceRoute(unhole).isOk());
  EXPECT_THAT(ns_.ip("route show proto 80"), Not(HasSubstr("blackhole")));

  ASSERT_TRUE(sock_->deleteRoute(via).isOk());
  EXPECT_TRUE(sock_->deleteRoute(via).isOk()); // ESRCH counts as done
  // Deleting with another protocol leaves ours alone.
  Route foreign = wep;
  foreign.protocol = RTPROT_BOOT;
  EXPECT_TRUE(sock_->deleteRoute(foreign).isOk());
  EXPECT_THAT(ns_.ip("route show proto 80"), HasSubstr("10.244.0.5 dev tun0"));
  EXPECT_THAT(ns_.ip("route show proto 80"), Not(HasSubstr("10.244.3.0/26")));
}

TEST_F(NetlinkTest, Ipv6Routes) {
  int idx = dummy("v6dev0", "fd00:99::1/64");
  ASSERT_GT(idx, 0);
  Route r;
  r.dst = cidr("fd00:244::/122");
  r.oif = idx;
  r.gateway = ip("fd00:99::12");
  r.priority = 1024;
  Route hole;
  hole.dst = cidr("fd00:245::/122");
  hole.type = RouteType::Blackhole;
  hole.priority = 1024;
  ASSERT_TRUE(sock_->replaceRoute(r).isOk());
  Status hs = sock_->replaceRoute(hole);
  ASSERT_TRUE(hs.isOk()) << hs.str();
  auto ours = sock_->routes(6, 254, kRouteProtocol);
  ASSERT_TRUE(ours.hasValue());
  ASSERT_EQ(ours->size(), 2u);
  for (const auto& got : *ours) {
    if (got.key() == r.key()) {
      EXPECT_EQ(got, r);
    } else {
      EXPECT_EQ(got.key(), hole.key());
      EXPECT_EQ(got.type, RouteType::Blackhole);
    }
  }
  // Family 0 dumps both.
  auto v4 = Route{};
  v4.dst = cidr("10.1.0.0/16");
  v4.type = RouteType::Blackhole;
  ASSERT_TRUE(sock_->replaceRoute(v4).isOk());
  auto both = sock_->routes(0, 254, kRouteProtocol);
  ASSERT_TRUE(both.hasValue()) << both.error().str();
  EXPECT_EQ(both->size(), 3u);
  EXPECT_THAT(sh("ip -n " + ns_.name() + " -6 route show proto 80"),
              HasSubstr("fd00:244::/122 via fd00:99::12 dev v6dev0 metric 1024"));
  ASSERT_TRUE(sock_->deleteRoute(r).isOk());
  ASSERT_TRUE(sock_->deleteRoute(hole).isOk());
  EXPECT_TRUE(sock_->routes(6, 254, kRouteProtocol)->empty());
  EXPECT_EQ(sock_->routes(4, 254, kRouteProtocol)->size(), 1u);
}

TEST_F(NetlinkTest, BatchOfTenThousandRoutesWithOneBad) {
  int idx = dummy("tunl0", "10.99.0.1/24");
  ASSERT_GT(idx, 0);
  constexpr int kRoutes = 10000;
  constexpr int kBad = 5000;
  Batch batch(*sock_);
  std::vector<Route> routes;
  for (int i = 0; i < kRoutes; ++i) {
    Route r;
    r.dst.addr.family = 4;
    r.dst.addr.bytes = {10, static_cast<uint8_t>(200 + i / 65536),
                        static_cast<uint8_t>((i / 256) % 256), static_cast<uint8_t>(i % 256)};
    r.dst.prefix = 32;
    r.oif = idx;
    r.gateway = ip("10.99.0.12");
    r.onlink = true;
    if (i == kBad) {
      r.oif = 4242; // no such device
    }
    routes.push_back(r);
    batch.replaceRoute(r);
  }
  ASSERT_EQ(batch.size(), static_cast<size_t>(kRoutes));
  std::vector<Status> res = batch.send();
  EXPECT_EQ(batch.size(), 0u);
  ASSERT_EQ(res.size(), static_cast<size_t>(kRoutes));
  int failed = 0;
  for (int i = 0; i < kRoutes; ++i) {
    if (!res[i].isOk()) {
      ++failed;
      EXPECT_EQ(i, kBad) << res[i].str();
    }
  }
  EXPECT_EQ(failed, 1);
  std::printf("the bad route: %s\n", res[kBad].str().c_str());
  EXPECT_EQ(res[kBad].code(), Code::NotFound);
  EXPECT_THAT(res[kBad].message(),
              HasSubstr("route 10.200.19.136/32 via 10.99.0.12 dev if4242 onlink: "
                        "No such device (ENODEV)"));

  auto dumped = sock_->routes(4, 254, kRouteProtocol);
  ASSERT_TRUE(dumped.hasValue());
  EXPECT_EQ(dumped->size(), static_cast<size_t>(kRoutes - 1));
  EXPECT_EQ(sh("ip -n " + ns_.name() + " route show proto 80 | wc -l"), "9999\n");
  EXPECT_THAT(ns_.ip("route show 10.200.0.7"),
              HasSubstr("via 10.99.0.12 dev tunl0 proto 80 onlink"));

  for (const auto& r : routes) {
    batch.deleteRoute(r);
  }
  res = batch.send();
  for (int i = 0; i < kRoutes; ++i) {
    EXPECT_TRUE(res[i].isOk()) << res[i].str(); // the bad one was never there: ESRCH is ok
  }
  EXPECT_TRUE(sock_->routes(4, 254, kRouteProtocol)->empty());
}

TEST_F(NetlinkTest, EmptyBatchSendsNothing) {
  Batch batch(*sock_);
  EXPECT_TRUE(batch.send().empty());
}

// ------------------------------------------------------------------------- vxlan, neighbours, fdb

TEST_F(NetlinkTest, VxlanNeighboursAndFdb) {
  int under = dummy("under0", "192.168.50.1/24");
  ASSERT_GT(under, 0);
  VxlanSpec spec;
  spec.local = ip("192.168.50.1");
  spec.parentIndex = under;
  spec.mac = mac("66:0a:0b:0c:0d:0e");
  spec.mtu = 1450;
  Status st = sock_->createVxlan(spec);
  ASSERT_TRUE(st.isOk()) << st.str();
  ASSERT_TRUE(sock_->setUp(spec.name).isOk());

  auto l = sock_->link("vxlan.calico");
  ASSERT_TRUE(l.hasValue());
  EXPECT_EQ(l->kind, "vxlan");
  EXPECT_EQ(l->vxlanId, 4096u);
  EXPECT_EQ(l->vxlanPort, 4789);
  ASSERT_TRUE(l->vxlanLocal.has_value());
  EXPECT_EQ(*l->vxlanLocal, spec.local);
  EXPECT_EQ(l->vxlanParentIndex, under);
  EXPECT_FALSE(l->vxlanLearning);
  EXPECT_EQ(l->mac, spec.mac);
  EXPECT_EQ(l->mtu, 1450u);
  std::string shown = ns_.ip("-d link show vxlan.calico");
  EXPECT_THAT(shown, HasSubstr("vxlan id 4096 local 192.168.50.1 dev under0"));
  EXPECT_THAT(shown, HasSubstr("dstport 4789"));
  EXPECT_THAT(shown, HasSubstr("nolearning"));
  EXPECT_THAT(shown, HasSubstr("link/ether 66:0a:0b:0c:0d:0e"));
  EXPECT_EQ(sock_->createVxlan(spec).code(), Code::AlreadyExists);

  Neighbor n{l->index, ip("10.244.9.0"), mac("66:aa:bb:cc:dd:ee")};
  ASSERT_TRUE(sock_->replaceNeighbor(n).isOk());
  ASSERT_TRUE(sock_->replaceNeighbor(n).isOk());
  auto neigh = sock_->neighbors(4, l->index);
  ASSERT_TRUE(neigh.hasValue()) << neigh.error().str();
  ASSERT_EQ(neigh->size(), 1u);
  EXPECT_EQ((*neigh)[0], n);
  EXPECT_THAT(ns_.ip("neigh show dev vxlan.calico"),
              HasSubstr("10.244.9.0 lladdr 66:aa:bb:cc:dd:ee PERMANENT"));

  FdbEntry f{l->index, n.mac, ip("192.168.50.2")};
  ASSERT_TRUE(sock_->appendFdb(f).isOk());
  auto fdb = sock_->fdb(l->index);
  ASSERT_TRUE(fdb.hasValue());
  ASSERT_EQ(fdb->size(), 1u);
  EXPECT_EQ((*fdb)[0], f);
  std::string bridge = sh("bridge -n " + ns_.name() + " fdb show dev vxlan.calico");
  EXPECT_THAT(bridge, HasSubstr("66:aa:bb:cc:dd:ee dst 192.168.50.2 self permanent"));

  // The remote node moved: replace points the MAC at the new underlay address.
  FdbEntry moved{l->index, n.mac, ip("192.168.50.3")};
  ASSERT_TRUE(sock_->replaceFdb(moved).isOk());
  fdb = sock_->fdb(l->index);
  ASSERT_EQ(fdb->size(), 1u);
  EXPECT_EQ((*fdb)[0], moved);

  // The same through a batch.
  Batch batch(*sock_);
  batch.deleteFdb(moved);
  batch.deleteNeighbor(n);
  batch.deleteFdb(moved); // already gone: ok
  batch.deleteNeighbor(n);
  Neighbor n2{l->index, ip("10.244.10.0"), mac("66:11:22:33:44:55")};
  batch.replaceNeighbor(n2);
  batch.replaceFdb(FdbEntry{l->index, n2.mac, ip("192.168.50.4")});
  batch.replaceNeighbor(Neighbor{4242, ip("10.244.11.0"), n2.mac});
  auto res = batch.send();
  ASSERT_EQ(res.size(), 7u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(res[i].isOk()) << i << ": " << res[i].str();
  }
  EXPECT_THAT(res[6].message(),
              HasSubstr("neighbour 10.244.11.0 lladdr 66:11:22:33:44:55 dev if4242"));
  neigh = sock_->neighbors(4, l->index);
  ASSERT_EQ(neigh->size(), 1u);
  EXPECT_EQ((*neigh)[0], n2);
  fdb = sock_->fdb(l->index);
  ASSERT_EQ(fdb->size(), 1u);
  EXPECT_EQ((*fdb)[0].dst, ip("192.168.50.4"));
}

// --------------------------------------------------------------------------------------- sysctl

TEST_F(NetlinkTest, SysctlInNamespace) {
  VethSpec spec;
  spec.name = "calisys0";
  spec.peerName = "calisys1";
  ASSERT_TRUE(sock_->createVeth(spec).isOk());
  const std::string path = confPath(4, "calisys0", "proxy_arp");
  Status st = inNetns(ns_.path(), [&]() -> Status {
    RETURN_IF_ERROR(setSysctl(path, "1"));
    auto v = getSysctl(path);
    if (!v.hasValue()) {
      return v.error();
    }
    if (*v != "1") {
      return Status(Code::Internal, "read back " + *v);
    }
    return Status::ok();
  });
  EXPECT_TRUE(st.isOk()) << st.str();
  EXPECT_EQ(sh("ip netns exec " + ns_.name() + " cat " + path), "1\n");
  EXPECT_EQ(sh("ip netns exec " + ns_.name() + " cat " + confPath(4, "calisys1", "proxy_arp")),
            "0\n");

  // A dotted interface name is a plain directory name under /proc/sys.
  int under = dummy("under1", "192.168.60.1/24");
  VxlanSpec vx;
  vx.local = ip("192.168.60.1");
  vx.parentIndex = under;
  ASSERT_TRUE(sock_->createVxlan(vx).isOk());
  Result<std::string> rp("");
  Status read = inNetns(ns_.path(), [&]() -> Status {
    rp = getSysctl(confPath(4, "vxlan.calico", "rp_filter"));
    return rp.status();
  });
  EXPECT_TRUE(read.isOk()) << read.str();

  // Errors name the path; the interface exists only in the test namespace.
  Status missing =
      inNetns(ns_.path(), [&] { return setSysctl(confPath(4, "nosuch0", "proxy_arp"), "1"); });
  EXPECT_EQ(missing.code(), Code::NotFound);
  EXPECT_THAT(missing.message(), HasSubstr("/proc/sys/net/ipv4/conf/nosuch0/proxy_arp"));
  EXPECT_FALSE(getSysctl(path).hasValue()); // not visible outside the namespace
}

TEST_F(NetlinkTest, InNetnsReturnsEvenOnError) {
  struct stat before {};
  struct stat inside {};
  struct stat after {};
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &before), 0);
  Status st = inNetns(ns_.path(), [&] {
    stat("/proc/thread-self/ns/net", &inside);
    return Status(Code::Internal, "boom");
  });
  EXPECT_EQ(st.message(), "boom");
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &after), 0);
  EXPECT_NE(inside.st_ino, before.st_ino);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_FALSE(inNetns("/nonexistent/ns", [] { return Status::ok(); }).isOk());
}

} // namespace
} // namespace caracal::netlink
