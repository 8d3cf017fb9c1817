#pragma once
// The compiled form of Calico policy rules, independent of the kernel interface that enforces it.
//
// compileRule() turns one projectcalico.org/v3 Rule (a Value, as the API stores it) into a list of
// CompiledRule: flat conjunctions of matches that a renderer (nft_render.h, ipt_render.h) writes
// one kernel rule each. A Calico rule becomes several CompiledRules when
//   - it needs per-family address matches (selectors, nets, named ports): one per IP version;
//   - a `ports` list mixes numbers and named ports, or holds several named ports: one per
//     alternative (a Log rule's alternatives are made disjoint so a packet is logged once).
// Addresses are never inlined: selectors, nets and named ports are references to sets whose
// names come from the caller's SetNamer, so equal selectors share one set across policies.
//
// Selector semantics follow Calico's rule conversion (calico-reference.md §2):
//   - namespaceSelector: every label gets the `pcns.` prefix, all() becomes
//     has(projectcalico.org/namespace) and global() becomes !has(projectcalico.org/namespace);
//   - serviceAccounts: `selector` labels get the `pcsa.` prefix, `names` become
//     `projectcalico.org/serviceaccount in {...}`, the two AND'ed;
//   - in a namespaced policy a side without namespaceSelector is confined to the policy's
//     namespace as soon as it uses selector, notSelector or serviceAccounts;
//   - notSelector is used as written (it also matches non-Calico peers).

#include "api/netaddr.h"
#include "common/result.h"
#include "common/value.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::policy {

enum class Direction { Ingress, Egress };
// "ingress" / "egress".
const char* directionName(Direction d);

enum class Action { Allow, Deny, Log, Pass };
const char* actionName(Action a);

// Packet mark bits, Calico's defaults for iptablesMarkMask 0xffff0000 (lowest bits first).
// Policies never accept: Allow sets kMarkAccept and returns, Pass sets kMarkPass and returns.
inline constexpr uint32_t kMarkAccept = 0x10000;
inline constexpr uint32_t kMarkPass = 0x20000;
inline constexpr uint32_t kMarkDrop = 0x40000;
inline constexpr uint32_t kMarkScratch0 = 0x80000;
inline constexpr uint32_t kMarkScratch1 = 0x100000;
// FelixConfiguration logPrefix default, followed by ": ".
inline constexpr std::string_view kLogPrefix = "calico-packet: ";

// IANA protocol numbers the compiler names.
inline constexpr int kProtoIcmp = 1;
inline constexpr int kProtoTcp = 6;
inline constexpr int kProtoUdp = 17;
inline constexpr int kProtoIcmpv6 = 58;
inline constexpr int kProtoSctp = 132;
inline constexpr int kProtoUdpLite = 136;

enum class SetKind {
  Addr,     // addresses (nft: type ipv4_addr/ipv6_addr hash set; ipset hash:net)
  Interval, // CIDRs (nft: flags interval; ipset hash:net)
  AddrPort, // named ports: address . protocol . port (nft concatenation; ipset hash:ip,port)
};
const char* setKindName(SetKind k);

// A reference to a named set. The name is used as-is by both renderers (`@name`, ipset name), so
// a SetNamer must hand out names valid as nft identifiers and ipset names (<= 31 characters,
// [A-Za-z0-9_.-], starting with a letter).
struct SetRef {
  std::string name;
  SetKind kind = SetKind::Addr;
  int ipVersion = 4; // 4 or 6
  bool operator==(const SetRef&) const = default;
};

// Maps what a rule matches on to set names. The compiler calls it once per (content, version) a
// rule needs; implementations may record the requests to create the sets.
class SetNamer {
public:
  virtual ~SetNamer() = default;
  // The set of addresses of everything `canonicalSelector` selects (api::Selector::str()). Kind
  // Addr for endpoint-only selectors, Interval when the selector may match network sets.
  virtual SetRef selectorSet(const std::string& canonicalSelector, int ipVersion) = 0;
  // An Interval set holding `nets` (masked, sorted, unique, all of family `ipVersion`).
  virtual SetRef netSet(const std::vector<api::IpNet>& nets, int ipVersion) = 0;
  // An AddrPort set of (address, protocol, port) for every endpoint selected by
  // `canonicalSelector` that has a named port `portName` with `protocol`.
  virtual SetRef namedPortSet(const std::string& canonicalSelector, int protocol,
                              const std::string& portName, int ipVersion) = 0;
};

// What a HashSetNamer handed out.
struct SetDecl {
  SetRef ref;
  std::string selector;         // selector and named-port sets
  std::vector<api::IpNet> nets; // net sets (the elements)
  int protocol = 0;             // named-port sets
  std::string portName;         // named-port sets
};

// A SetNamer naming each set after a hash of its content, as Calico's IP set ids do:
//   sel<v>-<h>  selectors      net<v>-<h>  nets      np<v>-<h>  named ports
// where <h> is the first 20 characters of base64url(SHA-256(kind ":" content)); at most 25
// characters, so the names also fit ipset's 31. Selectors listed with markIntervalSelector()
// get Interval sets (they match network sets), the others Addr sets.
class HashSetNamer : public SetNamer {
public:
  SetRef selectorSet(const std::string& canonicalSelector, int ipVersion) override;
  SetRef netSet(const std::vector<api::IpNet>& nets, int ipVersion) override;
  SetRef namedPortSet(const std::string& canonicalSelector, int protocol,
                      const std::string& portName, int ipVersion) override;

