#include "felix/calc/policy_calc.h"

#include "api/selector.h"
#include "felix/calc/ipset_calc.h"
#include "felix/calc/items.h"
#include "felix/calc/label_index.h"
#include "felix/calc/policy_resolver.h"

namespace caracal::felix::calc {

namespace {

constexpr const char* kPolicyPrefix = "pol:";
constexpr const char* kSetPrefix = "set:";

// Every selector set is an interval set: a selector may match network sets (CIDRs) as well as
// endpoints (/32s), and which it does can change at run time.
class IntervalNamer : public policy::HashSetNamer {
public:
  policy::SetRef selectorSet(const std::string& sel, int ipVersion) override {
    markIntervalSelector(sel);
    return HashSetNamer::selectorSet(sel, ipVersion);
  }
};

struct Compiled {
  std::string ns;
  Value rulesSpec; // {ingress, egress} as compiled
  bool ok = false;
  std::string error;
  policy::CompiledPolicy chains;
  std::vector<policy::SetDecl> sets;
};

// IPv4 or IPv6 of a member ("10.0.0.1/32", "fd00::1/128,tcp:80").
int memberFamily(const std::string& m) {
  std::string addr = m.substr(0, m.find_first_of("/,"));
  return addr.find(':') != std::string::npos ? 6 : 4;
}

std::string chainKey(const std::string& id, policy::Direction d) {
  return id + "|" + policy::directionName(d);
}

} // namespace

struct PolicyCalc::Impl {
  explicit Impl(std::string node)
      : nodeName(std::move(node)),
        index([this](const std::string& s, const std::string& i) { matchStarted(s, i); },
              [this](const std::string& s, const std::string& i) { matchStopped(s, i); }),
        resolver([this](const std::string& ep, const EndpointPolicies* p) {
          if (p) {
            endpointPolicies[ep] = *p;
          } else {
            endpointPolicies.erase(ep);
          }
        }),
        sets(IpSetCalc::Callbacks{}) {}

  std::string nodeName;
  LabelIndex index;
  PolicyResolver resolver;
  IpSetCalc sets;

  std::map<std::string, EndpointPolicies> endpointPolicies; // local endpoints
  std::map<std::string, std::string> localInterfaces;       // endpoint item id -> interface
  std::map<std::string, Compiled> policies;                 // np/..., gnp/...
  std::map<std::string, Compiled> profiles;                 // kns..., ksa..., names
  std::map<std::string, std::string> policyProblems;        // selector errors
  // Active sets: name -> (declaration, references from active chains).
  std::map<std::string, std::pair<policy::SetDecl, int>> activeSets;
  std::map<std::string, int> setSelectors; // "set:<sel>" -> active sets using it

  void matchStarted(const std::string& selId, const std::string& item) {
    if (selId.rfind(kPolicyPrefix, 0) == 0) {
      resolver.onMatchStarted(selId.substr(4), item);
    } else {
      sets.onMatchStarted(selId, item);
    }
  }
  void matchStopped(const std::string& selId, const std::string& item) {
    if (selId.rfind(kPolicyPrefix, 0) == 0) {
      resolver.onMatchStopped(selId.substr(4), item);
    } else {
      sets.onMatchStopped(selId, item);
    }
  }

  static Compiled compile(const Value& spec, const std::string& ns) {
    Compiled c;
    c.ns = ns;
    c.rulesSpec = Value(Value::Object{});
    for (const char* dir : {"ingress", "egress"}) {
      if (const Value* r = spec.find(dir)) {
        c.rulesSpec.set(dir, *r);
      }
    }
    IntervalNamer namer;
    auto compiled = policy::compilePolicy(c.rulesSpec, ns, namer);
    if (!compiled) {
      c.error = compiled.error().message();
      return c;
    }
    c.ok = true;
    c.chains = std::move(*compiled);
    c.sets = namer.sets();
    return c;
  }

  // ---- items and profiles ----

  void updateItem(const std::string& id, const std::optional<Item>& item) {
    if (!item) {
      index.deleteLabels(id);
      sets.deleteItem(id);
      resolver.deleteEndpoint(id);
      localInterfaces.erase(id);
      return;
    }
    index.updateLabels(item->id, item->labels, item->parents);
    sets.updateItem(item->id, item->nets, item->ports);
    const bool local = !item->node.empty() && item->node == nodeName &&
                       !item->interfaceName.empty() && item->id.rfind("wep/", 0) == 0;
    if (local) {
      localInterfaces[item->id] = item->interfaceName;
      resolver.updateEndpoint(item->id, item->parents);
    } else if (localInterfaces.erase(item->id) > 0) {
      resolver.deleteEndpoint(item->id);
    }
  }

  void updateProfile(const std::string& id, const std::optional<Profile>& p) {
    if (!p) {
      index.deleteParentLabels(id);
      profiles.erase(id);
      return;
    }
    index.updateParentLabels(p->id, p->labels);
    Value spec(Value::Object{{"ingress", p->ingress}, {"egress", p->egress}});
    profiles[p->id] = compile(spec, "");
  }

  // ---- policies ----

