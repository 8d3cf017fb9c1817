#pragma once
// Test helper: a real BIRD 2 running in the foreground inside a network namespace created for the
// test (`<prefix>-<pid>`), with its config, control socket and pid file in a fresh temp dir. The
// destructor stops BIRD, deletes the namespace and the dir, also when the test failed. Needs root.

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace caracal::bgp::testing {

inline constexpr const char* kBirdBinary = "/usr/sbin/bird";

// Runs argv (searching PATH) and returns its exit status, -1 when it did not exit normally.
inline int runCommand(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class BirdInNetns {
public:
  explicit BirdInNetns(const std::string& prefix) {
    ns_ = prefix + "-" + std::to_string(::getpid());
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) {
      dir_ = tmpl;
    }
    conf_ = dir_ + "/bird.conf";
    sock_ = dir_ + "/bird.ctl";
  }
  ~BirdInNetns() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (nsCreated_) {
      runCommand({"ip", "netns", "delete", ns_});
    }
    if (!dir_.empty()) {
      std::filesystem::remove_all(dir_);
    }
  }
  BirdInNetns(const BirdInNetns&) = delete;
  BirdInNetns& operator=(const BirdInNetns&) = delete;

  // Creates the namespace, brings lo up and starts BIRD with configPath() (which must exist).
  ::testing::AssertionResult start() {
    if (dir_.empty()) {
      return ::testing::AssertionFailure() << "mkdtemp failed";
    }
    if (runCommand({"ip", "netns", "add", ns_}) != 0) {
      return ::testing::AssertionFailure() << "ip netns add " << ns_;
    }
    nsCreated_ = true;
    if (runCommand({"ip", "-n", ns_, "link", "set", "lo", "up"}) != 0) {
      return ::testing::AssertionFailure() << "lo up in " << ns_;
    }
    std::string pidFile = dir_ + "/bird.pid";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("ip", "ip", "netns", "exec", ns_.c_str(), kBirdBinary, "-c", conf_.c_str(), "-s",
               sock_.c_str(), "-P", pidFile.c_str(), "-f", nullptr);
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!std::filesystem::exists(sock_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return ::testing::AssertionFailure() << "bird exited early";
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return ::testing::AssertionFailure() << "no control socket at " << sock_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return ::testing::AssertionSuccess();
  }

  void writeConfig(const std::string& text) const { std::ofstream(conf_) << text; }
  const std::string& dir() const { return dir_; }
  const std::string& configPath() const { return conf_; }
  const std::string& socketPath() const { return sock_; }

private:
  std::string ns_;
  std::string dir_;
  std::string conf_;
  std::string sock_;
  bool nsCreated_ = false;
  pid_t pid_ = -1;
};

} // namespace caracal::bgp::testing
