// A TCP relay from a listener in one network namespace to a destination reached from another.
#include "tools/labtool/labtool.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace caracal::labtool {

namespace {

constexpr int kConnectTimeoutMs = 5000;
constexpr size_t kRelayBuf = 64 * 1024;

sockaddr_in toSockaddr(const HostPort& hp) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(hp.port);
  inet_pton(AF_INET, hp.host.c_str(), &sa.sin_addr);
  return sa;
}

// Connects within kConnectTimeoutMs; returns the fd or -1.
int connectWithTimeout(const HostPort& to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in sa = toSockaddr(to);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (errno != EINPROGRESS) {
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    if (poll(&p, 1, kConnectTimeoutMs) <= 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      close(fd);
      return -1;
    }
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Copies what is readable on `from` to `to` (blocking writes). False on EOF or error.
bool pump(int from, int to, std::vector<char>& buf) {
  ssize_t n = recv(from, buf.data(), buf.size(), MSG_DONTWAIT);
  if (n < 0) {
    return errno == EAGAIN || errno == EINTR;
  }
  if (n == 0) {
    return false;
  }
  size_t off = 0;
  while (off < static_cast<size_t>(n)) {
    ssize_t w = send(to, buf.data() + off, static_cast<size_t>(n) - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        pollfd p{to, POLLOUT, 0};
        poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    off += static_cast<size_t>(w);
  }
  return true;
}

} // namespace

Forwarder::~Forwarder() {
  stop();
  {
    std::unique_lock<std::mutex> lock(mu_);
    relaysDone_.wait(lock, [this] { return relays_ == 0; });
  }
  if (listenFd_ >= 0) {
    close(listenFd_);
  }
  if (wakeFd_ >= 0) {
    close(wakeFd_);
  }
}

Status Forwarder::start(const HostPort& listenAt, std::string netnsPath, const HostPort& to) {
  netnsPath_ = std::move(netnsPath);
  to_ = to;
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (wakeFd_ < 0 || listenFd_ < 0) {
    return Status(Code::Internal, std::string("socket: ") + std::strerror(errno));
  }
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = toSockaddr(listenAt);
  if (bind(listenFd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      listen(listenFd_, 128) != 0) {
    return Status(Code::Unavailable, "listen on " + listenAt.host + ":" +
                                         std::to_string(listenAt.port) + ": " +
                                         std::strerror(errno));
  }
  socklen_t len = sizeof(sa);
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  return Status::ok();
}

void Forwarder::stop() {
  bool was = stopping_.exchange(true);
  if (was) {
    return;
  }
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    if (write(wakeFd_, &one, sizeof(one)) < 0) {
      // Nothing more to do: run() also notices stopping_ on its next wake-up.
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : liveFds_) {
    shutdown(fd, SHUT_RDWR);
  }
}

Status Forwarder::run() {
  while (!stopping_) {
    pollfd p[2] = {{wakeFd_, POLLIN, 0}, {listenFd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Status(Code::Internal, std::string("poll: ") + std::strerror(errno));
    }
    if (p[0].revents != 0) {
      break;
    }
    int cfd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) {
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    liveFds_.push_back(cfd);
    ++relays_;
    // Detached: a relay ends on its own; stop() and the destructor wait for relays_ to drain.
    std::thread([this, cfd] { relay(cfd); }).detach();
  }
  return Status::ok();
}

void Forwarder::relay(int clientFd) {
  int upstream = -1;
  if (netnsPath_.empty() || enterNetns(netnsPath_).isOk()) {
    upstream = connectWithTimeout(to_);
  }
  if (upstream >= 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      liveFds_.push_back(upstream);
      if (stopping_) {
        shutdown(upstream, SHUT_RDWR);
      }
    }
    std::vector<char> buf(kRelayBuf);
    bool clientOpen = true;
    bool upstreamOpen = true;
    // Half-close: when one side finishes sending, tell the other and keep relaying the reverse.
    while (clientOpen || upstreamOpen) {
      // A finished direction is left out (negative fd), or its POLLHUP would spin this loop.
      pollfd p[2] = {{clientOpen ? clientFd : -1, POLLIN, 0},
                     {upstreamOpen ? upstream : -1, POLLIN, 0}};
      if (poll(p, 2, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        break;
      }
      if (clientOpen && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!pump(clientFd, upstream, buf)) {
          clientOpen = false;
          shutdown(upstream, SHUT_WR);
        }
      }
      if (upstreamOpen && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!pump(upstream, clientFd, buf)) {
          upstreamOpen = false;
          shutdown(clientFd, SHUT_WR);
        }
      }
      if ((p[0].revents | p[1].revents) & POLLNVAL) {
        break;
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : {clientFd, upstream}) {
    if (fd < 0) {
      continue;
    }
    liveFds_.erase(std::remove(liveFds_.begin(), liveFds_.end(), fd), liveFds_.end());
    close(fd);
  }
  --relays_;
  relaysDone_.notify_all();
}

} // namespace caracal::labtool
