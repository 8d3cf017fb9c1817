#include "netlink/codec.h"

#include <arpa/inet.h>
#include <cstddef>
#include <cstring>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

namespace caracal::netlink::codec {

namespace {

// Longer names than this are sent as they are (truncated to this length) so that the kernel
// rejects them; a silently shortened name could address a different interface.
constexpr size_t kMaxNameAttr = 64;

constexpr uint16_t kRequest = NLM_F_REQUEST | NLM_F_ACK;

// Calls fn(attr) for each well-formed attribute in [p, end).
template <typename F> void walkAttrs(const char* p, const char* end, F&& fn) {
  while (end - p >= static_cast<std::ptrdiff_t>(sizeof(nlattr))) {
    const auto* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < sizeof(nlattr) || a->nla_len > end - p) {
      return;
    }
    fn(a);
    p += MNL_ALIGN(a->nla_len);
  }
}

template <typename F> void forEachAttr(const nlmsghdr* nlh, size_t offset, F&& fn) {
  const char* p = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, offset));
  walkAttrs(p, static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh)), fn);
}

template <typename F> void forEachNested(const nlattr* nest, F&& fn) {
  const char* p = static_cast<const char*>(mnl_attr_get_payload(nest));
  walkAttrs(p, p + mnl_attr_get_payload_len(nest), fn);
}

nlmsghdr* begin(void* mem, uint16_t type, uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(mem);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  return nlh;
}

template <typename T> T* extra(nlmsghdr* nlh) {
  return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh, sizeof(T)));
}

// mnl_attr_put() of libmnl 1.0.4 leaves the alignment padding as it was; requests are built in
// uninitialised memory, so the padding is cleared here to keep the bytes deterministic.
void put(nlmsghdr* nlh, uint16_t type, size_t len, const void* data) {
  mnl_attr_put(nlh, type, len, data);
  size_t pad = MNL_ALIGN(len) - len;
  if (pad > 0) {
    std::memset(static_cast<char*>(mnl_nlmsg_get_payload_tail(nlh)) - pad, 0, pad);
  }
}

void putStr(nlmsghdr* nlh, uint16_t type, const char* text) {
  put(nlh, type, std::strlen(text) + 1, text);
}

void putName(nlmsghdr* nlh, uint16_t type, std::string_view name) {
  char buf[kMaxNameAttr + 1] = {0};
  size_t n = std::min(name.size(), kMaxNameAttr);
  std::memcpy(buf, name.data(), n);
  put(nlh, type, n + 1, buf);
}

void putAddr(nlmsghdr* nlh, uint16_t type, const IpAddr& a) {
  put(nlh, type, a.family == 4 ? 4 : 16, a.bytes.data());
}

bool isZero(const Mac& m) {
  for (uint8_t b : m) {
    if (b != 0) {
      return false;
    }
  }
  return true;
}

std::optional<IpAddr> getAddr(const nlattr* attr, int af) {
  uint16_t len = mnl_attr_get_payload_len(attr);
  IpAddr a;
  if (af == AF_INET && len == 4) {
    a.family = 4;
  } else if (af == AF_INET6 && len == 16) {
    a.family = 6;
  } else {
    return std::nullopt;
  }
  std::memcpy(a.bytes.data(), mnl_attr_get_payload(attr), len);
  return a;
}

// An address attribute whose family is given only by its length (NDA_DST of AF_BRIDGE entries).
std::optional<IpAddr> getAddrAnyFamily(const nlattr* attr) {
  uint16_t len = mnl_attr_get_payload_len(attr);
  return getAddr(attr, len == 4 ? AF_INET : AF_INET6);
}

std::optional<uint32_t> getU32(const nlattr* attr) {
  if (mnl_attr_get_payload_len(attr) < sizeof(uint32_t)) {
    return std::nullopt;
  }
  return mnl_attr_get_u32(attr);
}

std::optional<Mac> getMac(const nlattr* attr) {
  if (mnl_attr_get_payload_len(attr) != 6) {
    return std::nullopt;
  }
  Mac m;
  std::memcpy(m.data(), mnl_attr_get_payload(attr), 6);
  return m;
}

