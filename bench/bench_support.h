#pragma once
// Shared pieces of the caracal-apiserver benchmarks: temporary directories, starting and stopping a
// real caracal-apiserver process exactly as a user does (`--data-dir DIR --listen 127.0.0.1:0`),
// timing and percentile helpers. No networking here (see bench_http.h).
//
// Cleanup: every TempDir and ApiServer registers itself; SIGINT/SIGTERM/SIGHUP (after
// installCleanupHandlers()) kill the registered servers and remove the registered directories
// before the process exits, and the server child is started with PR_SET_PDEATHSIG so that it never
// outlives a benchmark that dies some other way.

#include "common/result.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace caracal::bench {

using Clock = std::chrono::steady_clock;

// Monotonic nanoseconds (steady_clock), comparable across the threads of this process.
int64_t nowNs();
double secondsSince(Clock::time_point t);

// Installs SIGINT/SIGTERM/SIGHUP handlers that clean up registered servers and directories.
void installCleanupHandlers();

// Raises the soft RLIMIT_NOFILE to min(want, hard limit); returns the soft limit in force after.
uint64_t raiseFdLimit(uint64_t want);

// The caracal-apiserver built next to the benchmarks (compile-time path), or $CARACAL_APISERVER.
std::string defaultApiserverBinary();

// A fresh directory under $TMPDIR (default /tmp), removed with everything in it on destruction.
class TempDir {
public:
  static Result<std::unique_ptr<TempDir>> make(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// How to reach a running server.
struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  bool tls = true;   // false: the server runs with --insecure-http
  std::string caPem; // DIR/ca.crt
  std::string token; // DIR/token
};

struct ApiServerOptions {
  std::string binary;                 // caracal-apiserver
  std::string dataDir;                // --data-dir (created by the server when absent)
  std::vector<std::string> extraArgs; // e.g. {"--workers", "64"}
  std::string logPath;                // the server's stdout and stderr
  std::chrono::seconds startTimeout{60};
};

// One caracal-apiserver process.
class ApiServer {
public:
  // Starts the server and waits until it has written DIR/admin.kubeconfig; reads the port from it
  // and the token and CA from DIR/token and DIR/ca.crt. A stale admin.kubeconfig is removed first.
  // With "--insecure-http" among extraArgs the endpoint is plain HTTP (a diagnostic to separate
  // the cost of TLS; users run with TLS).
  static Result<std::unique_ptr<ApiServer>> start(ApiServerOptions opts);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  const Endpoint& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }
  // SIGTERM, then SIGKILL after `grace`; OK when the server exited with status 0 on SIGTERM.
  Status stop(std::chrono::seconds grace = std::chrono::seconds(20));
  // The server's resident set size in KiB (from /proc), 0 when unknown.
  uint64_t rssKib() const;
  // CPU seconds (user + system) the server has used so far, from /proc.
  double cpuSeconds() const;
  // Threads of the server process, from /proc.
  int threadCount() const;

private:
  ApiServer(ApiServerOptions opts, pid_t pid) : opts_(std::move(opts)), pid_(pid) {}
  ApiServerOptions opts_;
  pid_t pid_;
  Endpoint endpoint_;
};

// The last `maxBytes` of a file (for showing a server log after a failure).
std::string fileTail(const std::string& path, size_t maxBytes = 4000);
Result<std::string> readFile(const std::string& path);

// Summary of a sample (values in the caller's unit); sorts `v`.
struct Summary {
  size_t count = 0;
  double min = 0, mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};
Summary summarize(std::vector<double>& v);
// The same for integer samples (e.g. microseconds); sorts `v`.
Summary summarizeU32(std::vector<uint32_t>& v);
double median(std::vector<double> v);
// Nearest-rank percentile of a sorted copy of `v`; p in [0, 1]; 0 for an empty sample.
double percentile(std::vector<double> v, double p);

// Fixed-point formatting: fmt(1.23456, 2) == "1.23".
std::string fmt(double v, int decimals);
// "47.1 MB"
std::string fmtBytes(double bytes);

// CPU model, cores, memory, kernel: one line each, for reports.
std::string machineDescription();

} // namespace caracal::bench
