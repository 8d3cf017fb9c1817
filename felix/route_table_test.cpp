#include "felix/route_table.h"

#include <gtest/gtest.h>

namespace caracal::felix {
namespace {

using netlink::Route;
using netlink::RouteType;

api::IpNet net(const char* s) { return *api::parseCidr(s); }
api::IpAddr ip(const char* s) { return *api::parseIp(s); }

Route via(const char* dst, const char* gw, int oif) {
  Route r;
  r.dst = net(dst);
  r.gateway = ip(gw);
  r.oif = oif;
  r.onlink = true;
  return r;
}

Route blackhole(const char* dst) {
  Route r;
  r.dst = net(dst);
  r.type = RouteType::Blackhole;
  return r;
}

Route foreign(const char* dst, const char* gw) {
  Route r = via(dst, gw, 2);
  r.protocol = 4; // RTPROT_STATIC
  r.onlink = false;
  return r;
}

struct Fixture {
  Fixture() {
    auto f = std::make_unique<FakeRouteDataplane>();
    fake = f.get();
    table = std::make_unique<RouteTable>(std::move(f));
  }
  FakeRouteDataplane* fake;
  std::unique_ptr<RouteTable> table;
};

std::vector<Route> sample() {
  return {via("10.244.2.0/26", "10.244.2.0", 5), via("10.244.3.0/26", "10.244.3.0", 5),
          blackhole("10.244.1.0/26")};
}

TEST(RouteTable, FirstApplyReadsBackAndWritesOneBatch) {
  Fixture f;
  ASSERT_TRUE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->dumps, 1);
  EXPECT_EQ(f.fake->sends, 1);
  EXPECT_EQ(f.fake->opsSent, 3u);
  EXPECT_EQ(f.fake->kernelSize(), 3u);
  // The same desired set again: nothing is written, nothing is read.
  ASSERT_TRUE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->sends, 1);
  EXPECT_EQ(f.fake->dumps, 1);
}

TEST(RouteTable, AppliesOnlyTheDelta) {
  Fixture f;
  ASSERT_TRUE(f.table->apply(sample()));
  auto next = sample();
  next.erase(next.begin());                              // remove 10.244.2.0/26
  next[0].gateway = ip("10.244.3.1");                    // change 10.244.3.0/26
  next.push_back(via("10.244.4.0/26", "10.244.4.0", 5)); // add
  ASSERT_TRUE(f.table->apply(next));
  EXPECT_EQ(f.fake->sends, 2);
  EXPECT_EQ(f.fake->opsSent, 3u + 3u);
  auto k = f.fake->kernelRoutes();
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0].dst, net("10.244.1.0/26"));
  EXPECT_EQ(*k[1].gateway, ip("10.244.3.1"));
  EXPECT_EQ(k[2].dst, net("10.244.4.0/26"));
  EXPECT_EQ(f.table->stats().deleted, 1u);
  EXPECT_EQ(f.table->stats().replaced, 5u);
}

TEST(RouteTable, AdoptsCorrectRoutesOnStartWithoutRewriting) {
  Fixture f;
  for (const Route& r : sample()) {
    f.fake->addByHand(r); // left by a previous run
  }
  f.fake->addByHand(via("10.244.9.0/26", "10.244.9.0", 5)); // stale, ours
  f.fake->addByHand(foreign("192.168.0.0/16", "10.0.0.254"));
  ASSERT_TRUE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->opsSent, 1u); // only the stale route is deleted
  EXPECT_EQ(f.fake->kernelSize(), 4u);
  EXPECT_EQ(f.table->stats().deleted, 1u);
  EXPECT_EQ(f.table->stats().replaced, 0u);
}

TEST(RouteTable, ResyncRepairsDriftAndLeavesForeignRoutes) {
  Fixture f;
  ASSERT_TRUE(f.table->apply(sample()));
  f.fake->addByHand(foreign("192.168.0.0/16", "10.0.0.254"));
  ASSERT_TRUE(f.fake->deleteByHand(net("10.244.2.0/26")));    // deleted by hand
  f.fake->addByHand(via("10.244.99.0/26", "10.244.99.0", 5)); // stale route of ours
  Route changed = via("10.244.3.0/26", "10.9.9.9", 5);        // ours, edited by hand
  f.fake->addByHand(changed);
  // Without a resync the record says all is well.
  ASSERT_TRUE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->sends, 1);
  ASSERT_TRUE(f.table->resync());
  EXPECT_EQ(f.fake->sends, 2);
  EXPECT_EQ(f.fake->opsSent, 3u + 3u);
  EXPECT_EQ(f.table->stats().repaired, 3u);
  auto k = f.fake->kernelRoutes();
  ASSERT_EQ(k.size(), 4u);
  EXPECT_EQ(k[0].dst, net("10.244.1.0/26"));
  EXPECT_EQ(k[1].dst, net("10.244.2.0/26"));
  EXPECT_EQ(*k[2].gateway, ip("10.244.3.0"));
  EXPECT_EQ(k[3].dst, net("192.168.0.0/16"));
  EXPECT_EQ(k[3].protocol, 4);
  // A second resync finds nothing to do.
  ASSERT_TRUE(f.table->resync());
  EXPECT_EQ(f.fake->sends, 2);
}

TEST(RouteTable, ForeignRouteWithSameDestinationSurvivesOurDelete) {
  Fixture f;
  ASSERT_TRUE(f.table->apply({via("10.244.2.0/26", "10.244.2.0", 5)}));
  // Someone replaces our route with their own (another protocol).
  f.fake->addByHand(foreign("10.244.2.0/26", "10.0.0.7"));
  ASSERT_TRUE(f.table->apply({}));
  ASSERT_TRUE(f.table->resync());
  auto k = f.fake->kernelRoutes();
  ASSERT_EQ(k.size(), 1u);
  EXPECT_EQ(k[0].protocol, 4);
}

