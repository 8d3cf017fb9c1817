#pragma once
// Runs BIRD as a child process and keeps it running.
//
// `start()` launches `bird -f -c CONFIG -s SOCKET -P PIDFILE [extraArgs...]` and a monitor thread
// that reaps it. When BIRD exits while the supervisor is not stopping, the monitor starts it again
// after a backoff that doubles from `backoffInitial` up to `backoffMax`; a run that lasted at least
// `stableAfter` resets the backoff. `stop()` (and the destructor) sends SIGTERM, waits up to 5 s,
// then SIGKILLs, reaps the child and joins the monitor. With Options::gracefulStop (the default)
// the stop is BIRD's `graceful restart` command instead of SIGTERM, so a restart of the agent does
// not make the peers withdraw this node's routes.
//
// Network namespace: BIRD runs in the network namespace of the thread that calls `start()`. Every
// BIRD process, including restarts, is forked by the monitor thread, which is created by that
// thread and therefore shares its namespace. A caller that switched only its own thread into a
// node's namespace (setns/unshare) gets BIRD in that namespace.
//
// Leftovers of a previous run: before the first launch, if the pid file names a live process whose
// command line is BIRD with the same control socket, that process is stopped (SIGTERM, SIGKILL
// after 5 s) rather than adopted, so the supervisor always owns a child it can reap. A leftover
// socket file is removed before every launch. BIRD is also killed (PR_SET_PDEATHSIG, SIGKILL) when
// the monitor thread goes away, so a crashed agent does not leave an unsupervised BIRD behind; a
// SIGKILL ends the sessions without a Cease, so graceful-restart peers keep the routes meanwhile.

#include "common/result.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace caracal::bgp {

class BirdSupervisor {
public:
  struct Options {
    std::string birdBinary = "/usr/sbin/bird";
    std::string configPath;
    std::string socketPath;
    std::string pidFile;
    std::vector<std::string> extraArgs; // appended after the standard arguments
    std::chrono::milliseconds backoffInitial{200};
    std::chrono::milliseconds backoffMax{10000};
    std::chrono::milliseconds stableAfter{30000}; // a run at least this long resets the backoff
    // stop() asks BIRD for `graceful restart` over the control socket (SIGTERM if that fails):
    // peers keep this node's routes as stale until the next BIRD is back, and with `persist` in
    // the kernel protocol the node's own routes stay. false: plain SIGTERM (peers drop routes).
    bool gracefulStop = true;
    // Called on the monitor thread when BIRD exited (or could not be launched) while not
    // stopping, with the exit ("killed by signal 9") and the wait before the next launch.
    std::function<void(const std::string& exit, std::chrono::milliseconds backoff)>
        onUnexpectedExit;
  };

  explicit BirdSupervisor(Options options);
  ~BirdSupervisor(); // stop()
  BirdSupervisor(const BirdSupervisor&) = delete;
  BirdSupervisor& operator=(const BirdSupervisor&) = delete;

  // Stops a leftover BIRD named by the pid file, removes a stale socket, launches BIRD and the
  // monitor. A supervisor runs once: after a successful start(), later calls (also after stop())
  // are AlreadyExists. Fails (Invalid) on missing options and
  // (Unavailable) when the binary cannot be executed; then nothing keeps running. A BIRD that
  // starts but exits at once (a bad config) is restarted with backoff, not reported here: use
  // waitReady().
  Status start();

  // OK once BirdClient::connect(socketPath) succeeds. Timeout (with the last connect error and
  // the last exit seen) when it does not within `timeout`; Unavailable when not started.
  Status waitReady(std::chrono::milliseconds timeout);

  // SIGTERM, up to 5 s, SIGKILL; reaps the child and joins the monitor. Idempotent.
  void stop();

  // True while a BIRD child exists (false during a backoff wait and after stop()).
  bool running() const;
  // The current child's pid, or 0.
  pid_t pid() const;
  // How many times BIRD was launched again after exiting on its own.
  int restarts() const;
  // "exit status 1", "killed by signal 9" for the most recent exit; empty before any.
  std::string lastExit() const;

  static constexpr std::chrono::seconds kStopGrace{5};

private:
  void monitor();
  // Forks and execs BIRD; returns its pid or the fork/exec error. Called without mu_ held.
  Result<pid_t> launch();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::thread monitor_;
  bool started_ = false;
  bool stopping_ = false;
  bool firstLaunchDone_ = false;
  bool monitorDone_ = false;
  Status firstLaunch_;
  pid_t pid_ = 0;
  int restarts_ = 0;
  std::string lastExit_;
};

} // namespace caracal::bgp
