#include "api/registry.h"
#include "ipam/ipam.h"

#include <atomic>
#include <functional>
#include <gtest/gtest.h>
#include <set>
#include <thread>

namespace caracal::ipam {
namespace {

const api::KindInfo& kind(const char* k, const char* apiVersion = "projectcalico.org/v3") {
  return *api::findByKind(apiVersion, k);
}

IpAddr ip(const std::string& s) { return *api::parseIp(s); }

std::vector<std::string> strs(const std::vector<IpNet>& nets) {
  std::vector<std::string> out;
  for (const auto& n : nets) {
    out.push_back(n.str());
  }
  return out;
}

// A Store that forwards to another and fails chosen writes, to check ordering and retries.
class FaultyStore : public Store {
public:
  explicit FaultyStore(Store& inner) : inner_(inner) {}
  // The next `times` updates of `kindName` fail with `code`.
  void failUpdates(std::string kindName, Code code, int times) {
    failKind_ = std::move(kindName);
    failCode_ = code;
    failTimes_ = times;
  }
  int updates(const std::string& kindName) const {
    auto it = updates_.find(kindName);
    return it == updates_.end() ? 0 : it->second;
  }

  Result<Value> get(const api::KindInfo& k, std::string_view ns, std::string_view name) override {
    return inner_.get(k, ns, name);
  }
  Result<std::vector<Value>> list(const api::KindInfo& k, std::string_view ns) override {
    return inner_.list(k, ns);
  }
  Result<Value> create(const api::KindInfo& k, const Value& obj) override {
    return inner_.create(k, obj);
  }
  // Runs `fn` once, just before the next update of `kindName` reaches the inner store.
  void beforeUpdate(std::string kindName, std::function<void()> fn) {
    hookKind_ = std::move(kindName);
    hook_ = std::move(fn);
  }

  Result<Value> update(const api::KindInfo& k, const Value& obj) override {
    ++updates_[k.kind];
    if (k.kind == hookKind_ && hook_) {
      auto fn = std::move(hook_);
      hook_ = nullptr;
      fn();
    }
    if (k.kind == failKind_ && failTimes_ > 0) {
      --failTimes_;
      return Status(failCode_, "injected failure");
    }
    return inner_.update(k, obj);
  }
  Status remove(const api::KindInfo& k, std::string_view ns, std::string_view name,
                std::string_view rv) override {
    return inner_.remove(k, ns, name, rv);
  }

private:
  Store& inner_;
  std::string failKind_;
  Code failCode_ = Code::Ok;
  int failTimes_ = 0;
  std::string hookKind_;
  std::function<void()> hook_;
  std::map<std::string, int> updates_;
};

class IpamTest : public ::testing::Test {
protected:
  IpamTest() : store_(makeMemoryStore()), ipam_(*store_) {}

  void addPool(const std::string& name, const std::string& cidr,
               const std::string& extraYaml = "") {
    auto obj =
        parseYaml("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: " + name +
                  "\nspec:\n  cidr: " + cidr + "\n" + extraYaml);
    ASSERT_TRUE(obj) << obj.error().str();
    auto r = store_->create(kind("IPPool"), *obj);
    ASSERT_TRUE(r) << r.error().str();
  }
  void setConfig(bool strict, int maxBlocks) {
    Value obj = *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\n"
                           "metadata: {name: default}\nspec: {}\n");
    obj["spec"].set("strictAffinity", strict);
    obj["spec"].set("maxBlocksPerHost", maxBlocks);
    ASSERT_TRUE(store_->create(kind("IPAMConfiguration"), obj));
  }
  void reserve(const std::vector<std::string>& cidrs) {
    Value obj = *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPReservation\n"
                           "metadata: {name: r1}\nspec: {}\n");
    Value list = Value::array();
    for (const auto& c : cidrs) {
      list.push(c);
    }
    obj["spec"].set("reservedCIDRs", list);
    auto r = store_->create(kind("IPReservation"), obj);
    ASSERT_TRUE(r) << r.error().str();
  }

  AssignArgs args(const std::string& handle, const std::string& node = "node1", int n4 = 1,
                  int n6 = 0) {
    AssignArgs a;
    a.handle = handle;
    a.node = node;
    a.num4 = n4;
    a.num6 = n6;
    a.attrs = {{"namespace", "default"}, {"pod", handle}, {"node", node}};
    return a;
  }
  // Allocates one IPv4 address; "" on failure.
  std::string one(const std::string& handle, const std::string& node = "node1") {
    auto r = ipam_.autoAssign(args(handle, node));
    if (!r) {
      ADD_FAILURE() << r.error().str();
      return "";
    }
    EXPECT_EQ(r->size(), 1u);
    return r->empty() ? "" : r->front().addr.str();
  }

  std::optional<Value> get(const char* k, const std::string& name) {
    auto r = store_->get(kind(k), "", name);
    if (!r) {
      return std::nullopt;
    }
    return *r;
  }
  size_t count(const char* k) { return store_->list(kind(k))->size(); }

  void expectClean() {
    auto rep = ipam_.check();
    ASSERT_TRUE(rep) << rep.error().str();
    for (const auto& p : rep->problems) {
      ADD_FAILURE() << problemKindName(p.kind) << ": " << p.detail;
    }
  }

  std::unique_ptr<Store> store_;
  Ipam ipam_;
};

// ---- carving and affinity ----