TEST(RouteTable, ResyncBeforeFirstApplyTouchesNothing) {
  Fixture f;
  f.fake->addByHand(via("10.244.9.0/26", "10.244.9.0", 5));
  ASSERT_TRUE(f.table->resync());
  EXPECT_EQ(f.fake->dumps, 0);
  EXPECT_EQ(f.fake->kernelSize(), 1u);
}

TEST(RouteTable, FailedWritesAreRetriedAndNamed) {
  Fixture f;
  f.fake->failDestination(net("10.244.3.0/26"));
  Status st = f.table->apply(sample());
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("1 of 3 route writes failed"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("10.244.3.0/26"), std::string::npos);
  EXPECT_EQ(f.fake->kernelSize(), 2u);
  EXPECT_EQ(f.table->stats().failures, 1u);
  f.fake->clearFailures();
  ASSERT_TRUE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->kernelSize(), 3u);
  EXPECT_EQ(f.fake->sends, 2);
  EXPECT_EQ(f.fake->opsSent, 4u); // only the failed one again
}

TEST(RouteTable, DumpFailureIsReportedAndRetried) {
  Fixture f;
  f.fake->failNextDump();
  ASSERT_FALSE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->kernelSize(), 0u);
  ASSERT_TRUE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->dumps, 2);
  EXPECT_EQ(f.fake->kernelSize(), 3u);
}

TEST(RouteTable, RejectsRoutesOfOtherProtocols) {
  Fixture f;
  Status st = f.table->apply({foreign("10.0.0.0/8", "10.0.0.1")});
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_EQ(f.fake->sends, 0);
}

TEST(RouteTable, QueueResyncReadsBackOnNextApply) {
  Fixture f;
  ASSERT_TRUE(f.table->apply(sample()));
  f.fake->deleteByHand(net("10.244.2.0/26"));
  f.table->queueResync();
  ASSERT_TRUE(f.table->apply(sample()));
  EXPECT_EQ(f.fake->dumps, 2);
  EXPECT_EQ(f.fake->kernelSize(), 3u);
}

TEST(RouteNormalize, KernelReportingQuirks) {
  Route v6;
  v6.dst = net("fd00::5/128");
  v6.scope = 253;
  Route n = normalizeRoute(v6);
  EXPECT_EQ(n.priority, 1024u);
  EXPECT_EQ(n.scope, 0);
  Route bh = blackhole("fd00:1::/122");
  bh.oif = 1; // IPv6 blackholes are reported on lo
  EXPECT_EQ(normalizeRoute(bh), normalizeRoute(blackhole("fd00:1::/122")));
  Route unmasked;
  unmasked.dst = net("10.244.1.7/26");
  EXPECT_EQ(normalizeRoute(unmasked).dst, net("10.244.1.0/26"));
}

TEST(RouteTable, UnknownWorkloadRoutesGetOneReadBackOfGrace) {
  Fixture f;
  f.table->setStaleGrace([](const Route& r) { return r.oif != 0 && !r.gateway; });
  ASSERT_TRUE(f.table->apply(sample()));
  // The CNI plugin adds a pod's route just before the WorkloadEndpoint reaches us.
  Route pod;
  pod.dst = net("10.244.1.7/32");
  pod.oif = 9;
  pod.scope = 253;
  f.fake->addByHand(pod);
  Route staleTunnel = via("10.244.8.0/26", "10.244.8.0", 5); // not graced: has a gateway
  f.fake->addByHand(staleTunnel);
  ASSERT_TRUE(f.table->resync());
  EXPECT_EQ(f.fake->kernelSize(), 4u); // the pod route survives, the stale tunnel route does not
  // The endpoint arrives: adopted, nothing written.
  auto withPod = sample();
  withPod.push_back(pod);
  uint64_t ops = f.fake->opsSent;
  ASSERT_TRUE(f.table->apply(withPod));
  EXPECT_EQ(f.fake->opsSent, ops);
  // Had it never arrived, the next read-back removes it.
  ASSERT_TRUE(f.table->apply(sample())); // the endpoint goes away again: deleted at once
  EXPECT_EQ(f.fake->kernelSize(), 3u);
  f.fake->addByHand(pod);
  ASSERT_TRUE(f.table->resync());
  EXPECT_EQ(f.fake->kernelSize(), 4u);
  ASSERT_TRUE(f.table->resync());
  EXPECT_EQ(f.fake->kernelSize(), 3u);
}

TEST(RouteTable, IdempotentAtScale) {
  Fixture f;
  std::vector<Route> many;
  for (int i = 0; i < 20000; ++i) {
    Route r;
    r.dst.addr = ip("10.0.0.0");
    r.dst.addr.bytes[1] = static_cast<uint8_t>(i >> 8);
    r.dst.addr.bytes[2] = static_cast<uint8_t>(i & 0xff);
    r.dst.prefix = 26;
    r.gateway = ip("192.168.0.1");
    r.oif = 3;
    r.onlink = true;
    many.push_back(r);
  }
  ASSERT_TRUE(f.table->apply(many));
  EXPECT_EQ(f.fake->sends, 1);
  EXPECT_EQ(f.fake->kernelSize(), 20000u);
  ASSERT_TRUE(f.table->resync());
  EXPECT_EQ(f.fake->sends, 1);
  EXPECT_EQ(f.table->size(), 20000u);
}

} // namespace
} // namespace caracal::felix
