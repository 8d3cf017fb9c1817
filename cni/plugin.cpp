#include "cni/plugin.h"

#include "cni/naming.h"
#include "cni/run.h"
#include "common/strings.h"
#include "datastore/rest_client.h"

#include <functional>
#include <sstream>
#include <thread>

namespace caracal::cni {

namespace {

constexpr int kWriteRetries = 5;

std::map<std::string, std::string> stringMap(const Value* v) {
  std::map<std::string, std::string> out;
  if (v && v->isObject()) {
    for (const auto& [k, val] : v->asObject()) {
      if (val.isString()) {
        out[k] = val.asString();
      }
    }
  }
  return out;
}

Value mapValue(const std::map<std::string, std::string>& m) {
  Value out = Value::object();
  for (const auto& [k, v] : m) {
    out.set(k, v);
  }
  return out;
}

std::string podRef(const CniArgs& args) { return args.podNamespace + "/" + args.podName; }

// The pod network of this invocation: `hostIf` on the host, CNI_IFNAME in CNI_NETNS with `ips`.
PodNetworkSpec podNetworkSpec(const Invocation& inv, const std::string& hostIf,
                              const std::vector<IpNet>& ips) {
  PodNetworkSpec spec;
  spec.netnsPath = inv.env.netns;
  spec.ifname = inv.env.ifname;
  spec.hostIfname = hostIf;
  spec.addresses = ips;
  spec.mtu = inv.mtu;
  return spec;
}

// Undo actions collected while ADD proceeds; run() performs them last-first.
class Rollback {
public:
  explicit Rollback(Logger& log) : log_(log) {}
  void push(std::string what, std::function<Status()> undo) {
    steps_.push_back({std::move(what), std::move(undo)});
  }
  void run() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      Status st = it->undo();
      if (st.isOk()) {
        log_.info("rolled back: " + it->what);
      } else {
        log_.error("rollback of " + it->what + " failed: " + st.message());
      }
    }
    steps_.clear();
  }

private:
  struct Step {
    std::string what;
    std::function<Status()> undo;
  };
  Logger& log_;
  std::vector<Step> steps_;
};

Status fromError(const Error& e) {
  return Status(Code::Internal, e.details.empty() ? e.msg : e.msg + ": " + e.details);
}

std::vector<IpNet> hostAddresses(const std::vector<IpConfig>& ips) {
  std::vector<IpNet> out;
  for (const auto& ip : ips) {
    IpNet n = ip.address;
    n.prefix = n.addr.bits();
    out.push_back(n);
  }
  return out;
}

std::string joinNets(const std::vector<IpNet>& nets) {
  std::vector<std::string> parts;
  for (const auto& n : nets) {
    parts.push_back(n.str());
  }
  return join(parts, ",");
}

} // namespace

// ---- pure helpers

PodInfo podInfoFromObject(const Value& pod) {
  PodInfo info;
  info.labels = stringMap(pod.path("metadata.labels"));
  info.annotations = stringMap(pod.path("metadata.annotations"));
  std::string sa = pod.getString("spec.serviceAccountName");
  if (sa.empty()) {
    sa = pod.getString("spec.serviceAccount");
  }
  if (!sa.empty()) {
    info.serviceAccount = sa;
  }
  const Value* hostNetwork = pod.path("spec.hostNetwork");
  info.hostNetwork = hostNetwork && hostNetwork->isBool() && hostNetwork->asBool();
  const Value* containers = pod.path("spec.containers");
  if (containers && containers->isArray()) {
    for (const auto& c : containers->asArray()) {
      const Value* ports = c.find("ports");
      if (!ports || !ports->isArray()) {
        continue;
      }
      for (const auto& p : ports->asArray()) {
        PodPort port;
        port.name = p.getString("name");
        const Value* cp = p.find("containerPort");
        port.port = cp && cp->isInt() ? int(cp->asInt()) : 0;
        const Value* hp = p.find("hostPort");
        port.hostPort = hp && hp->isInt() ? int(hp->asInt()) : 0;
        port.hostIp = p.getString("hostIP");
        std::string proto = p.getString("protocol");
        if (!proto.empty()) {
          port.protocol = proto;
        }
        if (port.port > 0 && (!port.name.empty() || port.hostPort > 0)) {
          info.ports.push_back(std::move(port));
        }
      }
    }
  }
  return info;
}

