#include "cni/naming.h"
#include "cni/plugin.h"
#include "cni/testing_fakes.h"

#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace caracal::cni {
namespace {

using testing::FakeApi;
using testing::FakeDataplane;
using testing::FakeIpam;

constexpr const char* kConfig = R"({"name":"k8s-pod-network","cniVersion":"1.0.0","type":"caracal",
  "nodename":"node-1","ipam":{"type":"caracal-ipam"},"kubernetes":{"kubeconfig":"/none"}})";
constexpr const char* kNetns = "/var/run/netns/p1";
constexpr const char* kHostIf = "cali0d7763386da"; // hostVethName("default", "web-0")

Value podObject() {
  auto v = parseJson(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"web-0","namespace":"default","labels":{"app":"web","tier":"front"}},
    "spec":{"serviceAccountName":"web-sa","containers":[
      {"name":"main","image":"nginx","ports":[{"name":"http","containerPort":8080},
                                               {"containerPort":9000},
                                               {"name":"dns","containerPort":53,"protocol":"UDP"}]},
      {"name":"side","ports":[{"name":"metrics","containerPort":9100}]}]}})");
  return *v;
}

class PluginTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto ns = parseJson(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}})");
    ASSERT_TRUE(api_.store().create(*kinds().ns, *ns));
    auto pod = api_.store().create(*kinds().pod, podObject());
    ASSERT_TRUE(pod) << pod.error().message();
    dp_.netns.insert(kNetns);
    log_.configure(LogLevel::None, "");
  }

  Invocation invocation(const std::string& command, const std::string& containerId = "c0ffee01") {
    Invocation inv;
    inv.env.command = command;
    inv.env.containerId = containerId;
    inv.env.netns = kNetns;
    inv.env.ifname = "eth0";
    inv.env.path = "/opt/cni/bin";
    inv.env.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0";
    inv.args = *parseCniArgs(inv.env.args);
    inv.conf = *parseNetConf(kConfig);
    inv.node = "node-1";
    inv.mtu = 1450;
    return inv;
  }

  Result<Value> wep() {
    return api_.store().get(*kinds().workloadEndpoint, "default", "node--1-k8s-web--0-eth0");
  }
  std::map<std::string, std::string> podAnnotations() {
    auto pod = api_.store().get(*kinds().pod, "default", "web-0");
    std::map<std::string, std::string> out;
    if (const Value* a = pod->path("metadata.annotations"); a && a->isObject()) {
      for (const auto& [k, v] : a->asObject()) {
        out[k] = v.asString();
      }
    }
    return out;
  }
  // Nothing of the pod's network is left anywhere.
  void expectNothingLeft() {
    EXPECT_FALSE(ipam_.held);
    EXPECT_TRUE(dp_.hostVeths.empty());
    EXPECT_TRUE(dp_.podIfaces.empty());
    EXPECT_EQ(wep().code(), Code::NotFound);
    EXPECT_EQ(podAnnotations().count(kAnnotationContainerId), 0u);
  }

  FakeApi api_;
  FakeDataplane dp_;
  FakeIpam ipam_;
  Logger log_{"test"};
  Plugin plugin_{api_, dp_, ipam_, log_};
};

