#pragma once
// Topologies for felix's netns tests, on top of ipip/netns_testutil.h (named namespaces with
// guards, commands inside them, ICMP ping without a ping binary). Every namespace is named
// "felix-<pid>-<suffix>" and deleted by its guard, also when a test fails.

#include "ipip/netns_testutil.h"

#include <gtest/gtest.h>
#include <memory>
#include <string>

namespace caracal::felix::testing {

using caracal::testing::CommandResult;
using caracal::testing::Netns;
using caracal::testing::runCommand;

// Skips the current test unless it runs as root with `ip` available.
#define FELIX_REQUIRE_NETNS()                                                                      \
  do {                                                                                             \
    if (!caracal::testing::isRoot() || !caracal::testing::haveProgram("ip")) {                     \
      GTEST_SKIP() << "needs root and iproute2 (network namespaces)";                              \
    }                                                                                              \
  } while (0)

inline std::unique_ptr<Netns> makeNetns(const std::string& suffix) {
  auto ns = std::make_unique<Netns>("felix", suffix);
  if (!ns->ok()) {
    ADD_FAILURE() << "cannot create namespace " << ns->name();
    return nullptr;
  }
  return ns;
}

// A veth pair between two namespaces with an address on each end, both up.
inline bool linkNamespaces(const Netns& a, const std::string& ifA, const std::string& addrA,
                           const Netns& b, const std::string& ifB, const std::string& addrB) {
  bool ok = a.ip("link add " + ifA + " type veth peer name " + ifB + " netns " + b.name()).rc == 0;
  ok = ok && a.ip("addr add " + addrA + " dev " + ifA).rc == 0;
  ok = ok && b.ip("addr add " + addrB + " dev " + ifB).rc == 0;
  ok = ok && a.ip("link set " + ifA + " up").rc == 0;
  ok = ok && b.ip("link set " + ifB + " up").rc == 0;
  return ok;
}

// A pod as the CNI plugin wires it: veth `hostIf` in the node namespace (MAC ee:ee:ee:ee:ee:ee,
// no address), eth0 in the pod namespace with <ip>/32, 169.254.1.1 dev eth0 scope link and a
// default route via 169.254.1.1. Host-side sysctls and the host route are the agent's job.
inline bool wirePod(const Netns& node, const std::string& hostIf, const Netns& pod,
                    const std::string& ip) {
  bool ok = node.ip("link add " + hostIf + " type veth peer name eth0 netns " + pod.name()).rc == 0;
  ok = ok && node.ip("link set " + hostIf + " address ee:ee:ee:ee:ee:ee").rc == 0;
  ok = ok && node.ip("link set " + hostIf + " up").rc == 0;
  ok = ok && pod.ip("addr add " + ip + "/32 dev eth0").rc == 0;
  ok = ok && pod.ip("link set eth0 up").rc == 0;
  ok = ok && pod.ip("route add 169.254.1.1 dev eth0 scope link").rc == 0;
  ok = ok && pod.ip("route add default via 169.254.1.1 dev eth0").rc == 0;
  return ok;
}

} // namespace caracal::felix::testing
