#pragma once
// The kernel writer of the nftables policy dataplane: programs `table inet caracal`
// (dataplane-nftables.md) through libnftnl/libmnl netlink batches, never through the nft binary.
//
// The caller hands over the whole desired state (NftDesired): named sets with their elements,
// policy/profile chains (PolicyChain), endpoint chains (EndpointChainSpec). The writer adds the
// fixed parts itself:
//   map from-endpoint { type ifname : verdict }   iifname -> jump fw-<iface>  (Egress specs)
//   map to-endpoint   { type ifname : verdict }   oifname -> jump tw-<iface>  (Ingress specs)
//   chain forward (filter hook forward priority 0, policy accept):
//     ct state established,related accept
//     meta mark & 0x00010000 == 0 iifname vmap @from-host-endpoint-forward
//                                      host endpoints' applyOnForward policies: fhfw-<iface>
//                                      (Ingress), skipped when preDNAT or untracked policy allowed
//     iifname vmap @from-endpoint
//     oifname vmap @to-endpoint
//     oifname vmap @to-host-endpoint-forward       thfw-<iface> (Egress)
//     meta mark & 0x00010000 == 0x00010000 accept
//     accept | drop        (ForwardDefault: traffic no endpoint chain allowed or owned)
// and for host endpoints (EndpointChainSpec::host), the host's own traffic:
//   map from-host-endpoint { type ifname : verdict }  iifname -> jump fh-<iface>  (Ingress)
//   map to-host-endpoint   { type ifname : verdict }  oifname -> jump th-<iface>  (Egress)
//   chain input  (filter hook input priority 0, policy accept):
//     ct state established,related accept
//     udp dport 4789 accept; meta l4proto ipencap accept   (tunnels between nodes)
//     meta mark & 0x00010000 == 0x00010000 accept          (allowed by preDNAT/untracked policy)
//     iifname vmap @from-host-endpoint
//   chain output (filter hook output priority 0, policy accept): the same with
//     oifname vmap @to-host-endpoint
// A host endpoint chain accepts its failsafe ports first, then works like a workload's; traffic
// on interfaces without a host endpoint is not touched.
// Host endpoint policy before DNAT and before connection tracking (HostHook::PreDnat, Untracked):
//   map from-host-endpoint-prednat    iifname -> jump fhpre-<iface>
//   map from-host-endpoint-untracked  iifname -> jump fhun-<iface>
//   map to-host-endpoint-untracked    oifname -> jump thun-<iface>
//   chain raw-prerouting (filter hook prerouting priority raw):
//     meta mark set meta mark & 0xffe0ffff                  (our bits start clear)
//     udp dport 4789 accept; meta l4proto ipencap accept
//     iifname vmap @from-host-endpoint-untracked
//     meta mark & 0x00010000 == 0x00010000 notrack         (allowed: not tracked)
//   chain mangle-prerouting (filter hook prerouting priority mangle):
//     ct state established,related accept
//     udp dport 4789 accept; meta l4proto ipencap accept
//     meta mark & 0x00010000 == 0x00010000 accept
//     iifname vmap @from-host-endpoint-prednat
//   chain raw-output (filter hook output priority raw): raw-prerouting's rules with
//     oifname vmap @to-host-endpoint-untracked
// Their endpoint chains only allow (accept bit) or deny (drop); what they leave undecided goes on
// to the ordinary chains, what they allowed skips the host endpoint's ordinary ingress (fh-,
// fhfw-) or egress (th-) policy. Workload chains still apply.
// update() takes only what changed (NftChanges) and costs time in proportion to it: the record is
// updated in place, nothing else is compared. It needs a record (an apply() or resync() first).
//
// Rules are the expressions nft itself generates for the text of nft_render.h, so
// `nft list table inet caracal` shows the same rules as loading renderNftTable() with `nft -f`.
//
// apply() diffs the desired state against the writer's own record of what it last wrote and sends
// one batch with only the differences: set elements added/removed, chains added, refilled or
// deleted, map elements. Nothing is read from the kernel on that path. The first apply() (and
// every resync()) reads the table back first: chains, their rules, sets and elements, and repairs
// what differs (also changes made by others, e.g. `nft delete rule`).
//
// Chain comments: every chain is created with `comment "caracal:<hash>"` (the hash nft_render.h
// computes). The kernel ignores userdata on chain updates, so a chain whose rules change is
// deleted and re-created when nothing jumps to it (endpoint chains: their map element is removed
// and re-added in the same batch), and flushed and refilled (the comment then keeps the hash of
// its first content) while an endpoint chain jumps to it. resync() therefore compares rules, not
// comments.

