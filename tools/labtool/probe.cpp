// Reachability probes: TCP connect + echo, UDP datagram + echo, ICMP echo over a raw socket.
#include "netlink/fd.h"
#include "tools/labtool/labtool.h"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <linux/icmp.h>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <unistd.h>

namespace caracal::labtool {

namespace {

using Clock = std::chrono::steady_clock;

// Unreplied UDP and ICMP requests are repeated this often until the deadline.
constexpr int kRetryMs = 200;

using netlink::Fd;

int msLeft(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Tokens that tell one probe's payload from another's (and from a stale echo).
std::string makeToken() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return "caracal-probe " + std::to_string(rng()) + "-" + std::to_string(counter++) + "\n";
}

Result<sockaddr_in> makeAddr(const std::string& ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) {
    return Status(Code::Invalid, "\"" + ip + "\" is not an IPv4 address");
  }
  return sa;
}

std::string target(const ProbeOptions& o) {
  if (o.protocol == Protocol::Icmp) {
    return "icmp " + o.address;
  }
  return std::string(protocolName(o.protocol)) + " " + o.address + ":" + std::to_string(o.port);
}

Status unreachable(const ProbeOptions& o, const std::string& why) {
  return Status(Code::Unavailable, target(o) + ": " + why);
}

// Sends `token` and reads until the same bytes come back or the deadline passes.
Status tcpEcho(int fd, const std::string& token, Clock::time_point deadline,
               const ProbeOptions& o) {
  size_t sent = 0;
  while (sent < token.size()) {
    ssize_t w = send(fd, token.data() + sent, token.size() - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
      return unreachable(o, std::string("send: ") + std::strerror(errno));
    }
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, msLeft(deadline)) == 0) {
      return unreachable(o, "timed out sending");
    }
  }
  std::string got;
  char buf[512];
  while (got.size() < token.size()) {
    pollfd p{fd, POLLIN, 0};
    int left = msLeft(deadline);
    int rc = poll(&p, 1, left);
    if (rc == 0 || left == 0) {
      return unreachable(o, "timed out waiting for the echo");
    }
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      return unreachable(o, std::string("poll: ") + std::strerror(errno));
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) {
      return unreachable(o, "connection closed before the echo");
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        continue;
      }
      return unreachable(o, std::string("recv: ") + std::strerror(errno));
    }
    got.append(buf, static_cast<size_t>(n));
  }
  if (got.compare(0, token.size(), token) != 0) {
    return unreachable(o, "echo did not match");
  }
  return Status::ok();
}

Status probeTcp(const ProbeOptions& o) {
  ASSIGN_OR_RETURN(sockaddr_in sa, makeAddr(o.address, o.port));
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    return Status(Code::Internal, std::string("socket: ") + std::strerror(errno));
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(o.timeoutMs);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (errno != EINPROGRESS) {
      return unreachable(o, std::string("connect: ") + std::strerror(errno));
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int rc;
    do {
      rc = poll(&p, 1, msLeft(deadline));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      return unreachable(o, "connect timed out");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return unreachable(o, std::string("connect: ") + std::strerror(err));
    }
  }
  RETURN_IF_ERROR(tcpEcho(fd.get(), makeToken(), deadline, o));
  if (o.holdMs <= 0) {
    return Status::ok();
  }
  // Hold: one echo per interval over the same connection; each must return within timeoutMs.
  auto end = Clock::now() + std::chrono::milliseconds(o.holdMs);
  int rounds = 0;
  while (Clock::now() < end) {
    auto next = Clock::now() + std::chrono::milliseconds(kHoldIntervalMs);
    Status st =
        tcpEcho(fd.get(), makeToken(), Clock::now() + std::chrono::milliseconds(o.timeoutMs), o);
    if (!st) {
      return Status(st.code(), st.message() + " (after " + std::to_string(rounds) +
                                   " successful echoes on the held connection)");
    }
    ++rounds;
    std::this_thread::sleep_until(std::min(next, end));
  }
  return Status::ok();
}

Status probeUdp(const ProbeOptions& o) {
  ASSIGN_OR_RETURN(sockaddr_in sa, makeAddr(o.address, o.port));
  Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    return Status(Code::Internal, std::string("socket: ") + std::strerror(errno));
  }
  // connect() makes the kernel drop datagrams from anyone else and report ICMP errors.
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return unreachable(o, std::string("connect: ") + std::strerror(errno));
  }
  std::string token = makeToken();
  auto deadline = Clock::now() + std::chrono::milliseconds(o.timeoutMs);
  char buf[2048];
  std::string lastError = "no echo";
  while (msLeft(deadline) > 0) {
    if (send(fd.get(), token.data(), token.size(), 0) < 0 && errno != ECONNREFUSED) {
      lastError = std::string("send: ") + std::strerror(errno);
    }
    auto retryAt = std::min(deadline, Clock::now() + std::chrono::milliseconds(kRetryMs));
    while (msLeft(retryAt) > 0) {
      pollfd p{fd.get(), POLLIN, 0};
      if (poll(&p, 1, msLeft(retryAt)) <= 0) {
        continue;
      }
      ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno == ECONNREFUSED) {
          lastError = "port unreachable (connection refused)";
        }
        continue;
      }
      if (static_cast<size_t>(n) == token.size() && token.compare(0, token.size(), buf, n) == 0) {
        return Status::ok();
      }
    }
  }
  return unreachable(o, lastError + " within " + std::to_string(o.timeoutMs) + " ms");
}

