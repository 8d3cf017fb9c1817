#include "apiserver/handler.h"
#include "datastore/store_engine.h"

#include <gtest/gtest.h>

namespace caracal::apiserver {
namespace {

class HandlerTest : public ::testing::Test {
protected:
  HandlerTest() : engine_(datastore::makeMemoryEngine({})), handler_(*engine_, opts()) {}
  static HandlerOptions opts() {
    HandlerOptions o;
    o.token = "secret";
    o.bookmarkInterval = std::chrono::milliseconds(100);
    return o;
  }
  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& contentType = "application/json",
             std::map<std::string, std::string> query = {}) {
    Request r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.query = std::move(query);
    r.headers["content-type"] = contentType;
    r.headers["authorization"] = "Bearer secret";
    return handler_.handle(r);
  }
  Value json(const Reply& r) {
    auto v = parseJson(r.response.body);
    EXPECT_TRUE(v) << r.response.body;
    return v ? *v : Value();
  }
  size_t storeSize() {
    auto r = engine_->range("/registry/");
    return r ? r->kvs.size() : 0;
  }

  datastore::EnginePtr engine_;
  Handler handler_;
};

const char* kPool = R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",
  "metadata":{"name":"pool-a"},"spec":{"cidr":"10.1.0.0/16","ipipMode":"Always"}})";

TEST_F(HandlerTest, AuthenticationNeedsTheBearerToken) {
  Request r;
  r.method = "GET";
  r.path = "/api";
  EXPECT_FALSE(handler_.authenticate(r));
  r.headers["authorization"] = "Bearer wrong";
  EXPECT_FALSE(handler_.authenticate(r));
  r.headers["authorization"] = "Bearer secret";
  EXPECT_TRUE(handler_.authenticate(r));
  EXPECT_EQ(handler_.unauthorized().response.status, 401);
}

TEST_F(HandlerTest, CreateGetListAndDefaults) {
  Reply c = call("POST", "/apis/projectcalico.org/v3/ippools", kPool);
  ASSERT_EQ(c.response.status, 201) << c.response.body;
  Value obj = json(c);
  EXPECT_EQ(obj.getString("metadata.resourceVersion"), "1");
  EXPECT_FALSE(obj.getString("metadata.uid").empty());
  EXPECT_EQ(obj.path("spec.blockSize")->asInt(), 26);
  Reply g = call("GET", "/apis/projectcalico.org/v3/ippools/pool-a");
  ASSERT_EQ(g.response.status, 200);
  EXPECT_EQ(json(g), obj);
  Reply l = call("GET", "/apis/projectcalico.org/v3/ippools");
  Value list = json(l);
  EXPECT_EQ(list.getString("kind"), "IPPoolList");
  EXPECT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list.getString("metadata.resourceVersion"), "1");
  Reply dup = call("POST", "/apis/projectcalico.org/v3/ippools", kPool);
  EXPECT_EQ(dup.response.status, 409);
  EXPECT_EQ(json(dup).getString("reason"), "AlreadyExists");
}

TEST_F(HandlerTest, InvalidObjectsAreRefusedWithFieldCausesAndStoreUnchanged) {
  std::string bad = R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",
    "metadata":{"name":"bad"},"spec":{"cidr":"10.2.0.0/16","ipipMode":"sometimes"}})";
  Reply r = call("POST", "/apis/projectcalico.org/v3/ippools", bad);
  EXPECT_EQ(r.response.status, 422) << r.response.body;
  Value st = json(r);
  EXPECT_EQ(st.getString("reason"), "Invalid");
  EXPECT_NE(st.getString("message").find("spec.ipipMode"), std::string::npos)
      << st.getString("message");
  ASSERT_TRUE(st.path("details.causes"));
  EXPECT_EQ(st.path("details.causes")->asArray()[0].getString("field"), "spec.ipipMode");
  Reply garbage = call("POST", "/apis/projectcalico.org/v3/ippools", "{not json");
  EXPECT_EQ(garbage.response.status, 400);
  EXPECT_EQ(storeSize(), 0u);
}

TEST_F(HandlerTest, OverlappingPoolsAreRefused) {
  ASSERT_EQ(call("POST", "/apis/projectcalico.org/v3/ippools", kPool).response.status, 201);
  std::string overlap = R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",
    "metadata":{"name":"pool-b"},"spec":{"cidr":"10.1.128.0/17"}})";
  Reply r = call("POST", "/apis/projectcalico.org/v3/ippools", overlap);
  EXPECT_EQ(r.response.status, 422) << r.response.body;
  EXPECT_NE(r.response.body.find("pool-a"), std::string::npos);
  EXPECT_EQ(storeSize(), 1u);
}

