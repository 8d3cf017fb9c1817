#pragma once
// Route calculation: datastore state in, this node's desired routing dataplane out.
//
// Pure: no syscalls, no clock, no threads. The agent feeds it every update of the kinds listed in
// kRouteCalcKinds (Calico Node, IPPool, IPAMBlock, WorkloadEndpoint, FelixConfiguration) and calls
// compute() whenever it wants the full desired state; compute() depends only on the updates seen,
// never on their order.
//
// What compute() produces for node N (all routes carry protocol netlink::kRouteProtocol and live in
// the main table; interfaces are given by name, the caller resolves indexes):
//   - every local workload address:   <ip>/32 dev <caliX> scope link      (IPv6: /128 dev <caliX>)
//     (a local endpoint whose interfaceName does not start with "cali" is ignored and reported
//     in rejectedWorkloads)
//   - every block affine to N:        blackhole <block>
//   - every block affine to a remote node R, by the IPPool containing the block:
//       VXLAN Always, or CrossSubnet with R outside N's subnet:
//                                      <block> via <R's VTEP> dev vxlan.calico onlink
//       IPIP  Always, or CrossSubnet with R outside N's subnet:
//                                      <block> via <R's node IP> dev tunl0 onlink
//       CrossSubnet with R inside N's subnet (spec.bgp.ipv4Address network of N), or Never/Never
//       with R on-link:               <block> via <R's node IP> dev <underlay>
//     N's subnet is the network of its own ipv4Address, so a /32 node address makes CrossSubnet
//     behave as Always. Never/Never off-link routes are left to BGP, and so are all Never/Never
//     routes when CalcConfig::bgpProgramsUnencapsulated is set (BIRD runs on the node).
//   - every remote workload address taken from a block that is not affine to its own node
//     (borrowed): a /32 to the workload's node, chosen as for a block of that pool.
//   - VXLAN peers (VTEP IP, VTEP MAC, underlay IP) of every remote node with a VTEP, and the local
//     vxlan.calico parameters, when VXLAN is in use; IPIP peers (destination -> node IP: exactly
//     the destinations routed through tunl0), the accepted IPIP sources (every other node's
//     underlay address) and the tunl0 parameters when IPIP is in use.
//   - natOutgoing pool lists, the local workload interfaces that need sysctls, the pod MTU and the
//     tunnel addresses this node should own.
// A route whose next hop is not known yet (remote node without an address or without a VTEP) is
// left out until it is. When two sources want the same destination, the most specific owner wins:
// a local workload, then a remote workload's /32, then a block.

#include "api/netaddr.h"
#include "api/registry.h"
#include "common/value.h"
#include "netlink/netlink.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::felix {

using api::IpAddr;
using api::IpNet;

inline constexpr const char* kVxlanDevice = "vxlan.calico";
inline constexpr const char* kIpipDevice = "tunl0";
// Calico's InterfacePrefix: host-side workload interfaces are named "cali…". A local
// WorkloadEndpoint whose interfaceName lacks it is ignored (never route a pod address via eth0/lo
// or set workload sysctls on the uplink).
inline constexpr const char* kWorkloadInterfacePrefix = "cali";
inline constexpr uint32_t kVxlanOverhead = 50;
inline constexpr uint32_t kIpipOverhead = 20;
inline constexpr uint32_t kDefaultVxlanVni = 4096;
inline constexpr uint16_t kDefaultVxlanPort = 4789;

// The kinds the route calculation reads (projectcalico.org/v3).
std::vector<const api::KindInfo*> routeCalcKinds();

// Calico's VTEP MAC for a node without spec.vxlanTunnelMACAddr: 0x66 then the first five bytes of
// SHA-1(node name).
netlink::Mac vtepMacForNode(std::string_view nodeName);

enum class EncapMode { Never, Always, CrossSubnet };
EncapMode parseEncapMode(std::string_view text); // anything unknown reads as Never
const char* encapModeName(EncapMode m);

