#include "felix/policy_manager.h"

#include <set>
#include <spdlog/spdlog.h>

namespace caracal::felix {

struct PolicyManager::Impl {
  Impl(PolicyManagerOptions o, std::unique_ptr<PolicyWriter> w)
      : opts(std::move(o)), writer(std::move(w)), calc(opts.nodeName) {}

  PolicyManagerOptions opts;
  std::unique_ptr<PolicyWriter> writer;
  calc::PolicyCalc calc;   // under the worker's lock
  policy::Dataplane state; // the calculation's output so far (the worker thread's)
  bool applied = false;
  Clock::time_point nextResync = Clock::time_point::max();
  PolicyManagerStats stats;
  std::set<std::string> loggedProblems;
};

PolicyManager::PolicyManager(PolicyManagerOptions options, Syncer& syncer,
                             std::unique_ptr<PolicyWriter> writer)
    : SyncedWorker(options.quietPeriod, options.maxDelay),
      impl_(std::make_unique<Impl>(std::move(options), std::move(writer))) {
  syncer.subscribe(this, calc::PolicyCalc::kinds());
}

PolicyManager::~PolicyManager() { stop(); }

void PolicyManager::start() {
  {
    std::lock_guard lock(mutex());
    impl_->nextResync = Clock::now() + impl_->opts.resyncInterval;
  }
  startWorker();
}

void PolicyManager::stop() { stopWorker(); }

PolicyManagerStats PolicyManager::stats() const {
  std::lock_guard lock(mutex());
  return impl_->stats;
}

bool PolicyManager::waitApplied(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex());
  return waitFor(lock, timeout, [this] { return impl_->applied; });
}

void PolicyManager::absorb(const std::vector<Update>& updates) {
  for (const Update& u : updates) {
    impl_->calc.onUpdate(*u.kind, u.key, u.object.get());
  }
}

SyncedWorker::Clock::time_point PolicyManager::pass(std::unique_lock<std::mutex>& lock,
                                                    bool scheduled) {
  Impl& m = *impl_;
  auto t0 = Clock::now();
  // A scheduled pass is a retry after a failure or the periodic resync: both compare with the
  // kernel.
  const bool resync = scheduled;
  if (resync) {
    m.nextResync = t0 + m.opts.resyncInterval;
  }
  policy::DataplaneDelta delta = m.calc.computeDelta();
  policy::applyDelta(m.state, delta);
  const policy::Dataplane& desired = m.state;
  for (const auto& [id, why] : desired.problems) {
    if (m.loggedProblems.insert(id + ": " + why).second) {
      spdlog::warn("policy {} not enforced: {}", id, why);
    }
  }
  lock.unlock();
  if (resync) {
    m.writer->markForResync();
  }
  Status st = m.writer->apply(desired, delta);
  lock.lock();
  m.stats.applies++;
  m.stats.resyncs += resync ? 1 : 0;
  m.stats.lastApply = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  m.stats.endpointChains = desired.endpointChains.size();
  m.stats.policyChains = desired.policyChains.size();
  m.stats.sets = desired.sets.size();
  if (!st) {
    m.stats.failures++;
    if (m.stats.lastError != st.message()) {
      spdlog::error("policy dataplane: {}", st.message());
    }
    m.stats.lastError = st.message();
    return Clock::now() + m.opts.retryInterval;
  }
  m.stats.lastError.clear();
  if (!m.applied) {
    m.applied = true;
    spdlog::info("policy dataplane programmed: {} endpoint chains, {} policy chains, {} sets",
                 desired.endpointChains.size(), desired.policyChains.size(), desired.sets.size());
  }
  notifyAll();
  return m.nextResync;
}

} // namespace caracal::felix