Value buildWorkloadEndpoint(const WorkloadEndpointParams& p) {
  Value wep = Value::object();
  wep.set("apiVersion", "projectcalico.org/v3");
  wep.set("kind", "WorkloadEndpoint");
  Value meta = Value::object();
  meta.set("name", workloadEndpointName(p.node, p.podName, p.ifname));
  meta.set("namespace", p.podNamespace);
  std::map<std::string, std::string> labels = p.pod.labels;
  labels["projectcalico.org/namespace"] = p.podNamespace;
  labels["projectcalico.org/orchestrator"] = "k8s";
  if (!p.pod.serviceAccount.empty()) {
    labels["projectcalico.org/serviceaccount"] = p.pod.serviceAccount;
  }
  meta.set("labels", mapValue(labels));
  wep.set("metadata", std::move(meta));

  Value spec = Value::object();
  spec.set("orchestrator", "k8s");
  spec.set("node", p.node);
  spec.set("pod", p.podName);
  spec.set("endpoint", p.ifname);
  spec.set("containerID", p.containerId);
  Value nets = Value::array();
  for (const auto& n : p.ips) {
    IpNet host = n;
    host.prefix = n.addr.bits();
    nets.push(host.str());
  }
  spec.set("ipNetworks", std::move(nets));
  Value profiles = Value::array();
  profiles.push("kns." + p.podNamespace);
  if (!p.pod.serviceAccount.empty()) {
    profiles.push("ksa." + p.podNamespace + "." + p.pod.serviceAccount);
  }
  spec.set("profiles", std::move(profiles));
  spec.set("interfaceName", p.hostIfname);
  if (!p.mac.empty()) {
    spec.set("mac", p.mac);
  }
  if (!p.pod.ports.empty()) {
    Value ports = Value::array();
    for (const auto& port : p.pod.ports) {
      Value o = Value::object();
      if (!port.name.empty()) {
        o.set("name", port.name);
      }
      o.set("protocol", port.protocol);
      o.set("port", port.port);
      if (port.hostPort > 0) {
        o.set("hostPort", port.hostPort);
      }
      if (!port.hostIp.empty()) {
        o.set("hostIP", port.hostIp);
      }
      ports.push(std::move(o));
    }
    spec.set("ports", std::move(ports));
  }
  if (!p.pod.serviceAccount.empty()) {
    spec.set("serviceAccountName", p.pod.serviceAccount);
  }
  wep.set("spec", std::move(spec));
  return wep;
}

CniResult buildAddResult(const std::string& hostIfname, const std::string& hostMac,
                         const std::string& ifname, const std::string& podMac,
                         const std::string& sandbox, const std::vector<IpNet>& ips) {
  CniResult r;
  r.interfaces.push_back(Interface{hostIfname, hostMac, ""});
  r.interfaces.push_back(Interface{ifname, podMac, sandbox});
  bool have4 = false;
  bool have6 = false;
  for (const auto& n : ips) {
    IpConfig c;
    c.address = n;
    c.address.prefix = n.addr.bits();
    c.interface = 1;
    r.ips.push_back(c);
    have4 = have4 || n.addr.family == 4;
    have6 = have6 || n.addr.family == 6;
  }
  if (have4) {
    r.routes.push_back(RouteEntry{*api::parseCidr("0.0.0.0/0"), api::parseIp(kPodGateway)});
  }
  if (have6) {
    r.routes.push_back(RouteEntry{*api::parseCidr("::/0"), api::parseIp(kPodGateway6)});
  }
  return r;
}

// ---- ADD

