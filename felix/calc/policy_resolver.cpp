#include "felix/calc/policy_resolver.h"

#include <algorithm>
#include <limits>
#include <tuple>

namespace caracal::felix::calc {

namespace {

constexpr double kUnset = std::numeric_limits<double>::infinity();

struct SortKey {
  double tierOrder;
  std::string tier;
  double policyOrder;
  std::string policy;
  bool operator<(const SortKey& o) const {
    return std::tie(tierOrder, tier, policyOrder, policy) <
           std::tie(o.tierOrder, o.tier, o.policyOrder, o.policy);
  }
};

} // namespace

struct PolicyResolver::Impl {
  explicit Impl(Callback cb) : callback(std::move(cb)) {}

  Callback callback;
  std::map<std::string, TierSpec> tiers; // Tier objects
  std::map<std::string, PolicySpec> policies;
  std::map<std::string, std::vector<std::string>> endpoints; // local endpoint -> profiles
  std::map<std::string, std::set<std::string>> matchesByPolicy;
  std::map<std::string, std::set<std::string>> matchesByEndpoint;
  std::map<std::string, std::set<std::string>> policiesByTier;
  std::map<std::string, EndpointPolicies> results;
  std::set<std::string> dirty;

  std::optional<TierSpec> tier(const std::string& name) const {
    if (auto it = tiers.find(name); it != tiers.end()) {
      return it->second;
    }
    bool builtIn = false;
    TierSpec spec = builtInTier(name, &builtIn);
    if (!builtIn) {
      return std::nullopt;
    }
    return spec;
  }

  void markPolicyEndpoints(const std::string& policyId) {
    if (auto it = matchesByPolicy.find(policyId); it != matchesByPolicy.end()) {
      dirty.insert(it->second.begin(), it->second.end());
    }
  }

  void markTierEndpoints(const std::string& tierName) {
    if (auto it = policiesByTier.find(tierName); it != policiesByTier.end()) {
      for (const std::string& p : it->second) {
        markPolicyEndpoints(p);
      }
    }
  }

