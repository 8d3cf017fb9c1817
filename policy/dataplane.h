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
  bool operator==(const Dataplane&) const = default;
};

// One step of the calculation: what changed in a Dataplane, keyed as it is. Applying it to the
// state before gives the state after (applyDelta), in time proportional to the delta.
struct SetMemberDelta {
  std::set<std::string> added;
  std::set<std::string> removed;
};

struct DataplaneDelta {
  std::map<std::string, PolicyChain> policyChains; // new or changed, whole
  // Removed chains: their identity (id, direction, profile; no rules).
  std::map<std::string, PolicyChain> policyChainsRemoved;
  std::map<std::string, EndpointChainSpec> endpointChains; // new or changed, whole
  // Removed endpoint chains: interface and direction.
  std::map<std::string, EndpointChainSpec> endpointChainsRemoved;
  std::map<std::string, SetState> setsCreated;      // whole
  std::map<std::string, SetMemberDelta> setMembers; // of sets that existed before
  std::set<std::string> setsRemoved;
  std::map<std::string, std::string> problems; // the whole list, as Dataplane::problems
  // Nothing for a writer to do (problems aside).
  bool empty() const {
    return policyChains.empty() && policyChainsRemoved.empty() && endpointChains.empty() &&
           endpointChainsRemoved.empty() && setsCreated.empty() && setMembers.empty() &&
           setsRemoved.empty();
  }
};

void applyDelta(Dataplane& d, const DataplaneDelta& delta);

} // namespace caracal::policy
