#include "ctl/commands.h"
#include "ctl/ctl.h"
#include "ctl/testing/fake_api_server.h"

#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <map>
#include <sstream>

namespace caracal::ctl {
namespace {

using testing::FakeApiServer;
using ::testing::HasSubstr;
using testing::InjectedFailure;
using ::testing::StartsWith;

namespace fs = std::filesystem;

constexpr const char* kPools = "/apis/projectcalico.org/v3/ippools";

std::string pool(const std::string& name, const std::string& cidr, const std::string& extra = "") {
  return "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: " + name +
         "\nspec:\n  cidr: " + cidr + "\n  nodeSelector: all()\n" + extra;
}

Value poolObj(const std::string& name, const std::string& cidr) {
  return *parseYaml(pool(name, cidr));
}

class CtlTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/caracal-ctl-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    vars_["CARACAL_SERVER"] = "http://127.0.0.1:1";
    env_.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      if (it == vars_.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    env_.in = &stdin_;
    env_.defaultKubeconfig = dir_ + "/absent.kubeconfig";
    env_.makeClient =
        [this](
            const datastore::ClientConfig& cfg) -> Result<std::unique_ptr<datastore::RestClient>> {
      lastConfig_ = cfg;
      return std::make_unique<datastore::RestClient>(server_.transport(), cfg.token);
    };
    env_.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); };
  }

  void TearDown() override { fs::remove_all(dir_); }

  int run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return runCaracalctl(args, out_, err_, env_);
  }

  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << content;
    return path;
  }

  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

  FakeApiServer server_;
  std::string dir_;
  std::map<std::string, std::string> vars_;
  std::istringstream stdin_;
  CtlEnv env_;
  std::ostringstream out_, err_;
  datastore::ClientConfig lastConfig_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

// ---- apply / create / replace / delete ----

TEST_F(CtlTest, ApplyCreatesEveryDocument) {
  std::string f =
      write("pools.yaml", pool("pool1", "10.1.0.0/16") + "---\n" + pool("pool2", "10.2.0.0/16"));
  EXPECT_EQ(run({"apply", "-f", f}), 0) << err();
  EXPECT_EQ(out(), "Successfully applied 2 'IPPool' resource(s)\n");
  EXPECT_EQ(err(), "");
  ASSERT_EQ(server_.requests("POST").size(), 2u);
  EXPECT_EQ(server_.requests("POST")[0].path, kPools);
  EXPECT_EQ(server_.requests("POST")[0].contentType, "application/json");
  EXPECT_TRUE(server_.object(std::string(kPools) + "/pool1"));
  EXPECT_TRUE(server_.object(std::string(kPools) + "/pool2"));
}

TEST_F(CtlTest, ApplyReplacesAnExistingObjectKeepingServerMetadata) {
  Value stored = poolObj("pool1", "10.1.0.0/16");
  stored["metadata"]["labels"].set("keep", "yes");
  server_.seed(std::string(kPools) + "/pool1", stored);
  Value seeded = *server_.object(std::string(kPools) + "/pool1");
  std::string rv = seeded.getString("metadata.resourceVersion");
  std::string uid = seeded.getString("metadata.uid");

  std::string f =
      write("p.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool1\n"
                      "  labels: {new: x}\nspec:\n  cidr: 10.9.0.0/16\n  nodeSelector: all()\n");
  EXPECT_EQ(run({"apply", "-f", f}), 0) << err();
  EXPECT_EQ(out(), "Successfully applied 1 'IPPool' resource(s)\n");

  auto puts = server_.requests("PUT");
  ASSERT_EQ(puts.size(), 1u);
  Value sent = *parseJson(puts[0].body);
  EXPECT_EQ(sent.getString("metadata.resourceVersion"), rv);
  EXPECT_EQ(sent.getString("metadata.uid"), uid);
  Value now = *server_.object(std::string(kPools) + "/pool1");
  EXPECT_EQ(now.getString("spec.cidr"), "10.9.0.0/16");
  EXPECT_EQ(now.getString("metadata.labels.keep"), "yes");
  EXPECT_EQ(now.getString("metadata.labels.new"), "x");
}

TEST_F(CtlTest, ApplyRetriesAfterAConflict) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.1.0.0/16"));
  InjectedFailure f;
  f.method = "PUT";
  f.status = 409;
  f.reason = "Conflict";
  f.message = "the object has been modified";
  server_.inject(f);
  std::string file = write("p.yaml", pool("pool1", "10.7.0.0/16"));
  EXPECT_EQ(run({"apply", "-f", file}), 0) << err();
  EXPECT_EQ(out(), "Successfully applied 1 'IPPool' resource(s)\n");
  EXPECT_EQ(server_.requests("PUT").size(), 2u);
  EXPECT_EQ(server_.requests("GET").size(), 2u);
  EXPECT_EQ(sleeps_.size(), 1u);
  EXPECT_EQ(server_.object(std::string(kPools) + "/pool1")->getString("spec.cidr"), "10.7.0.0/16");
}

TEST_F(CtlTest, ApplyGivesUpAfterRepeatedConflicts) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.1.0.0/16"));
  InjectedFailure f;
  f.method = "PUT";
  f.status = 409;
  f.reason = "Conflict";
  f.message = "the object has been modified";
  f.times = 100;
  server_.inject(f);
  std::string file = write("p.yaml", pool("pool1", "10.7.0.0/16"));
  EXPECT_EQ(run({"apply", "-f", file}), 1);
  EXPECT_EQ(err(), "Failed to apply 'IPPool' resource:\n" + file +
                       ":0: update conflict: IPPool(pool1): the object has been modified\n");
  EXPECT_EQ(server_.requests("PUT").size(), 5u);
}

