#include "policy/ipt_table.h"

#include "common/strings.h"
#include "common/subprocess.h"
#include "policy/ipt_render.h"

#include <set>
#include <sstream>

namespace caracal::policy {

namespace {

constexpr const char* kFilter = "filter";
constexpr const char* kRaw = "raw";
constexpr const char* kMangle = "mangle";
constexpr const char* kTables[] = {kFilter, kRaw, kMangle};

constexpr const char* kForward = "cali-FORWARD";
constexpr const char* kFromDispatch = "cali-from-wl-dispatch";
constexpr const char* kToDispatch = "cali-to-wl-dispatch";
constexpr const char* kInput = "cali-INPUT";
constexpr const char* kOutput = "cali-OUTPUT";
constexpr const char* kPrerouting = "cali-PREROUTING";
constexpr const char* kFromHostDispatch = "cali-from-host-endpoint";
constexpr const char* kToHostDispatch = "cali-to-host-endpoint";
constexpr const char* kFromHostForwardDispatch = "cali-from-hep-forward";
constexpr const char* kToHostForwardDispatch = "cali-to-hep-forward";

struct Hook {
  const char* table;
  const char* builtin;
  const char* ours;
};
// The built-in chains and the jump each gets to ours.
constexpr Hook kHooks[] = {
    {kFilter, "FORWARD", kForward}, {kFilter, "INPUT", kInput},
    {kFilter, "OUTPUT", kOutput},   {kRaw, "PREROUTING", kPrerouting},
    {kRaw, "OUTPUT", kOutput},      {kMangle, "PREROUTING", kPrerouting},
};
// A chain whose presence says the table holds our state (createIfMissing).
const char* topChain(const std::string& table) { return table == kFilter ? kForward : kPrerouting; }

std::string acceptBitSet() {
  return "-m mark --mark " + hexValue(kMarkAccept) + "/" + hexValue(kMarkAccept);
}
std::string acceptBitClear() { return "-m mark --mark 0x0/" + hexValue(kMarkAccept); }

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

using Chains = IptPolicyTable::Chains;

// What a full sync reads back from one table.
struct KernelTable {
  std::set<std::string> chains; // our (cali-) chains
  std::set<std::string> hooked; // built-in chains that jump to ours
};
using KernelTables = std::map<std::string, KernelTable>;

// `iptables-save` output (every table) -> our chains and jumps in the tables this writer owns.
KernelTables parseSave(const std::string& saved) {
  KernelTables out;
  std::istringstream in(saved);
  std::string line;
  std::string table;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '*') {
      table = line.substr(1);
      continue;
    }
    if (line.rfind(":cali-", 0) == 0) {
      out[table].chains.insert(line.substr(1, line.find(' ') - 1));
    }
    for (const Hook& h : kHooks) {
      if (table == h.table && line == std::string("-A ") + h.builtin + " -j " + h.ours) {
        out[table].hooked.insert(h.builtin);
      }
    }
  }
  return out;
}

// The restore section ("*<table>\n…COMMIT\n", or "" when nothing is to be done) that turns
// `have` (what we last wrote) plus `kernel` (our chains found in the kernel) into `wanted`, with
// the jumps from the built-in chains not in `hooked`. New and changed chains are declared (under
// --noflush that flushes them) and refilled, unwanted ones flushed and deleted. Declarations
// come first: a rule may jump to a chain declared after its own.
std::string tableSection(const std::string& table, const Chains& wanted, const Chains& have,
                         const std::set<std::string>& kernel, const std::set<std::string>& hooked,
                         uint64_t* chainsWritten) {
  std::string decls;
  std::string rules;
  std::vector<std::string> removed;
  for (const auto& [name, chainRules] : wanted) {
    auto h = have.find(name);
    if (h != have.end() && h->second == chainRules) {
      continue;
    }
    decls += ":" + name + " - [0:0]\n";
    for (const std::string& r : chainRules) {
      rules += "-A " + name + " " + r + "\n";
    }
    if (chainsWritten != nullptr) {
      ++*chainsWritten;
    }
  }
  for (const auto& [name, chainRules] : have) {
    if (!wanted.count(name)) {
      removed.push_back(name);
    }
  }
  for (const std::string& name : kernel) {
    if (!wanted.count(name) && !have.count(name)) {
      removed.push_back(name);
    }
  }
  for (const std::string& name : removed) {
    decls += ":" + name + " - [0:0]\n"; // flushes it, so nothing it references stays in use
  }
  std::string body = decls + rules;
  for (const std::string& name : removed) {
    body += "-X " + name + "\n";
  }
  for (const Hook& h : kHooks) {
    if (table == h.table && !hooked.count(h.builtin)) {
      body += std::string("-I ") + h.builtin + " 1 -j " + h.ours + "\n";
    }
  }
  if (body.empty()) {
    return "";
  }
  return "*" + table + "\n" + body + "COMMIT\n";
}

} // namespace

