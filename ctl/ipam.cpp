// caracalctl ipam show / check / release / configure.
#include "ctl/ipam.h"

#include "api/netaddr.h"
#include "api/registry.h"
#include "common/clock.h"
#include "ctl/commands.h"
#include "ipam/ipam.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

namespace caracal::ctl {

namespace {

using U128 = unsigned __int128;

const api::KindInfo& kindOf(const char* apiVersion, const char* kind) {
  return *api::findByKind(apiVersion, kind);
}

U128 netSize(const api::IpNet& n) {
  int hostBits = n.addr.bits() - n.prefix;
  return hostBits >= 128 ? ~U128(0) : U128(1) << hostBits;
}

std::string u128String(U128 v) {
  if (v == 0) {
    return "0";
  }
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}

// "15381 (94%)", rounded as Go's %.0f does.
std::string countWithPercent(U128 n, U128 total) {
  double pct = total == 0 ? 0.0 : 100.0 * static_cast<double>(n) / static_cast<double>(total);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", pct);
  return u128String(n) + " (" + buf + "%)";
}

bool isNumeric(const std::string& s) {
  if (s.empty()) {
    return false;
  }
  size_t i = s[0] == '-' ? 1 : 0;
  bool digits = false;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      digits = true;
    } else if (s[i] == '.' && !dot && digits) {
      dot = true;
    } else {
      return false;
    }
  }
  return digits;
}

// The API client, the IPAM store over it and an Ipam on that store.
struct Connection {
  datastore::RestClient* client = nullptr;
  std::unique_ptr<ipam::Store> store;
  std::unique_ptr<ipam::Ipam> ipam;
};

// The connection, or nullopt after reporting why there is none.
std::optional<Connection> connect(CtlContext& ctx) {
  auto client = ctx.client();
  if (!client) {
    ctx.err() << client.error().message() << "\n";
    return std::nullopt;
  }
  Connection c;
  c.client = *client;
  c.store = ipam::makeRestStore(**client);
  c.ipam = std::make_unique<ipam::Ipam>(*c.store);
  return c;
}

std::string attr(const std::map<std::string, std::string>& attrs, const std::string& k) {
  auto it = attrs.find(k);
  return it == attrs.end() ? "" : it->second;
}

// ---- show ----

int runShowIp(CtlContext& ctx, ipam::Ipam& ipam, const std::string& text) {
  auto ip = api::parseIp(text);
  if (!ip) {
    ctx.err() << "invalid IP address \"" << text << "\"\n";
    return 1;
  }
  auto a = ipam.lookup(*ip);
  if (!a) {
    if (a.code() == Code::NotFound) {
      ctx.out() << ip->str() << " is not assigned\n";
      return 0;
    }
    ctx.err() << "failed to look up " << ip->str() << ": " << a.error().message() << "\n";
    return 1;
  }
  std::ostream& out = ctx.out();
  out << "IP " << ip->str() << " is in use\n";
  out << "Handle ID: " << a->handle << "\n";
  out << "Block: " << a->block.str()
      << (a->blockAffinity.empty() ? "" : " (affinity " + a->blockAffinity + ")") << "\n";
  if (a->attrs.empty()) {
    out << "No attributes defined for " << ip->str() << "\n";
  } else {
    out << "Attributes:\n";
    for (const auto& [k, v] : a->attrs) {
      out << "  " << k << ": " << v << "\n";
    }
  }
  return 0;
}

