#pragma once
// The desired policy dataplane of one node, neutral to the kernel interface: what felix's
// calculation (felix/calc/policy_calc.h) produces and what the nftables and iptables writers take.

#include "policy/chains.h"
#include "policy/rules.h"

#include <map>
#include <set>
#include <string>

namespace caracal::policy {

struct SetState {
  SetRef ref;
  std::set<std::string> members; // CIDRs, or "<cidr>,<proto>:<port>" for named-port sets
  bool operator==(const SetState&) const = default;
};

struct Dataplane {
  // Keyed by chain identity: "<policy id or profile>|ingress|egress", "<interface>|ingress|egress".
  std::map<std::string, PolicyChain> policyChains;
  std::map<std::string, EndpointChainSpec> endpointChains;
  std::map<std::string, SetState> sets; // by set name
  // Policies and profiles left out, with why ("np/prod/web: ingress[0].ports[0]: ...").
  std::map<std::string, std::string> problems;
};

} // namespace caracal::policy
