#include "common/subprocess.h"

#include <gtest/gtest.h>

namespace caracal {
namespace {

TEST(RunProcess, StdinStdoutAndExitCode) {
  auto r = runProcess({"/bin/sh", "-c", "tr a-z A-Z; exit 3"}, "hello\n");
  ASSERT_TRUE(bool(r)) << r.error().message();
  EXPECT_EQ(r->out, "HELLO\n");
  EXPECT_EQ(r->exitCode, 3);
}

TEST(RunProcess, PathLookupEnvAndStderr) {
  ProcessOptions o;
  o.env = std::vector<std::string>{"PATH=/usr/bin:/bin", "GREETING=hi"};
  o.captureStderr = true;
  auto r = runProcess({"sh", "-c", "echo $GREETING; echo oops >&2"}, "", o);
  ASSERT_TRUE(bool(r)) << r.error().message();
  EXPECT_EQ(r->out, "hi\noops\n");
  EXPECT_EQ(r->exitCode, 0);
}

TEST(RunProcess, LargeInputToAChildThatStopsReading) {
  std::string big(4 << 20, 'x');
  auto r = runProcess({"/bin/sh", "-c", "head -c 10 >/dev/null; echo done"}, big);
  ASSERT_TRUE(bool(r)) << r.error().message();
  EXPECT_EQ(r->out, "done\n");
}

TEST(RunProcess, TimeoutAndMissingProgram) {
  ProcessOptions o;
  o.timeout = std::chrono::milliseconds(200);
  auto slow = runProcess({"/bin/sleep", "5"}, "", o);
  ASSERT_FALSE(bool(slow));
  EXPECT_EQ(slow.error().code(), Code::Timeout);
  auto missing = runProcess({"/nonexistent/program"}, "");
  ASSERT_FALSE(bool(missing));
  EXPECT_EQ(missing.error().code(), Code::Internal);
  EXPECT_FALSE(bool(runProcess({}, "")));
}

} // namespace
} // namespace caracal
