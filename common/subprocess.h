#pragma once
// Running a program with text on its stdin and its output captured, bounded by a timeout.

#include "common/result.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal {

struct ProcessOptions {
  // The child's environment ("K=V"); std::nullopt: this process's.
  std::optional<std::vector<std::string>> env;
  bool captureStderr = false; // stderr into `out` too (else the child shares ours)
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

struct ProcessResult {
  int exitCode = -1; // -1 when killed by a signal
  std::string out;   // stdout (and stderr with captureStderr)
};

// Runs argv[0] (a path, or a name looked up in PATH) with `input` on stdin. A child that stops
// reading its stdin early is not an error (its output says why). Timeout: the child is killed and
// the error is Code::Timeout. Internal when it cannot be started (exit 127 without output).
Result<ProcessResult> runProcess(const std::vector<std::string>& argv, std::string_view input,
                                 const ProcessOptions& options = {});

} // namespace caracal
