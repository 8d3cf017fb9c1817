#include "cni/naming.h"
#include "cni/types.h"

#include <gtest/gtest.h>

namespace caracal::cni {
namespace {

CniResult podResult() {
  CniResult r;
  r.interfaces.push_back({"cali0d7763386da", "ee:ee:ee:ee:ee:ee", ""});
  r.interfaces.push_back({"eth0", "02:11:22:33:44:55", "/var/run/netns/p1"});
  IpConfig ip;
  ip.address = *api::parseCidr("10.244.1.5/32");
  ip.interface = 1;
  r.ips.push_back(ip);
  r.routes.push_back({*api::parseCidr("0.0.0.0/0"), api::parseIp("169.254.1.1")});
  return r;
}

TEST(CniVersions, SupportedSet) {
  EXPECT_TRUE(isSupportedVersion("1.0.0"));
  EXPECT_TRUE(isSupportedVersion("0.4.0"));
  EXPECT_TRUE(isSupportedVersion("0.3.1"));
  EXPECT_TRUE(isSupportedVersion("0.3.0"));
  EXPECT_FALSE(isSupportedVersion("0.2.0"));
  EXPECT_FALSE(isSupportedVersion("1.1.0"));
  EXPECT_FALSE(isSupportedVersion(""));
  EXPECT_TRUE(versionSupportsCheck("0.4.0"));
  EXPECT_TRUE(versionSupportsCheck("1.0.0"));
  EXPECT_FALSE(versionSupportsCheck("0.3.1"));
}

TEST(CniVersions, VersionInfoEchoesRequestedVersion) {
  EXPECT_EQ(versionInfoJson("0.4.0"),
            R"({"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]})");
  EXPECT_EQ(versionInfoJson(""),
            R"({"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]})");
  EXPECT_EQ(versionInfoJson("9.9.9"),
            R"({"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]})");
}

TEST(CniError, JsonShape) {
  Error e{kErrInvalidConfig, "invalid network configuration", "mtu: must be an integer"};
  EXPECT_EQ(errorJson(e, "1.0.0"),
            R"({"cniVersion":"1.0.0","code":7,"msg":"invalid network configuration",)"
            R"("details":"mtu: must be an integer"})");
  Error noDetails{kErrPod, "pod a/b not found", ""};
  EXPECT_EQ(errorJson(noDetails, "0.3.1"),
            R"({"cniVersion":"0.3.1","code":100,"msg":"pod a/b not found"})");
  EXPECT_EQ(errorJson(noDetails, ""),
            R"({"cniVersion":"1.0.0","code":100,"msg":"pod a/b not found"})");
}

