// The cost of one policy change with a large policy already installed: the nftables writer
// (NftPolicyTable, incremental netlink batches) against iptables-restore of the same rules.
//
//   bench_policy_update [--sizes 1000,10000,100000] [--repeats 200,200,50] [--whole-repeats 10]
//                       [--ipt-repeats 5] [--ipt-chain-repeats 20] [--endpoints N]
//                       [--no-iptables]
//
// Setup, per size N (N Calico rules): N/10 GlobalNetworkPolicies of 10 rules each (8 ingress, 2
// egress; TCP ports, source selectors drawn from a pool of N/20 selectors with 3-5 members each,
// source nets from a pool of N/100 two-net lists, UDP 53 to a selector, a Deny), compiled with
// compilePolicy() and a HashSetNamer. Every rule carries ipVersion 4, so both dataplanes hold the
// same rules (iptables is one family per table). Endpoints (caliXXXXXXXXXXX names, the
// interfaces need not exist), each with a tw- and an fw- chain referencing 10 policies; by default
// N/100 of them (at least 10), so that every policy is in use by exactly one endpoint, as in
// what caracal-node programs (it installs only the policies that select a local endpoint).
// --endpoints E sets the number (with fewer, the other policies are installed but unused).
// Everything happens inside two network namespaces of this process, bench-policy-<pid>-nft and
// bench-policy-<pid>-ipt (created per size, deleted at the end, on failure and on signals).
//
// Figures:
//   nft full write: the first apply() (reads the empty table back, then one batch).
//   nft whole-state apply: the rule change handed to apply() as the whole desired state, which
//     compares it with the writer's record (--whole-repeats; for reference).
//   nft rule change: rule 0 of one referenced policy gets a new port, handed to update() as that
//     one chain (it is flushed and refilled); nft element change: one member added to / removed
//     from one selector set, handed to update() as that element.
//     The two alternate, --repeats of each; wall clock around update(), median and p99, and the
//     messages of the batch (NftStats::lastBatchMessages).
//   iptables full: after the same one-rule change, the whole filter table (the layout of
//     IptPolicyTable::renderChains plus FORWARD -j cali-FORWARD) loaded with `iptables-restore`
//     (a flushing reload, what a naive iptables dataplane does); --ipt-repeats repeats. The sets
//     exist beforehand (`ipset restore`). Timed: fork + exec + load of the process.
//   iptables one chain: `iptables-restore --noflush` of only the changed chain (what
//     IptPolicyTable writes); ipset element: `ipset restore` of one add/del line.
// The iptables text is rendered outside the timed region (render time printed separately).
// Exits non-zero when an apply or a command fails; prints what it measured.

#include "bench/bench_support.h"
#include "common/value.h"
#include "policy/chains.h"
#include "policy/dataplane.h"
#include "policy/ipt_render.h"
#include "policy/ipt_table.h"
#include "policy/nft_table.h"
#include "policy/rules.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sched.h>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace caracal::policy;
using caracal::Value;
using caracal::bench::Clock;

using caracal::bench::percentile;
using caracal::bench::secondsSince;

double median(const std::vector<double>& v) { return percentile(v, 0.5); }

// CPU time of the calling thread: user and system (the kernel's nf_tables work on a netlink batch
// runs in the sender's context, so it shows as system time).
struct CpuTimes {
  double user = 0;
  double sys = 0;
};
CpuTimes threadCpu() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return {sec(ru.ru_utime), sec(ru.ru_stime)};
}

std::vector<int> parseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) {
      out.push_back(std::atoi(item.c_str()));
    }
  }
  return out;
}

// ---- namespaces and commands --------------------------------------------------------------------

// Names of the namespaces this process created and has not deleted yet, as C strings so the
// signal handler can use them.
char gNetns[2][64];

// Runs `ip netns del` for every namespace still listed; async-signal-safe (fork, execv, waitpid).
void deleteNamespaces() {
  for (auto& name : gNetns) {
    if (name[0] == '\0') {
      continue;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      char ip[] = "/usr/sbin/ip", netns[] = "netns", del[] = "del";
      char* argv[] = {ip, netns, del, name, nullptr};
      ::execv(ip, argv);
      ::_exit(127);
    }
    if (pid > 0) {
      int st = 0;
      ::waitpid(pid, &st, 0);
    }
    name[0] = '\0';
  }
}

