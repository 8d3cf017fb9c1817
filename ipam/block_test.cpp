#include "api/registry.h"
#include "ipam/block.h"
#include "ipam/ipam.h"

#include <gtest/gtest.h>

namespace caracal::ipam {
namespace {

using detail::Attribute;
using detail::Block;

IpNet net(const char* s) { return *api::parseCidr(s); }
IpAddr ip(const char* s) { return *api::parseIp(s); }

TEST(IpamNaming, FollowsCalicosKubernetesDatastore) {
  EXPECT_EQ(blockName(net("10.244.1.0/26")), "10-244-1-0-26");
  EXPECT_EQ(blockName(net("fd00::1:0/122")), "fd00--1-0-122");
  EXPECT_EQ(affinityName("node-1", net("10.244.1.64/26")), "node-1-10-244-1-64-26");
  EXPECT_EQ(handleName("K8s-Pod-Network.ABC"), "k8s-pod-network.abc");
  EXPECT_EQ(podHandle("abc123"), "k8s-pod-network.abc123");
  EXPECT_EQ(vxlanTunnelHandle("n1"), "vxlan-tunnel-addr-n1");
  EXPECT_EQ(ipipTunnelHandle("n1"), "ipip-tunnel-addr-n1");
}

TEST(IpamAddressMath, OrdinalsAndSizes) {
  EXPECT_EQ(detail::u128String(detail::netSize(net("10.0.0.0/26"))), "64");
  EXPECT_EQ(detail::u128String(detail::netSize(net("fd00::/64"))), "18446744073709551616");
  EXPECT_EQ(detail::clampU64(detail::netSize(net("fd00::/48"))), UINT64_MAX);
  EXPECT_EQ(detail::blockOf(ip("10.1.2.77"), 26).str(), "10.1.2.64/26");
  EXPECT_EQ(detail::blockOf(ip("fd00::1:ff"), 122).str(), "fd00::1:c0/122");
  EXPECT_TRUE(detail::addrLess(ip("10.0.0.9"), ip("10.0.0.10")));
  EXPECT_TRUE(detail::addrLess(ip("10.0.0.9"), ip("::1")));
  Block b = Block::fresh(net("10.0.0.0/30"), "");
  EXPECT_EQ(b.size(), 4u);
  EXPECT_EQ(b.addressAt(3).str(), "10.0.0.3");
  EXPECT_EQ(*b.ordinalOf(ip("10.0.0.2")), 2u);
  EXPECT_FALSE(b.ordinalOf(ip("10.0.0.4")));
}

TEST(IpamBlockModel, HandsOutLowestFirstAndReusesReleasedLast) {
  Block b = Block::fresh(net("10.0.0.0/30"), "host:n1");
  Attribute a{"h1", {{"pod", "p"}}};
  auto free = b.pickFree(2, nullptr);
  ASSERT_EQ(free, (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(b.allocate(0, a));
  EXPECT_FALSE(b.allocate(0, a)); // taken
  EXPECT_TRUE(b.allocate(1, a));
  EXPECT_EQ(b.inUse(), 2u);
  ASSERT_TRUE(b.release(0));
  EXPECT_FALSE(b.release(0)); // double release
  EXPECT_EQ(b.pickFree(3, nullptr), (std::vector<size_t>{2, 3, 0}));
  // `skip` refuses ordinals (reservations).
  EXPECT_EQ(b.pickFree(3, [](size_t o) { return o == 2; }), (std::vector<size_t>{3, 0}));
}

TEST(IpamBlockModel, AttributesAreSharedAndCompacted) {
  Block b = Block::fresh(net("10.0.0.0/29"), "");
  Attribute a{"h1", {{"pod", "a"}}};
  Attribute c{"h2", {{"pod", "c"}}};
  b.allocate(0, a);
  b.allocate(1, a);
  b.allocate(2, c);
  Value obj = b.toObject();
  EXPECT_EQ(obj.path("spec.attributes")->size(), 2u);
  EXPECT_EQ(obj.path("spec.allocations")->asArray()[1].asInt(), 0);
  EXPECT_EQ(obj.path("spec.allocations")->asArray()[2].asInt(), 1);
  EXPECT_TRUE(obj.path("spec.allocations")->asArray()[3].isNull());
  EXPECT_EQ(b.releaseHandle("h1"), 2u);
  obj = b.toObject();
  ASSERT_EQ(obj.path("spec.attributes")->size(), 1u);
  EXPECT_EQ(obj.path("spec.attributes")->asArray()[0].getString("handle_id"), "h2");
  EXPECT_EQ(obj.path("spec.allocations")->asArray()[2].asInt(), 0);
  EXPECT_EQ(b.countForHandle("h2"), 1u);
}

TEST(IpamBlockModel, RoundTripsAndValidatesAgainstTheSchema) {
  Block b = Block::fresh(net("fd00::/122"), "host:node-1");
  b.allocate(5, Attribute{"h", {{"namespace", "ns"}, {"pod", "p"}, {"node", "node-1"}}});
  Value obj = b.toObject();
  obj["metadata"].set("name", blockName(b.cidr()));
  Value checked = obj;
  Status st = api::normalize(*api::findByKind("projectcalico.org/v3", "IPAMBlock"), checked);
  EXPECT_TRUE(st.isOk()) << st.str();
  auto back = Block::fromObject(obj);
  ASSERT_TRUE(back) << back.error().str();
  EXPECT_EQ(back->toObject(), obj);
  EXPECT_EQ(back->allocationAt(5)->secondary.at("pod"), "p");
}

TEST(IpamBlockModel, RefusesInconsistentObjects) {
  Value obj = Block::fresh(net("10.0.0.0/30"), "").toObject();
  obj["spec"]["allocations"].push(Value());
  EXPECT_EQ(Block::fromObject(obj).code(), Code::Invalid);
  obj = Block::fresh(net("10.0.0.0/30"), "").toObject();
  obj["spec"]["allocations"].mutableArray()[0] = Value(3);
  EXPECT_EQ(Block::fromObject(obj).code(), Code::Invalid);
  obj = Block::fresh(net("10.0.0.0/30"), "").toObject();
  obj["spec"].set("cidr", "10.0.0.1/30");
  EXPECT_EQ(Block::fromObject(obj).code(), Code::Invalid);
}

TEST(IpamBlockModel, FreeOrdinalsMissingFromUnallocatedAreStillUsable) {
  Value obj = Block::fresh(net("10.0.0.0/30"), "").toObject();
  obj["spec"].set("unallocated", Value(Value::Array{Value(2), Value(2)}));
  auto b = Block::fromObject(obj);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->pickFree(4, nullptr), (std::vector<size_t>{2, 0, 1, 3}));
}

} // namespace
} // namespace caracal::ipam
