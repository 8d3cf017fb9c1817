// The REST store against the real apiserver handler (in process): the server's own validation
// and compare-and-swap, including DELETE preconditions.
#include "api/registry.h"
#include "ipam/ipam.h"
#include "ipam/testing/in_process_api.h"

#include <atomic>
#include <gtest/gtest.h>
#include <set>
#include <thread>

namespace caracal::ipam {
namespace {

const api::KindInfo& kind(const char* k) { return *api::findByKind("projectcalico.org/v3", k); }

class IpamRestStoreTest : public ::testing::Test {
protected:
  IpamRestStoreTest() : client_(api_.client()), store_(makeRestStore(*client_)) {}

  void addPool(const std::string& name, const std::string& cidr) {
    Value pool =
        *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: " + name +
                   "}\nspec: {cidr: " + cidr + "}\n");
    auto r = store_->create(kind("IPPool"), pool);
    ASSERT_TRUE(r) << r.error().str();
  }

  testing::InProcessApi api_;
  std::unique_ptr<datastore::RestClient> client_;
  std::unique_ptr<Store> store_;
};

TEST_F(IpamRestStoreTest, CompareAndSwapThroughTheServer) {
  const auto& k = kind("IPAMHandle");
  Value h = *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPAMHandle\nmetadata: {name: h}\n"
                       "spec: {handleID: h, block: {10.0.0.0/26: 1}}\n");
  auto c = store_->create(k, h);
  ASSERT_TRUE(c) << c.error().str();
  std::string rv1 = c->getString("metadata.resourceVersion");
  EXPECT_EQ(store_->create(k, h).code(), Code::AlreadyExists);
  Value u = *c;
  u["spec"]["block"].set("10.0.0.0/26", Value(2));
  auto u1 = store_->update(k, u);
  ASSERT_TRUE(u1) << u1.error().str();
  EXPECT_EQ(store_->update(k, u).code(), Code::Conflict);
  EXPECT_EQ(store_->remove(k, "", "h", rv1).code(), Code::Conflict);
  EXPECT_TRUE(store_->get(k, "", "h"));
  EXPECT_TRUE(store_->remove(k, "", "h", u1->getString("metadata.resourceVersion")).isOk());
  EXPECT_EQ(store_->get(k, "", "h").code(), Code::NotFound);
  EXPECT_EQ(store_->remove(k, "", "h").code(), Code::NotFound);
  auto l = store_->list(k);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->empty());
}

TEST_F(IpamRestStoreTest, EveryObjectIpamWritesIsAcceptedByTheServer) {
  addPool("pool1", "10.244.0.0/16");
  addPool("pool6", "fd00:5::/64");
  Ipam ipam(*store_);
  AssignArgs a;
  a.handle = podHandle("0123456789abcdef");
  a.node = "node-1";
  a.attrs = {{"namespace", "default"}, {"pod", "web-0"}};
  a.num4 = 2;
  a.num6 = 1;
  auto r = ipam.autoAssign(a);
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].str(), "10.244.0.0/32");
  EXPECT_EQ((*r)[2].str(), "fd00:5::/128");
  EXPECT_TRUE(store_->get(kind("IPAMBlock"), "", "10-244-0-0-26"));
  EXPECT_TRUE(store_->get(kind("BlockAffinity"), "", "node-1-fd00-5---122"));
  EXPECT_TRUE(ipam.assignIp(*api::parseIp("10.244.1.1"), a).isOk());
  auto rel = ipam.releaseIps({*api::parseIp("10.244.0.1")});
  ASSERT_TRUE(rel) << rel.error().str();
  EXPECT_TRUE(rel->empty());
  auto rep = ipam.check();
  ASSERT_TRUE(rep) << rep.error().str();
  EXPECT_EQ(rep->allocations, 3u);
  EXPECT_TRUE(rep->problems.empty());
  ASSERT_TRUE(ipam.releaseByHandle(a.handle).isOk());
  EXPECT_EQ(store_->get(kind("IPAMHandle"), "", a.handle).code(), Code::NotFound);
  ASSERT_TRUE(ipam.releaseNodeAffinities("node-1").isOk());
  EXPECT_TRUE(store_->list(kind("IPAMBlock"))->empty());
  EXPECT_TRUE(store_->list(kind("BlockAffinity"))->empty());
}

TEST_F(IpamRestStoreTest, ConcurrentClientsNeverShareAnAddress) {
  addPool("pool1", "10.128.0.0/16");
  constexpr int kThreads = 4;
  constexpr int kEach = 60;
  std::vector<std::vector<std::string>> got(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = api_.client();
      auto store = makeRestStore(*client);
      Ipam ipam(*store);
      for (int i = 0; i < kEach; ++i) {
        AssignArgs a;
        a.handle = "t" + std::to_string(t) + "." + std::to_string(i);
        a.node = t < 2 ? "node-a" : "node-b";
        auto r = ipam.autoAssign(a);
        if (!r) {
          ++failures;
          continue;
        }
        got[t].push_back(r->front().str());
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
  Ipam ipam(*store_);
  auto rep = ipam.check();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->allocations, uint64_t(kThreads * kEach));
  EXPECT_TRUE(rep->problems.empty());
}

} // namespace
} // namespace caracal::ipam