TEST_F(PluginTest, AddProgramsEverything) {
  auto r = plugin_.add(invocation("ADD"));
  ASSERT_TRUE(r) << r.error().msg << ": " << r.error().details;

  // The kernel was asked for the contract's layout.
  EXPECT_EQ(dp_.lastSpec.hostIfname, kHostIf);
  EXPECT_EQ(dp_.lastSpec.ifname, "eth0");
  EXPECT_EQ(dp_.lastSpec.netnsPath, kNetns);
  EXPECT_EQ(dp_.lastSpec.mtu, 1450);
  ASSERT_EQ(dp_.lastSpec.addresses.size(), 1u);
  EXPECT_EQ(dp_.lastSpec.addresses[0].str(), "10.244.1.5/32");

  // The result.
  EXPECT_EQ(
      resultJson(*r, "1.0.0"),
      R"({"cniVersion":"1.0.0","interfaces":[{"name":"cali0d7763386da","mac":"ee:ee:ee:ee:ee:ee"},)"
      R"({"name":"eth0","mac":"02:aa:bb:cc:dd:ee","sandbox":"/var/run/netns/p1"}],)"
      R"("ips":[{"interface":1,"address":"10.244.1.5/32"}],)"
      R"("routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"}],"dns":{}})");

  // The WorkloadEndpoint (validated by the store like the apiserver would).
  auto w = wep();
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w->getString("metadata.namespace"), "default");
  EXPECT_EQ(w->getString("spec.orchestrator"), "k8s");
  EXPECT_EQ(w->getString("spec.node"), "node-1");
  EXPECT_EQ(w->getString("spec.pod"), "web-0");
  EXPECT_EQ(w->getString("spec.endpoint"), "eth0");
  EXPECT_EQ(w->getString("spec.containerID"), "c0ffee01");
  EXPECT_EQ(w->getString("spec.interfaceName"), kHostIf);
  EXPECT_EQ(w->getString("spec.mac"), "02:aa:bb:cc:dd:ee");
  EXPECT_EQ(w->getString("spec.serviceAccountName"), "web-sa");
  EXPECT_EQ(toJson(*w->path("spec.ipNetworks")), R"(["10.244.1.5/32"])");
  EXPECT_EQ(toJson(*w->path("spec.profiles")), R"(["kns.default","ksa.default.web-sa"])");
  EXPECT_EQ(toJson(*w->path("spec.ports")), R"([{"name":"http","protocol":"TCP","port":8080},)"
                                            R"({"name":"dns","protocol":"UDP","port":53},)"
                                            R"({"name":"metrics","protocol":"TCP","port":9100}])");
  const Value* labels = w->path("metadata.labels");
  ASSERT_NE(labels, nullptr);
  EXPECT_EQ(labels->find("app")->asString(), "web");
  EXPECT_EQ(labels->find("tier")->asString(), "front");
  EXPECT_EQ(labels->find("projectcalico.org/namespace")->asString(), "default");
  EXPECT_EQ(labels->find("projectcalico.org/orchestrator")->asString(), "k8s");
  EXPECT_EQ(labels->find("projectcalico.org/serviceaccount")->asString(), "web-sa");

  // The pod's annotations.
  auto ann = podAnnotations();
  EXPECT_EQ(ann[kAnnotationPodIp], "10.244.1.5/32");
  EXPECT_EQ(ann[kAnnotationPodIps], "10.244.1.5/32");
  EXPECT_EQ(ann[kAnnotationContainerId], "c0ffee01");
}

TEST_F(PluginTest, AddWithoutPodArgsIsAnEnvironmentError) {
  Invocation inv = invocation("ADD");
  inv.args = CniArgs{};
  auto r = plugin_.add(inv);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrInvalidEnvironment));
  EXPECT_EQ(ipam_.adds, 0);
}

TEST_F(PluginTest, AddForMissingPodDoesNothing) {
  Invocation inv = invocation("ADD");
  inv.args.podName = "ghost";
  auto r = plugin_.add(inv);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrPod));
  EXPECT_EQ(r.error().msg, "pod default/ghost not found");
  EXPECT_EQ(ipam_.adds, 0);
  EXPECT_EQ(dp_.setUps, 0);
}

TEST_F(PluginTest, AddIpamFailureIsReportedAndReleased) {
  ipam_.failAdd = true;
  auto r = plugin_.add(invocation("ADD"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrIpam));
  EXPECT_EQ(r.error().details, "pool exhausted");
  EXPECT_EQ(dp_.setUps, 0);
  EXPECT_GE(ipam_.dels, 1);
  expectNothingLeft();
}

TEST_F(PluginTest, AddDataplaneFailureRollsBack) {
  dp_.failSetUp = true;
  auto r = plugin_.add(invocation("ADD"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrDataplane));
  EXPECT_NE(r.error().msg.find(kHostIf), std::string::npos);
  EXPECT_EQ(r.error().details, "injected setUp failure");
  EXPECT_EQ(ipam_.dels, 1);
  expectNothingLeft();
}

TEST_F(PluginTest, AddIntoMissingNetnsIsUnknownContainer) {
  dp_.netns.clear();
  auto r = plugin_.add(invocation("ADD"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrUnknownContainer));
  EXPECT_EQ(r.error().msg, "network namespace /var/run/netns/p1 does not exist");
  EXPECT_EQ(ipam_.adds, 0); // found out before any address is taken
  expectNothingLeft();
}

