#pragma once
// rtnetlink over libmnl: links, addresses, routes, neighbours and FDB entries, in any network
// namespace, with batched writes.
//
// A Socket is bound to the network namespace it was opened in (Socket::open() with a path such as
// /var/run/netns/x or /proc/<pid>/ns/net enters that namespace on the calling thread only for the
// socket() call, then returns). Every request carries NLM_F_ACK; a Batch sends many requests in as
// few sendmsg() calls as fit in the buffer and reports the kernel's answer per request, so that one
// failed route in ten thousand names itself and the others still apply.
//
// Objects created by caracal are recognisable: routes carry protocol kRouteProtocol, interfaces
// use the prefixes "cali" (workloads), "vxlan.calico", "tunl0" and "caracal".

#include "api/netaddr.h"
#include "common/result.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::netlink {

using api::IpAddr;
using api::IpNet;

// The rtnetlink protocol number stamped on every route caracal programs (RTPROT_*: values above
// RTPROT_STATIC are free for routing daemons; BIRD uses 12, Calico's felix 80).
inline constexpr uint8_t kRouteProtocol = 80;

using Mac = std::array<uint8_t, 6>;
std::string macStr(const Mac& m); // "ee:ee:ee:ee:ee:ee"
std::optional<Mac> parseMac(std::string_view text);

struct Link {
  int index = 0;
  std::string name;
  std::string kind; // IFLA_INFO_KIND: "veth", "vxlan", "tun", "bridge", "" for plain devices
  Mac mac{};
  uint32_t mtu = 0;
  bool up = false; // IFF_UP
  int masterIndex = 0;
  int linkIndex = 0; // IFLA_LINK (veth peer index in the peer's namespace, vxlan parent)
  // vxlan only
  uint32_t vxlanId = 0;
  uint16_t vxlanPort = 0;
  std::optional<IpAddr> vxlanLocal;
  int vxlanParentIndex = 0;
  bool vxlanLearning = false;
};

struct VethSpec {
  std::string name;       // this end, in the socket's namespace
  std::string peerName;   // the other end
  int peerNetnsFd = -1;   // where the peer goes (-1: same namespace)
  std::optional<Mac> mac; // of this end
  std::optional<Mac> peerMac;
  uint32_t mtu = 0; // both ends; 0 = kernel default
};

struct VxlanSpec {
  std::string name = "vxlan.calico";
  uint32_t vni = 4096;
  uint16_t port = 4789;
  IpAddr local;        // the node's underlay address
  int parentIndex = 0; // the underlay interface (IFLA_VXLAN_LINK); 0 = none
  Mac mac{};
  uint32_t mtu = 0;
  bool learning = false;
};

struct Address {
  int ifindex = 0;
  IpNet net;         // address and prefix length, e.g. 10.0.0.5/24
  uint8_t scope = 0; // RT_SCOPE_UNIVERSE
};

enum class RouteType : uint8_t { Unicast = 1, Local = 2, Blackhole = 6, Unreachable = 7 };

struct Route {
  IpNet dst; // masked destination; 0.0.0.0/0 for the default
  RouteType type = RouteType::Unicast;
  uint32_t table = 254; // RT_TABLE_MAIN
  uint8_t protocol = kRouteProtocol;
  uint8_t scope = 0; // RT_SCOPE_UNIVERSE; RT_SCOPE_LINK = 253
  int oif = 0;       // output interface index, 0 = none
  std::optional<IpAddr> gateway;
  std::optional<IpAddr> prefsrc;
  uint32_t priority = 0; // metric
  bool onlink = false;   // RTNH_F_ONLINK

  // The identity the kernel uses for replace/delete: family, table, dst, priority (tos 0).
  std::string key() const;
  bool operator==(const Route&) const = default;
};

struct Neighbor {
  int ifindex = 0;
  IpAddr ip;
  Mac mac{};
  uint16_t state = 0x80; // NUD_PERMANENT
  bool operator==(const Neighbor&) const = default;
};

// A bridge forwarding entry (AF_BRIDGE neighbour): for vxlan, MAC -> remote VTEP underlay address.
struct FdbEntry {
  int ifindex = 0;
  Mac mac{};
  IpAddr dst;
  bool operator==(const FdbEntry&) const = default;
};

class Socket;