Outcome<CniResult> Plugin::add(const Invocation& inv) {
  const auto& env = inv.env;
  const auto& args = inv.args;
  if (!args.isKubernetes()) {
    return Error{kErrInvalidEnvironment,
                 "CNI_ARGS must name the pod: K8S_POD_NAMESPACE and K8S_POD_NAME are required",
                 "CNI_ARGS=" + jsonQuote(env.args)};
  }
  const Kinds& k = kinds();
  const std::string hostIf = hostVethName(args.podNamespace, args.podName);
  const std::string wepName = workloadEndpointName(inv.node, args.podName, env.ifname);
  log_.info("ADD pod " + podRef(args) + " container " + env.containerId + " netns " + env.netns +
            " ifname " + env.ifname + " host " + hostIf + " endpoint " + wepName);

  // 1. The pod, and what an earlier ADD for it may have written.
  auto podObj = api_.get(*k.pod, args.podNamespace, args.podName);
  if (!podObj) {
    if (podObj.code() == Code::NotFound) {
      return Error{kErrPod, "pod " + podRef(args) + " not found",
                   "the pod named by CNI_ARGS must exist before its sandbox is networked: " +
                       podObj.error().message()};
    }
    return errorFromStatus(kErrDatastore, "cannot read pod " + podRef(args), podObj.error());
  }
  if (!dataplane_.netnsExists(env.netns)) {
    return Error{kErrUnknownContainer, "network namespace " + env.netns + " does not exist",
                 "CNI_NETNS must name the sandbox's network namespace"};
  }
  if (dataplane_.isOwnNetns(env.netns)) {
    // Programming it would put the pod's address and default route on the node itself.
    return Error{kErrInvalidEnvironment,
                 "CNI_NETNS " + env.netns + " is the plugin's own network namespace",
                 "CNI_NETNS must name the sandbox's network namespace, not the node's"};
  }
  PodInfo pod = podInfoFromObject(*podObj);
  if (pod.hostNetwork) {
    return Error{kErrPod, "pod " + podRef(args) + " uses the host network",
                 "spec.hostNetwork is true; such pods get no CNI interface"};
  }
  std::optional<Value> oldWep;
  {
    auto w = api_.get(*k.workloadEndpoint, args.podNamespace, wepName);
    if (w) {
      oldWep = std::move(w).value();
    } else if (w.code() != Code::NotFound) {
      return errorFromStatus(kErrDatastore, "cannot read WorkloadEndpoint " + wepName, w.error());
    }
  }

  Rollback rollback(log_);
  // 2. Addresses.
  auto ipamResult = ipam_.add();
  if (!ipamResult) {
    // The IPAM plugin gives all or nothing, but a DEL is cheap insurance against a partial write.
    if (auto e = ipam_.del()) {
      log_.warning("IPAM DEL after a failed IPAM ADD: " + e->msg);
    }
    return ipamResult.error();
  }
  rollback.push("IPAM allocation for " + ipamHandle(inv.conf.name, env.containerId), [this] {
    auto e = ipam_.del();
    return e ? fromError(*e) : Status::ok();
  });
  std::vector<IpNet> ips = hostAddresses(ipamResult->ips);
  if (ips.empty()) {
    rollback.run();
    return Error{kErrIpam, "the IPAM plugin returned no address",
                 "check ipam.assign_ipv4 / assign_ipv6 in the network configuration"};
  }
  log_.info("addresses " + joinNets(ips));

  // 3. Interfaces, addresses and routes.
  PodNetworkSpec spec = podNetworkSpec(inv, hostIf, ips);
  rollback.push("veth " + hostIf, [this, hostIf] { return dataplane_.removeHostVeth(hostIf); });
  auto net = dataplane_.setUp(spec);
  if (!net) {
    rollback.run();
    uint32_t code = net.code() == Code::NotFound && !dataplane_.netnsExists(env.netns)
                        ? kErrUnknownContainer
                        : kErrDataplane;
    return errorFromStatus(code,
                           "cannot set up the pod network (" + hostIf + " <-> " + env.ifname +
                               " in " + env.netns + ")",
                           net.error());
  }

  // 4. The WorkloadEndpoint.
  WorkloadEndpointParams wp;
  wp.node = inv.node;
  wp.podNamespace = args.podNamespace;
  wp.podName = args.podName;
  wp.ifname = env.ifname;
  wp.containerId = env.containerId;
  wp.hostIfname = hostIf;
  wp.mac = net->podMac;
  wp.ips = ips;
  wp.pod = pod;
  Value wep = buildWorkloadEndpoint(wp);
  Status wepStatus;
  bool created = false;
  for (int attempt = 0; attempt < kWriteRetries; ++attempt) {
    if (oldWep) {
      Value next = wep;
      next["metadata"].set("resourceVersion", oldWep->getString("metadata.resourceVersion"));
      if (const Value* uid = oldWep->path("metadata.uid")) {
        next["metadata"].set("uid", *uid);
      }
      auto r = api_.update(*k.workloadEndpoint, next);
      wepStatus = r.status();
      if (r || (r.code() != Code::Conflict && r.code() != Code::NotFound)) {
        break;
      }
    } else {
      auto r = api_.create(*k.workloadEndpoint, wep);
      wepStatus = r.status();
      if (r) {
        created = true;
        break;
      }
      if (r.code() != Code::AlreadyExists) {
        break;
      }
    }
    // Lost a race with another writer: read again and retry.
    auto w = api_.get(*k.workloadEndpoint, args.podNamespace, wepName);
    if (w) {
      oldWep = std::move(w).value();
    } else if (w.code() == Code::NotFound) {
      oldWep.reset();
    } else {
      wepStatus = w.status();
      break;
    }
  }
  if (!wepStatus.isOk()) {
    rollback.run();
    return errorFromStatus(kErrDatastore,
                           "cannot write WorkloadEndpoint " + args.podNamespace + "/" + wepName,
                           wepStatus);
  }
  if (created) {
    rollback.push("WorkloadEndpoint " + wepName, [this, &k, &args, wepName] {
      Status st = api_.remove(*k.workloadEndpoint, args.podNamespace, wepName);
      return st.code() == Code::NotFound ? Status::ok() : st;
    });
  } else if (oldWep) {
    Value previous = *oldWep;
    rollback.push("update of WorkloadEndpoint " + wepName, [this, &k, &args, wepName, previous] {
      auto cur = api_.get(*k.workloadEndpoint, args.podNamespace, wepName);
      if (!cur) {
        return cur.status();
      }
      Value restored = previous;
      restored["metadata"].set("resourceVersion", cur->getString("metadata.resourceVersion"));
      return api_.update(*k.workloadEndpoint, restored).status();
    });
  }

  // 5. The pod's annotations.
  Value annotations = Value::object();
  annotations.set(kAnnotationPodIp, ips.front().str());
  annotations.set(kAnnotationPodIps, joinNets(ips));
  annotations.set(kAnnotationContainerId, env.containerId);
  Value patch = Value::object();
  patch["metadata"].set("annotations", annotations);
  auto patched = api_.mergePatch(*k.pod, args.podNamespace, args.podName, patch);
  if (!patched) {
    rollback.run();
    return errorFromStatus(kErrDatastore, "cannot annotate pod " + podRef(args), patched.error());
  }

  log_.info("ADD done: " + joinNets(ips) + " on " + hostIf);
  return buildAddResult(hostIf, net->hostMac, env.ifname, net->podMac, env.netns, ips);
}