TEST_F(PluginTest, AddIntoThePluginsOwnNetnsIsRefused) {
  dp_.ownNetns = kNetns; // the runtime passed the node's namespace
  auto r = plugin_.add(invocation("ADD"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrInvalidEnvironment));
  EXPECT_EQ(r.error().msg,
            std::string("CNI_NETNS ") + kNetns + " is the plugin's own network namespace");
  EXPECT_EQ(ipam_.adds, 0);
  EXPECT_EQ(dp_.setUps, 0);
  expectNothingLeft();
}

TEST_F(PluginTest, AddWepFailureRollsBack) {
  api_.failCreate.insert("WorkloadEndpoint");
  auto r = plugin_.add(invocation("ADD"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrDatastore));
  EXPECT_NE(r.error().msg.find("node--1-k8s-web--0-eth0"), std::string::npos);
  expectNothingLeft();
}

TEST_F(PluginTest, AddAnnotationFailureRollsBackTheCreatedWep) {
  api_.failPatch.insert("Pod");
  auto r = plugin_.add(invocation("ADD"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, uint32_t(kErrDatastore));
  EXPECT_EQ(r.error().details, "injected patch failure");
  expectNothingLeft();
}

TEST_F(PluginTest, RetriedAddUpdatesTheEndpoint) {
  ASSERT_TRUE(plugin_.add(invocation("ADD", "aaaa1111")));
  auto first = wep();
  ASSERT_TRUE(first);
  // A new sandbox of the same pod (or a retry): same endpoint name, new container.
  auto r = plugin_.add(invocation("ADD", "bbbb2222"));
  ASSERT_TRUE(r) << r.error().msg << ": " << r.error().details;
  auto second = wep();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->getString("spec.containerID"), "bbbb2222");
  EXPECT_EQ(second->getString("metadata.uid"), first->getString("metadata.uid"));
  EXPECT_EQ(podAnnotations()[kAnnotationContainerId], "bbbb2222");
}

TEST_F(PluginTest, FailedAddAfterUpdateRestoresTheOldEndpoint) {
  ASSERT_TRUE(plugin_.add(invocation("ADD", "aaaa1111")));
  api_.failPatch.insert("Pod");
  auto r = plugin_.add(invocation("ADD", "bbbb2222"));
  ASSERT_FALSE(r);
  auto w = wep();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->getString("spec.containerID"), "aaaa1111");
}

TEST_F(PluginTest, DelRemovesEverythingAndIsRepeatable) {
  ASSERT_TRUE(plugin_.add(invocation("ADD")));
  EXPECT_FALSE(plugin_.del(invocation("DEL")).has_value());
  expectNothingLeft();
  EXPECT_FALSE(plugin_.del(invocation("DEL")).has_value());
  expectNothingLeft();
}

TEST_F(PluginTest, DelAfterNetnsIsGone) {
  ASSERT_TRUE(plugin_.add(invocation("ADD")));
  dp_.netns.clear();
  dp_.podIfaces.clear(); // the namespace took the pair with it
  dp_.hostVeths.clear();
  Invocation inv = invocation("DEL");
  EXPECT_FALSE(plugin_.del(inv).has_value());
  inv.env.netns.clear(); // runtimes may pass no namespace at all
  EXPECT_FALSE(plugin_.del(inv).has_value());
  expectNothingLeft();
}

TEST_F(PluginTest, DelLeavesAnotherContainersEndpoint) {
  ASSERT_TRUE(plugin_.add(invocation("ADD", "newer0001")));
  // A late DEL for an older sandbox of the same pod.
  Invocation old = invocation("DEL", "older0001");
  old.env.netns = "/var/run/netns/old";
  EXPECT_FALSE(plugin_.del(old).has_value());
  auto w = wep();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->getString("spec.containerID"), "newer0001");
  EXPECT_EQ(podAnnotations()[kAnnotationContainerId], "newer0001");
  EXPECT_EQ(dp_.hostVeths.count(kHostIf), 1u);
}

