#include "felix/calc/policy_calc.h"

#include "api/selector.h"
#include "common/strings.h"
#include "felix/calc/ipset_calc.h"
#include "felix/calc/items.h"
#include "felix/calc/label_index.h"
#include "felix/calc/policy_resolver.h"

#include <algorithm>

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
        localIndex([this](const std::string& s, const std::string& i) { matchStarted(s, i); },
                   [this](const std::string& s, const std::string& i) { matchStopped(s, i); }),
        resolver([this](const std::string& ep, const EndpointPolicies* p) {
          if (p) {
            endpointPolicies[ep] = *p;
          } else {
            endpointPolicies.erase(ep);
          }
          dirtyEndpoints.insert(ep);
        }),
        sets(IpSetCalc::Callbacks{
            [this](const std::string& set, const Member& m) { memberChanged(set, m, true); },
            [this](const std::string& set, const Member& m) { memberChanged(set, m, false); }}) {}

  std::string nodeName;
  // Rule selectors ("set:") over every item; policy selectors ("pol:") over local endpoints only
  // (they decide which policies this node applies), so remote changes never evaluate them.
  LabelIndex index;
  LabelIndex localIndex;
  PolicyResolver resolver;
  IpSetCalc sets;

  std::map<std::string, EndpointPolicies> endpointPolicies; // local endpoints
  std::map<std::string, std::string> localInterfaces;       // endpoint item id -> interface
  std::map<std::string, Compiled> policies;                 // np/..., gnp/...
  std::map<std::string, Compiled> profiles;                 // kns..., ksa..., names
  std::map<std::string, std::string> policyProblems;        // selector errors
  // Host endpoint policies by where they act (GlobalNetworkPolicy applyOnForward, preDNAT,
  // doNotTrack): ids.
  std::set<std::string> forwardPolicies;
  std::set<std::string> preDnatPolicies;
  std::set<std::string> untrackedPolicies;
  // Active sets: name -> (declaration, references from active chains).
  std::map<std::string, std::pair<policy::SetDecl, int>> activeSets;
  std::map<std::string, int> setSelectors; // "set:<sel>" -> active sets using it

  // Failsafe ports of host endpoints (FelixConfiguration "node.<node>", else "default", else
  // Calico's defaults).
  std::vector<policy::FailsafePort> failsafeInbound = policy::defaultFailsafeInbound();
  std::vector<policy::FailsafePort> failsafeOutbound = policy::defaultFailsafeOutbound();
  std::map<std::string, Value> felixConfigs; // "default", "node.<node>": their spec

  void updateFelixConfig(const std::string& name, const Value* obj) {
    if (name != "default" && name != "node." + nodeName) {
      return;
    }
    if (obj == nullptr) {
      felixConfigs.erase(name);
    } else {
      const Value* spec = obj->find("spec");
      felixConfigs[name] = spec ? *spec : Value(Value::Object{});
    }
    auto ports = [&](const char* field, std::vector<policy::FailsafePort> fallback) {
      for (const std::string& n : {"node." + nodeName, std::string("default")}) {
        auto it = felixConfigs.find(n);
        const Value* list = it == felixConfigs.end() ? nullptr : it->second.find(field);
        if (list == nullptr || !list->isArray()) {
          continue;
        }
        std::vector<policy::FailsafePort> out;
        for (const Value& e : list->asArray()) {
          const std::string proto = toLower(e.getString("protocol", "TCP"));
          const int number = proto == "udp"    ? policy::kProtoUdp
                             : proto == "sctp" ? policy::kProtoSctp
                                               : policy::kProtoTcp;
          const Value* port = e.find("port");
          if (port == nullptr || !port->isInt() || port->asInt() <= 0 || port->asInt() >= 65536) {
            continue;
          }
          policy::FailsafePort fp{number, static_cast<uint16_t>(port->asInt()), std::nullopt};
          const std::string net = e.getString("net");
          if (!net.empty()) {
            fp.net = api::parseCidrOrIp(net);
            if (!fp.net) {
              continue; // the API refuses it; never widen a port to every address
            }
          }
          out.push_back(std::move(fp));
        }
        return out;
      }
      return fallback;
    };
    auto in = ports("failsafeInboundHostPorts", policy::defaultFailsafeInbound());
    auto out = ports("failsafeOutboundHostPorts", policy::defaultFailsafeOutbound());
    if (in != failsafeInbound || out != failsafeOutbound) {
      failsafeInbound = std::move(in);
      failsafeOutbound = std::move(out);
      for (const auto& [ep, iface] : localInterfaces) {
        if (ep.rfind("hep/", 0) == 0) {
          dirtyEndpoints.insert(ep);
        }
      }
    }
  }

  // The output, kept up to date by computeDelta() from what changed since the last call.
  PolicyDataplane state;
  std::set<std::string> dirtyEndpoints; // endpoint item ids
  std::set<std::string> dirtyChains;    // policy ids and profile names whose rules changed
  std::map<std::string, policy::SetMemberDelta> pendingMembers; // active sets
  // Per endpoint: the keys of its endpoint chains in `state` (its interface at the time).
  std::map<std::string, std::string> endpointIface;
  std::map<std::string, int> chainUsers; // policy id / profile -> endpoint chains using it
  // Per emitted policy or profile: the sets its chains reference (counted in setRefs).
  std::map<std::string, std::vector<policy::SetDecl>> emittedSets;
  std::map<std::string, int> setRefs; // set name -> emitted chains' references

  void memberChanged(const std::string& set, const Member& m, bool added) {
    auto it = activeSets.find(set);
    if (it == activeSets.end() || memberFamily(m) != it->second.first.ref.ipVersion) {
      return;
    }
    auto& pending = pendingMembers[set];
    if (added) {
      if (pending.removed.erase(m) == 0) {
        pending.added.insert(m);
      }
    } else if (pending.added.erase(m) == 0) {
      pending.removed.insert(m);
    }
  }

  // Local endpoints whose chains name `id` (a policy or a profile).
  void markUsersDirty(const std::string& id) {
    for (const auto& [ep, p] : endpointPolicies) {
      bool uses = std::find(p.profiles.begin(), p.profiles.end(), id) != p.profiles.end();
      for (const auto* tiers : {&p.ingress, &p.egress}) {
        for (const TierPolicies& t : *tiers) {
          uses = uses || std::find(t.policies.begin(), t.policies.end(), id) != t.policies.end();
        }
      }
      if (uses) {
        dirtyEndpoints.insert(ep);
      }
    }
  }

  // A compiled policy or profile replaced (or removed: c null).
  void compiledChanged(const std::string& id, const Compiled* before, const Compiled* after) {
    dirtyChains.insert(id);
    const bool was = before != nullptr && before->ok;
    const bool is = after != nullptr && after->ok;
    if (was != is) {
      markUsersDirty(id); // endpoint chains list only policies and profiles that compile
    }
  }

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
      localIndex.deleteLabels(id);
      sets.deleteItem(id);
      resolver.deleteEndpoint(id);
      if (localInterfaces.erase(id) > 0) {
        dirtyEndpoints.insert(id);
      }
      return;
    }
    index.updateLabels(item->id, item->labels, item->parents);
    sets.updateItem(item->id, item->nets, item->ports);
    // Workload endpoints and host endpoints of this node with a named interface (a host
    // endpoint for all interfaces, "*", has no chain of its own here).
    const bool local = !item->node.empty() && item->node == nodeName &&
                       !item->interfaceName.empty() && item->interfaceName != "*" &&
                       (item->id.rfind("wep/", 0) == 0 || item->id.rfind("hep/", 0) == 0);
    if (local) {
      localIndex.updateLabels(item->id, item->labels, item->parents);
    } else {
      localIndex.deleteLabels(item->id);
    }
    if (local) {
      auto [it, added] = localInterfaces.try_emplace(item->id, item->interfaceName);
      if (added || it->second != item->interfaceName) {
        it->second = item->interfaceName;
        dirtyEndpoints.insert(item->id);
      }
      resolver.updateEndpoint(item->id, item->parents);
    } else if (localInterfaces.erase(item->id) > 0) {
      resolver.deleteEndpoint(item->id);
      dirtyEndpoints.insert(item->id);
    }
  }

  void updateProfile(const std::string& id, const std::optional<Profile>& p) {
    auto old = profiles.find(id);
    if (!p) {
      index.deleteParentLabels(id);
      localIndex.deleteParentLabels(id);
      if (old != profiles.end()) {
        compiledChanged(id, &old->second, nullptr);
        profiles.erase(old);
      }
      return;
    }
    index.updateParentLabels(p->id, p->labels);
    localIndex.updateParentLabels(p->id, p->labels);
    Value spec(Value::Object{{"ingress", p->ingress}, {"egress", p->egress}});
    Compiled c = compile(spec, "");
    if (old != profiles.end() && old->second.rulesSpec == c.rulesSpec) {
      return; // labels only
    }
    compiledChanged(p->id, old == profiles.end() ? nullptr : &old->second, &c);
    profiles[p->id] = std::move(c);
  }

  // ---- policies ----

  void updatePolicy(const std::string& kind, const std::string& id, const Value* obj) {
    auto drop = [&] {
      localIndex.deleteSelector(kPolicyPrefix + id);
      resolver.deletePolicy(id);
      forwardPolicies.erase(id);
      preDnatPolicies.erase(id);
      untrackedPolicies.erase(id);
      if (auto old = policies.find(id); old != policies.end()) {
        compiledChanged(id, &old->second, nullptr);
        policies.erase(old);
      }
    };
    if (!obj) {
      drop();
      policyProblems.erase(id);
      return;
    }
    auto sel = policy::policyEndpointSelector(kind, *obj);
    auto parsed = sel ? api::Selector::parse(*sel) : Result<api::Selector>(sel.error());
    if (!parsed) {
      policyProblems[id] = parsed.error().message();
      drop();
      return;
    }
    policyProblems.erase(id);
    // Which host endpoint chains take the policy (the API makes preDNAT and doNotTrack
    // exclusive and requires applyOnForward with them).
    auto flag = [&](const char* field, std::set<std::string>& ids) {
      const Value* v = obj->path(std::string("spec.") + field);
      const bool on = v != nullptr && v->isBool() && v->asBool();
      if (on != (ids.count(id) > 0)) {
        if (on) {
          ids.insert(id);
        } else {
          ids.erase(id);
        }
        markUsersDirty(id); // its endpoints' chains gain or lose it
      }
    };
    flag("applyOnForward", forwardPolicies);
    flag("preDNAT", preDnatPolicies);
    flag("doNotTrack", untrackedPolicies);
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
      compiledChanged(id, it == policies.end() ? nullptr : &it->second, &c);
      policies[id] = std::move(c);
    }
    localIndex.updateSelector(kPolicyPrefix + id, *parsed);
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

  // Whether policy `id` belongs in a chain of that hook: workloads and the host's own traffic
  // take the ordinary policies, forwarded traffic those with applyOnForward, the early hooks
  // their preDNAT or doNotTrack ones.
  bool actsAt(const std::string& id, policy::HostHook hook) const {
    const bool preDnat = preDnatPolicies.count(id) > 0;
    const bool untracked = untrackedPolicies.count(id) > 0;
    switch (hook) {
    case policy::HostHook::Forward:
      return forwardPolicies.count(id) > 0 && !preDnat && !untracked;
    case policy::HostHook::PreDnat:
      return preDnat;
    case policy::HostHook::Untracked:
      return untracked;
    case policy::HostHook::Local:
      break;
    }
    return !preDnat && !untracked;
  }

  // The endpoint chain of a local endpoint in one direction: its tiers (policies that compile
  // and act at `hook`) and, for workloads and the host's own traffic, profiles (those that
  // compile).
  policy::EndpointChainSpec endpointChain(const std::string& ep, const std::string& iface,
                                          const EndpointPolicies& p, policy::Direction d,
                                          policy::HostHook hook = policy::HostHook::Local) const {
    policy::EndpointChainSpec spec;
    spec.interfaceName = iface;
    spec.direction = d;
    if (ep.rfind("hep/", 0) == 0) {
      spec.host = true;
      spec.hook = hook;
      if (hook != policy::HostHook::Forward) {
        spec.failsafe = d == policy::Direction::Ingress ? failsafeInbound : failsafeOutbound;
      }
    }
    for (const TierPolicies& t : d == policy::Direction::Ingress ? p.ingress : p.egress) {
      policy::TierPolicies tp;
      tp.name = t.tier;
      tp.defaultAction =
          t.defaultAction == "Pass" ? policy::TierDefault::Pass : policy::TierDefault::Deny;
      for (const std::string& id : t.policies) {
        auto cit = policies.find(id);
        if (cit != policies.end() && cit->second.ok && actsAt(id, hook)) {
          tp.policyIds.push_back(id);
        }
      }
      spec.tiers.push_back(std::move(tp));
    }
    if (hook == policy::HostHook::Local) {
      for (const std::string& prof : p.profiles) {
        auto cit = profiles.find(prof);
        if (cit != profiles.end() && cit->second.ok) {
          spec.profileIds.push_back(prof);
        }
      }
    }
    return spec;
  }

  // The endpoint chains of a local endpoint by key: "<iface>|ingress", "<iface>|egress", and for
  // a host endpoint with policies at the other hooks "<iface>|ingress-forward", "|egress-forward"
  // (applyOnForward), "|ingress-prednat", "|ingress-untracked", "|egress-untracked".
  static constexpr std::pair<policy::HostHook, const char*> kHostHooks[] = {
      {policy::HostHook::Forward, "-forward"},
      {policy::HostHook::PreDnat, "-prednat"},
      {policy::HostHook::Untracked, "-untracked"}};

  std::map<std::string, policy::EndpointChainSpec>
  endpointChains(const std::string& ep, const std::string& iface, const EndpointPolicies& p) const {
    std::map<std::string, policy::EndpointChainSpec> out;
    for (policy::Direction d : {policy::Direction::Ingress, policy::Direction::Egress}) {
      const std::string key = iface + "|" + policy::directionName(d);
      out[key] = endpointChain(ep, iface, p, d);
      if (ep.rfind("hep/", 0) != 0) {
        continue;
      }
      for (const auto& [hook, suffix] : kHostHooks) {
        if (hook == policy::HostHook::PreDnat && d != policy::Direction::Ingress) {
          continue;
        }
        policy::EndpointChainSpec spec = endpointChain(ep, iface, p, d, hook);
        if (!chainIds(spec).empty()) { // no such policy: the hook leaves the traffic alone
          out[key + suffix] = std::move(spec);
        }
      }
    }
    return out;
  }

  static std::vector<std::string> endpointKeys(const std::string& iface) {
    std::vector<std::string> keys;
    for (const char* d : {"|ingress", "|egress"}) {
      keys.push_back(iface + d);
      for (const auto& [hook, suffix] : kHostHooks) {
        keys.push_back(iface + d + suffix);
      }
    }
    return keys;
  }

  static std::vector<std::string> chainIds(const policy::EndpointChainSpec& spec) {
    std::vector<std::string> ids = spec.profileIds;
    for (const auto& t : spec.tiers) {
      ids.insert(ids.end(), t.policyIds.begin(), t.policyIds.end());
    }
    return ids;
  }

  const Compiled* compiledOf(const std::string& id) const {
    if (auto it = policies.find(id); it != policies.end()) {
      return &it->second;
    }
    if (auto it = profiles.find(id); it != profiles.end()) {
      return &it->second;
    }
    return nullptr;
  }

  PolicyDataplane compute() {
    computeDelta();
    return state;
  }

  policy::DataplaneDelta computeDelta() {
    resolver.flush();
    policy::DataplaneDelta delta;
    std::set<std::string> usersChanged; // ids whose chainUsers count moved

    // 1. Endpoint chains of the endpoints that changed.
    for (const std::string& ep : dirtyEndpoints) {
      std::map<std::string, policy::EndpointChainSpec> now;
      auto iface = localInterfaces.find(ep);
      auto pit = endpointPolicies.find(ep);
      if (iface != localInterfaces.end() && pit != endpointPolicies.end()) {
        now = endpointChains(ep, iface->second, pit->second);
      }
      std::map<std::string, policy::EndpointChainSpec> before;
      if (auto old = endpointIface.find(ep); old != endpointIface.end()) {
        for (const std::string& key : endpointKeys(old->second)) {
          if (auto it = state.endpointChains.find(key); it != state.endpointChains.end()) {
            before[key] = it->second;
          }
        }
      }
      for (const auto& [key, spec] : before) {
        for (const auto& id : chainIds(spec)) {
          chainUsers[id]--;
          usersChanged.insert(id);
        }
        if (!now.count(key)) {
          policy::EndpointChainSpec identity = spec; // interface, direction, kind
          identity.tiers.clear();
          identity.profileIds.clear();
          identity.failsafe.clear();
          delta.endpointChainsRemoved[key] = std::move(identity);
          delta.endpointChains.erase(key);
          state.endpointChains.erase(key);
        }
      }
      for (auto& [key, spec] : now) {
        for (const auto& id : chainIds(spec)) {
          chainUsers[id]++;
          usersChanged.insert(id);
        }
        auto it = before.find(key);
        if (it == before.end() || !(it->second == spec)) {
          delta.endpointChainsRemoved.erase(key);
          delta.endpointChains[key] = spec;
          state.endpointChains[key] = std::move(spec);
        }
      }
      if (now.empty()) {
        endpointIface.erase(ep);
      } else {
        endpointIface[ep] = iface->second;
      }
    }
    dirtyEndpoints.clear();

    // 2. Policy and profile chains: used ones whose rules changed, newly used, no longer used.
    std::set<std::string> touched = usersChanged;
    touched.insert(dirtyChains.begin(), dirtyChains.end());
    dirtyChains.clear();
    std::vector<policy::SetDecl> released;
    for (const std::string& id : touched) {
      auto users = chainUsers.find(id);
      const bool used = users != chainUsers.end() && users->second > 0;
      if (users != chainUsers.end() && users->second <= 0) {
        chainUsers.erase(users);
      }
      auto emitted = emittedSets.find(id);
      const bool wasEmitted = emitted != emittedSets.end();
      const Compiled* c = used ? compiledOf(id) : nullptr;
      if (c != nullptr && !c->ok) {
        c = nullptr;
      }
      if (c == nullptr && !wasEmitted) {
        continue;
      }
      const bool profile = !policies.count(id) && profiles.count(id);
      for (policy::Direction d : {policy::Direction::Ingress, policy::Direction::Egress}) {
        const std::string key = chainKey(id, d);
        if (c == nullptr) {
          auto it = state.policyChains.find(key);
          if (it != state.policyChains.end()) {
            delta.policyChainsRemoved[key] = {id, d, it->second.profile, {}};
            state.policyChains.erase(it);
          }
          delta.policyChains.erase(key);
          continue;
        }
        policy::PolicyChain chain{
            id, d, profile, d == policy::Direction::Ingress ? c->chains.ingress : c->chains.egress};
        auto it = state.policyChains.find(key);
        if (it == state.policyChains.end() || !(it->second == chain)) {
          delta.policyChainsRemoved.erase(key);
          delta.policyChains[key] = chain;
          state.policyChains[key] = std::move(chain);
        }
      }
      if (wasEmitted) {
        released.insert(released.end(), emitted->second.begin(), emitted->second.end());
        emittedSets.erase(emitted);
      }
      if (c != nullptr) {
        emittedSets[id] = c->sets;
        for (const policy::SetDecl& decl : c->sets) {
          if (setRefs[decl.ref.name]++ == 0) {
            activateSet(decl, delta);
          }
        }
      }
    }
    // Released after the new references are counted: a set kept by another chain never blinks.
    for (const policy::SetDecl& decl : released) {
      if (--setRefs[decl.ref.name] == 0) {
        setRefs.erase(decl.ref.name);
        deactivate(decl.ref.name);
        state.sets.erase(decl.ref.name);
        pendingMembers.erase(decl.ref.name);
        if (delta.setsCreated.erase(decl.ref.name) == 0) {
          delta.setsRemoved.insert(decl.ref.name);
        }
        delta.setMembers.erase(decl.ref.name);
      }
    }

    // 3. Members of the sets that stayed.
    for (auto& [name, change] : pendingMembers) {
      auto it = state.sets.find(name);
      if (it == state.sets.end()) {
        continue;
      }
      policy::SetMemberDelta real;
      for (const auto& m : change.removed) {
        if (it->second.members.erase(m) > 0) {
          real.removed.insert(m);
        }
      }
      for (const auto& m : change.added) {
        if (it->second.members.insert(m).second) {
          real.added.insert(m);
        }
      }
      if (delta.setsCreated.count(name)) {
        delta.setsCreated[name] = it->second;
      } else if (!real.added.empty() || !real.removed.empty()) {
        delta.setMembers[name] = std::move(real);
      }
    }
    pendingMembers.clear();

    // 4. Problems: the whole (short) list.
    for (const auto& [id, c] : policies) {
      if (!c.ok) {
        delta.problems[id] = c.error;
      }
    }
    for (const auto& [id, c] : profiles) {
      if (!c.ok) {
        delta.problems[id] = c.error;
      }
    }
    for (const auto& [id, why] : policyProblems) {
      delta.problems[id] = why;
    }
    state.problems = delta.problems;
    return delta;
  }

  // A set the first emitted chain references: registered, filled with its current members.
  void activateSet(const policy::SetDecl& decl, policy::DataplaneDelta& delta) {
    activate(decl);
    SetState s = setState(decl);
    pendingMembers.erase(decl.ref.name); // the members are all in `s`
    delta.setsCreated[decl.ref.name] = s;
    state.sets[decl.ref.name] = std::move(s);
  }
};

PolicyCalc::PolicyCalc(std::string nodeName) : impl_(std::make_unique<Impl>(std::move(nodeName))) {}

PolicyCalc::~PolicyCalc() = default;

std::vector<const api::KindInfo*> PolicyCalc::kinds() {
  std::vector<const api::KindInfo*> out;
  for (const char* k :
       {"NetworkPolicy", "GlobalNetworkPolicy", "Tier", "Profile", "WorkloadEndpoint",
        "HostEndpoint", "NetworkSet", "GlobalNetworkSet", "FelixConfiguration"}) {
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
    } else if (k == "FelixConfiguration") {
      impl_->updateFelixConfig(key, obj);
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

policy::DataplaneDelta PolicyCalc::computeDelta() { return impl_->computeDelta(); }

uint64_t PolicyCalc::selectorEvaluations() const {
  return impl_->index.evaluationCount() + impl_->localIndex.evaluationCount();
}

} // namespace caracal::felix::calc
