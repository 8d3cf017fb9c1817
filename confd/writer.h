#pragma once
// confd writing: puts a rendered bird.conf in place and tells a running BIRD to re-read it.
//
// ConfigWriter::write() never leaves a broken or half-written configuration where BIRD reads it:
//   1. identical text to what is on disk → nothing happens (Unchanged);
//   2. the text goes to `<configPath>.tmp-<pid>` and is fsynced;
//   3. `<birdBinary> -p -c <tmp>` checks it; on failure the temp file is removed, the file in
//      place stays as it was and the error is Code::Invalid with BIRD's message;
//   4. the temp file is renamed over `configPath` and the directory is fsynced;
//   5. when `socketPath` is set and BIRD answers there, `configure` makes it re-read the file
//      (Reloaded); when nothing answers, BIRD is not running and will read the file when it starts
//      (Written). A reload BIRD refuses is returned as its error (the file stays written).
// A writer is not thread-safe; one writer per file.

#include "common/result.h"

#include <chrono>
#include <string>

namespace caracal::confd {

enum class WriteOutcome {
  Unchanged, // the file already held this text
  Written,   // the file was replaced; no BIRD answered on the socket (or none was configured)
  Reloaded,  // the file was replaced and BIRD accepted `configure`
};

const char* writeOutcomeName(WriteOutcome o);

class ConfigWriter {
public:
  struct Options {
    std::string configPath{};                  // the file BIRD was started with (-c)
    std::string birdBinary = "/usr/sbin/bird"; // used for `bird -p -c` validation
    std::string socketPath{};                  // BIRD's control socket; "" to never reload
    std::chrono::milliseconds timeout{5000};   // bounds the control-socket exchange
  };

  explicit ConfigWriter(Options options) : options_(std::move(options)) {}

  Result<WriteOutcome> write(const std::string& text);

  const Options& options() const { return options_; }

private:
  Options options_;
};

// Runs `<birdBinary> -p -c <path>`; OK when BIRD accepts the file, else Invalid with its output
// (stderr and stdout, trimmed). Internal when the binary cannot be run.
Status validateBirdConfig(const std::string& birdBinary, const std::string& path);

} // namespace caracal::confd