TEST_F(CtlTest, MixedKindsAreCountedTogether) {
  std::string f = write("m.yaml", pool("pool1", "10.1.0.0/16") +
                                      "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\n"
                                      "metadata: {name: tor}\nspec: {peerIP: 10.0.0.1, asNumber: "
                                      "64600}\n");
  EXPECT_EQ(run({"create", "-f", f}), 0) << err();
  EXPECT_EQ(out(), "Successfully created 2 resource(s)\n");
}

TEST_F(CtlTest, AnInvalidDocumentStopsEverything) {
  std::string f = write("bad.yaml", pool("pool1", "10.1.0.0/16") + "---\n" +
                                        pool("pool2", "10.2.0.0/16", "  ipipMode: sometimes\n") +
                                        "---\napiVersion: projectcalico.org/v3\nkind: Bogus\n"
                                        "metadata: {name: x}\n");
  EXPECT_EQ(run({"apply", "-f", f}), 1);
  EXPECT_TRUE(server_.requests().empty()) << "nothing may be sent";
  std::vector<std::string> lines;
  std::istringstream ss(err());
  for (std::string l; std::getline(ss, l);) {
    lines.push_back(l);
  }
  ASSERT_EQ(lines.size(), 3u) << err();
  EXPECT_THAT(lines[0], StartsWith(f + ":1: spec.ipipMode: "));
  EXPECT_THAT(lines[0], HasSubstr("\"sometimes\""));
  EXPECT_EQ(lines[1], f + ":2: kind: resource type 'Bogus' is not supported in apiVersion "
                          "\"projectcalico.org/v3\"");
  EXPECT_EQ(lines[2], "Failed to apply any resources: 2 of 3 resource(s) invalid");
  EXPECT_EQ(out(), "");
}

TEST_F(CtlTest, EveryFieldCauseGetsItsOwnLine) {
  std::string f = write("bad.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPool\n"
                                    "metadata: {name: p}\nspec: {cidr: 10.0.0.0/8, blocksize: 26, "
                                    "vxlanMode: often}\n");
  EXPECT_EQ(run({"create", "-f", f}), 1);
  EXPECT_THAT(err(), HasSubstr(f + ":0: spec"));
  EXPECT_THAT(err(), HasSubstr("\"blocksize\""));
  EXPECT_THAT(err(), HasSubstr(f + ":0: spec.vxlanMode: "));
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(CtlTest, DocLineFormat) {
  EXPECT_EQ(docLine("a.yaml", 3, FieldCause{"spec.ipipMode", "bad value"}),
            "a.yaml:3: spec.ipipMode: bad value");
  EXPECT_EQ(docLine("-", 0, FieldCause{"", "expected an object"}), "-:0: expected an object");
}

TEST_F(CtlTest, NamespacedKindsGetTheDefaultOrFlagNamespace) {
  std::string np = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: np1}\n"
                   "spec: {selector: all()}\n";
  std::string f = write("np.yaml", np);
  EXPECT_EQ(run({"create", "-f", f}), 0) << err();
  EXPECT_EQ(server_.requests("POST").back().path,
            "/apis/projectcalico.org/v3/namespaces/default/networkpolicies");
  EXPECT_EQ(parseJson(server_.requests("POST").back().body)->getString("metadata.namespace"),
            "default");

  EXPECT_EQ(run({"create", "-n", "prod", "-f", f}), 0) << err();
  EXPECT_EQ(server_.requests("POST").back().path,
            "/apis/projectcalico.org/v3/namespaces/prod/networkpolicies");

  std::string other = write("np2.yaml", "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
                                        "metadata: {name: np2, namespace: dev}\nspec: {}\n");
  EXPECT_EQ(run({"create", "-f", other, "-n", "prod"}), 1);
  EXPECT_THAT(err(), HasSubstr(other + ":0: metadata.namespace: resource namespace does not "
                                       "match client namespace. dev != prod"));
}

TEST_F(CtlTest, ListsAreExpandedAndIndexed) {
  std::string f = write("list.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems:\n"
                                     "- metadata: {name: a}\n  spec: {cidr: 10.1.0.0/16}\n"
                                     "- metadata: {name: b}\n  spec: {cidr: 10.2.0.0/16, "
                                     "ipipMode: sometimes}\n");
  EXPECT_EQ(run({"apply", "-f", f}), 1);
  EXPECT_THAT(err(), HasSubstr(f + ":1: spec.ipipMode: "));

  f = write("list2.json", R"({"apiVersion":"v1","kind":"List","items":[)"
                          R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",)"
                          R"("metadata":{"name":"a"},"spec":{"cidr":"10.1.0.0/16"}},)"
                          R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",)"
                          R"("metadata":{"name":"b"},"spec":{"cidr":"10.2.0.0/16"}}]})");
  EXPECT_EQ(run({"apply", "-f", f}), 0) << err();
  EXPECT_EQ(out(), "Successfully applied 2 'IPPool' resource(s)\n");
}

