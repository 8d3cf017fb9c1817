#include "cni/config.h"

#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

namespace caracal::cni {
namespace {

constexpr const char* kContractConfig = R"({
  "name":"k8s-pod-network","cniVersion":"1.0.0","type":"caracal","nodename":"node1","mtu":0,
  "mtu_file":"/var/lib/caracal/mtu","log_level":"info","log_file_path":"",
  "ipam":{"type":"caracal-ipam","assign_ipv4":"true","assign_ipv6":"false"},
  "kubernetes":{"kubeconfig":"/path/to/kubeconfig"},"policy":{"type":"k8s"}})";

class TempDir {
public:
  TempDir() {
    char tmpl[] = "/tmp/cni-config-test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string write(const std::string& name, const std::string& content) {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

std::string errorOf(std::string_view text) {
  auto r = parseNetConf(text);
  EXPECT_FALSE(r) << text;
  return r ? "" : r.error().message();
}

TEST(NetConf, ContractExample) {
  auto c = parseNetConf(kContractConfig);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->name, "k8s-pod-network");
  EXPECT_EQ(c->cniVersion, "1.0.0");
  EXPECT_EQ(c->type, "caracal");
  EXPECT_EQ(c->nodename, "node1");
  EXPECT_EQ(c->mtu, 0);
  EXPECT_EQ(c->mtuFile, "/var/lib/caracal/mtu");
  EXPECT_EQ(c->logLevel, "info");
  EXPECT_EQ(c->ipam.type, "caracal-ipam");
  EXPECT_TRUE(c->ipam.assignIpv4);
  EXPECT_FALSE(c->ipam.assignIpv6);
  EXPECT_EQ(c->kubeconfig, "/path/to/kubeconfig");
  EXPECT_EQ(c->policyType, "k8s");
  EXPECT_FALSE(c->prevResult.has_value());
  EXPECT_FALSE(checkVersion(*c).has_value());
}

TEST(NetConf, CalicoSpellingsAndUnknownFieldsAccepted) {
  auto c = parseNetConf(R"({"name":"n","cniVersion":"0.3.1","type":"calico",
      "datastore_type":"kubernetes","mtu":"1450","log_level":"WARNING",
      "ipam":{"type":"caracal-ipam","assign_ipv4":true,
              "ipv4_pools":["default-ipv4-ippool","10.1.0.0/16"]},
      "capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[]},
      "feature_control":{"floating_ips":false}})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->mtu, 1450);
  EXPECT_EQ(c->logLevel, "warning");
  ASSERT_EQ(c->ipam.ipv4Pools.size(), 2u);
  EXPECT_EQ(c->ipam.ipv4Pools[1], "10.1.0.0/16");
}

TEST(NetConf, ErrorsNameFieldAndValue) {
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","mtu":"big","ipam":{"type":"x"}})"),
            "mtu: must be an integer, got string \"big\"");
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","mtu":20,"ipam":{"type":"x"}})"),
            "mtu: must be 0 (unset) or between 68 and 65535, got 20");
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","ipam":{"type":"x","assign_ipv4":"yes"}})"),
            "ipam.assign_ipv4: must be true or false, got string \"yes\"");
  EXPECT_EQ(
      errorOf(R"({"name":"n","cniVersion":"1.0.0","ipam":{"type":"x","ipv4_pools":["a",7]}})"),
      "ipam.ipv4_pools[1]: must be a non-empty string, got integer 7");
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","ipam":{"type":"x","ipv4_pools":"a"}})"),
            "ipam.ipv4_pools: must be a list of strings, got string \"a\"");
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","log_level":"loud","ipam":{"type":"x"}})"),
            "log_level: unknown value \"loud\" (allowed: debug, info, warning, error)");
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","nodename":5,"ipam":{"type":"x"}})"),
            "nodename: must be a string, got integer 5");
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","kubernetes":"x","ipam":{"type":"x"}})"),
            "kubernetes: must be an object, got string \"x\"");
  EXPECT_EQ(
      errorOf(
          R"({"name":"n","cniVersion":"1.0.0","kubernetes":{"kubeconfig":1},"ipam":{"type":"x"}})"),
      "kubernetes.kubeconfig: must be a string, got integer 1");
}