// Requests collected and sent together. Each add*() queues one message; send() returns one Status
// per queued message, in order (ok, or the kernel's errno as a Status naming the object).
class Batch {
public:
  explicit Batch(Socket& sock);
  ~Batch();
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void replaceRoute(const Route& r); // RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE
  void deleteRoute(const Route& r);  // RTM_DELROUTE; ESRCH (already gone) counts as ok
  void replaceNeighbor(const Neighbor& n);
  void deleteNeighbor(const Neighbor& n);
  void appendFdb(const FdbEntry& f); // NLM_F_CREATE | NLM_F_APPEND
  // NLM_F_CREATE | NLM_F_REPLACE: for a unicast MAC this also moves an existing entry to a new
  // `dst` (append leaves an existing unicast entry as it is).
  void replaceFdb(const FdbEntry& f);
  void deleteFdb(const FdbEntry& f);    // ENOENT counts as ok
  void addAddress(const Address& a);    // EEXIST counts as ok
  void deleteAddress(const Address& a); // EADDRNOTAVAIL counts as ok
  size_t size() const;
  // Sends everything queued and clears the batch.
  std::vector<Status> send();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Socket {
public:
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // A NETLINK_ROUTE socket in the current namespace ("") or in the namespace at `netnsPath`.
  static Result<std::unique_ptr<Socket>> open(const std::string& netnsPath = "");

  // ---- links
  Result<std::vector<Link>> links();
  Result<Link> link(std::string_view name); // Code::NotFound when absent
  Result<Link> link(int index);
  Status createVeth(const VethSpec& spec);
  Status createVxlan(const VxlanSpec& spec); // Code::AlreadyExists when the name is taken
  // A link of a kind that needs no parameters ("dummy", "bridge", "ipip", ...). Fails with the
  // kernel's answer when the kind is not available (no module).
  Status createLink(std::string_view name, std::string_view kind);
  Status deleteLink(std::string_view name); // ok when absent
  Status setUp(std::string_view name, bool up = true);
  Status setMtu(std::string_view name, uint32_t mtu);
  Status setMac(std::string_view name, const Mac& mac);
  Status rename(std::string_view name, std::string_view newName);
  // Moves the link into the namespace of `netnsFd` (IFLA_NET_NS_FD).
  Status moveToNetns(std::string_view name, int netnsFd);

  // ---- addresses
  Result<std::vector<Address>> addresses(int family = 0, int ifindex = 0);
  Status addAddress(const Address& a);
  Status deleteAddress(const Address& a);

  // `family` arguments accept 4 / 6 or AF_INET / AF_INET6; 0 means both (all).
  // A Socket is not thread-safe: one per thread, or a lock around it.

  // ---- routes (dumps are filtered client-side by table and protocol when given)
  // deleteRoute matches the key (family, table, dst, priority when non-zero) and the protocol
  // when non-zero (the default kRouteProtocol keeps other owners' routes safe); never the next
  // hop. IPv6: the kernel stores priority 0 as 1024, so program IPv6 routes with 1024 to compare
  // equal with dumps.
  Result<std::vector<Route>> routes(int family, std::optional<uint32_t> table = 254,
                                    std::optional<uint8_t> protocol = std::nullopt);
  Status replaceRoute(const Route& r);
  Status deleteRoute(const Route& r);

  // ---- neighbours and FDB
  Result<std::vector<Neighbor>> neighbors(int family, int ifindex = 0);
  Result<std::vector<FdbEntry>> fdb(int ifindex);
  Status replaceNeighbor(const Neighbor& n);
  Status deleteNeighbor(const Neighbor& n); // ok when absent
  Status appendFdb(const FdbEntry& f);
  Status replaceFdb(const FdbEntry& f);
  Status deleteFdb(const FdbEntry& f); // ok when absent

  // The low-level exchange used by Batch: sends the messages in `buf` and collects the acks.
  struct Raw;
  Raw& raw();

private:
  Socket();
  std::unique_ptr<Raw> raw_;
};

// Runs `fn` with the calling thread inside the namespace at `netnsPath`, then returns to the
// original namespace (even on error). For sysctls and other per-namespace files.
Status inNetns(const std::string& netnsPath, const std::function<Status()>& fn);

// Writes `value` to the file at `path` (a /proc/sys path, see confPath()) as seen from the calling
// thread's namespace; the error names the path.
Status setSysctl(const std::string& path, std::string_view value);
Result<std::string> getSysctl(const std::string& path);
// "/proc/sys/net/ipv4/conf/<ifname>/<name>" (no dot translation; safe for vxlan.calico).
std::string confPath(int family, std::string_view ifname, std::string_view name);
// The sysctls of a workload's host-side interface, as Calico sets them: IPv4 proxy_arp=1,
// forwarding=1, route_localnet=1 and neigh proxy_delay=0; IPv6 proxy_ndp=1, accept_ra=0,
// forwarding=1. Used by the CNI plugin at ADD and by the agent when it repairs drift.
Status configureWorkloadSysctls(std::string_view ifname, bool ipv4, bool ipv6);

} // namespace caracal::netlink