TEST_F(CtlTest, CreateOfAnExistingObjectFailsUnlessSkipped) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.1.0.0/16"));
  std::string f = write("p.yaml", pool("pool1", "10.1.0.0/16"));
  EXPECT_EQ(run({"create", "-f", f}), 1);
  EXPECT_EQ(err(), "Failed to create 'IPPool' resource:\n" + f +
                       ":0: resource already exists: IPPool(pool1)\n");
  EXPECT_EQ(run({"create", "-f", f, "--skip-exists"}), 0) << err();
  EXPECT_EQ(out(), "Successfully created 1 'IPPool' resource(s)\n");
}

TEST_F(CtlTest, PartialFailuresAreListedPerDocument) {
  server_.seed(std::string(kPools) + "/pool2", poolObj("pool2", "10.2.0.0/16"));
  std::string f =
      write("p.yaml", pool("pool1", "10.1.0.0/16") + "---\n" + pool("pool2", "10.2.0.0/16") +
                          "---\n" + pool("pool3", "10.3.0.0/16"));
  EXPECT_EQ(run({"create", "-f", f}), 1);
  EXPECT_EQ(out(), "Partial success: created 2 out of 3 'IPPool' resources:\n");
  EXPECT_EQ(err(), f + ":1: resource already exists: IPPool(pool2)\n");
  EXPECT_TRUE(server_.object(std::string(kPools) + "/pool3"));
}

TEST_F(CtlTest, ServerValidationErrorsKeepTheServerText) {
  InjectedFailure inv;
  inv.method = "POST";
  inv.status = 422;
  inv.reason = "Invalid";
  inv.message = "IPPool.projectcalico.org \"pool1\" is invalid: spec.cidr: Invalid value: "
                "\"10.1.0.0/16\": overlaps with IPPool pool0";
  inv.causes = {{"spec.cidr", "Invalid value: \"10.1.0.0/16\": overlaps with IPPool pool0"}};
  server_.inject(inv);
  std::string f = write("p.yaml", pool("pool1", "10.1.0.0/16"));
  EXPECT_EQ(run({"apply", "-f", f}), 1);
  EXPECT_EQ(err(), "Failed to apply 'IPPool' resource:\n" + f + ":0: " + inv.message + "\n");
}

TEST_F(CtlTest, ReplaceNeedsAnExistingObject) {
  std::string f = write("p.yaml", pool("pool1", "10.1.0.0/16"));
  EXPECT_EQ(run({"replace", "-f", f}), 1);
  EXPECT_EQ(err(), "Failed to replace 'IPPool' resource:\n" + f +
                       ":0: resource does not exist: IPPool(pool1) with error: "
                       "ippools.projectcalico.org \"pool1\" not found\n");
  EXPECT_TRUE(server_.requests("PUT").empty());
}

TEST_F(CtlTest, ReplaceStopsAtTheFirstFailure) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.1.0.0/16"));
  server_.seed(std::string(kPools) + "/pool3", poolObj("pool3", "10.3.0.0/16"));
  std::string f =
      write("p.yaml", pool("pool1", "10.11.0.0/16") + "---\n" + pool("pool2", "10.12.0.0/16") +
                          "---\n" + pool("pool3", "10.13.0.0/16"));
  EXPECT_EQ(run({"replace", "-f", f}), 1);
  EXPECT_EQ(out(), "Partial success: replaced the first 1 out of 3 'IPPool' resources:\n");
  EXPECT_THAT(err(), StartsWith(f + ":1: resource does not exist: IPPool(pool2)"));
  EXPECT_EQ(server_.object(std::string(kPools) + "/pool3")->getString("spec.cidr"), "10.3.0.0/16");
}

TEST_F(CtlTest, ReplaceWithAStaleResourceVersionIsAConflict) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.1.0.0/16"));
  std::string latest =
      server_.object(std::string(kPools) + "/pool1")->getString("metadata.resourceVersion");
  std::string f = write("p.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n"
                                  "  name: pool1\n  resourceVersion: '1'\nspec: {cidr: "
                                  "10.1.0.0/16}\n");
  EXPECT_EQ(run({"replace", "-f", f}), 1);
  EXPECT_EQ(err(), "Failed to replace 'IPPool' resource:\n" + f +
                       ":0: update conflict: IPPool(pool1): Resource version '1' is out of date "
                       "(latest: " +
                       latest + "). Update the resource YAML/JSON in order to make changes.\n");
  EXPECT_TRUE(server_.requests("PUT").empty());
}

TEST_F(CtlTest, DeleteFromFile) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.1.0.0/16"));
  std::string f =
      write("p.yaml", pool("pool1", "10.1.0.0/16") + "---\n" + pool("pool2", "10.2.0.0/16"));
  EXPECT_EQ(run({"delete", "-f", f}), 1);
  EXPECT_EQ(out(), "Partial success: deleted 1 out of 2 'IPPool' resources:\n");
  EXPECT_THAT(err(), StartsWith(f + ":1: resource does not exist: IPPool(pool2) with error: "));
  EXPECT_FALSE(server_.object(std::string(kPools) + "/pool1"));

  EXPECT_EQ(run({"delete", "-f", f, "--skip-not-exists"}), 0) << err();
  EXPECT_EQ(out(), "Successfully deleted 2 'IPPool' resource(s)\n");
}

