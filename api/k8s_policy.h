#pragma once
// Kubernetes NetworkPolicy (networking.k8s.io/v1) to Calico NetworkPolicy (projectcalico.org/v3).
//
// A pure function of one object: no store, no clock. The input is the k8s object as the API stores
// it (a Value in wire form); the output is the Calico policy Felix enforces for it:
//   metadata: name knp.default.<name>, same namespace, annotations naming the source object
//   spec:     tier default, order 1000, selector from podSelector (plus the orchestrator clause),
//             types from policyTypes, one Allow rule per (protocol, peer) of every k8s rule.
// The mapping (docs/design/k8s-policy.md) follows Calico's libcalico-go conversion; where that
// conversion would silently widen a rule on malformed input we drop the rule and say why instead.
//
// Errors: Code::Invalid only when the object as a whole cannot be converted (no or malformed
// name/namespace, a spec.podSelector that cannot be expressed). A k8s rule that cannot be
// converted is dropped and reported in `problems`; the other rules still convert, so the policy
// stays fail-closed (a dropped Allow rule only ever allows less).

#include "common/result.h"
#include "common/value.h"

#include <string>
#include <vector>

namespace caracal::api {

constexpr const char* kConvertedPolicyPrefix = "knp.default.";
// The converted policy's order within the default tier.
constexpr int kConvertedPolicyOrder = 1000;

// Annotations on the converted policy that identify what it was converted from, so that a
// controller can tell whether its copy is current. Calico itself copies uid and resourceVersion
// into the metadata of the converted object; we keep the object's own metadata ours and record the
// source here instead. uid and resourceVersion appear only when the source has them.
constexpr const char* kSourceNameAnnotation = "policy.caracal.io/source-name";
constexpr const char* kSourceUidAnnotation = "policy.caracal.io/source-uid";
constexpr const char* kSourceResourceVersionAnnotation =
    "policy.caracal.io/source-resource-version";

struct K8sPolicyConversion {
  Value policy; // a whole projectcalico.org/v3 NetworkPolicy object
  // One line per reason a k8s rule was dropped (or has no effect), "<field path>: <why>", e.g.
  //   spec.ingress[1].ports[0]: port 0 is out of range
  // Every line whose path starts with spec.ingress[i] / spec.egress[i] means that whole k8s rule
  // produced no Calico rules.
  std::vector<std::string> problems;
};

// Converts a networking.k8s.io/v1 NetworkPolicy. Accepts the stored (normalized) form and is
// tolerant of unnormalized input: missing policyTypes get Kubernetes' default (Ingress, plus
// Egress when egress rules exist); a port without protocol is TCP.
Result<K8sPolicyConversion> convertK8sNetworkPolicy(const Value& knp);

// A metav1.LabelSelector as a Calico selector, as Calico writes it:
//   matchLabels (keys sorted)  k == 'v'
//   In / NotIn                 k in { 'a', 'b' } / k not in { 'a', 'b' }
//   Exists / DoesNotExist      has(k) / ! has(k)
// joined with " && ". With `orchestratorClause` (pod selectors) the result starts with
// projectcalico.org/orchestrator == 'k8s', and an empty or null selector gives that clause alone.
// Without it (namespace selectors) an empty selector `{}` gives all() and a null one "" (no
// namespace selector: the policy's own namespace). Values are quoted with ' unless they contain
// one (then "). Operators it does not know are left out; convertK8sNetworkPolicy checks selectors
// first and refuses such input instead.
std::string k8sSelectorToCalico(const Value& labelSelector, bool orchestratorClause);

} // namespace caracal::api