std::string getStr(const nlattr* attr) {
  const char* p = static_cast<const char*>(mnl_attr_get_payload(attr));
  return std::string(p, strnlen(p, mnl_attr_get_payload_len(attr)));
}

IpAddr zeroAddr(int af) {
  IpAddr a;
  a.family = af == AF_INET ? 4 : 6;
  return a;
}

// Reads the parts of an RTM_*ROUTE message into a Route, whatever its type.
std::optional<Route> decodeRoute(const nlmsghdr* nlh, bool* cloned) {
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(rtmsg)) {
    return std::nullopt;
  }
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) {
    return std::nullopt;
  }
  *cloned = (rtm->rtm_flags & RTM_F_CLONED) != 0;
  Route r;
  r.dst.addr = zeroAddr(rtm->rtm_family);
  r.dst.prefix = rtm->rtm_dst_len;
  r.type = static_cast<RouteType>(rtm->rtm_type);
  r.table = rtm->rtm_table;
  r.protocol = rtm->rtm_protocol;
  r.scope = rtm->rtm_scope;
  r.onlink = (rtm->rtm_flags & RTNH_F_ONLINK) != 0;
  forEachAttr(nlh, sizeof(rtmsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
    case RTA_DST:
      if (auto a = getAddr(attr, rtm->rtm_family)) {
        r.dst.addr = *a;
      }
      break;
    case RTA_TABLE:
      if (auto v = getU32(attr)) {
        r.table = *v;
      }
      break;
    case RTA_OIF:
      if (auto v = getU32(attr)) {
        r.oif = static_cast<int>(*v);
      }
      break;
    case RTA_PRIORITY:
      if (auto v = getU32(attr)) {
        r.priority = *v;
      }
      break;
    case RTA_GATEWAY:
      r.gateway = getAddr(attr, rtm->rtm_family);
      break;
    case RTA_VIA: {
      uint16_t len = mnl_attr_get_payload_len(attr);
      if (len >= sizeof(rtvia)) {
        const auto* via = static_cast<const rtvia*>(mnl_attr_get_payload(attr));
        size_t alen = len - sizeof(rtvia);
        IpAddr a;
        if ((via->rtvia_family == AF_INET && alen == 4) ||
            (via->rtvia_family == AF_INET6 && alen == 16)) {
          a.family = via->rtvia_family == AF_INET ? 4 : 6;
          std::memcpy(a.bytes.data(), via->rtvia_addr, alen);
          r.gateway = a;
        }
      }
      break;
    }
    case RTA_PREFSRC:
      r.prefsrc = getAddr(attr, rtm->rtm_family);
      break;
    case RTA_MULTIPATH: {
      // Only the first next hop fits a Route; multipath routes are not caracal's.
      uint16_t len = mnl_attr_get_payload_len(attr);
      if (len >= sizeof(rtnexthop)) {
        const auto* nh = static_cast<const rtnexthop*>(mnl_attr_get_payload(attr));
        if (nh->rtnh_len >= sizeof(rtnexthop) && nh->rtnh_len <= len) {
          r.oif = nh->rtnh_ifindex;
          r.onlink = r.onlink || (nh->rtnh_flags & RTNH_F_ONLINK) != 0;
          const char* p = reinterpret_cast<const char*>(nh) + RTNH_ALIGN(sizeof(rtnexthop));
          const char* end = reinterpret_cast<const char*>(nh) + nh->rtnh_len;
          while (p + sizeof(nlattr) <= end) {
            const auto* sub = reinterpret_cast<const nlattr*>(p);
            if (sub->nla_len < sizeof(nlattr) || p + sub->nla_len > end) {
              break;
            }
            if (mnl_attr_get_type(sub) == RTA_GATEWAY) {
              r.gateway = getAddr(sub, rtm->rtm_family);
            }
            p += MNL_ALIGN(sub->nla_len);
          }
        }
      }
      break;
    }
    default:
      break;
    }
  });
  return r;
}