TEST_F(CtlTest, DeleteByKindAndName) {
  server_.seed(std::string(kPools) + "/a", poolObj("a", "10.1.0.0/16"));
  EXPECT_EQ(run({"delete", "ippool", "a", "b"}), 1);
  EXPECT_EQ(out(), "Successfully deleted 1 'IPPool' resource(s)\n");
  EXPECT_EQ(err(), "Failed to delete 'IPPool' resource: resource does not exist: IPPool(b) with "
                   "error: ippools.projectcalico.org \"b\" not found\n");
  EXPECT_EQ(server_.requests("DELETE").size(), 2u);
  EXPECT_EQ(run({"delete", "pool", "b", "--skip-not-exists"}), 0);
  EXPECT_EQ(out(), "Successfully deleted 1 'IPPool' resource(s)\n");
}

TEST_F(CtlTest, DeleteOfANamespacedKindUsesTheNamespace) {
  server_.seed("/apis/projectcalico.org/v3/namespaces/prod/networkpolicies/np1", Value::object());
  EXPECT_EQ(run({"delete", "networkpolicy", "np1", "-n", "prod"}), 0) << err();
  EXPECT_EQ(server_.requests("DELETE").back().path,
            "/apis/projectcalico.org/v3/namespaces/prod/networkpolicies/np1");
}

TEST_F(CtlTest, DirectoriesAndRecursion) {
  write("d/a.yaml", pool("a", "10.1.0.0/16"));
  write("d/sub/b.yml", pool("b", "10.2.0.0/16"));
  write("d/notes.txt", "not a manifest");
  EXPECT_EQ(run({"apply", "-f", dir_ + "/d"}), 0) << err();
  EXPECT_EQ(out(), "Successfully applied 1 'IPPool' resource(s)\n");
  EXPECT_EQ(run({"apply", "-R", "-f", dir_ + "/d"}), 0) << err();
  EXPECT_EQ(out(), "Successfully applied 2 'IPPool' resource(s)\n");
  EXPECT_TRUE(server_.object(std::string(kPools) + "/b"));
}

TEST_F(CtlTest, StandardInput) {
  stdin_.str(R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"s"},)"
             R"("spec":{"cidr":"10.5.0.0/16"}})");
  EXPECT_EQ(run({"create", "-f", "-"}), 0) << err();
  EXPECT_EQ(out(), "Successfully created 1 'IPPool' resource(s)\n");
}

TEST_F(CtlTest, UnreadableAndEmptyFiles) {
  EXPECT_EQ(run({"apply", "-f", dir_ + "/missing.yaml"}), 1);
  EXPECT_THAT(err(), HasSubstr("missing.yaml"));
  std::string empty = write("empty.yaml", "---\n");
  EXPECT_EQ(run({"apply", "-f", empty}), 1);
  EXPECT_EQ(err(), "No resources specified in file " + empty + "\n");
  std::string broken = write("broken.yaml", "kind: [unclosed\n");
  EXPECT_EQ(run({"apply", "-f", broken}), 1);
  EXPECT_THAT(err(), StartsWith(broken + ": "));
  EXPECT_TRUE(server_.requests().empty());
}

// ---- get ----

TEST_F(CtlTest, RenderTableMatchesTabwriter) {
  EXPECT_EQ(renderTable({"NAME", "CIDR", "SELECTOR"}, {{"pool1", "10.0.0.0/16", "all()"}}),
            "NAME    CIDR          SELECTOR   \n"
            "pool1   10.0.0.0/16   all()      \n"
            "\n");
  // A column is max(5, widest cell + 3) wide, so a short or empty column is 5 wide.
  EXPECT_EQ(renderTable({"A", ""}, {}), "A    "
                                        "     \n\n");
}

TEST_F(CtlTest, GetPrintsCalicoctlColumns) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.0.0.0/16"));
  server_.seed(std::string(kPools) + "/pool2", poolObj("pool2", "10.22.0.0/16"));
  EXPECT_EQ(run({"get", "ippools"}), 0) << err();
  EXPECT_EQ(out(), "NAME    CIDR           SELECTOR   \n"
                   "pool1   10.0.0.0/16    all()      \n"
                   "pool2   10.22.0.0/16   all()      \n"
                   "\n");
  EXPECT_EQ(server_.requests("GET").back().path, kPools);

  EXPECT_EQ(run({"get", "ipp", "pool2"}), 0) << err();
  EXPECT_EQ(out(), "NAME    CIDR           SELECTOR   \n"
                   "pool2   10.22.0.0/16   all()      \n"
                   "\n");
}

TEST_F(CtlTest, GetWideAddsColumns) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.0.0.0/16"));
  EXPECT_EQ(run({"get", "ippool", "-o", "wide"}), 0) << err();
  std::istringstream ss(out());
  std::vector<std::string> headers;
  std::string header;
  std::getline(ss, header);
  std::istringstream hs(header);
  for (std::string h; hs >> h;) {
    headers.push_back(h);
  }
  std::vector<std::string> want = {
      "NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED", "DISABLEBGPEXPORT", "SELECTOR"};
  ASSERT_GE(headers.size(), want.size());
  EXPECT_EQ(std::vector<std::string>(headers.begin(), headers.begin() + want.size()), want);
}

constexpr const char* kCalico = "/apis/projectcalico.org/v3/";

void seedYaml(FakeApiServer& server, const std::string& plural, const std::string& yaml) {
  Value obj = *parseYaml(yaml);
  server.seed(kCalico + plural + "/" + obj.getString("metadata.name"), obj);
}

