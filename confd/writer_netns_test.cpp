// ConfigWriter against a real BIRD 2 running in a network namespace created for this test; needs
// root and /usr/sbin/bird.

#include "bgp/birdctl.h"
#include "bgp/testing/bird_in_netns.h"
#include "confd/writer.h"

#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

namespace caracal::confd {
namespace {

using bgp::testing::BirdInNetns;
using bgp::testing::kBirdBinary;

std::string config(bool withPeer) {
  std::string c = "router id 10.99.0.1;\nprotocol device {}\n";
  if (withPeer) {
    c += "protocol bgp Mesh_10_99_0_7 {\n  local as 64512;\n  neighbor 10.99.0.7 as 64512;\n"
         "  ipv4 { import all; export none; };\n}\n";
  }
  return c;
}

bool hasProtocol(const std::vector<bgp::ProtocolStatus>& ps, const std::string& name) {
  for (const auto& p : ps) {
    if (p.name == name) {
      return true;
    }
  }
  return false;
}

TEST(RealBird, WriteReloadsAndKeepsRunningConfigOnError) {
  if (::geteuid() != 0 || ::access(kBirdBinary, X_OK) != 0) {
    GTEST_SKIP() << "needs root and " << kBirdBinary;
  }
  BirdInNetns bird("confdtest");
  ConfigWriter writer({.configPath = bird.configPath(), .socketPath = bird.socketPath()});

  // BIRD not running yet: the file is written, nothing to reload.
  auto r = writer.write(config(false));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, WriteOutcome::Written);
  ASSERT_TRUE(bird.start());

  auto client = bgp::BirdClient::connect(bird.socketPath());
  ASSERT_TRUE(client) << client.error().str();
  auto protos = client->showProtocols();
  ASSERT_TRUE(protos) << protos.error().str();
  EXPECT_FALSE(hasProtocol(*protos, "Mesh_10_99_0_7"));

  r = writer.write(config(true));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, WriteOutcome::Reloaded);
  protos = client->showProtocols();
  ASSERT_TRUE(protos) << protos.error().str();
  EXPECT_TRUE(hasProtocol(*protos, "Mesh_10_99_0_7"));

  r = writer.write(config(true));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, WriteOutcome::Unchanged);

  r = writer.write("router id 10.99.0.1;\nprotocol nonsense {}\n");
  EXPECT_EQ(r.code(), Code::Invalid);
  protos = client->showProtocols();
  ASSERT_TRUE(protos) << protos.error().str();
  EXPECT_TRUE(hasProtocol(*protos, "Mesh_10_99_0_7"));
}

} // namespace
} // namespace caracal::confd