TEST_F(HandlerTest, StaleUpdateConflictsAndPatchesApply) {
  Value created = json(call("POST", "/apis/projectcalico.org/v3/ippools", kPool));
  Value upd = created;
  upd["spec"]["natOutgoing"] = true;
  Reply ok = call("PUT", "/apis/projectcalico.org/v3/ippools/pool-a", toJson(upd));
  ASSERT_EQ(ok.response.status, 200) << ok.response.body;
  Reply stale = call("PUT", "/apis/projectcalico.org/v3/ippools/pool-a", toJson(upd));
  EXPECT_EQ(stale.response.status, 409);
  EXPECT_EQ(json(stale).getString("reason"), "Conflict");
  Reply mp = call("PATCH", "/apis/projectcalico.org/v3/ippools/pool-a",
                  R"({"metadata":{"labels":{"team":"net"}}})", "application/merge-patch+json");
  ASSERT_EQ(mp.response.status, 200) << mp.response.body;
  EXPECT_EQ(json(mp).getString("metadata.labels.team"), "net");
  EXPECT_TRUE(json(mp).path("spec.natOutgoing")->asBool());
  Reply imm = call("PATCH", "/apis/projectcalico.org/v3/ippools/pool-a",
                   R"({"spec":{"cidr":"10.9.0.0/16"}})", "application/merge-patch+json");
  EXPECT_EQ(imm.response.status, 422) << imm.response.body;
}

TEST_F(HandlerTest, NamespacedObjectsNeedTheirNamespace) {
  std::string np = R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
    "metadata":{"name":"np1"},"spec":{"podSelector":{}}})";
  Reply r = call("POST", "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies", np);
  EXPECT_EQ(r.response.status, 404) << r.response.body;
  Reply ns = call("POST", "/api/v1/namespaces",
                  R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"}})");
  ASSERT_EQ(ns.response.status, 201) << ns.response.body;
  Value nsObj = json(ns);
  const Value* labels = nsObj.path("metadata.labels");
  ASSERT_TRUE(labels);
  ASSERT_TRUE(labels->find("kubernetes.io/metadata.name"));
  EXPECT_EQ(labels->find("kubernetes.io/metadata.name")->asString(), "prod");
  r = call("POST", "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies", np);
  ASSERT_EQ(r.response.status, 201) << r.response.body;
  EXPECT_EQ(json(r).getString("metadata.namespace"), "prod");
  Reply all = call("GET", "/apis/networking.k8s.io/v1/networkpolicies");
  EXPECT_EQ(json(all)["items"].size(), 1u);
  // Deleting the namespace deletes what it holds.
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/prod").response.status, 200);
  EXPECT_EQ(storeSize(), 0u);
}

TEST_F(HandlerTest, ATierHoldingPoliciesCannotBeDeleted) {
  Reply tier = call("POST", "/apis/projectcalico.org/v3/tiers",
                    R"({"apiVersion":"projectcalico.org/v3","kind":"Tier",
                        "metadata":{"name":"security"},"spec":{"order":100}})");
  ASSERT_EQ(tier.response.status, 201) << tier.response.body;
  Reply gnp = call("POST", "/apis/projectcalico.org/v3/globalnetworkpolicies",
                   R"json({"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy",
                       "metadata":{"name":"security.deny"},"spec":{"tier":"security",
                       "selector":"all()","ingress":[{"action":"Deny"}]}})json");
  ASSERT_EQ(gnp.response.status, 201) << gnp.response.body;
  Reply refused = call("DELETE", "/apis/projectcalico.org/v3/tiers/security");
  EXPECT_EQ(refused.response.status, 403);
  EXPECT_NE(refused.response.body.find(
                "cannot delete a non-empty tier (it holds GlobalNetworkPolicy security.deny)"),
            std::string::npos)
      << refused.response.body;
  EXPECT_EQ(call("GET", "/apis/projectcalico.org/v3/tiers/security").response.status, 200);
  ASSERT_EQ(call("DELETE", "/apis/projectcalico.org/v3/globalnetworkpolicies/security.deny")
                .response.status,
            200);
  EXPECT_EQ(call("DELETE", "/apis/projectcalico.org/v3/tiers/security").response.status, 200);
}