size_t countRequests(const FakeApiServer& server, const std::string& pathPart) {
  size_t n = 0;
  for (const auto& r : server.requests("GET")) {
    n += r.path.find(pathPart) != std::string::npos ? 1 : 0;
  }
  return n;
}

TEST_F(CtlTest, GetBgpPeersPrintsCalicoctlColumns) {
  seedYaml(server_, "bgppeers",
           "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: rack1-tor}\n"
           "spec: {node: node1, peerIP: 10.0.0.2, asNumber: 65001}\n");
  seedYaml(server_, "bgppeers",
           "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: to-rr}\n"
           "spec: {nodeSelector: all(), peerSelector: route-reflector == 'true'}\n");
  seedYaml(server_, "bgppeers",
           "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: tor}\n"
           "spec: {peerIP: 10.0.0.1, asNumber: 64600}\n");
  // calicoctl: NAME PEERIP NODE ASN in both outputs; NODE is the node, else the node selector,
  // else "(global)"; a peer without an AS number shows 0.
  const std::string want = "NAME        PEERIP     NODE       ASN     \n"
                           "rack1-tor   10.0.0.2   node1      65001   \n"
                           "to-rr                  all()      0       \n"
                           "tor         10.0.0.1   (global)   64600   \n"
                           "\n";
  EXPECT_EQ(run({"get", "bgppeers"}), 0) << err();
  EXPECT_EQ(out(), want);
  EXPECT_EQ(run({"get", "bgpp", "-o", "wide"}), 0) << err();
  EXPECT_EQ(out(), want);
  EXPECT_EQ(countRequests(server_, "bgpconfigurations"), 0u);
}

TEST_F(CtlTest, GetNodesPrintsCalicoctlColumns) {
  seedYaml(server_, "nodes",
           "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node1}\n"
           "spec: {bgp: {ipv4Address: 10.0.0.11/24}}\n");
  seedYaml(server_, "nodes",
           "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node2}\n"
           "spec: {bgp: {asNumber: 65002, ipv4Address: 10.0.0.12/24, ipv6Address: "
           "fd00::12/64}}\n");
  seedYaml(server_, "nodes",
           "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node3}\n"
           "spec: {}\n");

  EXPECT_EQ(run({"get", "nodes"}), 0) << err();
  EXPECT_EQ(out(), "NAME    \n"
                   "node1   \n"
                   "node2   \n"
                   "node3   \n"
                   "\n");
  EXPECT_EQ(countRequests(server_, "bgpconfigurations"), 0u);

  // No default BGPConfiguration: the inherited AS number is 64512. Nodes without BGP have no
  // ASN or addresses.
  server_.clearRequests();
  EXPECT_EQ(run({"get", "nodes", "-o", "wide"}), 0) << err();
  EXPECT_EQ(out(), "NAME    ASN       IPV4           IPV6          \n"
                   "node1   (64512)   10.0.0.11/24                 \n"
                   "node2   65002     10.0.0.12/24   fd00::12/64   \n"
                   "node3                                          \n"
                   "\n");
  ASSERT_EQ(server_.requests("GET").size(), 2u);
  EXPECT_EQ(server_.requests("GET")[0].path, std::string(kCalico) + "nodes");
  EXPECT_EQ(server_.requests("GET")[1].path, std::string(kCalico) + "bgpconfigurations/default");
}

TEST_F(CtlTest, GetNodesWideInheritsTheDefaultBgpConfigurationAsNumber) {
  seedYaml(server_, "nodes",
           "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node1}\n"
           "spec: {bgp: {ipv4Address: 10.0.0.11/24}}\n");
  seedYaml(server_, "nodes",
           "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node2}\n"
           "spec: {bgp: {ipv4Address: 10.0.0.12/24}}\n");
  seedYaml(server_, "bgpconfigurations",
           "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: "
           "default}\nspec: {asNumber: 65000}\n");
  EXPECT_EQ(run({"get", "nodes", "-o", "wide"}), 0) << err();
  EXPECT_EQ(out(), "NAME    ASN       IPV4           IPV6   \n"
                   "node1   (65000)   10.0.0.11/24          \n"
                   "node2   (65000)   10.0.0.12/24          \n"
                   "\n");
  // Read once for all rows.
  EXPECT_EQ(countRequests(server_, "bgpconfigurations/default"), 1u);

  // A default BGPConfiguration without an AS number: 64512.
  seedYaml(server_, "bgpconfigurations",
           "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: "
           "default}\nspec: {nodeToNodeMeshEnabled: false}\n");
  EXPECT_EQ(run({"get", "node", "node1", "-o", "wide"}), 0) << err();
  EXPECT_THAT(out(), HasSubstr("node1   (64512)   10.0.0.11/24"));

  // It cannot be read: calicoctl's "unknown"; the listing itself still succeeds.
  server_.inject({"GET", "bgpconfigurations", 500, "InternalError", "boom", {}, 1});
  EXPECT_EQ(run({"get", "node", "node1", "-o", "wide"}), 0) << err();
  EXPECT_THAT(out(), HasSubstr("node1   (unknown)   10.0.0.11/24"));
}