#include "common/result.h"
#include "policy/chains.h"
#include "policy/rules.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::netlink {
class NftBatch;
} // namespace caracal::netlink

namespace caracal::policy {

inline constexpr std::string_view kNftFromEndpointMap = "from-endpoint";
inline constexpr std::string_view kNftToEndpointMap = "to-endpoint";
inline constexpr std::string_view kNftFromHostEndpointMap = "from-host-endpoint";
inline constexpr std::string_view kNftToHostEndpointMap = "to-host-endpoint";
inline constexpr std::string_view kNftFromHostForwardMap = "from-host-endpoint-forward";
inline constexpr std::string_view kNftToHostForwardMap = "to-host-endpoint-forward";
inline constexpr std::string_view kNftFromHostPreDnatMap = "from-host-endpoint-prednat";
inline constexpr std::string_view kNftFromHostUntrackedMap = "from-host-endpoint-untracked";
inline constexpr std::string_view kNftToHostUntrackedMap = "to-host-endpoint-untracked";
inline constexpr std::string_view kNftForwardChain = "forward";
inline constexpr std::string_view kNftInputChain = "input";
inline constexpr std::string_view kNftOutputChain = "output";
inline constexpr std::string_view kNftRawPreroutingChain = "raw-prerouting";
inline constexpr std::string_view kNftManglePreroutingChain = "mangle-prerouting";
inline constexpr std::string_view kNftRawOutputChain = "raw-output";

struct NftSetSpec {
  std::string name;
  SetKind kind = SetKind::Addr;
  int ipVersion = 4;
  bool autoMerge = false; // Interval sets: nft's `auto-merge` flag (shown by nft list)
  // Addr: "10.0.0.1" (or /32, /128); Interval: "10.0.0.0/8" (overlapping and adjacent blocks are
  // merged, as nft's auto-merge does); AddrPort: "10.0.0.1,tcp:8080" (protocol name tcp, udp,
  // sctp, udplite, or a number).
  std::vector<std::string> elements;
};

// The set as renderNftSetDeclaration() declares it: net sets carry their nets and auto-merge,
// selector and named-port sets start empty.
NftSetSpec nftSetSpec(const SetDecl& decl);

enum class ForwardDefault { Accept, Drop };

struct NftDesired {
  std::vector<NftSetSpec> sets;
  std::vector<PolicyChain> policyChains;
  // Each spec is one chain plus its element in from-endpoint (Egress) or to-endpoint (Ingress).
  std::vector<EndpointChainSpec> endpointChains;
  ForwardDefault forwardDefault = ForwardDefault::Accept;
};

// Part of the desired state, relative to what the writer holds: whatever the change does not
// name stays as it is.
struct NftSetChange {
  std::string name;
  std::vector<std::string> add;    // elements, as in NftSetSpec (already present: nothing)
  std::vector<std::string> remove; // absent: nothing
};

struct NftChanges {
  std::vector<NftSetSpec> sets; // new sets, or the whole new contents of existing ones
  std::vector<NftSetChange> elements;
  std::vector<std::string> setsDeleted;
  std::vector<PolicyChain> policyChains; // new or replaced
  std::vector<EndpointChainSpec> endpointChains;
  // Chain names (nftPolicyChainName / nftEndpointChainName); absent chains are skipped.
  std::vector<std::string> chainsDeleted;
  std::optional<ForwardDefault> forwardDefault;
  bool empty() const {
    return sets.empty() && elements.empty() && setsDeleted.empty() && policyChains.empty() &&
           endpointChains.empty() && chainsDeleted.empty() && !forwardDefault;
  }
};

// The forward chain's rules as nft lists them (without handles), for tests and dumps.
std::vector<std::string> nftForwardRules(ForwardDefault d);
// The same for the other base chains (input, output, raw-prerouting, mangle-prerouting,
// raw-output; empty for other names).
std::vector<std::string> nftBaseChainRules(std::string_view chain);

struct NftStats {
  uint64_t batches = 0;         // batches sent (an apply with no difference sends none)
  uint64_t messages = 0;        // requests in all batches (begin/end not counted)
  size_t lastBatchMessages = 0; // requests in the last apply()/resync() (0: nothing sent)
  uint64_t resyncs = 0;         // reads of the table
  uint64_t lastApplyMicros = 0; // duration of the last apply()/resync(), building to last ack
  // What the last batch did.
  size_t lastElementsAdded = 0;
  size_t lastElementsRemoved = 0;
  size_t lastChainsWritten = 0; // created, re-created or refilled
  size_t lastChainsDeleted = 0;
  size_t lastRulesWritten = 0;
};

class NftSocket;

// Not thread-safe; one owner (the dataplane loop).
class NftPolicyTable {
public:
  // Opens the nfnetlink socket in the namespace at `netnsPath` ("" = the calling thread's); later
  // calls act on that namespace from any thread. Nothing is sent yet.
  static Result<std::unique_ptr<NftPolicyTable>> open(const std::string& netnsPath = "");
  ~NftPolicyTable();
  NftPolicyTable(const NftPolicyTable&) = delete;
  NftPolicyTable& operator=(const NftPolicyTable&) = delete;

