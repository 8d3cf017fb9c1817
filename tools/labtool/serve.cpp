// TCP and UDP echo servers in one poll loop.
#include "tools/labtool/labtool.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace caracal::labtool {

namespace {

constexpr size_t kBufSize = 64 * 1024;
// A client that stops reading its echoes is cut off rather than buffered without bound.
constexpr size_t kMaxPending = 4 * 1024 * 1024;

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

} // namespace

EchoServer::EchoServer() { wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

EchoServer::~EchoServer() {
  for (auto& l : listeners_) {
    close(l.second);
  }
  for (Conn& c : conns_) {
    close(c.fd);
  }
  if (wakeFd_ >= 0) {
    close(wakeFd_);
  }
}

Status EchoServer::bind(const std::vector<ServeSpec>& specs) {
  if (wakeFd_ < 0) {
    return Status(Code::Internal, "eventfd failed");
  }
  for (const ServeSpec& spec : specs) {
    int type = spec.protocol == Protocol::Tcp ? SOCK_STREAM : SOCK_DGRAM;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      return Status(Code::Internal, errnoText("socket"));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(spec.port);
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    std::string label = std::string(protocolName(spec.protocol)) + ":" + std::to_string(spec.port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      Status st(Code::Unavailable, errnoText("bind " + label));
      close(fd);
      return st;
    }
    if (spec.protocol == Protocol::Tcp && listen(fd, 128) != 0) {
      Status st(Code::Internal, errnoText("listen " + label));
      close(fd);
      return st;
    }
    listeners_.emplace_back(spec, fd);
  }
  return Status::ok();
}

void EchoServer::stop() {
  uint64_t one = 1;
  if (write(wakeFd_, &one, sizeof(one)) < 0) {
    // The counter cannot overflow with a handful of writes; nothing else to do.
  }
}

Status EchoServer::run() {
  std::vector<char> buf(kBufSize);
  while (true) {
    std::vector<pollfd> pfds;
    pfds.push_back({wakeFd_, POLLIN, 0});
    for (auto& l : listeners_) {
      pfds.push_back({l.second, POLLIN, 0});
    }
    for (Conn& c : conns_) {
      short ev = POLLIN;
      if (!c.pending.empty()) {
        ev = POLLOUT; // stop reading until the echo backlog is written
      }
      pfds.push_back({c.fd, ev, 0});
    }
    if (poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Status(Code::Internal, errnoText("poll"));
    }
    if (pfds[0].revents != 0) {
      return Status::ok();
    }
    size_t idx = 1;
    for (auto& l : listeners_) {
      const pollfd& p = pfds[idx++];
      if (p.revents == 0) {
        continue;
      }
      if (l.first.protocol == Protocol::Tcp) {
        int cfd = accept4(l.second, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd >= 0) {
          conns_.push_back(Conn{cfd, {}});
        }
        continue;
      }
      // UDP: echo every queued datagram back to its sender.
      while (true) {
        sockaddr_in from{};
        socklen_t fromLen = sizeof(from);
        ssize_t n = recvfrom(l.second, buf.data(), buf.size(), 0,
                             reinterpret_cast<sockaddr*>(&from), &fromLen);
        if (n < 0) {
          break;
        }
        sendto(l.second, buf.data(), static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from),
               fromLen);
      }
    }
    // Connections: pfds[idx..] line up with conns_ as they were before this round's accepts.
    size_t polledConns = pfds.size() - idx;
    std::vector<Conn> keep;
    keep.reserve(conns_.size());
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      bool alive = true;
      if (i < polledConns) {
        const pollfd& p = pfds[idx + i];
        if (p.revents & POLLIN) {
          ssize_t n = recv(c.fd, buf.data(), buf.size(), 0);
          if (n > 0) {
            c.pending.append(buf.data(), static_cast<size_t>(n));
          } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            alive = false;
          }
        } else if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
          alive = false;
        }
        if (alive && !c.pending.empty()) {
          ssize_t w = send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
          if (w > 0) {
            c.pending.erase(0, static_cast<size_t>(w));
          } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            alive = false;
          }
          if (c.pending.size() > kMaxPending) {
            alive = false;
          }
        }
      }
      if (alive) {
        keep.push_back(std::move(c));
      } else {
        close(c.fd);
      }
    }
    conns_ = std::move(keep);
  }
}

} // namespace caracal::labtool