  void markIntervalSelector(const std::string& canonicalSelector);
  // Every set handed out, in first-request order, each once.
  const std::vector<SetDecl>& sets() const { return sets_; }

private:
  SetRef remember(SetDecl decl);

  std::vector<std::string> intervalSelectors_;
  std::vector<SetDecl> sets_;
};

// An inclusive port range.
struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  bool operator==(const PortRange&) const = default;
};

// The matches on one side (source or destination) of a compiled rule; every present field must
// hold (a conjunction).
struct EntityMatch {
  std::optional<SetRef> selector;    // address in the set
  std::optional<SetRef> notSelector; // address not in the set
  std::optional<SetRef> nets;        // address in the set
  std::optional<SetRef> notNets;     // address not in the set
  std::vector<PortRange> ports;      // port in one of them (empty: any); sorted, merged
  std::vector<PortRange> notPorts;   // port in none of them; sorted, merged
  std::optional<SetRef> namedPort;   // (address, protocol, port) in the set
  std::vector<SetRef> notNamedPorts; // (address, protocol, port) in none of them

  bool hasAddressMatch() const;
  bool operator==(const EntityMatch&) const = default;
};

struct CompiledRule {
  Action action = Action::Allow;
  int ipVersion = 0; // 0: both families; 4 or 6: that family only
  std::optional<int> protocol;
  std::optional<int> notProtocol;
  // ICMP (protocol 1) or ICMPv6 (protocol 58) type and code; a code only with a type.
  std::optional<int> icmpType;
  std::optional<int> icmpCode;
  std::optional<int> notIcmpType;
  std::optional<int> notIcmpCode;
  EntityMatch source;
  EntityMatch destination;
  // Where it came from, "ingress[2]": used in rule comments.
  std::string origin;

  bool operator==(const CompiledRule&) const = default;
};

// Where a rule sits: the namespace of a namespaced policy ("" for global policies and profiles)
// and the rule's index in its list (-1: no index in error paths).
struct RuleContext {
  std::string namespaceName;
  int index = -1;
};

// Compiles one Calico Rule. Errors are Code::Invalid naming the field:
//   ingress[2].destination.ports[0]: "80:70" is not a range (80 > 70)
// A rule that can never match (protocol equal to notProtocol, nets of one family with an
// ipVersion of the other) compiles to an empty list. `services` and `http` matches are rejected
// (they need service resolution / an L7 proxy that this dataplane does not have).
Result<std::vector<CompiledRule>> compileRule(const Value& rule, Direction dir, SetNamer& namer,
                                              const RuleContext& ctx = {});

struct CompiledPolicy {
  std::vector<CompiledRule> ingress;
  std::vector<CompiledRule> egress;
};
// Compiles `spec.ingress` and `spec.egress` of a (Global)NetworkPolicy or Profile spec.
// `namespaceName` is "" for global policies and profiles.
Result<CompiledPolicy> compilePolicy(const Value& spec, std::string_view namespaceName,
                                     SetNamer& namer);

// Calico's selector rewrite for a rule side (see the file comment); "" when the side selects no
// endpoints. Exposed for tests and for the calculation graph, which must index the same selector.
// The result is canonical (api::Selector::str()).
Result<std::string> entitySelector(const Value& entity, std::string_view namespaceName,
                                   const std::string& path);
// `selector` with every label key prefixed by `prefix` (canonical form). With
// `namespaceSelector`, all() and global() take their namespaceSelector meaning.
Result<std::string> prefixSelectorLabels(std::string_view selector, std::string_view prefix,
                                         bool namespaceSelector = false);

// The endpoints a policy applies to, as Calico composes it: for a NetworkPolicy in namespace N
// `(<selector>) && projectcalico.org/namespace == "N"`; for a GlobalNetworkPolicy the selector
// AND its namespaceSelector (keys prefixed `pcns.`, namespaceSelector meaning of all()/global());
// either AND its serviceAccountSelector (keys prefixed `pcsa.`). Canonical; errors name the field.
Result<std::string> policyEndpointSelector(const std::string& kind, const Value& policy);

inline constexpr std::string_view kNamespaceLabel = "projectcalico.org/namespace";
inline constexpr std::string_view kServiceAccountLabel = "projectcalico.org/serviceaccount";
inline constexpr std::string_view kNamespaceLabelPrefix = "pcns.";
inline constexpr std::string_view kServiceAccountLabelPrefix = "pcsa.";

// The protocol's name as nft and iptables spell it ("tcp", "udp", "icmp", "ipv6-icmp", "sctp",
// "udplite"), or its number.
std::string protocolName(int protocol);
// "0x" and `v` in hex, zero-padded to `width` digits.
std::string hexValue(uint32_t v, int width = 0);

// base64url(SHA-256(data)), 43 characters.
std::string sha256Base64Url(std::string_view data);

} // namespace caracal::policy
