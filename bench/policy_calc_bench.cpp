// The control-plane cost of policy at scale, without kernel or network:
//   1. the controller's conversion of N Kubernetes NetworkPolicies (convertK8sNetworkPolicy, what
//      caracal-controller does for each object before writing it);
//   2. felix's calculation graph (PolicyCalc) holding the N converted policies, E endpoints (L of
//      them local) and their namespaces: the first computeDelta() (everything), then one pod label
//      change at a time: computeDelta() after it, against compute() (the whole state, as a
//      non-incremental calculation would hand it over).
//
//   bench_policy_calc [--policies 10000] [--endpoints 1000] [--local 100] [--repeats 200]
//
// Policies: podSelector app=app-<p mod 50>, ingress from pods app=app-<7p mod 50> on port 80+p
// mod 10, in one of 10 namespaces. The label change moves one local pod between two apps, so the
// policies selecting it and the sets containing it change. Prints medians and p99.

#include "api/k8s_policy.h"
#include "api/registry.h"
#include "bench/bench_support.h"
#include "common/value.h"
#include "felix/calc/policy_calc.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using caracal::Value;
using caracal::bench::Clock;
using caracal::bench::percentile;
using caracal::bench::secondsSince;

Value obj(const std::string& json) {
  auto v = caracal::parseJson(json);
  if (!v) {
    std::fprintf(stderr, "bad JSON: %s\n", json.c_str());
    std::exit(1);
  }
  return std::move(*v);
}

std::string ns(int i) { return "ns" + std::to_string(i % 10); }

Value knp(int p) {
  return obj(
      R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"np-)" +
      std::to_string(p) + R"(","namespace":")" + ns(p) + R"(","uid":"u)" + std::to_string(p) +
      R"(","resourceVersion":"1"},"spec":{"podSelector":{"matchLabels":{"app":"app-)" +
      std::to_string(p % 50) +
      R"("}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"app-)" +
      std::to_string(p * 7 % 50) + R"("}}}],"ports":[{"port":)" + std::to_string(80 + p % 10) +
      "}]}]}}");
}

Value wep(int e, int local, const std::string& app) {
  const std::string node = e < local ? "node1" : "node" + std::to_string(2 + e % 9);
  const std::string name = node + "-k8s-pod" + std::to_string(e) + "-eth0";
  return obj(R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns(e) +
             R"(","labels":{"app":")" + app + R"(","projectcalico.org/namespace":")" + ns(e) +
             R"(","projectcalico.org/orchestrator":"k8s"}},"spec":{"node":")" + node +
             R"(","interfaceName":"cali)" + std::to_string(100000000 + e) +
             R"(","ipNetworks":["10.)" + std::to_string(e / 65536) + "." +
             std::to_string(e / 256 % 256) + "." + std::to_string(e % 256) +
             R"(/32"],"profiles":["kns.)" + ns(e) + R"("]}})");
}

std::string wepKey(int e, int local) {
  const std::string node = e < local ? "node1" : "node" + std::to_string(2 + e % 9);
  return ns(e) + "/" + node + "-k8s-pod" + std::to_string(e) + "-eth0";
}

void print(const char* what, std::vector<double> v) {
  std::printf("  %-44s median %9.3f ms  p99 %9.3f ms  (%zu)\n", what, percentile(v, 0.5) * 1e3,
              percentile(v, 0.99) * 1e3, v.size());
}

} // namespace