TEST_F(IpamTest, FirstAllocationClaimsTheFirstBlockForTheNode) {
  addPool("pool1", "10.244.0.0/16");
  auto r = ipam_.autoAssign(args("h1"));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.244.0.0/32"});

  auto block = get("IPAMBlock", "10-244-0-0-26");
  ASSERT_TRUE(block);
  EXPECT_EQ(block->getString("spec.cidr"), "10.244.0.0/26");
  EXPECT_EQ(block->getString("spec.affinity"), "host:node1");
  EXPECT_EQ(block->path("spec.allocations")->size(), 64u);
  EXPECT_EQ(block->path("spec.unallocated")->size(), 63u);
  const Value& attr = block->path("spec.attributes")->asArray()[0];
  EXPECT_EQ(attr.getString("handle_id"), "h1");
  EXPECT_EQ(attr.getString("secondary.pod"), "h1");
  EXPECT_EQ(attr.getString("secondary.namespace"), "default");
  EXPECT_EQ(attr.getString("secondary.node"), "node1");
  EXPECT_FALSE(attr.getString("secondary.timestamp").empty());

  auto aff = get("BlockAffinity", "node1-10-244-0-0-26");
  ASSERT_TRUE(aff);
  EXPECT_EQ(aff->getString("spec.state"), "confirmed");
  EXPECT_EQ(aff->getString("spec.node"), "node1");
  EXPECT_EQ(aff->getString("spec.cidr"), "10.244.0.0/26");

  auto handle = get("IPAMHandle", "h1");
  ASSERT_TRUE(handle);
  EXPECT_EQ(handle->getString("spec.handleID"), "h1");
  EXPECT_EQ(handle->path("spec.block")->find("10.244.0.0/26")->asInt(), 1);
  expectClean();
}

TEST_F(IpamTest, NodesGetTheirOwnBlocksAndAllocateFromThem) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("a1", "node1"), "10.244.0.0");
  EXPECT_EQ(one("b1", "node2"), "10.244.0.64");
  EXPECT_EQ(one("a2", "node1"), "10.244.0.1");
  EXPECT_EQ(one("b2", "node2"), "10.244.0.65");
  EXPECT_EQ(count("IPAMBlock"), 2u);
  EXPECT_EQ(count("BlockAffinity"), 2u);
  auto a = ipam_.lookup(ip("10.244.0.65"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->blockAffinity, "host:node2");
  EXPECT_EQ(a->handle, "b2");
  EXPECT_EQ(a->block.str(), "10.244.0.64/26");
  expectClean();
}

TEST_F(IpamTest, BlockSizeComesFromThePool) {
  addPool("small", "10.9.0.0/24", "  blockSize: 28\n");
  EXPECT_EQ(one("a", "n1"), "10.9.0.0");
  EXPECT_EQ(one("b", "n2"), "10.9.0.16");
  EXPECT_TRUE(get("IPAMBlock", "10-9-0-16-28"));
  auto blk = get("IPAMBlock", "10-9-0-0-28");
  ASSERT_TRUE(blk);
  EXPECT_EQ(blk->path("spec.allocations")->size(), 16u);
}

TEST_F(IpamTest, AFullBlockMakesTheNodeClaimAnother) {
  addPool("pool1", "10.244.0.0/16");
  auto r = ipam_.autoAssign(args("many", "node1", 64));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->size(), 64u);
  EXPECT_EQ(r->back().str(), "10.244.0.63/32");
  EXPECT_EQ(count("IPAMBlock"), 1u);
  EXPECT_EQ(one("next", "node1"), "10.244.0.64");
  EXPECT_EQ(count("IPAMBlock"), 2u);
  EXPECT_TRUE(get("BlockAffinity", "node1-10-244-0-64-26"));
  // One request may span blocks; the handle records both.
  auto r2 = ipam_.autoAssign(args("span", "node1", 70));
  ASSERT_TRUE(r2) << r2.error().str();
  EXPECT_EQ(r2->size(), 70u);
  auto h = get("IPAMHandle", "span");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->path("spec.block")->find("10.244.0.64/26")->asInt(), 63);
  EXPECT_EQ(h->path("spec.block")->find("10.244.0.128/26")->asInt(), 7);
  expectClean();
}

TEST_F(IpamTest, MaxBlocksPerHostThenBorrowsFromAnotherNodesBlock) {
  addPool("tiny", "10.5.0.0/24", "  blockSize: 30\n");
  setConfig(false, 2);
  EXPECT_EQ(one("other", "node2"), "10.5.0.0"); // node2 owns 10.5.0.0/30
  auto r = ipam_.autoAssign(args("mine", "node1", 8));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->front().str(), "10.5.0.4/32");
  EXPECT_EQ(r->back().str(), "10.5.0.11/32");
  // node1 has its two blocks, full: the next address is borrowed from node2's block.
  EXPECT_EQ(one("borrowed", "node1"), "10.5.0.1");
  auto a = ipam_.lookup(ip("10.5.0.1"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->blockAffinity, "host:node2");
  EXPECT_EQ(a->attrs.at("node"), "node1");
  EXPECT_FALSE(get("BlockAffinity", "node1-10-5-0-12-30"));
  expectClean();
}

TEST_F(IpamTest, StrictAffinityForbidsBorrowing) {
  addPool("tiny", "10.5.0.0/24", "  blockSize: 30\n");
  setConfig(true, 1);
  EXPECT_EQ(one("other", "node2"), "10.5.0.0");
  auto r = ipam_.autoAssign(args("mine", "node1", 4));
  ASSERT_TRUE(r) << r.error().str();
  auto no = ipam_.autoAssign(args("more", "node1"));
  ASSERT_FALSE(no);
  EXPECT_EQ(no.code(), Code::Unavailable);
  EXPECT_NE(no.error().message().find("strictAffinity"), std::string::npos);
  EXPECT_FALSE(get("IPAMHandle", "more"));
  expectClean();
}