IptPolicyTable::IptPolicyTable(Options options) : options_(std::move(options)) {}

IptPolicyTable::Chains IptPolicyTable::renderChains(const Dataplane& desired, int ipVersion) {
  return std::move(renderTables(desired, ipVersion)[kFilter]);
}

std::map<std::string, IptPolicyTable::Chains> IptPolicyTable::renderTables(const Dataplane& desired,
                                                                           int ipVersion) {
  std::map<std::string, Chains> tables;
  Chains& filter = tables[kFilter];
  Chains& raw = tables[kRaw];
  Chains& mangle = tables[kMangle];

  // Which table uses which policy chain: early chains' jumps in raw (untracked) and mangle
  // (preDNAT), the ordinary ones in filter.
  std::set<std::string> usedRaw;
  std::set<std::string> usedMangle;
  std::set<std::string> usedFilter;
  for (const auto& [key, spec] : desired.endpointChains) {
    if (spec.early() && spec.hook == HostHook::PreDnat && spec.direction != Direction::Ingress) {
      continue; // refused by apply()
    }
    std::set<std::string>& used =
        !spec.early() ? usedFilter : (spec.hook == HostHook::Untracked ? usedRaw : usedMangle);
    for (const auto& tier : spec.tiers) {
      for (const auto& id : tier.policyIds) {
        used.insert(iptPolicyChainName(id, spec.direction));
      }
    }
  }
  for (const auto& [key, chain] : desired.policyChains) {
    IptChain c = renderIptPolicyChain(chain, ipVersion);
    const bool inRaw = usedRaw.count(c.name) > 0;
    const bool inMangle = usedMangle.count(c.name) > 0;
    if (inRaw) {
      raw[c.name] = c.rules;
    }
    if (inMangle) {
      mangle[c.name] = c.rules;
    }
    if ((!inRaw && !inMangle) || usedFilter.count(c.name)) {
      filter[c.name] = std::move(c.rules);
    }
  }

  std::vector<std::string>& from = filter[kFromDispatch];
  std::vector<std::string>& to = filter[kToDispatch];
  std::vector<std::string>& fromHost = filter[kFromHostDispatch];
  std::vector<std::string>& toHost = filter[kToHostDispatch];
  std::vector<std::string>& fromHostFwd = filter[kFromHostForwardDispatch];
  std::vector<std::string>& toHostFwd = filter[kToHostForwardDispatch];
  std::vector<std::string>& fromHostRaw = raw[kFromHostDispatch];
  std::vector<std::string>& toHostRaw = raw[kToHostDispatch];
  std::vector<std::string>& fromHostMangle = mangle[kFromHostDispatch];
  for (const auto& [key, spec] : desired.endpointChains) {
    const bool in = spec.direction == Direction::Ingress;
    if (spec.host && spec.hook == HostHook::PreDnat && !in) {
      continue;
    }
    IptChain c = renderIptEndpointChain(spec, ipVersion);
    const std::string ifMatch = (in ? "-i " : "-o ") + spec.interfaceName + " -g " + c.name;
    Chains* table = &filter;
    if (!spec.host) {
      // Workloads: Egress is traffic from the pod (arriving on its interface).
      (in ? to : from).push_back((in ? "-o " : "-i ") + spec.interfaceName + " -g " + c.name);
    } else {
      // Ingress: arriving on the interface; Egress: leaving by it.
      switch (spec.hook) {
      case HostHook::Local:
        (in ? fromHost : toHost).push_back(ifMatch);
        break;
      case HostHook::Forward:
        (in ? fromHostFwd : toHostFwd).push_back(ifMatch);
        break;
      case HostHook::PreDnat:
        fromHostMangle.push_back(ifMatch);
        table = &mangle;
        break;
      case HostHook::Untracked:
        (in ? fromHostRaw : toHostRaw).push_back(ifMatch);
        table = &raw;
        break;
      }
    }
    (*table)[c.name] = std::move(c.rules);
  }
  from.push_back("-m comment --comment \"unknown endpoint\" -j DROP");
  to.push_back("-m comment --comment \"unknown endpoint\" -j DROP");

  const std::string tunnelVxlan = "-p udp -m udp --dport 4789 -j ACCEPT";
  const std::string tunnelIpip = "-p 4 -j ACCEPT";
  const std::string established = "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
  const std::string earlyAllowed =
      acceptBitSet() + " -m comment --comment \"allowed by preDNAT or untracked policy\" -j ACCEPT";
  // Host traffic on interfaces without a host endpoint falls through (accepted). The tunnels
  // between nodes pass before host endpoint policy (what they carry meets the workloads' chains
  // once decapsulated).
  auto hostBase = [&](const char* dispatch) {
    return std::vector<std::string>{
        established,
        tunnelVxlan,
        tunnelIpip,
        earlyAllowed,
        std::string("-j ") + dispatch,
        acceptBitSet() + " -m comment --comment \"host endpoint policy allowed\" -j ACCEPT",
    };
  };
  filter[kInput] = hostBase(kFromHostDispatch);
  filter[kOutput] = hostBase(kToHostDispatch);
  filter[kForward] = {
      established,
      acceptBitClear() + " -j " + kFromHostForwardDispatch,
      std::string("-i cali+ -j ") + kFromDispatch,
      std::string("-o cali+ -j ") + kToDispatch,
      std::string("-j ") + kToHostForwardDispatch,
      "-i cali+ -m comment --comment \"endpoint policy allowed\" -j ACCEPT",
      "-o cali+ -m comment --comment \"endpoint policy allowed\" -j ACCEPT",
  };

  // Untracked policy: what it allows is not tracked and skips the rest of host endpoint policy.
  auto rawBase = [&](const char* dispatch) {
    return std::vector<std::string>{
        "-j MARK --set-xmark 0x0/" +
            hexValue(kMarkAccept | kMarkPass | kMarkDrop | kMarkScratch0 | kMarkScratch1),
        tunnelVxlan,
        tunnelIpip,
        std::string("-j ") + dispatch,
        acceptBitSet() + " -j CT --notrack",
        acceptBitSet() + " -m comment --comment \"untracked policy allowed\" -j ACCEPT",
    };
  };
  raw[kPrerouting] = rawBase(kFromHostDispatch);
  raw[kOutput] = rawBase(kToHostDispatch);

  // PreDNAT policy: sees the packet's original destination.
  mangle[kPrerouting] = {
      established,
      tunnelVxlan,
      tunnelIpip,
      earlyAllowed,
      std::string("-j ") + kFromHostDispatch,
      acceptBitSet() + " -m comment --comment \"preDNAT policy allowed\" -j ACCEPT",
  };
  return tables;
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
  const std::string restore = options_.ipVersion == 6 ? "ip6tables-restore" : "iptables-restore";
  ASSIGN_OR_RETURN(std::string saved, run({save}, ""));
  KernelTables kernel = parseSave(saved);
  std::map<std::string, Chains> empty = renderTables(Dataplane{}, options_.ipVersion);
  std::string in;
  for (const char* table : kTables) {
    const KernelTable& k = kernel[table];
    if (k.chains.count(topChain(table))) {
      continue;
    }
    // Chains of ours left without their top chain are flushed and refilled, not removed: the
    // next apply() is a full sync anyway.
    in += tableSection(table, empty[table], {}, {}, k.hooked, nullptr);
  }
  if (in.empty()) {
    return {};
  }
  stats_.restores++;
  stats_.lastRestoreInput = in;
  synced_ = false;
  return run({restore, "--noflush", "--wait"}, in).status();
}

