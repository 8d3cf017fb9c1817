#include "bgp/supervisor.h"

#include "bgp/birdctl.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace caracal::bgp {
namespace {

using Clock = std::chrono::steady_clock;

std::string describeExit(int status) {
  if (WIFEXITED(status)) {
    return "exit status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "status " + std::to_string(status);
}

// The NUL-separated command line of `pid`; empty when the process is gone or a zombie.
std::vector<std::string> commandLine(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) {
    args.push_back(arg);
  }
  return args;
}

bool isBirdOnSocket(pid_t pid, const std::string& socketPath) {
  auto args = commandLine(pid);
  if (args.empty() ||
      std::filesystem::path(args[0]).filename().string().find("bird") == std::string::npos) {
    return false;
  }
  return std::find(args.begin() + 1, args.end(), socketPath) != args.end();
}

// Asks the BIRD serving `socketPath` to shut down for graceful restart: it exits without telling
// its peers to drop its routes (they keep them as stale until it is back), and its kernel routes
// stay. False when nothing answers or BIRD refuses.
bool askGracefulRestart(const std::string& socketPath) {
  if (socketPath.empty()) {
    return false;
  }
  auto client = BirdClient::connect(socketPath, std::chrono::milliseconds(2000));
  if (!client) {
    return false;
  }
  auto reply = client->request("graceful restart");
  return reply && replyStatus(*reply).isOk();
}

// Stops a BIRD from an earlier run that the pid file names, if it serves the same socket. It is
// not our child, so it is polled rather than reaped.
void stopLeftover(const std::string& pidFile, const std::string& socketPath) {
  if (pidFile.empty()) {
    return;
  }
  std::ifstream in(pidFile);
  long value = 0;
  if (!(in >> value) || value <= 1 || value == ::getpid()) {
    return;
  }
  auto pid = static_cast<pid_t>(value);
  if (!isBirdOnSocket(pid, socketPath)) {
    return;
  }
  auto gone = [pid] { return ::kill(pid, 0) != 0 || commandLine(pid).empty(); };
  if (!askGracefulRestart(socketPath)) {
    ::kill(pid, SIGTERM);
  }
  auto deadline = Clock::now() + BirdSupervisor::kStopGrace;
  while (!gone() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!gone()) {
    ::kill(pid, SIGKILL);
    deadline = Clock::now() + std::chrono::seconds(1);
    while (!gone() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

} // namespace

BirdSupervisor::BirdSupervisor(Options options) : options_(std::move(options)) {}

BirdSupervisor::~BirdSupervisor() { stop(); }

Status BirdSupervisor::start() {
  if (options_.birdBinary.empty() || options_.configPath.empty() || options_.socketPath.empty() ||
      options_.pidFile.empty()) {
    return Status(Code::Invalid, "bird supervisor needs a binary, config, socket and pid file");
  }
  std::unique_lock lock(mu_);
  if (started_) {
    return Status(Code::AlreadyExists, "bird supervisor already started");
  }
  started_ = true;
  lock.unlock();

  stopLeftover(options_.pidFile, options_.socketPath);

  lock.lock();
  monitor_ = std::thread([this] { monitor(); });
  cv_.wait(lock, [this] { return firstLaunchDone_; });
  if (firstLaunch_.isOk()) {
    return Status::ok();
  }
  Status failed = firstLaunch_;
  std::thread t = std::move(monitor_);
  lock.unlock();
  t.join();
  lock.lock();
  started_ = false;
  firstLaunchDone_ = false;
  monitorDone_ = false;
  firstLaunch_ = Status::ok();
  return failed;
}

Result<pid_t> BirdSupervisor::launch() {
  std::error_code ec;
  std::filesystem::remove(options_.socketPath, ec);

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args = {
      options_.birdBinary, "-f", "-c", options_.configPath, "-s", options_.socketPath, "-P",
      options_.pidFile};
  args.insert(args.end(), options_.extraArgs.begin(), options_.extraArgs.end());
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  int errPipe[2];
  if (::pipe2(errPipe, O_CLOEXEC) != 0) {
    return Status(Code::Internal, std::string("pipe: ") + std::strerror(errno));
  }
  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    int err = errno;
    ::close(errPipe[0]);
    ::close(errPipe[1]);
    return Status(Code::Unavailable, std::string("fork: ") + std::strerror(err));
  }
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
      ::signal(sig, SIG_DFL);
    }
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(1);
    }
    ::setpgid(0, 0); // terminal signals go to the agent, which stops BIRD in order
    int w = errPipe[1];
    if (w > 3) {
      ::close_range(3, static_cast<unsigned>(w - 1), 0);
    }
    ::close_range(static_cast<unsigned>(w + 1), ~0U, 0);
    ::execv(argv[0], argv.data());
    int err = errno;
    [[maybe_unused]] auto n = ::write(w, &err, sizeof(err));
    ::_exit(127);
  }
  ::close(errPipe[1]);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(errPipe[0], &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  ::close(errPipe[0]);
  if (n == static_cast<ssize_t>(sizeof(err))) {
    int status = 0;
    ::waitpid(child, &status, 0);
    return Status(Code::Unavailable,
                  "exec " + options_.birdBinary + ": " + std::string(std::strerror(err)));
  }
  return child;
}

