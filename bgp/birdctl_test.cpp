#include "bgp/birdctl.h"
#include "bgp/testing/fake_bird.h"

#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace caracal::bgp {
namespace {

// Captured from BIRD 2.0.12 (`show protocols`, `show status`, `configure`, errors).
constexpr const char* kShowProtocols =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-device1    Device     ---        up     16:34:47.356  \n"
    " Mesh_10_99_0_2 BGP        ---        start  16:34:47.356  Active        \n"
    " Global_10_99_0_3_port_1179 BGP        ---        start  16:34:47.356  Idle          \n"
    "0000 \n";
constexpr const char* kShowStatus = "1000-BIRD 2.0.12\n"
                                    "1011-Router ID is 10.99.0.1\n"
                                    " Hostname is vm\n"
                                    " Current server time is 2026-11-27 16:34:50.837\n"
                                    " Last reboot on 2026-11-27 16:34:47.356\n"
                                    " Last reconfiguration on 2026-11-27 16:34:47.356\n"
                                    "0013 Daemon is up and running\n";
constexpr const char* kConfigure = "0002-Reading configuration from bird.conf\n0003 Reconfigured\n";
constexpr const char* kSyntaxError = "9001 syntax error, unexpected CF_SYM_UNDEFINED\n";

TEST(ReplyParse, SplitsCodesAndContinuations) {
  auto reply = parseReply(kShowProtocols);
  ASSERT_TRUE(reply) << reply.error().str();
  ASSERT_EQ(reply->size(), 5u);
  EXPECT_EQ((*reply)[0].code, kReplyProtocolHeading);
  EXPECT_EQ((*reply)[1].code, kReplyProtocolList);
  EXPECT_EQ((*reply)[2], (ReplyLine{1002, "Mesh_10_99_0_2 BGP        ---        start  "
                                          "16:34:47.356  Active        "}));
  EXPECT_EQ((*reply)[3].code, 1002);
  EXPECT_EQ((*reply)[4], (ReplyLine{0, ""}));
}

TEST(ReplyParse, StatusContinuationsKeepTheirCode) {
  auto reply = parseReply(kShowStatus);
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->size(), 7u);
  EXPECT_EQ((*reply)[2], (ReplyLine{1011, "Hostname is vm"}));
  EXPECT_EQ(reply->back(), (ReplyLine{13, "Daemon is up and running"}));
  EXPECT_TRUE(replyStatus(*reply).isOk());
}

TEST(ReplyParse, RejectsMalformedAndUnterminated) {
  EXPECT_EQ(parseReply("1002-row\n").code(), Code::BadRequest);         // no final line
  EXPECT_EQ(parseReply("12 short\n").code(), Code::BadRequest);         // not four digits
  EXPECT_EQ(parseReply(" lonely\n0000 \n").code(), Code::BadRequest);   // continuation first
  EXPECT_EQ(parseReply("0000 \n1002-late\n").code(), Code::BadRequest); // text after the end
  auto spontaneous = parseReply("+hello\n0000 \n");
  ASSERT_TRUE(spontaneous);
  EXPECT_EQ(spontaneous->size(), 1u);
}