TEST_F(HandlerTest, APolicyMustNameAnExistingTier) {
  ASSERT_TRUE(handler_.bootstrap().isOk()); // the built-in tiers
  const std::string gnp = R"json({"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy",
      "metadata":{"name":"audit.deny"},"spec":{"tier":"audit","selector":"all()",
      "ingress":[{"action":"Deny"}]}})json";
  Reply missing = call("POST", "/apis/projectcalico.org/v3/globalnetworkpolicies", gnp);
  EXPECT_EQ(missing.response.status, 404) << missing.response.body;
  EXPECT_NE(missing.response.body.find(R"(tiers.projectcalico.org \"audit\" not found: spec.tier)"),
            std::string::npos)
      << missing.response.body;
  EXPECT_EQ(
      call("GET", "/apis/projectcalico.org/v3/globalnetworkpolicies/audit.deny").response.status,
      404)
      << "nothing stored";
  ASSERT_EQ(call("POST", "/apis/projectcalico.org/v3/tiers",
                 R"({"apiVersion":"projectcalico.org/v3","kind":"Tier",
                     "metadata":{"name":"audit"},"spec":{"order":50}})")
                .response.status,
            201);
  Reply created = call("POST", "/apis/projectcalico.org/v3/globalnetworkpolicies", gnp);
  ASSERT_EQ(created.response.status, 201) << created.response.body;
  // Moving it to a tier that does not exist is refused too; the stored policy stays.
  Value moved = json(created);
  moved["spec"]["tier"] = "nowhere";
  Reply update =
      call("PUT", "/apis/projectcalico.org/v3/globalnetworkpolicies/audit.deny", toJson(moved));
  EXPECT_EQ(update.response.status, 404) << update.response.body;
  EXPECT_EQ(json(call("GET", "/apis/projectcalico.org/v3/globalnetworkpolicies/audit.deny"))
                .getString("spec.tier"),
            "audit");
  // A namespaced policy without a tier lands in "default", which always exists.
  ASSERT_EQ(call("POST", "/api/v1/namespaces",
                 R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"}})")
                .response.status,
            201);
  EXPECT_EQ(call("POST", "/apis/projectcalico.org/v3/namespaces/prod/networkpolicies",
                 R"json({"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy",
                     "metadata":{"name":"web","namespace":"prod"},"spec":{"selector":"all()"}})json")
                .response.status,
            201);
  // Deleting every tier at once deletes none while one holds policies (or is "default").
  Reply all = call("DELETE", "/apis/projectcalico.org/v3/tiers");
  EXPECT_EQ(all.response.status, 403) << all.response.body;
  EXPECT_EQ(call("GET", "/apis/projectcalico.org/v3/tiers/audit").response.status, 200);
  EXPECT_EQ(call("GET", "/apis/projectcalico.org/v3/tiers/kube-admin").response.status, 200);
}

TEST_F(HandlerTest, LabelSelectorsAndPagination) {
  for (int i = 0; i < 5; ++i) {
    std::string body = R"({"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet",
      "metadata":{"name":"set-)" +
                       std::to_string(i) + R"(","labels":{"parity":")" + (i % 2 ? "odd" : "even") +
                       R"("}},"spec":{"nets":["10.0.)" + std::to_string(i) + R"(.0/24"]}})";
    ASSERT_EQ(call("POST", "/apis/projectcalico.org/v3/globalnetworksets", body).response.status,
              201);
  }
  Reply odd = call("GET", "/apis/projectcalico.org/v3/globalnetworksets", "", "",
                   {{"labelSelector", "parity=odd"}});
  EXPECT_EQ(json(odd)["items"].size(), 2u);
  Reply page =
      call("GET", "/apis/projectcalico.org/v3/globalnetworksets", "", "", {{"limit", "2"}});
  Value p1 = json(page);
  EXPECT_EQ(p1["items"].size(), 2u);
  std::string cont = p1.getString("metadata.continue");
  ASSERT_FALSE(cont.empty());
  Value p2 = json(call("GET", "/apis/projectcalico.org/v3/globalnetworksets", "", "",
                       {{"limit", "2"}, {"continue", cont}}));
  EXPECT_EQ(p2["items"].size(), 2u);
  EXPECT_NE(p2["items"].asArray()[0].getString("metadata.name"),
            p1["items"].asArray()[1].getString("metadata.name"));
  Value p3 = json(call("GET", "/apis/projectcalico.org/v3/globalnetworksets", "", "",
                       {{"limit", "2"}, {"continue", p2.getString("metadata.continue")}}));
  EXPECT_EQ(p3["items"].size(), 1u);
  EXPECT_EQ(p3.getString("metadata.continue"), "");
}

class CollectingSink : public StreamSink {
public:
  bool send(std::shared_ptr<const std::string> chunk) override {
    std::lock_guard<std::mutex> lk(mu);
    text += *chunk;
    return true;
  }
  void close(std::string last) override {
    std::lock_guard<std::mutex> lk(mu);
    text += last;
    closed = true;
  }
  std::string snapshot() {
    std::lock_guard<std::mutex> lk(mu);
    return text;
  }
  std::mutex mu;
  std::string text;
  bool closed = false;
};

