#include "felix/policy_writers.h"

#include "policy/ipt_table.h"

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

class NftWriter : public PolicyWriter {
public:
  explicit NftWriter(std::unique_ptr<policy::NftPolicyTable> t) : table_(std::move(t)) {}
  Status apply(const policy::Dataplane& d) override {
    policy::NftDesired want = toNftDesired(d);
    if (resync_) {
      resync_ = false;
      return table_->resync(want);
    }
    return table_->apply(want);
  }
  void markForResync() override { resync_ = true; }

private:
  std::unique_ptr<policy::NftPolicyTable> table_;
  bool resync_ = false;
};

class IptWriter : public PolicyWriter {
public:
  IptWriter() : v4_({4, {}}), v6_({6, {}}) {}
  Status apply(const policy::Dataplane& d) override {
    if (Status st = v4_.apply(d); !st) {
      return st;
    }
    return v6_.apply(d);
  }
  void markForResync() override {
    v4_.markForResync();
    v6_.markForResync();
  }

private:
  policy::IptPolicyTable v4_;
  policy::IptPolicyTable v6_;
};

} // namespace

policy::NftDesired toNftDesired(const policy::Dataplane& d) {
  policy::NftDesired out;
  for (const auto& [name, s] : d.sets) {
    policy::NftSetSpec spec;
    spec.name = name;
    spec.kind = s.ref.kind;
    spec.ipVersion = s.ref.ipVersion;
    spec.autoMerge = s.ref.kind == policy::SetKind::Interval;
    for (const std::string& m : s.members) {
      spec.elements.push_back(s.ref.kind == policy::SetKind::AddrPort ? hostElement(m) : m);
    }
    out.sets.push_back(std::move(spec));
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