TEST_F(IpamTest, DefaultMaxBlocksPerHostIsTwenty) {
  addPool("p", "10.6.0.0/16", "  blockSize: 32\n");
  auto r = ipam_.autoAssign(args("twenty", "node1", 20));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(count("IPAMBlock"), 20u);
  // No 21st block may be claimed, and every block is the node's own and full: nothing to borrow.
  auto no = ipam_.autoAssign(args("21st", "node1"));
  EXPECT_EQ(no.code(), Code::Unavailable);
  EXPECT_EQ(count("IPAMBlock"), 20u);
  // Another node still gets its own.
  EXPECT_EQ(one("x", "node2"), "10.6.0.20");
}

TEST_F(IpamTest, BorrowsWhenThePoolHasNoFreeBlock) {
  addPool("tiny", "10.7.0.0/29", "  blockSize: 30\n"); // two blocks
  EXPECT_EQ(one("a", "node1"), "10.7.0.0");
  auto r = ipam_.autoAssign(args("b", "node2", 4));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->front().str(), "10.7.0.4/32");
  // node2's block is full and no block is left: borrow from node1's.
  EXPECT_EQ(one("c", "node2"), "10.7.0.1");
  EXPECT_EQ(one("d", "node3"), "10.7.0.2");
  EXPECT_EQ(one("e", "node3"), "10.7.0.3");
  auto full = ipam_.autoAssign(args("f", "node3"));
  EXPECT_EQ(full.code(), Code::Unavailable);
  expectClean();
}

TEST_F(IpamTest, AutoAllocateBlocksFalseOnlyBorrowsOrUsesOwnBlocks) {
  addPool("p", "10.8.0.0/24", "  blockSize: 30\n");
  EXPECT_EQ(one("a", "node1"), "10.8.0.0");
  Value cfg = *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\n"
                         "metadata: {name: default}\nspec: {autoAllocateBlocks: false}\n");
  ASSERT_TRUE(store_->create(kind("IPAMConfiguration"), cfg));
  EXPECT_EQ(one("b", "node2"), "10.8.0.1"); // borrowed, no new block
  EXPECT_EQ(count("IPAMBlock"), 1u);
}

// ---- reservations ----

TEST_F(IpamTest, ReservedAddressesAreNeverHandedOut) {
  addPool("pool1", "10.244.0.0/16");
  reserve({"10.244.0.0/30", "10.244.0.5"});
  auto r = ipam_.autoAssign(args("h", "node1", 3));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r),
            (std::vector<std::string>{"10.244.0.4/32", "10.244.0.6/32", "10.244.0.7/32"}));
  // Filling the block leaves the reserved ones free, and the node moves on.
  auto rest = ipam_.autoAssign(args("rest", "node1", 59));
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->back().str(), "10.244.0.66/32"); // 56 fit in the first block
  auto u = ipam_.usage();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->pools[0].reserved, 5u);
  EXPECT_EQ(u->blocks[0].inUse, 59u);
  expectClean();
}

TEST_F(IpamTest, AWhollyReservedBlockIsNotClaimed) {
  addPool("pool1", "10.244.0.0/16");
  reserve({"10.244.0.0/25"});
  EXPECT_EQ(one("h", "node1"), "10.244.0.128");
  EXPECT_FALSE(get("IPAMBlock", "10-244-0-0-26"));
}

TEST_F(IpamTest, ASpecificReservedAddressMayStillBeRequested) {
  // As in Calico, reservations apply to automatic assignment only.
  addPool("pool1", "10.244.0.0/16");
  reserve({"10.244.0.9"});
  EXPECT_TRUE(ipam_.assignIp(ip("10.244.0.9"), args("fixed")).isOk());
}

// ---- IPv6 and dual stack ----

TEST_F(IpamTest, IPv6UsesBlocksOf122) {
  addPool("v6", "fd00:10::/64");
  auto r = ipam_.autoAssign(args("h6", "node1", 0, 2));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r), (std::vector<std::string>{"fd00:10::/128", "fd00:10::1/128"}));
  auto blk = get("IPAMBlock", "fd00-10---122");
  ASSERT_TRUE(blk);
  EXPECT_EQ(blk->getString("spec.cidr"), "fd00:10::/122");
  EXPECT_EQ(blk->path("spec.allocations")->size(), 64u);
  EXPECT_EQ(ipam_.autoAssign(args("v4", "node1")).code(), Code::Unavailable); // no IPv4 pool
  auto r2 = ipam_.autoAssign(args("n2", "node2", 0, 1));
  ASSERT_TRUE(r2);
  EXPECT_EQ(strs(*r2), std::vector<std::string>{"fd00:10::40/128"});
  expectClean();
}

TEST_F(IpamTest, DualStackAllocatesBothOrNeither) {
  addPool("v4", "10.1.0.0/16");
  addPool("v6", "fd00:1::/120", "  blockSize: 122\n");
  auto r = ipam_.autoAssign(args("dual", "node1", 1, 1));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r), (std::vector<std::string>{"10.1.0.0/32", "fd00:1::/128"}));
  auto ips = ipam_.ipsByHandle("dual");
  ASSERT_TRUE(ips);
  EXPECT_EQ(ips->size(), 2u);
  // The v6 pool has 256 addresses; asking for more fails and releases the IPv4 part too.
  auto no = ipam_.autoAssign(args("toomany", "node1", 1, 300));
  EXPECT_FALSE(no);
  EXPECT_FALSE(get("IPAMHandle", "toomany"));
  EXPECT_EQ(ipam_.lookup(ip("10.1.0.1")).code(), Code::NotFound);
  expectClean();
}

// ---- pool choice ----

TEST_F(IpamTest, NodeSelectorPicksThePool) {
  addPool("a", "10.10.0.0/16", "  nodeSelector: zone == 'a'\n");
  addPool("b", "10.20.0.0/16", "  nodeSelector: zone == 'b'\n");
  AssignArgs x = args("x", "node1");
  x.nodeLabels = {{"zone", "b"}};
  auto r = ipam_.autoAssign(x);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.20.0.0/32"});
  AssignArgs none = args("none", "node2");
  none.nodeLabels = {{"zone", "c"}};
  EXPECT_EQ(ipam_.autoAssign(none).code(), Code::Unavailable);
}