TEST_F(CtlTest, GetAllNamespacesAddsNamespaceColumn) {
  std::string base = "/apis/projectcalico.org/v3/namespaces/";
  Value a = *parseYaml("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: "
                       "{name: allow, namespace: dev}\nspec: {tier: default}\n");
  Value b = *parseYaml("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: "
                       "{name: deny, namespace: prod}\nspec: {tier: default}\n");
  server_.seed(base + "dev/networkpolicies/allow", a);
  server_.seed(base + "prod/networkpolicies/deny", b);

  EXPECT_EQ(run({"get", "networkpolicy", "-A"}), 0) << err();
  EXPECT_EQ(server_.requests("GET").back().path, "/apis/projectcalico.org/v3/networkpolicies");
  EXPECT_EQ(out(), "NAMESPACE   NAME    TIER      \n"
                   "dev         allow   default   \n"
                   "prod        deny    default   \n"
                   "\n");

  EXPECT_EQ(run({"get", "networkpolicy", "-n", "prod"}), 0) << err();
  EXPECT_EQ(server_.requests("GET").back().path, base + "prod/networkpolicies");
  EXPECT_EQ(out(), "NAME   TIER      \n"
                   "deny   default   \n"
                   "\n");

  EXPECT_EQ(run({"get", "networkpolicy"}), 0) << err();
  EXPECT_EQ(server_.requests("GET").back().path, base + "default/networkpolicies");

  EXPECT_EQ(run({"get", "networkpolicy", "-A", "-n", "prod"}), 1);
  EXPECT_THAT(err(), HasSubstr("cannot use both --namespace and --all-namespaces"));
}

TEST_F(CtlTest, GetYamlAndJson) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.0.0.0/16"));
  server_.seed(std::string(kPools) + "/pool2", poolObj("pool2", "10.2.0.0/16"));

  EXPECT_EQ(run({"get", "ippool", "pool1", "-o", "yaml"}), 0) << err();
  Value one = *parseYaml(out());
  EXPECT_EQ(one.getString("kind"), "IPPool");
  EXPECT_EQ(one.getString("metadata.name"), "pool1");
  EXPECT_THAT(out(), StartsWith("apiVersion: projectcalico.org/v3\nkind: IPPool\n"));

  EXPECT_EQ(run({"get", "ippool", "-o", "yaml"}), 0) << err();
  Value list = *parseYaml(out());
  EXPECT_EQ(list.getString("kind"), "IPPoolList");
  EXPECT_EQ(list.getString("apiVersion"), "projectcalico.org/v3");
  EXPECT_EQ(list.find("items")->size(), 2u);
  EXPECT_THAT(out(), StartsWith("apiVersion: projectcalico.org/v3\nitems:\n"));

  EXPECT_EQ(run({"get", "ippool", "pool1", "pool2", "-o", "json"}), 0) << err();
  Value j = *parseJson(out());
  EXPECT_EQ(j.getString("kind"), "IPPoolList");
  EXPECT_EQ(j.find("items")->size(), 2u);
  EXPECT_THAT(out(), StartsWith("{\n  \"kind\": \"IPPoolList\",\n"));

  EXPECT_EQ(run({"get", "ippool", "pool2", "-o", "json"}), 0) << err();
  EXPECT_EQ(parseJson(out())->getString("metadata.name"), "pool2");
}

TEST_F(CtlTest, GetNameOutputAndSelector) {
  Value labelled = poolObj("pool1", "10.0.0.0/16");
  labelled["metadata"]["labels"].set("env", "prod");
  server_.seed(std::string(kPools) + "/pool1", labelled);
  server_.seed(std::string(kPools) + "/pool2", poolObj("pool2", "10.2.0.0/16"));
  EXPECT_EQ(run({"get", "ippool", "-o", "name"}), 0) << err();
  EXPECT_EQ(out(), "ippool/pool1\nippool/pool2\n");
  EXPECT_EQ(run({"get", "ippool", "-l", "env=prod", "-o", "name"}), 0) << err();
  EXPECT_EQ(out(), "ippool/pool1\n");
  EXPECT_EQ(server_.requests("GET").back().query, "labelSelector=env%3Dprod&limit=500");
}

TEST_F(CtlTest, GetMissingAndUnknown) {
  EXPECT_EQ(run({"get", "ippool", "nope"}), 1);
  EXPECT_EQ(err(), "resource does not exist: IPPool(nope) with error: ippools.projectcalico.org "
                   "\"nope\" not found\n");
  EXPECT_EQ(out(), "");
  EXPECT_EQ(run({"get", "bogus"}), 1);
  EXPECT_EQ(err(), "resource type 'bogus' is not supported\n");
  EXPECT_EQ(run({"get", "ippool", "-o", "xml"}), 1);
  EXPECT_THAT(err(), HasSubstr("unrecognized output format 'xml'"));
}

TEST_F(CtlTest, GetSomeNamesMissing) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.0.0.0/16"));
  EXPECT_EQ(run({"get", "ippool", "pool1", "nope", "-o", "name"}), 1);
  EXPECT_EQ(out(), "ippool/pool1\n");
  EXPECT_THAT(err(), StartsWith("resource does not exist: IPPool(nope)"));
}

// ---- patch / label ----

