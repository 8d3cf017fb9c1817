#pragma once
// The policy half of felix's calculation graph: API objects in, this node's desired policy
// dataplane out (renderer-neutral: the nftables and the iptables writers take the same state).
//
//   updates ─▶ items (endpoints, network sets) ─┬─▶ LabelIndex (all items) ── "set:<sel>" ─▶
//   IpSetCalc
//            ─▶ profiles (labels, rules) ───────┴─▶ LabelIndex (local endpoints) ── "pol:<id>"
//                                                                          ─▶ PolicyResolver
//            ─▶ policies, tiers ─▶ PolicyResolver; compiled with policy::compilePolicy
//   The output, for every local endpoint with an interface: an ingress and an egress endpoint
//   chain (tiers → policies, profiles); the policy and profile chains those reference, compiled;
//   the sets those chains reference, with their members. computeDelta() recomputes only what the
//   updates since the last call touched: the endpoints whose policies, profiles or interface
//   changed, the chains whose rules or users changed, the sets whose members or references
//   changed.
//
// Sets exist only while an active chain (one an endpoint chain reaches) references them: a set's
// selector is registered in the label index when the first active rule needs it and removed with
// the last, so inactive policies cost no matching. Set names are content hashes
// (policy::HashSetNamer), equal selectors share one set. A policy that does not compile is left
// out (as if absent) and reported in `problems`, so one bad object never blocks the others.
// Policy ids are Calico's: np/<ns>/<name>, gnp/<name>; profiles kns.<ns>, ksa.<ns>.<sa>, <name>.
//
// Pure: no I/O, clock or threads; one thread calls it (the agent's syncer callbacks).

#include "api/registry.h"
#include "common/value.h"
#include "policy/dataplane.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace caracal::felix::calc {

using SetState = policy::SetState;
using PolicyDataplane = policy::Dataplane;

class PolicyCalc {
public:
  explicit PolicyCalc(std::string nodeName);
  ~PolicyCalc();
  PolicyCalc(const PolicyCalc&) = delete;
  PolicyCalc& operator=(const PolicyCalc&) = delete;

  // The kinds it reads (those the API serves).
  static std::vector<const api::KindInfo*> kinds();

  // One datastore update; `obj` null: deleted. Other kinds are ignored.
  void onUpdate(const api::KindInfo& kind, const std::string& key, const Value* obj);

  // What changed in the desired state since the last computeDelta() (or compute()): work in
  // proportion to the updates, not to everything installed.
  policy::DataplaneDelta computeDelta();
  // The desired state after every update so far (computeDelta() plus a copy of the whole state).
  PolicyDataplane compute();

  // Selector evaluations done by the label index (a measure of incremental work).
  uint64_t selectorEvaluations() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::felix::calc
