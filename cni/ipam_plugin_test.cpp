#include "cni/api.h"
#include "cni/ipam_plugin.h"
#include "cni/naming.h"

#include <gtest/gtest.h>

namespace caracal::cni {
namespace {

constexpr const char* kConfig = R"({"name":"k8s-pod-network","cniVersion":"1.0.0",
  "type":"caracal","nodename":"node-1","ipam":{"type":"caracal-ipam"}})";

Value doc(std::string_view json) {
  auto v = parseJson(json);
  EXPECT_TRUE(v) << json;
  return v ? *v : Value();
}

class IpamPluginTest : public ::testing::Test {
protected:
  void SetUp() override {
    log_.configure(LogLevel::None, "");
    create(*pool(), R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",
        "metadata":{"name":"pool-a"},"spec":{"cidr":"10.244.0.0/16","blockSize":26}})");
    create(*pool(), R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",
        "metadata":{"name":"pool-b"},"spec":{"cidr":"10.250.0.0/16","blockSize":26}})");
    create(*kinds().ns, R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}})");
    addPod("web-0", "{}");
  }

  static const api::KindInfo* pool() { return api::findByKind("projectcalico.org/v3", "IPPool"); }

  void create(const api::KindInfo& kind, std::string_view json) {
    auto r = store_->create(kind, doc(json));
    ASSERT_TRUE(r) << r.error().message();
  }
  void addPod(const std::string& name, const std::string& annotations) {
    create(*kinds().pod, R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                             R"(","namespace":"default","annotations":)" + annotations +
                             R"(},"spec":{"containers":[{"name":"c"}]}})");
  }

  Invocation invocation(const std::string& pod, const std::string& containerId) {
    Invocation inv;
    inv.env.command = "ADD";
    inv.env.containerId = containerId;
    inv.env.ifname = "eth0";
    inv.env.path = "/opt/cni/bin";
    inv.env.args = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod;
    inv.args = *parseCniArgs(inv.env.args);
    inv.conf = *parseNetConf(kConfig);
    inv.node = "node-1";
    return inv;
  }

  std::string addOk(const Invocation& inv) {
    auto r = plugin_.add(inv);
    EXPECT_TRUE(r) << (r ? "" : r.error().msg + ": " + r.error().details);
    if (!r) {
      return "";
    }
    EXPECT_EQ(r->ips.size(), 1u);
    EXPECT_TRUE(r->interfaces.empty());
    return r->ips.empty() ? "" : r->ips[0].address.str();
  }

  std::unique_ptr<ipam::Store> store_ = ipam::makeMemoryStore();
  Logger log_{"test"};
  IpamPlugin plugin_{*store_, log_, [] { return std::string("2025-01-02T03:04:05Z"); }};
};

TEST_F(IpamPluginTest, AllocatesWithHandleAndAttributes) {
  std::string addr = addOk(invocation("web-0", "c1"));
  ASSERT_FALSE(addr.empty());
  auto net = api::parseCidr(addr);
  ASSERT_TRUE(net);
  EXPECT_EQ(net->prefix, 32);
  ipam::Ipam ipam(*store_);
  auto alloc = ipam.lookup(net->addr);
  ASSERT_TRUE(alloc) << alloc.error().message();
  EXPECT_EQ(alloc->handle, "k8s-pod-network.c1");
  EXPECT_EQ(alloc->attrs["namespace"], "default");
  EXPECT_EQ(alloc->attrs["pod"], "web-0");
  EXPECT_EQ(alloc->attrs["node"], "node-1");
  EXPECT_EQ(alloc->attrs["timestamp"], "2025-01-02T03:04:05Z");
  EXPECT_EQ(alloc->blockAffinity, "host:node-1");
}

TEST_F(IpamPluginTest, RetriedAddReturnsTheSameAddress) {
  std::string a = addOk(invocation("web-0", "c1"));
  std::string b = addOk(invocation("web-0", "c1"));
  EXPECT_EQ(a, b);
  ipam::Ipam ipam(*store_);
  auto held = ipam.ipsByHandle("k8s-pod-network.c1");
  ASSERT_TRUE(held);
  EXPECT_EQ(held->size(), 1u);
  // Another container gets another address.
  EXPECT_NE(addOk(invocation("web-0", "c2")), a);
}