TEST_F(CtlTest, PatchSendsTheBodyWithTheChosenType) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.0.0.0/16"));
  EXPECT_EQ(run({"patch", "ippool", "pool1", "-p", R"({"spec":{"natOutgoing":true}})"}), 0)
      << err();
  EXPECT_EQ(out(), "Successfully patched 1 'IPPool' resource\n");
  auto p = server_.requests("PATCH").back();
  EXPECT_EQ(p.path, std::string(kPools) + "/pool1");
  EXPECT_EQ(p.contentType, "application/strategic-merge-patch+json");
  EXPECT_EQ(p.body, R"({"spec":{"natOutgoing":true}})");
  EXPECT_TRUE(server_.object(std::string(kPools) + "/pool1")->path("spec.natOutgoing")->asBool());

  EXPECT_EQ(run({"patch", "ippool", "pool1", "--type", "merge", "-p", R"({"spec":{}})"}), 0);
  EXPECT_EQ(server_.requests("PATCH").back().contentType, "application/merge-patch+json");
  EXPECT_EQ(run({"patch", "ippool", "pool1", "--type", "json", "-p",
                 R"([{"op":"replace","path":"/spec/disabled","value":true}])"}),
            0);
  EXPECT_EQ(server_.requests("PATCH").back().contentType, "application/json-patch+json");
}

TEST_F(CtlTest, PatchErrors) {
  EXPECT_EQ(run({"patch", "ippool", "pool1", "-p", "{not json"}), 1);
  EXPECT_THAT(err(), HasSubstr("not valid JSON"));
  EXPECT_EQ(run({"patch", "ippool", "pool1", "--type", "json", "-p", "{}"}), 1);
  EXPECT_EQ(run({"patch", "ippool", "pool1", "--type", "bogus", "-p", "{}"}), 1);
  EXPECT_TRUE(server_.requests().empty());
  EXPECT_EQ(run({"patch", "ippool", "pool1", "-p", "{}"}), 1);
  EXPECT_EQ(err(), "Failed to patch 'IPPool' resource: resource does not exist: IPPool(pool1) "
                   "with error: ippools.projectcalico.org \"pool1\" not found\n");
}

TEST_F(CtlTest, LabelSetsUpdatesAndRemoves) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.0.0.0/16"));
  auto rv = [&] {
    return server_.object(std::string(kPools) + "/pool1")->getString("metadata.resourceVersion");
  };
  std::string before = rv();
  EXPECT_EQ(run({"label", "ippool", "pool1", "env=prod"}), 0) << err();
  EXPECT_EQ(out(), "Successfully set label env on ippool pool1\n");
  auto p = server_.requests("PATCH").back();
  EXPECT_EQ(p.contentType, "application/merge-patch+json");
  EXPECT_EQ(p.body,
            R"({"metadata":{"resourceVersion":")" + before + R"(","labels":{"env":"prod"}}})");

  EXPECT_EQ(run({"label", "ippool", "pool1", "env=dev"}), 1);
  EXPECT_EQ(err(), "failed to update label of ippool pool1, key env is already present. please "
                   "use '--overwrite' to set a new value.\n");

  EXPECT_EQ(run({"label", "ippool", "pool1", "env=dev", "--overwrite"}), 0) << err();
  EXPECT_EQ(out(), "Successfully updated label env on ippool pool1\n");
  EXPECT_EQ(server_.object(std::string(kPools) + "/pool1")->getString("metadata.labels.env"),
            "dev");

  std::string now = rv();
  EXPECT_EQ(run({"label", "ippool", "pool1", "env", "--remove"}), 0) << err();
  EXPECT_EQ(out(), "Successfully removed label env from ippool pool1\n");
  EXPECT_EQ(server_.requests("PATCH").back().body,
            R"({"metadata":{"resourceVersion":")" + now + R"(","labels":{"env":null}}})");
  EXPECT_FALSE(server_.object(std::string(kPools) + "/pool1")->path("metadata.labels.env"));

  EXPECT_EQ(run({"label", "ippool", "pool1", "env", "--remove"}), 1);
  EXPECT_EQ(err(), "cannot remove label of ippool pool1, key env does not exist\n");
  EXPECT_EQ(run({"label", "ippool", "pool1", "a=b=c"}), 1);
  EXPECT_EQ(err(), "invalid label a=b=c\n");
}

TEST_F(CtlTest, LabelRetriesOnConflict) {
  server_.seed(std::string(kPools) + "/pool1", poolObj("pool1", "10.0.0.0/16"));
  InjectedFailure f;
  f.method = "PATCH";
  f.status = 409;
  f.reason = "Conflict";
  f.message = "modified";
  server_.inject(f);
  EXPECT_EQ(run({"label", "ippool", "pool1", "env=prod"}), 0) << err();
  EXPECT_EQ(server_.requests("PATCH").size(), 2u);
  EXPECT_EQ(server_.requests("GET").size(), 2u);
}

TEST_F(CtlTest, LabelOfAMissingObject) {
  EXPECT_EQ(run({"label", "ippool", "nope", "env=prod"}), 1);
  EXPECT_EQ(err(), "failed to get ippool nope, error resource does not exist: IPPool(nope) with "
                   "error: ippools.projectcalico.org \"nope\" not found\n");
}

// ---- version / selector ----

TEST_F(CtlTest, VersionPrintsClientAndCluster) {
  EXPECT_EQ(run({"version"}), 0) << err();
  EXPECT_THAT(out(), StartsWith("Client Version:    v"));
  EXPECT_THAT(out(), HasSubstr("\nCluster Version:   v1.32.0-caracal\n"));
  EXPECT_THAT(out(), HasSubstr("\nCluster Type:      "));
  EXPECT_EQ(server_.requests("GET").front().path, "/version");

  vars_.clear();
  EXPECT_EQ(run({"version"}), 1);
  EXPECT_THAT(out(), StartsWith("Client Version:    v"));
  EXPECT_THAT(err(), StartsWith("Unable to retrieve Cluster Version or Type: no API server"));
}

