// confd's watcher over the fake watch source: renders only once in sync, follows updates, keeps
// the last good file on a bad render and reports it in the status file. Validation runs the real
// `bird -p` (no daemon, no socket).

#include "api/testing/objects.h"
#include "confd/watcher.h"
#include "felix/fake_source.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace caracal::confd {
namespace {

using api::testutil::calico;
using api::testutil::json;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `pred` for up to 10 s.
template <typename Pred> bool eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class ConfdWatcherTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/sbin/bird")) {
      GTEST_SKIP() << "bird2 is not installed (tools/setup.sh installs it)";
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("confd-watch-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    node("node1", "10.0.0.1/24");
    node("node2", "10.0.0.2/24");
    src_.apply(calico("IPPool"),
               json(R"({"metadata":{"name":"default"},"spec":{"cidr":"10.244.0.0/16",)"
                    R"("ipipMode":"Never","vxlanMode":"Never","blockSize":26}})"));
    src_.apply(calico("IPAMBlock"),
               json(R"({"metadata":{"name":"10-244-1-0-26"},"spec":{"cidr":"10.244.1.0/26",)"
                    R"("affinity":"host:node1","allocations":[],"unallocated":[],)"
                    R"("attributes":[]}})"));
  }
  void TearDown() override {
    if (confd_) {
      syncer_->stop();
      confd_->stop();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void node(const std::string& name, const std::string& ip) {
    src_.apply(calico("Node"), json(R"({"metadata":{"name":")" + name +
                                    R"("},"spec":{"bgp":{"ipv4Address":")" + ip + R"("}}})"));
  }

  void startConfd() {
    syncer_ = std::make_unique<felix::Syncer>(src_, confdKinds());
    ConfdOptions o;
    o.nodeName = "node1";
    o.writer.configPath = conf();
    o.statusFile = status();
    o.retryInterval = std::chrono::milliseconds(100);
    o.onApplied = [this](WriteOutcome) { applied_++; };
    confd_ = std::make_unique<Confd>(o, *syncer_);
    confd_->start();
    syncer_->start();
  }

  std::string conf() const { return (dir_ / "bird.conf").string(); }
  std::string status() const { return (dir_ / "confd-status.json").string(); }
  // The status document; {"ok": false} while unreadable.
  Value statusDoc() const {
    auto v = parseJson(readFile(status()));
    if (!v || !v->path("ok")) {
      return Value(Value::Object{{"ok", false}});
    }
    return *v;
  }

  std::filesystem::path dir_;
  felix::FakeListWatchSource src_;
  std::unique_ptr<felix::Syncer> syncer_;
  std::unique_ptr<Confd> confd_;
  std::atomic<int> applied_{0};
};

TEST_F(ConfdWatcherTest, RendersOnceInSyncAndFollowsUpdates) {
  startConfd();
  ASSERT_TRUE(confd_->waitConfigured(std::chrono::seconds(10)));
  std::string text = readFile(conf());
  EXPECT_NE(text.find("router id 10.0.0.1;"), std::string::npos) << text;
  EXPECT_NE(text.find("route 10.244.1.0/26 blackhole;"), std::string::npos) << text;
  EXPECT_NE(text.find("neighbor 10.0.0.2 as 64512;"), std::string::npos) << text;
  EXPECT_GE(applied_.load(), 1);
  Value st = statusDoc();
  EXPECT_TRUE(st.path("ok")->asBool()) << toJson(st);
  EXPECT_EQ(st.getString("node"), "node1");
  EXPECT_EQ(st.getString("outcome"), "Written");
  EXPECT_FALSE(st.getString("lastGoodTime").empty());

  // A third node joins the mesh.
  node("node3", "10.0.0.3/24");
  ASSERT_TRUE(eventually(
      [&] { return readFile(conf()).find("neighbor 10.0.0.3 as 64512;") != std::string::npos; }));
  // node2 leaves.
  src_.remove(calico("Node"), "node2");
  ASSERT_TRUE(eventually(
      [&] { return readFile(conf()).find("neighbor 10.0.0.2 as") == std::string::npos; }));
  // Three files so far (first render, node3 in, node2 out); the counter follows the rename.
  ASSERT_TRUE(eventually([&] { return confd_->stats().writes == 3; }));
  // An update that does not change the output (another node's block) writes nothing.
  uint64_t writes = confd_->stats().writes;
  src_.apply(calico("IPAMBlock"),
             json(R"({"metadata":{"name":"10-244-3-0-26"},"spec":{"cidr":"10.244.3.0/26",)"
                  R"("affinity":"host:node3","allocations":[],"unallocated":[],)"
                  R"("attributes":[]}})"));
  uint64_t renders = confd_->stats().renders;
  ASSERT_TRUE(eventually([&] { return confd_->stats().renders > renders; }));
  EXPECT_EQ(confd_->stats().writes, writes);
  EXPECT_GE(confd_->stats().unchanged, 1u);
}