int runShow(CtlContext& ctx, const IpamOptions& o) {
  auto conn = connect(ctx);
  if (!conn) {
    return 1;
  }
  if (!o.ip.empty()) {
    return runShowIp(ctx, *conn->ipam, o.ip);
  }
  auto u = conn->ipam->usage();
  if (!u) {
    ctx.err() << "failed to read IPAM usage: " << u.error().message() << "\n";
    return 1;
  }
  std::vector<std::vector<std::string>> rows;
  auto row = [&](const char* grouping, const api::IpNet& cidr, U128 total, U128 inUse) {
    U128 free = inUse > total ? 0 : total - inUse;
    rows.push_back({grouping, cidr.str(), u128String(total), countWithPercent(inUse, total),
                    countWithPercent(free, total)});
  };
  std::set<size_t> shown;
  for (const auto& p : u->pools) {
    row("IP Pool", p.cidr, netSize(p.cidr), p.inUse);
    if (!o.showBlocks) {
      continue;
    }
    for (size_t i = 0; i < u->blocks.size(); ++i) {
      const auto& b = u->blocks[i];
      if (b.pool == p.name) {
        row("Block", b.cidr, b.total, b.inUse);
        shown.insert(i);
      }
    }
  }
  if (o.showBlocks) {
    // Blocks left behind by a deleted pool.
    for (size_t i = 0; i < u->blocks.size(); ++i) {
      if (!shown.count(i)) {
        row("Block", u->blocks[i].cidr, u->blocks[i].total, u->blocks[i].inUse);
      }
    }
  }
  ctx.out() << renderBoxTable({"GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"}, rows);
  return 0;
}

// ---- check ----

struct Liveness {
  std::optional<std::vector<std::string>> pods;
  std::optional<std::vector<std::string>> nodes;
};

Liveness loadLiveness(CtlContext& ctx, datastore::RestClient& client) {
  Liveness l;
  std::ostream& out = ctx.out();
  out << "Loading all nodes...\n";
  std::vector<std::string> nodes;
  bool any = false;
  for (const auto& [apiVersion, kind] :
       {std::pair{"v1", "Node"}, std::pair{"projectcalico.org/v3", "Node"}}) {
    auto r = client.list(kindOf(apiVersion, kind), "");
    if (!r) {
      continue;
    }
    any = true;
    for (const auto& n : r->items) {
      nodes.push_back(n.getString("metadata.name"));
    }
  }
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  if (any) {
    out << "Found " << nodes.size() << " nodes.\n";
    l.nodes = std::move(nodes);
  } else {
    out << "Nodes cannot be listed; allocations are not checked against nodes.\n";
  }
  out << "Loading all pods...\n";
  auto pods = client.list(kindOf("v1", "Pod"), "");
  if (pods) {
    std::vector<std::string> names;
    for (const auto& p : pods->items) {
      names.push_back(p.getString("metadata.namespace") + "/" + p.getString("metadata.name"));
    }
    out << "Found " << names.size() << " pods.\n";
    l.pods = std::move(names);
  } else {
    out << "Pods cannot be listed (" << pods.error().message()
        << "); allocations are not checked against pods.\n";
  }
  return l;
}

Value reportJson(const ipam::CheckReport& rep) {
  Value v = Value::object();
  v.set("version", "caracal-ipam-check/v1");
  v.set("checkedAt", nowRfc3339());
  v.set("allocations", Value(int64_t(rep.allocations)));
  v.set("handles", Value(int64_t(rep.handles)));
  v.set("blocks", Value(int64_t(rep.blocks)));
  Value problems = Value::array();
  Value leaked = Value::array();
  for (const auto& p : rep.problems) {
    Value pv = Value::object();
    pv.set("kind", ipam::problemKindName(p.kind));
    if (p.ip) {
      pv.set("ip", p.ip->str());
    }
    if (!p.handle.empty()) {
      pv.set("handle", p.handle);
    }
    pv.set("detail", p.detail);
    problems.push(std::move(pv));
    if (p.kind == ipam::Problem::Kind::LeakedAddress && p.ip) {
      Value lv = Value::object();
      lv.set("ip", p.ip->str());
      lv.set("handle", p.handle);
      leaked.push(std::move(lv));
    }
  }
  v.set("problems", std::move(problems));
  v.set("leakedIPs", std::move(leaked));
  return v;
}