void onSignal(int sig) {
  deleteNamespaces();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

struct NamespaceGuard {
  ~NamespaceGuard() { deleteNamespaces(); }
};

std::string tmpDir;

// Runs argv (inside the namespace `netns` when not empty) with stdin from `input`; output goes to
// a log file shown on failure. Returns the wall time (fork to exit) or a negative value on failure.
double runTimed(const std::vector<std::string>& argv, const std::string& netns,
                const std::string& input) {
  std::string inFile = tmpDir + "/input";
  std::string logFile = tmpDir + "/log";
  {
    std::ofstream out(inFile, std::ios::trunc | std::ios::binary);
    out << input;
  }
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    return -1;
  }
  if (pid == 0) {
    if (!netns.empty()) {
      int fd = ::open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        ::_exit(126);
      }
    }
    int in = ::open(inFile.c_str(), O_RDONLY);
    int log = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || log < 0) {
      ::_exit(126);
    }
    ::dup2(in, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  double s = secondsSince(t0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream log(logFile);
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    std::string cmd;
    for (const std::string& a : argv) {
      cmd += a + " ";
    }
    std::fprintf(stderr, "%s(in %s) failed (status %d): %.2000s\n", cmd.c_str(), netns.c_str(),
                 status, text.c_str());
    return -1;
  }
  return s;
}

bool addNamespace(int slot, const std::string& name) {
  if (runTimed({"ip", "netns", "add", name}, "", "") < 0) {
    return false;
  }
  std::snprintf(gNetns[slot], sizeof gNetns[slot], "%s", name.c_str());
  return true;
}

// ---- the policy ---------------------------------------------------------------------------------

std::string ipOf(uint32_t n) {
  return std::to_string((n >> 24) & 0xff) + "." + std::to_string((n >> 16) & 0xff) + "." +
         std::to_string((n >> 8) & 0xff) + "." + std::to_string(n & 0xff);
}

std::string selectorText(int i) { return "app == 'app-" + std::to_string(i) + "'"; }

Value strArray(std::initializer_list<std::string> items) {
  Value a = Value::array();
  for (const std::string& s : items) {
    a.push(s);
  }
  return a;
}

Value makeRule(const char* action, const char* protocol, Value source, Value destination) {
  Value r = Value::object();
  r.set("action", action);
  if (protocol != nullptr) {
    r.set("protocol", protocol);
  }
  r.set("ipVersion", 4);
  if (source.isObject()) {
    r.set("source", std::move(source));
  }
  if (destination.isObject()) {
    r.set("destination", std::move(destination));
  }
  return r;
}

Value ports(std::initializer_list<Value> items) {
  Value a = Value::array();
  for (const Value& v : items) {
    a.push(v);
  }
  Value d = Value::object();
  d.set("ports", std::move(a));
  return d;
}

// Policy p: 8 ingress rules and 2 egress rules.
Value policySpec(int p, int selectors, int netLists) {
  auto sel = [&](int k) {
    Value s = Value::object();
    s.set("selector", selectorText((p * 7 + k * 13) % selectors));
    return s;
  };
  auto nets = [&](int k) {
    int i = (p * 3 + k) % netLists;
    Value s = Value::object();
    s.set("nets",
          strArray({"172." + std::to_string(16 + i / 256) + "." + std::to_string(i % 256) + ".0/24",
                    "10.200." + std::to_string(i % 256) + "." + std::to_string((i / 256) * 16) +
                        "/28"}));
    return s;
  };
  int base = 1000 + (p % 5000) * 10;
  Value ingress = Value::array();
  for (int k = 0; k < 5; ++k) {
    ingress.push(makeRule("Allow", "TCP", sel(k), ports({base + k})));
  }
  ingress.push(makeRule(
      "Allow", "TCP", nets(0),
      ports({base + 5, std::string(std::to_string(base + 6) + ":" + std::to_string(base + 9))})));
  ingress.push(makeRule("Allow", "UDP", nets(1), ports({base + 7})));
  ingress.push(makeRule("Deny", "TCP", Value(), ports({22})));
  Value egress = Value::array();
  Value dnsDest = ports({53});
  dnsDest.set("selector", "k8s-app == 'kube-dns'");
  egress.push(makeRule("Allow", "UDP", Value(), std::move(dnsDest)));
  Value egDest = sel(9);
  egDest.set("ports", strArray({std::to_string(base + 8)}));
  egress.push(makeRule("Allow", "TCP", Value(), std::move(egDest)));
  Value spec = Value::object();
  spec.set("ingress", std::move(ingress));
  spec.set("egress", std::move(egress));
  return spec;
}

