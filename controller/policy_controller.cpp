#include "controller/policy_controller.h"

#include "api/k8s_policy.h"
#include "common/clock.h"
#include "common/strings.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <set>
#include <spdlog/spdlog.h>
#include <thread>

namespace caracal::controller {

namespace {

using Clock = std::chrono::steady_clock;

const api::KindInfo& k8sPolicyKind() {
  static const api::KindInfo* k = api::findByKind("networking.k8s.io/v1", "NetworkPolicy");
  return *k;
}

const api::KindInfo& calicoPolicyKind() {
  static const api::KindInfo* k = api::findByKind("projectcalico.org/v3", "NetworkPolicy");
  return *k;
}

const char* const kSourceAnnotations[] = {api::kSourceNameAnnotation, api::kSourceUidAnnotation,
                                          api::kSourceResourceVersionAnnotation};

const Value* annotation(const Value& obj, const char* key) {
  const Value* a = obj.path("metadata.annotations");
  return a && a->isObject() ? a->find(key) : nullptr;
}

bool sameAnnotation(const Value& a, const Value& b, const char* key) {
  const Value* x = annotation(a, key);
  const Value* y = annotation(b, key);
  if (!x || !y) {
    return x == y;
  }
  return *x == *y;
}

bool hasPrefix(std::string_view name) {
  return name.substr(0, std::string_view(api::kConvertedPolicyPrefix).size()) ==
         api::kConvertedPolicyPrefix;
}

// "ns/name" split at the first '/'.
std::pair<std::string, std::string> splitKey(const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) {
    return {"", key};
  }
  return {key.substr(0, slash), key.substr(slash + 1)};
}

// The Calico key a k8s key converts to.
std::string targetKey(const std::string& k8sKey) {
  auto [ns, name] = splitKey(k8sKey);
  return ns + "/" + api::kConvertedPolicyPrefix + name;
}

// A resourceVersion as a number, or -1 when it is not one (opaque versions are never compared).
int64_t numericRv(const Value& obj) {
  std::string rv = obj.getString("metadata.resourceVersion");
  if (rv.empty() || rv.size() > 18 || rv.find_first_not_of("0123456789") != std::string::npos) {
    return -1;
  }
  return std::stoll(rv);
}

// Event names follow client-go: "<object name>.<nanoseconds in hex>", a DNS subdomain.
std::string eventName(const std::string& objectName) {
  static std::atomic<uint64_t> seq{0};
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  char hex[24];
  std::snprintf(hex, sizeof(hex), "%llx",
                static_cast<unsigned long long>(ns) + static_cast<unsigned long long>(seq++));
  std::string base = objectName.substr(0, 253 - 1 - std::string(hex).size());
  while (!base.empty() && (base.back() == '.' || base.back() == '-')) {
    base.pop_back();
  }
  return base + "." + hex;
}

constexpr size_t kMaxEventMessage = 1024;

} // namespace

// ---- planning ----------------------------------------------------------------------------------

bool isOwned(const Value& calicoPolicy) {
  return hasPrefix(calicoPolicy.getString("metadata.name")) &&
         annotation(calicoPolicy, api::kSourceNameAnnotation) != nullptr;
}