TEST(CniError, ParseRoundTrip) {
  Error e{kErrIpam, "no address", "pool exhausted \"x\""};
  auto back = parseError(errorJson(e, "0.4.0"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, e);
  EXPECT_FALSE(parseError("not json").has_value());
  EXPECT_FALSE(parseError(R"({"cniVersion":"1.0.0","ips":[]})").has_value());
  EXPECT_FALSE(parseError(R"({"code":"7","msg":"x"})").has_value());
}

TEST(CniError, UnreachableApiIsTryAgainLater) {
  EXPECT_EQ(errorFromStatus(kErrDatastore, "x", Status(Code::Unavailable, "refused")).code,
            uint32_t(kErrTryAgainLater));
  EXPECT_EQ(errorFromStatus(kErrDatastore, "x", Status(Code::Timeout, "slow")).code,
            uint32_t(kErrTryAgainLater));
  Error e = errorFromStatus(kErrDatastore, "cannot write", Status(Code::Invalid, "bad field"));
  EXPECT_EQ(e.code, uint32_t(kErrDatastore));
  EXPECT_EQ(e.msg, "cannot write");
  EXPECT_EQ(e.details, "bad field");
}

TEST(CniResultJson, Version100HasNoIpVersion) {
  EXPECT_EQ(
      resultJson(podResult(), "1.0.0"),
      R"({"cniVersion":"1.0.0","interfaces":[{"name":"cali0d7763386da","mac":"ee:ee:ee:ee:ee:ee"},)"
      R"({"name":"eth0","mac":"02:11:22:33:44:55","sandbox":"/var/run/netns/p1"}],)"
      R"("ips":[{"interface":1,"address":"10.244.1.5/32"}],)"
      R"("routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"}],"dns":{}})");
}

TEST(CniResultJson, Version040And031CarryIpVersion) {
  for (const char* v : {"0.4.0", "0.3.1", "0.3.0"}) {
    EXPECT_EQ(resultJson(podResult(), v),
              std::string(R"({"cniVersion":")") + v +
                  R"(","interfaces":[{"name":"cali0d7763386da","mac":"ee:ee:ee:ee:ee:ee"},)"
                  R"({"name":"eth0","mac":"02:11:22:33:44:55","sandbox":"/var/run/netns/p1"}],)"
                  R"("ips":[{"version":"4","interface":1,"address":"10.244.1.5/32"}],)"
                  R"("routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"}],"dns":{}})")
        << v;
  }
}

TEST(CniResultJson, Ipv6AndIpamShape) {
  CniResult r;
  IpConfig a;
  a.address = *api::parseCidr("fd00::5/128");
  r.ips.push_back(a);
  EXPECT_EQ(resultJson(r, "0.4.0"),
            R"({"cniVersion":"0.4.0","ips":[{"version":"6","address":"fd00::5/128"}],"dns":{}})");
  EXPECT_EQ(resultJson(r, "1.0.0"),
            R"({"cniVersion":"1.0.0","ips":[{"address":"fd00::5/128"}],"dns":{}})");
}

TEST(CniResultJson, ParsesEveryVersionBack) {
  for (const char* v : {"1.0.0", "0.4.0", "0.3.1"}) {
    auto doc = parseJson(resultJson(podResult(), v));
    ASSERT_TRUE(doc);
    auto back = parseResult(*doc);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, podResult()) << v;
  }
}

TEST(CniResultJson, ParseErrorsNameTheField) {
  auto doc = parseJson(R"({"ips":[{"address":"10.0.0.1/32"},{"address":"banana"}]})");
  ASSERT_TRUE(doc);
  auto r = parseResult(*doc);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("ips[1].address"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("banana"), std::string::npos);
  auto doc2 = parseJson(R"({"routes":[{"gw":"1.2.3.4"}]})");
  auto r2 = parseResult(*doc2);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message().find("routes[0].dst"), std::string::npos);
}

TEST(CniArgs, KubernetesArgs) {
  auto a = parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;"
                        "K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->podNamespace, "prod");
  EXPECT_EQ(a->podName, "web-0");
  EXPECT_EQ(a->infraContainerId, "abc123");
  EXPECT_EQ(a->podUid, "u-1");
  EXPECT_TRUE(a->ignoreUnknown);
  EXPECT_TRUE(a->isKubernetes());
  EXPECT_EQ(a->all.size(), 5u);
}

TEST(CniArgs, EmptyIsNothing) {
  auto a = parseCniArgs("");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->isKubernetes());
  EXPECT_TRUE(a->all.empty());
}

TEST(CniArgs, UnknownKeysNeedIgnoreUnknown) {
  auto bad = parseCniArgs("K8S_POD_NAME=a;FOO=bar");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("unknown args"), std::string::npos);
  EXPECT_NE(bad.error().message().find("FOO=bar"), std::string::npos);
  auto ok = parseCniArgs("K8S_POD_NAME=a;FOO=bar;IgnoreUnknown=true");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->all.at("FOO"), "bar");
  // IgnoreUnknown=0 keeps the check.
  EXPECT_FALSE(parseCniArgs("FOO=bar;IgnoreUnknown=0"));
}

TEST(CniArgs, MalformedPairs) {
  for (const char* text : {"K8S_POD_NAME", "K8S_POD_NAME=a=b", "K8S_POD_NAME=a;", ";"}) {
    auto r = parseCniArgs(text);
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().message().find("invalid pair"), std::string::npos) << text;
  }
  auto b = parseCniArgs("IgnoreUnknown=maybe");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("IgnoreUnknown=maybe"), std::string::npos);
}

