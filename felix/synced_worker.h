#pragma once
// A syncer consumer with a thread of its own that turns bursts of updates into one pass.
//
//   syncer thread: onUpdates → absorb(updates) (under the lock), marks the worker dirty
//   worker thread: once the syncer is in sync and updates have paused for `quietPeriod` (at most
//                  `maxDelay` after the first pending one), or at the time the last pass asked
//                  for (a retry, a periodic resync), calls pass(lock, scheduled) with the lock
//                  held; pass() may unlock around slow work and returns when to run again
//                  unasked (time_point::max(): only on updates).
// Nothing runs before the syncer is in sync, so a pass never sees a partial view. Subclasses keep
// their state under mutex() and notify waiters with notifyAll().

#include "felix/syncer.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace caracal::felix {

class SyncedWorker : public SyncerCallbacks {
public:
  using Clock = std::chrono::steady_clock;

  SyncedWorker(std::chrono::milliseconds quietPeriod, std::chrono::milliseconds maxDelay);
  ~SyncedWorker() override; // stop() must have been called by the subclass's destructor

  void startWorker();
  // Stops the thread (after the pass in progress). Idempotent.
  void stopWorker();

  void onUpdates(const std::vector<Update>& updates) final;
  void onInSync() final;

protected:
  // Takes in updates; the lock is held.
  virtual void absorb(const std::vector<Update>& updates) = 0;
  // One pass, entered with `lock` held. `scheduled`: run because the last pass asked for this
  // time (no update pending). Returns the time of the next unasked pass.
  virtual Clock::time_point pass(std::unique_lock<std::mutex>& lock, bool scheduled) = 0;

  std::mutex& mutex() const { return mu_; }
  void notifyAll() const { cv_.notify_all(); }
  // Waits (lock held by the caller) until `pred` or `timeout`.
  template <typename Pred>
  bool waitFor(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout,
               Pred pred) const {
    return cv_.wait_for(lock, timeout, pred);
  }

private:
  void loop();

  const std::chrono::milliseconds quiet_;
  const std::chrono::milliseconds maxDelay_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool inSync_ = false;
  bool dirty_ = false;
  bool stopping_ = false;
  Clock::time_point firstPending_{};
  Clock::time_point lastPending_{};
  Clock::time_point wakeAt_ = Clock::time_point::max();
  std::thread thread_;
};

} // namespace caracal::felix