std::string devName(int index, const std::function<std::string(int)>& ifname) {
  std::string n = ifname ? ifname(index) : std::string();
  return n.empty() ? "if" + std::to_string(index) : n;
}

const char* routeTypeName(RouteType t) {
  switch (t) {
  case RouteType::Unicast:
    return "";
  case RouteType::Local:
    return "local ";
  case RouteType::Blackhole:
    return "blackhole ";
  case RouteType::Unreachable:
    return "unreachable ";
  }
  return "";
}

} // namespace

int toAf(int family) {
  switch (family) {
  case 0:
    return AF_UNSPEC;
  case 4:
  case AF_INET:
    return AF_INET;
  case 6:
  case AF_INET6:
    return AF_INET6;
  default:
    return -1;
  }
}

int afOf(const IpAddr& a) { return a.family == 4 ? AF_INET : a.family == 6 ? AF_INET6 : AF_UNSPEC; }

// ---------------------------------------------------------------------------------------- links

nlmsghdr* linkRequest(void* mem, uint16_t type, uint16_t flags, std::string_view name, int index) {
  nlmsghdr* nlh = begin(mem, type, kRequest | flags);
  auto* ifi = extra<ifinfomsg>(nlh);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  if (!name.empty()) {
    putName(nlh, IFLA_IFNAME, name);
  }
  return nlh;
}

nlmsghdr* setLinkFlags(void* mem, std::string_view name, bool up) {
  nlmsghdr* nlh = linkRequest(mem, RTM_SETLINK, 0, name);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = up ? IFF_UP : 0;
  return nlh;
}

nlmsghdr* setLinkMtu(void* mem, std::string_view name, uint32_t mtu) {
  nlmsghdr* nlh = linkRequest(mem, RTM_SETLINK, 0, name);
  mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
  return nlh;
}

nlmsghdr* setLinkMac(void* mem, std::string_view name, const Mac& mac) {
  nlmsghdr* nlh = linkRequest(mem, RTM_SETLINK, 0, name);
  put(nlh, IFLA_ADDRESS, mac.size(), mac.data());
  return nlh;
}

nlmsghdr* setLinkNetns(void* mem, std::string_view name, int netnsFd) {
  nlmsghdr* nlh = linkRequest(mem, RTM_SETLINK, 0, name);
  mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(netnsFd));
  return nlh;
}

nlmsghdr* renameLink(void* mem, int index, std::string_view newName) {
  return linkRequest(mem, RTM_SETLINK, 0, newName, index);
}

nlmsghdr* newVeth(void* mem, const VethSpec& spec) {
  nlmsghdr* nlh = linkRequest(mem, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, spec.name);
  if (spec.mtu != 0) {
    mnl_attr_put_u32(nlh, IFLA_MTU, spec.mtu);
  }
  if (spec.mac) {
    put(nlh, IFLA_ADDRESS, spec.mac->size(), spec.mac->data());
  }
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  putStr(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  // The peer's attributes follow an ifinfomsg of their own, inside the nest.
  extra<ifinfomsg>(nlh)->ifi_family = AF_UNSPEC;
  putName(nlh, IFLA_IFNAME, spec.peerName);
  if (spec.peerNetnsFd >= 0) {
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(spec.peerNetnsFd));
  }
  if (spec.peerMac) {
    put(nlh, IFLA_ADDRESS, spec.peerMac->size(), spec.peerMac->data());
  }
  if (spec.mtu != 0) {
    mnl_attr_put_u32(nlh, IFLA_MTU, spec.mtu);
  }
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);
  return nlh;
}