TEST_F(IpamTest, NodeLabelsAreReadFromTheNodeWhenNotGiven) {
  addPool("a", "10.10.0.0/16", "  nodeSelector: zone == 'a'\n");
  addPool("b", "10.20.0.0/16", "  nodeSelector: zone == 'b'\n");
  Value node = *parseYaml("apiVersion: projectcalico.org/v3\nkind: Node\n"
                          "metadata: {name: node7, labels: {zone: a}}\nspec: {}\n");
  ASSERT_TRUE(store_->create(kind("Node"), node));
  EXPECT_EQ(one("x", "node7"), "10.10.0.0");
}

TEST_F(IpamTest, NamespaceSelectorPicksThePool) {
  addPool("general", "10.10.0.0/16", "  namespaceSelector: \"!has(team)\"\n");
  addPool("team-x", "10.30.0.0/16", "  namespaceSelector: team == 'x'\n");
  AssignArgs x = args("x", "node1");
  x.namespaceLabels = {{"team", "x"}};
  auto r = ipam_.autoAssign(x);
  ASSERT_TRUE(r);
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.30.0.0/32"});
  // Without labels given, the Namespace's labels are read.
  Value ns =
      *parseYaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: xs, labels: {team: x}}\n");
  ASSERT_TRUE(store_->create(kind("Namespace", "v1"), ns));
  AssignArgs y = args("y", "node1");
  y.attrs["namespace"] = "xs";
  auto r2 = ipam_.autoAssign(y);
  ASSERT_TRUE(r2);
  EXPECT_EQ(strs(*r2), std::vector<std::string>{"10.30.0.1/32"});
  EXPECT_EQ(one("plain", "node1"), "10.10.0.0");
}

TEST_F(IpamTest, DisabledAndManualPoolsAreSkipped) {
  addPool("off", "10.1.0.0/16", "  disabled: true\n");
  addPool("manual", "10.2.0.0/16", "  assignmentMode: Manual\n");
  addPool("on", "10.3.0.0/16");
  EXPECT_EQ(one("h", "node1"), "10.3.0.0");
  AssignArgs a = args("explicit");
  a.pools4 = {"manual"};
  auto r = ipam_.autoAssign(a);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.2.0.0/32"});
  AssignArgs b = args("explicit-off");
  b.pools4 = {"off"};
  auto no = ipam_.autoAssign(b);
  EXPECT_EQ(no.code(), Code::Invalid);
  EXPECT_NE(no.error().message().find("does not exist, or is not enabled"), std::string::npos);
}

TEST_F(IpamTest, AllowedUsesSeparatesWorkloadsFromTunnels) {
  addPool("tunnels", "10.1.0.0/16", "  allowedUses: [Tunnel]\n");
  addPool("workloads", "10.2.0.0/16", "  allowedUses: [Workload]\n");
  EXPECT_EQ(one("pod", "node1"), "10.2.0.0");
  AssignArgs t = args(vxlanTunnelHandle("node1"));
  t.use = "Tunnel";
  t.attrs = {{"node", "node1"}, {"type", "vxlanTunnelAddress"}};
  auto r = ipam_.autoAssign(t);
  ASSERT_TRUE(r);
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.1.0.0/32"});
  AssignArgs wrong = args("w");
  wrong.pools4 = {"tunnels"};
  EXPECT_EQ(ipam_.autoAssign(wrong).code(), Code::Invalid);
}

TEST_F(IpamTest, ExplicitPoolsByNameOrCidrIgnoreNodeSelectors) {
  addPool("a", "10.10.0.0/16");
  addPool("b", "10.20.0.0/16", "  nodeSelector: zone == 'nowhere'\n");
  AssignArgs byName = args("n");
  byName.pools4 = {"b"};
  auto r = ipam_.autoAssign(byName);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.20.0.0/32"});
  AssignArgs byCidr = args("c");
  byCidr.pools4 = {"10.20.0.0/16"};
  r = ipam_.autoAssign(byCidr);
  ASSERT_TRUE(r);
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.20.0.1/32"});
  AssignArgs missing = args("m");
  missing.pools4 = {"nope"};
  EXPECT_EQ(ipam_.autoAssign(missing).code(), Code::Invalid);
}