Plan planPolicy(const Value* k8sPolicy, const Value* calicoPolicy) {
  Plan plan;
  if (!k8sPolicy) {
    if (calicoPolicy && isOwned(*calicoPolicy)) {
      plan.action = Plan::Action::Delete;
    }
    return plan;
  }
  auto conv = api::convertK8sNetworkPolicy(*k8sPolicy);
  if (!conv) {
    plan.action = Plan::Action::SkipUnconvertible;
    plan.conversionError = conv.error();
    return plan;
  }
  plan.problems = conv->problems;
  Value desired = conv->policy;
  // The stored form of what we want, so that server-side defaults compare equal.
  Value stored = desired;
  if (Status st = api::normalize(calicoPolicyKind(), stored); !st) {
    plan.action = Plan::Action::SkipUnconvertible;
    plan.conversionError = st;
    return plan;
  }
  if (!calicoPolicy) {
    plan.action = Plan::Action::Create;
    plan.object = std::move(desired);
    return plan;
  }
  if (!isOwned(*calicoPolicy)) {
    plan.action = Plan::Action::SkipForeign;
    return plan;
  }
  const Value* haveSpec = calicoPolicy->find("spec");
  const Value* wantSpec = stored.find("spec");
  bool same = haveSpec && wantSpec && *haveSpec == *wantSpec;
  for (const char* key : kSourceAnnotations) {
    same = same && sameAnnotation(*calicoPolicy, stored, key);
  }
  if (same) {
    return plan;
  }
  // Keep the stored object's metadata (resourceVersion for compare-and-swap, other labels and
  // annotations); replace the spec and our annotations.
  Value next = *calicoPolicy;
  next.set("spec", wantSpec ? *wantSpec : Value::object());
  Value annotations = Value::object();
  if (const Value* a = calicoPolicy->path("metadata.annotations"); a && a->isObject()) {
    annotations = *a;
  }
  for (const char* key : kSourceAnnotations) {
    annotations.erase(key);
    if (const Value* v = annotation(stored, key)) {
      annotations.set(key, *v);
    }
  }
  next["metadata"].set("annotations", std::move(annotations));
  plan.action = Plan::Action::Update;
  plan.object = std::move(next);
  return plan;
}

Value makePolicyEvent(const Value& k8sPolicy, const std::string& reason, const std::string& message,
                      const std::string& now) {
  std::string name = k8sPolicy.getString("metadata.name");
  std::string ns = k8sPolicy.getString("metadata.namespace");
  Value ev = Value::object();
  ev.set("apiVersion", "v1");
  ev.set("kind", "Event");
  Value meta = Value::object();
  meta.set("name", eventName(name));
  meta.set("namespace", ns);
  ev.set("metadata", std::move(meta));
  Value ref = Value::object();
  ref.set("kind", "NetworkPolicy");
  ref.set("apiVersion", "networking.k8s.io/v1");
  ref.set("name", name);
  ref.set("namespace", ns);
  if (std::string uid = k8sPolicy.getString("metadata.uid"); !uid.empty()) {
    ref.set("uid", uid);
  }
  if (std::string rv = k8sPolicy.getString("metadata.resourceVersion"); !rv.empty()) {
    ref.set("resourceVersion", rv);
  }
  ev.set("involvedObject", std::move(ref));
  ev.set("reason", reason);
  std::string msg = message;
  if (msg.size() > kMaxEventMessage) {
    msg = msg.substr(0, kMaxEventMessage - 3) + "...";
  }
  ev.set("message", msg);
  ev.set("type", "Warning");
  ev.set("count", Value(int64_t(1)));
  ev.set("firstTimestamp", now);
  ev.set("lastTimestamp", now);
  Value source = Value::object();
  source.set("component", kComponentName);
  ev.set("source", std::move(source));
  ev.set("reportingComponent", kComponentName);
  return ev;
}

// ---- writers -----------------------------------------------------------------------------------

namespace {

class RestPolicyWriter : public PolicyWriter {
public:
  explicit RestPolicyWriter(datastore::RestClient& client) : client_(client) {}

  Result<Value> create(const Value& policy) override {
    return client_.create(calicoPolicyKind(), policy);
  }
  Result<Value> update(const Value& policy) override {
    return client_.update(calicoPolicyKind(), policy);
  }
  Status remove(const std::string& ns, const std::string& name,
                const std::string& resourceVersion) override {
    datastore::HttpRequest req;
    req.method = "DELETE";
    req.target = datastore::RestClient::itemPath(calicoPolicyKind(), ns, name);
    if (!resourceVersion.empty()) {
      Value opts = Value::object();
      opts.set("apiVersion", "v1");
      opts.set("kind", "DeleteOptions");
      Value pre = Value::object();
      pre.set("resourceVersion", resourceVersion);
      opts.set("preconditions", std::move(pre));
      req.body = toJson(opts);
      req.setHeader("Content-Type", "application/json");
    }
    auto r = client_.requestJson(std::move(req));
    return r ? Status() : r.error();
  }
  Result<Value> get(const std::string& ns, const std::string& name) override {
    return client_.get(calicoPolicyKind(), ns, name);
  }
  Status recordEvent(const Value& event) override {
    const api::KindInfo* k = api::findByKind("v1", "Event");
    if (!k) {
      return Status(Code::Unavailable, "the API model has no v1 Event kind");
    }
    auto r = client_.create(*k, event);
    return r ? Status() : r.error();
  }

private:
  datastore::RestClient& client_;
};

} // namespace