  // Writes the difference to what was last written, in one batch. Validation errors
  // (Code::Invalid naming the set, chain or rule) leave the kernel and the record untouched. A
  // failed batch changes nothing in the kernel (transaction) and makes the next apply() resync.
  Status apply(const NftDesired& desired);
  // Writes one change in one batch, touching only what it names. Code::Unavailable when
  // there is no record yet or the last write failed (then apply() or resync() the whole state).
  // Validation errors (a chain jumping to a missing chain, a set of another type, a policy
  // chain deleted while an endpoint chain still jumps to it) leave the kernel and record as
  // they were.
  Status update(const NftChanges& changes);
  bool needsFullWrite() const { return needResync_ || record_ == nullptr; }
  // Reads the table back, then writes what differs from `desired` in one batch.
  Status resync(const NftDesired& desired);
  // Deletes the table (ok when absent) and forgets the record.
  Status remove();
  // When the table does not exist: writes the empty state (base chains and maps, which let
  // everything through). An existing table is not touched (the next apply() reads it back).
  Status createIfMissing();

  NftStats stats() const { return stats_; }

  struct Record;    // what the writer last wrote (nft_table.cpp)
  struct PlanCache; // derived data of the last input, reused for what did not change

private:
  struct BatchCounts {
    size_t elementsAdded = 0;
    size_t elementsRemoved = 0;
    size_t chainsWritten = 0;
    size_t chainsDeleted = 0;
    size_t rulesWritten = 0;
  };

  explicit NftPolicyTable(std::unique_ptr<NftSocket> sock);
  Status write(const NftDesired& desired, bool readBack);
  // Counts the batch in stats_ and sends it (nothing when empty); a failure makes the next write
  // read the kernel back.
  Status sendBatch(netlink::NftBatch& b, const BatchCounts& counts);

  std::unique_ptr<NftSocket> sock_;
  std::unique_ptr<Record> record_;
  std::unique_ptr<PlanCache> cache_;
  bool needResync_ = true;
  uint32_t anonSetCounter_ = 0;
  NftStats stats_;
};

} // namespace caracal::policy