nlmsghdr* newVxlan(void* mem, const VxlanSpec& spec) {
  nlmsghdr* nlh = linkRequest(mem, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, spec.name);
  if (spec.mtu != 0) {
    mnl_attr_put_u32(nlh, IFLA_MTU, spec.mtu);
  }
  if (!isZero(spec.mac)) {
    put(nlh, IFLA_ADDRESS, spec.mac.size(), spec.mac.data());
  }
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  putStr(nlh, IFLA_INFO_KIND, "vxlan");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, spec.vni);
  if (spec.parentIndex > 0) {
    mnl_attr_put_u32(nlh, IFLA_VXLAN_LINK, static_cast<uint32_t>(spec.parentIndex));
  }
  if (spec.local.family == 4) {
    putAddr(nlh, IFLA_VXLAN_LOCAL, spec.local);
  } else if (spec.local.family == 6) {
    putAddr(nlh, IFLA_VXLAN_LOCAL6, spec.local);
  }
  uint16_t port = htons(spec.port);
  put(nlh, IFLA_VXLAN_PORT, sizeof(port), &port);
  uint8_t learning = spec.learning ? 1 : 0;
  put(nlh, IFLA_VXLAN_LEARNING, sizeof(learning), &learning);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);
  return nlh;
}

nlmsghdr* newLink(void* mem, std::string_view name, std::string_view kind) {
  nlmsghdr* nlh = linkRequest(mem, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name);
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  putName(nlh, IFLA_INFO_KIND, kind);
  mnl_attr_nest_end(nlh, linkinfo);
  return nlh;
}

nlmsghdr* linkDump(void* mem) {
  nlmsghdr* nlh = begin(mem, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
  extra<ifinfomsg>(nlh)->ifi_family = AF_UNSPEC;
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return nlh;
}

std::optional<Link> parseLink(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(ifinfomsg)) {
    return std::nullopt;
  }
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  Link l;
  l.index = ifi->ifi_index;
  l.up = (ifi->ifi_flags & IFF_UP) != 0;
  const nlattr* infoData = nullptr;
  forEachAttr(nlh, sizeof(ifinfomsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
    case IFLA_IFNAME:
      l.name = getStr(attr);
      break;
    case IFLA_ADDRESS:
      if (auto m = getMac(attr)) {
        l.mac = *m;
      }
      break;
    case IFLA_MTU:
      l.mtu = getU32(attr).value_or(0);
      break;
    case IFLA_MASTER:
      l.masterIndex = static_cast<int>(getU32(attr).value_or(0));
      break;
    case IFLA_LINK:
      l.linkIndex = static_cast<int>(getU32(attr).value_or(0));
      break;
    case IFLA_LINKINFO: {
      forEachNested(attr, [&](const nlattr* sub) {
        if (mnl_attr_get_type(sub) == IFLA_INFO_KIND) {
          l.kind = getStr(sub);
        } else if (mnl_attr_get_type(sub) == IFLA_INFO_DATA) {
          infoData = sub;
        }
      });
      break;
    }
    default:
      break;
    }
  });
  if (infoData != nullptr && l.kind == "vxlan") {
    forEachNested(infoData, [&](const nlattr* sub) {
      switch (mnl_attr_get_type(sub)) {
      case IFLA_VXLAN_ID:
        l.vxlanId = getU32(sub).value_or(0);
        break;
      case IFLA_VXLAN_PORT:
        if (mnl_attr_get_payload_len(sub) >= 2) {
          l.vxlanPort = ntohs(mnl_attr_get_u16(sub));
        }
        break;
      case IFLA_VXLAN_LOCAL:
        if (auto a = getAddr(sub, AF_INET)) {
          l.vxlanLocal = a;
        }
        break;
      case IFLA_VXLAN_LOCAL6:
        if (auto a = getAddr(sub, AF_INET6)) {
          l.vxlanLocal = a;
        }
        break;
      case IFLA_VXLAN_LINK:
        l.vxlanParentIndex = static_cast<int>(getU32(sub).value_or(0));
        break;
      case IFLA_VXLAN_LEARNING:
        if (mnl_attr_get_payload_len(sub) >= 1) {
          l.vxlanLearning = mnl_attr_get_u8(sub) != 0;
        }
        break;
      default:
        break;
      }
    });
  }
  return l;
}

// ------------------------------------------------------------------------------------ addresses