int runCheck(CtlContext& ctx, const IpamOptions& o) {
  auto conn = connect(ctx);
  if (!conn) {
    return 1;
  }
  ipam::Ipam& ipam = *conn->ipam;
  std::ostream& out = ctx.out();
  out << "Checking IPAM for inconsistencies...\n\n";
  Liveness live = loadLiveness(ctx, *conn->client);
  out << "Loading all IPAM blocks, handles and affinities...\n";
  auto rep = ipam.check(live.pods ? &*live.pods : nullptr, live.nodes ? &*live.nodes : nullptr);
  if (!rep) {
    ctx.err() << "failed to check IPAM: " << rep.error().message() << "\n";
    return 1;
  }
  out << "Found " << rep->blocks << " IPAM blocks.\n";
  out << "Found " << rep->handles << " IPAM handles.\n";
  out << "Found " << rep->allocations << " IP allocations.\n\n";

  std::map<ipam::Problem::Kind, size_t> byKind;
  for (const auto& p : rep->problems) {
    ++byKind[p.kind];
  }
  auto n = [&](ipam::Problem::Kind k) { return byKind.count(k) ? byKind[k] : size_t(0); };
  out << "Scanning for problems...\n";
  out << "Found " << n(ipam::Problem::Kind::LeakedAddress)
      << " leaked IPs (allocated, but the handle, pod or node is gone).\n";
  out << "Found " << n(ipam::Problem::Kind::DoubleAssigned) << " IPs allocated more than once.\n";
  out << "Found " << n(ipam::Problem::Kind::HandleMismatch)
      << " handles whose counts disagree with the blocks.\n";
  out << "Found " << n(ipam::Problem::Kind::OrphanAffinity) << " orphaned block affinities.\n";

  constexpr size_t kListed = 10;
  if (!rep->problems.empty()) {
    out << "\nProblems:\n";
    size_t shown = 0;
    for (const auto& p : rep->problems) {
      if (!o.showProblemIps && shown == kListed) {
        out << "  ... " << rep->problems.size() - kListed
            << " more (use --show-problem-ips to list them all)\n";
        break;
      }
      out << "  " << ipam::problemKindName(p.kind) << ": " << p.detail << "\n";
      ++shown;
    }
  }
  if (!o.output.empty()) {
    errno = 0;
    std::ofstream f(o.output);
    int err = f.is_open() ? 0 : errno;
    f << toJson(reportJson(*rep), true) << "\n";
    f.close();
    if (!f) {
      if (err == 0) {
        err = errno;
      }
      ctx.err() << "failed to write the report to " << o.output << ": "
                << (err != 0 ? std::strerror(err) : "write error") << "\n";
      return 1;
    }
    out << "\nReport written to " << o.output << "\n";
  }
  out << "\nCheck complete; found " << rep->problems.size() << " problems.\n";
  return rep->problems.empty() ? 0 : 1;
}

// ---- release ----

// Releases one address; refuses one in use by a live pod unless forced.
bool releaseOne(CtlContext& ctx, ipam::Ipam& ipam, datastore::RestClient& client,
                const api::IpAddr& ip, bool force, const std::string& expectHandle = "") {
  auto a = ipam.lookup(ip);
  if (!a) {
    if (a.code() == Code::NotFound) {
      ctx.err() << "IP address " << ip.str() << " is not assigned\n";
    } else {
      ctx.err() << "failed to look up " << ip.str() << ": " << a.error().message() << "\n";
    }
    return false;
  }
  if (!expectHandle.empty() && a->handle != expectHandle) {
    ctx.err() << "IP address " << ip.str() << " now belongs to handle " << a->handle << ", not "
              << expectHandle << " as in the report; not released\n";
    return false;
  }
  std::string ns = attr(a->attrs, "namespace");
  std::string pod = attr(a->attrs, "pod");
  if (!force && !ns.empty() && !pod.empty()) {
    auto p = client.get(kindOf("v1", "Pod"), ns, pod);
    if (p) {
      ctx.err() << "IP address " << ip.str() << " is in use by pod " << ns << "/" << pod
                << "; not released (use --force to release it anyway)\n";
      return false;
    }
  }
  // The handle seen above is checked again where the address is freed: an address released and
  // handed to another pod since the lookup stays with that pod.
  auto r = ipam.releaseIpsChecked({ipam::ReleaseOptions{ip, a->handle}});
  if (!r) {
    ctx.err() << "failed to release " << ip.str() << ": " << r.error().message() << "\n";
    return false;
  }
  if (!r->handleMismatch.empty()) {
    ctx.err() << "IP address " << ip.str() << " was re-allocated to handle "
              << r->handleMismatch.front().second << " (was " << a->handle
              << ") while being released; not released\n";
    return false;
  }
  if (!r->notAllocated.empty()) {
    ctx.err() << "IP address " << ip.str() << " is not assigned\n";
    return false;
  }
  ctx.out() << "Successfully released IP address " << ip.str() << "\n";
  return true;
}