// ---- DEL

MaybeError Plugin::del(const Invocation& inv) {
  const auto& env = inv.env;
  const auto& args = inv.args;
  const Kinds& k = kinds();
  log_.info("DEL pod " + (args.isKubernetes() ? podRef(args) : std::string("(none)")) +
            " container " + env.containerId + " netns " +
            (env.netns.empty() ? std::string("(none)") : env.netns));
  MaybeError first;
  auto note = [&](Error e) {
    log_.error(e.msg + (e.details.empty() ? "" : ": " + e.details));
    if (!first) {
      first = std::move(e);
    }
  };

  // The pod side of the pair, and with it the host side. A vanished namespace took both along.
  if (!env.netns.empty()) {
    Status st = dataplane_.removePodInterface(env.netns, env.ifname);
    if (!st.isOk()) {
      note(errorFromStatus(kErrDataplane, "cannot delete " + env.ifname + " in " + env.netns, st));
    }
  }
  if (!args.isKubernetes()) {
    if (auto e = ipam_.del()) {
      note(*e);
    }
    return first;
  }

  // The endpoint goes first: the address is released only once no WorkloadEndpoint of this
  // container claims it any more, so it is never handed to another pod while a stale endpoint
  // still routes it here. When the endpoint cannot be deleted, the address stays allocated and the
  // error makes the runtime retry the DEL.
  bool endpointGone = false;
  const std::string wepName = workloadEndpointName(inv.node, args.podName, env.ifname);
  auto wep = api_.get(*k.workloadEndpoint, args.podNamespace, wepName);
  if (wep) {
    std::string owner = wep->getString("spec.containerID");
    if (owner == env.containerId) {
      Status st = api_.remove(*k.workloadEndpoint, args.podNamespace, wepName);
      if (st.isOk() || st.code() == Code::NotFound) {
        endpointGone = true;
      } else {
        note(errorFromStatus(kErrDatastore, "cannot delete WorkloadEndpoint " + wepName, st));
      }
      // The endpoint named this container, so its host interface is ours to remove too (it is
      // normally gone already, with the pod side).
      std::string hostIf = wep->getString("spec.interfaceName");
      if (startsWith(hostIf, kHostVethPrefix)) {
        Status hs = dataplane_.removeHostVeth(hostIf);
        if (!hs.isOk()) {
          note(errorFromStatus(kErrDataplane, "cannot delete host interface " + hostIf, hs));
        }
      }
    } else {
      log_.info("WorkloadEndpoint " + wepName + " belongs to container " + owner + "; leaving it");
      endpointGone = true; // none of this container's
    }
  } else if (wep.code() == Code::NotFound) {
    endpointGone = true;
  } else {
    note(errorFromStatus(kErrDatastore, "cannot read WorkloadEndpoint " + wepName, wep.error()));
  }

  // The IPAM plugin (a process of its own, with its own API connection) releases the handle while
  // this process clears the pod's annotations: the two are independent.
  MaybeError ipamError;
  std::thread ipamDel;
  if (endpointGone) {
    ipamDel = std::thread([this, &ipamError] { ipamError = ipam_.del(); });
  } else {
    log_.warning("keeping the IPAM allocation of " + ipamHandle(inv.conf.name, env.containerId) +
                 " until WorkloadEndpoint " + wepName + " is deleted");
  }
  auto joinIpam = [&] {
    if (ipamDel.joinable()) {
      ipamDel.join();
    }
    if (ipamError) {
      note(*ipamError);
    }
  };

  auto pod = api_.get(*k.pod, args.podNamespace, args.podName);
  if (pod) {
    // Annotation keys contain dots, so they are looked up directly rather than by dotted path.
    const Value* ann = pod->path("metadata.annotations");
    const Value* cid = ann ? ann->find(kAnnotationContainerId) : nullptr;
    if (cid && cid->isString() && cid->asString() == env.containerId) {
      Value annotations = Value::object();
      annotations.set(kAnnotationPodIp, nullptr);
      annotations.set(kAnnotationPodIps, nullptr);
      annotations.set(kAnnotationContainerId, nullptr);
      Value patch = Value::object();
      patch["metadata"].set("annotations", annotations);
      auto r = api_.mergePatch(*k.pod, args.podNamespace, args.podName, patch);
      if (!r && r.code() != Code::NotFound) {
        note(errorFromStatus(kErrDatastore, "cannot clear the annotations of pod " + podRef(args),
                             r.error()));
      }
    }
  } else if (pod.code() != Code::NotFound) {
    note(errorFromStatus(kErrDatastore, "cannot read pod " + podRef(args), pod.error()));
  }
  joinIpam();
  if (!first) {
    log_.info("DEL done");
  }
  return first;
}

