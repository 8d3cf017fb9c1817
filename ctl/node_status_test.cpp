// caracalctl node status, driven through runCaracalctl against a fake BIRD control socket.
#include "bgp/testing/fake_bird.h"
#include "ctl/ctl.h"
#include "ctl/node_status.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  // Writes confd-status.json next to the socket `socketPath`.
  static void writeStatus(const std::string& socketPath, const std::string& json) {
    std::ofstream(confdStatusPath(socketPath)) << json;
  }

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
  // calicoctl's layout: the first line, then the message as a section of its own.
  EXPECT_EQ(run({"node", "status", "--bird-socket", absent()}), 1);
  EXPECT_EQ(out_.str(), "Calico process is running.\n"
                        "\n"
                        "The BGP backend process (BIRD) is not running.\n"
                        "\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(NodeStatusTest, BirdErrorIsReported) {
  FakeBird bird(FakeBird::Script{{"show protocols", "9001 syntax error\n"}});
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("syntax error"));
  EXPECT_EQ(out_.str(), "Calico process is running.\n");
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("BGP status")));
}

// ---- confd-status.json ----

constexpr const char* kErrorStatus =
    R"({"node": "node1", "time": "2026-11-27T17:30:00Z", "ok": false,)"
    R"( "error": "BGPPeer tor: password secret bgp-secrets/tor not found",)"
    R"( "warnings": ["BGPFilter f1: unknown action Drop"],)"
    R"( "lastGoodTime": "2026-11-27T17:00:00Z", "outcome": "Reloaded"})";

TEST_F(NodeStatusTest, OkStatusAddsNothing) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(bird.path(), R"({"node": "node1", "time": "2026-11-27T17:30:00Z", "ok": true,)"
                           R"( "warnings": [], "lastGoodTime": "2026-11-27T17:30:00Z",)"
                           R"( "outcome": "Written"})");
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0) << err_.str();
  EXPECT_EQ(out_.str(), kExpected);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(NodeStatusTest, OkStatusWithWarningsPrintsThemBeforeThePeers) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(bird.path(), R"({"ok": true, "warnings": ["BGPPeer p1: no peerIP", "second"],)"
                           R"( "lastGoodTime": "2026-11-27T17:30:00Z"})");
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0) << err_.str();
  std::string want = std::string("Calico process is running.\n"
                                 "\n"
                                 "Warning: BGPPeer p1: no peerIP\n"
                                 "Warning: second\n") +
                     (kExpected + std::string("Calico process is running.\n").size());
  EXPECT_EQ(out_.str(), want);
}

TEST_F(NodeStatusTest, ErrorStatusIsPrintedBeforeThePeersAndExitsOne) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(bird.path(), kErrorStatus);
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 1);
  std::string want =
      std::string("Calico process is running.\n"
                  "\n"
                  "BGP configuration error: BGPPeer tor: password secret bgp-secrets/tor not "
                  "found\n"
                  "(BIRD keeps running its last valid configuration, from "
                  "2026-11-27T17:00:00Z)\n"
                  "Warning: BGPFilter f1: unknown action Drop\n") +
      (kExpected + std::string("Calico process is running.\n").size());
  EXPECT_EQ(out_.str(), want);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(NodeStatusTest, ErrorStatusWithoutAnyGoodConfiguration) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(bird.path(),
              R"({"ok": false, "error": "bird -p: syntax error", "lastGoodTime": ""})");
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("BGP configuration error: bird -p: syntax error\n(BIRD keeps "
                                    "running the configuration it was started with"));
  EXPECT_THAT(out_.str(), HasSubstr("| 10.99.0.2 "));
}

TEST_F(NodeStatusTest, ErrorStatusIsShownWhenBirdIsNotRunning) {
  writeStatus(absent(), kErrorStatus);
  EXPECT_EQ(run({"node", "status", "--bird-socket", absent()}), 1);
  EXPECT_EQ(out_.str(), "Calico process is running.\n"
                        "\n"
                        "BGP configuration error: BGPPeer tor: password secret bgp-secrets/tor not "
                        "found\n"
                        "Warning: BGPFilter f1: unknown action Drop\n"
                        "\n"
                        "The BGP backend process (BIRD) is not running.\n"
                        "\n");
}