int runRelease(CtlContext& ctx, const IpamOptions& o) {
  if (o.releaseIps.empty() == o.fromReport.empty()) {
    ctx.err() << "ipam release needs --ip=X or --from-report=FILE (not both)\n";
    return 1;
  }
  // Parse everything before touching anything.
  struct Target {
    api::IpAddr ip;
    std::string handle; // from a report: release only if still this handle's
  };
  std::vector<Target> targets;
  for (const auto& text : o.releaseIps) {
    auto ip = api::parseIp(text);
    if (!ip) {
      ctx.err() << "invalid IP address \"" << text << "\"\n";
      return 1;
    }
    targets.push_back({*ip, ""});
  }
  if (!o.fromReport.empty()) {
    std::ifstream in(o.fromReport);
    std::stringstream ss;
    ss << in.rdbuf();
    auto report = parseJson(ss.str());
    if (!in || !report || !report->isObject()) {
      ctx.err() << "cannot read the report " << o.fromReport
                << (report ? "" : ": " + report.error().message()) << "\n";
      return 1;
    }
    if (const Value* leaked = report->find("leakedIPs"); leaked && leaked->isArray()) {
      size_t index = 0;
      for (const auto& l : leaked->asArray()) {
        std::string text = l.isObject() ? l.getString("ip") : "";
        auto ip = api::parseIp(text);
        if (!ip) {
          ctx.err() << "the report " << o.fromReport << " has an invalid entry leakedIPs[" << index
                    << "]: " << toJson(l) << " (no valid \"ip\")\n";
          return 1;
        }
        targets.push_back({*ip, l.getString("handle")});
        ++index;
      }
    }
    if (targets.empty()) {
      ctx.out() << "The report lists no leaked IPs; nothing to release.\n";
      return 0;
    }
  }
  auto conn = connect(ctx);
  if (!conn) {
    return 1;
  }
  ipam::Ipam& ipam = *conn->ipam;
  bool ok = true;
  for (const auto& t : targets) {
    // A report entry is released only while it still belongs to the handle the report named
    // (not re-allocated since), and, without --force, not while its pod exists.
    ok = releaseOne(ctx, ipam, *conn->client, t.ip, o.force, t.handle) && ok;
  }
  return ok ? 0 : 1;
}

// ---- configure ----

int runConfigure(CtlContext& ctx, const IpamOptions& o) {
  std::optional<bool> strict;
  if (!o.strictAffinity.empty()) {
    if (o.strictAffinity == "true") {
      strict = true;
    } else if (o.strictAffinity == "false") {
      strict = false;
    } else {
      ctx.err() << "invalid value for --strictaffinity: \"" << o.strictAffinity
                << "\" (allowed: true, false)\n";
      return 1;
    }
  }
  if (o.maxBlocksPerHost && *o.maxBlocksPerHost < 0) {
    ctx.err() << "--max-blocks-per-host must not be negative\n";
    return 1;
  }
  if (!strict && !o.maxBlocksPerHost) {
    ctx.err() << "ipam configure needs --strictaffinity or --max-blocks-per-host\n";
    return 1;
  }
  auto client = ctx.client();
  if (!client) {
    ctx.err() << client.error().message() << "\n";
    return 1;
  }
  const api::KindInfo& kind = kindOf("projectcalico.org/v3", "IPAMConfiguration");
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = (*client)->get(kind, "", "default");
    Value obj;
    if (got) {
      obj = std::move(got).value();
    } else if (got.code() == Code::NotFound) {
      obj = Value::object();
      obj.set("apiVersion", "projectcalico.org/v3");
      obj.set("kind", "IPAMConfiguration");
      obj["metadata"].set("name", "default");
      obj.set("spec", Value::object());
    } else {
      ctx.err() << "failed to read the IPAM configuration: " << got.error().message() << "\n";
      return 1;
    }
    if (strict) {
      obj["spec"].set("strictAffinity", *strict);
    }
    if (o.maxBlocksPerHost) {
      obj["spec"].set("maxBlocksPerHost", *o.maxBlocksPerHost);
    }
    auto r = got ? (*client)->update(kind, obj) : (*client)->create(kind, obj);
    if (r) {
      if (strict) {
        ctx.out() << "Successfully set StrictAffinity to: " << (*strict ? "true" : "false") << "\n";
      }
      if (o.maxBlocksPerHost) {
        ctx.out() << "Successfully set MaxBlocksPerHost to: " << *o.maxBlocksPerHost << "\n";
      }
      return 0;
    }
    last = r.error();
    if (r.code() != Code::Conflict && r.code() != Code::AlreadyExists) {
      break;
    }
    ctx.sleep(std::chrono::milliseconds(100));
  }
  ctx.err() << "failed to update the IPAM configuration: " << last.message() << "\n";
  return 1;
}

} // namespace

