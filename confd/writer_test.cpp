#include "bgp/testing/fake_bird.h"
#include "confd/writer.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace caracal::confd {
namespace {

namespace fs = std::filesystem;
using bgp::testing::FakeBird;

constexpr const char* kBird = "/usr/sbin/bird";
constexpr const char* kValid = "router id 10.99.0.1;\nprotocol device {}\n";
constexpr const char* kValid2 = "router id 10.99.0.1;\nprotocol device {}\nprotocol direct {}\n";
constexpr const char* kBroken = "router id 10.99.0.1;\nprotocol nonsense {}\n";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class WriterTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (::access(kBird, X_OK) != 0) {
      GTEST_SKIP() << kBird << " not installed";
    }
    char tmpl[] = "/tmp/confd-writer-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    conf_ = dir_ + "/bird.conf";
  }
  void TearDown() override {
    if (!dir_.empty()) {
      fs::remove_all(dir_);
    }
  }
  // Names in the directory other than bird.conf (temp files left behind would show here).
  std::vector<std::string> strays() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename() != "bird.conf") {
        out.push_back(e.path().filename().string());
      }
    }
    return out;
  }
  ConfigWriter writer(const std::string& socket = "") const {
    return ConfigWriter({.configPath = conf_, .socketPath = socket});
  }

  std::string dir_;
  std::string conf_;
};

TEST_F(WriterTest, WritesValidTextWhenAbsent) {
  auto r = writer().write(kValid);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, WriteOutcome::Written);
  EXPECT_EQ(slurp(conf_), kValid);
  EXPECT_TRUE(strays().empty());
  struct stat st {};
  ASSERT_EQ(::stat(conf_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(WriterTest, SkipsIdenticalText) {
  ASSERT_TRUE(writer().write(kValid));
  struct stat before {};
  ASSERT_EQ(::stat(conf_.c_str(), &before), 0);
  // A validator that always fails proves no validation (and no write) happened.
  ConfigWriter w({.configPath = conf_, .birdBinary = "/bin/false"});
  auto r = w.write(kValid);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, WriteOutcome::Unchanged);
  struct stat after {};
  ASSERT_EQ(::stat(conf_.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
}

TEST_F(WriterTest, ReplacesChangedText) {
  ASSERT_TRUE(writer().write(kValid));
  auto r = writer().write(kValid2);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, WriteOutcome::Written);
  EXPECT_EQ(slurp(conf_), kValid2);
  EXPECT_TRUE(strays().empty());
}

TEST_F(WriterTest, InvalidTextNeverReplacesTheFile) {
  ASSERT_TRUE(writer().write(kValid));
  struct stat before {};
  ASSERT_EQ(::stat(conf_.c_str(), &before), 0);
  auto r = writer().write(kBroken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Invalid);
  // BIRD's own message, pointing at line 2 of the checked file.
  EXPECT_NE(r.error().message().find(":2:"), std::string::npos) << r.error().message();
  EXPECT_EQ(slurp(conf_), kValid);
  struct stat after {};
  ASSERT_EQ(::stat(conf_.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  EXPECT_TRUE(strays().empty());
}

TEST_F(WriterTest, InvalidTextWithNoFileCreatesNothing) {
  auto r = writer().write(kBroken);
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_FALSE(fs::exists(conf_));
  EXPECT_TRUE(strays().empty());
}

TEST_F(WriterTest, MissingValidatorIsInternal) {
  ConfigWriter w({.configPath = conf_, .birdBinary = dir_ + "/no-such-bird"});
  auto r = w.write(kValid);
  EXPECT_EQ(r.code(), Code::Internal);
  EXPECT_FALSE(fs::exists(conf_));
  EXPECT_TRUE(strays().empty());
}

TEST_F(WriterTest, NoBirdOnTheSocketMeansWritten) {
  auto r = writer(dir_ + "/absent.ctl").write(kValid);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, WriteOutcome::Written);
  EXPECT_EQ(slurp(conf_), kValid);
}

TEST_F(WriterTest, ReloadsThroughTheSocket) {
  FakeBird bird(
      {{"configure", "0002-Reading configuration from " + conf_ + "\n0003 Reconfigured\n"}});
  auto r = writer(bird.path()).write(kValid);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, WriteOutcome::Reloaded);
  EXPECT_EQ(slurp(conf_), kValid);
}

TEST_F(WriterTest, RefusedReloadIsReturnedAndTheFileStaysWritten) {
  FakeBird bird({{"configure", "0002-Reading configuration from " + conf_ + "\n8002 " + conf_ +
                                   ":2:1 something BIRD dislikes\n"}});
  auto r = writer(bird.path()).write(kValid);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find("something BIRD dislikes"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(slurp(conf_), kValid);
}

TEST(WriteOutcome, Names) {
  EXPECT_STREQ(writeOutcomeName(WriteOutcome::Unchanged), "Unchanged");
  EXPECT_STREQ(writeOutcomeName(WriteOutcome::Written), "Written");
  EXPECT_STREQ(writeOutcomeName(WriteOutcome::Reloaded), "Reloaded");
}

} // namespace
} // namespace caracal::confd
