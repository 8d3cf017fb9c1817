// Drives a real BIRD 2 over its control socket. BIRD runs inside a network namespace created for
// this test, so nothing reaches the host's routing; needs root and /usr/sbin/bird.

#include "bgp/birdctl.h"
#include "bgp/testing/bird_in_netns.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace caracal::bgp {
namespace {

using testing::BirdInNetns;
constexpr const char* kBird = testing::kBirdBinary;

std::string config(const std::vector<std::string>& peers) {
  std::string c = "router id 10.99.0.1;\nprotocol device {}\n";
  for (const auto& p : peers) {
    std::string name = p;
    for (char& ch : name) {
      if (ch == '.') {
        ch = '_';
      }
    }
    c += "protocol bgp Mesh_" + name + " {\n  local as 64512;\n  neighbor " + p +
         " as 64512;\n  ipv4 { import all; export none; };\n}\n";
  }
  return c;
}

const ProtocolStatus* find(const std::vector<ProtocolStatus>& ps, const std::string& name) {
  for (const auto& p : ps) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

TEST(RealBird, ShowProtocolsConfigureAndStatus) {
  if (::geteuid() != 0 || ::access(kBird, X_OK) != 0) {
    GTEST_SKIP() << "needs root and " << kBird;
  }
  BirdInNetns bird("bgptest");
  bird.writeConfig(config({"10.99.0.2"}));
  ASSERT_TRUE(bird.start());

  auto client = BirdClient::connect(bird.socketPath());
  ASSERT_TRUE(client) << client.error().str();
  EXPECT_EQ(client->greeting().rfind("BIRD 2.", 0), 0u) << client->greeting();

  auto protos = client->showProtocols();
  ASSERT_TRUE(protos) << protos.error().str();
  const ProtocolStatus* mesh = find(*protos, "Mesh_10_99_0_2");
  ASSERT_NE(mesh, nullptr);
  EXPECT_EQ(mesh->proto, "BGP");
  EXPECT_EQ(mesh->table, "---");
  EXPECT_EQ(mesh->state, "start"); // no neighbour exists, so the session never comes up
  EXPECT_TRUE(mesh->info.rfind("Active", 0) == 0 || mesh->info.rfind("Connect", 0) == 0 ||
              mesh->info.rfind("Idle", 0) == 0)
      << mesh->info;
  auto rows = peerRows(*protos);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].peerAddress, "10.99.0.2");
  EXPECT_EQ(rows[0].type, "node-to-node mesh");
  EXPECT_NE(formatNodeStatus(rows).find("| 10.99.0.2    | node-to-node mesh | start |"),
            std::string::npos);

  auto status = client->showStatus();
  ASSERT_TRUE(status) << status.error().str();
  EXPECT_NE(status->find("Router ID is 10.99.0.1"), std::string::npos) << *status;

  // A new peer appears after configure.
  bird.writeConfig(config({"10.99.0.2", "10.99.0.3"}));
  Status st = client->configure();
  ASSERT_TRUE(st.isOk()) << st.str();
  protos = client->showProtocols();
  ASSERT_TRUE(protos);
  EXPECT_NE(find(*protos, "Mesh_10_99_0_3"), nullptr);

  // A broken config is refused with BIRD's message and the running config stays.
  bird.writeConfig("router id 10.99.0.1;\nprotocol nonsense {}\n");
  st = client->configure();
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_NE(st.message().find("bird.conf:2:"), std::string::npos) << st.message();
  protos = client->showProtocols();
  ASSERT_TRUE(protos);
  EXPECT_NE(find(*protos, "Mesh_10_99_0_3"), nullptr);

  auto bad = client->command("show bogus");
  EXPECT_EQ(bad.code(), Code::Invalid);
  auto none = client->command("show protocols all Mesh_10_99_0_9");
  EXPECT_FALSE(none);
}

} // namespace
} // namespace caracal::bgp
