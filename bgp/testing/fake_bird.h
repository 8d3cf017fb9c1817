#pragma once
// Test helper: a BIRD control-socket stand-in. It listens on a unix socket in a fresh temp dir,
// accepts one client, sends the greeting, then for each scripted (command, reply) pair reads one
// command line, checks it is the expected one and writes the canned reply in 7-byte pieces.
// Header-only so any test target linking GoogleTest can use it.

#include <cstdio>
#include <filesystem>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace caracal::bgp::testing {

class FakeBird {
public:
  using Script = std::vector<std::pair<std::string, std::string>>;

  explicit FakeBird(Script script, std::string greeting = "0001 BIRD 2.0.12 ready.\n")
      : script_(std::move(script)), greeting_(std::move(greeting)) {
    char tmpl[] = "/tmp/fakebird-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    path_ = dir_ + "/bird.ctl";
    listenFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listenFd_, 1) != 0) {
      ADD_FAILURE() << "fake bird cannot listen on " << path_;
      return;
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeBird() {
    if (listenFd_ >= 0) {
      ::shutdown(listenFd_, SHUT_RDWR);
    }
    if (thread_.joinable()) {
      thread_.join();
    }
    if (listenFd_ >= 0) {
      ::close(listenFd_);
    }
    if (!dir_.empty()) {
      std::filesystem::remove_all(dir_);
    }
  }
  FakeBird(const FakeBird&) = delete;
  FakeBird& operator=(const FakeBird&) = delete;

  const std::string& path() const { return path_; }

private:
  void serve() {
    int fd = ::accept(listenFd_, nullptr, nullptr);
    if (fd < 0) {
      return;
    }
    writeAll(fd, greeting_);
    std::string buf;
    for (const auto& [expect, reply] : script_) {
      size_t nl;
      while ((nl = buf.find('\n')) == std::string::npos) {
        char c[256];
        ssize_t n = ::read(fd, c, sizeof(c));
        if (n <= 0) {
          ::close(fd);
          return;
        }
        buf.append(c, static_cast<size_t>(n));
      }
      EXPECT_EQ(buf.substr(0, nl), expect);
      buf.erase(0, nl + 1);
      // In small pieces, so that clients must reassemble lines across reads.
      for (size_t i = 0; i < reply.size(); i += 7) {
        writeAll(fd, reply.substr(i, 7));
      }
    }
    ::close(fd);
  }
  static void writeAll(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::write(fd, s.data() + off, s.size() - off);
      if (n <= 0) {
        return;
      }
      off += static_cast<size_t>(n);
    }
  }

  Script script_;
  std::string greeting_;
  std::string dir_;
  std::string path_;
  int listenFd_ = -1;
  std::thread thread_;
};

} // namespace caracal::bgp::testing