Status IptPolicyTable::apply(const Dataplane& desired) {
  for (const auto& [key, spec] : desired.endpointChains) {
    if (spec.host && spec.hook == HostHook::PreDnat && spec.direction != Direction::Ingress) {
      return Status(Code::Invalid,
                    "endpoint chain " + key + ": a preDNAT chain filters ingress only");
    }
  }
  stats_.applies++;
  const int v = options_.ipVersion;
  const std::string restore = v == 6 ? "ip6tables-restore" : "iptables-restore";
  const std::string save = v == 6 ? "ip6tables-save" : "iptables-save";
  const char* family = v == 6 ? "inet6" : "inet";

  std::map<std::string, Chains> wanted = renderTables(desired, v);
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
  KernelTables kernel;
  std::set<std::string> kernelSets;
  if (!full) {
    for (const Hook& h : kHooks) {
      kernel[h.table].hooked.insert(h.builtin);
    }
  } else {
    stats_.fullSyncs++;
    ASSIGN_OR_RETURN(std::string saved, run({save}, ""));
    kernel = parseSave(saved);
    ASSIGN_OR_RETURN(std::string names, run({"ipset", "list", "-n"}, ""));
    std::istringstream ns(names);
    std::string line;
    while (std::getline(ns, line)) {
      if (isOurSet(trim(line), v)) {
        kernelSets.insert(trim(line));
      }
    }
    tables_.clear();
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

  // 2. Chains: one restore with only the changed ones, a section per table.
  std::string tableIn;
  for (const char* table : kTables) {
    const KernelTable& k = kernel[table];
    tableIn += tableSection(table, wanted[table], tables_[table], k.chains, k.hooked,
                            &stats_.chainsWritten);
  }
  if (!tableIn.empty()) {
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

  tables_ = std::move(wanted);
  sets_ = std::move(wantedSets);
  synced_ = true;
  return Status();
}

} // namespace caracal::policy
