#pragma once
// The policy half of caracal-node: the shared watch cache in, the node's policy dataplane out.
//
//   Syncer (its thread) ─▶ PolicyManager::onUpdates ─▶ PolicyCalc (pure, incremental)
//   PolicyManager loop thread: once in sync, after a quiet period (bounded delay):
//       calc.computeDelta() ─▶ PolicyWriter::apply (one kernel transaction of what changed)
//   every resyncInterval: the writer re-reads the kernel and repairs drift.
//
// Nothing is written before the syncer is in sync: a restarting node keeps enforcing what the
// kernel holds until it has the whole picture. A failed apply is retried after retryInterval
// (the writer then does a full sync). Policies that do not compile are logged once each (they
// are left out; the rest is enforced).

#include "common/result.h"
#include "felix/calc/policy_calc.h"
#include "felix/synced_worker.h"
#include "felix/syncer.h"
#include "policy/dataplane.h"

#include <chrono>
#include <memory>
#include <string>

namespace caracal::felix {

// A kernel writer of the policy dataplane (nftables, iptables) or a fake.
class PolicyWriter {
public:
  virtual ~PolicyWriter() = default;
  // `state`: the whole desired state; `delta`: what changed since the previous call. A writer
  // that follows deltas takes `state` instead after a failed apply or markForResync().
  virtual Status apply(const policy::Dataplane& state, const policy::DataplaneDelta& delta) = 0;
  // The next apply() compares with the kernel rather than with its own record.
  virtual void markForResync() = 0;
  // Called once before the node opens its watch connections: when the kernel holds nothing of
  // this writer yet, installs the empty dataplane (which allows everything) so that connection
  // tracking sees the node's own connections from their first packet. Host endpoint chains
  // accept only established traffic beyond the failsafe ports; a connection conntrack picked up
  // mid-stream would be dropped. A kernel that already holds the writer's rules is left as is.
  virtual Status prepare() { return {}; }
};

struct PolicyManagerOptions {
  std::string nodeName;
  std::chrono::milliseconds quietPeriod{2};
  std::chrono::milliseconds maxDelay{20};
  std::chrono::milliseconds retryInterval{1000};
  std::chrono::milliseconds resyncInterval{60000};
};

struct PolicyManagerStats {
  uint64_t applies = 0;
  uint64_t failures = 0;
  uint64_t resyncs = 0;
  std::string lastError;
  size_t endpointChains = 0;
  size_t policyChains = 0;
  size_t sets = 0;
  std::chrono::microseconds lastApply{0}; // compute + write of the last apply
};

class PolicyManager : public SyncedWorker {
public:
  // Subscribes to `syncer` (not started yet); the syncer must be stopped before destruction.
  PolicyManager(PolicyManagerOptions options, Syncer& syncer, std::unique_ptr<PolicyWriter> writer);
  ~PolicyManager() override; // stop()

  void start();
  void stop();
  PolicyManagerStats stats() const;
  // Blocks until an apply has succeeded after the syncer was in sync, or `timeout`.
  bool waitApplied(std::chrono::milliseconds timeout) const;

protected:
  void absorb(const std::vector<Update>& updates) override;
  Clock::time_point pass(std::unique_lock<std::mutex>& lock, bool scheduled) override;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::felix
