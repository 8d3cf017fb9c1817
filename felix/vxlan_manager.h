#pragma once
// VXLAN dataplane: the vxlan.calico device and its per-peer neighbour and FDB entries.
//
// ensure() makes the device match the configuration (VNI, UDP port, local address, parent
// device, no learning — all fixed at creation, so a mismatch recreates the device; MAC and MTU are
// changed in place; the device is brought up and gets exactly the tunnel address), then adds or
// corrects one permanent neighbour entry (VTEP IP -> VTEP MAC) and one FDB entry (VTEP MAC -> peer
// underlay IP) per peer. prune() removes the entries of peers that are gone. The agent calls
// ensure() before programming routes through the device and prune() after, so a route never
// points at a VTEP that is not resolvable yet. A configuration of std::nullopt removes the device.
//
// Everything is read back from the kernel on each call (a few entries per peer), so drift is
// repaired by the next call. The device name is ours: anything found on it is ours to correct.
//
// planVxlan() is the pure decision (kernel state + desired -> operations), unit-tested without a
// kernel; VxlanManager executes it over a netlink::Socket.

#include "felix/route_calc.h"
#include "netlink/netlink.h"

#include <optional>
#include <vector>

namespace caracal::felix {

// What the kernel holds for vxlan.calico.
struct VxlanKernelState {
  std::optional<netlink::Link> link;
  std::vector<IpNet> addresses;             // IPv4 addresses on the device
  std::vector<netlink::Neighbor> neighbors; // IPv4 neighbours on the device
  std::vector<netlink::FdbEntry> fdb;       // FDB entries on the device
};

struct VxlanPlan {
  bool deleteLink = false; // wrong parameters (or no longer wanted)
  bool createLink = false;
  std::optional<netlink::Mac> setMac;
  std::optional<uint32_t> setMtu;
  bool setUp = false;
  std::vector<IpNet> addAddresses;
  std::vector<IpNet> deleteAddresses;
  // Entries without ifindex: the executor fills in the device's index.
  std::vector<netlink::Neighbor> replaceNeighbors;
  std::vector<netlink::Neighbor> deleteNeighbors;
  std::vector<netlink::FdbEntry> replaceFdb; // VTEP MAC -> peer underlay IP (NLM_F_REPLACE)
  std::vector<netlink::FdbEntry> deleteFdb;

  bool empty() const;
};

enum class VxlanPhase { Ensure, Prune };

// `parentIndex`: the ifindex of want->parent (0 when unknown: then the parent is not compared).
VxlanPlan planVxlan(const std::optional<VxlanDeviceConfig>& want, int parentIndex,
                    const std::vector<VxlanPeer>& peers, const VxlanKernelState& have,
                    VxlanPhase phase);

struct VxlanResult {
  int ifindex = 0;        // of vxlan.calico; 0 when absent
  bool recreated = false; // the device was (re)created: routes through it are gone
  size_t changes = 0;     // kernel writes made
};

class VxlanManager {
public:
  explicit VxlanManager(netlink::Socket& sock) : sock_(sock) {}

  Result<VxlanResult> ensure(const std::optional<VxlanDeviceConfig>& want,
                             const std::vector<VxlanPeer>& peers);
  Result<VxlanResult> prune(const std::optional<VxlanDeviceConfig>& want,
                            const std::vector<VxlanPeer>& peers);

private:
  Result<VxlanResult> run(const std::optional<VxlanDeviceConfig>& want,
                          const std::vector<VxlanPeer>& peers, VxlanPhase phase);
  netlink::Socket& sock_;
};

} // namespace caracal::felix