std::unique_ptr<PolicyWriter> makeRestPolicyWriter(datastore::RestClient& client) {
  return std::make_unique<RestPolicyWriter>(client);
}

FakePolicyWriter::FakePolicyWriter(felix::FakeListWatchSource& source) : source_(source) {}

void FakePolicyWriter::failWrites(int n, Code code) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_ = n;
  failCode_ = code;
}

void FakePolicyWriter::beforeNextUpdate(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  beforeUpdate_ = std::move(fn);
}

std::vector<FakePolicyWriter::Call> FakePolicyWriter::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::vector<FakePolicyWriter::Call> FakePolicyWriter::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Call> out;
  for (const auto& c : calls_) {
    if (c.op != "get") {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<Value> FakePolicyWriter::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

void FakePolicyWriter::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.clear();
  events_.clear();
}

Status FakePolicyWriter::injected(const std::string& op, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_ <= 0) {
    return {};
  }
  --failures_;
  Status st(failCode_, "injected failure");
  calls_.push_back({op, key, st});
  return st;
}

void FakePolicyWriter::record(const std::string& op, const std::string& key, const Status& st) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back({op, key, st});
}

Result<Value> FakePolicyWriter::create(const Value& policy) {
  std::string key = felix::objectKey(calicoPolicyKind(), policy);
  RETURN_IF_ERROR(injected("create", key));
  auto r = source_.createObject(calicoPolicyKind(), policy);
  record("create", key, r ? Status() : r.error());
  return r;
}

Result<Value> FakePolicyWriter::update(const Value& policy) {
  std::string key = felix::objectKey(calicoPolicyKind(), policy);
  RETURN_IF_ERROR(injected("update", key));
  std::function<void()> before;
  {
    std::lock_guard<std::mutex> lock(mu_);
    before = std::move(beforeUpdate_);
    beforeUpdate_ = nullptr;
  }
  if (before) {
    before();
  }
  auto r = source_.updateObject(calicoPolicyKind(), policy);
  record("update", key, r ? Status() : r.error());
  return r;
}

Status FakePolicyWriter::remove(const std::string& ns, const std::string& name,
                                const std::string& resourceVersion) {
  std::string key = ns + "/" + name;
  RETURN_IF_ERROR(injected("remove", key));
  Status st = source_.removeObject(calicoPolicyKind(), key, resourceVersion);
  record("remove", key, st);
  return st;
}

Result<Value> FakePolicyWriter::get(const std::string& ns, const std::string& name) {
  std::string key = ns + "/" + name;
  auto r = source_.getObject(calicoPolicyKind(), key);
  record("get", key, r ? Status() : r.error());
  return r;
}

Status FakePolicyWriter::recordEvent(const Value& event) {
  const api::KindInfo* k = api::findByKind("v1", "Event");
  Value v = event;
  if (k) {
    RETURN_IF_ERROR(api::normalize(*k, v)); // what the API server would check
  }
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(v));
  return {};
}

// ---- the controller ----------------------------------------------------------------------------

struct PolicyController::Impl {
  PolicyWriter& writer;
  ControllerOptions opts;

  struct Retry {
    std::chrono::milliseconds backoff{0};
    Clock::time_point at;
  };

