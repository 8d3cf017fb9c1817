#include "datastore/kubeconfig.h"

#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <map>

namespace caracal::datastore {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace fs = std::filesystem;

// "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n" in base64.
constexpr const char* kCaB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1QKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";
constexpr const char* kCaPem = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n";

std::string adminKubeconfig(const std::string& server = "https://127.0.0.1:6443") {
  return "apiVersion: v1\nkind: Config\nclusters:\n- name: caracal\n  cluster:\n    server: " +
         server + "\n    certificate-authority-data: " + kCaB64 +
         "\nusers:\n- name: admin\n  user:\n    token: admintoken\ncontexts:\n- name: caracal\n"
         "  context:\n    cluster: caracal\n    user: admin\n    namespace: prod\n"
         "current-context: caracal\n";
}

TEST(KubeconfigTest, ParsesTheAdminKubeconfig) {
  auto cfg = parseKubeconfig(adminKubeconfig());
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->caPem, kCaPem);
  EXPECT_EQ(cfg->token, "admintoken");
  EXPECT_EQ(cfg->namespaceName, "prod");
  EXPECT_FALSE(cfg->insecure);
}

TEST(KubeconfigTest, SelectsAContext) {
  std::string text =
      "clusters:\n- {name: a, cluster: {server: 'https://a:1'}}\n"
      "- {name: b, cluster: {server: 'http://b:2', insecure-skip-tls-verify: true}}\n"
      "users:\n- {name: ua, user: {token: ta}}\n- {name: ub, user: {token: tb}}\n"
      "contexts:\n- {name: ca, context: {cluster: a, user: ua}}\n"
      "- {name: cb, context: {cluster: b, user: ub}}\ncurrent-context: ca\n";
  auto a = parseKubeconfig(text);
  ASSERT_TRUE(a) << a.error().str();
  EXPECT_EQ(a->server, "https://a:1");
  EXPECT_EQ(a->token, "ta");
  auto b = parseKubeconfig(text, "cb");
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ(b->server, "http://b:2");
  EXPECT_EQ(b->token, "tb");
  EXPECT_TRUE(b->insecure);
  auto missing = parseKubeconfig(text, "nope", "", "/x/k");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "kubeconfig /x/k: context \"nope\" not found");
}

TEST(KubeconfigTest, WithoutContextsOneClusterIsEnough) {
  auto cfg =
      parseKubeconfig("clusters:\n- {name: a, cluster: {server: 'http://127.0.0.1:8080'}}\n");
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->server, "http://127.0.0.1:8080");
  EXPECT_EQ(cfg->token, "");
}

TEST(KubeconfigTest, ReportsWhatIsWrong) {
  struct Case {
    std::string text;
    std::string message;
  };
  std::vector<Case> cases = {
      {"clusters: [unclosed", "kubeconfig k: invalid YAML: "},
      {"- a\n- b\n", "kubeconfig k: expected a mapping at the top level"},
      {"clusters: []\n", "kubeconfig k: no current-context set"},
      {"contexts:\n- {name: c, context: {cluster: x}}\ncurrent-context: c\n",
       "kubeconfig k: cluster \"x\" of context \"c\" not found"},
      {"clusters:\n- {name: x, cluster: {}}\ncontexts:\n- {name: c, context: {cluster: x}}\n",
       "kubeconfig k: cluster \"x\" has no server"},
      {"clusters:\n- {name: x, cluster: {server: 'https://h'}}\ncontexts:\n- {name: c, context: "
       "{cluster: x, user: u}}\n",
       "kubeconfig k: user \"u\" of context \"c\" not found"},
      {"clusters:\n- {name: x, cluster: {server: 'https://h', certificate-authority-data: '%%'}}\n",
       "kubeconfig k: cluster \"x\": certificate-authority-data: invalid base64 data"},
  };
  for (const auto& c : cases) {
    auto r = parseKubeconfig(c.text, "", "", "k");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.code(), Code::Invalid);
    EXPECT_THAT(r.error().message(), StartsWith(c.message)) << c.text;
  }
}

class ResolveTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/caracal-kubeconfig-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_ = [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      if (it == vars_.end()) {
        return std::nullopt;
      }
      return it->second;
    };
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }
  Result<ClientConfig> resolve(const ConfigOverrides& flags = {}) {
    return resolveClientConfig(flags, env_, dir_ + "/admin.kubeconfig");
  }

  std::string dir_;
  std::map<std::string, std::string> vars_;
  EnvLookup env_;
};

TEST_F(ResolveTest, NothingConfigured) {
  auto r = resolve();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::NotFound);
  EXPECT_THAT(r.error().message(), HasSubstr("no API server configured"));
  EXPECT_THAT(r.error().message(), HasSubstr(dir_ + "/admin.kubeconfig"));
}

TEST_F(ResolveTest, Order) {
  write("admin.kubeconfig", adminKubeconfig("https://default:1"));
  std::string envFile = write("env.kubeconfig", adminKubeconfig("https://env-kubeconfig:1"));
  std::string flagFile = write("flag.kubeconfig", adminKubeconfig("https://flag-kubeconfig:1"));

  EXPECT_EQ(resolve()->server, "https://default:1");
  vars_["KUBECONFIG"] = dir_ + "/absent:" + envFile;
  EXPECT_EQ(resolve()->server, "https://env-kubeconfig:1");
  ConfigOverrides flags;
  flags.kubeconfig = flagFile;
  EXPECT_EQ(resolve(flags)->server, "https://flag-kubeconfig:1");
  vars_["CARACAL_SERVER"] = "https://env-server:1";
  vars_["CARACAL_TOKEN"] = "envtoken";
  auto fromEnv = resolve(flags);
  EXPECT_EQ(fromEnv->server, "https://env-server:1");
  EXPECT_EQ(fromEnv->token, "envtoken");
  EXPECT_EQ(fromEnv->caPem, "");
  flags.server = "https://flag-server:1";
  flags.token = "flagtoken";
  auto fromFlags = resolve(flags);
  EXPECT_EQ(fromFlags->server, "https://flag-server:1");
  EXPECT_EQ(fromFlags->token, "flagtoken");
}

TEST_F(ResolveTest, FlagsRefineTheChosenSource) {
  std::string kc = write("k", adminKubeconfig());
  std::string ca = write("ca.pem", "PEM");
  ConfigOverrides flags;
  flags.kubeconfig = kc;
  flags.token = "override";
  flags.certificateAuthority = ca;
  flags.insecureSkipTlsVerify = true;
  auto r = resolve(flags);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->token, "override");
  EXPECT_EQ(r->caPem, "PEM");
  EXPECT_TRUE(r->insecure);
  EXPECT_EQ(r->source, kc);
}

TEST_F(ResolveTest, ExplicitFilesMustExistAndParse) {
  ConfigOverrides flags;
  flags.kubeconfig = dir_ + "/missing";
  auto r = resolve(flags);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), StartsWith("cannot read kubeconfig " + dir_ + "/missing"));

  vars_["KUBECONFIG"] = dir_ + "/a:" + dir_ + "/b";
  r = resolve();
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("no such file"));

  std::string bad = write("bad", "clusters: [");
  vars_["KUBECONFIG"] = bad;
  r = resolve();
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), StartsWith("kubeconfig " + bad + ": invalid YAML"));
}

TEST_F(ResolveTest, FileReferencesAreRelativeToTheKubeconfig) {
  write("ca.crt", kCaPem);
  write("token", "filetoken\n");
  std::string kc = write("k", "clusters:\n- {name: c, cluster: {server: 'https://h:1', "
                              "certificate-authority: ca.crt}}\nusers:\n- {name: u, user: "
                              "{tokenFile: token}}\ncontexts:\n- {name: x, context: {cluster: c, "
                              "user: u}}\ncurrent-context: x\n");
  auto r = loadKubeconfig(kc);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->caPem, kCaPem);
  EXPECT_EQ(r->token, "filetoken");

  std::string broken = write("k2", "clusters:\n- {name: c, cluster: {server: 'https://h:1', "
                                   "certificate-authority: nope.crt}}\n");
  auto b = loadKubeconfig(broken);
  ASSERT_FALSE(b);
  EXPECT_THAT(b.error().message(), HasSubstr(dir_ + "/nope.crt"));
}

} // namespace
} // namespace caracal::datastore