TEST_F(IpamTest, ArgumentsAreChecked) {
  addPool("a", "10.10.0.0/16");
  EXPECT_EQ(ipam_.autoAssign(args("", "node1")).code(), Code::Invalid);
  EXPECT_EQ(ipam_.autoAssign(args("h", "")).code(), Code::Invalid);
  EXPECT_EQ(ipam_.autoAssign(args("h", "node1", -1)).code(), Code::Invalid);
  auto none = ipam_.autoAssign(args("h", "node1", 0, 0));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// ---- release ----

TEST_F(IpamTest, ReleaseByHandleFreesEverythingAndDeletesTheHandle) {
  addPool("pool1", "10.244.0.0/16");
  auto r = ipam_.autoAssign(args("h", "node1", 3));
  ASSERT_TRUE(r);
  EXPECT_EQ(one("keep", "node1"), "10.244.0.3");
  ASSERT_TRUE(ipam_.releaseByHandle("h").isOk());
  EXPECT_FALSE(get("IPAMHandle", "h"));
  EXPECT_EQ(ipam_.lookup(ip("10.244.0.0")).code(), Code::NotFound);
  EXPECT_TRUE(ipam_.lookup(ip("10.244.0.3")));
  EXPECT_TRUE(get("IPAMBlock", "10-244-0-0-26")); // affine blocks stay
  EXPECT_TRUE(ipam_.releaseByHandle("h").isOk()); // unknown handle: nothing to do
  EXPECT_EQ(ipam_.ipsByHandle("h").code(), Code::NotFound);
  // Released addresses go to the back of the queue.
  EXPECT_EQ(one("after", "node1"), "10.244.0.4");
  expectClean();
}

TEST_F(IpamTest, ReleaseByAddressReportsWhatWasNotAllocated) {
  addPool("pool1", "10.244.0.0/16");
  auto r = ipam_.autoAssign(args("h", "node1", 2));
  ASSERT_TRUE(r);
  auto rel = ipam_.releaseIps({ip("10.244.0.0"), ip("10.244.0.7"), ip("192.168.0.1")});
  ASSERT_TRUE(rel) << rel.error().str();
  std::vector<std::string> missing;
  for (const auto& m : *rel) {
    missing.push_back(m.str());
  }
  EXPECT_EQ(missing, (std::vector<std::string>{"10.244.0.7", "192.168.0.1"}));
  auto h = get("IPAMHandle", "h");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->path("spec.block")->find("10.244.0.0/26")->asInt(), 1);
  // Double release: the second time the address is reported as not allocated.
  auto again = ipam_.releaseIps({ip("10.244.0.0")});
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().str(), "10.244.0.0");
  auto last = ipam_.releaseIps({ip("10.244.0.1")});
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->empty());
  EXPECT_FALSE(get("IPAMHandle", "h"));
  expectClean();
}

TEST_F(IpamTest, AnEmptiedBlockWithoutAffinityIsDeleted) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("a", "node1"), "10.244.0.0");
  // The node is gone: its block loses its affinity but keeps its allocation.
  auto blk = get("IPAMBlock", "10-244-0-0-26");
  Value v = *blk;
  v["spec"].erase("affinity");
  ASSERT_TRUE(store_->update(kind("IPAMBlock"), v));
  ASSERT_TRUE(store_->remove(kind("BlockAffinity"), "", "node1-10-244-0-0-26"));
  ASSERT_TRUE(ipam_.releaseByHandle("a").isOk());
  EXPECT_FALSE(get("IPAMBlock", "10-244-0-0-26"));
}

TEST_F(IpamTest, ReleaseNodeAffinitiesDropsEmptyBlocksOnly) {
  addPool("pool1", "10.244.0.0/16");
  auto r = ipam_.autoAssign(args("a", "node1", 65)); // two blocks
  ASSERT_TRUE(r);
  auto rel = ipam_.releaseIps({r->back().addr});
  ASSERT_TRUE(rel);
  ASSERT_TRUE(ipam_.releaseNodeAffinities("node1").isOk());
  EXPECT_TRUE(get("IPAMBlock", "10-244-0-0-26"));
  EXPECT_TRUE(get("BlockAffinity", "node1-10-244-0-0-26"));
  EXPECT_FALSE(get("IPAMBlock", "10-244-0-64-26"));
  EXPECT_FALSE(get("BlockAffinity", "node1-10-244-0-64-26"));
  expectClean();
  // The freed block goes to the next node that needs one.
  EXPECT_EQ(one("b", "node2"), "10.244.0.64");
}

// ---- specific addresses ----

TEST_F(IpamTest, AssignSpecificAddress) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_TRUE(ipam_.assignIp(ip("10.244.3.7"), args("fixed", "node1")).isOk());
  auto blk = get("IPAMBlock", "10-244-3-0-26");
  ASSERT_TRUE(blk);
  EXPECT_EQ(blk->getString("spec.affinity"), "host:node1");
  Status taken = ipam_.assignIp(ip("10.244.3.7"), args("other", "node2"));
  EXPECT_EQ(taken.code(), Code::AlreadyExists);
  EXPECT_NE(taken.message().find("10.244.3.7"), std::string::npos);
  EXPECT_FALSE(get("IPAMHandle", "other"));
  EXPECT_EQ(ipam_.assignIp(ip("192.168.1.1"), args("x")).code(), Code::Invalid);
  // A specific address in another node's block is allowed.
  EXPECT_TRUE(ipam_.assignIp(ip("10.244.3.8"), args("other", "node2")).isOk());
  auto a = ipam_.lookup(ip("10.244.3.8"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->handle, "other");
  EXPECT_EQ(a->blockAffinity, "host:node1");
  // Automatic assignment on node1 skips both.
  EXPECT_EQ(one("auto", "node1"), "10.244.3.0");
  expectClean();
}

TEST_F(IpamTest, LookupAndIpsByHandle) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(ipam_.lookup(ip("10.244.0.0")).code(), Code::NotFound);
  auto r = ipam_.autoAssign(args("h", "node1", 2));
  ASSERT_TRUE(r);
  auto ips = ipam_.ipsByHandle("h");
  ASSERT_TRUE(ips);
  ASSERT_EQ(ips->size(), 2u);
  EXPECT_EQ((*ips)[1].str(), "10.244.0.1");
  auto a = ipam_.lookup(ip("10.244.0.1"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->attrs.at("pod"), "h");
  EXPECT_EQ(a->attrs.at("namespace"), "default");
}