nlmsghdr* addressRequest(void* mem, uint16_t type, uint16_t flags, const Address& a) {
  nlmsghdr* nlh = begin(mem, type, kRequest | flags);
  auto* ifa = extra<ifaddrmsg>(nlh);
  ifa->ifa_family = static_cast<uint8_t>(afOf(a.net.addr));
  ifa->ifa_prefixlen = static_cast<uint8_t>(a.net.prefix);
  ifa->ifa_scope = a.scope;
  ifa->ifa_index = static_cast<uint32_t>(a.ifindex);
  putAddr(nlh, IFA_LOCAL, a.net.addr);
  putAddr(nlh, IFA_ADDRESS, a.net.addr);
  return nlh;
}

nlmsghdr* addressDump(void* mem, int af, int ifindex) {
  nlmsghdr* nlh = begin(mem, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
  auto* ifa = extra<ifaddrmsg>(nlh);
  ifa->ifa_family = static_cast<uint8_t>(af);
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  return nlh;
}

std::optional<Address> parseAddress(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(ifaddrmsg)) {
    return std::nullopt;
  }
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  std::optional<IpAddr> local;
  std::optional<IpAddr> address;
  forEachAttr(nlh, sizeof(ifaddrmsg), [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == IFA_LOCAL) {
      local = getAddr(attr, ifa->ifa_family);
    } else if (mnl_attr_get_type(attr) == IFA_ADDRESS) {
      address = getAddr(attr, ifa->ifa_family);
    }
  });
  // IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL is ours when present.
  std::optional<IpAddr> own = local ? local : address;
  if (!own) {
    return std::nullopt;
  }
  Address a;
  a.ifindex = static_cast<int>(ifa->ifa_index);
  a.net = IpNet{*own, ifa->ifa_prefixlen};
  a.scope = ifa->ifa_scope;
  return a;
}

// --------------------------------------------------------------------------------------- routes

nlmsghdr* routeRequest(void* mem, uint16_t type, uint16_t flags, const Route& r) {
  nlmsghdr* nlh = begin(mem, type, kRequest | flags);
  auto* rtm = extra<rtmsg>(nlh);
  int af = afOf(r.dst.addr);
  rtm->rtm_family = static_cast<uint8_t>(af);
  rtm->rtm_dst_len = static_cast<uint8_t>(r.dst.prefix);
  rtm->rtm_table = r.table < 256 ? static_cast<uint8_t>(r.table) : uint8_t{RT_TABLE_UNSPEC};
  rtm->rtm_protocol = r.protocol;
  bool del = type == RTM_DELROUTE;
  if (del) {
    // Deletes match on the key (plus the protocol when set): any scope, any type, any next hop.
    rtm->rtm_scope = RT_SCOPE_NOWHERE;
    rtm->rtm_type = RTN_UNSPEC;
  } else {
    rtm->rtm_scope = r.scope;
    rtm->rtm_type = static_cast<uint8_t>(r.type);
    rtm->rtm_flags = r.onlink ? RTNH_F_ONLINK : 0;
  }
  mnl_attr_put_u32(nlh, RTA_TABLE, r.table);
  if (r.dst.prefix > 0) {
    putAddr(nlh, RTA_DST, r.dst.masked().addr);
  }
  if (r.priority != 0) {
    mnl_attr_put_u32(nlh, RTA_PRIORITY, r.priority);
  }
  if (del) {
    return nlh;
  }
  if (r.oif != 0) {
    mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(r.oif));
  }
  if (r.gateway) {
    if (afOf(*r.gateway) == af) {
      putAddr(nlh, RTA_GATEWAY, *r.gateway);
    } else {
      // A next hop of the other family (IPv4 over an IPv6 next hop).
      char buf[sizeof(rtvia) + 16] = {0};
      auto* via = reinterpret_cast<rtvia*>(buf);
      via->rtvia_family = static_cast<__kernel_sa_family_t>(afOf(*r.gateway));
      size_t alen = r.gateway->family == 4 ? 4 : 16;
      std::memcpy(buf + sizeof(rtvia), r.gateway->bytes.data(), alen);
      put(nlh, RTA_VIA, sizeof(rtvia) + alen, buf);
    }
  }
  if (r.prefsrc) {
    putAddr(nlh, RTA_PREFSRC, *r.prefsrc);
  }
  return nlh;
}