TEST_F(IpamPluginTest, PoolSelectionOrder) {
  // Configuration pools.
  Invocation inv = invocation("web-0", "c1");
  inv.conf.ipam.ipv4Pools = {"pool-b"};
  EXPECT_EQ(addOk(inv).rfind("10.250.", 0), 0u);
  // The namespace's annotation beats the configuration.
  auto ns = store_->get(*kinds().ns, "", "default");
  ASSERT_TRUE(ns);
  Value nsObj = *ns;
  nsObj["metadata"]["annotations"].set(kAnnotationIpv4Pools, R"(["10.244.0.0/16"])");
  ASSERT_TRUE(store_->update(*kinds().ns, nsObj));
  inv = invocation("web-0", "c2");
  inv.conf.ipam.ipv4Pools = {"pool-b"};
  EXPECT_EQ(addOk(inv).rfind("10.244.", 0), 0u);
  // The pod's annotation beats the namespace's.
  addPod("web-1", R"({"cni.projectcalico.org/ipv4pools":"[\"pool-b\"]"})");
  inv = invocation("web-1", "c3");
  EXPECT_EQ(addOk(inv).rfind("10.250.", 0), 0u);
}

TEST_F(IpamPluginTest, RequestedAddress) {
  addPod("fixed", R"({"cni.projectcalico.org/ipAddrs":"[\"10.244.7.7\"]"})");
  EXPECT_EQ(addOk(invocation("fixed", "c1")), "10.244.7.7/32");
  // The same address for another container is refused, and nothing is held for it.
  auto r = plugin_.add(invocation("fixed", "c2"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrIpam));
  EXPECT_NE(r.error().msg.find("10.244.7.7"), std::string::npos);
  ipam::Ipam ipam(*store_);
  auto held = ipam.ipsByHandle("k8s-pod-network.c2");
  EXPECT_TRUE(!held || held->empty());
}

TEST_F(IpamPluginTest, BadAnnotationsNameTheAnnotation) {
  addPod("bad", R"({"cni.projectcalico.org/ipv4pools":"pool-a"})");
  auto r = plugin_.add(invocation("bad", "c1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "bad pod annotation cni.projectcalico.org/ipv4pools");
  EXPECT_NE(r.error().details.find("JSON list"), std::string::npos);
  addPod("bad2", R"({"cni.projectcalico.org/ipAddrs":"[\"ten.0.0.1\"]"})");
  r = plugin_.add(invocation("bad2", "c2"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().details.find("ten.0.0.1"), std::string::npos);
}

TEST_F(IpamPluginTest, ExhaustedPool) {
  create(*pool(), R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",
      "metadata":{"name":"tiny"},"spec":{"cidr":"10.99.0.0/30","blockSize":30}})");
  for (int i = 0; i < 4; ++i) {
    Invocation inv = invocation("web-0", "t" + std::to_string(i));
    inv.conf.ipam.ipv4Pools = {"tiny"};
    EXPECT_EQ(addOk(inv).rfind("10.99.0.", 0), 0u);
  }
  Invocation inv = invocation("web-0", "t9");
  inv.conf.ipam.ipv4Pools = {"tiny"};
  auto r = plugin_.add(inv);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrIpam));
  EXPECT_NE(r.error().msg.find("from pools [tiny]"), std::string::npos) << r.error().msg;
  EXPECT_FALSE(r.error().details.empty());
}

TEST_F(IpamPluginTest, MissingPod) {
  auto r = plugin_.add(invocation("ghost", "c1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrPod));
}

TEST_F(IpamPluginTest, DelReleasesAndIsRepeatable) {
  Invocation inv = invocation("web-0", "c1");
  std::string addr = addOk(inv);
  EXPECT_FALSE(plugin_.del(inv).has_value());
  ipam::Ipam ipam(*store_);
  EXPECT_EQ(ipam.lookup(api::parseCidr(addr)->addr).code(), Code::NotFound);
  EXPECT_FALSE(plugin_.del(inv).has_value());
  // Never allocated at all.
  EXPECT_FALSE(plugin_.del(invocation("web-0", "never")).has_value());
}

TEST_F(IpamPluginTest, Check) {
  Invocation inv = invocation("web-0", "c1");
  std::string addr = addOk(inv);
  EXPECT_FALSE(plugin_.check(inv).has_value());
  CniResult prev;
  IpConfig c;
  c.address = *api::parseCidr(addr);
  prev.ips.push_back(c);
  inv.conf.prevResult = prev;
  EXPECT_FALSE(plugin_.check(inv).has_value());
  inv.conf.prevResult->ips[0].address = *api::parseCidr("10.1.2.3/32");
  auto e = plugin_.check(inv);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->msg.find("10.1.2.3"), std::string::npos);
  ASSERT_FALSE(plugin_.del(inv).has_value());
  e = plugin_.check(invocation("web-0", "c1"));
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->msg.find("holds no address"), std::string::npos);
}

TEST(AnnotationList, Parse) {
  auto ok = parseAnnotationList("a", R"(["x","y"])");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_FALSE(parseAnnotationList("a", "x"));
  EXPECT_FALSE(parseAnnotationList("a", R"([1])"));
  EXPECT_FALSE(parseAnnotationList("a", R"([""])"));
}

} // namespace
} // namespace caracal::cni