TEST(CniEnvironment, RequiredVariablesPerCommand) {
  Environment env;
  env.command = "ADD";
  env.containerId = "c1";
  env.ifname = "eth0";
  env.path = "/opt/cni/bin";
  auto e = checkEnvironment(env);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, uint32_t(kErrInvalidEnvironment));
  EXPECT_NE(e->msg.find("CNI_NETNS"), std::string::npos);
  env.command = "DEL"; // the namespace may be gone by DEL time
  EXPECT_FALSE(checkEnvironment(env).has_value());
  env.command = "CHECK";
  EXPECT_TRUE(checkEnvironment(env).has_value());
  env.netns = "/var/run/netns/x";
  EXPECT_FALSE(checkEnvironment(env).has_value());
  env.containerId.clear();
  env.path.clear();
  e = checkEnvironment(env);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->msg.find("CNI_CONTAINERID, CNI_PATH"), std::string::npos) << e->msg;
  env.command = "VERSION";
  EXPECT_FALSE(checkEnvironment(env).has_value());
  env.command = "GC";
  e = checkEnvironment(env);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->msg.find("\"GC\""), std::string::npos);
}

TEST(CniEnvironment, ContainerIdAndIfnameAreValidated) {
  Environment env;
  env.command = "ADD";
  env.containerId = "0123abcDEF_x.y-z";
  env.netns = "/var/run/netns/x";
  env.ifname = "eth0";
  env.path = "/opt/cni/bin";
  EXPECT_FALSE(checkEnvironment(env).has_value());
  env.ifname = "abcdefghijklmno"; // 15: the longest allowed
  EXPECT_FALSE(checkEnvironment(env).has_value());

  auto refused = [&](const std::string& var) {
    auto e = checkEnvironment(env);
    if (!e) {
      ADD_FAILURE() << var << " accepted";
      return std::string();
    }
    EXPECT_EQ(e->code, uint32_t(kErrInvalidEnvironment));
    EXPECT_NE(e->msg.find("invalid " + var + " "), std::string::npos) << e->msg;
    return e->msg;
  };
  for (std::string bad : {"abcdefghijklmnop", ".", "..", "a/b", "eth 0", "eth0\n", "a:b"}) {
    env.ifname = bad;
    EXPECT_NE(refused("CNI_IFNAME").find(jsonQuote(bad)), std::string::npos);
  }
  env.ifname = "eth0";
  for (std::string bad : {"-abc", "_abc", ".abc", "ab/c", "ab c", "ab;c"}) {
    env.containerId = bad;
    EXPECT_NE(refused("CNI_CONTAINERID").find(jsonQuote(bad)), std::string::npos);
  }
  env.command = "DEL"; // DEL is validated as well
  refused("CNI_CONTAINERID");
}

TEST(CniNaming, WorkloadEndpointDoublesDashes) {
  EXPECT_EQ(workloadEndpointName("node-1", "web-0", "eth0"), "node--1-k8s-web--0-eth0");
  EXPECT_EQ(workloadEndpointName("node1", "nginx", "eth0"), "node1-k8s-nginx-eth0");
  EXPECT_EQ(workloadEndpointName("a--b", "c", "net-1"), "a----b-k8s-c-net--1");
  EXPECT_EQ(escapeDashes("-"), "--");
  EXPECT_EQ(escapeDashes(""), "");
}

TEST(CniNaming, HostVethIsCaliPlusSha1Prefix) {
  // sha1("default.web-0") = 0d7763386da...
  EXPECT_EQ(hostVethName("default", "web-0"), "cali0d7763386da");
  EXPECT_EQ(hostVethName("kube-system", "coredns-1"), "cali5adc4ab58e2");
  EXPECT_EQ(hostVethName("ns", "p"), "cali0ad56bf5e97");
  EXPECT_EQ(hostVethName("default", "web-0").size(), 15u); // IFNAMSIZ - 1
  EXPECT_NE(hostVethName("default", "web-0"), hostVethName("default", "web-1"));
  EXPECT_EQ(sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(CniNaming, IpamHandle) {
  EXPECT_EQ(ipamHandle("k8s-pod-network", "0123abcd"), "k8s-pod-network.0123abcd");
}

} // namespace
} // namespace caracal::cni
