// caracalctl ipam, driven through runCaracalctl against the real apiserver handler in process.
#include "api/registry.h"
#include "ctl/ctl.h"
#include "ctl/ipam.h"
#include "ipam/ipam.h"
#include "ipam/testing/in_process_api.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sstream>

namespace caracal::ctl {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const api::KindInfo& kind(const char* apiVersion, const char* k) {
  return *api::findByKind(apiVersion, k);
}

// Forwards to another transport and runs a hook once, before the first PUT of an IPAMBlock.
class HookedTransport : public datastore::HttpTransport {
public:
  HookedTransport(datastore::HttpTransportPtr inner, std::function<void()>* hook)
      : inner_(std::move(inner)), hook_(hook) {}
  Result<datastore::HttpResponse> send(const datastore::HttpRequest& req) override {
    if (*hook_ && req.method == "PUT" && req.target.find("/ipamblocks/") != std::string::npos) {
      auto fn = std::move(*hook_);
      *hook_ = nullptr;
      fn();
    }
    return inner_->send(req);
  }
  Result<datastore::HttpResponse> stream(const datastore::HttpRequest& req,
                                         const datastore::LineCallback& onLine,
                                         const datastore::StreamOptions& opts) override {
    return inner_->stream(req, onLine, opts);
  }

private:
  datastore::HttpTransportPtr inner_;
  std::function<void()>* hook_;
};

class CtlIpamTest : public ::testing::Test {
protected:
  CtlIpamTest() : client_(api_.client()), store_(ipam::makeRestStore(*client_)), ipam_(*store_) {}

  void SetUp() override {
    char tmpl[] = "/tmp/caracal-ctl-ipam-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_.env = [](const std::string& name) -> std::optional<std::string> {
      if (name == "CARACAL_SERVER") {
        return "http://127.0.0.1:1";
      }
      return std::nullopt;
    };
    env_.defaultKubeconfig = dir_ + "/absent.kubeconfig";
    env_.makeClient =
        [this](const datastore::ClientConfig&) -> Result<std::unique_ptr<datastore::RestClient>> {
      return std::make_unique<datastore::RestClient>(
          std::make_unique<HookedTransport>(api_.transport(), &beforeBlockWrite_),
          ipam::testing::InProcessApi::token());
    };
    env_.sleep = [](std::chrono::milliseconds) {};
    Value pool = *parseYaml("apiVersion: projectcalico.org/v3\nkind: IPPool\n"
                            "metadata: {name: pool1}\nspec: {cidr: 10.244.0.0/16}\n");
    ASSERT_TRUE(store_->create(kind("projectcalico.org/v3", "IPPool"), pool));
    Value node = *parseYaml("apiVersion: projectcalico.org/v3\nkind: Node\n"
                            "metadata: {name: node1}\nspec: {}\n");
    ASSERT_TRUE(store_->create(kind("projectcalico.org/v3", "Node"), node));
  }
  void TearDown() override { fs::remove_all(dir_); }

  int run(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    int rc = runCaracalctl(args, out, err, env_);
    out_ = out.str();
    err_ = err.str();
    return rc;
  }

  // Allocates `n` addresses for pod `pod` (created too, when `live`) on `node`.
  std::vector<std::string> allocate(const std::string& pod, int n, bool live,
                                    const std::string& node = "node1") {
    if (live) {
      Value p = *parseYaml("apiVersion: v1\nkind: Pod\nmetadata: {name: " + pod +
                           ", namespace: default}\nspec: {containers: [{name: c}]}\n");
      auto c = client_->create(kind("v1", "Pod"), p);
      EXPECT_TRUE(c) << c.error().str();
    }
    ipam::AssignArgs a;
    a.handle = "h-" + pod;
    a.node = node;
    a.num4 = n;
    a.attrs = {{"namespace", "default"},
               {"pod", pod},
               {"node", node},
               {"timestamp", "2025-06-01T10:00:00Z"}};
    auto r = ipam_.autoAssign(a);
    EXPECT_TRUE(r) << r.error().str();
    std::vector<std::string> out;
    if (r) {
      for (const auto& ip : *r) {
        out.push_back(ip.addr.str());
      }
    }
    return out;
  }

  ipam::testing::InProcessApi api_;
  std::unique_ptr<datastore::RestClient> client_;
  std::unique_ptr<ipam::Store> store_;
  ipam::Ipam ipam_;
  CtlEnv env_;
  // Run once by caracalctl's client just before its first IPAMBlock write.
  std::function<void()> beforeBlockWrite_;
  std::string dir_;
  std::string out_, err_;
};

