#pragma once
// Fakes of the plugin's collaborators for unit tests: an API over the in-memory IPAM store (which
// validates objects like the apiserver does), a kernel that records what it was asked to do, and
// an IPAM plugin that hands out one address. Each can be told to fail a given step.

#include "cni/api.h"
#include "cni/dataplane.h"
#include "cni/exec.h"
#include "ipam/ipam.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace caracal::cni::testing {

// RFC 7386 merge patch of `patch` into `target`.
inline void mergePatchInto(Value& target, const Value& patch) {
  if (!patch.isObject()) {
    target = patch;
    return;
  }
  if (!target.isObject()) {
    target = Value::object();
  }
  for (const auto& [k, v] : patch.asObject()) {
    if (v.isNull()) {
      target.erase(k);
    } else {
      Value* cur = target.find(k);
      if (cur) {
        mergePatchInto(*cur, v);
      } else {
        Value fresh;
        mergePatchInto(fresh, v);
        target.set(k, std::move(fresh));
      }
    }
  }
}

class FakeApi : public Api {
public:
  FakeApi() : store_(ipam::makeMemoryStore()) {}

  ipam::Store& store() { return *store_; }

  Result<Value> get(const api::KindInfo& kind, std::string_view ns,
                    std::string_view name) override {
    ++calls;
    if (failGet.count(kind.kind)) {
      return Status(Code::Unavailable, "injected get failure");
    }
    return store_->get(kind, ns, name);
  }
  Result<Value> create(const api::KindInfo& kind, const Value& obj) override {
    ++calls;
    if (failCreate.count(kind.kind)) {
      return Status(Code::Invalid, "injected create failure");
    }
    return store_->create(kind, obj);
  }
  Result<Value> update(const api::KindInfo& kind, const Value& obj) override {
    ++calls;
    if (failUpdate.count(kind.kind)) {
      return Status(Code::Invalid, "injected update failure");
    }
    return store_->update(kind, obj);
  }
  Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name) override {
    ++calls;
    if (failRemove.count(kind.kind)) {
      return Status(Code::Forbidden, "injected delete failure");
    }
    return store_->remove(kind, ns, name);
  }
  Result<Value> mergePatch(const api::KindInfo& kind, std::string_view ns, std::string_view name,
                           const Value& patch) override {
    ++calls;
    if (failPatch.count(kind.kind)) {
      return Status(Code::Forbidden, "injected patch failure");
    }
    ASSIGN_OR_RETURN(Value cur, store_->get(kind, ns, name));
    mergePatchInto(cur, patch);
    return store_->update(kind, cur);
  }

  std::set<std::string> failGet, failCreate, failUpdate, failPatch, failRemove; // by kind name
  int calls = 0;

private:
  std::unique_ptr<ipam::Store> store_;
};

class FakeDataplane : public Dataplane {
public:
  Result<PodNetworkStatus> setUp(const PodNetworkSpec& spec) override {
    lastSpec = spec;
    ++setUps;
    if (!netns.count(spec.netnsPath)) {
      return Status(Code::NotFound, "network namespace " + spec.netnsPath + " does not exist");
    }
    hostVeths.insert(spec.hostIfname); // created before the failure point
    podIfaces[spec.netnsPath] = spec.ifname;
    if (failSetUp) {
      return Status(Code::Internal, "injected setUp failure");
    }
    return PodNetworkStatus{"02:aa:bb:cc:dd:ee", "ee:ee:ee:ee:ee:ee"};
  }
  Status removeHostVeth(const std::string& hostIfname) override {
    ++hostRemovals;
    hostVeths.erase(hostIfname);
    if (hostIfname == lastSpec.hostIfname) {
      podIfaces.erase(lastSpec.netnsPath); // the pair goes as a whole
    }
    return Status::ok();
  }
  Status removePodInterface(const std::string& path, const std::string& ifname) override {
    ++podRemovals;
    if (netns.count(path) && podIfaces.count(path) && podIfaces[path] == ifname) {
      podIfaces.erase(path);
      if (path == lastSpec.netnsPath) {
        hostVeths.erase(lastSpec.hostIfname);
      }
    }
    return Status::ok();
  }
  Status check(const PodNetworkSpec& spec) override {
    lastCheck = spec;
    if (!hostVeths.count(spec.hostIfname)) {
      return Status(Code::NotFound, "host interface " + spec.hostIfname + " is missing");
    }
    if (failCheck) {
      return Status(Code::NotFound, "route 169.254.1.1 missing");
    }
    return Status::ok();
  }
  bool netnsExists(const std::string& path) override { return netns.count(path) > 0; }
  bool isOwnNetns(const std::string& path) override { return path == ownNetns; }

  std::set<std::string> netns;                  // namespaces that exist
  std::string ownNetns = "/proc/self/ns/net";   // the plugin's own namespace
  std::set<std::string> hostVeths;              // host interfaces present
  std::map<std::string, std::string> podIfaces; // netns -> interface
  PodNetworkSpec lastSpec, lastCheck;
  bool failSetUp = false;
  bool failCheck = false;
  int setUps = 0, hostRemovals = 0, podRemovals = 0;
};

class FakeIpam : public IpamInvoker {
public:
  Outcome<CniResult> add() override {
    ++adds;
    if (failAdd) {
      return Error{kErrIpam, "no free IPv4 address", "pool exhausted"};
    }
    held = true;
    CniResult r;
    IpConfig c;
    c.address = *api::parseCidr(address);
    r.ips.push_back(c);
    return r;
  }
  MaybeError del() override {
    ++dels;
    held = false;
    return std::nullopt;
  }
  MaybeError check() override {
    if (!held) {
      return Error{kErrCheck, "IPAM handle holds no address", ""};
    }
    return std::nullopt;
  }

  std::string address = "10.244.1.5/32";
  bool failAdd = false;
  bool held = false;
  int adds = 0, dels = 0;
};

} // namespace caracal::cni::testing