  void updatePolicy(const std::string& kind, const std::string& id, const Value* obj) {
    if (!obj) {
      index.deleteSelector(kPolicyPrefix + id);
      resolver.deletePolicy(id);
      policies.erase(id);
      policyProblems.erase(id);
      return;
    }
    auto sel = policy::policyEndpointSelector(kind, *obj);
    auto parsed = sel ? api::Selector::parse(*sel) : Result<api::Selector>(sel.error());
    if (!parsed) {
      policyProblems[id] = parsed.error().message();
      index.deleteSelector(kPolicyPrefix + id);
      resolver.deletePolicy(id);
      policies.erase(id);
      return;
    }
    policyProblems.erase(id);
    const Value* specPtr = obj->find("spec");
    const Value spec = specPtr ? *specPtr : Value(Value::Object{});
    PolicySpec ps;
    ps.tier = obj->getString("spec.tier", "default");
    if (const Value* o = obj->path("spec.order"); o && o->isNumber()) {
      ps.order = o->asDouble();
    }
    if (const Value* types = obj->path("spec.types");
        types && types->isArray() && types->size() > 0) {
      for (const Value& t : types->asArray()) {
        ps.ingress = ps.ingress || t.asString() == "Ingress";
        ps.egress = ps.egress || t.asString() == "Egress";
      }
    } else {
      ps.ingress = true;
      const Value* eg = obj->path("spec.egress");
      ps.egress = eg && eg->isArray() && eg->size() > 0;
    }
    const std::string ns = kind == "NetworkPolicy" ? obj->getString("metadata.namespace") : "";
    Compiled c = compile(spec, ns);
    auto it = policies.find(id);
    if (it == policies.end() || it->second.rulesSpec != c.rulesSpec || it->second.ns != ns) {
      policies[id] = std::move(c);
    }
    index.updateSelector(kPolicyPrefix + id, *parsed);
    resolver.updatePolicy(id, ps);
  }

  void updateTier(const std::string& name, const Value* obj) {
    if (!obj) {
      resolver.deleteTier(name);
      return;
    }
    TierSpec t;
    if (const Value* o = obj->path("spec.order"); o && o->isNumber()) {
      t.order = o->asDouble();
    }
    t.defaultAction = obj->getString("spec.defaultAction", "Deny");
    resolver.updateTier(name, t);
  }

  // ---- sets ----

  void activate(const policy::SetDecl& d) {
    auto& slot = activeSets[d.ref.name];
    if (slot.second++ > 0) {
      return;
    }
    slot.first = d;
    if (d.selector.empty()) {
      return; // a net set: static members
    }
    const std::string selId = kSetPrefix + d.selector;
    if (setSelectors[selId]++ == 0) {
      if (auto parsed = api::Selector::parse(d.selector)) {
        index.updateSelector(selId, *parsed);
      }
    }
    if (d.ref.kind == policy::SetKind::AddrPort) {
      sets.addNamedPortSet(d.ref.name, selId, d.portName, policy::protocolName(d.protocol));
    } else {
      sets.addSelectorSet(d.ref.name, selId);
    }
  }

  void deactivate(const std::string& name) {
    auto it = activeSets.find(name);
    if (it == activeSets.end() || --it->second.second > 0) {
      return;
    }
    const policy::SetDecl d = it->second.first;
    activeSets.erase(it);
    if (d.selector.empty()) {
      return;
    }
    sets.removeSet(name);
    const std::string selId = kSetPrefix + d.selector;
    if (--setSelectors[selId] == 0) {
      setSelectors.erase(selId);
      index.deleteSelector(selId);
    }
  }

  SetState setState(const policy::SetDecl& d) const {
    SetState s;
    s.ref = d.ref;
    if (d.selector.empty()) {
      for (const api::IpNet& n : d.nets) {
        s.members.insert(n.str());
      }
      return s;
    }
    for (const std::string& m : sets.members(d.ref.name)) {
      if (memberFamily(m) == d.ref.ipVersion) {
        s.members.insert(m);
      }
    }
    return s;
  }

  std::map<std::string, int> previousRefs; // set name -> references in the last compute()

