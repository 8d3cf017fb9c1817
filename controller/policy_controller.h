#pragma once
// caracal-controller's NetworkPolicy reconciler: keeps one Calico NetworkPolicy
// (projectcalico.org/v3, `knp.default.<name>`) per Kubernetes NetworkPolicy (networking.k8s.io/v1),
// converted by api::convertK8sNetworkPolicy.
//
// Level-triggered. Both kinds arrive through a felix::Syncer (list + watch, relist on 410); the
// controller keeps its own view of them, marks the affected target key dirty on every update and
// lets one worker thread compare desired with actual for the dirty keys:
//   - desired, actual missing                    create
//   - desired, actual owned but different        update (compare-and-swap on resourceVersion)
//   - no source, actual owned                    delete (with a resourceVersion precondition)
//   - anything else                              nothing
// "Owned" means: name starts with knp.default. AND the policy.caracal.io/source-name annotation is
// present. Objects that are not owned are never written, even when their name collides with a
// converted policy (that collision is logged instead). "Different" means a different spec or
// different source annotations (name, uid, resourceVersion); other labels and annotations on the
// stored object are left as they are.
//
// Nothing happens before the syncer is in sync: deleting from a partial view would remove
// policies whose source simply has not been listed yet. The in-sync signal (and every periodic
// resync) marks every key dirty; a burst of updates marks only what it touches, so a pass over
// 10k policies is one sweep, not 10k wake-ups.
//
// A failed write is retried for that key with exponential backoff (initialBackoff doubling up to
// maxBackoff); a conflict (Code::Conflict on update or delete, Code::AlreadyExists on create)
// re-reads the object through the writer and recomputes at once, a few times, before falling
// back to the backoff.
//
// A k8s policy with conversion problems is still applied with the rules that convert (the
// converter drops only whole k8s rules, which allows less); each problem is logged and reported
// once per source resourceVersion as a Warning Event on the k8s policy (reason RuleDropped). A
// policy that cannot be converted at all gets a ConversionFailed Event and its existing Calico
// policy, if any, is left untouched (neither updated nor deleted: both could widen access).
//
// Threading: onUpdates/onInSync come from the syncer thread; reconciliation and every writer call
// run on the controller's worker thread. stats(), inSync() and waitIdle() may be called anywhere.

#include "api/registry.h"
#include "common/result.h"
#include "common/value.h"
#include "datastore/rest_client.h"
#include "felix/fake_source.h"
#include "felix/syncer.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace caracal::controller {

// Event reasons on the k8s NetworkPolicy.
constexpr const char* kReasonConversionFailed = "ConversionFailed";
constexpr const char* kReasonRuleDropped = "RuleDropped";
constexpr const char* kComponentName = "caracal-controller";

// Where the controller writes. Calico NetworkPolicies only, plus core v1 Events.
class PolicyWriter {
public:
  virtual ~PolicyWriter() = default;
  // Creates a Calico NetworkPolicy; returns the stored object.
  virtual Result<Value> create(const Value& policy) = 0;
  // Replaces one; metadata.resourceVersion must match the stored one (else Code::Conflict).
  virtual Result<Value> update(const Value& policy) = 0;
  // Deletes one if its resourceVersion is still `resourceVersion` (else Code::Conflict).
  virtual Status remove(const std::string& ns, const std::string& name,
                        const std::string& resourceVersion) = 0;
  // Reads one (after a conflict). Code::NotFound when absent.
  virtual Result<Value> get(const std::string& ns, const std::string& name) = 0;
  // Creates a core v1 Event.
  virtual Status recordEvent(const Value& event) = 0;
};

// The API server through a RestClient (which must outlive the writer).
std::unique_ptr<PolicyWriter> makeRestPolicyWriter(datastore::RestClient& client);

// Writes into a FakeListWatchSource (normalized and compare-and-swapped like the API server, and
// seen again through its watches), records every call and Event, and fails calls on request.
class FakePolicyWriter : public PolicyWriter {
public:
  struct Call {
    std::string op;  // "create", "update", "remove", "get"
    std::string key; // "ns/name"
    Status result;
  };

  explicit FakePolicyWriter(felix::FakeListWatchSource& source);

