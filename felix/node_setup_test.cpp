#include "felix/node_setup.h"
#include "felix/route_calc.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace caracal::felix {
namespace {

api::IpNet net(const char* s) { return *api::parseCidr(s); }

Value pool(const std::string& name, const std::string& cidr, const std::string& ipip,
           const std::string& vxlan, bool disabled = false) {
  Value p = Value::object();
  p["apiVersion"] = "projectcalico.org/v3";
  p["kind"] = "IPPool";
  p["metadata"]["name"] = name;
  p["spec"]["cidr"] = cidr;
  p["spec"]["ipipMode"] = ipip;
  p["spec"]["vxlanMode"] = vxlan;
  p["spec"]["disabled"] = disabled;
  return p;
}

// Fails the first `n` updates with Conflict after letting a concurrent writer change the object.
class RacyStore : public ipam::Store {
public:
  explicit RacyStore(ipam::Store& inner) : inner_(inner) {}
  Result<Value> get(const api::KindInfo& k, std::string_view ns, std::string_view n) override {
    return inner_.get(k, ns, n);
  }
  Result<std::vector<Value>> list(const api::KindInfo& k, std::string_view ns) override {
    return inner_.list(k, ns);
  }
  Result<Value> create(const api::KindInfo& k, const Value& o) override {
    return inner_.create(k, o);
  }
  Result<Value> update(const api::KindInfo& k, const Value& o) override {
    if (conflicts_ > 0 && &k == &calicoNodeKind()) {
      --conflicts_;
      // Someone else labels the node meanwhile.
      Value cur = *inner_.get(k, "", o.getString("metadata.name"));
      cur["metadata"]["labels"]["rack"] = "r" + std::to_string(conflicts_);
      EXPECT_TRUE(inner_.update(k, cur));
      return Status(Code::Conflict, "the object has been modified");
    }
    return inner_.update(k, o);
  }
  Status remove(const api::KindInfo& k, std::string_view ns, std::string_view n,
                std::string_view rv) override {
    return inner_.remove(k, ns, n, rv);
  }
  int conflicts_ = 0;

private:
  ipam::Store& inner_;
};

class NodeSetupTest : public ::testing::Test {
protected:
  NodeSetupTest() : store_(ipam::makeMemoryStore()), ipam_(*store_) {}

  void addPool(const Value& p) { ASSERT_TRUE(store_->create(ipPoolKind(), p)); }
  TunnelNeeds needs() { return tunnelNeedsFromPools(*store_->list(ipPoolKind(), "")); }
  Value node(const std::string& name = "node1") { return *store_->get(calicoNodeKind(), "", name); }

