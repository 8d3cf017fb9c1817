// Two namespaces, A and B, joined by a veth "underlay" (10.98.0.1/24 <-> 10.98.0.2/24). Each has a
// "pod" address on lo (10.244.1.1 in A, 10.244.2.1 in B), a UserspaceTunnel "tunl0" started inside
// it and a route to the other side's block through tunl0, as the agent programs it.

#include "ipip/netns_testutil.h"
#include "ipip/tunnel_packet.h"
#include "ipip/userspace_tunnel.h"
#include "netlink/fd.h"

#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <gtest/gtest.h>
#include <iostream>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <regex>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace caracal::ipip {
namespace {

using namespace std::chrono_literals;
using caracal::testing::BackgroundCommand;
using caracal::testing::inNetns;
using caracal::testing::Netns;
using caracal::testing::TempDir;

api::IpNet net(const char* text) { return *api::parseCidr(text); }
api::IpAddr addr(const char* text) { return *api::parseIp(text); }

sockaddr_in sockAddr(const char* ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, ip, &sa.sin_addr);
  return sa;
}

using Socket = netlink::Fd;

// A socket of the given type opened inside namespace `ns` (bound to `ip`:0 unless ip is null).
Socket openIn(const Netns& ns, int type, int proto, const char* ip) {
  int fd = -1;
  inNetns(ns.path(), [&] {
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, proto);
    if (fd >= 0 && ip != nullptr) {
      sockaddr_in sa = sockAddr(ip, 0);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        ::close(fd);
        fd = -1;
      }
    }
  });
  return Socket(fd);
}