std::string policyId(int p) { return "gnp/bench-" + std::to_string(p); }

std::string ifaceName(int e) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "cali%011d", 10000000 + e * 7919);
  return buf;
}

struct Model {
  int rules = 0;
  int policies = 0;
  int endpoints = 0;
  NftDesired nft;
  std::vector<SetDecl> setDecls;
  std::map<std::string, size_t> nftSetIndex;      // set name -> index in nft.sets
  std::vector<std::string> selectorSetNames;      // the pool's selector sets (element changes)
  std::vector<std::vector<int>> endpointPolicies; // policies each endpoint references
  size_t compiledRules = 0;
};

Model buildModel(int n, int endpoints) {
  Model m;
  m.rules = n;
  m.policies = std::max(1, n / 10);
  m.endpoints = endpoints;
  const int selectors = std::max(20, n / 20);
  const int netLists = std::max(10, n / 100);
  HashSetNamer namer;
  for (int p = 0; p < m.policies; ++p) {
    auto compiled = compilePolicy(policySpec(p, selectors, netLists), "", namer);
    if (!compiled) {
      std::fprintf(stderr, "compile policy %d: %s\n", p, compiled.status().str().c_str());
      std::exit(1);
    }
    m.compiledRules += compiled->ingress.size() + compiled->egress.size();
    m.nft.policyChains.push_back({policyId(p), Direction::Ingress, false, compiled->ingress});
    m.nft.policyChains.push_back({policyId(p), Direction::Egress, false, compiled->egress});
  }
  m.setDecls = namer.sets();
  std::map<std::string, std::string> selectorToSet;
  for (const SetDecl& d : m.setDecls) {
    NftSetSpec spec = nftSetSpec(d);
    if (!d.selector.empty() && d.ref.kind != SetKind::AddrPort) {
      selectorToSet[d.selector] = d.ref.name;
    }
    m.nftSetIndex[d.ref.name] = m.nft.sets.size();
    m.nft.sets.push_back(std::move(spec));
  }
  // Members of the selector sets: 3-5 addresses each from 10.0.0.0/8.
  uint32_t next = (10u << 24) + 1;
  for (const auto& [canon, name] : selectorToSet) {
    NftSetSpec& s = m.nft.sets[m.nftSetIndex[name]];
    int count = 3 + static_cast<int>(s.name.size() + canon.size()) % 3;
    for (int k = 0; k < count; ++k) {
      s.elements.push_back(ipOf(next++));
    }
    ++next;
  }
  // The element change works on the selector sets of the pool (those named in selectorToSet
  // whose selector is app == ...), in a stable order.
  m.selectorSetNames.clear();
  for (const auto& [canon, name] : selectorToSet) {
    if (canon.rfind("app ", 0) == 0) {
      m.selectorSetNames.push_back(name);
    }
  }
  // Endpoints: each references 10 policies spread over all of them.
  for (int e = 0; e < endpoints; ++e) {
    std::vector<int> ps;
    for (int j = 0; j < 10; ++j) {
      int p = static_cast<int>((static_cast<int64_t>(e) * 10 + j) * 7919 % m.policies);
      if (std::find(ps.begin(), ps.end(), p) == ps.end()) {
        ps.push_back(p);
      }
    }
    m.endpointPolicies.push_back(ps);
    for (Direction d : {Direction::Ingress, Direction::Egress}) {
      EndpointChainSpec spec;
      spec.interfaceName = ifaceName(e);
      spec.direction = d;
      TierPolicies tier{"default", {}, TierDefault::Deny};
      for (int p : ps) {
        tier.policyIds.push_back(policyId(p));
      }
      spec.tiers.push_back(std::move(tier));
      spec.profileIds = {};
      m.nft.endpointChains.push_back(std::move(spec));
    }
  }
  return m;
}

Dataplane toDataplane(const Model& m) {
  Dataplane dp;
  for (const PolicyChain& c : m.nft.policyChains) {
    dp.policyChains[c.id + "|" + directionName(c.direction)] = c;
  }
  for (const EndpointChainSpec& e : m.nft.endpointChains) {
    dp.endpointChains[e.interfaceName + "|" + directionName(e.direction)] = e;
  }
  return dp;
}

