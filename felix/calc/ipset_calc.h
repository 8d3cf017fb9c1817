#pragma once
// The IP-set calculator of felix's calculation graph: the members of every set a policy rule
// refers to, kept up to date from the label index's matches.
//
// Two kinds of set, both keyed by an id the caller chooses (e.g. the canonical selector text):
//   - selector sets: the addresses (`ipNetworks` of endpoints, `nets` of NetworkSets) of every
//     item the selector matches;
//   - named-port sets: for the items a selector matches, every (address, protocol, port) where
//     the item has a port of that name and protocol (Calico's named ports).
// A member is reported once however many items contribute it (two NetworkSets with the same
// CIDR, an address moving between endpoints): a reference count per (set, member) turns the
// items' changes into exactly one onAdded when the first contributor appears and one onRemoved
// when the last one goes. Work per change is proportional to the affected members: an item's
// address change touches only the sets that match it; a match change only that item's members.
// Pure: no I/O, no clock, no threads.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace caracal::felix::calc {

struct NamedPort {
  std::string name;
  std::string protocol; // "TCP", "UDP", "SCTP"
  uint16_t port = 0;
  bool operator==(const NamedPort&) const = default;
};

// A set member: "10.0.0.1/32" for selector sets, "10.0.0.1/32,tcp:8080" for named-port sets.
using Member = std::string;

class IpSetCalc {
public:
  struct Callbacks {
    std::function<void(const std::string& setId, const Member& m)> onAdded;
    std::function<void(const std::string& setId, const Member& m)> onRemoved;
  };

  explicit IpSetCalc(Callbacks callbacks);
  ~IpSetCalc();
  IpSetCalc(const IpSetCalc&) = delete;
  IpSetCalc& operator=(const IpSetCalc&) = delete;

  // A set over the items matched by `selectorId` (the label index's selector id). Several sets
  // may share a selector. Adding reports the current members; removing reports nothing (the
  // caller drops the whole set).
  void addSelectorSet(const std::string& setId, const std::string& selectorId);
  void addNamedPortSet(const std::string& setId, const std::string& selectorId,
                       const std::string& portName, const std::string& protocol);
  void removeSet(const std::string& setId);

  // An item's addresses (CIDRs as text, /32 and /128 for endpoints) and named ports.
  void updateItem(const std::string& itemId, std::vector<std::string> nets,
                  std::vector<NamedPort> ports);
  void deleteItem(const std::string& itemId);

  // From the label index.
  void onMatchStarted(const std::string& selectorId, const std::string& itemId);
  void onMatchStopped(const std::string& selectorId, const std::string& itemId);

  // Current members of a set (sorted), for tests and resyncs.
  std::vector<Member> members(const std::string& setId) const;

  // "10.0.0.1/32,tcp:8080"
  static Member namedPortMember(const std::string& net, const std::string& protocol, uint16_t port);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::felix::calc
