#include "felix/ipip_manager.h"

#include <functional>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/rtnetlink.h>
#include <map>
#include <string>

namespace caracal::felix {
namespace {

TEST(IpipLinkRequest, CarriesNameKindAndPmtuDiscovery) {
  alignas(nlmsghdr) char buf[512] = {};
  nlmsghdr* nlh = buildIpipLinkRequest(buf, "tunl0", 7);
  EXPECT_EQ(nlh->nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(nlh->nlmsg_seq, 7u);
  EXPECT_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  EXPECT_EQ(ifi->ifi_family, AF_UNSPEC);
  EXPECT_EQ(ifi->ifi_index, 0);

  // libmnl's iteration macros do not compile as C++; walk the attributes by hand.
  auto walk = [](void* start, void* end, const std::function<void(nlattr*)>& fn) {
    auto* a = static_cast<nlattr*>(start);
    while (mnl_attr_ok(a, static_cast<int>(static_cast<char*>(end) - reinterpret_cast<char*>(a)))) {
      fn(a);
      a = mnl_attr_next(a);
    }
  };
  auto nested = [&](nlattr* a, const std::function<void(nlattr*)>& fn) {
    char* payload = static_cast<char*>(mnl_attr_get_payload(a));
    walk(payload, payload + mnl_attr_get_payload_len(a), fn);
  };
  std::string name, kind;
  int pmtudisc = -1;
  walk(mnl_nlmsg_get_payload_offset(nlh, sizeof(ifinfomsg)), mnl_nlmsg_get_payload_tail(nlh),
       [&](nlattr* attr) {
         if (mnl_attr_get_type(attr) == IFLA_IFNAME) {
           name = mnl_attr_get_str(attr);
         } else if (mnl_attr_get_type(attr) == IFLA_LINKINFO) {
           nested(attr, [&](nlattr* inner) {
             if (mnl_attr_get_type(inner) == IFLA_INFO_KIND) {
               kind = mnl_attr_get_str(inner);
             } else if (mnl_attr_get_type(inner) == IFLA_INFO_DATA) {
               nested(inner, [&](nlattr* data) {
                 if (mnl_attr_get_type(data) == IFLA_IPTUN_PMTUDISC) {
                   pmtudisc = mnl_attr_get_u8(data);
                 }
               });
             }
           });
         }
       });
  EXPECT_EQ(name, "tunl0");
  EXPECT_EQ(kind, "ipip");
  EXPECT_EQ(pmtudisc, 1);
  EXPECT_EQ(nlh->nlmsg_len % 4, 0u);
}

TEST(IpipPeerTable, AddsSourcesWithoutARoutedBlock) {
  IpAddr n2 = *api::parseIp("10.0.0.2");
  IpAddr n4 = *api::parseIp("10.0.0.4");
  std::vector<IpipPeer> peers = {{*api::parseCidr("10.244.2.0/26"), n2},
                                 {*api::parseCidr("10.244.9.7/32"), n2}};
  auto table = ipipPeerTable(peers, {n2, n4});
  using Entry = std::pair<IpNet, IpAddr>;
  EXPECT_EQ(table, (std::vector<Entry>{{*api::parseCidr("10.244.2.0/26"), n2},
                                       {*api::parseCidr("10.244.9.7/32"), n2},
                                       {IpNet{n4, 32}, n4}}));
  EXPECT_EQ(ipipPeerTable({}, {}).size(), 0u);
}

} // namespace
} // namespace caracal::felix
