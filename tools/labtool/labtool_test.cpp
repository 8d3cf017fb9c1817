// Parsing and rendering of caracal-labtool (no sockets).
#include "tools/labtool/labtool.h"

#include <gtest/gtest.h>

namespace caracal::labtool {
namespace {

TEST(ParseProtocol, KnownNamesAnyCase) {
  EXPECT_EQ(*parseProtocol("tcp"), Protocol::Tcp);
  EXPECT_EQ(*parseProtocol("UDP"), Protocol::Udp);
  EXPECT_EQ(*parseProtocol("Icmp"), Protocol::Icmp);
  EXPECT_FALSE(parseProtocol("sctp"));
  EXPECT_FALSE(parseProtocol(""));
}

TEST(ParseServeSpecs, List) {
  auto s = parseServeSpecs("tcp:80,udp:81, tcp:8080");
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[0], (ServeSpec{Protocol::Tcp, 80}));
  EXPECT_EQ((*s)[1], (ServeSpec{Protocol::Udp, 81}));
  EXPECT_EQ((*s)[2], (ServeSpec{Protocol::Tcp, 8080}));
  // The same port on both protocols is two listeners.
  EXPECT_TRUE(parseServeSpecs("tcp:80,udp:80"));
}

TEST(ParseServeSpecs, Rejects) {
  for (const char* bad : {"", "tcp", "tcp:", "tcp:0", "tcp:65536", "tcp:8x", "icmp:1", "sctp:5",
                          "tcp:80,tcp:80", ":80"}) {
    auto s = parseServeSpecs(bad);
    EXPECT_FALSE(s) << bad;
    if (!s) {
      EXPECT_EQ(s.error().code(), Code::Invalid) << bad;
    }
  }
}

TEST(ParseHostPort, Ipv4AndPort) {
  auto hp = parseHostPort("10.99.0.1:6443");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "10.99.0.1");
  EXPECT_EQ(hp->port, 6443);
  EXPECT_EQ(parseHostPort("127.0.0.1:0")->port, 0);
  EXPECT_FALSE(parseHostPort("localhost:80"));
  EXPECT_FALSE(parseHostPort("10.0.0.1"));
  EXPECT_FALSE(parseHostPort("10.0.0.1:99999"));
}

TEST(ParseMatrixSpec, LinesCommentsAndErrors) {
  auto pods = parseMatrixSpec("# pods\nns1/a\t/var/run/netns/x\t10.244.0.1\n\n"
                              "ns2/b\t/proc/1/ns/net\t10.244.0.2\r\n");
  ASSERT_TRUE(pods) << pods.error().message();
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].name, "ns1/a");
  EXPECT_EQ((*pods)[0].netnsPath, "/var/run/netns/x");
  EXPECT_EQ((*pods)[1].ip, "10.244.0.2");

  EXPECT_FALSE(parseMatrixSpec("ns/a /x 10.0.0.1\n")); // spaces, not tabs
  EXPECT_FALSE(parseMatrixSpec("ns/a\t/x\tnot-an-ip\n"));
  auto dup = parseMatrixSpec("ns/a\t/x\t10.0.0.1\nns/a\t/y\t10.0.0.2\n");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("line 2"), std::string::npos);
  EXPECT_TRUE(parseMatrixSpec("")->empty());
}

std::vector<MatrixPod> threePods() {
  return {{"a/x", "/n1", "10.0.0.1"}, {"a/y", "/n2", "10.0.0.2"}, {"b/z", "/n3", "10.0.0.3"}};
}

TEST(MatrixJson, EveryOrderedPairInPodOrder) {
  Matrix m = {{true, false, true}, {true, true, false}, {false, false, true}};
  std::string json = toJson(matrixJson(threePods(), m));
  EXPECT_EQ(json, R"({"a/x":{"a/x":true,"a/y":false,"b/z":true},)"
                  R"("a/y":{"a/x":true,"a/y":true,"b/z":false},)"
                  R"("b/z":{"a/x":false,"a/y":false,"b/z":true}})");
}

TEST(MatrixTable, RowsAndColumns) {
  Matrix m = {{true, false, true}, {true, true, false}, {false, false, true}};
  std::string t = matrixTable(threePods(), m);
  EXPECT_EQ(t, "FROM \\ TO  a/x  a/y  b/z\n"
               "a/x        ok   --   ok\n"
               "a/y        ok   ok   --\n"
               "b/z        --   --   ok\n");
}

TEST(Probe, RejectsBadOptionsWithoutSending) {
  ProbeOptions o;
  o.address = "127.0.0.1";
  o.port = 0;
  EXPECT_EQ(probe(o).code(), Code::Invalid);
  o.port = 80;
  o.timeoutMs = 0;
  EXPECT_EQ(probe(o).code(), Code::Invalid);
  o.timeoutMs = 100;
  o.protocol = Protocol::Udp;
  o.holdMs = 100;
  EXPECT_EQ(probe(o).code(), Code::Invalid);
  o.protocol = Protocol::Tcp;
  o.holdMs = 0;
  o.address = "example.org";
  EXPECT_EQ(probe(o).code(), Code::Invalid);
}

} // namespace
} // namespace caracal::labtool