// The whole filter table for a flushing iptables-restore.
std::string fullIptText(const Model& m) {
  std::vector<IptChain> chains;
  for (auto& [name, rules] : IptPolicyTable::renderChains(toDataplane(m), 4)) {
    chains.push_back({name, std::move(rules)});
  }
  std::string text = renderIptRestore(chains);
  const std::string commit = "COMMIT\n";
  if (text.size() >= commit.size() &&
      text.compare(text.size() - commit.size(), commit.size(), commit) == 0) {
    text.resize(text.size() - commit.size());
  }
  text += "-A FORWARD -j cali-FORWARD\nCOMMIT\n";
  return text;
}

std::string ipsetText(const Model& m) {
  std::string text = renderIpsetRestore(m.setDecls, 4);
  for (const SetDecl& d : m.setDecls) {
    if (d.ref.ipVersion != 4 || d.selector.empty()) {
      continue;
    }
    for (const std::string& e : m.nft.sets[m.nftSetIndex.at(d.ref.name)].elements) {
      text += "add " + d.ref.name + " " + e + "\n";
    }
  }
  return text;
}

size_t countLines(const std::string& s, const std::string& prefix) {
  size_t n = 0;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) {
      ++n;
    }
  }
  return n;
}

// ---- the measurement ----------------------------------------------------------------------------

struct SizeFigures {
  int size = 0;
  size_t compiledRules = 0;
  size_t sets = 0;
  size_t iptRules = 0;
  double nftFull = 0;
  size_t nftFullMessages = 0;
  std::vector<double> nftRule, nftElem, nftWhole;
  std::vector<double> ruleUser, ruleSys, elemUser, elemSys; // CPU split of the applies
  size_t ruleMessages = 0, elemMessages = 0;
  double iptIpsetLoad = 0, iptInitial = 0, iptRender = 0;
  std::vector<double> iptFull, iptChain, ipsetElem;
  bool ok = true;
};

// Rule 0 of the ingress chain of policy p: its destination port moves by +/-1000.
void changePort(Model& m, int p, bool up) {
  PolicyChain& c = m.nft.policyChains[static_cast<size_t>(p) * 2];
  CompiledRule& r = c.rules[0];
  if (r.destination.ports.empty()) {
    return;
  }
  int delta = up ? 1000 : -1000;
  r.destination.ports[0].first = static_cast<uint16_t>(r.destination.ports[0].first + delta);
  r.destination.ports[0].last = static_cast<uint16_t>(r.destination.ports[0].last + delta);
}

