// Drives a real BIRD 2 over its control socket. BIRD runs inside a network namespace created for
// this test, so nothing reaches the host's routing; needs root and /usr/sbin/bird.

#include "bgp/birdctl.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace caracal::bgp {
namespace {

constexpr const char* kBird = "/usr/sbin/bird";

int run(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string config(const std::vector<std::string>& peers) {
  std::string c = "router id 10.99.0.1;\nprotocol device {}\n";
  for (const auto& p : peers) {
    std::string name = p;
    for (char& ch : name) {
      if (ch == '.') {
        ch = '_';
      }
    }
    c += "protocol bgp Mesh_" + name + " {\n  local as 64512;\n  neighbor " + p +
         " as 64512;\n  ipv4 { import all; export none; };\n}\n";
  }
  return c;
}

// Owns the namespace, the temp dir and the BIRD process; tears all down even when a test fails.
class BirdInNetns {
public:
  BirdInNetns() {
    ns_ = "bgptest-" + std::to_string(::getpid());
    char tmpl[] = "/tmp/bgptest-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    conf_ = dir_ + "/bird.conf";
    sock_ = dir_ + "/bird.ctl";
  }
  ~BirdInNetns() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (nsCreated_) {
      run({"ip", "netns", "delete", ns_});
    }
    std::filesystem::remove_all(dir_);
  }

  void writeConfig(const std::string& text) const { std::ofstream(conf_) << text; }

  // Creates the namespace, brings lo up and starts BIRD in the foreground inside it.
  ::testing::AssertionResult start() {
    if (run({"ip", "netns", "add", ns_}) != 0) {
      return ::testing::AssertionFailure() << "ip netns add " << ns_;
    }
    nsCreated_ = true;
    if (run({"ip", "-n", ns_, "link", "set", "lo", "up"}) != 0) {
      return ::testing::AssertionFailure() << "lo up in " << ns_;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("ip", "ip", "netns", "exec", ns_.c_str(), kBird, "-c", conf_.c_str(), "-s",
               sock_.c_str(), "-P", (dir_ + "/bird.pid").c_str(), "-f", nullptr);
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!std::filesystem::exists(sock_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return ::testing::AssertionFailure() << "bird exited early";
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return ::testing::AssertionFailure() << "no control socket at " << sock_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return ::testing::AssertionSuccess();
  }

  const std::string& socketPath() const { return sock_; }

private:
  std::string ns_;
  std::string dir_;
  std::string conf_;
  std::string sock_;
  bool nsCreated_ = false;
  pid_t pid_ = -1;
};

const ProtocolStatus* find(const std::vector<ProtocolStatus>& ps, const std::string& name) {
  for (const auto& p : ps) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

TEST(RealBird, ShowProtocolsConfigureAndStatus) {
  if (::geteuid() != 0 || ::access(kBird, X_OK) != 0) {
    GTEST_SKIP() << "needs root and " << kBird;
  }
  BirdInNetns bird;
  bird.writeConfig(config({"10.99.0.2"}));
  ASSERT_TRUE(bird.start());

  auto client = BirdClient::connect(bird.socketPath());
  ASSERT_TRUE(client) << client.error().str();
  EXPECT_EQ(client->greeting().rfind("BIRD 2.", 0), 0u) << client->greeting();

  auto protos = client->showProtocols();
  ASSERT_TRUE(protos) << protos.error().str();
  const ProtocolStatus* mesh = find(*protos, "Mesh_10_99_0_2");
  ASSERT_NE(mesh, nullptr);
  EXPECT_EQ(mesh->proto, "BGP");
  EXPECT_EQ(mesh->table, "---");
  EXPECT_EQ(mesh->state, "start"); // no neighbour exists, so the session never comes up
  EXPECT_TRUE(mesh->info.rfind("Active", 0) == 0 || mesh->info.rfind("Connect", 0) == 0 ||
              mesh->info.rfind("Idle", 0) == 0)
      << mesh->info;
  auto rows = peerRows(*protos);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].peerAddress, "10.99.0.2");
  EXPECT_EQ(rows[0].type, "node-to-node mesh");
  EXPECT_NE(formatNodeStatus(rows).find("| 10.99.0.2    | node-to-node mesh | start |"),
            std::string::npos);

  auto status = client->showStatus();
  ASSERT_TRUE(status) << status.error().str();
  EXPECT_NE(status->find("Router ID is 10.99.0.1"), std::string::npos) << *status;

  // A new peer appears after configure.
  bird.writeConfig(config({"10.99.0.2", "10.99.0.3"}));
  Status st = client->configure();
  ASSERT_TRUE(st.isOk()) << st.str();
  protos = client->showProtocols();
  ASSERT_TRUE(protos);
  EXPECT_NE(find(*protos, "Mesh_10_99_0_3"), nullptr);

  // A broken config is refused with BIRD's message and the running config stays.
  bird.writeConfig("router id 10.99.0.1;\nprotocol nonsense {}\n");
  st = client->configure();
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_NE(st.message().find("bird.conf:2:"), std::string::npos) << st.message();
  protos = client->showProtocols();
  ASSERT_TRUE(protos);
  EXPECT_NE(find(*protos, "Mesh_10_99_0_3"), nullptr);

  auto bad = client->command("show bogus");
  EXPECT_EQ(bad.code(), Code::Invalid);
  auto none = client->command("show protocols all Mesh_10_99_0_9");
  EXPECT_FALSE(none);
}

} // namespace
} // namespace caracal::bgp