TEST(ReplyParse, ErrorsCarryBirdsText) {
  auto parse = parseReply(kSyntaxError);
  ASSERT_TRUE(parse);
  Status st = replyStatus(*parse);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_EQ(st.message(), "syntax error, unexpected CF_SYM_UNDEFINED");

  auto config = parseReply("0002-Reading configuration from /x.conf\n"
                           "8002 /x.conf:3:5 syntax error\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(replyStatus(*config).code(), Code::Invalid);
  EXPECT_EQ(replyStatus(*config).message(), "/x.conf:3:5 syntax error");

  auto missing = parseReply("8003 No protocols match\n");
  ASSERT_TRUE(missing);
  EXPECT_EQ(replyStatus(*missing).code(), Code::NotFound);
}

TEST(Protocols, ParsesBird2Rows) {
  auto reply = parseReply(kShowProtocols);
  ASSERT_TRUE(reply);
  auto protos = parseProtocols(*reply);
  ASSERT_EQ(protos.size(), 3u);
  EXPECT_EQ(protos[0], (ProtocolStatus{"device1", "Device", "---", "up", "16:34:47.356", ""}));
  EXPECT_EQ(protos[1],
            (ProtocolStatus{"Mesh_10_99_0_2", "BGP", "---", "start", "16:34:47.356", "Active"}));
  EXPECT_EQ(protos[2].name, "Global_10_99_0_3_port_1179");
  EXPECT_EQ(protos[2].info, "Idle");
}

TEST(Protocols, ErrorInfoAndLongDates) {
  std::vector<ReplyLine> reply = {
      {2002, "Name       Proto      Table      State  Since         Info"},
      {1002, "Node_10_0_0_9 BGP        ---        start  16:34:47.356  Active        Socket: "
             "Network is unreachable"},
      {1002, "Mesh_fd00__2 BGP ---    up     2026-11-27 16:40:01  Established"},
      {0, ""}};
  auto protos = parseProtocols(reply);
  ASSERT_EQ(protos.size(), 2u);
  EXPECT_EQ(protos[0].info, "Active Socket: Network is unreachable");
  EXPECT_EQ(protos[1].since, "2026-11-27 16:40:01");
  EXPECT_EQ(protos[1].info, "Established");
}

TEST(PeerRows, MapsNamesTypesAndAddresses) {
  std::vector<ProtocolStatus> protos = {
      {"device1", "Device", "---", "up", "16:34:47", ""},
      {"kernel1", "Kernel", "---", "up", "16:34:47", ""},
      {"Mesh_10_99_0_2", "BGP", "---", "up", "16:35:00", "Established"},
      {"Global_10_99_0_3_port_1179", "BGP", "---", "start", "16:34:47", "Idle"},
      {"Node_fd00__5", "BGP", "---", "start", "16:34:47", "Active Socket: Connection refused"},
      {"Node_fd00__6_port_1790", "BGP", "---", "up", "16:34:47", "Established"},
      {"Other_10_0_0_1", "BGP", "---", "up", "16:34:47", "Established"},
      {"Mesh_not_an_ip", "BGP", "---", "up", "16:34:47", "Established"},
      {"Mesh_10_0_0_7", "Static", "---", "up", "16:34:47", ""},
  };
  auto rows = peerRows(protos);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0],
            (PeerRow{"10.99.0.2", "node-to-node mesh", "up", "16:35:00", "Established", false}));
  EXPECT_EQ(rows[1], (PeerRow{"10.99.0.3:1179", "global", "start", "16:34:47", "Idle", false}));
  EXPECT_EQ(rows[2], (PeerRow{"fd00::5", "node specific", "start", "16:34:47",
                              "Active Socket: Connection refused", true}));
  EXPECT_EQ(rows[3].peerAddress, "[fd00::6]:1790");
}

TEST(NodeStatus, FormatsCalicoctlTable) {
  std::vector<PeerRow> rows = {
      {"172.17.8.102", "node-to-node mesh", "up", "23:30:04", "Established", false},
      {"172.17.8.103", "global", "start", "23:30:05", "Active Socket: Connection refused", false},
  };
  const std::string expected = "IPv4 BGP status\n"
                               "+--------------+-------------------+-------+----------+------------"
                               "-----------------------+\n"
                               "| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |            "
                               "   INFO                |\n"
                               "+--------------+-------------------+-------+----------+------------"
                               "-----------------------+\n"
                               "| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | "
                               "Established                       |\n"
                               "| 172.17.8.103 | global            | start | 23:30:05 | Active "
                               "Socket: Connection refused |\n"
                               "+--------------+-------------------+-------+----------+------------"
                               "-----------------------+\n"
                               "\n"
                               "IPv6 BGP status\n"
                               "No IPv6 peers found.\n"
                               "\n";
  EXPECT_EQ(formatNodeStatus(rows), expected);
}

