#include "policy/ipt_table.h"

#include "common/strings.h"
#include "common/subprocess.h"
#include "policy/ipt_render.h"

#include <set>
#include <sstream>

namespace caracal::policy {

namespace {

constexpr const char* kForward = "cali-FORWARD";
constexpr const char* kFromDispatch = "cali-from-wl-dispatch";
constexpr const char* kToDispatch = "cali-to-wl-dispatch";
constexpr const char* kInput = "cali-INPUT";
constexpr const char* kOutput = "cali-OUTPUT";
constexpr const char* kFromHostDispatch = "cali-from-host-endpoint";
constexpr const char* kToHostDispatch = "cali-to-host-endpoint";
constexpr const char* kFromHostForwardDispatch = "cali-from-hep-forward";
constexpr const char* kToHostForwardDispatch = "cali-to-hep-forward";
// The built-in chains and the jump each gets to ours.
constexpr std::pair<const char*, const char*> kHooks[] = {
    {"FORWARD", kForward}, {"INPUT", kInput}, {"OUTPUT", kOutput}};

// The sets this writer owns: the names HashSetNamer hands out.
// A set of this family's writer (the IPv4 and the IPv6 writer share the kernel's ipsets; each
// owns only the sets of its family).
bool isOurSet(const std::string& name, int ipVersion) {
  const bool v6 = ipVersion == 6;
  for (const char* p : {v6 ? "sel6-" : "sel4-", v6 ? "net6-" : "net4-", v6 ? "np6-" : "np4-"}) {
    if (name.rfind(p, 0) == 0) {
      return true;
    }
  }
  return false;
}

// "10.0.0.1/32,tcp:80" → "10.0.0.1,tcp:80" (hash:ip,port takes a host address).
std::string ipsetMember(const std::string& m, SetKind kind) {
  if (kind != SetKind::AddrPort) {
    return m;
  }
  size_t slash = m.find('/');
  size_t comma = m.find(',');
  if (slash == std::string::npos || comma == std::string::npos || slash > comma) {
    return m;
  }
  return m.substr(0, slash) + m.substr(comma);
}

const char* ipsetType(SetKind kind) {
  return kind == SetKind::AddrPort ? "hash:ip,port" : "hash:net";
}

// Declarations come first in a restore: a rule may jump to a chain declared after its own.
void declareAndFill(std::string& decls, std::string& rules, const std::string& name,
                    const std::vector<std::string>& chainRules) {
  decls += ":" + name + " - [0:0]\n";
  for (const std::string& r : chainRules) {
    rules += "-A " + name + " " + r + "\n";
  }
}

} // namespace

IptPolicyTable::IptPolicyTable(Options options) : options_(std::move(options)) {}

std::map<std::string, std::vector<std::string>>
IptPolicyTable::renderChains(const Dataplane& desired, int ipVersion) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [key, chain] : desired.policyChains) {
    IptChain c = renderIptPolicyChain(chain, ipVersion);
    out[c.name] = std::move(c.rules);
  }
  std::vector<std::string>& from = out[kFromDispatch];
  std::vector<std::string>& to = out[kToDispatch];
  std::vector<std::string>& fromHost = out[kFromHostDispatch];
  std::vector<std::string>& toHost = out[kToHostDispatch];
  std::vector<std::string>& fromHostFwd = out[kFromHostForwardDispatch];
  std::vector<std::string>& toHostFwd = out[kToHostForwardDispatch];
  for (const auto& [key, spec] : desired.endpointChains) {
    IptChain c = renderIptEndpointChain(spec);
    if (spec.host) {
      // Ingress: arriving on the interface (INPUT, or FORWARD for forwarded traffic); Egress:
      // leaving by it (OUTPUT, FORWARD).
      if (spec.direction == Direction::Ingress) {
        (spec.forward ? fromHostFwd : fromHost)
            .push_back("-i " + spec.interfaceName + " -g " + c.name);
      } else {
        (spec.forward ? toHostFwd : toHost).push_back("-o " + spec.interfaceName + " -g " + c.name);
      }
    } else if (spec.direction == Direction::Egress) {
      from.push_back("-i " + spec.interfaceName + " -g " + c.name);
    } else {
      to.push_back("-o " + spec.interfaceName + " -g " + c.name);
    }
    out[c.name] = std::move(c.rules);
  }
  from.push_back("-m comment --comment \"unknown endpoint\" -j DROP");
  to.push_back("-m comment --comment \"unknown endpoint\" -j DROP");
  // Host traffic on interfaces without a host endpoint falls through (accepted). The tunnels
  // between nodes pass before host endpoint policy (what they carry meets the workloads' chains
  // once decapsulated).
  auto hostBase = [](const char* dispatch) {
    return std::vector<std::string>{
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-p udp -m udp --dport 4789 -j ACCEPT",
        "-p 4 -j ACCEPT",
        std::string("-j ") + dispatch,
        "-m comment --comment \"host endpoint policy allowed\" -m mark --mark " +
            hexValue(kMarkAccept) + "/" + hexValue(kMarkAccept) + " -j ACCEPT",
    };
  };
  out[kInput] = hostBase(kFromHostDispatch);
  out[kOutput] = hostBase(kToHostDispatch);
  out[kForward] = {
      "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      std::string("-i cali+ -j ") + kFromDispatch,
      std::string("-o cali+ -j ") + kToDispatch,
      std::string("-j ") + kFromHostForwardDispatch,
      std::string("-j ") + kToHostForwardDispatch,
      "-i cali+ -m comment --comment \"endpoint policy allowed\" -j ACCEPT",
      "-o cali+ -m comment --comment \"endpoint policy allowed\" -j ACCEPT",
  };
  return out;
}