TEST_F(IpamTest, CheckedReleaseFreesOnlyTheExpectedHandlesAddresses) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("a", "node1"), "10.244.0.0");
  EXPECT_EQ(one("b", "node1"), "10.244.0.1");
  EXPECT_EQ(one("c", "node1"), "10.244.0.2");
  auto r = ipam_.releaseIpsChecked({{ip("10.244.0.0"), "a"},
                                    {ip("10.244.0.1"), "a"},
                                    {ip("10.244.0.2"), ""},
                                    {ip("10.244.0.9"), "a"}});
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->handleMismatch.size(), 1u);
  EXPECT_EQ(r->handleMismatch[0].first.str(), "10.244.0.1");
  EXPECT_EQ(r->handleMismatch[0].second, "b");
  ASSERT_EQ(r->notAllocated.size(), 1u);
  EXPECT_EQ(r->notAllocated[0].str(), "10.244.0.9");
  EXPECT_EQ(ipam_.lookup(ip("10.244.0.0")).code(), Code::NotFound);
  EXPECT_EQ(ipam_.lookup(ip("10.244.0.2")).code(), Code::NotFound);
  auto b = ipam_.lookup(ip("10.244.0.1"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->handle, "b");
  EXPECT_FALSE(get("IPAMHandle", "a"));
  EXPECT_TRUE(get("IPAMHandle", "b"));
  expectClean();
}

TEST_F(IpamTest, CheckedReleaseLeavesAnAddressReallocatedDuringTheRelease) {
  // The address changes hands between the release's read of the block and its write: the retry
  // re-reads the block, sees the new handle and leaves the new allocation alone.
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("old", "node1"), "10.244.0.0");
  EXPECT_EQ(one("other", "node1"), "10.244.0.1");
  FaultyStore faulty(*store_);
  Ipam ipam(faulty);
  faulty.beforeUpdate("IPAMBlock", [&] {
    auto rel = ipam_.releaseIps({ip("10.244.0.0")});
    ASSERT_TRUE(rel && rel->empty());
    ASSERT_TRUE(ipam_.assignIp(ip("10.244.0.0"), args("new", "node1")).isOk());
  });
  auto r = ipam.releaseIpsChecked({{ip("10.244.0.0"), "old"}});
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_TRUE(r->notAllocated.empty());
  ASSERT_EQ(r->handleMismatch.size(), 1u);
  EXPECT_EQ(r->handleMismatch[0].second, "new");
  auto a = ipam_.lookup(ip("10.244.0.0"));
  ASSERT_TRUE(a) << a.error().str();
  EXPECT_EQ(a->handle, "new");
  EXPECT_TRUE(get("IPAMHandle", "new"));
  expectClean();
}

// ---- write ordering and retries ----

TEST_F(IpamTest, AnAffinityLeftPendingAfterTheBlockWasCreatedIsConfirmedAndUsed) {
  // Confirming the affinity fails after the block was created: the next assignment on the node
  // adopts that block instead of stranding it and claiming another.
  addPool("pool1", "10.244.0.0/16");
  FaultyStore faulty(*store_);
  Ipam ipam(faulty);
  faulty.failUpdates("BlockAffinity", Code::Unavailable, 1);
  auto failed = ipam.autoAssign(args("first", "node1"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.code(), Code::Unavailable);
  auto aff = get("BlockAffinity", "node1-10-244-0-0-26");
  ASSERT_TRUE(aff);
  EXPECT_EQ(aff->getString("spec.state"), "pending");
  auto blk = get("IPAMBlock", "10-244-0-0-26");
  ASSERT_TRUE(blk);
  EXPECT_EQ(blk->getString("spec.affinity"), "host:node1");

  EXPECT_EQ(one("second", "node1"), "10.244.0.0");
  aff = get("BlockAffinity", "node1-10-244-0-0-26");
  ASSERT_TRUE(aff);
  EXPECT_EQ(aff->getString("spec.state"), "confirmed");
  EXPECT_EQ(count("IPAMBlock"), 1u);
  // node2 does not share it: it claims a block of its own.
  EXPECT_EQ(one("third", "node2"), "10.244.0.64");
  expectClean();
}

TEST_F(IpamTest, AFailedBlockWriteUndoesTheHandle) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("first", "node1"), "10.244.0.0");
  FaultyStore faulty(*store_);
  Ipam ipam(faulty);
  faulty.failUpdates("IPAMBlock", Code::Unavailable, 1);
  auto r = ipam.autoAssign(args("h", "node1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Unavailable);
  EXPECT_FALSE(get("IPAMHandle", "h"));
  expectClean();
}

TEST_F(IpamTest, AConflictIsRetriedAfterRereading) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("first", "node1"), "10.244.0.0");
  FaultyStore faulty(*store_);
  Ipam ipam(faulty);
  faulty.failUpdates("IPAMBlock", Code::Conflict, 3);
  auto r = ipam.autoAssign(args("h", "node1"));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(strs(*r), std::vector<std::string>{"10.244.0.1/32"});
  EXPECT_EQ(faulty.updates("IPAMBlock"), 4);
  expectClean();
}

TEST_F(IpamTest, RetriesAreBounded) {
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("first", "node1"), "10.244.0.0");
  FaultyStore faulty(*store_);
  Options o;
  o.maxRetries = 3;
  Ipam ipam(faulty, o);
  faulty.failUpdates("IPAMBlock", Code::Conflict, 1000);
  auto r = ipam.autoAssign(args("h", "node1"));
  EXPECT_EQ(r.code(), Code::Conflict);
  EXPECT_FALSE(get("IPAMHandle", "h"));
}

TEST_F(IpamTest, ACrashBetweenHandleAndBlockLeavesAFindableHandle) {
  // A handle record without the allocation (what a crash after the handle write leaves) is
  // reported and cleaned by releaseByHandle; the address is still free.
  addPool("pool1", "10.244.0.0/16");
  EXPECT_EQ(one("first", "node1"), "10.244.0.0");
  Value h =
      *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPAMHandle\nmetadata: {name: ghost}\n"
                 "spec: {handleID: ghost, block: {10.244.0.0/26: 1}}\n");
  ASSERT_TRUE(store_->create(kind("IPAMHandle"), h));
  auto rep = ipam_.check();
  ASSERT_TRUE(rep);
  ASSERT_EQ(rep->problems.size(), 1u);
  EXPECT_EQ(rep->problems[0].kind, Problem::Kind::HandleMismatch);
  EXPECT_EQ(rep->problems[0].handle, "ghost");
  ASSERT_TRUE(ipam_.releaseByHandle("ghost").isOk());
  EXPECT_FALSE(get("IPAMHandle", "ghost"));
  expectClean();
}

