#pragma once
// confd rendering: the BIRD 2 configuration of one node, as a pure function of API objects.
//
// renderBirdConfig() takes the Calico objects that shape BGP (Nodes, the default and per-node
// BGPConfiguration, BGPPeers, IPPools) plus the blocks affine to this node and returns the
// complete text of bird.conf for BIRD 2.0. It does no I/O, reads no clock and is deterministic:
// the same inputs (in any order) give byte-identical text, so a writer can skip identical output.
//
// What is rendered (see docs/design/confd.md for the reasoning):
//   - `router id` = this node's IPv4 address; device, direct and kernel protocols;
//   - `protocol static`: a blackhole per affine block and per advertised service CIDR;
//   - functions `calico_export_to_bgp_peers()` (only pool blocks and service CIDRs leave the
//     node), `calico_import_from_bgp_peers()` (nothing inside a local block is accepted) and
//     filter `calico_kernel_programming` (BIRD never writes routes felix owns: tunnel-pool routes
//     and local blocks);
//   - `template bgp bgp_template` and one session per peer: `Mesh_<ip>` (full mesh),
//     `Global_<ip>` (BGPPeer for all nodes), `Node_<ip>` (BGPPeer with `node` or `nodeSelector`);
//     a `:port` suffix becomes `_port_<p>`.
//
// Errors: Code::Invalid when this node is unknown or has no IPv4 address, or when a BGPPeer
// selector does not parse (the message names the peer and the field). Problems confined to one
// object (a Node without an address, a peer without an AS number) skip that object and add a line
// to BirdConfig::warnings. Only IPv4 is rendered; IPv6 objects are ignored.

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
};

struct BirdConfig {
  std::string text;                  // the configuration file
  std::vector<std::string> warnings; // objects skipped and why, sorted
};

constexpr int64_t kDefaultAsNumber = 64512;
constexpr int kDefaultBgpPort = 179;

Result<BirdConfig> renderBirdConfig(const BirdInputs& in);

} // namespace caracal::confd
