// caracalctl node status, driven through runCaracalctl against a fake BIRD control socket.
#include "bgp/testing/fake_bird.h"
#include "ctl/ctl.h"
#include "ctl/node_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <map>
#include <sstream>

namespace caracal::ctl {
namespace {

using bgp::testing::FakeBird;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// BIRD 2.0.12's reply to `show protocols` with one established mesh peer and one idle global peer.
constexpr const char* kShowProtocols =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-device1    Device     ---        up     16:34:47.356  \n"
    " Mesh_10_99_0_2 BGP        ---        up     16:35:01.002  Established   \n"
    " Global_10_99_0_3_port_1179 BGP        ---        start  16:34:47.356  Idle          \n"
    "0000 \n";

constexpr const char* kExpected =
    "Calico process is running.\n"
    "\n"
    "IPv4 BGP status\n"
    "+----------------+-------------------+-------+--------------+-------------+\n"
    "|  PEER ADDRESS  |     PEER TYPE     | STATE |    SINCE     |    INFO     |\n"
    "+----------------+-------------------+-------+--------------+-------------+\n"
    "| 10.99.0.2      | node-to-node mesh | up    | 16:35:01.002 | Established |\n"
    "| 10.99.0.3:1179 | global            | start | 16:34:47.356 | Idle        |\n"
    "+----------------+-------------------+-------+--------------+-------------+\n"
    "\n"
    "IPv6 BGP status\n"
    "No IPv6 peers found.\n"
    "\n";

class NodeStatusTest : public ::testing::Test {
protected:
  void SetUp() override {
    env_.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      if (it == vars_.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    char tmpl[] = "/tmp/ctl-nodestatus-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return runCaracalctl(args, out_, err_, env_);
  }
  std::string absent() const { return dir_ + "/absent.ctl"; }

  std::map<std::string, std::string> vars_;
  CtlEnv env_;
  std::string dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(NodeStatusTest, PrintsPeersFromTheGivenSocket) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0) << err_.str();
  EXPECT_EQ(out_.str(), kExpected);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(NodeStatusTest, EnvironmentNamesTheSocket) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  vars_[kBirdSocketEnv] = bird.path();
  EXPECT_EQ(run({"node", "status"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("| 10.99.0.2 "));
}

TEST_F(NodeStatusTest, FlagWinsOverEnvironment) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  vars_[kBirdSocketEnv] = absent();
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Calico process is running."));
}

TEST_F(NodeStatusTest, NoBirdIsReportedWithExitOne) {
  EXPECT_EQ(run({"node", "status", "--bird-socket", absent()}), 1);
  EXPECT_EQ(out_.str(), "The BGP backend process (BIRD) is not running.\n");
}

TEST_F(NodeStatusTest, BirdErrorIsReported) {
  FakeBird bird(FakeBird::Script{{"show protocols", "9001 syntax error\n"}});
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("syntax error"));
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("Calico process is running.")));
}

TEST_F(NodeStatusTest, NodeNeedsASubcommand) { EXPECT_EQ(run({"node"}), 1); }

TEST(BirdSocketCandidates, FlagThenEnvironmentThenDefaults) {
  datastore::EnvLookup none = [](const std::string&) -> std::optional<std::string> {
    return std::nullopt;
  };
  datastore::EnvLookup set = [](const std::string& n) -> std::optional<std::string> {
    return n == kBirdSocketEnv ? std::optional<std::string>("/e.ctl") : std::nullopt;
  };
  EXPECT_THAT(birdSocketCandidates("", none),
              ElementsAre("/var/run/calico/bird.ctl", "/var/run/bird/bird.ctl"));
  EXPECT_THAT(birdSocketCandidates("", set), ElementsAre("/e.ctl"));
  EXPECT_THAT(birdSocketCandidates("/f.ctl", set), ElementsAre("/f.ctl"));
}

} // namespace
} // namespace caracal::ctl
