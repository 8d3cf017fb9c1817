#pragma once
// Helpers for tests and benchmark drivers that build small topologies out of named network
// namespaces. Every namespace is created with a unique name (component, PID, suffix) and deleted by
// its guard; every background process is killed and reaped by its guard. Nothing here touches the
// caller's own namespace: commands use `ip -n` / `ip netns exec`, and code runs in a namespace on
// a short-lived thread that setns()'d into it.

#include <arpa/inet.h>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace caracal::testing {

struct CommandResult {
  int rc = -1;
  std::string output; // stdout and stderr
};

// Runs `cmd` with /bin/sh and returns its exit code and combined output.
inline CommandResult runCommand(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline bool isRoot() { return ::geteuid() == 0; }

inline bool haveProgram(const std::string& name) {
  return runCommand("command -v " + name + " >/dev/null").rc == 0;
}

// A named namespace ("<prefix>-<pid>-<suffix>"), deleted on destruction.
class Netns {
public:
  Netns(const std::string& prefix, const std::string& suffix)
      : name_(prefix + "-" + std::to_string(::getpid()) + "-" + suffix) {
    (void)runCommand("ip netns del " + name_);
    ok_ = runCommand("ip netns add " + name_).rc == 0 &&
          runCommand("ip -n " + name_ + " link set lo up").rc == 0;
  }
  ~Netns() { (void)runCommand("ip netns del " + name_); }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  // "ip -n <name> <args>"
  CommandResult ip(const std::string& args) const {
    return runCommand("ip -n " + name_ + " " + args);
  }
  // "ip netns exec <name> <cmd>"
  CommandResult exec(const std::string& cmd) const {
    return runCommand("ip netns exec " + name_ + " " + cmd);
  }

private:
  std::string name_;
  bool ok_ = false;
};

// Runs `fn` on a new thread that first enters the namespace at `netnsPath`; sockets and devices it
// creates belong to that namespace. Returns false when the namespace could not be entered.
inline bool inNetns(const std::string& netnsPath, const std::function<void()>& fn) {
  bool entered = false;
  std::thread t([&] {
    int fd = ::open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return;
    }
    int rc = ::setns(fd, CLONE_NEWNET);
    ::close(fd);
    if (rc != 0) {
      return;
    }
    entered = true;
    fn();
  });
  t.join();
  return entered;
}

// A unique temporary directory, removed with its contents on destruction.
class TempDir {
public:
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
    }
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

inline std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A `sh -c` command in the background, in its own process group, output to `logPath`. The guard
// kills the group (SIGTERM, then SIGKILL) and reaps it unless it already exited.
class BackgroundCommand {
public:
  BackgroundCommand(const std::string& cmd, const std::string& logPath) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (pid_ > 0) {
      ::setpgid(pid_, pid_);
    }
  }
  ~BackgroundCommand() { kill(); }
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;

  bool started() const { return pid_ > 0; }

  // Waits up to `timeout` for the command to exit; its exit code, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        exitCode_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return exitCode_;
  }

  void kill() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(-pid_, SIGTERM);
    if (wait(std::chrono::milliseconds(2000)) == -1 && pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }

private:
  pid_t pid_ = -1;
  int exitCode_ = -1;
};

// Polls `pred` every 20 ms until it holds or `timeout` passes.
inline bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// ICMP echo from `src` to `dst` inside the namespace at `netnsPath` (a raw ICMP socket opened
// there; no `ping` binary needed): sends `count` requests `interval` apart and returns how many
// matching replies arrived before `timeout` after the last request. -1 when the socket could not be
// set up.
inline int icmpPing(const std::string& netnsPath, const std::string& src, const std::string& dst,
                    int count, std::chrono::milliseconds interval = std::chrono::milliseconds(100),
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
  int fd = -1;
  sockaddr_in from{}, to{};
  from.sin_family = to.sin_family = AF_INET;
  if (inet_pton(AF_INET, src.c_str(), &from.sin_addr) != 1 ||
      inet_pton(AF_INET, dst.c_str(), &to.sin_addr) != 1) {
    return -1;
  }
  inNetns(netnsPath, [&] { fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP); });
  if (fd < 0) {
    return -1;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
    ::close(fd);
    return -1;
  }
  auto checksum = [](const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
      sum += static_cast<uint32_t>((p[i] << 8) | p[i + 1]);
    }
    if (n % 2 != 0) {
      sum += static_cast<uint32_t>(p[n - 1] << 8);
    }
    while (sum >> 16) {
      sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum);
  };
  const uint16_t id = static_cast<uint16_t>(::getpid() ^ (reinterpret_cast<uintptr_t>(&fd) >> 4));
  std::vector<bool> seen(static_cast<size_t>(count), false);
  int replies = 0;
  auto drain = [&](std::chrono::steady_clock::time_point until) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) != 1) {
        return;
      }
      uint8_t buf[1500];
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 28) {
        continue;
      }
      size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
      if (static_cast<size_t>(n) < ihl + 8 || std::memcmp(&buf[12], &to.sin_addr, 4) != 0) {
        continue;
      }
      const uint8_t* icmp = buf + ihl;
      uint16_t gotId = static_cast<uint16_t>((icmp[4] << 8) | icmp[5]);
      uint16_t seq = static_cast<uint16_t>((icmp[6] << 8) | icmp[7]);
      if (icmp[0] == 0 && gotId == id && seq < seen.size() && !seen[seq]) {
        seen[seq] = true;
        if (++replies == count) {
          return;
        }
      }
    }
  };
  for (int seq = 0; seq < count; ++seq) {
    uint8_t msg[64] = {8,
                       0,
                       0,
                       0,
                       static_cast<uint8_t>(id >> 8),
                       static_cast<uint8_t>(id),
                       static_cast<uint8_t>(seq >> 8),
                       static_cast<uint8_t>(seq)};
    for (size_t i = 8; i < sizeof(msg); ++i) {
      msg[i] = static_cast<uint8_t>(i);
    }
    uint16_t c = checksum(msg, sizeof(msg));
    msg[2] = static_cast<uint8_t>(c >> 8);
    msg[3] = static_cast<uint8_t>(c);
    (void)::sendto(fd, msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    drain(std::chrono::steady_clock::now() + (seq + 1 < count ? interval : timeout));
    if (replies == count) {
      break;
    }
  }
  ::close(fd);
  return replies;
}

} // namespace caracal::testing