uint16_t inetChecksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) {
    sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  }
  if (len % 2 != 0) {
    sum += static_cast<uint32_t>(data[len - 1] << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

Status probeIcmp(const ProbeOptions& o) {
  ASSIGN_OR_RETURN(sockaddr_in sa, makeAddr(o.address, 0));
  Fd fd(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP));
  if (fd.get() < 0) {
    return Status(Code::Internal,
                  std::string("raw ICMP socket (needs CAP_NET_RAW): ") + std::strerror(errno));
  }
  // Only echo replies reach this socket; every other ICMP type is filtered by the kernel.
  icmp_filter filter{};
  filter.data = ~(1U << ICMP_ECHOREPLY);
  setsockopt(fd.get(), SOL_RAW, ICMP_FILTER, &filter, sizeof(filter));

  static std::atomic<uint16_t> nextId{static_cast<uint16_t>(std::random_device{}())};
  uint16_t id = nextId++;
  std::string token = makeToken();
  auto deadline = Clock::now() + std::chrono::milliseconds(o.timeoutMs);
  uint16_t seq = 0;
  uint8_t buf[2048];
  while (msLeft(deadline) > 0) {
    ++seq;
    std::vector<uint8_t> pkt(8 + token.size());
    pkt[0] = ICMP_ECHO;
    pkt[1] = 0;
    pkt[4] = static_cast<uint8_t>(id >> 8);
    pkt[5] = static_cast<uint8_t>(id & 0xff);
    pkt[6] = static_cast<uint8_t>(seq >> 8);
    pkt[7] = static_cast<uint8_t>(seq & 0xff);
    std::memcpy(pkt.data() + 8, token.data(), token.size());
    uint16_t ck = inetChecksum(pkt.data(), pkt.size());
    pkt[2] = static_cast<uint8_t>(ck >> 8);
    pkt[3] = static_cast<uint8_t>(ck & 0xff);
    sendto(fd.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    auto retryAt = std::min(deadline, Clock::now() + std::chrono::milliseconds(kRetryMs));
    while (msLeft(retryAt) > 0) {
      pollfd p{fd.get(), POLLIN, 0};
      if (poll(&p, 1, msLeft(retryAt)) <= 0) {
        continue;
      }
      sockaddr_in from{};
      socklen_t fromLen = sizeof(from);
      ssize_t n =
          recvfrom(fd.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n < 20) { // shorter than an IPv4 header
        continue;
      }
      size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
      if (static_cast<size_t>(n) < ihl + 8 || from.sin_addr.s_addr != sa.sin_addr.s_addr) {
        continue;
      }
      const uint8_t* icmp = buf + ihl;
      uint16_t rid = static_cast<uint16_t>(icmp[4] << 8 | icmp[5]);
      if (icmp[0] != ICMP_ECHOREPLY || rid != id) {
        continue;
      }
      size_t payload = static_cast<size_t>(n) - ihl - 8;
      if (payload == token.size() && std::memcmp(icmp + 8, token.data(), token.size()) == 0) {
        return Status::ok();
      }
    }
  }
  return unreachable(o, "no echo reply within " + std::to_string(o.timeoutMs) + " ms");
}

} // namespace

Status probe(const ProbeOptions& opts) {
  if (opts.timeoutMs <= 0) {
    return Status(Code::Invalid, "timeout must be positive");
  }
  if (opts.protocol != Protocol::Icmp && opts.port == 0) {
    return Status(Code::Invalid, "a port is needed for tcp and udp");
  }
  switch (opts.protocol) {
  case Protocol::Tcp:
    return probeTcp(opts);
  case Protocol::Udp:
    if (opts.holdMs > 0) {
      return Status(Code::Invalid, "--hold-ms needs --protocol tcp");
    }
    return probeUdp(opts);
  case Protocol::Icmp:
    if (opts.holdMs > 0) {
      return Status(Code::Invalid, "--hold-ms needs --protocol tcp");
    }
    return probeIcmp(opts);
  }
  return Status(Code::Invalid, "unknown protocol");
}

} // namespace caracal::labtool