TEST_F(PluginTest, DelReportsApiFailure) {
  ASSERT_TRUE(plugin_.add(invocation("ADD")));
  api_.failGet.insert("WorkloadEndpoint");
  auto e = plugin_.del(invocation("DEL"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, uint32_t(kErrTryAgainLater));
  // The kernel part was cleaned; the address stays allocated while the endpoint may exist.
  EXPECT_TRUE(dp_.hostVeths.empty());
  EXPECT_TRUE(ipam_.held);
  EXPECT_EQ(ipam_.dels, 0);
  // The runtime retries the DEL once the API answers again.
  api_.failGet.clear();
  EXPECT_FALSE(plugin_.del(invocation("DEL")).has_value());
  expectNothingLeft();
}

TEST_F(PluginTest, DelKeepsTheAddressWhenTheEndpointCannotBeDeleted) {
  ASSERT_TRUE(plugin_.add(invocation("ADD")));
  api_.failRemove.insert("WorkloadEndpoint");
  auto e = plugin_.del(invocation("DEL"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, uint32_t(kErrDatastore));
  EXPECT_NE(e->msg.find("cannot delete WorkloadEndpoint node--1-k8s-web--0-eth0"),
            std::string::npos)
      << e->msg;
  // Not released: a stale endpoint still claims the address, so no other pod may get it yet.
  EXPECT_TRUE(ipam_.held);
  EXPECT_EQ(ipam_.dels, 0);
  EXPECT_TRUE(wep());
  api_.failRemove.clear();
  EXPECT_FALSE(plugin_.del(invocation("DEL")).has_value());
  expectNothingLeft();
  EXPECT_EQ(ipam_.dels, 1);
  EXPECT_FALSE(plugin_.del(invocation("DEL")).has_value()); // still idempotent
  expectNothingLeft();
}

TEST_F(PluginTest, CheckAfterAdd) {
  ASSERT_TRUE(plugin_.add(invocation("ADD")));
  Invocation inv = invocation("CHECK");
  EXPECT_FALSE(plugin_.check(inv).has_value());
  EXPECT_EQ(dp_.lastCheck.hostIfname, kHostIf);
  ASSERT_EQ(dp_.lastCheck.addresses.size(), 1u);
  EXPECT_EQ(dp_.lastCheck.addresses[0].str(), "10.244.1.5/32");

  dp_.failCheck = true;
  auto e = plugin_.check(inv);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, uint32_t(kErrCheck));
  EXPECT_EQ(e->details, "route 169.254.1.1 missing");
}

TEST_F(PluginTest, CheckComparesPrevResultAndEndpoint) {
  ASSERT_TRUE(plugin_.add(invocation("ADD")));
  Invocation inv = invocation("CHECK");
  CniResult prev;
  IpConfig other;
  other.address = *api::parseCidr("10.244.9.9/32");
  prev.ips.push_back(other);
  inv.conf.prevResult = prev;
  auto e = plugin_.check(inv);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->msg.find("10.244.9.9/32"), std::string::npos);

  Invocation otherContainer = invocation("CHECK", "ffff0000");
  e = plugin_.check(otherContainer);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->msg.find("another container"), std::string::npos);
}

TEST_F(PluginTest, CheckWithoutEndpointOrOnOldVersionFails) {
  auto e = plugin_.check(invocation("CHECK"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, uint32_t(kErrCheck));
  EXPECT_NE(e->msg.find("does not exist"), std::string::npos);
  Invocation old = invocation("CHECK");
  old.conf.cniVersion = "0.3.1";
  e = plugin_.check(old);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, uint32_t(kErrIncompatibleVersion));
}

// The real dataplane refuses the namespace it runs in. Runs in a forked child inside a fresh
// network namespace of its own, so nothing can reach the machine's namespace.
TEST(NetlinkDataplane, RefusesItsOwnNamespace) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::unshare(CLONE_NEWNET) != 0) {
      ::_exit(77);
    }
    Logger log("test");
    log.configure(LogLevel::None, "");
    auto dp = makeNetlinkDataplane(log);
    const std::string own = "/proc/thread-self/ns/net";
    if (!dp->isOwnNetns(own)) {
      ::_exit(2);
    }
    PodNetworkSpec spec;
    spec.netnsPath = own;
    spec.ifname = "eth0";
    spec.hostIfname = "cali0123456789a";
    spec.addresses = {*api::parseCidr("10.244.1.5/32")};
    auto r = dp->setUp(spec);
    if (r) {
      ::_exit(3);
    }
    if (r.code() != Code::Invalid ||
        r.error().message().find("CNI_NETNS " + own + " is the plugin's own") ==
            std::string::npos) {
      ::_exit(4);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    GTEST_SKIP() << "cannot create a network namespace here (needs root)";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: own namespace not recognised, 3: setUp accepted it, "
                                       "4: wrong error";
}

