// caracal-labtool against real sockets: two network namespaces made for each test and joined by
// a veth pair (10.98.0.1/24 in "a", 10.98.0.2/24 in "b"). Needs root; skipped otherwise.
#include "tools/labtool/labtool.h"

#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <unistd.h>

namespace caracal::labtool {
namespace {

using Clock = std::chrono::steady_clock;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

long msSince(Clock::time_point t) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

class LabtoolNetns : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root (network namespaces)";
    }
    std::string base = "labtool-" + std::to_string(getpid()) + "-" +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name();
    base = base.substr(0, 40);
    a_ = base + "-a";
    b_ = base + "-b";
    ASSERT_EQ(sh("ip netns add " + a_), 0);
    created_ = true;
    ASSERT_EQ(sh("ip netns add " + b_), 0);
    ASSERT_EQ(sh("ip -n " + a_ + " link add v0 type veth peer name v1 netns " + b_), 0);
    ASSERT_EQ(sh("ip -n " + a_ + " addr add 10.98.0.1/24 dev v0"), 0);
    ASSERT_EQ(sh("ip -n " + b_ + " addr add 10.98.0.2/24 dev v1"), 0);
    for (const std::string& ns : {a_, b_}) {
      ASSERT_EQ(sh("ip -n " + ns + " link set lo up"), 0);
    }
    ASSERT_EQ(sh("ip -n " + a_ + " link set v0 up"), 0);
    ASSERT_EQ(sh("ip -n " + b_ + " link set v1 up"), 0);
  }

  void TearDown() override {
    for (auto& s : servers_) {
      s.first->stop();
      s.second.join();
    }
    servers_.clear();
    if (created_) {
      sh("ip netns del " + a_);
      sh("ip netns del " + b_);
    }
  }

  std::string path(const std::string& ns) const { return "/var/run/netns/" + ns; }

  // Echo servers bound inside `ns`, served on a thread until TearDown.
  EchoServer* serveIn(const std::string& ns, const std::string& specs) {
    auto parsed = parseServeSpecs(specs);
    EXPECT_TRUE(parsed);
    auto server = std::make_unique<EchoServer>();
    EchoServer* raw = server.get();
    Status st = runInNetns(path(ns), [&] { return raw->bind(*parsed); });
    EXPECT_TRUE(st) << st.message();
    std::thread t([raw] { (void)raw->run(); });
    servers_.emplace_back(std::move(server), std::move(t));
    return raw;
  }

  Status probeFrom(const std::string& ns, ProbeOptions o) {
    return runInNetns(path(ns), [&] { return probe(o); });
  }

  static ProbeOptions opts(const std::string& ip, uint16_t port, Protocol p, int timeoutMs = 1000) {
    ProbeOptions o;
    o.address = ip;
    o.port = port;
    o.protocol = p;
    o.timeoutMs = timeoutMs;
    return o;
  }

  std::string a_, b_;
  bool created_ = false;
  std::vector<std::pair<std::unique_ptr<EchoServer>, std::thread>> servers_;
};

TEST_F(LabtoolNetns, TcpUdpIcmpEchoAcrossNamespaces) {
  serveIn(b_, "tcp:7000,udp:7001");
  Status st = probeFrom(a_, opts("10.98.0.2", 7000, Protocol::Tcp));
  EXPECT_TRUE(st) << st.message();
  st = probeFrom(a_, opts("10.98.0.2", 7001, Protocol::Udp));
  EXPECT_TRUE(st) << st.message();
  st = probeFrom(a_, opts("10.98.0.2", 0, Protocol::Icmp));
  EXPECT_TRUE(st) << st.message();
}

TEST_F(LabtoolNetns, UnreachableCases) {
  serveIn(b_, "tcp:7000,udp:7001");
  // Nothing listens on these ports: refused quickly, not after the whole timeout.
  auto t0 = Clock::now();
  Status st = probeFrom(a_, opts("10.98.0.2", 7002, Protocol::Tcp, 3000));
  EXPECT_FALSE(st);
  EXPECT_NE(st.message().find("refused"), std::string::npos) << st.message();
  EXPECT_LT(msSince(t0), 2000);
  EXPECT_FALSE(probeFrom(a_, opts("10.98.0.2", 7000, Protocol::Udp, 500)));
  // No such host: every protocol gives up at its deadline.
  for (Protocol p : {Protocol::Tcp, Protocol::Udp, Protocol::Icmp}) {
    t0 = Clock::now();
    st = probeFrom(a_, opts("10.98.0.77", 7000, p, 600));
    EXPECT_FALSE(st) << protocolName(p);
    EXPECT_GE(msSince(t0), 500) << protocolName(p);
    EXPECT_LT(msSince(t0), 2500) << protocolName(p);
  }
}