uint16_t boundPort(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

void setTimeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

class UserspaceTunnelTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!caracal::testing::isRoot()) {
      GTEST_SKIP() << "needs root (network namespaces)";
    }
    a_ = std::make_unique<Netns>("ipiptest", "a");
    b_ = std::make_unique<Netns>("ipiptest", "b");
    ASSERT_TRUE(a_->ok() && b_->ok());
    auto r = a_->ip("link add ul-a type veth peer name ul-b netns " + b_->name());
    ASSERT_EQ(r.rc, 0) << r.output;
    for (auto [ns, dev, under, pod] :
         {std::tuple{a_.get(), "ul-a", "10.98.0.1/24", "10.244.1.1/32"},
          std::tuple{b_.get(), "ul-b", "10.98.0.2/24", "10.244.2.1/32"}}) {
      ASSERT_EQ(ns->ip(std::string("addr add ") + under + " dev " + dev).rc, 0);
      ASSERT_EQ(ns->ip(std::string("link set ") + dev + " up").rc, 0);
      ASSERT_EQ(ns->ip(std::string("addr add ") + pod + " dev lo").rc, 0);
    }
    startTunnel(*a_, tunA_, "10.98.0.1", "10.244.1.0/32");
    startTunnel(*b_, tunB_, "10.98.0.2", "10.244.2.0/32");
    ASSERT_TRUE(tunA_ && tunB_);
    tunA_->setPeers({{net("10.244.2.0/26"), addr("10.98.0.2")}});
    tunB_->setPeers({{net("10.244.1.0/26"), addr("10.98.0.1")}});
    r = a_->ip("route add 10.244.2.0/26 via 10.98.0.2 dev tunl0 onlink proto 80");
    ASSERT_EQ(r.rc, 0) << r.output;
    r = b_->ip("route add 10.244.1.0/26 via 10.98.0.1 dev tunl0 onlink proto 80");
    ASSERT_EQ(r.rc, 0) << r.output;
  }

  void TearDown() override {
    for (auto* t : {&tunA_, &tunB_}) {
      if (*t) {
        (*t)->stop(/*removeDevice=*/true);
        t->reset();
      }
    }
  }

  void startTunnel(const Netns& ns, std::unique_ptr<UserspaceTunnel>& out, const char* local,
                   const char* tunnelAddr, bool offloads = true) {
    TunnelOptions opts;
    opts.local = addr(local);
    opts.tunnelAddr = net(tunnelAddr);
    opts.offloads = offloads;
    ASSERT_TRUE(inNetns(ns.path(), [&] {
      auto t = UserspaceTunnel::start(opts);
      ASSERT_TRUE(t.hasValue()) << t.error().str();
      out = std::move(t).value();
    }));
  }

  // Three echo requests; success when all three are answered.
  ::testing::AssertionResult ping(const Netns& from, const std::string& src, const std::string& dst,
                                  std::chrono::milliseconds timeout = 2s) {
    int replies = caracal::testing::icmpPing(from.path(), src, dst, 3, 100ms, timeout);
    if (replies == 3) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "ping " << src << " -> " << dst << ": " << replies << " of 3 replies";
  }

  // Restarts both tunnels on their persistent devices with the given offload settings.
  void restartTunnels(bool offloadsA, bool offloadsB) {
    for (auto* t : {&tunA_, &tunB_}) {
      (*t)->stop();
      t->reset();
    }
    startTunnel(*a_, tunA_, "10.98.0.1", "10.244.1.0/32", offloadsA);
    startTunnel(*b_, tunB_, "10.98.0.2", "10.244.2.0/32", offloadsB);
    ASSERT_TRUE(tunA_ && tunB_);
    tunA_->setPeers({{net("10.244.2.0/26"), addr("10.98.0.2")}});
    tunB_->setPeers({{net("10.244.1.0/26"), addr("10.98.0.1")}});
  }

  // A counter of the "Ip:" lines of /proc/net/snmp in `ns` (e.g. FragCreates), or -1.
  static long long ipCounter(const Netns& ns, const std::string& name) {
    std::istringstream in(ns.exec("cat /proc/net/snmp").output);
    std::string names, values;
    while (std::getline(in, names) && std::getline(in, values)) {
      if (names.rfind("Ip:", 0) != 0) {
        continue;
      }
      std::istringstream n(names), v(values);
      std::string key, value;
      while (n >> key && v >> value) {
        if (key == name) {
          return std::stoll(value);
        }
      }
    }
    return -1;
  }

  // Sends `bytes` random bytes over TCP from pod A to pod B and checks they arrive unchanged.
  void transferAndCompare(size_t bytes) {
    std::vector<uint8_t> data(bytes);
    std::mt19937 rng(42);
    for (auto& b : data) {
      b = static_cast<uint8_t>(rng());
    }
    Socket listener = openIn(*b_, SOCK_STREAM, 0, "10.244.2.1");
    ASSERT_GE(listener.get(), 0);
    ASSERT_EQ(::listen(listener.get(), 1), 0);
    uint16_t port = boundPort(listener.get());
    Socket client = openIn(*a_, SOCK_STREAM, 0, "10.244.1.1");
    ASSERT_GE(client.get(), 0);
    setTimeouts(client.get(), 10s);
    sockaddr_in dst = sockAddr("10.244.2.1", port);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&dst), sizeof(dst)), 0)
        << std::strerror(errno);
    Socket conn(::accept(listener.get(), nullptr, nullptr));
    ASSERT_GE(conn.get(), 0);
    setTimeouts(conn.get(), 10s);

    std::thread sender([&] {
      size_t off = 0;
      while (off < data.size()) {
        ssize_t n = ::send(client.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) {
          break;
        }
        off += static_cast<size_t>(n);
      }
      ::shutdown(client.get(), SHUT_WR);
    });
    std::vector<uint8_t> got;
    got.reserve(bytes);
    std::vector<uint8_t> buf(1 << 16);
    for (;;) {
      ssize_t n = ::recv(conn.get(), buf.data(), buf.size(), 0);
      if (n <= 0) {
        break;
      }
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
    sender.join();
    ASSERT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
  }

  std::unique_ptr<Netns> a_, b_;
  std::unique_ptr<UserspaceTunnel> tunA_, tunB_;
};