// ---- CHECK

MaybeError Plugin::check(const Invocation& inv) {
  const auto& env = inv.env;
  const auto& args = inv.args;
  const Kinds& k = kinds();
  if (!versionSupportsCheck(inv.conf.cniVersion)) {
    return Error{kErrIncompatibleVersion,
                 "CHECK is not defined for cniVersion " + jsonQuote(inv.conf.cniVersion),
                 "CHECK needs 0.4.0 or later"};
  }
  if (!args.isKubernetes()) {
    return Error{kErrInvalidEnvironment,
                 "CNI_ARGS must name the pod: K8S_POD_NAMESPACE and K8S_POD_NAME are required",
                 "CNI_ARGS=" + jsonQuote(env.args)};
  }
  const std::string hostIf = hostVethName(args.podNamespace, args.podName);
  const std::string wepName = workloadEndpointName(inv.node, args.podName, env.ifname);

  auto wep = api_.get(*k.workloadEndpoint, args.podNamespace, wepName);
  if (!wep) {
    if (wep.code() == Code::NotFound) {
      return Error{kErrCheck,
                   "WorkloadEndpoint " + args.podNamespace + "/" + wepName + " does not exist", ""};
    }
    return errorFromStatus(kErrDatastore, "cannot read WorkloadEndpoint " + wepName, wep.error());
  }
  if (wep->getString("spec.containerID") != env.containerId) {
    return Error{kErrCheck, "WorkloadEndpoint " + wepName + " belongs to another container",
                 "spec.containerID is " + jsonQuote(wep->getString("spec.containerID")) +
                     ", CNI_CONTAINERID is " + jsonQuote(env.containerId)};
  }
  if (wep->getString("spec.interfaceName") != hostIf) {
    return Error{kErrCheck, "WorkloadEndpoint " + wepName + " names another interface",
                 "spec.interfaceName is " + jsonQuote(wep->getString("spec.interfaceName")) +
                     ", expected " + hostIf};
  }
  std::vector<IpNet> wepIps;
  if (const Value* nets = wep->path("spec.ipNetworks"); nets && nets->isArray()) {
    for (const auto& n : nets->asArray()) {
      if (auto net = api::parseCidrOrIp(n.asString())) {
        wepIps.push_back(*net);
      }
    }
  }
  std::vector<IpNet> ips = wepIps;
  if (inv.conf.prevResult) {
    ips = hostAddresses(inv.conf.prevResult->ips);
    if (ips.empty()) {
      return Error{kErrCheck, "prevResult has no addresses", ""};
    }
    for (const auto& ip : ips) {
      bool found = false;
      for (const auto& w : wepIps) {
        found = found || w == ip;
      }
      if (!found) {
        return Error{kErrCheck,
                     "address " + ip.str() + " of prevResult is not on WorkloadEndpoint " + wepName,
                     "spec.ipNetworks is [" + joinNets(wepIps) + "]"};
      }
    }
  }
  if (auto e = ipam_.check()) {
    return *e;
  }
  PodNetworkSpec spec = podNetworkSpec(inv, hostIf, ips);
  Status st = dataplane_.check(spec);
  if (!st.isOk()) {
    return Error{kErrCheck, "pod network of " + podRef(args) + " is not as ADD left it",
                 st.message()};
  }
  return std::nullopt;
}

