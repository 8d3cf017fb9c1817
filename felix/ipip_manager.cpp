#include "felix/ipip_manager.h"

#include <cerrno>
#include <cstring>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace caracal::felix {

nlmsghdr* buildIpipLinkRequest(void* mem, std::string_view name, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(mem);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  std::string n(name);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, n.c_str());
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "ipip");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  mnl_attr_put_u8(nlh, IFLA_IPTUN_PMTUDISC, 1);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return nlh;
}

std::vector<std::pair<IpNet, IpAddr>> ipipPeerTable(const std::vector<IpipPeer>& peers,
                                                    const std::vector<IpAddr>& sources) {
  std::vector<std::pair<IpNet, IpAddr>> table;
  table.reserve(peers.size() + sources.size());
  for (const IpipPeer& p : peers) {
    table.emplace_back(p.dst, p.nodeIp);
  }
  for (const IpAddr& src : sources) {
    bool known = false;
    for (const IpipPeer& p : peers) {
      known = known || p.nodeIp == src;
    }
    if (!known && src.family == 4) {
      table.emplace_back(IpNet{src, 32}, src);
    }
  }
  return table;
}

namespace {

// One request/ack exchange on a fresh NETLINK_ROUTE socket in the calling thread's namespace.
Status createIpipLink(std::string_view name) {
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) {
    return Status(Code::Internal, std::string("netlink socket: ") + std::strerror(errno));
  }
  struct Closer {
    mnl_socket* s;
    ~Closer() { mnl_socket_close(s); }
  } closer{nl};
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    return Status(Code::Internal, std::string("netlink bind: ") + std::strerror(errno));
  }
  alignas(nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE] = {};
  nlmsghdr* nlh = buildIpipLinkRequest(buf, name, 1);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    return Status(Code::Internal, std::string("netlink send: ") + std::strerror(errno));
  }
  ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
  if (n < 0) {
    return Status(Code::Internal, std::string("netlink receive: ") + std::strerror(errno));
  }
  if (mnl_cb_run(buf, static_cast<size_t>(n), 1, mnl_socket_get_portid(nl), nullptr, nullptr) < 0) {
    int err = errno;
    Code code = err == EEXIST ? Code::AlreadyExists : Code::Unavailable;
    return Status(code, "creating ipip link " + std::string(name) + ": " + std::strerror(err));
  }
  return {};
}

// Makes `want` (or nothing) the only IPv4 address on the link: adds first, then removes the rest.
Status syncAddress(netlink::Socket& sock, int ifindex, const std::optional<IpNet>& want) {
  ASSIGN_OR_RETURN(auto addrs, sock.addresses(AF_INET, ifindex));
  bool have = false;
  for (const netlink::Address& a : addrs) {
    have = have || (want && a.net == *want);
  }
  if (want && !have) {
    RETURN_IF_ERROR(sock.addAddress(netlink::Address{ifindex, *want, 0}));
  }
  for (const netlink::Address& a : addrs) {
    if (!want || !(a.net == *want)) {
      RETURN_IF_ERROR(sock.deleteAddress(a));
    }
  }
  return {};
}

} // namespace

IpipManager::Mode IpipManager::detectMode() {
  return ipip::kernelIpipAvailable() ? Mode::Kernel : Mode::Userspace;
}

Result<std::unique_ptr<IpipManager>> IpipManager::create(Mode mode) {
  ASSIGN_OR_RETURN(auto sock, netlink::Socket::open(""));
  return std::unique_ptr<IpipManager>(new IpipManager(mode, std::move(sock)));
}

IpipManager::IpipManager(Mode mode, std::unique_ptr<netlink::Socket> sock)
    : mode_(mode), sock_(std::move(sock)) {}

IpipManager::~IpipManager() {
  if (tunnel_) {
    tunnel_->stop(false);
  }
}

ipip::TunnelStats IpipManager::tunnelStats() const {
  return tunnel_ ? tunnel_->stats() : ipip::TunnelStats{};
}

Result<int> IpipManager::ensure(const std::optional<IpipDeviceConfig>& want,
                                const std::vector<IpipPeer>& peers,
                                const std::vector<IpAddr>& sources) {
  return mode_ == Mode::Kernel ? ensureKernel(want) : ensureUserspace(want, peers, sources);
}

Result<int> IpipManager::ensureKernel(const std::optional<IpipDeviceConfig>& want) {
  auto link = sock_->link(kIpipDevice);
  if (!link && link.code() != Code::NotFound) {
    return link.error();
  }
  if (!want) {
    if (link && link->kind == "ipip") {
      RETURN_IF_ERROR(syncAddress(*sock_, link->index, std::nullopt));
      if (link->up) {
        RETURN_IF_ERROR(sock_->setUp(kIpipDevice, false));
      }
    }
    return 0;
  }
  if (link && link->kind != "ipip") {
    RETURN_IF_ERROR(sock_->deleteLink(kIpipDevice)); // e.g. a TUN left by user-space mode
    link = Status(Code::NotFound, "deleted");
  }
  if (!link) {
    Status st = createIpipLink(kIpipDevice);
    if (!st && st.code() != Code::AlreadyExists) {
      return st;
    }
    link = sock_->link(kIpipDevice);
    if (!link) {
      return link.error();
    }
  }
  if (want->mtu != 0 && link->mtu != want->mtu) {
    RETURN_IF_ERROR(sock_->setMtu(kIpipDevice, want->mtu));
  }
  if (!link->up) {
    RETURN_IF_ERROR(sock_->setUp(kIpipDevice, true));
  }
  RETURN_IF_ERROR(syncAddress(*sock_, link->index, want->address));
  return link->index;
}

Result<int> IpipManager::ensureUserspace(const std::optional<IpipDeviceConfig>& want,
                                         const std::vector<IpipPeer>& peers,
                                         const std::vector<IpAddr>& sources) {
  if (!want) {
    if (tunnel_) {
      tunnel_->stop(true);
      tunnel_.reset();
      running_.reset();
    } else if (auto link = sock_->link(kIpipDevice); link && link->kind == "tun") {
      RETURN_IF_ERROR(sock_->deleteLink(kIpipDevice)); // left by an earlier run
    }
    return 0;
  }
  if (!tunnel_ || !running_ || !(*running_ == *want)) {
    if (tunnel_) {
      tunnel_->stop(false);
      tunnel_.reset();
    }
    ipip::TunnelOptions opts;
    opts.ifname = kIpipDevice;
    opts.mtu = want->mtu;
    opts.local = want->local;
    opts.tunnelAddr = want->address;
    ASSIGN_OR_RETURN(tunnel_, ipip::UserspaceTunnel::start(opts));
    running_ = want;
  }
  tunnel_->setPeers(ipipPeerTable(peers, sources));
  return tunnel_->ifindex();
}

} // namespace caracal::felix
