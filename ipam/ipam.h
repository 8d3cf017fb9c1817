#pragma once
// Calico's block IPAM over the API.
//
// IPPools are carved into blocks of `blockSize`; a block (IPAMBlock) is affine to one node through
// a BlockAffinity (`<node>-<block name>`, pending -> confirmed). A node allocates from its own
// blocks, claims a new block when they are full (up to IPAMConfiguration.maxBlocksPerHost, 0 = 20),
// and, unless IPAMConfiguration.strictAffinity, borrows a free address from any block of the pool.
// Every allocation records a handle (IPAMHandle `{handleID, block: {cidr: count}}`) and attributes
// (namespace, pod, node, timestamp). IPReservation ranges are never handed out.
//
// Every write is a compare-and-swap on one object (update with metadata.resourceVersion); a lost
// race re-reads and retries, so no address is ever handed out twice, whatever the number of
// concurrent allocators.
//
// Object names follow Calico's Kubernetes datastore: block `10-244-1-0-26` (IPv6: `fd00--1-0-122`,
// ':' -> '-'), affinity `<node>-<block name>`, handle = the handle ID lower-cased.

#include "api/netaddr.h"
#include "api/registry.h"
#include "common/result.h"
#include "common/value.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caracal::datastore {
class RestClient;
}

namespace caracal::ipam {

namespace detail {
struct IpamShared; // private state shared by copies of an Ipam
}

using api::IpAddr;
using api::IpNet;

// The objects IPAM reads and compare-and-swaps. Errors keep the API's codes: NotFound,
// AlreadyExists, Conflict (stale resourceVersion).
class Store {
public:
  virtual ~Store() = default;
  virtual Result<Value> get(const api::KindInfo& kind, std::string_view ns,
                            std::string_view name) = 0;
  virtual Result<std::vector<Value>> list(const api::KindInfo& kind, std::string_view ns = "") = 0;
  virtual Result<Value> create(const api::KindInfo& kind, const Value& obj) = 0;
  // metadata.resourceVersion of `obj` must match the stored one.
  virtual Result<Value> update(const api::KindInfo& kind, const Value& obj) = 0;
  // Deletes when the stored resourceVersion equals `resourceVersion` ("" = unconditionally).
  virtual Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name,
                        std::string_view resourceVersion = "") = 0;
};

// The store behind a caracal-apiserver or kube-apiserver.
std::unique_ptr<Store> makeRestStore(datastore::RestClient& client);
// An in-memory store with resourceVersion compare-and-swap, for tests.
std::unique_ptr<Store> makeMemoryStore();

// Handle ID conventions (Calico's).
std::string podHandle(std::string_view containerId);  // "k8s-pod-network.<containerID>"
std::string vxlanTunnelHandle(std::string_view node); // "vxlan-tunnel-addr-<node>"
std::string ipipTunnelHandle(std::string_view node);  // "ipip-tunnel-addr-<node>"
// Object names.
std::string blockName(const IpNet& block);
std::string affinityName(std::string_view node, const IpNet& block);
std::string handleName(std::string_view handleId);
// metadata.labels of an object (a Node or Namespace), as matched by pool selectors.
std::map<std::string, std::string> labelsOf(const Value& obj);

struct AssignArgs {
  std::string handle;                       // required
  std::string node;                         // required: whose blocks to use
  std::map<std::string, std::string> attrs; // e.g. namespace, pod, node, timestamp
  int num4 = 1;
  int num6 = 0;
  // Pool names or CIDRs to allocate from (CNI ipv4_pools / cni.projectcalico.org/ipv4pools);
  // empty = every enabled pool whose nodeSelector matches `nodeLabels` and namespaceSelector
  // matches `namespaceLabels`, and whose allowedUses includes `use`.
  std::vector<std::string> pools4;
  std::vector<std::string> pools6;
  std::map<std::string, std::string> nodeLabels;
  std::map<std::string, std::string> namespaceLabels;
  std::string use = "Workload"; // or "Tunnel"
};