TEST(CtlIpamBoxTable, MatchesTablewriterLayout) {
  std::string t = renderBoxTable({"A", "LONG HEADER"}, {{"x", "12"}, {"yyyy", "1 (5%)"}});
  EXPECT_EQ(t, "+------+-------------+\n"
               "|  A   | LONG HEADER |\n"
               "+------+-------------+\n"
               "| x    |          12 |\n"
               "| yyyy | 1 (5%)      |\n"
               "+------+-------------+\n");
  EXPECT_EQ(renderBoxTable({"IP"}, {}), "+----+\n| IP |\n+----+\n+----+\n");
}

TEST_F(CtlIpamTest, ShowPrintsPoolUtilization) {
  allocate("a", 5, true);
  allocate("b", 2, true, "node2");
  EXPECT_EQ(run({"ipam", "show"}), 0) << err_;
  EXPECT_EQ(out_, "+----------+---------------+-----------+------------+--------------+\n"
                  "| GROUPING |     CIDR      | IPS TOTAL | IPS IN USE |   IPS FREE   |\n"
                  "+----------+---------------+-----------+------------+--------------+\n"
                  "| IP Pool  | 10.244.0.0/16 |     65536 | 7 (0%)     | 65529 (100%) |\n"
                  "+----------+---------------+-----------+------------+--------------+\n");
  EXPECT_EQ(err_, "");
}

TEST_F(CtlIpamTest, ShowBlocksAddsOneRowPerBlock) {
  allocate("a", 5, true);
  allocate("b", 2, true, "node2");
  EXPECT_EQ(run({"ipam", "show", "--show-blocks"}), 0) << err_;
  EXPECT_EQ(out_, "+----------+----------------+-----------+------------+--------------+\n"
                  "| GROUPING |      CIDR      | IPS TOTAL | IPS IN USE |   IPS FREE   |\n"
                  "+----------+----------------+-----------+------------+--------------+\n"
                  "| IP Pool  | 10.244.0.0/16  |     65536 | 7 (0%)     | 65529 (100%) |\n"
                  "| Block    | 10.244.0.0/26  |        64 | 5 (8%)     | 59 (92%)     |\n"
                  "| Block    | 10.244.0.64/26 |        64 | 2 (3%)     | 62 (97%)     |\n"
                  "+----------+----------------+-----------+------------+--------------+\n");
}

TEST_F(CtlIpamTest, ShowIpTellsWhoHasIt) {
  allocate("web-0", 1, true);
  EXPECT_EQ(run({"ipam", "show", "--ip=10.244.0.0"}), 0) << err_;
  EXPECT_EQ(out_, "IP 10.244.0.0 is in use\n"
                  "Handle ID: h-web-0\n"
                  "Block: 10.244.0.0/26 (affinity host:node1)\n"
                  "Attributes:\n"
                  "  namespace: default\n"
                  "  node: node1\n"
                  "  pod: web-0\n"
                  "  timestamp: 2025-06-01T10:00:00Z\n");
  EXPECT_EQ(run({"ipam", "show", "--ip", "10.244.0.1"}), 0);
  EXPECT_EQ(out_, "10.244.0.1 is not assigned\n");
  EXPECT_EQ(run({"ipam", "show", "--ip=10.244.0"}), 1);
  EXPECT_EQ(err_, "invalid IP address \"10.244.0\"\n");
}

TEST_F(CtlIpamTest, CheckOnCleanDataExitsZero) {
  allocate("a", 2, true);
  EXPECT_EQ(run({"ipam", "check"}), 0) << out_ << err_;
  EXPECT_THAT(out_, HasSubstr("Found 1 nodes.\n"));
  EXPECT_THAT(out_, HasSubstr("Found 1 pods.\n"));
  EXPECT_THAT(out_, HasSubstr("Found 1 IPAM blocks.\n"));
  EXPECT_THAT(out_, HasSubstr("Found 2 IP allocations.\n"));
  EXPECT_THAT(out_, HasSubstr("Found 0 leaked IPs"));
  EXPECT_THAT(out_, HasSubstr("\nCheck complete; found 0 problems.\n"));
  EXPECT_THAT(out_, ::testing::Not(HasSubstr("Problems:")));
}

