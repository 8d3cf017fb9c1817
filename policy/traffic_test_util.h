#pragma once
// Real traffic between test namespaces for the policy writers' tests: TCP listeners and connects,
// a veth between two namespaces, the conntrack table, and the small rules the tests write.

#include "common/strings.h"
#include "ipip/netns_testutil.h"
#include "policy/rules.h"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace caracal::policy::testing {

using caracal::testing::Netns;

// A TCP connect from `ns` to dst:port; true when the handshake completes within `timeoutMs`.
inline bool tcpConnects(const Netns& ns, const std::string& dst, int port, int timeoutMs) {
  int fd = -1;
  caracal::testing::inNetns(
      ns.path(), [&] { fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); });
  if (fd < 0) {
    return false;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, dst.c_str(), &to.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, timeoutMs) == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      ok = err == 0;
    }
  }
  ::close(fd);
  return ok;
}

// A TCP socket listening on addr:port inside `ns` (fd < 0 when that failed); the kernel completes
// handshakes into its backlog, nothing accepts.
class Listener {
public:
  Listener(const Netns& ns, const std::string& addr, int port) {
    caracal::testing::inNetns(ns.path(),
                              [&] { fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    if (fd < 0) {
      return;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 64) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~Listener() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int fd = -1;
};

// A veth from `node` (ifname, <net>.1/24) to `peer` (eth0, <net>.2/24, default route via .1).
inline bool linkPeer(const Netns& node, const Netns& peer, const std::string& ifname,
                     const std::string& net) {
  return node.ip("link add " + ifname + " type veth peer name eth0 netns " + peer.name()).rc == 0 &&
         node.ip("addr add " + net + ".1/24 dev " + ifname).rc == 0 &&
         node.ip("link set " + ifname + " up").rc == 0 &&
         peer.ip("addr add " + net + ".2/24 dev eth0").rc == 0 &&
         peer.ip("link set eth0 up").rc == 0 &&
         peer.ip("route add default via " + net + ".1").rc == 0;
}

// Connections in the namespace's conntrack table whose original direction goes to `dport`.
inline int trackedTo(const Netns& ns, int dport) {
  int n = 0;
  for (const std::string& line : split(ns.exec("cat /proc/net/nf_conntrack").output, '\n')) {
    if (line.find("dport=" + std::to_string(dport) + " ") != std::string::npos) {
      ++n;
    }
  }
  return n;
}

// `action` for TCP to destination (or from source) port `port`.
inline CompiledRule tcpRule(Action action, uint16_t port, const std::string& origin,
                            bool sourcePort = false) {
  CompiledRule r;
  r.action = action;
  r.protocol = kProtoTcp;
  (sourcePort ? r.source : r.destination).ports = {{port, port}};
  r.origin = origin;
  return r;
}

} // namespace caracal::policy::testing
