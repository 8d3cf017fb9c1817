#pragma once
// From API objects to what the calculation graph indexes: selectable items (endpoints and
// network sets, with their labels, parents, addresses and named ports) and profiles (the parents,
// with the labels they lend and their rules).
//
//   WorkloadEndpoint ns/name  → item "wep/<ns>/<name>": metadata.labels, parents spec.profiles,
//                               nets spec.ipNetworks, named ports spec.ports, local when spec.node
//                               is this node (then spec.interfaceName is its host interface)
//   HostEndpoint name         → item "hep/<name>": labels, parents spec.profiles, nets
//                               spec.expectedIPs (as /32, /128), named ports, spec.interfaceName
//   NetworkSet ns/name        → item "ns/<ns>/<name>": labels + projectcalico.org/namespace, nets
//   GlobalNetworkSet name     → item "gns/<name>": labels, nets
//   Namespace name            → profile "kns.<name>": labels pcns.<k> for every namespace label and
//                               pcns.projectcalico.org/name; rules allow everything (Kubernetes'
//                               default allow)
//   ServiceAccount ns/name    → profile "ksa.<ns>.<name>": labels pcsa.<k> and
//                               pcsa.projectcalico.org/name; no rules
//   Profile name              → profile "<name>": spec.labelsToApply, spec.ingress/egress
// Malformed fields read as absent (the API validated the objects).

#include "api/selector.h"
#include "common/value.h"
#include "felix/calc/ipset_calc.h"

#include <optional>
#include <string>
#include <vector>

namespace caracal::felix::calc {

struct Item {
  std::string id;
  api::Labels labels;
  std::vector<std::string> parents;
  std::vector<std::string> nets;
  std::vector<NamedPort> ports;
  std::string node;          // endpoints: the node they live on ("" for network sets)
  std::string interfaceName; // endpoints: host-side interface
  bool operator==(const Item&) const = default;
};

struct Profile {
  std::string id;
  api::Labels labels;
  Value ingress; // array of rules
  Value egress;
  bool operator==(const Profile&) const = default;
};

std::optional<Item> workloadEndpointItem(const Value& wep);
std::optional<Item> hostEndpointItem(const Value& hep);
std::optional<Item> networkSetItem(const Value& set); // NetworkSet or GlobalNetworkSet by `kind`
std::optional<Profile> namespaceProfile(const Value& ns);
std::optional<Profile> serviceAccountProfile(const Value& sa);
std::optional<Profile> profileFromObject(const Value& profile);

// Item ids for deletions (same scheme as the functions above).
std::string itemId(const std::string& kind, const std::string& key);
// Profile ids for deletions: "kns.<ns>", "ksa.<ns>.<sa>" or the Profile's name.
std::string profileId(const std::string& kind, const std::string& key);

} // namespace caracal::felix::calc
