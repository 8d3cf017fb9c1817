#include "felix/synced_worker.h"

namespace caracal::felix {

SyncedWorker::SyncedWorker(std::chrono::milliseconds quietPeriod,
                           std::chrono::milliseconds maxDelay)
    : quiet_(quietPeriod), maxDelay_(maxDelay) {}

SyncedWorker::~SyncedWorker() { stopWorker(); }

void SyncedWorker::startWorker() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) {
    return;
  }
  thread_ = std::thread([this] { loop(); });
}

void SyncedWorker::stopWorker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void SyncedWorker::onUpdates(const std::vector<Update>& updates) {
  std::lock_guard lock(mu_);
  absorb(updates);
  Clock::time_point now = Clock::now();
  if (!dirty_) {
    firstPending_ = now;
  }
  dirty_ = true;
  lastPending_ = now;
  cv_.notify_all();
}

void SyncedWorker::onInSync() {
  std::lock_guard lock(mu_);
  inSync_ = true;
  dirty_ = true;
  firstPending_ = lastPending_ = Clock::now();
  cv_.notify_all();
}

void SyncedWorker::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!inSync_) {
      cv_.wait(lock);
      continue;
    }
    Clock::time_point now = Clock::now();
    if (dirty_) {
      Clock::time_point due = std::min(lastPending_ + quiet_, firstPending_ + maxDelay_);
      if (now < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      dirty_ = false;
      wakeAt_ = pass(lock, false);
      continue;
    }
    if (now >= wakeAt_) {
      wakeAt_ = pass(lock, true);
      continue;
    }
    if (wakeAt_ == Clock::time_point::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, wakeAt_);
    }
  }
}

} // namespace caracal::felix