TEST(PodInfo, DefaultsAndHostNetwork) {
  auto pod = parseJson(R"({"metadata":{"name":"p"},"spec":{"hostNetwork":true,
      "containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080}]}]}})");
  PodInfo info = podInfoFromObject(*pod);
  EXPECT_EQ(info.serviceAccount, "default");
  EXPECT_TRUE(info.hostNetwork);
  ASSERT_EQ(info.ports.size(), 1u); // unnamed, but with a hostPort
  EXPECT_EQ(info.ports[0].hostPort, 8080);
}

// ---- the process entry point, up to where it would need a real API or kernel

std::optional<std::string> lookup(const std::map<std::string, std::string>& m,
                                  const std::string& k) {
  auto it = m.find(k);
  if (it == m.end()) {
    return std::nullopt;
  }
  return it->second;
}

struct RunOutput {
  int rc;
  std::string out;
};
RunOutput runPlugin(std::map<std::string, std::string> env, std::string_view input) {
  std::string out;
  int rc = runCaracal([&](const std::string& k) { return lookup(env, k); }, input, out);
  return {rc, out};
}

std::map<std::string, std::string> addEnv() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "c1"},
          {"CNI_NETNS", "/var/run/netns/nothing-here"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/nonexistent-cni-dir"},
          {"CNI_ARGS", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"}};
}

TEST(RunCaracal, Version) {
  RunOutput r = runPlugin({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion":"0.4.0"})");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, R"({"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]})"
                   "\n");
}

TEST(RunCaracal, ErrorsAreCniErrorObjects) {
  auto env = addEnv();
  env.erase("CNI_NETNS");
  RunOutput r = runPlugin(env, kConfig);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, R"({"cniVersion":"1.0.0","code":4,"msg":"required environment variable )"
                   R"(CNI_NETNS not set for ADD"})"
                   "\n");

  r = runPlugin(addEnv(),
                R"({"name":"n","cniVersion":"0.4.0","mtu":"x","ipam":{"type":"caracal-ipam"}})");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, R"({"cniVersion":"0.4.0","code":7,"msg":"invalid network configuration",)"
                   R"("details":"mtu: must be an integer, got string \"x\""})"
                   "\n");

  r = runPlugin(addEnv(), "{{{");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find(R"("code":6)"), std::string::npos) << r.out;

  r = runPlugin(addEnv(), R"({"name":"n","cniVersion":"0.2.0","ipam":{"type":"caracal-ipam"}})");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(
      r.out.find(R"("code":1,"msg":"incompatible CNI version: config has cniVersion \"0.2.0\"")"),
      std::string::npos)
      << r.out;

  env = addEnv();
  env["CNI_ARGS"] = "K8S_POD_NAME=a;BOGUS=1";
  r = runPlugin(env, kConfig);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find(R"("code":4,"msg":"invalid CNI_ARGS")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BOGUS=1"), std::string::npos);

  r = runPlugin(addEnv(), kConfig);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find(R"("code":7,"msg":"IPAM plugin \"caracal-ipam\" (ipam.type) not found")"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("/nonexistent-cni-dir"), std::string::npos);
}

TEST(RunCaracal, UnreadableKubeconfigNamesTheField) {
  char tmpl[] = "/tmp/cni-plugin-test.XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string ipam = dir + "/caracal-ipam";
  { std::ofstream(ipam) << "#!/bin/sh\nexit 1\n"; }
  ::chmod(ipam.c_str(), 0755);
  auto env = addEnv();
  env["CNI_PATH"] = "/nonexistent:" + dir;
  RunOutput r = runPlugin(env, R"({"name":"n","cniVersion":"1.0.0","ipam":{"type":"caracal-ipam"},
      "kubernetes":{"kubeconfig":"/nonexistent/kubeconfig"}})");
  ::unlink(ipam.c_str());
  ::rmdir(dir.c_str());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find(R"("code":7,"msg":"cannot build an API client")"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("kubernetes.kubeconfig"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/kubeconfig"), std::string::npos) << r.out;
}

} // namespace
} // namespace caracal::cni