TEST_F(UserspaceTunnelTest, DeviceIsConfigured) {
  auto r = a_->ip("-d link show tunl0");
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("mtu 1480"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("qlen 2000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tun type tun pi off"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("persist on"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(",UP"), std::string::npos) << r.output;
  r = a_->ip("-4 addr show dev tunl0");
  EXPECT_NE(r.output.find("inet 10.244.1.0/32"), std::string::npos) << r.output;
  r = a_->ip("-o link show tunl0");
  EXPECT_EQ(r.output.rfind(std::to_string(tunA_->ifindex()) + ": tunl0", 0), 0u) << r.output;
}

TEST_F(UserspaceTunnelTest, PingBetweenPodsAndFromTunnelAddress) {
  EXPECT_TRUE(ping(*a_, "10.244.1.1", "10.244.2.1"));
  EXPECT_TRUE(ping(*b_, "10.244.2.1", "10.244.1.1"));
  // From tunl0's address (10.244.1.0): the source the kernel picks for host-to-remote-pod traffic.
  EXPECT_TRUE(ping(*a_, "10.244.1.0", "10.244.2.1"));
  // Counters are bumped right after the packet is handed on, so they may trail the reply by a hair.
  EXPECT_TRUE(caracal::testing::waitFor(
      [&] {
        auto sa = tunA_->stats();
        auto sb = tunB_->stats();
        return sa.txPackets >= 9 && sa.rxPackets >= 9 && sb.txPackets >= 9 && sb.rxPackets >= 9;
      },
      2s));
  auto sa = tunA_->stats();
  auto sb = tunB_->stats();
  EXPECT_EQ(sa.dropUnknownSrc + sb.dropUnknownSrc + sa.dropMalformed + sb.dropMalformed, 0u);
  EXPECT_EQ(sa.txErrors + sa.rxErrors + sb.txErrors + sb.rxErrors, 0u);
}

TEST_F(UserspaceTunnelTest, TcpTransferArrivesIntact) {
  constexpr size_t kBytes = 6 << 20;
  long long fragsBefore = ipCounter(*a_, "FragCreates");
  ASSERT_GE(fragsBefore, 0);
  transferAndCompare(kBytes);
  // Full-sized segments crossed: inner packets up to the tunnel MTU.
  EXPECT_GT(tunA_->stats().txBytes, kBytes);
  EXPECT_GT(tunB_->stats().rxBytes, kBytes);
  // The offload path did the work: A cut super-packets, B merged segments again. Every inner
  // packet fitted the underlay MTU: the raw socket never had to fragment.
  EXPECT_GT(tunA_->stats().txGsoPackets, 0u);
  EXPECT_GT(tunB_->stats().rxGsoWrites, 0u);
  EXPECT_EQ(ipCounter(*a_, "FragCreates"), fragsBefore);
  EXPECT_EQ(tunA_->stats().dropMalformed + tunB_->stats().dropMalformed, 0u);
}

// The wire does not depend on offloads: a tunnel with them talks to one without, both ways round.
TEST_F(UserspaceTunnelTest, TcpTransferWithMixedOffloads) {
  constexpr size_t kBytes = 4 << 20;
  restartTunnels(/*offloadsA=*/false, /*offloadsB=*/true);
  transferAndCompare(kBytes);
  EXPECT_EQ(tunA_->stats().txGsoPackets, 0u);
  EXPECT_GT(tunA_->stats().txPackets, kBytes / 1480);
  EXPECT_GT(tunB_->stats().rxGsoWrites, 0u);

  restartTunnels(/*offloadsA=*/true, /*offloadsB=*/false);
  transferAndCompare(kBytes);
  EXPECT_GT(tunA_->stats().txGsoPackets, 0u);
  EXPECT_EQ(tunB_->stats().rxGsoWrites, 0u);
  EXPECT_GT(tunB_->stats().rxPackets, kBytes / 1480);
  auto r = a_->ip("-d link show tunl0");
  EXPECT_NE(r.output.find("tun type tun pi off vnet_hdr on"), std::string::npos) << r.output;
}

// Crafted IPIP datagrams from inside A: from an unknown underlay address, from the known peer, and
// from the peer but with a broken inner header.
TEST_F(UserspaceTunnelTest, OnlyKnownPeersAreDecapsulated) {
  ASSERT_EQ(a_->ip("addr add 10.98.0.3/24 dev ul-a").rc, 0);
  Socket udp = openIn(*b_, SOCK_DGRAM, 0, "10.244.2.1");
  ASSERT_GE(udp.get(), 0);
  uint16_t port = boundPort(udp.get());
  std::vector<uint8_t> udpHdr = {0x30,
                                 0x39,
                                 static_cast<uint8_t>(port >> 8),
                                 static_cast<uint8_t>(port),
                                 0,
                                 13,
                                 0,
                                 0,
                                 'h',
                                 'e',
                                 'l',
                                 'l',
                                 'o'};
  auto inner = buildIpv4Packet(ipv4HostOrder(addr("10.244.1.1")), ipv4HostOrder(addr("10.244.2.1")),
                               IPPROTO_UDP, udpHdr);
  sockaddr_in dst = sockAddr("10.98.0.2", 0);
  auto sendFrom = [&](const char* src, const std::vector<uint8_t>& pkt) {
    Socket raw = openIn(*a_, SOCK_RAW, IPPROTO_IPIP, src);
    ASSERT_GE(raw.get(), 0);
    ASSERT_EQ(::sendto(raw.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&dst),
                       sizeof(dst)),
              static_cast<ssize_t>(pkt.size()));
  };
  auto received = [&](std::chrono::milliseconds wait) {
    pollfd p{udp.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) {
      return std::string();
    }
    char buf[64];
    ssize_t n = ::recv(udp.get(), buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };

  auto before = tunB_->stats();
  sendFrom("10.98.0.3", inner);
  EXPECT_TRUE(caracal::testing::waitFor(
      [&] { return tunB_->stats().dropUnknownSrc == before.dropUnknownSrc + 1; }, 3s));
  EXPECT_EQ(received(300ms), "");
  EXPECT_EQ(tunB_->stats().rxPackets, before.rxPackets);

  sendFrom("10.98.0.1", inner);
  EXPECT_EQ(received(3s), "hello");
  EXPECT_TRUE(caracal::testing::waitFor(
      [&] { return tunB_->stats().rxPackets == before.rxPackets + 1; }, 2s));

  auto broken = inner;
  broken[10] ^= 0x55; // inner header checksum
  sendFrom("10.98.0.1", broken);
  EXPECT_TRUE(caracal::testing::waitFor(
      [&] { return tunB_->stats().dropMalformed == before.dropMalformed + 1; }, 3s));
  EXPECT_EQ(received(300ms), "");
}

TEST_F(UserspaceTunnelTest, SetPeersSwapsTableWhileRunning) {
  ASSERT_TRUE(ping(*a_, "10.244.1.1", "10.244.2.1"));
  auto before = tunA_->stats();
  tunA_->setPeers({});
  EXPECT_EQ(caracal::testing::icmpPing(a_->path(), "10.244.1.1", "10.244.2.1", 2, 100ms, 500ms), 0);
  EXPECT_GE(tunA_->stats().dropNoPeer, before.dropNoPeer + 2);
  // A table holding just the pod's /32 routes it as well.
  tunA_->setPeers({{net("10.244.2.1/32"), addr("10.98.0.2")}});
  EXPECT_TRUE(ping(*a_, "10.244.1.1", "10.244.2.1"));
}

TEST_F(UserspaceTunnelTest, RestartReusesPersistentDevice) {
  int ifindex = tunA_->ifindex();
  tunA_->stop(/*removeDevice=*/false);
  tunA_.reset();
  auto r = a_->ip("route show 10.244.2.0/26");
  EXPECT_NE(r.output.find("dev tunl0"), std::string::npos) << "route lost on stop: " << r.output;
  EXPECT_EQ(caracal::testing::icmpPing(a_->path(), "10.244.1.1", "10.244.2.1", 1, 100ms, 500ms), 0);
  startTunnel(*a_, tunA_, "10.98.0.1", "10.244.1.0/32");
  ASSERT_TRUE(tunA_);
  EXPECT_EQ(tunA_->ifindex(), ifindex);
  tunA_->setPeers({{net("10.244.2.0/26"), addr("10.98.0.2")}});
  r = a_->ip("route show 10.244.2.0/26");
  EXPECT_NE(r.output.find("dev tunl0"), std::string::npos) << r.output;
  EXPECT_TRUE(ping(*a_, "10.244.1.1", "10.244.2.1"));
}

TEST_F(UserspaceTunnelTest, StopWithRemoveDeletesDevice) {
  tunB_->stop(/*removeDevice=*/true);
  tunB_.reset();
  EXPECT_NE(b_->ip("link show tunl0").rc, 0) << "tunl0 still present";
  EXPECT_EQ(a_->ip("link show tunl0").rc, 0);
}

TEST_F(UserspaceTunnelTest, ChangedTunnelAddressReplacesOldOne) {
  tunA_->stop();
  tunA_.reset();
  startTunnel(*a_, tunA_, "10.98.0.1", "10.244.1.9/32");
  ASSERT_TRUE(tunA_);
  auto r = a_->ip("-4 -o addr show dev tunl0");
  EXPECT_NE(r.output.find("10.244.1.9/32"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("10.244.1.0/32"), std::string::npos) << r.output;
}

TEST_F(UserspaceTunnelTest, SecondInstanceOnSameDeviceIsRefused) {
  TunnelOptions opts;
  opts.local = addr("10.98.0.1");
  bool entered = inNetns(a_->path(), [&] {
    auto t = UserspaceTunnel::start(opts);
    ASSERT_FALSE(t.hasValue());
    EXPECT_NE(t.error().message().find("tunl0"), std::string::npos) << t.error().str();
  });
  EXPECT_TRUE(entered);
}

// tcpdump on the underlay veth sees IP protocol 4 with the node addresses outside and the pod
// addresses inside, both live and from a saved pcap.
TEST_F(UserspaceTunnelTest, WireFormatIsIpip) {
  if (!caracal::testing::haveProgram("tcpdump")) {
    GTEST_SKIP() << "tcpdump not installed";
  }
  TempDir tmp("ipiptest");
  ASSERT_FALSE(tmp.path().empty());
  auto capture = [&](const std::string& args, const std::string& log) {
    BackgroundCommand dump("exec ip netns exec " + a_->name() +
                               " timeout 20 tcpdump -i ul-a -n -l " + args + " -c 5 ip proto 4",
                           log);
    EXPECT_TRUE(dump.started());
    EXPECT_TRUE(caracal::testing::waitFor(
        [&] { return caracal::testing::readFile(log).find("listening on") != std::string::npos; },
        10s))
        << caracal::testing::readFile(log);
    EXPECT_TRUE(ping(*a_, "10.244.1.1", "10.244.2.1"));
    EXPECT_EQ(dump.wait(10s), 0) << caracal::testing::readFile(log);
    return caracal::testing::readFile(log);
  };

  const std::string request =
      "IP 10.98.0.1 > 10.98.0.2: IP 10.244.1.1 > 10.244.2.1: ICMP echo request";
  const std::string reply = "IP 10.98.0.2 > 10.98.0.1: IP 10.244.2.1 > 10.244.1.1: ICMP echo reply";
  std::string plain = capture("", tmp.path() + "/plain.log");
  std::cout << "tcpdump -i ul-a -n ip proto 4:\n" << plain;
  EXPECT_NE(plain.find(request), std::string::npos) << plain;
  EXPECT_NE(plain.find(reply), std::string::npos) << plain;

  std::string verbose = capture("-v", tmp.path() + "/verbose.log");
  std::cout << "tcpdump -v:\n" << verbose;
  EXPECT_NE(verbose.find("proto IPIP (4)"), std::string::npos) << verbose;
  EXPECT_TRUE(std::regex_search(
      verbose,
      std::regex(R"(proto IPIP \(4\)[^\n]*\n\s*10\.98\.0\.1 > 10\.98\.0\.2: IP \([^\n]*)"
                 R"(proto ICMP \(1\)[^\n]*\n\s*10\.244\.1\.1 > 10\.244\.2\.1: ICMP echo request)")))
      << verbose;

  std::string pcap = tmp.path() + "/ipip.pcap";
  capture("-w " + pcap, tmp.path() + "/write.log");
  auto reread = caracal::testing::runCommand("tcpdump -n -r " + pcap);
  std::cout << "tcpdump -r:\n" << reread.output;
  ASSERT_EQ(reread.rc, 0) << reread.output;
  EXPECT_NE(reread.output.find(request), std::string::npos) << reread.output;
  EXPECT_NE(reread.output.find(reply), std::string::npos) << reread.output;
  auto rereadVerbose = caracal::testing::runCommand("tcpdump -n -v -r " + pcap);
  EXPECT_NE(rereadVerbose.output.find("proto IPIP (4)"), std::string::npos) << rereadVerbose.output;
}

// A bulk transfer as tcpdump sees it on the underlay: full-sized IPIP packets (outer 1500 bytes,
// inner 1480) whose inner TCP checksums tcpdump verifies itself, i.e. the segments the tunnel cut
// from super-packets are ordinary, correct packets.
TEST_F(UserspaceTunnelTest, TcpSegmentsOnTheWireAreIpipWithValidChecksums) {
  if (!caracal::testing::haveProgram("tcpdump")) {
    GTEST_SKIP() << "tcpdump not installed";
  }
  TempDir tmp("ipiptest");
  ASSERT_FALSE(tmp.path().empty());
  std::string log = tmp.path() + "/tcp.log";
  BackgroundCommand dump("exec ip netns exec " + a_->name() +
                             " timeout 30 tcpdump -i ul-a -n -l -v -c 20 "
                             "'ip proto 4 and src 10.98.0.1 and greater 1400'",
                         log);
  ASSERT_TRUE(dump.started());
  ASSERT_TRUE(caracal::testing::waitFor(
      [&] { return caracal::testing::readFile(log).find("listening on") != std::string::npos; },
      10s))
      << caracal::testing::readFile(log);
  transferAndCompare(2 << 20);
  EXPECT_EQ(dump.wait(15s), 0) << caracal::testing::readFile(log);
  std::string out = caracal::testing::readFile(log);
  std::cout << "tcpdump -v (first lines):\n" << out.substr(0, 900) << "\n";
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t pos = out.find(needle); pos != std::string::npos; pos = out.find(needle, pos + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("proto IPIP (4), length 1500)"), 20u) << out;
  EXPECT_EQ(count("proto TCP (6), length 1480)"), 20u) << out;
  EXPECT_EQ(count("10.244.1.1."), 20u) << out;
  EXPECT_EQ(count("(correct)"), 20u) << out;
  EXPECT_EQ(count("incorrect"), 0u) << out;
}

TEST(KernelIpip, ProbeAgreesWithIpLinkAndLeavesNothingBehind) {
  if (!caracal::testing::isRoot()) {
    GTEST_SKIP() << "needs root (network namespaces)";
  }
  Netns ns("ipiptest", "probe");
  ASSERT_TRUE(ns.ok());
  bool probed = false;
  ASSERT_TRUE(inNetns(ns.path(), [&] { probed = kernelIpipAvailable(); }));
  std::string links = ns.ip("-o link show").output;
  EXPECT_EQ(links.find("caracalip"), std::string::npos) << links;
  if (::access("/sys/module/ipip", F_OK) != 0) {
    // Not loaded: the probe must say no without loading it (which would put tunl0 into the host's
    // namespace too), so `ip link add ... type ipip` is not tried either.
    EXPECT_FALSE(probed);
    EXPECT_NE(::access("/sys/module/ipip", F_OK), 0) << "the probe loaded the ipip module";
  } else {
    bool viaIp = ns.ip("link add probe0 type ipip").rc == 0;
    EXPECT_EQ(probed, viaIp);
  }
  std::cout << "kernel ipip available: " << (probed ? "yes" : "no") << "\n";
}

} // namespace
} // namespace caracal::ipip
