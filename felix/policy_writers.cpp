#include "felix/policy_writers.h"

#include "policy/ipt_table.h"
#include "policy/nft_render.h"

namespace caracal::felix {

namespace {

// "10.0.0.1/32,tcp:80" → "10.0.0.1,tcp:80": a named-port element is a host address.
std::string hostElement(const std::string& m) {
  size_t slash = m.find('/');
  size_t comma = m.find(',');
  if (slash == std::string::npos || comma == std::string::npos || slash > comma) {
    return m;
  }
  return m.substr(0, slash) + m.substr(comma);
}

policy::NftSetSpec nftSet(const std::string& name, const policy::SetState& s) {
  policy::NftSetSpec spec;
  spec.name = name;
  spec.kind = s.ref.kind;
  spec.ipVersion = s.ref.ipVersion;
  spec.autoMerge = s.ref.kind == policy::SetKind::Interval;
  for (const std::string& m : s.members) {
    spec.elements.push_back(s.ref.kind == policy::SetKind::AddrPort ? hostElement(m) : m);
  }
  return spec;
}

// The delta as the nftables writer takes it; `state` is the state after it (for set kinds).
policy::NftChanges toNftChanges(const policy::Dataplane& state,
                                const policy::DataplaneDelta& delta) {
  policy::NftChanges ch;
  for (const auto& [name, s] : delta.setsCreated) {
    ch.sets.push_back(nftSet(name, s));
  }
  for (const auto& [name, m] : delta.setMembers) {
    auto it = state.sets.find(name);
    const bool addrPort =
        it != state.sets.end() && it->second.ref.kind == policy::SetKind::AddrPort;
    policy::NftSetChange c{name, {}, {}};
    for (const std::string& e : m.added) {
      c.add.push_back(addrPort ? hostElement(e) : e);
    }
    for (const std::string& e : m.removed) {
      c.remove.push_back(addrPort ? hostElement(e) : e);
    }
    ch.elements.push_back(std::move(c));
  }
  ch.setsDeleted.assign(delta.setsRemoved.begin(), delta.setsRemoved.end());
  for (const auto& [key, chain] : delta.policyChains) {
    ch.policyChains.push_back(chain);
  }
  for (const auto& [key, spec] : delta.endpointChains) {
    ch.endpointChains.push_back(spec);
  }
  for (const auto& [key, chain] : delta.policyChainsRemoved) {
    ch.chainsDeleted.push_back(
        policy::nftPolicyChainName(chain.id, chain.direction, chain.profile));
  }
  for (const auto& [key, spec] : delta.endpointChainsRemoved) {
    ch.chainsDeleted.push_back(policy::nftEndpointChainName(spec));
  }
  return ch;
}

// Deltas go to NftPolicyTable::update(); the whole state after a failure, on a resync, or when
// the table has no record yet.
class NftWriter : public PolicyWriter {
public:
  explicit NftWriter(std::unique_ptr<policy::NftPolicyTable> t) : table_(std::move(t)) {}
  Status apply(const policy::Dataplane& state, const policy::DataplaneDelta& delta) override {
    Status st;
    if (resync_) {
      st = table_->resync(toNftDesired(state));
    } else if (full_ || table_->needsFullWrite()) {
      st = table_->apply(toNftDesired(state));
    } else {
      st = table_->update(toNftChanges(state, delta));
    }
    resync_ = false;
    full_ = !st.isOk(); // a lost delta: the next call compares the whole state
    return st;
  }
  void markForResync() override { resync_ = true; }
  Status prepare() override { return table_->createIfMissing(); }

private:
  std::unique_ptr<policy::NftPolicyTable> table_;
  bool resync_ = false;
  bool full_ = true;
};

class IptWriter : public PolicyWriter {
public:
  IptWriter() : v4_({4, {}}), v6_({6, {}}) {}
  Status apply(const policy::Dataplane& d, const policy::DataplaneDelta&) override {
    if (Status st = v4_.apply(d); !st) {
      return st;
    }
    return v6_.apply(d);
  }
  void markForResync() override {
    v4_.markForResync();
    v6_.markForResync();
  }
  Status prepare() override {
    if (Status st = v4_.createIfMissing(); !st) {
      return st;
    }
    return v6_.createIfMissing();
  }

private:
  policy::IptPolicyTable v4_;
  policy::IptPolicyTable v6_;
};

} // namespace

policy::NftDesired toNftDesired(const policy::Dataplane& d) {
  policy::NftDesired out;
  for (const auto& [name, s] : d.sets) {
    out.sets.push_back(nftSet(name, s));
  }
  for (const auto& [key, chain] : d.policyChains) {
    out.policyChains.push_back(chain);
  }
  for (const auto& [key, spec] : d.endpointChains) {
    out.endpointChains.push_back(spec);
  }
  return out;
}

Result<std::unique_ptr<PolicyWriter>> makeNftablesPolicyWriter() {
  ASSIGN_OR_RETURN(std::unique_ptr<policy::NftPolicyTable> t, policy::NftPolicyTable::open());
  return std::unique_ptr<PolicyWriter>(std::make_unique<NftWriter>(std::move(t)));
}

std::unique_ptr<PolicyWriter> makeIptablesPolicyWriter() { return std::make_unique<IptWriter>(); }

} // namespace caracal::felix