  std::unique_ptr<ipam::Store> store_;
  ipam::Ipam ipam_;
};

TEST_F(NodeSetupTest, RegisterCreatesThenUpdatesKeepingOtherFields) {
  auto created = registerNode(*store_, "node1", net("10.0.0.5/24"));
  ASSERT_TRUE(created) << created.error().message();
  Value n = node();
  EXPECT_EQ(n.getString("spec.bgp.ipv4Address"), "10.0.0.5/24");
  ASSERT_NE(n.path("spec.orchRefs"), nullptr);
  EXPECT_EQ(n.path("spec.orchRefs")->asArray()[0].getString("nodeName"), "node1");
  EXPECT_EQ(n.path("spec.orchRefs")->asArray()[0].getString("orchestrator"), "k8s");
  std::string rv = n.getString("metadata.resourceVersion");

  // Unchanged: no write.
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  EXPECT_EQ(node().getString("metadata.resourceVersion"), rv);

  // Someone sets an ASN and a label; a new address keeps them.
  n["spec"]["bgp"]["asNumber"] = 64600;
  n["metadata"]["labels"]["route-reflector"] = "true";
  ASSERT_TRUE(store_->update(calicoNodeKind(), n));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.1.5/16")));
  n = node();
  EXPECT_EQ(n.getString("spec.bgp.ipv4Address"), "10.0.1.5/16");
  EXPECT_EQ(n.path("spec.bgp.asNumber")->asInt(), 64600);
  EXPECT_EQ(n.getString("metadata.labels.route-reflector"), "true");
  EXPECT_EQ(n.path("spec.orchRefs")->size(), 1u);
}

TEST_F(NodeSetupTest, RegisterRetriesOnConflictWithoutLosingTheOtherWrite) {
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  RacyStore racy(*store_);
  racy.conflicts_ = 2;
  ASSERT_TRUE(registerNode(racy, "node1", net("10.0.0.6/24")));
  Value n = node();
  EXPECT_EQ(n.getString("spec.bgp.ipv4Address"), "10.0.0.6/24");
  EXPECT_EQ(n.getString("metadata.labels.rack"), "r0");
}

TEST(TunnelNeeds, FromPools) {
  TunnelNeeds n = tunnelNeedsFromPools({pool("a", "10.244.0.0/16", "Never", "Always"),
                                        pool("b", "10.245.0.0/16", "CrossSubnet", "Never"),
                                        pool("c", "10.246.0.0/16", "Always", "Never", true),
                                        pool("d", "fd00::/64", "Never", "Never"),
                                        pool("e", "10.247.0.0/16", "Never", "Never")});
  EXPECT_TRUE(n.vxlan);
  EXPECT_TRUE(n.ipip);
  EXPECT_EQ(n.vxlanPools, std::vector<std::string>{"a"});
  EXPECT_EQ(n.ipipPools, std::vector<std::string>{"b"}); // c is disabled
  EXPECT_EQ(n.vxlanCidrs, std::vector<api::IpNet>{net("10.244.0.0/16")});
  EXPECT_FALSE(tunnelNeedsFromPools({pool("e", "10.247.0.0/16", "Never", "Never")}).vxlan);
}

TEST_F(NodeSetupTest, VxlanAddressAllocatedOnceWithDerivedMac) {
  addPool(pool("vx", "10.244.0.0/16", "Never", "Always"));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  auto r = ensureTunnelAddresses(*store_, ipam_, "node1", needs());
  ASSERT_TRUE(r) << r.error().message();
  Value n = node();
  std::string addr = n.getString("spec.ipv4VXLANTunnelAddr");
  ASSERT_FALSE(addr.empty());
  EXPECT_TRUE(net("10.244.0.0/16").contains(*api::parseIp(addr)));
  EXPECT_EQ(n.getString("spec.vxlanTunnelMACAddr"), netlink::macStr(vtepMacForNode("node1")));
  auto held = ipam_.ipsByHandle("vxlan-tunnel-addr-node1");
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].str(), addr);
  auto lookup = ipam_.lookup(*api::parseIp(addr));
  ASSERT_TRUE(lookup);
  EXPECT_EQ(lookup->blockAffinity, "host:node1");

  // Idempotent: the same address, no new allocation, no Node write.
  std::string rv = n.getString("metadata.resourceVersion");
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  EXPECT_EQ(node().getString("metadata.resourceVersion"), rv);
  auto usage = ipam_.usage();
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->pools[0].inUse, 1u);
}

TEST_F(NodeSetupTest, ConfiguredMacIsKept) {
  addPool(pool("vx", "10.244.0.0/16", "Never", "Always"));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  Value n = node();
  n["spec"]["vxlanTunnelMACAddr"] = "aa:bb:cc:00:11:22";
  ASSERT_TRUE(store_->update(calicoNodeKind(), n));
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  EXPECT_EQ(node().getString("spec.vxlanTunnelMACAddr"), "aa:bb:cc:00:11:22");
}

TEST_F(NodeSetupTest, SwitchingFromVxlanToIpipReleasesAndReallocates) {
  addPool(pool("p", "10.244.0.0/16", "Never", "Always"));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  std::string vx = node().getString("spec.ipv4VXLANTunnelAddr");
  ASSERT_FALSE(vx.empty());

  Value p = *store_->get(ipPoolKind(), "", "p");
  p["spec"]["vxlanMode"] = "Never";
  p["spec"]["ipipMode"] = "Always";
  ASSERT_TRUE(store_->update(ipPoolKind(), p));
  auto r = ensureTunnelAddresses(*store_, ipam_, "node1", needs());
  ASSERT_TRUE(r) << r.error().message();
  Value n = node();
  EXPECT_EQ(n.getString("spec.ipv4VXLANTunnelAddr"), "");
  EXPECT_EQ(n.getString("spec.vxlanTunnelMACAddr"), "");
  EXPECT_FALSE(n.getString("spec.bgp.ipv4IPIPTunnelAddr").empty());
  auto vxHeld = ipam_.ipsByHandle("vxlan-tunnel-addr-node1");
  EXPECT_TRUE(!vxHeld || vxHeld->empty());
  auto ipHeld = ipam_.ipsByHandle("ipip-tunnel-addr-node1");
  ASSERT_TRUE(ipHeld);
  EXPECT_EQ(ipHeld->size(), 1u);

  // No encapsulation at all: everything released.
  p = *store_->get(ipPoolKind(), "", "p");
  p["spec"]["ipipMode"] = "Never";
  ASSERT_TRUE(store_->update(ipPoolKind(), p));
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  EXPECT_EQ(node().getString("spec.bgp.ipv4IPIPTunnelAddr"), "");
  EXPECT_EQ(ipam_.usage()->pools[0].inUse, 0u);
}

