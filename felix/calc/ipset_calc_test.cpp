#include "felix/calc/ipset_calc.h"

#include <gtest/gtest.h>
#include <random>

namespace caracal::felix::calc {
namespace {

using Members = std::map<std::string, std::set<Member>>;

class IpSetCalcTest : public ::testing::Test {
protected:
  IpSetCalcTest()
      : calc_(IpSetCalc::Callbacks{[this](const std::string& s, const Member& m) {
                                     EXPECT_TRUE(seen_[s].insert(m).second)
                                         << "added twice: " << s << " " << m;
                                     events_++;
                                   },
                                   [this](const std::string& s, const Member& m) {
                                     EXPECT_EQ(seen_[s].erase(m), 1u)
                                         << "removed while absent: " << s << " " << m;
                                     events_++;
                                   }}) {}

  std::set<Member> seen(const std::string& set) { return seen_[set]; }

  IpSetCalc calc_;
  Members seen_;
  int events_ = 0;
};

TEST_F(IpSetCalcTest, MembersFollowMatchesAndAddresses) {
  calc_.addSelectorSet("s-web", "sel-web");
  calc_.updateItem("ep1", {"10.0.0.1/32"}, {});
  calc_.updateItem("ep2", {"10.0.0.2/32"}, {});
  EXPECT_TRUE(seen("s-web").empty());
  calc_.onMatchStarted("sel-web", "ep1");
  EXPECT_EQ(seen("s-web"), (std::set<Member>{"10.0.0.1/32"}));
  calc_.onMatchStarted("sel-web", "ep2");
  EXPECT_EQ(seen("s-web"), (std::set<Member>{"10.0.0.1/32", "10.0.0.2/32"}));
  // An address change is one remove and one add, nothing else.
  events_ = 0;
  calc_.updateItem("ep1", {"10.0.0.9/32"}, {});
  EXPECT_EQ(events_, 2);
  EXPECT_EQ(seen("s-web"), (std::set<Member>{"10.0.0.9/32", "10.0.0.2/32"}));
  calc_.onMatchStopped("sel-web", "ep2");
  EXPECT_EQ(seen("s-web"), (std::set<Member>{"10.0.0.9/32"}));
  calc_.deleteItem("ep1");
  EXPECT_TRUE(seen("s-web").empty());
  calc_.onMatchStopped("sel-web", "ep1"); // the label index's stop after the delete: no-op
  EXPECT_TRUE(seen("s-web").empty());
}

TEST_F(IpSetCalcTest, SharedMembersAreCountedNotDuplicated) {
  calc_.addSelectorSet("s", "sel");
  calc_.updateItem("netset-a", {"192.168.0.0/16", "10.1.0.0/16"}, {});
  calc_.updateItem("netset-b", {"192.168.0.0/16"}, {});
  calc_.onMatchStarted("sel", "netset-a");
  calc_.onMatchStarted("sel", "netset-b");
  EXPECT_EQ(seen("s"), (std::set<Member>{"10.1.0.0/16", "192.168.0.0/16"}));
  calc_.onMatchStopped("sel", "netset-a");
  EXPECT_EQ(seen("s"), (std::set<Member>{"192.168.0.0/16"})) << "still contributed by netset-b";
  // A member present before and after an update never blinks (no remove/add pair).
  events_ = 0;
  calc_.updateItem("netset-b", {"192.168.0.0/16", "172.16.0.0/12"}, {});
  EXPECT_EQ(events_, 1);
}

TEST_F(IpSetCalcTest, SetAddedLaterReportsCurrentMembersAndSetsShareASelector) {
  calc_.updateItem("ep1", {"10.0.0.1/32"}, {});
  calc_.onMatchStarted("sel", "ep1");
  calc_.addSelectorSet("s1", "sel");
  calc_.addSelectorSet("s2", "sel");
  EXPECT_EQ(seen("s1"), (std::set<Member>{"10.0.0.1/32"}));
  EXPECT_EQ(seen("s2"), (std::set<Member>{"10.0.0.1/32"}));
  calc_.removeSet("s1");
  calc_.updateItem("ep1", {"10.0.0.2/32"}, {});
  EXPECT_EQ(seen("s2"), (std::set<Member>{"10.0.0.2/32"}));
  EXPECT_EQ(calc_.members("s1"), std::vector<Member>{});
}

TEST_F(IpSetCalcTest, NamedPorts) {
  calc_.addNamedPortSet("np-http", "sel", "http", "TCP");
  calc_.updateItem("ep1", {"10.0.0.1/32"}, {{"http", "TCP", 8080}, {"http", "UDP", 53}});
  calc_.updateItem("ep2", {"10.0.0.2/32"}, {{"metrics", "TCP", 9090}});
  calc_.onMatchStarted("sel", "ep1");
  calc_.onMatchStarted("sel", "ep2");
  EXPECT_EQ(seen("np-http"), (std::set<Member>{"10.0.0.1/32,tcp:8080"}));
  calc_.updateItem("ep2", {"10.0.0.2/32"}, {{"http", "tcp", 80}});
  EXPECT_EQ(seen("np-http"), (std::set<Member>{"10.0.0.1/32,tcp:8080", "10.0.0.2/32,tcp:80"}));
  calc_.updateItem("ep1", {"10.0.0.1/32"}, {{"http", "TCP", 8081}});
  EXPECT_EQ(seen("np-http"), (std::set<Member>{"10.0.0.1/32,tcp:8081", "10.0.0.2/32,tcp:80"}));
}

// Random operations: after every step the reported state equals a from-scratch computation.
TEST(IpSetCalcRandom, AlwaysEqualsBruteForce) {
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    std::mt19937 rng(seed);
    Members seen;
    IpSetCalc calc(IpSetCalc::Callbacks{
        [&](const std::string& s, const Member& m) { ASSERT_TRUE(seen[s].insert(m).second); },
        [&](const std::string& s, const Member& m) { ASSERT_EQ(seen[s].erase(m), 1u); }});
    std::map<std::string, std::vector<std::string>> itemNets;
    std::map<std::string, std::set<std::string>> matches; // selector -> items
    std::map<std::string, std::string> setSel;
    auto net = [&] { return "10.0.0." + std::to_string(rng() % 6) + "/32"; };
    for (int step = 0; step < 400; ++step) {
      std::string item = "i" + std::to_string(rng() % 5);
      std::string sel = "sel" + std::to_string(rng() % 3);
      switch (rng() % 6) {
      case 0: {
        std::vector<std::string> nets = {net(), net()};
        calc.updateItem(item, nets, {});
        std::sort(nets.begin(), nets.end());
        nets.erase(std::unique(nets.begin(), nets.end()), nets.end());
        itemNets[item] = nets;
        break;
      }
      case 1:
        calc.deleteItem(item);
        itemNets.erase(item);
        break;
      case 2:
      case 3:
        calc.onMatchStarted(sel, item);
        matches[sel].insert(item);
        break;
      case 4:
        calc.onMatchStopped(sel, item);
        matches[sel].erase(item);
        break;
      default: {
        std::string set = "set" + std::to_string(rng() % 4);
        if (setSel.count(set)) {
          calc.removeSet(set);
          seen.erase(set);
          setSel.erase(set);
        } else {
          calc.addSelectorSet(set, sel);
          setSel[set] = sel;
        }
      }
      }
      for (const auto& [set, s] : setSel) {
        std::set<Member> want;
        for (const std::string& i : matches[s]) {
          if (itemNets.count(i)) {
            want.insert(itemNets[i].begin(), itemNets[i].end());
          }
        }
        ASSERT_EQ(seen[set], want) << "seed " << seed << " step " << step << " set " << set;
        std::vector<Member> m = calc.members(set);
        ASSERT_EQ(std::set<Member>(m.begin(), m.end()), want);
      }
    }
  }
}

} // namespace
} // namespace caracal::felix::calc
