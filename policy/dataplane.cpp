#include "policy/dataplane.h"

namespace caracal::policy {

void applyDelta(Dataplane& d, const DataplaneDelta& delta) {
  for (const auto& [key, chain] : delta.policyChainsRemoved) {
    d.policyChains.erase(key);
  }
  for (const auto& [key, chain] : delta.policyChains) {
    d.policyChains[key] = chain;
  }
  for (const auto& [key, spec] : delta.endpointChainsRemoved) {
    d.endpointChains.erase(key);
  }
  for (const auto& [key, spec] : delta.endpointChains) {
    d.endpointChains[key] = spec;
  }
  for (const auto& name : delta.setsRemoved) {
    d.sets.erase(name);
  }
  for (const auto& [name, set] : delta.setsCreated) {
    d.sets[name] = set;
  }
  for (const auto& [name, change] : delta.setMembers) {
    auto it = d.sets.find(name);
    if (it == d.sets.end()) {
      continue;
    }
    for (const auto& m : change.removed) {
      it->second.members.erase(m);
    }
    it->second.members.insert(change.added.begin(), change.added.end());
  }
  d.problems = delta.problems;
}

} // namespace caracal::policy