SizeFigures measure(int n, int repeats, int wholeRepeats, int iptRepeats, int iptChainRepeats,
                    int endpoints, bool withIptables) {
  SizeFigures f;
  f.size = n;
  std::printf("== %d rules: building the policy\n", n);
  std::fflush(stdout);
  auto tb = Clock::now();
  Model m = buildModel(n, endpoints);
  f.compiledRules = m.compiledRules;
  f.sets = m.nft.sets.size();
  std::printf("   %d policies, %zu compiled rules, %zu sets, %d endpoints (%zu endpoint chains); "
              "built in %.2f s\n",
              m.policies, m.compiledRules, m.nft.sets.size(), endpoints,
              m.nft.endpointChains.size(), secondsSince(tb));
  std::fflush(stdout);

  const std::string nsNft = "bench-policy-" + std::to_string(::getpid()) + "-nft";
  const std::string nsIpt = "bench-policy-" + std::to_string(::getpid()) + "-ipt";
  if (!addNamespace(0, nsNft) || (withIptables && !addNamespace(1, nsIpt))) {
    f.ok = false;
    deleteNamespaces();
    return f;
  }

  // ---- nftables
  auto table = NftPolicyTable::open("/var/run/netns/" + nsNft);
  if (!table) {
    std::fprintf(stderr, "open: %s\n", table.status().str().c_str());
    f.ok = false;
    deleteNamespaces();
    return f;
  }
  auto t0 = Clock::now();
  caracal::Status st = (*table)->apply(m.nft);
  f.nftFull = secondsSince(t0);
  f.nftFullMessages = (*table)->stats().lastBatchMessages;
  if (!st.isOk()) {
    std::fprintf(stderr, "full apply: %s\n", st.str().c_str());
    f.ok = false;
    deleteNamespaces();
    return f;
  }
  std::printf("   nft full write: %.3f s (%zu messages)\n", f.nftFull, f.nftFullMessages);
  std::fflush(stdout);

  for (int r = 0; r < repeats && f.ok; ++r) {
    // Rule change: a policy referenced by endpoint r % endpoints.
    const auto& ps = m.endpointPolicies[static_cast<size_t>(r % endpoints)];
    int p = ps[static_cast<size_t>(r / endpoints) % ps.size()];
    bool up = (r / (endpoints * 10)) % 2 == 0;
    changePort(m, p, up);
    NftChanges rule;
    rule.policyChains.push_back(m.nft.policyChains[static_cast<size_t>(p) * 2]);
    CpuTimes c0 = threadCpu();
    t0 = Clock::now();
    st = (*table)->update(rule);
    f.nftRule.push_back(secondsSince(t0));
    CpuTimes c1 = threadCpu();
    f.ruleUser.push_back(c1.user - c0.user);
    f.ruleSys.push_back(c1.sys - c0.sys);
    f.ruleMessages = std::max(f.ruleMessages, (*table)->stats().lastBatchMessages);
    if (!st.isOk()) {
      std::fprintf(stderr, "rule change: %s\n", st.str().c_str());
      f.ok = false;
      break;
    }
    // Element change: add a member to one selector set, remove it on the next visit.
    const std::string& setName =
        m.selectorSetNames[static_cast<size_t>(r) % m.selectorSetNames.size()];
    NftSetSpec& s = m.nft.sets[m.nftSetIndex[setName]];
    const std::string extra = "10.250." + std::to_string(r % 250) + ".1";
    auto it = std::find(s.elements.begin(), s.elements.end(), extra);
    NftChanges elem;
    if (it == s.elements.end()) {
      s.elements.push_back(extra);
      elem.elements.push_back({setName, {extra}, {}});
    } else {
      s.elements.erase(it);
      elem.elements.push_back({setName, {}, {extra}});
    }
    c0 = threadCpu();
    t0 = Clock::now();
    st = (*table)->update(elem);
    f.nftElem.push_back(secondsSince(t0));
    c1 = threadCpu();
    f.elemUser.push_back(c1.user - c0.user);
    f.elemSys.push_back(c1.sys - c0.sys);
    f.elemMessages = std::max(f.elemMessages, (*table)->stats().lastBatchMessages);
    if (!st.isOk()) {
      std::fprintf(stderr, "element change: %s\n", st.str().c_str());
      f.ok = false;
    }
  }
  // For reference: the same rule change handed over as the whole desired state (apply()
  // compares it with its record).
  for (int r = 0; r < wholeRepeats && f.ok; ++r) {
    const auto& ps = m.endpointPolicies[static_cast<size_t>(r % endpoints)];
    changePort(m, ps[0], r % 2 == 0);
    t0 = Clock::now();
    st = (*table)->apply(m.nft);
    f.nftWhole.push_back(secondsSince(t0));
    if (!st.isOk() || (*table)->stats().lastChainsWritten != 1) {
      std::fprintf(stderr, "whole-state apply: %s (%zu chains written)\n", st.str().c_str(),
                   (*table)->stats().lastChainsWritten);
      f.ok = false;
    }
  }
  std::printf("   nft rule change:    median %8.3f ms  p99 %8.3f ms  (%zu repeats, %zu messages; "
              "CPU median user %.3f ms, system %.3f ms)\n",
              median(f.nftRule) * 1e3, percentile(f.nftRule, 0.99) * 1e3, f.nftRule.size(),
              f.ruleMessages, median(f.ruleUser) * 1e3, median(f.ruleSys) * 1e3);
  std::printf("   nft element change: median %8.3f ms  p99 %8.3f ms  (%zu repeats, %zu messages; "
              "CPU median user %.3f ms, system %.3f ms)\n",
              median(f.nftElem) * 1e3, percentile(f.nftElem, 0.99) * 1e3, f.nftElem.size(),
              f.elemMessages, median(f.elemUser) * 1e3, median(f.elemSys) * 1e3);
  std::printf("   nft whole-state apply of a rule change: median %8.3f ms  (%zu repeats)\n",
              median(f.nftWhole) * 1e3, f.nftWhole.size());
  std::fflush(stdout);
  table->reset();
  // The nft namespace is done: free its memory before the iptables part.
  if (gNetns[0][0] != '\0') {
    runTimed({"ip", "netns", "del", nsNft}, "", "");
    gNetns[0][0] = '\0';
  }

  if (!withIptables || !f.ok) {
    deleteNamespaces();
    return f;
  }

  // ---- iptables (same model, after the nft changes: equivalent rules)
  f.iptIpsetLoad = runTimed({"ipset", "restore"}, nsIpt, ipsetText(m));
  auto tr = Clock::now();
  std::string full = fullIptText(m);
  f.iptRender = secondsSince(tr);
  f.iptRules = countLines(full, "-A ");
  f.iptInitial = runTimed({"iptables-restore", "--wait"}, nsIpt, full);
  if (f.iptIpsetLoad < 0 || f.iptInitial < 0) {
    f.ok = false;
    deleteNamespaces();
    return f;
  }
  std::printf("   ipset restore of %zu sets: %.3f s; iptables text: %zu rules, %zu bytes, "
              "rendered in %.3f s; first load %.3f s\n",
              f.sets, f.iptIpsetLoad, f.iptRules, full.size(), f.iptRender, f.iptInitial);
  std::fflush(stdout);

  for (int r = 0; r < iptRepeats; ++r) {
    const auto& ps = m.endpointPolicies[static_cast<size_t>(r % endpoints)];
    changePort(m, ps[0], r % 2 == 0);
    std::string text = fullIptText(m);
    double t = runTimed({"iptables-restore", "--wait"}, nsIpt, text);
    if (t < 0) {
      f.ok = false;
      break;
    }
    f.iptFull.push_back(t);
    std::printf("   iptables-restore full reload #%d: %.3f s\n", r + 1, t);
    std::fflush(stdout);
  }
  for (int r = 0; r < iptChainRepeats && f.ok; ++r) {
    const auto& ps = m.endpointPolicies[static_cast<size_t>(r % endpoints)];
    int p = ps[1 % ps.size()];
    changePort(m, p, r % 2 == 0);
    IptChain chain = renderIptPolicyChain(m.nft.policyChains[static_cast<size_t>(p) * 2], 4);
    double t =
        runTimed({"iptables-restore", "--noflush", "--wait"}, nsIpt, renderIptRestore({chain}));
    if (t < 0) {
      f.ok = false;
      break;
    }
    f.iptChain.push_back(t);
    // Pairs of repeats add and then delete the same address of the same set.
    const std::string& setName =
        m.selectorSetNames[static_cast<size_t>(r / 2) % m.selectorSetNames.size()];
    std::string line = std::string(r % 2 == 0 ? "add " : "del ") + setName + " 10.251." +
                       std::to_string(r / 2 % 250) + ".1\n";
    t = runTimed({"ipset", "restore"}, nsIpt, line);
    if (t < 0) {
      f.ok = false;
      break;
    }
    f.ipsetElem.push_back(t);
  }
  std::printf("   iptables full reload:     median %8.3f ms  (%zu repeats)\n",
              median(f.iptFull) * 1e3, f.iptFull.size());
  std::printf("   iptables one chain:       median %8.3f ms  p99 %8.3f ms  (%zu repeats)\n",
              median(f.iptChain) * 1e3, percentile(f.iptChain, 0.99) * 1e3, f.iptChain.size());
  std::printf("   ipset one element:        median %8.3f ms  p99 %8.3f ms  (%zu repeats)\n",
              median(f.ipsetElem) * 1e3, percentile(f.ipsetElem, 0.99) * 1e3, f.ipsetElem.size());
  std::fflush(stdout);
  deleteNamespaces();
  return f;
}