struct Allocation {
  IpAddr ip;
  IpNet block; // the block holding it
  std::string handle;
  std::map<std::string, std::string> attrs;
  std::string
      blockAffinity; // "host:node1" (the block's owner; differs from attrs.node if borrowed)
};

struct PoolUsage {
  std::string name;
  IpNet cidr;
  uint64_t total = 0;
  uint64_t inUse = 0;
  uint64_t reserved = 0; // by IPReservations
};
struct BlockUsage {
  IpNet cidr;
  std::string pool;
  std::string affinity; // "host:node1", "" when none
  uint64_t total = 0;
  uint64_t inUse = 0;
};
struct Usage {
  std::vector<PoolUsage> pools;
  std::vector<BlockUsage> blocks;
};

// What `ipam check` finds.
struct Problem {
  enum class Kind {
    LeakedAddress,  // allocated, but no handle records it / the pod or node is gone
    DoubleAssigned, // the same address allocated more than once (in overlapping blocks)
    HandleMismatch, // a handle's block counts disagree with the blocks' allocations
    OrphanAffinity, // an affinity without a block, or a block claiming a missing affinity
  };
  Kind kind;
  std::string detail; // human text naming the address/handle/block
  std::optional<IpAddr> ip;
  std::string handle;
};
const char* problemKindName(Problem::Kind k);
struct CheckReport {
  uint64_t allocations = 0;
  uint64_t handles = 0;
  uint64_t blocks = 0;
  std::vector<Problem> problems;
};

// One address to release and the handle it must still be allocated to (Calico's ReleaseOptions).
// The handle is compared with the block's allocation inside the compare-and-swap that frees it, so
// an address freed and re-allocated to another handle meanwhile is never released by mistake.
struct ReleaseOptions {
  IpAddr address;
  std::string handle; // "" = release whatever holds the address
};
struct ReleaseResult {
  std::vector<IpAddr> notAllocated; // free already (sorted)
  // Allocated, but to another handle than the one expected: left in place (sorted by address).
  std::vector<std::pair<IpAddr, std::string>> handleMismatch; // {address, its actual handle}
};

struct Options {
  int maxRetries = 100; // CAS retries per write before giving up with Code::Conflict
};

class Ipam {
public:
  explicit Ipam(Store& store, Options opts = {});

  // Allocates num4 IPv4 and num6 IPv6 addresses for args.handle; returns them as /32 and /128.
  // Either every requested address is allocated or none is (partial work is released).
  Result<std::vector<IpNet>> autoAssign(const AssignArgs& args);
  // Allocates one specific address (cni.projectcalico.org/ipAddrs); Code::AlreadyExists when taken.
  Status assignIp(const IpAddr& ip, const AssignArgs& args);
  // Releases every address of the handle; ok (nothing done) when the handle is unknown.
  Status releaseByHandle(std::string_view handle);
  // Releases these addresses; returns those that were not allocated.
  Result<std::vector<IpAddr>> releaseIps(const std::vector<IpAddr>& ips);
  // Releases each address only while it is still allocated to its expected handle.
  Result<ReleaseResult> releaseIpsChecked(const std::vector<ReleaseOptions>& ips);
  Result<std::vector<IpAddr>> ipsByHandle(std::string_view handle);
  // NotFound when the address is not allocated.
  Result<Allocation> lookup(const IpAddr& ip);
  // Releases the node's empty affine blocks and their affinities (node deletion, GC).
  Status releaseNodeAffinities(std::string_view node);

  Result<Usage> usage();
  // `livePods` (namespace/name) and `liveNodes`, when given, let check report allocations whose
  // pod or node is gone as leaked.
  Result<CheckReport> check(const std::vector<std::string>* livePods = nullptr,
                            const std::vector<std::string>* liveNodes = nullptr);

private:
  Store& store_;
  Options opts_;
  std::shared_ptr<detail::IpamShared> shared_;
};

} // namespace caracal::ipam