  // The next `n` writes (create/update/remove) fail with `code` without reaching the source.
  void failWrites(int n, Code code = Code::Unavailable);
  // Runs once, just before the next update reaches the source (to make it race with something).
  void beforeNextUpdate(std::function<void()> fn);

  std::vector<Call> calls() const;
  // Writes only (create/update/remove), in order.
  std::vector<Call> writes() const;
  std::vector<Value> events() const;
  void clear();

  Result<Value> create(const Value& policy) override;
  Result<Value> update(const Value& policy) override;
  Status remove(const std::string& ns, const std::string& name,
                const std::string& resourceVersion) override;
  Result<Value> get(const std::string& ns, const std::string& name) override;
  Status recordEvent(const Value& event) override;

private:
  Status injected(const std::string& op, const std::string& key);
  void record(const std::string& op, const std::string& key, const Status& st);

  felix::FakeListWatchSource& source_;
  mutable std::mutex mu_;
  int failures_ = 0;
  Code failCode_ = Code::Unavailable;
  std::function<void()> beforeUpdate_;
  std::vector<Call> calls_;
  std::vector<Value> events_;
};

// ---- the decision for one key (pure) -----------------------------------------------------------

// True when the controller may write `calicoPolicy`: knp.default. name and source annotation.
bool isOwned(const Value& calicoPolicy);

struct Plan {
  enum class Action { None, Create, Update, Delete, SkipForeign, SkipUnconvertible };
  Action action = Action::None;
  Value object;                      // Create/Update: what to write
  std::vector<std::string> problems; // conversion problems of the source (rules dropped)
  Status conversionError;            // SkipUnconvertible: why
};

// What to do for one target key given the k8s source (null: none) and the stored Calico policy
// (null: none). Pure; the comparison is between stored forms (the desired object is normalized
// with the registry before comparing, so server defaults never cause endless updates).
Plan planPolicy(const Value* k8sPolicy, const Value* calicoPolicy);

// The core v1 Event reporting `reason`/`message` about a k8s NetworkPolicy. `now` is RFC 3339.
Value makePolicyEvent(const Value& k8sPolicy, const std::string& reason, const std::string& message,
                      const std::string& now);

// ---- the controller ----------------------------------------------------------------------------

struct ControllerOptions {
  std::chrono::milliseconds initialBackoff{100};
  std::chrono::milliseconds maxBackoff{10000};
  // Immediate re-read + recompute rounds after a conflict before falling back to the backoff.
  int conflictRetries = 3;
  // A full pass every this often (0: only on in-sync). Repairs anything missed.
  std::chrono::milliseconds resyncInterval{0};
};

struct ControllerStats {
  uint64_t passes = 0;     // worker wake-ups that reconciled at least one key
  uint64_t fullPasses = 0; // passes over every key (in-sync, resync)
  uint64_t keysReconciled = 0;
  uint64_t creates = 0;
  uint64_t updates = 0;
  uint64_t deletes = 0;
  uint64_t conflicts = 0;
  uint64_t writeFailures = 0; // failed writes (other than conflicts), each retried
  uint64_t events = 0;        // Events recorded
  uint64_t foreignSkipped = 0;
};

class PolicyController : public felix::SyncerCallbacks {
public:
  PolicyController(PolicyWriter& writer, ControllerOptions opts = {});
  ~PolicyController() override; // stops
  PolicyController(const PolicyController&) = delete;
  PolicyController& operator=(const PolicyController&) = delete;

  // The kinds the syncer must list and watch: k8s NetworkPolicy, Calico NetworkPolicy.
  static std::vector<const api::KindInfo*> kinds();
  // Subscribes to `syncer` (before syncer.start()).
  void attach(felix::Syncer& syncer);

  // Starts / stops the worker thread. stop() waits for the current write to finish; idempotent.
  void start();
  void stop();

  // SyncerCallbacks (also callable directly by tests).
  void onUpdates(const std::vector<felix::Update>& updates) override;
  void onInSync() override;

  bool inSync() const;
  ControllerStats stats() const;
  // Waits until in sync with nothing dirty, no retry pending and no pass running. False on
  // timeout.
  bool waitIdle(std::chrono::milliseconds timeout) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::controller
