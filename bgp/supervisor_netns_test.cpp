// BirdSupervisor against a real BIRD 2. The supervised BIRD runs in a network namespace that only
// a dedicated test thread enters (unshare(CLONE_NEWNET) on that thread); the namespace disappears
// with its last process. Needs root and /usr/sbin/bird; the backoff tests need neither.

#include "bgp/birdctl.h"
#include "bgp/supervisor.h"
#include "bgp/testing/bird_in_netns.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <sched.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace caracal::bgp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A fresh temp dir, removed on destruction.
class TempDir {
public:
  TempDir() {
    std::string tmpl = "/tmp/bgpsup-" + std::to_string(::getpid()) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
    }
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::filesystem::remove_all(path_);
    }
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

// Polls `pred` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

ino_t netnsInode(const std::string& nsLink) {
  struct stat st {};
  return ::stat(nsLink.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Gone and reaped: not our child any more and no process with that pid.
bool reaped(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD &&
         !std::filesystem::exists("/proc/" + std::to_string(pid));
}

BirdSupervisor::Options optionsIn(const std::string& dir) {
  BirdSupervisor::Options o;
  o.configPath = dir + "/bird.conf";
  o.socketPath = dir + "/bird.ctl";
  o.pidFile = dir + "/bird.pid";
  return o;
}

// Runs `body` on a thread of its own inside a new network namespace with lo up.
void inFreshNetns(const std::function<void()>& body) {
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      return;
    }
    if (testing::runCommand({"ip", "link", "set", "lo", "up"}) != 0) {
      ADD_FAILURE() << "lo up";
      return;
    }
    body();
  });
  t.join();
}

TEST(BirdSupervisorNetns, StartRestartAfterKillAndStop) {
  if (::geteuid() != 0 || ::access(testing::kBirdBinary, X_OK) != 0) {
    GTEST_SKIP() << "needs root and " << testing::kBirdBinary;
  }
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  ino_t hostNs = netnsInode("/proc/thread-self/ns/net");
  ASSERT_NE(hostNs, 0u);

  inFreshNetns([&] {
    ino_t testNs = netnsInode("/proc/thread-self/ns/net");
    ASSERT_NE(testNs, hostNs);
    auto options = optionsIn(dir.path());
    std::ofstream(options.configPath) << "router id 10.99.0.1;\nprotocol device {}\n";
    options.backoffInitial = 100ms;
    BirdSupervisor sup(options);
    pid_t first = 0;
    {
      ASSERT_TRUE(sup.start().isOk());
      EXPECT_EQ(sup.start().code(), Code::AlreadyExists);
      Status ready = sup.waitReady(10s);
      ASSERT_TRUE(ready.isOk()) << ready.str();
      first = sup.pid();
      ASSERT_GT(first, 0);
      EXPECT_TRUE(sup.running());
      EXPECT_EQ(sup.restarts(), 0);
      // BIRD lives in the test namespace, not the host's.
      EXPECT_EQ(netnsInode("/proc/" + std::to_string(first) + "/ns/net"), testNs);
      auto client = BirdClient::connect(options.socketPath);
      ASSERT_TRUE(client) << client.error().str();
      auto status = client->showStatus();
      ASSERT_TRUE(status) << status.error().str();
      EXPECT_NE(status->find("Router ID is 10.99.0.1"), std::string::npos) << *status;
    }

    ASSERT_EQ(::kill(first, SIGKILL), 0);
    ASSERT_TRUE(
        eventually([&] { return sup.restarts() == 1 && sup.pid() > 0 && sup.pid() != first; }, 10s))
        << "restarts=" << sup.restarts() << " pid=" << sup.pid();
    EXPECT_EQ(sup.lastExit(), "killed by signal 9");
    EXPECT_TRUE(reaped(first));
    Status ready = sup.waitReady(10s);
    ASSERT_TRUE(ready.isOk()) << ready.str();
    pid_t second = sup.pid();
    {
      auto client = BirdClient::connect(options.socketPath);
      ASSERT_TRUE(client) << client.error().str();
      EXPECT_TRUE(client->showStatus());
    }
    EXPECT_EQ(sup.restarts(), 1);

    sup.stop();
    EXPECT_FALSE(sup.running());
    EXPECT_EQ(sup.pid(), 0);
    EXPECT_TRUE(reaped(second));
    EXPECT_EQ(sup.restarts(), 1); // stopping is not a restart
    EXPECT_EQ(sup.waitReady(100ms).code(), Code::Unavailable);
    sup.stop(); // idempotent
  });
}

