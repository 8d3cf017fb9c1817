#pragma once
// Signals taken synchronously by one thread. Construct BlockedSignals before any thread starts
// (threads inherit the mask, so none of them is interrupted), then call wait() in the main thread.

#include <csignal>
#include <initializer_list>
#include <pthread.h>

namespace caracal {

class BlockedSignals {
public:
  // Blocks `signals` in the calling thread (and so in every thread it starts afterwards).
  explicit BlockedSignals(std::initializer_list<int> signals) {
    sigemptyset(&set_);
    for (int s : signals) {
      sigaddset(&set_, s);
    }
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }

  // Waits for the next of the blocked signals and returns its number.
  int wait() const {
    int sig = 0;
    while (sigwait(&set_, &sig) != 0) {
    }
    return sig;
  }

private:
  sigset_t set_;
};

} // namespace caracal
