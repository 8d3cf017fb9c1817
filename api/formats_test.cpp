#include "api/formats.h"
#include "api/netaddr.h"

#include <gtest/gtest.h>

namespace caracal::api {
namespace {

TEST(NetAddr, ParsesIpv4) {
  auto ip = parseIp("10.0.0.5");
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->family, 4);
  EXPECT_EQ(ip->str(), "10.0.0.5");
  EXPECT_FALSE(parseIp("10.0.0.300"));
  EXPECT_FALSE(parseIp("10.0.0"));
  EXPECT_FALSE(parseIp("10.0.0.01")); // leading zeros are ambiguous (octal), as in Go
  EXPECT_FALSE(parseIp(" 10.0.0.1"));
  EXPECT_FALSE(parseIp(""));
  EXPECT_FALSE(parseIp("example.com"));
}

TEST(NetAddr, ParsesIpv6AndPrintsCanonically) {
  auto ip = parseIp("FD00:0:0:0::1");
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->family, 6);
  EXPECT_EQ(ip->str(), "fd00::1");
  EXPECT_FALSE(parseIp("fe80::1%eth0"));
  EXPECT_FALSE(parseIp("fd00:::1"));
  EXPECT_FALSE(parseIp("1:2:3:4:5:6:7:8:9"));
}

TEST(NetAddr, ParsesCidrs) {
  auto n = parseCidr("10.0.0.5/24");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->prefix, 24);
  EXPECT_FALSE(n->isMasked());
  EXPECT_EQ(n->masked().str(), "10.0.0.0/24");
  EXPECT_EQ(n->str(), "10.0.0.5/24");
  EXPECT_TRUE(parseCidr("0.0.0.0/0"));
  EXPECT_FALSE(parseCidr("10.0.0.0/33"));
  EXPECT_FALSE(parseCidr("10.0.0.0/"));
  EXPECT_FALSE(parseCidr("10.0.0.0/024"));
  EXPECT_FALSE(parseCidr("10.0.0.0/2a"));
  EXPECT_FALSE(parseCidr("10.0.0.300/16"));
  EXPECT_FALSE(parseCidr("10.0.0.1"));
  auto v6 = parseCidr("fd00:10:244:0::/48");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->str(), "fd00:10:244::/48");
  EXPECT_FALSE(parseCidr("fd00::/129"));
  auto bare = parseCidrOrIp("10.1.2.3");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->prefix, 32);
  auto bare6 = parseCidrOrIp("fd00::1");
  ASSERT_TRUE(bare6);
  EXPECT_EQ(bare6->prefix, 128);
}

TEST(NetAddr, ContainsAndOverlaps) {
  IpNet a = *parseCidr("10.0.0.0/8");
  IpNet b = *parseCidr("10.1.0.0/16");
  IpNet c = *parseCidr("11.0.0.0/8");
  IpNet v6 = *parseCidr("::/0");
  EXPECT_TRUE(a.contains(b));
  EXPECT_FALSE(b.contains(a));
  EXPECT_TRUE(a.overlaps(b));
  EXPECT_TRUE(b.overlaps(a));
  EXPECT_FALSE(a.overlaps(c));
  EXPECT_FALSE(v6.overlaps(a)); // never across families
  EXPECT_TRUE(a.contains(*parseIp("10.255.255.255")));
  EXPECT_FALSE(a.contains(*parseIp("11.0.0.0")));
  IpNet odd = *parseCidr("10.0.0.128/25");
  EXPECT_TRUE(odd.contains(*parseIp("10.0.0.200")));
  EXPECT_FALSE(odd.contains(*parseIp("10.0.0.100")));
}

TEST(Formats, Dns1123Names) {
  EXPECT_EQ(checkDns1123Label("prod"), "");
  EXPECT_EQ(checkDns1123Label("a-1"), "");
  EXPECT_NE(checkDns1123Label("Prod"), "");
  EXPECT_NE(checkDns1123Label("-a"), "");
  EXPECT_NE(checkDns1123Label("a."), "");
  EXPECT_NE(checkDns1123Label(std::string(64, 'a')), "");
  EXPECT_EQ(checkDns1123Label(std::string(63, 'a')), "");
  EXPECT_EQ(checkDns1123Subdomain("node.worker-1"), "");
  EXPECT_NE(checkDns1123Subdomain("a..b"), "");
  EXPECT_NE(checkDns1123Subdomain("a_b"), "");
  EXPECT_NE(checkDns1123Subdomain(""), "");
  EXPECT_NE(checkDns1123Subdomain(std::string(254, 'a')), "");
  // Parts may exceed 63 characters (IPAM handles carry 64-hex container IDs).
  EXPECT_EQ(checkDns1123Subdomain("k8s-pod-network." + std::string(64, 'f')), "");
  EXPECT_EQ(checkDns1123Subdomain(std::string(253, 'a')), "");
  EXPECT_TRUE(isDns1123LabelSyntax(std::string(100, 'a')));
  EXPECT_FALSE(isDns1123LabelSyntax("a.b"));
}

