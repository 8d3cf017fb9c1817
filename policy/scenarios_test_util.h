#pragma once
// Rule scenarios rendered to nft and iptables-restore text: the golden files of policy_test and
// the inputs policy_netns_test feeds to nft -c / iptables-restore --test.

#include "policy/chains.h"
#include "policy/rules.h"

#include <string>
#include <vector>

namespace caracal::policy::testing {

struct Scenario {
  std::string name;                           // golden file stem
  std::string id;                             // policy id (chain names)
  std::string ns;                             // namespace of a namespaced policy, "" otherwise
  std::string spec;                           // JSON policy spec with ingress / egress rules
  std::vector<std::string> intervalSelectors; // canonical selectors matching network sets
  bool endpoints = false; // also render the endpoint chains scenario (spec ignored)
};

struct Rendered {
  std::string nft;    // a whole `nft -f` file: table, sets, chains
  std::string ipt4;   // iptables-restore input
  std::string ipt6;   // ip6tables-restore input
  std::string ipset4; // ipset restore input for ipt4
  std::string ipset6;
};

const std::vector<Scenario>& scenarios();

// The state the endpoint chains scenario renders: workload and host endpoint chains of every
// kind, and the (empty) policy and profile chains they jump to.
struct EndpointScenario {
  std::vector<PolicyChain> policyChains;
  std::vector<EndpointChainSpec> endpointChains;
};
EndpointScenario endpointScenario();
// Compiles and renders; a compile error is returned as the status.
Result<Rendered> render(const Scenario& s);

} // namespace caracal::policy::testing