Result<std::string> IptPolicyTable::run(const std::vector<std::string>& argv,
                                        const std::string& input) {
  std::vector<std::string> cmd = options_.commandPrefix;
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  ProcessOptions po;
  po.captureStderr = true;
  po.timeout = std::chrono::seconds(30);
  ASSIGN_OR_RETURN(ProcessResult r, runProcess(cmd, input, po));
  if (r.exitCode != 0) {
    return Status(Code::Internal, join(argv, " ") + " failed (exit " + std::to_string(r.exitCode) +
                                      "): " + trim(r.out));
  }
  return std::move(r.out);
}

Status IptPolicyTable::createIfMissing() {
  const std::string save = options_.ipVersion == 6 ? "ip6tables-save" : "iptables-save";
  ASSIGN_OR_RETURN(std::string saved, run({save, "-t", "filter"}, ""));
  if (saved.find(std::string(":") + kForward + " ") != std::string::npos) {
    return {};
  }
  return apply(Dataplane{});
}

Status IptPolicyTable::apply(const Dataplane& desired) {
  stats_.applies++;
  const int v = options_.ipVersion;
  const std::string restore = v == 6 ? "ip6tables-restore" : "iptables-restore";
  const std::string save = v == 6 ? "ip6tables-save" : "iptables-save";
  const char* family = v == 6 ? "inet6" : "inet";

  std::map<std::string, std::vector<std::string>> wanted = renderChains(desired, v);
  std::map<std::string, std::set<std::string>> wantedSets;
  std::map<std::string, std::string> wantedTypes;
  for (const auto& [name, s] : desired.sets) {
    if (s.ref.ipVersion != v) {
      continue;
    }
    auto& members = wantedSets[name];
    for (const std::string& m : s.members) {
      members.insert(ipsetMember(m, s.ref.kind));
    }
    wantedTypes[name] = ipsetType(s.ref.kind);
  }

  const bool full = !synced_;
  std::set<std::string> kernelChains;
  std::set<std::string> kernelSets;
  std::set<std::string> haveJump; // built-in chains that jump to ours
  if (!full) {
    for (const auto& [hook, ours] : kHooks) {
      haveJump.insert(hook);
    }
  } else {
    stats_.fullSyncs++;
    ASSIGN_OR_RETURN(std::string saved, run({save, "-t", "filter"}, ""));
    std::istringstream in(saved);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(":cali-", 0) == 0) {
        kernelChains.insert(line.substr(1, line.find(' ') - 1));
      }
      for (const auto& [hook, ours] : kHooks) {
        if (line == std::string("-A ") + hook + " -j " + ours) {
          haveJump.insert(hook);
        }
      }
    }
    ASSIGN_OR_RETURN(std::string names, run({"ipset", "list", "-n"}, ""));
    std::istringstream ns(names);
    while (std::getline(ns, line)) {
      if (isOurSet(trim(line), v)) {
        kernelSets.insert(trim(line));
      }
    }
    chains_.clear();
    sets_.clear();
  }

  // 1. Sets: create what is new, fill and trim what changed (before the rules that use them).
  std::string ipsetIn;
  std::vector<std::string> destroy;
  // Set names are hashes of their kind and content, so a name never changes type.
  for (const auto& [name, members] : wantedSets) {
    auto have = sets_.find(name);
    if (have == sets_.end()) {
      ipsetIn += "create " + name + " " + wantedTypes[name] + " family " + family + "\n";
      if (kernelSets.count(name)) {
        ipsetIn += "flush " + name + "\n"; // left by an earlier run: refill from scratch
      }
      for (const std::string& m : members) {
        ipsetIn += "add " + name + " " + m + "\n";
      }
      continue;
    }
    for (const std::string& m : members) {
      if (!have->second.count(m)) {
        ipsetIn += "add " + name + " " + m + "\n";
      }
    }
    for (const std::string& m : have->second) {
      if (!members.count(m)) {
        ipsetIn += "del " + name + " " + m + "\n";
      }
    }
  }
  for (const auto& [name, members] : sets_) {
    if (!wantedSets.count(name)) {
      destroy.push_back(name);
    }
  }
  for (const std::string& name : kernelSets) {
    if (!wantedSets.count(name)) {
      destroy.push_back(name);
    }
  }
  auto fail = [this](Status st) {
    synced_ = false;
    return st;
  };
  if (!ipsetIn.empty()) {
    stats_.ipsetRestores++;
    stats_.lastIpsetInput = ipsetIn;
    if (auto r = run({"ipset", "-exist", "restore"}, ipsetIn); !r) {
      return fail(r.error());
    }
  }

  // 2. Chains: one restore with only the changed ones.
  std::string decls;
  std::string ruleLines;
  std::vector<std::string> removed;
  for (const auto& [name, rules] : wanted) {
    auto have = chains_.find(name);
    if (have == chains_.end() || have->second != rules) {
      declareAndFill(decls, ruleLines, name, rules);
      stats_.chainsWritten++;
    }
  }
  for (const auto& [name, rules] : chains_) {
    if (!wanted.count(name)) {
      removed.push_back(name);
    }
  }
  for (const std::string& name : kernelChains) {
    if (!wanted.count(name) && !chains_.count(name)) {
      removed.push_back(name);
    }
  }
  for (const std::string& name : removed) {
    decls += ":" + name + " - [0:0]\n"; // flushes it, so nothing it references stays in use
  }
  std::string tableIn = decls + ruleLines;
  for (const std::string& name : removed) {
    tableIn += "-X " + name + "\n";
  }
  for (const auto& [hook, ours] : kHooks) {
    if (!haveJump.count(hook)) {
      tableIn += std::string("-I ") + hook + " 1 -j " + ours + "\n";
    }
  }
  if (!tableIn.empty()) {
    tableIn = "*filter\n" + tableIn + "COMMIT\n";
    stats_.restores++;
    stats_.lastRestoreInput = tableIn;
    if (auto r = run({restore, "--noflush", "--wait"}, tableIn); !r) {
      return fail(r.error());
    }
  }

  // 3. Sets nothing uses any more.
  if (!destroy.empty()) {
    std::string in;
    for (const std::string& name : destroy) {
      in += "destroy " + name + "\n";
    }
    stats_.ipsetRestores++;
    if (auto r = run({"ipset", "-exist", "restore"}, in); !r) {
      return fail(r.error());
    }
  }

  chains_ = std::move(wanted);
  sets_ = std::move(wantedSets);
  synced_ = true;
  return Status();
}

} // namespace caracal::policy