void BirdSupervisor::monitor() {
  auto backoff = options_.backoffInitial;
  bool first = true;
  std::unique_lock lock(mu_);
  while (true) {
    lock.unlock();
    auto launchedAt = Clock::now();
    Result<pid_t> child = launch();
    lock.lock();
    if (first) {
      first = false;
      firstLaunch_ = child.status();
      firstLaunchDone_ = true;
      cv_.notify_all();
      if (!child) {
        break;
      }
    }
    if (child) {
      pid_ = *child;
      if (stopping_) {
        ::kill(pid_, SIGTERM); // stop() ran while we were launching
      }
      lock.unlock();
      // Wait without reaping, so pid_ keeps naming our (possibly zombie) child until it is
      // cleared under the lock: stop() never signals a recycled pid.
      siginfo_t info{};
      while (::waitid(P_PID, static_cast<id_t>(*child), &info, WEXITED | WNOWAIT) != 0 &&
             errno == EINTR) {
      }
      lock.lock();
      int status = 0;
      ::waitpid(*child, &status, 0);
      pid_ = 0;
      lastExit_ = describeExit(status);
    } else {
      lastExit_ = child.error().message();
    }
    if (stopping_) {
      break;
    }
    if (Clock::now() - launchedAt >= options_.stableAfter) {
      backoff = options_.backoffInitial;
    }
    if (options_.onUnexpectedExit) {
      auto cb = options_.onUnexpectedExit;
      std::string why = lastExit_;
      lock.unlock();
      cb(why, backoff);
      lock.lock();
      if (stopping_) {
        break;
      }
    }
    cv_.wait_for(lock, backoff, [this] { return stopping_; });
    if (stopping_) {
      break;
    }
    backoff = std::min(backoff * 2, options_.backoffMax);
    ++restarts_;
  }
  monitorDone_ = true;
  cv_.notify_all();
}

Status BirdSupervisor::waitReady(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  Status last(Code::Unavailable, "not tried");
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (!started_ || stopping_) {
        return Status(Code::Unavailable, "bird supervisor is not running");
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto client =
        BirdClient::connect(options_.socketPath, std::clamp(left, std::chrono::milliseconds(50),
                                                            std::chrono::milliseconds(1000)));
    if (client) {
      return Status::ok();
    }
    last = client.error();
    if (Clock::now() >= deadline) {
      std::string exit = lastExit();
      return Status(Code::Timeout, "bird not ready at " + options_.socketPath + ": " +
                                       last.message() +
                                       (exit.empty() ? "" : " (last exit: " + exit + ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void BirdSupervisor::stop() {
  std::unique_lock lock(mu_);
  if (!started_) {
    return;
  }
  if (!stopping_) {
    stopping_ = true;
    bool asked = false;
    if (pid_ > 0 && options_.gracefulStop) {
      lock.unlock();
      asked = askGracefulRestart(options_.socketPath);
      lock.lock();
    }
    if (!asked && pid_ > 0) {
      ::kill(pid_, SIGTERM);
    }
    cv_.notify_all();
  }
  if (!cv_.wait_for(lock, kStopGrace, [this] { return monitorDone_; })) {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
    }
    cv_.wait(lock, [this] { return monitorDone_; });
  }
  std::thread t = std::move(monitor_);
  lock.unlock();
  if (t.joinable()) {
    t.join();
  }
}

bool BirdSupervisor::running() const {
  std::lock_guard lock(mu_);
  return pid_ > 0;
}

pid_t BirdSupervisor::pid() const {
  std::lock_guard lock(mu_);
  return pid_;
}

int BirdSupervisor::restarts() const {
  std::lock_guard lock(mu_);
  return restarts_;
}

std::string BirdSupervisor::lastExit() const {
  std::lock_guard lock(mu_);
  return lastExit_;
}

} // namespace caracal::bgp