  PolicyDataplane compute() {
    resolver.flush();
    PolicyDataplane out;
    std::set<std::string> usedPolicies, usedProfiles;
    for (const auto& [ep, iface] : localInterfaces) {
      auto pit = endpointPolicies.find(ep);
      if (pit == endpointPolicies.end()) {
        continue;
      }
      const EndpointPolicies& p = pit->second;
      for (policy::Direction d : {policy::Direction::Ingress, policy::Direction::Egress}) {
        policy::EndpointChainSpec spec;
        spec.interfaceName = iface;
        spec.direction = d;
        for (const TierPolicies& t : d == policy::Direction::Ingress ? p.ingress : p.egress) {
          policy::TierPolicies tp;
          tp.name = t.tier;
          tp.defaultAction =
              t.defaultAction == "Pass" ? policy::TierDefault::Pass : policy::TierDefault::Deny;
          for (const std::string& id : t.policies) {
            auto cit = policies.find(id);
            if (cit == policies.end() || !cit->second.ok) {
              continue; // left out; reported in problems
            }
            tp.policyIds.push_back(id);
            usedPolicies.insert(id);
          }
          spec.tiers.push_back(std::move(tp));
        }
        for (const std::string& prof : p.profiles) {
          auto cit = profiles.find(prof);
          if (cit != profiles.end() && cit->second.ok) {
            spec.profileIds.push_back(prof);
            usedProfiles.insert(prof);
          }
        }
        out.endpointChains[iface + "|" + policy::directionName(d)] = std::move(spec);
      }
    }
    // Chains and the sets they use; reference counts rebuilt from scratch each time.
    std::map<std::string, int> refs;
    std::map<std::string, const policy::SetDecl*> decls;
    auto emit = [&](const std::string& id, const Compiled& c, bool profile) {
      for (policy::Direction d : {policy::Direction::Ingress, policy::Direction::Egress}) {
        policy::PolicyChain chain;
        chain.id = id;
        chain.direction = d;
        chain.profile = profile;
        chain.rules = d == policy::Direction::Ingress ? c.chains.ingress : c.chains.egress;
        out.policyChains[chainKey(id, d)] = std::move(chain);
      }
      for (const policy::SetDecl& s : c.sets) {
        refs[s.ref.name]++;
        decls[s.ref.name] = &s;
      }
    };
    for (const std::string& id : usedPolicies) {
      emit(id, policies.at(id), false);
    }
    for (const std::string& id : usedProfiles) {
      emit(id, profiles.at(id), true);
    }
    // Activate new sets before deactivating old ones (a set kept by another chain never blinks).
    for (const auto& [name, n] : refs) {
      if (!previousRefs.count(name)) {
        activate(*decls[name]);
      }
    }
    for (const auto& [name, n] : previousRefs) {
      if (!refs.count(name)) {
        deactivate(name);
      }
    }
    previousRefs = refs;
    for (const auto& [name, decl] : decls) {
      out.sets[name] = setState(*decl);
    }
    for (const auto& [id, c] : policies) {
      if (!c.ok) {
        out.problems[id] = c.error;
      }
    }
    for (const auto& [id, c] : profiles) {
      if (!c.ok) {
        out.problems[id] = c.error;
      }
    }
    for (const auto& [id, why] : policyProblems) {
      out.problems[id] = why;
    }
    return out;
  }
};

PolicyCalc::PolicyCalc(std::string nodeName) : impl_(std::make_unique<Impl>(std::move(nodeName))) {}

PolicyCalc::~PolicyCalc() = default;

std::vector<const api::KindInfo*> PolicyCalc::kinds() {
  std::vector<const api::KindInfo*> out;
  for (const char* k : {"NetworkPolicy", "GlobalNetworkPolicy", "Tier", "Profile",
                        "WorkloadEndpoint", "HostEndpoint", "NetworkSet", "GlobalNetworkSet"}) {
    if (const api::KindInfo* info = api::findByKind("projectcalico.org/v3", k)) {
      out.push_back(info);
    }
  }
  for (const char* k : {"Namespace", "ServiceAccount"}) {
    if (const api::KindInfo* info = api::findByKind("v1", k)) {
      out.push_back(info);
    }
  }
  return out;
}

void PolicyCalc::onUpdate(const api::KindInfo& kind, const std::string& key, const Value* obj) {
  const std::string& k = kind.kind;
  if (kind.group == "projectcalico.org") {
    if (k == "NetworkPolicy") {
      impl_->updatePolicy(k, "np/" + key, obj);
    } else if (k == "GlobalNetworkPolicy") {
      impl_->updatePolicy(k, "gnp/" + key, obj);
    } else if (k == "Tier") {
      impl_->updateTier(key, obj);
    } else if (k == "Profile") {
      impl_->updateProfile(profileId(k, key), obj ? profileFromObject(*obj) : std::nullopt);
    } else if (k == "WorkloadEndpoint") {
      impl_->updateItem(itemId(k, key), obj ? workloadEndpointItem(*obj) : std::nullopt);
    } else if (k == "HostEndpoint") {
      impl_->updateItem(itemId(k, key), obj ? hostEndpointItem(*obj) : std::nullopt);
    } else if (k == "NetworkSet" || k == "GlobalNetworkSet") {
      std::optional<Item> item;
      if (obj) {
        Value typed = *obj;
        typed.set("kind", k);
        item = networkSetItem(typed);
      }
      impl_->updateItem(itemId(k, key), item);
    }
  } else if (kind.group.empty()) {
    if (k == "Namespace") {
      impl_->updateProfile(profileId(k, key), obj ? namespaceProfile(*obj) : std::nullopt);
    } else if (k == "ServiceAccount") {
      impl_->updateProfile(profileId(k, key), obj ? serviceAccountProfile(*obj) : std::nullopt);
    }
  }
}

PolicyDataplane PolicyCalc::compute() { return impl_->compute(); }

uint64_t PolicyCalc::selectorEvaluations() const { return impl_->index.evaluationCount(); }

} // namespace caracal::felix::calc
