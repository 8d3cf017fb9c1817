#pragma once
// What caracal-node does in the datastore for its own node, before and beside programming.
//
//   registerNode():          creates or updates the projectcalico.org/v3 Node: spec.bgp.ipv4Address
//                            (address with its real prefix) and orchRefs [{nodeName, k8s}]. Other
//                            fields (tunnel addresses, labels, ASN) are kept.
//   tunnelNeedsFromPools():  which encapsulations enabled IPv4 pools use, and which pools.
//   ensureTunnelAddresses(): VXLAN: spec.ipv4VXLANTunnelAddr from IPAM under the handle
//                            "vxlan-tunnel-addr-<node>" (use Tunnel, from a VXLAN pool), and
//                            spec.vxlanTunnelMACAddr (kept when set, else Calico's derived MAC);
//                            IPIP: spec.bgp.ipv4IPIPTunnelAddr under "ipip-tunnel-addr-<node>".
//                            An address already recorded and held by the handle is kept; one no
//                            longer needed is released and its fields removed. Idempotent.
//   writeMtuFile():          the pod MTU for the CNI plugin (temp file + rename; only on change).
//
// Every Node write is a compare-and-swap (metadata.resourceVersion) retried on conflict, so
// concurrent writers (caracalctl, another process) never lose each other's fields.

#include "api/netaddr.h"
#include "common/result.h"
#include "common/value.h"
#include "ipam/ipam.h"

#include <string>
#include <vector>

namespace caracal::felix {

const api::KindInfo& calicoNodeKind();
const api::KindInfo& ipPoolKind();

Result<Value> registerNode(ipam::Store& store, const std::string& node, const api::IpNet& ipv4);

struct TunnelNeeds {
  bool vxlan = false;
  bool ipip = false;
  std::vector<std::string> vxlanPools; // names of enabled IPv4 pools with vxlanMode != Never
  std::vector<std::string> ipipPools;
  std::vector<api::IpNet> vxlanCidrs;
  std::vector<api::IpNet> ipipCidrs;
  bool operator==(const TunnelNeeds&) const = default;
};
TunnelNeeds tunnelNeedsFromPools(const std::vector<Value>& pools);

// Returns the Node as stored afterwards.
Result<Value> ensureTunnelAddresses(ipam::Store& store, ipam::Ipam& ipam, const std::string& node,
                                    const TunnelNeeds& needs);

// Writes "<mtu>\n" to `path` (creating its directory) unless it already holds exactly that.
Status writeMtuFile(const std::string& path, uint32_t mtu);

} // namespace caracal::felix