TEST_F(NodeSetupTest, RecordedButUnallocatedAddressIsClaimedAgain) {
  addPool(pool("vx", "10.244.0.0/16", "Never", "Always"));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  Value n = node();
  n["spec"]["ipv4VXLANTunnelAddr"] = "10.244.7.7"; // e.g. a Node restored from a backup
  ASSERT_TRUE(store_->update(calicoNodeKind(), n));
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  EXPECT_EQ(node().getString("spec.ipv4VXLANTunnelAddr"), "10.244.7.7");
  auto held = ipam_.ipsByHandle("vxlan-tunnel-addr-node1");
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].str(), "10.244.7.7");
}

TEST_F(NodeSetupTest, ClaimingTheRecordedAddressReleasesOtherHandleAddresses) {
  // The handle holds an address whose Node write was lost, while the Node records another one
  // that is no longer allocated (e.g. restored from a backup).
  addPool(pool("vx", "10.244.0.0/16", "Never", "Always"));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  ipam::AssignArgs args;
  args.handle = "vxlan-tunnel-addr-node1";
  args.node = "node1";
  args.use = "Tunnel";
  auto stray = ipam_.autoAssign(args);
  ASSERT_TRUE(stray);
  ASSERT_EQ(stray->size(), 1u);
  Value n = node();
  n["spec"]["ipv4VXLANTunnelAddr"] = "10.244.7.7";
  ASSERT_TRUE(store_->update(calicoNodeKind(), n));

  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  EXPECT_EQ(node().getString("spec.ipv4VXLANTunnelAddr"), "10.244.7.7");
  auto held = ipam_.ipsByHandle("vxlan-tunnel-addr-node1");
  ASSERT_TRUE(held);
  EXPECT_EQ(*held, std::vector<api::IpAddr>{*api::parseIp("10.244.7.7")});
  EXPECT_EQ(ipam_.lookup((*stray)[0].addr).code(), Code::NotFound);
  EXPECT_EQ(ipam_.usage()->pools[0].inUse, 1u);

  // Also when the recorded address is already held next to a stray one.
  auto stray2 = ipam_.autoAssign(args);
  ASSERT_TRUE(stray2);
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  held = ipam_.ipsByHandle("vxlan-tunnel-addr-node1");
  ASSERT_TRUE(held);
  EXPECT_EQ(*held, std::vector<api::IpAddr>{*api::parseIp("10.244.7.7")});
  EXPECT_EQ(ipam_.usage()->pools[0].inUse, 1u);
}

TEST_F(NodeSetupTest, AddressOutsideTheVxlanPoolsIsReplaced) {
  addPool(pool("vx", "10.244.0.0/16", "Never", "Always"));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  Value n = node();
  n["spec"]["ipv4VXLANTunnelAddr"] = "192.168.1.1";
  ASSERT_TRUE(store_->update(calicoNodeKind(), n));
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  std::string addr = node().getString("spec.ipv4VXLANTunnelAddr");
  EXPECT_TRUE(net("10.244.0.0/16").contains(*api::parseIp(addr))) << addr;
}

TEST_F(NodeSetupTest, AllocationSurvivesALostNodeWrite) {
  // An earlier run allocated under the handle but died before recording it on the Node.
  addPool(pool("vx", "10.244.0.0/16", "Never", "Always"));
  ASSERT_TRUE(registerNode(*store_, "node1", net("10.0.0.5/24")));
  ipam::AssignArgs args;
  args.handle = "vxlan-tunnel-addr-node1";
  args.node = "node1";
  args.use = "Tunnel";
  auto got = ipam_.autoAssign(args);
  ASSERT_TRUE(got);
  ASSERT_TRUE(ensureTunnelAddresses(*store_, ipam_, "node1", needs()));
  EXPECT_EQ(node().getString("spec.ipv4VXLANTunnelAddr"), (*got)[0].addr.str());
  EXPECT_EQ(ipam_.usage()->pools[0].inUse, 1u);
}

TEST(MtuFile, WritesOnlyOnChange) {
  std::string dir = "/tmp/felix-mtu-" + std::to_string(::getpid());
  std::string path = dir + "/sub/mtu";
  ASSERT_TRUE(writeMtuFile(path, 1450));
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "1450\n");
  auto ino = [&] {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_ino;
  };
  auto before = ino();
  ASSERT_TRUE(writeMtuFile(path, 1450));
  EXPECT_EQ(ino(), before); // not rewritten
  ASSERT_TRUE(writeMtuFile(path, 1480));
  std::ifstream in2(path);
  std::string text2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text2, "1480\n");
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace caracal::felix
