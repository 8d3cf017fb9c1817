#pragma once
// rtnetlink message codec: builders that write one request into caller memory and parsers that
// turn one kernel message into a value. Pure (no sockets, no syscalls), so that the transport in
// netlink.cpp stays a thin layer and the encoding can be checked byte for byte.
//
// Builders write at most kMaxRequest bytes at `mem` (4-byte aligned) and return the header; the
// caller assigns nlmsg_seq. Parsers validate every attribute length they read and return
// std::nullopt for messages that are not what they expect (wrong type, truncated, cloned route).

#include "netlink/netlink.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

struct nlmsghdr;

namespace caracal::netlink::codec {

inline constexpr size_t kMaxRequest = 1024;

// 4 or AF_INET -> AF_INET, 6 or AF_INET6 -> AF_INET6, 0 -> 0 (AF_UNSPEC); anything else -1.
int toAf(int family);
int afOf(const IpAddr& a); // AF_INET / AF_INET6 / 0

// ---- requests
nlmsghdr* linkRequest(void* mem, uint16_t type, uint16_t flags, std::string_view name,
                      int index = 0);
nlmsghdr* setLinkFlags(void* mem, std::string_view name, bool up);
nlmsghdr* setLinkMtu(void* mem, std::string_view name, uint32_t mtu);
nlmsghdr* setLinkMac(void* mem, std::string_view name, const Mac& mac);
nlmsghdr* setLinkNetns(void* mem, std::string_view name, int netnsFd);
nlmsghdr* renameLink(void* mem, int index, std::string_view newName);
nlmsghdr* newVeth(void* mem, const VethSpec& spec);
nlmsghdr* newVxlan(void* mem, const VxlanSpec& spec);
nlmsghdr* newLink(void* mem, std::string_view name, std::string_view kind);
nlmsghdr* linkDump(void* mem);

nlmsghdr* addressRequest(void* mem, uint16_t type, uint16_t flags, const Address& a);
nlmsghdr* addressDump(void* mem, int af, int ifindex);

nlmsghdr* routeRequest(void* mem, uint16_t type, uint16_t flags, const Route& r);
// Kernel-side filters (honoured with NETLINK_GET_STRICT_CHK; the caller filters again).
nlmsghdr* routeDump(void* mem, int af, std::optional<uint32_t> table,
                    std::optional<uint8_t> protocol);

nlmsghdr* neighborRequest(void* mem, uint16_t type, uint16_t flags, const Neighbor& n);
nlmsghdr* neighborDump(void* mem, int af, int ifindex);
nlmsghdr* fdbRequest(void* mem, uint16_t type, uint16_t flags, const FdbEntry& f);
nlmsghdr* fdbDump(void* mem);

// ---- replies
std::optional<Link> parseLink(const nlmsghdr* nlh);
std::optional<Address> parseAddress(const nlmsghdr* nlh);
// std::nullopt also for RTM_F_CLONED (cache) entries.
std::optional<Route> parseRoute(const nlmsghdr* nlh);
std::optional<Neighbor> parseNeighbor(const nlmsghdr* nlh);
std::optional<FdbEntry> parseFdb(const nlmsghdr* nlh);

// A short text naming the object a request is about, for error messages:
// "route 10.244.3.0/26 via 10.99.0.12 dev tunl0", "address 10.0.0.1/32 dev eth0",
// "link cali12345". `ifname` maps an index to a name ("" when unknown).
std::string describe(const nlmsghdr* nlh, const std::function<std::string(int)>& ifname);

// The same text for a Route value (used by callers that hold the value).
std::string describeRoute(const Route& r, const std::function<std::string(int)>& ifname,
                          bool del = false);

} // namespace caracal::netlink::codec
