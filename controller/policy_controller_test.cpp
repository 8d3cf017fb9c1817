#include "api/k8s_policy.h"
#include "controller/policy_controller.h"
#include "felix/fake_source.h"
#include "felix/syncer.h"

#include <gtest/gtest.h>
#include <optional>
#include <thread>

namespace caracal::controller {
namespace {

using namespace std::chrono_literals;

const api::KindInfo& k8sKind() { return *api::findByKind("networking.k8s.io/v1", "NetworkPolicy"); }
const api::KindInfo& calicoKind() {
  return *api::findByKind("projectcalico.org/v3", "NetworkPolicy");
}

Value yaml(const std::string& text) {
  auto v = parseYaml(text);
  EXPECT_TRUE(v.code() == Code::Ok) << text;
  return v ? *v : Value();
}

// A k8s NetworkPolicy allowing TCP `port` from role=fe to app=<name>.
Value knp(const std::string& ns, const std::string& name, int port = 80,
          const std::string& uid = "") {
  Value v = yaml("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " + name +
                 ", namespace: " + ns + "}\nspec:\n  podSelector: {matchLabels: {app: " + name +
                 "}}\n  policyTypes: [Ingress]\n  ingress:\n  - from: [{podSelector: "
                 "{matchLabels: {role: fe}}}]\n    ports: [{protocol: TCP, port: " +
                 std::to_string(port) + "}]\n");
  v["metadata"]["uid"] = uid.empty() ? "uid-" + ns + "-" + name : uid;
  return v;
}

// A Calico NetworkPolicy as the controller would own it (annotation present) or not.
Value calico(const std::string& ns, const std::string& name, bool annotated,
             const std::string& selector = "app == 'x'") {
  Value v = yaml("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: " + name +
                 ", namespace: " + ns + "}\nspec: {tier: default, order: 1000, selector: \"" +
                 selector + "\", types: [Ingress]}\n");
  if (annotated) {
    v["metadata"]["annotations"][api::kSourceNameAnnotation] = "someone";
  }
  return v;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

ControllerOptions fastOptions() {
  ControllerOptions o;
  o.initialBackoff = 20ms;
  o.maxBackoff = 200ms;
  return o;
}

felix::SyncerOptions fastSyncer() {
  felix::SyncerOptions o;
  o.initialBackoff = 5ms;
  o.maxBackoff = 50ms;
  o.resumeAttemptsBeforeRelist = 1;
  return o;
}

// Fake source + fake writer + syncer + controller; stops in the right order.
struct Rig {
  felix::FakeListWatchSource source;
  FakePolicyWriter writer{source};
  std::unique_ptr<felix::Syncer> syncer;
  std::unique_ptr<PolicyController> ctrl;

  void start(ControllerOptions opts = fastOptions(), felix::SyncerOptions so = fastSyncer()) {
    syncer = std::make_unique<felix::Syncer>(source, PolicyController::kinds(), so);
    ctrl = std::make_unique<PolicyController>(writer, opts);
    ctrl->attach(*syncer);
    ctrl->start();
    syncer->start();
  }
  ~Rig() {
    if (syncer) {
      syncer->stop();
    }
    if (ctrl) {
      ctrl->stop();
    }
  }

  std::optional<Value> get(const std::string& key) {
    auto r = source.getObject(calicoKind(), key);
    if (!r) {
      return std::nullopt;
    }
    return *r;
  }
  bool has(const std::string& key) { return get(key).has_value(); }
  // The destination port of the first ingress rule of a Calico policy, or -1.
  int64_t port(const std::string& key) {
    auto p = get(key);
    const Value* v = p ? p->path("spec.ingress") : nullptr;
    if (!v || !v->isArray() || v->size() == 0) {
      return -1;
    }
    const Value* ports = v->asArray()[0].path("destination.ports");
    return ports && ports->isArray() && ports->size() == 1 && ports->asArray()[0].isInt()
               ? ports->asArray()[0].asInt()
               : -1;
  }
  size_t count(const std::string& op) {
    size_t n = 0;
    for (const auto& c : writer.writes()) {
      n += c.op == op && c.result.code() == Code::Ok ? 1 : 0;
    }
    return n;
  }
  // Waits until the controller is idle and the fake's echoes have been seen (two idle checks
  // with a pause between them, as echoes arrive through the syncer thread).
  void settle() {
    ASSERT_TRUE(ctrl->waitIdle(10s));
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(ctrl->waitIdle(10s));
  }
};

std::string annotationOf(const Value& obj, const char* key) {
  const Value* a = obj.path("metadata.annotations");
  const Value* v = a ? a->find(key) : nullptr;
  return v && v->isString() ? v->asString() : "";
}

// ---- planPolicy --------------------------------------------------------------------------------

TEST(PlanPolicy, CreateThenNothingOnceStored) {
  Value src = knp("prod", "web");
  src["metadata"]["resourceVersion"] = "7";
  Plan p = planPolicy(&src, nullptr);
  ASSERT_EQ(p.action, Plan::Action::Create);
  EXPECT_EQ(p.object.getString("metadata.name"), "knp.default.web");
  // What the server stores for it compares equal: no update loop from defaults.
  Value stored = p.object;
  ASSERT_TRUE(api::normalize(calicoKind(), stored).code() == Code::Ok);
  stored["metadata"]["resourceVersion"] = "12";
  stored["metadata"]["annotations"]["user"] = "kept";
  EXPECT_EQ(planPolicy(&src, &stored).action, Plan::Action::None);
  // A new source version is an update that keeps the stored metadata.
  src["metadata"]["resourceVersion"] = "8";
  src["spec"]["ingress"].mutableArray()[0]["ports"].mutableArray()[0]["port"] = Value(int64_t(81));
  Plan u = planPolicy(&src, &stored);
  ASSERT_EQ(u.action, Plan::Action::Update);
  EXPECT_EQ(u.object.getString("metadata.resourceVersion"), "12");
  EXPECT_EQ(annotationOf(u.object, "user"), "kept");
  EXPECT_EQ(annotationOf(u.object, api::kSourceResourceVersionAnnotation), "8");
  EXPECT_EQ(u.object.path("spec.ingress")->asArray()[0].path("destination.ports")->asArray()[0],
            Value(int64_t(81)));
}

TEST(PlanPolicy, OwnershipNeedsPrefixAndAnnotation) {
  Value owned = calico("prod", "knp.default.a", true);
  Value bare = calico("prod", "knp.default.a", false);
  Value other = calico("prod", "mine", true);
  EXPECT_TRUE(isOwned(owned));
  EXPECT_FALSE(isOwned(bare));
  EXPECT_FALSE(isOwned(other));
  EXPECT_EQ(planPolicy(nullptr, &owned).action, Plan::Action::Delete);
  EXPECT_EQ(planPolicy(nullptr, &bare).action, Plan::Action::None);
  EXPECT_EQ(planPolicy(nullptr, &other).action, Plan::Action::None);
  Value src = knp("prod", "a");
  EXPECT_EQ(planPolicy(&src, &bare).action, Plan::Action::SkipForeign);
  EXPECT_EQ(planPolicy(&src, &owned).action, Plan::Action::Update);
}

TEST(PlanPolicy, EventNamesTheObject) {
  Value src = knp("prod", "web", 80, "u-1");
  Value ev =
      makePolicyEvent(src, kReasonRuleDropped, "spec.ingress[1]: bad", "2025-01-01T00:00:00Z");
  EXPECT_EQ(ev.getString("involvedObject.kind"), "NetworkPolicy");
  EXPECT_EQ(ev.getString("involvedObject.apiVersion"), "networking.k8s.io/v1");
  EXPECT_EQ(ev.getString("involvedObject.name"), "web");
  EXPECT_EQ(ev.getString("involvedObject.namespace"), "prod");
  EXPECT_EQ(ev.getString("involvedObject.uid"), "u-1");
  EXPECT_EQ(ev.getString("metadata.namespace"), "prod");
  EXPECT_EQ(ev.getString("metadata.name").rfind("web.", 0), 0u);
  EXPECT_EQ(ev.getString("type"), "Warning");
  EXPECT_EQ(ev.getString("source.component"), kComponentName);
  const api::KindInfo* k = api::findByKind("v1", "Event");
  ASSERT_NE(k, nullptr);
  EXPECT_TRUE(api::normalize(*k, ev).code() == Code::Ok);
  Value other = makePolicyEvent(src, kReasonRuleDropped, "x", "2025-01-01T00:00:00Z");
  EXPECT_NE(other.getString("metadata.name"), ev.getString("metadata.name"));
}

// ---- the controller ----------------------------------------------------------------------------

TEST(PolicyController, CreateUpdateDeleteFollowTheSource) {
  Rig rig;
  rig.start();
  rig.source.apply(k8sKind(), knp("prod", "web", 80, "u-web"));
  ASSERT_TRUE(eventually([&] { return rig.has("prod/knp.default.web"); }));
  Value created = *rig.get("prod/knp.default.web");
  EXPECT_EQ(annotationOf(created, api::kSourceNameAnnotation), "web");
  EXPECT_EQ(annotationOf(created, api::kSourceUidAnnotation), "u-web");
  EXPECT_FALSE(annotationOf(created, api::kSourceResourceVersionAnnotation).empty());
  EXPECT_NE(created.getString("spec.selector").find("app == 'web'"), std::string::npos);
  EXPECT_EQ(rig.port("prod/knp.default.web"), 80);

  rig.source.apply(k8sKind(), knp("prod", "web", 8080, "u-web"));
  ASSERT_TRUE(eventually([&] { return rig.port("prod/knp.default.web") == 8080; }));

  rig.source.remove(k8sKind(), "prod/web");
  ASSERT_TRUE(eventually([&] { return !rig.has("prod/knp.default.web"); }));
  rig.settle();
  EXPECT_EQ(rig.count("create"), 1u);
  EXPECT_EQ(rig.count("update"), 1u);
  EXPECT_EQ(rig.count("remove"), 1u);
  EXPECT_EQ(rig.writer.writes().size(), 3u) << "no extra writes once converged";
  EXPECT_TRUE(rig.writer.events().empty());
}

TEST(PolicyController, OnlyOwnedOrphansAreDeleted) {
  Rig rig;
  auto put = [&](const Value& v) {
    ASSERT_TRUE(rig.source.createObject(calicoKind(), v).code() == Code::Ok);
  };
  put(calico("prod", "knp.default.gone", true));    // owned orphan: deleted
  put(calico("prod", "mine", true));                // foreign name: untouched
  put(calico("prod", "knp.default.manual", false)); // owned-looking, no annotation: untouched
  put(calico("prod", "knp.default.clash", false));  // collides with a k8s policy: untouched
  put(calico("prod", "knp.default.stale", true));   // owned, source present: updated
  rig.source.apply(k8sKind(), knp("prod", "clash"));
  rig.source.apply(k8sKind(), knp("prod", "stale"));
  Value mine = *rig.get("prod/mine");
  Value manual = *rig.get("prod/knp.default.manual");
  Value clash = *rig.get("prod/knp.default.clash");

  rig.start();
  ASSERT_TRUE(eventually([&] { return !rig.has("prod/knp.default.gone"); }));
  ASSERT_TRUE(eventually([&] { return rig.port("prod/knp.default.stale") == 80; }));
  rig.settle();
  EXPECT_EQ(*rig.get("prod/mine"), mine);
  EXPECT_EQ(*rig.get("prod/knp.default.manual"), manual);
  EXPECT_EQ(*rig.get("prod/knp.default.clash"), clash);
  for (const auto& c : rig.writer.writes()) {
    EXPECT_TRUE(c.key == "prod/knp.default.gone" || c.key == "prod/knp.default.stale")
        << c.op << " " << c.key;
  }
  EXPECT_EQ(rig.count("remove"), 1u);
  EXPECT_EQ(rig.count("update"), 1u);
  EXPECT_GE(rig.ctrl->stats().foreignSkipped, 1u);
  Value stale = *rig.get("prod/knp.default.stale");
  EXPECT_EQ(annotationOf(stale, api::kSourceNameAnnotation), "stale");
}

TEST(PolicyController, RelistAfterGoneConverges) {
  Rig rig;
  rig.source.apply(k8sKind(), knp("prod", "a"));
  rig.source.apply(k8sKind(), knp("prod", "b"));
  rig.start();
  ASSERT_TRUE(
      eventually([&] { return rig.has("prod/knp.default.a") && rig.has("prod/knp.default.b"); }));
  rig.settle();
  uint64_t relists = rig.syncer->stats().relists;

  // Changes the watches never report, then history compaction: only a relist can see them.
  rig.source.removeSilently(k8sKind(), "prod/a");
  rig.source.applySilently(k8sKind(), knp("prod", "b", 9090));
  rig.source.applySilently(k8sKind(), knp("dev", "c"));
  rig.source.compact();
  rig.source.closeWatches();

  ASSERT_TRUE(eventually([&] {
    return !rig.has("prod/knp.default.a") && rig.port("prod/knp.default.b") == 9090 &&
           rig.has("dev/knp.default.c");
  }));
  EXPECT_GT(rig.syncer->stats().relists, relists);
}

TEST(PolicyController, FailedWritesAreRetriedWithBackoff) {
  Rig rig;
  rig.writer.failWrites(3, Code::Unavailable);
  rig.source.apply(k8sKind(), knp("prod", "web"));
  auto t0 = std::chrono::steady_clock::now();
  rig.start();
  ASSERT_TRUE(eventually([&] { return rig.has("prod/knp.default.web"); }));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  rig.settle();
  EXPECT_EQ(rig.ctrl->stats().writeFailures, 3u);
  auto writes = rig.writer.writes();
  ASSERT_EQ(writes.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(writes[i].op, "create");
    EXPECT_EQ(writes[i].result.code(), Code::Unavailable);
  }
  EXPECT_TRUE(writes[3].result.code() == Code::Ok);
  // 20 + 40 + 80 ms of backoff before the fourth attempt.
  EXPECT_GE(elapsed, 140ms);
}

TEST(PolicyController, BackoffIsBounded) {
  Rig rig;
  ControllerOptions o = fastOptions();
  o.initialBackoff = 10ms;
  o.maxBackoff = 40ms;
  rig.writer.failWrites(12, Code::Internal);
  rig.source.apply(k8sKind(), knp("prod", "web"));
  auto t0 = std::chrono::steady_clock::now();
  rig.start(o);
  ASSERT_TRUE(eventually([&] { return rig.has("prod/knp.default.web"); }));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  // 10 + 20 + 40 * 10 = 430 ms; unbounded doubling would take more than 40 s.
  EXPECT_GE(elapsed, 400ms);
  EXPECT_LT(elapsed, 5s);
}

TEST(PolicyController, ConflictRereadsAndRecomputes) {
  Rig rig;
  rig.source.apply(k8sKind(), knp("prod", "web"));
  rig.start();
  ASSERT_TRUE(eventually([&] { return rig.port("prod/knp.default.web") == 80; }));
  rig.settle();

  // Someone changes the Calico policy just before our update, without the watch telling us.
  rig.writer.beforeNextUpdate([&] {
    Value cur = *rig.get("prod/knp.default.web");
    cur["metadata"]["annotations"]["note"] = "by hand";
    rig.source.applySilently(calicoKind(), cur);
  });
  rig.source.apply(k8sKind(), knp("prod", "web", 8080));
  ASSERT_TRUE(eventually([&] { return rig.port("prod/knp.default.web") == 8080; }));
  rig.settle();
  EXPECT_GE(rig.ctrl->stats().conflicts, 1u);
  bool conflicted = false;
  bool reread = false;
  for (const auto& c : rig.writer.calls()) {
    conflicted = conflicted || (c.op == "update" && c.result.code() == Code::Conflict);
    reread = reread || (conflicted && c.op == "get");
  }
  EXPECT_TRUE(conflicted);
  EXPECT_TRUE(reread);
  // The recomputed update started from the re-read object: the other writer's change survives.
  EXPECT_EQ(annotationOf(*rig.get("prod/knp.default.web"), "note"), "by hand");
  EXPECT_EQ(rig.ctrl->stats().writeFailures, 0u);
}

TEST(PolicyController, CreateOfAnExistingPolicyRereads) {
  Rig rig;
  rig.start();
  rig.settle();
  // An owned policy appears behind the watch's back; our create then finds it already there.
  Value ghost = calico("prod", "knp.default.web", true);
  ghost["apiVersion"] = "projectcalico.org/v3";
  ASSERT_TRUE(api::normalize(calicoKind(), ghost).code() == Code::Ok);
  rig.source.applySilently(calicoKind(), ghost);
  rig.source.apply(k8sKind(), knp("prod", "web"));
  ASSERT_TRUE(eventually([&] { return rig.port("prod/knp.default.web") == 80; }));
  bool exists = false;
  for (const auto& c : rig.writer.calls()) {
    exists = exists || (c.op == "create" && c.result.code() == Code::AlreadyExists);
  }
  EXPECT_TRUE(exists);
  EXPECT_EQ(rig.count("update"), 1u);
}

TEST(PolicyController, ConversionProblemsAreReportedAndTheRestApplies) {
  Rig rig;
  Value src = knp("prod", "web", 80, "u-web");
  // A second rule the converter must drop (the registry would refuse it; other sources may not).
  Value bad = yaml("from: [{podSelector: {}}]\nports: [{protocol: TCP, port: 0}]");
  src["spec"]["ingress"].push(bad);
  rig.source.apply(k8sKind(), src);
  // A policy that cannot be converted at all (unknown selector operator).
  Value broken = knp("prod", "broken");
  broken["spec"]["podSelector"] = yaml("matchExpressions: [{key: a, operator: Near}]");
  rig.source.apply(k8sKind(), broken);
  rig.start();

  ASSERT_TRUE(eventually([&] { return rig.has("prod/knp.default.web"); }));
  ASSERT_TRUE(eventually([&] { return rig.writer.events().size() == 2; }));
  rig.settle();
  Value applied = *rig.get("prod/knp.default.web");
  EXPECT_EQ(applied.path("spec.ingress")->size(), 1u) << "the valid rule applies";
  EXPECT_EQ(rig.port("prod/knp.default.web"), 80);
  EXPECT_FALSE(rig.has("prod/knp.default.broken"));

  std::map<std::string, Value> byName;
  for (const auto& ev : rig.writer.events()) {
    byName[ev.getString("involvedObject.name")] = ev;
  }
  ASSERT_EQ(byName.count("web"), 1u);
  const Value& ev = byName["web"];
  EXPECT_EQ(ev.getString("reason"), kReasonRuleDropped);
  EXPECT_EQ(ev.getString("type"), "Warning");
  EXPECT_EQ(ev.getString("involvedObject.kind"), "NetworkPolicy");
  EXPECT_EQ(ev.getString("involvedObject.apiVersion"), "networking.k8s.io/v1");
  EXPECT_EQ(ev.getString("involvedObject.namespace"), "prod");
  EXPECT_EQ(ev.getString("involvedObject.uid"), "u-web");
  EXPECT_NE(ev.getString("message").find("spec.ingress[1].ports[0]"), std::string::npos)
      << ev.getString("message");
  ASSERT_EQ(byName.count("broken"), 1u);
  EXPECT_EQ(byName["broken"].getString("reason"), kReasonConversionFailed);
  EXPECT_NE(byName["broken"].getString("message").find("spec.podSelector"), std::string::npos)
      << byName["broken"].getString("message");

  // Reconciling the same source version again reports nothing new; a new version reports again.
  Value touched = applied;
  touched["metadata"]["labels"]["x"] = "y";
  ASSERT_TRUE(rig.source.updateObject(calicoKind(), touched).code() == Code::Ok);
  rig.settle();
  EXPECT_EQ(rig.writer.events().size(), 2u);
  src["metadata"]["labels"]["v"] = "2";
  rig.source.apply(k8sKind(), src);
  ASSERT_TRUE(eventually([&] { return rig.writer.events().size() == 3; }));
}

TEST(PolicyController, NothingIsWrittenBeforeInSync) {
  felix::FakeListWatchSource source;
  FakePolicyWriter writer(source);
  auto orphan = source.createObject(calicoKind(), calico("prod", "knp.default.old", true));
  ASSERT_TRUE(orphan.code() == Code::Ok);
  PolicyController ctrl(writer, fastOptions());
  ctrl.start();
  ctrl.onUpdates({{&calicoKind(), "prod/knp.default.old", std::make_shared<Value>(*orphan)}});
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(ctrl.inSync());
  EXPECT_TRUE(writer.calls().empty()) << "an orphan in a partial view is not deleted";
  ctrl.onInSync();
  ASSERT_TRUE(eventually(
      [&] { return !source.getObject(calicoKind(), "prod/knp.default.old").hasValue(); }));
  ctrl.stop();
}

TEST(PolicyController, FailedListsDelayEverythingUntilInSync) {
  Rig rig;
  // An owned policy whose source exists: a controller acting on the Calico list alone would
  // delete it.
  rig.source.apply(k8sKind(), knp("prod", "web"));
  Value cur = calico("prod", "knp.default.web", true);
  ASSERT_TRUE(rig.source.createObject(calicoKind(), cur).code() == Code::Ok);
  rig.source.failLists(4);
  felix::SyncerOptions so = fastSyncer();
  so.initialBackoff = 50ms;
  rig.start(fastOptions(), so);
  ASSERT_TRUE(eventually([&] { return rig.ctrl->inSync(); }));
  ASSERT_TRUE(eventually([&] { return rig.port("prod/knp.default.web") == 80; }));
  rig.settle();
  EXPECT_EQ(rig.count("remove"), 0u);
  EXPECT_EQ(rig.count("create"), 0u);
  EXPECT_EQ(rig.count("update"), 1u);
}

TEST(PolicyController, TenThousandPoliciesConvergeInOnePass) {
  Rig rig;
  constexpr int kCount = 10000;
  for (int i = 0; i < kCount; ++i) {
    rig.source.apply(k8sKind(), knp("ns" + std::to_string(i % 50), "p" + std::to_string(i)));
  }
  rig.start();
  ASSERT_TRUE(eventually([&] { return rig.source.objects(calicoKind()).size() == kCount; }, 120s));
  rig.settle();
  ControllerStats s = rig.ctrl->stats();
  EXPECT_EQ(s.creates, uint64_t(kCount));
  EXPECT_EQ(s.updates, 0u);
  EXPECT_EQ(s.deletes, 0u);
  EXPECT_EQ(s.fullPasses, 1u);
  EXPECT_EQ(rig.writer.writes().size(), size_t(kCount)) << "one write per policy, no repeats";
}

} // namespace
} // namespace caracal::controller
