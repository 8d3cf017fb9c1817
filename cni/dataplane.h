#pragma once
// The kernel side of a pod's network (Calico's layout):
//
//   node namespace                          pod namespace (CNI_NETNS)
//   caliXXXXXXXXXXX  <---- veth pair ---->  eth0  10.244.1.5/32
//     MAC ee:ee:ee:ee:ee:ee, no address       169.254.1.1 dev eth0 scope link
//     proxy_arp=1 forwarding=1                default via 169.254.1.1 dev eth0
//     route_localnet=1
//   10.244.1.5 dev caliXXX scope link proto 80
//
// The pod answers ARP for anything through 169.254.1.1; the host side answers that ARP by proxy
// (it has no address), so every packet from the pod is routed by the node. The peer is created
// directly inside the pod's namespace under its final name, so no other interface of the node is
// ever shadowed, even for a moment.

#include "api/netaddr.h"
#include "common/result.h"

#include <memory>
#include <string>
#include <vector>

namespace caracal::cni {

class Logger;

struct PodNetworkSpec {
  std::string netnsPath;             // CNI_NETNS
  std::string ifname;                // CNI_IFNAME, inside the pod
  std::string hostIfname;            // cali..., in the node namespace
  std::vector<api::IpNet> addresses; // /32 (and /128) addresses of the pod
  int mtu = 1500;
};

struct PodNetworkStatus {
  std::string podMac;  // the pod interface's MAC, "aa:bb:..."
  std::string hostMac; // "ee:ee:ee:ee:ee:ee"
};

inline constexpr const char* kHostVethMac = "ee:ee:ee:ee:ee:ee";
inline constexpr const char* kPodGateway = "169.254.1.1";
// The IPv6 link-local address the kernel gives the host side (EUI-64 of ee:ee:ee:ee:ee:ee).
inline constexpr const char* kPodGateway6 = "fe80::ecee:eeff:feee:eeee";

class Dataplane {
public:
  virtual ~Dataplane() = default;
  // Creates the veth pair and programs both sides. A host interface of the same name left by an
  // earlier attempt is replaced; the calling thread's own namespace is refused (Code::Invalid). On
  // error, what was created may remain: call removeHostVeth().
  virtual Result<PodNetworkStatus> setUp(const PodNetworkSpec& spec) = 0;
  // Deletes the host side (and so the pair); ok when absent.
  virtual Status removeHostVeth(const std::string& hostIfname) = 0;
  // Deletes `ifname` inside the pod namespace (and so the pair); ok when the namespace or the
  // interface is gone.
  virtual Status removePodInterface(const std::string& netnsPath, const std::string& ifname) = 0;
  // Verifies that everything setUp() programs is present; the error says what is missing.
  virtual Status check(const PodNetworkSpec& spec) = 0;
  // True when `path` is a network namespace that can be entered.
  virtual bool netnsExists(const std::string& path) = 0;
  // True when `path` is the namespace this process runs in (the node's): ADD must not program it.
  virtual bool isOwnNetns(const std::string& path) = 0;
};

// The real thing, over rtnetlink (caracal_netlink) in the calling thread's namespace (the node's).
std::unique_ptr<Dataplane> makeNetlinkDataplane(Logger& log);

} // namespace caracal::cni