TEST(NodeStatus, EmptyAndIpv6Only) {
  EXPECT_EQ(formatNodeStatus({}),
            "IPv4 BGP status\nNo IPv4 peers found.\n\nIPv6 BGP status\nNo IPv6 peers found.\n\n");
  std::string out =
      formatNodeStatus({{"fd00::5", "node specific", "up", "x", "Established", true}});
  EXPECT_NE(out.find("No IPv4 peers found."), std::string::npos);
  EXPECT_NE(out.find("| fd00::5      | node specific | up    |"), std::string::npos);
}

using testing::FakeBird;

TEST(BirdClient, CommandsAgainstFakeServer) {
  {
    FakeBird bird({{"show status", kShowStatus},
                   {"show protocols", kShowProtocols},
                   {"configure", kConfigure},
                   {"bogus", kSyntaxError},
                   {"show route", "1007-10.0.0.0/24 blackhole [static1 16:00] * (200)\n"
                                  " 10.0.1.0/24 via 10.0.0.2 on eth0\n"
                                  "0000 \n"}});
    auto client = BirdClient::connect(bird.path());
    ASSERT_TRUE(client) << client.error().str();
    EXPECT_EQ(client->greeting(), "BIRD 2.0.12 ready.");

    auto status = client->showStatus();
    ASSERT_TRUE(status) << status.error().str();
    EXPECT_EQ(status->substr(0, 31), "BIRD 2.0.12\nRouter ID is 10.99.");
    EXPECT_NE(status->find("Daemon is up and running"), std::string::npos);

    auto protos = client->showProtocols();
    ASSERT_TRUE(protos) << protos.error().str();
    ASSERT_EQ(protos->size(), 3u);
    EXPECT_EQ((*protos)[1].name, "Mesh_10_99_0_2");

    EXPECT_TRUE(client->configure().isOk());

    auto bad = client->command("bogus");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.code(), Code::Invalid);
    EXPECT_EQ(bad.error().message(), "syntax error, unexpected CF_SYM_UNDEFINED");

    auto routes = client->command("show route");
    ASSERT_TRUE(routes);
    ASSERT_EQ(routes->size(), 3u);
    EXPECT_EQ((*routes)[1], "10.0.1.0/24 via 10.0.0.2 on eth0");

    // The script is exhausted: the server closes and the client reports it.
    auto closed = client->command("show status");
    EXPECT_EQ(closed.code(), Code::Unavailable);
    auto after = client->command("show status");
    EXPECT_EQ(after.code(), Code::Unavailable);
    EXPECT_EQ(after.error().message(), "bird: not connected");
  }
}

TEST(BirdClient, ConfigureErrorAndShutdown) {
  FakeBird bird({{"configure", "0002-Reading configuration from /x.conf\n"
                               "8002 /x.conf:3:5 syntax error\n"},
                 {"configure", "0004 Reconfiguration in progress\n"},
                 {"configure", "0006 Reconfiguration ignored, shutting down\n"}});
  auto client = BirdClient::connect(bird.path());
  ASSERT_TRUE(client);
  Status first = client->configure();
  EXPECT_EQ(first.code(), Code::Invalid);
  EXPECT_EQ(first.message(), "/x.conf:3:5 syntax error");
  EXPECT_TRUE(client->configure().isOk());
  EXPECT_EQ(client->configure().code(), Code::Unavailable);
}

TEST(BirdClient, ConnectFailures) {
  auto none = BirdClient::connect("/tmp/bgptest-does-not-exist/bird.ctl");
  EXPECT_EQ(none.code(), Code::Unavailable);

  FakeBird wrong({}, "9999 go away\n");
  EXPECT_EQ(BirdClient::connect(wrong.path()).code(), Code::Unavailable);
}

TEST(BirdClient, TimesOutOnSilentServer) {
  // A listening socket nobody accepts on: connect succeeds through the backlog, the greeting never
  // comes.
  char tmpl[] = "/tmp/bgptest-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string path = dir + "/bird.ctl";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  auto start = std::chrono::steady_clock::now();
  auto c = BirdClient::connect(path, std::chrono::milliseconds(200));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(c.code(), Code::Unavailable);
  EXPECT_NE(c.error().message().find("timed out"), std::string::npos);
  EXPECT_GE(took, std::chrono::milliseconds(190));
  ::close(fd);
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace caracal::bgp