TEST_F(LabtoolNetns, HoldKeepsEchoingOnOneConnection) {
  serveIn(b_, "tcp:7000");
  ProbeOptions o = opts("10.98.0.2", 7000, Protocol::Tcp);
  o.holdMs = 700;
  auto t0 = Clock::now();
  Status st = probeFrom(a_, o);
  EXPECT_TRUE(st) << st.message();
  EXPECT_GE(msSince(t0), 700);
}

TEST_F(LabtoolNetns, HoldFailsWhenTheConnectionBreaks) {
  // A server of its own so it can be destroyed mid-hold (its connections close with it).
  auto server = std::make_unique<EchoServer>();
  auto specs = parseServeSpecs("tcp:7000");
  ASSERT_TRUE(runInNetns(path(b_), [&] { return server->bind(*specs); }));
  std::thread t([&] { (void)server->run(); });
  ProbeOptions o = opts("10.98.0.2", 7000, Protocol::Tcp, 500);
  o.holdMs = 5000;
  Status held;
  std::thread prober([&] { held = probeFrom(a_, o); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  server->stop();
  t.join();
  server.reset();
  prober.join();
  EXPECT_FALSE(held);
  EXPECT_NE(held.message().find("successful echoes"), std::string::npos) << held.message();
}

TEST_F(LabtoolNetns, MatrixProbesEveryPairInParallel) {
  serveIn(a_, "tcp:7000,udp:7000");
  serveIn(b_, "tcp:7000,udp:7000");
  // "ghost" starts in a but its address exists nowhere: nothing reaches it, it reaches the others.
  std::vector<MatrixPod> pods = {{"ns/a", path(a_), "10.98.0.1"},
                                 {"ns/b", path(b_), "10.98.0.2"},
                                 {"ns/ghost", path(a_), "10.98.0.77"}};
  for (Protocol p : {Protocol::Tcp, Protocol::Udp}) {
    auto t0 = Clock::now();
    auto m = runMatrix(pods, opts("", 7000, p, 700));
    ASSERT_TRUE(m) << m.error().message();
    // Three unreachable pairs with a 700 ms deadline each, probed together: well under 3 x 700.
    EXPECT_LT(msSince(t0), 1900) << protocolName(p);
    Matrix want = {{true, true, false}, {true, true, false}, {true, true, false}};
    EXPECT_EQ(*m, want) << protocolName(p);
  }
  auto bad = runMatrix({{"ns/x", "/var/run/netns/labtool-does-not-exist", "10.98.0.1"}},
                       opts("", 7000, Protocol::Tcp, 100));
  EXPECT_FALSE(bad);
}

TEST_F(LabtoolNetns, ForwarderRelaysIntoAnotherNamespace) {
  // The echo server listens in b, also on b's own loopback; 127.0.0.1 in a is a different stack.
  serveIn(b_, "tcp:7003");
  Forwarder fwd;
  HostPort listenAt{"127.0.0.1", 0};
  HostPort to{"127.0.0.1", 7003};
  Status st = runInNetns(path(a_), [&] { return fwd.start(listenAt, path(b_), to); });
  ASSERT_TRUE(st) << st.message();
  ASSERT_NE(fwd.port(), 0);
  std::thread runner([&] { (void)fwd.run(); });
  EXPECT_FALSE(probeFrom(a_, opts("127.0.0.1", 7003, Protocol::Tcp, 300)));
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      ProbeOptions o = opts("127.0.0.1", fwd.port(), Protocol::Tcp);
      o.holdMs = 300;
      if (probeFrom(a_, o)) {
        ++ok;
      }
    });
  }
  for (auto& c : clients) {
    c.join();
  }
  EXPECT_EQ(ok.load(), 8);
  // A held connection is cut when the forwarder stops.
  ProbeOptions o = opts("127.0.0.1", fwd.port(), Protocol::Tcp, 500);
  o.holdMs = 5000;
  Status held;
  std::thread prober([&] { held = probeFrom(a_, o); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  fwd.stop();
  runner.join();
  prober.join();
  EXPECT_FALSE(held);
}

TEST_F(LabtoolNetns, ForwarderToNothingClosesTheClient) {
  Forwarder fwd;
  Status st = runInNetns(path(a_), [&] {
    return fwd.start(HostPort{"127.0.0.1", 0}, path(b_), HostPort{"127.0.0.1", 7999});
  });
  ASSERT_TRUE(st);
  std::thread runner([&] { (void)fwd.run(); });
  st = probeFrom(a_, opts("127.0.0.1", fwd.port(), Protocol::Tcp, 2000));
  EXPECT_FALSE(st);
  fwd.stop();
  runner.join();
}

} // namespace
} // namespace caracal::labtool