  EndpointPolicies compute(const std::string& endpointId,
                           const std::vector<std::string>& profiles) const {
    EndpointPolicies out;
    out.profiles = profiles;
    auto mit = matchesByEndpoint.find(endpointId);
    if (mit == matchesByEndpoint.end()) {
      return out;
    }
    std::vector<std::pair<SortKey, const PolicySpec*>> applicable;
    std::map<std::string, std::string> defaults;
    for (const std::string& id : mit->second) {
      auto pit = policies.find(id);
      if (pit == policies.end()) {
        continue; // matched before its spec arrived
      }
      std::optional<TierSpec> t = tier(pit->second.tier);
      if (!t) {
        continue;
      }
      defaults[pit->second.tier] = t->defaultAction;
      applicable.push_back({SortKey{t->order.value_or(kUnset), pit->second.tier,
                                    pit->second.order.value_or(kUnset), id},
                            &pit->second});
    }
    std::sort(applicable.begin(), applicable.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    auto add = [&](std::vector<TierPolicies>& dir, const SortKey& key) {
      if (dir.empty() || dir.back().tier != key.tier) {
        dir.push_back(TierPolicies{key.tier, defaults[key.tier], {}});
      }
      dir.back().policies.push_back(key.policy);
    };
    for (const auto& [key, spec] : applicable) {
      if (spec->ingress) {
        add(out.ingress, key);
      }
      if (spec->egress) {
        add(out.egress, key);
      }
    }
    return out;
  }
};

PolicyResolver::PolicyResolver(Callback callback)
    : impl_(std::make_unique<Impl>(std::move(callback))) {}

PolicyResolver::~PolicyResolver() = default;

TierSpec PolicyResolver::builtInTier(const std::string& name, bool* isBuiltIn) {
  struct BuiltIn {
    const char* name;
    double order;
    const char* action;
  };
  static constexpr BuiltIn kBuiltIns[] = {
      {"default", 1e6, "Deny"}, {"kube-admin", 1000, "Pass"}, {"kube-baseline", 1e7, "Pass"}};
  for (const BuiltIn& b : kBuiltIns) {
    if (name == b.name) {
      if (isBuiltIn) {
        *isBuiltIn = true;
      }
      return TierSpec{b.order, b.action};
    }
  }
  if (isBuiltIn) {
    *isBuiltIn = false;
  }
  return TierSpec{};
}

void PolicyResolver::updateTier(const std::string& name, const TierSpec& spec) {
  auto it = impl_->tiers.find(name);
  if (it != impl_->tiers.end() && it->second == spec) {
    return;
  }
  impl_->tiers[name] = spec;
  impl_->markTierEndpoints(name);
}

void PolicyResolver::deleteTier(const std::string& name) {
  if (impl_->tiers.erase(name) > 0) {
    impl_->markTierEndpoints(name);
  }
}

void PolicyResolver::updatePolicy(const std::string& id, const PolicySpec& spec) {
  auto it = impl_->policies.find(id);
  if (it != impl_->policies.end()) {
    if (it->second == spec) {
      return;
    }
    impl_->policiesByTier[it->second.tier].erase(id);
  }
  impl_->policies[id] = spec;
  impl_->policiesByTier[spec.tier].insert(id);
  impl_->markPolicyEndpoints(id);
}

void PolicyResolver::deletePolicy(const std::string& id) {
  auto it = impl_->policies.find(id);
  if (it == impl_->policies.end()) {
    return;
  }
  impl_->policiesByTier[it->second.tier].erase(id);
  impl_->policies.erase(it);
  impl_->markPolicyEndpoints(id);
}

void PolicyResolver::updateEndpoint(const std::string& id,
                                    const std::vector<std::string>& profiles) {
  impl_->endpoints[id] = profiles;
  impl_->dirty.insert(id);
}

void PolicyResolver::deleteEndpoint(const std::string& id) {
  if (impl_->endpoints.erase(id) > 0) {
    impl_->dirty.insert(id);
  }
}

void PolicyResolver::onMatchStarted(const std::string& policyId, const std::string& endpointId) {
  if (impl_->matchesByPolicy[policyId].insert(endpointId).second) {
    impl_->matchesByEndpoint[endpointId].insert(policyId);
    impl_->dirty.insert(endpointId);
  }
}

void PolicyResolver::onMatchStopped(const std::string& policyId, const std::string& endpointId) {
  auto it = impl_->matchesByPolicy.find(policyId);
  if (it == impl_->matchesByPolicy.end() || it->second.erase(endpointId) == 0) {
    return;
  }
  if (it->second.empty()) {
    impl_->matchesByPolicy.erase(it);
  }
  auto eit = impl_->matchesByEndpoint.find(endpointId);
  if (eit != impl_->matchesByEndpoint.end()) {
    eit->second.erase(policyId);
    if (eit->second.empty()) {
      impl_->matchesByEndpoint.erase(eit);
    }
  }
  impl_->dirty.insert(endpointId);
}

void PolicyResolver::flush() {
  std::set<std::string> dirty;
  dirty.swap(impl_->dirty);
  for (const std::string& id : dirty) {
    auto eit = impl_->endpoints.find(id);
    auto rit = impl_->results.find(id);
    if (eit == impl_->endpoints.end()) {
      if (rit != impl_->results.end()) {
        impl_->results.erase(rit);
        impl_->callback(id, nullptr);
      }
      continue;
    }
    EndpointPolicies next = impl_->compute(id, eit->second);
    if (rit != impl_->results.end() && rit->second == next) {
      continue;
    }
    const EndpointPolicies& stored = impl_->results[id] = std::move(next);
    impl_->callback(id, &stored);
  }
}

const EndpointPolicies* PolicyResolver::policiesFor(const std::string& endpointId) const {
  auto it = impl_->results.find(endpointId);
  return it == impl_->results.end() ? nullptr : &it->second;
}

} // namespace caracal::felix::calc
