#include "felix/node_setup.h"

#include "felix/route_calc.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

namespace caracal::felix {

namespace {

constexpr int kMaxCasAttempts = 20;

std::string macText(const netlink::Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

bool inAny(const api::IpAddr& ip, const std::vector<api::IpNet>& nets) {
  for (const api::IpNet& n : nets) {
    if (n.contains(ip)) {
      return true;
    }
  }
  return false;
}

// Decides the tunnel address of one kind for `node` and allocates it when needed; returns the
// address to record (nullopt: none).
struct TunnelKind {
  std::string handle;
  std::string type; // the allocation's "type" attribute, as Calico records it
  const std::vector<std::string>* pools;
  const std::vector<api::IpNet>* cidrs;
};

Result<std::optional<api::IpAddr>> decideAddress(ipam::Ipam& ipam, const std::string& node,
                                                 const Value& nodeObj,
                                                 std::optional<api::IpAddr> current,
                                                 const TunnelKind& tk) {
  auto held = ipam.ipsByHandle(tk.handle);
  std::vector<api::IpAddr> mine;
  if (held) {
    mine = *held;
  } else if (held.code() != Code::NotFound) {
    return held.error();
  }
  auto holds = [&](const api::IpAddr& a) {
    return std::find(mine.begin(), mine.end(), a) != mine.end();
  };
  // Keeping `current`: whatever else the handle holds (an allocation whose Node write was lost)
  // is released, so tunnel addresses never leak.
  auto keep = [&](const api::IpAddr& cur) -> Result<std::optional<api::IpAddr>> {
    std::vector<api::IpAddr> others;
    for (const api::IpAddr& a : mine) {
      if (!(a == cur)) {
        others.push_back(a);
      }
    }
    if (!others.empty()) {
      RETURN_IF_ERROR(ipam.releaseIps(others).status().withContext("releasing extra " + tk.handle));
    }
    return std::optional<api::IpAddr>(cur);
  };
  if (current && inAny(*current, *tk.cidrs)) {
    if (holds(*current)) {
      return keep(*current);
    }
    ipam::AssignArgs args;
    args.handle = tk.handle;
    args.node = node;
    args.attrs = {{"node", node}, {"type", tk.type}};
    args.use = "Tunnel";
    if (ipam.assignIp(*current, args).isOk()) {
      return keep(*current); // recorded but not allocated (e.g. restored Node): claimed again
    }
  }
  // An address the handle already holds in a suitable pool (an earlier run that died before
  // writing the Node) is reused; anything else the handle holds is released.
  for (const api::IpAddr& a : mine) {
    if (inAny(a, *tk.cidrs) && mine.size() == 1) {
      return std::optional<api::IpAddr>(a);
    }
  }
  if (!mine.empty()) {
    RETURN_IF_ERROR(ipam.releaseByHandle(tk.handle));
  }
  ipam::AssignArgs args;
  args.handle = tk.handle;
  args.node = node;
  args.attrs = {{"node", node}, {"type", tk.type}};
  args.num4 = 1;
  args.num6 = 0;
  args.pools4 = *tk.pools;
  args.use = "Tunnel";
  args.nodeLabels = ipam::labelsOf(nodeObj);
  ASSIGN_OR_RETURN(std::vector<api::IpNet> got, ipam.autoAssign(args));
  if (got.empty()) {
    return Status(Code::Unavailable, "no tunnel address available for " + tk.handle);
  }
  return std::optional<api::IpAddr>(got[0].addr);
}

} // namespace

const api::KindInfo& calicoNodeKind() {
  static const api::KindInfo* k = api::findByKind("projectcalico.org/v3", "Node");
  return *k;
}

const api::KindInfo& ipPoolKind() {
  static const api::KindInfo* k = api::findByKind("projectcalico.org/v3", "IPPool");
  return *k;
}

Result<Value> registerNode(ipam::Store& store, const std::string& node, const api::IpNet& ipv4) {
  const api::KindInfo& kind = calicoNodeKind();
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    auto cur = store.get(kind, "", node);
    if (!cur && cur.code() != Code::NotFound) {
      return cur.error().withContext("reading Node " + node);
    }
    if (!cur) {
      Value obj = Value::object();
      obj["apiVersion"] = kind.apiVersion();
      obj["kind"] = kind.kind;
      obj["metadata"]["name"] = node;
      obj["spec"]["bgp"]["ipv4Address"] = ipv4.str();
      Value ref = Value::object();
      ref["nodeName"] = node;
      ref["orchestrator"] = "k8s";
      Value refs = Value::array();
      refs.push(ref);
      obj["spec"]["orchRefs"] = refs;
      auto created = store.create(kind, obj);
      if (created.code() == Code::AlreadyExists) {
        continue;
      }
      if (!created) {
        return created.error().withContext("creating Node " + node);
      }
      return created;
    }
    Value obj = *cur;
    bool changed = false;
    if (obj.getString("spec.bgp.ipv4Address") != ipv4.str()) {
      obj["spec"]["bgp"]["ipv4Address"] = ipv4.str();
      changed = true;
    }
    bool hasRef = false;
    if (const Value* refs = obj.path("spec.orchRefs"); refs && refs->isArray()) {
      for (const Value& r : refs->asArray()) {
        hasRef =
            hasRef || (r.getString("nodeName") == node && r.getString("orchestrator") == "k8s");
      }
    }
    if (!hasRef) {
      Value ref = Value::object();
      ref["nodeName"] = node;
      ref["orchestrator"] = "k8s";
      obj["spec"]["orchRefs"].push(ref);
      changed = true;
    }
    if (!changed) {
      return obj;
    }
    auto updated = store.update(kind, obj);
    if (updated.code() == Code::Conflict) {
      continue;
    }
    if (!updated) {
      return updated.error().withContext("updating Node " + node);
    }
    return updated;
  }
  return Status(Code::Conflict, "updating Node " + node + ": too many concurrent changes");
}

TunnelNeeds tunnelNeedsFromPools(const std::vector<Value>& pools) {
  TunnelNeeds n;
  std::vector<const Value*> sorted;
  for (const Value& p : pools) {
    sorted.push_back(&p);
  }
  std::sort(sorted.begin(), sorted.end(), [](const Value* a, const Value* b) {
    return a->getString("metadata.name") < b->getString("metadata.name");
  });
  for (const Value* p : sorted) {
    const Value* dis = p->path("spec.disabled");
    if (dis && dis->asBool()) {
      continue;
    }
    auto cidr = api::parseCidr(p->getString("spec.cidr"));
    if (!cidr || cidr->addr.family != 4) {
      continue;
    }
    std::string name = p->getString("metadata.name");
    if (parseEncapMode(p->getString("spec.vxlanMode")) != EncapMode::Never) {
      n.vxlan = true;
      n.vxlanPools.push_back(name);
      n.vxlanCidrs.push_back(cidr->masked());
    } else if (parseEncapMode(p->getString("spec.ipipMode")) != EncapMode::Never) {
      n.ipip = true;
      n.ipipPools.push_back(name);
      n.ipipCidrs.push_back(cidr->masked());
    }
  }
  return n;
}

Result<Value> ensureTunnelAddresses(ipam::Store& store, ipam::Ipam& ipam, const std::string& node,
                                    const TunnelNeeds& needs) {
  const api::KindInfo& kind = calicoNodeKind();
  const TunnelKind vx{ipam::vxlanTunnelHandle(node), "vxlanTunnelAddress", &needs.vxlanPools,
                      &needs.vxlanCidrs};
  const TunnelKind ip{ipam::ipipTunnelHandle(node), "ipipTunnelAddress", &needs.ipipPools,
                      &needs.ipipCidrs};
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    ASSIGN_OR_RETURN(Value obj, store.get(kind, "", node));
    Value want = obj;
    Value& spec = want["spec"];

    // VXLAN.
    auto curVx = api::parseIp(obj.getString("spec.ipv4VXLANTunnelAddr"));
    if (needs.vxlan) {
      ASSIGN_OR_RETURN(auto addr, decideAddress(ipam, node, obj, curVx, vx));
      spec["ipv4VXLANTunnelAddr"] = addr->str();
      if (obj.getString("spec.vxlanTunnelMACAddr").empty()) {
        spec["vxlanTunnelMACAddr"] = macText(vtepMacForNode(node));
      }
    } else {
      if (curVx || spec.has("vxlanTunnelMACAddr")) {
        spec.erase("ipv4VXLANTunnelAddr");
        spec.erase("vxlanTunnelMACAddr");
      }
      RETURN_IF_ERROR(ipam.releaseByHandle(vx.handle));
    }

    // IPIP.
    auto curIp = api::parseIp(obj.getString("spec.bgp.ipv4IPIPTunnelAddr"));
    if (needs.ipip) {
      ASSIGN_OR_RETURN(auto addr, decideAddress(ipam, node, obj, curIp, ip));
      spec["bgp"]["ipv4IPIPTunnelAddr"] = addr->str();
    } else {
      if (Value* bgp = spec.find("bgp"); bgp && bgp->has("ipv4IPIPTunnelAddr")) {
        bgp->erase("ipv4IPIPTunnelAddr");
      }
      RETURN_IF_ERROR(ipam.releaseByHandle(ip.handle));
    }

    if (want == obj) {
      return obj;
    }
    auto updated = store.update(kind, want);
    if (updated.code() == Code::Conflict) {
      continue; // the allocations stay with their handles and are found again
    }
    if (!updated) {
      return updated.error().withContext("recording tunnel addresses on Node " + node);
    }
    return updated;
  }
  return Status(Code::Conflict, "updating Node " + node + ": too many concurrent changes");
}

Status writeMtuFile(const std::string& path, uint32_t mtu) {
  std::string text = std::to_string(mtu) + "\n";
  {
    std::ifstream in(path);
    std::string cur((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in && cur == text) {
      return {};
    }
  }
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::filesystem::create_directories(p.parent_path(), ec);
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return Status(Code::Internal, "writing " + tmp);
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status(Code::Internal, "renaming " + tmp + " to " + path + ": " + ec.message());
  }
  return {};
}

} // namespace caracal::felix
