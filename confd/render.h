#pragma once
// confd rendering: the BIRD 2 configuration of one node, as a pure function of API objects.
//
// renderBirdConfig() takes the Calico objects that shape BGP (Nodes, the default and per-node
// BGPConfiguration, BGPPeers, IPPools, BGPFilters, the Secrets holding BGP passwords) plus the
// blocks affine to this node and returns the complete text of bird.conf for BIRD 2.0. It does no
// I/O, reads no clock and is deterministic: the same inputs (in any order) give byte-identical
// text, so a writer can skip identical output.
//
// What is rendered (see docs/design/confd.md for the reasoning):
//   - `router id` = this node's IPv4 address (an IPv6-only node: an IPv4 derived from a SHA-256
//     of the node name, as Calico's CALICO_ROUTER_ID=hash); device, direct (minus
//     ignoredInterfaces) and one kernel and one static protocol per address family;
//   - `protocol static`: a blackhole per affine block and per advertised service CIDR, and a
//     `<peer>/32 via <gw>` route per BGPPeer reachableBy;
//   - per family ("" for IPv4, "_v6" for IPv6): functions `calico_export_to_bgp_peers()` (only
//     pool blocks and service CIDRs leave the node; prefixAdvertisements add communities),
//     `calico_import_from_bgp_peers()` (never a local block itself; addresses borrowed from it
//     by other nodes are accepted) and filter `calico_kernel_programming` (BIRD never writes
//     routes felix owns);
//   - one function per BGPFilter, family and direction, `'bgp_<name>_importFilterV4'` etc.
//     (names over 45 characters shortened with a hash, as Calico does); a session of a BGPPeer
//     listing filters calls them, in order, before the default logic;
//   - `template bgp bgp_template` (IPv4) / `bgp_template_v6` and one session per peer:
//     `Mesh_<ip>` (full mesh), `Global_<ip>` (BGPPeer for all nodes), `Node_<ip>` (BGPPeer with
//     `node` or `nodeSelector`); `.` and `:` become `_`, a port adds `_port_<p>`. IPv6 sessions
//     use the nodes' spec.bgp.ipv6Address and exist only when this node has one;
//   - session options: password (secretKeyRef), keepalive/hold time, local as, allow local as,
//     graceful restart time, source address, ttl security, next hop, rr client.
//
// Errors: Code::Invalid when this node is unknown or has no IPv4 nor IPv6 address, or when a
// BGPPeer selector does not parse (the message names the peer and the field). Problems confined
// to one object skip that object (or field) and add a line to BirdConfig::warnings: a Node
// without an address, a peer without an AS number, an invalid BGPFilter (skipped; peers using it
// keep their sessions), an unknown filter name on a peer (the filter is skipped, not the peer),
// a password whose Secret or key is missing or whose value BIRD cannot quote (the peer's
// sessions are not rendered until it resolves; for nodeMeshPassword, the whole mesh).

#include "common/result.h"
#include "common/value.h"

#include <string>
#include <vector>

namespace caracal::confd {

struct BirdInputs {
  std::string nodeName;                  // this node (metadata.name of its Node)
  std::vector<Value> nodes;              // every Node object (including this one)
  Value defaultConfig;                   // BGPConfiguration `default`, or null for all defaults
  Value nodeConfig;                      // BGPConfiguration `node.<nodeName>`, or null
  std::vector<Value> peers;              // every BGPPeer
  std::vector<Value> pools;              // every IPPool
  std::vector<std::string> affineBlocks; // CIDRs of the blocks affine to this node
  std::vector<Value> filters;            // every BGPFilter (referenced by BGPPeer spec.filters)
  std::vector<Value> secrets;            // Secrets of the node agent's namespace (BGP passwords)
};

struct BirdConfig {
  std::string text;                  // the configuration file
  std::vector<std::string> warnings; // objects skipped and why, sorted
};

constexpr int64_t kDefaultAsNumber = 64512;
constexpr int kDefaultBgpPort = 179;
// Upper bound of BIRD's graceful restart recovery after caracal-node restarts it (`bird -R`).
constexpr int kGracefulRestartWaitSeconds = 10;

Result<BirdConfig> renderBirdConfig(const BirdInputs& in);

// Files one API object into `in` by its kind (Node, BGPPeer, IPPool, BGPFilter, Secret, and the
// BGPConfiguration `default` or `node.<in.nodeName>`; another node's BGPConfiguration is
// ignored). A List's items are filed one by one. Another kind is NotFound naming it.
Status addBirdInput(BirdInputs& in, const Value& obj);

} // namespace caracal::confd