int main(int argc, char** argv) {
  int policies = 10000, endpoints = 1000, local = 100, repeats = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--policies") {
      policies = next();
    } else if (a == "--endpoints") {
      endpoints = next();
    } else if (a == "--local") {
      local = next();
    } else if (a == "--repeats") {
      repeats = next();
    } else {
      std::fprintf(stderr, "usage: bench_policy_calc [--policies N] [--endpoints E] [--local L] "
                           "[--repeats R]\n");
      return 2;
    }
  }
  if (policies < 1 || endpoints < 2 || local < 1 || local > endpoints || repeats < 1) {
    std::fprintf(stderr, "bench_policy_calc: need policies >= 1, 1 <= local <= endpoints\n");
    return 2;
  }
  const auto* npKind = caracal::api::findByKind("projectcalico.org/v3", "NetworkPolicy");
  const auto* wepKind = caracal::api::findByKind("projectcalico.org/v3", "WorkloadEndpoint");
  const auto* nsKind = caracal::api::findByKind("v1", "Namespace");

  std::printf("bench_policy_calc: %d Kubernetes NetworkPolicies, %d endpoints (%d local)\n",
              policies, endpoints, local);
  std::vector<Value> sources;
  for (int p = 0; p < policies; ++p) {
    sources.push_back(knp(p));
  }
  auto t0 = Clock::now();
  std::vector<Value> converted;
  for (const Value& k : sources) {
    auto c = caracal::api::convertK8sNetworkPolicy(k);
    if (!c) {
      std::fprintf(stderr, "convert: %s\n", c.error().message().c_str());
      return 1;
    }
    converted.push_back(std::move(c->policy));
  }
  const double convert = secondsSince(t0);
  std::printf("  controller conversion of %d policies: %.1f ms (%.2f us each)\n", policies,
              convert * 1e3, convert * 1e6 / policies);

  caracal::felix::calc::PolicyCalc calc("node1");
  t0 = Clock::now();
  for (int i = 0; i < 10; ++i) {
    Value n = obj(R"({"metadata":{"name":")" + ns(i) + R"(","labels":{"team":"t)" +
                  std::to_string(i) + R"("}}})");
    calc.onUpdate(*nsKind, ns(i), &n);
  }
  for (int e = 0; e < endpoints; ++e) {
    Value w = wep(e, local, "app-" + std::to_string(e % 50));
    calc.onUpdate(*wepKind, wepKey(e, local), &w);
  }
  for (int p = 0; p < policies; ++p) {
    const Value& c = converted[static_cast<size_t>(p)];
    calc.onUpdate(*npKind, c.getString("metadata.namespace") + "/" + c.getString("metadata.name"),
                  &c);
  }
  caracal::policy::DataplaneDelta first = calc.computeDelta();
  const double initial = secondsSince(t0);
  std::printf("  felix calculation, everything at once: %.1f ms (%zu endpoint chains, %zu policy "
              "chains, %zu sets)\n",
              initial * 1e3, first.endpointChains.size(), first.policyChains.size(),
              first.setsCreated.size());

  // A pod label change: `pick(r)` is the endpoint changed in repeat r. Remote pods are members
  // of the sets of the rules that name their app; local pods are also what policies select.
  auto measure = [&](const char* what, auto pick) {
    std::vector<double> delta, whole;
    size_t chains = 0, members = 0;
    for (int r = 0; r < repeats; ++r) {
      const int e = pick(r);
      Value w = wep(e, local, "app-" + std::to_string((e + 1 + r) % 50));
      auto t1 = Clock::now();
      calc.onUpdate(*wepKind, wepKey(e, local), &w);
      caracal::policy::DataplaneDelta d = calc.computeDelta();
      delta.push_back(secondsSince(t1));
      chains += d.policyChains.size() + d.endpointChains.size() + d.policyChainsRemoved.size();
      members += d.setMembers.size();
    }
    for (int r = 0; r < std::min(repeats, 20); ++r) {
      const int e = pick(r);
      Value w = wep(e, local, "app-" + std::to_string((e + 7 + r) % 50));
      auto t1 = Clock::now();
      calc.onUpdate(*wepKind, wepKey(e, local), &w);
      caracal::policy::Dataplane all = calc.compute();
      whole.push_back(secondsSince(t1));
      if (all.endpointChains.empty()) {
        std::fprintf(stderr, "no endpoint chains\n");
        std::exit(1);
      }
    }
    std::printf("  %s (per delta on average: %.1f chains, %.1f set member changes):\n", what,
                static_cast<double>(chains) / repeats, static_cast<double>(members) / repeats);
    print("update + computeDelta()", delta);
    print("update + compute() (whole state, for reference)", whole);
    std::printf("  whole / delta: %.1fx\n", percentile(whole, 0.5) / percentile(delta, 0.5));
  };
  measure("one remote pod's label", [&](int r) { return local + r % (endpoints - local); });
  measure("one local pod's label", [&](int r) { return r % local; });
  return 0;
}