  mutable std::mutex mu;
  mutable std::condition_variable cv;     // wakes the worker
  mutable std::condition_variable idleCv; // wakes waitIdle()
  // Both views are keyed by the target key "ns/knp.default.<name>".
  std::map<std::string, std::shared_ptr<const Value>> k8s;
  std::map<std::string, std::shared_ptr<const Value>> calico; // knp.default.* names only
  std::set<std::string> dirty;
  std::map<std::string, Retry> retries;
  std::map<std::string, std::string> reported; // key -> source uid/resourceVersion reported
  bool fullPass = false;
  bool synced = false;
  bool stopping = false;
  bool busy = false;
  Clock::time_point nextResync;
  ControllerStats stats;
  std::thread worker;

  Impl(PolicyWriter& w, ControllerOptions o) : writer(w), opts(o) {}

  void markDirtyLocked(const std::string& key) {
    if (retries.count(key) == 0) {
      dirty.insert(key);
    }
  }

  bool idleLocked() const {
    return synced && dirty.empty() && retries.empty() && !busy && !fullPass;
  }

  void run();
  void reconcile(const std::string& key);
  void report(const std::string& key, const std::shared_ptr<const Value>& src, const Plan& plan);
  void scheduleRetry(const std::string& key);
  void clearRetry(const std::string& key);
  // After a write or a re-read: the view of `key` becomes `now` (null: absent), unless the syncer
  // has replaced `before` meanwhile (its copy is then newer).
  void replaceView(const std::string& key, const std::shared_ptr<const Value>& before,
                   std::shared_ptr<const Value> now);
};

void PolicyController::Impl::run() {
  std::unique_lock<std::mutex> lock(mu);
  while (!stopping) {
    if (!synced) {
      cv.wait(lock);
      continue;
    }
    Clock::time_point now = Clock::now();
    if (opts.resyncInterval.count() > 0 && now >= nextResync) {
      fullPass = true;
      nextResync = now + opts.resyncInterval;
    }
    std::vector<std::string> batch;
    bool full = fullPass;
    if (fullPass) {
      std::set<std::string> all;
      for (const auto& kv : k8s) {
        all.insert(kv.first);
      }
      for (const auto& kv : calico) {
        all.insert(kv.first);
      }
      for (const auto& key : all) {
        auto r = retries.find(key);
        if (r == retries.end() || r->second.at <= now) {
          batch.push_back(key);
        }
      }
      fullPass = false;
      dirty.clear();
    } else {
      batch.assign(dirty.begin(), dirty.end());
      dirty.clear();
      for (const auto& [key, r] : retries) {
        if (r.at <= now) {
          batch.push_back(key);
        }
      }
    }
    if (batch.empty()) {
      Clock::time_point wake = Clock::time_point::max();
      for (const auto& kv : retries) {
        wake = std::min(wake, kv.second.at);
      }
      if (opts.resyncInterval.count() > 0) {
        wake = std::min(wake, nextResync);
      }
      idleCv.notify_all();
      if (wake == Clock::time_point::max()) {
        cv.wait(lock);
      } else {
        cv.wait_until(lock, wake);
      }
      continue;
    }
    busy = true;
    ++stats.passes;
    if (full) {
      ++stats.fullPasses;
    }
    lock.unlock();
    for (const auto& key : batch) {
      {
        std::lock_guard<std::mutex> g(mu);
        if (stopping) {
          break;
        }
      }
      reconcile(key);
    }
    lock.lock();
    busy = false;
    stats.keysReconciled += batch.size();
    if (idleLocked()) {
      idleCv.notify_all();
    }
  }
  busy = false;
  idleCv.notify_all();
}

void PolicyController::Impl::scheduleRetry(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu);
  Retry& r = retries[key];
  r.backoff =
      r.backoff.count() == 0 ? opts.initialBackoff : std::min(opts.maxBackoff, r.backoff * 2);
  r.at = Clock::now() + r.backoff;
  dirty.erase(key);
  spdlog::debug("retrying {} in {} ms", key, r.backoff.count());
}

void PolicyController::Impl::clearRetry(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu);
  retries.erase(key);
}