TEST(BirdSupervisorNetns, StopsLeftoverBirdNamedByPidFile) {
  if (::geteuid() != 0 || ::access(testing::kBirdBinary, X_OK) != 0) {
    GTEST_SKIP() << "needs root and " << testing::kBirdBinary;
  }
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  inFreshNetns([&] {
    auto options = optionsIn(dir.path());
    std::ofstream(options.configPath) << "router id 10.99.0.1;\nprotocol device {}\n";
    pid_t old = 0;
    {
      auto previousOptions = options;
      previousOptions.backoffInitial = 60s; // it must not relaunch once the next one stopped it
      BirdSupervisor previous(previousOptions);
      ASSERT_TRUE(previous.start().isOk());
      ASSERT_TRUE(previous.waitReady(10s).isOk());
      old = previous.pid();
      // Leave it running as an agent crash would; stop() below only reaps what is left.
      BirdSupervisor next(options);
      ASSERT_TRUE(next.start().isOk());
      EXPECT_TRUE(eventually([&] { return previous.pid() == 0; }, 10s)) << "leftover not stopped";
      Status ready = next.waitReady(10s);
      ASSERT_TRUE(ready.isOk()) << ready.str();
      EXPECT_NE(next.pid(), old);
      EXPECT_EQ(previous.lastExit(), "exit status 0");
      previous.stop();
      next.stop();
    }
    EXPECT_TRUE(reaped(old));
  });
}

TEST(BirdSupervisor, MissingBinaryFailsStart) {
  TempDir dir;
  auto options = optionsIn(dir.path());
  options.birdBinary = dir.path() + "/no-such-bird";
  BirdSupervisor sup(options);
  Status st = sup.start();
  EXPECT_EQ(st.code(), Code::Unavailable);
  EXPECT_NE(st.message().find("No such file"), std::string::npos) << st.message();
  EXPECT_FALSE(sup.running());
  EXPECT_EQ(sup.waitReady(50ms).code(), Code::Unavailable);
  EXPECT_EQ(BirdSupervisor(BirdSupervisor::Options{}).start().code(), Code::Invalid);
}

TEST(BirdSupervisor, RestartsWithBackoffAndStopsDuringBackoff) {
  // /bin/false exits at once, so every run is short and the backoff keeps doubling.
  TempDir dir;
  auto options = optionsIn(dir.path());
  options.birdBinary = "/bin/false";
  options.backoffInitial = 20ms;
  options.backoffMax = 80ms;
  BirdSupervisor sup(options);
  auto begin = Clock::now();
  ASSERT_TRUE(sup.start().isOk());
  ASSERT_TRUE(eventually([&] { return sup.restarts() >= 5; }, 5s));
  // 20 + 40 + 80 + 80 + 80 ms of waiting at least before the fifth restart.
  EXPECT_GE(Clock::now() - begin, 300ms);
  EXPECT_EQ(sup.lastExit(), "exit status 1");
  Status ready = sup.waitReady(100ms);
  EXPECT_EQ(ready.code(), Code::Timeout);
  EXPECT_NE(ready.message().find("last exit: exit status 1"), std::string::npos) << ready.message();
  sup.stop();
  EXPECT_FALSE(sup.running());

  // stop() does not wait out a pending backoff.
  options.backoffInitial = 60s;
  BirdSupervisor slow(options);
  ASSERT_TRUE(slow.start().isOk());
  ASSERT_TRUE(eventually([&] { return !slow.lastExit().empty(); }, 5s));
  auto stopBegin = Clock::now();
  slow.stop();
  EXPECT_LT(Clock::now() - stopBegin, 1s);
  EXPECT_EQ(slow.restarts(), 0);
}

} // namespace
} // namespace caracal::bgp