struct CalcConfig {
  std::string nodeName;
  std::string underlayInterface = "eth0"; // device of native (non-tunnelled) routes, vxlan parent
  uint32_t underlayMtu = 1500;
  // BGP (BIRD) runs on this node and programs the routes of pools without encapsulation: remote
  // blocks and borrowed /32s of Never/Never pools are then left to it, whatever the subnet.
  // Routes of IPIP/VXLAN pools (also their native CrossSubnet routes) stay felix's.
  bool bgpProgramsUnencapsulated = false;
};

// One route with its device by name ("" for blackholes). route.oif is left 0.
struct DesiredRoute {
  netlink::Route route;
  std::string ifname;
  bool operator==(const DesiredRoute&) const = default;
};

struct VxlanDeviceConfig {
  uint32_t vni = kDefaultVxlanVni;
  uint16_t port = kDefaultVxlanPort;
  IpAddr local;       // this node's underlay address
  std::string parent; // underlay device
  netlink::Mac mac{};
  uint32_t mtu = 1450;
  std::optional<IpNet> address; // ipv4VXLANTunnelAddr/32, once allocated
  bool operator==(const VxlanDeviceConfig&) const = default;
};

struct VxlanPeer {
  std::string node;
  IpAddr vtepIp;
  netlink::Mac vtepMac{};
  IpAddr nodeIp;
  bool operator==(const VxlanPeer&) const = default;
};

struct IpipDeviceConfig {
  IpAddr local; // this node's underlay address
  uint32_t mtu = 1480;
  std::optional<IpNet> address; // ipv4IPIPTunnelAddr/32, once allocated
  bool operator==(const IpipDeviceConfig&) const = default;
};

struct IpipPeer {
  IpNet dst;     // remote block or borrowed /32
  IpAddr nodeIp; // remote node underlay address
  bool operator==(const IpipPeer&) const = default;
};

struct LocalInterface {
  std::string name;
  bool ipv4 = false;
  bool ipv6 = false;
  bool operator==(const LocalInterface&) const = default;
};

struct CalcOutput {
  std::vector<DesiredRoute> routes; // sorted by destination
  std::optional<VxlanDeviceConfig> vxlan;
  std::vector<VxlanPeer> vxlanPeers; // sorted by node
  std::optional<IpipDeviceConfig> ipip;
  std::vector<IpipPeer> ipipPeers; // sorted by destination
  // Underlay addresses of every other node while IPIP is in use: the outer sources IPIP packets
  // are accepted from (as Calico's all-hosts set), whether or not a route goes to that node.
  std::vector<IpAddr> ipipSources;                // sorted, unique
  std::vector<IpNet> natMasqPools;                // pools with natOutgoing
  std::vector<IpNet> natAllPools;                 // every pool
  std::vector<LocalInterface> workloadInterfaces; // sorted by name
  // Keys of local WorkloadEndpoints ignored because their interfaceName is not a workload
  // interface (kWorkloadInterfacePrefix); sorted.
  std::vector<std::string> rejectedWorkloads;
  // Encapsulations used by at least one enabled IPv4 pool (these need tunnel addresses).
  bool vxlanWanted = false;
  bool ipipWanted = false;
  uint32_t podMtu = 1500; // underlay MTU minus the largest overhead in use (or the configured MTU)
  // This node as the datastore knows it (absent until its Node object is seen).
  bool localNodeKnown = false;
  std::optional<IpNet> localAddress;
  std::optional<IpAddr> localVxlanAddr;
  std::optional<IpAddr> localIpipAddr;

  bool operator==(const CalcOutput&) const = default;
};

class RouteCalc {
public:
  explicit RouteCalc(CalcConfig cfg);
  ~RouteCalc();
  RouteCalc(const RouteCalc&) = delete;
  RouteCalc& operator=(const RouteCalc&) = delete;

  // One datastore update: `obj` null means deleted. `key` is "name" or "namespace/name". Objects
  // of other kinds are ignored; malformed fields read as absent.
  void onUpdate(const api::KindInfo& kind, const std::string& key, const Value* obj);
  // The underlay device can change at runtime (e.g. detected after start).
  void setUnderlay(std::string interface, uint32_t mtu);
  const CalcConfig& config() const { return cfg_; }

  CalcOutput compute() const;

private:
  struct State;
  CalcConfig cfg_;
  std::unique_ptr<State> st_;
};

} // namespace caracal::felix