TEST_F(HandlerTest, WatchStreamsFromAResourceVersion) {
  Value a = json(call("POST", "/apis/projectcalico.org/v3/ippools", kPool));
  Reply w = call("GET", "/apis/projectcalico.org/v3/ippools", "", "",
                 {{"watch", "true"},
                  {"resourceVersion", a.getString("metadata.resourceVersion")},
                  {"allowWatchBookmarks", "true"}});
  ASSERT_TRUE(w.stream);
  auto sink = std::make_shared<CollectingSink>();
  w.stream->start(sink);
  ASSERT_EQ(call("PATCH", "/apis/projectcalico.org/v3/ippools/pool-a",
                 R"({"spec":{"natOutgoing":true}})", "application/merge-patch+json")
                .response.status,
            200);
  ASSERT_EQ(call("DELETE", "/apis/projectcalico.org/v3/ippools/pool-a").response.status, 200);
  for (int i = 0; i < 50 && sink->snapshot().find("BOOKMARK") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string text = sink->snapshot();
  w.stream->stop();
  size_t mod = text.find("\"type\":\"MODIFIED\"");
  size_t del = text.find("\"type\":\"DELETED\"");
  EXPECT_NE(mod, std::string::npos) << text;
  EXPECT_NE(del, std::string::npos) << text;
  EXPECT_LT(mod, del);
  EXPECT_EQ(text.find("\"type\":\"ADDED\""), std::string::npos) << text;
  EXPECT_NE(text.find("BOOKMARK"), std::string::npos);
}

TEST_F(HandlerTest, WatchFromACompactedRevisionIsGone) {
  for (int i = 0; i < 3; ++i) {
    Value p = *parseJson(kPool);
    p["metadata"]["name"] = "p" + std::to_string(i);
    p["spec"]["cidr"] = "10." + std::to_string(10 + i) + ".0.0/16";
    ASSERT_EQ(call("POST", "/apis/projectcalico.org/v3/ippools", toJson(p)).response.status, 201);
  }
  ASSERT_TRUE(engine_->compact(2).isOk());
  Reply w = call("GET", "/apis/projectcalico.org/v3/ippools", "", "",
                 {{"watch", "true"}, {"resourceVersion", "1"}});
  ASSERT_TRUE(w.stream);
  auto sink = std::make_shared<CollectingSink>();
  w.stream->start(sink);
  EXPECT_TRUE(sink->closed);
  EXPECT_NE(sink->snapshot().find("\"code\":410"), std::string::npos) << sink->snapshot();
}

TEST_F(HandlerTest, AggregatedDiscoveryWhenAsked) {
  Request r;
  r.method = "GET";
  r.path = "/apis";
  r.headers["accept"] = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                        "application/json";
  Reply rep = handler_.handle(r);
  ASSERT_EQ(rep.response.status, 200);
  EXPECT_EQ(rep.response.contentType,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  Value list = json(rep);
  EXPECT_EQ(list.getString("kind"), "APIGroupDiscoveryList");
  bool sawPools = false;
  for (const auto& g : list["items"].asArray()) {
    for (const auto& v : g.find("versions")->asArray()) {
      for (const auto& res : v.find("resources")->asArray()) {
        if (res.getString("resource") == "ippools") {
          sawPools = true;
          EXPECT_EQ(res.getString("scope"), "Cluster");
          EXPECT_EQ(res.getString("responseKind.kind"), "IPPool");
        }
      }
    }
  }
  EXPECT_TRUE(sawPools);
  // Without the aggregated media type, the legacy group list.
  r.headers["accept"] = "application/json";
  EXPECT_EQ(json(handler_.handle(r)).getString("kind"), "APIGroupList");
}

TEST_F(HandlerTest, DiscoveryAndOpenApi) {
  Value core = json(call("GET", "/api/v1"));
  bool sawNs = false;
  for (const auto& r : core["resources"].asArray()) {
    sawNs = sawNs || r.getString("name") == "namespaces";
  }
  EXPECT_TRUE(sawNs);
  Value groups = json(call("GET", "/apis"));
  EXPECT_GE(groups["groups"].size(), 2u);
  Value calico = json(call("GET", "/apis/projectcalico.org/v3"));
  EXPECT_GE(calico["resources"].size(), 15u);
  Value idx = json(call("GET", "/openapi/v3"));
  const Value* entry = idx.path("paths")->find("apis/projectcalico.org/v3");
  ASSERT_TRUE(entry);
  std::string url = entry->getString("serverRelativeURL");
  Value doc = json(call("GET", url.substr(0, url.find('?'))));
  const Value* item = doc.path("paths")->find("/apis/projectcalico.org/v3/ippools/{name}");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->path("patch")->getString("x-kubernetes-group-version-kind.kind"), "IPPool");
}

} // namespace
} // namespace caracal::apiserver
