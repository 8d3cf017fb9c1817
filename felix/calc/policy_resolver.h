#pragma once
// The policy resolver of felix's calculation graph: which policies apply to each endpoint, in
// which order, per direction.
//
// Inputs: tiers (order, default action), policies (tier, order, the directions they have), local
// endpoints (their profiles), and the label index's verdicts "policy P's selector matches endpoint
// E" (onMatchStarted / onMatchStopped). Output, per endpoint and direction, the tiers that have at
// least one applicable policy, in order, each with its policies in order and the tier's default
// action; and the endpoint's profiles. An endpoint with no applicable policy in a direction gets
// an empty tier list there: its profiles decide (Calico's semantics).
//
// Ordering (Calico's): tiers by `order` ascending, an unset order after every set one, ties by
// name; inside a tier, policies by `order` the same way, ties by policy id. The built-in tiers
// exist without an object: `default` (order 1,000,000, Deny), `kube-admin` (1,000, Pass) and
// `kube-baseline` (10,000,000, Pass); a Tier object overrides them. A policy whose tier does not
// exist applies nowhere until the tier appears.
//
// Incremental: an update marks only the endpoints it can affect (a policy change: the endpoints
// its selector matches; a tier change: the endpoints with a policy in it) and flush() recomputes
// those alone (k log k for k policies matching the endpoint), calling the callback only for
// endpoints whose result changed. Pure: no I/O, no clock, no threads.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace caracal::felix::calc {

struct TierSpec {
  std::optional<double> order;
  std::string defaultAction = "Deny"; // "Deny" or "Pass"
  bool operator==(const TierSpec&) const = default;
};

struct PolicySpec {
  std::string tier = "default";
  std::optional<double> order;
  bool ingress = false; // spec.types contains Ingress
  bool egress = false;  // spec.types contains Egress
  bool operator==(const PolicySpec&) const = default;
};

struct TierPolicies {
  std::string tier;
  std::string defaultAction;
  std::vector<std::string> policies; // policy ids, in order
  bool operator==(const TierPolicies&) const = default;
};

struct EndpointPolicies {
  std::vector<TierPolicies> ingress;
  std::vector<TierPolicies> egress;
  std::vector<std::string> profiles;
  bool operator==(const EndpointPolicies&) const = default;
};

class PolicyResolver {
public:
  // `policies` null: the endpoint is gone.
  using Callback =
      std::function<void(const std::string& endpointId, const EndpointPolicies* policies)>;

  explicit PolicyResolver(Callback callback);
  ~PolicyResolver();
  PolicyResolver(const PolicyResolver&) = delete;
  PolicyResolver& operator=(const PolicyResolver&) = delete;

  void updateTier(const std::string& name, const TierSpec& spec);
  void deleteTier(const std::string& name); // a built-in tier falls back to its defaults
  void updatePolicy(const std::string& id, const PolicySpec& spec);
  void deletePolicy(const std::string& id);
  // Local endpoints (only these get results). Profiles in the endpoint's order.
  void updateEndpoint(const std::string& id, const std::vector<std::string>& profiles);
  void deleteEndpoint(const std::string& id);
  // From the label index: policy `policyId`'s selector started/stopped matching `endpointId`.
  // Matches may arrive before or after the policy and endpoint themselves.
  void onMatchStarted(const std::string& policyId, const std::string& endpointId);
  void onMatchStopped(const std::string& policyId, const std::string& endpointId);

  // Recomputes the endpoints touched since the last flush and reports those that changed.
  void flush();

  // The last flushed result for an endpoint, or nullptr.
  const EndpointPolicies* policiesFor(const std::string& endpointId) const;

  static TierSpec builtInTier(const std::string& name, bool* isBuiltIn = nullptr);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::felix::calc