nlmsghdr* routeDump(void* mem, int af, std::optional<uint32_t> table,
                    std::optional<uint8_t> protocol) {
  nlmsghdr* nlh = begin(mem, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP);
  auto* rtm = extra<rtmsg>(nlh);
  rtm->rtm_family = static_cast<uint8_t>(af);
  if (protocol) {
    rtm->rtm_protocol = *protocol;
  }
  if (table) {
    rtm->rtm_table = *table < 256 ? static_cast<uint8_t>(*table) : uint8_t{RT_TABLE_UNSPEC};
    mnl_attr_put_u32(nlh, RTA_TABLE, *table);
  }
  return nlh;
}

std::optional<Route> parseRoute(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWROUTE) {
    return std::nullopt;
  }
  bool cloned = false;
  auto r = decodeRoute(nlh, &cloned);
  if (cloned) {
    return std::nullopt;
  }
  return r;
}

// ---------------------------------------------------------------------------- neighbours and FDB

nlmsghdr* neighborRequest(void* mem, uint16_t type, uint16_t flags, const Neighbor& n) {
  nlmsghdr* nlh = begin(mem, type, kRequest | flags);
  auto* ndm = extra<ndmsg>(nlh);
  ndm->ndm_family = static_cast<uint8_t>(afOf(n.ip));
  ndm->ndm_ifindex = n.ifindex;
  ndm->ndm_state = n.state;
  putAddr(nlh, NDA_DST, n.ip);
  if (type == RTM_NEWNEIGH) {
    put(nlh, NDA_LLADDR, n.mac.size(), n.mac.data());
  }
  return nlh;
}

nlmsghdr* neighborDump(void* mem, int af, int ifindex) {
  nlmsghdr* nlh = begin(mem, RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP);
  auto* ndm = extra<ndmsg>(nlh);
  ndm->ndm_family = static_cast<uint8_t>(af);
  // Strict checking wants the device filter as an attribute, not in the header.
  if (ifindex != 0) {
    mnl_attr_put_u32(nlh, NDA_IFINDEX, static_cast<uint32_t>(ifindex));
  }
  return nlh;
}

nlmsghdr* fdbRequest(void* mem, uint16_t type, uint16_t flags, const FdbEntry& f) {
  nlmsghdr* nlh = begin(mem, type, kRequest | flags);
  auto* ndm = extra<ndmsg>(nlh);
  ndm->ndm_family = AF_BRIDGE;
  ndm->ndm_ifindex = f.ifindex;
  ndm->ndm_state = NUD_PERMANENT;
  ndm->ndm_flags = NTF_SELF;
  put(nlh, NDA_LLADDR, f.mac.size(), f.mac.data());
  if (f.dst.family != 0) {
    putAddr(nlh, NDA_DST, f.dst);
  }
  return nlh;
}

nlmsghdr* fdbDump(void* mem) {
  nlmsghdr* nlh = begin(mem, RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP);
  extra<ndmsg>(nlh)->ndm_family = AF_BRIDGE;
  return nlh;
}

std::optional<Neighbor> parseNeighbor(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(nlh) < sizeof(ndmsg)) {
    return std::nullopt;
  }
  const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) {
    return std::nullopt;
  }
  Neighbor n;
  n.ifindex = ndm->ndm_ifindex;
  n.state = ndm->ndm_state;
  bool haveDst = false;
  forEachAttr(nlh, sizeof(ndmsg), [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == NDA_DST) {
      if (auto a = getAddr(attr, ndm->ndm_family)) {
        n.ip = *a;
        haveDst = true;
      }
    } else if (mnl_attr_get_type(attr) == NDA_LLADDR) {
      if (auto m = getMac(attr)) {
        n.mac = *m;
      }
    }
  });
  if (!haveDst) {
    return std::nullopt;
  }
  return n;
}