void PolicyController::Impl::replaceView(const std::string& key,
                                         const std::shared_ptr<const Value>& before,
                                         std::shared_ptr<const Value> now) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = calico.find(key);
  std::shared_ptr<const Value> cur = it == calico.end() ? nullptr : it->second;
  if (cur != before) {
    return;
  }
  if (now) {
    calico[key] = std::move(now);
  } else if (it != calico.end()) {
    calico.erase(it);
  }
}

void PolicyController::Impl::report(const std::string& key, const std::shared_ptr<const Value>& src,
                                    const Plan& plan) {
  if (!src) {
    std::lock_guard<std::mutex> lock(mu);
    reported.erase(key);
    return;
  }
  bool failed = plan.action == Plan::Action::SkipUnconvertible;
  if (!failed && plan.problems.empty()) {
    std::lock_guard<std::mutex> lock(mu);
    reported.erase(key);
    return;
  }
  std::string identity =
      src->getString("metadata.uid") + "/" + src->getString("metadata.resourceVersion");
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = reported.find(key);
    if (it != reported.end() && it->second == identity) {
      return;
    }
  }
  std::string who = "NetworkPolicy " + src->getString("metadata.namespace") + "/" +
                    src->getString("metadata.name");
  std::string reason;
  std::string message;
  if (failed) {
    reason = kReasonConversionFailed;
    message = "cannot convert to a Calico NetworkPolicy (the existing one, if any, is kept): " +
              plan.conversionError.message();
    spdlog::warn("{}: {}", who, message);
  } else {
    reason = kReasonRuleDropped;
    message = std::to_string(plan.problems.size()) +
              (plan.problems.size() == 1 ? " problem" : " problems") +
              " converting to a Calico NetworkPolicy; the rules that convert are applied: " +
              join(plan.problems, "; ");
    for (const auto& p : plan.problems) {
      spdlog::warn("{}: {}", who, p);
    }
  }
  Status st = writer.recordEvent(makePolicyEvent(*src, reason, message, nowRfc3339()));
  if (!st) {
    spdlog::warn("{}: recording a {} Event: {}", who, reason, st.message());
    return; // tried again at the next reconciliation of this key
  }
  std::lock_guard<std::mutex> lock(mu);
  reported[key] = identity;
  ++stats.events;
}

void PolicyController::Impl::reconcile(const std::string& key) {
  auto [ns, name] = splitKey(key);
  for (int round = 0; round <= opts.conflictRetries; ++round) {
    std::shared_ptr<const Value> src;
    std::shared_ptr<const Value> have;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (auto it = k8s.find(key); it != k8s.end()) {
        src = it->second;
      }
      if (auto it = calico.find(key); it != calico.end()) {
        have = it->second;
      }
    }
    Plan plan = planPolicy(src.get(), have.get());
    report(key, src, plan);
    Status st;
    std::shared_ptr<const Value> written;
    switch (plan.action) {
    case Plan::Action::None:
    case Plan::Action::SkipUnconvertible:
      clearRetry(key);
      return;
    case Plan::Action::SkipForeign: {
      spdlog::warn("Calico NetworkPolicy {} has the name of a converted policy but no {} "
                   "annotation: leaving it alone (NetworkPolicy {}/{} is not applied)",
                   key, api::kSourceNameAnnotation, ns,
                   name.substr(std::string_view(api::kConvertedPolicyPrefix).size()));
      std::lock_guard<std::mutex> lock(mu);
      ++stats.foreignSkipped;
      retries.erase(key);
      return;
    }
    case Plan::Action::Create: {
      auto r = writer.create(plan.object);
      if (r) {
        written = std::make_shared<const Value>(std::move(*r));
      } else {
        st = r.error();
      }
      break;
    }
    case Plan::Action::Update: {
      auto r = writer.update(plan.object);
      if (r) {
        written = std::make_shared<const Value>(std::move(*r));
      } else {
        st = r.error();
      }
      break;
    }
    case Plan::Action::Delete:
      st = writer.remove(ns, name, have->getString("metadata.resourceVersion"));
      if (st.code() == Code::NotFound) {
        st = Status(); // already gone
      }
      break;
    }
    if (st) {
      replaceView(key, have, written);
      std::lock_guard<std::mutex> lock(mu);
      retries.erase(key);
      if (plan.action == Plan::Action::Create) {
        ++stats.creates;
        spdlog::info("created Calico NetworkPolicy {}", key);
      } else if (plan.action == Plan::Action::Update) {
        ++stats.updates;
        spdlog::info("updated Calico NetworkPolicy {}", key);
      } else {
        ++stats.deletes;
        spdlog::info("deleted Calico NetworkPolicy {} (its NetworkPolicy is gone)", key);
      }
      return;
    }
    bool conflict = st.code() == Code::Conflict || st.code() == Code::AlreadyExists ||
                    (plan.action == Plan::Action::Update && st.code() == Code::NotFound);
    if (!conflict) {
      {
        std::lock_guard<std::mutex> lock(mu);
        ++stats.writeFailures;
      }
      spdlog::warn("writing Calico NetworkPolicy {}: {}", key, st.message());
      scheduleRetry(key);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.conflicts;
    }
    spdlog::debug("Calico NetworkPolicy {}: {}; reading it again", key, st.message());
    auto fresh = writer.get(ns, name);
    if (fresh) {
      replaceView(key, have, std::make_shared<const Value>(std::move(*fresh)));
    } else if (fresh.error().code() == Code::NotFound) {
      replaceView(key, have, nullptr);
    } else {
      spdlog::warn("reading Calico NetworkPolicy {}: {}", key, fresh.error().message());
      scheduleRetry(key);
      return;
    }
  }
  scheduleRetry(key);
}

