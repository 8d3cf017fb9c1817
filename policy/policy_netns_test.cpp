// The rendered text is accepted by the real tools: `nft -c -f` (check only) and
// `iptables-restore --test` / `ip6tables-restore --test` with the ipsets created first. Every
// command runs inside a fresh network namespace (`unshare -n`), so nothing reaches the host's
// tables even if a check mode misbehaved; the namespace disappears with the command.

#include "policy/scenarios_test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace caracal::policy {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "policy-netns-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    path_ = p ? p : "";
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  std::string file(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

struct CmdResult {
  int status = -1;
  std::string output;
};

// Runs `script` with sh inside a new network namespace.
CmdResult inNetns(const TempDir& dir, const std::string& script) {
  std::string scriptFile = dir.file("script.sh", "set -e\n" + script);
  std::string outFile = dir.path() + "/out.txt";
  std::string cmd = "unshare -n sh " + scriptFile + " >" + outFile + " 2>&1";
  int rc = std::system(cmd.c_str());
  CmdResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream in(outFile);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

bool canUnshare() {
  if (geteuid() != 0) {
    return false;
  }
  return std::system("unshare -n true >/dev/null 2>&1") == 0;
}

bool haveTool(const char* tool) {
  return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0;
}

class NetnsCheck : public ::testing::TestWithParam<testing::Scenario> {
protected:
  void SetUp() override {
    if (!canUnshare()) {
      GTEST_SKIP() << "needs root and network namespaces";
    }
  }
};

TEST_P(NetnsCheck, NftAcceptsTheTable) {
  if (!haveTool("nft")) {
    GTEST_SKIP() << "nft not installed";
  }
  auto r = testing::render(GetParam());
  ASSERT_TRUE(r) << r.error().str();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string f = dir.file("rules.nft", r->nft);
  CmdResult run = inNetns(dir, "nft -c -f " + f + "\n");
  EXPECT_EQ(run.status, 0) << run.output << "\n" << r->nft;
}

TEST_P(NetnsCheck, IptablesRestoreAcceptsTheChains) {
  if (!haveTool("iptables-restore") || !haveTool("ip6tables-restore") || !haveTool("ipset")) {
    GTEST_SKIP() << "iptables-restore / ipset not installed";
  }
  auto r = testing::render(GetParam());
  ASSERT_TRUE(r) << r.error().str();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string sets4 = dir.file("sets4", r->ipset4);
  std::string sets6 = dir.file("sets6", r->ipset6);
  std::string ipt4 = dir.file("rules4", r->ipt4);
  std::string ipt6 = dir.file("rules6", r->ipt6);
  CmdResult run = inNetns(dir, "ipset restore < " + sets4 + "\nipset restore < " + sets6 +
                                   "\niptables-restore --test < " + ipt4 +
                                   "\nip6tables-restore --test < " + ipt6 + "\n");
  EXPECT_EQ(run.status, 0) << run.output << "\n" << r->ipt4 << "\n" << r->ipt6;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, NetnsCheck, ::testing::ValuesIn(testing::scenarios()),
                         [](const auto& info) { return info.param.name; });

// The checks can fail: a reference to an undeclared set and a malformed rule are rejected.
TEST(NetnsCheckControl, ToolsRejectBrokenInput) {
  if (!canUnshare() || !haveTool("nft") || !haveTool("iptables-restore")) {
    GTEST_SKIP() << "needs root, network namespaces, nft and iptables-restore";
  }
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string nft = dir.file("bad.nft", "table inet caracal {\n  chain pi-x {\n"
                                        "    ip saddr @missing drop\n  }\n}\n");
  EXPECT_NE(inNetns(dir, "nft -c -f " + nft + "\n").status, 0);
  std::string ipt = dir.file("bad.ipt", "*filter\n:cali-pi-x - [0:0]\n"
                                        "-A cali-pi-x -m multiport --dports 80 -j DROP\nCOMMIT\n");
  EXPECT_NE(inNetns(dir, "iptables-restore --test < " + ipt + "\n").status, 0);
}

} // namespace
} // namespace caracal::policy