TEST_F(CtlTest, SelectorAgainstLabels) {
  EXPECT_EQ(run({"selector", "app == 'web' && has(tier)", "--labels", "app=web,tier=fe"}), 0);
  EXPECT_EQ(out(), "true\n");
  EXPECT_EQ(run({"selector", "app == 'web'", "--labels", "app=db"}), 0);
  EXPECT_EQ(out(), "false\n");
  EXPECT_EQ(run({"selector", "!has(x)", "--labels", ""}), 0) << err();
  EXPECT_EQ(out(), "true\n");
  EXPECT_EQ(run({"selector", "app == web", "--labels", "app=web"}), 1);
  EXPECT_THAT(err(), StartsWith("invalid selector \"app == web\": "));
  EXPECT_THAT(err(), HasSubstr("column"));
  EXPECT_EQ(run({"selector", "all()", "--labels", "novalue"}), 1);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(CtlTest, SelectorListsMatchingEndpoints) {
  server_.seed("/apis/projectcalico.org/v3/namespaces/prod/workloadendpoints/n1-k8s-web-eth0",
               *parseYaml("apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n"
                          "  name: n1-k8s-web-eth0\n  namespace: prod\n  labels: {app: web}\n"
                          "spec: {node: n1, pod: web, orchestrator: k8s}\n"));
  server_.seed("/apis/projectcalico.org/v3/namespaces/dev/workloadendpoints/n1-k8s-db-eth0",
               *parseYaml("apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n"
                          "  name: n1-k8s-db-eth0\n  namespace: dev\n  labels: {app: db}\n"
                          "spec: {node: n1, pod: db}\n"));
  server_.seed("/apis/projectcalico.org/v3/hostendpoints/n1-eth0",
               *parseYaml("apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n"
                          "  name: n1-eth0\n  labels: {app: web}\nspec: {node: n1}\n"));

  EXPECT_EQ(run({"selector", "app == 'web'"}), 0) << err();
  EXPECT_EQ(out(), "KIND               NAMESPACE   NAME              \n"
                   "WorkloadEndpoint   prod        n1-k8s-web-eth0   \n"
                   "HostEndpoint                   n1-eth0           \n"
                   "\n");
  EXPECT_EQ(run({"selector", "projectcalico.org/namespace == 'dev'"}), 0) << err();
  EXPECT_THAT(out(), HasSubstr("n1-k8s-db-eth0"));
  EXPECT_THAT(out(), ::testing::Not(HasSubstr("n1-eth0 ")));
  EXPECT_EQ(run({"selector", "projectcalico.org/orchestrator == 'k8s'"}), 0) << err();
  EXPECT_THAT(out(), HasSubstr("n1-k8s-web-eth0"));
  EXPECT_THAT(out(), ::testing::Not(HasSubstr("n1-k8s-db-eth0")));
}

// ---- configuration and command line ----

TEST_F(CtlTest, NothingConfigured) {
  vars_.clear();
  EXPECT_EQ(run({"get", "ippool"}), 1);
  EXPECT_THAT(err(), StartsWith("no API server configured"));
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(CtlTest, ServerAndTokenFlags) {
  EXPECT_EQ(run({"--server", "https://10.0.0.1:6443", "--token", "s3cret", "get", "ippool"}), 0)
      << err();
  EXPECT_EQ(lastConfig_.server, "https://10.0.0.1:6443");
  EXPECT_EQ(lastConfig_.token, "s3cret");
  EXPECT_EQ(server_.requests().back().authorization, "Bearer s3cret");

  vars_["CARACAL_TOKEN"] = "envtoken";
  EXPECT_EQ(run({"get", "ippool", "--insecure-skip-tls-verify"}), 0) << err();
  EXPECT_EQ(lastConfig_.server, "http://127.0.0.1:1");
  EXPECT_EQ(lastConfig_.token, "envtoken");
  EXPECT_TRUE(lastConfig_.insecure);
}

TEST_F(CtlTest, KubeconfigFlag) {
  vars_.clear();
  std::string kc =
      write("k.yaml", "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                      "    server: https://127.0.0.1:6443\n"
                      "    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n"
                      "    token: kctoken\ncontexts:\n- name: x\n  context: {cluster: "
                      "c, user: u}\ncurrent-context: x\n");
  EXPECT_EQ(run({"--kubeconfig", kc, "get", "ippool"}), 0) << err();
  EXPECT_EQ(lastConfig_.server, "https://127.0.0.1:6443");
  EXPECT_EQ(lastConfig_.token, "kctoken");
  EXPECT_EQ(server_.requests().back().authorization, "Bearer kctoken");
}

TEST_F(CtlTest, CommandLineErrorsAndHelp) {
  EXPECT_EQ(run({}), 1);
  EXPECT_EQ(run({"frobnicate"}), 1);
  EXPECT_EQ(run({"apply"}), 1);
  EXPECT_THAT(err(), HasSubstr("filename"));
  EXPECT_EQ(run({"delete"}), 1);
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_THAT(out(), HasSubstr("apply"));
  EXPECT_TRUE(server_.requests().empty());
}

} // namespace
} // namespace caracal::ctl
