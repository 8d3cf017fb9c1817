#include "cni/dataplane.h"

#include "cni/log.h"
#include "netlink/fd.h"
#include "netlink/netlink.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace caracal::cni {

namespace {

constexpr uint8_t kScopeLink = 253;  // RT_SCOPE_LINK
constexpr uint8_t kProtocolBoot = 3; // RTPROT_BOOT: what `ip route add` uses, for routes in the pod

using netlink::Fd;

bool isNetnsFd(int fd) {
  struct statfs fs;
  if (::fstatfs(fd, &fs) != 0) {
    return false;
  }
  // Bind-mounted namespaces live on nsfs; /proc/<pid>/ns/net on older kernels on procfs.
  return fs.f_type == NSFS_MAGIC || fs.f_type == PROC_SUPER_MAGIC;
}

// True when the namespace of `fd` is the calling thread's own network namespace.
bool isOwnNetnsFd(int fd) {
  struct stat target;
  struct stat own;
  if (::fstat(fd, &target) != 0 || ::stat("/proc/thread-self/ns/net", &own) != 0) {
    return false;
  }
  return target.st_dev == own.st_dev && target.st_ino == own.st_ino;
}

Status ownNetnsError(const std::string& path) {
  return Status(Code::Invalid, "CNI_NETNS " + path +
                                   " is the plugin's own network namespace (the node's), not a "
                                   "pod's; refusing to program it");
}

api::IpNet hostRouteDst(const api::IpNet& addr) {
  api::IpNet n = addr;
  n.prefix = addr.addr.bits();
  return n;
}

class NetlinkDataplane : public Dataplane {
public:
  explicit NetlinkDataplane(Logger& log) : log_(log) {}

  bool netnsExists(const std::string& path) override {
    if (path.empty()) {
      return false;
    }
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return fd.get() >= 0 && isNetnsFd(fd.get());
  }

  bool isOwnNetns(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return fd.get() >= 0 && isNetnsFd(fd.get()) && isOwnNetnsFd(fd.get());
  }

  Result<PodNetworkStatus> setUp(const PodNetworkSpec& spec) override {
    Fd nsFd(::open(spec.netnsPath.c_str(), O_RDONLY | O_CLOEXEC));
    if (nsFd.get() < 0 || !isNetnsFd(nsFd.get())) {
      return Status(Code::NotFound,
                    "network namespace " + spec.netnsPath + " does not exist or is not a netns");
    }
    if (isOwnNetnsFd(nsFd.get())) {
      return ownNetnsError(spec.netnsPath);
    }
    ASSIGN_OR_RETURN(auto node, netlink::Socket::open());
    ASSIGN_OR_RETURN(auto pod, netlink::Socket::open(spec.netnsPath));

    // A host interface of this name belongs to this pod (the name hashes namespace and pod): it is
    // left over from an earlier attempt or an earlier sandbox. Replace it.
    auto stale = node->link(spec.hostIfname);
    if (stale) {
      log_.info("replacing existing host interface " + spec.hostIfname);
      RETURN_IF_ERROR(node->deleteLink(spec.hostIfname));
    }

    netlink::VethSpec veth;
    veth.name = spec.hostIfname;
    veth.peerName = spec.ifname;
    veth.peerNetnsFd = nsFd.get();
    veth.mac = netlink::parseMac(kHostVethMac);
    veth.mtu = uint32_t(spec.mtu);
    RETURN_IF_ERROR(node->createVeth(veth).withContext(
        "creating veth " + spec.hostIfname + " <-> " + spec.ifname + " in " + spec.netnsPath));

    // Host side: no address; answers ARP for the pod's gateway by proxy and forwards.
    bool want6 = false;
    for (const auto& a : spec.addresses) {
      want6 = want6 || a.addr.family == 6;
    }
    RETURN_IF_ERROR(netlink::configureWorkloadSysctls(spec.hostIfname, true, want6));
    RETURN_IF_ERROR(node->setUp(spec.hostIfname));
    ASSIGN_OR_RETURN(netlink::Link hostLink, node->link(spec.hostIfname));

    // Pod side.
    ASSIGN_OR_RETURN(netlink::Link podLink, pod->link(spec.ifname));
    RETURN_IF_ERROR(pod->setUp(spec.ifname));
    auto gw4 = *api::parseIp(kPodGateway);
    auto gw6 = *api::parseIp(kPodGateway6);
    bool have4 = false;
    for (const auto& a : spec.addresses) {
      netlink::Address addr;
      addr.ifindex = podLink.index;
      addr.net = hostRouteDst(a);
      RETURN_IF_ERROR(pod->addAddress(addr).withContext("adding " + addr.net.str() + " to " +
                                                        spec.ifname + " in the pod"));
      have4 = have4 || a.addr.family == 4;
    }
    if (have4) {
      netlink::Route gwRoute;
      gwRoute.dst = api::IpNet{gw4, 32};
      gwRoute.scope = kScopeLink;
      gwRoute.oif = podLink.index;
      gwRoute.protocol = kProtocolBoot;
      RETURN_IF_ERROR(pod->replaceRoute(gwRoute).withContext("pod route " + gwRoute.dst.str()));
      netlink::Route def;
      def.dst = *api::parseCidr("0.0.0.0/0");
      def.gateway = gw4;
      def.oif = podLink.index;
      def.protocol = kProtocolBoot;
      RETURN_IF_ERROR(pod->replaceRoute(def).withContext("pod default route"));
    }
    if (want6) {
      netlink::Route def;
      def.dst = *api::parseCidr("::/0");
      def.gateway = gw6;
      def.oif = podLink.index;
      def.protocol = kProtocolBoot;
      RETURN_IF_ERROR(pod->replaceRoute(def).withContext("pod IPv6 default route"));
    }

    // Node side: one host route per pod address through the host veth.
    for (const auto& a : spec.addresses) {
      netlink::Route r;
      r.dst = hostRouteDst(a);
      r.scope = kScopeLink;
      r.oif = hostLink.index;
      r.protocol = netlink::kRouteProtocol;
      RETURN_IF_ERROR(node->replaceRoute(r).withContext("node route " + r.dst.str() + " dev " +
                                                        spec.hostIfname));
    }
    PodNetworkStatus st;
    st.podMac = netlink::macStr(podLink.mac);
    st.hostMac = netlink::macStr(hostLink.mac);
    return st;
  }

