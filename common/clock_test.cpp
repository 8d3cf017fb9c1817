#include "common/clock.h"

#include <gtest/gtest.h>

namespace caracal {
namespace {

TEST(Clock, FormatsUtcSeconds) {
  EXPECT_EQ(formatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339(1795800600), "2026-11-27T17:30:00Z");
}

TEST(Clock, NowLooksLikeATimestamp) {
  std::string now = nowRfc3339();
  ASSERT_EQ(now.size(), 20u) << now;
  EXPECT_EQ(now[4], '-');
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
  EXPECT_GE(now.substr(0, 4), "2024");
}

} // namespace
} // namespace caracal
