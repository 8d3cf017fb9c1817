#pragma once
// What the renderers (nft_render.h, ipt_render.h) turn into chains: one chain per policy (or
// profile) and direction holding its compiled rules, and one chain per endpoint and direction
// holding only jumps to policy chains, in tier order.
//
// Evaluation, as Calico's felix programs it (calico-reference.md §4):
//   endpoint chain: clear the accept and pass bits; for each tier in order: clear the pass bit
//   (after the first tier), jump to each policy chain while the pass bit is clear, return as soon
//   as the accept bit is set; at the end of the tier drop unless the pass bit is set (tier
//   defaultAction Deny; nothing for Pass); then each profile, returning when it accepted; then
//   drop. The caller lists only the tiers that have at least one policy applying to the endpoint
//   in that direction: a tier with none has no effect (not even its default action).
//   policy chain: Allow sets the accept bit and returns, Pass sets the pass bit and returns, Deny
//   drops, Log logs and goes on; falling off the end returns with neither bit set.
// Nothing accepts inside these chains: the base chain accepts when every endpoint chain on the
// path returned, so pod-to-pod traffic on one node crosses both endpoints' chains.

#include "policy/rules.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caracal::policy {

struct PolicyChain {
  // Policy id (Calico's `<kind>/<namespace>/<name>`, e.g. np/prod/api or gnp/allow-dns), or the
  // profile name (kns.prod) when `profile`.
  std::string id;
  Direction direction = Direction::Ingress;
  bool profile = false;
  std::vector<CompiledRule> rules;
  bool operator==(const PolicyChain&) const = default;
};

enum class TierDefault { Deny, Pass };

struct TierPolicies {
  std::string name;
  std::vector<std::string> policyIds; // in evaluation order (order, then name)
  TierDefault defaultAction = TierDefault::Deny;
  bool operator==(const TierPolicies&) const = default;
};

// A port a host endpoint always lets through, whatever its policy says (Calico's
// failsafeInboundHostPorts / failsafeOutboundHostPorts): inbound, a local port the host serves
// (SSH, BGP, the API); outbound, a remote port the host talks to (DNS, the API, etcd).
struct FailsafePort {
  FailsafePort(int protocol = kProtoTcp, uint16_t port = 0,
               std::optional<api::IpNet> net = std::nullopt)
      : protocol(protocol), port(port), net(std::move(net)) {}
  int protocol = kProtoTcp; // kProtoTcp, kProtoUdp, kProtoSctp
  uint16_t port = 0;
  // Calico's `net`: only to or from this block (the remote end: the source of inbound traffic,
  // the destination of outbound); unset: any address.
  std::optional<api::IpNet> net;
  bool operator==(const FailsafePort&) const = default;
};

// Calico's defaults: inbound tcp 22, udp 68, tcp 179, 2379, 2380, 5473, 6443, 6666, 6667;
// outbound udp 53, udp 67, tcp 179, 2379, 2380, 5473, 6443, 6666, 6667.
std::vector<FailsafePort> defaultFailsafeInbound();
std::vector<FailsafePort> defaultFailsafeOutbound();

// Which traffic a host endpoint's chain filters (Calico's hooks for host endpoint policy).
enum class HostHook {
  // Traffic of the host's own processes arriving on (Ingress: fh-) or sent out of (Egress: th-)
  // the interface: failsafe ports first, ordinary policies, profiles, then drop.
  Local,
  // Traffic the host forwards in through (fhfw-) or out by (thfw-) the interface: only the
  // policies with applyOnForward; no failsafe ports, no profiles.
  Forward,
  // Everything arriving on the interface, before DNAT (fhpre-, Ingress only): preDNAT policies.
  PreDnat,
  // Everything arriving on (fhun-) or sent out of (thun-) the interface, before connection
  // tracking: doNotTrack policies; what they allow is not tracked.
  Untracked,
};

struct EndpointChainSpec {
  EndpointChainSpec(std::string interfaceName = "", Direction direction = Direction::Ingress,
                    std::vector<TierPolicies> tiers = {}, std::vector<std::string> profileIds = {})
      : interfaceName(std::move(interfaceName)), direction(direction), tiers(std::move(tiers)),
        profileIds(std::move(profileIds)) {}
  std::string interfaceName; // host side of the endpoint, e.g. cali1a2b3c4d5e6
  // Workloads: Ingress is traffic to the endpoint (tw- chain, ingress policies), Egress traffic
  // from it (fw- chain, egress policies).
  // Host endpoints (`host`): Ingress is traffic arriving on the interface, Egress traffic sent
  // out of it; `hook` says which of it the chain filters.
  // PreDnat and Untracked chains decide only what a policy allows or denies: after their last
  // policy nothing is dropped (no tier end, no profiles) and the packet goes on to the ordinary
  // policy, which it skips when it was allowed. Local and PreDnat/Untracked ingress chains accept
  // the failsafe ports first.
  Direction direction = Direction::Ingress;
  std::vector<TierPolicies> tiers;
  std::vector<std::string> profileIds;
  bool host = false;
  HostHook hook = HostHook::Local;    // host endpoints only
  std::vector<FailsafePort> failsafe; // host endpoints only
  bool operator==(const EndpointChainSpec&) const = default;
  // Host endpoint chains that only decide allowed or denied (PreDnat, Untracked).
  bool early() const { return host && (hook == HostHook::PreDnat || hook == HostHook::Untracked); }
};

// prefix + id when that is at most maxLen characters and id uses only [A-Za-z0-9._/-];
// otherwise prefix + "_" + base64url(SHA-256(id)), cut to maxLen (Calico's rule for long names).
std::string chainName(std::string_view prefix, std::string_view id, size_t maxLen);

// "pi-" / "po-" (policies), "pri-" / "pro-" (profiles), "tw-" / "fw-" (workload endpoints),
// "fh-" / "th-" (host endpoints), "fhfw-" / "thfw-" (host endpoints, forwarded traffic),
// "fhpre-" (preDNAT), "fhun-" / "thun-" (untracked): the short prefixes the chain names of both
// renderers start with (iptables adds "cali-").
const char* policyChainPrefix(Direction d, bool profile);
const char* endpointChainPrefix(Direction d, bool host = false, HostHook hook = HostHook::Local);
// The prefix of a spec's chain.
const char* endpointChainPrefix(const EndpointChainSpec& spec);

} // namespace caracal::policy
