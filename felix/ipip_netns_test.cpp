// tunl0 in a private namespace: user-space mode always; kernel mode only where the kernel has the
// ipip module (skipped with a message otherwise).
#include "felix/ipip_manager.h"
#include "felix/netns_fixture.h"

namespace caracal::felix {
namespace {

IpipDeviceConfig config() {
  IpipDeviceConfig c;
  c.local = *api::parseIp("10.99.0.1");
  c.mtu = 1480;
  c.address = *api::parseCidr("10.244.1.1/32");
  return c;
}

std::vector<IpipPeer> peers() {
  return {IpipPeer{*api::parseCidr("10.244.2.0/26"), *api::parseIp("10.99.0.2")}};
}

TEST(IpipNetns, UserspaceTunl0FollowsConfiguration) {
  FELIX_REQUIRE_NETNS();
  auto ns = testing::makeNetns("ipu");
  ASSERT_TRUE(ns);
  ASSERT_EQ(ns->ip("link add eth0 type veth peer name eth1").rc, 0);
  ASSERT_EQ(ns->ip("addr add 10.99.0.1/24 dev eth0").rc, 0);
  ASSERT_EQ(ns->ip("link set eth0 up").rc, 0);
  Status st = netlink::inNetns(ns->path(), [&]() -> Status {
    ASSIGN_OR_RETURN(auto mgr, IpipManager::create(IpipManager::Mode::Userspace));
    ASSIGN_OR_RETURN(int idx, mgr->ensure(config(), peers()));
    EXPECT_GT(idx, 0);
    auto shown = ns->ip("addr show dev tunl0");
    EXPECT_NE(shown.output.find("mtu 1480"), std::string::npos) << shown.output;
    EXPECT_NE(shown.output.find("10.244.1.1/32"), std::string::npos) << shown.output;
    // Same configuration: the same device, no restart.
    ASSIGN_OR_RETURN(int again, mgr->ensure(config(), peers()));
    EXPECT_EQ(again, idx);
    // A new MTU restarts the tunnel on the same (persistent) device.
    IpipDeviceConfig c = config();
    c.mtu = 1400;
    ASSIGN_OR_RETURN(int restarted, mgr->ensure(c, peers()));
    EXPECT_EQ(restarted, idx);
    EXPECT_NE(ns->ip("link show dev tunl0").output.find("mtu 1400"), std::string::npos);
    // Not wanted any more: gone.
    ASSIGN_OR_RETURN(int none, mgr->ensure(std::nullopt, {}));
    EXPECT_EQ(none, 0);
    EXPECT_NE(ns->ip("link show dev tunl0").rc, 0);
    return {};
  });
  ASSERT_TRUE(st) << st.message();
}

TEST(IpipNetns, KernelTunl0) {
  FELIX_REQUIRE_NETNS();
  auto ns = testing::makeNetns("ipk");
  ASSERT_TRUE(ns);
  bool kernel = false;
  ASSERT_TRUE(netlink::inNetns(ns->path(), [&]() -> Status {
    kernel = IpipManager::detectMode() == IpipManager::Mode::Kernel;
    return {};
  }));
  if (!kernel) {
    GTEST_SKIP() << "this kernel has no ipip module: kernel tunl0 cannot be created here (the "
                    "user-space tunnel is used instead)";
  }
  Status st = netlink::inNetns(ns->path(), [&]() -> Status {
    ASSIGN_OR_RETURN(auto mgr, IpipManager::create(IpipManager::Mode::Kernel));
    ASSIGN_OR_RETURN(int idx, mgr->ensure(config(), peers()));
    EXPECT_GT(idx, 0);
    auto shown = ns->ip("-d addr show dev tunl0");
    EXPECT_NE(shown.output.find("ipip"), std::string::npos) << shown.output;
    EXPECT_NE(shown.output.find("10.244.1.1/32"), std::string::npos) << shown.output;
    EXPECT_NE(shown.output.find("mtu 1480"), std::string::npos) << shown.output;
    ASSIGN_OR_RETURN(int none, mgr->ensure(std::nullopt, {}));
    EXPECT_EQ(none, 0);
    EXPECT_EQ(ns->ip("addr show dev tunl0").output.find("10.244.1.1"), std::string::npos);
    return {};
  });
  ASSERT_TRUE(st) << st.message();
}

} // namespace
} // namespace caracal::felix