TEST_F(NodeStatusTest, StatusFileOfTheSocketFromTheEnvironment) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(bird.path(), kErrorStatus);
  vars_[kBirdSocketEnv] = bird.path();
  EXPECT_EQ(run({"node", "status"}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("BGP configuration error: BGPPeer tor"));
}

TEST_F(NodeStatusTest, StatusFileNextToAnotherSocketIsIgnored) {
  // The file belongs to the directory of the socket in use, not to some other one.
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(absent(), kErrorStatus);
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0) << err_.str();
  EXPECT_EQ(out_.str(), kExpected);
}

TEST_F(NodeStatusTest, MissingStatusFileAddsNothing) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  ASSERT_FALSE(std::filesystem::exists(confdStatusPath(bird.path())));
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0);
  EXPECT_EQ(out_.str(), kExpected);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(NodeStatusTest, MalformedStatusFileIsReportedAndTheTablesStillPrinted) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(bird.path(), "{\"ok\": fal");
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0);
  EXPECT_EQ(out_.str(), kExpected);
  EXPECT_THAT(err_.str(), ::testing::StartsWith("Cannot read the BGP configuration status: " +
                                                confdStatusPath(bird.path()) + ": not valid JSON"));
}

TEST_F(NodeStatusTest, StatusFileWithWrongTypesIsReported) {
  FakeBird bird(FakeBird::Script{{"show protocols", kShowProtocols}});
  writeStatus(bird.path(), R"({"ok": "no", "error": "x"})");
  EXPECT_EQ(run({"node", "status", "--bird-socket", bird.path()}), 0);
  EXPECT_EQ(out_.str(), kExpected);
  EXPECT_THAT(err_.str(), HasSubstr("field \"ok\" must be true or false"));
}

TEST(ConfdStatus, ParsesEveryField) {
  auto st = parseConfdStatus(kErrorStatus);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->node, "node1");
  EXPECT_EQ(st->time, "2026-11-27T17:30:00Z");
  EXPECT_FALSE(st->ok);
  EXPECT_EQ(st->error, "BGPPeer tor: password secret bgp-secrets/tor not found");
  EXPECT_THAT(st->warnings, ElementsAre("BGPFilter f1: unknown action Drop"));
  EXPECT_EQ(st->lastGoodTime, "2026-11-27T17:00:00Z");
  EXPECT_EQ(st->outcome, "Reloaded");
}

TEST(ConfdStatus, RejectsMalformedDocuments) {
  for (const char* bad : {"", "[]", "{}", R"({"ok": 1})", R"({"ok": true, "error": 3})",
                          R"({"ok": true, "warnings": "w"})", R"({"ok": true, "warnings": [1]})",
                          R"({"ok": true, "lastGoodTime": false})"}) {
    auto st = parseConfdStatus(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code(), Code::Invalid) << bad;
    EXPECT_FALSE(st.error().message().empty());
  }
}

TEST(ConfdStatus, ReadDistinguishesMissingFromUnreadable) {
  char tmpl[] = "/tmp/ctl-confdstatus-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto missing = readConfdStatus(dir + "/confd-status.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::NotFound);
  // A directory in the file's place cannot be read as a file.
  std::filesystem::create_directory(dir + "/confd-status.json");
  auto unreadable = readConfdStatus(dir + "/confd-status.json");
  ASSERT_FALSE(unreadable);
  EXPECT_NE(unreadable.error().code(), Code::NotFound);
  EXPECT_THAT(unreadable.error().message(), HasSubstr(dir + "/confd-status.json"));
  std::filesystem::remove_all(dir);
}

TEST(ConfdStatus, PathIsNextToTheSocket) {
  EXPECT_EQ(confdStatusPath("/var/run/calico/bird.ctl"), "/var/run/calico/confd-status.json");
  EXPECT_EQ(confdStatusPath("bird.ctl"), "./confd-status.json");
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