TEST_F(CtlIpamTest, CheckListsProblemsExitsOneAndWritesAReport) {
  allocate("live", 1, true);
  allocate("gone", 1, false); // its pod does not exist: leaked
  std::string report = dir_ + "/report.json";
  EXPECT_EQ(run({"ipam", "check", "-o", report}), 1);
  EXPECT_THAT(out_, HasSubstr("Found 1 leaked IPs"));
  EXPECT_THAT(out_, HasSubstr("  LeakedAddress: IP 10.244.0.1 (block 10.244.0.0/26) is allocated "
                              "to pod default/gone, which no longer exists (handle h-gone)\n"));
  EXPECT_THAT(out_, HasSubstr("Report written to " + report));
  EXPECT_THAT(out_, HasSubstr("Check complete; found 1 problems.\n"));
  std::ifstream in(report);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = parseJson(ss.str());
  ASSERT_TRUE(j) << ss.str();
  EXPECT_EQ(j->find("allocations")->asInt(), 2);
  ASSERT_EQ(j->find("leakedIPs")->size(), 1u);
  EXPECT_EQ(j->find("leakedIPs")->asArray()[0].getString("ip"), "10.244.0.1");
  EXPECT_EQ(j->find("problems")->asArray()[0].getString("kind"), "LeakedAddress");

  // The report drives the release; the live pod's address is untouched.
  EXPECT_EQ(run({"ipam", "release", "--from-report=" + report}), 0) << err_;
  EXPECT_EQ(out_, "Successfully released IP address 10.244.0.1\n");
  EXPECT_EQ(run({"ipam", "check"}), 0) << out_;
  // Released already: a second pass names the address.
  EXPECT_EQ(run({"ipam", "release", "--from-report", report}), 1);
  EXPECT_EQ(err_, "IP address 10.244.0.1 is not assigned\n");
}

TEST_F(CtlIpamTest, CheckFindsCorruptionInTheObjects) {
  allocate("a", 1, true);
  ASSERT_TRUE(store_->remove(kind("projectcalico.org/v3", "IPAMHandle"), "", "h-a").isOk());
  EXPECT_EQ(run({"ipam", "check", "--show-problem-ips"}), 1);
  EXPECT_THAT(out_, HasSubstr("LeakedAddress: IP 10.244.0.0 (block 10.244.0.0/26) is allocated to "
                              "handle h-a, which does not exist\n"));
}

TEST_F(CtlIpamTest, CheckShortensLongProblemLists) {
  allocate("gone", 12, false);
  EXPECT_EQ(run({"ipam", "check"}), 1);
  EXPECT_THAT(out_, HasSubstr("  ... 2 more (use --show-problem-ips to list them all)\n"));
  EXPECT_EQ(run({"ipam", "check", "--show-problem-ips"}), 1);
  EXPECT_THAT(out_, HasSubstr("10.244.0.11 "));
  EXPECT_THAT(out_, ::testing::Not(HasSubstr("more (use")));
}

TEST_F(CtlIpamTest, ReleaseByIp) {
  allocate("gone", 2, false);
  EXPECT_EQ(run({"ipam", "release", "--ip=10.244.0.1"}), 0) << err_;
  EXPECT_EQ(out_, "Successfully released IP address 10.244.0.1\n");
  EXPECT_EQ(ipam_.lookup(*api::parseIp("10.244.0.1")).code(), Code::NotFound);
  EXPECT_TRUE(ipam_.lookup(*api::parseIp("10.244.0.0")));
  EXPECT_EQ(run({"ipam", "release", "--ip=10.244.0.1"}), 1);
  EXPECT_EQ(err_, "IP address 10.244.0.1 is not assigned\n");
  EXPECT_EQ(run({"ipam", "release", "--ip=not-an-ip"}), 1);
  EXPECT_EQ(err_, "invalid IP address \"not-an-ip\"\n");
}

TEST_F(CtlIpamTest, ReleaseLeavesAnAddressReallocatedToAnotherPodMeanwhile) {
  allocate("gone", 2, false);
  const api::IpAddr ip = *api::parseIp("10.244.0.0");
  // Between caracalctl's lookup and its write, the address is freed and handed to a new pod.
  beforeBlockWrite_ = [&] {
    auto rel = ipam_.releaseIps({ip});
    ASSERT_TRUE(rel && rel->empty());
    ipam::AssignArgs a;
    a.handle = "h-new";
    a.node = "node1";
    a.attrs = {{"namespace", "default"}, {"pod", "new"}, {"node", "node1"}};
    ASSERT_TRUE(ipam_.assignIp(ip, a).isOk());
  };
  EXPECT_EQ(run({"ipam", "release", "--ip=10.244.0.0", "--force"}), 1);
  EXPECT_EQ(err_, "IP address 10.244.0.0 was re-allocated to handle h-new (was h-gone) while being "
                  "released; not released\n");
  EXPECT_EQ(out_, "");
  auto a = ipam_.lookup(ip);
  ASSERT_TRUE(a) << a.error().str();
  EXPECT_EQ(a->handle, "h-new");
  EXPECT_EQ(a->attrs.at("pod"), "new");
}