std::string loadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 10000, 100000};
  std::vector<int> repeats;
  int iptRepeats = 5;
  int iptChainRepeats = 20;
  int wholeRepeats = 10;
  int endpoints = 0; // N/100 per size
  bool withIptables = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--sizes") {
      sizes = parseList(next());
    } else if (a == "--repeats") {
      repeats = parseList(next());
    } else if (a == "--whole-repeats") {
      wholeRepeats = std::max(0, std::atoi(next().c_str()));
    } else if (a == "--ipt-repeats") {
      iptRepeats = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--ipt-chain-repeats") {
      iptChainRepeats = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--endpoints") {
      endpoints = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--no-iptables") {
      withIptables = false;
    } else {
      std::fprintf(stderr,
                   "usage: bench_policy_update [--sizes 1000,10000,100000] [--repeats R[,R...]] "
                   "[--whole-repeats 10] [--ipt-repeats 5] [--ipt-chain-repeats 20] "
                   "[--endpoints N] [--no-iptables]\n");
      return 2;
    }
  }
  if (sizes.empty() || std::any_of(sizes.begin(), sizes.end(), [](int s) { return s < 10; })) {
    std::fprintf(stderr, "--sizes: a comma-separated list of rule counts >= 10\n");
    return 2;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_policy_update needs root (network namespaces)\n");
    return 2;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/caracal-policy-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  tmpDir = tmpl;
  struct TmpCleanup {
    ~TmpCleanup() {
      std::remove((tmpDir + "/input").c_str());
      std::remove((tmpDir + "/log").c_str());
      ::rmdir(tmpDir.c_str());
    }
  } tmpCleanup;
  NamespaceGuard guard;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    ::signal(sig, onSignal);
  }

  std::printf("bench_policy_update: one policy change, nftables (NftPolicyTable) vs "
              "iptables-restore; load average %s\n",
              loadAvg().c_str());
  std::vector<SizeFigures> all;
  int failures = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    int r = repeats.empty() ? (sizes[i] >= 100000 ? 50 : 200)
                            : repeats[std::min(i, repeats.size() - 1)];
    const int e = endpoints > 0 ? endpoints : std::max(10, sizes[i] / 100);
    all.push_back(measure(sizes[i], std::max(1, r), wholeRepeats, iptRepeats, iptChainRepeats, e,
                          withIptables));
    if (!all.back().ok) {
      ++failures;
    }
  }

  std::printf("\nsummary (ms; load average %s)\n", loadAvg().c_str());
  std::printf("%8s %9s %10s %9s %9s %9s %9s %11s %10s %9s %10s %13s\n", "rules", "nft-full",
              "rule-med", "rule-p99", "elem-med", "elem-p99", "msgs r/e", "ipt-full", "ipt-chain",
              "ipset-el", "full/rule", "rule-cpu u/s");
  for (const SizeFigures& f : all) {
    char msgs[32];
    std::snprintf(msgs, sizeof msgs, "%zu/%zu", f.ruleMessages, f.elemMessages);
    double ratio = median(f.nftRule) > 0 ? median(f.iptFull) / median(f.nftRule) : 0;
    char cpu[32];
    std::snprintf(cpu, sizeof cpu, "%.1f/%.1f", median(f.ruleUser) * 1e3, median(f.ruleSys) * 1e3);
    std::printf("%8d %9.1f %10.3f %9.3f %9.3f %9.3f %9s %11.1f %10.3f %9.3f %10.0f %13s\n", f.size,
                f.nftFull * 1e3, median(f.nftRule) * 1e3, percentile(f.nftRule, 0.99) * 1e3,
                median(f.nftElem) * 1e3, percentile(f.nftElem, 0.99) * 1e3, msgs,
                median(f.iptFull) * 1e3, median(f.iptChain) * 1e3, median(f.ipsetElem) * 1e3, ratio,
                cpu);
  }
  std::printf("ratios\n");
  for (const SizeFigures& f : all) {
    if (f.iptFull.empty()) {
      continue;
    }
    double nr = median(f.nftRule);
    double ic = median(f.iptChain);
    std::printf("  %6d rules: iptables full / nft rule %.0fx; iptables one chain / nft rule "
                "%.1fx; ipset element / nft element %.1fx\n",
                f.size, nr > 0 ? median(f.iptFull) / nr : 0, nr > 0 ? ic / nr : 0,
                median(f.nftElem) > 0 ? median(f.ipsetElem) / median(f.nftElem) : 0);
  }
  if (all.size() >= 2) {
    const SizeFigures& lo = all.front();
    const SizeFigures& hi = all.back();
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    std::printf("  t(%d)/t(%d): nft rule %.2f, nft element %.2f, nft full %.1f, iptables full "
                "%.1f, iptables one chain %.2f\n",
                hi.size, lo.size, ratio(median(hi.nftRule), median(lo.nftRule)),
                ratio(median(hi.nftElem), median(lo.nftElem)), ratio(hi.nftFull, lo.nftFull),
                ratio(median(hi.iptFull), median(lo.iptFull)),
                ratio(median(hi.iptChain), median(lo.iptChain)));
  }
  return failures == 0 ? 0 : 1;
}