std::optional<FdbEntry> parseFdb(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(nlh) < sizeof(ndmsg)) {
    return std::nullopt;
  }
  const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ndm->ndm_family != AF_BRIDGE) {
    return std::nullopt;
  }
  FdbEntry f;
  f.ifindex = ndm->ndm_ifindex;
  bool haveMac = false;
  forEachAttr(nlh, sizeof(ndmsg), [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == NDA_LLADDR) {
      if (auto m = getMac(attr)) {
        f.mac = *m;
        haveMac = true;
      }
    } else if (mnl_attr_get_type(attr) == NDA_DST) {
      if (auto a = getAddrAnyFamily(attr)) {
        f.dst = *a;
      }
    }
  });
  if (!haveMac) {
    return std::nullopt;
  }
  return f;
}

// ---------------------------------------------------------------------------------- describing

std::string describeRoute(const Route& r, const std::function<std::string(int)>& ifname, bool del) {
  std::string s = del ? "delete route " : "route ";
  s += routeTypeName(r.type);
  s += r.dst.masked().str();
  if (r.gateway) {
    s += " via " + r.gateway->str();
  }
  if (r.oif != 0) {
    s += " dev " + devName(r.oif, ifname);
  }
  if (r.onlink) {
    s += " onlink";
  }
  if (r.table != RT_TABLE_MAIN) {
    s += " table " + std::to_string(r.table);
  }
  if (r.priority != 0) {
    s += " metric " + std::to_string(r.priority);
  }
  return s;
}

std::string describe(const nlmsghdr* nlh, const std::function<std::string(int)>& ifname) {
  uint16_t type = nlh->nlmsg_type;
  switch (type) {
  case RTM_NEWROUTE:
  case RTM_DELROUTE: {
    bool cloned = false;
    auto r = decodeRoute(nlh, &cloned);
    if (!r) {
      return "route";
    }
    if (type == RTM_DELROUTE) {
      r->type = RouteType::Unicast;
    }
    return describeRoute(*r, ifname, type == RTM_DELROUTE);
  }
  case RTM_NEWADDR:
  case RTM_DELADDR: {
    auto a = parseAddress(nlh);
    std::string s = type == RTM_DELADDR ? "delete address " : "address ";
    if (!a) {
      return s;
    }
    return s + a->net.str() + " dev " + devName(a->ifindex, ifname);
  }
  case RTM_NEWNEIGH:
  case RTM_DELNEIGH: {
    std::string prefix = type == RTM_DELNEIGH ? "delete " : "";
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ndmsg)) {
      return prefix + "neighbour";
    }
    const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
    std::optional<IpAddr> dst;
    std::optional<Mac> mac;
    forEachAttr(nlh, sizeof(ndmsg), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) == NDA_DST) {
        dst = getAddrAnyFamily(attr);
      } else if (mnl_attr_get_type(attr) == NDA_LLADDR) {
        mac = getMac(attr);
      }
    });
    std::string s;
    if (ndm->ndm_family == AF_BRIDGE) {
      s = prefix + "fdb " + (mac ? macStr(*mac) : std::string("?"));
      if (dst) {
        s += " dst " + dst->str();
      }
    } else {
      s = prefix + "neighbour " + (dst ? dst->str() : std::string("?"));
      if (mac) {
        s += " lladdr " + macStr(*mac);
      }
    }
    return s + " dev " + devName(ndm->ndm_ifindex, ifname);
  }
  case RTM_NEWLINK:
  case RTM_SETLINK:
  case RTM_DELLINK:
  case RTM_GETLINK: {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifinfomsg)) {
      return "link";
    }
    const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    std::string name;
    forEachAttr(nlh, sizeof(ifinfomsg), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) == IFLA_IFNAME) {
        name = getStr(attr);
      }
    });
    if (ifi->ifi_index != 0) {
      std::string old = devName(ifi->ifi_index, ifname);
      return name.empty() || name == old ? "link " + old : "link " + old + " (to " + name + ")";
    }
    return "link " + name;
  }
  default:
    return "netlink message type " + std::to_string(type);
  }
}

} // namespace caracal::netlink::codec
