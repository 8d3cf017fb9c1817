#include "felix/policy_manager.h"

#include <condition_variable>
#include <mutex>
#include <set>
#include <spdlog/spdlog.h>
#include <thread>

namespace caracal::felix {

namespace {
using Clock = std::chrono::steady_clock;
} // namespace

struct PolicyManager::Impl {
  Impl(PolicyManagerOptions o, std::unique_ptr<PolicyWriter> w)
      : opts(std::move(o)), writer(std::move(w)), calc(opts.nodeName) {}

  PolicyManagerOptions opts;
  std::unique_ptr<PolicyWriter> writer;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  calc::PolicyCalc calc; // guarded by mu (updates from the syncer thread, compute on the loop)
  bool inSync = false;
  bool dirty = false;
  bool stopping = false;
  bool applied = false;
  Clock::time_point firstPending{};
  Clock::time_point lastPending{};
  Clock::time_point retryAt = Clock::time_point::max();
  Clock::time_point nextResync = Clock::time_point::max();
  PolicyManagerStats stats;
  std::set<std::string> loggedProblems;
  std::thread thread;

  void pass(std::unique_lock<std::mutex>& lock, bool resync) {
    auto t0 = Clock::now();
    policy::Dataplane desired = calc.compute();
    for (const auto& [id, why] : desired.problems) {
      if (loggedProblems.insert(id + ": " + why).second) {
        spdlog::warn("policy {} not enforced: {}", id, why);
      }
    }
    lock.unlock();
    if (resync) {
      writer->markForResync();
    }
    Status st = writer->apply(desired);
    lock.lock();
    stats.applies++;
    stats.resyncs += resync ? 1 : 0;
    stats.lastApply = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    stats.endpointChains = desired.endpointChains.size();
    stats.policyChains = desired.policyChains.size();
    stats.sets = desired.sets.size();
    if (!st) {
      stats.failures++;
      if (stats.lastError != st.message()) {
        spdlog::error("policy dataplane: {}", st.message());
      }
      stats.lastError = st.message();
      retryAt = Clock::now() + opts.retryInterval;
      return;
    }
    stats.lastError.clear();
    retryAt = Clock::time_point::max();
    if (!applied) {
      applied = true;
      spdlog::info("policy dataplane programmed: {} endpoint chains, {} policy chains, {} sets",
                   desired.endpointChains.size(), desired.policyChains.size(), desired.sets.size());
    }
    cv.notify_all();
  }

  void loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      Clock::time_point now = Clock::now();
      if (!inSync) {
        cv.wait(lock);
        continue;
      }
      if (dirty) {
        Clock::time_point due =
            std::min(lastPending + opts.quietPeriod, firstPending + opts.maxDelay);
        if (now < due) {
          cv.wait_until(lock, due);
          continue;
        }
        dirty = false;
        pass(lock, false);
        continue;
      }
      if (now >= retryAt || now >= nextResync) {
        bool resync = now >= nextResync || retryAt != Clock::time_point::max();
        nextResync = now + opts.resyncInterval;
        pass(lock, resync);
        continue;
      }
      cv.wait_until(lock, std::min(retryAt, nextResync));
    }
  }
};

PolicyManager::PolicyManager(PolicyManagerOptions options, Syncer& syncer,
                             std::unique_ptr<PolicyWriter> writer)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(writer))) {
  syncer.subscribe(this, calc::PolicyCalc::kinds());
}

PolicyManager::~PolicyManager() { stop(); }

void PolicyManager::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->thread.joinable() || impl_->stopping) {
    return;
  }
  impl_->nextResync = Clock::now() + impl_->opts.resyncInterval;
  impl_->thread = std::thread([this] { impl_->loop(); });
}

void PolicyManager::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

PolicyManagerStats PolicyManager::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

bool PolicyManager::waitApplied(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [this] { return impl_->applied; });
}

void PolicyManager::onUpdates(const std::vector<Update>& updates) {
  std::lock_guard lock(impl_->mu);
  for (const Update& u : updates) {
    impl_->calc.onUpdate(*u.kind, u.key, u.object.get());
  }
  Clock::time_point now = Clock::now();
  if (!impl_->dirty) {
    impl_->firstPending = now;
  }
  impl_->dirty = true;
  impl_->lastPending = now;
  impl_->cv.notify_all();
}

void PolicyManager::onInSync() {
  std::lock_guard lock(impl_->mu);
  impl_->inSync = true;
  impl_->dirty = true;
  impl_->firstPending = impl_->lastPending = Clock::now();
  impl_->cv.notify_all();
}

} // namespace caracal::felix