std::string renderBoxTable(const std::vector<std::string>& headers,
                           const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(headers.size(), 0);
  for (size_t i = 0; i < headers.size(); ++i) {
    widths[i] = headers[i].size();
  }
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], r[i].size());
    }
  }
  std::string border = "+";
  for (size_t w : widths) {
    border += std::string(w + 2, '-') + "+";
  }
  border += "\n";
  std::string out = border + "|";
  for (size_t i = 0; i < headers.size(); ++i) {
    size_t pad = widths[i] - headers[i].size();
    out += " " + std::string(pad / 2, ' ') + headers[i] + std::string(pad - pad / 2, ' ') + " |";
  }
  out += "\n" + border;
  for (const auto& r : rows) {
    out += "|";
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < r.size() ? r[i] : "";
      std::string fill(widths[i] - cell.size(), ' ');
      out += " " + (isNumeric(cell) ? fill + cell : cell + fill) + " |";
    }
    out += "\n";
  }
  out += border;
  return out;
}

void addIpamCommand(CLI::App& app, IpamCommand& cmd) {
  IpamOptions& o = cmd.opts;
  cmd.ipam = app.add_subcommand("ipam", "IP address management: show, check, release, configure");
  cmd.ipam->require_subcommand(1);

  cmd.show = cmd.ipam->add_subcommand("show", "Show IP pool and block utilization, or one IP");
  cmd.show->add_flag("--show-blocks", o.showBlocks, "Show blocks as well as pools");
  cmd.show->add_option("--ip", o.ip, "Report whether this IP address is in use, and by what");

  cmd.check = cmd.ipam->add_subcommand("check", "Check IPAM data for leaks and inconsistencies");
  cmd.check->add_flag("--show-problem-ips", o.showProblemIps, "List every problem found");
  cmd.check->add_option("-o,--output", o.output, "Write a JSON report to this file");

  cmd.release = cmd.ipam->add_subcommand("release", "Release IP addresses from IPAM");
  cmd.release->add_option("--ip", o.releaseIps, "An IP address to release (repeatable)");
  cmd.release->add_option("--from-report", o.fromReport,
                          "Release the leaked IPs listed in a report of `ipam check -o`");
  cmd.release->add_flag("--force", o.force, "Release even an address of a pod that still exists");

  cmd.configure = cmd.ipam->add_subcommand("configure", "Change the IPAM configuration");
  cmd.configure->add_option("--strictaffinity", o.strictAffinity,
                            "true: never borrow addresses from other nodes' blocks");
  cmd.configure->add_option("--max-blocks-per-host", o.maxBlocksPerHost,
                            "Blocks a node may claim (0: the default, 20)");
}

bool ipamParsed(const IpamCommand& cmd) { return cmd.ipam && cmd.ipam->parsed(); }

int runIpam(CtlContext& ctx, const IpamCommand& cmd) {
  if (cmd.show->parsed()) {
    return runShow(ctx, cmd.opts);
  }
  if (cmd.check->parsed()) {
    return runCheck(ctx, cmd.opts);
  }
  if (cmd.release->parsed()) {
    return runRelease(ctx, cmd.opts);
  }
  if (cmd.configure->parsed()) {
    return runConfigure(ctx, cmd.opts);
  }
  ctx.err() << "ipam needs a subcommand: show, check, release or configure\n";
  return 1;
}

} // namespace caracal::ctl