TEST(Formats, LabelKeysAndValues) {
  EXPECT_EQ(checkQualifiedName("app"), "");
  EXPECT_EQ(checkQualifiedName("projectcalico.org/name"), "");
  EXPECT_EQ(checkQualifiedName("kubernetes.io/metadata.name"), "");
  EXPECT_EQ(checkQualifiedName("Upper_Case-1.x"), "");
  EXPECT_NE(checkQualifiedName("/app"), "");
  EXPECT_NE(checkQualifiedName("Bad.Prefix/app"), "");
  EXPECT_NE(checkQualifiedName("a b"), "");
  EXPECT_NE(checkQualifiedName("app-"), "");
  EXPECT_NE(checkQualifiedName(std::string(64, 'a')), "");
  EXPECT_EQ(checkLabelValue(""), "");
  EXPECT_EQ(checkLabelValue("true"), "");
  EXPECT_NE(checkLabelValue("has space"), "");
  EXPECT_NE(checkLabelValue(std::string(64, 'v')), "");
}

TEST(Formats, PortNamesAndInterfaces) {
  EXPECT_EQ(checkPortName("http"), "");
  EXPECT_EQ(checkPortName("http-alt"), "");
  EXPECT_NE(checkPortName("8080"), "");
  EXPECT_NE(checkPortName("HTTP"), "");
  EXPECT_NE(checkPortName("a--b"), "");
  EXPECT_NE(checkPortName("-a"), "");
  EXPECT_NE(checkPortName("abcdefghijklmnop"), "");
  EXPECT_EQ(checkInterfaceName("eth0", false), "");
  EXPECT_EQ(checkInterfaceName("*", true), "");
  EXPECT_NE(checkInterfaceName("*", false), "");
  EXPECT_NE(checkInterfaceName("averyveryverylongname", false), "");
  EXPECT_TRUE(isMacAddress("ee:ee:ee:ee:ee:ee"));
  EXPECT_TRUE(isMacAddress("66-00-AB-00-00-01"));
  EXPECT_FALSE(isMacAddress("ee:ee:ee:ee:ee"));
  EXPECT_FALSE(isMacAddress("ee:ee-ee:ee:ee:ee"));
}

TEST(Formats, GoDurations) {
  EXPECT_DOUBLE_EQ(*parseGoDuration("90s"), 90);
  EXPECT_DOUBLE_EQ(*parseGoDuration("1m30s"), 90);
  EXPECT_DOUBLE_EQ(*parseGoDuration("250ms"), 0.25);
  EXPECT_DOUBLE_EQ(*parseGoDuration("1.5h"), 5400);
  EXPECT_DOUBLE_EQ(*parseGoDuration("0"), 0);
  EXPECT_DOUBLE_EQ(*parseGoDuration("-2s"), -2);
  EXPECT_FALSE(parseGoDuration("90"));
  EXPECT_FALSE(parseGoDuration("5 minutes"));
  EXPECT_FALSE(parseGoDuration("1d"));
  EXPECT_FALSE(parseGoDuration(""));
  EXPECT_FALSE(parseGoDuration("s"));
}

TEST(Formats, AsNumbers) {
  EXPECT_EQ(*parseAsNumber("64512"), 64512);
  EXPECT_EQ(*parseAsNumber("1.10"), 65546);
  EXPECT_EQ(*parseAsNumber("4294967295"), 4294967295LL);
  EXPECT_FALSE(parseAsNumber("4294967296"));
  EXPECT_FALSE(parseAsNumber("65536.1"));
  EXPECT_FALSE(parseAsNumber("1.2.3"));
  EXPECT_FALSE(parseAsNumber("-1"));
  EXPECT_FALSE(parseAsNumber("AS64512"));
}

TEST(Formats, PortStrings) {
  std::string err;
  auto p = parsePortString("9000:9010", &err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->min, 9000);
  EXPECT_EQ(p->max, 9010);
  p = parsePortString("80", &err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->min, 80);
  EXPECT_EQ(p->max, 80);
  p = parsePortString("http", &err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "http");
  EXPECT_FALSE(parsePortString("90:80", &err));
  EXPECT_NE(err.find("start after its end"), std::string::npos);
  EXPECT_FALSE(parsePortString("0", &err));
  EXPECT_FALSE(parsePortString("1:70000", &err));
  EXPECT_FALSE(parsePortString("Bad_Name", &err));
}

TEST(Formats, CommunitiesPeerAddressesTimestamps) {
  EXPECT_EQ(checkCommunity("64512:100"), "");
  EXPECT_EQ(checkCommunity("4200000000:1:2"), "");
  EXPECT_NE(checkCommunity("70000:1"), "");
  EXPECT_NE(checkCommunity("1"), "");
  EXPECT_NE(checkCommunity("a:b"), "");
  EXPECT_EQ(checkIpPort("10.0.0.1"), "");
  EXPECT_EQ(checkIpPort("10.0.0.1:1179"), "");
  EXPECT_EQ(checkIpPort("[fd00::1]:179"), "");
  EXPECT_EQ(checkIpPort("fd00::1"), "");
  EXPECT_NE(checkIpPort("10.0.0.1:0"), "");
  EXPECT_NE(checkIpPort("10.0.0.1:99999"), "");
  EXPECT_NE(checkIpPort("fd00::1:179:x"), "");
  EXPECT_NE(checkIpPort("router.example.com"), "");
  EXPECT_TRUE(isRfc3339("2024-05-01T10:00:00Z"));
  EXPECT_TRUE(isRfc3339("2024-05-01T10:00:00.123456+02:00"));
  EXPECT_FALSE(isRfc3339("2024-05-01 10:00:00"));
  EXPECT_FALSE(isRfc3339("2024-05-01T10:00:00"));
}

} // namespace
} // namespace caracal::api
