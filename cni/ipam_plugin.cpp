#include "cni/ipam_plugin.h"

#include "cni/api.h"
#include "cni/naming.h"
#include "cni/run.h"
#include "common/strings.h"
#include "datastore/rest_client.h"

#include <chrono>
#include <ctime>

namespace caracal::cni {

namespace {

std::string utcNow() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::map<std::string, std::string> labelsOf(const Value& obj) {
  std::map<std::string, std::string> out;
  const Value* labels = obj.path("metadata.labels");
  if (labels && labels->isObject()) {
    for (const auto& [k, v] : labels->asObject()) {
      if (v.isString()) {
        out[k] = v.asString();
      }
    }
  }
  return out;
}

std::string annotationOf(const Value& obj, const char* key) {
  const Value* ann = obj.path("metadata.annotations");
  const Value* v = ann ? ann->find(key) : nullptr;
  return v && v->isString() ? v->asString() : "";
}

std::string joinAddrs(const std::vector<IpAddr>& ips) {
  std::vector<std::string> parts;
  for (const auto& ip : ips) {
    parts.push_back(ip.str());
  }
  return join(parts, ", ");
}

CniResult resultFor(const std::vector<IpAddr>& ips) {
  CniResult r;
  for (const auto& ip : ips) {
    IpConfig c;
    c.address = IpNet{ip, ip.bits()};
    r.ips.push_back(c);
  }
  return r;
}

} // namespace

Result<std::vector<std::string>> parseAnnotationList(std::string_view annotation,
                                                     std::string_view value) {
  auto doc = parseJson(value);
  if (!doc || !doc->isArray()) {
    return Status(Code::Invalid, "annotation " + std::string(annotation) +
                                     " must be a JSON list of strings, e.g. [\"pool-a\"], got " +
                                     jsonQuote(value));
  }
  std::vector<std::string> out;
  for (const auto& item : doc->asArray()) {
    if (!item.isString() || item.asString().empty()) {
      return Status(Code::Invalid, "annotation " + std::string(annotation) +
                                       " must list non-empty strings, got " + jsonQuote(value));
    }
    out.push_back(item.asString());
  }
  return out;
}

IpamPlugin::IpamPlugin(ipam::Store& store, Logger& log, std::function<std::string()> now)
    : store_(store), ipam_(store), log_(log), now_(now ? std::move(now) : utcNow) {}

Outcome<CniResult> IpamPlugin::add(const Invocation& inv) {
  const auto& env = inv.env;
  const auto& args = inv.args;
  const Kinds& k = kinds();
  const std::string handle = ipamHandle(inv.conf.name, env.containerId);

  // A retried ADD gets what the first one allocated.
  auto existing = ipam_.ipsByHandle(handle);
  if (existing && !existing->empty()) {
    log_.info("handle " + handle + " already holds " + joinAddrs(*existing) + "; reusing");
    return resultFor(*existing);
  }
  if (!existing && existing.code() != Code::NotFound) {
    return errorFromStatus(kErrDatastore, "cannot read IPAM handle " + handle, existing.error());
  }

  ipam::AssignArgs a;
  a.handle = handle;
  a.node = inv.node;
  a.attrs["node"] = inv.node;
  a.attrs["timestamp"] = now_();
  a.num4 = inv.conf.ipam.assignIpv4 ? 1 : 0;
  a.num6 = inv.conf.ipam.assignIpv6 ? 1 : 0;
  a.pools4 = inv.conf.ipam.ipv4Pools;
  a.pools6 = inv.conf.ipam.ipv6Pools;

  std::vector<std::string> requestedIps;
  if (args.isKubernetes()) {
    a.attrs["namespace"] = args.podNamespace;
    a.attrs["pod"] = args.podName;
    auto pod = store_.get(*k.pod, args.podNamespace, args.podName);
    if (!pod) {
      if (pod.code() == Code::NotFound) {
        return Error{kErrPod, "pod " + args.podNamespace + "/" + args.podName + " not found",
                     pod.error().message()};
      }
      return errorFromStatus(kErrDatastore, "cannot read pod", pod.error());
    }
    Value nsObj;
    auto ns = store_.get(*k.ns, "", args.podNamespace);
    if (ns) {
      nsObj = std::move(ns).value();
      a.namespaceLabels = labelsOf(nsObj);
    } else if (ns.code() != Code::NotFound) {
      return errorFromStatus(kErrDatastore, "cannot read namespace " + args.podNamespace,
                             ns.error());
    }
    // Pools: the pod's annotation, else the namespace's, else the configuration's.
    for (auto [key, target] :
         {std::pair{kAnnotationIpv4Pools, &a.pools4}, std::pair{kAnnotationIpv6Pools, &a.pools6}}) {
      std::string where = "pod";
      std::string value = annotationOf(*pod, key);
      if (value.empty()) {
        where = "namespace";
        value = annotationOf(nsObj, key);
      }
      if (value.empty()) {
        continue;
      }
      auto list = parseAnnotationList(key, value);
      if (!list) {
        return Error{kErrIpam, "bad " + where + " annotation " + std::string(key),
                     list.error().message()};
      }
      *target = *list;
    }
    std::string addrs = annotationOf(*pod, kAnnotationIpAddrs);
    if (!addrs.empty()) {
      auto list = parseAnnotationList(kAnnotationIpAddrs, addrs);
      if (!list) {
        return Error{kErrIpam, std::string("bad pod annotation ") + kAnnotationIpAddrs,
                     list.error().message()};
      }
      requestedIps = *list;
    }
  }
  // The node's labels select pools (nodeSelector): the Calico Node, else the Kubernetes Node.
  for (const api::KindInfo* kind : {k.calicoNode, k.node}) {
    auto n = store_.get(*kind, "", inv.node);
    if (n) {
      a.nodeLabels = labelsOf(*n);
      break;
    }
    if (n.code() != Code::NotFound) {
      return errorFromStatus(kErrDatastore, "cannot read node " + inv.node, n.error());
    }
  }

  if (!requestedIps.empty()) {
    std::vector<IpAddr> ips;
    for (const auto& text : requestedIps) {
      auto ip = api::parseIp(text);
      if (!ip) {
        (void)ipam_.releaseByHandle(handle);
        return Error{kErrIpam, std::string("bad pod annotation ") + kAnnotationIpAddrs,
                     "not an IP address: " + jsonQuote(text)};
      }
      Status st = ipam_.assignIp(*ip, a);
      if (!st.isOk()) {
        (void)ipam_.releaseByHandle(handle);
        return Error{kErrIpam, "cannot assign " + ip->str() + " requested by " + kAnnotationIpAddrs,
                     st.message()};
      }
      ips.push_back(*ip);
    }
    log_.info("assigned requested " + joinAddrs(ips) + " to handle " + handle);
    return resultFor(ips);
  }

  auto nets = ipam_.autoAssign(a);
  if (!nets) {
    std::string pools = join(a.pools4, ", ");
    return Error{kErrIpam,
                 "cannot allocate an address for " +
                     (args.isKubernetes() ? "pod " + args.podNamespace + "/" + args.podName
                                          : "container " + env.containerId) +
                     (pools.empty() ? std::string() : " from pools [" + pools + "]"),
                 nets.error().message()};
  }
  std::vector<IpAddr> ips;
  for (const auto& n : *nets) {
    ips.push_back(n.addr);
  }
  log_.info("assigned " + joinAddrs(ips) + " to handle " + handle);
  return resultFor(ips);
}

MaybeError IpamPlugin::del(const Invocation& inv) {
  const std::string handle = ipamHandle(inv.conf.name, inv.env.containerId);
  Status st = ipam_.releaseByHandle(handle);
  if (!st.isOk() && st.code() != Code::NotFound) {
    return errorFromStatus(kErrIpam, "cannot release IPAM handle " + handle, st);
  }
  log_.info("released handle " + handle);
  return std::nullopt;
}

MaybeError IpamPlugin::check(const Invocation& inv) {
  const std::string handle = ipamHandle(inv.conf.name, inv.env.containerId);
  auto held = ipam_.ipsByHandle(handle);
  if (!held && held.code() != Code::NotFound) {
    return errorFromStatus(kErrDatastore, "cannot read IPAM handle " + handle, held.error());
  }
  std::vector<IpAddr> ips = held ? *held : std::vector<IpAddr>{};
  if (ips.empty()) {
    return Error{kErrCheck, "IPAM handle " + handle + " holds no address", ""};
  }
  if (inv.conf.prevResult) {
    for (const auto& c : inv.conf.prevResult->ips) {
      bool found = false;
      for (const auto& ip : ips) {
        found = found || ip == c.address.addr;
      }
      if (!found) {
        return Error{kErrCheck,
                     "address " + c.address.addr.str() + " is not held by handle " + handle,
                     "the handle holds " + joinAddrs(ips)};
      }
    }
  }
  return std::nullopt;
}

int runCaracalIpam(const EnvLookup& envLookup, std::string_view input, std::string& output) {
  PluginRun run(envLookup, input, output);
  Logger log("caracal-ipam");
  // The IPAM plugin never touches a namespace: CNI_NETNS is not required.
  if (auto rc = run.start(/*needsNetns=*/false, log)) {
    return *rc;
  }
  auto rest = run.connect();
  if (!rest) {
    return run.fail(rest.error());
  }
  auto store = ipam::makeRestStore(**rest);
  IpamPlugin plugin(*store, log);
  return run.dispatch(plugin, log);
}

int caracalIpamMain() { return runOnProcess(runCaracalIpam); }

} // namespace caracal::cni