TEST_F(CtlIpamTest, ReleaseFromReportNamesABadEntry) {
  allocate("gone", 1, false);
  std::string report = dir_ + "/bad.json";
  std::ofstream(report) << R"({"leakedIPs": [{"ip": "10.244.0.0", "handle": "h-gone"},
                               {"ip": "10.244.0.300", "handle": "h-x"}]})";
  EXPECT_EQ(run({"ipam", "release", "--from-report=" + report}), 1);
  EXPECT_THAT(err_, HasSubstr("invalid entry leakedIPs[1]"));
  EXPECT_THAT(err_, HasSubstr("10.244.0.300"));
  // Nothing was released: the report is checked before anything is touched.
  EXPECT_TRUE(ipam_.lookup(*api::parseIp("10.244.0.0")));
}

TEST_F(CtlIpamTest, CheckReportWriteFailureNamesTheOsError) {
  allocate("live", 1, true);
  std::string report = dir_ + "/no-such-dir/report.json";
  EXPECT_EQ(run({"ipam", "check", "-o", report}), 1);
  EXPECT_THAT(err_,
              HasSubstr("failed to write the report to " + report + ": No such file or directory"));
}

TEST_F(CtlIpamTest, ReleaseRefusesALivePodsAddressUnlessForced) {
  allocate("web", 1, true);
  EXPECT_EQ(run({"ipam", "release", "--ip=10.244.0.0"}), 1);
  EXPECT_EQ(err_, "IP address 10.244.0.0 is in use by pod default/web; not released (use --force "
                  "to release it anyway)\n");
  EXPECT_TRUE(ipam_.lookup(*api::parseIp("10.244.0.0")));
  EXPECT_EQ(run({"ipam", "release", "--ip=10.244.0.0", "--force"}), 0) << err_;
  EXPECT_EQ(out_, "Successfully released IP address 10.244.0.0\n");
  EXPECT_EQ(ipam_.lookup(*api::parseIp("10.244.0.0")).code(), Code::NotFound);
}

TEST_F(CtlIpamTest, ReleaseNeedsExactlyOneSource) {
  EXPECT_EQ(run({"ipam", "release"}), 1);
  EXPECT_THAT(err_, HasSubstr("needs --ip=X or --from-report=FILE"));
  EXPECT_EQ(run({"ipam", "release", "--ip=10.0.0.1", "--from-report=x.json"}), 1);
  EXPECT_EQ(run({"ipam", "release", "--from-report=" + dir_ + "/missing.json"}), 1);
  EXPECT_THAT(err_, HasSubstr("cannot read the report"));
}

TEST_F(CtlIpamTest, ConfigureWritesTheIpamConfiguration) {
  EXPECT_EQ(run({"ipam", "configure", "--strictaffinity=true"}), 0) << err_;
  EXPECT_EQ(out_, "Successfully set StrictAffinity to: true\n");
  auto cfg = client_->get(kind("projectcalico.org/v3", "IPAMConfiguration"), "", "default");
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->path("spec.strictAffinity")->asBool());
  EXPECT_EQ(run({"ipam", "configure", "--max-blocks-per-host=3"}), 0) << err_;
  EXPECT_EQ(out_, "Successfully set MaxBlocksPerHost to: 3\n");
  cfg = client_->get(kind("projectcalico.org/v3", "IPAMConfiguration"), "", "default");
  EXPECT_TRUE(cfg->path("spec.strictAffinity")->asBool());
  EXPECT_EQ(cfg->path("spec.maxBlocksPerHost")->asInt(), 3);
  EXPECT_EQ(run({"ipam", "configure", "--strictaffinity=maybe"}), 1);
  EXPECT_THAT(err_, HasSubstr("allowed: true, false"));
  EXPECT_EQ(run({"ipam", "configure"}), 1);
}

TEST_F(CtlIpamTest, IpamNeedsASubcommand) {
  EXPECT_EQ(run({"ipam"}), 1);
  EXPECT_EQ(run({"ipam", "frobnicate"}), 1);
}

} // namespace
} // namespace caracal::ctl