// ---- the process

int runCaracal(const EnvLookup& envLookup, std::string_view input, std::string& output) {
  PluginRun run(envLookup, input, output);
  Logger log("caracal");
  if (auto rc = run.start(/*needsNetns=*/true, log)) {
    return *rc;
  }
  Invocation& inv = run.invocation();
  if (inv.args.isKubernetes()) {
    log.setContext("ContainerID=" + inv.env.containerId + " Pod=" + podRef(inv.args));
  }
  auto mtu = resolveMtu(inv.conf);
  if (!mtu) {
    return run.fail(errorFromStatus(kErrInvalidConfig, "cannot determine the MTU", mtu.error()));
  }
  inv.mtu = *mtu;

  auto ipamPath = findPlugin(inv.conf.ipam.type, inv.env.path);
  if (!ipamPath) {
    return run.fail(Error{kErrInvalidConfig,
                          "IPAM plugin " + jsonQuote(inv.conf.ipam.type) + " (ipam.type) not found",
                          ipamPath.error().message()});
  }
  auto rest = run.connect();
  if (!rest) {
    return run.fail(rest.error());
  }
  auto apiImpl = makeRestApi(**rest);
  auto dataplane = makeNetlinkDataplane(log);
  ExecIpam ipam(*ipamPath, std::string(input));
  Plugin plugin(*apiImpl, *dataplane, ipam, log);
  return run.dispatch(plugin, log);
}

int caracalMain() { return runOnProcess(runCaracal); }

} // namespace caracal::cni