// ---- check ----

class IpamCheckTest : public IpamTest {
protected:
  void SetUp() override {
    addPool("pool1", "10.244.0.0/16");
    auto r = ipam_.autoAssign(args("h1", "node1", 2));
    ASSERT_TRUE(r);
  }
  std::vector<Problem> problems(const std::vector<std::string>* pods = nullptr,
                                const std::vector<std::string>* nodes = nullptr) {
    auto rep = ipam_.check(pods, nodes);
    EXPECT_TRUE(rep) << rep.error().str();
    return rep ? rep->problems : std::vector<Problem>{};
  }
};

TEST_F(IpamCheckTest, CleanStateHasNoProblems) {
  auto rep = ipam_.check();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->allocations, 2u);
  EXPECT_EQ(rep->handles, 1u);
  EXPECT_EQ(rep->blocks, 1u);
  EXPECT_TRUE(rep->problems.empty());
}

TEST_F(IpamCheckTest, FindsAnAddressWhoseHandleIsGone) {
  ASSERT_TRUE(store_->remove(kind("IPAMHandle"), "", "h1").isOk());
  auto p = problems();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].kind, Problem::Kind::LeakedAddress);
  ASSERT_TRUE(p[0].ip);
  EXPECT_EQ(p[0].ip->str(), "10.244.0.0");
  EXPECT_EQ(p[0].handle, "h1");
  EXPECT_NE(p[0].detail.find("does not exist"), std::string::npos);
  // Releasing the leaked addresses by IP cleans up.
  auto rel = ipam_.releaseIps({ip("10.244.0.0"), ip("10.244.0.1")});
  ASSERT_TRUE(rel);
  EXPECT_TRUE(rel->empty());
  expectClean();
}

TEST_F(IpamCheckTest, FindsAddressesOfVanishedPodsAndNodes) {
  std::vector<std::string> pods = {"default/other"};
  std::vector<std::string> nodes = {"node1"};
  auto p = problems(&pods, &nodes);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].kind, Problem::Kind::LeakedAddress);
  EXPECT_NE(p[0].detail.find("pod default/h1"), std::string::npos);
  pods = {"default/h1"};
  EXPECT_TRUE(problems(&pods, &nodes).empty());
  nodes = {"node2"};
  p = problems(&pods, &nodes);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NE(p[1].detail.find("node node1"), std::string::npos);
}

TEST_F(IpamCheckTest, FindsADoublyAssignedAddress) {
  // A corrupt, overlapping block (a /27 inside the node's /26) holding 10.244.0.1 again.
  Value blk = *parseJson(R"({"apiVersion":"projectcalico.org/v3","kind":"IPAMBlock",
    "metadata":{"name":"10-244-0-0-27"},
    "spec":{"cidr":"10.244.0.0/27","unallocated":[],
            "attributes":[{"handle_id":"h2","secondary":{}}]}})");
  Value allocs = Value::array();
  for (int i = 0; i < 32; ++i) {
    allocs.push(i == 1 ? Value(0) : Value());
  }
  blk["spec"].set("allocations", allocs);
  auto c = store_->create(kind("IPAMBlock"), blk);
  ASSERT_TRUE(c) << c.error().str();
  Value h = *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPAMHandle\nmetadata: {name: h2}\n"
                       "spec: {handleID: h2, block: {10.244.0.0/27: 1}}\n");
  ASSERT_TRUE(store_->create(kind("IPAMHandle"), h));
  auto p = problems();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].kind, Problem::Kind::DoubleAssigned);
  EXPECT_EQ(p[0].ip->str(), "10.244.0.1");
  EXPECT_NE(p[0].detail.find("10.244.0.0/26"), std::string::npos);
  EXPECT_NE(p[0].detail.find("10.244.0.0/27"), std::string::npos);
}

TEST_F(IpamCheckTest, FindsHandleCountMismatches) {
  Value h = *get("IPAMHandle", "h1");
  h["spec"]["block"].set("10.244.0.0/26", Value(5));
  h["spec"]["block"].set("10.244.9.0/26", Value(1));
  ASSERT_TRUE(store_->update(kind("IPAMHandle"), h));
  auto p = problems();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].kind, Problem::Kind::HandleMismatch);
  EXPECT_NE(p[0].detail.find("records 5"), std::string::npos);
  EXPECT_EQ(p[1].kind, Problem::Kind::HandleMismatch);
}

TEST_F(IpamCheckTest, FindsOrphanAffinities) {
  Value aff = *parseYaml("apiVersion: projectcalico.org/v3\nkind: BlockAffinity\n"
                         "metadata: {name: node9-10-244-9-0-26}\n"
                         "spec: {state: confirmed, node: node9, cidr: 10.244.9.0/26}\n");
  ASSERT_TRUE(store_->create(kind("BlockAffinity"), aff));
  ASSERT_TRUE(store_->remove(kind("BlockAffinity"), "", "node1-10-244-0-0-26").isOk());
  auto p = problems();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].kind, Problem::Kind::OrphanAffinity);
  EXPECT_NE(p[0].detail.find("does not exist"), std::string::npos);
  EXPECT_EQ(p[1].kind, Problem::Kind::OrphanAffinity);
  EXPECT_NE(p[1].detail.find("host:node1"), std::string::npos);
}

// ---- usage ----