  Status removeHostVeth(const std::string& hostIfname) override {
    ASSIGN_OR_RETURN(auto node, netlink::Socket::open());
    return node->deleteLink(hostIfname);
  }

  Status removePodInterface(const std::string& netnsPath, const std::string& ifname) override {
    if (!netnsExists(netnsPath)) {
      return Status::ok(); // the namespace is gone, and the veth pair with it
    }
    ASSIGN_OR_RETURN(auto pod, netlink::Socket::open(netnsPath));
    return pod->deleteLink(ifname);
  }

  Status check(const PodNetworkSpec& spec) override {
    if (!netnsExists(spec.netnsPath)) {
      return Status(Code::NotFound, "network namespace " + spec.netnsPath + " does not exist");
    }
    ASSIGN_OR_RETURN(auto node, netlink::Socket::open());
    ASSIGN_OR_RETURN(auto pod, netlink::Socket::open(spec.netnsPath));
    auto hostLink = node->link(spec.hostIfname);
    if (!hostLink) {
      return Status(Code::NotFound, "host interface " + spec.hostIfname + " is missing");
    }
    if (!hostLink->up) {
      return Status(Code::Invalid, "host interface " + spec.hostIfname + " is down");
    }
    if (hostLink->kind != "veth") {
      return Status(Code::Invalid, "host interface " + spec.hostIfname + " is a " +
                                       (hostLink->kind.empty() ? "plain device" : hostLink->kind) +
                                       ", not a veth");
    }
    auto proxyArp = netlink::getSysctl(netlink::confPath(4, spec.hostIfname, "proxy_arp"));
    if (proxyArp && trimmed(*proxyArp) != "1") {
      return Status(Code::Invalid, "proxy_arp is off on " + spec.hostIfname);
    }
    auto podLink = pod->link(spec.ifname);
    if (!podLink) {
      return Status(Code::NotFound,
                    "interface " + spec.ifname + " is missing in " + spec.netnsPath);
    }
    if (!podLink->up) {
      return Status(Code::Invalid, "interface " + spec.ifname + " in the pod is down");
    }
    ASSIGN_OR_RETURN(auto addrs, pod->addresses(0, podLink->index));
    for (const auto& a : spec.addresses) {
      api::IpNet want = hostRouteDst(a);
      bool found = false;
      for (const auto& have : addrs) {
        found = found || have.net == want;
      }
      if (!found) {
        return Status(Code::NotFound,
                      "address " + want.str() + " is missing on " + spec.ifname + " in the pod");
      }
    }
    ASSIGN_OR_RETURN(auto podRoutes, pod->routes(4));
    bool haveGw = false;
    bool haveDefault = false;
    auto gw4 = *api::parseIp(kPodGateway);
    for (const auto& r : podRoutes) {
      if (r.oif != podLink->index) {
        continue;
      }
      haveGw = haveGw || (r.dst == api::IpNet{gw4, 32} && r.scope == kScopeLink);
      haveDefault = haveDefault || (r.dst.prefix == 0 && r.gateway && *r.gateway == gw4);
    }
    bool want4 = false;
    for (const auto& a : spec.addresses) {
      want4 = want4 || a.addr.family == 4;
    }
    if (want4 && !haveGw) {
      return Status(Code::NotFound, std::string("route ") + kPodGateway + " dev " + spec.ifname +
                                        " scope link is missing in the pod");
    }
    if (want4 && !haveDefault) {
      return Status(Code::NotFound,
                    std::string("default route via ") + kPodGateway + " is missing in the pod");
    }
    for (const auto& a : spec.addresses) {
      ASSIGN_OR_RETURN(auto nodeRoutes, node->routes(a.addr.family));
      api::IpNet want = hostRouteDst(a);
      bool found = false;
      for (const auto& r : nodeRoutes) {
        found = found || (r.dst == want && r.oif == hostLink->index);
      }
      if (!found) {
        return Status(Code::NotFound,
                      "node route " + want.str() + " dev " + spec.hostIfname + " is missing");
      }
    }
    return Status::ok();
  }

private:
  static std::string trimmed(const std::string& s) {
    size_t e = s.find_last_not_of(" \n\t");
    return e == std::string::npos ? "" : s.substr(0, e + 1);
  }

  Logger& log_;
};

} // namespace

std::unique_ptr<Dataplane> makeNetlinkDataplane(Logger& log) {
  return std::make_unique<NetlinkDataplane>(log);
}

} // namespace caracal::cni