TEST(NetConf, RequiredFields) {
  EXPECT_NE(errorOf(R"({"cniVersion":"1.0.0","ipam":{"type":"x"}})").find("name: required"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"name":"n","cniVersion":"1.0.0"})").find("ipam: required"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"name":"n","cniVersion":"1.0.0","ipam":{}})").find("ipam.type: required"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"name":"n","cniVersion":"1.0.0","ipam":{"type":"../evil"}})")
                .find("ipam.type: must be a plugin name without '/'"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"name":"n","cniVersion":"1.0.0",
                        "ipam":{"type":"x","assign_ipv4":"false"}})")
                .find("nothing to assign"),
            std::string::npos);
}

TEST(NetConf, NotJsonIsADecodingError) {
  auto r = parseNetConf("{not json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::BadRequest);
  auto a = parseNetConf("[1,2]");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.code(), Code::BadRequest);
  EXPECT_NE(a.error().message().find("must be a JSON object"), std::string::npos);
  auto field = parseNetConf(R"({"name":"n","ipam":{"type":3}})");
  ASSERT_FALSE(field);
  EXPECT_EQ(field.code(), Code::Invalid);
}

TEST(NetConf, PrevResult) {
  auto c = parseNetConf(R"({"name":"n","cniVersion":"1.0.0","ipam":{"type":"x"},
      "prevResult":{"cniVersion":"1.0.0",
                    "interfaces":[{"name":"cali1"},{"name":"eth0","sandbox":"/x"}],
                    "ips":[{"address":"10.0.0.5/32","interface":1}]}})");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->prevResult.has_value());
  ASSERT_EQ(c->prevResult->ips.size(), 1u);
  EXPECT_EQ(c->prevResult->ips[0].address.str(), "10.0.0.5/32");
  EXPECT_EQ(errorOf(R"({"name":"n","cniVersion":"1.0.0","ipam":{"type":"x"},
      "prevResult":{"ips":[{"address":"nope"}]}})"),
            "prevResult: ips[0].address: not a CIDR: \"nope\"");
}

TEST(NetConf, VersionCheck) {
  for (const char* v : {"0.3.0", "0.3.1", "0.4.0", "1.0.0"}) {
    NetConf c;
    c.cniVersion = v;
    EXPECT_FALSE(checkVersion(c).has_value()) << v;
  }
  NetConf old;
  old.cniVersion = "0.2.0";
  auto e = checkVersion(old);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, uint32_t(kErrIncompatibleVersion));
  EXPECT_NE(e->msg.find("\"0.2.0\""), std::string::npos);
  EXPECT_NE(e->details.find("0.3.0, 0.3.1, 0.4.0, 1.0.0"), std::string::npos);
  NetConf none;
  e = checkVersion(none);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->msg.find("no cniVersion"), std::string::npos);
}

TEST(NetConf, MtuResolution) {
  TempDir dir;
  NetConf c;
  EXPECT_EQ(*resolveMtu(c), 1500);
  c.mtu = 9000;
  EXPECT_EQ(*resolveMtu(c), 9000);
  c.mtu = 0;
  c.mtuFile = dir.write("mtu", "1430\n");
  EXPECT_EQ(*resolveMtu(c), 1430);
  c.mtu = 1400; // explicit mtu wins over the file
  EXPECT_EQ(*resolveMtu(c), 1400);
  c.mtu = 0;
  c.mtuFile = dir.path() + "/missing";
  EXPECT_EQ(*resolveMtu(c), 1500);
  c.requireMtuFile = true;
  auto r = resolveMtu(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Unavailable);
  c.requireMtuFile = false;
  c.mtuFile = dir.write("bad", "lots");
  r = resolveMtu(c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("\"lots\""), std::string::npos);
}

TEST(NetConf, NodenameResolution) {
  TempDir dir;
  NetConf c;
  c.nodename = "node-a";
  c.nodenameFile = dir.write("nodename", "node-b\n");
  EXPECT_EQ(*resolveNodename(c), "node-a");
  c.nodename.clear();
  EXPECT_EQ(*resolveNodename(c), "node-b");
  c.nodenameFile = dir.path() + "/missing";
  auto r = resolveNodename(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().rfind("nodename_file: cannot read " + dir.path() + "/missing: ", 0),
            0u)
      << r.error().message();
  c.nodenameFile.clear();
  auto host = resolveNodename(c); // hostname (or the default nodename file)
  ASSERT_TRUE(host);
  EXPECT_FALSE(host->empty());
}

} // namespace
} // namespace caracal::cni