TEST_F(IpamTest, UsageCountsPoolsAndBlocks) {
  addPool("a", "10.244.0.0/16");
  addPool("b", "10.9.0.0/24", "  blockSize: 28\n");
  ASSERT_TRUE(ipam_.autoAssign(args("x", "node1", 5)));
  AssignArgs y = args("y", "node2", 3);
  y.pools4 = {"b"};
  ASSERT_TRUE(ipam_.autoAssign(y));
  auto u = ipam_.usage();
  ASSERT_TRUE(u);
  ASSERT_EQ(u->pools.size(), 2u);
  EXPECT_EQ(u->pools[0].name, "a");
  EXPECT_EQ(u->pools[0].total, 65536u);
  EXPECT_EQ(u->pools[0].inUse, 5u);
  EXPECT_EQ(u->pools[1].total, 256u);
  EXPECT_EQ(u->pools[1].inUse, 3u);
  ASSERT_EQ(u->blocks.size(), 2u);
  EXPECT_EQ(u->blocks[0].cidr.str(), "10.9.0.0/28");
  EXPECT_EQ(u->blocks[0].pool, "b");
  EXPECT_EQ(u->blocks[0].affinity, "host:node2");
  EXPECT_EQ(u->blocks[0].total, 16u);
  EXPECT_EQ(u->blocks[1].inUse, 5u);
}

// ---- concurrency ----

TEST_F(IpamTest, ConcurrentThreadsNeverShareAnAddress) {
  addPool("pool1", "10.128.0.0/16");
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  std::vector<std::vector<std::string>> got(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Ipam ipam(*store_); // one client per thread, as separate processes would have
      for (int i = 0; i < kEach; ++i) {
        // Two threads per node: they race on the same blocks.
        std::string node = "node" + std::to_string(t % 4);
        auto r = ipam.autoAssign(args("t" + std::to_string(t) + "-" + std::to_string(i), node));
        if (!r || r->size() != 1) {
          ++failures;
          continue;
        }
        got[t].push_back(r->front().addr.str());
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> all;
  for (const auto& v : got) {
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), size_t(kThreads * kEach));
  auto rep = ipam_.check();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->allocations, uint64_t(kThreads * kEach));
  EXPECT_EQ(rep->handles, uint64_t(kThreads * kEach));
  EXPECT_TRUE(rep->problems.empty());
  // 400 addresses per node need 7 blocks of 64; racing claims may add some, within the cap.
  auto u = ipam_.usage();
  ASSERT_TRUE(u);
  EXPECT_GE(u->blocks.size(), 28u);
  EXPECT_LE(u->blocks.size(), 80u);
}

TEST_F(IpamTest, ConcurrentAssignAndReleaseKeepHandlesExact) {
  addPool("pool1", "10.128.0.0/16");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Ipam ipam(*store_);
      for (int i = 0; i < 100; ++i) {
        std::string h = "c" + std::to_string(t) + "-" + std::to_string(i);
        auto r = ipam.autoAssign(args(h, "node1", 2));
        if (!r) {
          ++failures;
          continue;
        }
        if (i % 2 == 0 && !ipam.releaseByHandle(h).isOk()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
  auto rep = ipam_.check();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->allocations, 400u);
  EXPECT_EQ(rep->handles, 200u);
  EXPECT_TRUE(rep->problems.empty());
}

// ---- the memory store itself ----

TEST(IpamMemoryStore, CompareAndSwapSemantics) {
  auto store = makeMemoryStore();
  const auto& k = kind("IPAMHandle");
  Value h = *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPAMHandle\nmetadata: {name: h}\n"
                       "spec: {handleID: h, block: {10.0.0.0/26: 1}}\n");
  auto c = store->create(k, h);
  ASSERT_TRUE(c);
  std::string rv1 = c->getString("metadata.resourceVersion");
  EXPECT_FALSE(rv1.empty());
  EXPECT_EQ(store->create(k, h).code(), Code::AlreadyExists);
  Value u = *c;
  u["spec"]["block"].set("10.0.0.0/26", Value(2));
  auto u1 = store->update(k, u);
  ASSERT_TRUE(u1);
  EXPECT_NE(u1->getString("metadata.resourceVersion"), rv1);
  EXPECT_EQ(store->update(k, u).code(), Code::Conflict); // stale resourceVersion
  EXPECT_EQ(store->remove(k, "", "h", rv1).code(), Code::Conflict);
  EXPECT_TRUE(store->remove(k, "", "h", u1->getString("metadata.resourceVersion")).isOk());
  EXPECT_EQ(store->get(k, "", "h").code(), Code::NotFound);
  EXPECT_EQ(store->update(k, *u1).code(), Code::NotFound);
  EXPECT_EQ(store->remove(k, "", "h").code(), Code::NotFound);
  // Objects the apiserver would refuse are refused.
  Value bad = h;
  bad["spec"].erase("handleID");
  EXPECT_EQ(store->create(k, bad).code(), Code::Invalid);
  // handleID is immutable.
  ASSERT_TRUE(store->create(k, h));
  Value changed = *store->get(k, "", "h");
  changed["spec"].set("handleID", "other");
  EXPECT_EQ(store->update(k, changed).code(), Code::Invalid);
}

TEST(IpamMemoryStore, ListsOneKindSortedByName) {
  auto store = makeMemoryStore();
  for (const char* n : {"b", "a", "c"}) {
    Value h = *parseYaml(std::string("apiVersion: projectcalico.org/v3\nkind: IPAMHandle\n"
                                     "metadata: {name: ") +
                         n + "}\nspec: {handleID: " + n + ", block: {}}\n");
    ASSERT_TRUE(store->create(kind("IPAMHandle"), h));
  }
  auto l = store->list(kind("IPAMHandle"));
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[0].getString("metadata.name"), "a");
  EXPECT_EQ((*l)[2].getString("metadata.name"), "c");
  EXPECT_TRUE(store->list(kind("IPAMBlock"))->empty());
}

} // namespace
} // namespace caracal::ipam