TEST_F(ConfdWatcherTest, BadRenderKeepsTheFileAndIsReported) {
  startConfd();
  ASSERT_TRUE(confd_->waitConfigured(std::chrono::seconds(10)));
  const std::string good = readFile(conf());

  // A BGPPeer whose selector does not parse makes the whole render invalid.
  src_.apply(calico("BGPPeer"), json(R"({"metadata":{"name":"tor"},"spec":{"nodeSelector":"has(",)"
                                     R"("peerIP":"10.0.0.254","asNumber":65000}})"));
  ASSERT_TRUE(eventually([&] { return !statusDoc().path("ok")->asBool(); }));
  Value st = statusDoc();
  EXPECT_NE(st.getString("error").find("tor"), std::string::npos) << toJson(st);
  EXPECT_FALSE(st.getString("lastGoodTime").empty());
  EXPECT_EQ(readFile(conf()), good) << "an invalid render must not replace the file";
  EXPECT_GE(confd_->stats().failures, 1u);
  EXPECT_FALSE(confd_->stats().lastError.empty());

  // Fixing the peer recovers.
  src_.apply(calico("BGPPeer"),
             json(R"j({"metadata":{"name":"tor"},"spec":{"nodeSelector":"all()",)j"
                  R"("peerIP":"10.0.0.254","asNumber":65000}})"));
  ASSERT_TRUE(eventually([&] { return statusDoc().path("ok")->asBool(); }));
  EXPECT_NE(readFile(conf()).find("neighbor 10.0.0.254 as 65000;"), std::string::npos);
  EXPECT_TRUE(confd_->stats().lastError.empty());
}

TEST_F(ConfdWatcherTest, UnknownNodeIsAnErrorUntilItRegisters) {
  src_.remove(calico("Node"), "node1");
  startConfd();
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(status()); }));
  EXPECT_FALSE(statusDoc().path("ok")->asBool());
  EXPECT_FALSE(std::filesystem::exists(conf()));
  EXPECT_EQ(applied_.load(), 0);
  node("node1", "10.0.0.1/24");
  ASSERT_TRUE(confd_->waitConfigured(std::chrono::seconds(10)));
  EXPECT_TRUE(statusDoc().path("ok")->asBool());
  EXPECT_EQ(applied_.load(), 1);
}

TEST_F(ConfdWatcherTest, SecretsOnlyFromTheConfiguredNamespace) {
  const api::KindInfo* secret = api::findByKind("v1", "Secret");
  if (!secret) {
    GTEST_SKIP() << "the API has no Secret kind";
  }
  src_.apply(*secret, json(R"({"metadata":{"name":"bgp","namespace":"calico-system"},)"
                           R"("stringData":{"password":"s3cret"}})"));
  src_.apply(*secret, json(R"({"metadata":{"name":"other","namespace":"default"},)"
                           R"("stringData":{"password":"nope"}})"));
  startConfd();
  ASSERT_TRUE(confd_->waitConfigured(std::chrono::seconds(10)));
  BirdInputs in = confd_->inputs();
  ASSERT_EQ(in.secrets.size(), 1u);
  EXPECT_EQ(in.secrets[0].getString("metadata.name"), "bgp");
  EXPECT_EQ(in.affineBlocks, std::vector<std::string>{"10.244.1.0/26"});
  EXPECT_EQ(in.nodes.size(), 2u);
  EXPECT_EQ(in.pools.size(), 1u);
}

} // namespace
} // namespace caracal::confd
