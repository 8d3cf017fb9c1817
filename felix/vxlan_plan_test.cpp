#include "felix/vxlan_manager.h"

#include <algorithm>
#include <gtest/gtest.h>

namespace caracal::felix {
namespace {

IpNet net(const char* s) { return *api::parseCidr(s); }
IpAddr ip(const char* s) { return *api::parseIp(s); }

VxlanDeviceConfig config() {
  VxlanDeviceConfig c;
  c.local = ip("10.0.0.1");
  c.parent = "eth0";
  c.mac = {0x66, 1, 2, 3, 4, 5};
  c.mtu = 1450;
  c.address = net("10.244.1.0/32");
  return c;
}

netlink::Link matchingLink() {
  netlink::Link l;
  l.index = 7;
  l.name = "vxlan.calico";
  l.kind = "vxlan";
  l.mac = {0x66, 1, 2, 3, 4, 5};
  l.mtu = 1450;
  l.up = true;
  l.vxlanId = 4096;
  l.vxlanPort = 4789;
  l.vxlanLocal = ip("10.0.0.1");
  l.vxlanParentIndex = 2;
  return l;
}

std::vector<VxlanPeer> peers() {
  return {VxlanPeer{"node2", ip("10.244.2.0"), {0x66, 2, 2, 2, 2, 2}, ip("10.0.0.2")},
          VxlanPeer{"node3", ip("10.244.3.0"), {0x66, 3, 3, 3, 3, 3}, ip("10.0.0.3")}};
}

VxlanKernelState converged() {
  VxlanKernelState s;
  s.link = matchingLink();
  s.addresses = {net("10.244.1.0/32")};
  for (const VxlanPeer& p : peers()) {
    s.neighbors.push_back(netlink::Neighbor{7, p.vtepIp, p.vtepMac, 0x80});
    s.fdb.push_back(netlink::FdbEntry{7, p.vtepMac, p.nodeIp});
  }
  return s;
}

TEST(VxlanPlan, CreatesEverythingFromNothing) {
  VxlanPlan p = planVxlan(config(), 2, peers(), VxlanKernelState{}, VxlanPhase::Ensure);
  EXPECT_TRUE(p.createLink);
  EXPECT_FALSE(p.deleteLink);
  EXPECT_TRUE(p.setUp);
  EXPECT_EQ(p.addAddresses, (std::vector<IpNet>{net("10.244.1.0/32")}));
  EXPECT_EQ(p.replaceNeighbors.size(), 2u);
  EXPECT_EQ(p.replaceFdb.size(), 2u);
  EXPECT_EQ(p.replaceFdb[1].dst, ip("10.0.0.3"));
  EXPECT_EQ(p.replaceNeighbors[0].state, 0x80);
}

TEST(VxlanPlan, ConvergedStateNeedsNothing) {
  EXPECT_TRUE(planVxlan(config(), 2, peers(), converged(), VxlanPhase::Ensure).empty());
  EXPECT_TRUE(planVxlan(config(), 2, peers(), converged(), VxlanPhase::Prune).empty());
}

TEST(VxlanPlan, ParameterMismatchRecreates) {
  for (int which = 0; which < 5; ++which) {
    VxlanKernelState s = converged();
    switch (which) {
    case 0:
      s.link->vxlanId = 1;
      break;
    case 1:
      s.link->vxlanPort = 8472;
      break;
    case 2:
      s.link->vxlanLocal = ip("10.0.0.99");
      break;
    case 3:
      s.link->vxlanLearning = true;
      break;
    case 4:
      s.link->vxlanParentIndex = 3;
      break;
    }
    VxlanPlan p = planVxlan(config(), 2, peers(), s, VxlanPhase::Ensure);
    EXPECT_TRUE(p.deleteLink) << which;
    EXPECT_TRUE(p.createLink) << which;
    // Everything is added afresh on the new device.
    EXPECT_EQ(p.replaceNeighbors.size(), 2u) << which;
    EXPECT_EQ(p.replaceFdb.size(), 2u) << which;
    EXPECT_TRUE(p.deleteAddresses.empty());
    // Pruning never deletes the device.
    EXPECT_FALSE(planVxlan(config(), 2, peers(), s, VxlanPhase::Prune).deleteLink) << which;
  }
  VxlanKernelState wrongKind = converged();
  wrongKind.link->kind = "bridge";
  EXPECT_TRUE(planVxlan(config(), 2, peers(), wrongKind, VxlanPhase::Ensure).deleteLink);
}

TEST(VxlanPlan, MacMtuAndStateAreFixedInPlace) {
  VxlanKernelState s = converged();
  s.link->mac = {1, 1, 1, 1, 1, 1};
  s.link->mtu = 1500;
  s.link->up = false;
  VxlanPlan p = planVxlan(config(), 2, peers(), s, VxlanPhase::Ensure);
  EXPECT_FALSE(p.deleteLink);
  EXPECT_FALSE(p.createLink);
  ASSERT_TRUE(p.setMac);
  EXPECT_EQ(*p.setMac, config().mac);
  EXPECT_EQ(p.setMtu, 1450u);
  EXPECT_TRUE(p.setUp);
}

TEST(VxlanPlan, AddressBecomesExactlyTheTunnelAddress) {
  VxlanKernelState s = converged();
  s.addresses = {net("10.9.9.9/24")};
  VxlanPlan p = planVxlan(config(), 2, peers(), s, VxlanPhase::Ensure);
  EXPECT_EQ(p.addAddresses, (std::vector<IpNet>{net("10.244.1.0/32")}));
  EXPECT_EQ(p.deleteAddresses, (std::vector<IpNet>{net("10.9.9.9/24")}));
  // Before allocation: no address at all.
  VxlanDeviceConfig noAddr = config();
  noAddr.address.reset();
  p = planVxlan(noAddr, 2, peers(), converged(), VxlanPhase::Ensure);
  EXPECT_TRUE(p.addAddresses.empty());
  EXPECT_EQ(p.deleteAddresses.size(), 1u);
}

TEST(VxlanPlan, CorrectsChangedPeerAndPrunesStaleOnes) {
  VxlanKernelState s = converged();
  // node2 moved to another underlay address and got a new MAC; a stale peer is left over; the
  // kernel keeps a failed resolution attempt of its own.
  std::vector<VxlanPeer> want = peers();
  want[0].nodeIp = ip("10.0.0.22");
  want[0].vtepMac = {0x66, 9, 9, 9, 9, 9};
  s.neighbors.push_back(netlink::Neighbor{7, ip("10.244.9.0"), {0x66, 9, 0, 0, 0, 9}, 0x80});
  s.neighbors.push_back(netlink::Neighbor{7, ip("10.244.8.0"), {}, 0x20 /* NUD_FAILED */});
  s.fdb.push_back(netlink::FdbEntry{7, {0x66, 9, 0, 0, 0, 9}, ip("10.0.0.9")});
  s.fdb.push_back(netlink::FdbEntry{7, {0x66, 5, 5, 5, 5, 5}, IpAddr{}}); // no dst: not ours

  VxlanPlan ensure = planVxlan(config(), 2, want, s, VxlanPhase::Ensure);
  ASSERT_EQ(ensure.replaceNeighbors.size(), 1u);
  EXPECT_EQ(ensure.replaceNeighbors[0].mac, want[0].vtepMac);
  ASSERT_EQ(ensure.replaceFdb.size(), 1u);
  EXPECT_EQ(ensure.replaceFdb[0].dst, ip("10.0.0.22"));
  EXPECT_TRUE(ensure.deleteNeighbors.empty());
  EXPECT_TRUE(ensure.deleteFdb.empty());

  VxlanPlan prune = planVxlan(config(), 2, want, s, VxlanPhase::Prune);
  ASSERT_EQ(prune.deleteNeighbors.size(), 1u);
  EXPECT_EQ(prune.deleteNeighbors[0].ip, ip("10.244.9.0"));
  ASSERT_EQ(prune.deleteFdb.size(), 2u); // node2's old entry and the stale peer's
  EXPECT_TRUE(prune.replaceNeighbors.empty());
  EXPECT_TRUE(prune.replaceFdb.empty());
}

// Applies FDB operations as the kernel's vxlan driver does for a unicast MAC: append adds
// nothing when the MAC already has an entry, replace moves the MAC's entry to the new dst.
void applyFdb(const VxlanPlan& p, VxlanKernelState& s) {
  for (const netlink::FdbEntry& f : p.replaceFdb) {
    auto it = std::find_if(s.fdb.begin(), s.fdb.end(),
                           [&](const netlink::FdbEntry& e) { return e.mac == f.mac; });
    if (it == s.fdb.end()) {
      s.fdb.push_back(netlink::FdbEntry{7, f.mac, f.dst});
    } else {
      it->dst = f.dst;
    }
  }
  for (const netlink::FdbEntry& f : p.deleteFdb) {
    std::erase_if(s.fdb,
                  [&](const netlink::FdbEntry& e) { return e.mac == f.mac && e.dst == f.dst; });
  }
}

TEST(VxlanPlan, NodeIpChangeWithTheSameMacKeepsTheFdbEntry) {
  VxlanKernelState s = converged();
  std::vector<VxlanPeer> want = peers();
  want[0].nodeIp = ip("10.0.0.22"); // same VTEP MAC, new underlay address

  VxlanPlan ensure = planVxlan(config(), 2, want, s, VxlanPhase::Ensure);
  ASSERT_EQ(ensure.replaceFdb.size(), 1u);
  EXPECT_EQ(ensure.replaceFdb[0].mac, want[0].vtepMac);
  EXPECT_EQ(ensure.replaceFdb[0].dst, ip("10.0.0.22"));
  EXPECT_TRUE(ensure.replaceNeighbors.empty());
  applyFdb(ensure, s);

  VxlanPlan prune = planVxlan(config(), 2, want, s, VxlanPhase::Prune);
  applyFdb(prune, s);
  EXPECT_NE(
      std::find(s.fdb.begin(), s.fdb.end(), netlink::FdbEntry{7, want[0].vtepMac, ip("10.0.0.22")}),
      s.fdb.end());
  EXPECT_EQ(s.fdb.size(), 2u);
  EXPECT_TRUE(planVxlan(config(), 2, want, s, VxlanPhase::Ensure).empty());
  EXPECT_TRUE(planVxlan(config(), 2, want, s, VxlanPhase::Prune).empty());
}

TEST(VxlanPlan, NotWantedDeletesTheDevice) {
  EXPECT_TRUE(planVxlan(std::nullopt, 0, {}, converged(), VxlanPhase::Ensure).deleteLink);
  EXPECT_TRUE(planVxlan(std::nullopt, 0, {}, VxlanKernelState{}, VxlanPhase::Ensure).empty());
}

TEST(VxlanPlan, UnknownParentIsNotCompared) {
  EXPECT_TRUE(planVxlan(config(), 0, peers(), converged(), VxlanPhase::Ensure).empty());
}

} // namespace
} // namespace caracal::felix