PolicyController::PolicyController(PolicyWriter& writer, ControllerOptions opts)
    : impl_(std::make_unique<Impl>(writer, opts)) {}

PolicyController::~PolicyController() { stop(); }

std::vector<const api::KindInfo*> PolicyController::kinds() {
  return {&k8sPolicyKind(), &calicoPolicyKind()};
}

void PolicyController::attach(felix::Syncer& syncer) { syncer.subscribe(this, kinds()); }

void PolicyController::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->worker.joinable()) {
    return;
  }
  impl_->stopping = false;
  impl_->nextResync = Clock::now() + impl_->opts.resyncInterval;
  impl_->worker = std::thread([this] { impl_->run(); });
}

void PolicyController::stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    t = std::move(impl_->worker);
  }
  impl_->cv.notify_all();
  if (t.joinable()) {
    t.join();
  }
}

void PolicyController::onUpdates(const std::vector<felix::Update>& updates) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  bool any = false;
  for (const auto& u : updates) {
    if (u.kind == &k8sPolicyKind()) {
      std::string key = targetKey(u.key);
      if (u.object) {
        impl_->k8s[key] = u.object;
      } else {
        impl_->k8s.erase(key);
      }
      impl_->markDirtyLocked(key);
      any = true;
    } else if (u.kind == &calicoPolicyKind()) {
      if (!hasPrefix(splitKey(u.key).second)) {
        continue; // never ours, never touched
      }
      auto it = impl_->calico.find(u.key);
      if (u.object) {
        // A late event older than what a write already told us is ignored (numeric versions).
        if (it != impl_->calico.end()) {
          int64_t have = numericRv(*it->second);
          int64_t got = numericRv(*u.object);
          if (have >= 0 && got >= 0 && got < have) {
            continue;
          }
        }
        impl_->calico[u.key] = u.object;
      } else if (it != impl_->calico.end()) {
        impl_->calico.erase(it);
      }
      impl_->markDirtyLocked(u.key);
      any = true;
    }
  }
  if (any && impl_->synced) {
    impl_->cv.notify_all();
  }
}

void PolicyController::onInSync() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->synced = true;
    impl_->fullPass = true;
  }
  spdlog::info("NetworkPolicy controller in sync: reconciling every policy");
  impl_->cv.notify_all();
}

bool PolicyController::inSync() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->synced;
}

ControllerStats PolicyController::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

bool PolicyController::waitIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->idleCv.wait_for(lock, timeout, [this] { return impl_->idleLocked(); });
}

} // namespace caracal::controller
