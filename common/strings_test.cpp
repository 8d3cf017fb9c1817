#include "common/strings.h"

#include <gtest/gtest.h>

namespace caracal {
namespace {

TEST(Strings, SplitJoinTrim) {
  EXPECT_EQ(split("a,b,,c", ','), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_TRUE(startsWith("ippools", "ipp"));
  EXPECT_FALSE(endsWith("ip", "ippool"));
}

TEST(Strings, ClosestMatchSuggestsSmallTypos) {
  std::vector<std::string> fields{"cidr", "blockSize", "ipipMode", "vxlanMode", "natOutgoing"};
  EXPECT_EQ(closestMatch("ipipmode", fields), "ipipMode");
  EXPECT_EQ(closestMatch("blocksize", fields), "blockSize");
  EXPECT_EQ(closestMatch("natOutgoin", fields), "natOutgoing");
  EXPECT_EQ(closestMatch("completelyDifferent", fields), "");
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

} // namespace
} // namespace caracal
